//! Filing only (备案): the school may let some kinds of fee item (an exam's registration fee, a
//! conference fee…) need no review — an application is then filed at once and waits, stopped, for
//! finance to set its channels and open it. Tuition and accommodation always need the finance
//! approver. The setting is changed in 系统设置, with a reason, logged.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::fee::FeeType;
use bursar_store::{settings, Conn, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

const SETTING: &str = "fee_item.filing_types";

/// The kinds of item that are filed rather than reviewed.
pub(crate) async fn filed_types(c: &mut impl Conn) -> Result<Vec<FeeType>, EngineError> {
    let text = settings::get(c, SETTING).await?.unwrap_or_default();
    Ok(text.split(',').filter_map(|t| FeeType::parse(t.trim())).filter(|t| t.may_be_filed()).collect())
}

impl Engine {
    /// The kinds of fee item that need only filing.
    pub async fn filing_types(&self) -> Result<Vec<FeeType>, EngineError> {
        let mut c = self.store().read().await?;
        filed_types(&mut c).await
    }

    /// Sets which kinds of fee item need only filing (系统参数设置), with a reason when any is.
    pub async fn set_filing_types(&self, by: &Principal, types: &[FeeType], reason: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        if let Some(t) = types.iter().find(|t| !t.may_be_filed()) {
            return Err(refused(format!("{}须经财务审核，不能只备案", t.label_zh())));
        }
        let reason = reason.trim().to_string();
        if !types.is_empty() && reason.is_empty() {
            return Err(refused("设置只需备案的收费类型须填写原因（例如学校文件号）"));
        }
        if reason.chars().count() > 200 {
            return Err(refused("原因不超过 200 字"));
        }
        let mut codes: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let after = codes.join(",");
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, after, reason) = (by.clone(), after.clone(), reason.clone());
                Box::pin(async move {
                    let before = settings::get(tx, SETTING).await?.unwrap_or_default();
                    if before == after {
                        return Ok(());
                    }
                    settings::set(tx, SETTING, &after).await?;
                    log(tx, &by, "settings.filing_types", ("setting", SETTING), (&before, &after), &reason).await
                })
            })
            .await
    }
}
