//! Fee standards (收费标准): what a fee item charges in an academic year, per college, major,
//! grade and payer kind — the table the price office approves and a finance office raises
//! tuition from ("按专业收费标准"). Pure rules: which line applies to a payer, and why a payer of a
//! group is left out when receivables are raised by the standard.

use crate::money::Fen;
use crate::payer::PayerKind;
use crate::roster::PayerStatus;

/// The most lines one standard may have (a school has some hundreds of majors × a few grades).
pub const MAX_LINES: usize = 5_000;

crate::coded_enum! {
    /// A version of an item's standard for a year: proposed, then decided by another person; an
    /// approved version replaces the one before it.
    pub enum StandardState {
        Requested = ("requested", "待审核", "Awaiting approval"),
        Approved = ("approved", "现行", "In force"),
        Rejected = ("rejected", "未通过", "Rejected"),
        Superseded = ("superseded", "已被替代", "Superseded"),
    }
}

/// One line: who it applies to (blank: anyone) and the amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandardLine {
    /// A college or office (a department id); `None`: every one.
    pub department_id: Option<String>,
    /// `""`: every major.
    pub major: String,
    /// `""`: every grade.
    pub grade: String,
    /// `""`: every class.
    pub class_name: String,
    pub kind: Option<PayerKind>,
    pub amount: Fen,
}

impl StandardLine {
    fn matches(&self, p: &PayerFacts<'_>) -> bool {
        self.department_id.as_deref().is_none_or(|d| p.department_id == Some(d))
            && (self.major.is_empty() || self.major == p.major)
            && (self.grade.is_empty() || self.grade == p.grade)
            && (self.class_name.is_empty() || self.class_name == p.class_name)
            && self.kind.is_none_or(|k| k == p.kind)
    }
    /// How many of its conditions are set: the most specific matching line applies.
    fn specificity(&self) -> u8 {
        u8::from(self.department_id.is_some())
            + u8::from(!self.major.is_empty())
            + u8::from(!self.grade.is_empty())
            + u8::from(!self.class_name.is_empty())
            + u8::from(self.kind.is_some())
    }
    fn selector(&self) -> (Option<&str>, &str, &str, &str, Option<PayerKind>) {
        (self.department_id.as_deref(), &self.major, &self.grade, &self.class_name, self.kind)
    }
}

/// What a standard needs to know about a payer.
#[derive(Clone, Copy, Debug)]
pub struct PayerFacts<'a> {
    pub department_id: Option<&'a str>,
    pub major: &'a str,
    pub grade: &'a str,
    pub class_name: &'a str,
    pub kind: PayerKind,
}

/// Why a payer of the chosen group gets no receivable. Shown to finance as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exclusion {
    /// The item already charges them for that year (raising twice is impossible).
    AlreadyRaised,
    /// Not studying or working now (休学, 毕业, 退学…).
    NotActive(PayerStatus),
    /// No line of the standard applies.
    NoStandard,
    /// Two equally specific lines apply with different amounts.
    Conflict,
    /// Not among those the fee item is for (收费对象), and why.
    Outside(crate::audience::Outside),
}

impl Exclusion {
    pub fn reason(self) -> String {
        match self {
            Exclusion::AlreadyRaised => "该学年已有此项应收（不会重复生成）".into(),
            Exclusion::NotActive(s) => format!("学籍/在职状态为“{}”", s.label_zh()),
            Exclusion::NoStandard => "收费标准中没有适用于此人的金额".into(),
            Exclusion::Conflict => "收费标准中有两条同样具体的金额不同的规则适用于此人".into(),
            Exclusion::Outside(why) => why.to_string(),
        }
    }
}

/// The amount the standard charges this payer, or why none.
pub fn amount_for(lines: &[StandardLine], p: &PayerFacts<'_>) -> Result<Fen, Exclusion> {
    let mut best: Option<(u8, Fen)> = None;
    let mut conflict = false;
    for line in lines.iter().filter(|l| l.matches(p)) {
        let s = line.specificity();
        match best {
            Some((bs, _)) if s < bs => {}
            Some((bs, amount)) if s == bs => conflict |= amount != line.amount,
            _ => {
                best = Some((s, line.amount));
                conflict = false;
            }
        }
    }
    match best {
        None => Err(Exclusion::NoStandard),
        Some(_) if conflict => Err(Exclusion::Conflict),
        Some((_, amount)) => Ok(amount),
    }
}

/// Whether a payer in this status is charged at all.
pub fn check_status(status: PayerStatus) -> Result<(), Exclusion> {
    match status {
        PayerStatus::Active => Ok(()),
        other => Err(Exclusion::NotActive(other)),
    }
}

/// Why a standard cannot be proposed as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StandardError {
    #[error("收费标准至少要有一条金额")]
    Empty,
    #[error("收费标准最多 {MAX_LINES} 条")]
    TooMany,
    #[error("第 {0} 条的金额须大于 0")]
    NotPositive(usize),
    #[error("第 {0} 条与第 {1} 条适用的对象相同")]
    Duplicate(usize, usize),
}

