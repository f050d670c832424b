//! Per-credential rate limits: a token bucket per credential that holds ten
//! seconds' worth of calls and refills continuously, so short bursts pass and a
//! sustained excess is refused with a precise time to retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds of the per-minute allowance a burst may spend at once.
const BURST_SECONDS: f64 = 10.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by credential id.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one call from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let capacity = (rate * BURST_SECONDS).max(1.0);
        // A poisoned lock only means another call panicked mid-update; the buckets stay usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(key) {
            buckets.insert(key.to_owned(), Bucket { tokens: capacity, updated: now });
        }
        let Some(bucket) = buckets.get_mut(key) else { return Ok(()) };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Forgets a credential's bucket (after revocation).
    pub fn forget(&self, key: &str) {
        self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_calls_wait_for_the_refill() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        // 60 a minute: one a second, bursts of ten.
        for _ in 0..10 {
            assert!(limiter.check("c", 60, start).is_ok());
        }
        let wait = limiter.check("c", 60, start).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check("c", 60, start + Duration::from_millis(1_001)).is_ok());
    }

    #[test]
    fn buckets_are_per_credential() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        assert!(limiter.check("a", 1, now).is_ok());
        assert!(limiter.check("a", 1, now).is_err());
        assert!(limiter.check("b", 1, now).is_ok());
    }
}
