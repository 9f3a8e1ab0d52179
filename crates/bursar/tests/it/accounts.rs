//! Payer accounts (payer guide §1–2): every login mode, the forced change of an initial
//! password, personal information, security questions, "forgot password", outside people
//! registering themselves, and a captcha after repeated failures.

use crate::both_stores;
use crate::support::*;

async fn login_page(c: &reqwest::Client, base: &str) -> String {
    c.get(format!("{base}/portal/login")).send().await.unwrap().text().await.unwrap()
}

async fn password_login(
    c: &reqwest::Client,
    base: &str,
    kind: &str,
    user: &str,
    password: &str,
    captcha: Option<(&str, &str)>,
) -> reqwest::Response {
    let page = login_page(c, base).await;
    let csrf = csrf_of(&page);
    let mut form = vec![("csrf", csrf.as_str()), ("kind", kind), ("identifier", user), ("password", password)];
    if let Some((token, answer)) = captcha {
        form.push(("captcha_token", token));
        form.push(("captcha", answer));
    }
    c.post(format!("{base}/portal/login")).form(&form).send().await.unwrap()
}

both_stores!(staff_must_change_the_initial_password_first, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (staff, initial) = bursar::demo::staff_login();
    let c = client();
    let r = password_login(&c, &base, "staff", &staff, &initial, None).await;
    assert_eq!((r.status(), location(&r)), (reqwest::StatusCode::SEE_OTHER, "/portal/account/password".to_string()));
    // Every other page sends them back until the password is changed.
    let r = c.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(location(&r), "/portal/account/password");
    let page = c.get(format!("{base}/portal/account/password")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"forced-change\""));
    let csrf = csrf_of(&page);
    // The first change also asks for the whole ID number (the initial password gives it away
    // to nobody, but a fixed or guessed one could be anybody's).
    assert!(page.contains("证件号码（核实身份）"));
    let proof = bursar::demo::staff_id_number();
    let change = |cur: &str, new: &str, confirm: &str| {
        let (c, base, csrf, proof) = (c.clone(), base.clone(), csrf.clone(), proof.clone());
        let (cur, new, confirm) = (cur.to_string(), new.to_string(), confirm.to_string());
        async move {
            c.post(format!("{base}/portal/account/password"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", cur.as_str()),
                    ("proof", proof.as_str()),
                    ("new", new.as_str()),
                    ("confirm", confirm.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(change("wrong", "Teacher2026", "Teacher2026").await.status(), 422, "the current password is checked");
    assert_eq!(change(&initial, "short1", "short1").await.status(), 422, "too weak");
    assert_eq!(change(&initial, "Teacher2026", "Teacher2027").await.status(), 422, "not confirmed");
    let r = change(&initial, "Teacher2026", "Teacher2026").await;
    assert_eq!(r.status(), 303);
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap();
    assert_eq!(fees.status(), 200);
    assert!(fees.text().await.unwrap().contains("职业技能培训费"), "staff see their own fees");
    // The old password no longer works; the new one does.
    assert_eq!(password_login(&client(), &base, "staff", &staff, &initial, None).await.status(), 401);
    let r = password_login(&client(), &base, "staff", &staff, "Teacher2026", None).await;
    assert_eq!(location(&r), "/portal/fees");
    app.stop().await;
});

both_stores!(new_students_sign_in_with_id_number_and_name, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (id, name) = bursar::demo::new_student_login();
    let c = client();
    let page = login_page(&c, &base).await;
    let csrf = csrf_of(&page);
    let r = c
        .post(format!("{base}/portal/login/new-student"))
        .form(&[("csrf", csrf.as_str()), ("id_number", id.as_str()), ("name", "张冒名")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("证件号码或姓名不正确"));
    let r = c
        .post(format!("{base}/portal/login/new-student"))
        .form(&[("csrf", csrf.as_str()), ("id_number", &id.to_lowercase()), ("name", name.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/portal/fees");
    let fees = c.get(format!("{base}/portal/fees")).send().await.unwrap().text().await.unwrap();
    assert!(fees.contains("学费") && fees.contains("4,800.00"));
    app.stop().await;
});

both_stores!(personal_info_security_questions_and_forgot_password, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let (student, password) = bursar::demo::first_student_login();
    let c = login_student(&base).await;
    let page = c.get(format!("{base}/portal/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("个人信息") && page.contains(&student) && page.contains("****"), "masked ID number shown");
    let csrf = csrf_of(&page);
    assert_eq!(
        c.post(format!("{base}/portal/account/phone"))
            .form(&[("csrf", csrf.as_str()), ("phone", "123")])
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let r = c
        .post(format!("{base}/portal/account/phone"))
        .form(&[("csrf", csrf.as_str()), ("phone", "13911112222")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/portal/account?saved=phone");
    let page = c.get(format!("{base}/portal/account?saved=phone")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("139****2222"));
    // Security questions need the password.
    let sq = |cur: &str| {
        let (c, base, csrf, cur) = (c.clone(), base.clone(), csrf.clone(), cur.to_string());
        async move {
            c.post(format!("{base}/portal/account/security"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", cur.as_str()),
                    ("question1", "小学名称"),
                    ("answer1", "实验小学"),
                    ("question2", "母亲姓名"),
                    ("answer2", "王芳"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sq("wrong-password").await.status(), 422);
    assert_eq!(location(&sq(&password).await), "/portal/account?saved=security");

    // Forgot password: the questions, then the answers and a new password.
    let anon = client();
    let page = anon.get(format!("{base}/portal/forgot")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let step = |answers: Option<(&str, &str)>, new: &str| {
        let (anon, base, csrf, student, new) =
            (anon.clone(), base.clone(), csrf.clone(), student.clone(), new.to_string());
        let answers = answers.map(|(a, b)| (a.to_string(), b.to_string()));
        async move {
            let mut form = vec![
                ("csrf".to_string(), csrf),
                ("kind".into(), "enrolled_student".into()),
                ("identifier".into(), student),
            ];
            if let Some((a, b)) = answers {
                form.extend([
                    ("answer1".into(), a),
                    ("answer2".into(), b),
                    ("new".into(), new.clone()),
                    ("confirm".into(), new),
                ]);
            }
            anon.post(format!("{base}/portal/forgot")).form(&form).send().await.unwrap()
        }
    };
    let r = step(None, "").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("小学名称"), "shows the questions");
    assert_eq!(step(Some(("别的小学", "王芳")), "Newpass2026").await.status(), 422, "a wrong answer");
    let r = step(Some((" 实验小学 ", "王芳")), "Newpass2026").await;
    assert_eq!(location(&r), "/portal/login?reset=1");
    assert_eq!(password_login(&client(), &base, "enrolled_student", &student, &password, None).await.status(), 401);
    assert_eq!(
        location(&password_login(&client(), &base, "enrolled_student", &student, "Newpass2026", None).await),
        "/portal/fees"
    );
    // An unknown account reads the same as one without questions.
    let page = anon.get(format!("{base}/portal/forgot")).send().await.unwrap().text().await.unwrap();
    let r = anon
        .post(format!("{base}/portal/forgot"))
        .form(&[("csrf", csrf_of(&page).as_str()), ("kind", "staff"), ("identifier", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    app.stop().await;
});

both_stores!(outside_people_register_and_a_captcha_follows_failures, |env: TestEnv| async move {
    let app = env.start_demo().await;
    let base = app.base_url.clone();
    let c = client();
    let page = c.get(format!("{base}/portal/register")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    // The phone is proven with a code texted to it; a wrong code is refused at its field.
    let code = sms_code(&app, &c, "13700001111").await;
    let reg = |phone: &str, accept: bool, code: &str| {
        let (c, base, csrf, phone, code) = (c.clone(), base.clone(), csrf.clone(), phone.to_string(), code.to_string());
        async move {
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("name", "陈校外"),
                ("phone", phone.as_str()),
                ("sms_code", code.as_str()),
                ("password", "Outside2026"),
                ("confirm", "Outside2026"),
                ("question1", "出生城市"),
                ("answer1", "淄博"),
                ("question2", "宠物"),
                ("answer2", "花花"),
            ];
            if accept {
                form.push(("accept", "1"));
            }
            c.post(format!("{base}/portal/register")).form(&form).send().await.unwrap()
        }
    };
    assert_eq!(reg("13700001111", false, &code).await.status(), 422, "the notice must be accepted");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = reg("13700001111", true, wrong).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("验证码不正确"));
    let r = reg("13700001111", true, &code).await;
    assert_eq!(location(&r), "/portal/fees");
    assert_eq!(c.get(format!("{base}/portal/fees")).send().await.unwrap().status(), 200, "signed in");
    let again = client();
    let page = again.get(format!("{base}/portal/register")).send().await.unwrap().text().await.unwrap();
    // The code once spent does not verify again.
    let form = [
        ("csrf", csrf_of(&page)),
        ("name", "陈校外".into()),
        ("phone", "13700001111".into()),
        ("sms_code", code.clone()),
        ("password", "Outside2026".into()),
        ("confirm", "Outside2026".into()),
        ("question1", "a".into()),
        ("answer1", "b".into()),
        ("question2", "c".into()),
        ("answer2", "d".into()),
        ("accept", "1".into()),
    ];
    let r = again.post(format!("{base}/portal/register")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 422, "one account per phone");
    let r = password_login(&client(), &base, "external", "13700001111", "Outside2026", None).await;
    assert_eq!(location(&r), "/portal/fees");

    // Two failures: the login page asks for a captcha; without it even the right password is refused.
    let c = client();
    for _ in 0..2 {
        assert_eq!(password_login(&c, &base, "external", "13700001111", "wrong", None).await.status(), 401);
    }
    let r = password_login(&c, &base, "external", "13700001111", "Outside2026", None).await;
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(page.contains("验证码") && page.contains("<svg"));
    let token = between(&page, "name=\"captcha_token\" value=\"", "\"").unwrap().to_string();
    let r = password_login(&c, &base, "external", "13700001111", "Outside2026", Some((&token, "XXXX"))).await;
    assert_eq!(r.status(), 401, "a wrong captcha");
    app.stop().await;
});
