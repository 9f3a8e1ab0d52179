//! API v2 payment codes (付款码): micropay, order query, reverse, and a page that makes codes.

use super::*;

// ---- API v2: payment codes (付款码) -------------------------------------------------------

/// WeChat revokes a payment-code order the payer has not confirmed within this long.
pub(super) const USERPAYING_LIMIT_MS: i64 = 45_000;

impl WechatPaySimulator {
    /// A payment code as the payer's WeChat shows it (18 digits, prefix 10–15). With
    /// `needs_password` the charge waits (USERPAYING) until the payer confirms on the phone page.
    pub fn new_payment_code(&self, needs_password: bool) -> String {
        use rand::Rng;
        let code = format!("13{:016}", rand::thread_rng().gen_range(0..10_000_000_000_000_000u64));
        self.book().codes.insert(code.clone(), needs_password);
        code
    }

    /// A signed v2 answer (`sign_type` as the request's).
    fn v2_answer(&self, mut fields: BTreeMap<String, String>, kind: v2::SignType) -> Response {
        fields.insert("return_code".into(), "SUCCESS".into());
        fields.insert("return_msg".into(), "OK".into());
        fields.insert("appid".into(), self.inner.sandbox.appid.clone());
        fields.insert("mch_id".into(), self.inner.sandbox.mchid.clone());
        fields.insert("nonce_str".into(), random_alnum(16));
        let sig = v2::sign(&fields, &self.inner.sandbox.api_v2_key, kind);
        fields.insert("sign".into(), sig);
        ([("content-type", "text/xml; charset=utf-8")], v2::to_xml(&fields)).into_response()
    }

    fn v2_fail(&self, fields: BTreeMap<String, String>, kind: v2::SignType, code: &str, msg: &str) -> Response {
        let mut f = fields;
        f.insert("result_code".into(), "FAIL".into());
        f.insert("err_code".into(), code.into());
        f.insert("err_code_des".into(), msg.into());
        self.v2_answer(f, kind)
    }

    /// Parses and authenticates a v2 request: XML, appid/mch_id, signature with the v2 key.
    fn v2_request(&self, body: &[u8]) -> Result<(BTreeMap<String, String>, v2::SignType), Response> {
        let comm_fail = |msg: &str| {
            let mut f = BTreeMap::new();
            f.insert("return_code".to_string(), "FAIL".to_string());
            f.insert("return_msg".to_string(), msg.to_string());
            ([("content-type", "text/xml; charset=utf-8")], v2::to_xml(&f)).into_response()
        };
        let text = std::str::from_utf8(body).map_err(|_| comm_fail("XML格式错误"))?;
        let p = v2::parse_xml(text).map_err(|_| comm_fail("XML格式错误"))?;
        let kind =
            v2::SignType::parse(p.get("sign_type").map(String::as_str)).ok_or_else(|| comm_fail("签名类型错误"))?;
        if p.get("mch_id") != Some(&self.inner.sandbox.mchid) || p.get("appid") != Some(&self.inner.sandbox.appid) {
            return Err(comm_fail("appid和mch_id不匹配"));
        }
        if !v2::verify(&p, &self.inner.sandbox.api_v2_key, kind) {
            return Err(comm_fail("签名错误"));
        }
        Ok((p, kind))
    }

    /// Revokes a payment-code order still waiting past WeChat's limit.
    fn expire_userpaying(&self, key: &(String, String)) {
        let now = self.now_ms();
        if let Some(t) = self.book().txns.get_mut(key) {
            let started = t.expires_at_ms.unwrap_or(now) - USERPAYING_LIMIT_MS;
            if t.trade_state == "USERPAYING" && now - started > USERPAYING_LIMIT_MS {
                t.trade_state = "REVOKED";
            }
        }
    }

    fn v2_trade_fields(&self, t: &SimTxn) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        let delta = self.inner.faults.get().amount_delta_fen;
        f.insert("out_trade_no".to_string(), t.out_trade_no.clone());
        f.insert("trade_type".to_string(), "MICROPAY".to_string());
        f.insert("openid".to_string(), t.openid.clone());
        f.insert("total_fee".to_string(), (t.amount_fen + delta).to_string());
        if let Some(tid) = &t.transaction_id {
            f.insert("transaction_id".to_string(), tid.clone());
            f.insert("cash_fee".to_string(), (t.amount_fen + delta).to_string());
            f.insert("bank_type".to_string(), "OTHERS".to_string());
            f.insert("fee_type".to_string(), "CNY".to_string());
        }
        if let Some(ms) = t.success_time_ms {
            f.insert("time_end".to_string(), bursar_domain::time_fmt::compact_datetime_cst(ms));
        }
        f
    }
}

