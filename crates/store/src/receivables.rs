//! Fee items and receivables.

use std::collections::HashMap;

use crate::bulk::{chunk_rows, values_sql};
use crate::db::{Conn, Tx};
use crate::error::is_unique_violation;
use bursar_domain::audience::{Audience, Profile, ReceiptKind};

use crate::item_profile::{self, ProfileCols};
use bursar_domain::fee::{FeeItemStatus, FeeRules, FeeType, ReceivableState};
use bursar_domain::Fen;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FeeItemRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub department_id: String,
    #[sqlx(try_from = "String")]
    pub fee_type: FeeType,
    #[sqlx(try_from = "String")]
    pub status: FeeItemStatus,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: i64,
    #[sqlx(try_from = "i64")]
    pub min_partial_fen: Fen,
    pub requested_by: String,
    pub request_note: String,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub decided_at_ms: Option<i64>,
    /// Whom it is for, its receipt, its notice and what payers are asked.
    #[sqlx(flatten)]
    pub profile_cols: ProfileCols,
}

/// The fee rules from a fee item's stored columns.
fn rules_from(
    fee_type: FeeType,
    status: FeeItemStatus,
    window: (Option<i64>, Option<i64>),
    partial_allowed: i64,
    min_partial: Fen,
) -> FeeRules {
    FeeRules {
        fee_type,
        status,
        window_start_ms: window.0,
        window_end_ms: window.1,
        partial_allowed: partial_allowed != 0,
        min_partial,
    }
}

impl FeeItemRow {
    /// Whom the item is for, its receipt, its notice and what payers are asked.
    pub fn profile(&self) -> Profile {
        self.profile_cols.profile()
    }
    /// What payers are asked when they pay it.
    pub fn fields(&self) -> Vec<bursar_domain::project::Field> {
        self.profile_cols.fields()
    }
    pub fn audience(&self) -> Audience {
        self.profile_cols.audience()
    }
    pub fn rules(&self) -> FeeRules {
        rules_from(
            self.fee_type,
            self.status,
            (self.window_start_ms, self.window_end_ms),
            self.partial_allowed,
            self.min_partial_fen,
        )
    }
}

const FEE_ITEM_COLS: &str = "id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms, partial_allowed, min_partial_fen, requested_by, request_note, decided_by, decision_comment, decided_at_ms, receipt_kind, payer_notice, audience_kinds, audience_departments, audience_majors, audience_grades, audience_classes, fields";

/// Orders fee items as payers and finance expect them: tuition, accommodation, then the rest.
pub(crate) const FEE_TYPE_ORDER: &str = "CASE f.fee_type WHEN 'tuition' THEN 0 WHEN 'accommodation' THEN 1 ELSE 2 END";

/// A receivable with its fee item's facts, as the portal and the engine need them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReceivableView {
    pub id: String,
    pub payer_id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    #[sqlx(try_from = "i64")]
    pub due_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub waived_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub paid_fen: Fen,
    #[sqlx(try_from = "String")]
    pub state: ReceivableState,
    pub item_code: String,
    pub item_name: String,
    pub department_id: String,
    #[sqlx(try_from = "String")]
    pub fee_type: FeeType,
    #[sqlx(try_from = "String")]
    pub status: FeeItemStatus,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub partial_allowed: i64,
    #[sqlx(try_from = "i64")]
    pub min_partial_fen: Fen,
    /// An approved deferral (缓缴): not owed before this moment, and why.
    pub deferred_until_ms: Option<i64>,
    pub deferral_kind: Option<String>,
    /// The receipt its item needs and what payers read before paying (缴费须知).
    #[sqlx(try_from = "String")]
    pub receipt_kind: ReceiptKind,
    pub payer_notice: String,
    /// The item's field lines (what payers are asked when paying it).
    pub item_fields: String,
    /// 备注 from the import that raised it.
    pub note: String,
}

