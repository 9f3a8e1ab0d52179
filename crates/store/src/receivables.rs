//! Fee items and receivables.

use bursar_domain::fee::{FeeItemStatus, FeeRules, FeeType};
use bursar_domain::Fen;
use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FeeItemRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub department_id: String,
    pub fee_type: String,
    pub status: String,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: i64,
    pub min_partial_fen: i64,
}

/// The fee rules from a fee item's stored columns. An unknown status reads as stopped: a corrupt
/// row can never make an item payable.
fn rules_from(
    fee_type: &str,
    status: &str,
    window: (Option<i64>, Option<i64>),
    partial_allowed: i64,
    min_partial_fen: i64,
) -> FeeRules {
    FeeRules {
        fee_type: FeeType::parse(fee_type).unwrap_or(FeeType::Other),
        status: FeeItemStatus::parse(status).unwrap_or(FeeItemStatus::Stopped),
        window_start_ms: window.0,
        window_end_ms: window.1,
        partial_allowed: partial_allowed != 0,
        min_partial: Fen(min_partial_fen),
    }
}

impl FeeItemRow {
    pub fn rules(&self) -> FeeRules {
        rules_from(
            &self.fee_type,
            &self.status,
            (self.window_start_ms, self.window_end_ms),
            self.partial_allowed,
            self.min_partial_fen,
        )
    }
}

/// A receivable with its fee item's facts, as the portal and the engine need them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReceivableView {
    pub id: String,
    pub payer_id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    pub due_fen: i64,
    pub waived_fen: i64,
    pub paid_fen: i64,
    pub state: String,
    pub item_code: String,
    pub item_name: String,
    pub department_id: String,
    pub fee_type: String,
    pub status: String,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: i64,
    pub min_partial_fen: i64,
}

impl ReceivableView {
    pub fn outstanding(&self) -> Fen {
        bursar_domain::fee::outstanding(Fen(self.due_fen), Fen(self.waived_fen), Fen(self.paid_fen))
    }
    pub fn rules(&self) -> FeeRules {
        rules_from(
            &self.fee_type,
            &self.status,
            (self.window_start_ms, self.window_end_ms),
            self.partial_allowed,
            self.min_partial_fen,
        )
    }
}

const VIEW_SELECT: &str = "SELECT r.id, r.payer_id, r.fee_item_id, r.academic_year, r.due_fen, r.waived_fen, r.paid_fen, r.state,
        f.code AS item_code, f.name AS item_name, f.department_id, f.fee_type, f.status, f.window_start_ms, f.window_end_ms,
        f.partial_allowed, f.min_partial_fen
   FROM receivables r JOIN fee_items f ON f.id = r.fee_item_id";

#[derive(Clone, Debug)]
pub struct NewFeeItem<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub department_id: &'a str,
    pub fee_type: FeeType,
    pub status: FeeItemStatus,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: bool,
    pub min_partial: Fen,
}

pub async fn insert_fee_item(
    c: &mut AnyConnection,
    id: &str,
    f: &NewFeeItem<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO fee_items (id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms, partial_allowed, min_partial_fen, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(f.code)
    .bind(f.name)
    .bind(f.department_id)
    .bind(f.fee_type.as_str())
    .bind(f.status.as_str())
    .bind(f.window_start_ms)
    .bind(f.window_end_ms)
    .bind(i64::from(f.partial_allowed))
    .bind(f.min_partial.get())
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn fee_items(c: &mut AnyConnection) -> Result<Vec<FeeItemRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms, partial_allowed, min_partial_fen FROM fee_items ORDER BY fee_type DESC, code",
    )
    .fetch_all(c)
    .await?)
}

pub async fn set_fee_item_status(c: &mut AnyConnection, id: &str, status: FeeItemStatus) -> Result<(), StoreError> {
    sqlx::query("UPDATE fee_items SET status = $1 WHERE id = $2").bind(status.as_str()).bind(id).execute(c).await?;
    Ok(())
}

/// Inserts a receivable row (the caller posts the matching ledger entry in the same transaction).
pub async fn insert_receivable(
    c: &mut AnyConnection,
    id: &str,
    payer_id: &str,
    fee_item_id: &str,
    academic_year: &str,
    due: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO receivables (id, payer_id, fee_item_id, academic_year, due_fen, waived_fen, paid_fen, state, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, 0, 0, 'open', $6, $6)",
    )
    .bind(id)
    .bind(payer_id)
    .bind(fee_item_id)
    .bind(academic_year)
    .bind(due.get())
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn receivable(c: &mut AnyConnection, id: &str) -> Result<ReceivableView, StoreError> {
    sqlx::query_as(&format!("{VIEW_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("receivable {id}")))
}

/// All of a payer's receivables, newest academic year first, tuition before other fees.
pub async fn for_payer(c: &mut AnyConnection, payer_id: &str) -> Result<Vec<ReceivableView>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{VIEW_SELECT} WHERE r.payer_id = $1 ORDER BY r.academic_year DESC, f.fee_type DESC, f.code"
    ))
    .bind(payer_id)
    .fetch_all(c)
    .await?)
}

