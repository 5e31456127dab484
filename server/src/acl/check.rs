//! The per-command permission check (Redis's `ACLCheckAllUserCommandPerm`): a bit test per
//! selector, then, unless the selector allows every key, each key the command's key specs name.
//! Runs on every command with the connection's `Arc<User>`: no lock, no allocation.

use super::selector::Selector;
use super::user::User;
use crate::commands::meta::{BeginSearch, CommandDoc, FindKeys, KeySpec};

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Command,
    /// The argument position of the (last) key no selector allows.
    Key(usize),
}

impl Denied {
    /// Redis 7.0's error reply text (`processCommand`) for `command` (full name).
    pub fn message(self, command: &str) -> String {
        match self {
            Denied::Command => {
                format!("NOPERM this user has no permissions to run the '{command}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
        }
    }
}

/// Whether `user` may run the command `id` documented by `doc` with `args` (name first).
pub fn check(user: &User, id: u16, doc: &CommandDoc, args: &[&[u8]]) -> Result<(), Denied> {
    let root = user.root();
    // The common case (the default user, `+@all ~*` users) decides without looking further.
    if root.all_commands && root.all_keys {
        return Ok(());
    }
    let mut worst = Denied::Command;
    for s in &user.selectors {
        match check_selector(s, id, doc, args) {
            Ok(()) => return Ok(()),
            // Redis reports a key refusal over a command one, and the later key of two.
            Err(Denied::Key(pos)) => match worst {
                Denied::Key(p) if p >= pos => {}
                _ => worst = Denied::Key(pos),
            },
            Err(Denied::Command) => {}
        }
    }
    Err(worst)
}

fn check_selector(s: &Selector, id: u16, doc: &CommandDoc, args: &[&[u8]]) -> Result<(), Denied> {
    // Commands that run before authentication (AUTH, HELLO, QUIT, RESET) are never refused;
    // the flag is only looked at when the bitmap says no.
    if !s.allows_command(id, doc.container.is_some(), args) && !doc.has_flag("no_auth") {
        return Err(Denied::Command);
    }
    if s.all_keys {
        return Ok(());
    }
    let mut refused = None;
    for_each_key(doc.key_specs, args, |pos, spec| {
        let (read, write) = access(spec, args);
        if refused.is_none() && !s.allows_key(args[pos], read, write) {
            refused = Some(pos);
        }
    });
    match refused {
        Some(pos) => Err(Denied::Key(pos)),
        None => Ok(()),
    }
}

/// The access a key spec asks for, as Redis's ACL reads its flags: ACCESS reads; INSERT,
/// DELETE and UPDATE write. VARIABLE_FLAGS (only SET's, for its GET option) is decided from the
/// arguments as Redis's `setGetKeys` does: read and write with GET, write only without.
fn access(spec: &KeySpec, args: &[&[u8]]) -> (bool, bool) {
    let has = |f: &str| spec.flags.contains(&f);
    if has("VARIABLE_FLAGS") {
        let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
        return (get, true);
    }
    (
        has("ACCESS"),
        has("INSERT") || has("DELETE") || has("UPDATE"),
    )
}

/// Calls `f(position, spec)` for every key argument, as Redis's `getKeysUsingKeySpecs` finds
/// them; a spec that does not fit the arguments yields no keys at all (the command's own
/// syntax check then answers, as in Redis).
pub fn for_each_key(specs: &[KeySpec], args: &[&[u8]], mut f: impl FnMut(usize, &KeySpec)) {
    let argc = args.len() as i64;
    let mut found: smallvec::SmallVec<[(usize, usize); 8]> = smallvec::SmallVec::new();
    for (n, spec) in specs.iter().enumerate() {
        if spec.flags.contains(&"NOT_KEY") {
            continue;
        }
        let mut first = match spec.begin {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword(word, from) => {
                match keyword_position(args, word, i64::from(from)) {
                    Some(p) => p + 1,
                    None => continue,
                }
            }
            BeginSearch::Unknown => return,
        };
        let (last, step) = match spec.find {
            FindKeys::Range { last, step, limit } => {
                let (last, limit) = (i64::from(last), i64::from(limit));
                let end = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / limit + last)
                };
                (end, i64::from(step))
            }
            FindKeys::Keynum {
                index,
                first: skip,
                step,
            } => {
                let at = first + i64::from(index);
                let Some(n) = usize::try_from(at).ok().and_then(|i| args.get(i)) else {
                    return;
                };
                let Some(numkeys) = std::str::from_utf8(n)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                    .filter(|&k| k >= 0)
                else {
                    return;
                };
                first += i64::from(skip);
                (first + numkeys - 1, i64::from(step))
            }
            FindKeys::Unknown => return,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return;
        }
        let mut i = first;
        while i <= last {
            found.push((i as usize, n));
            i += step;
        }
    }
    for (pos, n) in found {
        f(pos, &specs[n]);
    }
}

/// Redis's keyword search: forwards from `from` (> 0) or backwards from `argc + from`.
fn keyword_position(args: &[&[u8]], word: &str, from: i64) -> Option<i64> {
    let argc = args.len() as i64;
    let hit = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| args.get(i))
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    // Like Redis, the search stops before the last (forwards) or the first argument.
    if from > 0 {
        (from..argc - 1).find(|&i| hit(i))
    } else {
        (2..=argc + from).rev().find(|&i| hit(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(specs: &[KeySpec], args: &[&str]) -> Vec<usize> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut found = Vec::new();
        for_each_key(specs, &args, |pos, _| found.push(pos));
        found
    }

    #[test]
    fn keys_are_found_as_redis_finds_them() {
        let range = [KeySpec {
            flags: &["RW"],
            begin: BeginSearch::Index(1),
            find: FindKeys::Range {
                last: -1,
                step: 2,
                limit: 0,
            },
        }];
        assert_eq!(keys(&range, &["mset", "a", "1", "b", "2"]), [1, 3]);
        let keynum = [KeySpec {
            flags: &["RO"],
            begin: BeginSearch::Index(1),
            find: FindKeys::Keynum {
                index: 0,
                first: 1,
                step: 1,
            },
        }];
        assert_eq!(keys(&keynum, &["c", "2", "x", "y", "z"]), [2, 3]);
        assert!(
            keys(&keynum, &["c", "9", "x"]).is_empty(),
            "a spec that does not fit: no keys"
        );
        assert!(keys(&keynum, &["c", "n", "x"]).is_empty());
        let keyword = [KeySpec {
            flags: &["RO"],
            begin: BeginSearch::Keyword("STREAMS", 1),
            find: FindKeys::Range {
                last: -1,
                step: 1,
                limit: 2,
            },
        }];
        assert_eq!(
            keys(
                &keyword,
                &["xread", "COUNT", "1", "streams", "s1", "s2", "0", "0"]
            ),
            [4, 5]
        );
        assert!(keys(&keyword, &["xread", "COUNT", "1"]).is_empty());
        let backwards = [KeySpec {
            flags: &["RO"],
            begin: BeginSearch::Keyword("KEYS", -2),
            find: FindKeys::Range {
                last: 0,
                step: 1,
                limit: 0,
            },
        }];
        assert_eq!(keys(&backwards, &["c", "x", "keys", "k"]), [3]);
        assert!(
            keys(&backwards, &["c", "keys", "k", "x"]).is_empty(),
            "searched from argc-2 down to 2, as Redis"
        );
    }
}
