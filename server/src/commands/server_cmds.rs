//! Server commands: TIME, LASTSAVE, SHUTDOWN, FUNCTION FLUSH, OBJECT, MEMORY USAGE.

use super::connection::help;
use super::util::{int_arg, is, ERR_SYNTAX};
use super::{Ctx, Flow};
use crate::cache::{idle_seconds, lfu_decayed_counter, Value};

pub fn time(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut r = ctx.reply();
    r.array(2);
    r.bulk(now.as_secs().to_string().as_bytes());
    r.bulk(now.subsec_micros().to_string().as_bytes());
    Flow::Continue
}

pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let t = ctx.state.started_unix_secs();
    ctx.reply().integer(t as i64);
    Flow::Continue
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: nothing to save; the server stops gracefully
/// and, as in Redis, the client gets no reply (the connection closes).
pub fn shutdown(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for a in &args[1..] {
        if is(a, "NOSAVE") {
            nosave = true;
        } else if is(a, "SAVE") {
            save = true;
        } else if is(a, "NOW") || is(a, "FORCE") {
        } else if is(a, "ABORT") {
            abort = true;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    if abort {
        ctx.error("ERR No shutdown in progress.");
        return Flow::Continue;
    }
    Flow::Shutdown
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: there are no functions, so there is nothing to flush.
pub fn function_flush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match args.len() {
        2 => ctx.reply().ok(),
        3 if is(args[2], "ASYNC") || is(args[2], "SYNC") => ctx.reply().ok(),
        _ => ctx.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
    }
    Flow::Continue
}

/// Reads a key for OBJECT without touching its access time.
fn peek<R>(ctx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(&crate::cache::Entry) -> R) -> Option<R> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    ctx.state.cache.read(db, key, now, false, |e| e.map(f))
}

pub fn object_encoding(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match peek(ctx, args[2], |e| e.value.encoding()) {
        Some(enc) => ctx.reply().bulk(enc.as_bytes()),
        None => ctx.reply().null(),
    }
    Flow::Continue
}

/// Redis shares integer objects 0..9999 and reports them with refcount INT_MAX.
pub fn object_refcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let rc = peek(ctx, args[2], |e| match e.value {
        Value::Int(n) if (0..10_000).contains(&n) => i64::from(i32::MAX),
        _ => 1,
    });
    match rc {
        Some(n) => ctx.reply().integer(n),
        None => ctx.reply().null(),
    }
    Flow::Continue
}

const LRU_LFU_SWITCH_NOTE: &str = "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

pub fn object_idletime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let now = ctx.now_ms;
    let Some(idle) = peek(ctx, args[2], |e| idle_seconds(e, now)) else {
        ctx.reply().null();
        return Flow::Continue;
    };
    if ctx.state.cache.policy().is_lfu() {
        let msg = format!(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. {LRU_LFU_SWITCH_NOTE}"
        );
        ctx.error(&msg);
    } else {
        ctx.reply().integer(idle as i64);
    }
    Flow::Continue
}

pub fn object_freq(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let now = ctx.now_ms;
    let Some(freq) = peek(ctx, args[2], |e| lfu_decayed_counter(e.access, now)) else {
        ctx.reply().null();
        return Flow::Continue;
    };
    if ctx.state.cache.policy().is_lfu() {
        ctx.reply().integer(i64::from(freq));
    } else {
        let msg = format!("ERR An LFU maxmemory policy is not selected, access frequency not tracked. {LRU_LFU_SWITCH_NOTE}");
        ctx.error(&msg);
    }
    Flow::Continue
}

pub fn object_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    help(
        ctx,
        "object",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Flow::Continue
}

/// `MEMORY USAGE key [SAMPLES count]`
pub fn memory_usage(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut j = 3;
    while j < args.len() {
        if is(args[j], "SAMPLES") && j + 1 < args.len() {
            if let Err(e) = int_arg(args[j + 1]) {
                ctx.error(e);
                return Flow::Continue;
            }
            j += 2;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    }
    let key_len = args[2].len();
    match peek(ctx, args[2], |e| e.footprint(key_len)) {
        Some(n) => ctx.reply().integer(n as i64),
        None => ctx.reply().null(),
    }
    Flow::Continue
}

pub fn memory_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    help(
        ctx,
        "memory",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Flow::Continue
}
