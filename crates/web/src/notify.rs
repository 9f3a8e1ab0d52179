//! Channel notification endpoints. Verify first; then the engine applies the outcome in one
//! transaction. Every notification — accepted, duplicate or refused — is recorded with its reason.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_channels::wechatpay::protocol::NotifyAck;
use bursar_channels::{Notice, RefundNotice};
use bursar_engine::{ApplyResult, EngineError, RefundResult};

use crate::AppState;

/// The answer each channel expects: WeChat Pay a JSON code with the status, Alipay the plain
/// word `success` (anything else makes it retry).
fn ack(channel: &str, status: StatusCode, code: &str, message: &str) -> Response {
    match channel {
        "alipay" => {
            let word = if status.is_success() { "success" } else { "fail" };
            (StatusCode::OK, [("content-type", "text/plain; charset=utf-8")], word).into_response()
        }
        _ => (status, Json(NotifyAck { code: code.into(), message: message.into() })).into_response(),
    }
}

/// `POST /notify/{channel}`: offered to each merchant account of the channel until one verifies it.
pub async fn notify(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let adapters = s.engine.adapters_of(&channel);
    if adapters.is_empty() {
        return ack(&channel, StatusCode::NOT_FOUND, "FAIL", "channel not configured");
    }
    let engine = &s.engine;
    let mut verified = None;
    let mut first_error = None;
    for a in &adapters {
        match a.verify_notice(&headers, &body) {
            Ok(n) => {
                verified = Some(n);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let ch = channel.as_str();
    let notice = match verified {
        Some(Notice::Payment(notice)) => notice,
        Some(Notice::Refund(refund)) => return refund_notice(&s, ch, refund).await,
        None => {
            let reason = first_error.map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(channel = ch, error = %reason, "refused a notification");
            engine.record_event(ch, "payment_notification", None, "refused", &reason).await;
            return ack(ch, StatusCode::UNAUTHORIZED, "FAIL", "verification failed");
        }
    };
    let no = notice.merchant_order_no.as_str();
    match engine.apply_outcome(no, &notice.outcome, &bursar_engine::Actor::channel(ch)).await {
        Ok(ApplyResult::Credited { to_payer_credit, .. }) => {
            let reason = if to_payer_credit.get() > 0 {
                format!("credited; {to_payer_credit} yuan to payer credit (nothing owed)")
            } else {
                "credited".to_string()
            };
            engine.record_event(ch, "payment_notification", Some(no), "credited", &reason).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Duplicate) => {
            engine
                .record_event(
                    ch,
                    "payment_notification",
                    Some(no),
                    "duplicate",
                    "already credited with this transaction",
                )
                .await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Moved(state)) => {
            engine.record_event(ch, "payment_notification", Some(no), "applied", state.as_str()).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Unchanged) => {
            engine.record_event(ch, "payment_notification", Some(no), "unchanged", "nothing new").await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Err(
            e @ (EngineError::UnknownPayment(_)
            | EngineError::AmountMismatch { .. }
            | EngineError::TransactionMismatch { .. }),
        ) => {
            tracing::warn!(error = %e, "refused a notification");
            engine.record_event(ch, "payment_notification", Some(no), "refused", &e.to_string()).await;
            ack(ch, StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a notification; the channel will retry");
            engine.record_event(ch, "payment_notification", Some(no), "error", &e.to_string()).await;
            ack(ch, StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}

async fn refund_notice(s: &AppState, ch: &str, notice: RefundNotice) -> Response {
    let engine = &s.engine;
    let no = notice.out_refund_no.as_str();
    match engine.apply_refund_outcome(no, &notice.outcome, &bursar_engine::Actor::channel(ch)).await {
        Ok(r) => {
            let outcome = match r {
                RefundResult::PaidOut => "refunded",
                RefundResult::Duplicate => "duplicate",
                RefundResult::Unchanged => "unchanged",
                RefundResult::Processing | RefundResult::Failed => "applied",
            };
            engine.record_event(ch, "refund_notification", Some(no), outcome, &format!("{r:?}")).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Err(e @ (EngineError::UnknownPayment(_) | EngineError::AmountMismatch { .. })) => {
            tracing::warn!(error = %e, "refused a refund notification");
            engine.record_event(ch, "refund_notification", Some(no), "refused", &e.to_string()).await;
            ack(ch, StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a refund notification; the channel will retry");
            engine.record_event(ch, "refund_notification", Some(no), "error", &e.to_string()).await;
            ack(ch, StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}
