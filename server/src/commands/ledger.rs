//! LEDGER.* commands.
//!
//! Binary form (the stable contract of DESIGN.md): `LEDGER.<OPERATION> <blob>`, where the blob
//! holds the events in their wire layout and the reply is one bulk string of result records.
//!
//! Human form, for redis-cli: keyword arguments with decimal numbers and named flags, replies
//! as RESP3 maps (flat field/value arrays in RESP2). See docs/COMMANDS.md.

use super::util::ERR_SYNTAX;
use super::{Ctx, Deferred, Flow};
use crate::ledger_ops::{self, OpError};
use crate::ledger_reply::{self, RespForm};
use ledger::flags::{self, account_filter as ff, query_filter as qf};
use ledger::{Account, AccountBalance, AccountFilter, QueryFilter, Record, Transfer, BATCH_MAX};
use protocol::binary::Operation;

fn binary(ctx: &mut Ctx<'_>, args: &[&[u8]], op: Operation) -> Flow {
    request(ctx, op, args[1], RespForm::Blob);
    Flow::Continue
}

/// Whether a ledger request may run now without overtaking earlier ones of this connection
/// that run on another worker (`forwarded_to`: where this one would be forwarded, if anywhere).
/// When it may not, the command is marked blocked and presented again later.
fn in_order(ctx: &mut Ctx<'_>, forwarded_to: Option<usize>) -> bool {
    match ctx.ledger_pending {
        Some(owner) if forwarded_to != Some(owner) => {
            ctx.blocked = true;
            false
        }
        _ => true,
    }
}

/// Runs a ledger request here, or, for a create whose partitions another worker owns, leaves
/// it in `ctx.deferred` for the runtime to forward there (see `runtime::forward`).
fn request(ctx: &mut Ctx<'_>, op: Operation, body: &[u8], form: RespForm) {
    let owner =
        crate::runtime::owner_elsewhere(&ctx.state.ledger, ctx.workers, ctx.worker, op, body);
    if !in_order(ctx, owner) {
        return;
    }
    if let Some(owner) = owner {
        ctx.deferred = Some(Deferred {
            owner,
            operation: op,
            body: body.to_vec(),
            form,
        });
        return;
    }
    if ledger_reply::resp(&ctx.state.ledger, op, body, form, ctx.out) {
        ctx.counters.error_replies += 1;
    }
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

/// Runs a read for a human command; None when it replied with an error, or did not run
/// (blocked behind forwarded requests, see `in_order`).
fn run_human(ctx: &mut Ctx<'_>, op: Operation, body: &[u8]) -> Option<Vec<u8>> {
    if !in_order(ctx, None) {
        return None;
    }
    let mut out = Vec::new();
    match ledger_ops::execute(&ctx.state.ledger, op, body, &mut out) {
        Ok(_) => Some(out),
        Err(OpError::Malformed(m) | OpError::Refused(m)) => {
            ctx.error(&format!("ERR {m}"));
            None
        }
    }
}

fn bytes_of<R: Record>(records: &[R]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| r.bytes().iter().copied())
        .collect()
}

/// LEDGER.ACCOUNT.CREATE ID id LEDGER l CODE c [FLAGS f,...] [UD128 n] [UD64 n] [UD32 n] [ID ...]
pub fn account_create(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let parsed = events(&args[1..]).and_then(|evs| {
        evs.iter()
            .map(|f| parse_account(f))
            .collect::<Result<Vec<_>, _>>()
    });
    match parsed {
        Ok(accounts) => {
            let form = RespForm::Human(ctx.client.resp());
            request(ctx, Operation::CreateAccounts, &bytes_of(&accounts), form);
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// LEDGER.TRANSFER.CREATE ID id DEBIT a CREDIT b AMOUNT n LEDGER l CODE c [FLAGS f,...]
/// [PENDING_ID id] [TIMEOUT s] [UD128 n] [UD64 n] [UD32 n] [ID ...]
pub fn transfer_create(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let parsed = events(&args[1..]).and_then(|evs| {
        evs.iter()
            .map(|f| parse_transfer(f))
            .collect::<Result<Vec<_>, _>>()
    });
    match parsed {
        Ok(transfers) => {
            let form = RespForm::Human(ctx.client.resp());
            request(ctx, Operation::CreateTransfers, &bytes_of(&transfers), form);
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

fn ids(args: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut body = Vec::with_capacity(args.len() * 16);
    for a in args {
        body.extend_from_slice(&number::<u128>("id", a)?.to_le_bytes());
    }
    Ok(body)
}

fn account_map(ctx: &mut Ctx<'_>, a: &Account) {
    let mut r = ctx.reply();
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

fn transfer_map(ctx: &mut Ctx<'_>, t: &Transfer) {
    let mut r = ctx.reply();
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

fn balance_map(ctx: &mut Ctx<'_>, b: &AccountBalance) {
    let mut r = ctx.reply();
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

fn list<R: Record>(ctx: &mut Ctx<'_>, out: &[u8], each: fn(&mut Ctx<'_>, &R)) {
    let records = R::vec_from_bytes(out).unwrap_or_default();
    ctx.reply().array(records.len());
    for rec in &records {
        each(ctx, rec);
    }
}

/// LEDGER.ACCOUNT.GET id [id ...]
pub fn account_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match ids(&args[1..]) {
        Ok(body) => {
            if let Some(out) = run_human(ctx, Operation::LookupAccounts, &body) {
                list(ctx, &out, account_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// LEDGER.TRANSFER.GET id [id ...]
pub fn transfer_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match ids(&args[1..]) {
        Ok(body) => {
            if let Some(out) = run_human(ctx, Operation::LookupTransfers, &body) {
                list(ctx, &out, transfer_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// `account_id [DEBITS] [CREDITS] [REVERSED] [LIMIT n] [MIN ts] [MAX ts] [CODE c] [UD128 n]
/// [UD64 n] [UD32 n]`; neither DEBITS nor CREDITS means both; LIMIT defaults to 8189.
fn account_filter(args: &[&[u8]]) -> Result<AccountFilter, String> {
    let mut f = AccountFilter {
        account_id: number("account id", args[0])?,
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
    match account_filter(&args[1..]) {
        Ok(f) => {
            if let Some(out) = run_human(ctx, Operation::GetAccountTransfers, f.bytes()) {
                list(ctx, &out, transfer_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// `LEDGER.ACCOUNT.BALANCES account_id [options]`
pub fn account_balances(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match account_filter(&args[1..]) {
        Ok(f) => {
            if let Some(out) = run_human(ctx, Operation::GetAccountBalances, f.bytes()) {
                list(ctx, &out, balance_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
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
    match query_filter(&args[1..]) {
        Ok(f) => {
            if let Some(out) = run_human(ctx, Operation::QueryAccounts, f.bytes()) {
                list(ctx, &out, account_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}

/// `LEDGER.TRANSFER.QUERY [options]`
pub fn transfer_query(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match query_filter(&args[1..]) {
        Ok(f) => {
            if let Some(out) = run_human(ctx, Operation::QueryTransfers, f.bytes()) {
                list(ctx, &out, transfer_map);
            }
        }
        Err(e) => ctx.error(&e),
    }
    Flow::Continue
}
