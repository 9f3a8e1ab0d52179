//! What a business system does through the open API: create an order for a payer (raising what
//! it charges by the one rule for an existing receivable), close it, ask for a refund of it, and
//! push bills. Every command acts as the application's principal, within its own fee items.

use bursar_channels::crypto::random_alnum;
use bursar_domain::access::{AppPrincipal, Permission, Principal};
use bursar_domain::fee::{AcademicYear, FeeItemStatus};
use bursar_domain::ledger;
use bursar_domain::order::OrderState;
use bursar_domain::payer::{is_valid_resident_id, mask_id_number, PayerKind};
use bursar_domain::payment::PaymentState;
use bursar_domain::refund::RefundKind;
use bursar_domain::Fen;
use bursar_store::api::{self as api_store, ApiOrderRow};
use bursar_store::payers::{self, NewPayer};
use bursar_store::{payments as pay_store, receivables, Tx};
use serde_json::json;

use crate::api::{emit_event, param, ApiOrderInput, ApiPayer, MAX_ORDER_FEN};
use crate::collection::receivables::{raise_receivable, Raise, RaiseMode, Raised};
use crate::engine::{log, require, Engine};
use crate::error::EngineError;

fn app_of(by: &Principal) -> Result<&AppPrincipal, EngineError> {
    match by {
        Principal::App(a) => Ok(a),
        _ => Err(EngineError::Access(bursar_domain::AccessError::Missing(Permission::ApiCollect))),
    }
}

fn check_order_input(input: &ApiOrderInput) -> Result<(), EngineError> {
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
        if input.items[..i].iter().any(|o| o.fee_item_code == it.fee_item_code && o.academic_year == it.academic_year) {
            return Err(param("duplicate_item", format!("items[{i}]"), "同一收费项目和学年只能出现一次"));
        }
        if it.amount.get() <= 0 || it.amount.get() > MAX_ORDER_FEN {
            return Err(param(
                "invalid_amount",
                format!("items[{i}].amount_fen"),
                "金额须为正整数（分），不超过一亿元",
            ));
        }
        AcademicYear::parse(&it.academic_year)
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
    Ok(())
}

