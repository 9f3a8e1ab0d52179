//! Changing an approved fee item: asked with a reason, applied only when another person
//! approves (the payer sees the new terms at once), one waiting change at a time, every version
//! kept; departments change only their own items.

use bursar_domain::access::AccessError;
use bursar_domain::Fen;
use bursar_engine::rows::Terms;
use bursar_engine::EngineError;
use bursar_store::receivables;

use crate::both_stores;
use crate::support::*;

both_stores!(a_fee_item_change_takes_effect_only_when_another_person_approves, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let item = {
        let mut c = app.store.read().await.unwrap();
        receivables::fee_item_by_code(&mut c, "ZSF").await.unwrap().unwrap()
    };
    let now = app.store.now_ms();
    // The window closed yesterday, and partial payments of at least ¥300.
    let terms = Terms {
        name: "住宿费（2026 学年）".into(),
        window_start_ms: None,
        window_end_ms: Some(now - 1),
        partial_allowed: true,
        min_partial: Fen(30_000),
        profile: item.profile(),
    };
    assert!(app.engine.request_fee_item_change(&clerk, &item.id, &terms, " ").await.is_err(), "a reason is needed");
    let change = app.engine.request_fee_item_change(&clerk, &item.id, &terms, "住宿费收缴截止").await.unwrap();
    let again = app.engine.request_fee_item_change(&clerk, &item.id, &terms, "再次").await.unwrap_err();
    assert!(again.to_string().contains("待审批"), "{again}");
    // Nothing changes before the approval; the asker cannot approve.
    let (payer, _) = first_student(&app.store).await;
    let dorm = |rows: Vec<receivables::ReceivableView>| rows.into_iter().find(|r| r.item_code == "ZSF").unwrap();
    let before = dorm(receivables::for_payer(&mut app.store.read().await.unwrap(), &payer.id).await.unwrap());
    assert_eq!(before.item_name, item.name);
    assert!(before.rules().check_open(now).is_ok());
    let e = app.engine.decide_fee_item_change(&clerk, &change, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::OwnRequest)), "{e:?}");
    assert!(app.engine.decide_fee_item_change(&approver, &change, false, "").await.is_err(), "a rejection says why");
    app.engine.decide_fee_item_change(&approver, &change, true, "同意").await.unwrap();
    let after = dorm(receivables::for_payer(&mut app.store.read().await.unwrap(), &payer.id).await.unwrap());
    assert_eq!(after.item_name, "住宿费（2026 学年）");
    assert!(after.rules().check_open(now).is_err(), "past its new window");
    assert!(app.engine.decide_fee_item_change(&approver, &change, true, "").await.is_err(), "decided once");
    // The same terms again: nothing to change.
    assert!(app.engine.request_fee_item_change(&clerk, &item.id, &terms, "重复").await.is_err());
    // A department cannot change another department's item.
    let dept = operator(&app.engine, "jiaowu").await;
    let e = app.engine.request_fee_item_change(&dept, &item.id, &terms, "x").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e:?}");
    // The page lists the version; the payer's fees say the window has ended.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page =
        web.get(format!("{base}/admin/fee-items/{}/changes", item.id)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("第 2 版") && page.contains("住宿费收缴截止") && page.contains("已批准"), "{page}");
    let student = login_student(&base).await;
    let fees = student.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("住宿费（2026 学年）") && fees.contains("已过收费期限"));
    let logged =
        scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'fee_item.change_%'", &[]).await;
    assert_eq!(logged, 2);
    app.stop().await;
});

