//! Payment codes (付款码) at a counter: the cashier scans the payer's code and the channel charges
//! it at once, or answers "waiting for the payer's password" / "unknown". Then Bursar polls every
//! few seconds and, if the payer has not confirmed by the deadline, reverses the charge — so a
//! payer never walks away with an uncertain payment (CHANNELS.md §2, §3).

use bursar_channels::{ChannelError, CodeOutcome, PayRequest};
use bursar_domain::payment::{ChannelOutcome, PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_store::oplog::Actor;
use bursar_store::payments::{self as pay_store, PaymentRow};

use crate::error::EngineError;
use crate::payments::{Engine, NewRecord};

/// How long a charge may wait for the payer before it is reversed (WeChat revokes at 45 s).
pub const CODE_DEADLINE_MS: i64 = 45_000;
/// How often a waiting charge is asked about.
pub const CODE_POLL_MS: i64 = 3_000;

impl Engine {
    /// Collects an open order by the payer's payment code, scanned by `cashier`.
    pub async fn collect_by_code(
        &self,
        order_id: &str,
        method: PayMethod,
        auth_code: &str,
        cashier: &Actor,
        client_ip: &str,
    ) -> Result<PaymentRow, EngineError> {
        if !method.is_payment_code() {
            return Err(EngineError::MethodUnavailable(method.label_zh().into()));
        }
        let code: String = auth_code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) || !(16..=24).contains(&code.len()) {
            return Err(EngineError::Rule(bursar_domain::DomainError::Refused("付款码应为 16–24 位数字".into())));
        }
        let merchant_no = self.route(order_id, method.channel_kind()).await?;
        let channel = self
            .adapter(method.channel(), &merchant_no)
            .filter(|a| a.methods().contains(&method))
            .ok_or_else(|| EngineError::MethodUnavailable(method.label_zh().into()))?;
        let (order, lines) = {
            let mut c = self.store().read().await?;
            let order = pay_store::order(&mut c, order_id).await?;
            let existing = pay_store::payments_of_order(&mut c, order_id).await?;
            if order.state != bursar_domain::order::OrderState::Open.as_str()
                || existing.iter().any(|p| p.state() == PaymentState::Succeeded)
            {
                return Err(EngineError::OrderNotOpen("已支付或已关闭".into()));
            }
            (order, pay_store::order_lines(&mut c, order_id).await?)
        };
        let now = self.store().now_ms();
        let rec = NewRecord {
            order_id,
            payer_id: &order.payer_id,
            method,
            channel: channel.channel(),
            merchant_no: &merchant_no,
            amount: Fen(order.total_fen),
            expires_at_ms: now + self.config().code_deadline_ms,
            first_query_at_ms: now + CODE_POLL_MS,
        };
        let (payment_id, merchant_order_no) = self.record_payment(&rec, cashier).await?;
        let description = match lines.first() {
            Some(l) => format!("{}-{}", self.config().merchant_display_name, l.item_name),
            None => self.config().merchant_display_name.clone(),
        };
        let req = PayRequest {
            method,
            merchant_order_no: &merchant_order_no,
            description: &description,
            amount_fen: order.total_fen,
            expires_at_ms: now + self.config().code_deadline_ms,
            notify_url: &format!(
                "{}/notify/{}",
                self.config().public_base_url.trim_end_matches('/'),
                channel.channel()
            ),
            return_url: "",
            client_ip,
            openid: None,
        };
        let system = Actor::system("counter");
        let answer = channel.pay_with_code(&req, &code).await;
        let waiting = |engine: &Engine| {
            let engine = engine.clone();
            let id = payment_id.clone();
            async move {
                let mut tx = engine.store().begin().await?;
                let t = tx.now_ms;
                pay_store::transition_payment(tx.c(), &id, PaymentState::Created, PaymentState::Paying, t).await?;
                pay_store::schedule_next_query(tx.c(), &id, Some(t + CODE_POLL_MS)).await?;
                tx.commit().await?;
                Ok::<_, EngineError>(())
            }
        };
        match answer {
            Ok(CodeOutcome::Final(outcome)) => {
                self.apply_outcome(&merchant_order_no, &outcome, &Actor::channel(channel.channel())).await?;
            }
            Ok(CodeOutcome::Waiting) | Err(ChannelError::Unreachable(_)) => waiting(self).await?,
            Err(ChannelError::Refused { code, message }) => {
                let outcome = ChannelOutcome::Failed { reason: format!("{code}: {message}") };
                self.apply_outcome(&merchant_order_no, &outcome, &system).await?;
            }
            // A forged or garbled answer: the outcome is unknown, so ask (and reverse if need be).
            Err(e) => {
                tracing::warn!(payment = %payment_id, error = %e, "payment-code answer not trusted; will ask the channel");
                waiting(self).await?;
            }
        }
        let mut c = self.store().read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }
}
