//! 系统设置: which approvals need a second person (four-eyes, on by default), and which kinds of
//! fee item are only filed (备案) instead of reviewed, whether roles that approve money must use
//! a second factor (动态口令), the receiving unit. Every change is logged.

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::{ApprovalKind, Permission};
use bursar_domain::fee::FeeType;
use bursar_domain::receipt::Paper;
use bursar_engine::policy::Knob;
use bursar_engine::school_profile::ImageKind;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{Current, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::ManageSettings);
    Routes::new().route("/admin/settings", g, get(page).post(save)).route(
        "/admin/settings/images",
        g,
        post(save_image).body_limit(crate::guard::MAX_UPLOAD_BYTES),
    )
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    kinds: Vec<KindView>,
    /// (code, label, filed) of every kind of fee item that may be filed instead of reviewed.
    filing: Vec<(&'static str, &'static str, bool)>,
    /// The receiving unit vouchers name (empty: the school's name), and that name.
    receiving_unit: String,
    school_name: String,
    /// The school's names as set here (empty: the configuration's, shown as placeholders).
    name_zh: String,
    name_en: String,
    configured_en: String,
    /// (kind, label, url) of the logo and the seal (url empty: none set).
    images: Vec<(&'static str, &'static str, String)>,
    /// (code, label, value, low, high) of the numbers the school sets (登录与密码, 支付).
    knobs: Vec<(&'static str, &'static str, i64, i64, i64)>,
    /// (code, label, chosen) of the papers vouchers may be laid out for.
    papers: Vec<(&'static str, &'static str, bool)>,
    /// Roles that approve money must use a second factor.
    second_factor: bool,
    notice: &'static str,
    error: String,
}

pub struct KindView {
    pub code: &'static str,
    pub label: &'static str,
    pub enforced: bool,
    /// Who last changed it, when and why ("" when never changed).
    pub changed: String,
}

