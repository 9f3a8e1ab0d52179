//! Project registration (payer guide §8) and the portal's English (§10).

use std::collections::BTreeMap;

use bursar_domain::access::Principal;
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::ChannelKind;
use bursar_domain::project::parse_field_lines;
use bursar_domain::Fen;
use bursar_engine::collection::fee_items::FeeItemDecision;
use bursar_engine::{Engine, EngineError, NewProject};
use bursar_store::projects as project_store;

use crate::both_stores;
use crate::support::*;

pub(crate) async fn project_id(store: &bursar_store::Store, code: &str) -> String {
    let mut c = store.read().await.unwrap();
    project_store::by_code(&mut c, code).await.unwrap().expect("demo project").id
}

/// Finance's approver approves a project's fee item with the channels it was set up with.
pub(crate) async fn approve_project(engine: &Engine, project_id: &str) {
    let approver = operator(engine, bursar::demo::APPROVER_USER).await;
    let view = engine.operator_view(&approver);
    let item = view.project(project_id).await.unwrap().item;
    let mut channels: Vec<_> = view.fee_item(&item.id).await.unwrap().1.into_iter().map(|(c, m)| (c, m.id)).collect();
    if channels.is_empty() {
        // Set up without a model item: finance picks the WeChat Pay account.
        let wechat = view.merchant_accounts().await.unwrap().into_iter().find(|m| m.channel == ChannelKind::Wechatpay);
        channels.push((ChannelKind::Wechatpay, wechat.expect("a WeChat Pay account").id));
    }
    let decision = FeeItemDecision::Approve { channels, open: true };
    engine.decide_fee_item(&approver, &item.id, decision, "同意").await.unwrap();
}

async fn registrations(store: &bursar_store::Store, project: &str) -> Vec<project_store::RegistrationRow> {
    let mut c = store.read().await.unwrap();
    project_store::registrations_of_project(&mut c, project).await.unwrap()
}

