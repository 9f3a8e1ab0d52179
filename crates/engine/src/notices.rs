//! Notices to payers (公告: shown on the portal's login and fees pages for their period) and
//! channel maintenance notices (渠道维护: shown beside that channel where payers choose how to
//! pay). Published and withdrawn by whoever manages settings; both logged.

use bursar_domain::access::{Permission, Principal};
use bursar_domain::payment::ChannelKind;
use bursar_domain::time_fmt::parse_sheet_datetime_cst_ms;
use bursar_store::notices::{self as store, NewNotice, NoticeRow};
use bursar_store::Tx;

use crate::engine::{log, require, Engine};
use crate::error::{refused, EngineError};

/// Longest title and body.
pub const MAX_TITLE: usize = 60;
pub const MAX_BODY: usize = 1000;
/// Longest period a notice may be shown for.
const MAX_PERIOD_MS: i64 = 366 * 86_400_000;

/// A notice as someone writes it; times as `2026-12-01 08:00` (Beijing time) or a date.
#[derive(Clone, Debug, Default)]
pub struct NoticeInput {
    pub channel: Option<ChannelKind>,
    pub title: String,
    pub body: String,
    pub starts: String,
    pub ends: String,
}

fn plain(text: &str, what: &str, max: usize, required: bool) -> Result<String, EngineError> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(refused(format!("请填写{what}")));
    }
    if t.chars().count() > max {
        return Err(refused(format!("{what}最多 {max} 字")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(refused(format!("{what}含有不可见字符")));
    }
    Ok(t.to_string())
}

impl Engine {
    /// Publishes a notice; returns its id.
    pub async fn publish_notice(&self, by: &Principal, n: &NoticeInput) -> Result<String, EngineError> {
        require(by, Permission::ManageSettings)?;
        if matches!(n.channel, Some(ChannelKind::Offline)) {
            return Err(refused("线下缴费没有渠道维护通知"));
        }
        let title = plain(&n.title, "标题", MAX_TITLE, true)?;
        let body = plain(&n.body, "内容", MAX_BODY, false)?;
        let now = self.store().now_ms();
        let starts = if n.starts.trim().is_empty() {
            now
        } else {
            parse_sheet_datetime_cst_ms(&n.starts).ok_or_else(|| refused("开始时间应写成 2026-12-01 08:00"))?
        };
        let ends = parse_sheet_datetime_cst_ms(&n.ends).ok_or_else(|| refused("结束时间应写成 2026-12-31 18:00"))?;
        if ends <= starts || ends <= now {
            return Err(refused("结束时间须晚于开始时间和现在"));
        }
        if ends - starts > MAX_PERIOD_MS {
            return Err(refused("公告最长显示一年"));
        }
        let (by, channel) = (by.clone(), n.channel);
        self.store()
            .write(|tx: &mut Tx| {
                let (by, title, body) = (by.clone(), title.clone(), body.clone());
                Box::pin(async move {
                    let id = tx.new_id();
                    let who = by.actor_ref();
                    let row = NewNotice {
                        id: &id,
                        channel: channel.map(ChannelKind::as_str),
                        title: &title,
                        body: &body,
                        starts_at_ms: starts,
                        ends_at_ms: ends,
                        created_by: &who,
                    };
                    store::insert(tx, &row).await?;
                    let detail = format!(
                        "channel={} starts_ms={starts} ends_ms={ends} title={title}",
                        channel.map(ChannelKind::as_str).unwrap_or("all")
                    );
                    log(tx, &by, "notice.publish", ("notice", &id), ("", "published"), &detail).await?;
                    Ok(id)
                })
            })
            .await
    }

    /// Withdraws a notice at once.
    pub async fn withdraw_notice(&self, by: &Principal, id: &str) -> Result<(), EngineError> {
        require(by, Permission::ManageSettings)?;
        let (by, id) = (by.clone(), id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, id) = (by.clone(), id.clone());
                Box::pin(async move {
                    if !store::withdraw(tx, &id, &by.actor_ref()).await? {
                        return Err(refused("这条公告不存在或已撤下"));
                    }
                    log(tx, &by, "notice.withdraw", ("notice", &id), ("published", "withdrawn"), "").await
                })
            })
            .await
    }

    /// Every notice, for whoever manages them.
    pub async fn notices(&self, by: &Principal) -> Result<Vec<NoticeRow>, EngineError> {
        require(by, Permission::ManageSettings)?;
        let mut c = self.store().read().await?;
        Ok(store::recent(&mut c, 100).await?)
    }

    /// The notices shown now (public: the portal shows them before login).
    pub async fn current_notices(&self) -> Result<Vec<NoticeRow>, EngineError> {
        let mut c = self.store().read().await?;
        Ok(store::current(&mut c, self.store().now_ms()).await?)
    }
}
