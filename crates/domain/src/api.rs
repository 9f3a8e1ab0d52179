//! Business systems (业务系统) that use the open API, and the webhooks Bursar sends them.

crate::coded_enum! {
    pub enum ApiAppState {
        Active = ("active", "启用", "Active"),
        Disabled = ("disabled", "停用", "Disabled"),
    }
}

crate::coded_enum! {
    pub enum WebhookState {
        /// Waiting for (another) delivery attempt.
        Pending = ("pending", "待推送", "Pending"),
        /// An attempt failed; the next one is scheduled.
        Retrying = ("retrying", "重试中", "Retrying"),
        Delivered = ("delivered", "已送达", "Delivered"),
        /// Every attempt failed; finance may redeliver.
        Failed = ("failed", "推送失败", "Failed"),
    }
}