/// Checks a proposed standard: some lines, amounts above zero, no two lines for the same people.
pub fn validate(lines: &[StandardLine]) -> Result<(), StandardError> {
    if lines.is_empty() {
        return Err(StandardError::Empty);
    }
    if lines.len() > MAX_LINES {
        return Err(StandardError::TooMany);
    }
    let mut seen = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.amount.is_positive() {
            return Err(StandardError::NotPositive(i + 1));
        }
        if let Some(first) = seen.insert(line.selector(), i + 1) {
            return Err(StandardError::Duplicate(first, i + 1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(dept: Option<&str>, major: &str, grade: &str, kind: Option<PayerKind>, yuan: i64) -> StandardLine {
        StandardLine {
            department_id: dept.map(str::to_string),
            major: major.into(),
            grade: grade.into(),
            class_name: String::new(),
            kind,
            amount: Fen::new(yuan * 100),
        }
    }

    fn y(yuan: i64) -> Fen {
        Fen::new(yuan * 100)
    }

    fn facts<'a>(dept: &'a str, major: &'a str, grade: &'a str) -> PayerFacts<'a> {
        PayerFacts {
            department_id: Some(dept), major, grade, class_name: "软工2601", kind: PayerKind::EnrolledStudent
        }
    }

    #[test]
    fn a_class_line_is_more_specific_than_its_grade() {
        let class = StandardLine { class_name: "软工2601".into(), ..line(None, "", "2026", None, 7500) };
        let lines = vec![line(None, "", "2026", None, 7000), class];
        assert_eq!(amount_for(&lines, &facts("cs", "软件工程", "2026")), Ok(y(7500)));
        let other = PayerFacts { class_name: "软工2602", ..facts("cs", "软件工程", "2026") };
        assert_eq!(amount_for(&lines, &other), Ok(y(7000)));
    }

    #[test]
    fn the_most_specific_line_applies() {
        let lines = vec![
            line(None, "", "", None, 5000),
            line(Some("cs"), "", "", None, 5500),
            line(Some("cs"), "软件工程", "", None, 6800),
            line(Some("cs"), "软件工程", "2026", None, 7200),
        ];
        assert_eq!(amount_for(&lines, &facts("me", "机械", "2025")), Ok(y(5000)));
        assert_eq!(amount_for(&lines, &facts("cs", "计算机", "2025")), Ok(y(5500)));
        assert_eq!(amount_for(&lines, &facts("cs", "软件工程", "2025")), Ok(y(6800)));
        assert_eq!(amount_for(&lines, &facts("cs", "软件工程", "2026")), Ok(y(7200)));
    }

    #[test]
    fn no_line_or_two_different_equally_specific_lines_exclude() {
        let lines = vec![line(Some("cs"), "", "", None, 5500), line(None, "", "2026", None, 6000)];
        assert_eq!(amount_for(&lines, &facts("me", "机械", "2025")), Err(Exclusion::NoStandard));
        assert_eq!(amount_for(&lines, &facts("cs", "计算机", "2026")), Err(Exclusion::Conflict));
        // The same amount twice is no conflict.
        let same = vec![line(Some("cs"), "", "", None, 6000), line(None, "", "2026", None, 6000)];
        assert_eq!(amount_for(&same, &facts("cs", "计算机", "2026")), Ok(y(6000)));
        // A more specific line settles what two less specific ones disagree on.
        let settled = vec![
            line(Some("cs"), "", "", None, 5500),
            line(None, "", "2026", None, 6000),
            line(Some("cs"), "", "2026", None, 6500),
        ];
        assert_eq!(amount_for(&settled, &facts("cs", "计算机", "2026")), Ok(y(6500)));
    }

    #[test]
    fn kinds_and_statuses() {
        let lines = vec![line(None, "", "", Some(PayerKind::NewStudent), 4000)];
        assert_eq!(amount_for(&lines, &facts("cs", "", "")), Err(Exclusion::NoStandard));
        let new = PayerFacts { kind: PayerKind::NewStudent, ..facts("cs", "", "") };
        assert_eq!(amount_for(&lines, &new), Ok(y(4000)));
        assert_eq!(check_status(PayerStatus::Active), Ok(()));
        assert_eq!(check_status(PayerStatus::Graduated), Err(Exclusion::NotActive(PayerStatus::Graduated)));
        assert!(Exclusion::NotActive(PayerStatus::Suspended).reason().contains("休学"));
    }

    #[test]
    fn a_standard_must_be_whole() {
        assert_eq!(validate(&[]), Err(StandardError::Empty));
        let dup = vec![line(Some("cs"), "", "", None, 1), line(Some("cs"), "", "", None, 2)];
        assert_eq!(validate(&dup), Err(StandardError::Duplicate(1, 2)));
        let zero = vec![line(None, "", "", None, 0)];
        assert_eq!(validate(&zero), Err(StandardError::NotPositive(1)));
        assert_eq!(validate(&[line(None, "", "", None, 1)]), Ok(()));
    }
}
