//! String commands: GET/SET and friends, counters, ranges, LCS. Semantics, replies and errors
//! follow Redis 7.0's t_string.c.

use super::util::{
    self, int_arg, is, ERR_NOT_INTEGER, ERR_OFFSET, ERR_OVERFLOW, ERR_STRING_TOO_LONG, ERR_SYNTAX,
    ERR_WRONGTYPE,
};
use super::{Ctx, Flow};
use crate::cache::{Entry, Value};
use bigdecimal::BigDecimal;
use std::str::FromStr;

/// Expiry options of SET and GETEX.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Expiry {
    #[default]
    None,
    Ex,
    Px,
    ExAt,
    PxAt,
    KeepTtl,
    Persist,
}

#[derive(Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
    expire_arg: Option<&'a [u8]>,
}

/// Redis's parseExtendedStringArgumentsOrReply: the same acceptance rules, in the same order.
fn parse_options<'a>(
    args: &[&'a [u8]],
    start: usize,
    is_set: bool,
) -> Result<SetOptions<'a>, &'static str> {
    let mut o = SetOptions::default();
    let mut j = start;
    while j < args.len() {
        let opt = args[j];
        let has_next = j + 1 < args.len();
        let no_expiry = o.expiry == Expiry::None;
        if is(opt, "NX") && !o.xx && is_set {
            o.nx = true;
        } else if is(opt, "XX") && !o.nx && is_set {
            o.xx = true;
        } else if is(opt, "GET") && is_set {
            o.get = true;
        } else if is(opt, "KEEPTTL") && is_set && (no_expiry || o.expiry == Expiry::KeepTtl) {
            o.expiry = Expiry::KeepTtl;
        } else if is(opt, "PERSIST") && !is_set && (no_expiry || o.expiry == Expiry::Persist) {
            o.expiry = Expiry::Persist;
        } else if let Some(kind) = [
            ("EX", Expiry::Ex),
            ("PX", Expiry::Px),
            ("EXAT", Expiry::ExAt),
            ("PXAT", Expiry::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| is(opt, name))
        .map(|(_, k)| k)
        .filter(|k| has_next && (no_expiry || o.expiry == *k))
        {
            o.expiry = kind;
            o.expire_arg = Some(args[j + 1]);
            j += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// The absolute expiry in Unix ms for an EX/PX/EXAT/PXAT argument (Redis's
/// getExpireMillisecondsOrReply).
fn expire_at(ctx: &Ctx<'_>, kind: Expiry, arg: &[u8], command: &str) -> Result<u64, String> {
    let n = int_arg(arg).map_err(str::to_string)?;
    let invalid = || format!("ERR invalid expire time in '{command}' command");
    let seconds = matches!(kind, Expiry::Ex | Expiry::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(kind, Expiry::Ex | Expiry::Px) {
        ms = ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?;
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms as u64)
}

pub fn get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    let hit = ctx.state.cache.read(db, args[1], now, true, |e| match e {
        Some(e) if !e.value.is_string() => None,
        Some(e) => {
            e.value.with_bytes(|b| reply.bulk(b));
            Some(true)
        }
        None => {
            reply.null();
            Some(false)
        }
    });
    let Some(hit) = hit else {
        ctx.counters.keyspace_hits += 1;
        ctx.error(ERR_WRONGTYPE);
        return Flow::Continue;
    };
    if hit {
        ctx.counters.keyspace_hits += 1;
    } else {
        ctx.counters.keyspace_misses += 1;
    }
    Flow::Continue
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub fn set(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = match parse_options(args, 3, true) {
        Ok(o) => o,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    set_generic(ctx, "set", args[1], args[2], opts, Reply2::Ok);
    Flow::Continue
}

/// What SET-like commands answer on success / when NX/XX stops them.
#[derive(Clone, Copy)]
enum Reply2 {
    /// SET: +OK / nil.
    Ok,
    /// SETNX: 1 / 0.
    OneZero,
}

fn set_generic(
    ctx: &mut Ctx<'_>,
    command: &str,
    key: &[u8],
    value: &[u8],
    opts: SetOptions<'_>,
    replies: Reply2,
) {
    let expire = match (opts.expiry, opts.expire_arg) {
        (Expiry::Ex | Expiry::Px | Expiry::ExAt | Expiry::PxAt, Some(arg)) => {
            match expire_at(ctx, opts.expiry, arg, command) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    ctx.error(&e);
                    return;
                }
            }
        }
        _ => None,
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let keep_ttl = opts.expiry == Expiry::KeepTtl;
    let new_value = Value::from_bytes(value);
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    let done = ctx.state.cache.update(db, key, now, |slot| {
        // SET ... GET on a key of another type fails and changes nothing.
        if opts.get && slot.as_ref().is_some_and(|e| !e.value.is_string()) {
            return false;
        }
        if opts.get {
            match slot {
                Some(e) => e.value.with_bytes(|b| reply.bulk(b)),
                None => reply.null(),
            }
        }
        let found = slot.is_some();
        if (opts.nx && found) || (opts.xx && !found) {
            if !opts.get {
                match replies {
                    Reply2::Ok => reply.null(),
                    Reply2::OneZero => reply.integer(0),
                }
            }
            return true;
        }
        let old_expiry = slot.as_ref().map_or(0, |e| e.expire_at);
        let mut entry = Entry::new(new_value);
        entry.expire_at = match expire {
            Some(ms) => ms,
            None if keep_ttl => old_expiry,
            None => 0,
        };
        *slot = Some(entry);
        if !opts.get {
            match replies {
                Reply2::Ok => reply.ok(),
                Reply2::OneZero => reply.integer(1),
            }
        }
        true
    });
    if !done {
        ctx.error(ERR_WRONGTYPE);
    }
}

pub fn setnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = SetOptions {
        nx: true,
        ..SetOptions::default()
    };
    set_generic(ctx, "setnx", args[1], args[2], opts, Reply2::OneZero);
    Flow::Continue
}

pub fn setex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = SetOptions {
        expiry: Expiry::Ex,
        expire_arg: Some(args[2]),
        ..SetOptions::default()
    };
    set_generic(ctx, "setex", args[1], args[3], opts, Reply2::Ok);
    Flow::Continue
}

pub fn psetex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = SetOptions {
        expiry: Expiry::Px,
        expire_arg: Some(args[2]),
        ..SetOptions::default()
    };
    set_generic(ctx, "psetex", args[1], args[3], opts, Reply2::Ok);
    Flow::Continue
}

pub fn getset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = SetOptions {
        get: true,
        ..SetOptions::default()
    };
    set_generic(ctx, "getset", args[1], args[2], opts, Reply2::Ok);
    Flow::Continue
}

pub fn getdel(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    let ok = ctx.state.cache.update(db, args[1], now, |slot| {
        if slot.as_ref().is_some_and(|e| !e.value.is_string()) {
            return false;
        }
        match slot.take() {
            Some(e) => e.value.with_bytes(|b| reply.bulk(b)),
            None => reply.null(),
        }
        true
    });
    if !ok {
        ctx.error(ERR_WRONGTYPE);
    }
    Flow::Continue
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`
pub fn getex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let opts = match parse_options(args, 2, false) {
        Ok(o) => o,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    // Redis looks the key up before validating the time: a missing key answers nil even
    // with a bad expire time.
    let exists = ctx
        .state
        .cache
        .read(db, args[1], now, false, |e| e.map(|e| e.value.is_string()));
    match exists {
        None => {
            ctx.reply().null();
            return Flow::Continue;
        }
        Some(false) => {
            ctx.error(ERR_WRONGTYPE);
            return Flow::Continue;
        }
        Some(true) => {}
    }
    let expire = match (opts.expiry, opts.expire_arg) {
        (Expiry::Ex | Expiry::Px | Expiry::ExAt | Expiry::PxAt, Some(arg)) => {
            match expire_at(ctx, opts.expiry, arg, "getex") {
                Ok(ms) => Some(ms),
                Err(e) => {
                    ctx.error(&e);
                    return Flow::Continue;
                }
            }
        }
        _ => None,
    };
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    ctx.state.cache.update(db, args[1], now, |slot| {
        let Some(e) = slot.as_mut().filter(|e| e.value.is_string()) else {
            // Gone, or replaced by another type, between the two lookups.
            reply.null();
            return;
        };
        e.value.with_bytes(|b| reply.bulk(b));
        match expire {
            // An absolute time already in the past deletes the key.
            Some(ms) if matches!(opts.expiry, Expiry::ExAt | Expiry::PxAt) && ms <= now => {
                *slot = None
            }
            Some(ms) => e.expire_at = ms,
            None if opts.expiry == Expiry::Persist => e.expire_at = 0,
            None => {}
        }
    });
    Flow::Continue
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let keys = &args[1..];
    let mut lock = ctx.state.cache.lock_keys(keys.iter().copied());
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    reply.array(keys.len());
    let (mut hits, mut misses) = (0, 0);
    for key in keys {
        lock.read(db, key, now, |e| match e {
            // Redis answers nil for a key of another type.
            Some(e) if !e.value.is_string() => {
                hits += 1;
                reply.null();
            }
            Some(e) => {
                hits += 1;
                e.value.with_bytes(|b| reply.bulk(b));
            }
            None => {
                misses += 1;
                reply.null();
            }
        });
    }
    ctx.counters.keyspace_hits += hits;
    ctx.counters.keyspace_misses += misses;
    Flow::Continue
}

fn mset_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], nx: bool) -> Flow {
    if args.len() % 2 == 0 {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            if nx { "msetnx" } else { "mset" }
        );
        ctx.error(&msg);
        return Flow::Continue;
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let pairs: Vec<(&[u8], &[u8])> = args[1..].chunks(2).map(|p| (p[0], p[1])).collect();
    let mut lock = ctx.state.cache.lock_keys(pairs.iter().map(|p| p.0));
    if nx
        && pairs
            .iter()
            .any(|(k, _)| lock.read(db, k, now, |e| e.is_some()))
    {
        drop(lock);
        ctx.reply().integer(0);
        return Flow::Continue;
    }
    for (k, v) in &pairs {
        lock.update(db, k, now, |slot| {
            *slot = Some(Entry::new(Value::from_bytes(v)))
        });
    }
    drop(lock);
    if nx {
        ctx.reply().integer(1);
    } else {
        ctx.reply().ok();
    }
    Flow::Continue
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    mset_generic(ctx, args, false)
}

pub fn msetnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    mset_generic(ctx, args, true)
}

pub fn append(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let suffix = args[2];
    let max = ctx.max_string_len();
    let result = ctx.state.cache.update(db, args[1], now, |slot| match slot {
        None => {
            *slot = Some(Entry::new(Value::from_bytes(suffix)));
            Ok(suffix.len())
        }
        Some(e) if !e.value.is_string() => Err(ERR_WRONGTYPE),
        Some(e) => {
            if e.value.len() + suffix.len() > max {
                return Err(ERR_STRING_TOO_LONG);
            }
            let mut data = e.value.to_vec();
            data.extend_from_slice(suffix);
            let len = data.len();
            e.value = Value::raw(data);
            Ok(len)
        }
    });
    match result {
        Ok(len) => ctx.reply().integer(len as i64),
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let len = ctx.state.cache.read(db, args[1], now, true, |e| match e {
        Some(e) if !e.value.is_string() => None,
        e => Some(e.map_or(0, |e| e.value.len())),
    });
    match len {
        Some(len) => ctx.reply().integer(len as i64),
        None => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

/// GETRANGE (and its old name SUBSTR).
pub fn getrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (start, end) = match (int_arg(args[2]), int_arg(args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        _ => {
            ctx.error(ERR_NOT_INTEGER);
            return Flow::Continue;
        }
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut reply = protocol::resp::Reply::new(ctx.out, ctx.client.resp());
    let ok = ctx.state.cache.read(db, args[1], now, true, |e| {
        let Some(e) = e else {
            reply.bulk(b"");
            return true;
        };
        if !e.value.is_string() {
            return false;
        }
        e.value.with_bytes(|s| {
            let len = s.len() as i64;
            if start < 0 && end < 0 && start > end {
                reply.bulk(b"");
                return;
            }
            let mut start = if start < 0 { len + start } else { start };
            let mut end = if end < 0 { len + end } else { end };
            start = start.max(0);
            end = end.max(0);
            if end >= len {
                end = len - 1;
            }
            if start > end || len == 0 {
                reply.bulk(b"");
            } else {
                reply.bulk(&s[start as usize..=end as usize]);
            }
        });
        true
    });
    if !ok {
        ctx.error(ERR_WRONGTYPE);
    }
    Flow::Continue
}

pub fn setrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let offset = match int_arg(args[2]) {
        Ok(o) => o,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    if offset < 0 {
        ctx.error(ERR_OFFSET);
        return Flow::Continue;
    }
    let offset = offset as usize;
    let value = args[3];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let max = ctx.max_string_len();
    let result = ctx.state.cache.update(db, args[1], now, |slot| {
        if slot.as_ref().is_some_and(|e| !e.value.is_string()) {
            return Err(ERR_WRONGTYPE);
        }
        let current = slot.as_ref().map_or(0, |e| e.value.len());
        if value.is_empty() {
            return Ok(current);
        }
        if offset.saturating_add(value.len()) > max {
            return Err(ERR_STRING_TOO_LONG);
        }
        let mut data = slot.as_ref().map_or_else(Vec::new, |e| e.value.to_vec());
        if data.len() < offset + value.len() {
            data.resize(offset + value.len(), 0);
        }
        data[offset..offset + value.len()].copy_from_slice(value);
        let len = data.len();
        match slot {
            Some(e) => e.value = Value::raw(data),
            None => *slot = Some(Entry::new(Value::raw(data))),
        }
        Ok(len)
    });
    match result {
        Ok(len) => ctx.reply().integer(len as i64),
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let result = ctx.state.cache.update(db, key, now, |slot| {
        let current = match slot {
            None => 0,
            Some(Entry {
                value: Value::Int(n),
                ..
            }) => *n,
            Some(e) if !e.value.is_string() => return Err(ERR_WRONGTYPE),
            Some(e) => e
                .value
                .with_bytes(protocol::resp::parse_i64)
                .ok_or(ERR_NOT_INTEGER)?,
        };
        let next = current.checked_add(by).ok_or(ERR_OVERFLOW)?;
        match slot {
            Some(e) => e.value = Value::Int(next),
            None => *slot = Some(Entry::new(Value::Int(next))),
        }
        Ok(next)
    });
    match result {
        Ok(n) => ctx.reply().integer(n),
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

pub fn incr(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    incr_by(ctx, args[1], 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    incr_by(ctx, args[1], -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match int_arg(args[2]) {
        Ok(by) => incr_by(ctx, args[1], by),
        Err(e) => {
            ctx.error(e);
            Flow::Continue
        }
    }
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match int_arg(args[2]) {
        Ok(i64::MIN) => {
            ctx.error("ERR decrement would overflow");
            Flow::Continue
        }
        Ok(by) => incr_by(ctx, args[1], -by),
        Err(e) => {
            ctx.error(e);
            Flow::Continue
        }
    }
}

/// Largest decimal exponent a long double can hold; beyond it Redis's strtold overflows.
const LONG_DOUBLE_MAX_EXP10: i64 = 4932;

/// A float argument as Redis's `string2ld` accepts it, held exactly (see `incrbyfloat`).
pub(super) fn decimal_arg(s: &[u8]) -> Result<Decimal, ()> {
    let text = std::str::from_utf8(s).map_err(|_| ())?;
    if text.is_empty()
        || text.len() >= 5 * 1024
        || text.starts_with(|c: char| c.is_ascii_whitespace())
    {
        return Err(());
    }
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned == "inf" || unsigned == "infinity" {
        return Ok(Decimal::Infinite);
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(());
    }
    let d = BigDecimal::from_str(text).map_err(|_| ())?;
    if magnitude_exp10(&d) > LONG_DOUBLE_MAX_EXP10 {
        return Err(());
    }
    Ok(Decimal::Finite(d))
}

pub(super) enum Decimal {
    Finite(BigDecimal),
    Infinite,
}

impl Decimal {
    pub(super) fn is_infinite(&self) -> bool {
        matches!(self, Decimal::Infinite)
    }
}

/// `current + incr` as INCRBYFLOAT and HINCRBYFLOAT store and print it (absent = 0).
pub(super) fn float_sum(current: Option<Decimal>, incr: &Decimal) -> Result<String, &'static str> {
    let a = current.unwrap_or_else(|| Decimal::Finite(BigDecimal::from(0)));
    let (Decimal::Finite(a), Decimal::Finite(b)) = (a, incr) else {
        return Err("ERR increment would produce NaN or Infinity");
    };
    let sum = a + b;
    if magnitude_exp10(&sum) > LONG_DOUBLE_MAX_EXP10 {
        return Err("ERR increment would produce NaN or Infinity");
    }
    Ok(human_decimal(&sum))
}

/// Roughly log10(|d|): digits before the point minus one.
fn magnitude_exp10(d: &BigDecimal) -> i64 {
    let (digits, scale) = d.as_bigint_and_exponent();
    let ndigits = digits.to_string().trim_start_matches('-').len() as i64;
    ndigits - scale - 1
}

/// INCRBYFLOAT. Redis adds in 80-bit long double and prints `%.17Lf` with trailing zeros
/// removed; we add the two decimals exactly and print the same form (17 fractional digits,
/// rounded half to even, zeros trimmed). Results agree with Redis wherever its long double is
/// exact to 17 decimals (which covers the usual "0.1 + 0.2 = 0.3" cases); where Redis would
/// show binary noise in the last digits, we don't.
pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let incr = match decimal_arg(args[2]) {
        Ok(d) => d,
        Err(()) => {
            ctx.error(util::ERR_NOT_FLOAT);
            return Flow::Continue;
        }
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let result = ctx.state.cache.update(db, args[1], now, |slot| {
        let current = match slot {
            None => None,
            Some(e) if !e.value.is_string() => return Err(ERR_WRONGTYPE),
            Some(e) => Some(
                e.value
                    .with_bytes(decimal_arg)
                    .map_err(|()| util::ERR_NOT_FLOAT)?,
            ),
        };
        let text = float_sum(current, &incr)?;
        let value = Value::from_bytes(text.as_bytes());
        match slot {
            Some(e) => e.value = value,
            None => *slot = Some(Entry::new(value)),
        }
        Ok(text)
    });
    match result {
        Ok(text) => ctx.reply().bulk(text.as_bytes()),
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

/// `%.17Lf` with trailing fractional zeros removed and no negative zero.
fn human_decimal(d: &BigDecimal) -> String {
    let rounded = d.with_scale_round(17, bigdecimal::RoundingMode::HalfEven);
    let mut s = rounded.to_plain_string();
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// One LCS match: the range in the first string, the range in the second, and its length.
type LcsMatch = ((usize, usize), (usize, usize), usize);

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`
pub fn lcs(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let read = |key: &[u8]| {
        ctx.state.cache.read(db, key, now, true, |e| match e {
            Some(e) if !e.value.is_string() => None,
            e => Some(e.map_or_else(Vec::new, |e| e.value.to_vec())),
        })
    };
    let (Some(a), Some(b)) = (read(args[1]), read(args[2])) else {
        ctx.error("ERR The specified keys must contain string values");
        return Flow::Continue;
    };
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = args[j];
        let more = j + 1 < args.len();
        if is(opt, "IDX") {
            getidx = true;
        } else if is(opt, "LEN") {
            getlen = true;
        } else if is(opt, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if is(opt, "MINMATCHLEN") && more {
            match int_arg(args[j + 1]) {
                Ok(n) => minmatchlen = n.max(0),
                Err(e) => {
                    ctx.error(e);
                    return Flow::Continue;
                }
            }
            j += 1;
        } else {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
        j += 1;
    }
    if getlen && getidx {
        ctx.error("ERR If you want both the length and indexes, please just use IDX.");
        return Flow::Continue;
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.max_string_len() as u64 {
        ctx.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return Flow::Continue;
    }
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut table = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for jj in 1..=blen {
            table[i * w + jj] = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if getlen {
        ctx.reply().integer(i64::from(total));
        return Flow::Continue;
    }
    // Walk back from the end, as Redis does, collecting the string and the match ranges.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<LcsMatch> = Vec::new();
    let (mut i, mut jj) = (alen, blen);
    let unset = alen;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0, 0, 0);
    while i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == unset {
                a_start = i - 1;
                a_end = i - 1;
                b_start = jj - 1;
                b_end = jj - 1;
            } else if a_start == i && b_start == jj {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if table[(i - 1) * w + jj] > table[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end - a_start + 1;
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                ranges.push(((a_start, a_end), (b_start, b_end), match_len));
            }
            a_start = unset;
        }
    }
    let mut reply = ctx.reply();
    if getidx {
        reply.map(2);
        reply.bulk(b"matches");
        reply.array(ranges.len());
        for ((s1, e1), (s2, e2), len) in ranges {
            reply.array(if withmatchlen { 3 } else { 2 });
            reply.array(2);
            reply.integer(s1 as i64);
            reply.integer(e1 as i64);
            reply.array(2);
            reply.integer(s2 as i64);
            reply.integer(e2 as i64);
            if withmatchlen {
                reply.integer(len as i64);
            }
        }
        reply.bulk(b"len");
        reply.integer(i64::from(total));
    } else {
        reply.bulk(&result);
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting_matches_redis_for_common_cases() {
        let d = |s: &str| BigDecimal::from_str(s).unwrap();
        assert_eq!(human_decimal(&(d("0.1") + d("0.2"))), "0.3");
        assert_eq!(
            human_decimal(&(d("17179869184") + d("1.5"))),
            "17179869185.5"
        );
        assert_eq!(human_decimal(&(d("1") + d("-1.1"))), "-0.1");
        assert_eq!(human_decimal(&(d("1.5") + d("1.5"))), "3");
        assert_eq!(human_decimal(&d("5.0e3")), "5000");
        assert_eq!(human_decimal(&(d("0.1") - d("0.1"))), "0");
    }

    #[test]
    fn float_arguments_like_string2ld() {
        assert!(decimal_arg(b"1.5").is_ok());
        assert!(decimal_arg(b"-1e3").is_ok());
        assert!(matches!(decimal_arg(b"+inf"), Ok(Decimal::Infinite)));
        assert!(decimal_arg(b" 1").is_err());
        assert!(decimal_arg(b"1 ").is_err());
        assert!(decimal_arg(b"1\x002").is_err());
        assert!(decimal_arg(b"").is_err());
        assert!(decimal_arg(b"nan").is_err());
        assert!(decimal_arg(b"1e5000").is_err());
    }
}