both_stores!(an_outside_person_registers_then_signs_up_and_owes_the_fee_once, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let training = project_id(&app.store, bursar::demo::DEMO_PROJECTS[0]).await;
    let c = client();

    // Anyone can read the open projects and a project's notice.
    let list = c.get(format!("{base}/portal/projects")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Python 数据分析") && list.contains("第十二届校园学术会议"), "open projects listed");
    let page = c.get(format!("{base}/portal/projects/{training}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("报名费一经缴纳") && page.contains("登录后报名"), "notice shown, login asked for");
    // Registering without an account leads to login and back.
    let r = c.post(format!("{base}/portal/projects/{training}")).form(&[("accept", "1")]).send().await.unwrap();
    assert_eq!(location(&r), format!("/portal/login?next=/portal/projects/{training}"));

    // Registering as a new user shows the project's notice too and comes back to the project.
    let next = format!("/portal/projects/{training}");
    let reg = c.get(format!("{base}/portal/register?next={next}")).send().await.unwrap().text().await.unwrap();
    assert!(reg.contains("报名须知：2026年秋季职业技能培训") && reg.contains("我已阅读并同意注册须知和报名须知"));
    let csrf = csrf_of(&reg);
    let code = sms_code(&app, &c, "13912345678").await;
    let r = c
        .post(format!("{base}/portal/register"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "周参训"),
            ("phone", "13912345678"),
            ("sms_code", code.as_str()),
            ("password", "Learn2026"),
            ("confirm", "Learn2026"),
            ("question1", "出生城市"),
            ("answer1", "济南"),
            ("question2", "小学名称"),
            ("answer2", "实验小学"),
            ("accept", "1"),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, next.clone()), "back to the project, logged in");

    let page = c.get(format!("{base}{next}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"f_phone\"") && page.contains("name=\"f_size\""), "the project's own fields");
    let csrf = csrf_of(&page);
    let post = |form: Vec<(&'static str, String)>| {
        let (c, url, csrf) = (c.clone(), format!("{base}{next}"), csrf.clone());
        async move {
            let mut f = vec![("csrf", csrf)];
            f.extend(form);
            c.post(url).form(&f).send().await.unwrap()
        }
    };
    // Refusals say why and change nothing.
    let r = post(vec![("f_phone", "13912345678".into()), ("f_size", "M".into())]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("请阅读并同意报名须知"));
    let r = post(vec![("accept", "1".into()), ("f_phone", "1391234".into()), ("f_size", "M".into())]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("联系电话：手机号须为 11 位数字"));
    let r = post(vec![("accept", "1".into()), ("f_phone", "13912345678".into()), ("f_size", "XXL".into())]).await;
    assert!(r.text().await.unwrap().contains("服装尺码：请从选项中选择"));
    assert!(registrations(&app.store, &training).await.is_empty(), "nothing registered by refused forms");

    // A valid registration raises the fee as a receivable, once.
    let ok = vec![("accept", "1".into()), ("f_phone", " 13912345678 ".into()), ("f_size", "L".into())];
    let r = post(ok.clone()).await;
    assert_eq!(location(&r), "/portal/registrations");
    let r = post(ok).await;
    assert_eq!(location(&r), "/portal/registrations", "registering again is harmless");
    let regs = registrations(&app.store, &training).await;
    assert_eq!(regs.len(), 1);
    let answers: BTreeMap<String, String> = serde_json::from_str(&regs[0].answers).unwrap();
    assert_eq!(answers.get("phone").map(String::as_str), Some("13912345678"), "answers kept trimmed");
    let rid = regs[0].receivable_id.clone().expect("a paid project raises a receivable");
    {
        let mut conn = app.store.read().await.unwrap();
        let rv = bursar_store::receivables::receivable(&mut conn, &rid).await.unwrap();
        assert_eq!(rv.due_fen, Fen(80_000));
        assert_eq!(project_store::get(&mut conn, &training).await.unwrap().registered, 1);
    }
    let mine = c.get(format!("{base}/portal/registrations")).send().await.unwrap().text().await.unwrap();
    assert!(mine.contains("待缴报名费 ¥800.00") && mine.contains("L"));
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("2026年秋季职业技能培训（Python 数据分析）"), "the fee is among current fees");
    // Paying it starts from the registration: an order for what is owed.
    let csrf = csrf_of(&mine);
    let r = c
        .post(format!("{base}/portal/orders"))
        .form(&[("csrf", csrf.as_str()), ("sel", rid.as_str()), (format!("amount_{rid}").as_str(), "800.00")])
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/portal/orders/"), "order made: {}", location(&r));
    let order = c.get(format!("{base}{}", location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(
        order.contains("name=\"method\" value=\"wechat_native\""),
        "the project collects through the training fee's channels: {}",
        between(&order, "<fieldset>", "</fieldset>").unwrap_or("no methods")
    );
    assert_verified(&app.store).await;
});

both_stores!(seats_kinds_windows_and_publishing_rules_hold, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let finance = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let dept_jw = operator(&app.engine, "jiaowu").await;
    let Principal::Operator(jw) = &dept_jw else { panic!("an operator") };
    let jw_department = jw.departments[0].clone();
    let dept_other = {
        let mut c = app.store.read().await.unwrap();
        let depts = bursar_store::payers::departments(&mut c).await.unwrap();
        depts.iter().find(|(id, _)| *id != jw_department).unwrap().0.clone()
    };
    let mut students = Vec::new();
    for (login, _) in bursar::demo::student_logins(4) {
        students.push(payer(&app.store, PayerKind::EnrolledStudent, &login).await.1);
    }
    let now = app.store.now_ms();
    let project =
        |code: &str, capacity: Option<i64>, open_to: Vec<PayerKind>, window: (Option<i64>, Option<i64>)| NewProject {
            code: code.into(),
            title: "测试项目".into(),
            department_id: jw_department.clone(),
            academic_year: "2026-2027".into(),
            description: String::new(),
            notice: "须知".into(),
            fee: Fen(5_000),
            capacity,
            open_to,
            open_departments: Vec::new(),
            open_grades: Vec::new(),
            amount_max: None,
            opens_at_ms: window.0,
            closes_at_ms: window.1,
            fields: parse_field_lines("name2|称呼|text|0").unwrap(),
            channels_like: None,
        };
    // A department publishes for itself only; codes are unique (also against fee items).
    let mut other = project("OTHER-1", None, vec![PayerKind::EnrolledStudent], (None, None));
    other.department_id = dept_other.clone();
    let e = app.engine.create_project(&dept_jw, other).await.unwrap_err();
    assert!(e.to_string().contains("只能为本部门发布项目"), "{e}");
    let small = app
        .engine
        .create_project(&dept_jw, project("SEATS-2", Some(2), vec![PayerKind::EnrolledStudent], (None, None)))
        .await
        .unwrap();
    let e = app
        .engine
        .create_project(&finance, project("SEATS-2", None, vec![PayerKind::Staff], (None, None)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("已被使用"), "{e}");
    let e = app
        .engine
        .create_project(&finance, project("PXF", None, vec![PayerKind::Staff], (None, None)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("已被使用"), "a fee item's code: {e}");

    // Until finance approves its fee item, nobody can register (nor see it in the portal).
    let e = app.engine.register_for_project(&students[0], &small, &BTreeMap::new(), None).await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "{e}");
    approve_project(&app.engine, &small).await;

    // Four students race for two seats: exactly two get one, each with one receivable.
    let answers = BTreeMap::new();
    let mut handles = Vec::new();
    for s in students.clone() {
        let (engine, small, answers) = (app.engine.clone(), small.clone(), answers.clone());
        handles.push(tokio::spawn(async move { engine.register_for_project(&s, &small, &answers, None).await }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(r) => {
                assert!(r.created && r.receivable_id.is_some());
                ok += 1;
            }
            Err(EngineError::Rule(e)) => assert_eq!(e.to_string(), "报名人数已满"),
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok, 2);
    assert_eq!(registrations(&app.store, &small).await.len(), 2);
    assert_verified(&app.store).await;

    // Who may register, and when.
    let staff_only = app
        .engine
        .create_project(&finance, project("STAFF-1", None, vec![PayerKind::Staff], (None, None)))
        .await
        .unwrap();
    approve_project(&app.engine, &staff_only).await;
    let e = app.engine.register_for_project(&students[0], &staff_only, &answers, None).await.unwrap_err();
    assert_eq!(e.to_string(), "该项目不接受在校生报名");
    let later = app
        .engine
        .create_project(
            &finance,
            project("LATER-1", None, vec![PayerKind::EnrolledStudent], (Some(now + 86_400_000), None)),
        )
        .await
        .unwrap();
    approve_project(&app.engine, &later).await;
    assert_eq!(
        app.engine.register_for_project(&students[0], &later, &answers, None).await.unwrap_err().to_string(),
        "报名尚未开始"
    );
    let over = app
        .engine
        .create_project(
            &finance,
            project("OVER-1", None, vec![PayerKind::EnrolledStudent], (Some(now - 2_000), Some(now - 1_000))),
        )
        .await
        .unwrap();
    approve_project(&app.engine, &over).await;
    assert_eq!(
        app.engine.register_for_project(&students[0], &over, &answers, None).await.unwrap_err().to_string(),
        "报名已截止"
    );
    let houqin = operator(&app.engine, "houqin").await;
    let e = app.engine.set_project_open(&houqin, &staff_only, false).await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound(_)), "another department cannot close it: {e}");
    app.engine.set_project_open(&finance, &staff_only, false).await.unwrap();
    let e = app.engine.set_project_open(&dept_jw, &staff_only, true).await;
    assert!(e.is_ok(), "its own department reopens it");
    let e = app.engine.register_for_project(&students[0], &staff_only, &answers, None).await.unwrap_err();
    assert_eq!(e.to_string(), "该项目不接受在校生报名");
    assert_verified(&app.store).await;
});

both_stores!(departments_publish_projects_and_export_who_registered, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = login_operator(&base, "jiaowu", bursar::demo::DEPARTMENT_PASSWORD).await;
    let page = c.get(format!("{base}/admin/projects")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("第十二届校园学术会议"), "its own department's project");
    assert!(!page.contains("Python 数据分析"), "not another department's");
    let csrf = csrf_of(&page);
    let dept = between(&page, "<option value=\"", "\"").unwrap().to_string();
    let form = |fields: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", "kw-2026".to_string()),
            ("title", "英语角".to_string()),
            ("department_id", dept.clone()),
            ("academic_year", "2026-2027".to_string()),
            ("fee", "20".to_string()),
            ("capacity", "30".to_string()),
            ("opens_at", "2026-01-01T08:00".to_string()),
            ("closes_at", "2036-01-01T08:00".to_string()),
            ("open_to", "enrolled_student".to_string()),
            ("notice", "按时参加".to_string()),
            ("fields", fields.to_string()),
        ]
    };
    let r = c.post(format!("{base}/admin/projects")).form(&form("Phone|电话")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("第 1 行：字段名须为小写字母、数字或下划线"));
    let r = c.post(format!("{base}/admin/projects")).form(&form("phone|联系电话|phone|1")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let detail_url = location(&r);
    let id = detail_url.rsplit('/').next().unwrap().to_string();
    // Until finance approves its fee item the project is not open to anyone.
    let student = login_student(&base).await;
    let r = student.get(format!("{base}/portal/projects/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a project waiting for approval is not shown");
    // Finance's approver finds the application among the fee items and approves it with a channel.
    let fin = login_operator(&base, bursar::demo::APPROVER_USER, bursar::demo::FINANCE_PASSWORD).await;
    let items = fin.get(format!("{base}/admin/fee-items")).send().await.unwrap().text().await.unwrap();
    let row = items.split("<tr").find(|r| r.contains("KW-2026")).expect("the application is listed");
    assert!(row.contains("待审核"), "{row}");
    let item_url = between(row, "<a href=\"", "\"").unwrap().to_string();
    let detail = fin.get(format!("{base}{item_url}")).send().await.unwrap().text().await.unwrap();
    let select = between(&detail, "name=\"channel_wechatpay\">", "</select>").expect("a WeChat Pay choice");
    let after_none = select.split_once("不使用</option>").expect("a 'none' choice").1;
    let account = between(after_none, "<option value=\"", "\"").expect("an account").to_string();
    let r = fin
        .post(format!("{base}{item_url}/decide"))
        .form(&[
            ("csrf", csrf_of(&detail).as_str()),
            ("decision", "approve"),
            ("channel_wechatpay", account.as_str()),
            ("open", "1"),
            ("comment", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, format!("{item_url}?done=approved")));
    let detail = fin.get(format!("{base}{}", location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("已审核通过"), "says what was done");
    assert!(detail.contains("<dd>收费</dd>") && detail.contains("同意"), "approved and collecting");
    // A student registers; the department sees them and exports the list.
    let p = student.get(format!("{base}/portal/projects/{id}")).send().await.unwrap().text().await.unwrap();
    let r = student
        .post(format!("{base}/portal/projects/{id}"))
        .form(&[("csrf", csrf_of(&p).as_str()), ("accept", "1"), ("f_phone", "13800000001")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/portal/registrations");
    let detail = c.get(format!("{base}{detail_url}")).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("13800000001") && detail.contains("欠 ¥20.00"), "registration listed with its fee state");
    let x = c.get(format!("{base}{detail_url}/registrations.xlsx")).send().await.unwrap();
    assert_eq!(x.status(), 200);
    assert!(x.headers()["content-type"].to_str().unwrap().contains("spreadsheetml"));
    let bytes = x.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][4], "联系电话");
    assert_eq!(rows[1][4], "13800000001");
    assert_eq!(rows[1][5], "欠 ¥20.00");
    // Another department cannot see it.
    let hq = login_operator(&base, "houqin", bursar::demo::DEPARTMENT_PASSWORD).await;
    assert_eq!(hq.get(format!("{base}{detail_url}")).send().await.unwrap().status(), 404);
    assert_verified(&app.store).await;
});

both_stores!(the_portal_speaks_english_when_asked, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = client();
    let zh = c.get(format!("{base}/portal/login")).send().await.unwrap();
    assert_eq!(zh.headers()["content-language"], "zh-CN");
    let zh = zh.text().await.unwrap();
    assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("缴费人登录") && zh.contains(">English</a>"));
    // The switch remembers the choice and returns only to this site.
    let r = c.get(format!("{base}/lang/en?back=/portal/login")).send().await.unwrap();
    assert_eq!(location(&r), "/portal/login");
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("lang=en;"));
    let r = c.get(format!("{base}/lang/en?back=//evil.example/")).send().await.unwrap();
    assert_eq!(location(&r), "/portal");
    let en = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(en.contains("<html lang=\"en\">") && en.contains("Payer login") && en.contains(">中文</a>"));
    assert!(!en.contains("缴费人登录"));
    // Messages from the rules arrive in English too.
    let (user, _) = bursar::demo::first_student_login();
    let r = c
        .post(format!("{base}/portal/login"))
        .form(&[("csrf", csrf_of(&en).as_str()), ("identifier", user.as_str()), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Wrong user name or password"));
    // Accept-Language is honoured without a cookie; finance's pages stay Chinese.
    let fresh = client();
    let page = fresh
        .get(format!("{base}/portal/projects"))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Open for registration") && page.contains("Places left"));
    let admin = fresh.get(format!("{base}/admin/login")).header("accept-language", "en").send().await.unwrap();
    assert_eq!(admin.headers()["content-language"], "zh-CN");
    // A logged-in payer's pages and amounts-with-rules messages.
    let s = login_student(&base).await;
    s.get(format!("{base}/lang/en?back=/portal/fees")).send().await.unwrap();
    let fees = s.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("Current fees") && fees.contains("Total outstanding") && fees.contains("Tuition"));
    let pay = s.get(format!("{base}/portal/pay")).send().await.unwrap().text().await.unwrap();
    assert!(pay.contains("Choose what to pay"));
});

both_stores!(a_school_with_a_fixed_initial_password_and_its_english_name, |env: TestEnv| async move {
    let app = env.start_demo_with(|cfg| cfg.initial_password = "000000".into()).await;
    let base = app.base_url.clone();
    let c = client();
    let page = c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("初始密码为 000000"), "the login page says so");
    let (user, id_last6) = bursar::demo::first_student_login();
    let login = |password: &'static str| {
        let (c, base, user, csrf) = (c.clone(), base.clone(), user.clone(), csrf_of(&page));
        async move {
            c.post(format!("{base}/portal/login"))
                .form(&[("csrf", csrf.as_str()), ("identifier", user.as_str()), ("password", password)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_ne!(id_last6, "000000");
    assert_eq!(login("000000").await.status(), 303, "the school's fixed initial password works");
    let en = c.get(format!("{base}/lang/en?back=/portal/fees")).send().await.unwrap();
    assert_eq!(location(&en), "/portal/fees");
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("Shandong University of Technology Unified Payment Platform"), "the school's English name");
});
