//! The payer portal (zh-CN first, English available): login, current fees, choosing what to
//! pay, paying through any channel, the payment result, vouchers and records, paid information,
//! the payer's own account, project registration, and the public receipt check.

mod account;
pub mod fees;
mod login;
mod payments;
pub use payments::{voucher_body, PaperQuery, VoucherBody};
pub mod projects;

use crate::guard::{get, post};
use axum::http::HeaderMap;
use axum::response::Redirect;
use bursar_domain::payment::Device;

use crate::guard::{Current, Guard, Routes};
use crate::views::Chrome;
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .route("/portal", Guard::Payer, get(|| async { Redirect::to("/portal/fees") }))
        .route("/portal/login", Guard::Public, get(login::login_page).post(login::login))
        .route("/portal/login/new-student", Guard::Public, post(login::login_new_student))
        .route("/portal/logout", Guard::PayerInitial, post(login::logout))
        .route("/portal/fees", Guard::Payer, get(fees::fees))
        .route("/portal/pay", Guard::Payer, get(fees::pay_page))
        .route("/portal/orders", Guard::Payer, post(fees::create_order))
        .route("/portal/orders/{id}", Guard::Payer, get(fees::order_page))
        .route("/portal/orders/{id}/pay", Guard::Payer, post(fees::pay_order))
        .route("/portal/payments/{id}", Guard::Payer, get(payments::payment_page))
        .route("/portal/payments/{id}", Guard::GatewayReturn, post(payments::front_return))
        .route("/portal/payments/{id}/status", Guard::Payer, get(payments::payment_status))
        .route("/portal/payments/{id}/close", Guard::Payer, post(payments::close_payment))
        .route("/portal/payments/{id}/voucher", Guard::Payer, get(payments::voucher))
        .route("/portal/records", Guard::Payer, get(payments::records))
        .route("/portal/paid", Guard::Payer, get(payments::paid_info))
        .route("/receipts/verify/{code}", Guard::Public, get(payments::verify_receipt))
        .merge(account::routes())
        .merge(projects::routes())
}

pub(crate) fn chrome(s: &AppState, current: &Current, section: &'static str) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        logo_url: s.config.image_url(bursar_engine::school_profile::ImageKind::Logo),
        user_name: current.session.name.clone(),
        csrf: current.csrf().to_string(),
        section,
        area: "portal",
        nav: Vec::new(),
    }
}

/// A page of the portal to continue to after logging in or registering; anything else is dropped.
pub(crate) fn portal_next(next: &str) -> String {
    let p = crate::views::local_path(next);
    if p.starts_with("/portal/") {
        p.to_string()
    } else {
        String::new()
    }
}

/// Where the payer is paying from, by the browser's User-Agent.
pub(crate) fn device_of(headers: &HeaderMap) -> Device {
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Device::from_user_agent(ua)
}

/// The payer's IP as the front proxy reports it (WeChat H5 needs it); loopback otherwise.
pub(crate) fn client_ip(headers: &HeaderMap) -> String {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next());
    let real = headers.get("x-real-ip").and_then(|v| v.to_str().ok());
    forwarded
        .or(real)
        .map(|v| v.trim().to_string())
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The payer's openid under the merchant's WeChat app. Production obtains it by WeChat's OAuth
/// redirect; with the simulators a stable pseudonym of the payer stands in for it.
pub(crate) fn openid_for(s: &AppState, payer_id: &str) -> Option<String> {
    s.config.sim_base_url.as_ref()?;
    let digest =
        bursar_engine::access::passwords::id_number_digest(&s.config.id_digest_key, &format!("openid:{payer_id}"));
    Some(format!("oSim{}", &digest[..24.min(digest.len())]))
}
