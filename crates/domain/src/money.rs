//! Integer money. One fen is 0.01 yuan; every amount in Bursar is an `i64` count of fen.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::DomainError;

/// An amount of money in fen (分). Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn new(fen: i64) -> Self {
        Fen(fen)
    }
    pub fn get(self) -> i64 {
        self.0
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
    pub fn checked_add(self, other: Fen) -> Result<Fen, DomainError> {
        self.0.checked_add(other.0).map(Fen).ok_or(DomainError::AmountOverflow)
    }
    pub fn checked_sub(self, other: Fen) -> Result<Fen, DomainError> {
        self.0.checked_sub(other.0).map(Fen).ok_or(DomainError::AmountOverflow)
    }
    pub fn min(self, other: Fen) -> Fen {
        Fen(self.0.min(other.0))
    }

    /// Parses a yuan amount as a person types it: `12`, `12.3`, `12.30`, `1,234.56`.
    /// More than two decimals, signs, exponents and empty input are refused.
    pub fn parse_yuan(text: &str) -> Result<Fen, DomainError> {
        let cleaned: String = text.trim().chars().filter(|c| *c != ',' && *c != '，').collect();
        let bad = || DomainError::BadAmount(text.trim().to_string());
        if cleaned.is_empty() {
            return Err(bad());
        }
        let (int_part, frac_part) = match cleaned.split_once('.') {
            Some((i, f)) => (i, f),
            None => (cleaned.as_str(), ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part.chars().all(|c| c.is_ascii_digit())
            || !frac_part.chars().all(|c| c.is_ascii_digit())
            || frac_part.len() > 2
            || int_part.len() > 13
        {
            return Err(bad());
        }
        let yuan: i64 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| bad())? };
        let mut frac: i64 = if frac_part.is_empty() { 0 } else { frac_part.parse().map_err(|_| bad())? };
        if frac_part.len() == 1 {
            frac *= 10;
        }
        yuan.checked_mul(100).and_then(|f| f.checked_add(frac)).map(Fen).ok_or(DomainError::AmountOverflow)
    }

    /// `1234.50` style, no grouping: what channels and forms expect.
    /// The amount in capitals as Chinese receipts and cheques write it (人民币大写): 壹仟贰佰元整,
    /// 壹仟零伍元叁角, 壹拾万零壹拾元零伍分, 零元整.
    pub fn to_capitals(self) -> String {
        const DIGITS: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];
        const IN_SECTION: [&str; 4] = ["", "拾", "佰", "仟"];
        const SECTIONS: [&str; 5] = ["", "万", "亿", "万亿", "亿亿"];
        let negative = self.0 < 0;
        let fen = self.0.unsigned_abs();
        let (mut yuan, jiao, cent) = (fen / 100, (fen / 10 % 10) as usize, (fen % 10) as usize);
        let mut out = String::new();
        if yuan > 0 {
            // Four-digit sections from the lowest; a run of zeros reads as one 零, none at the end.
            let mut sections = Vec::new();
            while yuan > 0 {
                sections.push((yuan % 10_000) as usize);
                yuan /= 10_000;
            }
            let mut pending_zero = false;
            for (i, &section) in sections.iter().enumerate().rev() {
                if section == 0 {
                    pending_zero = !out.is_empty();
                    continue;
                }
                if !out.is_empty() && (pending_zero || section < 1_000) {
                    out.push('零');
                }
                pending_zero = false;
                let mut zero = false;
                for pos in (0..4).rev() {
                    let d = section / 10usize.pow(pos as u32) % 10;
                    let leading = section < 10usize.pow(pos as u32 + 1) && d == 0;
                    if d == 0 {
                        zero = !leading;
                        continue;
                    }
                    if zero {
                        out.push('零');
                        zero = false;
                    }
                    out.push_str(DIGITS[d]);
                    out.push_str(IN_SECTION[pos]);
                }
                out.push_str(SECTIONS[i]);
            }
            out.push('元');
        }
        match (jiao, cent) {
            (0, 0) => {
                if out.is_empty() {
                    out.push_str("零元");
                }
                out.push('整');
            }
            (0, c) => {
                if !out.is_empty() {
                    out.push('零');
                }
                out.push_str(DIGITS[c]);
                out.push('分');
            }
            (j, 0) => {
                out.push_str(DIGITS[j]);
                out.push('角');
            }
            (j, c) => {
                out.push_str(DIGITS[j]);
                out.push('角');
                out.push_str(DIGITS[c]);
                out.push('分');
            }
        }
        if negative {
            out.insert(0, '负');
        }
        out
    }

    pub fn to_yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl From<i64> for Fen {
    fn from(fen: i64) -> Fen {
        Fen(fen)
    }
}

/// Display with thousands grouping for people: `¥1,234.50` is written by templates as `¥{{ amount }}`.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let yuan = (abs / 100).to_string();
        let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3);
        for (i, ch) in yuan.chars().enumerate() {
            if i > 0 && (yuan.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}{grouped}.{:02}", abs % 100)
    }
}

impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_forms() {
        assert_eq!(Fen::parse_yuan("12").unwrap(), Fen(1200));
        assert_eq!(Fen::parse_yuan("12.3").unwrap(), Fen(1230));
        assert_eq!(Fen::parse_yuan(" 1,234.56 ").unwrap(), Fen(123456));
        assert_eq!(Fen::parse_yuan(".5").unwrap(), Fen(50));
        assert_eq!(Fen::parse_yuan("0.01").unwrap(), Fen(1));
        for bad in ["", ".", "-1", "1.234", "1e3", "abc", "1.2.3", "+5", "99999999999999"] {
            assert!(Fen::parse_yuan(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formats_for_people_and_channels() {
        assert_eq!(Fen(123456789).to_string(), "1,234,567.89");
        assert_eq!(Fen(5).to_string(), "0.05");
        assert_eq!(Fen(-150).to_string(), "-1.50");
        assert_eq!(Fen(100000).to_yuan_string(), "1000.00");
        assert_eq!(Fen(-1).to_yuan_string(), "-0.01");
    }

    #[test]
    fn capitals_read_as_a_receipt_writes_them() {
        let cases = [
            (0, "零元整"),
            (5, "伍分"),
            (50, "伍角"),
            (100, "壹元整"),
            (1_000, "壹拾元整"),
            (120_000, "壹仟贰佰元整"),
            (100_530, "壹仟零伍元叁角"),
            (123_456, "壹仟贰佰叁拾肆元伍角陆分"),
            (100_005, "壹仟元零伍分"),
            (10_001_000, "壹拾万零壹拾元整"),
            (1_000_000, "壹万元整"),
            (1_020_000, "壹万零贰佰元整"),
            (10_000_000_000, "壹亿元整"),
            (10_000_010_000, "壹亿零壹佰元整"),
            (10_001_000_000, "壹亿零壹万元整"),
            (10_010_000_000, "壹亿零壹拾万元整"),
            (11_000_000_000, "壹亿壹仟万元整"),
            (480_000, "肆仟捌佰元整"),
            (1_000_000_001, "壹仟万元零壹分"),
            (-2_500, "负贰拾伍元整"),
        ];
        for (fen, words) in cases {
            assert_eq!(Fen(fen).to_capitals(), words, "{fen} fen");
        }
    }
}
