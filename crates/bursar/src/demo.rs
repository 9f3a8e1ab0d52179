//! The demo school: departments, fee items, 240 enrolled students with tuition and other fees
//! across two academic years, and a finance operator. Deterministic, so the printed logins work.

use anyhow::Context;
use bursar_domain::access::{Principal, Role, SystemJob};
use bursar_domain::audience::{Audience, Profile};
use bursar_domain::fee::FeeType;
use bursar_domain::ledger::{AccountKind, AccountRef};
use bursar_domain::payer::{complete_resident_id, InitialPasswordRule, PayerKind};
use bursar_domain::payment::ChannelKind;
use bursar_domain::Fen;
use bursar_engine::access::operators::NewOperator;
use bursar_engine::setup::{BillInput, ConfiguredFeeItem, PayerInput};
use bursar_engine::Engine;

/// The finance administrator (财务管理员): configures channels and applications, and approves.
pub const FINANCE_USER: &str = "finance";
pub const FINANCE_PASSWORD: &str = "Finance@2026";
/// A finance clerk (财务经办) and a finance approver (财务审核): refunds and waivers a clerk asks
/// for are approved by someone else.
pub const CLERK_USER: &str = "clerk";
pub const APPROVER_USER: &str = "approver";
pub const CASHIER_USER: &str = "cashier";
/// The chief cashier (出纳), who confirms the cashiers' day closes.
pub const CHIEF_CASHIER_USER: &str = "chief";
pub const AUDITOR_USER: &str = "auditor";
pub const LEADER_USER: &str = "leader";
pub const SYSADMIN_USER: &str = "sysadmin";
/// Every finance-side demo operator: (user name, name, password, roles).
pub const FINANCE_USERS: [(&str, &str, &str, &[Role]); 8] = [
    (FINANCE_USER, "财务处 张会计", FINANCE_PASSWORD, &[Role::FinanceAdmin]),
    (CLERK_USER, "财务处 陈经办", FINANCE_PASSWORD, &[Role::FinanceClerk]),
    (APPROVER_USER, "财务处 林审核", FINANCE_PASSWORD, &[Role::FinanceApprover]),
    (CASHIER_USER, "财务处 何收费员", FINANCE_PASSWORD, &[Role::Cashier]),
    (CHIEF_CASHIER_USER, "财务处 赵出纳", FINANCE_PASSWORD, &[Role::ChiefCashier]),
    (AUDITOR_USER, "审计处 郑审计", FINANCE_PASSWORD, &[Role::Auditor]),
    (LEADER_USER, "校领导 王副校长", FINANCE_PASSWORD, &[Role::Leader]),
    (SYSADMIN_USER, "信息中心 系统管理员", FINANCE_PASSWORD, &[Role::SystemAdmin]),
];
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

pub(crate) struct Student {
    pub(crate) number: String,
    name: String,
    id_number: String,
    phone: String,
    dept: usize,
    class_name: String,
    grade: u32,
}

