//! A selector: what a user may run (a bitmap over command ids, plus Redis's "first argument"
//! exceptions) and which keys and channels it may name. A user has a root selector and any
//! number of extra ones (`(...)` rules); a command is allowed when any selector allows it.

use super::commands::{AclCommand, CommandSet, WORDS};
use super::RuleError;

/// A key pattern with the access it grants (`~p` both, `%R~p` read, `%W~p` write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    /// Redis's `sdsCatPatternString`.
    pub fn describe(&self) -> String {
        let prefix = match (self.read, self.write) {
            (true, true) => "~",
            (true, false) => "%R~",
            _ => "%W~",
        };
        format!("{prefix}{}", String::from_utf8_lossy(&self.pattern))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Bit `id` set = the command with that table id may run.
    pub allowed: [u64; WORDS],
    /// Redis's SELECTOR_FLAG_ALLCOMMANDS: set by `+@all`, cleared when any bit is cleared; lets
    /// the check skip the bitmap.
    pub all_commands: bool,
    /// Redis's reserved "future commands" bit: set by `+@all`, cleared by `-@all` only. Rule
    /// descriptions start from `+@all` when it is set.
    pub future: bool,
    /// `+select|0`: first arguments allowed for an otherwise denied command, by command id.
    pub first_args: Vec<(u16, Vec<Vec<u8>>)>,
    pub all_keys: bool,
    pub patterns: Vec<KeyPattern>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
}

impl Default for Selector {
    fn default() -> Self {
        Selector {
            allowed: [0; WORDS],
            all_commands: false,
            future: false,
            first_args: Vec::new(),
            all_keys: false,
            patterns: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&c| c.is_ascii_whitespace() || c == 0)
}

impl Selector {
    pub fn bit(&self, id: u16) -> bool {
        let id = usize::from(id);
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: u16, on: bool) {
        let id = usize::from(id);
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Redis's `ACLChangeSelectorPerm`: a container's rule covers its subcommands.
    pub fn change(&mut self, cmd: &AclCommand, on: bool) {
        self.set_bit(cmd.id, on);
        self.first_args.retain(|(id, _)| *id != cmd.id);
        for &sub in &cmd.subcommands {
            self.set_bit(sub, on);
        }
    }

    /// `+@cat` / `-@cat` over every command (subcommands included) in the category.
    pub fn change_category(&mut self, set: &CommandSet, mask: u64, on: bool) {
        for cmd in &set.commands {
            if cmd.categories & mask != 0 {
                self.change(cmd, on);
            }
        }
    }

    pub fn all(&mut self, on: bool) {
        self.allowed = if on { [u64::MAX; WORDS] } else { [0; WORDS] };
        self.all_commands = on;
        self.future = on;
        self.first_args.clear();
    }

    /// Applies one selector rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, set: &CommandSet, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all(true);
        } else if is("nocommands") || is("-@all") {
            self.all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op.len() > 1 && (op[0] == b'+' || op[0] == b'-') && op[1] == b'@' {
            let mask = std::str::from_utf8(&op[2..])
                .ok()
                .and_then(super::categories::bit)
                .ok_or(RuleError::UnknownCommand)?;
            self.change_category(set, mask, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(set, &op[1..])?;
        } else if op[0] == b'-' {
            let cmd = set.find(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(cmd, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        let (mut read, mut write, mut offset) = (true, true, 1);
        if op[0] == b'%' {
            (read, write) = (false, false);
            let mut ok = true;
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if !read => read = true,
                    b'W' if !write => write = true,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
                offset += 1;
            }
            if !ok || !(read || write) {
                return Err(RuleError::Syntax);
            }
        }
        let pattern = &op[offset.min(op.len())..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
            Some(p) => {
                p.read |= read;
                p.write |= write;
            }
            None => self.patterns.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    /// `+cmd`, `+container|sub`, or `+cmd|firstarg` (Redis's deprecated first-argument rule).
    fn allow_command(&mut self, set: &CommandSet, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let cmd = set.find(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cmd, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let cmd = set.find(base).ok_or(RuleError::UnknownCommand)?;
        if cmd.parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !cmd.subcommands.is_empty() {
            let sub = set.find(name).ok_or(RuleError::UnknownCommand)?;
            self.change(sub, true);
            return Ok(());
        }
        let id = cmd.id;
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, list)) => {
                if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                    list.push(sub.to_vec());
                }
            }
            None => self.first_args.push((id, vec![sub.to_vec()])),
        }
        Ok(())
    }

    /// Whether the bitmap, or a first-argument exception, lets command `id` run with `args`.
    pub fn allows_command(&self, id: u16, is_subcommand: bool, args: &[&[u8]]) -> bool {
        if self.all_commands || self.bit(id) {
            return true;
        }
        let idx = if is_subcommand { 2 } else { 1 };
        let Some(arg) = args.get(idx) else {
            return false;
        };
        self.first_args
            .iter()
            .find(|(i, _)| *i == id)
            .is_some_and(|(_, list)| list.iter().any(|a| a.eq_ignore_ascii_case(arg)))
    }

    /// Redis's `ACLSelectorCheckKey`: `read`/`write` are the access the command's key spec asks.
    pub fn allows_key(&self, key: &[u8], read: bool, write: bool) -> bool {
        self.all_keys
            || self.patterns.iter().any(|p| {
                (p.read || !read)
                    && (p.write || !write)
                    && crate::cache::glob::glob_match(&p.pattern, key, false)
            })
    }
}
