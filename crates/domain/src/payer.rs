//! Payers: who pays, how they are identified, and what of them may be shown.

crate::coded_enum! {
    /// The kinds of payer (缴费人), each with its own login identifier.
    pub enum PayerKind {
        EnrolledStudent = ("enrolled_student", "在校生", "Enrolled student"),
        NewStudent = ("new_student", "新生", "New student"),
        Staff = ("staff", "教工", "Staff"),
        Registrant = ("registrant", "报名人员", "Registrant"),
        External = ("external", "校外人员", "Outside person"),
    }
}

/// A mainland mobile number: 11 digits starting with 1.
pub fn is_mobile(phone: &str) -> bool {
    phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit())
}

pub fn normalize_id_number(id_number: &str) -> String {
    id_number.trim().to_ascii_uppercase()
}

/// The initial password the payer guide promises: the last six characters of the ID-card number,
/// with a trailing X in upper case. `None` when the number is shorter than six characters.
pub fn initial_password(id_number: &str) -> Option<String> {
    let n = normalize_id_number(id_number);
    let chars: Vec<char> = n.chars().collect();
    if chars.len() < 6 {
        return None;
    }
    Some(chars[chars.len() - 6..].iter().collect())
}

/// How a school sets payers' initial passwords (payer guide §1): the last six characters of the
/// ID-card number (the default), or one fixed password such as `000000`. Either must be changed
/// at first login, except where the school exempts enrolled students.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitialPasswordRule {
    IdLastSix,
    Fixed(String),
}

impl InitialPasswordRule {
    /// `id_last6`, or a fixed password of 6–32 printable ASCII characters.
    pub fn parse(text: &str) -> Result<InitialPasswordRule, String> {
        let t = text.trim();
        if t == "id_last6" || t.is_empty() {
            return Ok(InitialPasswordRule::IdLastSix);
        }
        if (6..=32).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(InitialPasswordRule::Fixed(t.to_string()))
        } else {
            Err(format!("initial_password must be \"id_last6\" or a fixed password of 6-32 characters, not {t:?}"))
        }
    }
    pub fn password_for(&self, id_number: &str) -> Option<String> {
        match self {
            InitialPasswordRule::IdLastSix => initial_password(id_number),
            InitialPasswordRule::Fixed(p) => Some(p.clone()),
        }
    }
}

/// What may be shown of an ID number: first 3 and last 4 characters, the rest starred.
/// `370302200001011234` → `370***********1234`.
pub fn mask_id_number(id_number: &str) -> String {
    let chars: Vec<char> = normalize_id_number(id_number).chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Why a payer's account cannot be used at `now_ms`: frozen by finance, or past its validity
/// (graduates, outside people). Shown to the payer as is.
pub fn account_block(frozen_at_ms: Option<i64>, valid_until_ms: Option<i64>, now_ms: i64) -> Option<String> {
    if frozen_at_ms.is_some() {
        return Some("账户已冻结，请联系财务处".into());
    }
    match valid_until_ms {
        Some(until) if now_ms >= until => {
            Some(format!("账户已过有效期（{}），请联系财务处", crate::time_fmt::date_cst(until - 1)))
        }
        _ => None,
    }
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// What a public page may show of a name: the first character, the rest starred (`罗洋` → `罗*`).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// What a public page may show of a student or staff number: the first four and last two
/// characters (`2023010001` → `2023****01`).
pub fn mask_identifier(identifier: &str) -> String {
    let chars: Vec<char> = identifier.trim().chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

/// Mainland resident ID numbers (GB 11643): 18 characters, a real date of birth (1900–2100) in
/// places 7–14, ISO 7064 MOD 11-2 check character.
pub fn is_valid_resident_id(id_number: &str) -> bool {
    let n = normalize_id_number(id_number);
    let b = n.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| n[r].parse::<u32>().unwrap_or(0);
    if !crate::time_fmt::is_real_date(num(6..10), num(10..12), num(12..14)) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17].iter().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    b[17] == CHECK[(sum % 11) as usize]
}

/// Completes a 17-digit prefix into a valid resident ID number (demo data, tests).
pub fn complete_resident_id(prefix17: &str) -> Option<String> {
    let b = prefix17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b.iter().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(format!("{prefix17}{}", CHECK[(sum % 11) as usize] as char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_or_expired_account_is_blocked() {
        assert_eq!(account_block(None, None, 5), None);
        assert_eq!(account_block(None, Some(10), 9), None);
        assert!(account_block(None, Some(10), 10).is_some_and(|m| m.contains("有效期")));
        assert!(account_block(Some(1), None, 5).is_some_and(|m| m.contains("冻结")));
    }

    #[test]
    fn a_school_may_fix_the_initial_password() {
        assert_eq!(InitialPasswordRule::parse("id_last6"), Ok(InitialPasswordRule::IdLastSix));
        let fixed = InitialPasswordRule::parse("000000").expect("fixed");
        assert_eq!(fixed.password_for("37030219990101123x").as_deref(), Some("000000"));
        assert_eq!(InitialPasswordRule::IdLastSix.password_for("37030219990101123x").as_deref(), Some("01123X"));
        assert!(InitialPasswordRule::parse("123").is_err());
        assert!(InitialPasswordRule::parse("12 456").is_err());
    }

    #[test]
    fn initial_password_is_last_six_with_upper_x() {
        assert_eq!(initial_password("37030219990101123x").as_deref(), Some("01123X"));
        assert_eq!(initial_password(" 370302199901011234 ").as_deref(), Some("011234"));
        assert_eq!(initial_password("12345"), None);
    }

    #[test]
    fn masks_reveal_only_the_ends() {
        assert_eq!(mask_id_number("370302199901011234"), "370***********1234");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_id_number("1234567"), "*******");
        assert_eq!(mask_name("罗洋"), "罗*");
        assert_eq!(mask_name("欧阳子涵"), "欧***");
        assert_eq!(mask_identifier("2023010001"), "2023****01");
        assert_eq!(mask_identifier("12345"), "*****");
    }

    #[test]
    fn resident_id_check_character() {
        let id = complete_resident_id("11010519491231002").unwrap();
        assert_eq!(id, "11010519491231002X");
        assert!(is_valid_resident_id(&id));
        assert!(is_valid_resident_id("11010519491231002x"));
        assert!(!is_valid_resident_id("110105194912310021"));
        // A valid check character on an impossible birthday (month 13, 30 February): refused.
        assert!(!is_valid_resident_id(&complete_resident_id("37030320081313013").unwrap()));
        assert!(!is_valid_resident_id(&complete_resident_id("37030320080230013").unwrap()));
        assert!(is_valid_resident_id(&complete_resident_id("37030320080229013").unwrap()), "2008 was a leap year");
        assert!(!is_valid_resident_id("1101051949123100"));
    }
}
