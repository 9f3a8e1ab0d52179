//! Raising receivables: the one function every path uses (the demo seed, imports, project
//! registrations, business systems' orders and bulk pushes), with one rule for a receivable that
//! already exists.
//!
//! A payer owes a fee item once per academic year: one receivable per (payer, fee item, year).
//! Raising it again depends on what is being raised:
//! - a **bill** ([`RaiseMode::Bill`]: imports, rules, bulk pushes, registrations) is raised once;
//!   the existing receivable is returned and nothing changes;
//! - an **order's charge** ([`RaiseMode::Charge`]: a business system's order) attaches to the
//!   existing receivable while it still owes at least the amount (the same charge — nothing is
//!   doubled), and otherwise adds the amount to it as a new charge (another purchase of the item
//!   that year), with its own once-only ledger entry.

use bursar_domain::access::Principal;
use bursar_domain::ledger;
use bursar_domain::Fen;
use bursar_store::{payers, receivables as rec_store, Tx};

use crate::engine::log;
use crate::error::{refused, EngineError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaiseMode {
    Bill,
    /// The order the charge belongs to names the ledger entry of an added amount.
    Charge,
}

/// What to raise.
#[derive(Clone, Debug)]
pub struct Raise<'a> {
    pub payer_id: &'a str,
    pub fee_item_id: &'a str,
    pub academic_year: &'a str,
    pub amount: Fen,
    pub mode: RaiseMode,
    /// What caused it (an order id, an import, a registration), for the ledger and the log.
    pub source: &'a str,
}

/// What raising did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raised {
    /// A new receivable.
    Created(String),
    /// The bill existed: nothing changed.
    Existing(String),
    /// The charge attached to what the payer already owes: nothing changed.
    Attached(String),
}

impl Raised {
    pub fn receivable_id(&self) -> &str {
        match self {
            Raised::Created(id) | Raised::Existing(id) | Raised::Attached(id) => id,
        }
    }
    /// How much this raise added to what the payer owes.
    pub fn raised(&self, amount: Fen) -> Fen {
        match self {
            Raised::Created(_) => amount,
            Raised::Existing(_) | Raised::Attached(_) => Fen::ZERO,
        }
    }
}

/// Raises (or finds) a receivable in the caller's transaction: the row, its ledger entry (Dr
/// receivable / Cr fee income) and the operation-log line, together.
pub async fn raise_receivable(tx: &mut Tx, by: &Principal, r: &Raise<'_>) -> Result<Raised, EngineError> {
    if !r.amount.is_positive() {
        return Err(bursar_domain::DomainError::NonPositiveAmount.into());
    }
    let now = tx.now_ms;
    if let Some(existing) = rec_store::find(tx, r.payer_id, r.fee_item_id, r.academic_year).await? {
        return match r.mode {
            RaiseMode::Bill => Ok(Raised::Existing(existing.id)),
            RaiseMode::Charge if existing.outstanding() >= r.amount => Ok(Raised::Attached(existing.id)),
            // Never added to what is owed: a second charge for the same item and year is refused.
            RaiseMode::Charge => Err(crate::error::refused(format!(
                "已有应收，尚欠 ¥{}，不能再加收 ¥{}",
                existing.outstanding(),
                r.amount
            ))),
        };
    }
    check_audience(tx, r.fee_item_id, r.payer_id).await?;
    let id = tx.new_id();
    rec_store::insert_receivable(tx, &id, r.payer_id, r.fee_item_id, r.academic_year, r.amount, now).await?;
    bursar_store::ledger::post(tx, &ledger::receivable_raised(&id, r.fee_item_id, r.amount)?).await?;
    let detail = format!(
        "payer={} fee_item={} year={} due_fen={} source={}",
        r.payer_id,
        r.fee_item_id,
        r.academic_year,
        r.amount.get(),
        r.source
    );
    log(tx, by, "receivable.raise", ("receivable", &id), ("", "open"), &detail).await?;
    Ok(Raised::Created(id))
}

/// A new receivable's payer must be among those its fee item is for (收费对象).
async fn check_audience(tx: &mut Tx, fee_item_id: &str, payer_id: &str) -> Result<(), EngineError> {
    let item = rec_store::fee_item(tx, fee_item_id).await?;
    let audience = item.audience();
    if audience.is_everyone() {
        return Ok(());
    }
    let m = payers::member(tx, payer_id).await?;
    audience.admits(&m.member()).map_err(|why| refused(format!("“{}”{why}", item.name)))
}

