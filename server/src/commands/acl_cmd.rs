//! ACL SETUSER / GETUSER / DELUSER / LIST / USERS / WHOAMI / CAT / GENPASS / DRYRUN / LOG /
//! LOAD / SAVE / HELP, with Redis 7.0's replies (acl.c `aclCommand`). The users themselves and
//! their rule language are `crate::acl`.

use super::connection::help as reply_help;
use super::util::{int_arg, lossy};
use super::{Ctx, Flow};
use crate::acl::{self, describe, Denied};
use protocol::resp::Reply;

pub fn setuser(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let name = args[2];
    if name.iter().any(|&c| c.is_ascii_whitespace() || c == 0) {
        ctx.error("ERR Usernames can't contain spaces or null characters");
        return Flow::Continue;
    }
    match ctx.state.acl.set_user(name, &args[3..]) {
        Ok(()) => ctx.reply().ok(),
        Err(e) => ctx.error(&format!("ERR {e}")),
    }
    Flow::Continue
}

fn selector_fields(r: &mut Reply<'_>, set: &acl::CommandSet, s: &acl::selector::Selector) {
    r.bulk(b"commands");
    r.bulk(describe::command_rules(set, s).as_bytes());
    r.bulk(b"keys");
    r.bulk(describe::keys_field(s).as_bytes());
    r.bulk(b"channels");
    r.bulk(describe::channels_field(s).as_bytes());
}

pub fn getuser(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(user) = ctx.state.acl.get(args[2]) else {
        ctx.reply().null();
        return Flow::Continue;
    };
    let set = ctx.state.acl.commands();
    let mut r = ctx.reply();
    r.map(6);
    r.bulk(b"flags");
    let flags = describe::flags(&user);
    r.set(flags.len());
    for f in flags {
        r.bulk(f.as_bytes());
    }
    r.bulk(b"passwords");
    r.array(user.passwords.len());
    for p in &user.passwords {
        r.bulk(p.as_bytes());
    }
    selector_fields(&mut r, set, user.root());
    r.bulk(b"selectors");
    r.array(user.selectors.len() - 1);
    for s in &user.selectors[1..] {
        r.map(3);
        selector_fields(&mut r, set, s);
    }
    Flow::Continue
}

pub fn deluser(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args[2..].contains(&acl::DEFAULT_USER) {
        ctx.error("ERR The 'default' user cannot be removed");
        return Flow::Continue;
    }
    let removed = ctx.state.acl.delete(&args[2..]);
    // As Redis's ACLFreeUserAndKillClients: every connection logged in as a deleted user is
    // closed; this one after its reply.
    let me = ctx.client.id();
    let mut close_self = false;
    for e in ctx.state.clients.all() {
        if removed.iter().any(|n| *n == e.details().user) {
            if e.id == me {
                close_self = true;
            } else {
                e.kill();
            }
        }
    }
    ctx.reply().integer(removed.len() as i64);
    if close_self {
        Flow::Close
    } else {
        Flow::Continue
    }
}

pub fn list(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let set = ctx.state.acl.commands();
    let users = ctx.state.acl.users();
    let mut r = ctx.reply();
    r.array(users.len());
    for u in users {
        r.bulk(describe::list_line(set, &u).as_bytes());
    }
    Flow::Continue
}

pub fn users(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let users = ctx.state.acl.users();
    let mut r = ctx.reply();
    r.array(users.len());
    for u in users {
        r.bulk(&u.name);
    }
    Flow::Continue
}

pub fn whoami(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let name = ctx.client.user().name.clone();
    ctx.reply().bulk(&name);
    Flow::Continue
}

pub fn cat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() > 3 {
        return syntax_error(ctx, args);
    }
    if args.len() == 2 {
        let mut r = ctx.reply();
        r.array(acl::categories::NAMES.len());
        for n in acl::categories::NAMES {
            r.bulk(n.as_bytes());
        }
        return Flow::Continue;
    }
    let Some(mask) = std::str::from_utf8(args[2])
        .ok()
        .and_then(acl::categories::bit)
    else {
        let msg = format!(
            "ERR Unknown category '{}'",
            super::util::truncated(args[2], 128)
        );
        ctx.error(&msg);
        return Flow::Continue;
    };
    let names: Vec<&str> = ctx
        .state
        .acl
        .commands()
        .commands
        .iter()
        .filter(|c| c.categories & mask != 0)
        .map(|c| c.name)
        .collect();
    let mut r = ctx.reply();
    r.array(names.len());
    for n in names {
        r.bulk(n.as_bytes());
    }
    Flow::Continue
}

