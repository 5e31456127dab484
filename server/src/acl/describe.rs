//! Users back to rules: ACL LIST's lines and ACL GETUSER's fields, with Redis 7.0's algorithm
//! (`ACLDescribeSelectorCommandRules`): start from `+@all` or `-@all`, apply the best-fitting
//! categories while they fit, then single commands until the bitmap is exactly reproduced.

use super::categories;
use super::commands::CommandSet;
use super::selector::Selector;
use super::user::User;

/// The command rules that rebuild `s`'s bitmap, e.g. `-@all +@string -set`.
pub fn command_rules(set: &CommandSet, s: &Selector) -> String {
    let additive = !s.future;
    let mut rules = String::from(if additive { "-@all " } else { "+@all " });
    let mut fake = Selector::default();
    fake.all(!additive);
    // Categories are counted against what is left to explain: each one applied is undone here.
    let mut temp = s.clone();
    let mut applied = vec![false; categories::NAMES.len()];
    loop {
        let mut best = None;
        let (mut min_diff, mut max_same) = (u64::MAX, 0u64);
        for (j, name) in categories::NAMES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let mask = 1u64 << j;
            let (mut on, mut off) = (0u64, 0u64);
            for cmd in set.commands.iter().filter(|c| c.categories & mask != 0) {
                if temp.bit(cmd.id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some((j, *name, mask));
                min_diff = diff;
                max_same = same;
            }
        }
        let Some((j, name, mask)) = best else {
            break;
        };
        fake.change_category(set, mask, additive);
        temp.change_category(set, mask, !additive);
        rules.push_str(if additive { "+@" } else { "-@" });
        rules.push_str(name);
        rules.push(' ');
        applied[j] = true;
    }
    for cmd in &set.commands {
        let user_bit = s.bit(cmd.id);
        if user_bit != fake.bit(cmd.id) {
            rules.push(if user_bit { '+' } else { '-' });
            rules.push_str(cmd.name);
            rules.push(' ');
            fake.change(cmd, user_bit);
        }
        if !user_bit {
            if let Some((_, args)) = s.first_args.iter().find(|(id, _)| *id == cmd.id) {
                for a in args {
                    rules.push('+');
                    rules.push_str(cmd.name);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }
    rules.pop();
    debug_assert!(
        set.commands.iter().all(|c| fake.bit(c.id) == s.bit(c.id)),
        "the rules {rules:?} do not rebuild the bitmap"
    );
    rules
}

/// GETUSER's `keys` field: `~*`, or the patterns separated by spaces.
pub fn keys_field(s: &Selector) -> String {
    if s.all_keys {
        return "~*".into();
    }
    let list: Vec<String> = s.patterns.iter().map(|p| p.describe()).collect();
    list.join(" ")
}

/// GETUSER's `channels` field.
pub fn channels_field(s: &Selector) -> String {
    if s.all_channels {
        return "&*".into();
    }
    let list: Vec<String> = s
        .channels
        .iter()
        .map(|c| format!("&{}", String::from_utf8_lossy(c)))
        .collect();
    list.join(" ")
}

/// Redis's `ACLDescribeSelector`: keys, channels, then command rules.
fn selector(set: &CommandSet, s: &Selector) -> String {
    let mut out = String::new();
    if s.all_keys {
        out.push_str("~* ");
    } else {
        for p in &s.patterns {
            out.push_str(&p.describe());
            out.push(' ');
        }
    }
    if s.all_channels {
        out.push_str("&* ");
    } else {
        out.push_str("resetchannels ");
        for c in &s.channels {
            out.push('&');
            out.push_str(&String::from_utf8_lossy(c));
            out.push(' ');
        }
    }
    out.push_str(&command_rules(set, s));
    out
}

/// The user's flags in Redis's order.
pub fn flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize_payload {
        Some(false) => f.push("skip-sanitize-payload"),
        Some(true) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// Redis's `ACLDescribeUser`: the rules after `user <name>` in ACL LIST.
pub fn user_rules(set: &CommandSet, u: &User) -> String {
    let mut out = String::new();
    for f in flags(u) {
        out.push_str(f);
        out.push(' ');
    }
    for h in &u.passwords {
        out.push('#');
        out.push_str(h);
        out.push(' ');
    }
    for (i, s) in u.selectors.iter().enumerate() {
        if i == 0 {
            out.push_str(&selector(set, s));
        } else {
            out.push_str(&format!(" ({})", selector(set, s)));
        }
    }
    out
}

/// One ACL LIST line.
pub fn list_line(set: &CommandSet, u: &User) -> String {
    format!(
        "user {} {}",
        String::from_utf8_lossy(&u.name),
        user_rules(set, u)
    )
}
