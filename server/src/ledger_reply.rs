//! A ledger request's reply, encoded the way its transport asked for it: a binary-protocol
//! frame, a RESP bulk string of result records (`LEDGER.CREATE_TRANSFERS <blob>`), or the
//! readable RESP reply of the human commands (`LEDGER.TRANSFER.CREATE ID ...`).
//!
//! The form travels with a request forwarded to the worker that owns its partitions, so the
//! owner encodes the finished reply and the receiving worker only copies bytes into the
//! connection, in request order.

use crate::ledger_ops::{self, OpError};
use bytes::BytesMut;
use ledger::{CreateAccountStatus, CreateResult, CreateTransferStatus, Ledger, Record};
use protocol::binary::{self, Operation};
use protocol::resp::{Reply, RespVersion};

/// How a RESP ledger request wants its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespForm {
    /// One bulk string holding the result records (the binary form of `LEDGER.*`).
    Blob,
    /// One map `{id, status, timestamp}` per create event (RESP3 maps, flat arrays in RESP2).
    Human(RespVersion),
}

/// How any ledger request wants its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A binary-protocol reply frame echoing the request id.
    Frame {
        request_id: u64,
    },
    Resp(RespForm),
}

/// What executing a request into a reply produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The reply is an error.
    pub error: bool,
    /// The connection must close after the reply (a malformed binary frame cannot be skipped).
    pub close: bool,
}

/// Executes `op` on `body` and appends its binary-protocol reply frame to `out`.
pub fn frame(
    ledger: &Ledger,
    op: Operation,
    request_id: u64,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Outcome {
    let start = binary::begin(out);
    match ledger_ops::execute(ledger, op, body, out) {
        Ok(n) => {
            binary::finish(out, start, op, request_id, n as u32, 0);
            Outcome {
                error: false,
                close: false,
            }
        }
        Err(e) => {
            out.truncate(start);
            let (status, close) = match e {
                OpError::Malformed(_) => (binary::ReplyStatus::BadFrame, true),
                OpError::Refused(_) => (binary::ReplyStatus::Refused, false),
            };
            binary::encode(
                out,
                op,
                request_id,
                0,
                status as u32,
                e.message().as_bytes(),
            );
            Outcome { error: true, close }
        }
    }
}

/// Executes `op` on `body` and appends its RESP reply to `out` (`-ERR <why>` when refused or
/// malformed; the connection stays usable either way). Returns true when the reply is an error.
pub fn resp(
    ledger: &Ledger,
    op: Operation,
    body: &[u8],
    form: RespForm,
    out: &mut BytesMut,
) -> bool {
    let mut results = Vec::new();
    let version = match form {
        RespForm::Blob => RespVersion::V2,
        RespForm::Human(v) => v,
    };
    match ledger_ops::execute(ledger, op, body, &mut results) {
        Ok(_) => {
            match form {
                RespForm::Blob => Reply::new(out, version).bulk(&results),
                RespForm::Human(_) => create_reply(out, version, op, body, &results),
            }
            false
        }
        Err(e) => {
            Reply::new(out, version).error(&format!("ERR {}", e.message()));
            true
        }
    }
}

/// Executes any request into the bytes of its reply (the owner's side of a forwarded request).
pub fn answer(ledger: &Ledger, op: Operation, body: &[u8], form: Form) -> (Vec<u8>, Outcome) {
    match form {
        Form::Frame { request_id } => {
            let mut out = Vec::new();
            let outcome = frame(ledger, op, request_id, body, &mut out);
            (out, outcome)
        }
        Form::Resp(f) => {
            let mut out = BytesMut::new();
            let error = resp(ledger, op, body, f, &mut out);
            (
                out.to_vec(),
                Outcome {
                    error,
                    close: false,
                },
            )
        }
    }
}

/// One map `{id, status, timestamp}` per create event. The ids are read back from the events
/// (an account's and a transfer's id are both their first 16 bytes).
fn create_reply(
    out: &mut BytesMut,
    version: RespVersion,
    op: Operation,
    body: &[u8],
    results: &[u8],
) {
    let size = match op {
        Operation::CreateAccounts => ledger::Account::SIZE,
        _ => ledger::Transfer::SIZE,
    };
    let results = CreateResult::vec_from_bytes(results).unwrap_or_default();
    let mut r = Reply::new(out, version);
    r.array(results.len());
    for (event, res) in body.chunks_exact(size).zip(&results) {
        let id = u128::from_le_bytes(event[..16].try_into().unwrap_or([0; 16]));
        let status = match op {
            Operation::CreateAccounts => {
                CreateAccountStatus::from_u32(res.status).map_or("unknown", |s| s.name())
            }
            _ => CreateTransferStatus::from_u32(res.status).map_or("unknown", |s| s.name()),
        };
        r.map(3);
        r.bulk(b"id");
        r.bulk_display(id);
        r.bulk(b"status");
        r.bulk(status.as_bytes());
        r.bulk(b"timestamp");
        r.integer(res.timestamp as i64);
    }
}
