//! COMMAND, COMMAND COUNT / INFO / DOCS / LIST / HELP: Redis 7.0's reply shapes, enough for
//! redis-cli's hints and for client libraries that introspect the server.

use super::connection::help as reply_help;
use super::meta::{Arg, BeginSearch, CommandDoc, FindKeys};
use super::table::{self, CommandEntry, Resolved};
use super::util::is;
use super::{Ctx, Flow};
use crate::cache::glob::glob_match;
use protocol::resp::Reply;

fn info_reply(r: &mut Reply<'_>, doc: &CommandDoc, subs: &[Resolved]) {
    r.array(10);
    r.bulk(doc.name.as_bytes());
    r.integer(i64::from(doc.arity));
    r.set(doc.flags.len());
    for f in doc.flags {
        r.simple(f);
    }
    r.integer(i64::from(doc.first_key));
    r.integer(i64::from(doc.last_key));
    r.integer(i64::from(doc.step));
    r.set(doc.acl.len());
    for a in doc.acl {
        r.simple(a);
    }
    r.set(doc.tips.len());
    for t in doc.tips {
        r.bulk(t.as_bytes());
    }
    r.array(doc.key_specs.len());
    for ks in doc.key_specs {
        r.map(3);
        r.bulk(b"flags");
        r.set(ks.flags.len());
        for f in ks.flags {
            r.simple(f);
        }
        r.bulk(b"begin_search");
        r.map(2);
        r.bulk(b"type");
        match ks.begin {
            BeginSearch::Index(pos) => {
                r.bulk(b"index");
                r.bulk(b"spec");
                r.map(1);
                r.bulk(b"index");
                r.integer(i64::from(pos));
            }
            BeginSearch::Keyword(word, from) => {
                r.bulk(b"keyword");
                r.bulk(b"spec");
                r.map(2);
                r.bulk(b"keyword");
                r.bulk(word.as_bytes());
                r.bulk(b"startfrom");
                r.integer(i64::from(from));
            }
            BeginSearch::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
        }
        r.bulk(b"find_keys");
        r.map(2);
        r.bulk(b"type");
        match ks.find {
            FindKeys::Range { last, step, limit } => {
                r.bulk(b"range");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"lastkey");
                r.integer(i64::from(last));
                r.bulk(b"keystep");
                r.integer(i64::from(step));
                r.bulk(b"limit");
                r.integer(i64::from(limit));
            }
            FindKeys::Keynum { index, first, step } => {
                r.bulk(b"keynum");
                r.bulk(b"spec");
                r.map(3);
                r.bulk(b"keynumidx");
                r.integer(i64::from(index));
                r.bulk(b"firstkey");
                r.integer(i64::from(first));
                r.bulk(b"keystep");
                r.integer(i64::from(step));
            }
            FindKeys::Unknown => {
                r.bulk(b"unknown");
                r.bulk(b"spec");
                r.map(0);
            }
        }
    }
    r.array(subs.len());
    for s in subs {
        info_reply(r, s.doc, &[]);
    }
}

fn args_reply(r: &mut Reply<'_>, args: &[Arg]) {
    r.array(args.len());
    for a in args {
        let flags: Vec<&str> = [("optional", a.optional), ("multiple", a.multiple)]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| *f)
            .collect();
        let fields = 2
            + usize::from(a.token.is_some())
            + usize::from(!flags.is_empty())
            + usize::from(!a.args.is_empty());
        r.map(fields);
        r.bulk(b"name");
        r.bulk(a.name.as_bytes());
        r.bulk(b"type");
        r.bulk(a.kind.as_bytes());
        if let Some(t) = a.token {
            r.bulk(b"token");
            r.bulk(t.as_bytes());
        }
        if !flags.is_empty() {
            r.bulk(b"flags");
            r.set(flags.len());
            for f in flags {
                r.simple(f);
            }
        }
        if !a.args.is_empty() {
            r.bulk(b"arguments");
            args_reply(r, a.args);
        }
    }
}

