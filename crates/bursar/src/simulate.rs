//! A deterministic, seeded simulation of the payment engine under faults: the real engine and
//! store, a virtual clock, seeded ids, and an in-process channel that loses, duplicates, delays
//! and reorders notifications, times out, and "crashes" Bursar in the middle of operations (the
//! operation's future is dropped mid-flight, exactly as a killed process leaves it).
//!
//! After every step it checks that nothing was credited twice; every `check_every` steps and at
//! the end it runs the full ledger verification; at the end it checks that every payment the
//! channel says was paid is credited exactly once and nothing else is, and reports how long
//! payments whose notifications were all lost took to be recovered by active queries.
//! A failure names the seed; `bursar simulate --seed N` replays it exactly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use async_trait::async_trait;
use bursar_channels::{Channel, ChannelError, PayAction, PayRequest};
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::{Clock, Fen, ManualClock, SeqIds};
use bursar_engine::{Actor, ApplyResult, Engine, EngineConfig, EngineError};
use bursar_store::payers::{self, NewPayer};
use bursar_store::receivables::{self, NewFeeItem};
use bursar_store::{ledger, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;

/// Fault probabilities and timings.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Every notification of a payment is lost (only active queries can recover it).
    pub drop_notification: f64,
    /// A notification is delivered twice.
    pub duplicate_notification: f64,
    /// Bursar applied a notification but the channel never saw the acknowledgement: it redelivers.
    pub lost_ack: f64,
    /// Notifications arrive after up to this delay (so they also arrive out of order).
    pub max_notify_delay_ms: i64,
    /// The channel does not answer the create call (it may or may not have recorded the order).
    pub create_timeout: f64,
    /// The channel does not answer a query.
    pub query_timeout: f64,
    /// Bursar dies while waiting for the channel to create a payment.
    pub crash_in_create: f64,
    /// Bursar dies while a job is asking the channel.
    pub crash_in_job: f64,
    /// The payer never pays.
    pub abandon: f64,
    /// A credited payment is (partly) refunded.
    pub refund: f64,
    /// Finance rejects a refund request.
    pub refund_rejected: f64,
    /// The channel fails a refund (finance then retries it or pays it by transfer).
    pub refund_fails: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_notification: 0.2,
            duplicate_notification: 0.1,
            lost_ack: 0.05,
            max_notify_delay_ms: 120_000,
            create_timeout: 0.02,
            query_timeout: 0.03,
            crash_in_create: 0.01,
            crash_in_job: 0.005,
            abandon: 0.25,
            refund: 0.08,
            refund_rejected: 0.2,
            refund_fails: 0.15,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub payments: usize,
    /// Store URL; `None` makes a fresh SQLite file (in /dev/shm when there is one).
    pub database_url: Option<String>,
    pub faults: Faults,
    /// Run the full ledger verification every this many steps (and at the end).
    pub check_every: usize,
    pub progress: bool,
    /// How long a payment stays payable (the engine's TTL); payers pay within it or a minute after.
    pub ttl_ms: i64,
}

#[derive(Clone, Debug, Default)]
pub struct SimReport {
    pub seed: u64,
    pub payments_started: usize,
    pub paid_at_channel: usize,
    pub credited: usize,
    pub lost_credits: usize,
    pub double_credits: usize,
    pub crashes: usize,
    pub notifications_dropped: usize,
    /// Virtual ms from "paid at the channel" to "credited", for payments whose every notification
    /// was lost, sorted.
    pub recovery_ms: Vec<i64>,
    pub refunds_requested: usize,
    pub refunds_paid_out: usize,
    pub refunds_by_transfer: usize,
    pub refunds_rejected: usize,
    /// Refunds the channel acknowledged and lost, which Bursar submitted again.
    pub refunds_lost_by_channel: usize,
    pub steps: usize,
    pub full_verifications: usize,
    pub elapsed_ms: u128,
}

