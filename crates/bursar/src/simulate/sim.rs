//! The simulation's actors: payers, the channel's notifications, finance, and Bursar's job
//! worker, as events on a virtual clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use anyhow::{bail, Context};
use bursar_channels::Channel;
use bursar_domain::access::Principal;
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::{RefundKind, RefundOutcome, RefundState, RefundTarget};
use bursar_domain::{Clock, Fen, ManualClock};
use bursar_engine::{ApplyResult, Engine, EngineError};
use rand::rngs::StdRng;
use rand::Rng;

use super::channel::{ChanOrder, ChanState, SimChannel};
use super::{Faults, SimReport};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
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
pub(super) struct Truth {
    pub(super) paid_at: BTreeMap<String, i64>,
    pub(super) amount: BTreeMap<String, i64>,
    pub(super) all_dropped: BTreeMap<String, bool>,
    pub(super) credited_at: BTreeMap<String, i64>,
}

pub(super) struct Sim {
    pub(super) engine: Engine,
    pub(super) worker: bursar_jobs::Worker,
    pub(super) channel: SimChannel,
    pub(super) clock: ManualClock,
    pub(super) rng: StdRng,
    pub(super) faults: Faults,
    pub(super) queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    pub(super) seq: u64,
    pub(super) receivables: Vec<(String, String)>,
    pub(super) truth: Truth,
    pub(super) report: SimReport,
    pub(super) ttl_ms: i64,
    /// Finance: the clerk asks for refunds and acts on failed ones; the approver decides.
    pub(super) clerk: Principal,
    pub(super) approver: Principal,
    /// The payers of the population, by id.
    pub(super) payers: BTreeMap<String, Principal>,
    /// When the next tick is scheduled (`i64::MAX`: none).
    pub(super) next_tick_at: i64,
    /// Failed refunds finance has been told about.
    pub(super) failed_seen: std::collections::BTreeSet<String>,
}

pub(super) const TICK_MS: i64 = 1_000;

impl Sim {
    pub(super) fn at(&mut self, time: i64, e: Event) {
        self.seq += 1;
        self.queue.push(Reverse((time, self.seq, e)));
    }

    pub(super) fn note_result(&mut self, no: &str, r: &Result<ApplyResult, EngineError>) -> anyhow::Result<()> {
        if let Ok(ApplyResult::Credited { .. }) = r {
            if self.truth.credited_at.insert(no.to_string(), self.clock.now_ms()).is_some() {
                self.report.double_credits += 1;
                bail!("payment {no} was credited twice");
            }
            self.maybe_refund(no);
        }
        Ok(())
    }

    pub(super) fn maybe_refund(&mut self, no: &str) {
        if self.rng.gen_bool(self.faults.refund) {
            let when = self.clock.now_ms() + self.rng.gen_range(1_000..600_000);
            self.at(when, Event::RequestRefund { no: no.to_string() });
        }
    }

    /// Finance asks for (part of) a credited payment back, and decides at once.
    pub(super) async fn request_refund(&mut self, no: String) -> anyhow::Result<()> {
        let mut c = self.engine.store().read().await?;
        let Some(p) = bursar_store::payments::payment_by_merchant_order_no(&mut c, &no).await? else { return Ok(()) };
        let allocations = bursar_store::refunds::payment_allocations(&mut c, &p.id).await?;
        drop(c);
        let kind = if allocations.iter().any(|a| a.target == RefundTarget::PayerCredit) {
            RefundKind::Overpayment
        } else if self.rng.gen_bool(0.5) {
            RefundKind::PaidInError
        } else {
            RefundKind::FeeCancelled
        };
        let amount = Fen(self.rng.gen_range(1..=p.amount_fen.get()));
        let (clerk, approver) = (self.clerk.clone(), self.approver.clone());
        let refund_id = match self.engine.request_refund(&clerk, &p.id, amount, kind, "模拟退款").await {
            Ok(id) => id,
            // More than is left to refund (an earlier refund took it): refused, nothing changes.
            Err(EngineError::Rule(_)) => return Ok(()),
            Err(e) => return Err(e).context("request refund"),
        };
        self.report.refunds_requested += 1;
        let approve = !self.rng.gen_bool(self.faults.refund_rejected);
        let comment = if approve { "同意" } else { "不符合退款条件" };
        self.engine.decide_refund(&approver, &refund_id, approve, comment).await.context("decide refund")?;
        if !approve {
            self.report.refunds_rejected += 1;
        }
        Ok(())
    }

