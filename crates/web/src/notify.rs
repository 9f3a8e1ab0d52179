//! Channel notification endpoints. Verify first; then the engine applies the outcome in one
//! transaction. Every notification — accepted, duplicate or refused — is recorded with its reason.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_channels::wechatpay::protocol::NotifyAck;
use bursar_channels::{Notice, RefundNotice};
use bursar_engine::{ApplyResult, EngineError, RefundResult};

use crate::AppState;

fn ack(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(NotifyAck { code: code.into(), message: message.into() })).into_response()
}

pub async fn wechatpay(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(adapter) = s.wechatpay.as_ref() else {
        return ack(StatusCode::NOT_FOUND, "FAIL", "channel not configured");
    };
    let engine = &s.engine;
    let notice = match adapter.verify_notification(&headers, &body) {
        Ok((_, Notice::Payment(notice))) => notice,
        Ok((_, Notice::Refund(refund))) => return refund_notice(&s, refund).await,
        Err(e) => {
            tracing::warn!(error = %e, "refused a WeChat Pay notification");
            engine.record_event("wechatpay", "payment_notification", None, "refused", &e.to_string()).await;
            return ack(StatusCode::UNAUTHORIZED, "FAIL", "verification failed");
        }
    };
    let no = notice.merchant_order_no.as_str();
    match engine.apply_outcome(no, &notice.outcome, &bursar_engine::Actor::channel("wechatpay")).await {
        Ok(ApplyResult::Credited { to_payer_credit, .. }) => {
            let reason = if to_payer_credit.get() > 0 {
                format!("credited; {to_payer_credit} yuan to payer credit (nothing owed)")
            } else {
                "credited".to_string()
            };
            engine.record_event("wechatpay", "payment_notification", Some(no), "credited", &reason).await;
            ack(StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Duplicate) => {
            engine
                .record_event(
                    "wechatpay",
                    "payment_notification",
                    Some(no),
                    "duplicate",
                    "already credited with this transaction",
                )
                .await;
            ack(StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Moved(state)) => {
            engine.record_event("wechatpay", "payment_notification", Some(no), "applied", state.as_str()).await;
            ack(StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Unchanged) => {
            engine.record_event("wechatpay", "payment_notification", Some(no), "unchanged", "nothing new").await;
            ack(StatusCode::OK, "SUCCESS", "OK")
        }
        Err(
            e @ (EngineError::UnknownPayment(_)
            | EngineError::AmountMismatch { .. }
            | EngineError::TransactionMismatch { .. }),
        ) => {
            tracing::warn!(error = %e, "refused a WeChat Pay notification");
            engine.record_event("wechatpay", "payment_notification", Some(no), "refused", &e.to_string()).await;
            ack(StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a WeChat Pay notification; the channel will retry");
            engine.record_event("wechatpay", "payment_notification", Some(no), "error", &e.to_string()).await;
            ack(StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}

async fn refund_notice(s: &AppState, notice: RefundNotice) -> Response {
    let engine = &s.engine;
    let no = notice.out_refund_no.as_str();
    match engine.apply_refund_outcome(no, &notice.outcome, &bursar_engine::Actor::channel("wechatpay")).await {
        Ok(r) => {
            let outcome = match r {
                RefundResult::PaidOut => "refunded",
                RefundResult::Duplicate => "duplicate",
                RefundResult::Unchanged => "unchanged",
                RefundResult::Processing | RefundResult::Failed => "applied",
            };
            engine.record_event("wechatpay", "refund_notification", Some(no), outcome, &format!("{r:?}")).await;
            ack(StatusCode::OK, "SUCCESS", "OK")
        }
        Err(e @ (EngineError::UnknownPayment(_) | EngineError::AmountMismatch { .. })) => {
            tracing::warn!(error = %e, "refused a WeChat Pay refund notification");
            engine.record_event("wechatpay", "refund_notification", Some(no), "refused", &e.to_string()).await;
            ack(StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a WeChat Pay refund notification; the channel will retry");
            engine.record_event("wechatpay", "refund_notification", Some(no), "error", &e.to_string()).await;
            ack(StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}