async fn page_with(s: &AppState, c: &Current, notice: &'static str, error: String) -> Result<Response, WebError> {
    let mut kinds = Vec::new();
    for &k in ApprovalKind::ALL {
        let changed = match s.engine.four_eyes_changed(k).await? {
            Some((who, at, why)) if why.is_empty() => format!("{who} 于 {} 修改", datetime(at)),
            Some((who, at, why)) => format!("{who} 于 {} 修改，原因：{why}", datetime(at)),
            None => String::new(),
        };
        kinds.push(KindView { code: k.as_str(), label: k.label_zh(), enforced: s.engine.four_eyes(k).await?, changed });
    }
    let filed = s.engine.filing_types().await?;
    let filing = FeeType::ALL
        .iter()
        .filter(|t| t.may_be_filed())
        .map(|t| (t.as_str(), t.label_zh(), filed.contains(t)))
        .collect();
    let failed = !error.is_empty();
    let receiving_unit = s.engine.receiving_unit().await?.unwrap_or_default();
    crate::school::refresh(s).await?;
    let profile = crate::school::current(&s.config.profile);
    let mut resp = render(&SettingsPage {
        chrome: super::chrome(s, c, "settings"),
        kinds,
        filing,
        receiving_unit,
        school_name: s.config.school_name_zh(),
        name_zh: profile.name_zh.clone().unwrap_or_default(),
        name_en: profile.name_en.clone().unwrap_or_default(),
        configured_en: s.config.school_name_en.clone().unwrap_or_default(),
        knobs: {
            let p = s.engine.policy().await?;
            Knob::ALL
                .iter()
                .map(|&k| {
                    let (lo, hi) = k.bounds();
                    (k.as_str(), k.label_zh(), p.value(k), lo, hi)
                })
                .collect()
        },
        papers: Paper::ALL.iter().map(|p| (p.as_str(), p.label_zh(), *p == profile.paper)).collect(),
        images: ImageKind::ALL.iter().map(|&k| (k.as_str(), k.label_zh(), s.config.image_url(k))).collect(),
        second_factor: s.engine.second_factor_policy().await?,
        notice,
        error,
    })?;
    if failed {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Query(q): Query<SavedQuery>,
) -> Result<Response, WebError> {
    page_with(&s, &c, if q.saved.is_some() { "已保存。" } else { "" }, String::new()).await
}

/// What a posted settings form asks to change, read and checked before anything is saved.
#[derive(Default)]
struct Changes {
    four_eyes: Vec<(ApprovalKind, bool)>,
    filing: Option<Vec<FeeType>>,
    second_factor: Option<bool>,
    names: Option<(String, String)>,
    knobs: Vec<(Knob, i64)>,
    paper: Option<Paper>,
    receiving_unit: Option<String>,
    reason: String,
}

/// Reads the form. Each four-eyes kind is posted explicitly (`four_eyes.<kind>` = 1 or 0): a kind
/// missing from the form is left as it is, never switched off; the filing kinds come as a whole
/// set (with a marker). A value that is not a choice is a bad request; one out of its bounds, or
/// a relaxation without a reason, is refused in words — and then nothing at all is saved.
async fn read_changes(s: &AppState, f: &[(String, String)]) -> Result<Result<Changes, String>, WebError> {
    let field = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let flag = |k: &str| match field(k).as_deref() {
        None => Ok(None),
        Some("1") => Ok(Some(true)),
        Some("0") => Ok(Some(false)),
        Some(_) => Err(WebError::BadRequest("无效的设置".into())),
    };
    let mut ch = Changes { reason: field("reason").unwrap_or_default().trim().to_string(), ..Changes::default() };
    let mut relaxes = false;
    for &k in ApprovalKind::ALL {
        if let Some(enforced) = flag(&format!("four_eyes.{}", k.as_str()))? {
            if s.engine.four_eyes(k).await? != enforced {
                relaxes |= !enforced;
                ch.four_eyes.push((k, enforced));
            }
        }
    }
    if f.iter().any(|(n, _)| n == "filing_posted") {
        let mut types: Vec<FeeType> =
            f.iter().filter(|(n, _)| n == "filing").filter_map(|(_, v)| FeeType::parse(v)).collect();
        types.sort_by_key(|t| t.as_str());
        let mut now = s.engine.filing_types().await?;
        now.sort_by_key(|t| t.as_str());
        if types != now {
            relaxes |= !types.is_empty();
            ch.filing = Some(types);
        }
    }
    if let Some(on) = flag("second_factor")? {
        if s.engine.second_factor_policy().await? != on {
            relaxes |= !on;
            ch.second_factor = Some(on);
        }
    }
    if relaxes && ch.reason.is_empty() {
        return Ok(Err("关闭双人复核、设置只需备案或不要求动态口令，须填写修改原因（例如学校文件号）".into()));
    }
    if let (Some(zh), Some(en)) = (field("school_name_zh"), field("school_name_en")) {
        let max = bursar_engine::school_profile::MAX_NAME_CHARS;
        if zh.trim().chars().count() > max || en.trim().chars().count() > max {
            return Ok(Err(format!("学校名称不超过 {max} 字")));
        }
        ch.names = Some((zh, en));
    }
    for &k in Knob::ALL {
        let Some(v) = field(&format!("policy.{}", k.as_str())) else { continue };
        let (lo, hi) = k.bounds();
        match v.trim().parse::<i64>() {
            Ok(v) if (lo..=hi).contains(&v) => ch.knobs.push((k, v)),
            _ => return Ok(Err(format!("{}须为 {lo}–{hi} 之间的整数", k.label_zh()))),
        }
    }
    if let Some(paper) = field("paper") {
        ch.paper = Some(Paper::parse(&paper).ok_or_else(|| WebError::BadRequest("无效的设置".into()))?);
    }
    ch.receiving_unit = field("receiving_unit");
    Ok(Ok(ch))
}

/// Saves what was checked, each part logged by its engine command.
async fn apply(s: &AppState, c: &Current, ch: &Changes) -> Result<(), EngineError> {
    let (by, reason) = (c.principal(), ch.reason.as_str());
    for &(k, enforced) in &ch.four_eyes {
        s.engine.set_four_eyes(by, k, enforced, reason).await?;
    }
    if let Some(types) = &ch.filing {
        s.engine.set_filing_types(by, types, reason).await?;
    }
    if let Some(on) = ch.second_factor {
        s.engine.set_second_factor_policy(by, on, reason).await?;
    }
    if let Some((zh, en)) = &ch.names {
        s.engine.set_school_names(by, zh, en).await?;
    }
    if !ch.knobs.is_empty() {
        s.engine.set_policy(by, &ch.knobs).await?;
    }
    if let Some(paper) = ch.paper {
        s.engine.set_receipt_paper(by, paper).await?;
    }
    if let Some(unit) = &ch.receiving_unit {
        s.engine.set_receiving_unit(by, unit).await?;
    }
    Ok(())
}

pub async fn save(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let ch = match read_changes(&s, &f).await? {
        Ok(ch) => ch,
        Err(message) => return page_with(&s, &c, "", message).await,
    };
    let r = apply(&s, &c, &ch).await;
    crate::school::refresh(&s).await?;
    match r {
        Ok(()) => Ok(Redirect::to("/admin/settings?saved=1").into_response()),
        Err(EngineError::Rule(e)) => page_with(&s, &c, "", e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

/// A logo or seal uploaded (or removed, `remove` = 1): PNG or JPEG, checked by the engine.
pub async fn save_image(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    mut form: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let (mut kind, mut bytes, mut remove) = (None, Vec::new(), false);
    while let Some(field) = form.next_field().await.map_err(|e| WebError::BadRequest(format!("上传失败：{e}")))? {
        match field.name() {
            Some("kind") => kind = ImageKind::parse(&field.text().await.unwrap_or_default()),
            Some("remove") => remove = field.text().await.unwrap_or_default() == "1",
            Some("image") => {
                bytes =
                    field.bytes().await.map_err(|e| WebError::BadRequest(format!("文件过大或上传失败：{e}")))?.to_vec()
            }
            _ => {}
        }
    }
    let Some(kind) = kind else { return Err(WebError::BadRequest("无效的设置".into())) };
    let image = if remove {
        None
    } else if bytes.is_empty() {
        return page_with(&s, &c, "", format!("请选择{}图片", kind.label_zh())).await;
    } else {
        Some(bytes.as_slice())
    };
    match s.engine.set_school_image(c.principal(), kind, image).await {
        Ok(()) => {
            crate::school::refresh(&s).await?;
            Ok(Redirect::to("/admin/settings?saved=1").into_response())
        }
        Err(EngineError::Rule(e)) => page_with(&s, &c, "", e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}
