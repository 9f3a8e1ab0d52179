//! Orders, their lines, and payments.

use crate::db::{Conn, Tx};
use bursar_domain::fee::FeeType;
use bursar_domain::order::OrderState;
use bursar_domain::payment::{ChannelKind, EventKind, EventOutcome, PayMethod, PaymentState};
use bursar_domain::Fen;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub payer_id: String,
    #[sqlx(try_from = "String")]
    pub state: OrderState,
    #[sqlx(try_from = "i64")]
    pub total_fen: Fen,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderLineView {
    pub receivable_id: String,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
    #[sqlx(try_from = "i64")]
    pub raised_fen: Fen,
    pub item_name: String,
    pub academic_year: String,
    #[sqlx(try_from = "String")]
    pub fee_type: FeeType,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub payer_id: String,
    #[sqlx(try_from = "String")]
    pub method: PayMethod,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub merchant_id: String,
    pub merchant_order_no: String,
    #[sqlx(try_from = "i64")]
    pub amount_fen: Fen,
    #[sqlx(try_from = "String")]
    pub state: PaymentState,
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
    /// The operator who took it (counter, import), if one did.
    pub collected_by: Option<String>,
}

const PAYMENT_COLS: &str = "id, order_id, payer_id, method, channel, merchant_id, merchant_order_no, amount_fen, state, channel_txn_id, code_url, pay_action, failure_reason, created_at_ms, expires_at_ms, succeeded_at_ms, updated_at_ms, next_query_at_ms, query_count, collected_by";

pub async fn insert_order(c: &mut Tx, id: &str, payer_id: &str, total: Fen, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO orders (id, payer_id, state, total_fen, created_at_ms, updated_at_ms) VALUES ($1, $2, 'open', $3, $4, $4)")
        .bind(id)
        .bind(payer_id)
        .bind(total.get())
        .bind(now_ms)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// One line of an order: what it pays of a receivable, and what it raised there (a business
/// system's order; zero for the portal's orders of what is already owed).
pub async fn insert_order_line(
    c: &mut Tx,
    order_id: &str,
    receivable_id: &str,
    amount: Fen,
    raised: Fen,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO order_lines (order_id, receivable_id, amount_fen, raised_fen) VALUES ($1, $2, $3, $4)")
        .bind(order_id)
        .bind(receivable_id)
        .bind(amount.get())
        .bind(raised.get())
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn order(c: &mut impl Conn, id: &str) -> Result<OrderRow, StoreError> {
    sqlx::query_as("SELECT id, payer_id, state, total_fen, created_at_ms, updated_at_ms FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("order {id}")))
}

pub async fn order_lines(c: &mut impl Conn, order_id: &str) -> Result<Vec<OrderLineView>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT l.receivable_id, l.amount_fen, l.raised_fen, f.name AS item_name, r.academic_year, f.fee_type
           FROM order_lines l JOIN receivables r ON r.id = l.receivable_id JOIN fee_items f ON f.id = r.fee_item_id
          WHERE l.order_id = $1 ORDER BY {}, f.code",
        crate::receivables::FEE_TYPE_ORDER
    ))
    .bind(order_id)
    .fetch_all(c.raw())
    .await?)
}

/// Order state change as a compare-and-set.
pub async fn transition_order(
    c: &mut Tx,
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
    pub method: PayMethod,
    pub merchant_id: &'a str,
    pub merchant_order_no: &'a str,
    pub amount: Fen,
    pub expires_at_ms: i64,
    /// The operator who took it (counter, import); `None` for a payer's or a system's own.
    pub collected_by: Option<&'a str>,
}