both_stores!(filing_only_kinds_skip_review_but_tuition_never_does, |env: TestEnv| async move {
    use bursar_domain::fee::{FeeItemStatus, FeeType};
    use bursar_domain::payment::{ChannelKind, MerchantState};
    let app = env.start_demo().await;
    let sysadmin = operator(&app.engine, bursar::demo::SYSADMIN_USER).await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    // Tuition can never be filed; a filing kind needs a reason; finance cannot change it.
    assert!(app.engine.set_filing_types(&sysadmin, &[FeeType::Tuition], "文件").await.is_err());
    assert!(app.engine.set_filing_types(&sysadmin, &[FeeType::Exam], " ").await.is_err());
    let e = app.engine.set_filing_types(&clerk, &[FeeType::Exam], "x").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(_)), "{e:?}");
    app.engine.set_filing_types(&sysadmin, &[FeeType::Exam], "校财〔2026〕9 号").await.unwrap();
    assert_eq!(app.engine.filing_types().await.unwrap(), vec![FeeType::Exam]);

    // A department's exam fee is filed at once (stopped until finance opens it); its training
    // fee still waits for review.
    let dept = operator(&app.engine, "jiaowu").await;
    let jw = {
        let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
        let all = app.engine.operator_view(&by).departments().await.unwrap();
        all.into_iter().find(|(_, n)| n == "教务处").unwrap().0
    };
    let application = |code: &str, fee_type| bursar_engine::collection::fee_items::FeeItemApplication {
        code: code.into(),
        name: format!("{code} 报名费"),
        department_id: jw.clone(),
        fee_type,
        window_start_ms: None,
        window_end_ms: None,
        partial_allowed: false,
        min_partial: Fen::ZERO,
        note: "依据文件".into(),
        channels: Vec::new(),
        profile: bursar_domain::audience::Profile::usual_for(fee_type),
    };
    let exam = app.engine.apply_fee_item(&dept, &application("KS-1", FeeType::Exam)).await.unwrap();
    let training = app.engine.apply_fee_item(&dept, &application("PX-1", FeeType::Training)).await.unwrap();
    let status = |id: String| {
        let store = app.store.clone();
        async move { receivables::fee_item(&mut store.read().await.unwrap(), &id).await.unwrap() }
    };
    let filed = status(exam.clone()).await;
    assert_eq!(filed.status, FeeItemStatus::Stopped);
    assert_eq!(filed.decided_by.as_deref(), Some("system:filing"));
    assert_eq!(status(training).await.status, FeeItemStatus::PendingApproval);
    // Finance gives the filed item a channel and opens it: no review was needed.
    let accounts = app.engine.operator_view(&clerk).merchant_accounts().await.unwrap();
    let card =
        accounts.iter().find(|a| a.channel == ChannelKind::CampusCard && a.state == MerchantState::Active).unwrap();
    app.engine.set_fee_item_channels(&clerk, &exam, &[(ChannelKind::CampusCard, card.id.clone())]).await.unwrap();
    app.engine.set_fee_item_open(&clerk, &exam, true).await.unwrap();
    assert_eq!(status(exam).await.status, FeeItemStatus::Collecting);
    let logged = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'fee_item.file'", &[]).await;
    assert_eq!(logged, 1);
    app.stop().await;
});

both_stores!(a_rejected_application_is_corrected_and_sent_again, |env: TestEnv| async move {
    use bursar_domain::fee::{FeeItemStatus, FeeType};
    use bursar_engine::collection::fee_items::FeeItemDecision;
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let dept = operator(&app.engine, "houqin").await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let hq = {
        let by = bursar_domain::Principal::System(bursar_domain::SystemJob::Cli);
        let all = app.engine.operator_view(&by).departments().await.unwrap();
        all.into_iter().find(|(_, n)| n == "后勤管理处").unwrap().0
    };
    let application = bursar_engine::collection::fee_items::FeeItemApplication {
        code: "KTF-2026".into(),
        name: "空调使用费".into(),
        department_id: hq,
        fee_type: FeeType::Service,
        window_start_ms: None,
        window_end_ms: None,
        partial_allowed: false,
        min_partial: Fen::ZERO,
        note: "每人 200 元".into(),
        channels: Vec::new(),
        profile: bursar_domain::audience::Profile::usual_for(FeeType::Service),
    };
    let id = app.engine.apply_fee_item(&dept, &application).await.unwrap();
    // Only a rejected application may be sent again.
    assert!(app.engine.resubmit_fee_item(&dept, &id, &application).await.is_err());
    app.engine.decide_fee_item(&approver, &id, FeeItemDecision::Reject, "缺少物价批文号").await.unwrap();

    // The department reads why, opens the form filled with its application, corrects and resends.
    let web = login_operator(&base, "houqin", bursar::demo::DEPARTMENT_PASSWORD).await;
    let detail = web.get(format!("{base}/admin/fee-items/{id}")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("缺少物价批文号") && detail.contains("修改后重新提交"), "{detail}");
    let form = web.get(format!("{base}/admin/fee-items?resubmit={id}")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("name=\"resubmit\"") && form.contains("value=\"空调使用费\""), "{form}");
    let fields = [
        ("csrf", csrf_of(&form)),
        ("resubmit", id.clone()),
        ("code", "KTF-2026".into()),
        ("name", "空调使用费（2026 学年）".into()),
        ("department_id", application.department_id.clone()),
        ("fee_type", "service".into()),
        ("note", "鲁价费〔2026〕8 号，每人 200 元".into()),
    ];
    let r = web.post(format!("{base}/admin/fee-items")).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let item = receivables::fee_item(&mut app.store.read().await.unwrap(), &id).await.unwrap();
    assert_eq!((item.status, item.name.as_str()), (FeeItemStatus::PendingApproval, "空调使用费（2026 学年）"));
    assert!(item.decision_comment.is_none() && item.request_note.contains("鲁价费"));
    // Sent once: again is refused; the approver now approves it.
    assert!(app.engine.resubmit_fee_item(&dept, &id, &application).await.is_err());
    let logged = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action = 'fee_item.resubmit'", &[]).await;
    assert_eq!(logged, 1);
    app.stop().await;
});
