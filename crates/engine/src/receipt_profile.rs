//! What a school's payment vouchers (缴费凭证) say about the school: the receiving unit (收款单位),
//! set in 系统设置 and logged; until it is set, the school's own name.

use bursar_domain::access::{Permission, Principal};
use bursar_store::{settings, Tx};

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

const RECEIVING_UNIT: &str = "receipt.receiving_unit";
/// Longest receiving unit's name.
pub const MAX_UNIT_CHARS: usize = 60;

impl Engine {
    /// The receiving unit vouchers name, when the school set one.
    pub async fn receiving_unit(&self) -> Result<Option<String>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(settings::get(&mut c, RECEIVING_UNIT).await?.filter(|u| !u.is_empty()))
    }

    /// Sets the receiving unit (empty: back to the school's name).
    pub async fn set_receiving_unit(&self, by: &Principal, name: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let name = name.trim().to_string();
        if name.chars().count() > MAX_UNIT_CHARS || name.chars().any(char::is_control) {
            return Err(refused(format!("收款单位名称不超过 {MAX_UNIT_CHARS} 字，且不能含控制字符")));
        }
        let by = by.clone();
        self.store()
            .write(|tx: &mut Tx| {
                let (by, name) = (by.clone(), name.clone());
                Box::pin(async move {
                    let before = settings::get(tx, RECEIVING_UNIT).await?.unwrap_or_default();
                    if before == name {
                        return Ok(());
                    }
                    settings::set(tx, RECEIVING_UNIT, &name).await?;
                    log(tx, &by, "settings.receiving_unit", ("setting", RECEIVING_UNIT), (&before, &name), "").await
                })
            })
            .await
    }
}