impl SimReport {
    pub fn percentile(&self, p: f64) -> Option<i64> {
        if self.recovery_ms.is_empty() {
            return None;
        }
        let idx = ((self.recovery_ms.len() as f64 - 1.0) * p).round() as usize;
        self.recovery_ms.get(idx).copied()
    }
    pub fn render(&self) -> String {
        let pct = |p| self.percentile(p).map(|v| format!("{:.1} s", v as f64 / 1000.0)).unwrap_or_else(|| "—".into());
        format!(
            "seed {}: {} payments started, {} paid at the channel, {} credited; lost credits {}, double credits {}; \
             {} crashes injected, {} payments lost every notification; recovery by active query p50 {} / p99 {} / max {} \
             (n={}); refunds: {} requested, {} paid out by the channel, {} by transfer, {} rejected, {} lost by the channel and resubmitted; \
             {} steps, {} full verifications, {:.1} s",
            self.seed,
            self.payments_started,
            self.paid_at_channel,
            self.credited,
            self.lost_credits,
            self.double_credits,
            self.crashes,
            self.notifications_dropped,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            self.recovery_ms.len(),
            self.refunds_requested,
            self.refunds_paid_out,
            self.refunds_by_transfer,
            self.refunds_rejected,
            self.refunds_lost_by_channel,
            self.steps,
            self.full_verifications,
            self.elapsed_ms as f64 / 1000.0
        )
    }
}

// ---- the simulated channel ----

#[derive(Clone, Debug, PartialEq, Eq)]
enum ChanState {
    NotPaid,
    Paid { txn: String },
    Closed,
}

#[derive(Clone, Debug)]
struct ChanOrder {
    amount_fen: i64,
    state: ChanState,
    expires_at_ms: i64,
}

#[derive(Clone, Debug)]
struct ChanRefund {
    amount_fen: i64,
    order_no: String,
    /// `None` while processing; then paid out or failed.
    settled: Option<bool>,
}

struct ChannelInner {
    refunds: BTreeMap<String, ChanRefund>,
    /// Refunds accepted since the simulation last looked (it schedules their settlement).
    new_refunds: Vec<String>,
    /// Refunds the channel acknowledged and then lost.
    lost_refunds: usize,
    orders: BTreeMap<String, ChanOrder>,
    rng: StdRng,
    faults: Faults,
    txn_seq: u64,
}

/// The channel's side, in process. Crashes: the call signals `crash` and never returns; the
/// simulation then drops the engine's future.
#[derive(Clone)]
struct SimChannel {
    inner: Arc<Mutex<ChannelInner>>,
    crash: Arc<Notify>,
    clock: ManualClock,
}

impl SimChannel {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The payer pays at the channel; returns the channel transaction id when it worked.
    fn pay(&self, no: &str) -> Option<String> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        g.txn_seq += 1;
        let txn = format!("4200{:024}", g.txn_seq);
        let order = g.orders.get_mut(no)?;
        if order.state != ChanState::NotPaid || now > order.expires_at_ms {
            return None;
        }
        order.state = ChanState::Paid { txn: txn.clone() };
        Some(txn)
    }
}

/// The simulated channel's merchant number.
const SIM_MCHID: &str = "1900000001";

