//! Time as the services read it, behind one seam: the system's clock in every
//! deployment, a clock a test moves ahead by hand so that expiry, grace periods and rate
//! limits are checked exactly, never by sleeping on a loaded machine.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Wall-clock time for what is stored and compared with stored times (expiry,
/// grace periods), and a monotonic instant for what is measured (rate limits).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
    fn instant(&self) -> Instant;
}

/// The clock every service is given.
pub type SharedClock = Arc<dyn Clock>;

/// The system's own clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The system's clock moved ahead by hand: a test jumps past an expiry or a
/// grace period at once, instead of sleeping through it on a loaded machine.
#[derive(Debug, Default)]
pub struct ManualClock {
    ahead: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    fn ahead(&self) -> Duration {
        *self.ahead.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let ahead = chrono::Duration::from_std(self.ahead()).unwrap_or(chrono::Duration::MAX);
        Utc::now().checked_add_signed(ahead).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn instant(&self) -> Instant {
        Instant::now() + self.ahead()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_jumps_ahead_of_the_system_clock_both_ways() {
        let clock = ManualClock::new();
        let (wall, instant) = (Utc::now(), Instant::now());
        clock.advance(Duration::from_secs(3_600));
        assert!(clock.now() - wall >= chrono::Duration::seconds(3_600));
        assert!(clock.now() - wall < chrono::Duration::seconds(3_660));
        assert!(clock.instant() - instant >= Duration::from_secs(3_600));
    }
}
