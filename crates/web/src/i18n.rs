//! zh-CN first, English available: the payer-facing pages' language.
//!
//! The Chinese text is the message id (as with gettext): templates write `{{ t("当前费用") }}` and
//! Rust code keeps its Chinese messages. `i18n/en.tsv` maps each to English; entries with `{}`
//! are patterns for messages that carry values (`支付金额 {} 元…`), whose values are translated
//! too. A request's language comes from the `lang` cookie (set by `/lang/{code}`), else from
//! `Accept-Language`, else zh-CN; finance's pages stay in Chinese. A test checks that every text
//! the templates mark has an English entry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn parse(code: &str) -> Option<Lang> {
        let c = code.trim().to_ascii_lowercase();
        if c == "en" || c.starts_with("en-") {
            Some(Lang::En)
        } else if c == "zh" || c.starts_with("zh-") {
            Some(Lang::Zh)
        } else {
            None
        }
    }
    /// The other language, as the switch offers it: (code, its own name).
    pub fn other(self) -> (&'static str, &'static str) {
        match self {
            Lang::Zh => ("en", "English"),
            Lang::En => ("zh-CN", "中文"),
        }
    }
}

/// The request being answered: its language and path (for the language switch's way back).
#[derive(Clone, Debug)]
pub struct Locale {
    pub lang: Lang,
    pub path: String,
}

tokio::task_local! {
    static LOCALE: Locale;
}

pub fn current() -> Lang {
    LOCALE.try_with(|l| l.lang).unwrap_or(Lang::Zh)
}

pub(crate) fn current_path() -> String {
    LOCALE.try_with(|l| l.path.clone()).unwrap_or_else(|_| "/portal".into())
}

struct Catalog {
    exact: HashMap<&'static str, &'static str>,
    /// (zh pieces between the `{}`s, English pattern).
    patterns: Vec<(Vec<&'static str>, &'static str)>,
    by_pattern: HashMap<&'static str, &'static str>,
}

static EN_TSV: &str = include_str!("../i18n/en.tsv");

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        let mut by_pattern = HashMap::new();
        for line in EN_TSV.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((zh, en)) = line.split_once('\t') else { continue };
            if zh.contains("{}") {
                patterns.push((zh.split("{}").collect(), en));
                by_pattern.insert(zh, en);
            } else {
                exact.insert(zh, en);
            }
        }
        // The labels of the states and kinds payers see carry their English with them (the
        // catalog's own line wins where it words one differently).
        for (zh, en) in enum_labels() {
            exact.entry(zh).or_insert(en);
        }
        // Longer patterns first: the most specific one wins.
        patterns.sort_by_key(|(pieces, _): &(Vec<&str>, &str)| {
            std::cmp::Reverse(pieces.iter().map(|p| p.len()).sum::<usize>())
        });
        Catalog { exact, patterns, by_pattern }
    })
}

/// (Chinese, English) of every coded enum shown to payers.
fn enum_labels() -> Vec<(&'static str, &'static str)> {
    use bursar_domain::fee::{FeeItemStatus, FeeType, ReceivableState};
    use bursar_domain::order::OrderState;
    use bursar_domain::payer::PayerKind;
    use bursar_domain::payment::{ChannelKind, PayMethod, PaymentState};
    use bursar_domain::project::{ProjectState, RegistrationState};
    use bursar_domain::receipt::ReceiptState;
    use bursar_domain::refund::RefundState;
    fn pairs<T: Copy>(
        all: &[T],
        zh: fn(T) -> &'static str,
        en: fn(T) -> &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        all.iter().map(|&v| (zh(v), en(v))).collect()
    }
    let mut out = Vec::new();
    out.extend(pairs(PayerKind::ALL, PayerKind::label_zh, PayerKind::label_en));
    out.extend(pairs(ChannelKind::ALL, ChannelKind::label_zh, ChannelKind::label_en));
    out.extend(pairs(PayMethod::ALL, PayMethod::label_zh, PayMethod::label_en));
    out.extend(pairs(PaymentState::ALL, PaymentState::label_zh, PaymentState::label_en));
    out.extend(pairs(RefundState::ALL, RefundState::label_zh, RefundState::label_en));
    out.extend(pairs(FeeType::ALL, FeeType::label_zh, FeeType::label_en));
    out.extend(pairs(FeeItemStatus::ALL, FeeItemStatus::label_zh, FeeItemStatus::label_en));
    out.extend(pairs(ReceivableState::ALL, ReceivableState::label_zh, ReceivableState::label_en));
    out.extend(pairs(ReceiptState::ALL, ReceiptState::label_zh, ReceiptState::label_en));
    out.extend(pairs(OrderState::ALL, OrderState::label_zh, OrderState::label_en));
    out.extend(pairs(ProjectState::ALL, ProjectState::label_zh, ProjectState::label_en));
    out.extend(pairs(RegistrationState::ALL, RegistrationState::label_zh, RegistrationState::label_en));
    out
}

