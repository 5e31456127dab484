//! A ledger request's reply, encoded the way its transport asked for it: a binary-protocol
//! frame, a RESP bulk string of records (`LEDGER.CREATE_TRANSFERS <blob>`), or the readable RESP
//! reply of the human commands (`LEDGER.TRANSFER.CREATE ID ...`), written from the typed
//! records the ledger produced.
//!
//! The form travels with a request forwarded to the worker that owns its partitions, so the
//! owner encodes the finished reply and the receiving worker only copies bytes into the
//! connection, in request order.

use crate::ledger_ops::{self, OpError, Output};
use crate::ledger_request::{Events, LedgerRequest};
use bytes::BytesMut;
use ledger::flags;
use ledger::{
    Account, AccountBalance, CreateAccountStatus, CreateResult, CreateTransferStatus, Ledger,
    Record, Transfer,
};
use protocol::binary::{self, Operation};
use protocol::resp::{Reply, RespVersion};

/// How a RESP ledger request wants its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespForm {
    /// One bulk string holding the records (the binary form of `LEDGER.*`).
    Blob,
    /// Maps: `{id, status, timestamp}` per create event, every field of each record read (RESP3
    /// maps, flat arrays in RESP2).
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

/// Executes `request` and appends its reply to `out`.
pub fn run(ledger: &Ledger, request: &LedgerRequest, out: &mut BytesMut) -> Outcome {
    ledger_ops::execute(ledger, request, |result| {
        encode(
            request.operation,
            request.form,
            Some(&request.events),
            result,
            out,
        )
    })
}

/// Appends the reply to a request that could not be decoded.
pub fn refusal(operation: Operation, form: Form, e: OpError, out: &mut BytesMut) -> Outcome {
    encode(operation, form, None, Err(e), out)
}

/// Appends the reply of `operation` in `form`. `events` are the request's (the human create
/// reply names each event's id); None only for a refusal.
fn encode(
    operation: Operation,
    form: Form,
    events: Option<&Events>,
    result: Result<Output<'_>, OpError>,
    out: &mut BytesMut,
) -> Outcome {
    let ok = Outcome {
        error: false,
        close: false,
    };
    match (form, result) {
        (Form::Frame { request_id }, Ok(output)) => {
            let start = binary::begin(out);
            let n = records(&output, |bytes| out.extend_from_slice(bytes));
            binary::finish(out, start, operation, request_id, n as u32, 0);
            ok
        }
        (Form::Frame { request_id }, Err(e)) => {
            let (status, close) = match e {
                OpError::Malformed(_) => (binary::ReplyStatus::BadFrame, true),
                OpError::Refused(_) => (binary::ReplyStatus::Refused, false),
            };
            let start = binary::begin(out);
            out.extend_from_slice(e.message().as_bytes());
            binary::finish(out, start, operation, request_id, 0, status as u32);
            Outcome { error: true, close }
        }
        (Form::Resp(RespForm::Blob), Ok(output)) => {
            let len = records(&output, |_| {}) * record_size(&output);
            Reply::new(out, RespVersion::V2).bulk_header(len);
            records(&output, |bytes| out.extend_from_slice(bytes));
            out.extend_from_slice(b"\r\n");
            ok
        }
        (Form::Resp(RespForm::Human(version)), Ok(output)) => {
            human(&mut Reply::new(out, version), events, &output);
            ok
        }
        (Form::Resp(f), Err(e)) => {
            let version = match f {
                RespForm::Blob => RespVersion::V2,
                RespForm::Human(v) => v,
            };
            Reply::new(out, version).error(&format!("ERR {}", e.message()));
            Outcome {
                error: true,
                close: false,
            }
        }
    }
}

/// Executes a request forwarded by another worker into the bytes of its reply.
pub fn answer(ledger: &Ledger, request: &LedgerRequest) -> (Vec<u8>, Outcome) {
    let mut out = BytesMut::new();
    let outcome = run(ledger, request, &mut out);
    (out.to_vec(), outcome)
}

/// Hands each record's wire bytes to `f`; returns how many.
fn records(output: &Output<'_>, mut f: impl FnMut(&[u8])) -> usize {
    fn each<R: Record>(records: &[R], f: &mut impl FnMut(&[u8])) -> usize {
        records.iter().for_each(|r| f(r.bytes()));
        records.len()
    }
    match output {
        Output::Created(r) => each(r, &mut f),
        Output::Accounts(r) => each(r, &mut f),
        Output::Transfers(r) => each(r, &mut f),
        Output::Balances(r) => each(r, &mut f),
    }
}

fn record_size(output: &Output<'_>) -> usize {
    match output {
        Output::Created(_) => CreateResult::SIZE,
        Output::Accounts(_) => Account::SIZE,
        Output::Transfers(_) => Transfer::SIZE,
        Output::Balances(_) => AccountBalance::SIZE,
    }
}

