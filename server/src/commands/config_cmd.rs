//! CONFIG GET / SET / RESETSTAT over the parameters we support, with Redis 7.0's replies and
//! error texts. Parameters without a counterpart here report Redis's defaults (read-only), so
//! tools that read them keep working.

use super::util::lossy;
use super::{Ctx, Flow};
use crate::cache::glob::glob_match;
use crate::cache::EvictionPolicy;
use crate::config::parse_size;
use std::sync::atomic::Ordering;

/// Whether and how a parameter can be changed at run time.
enum Kind {
    /// CONFIG SET changes it.
    Mutable,
    /// CONFIG SET fails with "can't set immutable config".
    Immutable,
}

/// Every parameter CONFIG GET knows, with how CONFIG SET treats it.
const PARAMETERS: &[(&str, Kind)] = &[
    ("maxmemory", Kind::Mutable),
    ("maxmemory-policy", Kind::Mutable),
    ("maxmemory-samples", Kind::Immutable),
    ("maxclients", Kind::Mutable),
    ("maxmemory-clients", Kind::Mutable),
    ("timeout", Kind::Mutable),
    ("requirepass", Kind::Mutable),
    ("protected-mode", Kind::Mutable),
    ("databases", Kind::Immutable),
    ("port", Kind::Immutable),
    ("bind", Kind::Immutable),
    ("proto-max-bulk-len", Kind::Immutable),
    ("save", Kind::Mutable),
    ("appendonly", Kind::Mutable),
    ("appendfsync", Kind::Immutable),
    ("hz", Kind::Immutable),
    ("lfu-log-factor", Kind::Immutable),
    ("lfu-decay-time", Kind::Immutable),
    ("io-threads", Kind::Immutable),
    ("tcp-keepalive", Kind::Immutable),
    ("daemonize", Kind::Immutable),
    ("dir", Kind::Immutable),
    ("dbfilename", Kind::Immutable),
    ("logfile", Kind::Immutable),
    ("loglevel", Kind::Immutable),
    ("lazyfree-lazy-expire", Kind::Immutable),
    ("lazyfree-lazy-user-del", Kind::Immutable),
    ("cluster-enabled", Kind::Immutable),
    ("replica-read-only", Kind::Immutable),
    ("hash-max-listpack-entries", Kind::Mutable),
    ("hash-max-listpack-value", Kind::Mutable),
    // Redis 7.0 keeps the old names as aliases, and CONFIG GET lists them too.
    ("hash-max-ziplist-entries", Kind::Mutable),
    ("hash-max-ziplist-value", Kind::Mutable),
    ("set-max-intset-entries", Kind::Mutable),
    ("zset-max-listpack-entries", Kind::Mutable),
    ("zset-max-listpack-value", Kind::Mutable),
    ("zset-max-ziplist-entries", Kind::Mutable),
    ("zset-max-ziplist-value", Kind::Mutable),
];

fn value_of(ctx: &Ctx<'_>, name: &str) -> String {
    let s = ctx.state;
    match name {
        "maxmemory" => s.cache.max_memory().to_string(),
        "maxmemory-policy" => s.cache.policy().name().to_string(),
        "maxmemory-samples" => "5".into(),
        "maxclients" => s.max_clients.load(Ordering::Relaxed).to_string(),
        "maxmemory-clients" => s.max_client_memory.load(Ordering::Relaxed).to_string(),
        "timeout" => s.idle_timeout_secs.load(Ordering::Relaxed).to_string(),
        "requirepass" => s.password().unwrap_or_default(),
        "protected-mode" => if s.protected_mode.load(Ordering::Relaxed) {
            "yes"
        } else {
            "no"
        }
        .into(),
        "databases" => s.cache.databases().to_string(),
        "port" => s.options.tcp_port.to_string(),
        "bind" => "127.0.0.1".into(),
        "proto-max-bulk-len" => s.options.max_request_bytes.to_string(),
        "save" => String::new(),
        "appendonly" => "no".into(),
        "appendfsync" => "everysec".into(),
        "hz" => "10".into(),
        "lfu-log-factor" => "10".into(),
        "lfu-decay-time" => "1".into(),
        "io-threads" => "1".into(),
        "tcp-keepalive" => "300".into(),
        "daemonize" => "no".into(),
        "dir" => std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "dbfilename" => "dump.rdb".into(),
        "logfile" => String::new(),
        "loglevel" => "notice".into(),
        "cluster-enabled" => "no".into(),
        "replica-read-only" => "yes".into(),
        "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
            s.cache.limits().hash_max_listpack_entries.to_string()
        }
        "hash-max-listpack-value" | "hash-max-ziplist-value" => {
            s.cache.limits().hash_max_listpack_value.to_string()
        }
        "set-max-intset-entries" => s.cache.limits().set_max_intset_entries.to_string(),
        "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
            s.cache.limits().zset_max_listpack_entries.to_string()
        }
        "zset-max-listpack-value" | "zset-max-ziplist-value" => {
            s.cache.limits().zset_max_listpack_value.to_string()
        }
        _ => "no".into(),
    }
}

/// `CONFIG GET pattern [pattern ...]`
pub fn get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (name, _) in PARAMETERS {
        if args[2..]
            .iter()
            .any(|p| glob_match(p, name.as_bytes(), true))
        {
            pairs.push((name, value_of(ctx, name)));
        }
    }
    let mut r = ctx.reply();
    r.map(pairs.len());
    for (k, v) in pairs {
        r.bulk(k.as_bytes());
        r.bulk(v.as_bytes());
    }
    Flow::Continue
}