/// Redis's `addReplySubcommandSyntaxError` for a subcommand given the wrong arguments.
fn syntax_error(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let msg = format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        super::util::truncated(args[1], 128)
    );
    ctx.error(&msg);
    Flow::Continue
}

pub fn genpass(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() > 3 {
        return syntax_error(ctx, args);
    }
    const MAX_BITS: i64 = 4096;
    let bits = match args.get(2).map(|a| int_arg(a)) {
        None => 256,
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            ctx.error(e);
            return Flow::Continue;
        }
    };
    if bits <= 0 || bits > MAX_BITS {
        let msg = format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}");
        ctx.error(&msg);
        return Flow::Continue;
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        ctx.error("ERR could not read random bytes from /dev/urandom");
        return Flow::Continue;
    }
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    ctx.reply().bulk(hex.as_bytes());
    Flow::Continue
}

/// `ACL DRYRUN user command [arg ...]`: would the command be allowed (its arity checked first)?
pub fn dryrun(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let Some(user) = ctx.state.acl.get(args[2]) else {
        let msg = format!("ERR User '{}' not found", lossy(args[2]));
        ctx.error(&msg);
        return Flow::Continue;
    };
    let cmd_args = &args[3..];
    let resolved = super::lookup(cmd_args[0]).and_then(|e| {
        if !e.subcommands.is_empty() && cmd_args.len() >= 2 {
            e.subcommand(cmd_args[1])
        } else {
            Some(e.resolved())
        }
    });
    let Some(resolved) = resolved else {
        let msg = format!("ERR Command '{}' not found", lossy(cmd_args[0]));
        ctx.error(&msg);
        return Flow::Continue;
    };
    if !resolved.doc.arity_ok(cmd_args.len()) {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            resolved.doc.name
        );
        ctx.error(&msg);
        return Flow::Continue;
    }
    match acl::check(&user, resolved.id, resolved.doc, cmd_args) {
        Ok(()) => ctx.reply().ok(),
        Err(Denied::Command) => {
            let text = format!(
                "This user has no permissions to run the '{}' command",
                resolved.doc.name
            );
            ctx.reply().bulk(text.as_bytes());
        }
        Err(Denied::Key(pos)) => {
            let text = format!(
                "This user has no permissions to access the '{}' key",
                lossy(cmd_args[pos])
            );
            ctx.reply().bulk(text.as_bytes());
        }
    }
    Flow::Continue
}

/// `ACL LOG [count | RESET]`
pub fn log(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() > 3 {
        return syntax_error(ctx, args);
    }
    let mut count = 10;
    if let Some(arg) = args.get(2) {
        if arg.eq_ignore_ascii_case(b"reset") {
            ctx.state.acl.log.reset();
            ctx.reply().ok();
            return Flow::Continue;
        }
        match int_arg(arg) {
            Ok(n) => count = usize::try_from(n).unwrap_or(0),
            Err(e) => {
                ctx.error(e);
                return Flow::Continue;
            }
        }
    }
    let entries = ctx.state.acl.log.newest(count);
    let now = ctx.now_ms;
    let mut r = ctx.reply();
    r.array(entries.len());
    for e in entries {
        r.map(7);
        r.bulk(b"count");
        r.integer(e.count as i64);
        r.bulk(b"reason");
        r.bulk(e.reason.name().as_bytes());
        r.bulk(b"context");
        r.bulk(b"toplevel");
        r.bulk(b"object");
        r.bulk(&e.object);
        r.bulk(b"username");
        r.bulk(&e.username);
        r.bulk(b"age-seconds");
        r.double(now.saturating_sub(e.last_ms) as f64 / 1000.0);
        r.bulk(b"client-info");
        r.bulk(e.client_info.as_bytes());
    }
    Flow::Continue
}

/// ACL LOAD / SAVE: users come from the config file, never from an ACL file, so both answer
/// what Redis answers when no `aclfile` is configured.
pub fn load_or_save(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    ctx.error("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");
    Flow::Continue
}

pub fn help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    reply_help(
        ctx,
        "acl",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Flow::Continue
}
