//! What the store keeps per key: a value (a string, integer-encoded when it is a canonical
//! integer, as Redis does; or a hash, a set or a sorted set), an absolute expiry time, and an access stamp
//! for LRU/LFU.

use super::hash::Hash;
use super::set::Set;
use super::zset::ZSet;
use protocol::resp::parse_i64;

/// A key's value. The collections sit in the slot as one pointer-sized handle to their
/// storage (a small one's single allocation, or a boxed table), so the slot does not grow.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string that is the canonical decimal form of an i64 (Redis's `int` encoding).
    Int(i64),
    /// Up to [`INLINE_MAX`] bytes held in the value itself, so in the table's slot: no
    /// allocation, and no cache miss beyond the slot's to read or replace it. `raw` as below.
    Inline {
        len: u8,
        raw: bool,
        data: [u8; INLINE_MAX],
    },
    /// Longer strings. `raw` records that it was modified in place (APPEND, SETRANGE,
    /// SETBIT), which Redis reports as the `raw` encoding even when short.
    Bytes {
        data: Vec<u8>,
        raw: bool,
    },
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
}

/// Longest string kept inline: what fits in a 128-byte table slot beside the key and the
/// entry's other fields (64-byte values, the common benchmark size, do).
pub const INLINE_MAX: usize = 69;

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

/// Equal when both are integers with the same value, or both are strings with the same bytes
/// and the same `raw` flag (however they are held).
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => {
                a.len() == b.len() && a.iter().all(|(f, v)| b.get(f) == Some(v))
            }
            (Value::Set(a), Value::Set(b)) => {
                a.len() == b.len() && a.iter().all(|m| m.with_bytes(|m| b.contains(m)))
            }
            (Value::ZSet(a), Value::ZSet(b)) => a.to_vec() == b.to_vec(),
            (Value::Int(_) | Value::Hash(_) | Value::Set(_) | Value::ZSet(_), _)
            | (_, Value::Int(_) | Value::Hash(_) | Value::Set(_) | Value::ZSet(_)) => false,
            _ => {
                self.is_raw() == other.is_raw() && self.with_bytes(|a| other.with_bytes(|b| a == b))
            }
        }
    }
}

impl Eq for Value {}

