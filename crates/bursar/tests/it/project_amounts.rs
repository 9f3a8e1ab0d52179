//! Projects whose payer chooses the amount within bounds (a donation), and projects for some
//! colleges and grades only: the bounds and the limits hold in the engine, the portal shows them,
//! and registering again changes nothing.

use std::collections::BTreeMap;

use bursar_domain::payer::PayerKind;
use bursar_domain::project::parse_field_lines;
use bursar_domain::Fen;
use bursar_engine::{EngineError, NewProject};
use bursar_store::Conn as _;

use crate::both_stores;
use crate::projects::{approve_project, project_id};
use crate::support::*;

both_stores!(a_donation_takes_the_amount_the_payer_chooses_within_its_bounds, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let (me, student) = first_student(&app.store).await;
    let donation = project_id(&app.store, bursar::demo::DEMO_PROJECTS[3]).await;
    let answers = BTreeMap::new();
    let register = |amount: Option<Fen>| {
        let (engine, student, donation, answers) =
            (app.engine.clone(), student.clone(), donation.clone(), answers.clone());
        async move { engine.register_for_project(&student, &donation, &answers, amount).await }
    };
    for (amount, says) in [(None, "请填写缴费金额"), (Some(Fen(999)), "10.00"), (Some(Fen(1_000_001)), "10,000.00")]
    {
        let e = register(amount).await.unwrap_err();
        assert!(matches!(e, EngineError::Rule(_)) && e.to_string().contains(says), "{amount:?}: {e}");
    }
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM registrations WHERE project_id = $1", &[&donation]).await, 0);
    let r = register(Some(Fen(2_345))).await.unwrap();
    assert!(r.created);
    let rid = r.receivable_id.clone().expect("a receivable for the amount chosen");
    assert_eq!(scalar(&app.store, "SELECT due_fen FROM receivables WHERE id = $1", &[&rid]).await, 2_345);
    // Again, with another amount: the first registration, unchanged.
    let again = register(Some(Fen(5_000))).await.unwrap();
    assert!(!again.created && again.receivable_id.as_deref() == Some(rid.as_str()));
    assert_eq!(scalar(&app.store, "SELECT due_fen FROM receivables WHERE id = $1", &[&rid]).await, 2_345);
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM receivables WHERE payer_id = $1 AND id = $2", &[&me.id, &rid]).await,
        1
    );

    // The portal shows the bounds and asks for the amount.
    let base = app.base_url.clone();
    let c = client();
    let page = c.get(format!("{base}/portal/projects/{donation}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("自愿金额 ¥10.00 至 ¥10,000.00"), "the bounds are shown");
    let s = login_student(&base).await;
    let page = s.get(format!("{base}/portal/projects/{donation}")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("您已报名"), "already registered: no second form");
    assert_verified(&app.store).await;
    app.stop().await;
});

both_stores!(a_project_for_one_college_and_grade_takes_only_those_students, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let clerk = operator(&app.engine, bursar::demo::CLERK_USER).await;
    let (me, student) = first_student(&app.store).await;
    let college = me.department_id.clone().expect("the demo student has a college");
    let mut c = app.store.read().await.unwrap();
    sqlx::query("UPDATE payers SET grade = '2024' WHERE id = $1").bind(&me.id).execute(c.raw()).await.unwrap();
    let others: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT identifier, department_id FROM payers WHERE kind = 'enrolled_student' AND id <> $1 ORDER BY identifier",
    )
    .bind(&me.id)
    .fetch_all(c.raw())
    .await
    .unwrap();
    let other_college =
        bursar_store::payers::departments(&mut c).await.unwrap().into_iter().find(|(id, _)| *id != college);
    drop(c);
    let same_college =
        others.iter().find(|(_, d)| d.as_deref() == Some(college.as_str())).expect("a classmate").0.clone();
    let new = |code: &str| NewProject {
        code: code.into(),
        title: "2024 级计算机学院专业实训".into(),
        department_id: college.clone(),
        academic_year: "2026-2027".into(),
        description: String::new(),
        notice: "须知".into(),
        fee: Fen(20_000),
        capacity: None,
        open_to: vec![PayerKind::EnrolledStudent],
        open_departments: vec![college.clone()],
        open_grades: vec!["2024".into()],
        amount_max: None,
        opens_at_ms: None,
        closes_at_ms: None,
        fields: parse_field_lines("").unwrap(),
        channels_like: None,
    };
    // Bad limits are refused when the project is published.
    let mut bad = new("SX-BAD-1");
    bad.amount_max = Some(Fen(100));
    assert!(matches!(app.engine.create_project(&clerk, bad).await, Err(EngineError::Rule(_))));
    let mut bad = new("SX-BAD-2");
    bad.open_departments = vec!["no-such-college".into()];
    assert!(matches!(app.engine.create_project(&clerk, bad).await, Err(EngineError::Rule(_))));
    let id = app.engine.create_project(&clerk, new("SX-2024-CS")).await.unwrap();
    approve_project(&app.engine, &id).await;
    let none = BTreeMap::new();
    // The classmate has no grade on record: refused, with the reason.
    let (_, classmate) = payer(&app.store, PayerKind::EnrolledStudent, &same_college).await;
    let e = app.engine.register_for_project(&classmate, &id, &none, None).await.unwrap_err();
    assert!(e.to_string().contains("指定年级"), "{e}");
    if let Some((other, _)) = other_college {
        let mut c = app.store.read().await.unwrap();
        let outsider: Option<String> = sqlx::query_scalar(
            "SELECT identifier FROM payers WHERE kind = 'enrolled_student' AND department_id = $1 LIMIT 1",
        )
        .bind(&other)
        .fetch_optional(c.raw())
        .await
        .unwrap();
        drop(c);
        if let Some(number) = outsider {
            let (_, outsider) = payer(&app.store, PayerKind::EnrolledStudent, &number).await;
            let e = app.engine.register_for_project(&outsider, &id, &none, None).await.unwrap_err();
            assert!(e.to_string().contains("指定院系"), "{e}");
        }
    }
    let r = app.engine.register_for_project(&student, &id, &none, None).await.unwrap();
    assert!(r.created && r.receivable_id.is_some());
    // The portal tells a student outside the limits before they try.
    let page = app.engine.published_project(&id).await.unwrap().expect("published").0;
    assert_eq!(page.open_grades, "2024");
    assert_verified(&app.store).await;
    app.stop().await;
});
