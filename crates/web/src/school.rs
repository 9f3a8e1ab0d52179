//! The school's profile on every page: its names, logo and seal as 系统设置 last said. Each
//! instance keeps a copy, refreshed from the store every few seconds (so several instances
//! agree within moments) and at once where it was changed; the images are served from here.

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
    let mut live = s.config.profile.write().unwrap_or_else(|e| e.into_inner());
    *live = LiveProfile { profile, loaded_at: Some(Instant::now()) };
    Ok(())
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
    Routes::new().route("/school/logo", Guard::Public, get(logo)).route("/school/seal", Guard::Public, get(seal))
}

async fn logo(s: State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    image(s, headers, ImageKind::Logo).await
}

async fn seal(s: State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    image(s, headers, ImageKind::Seal).await
}

/// Where a page finds an image (its digest in the address, so a new image is fetched at once
/// and an unchanged one is cached); empty when none is set.
pub fn image_url(profile: &SchoolProfile, kind: ImageKind) -> String {
    let digest = match kind {
        ImageKind::Logo => &profile.logo,
        ImageKind::Seal => &profile.seal,
    };
    digest.as_ref().map(|d| format!("/school/{}?v={}", kind.as_str(), &d[..d.len().min(16)])).unwrap_or_default()
}

async fn image(State(s): State<AppState>, headers: HeaderMap, kind: ImageKind) -> Result<Response, WebError> {
    let Some(img) = s.engine.school_image(kind).await? else { return Err(WebError::NotFound) };
    let etag = format!("\"{}\"", img.digest);
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let mut resp = img.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(img.media_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}