impl ReceivableView {
    /// What the payer is asked when paying it.
    pub fn fields(&self) -> Vec<bursar_domain::project::Field> {
        bursar_domain::project::parse_field_lines(&self.item_fields).unwrap_or_default()
    }
    pub fn outstanding(&self) -> Fen {
        bursar_domain::fee::outstanding(self.due_fen, self.waived_fen, self.paid_fen)
    }
    pub fn rules(&self) -> FeeRules {
        rules_from(
            self.fee_type,
            self.status,
            (self.window_start_ms, self.window_end_ms),
            self.partial_allowed,
            self.min_partial_fen,
        )
    }
}

const VIEW_SELECT: &str = "SELECT r.id, r.payer_id, r.fee_item_id, r.academic_year, r.due_fen, r.waived_fen, r.paid_fen, r.state,
        f.code AS item_code, f.name AS item_name, f.department_id, f.fee_type, f.status, f.window_start_ms, f.window_end_ms,
        f.partial_allowed, f.min_partial_fen, r.deferred_until_ms, r.deferral_kind, f.receipt_kind, f.payer_notice,
        f.fields AS item_fields, r.note
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
    /// Who applied for it (an actor reference) and why.
    pub requested_by: &'a str,
    pub request_note: &'a str,
    pub profile: &'a Profile,
}

pub async fn insert_fee_item(c: &mut Tx, id: &str, f: &NewFeeItem<'_>, now_ms: i64) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO fee_items (id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms, partial_allowed, min_partial_fen, created_at_ms, requested_by, request_note, {})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        item_profile::COLS
    );
    let q = sqlx::query(&sql)
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
        .bind(f.requested_by)
        .bind(f.request_note);
    let r = item_profile::bind(q, f.profile).execute(c.raw()).await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if crate::error::is_unique_violation(&e) => {
            Err(StoreError::Duplicate(format!("fee item code {} exists", f.code)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn fee_items(c: &mut impl Conn) -> Result<Vec<FeeItemRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {FEE_ITEM_COLS} FROM fee_items f ORDER BY {FEE_TYPE_ORDER}, code"))
        .fetch_all(c.raw())
        .await?)
}

pub async fn fee_item(c: &mut impl Conn, id: &str) -> Result<FeeItemRow, StoreError> {
    sqlx::query_as(&format!("SELECT {FEE_ITEM_COLS} FROM fee_items WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("fee item {id}")))
}

pub async fn fee_item_by_code(c: &mut impl Conn, code: &str) -> Result<Option<FeeItemRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {FEE_ITEM_COLS} FROM fee_items WHERE code = $1"))
        .bind(code)
        .fetch_optional(c.raw())
        .await?)
}

/// A fee item's status change as a compare-and-set on the status the caller read.
pub async fn set_fee_item_status(
    c: &mut Tx,
    id: &str,
    from: FeeItemStatus,
    to: FeeItemStatus,
) -> Result<(), StoreError> {
    if !from.can_become(to) {
        return Err(bursar_domain::DomainError::IllegalTransition {
            machine: "fee_item",
            from: from.as_str().into(),
            to: to.as_str().into(),
        }
        .into());
    }
    let r = sqlx::query("UPDATE fee_items SET status = $1 WHERE id = $2 AND status = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(c.raw())
        .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("fee item {id} is no longer {}", from.as_str())));
    }
    Ok(())
}

/// Records finance's decision on a fee item (with the status change, in the same transaction).
pub async fn set_fee_item_decision(c: &mut Tx, id: &str, decided_by: &str, comment: &str) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query("UPDATE fee_items SET decided_by = $1, decision_comment = $2, decided_at_ms = $3 WHERE id = $4")
        .bind(decided_by)
        .bind(comment)
        .bind(now)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Writes a rejected application's new terms and sends it back for review (compare-and-set on
