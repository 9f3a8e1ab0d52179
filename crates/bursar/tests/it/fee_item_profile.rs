//! Whom a fee item is for (收费对象), the receipt it needs and the notice payers read: set on the
//! application form, shown to finance and to the payer, held wherever receivables are raised
//! (an import names the row, raising by the standard leaves the payer out with the reason, any
//! other path is refused), and changed only through an approved change.

use bursar_domain::access::Principal;
use bursar_domain::audience::{Audience, Outside, Profile, ReceiptKind};
use bursar_domain::fee::FeeType;
use bursar_domain::payer::PayerKind;
use bursar_domain::standards::Exclusion;
use bursar_domain::{Fen, SystemJob};
use bursar_engine::collection::fee_items::FeeItemDecision;
use bursar_engine::roster::ImportMode;
use bursar_engine::rows::Terms;
use bursar_engine::setup::BillInput;
use bursar_engine::standards::{RaiseRule, StandardSource};
use bursar_store::receivables;
use bursar_store::standards::Group;
use bursar_store::Conn as _;

use crate::both_stores;
use crate::support::*;

const YEAR: &str = "2026-2027";

both_stores!(a_fee_item_for_some_payers_is_held_everywhere_receivables_are_raised, |env: TestEnv| async move {
    use bursar_domain::payment::{ChannelKind, MerchantState};
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let system = Principal::System(SystemJob::Cli);
    let (student, cs) = {
        let (p, _) = first_student(&app.store).await;
        let dept = p.department_id.clone().expect("a demo student belongs to a college");
        (p, dept)
    };
    // An enrolled student of another college: (number, id).
    let other: (String, String) = {
        let mut c = app.store.read().await.unwrap();
        sqlx::query_as(
            "SELECT identifier, id FROM payers WHERE kind = 'enrolled_student' AND department_id <> $1 ORDER BY identifier LIMIT 1",
        )
        .bind(&cs)
        .fetch_one(c.raw())
        .await
        .expect("another college's student")
    };

    // Finance applies through the form: enrolled students of the student's college only, a
    // notice, the usual receipt for money collected on behalf of others.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page = web.get(format!("{base}/admin/fee-items")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("收费对象") && page.contains("票据种类") && page.contains("缴费须知"), "the form asks");
    let form = vec![
        ("csrf", csrf_of(&page)),
        ("code", "SYF-2026".into()),
        ("name", "实验材料费".into()),
        ("department_id", cs.clone()),
        ("fee_type", "agency".into()),
        ("start", "".into()),
        ("end", "2099-12-31".into()),
        ("audience_kind", "enrolled_student".into()),
        ("audience_department", cs.clone()),
        ("audience_majors", "".into()),
        ("audience_grades", "".into()),
        ("audience_classes", "".into()),
        ("receipt_kind", "".into()),
        ("payer_notice", "实验材料费按所选课程收取，\n课程退选后可申请退费。".into()),
        ("note", "校财〔2026〕12 号".into()),
    ];
    let r = web.post(format!("{base}/admin/fee-items")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let item = {
        let mut c = app.store.read().await.unwrap();
        receivables::fee_item_by_code(&mut c, "SYF-2026").await.unwrap().unwrap()
    };
    assert_eq!(item.profile_cols.receipt_kind, ReceiptKind::Settlement, "the usual receipt for 代收费");
    assert_eq!(
        item.audience(),
        Audience { kinds: vec![PayerKind::EnrolledStudent], departments: vec![cs.clone()], ..Audience::default() }
    );
    assert!(item.window_end_ms.is_some(), "the window from the form");
    let detail = web.get(format!("{base}/admin/fee-items/{}", item.id)).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("在校生；计算机学院") && detail.contains("往来结算票据"), "{detail}");
    assert!(detail.contains("课程退选后可申请退费"));

    // Approved with the campus card and opened.
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let accounts = app.engine.operator_view(&approver).merchant_accounts().await.unwrap();
    let card =
        accounts.iter().find(|a| a.channel == ChannelKind::CampusCard && a.state == MerchantState::Active).unwrap();
    let decision = FeeItemDecision::Approve { channels: vec![(ChannelKind::CampusCard, card.id.clone())], open: true };
    app.engine.decide_fee_item(&approver, &item.id, decision, "同意").await.unwrap();

    // An import names the row of a payer the item is not for; only valid rows raise.
    let csv =
        format!("学号,项目编码,学年,金额\n{},SYF-2026,{YEAR},80\n{},SYF-2026,{YEAR},80\n", student.identifier, other.0);
    let none = |_: usize, _: usize| {};
    let before = scalar(&app.store, "SELECT COUNT(*) FROM receivables", &[]).await;
    let r = app.engine.import_bills(&system, csv.as_bytes(), ImportMode::AllOrNothing, &none).await.unwrap();
    assert!(!r.applied);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!((r.problems[0].line, r.problems[0].value.as_str()), (3, other.0.as_str()));
    assert!(r.problems[0].reason.contains("不在该收费项目的收费院系内"), "{:?}", r.problems[0]);
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM receivables", &[]).await, before);
    let r = app.engine.import_bills(&system, csv.as_bytes(), ImportMode::ValidRows, &none).await.unwrap();
    assert_eq!((r.applied, r.created), (true, 1));

    // Any other path (here the seed's, which business orders and registrations share) refuses.
    let bill = |payer_id: &str| BillInput {
        payer_id: payer_id.into(),
        fee_item_id: item.id.clone(),
        academic_year: "2027-2028".into(),
        amount: Fen(8_000),
    };
    let seed = Principal::System(SystemJob::Seed);
    let e = app.engine.raise_bills(&seed, &[bill(&other.1)], "test").await.unwrap_err();
    assert!(e.to_string().contains("不在该收费项目的收费院系内"), "{e}");
    assert_eq!(app.engine.raise_bills(&seed, &[bill(&student.id)], "test").await.unwrap(), 1);

    // Raising by the standard leaves the other college's students out, with the reason.
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let standard = app
        .engine
        .propose_standard(&clerk, &item.id, YEAR, StandardSource::Uniform(Fen(8_000)), "统一标准")
        .await
        .unwrap();
    app.engine.decide_standard(&approver, &standard, true, "").await.unwrap();
    let rule = RaiseRule {
        fee_item_code: "SYF-2026".into(),
        academic_year: YEAR.into(),
        group: Group { kind: Some(PayerKind::EnrolledStudent), ..Group::default() },
    };
    let plan = app.engine.plan_raise(&clerk, &rule).await.unwrap();
    let outside = plan
        .excluded
        .iter()
        .find(|(why, _, _)| *why == Exclusion::Outside(Outside::Department))
        .expect("some are outside the college");
    assert!(outside.1 > 0 && outside.2.iter().any(|p| p.identifier == other.0), "{:?}", plan.excluded);
    let raised = app.engine.raise_by_standard(&clerk, &rule).await.unwrap();
    assert!(raised.created.unwrap() > 0);
    let outsiders = scalar(
        &app.store,
        "SELECT COUNT(*) FROM receivables r JOIN payers p ON p.id = r.payer_id
          WHERE r.fee_item_id = $1 AND (p.department_id IS NULL OR p.department_id <> $2)",
        &[&item.id, &cs],
    )
    .await;
    assert_eq!(outsiders, 0, "nobody outside the college was charged");

    // The student reads the notice and the receipt before paying.
    let payer_web = login_student(&base).await;
    let pay = payer_web.get(format!("{base}/portal/pay?year={YEAR}")).send().await.unwrap().text().await.unwrap();
    assert!(
        pay.contains("实验材料费") && pay.contains("课程退选后可申请退费") && pay.contains("票据：往来结算票据"),
        "{pay}"
    );
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(whom_an_item_is_for_changes_only_through_an_approved_change, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let item = {
        let mut c = app.store.read().await.unwrap();
        receivables::fee_item_by_code(&mut c, "PXF").await.unwrap().unwrap()
    };
    assert_eq!(item.profile_cols.receipt_kind, ReceiptKind::VatInvoice, "training is invoiced");
    let mut terms = Terms {
        name: item.name.clone(),
        window_start_ms: item.window_start_ms,
        window_end_ms: item.window_end_ms,
        partial_allowed: item.partial_allowed != 0,
        min_partial: item.min_partial_fen,
        profile: Profile {
            audience: Audience { kinds: vec![PayerKind::Staff, PayerKind::External], ..Audience::default() },
            receipt_kind: ReceiptKind::NonTax,
            notice: "培训费一经缴纳，开班后不予退还。".into(),
            fields: item.fields(),
        },
    };
    // Bad lists are refused with the reason.
    let mut bad = terms.clone();
    bad.profile.audience.departments = vec!["no-such-college".into()];
    let e = app.engine.request_fee_item_change(&clerk, &item.id, &bad, "限院系").await.unwrap_err();
    assert!(e.to_string().contains("不存在的院系"), "{e}");
    bad.profile.audience.departments.clear();
    bad.profile.notice = "长".repeat(1_001);
    assert!(app.engine.request_fee_item_change(&clerk, &item.id, &bad, "须知过长").await.is_err());

    let change = app.engine.request_fee_item_change(&clerk, &item.id, &terms, "只面向教工和校外人员").await.unwrap();
    let now = |store: bursar_store::Store, id: String| async move {
        receivables::fee_item(&mut store.read().await.unwrap(), &id).await.unwrap()
    };
    assert!(now(app.store.clone(), item.id.clone()).await.audience().is_everyone(), "nothing before approval");
    app.engine.decide_fee_item_change(&approver, &change, true, "同意").await.unwrap();
    let after = now(app.store.clone(), item.id.clone()).await;
    assert_eq!(after.profile(), terms.profile);
    // The versions page says whom each version was for; the log says what changed.
    let web = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let page =
        web.get(format!("{base}/admin/fee-items/{}/changes", item.id)).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("教工、校外人员；非税收入统一票据；缴费须知：培训费一经缴纳，开班后不予退还。；缴费时收集：发票抬头（单位报销时填写）（选填）"),
        "{page}"
    );
    let logged = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operation_log WHERE action = 'fee_item.change_request' AND detail LIKE '%receipt_kind=non_tax%'",
        &[],
    )
    .await;
    assert_eq!(logged, 1);
    // The same again is no change; a change back to everyone is one more version.
    assert!(app.engine.request_fee_item_change(&clerk, &item.id, &terms, "重复").await.is_err());
    terms.profile = Profile::usual_for(FeeType::Training);
    let back = app.engine.request_fee_item_change(&clerk, &item.id, &terms, "恢复").await.unwrap();
    app.engine.decide_fee_item_change(&approver, &back, true, "").await.unwrap();
    assert!(now(app.store.clone(), item.id.clone()).await.audience().is_everyone());
    app.stop().await;
});

