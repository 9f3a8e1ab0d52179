//! Payments: one attempt to collect money through one channel, and its state machine.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

crate::coded_enum! {
    /// A channel family: who holds the money and speaks the protocol. Names the merchant accounts
    /// and the ledger's clearing accounts. The labels are the plain names payers know.
    pub enum ChannelKind {
        Wechatpay = ("wechatpay", "微信支付", "WeChat Pay"),
        Alipay = ("alipay", "支付宝", "Alipay"),
        /// UnionPay online gateway (ACP); bank e-banking gateways are merchants of this kind.
        Unionpay = ("unionpay", "银联在线支付", "UnionPay online"),
        /// The campus card wallet, held in Bursar's own ledger.
        CampusCard = ("campus_card", "校园卡", "Campus card"),
        /// Collected outside Bursar (cash desk, POS, bank deduction) and imported.
        Offline = ("offline", "线下缴费", "Paid offline"),
    }
}

impl ChannelKind {
    /// The channels a payer can choose online, in display order.
    pub const ONLINE: [ChannelKind; 4] =
        [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard];
}

crate::coded_enum! {
    /// Whether a merchant account collects.
    pub enum MerchantState {
        Active = ("active", "启用", "Active"),
        Disabled = ("disabled", "停用", "Disabled"),
    }
}

crate::coded_enum! {
    /// What Bursar did with a message a channel sent.
    pub enum EventOutcome {
        Credited = ("credited", "已入账", "Credited"),
        Refunded = ("refunded", "已退款", "Refunded"),
        Duplicate = ("duplicate", "重复通知（已忽略）", "Duplicate (ignored)"),
        Refused = ("refused", "已拒绝", "Refused"),
        Applied = ("applied", "已处理", "Applied"),
        Unchanged = ("unchanged", "无变化", "Unchanged"),
        Error = ("error", "处理出错（渠道将重试）", "Error (the channel retries)"),
    }
}

crate::coded_enum! {
    /// What a channel sent (or what Bursar asked it).
    pub enum EventKind {
        PaymentNotification = ("payment_notification", "支付通知", "Payment notification"),
        RefundNotification = ("refund_notification", "退款通知", "Refund notification"),
        ActiveQuery = ("active_query", "主动查询", "Active query"),
    }
}

/// Where the payer is paying from; it decides each channel's flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// A computer: scan a QR code with the phone, or a gateway page.
    Desktop,
    /// A phone's browser: jump to the channel's app or mobile cashier.
    Mobile,
    /// Inside WeChat's built-in browser: WeChat JSAPI (other wallets are blocked there).
    InWechat,
}

impl Device {
    /// Guesses the device from a browser's User-Agent.
    pub fn from_user_agent(ua: &str) -> Device {
        if ua.contains("MicroMessenger") {
            Device::InWechat
        } else if ["Mobile", "Android", "iPhone", "iPad", "HarmonyOS"].iter().any(|m| ua.contains(m)) {
            Device::Mobile
        } else {
            Device::Desktop
        }
    }
}

