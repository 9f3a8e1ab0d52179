//! Running one simulation: the population, the event loop, and the end-of-run checks.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use bursar_domain::access::{OperatorPrincipal, PayerPrincipal, Principal, Role, SystemJob};
use bursar_domain::fee::FeeType;
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::refund::RefundState;
use bursar_domain::{Clock, Fen, ManualClock, SeqIds};
use bursar_engine::setup::{BillInput, ConfiguredFeeItem, PayerInput};
use bursar_engine::{Engine, EngineConfig};
use bursar_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;

use super::channel::{ChanRefund, ChannelInner, SimChannel, SIM_MCHID};
use super::sim::{Event, Sim, Truth, TICK_MS};
use super::{SimOptions, SimReport};

/// The simulated school: one department, tuition collected through the simulated WeChat Pay
/// merchant, `payers_n` students each owing tuition (most a lot, paid in parts; some little, so
/// racing payments overpay), and two finance operators (a clerk who asks, an approver who
/// decides). All through engine commands, as the seed would.
async fn setup_population(
    engine: &Engine,
    payers_n: usize,
    rng: &mut StdRng,
) -> anyhow::Result<(Vec<(String, String)>, std::collections::BTreeMap<String, Principal>, Principal, Principal)> {
    let by = Principal::System(SystemJob::Seed);
    let dept = engine.create_department(&by, "CW", "财务处").await?;
    let item = ConfiguredFeeItem {
        code: "XF".into(),
        name: "学费".into(),
        department_id: dept.clone(),
        fee_type: FeeType::Tuition,
        collecting: true,
        window: None,
        min_partial: Some(Fen(1)),
        profile: bursar_domain::audience::Profile::usual_for(FeeType::Tuition),
    };
    let item = engine.configure_fee_item(&by, &item).await?;
    let merchant = engine.record_installed_merchant(&by, ChannelKind::Wechatpay, SIM_MCHID, "模拟商户").await?;
    engine.set_routes(&by, &[(item.clone(), ChannelKind::Wechatpay, Some(merchant))]).await?;
    let inputs: Vec<PayerInput> = (0..payers_n)
        .map(|i| PayerInput {
            kind: PayerKind::EnrolledStudent,
            identifier: format!("S{i:07}"),
            name: "模拟".into(),
            id_number: String::new(),
            phone: String::new(),
            department_id: None,
            class_name: String::new(),
            password_hash: "-".into(),
            must_change_password: false,
        })
        .collect();
    let ids = engine.add_payers(&by, &inputs).await?;
    let bills: Vec<BillInput> = ids
        .iter()
        .map(|pid| BillInput {
            payer_id: pid.clone(),
            fee_item_id: item.clone(),
            academic_year: "2026-2027".into(),
            // Most owe a lot (paid in parts); some owe little, so concurrent payments overpay.
            amount: if rng.gen_bool(0.3) { Fen(rng.gen_range(1_000..50_000)) } else { Fen(100_000_000) },
        })
        .collect();
    engine.raise_bills(&by, &bills, "simulation").await?;
    let mut c = engine.store().read().await?;
    let population = bursar_store::audit::open_receivables(&mut c).await?;
    drop(c);
    let payers = ids
        .iter()
        .map(|id| {
            let p =
                Principal::Payer(PayerPrincipal { id: id.clone(), kind: PayerKind::EnrolledStudent, via_sso: false });
            (id.clone(), p)
        })
        .collect();
    // Operators act through their principals; the simulation needs no passwords for them.
    let operator = |id: &str, role: Role| {
        Principal::Operator(OperatorPrincipal {
            id: id.into(),
            name: id.into(),
            roles: vec![role],
            departments: vec![],
        })
    };
    Ok((population, payers, operator("sim-clerk", Role::FinanceClerk), operator("sim-approver", Role::FinanceApprover)))
}

async fn full_verify(store: &Store) -> anyhow::Result<()> {
    let report = bursar_store::verify::run(store).await?;
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
    let engine = Engine::new(store.clone(), EngineConfig { payment_ttl_ms: opts.ttl_ms, ..EngineConfig::default() });
    engine.merchants().install(Arc::new(channel.clone()))?;
    let (population, payers, clerk, approver) = setup_population(&engine, payers_n, &mut rng).await?;
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
        clerk,
        approver,
        payers,
        next_tick_at: i64::MAX,
        failed_seen: std::collections::BTreeSet::new(),
    };
    // Arrivals spread so that a few hundred payments are in flight at once.
    let spacing = 2_000i64;
    for i in 0..opts.payments {
        let jitter = sim.rng.gen_range(0..spacing);
        sim.at(start_ms + i64::try_from(i).unwrap_or(i64::MAX / 4) * spacing + jitter, Event::Arrive);
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
    let stuck = bursar_store::audit::live_payments(&mut c).await?;
    if !stuck.is_empty() {
        bail!("{} payments still waiting after every expiry: {:?}", stuck.len(), &stuck[..stuck.len().min(5)]);
    }
    // Every refund reached an end: paid out by the channel or by transfer, or rejected.
    let unfinished = bursar_store::audit::unfinished_refunds(&mut c).await?;
    if !unfinished.is_empty() {
        bail!("{} refunds unfinished at the end: {:?}", unfinished.len(), &unfinished[..unfinished.len().min(5)]);
    }
    // The channel is the truth for refunds too: what it paid out is exactly what Bursar confirmed.
    let confirmed = bursar_store::audit::paid_out_refunds(&mut c).await?;
    {
        let g = sim.channel.lock();
        let paid_out: Vec<(&String, &ChanRefund)> = g.refunds.iter().filter(|(_, r)| r.settled == Some(true)).collect();
        if paid_out.len() != confirmed.len() {
            bail!("the channel paid out {} refunds, Bursar confirmed {}", paid_out.len(), confirmed.len());
        }
        for (no, amount) in &confirmed {
            match g.refunds.get(no) {
                Some(r) if r.settled == Some(true) && r.amount_fen == amount.get() => {}
                other => bail!("refund {no} confirmed for {amount} but the channel says {other:?}"),
            }
        }
    }
    sim.report.refunds_paid_out = confirmed.len();
    sim.report.refunds_lost_by_channel = sim.channel.lock().lost_refunds;
    let manual = bursar_store::audit::count_refunds(&mut c, &[RefundState::Manual]).await?;
    sim.report.refunds_by_transfer = usize::try_from(manual).unwrap_or(0);
    // The channel is the truth: exactly the payments it says were paid are credited, once each.
    let credited = bursar_store::audit::credit_counts(&mut c).await?;
    drop(c);
    for (no, amount, entries) in &credited {
        let paid = sim.truth.paid_at.contains_key(no);
        match (paid, *entries) {
            (true, 1) => {
                if sim.truth.amount.get(no) != Some(&amount.get()) {
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
