//! Argument parsing and reply helpers shared by the commands, with Redis's exact error texts.

use protocol::resp::parse_i64;

pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
pub const ERR_NO_SUCH_KEY: &str = "ERR no such key";
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const ERR_DB_INDEX: &str = "ERR DB index is out of range";
pub const ERR_OFFSET: &str = "ERR offset is out of range";
pub const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const ERR_BIT: &str = "ERR bit is not an integer or out of range";
pub const ERR_STRING_TOO_LONG: &str =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// `%.Ns` of possibly non-UTF-8 bytes, as Redis prints arguments in error messages.
pub fn truncated(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An i64 argument (Redis's `getLongLongFromObjectOrReply`).
pub fn int_arg(arg: &[u8]) -> Result<i64, &'static str> {
    parse_i64(arg).ok_or(ERR_NOT_INTEGER)
}

/// Case-insensitive equality with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_by_bytes() {
        assert_eq!(truncated(b"abcdef", 3), "abc");
        assert_eq!(truncated(b"ab", 3), "ab");
        assert!(is(b"get", "GET"));
        assert_eq!(int_arg(b"12"), Ok(12));
        assert_eq!(int_arg(b"1.5"), Err(ERR_NOT_INTEGER));
    }
}
