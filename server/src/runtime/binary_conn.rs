//! The binary ledger protocol on a worker: frames in, replies out in request order, creates
//! forwarded to the worker that owns their partitions (see `forward`).

use super::worker::Worker;
use crate::ledger_reply::{self, Form};
use io_driver::{ConnId, Io};
use protocol::binary::{self, Operation};

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
            if io.backed_up(conn) || self.slot(conn).is_none_or(|c| c.paused) {
                break; // the rest is delivered again once the output or the tickets drain
            }
            match binary::decode(&data[pos..], binary::Side::Request, max_body) {
                Ok(Some((frame, used))) => {
                    let h = frame.header;
                    let owner = self.owner_elsewhere(h.operation, frame.body);
                    let Some(c) = self.slot(conn) else {
                        return data.len();
                    };
                    if !c.may_run_ledger(owner) {
                        // Earlier requests of this connection are still running elsewhere:
                        // this one waits for their answers, so it cannot overtake them.
                        c.waiting_for_answers = true;
                        c.paused = true;
                        io.pause(conn);
                        break;
                    }
                    pos += used;
                    self.counters.commands_processed += 1;
                    if let Some(owner) = owner {
                        let form = Form::Frame {
                            request_id: h.request_id,
                        };
                        let body = frame.body.to_vec();
                        self.forward(io, conn, owner, h.operation, body, form);
                        continue;
                    }
                    let started = crate::stats::clock().raw();
                    let close = self.run_frame(h.operation, h.request_id, frame.body);
                    let clock = crate::stats::clock();
                    crate::metrics::record_latency(
                        clock.delta_as_nanos(started, clock.raw()) / 1000,
                    );
                    match self.after_ledger_request() {
                        Some(wait) => {
                            self.counters.net_output_bytes += self.scratch.len() as u64;
                            let reply = std::mem::take(&mut self.scratch);
                            self.hold_until_durable(io, conn, &reply, close, wait);
                            self.scratch = reply;
                        }
                        None => self.emit(io, conn, close),
                    }
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
        self.scratch.clear();
        let outcome = ledger_reply::frame(
            &self.runtime.state.ledger,
            operation,
            request_id,
            body,
            &mut self.scratch,
        );
        if outcome.error {
            self.counters.error_replies += 1;
        }
        outcome.close
    }

    /// Sends the reply in `self.scratch` in request order (see `send_in_order`).
    fn emit(&mut self, io: &mut Io<'_>, conn: ConnId, close: bool) {
        self.counters.net_output_bytes += self.scratch.len() as u64;
        let reply = std::mem::take(&mut self.scratch);
        self.send_in_order(io, conn, &reply, close);
        self.scratch = reply;
    }

    /// The worker owning every partition of this create request, when that is another worker.
    fn owner_elsewhere(&self, operation: Operation, body: &[u8]) -> Option<usize> {
        super::forward::owner_elsewhere(
            &self.runtime.state.ledger,
            self.forward_workers(),
            self.index,
            operation,
            body,
        )
    }
}
