//! Who may pay a fee item (收费对象) and what the payer is told and given: the groups of payers
//! an item is for (by kind, college, major, grade and class; an empty list means any), the
//! receipt it needs (for the fiscal e-receipts issued later) and the notice payers read before
//! paying. Pure rules; the engine checks them wherever receivables are raised.

use thiserror::Error;

use crate::fee::FeeType;
use crate::payer::PayerKind;
use crate::project::Field;

/// Most entries in one of an audience's lists (a school has some hundreds of majors and classes).
pub const MAX_ENTRIES: usize = 300;
/// Longest entry (a major's or class's name).
pub const MAX_ENTRY_CHARS: usize = 60;
/// Longest notice to payers.
pub const MAX_NOTICE_CHARS: usize = 1_000;

/// The groups of payers a fee item is for. Each list narrows it; an empty list does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    pub kinds: Vec<PayerKind>,
    /// Department (college) ids.
    pub departments: Vec<String>,
    pub majors: Vec<String>,
    pub grades: Vec<String>,
    pub classes: Vec<String>,
}

/// What the audience looks at in a payer.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub kind: PayerKind,
    pub department_id: Option<&'a str>,
    pub major: &'a str,
    pub grade: &'a str,
    pub class_name: &'a str,
}

/// Why a payer is not among those an item is for. Shown to finance (and to an integrator) as is.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outside {
    #[error("该收费项目不向{0}收费")]
    Kind(&'static str),
    #[error("不在该收费项目的收费院系内")]
    Department,
    #[error("不在该收费项目的收费专业内")]
    Major,
    #[error("不在该收费项目的收费年级内")]
    Grade,
    #[error("不在该收费项目的收费班级内")]
    Class,
}

