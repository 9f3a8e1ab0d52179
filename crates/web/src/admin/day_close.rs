//! 日结: a cashier counts the till and the POS slips against what the system says they took and
//! hands the day over; the chief cashier (出纳) confirms it or returns it. Engine commands, logged.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_domain::till::{Counted, TillCloseState};
use bursar_domain::Fen;
use bursar_engine::rows::CloseRow;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{get, Guard, OperatorCtx, Routes};
use crate::i18n::Translate as _;
use crate::views::{datetime, render, yuan, Chrome};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/counter/close", Guard::Permission(Permission::CollectAtCounter), get(mine).post(submit))
        .route("/admin/day-closes", Guard::Permission(Permission::ConfirmDayClose), get(review))
        .route("/admin/day-closes/{id}", Guard::Permission(Permission::ConfirmDayClose), crate::guard::post(decide))
}

/// A close as the pages show it.
pub struct CloseView {
    pub id: String,
    pub cashier: String,
    pub day: String,
    /// 日结 for the first, 更正 (n) for corrections.
    pub entry: String,
    pub payments: i64,
    pub cash_expected: String,
    pub pos_expected: String,
    pub codes: String,
    pub cash_counted: String,
    pub pos_counted: String,
    pub difference: String,
    /// `ok` when the till balanced, `warn` otherwise.
    pub tone: &'static str,
    pub reason: String,
    pub state: &'static str,
    pub badge: &'static str,
    pub waiting: bool,
    pub submitted: String,
    pub decision: String,
}

fn close_view(r: CloseRow, names: &std::collections::HashMap<String, String>) -> CloseView {
    let diff = r.difference_fen.get();
    let difference = match diff {
        0 => "无差额".to_string(),
        d if d > 0 => format!("长款 {}", yuan(Fen(d))),
        d => format!("短款 {}", yuan(Fen(-d))),
    };
    let decided_by = r.decided_by.as_deref().and_then(|id| names.get(id)).cloned().unwrap_or_default();
    let decision = match (r.state, r.decided_at_ms) {
        (TillCloseState::Submitted, _) | (_, None) => String::new(),
        (_, Some(at)) => {
            let comment =
                if r.decision_comment.is_empty() { String::new() } else { format!("：{}", r.decision_comment) };
            format!("{decided_by} {}{comment}", datetime(at))
        }
    };
    CloseView {
        id: r.id,
        cashier: r.cashier_name,
        day: r.day,
        entry: if r.seq == 1 { "日结".into() } else { format!("更正（第 {} 次）", r.seq - 1) },
        payments: r.payments,
        cash_expected: yuan(r.cash_expected_fen),
        pos_expected: yuan(r.pos_expected_fen),
        codes: yuan(r.code_expected_fen),
        cash_counted: yuan(r.cash_counted_fen),
        pos_counted: yuan(r.pos_counted_fen),
        difference,
        tone: if diff == 0 { "ok" } else { "warn" },
        reason: r.reason,
        state: r.state.label_zh(),
        badge: match r.state {
            TillCloseState::Submitted => "warn",
            TillCloseState::Confirmed => "ok",
            TillCloseState::Returned => "bad",
        },
        waiting: r.state == TillCloseState::Submitted,
        // `MM-DD HH:MM`: the day is in its own column.
        submitted: datetime(r.submitted_at_ms).get(5..16).unwrap_or_default().to_string(),
        decision,
    }
}

#[derive(Template)]
#[template(path = "admin/day_close.html")]
struct MinePage {
    chrome: Chrome,
    day: String,
    payments: i64,
    cash: String,
    pos: String,
    codes: String,
    total: String,
    cash_input: String,
    pos_input: String,
    closes: Vec<CloseView>,
    /// Whether a close may be handed over now (none waiting), and whether it corrects one.
    can_submit: bool,
    correction: bool,
    reason: String,
    error: String,
    done: bool,
}

/// What the cashier typed, kept when the close is refused.
#[derive(Default)]
struct Typed {
    cash: String,
    pos: String,
    reason: String,
}

