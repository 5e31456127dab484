//! The binary ledger protocol on a worker: frames in, each decoded into a `LedgerRequest` for
//! the ledger path (see `ledger_path`), replies out in request order.

use super::worker::Worker;
use crate::ledger_reply::{self, Form};
use crate::ledger_request::LedgerRequest;
use io_driver::{ConnId, Io};
use protocol::binary::{self, Operation};

impl Worker {
    /// Takes every complete frame at the front of `data`; returns bytes consumed. A frame that
    /// cannot be decoded gets an error reply and closes the connection (the stream cannot be
    /// resynchronised); a refused request (full ledger) gets an error reply and the connection
    /// stays.
    pub(crate) fn serve_binary(&mut self, io: &mut Io<'_>, conn: ConnId, data: &[u8]) -> usize {
        let max_body = self.limits.max_bulk_len;
        if let Some(c) = self.slot(conn) {
            c.last_active = io.now();
        }
        let runtime = self.runtime.clone();
        let mut pos = 0;
        while pos < data.len() {
            if io.backed_up(conn) || self.slot(conn).is_none_or(|c| c.paused) {
                break; // the rest is delivered again once the output or the held replies drain
            }
            match binary::decode(&data[pos..], binary::Side::Request, max_body) {
                Ok(Some((frame, used))) => {
                    pos += used;
                    self.counters.commands_processed += 1;
                    let h = frame.header;
                    let form = Form::Frame {
                        request_id: h.request_id,
                    };
                    let authenticating = h.operation == Operation::Authenticate;
                    if authenticating || self.binary_auth_required(conn) {
                        let (status, message) =
                            self.authenticate(conn, h.operation, frame.body, io.unix_ms());
                        self.scratch.clear();
                        let start = binary::begin(&mut self.scratch);
                        self.scratch.extend_from_slice(message.as_bytes());
                        binary::finish(
                            &mut self.scratch,
                            start,
                            h.operation,
                            h.request_id,
                            0,
                            status as u32,
                        );
                        let close = status == binary::ReplyStatus::Denied;
                        if status != binary::ReplyStatus::Ok {
                            self.count_error(&message);
                        }
                        self.emit(io, conn, close);
                        if close {
                            return data.len();
                        }
                        continue;
                    }
                    if let Some(message) = self.binary_permission(conn, h.operation, io.unix_ms()) {
                        // Refused as a whole, nothing applied; the connection stays.
                        self.scratch.clear();
                        let start = binary::begin(&mut self.scratch);
                        self.scratch.extend_from_slice(message.as_bytes());
                        binary::finish(
                            &mut self.scratch,
                            start,
                            h.operation,
                            h.request_id,
                            0,
                            binary::ReplyStatus::Refused as u32,
                        );
                        self.count_error(&message);
                        self.emit(io, conn, false);
                        continue;
                    }
                    match LedgerRequest::decode(
                        &runtime.state.ledger,
                        h.operation,
                        frame.body,
                        form,
                    ) {
                        Ok(request) => {
                            self.submit_ledger(io, conn, request);
                        }
                        Err(e) => {
                            // A body that is not whole events: refused, and the stream closed.
                            self.scratch.clear();
                            let outcome =
                                ledger_reply::refusal(h.operation, form, e, &mut self.scratch);
                            self.count_error("ERR");
                            self.emit(io, conn, outcome.close);
                            if outcome.close {
                                return data.len();
                            }
                        }
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
                    let form = Form::Frame { request_id: id };
                    let op = op.unwrap_or(Operation::CreateAccounts);
                    let why = crate::ledger_ops::OpError::Malformed(format!("bad frame: {e}"));
                    ledger_reply::refusal(op, form, why, &mut self.scratch);
                    self.count_error("ERR");
                    self.emit(io, conn, true);
                    return data.len();
                }
            }
        }
        self.counters.net_input_bytes += pos as u64;
        pos
    }

    /// Whether `conn` must authenticate before anything else (a password is set).
    fn binary_auth_required(&mut self, conn: ConnId) -> bool {
        let state = self.runtime.state.clone();
        self.slot(conn)
            .is_some_and(|c| state.auth_required(&c.client))
    }

    /// The ACL check of a ledger frame: the connection's user must be allowed the operation's
    /// RESP twin (`LEDGER.CREATE_ACCOUNTS` for create_accounts, ...). Returns Redis's NOPERM
    /// text when it is not.
    fn binary_permission(
        &mut self,
        conn: ConnId,
        operation: Operation,
        now_ms: u64,
    ) -> Option<String> {
        let twin = crate::commands::ledger_twin(operation)?;
        let state = self.runtime.state.clone();
        let c = self.slot(conn)?;
        c.client.refresh_user(&state.acl);
        let args = [twin.doc.name.as_bytes()];
        let denied = crate::acl::check(c.client.user(), twin.id, twin.doc, &args).err()?;
        state.acl.log.add(crate::acl::log::Entry {
            count: 1,
            reason: crate::acl::log::Reason::Command,
            object: twin.doc.name.as_bytes().to_vec(),
            username: c.client.user().name.clone(),
            last_ms: now_ms,
            client_info: crate::commands::client_line(c.client.entry(), now_ms),
        });
        Some(denied.message(twin.doc.name))
    }

    /// The handshake: an authenticate frame checks the user and password against the ACL users
    /// (as RESP's AUTH does) and logs the connection in as that user; any other frame before it
    /// is denied when the default user needs a password. Returns the reply's status and message
    /// (Redis's texts); `Denied` closes the connection.
    fn authenticate(
        &mut self,
        conn: ConnId,
        operation: Operation,
        body: &[u8],
        now_ms: u64,
    ) -> (binary::ReplyStatus, String) {
        use binary::ReplyStatus::{Denied, Ok as Accepted, Refused};
        if operation != Operation::Authenticate {
            return (Denied, "NOAUTH Authentication required.".into());
        }
        let state = self.runtime.state.clone();
        let Some((user, password)) = binary::parse_authenticate(body) else {
            return (Denied, "bad frame: malformed authenticate body".into());
        };
        if user == crate::acl::DEFAULT_USER && state.acl.default_nopass() {
            return (
                Refused,
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into(),
            );
        }
        let generation = state.acl.generation();
        let Some(user) = state.acl.authenticate(user, password) else {
            if let Some(c) = self.slot(conn) {
                state.acl.log.add(crate::acl::log::Entry {
                    count: 1,
                    reason: crate::acl::log::Reason::Auth,
                    object: b"authenticate".to_vec(),
                    username: user.to_vec(),
                    last_ms: now_ms,
                    client_info: crate::commands::client_line(c.client.entry(), now_ms),
                });
            }
            return (Denied, crate::state::WRONGPASS.into());
        };
        if let Some(c) = self.slot(conn) {
            c.client.set_user(user, generation);
            c.client.authenticated = true;
        }
        (Accepted, String::new())
    }

    /// Sends the reply in `self.scratch` in request order (see `reply`).
    fn emit(&mut self, io: &mut Io<'_>, conn: ConnId, close: bool) {
        self.counters.net_output_bytes += self.scratch.len() as u64;
        let reply = self.scratch.split();
        self.reply(io, conn, &reply, close, None);
    }
}
