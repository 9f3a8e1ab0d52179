//! Checked-in migrations, applied in order on start and by `bursar migrate`.

use crate::db::{Backend, Store};
use crate::error::StoreError;

/// (version, name, SQL). Append only; never edit an applied migration.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../migrations/0001_foundation.sql")),
    (2, "jobs_oplog_receipts", include_str!("../migrations/0002_jobs_oplog_receipts.sql")),
    (3, "refunds", include_str!("../migrations/0003_refunds.sql")),
    (4, "channels", include_str!("../migrations/0004_channels.sql")),
    (5, "open_api", include_str!("../migrations/0005_open_api.sql")),
    (6, "accounts", include_str!("../migrations/0006_accounts.sql")),
    (7, "projects", include_str!("../migrations/0007_projects.sql")),
];

/// Applies every migration not yet applied, each in its own transaction. On PostgreSQL an advisory
/// lock keeps several starting instances from racing.
pub async fn run(store: &Store) -> Result<Vec<i64>, StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
    )
    .execute(store.pool())
    .await?;
    let mut applied_now = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let mut tx = store.begin().await?;
        if store.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(72420001)").execute(tx.c()).await?;
        }
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(tx.c())
            .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(tx.c())
            .await
            .map_err(|source| StoreError::Migration { version: *version, source })?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)")
            .bind(*version)
            .bind(*name)
            .bind(tx.now_ms)
            .execute(tx.c())
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        applied_now.push(*version);
    }
    Ok(applied_now)
}
