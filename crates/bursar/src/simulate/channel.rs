//! The simulation's channel: an in-process WeChat Pay stand-in that the fault plan drives.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bursar_channels::{Channel, ChannelError, PayAction, PayRequest};
use bursar_domain::payment::{ChannelOutcome, PayMethod};
use bursar_domain::refund::RefundOutcome;
use bursar_domain::{Clock, ManualClock};
use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::Notify;

use super::Faults;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ChanState {
    NotPaid,
    Paid { txn: String },
    Closed,
}

#[derive(Clone, Debug)]
pub(super) struct ChanOrder {
    pub(super) amount_fen: i64,
    pub(super) state: ChanState,
    pub(super) expires_at_ms: i64,
}

#[derive(Clone, Debug)]
pub(super) struct ChanRefund {
    pub(super) amount_fen: i64,
    pub(super) order_no: String,
    /// `None` while processing; then paid out or failed.
    pub(super) settled: Option<bool>,
}

pub(super) struct ChannelInner {
    pub(super) refunds: BTreeMap<String, ChanRefund>,
    /// Refunds accepted since the simulation last looked (it schedules their settlement).
    pub(super) new_refunds: Vec<String>,
    /// Refunds the channel acknowledged and then lost.
    pub(super) lost_refunds: usize,
    pub(super) orders: BTreeMap<String, ChanOrder>,
    pub(super) rng: StdRng,
    pub(super) faults: Faults,
    pub(super) txn_seq: u64,
}

/// The channel's side, in process. Crashes: the call signals `crash` and never returns; the
/// simulation then drops the engine's future.
#[derive(Clone)]
pub(super) struct SimChannel {
    pub(super) inner: Arc<Mutex<ChannelInner>>,
    pub(super) crash: Arc<Notify>,
    pub(super) clock: ManualClock,
}

impl SimChannel {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, ChannelInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The payer pays at the channel; returns the channel transaction id when it worked.
    pub(super) fn pay(&self, no: &str) -> Option<String> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        g.txn_seq += 1;
        let txn = format!("4200{:024}", g.txn_seq);
        let order = g.orders.get_mut(no)?;
        if order.state != ChanState::NotPaid || now > order.expires_at_ms {
            return None;
        }
        order.state = ChanState::Paid { txn: txn.clone() };
        Some(txn)
    }
}

/// The simulated channel's merchant number.
pub(super) const SIM_MCHID: &str = "1900000001";