pub(crate) fn students() -> Vec<Student> {
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
pub async fn seed_if_empty(engine: &Engine) -> anyhow::Result<Option<DemoSummary>> {
    seed_if_empty_with(engine, &InitialPasswordRule::IdLastSix).await
}

/// The principal the demo seed acts as.
fn seed() -> Principal {
    Principal::System(SystemJob::Seed)
}

/// The same, with the school's rule for initial passwords (`initial_password` in the config).
/// Everything goes through engine commands, as the demo school's own setup would.
pub async fn seed_if_empty_with(engine: &Engine, rule: &InitialPasswordRule) -> anyhow::Result<Option<DemoSummary>> {
    if engine.payer_count().await? > 0 {
        return Ok(None);
    }
    let students = students();
    // argon2id hashing is deliberately slow: spread it over the cores first.
    let passwords: Vec<String> = students.iter().map(|s| rule.password_for(&s.id_number).unwrap_or_default()).collect();
    let hashes = demo_hashes(&passwords)?;
    let by = seed();
    let now = engine.store().now_ms();
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
        dept_ids.push(engine.create_department(&by, code, name).await?);
    }
    // Colleges the demo students belong to (not offices).
    let colleges = [
        ("JSJ", "计算机学院"),
        ("JX", "机械工程学院"),
        ("JG", "经济管理学院"),
        ("WYX", "外国语学院（学生）"),
        ("HG", "化学化工学院"),
    ];
    let mut college_ids = Vec::new();
    for (code, name) in colleges {
        college_ids.push(engine.create_department(&by, code, name).await?);
    }
    for (user, name, code) in DEPARTMENT_USERS {
        let idx = depts.iter().position(|(c, _)| *c == code).unwrap_or(0);
        let op = NewOperator {
            username: user.into(),
            name: name.into(),
            password: DEPARTMENT_PASSWORD.into(),
            roles: vec![Role::DepartmentOperator],
            departments: vec![dept_ids[idx].clone()],
        };
        engine.create_operator(&by, &op).await?;
    }
    for (user, name, password, roles) in FINANCE_USERS {
        let op = NewOperator {
            username: user.into(),
            name: name.into(),
            password: password.into(),
            roles: roles.to_vec(),
            departments: Vec::new(),
        };
        engine.create_operator(&by, &op).await?;
    }
    // The demo school is for trying out: its money roles log in with the password alone (系统设置
    // shows this relaxed, with the reason, and turns it back on).
    engine.set_second_factor_policy(&by, false, "演示学校，便于试用；正式使用请开启").await?;

    struct Item {
        code: &'static str,
        name: &'static str,
        dept: usize,
        fee_type: FeeType,
        collecting: bool,
        window: Option<(i64, i64)>,
        partial: Option<i64>,
        /// 缴费须知 (empty: none) and the payer kinds it is for (empty: everyone).
        notice: &'static str,
        kinds: &'static [PayerKind],
        /// What payers are asked when paying it (field lines; empty: nothing).
        fields: &'static str,
    }
    let open = Some((now - 30 * DAY_MS, now + 60 * DAY_MS));
    let items = [
        Item {
            code: "XF",
            name: "学费",
            dept: 0,
            fee_type: FeeType::Tuition,
            collecting: true,
            window: None,
            partial: Some(100_000),
            notice:
                "学费按学年收取，可分次缴纳，每次不少于 1,000 元。\n家庭经济困难的同学可向学院申请缓缴或办理绿色通道。",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "ZSF",
            name: "住宿费",
            dept: 3,
            fee_type: FeeType::Accommodation,
            collecting: true,
            window: None,
            partial: None,
            notice: "住宿费按所住宿舍的标准收取；调换宿舍后多退少补。",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "JCF",
            name: "教材费",
            dept: 1,
            fee_type: FeeType::Agency,
            collecting: true,
            window: open,
            partial: None,
            notice: "",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "CET",
            name: "英语四六级考试报名费",
            dept: 5,
            fee_type: FeeType::Exam,
            collecting: true,
            window: open,
            partial: None,
            notice: "",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "PXF",
            name: "职业技能培训费",
            dept: 4,
            fee_type: FeeType::Training,
            collecting: true,
            window: open,
            partial: Some(20_000),
            notice: "",
            fields: "invoice_title|发票抬头（单位报销时填写）|text|0",
            kinds: &[],
        },
        Item {
            code: "TJF",
            name: "新生体检费",
            dept: 2,
            fee_type: FeeType::Service,
            collecting: false,
            window: open,
            partial: None,
            notice: "",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "NCRE",
            name: "计算机等级考试报名费",
            dept: 1,
            fee_type: FeeType::Exam,
            collecting: true,
            window: Some((now - 60 * DAY_MS, now - DAY_MS)),
            partial: None,
            notice: "",
            fields: "",
            kinds: &[],
        },
        Item {
            code: "BXF",
            name: "学生医疗保险费",
            dept: 2,
            fee_type: FeeType::Agency,
            collecting: true,
            window: Some((now + 10 * DAY_MS, now + 40 * DAY_MS)),
            partial: None,
            notice: "学生医疗保险费由学校代收后统一参保；已在户籍地参保的同学请向学院说明，无需缴纳。",
            fields: "",
            kinds: &[PayerKind::EnrolledStudent, PayerKind::NewStudent],
        },
    ];
    let mut item_ids = Vec::new();
    for it in &items {
        let f = ConfiguredFeeItem {
            code: it.code.into(),
            name: it.name.into(),
            department_id: dept_ids[it.dept].clone(),
            fee_type: it.fee_type,
            collecting: it.collecting,
            window: it.window,
            min_partial: it.partial.map(Fen),
            profile: Profile {
                notice: it.notice.to_string(),
                audience: Audience { kinds: it.kinds.to_vec(), ..Audience::default() },
                fields: bursar_domain::project::parse_field_lines(it.fields)
                    .map_err(|e| anyhow::anyhow!("demo fields of {}: {e}", it.code))?,
                ..Profile::usual_for(it.fee_type)
            },
        };
        item_ids.push(engine.configure_fee_item(&by, &f).await?);
    }

    let inputs: Vec<PayerInput> = students
        .iter()
        .zip(&hashes)
        .map(|(s, hash)| PayerInput {
            kind: PayerKind::EnrolledStudent,
            identifier: s.number.clone(),
            name: s.name.clone(),
            id_number: s.id_number.clone(),
            phone: s.phone.clone(),
            department_id: Some(college_ids[s.dept % college_ids.len()].clone()),
            class_name: s.class_name.clone(),
            password_hash: hash.clone(),
            // The demo students may log in with their initial password again and again (so
            // the demo can be replayed); every other account must change it first.
            must_change_password: false,
        })
        .collect();
    let payer_ids = engine.add_payers(&by, &inputs).await?;
    let mut bills = Vec::new();
    for (i, (s, payer_id)) in students.iter().zip(&payer_ids).enumerate() {
        let tuition = [480_000i64, 520_000, 440_000, 400_000, 500_000][s.dept];
        let mut bill = |item: usize, year: &str, due: i64| {
            bills.push(BillInput {
                payer_id: payer_id.clone(),
                fee_item_id: item_ids[item].clone(),
                academic_year: year.to_string(),
                amount: Fen(due),
            })
        };
        bill(0, "2026-2027", tuition);
        bill(1, "2026-2027", 120_000);
        if s.grade < 2026 && i % 5 == 0 {
            bill(0, "2025-2026", tuition / 2);
        }
        let n = i64::try_from(i).unwrap_or(0);
        if i % 2 == 0 {
            bill(2, "2026-2027", 32_000 + (n % 4) * 2_500);
        }
        if i % 3 == 0 {
            bill(3, "2026-2027", 3_000);
        }
        if i % 4 == 0 {
            bill(4, "2026-2027", 180_000);
        }
        if s.grade == 2026 {
            bill(5, "2026-2027", 6_000);
        }
        if i % 6 == 0 {
            bill(6, "2026-2027", 8_000);
        }
        if i % 7 == 0 {
            bill(7, "2026-2027", 25_000);
        }
    }
    // Other kinds of payers (payer guide §1): staff and registrants log in with a number and an
    // initial password (they must change it); new students with their ID number and name.
    let mut others = Vec::new();
    for (i, (kind, identifier, name, id_prefix)) in OTHER_PAYERS.iter().enumerate() {
        let id_number = complete_resident_id(id_prefix).unwrap_or_default();
        let new_student = *kind == PayerKind::NewStudent;
        let password_hash = if new_student {
            "!".to_string()
        } else {
            let pw = rule.password_for(&id_number).unwrap_or_default();
            bursar_engine::access::passwords::hash(&pw).await?
        };
        others.push(PayerInput {
            kind: *kind,
            identifier: identifier.to_string(),
            name: name.to_string(),
            id_number,
            phone: String::new(),
            department_id: Some(college_ids[i % college_ids.len()].clone()),
            class_name: String::new(),
            password_hash,
            // No password to change for new students: they sign in with ID number and name.
            must_change_password: !new_student,
        });
    }
    let other_ids = engine.add_payers(&by, &others).await?;
    for (id, (kind, ..)) in other_ids.iter().zip(OTHER_PAYERS.iter()) {
        // New students owe their first year; staff and registrants a training fee.
        let lines: Vec<(usize, i64)> =
            if *kind == PayerKind::NewStudent { vec![(0, 480_000), (1, 120_000)] } else { vec![(4, 180_000)] };
        for (item, due) in lines {
            bills.push(BillInput {
                payer_id: id.clone(),
                fee_item_id: item_ids[item].clone(),
                academic_year: "2026-2027".into(),
                amount: Fen(due),
            });
        }
    }
    let receivable_count = engine.raise_bills(&by, &bills, "demo seed").await.context("raising the demo bills")?;
    // Campus cards for every other student (the first one included), loaded by bank transfer.
    let card_hash = bursar_engine::access::passwords::hash(CARD_PASSWORD).await?;
    let mut all: Vec<(String, String)> =
        students.iter().map(|s| s.number.clone()).zip(payer_ids.iter().cloned()).collect();
    all.extend(OTHER_PAYERS.iter().map(|(_, n, _, _)| n.to_string()).zip(other_ids.iter().cloned()));
    all.sort();
    for (i, (number, payer_id)) in all.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let card_no = format!("C{number}");
        engine.issue_card(&by, payer_id, &card_no, &card_hash).await?;
        let amount = Fen(100_000 + i64::try_from(i % 5).unwrap_or(0) * 20_000);
        let from = AccountRef::new(AccountKind::Bank, "school");
        engine.load_card(&by, &card_no, amount, from, &format!("demo-load-{card_no}")).await?;
    }
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

