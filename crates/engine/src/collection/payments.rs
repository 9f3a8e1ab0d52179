//! Payments through online channels: starting one (at most one live payment per order), asking
//! the channel about it until it is final, closing it when the payer leaves or it expires.

use std::sync::Arc;

use bursar_channels::{Channel, ChannelError, PayAction, PayRequest};
use bursar_domain::access::{Permission, Principal, SystemJob};
use bursar_domain::order::OrderState;
use bursar_domain::payment::{ChannelKind, ChannelOutcome, EventKind, EventOutcome, PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::payments::{self as pay_store, NewPayment, PaymentRow};
use bursar_store::{StoreError, Tx};

use crate::collection::apply::{log_move, ApplyResult};
use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

/// The job that actively queries a payment until it is final.
pub const QUERY_JOB: &str = "payment.query";

/// A payment recorded but not yet accepted by its channel is left alone this long (its start may
/// still be on its way to the channel) before another payment of the order may close it.
const CREATED_GRACE_MS: i64 = 30_000;

/// What the engine needs to know about the payer's browser to start a payment.
#[derive(Clone, Debug, Default)]
pub struct PayContext {
    /// The payer's IP address (WeChat H5 reports it to the channel).
    pub client_ip: String,
    /// The payer's openid under the merchant's WeChat app (JSAPI inside WeChat).
    pub openid: Option<String>,
    /// Where redirect flows bring the payer back (default: the portal's payment page). The
    /// payment id is appended.
    pub return_base: Option<String>,
}

/// A payment about to be recorded.
pub(crate) struct NewRecord<'a> {
    pub order_id: &'a str,
    pub payer_id: &'a str,
    pub method: PayMethod,
    pub merchant_no: &'a str,
    pub amount: Fen,
    pub expires_at_ms: i64,
    pub first_query_at_ms: i64,
}

/// What a waiting payment's page should do (stored when the channel accepted it).
pub fn pay_action_of(p: &PaymentRow) -> Option<PayAction> {
    p.pay_action.as_deref().and_then(PayAction::from_json)
}

fn system(job: SystemJob) -> Principal {
    Principal::System(job)
}

impl Engine {
    /// The adapter a method of an order goes through.
    pub(crate) async fn channel_for(
        &self,
        order_id: &str,
        method: PayMethod,
    ) -> Result<(String, Arc<dyn Channel>), EngineError> {
        let merchant_no = self.route(order_id, method.channel_kind()).await?;
        let channel = self
            .adapter(method.channel_kind(), &merchant_no)
            .await?
            .filter(|a| a.methods().contains(&method))
            .ok_or_else(|| EngineError::MethodUnavailable(method.label_zh().into()))?;
        Ok((merchant_no, channel))
    }

    pub(crate) async fn channel_of_payment(&self, p: &PaymentRow) -> Result<Arc<dyn Channel>, EngineError> {
        self.adapter(p.channel, &p.merchant_id)
            .await?
            .ok_or_else(|| EngineError::MethodUnavailable(format!("{} {}", p.channel.label_zh(), p.merchant_id)))
    }

    /// Starts (or resumes) paying an order through an online channel. An unexpired payment of
    /// the same method still waiting for the payer is reused, so reloading the page never
    /// creates a second payment; a live payment of another method is closed at its channel
    /// first (and if the channel says it was paid meanwhile, it is credited and nothing new
    /// starts). An order never has two live payments: the store refuses a second one.
    pub async fn start_payment(
        &self,
        by: &Principal,
        order_id: &str,
        method: PayMethod,
        ctx: &PayContext,
    ) -> Result<PaymentRow, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        if method.channel_kind() == ChannelKind::CampusCard || method.is_payment_code() {
            return Err(EngineError::MethodUnavailable(method.label_zh().into()));
        }
        let (merchant_no, channel) = self.channel_for(order_id, method).await?;
        let (order, lines) = {
            let mut c = self.store().read().await?;
            let order = pay_store::order(&mut c, order_id).await.map_err(not_found(format!("订单 {order_id}")))?;
            if !scope.covers_payer(&order.payer_id) {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
            (order, pay_store::order_lines(&mut c, order_id).await?)
        };
        if let Some(reused) = self.make_way(order_id, Some(method)).await? {
            return Ok(reused);
        }
        // 1. Record the payment before asking the channel, so that whatever happens next it exists.
        let now = self.store().now_ms();
        let expires_at_ms = now + self.current_policy().await?.payment_ttl_ms;
        let first_query = now + self.config().query_delays_ms.first().copied().unwrap_or(5_000);
        let rec = NewRecord {
            order_id,
            payer_id: &order.payer_id,
            method,
            merchant_no: &merchant_no,
            amount: order.total_fen,
            expires_at_ms,
            first_query_at_ms: first_query,
        };
        let (payment_id, merchant_order_no) = self.record_payment(&rec, by).await?;

        // 2. Ask the channel.
        let name = &self.config().merchant_display_name;
        let description = match lines.first() {
            Some(l) if lines.len() == 1 => format!("{name}-{}", l.item_name),
            Some(l) => format!("{name}-{}等{}项", l.item_name, lines.len()),
            None => name.clone(),
        };
        let base = self.config().public_base_url.trim_end_matches('/').to_string();
        let notify_url = format!("{base}/notify/{}", channel.channel());
        let return_url = match &ctx.return_base {
            Some(b) => format!("{}/{payment_id}", b.trim_end_matches('/')),
            None => format!("{base}/portal/payments/{payment_id}"),
        };
        let req = PayRequest {
            method,
            merchant_order_no: &merchant_order_no,
            description: &description,
            amount_fen: order.total_fen.get(),
            expires_at_ms,
            notify_url: &notify_url,
            return_url: &return_url,
            client_ip: if ctx.client_ip.is_empty() { "127.0.0.1" } else { &ctx.client_ip },
            openid: ctx.openid.as_deref(),
        };
        let created = channel.create(&req).await;

        // 3. Record what it said, and (unless it refused) keep asking it until the payment is final.
        let (id, created) = (payment_id.clone(), Arc::new(created));
        let outcome = self
            .store()
            .write(|tx: &mut Tx| {
                let (id, created) = (id.clone(), created.clone());
                Box::pin(async move { record_channel_answer(tx, &id, &created, first_query).await })
            })
            .await?;
        outcome?;
        let mut c = self.store().read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }

