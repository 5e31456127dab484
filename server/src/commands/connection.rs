//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and CLIENT (Redis 7.0's
//! server.c / networking.c / acl.c behaviour, plus CLIENT SETINFO from 7.2).

use super::util::{int_arg, is, lossy, ERR_DB_INDEX, ERR_SYNTAX};
use super::{Ctx, Flow};
use crate::client::ClientEntry;
use protocol::resp::RespVersion;

/// The version we report: Redis 7.0.15's command set and behaviour.
pub const REDIS_VERSION: &str = "7.0.15";
use crate::state::WRONGPASS;

pub fn ping(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match args.len() {
        1 => ctx.reply().simple("PONG"),
        2 => ctx.reply().bulk(args[1]),
        _ => ctx.error("ERR wrong number of arguments for 'ping' command"),
    }
    Flow::Continue
}

pub fn echo(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    ctx.reply().bulk(args[1]);
    Flow::Continue
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    ctx.reply().ok();
    Flow::Close
}

/// Logs the connection in as `user` when `password` is one of its own (Redis's
/// `ACLAuthenticateUser`); counts a failure otherwise (the runtime throttles after one) and adds
/// it to ACL LOG, with the command (`command`, as typed) as the object.
fn authenticate(ctx: &mut Ctx<'_>, command: &[u8], user: &[u8], password: &[u8]) -> bool {
    let generation = ctx.state.acl.generation();
    match ctx.state.acl.authenticate(user, password) {
        Some(u) => {
            ctx.client.set_user(u, generation);
            ctx.client.authenticated = true;
            true
        }
        None => {
            ctx.client.auth_failures += 1;
            ctx.state.acl.log.add(crate::acl::log::Entry {
                count: 1,
                reason: crate::acl::log::Reason::Auth,
                object: command.to_vec(),
                username: user.to_vec(),
                last_ms: ctx.now_ms,
                client_info: client_line(ctx.client.entry(), ctx.now_ms),
            });
            false
        }
    }
}

/// Redis's client-name rule: printable ASCII without spaces.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() > 3 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let (user, password) = if args.len() == 2 {
        if ctx.state.acl.default_nopass() {
            ctx.error(
                "ERR AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            );
            return Flow::Continue;
        }
        (&b"default"[..], args[1])
    } else {
        (args[1], args[2])
    };
    if authenticate(ctx, args[0], user, password) {
        ctx.reply().ok();
    } else {
        ctx.error(WRONGPASS);
    }
    Flow::Continue
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub fn hello(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut version = None;
    let mut next = 1;
    if args.len() >= 2 {
        match int_arg(args[1]) {
            Ok(v) if (2..=3).contains(&v) => version = Some(v),
            Ok(_) => {
                ctx.error("NOPROTO unsupported protocol version");
                return Flow::Continue;
            }
            Err(_) => {
                ctx.error("ERR Protocol version is not an integer or out of range");
                return Flow::Continue;
            }
        }
        next = 2;
    }
    let (mut credentials, mut name) = (None, None);
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(args[j], "AUTH") && more >= 2 {
            credentials = Some((args[j + 1], args[j + 2]));
            j += 2;
        } else if is(args[j], "SETNAME") && more >= 1 {
            if !valid_name(args[j + 1]) {
                ctx.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
                return Flow::Continue;
            }
            name = Some(args[j + 1]);
            j += 1;
        } else {
            let msg = format!("ERR Syntax error in HELLO option '{}'", lossy(args[j]));
            ctx.error(&msg);
            return Flow::Continue;
        }
        j += 1;
    }
    if let Some((user, password)) = credentials {
        if !authenticate(ctx, args[0], user, password) {
            ctx.error(WRONGPASS);
            return Flow::Continue;
        }
    }
    if ctx.state.auth_required(ctx.client) {
        ctx.error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH \
             <user> <pass> option can be used to authenticate the client and select the RESP protocol version at \
             the same time",
        );
        return Flow::Continue;
    }
    if let Some(n) = name {
        ctx.client.set_name(n);
    }
    if let Some(v) = version {
        ctx.client.set_resp(if v == 3 {
            RespVersion::V3
        } else {
            RespVersion::V2
        });
    }
    let id = ctx.client.id();
    let proto = if ctx.client.resp() == RespVersion::V3 {
        3
    } else {
        2
    };
    let mut r = ctx.reply();
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.integer(proto);
    r.bulk(b"id");
    r.integer(id as i64);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
    Flow::Continue
}

