//! Finance's reads of payers: a search, and everything about one payer (receivables, payments
//! over every channel, credit, the operation log), within the operator's scope. A department
//! operator finds its own departments' payers, and anyone who owes its fee items (of whom it sees
//! only those receivables).

use bursar_domain::access::{Permission, Scope};
use bursar_domain::ledger::AccountRef;
use bursar_domain::payer::PayerKind;
use bursar_domain::Fen;
use bursar_store::oplog::{self, LogRow};
use bursar_store::payers::{self, PayerListRow, PayerRow, PayerSearch};
use bursar_store::payments::{self as pay_store, PaymentRow};
use bursar_store::receivables::{self, ReceivableView};

use crate::engine::require;
use crate::error::EngineError;
use crate::queries::operator::OperatorView;

/// Rows of one page of a payer search.
pub const PAGE: i64 = 50;

/// Everything about one payer.
pub struct PayerDossier {
    pub payer: PayerRow,
    pub department: Option<String>,
    pub receivables: Vec<ReceivableView>,
    pub payments: Vec<PaymentRow>,
    /// Each succeeded payment's receipt number, by payment id.
    pub receipts: std::collections::HashMap<String, String>,
    pub refunds: Vec<bursar_store::refunds::RefundRow>,
    /// What the roster says (major, grade, status, gender, ID type, year of entry).
    pub roster: Option<payers::RosterRow>,
    /// What the payer paid that nothing was owed for (their credit, waiting to be refunded).
    pub credit: Fen,
    pub log: Vec<LogRow>,
}

impl OperatorView<'_> {
    fn payer_scope(&self) -> Result<Option<Vec<String>>, EngineError> {
        Ok(match require(self.by(), Permission::ViewPayers)? {
            Scope::All => None,
            Scope::Departments(d) => Some(d),
            _ => Some(Vec::new()),
        })
    }

    /// A page of payers matching `text` (number prefix, part of the name, ID last four, class),
    /// after the cursor (the last row's identifier and id).
    pub async fn search_payers(
        &self,
        text: &str,
        kind: Option<PayerKind>,
        after: Option<(&str, &str)>,
    ) -> Result<Vec<PayerListRow>, EngineError> {
        let depts = self.payer_scope()?;
        let mut c = self.engine().store().read().await?;
        let s = PayerSearch { text, kind, departments: depts.as_deref(), after, limit: PAGE + 1 };
        Ok(payers::search(&mut c, &s).await?)
    }

    /// One payer's dossier (`NotFound` outside the operator's scope).
    pub async fn payer_dossier(&self, id: &str) -> Result<PayerDossier, EngineError> {
        let depts = self.payer_scope()?;
        let mut c = self.engine().store().read().await?;
        let payer = match payers::payer(&mut c, id).await {
            Ok(p) => p,
            Err(bursar_store::StoreError::NotFound(_)) => return Err(EngineError::NotFound(format!("缴费人 {id}"))),
            Err(e) => return Err(e.into()),
        };
        let department = match &payer.department_id {
            Some(d) => payers::department_name(&mut c, d).await?,
            None => None,
        };
        let receivables = receivables::for_payer(&mut c, &payer.id).await?;
        if let Some(d) = &depts {
            if !payer.department_id.as_ref().is_some_and(|p| d.contains(p)) {
                // Another department's payer: a charging department sees only what they owe its
                // own fee items (to ask for a reduction or a deferral), nothing else of them.
                let mine: Vec<ReceivableView> =
                    receivables.into_iter().filter(|r| d.contains(&r.department_id)).collect();
                if mine.is_empty() {
                    return Err(EngineError::NotFound(format!("缴费人 {id}")));
                }
                return Ok(PayerDossier {
                    payer,
                    department,
                    receivables: mine,
                    payments: Vec::new(),
                    receipts: Default::default(),
                    refunds: Vec::new(),
                    roster: None,
                    credit: Fen::ZERO,
                    log: Vec::new(),
                });
            }
        }
        let payments = pay_store::payments_of_payer(&mut c, &payer.id).await?;
        let credit = bursar_store::ledger::balance(&mut c, &AccountRef::payer_credit(&payer.id)).await?;
        let log = oplog::about_payer(&mut c, &payer.id).await?;
        let mut receipts = std::collections::HashMap::new();
        for p in payments.iter().filter(|p| p.state == bursar_domain::payment::PaymentState::Succeeded) {
            if let Some(r) = bursar_store::receipts::for_payment(&mut c, &p.id).await? {
                receipts.insert(p.id.clone(), r.number);
            }
        }
        let refunds = bursar_store::refunds::of_payer(&mut c, &payer.id).await?;
        let roster = payers::roster_row(&mut c, &payer.id).await?;
        Ok(PayerDossier {
            payer,
            department,
            receivables,
            payments,
            receipts,
            refunds,
            roster,
            credit: Fen(-credit.get()),
            log,
        })
    }
}
