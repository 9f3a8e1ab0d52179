//! The demo school: departments, fee items, 240 enrolled students with tuition and other fees
//! across two academic years, and a finance operator. Deterministic, so the printed logins work.

use anyhow::Context;
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payer::{complete_resident_id, mask_id_number, InitialPasswordRule, PayerKind};
use bursar_domain::Fen;
use bursar_store::payers::{self, NewPayer};
use bursar_store::receivables::{self, NewFeeItem};
use bursar_store::{ledger, Store};

pub const FINANCE_USER: &str = "finance";
pub const FINANCE_PASSWORD: &str = "Finance@2026";
/// Charging-department operators: (user name, name, department code).
pub const DEPARTMENT_USERS: [(&str, &str, &str); 2] =
    [("houqin", "后勤管理处 李老师", "HQ"), ("jiaowu", "教务处 王老师", "JW")];
pub const DEPARTMENT_PASSWORD: &str = "Dept@2026";
pub const STUDENTS: usize = 240;
/// Every demo campus card's password.
pub const CARD_PASSWORD: &str = "246810";

#[derive(Clone, Debug)]
pub struct DemoSummary {
    pub payers: usize,
    pub receivables: usize,
    pub student_number: String,
    pub student_name: String,
    pub student_password: String,
}

const DAY_MS: i64 = 86_400_000;
const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚",
    "桂英", "浩然", "子涵", "欣怡", "梓萱", "宇轩",
];

/// A tiny deterministic generator (demo data must be the same every time).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Student {
    number: String,
    name: String,
    id_number: String,
    phone: String,
    dept: usize,
    class_name: String,
    grade: u32,
}

fn students() -> Vec<Student> {
    let mut rng = Lcg(20260901);
    let majors = ["计算机科学与技术", "机械工程", "会计学", "英语", "化学工程"];
    (0..STUDENTS)
        .map(|i| {
            let grade = 2023 + (i % 4) as u32;
            let dept = i % majors.len();
            let seq = i / 4 + 1;
            let birth_year = grade - 18;
            let month = 1 + rng.below(12);
            let day = 1 + rng.below(28);
            let prefix = format!("370303{birth_year}{month:02}{day:02}{:03}", 100 + rng.below(899));
            let id_number = complete_resident_id(&prefix).unwrap_or_else(|| format!("{prefix}0"));
            let name = format!(
                "{}{}",
                SURNAMES[rng.below(SURNAMES.len() as u64) as usize],
                GIVEN[rng.below(GIVEN.len() as u64) as usize]
            );
            Student {
                number: format!("{grade}{:02}{:04}", dept + 1, seq),
                name,
                id_number,
                phone: format!("13{}{:08}", 5 + rng.below(5), rng.below(100_000_000)),
                dept,
                class_name: format!("{}{}级{}班", majors[dept], grade % 100, 1 + seq % 3),
                grade,
            }
        })
        .collect()
}

/// Seeds the demo school when the store has no payers yet. Returns what it created.
pub async fn seed_if_empty(store: &Store, id_digest_key: &[u8]) -> anyhow::Result<Option<DemoSummary>> {
    seed_if_empty_with(store, id_digest_key, &InitialPasswordRule::IdLastSix).await
}

