//! LEDGER.* commands.
//!
//! Binary form (the stable contract of DESIGN.md): `LEDGER.<OPERATION> <blob>`, where the blob
//! holds the events in their wire layout and the reply is one bulk string of result records.
//!
//! Human form, for redis-cli: keyword arguments with decimal numbers and named flags, replies
//! as RESP3 maps (flat field/value arrays in RESP2). See docs/COMMANDS.md.

use super::util::ERR_SYNTAX;
use super::{Ctx, Flow};
use crate::ledger_reply::{Form, RespForm};
use crate::ledger_request::{Events, LedgerRequest};
use ledger::flags::{self, account_filter as ff, query_filter as qf};
use ledger::{Account, AccountFilter, QueryFilter, Transfer, BATCH_MAX};
use protocol::binary::Operation;

/// `LEDGER.<OPERATION> <blob>`: decodes the blob and hands the request to the runtime.
fn binary(ctx: &mut Ctx<'_>, args: &[&[u8]], op: Operation) -> Flow {
    let form = Form::Resp(RespForm::Blob);
    match LedgerRequest::decode(&ctx.state.ledger, op, args[1], form) {
        Ok(request) => ctx.submit_ledger(request),
        Err(e) => ctx.error(&format!("ERR {}", e.message())),
    }
    Flow::Continue
}

/// Hands a human command's request to the runtime; its reply is readable maps.
fn human(ctx: &mut Ctx<'_>, op: Operation, events: Events) {
    let form = Form::Resp(RespForm::Human(ctx.client.resp()));
    let request = LedgerRequest::new(&ctx.state.ledger, op, events, form);
    ctx.submit_ledger(request);
}

pub fn create_accounts(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::CreateAccounts)
}
pub fn create_transfers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::CreateTransfers)
}
pub fn lookup_accounts(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::LookupAccounts)
}
pub fn lookup_transfers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::LookupTransfers)
}
pub fn get_account_transfers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::GetAccountTransfers)
}
pub fn get_account_balances(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::GetAccountBalances)
}
pub fn query_accounts(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::QueryAccounts)
}
pub fn query_transfers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    binary(ctx, args, Operation::QueryTransfers)
}

// ---- Human form -------------------------------------------------------------------------

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

fn number<T: std::str::FromStr>(field: &str, arg: &[u8]) -> Result<T, String> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<T>().ok())
        .ok_or_else(|| {
            format!(
                "ERR invalid {field} value '{}'",
                String::from_utf8_lossy(arg)
            )
        })
}

/// An amount: a decimal u128, or `max` (2^128 - 1, "the whole pending amount" for a post).
fn amount(arg: &[u8]) -> Result<u128, String> {
    if arg.eq_ignore_ascii_case(b"max") {
        Ok(u128::MAX)
    } else {
        number("AMOUNT", arg)
    }
}

/// Flags as names separated by commas, `|` or spaces (`linked,pending`), or a number.
fn parse_flags(arg: &[u8], names: &[(&str, u16)]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(arg).to_ascii_lowercase();
    if let Ok(n) = text.parse::<u16>() {
        return Ok(n);
    }
    let mut flags = 0;
    for name in text.split([',', '|', ' ']).filter(|s| !s.is_empty()) {
        let Some((_, bit)) = names.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "ERR unknown flag '{name}' (known: {})",
                known.join(", ")
            ));
        };
        flags |= bit;
    }
    Ok(flags)
}

/// One event's keyword arguments: (uppercased keyword, value).
type Fields<'a> = Vec<(String, &'a [u8])>;

