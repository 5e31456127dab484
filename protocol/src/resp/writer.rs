//! The RESP reply encoder.
//!
//! One type, [`Reply`], writes every reply shape into an output buffer for either protocol
//! version. Where RESP2 has no native type (maps, sets, doubles, booleans, verbatim strings,
//! big numbers) it writes what Redis 7 writes for a RESP2 client, so command code never has to
//! branch on the version.

use bytes::{BufMut, BytesMut};

/// The protocol a connection speaks; `HELLO 3` switches a connection to RESP3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RespVersion {
    #[default]
    V2,
    V3,
}

/// Appends RESP replies to `buf`, encoded for `version`.
pub struct Reply<'a> {
    buf: &'a mut BytesMut,
    version: RespVersion,
}

impl<'a> Reply<'a> {
    pub fn new(buf: &'a mut BytesMut, version: RespVersion) -> Self {
        Reply { buf, version }
    }

    pub fn version(&self) -> RespVersion {
        self.version
    }

    /// Bytes written to the underlying buffer so far (including what was there before).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The raw buffer, for callers that splice pre-encoded replies.
    pub fn buffer(&mut self) -> &mut BytesMut {
        self.buf
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A simple string: `+<s>`. `s` must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        debug_assert!(!s.contains(['\r', '\n']), "simple string with CR/LF");
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error: `-<msg>`. `msg` carries its own code prefix (`ERR ...`, `WRONGTYPE ...`),
    /// exactly as Redis spells it. CR/LF inside the message are replaced by spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.buf.reserve(msg.len() + 3);
        self.buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// `:<n>`
    pub fn integer(&mut self, n: i64) {
        self.buf.put_u8(b':');
        self.put_decimal(n);
        self.buf.put_slice(b"\r\n");
    }

    /// `$<len>\r\n<bytes>\r\n`
    pub fn bulk(&mut self, b: &[u8]) {
        self.buf.reserve(b.len() + 16);
        self.buf.put_u8(b'$');
        self.put_decimal(b.len() as i64);
        self.buf.put_slice(b"\r\n");
        self.buf.put_slice(b);
        self.buf.put_slice(b"\r\n");
    }

    /// `$<len>\r\n`: the start of a bulk string whose `len` bytes and final `\r\n` the caller
    /// appends to [`buffer`](Self::buffer) itself (records written in place, not copied twice).
    pub fn bulk_header(&mut self, len: usize) {
        self.buf.put_u8(b'$');
        self.put_decimal(len as i64);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n` (e.g. INCRBYFLOAT-style replies).
    pub fn bulk_display(&mut self, v: impl std::fmt::Display) {
        let s = v.to_string();
        self.bulk(s.as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        match self.version {
            RespVersion::V2 => self.buf.put_slice(b"$-1\r\n"),
            RespVersion::V3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        match self.version {
            RespVersion::V2 => self.buf.put_slice(b"*-1\r\n"),
            RespVersion::V3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    /// An array header; the caller writes `len` elements after it.
    pub fn array(&mut self, len: usize) {
        self.aggregate(b'*', len);
    }

    /// A map header of `pairs` key/value pairs: `%` in RESP3, a flat array of `2*pairs` in RESP2.
    pub fn map(&mut self, pairs: usize) {
        match self.version {
            RespVersion::V2 => self.aggregate(b'*', pairs * 2),
            RespVersion::V3 => self.aggregate(b'%', pairs),
        }
    }

    /// A set header: `~` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.version {
            RespVersion::V2 => self.aggregate(b'*', len),
            RespVersion::V3 => self.aggregate(b'~', len),
        }
    }

    /// A push header (RESP3 `>`; an array in RESP2).
    pub fn push(&mut self, len: usize) {
        match self.version {
            RespVersion::V2 => self.aggregate(b'*', len),
            RespVersion::V3 => self.aggregate(b'>', len),
        }
    }

    /// A double: `,<f>` in RESP3, a bulk string in RESP2; formatted the way Redis 7 does
    /// (`%.17g`, `inf`, `-inf`, `nan`).
    pub fn double(&mut self, f: f64) {
        let s = format_double(f);
        match self.version {
            RespVersion::V2 => self.bulk(s.as_bytes()),
            RespVersion::V3 => {
                self.buf.put_u8(b',');
                self.buf.put_slice(s.as_bytes());
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        match self.version {
            RespVersion::V2 => self.integer(b as i64),
            RespVersion::V3 => self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// A verbatim string (`=`, with a 3-letter format such as `txt`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        debug_assert_eq!(format.len(), 3, "verbatim format must be 3 bytes");
        match self.version {
            RespVersion::V2 => self.bulk(text),
            RespVersion::V3 => {
                self.buf.put_u8(b'=');
                self.put_decimal((text.len() + 4) as i64);
                self.buf.put_slice(b"\r\n");
                self.buf.put_slice(format.as_bytes());
                self.buf.put_u8(b':');
                self.buf.put_slice(text);
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// A big number (`(` in RESP3, a bulk string in RESP2), e.g. a u128 balance.
    pub fn big_number(&mut self, digits: &str) {
        debug_assert!(digits.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
        match self.version {
            RespVersion::V2 => self.bulk(digits.as_bytes()),
            RespVersion::V3 => {
                self.buf.put_u8(b'(');
                self.buf.put_slice(digits.as_bytes());
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// Bytes that are already a complete RESP encoding.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.put_slice(encoded);
    }

    fn aggregate(&mut self, tag: u8, len: usize) {
        self.buf.put_u8(tag);
        self.put_decimal(len as i64);
        self.buf.put_slice(b"\r\n");
    }

    fn put_decimal(&mut self, n: i64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let negative = n < 0;
        let mut v = n.unsigned_abs();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if negative {
            self.buf.put_u8(b'-');
        }
        self.buf.put_slice(&tmp[i..]);
    }
}

/// Formats a double exactly as C's `printf("%.17g")`, which is what Redis 7.0 uses for double
/// replies: 17 significant digits, trailing zeros removed, exponent form (at least two exponent
/// digits) below 1e-4 or from 1e17 up; `inf`, `-inf` and `nan` spelled as Redis spells them.
pub fn format_double(f: f64) -> String {
    const PRECISION: i32 = 17;
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // `{:.16e}` rounds to 17 significant digits, like %g does before choosing a style.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, f);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        strip_fraction_zeros(&format!("{f:.decimals$}")).to_string()
    }
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: RespVersion, f: impl FnOnce(&mut Reply<'_>)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        f(&mut Reply::new(&mut buf, v));
        buf.to_vec()
    }

    #[test]
    fn scalars() {
        assert_eq!(enc(RespVersion::V2, |r| r.ok()), b"+OK\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.integer(-42)), b":-42\r\n");
        assert_eq!(
            enc(RespVersion::V2, |r| r.integer(i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(enc(RespVersion::V2, |r| r.bulk(b"hi")), b"$2\r\nhi\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.bulk(b"")), b"$0\r\n\r\n");
        assert_eq!(
            enc(RespVersion::V2, |r| r.error("ERR a\r\nb")),
            b"-ERR a  b\r\n"
        );
    }

    #[test]
    fn nulls_differ_by_version() {
        assert_eq!(enc(RespVersion::V2, |r| r.null()), b"$-1\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.null_array()), b"*-1\r\n");
        assert_eq!(enc(RespVersion::V3, |r| r.null()), b"_\r\n");
        assert_eq!(enc(RespVersion::V3, |r| r.null_array()), b"_\r\n");
    }

    #[test]
    fn aggregates_fall_back_in_resp2() {
        assert_eq!(enc(RespVersion::V2, |r| r.map(2)), b"*4\r\n");
        assert_eq!(enc(RespVersion::V3, |r| r.map(2)), b"%2\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.set(3)), b"*3\r\n");
        assert_eq!(enc(RespVersion::V3, |r| r.set(3)), b"~3\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.boolean(true)), b":1\r\n");
        assert_eq!(enc(RespVersion::V3, |r| r.boolean(false)), b"#f\r\n");
        assert_eq!(
            enc(RespVersion::V3, |r| r.verbatim("txt", b"ab")),
            b"=6\r\ntxt:ab\r\n"
        );
        assert_eq!(
            enc(RespVersion::V2, |r| r.verbatim("txt", b"ab")),
            b"$2\r\nab\r\n"
        );
        assert_eq!(enc(RespVersion::V3, |r| r.big_number("340")), b"(340\r\n");
    }

    #[test]
    fn doubles() {
        assert_eq!(enc(RespVersion::V3, |r| r.double(1.5)), b",1.5\r\n");
        assert_eq!(enc(RespVersion::V2, |r| r.double(3.0)), b"$1\r\n3\r\n");
        assert_eq!(
            enc(RespVersion::V3, |r| r.double(f64::INFINITY)),
            b",inf\r\n"
        );
        // Expected values are what C's printf("%.17g") prints.
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(format_double(123456.0), "123456");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(2.675), "2.6749999999999998");
    }
}