crate::coded_enum! {
    /// How a payment is collected: a channel and one of its products. The labels are what a
    /// payer or a cashier calls it (the product shows in [`PayMethod::product_zh`]).
    pub enum PayMethod {
        /// WeChat Pay v3 Native: the payer scans Bursar's QR code.
        WechatNative = ("wechat_native", "微信支付", "WeChat Pay"),
        /// WeChat Pay v3 JSAPI: inside WeChat, the page invokes the payment sheet.
        WechatJsapi = ("wechat_jsapi", "微信支付", "WeChat Pay"),
        /// WeChat Pay v3 H5: a phone browser jumps to WeChat.
        WechatH5 = ("wechat_h5", "微信支付", "WeChat Pay"),
        /// WeChat Pay v2 payment code (付款码): a cashier scans the payer's code.
        WechatCode = ("wechat_code", "微信付款码", "WeChat payment code"),
        /// Alipay precreate: the payer scans Bursar's QR code.
        AlipayQr = ("alipay_qr", "支付宝", "Alipay"),
        /// Alipay page.pay: the PC cashier.
        AlipayPage = ("alipay_page", "支付宝", "Alipay"),
        /// Alipay wap.pay: the mobile cashier.
        AlipayWap = ("alipay_wap", "支付宝", "Alipay"),
        /// Alipay trade.pay bar_code: a cashier scans the payer's code.
        AlipayCode = ("alipay_code", "支付宝付款码", "Alipay payment code"),
        /// UnionPay ACP front consume, PC (channelType 07).
        UnionpayPc = ("unionpay_pc", "银联在线支付", "UnionPay online"),
        /// UnionPay ACP front consume, mobile (channelType 08).
        UnionpayMobile = ("unionpay_mobile", "银联在线支付", "UnionPay online"),
        /// Paid from the payer's campus card wallet after confirming with the card password.
        CampusCard = ("campus_card", "校园卡", "Campus card"),
        /// Cash taken at a cash desk and imported.
        OfflineCash = ("offline_cash", "现金", "Cash"),
        /// A POS terminal's card payment, imported.
        OfflinePos = ("offline_pos", "POS刷卡", "Card at a POS terminal"),
        /// A bank deduction or transfer, imported.
        OfflineBank = ("offline_bank", "银行转账/代扣", "Bank transfer or deduction"),
    }
}

impl PayMethod {
    /// The channel's product, for finance's detail views (e.g. 扫码, H5, 付款码).
    pub fn product_zh(self) -> &'static str {
        use PayMethod::*;
        match self {
            WechatNative | AlipayQr => "扫码支付",
            WechatJsapi => "公众号支付",
            WechatH5 => "手机浏览器支付",
            WechatCode | AlipayCode => "付款码支付",
            AlipayPage => "电脑网站支付",
            AlipayWap => "手机网站支付",
            UnionpayPc => "电脑网关支付",
            UnionpayMobile => "手机网关支付",
            CampusCard => "校园卡支付",
            OfflineCash => "现金",
            OfflinePos => "POS刷卡",
            OfflineBank => "银行转账/代扣",
        }
    }
    pub fn channel_kind(self) -> ChannelKind {
        use PayMethod::*;
        match self {
            WechatNative | WechatJsapi | WechatH5 | WechatCode => ChannelKind::Wechatpay,
            AlipayQr | AlipayPage | AlipayWap | AlipayCode => ChannelKind::Alipay,
            UnionpayPc | UnionpayMobile => ChannelKind::Unionpay,
            CampusCard => ChannelKind::CampusCard,
            OfflineCash | OfflinePos | OfflineBank => ChannelKind::Offline,
        }
    }
    /// The channel family, which names the merchant account and the ledger's clearing account.
    pub fn channel(self) -> &'static str {
        self.channel_kind().as_str()
    }
    /// The product a payer on `device` uses to pay through `channel` online (`None`: not offered
    /// there, e.g. Alipay inside WeChat).
    pub fn online(channel: ChannelKind, device: Device) -> Option<PayMethod> {
        use Device::*;
        match (channel, device) {
            (ChannelKind::Wechatpay, Desktop) => Some(PayMethod::WechatNative),
            (ChannelKind::Wechatpay, Mobile) => Some(PayMethod::WechatH5),
            (ChannelKind::Wechatpay, InWechat) => Some(PayMethod::WechatJsapi),
            (ChannelKind::Alipay, Desktop) => Some(PayMethod::AlipayQr),
            (ChannelKind::Alipay, Mobile) => Some(PayMethod::AlipayWap),
            (ChannelKind::Alipay, InWechat) => None,
            (ChannelKind::Unionpay, Desktop) => Some(PayMethod::UnionpayPc),
            (ChannelKind::Unionpay, Mobile | InWechat) => Some(PayMethod::UnionpayMobile),
            (ChannelKind::CampusCard, _) => Some(PayMethod::CampusCard),
            (ChannelKind::Offline, _) => None,
        }
    }
    /// Collected by a cashier scanning the payer's payment code.
    pub fn is_payment_code(self) -> bool {
        matches!(self, PayMethod::WechatCode | PayMethod::AlipayCode)
    }
}

