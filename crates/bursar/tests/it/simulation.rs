//! The engine under faults, as a seeded deterministic simulation (see `bursar::simulate`): lost,
//! duplicated, delayed and reordered notifications, channel timeouts, crashes in the middle of
//! creating payments and of jobs. Larger runs: `bursar simulate --payments 100000`.

use bursar::simulate::{run, Faults, SimOptions};

use crate::both_stores;
use crate::support::*;

fn options(seed: u64, payments: usize, url: Option<String>) -> SimOptions {
    SimOptions {
        seed,
        payments,
        database_url: url,
        faults: Faults::default(),
        check_every: 25,
        progress: false,
        ttl_ms: 300_000,
    }
}

fn assert_sound(report: &bursar::simulate::SimReport) {
    assert_eq!(report.lost_credits, 0, "{}", report.render());
    assert_eq!(report.double_credits, 0, "{}", report.render());
    assert!(report.paid_at_channel > 0 && report.credited == report.paid_at_channel, "{}", report.render());
    assert!(report.crashes > 0, "the run injected crashes: {}", report.render());
    assert!(!report.recovery_ms.is_empty(), "some payments lost every notification: {}", report.render());
    assert!(report.refunds_requested > 0 && report.refunds_paid_out > 0, "refunds ran: {}", report.render());
    // Queries run 5 s, 10 s, 15 s, then every 30 s: a lost notification is recovered within about
    // 30 s, plus a job lease (30 s) when a crash held it on the way.
    let p50 = report.percentile(0.5).unwrap();
    assert!(p50 <= 30_000, "median recovery {p50} ms: {}", report.render());
    assert!(report.percentile(1.0).unwrap() <= 100_000, "{}", report.render());
}

both_stores!(payments_survive_faults_and_crashes, |env: TestEnv| async move {
    let url = if env.url.starts_with("postgres") { Some(env.url.clone()) } else { None };
    let seeds: &[u64] = if url.is_some() { &[7] } else { &[1, 2] };
    for &seed in seeds {
        let report = run(&options(seed, 200, url.clone())).await.unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("{}", report.render());
        assert_sound(&report);
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_replays_exactly() {
    let a = run(&options(42, 80, None)).await.unwrap();
    let b = run(&options(42, 80, None)).await.unwrap();
    assert_eq!(
        (a.payments_started, a.paid_at_channel, a.credited, a.crashes, a.steps, &a.recovery_ms),
        (b.payments_started, b.paid_at_channel, b.credited, b.crashes, b.steps, &b.recovery_ms)
    );
}

/// The strictest form: the whole ledger verification after every single step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_is_verified() {
    let mut opts = options(3, 40, None);
    opts.check_every = 1;
    opts.ttl_ms = 120_000;
    let report = run(&opts).await.unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{}", report.render());
    assert_eq!(report.full_verifications, report.steps + 1);
    assert_eq!((report.lost_credits, report.double_credits), (0, 0));
}
