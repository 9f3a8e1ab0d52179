//! The open API's business logic: registered applications, orders created for a payer (an
//! identified one, or an outside person by name and ID number / phone), closing them, refunds
//! asked by the application, arrears, receivables pushed in bulk, and the events business
//! systems are notified of (written in the same transaction as the change they report).

pub mod apps;
pub mod orders;
pub mod webhooks;

use bursar_domain::order::OrderState;
use bursar_domain::payment::PaymentState;
use bursar_domain::Fen;
use bursar_store::api::{self as api_store, ApiOrderRow};
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::payments as pay_store;
use bursar_store::{payers, Conn, StoreError, Tx};
use serde_json::{json, Value};

use crate::error::EngineError;

/// The largest amount one API line may carry (one hundred million yuan), in fen.
pub(crate) const MAX_ORDER_FEN: i64 = 10_000_000_000;

/// The job that delivers a webhook event.
pub const WEBHOOK_JOB: &str = "webhook.deliver";

/// An application's problem with a request, naming the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub code: &'static str,
    pub param: String,
    pub message: String,
}

pub(crate) fn param(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> EngineError {
    EngineError::Param(ParamError { code, param: param.into(), message: message.into() })
}

/// Who pays an API order.
#[derive(Clone, Debug)]
pub enum ApiPayer {
    /// A payer Bursar knows (student, staff, registrant) by login identifier.
    Identified { identifier: String },
    /// An outside person: found by ID number (or phone), created if new.
    Outside { name: String, id_number: Option<String>, phone: Option<String>, id_digest: Option<String> },
}

#[derive(Clone, Debug)]
pub struct ApiItem {
    pub fee_item_code: String,
    pub academic_year: String,
    pub amount: Fen,
}

#[derive(Clone, Debug)]
pub struct ApiOrderInput {
    pub out_order_no: String,
    pub payer: ApiPayer,
    pub items: Vec<ApiItem>,
    pub description: String,
    pub return_url: Option<String>,
    pub expires_in_secs: i64,
    pub metadata: String,
}

/// Queues an event for the application (in the caller's transaction) and the job that
/// delivers it.
pub(crate) async fn emit_event(tx: &mut Tx, app_id: &str, kind: &str, data: Value) -> Result<String, EngineError> {
    let now = tx.now_ms;
    let id = format!("evt_{}", tx.new_id());
    let body = json!({"id": id, "type": kind, "created": now / 1000, "data": data}).to_string();
    api_store::insert_event(tx, &id, app_id, kind, &body, now).await?;
    let job_id = tx.new_id();
    let job = NewJob { kind: WEBHOOK_JOB, dedupe_key: &id, payload: &id, run_at_ms: now, max_attempts: 50 };
    job_store::enqueue(tx, &job_id, &job, now).await?;
    Ok(id)
}

/// The order as applications see it.
pub async fn order_json(c: &mut impl Conn, api: &ApiOrderRow, base_url: &str) -> Result<Value, StoreError> {
    let order = pay_store::order(c, &api.order_id).await?;
    let lines = pay_store::order_lines(c, &api.order_id).await?;
    let payments = pay_store::payments_of_order(c, &api.order_id).await?;
    let payer = payers::payer(c, &order.payer_id).await?;
    let paid = payments.iter().find(|p| p.state == PaymentState::Succeeded);
    let refunds = match paid {
        Some(p) => bursar_store::refunds::of_payment(c, &p.id).await?,
        None => Vec::new(),
    };
    let status = match order.state {
        OrderState::Paid => "paid",
        OrderState::Open => "open",
        OrderState::Closed => "closed",
    };
    Ok(json!({
        "object": "order",
        "id": api.order_id,
        "out_order_no": api.out_order_no,
        "status": status,
        "amount_fen": order.total_fen,
        "currency": "CNY",
        "description": api.description,
        "payer": {"identifier": payer.identifier, "name": bursar_domain::payer::mask_name(&payer.name), "kind": payer.kind},
        "items": lines.iter().map(|l| json!({"fee_item": l.item_name, "academic_year": l.academic_year, "amount_fen": l.amount_fen})).collect::<Vec<_>>(),
        "payment": paid.map(|p| json!({
            "id": p.id, "method": p.method, "channel": p.channel, "channel_txn_id": p.channel_txn_id,
            "paid_at": p.succeeded_at_ms.map(|t| t / 1000),
        })),
        "refunds": refunds.iter().map(refund_value).collect::<Vec<_>>(),
        "cashier_url": format!("{}/cashier/{}", base_url.trim_end_matches('/'), api.cashier_token),
        "metadata": serde_json::from_str::<Value>(&api.metadata).unwrap_or(Value::Null),
        "created": api.created_at_ms / 1000,
        "expires_at": api.expires_at_ms / 1000,
    }))
}

pub fn refund_value(r: &bursar_store::refunds::RefundRow) -> Value {
    json!({
        "object": "refund",
        "id": r.id,
        "amount_fen": r.amount_fen,
        "status": r.state,
        "reason": r.reason,
        "created": r.created_at_ms / 1000,
    })
}
