//! Finance registers business systems (applications) for the open API, rotates their secrets
//! (the old one keeps working for an overlap window), and follows every webhook event with its
//! delivery attempts, redelivering by hand when an app's endpoint was down for too long.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use bursar_engine::Actor;
use bursar_store::api as api_store;
use bursar_store::receivables;

use crate::auth::{self, FinanceSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/apps", get(list).post(register))
        .route("/admin/apps/{id}", get(detail))
        .route("/admin/apps/{id}/rotate", post(rotate))
        .route("/admin/apps/{id}/events/{event}/redeliver", post(redeliver))
}

fn chrome(s: &AppState, session: &FinanceSession) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        user_name: session.name.clone(),
        csrf: session.csrf.clone(),
        section: "apps",
        area: "admin",
        finance: true,
    }
}

pub struct AppView {
    pub id: String,
    pub app_id: String,
    pub name: String,
    pub notify_url: String,
    pub state: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_apps.html")]
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
    session: &FinanceSession,
    new_app_id: String,
    new_secret: String,
    error: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let apps = api_store::apps(&mut c)
        .await?
        .into_iter()
        .map(|a| AppView {
            id: a.id,
            app_id: a.app_id,
            name: a.name,
            notify_url: a.notify_url,
            state: a.state,
            created: datetime(a.created_at_ms),
        })
        .collect();
    let items = receivables::fee_items(&mut c).await?.into_iter().map(|i| (i.code, i.name)).collect();
    render(&ListPage { chrome: chrome(s, session), apps, items, new_secret, new_app_id, error })
}

async fn list(State(s): State<AppState>, session: FinanceSession) -> Result<Response, WebError> {
    list_with(&s, &session, String::new(), String::new(), String::new()).await
}

async fn register(
    State(s): State<AppState>,
    session: FinanceSession,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    auth::check_csrf(&session.csrf, Some(&get("csrf")))?;
    let items: Vec<String> = form.iter().filter(|(n, _)| n == "item").map(|(_, v)| v.clone()).collect();
    let rsa = get("rsa_public_key_pem");
    let name = get("name");
    if name.is_empty() {
        return list_with(&s, &session, String::new(), String::new(), "请填写应用名称".into()).await;
    }
    let result = s
        .engine
        .register_app(
            &s.engine.config().sealing,
            &name,
            &get("notify_url"),
            &get("return_url"),
            &get("ip_allowlist"),
            &items,
            (!rsa.is_empty()).then_some(rsa.as_str()),
            &Actor::operator(&session.operator_id),
        )
        .await;
    match result {
        Ok((app, secret)) => list_with(&s, &session, app.app_id, secret, String::new()).await,
        Err(bursar_engine::EngineError::Param(p)) => {
            list_with(&s, &session, String::new(), String::new(), format!("{}：{}", p.param, p.message)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub struct EventView {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub created: String,
    pub next: String,
    pub deliveries: Vec<(i64, String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin_app.html")]
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
}

async fn detail_with(
    s: &AppState,
    session: &FinanceSession,
    id: &str,
    new_secret: String,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let app = api_store::app(&mut c, id).await.map_err(|_| WebError::NotFound)?;
    let names: HashMap<String, String> = receivables::fee_items(&mut c)
        .await?
        .into_iter()
        .map(|i| (i.id, format!("{}（{}）", i.name, i.code)))
        .collect();
    let items =
        api_store::allowed_items(&mut c, &app.id).await?.into_iter().filter_map(|i| names.get(&i).cloned()).collect();
    let mut events = Vec::new();
    for e in api_store::events_of_app(&mut c, &app.id, 50).await? {
        let deliveries = api_store::deliveries(&mut c, &e.id)
            .await?
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
            state: e.state,
            attempts: e.attempts,
            created: datetime(e.created_at_ms),
            next: e.next_attempt_at_ms.map(datetime).unwrap_or_default(),
            deliveries,
        });
    }
    render(&DetailPage {
        chrome: chrome(s, session),
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
    })
}

async fn detail(
    State(s): State<AppState>,
    session: FinanceSession,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    detail_with(&s, &session, &id, String::new()).await
}

async fn rotate(
    State(s): State<AppState>,
    session: FinanceSession,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, form.get("csrf").map(String::as_str))?;
    let hours: i64 =
        form.get("overlap_hours").and_then(|h| h.parse().ok()).filter(|h| (0..=720).contains(h)).unwrap_or(24);
    let app = {
        let mut c = s.engine.store().read().await?;
        api_store::app(&mut c, &id).await.map_err(|_| WebError::NotFound)?
    };
    let secret = s
        .engine
        .rotate_app_secret(&s.engine.config().sealing, &app, hours * 3_600_000, &Actor::operator(&session.operator_id))
        .await?;
    detail_with(&s, &session, &id, secret).await
}

async fn redeliver(
    State(s): State<AppState>,
    session: FinanceSession,
    Path((id, event)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    auth::check_csrf(&session.csrf, form.get("csrf").map(String::as_str))?;
    {
        let mut c = s.engine.store().read().await?;
        let e = api_store::event(&mut c, &event).await.map_err(|_| WebError::NotFound)?;
        if e.app_id != id {
            return Err(WebError::NotFound);
        }
    }
    s.engine.redeliver_webhook(&event).await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}")).into_response())
}