#[async_trait]
impl Channel for SimChannel {
    fn channel(&self) -> &'static str {
        "wechatpay"
    }
    fn merchant_id(&self) -> &str {
        SIM_MCHID
    }
    fn methods(&self) -> &[PayMethod] {
        &[PayMethod::WechatNative]
    }
    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        let (crash, timeout, record) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            let crash = g.rng.gen_bool(f.crash_in_create);
            let timeout = g.rng.gen_bool(f.create_timeout);
            let record = !(crash || timeout) || g.rng.gen_bool(0.5);
            (crash, timeout, record)
        };
        if record {
            let order =
                ChanOrder { amount_fen: req.amount_fen, state: ChanState::NotPaid, expires_at_ms: req.expires_at_ms };
            self.lock().orders.entry(req.merchant_order_no.to_string()).or_insert(order);
        }
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        if timeout {
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        Ok(PayAction::Qr { code_url: format!("weixin://wxpay/bizpayurl?pr={}", req.merchant_order_no) })
    }
    async fn query(&self, no: &str) -> Result<ChannelOutcome, ChannelError> {
        let (crash, timeout) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            (g.rng.gen_bool(f.crash_in_job), g.rng.gen_bool(f.query_timeout))
        };
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        if timeout {
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        let now = self.clock.now_ms();
        let g = self.lock();
        Ok(match g.orders.get(no) {
            None => ChannelOutcome::NotFound,
            Some(o) => match &o.state {
                ChanState::NotPaid => ChannelOutcome::Pending,
                ChanState::Closed => ChannelOutcome::Closed,
                ChanState::Paid { txn } => {
                    ChannelOutcome::Paid { channel_txn_id: txn.clone(), amount_fen: o.amount_fen, paid_at_ms: now }
                }
            },
        })
    }
    async fn refund(&self, req: &bursar_channels::RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        let (crash, timeout) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            (g.rng.gen_bool(f.crash_in_job), g.rng.gen_bool(f.query_timeout))
        };
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut g = self.lock();
            let paid =
                matches!(g.orders.get(req.merchant_order_no), Some(ChanOrder { state: ChanState::Paid { .. }, .. }));
            if !paid {
                return Err(ChannelError::Refused {
                    code: "INVALID_REQUEST".into(), message: "订单未支付".into()
                });
            }
            // The channel's own limit: never more than was paid, over the refunds it has not failed.
            let already: i64 = g
                .refunds
                .iter()
                .filter(|(no, r)| {
                    r.order_no == req.merchant_order_no && r.settled != Some(false) && no.as_str() != req.out_refund_no
                })
                .map(|(_, r)| r.amount_fen)
                .sum();
            let order_amount = g.orders.get(req.merchant_order_no).map(|o| o.amount_fen).unwrap_or(0);
            if already + req.refund_fen > order_amount {
                return Err(ChannelError::Refused {
                    code: "INVALID_REQUEST".into(),
                    message: "退款金额超过订单可退金额".into(),
                });
            }
            // Now and then the channel acknowledges a refund and then loses it: Bursar's query finds
            // nothing and must submit it again.
            let lose = g.rng.gen_bool(0.05);
            if lose && !g.refunds.contains_key(req.out_refund_no) {
                g.lost_refunds += 1;
                return Ok(RefundOutcome::Processing { channel_refund_id: format!("R{}", req.out_refund_no) });
            }
            if !g.refunds.contains_key(req.out_refund_no) {
                let r = ChanRefund {
                    amount_fen: req.refund_fen,
                    settled: None,
                    order_no: req.merchant_order_no.to_string(),
                };
                g.refunds.insert(req.out_refund_no.to_string(), r);
                g.new_refunds.push(req.out_refund_no.to_string());
            }
        }
        if timeout {
            // The channel took it but the answer was lost: the job asks again with the same number.
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        self.refund_query(req.merchant_order_no, req.out_refund_no).await
    }
    async fn refund_query(&self, _merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError> {
        let g = self.lock();
        Ok(match g.refunds.get(out_refund_no) {
            None => RefundOutcome::NotFound,
            Some(ChanRefund { settled: None, .. }) => {
                RefundOutcome::Processing { channel_refund_id: format!("R{out_refund_no}") }
            }
            Some(ChanRefund { settled: Some(true), amount_fen, .. }) => {
                RefundOutcome::Succeeded { channel_refund_id: format!("R{out_refund_no}"), amount_fen: *amount_fen }
            }
            Some(ChanRefund { settled: Some(false), .. }) => RefundOutcome::Failed { reason: "ABNORMAL".into() },
        })
    }
    async fn close(&self, no: &str) -> Result<(), ChannelError> {
        let mut g = self.lock();
        match g.orders.get_mut(no) {
            None => Err(ChannelError::Refused { code: "ORDER_NOT_EXIST".into(), message: "订单不存在".into() }),
            Some(o) if matches!(o.state, ChanState::Paid { .. }) => {
                Err(ChannelError::Refused { code: "ORDERPAID".into(), message: "该订单已支付".into() })
            }
            Some(o) => {
                o.state = ChanState::Closed;
                Ok(())
            }
        }
    }
}

// ---- the simulation ----

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive,
    Pay { no: String },
    Notify { no: String },
    Tick,
    RequestRefund { no: String },
    SettleRefund { out_refund_no: String },
    NotifyRefund { out_refund_no: String },
    FinanceActs { refund_id: String },
}

#[derive(Default)]
struct Truth {
    paid_at: BTreeMap<String, i64>,
    amount: BTreeMap<String, i64>,
    all_dropped: BTreeMap<String, bool>,
    credited_at: BTreeMap<String, i64>,
}

struct Sim {
    engine: Engine,
    worker: bursar_jobs::Worker,
    channel: SimChannel,
    clock: ManualClock,
    rng: StdRng,
    faults: Faults,
    queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    seq: u64,
    receivables: Vec<(String, String)>,
    truth: Truth,
    report: SimReport,
    ttl_ms: i64,
    finance: bursar_store::payers::OperatorRow,
    /// When the next tick is scheduled (`i64::MAX`: none).
    next_tick_at: i64,
    /// Failed refunds finance has been told about.
    failed_seen: std::collections::BTreeSet<String>,
}

const TICK_MS: i64 = 1_000;

impl Sim {
    fn at(&mut self, time: i64, e: Event) {
        self.seq += 1;
        self.queue.push(Reverse((time, self.seq, e)));
    }

