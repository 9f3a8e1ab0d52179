//! The campus card (校园卡) as a wallet payers pay from.

crate::coded_enum! {
    pub enum CardState {
        Active = ("active", "正常", "Active"),
        /// Reported lost (挂失): nothing can be paid with it.
        Lost = ("lost", "已挂失", "Reported lost"),
        Frozen = ("frozen", "已冻结", "Frozen"),
    }
}
