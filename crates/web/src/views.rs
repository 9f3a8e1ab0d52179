//! What every page shows around its content, and formatting helpers.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use bursar_domain::time_fmt;
use bursar_domain::Fen;

use crate::WebError;

/// Renders a page template into a response.
pub fn render<T: Template>(t: &T) -> Result<Response, WebError> {
    t.render().map(|h| Html(h).into_response()).map_err(|e| WebError::Internal(format!("template: {e}")))
}

/// The page frame: school name, who is logged in, the CSRF token for the logout form.
pub struct Chrome {
    pub school_name: String,
    /// The school's logo (empty: none set).
    pub logo_url: String,
    pub user_name: String,
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// `portal`, `public` or `admin`: which navigation to show.
    pub area: &'static str,
    /// The finance view's entries this operator may use: (path, label, section).
    pub nav: Vec<(&'static str, &'static str, &'static str)>,
}

/// A path on this site to return to, or the portal: never another origin.
pub fn local_path(p: &str) -> &str {
    let ok = p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control);
    if ok {
        p
    } else {
        "/portal"
    }
}

/// An amount as people read it: `¥1,200.00` (always with the sign, thousands grouped).
pub fn yuan(fen: Fen) -> String {
    format!("¥{fen}")
}

/// A payment state's badge colour in the design system.
pub fn payment_badge(state: bursar_domain::payment::PaymentState) -> &'static str {
    use bursar_domain::payment::PaymentState::*;
    match state {
        Succeeded => "ok",
        Created | Paying => "warn",
        Failed => "bad",
        Closed => "",
    }
}

/// "缓缴至 2027-03-01（绿色通道）" for an approved deferral of something still owed (empty otherwise).
pub fn deferral_note(r: &bursar_engine::rows::ReceivableView) -> String {
    match (r.deferred_until_ms, r.outstanding().is_positive()) {
        (Some(until), true) => {
            let kind = r.deferral_kind.as_deref().and_then(bursar_domain::fee::DeferralKind::parse);
            let why = kind.map(|k| k.label_zh()).unwrap_or("缓缴");
            format!("缓缴至 {}（{why}）", bursar_domain::time_fmt::date_cst(until))
        }
        _ => String::new(),
    }
}

pub fn datetime(ms: i64) -> String {
    time_fmt::datetime_cst(ms)
}

pub fn date_or_unlimited(ms: Option<i64>, end: bool) -> String {
    match ms {
        // Windows end exclusively at midnight; show the last day that is still open.
        Some(v) if end => time_fmt::date_cst(v - 1),
        Some(v) => time_fmt::date_cst(v),
        None => "不限".into(),
    }
}

/// What a waiting payment's page shows the payer: a QR code, a link to the channel, a form
/// posted to the gateway, or the WeChat payment sheet. Shared by the portal and the cashier.
#[derive(Clone, Debug, Default)]
pub struct ActionView {
    /// `qr`, `redirect`, `form`, `jsapi`, or empty when nothing is waiting.
    pub kind: &'static str,
    pub qr_svg: String,
    pub redirect_url: String,
    pub form_action: String,
    pub form_fields: Vec<(String, String)>,
    /// The channel's app the payer uses (微信 / 支付宝 …).
    pub app_name: &'static str,
    /// The simulator's page standing in for the payer's phone (demo only).
    pub phone_url: String,
}

impl ActionView {
    pub fn of(p: &bursar_engine::rows::PaymentRow, waiting: bool, sim_base_url: Option<&str>) -> ActionView {
        use bursar_channels::PayAction;
        use bursar_domain::payment::ChannelKind;
        let sim = sim_base_url.map(|u| u.trim_end_matches('/').to_string());
        let mut v = ActionView {
            app_name: match p.channel {
                ChannelKind::Alipay => "支付宝",
                ChannelKind::Unionpay => "云闪付/网银",
                _ => "微信",
            },
            ..ActionView::default()
        };
        let action = if waiting { bursar_engine::pay_action_of(p) } else { None };
        match action {
            Some(PayAction::Qr { code_url }) => {
                v.kind = "qr";
                v.qr_svg = bursar_channels::qr_svg(&code_url);
                if let Some(sim) = &sim {
                    v.phone_url = match p.channel {
                        ChannelKind::Alipay => {
                            format!("{sim}/alipay/pay?qr={}", bursar_channels::url_encode(&code_url))
                        }
                        _ => format!("{sim}/phone/pay?code_url={}", bursar_channels::url_encode(&code_url)),
                    };
                }
            }
            Some(PayAction::Redirect { url }) => {
                v.kind = "redirect";
                v.redirect_url = url;
            }
            Some(PayAction::Form { action, fields }) => {
                v.kind = "form";
                v.form_action = action;
                v.form_fields = fields;
            }
            Some(PayAction::Jsapi { params }) => {
                v.kind = "jsapi";
                // Inside WeChat the page calls WeixinJSBridge with these; the simulator's payment
                // sheet takes the same signed parameters as a form.
                v.form_action = sim.as_ref().map(|u| format!("{u}/phone/jsapi")).unwrap_or_default();
                v.form_fields = params;
            }
            None => {}
        }
        v
    }

    /// A page that posts to a channel's gateway names exactly that origin as a form target.
    pub fn allow_gateway(&self, resp: &mut Response) {
        let Some(origin) = origin_of(&self.form_action) else { return };
        let csp = format!("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'");
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            resp.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

/// `scheme://host[:port]` of an absolute http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(['\'', '"', ';', ' '])).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(local_path("//evil.example/x"), "/portal");
        assert_eq!(local_path("https://evil.example"), "/portal");
        assert_eq!(local_path("/portal/fees?year=2026-2027"), "/portal/fees?year=2026-2027");
    }
}