impl Engine {
    /// Creates an order (and what it charges) for an application, in one transaction.
    pub async fn api_create_order(
        &self,
        by: &Principal,
        input: &ApiOrderInput,
        claim: Option<&crate::queries::app::IdemClaim>,
    ) -> Result<ApiOrderRow, EngineError> {
        require(by, Permission::ApiCollect)?;
        app_of(by)?;
        check_order_input(input)?;
        let (by, input, claim) = (by.clone(), input.clone(), claim.cloned());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, input, claim) = (by.clone(), input.clone(), claim.clone());
                Box::pin(async move {
                    let row = create_in_tx(tx, &by, &input).await?;
                    // The order is this request's effect, recorded in its own commit.
                    if let Some(c) = &claim {
                        bursar_store::api::record_effect(tx, &c.app, &c.key, "order", &row.order_id).await?;
                    }
                    Ok(row)
                })
            })
            .await
    }

    /// Closes an unpaid API order: its waiting payment is closed at the channel (one paid
    /// meanwhile is credited instead), the order closes and what its lines raised is waived. A
    /// paid order cannot be closed.
    pub async fn api_close_order(&self, by: &Principal, order_id: &str) -> Result<(), EngineError> {
        require(by, Permission::ApiCollect)?;
        let app = app_of(by)?.clone();
        let (order, live) = {
            let mut c = self.store().read().await?;
            if api_store::order_of(&mut c, order_id).await?.filter(|o| o.app_id == app.id).is_none() {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
            (pay_store::order(&mut c, order_id).await?, pay_store::live_payment_of_order(&mut c, order_id).await?)
        };
        if order.state == OrderState::Open && live.is_some() {
            match self.make_way(order_id, None).await {
                Ok(_) | Err(EngineError::OrderNotOpen(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let (by, order_id) = (by.clone(), order_id.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, app, order_id) = (by.clone(), app.clone(), order_id.clone());
                Box::pin(async move { close_in_tx(tx, &by, &app, &order_id).await })
            })
            .await
    }

    /// Asks for a refund of an API order's payment (as a fee cancelled); finance approves it
    /// like any other.
    pub async fn api_request_refund(
        &self,
        by: &Principal,
        order_id: &str,
        amount: Fen,
        reason: &str,
        claim: Option<&crate::queries::app::IdemClaim>,
    ) -> Result<String, EngineError> {
        require(by, Permission::ApiRefund)?;
        let app = app_of(by)?;
        let payment = {
            let mut c = self.store().read().await?;
            if api_store::order_of(&mut c, order_id).await?.filter(|o| o.app_id == app.id).is_none() {
                return Err(EngineError::NotFound(format!("订单 {order_id}")));
            }
            pay_store::payments_of_order(&mut c, order_id)
                .await?
                .into_iter()
                .find(|p| p.state == PaymentState::Succeeded)
                .ok_or_else(|| param("order_not_paid", "order", "订单未支付，无可退款项"))?
        };
        self.request_refund_claimed(by, &payment.id, amount, RefundKind::FeeCancelled, reason, claim).await
    }

    /// Pushes one bill for an identified payer, idempotent by the app's reference. Returns
    /// (receivable id, newly created).
    pub async fn api_push_receivable(
        &self,
        by: &Principal,
        reference: &str,
        payer_identifier: &str,
        fee_item_code: &str,
        academic_year: &str,
        amount: Fen,
    ) -> Result<(String, bool), EngineError> {
        require(by, Permission::ApiCollect)?;
        let app = app_of(by)?.clone();
        if reference.is_empty() || reference.chars().count() > 64 {
            return Err(param("invalid_ref", "ref", "ref 须为 1–64 个字符"));
        }
        if amount.get() <= 0 || amount.get() > MAX_ORDER_FEN {
            return Err(param("invalid_amount", "amount_fen", "金额须为正整数（分），不超过一亿元"));
        }
        AcademicYear::parse(academic_year)
            .map_err(|e| param("invalid_academic_year", "academic_year", e.to_string()))?;
        let by = by.clone();
        let (reference, who, code, year) =
            (reference.to_string(), payer_identifier.to_string(), fee_item_code.to_string(), academic_year.to_string());
        self.store()
            .write(|tx: &mut Tx| {
                let (by, app, reference, who, code, year) =
                    (by.clone(), app.clone(), reference.clone(), who.clone(), code.clone(), year.clone());
                Box::pin(async move {
                    if let Some(rid) = api_store::receivable_ref(tx, &app.id, &reference).await? {
                        return Ok((rid, false));
                    }
                    let payer = payers::payer_by_identifier(tx, &who)
                        .await?
                        .ok_or_else(|| param("unknown_payer", "payer_identifier", format!("缴费人 {who} 不存在")))?;
                    let item = receivables::fee_item_by_code(tx, &code)
                        .await?
                        .filter(|f| app.fee_items.contains(&f.id))
                        .ok_or_else(|| {
                            param(
                                "fee_item_not_allowed",
                                "fee_item_code",
                                format!("收费项目 {code} 不存在或未授权给本应用"),
                            )
                        })?;
                    let source = format!("api:{}:{reference}", app.app_id);
                    let raise = Raise {
                        payer_id: &payer.id,
                        fee_item_id: &item.id,
                        academic_year: &year,
                        amount,
                        mode: RaiseMode::Bill,
                        source: &source,
                    };
                    match raise_receivable(tx, &by, &raise).await? {
                        Raised::Created(rid) => {
                            api_store::insert_receivable_ref(tx, &app.id, &reference, &rid).await?;
                            Ok((rid, true))
                        }
                        _ => Err(param(
                            "receivable_exists",
                            "fee_item_code",
                            format!("{who} 已有 {year} 学年的 {code} 应收"),
                        )),
                    }
                })
            })
            .await
    }
}

async fn find_or_create_payer(tx: &mut Tx, by: &Principal, payer: &ApiPayer) -> Result<String, EngineError> {
    match payer {
        ApiPayer::Identified { identifier } => match payers::payer_by_identifier(tx, identifier).await? {
            Some(p) => Ok(p.id),
            None => Err(param("unknown_payer", "payer.identifier", format!("缴费人 {identifier} 不存在"))),
        },
        ApiPayer::Outside { name, id_number, phone, id_digest } => {
            let existing = match (id_digest, phone) {
                (Some(d), _) => payers::payer_by_id_digest(tx, PayerKind::External, d).await?,
                (None, Some(p)) => payers::payer_by_login(tx, PayerKind::External, &format!("M{p}")).await?,
                _ => None,
            };
            // Only verified facts match an account: one a business system created (what it
            // asserted), or a self-registered one by its phone proven with a code. A registrant's
            // unproven phone or ID number matches nothing, so an order never lands in an
            // account anybody could have made; it gets an account of its own.
            let self_registered = |p: &bursar_store::payers::PayerRow| p.password_hash != "!";
            let (existing, phone_taken) = match existing {
                Some(p) if self_registered(&p) && (id_digest.is_some() || p.phone_verified_at_ms.is_none()) => {
                    (None, id_digest.is_none())
                }
                other => (other, false),
            };
            if let Some(p) = existing {
                // The same phone or ID number under another name is not this person.
                if p.name.trim() != name.trim() {
                    return Err(param(
                        "payer_mismatch",
                        "payer.name",
                        "该手机号或证件号已登记为另一姓名的缴费人，请核对缴费人信息",
                    ));
                }
                return Ok(p.id);
            }
            let id = tx.new_id();
            let identifier = match phone.as_ref().filter(|_| id_number.is_none() && !phone_taken) {
                Some(p) => format!("M{p}"),
                None => format!("W{}", &id[id.len().saturating_sub(12)..]),
            };
            let p = NewPayer {
                kind: PayerKind::External,
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
            payers::insert_payer(tx, &id, &p, now).await?;
            log(tx, by, "payer.create", ("payer", &id), ("", "active"), "开放接口订单的校外缴费人").await?;
            Ok(id)
        }
    }
}

async fn create_in_tx(tx: &mut Tx, by: &Principal, input: &ApiOrderInput) -> Result<ApiOrderRow, EngineError> {
    let app = app_of(by)?;
    let app_row = api_store::app(tx, &app.id).await?;
    let now = tx.now_ms;
    if api_store::order_by_out_no(tx, &app.id, &input.out_order_no).await?.is_some() {
        return Err(param("duplicate_out_order_no", "out_order_no", "该 out_order_no 已有订单"));
    }
    let payer_id = find_or_create_payer(tx, by, &input.payer).await?;
    let order_id = tx.new_id();
    let mut total = Fen::ZERO;
    let mut lines = Vec::new();
    for (i, it) in input.items.iter().enumerate() {
        let Some(item) =
            receivables::fee_item_by_code(tx, &it.fee_item_code).await?.filter(|f| app.fee_items.contains(&f.id))
        else {
            return Err(param(
                "fee_item_not_allowed",
                format!("items[{i}].fee_item_code"),
                format!("收费项目 {} 不存在或未授权给本应用", it.fee_item_code),
            ));
        };
        if item.status != FeeItemStatus::Collecting {
            return Err(param("fee_item_not_collecting", format!("items[{i}].fee_item_code"), "该收费项目当前不收费"));
        }
        // What the payer already owes for the item and year is paid through this order, once;
        // a charge beyond it is refused rather than added to the bill (an integrator resending
        // an order must never double what the payer owes).
        if let Some(existing) = receivables::find(tx, &payer_id, &item.id, &it.academic_year).await? {
            if existing.outstanding() < it.amount {
                return Err(param(
                    "already_billed",
                    format!("items[{i}].amount"),
                    format!(
                        "该缴费人 {} 学年的「{}」已有应收 ¥{}，尚欠 ¥{}；本单金额 ¥{} 超过尚欠金额，未再加收",
                        it.academic_year,
                        item.name,
                        existing.due_fen,
                        existing.outstanding(),
                        it.amount
                    ),
                ));
            }
        }
        let raise = Raise {
            payer_id: &payer_id,
            fee_item_id: &item.id,
            academic_year: &it.academic_year,
            amount: it.amount,
            mode: RaiseMode::Charge,
            source: &order_id,
        };
        let raised = raise_receivable(tx, by, &raise).await?;
        total = total.checked_add(it.amount)?;
        lines.push((raised.receivable_id().to_string(), it.amount, raised.raised(it.amount)));
    }
    pay_store::insert_order(tx, &order_id, &payer_id, total, now).await?;
    for (rid, amount, raised) in &lines {
        pay_store::insert_order_line(tx, &order_id, rid, *amount, *raised).await?;
    }
    let row = ApiOrderRow {
        order_id: order_id.clone(),
        app_id: app.id.clone(),
        out_order_no: input.out_order_no.clone(),
        cashier_token: random_alnum(32),
        return_url: input.return_url.clone().unwrap_or_else(|| app_row.return_url.clone()),
        description: input.description.clone(),
        metadata: input.metadata.clone(),
        expires_at_ms: now + input.expires_in_secs * 1000,
        created_at_ms: now,
    };
    api_store::insert_order(tx, &row).await?;
    let detail = format!("out_order_no={} total_fen={} api_app={}", input.out_order_no, total.get(), app.app_id);
    log(tx, by, "order.create", ("order", &order_id), ("", "open"), &detail).await?;
    Ok(row)
}

async fn close_in_tx(tx: &mut Tx, by: &Principal, app: &AppPrincipal, order_id: &str) -> Result<(), EngineError> {
    let now = tx.now_ms;
    let order = pay_store::order(tx, order_id).await?;
    match order.state {
        OrderState::Paid => return Err(param("order_paid", "order", "订单已支付，不能关闭（请申请退款）")),
        OrderState::Open => {}
        OrderState::Closed => return Ok(()), // already closed: idempotent
    }
    if pay_store::live_payment_of_order(tx, order_id).await?.is_some() {
        return Err(param("payment_in_progress", "order", "订单有一笔支付正在进行，请稍后再关闭"));
    }
    pay_store::transition_order(tx, order_id, OrderState::Open, OrderState::Closed, now).await?;
    for line in pay_store::order_lines(tx, order_id).await? {
        let r = receivables::receivable(tx, &line.receivable_id).await?;
        // Only what this order raised (the receivable may owe more from elsewhere).
        let owed = r.outstanding().min(line.raised_fen);
        if owed.is_positive() {
            receivables::waive_outstanding(tx, &r.id, r.waived_fen, owed, now).await?;
            let entry = ledger::waiver(&r.id, &r.fee_item_id, owed, &format!("{}:close:{order_id}", r.id))?;
            bursar_store::ledger::post(tx, &entry).await?;
        }
    }
    log(tx, by, "order.closed", ("order", order_id), ("open", "closed"), "closed by the application").await?;
    if let Some(api) = api_store::order_of(tx, order_id).await? {
        let data = json!({"order_id": order_id, "out_order_no": api.out_order_no});
        emit_event(tx, &app.id, "order.closed", data).await?;
    }
    Ok(())
}
