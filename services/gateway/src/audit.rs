//! The audit of every call through the gateway. Calls are recorded as they
//! finish and written in batches by one background task, so auditing costs a
//! call a channel send rather than a database round trip. A batch is written
//! when it is full or `WINDOW` after its first call: measured, one write per
//! handful of calls spent a quarter of the gateway's CPU in commits.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use crate::store::{Store, calls};

/// Calls buffered before the oldest would be dropped.
const BUFFER: usize = 100_000;
/// Calls written per statement at most.
const BATCH: usize = 1_000;
/// How long a call may wait to be written with others.
const WINDOW: Duration = Duration::from_millis(200);

/// Where finished calls are sent to be recorded.
#[derive(Clone, Debug)]
pub struct AuditLog {
    sender: mpsc::Sender<calls::Model>,
}

impl AuditLog {
    /// Starts the writer; it drains what is queued and stops when every
    /// `AuditLog` clone is dropped.
    pub fn start(store: std::sync::Arc<Store>) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel::<calls::Model>(BUFFER);
        let writer = tokio::spawn(async move {
            let batches = ReceiverStream::new(receiver).chunks_timeout(BATCH, WINDOW);
            tokio::pin!(batches);
            while let Some(rows) = batches.next().await {
                let mut attempt = 0;
                loop {
                    match store.record_calls(rows.clone()).await {
                        Ok(()) => break,
                        Err(err) if attempt < 3 => {
                            attempt += 1;
                            tracing::warn!(error = %err, attempt, "cannot write audit events yet; retrying");
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                        Err(err) => {
                            tracing::error!(error = %err, lost = rows.len(), "audit events could not be written");
                            break;
                        }
                    }
                }
            }
        });
        (Self { sender }, writer)
    }

    /// Queues one finished call. Never waits: a full queue means the database has
    /// fallen far behind, which is logged loudly rather than stalling traffic.
    pub fn record(&self, call: calls::Model) {
        if let Err(err) = self.sender.try_send(call) {
            tracing::error!(error = %err, "audit queue full; a call went unrecorded");
        }
    }
}
