//! The ledger over the wire, against the real binary on both engines: the binary protocol (our
//! client) and RESP (the `redis` crate), every operation, malformed input, concurrency with an
//! audit, cross-partition chains, expiry without traffic, a full ledger.

mod common;

use client::resp::RespClient;
use client::{Client, Error};
use common::{Server, ENGINES};
use ledger::flags::{account as af, account_filter as ff, transfer as tf};
use ledger::{
    Account, AccountFilter, CreateResult, CreateTransferStatus as T, QueryFilter, Record, Transfer,
};
use protocol::binary::{self, Operation};
use std::io::{Read, Write};
use std::time::Duration;

const BINARY: &str = "[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n";

fn start(engine: &str, ledger: &str) -> Server {
    Server::start(engine, &format!("{BINARY}\n[ledger]\n{ledger}\n"))
}

fn acct(id: u128, ledger: u32, flags: u16) -> Account {
    Account {
        id,
        ledger,
        code: 1,
        flags,
        ..Account::default()
    }
}

fn tr(id: u128, dr: u128, cr: u128, amount: u128, ledger: u32, flags: u16) -> Transfer {
    Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger,
        code: 1,
        flags,
        ..Transfer::default()
    }
}

fn created(rs: &[CreateResult]) -> bool {
    rs.iter().all(|r| r.status == u32::MAX)
}

fn bytes<R: Record>(rs: &[R]) -> Vec<u8> {
    rs.iter().flat_map(|r| r.bytes().to_vec()).collect()
}

#[test]
fn every_operation_over_both_protocols() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 3");
        let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
        let accounts = [
            acct(1, 7, af::HISTORY),
            acct(2, 7, af::HISTORY),
            acct(3, 8, 0),
        ];
        assert!(created(&c.create_accounts(&accounts).unwrap()));
        let transfers = [
            Transfer {
                user_data_64: 5,
                ..tr(10, 1, 2, 30, 7, 0)
            },
            tr(11, 2, 1, 5, 7, tf::PENDING),
            tr(12, 1, 3, 1, 7, 0), // accounts on different ledgers
        ];
        let rs = c.create_transfers(&transfers).unwrap();
        assert_eq!(rs[0].status, u32::MAX);
        assert_eq!(rs[1].status, u32::MAX);
        assert_eq!(rs[2].status, T::AccountsMustHaveTheSameLedger as u32);
        // Timestamps are assigned and increasing.
        assert!(rs[0].timestamp > 0 && rs[1].timestamp == rs[0].timestamp + 1);

        let found = c.lookup_accounts(&[2, 99, 1]).unwrap();
        assert_eq!(
            found.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![2, 1],
            "request order, missing left out"
        );
        assert_eq!((found[0].credits_posted, found[0].debits_pending), (30, 5));
        assert_eq!(c.lookup_transfers(&[11]).unwrap()[0].flags, tf::PENDING);
        let filter = AccountFilter {
            account_id: 1,
            limit: 10,
            flags: ff::DEBITS | ff::CREDITS,
            ..AccountFilter::default()
        };
        assert_eq!(
            c.get_account_transfers(&filter)
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>(),
            vec![10, 11]
        );
        let balances = c.get_account_balances(&filter).unwrap();
        assert_eq!(
            balances
                .iter()
                .map(|b| (b.debits_posted, b.credits_pending))
                .collect::<Vec<_>>(),
            vec![(30, 0), (30, 5)]
        );
        let q = QueryFilter {
            ledger: 7,
            limit: 10,
            ..QueryFilter::default()
        };
        assert_eq!(c.query_accounts(&q).unwrap().len(), 2);
        let q = QueryFilter {
            user_data_64: 5,
            limit: 10,
            ..QueryFilter::default()
        };
        assert_eq!(
            c.query_transfers(&q)
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>(),
            vec![10]
        );

        // The RESP commands give the same bytes as the binary protocol.
        let mut r = RespClient::connect(s.addr).unwrap();
        let ids: Vec<u8> = [1u128, 2, 3].iter().flat_map(|i| i.to_le_bytes()).collect();
        let via_resp = r.call(Operation::LookupAccounts, &ids).unwrap();
        c.send(Operation::LookupAccounts, 3, &ids).unwrap();
        assert_eq!(via_resp, c.receive().unwrap().body);
        for (op, body) in [
            (Operation::GetAccountTransfers, filter.bytes().to_vec()),
            (Operation::GetAccountBalances, filter.bytes().to_vec()),
            (Operation::QueryTransfers, q.bytes().to_vec()),
        ] {
            c.send(op, 1, &body).unwrap();
            assert_eq!(
                r.call(op, &body).unwrap(),
                c.receive().unwrap().body,
                "{}",
                op.name()
            );
        }
        // A transfer over RESP, then visible over binary.
        let out = r
            .call(Operation::CreateTransfers, &bytes(&[tr(13, 2, 1, 1, 7, 0)]))
            .unwrap();
        assert!(created(&CreateResult::vec_from_bytes(&out).unwrap()));
        assert_eq!(c.lookup_transfers(&[13]).unwrap().len(), 1);
        // An empty lookup result is an empty bulk string, not nil.
        let mut redis = s.redis();
        let v: Vec<u8> = redis::cmd("LEDGER.LOOKUP_ACCOUNTS")
            .arg(&99u128.to_le_bytes()[..])
            .query(&mut redis)
            .unwrap();
        assert!(v.is_empty());
    }
}

