//! Storage for the open API: applications, nonces, idempotency keys, API orders, pushed
//! receivables and webhook events with their deliveries.

use bursar_domain::api::{ApiAppState, WebhookState};

use crate::db::{Conn, Tx};

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AppRow {
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub sealed_secret: String,
    pub sealed_previous_secret: Option<String>,
    pub previous_valid_until_ms: Option<i64>,
    pub rsa_public_key_pem: Option<String>,
    pub notify_url: String,
    pub return_url: String,
    pub ip_allowlist: String,
    #[sqlx(try_from = "String")]
    pub state: ApiAppState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const APP_COLS: &str = "id, app_id, name, sealed_secret, sealed_previous_secret, previous_valid_until_ms, rsa_public_key_pem, notify_url, return_url, ip_allowlist, state, created_at_ms, updated_at_ms";

pub struct NewApp<'a> {
    pub id: &'a str,
    pub app_id: &'a str,
    pub name: &'a str,
    pub sealed_secret: &'a str,
    pub rsa_public_key_pem: Option<&'a str>,
    pub notify_url: &'a str,
    pub return_url: &'a str,
    pub ip_allowlist: &'a str,
}

pub async fn insert_app(c: &mut Tx, a: &NewApp<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_apps (id, app_id, name, sealed_secret, rsa_public_key_pem, notify_url, return_url, ip_allowlist, state, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)",
    )
    .bind(a.id)
    .bind(a.app_id)
    .bind(a.name)
    .bind(a.sealed_secret)
    .bind(a.rsa_public_key_pem)
    .bind(a.notify_url)
    .bind(a.return_url)
    .bind(a.ip_allowlist)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn app_by_app_id(c: &mut impl Conn, app_id: &str) -> Result<Option<AppRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {APP_COLS} FROM api_apps WHERE app_id = $1"))
        .bind(app_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn app(c: &mut impl Conn, id: &str) -> Result<AppRow, StoreError> {
    sqlx::query_as(&format!("SELECT {APP_COLS} FROM api_apps WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("app {id}")))
}

pub async fn apps(c: &mut impl Conn) -> Result<Vec<AppRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {APP_COLS} FROM api_apps ORDER BY created_at_ms")).fetch_all(c.raw()).await?)
}

/// Replaces the secret; the old one keeps working until `previous_valid_until_ms`.
pub async fn rotate_secret(
    c: &mut Tx,
    id: &str,
    new_sealed: &str,
    previous_sealed: &str,
    previous_valid_until_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_apps SET sealed_secret = $1, sealed_previous_secret = $2, previous_valid_until_ms = $3, updated_at_ms = $4 WHERE id = $5",
    )
    .bind(new_sealed)
    .bind(previous_sealed)
    .bind(previous_valid_until_ms)
    .bind(now_ms)
    .bind(id)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn allow_item(c: &mut Tx, app: &str, fee_item_id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_app_items (app_id, fee_item_id) VALUES ($1, $2) ON CONFLICT (app_id, fee_item_id) DO NOTHING",
    )
    .bind(app)
    .bind(fee_item_id)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn allowed_items(c: &mut impl Conn, app: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT fee_item_id FROM api_app_items WHERE app_id = $1")
        .bind(app)
        .fetch_all(c.raw())
        .await?)
}

/// Remembers a request nonce; false when it was seen before (a replay).
pub async fn remember_nonce(c: &mut Tx, app: &str, nonce: &str, now_ms: i64) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO api_nonces (app_id, nonce, seen_at_ms) VALUES ($1, $2, $3) ON CONFLICT (app_id, nonce) DO NOTHING",
    )
    .bind(app)
    .bind(nonce)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forgets nonces older than the clock window (a replay that old fails the timestamp check).
pub async fn prune_nonces(c: &mut Tx, older_than_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM api_nonces WHERE seen_at_ms < $1")
        .bind(older_than_ms)
        .execute(c.raw())
        .await?
        .rows_affected())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IdempotentRow {
    pub request_hash: String,
    pub status: i64,
    pub response: String,
    /// When the key was claimed (or last taken over): the start of its lease.
    pub created_at_ms: i64,
    /// What the request committed, recorded in that commit: `order` or `refund`, and its id.
    pub effect_kind: Option<String>,
    pub effect_id: Option<String>,
}

pub async fn idempotent(c: &mut impl Conn, app: &str, key: &str) -> Result<Option<IdempotentRow>, StoreError> {
    Ok(sqlx::query_as("SELECT request_hash, status, response, created_at_ms, effect_kind, effect_id FROM api_idempotency WHERE app_id = $1 AND idem_key = $2")
        .bind(app)
        .bind(key)
        .fetch_optional(c.raw())
        .await?)
}

