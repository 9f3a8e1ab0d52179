//! Background work, driven by the durable job table (`bursar_store::jobs`). A worker claims a due
//! job with a compare-and-set lease, runs it, and marks it done, reschedules it, or records the
//! failure with exponential backoff (dead after its last attempt). Several workers — in one
//! process or in several server instances on PostgreSQL — never run one job at the same time,
//! and a job whose worker died is picked up again when its lease runs out.
//!
//! Job kinds:
//! - `payment.query` (payload: payment id): actively query a payment still waiting, credit it
//!   if the channel says it was paid (a lost notification), close it at the channel once expired.
//! - `refund.process` (payload: refund id): submit an approved refund to its channel and follow
//!   it to a final state.
//! - `webhook.deliver` (payload: event id): POST a signed event to its application; retried on
//!   the webhook schedule (more than 24 h) until answered 2xx.

use std::time::Duration;

use bursar_engine::jobs::{Job, JobEnd};
use bursar_engine::{ApplyResult, Engine, QUERY_JOB, REFUND_JOB, WEBHOOK_JOB};
use tokio::sync::watch;

/// How long a claimed job stays leased; a job runs well within it (channel calls time out after
/// 10 s) or its worker is presumed dead and another takes over.
pub const LEASE_MS: i64 = 30_000;
const BASE_BACKOFF_MS: i64 = 2_000;

#[derive(Clone)]
pub struct Worker {
    engine: Engine,
    owner: String,
}

enum Outcome {
    Done,
    Credited,
    RunAt(i64),
}

/// What one `run_due` call did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub ran: usize,
    /// Payment ids credited by active queries.
    pub credited: Vec<String>,
}

impl Worker {
    pub fn new(engine: Engine) -> Worker {
        let owner = format!("worker-{}", engine.store().new_id());
        Worker { engine, owner }
    }

    /// Runs due jobs until none is due or `limit` have run; returns how many ran and the
    /// payments they credited.
    pub async fn run_due(&self, limit: usize) -> RunSummary {
        let mut summary = RunSummary::default();
        let mut ran = 0;
        while ran < limit {
            let job = match self.engine.claim_job(&self.owner, LEASE_MS).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a job");
                    break;
                }
            };
            if self.run_one(&job).await {
                summary.credited.push(job.payload.clone());
            }
            ran += 1;
        }
        summary.ran = ran;
        summary
    }

    /// Runs one job; true when it credited a payment.
    async fn run_one(&self, job: &Job) -> bool {
        let result = match job.kind.as_str() {
            QUERY_JOB => self.query_payment(&job.payload).await,
            REFUND_JOB => match self.engine.process_refund(&job.payload).await {
                Ok(Some(next)) => Ok(Outcome::RunAt(next)),
                Ok(None) => Ok(Outcome::Done),
                Err(e) => Err(e.to_string()),
            },
            WEBHOOK_JOB => match self.engine.deliver_webhook(&job.payload).await {
                Ok(Some(next)) => Ok(Outcome::RunAt(next)),
                Ok(None) => Ok(Outcome::Done),
                Err(e) => Err(e.to_string()),
            },
            other => Err(format!("unknown job kind {other}")),
        };
        let credited = matches!(result, Ok(Outcome::Credited));
        let end = match result {
            Ok(Outcome::Done | Outcome::Credited) => JobEnd::Done,
            Ok(Outcome::RunAt(at)) => JobEnd::RunAt(at),
            Err(error) => JobEnd::Failed(error),
        };
        match self.engine.finish_job(job, &self.owner, &end, BASE_BACKOFF_MS).await {
            Ok(true) => tracing::error!(job = %job.id, kind = %job.kind, ?end, "job failed for the last time"),
            Ok(false) if matches!(end, JobEnd::Failed(_)) => {
                tracing::info!(job = %job.id, kind = %job.kind, ?end, "job failed; will retry")
            }
            Ok(false) => {}
            // Lost the lease (another worker took over) or the store is down: the job stays
            // claimable and runs again; every job is idempotent.
            Err(e) => tracing::warn!(job = %job.id, error = %e, "could not record a job's result"),
        }
        credited
    }

    async fn query_payment(&self, payment_id: &str) -> Result<Outcome, String> {
        match self.engine.query_payment(payment_id).await {
            Ok((ApplyResult::Credited { .. }, _)) => {
                tracing::info!(payment = %payment_id, "recovered a payment by active query");
                Ok(Outcome::Credited)
            }
            Ok((_, Some(next))) => Ok(Outcome::RunAt(next)),
            Ok((_, None)) => Ok(Outcome::Done),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs the worker every `every` until `shutdown` turns true.
pub async fn run_worker(worker: Worker, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        worker.run_due(500).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

/// Seals the operation log: as soon as a committed transaction appended to it, and every second
/// as a fallback, until `shutdown` turns true.
pub async fn run_sealer(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = engine.seal_operation_log().await {
            tracing::warn!(error = %e, "could not seal the operation log; will try again");
        }
        tokio::select! {
            _ = engine.store().oplog_appended() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    // What was committed before stopping is sealed now.
                    if let Err(e) = engine.seal_operation_log().await {
                        tracing::warn!(error = %e, "could not seal the operation log at shutdown");
                    }
                    return;
                }
            }
        }
    }
}