    fn note_result(&mut self, no: &str, r: &Result<ApplyResult, EngineError>) -> anyhow::Result<()> {
        if let Ok(ApplyResult::Credited { .. }) = r {
            if self.truth.credited_at.insert(no.to_string(), self.clock.now_ms()).is_some() {
                self.report.double_credits += 1;
                bail!("payment {no} was credited twice");
            }
            self.maybe_refund(no);
        }
        Ok(())
    }

    fn maybe_refund(&mut self, no: &str) {
        if self.rng.gen_bool(self.faults.refund) {
            let when = self.clock.now_ms() + self.rng.gen_range(1_000..600_000);
            self.at(when, Event::RequestRefund { no: no.to_string() });
        }
    }

    /// Finance asks for (part of) a credited payment back, and decides at once.
    async fn request_refund(&mut self, no: String) -> anyhow::Result<()> {
        let mut c = self.engine.store().read().await?;
        let Some(p) = bursar_store::payments::payment_by_merchant_order_no(&mut c, &no).await? else { return Ok(()) };
        let allocations = bursar_store::refunds::payment_allocations(&mut c, &p.id).await?;
        drop(c);
        let kind = if allocations.iter().any(|(k, _, _)| k == "payer_credit") {
            bursar_domain::refund::RefundKind::Overpayment
        } else if self.rng.gen_bool(0.5) {
            bursar_domain::refund::RefundKind::PaidInError
        } else {
            bursar_domain::refund::RefundKind::FeeCancelled
        };
        let amount = Fen(self.rng.gen_range(1..=p.amount_fen));
        let finance = self.finance.clone();
        let refund_id = match self.engine.request_refund(&finance, &p.id, amount, kind, "模拟退款").await {
            Ok(id) => id,
            // More than is left to refund (an earlier refund took it): refused, nothing changes.
            Err(EngineError::Rule(_)) => return Ok(()),
            Err(e) => return Err(e).context("request refund"),
        };
        self.report.refunds_requested += 1;
        let approve = !self.rng.gen_bool(self.faults.refund_rejected);
        self.engine.decide_refund(&finance, &refund_id, approve).await.context("decide refund")?;
        if !approve {
            self.report.refunds_rejected += 1;
        }
        Ok(())
    }

    /// The channel settles a refund it accepted: pays it out or fails it, and notifies (or not).
    fn settle_refund(&mut self, out_refund_no: String) {
        let fail = self.rng.gen_bool(self.faults.refund_fails);
        {
            let mut g = self.channel.lock();
            let Some(r) = g.refunds.get_mut(&out_refund_no) else { return };
            r.settled = Some(!fail);
        }
        if !self.rng.gen_bool(self.faults.drop_notification) {
            let when = self.clock.now_ms() + self.rng.gen_range(0..=self.faults.max_notify_delay_ms);
            self.at(when, Event::NotifyRefund { out_refund_no });
        }
    }

    async fn notify_refund(&mut self, out_refund_no: String) -> anyhow::Result<()> {
        let outcome = self.channel.refund_query("", &out_refund_no).await?;
        match self.engine.apply_refund_outcome(&out_refund_no, &outcome, &Actor::channel("wechatpay")).await {
            Ok(_) => Ok(()),
            // A late notification of a failed attempt finance already replaced: Bursar no longer
            // knows that refund number and refuses it; nothing changes.
            Err(EngineError::UnknownPayment(_) | EngineError::Rule(_))
                if matches!(outcome, RefundOutcome::Failed { .. }) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("applying a refund notification"),
        }
    }

    /// Finance deals with a failed refund: sends it again, or pays it by bank transfer.
    async fn finance_acts(&mut self, refund_id: String) -> anyhow::Result<()> {
        let finance = self.finance.clone();
        let result = if self.rng.gen_bool(0.7) {
            self.engine.retry_refund(&finance, &refund_id).await
        } else {
            let reference = format!("BANK{refund_id}");
            self.engine.manual_refund(&finance, &refund_id, &reference).await
        };
        match result {
            // It moved on meanwhile (finance acts on what it saw a while ago): refused, nothing changes.
            Ok(()) | Err(EngineError::Rule(_)) => Ok(()),
            Err(e) => Err(e).context("finance acting on a failed refund"),
        }
    }

    /// After every step: schedule what the channel and finance do next.
    async fn follow_up(&mut self) -> anyhow::Result<()> {
        let new: Vec<String> = std::mem::take(&mut self.channel.lock().new_refunds);
        for out_refund_no in new {
            let when = self.clock.now_ms() + self.rng.gen_range(1_000..60_000);
            self.at(when, Event::SettleRefund { out_refund_no });
        }
        Ok(())
    }

