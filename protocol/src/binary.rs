//! Ringledger's binary protocol: little-endian frames of a fixed 32-byte header and a body of
//! fixed-size events. Specified in docs/PROTOCOL.md; this module is the single implementation
//! of its framing (the server and the client both use it). Pure functions over bytes.
//!
//! ```text
//! offset size field
//!   0     4  magic        "RLGR" (0x52 0x4C 0x47 0x52)
//!   4     2  version      1
//!   6     1  operation    1..=8 (see `Operation`), 9 authenticate
//!   7     1  flags        0 (reserved)
//!   8     8  request_id   echoed in the reply
//!  16     4  event_count  number of events in the body
//!  20     4  body_len     bytes after the header (= event_count x event size)
//!  24     4  status       requests: 0; replies: 0 = ok, else an error (`ReplyStatus`)
//!  28     4  checksum     CRC32C of bytes 0..28 and of the body
//! ```

/// Frame header size.
pub const HEADER_LEN: usize = 32;
pub const MAGIC: [u8; 4] = *b"RLGR";
pub const VERSION: u16 = 1;
/// Most events in one request or reply.
pub const MAX_EVENTS: u32 = 8189;

/// Longest user name an authenticate frame carries.
pub const MAX_USER_LEN: usize = 255;
/// Longest password an authenticate frame carries.
pub const MAX_PASSWORD_LEN: usize = 512;

/// The eight ledger operations, and the connection's authentication handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Operation {
    CreateAccounts = 1,
    CreateTransfers = 2,
    LookupAccounts = 3,
    LookupTransfers = 4,
    GetAccountTransfers = 5,
    GetAccountBalances = 6,
    QueryAccounts = 7,
    QueryTransfers = 8,
    /// Body: `user_len u8 | user | password` (events are bytes); reply: no records.
    Authenticate = 9,
}

impl Operation {
    /// The ledger operations (not `Authenticate`).
    pub const ALL: [Operation; 8] = [
        Operation::CreateAccounts,
        Operation::CreateTransfers,
        Operation::LookupAccounts,
        Operation::LookupTransfers,
        Operation::GetAccountTransfers,
        Operation::GetAccountBalances,
        Operation::QueryAccounts,
        Operation::QueryTransfers,
    ];

    pub fn from_u8(v: u8) -> Option<Operation> {
        if v == Operation::Authenticate as u8 {
            return Some(Operation::Authenticate);
        }
        Operation::ALL.get((v as usize).wrapping_sub(1)).copied()
    }

    /// Size of one request event: accounts/transfers/filters 128, ids 16, query filters 64.
    pub fn request_event_size(self) -> usize {
        match self {
            Operation::CreateAccounts | Operation::CreateTransfers => 128,
            Operation::LookupAccounts | Operation::LookupTransfers => 16,
            Operation::GetAccountTransfers | Operation::GetAccountBalances => 128,
            Operation::QueryAccounts | Operation::QueryTransfers => 64,
            Operation::Authenticate => 1,
        }
    }

    /// Size of one reply event: create results 16, records 128.
    pub fn reply_event_size(self) -> usize {
        match self {
            Operation::CreateAccounts | Operation::CreateTransfers => 16,
            Operation::Authenticate => 1,
            _ => 128,
        }
    }

    /// Most events in a request: filters are exactly one.
    pub fn max_request_events(self) -> u32 {
        match self {
            Operation::GetAccountTransfers
            | Operation::GetAccountBalances
            | Operation::QueryAccounts
            | Operation::QueryTransfers => 1,
            Operation::Authenticate => (1 + MAX_USER_LEN + MAX_PASSWORD_LEN) as u32,
            _ => MAX_EVENTS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateAccounts => "create_accounts",
            Operation::CreateTransfers => "create_transfers",
            Operation::LookupAccounts => "lookup_accounts",
            Operation::LookupTransfers => "lookup_transfers",
            Operation::GetAccountTransfers => "get_account_transfers",
            Operation::GetAccountBalances => "get_account_balances",
            Operation::QueryAccounts => "query_accounts",
            Operation::QueryTransfers => "query_transfers",
            Operation::Authenticate => "authenticate",
        }
    }
}

/// A reply's status. Non-zero replies carry a UTF-8 message as body (event_count 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ReplyStatus {
    Ok = 0,
    /// The frame was malformed (see the message); the server closes the connection after it.
    BadFrame = 1,
    /// The request was well-formed but refused as a whole (e.g. the ledger is full).
    Refused = 2,
    /// Authentication is required first, or it failed; the server closes the connection.
    Denied = 3,
}