/// Splits `ID ... ID ...` keyword arguments into one group per event (a new `ID` starts one).
fn events<'a>(args: &'a [&'a [u8]]) -> Result<Vec<Fields<'a>>, String> {
    if args.len() % 2 != 0 {
        return Err(ERR_SYNTAX.into());
    }
    let mut out: Vec<Fields<'a>> = Vec::new();
    for pair in args.chunks(2) {
        let key = upper(pair[0]);
        if key == "ID" || out.is_empty() {
            if key != "ID" {
                return Err("ERR each event starts with ID".into());
            }
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push((key, pair[1]));
        }
    }
    if out.len() > BATCH_MAX {
        return Err(format!(
            "ERR too many events: {} (at most {BATCH_MAX} per request)",
            out.len()
        ));
    }
    Ok(out)
}

fn user_data(
    key: &str,
    v: &[u8],
    u128_: &mut u128,
    u64_: &mut u64,
    u32_: &mut u32,
) -> Result<bool, String> {
    match key {
        "UD128" | "USER_DATA_128" => *u128_ = number(key, v)?,
        "UD64" | "USER_DATA_64" => *u64_ = number(key, v)?,
        "UD32" | "USER_DATA_32" => *u32_ = number(key, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_account(fields: &[(String, &[u8])]) -> Result<Account, String> {
    let mut a = Account::default();
    for (key, v) in fields {
        match key.as_str() {
            "ID" => a.id = number(key, v)?,
            "LEDGER" => a.ledger = number(key, v)?,
            "CODE" => a.code = number(key, v)?,
            "FLAGS" => a.flags = parse_flags(v, flags::ACCOUNT_FLAG_NAMES)?,
            k => {
                if !user_data(
                    k,
                    v,
                    &mut a.user_data_128,
                    &mut a.user_data_64,
                    &mut a.user_data_32,
                )? {
                    return Err(ERR_SYNTAX.into());
                }
            }
        }
    }
    Ok(a)
}

fn parse_transfer(fields: &[(String, &[u8])]) -> Result<Transfer, String> {
    let mut t = Transfer::default();
    for (key, v) in fields {
        match key.as_str() {
            "ID" => t.id = number(key, v)?,
            "DEBIT" | "DEBIT_ACCOUNT_ID" => t.debit_account_id = number(key, v)?,
            "CREDIT" | "CREDIT_ACCOUNT_ID" => t.credit_account_id = number(key, v)?,
            "AMOUNT" => t.amount = amount(v)?,
            "PENDING_ID" => t.pending_id = number(key, v)?,
            "TIMEOUT" => t.timeout = number(key, v)?,
            "LEDGER" => t.ledger = number(key, v)?,
            "CODE" => t.code = number(key, v)?,
            "FLAGS" => t.flags = parse_flags(v, flags::TRANSFER_FLAG_NAMES)?,
            k => {
                if !user_data(
                    k,
                    v,
                    &mut t.user_data_128,
                    &mut t.user_data_64,
                    &mut t.user_data_32,
                )? {
                    return Err(ERR_SYNTAX.into());
                }
            }
        }
    }
    Ok(t)
}

/// The arguments (after the command name) of the human `LEDGER.*` command for `op` as the
/// request's events; Err: the error reply (`ERR ...`). Any bytes give one or the other.
pub fn parse_human(op: Operation, args: &[&[u8]]) -> Result<Events, String> {
    Ok(match op {
        Operation::CreateAccounts => Events::Accounts(
            events(args)?
                .iter()
                .map(|f| parse_account(f))
                .collect::<Result<_, _>>()?,
        ),
        Operation::CreateTransfers => Events::Transfers(
            events(args)?
                .iter()
                .map(|f| parse_transfer(f))
                .collect::<Result<_, _>>()?,
        ),
        Operation::LookupAccounts | Operation::LookupTransfers => Events::Ids(ids(args)?),
        Operation::GetAccountTransfers | Operation::GetAccountBalances => {
            Events::AccountFilter(account_filter(args)?)
        }
        Operation::QueryAccounts | Operation::QueryTransfers => {
            Events::QueryFilter(query_filter(args)?)
        }
        Operation::Authenticate => return Err("ERR not a LEDGER command".into()),
    })
}

/// A human `LEDGER.*` command: parse, then hand the request to the runtime.
fn human_command(ctx: &mut Ctx<'_>, args: &[&[u8]], op: Operation) -> Flow {
    match parse_human(op, &args[1..]) {
        Ok(events) => human(ctx, op, events),
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// `LEDGER.ACCOUNT.CREATE ID id LEDGER l CODE c [FLAGS f,...] [UD128 n] [UD64 n] [UD32 n] [ID ...]`
pub fn account_create(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::CreateAccounts)
}

/// `LEDGER.TRANSFER.CREATE ID id DEBIT a CREDIT b AMOUNT n LEDGER l CODE c [FLAGS f,...]`
/// [PENDING_ID id] [TIMEOUT s] [UD128 n] [UD64 n] [UD32 n] [ID ...]
pub fn transfer_create(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::CreateTransfers)
}

fn ids(args: &[&[u8]]) -> Result<Vec<u128>, String> {
    if args.len() > BATCH_MAX {
        return Err(format!(
            "ERR too many ids: {} (at most {BATCH_MAX} per request)",
            args.len()
        ));
    }
    args.iter().map(|a| number::<u128>("id", a)).collect()
}

/// `LEDGER.ACCOUNT.GET id [id ...]`
pub fn account_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::LookupAccounts)
}

/// `LEDGER.TRANSFER.GET id [id ...]`
pub fn transfer_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::LookupTransfers)
}

