//! COMMAND INFO / COMMAND DOCS metadata of the LEDGER.* commands (not in Redis's catalog).

use super::meta::{Arg, CommandDoc};

macro_rules! ledger_doc {
    ($name:literal, $arity:literal, $kind:expr, $summary:literal, $args:expr) => {
        CommandDoc {
            name: $name,
            container: None,
            arity: $arity,
            flags: $kind.0,
            acl: $kind.1,
            first_key: 0,
            last_key: 0,
            step: 0,
            group: "ledger",
            since: "0.1.0",
            summary: $summary,
            complexity: "O(N) where N is the number of events",
            tips: &[],
            key_specs: &[],
            args: $args,
            subcommands: &[],
        }
    };
}

const BLOB: &[Arg] = &[Arg {
    name: "events",
    kind: "string",
    token: None,
    optional: false,
    multiple: false,
    args: &[],
}];
// Flags and ACL categories: every LEDGER.* command is in @ledger, the creates also in
// @ledger-write and the lookups and queries in @ledger-read (so `+@ledger-read` is a read-only
// ledger user); @write/@read and @slow follow from the flags as Redis derives them.
const WRITE: (&[&str], &[&str]) = (&["write"], &["@ledger", "@ledger-write", "@write", "@slow"]);
const READ: (&[&str], &[&str]) = (
    &["readonly"],
    &["@ledger", "@ledger-read", "@read", "@slow"],
);

pub static LEDGER_COMMANDS: &[CommandDoc] = &[
    ledger_doc!("ledger.create_accounts", 2, WRITE, "Create accounts (N x 128-byte accounts; replies N x 16-byte results)", BLOB),
    ledger_doc!("ledger.create_transfers", 2, WRITE, "Create transfers (N x 128-byte transfers; replies N x 16-byte results)", BLOB),
    ledger_doc!("ledger.lookup_accounts", 2, READ, "Look accounts up by N x 16-byte ids", BLOB),
    ledger_doc!("ledger.lookup_transfers", 2, READ, "Look transfers up by N x 16-byte ids", BLOB),
    ledger_doc!("ledger.get_account_transfers", 2, READ, "An account's transfers (128-byte AccountFilter)", BLOB),
    ledger_doc!("ledger.get_account_balances", 2, READ, "An account's balance history (128-byte AccountFilter)", BLOB),
    ledger_doc!("ledger.query_accounts", 2, READ, "Query accounts (64-byte QueryFilter)", BLOB),
    ledger_doc!("ledger.query_transfers", 2, READ, "Query transfers (64-byte QueryFilter)", BLOB),
    ledger_doc!("ledger.account.create", -3, WRITE, "Create accounts: ID id LEDGER l CODE c [FLAGS f,..] [UD128 n] [UD64 n] [UD32 n] [ID ...]", &[]),
    ledger_doc!("ledger.transfer.create", -3, WRITE, "Create transfers: ID id DEBIT a CREDIT b AMOUNT n LEDGER l CODE c [FLAGS f,..] [PENDING_ID id] [TIMEOUT s] [UD128 n] [UD64 n] [UD32 n] [ID ...]", &[]),
    ledger_doc!("ledger.account.get", -2, READ, "Look accounts up by id", &[]),
    ledger_doc!("ledger.transfer.get", -2, READ, "Look transfers up by id", &[]),
    ledger_doc!("ledger.account.transfers", -2, READ, "An account's transfers: id [DEBITS] [CREDITS] [REVERSED] [LIMIT n] [MIN ts] [MAX ts] [CODE c] [UD128 n] [UD64 n] [UD32 n]", &[]),
    ledger_doc!("ledger.account.balances", -2, READ, "An account's balance history (accounts with the history flag); options as LEDGER.ACCOUNT.TRANSFERS", &[]),
    ledger_doc!("ledger.account.query", -1, READ, "Query accounts: [LEDGER l] [CODE c] [UD128 n] [UD64 n] [UD32 n] [MIN ts] [MAX ts] [LIMIT n] [REVERSED]", &[]),
    ledger_doc!("ledger.transfer.query", -1, READ, "Query transfers: options as LEDGER.ACCOUNT.QUERY", &[]),
];
