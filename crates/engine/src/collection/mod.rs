//! Collection: fee items and their approval, receivables, orders, payments through every
//! channel (online, payment codes at the counter, the campus card, imported offline records),
//! and applying what a channel says — in one transaction with the ledger and the receivables.

pub mod answers;
pub mod apply;
pub mod cards;
pub mod codes;
pub mod counter;
pub mod day_close;
pub mod fee_item_changes;
pub mod fee_items;
pub mod filing;
pub mod offline;
pub mod orders;
pub mod payments;
pub mod receivables;

use bursar_domain::payment::{ChannelKind, Device, PayMethod};
use bursar_store::merchants::{self as merchant_store, Route};

use crate::engine::Engine;
use crate::error::EngineError;

/// Why a channel cannot collect an order, in the words a payer should read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// A fee item on the order accepts no channel at all (finance removed them, or none were set).
    NoChannel,
    /// The item does not accept this channel.
    NotAccepted,
    /// The items collect into different merchant accounts of this channel.
    DifferentAccounts,
}

impl NoRoute {
    pub fn message(&self, channel: ChannelKind) -> String {
        match self {
            NoRoute::NoChannel => "暂无可用的支付方式，请联系收费部门".into(),
            NoRoute::NotAccepted => format!("{}（该收费项目不支持）", channel.label_zh()),
            NoRoute::DifferentAccounts => format!("{}（所选项目收款账户不同，请分开支付）", channel.label_zh()),
        }
    }
}

/// Picks the one merchant account that collects every item on an order through `channel`.
pub fn route_of(items: &[String], routes: &[Route], channel: ChannelKind) -> Result<String, NoRoute> {
    let mut merchant: Option<&str> = None;
    for item in items {
        if !routes.iter().any(|r| &r.fee_item_id == item) {
            return Err(NoRoute::NoChannel);
        }
        let Some(r) = routes.iter().find(|r| &r.fee_item_id == item && r.channel == channel) else {
            return Err(NoRoute::NotAccepted);
        };
        match merchant {
            Some(m) if m != r.merchant_no => return Err(NoRoute::DifferentAccounts),
            _ => merchant = Some(&r.merchant_no),
        }
    }
    merchant.map(str::to_string).ok_or(NoRoute::NoChannel)
}

/// What an order can be paid with on a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub methods: Vec<PayMethod>,
    /// Why nothing can be offered (when `methods` is empty), for the payer.
    pub none_because: Option<String>,
}

impl Engine {
    /// The merchant account that collects an order through a channel: every fee item on the
    /// order must accept the channel, and into one merchant account.
    pub async fn route(&self, order_id: &str, channel: ChannelKind) -> Result<String, EngineError> {
        let mut c = self.store().read().await?;
        let items = merchant_store::fee_items_of_order(&mut c, order_id).await?;
        let routes = merchant_store::routes_of_order(&mut c, order_id).await?;
        drop(c);
        route_of(&items, &routes, channel).map_err(|why| EngineError::MethodUnavailable(why.message(channel)))
    }

    /// The payment methods offered for an order on a device: the channels every item accepts
    /// into one merchant account, in each channel's flow for that device, whose adapter is
    /// available (a campus card only for a payer who holds an active card).
    pub async fn offered_methods(&self, order_id: &str, payer_id: &str, device: Device) -> Result<Offer, EngineError> {
        let mut c = self.store().read().await?;
        let items = merchant_store::fee_items_of_order(&mut c, order_id).await?;
        let routes = merchant_store::routes_of_order(&mut c, order_id).await?;
        let card = bursar_store::cards::of_payer(&mut c, payer_id).await?;
        drop(c);
        let mut methods = Vec::new();
        let mut reasons = Vec::new();
        for channel in ChannelKind::ONLINE {
            let Some(method) = PayMethod::online(channel, device) else { continue };
            let merchant_no = match route_of(&items, &routes, channel) {
                Ok(m) => m,
                Err(why) => {
                    reasons.push(why);
                    continue;
                }
            };
            let usable = match channel {
                ChannelKind::CampusCard => {
                    card.as_ref().is_some_and(|c| c.state == bursar_domain::card::CardState::Active)
                }
                _ => self.adapter(channel, &merchant_no).await?.is_some_and(|a| a.methods().contains(&method)),
            };
            if usable {
                methods.push(method);
            }
        }
        let none_because = methods.is_empty().then(|| {
            if reasons.contains(&NoRoute::DifferentAccounts) {
                "所选项目的收款账户不同，请分开支付".to_string()
            } else {
                NoRoute::NoChannel.message(ChannelKind::Wechatpay)
            }
        });
        Ok(Offer { methods, none_because })
    }
}
