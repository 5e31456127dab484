//! The binary ledger protocol on a worker: frames in, replies out in request order, creates
//! forwarded to the worker that owns their partitions (see `forward`).

use super::connection::Ticket;
use super::forward::{Answer, Forwarded, Message};
use super::worker::Worker;
use crate::ledger_ops::{self, OpError};
use io_driver::{ConnId, Io};
use protocol::binary::{self, Operation};

/// Replies a connection may have waiting behind a forwarded request before it is paused.
pub(crate) const MAX_TICKETS: usize = 64;

impl Worker {
    /// Runs (or forwards) every complete frame at the front of `data`; returns bytes consumed.
    /// A frame that cannot be decoded gets an error reply and closes the connection (the stream
    /// cannot be resynchronised); a refused request (full ledger) gets an error reply and the
    /// connection stays.
    pub(crate) fn serve_binary(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize {
        let max_body = self.limits.max_bulk_len;
        if let Some(c) = self.slot(conn) {
            c.last_active = io.now();
        }
        let mut pos = 0;
        while pos < data.len() {
            if io.backed_up(conn) {
                break;
            }
            match binary::decode(&data[pos..], binary::Side::Request, max_body) {
                Ok(Some((frame, used))) => {
                    let h = frame.header;
                    pos += used;
                    self.counters.commands_processed += 1;
                    if let Some(owner) = self.owner_elsewhere(h.operation, frame.body) {
                        if self.forward(io, conn, owner, h.operation, h.request_id, frame.body) {
                            if self.slot(conn).is_some_and(|c| c.paused_for_tickets) {
                                break;
                            }
                            continue;
                        }
                    }
                    let started = crate::stats::clock().raw();
                    let close = self.run_frame(h.operation, h.request_id, frame.body);
                    let clock = crate::stats::clock();
                    crate::metrics::record_latency(
                        clock.delta_as_nanos(started, clock.raw()) / 1000,
                    );
                    self.emit(io, conn, close);
                    if close {
                        return data.len();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The header may be garbage: echo what can be trusted.
                    let op = data.get(pos + 6).and_then(|&b| Operation::from_u8(b));
                    let id = data
                        .get(pos + 8..pos + 16)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                    self.scratch.clear();
                    let msg = format!("bad frame: {e}");
                    binary::encode(
                        &mut self.scratch,
                        op.unwrap_or(Operation::CreateAccounts),
                        id,
                        0,
                        binary::ReplyStatus::BadFrame as u32,
                        msg.as_bytes(),
                    );
                    self.counters.error_replies += 1;
                    self.emit(io, conn, true);
                    return data.len();
                }
            }
        }
        self.counters.net_input_bytes += pos as u64;
        pos
    }

    /// Executes one request into `self.scratch` as a reply frame; true when the connection must
    /// close after it.
    fn run_frame(&mut self, operation: Operation, request_id: u64, body: &[u8]) -> bool {
        let ledger = self.runtime.state.ledger.clone();
        self.scratch.clear();
        let start = binary::begin(&mut self.scratch);
        match ledger_ops::execute(&ledger, operation, body, &mut self.scratch) {
            Ok(n) => {
                binary::finish(&mut self.scratch, start, operation, request_id, n as u32, 0);
                false
            }
            Err(e) => {
                self.scratch.clear();
                let (status, close) = match e {
                    OpError::Malformed(_) => (binary::ReplyStatus::BadFrame, true),
                    OpError::Refused(_) => (binary::ReplyStatus::Refused, false),
                };
                self.counters.error_replies += 1;
                binary::encode(
                    &mut self.scratch,
                    operation,
                    request_id,
                    0,
                    status as u32,
                    e.message().as_bytes(),
                );
                close
            }
        }
    }

    /// Sends the reply in `self.scratch`, or queues it behind replies still being computed
    /// elsewhere, so replies leave in request order.
    fn emit(&mut self, io: &mut Io<'_>, conn: ConnId, close: bool) {
        self.counters.net_output_bytes += self.scratch.len() as u64;
        let reply = &self.scratch;
        let Some(Some((id, c))) = self.connections.get_mut(conn.index()) else {
            return;
        };
        if *id != conn {
            return;
        }
        if c.tickets.is_empty() {
            if let Some(out) = io.output(conn) {
                out.extend_from_slice(reply);
            }
            if close {
                io.close(conn);
            }
            return;
        }
        let id = c.next_ticket;
        c.next_ticket += 1;
        c.tickets.push_back(Ticket {
            id,
            bytes: Some(reply.clone()),
            close,
        });
        if close {
            // Read nothing more: the connection closes once the replies before this one left.
            io.pause(conn);
        }
    }

    /// The worker owning every partition of this create request, when that is another worker.
    fn owner_elsewhere(&self, operation: Operation, body: &[u8]) -> Option<usize> {
        let workers = self.runtime.mesh.workers();
        if workers == 1 || self.shutting_down || self.runtime.state.shutdown_requested() {
            return None;
        }
        if !matches!(
            operation,
            Operation::CreateAccounts | Operation::CreateTransfers
        ) {
            return None;
        }
        let parts = ledger_ops::partitions(&self.runtime.state.ledger, operation, body)?;
        let owner = parts.first()? % workers;
        (owner != self.index && parts.iter().all(|p| p % workers == owner)).then_some(owner)
    }

    /// Sends a request to its owner; false when the queue to it is full (run it here instead).
    fn forward(
        &mut self,
        io: &mut Io<'_>,
        conn: ConnId,
        owner: usize,
        operation: Operation,
        request_id: u64,
        body: &[u8],
    ) -> bool {
        let index = self.index;
        let Some(c) = self.slot(conn) else {
            return false;
        };
        let ticket = c.next_ticket;
        let message = Message::Request(Box::new(Forwarded {
            origin: index,
            conn,
            ticket,
            operation,
            request_id,
            body: body.to_vec(),
        }));
        if self.runtime.mesh.queue(index, owner).push(message).is_err() {
            return false;
        }
        let c = self.slot(conn).expect("looked up above");
        c.next_ticket += 1;
        c.tickets.push_back(Ticket {
            id: ticket,
            bytes: None,
            close: false,
        });
        if c.tickets.len() >= MAX_TICKETS {
            c.paused_for_tickets = true;
            io.pause(conn);
        }
        self.counters.ledger_forwarded += 1;
        if let Some(w) = self.runtime.wakers.get().and_then(|w| w.get(owner)) {
            w.wake();
        }
        true
    }

    /// Handles every message other workers sent this one: requests to execute, answers to
    /// deliver.
    pub(crate) fn drain_mesh(&mut self, io: &mut Io<'_>) {
        let workers = self.runtime.mesh.workers();
        let runtime = self.runtime.clone();
        let me = self.index;
        for from in (0..workers).filter(|&w| w != me) {
            while let Some(message) = runtime.mesh.queue(from, me).pop() {
                match message {
                    Message::Request(r) => {
                        let started = crate::stats::clock().raw();
                        let close = self.run_frame(r.operation, r.request_id, &r.body);
                        let clock = crate::stats::clock();
                        crate::metrics::record_latency(
                            clock.delta_as_nanos(started, clock.raw()) / 1000,
                        );
                        let answer = Answer {
                            conn: r.conn,
                            ticket: r.ticket,
                            bytes: self.scratch.clone(),
                            close,
                        };
                        self.outbox
                            .push((r.origin, Message::Answer(Box::new(answer))));
                    }
                    Message::Answer(a) => self.deliver(io, *a),
                }
            }
        }
        self.flush_outbox();
    }

    /// Sends queued answers back to their origins (retried each turn while a queue is full).
    pub(crate) fn flush_outbox(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let runtime = self.runtime.clone();
        let mut woken = 0u64;
        let mut kept = Vec::new();
        for (origin, message) in self.outbox.drain(..) {
            match runtime.mesh.queue(self.index, origin).push(message) {
                Ok(()) => woken |= 1 << (origin % 64),
                Err(m) => kept.push((origin, m)),
            }
        }
        self.outbox = kept;
        if let Some(wakers) = runtime.wakers.get() {
            for (i, w) in wakers.iter().enumerate() {
                if woken & (1 << (i % 64)) != 0 {
                    w.wake();
                }
            }
        }
    }

    /// An answer for one of this worker's connections: fill its ticket, then send every reply
    /// that is now first in line.
    fn deliver(&mut self, io: &mut Io<'_>, answer: Answer) {
        let Some(c) = self.slot(answer.conn) else {
            return;
        };
        if let Some(t) = c.tickets.iter_mut().find(|t| t.id == answer.ticket) {
            t.bytes = Some(answer.bytes);
            t.close = answer.close;
        }
        while c.tickets.front().is_some_and(|t| t.bytes.is_some()) {
            let Some(t) = c.tickets.pop_front() else {
                break;
            };
            if let (Some(out), Some(bytes)) = (io.output(answer.conn), t.bytes) {
                out.extend_from_slice(&bytes);
            }
            if t.close {
                c.tickets.clear();
                io.close(answer.conn);
                return;
            }
        }
        if c.paused_for_tickets && c.tickets.len() < MAX_TICKETS / 2 {
            c.paused_for_tickets = false;
            io.resume(answer.conn);
        }
    }
}
