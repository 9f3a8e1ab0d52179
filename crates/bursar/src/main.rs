#![deny(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bursar::app::{self, Injected};
use bursar::config::Config;
use bursar::demo;
use bursar_domain::{SystemClock, UuidV7Ids};
use clap::{Args, Parser, Subcommand};

/// Bursar — the campus unified payment platform (校园统一支付平台).
#[derive(Parser)]
#[command(name = "bursar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Data directory (SQLite database, sandbox credentials, secrets).
    #[arg(long, env = "BURSAR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://… (default: an SQLite file in the data dir).
    #[arg(long, env = "BURSAR_DATABASE_URL")]
    database_url: Option<String>,
    /// Configuration file (default: <data-dir>/bursar.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct Serving {
    /// Address the platform listens on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address the channel simulators listen on.
    #[arg(long)]
    sim_listen: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform with a demo school and the channel simulators.
    Demo {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        serving: Serving,
    },
    /// Run the platform.
    Serve {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        serving: Serving,
        /// Also run the channel simulators and collect into their sandbox merchants.
        #[arg(long)]
        with_simulators: bool,
    },
    /// Run only the channel simulators (as a separate process, like a real channel would be).
    Simulators {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        serving: Serving,
        /// Multiply the notification retry schedule (1 = WeChat Pay's real 15 s, 15 s, 30 s, …).
        #[arg(long, default_value_t = 1.0)]
        retry_scale: f64,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Manage the merchant accounts money is collected into (secrets sealed at rest).
    Merchant {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: MerchantCmd,
    },
    /// Check the ledger's invariants; exits non-zero with a report when one fails.
    Verify {
        #[command(flatten)]
        common: Common,
    },
    /// Run the deterministic payment simulation with faults (a repeatable benchmark of the
    /// engine's guarantees): lost and double credits, and recovery times of lost notifications.
    Simulate {
        /// Seed; the same seed replays the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Payments to simulate.
        #[arg(long, default_value_t = 10_000)]
        payments: usize,
        /// Run several seeds in a row, starting at --seed.
        #[arg(long, default_value_t = 1)]
        runs: u64,
        /// Full ledger verification every N steps (0: only at the end).
        #[arg(long, default_value_t = 2_000)]
        check_every: usize,
        /// Store URL (default: a fresh SQLite file).
        #[arg(long)]
        database_url: Option<String>,
        /// Payment time-to-live in seconds.
        #[arg(long, default_value_t = 300)]
        ttl_secs: i64,
    },
}

