//! RESP2/RESP3: the request parser ([`RequestParser`]), the reply encoder ([`Reply`]) and a value
//! parser for clients ([`parse_value`]).

mod inline;
mod number;
mod peek;
mod request;
mod value;
mod writer;

pub use number::parse_i64;
pub use peek::{peek_request, Peeked};
pub use request::{
    ParseLimits, ParseStatus, ProtocolError, RequestParser, PROTO_INLINE_MAX_SIZE,
    PROTO_MAX_BULK_LEN_CEILING, UNAUTHENTICATED_MAX_BULK, UNAUTHENTICATED_MAX_MULTIBULK,
};
pub use value::{parse_value, Value, ValueError, ValueLimits};
pub use writer::{format_double, Reply, RespVersion};