    /// Makes way for a new payment of an order: returns a live payment of `reuse` that can be
    /// shown again, or closes the live payment at its channel. Refused with the reason when the
    /// order is paid or closed, or the live payment cannot be ended now.
    pub(crate) async fn make_way(
        &self,
        order_id: &str,
        reuse: Option<PayMethod>,
    ) -> Result<Option<PaymentRow>, EngineError> {
        for _ in 0..3 {
            let (order, live) = {
                let mut c = self.store().read().await?;
                (pay_store::order(&mut c, order_id).await?, pay_store::live_payment_of_order(&mut c, order_id).await?)
            };
            if order.state != OrderState::Open {
                return Err(EngineError::OrderNotOpen(order.state.label_zh().into()));
            }
            let Some(live) = live else { return Ok(None) };
            let now = self.store().now_ms();
            if reuse == Some(live.method)
                && live.state == PaymentState::Paying
                && live.pay_action.is_some()
                && live.expires_at_ms > now + 60_000
            {
                return Ok(Some(live));
            }
            if live.state == PaymentState::Created && now - live.created_at_ms < CREATED_GRACE_MS {
                return Err(refused("另一笔支付正在发起，请稍后再试"));
            }
            let channel = self.channel_of_payment(&live).await?;
            if !channel.closes_unpaid() && live.expires_at_ms > now {
                return Err(refused(format!(
                    "上一笔{}支付尚未结束，可继续完成该笔支付，或在 {} 后改用其他方式",
                    live.method.label_zh(),
                    bursar_domain::time_fmt::datetime_cst(live.expires_at_ms)
                )));
            }
            match self.end_at_channel(&live, &channel).await? {
                ApplyResult::Credited { .. } | ApplyResult::Duplicate => {
                    return Err(EngineError::OrderNotOpen("已支付".into()))
                }
                ApplyResult::Moved(_) => continue,
                ApplyResult::Unchanged => {
                    return Err(refused("上一笔支付尚未结束，请稍后再试"));
                }
            }
        }
        Err(refused("支付状态正在变化，请稍后再试"))
    }