pub fn select(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    match int_arg(args[1]) {
        Ok(n) if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) => {
            ctx.error(super::util::ERR_NOT_INTEGER)
        }
        Ok(n) if n < 0 || n as usize >= ctx.state.cache.databases() => ctx.error(ERR_DB_INDEX),
        Ok(n) => {
            ctx.client.select(n as usize);
            ctx.reply().ok();
        }
        Err(e) => ctx.error(e),
    }
    Flow::Continue
}

pub fn reset(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    ctx.client.select(0);
    ctx.client.set_resp(RespVersion::V2);
    ctx.client.set_name(b"");
    // Back to the default user, authenticated only when it needs no password (Redis's
    // clearClientConnectionState).
    // (The generation is read first: a change in between then only causes one more look-up.)
    let generation = ctx.state.acl.generation();
    let default = ctx.state.acl.default_user();
    ctx.client.authenticated = default.nopass && default.enabled;
    ctx.client.set_user(default, generation);
    ctx.reply().simple("RESET");
    Flow::Continue
}

/// One CLIENT LIST line (Redis 7.0's format, plus 7.2's lib-name and lib-ver).
pub fn client_line(entry: &ClientEntry, now_ms: u64) -> String {
    let d = entry.details();
    let (cmd, last_ms) = entry.activity();
    let cmd = cmd.map_or("NULL", super::table::command_name);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 \
         qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} \
         user={} redir=-1 resp={} lib-name={} lib-ver={}",
        entry.id,
        entry.info.peer,
        entry.info.local,
        entry.info.fd,
        lossy(&d.name),
        now_ms.saturating_sub(entry.created_ms) / 1000,
        now_ms.saturating_sub(last_ms) / 1000,
        d.db,
        cmd,
        lossy(&d.user),
        d.resp,
        lossy(&d.lib_name),
        lossy(&d.lib_ver),
    )
}

pub fn client_id(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let id = ctx.client.id();
    ctx.reply().integer(id as i64);
    Flow::Continue
}

pub fn client_setname(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if !valid_name(args[2]) {
        ctx.error("ERR Client names cannot contain spaces, newlines or special characters.");
    } else {
        ctx.client.set_name(args[2]);
        ctx.reply().ok();
    }
    Flow::Continue
}

pub fn client_getname(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    if ctx.client.name.is_empty() {
        ctx.reply().null();
    } else {
        let name = ctx.client.name.clone();
        ctx.reply().bulk(&name);
    }
    Flow::Continue
}

/// CLIENT SETINFO LIB-NAME name | LIB-VER version (Redis 7.2).
pub fn client_setinfo(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let (attr, value) = (args[2], args[3]);
    let is_name = is(attr, "LIB-NAME");
    if !is_name && !is(attr, "LIB-VER") {
        let msg = format!("ERR Unrecognized option '{}'", lossy(attr));
        ctx.error(&msg);
        return Flow::Continue;
    }
    if !valid_name(value) && !value.is_empty() {
        let what = if is_name { "lib-name" } else { "lib-ver" };
        let msg = format!("ERR {what} cannot contain spaces, newlines or special characters.");
        ctx.error(&msg);
        return Flow::Continue;
    }
    if is_name {
        ctx.client.set_lib(Some(value), None);
    } else {
        ctx.client.set_lib(None, Some(value));
    }
    ctx.reply().ok();
    Flow::Continue
}

