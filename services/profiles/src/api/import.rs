//! `ImportCustomers`: a bidirectional stream processed in bounded batches.
//!
//! Rows are gathered into chunks of [`Store::import_batch_rows`], or fewer when no more arrive
//! within `BATCH_WAIT` (so a caller sending one row at a time is answered
//! promptly); each chunk is validated, committed in one transaction and answered
//! row by row. Answers go through a bounded channel, so a caller that stops reading
//! answers stops the import reading rows: memory stays flat however long the stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use contracts::involve::profiles::v1 as pb;
use opentelemetry::KeyValue;
use persistence::{Actor, Scope, StoreError};
use platform::{FieldViolation, RequestContext};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument as _;

use super::convert::{self, Violations, read_customer, violation_to_proto};
use crate::domain::{OrganisationName, ReferenceData, ReferenceSet, access};
use crate::error::ProfileError;
use crate::store::{CommitTurn, Committed, ImportBatch, ImportOutcome, ImportRow, Store};

/// Rows written before planner statistics are refreshed; then again each time the
/// rows written have doubled, and once at the end.
const STATISTICS_AFTER_ROWS: u64 = 5_000;
/// Chunks of one import in hand at once. While one is written, the next is matched
/// and built (and on PostgreSQL written too, committing after the first), so both
/// cores work; one at a time left them about half idle.
const CHUNKS_AT_ONCE: usize = 2;
/// How long a partial chunk waits for more rows before it is committed anyway.
const BATCH_WAIT: Duration = Duration::from_millis(20);
/// Answers buffered for a slow reader before the import pauses, in chunks.
const ANSWER_BUFFER_CHUNKS: usize = 2;

pub type ImportResponses = ReceiverStream<Result<pb::ImportCustomersResponse, Status>>;

type Outcome = pb::import_customers_response::Outcome;

pub(crate) fn start(
    store: Arc<Store>,
    ctx: RequestContext,
    inbound: Streaming<pb::ImportCustomersRequest>,
) -> ImportResponses {
    let (answers, receiver) = mpsc::channel(ANSWER_BUFFER_CHUNKS * store.import_batch_rows());
    tokio::spawn(run(store, ctx, inbound, answers).instrument(tracing::Span::current()));
    ReceiverStream::new(receiver)
}

/// Who the rows are checked against.
struct Importer {
    ctx: RequestContext,
    /// A partner's own organisation: its rows default to it and may name no other.
    own_organisation: Option<OrganisationName>,
}

/// One validated chunk on its way to the database.
struct Chunk {
    valid: Vec<ImportRow>,
    /// Rows that failed validation, already answered.
    replies: Vec<pb::ImportCustomersResponse>,
    /// External reference of each valid row, to echo in its answer.
    references: HashMap<i64, String>,
}

/// Two stages joined by a one-slot channel: this task reads and validates chunk
/// N+1 while the writer commits chunk N, so decoding and the database overlap.
/// At most three chunks exist at once, whatever the stream's length.
async fn run(
    store: Arc<Store>,
    ctx: RequestContext,
    inbound: Streaming<pb::ImportCustomersRequest>,
    answers: mpsc::Sender<Result<pb::ImportCustomersResponse, Status>>,
) {
    let (chunks, pending) = mpsc::channel::<Chunk>(1);
    let writer = tokio::spawn(
        write_chunks(Arc::clone(&store), ctx.clone(), pending, answers.clone())
            .instrument(tracing::Span::current()),
    );
    let own_organisation =
        if ctx.principal.role.sees_every_landlord() { None } else { ctx.principal.organisation.parse().ok() };
    let importer = Importer { ctx, own_organisation };
    let mut batches = std::pin::pin!(inbound.chunks_timeout(store.import_batch_rows(), BATCH_WAIT));
    let mut row_number: i64 = 0;
    while let Some(batch) = batches.next().await {
        let refs = match store.reference_data().await {
            Ok(refs) => refs,
            Err(err) => {
                let _ = answers.send(Err(ProfileError::Store(err).into())).await;
                break;
            }
        };
        let today = Utc::now().date_naive();
        let mut chunk = Chunk {
            valid: Vec::with_capacity(batch.len()),
            replies: Vec::new(),
            references: HashMap::with_capacity(batch.len()),
        };
        let mut broken = None;
        for item in batch {
            let message = match item {
                Ok(message) => message,
                Err(status) => {
                    broken = Some(status);
                    break;
                }
            };
            row_number += 1;
            let reference =
                message.customer.as_ref().map(|c| c.external_reference.clone()).unwrap_or_default();
            match importer.row(row_number, message, &refs, today) {
                Ok(row) => {
                    chunk.references.insert(row.row, reference);
                    chunk.valid.push(row);
                }
                Err(violations) => chunk.replies.push(answer(
                    row_number,
                    reference,
                    Outcome::Failed,
                    String::new(),
                    violations,
                )),
            }
        }
        if chunks.send(chunk).await.is_err() {
            // The writer stopped: the caller went away or the database failed.
            break;
        }
        if let Some(status) = broken {
            tracing::info!(code = ?status.code(), "import stream ended with an error from the caller");
            break;
        }
    }
    drop(chunks);
    let _ = writer.await;
}

