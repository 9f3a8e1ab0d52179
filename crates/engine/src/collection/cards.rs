//! The campus card as a payment channel: the wallet's balance is its account in Bursar's ledger,
//! so paying from it is one transaction — take the card (active, password just checked), check
//! the balance, record the payment and credit it (Dr card wallet / Cr receivable).

use bursar_domain::access::{Permission, Principal};
use bursar_domain::card::CardState;
use bursar_domain::ledger::{self, AccountRef};
use bursar_domain::order::OrderState;
use bursar_domain::payment::{ChannelKind, ChannelOutcome, PayMethod};
use bursar_domain::time_fmt;
use bursar_domain::Fen;
use bursar_store::cards::{self, CardRow};
use bursar_store::payments::{self as pay_store, NewPayment, PaymentRow};
use bursar_store::{StoreError, Tx};

use crate::collection::apply::{apply_in_tx, ApplyResult};
use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

/// Wrong card passwords allowed before the card is locked for [`CARD_LOCK_MS`].
pub const CARD_MAX_FAILURES: i64 = 5;
pub const CARD_LOCK_MS: i64 = 30 * 60 * 1000;

impl Engine {
    /// Issues a campus card to a payer with an (already hashed) card password.
    pub async fn issue_card(
        &self,
        by: &Principal,
        payer_id: &str,
        card_no: &str,
        password_hash: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManagePayers)?;
        let (by, payer_id, card_no, hash) =
            (by.clone(), payer_id.to_string(), card_no.to_string(), password_hash.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, payer_id, card_no, hash) = (by.clone(), payer_id.clone(), card_no.clone(), hash.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    cards::insert(tx, &card_no, &payer_id, &hash, now).await?;
                    log(tx, &by, "card.issue", ("campus_card", &card_no), ("", "active"), "").await
                })
            })
            .await
    }

    /// Loads money onto a card (圈存, subsidy): Dr `from` / Cr the card's wallet. `load_id` makes
    /// it idempotent (the same load posted twice is refused by the ledger's unique source).
    pub async fn load_card(
        &self,
        by: &Principal,
        card_no: &str,
        amount: Fen,
        from: AccountRef,
        load_id: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ManagePayers)?;
        let entry = ledger::card_loaded(load_id, card_no, from, amount)?;
        let (by, card_no, load_id) = (by.clone(), card_no.to_string(), load_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, card_no, load_id, entry) = (by.clone(), card_no.clone(), load_id.clone(), entry.clone());
                Box::pin(async move {
                    if cards::by_no(tx, &card_no).await?.is_none() {
                        return Err(EngineError::NotFound(format!("校园卡 {card_no}")));
                    }
                    bursar_store::ledger::post(tx, &entry).await?;
                    let detail = format!("amount_fen={} load_id={load_id}", amount.get());
                    log(tx, &by, "card.load", ("campus_card", &card_no), ("", ""), &detail).await
                })
            })
            .await
    }

    /// The card's wallet balance (what the school owes the cardholder).
    pub async fn card_balance(&self, card_no: &str) -> Result<Fen, EngineError> {
        let mut c = self.store().read().await?;
        let b = bursar_store::ledger::balance(&mut c, &AccountRef::card_wallet(card_no)).await?;
        Ok(Fen(-b.get()))
    }

    pub async fn card_of(&self, payer_id: &str) -> Result<Option<CardRow>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(cards::of_payer(&mut c, payer_id).await?)
    }

    /// Pays an open order from the payer's campus card. `password_ok` checks the entered card
    /// password against the stored hash. A wrong password counts towards locking the card; a
    /// short balance changes nothing.
    pub async fn pay_with_card<F>(
        &self,
        by: &Principal,
        order_id: &str,
        password_ok: F,
    ) -> Result<PaymentRow, EngineError>
    where
        F: FnOnce(&str) -> bool,
    {
        let scope = require(by, Permission::PayOwnFees)?;
        let bursar_domain::Scope::Payer(payer_id) = scope else {
            return Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::PayOwnFees)));
        };
        // The caller's own order, before anything is done to it (closing its live payment).
        {
            let mut c = self.store().read().await?;
            let order = pay_store::order(&mut c, order_id).await.map_err(not_found(format!("订单 {order_id}")))?;
            if order.payer_id != payer_id {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
        }
        self.route(order_id, ChannelKind::CampusCard).await?;
        let now = self.store().now_ms();
        let card =
            self.card_of(&payer_id).await?.ok_or_else(|| EngineError::CardUnavailable("尚未开通校园卡".into()))?;
        if card.state != CardState::Active {
            return Err(EngineError::CardUnavailable("校园卡已挂失或停用".into()));
        }
        if let Some(until) = card.locked_until_ms.filter(|u| *u > now) {
            return Err(EngineError::CardUnavailable(format!(
                "密码错误次数过多，已锁定至 {}",
                time_fmt::datetime_cst(until)
            )));
        }
        if !password_ok(&card.password_hash) {
            let card_no = card.card_no.clone();
            self.store()
                .write(|tx: &mut Tx| {
                    let card_no = card_no.clone();
                    Box::pin(async move {
                        let now = tx.now_ms;
                        cards::record_failure(tx, &card_no, CARD_MAX_FAILURES, CARD_LOCK_MS, now).await
                    })
                })
                .await?;
            let remaining = (CARD_MAX_FAILURES - card.failed_attempts - 1).max(0);
            return Err(if remaining == 0 {
                EngineError::CardUnavailable("密码错误次数过多，已锁定 30 分钟".into())
            } else {
                EngineError::CardPassword(remaining)
            });
        }
        // Another live payment of the order is closed first (one payment at a time).
        if self.make_way(order_id, None).await?.is_some() {
            return Err(refused("该订单有一笔支付正在进行，请稍后再试"));
        }
        let (by, order_id) = (by.clone(), order_id.to_string());
        let payment_id = self
            .store()
            .write(|tx: &mut Tx| {
                let (by, order_id, payer_id, card) = (by.clone(), order_id.clone(), payer_id.clone(), card.clone());
                Box::pin(async move { card_payment_in_tx(tx, &by, &order_id, &payer_id, &card).await })
            })
            .await?;
        let mut c = self.store().read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }
}

