//! Sorted set commands on one key (Redis 7.0's t_zset.c): ZADD ... ZSCAN, with Redis's
//! replies, errors and edge cases. Ranges are in `zset_range.rs`, the algebra over several
//! keys in `zset_algebra.rs`, the parsing they share in `zset_args.rs`.

use super::collection::{modify, random_below, scan_options, typed, WrongType};
use super::collection::{random_positions, MAX_REPEATED_PICKS};
use super::keyspace::parse_cursor;
use super::util::{int_arg, is, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE};
use super::zset_args::{parse_score, read, reply_scored, write, LexRange, ScoreRange, ERR_NAN};
use super::{Ctx, Flow};
use crate::cache::glob::glob_match;
use crate::cache::{Limits, Scored, ZSet};
use protocol::resp::{format_double, Reply};

/// ZADD's options.
#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What `zsetAdd` did with one element.
enum Added {
    New(f64),
    Updated(f64),
    /// Same score as before: processed, not counted by CH.
    Same(f64),
    Nop,
}

/// Redis's `zsetAdd` for one element; Err on a NaN result.
fn add_one(z: &mut ZSet, member: &[u8], score: f64, f: AddFlags, l: &Limits) -> Result<Added, ()> {
    match z.score(member) {
        Some(_) if f.nx => Ok(Added::Nop),
        Some(cur) => {
            let score = if f.incr { score + cur } else { score };
            if score.is_nan() {
                return Err(());
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Ok(Added::Nop);
            }
            if score != cur {
                z.insert(member, score, l);
                Ok(Added::Updated(score))
            } else {
                Ok(Added::Same(score))
            }
        }
        None if f.xx => Ok(Added::Nop),
        None => {
            z.insert(member, score, l);
            Ok(Added::New(score))
        }
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
pub fn zadd(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    add_generic(ctx, args[1], f, &args[i..])
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_generic(ctx, args[1], f, &args[2..])
}

fn add_generic(ctx: &mut Ctx<'_>, key: &[u8], f: AddFlags, pairs: &[&[u8]]) -> Flow {
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    if f.nx && f.xx {
        ctx.error("ERR XX and NX options at the same time are not compatible");
        return Flow::Continue;
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        ctx.error("ERR GT, LT, and/or NX options at the same time are not compatible");
        return Flow::Continue;
    }
    if f.incr && pairs.len() > 2 {
        ctx.error("ERR INCR option supports a single increment-element pair");
        return Flow::Continue;
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        match parse_score(p[0]) {
            Some(s) => scores.push((s, p[1])),
            None => {
                ctx.error(ERR_NOT_FLOAT);
                return Flow::Continue;
            }
        }
    }
    let limits = ctx.state.cache.limits();
    // (added, updated, processed, last score), or Err after a NaN.
    let outcome = write(ctx, key, !f.xx, |z| {
        let (mut added, mut updated, mut processed, mut last) = (0i64, 0i64, 0, 0.0);
        for &(score, member) in &scores {
            match add_one(z, member, score, f, &limits)? {
                Added::New(s) => (added, processed, last) = (added + 1, processed + 1, s),
                Added::Updated(s) => (updated, processed, last) = (updated + 1, processed + 1, s),
                Added::Same(s) => (processed, last) = (processed + 1, s),
                Added::Nop => {}
            }
        }
        Ok::<_, ()>((added, updated, processed, last))
    });
    let Some(outcome) = outcome else {
        return Flow::Continue;
    };
    match outcome.unwrap_or(Ok((0, 0, 0, 0.0))) {
        Err(()) => ctx.error(ERR_NAN),
        Ok((_, _, processed, score)) if f.incr => {
            let mut reply = ctx.reply();
            if processed > 0 {
                reply.double(score);
            } else {
                reply.null();
            }
        }
        Ok((added, updated, _, _)) => {
            ctx.reply()
                .integer(if f.ch { added + updated } else { added });
        }
    }
    Flow::Continue
}

/// `ZREM key member [member ...]`
pub fn zrem(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let members = &args[2..];
    let removed = write(ctx, args[1], false, |z| {
        members.iter().filter(|m| z.remove(m).is_some()).count()
    });
    if let Some(n) = removed {
        ctx.reply().integer(n.unwrap_or(0) as i64);
    }
    Flow::Continue
}

pub fn zcard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    read(ctx, args[1], |z, reply| {
        reply.integer(z.map_or(0, ZSet::len) as i64)
    });
    Flow::Continue
}

pub fn zscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let m = args[2];
    read(ctx, args[1], |z, reply| match z.and_then(|z| z.score(m)) {
        Some(s) => reply.double(s),
        None => reply.null(),
    });
    Flow::Continue
}