#[derive(Deserialize, Default)]
pub struct DayQuery {
    #[serde(default)]
    day: String,
    #[serde(default)]
    done: String,
}

async fn mine_with(
    s: &AppState,
    c: &OperatorCtx,
    day: &str,
    typed: Typed,
    error: String,
    done: bool,
) -> Result<Response, WebError> {
    let d = s.engine.my_day_at_till(c.0.principal(), Some(day)).await?;
    let names = s.engine.operator_view(c.0.principal()).operator_names().await?;
    let latest = d.closes.first().map(|c| c.state);
    render(&MinePage {
        chrome: super::chrome(s, &c.0, "counter"),
        day: d.day,
        payments: d.takings.payments,
        cash: yuan(d.takings.cash),
        pos: yuan(d.takings.pos),
        codes: yuan(d.takings.codes),
        total: yuan(d.takings.total()),
        cash_input: if typed.cash.is_empty() { d.takings.cash.to_yuan_string() } else { typed.cash },
        pos_input: if typed.pos.is_empty() { d.takings.pos.to_yuan_string() } else { typed.pos },
        reason: typed.reason,
        can_submit: latest != Some(TillCloseState::Submitted),
        correction: latest == Some(TillCloseState::Confirmed),
        closes: d.closes.into_iter().map(|r| close_view(r, &names)).collect(),
        error,
        done,
    })
}

async fn mine(State(s): State<AppState>, c: OperatorCtx, Query(q): Query<DayQuery>) -> Result<Response, WebError> {
    match mine_with(&s, &c, &q.day, Typed::default(), String::new(), !q.done.is_empty()).await {
        Err(WebError::BadRequest(msg)) => mine_with(&s, &c, "", Typed::default(), msg, false).await,
        other => other,
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    day: String,
    cash: String,
    pos: String,
    #[serde(default)]
    reason: String,
}

async fn submit(State(s): State<AppState>, c: OperatorCtx, Form(f): Form<CloseForm>) -> Result<Response, WebError> {
    let parse = |v: &str| Fen::parse_yuan(if v.trim().is_empty() { "0" } else { v });
    let result = match (parse(&f.cash), parse(&f.pos)) {
        (Ok(cash), Ok(pos)) => s.engine.close_day(c.0.principal(), &f.day, Counted { cash, pos }, &f.reason).await,
        (Err(e), _) | (_, Err(e)) => Err(EngineError::Rule(e)),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/counter/close?day={}&done=1", f.day.trim())).into_response()),
        Err(EngineError::Rule(e)) => {
            let typed = Typed { cash: f.cash.clone(), pos: f.pos.clone(), reason: f.reason.clone() };
            let mut resp = mine_with(&s, &c, &f.day, typed, e.to_string(), false).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/day_closes.html")]
struct ReviewPage {
    chrome: Chrome,
    closes: Vec<CloseView>,
    error: String,
    done: bool,
}

async fn review_with(s: &AppState, c: &OperatorCtx, error: String, done: bool) -> Result<Response, WebError> {
    let rows = s.engine.day_closes(c.0.principal()).await?;
    let names = s.engine.operator_view(c.0.principal()).operator_names().await?;
    render(&ReviewPage {
        chrome: super::chrome(s, &c.0, "day_closes"),
        closes: rows.into_iter().map(|r| close_view(r, &names)).collect(),
        error,
        done,
    })
}

async fn review(State(s): State<AppState>, c: OperatorCtx, Query(q): Query<DayQuery>) -> Result<Response, WebError> {
    review_with(&s, &c, String::new(), !q.done.is_empty()).await
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, WebError> {
    let confirm = match f.decision.as_str() {
        "confirm" => true,
        "return" => false,
        _ => return Err(WebError::BadRequest("请选择确认或退回".into())),
    };
    match s.engine.decide_day_close(c.0.principal(), &id, confirm, &f.comment).await {
        Ok(()) => Ok(Redirect::to("/admin/day-closes?done=1").into_response()),
        Err(EngineError::Rule(e)) => {
            let mut resp = review_with(&s, &c, e.to_string(), false).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}