    async fn notice_failed_refunds(&mut self) -> anyhow::Result<()> {
        let mut c = self.engine.store().read().await?;
        let failed = bursar_store::refunds::list(&mut c, Some("failed"), 10_000).await?;
        drop(c);
        for r in failed {
            let key = format!("{}:{}", r.id, r.attempt);
            if self.failed_seen.insert(key) {
                let when = self.clock.now_ms() + self.rng.gen_range(60_000..3_600_000);
                self.at(when, Event::FinanceActs { refund_id: r.id });
            }
        }
        Ok(())
    }

    /// Runs `fut` unless the channel "crashes" Bursar first, in which case the future is dropped.
    async fn crashable<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        let crash = self.channel.crash.clone();
        tokio::select! {
            biased;
            r = fut => Some(r),
            _ = crash.notified() => { self.report.crashes += 1; None }
        }
    }

    async fn arrive(&mut self) -> anyhow::Result<()> {
        // A payer who still owes something (small bills get settled, and then overpaid by racing payments).
        let mut pick = None;
        for _ in 0..20 {
            let (payer, rid) = self.receivables[self.rng.gen_range(0..self.receivables.len())].clone();
            let outstanding = {
                let mut c = self.engine.store().read().await?;
                receivables::receivable(&mut c, &rid).await?.outstanding()
            };
            if outstanding.get() > 0 {
                pick = Some((payer, rid, outstanding));
                break;
            }
        }
        let Some((payer, rid, outstanding)) = pick else { return Ok(()) };
        let amount = if outstanding.get() < 50_000 {
            outstanding
        } else {
            Fen(self.rng.gen_range(100..=outstanding.get().min(500_000)))
        };
        let order = self.engine.create_order(&payer, &[(rid, amount)]).await.context("create order")?;
        self.report.payments_started += 1;
        let engine = self.engine.clone();
        let started = self
            .crashable(engine.start_payment(
                &order,
                &payer,
                PayMethod::WechatNative,
                &bursar_engine::PayContext::default(),
            ))
            .await;
        let payment = match started {
            Some(Ok(p)) => p,
            Some(Err(EngineError::Channel(_))) | None => return Ok(()), // timed out or crashed: the job sorts it out
            Some(Err(e)) => return Err(e).context("start payment"),
        };
        if self.rng.gen_bool(self.faults.abandon) {
            return Ok(());
        }
        let when = self.clock.now_ms() + self.rng.gen_range(1_000..self.ttl_ms + 60_000);
        self.at(when, Event::Pay { no: payment.merchant_order_no });
        Ok(())
    }

    fn pay(&mut self, no: String) {
        let Some(_txn) = self.channel.pay(&no) else { return };
        let now = self.clock.now_ms();
        self.report.paid_at_channel += 1;
        self.truth.paid_at.insert(no.clone(), now);
        let amount = self.channel.lock().orders.get(&no).map(|o| o.amount_fen).unwrap_or(0);
        self.truth.amount.insert(no.clone(), amount);
        if self.rng.gen_bool(self.faults.drop_notification) {
            self.report.notifications_dropped += 1;
            self.truth.all_dropped.insert(no, true);
            return;
        }
        let delay = self.rng.gen_range(0..=self.faults.max_notify_delay_ms);
        self.at(now + delay, Event::Notify { no: no.clone() });
        if self.rng.gen_bool(self.faults.duplicate_notification) {
            let again = self.rng.gen_range(0..=self.faults.max_notify_delay_ms * 2);
            self.at(now + again, Event::Notify { no });
        }
    }

    async fn notify(&mut self, no: String) -> anyhow::Result<()> {
        let paid_at_ms = self.truth.paid_at.get(&no).copied().unwrap_or_else(|| self.clock.now_ms());
        let outcome = {
            let g = self.channel.lock();
            match g.orders.get(&no) {
                Some(ChanOrder { state: ChanState::Paid { txn }, amount_fen, .. }) => {
                    ChannelOutcome::Paid { channel_txn_id: txn.clone(), amount_fen: *amount_fen, paid_at_ms }
                }
                _ => return Ok(()),
            }
        };
        let r = self.engine.apply_outcome(&no, &outcome, &Actor::channel("wechatpay")).await;
        self.note_result(&no, &r)?;
        match r {
            Ok(_) => {
                if self.rng.gen_bool(self.faults.lost_ack) {
                    let now = self.clock.now_ms();
                    self.at(now + 15_000, Event::Notify { no });
                }
                Ok(())
            }
            Err(e) => Err(e).context("applying a genuine notification"),
        }
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        let worker = self.worker.clone();
        let now = self.clock.now_ms();
        self.notice_failed_refunds().await?;
        let Some(summary) = self.crashable(worker.run_due(10_000)).await else { return Ok(()) };
        for payment_id in summary.credited {
            let mut c = self.engine.store().read().await?;
            let no = bursar_store::payments::payment(&mut c, &payment_id).await?.merchant_order_no;
            drop(c);
            if self.truth.credited_at.insert(no.clone(), now).is_none() {
                self.maybe_refund(&no);
            }
        }
        Ok(())
    }

    /// Makes sure a tick runs no later than `at`.
    fn ensure_tick(&mut self, at: i64) {
        if at < self.next_tick_at {
            self.next_tick_at = at;
            self.at(at, Event::Tick);
        }
    }

    /// After a tick: the next one when the next job falls due (or its lease runs out).
    async fn schedule_next_tick(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        self.next_tick_at = i64::MAX;
        let mut c = self.engine.store().read().await?;
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM (SELECT MIN(run_at_ms) AS t FROM jobs WHERE state = 'queued'
                                 UNION ALL SELECT MIN(lease_until_ms) AS t FROM jobs WHERE state = 'running') x",
        )
        .fetch_one(&mut *c)
        .await?;
        drop(c);
        if let Some(t) = next {
            self.ensure_tick(t.max(now + TICK_MS));
        }
        // Finance looks at failed refunds every few minutes while any refund is unfinished.
        let mut c = self.engine.store().read().await?;
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE state IN ('approved', 'processing', 'failed')")
                .fetch_one(&mut *c)
                .await?;
        drop(c);
        if open > 0 {
            self.ensure_tick(now + 300_000);
        }
        Ok(())
    }

    fn next_step(&mut self) -> Option<(i64, Event)> {
        self.queue.pop().map(|Reverse((t, _, e))| (t, e))
    }
}