/// English for a Chinese text, if the catalog knows it (exactly or by a pattern).
pub fn english(zh: &str) -> Option<String> {
    let cat = catalog();
    if let Some(en) = cat.exact.get(zh) {
        return Some((*en).to_string());
    }
    for (pieces, en) in &cat.patterns {
        if let Some(args) = match_pattern(pieces, zh) {
            let mut out = String::with_capacity(en.len() + 16);
            let mut rest = *en;
            for a in &args {
                match rest.split_once("{}") {
                    Some((before, after)) => {
                        out.push_str(before);
                        out.push_str(&english(a).unwrap_or_else(|| a.to_string()));
                        rest = after;
                    }
                    None => break,
                }
            }
            out.push_str(rest);
            return Some(out);
        }
    }
    None
}

/// The values a pattern's `{}`s hold in `s`, if `s` has the pattern's shape.
fn match_pattern<'s>(pieces: &[&str], s: &'s str) -> Option<Vec<&'s str>> {
    let (first, rest) = pieces.split_first()?;
    let mut tail = s.strip_prefix(first)?;
    let mut args = Vec::new();
    for (i, piece) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let at = if last {
            if !tail.ends_with(piece) {
                return None;
            }
            tail.len() - piece.len()
        } else if piece.is_empty() {
            return None;
        } else {
            tail.find(piece)?
        };
        let arg = &tail[..at];
        if arg.is_empty() {
            return None;
        }
        args.push(arg);
        tail = &tail[at + piece.len()..];
    }
    Some(args)
}

/// A text in the request's language.
pub fn t(zh: &str) -> Cow<'_, str> {
    match current() {
        Lang::Zh => Cow::Borrowed(zh),
        Lang::En => match english(zh) {
            Some(en) => Cow::Owned(en),
            None => Cow::Borrowed(zh),
        },
    }
}

/// A pattern in the request's language with its `{}`s filled in order.
pub fn fill(pattern: &str, args: &[String]) -> String {
    let translated = match current() {
        Lang::Zh => None,
        Lang::En => catalog().by_pattern.get(pattern).copied(),
    };
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = translated.unwrap_or(pattern);
    for a in args {
        match rest.split_once("{}") {
            Some((before, after)) => {
                out.push_str(before);
                out.push_str(a);
                rest = after;
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// What every template can call: `{{ t("…") }}`, `{{ lang_tag() }}`, the language switch.
pub trait Translate {
    fn t<S: AsRef<str>>(&self, zh: S) -> String {
        t(zh.as_ref()).into_owned()
    }
    /// A text with one value: `{{ tf1("欠费 ¥{}", r.outstanding) }}`.
    fn tf1<A: std::fmt::Display>(&self, pattern: &str, a: A) -> String {
        fill(pattern, &[a.to_string()])
    }
    fn tf2<A: std::fmt::Display, B: std::fmt::Display>(&self, pattern: &str, a: A, b: B) -> String {
        fill(pattern, &[a.to_string(), b.to_string()])
    }
    fn lang_tag(&self) -> &'static str {
        current().tag()
    }
    /// The link to this page in the other language.
    fn lang_switch_href(&self) -> String {
        format!("/lang/{}?back={}", current().other().0, bursar_channels::url_encode(&current_path()))
    }
    fn lang_switch_label(&self) -> &'static str {
        current().other().1
    }
    fn lang_switch_code(&self) -> &'static str {
        current().other().0
    }
}

impl<T: askama::Template> Translate for T {}

/// The language a request asks for: the `lang` cookie, else its first `Accept-Language` choice
/// that is Chinese or English, else zh-CN. Finance's pages are Chinese only.
pub fn choose(headers: &HeaderMap, path: &str) -> Lang {
    if path.starts_with("/admin") {
        return Lang::Zh;
    }
    if let Some(l) = crate::guard::cookie_value(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
        return l;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.split(',').filter_map(|part| Lang::parse(part.split(';').next().unwrap_or(""))).next().unwrap_or(Lang::Zh)
}

pub const LANG_COOKIE: &str = "lang";

/// Middleware: answers the request in its language.
pub async fn locale(req: Request, next: Next) -> Response {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let lang = choose(req.headers(), req.uri().path());
    let mut resp = LOCALE.scope(Locale { lang, path }, next.run(req)).await;
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        resp.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag()));
        resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Cookie, Accept-Language"));
    }
    resp
}

