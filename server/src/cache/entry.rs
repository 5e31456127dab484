//! What the store keeps per key: a string value (integer-encoded when it is a canonical
//! integer, as Redis does), an absolute expiry time, and an access stamp for LRU/LFU.

use protocol::resp::parse_i64;

/// A string value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string that is the canonical decimal form of an i64 (Redis's `int` encoding).
    Int(i64),
    /// Any other bytes. `raw` records that it was modified in place (APPEND, SETRANGE,
    /// SETBIT), which Redis reports as the `raw` encoding even when short.
    Bytes { data: Vec<u8>, raw: bool },
}

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

impl Value {
    /// Stores `bytes` the way Redis's `tryObjectEncoding` would: integers as `Int`.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Bytes {
            data: bytes.to_vec(),
            raw: false,
        }
    }

    /// A value that came from an in-place modification (always raw bytes).
    pub fn raw(data: Vec<u8>) -> Value {
        Value::Bytes { data, raw: true }
    }

    /// Writes the value's bytes with `f` without allocating for integers.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Int(n) => {
                let mut buf = itoa_buf();
                let s = format_i64(*n, &mut buf);
                f(s)
            }
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
            Value::Bytes { data, .. } => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING for a string.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Bytes { data, raw } if !raw && data.len() <= EMBSTR_MAX => "embstr",
            Value::Bytes { .. } => "raw",
        }
    }

    /// Approximate heap bytes held by the value.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Bytes { data, .. } => data.capacity(),
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

/// Bytes per key beyond key and value: hash table slot (with the inline key), the Entry itself.
pub const ENTRY_OVERHEAD: usize = 64;

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

    /// The store's memory estimate for a key of `key_len` bytes holding this entry.
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
    fn int_values_read_back_as_their_digits() {
        assert_eq!(Value::Int(-42).to_vec(), b"-42");
        assert_eq!(Value::Int(i64::MIN).to_vec(), b"-9223372036854775808");
        assert_eq!(Value::Int(0).len(), 1);
    }
}
