//! What finance must look at (exceptions), and refused input recorded without keeping an
//! outsider's bytes.

crate::coded_enum! {
    /// Something that needs a person: each kind with a subject (a merchant order number, a
    /// channel) has at most one open exception; repeats are counted on it.
    pub enum ExceptionKind {
        AmountMismatch = ("amount_mismatch", "金额不符", "Amount mismatch"),
        TransactionMismatch = ("transaction_mismatch", "渠道交易号不符", "Transaction mismatch"),
        UnknownPayment = ("unknown_payment", "渠道通知了不存在的支付", "Unknown payment"),
        AccountMismatch = ("account_mismatch", "收款账户不符", "Merchant account mismatch"),
        SignatureFailures = ("signature_failures", "大量验签失败的通知", "Many notifications failed verification"),
        UnknownRefund = ("unknown_refund", "渠道通知了不存在的退款", "Unknown refund"),
    }
}

crate::coded_enum! {
    pub enum ExceptionState {
        Open = ("open", "待处理", "Open"),
        Resolved = ("resolved", "已处理", "Resolved"),
    }
}

crate::coded_enum! {
    /// Why input from outside was refused before it could be trusted.
    pub enum RefusalClass {
        /// The signature, certificate, time or identity did not verify.
        Signature = ("signature", "验签失败", "Verification failed"),
        /// The message could not be parsed.
        Format = ("format", "报文格式错误", "Malformed"),
        /// Anything else that made it unusable.
        Unusable = ("unusable", "无法处理", "Unusable"),
    }
}

/// Refusals of one class from one source within an hour after which an exception is raised.
pub const SIGNATURE_FAILURES_ALERT: i64 = 20;

/// What may be kept of text an outsider chose: at most `max_chars` characters, control
/// characters replaced by spaces, the cut marked with "…".
pub fn sample(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().nth(max_chars).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_short_and_printable() {
        assert_eq!(sample("abc", 10), "abc");
        assert_eq!(sample("a\u{0}b\nc", 10), "a b c");
        let long = "签".repeat(1000);
        let s = sample(&long, 100);
        assert_eq!(s.chars().count(), 100);
        assert!(s.ends_with('…'));
    }
}
