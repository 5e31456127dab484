//! Hash commands (Redis 7.0's t_hash.c): replies, errors and edge cases as Redis's.

use super::collection::{
    modify, random_below, random_positions, scan_options, WrongType, MAX_REPEATED_PICKS,
};
use super::keyspace::parse_cursor;
use super::strings::{decimal_arg, float_sum};
use super::util::{
    int_arg, is, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_OVERFLOW, ERR_SYNTAX, ERR_WRONGTYPE,
};
use super::{Ctx, Flow};
use crate::cache::glob::glob_match;
use crate::cache::Hash;
use protocol::resp::{parse_i64, Reply};

/// Reads the hash at `key` (None when absent); None after a WRONGTYPE reply.
fn read<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&Hash>, &mut Reply<'_>) -> R,
) -> Option<R> {
    super::collection::read(ctx, key, f)
}

/// Modifies the hash at `key` (created when `create`); None after a WRONGTYPE reply, and
/// Some(None) when the key is absent and not created.
fn write<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> R,
) -> Option<Option<R>> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    match ctx
        .state
        .cache
        .update(db, key, now, |slot| modify::<Hash, R>(slot, create, f))
    {
        Ok(r) => Some(r),
        Err(WrongType) => {
            ctx.error(ERR_WRONGTYPE);
            None
        }
    }
}

fn hset_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], name: &str) -> Option<usize> {
    if args.len() % 2 == 1 {
        ctx.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
        return None;
    }
    let limits = ctx.state.cache.limits();
    let pairs = &args[2..];
    write(ctx, args[1], true, |h| {
        pairs
            .chunks(2)
            .filter(|p| h.set(p[0], p[1], &limits))
            .count()
    })
    .map(|n| n.unwrap_or(0))
}

pub fn hset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if let Some(n) = hset_generic(ctx, args, "hset") {
        ctx.reply().integer(n as i64);
    }
    Flow::Continue
}

pub fn hmset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if hset_generic(ctx, args, "hmset").is_some() {
        ctx.reply().ok();
    }
    Flow::Continue
}

pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let limits = ctx.state.cache.limits();
    let (field, value) = (args[2], args[3]);
    let added = write(ctx, args[1], true, |h| {
        !h.contains(field) && h.set(field, value, &limits)
    });
    if let Some(added) = added {
        ctx.reply().integer(i64::from(added.unwrap_or(false)));
    }
    Flow::Continue
}

pub fn hget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let field = args[2];
    read(ctx, args[1], |h, reply| {
        match h.and_then(|h| h.get(field)) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        }
    });
    Flow::Continue
}

pub fn hmget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let fields = &args[2..];
    read(ctx, args[1], |h, reply| {
        reply.array(fields.len());
        for f in fields {
            match h.and_then(|h| h.get(f)) {
                Some(v) => reply.bulk(v),
                None => reply.null(),
            }
        }
    });
    Flow::Continue
}

pub fn hdel(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let fields = &args[2..];
    if let Some(n) = write(ctx, args[1], false, |h| {
        fields.iter().filter(|f| h.remove(f)).count()
    }) {
        ctx.reply().integer(n.unwrap_or(0) as i64);
    }
    Flow::Continue
}

pub fn hlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    read(ctx, args[1], |h, reply| {
        reply.integer(h.map_or(0, Hash::len) as i64)
    });
    Flow::Continue
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let field = args[2];
    read(ctx, args[1], |h, reply| {
        reply.integer(h.and_then(|h| h.get(field)).map_or(0, <[u8]>::len) as i64)
    });
    Flow::Continue
}

pub fn hexists(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let field = args[2];
    read(ctx, args[1], |h, reply| {
        reply.integer(i64::from(h.is_some_and(|h| h.contains(field))))
    });
    Flow::Continue
}

/// HKEYS, HVALS, HGETALL: which parts of each pair to reply with.
fn hgetall_generic(ctx: &mut Ctx<'_>, key: &[u8], fields: bool, values: bool) {
    read(ctx, key, |h, reply| {
        let len = h.map_or(0, Hash::len);
        if fields && values {
            reply.map(len);
        } else {
            reply.array(len);
        }
        for (f, v) in h.into_iter().flat_map(Hash::iter) {
            if fields {
                reply.bulk(f);
            }
            if values {
                reply.bulk(v);
            }
        }
    });
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    hgetall_generic(ctx, args[1], true, false);
    Flow::Continue
}

