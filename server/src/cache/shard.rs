//! One shard of the store: per-database hash maps of the keys that hash here, with the shard's
//! memory estimate and count of keys with an expiry kept exact under the shard's lock.

use super::entry::{Entry, Value};
use super::glob::glob_match;
use super::table::{Key, KeyHasher, Table};

pub struct Shard {
    /// One table per database; never resized, so each table's address is stable (the store
    /// prefetches it).
    pub dbs: Vec<Table>,
    /// Keys with an expiry, per database.
    pub volatile: Vec<usize>,
    /// Sum of `Entry::footprint` over all keys here.
    pub used: usize,
}

/// What a removal or replacement changed, for the store-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub bytes: i64,
    pub volatile: i64,
}

impl Shard {
    pub fn new(databases: usize, hasher: KeyHasher) -> Shard {
        Shard {
            dbs: (0..databases).map(|_| Table::new(hasher.clone())).collect(),
            volatile: vec![0; databases],
            used: 0,
        }
    }

    fn account(
        &mut self,
        db: usize,
        key_len: usize,
        old: Option<&Entry>,
        new: Option<&Entry>,
    ) -> Delta {
        let size = |e: Option<&Entry>| e.map_or(0, |e| e.footprint(key_len)) as i64;
        let vol = |e: Option<&Entry>| i64::from(e.is_some_and(Entry::is_volatile));
        let delta = Delta {
            bytes: size(new) - size(old),
            volatile: vol(new) - vol(old),
        };
        self.used = (self.used as i64 + delta.bytes) as usize;
        self.volatile[db] = (self.volatile[db] as i64 + delta.volatile) as usize;
        delta
    }

