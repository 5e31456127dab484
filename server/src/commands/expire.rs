//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX, XX, GT, LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST. Semantics and errors follow Redis 7.0's expire.c.

use super::util::{int_arg, is, lossy};
use super::{Ctx, Flow};

#[derive(Clone, Copy, Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_conditions(args: &[&[u8]]) -> Result<Conditions, String> {
    let mut c = Conditions::default();
    for opt in &args[3..] {
        if is(opt, "NX") {
            c.nx = true;
        } else if is(opt, "XX") {
            c.xx = true;
        } else if is(opt, "GT") {
            c.gt = true;
        } else if is(opt, "LT") {
            c.lt = true;
        } else {
            return Err(format!("ERR Unsupported option {}", lossy(opt)));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if c.gt && c.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(c)
}

/// Redis's expireGenericCommand. `relative`: the argument is added to now; `seconds`: it is in
/// seconds.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &[&[u8]],
    command: &str,
    relative: bool,
    seconds: bool,
) -> Flow {
    let cond = match parse_conditions(args) {
        Ok(c) => c,
        Err(e) => {
            ctx.error(&e);
            return Flow::Continue;
        }
    };
    let mut when = match int_arg(args[2]) {
        Ok(n) => n,
        Err(e) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    let invalid = format!("ERR invalid expire time in '{command}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            ctx.error(&invalid);
            return Flow::Continue;
        }
        when *= 1000;
    }
    let base = if relative { ctx.now_ms as i64 } else { 0 };
    if when > i64::MAX - base {
        ctx.error(&invalid);
        return Flow::Continue;
    }
    when += base;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let result = ctx.state.cache.update(db, args[1], now, |slot| {
        let Some(e) = slot else { return 0 };
        let current = (e.expire_at != 0).then_some(e.expire_at as i64);
        if cond.nx && current.is_some() {
            return 0;
        }
        if cond.xx && current.is_none() {
            return 0;
        }
        if cond.gt && current.is_none_or(|c| when <= c) {
            return 0;
        }
        if cond.lt && current.is_some_and(|c| when >= c) {
            return 0;
        }
        if when <= now as i64 {
            *slot = None;
        } else {
            e.expire_at = when as u64;
        }
        1
    });
    ctx.reply().integer(result);
    Flow::Continue
}

pub fn expire(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    expire_generic(ctx, args, "expire", true, true)
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    expire_generic(ctx, args, "pexpire", true, false)
}

pub fn expireat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    expire_generic(ctx, args, "expireat", false, true)
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    expire_generic(ctx, args, "pexpireat", false, false)
}

/// Redis's ttlGenericCommand.
fn ttl_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], output_ms: bool, absolute: bool) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let expire = ctx
        .state
        .cache
        .read(db, args[1], now, false, |e| e.map(|e| e.expire_at));
    let reply = match expire {
        None => -2,
        Some(0) => -1,
        Some(at) => {
            let ttl = if absolute {
                at as i64
            } else {
                (at as i64 - now as i64).max(0)
            };
            if output_ms {
                ttl
            } else {
                (ttl + 500) / 1000
            }
        }
    };
    ctx.reply().integer(reply);
    Flow::Continue
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    ttl_generic(ctx, args, false, false)
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    ttl_generic(ctx, args, true, false)
}

pub fn expiretime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    ttl_generic(ctx, args, false, true)
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    ttl_generic(ctx, args, true, true)
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let removed = ctx.state.cache.update(db, args[1], now, |slot| match slot {
        Some(e) if e.expire_at != 0 => {
            e.expire_at = 0;
            1
        }
        _ => 0,
    });
    ctx.reply().integer(removed);
    Flow::Continue
}