/// Inserts a payment in state `created`. It takes its order's live slot: `Conflict` when
/// another payment of the order is still created or paying (one payment at a time).
pub async fn insert_payment(c: &mut Tx, p: &NewPayment<'_>, now_ms: i64) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO payments (id, order_id, payer_id, method, channel, merchant_id, merchant_order_no, amount_fen, state, created_at_ms, expires_at_ms, updated_at_ms, query_count, live_order_id, collected_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, 0, $2, $12)",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.payer_id)
    .bind(p.method.as_str())
    .bind(p.method.channel())
    .bind(p.merchant_id)
    .bind(p.merchant_order_no)
    .bind(p.amount.get())
    .bind(PaymentState::Created.as_str())
    .bind(now_ms)
    .bind(p.expires_at_ms)
    .bind(p.collected_by)
    .execute(c.raw())
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if crate::error::is_unique_violation(&e) => {
            Err(StoreError::Duplicate(format!("order {} already has a payment in progress", p.order_id)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The order's payment still waiting for the channel or the payer, if any.
pub async fn live_payment_of_order(c: &mut impl Conn, order_id: &str) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE live_order_id = $1"))
        .bind(order_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn payment(c: &mut impl Conn, id: &str) -> Result<PaymentRow, StoreError> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payment {id}")))
}

pub async fn payment_by_merchant_order_no(c: &mut impl Conn, no: &str) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE merchant_order_no = $1"))
        .bind(no)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn payments_of_order(c: &mut impl Conn, order_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE order_id = $1 ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(order_id)
    .fetch_all(c.raw())
    .await?)
}

pub async fn payments_of_payer(c: &mut impl Conn, payer_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE payer_id = $1 ORDER BY created_at_ms DESC, id DESC"
    ))
    .bind(payer_id)
    .fetch_all(c.raw())
    .await?)
}

/// The newest payments, optionally of one state, for the finance view.
pub async fn recent_payments(
    c: &mut impl Conn,
    state: Option<PaymentState>,
    limit: i64,
) -> Result<Vec<PaymentRow>, StoreError> {
    let state = state.map(PaymentState::as_str);
    let q = match state {
        Some(_) => format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        ),
        None => {
            format!("SELECT {PAYMENT_COLS} FROM payments WHERE $1 = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2")
        }
    };
    Ok(sqlx::query_as(&q).bind(state.unwrap_or("")).bind(limit).fetch_all(c.raw()).await?)
}

pub async fn count_in_state(c: &mut impl Conn, state: PaymentState) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE state = $1")
        .bind(state.as_str())
        .fetch_one(c.raw())
        .await?)
}

/// Payments waiting on the channel whose next active query is due.
pub async fn due_for_query(c: &mut impl Conn, now_ms: i64, limit: i64) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE state = $3 AND next_query_at_ms <= $1 ORDER BY next_query_at_ms LIMIT $2"
    ))
    .bind(now_ms)
    .bind(limit)
    .bind(PaymentState::Paying.as_str())
    .fetch_all(c.raw())
    .await?)
}

/// Payment state change as a compare-and-set: succeeds only if the row is still in `from`.
pub async fn transition_payment(
    c: &mut Tx,
    id: &str,
    from: PaymentState,
    to: PaymentState,
    now_ms: i64,
) -> Result<(), StoreError> {
    from.check_transition(to)?;
    // A payment that leaves the live states gives up its order's live slot.
    let r = sqlx::query(
        "UPDATE payments SET state = $1, updated_at_ms = $2, live_order_id = CASE WHEN $5 = 1 THEN live_order_id ELSE NULL END
          WHERE id = $3 AND state = $4",
    )
    .bind(to.as_str())
    .bind(now_ms)
    .bind(id)
    .bind(from.as_str())
    .bind(i64::from(to.is_live()))
    .execute(c.raw())
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("payments {id} is no longer {}", from.as_str())));
    }
    Ok(())
}

