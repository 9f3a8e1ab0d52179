//! Who may do what: principals, roles, permissions and data scope, decided in one place.
//!
//! Every engine command takes a [`Principal`] and asks [`Principal::require`] for the permission
//! it needs; the answer is a [`Scope`] saying over which data the permission holds (every
//! department, some departments, one payer, an application's fee items). A refusal names the
//! missing permission. Operators hold [`Role`]s; a role grants a fixed set of permissions
//! ([`Role::permissions`]) — the README's role table is printed from the same list.

use thiserror::Error;

use crate::payer::PayerKind;

crate::coded_enum! {
    /// An operator's role (an operator may hold several).
    pub enum Role {
        /// 收费部门: applies for its department's fee items, publishes projects, asks for refunds
        /// and waivers, watches its own collection.
        DepartmentOperator = ("department_operator", "收费部门业务员", "Department operator"),
        /// 收费员: takes payments at a counter.
        Cashier = ("cashier", "收费员", "Cashier"),
        /// 出纳: receives the cashiers' day closes (日结) and confirms or returns them.
        ChiefCashier = ("chief_cashier", "出纳", "Chief cashier"),
        /// 财务经办: day-to-day finance work; requests what the approver decides.
        FinanceClerk = ("finance_clerk", "财务经办", "Finance clerk"),
        /// 财务审核: approves refunds, waivers and fee items (never their own requests).
        FinanceApprover = ("finance_approver", "财务审核", "Finance approver"),
        /// 财务管理员: everything finance does, plus channels, applications and finance settings.
        FinanceAdmin = ("finance_admin", "财务管理员", "Finance administrator"),
        /// 审计: reads everything, the operation log included; changes nothing.
        Auditor = ("auditor", "审计", "Auditor"),
        /// 校领导: reads dashboards and reports.
        Leader = ("leader", "校领导", "School leader"),
        /// 系统管理员: operators and settings; no money.
        SystemAdmin = ("system_admin", "系统管理员", "System administrator"),
    }
}

crate::coded_enum! {
    /// What an action needs. The code is shown to an operator refused for lack of it.
    pub enum Permission {
        ViewCollection = ("collection.view", "查看收费情况", "View collection"),
        /// Look into and close what the platform flagged (amount mismatches, unknown payments…).
        ResolveExceptions = ("exception.resolve", "处理异常", "Resolve exceptions"),
        ViewPayers = ("payer.view", "查看缴费人", "View payers"),
        ManagePayers = ("payer.manage", "管理缴费人", "Manage payers"),
        ApplyFeeItem = ("fee_item.apply", "申请收费项目", "Apply for fee items"),
        ApproveFeeItem = ("fee_item.approve", "审核收费项目", "Approve fee items"),
        RaiseReceivables = ("receivable.raise", "生成应收", "Raise receivables"),
        RequestWaiver = ("waiver.request", "申请减免缓缴", "Request waivers and deferrals"),
        ApproveWaiver = ("waiver.approve", "审批减免缓缴", "Approve waivers and deferrals"),
        RequestRefund = ("refund.request", "申请退款", "Request refunds"),
        ApproveRefund = ("refund.approve", "审批退款", "Approve refunds"),
        ExecuteRefund = ("refund.execute", "办理退款（重新发起、线下转账）", "Execute refunds"),
        CollectAtCounter = ("counter.collect", "窗口收费", "Collect at the counter"),
        /// Confirm (or return) a cashier's day close; never one's own.
        ConfirmDayClose = ("counter.close.confirm", "确认日结", "Confirm day closes"),
        ImportOffline = ("offline.import", "导入线下收款", "Import offline collections"),
        ManageChannels = ("channel.manage", "管理收款渠道", "Manage channels"),
        ManageApps = ("app.manage", "管理接入应用", "Manage applications"),
        ManageProjects = ("project.manage", "管理报名项目", "Manage projects"),
        ViewReports = ("report.view", "查看报表", "View reports"),
        ViewDashboard = ("dashboard.view", "查看看板", "View dashboards"),
        ViewOperationLog = ("oplog.view", "查看操作日志", "View the operation log"),
        ManageOperators = ("operator.manage", "管理操作员", "Manage operators"),
        ManageSettings = ("settings.manage", "系统参数设置", "Manage settings"),
        /// A payer pays their own fees and signs up for projects.
        PayOwnFees = ("self.pay", "缴纳本人费用", "Pay own fees"),
        /// A payer changes their own account (password, phone, security questions).
        ManageOwnAccount = ("self.account", "管理本人账户", "Manage own account"),
        /// A business system creates and closes orders and raises receivables for its items.
        ApiCollect = ("api.collect", "接口收费", "Collect through the API"),
        /// A business system asks for refunds of its own orders.
        ApiRefund = ("api.refund", "接口退款申请", "Request refunds through the API"),
        /// Applies what a channel reports and runs Bursar's own jobs.
        RunSystemJobs = ("system.jobs", "系统作业", "Run system jobs"),
    }
}