/// Records the response to an idempotent request; false if another request stored one first.
pub async fn store_idempotent(
    c: &mut Tx,
    app: &str,
    key: &str,
    request_hash: &str,
    status: i64,
    response: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO api_idempotency (app_id, idem_key, request_hash, status, response, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (app_id, idem_key) DO NOTHING",
    )
    .bind(app)
    .bind(key)
    .bind(request_hash)
    .bind(status)
    .bind(response)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Stores the response of a request that was running under its key.
pub async fn finish_idempotent(
    c: &mut Tx,
    app: &str,
    key: &str,
    status: i64,
    response: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_idempotency SET status = $1, response = $2 WHERE app_id = $3 AND idem_key = $4")
        .bind(status)
        .bind(response)
        .bind(app)
        .bind(key)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Records, in the effect's own transaction, what a request under a key committed.
pub async fn record_effect(c: &mut Tx, app: &str, key: &str, kind: &str, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_idempotency SET effect_kind = $1, effect_id = $2 WHERE app_id = $3 AND idem_key = $4")
        .bind(kind)
        .bind(id)
        .bind(app)
        .bind(key)
        .execute(c.raw())
        .await?;
    Ok(())
}

/// Takes over a key whose lease ran out (compare-and-set on the lease it had); false when
/// another retry took it first or it finished meanwhile.
pub async fn retake_idempotent(
    c: &mut Tx,
    app: &str,
    key: &str,
    lease_from_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE api_idempotency SET created_at_ms = $1 WHERE app_id = $2 AND idem_key = $3 AND status = 0 AND created_at_ms = $4",
    )
    .bind(now_ms)
    .bind(app)
    .bind(key)
    .bind(lease_from_ms)
    .execute(c.raw())
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Releases a key whose request failed on Bursar's side (it may be retried).
pub async fn forget_idempotent(c: &mut Tx, app: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM api_idempotency WHERE app_id = $1 AND idem_key = $2")
        .bind(app)
        .bind(key)
        .execute(c.raw())
        .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiOrderRow {
    pub order_id: String,
    pub app_id: String,
    pub out_order_no: String,
    pub cashier_token: String,
    pub return_url: String,
    pub description: String,
    pub metadata: String,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
}

const ORDER_COLS: &str =
    "order_id, app_id, out_order_no, cashier_token, return_url, description, metadata, expires_at_ms, created_at_ms";

pub async fn insert_order(c: &mut Tx, o: &ApiOrderRow) -> Result<(), StoreError> {
    sqlx::query(&format!("INSERT INTO api_orders ({ORDER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
        .bind(&o.order_id)
        .bind(&o.app_id)
        .bind(&o.out_order_no)
        .bind(&o.cashier_token)
        .bind(&o.return_url)
        .bind(&o.description)
        .bind(&o.metadata)
        .bind(o.expires_at_ms)
        .bind(o.created_at_ms)
        .execute(c.raw())
        .await?;
    Ok(())
}

pub async fn order_of(c: &mut impl Conn, order_id: &str) -> Result<Option<ApiOrderRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM api_orders WHERE order_id = $1"))
        .bind(order_id)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn order_by_out_no(
    c: &mut impl Conn,
    app: &str,
    out_order_no: &str,
) -> Result<Option<ApiOrderRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM api_orders WHERE app_id = $1 AND out_order_no = $2"))
        .bind(app)
        .bind(out_order_no)
        .fetch_optional(c.raw())
        .await?)
}

pub async fn order_by_token(c: &mut impl Conn, token: &str) -> Result<Option<ApiOrderRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM api_orders WHERE cashier_token = $1"))
        .bind(token)
        .fetch_optional(c.raw())
        .await?)
}

/// An app's orders, newest first, after the cursor `starting_after` (an order id).
pub async fn orders_page(
    c: &mut impl Conn,
    app: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiOrderRow>, StoreError> {
    Ok(match starting_after {
        Some(after) => {
            sqlx::query_as(&format!(
            "SELECT {ORDER_COLS} FROM api_orders WHERE app_id = $1 AND order_id < $2 ORDER BY order_id DESC LIMIT $3"
        ))
            .bind(app)
            .bind(after)
            .bind(limit)
            .fetch_all(c.raw())
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {ORDER_COLS} FROM api_orders WHERE app_id = $1 ORDER BY order_id DESC LIMIT $2"
            ))
            .bind(app)
            .bind(limit)
            .fetch_all(c.raw())
            .await?
        }
    })
}

