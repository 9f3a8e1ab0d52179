//! Exceptions finance must look at, raised where the platform refuses something a channel
//! really sent (an amount that does not match, an unknown payment, the wrong merchant account)
//! or sees many forged messages; and the bounded record of refused outside input.

use bursar_channels::ChannelError;
use bursar_domain::access::{AccessError, Permission, Principal, Scope};
use bursar_domain::exception::{sample, ExceptionKind, RefusalClass, SIGNATURE_FAILURES_ALERT};
use bursar_store::exceptions::{self as store, ExceptionRow, Refusal, RefusalRow};
use bursar_store::Tx;

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// Characters of an outsider's text kept as a sample.
const SAMPLE_CHARS: usize = 120;

/// An exception for an engine refusal of a verified channel message, when it is one.
pub fn exception_for(e: &EngineError) -> Option<(ExceptionKind, String, String)> {
    Some(match e {
        EngineError::AmountMismatch { merchant_order_no, channel_fen, payment_fen } => (
            ExceptionKind::AmountMismatch,
            merchant_order_no.clone(),
            format!(
                "渠道通知金额 ¥{} 与支付金额 ¥{} 不符，未入账",
                bursar_domain::Fen(*channel_fen),
                bursar_domain::Fen(*payment_fen)
            ),
        ),
        EngineError::TransactionMismatch { merchant_order_no, credited, reported } => (
            ExceptionKind::TransactionMismatch,
            merchant_order_no.clone(),
            sample(&format!("已按渠道交易号 {credited} 入账，渠道又通知了交易号 {reported}"), 300),
        ),
        EngineError::UnknownPayment(no) => match no.strip_prefix("refund ") {
            Some(refund) => {
                (ExceptionKind::UnknownRefund, sample(refund, 64), "渠道通知的退款单号在本平台不存在".into())
            }
            None => (ExceptionKind::UnknownPayment, sample(no, 64), "渠道通知的商户订单号在本平台不存在".into()),
        },
        EngineError::AccountMismatch { merchant_order_no, verified_by, expected } => (
            ExceptionKind::AccountMismatch,
            merchant_order_no.clone(),
            format!("通知由商户号 {verified_by} 签名，而该笔支付收款至商户号 {expected}，未入账"),
        ),
        _ => return None,
    })
}

impl Engine {
    /// Records a refused, unverified message bounded: counted in its source's hourly bucket with
    /// a short sample and a digest; many in an hour raise one exception for the source.
    pub async fn record_refused_input(&self, source: &str, body: &[u8], error: &ChannelError) {
        let class = match error {
            ChannelError::Verification(_) => RefusalClass::Signature,
            ChannelError::Protocol(_) => RefusalClass::Format,
            _ => RefusalClass::Unusable,
        };
        let text = sample(&error.to_string(), SAMPLE_CHARS);
        let digest = hex::encode(&ring::digest::digest(&ring::digest::SHA256, body).as_ref()[..16]);
        let (source, bytes) = (sample(source, 40), body.len() as i64);
        let result = self
            .store()
            .write(|tx: &mut Tx| {
                let (source, text, digest) = (source.clone(), text.clone(), digest.clone());
                Box::pin(async move {
                    let r = Refusal { source: &source, class, bytes, sample: &text, digest: &digest };
                    let n = store::record_refusal(tx, &r).await?;
                    if n == SIGNATURE_FAILURES_ALERT && class == RefusalClass::Signature {
                        let detail = format!(
                            "一小时内已有 {n} 条发往 {source} 的消息验签失败（可能是伪造的通知或证书/密钥配置有误）"
                        );
                        raise_in_tx(tx, ExceptionKind::SignatureFailures, &source, &detail).await?;
                    }
                    Ok::<_, EngineError>(())
                })
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record a refused input");
        }
    }

    /// Raises (or counts again) the exception an engine refusal of a verified channel message
    /// calls for. Logged; a failure to record is logged too and never fails the caller.
    pub async fn raise_for(&self, e: &EngineError) {
        let Some((kind, subject, detail)) = exception_for(e) else { return };
        let result = self
            .store()
            .write(|tx: &mut Tx| {
                let (subject, detail) = (subject.clone(), detail.clone());
                Box::pin(async move { raise_in_tx(tx, kind, &subject, &detail).await })
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not raise an exception");
        }
    }

    /// Closes an open exception with what was done about it.
    pub async fn resolve_exception(&self, by: &Principal, id: &str, resolution: &str) -> Result<(), EngineError> {
        require(by, Permission::ResolveExceptions)?;
        let resolution = resolution.trim();
        if resolution.is_empty() {
            return Err(refused("请写明处理结果"));
        }
        if resolution.chars().count() > 400 {
            return Err(refused("处理结果最多 400 字"));
        }
        let (by, id, resolution) = (by.clone(), id.to_string(), resolution.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, resolution) = (by.clone(), id.clone(), resolution.clone());
                Box::pin(async move {
                    if !store::resolve(tx, &id, &by.actor_ref(), &resolution).await? {
                        return Err(refused("该异常不存在或已处理"));
                    }
                    log(tx, &by, "exception.resolve", ("exception", &id), ("open", "resolved"), &resolution).await
                })
            })
            .await
    }

    /// Exceptions, open first; and the latest refused-input buckets.
    pub async fn exceptions(&self, by: &Principal) -> Result<(Vec<ExceptionRow>, Vec<RefusalRow>), EngineError> {
        finance_wide(by)?;
        let mut c = self.store().read().await?;
        Ok((store::list(&mut c, 200).await?, store::recent_refusals(&mut c, 50).await?))
    }

    /// How many exceptions wait for someone.
    pub async fn open_exceptions(&self, by: &Principal) -> Result<i64, EngineError> {
        finance_wide(by)?;
        let mut c = self.store().read().await?;
        Ok(store::open_count(&mut c).await?)
    }
}

/// Exceptions concern every department: finance-wide readers only.
fn finance_wide(by: &Principal) -> Result<(), EngineError> {
    match require(by, Permission::ViewCollection)? {
        Scope::All => Ok(()),
        _ => Err(AccessError::Missing(Permission::ViewCollection).into()),
    }
}

async fn raise_in_tx(tx: &mut Tx, kind: ExceptionKind, subject: &str, detail: &str) -> Result<(), EngineError> {
    let (subject, detail) = (sample(subject, 64), sample(detail, 400));
    let subject = subject.as_str();
    if store::raise(tx, kind, subject, &detail).await? {
        let by = Principal::System(bursar_domain::access::SystemJob::Engine);
        log(tx, &by, "exception.raise", ("exception", subject), ("", "open"), kind.as_str()).await?;
    }
    Ok(())
}