/// The same, with the school's rule for initial passwords (`initial_password` in the config).
pub async fn seed_if_empty_with(
    store: &Store,
    id_digest_key: &[u8],
    rule: &InitialPasswordRule,
) -> anyhow::Result<Option<DemoSummary>> {
    {
        let mut c = store.read().await?;
        if payers::count_payers(&mut c).await? > 0 {
            return Ok(None);
        }
    }
    let students = students();
    // argon2id hashing is deliberately slow: spread it over the cores before the transaction.
    let passwords: Vec<String> = students.iter().map(|s| rule.password_for(&s.id_number).unwrap_or_default()).collect();
    let hashes = demo_hashes(&passwords)?;
    let finance_hash = bursar_web::auth::hash_password(FINANCE_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;

    let now = store.now_ms();
    let mut tx = store.begin().await?;
    let t = tx.now_ms;
    let depts = [
        ("CW", "财务处"),
        ("JW", "教务处"),
        ("XG", "学生工作处"),
        ("HQ", "后勤管理处"),
        ("JJ", "继续教育学院"),
        ("WY", "外国语学院"),
    ];
    let mut dept_ids = Vec::new();
    for (code, name) in depts {
        let id = tx.new_id();
        payers::insert_department(tx.c(), &id, code, name).await?;
        dept_ids.push(id);
    }
    let dept_hash = bursar_web::auth::hash_password(DEPARTMENT_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (user, name, code) in DEPARTMENT_USERS {
        let idx = depts.iter().position(|(c, _)| *c == code).unwrap_or(0);
        let id = tx.new_id();
        payers::insert_operator(tx.c(), &id, user, name, "department", Some(&dept_ids[idx]), &dept_hash, t).await?;
    }
    let fin_id = tx.new_id();
    payers::insert_operator(
        tx.c(),
        &fin_id,
        FINANCE_USER,
        "财务处 张会计",
        "finance",
        Some(&dept_ids[0]),
        &finance_hash,
        t,
    )
    .await?;

    struct Item {
        code: &'static str,
        name: &'static str,
        dept: usize,
        fee_type: FeeType,
        status: FeeItemStatus,
        window: Option<(i64, i64)>,
        partial: Option<i64>,
    }
    let open = Some((now - 30 * DAY_MS, now + 60 * DAY_MS));
    let items = [
        Item {
            code: "XF",
            name: "学费",
            dept: 0,
            fee_type: FeeType::Tuition,
            status: FeeItemStatus::Collecting,
            window: None,
            partial: Some(100_000),
        },
        Item {
            code: "ZSF",
            name: "住宿费",
            dept: 3,
            fee_type: FeeType::Tuition,
            status: FeeItemStatus::Collecting,
            window: None,
            partial: None,
        },
        Item {
            code: "JCF",
            name: "教材费",
            dept: 1,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window: open,
            partial: None,
        },
        Item {
            code: "CET",
            name: "英语四六级考试报名费",
            dept: 5,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window: open,
            partial: None,
        },
        Item {
            code: "PXF",
            name: "职业技能培训费",
            dept: 4,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window: open,
            partial: Some(20_000),
        },
        Item {
            code: "TJF",
            name: "新生体检费",
            dept: 2,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Stopped,
            window: open,
            partial: None,
        },
        Item {
            code: "NCRE",
            name: "计算机等级考试报名费",
            dept: 1,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window: Some((now - 60 * DAY_MS, now - DAY_MS)),
            partial: None,
        },
        Item {
            code: "BXF",
            name: "学生医疗保险费",
            dept: 2,
            fee_type: FeeType::Other,
            status: FeeItemStatus::Collecting,
            window: Some((now + 10 * DAY_MS, now + 40 * DAY_MS)),
            partial: None,
        },
    ];
    let mut item_ids = Vec::new();
    for it in &items {
        let id = tx.new_id();
        receivables::insert_fee_item(
            tx.c(),
            &id,
            &NewFeeItem {
                code: it.code,
                name: it.name,
                department_id: &dept_ids[it.dept],
                fee_type: it.fee_type,
                status: it.status,
                window_start_ms: it.window.map(|w| w.0),
                window_end_ms: it.window.map(|w| w.1),
                partial_allowed: it.partial.is_some(),
                min_partial: Fen(it.partial.unwrap_or(0)),
            },
            t,
        )
        .await?;
        item_ids.push(id);
    }

    let mut receivable_count = 0;
    for (i, (s, hash)) in students.iter().zip(&hashes).enumerate() {
        let payer_id = tx.new_id();
        let digest = bursar_web::auth::id_number_digest(id_digest_key, &s.id_number);
        payers::insert_payer(
            tx.c(),
            &payer_id,
            &NewPayer {
                kind: PayerKind::EnrolledStudent.as_str(),
                identifier: &s.number,
                name: &s.name,
                id_number_masked: &mask_id_number(&s.id_number),
                id_number_digest: &digest,
                phone: &s.phone,
                department_id: Some(&dept_ids[1 + s.dept % 5]),
                class_name: &s.class_name,
                password_hash: hash,
            },
            t,
        )
        .await?;
        let tuition = [480_000i64, 520_000, 440_000, 400_000, 500_000][s.dept];
        let raise = |item: usize, year: &str, due: i64| (item, year.to_string(), due);
        let mut lines = vec![raise(0, "2026-2027", tuition), raise(1, "2026-2027", 120_000)];
        if s.grade < 2026 && i % 5 == 0 {
            lines.push(raise(0, "2025-2026", tuition / 2));
        }
        if i % 2 == 0 {
            lines.push(raise(2, "2026-2027", 32_000 + (i as i64 % 4) * 2_500));
        }
        if i % 3 == 0 {
            lines.push(raise(3, "2026-2027", 3_000));
        }
        if i % 4 == 0 {
            lines.push(raise(4, "2026-2027", 180_000));
        }
        if s.grade == 2026 {
            lines.push(raise(5, "2026-2027", 6_000));
        }
        if i % 6 == 0 {
            lines.push(raise(6, "2026-2027", 8_000));
        }
        if i % 7 == 0 {
            lines.push(raise(7, "2026-2027", 25_000));
        }
        for (item, year, due) in lines {
            let rid = tx.new_id();
            receivables::insert_receivable(tx.c(), &rid, &payer_id, &item_ids[item], &year, Fen(due), t).await?;
            let entry = bursar_domain::ledger::receivable_raised(&rid, &item_ids[item], Fen(due))?;
            ledger::post(&mut tx, &entry).await?;
            let detail = format!("fee_item={} year={year} due_fen={due}", item_ids[item]);
            let change = bursar_store::oplog::Change {
                action: "receivable.raise",
                entity: "receivable",
                entity_id: &rid,
                before: "",
                after: "open",
                detail: &detail,
            };
            bursar_store::oplog::append(tx.c(), t, &bursar_store::oplog::Actor::system("demo_import"), &change).await?;
            receivable_count += 1;
        }
    }
    // The demo students may log in with their initial password again and again (so the demo can
    // be replayed); every other account with an initial password must change it first.
    sqlx::query("UPDATE payers SET must_change_password = 0 WHERE kind = 'enrolled_student'").execute(tx.c()).await?;
    // Other kinds of payers (payer guide §1): staff and registrants log in with a number and an
    // initial password (they must change it); new students with their ID number and name.
    let other_hash = |id: &str| -> anyhow::Result<String> {
        let pw = rule.password_for(id).unwrap_or_default();
        bursar_web::auth::hash_password(&pw).map_err(|e| anyhow::anyhow!("{e}"))
    };
    for (i, (kind, identifier, name, id_prefix)) in OTHER_PAYERS.iter().enumerate() {
        let id_number = complete_resident_id(id_prefix).unwrap_or_default();
        let payer_id = tx.new_id();
        let hash = if *kind == "new_student" { "!".to_string() } else { other_hash(&id_number)? };
        payers::insert_payer(
            tx.c(),
            &payer_id,
            &NewPayer {
                kind,
                identifier,
                name,
                id_number_masked: &mask_id_number(&id_number),
                id_number_digest: &bursar_web::auth::id_number_digest(id_digest_key, &id_number),
                phone: "",
                department_id: Some(&dept_ids[1 + i % 5]),
                class_name: "",
                password_hash: &hash,
            },
            t,
        )
        .await?;
        if *kind == "new_student" {
            // No password to change: new students sign in with their ID number and name.
            payers::set_payer_password(tx.c(), &payer_id, "!", false).await?;
        }
        // New students owe their first year; staff and registrants a training fee.
        let lines: Vec<(usize, i64)> =
            if *kind == "new_student" { vec![(0, 480_000), (1, 120_000)] } else { vec![(4, 180_000)] };
        for (item, due) in lines {
            let rid = tx.new_id();
            receivables::insert_receivable(tx.c(), &rid, &payer_id, &item_ids[item], "2026-2027", Fen(due), t).await?;
            let entry = bursar_domain::ledger::receivable_raised(&rid, &item_ids[item], Fen(due))?;
            ledger::post(&mut tx, &entry).await?;
            receivable_count += 1;
        }
    }
    // Campus cards for every other student (the first one included), loaded by bank transfer.
    let card_hash = bursar_web::auth::hash_password(CARD_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let payer_rows = {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, identifier FROM payers ORDER BY identifier").fetch_all(tx.c()).await?;
        rows
    };
    for (i, (payer_id, number)) in payer_rows.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let card_no = format!("C{number}");
        bursar_store::cards::insert(tx.c(), &card_no, payer_id, &card_hash, t).await?;
        let amount = Fen(100_000 + (i as i64 % 5) * 20_000);
        let from = bursar_domain::ledger::AccountRef::new(bursar_domain::ledger::AccountKind::Bank, "school");
        let entry = bursar_domain::ledger::card_loaded(&format!("demo-load-{card_no}"), &card_no, from, amount)?;
        ledger::post(&mut tx, &entry).await?;
    }
    tx.commit().await.context("committing demo data")?;
    let first = &students[0];
    Ok(Some(DemoSummary {
        payers: students.len(),
        receivables: receivable_count,
        student_number: first.number.clone(),
        student_name: first.name.clone(),
        student_password: rule.password_for(&first.id_number).unwrap_or_default(),
    }))
}

/// The first demo student's login, whether or not this run seeded.
pub fn first_student_login() -> (String, String) {
    student_logins(1).remove(0)
}

/// The first `n` demo students' logins (student number, initial password).
pub fn student_logins(n: usize) -> Vec<(String, String)> {
    student_logins_with(n, &InitialPasswordRule::IdLastSix)
}

/// The same under the school's rule for initial passwords.
pub fn student_logins_with(n: usize, rule: &InitialPasswordRule) -> Vec<(String, String)> {
    students().iter().take(n).map(|s| (s.number.clone(), rule.password_for(&s.id_number).unwrap_or_default())).collect()
}

/// The demo students' password hashes, computed once per process (tests seed many databases).
fn demo_hashes(passwords: &[String]) -> anyhow::Result<Vec<String>> {
    type Cached = (Vec<String>, Vec<String>);
    static CACHE: std::sync::Mutex<Option<Cached>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, h)) = cache.as_ref().filter(|(p, _)| p.as_slice() == passwords) {
        return Ok(h.clone());
    }
    let hashes = hash_all(passwords)?;
    *cache = Some((passwords.to_vec(), hashes.clone()));
    Ok(hashes)
}

