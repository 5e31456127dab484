//! What the hash, set and sorted set commands share: typed access to a key's hash or set (WRONGTYPE for
//! any other type, and a collection left empty deletes its key, as in Redis), the options of
//! HSCAN/SSCAN, and the random numbers HRANDFIELD, SPOP and SRANDMEMBER draw.

use super::util::{int_arg, is, ERR_SYNTAX, ERR_WRONGTYPE};
use super::Ctx;
use crate::cache::{Entry, Hash, Set, Value, ZSet};
use protocol::resp::Reply;
use std::cell::Cell;

/// The key holds another type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// A hash or a set: how the helpers below reach into a `Value`.
pub trait Collection: Sized {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
    fn empty() -> Self;
    fn is_empty(&self) -> bool;
}

impl Collection for Hash {
    fn of(value: &Value) -> Option<&Hash> {
        match value {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut Hash> {
        match value {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Hash(self)
    }
    fn empty() -> Hash {
        Hash::new()
    }
    fn is_empty(&self) -> bool {
        Hash::is_empty(self)
    }
}

impl Collection for Set {
    fn of(value: &Value) -> Option<&Set> {
        match value {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut Set> {
        match value {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Set(self)
    }
    fn empty() -> Set {
        Set::new()
    }
    fn is_empty(&self) -> bool {
        Set::is_empty(self)
    }
}

impl Collection for ZSet {
    fn of(value: &Value) -> Option<&ZSet> {
        match value {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut ZSet> {
        match value {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::ZSet(self)
    }
    fn empty() -> ZSet {
        ZSet::new()
    }
    fn is_empty(&self) -> bool {
        ZSet::is_empty(self)
    }
}

/// The collection in `entry` (None when the key is absent), or WrongType.
pub fn typed<C: Collection>(entry: Option<&Entry>) -> Result<Option<&C>, WrongType> {
    match entry {
        None => Ok(None),
        Some(e) => C::of(&e.value).map(Some).ok_or(WrongType),
    }
}

/// Reads the collection of type `C` at `key` (None when the key is absent) under its shard's
/// lock, with the reply at hand; None after a WRONGTYPE reply.
pub fn read<C: Collection, R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&C>, &mut Reply<'_>) -> R,
) -> Option<R> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut reply = Reply::new(ctx.out, ctx.client.resp());
    let r = ctx.state.cache.read(db, key, now, true, |e| {
        typed::<C>(e).map(|c| f(c, &mut reply))
    });
    match r {
        Ok(r) => Some(r),
        Err(WrongType) => {
            ctx.error(ERR_WRONGTYPE);
            None
        }
    }
}

/// Runs `f` on the collection in `slot` inside a store update. An absent key gets an empty
/// collection when `create` (else `f` is not run and the answer is None); a collection `f`
/// leaves empty is deleted with its key.
pub fn modify<C: Collection, R>(
    slot: &mut Option<Entry>,
    create: bool,
    f: impl FnOnce(&mut C) -> R,
) -> Result<Option<R>, WrongType> {
    if slot.is_none() {
        if !create {
            return Ok(None);
        }
        *slot = Some(Entry::new(C::empty().into_value()));
    }
    let Some(entry) = slot.as_mut() else {
        return Ok(None);
    };
    let c = C::of_mut(&mut entry.value).ok_or(WrongType)?;
    let r = f(c);
    if c.is_empty() {
        *slot = None;
    }
    Ok(Some(r))
}

/// HSCAN/SSCAN options after the cursor: `[MATCH pattern] [COUNT count]`, as Redis's
/// scanGenericCommand parses them.
pub fn scan_options<'a>(args: &[&'a [u8]]) -> Result<(usize, Option<&'a [u8]>), &'static str> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 0;
    while i < args.len() {
        let more = args.len() - i >= 2;
        if is(args[i], "COUNT") && more {
            let c = int_arg(args[i + 1])?;
            if c < 1 {
                return Err(ERR_SYNTAX);
            }
            count = c.min(1 << 30) as usize;
        } else if is(args[i], "MATCH") && more {
            pattern = (args[i + 1] != b"*").then_some(args[i + 1]);
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 2;
    }
    Ok((count, pattern))
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let here = &nanos as *const u64 as u64;
    (nanos ^ here.rotate_left(32)) | 1
}

/// A uniform number in 0..n (n > 0): xorshift64* per thread, reduced without modulo bias
/// worth caring about at these sizes (128-bit multiply).
pub fn random_below(n: usize) -> usize {
    debug_assert!(n > 0);
    let r = RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// Most picks a negative count may ask for (HRANDFIELD, SRANDMEMBER). Redis has no bound but
/// memory: it would build a reply of that many elements. Beyond this we answer Redis's
/// out-of-range error rather than fill memory with one reply.
pub const MAX_REPEATED_PICKS: i64 = 1 << 24;

/// Random positions in 0..len for a count (len > 0, count != 0): a negative count draws with
/// repetition, lazily; a positive one distinct positions (all, in order, when it covers the
/// collection), as Redis's SRANDMEMBER/HRANDFIELD with a count.
pub fn random_positions(len: usize, count: i64) -> Picks {
    if count < 0 {
        let left = count.unsigned_abs().min(usize::MAX as u64) as usize;
        return Picks::Repeat { len, left };
    }
    let n = count as u64;
    if n >= len as u64 {
        return Picks::Distinct((0..len).collect::<Vec<_>>().into_iter());
    }
    // A partial Fisher-Yates shuffle over the positions.
    let n = n as usize;
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..n {
        let j = i + random_below(len - i);
        all.swap(i, j);
    }
    all.truncate(n);
    Picks::Distinct(all.into_iter())
}

/// The positions [`random_positions`] picked; `len()` says how many before any is drawn.
pub enum Picks {
    Repeat { len: usize, left: usize },
    Distinct(std::vec::IntoIter<usize>),
}

impl Iterator for Picks {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Picks::Repeat { len, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(random_below(*len))
            }
            Picks::Distinct(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            Picks::Repeat { left, .. } => *left,
            Picks::Distinct(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Picks {}
