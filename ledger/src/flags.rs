//! Flag bits of accounts, transfers and filters (TigerBeetle 0.17).

/// `Account.flags`.
pub mod account {
    pub const LINKED: u16 = 1 << 0;
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: u16 = 1 << 1;
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: u16 = 1 << 2;
    pub const HISTORY: u16 = 1 << 3;
    pub const IMPORTED: u16 = 1 << 4;
    pub const CLOSED: u16 = 1 << 5;
    /// Every defined bit; the rest are `reserved_flag`.
    pub const ALL: u16 = (1 << 6) - 1;
}

/// `Transfer.flags`.
pub mod transfer {
    pub const LINKED: u16 = 1 << 0;
    pub const PENDING: u16 = 1 << 1;
    pub const POST_PENDING_TRANSFER: u16 = 1 << 2;
    pub const VOID_PENDING_TRANSFER: u16 = 1 << 3;
    pub const BALANCING_DEBIT: u16 = 1 << 4;
    pub const BALANCING_CREDIT: u16 = 1 << 5;
    pub const CLOSING_DEBIT: u16 = 1 << 6;
    pub const CLOSING_CREDIT: u16 = 1 << 7;
    pub const IMPORTED: u16 = 1 << 8;
    /// Every defined bit; the rest are `reserved_flag`.
    pub const ALL: u16 = (1 << 9) - 1;
}

/// `AccountFilter.flags`.
pub mod account_filter {
    pub const DEBITS: u32 = 1 << 0;
    pub const CREDITS: u32 = 1 << 1;
    pub const REVERSED: u32 = 1 << 2;
    pub const ALL: u32 = (1 << 3) - 1;
}

/// `QueryFilter.flags`.
pub mod query_filter {
    pub const REVERSED: u32 = 1 << 0;
    pub const ALL: u32 = 1;
}

/// Names of the flags, for the human-readable RESP commands and error messages.
pub const ACCOUNT_FLAG_NAMES: &[(&str, u16)] = &[
    ("linked", account::LINKED),
    (
        "debits_must_not_exceed_credits",
        account::DEBITS_MUST_NOT_EXCEED_CREDITS,
    ),
    (
        "credits_must_not_exceed_debits",
        account::CREDITS_MUST_NOT_EXCEED_DEBITS,
    ),
    ("history", account::HISTORY),
    ("imported", account::IMPORTED),
    ("closed", account::CLOSED),
];

pub const TRANSFER_FLAG_NAMES: &[(&str, u16)] = &[
    ("linked", transfer::LINKED),
    ("pending", transfer::PENDING),
    ("post_pending_transfer", transfer::POST_PENDING_TRANSFER),
    ("void_pending_transfer", transfer::VOID_PENDING_TRANSFER),
    ("balancing_debit", transfer::BALANCING_DEBIT),
    ("balancing_credit", transfer::BALANCING_CREDIT),
    ("closing_debit", transfer::CLOSING_DEBIT),
    ("closing_credit", transfer::CLOSING_CREDIT),
    ("imported", transfer::IMPORTED),
];
