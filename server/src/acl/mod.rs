//! Redis 7.0 ACL users: who may connect (users, passwords, on/off) and what each may run
//! (commands, categories, subcommands, key patterns), checked on every listener.
//!
//! - [`commands`]: the commands rules name, with their table ids and categories;
//! - [`categories`]: the category names (Redis's, then `@ledger`, `@ledger-read`, `@ledger-write`);
//! - [`selector`]: a permission bitmap over command ids plus key and channel patterns;
//! - [`user`]: users and the ACL SETUSER rule language; [`describe`]: users back to rules;
//! - [`check`](mod@check): the per-command check (a bit test while the user allows all keys);
//! - [`log`]: ACL LOG, the refusals.
//!
//! Users live here behind a lock that only authentication and the ACL commands take. A connection
//! holds its user's `Arc` and checks against it without locking; every change to the users bumps
//! [`Acl::generation`], one relaxed load a connection compares before each command, and a
//! connection that sees it move looks its user up again (so SETUSER applies to connections
//! already logged in, as in Redis).

pub mod categories;
pub mod check;
pub mod commands;
pub mod describe;
pub mod log;
pub mod selector;
pub mod user;

pub use check::{check, Denied};
pub use commands::CommandSet;
pub use user::User;

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Why a rule was refused (Redis's errno cases in `ACLSetUser`), with Redis's texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownCommand,
    Syntax,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    /// Redis's `ACLSetUserStringError`.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// All users.
pub struct Acl {
    commands: &'static CommandSet,
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    generation: AtomicU64,
    /// The default user is off or has passwords: new connections must authenticate (Redis's
    /// `authRequired`).
    default_requires_auth: AtomicBool,
    /// The default user is `nopass` (protected mode applies then, as in Redis).
    default_nopass: AtomicBool,
    /// ACL LOG.
    pub log: log::Log,
}

pub const DEFAULT_USER: &[u8] = b"default";

impl Acl {
    /// The default user (with `requirepass` as its password, `nopass` when None), then one
    /// user per `users` entry: `NAME RULE...`, as an ACL file line without its `user` word.
    pub fn new(
        commands: &'static CommandSet,
        requirepass: Option<&str>,
        users: &[String],
    ) -> Result<Acl, String> {
        let mut default = User::default_user(commands);
        if let Some(p) = requirepass {
            set_password(commands, &mut default, Some(p));
        }
        let mut map = BTreeMap::new();
        map.insert(DEFAULT_USER.to_vec(), default);
        for (i, line) in users.iter().enumerate() {
            let (name, user) = parse_user_line(commands, line, &map)
                .map_err(|e| format!("users[{i}] {line:?}: {e}"))?;
            if name != DEFAULT_USER && map.contains_key(&name) {
                return Err(format!(
                    "users[{i}] {line:?}: Duplicate user found. A user can only be defined once in config files"
                ));
            }
            map.insert(name, user);
        }
        let acl = Acl {
            commands,
            users: RwLock::new(map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
            generation: AtomicU64::new(0),
            default_requires_auth: AtomicBool::new(false),
            default_nopass: AtomicBool::new(true),
            log: log::Log::default(),
        };
        acl.changed(&acl.users.read());
        Ok(acl)
    }

    pub fn commands(&self) -> &'static CommandSet {
        self.commands
    }

    /// Moves on every change to any user.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn default_requires_auth(&self) -> bool {
        self.default_requires_auth.load(Ordering::Relaxed)
    }

    pub fn default_nopass(&self) -> bool {
        self.default_nopass.load(Ordering::Relaxed)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        let users = self.users.read();
        let user = users.get(DEFAULT_USER);
        debug_assert!(user.is_some(), "the default user cannot be deleted");
        match user {
            Some(u) => u.clone(),
            None => Arc::new(User::new(DEFAULT_USER)),
        }
    }

    /// The one credentials check of every listener (AUTH, HELLO AUTH, the binary handshake):
    /// the user when it exists, is on, and the password is one of its own (or it is nopass).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.get(name)?;
        user.password_ok(password).then_some(user)
    }

    /// Every user, by name (ACL LIST / USERS order, as Redis's radix tree).
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// ACL SETUSER: creates `name` or changes it, all rules or none.
    pub fn set_user(&self, name: &[u8], ops: &[&[u8]]) -> Result<(), String> {
        let mut users = self.users.write();
        let mut user = match users.get(name) {
            Some(u) => (**u).clone(),
            None => User::new(name),
        };
        user.apply_all(self.commands, ops)?;
        users.insert(name.to_vec(), Arc::new(user));
        self.changed(&users);
        Ok(())
    }

    /// ACL DELUSER: removes the users that exist; returns their names. `default` is refused
    /// by the caller (Redis checks every name before deleting any).
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut users = self.users.write();
        let removed: Vec<Vec<u8>> = names
            .iter()
            .filter(|n| **n != DEFAULT_USER)
            .filter_map(|n| users.remove(*n).map(|_| n.to_vec()))
            .collect();
        self.changed(&users);
        removed
    }

    /// CONFIG SET requirepass (Redis's `ACLUpdateDefaultUserPassword`).
    pub fn set_default_password(&self, password: Option<&str>) {
        let mut users = self.users.write();
        let mut user = match users.get(DEFAULT_USER) {
            Some(u) => (**u).clone(),
            None => User::default_user(self.commands),
        };
        set_password(self.commands, &mut user, password);
        users.insert(DEFAULT_USER.to_vec(), Arc::new(user));
        self.changed(&users);
    }

    fn changed(&self, users: &BTreeMap<Vec<u8>, Arc<User>>) {
        if let Some(d) = users.get(DEFAULT_USER) {
            self.default_requires_auth
                .store(!d.nopass || !d.enabled, Ordering::Relaxed);
            self.default_nopass.store(d.nopass, Ordering::Relaxed);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

fn set_password(commands: &CommandSet, user: &mut User, password: Option<&str>) {
    let mut ops = vec![b"resetpass".to_vec()];
    match password {
        Some(p) => ops.push([b">", p.as_bytes()].concat()),
        None => ops.push(b"nopass".to_vec()),
    }
    for op in ops {
        let applied = user.apply(commands, &op);
        debug_assert!(applied.is_ok());
    }
}

/// One `[security] users` entry: `NAME RULE...`. A `default` entry changes the default user
/// from `reset`, as Redis loads a `user default ...` line.
fn parse_user_line(
    commands: &CommandSet,
    line: &str,
    existing: &BTreeMap<Vec<u8>, User>,
) -> Result<(Vec<u8>, User), String> {
    let mut words = line.split_ascii_whitespace();
    let name = words.next().ok_or("empty entry: want NAME RULE...")?;
    let ops: Vec<&[u8]> = words.map(str::as_bytes).collect();
    let mut user = match existing.get(name.as_bytes()) {
        Some(u) if name.as_bytes() == DEFAULT_USER => {
            let mut u = u.clone();
            let reset = u.apply(commands, b"reset");
            debug_assert!(reset.is_ok());
            u
        }
        _ => User::new(name.as_bytes()),
    };
    user.apply_all(commands, &ops)?;
    Ok((name.as_bytes().to_vec(), user))
}

#[cfg(test)]
mod tests;
