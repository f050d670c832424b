//! The audit of every call through the gateway. Calls are recorded as they
//! finish and written in batches by one background task, so auditing costs a
//! call a channel send rather than a database round trip. A batch is written
//! when it is full or `WINDOW` after its first call: measured, one write per
//! handful of calls spent a quarter of the gateway's CPU in commits.
//!
//! Nothing is dropped: a call takes its place in the queue before it is
//! served ([`AuditLog::reserve`]), and when there is none (the database has
//! fallen far behind) the call is refused `UNAVAILABLE` instead of being
//! served unaudited. A batch that cannot be written is kept and retried, with
//! backoff, until it is. The same task deletes rows older than the retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::metrics::Counter;
use tokio::sync::{mpsc, oneshot};

use crate::domain::records::Call;
use crate::store::Store;

/// Calls written per statement at most.
const BATCH: usize = 1_000;
/// How long a call may wait to be written with others.
const WINDOW: Duration = Duration::from_millis(200);
/// Longest wait between attempts at a batch the database refused.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often rows past the retention are purged (and once at start).
const PURGE_EVERY: Duration = Duration::from_secs(3_600);

/// How the audit log behaves.
#[derive(Clone, Copy, Debug)]
pub struct AuditSettings {
    /// Calls queued (or in flight holding a place) before new calls are refused.
    pub capacity: usize,
    /// How long rows are kept.
    pub retention: Duration,
}

/// Where finished calls are sent to be recorded.
#[derive(Clone, Debug)]
pub struct AuditLog {
    sender: mpsc::Sender<Call>,
    flusher: AuditFlusher,
    refused: Counter<u64>,
    /// Unix second of the last "queue full" log line: one a second is plenty.
    last_complaint: Arc<AtomicU64>,
}

/// A call's place in the audit queue, taken before it is served.
#[derive(Debug)]
pub struct AuditSlot(mpsc::OwnedPermit<Call>);

impl AuditSlot {
    /// Queues the call's row; it is written with the next batch.
    pub fn record(self, call: Call) {
        self.0.send(call);
    }
}

/// Asks the writer to write out everything queued so far: for shutdown and
/// for tests, which must not wait out the batch window. Holding one does not
/// keep the writer running.
#[derive(Clone, Debug)]
pub struct AuditFlusher(mpsc::UnboundedSender<oneshot::Sender<()>>);

impl AuditFlusher {
    /// Returns once every call recorded before it was called is written (or
    /// at once when the writer has stopped).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.0.send(done).is_ok() {
            let _ = written.await;
        }
    }
}

impl AuditLog {
    /// Starts the writer; it drains what is queued and stops when every
    /// `AuditLog` clone (and every [`AuditSlot`]) is dropped.
    pub fn start(store: Arc<Store>, settings: AuditSettings) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, rows) = mpsc::channel::<Call>(settings.capacity.max(1));
        let (flush_sender, flushes) = mpsc::unbounded_channel();
        let refused = opentelemetry::global::meter("involve")
            .u64_counter("gateway.audit.refused")
            .with_description("Calls refused because the audit queue was full")
            .build();
        let writer = tokio::spawn(Writer { store, rows, flushes, retention: settings.retention }.run());
        let log =
            Self { sender, flusher: AuditFlusher(flush_sender), refused, last_complaint: Arc::default() };
        (log, writer)
    }

    /// A place in the queue for one call, or `None` when the queue is full:
    /// the call must then be refused, not served unaudited.
    pub fn reserve(&self) -> Option<AuditSlot> {
        match self.sender.clone().try_reserve_owned() {
            Ok(permit) => Some(AuditSlot(permit)),
            Err(_) => {
                self.refused.add(1, &[]);
                let now = chrono::Utc::now().timestamp().unsigned_abs();
                if self.last_complaint.swap(now, Ordering::Relaxed) != now {
                    tracing::error!("audit queue full: refusing calls until the database catches up");
                }
                None
            }
        }
    }

    pub fn flusher(&self) -> AuditFlusher {
        self.flusher.clone()
    }
}

struct Writer {
    store: Arc<Store>,
    rows: mpsc::Receiver<Call>,
    flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    retention: Duration,
}

