//! The school's lists of people (花名册): students and staff as the registry and personnel offices
//! export them, one row per person, columns found by their Chinese header names. Pure rules: what
//! a row must hold, normalised the way real Excel files need (full-width digits, stray spaces,
//! numbers stored as text), every problem named by its column, value and reason.

use crate::payer::{is_valid_resident_id, normalize_id_number, PayerKind};

crate::coded_enum! {
    /// The kind of identity document.
    pub enum IdType {
        ResidentId = ("resident_id", "居民身份证", "Resident identity card"),
        Passport = ("passport", "护照", "Passport"),
        HkMacauPermit = ("hk_macau_permit", "港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents"),
        TaiwanPermit = ("taiwan_permit", "台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
        PermanentResidence = ("permanent_residence", "外国人永久居留身份证", "Foreign permanent resident ID card"),
        Other = ("other", "其他", "Other"),
    }
}

crate::coded_enum! {
    pub enum Gender {
        Male = ("male", "男", "Male"),
        Female = ("female", "女", "Female"),
    }
}

crate::coded_enum! {
    /// A student's registry status (学籍状态) or a staff member's employment status (在职状态).
    pub enum PayerStatus {
        Active = ("active", "在读/在职", "Active"),
        Suspended = ("suspended", "休学", "Suspended"),
        Graduated = ("graduated", "毕业", "Graduated"),
        Withdrawn = ("withdrawn", "退学", "Withdrawn"),
        Left = ("left", "离职", "Left"),
        Retired = ("retired", "退休", "Retired"),
    }
}

impl PayerStatus {
    /// The words registry and personnel exports use.
    pub fn from_words(text: &str) -> Option<PayerStatus> {
        Some(match text {
            "" | "在读" | "在校" | "在职" | "正常" | "在籍" => PayerStatus::Active,
            "休学" | "保留学籍" => PayerStatus::Suspended,
            "毕业" | "已毕业" | "结业" => PayerStatus::Graduated,
            "退学" | "开除" | "注销" => PayerStatus::Withdrawn,
            "离职" | "调离" => PayerStatus::Left,
            "退休" => PayerStatus::Retired,
            other => return PayerStatus::parse(other),
        })
    }
}

/// The columns a roster may have: (key, header names accepted). The first name is the one the
/// template uses.
pub const COLUMNS: [(&str, &[&str]); 12] = [
    ("identifier", &["学号/工号", "学号", "工号", "人员编号"]),
    ("name", &["姓名"]),
    ("id_type", &["证件类型"]),
    ("id_number", &["证件号码", "身份证号", "身份证号码"]),
    ("gender", &["性别"]),
    ("department", &["院系", "学院", "部门", "单位"]),
    ("major", &["专业"]),
    ("grade", &["年级"]),
    ("class", &["班级"]),
    ("status", &["学籍状态/在职状态", "学籍状态", "在职状态", "状态"]),
    ("phone", &["手机", "手机号", "手机号码", "联系电话"]),
    ("enrolled", &["入学年份", "入职年份"]),
];

/// Columns a roster must have.
pub const REQUIRED: [&str; 3] = ["identifier", "name", "id_number"];

/// The header name a column is shown under (in reports and the template).
pub fn column_label(key: &str) -> &'static str {
    COLUMNS.iter().find(|(k, _)| *k == key).map(|(_, names)| names[0]).unwrap_or("")
}

/// A cell as people mean it: full-width letters and digits made half-width, the ideographic
/// space and surrounding spaces dropped, a number Excel stored as `12.0` kept as typed.
pub fn normalize_cell(text: &str) -> String {
    let half: String = text
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            other => other,
        })
        .collect();
    half.trim().to_string()
}

/// One person from a roster row, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterEntry {
    pub kind: PayerKind,
    pub identifier: String,
    pub name: String,
    pub id_type: IdType,
    /// Normalised (upper-case X); only its mask and keyed digest are ever stored.
    pub id_number: String,
    pub gender: Option<Gender>,
    /// The department's name as written; the caller finds it.
    pub department: String,
    pub major: String,
    pub grade: String,
    pub class_name: String,
    pub status: PayerStatus,
    pub phone: String,
    pub enrolled: Option<i32>,
}

/// A row's problem: its column (header label), the value found, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub column: &'static str,
    pub value: String,
    pub reason: String,
}

fn problem(key: &str, value: &str, reason: impl Into<String>) -> FieldProblem {
    FieldProblem { column: column_label(key), value: value.chars().take(60).collect(), reason: reason.into() }
}

