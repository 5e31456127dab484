//! Rust client for Ringledger's binary ledger protocol (docs/PROTOCOL.md).
//!
//! A [`Client`] is one TCP connection. The typed methods send one request and wait for its
//! reply; [`Client::send`] / [`Client::receive`] keep several requests in flight on the
//! connection (the server answers each connection's requests in order). [`resp::RespClient`]
//! sends the same operations as the binary `LEDGER.*` RESP commands.
//!
//! ```no_run
//! use client::Client;
//! use ledger::{Account, Transfer};
//! let mut c = Client::connect("127.0.0.1:7000").unwrap();
//! let accounts = [1u128, 2].map(|id| Account { id, ledger: 700, code: 10, ..Account::default() });
//! let results = c.create_accounts(&accounts).unwrap();
//! assert!(results.iter().all(|r| r.status == u32::MAX)); // created
//! let t = Transfer { id: 1, debit_account_id: 1, credit_account_id: 2, amount: 10, ledger: 700, code: 1,
//!                    ..Transfer::default() };
//! c.create_transfers(&[t]).unwrap();
//! let balances = c.lookup_accounts(&[1, 2]).unwrap();
//! assert_eq!(balances[1].credits_posted, 10);
//! ```

pub mod resp;

use ledger::{Account, AccountBalance, AccountFilter, CreateResult, QueryFilter, Record, Transfer};
use protocol::binary::{self, Operation, ReplyStatus, Side, HEADER_LEN};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

pub use protocol::binary::MAX_EVENTS;

/// Largest reply body the client accepts (8189 records of 128 bytes, with room to spare).
const MAX_REPLY_BODY: usize = 2 << 20;

