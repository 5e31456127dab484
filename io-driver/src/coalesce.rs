//! Wake-up coalescing for the io_uring wait (`Config::min_wait_us`).
//!
//! With many clients each sending one request per round trip, the loop otherwise wakes once per
//! request: every wake-up pays the scheduler, the syscall and cold caches again. When several
//! connections are active, the wait instead asks the kernel for more than one completion and
//! bounds how long it may hold the first one (io_uring's `min_wait_usec`, Linux 6.12+): it
//! returns as soon as the asked-for number of completions is there, or once `min_wait_us` has
//! passed and at least one is. The added latency is at most `min_wait_us`.
//!
//! How many completions to ask for follows how many distinct connections sent input in the last
//! window of about a millisecond: half of them, at most [`MAX_WAIT_NR`], and only when at least
//! [`MIN_ACTIVE`] were active. Below that a wait asks for one completion, so a lone client (or a
//! few) is never held: nobody else's request would join its wake-up, and measured with 4 and 8
//! clients coalescing saved no CPU (docs/BENCHMARKS.md).

use std::time::{Duration, Instant};

/// The span over which active connections are counted.
const WINDOW: Duration = Duration::from_millis(1);

/// Most completions one wait asks for (well below the completion queue's size).
pub(crate) const MAX_WAIT_NR: u32 = 32;

/// Fewest connections active in a window for waits to coalesce.
pub(crate) const MIN_ACTIVE: u32 = 16;

pub(crate) struct Coalescer {
    /// 0: never coalesce.
    min_wait_us: u32,
    /// Counts windows; a connection stamped with the current epoch is already counted.
    epoch: u32,
    window_start: Instant,
    /// Distinct connections with input in the current window.
    active: u32,
    /// The same for the window before.
    active_before: u32,
}

impl Coalescer {
    pub fn new(min_wait_us: u32, now: Instant) -> Coalescer {
        Coalescer {
            min_wait_us,
            epoch: 1,
            window_start: now,
            active: 0,
            active_before: 0,
        }
    }

    /// Notes that a connection received input; `stamp` is its own record of the epoch it was
    /// last counted in (any value is fine for a new connection: at worst it is missed once).
    pub fn note_input(&mut self, stamp: &mut u32) {
        if *stamp != self.epoch {
            *stamp = self.epoch;
            self.active += 1;
        }
    }

    /// Called at the start of every loop turn: rolls the window once it has lasted long enough.
    pub fn start_turn(&mut self, now: Instant) {
        if now.saturating_duration_since(self.window_start) >= WINDOW {
            self.active_before = self.active;
            self.active = 0;
            // Never 0, so a connection whose stamp is 0 from creation is counted.
            self.epoch = self.epoch.checked_add(1).unwrap_or(1);
            self.window_start = now;
        }
    }

    /// How many completions the next wait should ask for, and the longest it may hold the
    /// first (None: a plain wait for one).
    pub fn wait_for(&self) -> Option<(u32, u32)> {
        if self.min_wait_us == 0 {
            return None;
        }
        let active = self.active.max(self.active_before);
        (active >= MIN_ACTIVE).then(|| ((active / 2).min(MAX_WAIT_NR), self.min_wait_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(c: &mut Coalescer, stamps: &mut [u32]) {
        for s in stamps {
            c.note_input(s);
        }
    }

    #[test]
    fn a_lone_connection_is_never_held() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(50, t0);
        let mut stamp = 0;
        for i in 0..10_000u64 {
            c.start_turn(t0 + Duration::from_micros(i * 20));
            c.note_input(&mut stamp);
            assert_eq!(c.wait_for(), None);
        }
    }

    #[test]
    fn a_few_connections_are_never_held() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(50, t0);
        let mut stamps = vec![0u32; MIN_ACTIVE as usize - 1];
        inputs(&mut c, &mut stamps);
        assert_eq!(c.wait_for(), None);
        let mut one_more = 0;
        c.note_input(&mut one_more);
        assert_eq!(c.wait_for(), Some((MIN_ACTIVE / 2, 50)));
    }

    #[test]
    fn many_active_connections_ask_for_half_of_them() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(50, t0);
        let mut stamps = vec![0u32; 40];
        // The same connections sending again within a window are counted once.
        inputs(&mut c, &mut stamps);
        inputs(&mut c, &mut stamps);
        assert_eq!(c.wait_for(), Some((20, 50)));
        // The count carries over into the next window while that one fills up.
        c.start_turn(t0 + WINDOW);
        assert_eq!(c.wait_for(), Some((20, 50)));
        inputs(&mut c, &mut stamps[..24]);
        assert_eq!(c.wait_for(), Some((20, 50)));
        // Once two windows have seen only 24 connections, it asks for 12.
        c.start_turn(t0 + 2 * WINDOW);
        assert_eq!(c.wait_for(), Some((12, 50)));
        // And once activity stops, it goes back to a plain wait.
        c.start_turn(t0 + 3 * WINDOW);
        assert_eq!(c.wait_for(), None);
    }

    #[test]
    fn the_request_is_bounded() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(20, t0);
        let mut stamps = vec![0u32; 1000];
        inputs(&mut c, &mut stamps);
        assert_eq!(c.wait_for(), Some((MAX_WAIT_NR, 20)));
    }

    #[test]
    fn zero_turns_it_off() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(0, t0);
        let mut stamps = vec![0u32; 100];
        inputs(&mut c, &mut stamps);
        assert_eq!(c.wait_for(), None);
    }

    #[test]
    fn the_epoch_skips_zero_when_it_wraps() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(50, t0);
        c.epoch = u32::MAX;
        c.start_turn(t0 + WINDOW);
        assert_eq!(c.epoch, 1);
        let mut fresh = 0;
        c.note_input(&mut fresh);
        assert_eq!(c.active, 1);
    }
}