    /// Closes a live payment at its channel and applies the answer: closed, or credited when
    /// the channel says it was paid after all. `Unchanged` when the channel could not say.
    async fn end_at_channel(&self, p: &PaymentRow, channel: &Arc<dyn Channel>) -> Result<ApplyResult, EngineError> {
        let engine = system(SystemJob::Engine);
        match channel.close(&p.merchant_order_no).await {
            Ok(()) => self.apply_outcome(&engine, &p.merchant_order_no, &ChannelOutcome::Closed).await,
            Err(ChannelError::Refused { code, .. }) if code == "ORDERPAID" => {
                let outcome = channel.query(&p.merchant_order_no).await?;
                self.apply_outcome(&system(SystemJob::ActiveQuery), &p.merchant_order_no, &outcome).await
            }
            Err(ChannelError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => {
                self.apply_outcome(&engine, &p.merchant_order_no, &ChannelOutcome::NotFound).await
            }
            Err(e) => {
                tracing::warn!(payment = %p.id, error = %e, "closing a payment at its channel failed");
                Ok(ApplyResult::Unchanged)
            }
        }
    }

    /// Records a payment (state `created`, taking the order's live slot) and, in the same
    /// transaction, the job that will ask the channel about it: if Bursar stops before the
    /// channel's answer is recorded, the job still finds out what became of it. Returns
    /// (payment id, merchant order number).
    pub(crate) async fn record_payment(
        &self,
        r: &NewRecord<'_>,
        by: &Principal,
    ) -> Result<(String, String), EngineError> {
        let (order_id, payer_id, merchant_no) =
            (r.order_id.to_string(), r.payer_id.to_string(), r.merchant_no.to_string());
        let (method, amount, expires_at_ms, first_query) = (r.method, r.amount, r.expires_at_ms, r.first_query_at_ms);
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (order_id, payer_id, merchant_no, by) =
                    (order_id.clone(), payer_id.clone(), merchant_no.clone(), by.clone());
                Box::pin(async move {
                    let order = pay_store::order(tx, &order_id).await?;
                    if order.state != OrderState::Open {
                        return Err(EngineError::OrderNotOpen(order.state.label_zh().into()));
                    }
                    crate::collection::orders::check_order_payable(tx, &order).await?;
                    let payment_id = tx.new_id();
                    let merchant_order_no = tx.new_id();
                    let p = NewPayment {
                        id: &payment_id,
                        order_id: &order_id,
                        payer_id: &payer_id,
                        method,
                        merchant_id: &merchant_no,
                        merchant_order_no: &merchant_order_no,
                        amount,
                        expires_at_ms,
                        collected_by: by.operator().map(|o| o.id.as_str()),
                    };
                    let now = tx.now_ms;
                    pay_store::insert_payment(tx, &p, now).await.map_err(|e| match e {
                        StoreError::Duplicate(_) => refused("该订单有一笔支付正在进行，请稍后再试"),
                        other => other.into(),
                    })?;
                    let detail = format!(
                        "method={} amount_fen={} merchant_order_no={merchant_order_no}",
                        method.as_str(),
                        amount.get()
                    );
                    log(tx, &by, "payment.create", ("payment", &payment_id), ("", "created"), &detail).await?;
                    let job_id = tx.new_id();
                    let job = NewJob {
                        kind: QUERY_JOB,
                        dedupe_key: &payment_id,
                        payload: &payment_id,
                        run_at_ms: first_query,
                        max_attempts: 50,
                    };
                    job_store::enqueue(tx, &job_id, &job, now).await?;
                    Ok((payment_id, merchant_order_no))
                })
            })
            .await
    }

    /// Asks the channel about one payment and applies the answer; closes the payment at the
    /// channel once it has expired unpaid. Returns what happened and, while the payment still
    /// waits, when to ask next (`None`: nothing more to ask).
    pub async fn query_payment(&self, payment_id: &str) -> Result<(ApplyResult, Option<i64>), EngineError> {
        let mut c = self.store().read().await?;
        let p = pay_store::payment(&mut c, payment_id).await?;
        drop(c);
        if !p.state.is_live() {
            return Ok((ApplyResult::Unchanged, None));
        }
        let channel = self.channel_of_payment(&p).await?;
        let now = self.store().now_ms();
        let query = system(SystemJob::ActiveQuery);
        let outcome = match channel.query(&p.merchant_order_no).await {
            Ok(o) => o,
            Err(e) => {
                self.reschedule(&p, now).await?;
                return Err(e.into());
            }
        };
        let expired = now >= p.expires_at_ms;
        let result = match &outcome {
            // A payment-code charge the payer never confirmed: reverse it at the deadline (the
            // channel refunds it if it was paid after all, so nothing is left half-done).
            ChannelOutcome::Pending | ChannelOutcome::NotFound if p.method.is_payment_code() && expired => {
                match channel.reverse(&p.merchant_order_no).await {
                    Ok(true) => self.apply_outcome(&query, &p.merchant_order_no, &ChannelOutcome::Closed).await?,
                    Ok(false) => ApplyResult::Unchanged, // the channel asks to call again
                    Err(e) => {
                        tracing::warn!(payment = %p.id, error = %e, "reversing a payment-code charge failed; will retry");
                        ApplyResult::Unchanged
                    }
                }
            }
            // Expired and still unpaid: close it at the channel. If the channel says it was
            // paid after all, the next query credits it.
            ChannelOutcome::Pending | ChannelOutcome::NotFound if expired => self.end_at_channel(&p, &channel).await?,
            // The channel may not have recorded it yet (created while it was unreachable).
            ChannelOutcome::NotFound => ApplyResult::Unchanged,
            other => self.apply_outcome(&query, &p.merchant_order_no, other).await?,
        };
        if let ApplyResult::Credited { .. } = result {
            self.record_event(
                channel.channel(),
                EventKind::ActiveQuery,
                Some(&p.merchant_order_no),
                EventOutcome::Credited,
                "主动查询补单入账",
            )
            .await;
        }
        let next = if result == ApplyResult::Unchanged { Some(self.reschedule(&p, now).await?) } else { None };
        Ok((result, next))
    }

    /// Schedules the next active query and returns its time. Never later than one delay past
    /// the expiry, so an expired payment is closed promptly.
    async fn reschedule(&self, p: &PaymentRow, now: i64) -> Result<i64, EngineError> {
        let at = if p.method.is_payment_code() {
            // A payer is waiting at the counter: ask every few seconds until the deadline.
            (now + crate::collection::codes::CODE_POLL_MS).min(p.expires_at_ms.max(now + 1_000))
        } else {
            let delays = &self.config().query_delays_ms;
            let idx = usize::try_from(p.query_count).unwrap_or(usize::MAX).saturating_add(1);
            let delay = delays.get(idx).or(delays.last()).copied().unwrap_or(30_000);
            (now + delay).min(p.expires_at_ms.max(now) + delays.first().copied().unwrap_or(delay))
        };
        let id = p.id.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let id = id.clone();
                Box::pin(async move { pay_store::schedule_next_query(tx, &id, Some(at)).await })
            })
            .await?;
        Ok(at)
    }

    /// Closes a payment the payer abandoned (e.g. to pay another way). If the channel says it was
    /// paid meanwhile, it is credited instead.
    pub async fn close_payment(&self, by: &Principal, payment_id: &str) -> Result<ApplyResult, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let mut c = self.store().read().await?;
        let p = pay_store::payment(&mut c, payment_id).await.map_err(not_found(format!("支付 {payment_id}")))?;
        drop(c);
        if !scope.covers_payer(&p.payer_id) {
            return Err(EngineError::NotFound(format!("支付 {payment_id}")));
        }
        if p.state != PaymentState::Paying {
            return Ok(ApplyResult::Unchanged);
        }
        let channel = self.channel_of_payment(&p).await?;
        self.end_at_channel(&p, &channel).await
    }

    /// A payment as the payer's page sees it; while it waits and a query is due, asks the channel
    /// first (the channel is the truth about "paid").
    pub async fn refresh_payment(&self, payment_id: &str) -> Result<PaymentRow, EngineError> {
        let mut c = self.store().read().await?;
        let p = pay_store::payment(&mut c, payment_id).await?;
        drop(c);
        let due = p.next_query_at_ms.is_some_and(|t| t <= self.store().now_ms());
        if p.state == PaymentState::Paying && due {
            if let Err(e) = self.query_payment(payment_id).await {
                tracing::info!(payment = %payment_id, error = %e, "active query failed; will retry");
            }
            let mut c = self.store().read().await?;
            return Ok(pay_store::payment(&mut c, payment_id).await?);
        }
        Ok(p)
    }
}

