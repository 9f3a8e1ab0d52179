use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A compare-and-set update found the row in another state: someone else moved it first.
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique rule refused the row (it exists already, or an order already has a live
    /// payment). Not a race to retry: the answer will be the same.
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("{0}")]
    Domain(#[from] bursar_domain::DomainError),
    #[error("this event was already posted: {0}")]
    AlreadyPosted(String),
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("migration {version} left the database inconsistent: {detail}")]
    MigrationCheck { version: i64, detail: String },
    /// A stored code names no value of its enum (a corrupt row).
    #[error("{0}")]
    UnknownCode(#[from] bursar_domain::codes::UnknownCode),
    #[error("unsupported database URL (use sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// A stored value that only Bursar writes cannot be read back (a corrupt row).
    #[error("a stored value cannot be read: {0}")]
    Corrupt(String),
}

/// Errors that mean "the transaction lost a race with another one; run it again".
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        match self {
            StoreError::Db(e) => is_retryable_db(e),
            _ => false,
        }
    }
}

/// PostgreSQL (and distributed SQL) serialization failure 40001 and deadlock 40P01; SQLite
/// SQLITE_BUSY (5) and its extended codes, which `BEGIN IMMEDIATE` makes rare.
pub(crate) fn is_retryable_db(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            matches!(code.as_str(), "40001" | "40P01" | "5" | "517" | "261" | "6")
                || db.message().contains("database is locked")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL 23505; SQLite SQLITE_CONSTRAINT_PRIMARYKEY 1555 / _UNIQUE 2067.
            matches!(code.as_str(), "23505" | "1555" | "2067")
        }
        _ => false,
    }
}
