//! One connection, over either protocol: a request is an operation and its event bytes, the
//! reply the result records' bytes.

use crate::Protocol;
use client::resp::RespClient;
use client::Client;
use protocol::binary::{Operation, ReplyStatus};

pub enum Conn {
    Binary(Client),
    Resp(RespClient),
}

impl Conn {
    pub fn connect(protocol: Protocol, address: &str) -> Result<Conn, String> {
        let c = match protocol {
            Protocol::Binary => Client::connect(address).map(Conn::Binary),
            Protocol::Resp => RespClient::connect(address).map(Conn::Resp),
        };
        c.map_err(|e| format!("cannot connect to {address}: {e}"))
    }

    /// Sends one request and waits for its reply body.
    pub fn request(&mut self, op: Operation, events: u32, body: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Conn::Binary(c) => {
                c.send(op, events, body).map_err(|e| describe(op, e))?;
                c.receive().map(|r| r.body).map_err(|e| describe(op, e))
            }
            Conn::Resp(c) => c.call(op, body).map_err(|e| describe(op, e)),
        }
    }
}

/// A request's error as the run's report says it: a request the server refused whole (binary
/// status `Refused`, or an `-ERR` reply over RESP, e.g. "transfers table is full") says so
/// with the server's message.
fn describe(op: Operation, e: client::Error) -> String {
    // `RespClient` reports an `-ERR` reply with status 0 (Ok), having no binary status.
    let resp_error = ReplyStatus::Ok as u32;
    match e {
        client::Error::Server { status, message }
            if status == ReplyStatus::Refused as u32 || status == resp_error =>
        {
            format!("the server refused {}: {message}", op.name())
        }
        other => format!("{}: {other}", op.name()),
    }
}