/// Commits chunks and answers their rows, in stream order. Up to
/// [`CHUNKS_AT_ONCE`] chunks are written at once, each in a task of its
/// own, but never two that touch the same customer (a later one waits for the
/// earlier to end, so it matches the rows as that one left them); they commit in
/// order ([`CommitTurn`]), so when one fails, nothing after it is written.
async fn write_chunks(
    store: Arc<Store>,
    ctx: RequestContext,
    mut pending: mpsc::Receiver<Chunk>,
    answers: mpsc::Sender<Result<pb::ImportCustomersResponse, Status>>,
) {
    let writer = ChunkWriter {
        rows_counter: opentelemetry::global::meter("involve")
            .u64_counter("profiles.import.rows")
            .with_description("Customer rows imported, by outcome")
            .build(),
        actor: ctx.actor(),
        scope: access::customer_scope(&ctx.principal),
        may_write_equality: access::may_write_equality(ctx.principal.role),
        answers,
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(CHUNKS_AT_ONCE);
    let mut turn = CommitTurn::now();
    let mut more = true;
    let mut written: u64 = 0;
    let mut statistics_refreshed_at: u64 = 0;
    let statistics = StatisticsRefresher::start(Arc::clone(&store));
    while more || !in_flight.is_empty() {
        let next = tokio::select! {
            biased;
            ended = oldest(&mut in_flight) => Next::Ended(ended),
            chunk = pending.recv(), if more && in_flight.len() < CHUNKS_AT_ONCE => Next::Arrived(chunk),
        };
        let chunk = match next {
            Next::Ended(ended) => {
                let Some(chunk) = in_flight.pop_front() else { continue };
                match writer.answer(chunk, ended).await {
                    Some(rows) => written += rows,
                    None => return,
                }
                continue;
            }
            Next::Arrived(None) => {
                more = false;
                continue;
            }
            Next::Arrived(Some(chunk)) => chunk,
        };
        // A chunk that touches a customer an earlier one still in flight touches
        // starts only once that one has ended (and those before it: answers keep order).
        if let Some(last_shared) = in_flight.iter().rposition(|earlier| earlier.shares_customers(&chunk)) {
            for _ in 0..=last_shared {
                let Some(mut earlier) = in_flight.pop_front() else { break };
                let ended = (&mut earlier.task).await;
                match writer.answer(earlier, ended).await {
                    Some(rows) => written += rows,
                    None => return,
                }
            }
        }
        // Keep the planner's view of the tables in step with a large load.
        if written >= statistics_refreshed_at.saturating_mul(2).max(STATISTICS_AFTER_ROWS) {
            statistics.ask();
            statistics_refreshed_at = written;
        }
        let (committed, next_turn) = CommitTurn::next();
        let this_turn = std::mem::replace(&mut turn, next_turn);
        in_flight.push_back(writer.start(&store, chunk, this_turn, committed));
    }
    // A full refresh, after the last coarse one (which would otherwise overwrite
    // it) and before the stream ends, so the caller's next reads plan on it.
    statistics.finish().await;
    if written >= STATISTICS_AFTER_ROWS {
        refresh_statistics(&store).await;
    }
}

enum Next {
    /// The oldest chunk in flight ended.
    Ended(Result<Result<ImportBatch, StoreError>, JoinError>),
    /// The next chunk, or `None` at the end of the stream.
    Arrived(Option<Chunk>),
}

/// One chunk being written.
struct InFlight {
    /// The customers its rows match on: (landlord, external reference).
    customers: HashSet<(String, String)>,
    /// Rows that failed validation, already answered.
    replies: Vec<pb::ImportCustomersResponse>,
    references: HashMap<i64, String>,
    task: JoinHandle<Result<ImportBatch, StoreError>>,
}

impl InFlight {
    fn shares_customers(&self, chunk: &Chunk) -> bool {
        chunk.valid.iter().any(|row| self.customers.contains(&customer_key(row)))
    }
}

/// The customer a row matches on: (landlord, external reference).
fn customer_key(row: &ImportRow) -> (String, String) {
    let reference = row.details.external_reference.clone().unwrap_or_default();
    (row.landlord.as_str().to_owned(), reference)
}

/// The oldest chunk in flight's end; never, while none is.
async fn oldest(in_flight: &mut VecDeque<InFlight>) -> Result<Result<ImportBatch, StoreError>, JoinError> {
    match in_flight.front_mut() {
        Some(chunk) => (&mut chunk.task).await,
        None => std::future::pending().await,
    }
}

/// What every chunk of one stream is written and answered with.
struct ChunkWriter {
    rows_counter: opentelemetry::metrics::Counter<u64>,
    actor: Actor,
    scope: Scope,
    may_write_equality: bool,
    answers: mpsc::Sender<Result<pb::ImportCustomersResponse, Status>>,
}

impl ChunkWriter {
    fn start(&self, store: &Arc<Store>, chunk: Chunk, turn: CommitTurn, committed: Committed) -> InFlight {
        let Chunk { valid, replies, references } = chunk;
        let customers = valid.iter().map(customer_key).collect();
        let store = Arc::clone(store);
        let (scope, actor, may_write_equality) =
            (self.scope.clone(), self.actor.clone(), self.may_write_equality);
        let task = tokio::spawn(
            async move {
                let written = store.import_batch(&scope, &actor, may_write_equality, valid, turn).await;
                if matches!(written, Ok(ImportBatch::Committed(_))) {
                    committed.fire();
                }
                written
            }
            .instrument(tracing::Span::current()),
        );
        InFlight { customers, replies, references, task }
    }

    /// Answers an ended chunk's rows, in row order; the rows it created or updated,
    /// or `None` when the stream is over (the chunk failed, or the caller left).
    async fn answer(
        &self,
        chunk: InFlight,
        ended: Result<Result<ImportBatch, StoreError>, JoinError>,
    ) -> Option<u64> {
        let InFlight { mut replies, mut references, .. } = chunk;
        let outcomes = match ended {
            Ok(Ok(ImportBatch::Committed(outcomes))) => outcomes,
            Ok(Err(err)) => {
                // Nothing of this chunk or any later one was written; earlier chunks stand.
                let _ = self.answers.send(Err(ProfileError::Store(err).into())).await;
                return None;
            }
            Ok(Ok(ImportBatch::Withdrawn)) | Err(_) => {
                // Withdrawn only after an earlier chunk failed, which ended the stream
                // first; a task that panicked wrote nothing.
                tracing::error!("an import chunk ended without an outcome");
                let _ = self.answers.send(Err(Status::internal("the import stopped unexpectedly"))).await;
                return None;
            }
        };
        let mut written = 0;
        for (row, outcome) in outcomes {
            let reference = references.remove(&row).unwrap_or_default();
            let (kind, customer, violations) = match outcome {
                ImportOutcome::Created(id) => (Outcome::Created, id.name(), Vec::new()),
                ImportOutcome::Updated(id) => (Outcome::Updated, id.name(), Vec::new()),
                ImportOutcome::Unchanged(id) => (Outcome::Unchanged, id.name(), Vec::new()),
                ImportOutcome::Failed(violations) => (Outcome::Failed, String::new(), violations),
            };
            if matches!(kind, Outcome::Created | Outcome::Updated) {
                written += 1;
            }
            replies.push(answer(row, reference, kind, customer, violations));
        }
        replies.sort_by_key(|reply| reply.row);
        for reply in replies {
            let outcome = Outcome::try_from(reply.outcome).map_or("unknown", |outcome| outcome.as_str_name());
            self.rows_counter.add(1, &[KeyValue::new("outcome", outcome)]);
            if self.answers.send(Ok(reply)).await.is_err() {
                // The caller went away; what was committed stays committed.
                return None;
            }
        }
        Some(written)
    }
}

/// Refreshes planner statistics, coarsely, beside the import rather than in its
/// way: the writer only asks, and never waits for an `ANALYZE` (a full one took
/// half a second at 100,000 customers on PostgreSQL and stalled every chunk behind
/// it). Asks made while a refresh runs fold into one more refresh, which starts
/// after the rows asked about are committed.
struct StatisticsRefresher {
    ask: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl StatisticsRefresher {
    fn start(store: Arc<Store>) -> Self {
        let (ask, mut asked) = mpsc::channel::<()>(1);
        let task = tokio::spawn(
            async move {
                while asked.recv().await.is_some() {
                    if let Err(err) = store.refresh_statistics_quickly().await {
                        tracing::warn!(error = %err, "cannot refresh planner statistics during import");
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
        Self { ask, task }
    }

    fn ask(&self) {
        // Full: a refresh is already waiting, and it will see these rows too.
        let _ = self.ask.try_send(());
    }

    /// Returns once the refresh asked for last has run. Dropped instead, the
    /// refresher still runs it, in the background.
    async fn finish(self) {
        drop(self.ask);
        let _ = self.task.await;
    }
}

async fn refresh_statistics(store: &Store) {
    if let Err(err) = store.refresh_statistics().await {
        tracing::warn!(error = %err, "cannot refresh planner statistics after import");
    }
}

fn answer(
    row: i64,
    external_reference: String,
    outcome: Outcome,
    customer: String,
    violations: Vec<FieldViolation>,
) -> pb::ImportCustomersResponse {
    pb::ImportCustomersResponse {
        row,
        external_reference,
        outcome: outcome.into(),
        customer,
        violations: violations.into_iter().map(violation_to_proto).collect(),
    }
}

impl Importer {
    /// Validates one row as `CreateCustomer` would, plus the import's own rules:
    /// an external reference and a landlord are required.
    fn row(
        &self,
        row: i64,
        message: pb::ImportCustomersRequest,
        refs: &ReferenceData,
        today: NaiveDate,
    ) -> Result<ImportRow, Vec<FieldViolation>> {
        let pb::ImportCustomersRequest { customer } = message;
        let Some(customer) = customer else { return Err(vec![FieldViolation::required("customer")]) };
        let mut v = Violations::default();
        let named = v.take(
            convert::organisation("customer.landlord_organisation", &customer.landlord_organisation),
            None,
        );
        let landlord = match (&self.own_organisation, named) {
            (Some(own), None) => Some(own.clone()),
            (Some(own), Some(named)) if &named != own => {
                v.push(FieldViolation::new(
                    "customer.landlord_organisation",
                    "OUTSIDE_SCOPE",
                    "a partner imports only into its own organisation",
                ));
                None
            }
            (_, named) => named,
        };
        if landlord.is_none() && self.own_organisation.is_none() {
            v.push(FieldViolation::required("customer.landlord_organisation"));
        }
        if customer.external_reference.trim().is_empty() {
            v.push(FieldViolation::required("customer.external_reference"));
        }
        let tenure = v.take(convert::required_code("customer.tenure", &customer.tenure).map(Some), None);
        if let Some(tenure) = &tenure {
            v.extend(refs.check(ReferenceSet::Tenures, tenure, false, "customer.tenure"));
        }
        let (details, detail_violations) = read_customer(&customer, "customer", today);
        v.extend_from(detail_violations);
        v.extend(refs.check_details(&details, None).into_iter().map(|vio| vio.nested_under("customer")));
        let (landlord, tenure) = v.into_result((landlord, tenure))?;
        let (Some(landlord), Some(tenure)) = (landlord, tenure) else {
            return Err(vec![FieldViolation::required("customer")]);
        };
        let scope = access::customer_scope(&self.ctx.principal);
        if !scope.admits(Some(landlord.as_str()), details.area.as_ref().map(|area| area.as_str())) {
            return Err(vec![FieldViolation::new(
                "customer",
                "OUTSIDE_SCOPE",
                "this customer is outside your organisation or areas",
            )]);
        }
        Ok(ImportRow { row, landlord, tenure, details })
    }
}
