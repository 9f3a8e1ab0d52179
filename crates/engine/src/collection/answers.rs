//! What a payer answers when paying a fee item that asks for something (发票抬头, 考生号…):
//! checked against the item's fields, kept per receivable (the latest answers), and required
//! before the payer's own order of it is made. Finance reads them as an export of the item.

use std::collections::BTreeMap;

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::project::{check_answers, Field};
use bursar_store::{receivables as rec_store, Conn, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// A receivable of the payer in `scope`, or not found.
async fn own_receivable(
    c: &mut impl Conn,
    scope: &Scope,
    receivable_id: &str,
) -> Result<rec_store::ReceivableView, EngineError> {
    match rec_store::receivable(c, receivable_id).await {
        Ok(r) if scope.covers_payer(&r.payer_id) => Ok(r),
        Ok(_) | Err(bursar_store::StoreError::NotFound(_)) => Err(EngineError::NotFound("应收".into())),
        Err(e) => Err(e.into()),
    }
}

fn parse_answers(json: &str) -> Result<BTreeMap<String, String>, EngineError> {
    serde_json::from_str(json).map_err(|e| bursar_store::StoreError::Corrupt(format!("answers: {e}")).into())
}

impl Engine {
    /// Keeps the payer's answers to a receivable's fee-item fields (checked; the latest kept).
    /// Nothing to answer: nothing kept.
    pub async fn answer_fee_fields(
        &self,
        by: &Principal,
        receivable_id: &str,
        answers: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let (by, rid, answers) = (by.clone(), receivable_id.to_string(), answers.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, rid, answers, scope) = (by.clone(), rid.clone(), answers.clone(), scope.clone());
                Box::pin(async move {
                    let r = own_receivable(tx, &scope, &rid).await?;
                    let fields = r.fields();
                    if fields.is_empty() {
                        return Ok(());
                    }
                    let checked =
                        check_answers(&fields, &answers).map_err(|e| refused(format!("{}：{e}", r.item_name)))?;
                    let json = serde_json::to_string(&checked)
                        .map_err(|e| bursar_store::StoreError::Corrupt(format!("answers: {e}")))?;
                    if rec_store::answers(tx, &rid).await?.as_deref() == Some(json.as_str()) {
                        return Ok(());
                    }
                    rec_store::set_answers(tx, &rid, &json).await?;
                    // The names answered, never the answers (they may be personal).
                    let names: Vec<&str> = checked.keys().map(String::as_str).collect();
                    let detail = format!("fields={}", names.join(","));
                    log(tx, &by, "receivable.answers", ("receivable", &rid), ("", ""), &detail).await
                })
            })
            .await
    }

    /// The payer's own answers to a receivable's fields (empty when none were given).
    pub async fn fee_answers(
        &self,
        by: &Principal,
        receivable_id: &str,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let mut c = self.store().read().await?;
        own_receivable(&mut c, &scope, receivable_id).await?;
        match rec_store::answers(&mut c, receivable_id).await? {
            Some(json) => parse_answers(&json),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Every answer given for a fee item's receivables, for finance's export: the item's fields
    /// and, per payer, (number, name, year, answers by field name, when).
    pub async fn fee_item_answers(
        &self,
        by: &Principal,
        fee_item_id: &str,
    ) -> Result<(Vec<Field>, Vec<(rec_store::AnswerRow, BTreeMap<String, String>)>), EngineError> {
        let scope = require(by, Permission::ViewCollection)?;
        let mut c = self.store().read().await?;
        let item = rec_store::fee_item(&mut c, fee_item_id).await.map_err(crate::error::not_found("收费项目"))?;
        if !scope.covers_fee_item(&item.id, &item.department_id) {
            return Err(EngineError::NotFound("收费项目".into()));
        }
        let mut out = Vec::new();
        for row in rec_store::answers_of_item(&mut c, &item.id, EXPORT_LIMIT).await? {
            let answers = parse_answers(&row.answers)?;
            out.push((row, answers));
        }
        Ok((item.fields(), out))
    }
}

/// Most rows one export holds.
pub const EXPORT_LIMIT: i64 = 100_000;

/// Before the payer's own order: every required field of the line's item is answered.
pub(crate) async fn check_answered(c: &mut impl Conn, r: &rec_store::ReceivableView) -> Result<(), EngineError> {
    let fields = r.fields();
    if !fields.iter().any(|f| f.required) {
        return Ok(());
    }
    let given = match rec_store::answers(c, &r.id).await? {
        Some(json) => parse_answers(&json)?,
        None => BTreeMap::new(),
    };
    check_answers(&fields, &given).map_err(|e| refused(format!("{}：{e}", r.item_name)))?;
    Ok(())
}