/// `account_id [DEBITS] [CREDITS] [REVERSED] [LIMIT n] [MIN ts] [MAX ts] [CODE c] [UD128 n]
/// [UD64 n] [UD32 n]`; neither DEBITS nor CREDITS means both; LIMIT defaults to 8189.
fn account_filter(args: &[&[u8]]) -> Result<AccountFilter, String> {
    let mut f = AccountFilter {
        account_id: number("account id", args.first().ok_or(ERR_SYNTAX)?)?,
        limit: BATCH_MAX as u32,
        ..AccountFilter::default()
    };
    let mut i = 1;
    while i < args.len() {
        let key = upper(args[i]);
        match key.as_str() {
            "DEBITS" => f.flags |= ff::DEBITS,
            "CREDITS" => f.flags |= ff::CREDITS,
            "REVERSED" => f.flags |= ff::REVERSED,
            _ => {
                let v = args.get(i + 1).ok_or(ERR_SYNTAX)?;
                match key.as_str() {
                    "LIMIT" => f.limit = number(&key, v)?,
                    "MIN" => f.timestamp_min = number(&key, v)?,
                    "MAX" => f.timestamp_max = number(&key, v)?,
                    "CODE" => f.code = number(&key, v)?,
                    k => {
                        if !user_data(
                            k,
                            v,
                            &mut f.user_data_128,
                            &mut f.user_data_64,
                            &mut f.user_data_32,
                        )? {
                            return Err(ERR_SYNTAX.into());
                        }
                    }
                }
                i += 1;
            }
        }
        i += 1;
    }
    if f.flags & (ff::DEBITS | ff::CREDITS) == 0 {
        f.flags |= ff::DEBITS | ff::CREDITS;
    }
    Ok(f)
}

/// `LEDGER.ACCOUNT.TRANSFERS account_id [options]`
pub fn account_transfers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::GetAccountTransfers)
}

/// `LEDGER.ACCOUNT.BALANCES account_id [options]`
pub fn account_balances(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::GetAccountBalances)
}

/// `[LEDGER l] [CODE c] [UD128 n] [UD64 n] [UD32 n] [MIN ts] [MAX ts] [LIMIT n] [REVERSED]`.
fn query_filter(args: &[&[u8]]) -> Result<QueryFilter, String> {
    let mut f = QueryFilter {
        limit: BATCH_MAX as u32,
        ..QueryFilter::default()
    };
    let mut i = 0;
    while i < args.len() {
        let key = upper(args[i]);
        if key == "REVERSED" {
            f.flags |= qf::REVERSED;
            i += 1;
            continue;
        }
        let v = args.get(i + 1).ok_or(ERR_SYNTAX)?;
        match key.as_str() {
            "LEDGER" => f.ledger = number(&key, v)?,
            "CODE" => f.code = number(&key, v)?,
            "LIMIT" => f.limit = number(&key, v)?,
            "MIN" => f.timestamp_min = number(&key, v)?,
            "MAX" => f.timestamp_max = number(&key, v)?,
            k => {
                if !user_data(
                    k,
                    v,
                    &mut f.user_data_128,
                    &mut f.user_data_64,
                    &mut f.user_data_32,
                )? {
                    return Err(ERR_SYNTAX.into());
                }
            }
        }
        i += 2;
    }
    Ok(f)
}

/// `LEDGER.ACCOUNT.QUERY [options]`
pub fn account_query(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::QueryAccounts)
}

/// `LEDGER.TRANSFER.QUERY [options]`
pub fn transfer_query(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    human_command(ctx, args, Operation::QueryTransfers)
}