async fn setup_population(store: &Store, payers_n: usize, rng: &mut StdRng) -> anyhow::Result<Vec<(String, String)>> {
    let mut tx = store.begin().await?;
    let now = tx.now_ms;
    let dept = tx.new_id();
    payers::insert_department(tx.c(), &dept, "CW", "财务处").await?;
    let item = tx.new_id();
    let fee = NewFeeItem {
        code: "XF",
        name: "学费",
        department_id: &dept,
        fee_type: FeeType::Tuition,
        status: FeeItemStatus::Collecting,
        window_start_ms: None,
        window_end_ms: None,
        partial_allowed: true,
        min_partial: Fen(1),
    };
    receivables::insert_fee_item(tx.c(), &item, &fee, now).await?;
    let merchant_id = tx.new_id();
    let merchant = bursar_store::merchants::NewMerchantAccount {
        id: &merchant_id,
        channel: "wechatpay",
        merchant_no: SIM_MCHID,
        name: "模拟商户",
        settings: "{}",
        sealed_secrets: "",
    };
    let merchant_id = bursar_store::merchants::upsert(tx.c(), &merchant, now).await?;
    bursar_store::merchants::enable_channel(tx.c(), &item, "wechatpay", &merchant_id).await?;
    let mut out = Vec::with_capacity(payers_n);
    for i in 0..payers_n {
        let pid = tx.new_id();
        let identifier = format!("S{i:07}");
        let p = NewPayer {
            kind: "enrolled_student",
            identifier: &identifier,
            name: "模拟",
            id_number_masked: "",
            id_number_digest: "",
            phone: "",
            department_id: None,
            class_name: "",
            password_hash: "-",
        };
        payers::insert_payer(tx.c(), &pid, &p, now).await?;
        let rid = tx.new_id();
        // Most owe a lot (paid in parts); some owe little, so concurrent payments overpay.
        let due = if rng.gen_bool(0.3) { Fen(rng.gen_range(1_000..50_000)) } else { Fen(100_000_000) };
        receivables::insert_receivable(tx.c(), &rid, &pid, &item, "2026-2027", due, now).await?;
        ledger::post(&mut tx, &bursar_domain::ledger::receivable_raised(&rid, &item, due)?).await?;
        out.push((pid, rid));
    }
    tx.commit().await?;
    Ok(out)
}