/// Checks and applies one parameter; Err is the text after "CONFIG SET failed (...) - ".
fn apply(ctx: &Ctx<'_>, name: &str, value: &[u8], commit: bool) -> Result<(), &'static str> {
    let s = ctx.state;
    let text =
        std::str::from_utf8(value).map_err(|_| "argument couldn't be parsed into an integer")?;
    match name {
        "maxmemory" => {
            let v = parse_size(text).map_err(|_| "argument must be a memory value")?;
            if commit {
                s.cache.set_max_memory(v);
            }
        }
        "maxmemory-policy" => {
            let p = EvictionPolicy::from_name(text).ok_or(
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, \
                 allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            )?;
            if commit {
                s.cache.set_policy(p);
            }
        }
        "maxmemory-clients" => {
            let v = parse_size(text).map_err(|_| "argument must be a memory or percent value")?;
            if commit {
                s.max_client_memory.store(v, Ordering::Relaxed);
            }
        }
        "maxclients" => {
            let v: usize = text
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer")?;
            if v == 0 {
                return Err("argument must be between 1 and 4294967295 inclusive");
            }
            if commit {
                s.max_clients.store(v, Ordering::Relaxed);
            }
        }
        "timeout" => {
            let v: u64 = text
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer")?;
            if commit {
                s.idle_timeout_secs.store(v, Ordering::Relaxed);
            }
        }
        "protected-mode" => {
            let on = match text.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err("argument must be 'yes' or 'no'"),
            };
            if commit {
                s.protected_mode.store(on, Ordering::Relaxed);
            }
        }
        "requirepass" => {
            if commit {
                s.set_password((!text.is_empty()).then(|| text.to_string()));
            }
        }
        "save" => {
            // Snapshots of the cache do not exist; only "no schedule" is accepted.
            if !text.trim().is_empty() {
                return Err("RDB snapshots are not supported by Ringledger's cache");
            }
        }
        "appendonly" => {
            if !text.eq_ignore_ascii_case("no") {
                return Err("the append-only file is not supported by Ringledger's cache");
            }
        }
        "hash-max-listpack-entries"
        | "hash-max-ziplist-entries"
        | "set-max-intset-entries"
        | "zset-max-listpack-entries"
        | "zset-max-ziplist-entries" => {
            let v = protocol::resp::parse_i64(value)
                .ok_or("argument couldn't be parsed into an integer")?;
            let v = usize::try_from(v)
                .map_err(|_| "argument must be between 0 and 9223372036854775807 inclusive")?;
            if commit {
                let mut l = s.cache.limits();
                if name == "set-max-intset-entries" {
                    l.set_max_intset_entries = v;
                } else if name.starts_with("zset") {
                    l.zset_max_listpack_entries = v;
                } else {
                    l.hash_max_listpack_entries = v;
                }
                s.cache.set_limits(l);
            }
        }
        "hash-max-listpack-value"
        | "hash-max-ziplist-value"
        | "zset-max-listpack-value"
        | "zset-max-ziplist-value" => {
            // A memory value in Redis ("1kb" is accepted).
            let v = parse_size(text).map_err(|_| "argument must be a memory value")?;
            if commit {
                let mut l = s.cache.limits();
                let v = usize::try_from(v).unwrap_or(usize::MAX);
                if name.starts_with("zset") {
                    l.zset_max_listpack_value = v;
                } else {
                    l.hash_max_listpack_value = v;
                }
                s.cache.set_limits(l);
            }
        }
        _ => return Err("can't set immutable config"),
    }
    Ok(())
}

/// `CONFIG SET parameter value [parameter value ...] (all or nothing, as in Redis 7).`
pub fn set(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() % 2 != 0 {
        ctx.error("ERR wrong number of arguments for 'config|set' command");
        return Flow::Continue;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut pairs = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = lossy(pair[0]).to_ascii_lowercase();
        let Some((known, kind)) = PARAMETERS.iter().find(|(n, _)| *n == name) else {
            let msg = format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                lossy(pair[0])
            );
            ctx.error(&msg);
            return Flow::Continue;
        };
        if seen.contains(&name) {
            let msg = format!("ERR CONFIG SET failed (possibly related to argument '{known}') - duplicate parameter");
            ctx.error(&msg);
            return Flow::Continue;
        }
        if matches!(kind, Kind::Immutable) {
            let msg = format!("ERR CONFIG SET failed (possibly related to argument '{known}') - can't set immutable config");
            ctx.error(&msg);
            return Flow::Continue;
        }
        seen.push(name);
        pairs.push((*known, pair[1]));
    }
    for &(name, value) in &pairs {
        if let Err(e) = apply(ctx, name, value, false) {
            let msg =
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {e}");
            ctx.error(&msg);
            return Flow::Continue;
        }
    }
    for &(name, value) in &pairs {
        let _ = apply(ctx, name, value, true);
    }
    ctx.reply().ok();
    Flow::Continue
}

pub fn resetstat(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    ctx.state
        .stats
        .publish(ctx.worker, ctx.counters, ctx.commands);
    ctx.state.stats.reset();
    ctx.state.cache.reset_stats();
    ctx.reply().ok();
    Flow::Continue
}

pub fn help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    super::connection::help(
        ctx,
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    );
    Flow::Continue
}