pub fn client_info(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let line = client_line(ctx.client.entry(), ctx.now_ms) + "\n";
    ctx.reply().verbatim("txt", line.as_bytes());
    Flow::Continue
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]`
pub fn client_list(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut ids: Option<Vec<u64>> = None;
    let mut only_normal = true;
    if args.len() == 4 && is(args[2], "TYPE") {
        let t = args[3];
        if is(t, "normal") {
            only_normal = true;
        } else if is(t, "master") || is(t, "replica") || is(t, "slave") || is(t, "pubsub") {
            only_normal = false;
        } else {
            let msg = format!("ERR Unknown client type '{}'", lossy(t));
            ctx.error(&msg);
            return Flow::Continue;
        }
    } else if args.len() > 3 && is(args[2], "ID") {
        let mut list = Vec::new();
        for a in &args[3..] {
            match int_arg(a) {
                Ok(n) if n > 0 => list.push(n as u64),
                _ => {
                    ctx.error("ERR Invalid client ID");
                    return Flow::Continue;
                }
            }
        }
        ids = Some(list);
    } else if args.len() != 2 {
        ctx.error(ERR_SYNTAX);
        return Flow::Continue;
    }
    let mut text = String::new();
    if only_normal {
        let entries = match &ids {
            Some(list) => list
                .iter()
                .filter_map(|id| ctx.state.clients.get(*id))
                .collect(),
            None => ctx.state.clients.all(),
        };
        for e in entries {
            text.push_str(&client_line(&e, ctx.now_ms));
            text.push('\n');
        }
    }
    ctx.reply().verbatim("txt", text.as_bytes());
    Flow::Continue
}

/// `CLIENT KILL addr:port | CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u] [SKIPME yes|no]`
pub fn client_kill(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut id: Option<u64> = None;
    let mut user: Option<Vec<u8>> = None;
    let mut only_normal_type: Option<bool> = None;
    let old_form = args.len() == 3;
    let mut skipme = !old_form;
    if old_form {
        addr = Some(lossy(args[2]));
    } else {
        let mut i = 2;
        while i < args.len() {
            let more = i + 1 < args.len();
            let (opt, val) = (args[i], args.get(i + 1).copied().unwrap_or_default());
            if is(opt, "ID") && more {
                match int_arg(val) {
                    Ok(n) if n >= 1 => id = Some(n as u64),
                    _ => {
                        ctx.error("ERR client-id should be greater than 0");
                        return Flow::Continue;
                    }
                }
            } else if is(opt, "TYPE") && more {
                if is(val, "normal") {
                    only_normal_type = Some(true);
                } else if is(val, "master")
                    || is(val, "replica")
                    || is(val, "slave")
                    || is(val, "pubsub")
                {
                    only_normal_type = Some(false);
                } else {
                    let msg = format!("ERR Unknown client type '{}'", lossy(val));
                    ctx.error(&msg);
                    return Flow::Continue;
                }
            } else if is(opt, "ADDR") && more {
                addr = Some(lossy(val));
            } else if is(opt, "LADDR") && more {
                laddr = Some(lossy(val));
            } else if is(opt, "USER") && more {
                if ctx.state.acl.get(val).is_none() {
                    let msg = format!("ERR No such user '{}'", lossy(val));
                    ctx.error(&msg);
                    return Flow::Continue;
                }
                user = Some(val.to_vec());
            } else if is(opt, "SKIPME") && more {
                if is(val, "yes") {
                    skipme = true;
                } else if is(val, "no") {
                    skipme = false;
                } else {
                    ctx.error(ERR_SYNTAX);
                    return Flow::Continue;
                }
            } else {
                ctx.error(ERR_SYNTAX);
                return Flow::Continue;
            }
            i += 2;
        }
    }
    let me = ctx.client.id();
    let mut killed = 0;
    let mut close_self = false;
    for e in ctx.state.clients.all() {
        if addr.as_ref().is_some_and(|a| *a != e.info.peer.to_string())
            || laddr
                .as_ref()
                .is_some_and(|a| *a != e.info.local.to_string())
            || id.is_some_and(|i| i != e.id)
            || user.as_ref().is_some_and(|u| *u != e.details().user)
            || only_normal_type == Some(false)
            || (e.id == me && skipme)
        {
            continue;
        }
        if e.id == me {
            close_self = true;
        } else {
            e.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            ctx.error("ERR No such client");
        } else {
            ctx.reply().ok();
        }
    } else {
        ctx.reply().integer(killed);
    }
    if close_self {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// Redis's addReplyHelp.
pub fn help(ctx: &mut Ctx<'_>, command: &str, lines: &[&str]) {
    let mut r = ctx.reply();
    r.array(lines.len() + 3);
    r.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        command.to_ascii_uppercase()
    ));
    for l in lines {
        r.simple(l);
    }
    r.simple("HELP");
    r.simple("    Prints this help.");
}

pub fn client_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    help(
        ctx,
        "client",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library name or version.",
        ],
    );
    Flow::Continue
}
