//! Merchant accounts (one per channel account the school collects into) and which channels each
//! fee item accepts, into which merchant account. Secrets arrive here already sealed.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MerchantAccountRow {
    pub id: String,
    pub channel: String,
    pub merchant_no: String,
    pub name: String,
    pub settings: String,
    pub sealed_secrets: String,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

pub struct NewMerchantAccount<'a> {
    pub id: &'a str,
    pub channel: &'a str,
    pub merchant_no: &'a str,
    pub name: &'a str,
    pub settings: &'a str,
    pub sealed_secrets: &'a str,
}

const COLS: &str = "id, channel, merchant_no, name, settings, sealed_secrets, state, created_at_ms, updated_at_ms";

/// Adds a merchant account, or replaces the settings and secrets of the one with the same
/// channel and merchant number (key rotation). Returns its id.
pub async fn upsert(c: &mut AnyConnection, m: &NewMerchantAccount<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id: String = sqlx::query_scalar(
        "INSERT INTO merchant_accounts (id, channel, merchant_no, name, settings, sealed_secrets, state, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)
         ON CONFLICT (channel, merchant_no) DO UPDATE SET name = excluded.name, settings = excluded.settings,
             sealed_secrets = excluded.sealed_secrets, updated_at_ms = excluded.updated_at_ms
         RETURNING id",
    )
    .bind(m.id)
    .bind(m.channel)
    .bind(m.merchant_no)
    .bind(m.name)
    .bind(m.settings)
    .bind(m.sealed_secrets)
    .bind(now_ms)
    .fetch_one(c)
    .await?;
    Ok(id)
}

pub async fn all(c: &mut AnyConnection) -> Result<Vec<MerchantAccountRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM merchant_accounts ORDER BY channel, merchant_no"))
        .fetch_all(c)
        .await?)
}

pub async fn by_channel_and_no(
    c: &mut AnyConnection,
    channel: &str,
    merchant_no: &str,
) -> Result<Option<MerchantAccountRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM merchant_accounts WHERE channel = $1 AND merchant_no = $2"))
        .bind(channel)
        .bind(merchant_no)
        .fetch_optional(c)
        .await?)
}

/// Lets a fee item be paid through `channel` into a merchant account of that channel.
pub async fn enable_channel(
    c: &mut AnyConnection,
    fee_item_id: &str,
    channel: &str,
    merchant_account_id: &str,
) -> Result<(), StoreError> {
    let ok: Option<String> =
        sqlx::query_scalar("SELECT id FROM merchant_accounts WHERE id = $1 AND channel = $2 AND state = 'active'")
            .bind(merchant_account_id)
            .bind(channel)
            .fetch_optional(&mut *c)
            .await?;
    if ok.is_none() {
        return Err(StoreError::NotFound(format!("active {channel} merchant account {merchant_account_id}")));
    }
    sqlx::query(
        "INSERT INTO fee_item_channels (fee_item_id, channel, merchant_account_id) VALUES ($1, $2, $3)
         ON CONFLICT (fee_item_id, channel) DO UPDATE SET merchant_account_id = excluded.merchant_account_id",
    )
    .bind(fee_item_id)
    .bind(channel)
    .bind(merchant_account_id)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn disable_channel(c: &mut AnyConnection, fee_item_id: &str, channel: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM fee_item_channels WHERE fee_item_id = $1 AND channel = $2")
        .bind(fee_item_id)
        .bind(channel)
        .execute(c)
        .await?;
    Ok(())
}

/// One fee item's channel and the merchant account it collects into.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Route {
    pub fee_item_id: String,
    pub channel: String,
    pub merchant_no: String,
}

/// The channel routes of the fee items on an order's lines.
pub async fn routes_of_order(c: &mut AnyConnection, order_id: &str) -> Result<Vec<Route>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT r.fee_item_id, fc.channel, m.merchant_no
           FROM order_lines l JOIN receivables r ON r.id = l.receivable_id
           JOIN fee_item_channels fc ON fc.fee_item_id = r.fee_item_id
           JOIN merchant_accounts m ON m.id = fc.merchant_account_id AND m.state = 'active'
          WHERE l.order_id = $1
          ORDER BY r.fee_item_id, fc.channel",
    )
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

/// The distinct fee items on an order's lines.
pub async fn fee_items_of_order(c: &mut AnyConnection, order_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT r.fee_item_id FROM order_lines l JOIN receivables r ON r.id = l.receivable_id WHERE l.order_id = $1",
    )
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

/// The channels every fee item accepts (for the finance view).
pub async fn routes(c: &mut AnyConnection) -> Result<Vec<Route>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fc.fee_item_id, fc.channel, m.merchant_no FROM fee_item_channels fc
           JOIN merchant_accounts m ON m.id = fc.merchant_account_id ORDER BY fc.fee_item_id, fc.channel",
    )
    .fetch_all(c)
    .await?)
}

/// Which merchant account (id) each fee item uses per channel.
pub async fn route_ids(c: &mut AnyConnection) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT fee_item_id, channel, merchant_account_id FROM fee_item_channels").fetch_all(c).await?)
}