pub fn zmscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let members = &args[2..];
    read(ctx, args[1], |z, reply| {
        reply.array(members.len());
        for m in members {
            match z.and_then(|z| z.score(m)) {
                Some(s) => reply.double(s),
                None => reply.null(),
            }
        }
    });
    Flow::Continue
}

fn rank_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], rev: bool) -> Flow {
    let m = args[2];
    read(ctx, args[1], |z, reply| {
        match z.and_then(|z| z.rank(m).map(|(r, _)| (r, z.len()))) {
            Some((r, len)) => reply.integer(if rev { len - 1 - r } else { r } as i64),
            None => reply.null(),
        }
    });
    Flow::Continue
}

pub fn zrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    rank_generic(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    rank_generic(ctx, args, true)
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match ScoreRange::parse(args[2], args[3]) {
        Ok(range) => {
            read(ctx, args[1], |z, reply| {
                let (a, b) = z.map_or((0, 0), |z| range.ranks(z));
                reply.integer((b - a) as i64)
            });
        }
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match LexRange::parse(args[2], args[3]) {
        Ok(range) => {
            read(ctx, args[1], |z, reply| {
                let (a, b) = z.map_or((0, 0), |z| range.ranks(z, false));
                reply.integer((b - a) as i64)
            });
        }
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

/// Pops `count` elements (at least one) of the zset in `slot` from its low end (high when
/// `max`), deleting the key when it empties: the step ZPOPMIN/ZPOPMAX/ZMPOP take, and the
/// one a blocking pop takes once its key has elements. Ok(None) when the key is absent.
pub fn pop_entry(
    slot: &mut Option<crate::cache::Entry>,
    max: bool,
    count: usize,
) -> Result<Option<Vec<Scored>>, WrongType> {
    modify::<ZSet, _>(slot, false, |z| z.pop(max, count))
}

/// `ZPOPMIN/ZPOPMAX key [count]`
fn pop_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], max: bool) -> Flow {
    if args.len() > 3 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n as u64),
        // Redis answers this for a non-integer too.
        Some(_) => {
            ctx.error("ERR value is out of range, must be positive");
            return Flow::Continue;
        }
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let n = count.unwrap_or(1).min(usize::MAX as u64) as usize;
    let popped = if n == 0 {
        // Redis still checks the type before answering an empty array.
        ctx.state
            .cache
            .read(db, args[1], now, true, |e| typed::<ZSet>(e).map(|_| None))
    } else {
        ctx.state
            .cache
            .update(db, args[1], now, |slot| pop_entry(slot, max, n))
    };
    match popped {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(items) => {
            let items = items.unwrap_or_default();
            let mut reply = ctx.reply();
            // A count gives pairs in RESP3; without one the reply is flat in both.
            if count.is_none() {
                reply_flat(&mut reply, &items);
            } else {
                reply_scored(&mut reply, &items, true);
            }
        }
    }
    Flow::Continue
}

/// Replies with popped elements flat (member, score, ...) whatever the protocol.
fn reply_flat(reply: &mut Reply<'_>, items: &[Scored]) {
    reply.array(items.len() * 2);
    for (m, s) in items {
        reply.bulk(m);
        reply.double(*s);
    }
}

pub fn zpopmin(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    pop_generic(ctx, args, false)
}

pub fn zpopmax(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    pop_generic(ctx, args, true)
}