#[test]
fn pipelined_binary_requests_are_answered_in_order() {
    let s = start("uring", "");
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    c.create_accounts(&[acct(1, 1, 0), acct(2, 1, 0)]).unwrap();
    let mut ids = Vec::new();
    for i in 0..200u128 {
        ids.push(
            c.send(
                Operation::CreateTransfers,
                1,
                tr(100 + i, 1, 2, 1, 1, 0).bytes(),
            )
            .unwrap(),
        );
    }
    for id in ids {
        let reply = c.receive().unwrap();
        assert_eq!(reply.request_id, id);
        assert!(created(&reply.records::<CreateResult>().unwrap()));
    }
    assert_eq!(c.lookup_accounts(&[2]).unwrap()[0].credits_posted, 200);
}

/// Sends raw bytes on a fresh binary connection; returns everything read until the server
/// closes (or times out).
fn raw_exchange(s: &Server, request: &[u8]) -> Vec<u8> {
    let mut t = std::net::TcpStream::connect(s.binary_addr.unwrap()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    t.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = t.read_to_end(&mut out);
    out
}

fn error_reply(bytes: &[u8]) -> (u32, String) {
    let (f, _) = binary::decode(bytes, binary::Side::Reply, 1 << 20)
        .unwrap()
        .expect("a complete reply");
    (
        f.header.status,
        String::from_utf8_lossy(f.body).into_owned(),
    )
}

#[test]
fn malformed_frames_get_an_error_and_close_only_their_connection() {
    for engine in ENGINES {
        let s = start(engine, "");
        let mut good = Client::connect(s.binary_addr.unwrap()).unwrap();
        assert!(created(&good.create_accounts(&[acct(1, 1, 0)]).unwrap()));

        let mut frame = Vec::new();
        binary::encode(
            &mut frame,
            Operation::CreateAccounts,
            9,
            1,
            0,
            acct(2, 1, 0).bytes(),
        );
        let mut bad_magic = frame.clone();
        bad_magic[0] = b'X';
        assert!(error_reply(&raw_exchange(&s, &bad_magic))
            .1
            .contains("bad magic"));
        let mut bad_sum = frame.clone();
        bad_sum[40] ^= 0xFF;
        assert!(error_reply(&raw_exchange(&s, &bad_sum))
            .1
            .contains("checksum"));
        let mut bad_version = frame.clone();
        bad_version[4] = 7;
        assert!(error_reply(&raw_exchange(&s, &bad_version))
            .1
            .contains("version"));
        let mut bad_op = frame.clone();
        bad_op[6] = 42;
        assert!(error_reply(&raw_exchange(&s, &bad_op))
            .1
            .contains("unknown operation"));
        let mut bad_size = Vec::new();
        binary::encode(
            &mut bad_size,
            Operation::CreateAccounts,
            9,
            2,
            0,
            acct(2, 1, 0).bytes(),
        );
        assert!(error_reply(&raw_exchange(&s, &bad_size))
            .1
            .contains("not event_count"));
        let mut too_many = Vec::new();
        binary::encode(
            &mut too_many,
            Operation::LookupAccounts,
            9,
            8190,
            0,
            &vec![0; 8190 * 16],
        );
        assert!(error_reply(&raw_exchange(&s, &too_many))
            .1
            .contains("too many events"));
        let mut empty = Vec::new();
        binary::encode(&mut empty, Operation::CreateTransfers, 9, 0, 0, &[]);
        let (status, msg) = error_reply(&raw_exchange(&s, &empty));
        assert_eq!(status, binary::ReplyStatus::BadFrame as u32);
        assert!(msg.contains("empty"), "{msg}");
        // The bad frame never applied, and other connections were not affected.
        assert!(good.lookup_accounts(&[2]).unwrap().is_empty());
        assert_eq!(good.lookup_accounts(&[1]).unwrap().len(), 1);
    }
}

#[test]
fn malformed_resp_blobs_get_an_error_and_the_connection_stays() {
    for engine in ENGINES {
        let s = start(engine, "");
        let mut r = s.redis();
        let err = |cmd: &str, blob: Vec<u8>, r: &mut redis::Connection| -> String {
            let e = redis::cmd(cmd).arg(blob).query::<Vec<u8>>(r).unwrap_err();
            e.to_string()
        };
        assert!(err("LEDGER.CREATE_ACCOUNTS", vec![0; 127], &mut r)
            .contains("whole number of 128-byte records"));
        assert!(err("LEDGER.CREATE_TRANSFERS", vec![], &mut r).contains("empty"));
        assert!(err("LEDGER.LOOKUP_ACCOUNTS", vec![0; 8190 * 16], &mut r).contains("too many ids"));
        assert!(err("LEDGER.QUERY_ACCOUNTS", vec![0; 63], &mut r).contains("exactly 64 bytes"));
        assert!(
            err("LEDGER.GET_ACCOUNT_TRANSFERS", vec![0; 64], &mut r).contains("exactly 128 bytes")
        );
        let e = redis::cmd("LEDGER.CREATE_ACCOUNTS")
            .query::<Vec<u8>>(&mut r)
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong number of arguments"), "{e}");
        let pong: String = redis::cmd("PING").query(&mut r).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn human_commands_for_redis_cli_users() {
    let s = start("uring", "");
    let mut r = s.redis();
    let v: redis::Value = redis::cmd("LEDGER.ACCOUNT.CREATE")
        .arg(&["ID", "1", "LEDGER", "700", "CODE", "10", "FLAGS", "history"])
        .arg(&["ID", "2", "LEDGER", "700", "CODE", "10"])
        .query(&mut r)
        .unwrap();
    let text = format!("{v:?}");
    assert_eq!(text.matches("created").count(), 2, "{text}");
    let v: redis::Value = redis::cmd("LEDGER.TRANSFER.CREATE")
        .arg(&[
            "ID",
            "5",
            "DEBIT",
            "1",
            "CREDIT",
            "2",
            "AMOUNT",
            "340282366920938463463374607431768211400",
        ])
        .arg(&["LEDGER", "700", "CODE", "1", "FLAGS", "pending,linked"])
        .arg(&[
            "ID", "6", "DEBIT", "1", "CREDIT", "2", "AMOUNT", "7", "LEDGER", "700", "CODE", "1",
        ])
        .query(&mut r)
        .unwrap();
    let text = format!("{v:?}");
    assert!(
        text.contains("created") && !text.contains("linked_event"),
        "{text}"
    );
    // Replies: flat field/value arrays in RESP2 with decimal u128s and flag names.
    let v: Vec<Vec<String>> = redis::cmd("LEDGER.ACCOUNT.GET")
        .arg(1)
        .query(&mut r)
        .unwrap();
    let fields = &v[0];
    let get = |k: &str| {
        fields
            .iter()
            .position(|f| f == k)
            .map(|i| fields[i + 1].clone())
            .unwrap()
    };
    assert_eq!(
        get("debits_pending"),
        "340282366920938463463374607431768211400"
    );
    assert_eq!(get("debits_posted"), "7");
    assert_eq!(get("flags"), "history");
    let failed: Vec<Vec<String>> = redis::cmd("LEDGER.TRANSFER.CREATE")
        .arg(&[
            "ID", "7", "DEBIT", "1", "CREDIT", "1", "AMOUNT", "1", "LEDGER", "700", "CODE", "1",
        ])
        .query(&mut r)
        .unwrap();
    assert!(
        failed[0].contains(&"accounts_must_be_different".to_string()),
        "{failed:?}"
    );
    let transfers: Vec<Vec<String>> = redis::cmd("LEDGER.ACCOUNT.TRANSFERS")
        .arg(&["2", "CREDITS", "REVERSED", "LIMIT", "1"])
        .query(&mut r)
        .unwrap();
    assert_eq!(transfers.len(), 1);
    assert!(transfers[0].contains(&"6".to_string()));
    let balances: Vec<Vec<String>> = redis::cmd("LEDGER.ACCOUNT.BALANCES")
        .arg(1)
        .query(&mut r)
        .unwrap();
    assert_eq!(balances.len(), 2);
    let q: Vec<Vec<String>> = redis::cmd("LEDGER.TRANSFER.QUERY")
        .arg(&["LEDGER", "700"])
        .query(&mut r)
        .unwrap();
    assert_eq!(q.len(), 2);
    // Errors: unknown flag, bad number, wrong shape.
    let e = redis::cmd("LEDGER.ACCOUNT.CREATE")
        .arg(&["ID", "3", "FLAGS", "nope"])
        .query::<redis::Value>(&mut r)
        .unwrap_err();
    assert!(e.to_string().contains("unknown flag 'nope'"), "{e}");
    let e = redis::cmd("LEDGER.ACCOUNT.CREATE")
        .arg(&["ID", "x"])
        .query::<redis::Value>(&mut r)
        .unwrap_err();
    assert!(e.to_string().contains("invalid ID value"), "{e}");
    let e = redis::cmd("LEDGER.ACCOUNT.CREATE")
        .arg(&["LEDGER", "1"])
        .query::<redis::Value>(&mut r)
        .unwrap_err();
    assert!(e.to_string().contains("starts with ID"), "{e}");
    // RESP3: maps.
    let mut r3 = redis::Client::open(format!("{}?protocol=resp3", s.url()))
        .unwrap()
        .get_connection()
        .unwrap();
    let v: redis::Value = redis::cmd("LEDGER.ACCOUNT.GET")
        .arg(2)
        .query(&mut r3)
        .unwrap();
    assert!(
        matches!(&v, redis::Value::Array(items) if matches!(items[0], redis::Value::Map(_))),
        "{v:?}"
    );
}

/// Many connections over both protocols hammer one hot ledger; the books must balance and match
/// what the clients were told succeeded.
#[test]
fn hot_ledger_under_concurrency_stays_balanced() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 4");
        let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
        let accounts: Vec<Account> = (1..=50).map(|i| acct(i, 1, 0)).collect();
        assert!(created(&c.create_accounts(&accounts).unwrap()));
        let (bin, resp) = (s.binary_addr.unwrap(), s.addr);
        let threads: Vec<_> = (0..12u128)
            .map(|k| {
                std::thread::spawn(move || -> u128 {
                    let mut moved = 0;
                    let mut b = Client::connect(bin).unwrap();
                    let mut r = RespClient::connect(resp).unwrap();
                    for round in 0..40u128 {
                        let batch: Vec<Transfer> = (0..50u128)
                            .map(|i| {
                                let id = (k << 64) | (round << 16) | (i + 1);
                                tr(id, 1 + (i + round) % 5, 6 + (i * 7 + k) % 45, 1 + i, 1, 0)
                            })
                            .collect();
                        let results = if round % 2 == 0 {
                            b.create_transfers(&batch).unwrap()
                        } else {
                            CreateResult::vec_from_bytes(
                                &r.call(Operation::CreateTransfers, &bytes(&batch)).unwrap(),
                            )
                            .unwrap()
                        };
                        for (t, res) in batch.iter().zip(&results) {
                            assert_eq!(res.status, u32::MAX);
                            moved += t.amount;
                        }
                    }
                    moved
                })
            })
            .collect();
        let expected: u128 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let all = c.lookup_accounts(&(1..=50).collect::<Vec<_>>()).unwrap();
        let debits: u128 = all.iter().map(|a| a.debits_posted).sum();
        let credits: u128 = all.iter().map(|a| a.credits_posted).sum();
        assert_eq!((debits, credits), (expected, expected));
    }
}

/// Linked chains whose two transfers are on ledgers of different partitions, sent concurrently:
/// each chain is all-or-nothing.
#[test]
fn cross_partition_chains_stay_atomic_under_concurrency() {
    let s = start("uring", "partitions = 2");
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    let (la, lb) = ledgers_on_both_workers();
    // Account 4 (ledger B) may not go negative: chains that debit it beyond its credits fail.
    let accounts = [
        acct(1, la, 0),
        acct(2, la, 0),
        acct(3, lb, 0),
        acct(4, lb, af::DEBITS_MUST_NOT_EXCEED_CREDITS),
    ];
    assert!(created(&c.create_accounts(&accounts).unwrap()));
    assert!(created(
        &c.create_transfers(&[tr(1, 3, 4, 100, lb, 0)]).unwrap()
    ));
    let addr = s.binary_addr.unwrap();
    let threads: Vec<_> = (0..4u128)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                let mut outcomes = Vec::new();
                for i in 0..50u128 {
                    let id = 1000 + k * 1000 + i * 2;
                    let chain = [tr(id, 1, 2, 1, la, tf::LINKED), tr(id + 1, 4, 3, 1, lb, 0)];
                    let rs = c.create_transfers(&chain).unwrap();
                    assert_eq!(rs[0].status == u32::MAX, rs[1].status == u32::MAX, "{rs:?}");
                    outcomes.push((id, rs[0].status == u32::MAX));
                }
                outcomes
            })
        })
        .collect();
    let outcomes: Vec<(u128, bool)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let ok = outcomes.iter().filter(|(_, ok)| *ok).count() as u128;
    assert_eq!(ok, 100, "account 4 had credits for exactly 100 chains");
    for (id, ok) in &outcomes {
        let found = c.lookup_transfers(&[*id, id + 1]).unwrap().len();
        assert_eq!(found, if *ok { 2 } else { 0 }, "chain {id}");
    }
    let a = c.lookup_accounts(&[1, 4]).unwrap();
    assert_eq!((a[0].debits_posted, a[1].debits_posted), (100, 100));
}

