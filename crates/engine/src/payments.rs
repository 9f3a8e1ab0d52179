use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bursar_channels::internal::{CampusCardChannel, OfflineChannel};
use bursar_channels::{Channel, ChannelError, PayAction, PayRequest};
use bursar_domain::ledger::{self, AccountRef};
use bursar_domain::order::{self, LineToAllocate, OrderState};
use bursar_domain::payment::{ChannelKind, ChannelOutcome, Device, PayMethod, PaymentState};
use bursar_domain::Fen;
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::payments::{self as pay_store, NewPayment, PaymentRow};
use bursar_store::{merchants, receipts, receivables, Store, StoreError, Tx};

use crate::error::EngineError;

/// The job that actively queries a payment until it is final.
pub const QUERY_JOB: &str = "payment.query";

/// How long a payment may wait for the payer, and how the engine asks the channel about it.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Shown on the payer's channel page (e.g. the school's name).
    pub merchant_display_name: String,
    /// Bursar's public base URL; notifications come to `{base}/notify/{channel}`.
    pub public_base_url: String,
    /// How long a QR payment stays payable.
    pub payment_ttl_ms: i64,
    /// Active-query delays after a payment starts; the last one repeats until it expires. Chosen
    /// so that a payment whose notification was dropped is credited within 30 s of being paid.
    pub query_delays_ms: Vec<i64>,
    /// Refund overpayments (late or duplicate payments) automatically, without waiting for finance.
    pub auto_refund_overpayments: bool,
    /// How long a payment-code charge may wait for the payer before it is reversed.
    pub code_deadline_ms: i64,
    /// Opens the secrets Bursar keeps (API app secrets, for signing webhooks).
    pub sealing: bursar_channels::crypto::SealingKey,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            merchant_display_name: "Bursar".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            payment_ttl_ms: 15 * 60 * 1000,
            query_delays_ms: vec![5_000, 10_000, 15_000, 30_000],
            auto_refund_overpayments: false,
            code_deadline_ms: crate::codes::CODE_DEADLINE_MS,
            // Replaced by the master key wherever secrets are kept (`bursar::app`).
            sealing: bursar_channels::crypto::SealingKey::from_material(b"bursar default sealing key"),
        }
    }
}

/// Where a channel outcome came from (kept in the channel event log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeSource {
    Notification,
    ActiveQuery,
}

impl OutcomeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeSource::Notification => "notification",
            OutcomeSource::ActiveQuery => "active_query",
        }
    }
}

/// What applying a channel outcome did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyResult {
    /// The payment was credited now; `to_payer_credit` is what nothing was owed for any more.
    Credited { payment_id: String, to_payer_credit: Fen },
    /// Already credited with this very channel transaction: acknowledged, nothing changed.
    Duplicate,
    /// The payment moved to another state (closed, failed).
    Moved(PaymentState),
    /// Nothing to do (still pending, or nothing new).
    Unchanged,
}

/// The adapters the engine can use, by (channel, merchant number).
type Adapters = HashMap<(String, String), Arc<dyn Channel>>;

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

#[derive(Clone)]
pub struct Engine {
    store: Store,
    channels: Arc<RwLock<Adapters>>,
    config: Arc<EngineConfig>,
}

