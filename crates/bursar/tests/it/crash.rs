//! A real process killed with SIGKILL during a burst of payments: the channel simulator runs as
//! its own process (as a real channel would), the platform (`bursar serve`, configured with the
//! sandbox merchant like a real one) is killed mid-burst and restarted. Every payment the channel
//! says was paid must end up credited exactly once, and `bursar verify` must pass.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bursar_channels::wechatpay::{WechatPayAdapter, WechatPayConfig};
use bursar_channels::Channel;
use bursar_domain::payment::{ChannelOutcome, PaymentState};
use bursar_domain::SystemClock;

use crate::both_stores;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_bursar");

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(args: &[&str], db_url: Option<&str>) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("BURSAR_DATABASE_URL")
        .env_remove("DATABASE_URL");
    if let Some(url) = db_url {
        cmd.env("BURSAR_DATABASE_URL", url);
    }
    Proc(cmd.spawn().expect("spawn bursar"))
}

async fn wait_healthy(base: &str) {
    eventually("the server answers", Duration::from_secs(30), || async move {
        matches!(client().get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
}

both_stores!(kill_9_during_a_burst_loses_nothing, |env: TestEnv| async move {
    // 1. The channel, in its own process.
    let sim_dir = env.dir.join("channel");
    let sim_port = free_port();
    let _sim = spawn(
        &["simulators", "--data-dir", sim_dir.to_str().unwrap(), "--sim-listen", &format!("127.0.0.1:{sim_port}")],
        None,
    );
    let sandbox_dir = sim_dir.join("sandbox/wechatpay");
    eventually("sandbox published", Duration::from_secs(30), || {
        let f = sandbox_dir.join("config.json");
        async move { std::fs::read_to_string(f).map(|t| t.contains("base_url")).unwrap_or(false) }
    })
    .await;
    let sandbox: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox_dir.join("config.json")).unwrap()).unwrap();
    let sim_base = sandbox["base_url"].as_str().unwrap().to_string();

    // 2. The platform, configured with the sandbox merchant exactly like a real one.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = env.dir.join("platform");
    std::fs::create_dir_all(&data_dir).unwrap();
    let s = |k: &str| sandbox[k].as_str().unwrap().to_string();
    std::fs::write(
        data_dir.join("bursar.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\npayment_ttl_secs = 600\n\n[wechatpay]\nbase_url = \"{sim_base}\"\nmchid = \"{}\"\nappid = \"{}\"\n\
             merchant_serial_no = \"{}\"\nmerchant_private_key_file = \"{}\"\nplatform_public_key_id = \"{}\"\n\
             platform_public_key_file = \"{}\"\napiv3_key_file = \"{}\"\n",
            s("mchid"),
            s("appid"),
            s("merchant_serial_no"),
            sandbox_dir.join("apiclient_key.pem").display(),
            s("platform_public_key_id"),
            sandbox_dir.join("pub_key.pem").display(),
            sandbox_dir.join("apiv3_key.txt").display(),
        ),
    )
    .unwrap();
    let mut cfg = env.config();
    cfg.data_dir = data_dir.clone();
    let engine = bursar::app::cli_engine(&cfg).await.unwrap();
    let store = engine.store().clone();
    bursar::demo::seed_if_empty(&engine).await.unwrap();
    let serve_args = ["serve", "--data-dir", data_dir.to_str().unwrap()];
    let mut server = spawn(&serve_args, Some(&env.url));
    wait_healthy(&base).await;
    // Finance lets the fee items be paid into the configured merchant account.
    bursar::demo::enable_channels(&engine).await.unwrap();

    // 3. A burst: eight students each start two payments.
    let mut payments = Vec::new();
    for (user, password) in bursar::demo::student_logins(8) {
        let c = client();
        let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
        let r = c
            .post(format!("{base}/portal/login"))
            .form(&[("identifier", user.as_str()), ("password", password.as_str()), ("csrf", csrf_of(&page).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let pay = c.get(format!("{base}/portal/pay?year=2026-2027")).send().await.unwrap().text().await.unwrap();
        let csrf = csrf_of(&pay);
        let tuition = between(&pay, "name=\"sel\" value=\"", "\"").unwrap().to_string();
        for amount in ["1000", "1000.01"] {
            let r = c
                .post(format!("{base}/portal/orders"))
                .form(&[("csrf", csrf.as_str()), ("sel", tuition.as_str()), (&format!("amount_{tuition}"), amount)])
                .send()
                .await
                .unwrap();
            let order = location(&r);
            let r = c
                .post(format!("{base}{order}/pay"))
                .form(&[("csrf", csrf.as_str()), ("method", "wechat_native")])
                .send()
                .await
                .unwrap();
            let payment_path = location(&r);
            let page = c.get(format!("{base}{payment_path}")).send().await.unwrap().text().await.unwrap();
            let no = merchant_order_no_on(&page);
            let phone = between(&page, "id=\"sim-phone\" href=\"", "\"");
            assert!(phone.is_none(), "a real-merchant configuration shows no simulator link");
            payments.push(no);
        }
    }
    // The payer's phones confirm at the channel, all at once; the platform is killed mid-burst.
    let adapter_cfg = WechatPayConfig {
        base_url: sim_base.clone(),
        mchid: s("mchid"),
        appid: s("appid"),
        merchant_serial_no: s("merchant_serial_no"),
        merchant_private_key_pem: std::fs::read_to_string(sandbox_dir.join("apiclient_key.pem")).unwrap(),
        platform_public_key_id: s("platform_public_key_id"),
        platform_public_key_pem: std::fs::read_to_string(sandbox_dir.join("pub_key.pem")).unwrap(),
        apiv3_key: std::fs::read_to_string(sandbox_dir.join("apiv3_key.txt")).unwrap().trim().to_string(),
        api_v2_key: None,
    };
    let mut confirms = Vec::new();
    for (i, no) in payments.iter().enumerate() {
        if i % 4 == 3 {
            continue; // some payers never pay
        }
        let mut c = store.read().await.unwrap();
        let code_url =
            bursar_store::payments::payment_by_merchant_order_no(&mut c, no).await.unwrap().unwrap().code_url.unwrap();
        drop(c);
        let sim_base = sim_base.clone();
        confirms.push(tokio::spawn(async move {
            let pr = code_url.rsplit_once("pr=").unwrap().1.to_string();
            client()
                .post(format!("{sim_base}/phone/pay"))
                .form(&[("pr", pr.as_str()), ("action", "confirm")])
                .send()
                .await
                .unwrap()
                .status()
        }));
        if i == payments.len() / 2 {
            // SIGKILL: no shutdown hook, transactions cut wherever they are.
            server.0.kill().unwrap();
            server.0.wait().unwrap();
        }
    }
    for c in confirms {
        assert_eq!(c.await.unwrap(), 200);
    }

    // 4. Restart. Notifications sent while it was down are retried by the channel; the rest is
    //    recovered by the query jobs that survived in the database.
    server = spawn(&serve_args, Some(&env.url));
    wait_healthy(&base).await;
    let adapter = WechatPayAdapter::new(&adapter_cfg, Arc::new(SystemClock)).unwrap();
    let mut paid_at_channel = Vec::new();
    for no in &payments {
        if let ChannelOutcome::Paid { .. } = adapter.query(no).await.unwrap() {
            paid_at_channel.push(no.clone());
        }
    }
    assert_eq!(paid_at_channel.len(), 12, "twelve payers paid at the channel");
    eventually("every payment paid at the channel is credited", Duration::from_secs(60), || {
        let store = store.clone();
        let paid = paid_at_channel.clone();
        async move {
            let mut c = store.read().await.unwrap();
            for no in &paid {
                let p = bursar_store::payments::payment_by_merchant_order_no(&mut c, no).await.unwrap().unwrap();
                if p.state != PaymentState::Succeeded {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let succeeded = scalar(&store, "SELECT COUNT(*) FROM payments WHERE state = 'succeeded'", &[]).await;
    assert_eq!(succeeded, 12, "and nothing else is");
    drop(server);

    // 5. The binary's own verification agrees.
    let out = Command::new(BIN)
        .args(["verify", "--data-dir", data_dir.to_str().unwrap()])
        .env("BURSAR_DATABASE_URL", &env.url)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify failed:\n{report}");
    assert!(report.contains("all invariants hold"));
});
