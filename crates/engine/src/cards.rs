//! The campus card as a payment channel: the wallet's balance is its account in Bursar's ledger,
//! so paying from it is one transaction — take the card (active, password just checked), check
//! the balance, record the payment and credit it (Dr card wallet / Cr receivable).

use bursar_domain::ledger::{self, AccountRef};
use bursar_domain::order::OrderState;
use bursar_domain::payment::{ChannelKind, ChannelOutcome, PayMethod};
use bursar_domain::time_fmt;
use bursar_domain::Fen;
use bursar_store::cards::{self, CardRow};
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::payments::{self as pay_store, NewPayment, PaymentRow};
use bursar_store::Tx;

use crate::error::EngineError;
use crate::payments::{apply_in_tx, ApplyResult, Engine};

/// Wrong card passwords allowed before the card is locked for [`CARD_LOCK_MS`].
pub const CARD_MAX_FAILURES: i64 = 5;
pub const CARD_LOCK_MS: i64 = 30 * 60 * 1000;

impl Engine {
    /// Issues a campus card to a payer with an (already hashed) card password.
    pub async fn issue_card(&self, payer_id: &str, card_no: &str, password_hash: &str) -> Result<(), EngineError> {
        let mut tx = self.store().begin().await?;
        let now = tx.now_ms;
        cards::insert(tx.c(), card_no, payer_id, password_hash, now).await?;
        let change = Change {
            action: "card.issue",
            entity: "campus_card",
            entity_id: card_no,
            before: "",
            after: "active",
            detail: "",
        };
        oplog::append(tx.c(), now, &Actor::system("card_admin"), &change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Loads money onto a card (圈存, subsidy): Dr `from` / Cr the card's wallet. `load_id` makes
    /// it idempotent (the same load posted twice is refused by the ledger's unique source).
    pub async fn load_card(
        &self,
        card_no: &str,
        amount: Fen,
        from: AccountRef,
        load_id: &str,
        actor: &Actor,
    ) -> Result<(), EngineError> {
        let entry = ledger::card_loaded(load_id, card_no, from, amount)?;
        let mut tx = self.store().begin().await?;
        let now = tx.now_ms;
        if cards::by_no(tx.c(), card_no).await?.is_none() {
            return Err(EngineError::NotFound(format!("校园卡 {card_no}")));
        }
        bursar_store::ledger::post(&mut tx, &entry).await?;
        let detail = format!("amount_fen={} load_id={load_id}", amount.get());
        let change = Change {
            action: "card.load",
            entity: "campus_card",
            entity_id: card_no,
            before: "",
            after: "",
            detail: &detail,
        };
        oplog::append(tx.c(), now, actor, &change).await?;
        tx.commit().await?;
        Ok(())
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
    /// password against the stored hash (argon2id lives in the web layer). A wrong password
    /// counts towards locking the card; a short balance changes nothing.
    pub async fn pay_with_card<F>(
        &self,
        order_id: &str,
        payer_id: &str,
        password_ok: F,
    ) -> Result<PaymentRow, EngineError>
    where
        F: FnOnce(&str) -> bool,
    {
        self.route(order_id, ChannelKind::CampusCard).await?;
        let now = self.store().now_ms();
        let card =
            self.card_of(payer_id).await?.ok_or_else(|| EngineError::CardUnavailable("尚未开通校园卡".into()))?;
        if card.state != "active" {
            return Err(EngineError::CardUnavailable("校园卡已挂失或停用".into()));
        }
        if let Some(until) = card.locked_until_ms.filter(|u| *u > now) {
            return Err(EngineError::CardUnavailable(format!(
                "密码错误次数过多，已锁定至 {}",
                time_fmt::datetime_cst(until)
            )));
        }
        if !password_ok(&card.password_hash) {
            let mut tx = self.store().begin().await?;
            let tx_now = tx.now_ms;
            cards::record_failure(tx.c(), &card.card_no, CARD_MAX_FAILURES, CARD_LOCK_MS, tx_now).await?;
            tx.commit().await?;
            let remaining = (CARD_MAX_FAILURES - card.failed_attempts - 1).max(0);
            return Err(if remaining == 0 {
                EngineError::CardUnavailable("密码错误次数过多，已锁定 30 分钟".into())
            } else {
                EngineError::CardPassword(remaining)
            });
        }
        let order_id = order_id.to_string();
        let payer_id = payer_id.to_string();
        let payment_id = self
            .store()
            .write(|tx: &mut Tx| {
                let (order_id, payer_id, card) = (order_id.clone(), payer_id.clone(), card.clone());
                Box::pin(async move { card_payment_in_tx(tx, &order_id, &payer_id, &card).await })
            })
            .await?;
        let mut c = self.store().read().await?;
        Ok(pay_store::payment(&mut c, &payment_id).await?)
    }
}

async fn card_payment_in_tx(
    tx: &mut Tx,
    order_id: &str,
    payer_id: &str,
    card: &CardRow,
) -> Result<String, EngineError> {
    let now = tx.now_ms;
    if !cards::take_for_payment(tx.c(), &card.card_no, &card.password_hash, now).await? {
        return Err(EngineError::CardUnavailable("校园卡状态已变化，请重试".into()));
    }
    let order = pay_store::order(tx.c(), order_id).await?;
    if order.payer_id != payer_id {
        return Err(EngineError::NotFound(format!("订单 {order_id}")));
    }
    if order.state != OrderState::Open.as_str() {
        let label = OrderState::parse(&order.state).map(|s| s.label_zh()).unwrap_or("");
        return Err(EngineError::OrderNotOpen(label.into()));
    }
    let wallet = AccountRef::card_wallet(&card.card_no);
    let balance = Fen(-bursar_store::ledger::balance(tx.c(), &wallet).await?.get());
    let needed = Fen(order.total_fen);
    if balance.get() < needed.get() {
        return Err(EngineError::InsufficientBalance { balance, needed });
    }
    let payment_id = tx.new_id();
    let merchant_order_no = tx.new_id();
    let p = NewPayment {
        id: &payment_id,
        order_id,
        payer_id,
        method: PayMethod::CampusCard.as_str(),
        channel: ChannelKind::CampusCard.as_str(),
        merchant_id: &card.card_no,
        merchant_order_no: &merchant_order_no,
        amount: needed,
        expires_at_ms: now,
    };
    pay_store::insert_payment(tx.c(), &p, now).await?;
    let detail = format!("method=campus_card amount_fen={} card={}", needed.get(), card.card_no);
    let change = Change {
        action: "payment.create",
        entity: "payment",
        entity_id: &payment_id,
        before: "",
        after: "created",
        detail: &detail,
    };
    let actor = Actor::payer(payer_id);
    oplog::append(tx.c(), now, &actor, &change).await?;
    let outcome =
        ChannelOutcome::Paid { channel_txn_id: format!("CARD{payment_id}"), amount_fen: needed.get(), paid_at_ms: now };
    match apply_in_tx(tx, &merchant_order_no, &outcome, &actor).await? {
        ApplyResult::Credited { .. } => Ok(payment_id),
        other => Err(EngineError::Store(bursar_store::StoreError::Conflict(format!(
            "card payment {payment_id} was not credited: {other:?}"
        )))),
    }
}
