//! Fee-bearing projects payers sign up for (项目报名): trainings, exams, conferences.
//!
//! A project belongs to a charging department and collects through its own fee item; registering
//! raises the receivable the payer then pays. What a registration must answer is described by the
//! project's fields; the answers are checked here, without I/O.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::payer::PayerKind;
use crate::Fen;

crate::coded_enum! {
    /// The kinds of answer a project can ask for.
    pub enum FieldKind {
        Text = ("text", "单行文字", "Text"),
        LongText = ("textarea", "多行文字", "Long text"),
        /// One of the field's options.
        Choice = ("select", "选择", "Choice"),
        /// A mainland mobile number (11 digits starting with 1).
        Phone = ("phone", "手机号", "Mobile number"),
        Email = ("email", "电子邮箱", "E-mail"),
        /// `YYYY-MM-DD`.
        Date = ("date", "日期", "Date"),
    }
}

crate::coded_enum! {
    /// Whether a project takes registrations.
    pub enum ProjectState {
        /// Published; takes registrations within its window (once its fee item is approved).
        Open = ("open", "报名中", "Open"),
        Closed = ("closed", "已关闭", "Closed"),
    }
}

crate::coded_enum! {
    pub enum RegistrationState {
        Registered = ("registered", "已报名", "Registered"),
        Cancelled = ("cancelled", "已取消", "Cancelled"),
    }
}

/// One question of a project's registration form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The answer's key (`[a-z0-9_]`, unique within the project).
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// The allowed answers of a [`FieldKind::Choice`].
    pub options: Vec<String>,
}

/// Longest answer accepted for any field.
pub const MAX_ANSWER_CHARS: usize = 500;

/// Why a registration is refused. The messages are for the payer.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RegistrationError {
    #[error("该项目未开放报名")]
    NotOpen,
    #[error("报名尚未开始")]
    NotStarted,
    #[error("报名已截止")]
    Closed,
    #[error("报名人数已满")]
    Full,
    #[error("该项目不接受{0}报名")]
    KindNotAllowed(&'static str),
    #[error("该项目只接受指定院系的人员报名")]
    DepartmentNotAllowed,
    #[error("该项目只接受指定年级的学生报名")]
    GradeNotAllowed,
    #[error("请填写缴费金额")]
    AmountMissing,
    #[error("缴费金额须在 ¥{0} 至 ¥{1} 之间，最多两位小数")]
    AmountOutOfRange(Fen, Fen),
    #[error("请填写{0}")]
    Missing(String),
    #[error("{0}：请从选项中选择")]
    NotAnOption(String),
    #[error("{0}：手机号须为 11 位数字")]
    BadPhone(String),
    #[error("{0}：邮箱格式不正确")]
    BadEmail(String),
    #[error("{0}：日期格式应为 2026-09-01")]
    BadDate(String),
    #[error("{0}：内容过长")]
    TooLong(String),
}

/// The facts about a project that decide whether a payer may register now.
#[derive(Clone, Debug)]
pub struct Openness {
    pub open: bool,
    pub opens_at_ms: Option<i64>,
    pub closes_at_ms: Option<i64>,
    pub capacity: Option<i64>,
    pub registered: i64,
    pub open_to: Vec<PayerKind>,
    /// Departments (ids) whose people may register; empty: any.
    pub open_departments: Vec<String>,
    /// Grades (年级, e.g. `2026`) whose students may register; empty: any.
    pub open_grades: Vec<String>,
}

/// Who is registering, as a project's limits see them.
#[derive(Clone, Copy, Debug)]
pub struct Registrant<'a> {
    pub kind: PayerKind,
    pub department_id: Option<&'a str>,
    pub grade: &'a str,
}

/// What a registration costs: a fixed fee (0: free), or an amount the payer chooses within
/// bounds (a donation, a voluntary contribution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeeAmount {
    Fixed(Fen),
    PayerEntered { min: Fen, max: Fen },
}

impl FeeAmount {
    /// The amount to raise for a registration, from what the payer entered (ignored for a fixed
    /// fee).
    pub fn amount_for(self, entered: Option<Fen>) -> Result<Fen, RegistrationError> {
        match self {
            FeeAmount::Fixed(fee) => Ok(fee),
            FeeAmount::PayerEntered { min, max } => {
                let a = entered.ok_or(RegistrationError::AmountMissing)?;
                if a < min || a > max || !a.is_positive() {
                    return Err(RegistrationError::AmountOutOfRange(min, max));
                }
                Ok(a)
            }
        }
    }
}

