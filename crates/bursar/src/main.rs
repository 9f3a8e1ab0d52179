#![deny(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
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
    /// Import from the school's spreadsheets (xlsx or CSV, UTF-8 or GBK) as the finance view does:
    /// `bursar import payers|receivables|relief|offline FILE`.
    Import {
        #[command(subcommand)]
        what: ImportCmd,
    },
    /// Receivables (应收) in bulk: `bursar receivables raise --item CODE --year … [group]`.
    Receivables {
        #[command(subcommand)]
        action: ReceivablesCmd,
    },
    /// A report (报表) as the finance view makes it: `bursar report NAME --from YYYY-MM-DD --to
    /// YYYY-MM-DD [filters] [--xlsx FILE]`. NAME is daily (收费日报), detail (收费明细), departments
    /// (分部门汇总), items (分项目汇总), channels (分渠道汇总), classes (班级缴费情况), arrears (欠费统计),
    /// cashiers (收费员收费情况) or relief (减免退费). Without --xlsx the rows are printed as
    /// tab-separated text. Exits 2 when refused (an unknown name, a bad date…).
    Report {
        #[command(flatten)]
        common: Common,
        /// The report's code or Chinese name.
        name: String,
        /// First day, e.g. 2026-11-01 (default: the beginning).
        #[arg(long, default_value = "")]
        from: String,
        /// Last day, included (default: today).
        #[arg(long, default_value = "")]
        to: String,
        /// The charging department (收费部门), by code or name.
        #[arg(long, default_value = "")]
        department: String,
        /// The fee item, by code.
        #[arg(long, default_value = "")]
        item: String,
        /// wechatpay, alipay, unionpay, campus_card or offline (or 微信支付…).
        #[arg(long, default_value = "")]
        channel: String,
        /// The payer's college (院系), by code or name.
        #[arg(long, default_value = "")]
        college: String,
        #[arg(long, default_value = "")]
        grade: String,
        #[arg(long = "class", default_value = "")]
        class_name: String,
        /// enrolled_student, new_student, staff, registrant or external.
        #[arg(long, default_value = "")]
        payer_kind: String,
        /// The operator who collected, by login name.
        #[arg(long, default_value = "")]
        operator: String,
        /// Write the report to this xlsx file instead of printing it.
        #[arg(long)]
        xlsx: Option<PathBuf>,
    },
    /// Print which permissions each operator role holds (a Markdown table).
    Roles,
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

/// What `bursar import` reads.
#[derive(Subcommand)]
enum ImportCmd {
    /// Import the school's roster of students or staff (花名册) from xlsx or CSV: columns by their
    /// Chinese headers (学号/工号, 姓名, 证件类型, 证件号码, 性别, 院系, 专业, 年级, 班级,
    /// 学籍状态/在职状态, 手机, 入学年份); payers upserted by number. A file with any bad row
    /// changes nothing (unless --valid-rows); every problem is written to FILE.errors.csv.
    /// Exits 2 when the file is refused.
    Payers {
        #[command(flatten)]
        common: Common,
        /// The xlsx or CSV file (UTF-8 or GBK).
        file: PathBuf,
        /// enrolled_student, new_student or staff.
        #[arg(long, default_value = "enrolled_student")]
        kind: String,
        /// Apply the good rows even when others are bad.
        #[arg(long)]
        valid_rows: bool,
    },
    /// Import receivables (应收) from xlsx or CSV: 学号/工号, 项目编码, 学年, 金额, 备注. A receivable
    /// already raised with the same amount is left alone; a different amount is reported, never
    /// changed. A file with any bad row changes nothing (unless --valid-rows); every problem is
    /// written to FILE.errors.csv. Exits 2 when the file is refused.
    Receivables {
        #[command(flatten)]
        common: Common,
        /// The xlsx or CSV file (UTF-8 or GBK).
        file: PathBuf,
        /// Apply the good rows even when others are bad.
        #[arg(long)]
        valid_rows: bool,
    },
    /// Ask for reductions and deferrals (批量减免缓缴) from an xlsx or CSV file: 学号/工号, 项目编码,
    /// 学年, 类型 (减免, 困难缓缴, 绿色通道, 助学贷款), 减免金额, 缓缴至, 原因. The requests wait as
    /// one batch for another person's approval on the 减免缓缴 page. A file with any bad row asks
    /// for nothing (unless --valid-rows); problems go to FILE.errors.csv. Exits 2 when refused.
    Relief {
        #[command(flatten)]
        common: Common,
        /// The xlsx or CSV file (UTF-8 or GBK).
        file: PathBuf,
        /// Ask for the good rows even when others are bad.
        #[arg(long)]
        valid_rows: bool,
    },
    /// Import offline collections (cash desk, POS, bank deduction) from an xlsx or CSV file, as
    /// the finance view's 线下导入 does: every row is checked first and a file with any bad row
    /// changes nothing; rows already imported are skipped. Exits 2 when the file is refused.
    Offline {
        #[command(flatten)]
        common: Common,
        /// The xlsx or CSV file (UTF-8 or GBK).
        file: PathBuf,
        /// Only check the file and report; change nothing.
        #[arg(long)]
        check: bool,
    },
}

