//! One connection, over either protocol: a request is an operation and its event bytes, the
//! reply the result records' bytes.

use crate::Protocol;
use client::resp::RespClient;
use client::Client;
use protocol::binary::Operation;

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
                c.send(op, events, body).map_err(|e| e.to_string())?;
                c.receive()
                    .map(|r| r.body)
                    .map_err(|e| format!("{}: {e}", op.name()))
            }
            Conn::Resp(c) => c.call(op, body).map_err(|e| format!("{}: {e}", op.name())),
        }
    }
}
