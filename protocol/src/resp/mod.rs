//! RESP2/RESP3: the reply encoder ([`Reply`]) and the request parser.

mod writer;

pub use writer::{Reply, RespVersion};