impl Engine {
    pub fn new(store: Store, adapters: Vec<Arc<dyn Channel>>, config: EngineConfig) -> Engine {
        let engine = Engine { store, channels: Arc::new(RwLock::new(HashMap::new())), config: Arc::new(config) };
        for a in adapters {
            engine.install(a);
        }
        engine
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
    /// Makes a merchant account's adapter available (replacing one with the same merchant number).
    pub fn install(&self, adapter: Arc<dyn Channel>) {
        let key = (adapter.channel().to_string(), adapter.merchant_id().to_string());
        if let Ok(mut map) = self.channels.write() {
            map.insert(key, adapter);
        }
    }
    /// The adapter of one merchant account.
    pub fn adapter(&self, channel: &str, merchant_no: &str) -> Option<Arc<dyn Channel>> {
        match channel {
            "campus_card" => Some(Arc::new(CampusCardChannel)),
            "offline" => Some(Arc::new(OfflineChannel)),
            _ => self.channels.read().ok()?.get(&(channel.to_string(), merchant_no.to_string())).cloned(),
        }
    }
    /// Every installed adapter of a channel (a notification is offered to each until one
    /// verifies it).
    pub fn adapters_of(&self, channel: &str) -> Vec<Arc<dyn Channel>> {
        match self.channels.read() {
            Ok(map) => map.iter().filter(|((c, _), _)| c == channel).map(|(_, a)| a.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }
    pub(crate) fn channel_of_payment(&self, p: &PaymentRow) -> Result<Arc<dyn Channel>, EngineError> {
        self.adapter(&p.channel, &p.merchant_id)
            .ok_or_else(|| EngineError::MethodUnavailable(format!("{} {}", p.channel, p.merchant_id)))
    }
    fn channel_of(&self, p: &PaymentRow) -> Result<Arc<dyn Channel>, EngineError> {
        self.channel_of_payment(p)
    }

    /// The merchant account that collects an order through a channel: every fee item on the
    /// order must accept the channel, and into one merchant account (a payment reaches one
    /// account; items collected into different accounts are paid separately).
    pub async fn route(&self, order_id: &str, channel: ChannelKind) -> Result<String, EngineError> {
        let mut c = self.store.read().await?;
        let items = merchants::fee_items_of_order(&mut c, order_id).await?;
        let routes = merchants::routes_of_order(&mut c, order_id).await?;
        drop(c);
        route_of(&items, &routes, channel)
    }

    /// The payment methods offered for an order on a device: the channels every item accepts
    /// into one merchant account, in each channel's flow for that device, whose adapter is
    /// available (a campus card only for a payer who holds an active card).
    pub async fn offered_methods(
        &self,
        order_id: &str,
        payer_id: &str,
        device: Device,
    ) -> Result<Vec<PayMethod>, EngineError> {
        let mut c = self.store.read().await?;
        let items = merchants::fee_items_of_order(&mut c, order_id).await?;
        let routes = merchants::routes_of_order(&mut c, order_id).await?;
        let card = bursar_store::cards::of_payer(&mut c, payer_id).await?;
        drop(c);
        let mut out = Vec::new();
        for channel in ChannelKind::ONLINE {
            let Some(method) = PayMethod::online(channel, device) else { continue };
            let Ok(merchant_no) = route_of(&items, &routes, channel) else { continue };
            let usable = match channel {
                ChannelKind::CampusCard => card.as_ref().is_some_and(|c| c.state == "active"),
                _ => self.adapter(channel.as_str(), &merchant_no).is_some_and(|a| a.methods().contains(&method)),
            };
            if usable {
                out.push(method);
            }
        }
        Ok(out)
    }

    /// Creates an order for a payer's chosen receivable lines after checking every rule: the
    /// receivable is the payer's, its item is open, the amount is within what is owed and, for
    /// a part payment, allowed and at least the minimum.
    pub async fn create_order(&self, payer_id: &str, lines: &[(String, Fen)]) -> Result<String, EngineError> {
        order::check_lines(lines)?;
        let payer_id = payer_id.to_string();
        let lines = lines.to_vec();
        self.store
            .write(|tx: &mut Tx| {
                let payer_id = payer_id.clone();
                let lines = lines.clone();
                Box::pin(async move {
                    let now = tx.now_ms;
                    let mut total = Fen::ZERO;
                    for (rid, amount) in &lines {
                        let r = match receivables::receivable(tx.c(), rid).await {
                            Ok(r) if r.payer_id == payer_id => r,
                            Ok(_) | Err(StoreError::NotFound(_)) => {
                                return Err(EngineError::NotFound(format!("应收 {rid}")))
                            }
                            Err(e) => return Err(e.into()),
                        };
                        r.rules().check_amount(now, *amount, r.outstanding()).map_err(|e| match e {
                            bursar_domain::DomainError::NotPayable(n) => {
                                bursar_domain::DomainError::Refused(format!("{}（{}）", n, r.item_name))
                            }
                            other => other,
                        })?;
                        total = total.checked_add(*amount)?;
                    }
                    let order_id = tx.new_id();
                    pay_store::insert_order(tx.c(), &order_id, &payer_id, total, now).await?;
                    for (rid, amount) in &lines {
                        pay_store::insert_order_line(tx.c(), &order_id, rid, *amount).await?;
                    }
                    let detail = format!("total_fen={} lines={}", total.get(), lines.len());
                    let change = Change {
                        action: "order.create",
                        entity: "order",
                        entity_id: &order_id,
                        before: "",
                        after: "open",
                        detail: &detail,
                    };
                    oplog::append(tx.c(), now, &Actor::payer(&payer_id), &change).await?;
                    Ok(order_id)
                })
            })
            .await
    }

    /// The portal's 业务单: an unfinished order of the payer for exactly these lines is reused (so
    /// its detail shows every attempt to pay it) instead of making another.
    pub async fn create_or_reuse_order(&self, payer_id: &str, lines: &[(String, Fen)]) -> Result<String, EngineError> {
        order::check_lines(lines)?;
        let mut wanted: Vec<(String, i64)> = lines.iter().map(|(r, a)| (r.clone(), a.get())).collect();
        wanted.sort();
        {
            let mut c = self.store.read().await?;
            // The same rules as a new order: an order is reused only while it could be made now.
            let now = self.store.now_ms();
            for (rid, amount) in lines {
                match receivables::receivable(&mut c, rid).await {
                    Ok(r)
                        if r.payer_id == payer_id && r.rules().check_amount(now, *amount, r.outstanding()).is_ok() => {}
                    _ => return self.create_order(payer_id, lines).await, // refused there, with the reason
                }
            }
            for id in pay_store::open_portal_orders(&mut c, payer_id).await? {
                let mut have: Vec<(String, i64)> = pay_store::order_lines(&mut c, &id)
                    .await?
                    .into_iter()
                    .map(|l| (l.receivable_id, l.amount_fen))
                    .collect();
                have.sort();
                let paid = pay_store::payments_of_order(&mut c, &id)
                    .await?
                    .iter()
                    .any(|p| p.state() == PaymentState::Succeeded);
                if have == wanted && !paid {
                    return Ok(id);
                }
            }
        }
        self.create_order(payer_id, lines).await
    }

    /// Starts (or resumes) paying an order through a QR channel. An unexpired payment of the same
    /// method still waiting for the payer is reused, so reloading the page never creates a
    /// second payment.
    pub async fn start_payment(
        &self,
        order_id: &str,
        payer_id: &str,
        method: PayMethod,
        ctx: &PayContext,
    ) -> Result<PaymentRow, EngineError> {
        if method.channel_kind() == ChannelKind::CampusCard || method.is_payment_code() {
            return Err(EngineError::MethodUnavailable(method.label_zh().into()));
        }
        let merchant_no = self.route(order_id, method.channel_kind()).await?;
        let channel = self
            .adapter(method.channel(), &merchant_no)
            .filter(|a| a.methods().contains(&method))
            .ok_or_else(|| EngineError::MethodUnavailable(method.label_zh().into()))?;
        let now = self.store.now_ms();
        let mut c = self.store.read().await?;
        let order =
            pay_store::order(&mut c, order_id).await.map_err(|_| EngineError::NotFound(format!("订单 {order_id}")))?;
        if order.payer_id != payer_id {
            return Err(EngineError::NotFound(format!("订单 {order_id}")));
        }
        if order.state != OrderState::Open.as_str() {
            let label = OrderState::parse(&order.state).map(|s| s.label_zh()).unwrap_or("");
            return Err(EngineError::OrderNotOpen(label.into()));
        }
        let existing = pay_store::payments_of_order(&mut c, order_id).await?;
        if existing.iter().any(|p| p.state() == PaymentState::Succeeded) {
            return Err(EngineError::OrderNotOpen("已支付".into()));
        }
        if let Some(p) = existing.iter().find(|p| {
            p.method == method.as_str()
                && p.state() == PaymentState::Paying
                && p.pay_action.is_some()
                && p.expires_at_ms > now + 60_000
        }) {
            return Ok(p.clone());
        }
        let lines = pay_store::order_lines(&mut c, order_id).await?;
        drop(c);

        // 1. Record the payment before asking the channel, so that whatever happens next it exists.
        let expires_at_ms = now + self.config.payment_ttl_ms;
        let first_query = now + self.config.query_delays_ms.first().copied().unwrap_or(5_000);
        let rec = NewRecord {
            order_id,
            payer_id,
            method,
            channel: channel.channel(),
            merchant_no: &merchant_no,
            amount: Fen(order.total_fen),
            expires_at_ms,
            first_query_at_ms: first_query,
        };
        let (payment_id, merchant_order_no) = self.record_payment(&rec, &Actor::payer(payer_id)).await?;

        // 2. Ask the channel.
        let description = match lines.first() {
            Some(l) if lines.len() == 1 => format!("{}-{}", self.config.merchant_display_name, l.item_name),
            Some(l) => format!("{}-{}等{}项", self.config.merchant_display_name, l.item_name, lines.len()),
            None => self.config.merchant_display_name.clone(),
        };
        let notify_url = format!("{}/notify/{}", self.config.public_base_url.trim_end_matches('/'), channel.channel());
        let return_url = match &ctx.return_base {
            Some(base) => format!("{}/{payment_id}", base.trim_end_matches('/')),
            None => format!("{}/portal/payments/{payment_id}", self.config.public_base_url.trim_end_matches('/')),
        };
        let req = PayRequest {
            method,
            merchant_order_no: &merchant_order_no,
            description: &description,
            amount_fen: order.total_fen,
            expires_at_ms,
            notify_url: &notify_url,
            return_url: &return_url,
            client_ip: if ctx.client_ip.is_empty() { "127.0.0.1" } else { &ctx.client_ip },
            openid: ctx.openid.as_deref(),
        };
        let created = channel.create(&req).await;

        // 3. Record what it said, and (unless it refused) start asking it until the payment is final.
        let mut tx = self.store.begin().await?;
        let tx_now = tx.now_ms;
        let system = Actor::system("engine");
        let (result, after, detail) = match created {
            Ok(action) => {
                pay_store::transition_payment(tx.c(), &payment_id, PaymentState::Created, PaymentState::Paying, tx_now)
                    .await?;
                pay_store::set_channel_accepted(tx.c(), &payment_id, &action.to_json(), action.code_url(), first_query)
                    .await?;
                (Ok(()), PaymentState::Paying, String::new())
            }
            Err(ChannelError::Refused { code, message }) => {
                let reason = format!("{code}: {message}");
                pay_store::transition_payment(tx.c(), &payment_id, PaymentState::Created, PaymentState::Failed, tx_now)
                    .await?;
                pay_store::set_failure(tx.c(), &payment_id, &reason).await?;
                (Err(EngineError::Channel(ChannelError::Refused { code, message })), PaymentState::Failed, reason)
            }
            Err(e) => {
                // Unknown outcome: the channel may have created it. Keep asking until it says.
                pay_store::transition_payment(tx.c(), &payment_id, PaymentState::Created, PaymentState::Paying, tx_now)
                    .await?;
                pay_store::schedule_next_query(tx.c(), &payment_id, Some(first_query)).await?;
                let detail = format!("the channel did not answer: {e}");
                (Err(EngineError::Channel(e)), PaymentState::Paying, detail)
            }
        };
        let action = format!("payment.{}", after.as_str());
        let change = Change {
            action: &action,
            entity: "payment",
            entity_id: &payment_id,
            before: "created",
            after: after.as_str(),
            detail: &detail,
        };
        oplog::append(tx.c(), tx_now, &system, &change).await?;
        tx.commit().await?;
        result?;
        let mut c = self.store.read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }

    /// Records a payment (state `created`) and, in the same transaction, the job that will ask the
    /// channel about it: if Bursar stops before the channel's answer is recorded, the job still
    /// finds out what became of it. Returns (payment id, merchant order number).
    pub(crate) async fn record_payment(
        &self,
        r: &NewRecord<'_>,
        actor: &Actor,
    ) -> Result<(String, String), EngineError> {
        let payment_id = self.store.new_id();
        let merchant_order_no = self.store.new_id();
        let p = NewPayment {
            id: &payment_id,
            order_id: r.order_id,
            payer_id: r.payer_id,
            method: r.method.as_str(),
            channel: r.channel,
            merchant_id: r.merchant_no,
            merchant_order_no: &merchant_order_no,
            amount: r.amount,
            expires_at_ms: r.expires_at_ms,
        };
        let mut tx = self.store.begin().await?;
        let tx_now = tx.now_ms;
        pay_store::insert_payment(tx.c(), &p, tx_now).await?;
        let detail =
            format!("method={} amount_fen={} merchant_order_no={merchant_order_no}", r.method.as_str(), r.amount.get());
        let change = Change {
            action: "payment.create",
            entity: "payment",
            entity_id: &payment_id,
            before: "",
            after: "created",
            detail: &detail,
        };
        oplog::append(tx.c(), tx_now, actor, &change).await?;
        let job_id = tx.new_id();
        let job = NewJob {
            kind: QUERY_JOB,
            dedupe_key: &payment_id,
            payload: &payment_id,
            run_at_ms: r.first_query_at_ms,
            max_attempts: 50,
        };
        job_store::enqueue(tx.c(), &job_id, &job, tx_now).await?;
        tx.commit().await?;
        Ok((payment_id, merchant_order_no))
    }

    /// Applies what a channel says about a payment, in one transaction. Idempotent: the same
    /// outcome applied twice changes nothing the second time.
    pub async fn apply_outcome(
        &self,
        merchant_order_no: &str,
        outcome: &ChannelOutcome,
        actor: &Actor,
    ) -> Result<ApplyResult, EngineError> {
        let no = merchant_order_no.to_string();
        let outcome = outcome.clone();
        let actor = actor.clone();
        let result = self
            .store
            .write(|tx: &mut Tx| {
                let no = no.clone();
                let outcome = outcome.clone();
                let actor = actor.clone();
                Box::pin(async move { apply_in_tx(tx, &no, &outcome, &actor).await })
            })
            .await?;
        if let ApplyResult::Credited { payment_id, to_payer_credit } = &result {
            if to_payer_credit.get() > 0 && self.config.auto_refund_overpayments {
                // A separate transaction: if it does not happen now, the overpayment waits in
                // finance's queue (it is in the payer's credit, not lost).
                if let Err(e) = self.auto_refund_overpayment(payment_id).await {
                    tracing::warn!(payment = %payment_id, error = %e, "automatic refund of an overpayment failed; it waits for finance");
                }
            }
        }
        Ok(result)
    }

    /// Records an inbound channel message and what was done with it (refusals included).
    pub async fn record_event(
        &self,
        channel: &str,
        kind: &str,
        merchant_order_no: Option<&str>,
        outcome: &str,
        reason: &str,
    ) {
        let id = self.store.new_id();
        let now = self.store.now_ms();
        let result = async {
            let mut c = self.store.read().await?;
            pay_store::record_channel_event(&mut c, &id, channel, kind, merchant_order_no, outcome, reason, now).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record channel event");
        }
    }

    /// Asks the channel about one payment and applies the answer; closes the payment at the
    /// channel once it has expired unpaid. Returns what happened and, while the payment still
    /// waits, when to ask next (`None`: nothing more to ask).
    pub async fn query_payment(&self, payment_id: &str) -> Result<(ApplyResult, Option<i64>), EngineError> {
        let mut c = self.store.read().await?;
        let p = pay_store::payment(&mut c, payment_id).await?;
        drop(c);
        if !matches!(p.state(), PaymentState::Paying | PaymentState::Created) {
            return Ok((ApplyResult::Unchanged, None));
        }
        let channel = self.channel_of(&p)?;
        let now = self.store.now_ms();
        let system = Actor::system("active_query");
        let outcome = match channel.query(&p.merchant_order_no).await {
            Ok(o) => o,
            Err(e) => {
                self.reschedule(&p, now).await?;
                return Err(e.into());
            }
        };
        let is_code = PayMethod::parse(&p.method).is_some_and(PayMethod::is_payment_code);
        let result = match &outcome {
            // A payment-code charge the payer never confirmed: reverse it at the deadline (the
            // channel refunds it if it was paid after all, so nothing is left half-done).
            ChannelOutcome::Pending | ChannelOutcome::NotFound if is_code && now >= p.expires_at_ms => {
                match channel.reverse(&p.merchant_order_no).await {
                    Ok(true) => self.apply_outcome(&p.merchant_order_no, &ChannelOutcome::Closed, &system).await?,
                    Ok(false) => ApplyResult::Unchanged, // the channel asks to call again
                    Err(e) => {
                        tracing::warn!(payment = %p.id, error = %e, "reversing a payment-code charge failed; will retry");
                        ApplyResult::Unchanged
                    }
                }
            }
            ChannelOutcome::Pending | ChannelOutcome::NotFound if now >= p.expires_at_ms => {
                // Expired and still unpaid: close it at the channel. If the channel says it was
                // paid after all, the next query credits it.
                match channel.close(&p.merchant_order_no).await {
                    Ok(()) => self.apply_outcome(&p.merchant_order_no, &ChannelOutcome::Closed, &system).await?,
                    Err(ChannelError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => {
                        self.apply_outcome(&p.merchant_order_no, &ChannelOutcome::NotFound, &system).await?
                    }
                    Err(e) => {
                        tracing::warn!(payment = %p.id, error = %e, "closing an expired payment failed; will ask again");
                        ApplyResult::Unchanged
                    }
                }
            }
            // The channel may not have recorded it yet (created while it was unreachable).
            ChannelOutcome::NotFound => ApplyResult::Unchanged,
            other => self.apply_outcome(&p.merchant_order_no, other, &system).await?,
        };
        if let ApplyResult::Credited { .. } = result {
            self.record_event(
                channel.channel(),
                "payment",
                Some(&p.merchant_order_no),
                "credited",
                "recovered by active query",
            )
            .await;
        }
        let next = if result == ApplyResult::Unchanged { Some(self.reschedule(&p, now).await?) } else { None };
        Ok((result, next))
    }

    /// Schedules the next active query and returns its time. Never later than one delay past
    /// the expiry, so an expired payment is closed promptly.
    async fn reschedule(&self, p: &PaymentRow, now: i64) -> Result<i64, EngineError> {
        if PayMethod::parse(&p.method).is_some_and(PayMethod::is_payment_code) {
            // A payer is waiting at the counter: ask every few seconds until the deadline.
            let at = (now + crate::codes::CODE_POLL_MS).min(p.expires_at_ms.max(now + 1_000));
            let mut c = self.store.read().await?;
            pay_store::schedule_next_query(&mut c, &p.id, Some(at)).await?;
            return Ok(at);
        }
        let delays = &self.config.query_delays_ms;
        let idx = usize::try_from(p.query_count).unwrap_or(usize::MAX).saturating_add(1);
        let delay = delays.get(idx).or(delays.last()).copied().unwrap_or(30_000);
        let at = (now + delay).min(p.expires_at_ms.max(now) + delays.first().copied().unwrap_or(delay));
        let mut c = self.store.read().await?;
        pay_store::schedule_next_query(&mut c, &p.id, Some(at)).await?;
        Ok(at)
    }

    /// Closes a payment the payer abandoned (e.g. to pay another way). If the channel says it was
    /// paid meanwhile, it is credited instead.
    pub async fn close_payment(&self, payment_id: &str, payer_id: &str) -> Result<ApplyResult, EngineError> {
        let mut c = self.store.read().await?;
        let p = pay_store::payment(&mut c, payment_id).await?;
        drop(c);
        if p.payer_id != payer_id {
            return Err(EngineError::NotFound(format!("支付 {payment_id}")));
        }
        if p.state() != PaymentState::Paying {
            return Ok(ApplyResult::Unchanged);
        }
        let channel = self.channel_of(&p)?;
        match channel.close(&p.merchant_order_no).await {
            Ok(()) => self.apply_outcome(&p.merchant_order_no, &ChannelOutcome::Closed, &Actor::payer(payer_id)).await,
            Err(ChannelError::Refused { code, .. }) if code == "ORDERPAID" => {
                let outcome = channel.query(&p.merchant_order_no).await?;
                self.apply_outcome(&p.merchant_order_no, &outcome, &Actor::system("active_query")).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A payment as the payer's page sees it; while it waits and a query is due, asks the channel
    /// first (the channel is the truth about "paid").
    pub async fn refresh_payment(&self, payment_id: &str) -> Result<PaymentRow, EngineError> {
        let mut c = self.store.read().await?;
        let p = pay_store::payment(&mut c, payment_id).await?;
        drop(c);
        let due = p.next_query_at_ms.is_some_and(|t| t <= self.store.now_ms());
        if p.state() == PaymentState::Paying && due {
            if let Err(e) = self.query_payment(payment_id).await {
                tracing::info!(payment = %payment_id, error = %e, "active query failed; will retry");
            }
            let mut c = self.store.read().await?;
            return Ok(pay_store::payment(&mut c, payment_id).await?);
        }
        Ok(p)
    }
}

/// The single money transaction: compare-and-set the payment, post the ledger entry, allocate
/// to the receivables, settle the order, issue the receipt, append to the operation log.
pub(crate) async fn apply_in_tx(
    tx: &mut Tx,
    merchant_order_no: &str,
    outcome: &ChannelOutcome,
    actor: &Actor,
) -> Result<ApplyResult, EngineError> {
    let p = pay_store::payment_by_merchant_order_no(tx.c(), merchant_order_no)
        .await?
        .ok_or_else(|| EngineError::UnknownPayment(merchant_order_no.to_string()))?;
    let state = p.state();
    let now = tx.now_ms;
    match outcome {
        ChannelOutcome::Paid { channel_txn_id, amount_fen, paid_at_ms } => {
            if *amount_fen != p.amount_fen {
                return Err(EngineError::AmountMismatch {
                    merchant_order_no: merchant_order_no.to_string(),
                    channel_fen: *amount_fen,
                    payment_fen: p.amount_fen,
                });
            }
            if state == PaymentState::Succeeded {
                return match &p.channel_txn_id {
                    Some(t) if t == channel_txn_id => Ok(ApplyResult::Duplicate),
                    other => Err(EngineError::TransactionMismatch {
                        merchant_order_no: merchant_order_no.to_string(),
                        credited: other.clone().unwrap_or_default(),
                        reported: channel_txn_id.clone(),
                    }),
                };
            }
            pay_store::transition_payment(tx.c(), &p.id, state, PaymentState::Succeeded, now).await?;
            pay_store::set_succeeded_facts(tx.c(), &p.id, channel_txn_id, *paid_at_ms).await?;

            let lines = pay_store::order_lines(tx.c(), &p.order_id).await?;
            let mut to_allocate = Vec::with_capacity(lines.len());
            let mut paid_before = HashMap::new();
            for l in &lines {
                let r = receivables::receivable(tx.c(), &l.receivable_id).await?;
                paid_before.insert(r.id.clone(), Fen(r.paid_fen));
                to_allocate.push(LineToAllocate {
                    receivable_id: r.id.clone(),
                    line_amount: Fen(l.amount_fen),
                    outstanding: r.outstanding(),
                });
            }
            let allocation = order::allocate(Fen(p.amount_fen), &to_allocate)?;
            let clearing = AccountRef::collecting(PayMethod::parse(&p.method), &p.channel, &p.merchant_id);
            let entry = ledger::payment_succeeded(&p.id, clearing, &p.payer_id, Fen(p.amount_fen), &allocation)?;
            bursar_store::ledger::post(tx, &entry).await?;
            for (rid, amount) in &allocation.to_receivables {
                let before = paid_before.get(rid).copied().unwrap_or_default();
                receivables::add_paid(tx.c(), rid, before, *amount, now).await?;
            }
            let order = pay_store::order(tx.c(), &p.order_id).await?;
            if let Some(os) = OrderState::parse(&order.state) {
                if os.can_become(OrderState::Paid) {
                    pay_store::transition_order(tx.c(), &p.order_id, os, OrderState::Paid, now).await?;
                    let change = Change {
                        action: "order.paid",
                        entity: "order",
                        entity_id: &p.order_id,
                        before: os.as_str(),
                        after: "paid",
                        detail: "",
                    };
                    oplog::append(tx.c(), now, actor, &change).await?;
                    // A business system's order: tell it, in this same transaction.
                    if let Some(api) = bursar_store::api::order_of(tx.c(), &p.order_id).await? {
                        let data = serde_json::json!({
                            "order_id": p.order_id,
                            "out_order_no": api.out_order_no,
                            "amount_fen": p.amount_fen,
                            "payment": {"id": p.id, "method": p.method, "channel": p.channel,
                                        "channel_txn_id": channel_txn_id, "paid_at": paid_at_ms / 1000},
                        });
                        Engine::emit_event(tx, &api.app_id, "order.paid", data).await?;
                    }
                }
            }
            let receipt_id = tx.new_id();
            let verify_code = tx.new_id();
            let year: String = bursar_domain::time_fmt::date_cst(now).chars().take(4).collect();
            let receipt =
                receipts::issue(tx.c(), &receipt_id, &p.id, &p.payer_id, p.amount_fen, &year, &verify_code, now)
                    .await?;
            let detail = format!(
                "channel_txn_id={channel_txn_id} amount_fen={} to_payer_credit_fen={} receipt={}",
                p.amount_fen,
                allocation.to_payer_credit.get(),
                receipt.number
            );
            log_move(tx, actor, &p.id, state, PaymentState::Succeeded, &detail).await?;
            Ok(ApplyResult::Credited { payment_id: p.id, to_payer_credit: allocation.to_payer_credit })
        }
        ChannelOutcome::Pending => Ok(ApplyResult::Unchanged),
        ChannelOutcome::Closed => move_unpaid(tx, actor, &p, state, PaymentState::Closed, "已关闭").await,
        ChannelOutcome::Failed { reason } => move_unpaid(tx, actor, &p, state, PaymentState::Failed, reason).await,
        ChannelOutcome::NotFound => move_unpaid(tx, actor, &p, state, PaymentState::Failed, "渠道无此订单").await,
    }
}

/// Moves a payment that is still waiting to closed or failed; anything else is left alone.
async fn move_unpaid(
    tx: &mut Tx,
    actor: &Actor,
    p: &PaymentRow,
    state: PaymentState,
    to: PaymentState,
    reason: &str,
) -> Result<ApplyResult, EngineError> {
    if !matches!(state, PaymentState::Created | PaymentState::Paying) {
        return Ok(ApplyResult::Unchanged);
    }
    let now = tx.now_ms;
    pay_store::transition_payment(tx.c(), &p.id, state, to, now).await?;
    pay_store::set_failure(tx.c(), &p.id, reason).await?;
    log_move(tx, actor, &p.id, state, to, reason).await?;
    Ok(ApplyResult::Moved(to))
}

async fn log_move(
    tx: &mut Tx,
    actor: &Actor,
    payment_id: &str,
    from: PaymentState,
    to: PaymentState,
    detail: &str,
) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let action = format!("payment.{}", to.as_str());
    let change = Change {
        action: &action,
        entity: "payment",
        entity_id: payment_id,
        before: from.as_str(),
        after: to.as_str(),
        detail,
    };
    oplog::append(tx.c(), now, actor, &change).await?;
    Ok(())
}

/// A payment about to be recorded.
pub(crate) struct NewRecord<'a> {
    pub order_id: &'a str,
    pub payer_id: &'a str,
    pub method: PayMethod,
    pub channel: &'a str,
    pub merchant_no: &'a str,
    pub amount: Fen,
    pub expires_at_ms: i64,
    pub first_query_at_ms: i64,
}

/// Picks the one merchant account that collects every item on an order through `channel`.
fn route_of(items: &[String], routes: &[merchants::Route], channel: ChannelKind) -> Result<String, EngineError> {
    let mut merchant: Option<&str> = None;
    for item in items {
        let Some(r) = routes.iter().find(|r| &r.fee_item_id == item && r.channel == channel.as_str()) else {
            return Err(EngineError::MethodUnavailable(format!("{}（该收费项目不支持）", channel.label_zh())));
        };
        match merchant {
            Some(m) if m != r.merchant_no => {
                return Err(EngineError::MethodUnavailable(format!(
                    "{}（所选项目收款账户不同，请分开支付）",
                    channel.label_zh()
                )))
            }
            _ => merchant = Some(&r.merchant_no),
        }
    }
    merchant.map(str::to_string).ok_or_else(|| EngineError::MethodUnavailable(channel.label_zh().into()))
}

/// What a waiting payment's page should do (stored when the channel accepted it).
pub fn pay_action_of(p: &PaymentRow) -> Option<PayAction> {
    p.pay_action.as_deref().and_then(PayAction::from_json)
}