#[test]
fn pending_transfers_expire_with_no_traffic() {
    for engine in ENGINES {
        let s = start(engine, "");
        let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
        assert!(created(
            &c.create_accounts(&[acct(1, 1, 0), acct(2, 1, 0)]).unwrap()
        ));
        let p = Transfer {
            timeout: 1,
            ..tr(5, 1, 2, 9, 1, tf::PENDING)
        };
        assert!(created(&c.create_transfers(&[p]).unwrap()));
        assert_eq!(c.lookup_accounts(&[1]).unwrap()[0].debits_pending, 9);
        // Only reads from here on: the server's timer must expire it.
        let released = common::eventually(Duration::from_secs(5), || {
            c.lookup_accounts(&[1]).unwrap()[0].debits_pending == 0
        });
        assert!(released, "the pending transfer expired on time");
        let post = Transfer {
            id: 6,
            pending_id: 5,
            flags: tf::POST_PENDING_TRANSFER,
            ..Transfer::default()
        };
        assert_eq!(
            c.create_transfers(&[post]).unwrap()[0].status,
            T::PendingTransferExpired as u32
        );
    }
}

#[test]
fn a_full_ledger_refuses_clearly_and_keeps_serving() {
    let s = start("uring", "max_accounts = 3\nmax_transfers = 2");
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    assert!(created(
        &c.create_accounts(&[acct(1, 1, 0), acct(2, 1, 0)]).unwrap()
    ));
    match c.create_accounts(&[acct(3, 1, 0), acct(4, 1, 0)]) {
        Err(Error::Server { status, message }) => {
            assert_eq!(status, binary::ReplyStatus::Refused as u32);
            assert!(
                message.contains("accounts table is full (max_accounts = 3)"),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing of the refused batch was applied, and the connection still works.
    assert!(c.lookup_accounts(&[3]).unwrap().is_empty());
    assert!(created(
        &c.create_transfers(&[tr(1, 1, 2, 1, 1, 0), tr(2, 1, 2, 1, 1, 0)])
            .unwrap()
    ));
    let mut r = s.redis();
    let e = redis::cmd("LEDGER.CREATE_TRANSFERS")
        .arg(bytes(&[tr(3, 1, 2, 1, 1, 0)]))
        .query::<Vec<u8>>(&mut r)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("transfers table is full (max_transfers = 2)"),
        "{e}"
    );
}

/// With two workers and two partitions each worker owns one: a connection that pipelines
/// creates for both ledgers has half of them executed by the other worker, and still gets every
/// reply in request order, with lookups (run where they arrive) in between.
#[test]
fn requests_forwarded_to_the_owning_worker_keep_their_order() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 2");
        let (la, lb) = ledgers_on_both_workers();
        let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
        let accounts = two_ledger_accounts(la, lb);
        assert!(created(&c.create_accounts(&accounts).unwrap()));
        let mut expected = Vec::new();
        for i in 0..300u128 {
            let t = if i % 2 == 0 {
                tr(100 + i, 1, 2, 1, la, 0)
            } else {
                tr(100 + i, 3, 4, 1, lb, 0)
            };
            expected.push((
                c.send(Operation::CreateTransfers, 1, t.bytes()).unwrap(),
                Operation::CreateTransfers,
            ));
            if i % 7 == 0 {
                let id = 1u128.to_le_bytes();
                expected.push((
                    c.send(Operation::LookupAccounts, 1, &id).unwrap(),
                    Operation::LookupAccounts,
                ));
            }
        }
        for (id, op) in expected {
            let reply = c.receive().unwrap(); // checks the request id and operation
            assert_eq!((reply.request_id, reply.operation), (id, op));
            if op == Operation::CreateTransfers {
                assert!(created(&reply.records::<CreateResult>().unwrap()));
            }
        }
        let a = c.lookup_accounts(&[2, 4]).unwrap();
        assert_eq!((a[0].credits_posted, a[1].credits_posted), (150, 150));
        let mut r = s.redis();
        let forwarded = common::eventually(Duration::from_secs(5), || {
            let text: String = redis::cmd("INFO").arg("ledger").query(&mut r).unwrap();
            let info = redis::InfoDict::new(&text);
            info.get::<u64>("ledger_forwarded_requests").unwrap_or(0) >= 150
        });
        assert!(forwarded, "the other ledger's creates went to its owner");
    }
}