impl Openness {
    /// Whether `kind` may register at `now_ms` (the capacity is re-checked by the store's
    /// compare-and-set when the seat is taken).
    pub fn check(&self, who: &Registrant<'_>, now_ms: i64) -> Result<(), RegistrationError> {
        self.check_now(now_ms)?;
        self.check_who(who)
    }

    /// Whether this person is among those the project is for (kind, department, grade).
    pub fn check_who(&self, who: &Registrant<'_>) -> Result<(), RegistrationError> {
        if !self.open_to.contains(&who.kind) {
            return Err(RegistrationError::KindNotAllowed(who.kind.label_zh()));
        }
        if !self.open_departments.is_empty()
            && !who.department_id.is_some_and(|d| self.open_departments.iter().any(|x| x == d))
        {
            return Err(RegistrationError::DepartmentNotAllowed);
        }
        if !self.open_grades.is_empty() && !self.open_grades.iter().any(|g| g == who.grade) {
            return Err(RegistrationError::GradeNotAllowed);
        }
        Ok(())
    }

    /// Whether anyone may register at `now_ms` (state, window, places), whoever they are.
    pub fn check_now(&self, now_ms: i64) -> Result<(), RegistrationError> {
        if !self.open {
            return Err(RegistrationError::NotOpen);
        }
        if self.opens_at_ms.is_some_and(|t| now_ms < t) {
            return Err(RegistrationError::NotStarted);
        }
        if self.closes_at_ms.is_some_and(|t| now_ms >= t) {
            return Err(RegistrationError::Closed);
        }
        if self.capacity.is_some_and(|c| self.registered >= c) {
            return Err(RegistrationError::Full);
        }
        Ok(())
    }

    /// Seats left, when the project has a capacity.
    pub fn seats_left(&self) -> Option<i64> {
        self.capacity.map(|c| (c - self.registered).max(0))
    }
}

/// Checks a registration's answers against the project's fields and returns them normalised
/// (trimmed; only the fields' own keys; empty optional answers left out).
pub fn check_answers(
    fields: &[Field],
    answers: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RegistrationError> {
    let mut out = BTreeMap::new();
    for f in fields {
        let v = answers.get(&f.name).map(|s| s.trim()).unwrap_or("");
        if v.is_empty() {
            if f.required {
                return Err(RegistrationError::Missing(f.label.clone()));
            }
            continue;
        }
        if v.chars().count() > MAX_ANSWER_CHARS || (f.kind != FieldKind::LongText && v.chars().count() > 100) {
            return Err(RegistrationError::TooLong(f.label.clone()));
        }
        let ok = match f.kind {
            FieldKind::Text | FieldKind::LongText => Ok(()),
            FieldKind::Choice => {
                if f.options.iter().any(|o| o == v) {
                    Ok(())
                } else {
                    Err(RegistrationError::NotAnOption(f.label.clone()))
                }
            }
            FieldKind::Phone => {
                if v.len() == 11 && v.starts_with('1') && v.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(RegistrationError::BadPhone(f.label.clone()))
                }
            }
            FieldKind::Email => {
                let at = v.split_once('@');
                if at.is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.starts_with('.') && !v.contains(' '))
                {
                    Ok(())
                } else {
                    Err(RegistrationError::BadEmail(f.label.clone()))
                }
            }
            FieldKind::Date => {
                if is_date(v) {
                    Ok(())
                } else {
                    Err(RegistrationError::BadDate(f.label.clone()))
                }
            }
        };
        ok?;
        out.insert(f.name.clone(), v.to_string());
    }
    Ok(out)
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    match (num(&v[0..4]), num(&v[5..7]), num(&v[8..10])) {
        (Some(y), Some(m), Some(d)) => crate::time_fmt::is_real_date(y, m, d),
        _ => false,
    }
}

