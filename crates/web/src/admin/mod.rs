//! The finance view (`/admin`), for every operator role: each page is behind the permission it
//! needs, and the navigation shows only what the operator may use.

mod apps;
mod channels;
mod collection;
mod counter;
mod dashboard;
mod day_close;
mod deferrals;
mod exceptions;
mod fee_item_changes;
mod fee_item_profile;
mod fee_items;
mod import_report;
mod imports;
mod login;
mod notices;
mod operators;
mod oplog;
mod oplog_detail;
mod payer_account;
mod payers;
mod projects;
mod raise;
mod receivables;
mod refunds;
mod relief;
mod reports;
mod second_factor;
mod settings;
mod standards;
mod waivers;

use crate::guard::{get, post};
use bursar_domain::access::{Permission, Principal};

use crate::guard::{Current, Guard, Routes};
use crate::views::Chrome;
use crate::AppState;

/// Who sees a section: any of these permissions, finance-wide only (`true`) or also within a
/// department's scope.
type Shown = (&'static [Permission], bool);

/// The finance view's sections: (path, label, section, who sees it).
const NAV: &[(&str, &str, &str, Shown)] = &[
    ("/admin", "收费监控", "dashboard", (&[Permission::ViewCollection, Permission::ViewDashboard], false)),
    ("/admin/payments", "支付流水", "payments", (&[Permission::ViewCollection], false)),
    ("/admin/reports", "统计报表", "reports", (&[Permission::ViewReports], false)),
    ("/admin/payers", "缴费人", "payers", (&[Permission::ViewPayers], false)),
    ("/admin/receivables", "应收管理", "receivables", (&[Permission::RaiseReceivables], false)),
    ("/admin/waivers/review", "减免缓缴", "waivers", (&[Permission::ApproveWaiver], false)),
    ("/admin/relief", "批量减免缓缴", "relief", (&[Permission::RequestWaiver], false)),
    (
        "/admin/fee-items",
        "收费项目",
        "fee_items",
        (&[Permission::ApplyFeeItem, Permission::ApproveFeeItem, Permission::ViewCollection], false),
    ),
    ("/admin/refunds", "退款管理", "refunds", (&[Permission::ViewCollection], false)),
    ("/admin/exceptions", "异常处理", "exceptions", (&[Permission::ViewCollection], true)),
    ("/admin/overpayments", "多缴款", "overpayments", (&[Permission::ViewCollection], true)),
    ("/admin/projects", "项目报名", "projects", (&[Permission::ManageProjects, Permission::ViewCollection], false)),
    ("/admin/counter", "收费窗口", "counter", (&[Permission::CollectAtCounter], false)),
    ("/admin/day-closes", "日结确认", "day_closes", (&[Permission::ConfirmDayClose], false)),
    ("/admin/imports", "线下导入", "imports", (&[Permission::ImportOffline], false)),
    ("/admin/channels", "收款渠道", "channels", (&[Permission::ManageChannels], false)),
    ("/admin/apps", "接入应用", "apps", (&[Permission::ManageApps], false)),
    ("/admin/operators", "操作员", "operators", (&[Permission::ManageOperators], false)),
    ("/admin/oplog", "操作日志", "oplog", (&[Permission::ViewOperationLog], false)),
    ("/admin/notices", "公告", "notices", (&[Permission::ManageSettings], false)),
    ("/admin/settings", "系统设置", "settings", (&[Permission::ManageSettings], false)),
];

/// The sections an operator may use.
pub fn nav_for(p: &Principal) -> Vec<(&'static str, &'static str, &'static str)> {
    let shown = |(perms, wide): &Shown| {
        perms.iter().any(|x| match p.require(*x) {
            Ok(scope) => !*wide || scope == bursar_domain::access::Scope::All,
            Err(_) => false,
        })
    };
    NAV.iter().filter(|(_, _, _, who)| shown(who)).map(|(h, l, s, _)| (*h, *l, *s)).collect()
}

/// The first page an operator may use (their home).
pub fn home_of(p: &Principal) -> &'static str {
    // A cashier's day is at the counter.
    if p.can(Permission::CollectAtCounter) && !p.can(Permission::ViewCollection) && !p.can(Permission::ViewDashboard) {
        return "/admin/counter";
    }
    nav_for(p).first().map(|(h, _, _)| *h).unwrap_or("/admin/none")
}

pub(crate) fn chrome(s: &AppState, current: &Current, section: &'static str) -> Chrome {
    Chrome {
        school_name: s.config.school_name(),
        logo_url: s.config.image_url(bursar_engine::school_profile::ImageKind::Logo),
        user_name: current.session.name.clone(),
        csrf: current.csrf().to_string(),
        section,
        area: "admin",
        nav: nav_for(current.principal()),
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin", Guard::Operator, get(collection::home))
        .route("/admin/none", Guard::Operator, get(login::no_sections))
        .route("/admin/login", Guard::Public, get(login::login_page).post(login::login))
        .route("/admin/login/code", Guard::Public, get(login::code_page).post(login::code))
        .route("/admin/logout", Guard::Operator, post(login::logout))
        .route("/admin/payments", Guard::Permission(Permission::ViewCollection), get(collection::payments))
        .merge(refunds::routes())
        .merge(payers::routes())
        .merge(import_report::routes())
        .merge(standards::routes())
        .merge(deferrals::routes())
        .merge(payer_account::routes())
        .merge(fee_item_changes::routes())
        .merge(raise::routes())
        .merge(receivables::routes())
        .merge(waivers::routes())
        .merge(relief::routes())
        .merge(exceptions::routes())
        .merge(counter::routes())
        .merge(day_close::routes())
        .merge(imports::routes())
        .merge(channels::routes())
        .merge(apps::routes())
        .merge(projects::routes())
        .merge(fee_items::routes())
        .merge(settings::routes())
        .merge(notices::routes())
        .merge(oplog::routes())
        .merge(operators::routes())
        .merge(second_factor::routes())
        .merge(reports::routes())
}