/// Two ledgers whose partitions (of 2) are owned by different workers.
fn ledgers_on_both_workers() -> (u32, u32) {
    let p = |l: u32| ledger::partition::partition_of_ledger(l, 2);
    (1, (2..100).find(|&l| p(l) != p(1)).unwrap())
}

/// Accounts 1 and 2 on ledger `la`, 3 and 4 on ledger `lb`.
fn two_ledger_accounts(la: u32, lb: u32) -> [Account; 4] {
    [
        acct(1, la, 0),
        acct(2, la, 0),
        acct(3, lb, 0),
        acct(4, lb, 0),
    ]
}

fn forwarded_requests(r: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO").arg("ledger").query(r).unwrap();
    redis::InfoDict::new(&text)
        .get::<u64>("ledger_forwarded_requests")
        .unwrap_or(0)
}

#[test]
fn resp_creates_forwarded_to_the_owning_worker_keep_reply_order() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 2");
        let (la, lb) = ledgers_on_both_workers();
        let mut r = s.redis();
        let _: redis::Value = redis::cmd("LEDGER.ACCOUNT.CREATE")
            .arg(&["ID", "1", "LEDGER", &la.to_string(), "CODE", "1"])
            .arg(&["ID", "2", "LEDGER", &la.to_string(), "CODE", "1"])
            .arg(&["ID", "3", "LEDGER", &lb.to_string(), "CODE", "1"])
            .arg(&["ID", "4", "LEDGER", &lb.to_string(), "CODE", "1"])
            .query(&mut r)
            .unwrap();
        let before = forwarded_requests(&mut r);
        // Several connections, so both workers receive some; each pipelines creates on both
        // ledgers (one of them owned by the other worker, whichever received the connection)
        // between cache commands, in one write.
        const CONNS: u128 = 4;
        const CREATES: u128 = 200;
        let threads: Vec<_> = (0..CONNS)
            .map(|conn| {
                let mut c = s.redis();
                std::thread::spawn(move || {
                    let mut pipe = redis::pipe();
                    for i in 0..CREATES {
                        let id = 1000 + conn * CREATES + i;
                        let (dr, cr, ledger) = if i % 2 == 0 { (1, 2, la) } else { (3, 4, lb) };
                        if i % 3 == 0 {
                            let t = tr(id, dr, cr, 1, ledger, 0);
                            pipe.cmd("LEDGER.CREATE_TRANSFERS").arg(t.bytes());
                        } else {
                            pipe.cmd("LEDGER.TRANSFER.CREATE").arg(&[
                                "ID".to_string(),
                                id.to_string(),
                                "DEBIT".into(),
                                dr.to_string(),
                                "CREDIT".into(),
                                cr.to_string(),
                                "AMOUNT".into(),
                                "1".into(),
                                "LEDGER".into(),
                                ledger.to_string(),
                                "CODE".into(),
                                "1".into(),
                            ]);
                        }
                        pipe.cmd("INCR").arg(format!("order:{conn}"));
                    }
                    let replies: Vec<redis::Value> = pipe.query(&mut c).unwrap();
                    assert_eq!(replies.len(), 2 * CREATES as usize);
                    for (i, pair) in replies.chunks(2).enumerate() {
                        let i = i as u128;
                        let id = 1000 + conn * CREATES + i;
                        match &pair[0] {
                            redis::Value::BulkString(b) => {
                                let rs = CreateResult::vec_from_bytes(b).unwrap();
                                assert!(i % 3 == 0 && created(&rs), "blob reply {i}: {rs:?}");
                            }
                            v => {
                                let text = format!("{v:?}");
                                assert!(i % 3 != 0, "human reply where a blob was asked: {text}");
                                assert!(text.contains(&format!("\"{id}\"")), "{i}: {text}");
                                assert!(text.contains("\"created\""), "{i}: {text}");
                            }
                        }
                        assert_eq!(pair[1], redis::Value::Int(i as i64 + 1), "reply order");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let a: redis::Value = redis::cmd("LEDGER.ACCOUNT.GET")
            .arg(&["2", "4"])
            .query(&mut r)
            .unwrap();
        let text = format!("{a:?}");
        let per_ledger = CONNS * CREATES / 2;
        assert_eq!(
            text.matches(&format!("\"{per_ledger}\"")).count(),
            2,
            "both credit accounts got every transfer: {text}"
        );
        // Exactly one of the two ledgers is owned elsewhere for every connection.
        let forwarded = forwarded_requests(&mut r) - before;
        assert_eq!(forwarded, (CONNS * CREATES / 2) as u64, "{engine}");
    }
}

#[test]
fn resp_replies_behind_a_forwarded_create_keep_their_form_and_close_in_order() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 2");
        let (la, lb) = ledgers_on_both_workers();
        let mut r = s.redis();
        for (id, l) in [(1, la), (2, la), (3, lb), (4, lb)] {
            let _: redis::Value = redis::cmd("LEDGER.ACCOUNT.CREATE")
                .arg(&["ID", &id.to_string(), "LEDGER", &l.to_string(), "CODE", "1"])
                .query(&mut r)
                .unwrap();
        }
        let create = |id: &str, dr: &str, cr: &str, l: u32| {
            let l = l.to_string();
            let args: [&[u8]; 13] = [
                b"LEDGER.TRANSFER.CREATE",
                b"ID",
                id.as_bytes(),
                b"DEBIT",
                dr.as_bytes(),
                b"CREDIT",
                cr.as_bytes(),
                b"AMOUNT",
                b"5",
                b"LEDGER",
                l.as_bytes(),
                b"CODE",
                b"1",
            ];
            common::encode(&args)
        };
        let map = |id: &str| {
            format!("%3\r\n$2\r\nid\r\n${}\r\n{id}\r\n$6\r\nstatus\r\n$7\r\ncreated\r\n$9\r\ntimestamp\r\n:", id.len())
        };

        // RESP3 human replies, a cache reply and QUIT's +OK, in order, then the close.
        let mut c = s.connect();
        let mut request = common::encode(&[b"HELLO", b"3"]);
        request.extend(create("10", "1", "2", la));
        request.extend(create("11", "3", "4", lb));
        request.extend(common::encode(&[b"GET", b"missing"]));
        request.extend(common::encode(&[b"QUIT"]));
        c.write_all(&request).unwrap();
        let text = String::from_utf8(common::read_to_close(&mut c)).unwrap();
        let (first, second) = (text.find(&map("10")), text.find(&map("11")));
        assert!(first.is_some() && second.is_some(), "{text}");
        assert!(first < second, "{text}");
        assert!(text.ends_with("_\r\n+OK\r\n"), "{text}");

        // A malformed frame behind forwarded creates: their replies, then the error, then close.
        let before = forwarded_requests(&mut r);
        let mut c = s.connect();
        let mut request = create("20", "1", "2", la);
        request.extend(create("21", "3", "4", lb));
        request.extend_from_slice(b"*1\r\n$abc\r\n");
        c.write_all(&request).unwrap();
        let text = String::from_utf8(common::read_to_close(&mut c)).unwrap();
        let (first, second) = (text.find("$2\r\n20\r\n"), text.find("$2\r\n21\r\n"));
        assert!(first.is_some() && first < second, "{text}");
        assert!(
            text.ends_with("-ERR Protocol error: invalid bulk length\r\n"),
            "{text}"
        );
        assert_eq!(
            forwarded_requests(&mut r),
            before + 1,
            "one of the two was forwarded"
        );
    }
}

/// Pipelined on one connection, a lookup or a post right after a create that another worker
/// executes must see it: requests of a connection take effect in order, forwarded or not.
#[test]
fn pipelined_requests_see_the_forwarded_creates_before_them() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 2");
        let (la, lb) = ledgers_on_both_workers();
        let accounts = two_ledger_accounts(la, lb);
        let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
        assert!(created(&c.create_accounts(&accounts).unwrap()));

        // Binary protocol: create, look up, post, look up the post, all in flight at once.
        let mut expected = Vec::new();
        for i in 0..200u128 {
            let (dr, cr, l) = if i % 2 == 0 { (1, 2, la) } else { (3, 4, lb) };
            let id = 1_000 + 2 * i;
            let pending = tr(id, dr, cr, 3, l, tf::PENDING);
            let post = Transfer {
                pending_id: id,
                amount: u128::MAX,
                ..tr(id + 1, 0, 0, 0, 0, tf::POST_PENDING_TRANSFER)
            };
            expected.push((
                c.send(Operation::CreateTransfers, 1, pending.bytes())
                    .unwrap(),
                id,
            ));
            expected.push((
                c.send(Operation::LookupTransfers, 1, &id.to_le_bytes())
                    .unwrap(),
                id,
            ));
            expected.push((
                c.send(Operation::CreateTransfers, 1, post.bytes()).unwrap(),
                id + 1,
            ));
            let lookup = (id + 1).to_le_bytes();
            expected.push((
                c.send(Operation::LookupTransfers, 1, &lookup).unwrap(),
                id + 1,
            ));
        }
        for (request_id, id) in expected {
            let reply = c.receive().unwrap();
            assert_eq!(reply.request_id, request_id);
            if reply.operation == Operation::CreateTransfers {
                let rs = reply.records::<CreateResult>().unwrap();
                assert!(created(&rs), "transfer {id}: {rs:?}");
            } else {
                let ts = reply.records::<Transfer>().unwrap();
                assert_eq!(ts.len(), 1, "transfer {id} visible to the lookup after it");
                assert_eq!(ts[0].id, id);
            }
        }

        // RESP: the same through a pipeline, binary and human forms mixed.
        let mut r = s.redis();
        let mut pipe = redis::pipe();
        for i in 0..200u128 {
            let (dr, cr, l) = if i % 2 == 0 { (1, 2, la) } else { (3, 4, lb) };
            let id = 10_000 + i;
            pipe.cmd("LEDGER.CREATE_TRANSFERS")
                .arg(tr(id, dr, cr, 1, l, 0).bytes());
            pipe.cmd("LEDGER.LOOKUP_TRANSFERS")
                .arg(&id.to_le_bytes()[..]);
            pipe.cmd("LEDGER.TRANSFER.GET").arg(id.to_string());
        }
        let replies: Vec<redis::Value> = pipe.query(&mut r).unwrap();
        for (i, triple) in replies.chunks(3).enumerate() {
            let id = 10_000 + i as u128;
            let redis::Value::BulkString(created_rs) = &triple[0] else {
                panic!("{:?}", triple[0])
            };
            assert!(created(&CreateResult::vec_from_bytes(created_rs).unwrap()));
            let redis::Value::BulkString(found) = &triple[1] else {
                panic!("{:?}", triple[1])
            };
            let ts = Transfer::vec_from_bytes(found).unwrap();
            assert_eq!(ts.len(), 1, "transfer {id} visible to the lookup after it");
            let text = format!("{:?}", triple[2]);
            assert!(text.contains(&format!("\"{id}\"")), "{id}: {text}");
        }
    }
}

