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

mod channel;
mod run;
mod sim;

pub use run::run;

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
