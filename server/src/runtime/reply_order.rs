//! A connection's replies, kept in request order while some of them are not ready to leave:
//! computed by another worker (a forwarded create), or waiting for the write-ahead log.
//!
//! Each such reply has a ticket: [`reserve`](ReplyOrder::reserve) one for a reply another
//! worker computes and [`fill`](ReplyOrder::fill) it when the answer comes back;
//! [`hold`](ReplyOrder::hold) a finished reply behind the ones before it (with what it waits for,
//! if anything); [`drain`](ReplyOrder::drain) the replies that are first in line and free to
//! leave. Finished replies next to each other share a ticket.

use std::collections::VecDeque;

/// Replies a connection may have waiting before it is paused.
pub(crate) const MAX_TICKETS: usize = 64;
/// Bytes of finished replies a connection may have waiting before it is paused (a client
/// pipelining cheap commands behind a slow create).
pub(crate) const MAX_TICKET_BYTES: usize = 4 << 20;

struct Ticket {
    id: u64,
    /// The encoded reply, once known.
    bytes: Option<Vec<u8>>,
    /// Close the connection after this reply (a malformed request).
    close: bool,
    /// The reply may leave only once every partition is durable up to these effect seqs (see
    /// `durability::Watermarks::covers`); None: as soon as it is first in line.
    wait: Option<Box<[u64]>>,
}

#[derive(Default)]
pub(crate) struct ReplyOrder {
    /// Oldest first.
    tickets: VecDeque<Ticket>,
    next_ticket: u64,
    /// Bytes of finished replies in `tickets`.
    bytes: usize,
    /// Reserved tickets not filled yet, all computed by worker `owner`.
    outstanding: usize,
    owner: usize,
}

/// What [`ReplyOrder::drain`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// The replies that may leave have left; the rest wait.
    Some,
    /// A reply that closes the connection left: close it (everything after it is dropped).
    Close,
}

impl ReplyOrder {
    /// Nothing waits: a reply that is ready may go straight to the connection's output.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Whether a ledger request may run now, in request order: always when none of this
    /// connection's requests is computed elsewhere; otherwise only by being forwarded to that
    /// same worker (its queue keeps the order). Anything else, run here or by another worker,
    /// could overtake the requests before it: a lookup would miss the transfer created just
    /// before it, a post its pending transfer.
    pub fn may_run(&self, forward_to: Option<usize>) -> bool {
        self.outstanding == 0 || forward_to == Some(self.owner)
    }