async fn full_verify(store: &Store) -> anyhow::Result<()> {
    let mut c = store.read().await?;
    let report = bursar_store::verify::run(&mut c).await?;
    if !report.is_clean() {
        bail!("ledger verification failed:\n{}", report.render());
    }
    Ok(())
}

/// Runs one simulation. `Err` carries the seed and the first broken invariant.
pub async fn run(opts: &SimOptions) -> anyhow::Result<SimReport> {
    let result = run_inner(opts).await;
    result.with_context(|| {
        format!("simulation with seed {} failed (replay: bursar simulate --seed {})", opts.seed, opts.seed)
    })
}

async fn run_inner(opts: &SimOptions) -> anyhow::Result<SimReport> {
    let started = Instant::now();
    let start_ms = 1_788_192_000_000; // 2026-09-01 00:00 UTC+8
    let clock = ManualClock::new(start_ms);
    let ids = SeqIds::new(opts.seed);
    let tmp = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let db_file = tmp.join(format!("bursar-sim-{}-{}.db", opts.seed, std::process::id()));
    let url = opts.database_url.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", db_file.display()));
    let store = Store::open(&url, Arc::new(clock.clone()), Arc::new(ids)).await?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let payers_n = (opts.payments / 20).clamp(20, 5_000);
    let population = setup_population(&store, payers_n, &mut rng).await?;
    let finance = {
        let mut tx = store.begin().await?;
        let id = tx.new_id();
        let now = tx.now_ms;
        payers::insert_operator(tx.c(), &id, "finance", "财务", "finance", None, "-", now).await?;
        tx.commit().await?;
        let mut c = store.read().await?;
        payers::operator(&mut c, &id).await?
    };

    let channel = SimChannel {
        inner: Arc::new(Mutex::new(ChannelInner {
            orders: BTreeMap::new(),
            refunds: BTreeMap::new(),
            new_refunds: Vec::new(),
            lost_refunds: 0,
            rng: StdRng::seed_from_u64(opts.seed ^ 0x5eed),
            faults: opts.faults.clone(),
            txn_seq: 0,
        })),
        crash: Arc::new(Notify::new()),
        clock: clock.clone(),
    };
    let engine = Engine::new(
        store.clone(),
        vec![Arc::new(channel.clone()) as Arc<dyn Channel>],
        EngineConfig { payment_ttl_ms: opts.ttl_ms, ..EngineConfig::default() },
    );
    let mut sim = Sim {
        worker: bursar_jobs::Worker::new(engine.clone()),
        engine,
        channel,
        clock: clock.clone(),
        rng,
        faults: opts.faults.clone(),
        queue: BinaryHeap::new(),
        seq: 0,
        receivables: population,
        truth: Truth::default(),
        report: SimReport { seed: opts.seed, ..SimReport::default() },
        ttl_ms: opts.ttl_ms,
        finance,
        next_tick_at: i64::MAX,
        failed_seen: std::collections::BTreeSet::new(),
    };
    // Arrivals spread so that a few hundred payments are in flight at once.
    let spacing = 2_000i64;
    for i in 0..opts.payments {
        let jitter = sim.rng.gen_range(0..spacing);
        sim.at(start_ms + i as i64 * spacing + jitter, Event::Arrive);
    }
    // Ticks are event-driven: one a second after any activity, and then whenever a job is due.
    sim.at(start_ms, Event::Tick);
    sim.next_tick_at = start_ms;

    let mut last_progress = Instant::now();
    while let Some((time, event)) = sim.next_step() {
        if time > clock.now_ms() {
            clock.set_ms(time);
        }
        let is_tick = event == Event::Tick;
        if is_tick && time != sim.next_tick_at {
            continue; // superseded by an earlier tick
        }
        match event {
            Event::Arrive => sim.arrive().await?,
            Event::Pay { no } => sim.pay(no),
            Event::Notify { no } => sim.notify(no).await?,
            Event::Tick => sim.tick().await?,
            Event::RequestRefund { no } => sim.request_refund(no).await?,
            Event::SettleRefund { out_refund_no } => sim.settle_refund(out_refund_no),
            Event::NotifyRefund { out_refund_no } => sim.notify_refund(out_refund_no).await?,
            Event::FinanceActs { refund_id } => sim.finance_acts(refund_id).await?,
        }
        sim.follow_up().await?;
        if is_tick {
            sim.schedule_next_tick().await?;
        } else {
            let now = clock.now_ms();
            sim.ensure_tick(now + TICK_MS);
        }
        sim.report.steps += 1;
        if opts.check_every > 0 && sim.report.steps.is_multiple_of(opts.check_every) {
            full_verify(&store).await?;
            sim.report.full_verifications += 1;
        }
        if opts.progress && last_progress.elapsed().as_secs() >= 2 {
            last_progress = Instant::now();
            eprintln!(
                "  … {} / {} payments started, {} credited, virtual time +{} min",
                sim.report.payments_started,
                opts.payments,
                sim.truth.credited_at.len(),
                (clock.now_ms() - start_ms) / 60_000
            );
        }
    }

    // Every job must have finished: nothing is left waiting.
    let mut c = store.read().await?;
    let stuck: Vec<String> =
        sqlx::query_scalar("SELECT id || ' ' || state FROM payments WHERE state IN ('created', 'paying')")
            .fetch_all(&mut *c)
            .await?;
    if !stuck.is_empty() {
        bail!("{} payments still waiting after every expiry: {:?}", stuck.len(), &stuck[..stuck.len().min(5)]);
    }
    // Every refund reached an end: paid out by the channel or by transfer, or rejected.
    let unfinished: Vec<String> = sqlx::query_scalar(
        "SELECT id || ' ' || state FROM refunds WHERE state NOT IN ('succeeded', 'manual', 'rejected')",
    )
    .fetch_all(&mut *c)
    .await?;
    if !unfinished.is_empty() {
        bail!("{} refunds unfinished at the end: {:?}", unfinished.len(), &unfinished[..unfinished.len().min(5)]);
    }
    // The channel is the truth for refunds too: what it paid out is exactly what Bursar confirmed.
    let confirmed: Vec<(String, i64)> =
        sqlx::query_as("SELECT r.out_refund_no, r.amount_fen FROM refunds r WHERE r.state = 'succeeded'")
            .fetch_all(&mut *c)
            .await?;
    {
        let g = sim.channel.lock();
        let paid_out: Vec<(&String, &ChanRefund)> = g.refunds.iter().filter(|(_, r)| r.settled == Some(true)).collect();
        if paid_out.len() != confirmed.len() {
            bail!("the channel paid out {} refunds, Bursar confirmed {}", paid_out.len(), confirmed.len());
        }
        for (no, amount) in &confirmed {
            match g.refunds.get(no) {
                Some(r) if r.settled == Some(true) && r.amount_fen == *amount => {}
                other => bail!("refund {no} confirmed for {amount} but the channel says {other:?}"),
            }
        }
    }
    sim.report.refunds_paid_out = confirmed.len();
    sim.report.refunds_lost_by_channel = sim.channel.lock().lost_refunds;
    sim.report.refunds_by_transfer = usize::try_from(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM refunds WHERE state = 'manual'").fetch_one(&mut *c).await?,
    )
    .unwrap_or(0);
    // The channel is the truth: exactly the payments it says were paid are credited, once each.
    let credited: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT p.merchant_order_no, p.amount_fen, COUNT(e.id) FROM payments p
           LEFT JOIN journal_entries e ON e.kind = 'payment_succeeded' AND e.source_id = p.id
          GROUP BY p.merchant_order_no, p.amount_fen",
    )
    .fetch_all(&mut *c)
    .await?;
    drop(c);
    for (no, amount, entries) in &credited {
        let paid = sim.truth.paid_at.contains_key(no);
        match (paid, *entries) {
            (true, 1) => {
                if sim.truth.amount.get(no) != Some(amount) {
                    bail!("payment {no} credited {amount} but the channel collected {:?}", sim.truth.amount.get(no));
                }
                sim.report.credited += 1;
            }
            (true, 0) => sim.report.lost_credits += 1,
            (false, 0) => {}
            (_, n) => {
                sim.report.double_credits += usize::from(n > 1);
                bail!("payment {no}: paid at the channel = {paid}, credit entries = {n}");
            }
        }
    }
    if sim.report.lost_credits > 0 {
        bail!("{} payments paid at the channel were never credited", sim.report.lost_credits);
    }
    full_verify(&store).await?;
    sim.report.full_verifications += 1;
    let mut recovery: Vec<i64> = sim
        .truth
        .all_dropped
        .keys()
        .filter_map(|no| Some(sim.truth.credited_at.get(no)? - sim.truth.paid_at.get(no)?))
        .collect();
    recovery.sort_unstable();
    sim.report.recovery_ms = recovery;
    sim.report.elapsed_ms = started.elapsed().as_millis();
    store.close().await;
    if opts.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_file.display()));
        }
    }
    Ok(sim.report)
}