/// Parses the field definitions a department writes, one per line:
/// `name|label|kind|required|option1,option2` (kind and the rest optional; required is `1`/`0`).
pub fn parse_field_lines(text: &str) -> Result<Vec<Field>, String> {
    let mut fields: Vec<Field> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let n = i + 1;
        let name = parts.first().copied().unwrap_or("");
        if name.is_empty()
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("第 {n} 行：字段名须为小写字母、数字或下划线"));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(format!("第 {n} 行：字段名 {name} 重复"));
        }
        let label = parts.get(1).copied().unwrap_or("");
        if label.is_empty() || label.chars().count() > 40 {
            return Err(format!("第 {n} 行：请填写字段标题（不超过 40 字）"));
        }
        let kind = match parts.get(2).copied().unwrap_or("") {
            "" => FieldKind::Text,
            k => FieldKind::parse(k).ok_or_else(|| format!("第 {n} 行：未知字段类型 {k}"))?,
        };
        let required = match parts.get(3).copied().unwrap_or("1") {
            "" | "1" | "是" | "必填" | "yes" => true,
            "0" | "否" | "选填" | "可选" | "no" => false,
            other => return Err(format!("第 {n} 行：是否必填应写 1（必填）或 0（选填），而不是“{other}”")),
        };
        let options: Vec<String> = parts
            .get(4)
            .map(|o| o.split([',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        if kind == FieldKind::Choice && options.len() < 2 {
            return Err(format!("第 {n} 行：选择题至少需要两个选项"));
        }
        fields.push(Field { name: name.into(), label: label.into(), kind, required, options });
    }
    if fields.len() > 30 {
        return Err("字段不能超过 30 个".into());
    }
    Ok(fields)
}

