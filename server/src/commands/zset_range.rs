//! The range commands of sorted sets: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its
//! older forms, ZRANGESTORE, and ZREMRANGEBYRANK/SCORE/LEX, parsed as Redis 7.0's
//! `zrangeGenericCommand` and `zremrangeGenericCommand` parse them. Every range becomes an
//! interval of ranks first, so the index answers it in O(log n + m).

use super::collection::{typed, WrongType};
use super::util::{int_arg, is, ERR_SYNTAX, ERR_WRONGTYPE};
use super::zset_args::{read, reply_scored, write, LexRange, ScoreRange};
use super::{Ctx, Flow};
use crate::cache::{Entry, Scored, Value, ZSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-like request.
struct Request {
    range: Range,
    rev: bool,
    withscores: bool,
    /// LIMIT offset count (count < 0: no limit).
    limit: Option<(i64, i64)>,
}

/// Redis's rank sanitizing: the ranks `start..end` (end exclusive) of `start`/`stop`, which
/// may count from the end.
fn rank_span(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let llen = len as i64;
    // Saturating: an index near i64::MIN must not overflow (it means "before the start").
    let mut start = if start < 0 {
        start.saturating_add(llen)
    } else {
        start
    };
    let mut end = if stop < 0 {
        stop.saturating_add(llen)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return (0, 0);
    }
    if end >= llen {
        end = llen - 1;
    }
    (start as usize, end as usize + 1)
}

impl Request {
    /// The elements asked for, in reply order.
    fn elements(&self, z: &ZSet) -> Vec<Scored> {
        let len = z.len();
        let (a, b) = match &self.range {
            Range::Rank(start, stop) => {
                let (a, b) = rank_span(*start, *stop, len);
                // A reversed rank range counts from the top.
                return if self.rev {
                    z.range(len - b, len - a, true)
                } else {
                    z.range(a, b, false)
                };
            }
            Range::Score(r) => r.ranks(z),
            Range::Lex(r) => r.ranks(z, self.rev),
        };
        let (offset, count) = self.limit.unwrap_or((0, -1));
        if offset < 0 || (offset > 0 && offset as u64 >= len as u64) {
            return Vec::new();
        }
        let in_range = b - a;
        let skip = (offset as u64).min(in_range as u64) as usize;
        let take = if count < 0 {
            in_range - skip
        } else {
            (count as u64).min((in_range - skip) as u64) as usize
        };
        if self.rev {
            z.range(b - skip - take, b - skip, true)
        } else {
            z.range(a + skip, a + skip + take, false)
        }
    }
}

/// Parses `key min max [options]` from `args[first]` (the key) on, as
/// `zrangeGenericCommand`: `by` and `rev` preset by the older command forms.
fn parse(
    args: &[&[u8]],
    first: usize,
    store: bool,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<Request, &'static str> {
    let (mut by, mut rev) = (by, rev);
    let mut withscores = false;
    let mut limit = None;
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            limit = Some((int_arg(args[j + 1])?, int_arg(args[j + 2])?));
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(a, "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(a, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(ERR_SYNTAX);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let by = by.unwrap_or(By::Rank);
    if limit.is_some() && by == By::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && by == By::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut lo, mut hi) = (args[first + 1], args[first + 2]);
    if rev && by != By::Rank {
        // The older reversed forms and REV take the range as max, min.
        std::mem::swap(&mut lo, &mut hi);
    }
    let range = match by {
        By::Rank => Range::Rank(int_arg(lo)?, int_arg(hi)?),
        By::Score => Range::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => Range::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(Request {
        range,
        rev,
        withscores,
        limit,
    })
}

fn range_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], by: Option<By>, rev: Option<bool>) -> Flow {
    match parse(args, 1, false, by, rev) {
        Ok(req) => {
            read(ctx, args[1], |z, reply| {
                let items = z.map(|z| req.elements(z)).unwrap_or_default();
                reply_scored(reply, &items, req.withscores);
            });
        }
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub fn zrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, None, None)
}

pub fn zrevrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, Some(By::Rank), Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, Some(By::Score), Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, Some(By::Score), Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, Some(By::Lex), Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    range_generic(ctx, args, Some(By::Lex), Some(true))
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: both keys locked
/// together, so the copy is atomic.
pub fn zrangestore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let req = match parse(args, 2, true, None, None) {
        Ok(r) => r,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let (dst, src) = (args[1], args[2]);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys([dst, src]);
    let items = lock.read(db, src, now, |e| {
        typed::<ZSet>(e).map(|z| z.map(|z| req.elements(z)).unwrap_or_default())
    });
    let stored = items.map(|mut items| {
        if req.rev {
            items.reverse();
        }
        let n = items.len();
        // An empty result deletes the destination, as in Redis.
        lock.update(db, dst, now, |slot| {
            *slot = (n > 0).then(|| Entry::new(Value::ZSet(ZSet::from_sorted(&items, &limits))));
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

/// ZREMRANGEBYRANK/SCORE/LEX key min max: the range is parsed before the key is looked at.
fn remrange(ctx: &mut Ctx<'_>, args: &[&[u8]], by: By) -> Flow {
    let range = match by {
        By::Rank => match (int_arg(args[2]), int_arg(args[3])) {
            (Ok(a), Ok(b)) => Ok(Range::Rank(a, b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        By::Score => ScoreRange::parse(args[2], args[3]).map(Range::Score),
        By::Lex => LexRange::parse(args[2], args[3]).map(Range::Lex),
    };
    let range = match range {
        Ok(r) => r,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let removed = write(ctx, args[1], false, |z| {
        let (a, b) = match &range {
            Range::Rank(start, stop) => rank_span(*start, *stop, z.len()),
            Range::Score(r) => r.ranks(z),
            Range::Lex(r) => r.ranks(z, false),
        };
        z.remove_range(a, b)
    });
    if let Some(n) = removed {
        ctx.reply().integer(n.unwrap_or(0) as i64);
    }
    Flow::Continue
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    remrange(ctx, args, By::Rank)
}

pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    remrange(ctx, args, By::Score)
}

pub fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    remrange(ctx, args, By::Lex)
}