impl Writer {
    async fn run(mut self) {
        // Once before anything is written, then every `PURGE_EVERY`.
        self.purge().await;
        let mut purges = tokio::time::interval_at(tokio::time::Instant::now() + PURGE_EVERY, PURGE_EVERY);
        purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch: Vec<Call> = Vec::new();
        let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
        let mut closed = false;
        while !closed {
            // Wait for a first call, a flush, or the time to purge.
            tokio::select! {
                biased;
                _ = purges.tick() => {
                    self.purge().await;
                    continue;
                }
                Some(ack) = self.flushes.recv() => acks.push(ack),
                row = self.rows.recv() => match row {
                    Some(row) => batch.push(row),
                    None => closed = true,
                },
            }
            // Gather more until the batch is full, its window ends, or a flush asks.
            if acks.is_empty() && !closed {
                let window = tokio::time::sleep(WINDOW);
                tokio::pin!(window);
                while batch.len() < BATCH {
                    tokio::select! {
                        row = self.rows.recv() => match row {
                            Some(row) => batch.push(row),
                            None => { closed = true; break; }
                        },
                        Some(ack) = self.flushes.recv() => { acks.push(ack); break; }
                        () = &mut window => break,
                    }
                }
            }
            if !acks.is_empty() {
                // Everything recorded before the flush is queued by now.
                while let Ok(row) = self.rows.try_recv() {
                    batch.push(row);
                }
            }
            self.write(&mut batch).await;
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
        // Answer flushes that arrive after the end rather than leave them waiting.
        self.flushes.close();
        while let Ok(ack) = self.flushes.try_recv() {
            let _ = ack.send(());
        }
    }

    /// Writes `batch` in statements of at most `BATCH` rows, retrying each
    /// until the database takes it: rows are never dropped.
    async fn write(&self, batch: &mut Vec<Call>) {
        while !batch.is_empty() {
            let take = batch.len().min(BATCH);
            let chunk: Arc<[Call]> = batch.drain(..take).collect();
            let mut backoff = Duration::from_millis(100);
            let mut attempt = 0_u32;
            // Until it is written: the chunk is kept, and the loop has no other way out.
            while let Err(err) = self.store.record_calls(Arc::clone(&chunk)).await {
                attempt += 1;
                tracing::warn!(error = %err, attempt, pending = batch.len() + take, "cannot write audit events yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    async fn purge(&self) {
        let Ok(retention) = chrono::Duration::from_std(self.retention) else { return };
        let cutoff = chrono::Utc::now() - retention;
        match self.store.purge_calls_before(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "purged audit events past their retention"),
            Err(err) => tracing::warn!(error = %err, "cannot purge old audit events; will try again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait as _;

    use super::*;

    fn call(age: chrono::Duration) -> Call {
        Call {
            id: uuid::Uuid::now_v7(),
            event_time: chrono::Utc::now() - age,
            credential: String::new(),
            organisation: "organisations/riverside".into(),
            role: String::new(),
            method: "unknown".into(),
            resource: String::new(),
            status: "OK".into(),
            special_category: false,
            trace_id: String::new(),
            caller_trace_id: String::new(),
        }
    }

    async fn store(dir: &tempfile::TempDir) -> (Arc<Store>, sea_orm::DatabaseConnection) {
        let settings = persistence::DatabaseSettings {
            url: format!("sqlite://{}", dir.path().join("gateway.db").display()),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        };
        let store = Store::new(persistence::connect(&settings, "gateway").await.unwrap());
        store.migrate().await.unwrap();
        (Arc::new(store), persistence::connect(&settings, "gateway").await.unwrap())
    }

    async fn count(store: &Store) -> usize {
        store.list_calls(&crate::store::CallFilter::default(), None, 1_000).await.unwrap().len()
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_failing_database_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, raw) = store(&dir).await;
        let settings = AuditSettings { capacity: 4, retention: Duration::from_secs(86_400) };
        let (audit, writer) = AuditLog::start(Arc::clone(&store), settings);
        // The table is away: every write fails until it is back.
        raw.execute_unprepared("ALTER TABLE calls RENAME TO calls_away").await.unwrap();
        // A flush sends the writer at the failing database at once.
        audit.reserve().unwrap().record(call(chrono::Duration::zero()));
        let stuck = audit.flusher();
        let first_flush = tokio::spawn(async move { stuck.flush().await });
        let mut recorded = 1;
        let mut refused = false;
        for _ in 0..100 {
            match audit.reserve() {
                Some(slot) => {
                    slot.record(call(chrono::Duration::zero()));
                    recorded += 1;
                }
                None => {
                    refused = true;
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        assert!(refused, "a full queue refuses a place");
        raw.execute_unprepared("ALTER TABLE calls_away RENAME TO calls").await.unwrap();
        first_flush.await.unwrap();
        audit.flusher().flush().await;
        assert_eq!(count(&store).await, recorded, "every recorded call is written once the database is back");
        assert!(audit.reserve().is_some(), "places come back");
        drop(audit);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn rows_past_the_retention_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _raw) = store(&dir).await;
        store
            .record_calls(Arc::from([call(chrono::Duration::days(401)), call(chrono::Duration::days(399))]))
            .await
            .unwrap();
        let cutoff = chrono::Utc::now() - chrono::Duration::days(400);
        assert_eq!(store.purge_calls_before(cutoff).await.unwrap(), 1, "the store purges");
        store.record_calls(Arc::from([call(chrono::Duration::days(402))])).await.unwrap();
        let settings = AuditSettings { capacity: 16, retention: Duration::from_secs(400 * 86_400) };
        // The writer purges when it starts.
        let (audit, writer) = AuditLog::start(Arc::clone(&store), settings);
        audit.flusher().flush().await;
        drop(audit);
        writer.await.unwrap();
        let left = store.list_calls(&crate::store::CallFilter::default(), None, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].event_time > chrono::Utc::now() - chrono::Duration::days(400));
    }
}