/// Writes fields back in the form [`parse_field_lines`] reads (the stored form, and what the
/// form shows for editing): parsing the output gives the same fields.
pub fn format_field_lines(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| {
            let mut line = format!("{}|{}|{}|{}", f.name, f.label, f.kind.as_str(), if f.required { 1 } else { 0 });
            if !f.options.is_empty() {
                line.push('|');
                line.push_str(&f.options.join(","));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_is_written_as_a_number_or_in_words() {
        let f = parse_field_lines("a|甲|text|选填\nb|乙|text|必填\nc|丙|text|0\nd|丁|text").expect("parses");
        assert_eq!(f.iter().map(|f| f.required).collect::<Vec<_>>(), [false, true, false, true]);
        assert!(parse_field_lines("a|甲|text|maybe").is_err(), "neither: refused, not taken as required");
    }

    #[test]
    fn field_lines_read_back_the_same() {
        let fields = fields();
        assert_eq!(parse_field_lines(&format_field_lines(&fields)).expect("parses"), fields);
        assert_eq!(format_field_lines(&[]), "");
    }

    fn fields() -> Vec<Field> {
        parse_field_lines(
            "phone|联系电话|phone|1\nsize|服装尺码|select|1|S,M,L\nemail|邮箱|email|0\nbirthday|出生日期|date|0\nnote|备注|textarea|0",
        )
        .expect("fields")
    }

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn answers_are_checked_and_normalised() {
        let ok = check_answers(&fields(), &answers(&[("phone", " 13800138000 "), ("size", "M"), ("extra", "x")]))
            .expect("valid");
        assert_eq!(ok, answers(&[("phone", "13800138000"), ("size", "M")]));
        let cases = [
            (answers(&[("size", "M")]), RegistrationError::Missing("联系电话".into())),
            (answers(&[("phone", "1380013800"), ("size", "M")]), RegistrationError::BadPhone("联系电话".into())),
            (answers(&[("phone", "13800138000"), ("size", "XL")]), RegistrationError::NotAnOption("服装尺码".into())),
            (
                answers(&[("phone", "13800138000"), ("size", "S"), ("email", "a@b")]),
                RegistrationError::BadEmail("邮箱".into()),
            ),
            (
                answers(&[("phone", "13800138000"), ("size", "S"), ("birthday", "2026-02-30")]),
                RegistrationError::BadDate("出生日期".into()),
            ),
        ];
        for (a, want) in cases {
            assert_eq!(check_answers(&fields(), &a), Err(want));
        }
        assert!(check_answers(
            &fields(),
            &answers(&[("phone", "13800138000"), ("size", "S"), ("birthday", "2024-02-29")])
        )
        .is_ok());
        let long = "长".repeat(101);
        assert_eq!(
            check_answers(&fields(), &answers(&[("phone", "13800138000"), ("size", "S"), ("email", &long)])),
            Err(RegistrationError::TooLong("邮箱".into()))
        );
    }

    #[test]
    fn field_lines_refuse_what_cannot_work() {
        assert_eq!(fields().len(), 5);
        assert!(parse_field_lines("Phone|电话").is_err());
        assert!(parse_field_lines("a|甲\na|乙").is_err());
        assert!(parse_field_lines("a|").is_err());
        assert!(parse_field_lines("a|甲|select|1|only").is_err());
        assert!(parse_field_lines("a|甲|colour").is_err());
        assert_eq!(parse_field_lines("").map(|f| f.len()), Ok(0));
        let f = parse_field_lines("a|甲|text|0").expect("one");
        assert!(!f[0].required);
    }

    #[test]
    fn openness_in_order_of_what_the_payer_can_do_about_it() {
        let mut o = Openness {
            open: true,
            opens_at_ms: Some(100),
            closes_at_ms: Some(200),
            capacity: Some(2),
            registered: 1,
            open_to: vec![PayerKind::External, PayerKind::EnrolledStudent],
            open_departments: Vec::new(),
            open_grades: Vec::new(),
        };
        let who = |kind| Registrant { kind, department_id: None, grade: "" };
        assert_eq!(o.check(&who(PayerKind::External), 99), Err(RegistrationError::NotStarted));
        assert_eq!(o.check(&who(PayerKind::External), 200), Err(RegistrationError::Closed));
        assert_eq!(o.check(&who(PayerKind::Staff), 150), Err(RegistrationError::KindNotAllowed("教工")));
        assert_eq!(o.check(&who(PayerKind::External), 150), Ok(()));
        assert_eq!(o.seats_left(), Some(1));
        o.registered = 2;
        assert_eq!(o.check(&who(PayerKind::External), 150), Err(RegistrationError::Full));
        o.open = false;
        assert_eq!(o.check(&who(PayerKind::External), 150), Err(RegistrationError::NotOpen));
    }

    #[test]
    fn a_project_can_be_for_some_colleges_and_grades_only() {
        let o = Openness {
            open: true,
            opens_at_ms: None,
            closes_at_ms: None,
            capacity: None,
            registered: 0,
            open_to: vec![PayerKind::EnrolledStudent],
            open_departments: vec!["cs".into()],
            open_grades: vec!["2025".into(), "2026".into()],
        };
        let student = |d: Option<&'static str>, g: &'static str| Registrant {
            kind: PayerKind::EnrolledStudent,
            department_id: d,
            grade: g,
        };
        assert_eq!(o.check(&student(Some("cs"), "2026"), 0), Ok(()));
        assert_eq!(o.check(&student(Some("ee"), "2026"), 0), Err(RegistrationError::DepartmentNotAllowed));
        assert_eq!(o.check(&student(None, "2026"), 0), Err(RegistrationError::DepartmentNotAllowed));
        assert_eq!(o.check(&student(Some("cs"), "2023"), 0), Err(RegistrationError::GradeNotAllowed));
    }

    #[test]
    fn a_payer_entered_amount_stays_within_its_bounds() {
        let fixed = FeeAmount::Fixed(Fen(5_000));
        assert_eq!(fixed.amount_for(Some(Fen(1))), Ok(Fen(5_000)), "a fixed fee ignores what was entered");
        let free_choice = FeeAmount::PayerEntered { min: Fen(100), max: Fen(1_000_000) };
        assert_eq!(free_choice.amount_for(None), Err(RegistrationError::AmountMissing));
        assert_eq!(free_choice.amount_for(Some(Fen(100))), Ok(Fen(100)));
        assert_eq!(free_choice.amount_for(Some(Fen(1_000_000))), Ok(Fen(1_000_000)));
        for bad in [Fen(99), Fen(1_000_001), Fen(0), Fen(-5)] {
            assert_eq!(
                free_choice.amount_for(Some(bad)),
                Err(RegistrationError::AmountOutOfRange(Fen(100), Fen(1_000_000)))
            );
        }
        let any = FeeAmount::PayerEntered { min: Fen::ZERO, max: Fen(500) };
        assert!(any.amount_for(Some(Fen::ZERO)).is_err(), "nothing is not a payment");
    }
}