fn hash_all(passwords: &[String]) -> anyhow::Result<Vec<String>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    let chunk = passwords.len().div_ceil(workers).max(1);
    let results: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = passwords
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| bursar_web::auth::hash_password(p).map_err(|e| anyhow::anyhow!("{e}")))
                        .collect::<anyhow::Result<Vec<String>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("hashing thread panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(passwords.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Which channels each demo fee item accepts, into which merchant account: WeChat Pay for all;
/// Alipay for all, tuition and accommodation into one app and other fees into the other (so a
/// tuition + textbook order is paid in two payments with Alipay); the campus card for everything
/// but tuition; UnionPay online banking for tuition and accommodation. Only items with no channel configured yet are touched, so finance's own settings
/// survive a restart.
pub async fn enable_channels(store: &Store) -> anyhow::Result<()> {
    use bursar_store::merchants;
    let mut tx = store.begin().await?;
    let now = tx.now_ms;
    let card_id = tx.new_id();
    let card = merchants::NewMerchantAccount {
        id: &card_id,
        channel: "campus_card",
        merchant_no: "wallet",
        name: "校园卡钱包",
        settings: "{}",
        sealed_secrets: "",
    };
    let card_id = merchants::upsert(tx.c(), &card, now).await?;
    let accounts = merchants::all(tx.c()).await?;
    let configured: std::collections::BTreeSet<String> =
        merchants::routes(tx.c()).await?.into_iter().map(|r| r.fee_item_id).collect();
    let wechat = accounts.iter().find(|a| a.channel == "wechatpay").map(|a| a.id.clone());
    let unionpay = accounts.iter().find(|a| a.channel == "unionpay").map(|a| a.id.clone());
    let mut alipay: Vec<_> = accounts.iter().filter(|a| a.channel == "alipay").collect();
    alipay.sort_by_key(|a| !a.name.contains("学费"));
    for item in receivables::fee_items(tx.c()).await? {
        if configured.contains(&item.id) {
            continue;
        }
        if let Some(w) = &wechat {
            merchants::enable_channel(tx.c(), &item.id, "wechatpay", w).await?;
        }
        let tuition_or_dorm = matches!(item.code.as_str(), "XF" | "ZSF");
        let app = if tuition_or_dorm { alipay.first() } else { alipay.get(1).or(alipay.first()) };
        if let Some(a) = app {
            merchants::enable_channel(tx.c(), &item.id, "alipay", &a.id).await?;
        }
        if item.code != "XF" {
            merchants::enable_channel(tx.c(), &item.id, "campus_card", &card_id).await?;
        }
        if let Some(u) = unionpay.as_ref().filter(|_| tuition_or_dorm) {
            merchants::enable_channel(tx.c(), &item.id, "unionpay", u).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The demo's business system: "培训报名系统" (a training sign-up system) may collect training,
/// exam and insurance fees through the open API. Registered once; its credentials are written
/// (mode 0600) to `<data-dir>/sandbox/api/demo_app.json` for the example client, because a
/// secret is shown only when it is made. `webhook_url` is where its events are delivered.
pub async fn ensure_demo_app(
    engine: &bursar_engine::Engine,
    data_dir: &std::path::Path,
    base_url: &str,
    webhook_url: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = data_dir.join("sandbox").join("api").join("demo_app.json");
    let exists = {
        let mut c = engine.store().read().await?;
        bursar_store::api::apps(&mut c).await?.iter().any(|a| a.name == DEMO_APP_NAME)
    };
    if exists && path.exists() {
        return Ok(path);
    }
    let items = ["PXF", "CET", "NCRE", "BXF"].map(String::from);
    let (app, secret) = engine
        .register_app(
            &engine.config().sealing,
            DEMO_APP_NAME,
            webhook_url,
            &format!("{}/portal", base_url.trim_end_matches('/')),
            "",
            &items,
            None,
            &bursar_store::oplog::Actor::system("demo"),
        )
        .await?;
    std::fs::create_dir_all(path.parent().unwrap_or(data_dir))?;
    let creds = serde_json::json!({
        "base_url": base_url, "app_id": app.app_id, "secret": secret, "notify_url": webhook_url,
        "fee_items": items, "payer_identifier": first_student_login().0,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&creds)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

pub const DEMO_APP_NAME: &str = "培训报名系统";

/// The demo's projects open for registration (项目报名): a paid training with a capacity, a
/// conference open to staff and outside people, and a free lecture. Published once, by finance,
/// collecting through the same channels as the training fee item.
pub const DEMO_PROJECTS: [&str; 3] = ["PX-2026-PY", "HY-2026-12", "JZ-2026-01"];

pub async fn ensure_demo_projects(engine: &bursar_engine::Engine) -> anyhow::Result<()> {
    use bursar_domain::project::parse_field_lines;
    let (finance, depts, training_item) = {
        let mut c = engine.store().read().await?;
        if !bursar_store::projects::all(&mut c).await?.is_empty() {
            return Ok(());
        }
        let finance = payers::operator_by_username(&mut c, FINANCE_USER)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo finance operator missing"))?;
        let depts = payers::departments(&mut c).await?;
        let training = receivables::fee_items(&mut c).await?.into_iter().find(|f| f.code == "PXF").map(|f| f.id);
        (finance, depts, training)
    };
    let dept = |name: &str| depts.iter().find(|(_, n)| n == name).map(|(id, _)| id.clone()).unwrap_or_default();
    let now = engine.store().now_ms();
    let day = 86_400_000;
    let projects = [
        (
            DEMO_PROJECTS[0],
            "2026年秋季职业技能培训（Python 数据分析）",
            dept("继续教育学院"),
            Fen(80_000),
            Some(40),
            PayerKind::ALL.to_vec(),
            "为期 4 周的周末班，结业颁发培训证书。",
            "1. 报名费一经缴纳，开课后不予退还。\n2. 请如实填写联系方式，开课通知以短信发送。\n3. 请确认收款方为本校统一支付平台。",
            "phone|联系电话|phone|1\ncompany|工作单位|text|0\nsize|服装尺码|select|1|S,M,L,XL",
        ),
        (
            DEMO_PROJECTS[1],
            "第十二届校园学术会议",
            dept("教务处"),
            Fen(30_000),
            None,
            vec![PayerKind::Staff, PayerKind::External, PayerKind::EnrolledStudent],
            "会议注册费含会议资料与午餐。",
            "参会人员须提交论文题目；注册费发票由财务处统一开具。",
            "paper|论文题目|text|1\nemail|电子邮箱|email|1\nnote|备注|textarea|0",
        ),
        (
            DEMO_PROJECTS[2],
            "心理健康讲座（免费）",
            dept("学生工作处"),
            Fen::ZERO,
            Some(100),
            vec![PayerKind::EnrolledStudent, PayerKind::NewStudent],
            "面向全体学生的公益讲座。",
            "请准时到场，讲座期间请将手机调至静音。",
            "phone|联系电话|phone|0",
        ),
    ];
    for (code, title, department_id, fee, capacity, open_to, description, notice, fields) in projects {
        let p = bursar_engine::NewProject {
            code: code.into(),
            title: title.into(),
            department_id,
            academic_year: "2026-2027".into(),
            description: description.into(),
            notice: notice.into(),
            fee,
            capacity,
            open_to,
            opens_at_ms: Some(now - 7 * day),
            closes_at_ms: Some(now + 60 * day),
            fields: parse_field_lines(fields).map_err(|e| anyhow::anyhow!(e))?,
            channels_like: training_item.clone(),
        };
        engine.create_project(&finance, p).await?;
    }
    Ok(())
}

/// The demo's staff, registrants and new students: (kind, login identifier, name, 17-digit ID prefix).
pub const OTHER_PAYERS: [(&str, &str, &str, &str); 6] = [
    ("staff", "T2010001", "赵老师", "37030319800101001"),
    ("staff", "T2010002", "钱老师", "37030319820202002"),
    ("registrant", "R2026001", "孙报名", "37030319900303003"),
    ("new_student", "N2026001", "李新生", "37030320080404004"),
    ("new_student", "N2026002", "周新生", "37030320080505005"),
    ("new_student", "N2026003", "吴新生", "37030320080606006"),
];

/// A demo staff member's login (staff number, initial password).
pub fn staff_login() -> (String, String) {
    staff_login_with(&InitialPasswordRule::IdLastSix)
}

pub fn staff_login_with(rule: &InitialPasswordRule) -> (String, String) {
    let (_, number, _, prefix) = OTHER_PAYERS[0];
    let id = complete_resident_id(prefix).unwrap_or_default();
    (number.to_string(), rule.password_for(&id).unwrap_or_default())
}

/// A demo new student's login (ID number, name).
pub fn new_student_login() -> (String, String) {
    let (_, _, name, prefix) = OTHER_PAYERS[3];
    (complete_resident_id(prefix).unwrap_or_default(), name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_students_are_deterministic_with_valid_ids() {
        let a = students();
        let b = students();
        assert_eq!(a.len(), STUDENTS);
        assert_eq!(a[7].id_number, b[7].id_number);
        assert!(a.iter().all(|s| bursar_domain::payer::is_valid_resident_id(&s.id_number)));
        let mut numbers: Vec<_> = a.iter().map(|s| s.number.clone()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), STUDENTS, "student numbers are unique");
    }
}
