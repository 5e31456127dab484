//! Set commands (Redis 7.0's t_set.c): replies, errors and edge cases as Redis's. Commands
//! over several keys (SMOVE, SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD) hold
//! every shard involved for their whole run, so they are atomic.

use super::collection::{
    modify, random_below, random_positions, scan_options, typed, WrongType, MAX_REPEATED_PICKS,
};
use super::keyspace::parse_cursor;
use super::util::{int_arg, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE};
use super::{Ctx, Flow};
use crate::cache::glob::glob_match;
use crate::cache::{Entry, Limits, MultiLock, Set, Value};
use protocol::resp::Reply;

const ERR_NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// Reads the set at `key` (None when absent); None after a WRONGTYPE reply.
fn read<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&Set>, &mut Reply<'_>) -> R,
) -> Option<R> {
    super::collection::read(ctx, key, f)
}

/// Modifies the set at `key`, handing `f` the reply too; None after a WRONGTYPE reply.
fn write<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Set, &mut Reply<'_>) -> R,
) -> Option<Option<R>> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut reply = Reply::new(ctx.out, ctx.client.resp());
    let r = ctx.state.cache.update(db, key, now, |slot| {
        modify::<Set, R>(slot, create, |s| f(s, &mut reply))
    });
    match r {
        Ok(r) => Some(r),
        Err(WrongType) => {
            ctx.error(ERR_WRONGTYPE);
            None
        }
    }
}

pub fn sadd(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let limits = ctx.state.cache.limits();
    let members = &args[2..];
    write(ctx, args[1], true, |s, reply| {
        let n = members.iter().filter(|m| s.add(m, &limits)).count();
        reply.integer(n as i64);
    });
    Flow::Continue
}

pub fn srem(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let members = &args[2..];
    let removed = write(ctx, args[1], false, |s, _| {
        members.iter().filter(|m| s.remove(m)).count()
    });
    if let Some(n) = removed {
        ctx.reply().integer(n.unwrap_or(0) as i64);
    }
    Flow::Continue
}

pub fn scard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    read(ctx, args[1], |s, reply| {
        reply.integer(s.map_or(0, Set::len) as i64)
    });
    Flow::Continue
}

pub fn sismember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let m = args[2];
    read(ctx, args[1], |s, reply| {
        reply.integer(i64::from(s.is_some_and(|s| s.contains(m))))
    });
    Flow::Continue
}

pub fn smismember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let members = &args[2..];
    read(ctx, args[1], |s, reply| {
        reply.array(members.len());
        for m in members {
            reply.integer(i64::from(s.is_some_and(|s| s.contains(m))));
        }
    });
    Flow::Continue
}

/// Replies with every member of `s` as a set (RESP3) or array.
fn reply_members(reply: &mut Reply<'_>, s: Option<&Set>) {
    reply.set(s.map_or(0, Set::len));
    for m in s.into_iter().flat_map(Set::iter) {
        m.with_bytes(|b| reply.bulk(b));
    }
}

pub fn smembers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    read(ctx, args[1], |s, reply| reply_members(reply, s));
    Flow::Continue
}