/// `bursar receivables …`.
#[derive(Subcommand)]
enum ReceivablesCmd {
    /// Raise receivables (应收) for a group of payers by the fee item's standard (收费标准) in
    /// force for the year. Without --commit, prints what it would raise: how many payers, the
    /// total, how many at each amount, and who is left out and why. With --commit, raises it in
    /// one transaction; a payer already charged for the item that year is never charged twice.
    /// Exits 2 when refused (no standard in force, an unknown item…).
    Raise {
        #[command(flatten)]
        common: Common,
        /// The fee item's code, e.g. XF.
        #[arg(long)]
        item: String,
        /// The academic year, e.g. 2026-2027.
        #[arg(long)]
        year: String,
        /// enrolled_student, new_student, staff, registrant or external.
        #[arg(long)]
        kind: Option<String>,
        /// The college or office, by its name (计算机学院).
        #[arg(long)]
        college: Option<String>,
        #[arg(long)]
        major: Option<String>,
        #[arg(long)]
        grade: Option<String>,
        #[arg(long = "class")]
        class_name: Option<String>,
        /// Raise (otherwise only show what would be raised).
        #[arg(long)]
        commit: bool,
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
    let result = runtime.block_on(run(cli));
    if std::env::var_os("BURSAR_PRINT_PEAK_MEMORY").is_some() {
        // For benchmarks and the bounded-memory tests: this process's own high-water mark
        // (VmHWM), which a parent's wait4 cannot give (it counts the parent it forked from).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            eprintln!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
        }
    }
    match result {
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
            let running = app::start(&cfg, Injected::default()).await?;
            let seeded = demo::seed_if_empty_with(&running.engine, &cfg.initial_password_rule()?).await?;
            demo::enable_channels(&running.engine).await?;
            demo::ensure_demo_projects(&running.engine).await?;
            if seeded.is_some() {
                bursar::demo_history::seed_history(&running.engine).await?;
            }
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
            println!(
                "  Other payers:         staff {staff} / {staff_pw} (must change it; ID number {}); new student {ns_id} + {ns_name}; outside people register at /portal/register (code by SMS: simulator /sms)",
                demo::staff_id_number()
            );
            println!(
                "  Open API:             {}/api/v1   (demo app credentials: {}; docs: /api/v1/openapi.json)",
                running.base_url,
                app_file.display()
            );
            println!(
                "  Finance view:         {}/admin    ({} / {}: finance administrator; also {} (clerk), {} (approver), {} (cashier), {} (chief cashier), {} (auditor), {} (leader), {} (system administrator), same password)",
                running.base_url,
                demo::FINANCE_USER,
                demo::FINANCE_PASSWORD,
                demo::CLERK_USER,
                demo::APPROVER_USER,
                demo::CASHIER_USER,
                demo::CHIEF_CASHIER_USER,
                demo::AUDITOR_USER,
                demo::LEADER_USER,
                demo::SYSADMIN_USER
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
            let engine = app::cli_engine(&cfg).await?;
            let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
            match action {
                MerchantCmd::Add { channel, name, config } => {
                    let kind = bursar_domain::payment::ChannelKind::parse(&channel)
                        .filter(|k| matches!(k.as_str(), "wechatpay" | "alipay" | "unionpay"))
                        .ok_or_else(|| anyhow::anyhow!("channel must be wechatpay, alipay or unionpay"))?;
                    let value = bursar::merchants::read_config_file(&config)?;
                    let id = engine.register_merchant(&by, kind, &name, &value).await?;
                    println!("merchant account {id} ({channel}) registered; its secrets are sealed. Running instances use it at once.");
                }
                MerchantCmd::List => {
                    for m in engine.operator_view(&by).channels().await?.accounts {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            m.id,
                            m.channel.as_str(),
                            m.merchant_no,
                            m.state.as_str(),
                            m.name
                        );
                    }
                }
            }
            engine.store().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { what: ImportCmd::Offline { common, file, check } } => {
            let cfg = load(&common, None)?;
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let engine = app::cli_engine(&cfg).await?;
            let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let result = if check {
                engine.check_offline_file(&by, &bytes).await.map(|(rows, errors)| {
                    bursar_engine::collection::offline::ImportReport {
                        rows: rows.len() + errors.len(),
                        errors,
                        ..Default::default()
                    }
                })
            } else {
                engine.import_offline(&by, &name, &bytes).await
            };
            engine.store().close().await;
            let report = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("refused: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            for e in &report.errors {
                eprintln!("line {}: {}", e.line, e.reason);
            }
            if !report.errors.is_empty() {
                eprintln!(
                    "refused: {} of {} rows have problems; nothing was imported",
                    report.errors.len(),
                    report.rows
                );
                return Ok(ExitCode::from(2));
            }
            if check {
                println!("{} rows checked: all can be imported", report.rows);
            } else {
                println!(
                    "{} rows: {} imported, {} imported before",
                    report.rows, report.imported, report.already_imported
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { what: ImportCmd::Payers { common, file, kind, valid_rows } } => {
            let cfg = load(&common, None)?;
            let kind = bursar_domain::payer::PayerKind::parse(&kind)
                .ok_or_else(|| anyhow::anyhow!("--kind must be enrolled_student, new_student or staff"))?;
            bursar::imports::run(&cfg, &file, valid_rows, bursar::imports::What::Payers(kind)).await
        }
        Command::Import { what: ImportCmd::Receivables { common, file, valid_rows } } => {
            let cfg = load(&common, None)?;
            bursar::imports::run(&cfg, &file, valid_rows, bursar::imports::What::Receivables).await
        }
        Command::Import { what: ImportCmd::Relief { common, file, valid_rows } } => {
            let cfg = load(&common, None)?;
            bursar::imports::run(&cfg, &file, valid_rows, bursar::imports::What::Relief).await
        }
        Command::Receivables {
            action: ReceivablesCmd::Raise { common, item, year, kind, college, major, grade, class_name, commit },
        } => {
            let cfg = load(&common, None)?;
            let kind = match kind {
                Some(k) => Some(bursar_domain::payer::PayerKind::parse(&k).ok_or_else(|| {
                    anyhow::anyhow!("--kind must be enrolled_student, new_student, staff, registrant or external")
                })?),
                None => None,
            };
            let group = bursar::imports::GroupArgs { kind, college, major, grade, class_name };
            bursar::imports::raise(&cfg, item, year, group, commit).await
        }
        Command::Report {
            common,
            name,
            from,
            to,
            department,
            item,
            channel,
            college,
            grade,
            class_name,
            payer_kind,
            operator,
            xlsx,
        } => {
            let cfg = load(&common, None)?;
            let q = bursar_engine::reports::ReportQuery {
                from,
                to,
                department,
                item,
                channel,
                college,
                grade,
                class: class_name,
                payer_kind,
                operator,
            };
            bursar::report::run(&cfg, &name, &q, xlsx.as_deref()).await
        }
        Command::Roles => {
            print!("{}", bursar_domain::access::role_table_markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { common } => {
            let cfg = load(&common, None)?;
            let store = app::open_store(&cfg, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await?;
            let report = bursar_store::verify::run(&store).await?;
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
