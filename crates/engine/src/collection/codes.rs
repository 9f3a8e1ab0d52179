//! Payment codes (付款码) at a counter: the cashier scans the payer's code and the channel charges
//! it at once, or answers "waiting for the payer's password" / "unknown". Then Bursar polls every
//! few seconds and, if the payer has not confirmed by the deadline, reverses the charge — so a
//! payer never walks away with an uncertain payment (CHANNELS.md §2, §3).

use bursar_channels::{ChannelError, CodeOutcome, PayRequest};
use bursar_domain::access::{Permission, Principal, SystemJob};
use bursar_domain::payment::{ChannelOutcome, PayMethod, PaymentState};
use bursar_store::payments::{self as pay_store, PaymentRow};
use bursar_store::Tx;

use crate::collection::payments::NewRecord;
use crate::engine::{require, Engine};
use crate::error::{refused, EngineError};

/// How long a charge may wait for the payer before it is reversed (WeChat revokes at 45 s).
pub const CODE_DEADLINE_MS: i64 = 45_000;
/// How often a waiting charge is asked about.
pub const CODE_POLL_MS: i64 = 3_000;

impl Engine {
    /// Collects an open order by the payer's payment code, scanned by a cashier.
    pub async fn collect_by_code(
        &self,
        by: &Principal,
        order_id: &str,
        method: PayMethod,
        auth_code: &str,
        client_ip: &str,
    ) -> Result<PaymentRow, EngineError> {
        require(by, Permission::CollectAtCounter)?;
        if !method.is_payment_code() {
            return Err(EngineError::MethodUnavailable(method.label_zh().into()));
        }
        let code: String = auth_code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) || !(16..=24).contains(&code.len()) {
            return Err(refused("付款码应为 16–24 位数字"));
        }
        let (merchant_no, channel) = self.channel_for(order_id, method).await?;
        let (order, lines) = {
            let mut c = self.store().read().await?;
            let order = pay_store::order(&mut c, order_id).await?;
            (order, pay_store::order_lines(&mut c, order_id).await?)
        };
        if self.make_way(order_id, None).await?.is_some() {
            return Err(refused("该订单有一笔支付正在进行，请稍后再试"));
        }
        let now = self.store().now_ms();
        let rec = NewRecord {
            order_id,
            payer_id: &order.payer_id,
            method,
            merchant_no: &merchant_no,
            amount: order.total_fen,
            expires_at_ms: now + self.config().code_deadline_ms,
            first_query_at_ms: now + CODE_POLL_MS,
        };
        let (payment_id, merchant_order_no) = self.record_payment(&rec, by).await?;
        let description = match lines.first() {
            Some(l) => format!("{}-{}", self.config().merchant_display_name, l.item_name),
            None => self.config().merchant_display_name.clone(),
        };
        let notify_url =
            format!("{}/notify/{}", self.config().public_base_url.trim_end_matches('/'), channel.channel());
        let req = PayRequest {
            method,
            merchant_order_no: &merchant_order_no,
            description: &description,
            amount_fen: order.total_fen.get(),
            expires_at_ms: now + self.config().code_deadline_ms,
            notify_url: &notify_url,
            return_url: "",
            client_ip,
            openid: None,
        };
        let engine = Principal::System(SystemJob::Engine);
        match channel.pay_with_code(&req, &code).await {
            Ok(CodeOutcome::Final(outcome)) => {
                self.apply_outcome(&engine, &merchant_order_no, &outcome).await?;
            }
            Ok(CodeOutcome::Waiting) | Err(ChannelError::Unreachable(_)) => self.wait_for_payer(&payment_id).await?,
            Err(ChannelError::Refused { code, message }) => {
                let outcome = ChannelOutcome::Failed { reason: format!("{code}: {message}") };
                self.apply_outcome(&engine, &merchant_order_no, &outcome).await?;
            }
            // A forged or garbled answer: the outcome is unknown, so ask (and reverse if need be).
            Err(e) => {
                tracing::warn!(payment = %payment_id, error = %e, "payment-code answer not trusted; will ask the channel");
                self.wait_for_payer(&payment_id).await?;
            }
        }
        let mut c = self.store().read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }

    /// The charge waits for the payer's password: ask the channel every few seconds.
    async fn wait_for_payer(&self, payment_id: &str) -> Result<(), EngineError> {
        let id = payment_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let id = id.clone();
                Box::pin(async move {
                    let t = tx.now_ms;
                    pay_store::transition_payment(tx, &id, PaymentState::Created, PaymentState::Paying, t).await?;
                    pay_store::schedule_next_query(tx, &id, Some(t + CODE_POLL_MS)).await?;
                    Ok::<_, EngineError>(())
                })
            })
            .await
    }
}
