//! The ledger over RESP: the binary `LEDGER.*` commands, each with one blob argument and one
//! bulk-string reply (DESIGN.md's contract), for tools that compare both transports. Several
//! commands may be in flight (RESP replies come back in order).

use crate::Error;
use protocol::binary::Operation;
use protocol::resp::{parse_value, Value, ValueLimits};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

/// The RESP command name of an operation.
pub fn command_name(op: Operation) -> &'static str {
    match op {
        Operation::CreateAccounts => "LEDGER.CREATE_ACCOUNTS",
        Operation::CreateTransfers => "LEDGER.CREATE_TRANSFERS",
        Operation::LookupAccounts => "LEDGER.LOOKUP_ACCOUNTS",
        Operation::LookupTransfers => "LEDGER.LOOKUP_TRANSFERS",
        Operation::GetAccountTransfers => "LEDGER.GET_ACCOUNT_TRANSFERS",
        Operation::GetAccountBalances => "LEDGER.GET_ACCOUNT_BALANCES",
        Operation::QueryAccounts => "LEDGER.QUERY_ACCOUNTS",
        Operation::QueryTransfers => "LEDGER.QUERY_TRANSFERS",
        // Over RESP the handshake is Redis's AUTH (see `RespClient::authenticate`).
        Operation::Authenticate => "AUTH",
    }
}

/// One RESP connection.
pub struct RespClient {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    in_flight: usize,
}

impl RespClient {
    pub fn connect(addr: impl ToSocketAddrs) -> Result<RespClient, Error> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(RespClient {
            stream,
            input: Vec::with_capacity(64 << 10),
            output: Vec::new(),
            in_flight: 0,
        })
    }

    /// `AUTH user password` (Redis's), before any other command in flight.
    pub fn authenticate(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if self.in_flight != 0 {
            return Err(Error::Mismatch(
                "authenticate with nothing in flight".into(),
            ));
        }
        let mut command = Vec::new();
        command.extend_from_slice(b"*3\r\n$4\r\nAUTH\r\n");
        for arg in [user.as_bytes(), password.as_bytes()] {
            command.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            command.extend_from_slice(arg);
            command.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&command)?;
        self.in_flight += 1;
        match self.next_value()? {
            Value::Simple(ok) if ok == "OK" => Ok(()),
            Value::Error(message) => Err(Error::Server { status: 0, message }),
            other => Err(Error::Mismatch(format!("unexpected reply {other:?}"))),
        }
    }

    /// Queues `LEDGER.<OP> <body>`.
    pub fn send(&mut self, op: Operation, body: &[u8]) {
        let name = command_name(op);
        self.output.extend_from_slice(
            format!("*2\r\n${}\r\n{name}\r\n${}\r\n", name.len(), body.len()).as_bytes(),
        );
        self.output.extend_from_slice(body);
        self.output.extend_from_slice(b"\r\n");
        self.in_flight += 1;
    }

    /// Sends what is queued and waits for the oldest reply's bulk string.
    pub fn receive(&mut self) -> Result<Vec<u8>, Error> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output)?;
            self.output.clear();
        }
        match self.next_value()? {
            Value::Bulk(b) => Ok(b),
            Value::Error(message) => Err(Error::Server { status: 0, message }),
            other => Err(Error::Mismatch(format!("unexpected reply {other:?}"))),
        }
    }

    /// Reads the oldest reply in flight.
    fn next_value(&mut self) -> Result<Value, Error> {
        if self.in_flight == 0 {
            return Err(Error::Mismatch("no command in flight".into()));
        }
        loop {
            let parsed = parse_value(&self.input, &ValueLimits::default())
                .map_err(|e| Error::Mismatch(e.to_string()))?;
            if let Some((value, used)) = parsed {
                self.input.drain(..used);
                self.in_flight -= 1;
                return Ok(value);
            }
            let len = self.input.len();
            self.input.resize(len + (64 << 10), 0);
            let n = self.stream.read(&mut self.input[len..])?;
            self.input.truncate(len + n);
            if n == 0 {
                return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// One command, one reply.
    pub fn call(&mut self, op: Operation, body: &[u8]) -> Result<Vec<u8>, Error> {
        self.send(op, body);
        self.receive()
    }
}
