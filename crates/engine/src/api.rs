//! The open API's business logic: registered applications, orders created for a payer (an
//! identified one, or an outside person by name and ID number / phone), closing them, refunds
//! asked by the application, arrears, receivables pushed in bulk, and the events business
//! systems are notified of (written in the same transaction as the change they report).

use bursar_channels::crypto::{random_alnum, SealingKey};
use bursar_domain::fee::FeeItemStatus;
use bursar_domain::ledger;
use bursar_domain::order::OrderState;
use bursar_domain::payer::{is_valid_resident_id, mask_id_number, PayerKind};
use bursar_domain::payment::PaymentState;
use bursar_domain::Fen;
use bursar_store::api::{self as api_store, ApiOrderRow, AppRow, NewApp};
use bursar_store::jobs::{self as job_store, NewJob};
use bursar_store::oplog::{self, Actor, Change};
use bursar_store::payers::{self, NewPayer};
use bursar_store::payments as pay_store;
use bursar_store::{receivables, StoreError, Tx};
use serde_json::{json, Value};

use crate::error::EngineError;
use crate::payments::Engine;

/// The largest amount one API line may carry (one hundred million yuan), in fen.
const MAX_ORDER_FEN: i64 = 10_000_000_000;

/// The job that delivers a webhook event.
pub const WEBHOOK_JOB: &str = "webhook.deliver";

/// An application's problem with a request, naming the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub code: &'static str,
    pub param: String,
    pub message: String,
}

