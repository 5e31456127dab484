//! The command table: every command's documentation (from `catalog.rs`) joined with its
//! implementation, looked up case-insensitively. Each command and subcommand gets a small id
//! used by per-command statistics and CLIENT LIST.

use super::meta::CommandDoc;
use super::{
    acl_cmd, bits, command_info, config_cmd, connection, expire, hashes, info, keyspace, ledger,
    server_cmds, sets, strings, zset_algebra, zset_range, zsets, Handler,
};
use foldhash::fast::FixedState;
use hashbrown::HashMap;
use std::sync::OnceLock;

/// A command or subcommand ready to run.
#[derive(Clone, Copy)]
pub struct Resolved {
    pub id: u16,
    pub doc: &'static CommandDoc,
    pub handler: Option<Handler>,
}

/// A top-level command and its subcommands.
pub struct CommandEntry {
    pub id: u16,
    pub doc: &'static CommandDoc,
    pub handler: Option<Handler>,
    pub subcommands: Vec<Resolved>,
}

impl CommandEntry {
    pub fn resolved(&self) -> Resolved {
        Resolved {
            id: self.id,
            doc: self.doc,
            handler: self.handler,
        }
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<Resolved> {
        self.subcommands.iter().copied().find(|s| {
            let short = s.doc.name.rsplit('|').next().unwrap_or(s.doc.name);
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }
}

struct Table {
    entries: Vec<CommandEntry>,
    by_name: HashMap<&'static [u8], usize, FixedState>,
    names: Vec<&'static str>,
}

/// CLIENT SETINFO exists from Redis 7.2 on; client libraries send it on connect.
static CLIENT_SETINFO: CommandDoc = CommandDoc {
    name: "client|setinfo",
    container: Some("client"),
    arity: 4,
    flags: &["noscript", "loading", "stale"],
    acl: &["@slow", "@connection"],
    first_key: 0,
    last_key: 0,
    step: 0,
    group: "connection",
    since: "7.2.0",
    summary: "Set client or connection specific info",
    complexity: "O(1)",
    tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
    key_specs: &[],
    args: &[],
    subcommands: &[],
};

/// The implementation of a documented command, by its full name.
fn handler_for(name: &str) -> Option<Handler> {
    Some(match name {
        "ping" => connection::ping,
        "echo" => connection::echo,
        "hello" => connection::hello,
        "auth" => connection::auth,
        "select" => connection::select,
        "quit" => connection::quit,
        "reset" => connection::reset,
        "client|id" => connection::client_id,
        "client|setname" => connection::client_setname,
        "client|getname" => connection::client_getname,
        "client|setinfo" => connection::client_setinfo,
        "client|info" => connection::client_info,
        "client|list" => connection::client_list,
        "client|kill" => connection::client_kill,
        "client|help" => connection::client_help,
        "command" => command_info::command,
        "command|count" => command_info::count,
        "command|docs" => command_info::docs,
        "command|info" => command_info::info,
        "command|list" => command_info::list,
        "command|help" => command_info::help,
        "info" => info::info,
        "acl|setuser" => acl_cmd::setuser,
        "acl|getuser" => acl_cmd::getuser,
        "acl|deluser" => acl_cmd::deluser,
        "acl|list" => acl_cmd::list,
        "acl|users" => acl_cmd::users,
        "acl|whoami" => acl_cmd::whoami,
        "acl|cat" => acl_cmd::cat,
        "acl|genpass" => acl_cmd::genpass,
        "acl|dryrun" => acl_cmd::dryrun,
        "acl|log" => acl_cmd::log,
        "acl|load" => acl_cmd::load_or_save,
        "acl|save" => acl_cmd::load_or_save,
        "acl|help" => acl_cmd::help,
        "config|get" => config_cmd::get,
        "config|set" => config_cmd::set,
        "config|resetstat" => config_cmd::resetstat,
        "config|help" => config_cmd::help,
        "dbsize" => keyspace::dbsize,
        "flushdb" => keyspace::flushdb,
        "flushall" => keyspace::flushall,
        "function|flush" => server_cmds::function_flush,
        "time" => server_cmds::time,
        "lastsave" => server_cmds::lastsave,
        "shutdown" => server_cmds::shutdown,
        "object|encoding" => server_cmds::object_encoding,
        "object|refcount" => server_cmds::object_refcount,
        "object|idletime" => server_cmds::object_idletime,
        "object|freq" => server_cmds::object_freq,
        "object|help" => server_cmds::object_help,
        "memory|usage" => server_cmds::memory_usage,
        "memory|help" => server_cmds::memory_help,
        "get" => strings::get,
        "set" => strings::set,
        "setnx" => strings::setnx,
        "setex" => strings::setex,
        "psetex" => strings::psetex,
        "getset" => strings::getset,
        "getdel" => strings::getdel,
        "getex" => strings::getex,
        "mget" => strings::mget,
        "mset" => strings::mset,
        "msetnx" => strings::msetnx,
        "append" => strings::append,
        "strlen" => strings::strlen,
        "getrange" | "substr" => strings::getrange,
        "setrange" => strings::setrange,
        "incr" => strings::incr,
        "decr" => strings::decr,
        "incrby" => strings::incrby,
        "decrby" => strings::decrby,
        "incrbyfloat" => strings::incrbyfloat,
        "lcs" => strings::lcs,
        "setbit" => bits::setbit,
        "getbit" => bits::getbit,
        "bitcount" => bits::bitcount,
        "hset" => hashes::hset,
        "hsetnx" => hashes::hsetnx,
        "hget" => hashes::hget,
        "hmget" => hashes::hmget,
        "hmset" => hashes::hmset,
        "hdel" => hashes::hdel,
        "hlen" => hashes::hlen,
        "hstrlen" => hashes::hstrlen,
        "hexists" => hashes::hexists,
        "hkeys" => hashes::hkeys,
        "hvals" => hashes::hvals,
        "hgetall" => hashes::hgetall,
        "hincrby" => hashes::hincrby,
        "hincrbyfloat" => hashes::hincrbyfloat,
        "hrandfield" => hashes::hrandfield,
        "hscan" => hashes::hscan,
        "sadd" => sets::sadd,
        "srem" => sets::srem,
        "scard" => sets::scard,
        "sismember" => sets::sismember,
        "smismember" => sets::smismember,
        "smembers" => sets::smembers,
        "spop" => sets::spop,
        "srandmember" => sets::srandmember,
        "smove" => sets::smove,
        "sinter" => sets::sinter,
        "sintercard" => sets::sintercard,
        "sunion" => sets::sunion,
        "sdiff" => sets::sdiff,
        "sinterstore" => sets::sinterstore,
        "sunionstore" => sets::sunionstore,
        "sdiffstore" => sets::sdiffstore,
        "sscan" => sets::sscan,
        "zadd" => zsets::zadd,
        "zincrby" => zsets::zincrby,
        "zrem" => zsets::zrem,
        "zcard" => zsets::zcard,
        "zscore" => zsets::zscore,
        "zmscore" => zsets::zmscore,
        "zrank" => zsets::zrank,
        "zrevrank" => zsets::zrevrank,
        "zcount" => zsets::zcount,
        "zlexcount" => zsets::zlexcount,
        "zrange" => zset_range::zrange,
        "zrangestore" => zset_range::zrangestore,
        "zrevrange" => zset_range::zrevrange,
        "zrangebyscore" => zset_range::zrangebyscore,
        "zrevrangebyscore" => zset_range::zrevrangebyscore,
        "zrangebylex" => zset_range::zrangebylex,
        "zrevrangebylex" => zset_range::zrevrangebylex,
        "zremrangebyrank" => zset_range::zremrangebyrank,
        "zremrangebyscore" => zset_range::zremrangebyscore,
        "zremrangebylex" => zset_range::zremrangebylex,
        "zpopmin" => zsets::zpopmin,
        "zpopmax" => zsets::zpopmax,
        "zmpop" => zsets::zmpop,
        "zrandmember" => zsets::zrandmember,
        "zunion" => zset_algebra::zunion,
        "zinter" => zset_algebra::zinter,
        "zdiff" => zset_algebra::zdiff,
        "zunionstore" => zset_algebra::zunionstore,
        "zinterstore" => zset_algebra::zinterstore,
        "zdiffstore" => zset_algebra::zdiffstore,
        "zintercard" => zset_algebra::zintercard,
        "zscan" => zsets::zscan,
        "del" | "unlink" => keyspace::del,
        "exists" => keyspace::exists,
        "touch" => keyspace::touch,
        "type" => keyspace::type_,
        "keys" => keyspace::keys,
        "scan" => keyspace::scan,
        "randomkey" => keyspace::randomkey,
        "rename" => keyspace::rename,
        "renamenx" => keyspace::renamenx,
        "copy" => keyspace::copy,
        "move" => keyspace::move_,
        "expire" => expire::expire,
        "pexpire" => expire::pexpire,
        "expireat" => expire::expireat,
        "pexpireat" => expire::pexpireat,
        "ttl" => expire::ttl,
        "pttl" => expire::pttl,
        "expiretime" => expire::expiretime,
        "pexpiretime" => expire::pexpiretime,
        "persist" => expire::persist,
        "ledger.create_accounts" => ledger::create_accounts,
        "ledger.create_transfers" => ledger::create_transfers,
        "ledger.lookup_accounts" => ledger::lookup_accounts,
        "ledger.lookup_transfers" => ledger::lookup_transfers,
        "ledger.get_account_transfers" => ledger::get_account_transfers,
        "ledger.get_account_balances" => ledger::get_account_balances,
        "ledger.query_accounts" => ledger::query_accounts,
        "ledger.query_transfers" => ledger::query_transfers,
        "ledger.account.create" => ledger::account_create,
        "ledger.transfer.create" => ledger::transfer_create,
        "ledger.account.get" => ledger::account_get,
        "ledger.transfer.get" => ledger::transfer_get,
        "ledger.account.transfers" => ledger::account_transfers,
        "ledger.account.balances" => ledger::account_balances,
        "ledger.account.query" => ledger::account_query,
        "ledger.transfer.query" => ledger::transfer_query,
        _ => return None,
    })
}

fn build() -> Table {
    let mut entries = Vec::new();
    let mut names = Vec::new();
    let mut by_name = HashMap::with_hasher(FixedState::default());
    let next_id = |names: &mut Vec<&'static str>, name: &'static str| {
        names.push(name);
        (names.len() - 1) as u16
    };
    for doc in super::catalog::CATALOG
        .iter()
        .chain(super::ledger_docs::LEDGER_COMMANDS)
    {
        let id = next_id(&mut names, doc.name);
        let mut subs: Vec<&'static CommandDoc> = doc.subcommands.iter().collect();
        if doc.name == "client" {
            subs.push(&CLIENT_SETINFO);
        }
        let subcommands = subs
            .into_iter()
            .map(|d| Resolved {
                id: next_id(&mut names, d.name),
                doc: d,
                handler: handler_for(d.name),
            })
            .collect();
        by_name.insert(doc.name.as_bytes(), entries.len());
        entries.push(CommandEntry {
            id,
            doc,
            handler: handler_for(doc.name),
            subcommands,
        });
    }
    debug_assert!(
        names.len() <= crate::stats::MAX_COMMANDS,
        "raise stats::MAX_COMMANDS"
    );
    Table {
        entries,
        by_name,
        names,
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// The `LEDGER.*` command a binary-protocol operation is the twin of (its ACL permission is the
/// operation's), or None for `Authenticate`.
pub fn ledger_twin(op: protocol::binary::Operation) -> Option<Resolved> {
    static TWINS: OnceLock<Vec<Option<Resolved>>> = OnceLock::new();
    let twins = TWINS.get_or_init(|| {
        (0..=u8::MAX)
            .map(|v| {
                let op = protocol::binary::Operation::from_u8(v)?;
                if op == protocol::binary::Operation::Authenticate {
                    return None;
                }
                let name = format!("ledger.{}", op.name());
                let entry = lookup(name.as_bytes());
                debug_assert!(entry.is_some(), "{name} is not a command");
                entry.map(CommandEntry::resolved)
            })
            .collect()
    });
    twins.get(op as usize).copied().flatten()
}

/// Every command and subcommand with its id and categories, for ACL rules.
pub fn acl_commands() -> &'static crate::acl::CommandSet {
    static SET: OnceLock<crate::acl::CommandSet> = OnceLock::new();
    SET.get_or_init(|| {
        crate::acl::CommandSet::new(all().iter().flat_map(|e| {
            std::iter::once((e.id, e.doc.name, e.doc.acl, None)).chain(
                e.subcommands
                    .iter()
                    .map(move |s| (s.id, s.doc.name, s.doc.acl, Some(e.id))),
            )
        }))
    })
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandEntry> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let t = table();
    t.by_name.get(&buf[..name.len()]).map(|&i| &t.entries[i])
}

/// Every top-level command, in catalog order.
pub fn all() -> &'static [CommandEntry] {
    &table().entries
}

/// The full name (`get`, `client|kill`) of a command id.
pub fn command_name(id: u16) -> &'static str {
    table()
        .names
        .get(usize::from(id))
        .copied()
        .unwrap_or("NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_command_is_implemented() {
        for e in all() {
            let container = !e.subcommands.is_empty();
            assert!(
                e.handler.is_some() || container,
                "{} has no implementation",
                e.doc.name
            );
            for s in &e.subcommands {
                assert!(s.handler.is_some(), "{} has no implementation", s.doc.name);
            }
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_bounded() {
        assert_eq!(lookup(b"GeT").map(|e| e.doc.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        let client = lookup(b"client").unwrap();
        assert_eq!(
            client.subcommand(b"SETINFO").map(|s| s.doc.name),
            Some("client|setinfo")
        );
        assert_eq!(command_name(client.id), "client");
    }
}