/// With room for one message between workers, forwarded requests and their answers wait in
/// the sender's outbox, in order: nothing is lost, nothing runs out of order.
#[test]
fn a_full_forwarding_queue_delays_but_keeps_order() {
    for engine in ENGINES {
        let s = start(engine, "partitions = 2\nforward_queue_depth = 1");
        let (la, lb) = ledgers_on_both_workers();
        let accounts = two_ledger_accounts(la, lb);
        let mut conns: Vec<Client> = (0..4)
            .map(|_| Client::connect(s.binary_addr.unwrap()).unwrap())
            .collect();
        assert!(created(&conns[0].create_accounts(&accounts).unwrap()));
        // Every connection pipelines 150 creates on one ledger, 150 on the other (one of the two
        // is owned by the other worker, whichever received the connection), then a lookup of
        // each, all in one go.
        let mut expected = Vec::new();
        for (k, c) in conns.iter_mut().enumerate() {
            let mut mine = Vec::new();
            let id = |i: u128| 100_000 * (k as u128 + 1) + i;
            for i in 0..300u128 {
                let t = if i < 150 {
                    tr(id(i), 1, 2, 1, la, 0)
                } else {
                    tr(id(i), 3, 4, 1, lb, 0)
                };
                mine.push((c.send(Operation::CreateTransfers, 1, t.bytes()).unwrap(), 0));
            }
            for i in 0..300u128 {
                let request = c.send(Operation::LookupTransfers, 1, &id(i).to_le_bytes());
                mine.push((request.unwrap(), id(i)));
            }
            expected.push(mine);
        }
        for (c, mine) in conns.iter_mut().zip(expected) {
            for (request_id, id) in mine {
                let reply = c.receive().unwrap();
                assert_eq!(reply.request_id, request_id);
                if reply.operation == Operation::CreateTransfers {
                    assert!(created(&reply.records::<CreateResult>().unwrap()));
                } else {
                    let ts = reply.records::<Transfer>().unwrap();
                    assert_eq!(ts.len(), 1, "transfer {id} visible to the lookup after it");
                }
            }
        }
        let a = conns[0].lookup_accounts(&[2, 4]).unwrap();
        assert_eq!((a[0].credits_posted, a[1].credits_posted), (600, 600));
        // The queue of depth 1 overflowed: a worker forwards every request of a pipeline in
        // one loop turn and wakes the owner only at its end.
        let text: String = redis::cmd("INFO")
            .arg("ledger")
            .query(&mut s.redis())
            .unwrap();
        let info = redis::InfoDict::new(&text);
        let full = info.get::<u64>("ledger_forward_queue_full").unwrap_or(0);
        assert!(full > 0, "{engine}: the outbox was used: {text}");
    }
}

