//! A cashier's day close (日结): the cashier counts the till and the POS slips against what the
//! system says they took that day, hands the close over with any difference explained, and the
//! chief cashier (出纳) — never the cashier — confirms it or returns it with a comment. A close
//! is never changed: a returned close is submitted again, a confirmed day is corrected by a new
//! entry with its reason. Each step is one transaction with its log line.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::till::{check_close, Counted, Takings, TillCloseState};
use bursar_domain::time_fmt::{date_cst, parse_date_cst_ms};
use bursar_store::till_closes::{self as store, CloseRow, NewClose};
use bursar_store::Tx;

use crate::engine::{log, require, Engine};
use crate::error::{not_found, refused, EngineError};

const DAY_MS: i64 = 86_400_000;

/// A day's takings and its closes so far (latest first).
pub struct DayAtTill {
    pub day: String,
    pub takings: Takings,
    pub closes: Vec<CloseRow>,
}

/// `[start, end)` of a `YYYY-MM-DD` day in Beijing time, refused when it is not a date or is
/// still to come.
fn day_bounds(day: &str, now_ms: i64) -> Result<(i64, i64), EngineError> {
    let start = parse_date_cst_ms(day).ok_or_else(|| refused(format!("「{day}」不是日期")))?;
    if start > now_ms {
        return Err(refused("不能为还没到的日子日结"));
    }
    Ok((start, start + DAY_MS))
}

/// Refuses taking money at the counter while the cashier's close of today waits for the chief
/// cashier (what it counted would no longer be the day's takings).
pub(crate) async fn check_till_open(tx: &mut Tx, cashier_id: &str) -> Result<(), EngineError> {
    let day = date_cst(tx.now_ms);
    let latest = store::of_day(tx, cashier_id, &day).await?.into_iter().next();
    if latest.is_some_and(|c| c.state == TillCloseState::Submitted) {
        return Err(refused("今天的日结已交出纳，等待确认期间不能收款；如需继续收款，请出纳先退回日结"));
    }
    Ok(())
}

fn cashier_of(by: &Principal) -> Result<String, EngineError> {
    require(by, Permission::CollectAtCounter)?;
    by.operator().map(|o| o.id.clone()).ok_or_else(|| refused("只有收费员本人可以日结"))
}

impl Engine {
    /// What the cashier asking took on `day` (default today), and the day's closes.
    pub async fn my_day_at_till(&self, by: &Principal, day: Option<&str>) -> Result<DayAtTill, EngineError> {
        let cashier = cashier_of(by)?;
        let now = self.store().now_ms();
        let day = day.map(str::trim).filter(|d| !d.is_empty()).map(str::to_string).unwrap_or_else(|| date_cst(now));
        let (from, to) = day_bounds(&day, now)?;
        let mut c = self.store().read().await?;
        let takings = store::takings(&mut c, &cashier, from, to).await?;
        let closes = store::of_day(&mut c, &cashier, &day).await?;
        Ok(DayAtTill { day, takings, closes })
    }

    /// Hands the day over: what was counted against what the system says, in one transaction
    /// (the takings are read again inside it). Returns the close's id.
    pub async fn close_day(
        &self,
        by: &Principal,
        day: &str,
        counted: Counted,
        reason: &str,
    ) -> Result<String, EngineError> {
        let cashier = cashier_of(by)?;
        let (from, to) = day_bounds(day.trim(), self.store().now_ms())?;
        let (by, day, reason) = (by.clone(), day.trim().to_string(), reason.trim().to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, day, reason, cashier) = (by.clone(), day.clone(), reason.clone(), cashier.clone());
                Box::pin(async move {
                    let takings = store::takings(tx, &cashier, from, to).await?;
                    let closes = store::of_day(tx, &cashier, &day).await?;
                    let latest = closes.first().cloned();
                    if latest.as_ref().is_some_and(|l| l.state == TillCloseState::Submitted) {
                        return Err(refused("这一天的日结已交出纳，正在等待确认"));
                    }
                    // Once any close of the day was confirmed, every later one corrects it.
                    let correction = closes.iter().any(|l| l.state == TillCloseState::Confirmed);
                    let difference = check_close(&takings, &counted, &reason, correction)?;
                    let id = tx.new_id();
                    let seq = latest.map_or(1, |l| l.seq + 1);
                    let close = NewClose {
                        id: &id,
                        cashier_id: &cashier,
                        day: &day,
                        seq,
                        takings,
                        cash_counted: counted.cash,
                        pos_counted: counted.pos,
                        difference,
                        reason: &reason,
                    };
                    store::insert(tx, &close).await?;
                    let detail = format!(
                        "day={day} seq={seq} payments={} cash_expected_fen={} pos_expected_fen={} code_fen={} cash_counted_fen={} pos_counted_fen={} difference_fen={}",
                        takings.payments,
                        takings.cash.get(),
                        takings.pos.get(),
                        takings.codes.get(),
                        counted.cash.get(),
                        counted.pos.get(),
                        difference.get()
                    );
                    log(tx, &by, "till.close", ("till_close", &id), ("", "submitted"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// The chief cashier confirms a close, or returns it (with a comment saying what to fix).
    pub async fn decide_day_close(
        &self,
        by: &Principal,
        id: &str,
        confirm: bool,
        comment: &str,
    ) -> Result<(), EngineError> {
        require(by, Permission::ConfirmDayClose)?;
        let me = by.actor_ref();
        let comment = comment.trim().to_string();
        if comment.chars().count() > 200 || comment.chars().any(char::is_control) {
            return Err(refused("意见最多 200 字"));
        }
        if !confirm && comment.is_empty() {
            return Err(refused("退回日结须写明原因"));
        }
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id, comment, me) = (by.clone(), id.clone(), comment.clone(), me.clone());
                Box::pin(async move {
                    let close = store::get(tx, &id).await.map_err(not_found("日结"))?;
                    if close.cashier_id == me {
                        return Err(refused("不能确认自己的日结，请由出纳确认"));
                    }
                    if close.state != TillCloseState::Submitted {
                        return Err(refused(format!("这份日结{}，不能再处理", close.state.label_zh())));
                    }
                    if confirm {
                        // What it counted must still be the day's takings.
                        let (from, to) = day_bounds(&close.day, tx.now_ms)?;
                        let now = store::takings(tx, &close.cashier_id, from, to).await?;
                        let recorded =
                            (close.payments, close.cash_expected_fen, close.pos_expected_fen, close.code_expected_fen);
                        if (now.payments, now.cash, now.pos, now.codes) != recorded {
                            return Err(refused("提交日结后这一天又有收款，系统记录已变；请退回，由收费员重新清点"));
                        }
                    }
                    let to = if confirm { TillCloseState::Confirmed } else { TillCloseState::Returned };
                    store::decide(tx, &id, to, &me, &comment).await?;
                    let detail =
                        format!("day={} seq={} difference_fen={}", close.day, close.seq, close.difference_fen.get());
                    log(tx, &by, "till.decide", ("till_close", &id), ("submitted", to.as_str()), &detail).await?;
                    Ok(())
                })
            })
            .await
    }

    /// Day closes for the chief cashier: those waiting first.
    pub async fn day_closes(&self, by: &Principal) -> Result<Vec<CloseRow>, EngineError> {
        require(by, Permission::ConfirmDayClose)?;
        let mut c = self.store().read().await?;
        Ok(store::recent(&mut c, 200).await?)
    }
}
