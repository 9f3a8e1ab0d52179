//! What anyone may read: published projects (once finance approved their fee item), a receipt by
//! its verification code (masked), and a hosted-cashier order by its link token.

use bursar_domain::access::{PayerPrincipal, Principal};
use bursar_domain::fee::FeeItemStatus;
use bursar_domain::project::Field;
use bursar_store::api::{self as api_store, ApiOrderRow, AppRow};
use bursar_store::payers::{self, PayerRow};
use bursar_store::payments::{self as pay_store, OrderLineView, OrderRow, PaymentRow};
use bursar_store::projects::{self as project_store, ProjectRow};
use bursar_store::receipts::{self, ReceiptRow};
use bursar_store::receivables;

use crate::engine::Engine;
use crate::error::EngineError;

/// A receipt as its public verification page shows it.
pub struct VerifiedReceipt {
    pub receipt: ReceiptRow,
    pub payment: PaymentRow,
    pub payer: PayerRow,
    pub lines: Vec<OrderLineView>,
}

/// A hosted-cashier link's order: the link token is the credential to pay it.
pub struct CashierOrder {
    pub api: ApiOrderRow,
    pub app: AppRow,
    pub order: OrderRow,
    pub lines: Vec<OrderLineView>,
    /// The order's payer, as whom the cashier starts payments.
    pub payer: Principal,
}

impl Engine {
    /// Every department's name by id (shown on public pages).
    pub async fn department_names(&self) -> Result<std::collections::HashMap<String, String>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(payers::departments(&mut c).await?.into_iter().collect())
    }

    /// Projects payers can see: their fee item approved (collecting or stopped), newest first.
    pub async fn published_projects(&self) -> Result<Vec<ProjectRow>, EngineError> {
        let mut c = self.store().read().await?;
        let mut out = Vec::new();
        for p in project_store::all(&mut c).await? {
            if receivables::fee_item(&mut c, &p.fee_item_id).await?.status.is_approved() {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// A published project and its fields (`None` when unknown or not yet approved).
    pub async fn published_project(&self, id: &str) -> Result<Option<(ProjectRow, Vec<Field>, bool)>, EngineError> {
        let mut c = self.store().read().await?;
        let p = match project_store::get(&mut c, id).await {
            Ok(p) => p,
            Err(bursar_store::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let status = receivables::fee_item(&mut c, &p.fee_item_id).await?.status;
        if !status.is_approved() {
            return Ok(None);
        }
        let fields = project_store::fields(&mut c, id).await?;
        Ok(Some((p, fields, status == FeeItemStatus::Collecting)))
    }

    /// A receipt by its public verification code.
    pub async fn verify_receipt(&self, code: &str) -> Result<Option<VerifiedReceipt>, EngineError> {
        if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let mut c = self.store().read().await?;
        let Some(receipt) = receipts::by_verify_code(&mut c, code).await? else { return Ok(None) };
        let payment = pay_store::payment(&mut c, &receipt.payment_id).await?;
        let payer = payers::payer(&mut c, &receipt.payer_id).await?;
        let lines = pay_store::order_lines(&mut c, &payment.order_id).await?;
        Ok(Some(VerifiedReceipt { receipt, payment, payer, lines }))
    }

    /// The order behind a hosted-cashier link (`None`: no such link).
    pub async fn cashier_order(&self, token: &str) -> Result<Option<CashierOrder>, EngineError> {
        if token.len() != 32 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let mut c = self.store().read().await?;
        let Some(api) = api_store::order_by_token(&mut c, token).await? else { return Ok(None) };
        let app = api_store::app(&mut c, &api.app_id).await?;
        let order = pay_store::order(&mut c, &api.order_id).await?;
        let lines = pay_store::order_lines(&mut c, &api.order_id).await?;
        let payer = payers::payer(&mut c, &order.payer_id).await?;
        let principal = Principal::Payer(PayerPrincipal { id: payer.id, kind: payer.kind, via_sso: false });
        Ok(Some(CashierOrder { api, app, order, lines, payer: principal }))
    }

    /// A payment of a hosted-cashier order, asking the channel first while it waits.
    pub async fn cashier_payment(
        &self,
        token: &str,
        payment_id: &str,
    ) -> Result<Option<(CashierOrder, PaymentRow)>, EngineError> {
        let Some(co) = self.cashier_order(token).await? else { return Ok(None) };
        // The link's own order only, checked before the channel is asked.
        {
            let mut c = self.store().read().await?;
            match bursar_store::payments::payment(&mut c, payment_id).await {
                Ok(p) if p.order_id == co.api.order_id => {}
                Ok(_) | Err(bursar_store::StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        let p = match self.refresh_payment(payment_id).await {
            Ok(p) => p,
            Err(EngineError::Store(bursar_store::StoreError::NotFound(_))) => return Ok(None),
            Err(e) => return Err(e),
        };
        if p.order_id != co.api.order_id {
            return Ok(None);
        }
        Ok(Some((co, p)))
    }
}