fn server_error(e: Error) -> (u32, String) {
    match e {
        Error::Server { status, message } => (status, message),
        other => panic!("expected a server error, got {other}"),
    }
}

#[test]
fn the_binary_port_requires_the_password_when_one_is_set() {
    let s = Server::start(
        "uring",
        &format!("{BINARY}\n[security]\nrequirepass = \"s3cret\"\n"),
    );
    let addr = s.binary_addr.unwrap();
    let denied = binary::ReplyStatus::Denied as u32;
    // Anything before the handshake is refused and the connection closed.
    let mut c = Client::connect(addr).unwrap();
    let (status, message) = server_error(c.lookup_accounts(&[1]).unwrap_err());
    assert_eq!(
        (status, message.as_str()),
        (denied, "NOAUTH Authentication required.")
    );
    assert!(
        matches!(c.lookup_accounts(&[1]), Err(Error::Io(_))),
        "closed"
    );
    // A wrong password (or user) is refused and closes too.
    for (user, password) in [("default", "guess"), ("admin", "s3cret")] {
        let mut c = Client::connect(addr).unwrap();
        let (status, message) = server_error(c.authenticate(user, password).unwrap_err());
        assert_eq!(status, denied);
        assert_eq!(
            message,
            "WRONGPASS invalid username-password pair or user is disabled."
        );
        assert!(
            matches!(c.lookup_accounts(&[1]), Err(Error::Io(_))),
            "closed"
        );
    }
    // The right one opens the connection to every operation.
    let mut c = Client::connect_authenticated(addr, "default", "s3cret").unwrap();
    let created = c.create_accounts(&[acct(1, 1, 0)]).unwrap();
    assert_eq!(created[0].status, u32::MAX);
    assert_eq!(c.lookup_accounts(&[1]).unwrap().len(), 1);
    // RESP uses the same password.
    let mut r = RespClient::connect(s.addr).unwrap();
    r.authenticate("default", "s3cret").unwrap();
    let found = r
        .call(Operation::LookupAccounts, &1u128.to_le_bytes())
        .unwrap();
    assert_eq!(found.len(), 128);
}

#[test]
fn authenticating_without_a_password_set_is_refused_and_the_connection_stays() {
    let s = start("epoll", "");
    let mut c = Client::connect(s.binary_addr.unwrap()).unwrap();
    let (status, message) = server_error(c.authenticate("default", "x").unwrap_err());
    assert_eq!(status, binary::ReplyStatus::Refused as u32);
    assert!(
        message.starts_with("ERR AUTH <password> called without any password configured"),
        "{message}"
    );
    assert_eq!(c.lookup_accounts(&[1]).unwrap().len(), 0, "still usable");
}