pub async fn receivable_ref(c: &mut impl Conn, app: &str, reference: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT receivable_id FROM api_receivable_refs WHERE app_id = $1 AND ref = $2")
        .bind(app)
        .bind(reference)
        .fetch_optional(c.raw())
        .await?)
}

/// Whether an application has dealt with a payer: an order for them, or a receivable it raised.
pub async fn app_knows_payer(c: &mut impl Conn, app: &str, payer_id: &str) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM api_orders a JOIN orders o ON o.id = a.order_id WHERE a.app_id = $1 AND o.payer_id = $2)
              + (SELECT COUNT(*) FROM api_receivable_refs x JOIN receivables r ON r.id = x.receivable_id WHERE x.app_id = $1 AND r.payer_id = $2)",
    )
    .bind(app)
    .bind(payer_id)
    .fetch_one(c.raw())
    .await?;
    Ok(n > 0)
}

pub async fn insert_receivable_ref(
    c: &mut Tx,
    app: &str,
    reference: &str,
    receivable_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_receivable_refs (app_id, ref, receivable_id) VALUES ($1, $2, $3)")
        .bind(app)
        .bind(reference)
        .bind(receivable_id)
        .execute(c.raw())
        .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub app_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub payload: String,
    #[sqlx(try_from = "String")]
    pub state: WebhookState,
    pub attempts: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

const EVENT_COLS: &str =
    "id, app_id, type, payload, state, attempts, next_attempt_at_ms, delivered_at_ms, created_at_ms";

pub async fn insert_event(
    c: &mut Tx,
    id: &str,
    app: &str,
    kind: &str,
    payload: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_events (id, app_id, type, payload, state, attempts, next_attempt_at_ms, created_at_ms)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
    )
    .bind(id)
    .bind(app)
    .bind(kind)
    .bind(payload)
    .bind(now_ms)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn event(c: &mut impl Conn, id: &str) -> Result<EventRow, StoreError> {
    sqlx::query_as(&format!("SELECT {EVENT_COLS} FROM webhook_events WHERE id = $1"))
        .bind(id)
        .fetch_optional(c.raw())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("event {id}")))
}

pub async fn events_of_app(c: &mut impl Conn, app: &str, limit: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLS} FROM webhook_events WHERE app_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
    ))
    .bind(app)
    .bind(limit)
    .fetch_all(c.raw())
    .await?)
}

/// What one delivery attempt got back.
pub struct Delivery<'a> {
    pub status_code: Option<i64>,
    pub error: &'a str,
    pub duration_ms: i64,
}

/// Records one delivery attempt and the event's new state.
#[allow(clippy::too_many_arguments)] // the attempt, its result and the event's new state
pub async fn record_delivery(
    c: &mut Tx,
    delivery_id: &str,
    event_id: &str,
    attempt: i64,
    d: &Delivery<'_>,
    state: WebhookState,
    next_attempt_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (status_code, error, duration_ms) = (d.status_code, d.error, d.duration_ms);
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, event_id, attempt, at_ms, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(delivery_id)
    .bind(event_id)
    .bind(attempt)
    .bind(now_ms)
    .bind(status_code)
    .bind(error)
    .bind(duration_ms)
    .execute(c.raw())
    .await?;
    let delivered = (state == WebhookState::Delivered).then_some(now_ms);
    sqlx::query(
        "UPDATE webhook_events SET attempts = $1, state = $2, next_attempt_at_ms = $3, delivered_at_ms = COALESCE($4, delivered_at_ms) WHERE id = $5",
    )
    .bind(attempt)
    .bind(state.as_str())
    .bind(next_attempt_at_ms)
    .bind(delivered)
    .bind(event_id)
    .execute(c.raw())
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub attempt: i64,
    pub at_ms: i64,
    pub status_code: Option<i64>,
    pub error: String,
    pub duration_ms: i64,
}

pub async fn deliveries(c: &mut impl Conn, event_id: &str) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, event_id, attempt, at_ms, status_code, error, duration_ms FROM webhook_deliveries WHERE event_id = $1 ORDER BY attempt",
    )
    .bind(event_id)
    .fetch_all(c.raw())
    .await?)
}

/// Changes where an application's webhooks go and where payers return to.
pub async fn set_urls(c: &mut Tx, id: &str, notify_url: &str, return_url: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_apps SET notify_url = $1, return_url = $2 WHERE id = $3")
        .bind(notify_url)
        .bind(return_url)
        .bind(id)
        .execute(c.raw())
        .await?;
    Ok(())
}