#[async_trait]
impl Channel for SimChannel {
    fn channel(&self) -> &'static str {
        "wechatpay"
    }
    fn merchant_id(&self) -> &str {
        SIM_MCHID
    }
    fn methods(&self) -> &[PayMethod] {
        &[PayMethod::WechatNative]
    }
    async fn create(&self, req: &PayRequest<'_>) -> Result<PayAction, ChannelError> {
        let (crash, timeout, record) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            let crash = g.rng.gen_bool(f.crash_in_create);
            let timeout = g.rng.gen_bool(f.create_timeout);
            let record = !(crash || timeout) || g.rng.gen_bool(0.5);
            (crash, timeout, record)
        };
        if record {
            let order =
                ChanOrder { amount_fen: req.amount_fen, state: ChanState::NotPaid, expires_at_ms: req.expires_at_ms };
            self.lock().orders.entry(req.merchant_order_no.to_string()).or_insert(order);
        }
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        if timeout {
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        Ok(PayAction::Qr { code_url: format!("weixin://wxpay/bizpayurl?pr={}", req.merchant_order_no) })
    }
    async fn query(&self, no: &str) -> Result<ChannelOutcome, ChannelError> {
        let (crash, timeout) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            (g.rng.gen_bool(f.crash_in_job), g.rng.gen_bool(f.query_timeout))
        };
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        if timeout {
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        let now = self.clock.now_ms();
        let g = self.lock();
        Ok(match g.orders.get(no) {
            None => ChannelOutcome::NotFound,
            Some(o) => match &o.state {
                ChanState::NotPaid => ChannelOutcome::Pending,
                ChanState::Closed => ChannelOutcome::Closed,
                ChanState::Paid { txn } => {
                    ChannelOutcome::Paid { channel_txn_id: txn.clone(), amount_fen: o.amount_fen, paid_at_ms: now }
                }
            },
        })
    }
    async fn refund(&self, req: &bursar_channels::RefundRequest<'_>) -> Result<RefundOutcome, ChannelError> {
        let (crash, timeout) = {
            let mut g = self.lock();
            let f = g.faults.clone();
            (g.rng.gen_bool(f.crash_in_job), g.rng.gen_bool(f.query_timeout))
        };
        if crash {
            self.crash.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut g = self.lock();
            let paid =
                matches!(g.orders.get(req.merchant_order_no), Some(ChanOrder { state: ChanState::Paid { .. }, .. }));
            if !paid {
                return Err(ChannelError::Refused {
                    code: "INVALID_REQUEST".into(), message: "订单未支付".into()
                });
            }
            // The channel's own limit: never more than was paid, over the refunds it has not failed.
            let already: i64 = g
                .refunds
                .iter()
                .filter(|(no, r)| {
                    r.order_no == req.merchant_order_no && r.settled != Some(false) && no.as_str() != req.out_refund_no
                })
                .map(|(_, r)| r.amount_fen)
                .sum();
            let order_amount = g.orders.get(req.merchant_order_no).map(|o| o.amount_fen).unwrap_or(0);
            if already + req.refund_fen > order_amount {
                return Err(ChannelError::Refused {
                    code: "INVALID_REQUEST".into(),
                    message: "退款金额超过订单可退金额".into(),
                });
            }
            // Now and then the channel acknowledges a refund and then loses it: Bursar's query finds
            // nothing and must submit it again.
            let lose = g.rng.gen_bool(0.05);
            if lose && !g.refunds.contains_key(req.out_refund_no) {
                g.lost_refunds += 1;
                return Ok(RefundOutcome::Processing { channel_refund_id: format!("R{}", req.out_refund_no) });
            }
            if !g.refunds.contains_key(req.out_refund_no) {
                let r = ChanRefund {
                    amount_fen: req.refund_fen,
                    settled: None,
                    order_no: req.merchant_order_no.to_string(),
                };
                g.refunds.insert(req.out_refund_no.to_string(), r);
                g.new_refunds.push(req.out_refund_no.to_string());
            }
        }
        if timeout {
            // The channel took it but the answer was lost: the job asks again with the same number.
            return Err(ChannelError::Unreachable("timed out".into()));
        }
        self.refund_query(req.merchant_order_no, req.out_refund_no).await
    }
    async fn refund_query(&self, _merchant_order_no: &str, out_refund_no: &str) -> Result<RefundOutcome, ChannelError> {
        let g = self.lock();
        Ok(match g.refunds.get(out_refund_no) {
            None => RefundOutcome::NotFound,
            Some(ChanRefund { settled: None, .. }) => {
                RefundOutcome::Processing { channel_refund_id: format!("R{out_refund_no}") }
            }
            Some(ChanRefund { settled: Some(true), amount_fen, .. }) => {
                RefundOutcome::Succeeded { channel_refund_id: format!("R{out_refund_no}"), amount_fen: *amount_fen }
            }
            Some(ChanRefund { settled: Some(false), .. }) => RefundOutcome::Failed { reason: "ABNORMAL".into() },
        })
    }
    async fn close(&self, no: &str) -> Result<(), ChannelError> {
        let mut g = self.lock();
        match g.orders.get_mut(no) {
            None => Err(ChannelError::Refused { code: "ORDER_NOT_EXIST".into(), message: "订单不存在".into() }),
            Some(o) if matches!(o.state, ChanState::Paid { .. }) => {
                Err(ChannelError::Refused { code: "ORDERPAID".into(), message: "该订单已支付".into() })
            }
            Some(o) => {
                o.state = ChanState::Closed;
                Ok(())
            }
        }
    }
}

// ---- the simulation ----
