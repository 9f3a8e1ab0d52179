//! Times are stored as UTC milliseconds and shown in China Standard Time (UTC+8).

use time::{macros::format_description, OffsetDateTime, UtcOffset};

pub const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

fn to_cst(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok().map(|t| t.to_offset(CST))
}

/// `2026-09-01 08:30:00` in Beijing time.
/// Whether year, month and day make a real calendar date in 1900–2100 (dates of birth, dates
/// typed in forms).
pub fn is_real_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2100).contains(&y) && (1..=days).contains(&d)
}

pub fn datetime_cst(ms: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    to_cst(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// `2026-09-01` in Beijing time.
pub fn date_cst(ms: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]");
    to_cst(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// RFC 3339 with the +08:00 offset, as WeChat Pay writes `success_time` and `time_expire`.
pub fn rfc3339_cst(ms: i64) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    to_cst(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// Parses RFC 3339 (any offset) to UTC milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses `YYYY-MM-DD` as the start of that day in Beijing time, in UTC milliseconds.
pub fn parse_date_cst_ms(text: &str) -> Option<i64> {
    let fmt = format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text.trim(), &fmt).ok()?;
    let t = date.midnight().assume_offset(CST);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses a date as schools' spreadsheets hold it — `2026-11-30`, `2026/11/30`, `2026.11.30`,
/// `2026年11月30日`, any of them with a time after it (ignored), or an Excel serial day number
/// (days since 1899-12-30) — as the start of that day in Beijing time, in UTC milliseconds.
pub fn parse_sheet_date_cst_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let date = if !text.is_empty() && text.len() <= 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        // A serial day number: 1 (1900) to 2958465 (9999) in Excel; schools' dates are 1950–2100.
        let n: i64 = text.parse().ok()?;
        if !(18_264..=73_415).contains(&n) {
            return None;
        }
        time::Date::from_calendar_date(1899, time::Month::December, 30).ok()?.checked_add(time::Duration::days(n))?
    } else {
        let day = text.split([' ', 'T']).next()?.trim_end_matches('日');
        let parts: Vec<&str> = day.split(['-', '/', '.', '年', '月']).collect();
        let [y, m, d] = parts.as_slice() else { return None };
        let (y, m, d): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1950..=2100).contains(&y) {
            return None;
        }
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?
    };
    let t = date.midnight().assume_offset(CST);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses a moment as schools' spreadsheets hold it, in Beijing time: any date
/// [`parse_sheet_date_cst_ms`] reads, then a time `8:05`, `08:05:30` (none: midnight); or an
/// Excel serial number with its fraction of a day (`46356.5` is noon). UTC milliseconds.
pub fn parse_sheet_datetime_cst_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some((days, frac)) = text.split_once('.') {
        if !days.is_empty()
            && days.len() <= 6
            && days.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
        {
            let start = parse_sheet_date_cst_ms(days)?;
            let f: f64 = format!("0.{frac}").parse().ok()?;
            // Whole seconds: a spreadsheet's fraction is rarely exact.
            let secs = (f * 86_400.0).round() as i64;
            return Some(start + secs * 1000);
        }
    }
    let (day, time) = match text.split_once([' ', 'T']) {
        Some((d, t)) => (d, t.trim()),
        None => (text, ""),
    };
    let start = parse_sheet_date_cst_ms(day)?;
    if time.is_empty() {
        return Some(start);
    }
    let parts: Vec<&str> = time.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?, 0),
        [h, m, s] => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?, s.split('.').next()?.parse::<i64>().ok()?),
        _ => return None,
    };
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return None;
    }
    Some(start + ((h * 60 + m) * 60 + s) * 1000)
}

/// Parses `YYYY-MM-DD HH:MM:SS` in Beijing time (Alipay's format) to UTC milliseconds.
pub fn parse_datetime_cst_ms(text: &str) -> Option<i64> {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(text.trim(), &fmt).ok()?.assume_offset(CST);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `YYYYMMDDhhmmss` in Beijing time (UnionPay's `txnTime`).
pub fn compact_datetime_cst(ms: i64) -> String {
    let fmt = format_description!("[year][month][day][hour][minute][second]");
    to_cst(ms).and_then(|t| t.format(&fmt).ok()).unwrap_or_default()
}

/// Parses `YYYYMMDDhhmmss` in Beijing time to UTC milliseconds.
pub fn parse_compact_datetime_cst_ms(text: &str) -> Option<i64> {
    let fmt = format_description!("[year][month][day][hour][minute][second]");
    let t = time::PrimitiveDateTime::parse(text.trim(), &fmt).ok()?.assume_offset(CST);
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_moments_in_every_usual_shape() {
        let noon = parse_datetime_cst_ms("2026-11-30 12:00:00").unwrap();
        let at8 = parse_datetime_cst_ms("2026-11-30 08:00:00").unwrap();
        for t in [
            "2026/11/30 08:00",
            "2026-11-30 8:00",
            "2026.11.30 08:00:00",
            "2026年11月30日 08:00",
            "2026-11-30T08:00:00",
        ] {
            assert_eq!(parse_sheet_datetime_cst_ms(t), Some(at8), "{t}");
        }
        assert_eq!(parse_sheet_datetime_cst_ms("2026/11/30"), parse_date_cst_ms("2026-11-30"));
        // 2026-11-30 is Excel day 46356.
        assert_eq!(parse_sheet_datetime_cst_ms("46356.5"), Some(noon));
        assert_eq!(parse_sheet_datetime_cst_ms("46356"), parse_date_cst_ms("2026-11-30"));
        for bad in ["2026/11/30 25:00", "2026/11/30 08:61", "2026/13/30 08:00", "08:00", "", "2026/11/30 8", "1.5"] {
            assert_eq!(parse_sheet_datetime_cst_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_the_dates_spreadsheets_hold() {
        let day = parse_date_cst_ms("2026-11-30").unwrap();
        for text in [
            "2026-11-30",
            "2026/11/30",
            "2026.11.30",
            "2026年11月30日",
            "2026-11-30 08:00",
            "2026/11/30 0:00:00",
            " 2026-11-30T00:00:00 ",
            "46356",
        ] {
            assert_eq!(parse_sheet_date_cst_ms(text), Some(day), "{text}");
        }
        for bad in ["", "2026-13-01", "2026-02-30", "30/11/2026", "11-30", "1800-01-01", "1", "2026-11", "tomorrow"] {
            assert_eq!(parse_sheet_date_cst_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_beijing_time() {
        let ms = parse_date_cst_ms("2026-09-01").unwrap();
        assert_eq!(datetime_cst(ms), "2026-09-01 00:00:00");
        assert_eq!(date_cst(ms), "2026-09-01");
        let r = rfc3339_cst(ms + 3_723_000);
        assert_eq!(r, "2026-09-01T01:02:03+08:00");
        assert_eq!(parse_rfc3339_ms(&r), Some(ms + 3_723_000));
        assert_eq!(parse_rfc3339_ms("2026-08-31T17:02:03Z"), Some(ms + 3_723_000));
        assert_eq!(parse_datetime_cst_ms("2026-09-01 01:02:03"), Some(ms + 3_723_000));
        assert_eq!(compact_datetime_cst(ms + 3_723_000), "20260901010203");
        assert_eq!(parse_compact_datetime_cst_ms("20260901010203"), Some(ms + 3_723_000));
    }
}
