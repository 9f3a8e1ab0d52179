//! The durable job table as the worker uses it: claim a due job under a lease, then record that
//! it is done, runs again later, or failed (with backoff; given up after its last attempt). Only
//! Bursar's own worker calls these; each is one transaction.

use bursar_store::jobs::{self as job_store, JobRow};
use bursar_store::Tx;

use crate::engine::Engine;
use crate::error::EngineError;

/// How a job ended this time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Done,
    RunAt(i64),
    /// Failed with this error: retried after a backoff, or given up after its last attempt.
    Failed(String),
}

pub use bursar_store::jobs::JobRow as Job;

impl Engine {
    /// Claims one due job for `owner` (queued and due, or running with an expired lease).
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<JobRow>, EngineError> {
        let owner = owner.to_string();
        Ok(self
            .store()
            .write(|tx: &mut Tx| {
                let owner = owner.clone();
                Box::pin(async move {
                    let now = tx.now_ms;
                    job_store::claim(tx, &owner, now, lease_ms).await
                })
            })
            .await?)
    }

    /// Records how a claimed job ended. `Ok(true)` when it failed for the last time.
    pub async fn finish_job(
        &self,
        job: &JobRow,
        owner: &str,
        end: &JobEnd,
        base_backoff_ms: i64,
    ) -> Result<bool, EngineError> {
        let (job, owner, end) = (job.clone(), owner.to_string(), end.clone());
        Ok(self
            .store()
            .write(|tx: &mut Tx| {
                let (job, owner, end) = (job.clone(), owner.clone(), end.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    match &end {
                        JobEnd::Done => job_store::complete(tx, &job.id, &owner, now).await.map(|_| false),
                        JobEnd::RunAt(at) => job_store::reschedule(tx, &job.id, &owner, *at, now).await.map(|_| false),
                        JobEnd::Failed(error) => job_store::fail(tx, &job, &owner, error, now, base_backoff_ms).await,
                    }
                })
            })
            .await?)
    }

    /// Seals committed operation-log rows onto the hash chain; returns how many.
    pub async fn seal_operation_log(&self) -> Result<usize, EngineError> {
        Ok(bursar_store::oplog::seal_all(self.store()).await?)
    }
}
