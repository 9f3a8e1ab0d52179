//! Payments: one attempt to collect money through one channel, and its state machine.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A channel family: who holds the money and speaks the protocol. Names the merchant accounts
/// and the ledger's clearing accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Wechatpay,
    Alipay,
    /// UnionPay online gateway (ACP); bank e-banking gateways are merchants of this kind.
    Unionpay,
    /// The campus card wallet, held in Bursar's own ledger.
    CampusCard,
    /// Collected outside Bursar (cash desk, POS, bank deduction) and imported.
    Offline,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Wechatpay,
        ChannelKind::Alipay,
        ChannelKind::Unionpay,
        ChannelKind::CampusCard,
        ChannelKind::Offline,
    ];
    /// The channels a payer can choose online, in display order.
    pub const ONLINE: [ChannelKind; 4] =
        [ChannelKind::Wechatpay, ChannelKind::Alipay, ChannelKind::Unionpay, ChannelKind::CampusCard];
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wechatpay => "wechatpay",
            ChannelKind::Alipay => "alipay",
            ChannelKind::Unionpay => "unionpay",
            ChannelKind::CampusCard => "campus_card",
            ChannelKind::Offline => "offline",
        }
    }
    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|m| m.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            ChannelKind::Wechatpay => "微信支付",
            ChannelKind::Alipay => "支付宝",
            ChannelKind::Unionpay => "银联在线/网银",
            ChannelKind::CampusCard => "校园卡",
            ChannelKind::Offline => "线下缴费",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            ChannelKind::Wechatpay => "WeChat Pay",
            ChannelKind::Alipay => "Alipay",
            ChannelKind::Unionpay => "UnionPay / online banking",
            ChannelKind::CampusCard => "Campus card",
            ChannelKind::Offline => "Offline",
        }
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

/// How a payment is collected: a channel and one of its products. Stored as its `as_str` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// WeChat Pay v3 Native: the payer scans Bursar's QR code.
    WechatNative,
    /// WeChat Pay v3 JSAPI: inside WeChat, the page invokes the payment sheet.
    WechatJsapi,
    /// WeChat Pay v3 H5: a phone browser jumps to WeChat.
    WechatH5,
    /// WeChat Pay v2 payment code (付款码): a cashier scans the payer's code.
    WechatCode,
    /// Alipay precreate: the payer scans Bursar's QR code.
    AlipayQr,
    /// Alipay page.pay: the PC cashier.
    AlipayPage,
    /// Alipay wap.pay: the mobile cashier.
    AlipayWap,
    /// Alipay trade.pay bar_code: a cashier scans the payer's code.
    AlipayCode,
    /// UnionPay ACP front consume, PC (channelType 07).
    UnionpayPc,
    /// UnionPay ACP front consume, mobile (channelType 08).
    UnionpayMobile,
    /// Paid from the payer's campus card wallet after confirming with the card password.
    CampusCard,
    /// Cash taken at a cash desk and imported.
    OfflineCash,
    /// A POS terminal's card payment, imported.
    OfflinePos,
    /// A bank deduction or transfer, imported.
    OfflineBank,
}

impl PayMethod {
    pub const ALL: [PayMethod; 14] = [
        PayMethod::WechatNative,
        PayMethod::WechatJsapi,
        PayMethod::WechatH5,
        PayMethod::WechatCode,
        PayMethod::AlipayQr,
        PayMethod::AlipayPage,
        PayMethod::AlipayWap,
        PayMethod::AlipayCode,
        PayMethod::UnionpayPc,
        PayMethod::UnionpayMobile,
        PayMethod::CampusCard,
        PayMethod::OfflineCash,
        PayMethod::OfflinePos,
        PayMethod::OfflineBank,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::WechatNative => "wechat_native",
            PayMethod::WechatJsapi => "wechat_jsapi",
            PayMethod::WechatH5 => "wechat_h5",
            PayMethod::WechatCode => "wechat_code",
            PayMethod::AlipayQr => "alipay_qr",
            PayMethod::AlipayPage => "alipay_page",
            PayMethod::AlipayWap => "alipay_wap",
            PayMethod::AlipayCode => "alipay_code",
            PayMethod::UnionpayPc => "unionpay_pc",
            PayMethod::UnionpayMobile => "unionpay_mobile",
            PayMethod::CampusCard => "campus_card",
            PayMethod::OfflineCash => "offline_cash",
            PayMethod::OfflinePos => "offline_pos",
            PayMethod::OfflineBank => "offline_bank",
        }
    }
    pub fn parse(s: &str) -> Option<PayMethod> {
        PayMethod::ALL.into_iter().find(|m| m.as_str() == s)
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
    pub fn label_zh(self) -> &'static str {
        use PayMethod::*;
        match self {
            WechatNative => "微信扫码",
            WechatJsapi => "微信支付",
            WechatH5 => "微信支付（H5）",
            WechatCode => "微信付款码",
            AlipayQr => "支付宝扫码",
            AlipayPage => "支付宝网页",
            AlipayWap => "支付宝手机网站",
            AlipayCode => "支付宝付款码",
            UnionpayPc => "银联在线（电脑）",
            UnionpayMobile => "银联在线（手机）",
            CampusCard => "校园卡",
            OfflineCash => "现金（线下）",
            OfflinePos => "POS 刷卡（线下）",
            OfflineBank => "银行代扣/转账（线下）",
        }
    }
    pub fn label_en(self) -> &'static str {
        use PayMethod::*;
        match self {
            WechatNative => "WeChat Pay QR",
            WechatJsapi => "WeChat Pay",
            WechatH5 => "WeChat Pay (H5)",
            WechatCode => "WeChat payment code",
            AlipayQr => "Alipay QR",
            AlipayPage => "Alipay web",
            AlipayWap => "Alipay mobile",
            AlipayCode => "Alipay payment code",
            UnionpayPc => "UnionPay online (PC)",
            UnionpayMobile => "UnionPay online (mobile)",
            CampusCard => "Campus card",
            OfflineCash => "Cash (offline)",
            OfflinePos => "POS (offline)",
            OfflineBank => "Bank deduction/transfer (offline)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Recorded, not yet accepted by the channel.
    Created,
    /// The channel accepted it; the payer may pay.
    Paying,
    /// The channel says it is paid. Terminal for collection (refunds are separate records).
    Succeeded,
    /// The channel refused it or the payer's payment failed.
    Failed,
    /// Closed at the channel (expired or abandoned) before being paid.
    Closed,
}

impl PaymentState {
    pub const ALL: [PaymentState; 5] = [
        PaymentState::Created,
        PaymentState::Paying,
        PaymentState::Succeeded,
        PaymentState::Failed,
        PaymentState::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Paying => "paying",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Failed => "failed",
            PaymentState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|m| m.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            PaymentState::Created => "待支付",
            PaymentState::Paying => "支付中",
            PaymentState::Succeeded => "支付成功",
            PaymentState::Failed => "支付失败",
            PaymentState::Closed => "已关闭",
        }
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
        for from in PaymentState::ALL {
            for to in PaymentState::ALL {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
        assert!(Succeeded.check_transition(Closed).is_err());
    }

    #[test]
    fn codes_round_trip() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        for m in PayMethod::ALL {
            assert_eq!(PayMethod::parse(m.as_str()), Some(m));
        }
        for c in ChannelKind::ALL {
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