/// Step 3 of starting a payment: what the channel answered, in one transaction.
async fn record_channel_answer(
    tx: &mut Tx,
    payment_id: &str,
    created: &Result<PayAction, ChannelError>,
    first_query: i64,
) -> Result<Result<(), EngineError>, EngineError> {
    let now = tx.now_ms;
    let engine = system(SystemJob::Engine);
    let (after, detail, result) = match created {
        Ok(action) => {
            pay_store::transition_payment(tx, payment_id, PaymentState::Created, PaymentState::Paying, now).await?;
            pay_store::set_channel_accepted(tx, payment_id, &action.to_json(), action.code_url(), first_query).await?;
            (PaymentState::Paying, String::new(), Ok(()))
        }
        Err(ChannelError::Refused { code, message }) => {
            let reason = format!("{code}: {message}");
            pay_store::transition_payment(tx, payment_id, PaymentState::Created, PaymentState::Failed, now).await?;
            pay_store::set_failure(tx, payment_id, &reason).await?;
            let e = ChannelError::Refused { code: code.clone(), message: message.clone() };
            (PaymentState::Failed, reason, Err(EngineError::Channel(e)))
        }
        Err(e) => {
            // Unknown outcome: the channel may have created it. Keep asking until it says.
            pay_store::transition_payment(tx, payment_id, PaymentState::Created, PaymentState::Paying, now).await?;
            pay_store::schedule_next_query(tx, payment_id, Some(first_query)).await?;
            let detail = format!("the channel did not answer: {e}");
            (PaymentState::Paying, detail, Err(EngineError::Channel(ChannelError::Unreachable(e.to_string()))))
        }
    };
    log_move(tx, &engine, payment_id, PaymentState::Created, after, &detail).await?;
    Ok(result)
}
