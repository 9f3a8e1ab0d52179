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
}
