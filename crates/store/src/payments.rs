//! Orders, their lines, and payments.

use bursar_domain::order::OrderState;
use bursar_domain::payment::PaymentState;
use bursar_domain::Fen;
use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub payer_id: String,
    pub state: String,
    pub total_fen: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderLineView {
    pub receivable_id: String,
    pub amount_fen: i64,
    pub item_name: String,
    pub academic_year: String,
    pub fee_type: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub payer_id: String,
    pub method: String,
    pub channel: String,
    pub merchant_id: String,
    pub merchant_order_no: String,
    pub amount_fen: i64,
    pub state: String,
    pub channel_txn_id: Option<String>,
    pub code_url: Option<String>,
    /// JSON of what the payer's browser does next (see the channels crate's `PayAction`).
    pub pay_action: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub succeeded_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    pub next_query_at_ms: Option<i64>,
    pub query_count: i64,
}

impl PaymentRow {
    pub fn state(&self) -> PaymentState {
        // Rows are only ever written from PaymentState::as_str; an unknown code is a corrupt row,
        // which verify reports; treat it as not paid.
        PaymentState::parse(&self.state).unwrap_or(PaymentState::Failed)
    }
}

const PAYMENT_COLS: &str = "id, order_id, payer_id, method, channel, merchant_id, merchant_order_no, amount_fen, state, channel_txn_id, code_url, pay_action, failure_reason, created_at_ms, expires_at_ms, succeeded_at_ms, updated_at_ms, next_query_at_ms, query_count";

pub async fn insert_order(
    c: &mut AnyConnection,
    id: &str,
    payer_id: &str,
    total: Fen,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO orders (id, payer_id, state, total_fen, created_at_ms, updated_at_ms) VALUES ($1, $2, 'open', $3, $4, $4)")
        .bind(id)
        .bind(payer_id)
        .bind(total.get())
        .bind(now_ms)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn insert_order_line(
    c: &mut AnyConnection,
    order_id: &str,
    receivable_id: &str,
    amount: Fen,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO order_lines (order_id, receivable_id, amount_fen) VALUES ($1, $2, $3)")
        .bind(order_id)
        .bind(receivable_id)
        .bind(amount.get())
        .execute(c)
        .await?;
    Ok(())
}

pub async fn order(c: &mut AnyConnection, id: &str) -> Result<OrderRow, StoreError> {
    sqlx::query_as("SELECT id, payer_id, state, total_fen, created_at_ms, updated_at_ms FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("order {id}")))
}

pub async fn order_lines(c: &mut AnyConnection, order_id: &str) -> Result<Vec<OrderLineView>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.receivable_id, l.amount_fen, f.name AS item_name, r.academic_year, f.fee_type
           FROM order_lines l JOIN receivables r ON r.id = l.receivable_id JOIN fee_items f ON f.id = r.fee_item_id
          WHERE l.order_id = $1 ORDER BY f.fee_type DESC, f.code",
    )
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

/// Order state change as a compare-and-set.
pub async fn transition_order(
    c: &mut AnyConnection,
    id: &str,
    from: OrderState,
    to: OrderState,
    now_ms: i64,
) -> Result<(), StoreError> {
    if !from.can_become(to) {
        return Err(bursar_domain::DomainError::IllegalTransition {
            machine: "order",
            from: from.as_str().into(),
            to: to.as_str().into(),
        }
        .into());
    }
    crate::db::cas_state(c, "orders", id, from.as_str(), to.as_str(), now_ms).await
}

pub struct NewPayment<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub payer_id: &'a str,
    pub method: &'a str,
    pub channel: &'a str,
    pub merchant_id: &'a str,
    pub merchant_order_no: &'a str,
    pub amount: Fen,
    pub expires_at_ms: i64,
}

pub async fn insert_payment(c: &mut AnyConnection, p: &NewPayment<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payments (id, order_id, payer_id, method, channel, merchant_id, merchant_order_no, amount_fen, state, created_at_ms, expires_at_ms, updated_at_ms, query_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10, $9, 0)",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.payer_id)
    .bind(p.method)
    .bind(p.channel)
    .bind(p.merchant_id)
    .bind(p.merchant_order_no)
    .bind(p.amount.get())
    .bind(now_ms)
    .bind(p.expires_at_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn payment(c: &mut AnyConnection, id: &str) -> Result<PaymentRow, StoreError> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payment {id}")))
}

pub async fn payment_by_merchant_order_no(c: &mut AnyConnection, no: &str) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE merchant_order_no = $1"))
        .bind(no)
        .fetch_optional(c)
        .await?)
}

pub async fn payments_of_order(c: &mut AnyConnection, order_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE order_id = $1 ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

pub async fn payments_of_payer(c: &mut AnyConnection, payer_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE payer_id = $1 ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(payer_id)
    .fetch_all(c)
    .await?)
}

/// The newest payments, optionally of one state, for the finance view.
pub async fn recent_payments(
    c: &mut AnyConnection,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<PaymentRow>, StoreError> {
    let q = match state {
        Some(_) => format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        ),
        None => {
            format!("SELECT {PAYMENT_COLS} FROM payments WHERE $1 = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2")
        }
    };
    Ok(sqlx::query_as(&q).bind(state.unwrap_or("")).bind(limit).fetch_all(c).await?)
}