#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// `/lang/{code}?back=/portal/fees`: remembers the choice for a year and goes back.
pub async fn switch(State(s): State<AppState>, Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Zh);
    let mut resp = Redirect::to(crate::views::local_path(&q.back)).into_response();
    crate::guard::set_cookie(&mut resp, LANG_COOKIE, lang.tag(), 365 * 24 * 3600, s.config.secure_cookies);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en(zh: &str) -> String {
        english(zh).unwrap_or_else(|| format!("<missing: {zh}>"))
    }

    #[test]
    fn patterns_carry_their_values_and_translate_them() {
        assert_eq!(en("当前费用"), "Current fees");
        assert_eq!(
            en("支付金额 50.00 元低于最小支付金额 100.00 元"),
            "The amount ¥50.00 is below the minimum of ¥100.00"
        );
        assert_eq!(en("校园卡密码错误，还可尝试 3 次"), "Wrong campus card password; 3 attempts left");
        assert_eq!(en("该项目已停止收费（学费）"), "Collection of this item has stopped (Tuition)");
        assert_eq!(english("完全未知的文字"), None);
        assert_eq!(match_pattern(&["a", "b", ""], "axbyz"), Some(vec!["x", "yz"]));
        assert_eq!(match_pattern(&["a", "b"], "ab"), None);
    }

    #[test]
    fn every_text_the_templates_mark_has_english() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("templates") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for path in files {
            let text = std::fs::read_to_string(&path).expect("read");
            for (i, call) in
                text.match_indices("t(\"").chain(text.match_indices("tf1(\"")).chain(text.match_indices("tf2(\""))
            {
                // Only the translation calls, not e.g. `lang_switch_href(`.
                let before = text[..i].chars().last().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let rest = &text[i + call.len()..];
                let Some(end) = rest.find('"') else { continue };
                let zh = &rest[..end];
                seen += 1;
                let known =
                    if zh.contains("{}") { catalog().by_pattern.contains_key(zh) } else { english(zh).is_some() };
                if !known {
                    missing.push(format!("{}: {zh}", path.file_name().and_then(|f| f.to_str()).unwrap_or("?")));
                }
            }
        }
        assert!(seen > 200, "only {seen} marked texts found");
        assert!(missing.is_empty(), "no English for:\n{}", missing.join("\n"));
    }

    /// The texts Rust code shows payers: labels, the rules' refusals, the engine's and the web
    /// layer's errors — each has English.
    #[test]
    fn every_message_payers_can_see_has_english() {
        use bursar_domain::fee::{FeeItemStatus, FeeType, NotPayable};
        use bursar_domain::payer::PayerKind;
        use bursar_domain::payment::{PayMethod, PaymentState};
        use bursar_domain::project::RegistrationError as R;
        use bursar_domain::refund::RefundState;
        use bursar_domain::{DomainError as D, Fen};
        use bursar_engine::EngineError as E;
        let mut texts: Vec<String> = Vec::new();
        texts.extend(PayerKind::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(PayMethod::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(PaymentState::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(RefundState::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(FeeType::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(FeeItemStatus::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(bursar_domain::receipt::ReceiptState::ALL.iter().map(|k| k.label_zh().to_string()));
        texts.extend(bursar_domain::payment::ChannelKind::ALL.iter().map(|k| k.label_zh().to_string()));
        for o in [
            bursar_domain::order::OrderState::Open,
            bursar_domain::order::OrderState::Paid,
            bursar_domain::order::OrderState::Closed,
        ] {
            texts.push(o.label_zh().into());
        }
        let not_payable = [
            NotPayable::Stopped,
            NotPayable::NotOpen,
            NotPayable::NotStarted("2026-09-01".into()),
            NotPayable::Ended("2026-12-31".into()),
            NotPayable::Settled,
        ];
        for n in &not_payable {
            texts.push(n.to_string());
            texts.push(format!("{n}（学费）"));
        }
        for d in [
            D::BadAmount("12.345".into()),
            D::AmountOverflow,
            D::BelowMinimum { amount: "50.00".into(), minimum: "100.00".into() },
            D::AboveOwed { amount: "9999.00".into(), owed: "100.00".into() },
            D::PartialNotAllowed { owed: "1200.00".into() },
            D::NonPositiveAmount,
            D::EmptyOrder,
            D::DuplicateLine,
            D::BadAcademicYear("2026".into()),
        ] {
            texts.push(d.to_string());
        }
        for r in [
            R::NotOpen,
            R::NotStarted,
            R::Closed,
            R::Full,
            R::KindNotAllowed("教工"),
            R::Missing("联系电话".into()),
            R::NotAnOption("服装尺码".into()),
            R::BadPhone("联系电话".into()),
            R::BadEmail("邮箱".into()),
            R::BadDate("出生日期".into()),
            R::TooLong("备注".into()),
        ] {
            texts.push(r.to_string());
        }
        for e in [
            E::OrderNotOpen("已关闭".into()),
            E::MethodUnavailable("微信扫码（该收费项目不支持）".into()),
            E::CardUnavailable("尚未开通校园卡".into()),
            E::CardPassword(3),
            E::InsufficientBalance { balance: Fen(100), needed: Fen(200) },
        ] {
            texts.push(e.to_string());
        }
        for w in [
            crate::WebError::NotFound,
            crate::WebError::BadCsrf,
            crate::WebError::ChannelUnavailable,
            crate::WebError::Internal(String::new()),
        ] {
            texts.push(w.to_string());
        }
        let missing: Vec<&String> = texts.iter().filter(|t| english(t).is_none()).collect();
        assert!(missing.is_empty(), "no English for: {missing:?}");
        assert_eq!(
            english("校园卡余额不足（余额 ¥1.00，需支付 ¥2.00）").as_deref(),
            Some("Not enough on the campus card (balance ¥1.00, needed ¥2.00)")
        );
    }

    #[test]
    fn the_catalog_has_no_duplicates_and_no_untranslated_lines() {
        let mut seen = std::collections::HashSet::new();
        for line in EN_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (zh, en) = line.split_once('\t').unwrap_or_else(|| panic!("no tab: {line}"));
            assert!(seen.insert(zh), "duplicate: {zh}");
            assert!(!en.trim().is_empty(), "empty English: {zh}");
            assert_eq!(zh.matches("{}").count(), en.matches("{}").count(), "placeholders differ: {zh}");
            assert!(!en.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "Chinese left in English: {en}");
        }
    }

    #[test]
    fn language_choice() {
        let mut h = HeaderMap::new();
        assert_eq!(choose(&h, "/portal/fees"), Lang::Zh);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB,en;q=0.9,zh-CN;q=0.5"));
        assert_eq!(choose(&h, "/portal/fees"), Lang::En);
        assert_eq!(choose(&h, "/admin/payments"), Lang::Zh);
        h.insert(header::COOKIE, HeaderValue::from_static("lang=zh-CN"));
        assert_eq!(choose(&h, "/portal/fees"), Lang::Zh);
    }
}
