//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME(NX), COPY, MOVE,
//! TOUCH, DBSIZE, FLUSHDB, FLUSHALL. Semantics and errors follow Redis 7.0's db.c.

use super::util::{int_arg, is, ERR_DB_INDEX, ERR_NO_SUCH_KEY, ERR_SYNTAX};
use super::{Ctx, Flow};

pub fn del(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let removed = args[1..]
        .iter()
        .filter(|k| ctx.state.cache.remove(db, k, now))
        .count();
    ctx.reply().integer(removed as i64);
    Flow::Continue
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let n = args[1..]
        .iter()
        .filter(|k| ctx.state.cache.read(db, k, now, true, |e| e.is_some()))
        .count();
    ctx.reply().integer(n as i64);
    Flow::Continue
}

pub fn touch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    exists(ctx, args)
}

pub fn type_(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let name = ctx.state.cache.read(db, args[1], now, false, |e| {
        e.map_or("none", |e| e.value.type_name())
    });
    ctx.reply().simple(name);
    Flow::Continue
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let keys = ctx.state.cache.keys(db, args[1], now);
    let mut reply = ctx.reply();
    reply.array(keys.len());
    for k in &keys {
        reply.bulk(k);
    }
    Flow::Continue
}

/// Redis's parseScanCursorOrReply: an unsigned decimal, no leading space, nothing after it.
pub(super) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(arg).ok()?;
    // strtoul accepts a leading '+' (and '-', wrapping); accept '+' and plain digits.
    s.strip_prefix('+').unwrap_or(s).parse::<u64>().ok()
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub fn scan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(cursor) = parse_cursor(args[1]) else {
        ctx.error("ERR invalid cursor");
        return Flow::Continue;
    };
    let (mut count, mut pattern, mut type_name): (i64, Option<&[u8]>, Option<&[u8]>) =
        (10, None, None);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i >= 2;
        if is(args[i], "COUNT") && more {
            match int_arg(args[i + 1]) {
                Ok(c) if c >= 1 => count = c,
                Ok(_) => {
                    ctx.error(ERR_SYNTAX);
                    return Flow::Continue;
                }
                Err(e) => {
                    ctx.error(e);
                    return Flow::Continue;
                }
            }
        } else if is(args[i], "MATCH") && more {
            pattern = (args[i + 1] != b"*").then_some(args[i + 1]);
        } else if is(args[i], "TYPE") && more {
            type_name = Some(args[i + 1]);
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
        i += 2;
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let (next, mut keys) =
        ctx.state
            .cache
            .scan(db, cursor, count.min(1 << 20) as usize, pattern, now);
    if let Some(t) = type_name {
        // A key that vanished since the step is left out, as Redis leaves out expired ones.
        keys.retain(|k| {
            ctx.state.cache.read(db, k, now, false, |e| {
                e.is_some_and(|e| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
            })
        });
    }
    let mut reply = ctx.reply();
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(keys.len());
    for k in &keys {
        reply.bulk(k);
    }
    Flow::Continue
}

pub fn randomkey(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let seed =
        now ^ ctx.client.id().rotate_left(17) ^ ctx.counters.commands_processed.rotate_left(41);
    match ctx.state.cache.random_key(db, now, seed) {
        Some(k) => ctx.reply().bulk(&k),
        None => ctx.reply().null(),
    }
    Flow::Continue
}

fn rename_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], nx: bool) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let (src, dst) = (args[1], args[2]);
    let mut lock = ctx.state.cache.lock_keys([src, dst]);
    let Some(mut entry) = lock.read(db, src, now, |e| e.cloned()) else {
        drop(lock);
        ctx.error(ERR_NO_SUCH_KEY);
        return Flow::Continue;
    };
    if src == dst {
        drop(lock);
        if nx {
            ctx.reply().integer(0);
        } else {
            ctx.reply().ok();
        }
        return Flow::Continue;
    }
    if nx && lock.read(db, dst, now, |e| e.is_some()) {
        drop(lock);
        ctx.reply().integer(0);
        return Flow::Continue;
    }
    lock.update(db, src, now, |slot| {
        if let Some(e) = slot.take() {
            entry = e; // move the stored value rather than keep the clone
        }
    });
    lock.update(db, dst, now, |slot| *slot = Some(entry));
    drop(lock);
    if nx {
        ctx.reply().integer(1);
    } else {
        ctx.reply().ok();
    }
    Flow::Continue
}

