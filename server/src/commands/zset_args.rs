//! What the sorted set commands share: score and range arguments parsed as Redis 7.0's
//! t_zset.c parses them (with its exact errors), typed access to a key's zset, and the
//! replies of element lists (flat in RESP2, [member, score] pairs in RESP3).

use super::collection::{modify, WrongType};
use super::util::ERR_WRONGTYPE;
use super::Ctx;
use crate::cache::{Scored, ZSet};
use protocol::resp::{Reply, RespVersion};

pub const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const ERR_MINMAX_FLOAT: &str = "ERR min or max is not a float";
pub const ERR_MINMAX_LEX: &str = "ERR min or max not valid string range item";

/// C's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtod` over the whole of `text` (no leading space): None when it does not parse.
/// Overflow gives an infinity, as strtod does; the caller decides whether that is an error.
fn strtod_all(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    // Rust accepts "infinity"/"inf"/"nan" in any case as strtod does; it does not accept
    // hexadecimal floats, which Redis's strtod would (a rare form, not supported here).
    let lower = s.to_ascii_lowercase();
    if lower.trim_start_matches(['+', '-']).starts_with("0x") {
        return None;
    }
    s.parse::<f64>().ok()
}

/// A score argument as Redis's `getDoubleFromObject` accepts it: the whole string, no
/// leading space, not NaN, no overflow to infinity nor underflow to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return None;
    }
    let v = strtod_all(arg)?;
    if v.is_nan() {
        return None;
    }
    let lower = arg.to_ascii_lowercase();
    if v.is_infinite() && !lower.windows(3).any(|w| w == b"inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split(|&b| b == b'e').next().unwrap_or(&[]);
        if mantissa.iter().any(|b| (b'1'..=b'9').contains(b)) {
            return None;
        }
    }
    Some(v)
}

/// One end of a score range as `zslParseRange` reads it: `strtod` that must reach the end of
/// the string (leading space and overflow allowed, an empty string is 0), not NaN.
fn parse_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    if text.is_empty() {
        return Some((0.0, exclusive));
    }
    let start = text.iter().position(|&b| !is_c_space(b))?;
    let v = strtod_all(&text[start..])?;
    (!v.is_nan()).then_some((v, exclusive))
}

/// A score range: min, max and whether each end is exclusive.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, &'static str> {
        let (min, minex) = parse_bound(min).ok_or(ERR_MINMAX_FLOAT)?;
        let (max, maxex) = parse_bound(max).ok_or(ERR_MINMAX_FLOAT)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// The ranks `start..end` of the elements in range.
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let r = *self;
        if r.min > r.max || (r.min == r.max && (r.minex || r.maxex)) {
            return (0, 0);
        }
        let start = z.count_before(|s, _| if r.minex { s <= r.min } else { s < r.min });
        let end = z.count_before(|s, _| if r.maxex { s < r.max } else { s <= r.max });
        (start, end.max(start))
    }
}

/// One end of a lex range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x` or `(x`.
    Value { bytes: Vec<u8>, exclusive: bool },
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::Max),
            b'-' if arg.len() == 1 => Some(LexBound::Min),
            b'(' => Some(LexBound::Value {
                bytes: arg[1..].to_vec(),
                exclusive: true,
            }),
            b'[' => Some(LexBound::Value {
                bytes: arg[1..].to_vec(),
                exclusive: false,
            }),
            _ => None,
        }
    }

    /// The bound's place for comparing two bounds (`-` below every string, `+` above) and
    /// whether it is exclusive.
    fn key(&self) -> ((u8, &[u8]), bool) {
        match self {
            LexBound::Min => ((0, &[]), false),
            LexBound::Value { bytes, exclusive } => ((1, bytes), *exclusive),
            LexBound::Max => ((2, &[]), false),
        }
    }

    /// Whether `m` is ordered before this bound used as a range's start (so outside it).
    fn before_start(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value { bytes, exclusive } => {
                if *exclusive {
                    m <= &bytes[..]
                } else {
                    m < &bytes[..]
                }
            }
        }
    }

    /// Whether `m` is within this bound used as a range's end.
    fn within_end(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value { bytes, exclusive } => {
                if *exclusive {
                    m < &bytes[..]
                } else {
                    m <= &bytes[..]
                }
            }
        }
    }
}

/// A lex range (meaningful when all scores are equal, as Redis documents).
#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, &'static str> {
        Ok(LexRange {
            min: LexBound::parse(min).ok_or(ERR_MINMAX_LEX)?,
            max: LexBound::parse(max).ok_or(ERR_MINMAX_LEX)?,
        })
    }

    /// The ranks of the range's members (see [`ZSet::lex_ranks`]); `rev` for a reversed
    /// walk, which Redis starts from the top.
    pub fn ranks(&self, z: &ZSet, rev: bool) -> (usize, usize) {
        // A range that is empty whatever the members (Redis's `zslIsInLexRange` test).
        let (min, minex) = self.min.key();
        let (max, maxex) = self.max.key();
        let cmp = min.cmp(&max);
        if cmp.is_gt() || (cmp.is_eq() && (minex || maxex)) {
            return (0, 0);
        }
        z.lex_ranks(
            |m| self.min.before_start(m),
            |m| self.max.within_end(m),
            rev,
        )
    }
}

/// Replies with `items`: members only, or with scores (flat in RESP2, pairs in RESP3).
pub fn reply_scored(reply: &mut Reply<'_>, items: &[Scored], withscores: bool) {
    let resp3 = reply.version() == RespVersion::V3;
    if withscores && !resp3 {
        reply.array(items.len() * 2);
    } else {
        reply.array(items.len());
    }
    for (m, s) in items {
        if withscores && resp3 {
            reply.array(2);
        }
        reply.bulk(m);
        if withscores {
            reply.double(*s);
        }
    }
}

/// Reads the zset at `key` (None when absent); None after a WRONGTYPE reply.
pub fn read<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&ZSet>, &mut Reply<'_>) -> R,
) -> Option<R> {
    super::collection::read(ctx, key, f)
}

/// Modifies the zset at `key` (created empty when `create`; deleted when left empty);
/// Some(None) when absent and not created; None after a WRONGTYPE reply.
pub fn write<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut ZSet) -> R,
) -> Option<Option<R>> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let r = ctx
        .state
        .cache
        .update(db, key, now, |slot| modify::<ZSet, R>(slot, create, f));
    match r {
        Ok(r) => Some(r),
        Err(WrongType) => {
            ctx.error(ERR_WRONGTYPE);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_like_get_double_from_object() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"0e-400"), Some(0.0));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"abc"), None);
    }

    #[test]
    fn range_bounds_parse_like_zsl_parse_range() {
        assert_eq!(parse_bound(b"(1"), Some((1.0, true)));
        assert_eq!(parse_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_bound(b""), Some((0.0, false)));
        assert_eq!(parse_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_bound(b"nan"), None);
        assert_eq!(parse_bound(b"x"), None);
        assert!(LexRange::parse(b"[a", b"+").is_ok());
        assert_eq!(LexRange::parse(b"a", b"+").err(), Some(ERR_MINMAX_LEX));
        assert_eq!(LexRange::parse(b"-x", b"+").err(), Some(ERR_MINMAX_LEX));
    }
}
