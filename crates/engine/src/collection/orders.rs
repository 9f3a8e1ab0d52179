//! Orders: the receivable lines and amounts a payer chose to pay now.

use bursar_domain::access::{Permission, Principal, Scope};
use bursar_domain::order;
use bursar_domain::Fen;
use bursar_store::payments::{self as pay_store, OrderRow};
use bursar_store::{receivables, Conn, Tx};

use crate::engine::{log, require, Engine};
use crate::error::EngineError;

/// Checks one line against the rules and the payer's scope, in the caller's read or transaction;
/// `asked`: the payer is making it, so what the item asks must have been answered.
async fn check_line(
    c: &mut impl Conn,
    scope: &Scope,
    now_ms: i64,
    receivable_id: &str,
    amount: Fen,
    asked: bool,
) -> Result<(), EngineError> {
    let r = match receivables::receivable(c, receivable_id).await {
        Ok(r) if scope.covers_payer(&r.payer_id) => r,
        Ok(_) | Err(bursar_store::StoreError::NotFound(_)) => {
            return Err(EngineError::NotFound(format!("应收 {receivable_id}")))
        }
        Err(e) => return Err(e.into()),
    };
    r.rules().check_amount(now_ms, amount, r.outstanding()).map_err(|e| match e {
        bursar_domain::DomainError::NotPayable(n) => {
            bursar_domain::DomainError::Refused(format!("{}（{}）", n, r.item_name))
        }
        other => other,
    })?;
    if asked {
        super::answers::check_answered(c, &r).await?;
    }
    Ok(())
}

/// Whether an open order can be paid now: every line still within the rules (its fee item
/// collecting and in its window, the amount no more than is still owed) and, for a business
/// system's order, not past its expiry. Checked again when a payment starts, in its
/// transaction: an item stopped, or a bill paid meanwhile, after the order was made.
pub(crate) async fn check_order_payable(tx: &mut Tx, order: &OrderRow) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let scope = Scope::Payer(order.payer_id.clone());
    for l in pay_store::order_lines(tx, &order.id).await? {
        check_line(tx, &scope, now, &l.receivable_id, l.amount_fen, false).await?;
    }
    if let Some(api) = bursar_store::api::order_of(tx, &order.id).await? {
        if api.expires_at_ms <= now {
            return Err(EngineError::OrderNotOpen("已过期".into()));
        }
    }
    Ok(())
}

/// Checks every line against the rules (within `scope`) and inserts the order with its lines,
/// logged; returns its id.
pub(crate) async fn insert_checked_order(
    tx: &mut Tx,
    by: &Principal,
    scope: &Scope,
    payer_id: &str,
    lines: &[(String, Fen)],
    tag: &str,
) -> Result<String, EngineError> {
    let now = tx.now_ms;
    let mut total = Fen::ZERO;
    // The payer's own orders ask what the items ask; a cashier's and a business system's do not.
    let asked = tag.is_empty();
    for (rid, amount) in lines {
        check_line(tx, scope, now, rid, *amount, asked).await?;
        total = total.checked_add(*amount)?;
    }
    let order_id = tx.new_id();
    pay_store::insert_order(tx, &order_id, payer_id, total, now).await?;
    for (rid, amount) in lines {
        pay_store::insert_order_line(tx, &order_id, rid, *amount, Fen::ZERO).await?;
    }
    let detail = format!("{tag}total_fen={} lines={}", total.get(), lines.len());
    log(tx, by, "order.create", ("order", &order_id), ("", "open"), &detail).await?;
    Ok(order_id)
}

impl Engine {
    /// A cashier's order for a payer at the counter (the same rules as the payer's own).
    pub async fn create_counter_order(
        &self,
        by: &Principal,
        payer_id: &str,
        lines: &[(String, Fen)],
    ) -> Result<String, EngineError> {
        require(by, Permission::CollectAtCounter)?;
        order::check_lines(lines)?;
        let (by, lines, payer_id) = (by.clone(), lines.to_vec(), payer_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, lines, payer_id) = (by.clone(), lines.clone(), payer_id.clone());
                Box::pin(async move {
                    if let Some(cashier) = by.operator() {
                        crate::collection::day_close::check_till_open(tx, &cashier.id).await?;
                    }
                    let scope = Scope::Payer(payer_id.clone());
                    insert_checked_order(tx, &by, &scope, &payer_id, &lines, "counter ").await
                })
            })
            .await
    }

    /// A payer's order for their chosen receivable lines, after checking every rule: the
    /// receivable is theirs, its item is open, the amount is within what is owed and, for a part
    /// payment, allowed and at least the minimum.
    pub async fn create_order(&self, by: &Principal, lines: &[(String, Fen)]) -> Result<String, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let Scope::Payer(payer_id) = scope.clone() else {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::PayOwnFees)));
        };
        order::check_lines(lines)?;
        let (by, lines) = (by.clone(), lines.to_vec());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, lines, scope, payer_id) = (by.clone(), lines.clone(), scope.clone(), payer_id.clone());
                Box::pin(async move { insert_checked_order(tx, &by, &scope, &payer_id, &lines, "").await })
            })
            .await
    }

    /// The portal's 业务单: an unfinished order of the payer for exactly these lines is reused (so
    /// its detail shows every attempt to pay it) instead of making another.
    pub async fn create_or_reuse_order(&self, by: &Principal, lines: &[(String, Fen)]) -> Result<String, EngineError> {
        let scope = require(by, Permission::PayOwnFees)?;
        let Scope::Payer(payer_id) = &scope else {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::PayOwnFees)));
        };
        order::check_lines(lines)?;
        let mut wanted: Vec<(String, Fen)> = lines.to_vec();
        wanted.sort();
        {
            let mut c = self.store().read().await?;
            // The same rules as a new order: an order is reused only while it could be made now.
            let now = self.store().now_ms();
            for (rid, amount) in lines {
                if check_line(&mut c, &scope, now, rid, *amount, true).await.is_err() {
                    drop(c);
                    return self.create_order(by, lines).await; // refused there, with the reason
                }
            }
            for id in pay_store::open_portal_orders(&mut c, payer_id).await? {
                let mut have: Vec<(String, Fen)> = pay_store::order_lines(&mut c, &id)
                    .await?
                    .into_iter()
                    .map(|l| (l.receivable_id, l.amount_fen))
                    .collect();
                have.sort();
                let paid = pay_store::payments_of_order(&mut c, &id)
                    .await?
                    .iter()
                    .any(|p| p.state == bursar_domain::payment::PaymentState::Succeeded);
                if have == wanted && !paid {
                    return Ok(id);
                }
            }
        }
        self.create_order(by, lines).await
    }
}