    /// Removes `key` (whose hash is `hash`) if it has expired; returns whether it did.
    pub fn expire_if_due(
        &mut self,
        db: usize,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Option<Delta> {
        let table = &mut self.dbs[db];
        let i = table.find(hash, key)?;
        if !table.at_mut(i).is_some_and(|e| e.is_expired(now_ms)) {
            return None;
        }
        let (k, e) = table.remove_at(i)?;
        Some(self.account(db, k.len(), Some(&e), None))
    }

    /// Takes the live entry out of the map (expired ones are dropped, reported in the delta),
    /// runs `f` on it, and puts back whatever `f` leaves. Returns f's result, the accounting
    /// delta, and whether an expired entry was dropped.
    pub fn update<R>(
        &mut self,
        db: usize,
        hash: u64,
        key: &[u8],
        now_ms: u64,
        f: impl FnOnce(&mut Option<Entry>) -> R,
    ) -> (R, Delta, bool) {
        // A live key is changed in place: one probe instead of a removal and a re-insertion.
        let table = &mut self.dbs[db];
        let found = table.find(hash, key);
        if let Some(e) = found
            .and_then(|i| table.at_mut(i))
            .filter(|e| !e.is_expired(now_ms))
        {
            let old = std::mem::replace(e, Entry::new(Value::Int(0)));
            let (old_bytes, old_volatile) = (old.footprint(key.len()), old.is_volatile());
            let mut slot = Some(old);
            let result = f(&mut slot);
            let (new_bytes, new_volatile) = match slot {
                Some(entry) => {
                    let size = (entry.footprint(key.len()), entry.is_volatile());
                    *e = entry;
                    size
                }
                None => {
                    if let Some(i) = found {
                        table.remove_at(i);
                    }
                    (0, false)
                }
            };
            let delta = Delta {
                bytes: new_bytes as i64 - old_bytes as i64,
                volatile: i64::from(new_volatile) - i64::from(old_volatile),
            };
            self.used = (self.used as i64 + delta.bytes) as usize;
            self.volatile[db] = (self.volatile[db] as i64 + delta.volatile) as usize;
            return (result, delta, false);
        }
        let taken = found.and_then(|i| self.dbs[db].remove_at(i));
        let mut expired = false;
        // An expired entry is gone before `f` sees the key.
        let (stored_key, mut slot, mut delta) = match taken {
            Some((k, e)) if e.is_expired(now_ms) => {
                expired = true;
                let d = self.account(db, k.len(), Some(&e), None);
                (Some(k), None, d)
            }
            Some((k, e)) => {
                // Taken out and maybe put back: account as a removal now, re-add below.
                let d = self.account(db, k.len(), Some(&e), None);
                (Some(k), Some(e), d)
            }
            None => (None, None, Delta::default()),
        };
        let result = f(&mut slot);
        if let Some(entry) = slot {
            let d = self.account(db, key.len(), None, Some(&entry));
            delta.bytes += d.bytes;
            delta.volatile += d.volatile;
            let k = stored_key.unwrap_or_else(|| Key::from_slice(key));
            self.dbs[db].insert_new(hash, k, entry);
        }
        (result, delta, expired)
    }

    /// Removes every key of `db`; returns the accounting delta.
    pub fn clear(&mut self, db: usize) -> Delta {
        let bytes: usize = self.dbs[db].iter().map(|(k, e)| e.footprint(k.len())).sum();
        let volatile = self.volatile[db];
        self.dbs[db].clear();
        self.volatile[db] = 0;
        self.used -= bytes;
        Delta {
            bytes: -(bytes as i64),
            volatile: -(volatile as i64),
        }
    }

    /// Appends the live keys of `db` matching `pattern` (all when None).
    pub fn collect_keys(
        &self,
        db: usize,
        pattern: Option<&[u8]>,
        now_ms: u64,
        out: &mut Vec<Vec<u8>>,
    ) {
        for (k, e) in &self.dbs[db] {
            if e.is_expired(now_ms) {
                continue;
            }
            if pattern.is_none_or(|p| glob_match(p, k, false)) {
                out.push(k.to_vec());
            }
        }
    }

    /// Drops the expired keys of every database that has volatile keys; returns the number
    /// removed and the accounting delta.
    pub fn sweep_expired(&mut self, now_ms: u64) -> (usize, Delta) {
        let mut removed = 0;
        let mut delta = Delta::default();
        for db in 0..self.dbs.len() {
            if self.volatile[db] == 0 {
                continue;
            }
            let mut freed = 0usize;
            let mut vol = 0usize;
            self.dbs[db].retain(|k, e| {
                if e.is_expired(now_ms) {
                    freed += e.footprint(k.len());
                    vol += 1;
                    false
                } else {
                    true
                }
            });
            self.used -= freed;
            self.volatile[db] -= vol;
            removed += vol;
            delta.bytes -= freed as i64;
            delta.volatile -= vol as i64;
        }
        (removed, delta)
    }

    /// Checks the shard's bookkeeping against a recount (for tests).
    pub fn verify(&self) -> Result<(), String> {
        let used: usize = self
            .dbs
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, e)| e.footprint(k.len()))
            .sum();
        if used != self.used {
            return Err(format!("shard memory {} != recount {used}", self.used));
        }
        // Thresholds may have changed since a collection was built, so only its structure and
        // byte estimate are checked here.
        let any = super::Limits {
            hash_max_listpack_entries: usize::MAX,
            hash_max_listpack_value: usize::MAX,
            set_max_intset_entries: usize::MAX,
            zset_max_listpack_entries: usize::MAX,
            zset_max_listpack_value: usize::MAX,
        };
        for (db, m) in self.dbs.iter().enumerate() {
            m.verify().map_err(|e| format!("db {db}: {e}"))?;
            for (k, e) in m {
                let checked = match &e.value {
                    Value::Hash(h) => h.verify(&any),
                    Value::Set(s) => s.verify(&any),
                    Value::ZSet(z) => z.verify(&any),
                    _ => Ok(()),
                };
                checked.map_err(|err| format!("db {db} key {:?}: {err}", k.as_slice()))?;
            }
            let vol = m.values().filter(|e| e.is_volatile()).count();
            if vol != self.volatile[db] {
                return Err(format!(
                    "db {db}: volatile count {} != recount {vol}",
                    self.volatile[db]
                ));
            }
        }
        Ok(())
    }
}