impl Role {
    /// The permissions a role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::DepartmentOperator => {
                &[ViewCollection, ApplyFeeItem, ManageProjects, RequestRefund, RequestWaiver, ViewPayers]
            }
            Role::Cashier => &[CollectAtCounter, ViewPayers],
            Role::ChiefCashier => &[CollectAtCounter, ConfirmDayClose, ViewPayers, ViewReports],
            Role::FinanceClerk => &[
                ViewCollection,
                ViewPayers,
                ManagePayers,
                ApplyFeeItem,
                ManageProjects,
                RaiseReceivables,
                RequestWaiver,
                RequestRefund,
                ExecuteRefund,
                ImportOffline,
                CollectAtCounter,
                ResolveExceptions,
                ViewReports,
                ViewDashboard,
            ],
            Role::FinanceApprover => {
                &[ViewCollection, ViewPayers, ApproveFeeItem, ApproveWaiver, ApproveRefund, ViewReports, ViewDashboard]
            }
            Role::FinanceAdmin => &[
                ViewCollection,
                ViewPayers,
                ManagePayers,
                ApplyFeeItem,
                ApproveFeeItem,
                ManageProjects,
                RaiseReceivables,
                RequestWaiver,
                ApproveWaiver,
                RequestRefund,
                ApproveRefund,
                ExecuteRefund,
                ImportOffline,
                CollectAtCounter,
                ConfirmDayClose,
                ResolveExceptions,
                ManageChannels,
                ManageApps,
                ViewReports,
                ViewDashboard,
                ViewOperationLog,
            ],
            Role::Auditor => &[ViewCollection, ViewPayers, ViewReports, ViewDashboard, ViewOperationLog],
            Role::Leader => &[ViewDashboard, ViewReports],
            Role::SystemAdmin => &[ManageOperators, ManageSettings, ViewOperationLog],
        }
    }

    /// Whether the role's permissions hold only over the operator's own departments.
    pub fn is_department_scoped(self) -> bool {
        matches!(self, Role::DepartmentOperator)
    }

    /// Whether the role moves or approves money: it must use a second factor (动态口令) unless
    /// 系统设置 relaxes that.
    pub fn approves_money(self) -> bool {
        matches!(self, Role::FinanceApprover | Role::FinanceAdmin | Role::ChiefCashier)
    }
}

/// The permissions operators can hold (a payer's, an application's and the system's own are
/// not granted by roles).
pub const OPERATOR_PERMISSIONS: &[Permission] = &[
    Permission::ViewCollection,
    Permission::ResolveExceptions,
    Permission::ViewPayers,
    Permission::ManagePayers,
    Permission::ApplyFeeItem,
    Permission::ApproveFeeItem,
    Permission::RaiseReceivables,
    Permission::RequestWaiver,
    Permission::ApproveWaiver,
    Permission::RequestRefund,
    Permission::ApproveRefund,
    Permission::ExecuteRefund,
    Permission::CollectAtCounter,
    Permission::ConfirmDayClose,
    Permission::ImportOffline,
    Permission::ManageChannels,
    Permission::ManageApps,
    Permission::ManageProjects,
    Permission::ViewReports,
    Permission::ViewDashboard,
    Permission::ViewOperationLog,
    Permission::ManageOperators,
    Permission::ManageSettings,
];

