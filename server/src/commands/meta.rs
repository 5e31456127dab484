//! Types describing commands for COMMAND INFO / COMMAND DOCS (data in `catalog.rs`).

/// One command or subcommand as Redis 7 documents it.
pub struct CommandDoc {
    /// Lowercase; subcommands are `container|name`.
    pub name: &'static str,
    pub container: Option<&'static str>,
    /// Redis arity: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub acl: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub args: &'static [Arg],
    pub subcommands: &'static [CommandDoc],
}

pub struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin: BeginSearch,
    pub find: FindKeys,
}

pub enum BeginSearch {
    Index(i32),
    Keyword(&'static str, i32),
    Unknown,
}

pub enum FindKeys {
    Range { last: i32, step: i32, limit: i32 },
    Keynum { index: i32, first: i32, step: i32 },
    Unknown,
}

/// A documented argument (COMMAND DOCS `arguments`, used by redis-cli for hints).
pub struct Arg {
    pub name: &'static str,
    pub kind: &'static str,
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    pub args: &'static [Arg],
}

impl CommandDoc {
    /// Does `argc` (name included) satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandDoc> {
        let subcommands: &'static [CommandDoc] = self.subcommands;
        subcommands.iter().find(|s| {
            let short = s.name.rsplit('|').next().unwrap_or(s.name);
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }
}