fn param(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> EngineError {
    EngineError::Param(ParamError { code, param: param.into(), message: message.into() })
}

/// Who pays an API order.
#[derive(Clone, Debug)]
pub enum ApiPayer {
    /// A payer Bursar knows (student, staff, registrant) by login identifier.
    Identified { identifier: String },
    /// An outside person: found by ID number (or phone), created if new.
    Outside { name: String, id_number: Option<String>, phone: Option<String>, id_digest: Option<String> },
}

#[derive(Clone, Debug)]
pub struct ApiItem {
    pub fee_item_code: String,
    pub academic_year: String,
    pub amount: Fen,
}

#[derive(Clone, Debug)]
pub struct ApiOrderInput {
    pub out_order_no: String,
    pub payer: ApiPayer,
    pub items: Vec<ApiItem>,
    pub description: String,
    pub return_url: Option<String>,
    pub expires_in_secs: i64,
    pub metadata: String,
}

fn app_aad(app_id: &str) -> Vec<u8> {
    format!("bursar api app secret v1|{app_id}").into_bytes()
}

impl Engine {
    /// Registers a business system. Returns the app and its secret (shown once).
    #[allow(clippy::too_many_arguments)]
    pub async fn register_app(
        &self,
        sealing: &SealingKey,
        name: &str,
        notify_url: &str,
        return_url: &str,
        ip_allowlist: &str,
        fee_item_codes: &[String],
        rsa_public_key_pem: Option<&str>,
        actor: &Actor,
    ) -> Result<(AppRow, String), EngineError> {
        for (p, url) in [("notify_url", notify_url), ("return_url", return_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(param("invalid_url", p, "必须是 http(s) 地址"));
            }
        }
        let app_id = format!("app_{}", random_alnum(16).to_lowercase());
        let secret = format!("sk_{}", random_alnum(40));
        let sealed = sealing.seal(&app_aad(&app_id), secret.as_bytes())?;
        let mut tx = self.store().begin().await?;
        let now = tx.now_ms;
        let items = receivables::fee_items(tx.c()).await?;
        let id = tx.new_id();
        let a = NewApp {
            id: &id,
            app_id: &app_id,
            name,
            sealed_secret: &sealed,
            rsa_public_key_pem,
            notify_url,
            return_url,
            ip_allowlist,
        };
        api_store::insert_app(tx.c(), &a, now).await?;
        for code in fee_item_codes {
            let item = items
                .iter()
                .find(|i| &i.code == code)
                .ok_or_else(|| param("unknown_fee_item", "fee_items", code.clone()))?;
            api_store::allow_item(tx.c(), &id, &item.id).await?;
        }
        let detail = format!("app_id={app_id} items={}", fee_item_codes.join(","));
        let change = Change {
            action: "api_app.register",
            entity: "api_app",
            entity_id: &id,
            before: "",
            after: "active",
            detail: &detail,
        };
        oplog::append(tx.c(), now, actor, &change).await?;
        tx.commit().await?;
        let mut c = self.store().read().await?;
        Ok((api_store::app(&mut c, &id).await?, secret))
    }

    /// Issues a new secret; the old one keeps working for `overlap_ms`.
    pub async fn rotate_app_secret(
        &self,
        sealing: &SealingKey,
        app: &AppRow,
        overlap_ms: i64,
        actor: &Actor,
    ) -> Result<String, EngineError> {
        let secret = format!("sk_{}", random_alnum(40));
        let sealed = sealing.seal(&app_aad(&app.app_id), secret.as_bytes())?;
        let mut tx = self.store().begin().await?;
        let now = tx.now_ms;
        api_store::rotate_secret(tx.c(), &app.id, &sealed, &app.sealed_secret, now + overlap_ms, now).await?;
        let detail = format!("overlap_ms={overlap_ms}");
        let change = Change {
            action: "api_app.rotate_secret",
            entity: "api_app",
            entity_id: &app.id,
            before: "",
            after: "",
            detail: &detail,
        };
        oplog::append(tx.c(), now, actor, &change).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The secrets a request may be signed with now: the current one, and the previous one
    /// during its overlap.
    pub fn app_secrets(&self, sealing: &SealingKey, app: &AppRow) -> Result<Vec<String>, EngineError> {
        let open = |sealed: &str| -> Result<String, EngineError> {
            let bytes = sealing.unseal(&app_aad(&app.app_id), sealed)?;
            String::from_utf8(bytes)
                .map_err(|_| EngineError::Store(StoreError::Conflict("app secret is not text".into())))
        };
        let mut out = vec![open(&app.sealed_secret)?];
        if let (Some(prev), Some(until)) = (&app.sealed_previous_secret, app.previous_valid_until_ms) {
            if until > self.store().now_ms() {
                out.push(open(prev)?);
            }
        }
        Ok(out)
    }

    /// Creates an order (and the receivables it pays) for an application, in one transaction.
    pub async fn api_create_order(&self, app: &AppRow, input: &ApiOrderInput) -> Result<ApiOrderRow, EngineError> {
        if input.out_order_no.is_empty()
            || input.out_order_no.len() > 64
            || !input.out_order_no.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(param("invalid_out_order_no", "out_order_no", "1–64 位字母、数字、-、_"));
        }
        if input.items.is_empty() || input.items.len() > 20 {
            return Err(param("invalid_items", "items", "1–20 个收费项目"));
        }
        if !(60..=7 * 86_400).contains(&input.expires_in_secs) {
            return Err(param("invalid_expires_in", "expires_in", "60 秒到 7 天"));
        }
        for (i, it) in input.items.iter().enumerate() {
            if input.items[..i]
                .iter()
                .any(|o| o.fee_item_code == it.fee_item_code && o.academic_year == it.academic_year)
            {
                return Err(param("duplicate_item", format!("items[{i}]"), "同一收费项目和学年只能出现一次"));
            }
            if it.amount.get() <= 0 || it.amount.get() > MAX_ORDER_FEN {
                return Err(param(
                    "invalid_amount",
                    format!("items[{i}].amount_fen"),
                    "金额须为正整数（分），不超过一亿元",
                ));
            }
            bursar_domain::fee::AcademicYear::parse(&it.academic_year)
                .map_err(|e| param("invalid_academic_year", format!("items[{i}].academic_year"), e.to_string()))?;
        }
        if let ApiPayer::Outside { name, id_number, phone, .. } = &input.payer {
            if name.trim().is_empty() || name.chars().count() > 50 {
                return Err(param("invalid_payer", "payer.name", "姓名必填"));
            }
            match (id_number, phone) {
                (Some(id), _) if !is_valid_resident_id(id) => {
                    return Err(param("invalid_id_number", "payer.id_number", "身份证号码无效"))
                }
                (None, Some(p)) if p.len() != 11 || !p.chars().all(|c| c.is_ascii_digit()) => {
                    return Err(param("invalid_phone", "payer.phone", "手机号须为 11 位数字"))
                }
                (None, None) => return Err(param("invalid_payer", "payer", "校外人员须提供身份证号或手机号")),
                _ => {}
            }
        }
        let (app, input) = (app.clone(), input.clone());
        self.store()
            .write(|tx: &mut Tx| {
                let (app, input) = (app.clone(), input.clone());
                Box::pin(async move { create_in_tx(tx, &app, &input).await })
            })
            .await
    }

    /// Closes an unpaid API order: its waiting payments are closed at the channel (one paid
    /// meanwhile is credited instead), the order closes and what its receivables still owe is
    /// waived. A paid order cannot be closed.
    pub async fn api_close_order(&self, app: &AppRow, order_id: &str) -> Result<(), EngineError> {
        let (order, payments) = {
            let mut c = self.store().read().await?;
            let api = api_store::order_of(&mut c, order_id).await?.filter(|o| o.app_id == app.id);
            if api.is_none() {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
            (pay_store::order(&mut c, order_id).await?, pay_store::payments_of_order(&mut c, order_id).await?)
        };
        for p in payments.iter().filter(|p| p.state() == PaymentState::Paying) {
            self.close_payment(&p.id, &order.payer_id).await?;
        }
        let app = app.clone();
        let order_id = order_id.to_string();
        self.store()
            .write(|tx: &mut Tx| {
                let (app, order_id) = (app.clone(), order_id.clone());
                Box::pin(async move { close_in_tx(tx, &app, &order_id).await })
            })
            .await
    }

    /// Asks for a refund of an API order's payment; finance approves it like any other.
    pub async fn api_request_refund(
        &self,
        app: &AppRow,
        order_id: &str,
        amount: Fen,
        reason: &str,
    ) -> Result<String, EngineError> {
        let payment = {
            let mut c = self.store().read().await?;
            if api_store::order_of(&mut c, order_id).await?.filter(|o| o.app_id == app.id).is_none() {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
            pay_store::payments_of_order(&mut c, order_id)
                .await?
                .into_iter()
                .find(|p| p.state() == PaymentState::Succeeded)
                .ok_or_else(|| param("order_not_paid", "order", "订单未支付，无可退款项"))?
        };
        self.request_refund_for_app(app, &payment.id, amount, reason).await
    }

    /// Pushes one receivable for an identified payer, idempotent by the app's reference.
    /// Returns (receivable id, newly created).
    pub async fn api_push_receivable(
        &self,
        app: &AppRow,
        reference: &str,
        payer_identifier: &str,
        fee_item_code: &str,
        academic_year: &str,
        amount: Fen,
    ) -> Result<(String, bool), EngineError> {
        if reference.is_empty() || reference.chars().count() > 64 {
            return Err(param("invalid_ref", "ref", "ref 须为 1–64 个字符"));
        }
        if amount.get() <= 0 || amount.get() > MAX_ORDER_FEN {
            return Err(param("invalid_amount", "amount_fen", "金额须为正整数（分），不超过一亿元"));
        }
        bursar_domain::fee::AcademicYear::parse(academic_year)
            .map_err(|e| param("invalid_academic_year", "academic_year", e.to_string()))?;
        let (app, reference, who, code, year) = (
            app.clone(),
            reference.to_string(),
            payer_identifier.to_string(),
            fee_item_code.to_string(),
            academic_year.to_string(),
        );
        self.store()
            .write(|tx: &mut Tx| {
                let (app, reference, who, code, year) =
                    (app.clone(), reference.clone(), who.clone(), code.clone(), year.clone());
                Box::pin(async move {
                    let now = tx.now_ms;
                    if let Some(rid) = api_store::receivable_ref(tx.c(), &app.id, &reference).await? {
                        return Ok((rid, false));
                    }
                    let payer = payers::payer_by_identifier(tx.c(), &who)
                        .await?
                        .ok_or_else(|| param("unknown_payer", "payer_identifier", format!("缴费人 {who} 不存在")))?;
                    let allowed = api_store::allowed_items(tx.c(), &app.id).await?;
                    let item = receivables::fee_items(tx.c())
                        .await?
                        .into_iter()
                        .find(|f| f.code == code && allowed.contains(&f.id))
                        .ok_or_else(|| {
                            param(
                                "fee_item_not_allowed",
                                "fee_item_code",
                                format!("收费项目 {code} 不存在或未授权给本应用"),
                            )
                        })?;
                    if receivables::find(tx.c(), &payer.id, &item.id, &year).await?.is_some() {
                        return Err(param(
                            "receivable_exists",
                            "fee_item_code",
                            format!("{who} 已有 {year} 学年的 {code} 应收"),
                        ));
                    }
                    let rid = tx.new_id();
                    receivables::insert_receivable(tx.c(), &rid, &payer.id, &item.id, &year, amount, now).await?;
                    bursar_store::ledger::post(tx, &ledger::receivable_raised(&rid, &item.id, amount)?).await?;
                    api_store::insert_receivable_ref(tx.c(), &app.id, &reference, &rid).await?;
                    let detail = format!(
                        "fee_item={} year={year} due_fen={} api_app={} ref={reference}",
                        item.id,
                        amount.get(),
                        app.app_id
                    );
                    log_raise(tx, &app, &rid, &detail).await?;
                    Ok((rid, true))
                })
            })
            .await
    }

    /// Queues an event for the application (in the caller's transaction).
    pub async fn emit_event(tx: &mut Tx, app_id: &str, kind: &str, data: Value) -> Result<String, EngineError> {
        let now = tx.now_ms;
        let id = format!("evt_{}", tx.new_id());
        let body = json!({"id": id, "type": kind, "created": now / 1000, "data": data}).to_string();
        api_store::insert_event(tx.c(), &id, app_id, kind, &body, now).await?;
        let job_id = tx.new_id();
        let job = NewJob { kind: WEBHOOK_JOB, dedupe_key: &id, payload: &id, run_at_ms: now, max_attempts: 50 };
        job_store::enqueue(tx.c(), &job_id, &job, now).await?;
        Ok(id)
    }
}

/// The order as applications see it.
pub async fn order_json(
    c: &mut bursar_store::AnyConnection,
    api: &ApiOrderRow,
    base_url: &str,
) -> Result<Value, StoreError> {
    let order = pay_store::order(c, &api.order_id).await?;
    let lines = pay_store::order_lines(c, &api.order_id).await?;
    let payments = pay_store::payments_of_order(c, &api.order_id).await?;
    let payer = payers::payer(c, &order.payer_id).await?;
    let paid = payments.iter().find(|p| p.state() == PaymentState::Succeeded);
    let refunds = match paid {
        Some(p) => bursar_store::refunds::of_payment(c, &p.id).await?,
        None => Vec::new(),
    };
    let status = match OrderState::parse(&order.state) {
        Some(OrderState::Paid) => "paid",
        Some(OrderState::Open) => "open",
        _ => "closed",
    };
    Ok(json!({
        "object": "order",
        "id": api.order_id,
        "out_order_no": api.out_order_no,
        "status": status,
        "amount_fen": order.total_fen,
        "currency": "CNY",
        "description": api.description,
        "payer": {"identifier": payer.identifier, "name": bursar_domain::payer::mask_name(&payer.name), "kind": payer.kind},
        "items": lines.iter().map(|l| json!({"fee_item": l.item_name, "academic_year": l.academic_year, "amount_fen": l.amount_fen})).collect::<Vec<_>>(),
        "payment": paid.map(|p| json!({
            "id": p.id, "method": p.method, "channel": p.channel, "channel_txn_id": p.channel_txn_id,
            "paid_at": p.succeeded_at_ms.map(|t| t / 1000),
        })),
        "refunds": refunds.iter().map(refund_value).collect::<Vec<_>>(),
        "cashier_url": format!("{}/cashier/{}", base_url.trim_end_matches('/'), api.cashier_token),
        "metadata": serde_json::from_str::<Value>(&api.metadata).unwrap_or(Value::Null),
        "created": api.created_at_ms / 1000,
        "expires_at": api.expires_at_ms / 1000,
    }))
}

pub fn refund_value(r: &bursar_store::refunds::RefundRow) -> Value {
    json!({
        "object": "refund",
        "id": r.id,
        "amount_fen": r.amount_fen,
        "status": r.state,
        "reason": r.reason,
        "created": r.created_at_ms / 1000,
    })
}

async fn find_or_create_payer(tx: &mut Tx, payer: &ApiPayer) -> Result<String, EngineError> {
    match payer {
        ApiPayer::Identified { identifier } => match payers::payer_by_identifier(tx.c(), identifier).await? {
            Some(p) => Ok(p.id),
            None => Err(param("unknown_payer", "payer.identifier", format!("缴费人 {identifier} 不存在"))),
        },
        ApiPayer::Outside { name, id_number, phone, id_digest } => {
            let existing = match (id_digest, phone) {
                (Some(d), _) => payers::payer_by_id_digest(tx.c(), PayerKind::External.as_str(), d).await?,
                (None, Some(p)) => {
                    payers::payer_by_login(tx.c(), PayerKind::External.as_str(), &format!("M{p}")).await?
                }
                _ => None,
            };
            if let Some(p) = existing {
                return Ok(p.id);
            }
            let id = tx.new_id();
            let identifier = match phone.as_ref().filter(|_| id_number.is_none()) {
                Some(p) => format!("M{p}"),
                None => format!("W{}", &id[id.len() - 12..]),
            };
            let p = NewPayer {
                kind: PayerKind::External.as_str(),
                identifier: &identifier,
                name: name.trim(),
                id_number_masked: &id_number.as_deref().map(mask_id_number).unwrap_or_default(),
                id_number_digest: id_digest.as_deref().unwrap_or(""),
                phone: phone.as_deref().unwrap_or(""),
                department_id: None,
                class_name: "",
                // No password: an outside payer reaches the cashier by link or SSO.
                password_hash: "!",
            };
            let now = tx.now_ms;
            payers::insert_payer(tx.c(), &id, &p, now).await?;
            Ok(id)
        }
    }
}

async fn create_in_tx(tx: &mut Tx, app: &AppRow, input: &ApiOrderInput) -> Result<ApiOrderRow, EngineError> {
    let now = tx.now_ms;
    if api_store::order_by_out_no(tx.c(), &app.id, &input.out_order_no).await?.is_some() {
        return Err(param("duplicate_out_order_no", "out_order_no", "该 out_order_no 已有订单"));
    }
    let payer_id = find_or_create_payer(tx, &input.payer).await?;
    let allowed = api_store::allowed_items(tx.c(), &app.id).await?;
    let items = receivables::fee_items(tx.c()).await?;
    let order_id = tx.new_id();
    let mut total = Fen::ZERO;
    let mut lines = Vec::new();
    for (i, it) in input.items.iter().enumerate() {
        let Some(item) = items.iter().find(|f| f.code == it.fee_item_code && allowed.contains(&f.id)) else {
            return Err(param(
                "fee_item_not_allowed",
                format!("items[{i}].fee_item_code"),
                format!("收费项目 {} 不存在或未授权给本应用", it.fee_item_code),
            ));
        };
        if FeeItemStatus::parse(&item.status) != Some(FeeItemStatus::Collecting) {
            return Err(param("fee_item_not_collecting", format!("items[{i}].fee_item_code"), "该收费项目当前不收费"));
        }
        // One receivable per payer, item and year: another business order adds to it.
        let rid = match receivables::find(tx.c(), &payer_id, &item.id, &it.academic_year).await? {
            Some(existing) => {
                receivables::increase_due(tx.c(), &existing.id, Fen(existing.due_fen), it.amount, now).await?;
                let source = format!("{}:{order_id}", existing.id);
                bursar_store::ledger::post(
                    tx,
                    &ledger::receivable_increased(&existing.id, &item.id, it.amount, &source)?,
                )
                .await?;
                existing.id
            }
            None => {
                let rid = tx.new_id();
                receivables::insert_receivable(tx.c(), &rid, &payer_id, &item.id, &it.academic_year, it.amount, now)
                    .await?;
                bursar_store::ledger::post(tx, &ledger::receivable_raised(&rid, &item.id, it.amount)?).await?;
                rid
            }
        };
        let detail = format!(
            "fee_item={} year={} due_fen={} api_app={} order={order_id}",
            item.id,
            it.academic_year,
            it.amount.get(),
            app.app_id
        );
        log_raise(tx, app, &rid, &detail).await?;
        total = total.checked_add(it.amount)?;
        lines.push((rid, it.amount));
    }
    pay_store::insert_order(tx.c(), &order_id, &payer_id, total, now).await?;
    for (rid, amount) in &lines {
        pay_store::insert_order_line(tx.c(), &order_id, rid, *amount).await?;
    }
    let row = ApiOrderRow {
        order_id: order_id.clone(),
        app_id: app.id.clone(),
        out_order_no: input.out_order_no.clone(),
        cashier_token: random_alnum(32),
        return_url: input.return_url.clone().unwrap_or_else(|| app.return_url.clone()),
        description: input.description.clone(),
        metadata: input.metadata.clone(),
        expires_at_ms: now + input.expires_in_secs * 1000,
        created_at_ms: now,
    };
    api_store::insert_order(tx.c(), &row).await?;
    let detail = format!("out_order_no={} total_fen={} api_app={}", input.out_order_no, total.get(), app.app_id);
    let change = Change {
        action: "order.create",
        entity: "order",
        entity_id: &order_id,
        before: "",
        after: "open",
        detail: &detail,
    };
    oplog::append(tx.c(), now, &Actor::system(&app.app_id), &change).await?;
    Ok(row)
}

async fn close_in_tx(tx: &mut Tx, app: &AppRow, order_id: &str) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let order = pay_store::order(tx.c(), order_id).await?;
    let state = OrderState::parse(&order.state).unwrap_or(OrderState::Closed);
    match state {
        OrderState::Paid => return Err(param("order_paid", "order", "订单已支付，不能关闭（请申请退款）")),
        OrderState::Open => {}
        _ => return Ok(()), // already closed: idempotent
    }
    pay_store::transition_order(tx.c(), order_id, OrderState::Open, OrderState::Closed, now).await?;
    for line in pay_store::order_lines(tx.c(), order_id).await? {
        let r = receivables::receivable(tx.c(), &line.receivable_id).await?;
        // Only what this order raised (the receivable may owe more from elsewhere).
        let owed = Fen(r.outstanding().get().min(line.amount_fen));
        if owed.get() > 0 {
            receivables::waive_outstanding(tx.c(), &r.id, Fen(r.waived_fen), owed, now).await?;
            let entry = ledger::waiver(&r.id, &r.fee_item_id, owed, &format!("{}:close:{order_id}", r.id))?;
            bursar_store::ledger::post(tx, &entry).await?;
        }
    }
    let change = Change {
        action: "order.closed",
        entity: "order",
        entity_id: order_id,
        before: "open",
        after: "closed",
        detail: "closed by the application",
    };
    oplog::append(tx.c(), now, &Actor::system(&app.app_id), &change).await?;
    let api = api_store::order_of(tx.c(), order_id).await?;
    if let Some(api) = api {
        Engine::emit_event(
            tx,
            &app.id,
            "order.closed",
            json!({"order_id": order_id, "out_order_no": api.out_order_no}),
        )
        .await?;
    }
    Ok(())
}

/// The operation-log line of a receivable an application raised.
async fn log_raise(tx: &mut Tx, app: &AppRow, rid: &str, detail: &str) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let change =
        Change { action: "receivable.raise", entity: "receivable", entity_id: rid, before: "", after: "open", detail };
    oplog::append(tx.c(), now, &Actor::system(&app.app_id), &change).await?;
    Ok(())
}
