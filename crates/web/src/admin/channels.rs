//! Finance's channel configuration: the merchant accounts money is collected into (their secrets
//! are sealed at rest and never shown) and, per fee item, which channels it accepts and into
//! which account. Every change is written to the operation log.

use std::collections::{BTreeMap, HashMap};

use crate::guard::get;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::payment::{ChannelKind, MerchantState};

use crate::guard::{Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new().route("/admin/channels", Guard::Permission(Permission::ManageChannels), get(page).post(save))
}

pub struct AccountView {
    pub channel: &'static str,
    pub name: String,
    pub merchant_no: String,
    pub state: &'static str,
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
#[template(path = "admin/channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    accounts: Vec<AccountView>,
    channels: Vec<&'static str>,
    items: Vec<ItemRow>,
    saved: bool,
}

const CONFIGURABLE: [ChannelKind; 4] =
    [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard];

pub async fn page(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let view = s.engine.operator_view(c.principal()).channels().await?;
    let accounts = view.accounts;
    let routes: HashMap<(String, ChannelKind), String> =
        view.routes.into_iter().map(|(i, ch, m)| ((i, ch), m)).collect();
    let items = view.items;
    let items = items
        .into_iter()
        .map(|it| ItemRow {
            cells: CONFIGURABLE
                .iter()
                .map(|ch| {
                    let current = routes.get(&(it.id.clone(), *ch));
                    let mut choices =
                        vec![Choice { id: String::new(), label: "不支持".into(), selected: current.is_none() }];
                    choices.extend(
                        accounts.iter().filter(|a| a.channel == *ch && a.state == MerchantState::Active).map(|a| {
                            Choice {
                                id: a.id.clone(),
                                label: format!("{}（{}）", a.name, a.merchant_no),
                                selected: current == Some(&a.id),
                            }
                        }),
                    );
                    Cell { field: format!("route:{}:{}", it.id, ch.as_str()), channel: ch.label_zh(), choices }
                })
                .collect(),
            code: it.code,
            name: it.name,
        })
        .collect();
    render(&ChannelsPage {
        chrome: super::chrome(&s, &c, "channels"),
        accounts: accounts
            .iter()
            .map(|a| AccountView {
                channel: a.channel.label_zh(),
                name: a.name.clone(),
                merchant_no: a.merchant_no.clone(),
                state: a.state.label_zh(),
                sealed: a.sealed_secrets.starts_with("v1:"),
                updated: datetime(a.updated_at_ms),
            })
            .collect(),
        channels: CONFIGURABLE.iter().map(|c| c.label_zh()).collect(),
        items,
        saved: q.contains_key("saved"),
    })
}

pub async fn save(
    State(s): State<AppState>,
    OperatorCtx(c): OperatorCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let wanted: BTreeMap<(String, ChannelKind), String> = form
        .iter()
        .filter_map(|(k, v)| {
            let mut parts = k.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next().and_then(ChannelKind::parse)) {
                (Some("route"), Some(item), Some(ch)) => Some(((item.to_string(), ch), v.clone())),
                _ => None,
            }
        })
        .collect();
    let changes: Vec<(String, ChannelKind, Option<String>)> =
        wanted.into_iter().map(|((item, ch), account)| (item, ch, Some(account).filter(|a| !a.is_empty()))).collect();
    s.engine.set_routes(c.principal(), &changes).await?;
    Ok(Redirect::to("/admin/channels?saved=1").into_response())
}