/// The role table as Markdown (the README's, and `bursar roles`): one row per permission, one
/// column per role; "本部门" where the role holds it over its own departments only.
pub fn role_table_markdown() -> String {
    let mut out = String::from("| 权限 (permission) |");
    for r in Role::ALL {
        out.push_str(&format!(" {} |", r.label_zh()));
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str(":-:|");
    }
    out.push('\n');
    for &p in OPERATOR_PERMISSIONS {
        out.push_str(&format!("| {} `{}` |", p.label_zh(), p.as_str()));
        for r in Role::ALL {
            let cell = match (r.permissions().contains(&p), r.is_department_scoped()) {
                (false, _) => "",
                (true, true) => "本部门",
                (true, false) => "✓",
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

/// Over which data a granted permission holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (finance, auditors, leaders, the system).
    All,
    /// The fee items, payments and refunds of these departments (ids).
    Departments(Vec<String>),
    /// One payer's own data.
    Payer(String),
    /// An application's own fee items (ids).
    FeeItems(Vec<String>),
}

impl Scope {
    pub fn covers_department(&self, department_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Departments(ids) => ids.iter().any(|d| d == department_id),
            Scope::Payer(_) | Scope::FeeItems(_) => false,
        }
    }
    pub fn covers_payer(&self, payer_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Payer(id) => id == payer_id,
            Scope::Departments(_) | Scope::FeeItems(_) => false,
        }
    }
    pub fn covers_fee_item(&self, fee_item_id: &str, department_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Departments(ids) => ids.iter().any(|d| d == department_id),
            Scope::FeeItems(ids) => ids.iter().any(|f| f == fee_item_id),
            Scope::Payer(_) => false,
        }
    }
    /// The departments a listing must be limited to (`None`: no limit).
    pub fn department_filter(&self) -> Option<&[String]> {
        match self {
            Scope::Departments(ids) => Some(ids),
            Scope::All => None,
            Scope::Payer(_) | Scope::FeeItems(_) => Some(&[]),
        }
    }
    fn union(self, other: Scope) -> Scope {
        match (self, other) {
            (Scope::All, _) | (_, Scope::All) => Scope::All,
            (Scope::Departments(mut a), Scope::Departments(b)) => {
                for d in b {
                    if !a.contains(&d) {
                        a.push(d);
                    }
                }
                Scope::Departments(a)
            }
            (a, _) => a,
        }
    }
}

crate::coded_enum! {
    /// Bursar's own actors: the jobs and paths that act without a person.
    pub enum SystemJob {
        /// Starting payments and recording what channels answer.
        Engine = ("engine", "支付引擎", "Payment engine"),
        /// Asking channels about payments until they are final.
        ActiveQuery = ("active_query", "主动查询", "Active query"),
        /// Submitting refunds and following them.
        RefundJob = ("refund_job", "退款作业", "Refund job"),
        /// Refunding overpayments when the school chose automatic refunds.
        AutoRefund = ("auto_refund", "多缴款自动退款", "Automatic refund"),
        /// Delivering webhooks to business systems.
        Webhooks = ("webhooks", "通知推送", "Webhook delivery"),
        /// The demo school's seed data.
        Seed = ("seed", "演示数据", "Demo data"),
        /// Batch work run from the command line by the school's IT office.
        Cli = ("cli", "命令行", "Command line"),
    }
}

crate::coded_enum! {
    /// The kinds of actor the operation log records.
    pub enum ActorKind {
        Payer = ("payer", "缴费人", "Payer"),
        Operator = ("operator", "操作员", "Operator"),
        App = ("app", "业务系统", "Business system"),
        System = ("system", "系统", "System"),
        Channel = ("channel", "支付渠道", "Channel"),
    }
}

/// A logged-in payer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerPrincipal {
    pub id: String,
    pub kind: PayerKind,
    /// The session came from a business system's SSO handoff, not the payer's password.
    pub via_sso: bool,
}

/// A logged-in operator, with every role and department they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorPrincipal {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub departments: Vec<String>,
}

/// A business system authenticated by its signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppPrincipal {
    /// The application's row id.
    pub id: String,
    /// Its public app id.
    pub app_id: String,
    /// The fee items it may charge.
    pub fee_items: Vec<String>,
}

/// Whoever asks for a change. Resolved once per request (or job) and passed to every command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Payer(PayerPrincipal),
    Operator(OperatorPrincipal),
    App(AppPrincipal),
    System(SystemJob),
    /// A channel's verified message (notification, bill); the channel's code.
    Channel(&'static str),
}

/// Why a command was refused before it touched anything. Messages are for the person asking.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("没有权限：此操作需要「{}」权限，如需办理请联系系统管理员", .0.label_zh())]
    Missing(Permission),
    #[error("不存在或无权访问")]
    OutOfScope,
    #[error("不能审批自己提交的申请（需由另一位审核人审批）")]
    OwnRequest,
    /// The request came from a business system whose secret this person registered or
    /// rotated (they could have signed it): someone else decides.
    #[error("该申请由您登记或更换过密钥的接入应用提交，须由另一位审核人审批")]
    OwnApplication,
}