/// `rejected`; the code stays; the last decision is cleared, the log keeps it). False when the
/// item was no longer rejected.
pub async fn resubmit_fee_item(c: &mut Tx, id: &str, f: &NewFeeItem<'_>) -> Result<bool, StoreError> {
    let q = sqlx::query(
        "UPDATE fee_items SET receipt_kind = $1, payer_notice = $2, audience_kinds = $3, audience_departments = $4,
                audience_majors = $5, audience_grades = $6, audience_classes = $7, fields = $8,
                name = $9, fee_type = $10, window_start_ms = $11, window_end_ms = $12, partial_allowed = $13,
                min_partial_fen = $14, requested_by = $15, request_note = $16, status = 'pending_approval',
                decided_by = NULL, decision_comment = NULL, decided_at_ms = NULL
          WHERE id = $17 AND status = 'rejected'",
    );
    let r = item_profile::bind(q, f.profile)
        .bind(f.name)
        .bind(f.fee_type.as_str())
        .bind(f.window_start_ms)
        .bind(f.window_end_ms)
        .bind(i64::from(f.partial_allowed))
        .bind(f.min_partial.get())
        .bind(f.requested_by)
        .bind(f.request_note)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Inserts a receivable row (the caller posts the matching ledger entry in the same transaction).
pub async fn insert_receivable(
    c: &mut Tx,
    id: &str,
    payer_id: &str,
    fee_item_id: &str,
    academic_year: &str,
    due: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO receivables (id, payer_id, fee_item_id, academic_year, due_fen, waived_fen, paid_fen, state, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, 0, 0, CASE WHEN $5 = 0 THEN 'settled' ELSE 'open' END, $6, $6)",
    )
    .bind(id)
    .bind(payer_id)
    .bind(fee_item_id)
    .bind(academic_year)
    .bind(due.get())
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// A receivable to insert in bulk.
pub struct NewReceivable<'a> {
    pub id: &'a str,
    pub payer_id: &'a str,
    pub fee_item_id: &'a str,
    pub academic_year: &'a str,
    pub due: Fen,
    /// 备注 (empty: none).
    pub note: &'a str,
}

/// Inserts many new (open) receivables with multi-row inserts. One already raised for the same
/// payer, item and year fails the whole call with `Conflict` (the unique key; the engine runs the
/// command again), so callers leave those they know of out first.
pub async fn insert_receivables(c: &mut Tx, rows: &[NewReceivable<'_>]) -> Result<(), StoreError> {
    let backend = c.backend();
    let now = c.now_ms;
    for chunk in rows.chunks(chunk_rows(11)) {
        let sql = values_sql(
            backend,
            "INSERT INTO receivables (id, payer_id, fee_item_id, academic_year, due_fen, waived_fen, paid_fen, state, created_at_ms, updated_at_ms, note)",
            11,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            if !r.due.is_positive() {
                return Err(StoreError::Domain(bursar_domain::DomainError::NonPositiveAmount));
            }
            q = q.bind(r.id).bind(r.payer_id).bind(r.fee_item_id).bind(r.academic_year).bind(r.due.get());
            q = q.bind(0i64).bind(0i64).bind(ReceivableState::Open.as_str()).bind(now).bind(now).bind(r.note);
        }
        q.execute(c.raw()).await.map_err(|e| match is_unique_violation(&e) {
            // Raised meanwhile by another transaction: the command runs again from a fresh read.
            true => StoreError::Conflict("a receivable of this batch was raised meanwhile".into()),
            false => e.into(),
        })?;
    }
    Ok(())
}

/// Who already owes a fee item for a year: payer id → (receivable id, due).
pub type RaisedFor = HashMap<String, (String, Fen)>;

/// Who already owes a fee item for a year.
pub async fn raised_for(c: &mut impl Conn, fee_item_id: &str, academic_year: &str) -> Result<RaisedFor, StoreError> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT payer_id, id, due_fen FROM receivables WHERE fee_item_id = $1 AND academic_year = $2")
            .bind(fee_item_id)
            .bind(academic_year)
            .fetch_all(c.raw())
            .await?;
    Ok(rows.into_iter().map(|(p, id, due)| (p, (id, Fen(due)))).collect())
}

