//! The school's profile on every page: its names, logo and seal as 系统设置 last said. Each
//! instance keeps a copy, refreshed from the store every few seconds (so several instances
//! agree within moments) and at once where it was changed. The logo is served from here to
//! anyone; the seal never is — it is written into the vouchers themselves (a `data:` image), so
//! nobody fetches the official seal without a voucher to see.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bursar_engine::school_profile::{ImageKind, SchoolProfile};

use crate::guard::{get, Guard, Routes};
use crate::{AppState, WebError};

/// How old the copy may get before a request reads it again.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// This instance's copy of the profile.
#[derive(Debug, Default)]
pub struct LiveProfile {
    profile: SchoolProfile,
    loaded_at: Option<Instant>,
    /// The seal as a `data:` address, with the digest it was made from.
    seal: Option<(String, String)>,
}

/// Shared by every request of the instance.
pub type SharedProfile = Arc<RwLock<LiveProfile>>;

/// The profile as last read.
pub fn current(shared: &SharedProfile) -> SchoolProfile {
    shared.read().unwrap_or_else(|e| e.into_inner()).profile.clone()
}

/// Reads the profile from the store now.
pub async fn refresh(s: &AppState) -> Result<(), WebError> {
    let profile = s.engine.school_profile().await?;
    let had = s.config.profile.read().unwrap_or_else(|e| e.into_inner()).seal.clone();
    // The seal is read again only when it changed.
    let seal = match (&profile.seal, had) {
        (None, _) => None,
        (Some(d), Some((had_d, uri))) if *d == had_d => Some((had_d, uri)),
        (Some(_), _) => s.engine.school_image(ImageKind::Seal).await?.map(|img| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&img.bytes);
            (img.digest, format!("data:{};base64,{b64}", img.media_type))
        }),
    };
    let mut live = s.config.profile.write().unwrap_or_else(|e| e.into_inner());
    *live = LiveProfile { profile, loaded_at: Some(Instant::now()), seal };
    Ok(())
}

/// The seal as a `data:` address for a voucher ("" when none is set).
pub fn seal_data(shared: &SharedProfile) -> String {
    shared.read().unwrap_or_else(|e| e.into_inner()).seal.as_ref().map(|(_, uri)| uri.clone()).unwrap_or_default()
}

/// Refreshes the copy when it is older than [`REFRESH_EVERY`] (a failure keeps the old copy).
pub async fn layer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let stale = s
        .config
        .profile
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .loaded_at
        .is_none_or(|t| t.elapsed() > REFRESH_EVERY);
    if stale {
        if let Err(e) = refresh(&s).await {
            tracing::warn!(error = %e, "school profile not refreshed");
        }
    }
    next.run(req).await
}

pub fn routes() -> Routes {
    Routes::new().route("/school/logo", Guard::Public, get(logo))
}

/// The logo, with its digest as entity tag (checked before the image is read); an address
/// naming the digest (`?v=`) never changes, so it is cached for good.
async fn logo(State(s): State<AppState>, uri: axum::http::Uri, headers: HeaderMap) -> Result<Response, WebError> {
    let Some(digest) = current(&s.config.profile).logo else { return Err(WebError::NotFound) };
    let etag = format!("\"{digest}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let Some(img) = s.engine.school_image(ImageKind::Logo).await? else { return Err(WebError::NotFound) };
    let versioned = uri.query().is_some_and(|q| q.starts_with("v="));
    let mut resp = img.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(img.media_type));
    let cache = if versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", img.digest)) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// Where a page finds the logo (its digest in the address, so a new one is fetched at once and
/// an unchanged one is cached); empty when none is set.
pub fn logo_url(profile: &SchoolProfile) -> String {
    profile.logo.as_ref().map(|d| format!("/school/logo?v={}", &d[..d.len().min(16)])).unwrap_or_default()
}