pub fn hvals(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    hgetall_generic(ctx, args[1], false, true);
    Flow::Continue
}

pub fn hgetall(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    hgetall_generic(ctx, args[1], true, true);
    Flow::Continue
}

pub fn hincrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let by = match int_arg(args[3]) {
        Ok(n) => n,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let limits = ctx.state.cache.limits();
    let field = args[2];
    let result = write(ctx, args[1], true, |h| {
        let current = match h.get(field) {
            Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
            None => 0,
        };
        let next = current.checked_add(by).ok_or(ERR_OVERFLOW)?;
        h.set(field, next.to_string().as_bytes(), &limits);
        Ok(next)
    });
    match result {
        Some(Some(Ok(n))) => ctx.reply().integer(n),
        Some(Some(Err(e))) => ctx.error(e),
        // Created when absent, so always Some; a WRONGTYPE reply was written.
        Some(None) | None => {}
    }
    Flow::Continue
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let incr = match decimal_arg(args[3]) {
        Ok(d) if d.is_infinite() => {
            ctx.error("ERR value is NaN or Infinity");
            return Flow::Continue;
        }
        Ok(d) => d,
        Err(()) => {
            ctx.error(ERR_NOT_FLOAT);
            return Flow::Continue;
        }
    };
    let limits = ctx.state.cache.limits();
    let field = args[2];
    let result = write(ctx, args[1], true, |h| {
        let current = match h.get(field) {
            Some(v) => Some(decimal_arg(v).map_err(|()| "ERR hash value is not a float")?),
            None => None,
        };
        let text = float_sum(current, &incr)?;
        h.set(field, text.as_bytes(), &limits);
        Ok(text)
    });
    match result {
        Some(Some(Ok(text))) => ctx.reply().bulk(text.as_bytes()),
        Some(Some(Err(e))) => ctx.error(e),
        Some(None) | None => {}
    }
    Flow::Continue
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() == 2 {
        read(ctx, args[1], |h, reply| match h {
            Some(h) => match h.nth(random_below(h.len())) {
                Some((f, _)) => reply.bulk(f),
                None => reply.null(),
            },
            None => reply.null(),
        });
        return Flow::Continue;
    }
    let withvalues = match args.len() {
        3 => false,
        4 if is(args[3], "WITHVALUES") => true,
        _ => {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    };
    let count = match int_arg(args[2]) {
        Ok(i64::MIN) => {
            ctx.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
            return Flow::Continue;
        }
        Ok(n) => n,
        Err(_) => {
            ctx.error(ERR_NOT_INTEGER);
            return Flow::Continue;
        }
    };
    if (withvalues && count < 0 && count.unsigned_abs() * 2 > i64::MAX as u64)
        || count < -MAX_REPEATED_PICKS
    {
        ctx.error("ERR value is out of range");
        return Flow::Continue;
    }
    read(ctx, args[1], |h, reply| {
        let Some(h) = h.filter(|_| count != 0) else {
            reply.array(0);
            return;
        };
        let picks = random_positions(h.len(), count);
        let resp3 = reply.version() == protocol::resp::RespVersion::V3;
        reply.array(if withvalues && !resp3 {
            picks.len() * 2
        } else {
            picks.len()
        });
        for i in picks {
            if let Some((f, v)) = h.nth(i) {
                if withvalues {
                    // RESP3 pairs each field with its value; RESP2 is flat.
                    if resp3 {
                        reply.array(2);
                    }
                    reply.bulk(f);
                    reply.bulk(v);
                } else {
                    reply.bulk(f);
                }
            }
        }
    });
    Flow::Continue
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn hscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(cursor) = parse_cursor(args[2]) else {
        ctx.error("ERR invalid cursor");
        return Flow::Continue;
    };
    let (count, pattern) = match scan_options(&args[3..]) {
        Ok(o) => o,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    read(ctx, args[1], |h, reply| {
        let (next, items) = match h {
            Some(h) => h.scan(cursor, count),
            None => (0, Vec::new()),
        };
        let items: Vec<(&[u8], &[u8])> = items
            .into_iter()
            .filter(|(f, _)| pattern.is_none_or(|p| glob_match(p, f, false)))
            .collect();
        reply.array(2);
        reply.bulk(next.to_string().as_bytes());
        reply.array(items.len() * 2);
        for (f, v) in items {
            reply.bulk(f);
            reply.bulk(v);
        }
    });
    Flow::Continue
}
