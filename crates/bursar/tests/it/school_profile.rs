//! 系统设置 › 学校信息, 标志与印章 over HTTP, on both stores: the school's names (Chinese and
//! English) replace the configured ones on every page at once; a logo and a seal (PNG or JPEG,
//! 200 KB at most): the logo served with its digest as entity tag, the seal written into vouchers
//! (it has no address of its own),
//! laid out for the paper the school chose (A4, A5, an 80 mm roll) or the one asked for;
//! anything else is refused in words and changes nothing; every change is logged.

use crate::both_stores;
use crate::day_close::{counter_page, take};
use crate::support::*;

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn base64_of(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn upload(
    c: &reqwest::Client,
    base: &str,
    csrf: &str,
    kind: &str,
    bytes: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .text("kind", kind.to_string())
        .part("image", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    c.post(format!("{base}/admin/settings/images")).multipart(form).send().await.unwrap()
}

both_stores!(the_school_sets_its_names_logo_and_seal, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let admin = login_operator(&base, bursar::demo::SYSADMIN_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);

    // Names: too long is refused; set, they show everywhere at once, in each language.
    let long = "长".repeat(61);
    let form = [("csrf", csrf.as_str()), ("school_name_zh", long.as_str()), ("school_name_en", "")];
    assert_eq!(admin.post(format!("{base}/admin/settings")).form(&form).send().await.unwrap().status(), 422);
    let form = [("csrf", csrf.as_str()), ("school_name_zh", "滨江理工大学"), ("school_name_en", "Binjiang Tech")];
    assert_eq!(admin.post(format!("{base}/admin/settings")).form(&form).send().await.unwrap().status(), 303);
    let page = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("滨江理工大学统一支付平台"), "the header says the new name");
    let visitor = client();
    let login = visitor.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("滨江理工大学"), "so does the payers' login page");
    visitor.get(format!("{base}/lang/en")).send().await.unwrap();
    let login = visitor.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Binjiang Tech"), "and in English, the English name");

    // Images: not an image, or too large, is refused and changes nothing.
    let r = upload(&admin, &base, &csrf, "seal", b"GIF89a not accepted".to_vec(), "seal.gif").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("须为 PNG 或 JPEG 图片"));
    let mut big = PNG.to_vec();
    big.resize(200 * 1024 + 1, 0);
    let r = upload(&admin, &base, &csrf, "logo", big, "big.png").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("不超过 200 KB"));
    assert_eq!(client().get(format!("{base}/school/logo")).send().await.unwrap().status(), 404, "none yet");

    // A seal and a logo.
    assert_eq!(upload(&admin, &base, &csrf, "seal", PNG.to_vec(), "seal.png").await.status(), 303);
    assert_eq!(upload(&admin, &base, &csrf, "logo", PNG.to_vec(), "logo.png").await.status(), 303);
    let r = client().get(format!("{base}/school/logo")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["cache-control"], "no-cache", "the plain address is checked each time");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r = client().get(format!("{base}/school/logo")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304, "unchanged: cached");
    let page = admin.get(format!("{base}/admin/settings")).send().await.unwrap().text().await.unwrap();
    let logo = between(&page, "<img class=\"logo\" src=\"", "\"").expect("the logo heads every page").to_string();
    let r = client().get(format!("{base}{logo}")).send().await.unwrap();
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"), "the versioned address is kept");
    assert_eq!(
        client().get(format!("{base}/school/seal")).send().await.unwrap().status(),
        404,
        "the seal has no address"
    );

    // The seal is printed on a voucher.
    let cashier = login_operator(&base, bursar::demo::CASHIER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let (student, _) = first_student(&app.store).await;
    let counter = counter_page(&cashier, &base, &student.identifier).await;
    let r = take(&cashier, &base, &counter, "住宿费", &[("method", "offline_cash")]).await;
    assert_eq!(r.status(), 303);
    let voucher = cashier.get(format!("{base}{}/voucher", location(&r))).send().await.unwrap().text().await.unwrap();
    let seal = format!("<img class=\"seal\" src=\"data:image/png;base64,{}", base64_of(PNG));
    assert!(voucher.contains(&seal), "the seal is written into the voucher");
    assert!(voucher.contains("滨江理工大学"), "and the school's new name");
    assert!(voucher.contains("class=\"sheet paper-a4\""), "laid out for A4 until the school says otherwise");

    // The paper: the school's choice, and another for one print.
    let bad = [("csrf", csrf.as_str()), ("paper", "a3")];
    assert_eq!(admin.post(format!("{base}/admin/settings")).form(&bad).send().await.unwrap().status(), 422);
    let form = [("csrf", csrf.as_str()), ("paper", "thermal80")];
    assert_eq!(admin.post(format!("{base}/admin/settings")).form(&form).send().await.unwrap().status(), 303);
    let voucher_url = format!("{base}{}/voucher", location(&r));
    let voucher = cashier.get(&voucher_url).send().await.unwrap().text().await.unwrap();
    assert!(voucher.contains("class=\"sheet paper-thermal80\""), "the counter's 80 mm roll");
    let voucher = cashier.get(format!("{voucher_url}?paper=a5")).send().await.unwrap().text().await.unwrap();
    assert!(voucher.contains("class=\"sheet paper-a5\""), "A5 for this print");

    // Removed: gone from the page and the address.
    let form = reqwest::multipart::Form::new().text("csrf", csrf.clone()).text("kind", "seal").text("remove", "1");
    let r = admin.post(format!("{base}/admin/settings/images")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let voucher = cashier.get(&voucher_url).send().await.unwrap().text().await.unwrap();
    assert!(!voucher.contains("class=\"seal\""), "no seal any more");

    for (action, n) in [("settings.school", 2), ("settings.school_image", 3), ("settings.receipt_paper", 1)] {
        assert_eq!(
            scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = $1", &[action]).await,
            n,
            "{action}"
        );
    }
    assert_verified(&app.store).await;
});