/// Every new bill's payer must be among those its fee item is for. The callers leave such
/// payers out with a reason first; this holds the rule for any other caller.
async fn check_audiences(tx: &mut Tx, new: &[(String, &Bill)]) -> Result<(), EngineError> {
    use std::collections::BTreeMap;
    let mut by_item: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, b) in new {
        by_item.entry(b.fee_item_id.as_str()).or_default().push(b.payer_id.as_str());
    }
    for (item_id, payer_ids) in by_item {
        let item = rec_store::fee_item(tx, item_id).await?;
        let audience = item.audience();
        if audience.is_everyone() {
            continue;
        }
        let members = payers::members(tx, &payer_ids).await?;
        for id in payer_ids {
            let m = members.get(id).ok_or_else(|| EngineError::NotFound("缴费人".into()))?;
            audience.admits(&m.member()).map_err(|why| refused(format!("“{}”{why}", item.name)))?;
        }
    }
    Ok(())
}

/// Bills written per round of a bulk raise.
const BULK_CHUNK: usize = 5_000;

/// One bill of a bulk raise (an import, a raise by the standard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bill {
    pub payer_id: String,
    pub fee_item_id: String,
    pub academic_year: String,
    pub amount: Fen,
    /// 备注 (empty: none).
    pub note: String,
}

/// What a bulk raise did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkRaised {
    pub created: usize,
    /// Raised before (same payer, item and year): left alone, as [`RaiseMode::Bill`] does.
    pub existing: usize,
    pub total: Fen,
}

/// Raises many bills in the caller's transaction, in bulk: the same rows and ledger entries as
/// [`raise_receivable`] gives each (Dr receivable / Cr fee income), written with multi-row
/// inserts; bills already raised are left alone. The caller writes one operation-log line for
/// the batch (who, what, how many, the total) and checks the permission.
pub async fn raise_many(tx: &mut Tx, bills: &[Bill]) -> Result<BulkRaised, EngineError> {
    use std::collections::{BTreeSet, HashMap, HashSet};
    let mut out = BulkRaised::default();
    let pairs: BTreeSet<(&str, &str)> =
        bills.iter().map(|b| (b.fee_item_id.as_str(), b.academic_year.as_str())).collect();
    let mut raised: HashMap<(&str, &str), rec_store::RaisedFor> = HashMap::new();
    for (item, year) in pairs {
        raised.insert((item, year), rec_store::raised_for(tx, item, year).await?);
    }
    let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
    let mut new: Vec<(String, &Bill)> = Vec::with_capacity(bills.len());
    for b in bills {
        if !b.amount.is_positive() {
            return Err(bursar_domain::DomainError::NonPositiveAmount.into());
        }
        let already = raised[&(b.fee_item_id.as_str(), b.academic_year.as_str())].contains_key(&b.payer_id);
        if already || !seen.insert((&b.payer_id, &b.fee_item_id, &b.academic_year)) {
            out.existing += 1;
            continue;
        }
        new.push((tx.new_id(), b));
    }
    check_audiences(tx, &new).await?;
    // A chunk at a time, so that a year's receivables never sit in memory as rows and entries
    // all at once.
    for chunk in new.chunks(BULK_CHUNK) {
        let mut entries = Vec::with_capacity(chunk.len());
        let mut rows = Vec::with_capacity(chunk.len());
        for (id, b) in chunk {
            entries.push(ledger::receivable_raised(id, &b.fee_item_id, b.amount)?);
            rows.push(rec_store::NewReceivable {
                id,
                payer_id: &b.payer_id,
                fee_item_id: &b.fee_item_id,
                academic_year: &b.academic_year,
                due: b.amount,
                note: &b.note,
            });
            out.total = out.total.checked_add(b.amount)?;
        }
        rec_store::insert_receivables(tx, &rows).await?;
        bursar_store::ledger::post_many(tx, &entries).await?;
    }
    out.created = new.len();
    assert_eq!(out.created + out.existing, bills.len(), "every bill is either raised or left alone");
    Ok(out)
}
