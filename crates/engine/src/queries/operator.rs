//! What operators may read, each query behind the permission it needs and limited to the
//! operator's data scope (a department operator sees its departments' fee items, payments and
//! refunds; finance, auditors and leaders see everything).

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::refund::RefundTarget;
use bursar_store::api::{self as api_store, AppRow, DeliveryRow, EventRow};
use bursar_store::merchants::{self as merchant_store, MerchantAccountRow};
use bursar_store::oplog;
use bursar_store::payers::{self, PayerRow};
use bursar_store::payments::{self as pay_store, ChannelEventRow, OfflineImportRow, PaymentListRow, PaymentRow};
use bursar_store::projects::{self as project_store, ProjectRow, RegistrationRow};
use bursar_store::receivables::{self, CollectionRow, FeeItemRow, ReceivableView};
use bursar_store::refunds::{self as refund_store, OverpaymentRow, RefundListRow};

use crate::engine::{require, Engine};
use crate::error::{not_found, EngineError};

/// Rows read for lists, at most.
const LIST_LIMIT: i64 = 500;
/// Payments a page of the payment list shows.
pub const PAYMENTS_PAGE: i64 = 100;

/// An operator's reads (see [`Engine::operator_view`]).
pub struct OperatorView<'e> {
    engine: &'e Engine,
    by: Principal,
}

impl Engine {
    pub fn operator_view(&self, by: &Principal) -> OperatorView<'_> {
        OperatorView { engine: self, by: by.clone() }
    }
}

/// Finance's view of one payment found for a refund request.
pub struct RefundablePayment {
    pub payment: PaymentRow,
    pub payer: PayerRow,
}

impl<'e> OperatorView<'e> {
    pub(crate) fn engine(&self) -> &'e Engine {
        self.engine
    }
    pub(crate) fn by(&self) -> &Principal {
        &self.by
    }
}

