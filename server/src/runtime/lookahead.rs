//! Prefetching ahead of a pipelined batch: before a worker runs the requests of a delivery one
//! by one, it peeks at the next few, hashes their keys and prefetches the store's buckets for
//! them in two steps (the tables' locations, then the buckets). A batch of lookups then waits
//! for its cache misses together instead of one after another.

use crate::cache::Store;
use protocol::resp::peek_request;

/// Keys prefetched per look-ahead: enough to keep the CPU's outstanding misses busy.
const KEYS: usize = 16;
/// Requests looked at per look-ahead (bounds the work when few of them have a key).
const REQUESTS: usize = 64;

/// Prefetches for the requests at the front of `data` (database `db`); returns how many bytes
/// of requests it covered (0 when the first is not a whole plain multibulk request).
pub(crate) fn prefetch_ahead(store: &Store, db: usize, data: &[u8]) -> usize {
    let mut hashes = [0u64; KEYS];
    let mut keys = 0;
    let mut pos = 0;
    for _ in 0..REQUESTS {
        if keys == KEYS {
            break;
        }
        let Some(request) = data.get(pos..).and_then(peek_request) else {
            break;
        };
        pos += request.len;
        if let Some(key) = request.key {
            let hash = store.key_hash(key);
            store.prefetch_table(db, hash);
            hashes[keys] = hash;
            keys += 1;
        }
    }
    for &hash in &hashes[..keys] {
        store.prefetch_bucket(db, hash);
    }
    pos
}