/// Takes the card (a row lock on PostgreSQL; SQLite's writer lock serialises), checks the
/// balance, records the payment and credits it, in one transaction.
async fn card_payment_in_tx(
    tx: &mut Tx,
    by: &Principal,
    order_id: &str,
    payer_id: &str,
    card: &CardRow,
) -> Result<String, EngineError> {
    let now = tx.now_ms;
    if !cards::take_for_payment(tx, &card.card_no, &card.password_hash, now).await? {
        return Err(EngineError::CardUnavailable("校园卡状态已变化，请重试".into()));
    }
    let order = pay_store::order(tx, order_id).await?;
    if order.payer_id != payer_id {
        return Err(EngineError::NotFound(format!("订单 {order_id}")));
    }
    if order.state != OrderState::Open {
        return Err(EngineError::OrderNotOpen(order.state.label_zh().into()));
    }
    crate::collection::orders::check_order_payable(tx, &order).await?;
    let wallet = AccountRef::card_wallet(&card.card_no);
    let balance = Fen(-bursar_store::ledger::balance(tx, &wallet).await?.get());
    let needed = order.total_fen;
    if balance < needed {
        return Err(EngineError::InsufficientBalance { balance, needed });
    }
    let payment_id = tx.new_id();
    let merchant_order_no = tx.new_id();
    let p = NewPayment {
        id: &payment_id,
        order_id,
        payer_id,
        method: PayMethod::CampusCard,
        merchant_id: &card.card_no,
        merchant_order_no: &merchant_order_no,
        amount: needed,
        expires_at_ms: now,
        collected_by: by.operator().map(|o| o.id.as_str()),
    };
    pay_store::insert_payment(tx, &p, now).await.map_err(|e| match e {
        StoreError::Duplicate(_) => refused("该订单有一笔支付正在进行，请稍后再试"),
        other => other.into(),
    })?;
    let detail = format!("method=campus_card amount_fen={} card={}", needed.get(), card.card_no);
    log(tx, by, "payment.create", ("payment", &payment_id), ("", "created"), &detail).await?;
    let outcome =
        ChannelOutcome::Paid { channel_txn_id: format!("CARD{payment_id}"), amount_fen: needed.get(), paid_at_ms: now };
    match apply_in_tx(tx, by, &merchant_order_no, &outcome).await? {
        ApplyResult::Credited { .. } => Ok(payment_id),
        other => Err(EngineError::Invariant(format!("card payment {payment_id} was not credited: {other:?}"))),
    }
}