impl ReplyStatus {
    pub fn from_u32(v: u32) -> Option<ReplyStatus> {
        match v {
            0 => Some(ReplyStatus::Ok),
            1 => Some(ReplyStatus::BadFrame),
            2 => Some(ReplyStatus::Refused),
            3 => Some(ReplyStatus::Denied),
            _ => None,
        }
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub operation: Operation,
    pub flags: u8,
    pub request_id: u64,
    pub event_count: u32,
    pub body_len: u32,
    pub status: u32,
}

/// A complete frame: its header and body (borrowed from the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: Header,
    pub body: &'a [u8],
}

/// Why bytes are not a valid frame. After any of these the stream cannot be resynchronised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    BadMagic([u8; 4]),
    BadVersion(u16),
    BadOperation(u8),
    /// Reserved flags or a non-zero status in a request.
    ReservedNotZero,
    /// body_len != event_count x event size.
    BadSize {
        event_count: u32,
        body_len: u32,
        event_size: usize,
    },
    TooManyEvents {
        event_count: u32,
        max: u32,
    },
    /// body_len above the receiver's limit.
    TooLarge {
        body_len: u32,
        max: usize,
    },
    BadChecksum {
        expected: u32,
        actual: u32,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad magic {m:02x?} (expected \"RLGR\")"),
            FrameError::BadVersion(v) => write!(
                f,
                "unsupported protocol version {v} (this server speaks {VERSION})"
            ),
            FrameError::BadOperation(op) => write!(f, "unknown operation {op}"),
            FrameError::ReservedNotZero => f.write_str("reserved header fields must be zero"),
            FrameError::BadSize {
                event_count,
                body_len,
                event_size,
            } => write!(
                f,
                "body_len {body_len} is not event_count {event_count} x {event_size}-byte events"
            ),
            FrameError::TooManyEvents { event_count, max } => {
                write!(f, "too many events: {event_count} (at most {max})")
            }
            FrameError::TooLarge { body_len, max } => write!(
                f,
                "frame body of {body_len} bytes exceeds the limit of {max}"
            ),
            FrameError::BadChecksum { expected, actual } => {
                write!(f, "checksum mismatch: header says {expected:#010x}, frame hashes to {actual:#010x}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Which side is decoding: requests carry request events, replies reply events and a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Request,
    Reply,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn checksum(header: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[..28]), body)
}

/// Decodes the frame at the start of `buf`. `Ok(None)`: incomplete, read more (the header is
/// validated as soon as it is complete, so a bad frame is refused before its body arrives).
/// `max_body` bounds the body a receiver accepts.
pub fn decode(
    buf: &[u8],
    side: Side,
    max_body: usize,
) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < HEADER_LEN {
        // Refuse a wrong magic early, so a RESP client on the binary port is told at once.
        let n = buf.len().min(4);
        if buf[..n] != MAGIC[..n] {
            let mut m = [0u8; 4];
            m[..n].copy_from_slice(&buf[..n]);
            return Err(FrameError::BadMagic(m));
        }
        return Ok(None);
    }
    let h = &buf[..HEADER_LEN];
    if h[0..4] != MAGIC {
        return Err(FrameError::BadMagic([h[0], h[1], h[2], h[3]]));
    }
    let version = u16::from_le_bytes([h[4], h[5]]);
    if version != VERSION {
        return Err(FrameError::BadVersion(version));
    }
    let operation = Operation::from_u8(h[6]).ok_or(FrameError::BadOperation(h[6]))?;
    let flags = h[7];
    let request_id = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    let event_count = le_u32(h, 16);
    let body_len = le_u32(h, 20);
    let status = le_u32(h, 24);
    let expected = le_u32(h, 28);
    if flags != 0 || (side == Side::Request && status != 0) {
        return Err(FrameError::ReservedNotZero);
    }
    if body_len as usize > max_body {
        return Err(FrameError::TooLarge {
            body_len,
            max: max_body,
        });
    }
    let ok_reply = side == Side::Reply && status == 0;
    if side == Side::Request || ok_reply {
        let (max, size) = match side {
            Side::Request => (
                operation.max_request_events(),
                operation.request_event_size(),
            ),
            Side::Reply => (MAX_EVENTS, operation.reply_event_size()),
        };
        if event_count > max {
            return Err(FrameError::TooManyEvents { event_count, max });
        }
        if event_count as u64 * size as u64 != body_len as u64 {
            return Err(FrameError::BadSize {
                event_count,
                body_len,
                event_size: size,
            });
        }
    }
    let total = HEADER_LEN + body_len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[HEADER_LEN..total];
    let actual = checksum(h, body);
    if actual != expected {
        return Err(FrameError::BadChecksum { expected, actual });
    }
    Ok(Some((
        Frame {
            header: Header {
                operation,
                flags,
                request_id,
                event_count,
                body_len,
                status,
            },
            body,
        },
        total,
    )))
}

