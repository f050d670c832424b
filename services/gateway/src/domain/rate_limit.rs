//! Rate limits as token buckets: one per key (a credential's calls, a peer's
//! failed sign-ins) that holds ten seconds' worth of calls and refills
//! continuously, so short bursts pass and a sustained excess is refused with a
//! precise time to retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds of the per-minute allowance a burst may spend at once.
const BURST_SECONDS: f64 = 10.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Calls a second, and the most it holds, as last set.
    rate: f64,
    capacity: f64,
}

impl Bucket {
    fn refilled(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.capacity)
    }
}

/// Buckets kept before the ones that have refilled (and so say nothing) are dropped.
const SWEEP_AT: usize = 10_000;

/// Token buckets by key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one call from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, per_minute, now, true)
    }

    /// Whether `key`'s bucket has a call left, without taking it.
    pub fn peek(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, per_minute, now, false)
    }

    fn with_bucket(&self, key: &str, per_minute: u32, now: Instant, take: bool) -> Result<(), Duration> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let capacity = (rate * BURST_SECONDS).max(1.0);
        // A poisoned lock only means another call panicked mid-update; the buckets stay usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(bucket) = buckets.get_mut(key) else {
            if take {
                if buckets.len() >= SWEEP_AT {
                    // Keys can come from outside (peer addresses): keep only buckets
                    // that still hold back a caller, so the map stays bounded.
                    buckets.retain(|_, bucket| bucket.refilled(now) < bucket.capacity);
                }
                let bucket = Bucket { tokens: capacity - 1.0, updated: now, rate, capacity };
                buckets.insert(key.to_owned(), bucket);
            }
            return Ok(());
        };
        // The limit may have changed since the bucket was made.
        (bucket.rate, bucket.capacity) = (rate, capacity);
        bucket.tokens = bucket.refilled(now);
        bucket.updated = now;
        if bucket.tokens < 1.0 {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        } else {
            if take {
                bucket.tokens -= 1.0;
            }
            Ok(())
        }
    }

    /// Gives back a call taken with [`RateLimiter::check`] that turned out not
    /// to count (a slow check that succeeded: only failures are limited).
    pub fn refund(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(bucket.capacity);
        }
    }

    /// Buckets held now.
    pub fn held(&self) -> usize {
        self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Forgets a key's bucket (a credential's, after revocation).
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
    fn peeking_takes_nothing() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        assert!(limiter.peek("p", 6, now).is_ok());
        assert!(limiter.check("p", 6, now).is_ok());
        assert!(limiter.peek("p", 6, now).is_err(), "a burst of one is spent");
        assert!(limiter.peek("p", 6, now).is_err());
        assert!(limiter.peek("p", 6, now + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn a_refund_gives_back_what_was_taken() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        assert!(limiter.check("k", 6, now).is_ok());
        assert!(limiter.check("k", 6, now).is_err());
        limiter.refund("k");
        assert!(limiter.check("k", 6, now).is_ok());
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        for key in 0..(SWEEP_AT + 10) {
            let _ = limiter.check(&key.to_string(), 6000, now);
        }
        // Every bucket refilled an hour later: the next new key sweeps them.
        let _ = limiter.check("late", 6000, now + Duration::from_secs(3600));
        assert!(limiter.held() <= 2, "{}", limiter.held());
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
