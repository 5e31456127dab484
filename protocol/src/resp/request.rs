//! The incremental RESP request parser: multibulk (`*N\r\n$L\r\n...`) and inline commands, with
//! Redis 7.0's limits and exact protocol errors.
//!
//! Usage, per connection:
//!
//! ```
//! use protocol::resp::{ParseLimits, ParseStatus, RequestParser};
//! let mut parser = RequestParser::new(ParseLimits::default());
//! let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
//! let mut pos = 0;
//! let mut seen = Vec::new();
//! while let ParseStatus::Complete { consumed } = parser.parse(&input[pos..], false).unwrap() {
//!     let frame = &input[pos..pos + consumed];
//!     seen.push(parser.args(frame).map(|a| a.to_vec()).collect::<Vec<_>>());
//!     pos += consumed;
//! }
//! assert_eq!(seen, vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]);
//! ```
//!
//! `parse` looks at the front of `buf` (which must start at the first byte of the next request)
//! and returns `Complete { consumed }` when one whole request is there; its arguments are then
//! read with `args(&buf[..consumed])` (slices of `buf` for multibulk; of the parser's scratch
//! space for inline commands). `Skip { consumed }` is a request Redis ignores (an empty inline
//! line, `*0`, `*-1`). `Incomplete { needed }` means no request is complete yet; nothing is
//! consumed, but the parser remembers how far it got, so calling again with the same bytes plus
//! more costs only the new bytes (a 100 MB bulk arriving in 64 KB pieces is parsed once); don't
//! call again before `buf.len() >= needed`. On `Err`, reply with the error's `message()` and close
//! the connection, as Redis does.

use super::inline::{split_args, UnbalancedQuotes};
use super::number::parse_i64;

/// Redis's `PROTO_INLINE_MAX_SIZE`: longest inline request, and longest count line.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis's hard ceiling for `proto-max-bulk-len` (512 MB).
pub const PROTO_MAX_BULK_LEN_CEILING: usize = 512 * 1024 * 1024;
/// Before authentication Redis accepts at most this many arguments...
pub const UNAUTHENTICATED_MAX_MULTIBULK: i64 = 10;
/// ...and bulks of at most this many bytes.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16384;

/// Bounds on what one request may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most arguments in one multibulk request (Redis accepts up to `INT_MAX`; we bound it).
    pub max_multibulk_len: usize,
    /// Largest bulk argument (Redis's `proto-max-bulk-len`; at most 512 MB).
    pub max_bulk_len: usize,
    /// Longest inline request line and count line.
    pub max_inline_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_multibulk_len: 1024 * 1024,
            max_bulk_len: PROTO_MAX_BULK_LEN_CEILING,
            max_inline_len: PROTO_INLINE_MAX_SIZE,
        }
    }
}