/// Records what the channel said when it accepted the payment (what the browser does next, and
/// the QR text for scan flows) and when to ask it.
pub async fn set_channel_accepted(
    c: &mut Tx,
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
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn set_succeeded_facts(
    c: &mut Tx,
    id: &str,
    channel_txn_id: &str,
    succeeded_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET channel_txn_id = $1, succeeded_at_ms = $2, next_query_at_ms = NULL WHERE id = $3")
        .bind(channel_txn_id)
        .bind(succeeded_at_ms)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn set_failure(c: &mut Tx, id: &str, reason: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET failure_reason = $1, next_query_at_ms = NULL WHERE id = $2")
        .bind(reason)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// After an active query that found nothing new: count it and schedule the next one.
pub async fn schedule_next_query(c: &mut Tx, id: &str, next_query_at_ms: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET query_count = query_count + 1, next_query_at_ms = $1 WHERE id = $2")
        .bind(next_query_at_ms)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// What a channel sent and what Bursar did with it.
pub struct NewChannelEvent<'a> {
    pub channel: &'a str,
    pub kind: EventKind,
    pub merchant_order_no: Option<&'a str>,
    pub outcome: EventOutcome,
    pub reason: &'a str,
}

pub async fn record_channel_event(c: &mut Tx, e: &NewChannelEvent<'_>) -> Result<(), StoreError> {
    let id = c.new_id();
    let now_ms = c.now_ms;
    sqlx::query(
        "INSERT INTO channel_events (id, channel, kind, merchant_order_no, outcome, reason, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(e.channel)
    .bind(e.kind.as_str())
    .bind(e.merchant_order_no)
    .bind(e.outcome.as_str())
    .bind(e.reason)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChannelEventRow {
    pub channel: String,
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    pub merchant_order_no: Option<String>,
    #[sqlx(try_from = "String")]
    pub outcome: EventOutcome,
    pub reason: String,
    pub received_at_ms: i64,
}

pub async fn channel_events(c: &mut impl Conn, limit: i64) -> Result<Vec<ChannelEventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT channel, kind, merchant_order_no, outcome, reason, received_at_ms FROM channel_events ORDER BY received_at_ms DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// The payment a channel knows by this transaction id (offline: the source reference).
pub async fn payment_by_channel_txn(
    c: &mut impl Conn,
    channel: ChannelKind,
    channel_txn_id: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE channel = $1 AND channel_txn_id = $2"))
        .bind(channel.as_str())
        .bind(channel_txn_id)
        .fetch_optional(c.raw())
        .await?)
}

/// Records an imported file of offline collections.
#[allow(clippy::too_many_arguments)]
pub async fn record_offline_import(
    c: &mut Tx,
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
    .execute(c.raw())
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

pub async fn offline_imports(c: &mut impl Conn, limit: i64) -> Result<Vec<OfflineImportRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, file_name, row_count, imported, already_imported, operator_id, created_at_ms
           FROM offline_imports ORDER BY created_at_ms DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// How many of a payer's payments Bursar recovered by asking the channel (the page or the
/// notification had missed them).
pub async fn recovered_count(c: &mut impl Conn, payer_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(DISTINCT p.id) FROM payments p JOIN channel_events e ON e.merchant_order_no = p.merchant_order_no
          WHERE p.payer_id = $1 AND e.kind = $2 AND e.outcome = $3",
    )
    .bind(payer_id)
    .bind(EventKind::ActiveQuery.as_str())
    .bind(EventOutcome::Credited.as_str())
    .fetch_one(c.raw())
    .await?)
}

/// A payer's open orders made in the portal (not business systems' API orders), newest first.
pub async fn open_portal_orders(c: &mut impl Conn, payer_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT o.id FROM orders o WHERE o.payer_id = $1 AND o.state = $2
            AND NOT EXISTS (SELECT 1 FROM api_orders a WHERE a.order_id = o.id)
          ORDER BY o.created_at_ms DESC, o.id DESC LIMIT 20",
    )
    .bind(payer_id)
    .bind(OrderState::Open.as_str())
    .fetch_all(c.raw())
    .await?)
}

/// A payment in finance's list, with its payer (one query, no look-up per row).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PaymentListRow {
    #[sqlx(flatten)]
    pub payment: PaymentRow,
    pub payer_identifier: String,
    pub payer_name: String,
}

