//! The channels Bursar holds itself: the campus card wallet (its money is in Bursar's ledger, so
//! a refund is paid back into the wallet at once) and offline collections (cash desk, POS, bank
//! deduction — imported; their refunds are paid by transfer, so the channel refuses them and
//! finance records the transfer).

use async_trait::async_trait;
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;

use crate::{Channel, ChannelError, PayAction, PayRequest, RefundRequest};

/// The campus card wallet. Payments are made by the engine in one transaction (password, balance,
/// posting), never started here; refunds go straight back to the wallet.
pub struct CampusCardChannel;

const CARD_METHODS: [PayMethod; 1] = [PayMethod::CampusCard];

#[async_trait]
impl Channel for CampusCardChannel {
    fn channel(&self) -> &'static str {
        "campus_card"
    }
    fn merchant_id(&self) -> &str {
        "wallet"
    }
    fn methods(&self) -> &[PayMethod] {
        &CARD_METHODS
    }
    async fn create(&self, _req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        Err(ChannelError::Config("campus card payments are made with the card password".into()))
    }
    /// A card payment is decided in the transaction that makes it; there is nothing to ask.
    async fn query(&self, _merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        Ok(ChannelOutcome::NotFound)
    }
    async fn close(&self, _merchant_order_no: &str) -> Result<(), ChannelError> {
        Ok(())
    }
    /// Back into the wallet: the engine's confirmation entry credits it (exactly once, by the
    /// refund's compare-and-set), so the answer is always "paid out".
    async fn refund(&self, req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        Ok(RefundOutcome::Succeeded {
            channel_refund_id: format!("CARD{}", req.out_refund_no),
            amount_fen: req.refund_fen,
        })
    }
    async fn refund_query(
        &self,
        _merchant_order_no: &str,
        _out_refund_no: &str,
    ) -> Result<RefundOutcome, ChannelError> {
        Ok(RefundOutcome::NotFound)
    }
}

/// Offline collections, imported from files. Nothing can be started, queried or closed; a refund
/// is refused so that finance pays it by transfer and records it.
pub struct OfflineChannel;

const OFFLINE_METHODS: [PayMethod; 3] = [PayMethod::OfflineCash, PayMethod::OfflinePos, PayMethod::OfflineBank];
const OFFLINE_REFUND: &str = "线下收款不能原路退回，请线下转账退款并登记";

#[async_trait]
impl Channel for OfflineChannel {
    fn channel(&self) -> &'static str {
        "offline"
    }
    fn merchant_id(&self) -> &str {
        "offline"
    }
    fn methods(&self) -> &[PayMethod] {
        &OFFLINE_METHODS
    }
    async fn create(&self, _req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        Err(ChannelError::Config("offline collections are imported, not started".into()))
    }
    async fn query(&self, _merchant_order_no: &str) -> Result<ChannelOutcome, ChannelError> {
        Ok(ChannelOutcome::NotFound)
    }
    async fn close(&self, _merchant_order_no: &str) -> Result<(), ChannelError> {
        Ok(())
    }
    async fn refund(&self, _req: &RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        Err(ChannelError::Refused { code: "OFFLINE".into(), message: OFFLINE_REFUND.into() })
    }
    async fn refund_query(
        &self,
        _merchant_order_no: &str,
        _out_refund_no: &str,
    ) -> Result<RefundOutcome, ChannelError> {
        Ok(RefundOutcome::NotFound)
    }
}
