//! 系统设置: which approvals need a second person (four-eyes, on by default), and which kinds of
//! fee item are only filed (备案) instead of reviewed. Every change is logged.

use crate::guard::get;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::{ApprovalKind, Permission};
use bursar_domain::fee::FeeType;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{Current, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route("/admin/settings", Guard::Permission(Permission::ManageSettings), get(page).post(save))
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
    let mut resp = render(&SettingsPage {
        chrome: super::chrome(s, c, "settings"),
        kinds,
        filing,
        receiving_unit,
        school_name: s.config.school_name.clone(),
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
    if let Some(unit) = f.iter().find(|(n, _)| n == "receiving_unit").map(|(_, v)| v.as_str()) {
        match s.engine.set_receiving_unit(c.principal(), unit).await {
            Ok(()) => {}
            Err(EngineError::Rule(e)) => return page_with(&s, &c, "", e.to_string()).await,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Redirect::to("/admin/settings?saved=1").into_response())
}
