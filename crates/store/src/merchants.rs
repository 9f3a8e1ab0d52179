//! Merchant accounts (one per channel account the school collects into) and which channels each
//! fee item accepts, into which merchant account. Secrets arrive here already sealed.

use bursar_domain::payment::{ChannelKind, MerchantState};

use crate::db::{Conn, Tx};

use crate::error::StoreError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MerchantAccountRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub merchant_no: String,
    pub name: String,
    pub settings: String,
    pub sealed_secrets: String,
    #[sqlx(try_from = "String")]
    pub state: MerchantState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

pub struct NewMerchantAccount<'a> {
    pub id: &'a str,
    pub channel: ChannelKind,
    pub merchant_no: &'a str,
    pub name: &'a str,
    pub settings: &'a str,
    pub sealed_secrets: &'a str,
}

const COLS: &str = "id, channel, merchant_no, name, settings, sealed_secrets, state, created_at_ms, updated_at_ms";

/// Adds a merchant account, or replaces the settings and secrets of the one with the same
/// channel and merchant number (key rotation). Returns its id.
pub async fn upsert(c: &mut Tx, m: &NewMerchantAccount<'_>, now_ms: i64) -> Result<String, StoreError> {
    let id: String = sqlx::query_scalar(
        "INSERT INTO merchant_accounts (id, channel, merchant_no, name, settings, sealed_secrets, state, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)
         ON CONFLICT (channel, merchant_no) DO UPDATE SET name = excluded.name, settings = excluded.settings,
             sealed_secrets = excluded.sealed_secrets, updated_at_ms = excluded.updated_at_ms
         RETURNING id",
    )
    .bind(m.id)
    .bind(m.channel.as_str())
    .bind(m.merchant_no)
    .bind(m.name)
    .bind(m.settings)
    .bind(m.sealed_secrets)
    .bind(now_ms)
    .fetch_one(c.raw())
    .await?;
    Ok(id)
}

pub async fn all(c: &mut impl Conn) -> Result<Vec<MerchantAccountRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM merchant_accounts ORDER BY channel, merchant_no"))
        .fetch_all(c.raw())
        .await?)
}

pub async fn by_channel_and_no(
    c: &mut impl Conn,
    channel: ChannelKind,
    merchant_no: &str,
) -> Result<Option<MerchantAccountRow>, StoreError> {
    Ok(sqlx::query_as(&format!("SELECT {COLS} FROM merchant_accounts WHERE channel = $1 AND merchant_no = $2"))
        .bind(channel.as_str())
        .bind(merchant_no)
        .fetch_optional(c.raw())
        .await?)
}

/// Lets a fee item be paid through `channel` into a merchant account of that channel.
pub async fn enable_channel(
    c: &mut Tx,
    fee_item_id: &str,
    channel: ChannelKind,
    merchant_account_id: &str,
) -> Result<(), StoreError> {
    let ok: Option<String> =
        sqlx::query_scalar("SELECT id FROM merchant_accounts WHERE id = $1 AND channel = $2 AND state = $3")
            .bind(merchant_account_id)
            .bind(channel.as_str())
            .bind(MerchantState::Active.as_str())
            .fetch_optional(c.raw())
            .await?;
    if ok.is_none() {
        return Err(StoreError::NotFound(format!(
            "active {} merchant account {merchant_account_id}",
            channel.as_str()
        )));
    }
    sqlx::query(
        "INSERT INTO fee_item_channels (fee_item_id, channel, merchant_account_id) VALUES ($1, $2, $3)
         ON CONFLICT (fee_item_id, channel) DO UPDATE SET merchant_account_id = excluded.merchant_account_id",
    )
    .bind(fee_item_id)
    .bind(channel.as_str())
    .bind(merchant_account_id)
    .execute(c.raw())
    .await?;
    Ok(())
}

pub async fn disable_channel(c: &mut Tx, fee_item_id: &str, channel: ChannelKind) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM fee_item_channels WHERE fee_item_id = $1 AND channel = $2")
        .bind(fee_item_id)
        .bind(channel.as_str())
        .execute(c.raw())
        .await?;
    Ok(())
}

/// One fee item's channel and the merchant account it collects into.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Route {
    pub fee_item_id: String,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub merchant_no: String,
}

/// The channel routes of the fee items on an order's lines.
pub async fn routes_of_order(c: &mut impl Conn, order_id: &str) -> Result<Vec<Route>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT r.fee_item_id, fc.channel, m.merchant_no
           FROM order_lines l JOIN receivables r ON r.id = l.receivable_id
           JOIN fee_item_channels fc ON fc.fee_item_id = r.fee_item_id
           JOIN merchant_accounts m ON m.id = fc.merchant_account_id AND m.state = $2
          WHERE l.order_id = $1
          ORDER BY r.fee_item_id, fc.channel",
    )
    .bind(order_id)
    .bind(MerchantState::Active.as_str())
    .fetch_all(c.raw())
    .await?)
}

/// The distinct fee items on an order's lines.
pub async fn fee_items_of_order(c: &mut impl Conn, order_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT r.fee_item_id FROM order_lines l JOIN receivables r ON r.id = l.receivable_id WHERE l.order_id = $1",
    )
    .bind(order_id)
    .fetch_all(c.raw())
    .await?)
}

/// The channels every fee item accepts (for the finance view).
pub async fn routes(c: &mut impl Conn) -> Result<Vec<Route>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fc.fee_item_id, fc.channel, m.merchant_no FROM fee_item_channels fc
           JOIN merchant_accounts m ON m.id = fc.merchant_account_id ORDER BY fc.fee_item_id, fc.channel",
    )
    .fetch_all(c.raw())
    .await?)
}

/// Which merchant account (id) each fee item uses per channel.
pub async fn route_ids(c: &mut impl Conn) -> Result<Vec<(String, ChannelKind, String)>, StoreError> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT fee_item_id, channel, merchant_account_id FROM fee_item_channels")
            .fetch_all(c.raw())
            .await?;
    rows.into_iter().map(|(f, ch, m)| Ok((f, ChannelKind::try_from(ch)?, m))).collect()
}

/// The channels a fee item accepts, with the merchant account (row) each collects into.
pub async fn routes_of_item(
    c: &mut impl Conn,
    fee_item_id: &str,
) -> Result<Vec<(ChannelKind, MerchantAccountRow)>, StoreError> {
    let rows: Vec<MerchantAccountRow> = sqlx::query_as(
        "SELECT m.id, fc.channel, m.merchant_no, m.name, m.settings, m.sealed_secrets, m.state, m.created_at_ms, m.updated_at_ms
           FROM fee_item_channels fc JOIN merchant_accounts m ON m.id = fc.merchant_account_id
          WHERE fc.fee_item_id = $1 ORDER BY fc.channel",
    )
    .bind(fee_item_id)
    .fetch_all(c.raw())
    .await?;
    Ok(rows.into_iter().map(|m| (m.channel, m)).collect())
}
