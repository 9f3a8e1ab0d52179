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

/// Each kind is posted explicitly (`four_eyes.<kind>` = 1 or 0): a kind missing from the form
/// is left as it is, never switched off. Relaxing one needs a reason.
pub async fn save(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let reason = f.iter().find(|(n, _)| n == "reason").map(|(_, v)| v.clone()).unwrap_or_default();
    for &k in ApprovalKind::ALL {
        let field = format!("four_eyes.{}", k.as_str());
        let Some(value) = f.iter().find(|(n, _)| *n == field).map(|(_, v)| v.as_str()) else { continue };
        let enforced = match value {
            "1" => true,
            "0" => false,
            _ => return Err(WebError::BadRequest("无效的设置".into())),
        };
        if s.engine.four_eyes(k).await? != enforced {
            match s.engine.set_four_eyes(c.principal(), k, enforced, &reason).await {
                Ok(()) => {}
                Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
                Err(e) => return Err(e.into()),
            }
        }
    }
    // Filing-only kinds: the whole set is posted (with a marker), unchecked kinds are absent.
    if f.iter().any(|(n, _)| n == "filing_posted") {
        let mut types: Vec<FeeType> =
            f.iter().filter(|(n, _)| n == "filing").filter_map(|(_, v)| FeeType::parse(v)).collect();
        types.sort_by_key(|t| t.as_str());
        let mut now = s.engine.filing_types().await?;
        now.sort_by_key(|t| t.as_str());
        if types != now {
            match s.engine.set_filing_types(c.principal(), &types, &reason).await {
                Ok(()) => {}
                Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(value) = f.iter().find(|(n, _)| n == "second_factor").map(|(_, v)| v.as_str()) {
        let on = match value {
            "1" => true,
            "0" => false,
            _ => return Err(WebError::BadRequest("无效的设置".into())),
        };
        match s.engine.set_second_factor_policy(c.principal(), on, &reason).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    let name = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let (Some(zh), Some(en)) = (name("school_name_zh"), name("school_name_en")) {
        match s.engine.set_school_names(c.principal(), &zh, &en).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    let mut knobs = Vec::new();
    for &k in Knob::ALL {
        let Some(v) = name(&format!("policy.{}", k.as_str())) else { continue };
        match v.trim().parse::<i64>() {
            Ok(v) => knobs.push((k, v)),
            Err(_) => return page_with(&s, &c, "", format!("{}须为整数", k.label_zh())).await,
        }
    }
    if !knobs.is_empty() {
        match s.engine.set_policy(c.principal(), &knobs).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(paper) = name("paper") {
        let Some(paper) = Paper::parse(&paper) else { return Err(WebError::BadRequest("无效的设置".into())) };
        match s.engine.set_receipt_paper(c.principal(), paper).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(unit) = f.iter().find(|(n, _)| n == "receiving_unit").map(|(_, v)| v.as_str()) {
        match s.engine.set_receiving_unit(c.principal(), unit).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    crate::school::refresh(&s).await?;
    Ok(Redirect::to("/admin/settings?saved=1").into_response())
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