/// A malformed request. The connection must be closed after replying with [`message`](Self::message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInlineRequest,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    /// The byte found where `$` was expected.
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error reply, exactly as Redis 7.0 words it (without the leading `-`).
    pub fn message(&self) -> String {
        match self {
            ProtocolError::TooBigInlineRequest => {
                "ERR Protocol error: too big inline request".into()
            }
            ProtocolError::UnbalancedQuotes => {
                "ERR Protocol error: unbalanced quotes in request".into()
            }
            ProtocolError::TooBigMultibulkCount => {
                "ERR Protocol error: too big mbulk count string".into()
            }
            ProtocolError::InvalidMultibulkLength => {
                "ERR Protocol error: invalid multibulk length".into()
            }
            ProtocolError::UnauthenticatedMultibulkLength => {
                "ERR Protocol error: unauthenticated multibulk length".into()
            }
            ProtocolError::TooBigBulkCount => {
                "ERR Protocol error: too big bulk count string".into()
            }
            // Redis prints the raw byte with %c; bytes >= 0x80 are shown as their Latin-1 char.
            ProtocolError::ExpectedDollar(b) => {
                format!("ERR Protocol error: expected '$', got '{}'", *b as char)
            }
            ProtocolError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ProtocolError::UnauthenticatedBulkLength => {
                "ERR Protocol error: unauthenticated bulk length".into()
            }
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// The outcome of one [`RequestParser::parse`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseStatus {
    /// One whole request occupies `buf[..consumed]`; read it with [`RequestParser::args`].
    Complete { consumed: usize },
    /// `buf[..consumed]` is a request Redis ignores (blank inline line, `*0`, `*-1`).
    Skip { consumed: usize },
    /// No complete request yet; don't call again until `buf.len() >= needed`.
    Incomplete { needed: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArgSource {
    Input,
    Scratch,
}

/// Where a multibulk request in progress got to (offsets from the request's first byte).
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// Next byte to look at.
    pos: usize,
    /// Arguments still to read.
    remaining: usize,
    /// Length of the bulk whose header was read but whose data has not fully arrived.
    bulk_len: Option<usize>,
}

/// Incremental request parser; one per connection. See the module docs.
#[derive(Debug)]
pub struct RequestParser {
    limits: ParseLimits,
    progress: Option<Progress>,
    /// Argument ranges of the last complete request (or of the one in progress).
    ranges: Vec<(usize, usize)>,
    source: ArgSource,
    /// Unescaped inline arguments.
    scratch: Vec<u8>,
}

impl RequestParser {
    pub fn new(limits: ParseLimits) -> Self {
        assert!(
            limits.max_bulk_len <= PROTO_MAX_BULK_LEN_CEILING,
            "bulk limit above Redis's 512 MB ceiling"
        );
        assert!(limits.max_multibulk_len > 0 && limits.max_inline_len > 0);
        RequestParser {
            limits,
            progress: None,
            ranges: Vec::new(),
            source: ArgSource::Input,
            scratch: Vec::new(),
        }
    }

    pub fn limits(&self) -> &ParseLimits {
        &self.limits
    }

    /// True while a multibulk request has been partly parsed (the caller must keep its bytes).
    pub fn in_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// Forgets any partial request (e.g. when the connection's buffer is discarded).
    pub fn reset(&mut self) {
        self.progress = None;
        self.ranges.clear();
    }

    /// Tries to take one request off the front of `buf`. `auth_required` applies Redis's tighter
    /// limits for clients that have not authenticated yet.
    pub fn parse(&mut self, buf: &[u8], auth_required: bool) -> Result<ParseStatus, ProtocolError> {
        if self.progress.is_none() {
            let Some(&first) = buf.first() else {
                return Ok(ParseStatus::Incomplete { needed: 1 });
            };
            if first != b'*' {
                return self.parse_inline(buf);
            }
        }
        self.parse_multibulk(buf, auth_required)
    }

    /// The arguments of the request just completed; `frame` is `&buf[..consumed]`.
    pub fn args<'a>(&'a self, frame: &'a [u8]) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let base: &'a [u8] = match self.source {
            ArgSource::Input => frame,
            ArgSource::Scratch => &self.scratch,
        };
        self.ranges.iter().map(move |&(s, e)| &base[s..e])
    }

    /// Number of arguments of the request just completed.
    pub fn arg_count(&self) -> usize {
        self.ranges.len()
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<ParseStatus, ProtocolError> {
        let Some(newline) = memchr(b'\n', buf) else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(ParseStatus::Incomplete {
                needed: buf.len() + 1,
            });
        };
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        self.scratch.clear();
        self.ranges.clear();
        self.source = ArgSource::Scratch;
        split_args(&buf[..line_end], &mut self.scratch, &mut self.ranges)
            .map_err(|UnbalancedQuotes| ProtocolError::UnbalancedQuotes)?;
        let consumed = newline + 1;
        Ok(if self.ranges.is_empty() {
            ParseStatus::Skip { consumed }
        } else {
            ParseStatus::Complete { consumed }
        })
    }

    fn parse_multibulk(
        &mut self,
        buf: &[u8],
        auth_required: bool,
    ) -> Result<ParseStatus, ProtocolError> {
        let mut p = match self.progress {
            Some(p) => p,
            None => {
                debug_assert_eq!(buf.first(), Some(&b'*'));
                let Some((count, next)) =
                    self.count_line(buf, 0, ProtocolError::TooBigMultibulkCount)?
                else {
                    return Ok(ParseStatus::Incomplete {
                        needed: buf.len() + 1,
                    });
                };
                let count = parse_i64(&count[1..]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count > i64::from(i32::MAX) || count > self.limits.max_multibulk_len as i64 {
                    return Err(ProtocolError::InvalidMultibulkLength);
                }
                if count > UNAUTHENTICATED_MAX_MULTIBULK && auth_required {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                if count <= 0 {
                    return Ok(ParseStatus::Skip { consumed: next });
                }
                self.ranges.clear();
                self.source = ArgSource::Input;
                Progress {
                    pos: next,
                    remaining: count as usize,
                    bulk_len: None,
                }
            }
        };
        debug_assert!(
            buf.len() >= p.pos,
            "the caller must pass the request's bytes again"
        );
        while p.remaining > 0 {
            let len = match p.bulk_len {
                Some(len) => len,
                None => {
                    let Some((header, next)) =
                        self.count_line(buf, p.pos, ProtocolError::TooBigBulkCount)?
                    else {
                        self.progress = Some(p);
                        return Ok(ParseStatus::Incomplete {
                            needed: buf.len() + 1,
                        });
                    };
                    let tag = buf[p.pos];
                    if tag != b'$' {
                        self.progress = None;
                        return Err(ProtocolError::ExpectedDollar(tag));
                    }
                    let len = parse_i64(&header[1..])
                        .filter(|&l| l >= 0 && l as usize <= self.limits.max_bulk_len);
                    let Some(len) = len else {
                        self.progress = None;
                        return Err(ProtocolError::InvalidBulkLength);
                    };
                    if len > UNAUTHENTICATED_MAX_BULK && auth_required {
                        self.progress = None;
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    p.pos = next;
                    p.bulk_len = Some(len as usize);
                    len as usize
                }
            };
            // Redis skips the two bytes after the data without checking they are CRLF.
            let needed = p.pos + len + 2;
            if buf.len() < needed {
                self.progress = Some(p);
                return Ok(ParseStatus::Incomplete { needed });
            }
            self.ranges.push((p.pos, p.pos + len));
            p.pos = needed;
            p.bulk_len = None;
            p.remaining -= 1;
        }
        self.progress = None;
        Ok(ParseStatus::Complete { consumed: p.pos })
    }

    /// Finds the `\r` ending a count line that starts at `start` (`*N` or `$N`); returns the line
    /// (tag included) without its terminator and the offset after the two terminator bytes. `None` when the
    /// line is not complete yet. Like Redis, only `\r` is searched for and the byte after it is
    /// skipped unchecked.
    fn count_line<'b>(
        &self,
        buf: &'b [u8],
        start: usize,
        too_big: ProtocolError,
    ) -> Result<Option<(&'b [u8], usize)>, ProtocolError> {
        let rest = &buf[start..];
        let Some(cr) = memchr(b'\r', rest) else {
            if rest.len() > self.limits.max_inline_len {
                return Err(too_big);
            }
            return Ok(None);
        };
        if cr + 2 > rest.len() {
            return Ok(None);
        }
        Ok(Some((&rest[..cr], start + cr + 2)))
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}