/// The first `n` demo students' (student number, ID document number, name): what the school
/// registered, for tests of what only the student should know.
pub fn student_identities(n: usize) -> Vec<(String, String, String)> {
    students().iter().take(n).map(|s| (s.number.clone(), s.id_number.clone(), s.name.clone())).collect()
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
                        .map(|p| bursar_engine::access::passwords::hash_blocking(p).map_err(|e| anyhow::anyhow!("{e}")))
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
/// but tuition; UnionPay online banking for tuition and accommodation. Only items with no channel
/// configured yet are touched, so finance's own settings survive a restart.
pub async fn enable_channels(engine: &Engine) -> anyhow::Result<()> {
    let by = seed();
    let wallet = serde_json::json!({"merchant_no": "wallet"});
    let card_id = engine.register_merchant(&by, ChannelKind::CampusCard, "校园卡钱包", &wallet).await?;
    let channels = engine.operator_view(&by).channels().await?;
    let accounts = channels.accounts;
    let configured: std::collections::BTreeSet<String> = channels.routes.iter().map(|r| r.0.clone()).collect();
    let wechat = accounts.iter().find(|a| a.channel == ChannelKind::Wechatpay).map(|a| a.id.clone());
    let unionpay = accounts.iter().find(|a| a.channel == ChannelKind::Unionpay).map(|a| a.id.clone());
    let mut alipay: Vec<_> = accounts.iter().filter(|a| a.channel == ChannelKind::Alipay).collect();
    alipay.sort_by_key(|a| !a.name.contains("学费"));
    let mut changes = Vec::new();
    for item in channels.items.iter().filter(|i| !configured.contains(&i.id)) {
        let tuition_or_dorm = matches!(item.code.as_str(), "XF" | "ZSF");
        if let Some(w) = &wechat {
            changes.push((item.id.clone(), ChannelKind::Wechatpay, Some(w.clone())));
        }
        let app = if tuition_or_dorm { alipay.first() } else { alipay.get(1).or(alipay.first()) };
        if let Some(a) = app {
            changes.push((item.id.clone(), ChannelKind::Alipay, Some(a.id.clone())));
        }
        if item.code != "XF" {
            changes.push((item.id.clone(), ChannelKind::CampusCard, Some(card_id.clone())));
        }
        if let Some(u) = unionpay.as_ref().filter(|_| tuition_or_dorm) {
            changes.push((item.id.clone(), ChannelKind::Unionpay, Some(u.clone())));
        }
    }
    engine.set_routes(&by, &changes).await?;
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
    let by = seed();
    let exists = engine.operator_view(&by).apps().await?.iter().any(|a| a.name == DEMO_APP_NAME);
    if exists && path.exists() {
        return Ok(path);
    }
    let items = ["PXF", "CET", "NCRE", "BXF"].map(String::from);
    let input = bursar_engine::api::apps::NewAppInput {
        name: DEMO_APP_NAME.into(),
        notify_url: webhook_url.into(),
        return_url: format!("{}/portal", base_url.trim_end_matches('/')),
        ip_allowlist: String::new(),
        fee_item_codes: items.to_vec(),
        rsa_public_key_pem: None,
    };
    let (app, secret) = engine.register_app(&by, &input).await?;
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
/// conference open to staff and outside people, a free lecture, and a donation whose amount the
/// payer chooses (¥10 to ¥10,000). Published once by the finance
/// clerk, collecting through the same channels as the training fee item, and approved by the
/// finance approver (their fee items wait for approval like any other).
pub const DEMO_PROJECTS: [&str; 4] = ["PX-2026-PY", "HY-2026-12", "JZ-2026-01", "JZ-2026-AX"];

pub async fn ensure_demo_projects(engine: &Engine) -> anyhow::Result<()> {
    use bursar_domain::project::parse_field_lines;
    let clerk = engine.operator_principal(CLERK_USER).await?.context("demo finance clerk missing")?;
    let approver = engine.operator_principal(APPROVER_USER).await?.context("demo finance approver missing")?;
    let view = engine.operator_view(&clerk);
    if !view.projects().await?.is_empty() {
        return Ok(());
    }
    let depts = view.departments().await?;
    let training_item = view.fee_items().await?.into_iter().find(|f| f.code == "PXF").map(|f| f.id);
    let dept = |name: &str| depts.iter().find(|(_, n)| n == name).map(|(id, _)| id.clone()).unwrap_or_default();
    let now = engine.store().now_ms();
    let day = 86_400_000;
    let projects = [
        (
            DEMO_PROJECTS[0],
            "2026年秋季职业技能培训（Python 数据分析）",
            dept("继续教育学院"),
            Fen(80_000),
            None,
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
            None,
            Some(100),
            vec![PayerKind::EnrolledStudent, PayerKind::NewStudent],
            "面向全体学生的公益讲座。",
            "请准时到场，讲座期间请将手机调至静音。",
            "phone|联系电话|phone|0",
        ),
        (
            DEMO_PROJECTS[3],
            "“助学圆梦”爱心捐赠",
            dept("学生工作处"),
            Fen(1_000),
            Some(Fen(1_000_000)),
            None,
            vec![PayerKind::Staff, PayerKind::External, PayerKind::EnrolledStudent],
            "捐赠款全部用于资助家庭经济困难学生，金额自愿（10 元至 10,000 元）。",
            "捐赠一经缴纳不予退还；如需捐赠票据，请在留言中注明抬头。",
            "message|留言|textarea|0",
        ),
    ];
    for (code, title, department_id, fee, amount_max, capacity, open_to, description, notice, fields) in projects {
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
            open_departments: Vec::new(),
            open_grades: Vec::new(),
            amount_max,
            opens_at_ms: Some(now - 7 * day),
            closes_at_ms: Some(now + 60 * day),
            fields: parse_field_lines(fields).map_err(|e| anyhow::anyhow!(e))?,
            channels_like: training_item.clone(),
        };
        let id = engine.create_project(&clerk, p).await?;
        let item = engine.operator_view(&approver).project(&id).await?.item;
        let channels = engine.operator_view(&approver).fee_item(&item.id).await?.1;
        let decision = bursar_engine::collection::fee_items::FeeItemDecision::Approve {
            channels: channels.into_iter().map(|(c, m)| (c, m.id)).collect(),
            open: true,
        };
        engine.decide_fee_item(&approver, &item.id, decision, "演示项目，同意").await?;
    }
    Ok(())
}

/// The demo's staff, registrants and new students: (kind, login identifier, name, 17-digit ID prefix).
pub const OTHER_PAYERS: [(PayerKind, &str, &str, &str); 6] = [
    (PayerKind::Staff, "T2010001", "赵老师", "37030319800101001"),
    (PayerKind::Staff, "T2010002", "钱老师", "37030319820202002"),
    (PayerKind::Registrant, "R2026001", "孙报名", "37030319900303003"),
    (PayerKind::NewStudent, "N2026001", "李新生", "37030320080404004"),
    (PayerKind::NewStudent, "N2026002", "周新生", "37030320080505005"),
    (PayerKind::NewStudent, "N2026003", "吴新生", "37030320080606006"),
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

/// The demo staff member's ID document number (their first password change asks for it).
pub fn staff_id_number() -> String {
    complete_resident_id(OTHER_PAYERS[0].3).unwrap_or_default()
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