pub async fn count_in_state(c: &mut AnyConnection, state: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE state = $1").bind(state).fetch_one(c).await?)
}

/// Payments waiting on the channel whose next active query is due.
pub async fn due_for_query(c: &mut AnyConnection, now_ms: i64, limit: i64) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE state = 'paying' AND next_query_at_ms <= $1 ORDER BY next_query_at_ms LIMIT $2"
    ))
    .bind(now_ms)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Payment state change as a compare-and-set: succeeds only if the row is still in `from`.
pub async fn transition_payment(
    c: &mut AnyConnection,
    id: &str,
    from: PaymentState,
    to: PaymentState,
    now_ms: i64,
) -> Result<(), StoreError> {
    from.check_transition(to)?;
    crate::db::cas_state(c, "payments", id, from.as_str(), to.as_str(), now_ms).await
}

/// Records what the channel said when it accepted the payment (what the browser does next, and
/// the QR text for scan flows) and when to ask it.
pub async fn set_channel_accepted(
    c: &mut AnyConnection,
    id: &str,
    pay_action_json: &str,
    code_url: Option<&str>,
    next_query_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET pay_action = $1, code_url = $2, next_query_at_ms = $3 WHERE id = $4")
        .bind(pay_action_json)
        .bind(code_url)
        .bind(next_query_at_ms)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn set_succeeded_facts(
    c: &mut AnyConnection,
    id: &str,
    channel_txn_id: &str,
    succeeded_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET channel_txn_id = $1, succeeded_at_ms = $2, next_query_at_ms = NULL WHERE id = $3")
        .bind(channel_txn_id)
        .bind(succeeded_at_ms)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn set_failure(c: &mut AnyConnection, id: &str, reason: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET failure_reason = $1, next_query_at_ms = NULL WHERE id = $2")
        .bind(reason)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// After an active query that found nothing new: count it and schedule the next one.
pub async fn schedule_next_query(
    c: &mut AnyConnection,
    id: &str,
    next_query_at_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET query_count = query_count + 1, next_query_at_ms = $1 WHERE id = $2")
        .bind(next_query_at_ms)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
pub async fn record_channel_event(
    c: &mut AnyConnection,
    id: &str,
    channel: &str,
    kind: &str,
    merchant_order_no: Option<&str>,
    outcome: &str,
    reason: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO channel_events (id, channel, kind, merchant_order_no, outcome, reason, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(channel)
    .bind(kind)
    .bind(merchant_order_no)
    .bind(outcome)
    .bind(reason)
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChannelEventRow {
    pub channel: String,
    pub kind: String,
    pub merchant_order_no: Option<String>,
    pub outcome: String,
    pub reason: String,
    pub received_at_ms: i64,
}

pub async fn channel_events(c: &mut AnyConnection, limit: i64) -> Result<Vec<ChannelEventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT channel, kind, merchant_order_no, outcome, reason, received_at_ms FROM channel_events ORDER BY received_at_ms DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// The payment a channel knows by this transaction id (offline: the source reference).
pub async fn payment_by_channel_txn(
    c: &mut AnyConnection,
    channel: &str,
    channel_txn_id: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE channel = $1 AND channel_txn_id = $2"))
        .bind(channel)
        .bind(channel_txn_id)
        .fetch_optional(c)
        .await?)
}

/// Records an imported file of offline collections.
#[allow(clippy::too_many_arguments)]
pub async fn record_offline_import(
    c: &mut AnyConnection,
    id: &str,
    file_name: &str,
    sha256: &str,
    rows: i64,
    imported: i64,
    already: i64,
    operator_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO offline_imports (id, file_name, file_sha256, row_count, imported, already_imported, operator_id, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(file_name)
    .bind(sha256)
    .bind(rows)
    .bind(imported)
    .bind(already)
    .bind(operator_id)
    .bind(now_ms)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OfflineImportRow {
    pub id: String,
    pub file_name: String,
    pub row_count: i64,
    pub imported: i64,
    pub already_imported: i64,
    pub operator_id: String,
    pub created_at_ms: i64,
}

pub async fn offline_imports(c: &mut AnyConnection, limit: i64) -> Result<Vec<OfflineImportRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, file_name, row_count, imported, already_imported, operator_id, created_at_ms
           FROM offline_imports ORDER BY created_at_ms DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// How many of a payer's payments Bursar recovered by asking the channel (the page or the
/// notification had missed them).
pub async fn recovered_count(c: &mut AnyConnection, payer_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(DISTINCT p.id) FROM payments p JOIN channel_events e ON e.merchant_order_no = p.merchant_order_no
          WHERE p.payer_id = $1 AND e.outcome = 'credited' AND e.reason = 'recovered by active query'",
    )
    .bind(payer_id)
    .fetch_one(c)
    .await?)
}

/// A payer's open orders made in the portal (not business systems' API orders), newest first.
pub async fn open_portal_orders(c: &mut AnyConnection, payer_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT o.id FROM orders o WHERE o.payer_id = $1 AND o.state = 'open'
            AND NOT EXISTS (SELECT 1 FROM api_orders a WHERE a.order_id = o.id)
          ORDER BY o.created_at_ms DESC, o.id DESC LIMIT 20",
    )
    .bind(payer_id)
    .fetch_all(c)
    .await?)
}