pub async fn receivable(c: &mut impl Conn, id: &str) -> Result<ReceivableView, StoreError> {
    sqlx::query_as(&format!("{VIEW_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("receivable {id}")))
}

/// All of a payer's receivables, newest academic year first, tuition before other fees.
pub async fn for_payer(c: &mut impl Conn, payer_id: &str) -> Result<Vec<ReceivableView>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{VIEW_SELECT} WHERE r.payer_id = $1 ORDER BY r.academic_year DESC, {FEE_TYPE_ORDER}, f.code"
    ))
    .bind(payer_id)
    .fetch_all(c.raw())
    .await?)
}

/// Credits `amount` to a receivable as a compare-and-set on the paid amount the caller read.
pub async fn add_paid(c: &mut Tx, id: &str, expected_paid: Fen, amount: Fen, now_ms: i64) -> Result<(), StoreError> {
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
    c: &mut Tx,
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
    .execute(c.raw())
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("receivable {id} changed while {doing}")));
    }
    Ok(())
}

/// The payer's receivable for a fee item and academic year, if any (there is at most one).
pub async fn find(
    c: &mut impl Conn,
    payer_id: &str,
    fee_item_id: &str,
    academic_year: &str,
) -> Result<Option<ReceivableView>, StoreError> {
    Ok(sqlx::query_as(&format!("{VIEW_SELECT} WHERE r.payer_id = $1 AND r.fee_item_id = $2 AND r.academic_year = $3"))
        .bind(payer_id)
        .bind(fee_item_id)
        .bind(academic_year)
        .fetch_optional(c.raw())
        .await?)
}

/// Waives what is still owed (a cancelled business order): compare-and-set on the waived amount.
pub async fn waive_outstanding(
    c: &mut Tx,
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
    c: &mut Tx,
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
    .execute(c.raw())
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
    pub department_id: String,
    #[sqlx(try_from = "String")]
    pub fee_type: FeeType,
    #[sqlx(try_from = "String")]
    pub status: FeeItemStatus,
    pub receivables: i64,
    pub settled: i64,
    #[sqlx(try_from = "i64")]
    pub due_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub paid_fen: Fen,
    /// Of what is still owed, the part under an approved deferral that has not run out.
    #[sqlx(try_from = "i64")]
    pub deferred_fen: Fen,
}

/// The collection per fee item, from the totals the triggers keep (migration 0017) and the few
/// receivables under a deferral: a handful of rows per item, however many receivables there are.
/// (The inner `ORDER BY` steers SQLite to the partial index of deferrals; grouping directly would
/// have it walk every receivable in fee-item order.)
pub async fn collection_by_item(c: &mut impl Conn, now_ms: i64) -> Result<Vec<CollectionRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT f.id AS fee_item_id, f.code, f.name, f.department_id, f.fee_type, f.status,
                CAST(COALESCE(t.receivables, 0) AS BIGINT) AS receivables,
                CAST(COALESCE(t.settled, 0) AS BIGINT) AS settled,
                CAST(COALESCE(t.due_fen, 0) AS BIGINT) AS due_fen,
                CAST(COALESCE(t.paid_fen, 0) AS BIGINT) AS paid_fen,
                CAST(COALESCE(d.deferred_fen, 0) AS BIGINT) AS deferred_fen
           FROM fee_items f
           LEFT JOIN (SELECT fee_item_id, SUM(receivables) AS receivables, SUM(settled) AS settled,
                             SUM(due_fen - waived_fen) AS due_fen, SUM(paid_fen) AS paid_fen
                        FROM receivable_totals GROUP BY fee_item_id) t ON t.fee_item_id = f.id
           LEFT JOIN (SELECT fee_item_id, SUM(due_fen - waived_fen - paid_fen) AS deferred_fen
                        FROM (SELECT fee_item_id, due_fen, waived_fen, paid_fen FROM receivables
                               WHERE deferred_until_ms > $1 AND state = 'open' ORDER BY deferred_until_ms) dr
                       GROUP BY fee_item_id) d ON d.fee_item_id = f.id
          ORDER BY {FEE_TYPE_ORDER}, f.code"
    ))
    .bind(now_ms)
    .fetch_all(c.raw())
    .await?)
}