/// Why an audience cannot be saved as written.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AudienceError {
    #[error("{0}最多 {MAX_ENTRIES} 项")]
    TooMany(&'static str),
    #[error("{0}“{1}”过长（不超过 {MAX_ENTRY_CHARS} 字）")]
    TooLong(&'static str, String),
    #[error("{0}“{1}”不能含英文逗号")]
    Comma(&'static str, String),
}

impl Audience {
    /// Everyone (no list narrows it).
    pub fn is_everyone(&self) -> bool {
        self.kinds.is_empty()
            && self.departments.is_empty()
            && self.majors.is_empty()
            && self.grades.is_empty()
            && self.classes.is_empty()
    }

    /// Whether `m` is among those the item is for, and if not, the first reason why.
    pub fn admits(&self, m: &Member<'_>) -> Result<(), Outside> {
        if !self.kinds.is_empty() && !self.kinds.contains(&m.kind) {
            return Err(Outside::Kind(m.kind.label_zh()));
        }
        if !self.departments.is_empty() && !m.department_id.is_some_and(|d| self.departments.iter().any(|x| x == d)) {
            return Err(Outside::Department);
        }
        let listed = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        if !listed(&self.majors, m.major) {
            return Err(Outside::Major);
        }
        if !listed(&self.grades, m.grade) {
            return Err(Outside::Grade);
        }
        if !listed(&self.classes, m.class_name) {
            return Err(Outside::Class);
        }
        Ok(())
    }

    /// Checks the lists' sizes and entries (what the schema stores as comma-separated text).
    pub fn validate(&self) -> Result<(), AudienceError> {
        let lists: [(&'static str, &[String]); 4] = [
            ("收费院系", &self.departments),
            ("收费专业", &self.majors),
            ("收费年级", &self.grades),
            ("收费班级", &self.classes),
        ];
        for (what, list) in lists {
            if list.len() > MAX_ENTRIES {
                return Err(AudienceError::TooMany(what));
            }
            for e in list {
                if e.chars().count() > MAX_ENTRY_CHARS {
                    return Err(AudienceError::TooLong(what, e.chars().take(20).collect()));
                }
                if e.contains(',') {
                    return Err(AudienceError::Comma(what, e.clone()));
                }
            }
        }
        Ok(())
    }

    /// The five stored columns: kinds, departments, majors, grades, classes (comma-separated).
    pub fn to_stored(&self) -> [String; 5] {
        [
            self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
            self.departments.join(","),
            self.majors.join(","),
            self.grades.join(","),
            self.classes.join(","),
        ]
    }

    /// Reads the five stored columns back (unknown kinds, which the schema refuses, are dropped).
    pub fn from_stored(kinds: &str, departments: &str, majors: &str, grades: &str, classes: &str) -> Audience {
        let list = |t: &str| t.split(',').filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        Audience {
            kinds: kinds.split(',').filter_map(PayerKind::parse).collect(),
            departments: list(departments),
            majors: list(majors),
            grades: list(grades),
            classes: list(classes),
        }
    }
}

/// Splits what an operator typed into a list: entries separated by commas (also full-width),
/// 顿号, semicolons or line breaks, trimmed, blanks and repeats dropped, in the order typed.
pub fn parse_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split([',', '，', '、', ';', '；', '\n', '\r']) {
        let p = part.trim();
        if !p.is_empty() && !out.iter().any(|x| x == p) {
            out.push(p.to_string());
        }
    }
    out
}

crate::coded_enum! {
    /// The receipt a payment of a fee item needs (its kind decides which fiscal e-receipt, if
    /// any, is issued once the issuing platform is linked).
    pub enum ReceiptKind {
        /// 非税收入统一票据: tuition, accommodation and other administrative fees.
        NonTax = ("non_tax", "非税收入统一票据", "Non-tax revenue receipt"),
        /// 往来结算票据: money collected on behalf of others and passed on.
        Settlement = ("settlement", "往来结算票据", "Settlement receipt"),
        /// 公益事业捐赠统一票据.
        Donation = ("donation", "公益事业捐赠票据", "Donation receipt"),
        /// 增值税电子发票: services a school sells (training, conferences).
        VatInvoice = ("vat_invoice", "增值税电子发票", "VAT e-invoice"),
        /// Only Bursar's own payment voucher (缴费凭证).
        VoucherOnly = ("voucher_only", "仅缴费凭证", "Payment voucher only"),
    }
}

impl ReceiptKind {
    /// What a fee of this type usually needs (the form's suggestion; finance may choose another).
    pub fn usual_for(t: FeeType) -> ReceiptKind {
        match t {
            FeeType::Tuition | FeeType::Accommodation | FeeType::Exam | FeeType::Other => ReceiptKind::NonTax,
            FeeType::Agency => ReceiptKind::Settlement,
            FeeType::Donation => ReceiptKind::Donation,
            FeeType::Service | FeeType::Training | FeeType::Conference => ReceiptKind::VatInvoice,
        }
    }
}

/// What a fee item tells and gives its payers and whom it is for: kept with the item, versioned
/// with its other terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub audience: Audience,
    pub receipt_kind: ReceiptKind,
    /// 缴费须知: what payers read before paying (plain text; empty: none).
    pub notice: String,
    /// What payers are asked when they pay it on the portal (发票抬头, 考生号…; empty: nothing).
    pub fields: Vec<Field>,
}

impl Profile {
    /// Everyone, the usual receipt for the type, no notice.
    pub fn usual_for(t: FeeType) -> Profile {
        Profile {
            audience: Audience::default(),
            receipt_kind: ReceiptKind::usual_for(t),
            notice: String::new(),
            fields: Vec::new(),
        }
    }

    /// Checks what an operator wrote.
    pub fn validate(&self) -> Result<(), AudienceError> {
        self.audience.validate()
    }

    /// Whether the notice is within bounds.
    pub fn notice_ok(&self) -> bool {
        self.notice.chars().count() <= MAX_NOTICE_CHARS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(
        kind: PayerKind,
        dept: Option<&'a str>,
        major: &'a str,
        grade: &'a str,
        class: &'a str,
    ) -> Member<'a> {
        Member { kind, department_id: dept, major, grade, class_name: class }
    }

    #[test]
    fn an_empty_audience_admits_everyone() {
        let a = Audience::default();
        assert!(a.is_everyone());
        assert_eq!(a.admits(&member(PayerKind::External, None, "", "", "")), Ok(()));
    }

    #[test]
    fn each_list_narrows_and_names_its_reason() {
        let a = Audience {
            kinds: vec![PayerKind::EnrolledStudent, PayerKind::NewStudent],
            departments: vec!["cs".into()],
            majors: vec!["软件工程".into()],
            grades: vec!["2026".into()],
            classes: vec![],
        };
        assert!(!a.is_everyone());
        let ok = member(PayerKind::NewStudent, Some("cs"), "软件工程", "2026", "软工2601");
        assert_eq!(a.admits(&ok), Ok(()));
        assert_eq!(a.admits(&Member { kind: PayerKind::Staff, ..ok }), Err(Outside::Kind("教工")));
        assert_eq!(a.admits(&Member { department_id: Some("math"), ..ok }), Err(Outside::Department));
        assert_eq!(a.admits(&Member { department_id: None, ..ok }), Err(Outside::Department));
        assert_eq!(a.admits(&Member { major: "计算机科学", ..ok }), Err(Outside::Major));
        assert_eq!(a.admits(&Member { grade: "2025", ..ok }), Err(Outside::Grade));
        let by_class = Audience { classes: vec!["软工2601".into()], ..Audience::default() };
        assert_eq!(by_class.admits(&ok), Ok(()));
        assert_eq!(by_class.admits(&Member { class_name: "软工2602", ..ok }), Err(Outside::Class));
    }

    #[test]
    fn stored_columns_read_back_the_same() {
        let a = Audience {
            kinds: vec![PayerKind::Staff, PayerKind::External],
            departments: vec!["d1".into(), "d2".into()],
            majors: vec!["法学".into()],
            grades: vec!["2025".into(), "2026".into()],
            classes: vec!["法学2501".into()],
        };
        let [k, d, m, g, c] = a.to_stored();
        assert_eq!(k, "staff,external");
        assert_eq!(Audience::from_stored(&k, &d, &m, &g, &c), a);
        assert_eq!(Audience::from_stored("", "", "", "", ""), Audience::default());
    }

    #[test]
    fn typed_lists_split_on_chinese_and_ascii_separators() {
        assert_eq!(parse_list(" 2025，2026、2026\n 2027 ; "), vec!["2025", "2026", "2027"]);
        assert!(parse_list(" \n ").is_empty());
    }

    #[test]
    fn oversized_lists_are_refused() {
        let many =
            Audience { majors: (0..=MAX_ENTRIES).map(|i| format!("专业{i}")).collect(), ..Audience::default() };
        assert_eq!(many.validate(), Err(AudienceError::TooMany("收费专业")));
        let long = Audience { classes: vec!["班".repeat(MAX_ENTRY_CHARS + 1)], ..Audience::default() };
        assert!(matches!(long.validate(), Err(AudienceError::TooLong("收费班级", _))));
    }

    #[test]
    fn the_usual_receipt_follows_the_fee_type() {
        assert_eq!(ReceiptKind::usual_for(FeeType::Tuition), ReceiptKind::NonTax);
        assert_eq!(ReceiptKind::usual_for(FeeType::Agency), ReceiptKind::Settlement);
        assert_eq!(ReceiptKind::usual_for(FeeType::Donation), ReceiptKind::Donation);
        assert_eq!(ReceiptKind::usual_for(FeeType::Training), ReceiptKind::VatInvoice);
        assert_eq!(Profile::usual_for(FeeType::Exam).receipt_kind, ReceiptKind::NonTax);
    }
}
