//! 公告 and channel maintenance notices: published by the system administrator for a period,
//! shown to payers where they log in and choose how to pay, withdrawn at once — on both stores.

use crate::both_stores;
use crate::support::*;

both_stores!(notices_reach_payers_for_their_period, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = admin.get(format!("{base}/admin/notices")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let publish = |channel: &'static str, title: &'static str, starts: &'static str, ends: &str| {
        let (admin, base, csrf, ends) = (admin.clone(), base.clone(), csrf.clone(), ends.to_string());
        async move {
            let r = admin
                .post(format!("{base}/admin/notices"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("channel", channel),
                    ("title", title),
                    ("body", "请留意缴费截止时间。"),
                    ("starts", starts),
                    ("ends", ends.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Refused: no title, an end before the start, an end already past.
    assert_eq!(publish("", "", "", "2099-01-01T00:00").await.0, 422);
    assert_eq!(publish("", "x", "2099-02-01T00:00", "2099-01-01T00:00").await.0, 422);
    assert_eq!(publish("", "x", "", "2020-01-01 00:00").await.0, 422);
    // A notice to every payer from now, one to come, and WeChat Pay's maintenance.
    let ends = bursar_domain::time_fmt::datetime_cst(app.store.now_ms() + 86_400_000);
    assert_eq!(publish("", "寒假前请缴清学费", "", &ends).await.0, 200);
    assert_eq!(publish("", "下学期的通知", "2099-01-01 00:00", "2099-02-01 00:00").await.0, 200);
    let (status, page) = publish("wechatpay", "微信支付今晚 23:00–24:00 升级", "", &ends).await;
    assert_eq!(status, 200);
    assert!(page.contains("显示中") && page.contains("未开始"));

    // The payer sees the notice where they log in and on their fees, not the one to come; and
    // the maintenance beside WeChat Pay where they choose how to pay.
    let login = client().get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("寒假前请缴清学费") && !login.contains("下学期的通知"));
    let c = login_student(&base).await;
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("寒假前请缴清学费"));
    let pay = c.get(format!("{base}/portal/pay?year=2026-2027")).send().await.unwrap().text().await.unwrap();
    let rid = between(&pay, "name=\"sel\" value=\"", "\"").unwrap().to_string();
    let amount = between(&pay, &format!("name=\"amount_{rid}\" value=\""), "\"").unwrap().replace(',', "");
    let r = c
        .post(format!("{base}/portal/orders"))
        .form(&[
            ("csrf", csrf_of(&pay)),
            ("year", "2026-2027".into()),
            ("sel", rid.clone()),
            (format!("amount_{rid}").as_str(), amount),
        ])
        .send()
        .await
        .unwrap();
    let order = c.get(format!("{base}{}", location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(order.contains("维护中：微信支付今晚 23:00–24:00 升级"), "beside the channel");

    // Withdrawn: gone at once; withdrawn again: refused.
    let list = admin.get(format!("{base}/admin/notices")).send().await.unwrap().text().await.unwrap();
    let row = list.split("<tr>").find(|r| r.contains("寒假前请缴清学费")).unwrap();
    let id = between(row, "action=\"/admin/notices/", "/withdraw\"").unwrap().to_string();
    let withdraw = || {
        let (admin, base, csrf, id) = (admin.clone(), base.clone(), csrf.clone(), id.clone());
        async move {
            admin
                .post(format!("{base}/admin/notices/{id}/withdraw"))
                .form(&[("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(withdraw().await, 200);
    assert_eq!(withdraw().await, 422);
    let login = client().get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(!login.contains("寒假前请缴清学费"));
    // Finance does not publish; the log has every step.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    assert_eq!(fin.get(format!("{base}/admin/notices")).send().await.unwrap().status(), 403);
    let logged = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'notice.%'", &[]).await;
    assert_eq!(logged, 4);
});
