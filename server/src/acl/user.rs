//! A user: flags, password hashes and selectors, and Redis's ACL SETUSER rules on them.

use super::commands::CommandSet;
use super::selector::Selector;
use super::RuleError;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    /// `on` / `off` (a new user is off).
    pub enabled: bool,
    /// `nopass`: any password authenticates.
    pub nopass: bool,
    /// `sanitize-payload` (Some(true)) / `skip-sanitize-payload` (Some(false)); a new user
    /// has neither flag, as in Redis. Stored for ACL LIST only: there is no RESTORE.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hashes, lowercase hex, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then the `(...)` ones.
    pub selectors: Vec<Selector>,
}

/// SHA-256 of `password` as 64 lowercase hex characters (Redis's `ACLHashPassword`).
pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl User {
    /// A new user as Redis creates one: off, no passwords, no permissions.
    pub fn new(name: &[u8]) -> Self {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            selectors: vec![Selector::default()],
        }
    }

    /// Redis's default user: `on nopass ~* &* +@all`.
    pub fn default_user(set: &CommandSet) -> Self {
        let mut u = User::new(b"default");
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let applied = u.apply(set, op.as_bytes());
            debug_assert!(applied.is_ok());
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Whether `password` authenticates this user (enabled, and nopass or a matching hash).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        // Every hash is compared, so the time does not say which one matched.
        self.passwords.iter().fold(false, |ok, h| {
            same_hash(h.as_bytes(), hashed.as_bytes()) | ok
        })
    }

    /// Applies a list of rules all or nothing (Redis's `ACLStringSetUser`): selector rules
    /// split over several words (`(+get`, `~k)`) are joined first.
    pub fn apply_all(&mut self, set: &CommandSet, ops: &[&[u8]]) -> Result<(), String> {
        let merged = merge_selector_args(ops)?;
        let mut staged = self.clone();
        for op in &merged {
            staged.apply(set, op).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.message()
                )
            })?;
        }
        *self = staged;
        Ok(())
    }

    /// Applies one rule (Redis's `ACLSetUser`).
    pub fn apply(&mut self, set: &CommandSet, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize_payload = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize_payload = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let before = self.passwords.len();
            self.passwords.retain(|h| *h != hash);
            if self.passwords.len() == before {
                return Err(RuleError::NoSuchPassword);
            }
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::default();
            let inner = String::from_utf8_lossy(&op[1..op.len() - 1]).into_owned();
            for word in inner.split_ascii_whitespace() {
                selector.apply(set, word.as_bytes())?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for step in [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "off",
                "sanitize-payload",
                "clearselectors",
                "-@all",
            ] {
                self.apply(set, step.as_bytes())?;
            }
        } else {
            self.selectors[0].apply(set, op)?;
        }
        Ok(())
    }
}

/// Redis's `ACLMergeSelectorArguments`: `(` ... `)` spread over several words become one rule.
fn merge_selector_args(ops: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::with_capacity(ops.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, op) in ops.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    if let Some((i, _)) = open {
        return Err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(ops[i])
        ));
    }
    Ok(out)
}