impl Principal {
    /// The permission's scope for this principal, or the refusal naming it. The one place
    /// where access is decided.
    pub fn require(&self, permission: Permission) -> Result<Scope, AccessError> {
        let scope = match self {
            Principal::Operator(op) => {
                let mut granted: Option<Scope> = None;
                for &role in &op.roles {
                    if !role.permissions().contains(&permission) {
                        continue;
                    }
                    let scope = if role.is_department_scoped() {
                        Scope::Departments(op.departments.clone())
                    } else {
                        Scope::All
                    };
                    granted = Some(match granted {
                        Some(g) => g.union(scope),
                        None => scope,
                    });
                }
                granted
            }
            Principal::Payer(p) => match permission {
                Permission::PayOwnFees | Permission::ManageOwnAccount => Some(Scope::Payer(p.id.clone())),
                _ => None,
            },
            Principal::App(a) => match permission {
                Permission::ApiCollect | Permission::ApiRefund => Some(Scope::FeeItems(a.fee_items.clone())),
                _ => None,
            },
            // Bursar's own jobs act for the school (they are started by the binary, never by a
            // request), and a verified channel message may only apply what the channel reports.
            Principal::System(_) => Some(Scope::All),
            Principal::Channel(_) => (permission == Permission::RunSystemJobs).then_some(Scope::All),
        };
        scope.ok_or(AccessError::Missing(permission))
    }

    /// Whether the principal holds a permission (for showing or hiding what it may not use).
    pub fn can(&self, permission: Permission) -> bool {
        self.require(permission).is_ok()
    }

    /// Who to write in the operation log.
    pub fn actor(&self) -> (ActorKind, String) {
        match self {
            Principal::Payer(p) => (ActorKind::Payer, p.id.clone()),
            Principal::Operator(o) => (ActorKind::Operator, o.id.clone()),
            Principal::App(a) => (ActorKind::App, a.id.clone()),
            Principal::System(j) => (ActorKind::System, j.as_str().to_string()),
            Principal::Channel(c) => (ActorKind::Channel, (*c).to_string()),
        }
    }

    /// The stable id a request or approval is recorded under (`requested_by`, `decided_by`).
    pub fn actor_ref(&self) -> String {
        let (kind, id) = self.actor();
        match kind {
            ActorKind::Operator => id,
            other => format!("{}:{id}", other.as_str()),
        }
    }

    pub fn operator(&self) -> Option<&OperatorPrincipal> {
        match self {
            Principal::Operator(o) => Some(o),
            _ => None,
        }
    }
    pub fn payer(&self) -> Option<&PayerPrincipal> {
        match self {
            Principal::Payer(p) => Some(p),
            _ => None,
        }
    }
}

crate::coded_enum! {
    /// What can be asked by one person and must be decided by another (maker-checker).
    pub enum ApprovalKind {
        Refund = ("refund", "退款", "Refunds"),
        FeeItem = ("fee_item", "收费项目", "Fee items"),
        Waiver = ("waiver", "减免", "Waivers"),
        Deferral = ("deferral", "缓缴", "Deferrals"),
    }
}

impl ApprovalKind {
    /// The setting that relaxes four-eyes control for this kind (on unless set to `0`).
    pub fn setting_name(self) -> String {
        format!("four_eyes.{}", self.as_str())
    }
}