/// Credits `amount` to a receivable as a compare-and-set on the paid amount the caller read.
pub async fn add_paid(
    c: &mut AnyConnection,
    id: &str,
    expected_paid: Fen,
    amount: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    reduce_outstanding(c, Reduction::Paid, id, expected_paid, amount, now_ms).await
}

/// What reduces what a receivable still owes: money paid, or an amount waived.
#[derive(Clone, Copy)]
enum Reduction {
    Paid,
    Waived,
}

/// Adds `amount` to the paid or waived column, never beyond what is owed, as a compare-and-set
/// on the value the caller read; the receivable settles when nothing is left.
async fn reduce_outstanding(
    c: &mut AnyConnection,
    by: Reduction,
    id: &str,
    expected: Fen,
    amount: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (column, doing) = match by {
        Reduction::Paid => ("paid_fen", "crediting"),
        Reduction::Waived => ("waived_fen", "waiving"),
    };
    let r = sqlx::query(&format!(
        "UPDATE receivables SET {column} = {column} + $1,
                state = CASE WHEN due_fen - waived_fen - paid_fen - $1 = 0 THEN 'settled' ELSE 'open' END,
                updated_at_ms = $2
          WHERE id = $3 AND {column} = $4 AND due_fen - waived_fen - paid_fen >= $1"
    ))
    .bind(amount.get())
    .bind(now_ms)
    .bind(id)
    .bind(expected.get())
    .execute(c)
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("receivable {id} changed while {doing}")));
    }
    Ok(())
}

/// The payer's receivable for a fee item and academic year, if any (there is at most one).
pub async fn find(
    c: &mut AnyConnection,
    payer_id: &str,
    fee_item_id: &str,
    academic_year: &str,
) -> Result<Option<ReceivableView>, StoreError> {
    Ok(sqlx::query_as(&format!("{VIEW_SELECT} WHERE r.payer_id = $1 AND r.fee_item_id = $2 AND r.academic_year = $3"))
        .bind(payer_id)
        .bind(fee_item_id)
        .bind(academic_year)
        .fetch_optional(c)
        .await?)
}

/// Raises more on an existing receivable (another business order for the same item and year):
/// compare-and-set on the due amount the caller read.
pub async fn increase_due(
    c: &mut AnyConnection,
    id: &str,
    expected_due: Fen,
    amount: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    let r = sqlx::query("UPDATE receivables SET due_fen = due_fen + $1, state = 'open', updated_at_ms = $2 WHERE id = $3 AND due_fen = $4")
        .bind(amount.get())
        .bind(now_ms)
        .bind(id)
        .bind(expected_due.get())
        .execute(c)
        .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("receivable {id} changed while raising")));
    }
    Ok(())
}

/// Waives what is still owed (a cancelled business order): compare-and-set on the waived amount.
pub async fn waive_outstanding(
    c: &mut AnyConnection,
    id: &str,
    expected_waived: Fen,
    amount: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    reduce_outstanding(c, Reduction::Waived, id, expected_waived, amount, now_ms).await
}

/// Takes `amount` of a receivable's paid money back for a refund, as a compare-and-set on the
/// paid amount the caller read. Paid in error (`cancel_due` false): the receivable reopens by
/// `amount`. Fee cancelled (`cancel_due` true): due and paid both drop, what is owed is unchanged.
pub async fn take_back_paid(
    c: &mut AnyConnection,
    id: &str,
    expected_paid: Fen,
    amount: Fen,
    cancel_due: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE receivables SET paid_fen = paid_fen - $1, due_fen = due_fen - $1 * $5,
                state = CASE WHEN due_fen - waived_fen - paid_fen + $1 * (1 - $5) = 0 THEN 'settled' ELSE 'open' END,
                updated_at_ms = $2
          WHERE id = $3 AND paid_fen = $4 AND paid_fen >= $1",
    )
    .bind(amount.get())
    .bind(now_ms)
    .bind(id)
    .bind(expected_paid.get())
    .bind(i64::from(cancel_due))
    .execute(c)
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("receivable {id} changed while refunding")));
    }
    Ok(())
}

/// Per fee item: how much is due (net of waivers) and how much has been collected.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CollectionRow {
    pub fee_item_id: String,
    pub code: String,
    pub name: String,
    pub fee_type: String,
    pub status: String,
    pub receivables: i64,
    pub settled: i64,
    pub due_fen: i64,
    pub paid_fen: i64,
}

pub async fn collection_by_item(c: &mut AnyConnection) -> Result<Vec<CollectionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT f.id AS fee_item_id, f.code, f.name, f.fee_type, f.status,
                COUNT(r.id) AS receivables,
                CAST(COALESCE(SUM(CASE WHEN r.state = 'settled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS settled,
                CAST(COALESCE(SUM(r.due_fen - r.waived_fen), 0) AS BIGINT) AS due_fen,
                CAST(COALESCE(SUM(r.paid_fen), 0) AS BIGINT) AS paid_fen
           FROM fee_items f LEFT JOIN receivables r ON r.fee_item_id = f.id
          GROUP BY f.id, f.code, f.name, f.fee_type, f.status
          ORDER BY f.fee_type DESC, f.code",
    )
    .fetch_all(c)
    .await?)
}
