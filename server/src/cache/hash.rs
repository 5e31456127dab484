//! A hash value: field -> value, in Redis 7.0's two encodings. Small hashes are a listpack of
//! alternating fields and values (insertion order, as Redis's); a hash that gets more than
//! `hash-max-listpack-entries` fields, or a field or value longer than
//! `hash-max-listpack-value` bytes, becomes a hashtable and stays one (Redis never converts
//! back).
//!
//! The hashtable is an `IndexMap`: besides lookups it gives O(1) access by position, which
//! HRANDFIELD needs to pick fairly, and O(1) swap-removal.
//!
//! Memory: [`Hash::heap_size`] is O(1). A listpack's is its buffer; a hashtable's is its
//! table's capacity times a per-slot cost plus `payload`, the bytes of its fields and values
//! (and an allocator overhead per allocation), which every mutation adjusts.

use super::hashtable::{scan_step, ALLOC_OVERHEAD, EXACT_CAPACITY_UP_TO};
use super::listpack::Listpack;
use super::short::Short;
use super::Limits;
use indexmap::IndexMap;

type Map = IndexMap<Short, Short, foldhash::fast::RandomState>;

/// A field and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

#[derive(Clone, Debug)]
pub enum Hash {
    /// Fields and values alternating; `len` is the number of fields.
    Listpack {
        lp: Listpack,
        len: u32,
    },
    Table(Box<HashTable>),
}

#[derive(Clone, Debug)]
pub struct HashTable {
    map: Map,
    /// Sum of [`pair_cost`] over the entries.
    payload: usize,
}

/// Bytes per slot of a hashtable's capacity: the entry (hash, field, value), its index and
/// its control byte.
const TABLE_SLOT: usize = std::mem::size_of::<(u64, Short, Short)>() + 8 + 1;

