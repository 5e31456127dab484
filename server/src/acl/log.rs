//! ACL LOG: refused commands, keys and logins, newest first, similar ones grouped (Redis 7.0's
//! `addACLLogEntry`: same reason, context, object and user within 60 s bump a count).

use parking_lot::Mutex;
use std::collections::VecDeque;

/// Redis's `acllog-max-len` default.
pub const MAX_ENTRIES: usize = 128;
/// Entries closer than this are grouped.
const GROUPING_MS: u64 = 60_000;
/// How many recent entries are searched for one to group with (Redis's bound).
const SCAN: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    /// The command's full name, the key, or (auth) the command that tried to log in.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix ms of the last occurrence.
    pub last_ms: u64,
    /// CLIENT INFO of the last client.
    pub client_info: String,
}

#[derive(Default)]
pub struct Log {
    entries: Mutex<VecDeque<Entry>>,
}

impl Log {
    pub fn add(&self, entry: Entry) {
        let mut entries = self.entries.lock();
        let similar = entries.iter().take(SCAN).position(|e| {
            e.reason == entry.reason
                && e.object == entry.object
                && e.username == entry.username
                && e.last_ms.abs_diff(entry.last_ms) <= GROUPING_MS
        });
        match similar.and_then(|i| entries.remove(i)) {
            Some(mut e) => {
                e.count += 1;
                e.last_ms = entry.last_ms;
                e.client_info = entry.client_info;
                entries.push_front(e);
            }
            None => {
                entries.push_front(entry);
                entries.truncate(MAX_ENTRIES);
            }
        }
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &str, ms: u64) -> Entry {
        Entry {
            count: 1,
            reason: Reason::Command,
            object: object.into(),
            username: b"u".to_vec(),
            last_ms: ms,
            client_info: format!("at {ms}"),
        }
    }

    #[test]
    fn similar_entries_are_grouped_and_moved_to_the_front() {
        let log = Log::default();
        log.add(entry("get", 0));
        log.add(entry("set", 1));
        log.add(entry("get", 2));
        let e = log.newest(10);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].object.as_slice(), e[0].count), (&b"get"[..], 2));
        assert_eq!(e[0].client_info, "at 2");
        log.add(entry("get", 2 + GROUPING_MS + 1));
        assert_eq!(log.newest(10).len(), 3, "too far apart to group");
        for i in 0..200 {
            log.add(entry(&format!("c{i}"), 0));
        }
        assert_eq!(log.newest(usize::MAX).len(), MAX_ENTRIES);
        log.reset();
        assert!(log.newest(10).is_empty());
    }
}
