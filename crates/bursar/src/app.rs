//! Wiring: store, channels (and their simulators), engine, web, jobs — started on listeners.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bursar_channels::wechatpay::WechatPayConfig;
use bursar_domain::access::{Principal, SystemJob};
use bursar_domain::payment::ChannelKind;
use bursar_domain::{Clock, IdGen, SystemClock, UuidV7Ids};
use bursar_engine::{Engine, EngineConfig};
use bursar_simulators::wechatpay::sandbox::Sandbox;
use bursar_simulators::{AlipaySandbox, AlipaySimulator, UnionpaySandbox, UnionpaySimulator, WechatPaySimulator};
use bursar_store::Store;
use bursar_web::{AppState, WebConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::merchants::MasterKey;

/// A running platform (and simulators, when enabled).
pub struct Running {
    pub base_url: String,
    pub sim_base_url: Option<String>,
    pub store: Store,
    pub engine: Engine,
    pub wechat_sim: Option<WechatPaySimulator>,
    pub alipay_sim: Option<AlipaySimulator>,
    pub unionpay_sim: Option<UnionpaySimulator>,
    pub sms_sim: Option<bursar_simulators::SmsSimulator>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops serving and waits for the servers and jobs to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.store.close().await;
    }

    /// Resolves when the platform has been told to stop.
    pub fn shutdown_sender(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Everything `start` needs that tests may want to replace.
pub struct Injected {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    /// Multiplies the simulator's notification retry delays (tests shorten them).
    pub sim_retry_scale: f64,
    /// How often the job worker looks for due jobs.
    pub sweep_every: Duration,
    /// Overrides the engine's active-query delays (tests shorten them).
    pub query_delays_ms: Option<Vec<i64>>,
    /// Overrides how long a payment-code charge waits before it is reversed (tests shorten it).
    pub code_deadline_ms: Option<i64>,
}

impl Default for Injected {
    fn default() -> Self {
        Injected {
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Ids),
            sim_retry_scale: 1.0,
            sweep_every: Duration::from_secs(2),
            query_delays_ms: None,
            code_deadline_ms: None,
        }
    }
}

/// The key that makes ID-number digests: from `BURSAR_ID_DIGEST_KEY`, or generated once into
/// `<data-dir>/secrets/id_digest.key`.
fn id_digest_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(v) = std::env::var("BURSAR_ID_DIGEST_KEY") {
        if v.len() >= 32 {
            return Ok(v.into_bytes());
        }
        anyhow::bail!("BURSAR_ID_DIGEST_KEY must be at least 32 characters");
    }
    let dir = data_dir.join("secrets");
    let path = dir.join("id_digest.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let key = bursar_engine::access::passwords::random_token();
    std::fs::write(&path, &key).with_context(|| path.display().to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key.into_bytes())
}

pub fn read_id_digest_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    id_digest_key(data_dir)
}

fn wechat_config_from_files(f: &crate::config::WechatPayFiles) -> anyhow::Result<WechatPayConfig> {
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    Ok(WechatPayConfig {
        base_url: f.base_url.clone(),
        mchid: f.mchid.clone(),
        appid: f.appid.clone(),
        merchant_serial_no: f.merchant_serial_no.clone(),
        merchant_private_key_pem: read(&f.merchant_private_key_file)?,
        platform_public_key_id: f.platform_public_key_id.clone(),
        platform_public_key_pem: read(&f.platform_public_key_file)?,
        apiv3_key: read(&f.apiv3_key_file)?.trim().to_string(),
        api_v2_key: match &f.api_v2_key_file {
            Some(p) => Some(read(p)?.trim().to_string()),
            None => None,
        },
    })
}

/// The engine for a store and configuration (the server's, and the command line's).
pub fn build_engine(
    cfg: &Config,
    inj: &Injected,
    store: Store,
    master: &MasterKey,
    base_url: String,
) -> anyhow::Result<Engine> {
    let mut engine_config = EngineConfig {
        merchant_display_name: cfg.school_name.clone(),
        public_base_url: base_url,
        payment_ttl_ms: cfg.payment_ttl_secs * 1000,
        auto_refund_overpayments: cfg.auto_refund_overpayments,
        sealing: master.sealing(),
        id_digest_key: id_digest_key(&cfg.data_dir)?,
        initial_password: cfg.initial_password_rule()?,
        ..EngineConfig::default()
    };
    if let Some(d) = inj.code_deadline_ms {
        engine_config.code_deadline_ms = d;
    }
    if let Some(d) = &inj.query_delays_ms {
        engine_config.query_delays_ms = d.clone();
    }
    Ok(Engine::new(store, engine_config))
}