impl Value {
    /// Stores `bytes` the way Redis's `tryObjectEncoding` would: integers as `Int`.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::string(bytes, false)
    }

    /// A value that came from an in-place modification (always raw bytes).
    pub fn raw(data: Vec<u8>) -> Value {
        if data.len() <= INLINE_MAX {
            return Value::string(&data, true);
        }
        Value::Bytes { data, raw: true }
    }

    fn string(bytes: &[u8], raw: bool) -> Value {
        if bytes.len() <= INLINE_MAX {
            let mut data = [0u8; INLINE_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            return Value::Inline {
                len: bytes.len() as u8,
                raw,
                data,
            };
        }
        Value::Bytes {
            data: bytes.to_vec(),
            raw,
        }
    }

    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            _ => "string",
        }
    }

    pub fn is_string(&self) -> bool {
        !matches!(self, Value::Hash(_) | Value::Set(_) | Value::ZSet(_))
    }

    fn is_raw(&self) -> bool {
        match self {
            Value::Int(_) | Value::Hash(_) | Value::Set(_) | Value::ZSet(_) => false,
            Value::Inline { raw, .. } | Value::Bytes { raw, .. } => *raw,
        }
    }

    /// Writes the value's bytes with `f` without allocating for integers. Strings only:
    /// commands check the type (WRONGTYPE) before they read a value as a string.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Hash(_) | Value::Set(_) | Value::ZSet(_) => {
                debug_assert!(false, "with_bytes of a {}", self.type_name());
                f(b"")
            }
            Value::Int(n) => {
                let mut buf = itoa_buf();
                let s = format_i64(*n, &mut buf);
                f(s)
            }
            Value::Inline { len, data, .. } => f(&data[..usize::from(*len)]),
            Value::Bytes { data, .. } => f(data),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    pub fn len(&self) -> usize {
        match self {
            Value::Int(n) => {
                let mut buf = itoa_buf();
                format_i64(*n, &mut buf).len()
            }
            Value::Inline { len, .. } => usize::from(*len),
            Value::Bytes { data, .. } => data.len(),
            Value::Hash(h) => h.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            v if !v.is_raw() && v.len() <= EMBSTR_MAX => "embstr",
            _ => "raw",
        }
    }

    /// Approximate heap bytes held by the value beyond its slot.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline { .. } => 0,
            Value::Bytes { data, .. } => data.capacity(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
        }
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` in decimal into `buf`, returning the used tail.
pub fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        // i64::MIN has 19 digits, so there is always room for the sign in 20 bytes.
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// One key's record.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 = no expiry.
    pub expire_at: u64,
    /// LRU: the LRU clock (seconds) at last access. LFU: minutes (high 24 bits) and a
    /// logarithmic counter (low 8 bits), as Redis packs them.
    pub access: u32,
}

/// Bytes per key beyond its heap allocations: the table's slot (with the inline key and a
/// short value) and its tag byte.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<super::table::Slot>() + 1;

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire_at: 0,
            access: 0,
        }
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    pub fn is_volatile(&self) -> bool {
        self.expire_at != 0
    }

    /// The store's memory estimate for a key of `key_len` bytes holding this entry (a key
    /// longer than the slot's inline space is allocated; counting every key's length keeps
    /// the estimate simple and on the safe side).
    pub fn footprint(&self, key_len: usize) -> usize {
        key_len + self.value.heap_size() + ENTRY_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_int_encoded_only_when_canonical() {
        assert_eq!(Value::from_bytes(b"123"), Value::Int(123));
        assert_eq!(
            Value::from_bytes(b"-9223372036854775808"),
            Value::Int(i64::MIN)
        );
        assert_eq!(Value::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_bytes(b" 1").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).encoding(), "raw");
        assert_eq!(Value::raw(b"ab".to_vec()).encoding(), "raw");
    }

    #[test]
    fn short_strings_are_inline_long_ones_on_the_heap_and_read_back_alike() {
        let short = vec![b'a'; INLINE_MAX];
        let long = vec![b'b'; INLINE_MAX + 1];
        assert!(matches!(Value::from_bytes(&short), Value::Inline { .. }));
        assert!(matches!(Value::from_bytes(&long), Value::Bytes { .. }));
        assert!(matches!(
            Value::raw(short.clone()),
            Value::Inline { raw: true, .. }
        ));
        assert_eq!(Value::from_bytes(&short).to_vec(), short);
        assert_eq!(Value::from_bytes(&long).to_vec(), long);
        assert_eq!(Value::raw(short.clone()).len(), INLINE_MAX);
        assert_eq!(Value::from_bytes(&short).heap_size(), 0);
        assert_eq!(Value::from_bytes(&long).heap_size(), INLINE_MAX + 1);
        assert_eq!(Value::from_bytes(b"").len(), 0);
        assert_ne!(Value::from_bytes(b"ab"), Value::raw(b"ab".to_vec()));
        assert_eq!(Value::from_bytes(b"ab").encoding(), "embstr");
        assert_eq!(Value::raw(b"ab".to_vec()).encoding(), "raw");
        assert_eq!(
            Value::from_bytes(&short).encoding(),
            "raw",
            "longer than embstr"
        );
    }

    #[test]
    fn a_slot_with_an_inline_value_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<crate::cache::table::Slot>(), 128);
        // Collections hold small listpacks and intsets inline; they must not widen the value
        // (72 bytes: the 69-byte inline string, its length, raw flag and tag).
        assert_eq!(std::mem::size_of::<Value>(), 72);
        assert!(std::mem::size_of::<Hash>() <= 64 && std::mem::size_of::<Set>() <= 64);
        assert!(std::mem::size_of::<super::super::zset::ZSet>() <= 64);
        assert_eq!(crate::cache::table::BUCKET_BYTES, 128);
    }

    #[test]
    fn int_values_read_back_as_their_digits() {
        assert_eq!(Value::Int(-42).to_vec(), b"-42");
        assert_eq!(Value::Int(i64::MIN).to_vec(), b"-9223372036854775808");
        assert_eq!(Value::Int(0).len(), 1);
    }
}
