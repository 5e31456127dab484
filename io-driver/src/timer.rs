//! Timers: a min-heap of (deadline, token). There is no cancel; handlers ignore tokens they no
//! longer care about. Bounded by the caller (one or a few timers per handler purpose).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
}

/// Far more timers than any handler sets; reaching it means a handler bug (a timer per request).
pub(crate) const MAX_TIMERS: usize = 1 << 16;

impl Timers {
    pub fn add(&mut self, deadline: Instant, token: u64) {
        debug_assert!(self.heap.len() < MAX_TIMERS, "timer heap unbounded growth");
        if self.heap.len() < MAX_TIMERS {
            self.heap.push(Reverse((deadline, token)));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// Removes and returns the token of one timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<u64> {
        match self.heap.peek() {
            Some(Reverse((d, _))) if *d <= now => self.heap.pop().map(|Reverse((_, t))| t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.add(now + Duration::from_millis(20), 2);
        t.add(now + Duration::from_millis(10), 1);
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        let later = now + Duration::from_millis(30);
        assert_eq!(t.pop_due(later), Some(1));
        assert_eq!(t.pop_due(later), Some(2));
        assert_eq!(t.pop_due(later), None);
    }
}
