//! Notices shown on the portal (公告) and channel maintenance notices beside a channel, as the
//! pages show them.

use bursar_domain::payment::ChannelKind;
use bursar_domain::time_fmt::datetime_cst;

use crate::{AppState, WebError};

pub struct NoticeView {
    pub title: String,
    pub body: String,
    /// When it stops being shown, `YYYY-MM-DD HH:MM`.
    pub until: String,
}

/// The notices shown now: to every payer, and per channel under maintenance.
pub struct PortalNotices {
    pub general: Vec<NoticeView>,
    pub channels: Vec<(ChannelKind, NoticeView)>,
}

impl PortalNotices {
    /// What a channel's maintenance notice says ("" when none).
    pub fn for_channel(&self, k: ChannelKind) -> String {
        self.channels
            .iter()
            .filter(|(c, _)| *c == k)
            .map(|(_, n)| if n.body.is_empty() { n.title.clone() } else { format!("{}：{}", n.title, n.body) })
            .collect::<Vec<_>>()
            .join("；")
    }
}

pub async fn portal_notices(s: &AppState) -> Result<PortalNotices, WebError> {
    let mut out = PortalNotices { general: Vec::new(), channels: Vec::new() };
    for n in s.engine.current_notices().await? {
        let view = NoticeView {
            title: n.title,
            body: n.body,
            until: datetime_cst(n.ends_at_ms).get(..16).unwrap_or_default().to_string(),
        };
        match n.channel.as_deref().and_then(ChannelKind::parse) {
            Some(k) => out.channels.push((k, view)),
            None => out.general.push(view),
        }
    }
    Ok(out)
}
