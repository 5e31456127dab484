//! The commands ACL rules speak about: each command and subcommand with its table id, full name
//! and categories. The command table builds this once (`commands::acl_commands`) and hands it to
//! whatever applies rules; keeping it a plain value keeps `acl` independent of the table.

use super::categories;
use hashbrown::HashMap;

/// How many command ids a permission bitmap covers (the table's id space).
pub const MAX_COMMANDS: usize = crate::stats::MAX_COMMANDS;
/// Words of a permission bitmap.
pub const WORDS: usize = MAX_COMMANDS.div_ceil(64);

/// One command or subcommand.
#[derive(Debug)]
pub struct AclCommand {
    pub id: u16,
    /// Lowercase full name: `get`, `config|get`.
    pub name: &'static str,
    /// Bit `i` set = member of `categories::NAMES[i]`.
    pub categories: u64,
    /// For a container: the ids of its subcommands (a rule on the container covers them).
    pub subcommands: Vec<u16>,
    /// Set for a subcommand.
    pub parent: Option<u16>,
}

/// Every command, containers followed by their subcommands (Redis's iteration shape).
#[derive(Debug, Default)]
pub struct CommandSet {
    pub commands: Vec<AclCommand>,
    by_name: HashMap<String, usize>,
}

impl CommandSet {
    /// `entries`: (id, full name, ACL category names like "@read", parent id).
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (u16, &'static str, &'a [&'static str], Option<u16>)>,
    ) -> Self {
        let mut set = CommandSet::default();
        for (id, name, acl, parent) in entries {
            assert!(usize::from(id) < MAX_COMMANDS, "raise stats::MAX_COMMANDS");
            let mut mask = 0;
            for c in acl {
                let bit = categories::bit(c.trim_start_matches('@'));
                debug_assert!(bit.is_some(), "{name}: unknown ACL category {c}");
                mask |= bit.unwrap_or(0);
            }
            if let Some(p) = parent {
                if let Some(&i) = set.by_name.get(parent_name(name)) {
                    debug_assert_eq!(set.commands[i].id, p);
                    set.commands[i].subcommands.push(id);
                }
            }
            set.by_name.insert(name.to_string(), set.commands.len());
            set.commands.push(AclCommand {
                id,
                name,
                categories: mask,
                subcommands: Vec::new(),
                parent,
            });
        }
        set
    }

    /// The command or `container|sub` named `name`, any case.
    pub fn find(&self, name: &[u8]) -> Option<&AclCommand> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        self.by_name.get(&lower).map(|&i| &self.commands[i])
    }

    pub fn by_id(&self, id: u16) -> Option<&AclCommand> {
        self.commands.iter().find(|c| c.id == id)
    }
}

fn parent_name(full: &str) -> &str {
    full.split('|').next().unwrap_or(full)
}
