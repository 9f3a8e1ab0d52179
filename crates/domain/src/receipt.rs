//! Receipts (缴费凭证): Bursar's numbered, verifiable proof of a payment, and what it says.

crate::coded_enum! {
    /// What a receipt vouches for. A payment that found nothing left to pay (late or duplicate)
    /// gets a receipt that says so and is never valid for the fees.
    pub enum ReceiptState {
        /// Valid for the fees it lists.
        Valid = ("valid", "有效", "Valid"),
        /// Part of the payment was refunded.
        PartiallyRefunded = ("partially_refunded", "部分退款", "Partly refunded"),
        /// All of it was refunded (red-lettered).
        Refunded = ("refunded", "已退款（红冲）", "Refunded"),
        /// Nothing was owed any more: the money waits to be refunded.
        Overpayment = ("overpayment", "多缴款，待退还", "Overpaid, to be refunded"),
    }
}

crate::coded_enum! {
    /// The paper a voucher is printed on: a finance office's A4 or A5 (half A4) printer, or a
    /// counter's 80 mm thermal receipt printer.
    pub enum Paper {
        A4 = ("a4", "A4 纸", "A4"),
        A5 = ("a5", "A5 纸（半张 A4）", "A5"),
        Thermal80 = ("thermal80", "80 毫米热敏纸", "80 mm receipt roll"),
    }
}

impl ReceiptState {
    /// Whether the receipt proves the fees were paid.
    pub fn vouches_for_fees(self) -> bool {
        matches!(self, ReceiptState::Valid | ReceiptState::PartiallyRefunded)
    }
}