both_stores!(what_an_item_asks_is_answered_before_the_payer_orders_it, |env: TestEnv| async move {
    use bursar_domain::payment::{ChannelKind, MerchantState};
    use bursar_domain::project::parse_field_lines;
    use std::collections::BTreeMap;
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (student, payer) = first_student(&app.store).await;
    let clerk = operator(&app.engine, bursar::demo::FINANCE_USER).await;
    let approver = operator(&app.engine, bursar::demo::APPROVER_USER).await;
    let dept = student.department_id.clone().unwrap();
    let fields = parse_field_lines("invoice_title|发票抬头|text|1\nsize|服装尺码|select|0|S,M,L").unwrap();
    let mut application = bursar_engine::collection::fee_items::FeeItemApplication {
        code: "HWF-2026".into(),
        name: "户外拓展训练费".into(),
        department_id: dept,
        fee_type: FeeType::Training,
        window_start_ms: None,
        window_end_ms: None,
        partial_allowed: false,
        min_partial: Fen::ZERO,
        note: "依据文件".into(),
        channels: Vec::new(),
        profile: Profile { fields: fields.clone(), ..Profile::usual_for(FeeType::Training) },
    };
    // Fields that do not read back as themselves are refused.
    let mut bad = application.clone();
    bad.profile.fields[0].name = "发票".into();
    assert!(app.engine.apply_fee_item(&clerk, &bad).await.is_err());
    application.code = "HWF-2026".into();
    let item = app.engine.apply_fee_item(&clerk, &application).await.unwrap();
    let accounts = app.engine.operator_view(&approver).merchant_accounts().await.unwrap();
    let card =
        accounts.iter().find(|a| a.channel == ChannelKind::CampusCard && a.state == MerchantState::Active).unwrap();
    let decision = FeeItemDecision::Approve { channels: vec![(ChannelKind::CampusCard, card.id.clone())], open: true };
    app.engine.decide_fee_item(&approver, &item, decision, "同意").await.unwrap();
    let bill = BillInput {
        payer_id: student.id.clone(),
        fee_item_id: item.clone(),
        academic_year: YEAR.into(),
        amount: Fen(12_000),
    };
    app.engine.raise_bills(&Principal::System(SystemJob::Seed), &[bill], "test").await.unwrap();
    let rid: String = {
        let rows = receivables::for_payer(&mut app.store.read().await.unwrap(), &student.id).await.unwrap();
        rows.into_iter().find(|r| r.item_code == "HWF-2026").unwrap().id
    };

    // The payer's own order needs the required answer; a cashier's does not.
    let e = app.engine.create_order(&payer, &[(rid.clone(), Fen(12_000))]).await.unwrap_err();
    assert!(e.to_string().contains("请填写发票抬头"), "{e}");
    let answers =
        |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let e = app
        .engine
        .answer_fee_fields(&payer, &rid, &answers(&[("invoice_title", "山东某公司"), ("size", "XXL")]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("服装尺码"), "{e}");
    // Another payer cannot answer for this one.
    let other_number: String = {
        let mut c = app.store.read().await.unwrap();
        sqlx::query_scalar(
            "SELECT identifier FROM payers WHERE kind = 'enrolled_student' AND id <> $1 ORDER BY identifier LIMIT 1",
        )
        .bind(&student.id)
        .fetch_one(c.raw())
        .await
        .unwrap()
    };
    let (_, other) = crate::support::payer(&app.store, PayerKind::EnrolledStudent, &other_number).await;
    assert!(app.engine.answer_fee_fields(&other, &rid, &answers(&[("invoice_title", "x")])).await.is_err());

    // Through the portal: the pay page asks, the answer is kept and the order made.
    let web = login_student(&base).await;
    let pay = web.get(format!("{base}/portal/pay?year={YEAR}")).send().await.unwrap().text().await.unwrap();
    let input = format!("f_{rid}_invoice_title");
    assert!(pay.contains(&format!("name=\"{input}\"")) && pay.contains("发票抬头"), "{pay}");
    let form = |title: &str| {
        vec![
            ("csrf".to_string(), csrf_of(&pay)),
            ("year".into(), YEAR.into()),
            ("sel".into(), rid.clone()),
            (format!("amount_{rid}"), "120.00".into()),
            (input.clone(), title.into()),
            (format!("f_{rid}_size"), "M".into()),
        ]
    };
    let refused = web.post(format!("{base}/portal/orders")).form(&form("  ")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("请填写发票抬头"));
    let made = web.post(format!("{base}/portal/orders")).form(&form("山东某科技有限公司")).send().await.unwrap();
    assert_eq!(made.status(), 303, "{}", made.text().await.unwrap_or_default());
    assert_eq!(
        app.engine.fee_answers(&payer, &rid).await.unwrap(),
        answers(&[("invoice_title", "山东某科技有限公司"), ("size", "M")])
    );
    // The pay page shows what was answered; the log names the fields, never the answers.
    let pay = web.get(format!("{base}/portal/pay?year={YEAR}")).send().await.unwrap().text().await.unwrap();
    assert!(pay.contains("value=\"山东某科技有限公司\""));
    let logged = scalar(
        &app.store,
        "SELECT COUNT(*) FROM operation_log WHERE action = 'receivable.answers' AND detail NOT LIKE '%山东%'",
        &[],
    )
    .await;
    assert_eq!(logged, 1);

    // Finance exports what payers answered.
    let fin = login_operator(&base, bursar::demo::FINANCE_USER, bursar::demo::FINANCE_PASSWORD).await;
    let detail = fin.get(format!("{base}/admin/fee-items/{item}")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("发票抬头（单行文字，必填）"), "{detail}");
    let x = fin.get(format!("{base}/admin/fee-items/{item}/answers.xlsx")).send().await.unwrap();
    assert_eq!(x.status(), 200);
    let bytes = x.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0][..5], ["学号/工号", "姓名", "学年", "发票抬头", "服装尺码"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1][0].as_str(), rows[1][3].as_str(), rows[1][4].as_str()),
        (student.identifier.as_str(), "山东某科技有限公司", "M")
    );
    app.stop().await;
});