/// `SPOP key [count]`
pub fn spop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let count = match args.len() {
        2 => None,
        3 => match int_arg(args[2]) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => {
                ctx.error(ERR_NOT_POSITIVE);
                return Flow::Continue;
            }
        },
        _ => {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    };
    let done = write(ctx, args[1], false, |s, reply| match count {
        None => {
            let m = s.remove_nth(random_below(s.len()));
            reply.bulk(&m);
        }
        Some(n) if n >= s.len() as u64 => {
            // The whole set, in its own order (ascending for an intset), as Redis replies.
            reply.set(s.len());
            for m in s.iter() {
                m.with_bytes(|b| reply.bulk(b));
            }
            *s = Set::new();
        }
        Some(n) => {
            let n = n as usize;
            reply.set(n);
            for _ in 0..n {
                let m = s.remove_nth(random_below(s.len()));
                reply.bulk(&m);
            }
        }
    });
    if let Some(None) = done {
        // No such key.
        let mut reply = ctx.reply();
        match count {
            None => reply.null(),
            Some(_) => reply.set(0),
        }
    }
    Flow::Continue
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let count = match args.len() {
        2 => None,
        3 => match int_arg(args[2]) {
            Ok(i64::MIN) => {
                ctx.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
                return Flow::Continue;
            }
            Ok(n) if n < -MAX_REPEATED_PICKS => {
                ctx.error("ERR value is out of range");
                return Flow::Continue;
            }
            Ok(n) => Some(n),
            Err(_) => {
                ctx.error(ERR_NOT_INTEGER);
                return Flow::Continue;
            }
        },
        _ => {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    };
    read(ctx, args[1], |s, reply| match (s, count) {
        (None, None) => reply.null(),
        (Some(s), None) => s.nth(random_below(s.len())).with_bytes(|b| reply.bulk(b)),
        (None, Some(_)) | (Some(_), Some(0)) => reply.array(0),
        (Some(s), Some(n)) => {
            let picks = random_positions(s.len(), n);
            reply.array(picks.len());
            for i in picks {
                s.nth(i).with_bytes(|b| reply.bulk(b));
            }
        }
    });
    Flow::Continue
}

/// SMOVE source destination member
pub fn smove(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (src, dst, member) = (args[1], args[2], args[3]);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys([src, dst]);
    let src_state = lock.read(db, src, now, |e| {
        typed::<Set>(e).map(|s| s.map(|s| s.contains(member)))
    });
    let dst_ok = lock.read(db, dst, now, |e| typed::<Set>(e).is_ok());
    let moved = match src_state {
        Ok(None) => Ok(false),
        Err(WrongType) => Err(WrongType),
        Ok(Some(_)) if !dst_ok => Err(WrongType),
        Ok(Some(is_member)) if src == dst => Ok(is_member),
        Ok(Some(false)) => Ok(false),
        Ok(Some(true)) => {
            let removed = lock.update(db, src, now, |slot| {
                modify::<Set, _>(slot, false, |s| s.remove(member))
            });
            let added = lock.update(db, dst, now, |slot| {
                modify::<Set, _>(slot, true, |s| s.add(member, &limits))
            });
            debug_assert!(matches!(removed, Ok(Some(true))) && added.is_ok());
            Ok(true)
        }
    };
    drop(lock);
    match moved {
        Ok(m) => ctx.reply().integer(i64::from(m)),
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

/// Set algebra over several keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The members of `op` over `keys`, computed under `lock`, in the order Redis replies with
/// them; WrongType if any key holds another type (checked before anything else, as Redis).
fn combine(
    lock: &mut MultiLock<'_>,
    db: usize,
    now: u64,
    keys: &[&[u8]],
    op: Op,
    limits: &Limits,
) -> Result<Vec<Vec<u8>>, WrongType> {
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        sizes.push(lock.read(db, k, now, |e| typed::<Set>(e).map(|s| s.map(Set::len)))?);
    }
    let members_of = |lock: &mut MultiLock<'_>, k: &[u8]| {
        lock.read(db, k, now, |e| match e.map(|e| &e.value) {
            Some(Value::Set(s)) => s.iter().map(|m| m.to_vec()).collect(),
            _ => Vec::new(),
        })
    };
    match op {
        Op::Inter => {
            if sizes.iter().any(Option::is_none) {
                return Ok(Vec::new());
            }
            // Walk the smallest set, testing membership in the others.
            let smallest = (0..keys.len()).min_by_key(|&i| sizes[i]).unwrap_or(0);
            let mut out = members_of(lock, keys[smallest]);
            for (i, k) in keys.iter().enumerate() {
                if i != smallest && !out.is_empty() {
                    out = lock.read(db, k, now, |e| match e.map(|e| &e.value) {
                        Some(Value::Set(s)) => out.into_iter().filter(|m| s.contains(m)).collect(),
                        _ => Vec::new(),
                    });
                }
            }
            Ok(out)
        }
        Op::Union | Op::Diff => {
            // Built as a set, as Redis builds its result, and read back in that set's order.
            let mut result = Set::new();
            for (i, k) in keys.iter().enumerate() {
                if op == Op::Diff && i > 0 {
                    if result.is_empty() {
                        break;
                    }
                    lock.read(db, k, now, |e| {
                        if let Some(Value::Set(s)) = e.map(|e| &e.value) {
                            for m in s.iter() {
                                m.with_bytes(|b| result.remove(b));
                            }
                        }
                    });
                } else {
                    for m in members_of(lock, k) {
                        result.add(&m, limits);
                    }
                }
            }
            Ok(result.iter().map(|m| m.to_vec()).collect())
        }
    }
}

