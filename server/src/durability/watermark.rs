//! Which effects of each partition are on disk: the durable watermark.
//!
//! Every commit that changed partition `p` numbers its effects `seq` = 1, 2, 3, ... (see
//! `ledger::effects`), and the worker that executed it writes them to its own write-ahead log.
//! Usually that is `p`'s owner, but a batch spanning several owners runs on the worker that
//! received it, so `p`'s parts can sit in two logs and become durable out of order.
//! `durable(p)` is the highest `s` such that every part `1..=s` of `p` is on disk; parts that
//! became durable ahead of a gap wait in `ahead` until it closes.
//!
//! A reply may leave only when every partition is durable up to the seq it had when the reply
//! was computed ([`Watermarks::covers`]): then nothing the reply reveals (its own effects,
//! or another batch's that it observed) can be lost. Recovery relies on the same rule from the
//! other side: it applies each partition's parts up to its first gap and drops what follows,
//! which no client was ever told about.

use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

struct Partition {
    /// Every seq up to here is durable (the published copy is `durable`).
    through: u64,
    /// Durable seqs above a gap.
    ahead: BTreeSet<u64>,
}

pub struct Watermarks {
    durable: Box<[AtomicU64]>,
    parts: Box<[Mutex<Partition>]>,
    /// Workers (bit = index % 64) with replies waiting for a watermark: woken when one moves.
    waiters: AtomicU64,
}

impl Watermarks {
    /// `start[p]`: the seq each partition was recovered up to (all durable).
    pub fn new(start: &[u64]) -> Watermarks {
        Watermarks {
            durable: start.iter().map(|&s| AtomicU64::new(s)).collect(),
            parts: start
                .iter()
                .map(|&s| {
                    Mutex::new(Partition {
                        through: s,
                        ahead: BTreeSet::new(),
                    })
                })
                .collect(),
            waiters: AtomicU64::new(0),
        }
    }

    pub fn durable(&self, p: usize) -> u64 {
        self.durable[p].load(Ordering::Acquire)
    }

    /// Whether every partition is durable up to `seqs[p]` (a snapshot of the ledger's effect
    /// seqs taken after the reply was computed).
    pub fn covers(&self, seqs: &[u64]) -> bool {
        debug_assert_eq!(seqs.len(), self.durable.len());
        seqs.iter()
            .zip(self.durable.iter())
            .all(|(&s, d)| d.load(Ordering::Acquire) >= s)
    }

    /// Parts `(partition, seq)` are on disk now. Returns whether a watermark moved.
    pub fn mark_durable(&self, parts: impl IntoIterator<Item = (usize, u64)>) -> bool {
        let mut moved = false;
        for (p, seq) in parts {
            let mut part = self.parts[p].lock();
            debug_assert!(
                seq > part.through,
                "partition {p} seq {seq} made durable twice"
            );
            if seq != part.through + 1 {
                part.ahead.insert(seq);
                continue;
            }
            part.through = seq;
            while part.ahead.first() == Some(&(part.through + 1)) {
                part.ahead.pop_first();
                part.through += 1;
            }
            self.durable[p].store(part.through, Ordering::Release);
            moved = true;
        }
        moved
    }

    /// Worker `w` has replies waiting: wake it when a watermark moves. Set before the waiting
    /// replies are checked again, so a move between the check and the wait is not missed.
    pub fn add_waiter(&self, w: usize) {
        self.waiters.fetch_or(1 << (w % 64), Ordering::SeqCst);
    }

    /// The workers to wake after a watermark moved (the set is emptied: each re-registers if
    /// it still waits).
    pub fn take_waiters(&self) -> u64 {
        self.waiters.swap(0, Ordering::SeqCst)
    }

    /// Checks the invariants (tests).
    pub fn verify(&self) -> Result<(), String> {
        for (p, part) in self.parts.iter().enumerate() {
            let part = part.lock();
            if self.durable(p) != part.through {
                return Err(format!("partition {p}: published watermark lags"));
            }
            if part.ahead.first().is_some_and(|&s| s <= part.through + 1) {
                return Err(format!("partition {p}: a seq ahead of the gap is not"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_parts_move_the_watermark() {
        let w = Watermarks::new(&[0, 5]);
        assert!(w.covers(&[0, 5]));
        assert!(!w.covers(&[1, 5]));
        assert!(w.mark_durable([(0, 1), (0, 2), (1, 6)]));
        assert_eq!((w.durable(0), w.durable(1)), (2, 6));
        assert!(w.covers(&[2, 6]));
        w.verify().unwrap();
    }

    #[test]
    fn a_part_ahead_of_a_gap_waits_for_it() {
        let w = Watermarks::new(&[0]);
        // Seq 2 (another worker's log) lands before seq 1.
        assert!(!w.mark_durable([(0, 2)]));
        assert_eq!(w.durable(0), 0);
        assert!(!w.covers(&[2]));
        w.verify().unwrap();
        assert!(w.mark_durable([(0, 1)]));
        assert_eq!(w.durable(0), 2);
        assert!(w.covers(&[2]));
        w.verify().unwrap();
    }

    #[test]
    fn waiters_are_taken_once() {
        let w = Watermarks::new(&[0]);
        w.add_waiter(1);
        w.add_waiter(3);
        assert_eq!(w.take_waiters(), 0b1010);
        assert_eq!(w.take_waiters(), 0);
    }
}