/// A key and what was popped from it.
type Popped<'a> = (&'a [u8], Vec<Scored>);

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`
pub fn zmpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let numkeys = match int_arg(args[1]) {
        Ok(n) if n >= 1 => n as u64,
        _ => {
            ctx.error("ERR numkeys should be greater than 0");
            return Flow::Continue;
        }
    };
    let where_idx = 2u64.saturating_add(numkeys);
    if where_idx >= args.len() as u64 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let where_idx = where_idx as usize;
    let max = if is(args[where_idx], "MIN") {
        false
    } else if is(args[where_idx], "MAX") {
        true
    } else {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(args[j], "COUNT") && j + 1 < args.len() {
            match int_arg(args[j + 1]) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => {
                    ctx.error("ERR count should be greater than 0");
                    return Flow::Continue;
                }
            }
            j += 2;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    }
    let keys = &args[2..where_idx];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied());
    let mut result: Result<Option<Popped<'_>>, WrongType> = Ok(None);
    for key in keys {
        match lock.update(db, key, now, |slot| {
            pop_entry(slot, max, count.unwrap_or(1))
        }) {
            Ok(None) => continue,
            Ok(Some(items)) => result = Ok(Some((key, items))),
            Err(e) => result = Err(e),
        }
        break;
    }
    drop(lock);
    match result {
        Err(WrongType) => ctx.error(ERR_WRONGTYPE),
        Ok(None) => ctx.reply().null_array(),
        Ok(Some((key, items))) => reply_keyed_pop(&mut ctx.reply(), key, &items),
    }
    Flow::Continue
}

/// ZMPOP's reply (and BZMPOP's): [key, [[member, score], ...]].
pub fn reply_keyed_pop(reply: &mut Reply<'_>, key: &[u8], items: &[Scored]) {
    reply.array(2);
    reply.bulk(key);
    reply.array(items.len());
    for (m, s) in items {
        reply.array(2);
        reply.bulk(m);
        reply.double(*s);
    }
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() == 2 {
        read(ctx, args[1], |z, reply| match z {
            Some(z) => reply.bulk(&z.pick(random_below(z.len())).0),
            None => reply.null(),
        });
        return Flow::Continue;
    }
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
    if args.len() > 4 || (args.len() == 4 && !is(args[3], "WITHSCORES")) {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let withscores = args.len() == 4;
    // Redis bounds WITHSCORES counts to +-LONG_MAX/2; negative counts are bounded further here
    // (as for SRANDMEMBER/HRANDFIELD) so a reply cannot be made to take all memory.
    if (withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count))
        || count < -MAX_REPEATED_PICKS
    {
        ctx.error("ERR value is out of range");
        return Flow::Continue;
    }
    read(ctx, args[1], |z, reply| {
        let items: Vec<Scored> = match z {
            Some(z) if count != 0 => {
                let picks = random_positions(z.len(), count);
                if count > 0 && picks.len() == z.len() {
                    // The whole zset, in the order Redis's iterator walks it (from the top).
                    let mut all = z.to_vec();
                    all.reverse();
                    all
                } else {
                    // Distinct positions pick distinct members (for a positive count).
                    picks.into_iter().map(|i| z.pick(i)).collect()
                }
            }
            _ => Vec::new(),
        };
        reply_scored(reply, &items, withscores);
    });
    Flow::Continue
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: scores as strings, as Redis's SCAN
/// replies with them in both protocols.
pub fn zscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
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
    read(ctx, args[1], |z, reply| {
        let (next, items) = match z {
            Some(z) => z.scan(cursor, count),
            None => (0, Vec::new()),
        };
        let items: Vec<Scored> = items
            .into_iter()
            .filter(|(m, _)| pattern.is_none_or(|p| glob_match(p, m, false)))
            .collect();
        reply.array(2);
        reply.bulk(next.to_string().as_bytes());
        reply.array(items.len() * 2);
        for (m, s) in &items {
            reply.bulk(m);
            reply.bulk(format_double(*s).as_bytes());
        }
    });
    Flow::Continue
}
