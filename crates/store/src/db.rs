use std::sync::Arc;
use std::time::Duration;

use bursar_domain::{Clock, IdGen};
use futures_util::future::BoxFuture;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};

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
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
}

/// A write transaction. `now_ms` is read once when it begins so that every row it writes carries
/// the same time.
pub struct Tx {
    tx: Transaction<'static, Any>,
    pub now_ms: i64,
    pub ids: Arc<dyn IdGen>,
}

impl Tx {
    pub fn c(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }
}

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
        let store = Store { pool, backend, clock, ids };
        crate::migrate::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
    pub fn pool(&self) -> &AnyPool {
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
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite so that a transaction which reads
    /// before it writes cannot fail to upgrade its lock.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx, now_ms: self.clock.now_ms(), ids: self.ids.clone() })
    }

    /// Runs `work` in a write transaction and commits it; on a serialization failure (SQLSTATE
    /// 40001 on distributed SQL, SQLITE_BUSY) rolls back and runs it again, up to 8 times.
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
            let result = match result {
                Ok(value) => tx.tx.commit().await.map(|_| value).map_err(|e| E::from(StoreError::Db(e))),
                Err(e) => {
                    let _ = tx.tx.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() && attempt < 8 => {
                    tracing::debug!(attempt, "retrying transaction after a serialization failure");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    pub async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores a setting only if it is not set yet and returns the value in force.
    pub async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        self.get_setting(name).await?.ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The compare-and-set every state machine uses: move row `id` of `table` from `from` to `to`,
/// or fail with `Conflict` when it is no longer in `from` (someone else moved it first).
pub(crate) async fn cas_state(
    c: &mut AnyConnection,
    table: &'static str,
    id: &str,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE {table} SET state = $1, updated_at_ms = $2 WHERE id = $3 AND state = $4");
    let r = sqlx::query(&sql).bind(to).bind(now_ms).bind(id).bind(from).execute(c).await?;
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
