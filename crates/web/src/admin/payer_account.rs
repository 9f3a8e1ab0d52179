//! A payer's account on their record (管理缴费人): freeze with a reason, unfreeze, set the last
//! day it can be used, and reset the password to a temporary one shown once to the operator.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bursar_domain::access::Permission;
use bursar_engine::EngineError;
use serde::Deserialize;

use crate::guard::{post, Guard, OperatorCtx, Routes};
use crate::{AppState, WebError};

pub fn routes() -> Routes {
    let manage = || Guard::Permission(Permission::ManagePayers);
    Routes::new()
        .route("/admin/payers/{id}/freeze", manage(), post(freeze))
        .route("/admin/payers/{id}/unfreeze", manage(), post(unfreeze))
        .route("/admin/payers/{id}/validity", manage(), post(validity))
        .route("/admin/payers/{id}/password-reset", manage(), post(reset_password))
}

/// Back to the record, or the record with the refusal said.
async fn answer(
    s: &AppState,
    c: &OperatorCtx,
    id: &str,
    done: Result<(), EngineError>,
    what: &str,
) -> Result<Response, WebError> {
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/admin/payers/{id}?account={what}")).into_response()),
        Err(EngineError::Rule(e)) => {
            let mut resp = super::payers::detail_page(s, &c.0, id, e.to_string()).await?;
            *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

pub async fn freeze(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, WebError> {
    let done = s.engine.set_payer_frozen(c.0.principal(), &id, Some(&f.reason)).await;
    answer(&s, &c, &id, done, "frozen").await
}

pub async fn unfreeze(State(s): State<AppState>, c: OperatorCtx, Path(id): Path<String>) -> Result<Response, WebError> {
    let done = s.engine.set_payer_frozen(c.0.principal(), &id, None).await;
    answer(&s, &c, &id, done, "unfrozen").await
}

#[derive(Deserialize)]
pub struct ValidityForm {
    /// The last day (YYYY-MM-DD) the account can be used; empty: no end.
    #[serde(default)]
    until: String,
}

pub async fn validity(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
    Form(f): Form<ValidityForm>,
) -> Result<Response, WebError> {
    let until = match f.until.trim() {
        "" => None,
        day => Some(
            bursar_domain::time_fmt::parse_date_cst_ms(day)
                .map(|start| start + 24 * 3_600_000)
                .ok_or_else(|| WebError::BadRequest("日期格式应为 2027-07-31".into()))?,
        ),
    };
    let done = s.engine.set_payer_valid_until(c.0.principal(), &id, until).await;
    answer(&s, &c, &id, done, "validity").await
}

/// Shows the temporary password once, on the record itself (it is not kept anywhere).
pub async fn reset_password(
    State(s): State<AppState>,
    c: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    match s.engine.reset_payer_password(c.0.principal(), &id).await {
        Ok(temporary) => {
            let notice = format!("密码已重置。临时密码：{temporary}（只显示这一次，请当面或电话告知本人；本人登录后须核实证件号码并修改密码）");
            super::payers::detail_page(&s, &c.0, &id, notice).await
        }
        Err(e) => answer(&s, &c, &id, Err(e), "").await,
    }
}
