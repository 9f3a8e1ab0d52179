//! Checked-in migrations, applied in order on start and by `bursar migrate`.

use sqlx::Connection;

use crate::db::{Backend, Store};
use crate::error::StoreError;

/// A migration's SQL: one text for both stores, or one per store where they cannot share one
/// (SQLite rebuilds a table to add a constraint; PostgreSQL alters it).
pub enum Sql {
    Both(&'static str),
    PerBackend { sqlite: &'static str, postgres: &'static str },
}

impl Sql {
    fn text(&self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Sql::Both(s), _) => s,
            (Sql::PerBackend { sqlite, .. }, Backend::Sqlite) => sqlite,
            (Sql::PerBackend { postgres, .. }, Backend::Postgres) => postgres,
        }
    }
}

/// (version, name, SQL). Append only; never edit an applied migration.
pub const MIGRATIONS: &[(i64, &str, Sql)] = &[
    (1, "foundation", Sql::Both(include_str!("../migrations/0001_foundation.sql"))),
    (2, "jobs_oplog_receipts", Sql::Both(include_str!("../migrations/0002_jobs_oplog_receipts.sql"))),
    (3, "refunds", Sql::Both(include_str!("../migrations/0003_refunds.sql"))),
    (4, "channels", Sql::Both(include_str!("../migrations/0004_channels.sql"))),
    (5, "open_api", Sql::Both(include_str!("../migrations/0005_open_api.sql"))),
    (6, "accounts", Sql::Both(include_str!("../migrations/0006_accounts.sql"))),
    (7, "projects", Sql::Both(include_str!("../migrations/0007_projects.sql"))),
    (
        8,
        "access_and_checks",
        Sql::PerBackend {
            sqlite: include_str!("../migrations/0008_access_and_checks.sqlite.sql"),
            postgres: include_str!("../migrations/0008_access_and_checks.postgres.sql"),
        },
    ),
    (9, "hardening", Sql::Both(include_str!("../migrations/0009_hardening.sql"))),
    (10, "roster", Sql::Both(include_str!("../migrations/0010_roster.sql"))),
    (11, "waivers", Sql::Both(include_str!("../migrations/0011_waivers.sql"))),
    (12, "standards", Sql::Both(include_str!("../migrations/0012_standards.sql"))),
    (13, "deferrals", Sql::Both(include_str!("../migrations/0013_deferrals.sql"))),
    (14, "payer_access", Sql::Both(include_str!("../migrations/0014_payer_access.sql"))),
    (15, "fee_item_changes", Sql::Both(include_str!("../migrations/0015_fee_item_changes.sql"))),
    (
        16,
        "payer_search",
        Sql::PerBackend {
            sqlite: include_str!("../migrations/0016_payer_search.sqlite.sql"),
            postgres: include_str!("../migrations/0016_payer_search.postgres.sql"),
        },
    ),
    (
        17,
        "receivable_totals",
        Sql::PerBackend {
            sqlite: include_str!("../migrations/0017_receivable_totals.sqlite.sql"),
            postgres: include_str!("../migrations/0017_receivable_totals.postgres.sql"),
        },
    ),
    (18, "relief_batches", Sql::Both(include_str!("../migrations/0018_relief_batches.sql"))),
    (19, "project_amounts", Sql::Both(include_str!("../migrations/0019_project_amounts.sql"))),
    (20, "fee_item_profile", Sql::Both(include_str!("../migrations/0020_fee_item_profile.sql"))),
    (21, "fee_item_fields", Sql::Both(include_str!("../migrations/0021_fee_item_fields.sql"))),
    (22, "standard_classes", Sql::Both(include_str!("../migrations/0022_standard_classes.sql"))),
    (23, "receivable_notes", Sql::Both(include_str!("../migrations/0023_receivable_notes.sql"))),
    (24, "collected_by", Sql::Both(include_str!("../migrations/0024_collected_by.sql"))),
    (
        25,
        "day_close",
        Sql::PerBackend {
            sqlite: include_str!("../migrations/0025_day_close.sqlite.sql"),
            postgres: include_str!("../migrations/0025_day_close.postgres.sql"),
        },
    ),
    (26, "operator_accounts", Sql::Both(include_str!("../migrations/0026_operator_accounts.sql"))),
    (27, "notices", Sql::Both(include_str!("../migrations/0027_notices.sql"))),
    (28, "second_factor", Sql::Both(include_str!("../migrations/0028_second_factor.sql"))),
    (29, "password_age", Sql::Both(include_str!("../migrations/0029_password_age.sql"))),
];

/// Applies every migration not yet applied, each in its own transaction, on one connection of
/// its own. On PostgreSQL an advisory lock keeps several starting instances from racing. On
/// SQLite foreign keys are off while a migration rebuilds tables and checked before it commits;
/// the connection is closed afterwards so that none with foreign keys off returns to the pool.
pub async fn run(store: &Store) -> Result<Vec<i64>, StoreError> {
    run_up_to(store, i64::MAX).await
}

/// The same, stopping after `last` (tests migrate data written by an older version).
pub async fn run_up_to(store: &Store, last: i64) -> Result<Vec<i64>, StoreError> {
    let backend = store.backend();
    let mut conn = store.pool().acquire().await?.detach();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let mut applied_now = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v <= last) {
        if backend == Backend::Sqlite {
            sqlx::raw_sql("PRAGMA foreign_keys = OFF").execute(&mut conn).await?;
        }
        let begin = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        sqlx::raw_sql(begin).execute(&mut conn).await?;
        let outcome = apply_one(&mut conn, backend, *version, name, sql.text(backend), store.now_ms()).await;
        match outcome {
            Ok(applied) => {
                sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                if applied {
                    tracing::info!(version, name, "applied migration");
                    applied_now.push(*version);
                }
            }
            Err(e) => {
                if let Err(rb) = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await {
                    tracing::warn!(error = %rb, "rollback of a failed migration failed");
                }
                return Err(e);
            }
        }
    }
    conn.close().await?;
    Ok(applied_now)
}

/// One migration inside the open transaction; `false` when it was applied before.
async fn apply_one(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    version: i64,
    name: &str,
    sql: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(72420001)").execute(&mut *conn).await?;
    }
    let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
    if done.is_some() {
        return Ok(false);
    }
    sqlx::raw_sql(sql).execute(&mut *conn).await.map_err(|source| StoreError::Migration { version, source })?;
    if backend == Backend::Sqlite {
        // Foreign keys were off while tables were rebuilt: prove nothing dangles before committing.
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&mut *conn).await?;
        if let Some((table,)) = broken.first() {
            return Err(StoreError::MigrationCheck { version, detail: format!("foreign keys of {table} dangle") });
        }
    }
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)")
        .bind(version)
        .bind(name)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}