pub fn rename(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    rename_generic(ctx, args, false)
}

pub fn renamenx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    rename_generic(ctx, args, true)
}

/// A database number argument (Redis: getIntFromObjectOrReply, then selectDb).
fn db_arg(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<usize> {
    match int_arg(arg) {
        Ok(n) if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) => {
            ctx.error(super::util::ERR_NOT_INTEGER);
            None
        }
        Ok(n) if n < 0 || n as usize >= ctx.state.cache.databases() => {
            ctx.error(ERR_DB_INDEX);
            None
        }
        Ok(n) => Some(n as usize),
        Err(e) => {
            ctx.error(e);
            None
        }
    }
}

/// MOVE key db
pub fn move_(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(target) = db_arg(ctx, args[2]) else {
        return Flow::Continue;
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    if target == db {
        ctx.error("ERR source and destination objects are the same");
        return Flow::Continue;
    }
    let key = args[1];
    let mut lock = ctx.state.cache.lock_keys([key]);
    let moved = match lock.read(db, key, now, |e| e.is_some()) {
        false => false,
        true if lock.read(target, key, now, |e| e.is_some()) => false,
        true => {
            let mut taken = None;
            lock.update(db, key, now, |slot| taken = slot.take());
            lock.update(target, key, now, |slot| *slot = taken);
            true
        }
    };
    drop(lock);
    ctx.reply().integer(i64::from(moved));
    Flow::Continue
}

/// `COPY source destination [DB destination-db] [REPLACE]`
pub fn copy(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (src_db, now) = (ctx.client.db, ctx.now_ms);
    let (mut dst_db, mut replace) = (src_db, false);
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(args[j], "REPLACE") {
            replace = true;
        } else if is(args[j], "DB") && more >= 1 {
            let Some(d) = db_arg(ctx, args[j + 1]) else {
                return Flow::Continue;
            };
            dst_db = d;
            j += 1;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
        j += 1;
    }
    let (src, dst) = (args[1], args[2]);
    if src_db == dst_db && src == dst {
        ctx.error("ERR source and destination objects are the same");
        return Flow::Continue;
    }
    let mut lock = ctx.state.cache.lock_keys([src, dst]);
    let copied = match lock.read(src_db, src, now, |e| e.cloned()) {
        None => false,
        Some(_) if !replace && lock.read(dst_db, dst, now, |e| e.is_some()) => false,
        Some(entry) => {
            lock.update(dst_db, dst, now, |slot| *slot = Some(entry));
            true
        }
    };
    drop(lock);
    ctx.reply().integer(i64::from(copied));
    Flow::Continue
}

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let n = ctx.state.cache.dbsize(ctx.client.db);
    ctx.reply().integer(n as i64);
    Flow::Continue
}

/// `FLUSHDB / FLUSHALL [ASYNC|SYNC]`
fn flush_option_ok(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> bool {
    match args.len() {
        1 => true,
        2 if is(args[1], "ASYNC") || is(args[1], "SYNC") => true,
        _ => {
            ctx.error(ERR_SYNTAX);
            false
        }
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if flush_option_ok(ctx, args) {
        ctx.state.cache.flush_db(ctx.client.db);
        ctx.reply().ok();
    }
    Flow::Continue
}

pub fn flushall(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if flush_option_ok(ctx, args) {
        ctx.state.cache.flush_all();
        ctx.reply().ok();
    }
    Flow::Continue
}
