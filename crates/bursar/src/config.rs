//! One typed configuration: defaults, then `<data-dir>/bursar.toml` (or `--config FILE`), then
//! `BURSAR_*` environment variables, then command-line flags. Secrets are never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the platform listens.
    pub listen: SocketAddr,
    /// Where the built-in channel simulators listen (their own port, so paths are exactly the
    /// channel's, e.g. `/v3/pay/transactions/native`).
    pub sim_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` (default: `<data-dir>/bursar.db`) or `postgres://…`.
    pub database_url: Option<String>,
    /// How payers and channels reach Bursar (notification URLs). Default: `http://<listen>`.
    pub public_base_url: Option<String>,
    pub school_name: String,
    /// The school's name in English, for the portal's English pages (the Chinese name otherwise).
    pub school_name_en: Option<String>,
    /// Payers' initial passwords: `id_last6` (last six characters of the ID-card number, X upper
    /// case; the default) or one fixed password such as `000000`.
    pub initial_password: String,
    /// Mark cookies Secure (and send HSTS); turn on whenever Bursar is served over HTTPS.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` tells the client's address (for login limits per
    /// source). Default: loopback, i.e. a proxy on the same host.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Run the channel simulators and use their sandbox merchant (the demo does).
    pub simulators: bool,
    /// How long a QR payment stays payable, in seconds.
    pub payment_ttl_secs: i64,
    /// Refund overpayments (late or duplicate payments) automatically instead of queueing them
    /// for finance.
    pub auto_refund_overpayments: bool,
    /// WeChat Pay merchant settings for real use (ignored when `simulators` is on).
    pub wechatpay: Option<WechatPayFiles>,
    /// The SMS gateway (one-time codes when outside people register); ignored with simulators.
    pub sms: Option<SmsGatewayFiles>,
}

/// An SMS gateway speaking Bursar's signed JSON call (see `bursar_channels::sms`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewayFiles {
    pub base_url: String,
    pub app_key: String,
    pub secret_file: PathBuf,
}

/// A WeChat Pay merchant, with its secrets in files rather than in the configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatPayFiles {
    pub base_url: String,
    pub mchid: String,
    pub appid: String,
    pub merchant_serial_no: String,
    pub merchant_private_key_file: PathBuf,
    pub platform_public_key_id: String,
    pub platform_public_key_file: PathBuf,
    pub apiv3_key_file: PathBuf,
    /// The API v2 key, for payment codes at the counter (optional).
    #[serde(default)]
    pub api_v2_key_file: Option<PathBuf>,
}

/// The demo school, in Chinese and English.
const DEFAULT_SCHOOL: (&str, &str) = ("山东理工大学", "Shandong University of Technology");

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sim_listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            public_base_url: None,
            school_name: DEFAULT_SCHOOL.0.into(),
            school_name_en: Some(DEFAULT_SCHOOL.1.into()),
            initial_password: "id_last6".into(),
            secure_cookies: false,
            trusted_proxies: vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            simulators: false,
            payment_ttl_secs: 15 * 60,
            auto_refund_overpayments: false,
            wechatpay: None,
            sms: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("sim_listen", &self.sim_listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact))
            .field("public_base_url", &self.public_base_url)
            .field("simulators", &self.simulators)
            .finish_non_exhaustive()
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}://{user}:***{}", &url[..s], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

impl Config {
    /// Loads the file (when present) over the defaults, then the environment.
    pub fn load(data_dir: Option<&Path>, file: Option<&Path>) -> anyhow::Result<Config> {
        let dir = data_dir.map(Path::to_path_buf).or_else(|| std::env::var_os("BURSAR_DATA_DIR").map(PathBuf::from));
        let default_file = dir.clone().unwrap_or_else(|| PathBuf::from("data")).join("bursar.toml");
        let path = file.map(Path::to_path_buf).unwrap_or(default_file);
        let mut cfg: Config = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        } else if file.is_some() {
            anyhow::bail!("configuration file {} not found", path.display());
        } else {
            Config::default()
        };
        if let Some(d) = dir {
            cfg.data_dir = d;
        }
        cfg.apply_env()?;
        // Another school keeps no English name of the demo school's.
        if cfg.school_name != DEFAULT_SCHOOL.0 && cfg.school_name_en.as_deref() == Some(DEFAULT_SCHOOL.1) {
            cfg.school_name_en = None;
        }
        cfg.initial_password_rule()?;
        Ok(cfg)
    }

    pub fn initial_password_rule(&self) -> anyhow::Result<bursar_domain::payer::InitialPasswordRule> {
        bursar_domain::payer::InitialPasswordRule::parse(&self.initial_password).map_err(|e| anyhow::anyhow!(e))
    }

    fn apply_env(&mut self) -> anyhow::Result<()> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("BURSAR_DATABASE_URL").or_else(|| var("DATABASE_URL")) {
            self.database_url = Some(v);
        }
        if let Some(v) = var("BURSAR_LISTEN") {
            self.listen = v.parse().map_err(|e| anyhow::anyhow!("BURSAR_LISTEN: {e}"))?;
        }
        if let Some(v) = var("BURSAR_SIM_LISTEN") {
            self.sim_listen = v.parse().map_err(|e| anyhow::anyhow!("BURSAR_SIM_LISTEN: {e}"))?;
        }
        if let Some(v) = var("BURSAR_PUBLIC_BASE_URL") {
            self.public_base_url = Some(v);
        }
        if let Some(v) = var("BURSAR_SCHOOL_NAME") {
            self.school_name = v;
        }
        if let Some(v) = var("BURSAR_SCHOOL_NAME_EN") {
            self.school_name_en = Some(v);
        }
        if let Some(v) = var("BURSAR_INITIAL_PASSWORD") {
            self.initial_password = v;
        }
        if let Some(v) = var("BURSAR_SECURE_COOKIES") {
            self.secure_cookies = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = var("BURSAR_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(|a| a.trim().parse().map_err(|e| anyhow::anyhow!("BURSAR_TRUSTED_PROXIES: {a}: {e}")))
                .collect::<anyhow::Result<_>>()?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("bursar.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_secrets_are_redacted() {
        let dir = std::env::temp_dir().join(format!("bursar-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bursar.toml"),
            "listen = \"127.0.0.1:9000\"\ndatabase_url = \"postgres://u:pw@h/db\"\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&dir), None).unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("pw@"), "{shown}");
        std::fs::write(dir.join("bursar.toml"), "no_such_key = 1\n").unwrap();
        assert!(Config::load(Some(&dir), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_school_and_a_fixed_initial_password() {
        let dir = std::env::temp_dir().join(format!("bursar-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Config::load(Some(&dir), None).unwrap();
        assert_eq!(cfg.school_name_en.as_deref(), Some(DEFAULT_SCHOOL.1), "the demo school's English name");
        assert_eq!(cfg.initial_password_rule().unwrap(), bursar_domain::payer::InitialPasswordRule::IdLastSix);
        std::fs::write(dir.join("bursar.toml"), "school_name = \"示范学院\"\ninitial_password = \"000000\"\n").unwrap();
        let cfg = Config::load(Some(&dir), None).unwrap();
        assert_eq!(cfg.school_name_en, None, "no English name of another school");
        assert_eq!(
            cfg.initial_password_rule().unwrap(),
            bursar_domain::payer::InitialPasswordRule::Fixed("000000".into())
        );
        std::fs::write(dir.join("bursar.toml"), "initial_password = \"123\"\n").unwrap();
        assert!(Config::load(Some(&dir), None).is_err(), "a password too short to be an initial one");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
