//! Replies that wait for the write-ahead log, on a worker.
//!
//! After every ledger request the worker stages the effects it committed in its own log
//! (`durability::WorkerLog`), then decides about the reply: it may leave only when every
//! partition is durable up to the effect seqs the ledger had when the reply was computed, so a
//! reply never reveals a batch (its own, or another one it read) that a crash could still
//! lose. In the common case nothing is in flight and the reply leaves at once; otherwise it
//! waits in the connection's `ReplyOrder`, in request order, with the replies behind it.
//!
//! At the end of each loop turn the worker hands what it staged (one group: every batch of
//! every connection since the last group left) to its log's syncer thread, unless a group is
//! still being written; the syncer wakes the loop when the group is durable, and the worker
//! then marks those parts durable, sends the replies that waited for them, sends the next
//! group, and wakes the other workers whose replies wait on a watermark that moved.

use super::worker::Worker;
use io_driver::{ConnId, Io};

impl Worker {
    /// Call after a ledger request ran on this thread (any path): stages its effects in this
    /// worker's log and returns what its reply must wait for (None: it may leave now).
    pub(crate) fn after_ledger_request(&mut self) -> Option<Box<[u64]>> {
        // A volatile ledger has no log and nothing to wait for (one branch per command).
        self.log.as_ref()?;
        if !crate::ledger_ops::take_touched() {
            return None;
        }
        self.stage_effects();
        let d = self.runtime.durability.as_ref()?;
        self.runtime.state.ledger.effect_seqs(&mut self.seqs);
        if d.watermarks.covers(&self.seqs) {
            return None;
        }
        Some(self.seqs.clone().into_boxed_slice())
    }

    /// Moves the effects this thread's ledger commits recorded into this worker's log.
    pub(crate) fn stage_effects(&mut self) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        crate::ledger_ops::take_effects(|payload| {
            if let Err(e) = log.stage(payload) {
                crate::durability::fail_stop(&e);
            }
        });
    }

    /// Remembers that `conn` has replies waiting for the log.
    pub(crate) fn list_waiting(&mut self, conn: ConnId) {
        let Some(c) = self.slot(conn) else {
            return;
        };
        if !c.durable_listed {
            c.durable_listed = true;
            self.durable_waiting.push(conn);
        }
    }

    /// Sends the replies whose wait is over, on every connection that had one waiting.
    pub(crate) fn recheck_durable(&mut self, io: &mut Io<'_>) {
        if self.durable_waiting.is_empty() {
            return;
        }
        let Some(d) = self.runtime.durability.clone() else {
            return;
        };
        // Registered before looking, so a watermark moving meanwhile wakes this worker.
        d.watermarks.add_waiter(self.index);
        let conns = std::mem::take(&mut self.durable_waiting);
        for conn in conns {
            if let Some(c) = self.slot(conn) {
                c.durable_listed = false;
            }
            self.drain_replies(io, conn);
        }
    }

    /// End of a loop turn: stages what this turn's commits left, sends the open group to the
    /// log's syncer unless one is in flight, and takes in a group that became durable.
    pub(crate) fn flush_log(&mut self, io: &mut Io<'_>) {
        self.stage_effects();
        let Some(log) = self.log.as_mut() else {
            return;
        };
        if let Err(e) = log.submit() {
            crate::durability::fail_stop(&e);
        }
        self.collect_log(io);
    }

    /// A group may have become durable (the syncer wakes the loop): marks its effects durable,
    /// releases the replies that waited for them, and wakes the workers whose replies wait on
    /// a watermark that moved. A failed write or sync stops the process.
    pub(crate) fn collect_log(&mut self, io: &mut Io<'_>) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let durable = match log.collect() {
            Ok(parts) => parts,
            Err(e) => crate::durability::fail_stop(&e),
        };
        if !durable.is_empty() {
            if let Some(d) = self.runtime.durability.clone() {
                if d.watermarks.mark_durable(durable.iter().copied()) {
                    let woken = d.watermarks.take_waiters() & !(1 << (self.index % 64));
                    self.outbox.wake_at_turn_end(woken);
                }
            }
        }
        self.recheck_durable(io);
    }
}
