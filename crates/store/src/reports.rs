//! The facts reports are made of, read as streams so that a report over a year's payments holds
//! one row at a time: collections (what each succeeded payment credited, from the ledger's own
//! postings), receivables (what is owed now), refunds, and decided waivers and deferrals.

use futures_util::TryStreamExt as _;

use crate::db::Conn;
use crate::error::StoreError;

/// One credit of a succeeded payment: to a receivable (`fee_item_id` set) or, when nothing was
/// left to allocate, to the payer's credit (多缴款). Amounts are the ledger's postings, so the
/// facts of a payment add up to its amount.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CollectionFact {
    pub payment_id: String,
    pub merchant_order_no: String,
    pub succeeded_at_ms: i64,
    pub channel: String,
    pub method: String,
    pub collected_by: String,
    /// The merchant account or till it went into (`till:<operator id>` at the counter).
    pub merchant_id: String,
    pub amount_fen: i64,
    pub fee_item_id: String,
    pub academic_year: String,
    #[sqlx(flatten)]
    pub payer: PayerFact,
}

/// The payer every fact names, with their college, grade and class as they are now.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PayerFact {
    #[sqlx(rename = "payer_id")]
    pub id: String,
    #[sqlx(rename = "payer_identifier")]
    pub identifier: String,
    #[sqlx(rename = "payer_name")]
    pub name: String,
    #[sqlx(rename = "payer_kind")]
    pub kind: String,
    #[sqlx(rename = "payer_department_id")]
    pub department_id: String,
    #[sqlx(rename = "payer_grade")]
    pub grade: String,
    #[sqlx(rename = "payer_class")]
    pub class_name: String,
}

/// Payer columns every fact carries (see [`PayerFact`]).
const PAYER_COLS: &str =
    "y.id AS payer_id, y.identifier AS payer_identifier, y.name AS payer_name, y.kind AS payer_kind,
        COALESCE(y.department_id, '') AS payer_department_id, y.grade AS payer_grade, y.class_name AS payer_class";

/// Calls `each` for every credit of a payment that succeeded in `[from_ms, to_ms)`, oldest first.
pub async fn each_collection<F>(c: &mut impl Conn, from_ms: i64, to_ms: i64, mut each: F) -> Result<(), StoreError>
where
    F: FnMut(CollectionFact) -> Result<(), StoreError> + Send,
{
    let sql = format!(
        "SELECT p.id AS payment_id, p.merchant_order_no, p.succeeded_at_ms, p.channel, p.method,
                COALESCE(p.collected_by, '') AS collected_by, p.merchant_id, -po.amount_fen AS amount_fen,
                COALESCE(r.fee_item_id, '') AS fee_item_id, COALESCE(r.academic_year, '') AS academic_year, {PAYER_COLS}
           FROM payments p
           JOIN journal_entries je ON je.kind = 'payment_succeeded' AND je.source_id = p.id
           JOIN postings po ON po.entry_id = je.id
           JOIN accounts a ON a.id = po.account_id AND a.kind IN ('receivable', 'payer_credit')
           LEFT JOIN receivables r ON a.kind = 'receivable' AND r.id = a.dimension
           JOIN payers y ON y.id = p.payer_id
          WHERE p.succeeded_at_ms >= $1 AND p.succeeded_at_ms < $2 AND p.state = 'succeeded'
          ORDER BY p.succeeded_at_ms, p.id, a.kind, r.fee_item_id"
    );
    let mut rows = sqlx::query_as::<_, CollectionFact>(&sql).bind(from_ms).bind(to_ms).fetch(c.raw());
    while let Some(row) = rows.try_next().await? {
        each(row)?;
    }
    Ok(())
}

/// A receivable as it stands.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReceivableFact {
    pub fee_item_id: String,
    pub academic_year: String,
    pub due_fen: i64,
    pub waived_fen: i64,
    pub paid_fen: i64,
    pub deferred_until_ms: Option<i64>,
    pub deferral_kind: Option<String>,
    #[sqlx(flatten)]
    pub payer: PayerFact,
}

/// Calls `each` for every receivable (only those still owing something when `owing_only`),
/// ordered by the payer's college, class and number.
pub async fn each_receivable<F>(c: &mut impl Conn, owing_only: bool, mut each: F) -> Result<(), StoreError>
where
    F: FnMut(ReceivableFact) -> Result<(), StoreError> + Send,
{
    let filter = if owing_only { "WHERE r.state = 'open' AND r.due_fen - r.waived_fen - r.paid_fen > 0" } else { "" };
    let sql = format!(
        "SELECT r.fee_item_id, r.academic_year, r.due_fen, r.waived_fen, r.paid_fen, r.deferred_until_ms, r.deferral_kind,
                {PAYER_COLS}
           FROM receivables r JOIN payers y ON y.id = r.payer_id
           {filter}
          ORDER BY COALESCE(y.department_id, ''), y.class_name, y.identifier, r.fee_item_id, r.academic_year"
    );
    let mut rows = sqlx::query_as::<_, ReceivableFact>(&sql).fetch(c.raw());
    while let Some(row) = rows.try_next().await? {
        each(row)?;
    }
    Ok(())
}