fn human(r: &mut Reply<'_>, events: Option<&Events>, output: &Output<'_>) {
    match output {
        Output::Created(results) => {
            let ids: Vec<u128> = match events {
                Some(Events::Accounts(a)) => a.iter().map(|a| a.id).collect(),
                Some(Events::Transfers(t)) => t.iter().map(|t| t.id).collect(),
                _ => Vec::new(),
            };
            assert_eq!(ids.len(), results.len(), "one result per create event");
            let transfers = matches!(events, Some(Events::Transfers(_)));
            r.array(results.len());
            for (id, res) in ids.iter().zip(results.iter()) {
                created_map(r, *id, res, transfers);
            }
        }
        Output::Accounts(a) => {
            r.array(a.len());
            a.iter().for_each(|a| account_map(r, a));
        }
        Output::Transfers(t) => {
            r.array(t.len());
            t.iter().for_each(|t| transfer_map(r, t));
        }
        Output::Balances(b) => {
            r.array(b.len());
            b.iter().for_each(|b| balance_map(r, b));
        }
    }
}

fn created_map(r: &mut Reply<'_>, id: u128, res: &CreateResult, transfers: bool) {
    let status = if transfers {
        CreateTransferStatus::from_u32(res.status).map(|s| s.name())
    } else {
        CreateAccountStatus::from_u32(res.status).map(|s| s.name())
    };
    r.map(3);
    r.bulk(b"id");
    r.bulk_display(id);
    r.bulk(b"status");
    r.bulk(status.unwrap_or("unknown").as_bytes());
    r.bulk(b"timestamp");
    r.integer(res.timestamp as i64);
}

/// Flag names joined by commas, unknown bits as hex.
fn flag_names(flags: u16, names: &[(&str, u16)]) -> String {
    let mut out: Vec<&str> = names
        .iter()
        .filter(|(_, b)| flags & b != 0)
        .map(|(n, _)| *n)
        .collect();
    let known: u16 = names.iter().map(|(_, b)| b).fold(0, |a, b| a | b);
    let unknown = flags & !known;
    let extra = (unknown != 0).then(|| format!("0x{unknown:x}"));
    if let Some(e) = &extra {
        out.push(e);
    }
    out.join(",")
}

fn account_map(r: &mut Reply<'_>, a: &Account) {
    r.map(12);
    for (k, v) in [
        ("id", a.id),
        ("debits_pending", a.debits_pending),
        ("debits_posted", a.debits_posted),
        ("credits_pending", a.credits_pending),
        ("credits_posted", a.credits_posted),
        ("user_data_128", a.user_data_128),
    ] {
        r.bulk(k.as_bytes());
        r.bulk_display(v);
    }
    r.bulk(b"user_data_64");
    r.bulk_display(a.user_data_64);
    r.bulk(b"user_data_32");
    r.integer(a.user_data_32.into());
    r.bulk(b"ledger");
    r.integer(a.ledger.into());
    r.bulk(b"code");
    r.integer(a.code.into());
    r.bulk(b"flags");
    r.bulk(flag_names(a.flags, flags::ACCOUNT_FLAG_NAMES).as_bytes());
    r.bulk(b"timestamp");
    r.integer(a.timestamp as i64);
}

fn transfer_map(r: &mut Reply<'_>, t: &Transfer) {
    r.map(13);
    for (k, v) in [
        ("id", t.id),
        ("debit_account_id", t.debit_account_id),
        ("credit_account_id", t.credit_account_id),
        ("amount", t.amount),
        ("pending_id", t.pending_id),
        ("user_data_128", t.user_data_128),
    ] {
        r.bulk(k.as_bytes());
        r.bulk_display(v);
    }
    r.bulk(b"user_data_64");
    r.bulk_display(t.user_data_64);
    r.bulk(b"user_data_32");
    r.integer(t.user_data_32.into());
    r.bulk(b"timeout");
    r.integer(t.timeout.into());
    r.bulk(b"ledger");
    r.integer(t.ledger.into());
    r.bulk(b"code");
    r.integer(t.code.into());
    r.bulk(b"flags");
    r.bulk(flag_names(t.flags, flags::TRANSFER_FLAG_NAMES).as_bytes());
    r.bulk(b"timestamp");
    r.integer(t.timestamp as i64);
}

fn balance_map(r: &mut Reply<'_>, b: &AccountBalance) {
    r.map(5);
    for (k, v) in [
        ("debits_pending", b.debits_pending),
        ("debits_posted", b.debits_posted),
        ("credits_pending", b.credits_pending),
        ("credits_posted", b.credits_posted),
    ] {
        r.bulk(k.as_bytes());
        r.bulk_display(v);
    }
    r.bulk(b"timestamp");
    r.integer(b.timestamp as i64);
}
