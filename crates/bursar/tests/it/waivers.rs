//! Reductions and waivers (减免) with four eyes: asked for with a reason, never by the one who
//! decides, never more than is owed (at the request and again at the decision), applied with the
//! ledger's waiver posting; two approvals racing for the same money cannot both pass; the finance
//! view asks from the payer's record and decides on 减免缓缴.

use bursar_domain::access::AccessError;
use bursar_domain::Fen;
use bursar_engine::EngineError;
use bursar_store::receivables;

use crate::both_stores;
use crate::support::*;

/// The first demo student's dorm fee receivable (id, what is owed).
async fn dorm(app: &bursar::app::Running) -> (String, Fen) {
    let (payer, _) = first_student(&app.store).await;
    let mut c = app.store.read().await.unwrap();
    let r =
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "ZSF").unwrap();
    (r.id.clone(), r.outstanding())
}

both_stores!(waivers_need_a_second_person_and_never_exceed_what_is_owed, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let (rid, owed) = dorm(&app).await;
    // More than is owed, or no reason: refused.
    let e = app.engine.request_waiver(&clerk, &rid, Some(Fen(owed.get() + 1)), "困难认定").await.unwrap_err();
    assert!(matches!(e, EngineError::Rule(_)), "{e:?}");
    assert!(app.engine.request_waiver(&clerk, &rid, Some(Fen(100)), " ").await.is_err());
    // Asked for; the asker cannot approve it; another person can.
    let w =
        app.engine.request_waiver(&clerk, &rid, Some(Fen(30_000)), "家庭经济困难认定（文件 2026-12）").await.unwrap();
    let e = app.engine.decide_waiver(&clerk, &w, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::OwnRequest)), "{e:?}");
    app.engine.decide_waiver(&approver, &w, true, "同意").await.unwrap();
    let (_, now_owed) = dorm(&app).await;
    assert_eq!(now_owed, Fen(owed.get() - 30_000));
    assert!(app.engine.decide_waiver(&approver, &w, true, "").await.is_err(), "decided once");
    // A rejection needs its reason.
    let w2 = app.engine.request_waiver(&clerk, &rid, None, "全免").await.unwrap();
    assert!(app.engine.decide_waiver(&approver, &w2, false, "").await.is_err());
    app.engine.decide_waiver(&approver, &w2, false, "不符合全免条件").await.unwrap();
    // The ledger holds: Dr fee income / Cr receivable, balanced.
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'waiver'", &[]).await, 1);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'waiver.%'", &[]).await, 4);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(two_approvals_racing_for_the_same_money_cannot_both_pass, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let (rid, owed) = dorm(&app).await;
    // Two requests, each for everything owed: only one can be approved.
    let a = app.engine.request_waiver(&clerk, &rid, None, "甲").await.unwrap();
    let b = app.engine.request_waiver(&clerk, &rid, None, "乙").await.unwrap();
    let mut tasks = Vec::new();
    for id in [a, b] {
        let (engine, by) = (app.engine.clone(), approver.clone());
        tasks.push(tokio::spawn(async move { engine.decide_waiver(&by, &id, true, "同意").await }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one approval passes");
    let (_, left) = dorm(&app).await;
    assert_eq!(left, Fen::ZERO);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'waiver'", &[]).await, 1);
    let waived: i64 = scalar(&app.store, "SELECT waived_fen FROM receivables WHERE id = $1", &[&rid]).await;
    assert_eq!(waived, owed.get());
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(finance_asks_on_the_payer_record_and_another_approves, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (rid, owed) = dorm(&app).await;
    let (payer, _) = first_student(&app.store).await;
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = fin.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("申请减免"));
    let r = fin
        .post(format!("{base}/admin/waivers"))
        .form(&[
            ("csrf", csrf_of(&page)),
            ("receivable_id", rid.clone()),
            ("payer_id", payer.id.clone()),
            ("amount", "100.00".into()),
            ("reason", "学院困难补助".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("/admin/payers/{}?waiver=requested", payer.id));
    let approver = login_operator(&base, bursar::demo::APPROVER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = approver.get(format!("{base}/admin/waivers/review")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("学院困难补助") && page.contains("待审批"));
    // The approver reads whose fee it is and who asked.
    assert!(page.contains(&format!("{}（{}）", payer.name, payer.identifier)), "{page}");
    let action = between(&page, "action=\"/admin/waivers/", "/decide\"").unwrap().to_string();
    let r = approver
        .post(format!("{base}/admin/waivers/{action}/decide"))
        .form(&[("csrf", csrf_of(&page)), ("decision", "approve".into()), ("comment", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/waivers/review?done=1");
    let (_, left) = dorm(&app).await;
    assert_eq!(left, Fen(owed.get() - 10_000));
    // The payer's own fees show what is left.
    let c = login_student(&base).await;
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains(&format!("{}", Fen(owed.get() - 10_000))), "the payer sees the reduced amount");
    assert!(
        fees.contains(&format!("原应缴 ¥{owed}，已减免 ¥100.00：学院困难补助")),
        "and the original amount, the reduction and why: {}",
        between(&fees, "<tbody>", "</tbody>").unwrap_or(&fees)
    );
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(an_unpaid_receivable_is_cancelled_with_a_reason_and_a_paid_one_is_not, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (payer, by) = first_student(&app.store).await;
    let fin = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let (rid, owed) = dorm(&app).await;
    assert!(app.engine.cancel_receivable(&fin, &rid, "  ").await.is_err(), "a reason is needed");
    // A department may not cancel.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let dept = operator(&app.engine, houqin).await;
    assert!(matches!(app.engine.cancel_receivable(&dept, &rid, "x").await, Err(EngineError::Access(_))));
    // Through the payer's record.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = web.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("取消应收"));
    let r = web
        .post(format!("{base}/admin/receivables/{rid}/cancel"))
        .form(&[("csrf", csrf_of(&page)), ("payer_id", payer.id.clone()), ("reason", "退宿，住宿费不再收取".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("/admin/payers/{}?cancelled=1", payer.id));
    // A cancellation writes off money: nothing changes until another person approves it.
    let waived = |store: bursar_store::Store, rid: String| async move {
        scalar(&store, "SELECT waived_fen FROM receivables WHERE id = $1", &[&rid]).await
    };
    assert_eq!(waived(app.store.clone(), rid.clone()).await, 0);
    assert!(app.engine.cancel_receivable(&fin, &rid, "again").await.is_err(), "one waiting at a time");
    let (request, _, _) = app
        .engine
        .waivers(&fin)
        .await
        .unwrap()
        .into_iter()
        .find(|(w, _, _)| w.receivable_id == rid)
        .expect("the cancellation waits on 减免缓缴");
    assert!(request.reason.starts_with("取消应收："), "{}", request.reason);
    let own = app.engine.decide_waiver(&fin, &request.id, true, "").await.unwrap_err();
    assert!(matches!(own, EngineError::Access(_)), "{own:?}");
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    app.engine.decide_waiver(&approver, &request.id, true, "").await.unwrap();
    assert_eq!(waived(app.store.clone(), rid.clone()).await, owed.get());
    assert_eq!(dorm(&app).await.1, Fen::ZERO);
    assert!(app.engine.cancel_receivable(&fin, &rid, "again").await.is_err(), "nothing left to cancel");
    // The payer's record says what was done to them, by whom and why.
    let page = web.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    let log = between(&page, "<h2>操作记录</h2>", "</ul>").unwrap_or_default();
    assert!(log.contains("取消应收") && log.contains("退宿，住宿费不再收取") && log.contains("张会计"), "{log}");
    // One with money paid on it is refused.
    let mut c = app.store.read().await.unwrap();
    let tuition =
        receivables::for_payer(&mut c, &payer.id).await.unwrap().into_iter().find(|r| r.item_code == "XF").unwrap();
    drop(c);
    let order = app.engine.create_order(&by, &[(tuition.id.clone(), Fen(100_000))]).await.unwrap();
    let p = app
        .engine
        .start_payment(
            &by,
            &order,
            bursar_domain::payment::PayMethod::WechatNative,
            &bursar_engine::PayContext::default(),
        )
        .await
        .unwrap();
    let paid = bursar_domain::payment::ChannelOutcome::Paid {
        channel_txn_id: "4200000000202612019999000001".into(),
        amount_fen: 100_000,
        paid_at_ms: app.store.now_ms(),
    };
    app.engine
        .apply_outcome(&bursar_domain::access::Principal::Channel("wechatpay"), &p.merchant_order_no, &paid)
        .await
        .unwrap();
    let e = app.engine.cancel_receivable(&fin, &tuition.id, "误开").await.unwrap_err();
    assert!(matches!(e, EngineError::Rule(_)), "{e:?}");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_deferral_is_asked_on_the_record_approved_by_another_and_changes_no_amount, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (rid, owed) = dorm(&app).await;
    let (payer, _) = first_student(&app.store).await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let now = app.store.now_ms();
    let kind = bursar_domain::fee::DeferralKind::GreenChannel;
    // A date in the past or too far ahead, or no reason: refused.
    assert!(app.engine.request_deferral(&clerk, &rid, kind, now - 1, "绿色通道").await.is_err());
    assert!(app.engine.request_deferral(&clerk, &rid, kind, now + 600 * 86_400_000, "绿色通道").await.is_err());
    assert!(app.engine.request_deferral(&clerk, &rid, kind, now + 86_400_000, " ").await.is_err());

    // Through the payer's record; one waiting request per receivable.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = fin.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("申请缓缴") && page.contains("绿色通道"));
    let until = bursar_domain::time_fmt::date_cst(now + 90 * 86_400_000);
    let r = fin
        .post(format!("{base}/admin/deferrals"))
        .form(&[
            ("csrf", csrf_of(&page)),
            ("receivable_id", rid.clone()),
            ("payer_id", payer.id.clone()),
            ("kind", "green_channel".into()),
            ("until", until.clone()),
            ("reason", "新生绿色通道，已办理生源地贷款".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("/admin/payers/{}?deferral=requested", payer.id));
    let again = app.engine.request_deferral(&clerk, &rid, kind, now + 86_400_000, "再次").await.unwrap_err();
    assert!(again.to_string().contains("待审批"), "{again}");
    let id: String = {
        let mut c = app.store.read().await.unwrap();
        bursar_store::deferrals::list(&mut c, 10).await.unwrap()[0].id.clone()
    };
    // The asker cannot approve; two approvals at once: one passes.
    let e = app.engine.decide_deferral(&clerk, &id, true, "").await.unwrap_err();
    assert!(matches!(e, EngineError::Access(AccessError::OwnRequest)), "{e:?}");
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (engine, by, id) = (app.engine.clone(), approver.clone(), id.clone());
        tasks.push(tokio::spawn(async move { engine.decide_deferral(&by, &id, true, "同意").await }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap().is_ok());
    }
    assert_eq!(ok, 1);

    // Nothing owed changed and nothing was posted; the payer and the collection page show it.
    assert_eq!(dorm(&app).await.1, owed);
    let deferred: i64 =
        scalar(&app.store, "SELECT COUNT(*) FROM receivables WHERE id = $1 AND deferred_until_ms IS NOT NULL", &[&rid])
            .await;
    assert_eq!(deferred, 1);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM journal_entries WHERE kind = 'waiver'", &[]).await, 0);
    let c = login_student(&base).await;
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(
        fees.contains(&format!("缓缴至 {until}（绿色通道）")),
        "{}",
        between(&fees, "<tbody>", "</tbody>").unwrap_or(&fees)
    );
    let rows = app.engine.operator_view(&clerk).collection().await.unwrap();
    let zsf = rows.iter().find(|r| r.code == "ZSF").unwrap();
    assert_eq!(zsf.deferred_fen, owed);
    let home = fin.get(format!("{base}/admin")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("其中缓缴"));
    let log = scalar(&app.store, "SELECT COUNT(*) FROM operation_log WHERE action LIKE 'deferral.%'", &[]).await;
    assert_eq!(log, 2);
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_department_finds_who_owes_its_items_and_asks_for_them_only, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (payer, _) = first_student(&app.store).await;
    let (rid, _) = dorm(&app).await;
    // 后勤管理处 charges the dorm fee of a 计算机学院 student: it finds them, sees only that.
    let (houqin, _, _) = bursar::demo::DEPARTMENT_USERS[0];
    let web = login_operator(&base, houqin, bursar::demo::DEPARTMENT_PASSWORD).await;
    let list = web
        .get(format!("{base}/admin/payers"))
        .query(&[("q", payer.identifier.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("/admin/payers/{}", payer.id)), "found by the department that charges them");
    let record = web.get(format!("{base}/admin/payers/{}", payer.id)).send().await.unwrap().text().await.unwrap();
    assert!(record.contains("住宿费") && !record.contains("学费"), "only its own item's receivable");
    assert!(record.contains("申请减免") && !record.contains("账户管理"));
    let r = web
        .post(format!("{base}/admin/waivers"))
        .form(&[
            ("csrf", csrf_of(&record)),
            ("receivable_id", rid.clone()),
            ("payer_id", payer.id.clone()),
            ("amount", "200".into()),
            ("reason", "宿舍维修期间减免".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("/admin/payers/{}?waiver=requested", payer.id));
    // Another department's item of the same payer stays out of reach.
    let dept = operator(&app.engine, houqin).await;
    let tuition: String = {
        let mut c = app.store.read().await.unwrap();
        let rows = receivables::for_payer(&mut c, &payer.id).await.unwrap();
        rows.into_iter().find(|r| r.item_code == "XF").unwrap().id
    };
    let e = app.engine.request_waiver(&dept, &tuition, None, "x").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e:?}");
    app.stop().await;
});
