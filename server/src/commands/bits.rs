//! Bit commands: SETBIT, GETBIT, BITCOUNT (Redis 7.0's bitops.c).

use super::util::{int_arg, is, ERR_BIT, ERR_BIT_OFFSET, ERR_SYNTAX, ERR_WRONGTYPE};
use super::{Ctx, Flow};
use crate::cache::{Entry, Value};

/// A bit offset: a non-negative integer whose byte lies within the string size limit.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8]) -> Option<u64> {
    let n = protocol::resp::parse_i64(arg)?;
    (n >= 0 && ((n as u64) >> 3) < ctx.max_string_len() as u64).then_some(n as u64)
}

pub fn setbit(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(offset) = bit_offset(ctx, args[2]) else {
        ctx.error(ERR_BIT_OFFSET);
        return Flow::Continue;
    };
    let on = match args[3] {
        b"1" => true,
        b"0" => false,
        _ => {
            ctx.error(ERR_BIT);
            return Flow::Continue;
        }
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let old = ctx.state.cache.update(db, args[1], now, |slot| {
        if slot.as_ref().is_some_and(|e| !e.value.is_string()) {
            return None;
        }
        let mut data = slot.as_ref().map_or_else(Vec::new, |e| e.value.to_vec());
        if data.len() <= byte {
            data.resize(byte + 1, 0);
        }
        let old = data[byte] & mask != 0;
        if on {
            data[byte] |= mask;
        } else {
            data[byte] &= !mask;
        }
        match slot {
            Some(e) => e.value = Value::raw(data),
            None => *slot = Some(Entry::new(Value::raw(data))),
        }
        Some(old)
    });
    match old {
        Some(old) => ctx.reply().integer(i64::from(old)),
        None => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

pub fn getbit(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(offset) = bit_offset(ctx, args[2]) else {
        ctx.error(ERR_BIT_OFFSET);
        return Flow::Continue;
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let bit = ctx.state.cache.read(db, args[1], now, true, |e| match e {
        Some(e) if !e.value.is_string() => None,
        e => Some(e.is_some_and(|e| {
            e.value.with_bytes(|s| {
                let byte = (offset >> 3) as usize;
                byte < s.len() && s[byte] & (1 << (7 - (offset & 7))) != 0
            })
        })),
    });
    match bit {
        Some(bit) => ctx.reply().integer(i64::from(bit)),
        None => ctx.error(ERR_WRONGTYPE),
    }
    Flow::Continue
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
pub fn bitcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let data = ctx.state.cache.read(db, args[1], now, true, |e| match e {
        Some(e) if !e.value.is_string() => Err(()),
        e => Ok(e.map(|e| e.value.to_vec())),
    });
    let Ok(data) = data else {
        ctx.error(ERR_WRONGTYPE);
        return Flow::Continue;
    };
    let Some(data) = data else {
        ctx.reply().integer(0);
        return Flow::Continue;
    };
    let len = data.len() as i64;
    let (start, end, first_mask, last_mask) = match args.len() {
        2 => (0, len - 1, 0u8, 0u8),
        4 | 5 => {
            let (mut start, mut end) = match (int_arg(args[2]), int_arg(args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => {
                    ctx.error(e);
                    return Flow::Continue;
                }
            };
            if start < 0 && end < 0 && start > end {
                ctx.reply().integer(0);
                return Flow::Continue;
            }
            let bit = if args.len() == 5 {
                if is(args[4], "BIT") {
                    true
                } else if is(args[4], "BYTE") {
                    false
                } else {
                    ctx.error(ERR_SYNTAX);
                    return Flow::Continue;
                }
            } else {
                false
            };
            let total = if bit { len << 3 } else { len };
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            let (mut fm, mut lm) = (0u8, 0u8);
            if bit && start <= end {
                fm = !((1u16 << (8 - (start & 7))) - 1) as u8;
                lm = ((1u16 << (7 - (end & 7))) - 1) as u8;
                start >>= 3;
                end >>= 3;
            }
            (start, end, fm, lm)
        }
        _ => {
            ctx.error(ERR_SYNTAX);
            return Flow::Continue;
        }
    };
    let count = if start > end {
        0
    } else {
        let bytes = &data[start as usize..=end as usize];
        let mut n: i64 = bytes.iter().map(|b| i64::from(b.count_ones())).sum();
        if first_mask != 0 {
            n -= i64::from((data[start as usize] & first_mask).count_ones());
        }
        if last_mask != 0 {
            n -= i64::from((data[end as usize] & last_mask).count_ones());
        }
        n
    };
    ctx.reply().integer(count);
    Flow::Continue
}
