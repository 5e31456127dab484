//! Connections: the slab of per-connection state and generation-tagged ids.
//!
//! A slab slot is reused after its connection closes; the generation in [`ConnId`] (and in the
//! io_uring user_data of every operation) tells a live connection from an earlier occupant of
//! the same slot, so a late completion or a stale id held by the handler is ignored.

use bytes::BytesMut;
use slab::Slab;
use std::os::fd::RawFd;

/// Input buffered for a connection whose delivery is held back (paused or backed up) before
/// its socket stops being read.
pub(crate) const HELD_INPUT_LIMIT: usize = 256 * 1024;

/// A connection, as the handler sees it: slot index plus generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// A number unique among this loop's live connections (for the handler's own tables).
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Packs the id into 64 bits (e.g. for handler-side maps or messages).
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub fn from_u64(v: u64) -> ConnId {
        ConnId {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Open,
    /// Close requested: no more reads; send what is buffered, then close.
    Flushing,
    /// The handler has been told; the slot waits for in-flight kernel operations to finish.
    Closed,
}

pub(crate) struct Conn {
    pub fd: RawFd,
    pub generation: u32,
    pub phase: Phase,
    /// Unconsumed input (only the incomplete tail of what arrived).
    pub input: BytesMut,
    /// Output appended by the handler, not yet handed to the kernel.
    pub output: BytesMut,
    /// Output handed to the kernel (io_uring: must stay alive until the send completes).
    pub inflight: BytesMut,
    /// Bytes of `inflight` already sent.
    pub inflight_sent: usize,
    pub send_in_flight: bool,
    /// Already in the loop's send queue this turn.
    pub queued_for_send: bool,
    /// io_uring: a multishot recv is armed.
    pub recv_armed: bool,
    /// io_uring: a cancel of the recv has been submitted.
    pub recv_cancelling: bool,
    /// The handler paused reading.
    pub paused_by_handler: bool,
    /// epoll: the socket may have unread bytes (edge-triggered readiness not yet drained).
    pub readable: bool,
    /// epoll: the last write hit EAGAIN; wait for EPOLLOUT.
    pub write_blocked: bool,
    /// io_uring: the wake-up coalescer's window in which this connection was last counted.
    pub input_epoch: u32,
}

impl Conn {
    pub fn new(fd: RawFd, generation: u32) -> Conn {
        Conn {
            fd,
            generation,
            phase: Phase::Open,
            input: BytesMut::new(),
            output: BytesMut::new(),
            inflight: BytesMut::new(),
            inflight_sent: 0,
            send_in_flight: false,
            queued_for_send: false,
            recv_armed: false,
            recv_cancelling: false,
            paused_by_handler: false,
            readable: false,
            write_blocked: false,
            input_epoch: 0,
        }
    }

    /// Bytes accepted from the handler and not yet sent.
    pub fn unsent(&self) -> usize {
        self.output.len() + (self.inflight.len() - self.inflight_sent)
    }

    /// Whether received bytes may be handed to the handler now (open, not paused, and its
    /// unsent output below the back-pressure bound).
    pub fn can_deliver(&self, max_output: usize) -> bool {
        self.phase == Phase::Open && !self.paused_by_handler && self.unsent() < max_output
    }

    /// Whether the loop should take more bytes from this connection's socket. While delivery
    /// is held back only a little input is buffered, so the peer feels TCP back-pressure.
    pub fn wants_read(&self, max_output: usize, max_input: usize) -> bool {
        let bound = if self.can_deliver(max_output) {
            max_input
        } else {
            HELD_INPUT_LIMIT
        };
        self.phase == Phase::Open && self.input.len() <= bound
    }
}

/// The slab of connections with a bound and generation counters.
pub(crate) struct ConnTable {
    slab: Slab<Conn>,
    capacity: usize,
    next_generation: u32,
}

impl ConnTable {
    pub fn new(capacity: usize) -> ConnTable {
        ConnTable {
            slab: Slab::with_capacity(capacity.min(4096)),
            capacity,
            next_generation: 1,
        }
    }

    /// Live (not yet Closed) plus lingering slots.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_full(&self) -> bool {
        self.slab.len() >= self.capacity
    }

    pub fn insert(&mut self, fd: RawFd) -> Option<ConnId> {
        if self.is_full() {
            return None;
        }
        let generation = self.next_generation;
        // Generations are 28 bits in io_uring user_data; wrap within that and skip 0.
        self.next_generation = (self.next_generation + 1) & 0x0FFF_FFFF;
        if self.next_generation == 0 {
            self.next_generation = 1;
        }
        let index = self.slab.insert(Conn::new(fd, generation));
        Some(ConnId {
            index: index as u32,
            generation,
        })
    }

    /// The connection if `id` still names it (any phase).
    pub fn get_any(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.slab
            .get_mut(id.index as usize)
            .filter(|c| c.generation == id.generation)
    }

    /// The connection if `id` names it and the handler may still use it.
    pub fn get(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.get_any(id).filter(|c| c.phase != Phase::Closed)
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        if self.get_any(id).is_some() {
            Some(self.slab.remove(id.index as usize))
        } else {
            None
        }
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut Conn)> {
        self.slab.iter_mut().map(|(i, c)| {
            (
                ConnId {
                    index: i as u32,
                    generation: c.generation,
                },
                c,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_are_not_found_after_reuse() {
        let mut t = ConnTable::new(2);
        let a = t.insert(10).unwrap();
        assert!(t.get(a).is_some());
        t.remove(a);
        let b = t.insert(11).unwrap();
        assert_eq!(a.index, b.index, "slab reuses the slot");
        assert!(
            t.get(a).is_none(),
            "the old generation must not find the new occupant"
        );
        assert_eq!(t.get(b).unwrap().fd, 11);
    }

    #[test]
    fn bounded() {
        let mut t = ConnTable::new(2);
        assert!(t.insert(1).is_some());
        assert!(t.insert(2).is_some());
        assert!(t.insert(3).is_none());
    }

    #[test]
    fn ids_round_trip_through_u64() {
        let id = ConnId {
            index: 7,
            generation: 0x0ABC_DEF1,
        };
        assert_eq!(ConnId::from_u64(id.to_u64()), id);
    }

    #[test]
    fn back_pressure_rule() {
        let mut c = Conn::new(3, 1);
        assert!(c.can_deliver(10) && c.wants_read(10, 1 << 30));
        c.output.extend_from_slice(&[0; 10]);
        assert!(!c.can_deliver(10), "output at the bound holds delivery");
        assert!(
            c.wants_read(10, 1 << 30),
            "a little input is still buffered"
        );
        c.input.extend_from_slice(&vec![0; HELD_INPUT_LIMIT + 1]);
        assert!(!c.wants_read(10, 1 << 30), "then reading stops");
        c.output.clear();
        assert!(c.wants_read(10, 1 << 30), "drained output: read on");
        c.paused_by_handler = true;
        assert!(!c.can_deliver(10));
        assert!(!c.wants_read(10, 1 << 30));
    }
}