fn set_op(ctx: &mut Ctx<'_>, keys: &[&[u8]], op: Op) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied());
    let result = combine(&mut lock, db, now, keys, op, &limits);
    drop(lock);
    match result {
        Ok(members) => {
            let mut reply = ctx.reply();
            reply.set(members.len());
            for m in &members {
                reply.bulk(m);
            }
        }
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

fn set_op_store(ctx: &mut Ctx<'_>, dst: &[u8], keys: &[&[u8]], op: Op) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied().chain([dst]));
    let stored = combine(&mut lock, db, now, keys, op, &limits).map(|members| {
        let mut set = Set::new();
        for m in &members {
            set.add(m, &limits);
        }
        let n = set.len();
        // An empty result deletes the destination, as in Redis.
        lock.update(db, dst, now, |slot| {
            *slot = (n > 0).then(|| Entry::new(Value::Set(set)));
        });
        n
    });
    drop(lock);
    match stored {
        Ok(n) => ctx.reply().integer(n as i64),
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

pub fn sinter(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op(ctx, &args[1..], Op::Inter)
}

pub fn sunion(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op(ctx, &args[1..], Op::Union)
}

pub fn sdiff(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op(ctx, &args[1..], Op::Diff)
}

pub fn sinterstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op_store(ctx, args[1], &args[2..], Op::Inter)
}

pub fn sunionstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op_store(ctx, args[1], &args[2..], Op::Union)
}

pub fn sdiffstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    set_op_store(ctx, args[1], &args[2..], Op::Diff)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn sintercard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let numkeys = match int_arg(args[1]) {
        Ok(n) if n > 0 => n as u64,
        _ => {
            ctx.error("ERR numkeys should be greater than 0");
            return Flow::Continue;
        }
    };
    if numkeys > (args.len() - 2) as u64 {
        ctx.error("ERR Number of keys can't be greater than number of args");
        return Flow::Continue;
    }
    let keys = &args[2..2 + numkeys as usize];
    let mut limit = 0u64;
    let mut j = 2 + numkeys as usize;
    while j < args.len() {
        if super::util::is(args[j], "LIMIT") && j + 1 < args.len() {
            match int_arg(args[j + 1]) {
                Ok(n) if n >= 0 => limit = n as u64,
                _ => {
                    ctx.error("ERR LIMIT can't be negative");
                    return Flow::Continue;
                }
            }
            j += 2;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied());
    let result = combine(&mut lock, db, now, keys, Op::Inter, &limits);
    drop(lock);
    match result {
        Ok(m) => {
            let n = m.len() as u64;
            ctx.reply()
                .integer(if limit > 0 { n.min(limit) } else { n } as i64);
        }
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn sscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
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
    read(ctx, args[1], |s, reply| {
        let (next, items) = match s {
            Some(s) => s.scan(cursor, count),
            None => (0, Vec::new()),
        };
        let items: Vec<Vec<u8>> = items
            .into_iter()
            .map(|m| m.to_vec())
            .filter(|m| pattern.is_none_or(|p| glob_match(p, m, false)))
            .collect();
        reply.array(2);
        reply.bulk(next.to_string().as_bytes());
        reply.array(items.len());
        for m in &items {
            reply.bulk(m);
        }
    });
    Flow::Continue
}