/// What finance's payment list is limited to. Every field is optional.
#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub state: Option<PaymentState>,
    /// Payments of orders with a fee item of these departments (a department's reader).
    pub departments: Option<Vec<String>>,
    /// The payer's number (exact) or the start of their name.
    pub payer: Option<String>,
    /// Payments of orders with a line of this fee item.
    pub fee_item_id: Option<String>,
    /// Created in `[from_ms, to_ms)`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Older than this (created_at_ms, id): the next page.
    pub before: Option<(i64, String)>,
}

/// The newest payments matching the filter, with their payers, at most `limit` (one query).
pub async fn recent_payments_view(
    c: &mut impl Conn,
    f: &PaymentFilter,
    limit: i64,
) -> Result<Vec<PaymentListRow>, StoreError> {
    enum Bind {
        Text(String),
        Int(i64),
    }
    let mut binds: Vec<Bind> = Vec::new();
    let mut put = |b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let cols = PAYMENT_COLS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
    let mut sql = format!(
        "SELECT {cols}, y.identifier AS payer_identifier, y.name AS payer_name
           FROM payments p JOIN payers y ON y.id = p.payer_id WHERE 1 = 1"
    );
    if let Some(s) = f.state {
        sql.push_str(&format!(" AND p.state = {}", put(Bind::Text(s.as_str().into()))));
    }
    if let Some(depts) = &f.departments {
        let list: Vec<String> = depts.iter().map(|d| put(Bind::Text(d.clone()))).collect();
        let list = if list.is_empty() { "NULL".to_string() } else { list.join(", ") };
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM order_lines l JOIN receivables r ON r.id = l.receivable_id
                           JOIN fee_items f ON f.id = r.fee_item_id
                          WHERE l.order_id = p.order_id AND f.department_id IN ({list}))"
        ));
    }
    if let Some(who) = f.payer.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        // LIKE's own characters are taken out: a search is never a pattern.
        let clean: String = who.chars().filter(|ch| !matches!(ch, '%' | '_' | '\\')).take(40).collect();
        let exact = put(Bind::Text(clean.clone()));
        let prefix = put(Bind::Text(format!("{clean}%")));
        sql.push_str(&format!(" AND (y.identifier = {exact} OR y.name LIKE {prefix})"));
    }
    if let Some(item) = &f.fee_item_id {
        let i = put(Bind::Text(item.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM order_lines l JOIN receivables r ON r.id = l.receivable_id
                          WHERE l.order_id = p.order_id AND r.fee_item_id = {i})"
        ));
    }
    if let Some(from) = f.from_ms {
        sql.push_str(&format!(" AND p.created_at_ms >= {}", put(Bind::Int(from))));
    }
    if let Some(to) = f.to_ms {
        sql.push_str(&format!(" AND p.created_at_ms < {}", put(Bind::Int(to))));
    }
    if let Some((at, id)) = &f.before {
        let (at, id) = (put(Bind::Int(*at)), put(Bind::Text(id.clone())));
        sql.push_str(&format!(" AND (p.created_at_ms < {at} OR (p.created_at_ms = {at} AND p.id < {id}))"));
    }
    sql.push_str(&format!(" ORDER BY p.created_at_ms DESC, p.id DESC LIMIT {}", limit.clamp(1, 1000)));
    let mut q = sqlx::query_as::<_, PaymentListRow>(&sql);
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    Ok(q.fetch_all(c.raw()).await?)
}

/// The departments whose fee items an order's lines belong to.
pub async fn departments_of_order(c: &mut impl Conn, order_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT f.department_id FROM order_lines l JOIN receivables r ON r.id = l.receivable_id
           JOIN fee_items f ON f.id = r.fee_item_id WHERE l.order_id = $1",
    )
    .bind(order_id)
    .fetch_all(c.raw())
    .await?)
}
