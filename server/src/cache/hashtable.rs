//! What the hashtable encodings of hashes and sets share: the allocator overhead counted per
//! separate allocation, the size up to which a table's capacity is kept exact, and the order
//! HSCAN/SSCAN walk a table in.

/// What the allocator adds to each separate allocation (glibc's header, rounded).
pub const ALLOC_OVERHEAD: usize = 16;

/// Up to this many elements a hashtable keeps its capacity exact (shrinking after each
/// change, O(n) for small n): small tables are the common case and their growth slack would
/// otherwise be a third of their memory.
pub const EXACT_CAPACITY_UP_TO: usize = 128;

/// One step of a SCAN over a hashtable-encoded collection, whose order changes as it is
/// modified (swap-removal moves entries), so positions cannot be cursors. Instead elements
/// are visited in the order of their 63-bit hashes: a step returns the smallest hashes at or
/// above `cursor` (every element sharing the last hash too), and the next cursor is the last
/// hash + 1, or 0 when nothing is left. An element present for the whole scan is returned,
/// since its hash never changes. A step costs O(n), so it returns at least n/16 elements
/// (COUNT is a hint, as in Redis): a whole scan is about 16 steps, O(n) work in all.
pub fn scan_step<T: Copy>(
    items: impl Iterator<Item = T>,
    hash: impl Fn(&T) -> u64,
    len: usize,
    cursor: u64,
    count: usize,
) -> (u64, Vec<T>) {
    let mut candidates: Vec<(u64, T)> = items
        .map(|t| (hash(&t) >> 1, t))
        .filter(|(h, _)| *h >= cursor)
        .collect();
    let want = count.max(len / 16).max(1);
    if candidates.len() <= want {
        return (0, candidates.into_iter().map(|(_, t)| t).collect());
    }
    candidates.select_nth_unstable_by_key(want - 1, |(h, _)| *h);
    let last = candidates[want - 1].0;
    let mut out: Vec<(u64, T)> = candidates.drain(..want).collect();
    // Elements with the same hash as the last one go in this step too.
    out.extend(candidates.iter().filter(|(h, _)| *h == last).copied());
    let more = candidates.iter().any(|(h, _)| *h > last);
    let next = if more { last + 1 } else { 0 };
    (next, out.into_iter().map(|(_, t)| t).collect())
}