crate::coded_enum! {
    pub enum PaymentState {
        /// Recorded, not yet accepted by the channel.
        Created = ("created", "待支付", "Not paid yet"),
        /// The channel accepted it; the payer may pay.
        Paying = ("paying", "支付中", "Paying"),
        /// The channel says it is paid. Terminal for collection (refunds are separate records).
        Succeeded = ("succeeded", "支付成功", "Paid"),
        /// The channel refused it or the payer's payment failed.
        Failed = ("failed", "支付失败", "Failed"),
        /// Closed at the channel (expired or abandoned) before being paid.
        Closed = ("closed", "已关闭", "Closed"),
    }
}

impl PaymentState {
    /// Still waiting for the channel or the payer: at most one such payment per order.
    pub fn is_live(self) -> bool {
        matches!(self, PaymentState::Created | PaymentState::Paying)
    }

    /// The legal transitions. The channel is the truth about "paid": a payment Bursar believed
    /// failed or closed that the channel later reports paid moves to `Succeeded` (and is credited,
    /// to the payer's credit if nothing is owed any more) rather than being lost; so does one
    /// still `Created` (Bursar stopped between recording it and hearing the channel's answer).
    pub fn can_become(self, next: PaymentState) -> bool {
        use PaymentState::*;
        matches!(
            (self, next),
            (Created, Paying | Succeeded | Failed | Closed)
                | (Paying, Succeeded | Failed | Closed)
                | (Failed | Closed, Succeeded)
        )
    }

    pub fn check_transition(self, next: PaymentState) -> Result<(), DomainError> {
        if self.can_become(next) {
            Ok(())
        } else {
            Err(DomainError::IllegalTransition {
                machine: "payment",
                from: self.as_str().to_string(),
                to: next.as_str().to_string(),
            })
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, PaymentState::Succeeded)
    }
}

/// What a channel reports about a payment, from a notification or an active query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelOutcome {
    /// Paid: the channel's transaction id, the amount it collected, and when.
    Paid { channel_txn_id: String, amount_fen: i64, paid_at_ms: i64 },
    /// Still waiting for the payer.
    Pending,
    /// Closed or revoked at the channel without payment.
    Closed,
    /// The payer's payment failed.
    Failed { reason: String },
    /// The channel does not know this payment.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table_is_exactly_the_documented_one() {
        use PaymentState::*;
        let legal = [
            (Created, Paying),
            (Created, Succeeded),
            (Created, Failed),
            (Created, Closed),
            (Paying, Succeeded),
            (Paying, Failed),
            (Paying, Closed),
            (Failed, Succeeded),
            (Closed, Succeeded),
        ];
        for &from in PaymentState::ALL {
            for &to in PaymentState::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(Succeeded.check_transition(Closed).is_err());
    }

    #[test]
    fn codes_round_trip() {
        for &s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        for &m in PayMethod::ALL {
            assert_eq!(PayMethod::parse(m.as_str()), Some(m));
        }
        for &c in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn each_device_gets_the_right_flow() {
        assert_eq!(PayMethod::online(ChannelKind::Wechatpay, Device::Desktop), Some(PayMethod::WechatNative));
        assert_eq!(PayMethod::online(ChannelKind::Wechatpay, Device::Mobile), Some(PayMethod::WechatH5));
        assert_eq!(PayMethod::online(ChannelKind::Wechatpay, Device::InWechat), Some(PayMethod::WechatJsapi));
        assert_eq!(PayMethod::online(ChannelKind::Alipay, Device::InWechat), None);
        assert_eq!(PayMethod::online(ChannelKind::Offline, Device::Desktop), None);
        for c in ChannelKind::ONLINE {
            for d in [Device::Desktop, Device::Mobile, Device::InWechat] {
                if let Some(m) = PayMethod::online(c, d) {
                    assert_eq!(m.channel_kind(), c);
                    assert!(!m.is_payment_code());
                }
            }
        }
        assert_eq!(Device::from_user_agent("Mozilla/5.0 (iPhone) MicroMessenger/8.0"), Device::InWechat);
        assert_eq!(Device::from_user_agent("Mozilla/5.0 (Linux; Android 14) Mobile"), Device::Mobile);
        assert_eq!(Device::from_user_agent("Mozilla/5.0 (X11; Linux x86_64)"), Device::Desktop);
    }
}
