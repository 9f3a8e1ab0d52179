//! Setting a school up: departments, payers in bulk, bills raised in bulk, fee items brought in
//! by the school's own configuration, campus cards. Each is an engine command (permission
//! checked, one transaction, logged); the demo seed and the command line use them.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payer::{mask_id_number, PayerKind};
use bursar_domain::Fen;
use bursar_store::payers::{self, NewPayer};
use bursar_store::receivables::{self as rec_store, NewFeeItem};
use bursar_store::{StoreError, Tx};

use crate::access::passwords::id_number_digest;
use crate::collection::fee_items::{check_profile, set_item_channels};
use crate::collection::receivables::{raise_receivable, Raise, RaiseMode, Raised};
use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// A payer to add.
#[derive(Clone, Debug)]
pub struct PayerInput {
    pub kind: PayerKind,
    pub identifier: String,
    pub name: String,
    /// The plain ID document number: only its mask and keyed digest are kept.
    pub id_number: String,
    pub phone: String,
    pub department_id: Option<String>,
    pub class_name: String,
    /// An argon2id hash (hashing is slow: callers hash in parallel), or `!` for none.
    pub password_hash: String,
    /// Whether the initial password must be changed at the first login.
    pub must_change_password: bool,
}

/// A bill to raise.
#[derive(Clone, Debug)]
pub struct BillInput {
    pub payer_id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    pub amount: Fen,
}

/// A fee item the school's own configuration brings (seed, migration from another system).
#[derive(Clone, Debug)]
pub struct ConfiguredFeeItem {
    pub code: String,
    pub name: String,
    pub department_id: String,
    pub fee_type: FeeType,
    pub collecting: bool,
    pub window: Option<(i64, i64)>,
    pub min_partial: Option<Fen>,
    /// Whom it is for, its receipt and its notice.
    pub profile: bursar_domain::audience::Profile,
}

impl Engine {
    /// Adds a department; returns its id.
    pub async fn create_department(&self, by: &Principal, code: &str, name: &str) -> Result<String, EngineError> {
        require(by, Permission::ManageSettings)?;
        let (by, code, name) = (by.clone(), code.trim().to_string(), name.trim().to_string());
        if code.is_empty() || name.is_empty() {
            return Err(refused("请填写部门编码和名称"));
        }
        self.store()
            .write(|tx: &mut Tx| {
                let (by, code, name) = (by.clone(), code.clone(), name.clone());
                Box::pin(async move {
                    let id = tx.new_id();
                    payers::insert_department(tx, &id, &code, &name).await?;
                    log(tx, &by, "department.create", ("department", &id), ("", "active"), &code).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Adds payers in one transaction; returns their ids in order. A number already used by a
    /// payer of the same kind refuses the whole batch.
    pub async fn add_payers(&self, by: &Principal, list: &[PayerInput]) -> Result<Vec<String>, EngineError> {
        require(by, Permission::ManagePayers)?;
        let key = self.config().id_digest_key.clone();
        let (by, list) = (by.clone(), list.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, list, key) = (by.clone(), list.clone(), key.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    let mut ids = Vec::with_capacity(list.len());
                    for p in &list {
                        let id = tx.new_id();
                        let digest =
                            if p.id_number.is_empty() { String::new() } else { id_number_digest(&key, &p.id_number) };
                        let masked = if p.id_number.is_empty() { String::new() } else { mask_id_number(&p.id_number) };
                        let row = NewPayer {
                            kind: p.kind,
                            identifier: &p.identifier,
                            name: &p.name,
                            id_number_masked: &masked,
                            id_number_digest: &digest,
                            phone: &p.phone,
                            department_id: p.department_id.as_deref(),
                            class_name: &p.class_name,
                            password_hash: &p.password_hash,
                        };
                        payers::insert_payer(tx, &id, &row, now).await.map_err(|e| match e {
                            StoreError::Duplicate(_) => refused(format!("缴费人 {} 已存在", p.identifier)),
                            other => other.into(),
                        })?;
                        if !p.must_change_password {
                            payers::set_payer_password(tx, &id, &p.password_hash, false).await?;
                        }
                        ids.push(id);
                    }
                    let detail = format!("payers={}", list.len());
                    log(
                        tx,
                        &by,
                        "payer.add",
                        ("payer_batch", &ids.first().cloned().unwrap_or_default()),
                        ("", ""),
                        &detail,
                    )
                    .await?;
                    Ok(ids)
                })
            })
            .await
    }

    /// Raises bills in one transaction (each at most once per payer, item and year: an existing
    /// one is left as it is). Returns how many were created.
    pub async fn raise_bills(&self, by: &Principal, bills: &[BillInput], source: &str) -> Result<usize, EngineError> {
        require(by, Permission::RaiseReceivables)?;
        let (by, bills, source) = (by.clone(), bills.to_vec(), source.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, bills, source) = (by.clone(), bills.clone(), source.clone());
                Box::pin(async move {
                    let mut created = 0;
                    for b in &bills {
                        let raise = Raise {
                            payer_id: &b.payer_id,
                            fee_item_id: &b.fee_item_id,
                            academic_year: &b.academic_year,
                            amount: b.amount,
                            mode: RaiseMode::Bill,
                            source: &source,
                        };
                        if let Raised::Created(_) = raise_receivable(tx, &by, &raise).await? {
                            created += 1;
                        }
                    }
                    Ok(created)
                })
            })
            .await
    }