    /// Reserves the place of the reply worker `owner` computes; returns its ticket.
    pub fn reserve(&mut self, owner: usize) -> u64 {
        assert!(self.may_run(Some(owner)), "forwarded out of order");
        self.outstanding += 1;
        self.owner = owner;
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: None,
            close: false,
            wait: None,
        });
        id
    }

    /// Fills a reserved ticket with its reply. False if the ticket is not here (it was
    /// dropped when a reply before it closed the connection).
    pub fn fill(&mut self, id: u64, bytes: Vec<u8>, close: bool, wait: Option<Box<[u64]>>) -> bool {
        let Some(t) = self.tickets.iter_mut().find(|t| t.id == id) else {
            return false;
        };
        assert!(t.bytes.is_none(), "a ticket is filled once");
        assert!(self.outstanding > 0);
        self.bytes += bytes.len();
        t.bytes = Some(bytes);
        t.close = close;
        t.wait = wait;
        self.outstanding -= 1;
        debug_assert_eq!(self.verify(), Ok(()));
        true
    }

    /// Queues a finished reply behind the replies before it: merged into the last one when
    /// that is finished too (the merged reply then waits for both), else as a new ticket.
    pub fn hold(&mut self, bytes: &[u8], close: bool, wait: Option<Box<[u64]>>) {
        self.bytes += bytes.len();
        if let Some(last) = self.tickets.back_mut() {
            if let (Some(held), false) = (last.bytes.as_mut(), last.close) {
                held.extend_from_slice(bytes);
                last.close = close;
                last.wait = match (last.wait.take(), wait) {
                    (Some(mut a), Some(b)) => {
                        assert_eq!(a.len(), b.len(), "one seq per partition");
                        a.iter_mut()
                            .zip(b.iter())
                            .for_each(|(x, &y)| *x = (*x).max(y));
                        Some(a)
                    }
                    (a, b) => a.or(b),
                };
                return;
            }
        }
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push_back(Ticket {
            id,
            bytes: Some(bytes.to_vec()),
            close,
            wait,
        });
    }

    /// Hands every reply that is first in line and free to leave to `send`, oldest first.
    /// `durable(wait)` says whether a reply's wait is over.
    pub fn drain(
        &mut self,
        durable: impl Fn(&[u64]) -> bool,
        mut send: impl FnMut(&[u8]),
    ) -> Drained {
        while let Some(front) = self.tickets.front() {
            let ready = front.bytes.is_some() && front.wait.as_deref().is_none_or(&durable);
            if !ready {
                break;
            }
            let Some(t) = self.tickets.pop_front() else {
                break;
            };
            let bytes = t.bytes.unwrap_or_default();
            self.bytes -= bytes.len();
            send(&bytes);
            if t.close {
                self.tickets.clear();
                self.bytes = 0;
                self.outstanding = 0;
                return Drained::Close;
            }
        }
        debug_assert_eq!(self.verify(), Ok(()));
        Drained::Some
    }

    /// The first reply in line waits for the log (the worker rechecks it when the log moves).
    pub fn front_waits_for_log(&self) -> bool {
        self.tickets.front().is_some_and(|t| t.wait.is_some())
    }

    /// The held replies reached a bound: stop reading until they drain.
    pub fn full(&self) -> bool {
        self.tickets.len() >= MAX_TICKETS || self.bytes >= MAX_TICKET_BYTES
    }

    /// Drained to half the bounds: reading may resume.
    pub fn below_half(&self) -> bool {
        self.tickets.len() < MAX_TICKETS / 2 && self.bytes < MAX_TICKET_BYTES / 2
    }

    /// Checks the bookkeeping against a recount (debug builds check it after every change
    /// that completes replies).
    pub fn verify(&self) -> Result<(), String> {
        let bytes: usize = self
            .tickets
            .iter()
            .filter_map(|t| t.bytes.as_ref())
            .map(Vec::len)
            .sum();
        let outstanding = self.tickets.iter().filter(|t| t.bytes.is_none()).count();
        if bytes != self.bytes || outstanding != self.outstanding {
            return Err(format!(
                "bytes {} outstanding {} != recount {bytes} {outstanding}",
                self.bytes, self.outstanding
            ));
        }
        let ordered = self
            .tickets
            .iter()
            .zip(self.tickets.iter().skip(1))
            .all(|(a, b)| a.id < b.id);
        if !ordered
            || self
                .tickets
                .back()
                .is_some_and(|t| t.id >= self.next_ticket)
        {
            return Err("ticket ids out of order".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_all(o: &mut ReplyOrder, durable_to: u64) -> (Vec<u8>, Drained) {
        let mut out = Vec::new();
        let d = o.drain(
            |w| w.iter().all(|&s| s <= durable_to),
            |b| out.extend_from_slice(b),
        );
        o.verify().unwrap();
        (out, d)
    }

    #[test]
    fn replies_leave_in_request_order_whoever_computes_them() {
        let mut o = ReplyOrder::default();
        let first = o.reserve(1);
        o.hold(b"b", false, None);
        let third = o.reserve(1);
        o.hold(b"d", false, None);
        o.verify().unwrap();
        assert!(
            !o.may_run(None),
            "a read here would overtake the forwarded creates"
        );
        assert!(!o.may_run(Some(0)), "so would a create forwarded elsewhere");
        assert!(o.may_run(Some(1)));
        assert_eq!(drain_all(&mut o, 0), (vec![], Drained::Some));
        assert!(o.fill(third, b"c".to_vec(), false, None));
        assert_eq!(
            drain_all(&mut o, 0),
            (vec![], Drained::Some),
            "the first is not back"
        );
        assert!(o.fill(first, b"a".to_vec(), false, None));
        assert!(o.may_run(None));
        assert_eq!(drain_all(&mut o, 0), (b"abcd".to_vec(), Drained::Some));
        assert!(o.is_empty());
    }

    #[test]
    fn a_reply_waits_for_the_log_and_holds_those_behind_it() {
        let mut o = ReplyOrder::default();
        o.hold(b"a", false, Some(vec![3, 1].into()));
        o.hold(b"b", false, None);
        o.hold(b"c", false, Some(vec![1, 5].into()));
        assert!(o.front_waits_for_log());
        assert_eq!(
            drain_all(&mut o, 4),
            (vec![], Drained::Some),
            "merged: waits for 5"
        );
        assert_eq!(drain_all(&mut o, 5), (b"abc".to_vec(), Drained::Some));
        assert!(!o.front_waits_for_log());
    }

    #[test]
    fn a_closing_reply_drops_what_follows() {
        let mut o = ReplyOrder::default();
        let t = o.reserve(1);
        o.hold(b"bad", true, None);
        o.hold(b"after", false, None);
        assert!(o.fill(t, b"ok".to_vec(), false, None));
        assert_eq!(drain_all(&mut o, 0), (b"okbad".to_vec(), Drained::Close));
        assert!(o.is_empty());
        assert!(!o.fill(t, b"again".to_vec(), false, None), "gone");
    }

    #[test]
    fn bounds_pause_and_resume_reading() {
        let mut o = ReplyOrder::default();
        let t = o.reserve(1);
        for i in 0..MAX_TICKETS {
            // A closing reply is never merged: one ticket each.
            o.hold(&[i as u8], false, Some(vec![i as u64].into()));
            o.hold(b"x", true, None);
            if o.full() {
                break;
            }
        }
        assert!(o.full());
        assert!(!o.below_half());
        assert!(o.fill(t, vec![0; 10], false, None));
        o.verify().unwrap();
        let mut big = ReplyOrder::default();
        big.hold(&vec![0; MAX_TICKET_BYTES], false, Some(vec![1].into()));
        assert!(big.full());
        assert_eq!(drain_all(&mut big, 1).0.len(), MAX_TICKET_BYTES);
        assert!(big.below_half());
    }
}