impl OperatorView<'_> {
    fn scope(&self, p: Permission) -> Result<Scope, EngineError> {
        require(&self.by, p)
    }

    /// The scope of the first of `permissions` the operator holds (those who act on a list
    /// read it; those who watch collection — approvers, auditors — read it too). Refused for
    /// the first when none is held.
    fn read_scope(&self, permissions: &[Permission]) -> Result<Scope, EngineError> {
        let mut first_refusal = None;
        for &p in permissions {
            match self.scope(p) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    first_refusal.get_or_insert(e);
                }
            }
        }
        Err(first_refusal.unwrap_or_else(|| EngineError::Invariant("no permission asked for".into())))
    }

    /// Collection per fee item, within scope.
    pub async fn collection(&self) -> Result<Vec<CollectionRow>, EngineError> {
        let scope = self.read_scope(&[Permission::ViewCollection, Permission::ViewDashboard])?;
        let mut c = self.engine.store().read().await?;
        let rows = receivables::collection_by_item(&mut c, self.engine.store().now_ms()).await?;
        Ok(rows.into_iter().filter(|r| scope.covers_department(&r.department_id)).collect())
    }

    /// The newest channel messages (finance only: they concern every department).
    pub async fn channel_events(&self, limit: i64) -> Result<Vec<ChannelEventRow>, EngineError> {
        if self.scope(Permission::ViewCollection)? != Scope::All {
            return Ok(Vec::new());
        }
        let mut c = self.engine.store().read().await?;
        Ok(pay_store::channel_events(&mut c, limit.clamp(1, 200)).await?)
    }

    /// The newest payments with their payers matching the filter, within scope (a page of 100).
    pub async fn payments(&self, filter: &pay_store::PaymentFilter) -> Result<Vec<PaymentListRow>, EngineError> {
        let scope = self.scope(Permission::ViewCollection)?;
        let mut f = filter.clone();
        f.departments = scope.department_filter().map(<[String]>::to_vec);
        let mut c = self.engine.store().read().await?;
        Ok(pay_store::recent_payments_view(&mut c, &f, PAYMENTS_PAGE).await?)
    }

    /// Refunds the operator may see: all (finance) or those touching their departments' fees.
    pub async fn refunds(&self) -> Result<Vec<RefundListRow>, EngineError> {
        let scope =
            self.read_scope(&[Permission::ApproveRefund, Permission::RequestRefund, Permission::ViewCollection])?;
        let mut c = self.engine.store().read().await?;
        Ok(refund_store::list_view(&mut c, scope.department_filter(), LIST_LIMIT).await?)
    }

    /// A payment to ask a refund of, by its merchant order number: found only when some of its
    /// money went to fees within the operator's scope (finance: any succeeded payment).
    pub async fn payment_for_refund(&self, merchant_order_no: &str) -> Result<Option<RefundablePayment>, EngineError> {
        let scope = self.scope(Permission::RequestRefund)?;
        let mut c = self.engine.store().read().await?;
        let Some(payment) = pay_store::payment_by_merchant_order_no(&mut c, merchant_order_no.trim()).await? else {
            return Ok(None);
        };
        if scope != Scope::All {
            let mut mine = false;
            for a in refund_store::payment_allocations(&mut c, &payment.id).await? {
                if a.target == RefundTarget::Receivable {
                    let r = receivables::receivable(&mut c, &a.target_id).await?;
                    mine |= scope.covers_fee_item(&r.fee_item_id, &r.department_id);
                }
            }
            if !mine {
                return Ok(None);
            }
        }
        let payer = payers::payer(&mut c, &payment.payer_id).await?;
        Ok(Some(RefundablePayment { payment, payer }))
    }

    /// Late and duplicate payments waiting in payers' credit (finance).
    pub async fn overpayments(&self) -> Result<Vec<(OverpaymentRow, PayerRow)>, EngineError> {
        let scope = self.read_scope(&[Permission::RequestRefund, Permission::ViewCollection])?;
        if scope != Scope::All {
            return Ok(Vec::new());
        }
        let mut c = self.engine.store().read().await?;
        let mut out = Vec::new();
        for o in refund_store::overpayments(&mut c, LIST_LIMIT).await? {
            let payer = payers::payer(&mut c, &o.payer_id).await?;
            out.push((o, payer));
        }
        Ok(out)
    }

    /// A payer at the counter, by login identifier, with their receivables.
    pub async fn counter_payer(
        &self,
        identifier: &str,
    ) -> Result<Option<(PayerRow, Vec<ReceivableView>)>, EngineError> {
        self.scope(Permission::CollectAtCounter)?;
        let mut c = self.engine.store().read().await?;
        let Some(p) = payers::payer_by_identifier(&mut c, identifier.trim()).await? else { return Ok(None) };
        let rs = receivables::for_payer(&mut c, &p.id).await?;
        Ok(Some((p, rs)))
    }

    /// Payers at the counter by number (prefix), name, class or the ID number's last four; at
    /// most 20.
    pub async fn counter_search(&self, text: &str) -> Result<Vec<payers::PayerListRow>, EngineError> {
        self.scope(Permission::CollectAtCounter)?;
        let mut c = self.engine.store().read().await?;
        let s = payers::PayerSearch { text, kind: None, departments: None, after: None, limit: 20 };
        Ok(payers::search(&mut c, &s).await?)
    }

    /// A payer at the counter, by id (chosen from a search), with their receivables.
    pub async fn counter_payer_by_id(&self, id: &str) -> Result<(PayerRow, Vec<ReceivableView>), EngineError> {
        self.scope(Permission::CollectAtCounter)?;
        let mut c = self.engine.store().read().await?;
        let p = payers::payer(&mut c, id).await.map_err(not_found("缴费人"))?;
        let rs = receivables::for_payer(&mut c, &p.id).await?;
        Ok((p, rs))
    }

    /// A payment taken at the counter, asking the channel first while it waits.
    pub async fn counter_payment(&self, id: &str) -> Result<PaymentRow, EngineError> {
        self.scope(Permission::CollectAtCounter)?;
        self.engine.refresh_payment(id).await.map_err(|e| match e {
            EngineError::Store(bursar_store::StoreError::NotFound(_)) => EngineError::NotFound(format!("支付 {id}")),
            other => other,
        })
    }

    pub async fn payer(&self, id: &str) -> Result<PayerRow, EngineError> {
        self.scope(Permission::ViewPayers)?;
        let mut c = self.engine.store().read().await?;
        payers::payer(&mut c, id).await.map_err(not_found(format!("缴费人 {id}")))
    }

    /// The latest offline imports.
    pub async fn offline_imports(&self) -> Result<Vec<OfflineImportRow>, EngineError> {
        self.scope(Permission::ImportOffline)?;
        let mut c = self.engine.store().read().await?;
        Ok(pay_store::offline_imports(&mut c, 20).await?)
    }

    /// Merchant accounts and which (fee item, channel) collects into which account.
    pub async fn channels(&self) -> Result<ChannelsView, EngineError> {
        self.scope(Permission::ManageChannels)?;
        let mut c = self.engine.store().read().await?;
        Ok(ChannelsView {
            accounts: merchant_store::all(&mut c).await?,
            routes: merchant_store::route_ids(&mut c).await?,
            items: receivables::fee_items(&mut c).await?,
        })
    }

    /// Fee items the operator may see: their departments' (applicants) or all (finance).
    pub async fn fee_items(&self) -> Result<Vec<FeeItemRow>, EngineError> {
        let scope =
            self.read_scope(&[Permission::ApproveFeeItem, Permission::ApplyFeeItem, Permission::ViewCollection])?;
        let mut c = self.engine.store().read().await?;
        let items = receivables::fee_items(&mut c).await?;
        Ok(items.into_iter().filter(|i| scope.covers_department(&i.department_id)).collect())
    }

    /// One fee item with the channels proposed or set for it.
    pub async fn fee_item(
        &self,
        id: &str,
    ) -> Result<(FeeItemRow, Vec<(bursar_domain::payment::ChannelKind, MerchantAccountRow)>), EngineError> {
        let item = self
            .fee_items()
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| EngineError::NotFound(format!("收费项目 {id}")))?;
        let mut c = self.engine.store().read().await?;
        let routes = merchant_store::routes_of_item(&mut c, id).await?;
        Ok((item, routes))
    }

    /// Every merchant account (for choosing channels when approving an item).
    pub async fn merchant_accounts(&self) -> Result<Vec<MerchantAccountRow>, EngineError> {
        if self.scope(Permission::ApproveFeeItem).is_err() {
            self.scope(Permission::ManageChannels)?;
        }
        let mut c = self.engine.store().read().await?;
        Ok(merchant_store::all(&mut c).await?)
    }

    /// Departments: (id, name), every one (finance) or the operator's own.
    pub async fn departments(&self) -> Result<Vec<(String, String)>, EngineError> {
        let scope =
            self.read_scope(&[Permission::ManageProjects, Permission::ApplyFeeItem, Permission::ViewCollection])?;
        let mut c = self.engine.store().read().await?;
        let all = payers::departments(&mut c).await?;
        Ok(all.into_iter().filter(|(id, _)| scope.covers_department(id)).collect())
    }

    /// Every department (id, name), whatever the operator's own: whom a fee item is for may name
    /// any college, whoever applies for it.
    pub async fn all_departments(&self) -> Result<Vec<(String, String)>, EngineError> {
        self.read_scope(&[Permission::ManageProjects, Permission::ApplyFeeItem, Permission::ViewCollection])?;
        let mut c = self.engine.store().read().await?;
        Ok(payers::departments(&mut c).await?)
    }

    /// A page of the operation log, newest first (auditors, finance administrators, system
    /// administrators).
    pub async fn operation_log(
        &self,
        q: &oplog::LogQuery,
        limit: i64,
    ) -> Result<(Vec<oplog::LogRow>, i64), EngineError> {
        self.scope(Permission::ViewOperationLog)?;
        let mut c = self.engine.store().read().await?;
        let rows = oplog::page(&mut c, q, limit).await?;
        Ok((rows, oplog::sealed_count(&mut c).await?))
    }

    /// Checks the operation log's whole hash chain now: (rows sealed, the breaks found).
    pub async fn verify_operation_log(&self) -> Result<(i64, Vec<String>), EngineError> {
        self.scope(Permission::ViewOperationLog)?;
        let mut c = self.engine.store().read().await?;
        let problems = oplog::verify_chain(&mut c, self.engine.store().now_ms()).await?;
        Ok((oplog::sealed_count(&mut c).await?, problems))
    }

    /// Names of operators by id (who asked, who decided).
    pub async fn operator_names(&self) -> Result<std::collections::HashMap<String, String>, EngineError> {
        let mut c = self.engine.store().read().await?;
        Ok(payers::operator_names(&mut c).await?.into_iter().collect())
    }

    /// Registered business systems.
    pub async fn apps(&self) -> Result<Vec<AppRow>, EngineError> {
        self.scope(Permission::ManageApps)?;
        let mut c = self.engine.store().read().await?;
        Ok(api_store::apps(&mut c).await?)
    }

    /// One app, its fee items (ids) and latest events with their deliveries.
    pub async fn app(&self, id: &str) -> Result<(AppRow, Vec<String>, Vec<(EventRow, Vec<DeliveryRow>)>), EngineError> {
        self.scope(Permission::ManageApps)?;
        let mut c = self.engine.store().read().await?;
        let app = api_store::app(&mut c, id).await.map_err(not_found(format!("应用 {id}")))?;
        let items = api_store::allowed_items(&mut c, &app.id).await?;
        let mut events = Vec::new();
        for e in api_store::events_of_app(&mut c, &app.id, 50).await? {
            let d = api_store::deliveries(&mut c, &e.id).await?;
            events.push((e, d));
        }
        Ok((app, items, events))
    }

    /// Who may read projects: those who manage them, and those who watch collection (finance's
    /// approvers decide their fee items; auditors look).
    fn project_scope(&self) -> Result<Scope, EngineError> {
        self.read_scope(&[Permission::ManageProjects, Permission::ViewCollection])
    }

    /// Projects the operator manages or watches: their departments' (or all).
    pub async fn projects(&self) -> Result<Vec<ProjectRow>, EngineError> {
        let scope = self.project_scope()?;
        let mut c = self.engine.store().read().await?;
        let all = project_store::all(&mut c).await?;
        Ok(all.into_iter().filter(|p| scope.covers_department(&p.department_id)).collect())
    }

    /// One managed project with its fields, its fee item and registrations (with payers).
    pub async fn project(&self, id: &str) -> Result<ProjectDetail, EngineError> {
        let scope = self.project_scope()?;
        let mut c = self.engine.store().read().await?;
        let p = project_store::get(&mut c, id).await.map_err(not_found(format!("项目 {id}")))?;
        if !scope.covers_department(&p.department_id) {
            return Err(EngineError::NotFound(format!("项目 {id}")));
        }
        let fields = project_store::fields(&mut c, id).await?;
        let item = receivables::fee_item(&mut c, &p.fee_item_id).await?;
        let mut registrations = Vec::new();
        for r in project_store::registrations_of_project(&mut c, id).await? {
            let payer = payers::payer(&mut c, &r.payer_id).await?;
            let receivable = match &r.receivable_id {
                Some(rid) => Some(receivables::receivable(&mut c, rid).await?),
                None => None,
            };
            registrations.push((r, payer, receivable));
        }
        Ok(ProjectDetail { project: p, fields, item, registrations })
    }
}

/// Channels as finance configures them.
pub struct ChannelsView {
    pub accounts: Vec<MerchantAccountRow>,
    pub routes: Vec<(String, bursar_domain::payment::ChannelKind, String)>,
    pub items: Vec<FeeItemRow>,
}

/// A project as its managers see it.
pub struct ProjectDetail {
    pub project: ProjectRow,
    pub fields: Vec<bursar_domain::project::Field>,
    pub item: FeeItemRow,
    pub registrations: Vec<(RegistrationRow, PayerRow, Option<ReceivableView>)>,
}