    /// A fee item the school's configuration brings, recorded as approved by that configuration
    /// (only Bursar's own setup jobs — the demo seed, the command line — may do this; operators
    /// apply and finance approves). Returns its id.
    pub async fn configure_fee_item(&self, by: &Principal, f: &ConfiguredFeeItem) -> Result<String, EngineError> {
        if !matches!(by, Principal::System(_)) {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::RunSystemJobs)));
        }
        let (by, f) = (by.clone(), f.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, f) = (by.clone(), f.clone());
                Box::pin(async move {
                    let id = tx.new_id();
                    let now = tx.now_ms;
                    let actor = by.actor_ref();
                    check_profile(&f.profile)?;
                    let profile = f.profile.clone();
                    let item = NewFeeItem {
                        code: &f.code,
                        name: &f.name,
                        department_id: &f.department_id,
                        fee_type: f.fee_type,
                        status: if f.collecting { FeeItemStatus::Collecting } else { FeeItemStatus::Stopped },
                        window_start_ms: f.window.map(|w| w.0),
                        window_end_ms: f.window.map(|w| w.1),
                        partial_allowed: f.min_partial.is_some(),
                        min_partial: f.min_partial.unwrap_or(Fen::ZERO),
                        requested_by: &actor,
                        request_note: "学校配置导入",
                        profile: &profile,
                    };
                    rec_store::insert_fee_item(tx, &id, &item, now).await?;
                    rec_store::set_fee_item_decision(tx, &id, &actor, "学校配置导入").await?;
                    set_item_channels(tx, &id, &[]).await?;
                    log(tx, &by, "fee_item.configure", ("fee_item", &id), ("", item.status.as_str()), &f.code).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Records a merchant account whose adapter is installed in this process (the deterministic
    /// simulation's channel): no configuration, no secrets. Bursar's own setup jobs only.
    pub async fn record_installed_merchant(
        &self,
        by: &Principal,
        channel: bursar_domain::payment::ChannelKind,
        merchant_no: &str,
        name: &str,
    ) -> Result<String, EngineError> {
        if !matches!(by, Principal::System(_)) {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::RunSystemJobs)));
        }
        let (by, merchant_no, name) = (by.clone(), merchant_no.to_string(), name.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, merchant_no, name) = (by.clone(), merchant_no.clone(), name.clone());
                Box::pin(async move {
                    let new_id = tx.new_id();
                    let now = tx.now_ms;
                    let m = bursar_store::merchants::NewMerchantAccount {
                        id: &new_id,
                        channel,
                        merchant_no: &merchant_no,
                        name: &name,
                        settings: "{}",
                        sealed_secrets: "",
                    };
                    let id = bursar_store::merchants::upsert(tx, &m, now).await?;
                    log(tx, &by, "merchant.register", ("merchant_account", &id), ("", "active"), &merchant_no).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// How many payers the school has (the demo seeds an empty store only).
    pub async fn payer_count(&self) -> Result<i64, EngineError> {
        let mut c = self.store().read().await?;
        Ok(payers::count_payers(&mut c).await?)
    }

    /// The principal of an operator by user name (setup and tests act as a given operator).
    pub async fn operator_principal(&self, username: &str) -> Result<Option<Principal>, EngineError> {
        let mut c = self.store().read().await?;
        let Some(op) = payers::operator_by_username(&mut c, username).await? else { return Ok(None) };
        Ok(payers::operator_principal(&mut c, &op.id).await?.map(Principal::Operator))
    }
}