/// The engine for a command-line task (no server, no simulators).
pub async fn cli_engine(cfg: &Config) -> anyhow::Result<Engine> {
    let inj = Injected::default();
    let store = open_store(cfg, inj.clock.clone(), inj.ids.clone()).await?;
    let master = MasterKey::load_or_create(&cfg.data_dir)?;
    let base = cfg.public_base_url.clone().unwrap_or_else(|| format!("http://{}", cfg.listen));
    build_engine(cfg, &inj, store, &master, base)
}

/// Opens the store (applying migrations).
pub async fn open_store(cfg: &Config, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> anyhow::Result<Store> {
    create_private_dir(&cfg.data_dir)?;
    let url = cfg.database_url();
    if cfg.database_url.is_none() {
        // The default SQLite file is created readable by its owner only (SQLite gives its -wal
        // and -shm files the database file's permissions).
        create_private_file(&cfg.data_dir.join("bursar.db"))?;
    }
    Store::open(&url, clock, ids).await.with_context(|| format!("opening the store {}", bursar_store_redact(&url)))
}

/// Creates the data directory (and its parents) readable by its owner only: it holds the
/// database, sealed secrets and sandbox keys. An existing directory keeps its permissions.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Creates an empty file with mode 0600 when it does not exist yet (an empty file is a valid
/// empty SQLite database).
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn bursar_store_redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

/// Starts the platform (and the simulators when configured) and returns once it is serving.
pub async fn start(cfg: &Config, inj: Injected) -> anyhow::Result<Running> {
    let store = open_store(cfg, inj.clock.clone(), inj.ids.clone()).await?;
    start_with_store(cfg, inj, store).await
}

pub async fn start_with_store(cfg: &Config, inj: Injected, store: Store) -> anyhow::Result<Running> {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let local: SocketAddr = listener.local_addr()?;
    let base_url = cfg.public_base_url.clone().unwrap_or_else(|| format!("http://{local}"));

    let master = MasterKey::load_or_create(&cfg.data_dir)?;
    let engine = build_engine(cfg, &inj, store.clone(), &master, base_url.clone())?;

    // Channels: merchant accounts live in the store (secrets sealed under the master key). With
    // the simulators, their sandbox merchants are (re)registered at their current address.
    let setup = Principal::System(SystemJob::Cli);
    let mut wechat_sim = None;
    let mut alipay_sim = None;
    let mut unionpay_sim = None;
    let mut sim_base_url = None;
    let mut sms_sim = None;
    if cfg.simulators {
        let (sims, task) = start_simulators(cfg, inj.clock.clone(), inj.sim_retry_scale, shutdown_rx.clone()).await?;
        tasks.push(task);
        register_sandbox_merchants(&engine, &sims).await?;
        let gateway = bursar_channels::sms::HttpSmsGateway::new(&sims.base_url, &sims.sms.app_key, &sims.sms.secret)?;
        engine.set_sms_gateway(Arc::new(gateway));
        sms_sim = Some(sims.sms.clone());
        wechat_sim = Some(sims.wechat);
        alipay_sim = Some(sims.alipay);
        unionpay_sim = Some(sims.unionpay);
        sim_base_url = Some(sims.base_url);
    }
    if let (Some(sms), false) = (&cfg.sms, cfg.simulators) {
        let secret = std::fs::read_to_string(&sms.secret_file)
            .with_context(|| format!("reading {}", sms.secret_file.display()))?;
        let gateway = bursar_channels::sms::HttpSmsGateway::new(&sms.base_url, &sms.app_key, secret.trim())?;
        engine.set_sms_gateway(Arc::new(gateway));
    }
    if let Some(files) = &cfg.wechatpay {
        let config = serde_json::to_value(wechat_config_from_files(files)?)?;
        engine.register_merchant(&setup, ChannelKind::Wechatpay, "微信支付", &config).await?;
    }
    let installed = engine.merchants().load_all(&store).await?;
    tracing::info!(merchant_accounts = installed, "channel adapters ready");
    let state = AppState {
        engine: engine.clone(),
        config: Arc::new(WebConfig {
            school_name: cfg.school_name.clone(),
            school_name_en: cfg.school_name_en.clone(),
            initial_password: cfg.initial_password_rule()?,
            secure_cookies: cfg.secure_cookies,
            trusted_proxies: cfg.trusted_proxies.clone(),
            id_digest_key: id_digest_key(&cfg.data_dir)?,
            sim_base_url: sim_base_url.clone(),
            profile: Default::default(),
        }),
    };
    tasks.push(serve(listener, bursar_web::router(state), shutdown_rx.clone()));
    tasks.push(tokio::spawn(bursar_jobs::run_sealer(engine.clone(), shutdown_rx.clone())));
    tasks.push(tokio::spawn(bursar_jobs::run_worker(
        bursar_jobs::Worker::new(engine.clone()),
        inj.sweep_every,
        shutdown_rx,
    )));

    Ok(Running {
        base_url,
        sim_base_url,
        store,
        engine,
        wechat_sim,
        alipay_sim,
        unionpay_sim,
        sms_sim,
        shutdown,
        tasks,
    })
}

/// The channel simulators, on their own listener.
pub struct Simulators {
    pub base_url: String,
    pub sandbox: Sandbox,
    pub wechat: WechatPaySimulator,
    pub alipay_sandbox: AlipaySandbox,
    pub alipay: AlipaySimulator,
    pub unionpay_sandbox: UnionpaySandbox,
    pub unionpay: UnionpaySimulator,
    pub sms: bursar_simulators::SmsSimulator,
}

/// The sandbox merchant accounts of the running simulators: one WeChat Pay merchant and two
/// Alipay apps (tuition and accommodation into one, other fees into the other).
pub async fn register_sandbox_merchants(engine: &Engine, sims: &Simulators) -> anyhow::Result<()> {
    let by = Principal::System(SystemJob::Cli);
    let wechat = serde_json::to_value(sims.sandbox.merchant_config(&sims.base_url))?;
    engine.register_merchant(&by, ChannelKind::Wechatpay, &sims.sandbox.merchant_name, &wechat).await?;
    let unionpay = serde_json::to_value(sims.unionpay_sandbox.merchant_config(&sims.base_url))?;
    engine.register_merchant(&by, ChannelKind::Unionpay, "银联在线支付", &unionpay).await?;
    for (i, app) in sims.alipay_sandbox.apps.iter().enumerate() {
        if let Some(cfg) = sims.alipay_sandbox.merchant_config(i, &sims.base_url) {
            engine.register_merchant(&by, ChannelKind::Alipay, &app.name, &serde_json::to_value(cfg)?).await?;
        }
    }
    Ok(())
}

/// Starts the simulators (generating or loading their sandbox credentials in the data dir).
pub async fn start_simulators(
    cfg: &Config,
    clock: Arc<dyn Clock>,
    retry_scale: f64,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Simulators, tokio::task::JoinHandle<()>)> {
    create_private_dir(&cfg.data_dir)?;
    let listener = TcpListener::bind(cfg.sim_listen).await.with_context(|| format!("binding {}", cfg.sim_listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let sandbox = Sandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let wechat = WechatPaySimulator::new(sandbox.clone(), clock.clone())?.with_retry_scale(retry_scale);
    let alipay_sandbox = AlipaySandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let alipay = AlipaySimulator::new(alipay_sandbox.clone(), clock.clone())?.with_retry_scale(retry_scale);
    let unionpay_sandbox = UnionpaySandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let unionpay = UnionpaySimulator::new(unionpay_sandbox.clone(), clock)?;
    // The SMS gateway's key for this run (the platform in the same process is told it).
    let sms = bursar_simulators::SmsSimulator::new("bursar-demo", &bursar_engine::access::passwords::random_token());
    let router = wechat.router().merge(alipay.router()).merge(unionpay.router()).merge(sms.router());
    let task = serve(listener, router, shutdown);
    Ok((Simulators { base_url, sandbox, wechat, alipay_sandbox, alipay, unionpay_sandbox, unionpay, sms }, task))
}

fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "server stopped");
        }
    })
}
