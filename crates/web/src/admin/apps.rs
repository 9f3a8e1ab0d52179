//! Finance registers business systems (applications) for the open API, rotates their secrets
//! (the old one keeps working for an overlap window), and follows every webhook event with its
//! delivery attempts, redelivering by hand when an app's endpoint was down for too long.

use std::collections::HashMap;

use crate::guard::{get, post};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_engine::api::apps::NewAppInput;

use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::ManageApps);
    Routes::new()
        .route("/admin/apps", g, get(list).post(register))
        .route("/admin/apps/{id}", g, get(detail))
        .route("/admin/apps/{id}/rotate", g, post(rotate))
        .route("/admin/apps/{id}/urls", g, post(set_urls))
        .route("/admin/apps/{id}/events/{event}/redeliver", g, post(redeliver))
}

fn chrome(s: &AppState, c: &OperatorCtx) -> Chrome {
    super::chrome(s, &c.0, "apps")
}

pub struct AppView {
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub notify_url: String,
    pub state: &'static str,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin/apps.html")]
struct ListPage {
    chrome: Chrome,
    apps: Vec<AppView>,
    items: Vec<(String, String)>,
    new_secret: String,
    new_app_id: String,
    error: String,
}

async fn list_with(
    s: &AppState,
    c: &OperatorCtx,
    new_app_id: String,
    new_secret: String,
    error: String,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.0.principal());
    let apps = view
        .apps()
        .await?
        .into_iter()
        .map(|a| AppView {
            id: a.id,
            app_id: a.app_id,
            name: a.name,
            notify_url: a.notify_url,
            state: a.state.label_zh(),
            created: datetime(a.created_at_ms),
        })
        .collect();
    let items = view.fee_items().await?.into_iter().map(|i| (i.code, i.name)).collect();
    render(&ListPage { chrome: chrome(s, c), apps, items, new_secret, new_app_id, error })
}

pub async fn list(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    list_with(&s, &c, String::new(), String::new(), String::new()).await
}

pub async fn register(
    State(s): State<AppState>,
    c: OperatorCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let rsa = get("rsa_public_key_pem");
    let input = NewAppInput {
        name: get("name"),
        notify_url: get("notify_url"),
        return_url: get("return_url"),
        ip_allowlist: get("ip_allowlist"),
        fee_item_codes: form.iter().filter(|(n, _)| n == "item").map(|(_, v)| v.clone()).collect(),
        rsa_public_key_pem: (!rsa.is_empty()).then_some(rsa),
    };
    match s.engine.register_app(c.0.principal(), &input).await {
        Ok((app, secret)) => list_with(&s, &c, app.app_id, secret, String::new()).await,
        Err(bursar_engine::EngineError::Param(p)) => {
            list_with(&s, &c, String::new(), String::new(), format!("{}：{}", p.param, p.message)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub struct EventView {
    pub id: String,
    pub kind: String,
    pub state: &'static str,
    pub attempts: i64,
    pub created: String,
    pub next: String,
    pub deliveries: Vec<(i64, String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin/app.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    app_id: String,
    name: String,
    notify_url: String,
    return_url: String,
    ip_allowlist: String,
    rotated_until: String,
    items: Vec<String>,
    events: Vec<EventView>,
    new_secret: String,
    /// The outcome of changing the URLs: an error, or "saved".
    urls_error: String,
    urls_saved: bool,
}

async fn detail_with(s: &AppState, c: &OperatorCtx, id: &str, new_secret: String) -> Result<Response, WebError> {
    detail_full(s, c, id, new_secret, String::new(), false).await
}

async fn detail_full(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    new_secret: String,
    urls_error: String,
    urls_saved: bool,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.0.principal());
    let (app, item_ids, raw_events) = view.app(id).await?;
    let names: HashMap<String, String> =
        view.fee_items().await?.into_iter().map(|i| (i.id, format!("{}（{}）", i.name, i.code))).collect();
    let items = item_ids.into_iter().filter_map(|i| names.get(&i).cloned()).collect();
    let mut events = Vec::new();
    for (e, deliveries) in raw_events {
        let deliveries = deliveries
            .into_iter()
            .map(|d| {
                (
                    d.attempt,
                    datetime(d.at_ms),
                    d.status_code.map(|x| x.to_string()).unwrap_or_else(|| "—".into()),
                    d.error,
                )
            })
            .collect();
        events.push(EventView {
            id: e.id,
            kind: e.kind,
            state: e.state.label_zh(),
            attempts: e.attempts,
            created: datetime(e.created_at_ms),
            next: e.next_attempt_at_ms.map(datetime).unwrap_or_default(),
            deliveries,
        });
    }
    render(&DetailPage {
        chrome: chrome(s, c),
        id: app.id.clone(),
        app_id: app.app_id.clone(),
        name: app.name.clone(),
        notify_url: app.notify_url.clone(),
        return_url: app.return_url.clone(),
        ip_allowlist: app.ip_allowlist.clone(),
        rotated_until: app
            .previous_valid_until_ms
            .filter(|t| *t > s.engine.store().now_ms())
            .map(datetime)
            .unwrap_or_default(),
        items,
        events,
        new_secret,
        urls_error,
        urls_saved,
    })
}

/// Changes the app's notification and return URLs.
pub async fn set_urls(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    match s.engine.set_app_urls(c.0.principal(), &id, &get("notify_url"), &get("return_url")).await {
        Ok(()) => detail_full(&s, &c, &id, String::new(), String::new(), true).await,
        Err(bursar_engine::EngineError::Param(p)) => {
            let mut r = detail_full(&s, &c, &id, String::new(), p.message, false).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn detail(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    detail_with(&s, &c, &id, String::new()).await
}

pub async fn rotate(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let hours: i64 =
        form.get("overlap_hours").and_then(|h| h.parse().ok()).filter(|h| (0..=720).contains(h)).unwrap_or(24);
    let secret = s.engine.rotate_app_secret(c.0.principal(), &id, hours * 3_600_000).await?;
    detail_with(&s, &c, &id, secret).await
}

pub async fn redeliver(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path((id, event)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (_, _, events) = s.engine.operator_view(c.0.principal()).app(&id).await?;
    if !events.iter().any(|(e, _)| e.id == event) {
        return Err(WebError::NotFound);
    }
    s.engine.redeliver_webhook(c.0.principal(), &event).await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}")).into_response())
}