    /// The channel settles a refund it accepted: pays it out or fails it, and notifies (or not).
    pub(super) fn settle_refund(&mut self, out_refund_no: String) {
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

    pub(super) async fn notify_refund(&mut self, out_refund_no: String) -> anyhow::Result<()> {
        let outcome = self.channel.refund_query("", &out_refund_no).await?;
        match self.engine.apply_refund_outcome(&Principal::Channel("wechatpay"), &out_refund_no, &outcome).await {
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
    pub(super) async fn finance_acts(&mut self, refund_id: String) -> anyhow::Result<()> {
        let clerk = self.clerk.clone();
        let result = if self.rng.gen_bool(0.7) {
            self.engine.retry_refund(&clerk, &refund_id).await
        } else {
            let reference = format!("BANK{refund_id}");
            self.engine.manual_refund(&clerk, &refund_id, &reference).await
        };
        match result {
            // It moved on meanwhile (finance acts on what it saw a while ago): refused, nothing changes.
            Ok(()) | Err(EngineError::Rule(_)) => Ok(()),
            Err(e) => Err(e).context("finance acting on a failed refund"),
        }
    }

    /// After every step: schedule what the channel and finance do next.
    pub(super) async fn follow_up(&mut self) -> anyhow::Result<()> {
        let new: Vec<String> = std::mem::take(&mut self.channel.lock().new_refunds);
        for out_refund_no in new {
            let when = self.clock.now_ms() + self.rng.gen_range(1_000..60_000);
            self.at(when, Event::SettleRefund { out_refund_no });
        }
        Ok(())
    }

    pub(super) async fn notice_failed_refunds(&mut self) -> anyhow::Result<()> {
        let mut c = self.engine.store().read().await?;
        let failed = bursar_store::refunds::list(&mut c, Some(RefundState::Failed), 10_000).await?;
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
    pub(super) async fn crashable<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        let crash = self.channel.crash.clone();
        tokio::select! {
            biased;
            r = fut => Some(r),
            _ = crash.notified() => { self.report.crashes += 1; None }
        }
    }

    pub(super) async fn arrive(&mut self) -> anyhow::Result<()> {
        // A payer who still owes something (small bills get settled, and then overpaid by racing payments).
        let mut pick = None;
        for _ in 0..20 {
            let (payer, rid) = self.receivables[self.rng.gen_range(0..self.receivables.len())].clone();
            let outstanding = {
                let mut c = self.engine.store().read().await?;
                bursar_store::receivables::receivable(&mut c, &rid).await?.outstanding()
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
        let payer = self.payers.get(&payer).cloned().context("unknown payer")?;
        let order = self.engine.create_order(&payer, &[(rid, amount)]).await.context("create order")?;
        self.report.payments_started += 1;
        let engine = self.engine.clone();
        let ctx = bursar_engine::PayContext::default();
        let started = self.crashable(engine.start_payment(&payer, &order, PayMethod::WechatNative, &ctx)).await;
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

    pub(super) fn pay(&mut self, no: String) {
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

    pub(super) async fn notify(&mut self, no: String) -> anyhow::Result<()> {
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
        let r = self.engine.apply_outcome(&Principal::Channel("wechatpay"), &no, &outcome).await;
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

    pub(super) async fn tick(&mut self) -> anyhow::Result<()> {
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
    pub(super) fn ensure_tick(&mut self, at: i64) {
        if at < self.next_tick_at {
            self.next_tick_at = at;
            self.at(at, Event::Tick);
        }
    }

    /// After a tick: the next one when the next job falls due (or its lease runs out).
    pub(super) async fn schedule_next_tick(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        self.next_tick_at = i64::MAX;
        let mut c = self.engine.store().read().await?;
        let next = bursar_store::audit::next_job_at(&mut c).await?;
        drop(c);
        if let Some(t) = next {
            self.ensure_tick(t.max(now + TICK_MS));
        }
        // Finance looks at failed refunds every few minutes while any refund is unfinished.
        let mut c = self.engine.store().read().await?;
        let open = bursar_store::audit::count_refunds(&mut c, &RefundState::IN_TRANSIT).await?;
        drop(c);
        if open > 0 {
            self.ensure_tick(now + 300_000);
        }
        Ok(())
    }

    pub(super) fn next_step(&mut self) -> Option<(i64, Event)> {
        self.queue.pop().map(|Reverse((t, _, e))| (t, e))
    }
}