/// Checks one row, given a cell getter by column key. Every problem of the row is reported.
pub fn check_row(kind: PayerKind, cell: impl Fn(&str) -> String) -> Result<RosterEntry, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let get = |k: &str| normalize_cell(&cell(k));
    let identifier = get("identifier");
    if identifier.is_empty() || identifier.chars().count() > 32 || identifier.chars().any(char::is_whitespace) {
        problems.push(problem("identifier", &identifier, "学号/工号为空、过长或含空格"));
    }
    let name = get("name");
    if name.is_empty() || name.chars().count() > 30 {
        problems.push(problem("name", &name, "姓名为空或超过 30 字"));
    }
    let id_type_text = get("id_type");
    let id_type = match id_type_text.as_str() {
        "" | "身份证" => Some(IdType::ResidentId),
        t => IdType::ALL.iter().copied().find(|x| x.label_zh() == t || x.as_str() == t),
    };
    if id_type.is_none() {
        problems.push(problem("id_type", &id_type_text, "证件类型无法识别（如：居民身份证、护照）"));
    }
    let id_number = normalize_id_number(&get("id_number"));
    match id_type {
        Some(IdType::ResidentId) if !is_valid_resident_id(&id_number) => {
            problems.push(problem("id_number", &id_number, "身份证号码无效（位数、出生日期或校验码不符，GB 11643）"))
        }
        _ if id_number.is_empty() || id_number.len() > 32 => {
            problems.push(problem("id_number", &id_number, "证件号码为空或过长"))
        }
        _ => {}
    }
    let gender_text = get("gender");
    let gender = match gender_text.as_str() {
        "" => None,
        "男" | "M" | "男性" => Some(Gender::Male),
        "女" | "F" | "女性" => Some(Gender::Female),
        other => {
            problems.push(problem("gender", other, "性别应为“男”或“女”"));
            None
        }
    };
    let status_text = get("status");
    let status = PayerStatus::from_words(&status_text).unwrap_or_else(|| {
        problems.push(problem("status", &status_text, "状态无法识别（在读、休学、毕业、退学、在职、离职、退休）"));
        PayerStatus::Active
    });
    let phone = get("phone");
    if !phone.is_empty() && !crate::payer::is_mobile(&phone) {
        problems.push(problem("phone", &phone, "手机号须为 11 位数字"));
    }
    let enrolled_text = get("enrolled");
    let enrolled = match enrolled_text.as_str() {
        "" => None,
        t => {
            // A year (2026, 2026年), or a date (入学日期: a date cell, its serial number, 2026/9/1).
            let digits = t.trim_end_matches('年');
            let year = match digits.parse::<i32>() {
                Ok(y) if digits.len() <= 4 => Some(y),
                _ => crate::time_fmt::parse_sheet_date_cst_ms(t)
                    .and_then(|ms| crate::time_fmt::date_cst(ms).get(..4).and_then(|y| y.parse().ok())),
            };
            match year {
                Some(y) if (1950..=2100).contains(&y) => Some(y),
                _ => {
                    problems.push(problem("enrolled", t, "入学年份应为四位年份，如 2026"));
                    None
                }
            }
        }
    };
    for k in ["department", "major", "grade", "class"] {
        let v = get(k);
        if v.chars().count() > 60 {
            problems.push(problem(k, &v, "超过 60 字"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RosterEntry {
        kind,
        identifier,
        name,
        id_type: id_type.unwrap_or(IdType::Other),
        id_number,
        gender,
        department: get("department"),
        major: get("major"),
        grade: get("grade"),
        class_name: get("class"),
        status,
        phone,
        enrolled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn row(pairs: &[(&str, &str)]) -> impl Fn(&str) -> String {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned().unwrap_or_default()
    }

    #[test]
    fn real_excel_cells_are_read_as_meant() {
        let e = check_row(
            PayerKind::EnrolledStudent,
            row(&[
                ("identifier", " ００２０２６０１０１ "),
                ("name", "张三\u{3000}"),
                ("id_number", "11010519491231002x"),
                ("gender", "女"),
                ("department", "计算机学院 "),
                ("status", "在读"),
                ("phone", "１３８００１３８０００"),
                ("enrolled", "2026"),
            ]),
        )
        .unwrap();
        assert_eq!(e.identifier, "0020260101", "leading zeros and full-width digits kept as typed");
        assert_eq!(e.name, "张三");
        assert_eq!(e.id_number, "11010519491231002X");
        assert_eq!((e.gender, e.status, e.enrolled), (Some(Gender::Female), PayerStatus::Active, Some(2026)));
        assert_eq!(e.phone, "13800138000");
    }

    #[test]
    fn the_year_of_entry_may_be_a_year_or_a_date() {
        for (cell, year) in
            [("2026", 2026), ("2026年", 2026), ("2026/9/1", 2026), ("2026-09-01 08:00", 2026), ("46266", 2026)]
        {
            let e = check_row(
                PayerKind::EnrolledStudent,
                row(&[
                    ("identifier", "S1"),
                    ("name", "甲"),
                    ("id_type", "护照"),
                    ("id_number", "E1"),
                    ("enrolled", cell),
                ]),
            )
            .unwrap_or_else(|e| panic!("{cell}: {e:?}"));
            assert_eq!(e.enrolled, Some(year), "{cell}");
        }
    }

    #[test]
    fn every_problem_of_a_row_is_named_by_column() {
        let errs = check_row(
            PayerKind::Staff,
            row(&[
                ("identifier", "T 1"),
                ("name", ""),
                ("id_number", "110105194912310021"),
                ("gender", "x"),
                ("status", "出国"),
                ("phone", "123"),
                ("enrolled", "26"),
            ]),
        )
        .unwrap_err();
        let cols: Vec<&str> = errs.iter().map(|e| e.column).collect();
        assert_eq!(cols, vec!["学号/工号", "姓名", "证件号码", "性别", "学籍状态/在职状态", "手机", "入学年份"]);
        assert!(errs[2].reason.contains("GB 11643"));
        // A passport is not checked as a resident ID.
        assert!(check_row(
            PayerKind::Staff,
            row(&[("identifier", "T1"), ("name", "Smith"), ("id_type", "护照"), ("id_number", "E12345678")])
        )
        .is_ok());
    }
}
