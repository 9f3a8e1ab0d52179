use std::sync::Arc;
use std::time::Duration;

use bursar_domain::{Clock, IdGen};
use futures_util::future::BoxFuture;
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::Notify;

use crate::error::{Retryable, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***{}", &url[..s], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The store: a connection pool plus the injected clock and id generator.
///
/// There is one way to write: [`Store::write`], which runs a closure in a transaction
/// (`BEGIN IMMEDIATE` on SQLite; `SERIALIZABLE` on PostgreSQL, so that every check-then-act is
/// safe without remembering to lock what it checked) and runs it again on a serialization
/// failure or a lost compare-and-set. Reads use a [`Reader`], which no writing function accepts.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    /// Woken after a commit that appended to the operation log (the sealer waits on it).
    oplog_appended: Arc<Notify>,
}

/// What every store function runs its SQL on: a [`Reader`] or a [`Tx`]. Only this crate can
/// reach the connection inside, and only reading functions take `impl Conn`.
pub trait Conn: Send {
    #[doc(hidden)]
    fn raw(&mut self) -> &mut AnyConnection;
}

/// A pooled connection for reads outside any transaction.
pub struct Reader(PoolConnection<Any>);

impl Conn for Reader {
    fn raw(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

/// A write transaction. `now_ms` is read once when it begins so that every row it writes carries
/// the same time.
pub struct Tx {
    pub(crate) tx: Transaction<'static, Any>,
    pub now_ms: i64,
    ids: Arc<dyn IdGen>,
    backend: Backend,
    /// Set when the transaction appended to the operation log.
    pub(crate) logged: bool,
}

impl Conn for Tx {
    fn raw(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Tx {
    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Attempts of one write transaction before its serialization failure is returned.
const WRITE_ATTEMPTS: u32 = 16;

impl Store {
    /// Connects, applies pending migrations and returns the store.
    pub async fn open(url: &str, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        opts = match backend {
            Backend::Sqlite => opts.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA busy_timeout = 15000").await?;
                    // FULL (the default) makes every commit durable on power loss. Operators
                    // (and the simulation, on tmpfs) may choose NORMAL or OFF.
                    let sync = match std::env::var("BURSAR_SQLITE_SYNCHRONOUS").as_deref() {
                        Ok("NORMAL") => "PRAGMA synchronous = NORMAL",
                        Ok("OFF") => "PRAGMA synchronous = OFF",
                        _ => "PRAGMA synchronous = FULL",
                    };
                    conn.execute(sync).await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => opts.max_connections(16),
        };
        let pool = opts.connect(url).await?;
        if backend == Backend::Sqlite {
            sqlx::raw_sql("PRAGMA journal_mode = WAL;").execute(&pool).await?;
        }
        let store = Store { pool, backend, clock, ids, oplog_appended: Arc::new(Notify::new()) };
        crate::migrate::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
    pub fn ids(&self) -> Arc<dyn IdGen> {
        self.ids.clone()
    }
    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }

    /// A connection for reads.
    pub async fn read(&self) -> Result<Reader, StoreError> {
        Ok(Reader(self.pool.acquire().await?))
    }

    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite (a transaction that reads before
    /// it writes cannot fail to upgrade its lock, and writers are serialised), `SERIALIZABLE` on
    /// PostgreSQL (a transaction whose reads another one invalidated fails and is run again).
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE").await?,
        };
        Ok(Tx { tx, now_ms: self.clock.now_ms(), ids: self.ids.clone(), backend: self.backend, logged: false })
    }

    /// Runs `work` in a write transaction and commits it. On a serialization failure (SQLSTATE
    /// 40001, a deadlock, SQLITE_BUSY) or a compare-and-set that lost a race, rolls back and runs
    /// it again from a fresh read, up to 16 times with a growing, jittered pause.
    pub async fn write<T, E, F>(&self, mut work: F) -> Result<T, E>
    where
        E: From<StoreError> + Retryable,
        F: for<'t> FnMut(&'t mut Tx) -> BoxFuture<'t, Result<T, E>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut tx = self.begin().await.map_err(E::from)?;
            let result = work(&mut tx).await;
            let logged = tx.logged;
            let result = match result {
                Ok(value) => tx.tx.commit().await.map(|_| value).map_err(|e| E::from(StoreError::Db(e))),
                Err(e) => {
                    // A failed rollback leaves nothing behind: the connection is discarded.
                    if let Err(rb) = tx.tx.rollback().await {
                        tracing::warn!(error = %rb, "rollback failed");
                    }
                    Err(e)
                }
            };
            match result {
                Ok(value) => {
                    if logged {
                        self.oplog_appended.notify_one();
                    }
                    return Ok(value);
                }
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    tracing::debug!(attempt, "retrying a transaction that lost a race");
                    let jitter = u64::from(self.clock.now_ms().rem_euclid(7).unsigned_abs() as u32);
                    let pause = 2 * u64::from(attempt * attempt) + jitter;
                    tokio::time::sleep(Duration::from_millis(pause.min(400))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until a committed transaction appended to the operation log (the sealer's cue).
    pub async fn oplog_appended(&self) {
        self.oplog_appended.notified().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The compare-and-set every state machine uses: move row `id` of `table` from `from` to `to`,
/// or fail with `Conflict` when it is no longer in `from` (someone else moved it first).
pub(crate) async fn cas_state(
    tx: &mut Tx,
    table: &'static str,
    id: &str,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE {table} SET state = $1, updated_at_ms = $2 WHERE id = $3 AND state = $4");
    let r = sqlx::query(&sql).bind(to).bind(now_ms).bind(id).bind(from).execute(tx.raw()).await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("{table} {id} is no longer {from}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact_url("postgres://bursar:s3cret@db:5432/x"), "postgres://bursar:***@db:5432/x");
        assert_eq!(redact_url("postgres://bursar@db/x"), "postgres://bursar@db/x");
        assert_eq!(redact_url("sqlite://data/bursar.db"), "sqlite://data/bursar.db");
    }
}