fn load(common: &Common, serving: Option<&Serving>) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.data_dir.as_deref(), common.config.as_deref())?;
    if let Some(url) = common.database_url.as_ref().filter(|u| !u.is_empty()) {
        cfg.database_url = Some(url.clone());
    }
    if let Some(s) = serving {
        if let Some(l) = s.listen {
            cfg.listen = l;
        }
        if let Some(l) = s.sim_listen {
            cfg.sim_listen = l;
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The simulation logs only warnings: its injected faults would otherwise flood the output.
    let default_filter =
        if matches!(cli.command, Command::Simulate { .. }) { "warn,sqlx=error" } else { "info,sqlx=warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BURSAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    // The simulation is one sequential event loop: a single-threaded runtime avoids waking
    // other threads for every statement.
    let mut builder = if matches!(cli.command, Command::Simulate { .. }) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum MerchantCmd {
    /// Adds (or replaces the keys of) a merchant account from a channel's JSON configuration.
    /// Keys ending in `_file` name files (relative to the JSON) holding keys and certificates,
    /// as in the sandbox's published `config.json`. The adapter is built first: a configuration
    /// that cannot work is refused with the reason.
    Add {
        /// wechatpay, alipay or unionpay (bank e-banking gateways are unionpay accounts).
        #[arg(long)]
        channel: String,
        /// The account's name as finance sees it (e.g. 农行网银).
        #[arg(long)]
        name: String,
        /// The JSON configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Lists the merchant accounts (never their secrets).
    List,
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { common, serving } => {
            let started = Instant::now();
            let mut cfg = load(&common, Some(&serving))?;
            cfg.simulators = true;
            let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
            let key = app::read_id_digest_key(&cfg.data_dir)?;
            let seeded = demo::seed_if_empty_with(&store, &key, &cfg.initial_password_rule()?).await?;
            let running = app::start_with_store(&cfg, Injected::default(), store).await?;
            demo::enable_channels(&running.store).await?;
            demo::ensure_demo_projects(&running.engine).await?;
            let webhook_url =
                std::env::var("BURSAR_DEMO_WEBHOOK_URL").unwrap_or_else(|_| "http://127.0.0.1:8099/webhook".into());
            let app_file =
                demo::ensure_demo_app(&running.engine, &cfg.data_dir, &running.base_url, &webhook_url).await?;
            let rule = cfg.initial_password_rule()?;
            let (student, password) = demo::student_logins_with(1, &rule).remove(0);
            println!();
            println!(
                "  Bursar demo is running ({} ms to start{}).",
                started.elapsed().as_millis(),
                match &seeded {
                    Some(s) => format!("; created {} payers and {} receivables", s.payers, s.receivables),
                    None => String::new(),
                }
            );
            println!("  Store:                {}", running.store.backend().name());
            println!("  Payer portal:         {}/portal   (student {student} / password {password})", running.base_url);
            println!(
                "  Campus card password: {}   (every other demo student holds a loaded card)",
                demo::CARD_PASSWORD
            );
            let (staff, staff_pw) = demo::staff_login_with(&rule);
            let (ns_id, ns_name) = demo::new_student_login();
            println!("  Other payers:         staff {staff} / {staff_pw} (must change it); new student {ns_id} + {ns_name}; outside people register at /portal/register");
            println!(
                "  Open API:             {}/api/v1   (demo app credentials: {}; docs: /api/v1/openapi.json)",
                running.base_url,
                app_file.display()
            );
            println!(
                "  Finance view:         {}/admin    ({} / {})",
                running.base_url,
                demo::FINANCE_USER,
                demo::FINANCE_PASSWORD
            );
            println!(
                "  Departments:          {}/admin    ({} / {} for refunds of dorm fees; {} / {})",
                running.base_url,
                demo::DEPARTMENT_USERS[0].0,
                demo::DEPARTMENT_PASSWORD,
                demo::DEPARTMENT_USERS[1].0,
                demo::DEPARTMENT_PASSWORD
            );
            if let Some(sim) = &running.sim_base_url {
                println!("  WeChat Pay simulator: {sim}   (payer's phone: {sim}/phone)");
                println!("  Alipay simulator:     {sim}/gateway.do   (scan: {sim}/alipay/scan, payment codes: {sim}/alipay/paycode)");
                println!("  Fault switches:       {sim}/_faults/alipay   (GET shows, POST JSON sets)");
                println!("  Sandbox credentials:  {}", cfg.data_dir.join("sandbox").display());
            }
            println!("  Press Ctrl-C to stop.");
            println!();
            wait_for_signal().await;
            running.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { common, serving, with_simulators } => {
            let mut cfg = load(&common, Some(&serving))?;
            cfg.simulators |= with_simulators;
            let running = app::start(&cfg, Injected::default()).await?;
            tracing::info!(base_url = %running.base_url, store = running.store.backend().name(), "Bursar is serving");
            if let Some(sim) = &running.sim_base_url {
                tracing::info!(%sim, "channel simulators are serving");
            }
            wait_for_signal().await;
            running.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulators { common, serving, retry_scale } => {
            let cfg = load(&common, Some(&serving))?;
            let (shutdown, rx) = tokio::sync::watch::channel(false);
            let (sims, task) = app::start_simulators(&cfg, Arc::new(SystemClock), retry_scale, rx).await?;
            println!("WeChat Pay simulator: {}   (payer's phone: {}/phone)", sims.base_url, sims.base_url);
            println!("Sandbox credentials:  {}", cfg.data_dir.join("sandbox").join("wechatpay").display());
            wait_for_signal().await;
            let _ = shutdown.send(true);
            let _ = task.await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { common } => {
            let cfg = load(&common, None)?;
            let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
            println!("migrations applied; schema is current ({})", store.backend().name());
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate { seed, payments, runs, check_every, database_url, ttl_secs } => {
            let mut all_ok = true;
            for s in seed..seed.saturating_add(runs) {
                let opts = bursar::simulate::SimOptions {
                    seed: s,
                    payments,
                    database_url: database_url.clone(),
                    faults: bursar::simulate::Faults::default(),
                    check_every,
                    progress: true,
                    ttl_ms: ttl_secs * 1000,
                };
                match bursar::simulate::run(&opts).await {
                    Ok(report) => println!("{}", report.render()),
                    Err(e) => {
                        println!("FAILED: {e:#}");
                        all_ok = false;
                    }
                }
            }
            Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::Merchant { common, action } => {
            let cfg = load(&common, None)?;
            let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
            let key = bursar::merchants::MasterKey::load_or_create(&cfg.data_dir)?;
            match action {
                MerchantCmd::Add { channel, name, config } => {
                    let kind = bursar_domain::payment::ChannelKind::parse(&channel)
                        .filter(|k| matches!(k.as_str(), "wechatpay" | "alipay" | "unionpay"))
                        .ok_or_else(|| anyhow::anyhow!("channel must be wechatpay, alipay or unionpay"))?;
                    let value = bursar::merchants::read_config_file(&config)?;
                    bursar::merchants::check_config(kind, &value)?;
                    let id = bursar::merchants::register(&store, &key, kind, &name, &value).await?;
                    println!("merchant account {id} ({channel}) registered; its secrets are sealed. Restart Bursar to use it.");
                }
                MerchantCmd::List => {
                    let mut c = store.read().await?;
                    for m in bursar_store::merchants::all(&mut c).await? {
                        println!("{}\t{}\t{}\t{}\t{}", m.id, m.channel, m.merchant_no, m.state, m.name);
                    }
                }
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { common } => {
            let cfg = load(&common, None)?;
            let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
            let mut c = store.read().await?;
            let report = bursar_store::verify::run(&mut c).await?;
            drop(c);
            print!("{}", report.render());
            store.close().await;
            if report.is_clean() {
                println!("ledger verified: all invariants hold");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("ledger verification FAILED: {} problem(s)", report.problems().len());
                Ok(ExitCode::from(2))
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