/// (fee item, receivables, settled, due, waived, paid).
pub type ItemTotals = (String, i64, i64, i64, i64, i64);

/// The same figures summed from the receivables themselves (`verify` compares the two).
pub async fn collection_from_receivables(
    c: &mut impl Conn,
) -> Result<Vec<(String, i64, i64, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fee_item_id, COUNT(*), CAST(SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(due_fen) AS BIGINT), CAST(SUM(waived_fen) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT)
           FROM receivables GROUP BY fee_item_id ORDER BY fee_item_id",
    )
    .fetch_all(c.raw())
    .await?)
}

/// The totals the triggers keep, per fee item (items with none left out).
pub async fn collection_totals(c: &mut impl Conn) -> Result<Vec<ItemTotals>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fee_item_id, CAST(SUM(receivables) AS BIGINT), CAST(SUM(settled) AS BIGINT), CAST(SUM(due_fen) AS BIGINT),
                CAST(SUM(waived_fen) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT)
           FROM receivable_totals GROUP BY fee_item_id HAVING SUM(receivables) <> 0 OR SUM(due_fen) <> 0 ORDER BY fee_item_id",
    )
    .fetch_all(c.raw())
    .await?)
}

/// Sets an approved deferral on a receivable that still owes something; false when it owes
/// nothing by now.
pub async fn defer(c: &mut Tx, id: &str, until_ms: i64, kind: &str) -> Result<bool, StoreError> {
    let now = c.now_ms;
    let r = sqlx::query(
        "UPDATE receivables SET deferred_until_ms = $1, deferral_kind = $2, updated_at_ms = $3 WHERE id = $4 AND state = 'open'",
    )
    .bind(until_ms)
    .bind(kind)
    .bind(now)
    .bind(id)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A receivable's answers to its fee item's fields (JSON of name → answer), if any.
pub async fn answers(c: &mut impl Conn, receivable_id: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT answers FROM receivable_answers WHERE receivable_id = $1")
        .bind(receivable_id)
        .fetch_optional(c.raw())
        .await?)
}

/// Keeps a receivable's latest answers.
pub async fn set_answers(c: &mut Tx, receivable_id: &str, answers_json: &str) -> Result<(), StoreError> {
    let now = c.now_ms;
    sqlx::query(
        "INSERT INTO receivable_answers (receivable_id, answers, updated_at_ms) VALUES ($1, $2, $3)
         ON CONFLICT (receivable_id) DO UPDATE SET answers = excluded.answers, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(receivable_id)
    .bind(answers_json)
    .bind(now)
    .execute(c.raw())
    .await?;
    Ok(())
}

/// One payer's answers to an item's fields, for finance's export.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AnswerRow {
    pub identifier: String,
    pub name: String,
    pub academic_year: String,
    pub answers: String,
    pub updated_at_ms: i64,
}

/// Every answer given for an item's receivables, by payer number (at most `limit`).
pub async fn answers_of_item(c: &mut impl Conn, fee_item_id: &str, limit: i64) -> Result<Vec<AnswerRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.identifier, p.name, r.academic_year, a.answers, a.updated_at_ms
           FROM receivable_answers a JOIN receivables r ON r.id = a.receivable_id JOIN payers p ON p.id = r.payer_id
          WHERE r.fee_item_id = $1 ORDER BY p.identifier, r.academic_year LIMIT $2",
    )
    .bind(fee_item_id)
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}
