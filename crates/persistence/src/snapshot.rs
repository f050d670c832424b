//! Data read once for many calls: reference data every request needs and that
//! changes a few times a year. It is read again once it is older than its
//! freshness (edits made through another process reach this one within that
//! time) and at once after an edit through this one ([`Snapshot::forget`]).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One value read from the database and held for a while.
#[derive(Debug)]
pub struct Snapshot<T> {
    fresh_for: Duration,
    held: Mutex<Held<T>>,
}

#[derive(Debug)]
struct Held<T> {
    /// Moved on by every [`Snapshot::forget`]: a read that began before an edit
    /// does not keep what it read.
    generation: u64,
    value: Option<(Instant, Arc<T>)>,
}

impl<T> Snapshot<T> {
    /// A snapshot used for at most `fresh_for` after it was read.
    pub fn new(fresh_for: Duration) -> Self {
        Self { fresh_for, held: Mutex::new(Held { generation: 0, value: None }) }
    }

    /// The value held, while fresh; else what `read` reads now, held for the next calls.
    pub async fn get_or_read<E, F, R>(&self, read: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> R,
        R: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let generation = {
            let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match &held.value {
                Some((read_at, value)) if started.saturating_duration_since(*read_at) < self.fresh_for => {
                    return Ok(Arc::clone(value));
                }
                _ => held.generation,
            }
        };
        let value = Arc::new(read().await?);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.generation == generation {
            held.value = Some((started, Arc::clone(&value)));
        }
        Ok(value)
    }

    /// After an edit: the next call reads again.
    pub fn forget(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.generation += 1;
        held.value = None;
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    #[tokio::test]
    async fn held_while_fresh_read_again_after_an_edit_and_never_keeps_a_read_an_edit_overtook() {
        let snapshot = Snapshot::new(Duration::from_secs(60));
        let read = |value: u32| async move { Ok::<_, Infallible>(value) };
        assert_eq!(*snapshot.get_or_read(|| read(1)).await.unwrap(), 1);
        assert_eq!(*snapshot.get_or_read(|| read(2)).await.unwrap(), 1, "held while fresh");
        snapshot.forget();
        assert_eq!(*snapshot.get_or_read(|| read(3)).await.unwrap(), 3, "read again after an edit");
        // An edit lands while a read is under way: its answer is used once, not kept.
        snapshot.forget();
        let overtaken = snapshot
            .get_or_read(|| async {
                snapshot.forget();
                Ok::<_, Infallible>(4)
            })
            .await
            .unwrap();
        assert_eq!(*overtaken, 4);
        assert_eq!(*snapshot.get_or_read(|| read(5)).await.unwrap(), 5);

        let stale = Snapshot::new(Duration::ZERO);
        assert_eq!(*stale.get_or_read(|| read(6)).await.unwrap(), 6);
        assert_eq!(*stale.get_or_read(|| read(7)).await.unwrap(), 7, "older than its freshness");
    }
}
