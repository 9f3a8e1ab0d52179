//! Finance's channel configuration: the merchant accounts money is collected into (their secrets
//! are sealed at rest and never shown) and, per fee item, which channels it accepts and into
//! which account. Every change is written to the operation log.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use bursar_domain::payment::ChannelKind;
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::{merchants, receivables};

use crate::auth::{self, FinanceSession};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/channels", get(page).post(save))
}

pub struct AccountView {
    pub channel: &'static str,
    pub name: String,
    pub merchant_no: String,
    pub state: String,
    pub sealed: bool,
    pub updated: String,
}

pub struct Choice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

pub struct Cell {
    pub field: String,
    pub channel: &'static str,
    pub choices: Vec<Choice>,
}

pub struct ItemRow {
    pub code: String,
    pub name: String,
    pub cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "admin_channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    accounts: Vec<AccountView>,
    channels: Vec<&'static str>,
    items: Vec<ItemRow>,
    saved: bool,
}

const CONFIGURABLE: [ChannelKind; 4] =
    [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard];

async fn page(
    State(s): State<AppState>,
    session: FinanceSession,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut c = s.engine.store().read().await?;
    let accounts = merchants::all(&mut c).await?;
    let routes: HashMap<(String, String), String> =
        merchants::route_ids(&mut c).await?.into_iter().map(|(i, ch, m)| ((i, ch), m)).collect();
    let items = receivables::fee_items(&mut c).await?;
    drop(c);
    let items = items
        .into_iter()
        .map(|it| ItemRow {
            cells: CONFIGURABLE
                .iter()
                .map(|ch| {
                    let current = routes.get(&(it.id.clone(), ch.as_str().to_string()));
                    let mut choices =
                        vec![Choice { id: String::new(), label: "不支持".into(), selected: current.is_none() }];
                    choices.extend(accounts.iter().filter(|a| a.channel == ch.as_str() && a.state == "active").map(
                        |a| Choice {
                            id: a.id.clone(),
                            label: format!("{}（{}）", a.name, a.merchant_no),
                            selected: current == Some(&a.id),
                        },
                    ));
                    Cell { field: format!("route:{}:{}", it.id, ch.as_str()), channel: ch.label_zh(), choices }
                })
                .collect(),
            code: it.code,
            name: it.name,
        })
        .collect();
    render(&ChannelsPage {
        chrome: Chrome {
            school_name: s.config.school_name(),
            user_name: session.name.clone(),
            csrf: session.csrf.clone(),
            section: "channels",
            area: "admin",
            finance: true,
        },
        accounts: accounts
            .iter()
            .map(|a| AccountView {
                channel: ChannelKind::parse(&a.channel).map(ChannelKind::label_zh).unwrap_or("其他"),
                name: a.name.clone(),
                merchant_no: a.merchant_no.clone(),
                state: a.state.clone(),
                sealed: a.sealed_secrets.starts_with("v1:"),
                updated: datetime(a.updated_at_ms),
            })
            .collect(),
        channels: CONFIGURABLE.iter().map(|c| c.label_zh()).collect(),
        items,
        saved: q.contains_key("saved"),
    })
}

async fn save(
    State(s): State<AppState>,
    session: FinanceSession,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let csrf = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    auth::check_csrf(&session.csrf, csrf)?;
    let wanted: BTreeMap<(String, String), String> = form
        .iter()
        .filter_map(|(k, v)| {
            let mut parts = k.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("route"), Some(item), Some(ch)) if ChannelKind::parse(ch).is_some() => {
                    Some(((item.to_string(), ch.to_string()), v.clone()))
                }
                _ => None,
            }
        })
        .collect();
    let mut tx = s.engine.store().begin().await?;
    let now = tx.now_ms;
    let current: HashMap<(String, String), String> =
        merchants::route_ids(tx.c()).await?.into_iter().map(|(i, ch, m)| ((i, ch), m)).collect();
    let actor = Actor::operator(&session.operator_id);
    for ((item, ch), account) in &wanted {
        let before = current.get(&(item.clone(), ch.clone())).cloned().unwrap_or_default();
        if &before == account {
            continue;
        }
        if account.is_empty() {
            merchants::disable_channel(tx.c(), item, ch).await?;
        } else {
            merchants::enable_channel(tx.c(), item, ch, account)
                .await
                .map_err(|_| WebError::BadRequest("收款账户无效".into()))?;
        }
        let entity_id = format!("{item}:{ch}");
        let change = Change {
            action: "fee_item.channel",
            entity: "fee_item_channel",
            entity_id: &entity_id,
            before: &before,
            after: account,
            detail: "",
        };
        oplog::append(tx.c(), now, &actor, &change).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/channels?saved=1").into_response())
}
