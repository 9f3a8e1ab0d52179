//! Channel notification endpoints. Verify first; then the engine applies the outcome in one
//! transaction. Every notification — accepted, duplicate or refused — is recorded with its reason.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bursar_channels::wechatpay::protocol::NotifyAck;
use bursar_channels::{Notice, RefundNotice};
use bursar_domain::access::Principal;
use bursar_domain::payment::{ChannelKind, EventKind, EventOutcome};
use bursar_engine::{ApplyResult, EngineError, RefundResult};

use crate::AppState;

/// The largest notification read: real ones are a few kilobytes (WeChat Pay's encrypted
/// resource, Alipay's form, UnionPay's form with a certificate).
pub const MAX_NOTICE_BYTES: usize = 64 * 1024;

/// Why a verified message was refused, in the words finance reads.
fn refusal_words(e: &EngineError) -> String {
    bursar_engine::exceptions::exception_for(e).map(|(_, _, detail)| detail).unwrap_or_else(|| "已拒绝".into())
}

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
    let Some(kind) = ChannelKind::parse(&channel) else {
        return ack(&channel, StatusCode::NOT_FOUND, "FAIL", "channel not configured");
    };
    let adapters = match s.engine.adapters_of(kind).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "could not load the channel's merchant accounts");
            return ack(&channel, StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure");
        }
    };
    if adapters.is_empty() {
        return ack(&channel, StatusCode::NOT_FOUND, "FAIL", "channel not configured");
    }
    let engine = &s.engine;
    let mut verified = None;
    let mut first_error = None;
    for a in &adapters {
        match a.verify_notice(&headers, &body) {
            Ok(n) => {
                verified = Some((n, a.merchant_id().to_string()));
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let ch = kind.as_str();
    let by = Principal::Channel(kind.as_str());
    let (notice, merchant) = match verified {
        Some((Notice::Payment(notice), merchant)) => (notice, merchant),
        Some((Notice::Refund(refund), merchant)) => return refund_notice(&s, &by, ch, &merchant, refund).await,
        None => {
            // Not from the channel: counted bounded (class, size, digest, a short sample),
            // never stored in full and never in the channel's event trail.
            let error = first_error.unwrap_or_else(|| bursar_channels::ChannelError::Verification(String::new()));
            tracing::warn!(channel = ch, bytes = body.len(), "refused a notification that did not verify");
            engine.record_refused_input(&format!("notify:{ch}"), &body, &error).await;
            return ack(ch, StatusCode::UNAUTHORIZED, "FAIL", "verification failed");
        }
    };
    let no = notice.merchant_order_no.as_str();
    let pn = EventKind::PaymentNotification;
    match engine.apply_notice(&by, &merchant, no, &notice.outcome).await {
        Ok(ApplyResult::Credited { to_payer_credit, .. }) => {
            let reason = if to_payer_credit.get() > 0 {
                format!("已入账；其中 {to_payer_credit} 元到账时已无欠费，记入多缴款")
            } else {
                "已入账".to_string()
            };
            engine.record_event(ch, pn, Some(no), EventOutcome::Credited, &reason).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Duplicate) => {
            engine.record_event(ch, pn, Some(no), EventOutcome::Duplicate, "重复通知：该笔交易已入账").await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Moved(state)) => {
            engine.record_event(ch, pn, Some(no), EventOutcome::Applied, state.label_zh()).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Ok(ApplyResult::Unchanged) => {
            engine.record_event(ch, pn, Some(no), EventOutcome::Unchanged, "无新变化").await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Err(
            e @ (EngineError::UnknownPayment(_)
            | EngineError::AmountMismatch { .. }
            | EngineError::TransactionMismatch { .. }
            | EngineError::AccountMismatch { .. }),
        ) => {
            tracing::warn!(error = %e, "refused a notification");
            engine.record_event(ch, pn, Some(no), EventOutcome::Refused, &refusal_words(&e)).await;
            engine.raise_for(&e).await;
            ack(ch, StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a notification; the channel will retry");
            engine.record_event(ch, pn, Some(no), EventOutcome::Error, "处理出错，渠道将重试").await;
            ack(ch, StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}

async fn refund_notice(s: &AppState, by: &Principal, ch: &str, merchant: &str, notice: RefundNotice) -> Response {
    let engine = &s.engine;
    let no = notice.out_refund_no.as_str();
    let rn = EventKind::RefundNotification;
    match engine.apply_refund_notice(by, merchant, no, &notice.outcome).await {
        Ok(r) => {
            let (outcome, reason) = match r {
                RefundResult::PaidOut => (EventOutcome::Refunded, "退款已到账"),
                RefundResult::Duplicate => (EventOutcome::Duplicate, "重复通知：该笔退款已确认"),
                RefundResult::Unchanged => (EventOutcome::Unchanged, "无新变化"),
                RefundResult::Processing => (EventOutcome::Applied, "退款处理中"),
                RefundResult::Failed => (EventOutcome::Applied, "渠道退款失败，待财务处理"),
            };
            engine.record_event(ch, rn, Some(no), outcome, reason).await;
            ack(ch, StatusCode::OK, "SUCCESS", "OK")
        }
        Err(
            e @ (EngineError::UnknownPayment(_)
            | EngineError::AmountMismatch { .. }
            | EngineError::AccountMismatch { .. }),
        ) => {
            tracing::warn!(error = %e, "refused a refund notification");
            engine.record_event(ch, rn, Some(no), EventOutcome::Refused, &refusal_words(&e)).await;
            engine.raise_for(&e).await;
            ack(ch, StatusCode::BAD_REQUEST, "FAIL", "refused")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply a refund notification; the channel will retry");
            engine.record_event(ch, rn, Some(no), EventOutcome::Error, "处理出错，渠道将重试").await;
            ack(ch, StatusCode::INTERNAL_SERVER_ERROR, "FAIL", "temporary failure")
        }
    }
}