/// What went wrong with a request.
#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    /// The server's reply is not a valid frame.
    Frame(binary::FrameError),
    /// The server refused the request (status and message); for `BadFrame` (1) and `Denied`
    /// (3: authentication required or wrong) it also closed the connection.
    Server {
        status: u32,
        message: String,
    },
    /// A reply that does not answer the request it should (a protocol bug).
    Mismatch(String),
    /// More events than one request may carry.
    TooManyEvents(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::Frame(e) => write!(f, "bad reply frame: {e}"),
            Error::Server { status, message } => write!(f, "server error {status}: {message}"),
            Error::Mismatch(m) => write!(f, "reply mismatch: {m}"),
            Error::TooManyEvents(n) => write!(f, "{n} events (at most {MAX_EVENTS} per request)"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// A reply to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub request_id: u64,
    pub operation: Operation,
    pub event_count: u32,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as records (create results, accounts, transfers or balances).
    pub fn records<R: Record>(&self) -> Result<Vec<R>, Error> {
        R::vec_from_bytes(&self.body).map_err(|e| Error::Mismatch(e.to_string()))
    }
}

/// One connection to a Ringledger binary listener.
pub struct Client {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    next_id: u64,
    /// (request id, operation) of requests sent and not yet answered, in order.
    in_flight: VecDeque<(u64, Operation)>,
}

impl Client {
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client, Error> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            input: Vec::with_capacity(64 << 10),
            output: Vec::new(),
            next_id: 1,
            in_flight: VecDeque::new(),
        })
    }

    /// Connects and authenticates as the ACL user `user` (`default`, whose password is the
    /// server's `requirepass`, or one of `[security] users`) before anything else. The
    /// connection then runs with that user's permissions: an operation it may not run is
    /// answered `Error::Server` with status 2 (`NOPERM ...`) and the connection stays usable.
    pub fn connect_authenticated(
        addr: impl ToSocketAddrs,
        user: &str,
        password: &str,
    ) -> Result<Client, Error> {
        let mut c = Client::connect(addr)?;
        c.authenticate(user, password)?;
        Ok(c)
    }

    /// The authentication handshake (docs/PROTOCOL.md): on wrong credentials the server
    /// answers `Error::Server` with status 3 (`WRONGPASS ...`) and closes the connection.
    pub fn authenticate(&mut self, user: &str, password: &str) -> Result<(), Error> {
        let body =
            binary::authenticate_body(user.as_bytes(), password.as_bytes()).ok_or_else(|| {
                Error::Mismatch(format!(
                    "user or password too long (at most {} and {} bytes)",
                    binary::MAX_USER_LEN,
                    binary::MAX_PASSWORD_LEN
                ))
            })?;
        self.send(Operation::Authenticate, body.len() as u32, &body)?;
        self.receive().map(|_| ())
    }

    /// Requests sent and not yet received.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queues a request (`body` = `event_count` events in the operation's wire layout) and
    /// returns its id; [`Client::flush`] sends the queued requests.
    pub fn send(&mut self, op: Operation, event_count: u32, body: &[u8]) -> Result<u64, Error> {
        if event_count > op.max_request_events() {
            return Err(Error::TooManyEvents(event_count as usize));
        }
        let id = self.next_id;
        self.next_id += 1;
        binary::encode(&mut self.output, op, id, event_count, 0, body);
        self.in_flight.push_back((id, op));
        Ok(id)
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output)?;
            self.output.clear();
        }
        Ok(())
    }

    /// Waits for the reply to the oldest request in flight.
    pub fn receive(&mut self) -> Result<Reply, Error> {
        self.flush()?;
        let Some((id, op)) = self.in_flight.front().copied() else {
            return Err(Error::Mismatch("no request in flight".into()));
        };
        loop {
            match binary::decode(&self.input, Side::Reply, MAX_REPLY_BODY).map_err(Error::Frame)? {
                Some((frame, used)) => {
                    let h = frame.header;
                    let body = frame.body.to_vec();
                    self.input.drain(..used);
                    self.in_flight.pop_front();
                    if h.status != ReplyStatus::Ok as u32 {
                        return Err(Error::Server {
                            status: h.status,
                            message: String::from_utf8_lossy(&body).into_owned(),
                        });
                    }
                    if h.request_id != id || h.operation != op {
                        return Err(Error::Mismatch(format!(
                            "expected reply to request {id} ({}), got {} ({})",
                            op.name(),
                            h.request_id,
                            h.operation.name()
                        )));
                    }
                    return Ok(Reply {
                        request_id: h.request_id,
                        operation: h.operation,
                        event_count: h.event_count,
                        body,
                    });
                }
                None => {
                    let len = self.input.len();
                    self.input.resize(len + (64 << 10).max(HEADER_LEN), 0);
                    let n = self.stream.read(&mut self.input[len..])?;
                    self.input.truncate(len + n);
                    if n == 0 {
                        return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
                    }
                }
            }
        }
    }

    fn call<E: Record, R: Record>(&mut self, op: Operation, events: &[E]) -> Result<Vec<R>, Error> {
        let mut body = Vec::with_capacity(std::mem::size_of_val(events));
        for e in events {
            body.extend_from_slice(e.bytes());
        }
        self.send(op, events.len() as u32, &body)?;
        self.receive()?.records()
    }

    /// Creates accounts; one result per account, in order (`status == u32::MAX`: created).
    pub fn create_accounts(&mut self, accounts: &[Account]) -> Result<Vec<CreateResult>, Error> {
        self.call(Operation::CreateAccounts, accounts)
    }

    /// Creates transfers; one result per transfer, in order.
    pub fn create_transfers(&mut self, transfers: &[Transfer]) -> Result<Vec<CreateResult>, Error> {
        self.call(Operation::CreateTransfers, transfers)
    }

    pub fn lookup_accounts(&mut self, ids: &[u128]) -> Result<Vec<Account>, Error> {
        let body: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        self.send(Operation::LookupAccounts, ids.len() as u32, &body)?;
        self.receive()?.records()
    }

    pub fn lookup_transfers(&mut self, ids: &[u128]) -> Result<Vec<Transfer>, Error> {
        let body: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        self.send(Operation::LookupTransfers, ids.len() as u32, &body)?;
        self.receive()?.records()
    }

    pub fn get_account_transfers(
        &mut self,
        filter: &AccountFilter,
    ) -> Result<Vec<Transfer>, Error> {
        self.call(Operation::GetAccountTransfers, std::slice::from_ref(filter))
    }

    pub fn get_account_balances(
        &mut self,
        filter: &AccountFilter,
    ) -> Result<Vec<AccountBalance>, Error> {
        self.call(Operation::GetAccountBalances, std::slice::from_ref(filter))
    }

    pub fn query_accounts(&mut self, filter: &QueryFilter) -> Result<Vec<Account>, Error> {
        self.call(Operation::QueryAccounts, std::slice::from_ref(filter))
    }

    pub fn query_transfers(&mut self, filter: &QueryFilter) -> Result<Vec<Transfer>, Error> {
        self.call(Operation::QueryTransfers, std::slice::from_ref(filter))
    }
}