/// The heap bytes one field/value pair of a hashtable owns beyond its slot.
fn pair_cost(field: &[u8], value: &[u8]) -> usize {
    Short::heap_cost(field.len()) + Short::heap_cost(value.len())
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::Listpack {
            lp: Listpack::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack { len, .. } => *len as usize,
            Hash::Table(t) => t.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack { .. } => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Listpack { lp, .. } => lp.heap_size(),
            Hash::Table(t) => {
                std::mem::size_of::<HashTable>()
                    + ALLOC_OVERHEAD
                    + t.map.capacity() * TABLE_SLOT
                    + t.payload
            }
        }
    }

    /// The listpack position of `field`'s entry (its value follows it).
    fn find_in_listpack(lp: &Listpack, field: &[u8]) -> Option<usize> {
        let mut it = lp.iter();
        while let Some((pos, f)) = it.next() {
            if f == field {
                return Some(pos);
            }
            it.next();
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack { lp, .. } => {
                let mut it = lp.iter();
                while let Some((_, f)) = it.next() {
                    let v = it.next().map(|(_, v)| v);
                    if f == field {
                        return v;
                    }
                }
                None
            }
            Hash::Table(t) => t.map.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a hashtable first when
    /// either is too long for a listpack, and after when the listpack has too many fields.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if let Hash::Listpack { .. } = self {
            let max = limits.hash_max_listpack_value;
            if field.len() > max || value.len() > max {
                self.convert();
            }
        }
        let added = match self {
            Hash::Listpack { lp, len } => match Hash::find_in_listpack(lp, field) {
                Some(pos) => {
                    let value_pos = pos + Listpack::entry_size(field.len());
                    lp.replace(value_pos, value);
                    false
                }
                None => {
                    lp.push_all(&[field, value]);
                    *len += 1;
                    true
                }
            },
            Hash::Table(t) => {
                let cost = pair_cost(field, value);
                match t.map.get_mut(field) {
                    Some(v) => {
                        t.payload = t.payload - pair_cost(field, v) + cost;
                        *v = Short::new(value);
                        false
                    }
                    None => {
                        t.map.insert(Short::new(field), Short::new(value));
                        t.payload += cost;
                        if t.map.len() <= EXACT_CAPACITY_UP_TO {
                            t.map.shrink_to_fit();
                        }
                        true
                    }
                }
            }
        };
        if let Hash::Listpack { len, .. } = self {
            if *len as usize > limits.hash_max_listpack_entries {
                self.convert();
            }
        }
        added
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack { lp, len } => match Hash::find_in_listpack(lp, field) {
                Some(pos) => {
                    lp.remove(pos, 2);
                    *len -= 1;
                    true
                }
                None => false,
            },
            Hash::Table(t) => match t.map.swap_remove(field) {
                Some(v) => {
                    t.payload -= pair_cost(field, &v);
                    // Give memory back as the hash shrinks (Redis's dict shrinks too).
                    let len = t.map.len();
                    if len <= EXACT_CAPACITY_UP_TO || len * 8 < t.map.capacity() {
                        t.map.shrink_to_fit();
                    }
                    true
                }
                None => false,
            },
        }
    }

    /// Listpack to hashtable (never back).
    fn convert(&mut self) {
        let Hash::Listpack { lp, len } = self else {
            return;
        };
        let mut map = Map::with_capacity_and_hasher(*len as usize, Default::default());
        let mut payload = 0;
        let mut it = lp.iter();
        while let (Some((_, f)), Some((_, v))) = (it.next(), it.next()) {
            payload += pair_cost(f, v);
            map.insert(Short::new(f), Short::new(v));
        }
        *self = Hash::Table(Box::new(HashTable { map, payload }));
    }

    /// Every (field, value), in the hash's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Listpack { lp, .. } => {
                let mut it = lp.iter();
                Box::new(std::iter::from_fn(move || {
                    let (_, f) = it.next()?;
                    let (_, v) = it.next()?;
                    Some((f, v))
                }))
            }
            Hash::Table(t) => Box::new(t.map.iter().map(|(f, v)| (&**f, &**v))),
        }
    }

    /// The pair at position `i` (0..len): O(1) for a hashtable, linear in a listpack.
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack { .. } => self.iter().nth(i),
            Hash::Table(t) => t.map.get_index(i).map(|(f, v)| (&**f, &**v)),
        }
    }

    /// One HSCAN step. A listpack is returned whole with cursor 0, as Redis does; a
    /// hashtable is walked in the order of its fields' hashes (see `scan_step`).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        match self {
            Hash::Listpack { .. } => (0, self.iter().collect()),
            Hash::Table(t) => {
                let hasher = t.map.hasher();
                scan_step(
                    t.map.iter().map(|(f, v)| (&**f, &**v)),
                    |(f, _)| std::hash::BuildHasher::hash_one(hasher, f),
                    t.map.len(),
                    cursor,
                    count,
                )
            }
        }
    }

    /// Checks the encoding against `limits` (as they were while it was built), the listpack's
    /// structure, and the byte estimate against a recount (for tests).
    pub fn verify(&self, limits: &Limits) -> Result<(), String> {
        match self {
            Hash::Listpack { lp, len } => {
                let entries = lp.verify()?;
                if entries != 2 * *len as usize {
                    return Err(format!("listpack holds {entries} entries for {len} fields"));
                }
                if *len as usize > limits.hash_max_listpack_entries {
                    return Err(format!("listpack with {len} fields"));
                }
                if lp
                    .iter()
                    .any(|(_, b)| b.len() > limits.hash_max_listpack_value)
                {
                    return Err("listpack entry over hash-max-listpack-value".into());
                }
                let mut fields: Vec<&[u8]> = self.iter().map(|(f, _)| f).collect();
                fields.sort_unstable();
                if fields.windows(2).any(|w| w[0] == w[1]) {
                    return Err("duplicate field in listpack".into());
                }
            }
            Hash::Table(t) => {
                let payload: usize = t.map.iter().map(|(f, v)| pair_cost(f, v)).sum();
                if payload != t.payload {
                    return Err(format!("payload {} != recount {payload}", t.payload));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn limits(entries: usize, value: usize) -> Limits {
        Limits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..Limits::default()
        }
    }

    fn check(h: &Hash, model: &HashMap<Vec<u8>, Vec<u8>>, limits: &Limits, ever_big: bool) {
        h.verify(limits).unwrap();
        assert_eq!(h.len(), model.len());
        assert_eq!(h.encoding() == "hashtable", ever_big, "encoding");
        let got: HashMap<Vec<u8>, Vec<u8>> =
            h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(&got, model);
    }

    /// Random sets and removals against a HashMap, over many seeds and small thresholds so
    /// both encodings and the conversion are exercised; invariants after every mutation.
    #[test]
    fn matches_a_model_over_many_seeds() {
        for seed in 1..=300u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let l = limits(1 + (seed % 20) as usize, 4 + (seed % 13) as usize);
            let mut h = Hash::new();
            let mut model = HashMap::new();
            let mut ever_big = false;
            for _ in 0..200 {
                let r = next();
                let field = format!("f{}", r % 24).into_bytes();
                let vlen = (r >> 8) as usize % (l.hash_max_listpack_value + 3);
                let value = vec![b'a' + (r >> 20) as u8 % 26; vlen];
                if (r >> 40) % 3 == 0 {
                    assert_eq!(h.remove(&field), model.remove(&field).is_some());
                } else {
                    let added = h.set(&field, &value, &l);
                    assert_eq!(added, model.insert(field.clone(), value.clone()).is_none());
                    ever_big |= vlen > l.hash_max_listpack_value
                        || field.len() > l.hash_max_listpack_value
                        || model.len() > l.hash_max_listpack_entries;
                }
                assert_eq!(h.get(&field), model.get(&field).map(|v| v.as_slice()));
                check(&h, &model, &l, ever_big);
                let copy = h.clone();
                assert_eq!(copy.len(), h.len());
                copy.verify(&l).unwrap();
            }
        }
    }

    #[test]
    fn scan_returns_every_element_present_throughout() {
        let l = limits(4, 64);
        let mut h = Hash::new();
        for i in 0..500 {
            h.set(format!("k{i}").as_bytes(), b"v", &l);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            let (next, items) = h.scan(cursor, 10);
            let items: Vec<Vec<u8>> = items.iter().map(|(f, _)| f.to_vec()).collect();
            seen.extend(items);
            steps += 1;
            // Churn between steps: remove some fields from 400 up, add new ones.
            for i in (400..500).step_by(2) {
                h.remove(format!("k{i}").as_bytes());
            }
            h.set(format!("new{steps}").as_bytes(), b"v", &l);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..400 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
        assert!(steps > 2 && steps < 60, "{steps} steps");
    }
}
