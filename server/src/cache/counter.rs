//! A counter striped over cache lines, so writers on different cores rarely touch the same
//! line; reading sums the stripes (cheap: a handful of loads).

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicI64, Ordering};

const STRIPES: usize = 16;

pub struct StripedCounter {
    stripes: [CachePadded<AtomicI64>; STRIPES],
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: std::array::from_fn(|_| CachePadded::new(AtomicI64::new(0))),
        }
    }
}

impl StripedCounter {
    /// Adds `delta` to the stripe chosen by `hint` (e.g. the shard index).
    pub fn add(&self, hint: usize, delta: i64) {
        if delta != 0 {
            self.stripes[hint % STRIPES].fetch_add(delta, Ordering::Relaxed);
        }
    }

    pub fn sum(&self) -> i64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    pub fn reset(&self) {
        for s in &self.stripes {
            s.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_stripes_and_threads() {
        let c = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        c.add(t * 7 + i, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.sum(), 40_000);
        c.add(3, -40_000);
        assert_eq!(c.sum(), 0);
    }
}
