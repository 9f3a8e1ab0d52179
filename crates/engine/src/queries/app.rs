//! What a business system may read through the open API: its own orders (as their JSON), its
//! own orders' refunds, and what a payer owes for its own fee items. Plus the idempotency record
//! of its `POST`s.

use bursar_domain::access::{AppPrincipal, Permission, Principal};
use bursar_domain::payment::PaymentState;
use bursar_store::api::{self as api_store, ApiOrderRow, IdempotentRow};
use bursar_store::payments as pay_store;
use bursar_store::receivables::{self, ReceivableView};
use bursar_store::refunds::{self as refund_store, RefundRow};
use bursar_store::{payers, Tx};
use serde_json::Value;

use crate::engine::{require, Engine};
use crate::error::EngineError;

/// An application's reads (see [`Engine::app_view`]).
pub struct AppView<'e> {
    engine: &'e Engine,
    app: AppPrincipal,
}

impl Engine {
    pub fn app_view(&self, by: &Principal) -> Result<AppView<'_>, EngineError> {
        require(by, Permission::ApiCollect)?;
        match by {
            Principal::App(a) => Ok(AppView { engine: self, app: a.clone() }),
            _ => Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::ApiCollect))),
        }
    }
}

/// How long a request may hold its idempotency key "in progress" before a retry may take it
/// (the server crashed, or lost the request some other way).
pub const IDEMPOTENCY_LEASE_MS: i64 = 60_000;

/// A request's claim on its idempotency key, passed to the command it runs so the command
/// records its effect in its own transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdemClaim {
    pub app: String,
    pub key: String,
}

/// How a `POST` under an idempotency key stands.
pub enum Idempotency {
    /// The key is new (or its lease ran out with nothing committed): run the request.
    Run(IdemClaim),
    /// An earlier run committed this effect but never answered (a crash, a hang-up): answer
    /// from the effect (`order` or `refund`, and its id).
    Effect { claim: IdemClaim, kind: String, id: String },
    /// The same request ran before: its (status, response body).
    Replay(i64, String),
    /// The key was used for another request.
    Reused,
    /// The same request is running now.
    InProgress,
}

impl AppView<'_> {
    /// One of the app's orders (`None`: unknown, or another app's).
    pub async fn order(&self, id: &str) -> Result<Option<ApiOrderRow>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(api_store::order_of(&mut c, id).await?.filter(|o| o.app_id == self.app.id))
    }

    pub async fn order_by_out_no(&self, out_order_no: &str) -> Result<Option<ApiOrderRow>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(api_store::order_by_out_no(&mut c, &self.app.id, out_order_no).await?)
    }

    /// The app's orders, newest first, after a cursor.
    pub async fn orders_page(&self, starting_after: Option<&str>, limit: i64) -> Result<Vec<ApiOrderRow>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(api_store::orders_page(&mut c, &self.app.id, starting_after, limit).await?)
    }

    /// An order as the app sees it; a payment still waiting is asked about first (the channel
    /// is the truth).
    pub async fn order_json(&self, row: &ApiOrderRow, refresh: bool) -> Result<Value, EngineError> {
        if refresh {
            let payments = {
                let mut c = self.engine.store().read().await?;
                pay_store::payments_of_order(&mut c, &row.order_id).await?
            };
            for p in payments.iter().filter(|p| p.state == PaymentState::Paying) {
                if let Err(e) = self.engine.refresh_payment(&p.id).await {
                    tracing::info!(payment = %p.id, error = %e, "refresh before answering failed");
                }
            }
        }
        let mut c = self.engine.store().read().await?;
        Ok(crate::api::order_json(&mut c, row, &self.engine.config().public_base_url).await?)
    }

    /// A refund of one of the app's orders, with that order.
    pub async fn refund(&self, id: &str) -> Result<Option<(RefundRow, ApiOrderRow)>, EngineError> {
        let mut c = self.engine.store().read().await?;
        let r = match refund_store::refund(&mut c, id).await {
            Ok(r) => r,
            Err(bursar_store::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let p = pay_store::payment(&mut c, &r.payment_id).await?;
        Ok(api_store::order_of(&mut c, &p.order_id).await?.filter(|o| o.app_id == self.app.id).map(|o| (r, o)))
    }

    /// What a payer still owes for the app's own fee items (`None`: unknown payer).
    pub async fn arrears(&self, identifier: &str) -> Result<Option<Vec<ReceivableView>>, EngineError> {
        let mut c = self.engine.store().read().await?;
        let Some(payer) = payers::payer_by_identifier(&mut c, identifier).await? else { return Ok(None) };
        let all = receivables::for_payer(&mut c, &payer.id).await?;
        Ok(Some(
            all.into_iter()
                .filter(|r| self.app.fee_items.contains(&r.fee_item_id) && r.outstanding().is_positive())
                .collect(),
        ))
    }

    /// Claims an idempotency key (already scoped to the method and path) for a request with
    /// this digest. A key in progress past its lease is taken over: replayed from its effect
    /// when one was committed, run again otherwise.
    pub async fn idempotency_begin(&self, key: &str, request_hash: &str) -> Result<Idempotency, EngineError> {
        let (app, key, hash) = (self.app.id.clone(), key.to_string(), request_hash.to_string());
        self.engine
            .store()
            .write(|tx: &mut Tx| {
                let (app, key, hash) = (app.clone(), key.clone(), hash.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let claim = IdemClaim { app: app.clone(), key: key.clone() };
                    if api_store::store_idempotent(tx, &app, &key, &hash, 0, "", now).await? {
                        return Ok(Idempotency::Run(claim));
                    }
                    let row: IdempotentRow = api_store::idempotent(tx, &app, &key)
                        .await?
                        .ok_or_else(|| bursar_store::StoreError::Conflict("idempotency key vanished".into()))?;
                    if row.request_hash != hash {
                        return Ok(Idempotency::Reused);
                    }
                    if row.status != 0 {
                        return Ok(Idempotency::Replay(row.status, row.response));
                    }
                    if now.saturating_sub(row.created_at_ms) < IDEMPOTENCY_LEASE_MS
                        || !api_store::retake_idempotent(tx, &app, &key, row.created_at_ms, now).await?
                    {
                        return Ok::<_, EngineError>(Idempotency::InProgress);
                    }
                    Ok(match (row.effect_kind, row.effect_id) {
                        (Some(kind), Some(id)) => Idempotency::Effect { claim, kind, id },
                        _ => Idempotency::Run(claim),
                    })
                })
            })
            .await
    }

    /// Stores a request's response under its key (or releases the key after a server error,
    /// so the request may be retried).
    pub async fn idempotency_finish(&self, key: &str, status: i64, response: &str) -> Result<(), EngineError> {
        let (app, key, response) = (self.app.id.clone(), key.to_string(), response.to_string());
        self.engine
            .store()
            .write(|tx: &mut Tx| {
                let (app, key, response) = (app.clone(), key.clone(), response.clone());
                Box::pin(async move {
                    if status >= 500 {
                        api_store::forget_idempotent(tx, &app, &key).await
                    } else {
                        api_store::finish_idempotent(tx, &app, &key, status, &response).await
                    }
                })
            })
            .await?;
        Ok(())
    }
}
