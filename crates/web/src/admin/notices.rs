//! 公告: notices to payers shown on the portal for a period, and channel maintenance notices
//! shown beside that channel where payers choose how to pay; published and withdrawn here.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::payment::ChannelKind;
use bursar_domain::time_fmt::datetime_cst;
use bursar_engine::notices::NoticeInput;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{get, post, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let g = Guard::Permission(Permission::ManageSettings);
    Routes::new().route("/admin/notices", g, get(page).post(publish)).route(
        "/admin/notices/{id}/withdraw",
        g,
        post(withdraw),
    )
}

pub struct NoticeLine {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub period: String,
    pub state: &'static str,
    pub badge: &'static str,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "admin/notices.html")]
struct NoticesPage {
    chrome: Chrome,
    lines: Vec<NoticeLine>,
    channels: Vec<(&'static str, &'static str)>,
    form: NoticeForm,
    error: String,
    done: bool,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct NoticeForm {
    channel: String,
    title: String,
    body: String,
    starts: String,
    ends: String,
}

fn minutes(ms: i64) -> String {
    datetime_cst(ms).get(..16).unwrap_or_default().to_string()
}

async fn page_with(
    s: &AppState,
    c: &OperatorCtx,
    form: NoticeForm,
    error: String,
    done: bool,
) -> Result<Response, WebError> {
    let now = s.engine.store().now_ms();
    let lines = s
        .engine
        .notices(c.0.principal())
        .await?
        .into_iter()
        .map(|n| {
            let (state, badge, live) = match (n.withdrawn_at_ms, now) {
                (Some(_), _) => ("已撤下", "", false),
                (None, t) if t < n.starts_at_ms => ("未开始", "warn", true),
                (None, t) if t >= n.ends_at_ms => ("已结束", "", false),
                _ => ("显示中", "ok", true),
            };
            NoticeLine {
                kind: match n.channel.as_deref().and_then(ChannelKind::parse) {
                    Some(k) => format!("{}维护", k.label_zh()),
                    None => "公告".into(),
                },
                id: n.id,
                title: n.title,
                body: n.body,
                period: format!("{} 至 {}", minutes(n.starts_at_ms), minutes(n.ends_at_ms)),
                state,
                badge,
                live,
            }
        })
        .collect();
    render(&NoticesPage {
        chrome: super::chrome(s, &c.0, "notices"),
        lines,
        channels: [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard]
            .iter()
            .map(|k| (k.as_str(), k.label_zh()))
            .collect(),
        form,
        error,
        done,
    })
}

async fn page(State(s): State<AppState>, c: OperatorCtx) -> Result<Response, WebError> {
    page_with(&s, &c, NoticeForm::default(), String::new(), false).await
}

async fn outcome(
    s: &AppState,
    c: &OperatorCtx,
    form: NoticeForm,
    r: Result<(), EngineError>,
) -> Result<Response, WebError> {
    match r {
        Ok(()) => page_with(s, c, NoticeForm::default(), String::new(), true).await,
        Err(EngineError::Rule(e)) => {
            let mut resp = page_with(s, c, form, e.to_string(), false).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

async fn publish(State(s): State<AppState>, c: OperatorCtx, Form(f): Form<NoticeForm>) -> Result<Response, WebError> {
    let input = NoticeInput {
        channel: ChannelKind::parse(&f.channel),
        title: f.title.clone(),
        body: f.body.clone(),
        starts: f.starts.clone(),
        ends: f.ends.clone(),
    };
    let r = s.engine.publish_notice(c.0.principal(), &input).await.map(|_| ());
    outcome(&s, &c, f, r).await
}

async fn withdraw(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    let r = s.engine.withdraw_notice(c.0.principal(), &id).await;
    outcome(&s, &c, NoticeForm::default(), r).await
}