pub(super) async fn micropay(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    sim.inner.faults.hold_api().await;
    if sim.inner.faults.get().api_errors {
        return sim.v2_fail(BTreeMap::new(), kind, "SYSTEMERROR", "系统超时");
    }
    let total: i64 = match get("total_fee").parse() {
        Ok(t) if t > 0 => t,
        _ => return sim.v2_fail(BTreeMap::new(), kind, "PARAM_ERROR", "total_fee 错误"),
    };
    let (otn, code) = (get("out_trade_no"), get("auth_code"));
    if otn.is_empty() || otn.len() > 32 || get("body").is_empty() || get("spbill_create_ip").is_empty() {
        return sim.v2_fail(BTreeMap::new(), kind, "PARAM_ERROR", "缺少参数");
    }
    let key = (sim.inner.sandbox.mchid.clone(), otn.clone());
    if let Some(existing) = sim.book().txns.get(&key).cloned() {
        return match existing.trade_state {
            "SUCCESS" => sim.v2_answer(
                {
                    let mut f = sim.v2_trade_fields(&existing);
                    f.insert("result_code".into(), "SUCCESS".into());
                    f
                },
                kind,
            ),
            _ => sim.v2_fail(BTreeMap::new(), kind, "OUT_TRADE_NO_USED", "商户订单号重复"),
        };
    }
    let needs_password = match sim.book().codes.remove(&code) {
        Some(n) if v2::is_wechat_auth_code(&code) => n,
        _ => return sim.v2_fail(BTreeMap::new(), kind, "AUTH_CODE_INVALID", "付款码无效，请重新扫码"),
    };
    let now = sim.now_ms();
    let pr = format!("mp{}", random_alnum(16));
    let txn = SimTxn {
        appid: sim.inner.sandbox.appid.clone(),
        mchid: sim.inner.sandbox.mchid.clone(),
        out_trade_no: otn.clone(),
        description: get("body"),
        amount_fen: total,
        notify_url: String::new(),
        attach: None,
        // Used as "started + 45 s" for the USERPAYING limit.
        expires_at_ms: Some(now + USERPAYING_LIMIT_MS),
        trade_state: "USERPAYING",
        transaction_id: None,
        success_time_ms: None,
        pr: pr.clone(),
        openid: format!("oSim{}", random_alnum(24)),
        trade_type: "MICROPAY",
    };
    {
        let mut book = sim.book();
        book.by_pr.insert(pr.clone(), key.clone());
        book.txns.insert(key.clone(), txn);
    }
    if needs_password {
        return sim.v2_fail(BTreeMap::new(), kind, "USERPAYING", "需要用户输入支付密码");
    }
    match sim.confirm(&pr) {
        Ok(t) => {
            let mut f = sim.v2_trade_fields(&t);
            f.insert("result_code".into(), "SUCCESS".into());
            sim.v2_answer(f, kind)
        }
        Err(e) => sim.v2_fail(BTreeMap::new(), kind, "SYSTEMERROR", &e),
    }
}

pub(super) async fn orderquery(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = match (p.get("out_trade_no"), p.get("transaction_id")) {
        (Some(no), _) if !no.is_empty() => Some((sim.inner.sandbox.mchid.clone(), no.clone())),
        (_, Some(tid)) => sim.book().by_tid.get(tid).cloned(),
        _ => None,
    };
    let Some(key) = key else {
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "此交易订单号不存在");
    };
    sim.expire_userpaying(&key);
    let Some(t) = sim.book().txns.get(&key).cloned() else {
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "此交易订单号不存在");
    };
    let mut f = sim.v2_trade_fields(&t);
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("trade_state".into(), t.trade_state.into());
    sim.v2_answer(f, kind)
}

pub(super) async fn reverse(State(sim): State<WechatPaySimulator>, body: Bytes) -> Response {
    let (p, kind) = match sim.v2_request(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = (sim.inner.sandbox.mchid.clone(), p.get("out_trade_no").cloned().unwrap_or_default());
    let mut book = sim.book();
    let Some(t) = book.txns.get_mut(&key) else {
        drop(book);
        return sim.v2_fail(BTreeMap::new(), kind, "ORDERNOTEXIST", "订单不存在");
    };
    // Unpaid: revoked. Paid: the money goes back to the payer and the order is revoked too.
    t.trade_state = "REVOKED";
    drop(book);
    let mut f = BTreeMap::new();
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("recall".into(), "N".into());
    sim.v2_answer(f, kind)
}

pub(super) async fn paycode_page() -> Html<String> {
    phone_page(
        "付款码",
        "<div class=\"card\"><p>生成付款码，出示给收银员扫描（模拟）。</p><form method=\"post\" action=\"/phone/paycode\">\
         <label><input type=\"checkbox\" name=\"password\" value=\"1\" style=\"width:auto\"> 需要输入支付密码</label>\
         <button class=\"ok\" type=\"submit\">生成付款码</button></form></div>",
    )
}

#[derive(Deserialize)]
pub(super) struct NewCode {
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn paycode_new(State(sim): State<WechatPaySimulator>, Form(f): Form<NewCode>) -> Html<String> {
    let code = sim.new_payment_code(f.password.is_some());
    phone_page(
        "付款码",
        &format!(
            "<div class=\"card\"><div class=\"muted\">付款码（约 1 分钟内有效）</div><div class=\"amount\" id=\"paycode\">{}</div>\
             <div class=\"qr\">{}</div><p><a href=\"/phone\">待支付订单（输入密码）</a></p></div>",
            html_escape(&code),
            qr_svg(&code)
        ),
    )
}
