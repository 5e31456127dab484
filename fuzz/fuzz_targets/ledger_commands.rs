//! The human `LEDGER.*` commands: any arguments parse to a request or an `ERR` reply, never a
//! panic; a parsed request runs on a small ledger and its readable reply is one whole RESP
//! value. Input: the first byte picks the operation, the rest are arguments split at 0 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::binary::Operation;
use protocol::resp::{parse_value, RespVersion, ValueLimits};
use server::ledger_reply::{self, Form, RespForm};
use server::ledger_request::LedgerRequest;
use std::sync::OnceLock;

fn ledger() -> &'static ledger::Ledger {
    static LEDGER: OnceLock<ledger::Ledger> = OnceLock::new();
    LEDGER.get_or_init(|| {
        ledger::Ledger::new(ledger::LedgerConfig {
            partitions: 2,
            max_accounts: 1 << 10,
            max_transfers: 1 << 12,
            prefault: false,
        })
        .expect("a small ledger")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Some(op) = Operation::from_u8(first % 8 + 1) else {
        return;
    };
    let args: Vec<&[u8]> = if rest.is_empty() { Vec::new() } else { rest.split(|&b| b == 0).collect() };
    match server::commands::parse_ledger_command(op, &args) {
        Ok(events) => {
            let version = if first & 0x80 != 0 { RespVersion::V3 } else { RespVersion::V2 };
            let request = LedgerRequest::new(ledger(), op, events, Form::Resp(RespForm::Human(version)));
            let mut out = bytes::BytesMut::new();
            ledger_reply::run(ledger(), &request, &mut out);
            let parsed = parse_value(&out, &ValueLimits::default());
            assert!(
                matches!(parsed, Ok(Some((_, used))) if used == out.len()),
                "the reply is one whole RESP value: {parsed:?}"
            );
        }
        Err(e) => assert!(e.starts_with("ERR "), "an error reply: {e}"),
    }
});