/// A refund paid out (by the channel or by a manual bank transfer), one row per line.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefundFact {
    pub refund_id: String,
    pub kind: String,
    pub state: String,
    pub reason: String,
    pub requested_by: String,
    pub decided_by: String,
    pub at_ms: i64,
    pub channel: String,
    pub fee_item_id: String,
    pub amount_fen: i64,
    #[sqlx(flatten)]
    pub payer: PayerFact,
}

/// Calls `each` for every line of a refund paid out in `[from_ms, to_ms)` (a manual transfer
/// counts when it was recorded).
pub async fn each_refund<F>(c: &mut impl Conn, from_ms: i64, to_ms: i64, mut each: F) -> Result<(), StoreError>
where
    F: FnMut(RefundFact) -> Result<(), StoreError> + Send,
{
    let sql = format!(
        "SELECT f.id AS refund_id, f.kind, f.state, f.reason, f.requested_by, COALESCE(f.decided_by, '') AS decided_by,
                COALESCE(f.succeeded_at_ms, f.updated_at_ms) AS at_ms, p.channel,
                COALESCE(l.fee_item_id, '') AS fee_item_id, l.amount_fen, {PAYER_COLS}
           FROM refunds f
           JOIN refund_lines l ON l.refund_id = f.id
           JOIN payments p ON p.id = f.payment_id
           JOIN payers y ON y.id = f.payer_id
          WHERE f.state IN ('succeeded', 'manual') AND COALESCE(f.succeeded_at_ms, f.updated_at_ms) >= $1
            AND COALESCE(f.succeeded_at_ms, f.updated_at_ms) < $2
          ORDER BY at_ms, f.id, l.target_id"
    );
    let mut rows = sqlx::query_as::<_, RefundFact>(&sql).bind(from_ms).bind(to_ms).fetch(c.raw());
    while let Some(row) = rows.try_next().await? {
        each(row)?;
    }
    Ok(())
}

/// An approved waiver (减免) or deferral (缓缴).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReliefFact {
    /// `waiver` or `deferral`.
    pub relief: String,
    /// The deferral's kind; empty for a waiver.
    pub kind: String,
    pub amount_fen: i64,
    pub until_ms: Option<i64>,
    pub reason: String,
    pub requested_by: String,
    pub decided_by: String,
    pub at_ms: i64,
    pub fee_item_id: String,
    #[sqlx(flatten)]
    pub payer: PayerFact,
}

/// Calls `each` for every waiver and deferral approved in `[from_ms, to_ms)`.
pub async fn each_relief<F>(c: &mut impl Conn, from_ms: i64, to_ms: i64, mut each: F) -> Result<(), StoreError>
where
    F: FnMut(ReliefFact) -> Result<(), StoreError> + Send,
{
    let sql = format!(
        "SELECT * FROM (
           SELECT 'waiver' AS relief, '' AS kind, w.amount_fen, CAST(NULL AS BIGINT) AS until_ms, w.reason, w.requested_by,
                  COALESCE(w.decided_by, '') AS decided_by, w.decided_at_ms AS at_ms, r.fee_item_id, {PAYER_COLS}
             FROM waivers w JOIN receivables r ON r.id = w.receivable_id JOIN payers y ON y.id = r.payer_id
            WHERE w.state = 'approved' AND w.decided_at_ms >= $1 AND w.decided_at_ms < $2
           UNION ALL
           SELECT 'deferral' AS relief, d.kind, r.due_fen - r.waived_fen - r.paid_fen AS amount_fen, d.until_ms, d.reason,
                  d.requested_by, COALESCE(d.decided_by, '') AS decided_by, d.decided_at_ms AS at_ms, r.fee_item_id, {PAYER_COLS}
             FROM deferrals d JOIN receivables r ON r.id = d.receivable_id JOIN payers y ON y.id = r.payer_id
            WHERE d.state = 'approved' AND d.decided_at_ms >= $1 AND d.decided_at_ms < $2
         ) x ORDER BY at_ms, relief, payer_identifier"
    );
    let mut rows = sqlx::query_as::<_, ReliefFact>(&sql).bind(from_ms).bind(to_ms).fetch(c.raw());
    while let Some(row) = rows.try_next().await? {
        each(row)?;
    }
    Ok(())
}

/// Departments as (id, code, name), by code.
pub async fn departments(c: &mut impl Conn) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, code, name FROM departments ORDER BY code").fetch_all(c.raw()).await?)
}

/// Operators as (id, username, name), by username.
pub async fn operators(c: &mut impl Conn) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT id, username, name FROM operators ORDER BY username").fetch_all(c.raw()).await?)
}
