//! Offline collections imported from GBK CSV and xlsx (idempotent by reference; a file with any
//! bad row changes nothing, every bad row reported), shown to the payer with every other channel;
//! and finance configuring which channels a fee item accepts.

use bursar_domain::payment::{ChannelKind, PayMethod, PaymentState};
use bursar_domain::Fen;

use crate::both_stores;
use crate::support::*;

async fn payment_count(store: &bursar_store::Store) -> i64 {
    scalar(store, "SELECT COUNT(*) FROM payments", &[]).await
}

pub async fn upload(fin: &reqwest::Client, base: &str, name: &str, bytes: Vec<u8>) -> (u16, String) {
    let page = fin.get(format!("{base}/admin/imports")).send().await.unwrap().text().await.unwrap();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&page))
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    let r = fin.post(format!("{base}/admin/imports")).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

both_stores!(offline_collections_are_imported_once_and_bad_files_change_nothing, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let (student, _) = bursar::demo::first_student_login();
    let before = payment_count(&app.store).await;

    // A GBK CSV as Excel on Chinese Windows writes it: cash for the dorm, a bank deduction for part of tuition.
    let csv = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间,收款点/账户\r\n\
         CASH-20261120-0001,{student},ZSF,2026-2027,1200.00,现金,2026-11-20 09:30:00,财务处一号窗口\r\n\
         BANK-20261120-0002,{student},XF,2026-2027,\"1,000.00\",银行代扣,2026/11/20,农行代扣户\r\n"
    );
    let (status, page) = upload(&fin, &base, "cash.csv", gbk(&csv)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("新导入 2 笔"), "{}", between(&page, "id=\"import-result\"", "</p>").unwrap_or(""));
    assert_eq!(payment_count(&app.store).await, before + 2);
    // The same file again: nothing new.
    let (status, page) = upload(&fin, &base, "cash.csv", gbk(&csv)).await;
    assert_eq!(status, 200);
    assert!(page.contains("新导入 0 笔") && page.contains("已导入过 2 笔"));
    assert_eq!(payment_count(&app.store).await, before + 2);

    // The payer sees them among their payments, as offline collections.
    let c = login_student(&base).await;
    let records = c.get(format!("{base}/portal/records")).send().await.unwrap().text().await.unwrap();
    assert!(records.contains("现金") && records.contains("银行转账/代扣"), "records show offline payments");

    // A file with bad rows: every one reported with its line; nothing imported, not even the good row.
    let bad = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\n\
         POS-1,{student},JCF,2026-2027,10.00,POS,2026-11-20 10:00:00\n\
         POS-2,nobody,JCF,2026-2027,10.00,POS,2026-11-20 10:00:00\n\
         POS-3,{student},JCF,2026-2027,99999.00,POS,2026-11-20 10:00:00\n\
         POS-4,{student},JCF,2026-2027,-5,POS,2026-11-20 10:00:00\n\
         POS-5,{student},JCF,2026-2027,1.00,支票,2026-11-20 10:00:00\n\
         POS-1,{student},JCF,2026-2027,1.00,POS,2026-11-20 10:00:00\n\
         CASH-20261120-0001,{student},ZSF,2026-2027,1.00,现金,2026-11-20 10:00:00\n"
    );
    let (status, page) = upload(&fin, &base, "bad.csv", bad.into_bytes()).await;
    assert_eq!(status, 422);
    for (line, reason) in [(3, "不存在"), (4, "超过"), (5, "金额"), (6, "收款方式"), (7, "重复"), (8, "已导入")]
    {
        assert!(page.contains(&format!("<tr><td data-label=\"行号\">{line}</td><td")), "line {line} reported");
        assert!(page.contains(reason), "reason {reason}");
    }
    assert_eq!(payment_count(&app.store).await, before + 2, "a bad file changes nothing");
    let (status, page) = upload(&fin, &base, "empty.csv", b"a,b\n".to_vec()).await;
    assert_eq!(status, 422);
    assert!(page.contains("缺少列"));

    // xlsx, with a real date cell.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (i, h) in ["来源参考号", "学号/工号", "收费项目代码", "学年", "金额", "方式", "收款时间"].iter().enumerate()
    {
        sheet.write_string(0, i as u16, *h).unwrap();
    }
    sheet.write_string(1, 0, "POS-20261121-77").unwrap();
    sheet.write_string(1, 1, &student).unwrap();
    sheet.write_string(1, 2, "JCF").unwrap();
    sheet.write_string(1, 3, "2026-2027").unwrap();
    sheet.write_number(1, 4, 320).unwrap();
    sheet.write_string(1, 5, "POS").unwrap();
    let when = rust_xlsxwriter::ExcelDateTime::parse_from_str("2026-11-21 08:15:00").unwrap();
    sheet
        .write_datetime_with_format(1, 6, &when, &rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"))
        .unwrap();
    let (status, page) = upload(&fin, &base, "pos.xlsx", book.save_to_buffer().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("新导入 1 笔"));
    {
        let mut c = app.store.read().await.unwrap();
        let p = bursar_store::payments::payment_by_channel_txn(&mut c, ChannelKind::Offline, "POS-20261121-77")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((p.method, p.amount_fen, p.state), (PayMethod::OfflinePos, Fen(32_000), PaymentState::Succeeded));
        assert_eq!(bursar_domain::time_fmt::datetime_cst(p.succeeded_at_ms.unwrap()), "2026-11-21 08:15:00");
    }
    // Times as people type them, and a serial number whose date format was lost.
    let csv = format!(
        "来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\n\
         CASH-T-1,{student},BXF,2026-2027,1.00,现金,2026/11/22 8:05\n\
         CASH-T-2,{student},BXF,2026-2027,1.00,现金,46348.5\n"
    );
    let (status, page) = upload(&fin, &base, "times.csv", csv.into_bytes()).await;
    assert_eq!(status, 200, "{page}");
    for (reference, when) in [("CASH-T-1", "2026-11-22 08:05:00"), ("CASH-T-2", "2026-11-22 12:00:00")] {
        let mut c = app.store.read().await.unwrap();
        let p = bursar_store::payments::payment_by_channel_txn(&mut c, ChannelKind::Offline, reference)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bursar_domain::time_fmt::datetime_cst(p.succeeded_at_ms.unwrap()), when);
    }
    // The template's own columns are what the import reads (its example payers are not ours).
    let r = fin.get(format!("{base}/admin/imports/template.xlsx")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, page) = upload(&fin, &base, "template.xlsx", r.bytes().await.unwrap().to_vec()).await;
    assert_eq!(status, 422);
    assert!(page.contains("不存在") && !page.contains("缺少列"), "{page}");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(finance_decides_which_channels_an_item_accepts, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = fin.get(format!("{base}/admin/channels")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("已加密保存"), "merchant secrets are sealed");
    assert!(!page.contains("PRIVATE KEY"), "and never shown");
    {
        let mut c = app.store.read().await.unwrap();
        for m in bursar_store::merchants::all(&mut c)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.channel != ChannelKind::CampusCard)
        {
            assert!(
                !m.settings.contains("PRIVATE KEY") && m.sealed_secrets.starts_with("v1:"),
                "{} stored sealed",
                m.name
            );
            assert!(!m.sealed_secrets.contains("PRIVATE"), "sealed means encrypted");
        }
    }
    // Turn Alipay off for the dorm fee.
    let item_id = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::receivables::fee_items(&mut c).await.unwrap().into_iter().find(|i| i.code == "ZSF").unwrap().id
    };
    let logged = "SELECT COUNT(*) FROM operation_log WHERE action = 'fee_item.channel'";
    let changes_before = scalar(&app.store, logged, &[]).await;
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf_of(&page))];
    form.push((format!("route:{item_id}:alipay"), String::new()));
    let r = fin.post(format!("{base}/admin/channels")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    // The payer no longer sees Alipay for it.
    let c = login_student(&base).await;
    let order = crate::channels_portal::order_for(&c, &base, &app.store, &["住宿费"]).await;
    let page = c.get(format!("{base}{order}")).send().await.unwrap().text().await.unwrap();
    let at = page.find("alipay").map(|i| &page[i.saturating_sub(120)..(i + 60).min(page.len())]);
    assert!(at.is_none() && page.contains("wechat_native"), "order page still offers: {at:?}");
    // The change is in the operation log.
    assert_eq!(scalar(&app.store, logged, &[]).await, changes_before + 1, "one change, logged");
    app.stop().await;
});