fn docs_reply(r: &mut Reply<'_>, doc: &CommandDoc, subs: &[Resolved]) {
    let fields = 4 + usize::from(!doc.args.is_empty()) + usize::from(!subs.is_empty());
    r.map(fields);
    r.bulk(b"summary");
    r.bulk(doc.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(doc.since.as_bytes());
    r.bulk(b"group");
    r.bulk(doc.group.as_bytes());
    r.bulk(b"complexity");
    r.bulk(doc.complexity.as_bytes());
    if !doc.args.is_empty() {
        r.bulk(b"arguments");
        args_reply(r, doc.args);
    }
    if !subs.is_empty() {
        r.bulk(b"subcommands");
        r.map(subs.len());
        for s in subs {
            r.bulk(s.doc.name.as_bytes());
            docs_reply(r, s.doc, &[]);
        }
    }
}

/// Finds a top-level command or a `container|sub` name.
fn find(name: &[u8]) -> Option<(&'static CommandDoc, &'static [Resolved])> {
    if let Some(pos) = name.iter().position(|&b| b == b'|') {
        let entry = table::lookup(&name[..pos])?;
        let sub = entry.subcommand(&name[pos + 1..])?;
        return Some((sub.doc, &[]));
    }
    table::lookup(name).map(|e: &'static CommandEntry| (e.doc, e.subcommands.as_slice()))
}

/// COMMAND with no subcommand: every command's info.
pub fn command(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let all = table::all();
    let mut r = ctx.reply();
    r.array(all.len());
    for e in all {
        info_reply(&mut r, e.doc, &e.subcommands);
    }
    Flow::Continue
}

pub fn count(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    let n = table::all().len();
    ctx.reply().integer(n as i64);
    Flow::Continue
}

pub fn info(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    if args.len() == 2 {
        return command(ctx, args);
    }
    let mut r = ctx.reply();
    r.array(args.len() - 2);
    for name in &args[2..] {
        match find(name) {
            Some((doc, subs)) => info_reply(&mut r, doc, subs),
            None => r.null_array(),
        }
    }
    Flow::Continue
}

pub fn docs(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let found: Vec<(&CommandDoc, &[Resolved])> = if args.len() == 2 {
        table::all()
            .iter()
            .map(|e| (e.doc, e.subcommands.as_slice()))
            .collect()
    } else {
        args[2..].iter().filter_map(|n| find(n)).collect()
    };
    let mut r = ctx.reply();
    r.map(found.len());
    for (doc, subs) in found {
        r.bulk(doc.name.as_bytes());
        docs_reply(&mut r, doc, subs);
    }
    Flow::Continue
}

/// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`
pub fn list(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    let filter = match args.len() {
        2 => None,
        5 if is(args[2], "FILTERBY") => Some((args[3], args[4])),
        _ => {
            ctx.error(super::util::ERR_SYNTAX);
            return Flow::Continue;
        }
    };
    let mut names: Vec<&'static str> = Vec::new();
    for e in table::all() {
        let docs = std::iter::once(e.doc).chain(e.subcommands.iter().map(|s| s.doc));
        for d in docs {
            let keep = match filter {
                None => true,
                Some((kind, value)) if is(kind, "MODULE") => {
                    let _ = value;
                    false
                }
                Some((kind, value)) if is(kind, "ACLCAT") => d.acl.iter().any(|c| {
                    c.trim_start_matches('@')
                        .as_bytes()
                        .eq_ignore_ascii_case(value)
                }),
                Some((kind, value)) if is(kind, "PATTERN") => {
                    glob_match(value, d.name.as_bytes(), true)
                }
                Some(_) => {
                    ctx.error(super::util::ERR_SYNTAX);
                    return Flow::Continue;
                }
            };
            if keep {
                names.push(d.name);
            }
        }
    }
    let mut r = ctx.reply();
    r.array(names.len());
    for n in names {
        r.bulk(n.as_bytes());
    }
    Flow::Continue
}

pub fn help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> Flow {
    reply_help(
        ctx,
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
        ],
    );
    Flow::Continue
}
