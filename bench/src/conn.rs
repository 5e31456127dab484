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
    /// Connects to `args.address`, authenticating first when `args.password` is set.
    pub fn connect(args: &crate::Args) -> Result<Conn, String> {
        let address = args.address.as_str();
        let c = match args.protocol {
            Protocol::Binary => Client::connect(address).map(Conn::Binary),
            Protocol::Resp => RespClient::connect(address).map(Conn::Resp),
        };
        let mut c = c.map_err(|e| format!("cannot connect to {address}: {e}"))?;
        if let Some(password) = &args.password {
            let done = match &mut c {
                Conn::Binary(b) => b.authenticate(&args.user, password),
                Conn::Resp(r) => r.authenticate(&args.user, password),
            };
            done.map_err(|e| format!("cannot authenticate to {address} as {}: {e}", args.user))?;
        }
        Ok(c)
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
