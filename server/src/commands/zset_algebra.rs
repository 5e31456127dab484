//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, as Redis 7.0's
//! `zunionInterDiffGenericCommand`: inputs may be sorted sets or sets (members of a set score
//! 1), WEIGHTS multiply, AGGREGATE SUM|MIN|MAX combines (a NaN from inf - inf becomes 0), and
//! the result is ordered by score then member. Every key involved is locked for the whole
//! command (in shard order), so it is atomic.

use super::util::{int_arg, is, ERR_SYNTAX, ERR_WRONGTYPE};
use super::zset_args::{parse_score, reply_scored};
use super::{Ctx, Flow};
use crate::cache::zset::ZSet;
use crate::cache::{Entry, Scored, Value};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => *target = target.min(value),
            Aggregate::Max => *target = target.max(value),
        }
    }
}

/// The options after the keys.
struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: u64,
}

/// Parses what follows the keys; `store` forbids WITHSCORES, `card` allows only LIMIT.
fn parse_options(
    rest: &[&[u8]],
    keys: usize,
    op: Op,
    store: bool,
    card: bool,
) -> Result<Options, &'static str> {
    let mut o = Options {
        weights: vec![1.0; keys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = 0;
    while j < rest.len() {
        let remaining = rest.len() - j;
        let a = rest[j];
        if op != Op::Diff && !card && remaining > keys && is(a, "weights") {
            for i in 0..keys {
                o.weights[i] =
                    parse_score(rest[j + 1 + i]).ok_or("ERR weight value is not a float")?;
            }
            j += 1 + keys;
        } else if op != Op::Diff && !card && remaining >= 2 && is(a, "aggregate") {
            let v = rest[j + 1];
            o.aggregate = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(ERR_SYNTAX);
            };
            j += 2;
        } else if !store && !card && is(a, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is(a, "limit") {
            o.limit = match int_arg(rest[j + 1]) {
                Ok(n) if n >= 0 => n as u64,
                _ => return Err("ERR LIMIT can't be negative"),
            };
            j += 2;
        } else {
            return Err(ERR_SYNTAX);
        }
    }
    Ok(o)
}

/// The elements of `op` over `sources` (each a sorted set or set's elements, None when
/// absent), ordered by score then member. With `card`, only counts (up to a nonzero limit).
fn compute(sources: Vec<Vec<Scored>>, op: Op, o: &Options, card: bool) -> (Vec<Scored>, u64) {
    let mut srcs: Vec<(Vec<Scored>, f64)> =
        sources.into_iter().zip(o.weights.iter().copied()).collect();
    if op != Op::Diff {
        // Smallest first, as Redis sorts its inputs by cardinality.
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut out: Vec<Scored> = Vec::new();
    let mut count = 0u64;
    match op {
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (src, w) in &srcs {
                for (m, s) in src {
                    let mut v = w * s;
                    if v.is_nan() {
                        v = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => o.aggregate.apply(t, v),
                        None => {
                            acc.insert(m.clone(), v);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        Op::Inter => {
            let lookups: Vec<HashMap<&[u8], f64>> = srcs[1..]
                .iter()
                .map(|(s, _)| s.iter().map(|(m, v)| (&m[..], *v)).collect())
                .collect();
            'members: for (m, s) in &srcs[0].0 {
                let mut score = srcs[0].1 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                for (i, l) in lookups.iter().enumerate() {
                    match l.get(&m[..]) {
                        Some(v) => o.aggregate.apply(&mut score, v * srcs[i + 1].1),
                        None => continue 'members,
                    }
                }
                count += 1;
                if card {
                    if o.limit > 0 && count >= o.limit {
                        break;
                    }
                } else {
                    out.push((m.clone(), score));
                }
            }
        }
        Op::Diff => {
            let others: std::collections::HashSet<&[u8]> = srcs[1..]
                .iter()
                .flat_map(|(s, _)| s.iter().map(|(m, _)| &m[..]))
                .collect();
            out = srcs[0]
                .0
                .iter()
                .filter(|(m, _)| !others.contains(&m[..]))
                .cloned()
                .collect();
        }
    }
    out.sort_by(crate::cache::zset::cmp_scored);
    (out, count)
}

/// The elements of a sorted set or set value (members of a set score 1).
fn elements_of(value: &Value) -> Option<Vec<Scored>> {
    match value {
        Value::ZSet(z) => Some(z.to_vec()),
        Value::Set(s) => Some(s.iter().map(|m| (m.to_vec(), 1.0)).collect()),
        _ => None,
    }
}

/// The shared body: `numkeys` at `args[at]`, then the keys and options; `dst` for the STORE
/// forms, `card` for ZINTERCARD.
fn generic(
    ctx: &mut Ctx<'_>,
    args: &[&[u8]],
    at: usize,
    dst: Option<&[u8]>,
    op: Op,
    card: bool,
) -> Flow {
    let numkeys = match int_arg(args[at]) {
        Ok(n) => n,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    if numkeys < 1 {
        let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        ctx.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
        return Flow::Continue;
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let n = numkeys as usize;
    let keys = &args[at + 1..at + 1 + n];
    let options = parse_options(&args[at + 1 + n..], n, op, dst.is_some(), card);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let limits = ctx.state.cache.limits();
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied().chain(dst));
    // Types are checked before the options, as Redis does.
    let mut sources = Vec::with_capacity(n);
    for k in keys {
        let src = lock.read(db, k, now, |e| match e {
            None => Some(Vec::new()),
            Some(e) => elements_of(&e.value),
        });
        match src {
            Some(s) => sources.push(s),
            None => {
                drop(lock);
                ctx.error(ERR_WRONGTYPE);
                return Flow::Continue;
            }
        }
    }
    let o = match options {
        Ok(o) => o,
        Err(e) => {
            drop(lock);
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let (items, count) = compute(sources, op, &o, card);
    if let Some(dst) = dst {
        let len = items.len();
        // An empty result deletes the destination, as in Redis.
        lock.update(db, dst, now, |slot| {
            *slot = (len > 0).then(|| Entry::new(Value::ZSet(ZSet::from_sorted(&items, &limits))));
        });
        drop(lock);
        ctx.reply().integer(len as i64);
    } else {
        drop(lock);
        let mut reply = ctx.reply();
        if card {
            reply.integer(count as i64);
        } else {
            reply_scored(&mut reply, &items, o.withscores);
        }
    }
    Flow::Continue
}

pub fn zunion(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 1, None, Op::Union, false)
}

pub fn zinter(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 1, None, Op::Inter, false)
}

pub fn zdiff(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 1, None, Op::Diff, false)
}

pub fn zintercard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 1, None, Op::Inter, true)
}

pub fn zunionstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 2, Some(args[1]), Op::Union, false)
}

pub fn zinterstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 2, Some(args[1]), Op::Inter, false)
}

pub fn zdiffstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    generic(ctx, args, 2, Some(args[1]), Op::Diff, false)
}
