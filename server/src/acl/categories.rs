//! ACL command categories: Redis 7.0's, in Redis's order (ACL CAT lists them so, and rule
//! descriptions try them so), then Ringledger's ledger categories.

/// Category names without the `@`.
pub const NAMES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    // Ringledger: every LEDGER.* command; the lookups and queries; the creates.
    "ledger",
    "ledger-read",
    "ledger-write",
];

/// The bit of category `name` (case-insensitive, no `@`), or None when there is no such
/// category.
pub fn bit(name: &str) -> Option<u64> {
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| 1u64 << i)
}

#[cfg(test)]
mod tests {
    #[test]
    fn categories_fit_a_word_and_are_found() {
        assert!(super::NAMES.len() <= 64);
        assert_eq!(super::bit("keyspace"), Some(1));
        assert_eq!(super::bit("LEDGER-READ"), Some(1 << 22));
        assert_eq!(super::bit("all"), None);
    }
}