/// Appends a frame with `body` (whose length must be a whole number of events, or a message
/// for an error reply) to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    operation: Operation,
    request_id: u64,
    event_count: u32,
    status: u32,
    body: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(operation as u8);
    out.push(0);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&event_count.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(body);
    seal(&mut out[start..]);
}

/// Starts a frame whose body the caller appends in place (no copy); finish with [`finish`].
/// Returns the frame's start offset.
pub fn begin(out: &mut bytes::BytesMut) -> usize {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    start
}

/// The body of an authenticate request: `user_len u8 | user | password`. None when `user` or
/// `password` is longer than the protocol allows.
pub fn authenticate_body(user: &[u8], password: &[u8]) -> Option<Vec<u8>> {
    if user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN {
        return None;
    }
    let mut body = Vec::with_capacity(1 + user.len() + password.len());
    body.push(user.len() as u8);
    body.extend_from_slice(user);
    body.extend_from_slice(password);
    Some(body)
}

/// Splits an authenticate request's body into (user, password); None when malformed.
pub fn parse_authenticate(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = body.split_first()?;
    let len = usize::from(len);
    if rest.len() < len || rest.len() - len > MAX_PASSWORD_LEN {
        return None;
    }
    Some(rest.split_at(len))
}

/// Completes a frame begun at `start`: writes the header for the body appended since, and the
/// checksum.
pub fn finish(
    out: &mut [u8],
    start: usize,
    operation: Operation,
    request_id: u64,
    event_count: u32,
    status: u32,
) {
    let body_len = (out.len() - start - HEADER_LEN) as u32;
    let h = &mut out[start..start + HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[6] = operation as u8;
    h[7] = 0;
    h[8..16].copy_from_slice(&request_id.to_le_bytes());
    h[16..20].copy_from_slice(&event_count.to_le_bytes());
    h[20..24].copy_from_slice(&body_len.to_le_bytes());
    h[24..28].copy_from_slice(&status.to_le_bytes());
    seal(&mut out[start..]);
}

/// Writes the checksum of a complete frame (header + body).
fn seal(frame: &mut [u8]) {
    let (h, body) = frame.split_at_mut(HEADER_LEN);
    let sum = checksum(h, body);
    h[28..32].copy_from_slice(&sum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(op: Operation, events: u32, size: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let body: Vec<u8> = (0..events as usize * size).map(|i| i as u8).collect();
        encode(&mut v, op, 42, events, 0, &body);
        v
    }

    #[test]
    fn round_trip_and_split_anywhere() {
        let bytes = frame(Operation::CreateTransfers, 3, 128);
        let (f, used) = decode(&bytes, Side::Request, 1 << 20).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(f.header.operation, Operation::CreateTransfers);
        assert_eq!(
            (f.header.request_id, f.header.event_count, f.body.len()),
            (42, 3, 384)
        );
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut], Side::Request, 1 << 20),
                Ok(None),
                "cut at {cut}"
            );
        }
        // Pipelined: two frames back to back decode one after the other.
        let mut two = bytes.clone();
        two.extend_from_slice(&frame(Operation::LookupAccounts, 2, 16));
        let (_, a) = decode(&two, Side::Request, 1 << 20).unwrap().unwrap();
        let (g, _) = decode(&two[a..], Side::Request, 1 << 20).unwrap().unwrap();
        assert_eq!(g.header.operation, Operation::LookupAccounts);
        // In-place building gives the same bytes.
        let mut built = bytes::BytesMut::new();
        let start = begin(&mut built);
        built.extend((0..384).map(|i| i as u8));
        finish(&mut built, start, Operation::CreateTransfers, 42, 3, 0);
        assert_eq!(&built[..], &bytes[..]);
    }

    #[test]
    fn authenticate_bodies_round_trip_and_are_bounded() {
        let body = authenticate_body(b"default", b"pw").unwrap();
        assert_eq!(body, b"\x07defaultpw");
        assert_eq!(
            parse_authenticate(&body),
            Some((&b"default"[..], &b"pw"[..]))
        );
        assert_eq!(parse_authenticate(b"\x00"), Some((&b""[..], &b""[..])));
        assert_eq!(parse_authenticate(b""), None);
        assert_eq!(
            parse_authenticate(b"\x09short"),
            None,
            "user longer than the body"
        );
        let long_password = vec![b'p'; MAX_PASSWORD_LEN + 1];
        assert_eq!(authenticate_body(b"u", &long_password), None);
        assert_eq!(authenticate_body(&[b'u'; MAX_USER_LEN + 1], b"p"), None);
        let mut too_long = vec![0u8];
        too_long.extend_from_slice(&long_password);
        assert_eq!(parse_authenticate(&too_long), None);
        // As a frame: operation 9, one event per body byte, refused past the bound.
        let mut out = Vec::new();
        encode(
            &mut out,
            Operation::Authenticate,
            5,
            body.len() as u32,
            0,
            &body,
        );
        let (frame, used) = decode(&out, Side::Request, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (frame.header.operation, frame.body, used),
            (Operation::Authenticate, &body[..], out.len())
        );
        let max = Operation::Authenticate.max_request_events() as usize;
        let mut out = Vec::new();
        encode(
            &mut out,
            Operation::Authenticate,
            5,
            max as u32 + 1,
            0,
            &vec![0; max + 1],
        );
        assert!(matches!(
            decode(&out, Side::Request, 1 << 20),
            Err(FrameError::TooManyEvents { .. })
        ));
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = frame(Operation::CreateAccounts, 1, 128);
        let mut bad = good.clone();
        bad[0] = b'*';
        assert!(
            matches!(
                decode(&bad[..3], Side::Request, 1 << 20),
                Err(FrameError::BadMagic(_))
            ),
            "early"
        );
        let mut bad = good.clone();
        bad[4] = 9;
        assert_eq!(
            decode(&bad, Side::Request, 1 << 20),
            Err(FrameError::BadVersion(9))
        );
        let mut bad = good.clone();
        bad[6] = 0;
        assert_eq!(
            decode(&bad, Side::Request, 1 << 20),
            Err(FrameError::BadOperation(0))
        );
        let mut bad = good.clone();
        bad[6] = 10;
        assert_eq!(
            decode(&bad, Side::Request, 1 << 20),
            Err(FrameError::BadOperation(10))
        );
        let mut bad = good.clone();
        bad[100] ^= 1;
        assert!(matches!(
            decode(&bad, Side::Request, 1 << 20),
            Err(FrameError::BadChecksum { .. })
        ));
        let mut bad = good.clone();
        bad[16] = 2; // event_count 2 but 128 bytes
        assert!(matches!(
            decode(&bad, Side::Request, 1 << 20),
            Err(FrameError::BadSize { .. })
        ));
        assert!(matches!(
            decode(&good, Side::Request, 64),
            Err(FrameError::TooLarge { .. })
        ));
        let mut v = Vec::new();
        encode(&mut v, Operation::QueryAccounts, 1, 2, 0, &[0; 128]);
        assert_eq!(
            decode(&v, Side::Request, 1 << 20),
            Err(FrameError::TooManyEvents {
                event_count: 2,
                max: 1
            })
        );
        let mut v = Vec::new();
        encode(
            &mut v,
            Operation::LookupAccounts,
            1,
            8190,
            0,
            &vec![0; 8190 * 16],
        );
        assert!(matches!(
            decode(&v, Side::Request, 1 << 20),
            Err(FrameError::TooManyEvents { .. })
        ));
        // Error replies carry a message, not events.
        let mut v = Vec::new();
        encode(
            &mut v,
            Operation::CreateAccounts,
            7,
            0,
            ReplyStatus::Refused as u32,
            b"full",
        );
        let (f, _) = decode(&v, Side::Reply, 1 << 20).unwrap().unwrap();
        assert_eq!((f.header.status, f.body), (2, &b"full"[..]));
        assert_eq!(
            decode(&v, Side::Request, 1 << 20),
            Err(FrameError::ReservedNotZero)
        );
    }
}
