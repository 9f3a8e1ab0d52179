//! Wiring: store, channels (and their simulators), engine, web, jobs — started on listeners.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bursar_channels::alipay::{AlipaySandbox, AlipaySimulator};
use bursar_channels::unionpay::{UnionpaySandbox, UnionpaySimulator};
use bursar_channels::wechatpay::sandbox::Sandbox;
use bursar_channels::wechatpay::{WechatPayConfig, WechatPaySimulator};
use bursar_domain::payment::ChannelKind;
use bursar_domain::{Clock, IdGen, SystemClock, UuidV7Ids};
use bursar_engine::{Engine, EngineConfig};
use bursar_store::Store;
use bursar_web::{AppState, WebConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::merchants::{self, MasterKey};

/// A running platform (and simulators, when enabled).
pub struct Running {
    pub base_url: String,
    pub sim_base_url: Option<String>,
    pub store: Store,
    pub engine: Engine,
    pub wechat_sim: Option<WechatPaySimulator>,
    pub alipay_sim: Option<AlipaySimulator>,
    pub unionpay_sim: Option<UnionpaySimulator>,
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
    let key = bursar_web::auth::random_token();
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

/// Opens the store (applying migrations).
pub async fn open_store(cfg: &Config, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let url = cfg.database_url();
    Store::open(&url, clock, ids).await.with_context(|| format!("opening the store {}", bursar_store_redact(&url)))
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

    // Channels: merchant accounts live in the store (secrets sealed under the master key). With
    // the simulators, their sandbox merchants are (re)registered at their current address.
    let master = MasterKey::load_or_create(&cfg.data_dir)?;
    let mut wechat_sim = None;
    let mut alipay_sim = None;
    let mut unionpay_sim = None;
    let mut sim_base_url = None;
    if cfg.simulators {
        let (sims, task) = start_simulators(cfg, inj.clock.clone(), inj.sim_retry_scale, shutdown_rx.clone()).await?;
        tasks.push(task);
        register_sandbox_merchants(&store, &master, &sims).await?;
        wechat_sim = Some(sims.wechat);
        alipay_sim = Some(sims.alipay);
        unionpay_sim = Some(sims.unionpay);
        sim_base_url = Some(sims.base_url);
    }
    if let Some(files) = &cfg.wechatpay {
        let config = serde_json::to_value(wechat_config_from_files(files)?)?;
        merchants::register(&store, &master, ChannelKind::Wechatpay, "微信支付", &config).await?;
    }

    let mut engine_config = EngineConfig {
        merchant_display_name: cfg.school_name.clone(),
        public_base_url: base_url.clone(),
        payment_ttl_ms: cfg.payment_ttl_secs * 1000,
        auto_refund_overpayments: cfg.auto_refund_overpayments,
        sealing: master.sealing(),
        ..EngineConfig::default()
    };
    if let Some(d) = inj.code_deadline_ms {
        engine_config.code_deadline_ms = d;
    }
    if let Some(d) = inj.query_delays_ms {
        engine_config.query_delays_ms = d;
    }
    let engine = Engine::new(store.clone(), Vec::new(), engine_config);
    let installed = merchants::install_all(&store, &master, &engine, inj.clock.clone()).await?;
    tracing::info!(merchant_accounts = installed, "channel adapters ready");
    let state = AppState {
        engine: engine.clone(),
        config: Arc::new(WebConfig {
            school_name: cfg.school_name.clone(),
            school_name_en: cfg.school_name_en.clone(),
            initial_password: cfg.initial_password_rule()?,
            secure_cookies: cfg.secure_cookies,
            id_digest_key: id_digest_key(&cfg.data_dir)?,
            sim_base_url: sim_base_url.clone(),
            max_login_failures: 5,
            lockout_ms: 15 * 60 * 1000,
        }),
    };
    tasks.push(serve(listener, bursar_web::router(state), shutdown_rx.clone()));
    tasks.push(tokio::spawn(bursar_jobs::run_worker(
        bursar_jobs::Worker::new(engine.clone()),
        inj.sweep_every,
        shutdown_rx,
    )));

    Ok(Running { base_url, sim_base_url, store, engine, wechat_sim, alipay_sim, unionpay_sim, shutdown, tasks })
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
}

/// The sandbox merchant accounts of the running simulators: one WeChat Pay merchant and two
/// Alipay apps (tuition and accommodation into one, other fees into the other).
pub async fn register_sandbox_merchants(store: &Store, master: &MasterKey, sims: &Simulators) -> anyhow::Result<()> {
    let wechat = serde_json::to_value(sims.sandbox.merchant_config(&sims.base_url))?;
    merchants::register(store, master, ChannelKind::Wechatpay, &sims.sandbox.merchant_name, &wechat).await?;
    let unionpay = serde_json::to_value(sims.unionpay_sandbox.merchant_config(&sims.base_url))?;
    merchants::register(store, master, ChannelKind::Unionpay, "银联在线支付", &unionpay).await?;
    for (i, app) in sims.alipay_sandbox.apps.iter().enumerate() {
        if let Some(cfg) = sims.alipay_sandbox.merchant_config(i, &sims.base_url) {
            merchants::register(store, master, ChannelKind::Alipay, &app.name, &serde_json::to_value(cfg)?).await?;
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
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let listener = TcpListener::bind(cfg.sim_listen).await.with_context(|| format!("binding {}", cfg.sim_listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let sandbox = Sandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let wechat = WechatPaySimulator::new(sandbox.clone(), clock.clone())?.with_retry_scale(retry_scale);
    let alipay_sandbox = AlipaySandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let alipay = AlipaySimulator::new(alipay_sandbox.clone(), clock.clone())?.with_retry_scale(retry_scale);
    let unionpay_sandbox = UnionpaySandbox::load_or_create(&cfg.data_dir, &base_url, &cfg.school_name)?;
    let unionpay = UnionpaySimulator::new(unionpay_sandbox.clone(), clock)?;
    let task = serve(listener, wechat.router().merge(alipay.router()).merge(unionpay.router()), shutdown);
    Ok((Simulators { base_url, sandbox, wechat, alipay_sandbox, alipay, unionpay_sandbox, unionpay }, task))
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