/// Maker-checker: whoever asked (`requested_by`, an [`Principal::actor_ref`]) cannot decide,
/// unless the school relaxed it for this kind.
pub fn check_four_eyes(requested_by: &str, decider: &Principal, enforced: bool) -> Result<(), AccessError> {
    if enforced && requested_by == decider.actor_ref() {
        return Err(AccessError::OwnRequest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(roles: &[Role], departments: &[&str]) -> Principal {
        Principal::Operator(OperatorPrincipal {
            id: "op1".into(),
            name: "张三".into(),
            roles: roles.to_vec(),
            departments: departments.iter().map(|d| d.to_string()).collect(),
        })
    }

    #[test]
    fn roles_grant_exactly_their_permissions() {
        let clerk = op(&[Role::FinanceClerk], &[]);
        assert_eq!(clerk.require(Permission::RequestRefund), Ok(Scope::All));
        assert_eq!(clerk.require(Permission::ApproveRefund), Err(AccessError::Missing(Permission::ApproveRefund)));
        let auditor = op(&[Role::Auditor], &[]);
        assert!(auditor.can(Permission::ViewOperationLog));
        for &p in Permission::ALL {
            if p.as_str().ends_with(".view") {
                continue;
            }
            assert!(!auditor.can(p), "an auditor changes nothing ({})", p.as_str());
        }
        let sysadmin = op(&[Role::SystemAdmin], &[]);
        for p in [Permission::ApproveRefund, Permission::RequestRefund, Permission::CollectAtCounter] {
            assert!(!sysadmin.can(p), "a system administrator moves no money");
        }
    }

    #[test]
    fn department_roles_are_scoped_and_roles_combine() {
        let dept = op(&[Role::DepartmentOperator], &["d1"]);
        let scope = dept.require(Permission::RequestRefund).unwrap();
        assert!(scope.covers_department("d1"));
        assert!(!scope.covers_department("d2"));
        assert!(!dept.can(Permission::ApproveRefund));
        let both = op(&[Role::DepartmentOperator, Role::FinanceClerk], &["d1"]);
        assert_eq!(both.require(Permission::RequestRefund), Ok(Scope::All), "the wider grant wins");
        assert_eq!(
            both.require(Permission::ManageProjects),
            Ok(Scope::All),
            "finance clerks manage every department's projects"
        );
    }

    #[test]
    fn payers_and_apps_act_only_for_themselves() {
        let payer =
            Principal::Payer(PayerPrincipal { id: "p1".into(), kind: PayerKind::EnrolledStudent, via_sso: false });
        let scope = payer.require(Permission::PayOwnFees).unwrap();
        assert!(scope.covers_payer("p1") && !scope.covers_payer("p2"));
        assert!(!payer.can(Permission::ViewCollection));
        let app = Principal::App(AppPrincipal { id: "a".into(), app_id: "app".into(), fee_items: vec!["f1".into()] });
        let scope = app.require(Permission::ApiCollect).unwrap();
        assert!(scope.covers_fee_item("f1", "any") && !scope.covers_fee_item("f2", "any"));
        assert!(!app.can(Permission::ApproveRefund));
        assert!(!Principal::Channel("wechatpay").can(Permission::ApproveRefund));
    }

    #[test]
    fn every_operator_permission_is_in_the_table_and_the_readme_shows_it() {
        for r in Role::ALL {
            for p in r.permissions() {
                assert!(OPERATOR_PERMISSIONS.contains(p), "{p:?} of {r:?} is missing from the table");
            }
        }
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
        let begin = "<!-- roles:begin -->\n";
        let start = readme.find(begin).expect("the README has a role table") + begin.len();
        let end = readme[start..].find("<!-- roles:end -->").expect("its end") + start;
        assert_eq!(
            &readme[start..end],
            role_table_markdown(),
            "the README's role table is out of date: `bursar roles` prints it"
        );
    }

    #[test]
    fn a_refusal_names_the_missing_permission() {
        let e = op(&[Role::Leader], &[]).require(Permission::ApproveRefund).unwrap_err();
        assert_eq!(e.to_string(), "没有权限：此操作需要「审批退款」权限，如需办理请联系系统管理员");
        assert_eq!(
            e,
            AccessError::Missing(Permission::ApproveRefund),
            "the code stays with the error for logs and the API"
        );
    }

    #[test]
    fn nobody_decides_their_own_request() {
        let approver = op(&[Role::FinanceAdmin], &[]);
        assert_eq!(check_four_eyes("op1", &approver, true), Err(AccessError::OwnRequest));
        assert!(check_four_eyes("op2", &approver, true).is_ok());
        assert!(check_four_eyes("op1", &approver, false).is_ok(), "the school may relax it");
        assert!(check_four_eyes("app:op1", &approver, true).is_ok(), "an app's request is not the operator's");
    }

    #[test]
    fn every_permission_is_granted_to_someone() {
        for &p in Permission::ALL {
            let by_role = Role::ALL.iter().any(|r| r.permissions().contains(&p));
            let by_others = matches!(
                p,
                Permission::PayOwnFees
                    | Permission::ManageOwnAccount
                    | Permission::ApiCollect
                    | Permission::ApiRefund
                    | Permission::RunSystemJobs
            );
            assert!(by_role || by_others, "{} is granted to nobody", p.as_str());
        }
    }
}
