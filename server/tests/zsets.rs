//! Sorted sets over the real server with the `redis` crate, in RESP2 and RESP3: every
//! command, WRONGTYPE both ways, encodings and their thresholds, expiry, RENAME/COPY/MOVE,
//! the memory estimate, and concurrent ZINCRBY/ZADD/ZPOPMIN on shared keys.

mod common;

use common::Server;
use redis::{cmd, Connection, Value};
use std::collections::BTreeMap;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn resp3(server: &Server) -> Connection {
    let url = format!("{}/?protocol=resp3", server.url());
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut command = cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut command = cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    let e = command
        .query::<Value>(c)
        .expect_err(&format!("{args:?} should fail"));
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn zset_commands_resp2() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    assert_eq!(
        q::<i64>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        3
    );
    assert_eq!(
        q::<i64>(&mut c, &["ZADD", "z", "CH", "GT", "0", "a", "5", "b"]),
        1
    );
    assert_eq!(q::<i64>(&mut c, &["ZADD", "z", "XX", "9", "new"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["ZADD", "z", "NX", "9", "a", "4", "d"]),
        1
    );
    assert_eq!(
        q::<String>(&mut c, &["ZADD", "z", "INCR", "0.5", "a"]),
        "1.5"
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["ZADD", "z", "LT", "INCR", "1", "a"]),
        None
    );
    assert_eq!(q::<String>(&mut c, &["ZINCRBY", "z", "-0.5", "a"]), "1");
    assert_eq!(q::<i64>(&mut c, &["ZCARD", "z"]), 4);
    assert_eq!(q::<String>(&mut c, &["ZSCORE", "z", "b"]), "5");
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["ZMSCORE", "z", "a", "x"]),
        vec![Some("1".into()), None]
    );
    assert_eq!(q::<i64>(&mut c, &["ZRANK", "z", "b"]), 3);
    assert_eq!(q::<i64>(&mut c, &["ZREVRANK", "z", "b"]), 0);
    assert_eq!(q::<Option<i64>>(&mut c, &["ZRANK", "z", "x"]), None);
    assert_eq!(q::<i64>(&mut c, &["ZCOUNT", "z", "(1", "4"]), 2);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "z", "0", "-1"]),
        strs(&["a", "c", "d", "b"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        strs(&["a", "1", "c", "3"])
    );
    assert_eq!(
        q::<Vec<String>>(
            &mut c,
            &["ZRANGE", "z", "+inf", "2", "BYSCORE", "REV", "LIMIT", "1", "5"]
        ),
        strs(&["d", "c"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZREVRANGE", "z", "0", "0"]),
        strs(&["b"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGEBYSCORE", "z", "-inf", "(3", "WITHSCORES"]),
        strs(&["a", "1"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZREVRANGEBYSCORE", "z", "4", "3"]),
        strs(&["d", "c"])
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"]
        ),
        4
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGEBYLEX", "l", "(a", "[c"]),
        strs(&["b", "c"])
    );
    assert_eq!(
        q::<Vec<String>>(
            &mut c,
            &["ZREVRANGEBYLEX", "l", "+", "(b", "LIMIT", "0", "1"]
        ),
        strs(&["d"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "l", "[b", "+", "BYLEX"]),
        strs(&["b", "c", "d"])
    );
    assert_eq!(q::<i64>(&mut c, &["ZLEXCOUNT", "l", "-", "+"]), 4);
    assert_eq!(q::<i64>(&mut c, &["ZRANGESTORE", "dst", "l", "1", "2"]), 2);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "dst", "0", "-1"]),
        strs(&["b", "c"])
    );
    assert_eq!(q::<i64>(&mut c, &["ZREMRANGEBYLEX", "l", "[a", "[b"]), 2);
    assert_eq!(q::<i64>(&mut c, &["ZREMRANGEBYRANK", "l", "0", "0"]), 1);
    assert_eq!(
        q::<i64>(&mut c, &["ZREMRANGEBYSCORE", "l", "-inf", "+inf"]),
        1
    );
    assert_eq!(
        q::<i64>(&mut c, &["EXISTS", "l"]),
        0,
        "an emptied zset is deleted"
    );
    assert_eq!(q::<i64>(&mut c, &["ZREM", "z", "d", "x"]), 1);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZPOPMIN", "z"]),
        strs(&["a", "1"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZPOPMAX", "z", "1"]),
        strs(&["b", "5"])
    );
    assert_eq!(q::<i64>(&mut c, &["ZADD", "m2", "7", "x"]), 1);
    let popped: (String, Vec<(String, String)>) = q(
        &mut c,
        &["ZMPOP", "3", "nokey", "z", "m2", "MIN", "COUNT", "9"],
    );
    assert_eq!(
        popped,
        ("z".to_string(), vec![("c".to_string(), "3".to_string())])
    );
    assert_eq!(
        q::<Value>(&mut c, &["ZMPOP", "1", "nokey", "MAX"]),
        Value::Nil
    );
    let _: i64 = q(&mut c, &["ZADD", "r", "1", "a", "2", "b", "3", "c"]);
    let m: String = q(&mut c, &["ZRANDMEMBER", "r"]);
    assert!(["a", "b", "c"].contains(&m.as_str()));
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANDMEMBER", "r", "-5"]).len(),
        5
    );
    let distinct: Vec<String> = q(&mut c, &["ZRANDMEMBER", "r", "2"]);
    assert!(distinct.len() == 2 && distinct[0] != distinct[1]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANDMEMBER", "r", "9", "WITHSCORES"]).len(),
        6
    );
    let _: i64 = q(&mut c, &["ZADD", "r2", "10", "b", "20", "d"]);
    let _: i64 = q(&mut c, &["SADD", "set", "a", "d"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZUNION", "2", "r", "r2", "WITHSCORES"]),
        strs(&["a", "1", "c", "3", "b", "12", "d", "20"])
    );
    assert_eq!(
        q::<Vec<String>>(
            &mut c,
            &["ZINTER", "2", "r", "set", "WEIGHTS", "3", "1", "WITHSCORES"]
        ),
        strs(&["a", "4"])
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZDIFF", "2", "r", "r2"]),
        strs(&["a", "c"])
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["ZUNIONSTORE", "u", "2", "r", "r2", "AGGREGATE", "MAX"]
        ),
        4
    );
    assert_eq!(q::<String>(&mut c, &["ZSCORE", "u", "b"]), "10");
    assert_eq!(q::<i64>(&mut c, &["ZINTERSTORE", "u", "2", "r", "r2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["ZDIFFSTORE", "u", "2", "r", "r"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "u"]), 0);
    assert_eq!(q::<i64>(&mut c, &["ZINTERCARD", "2", "r", "r2"]), 1);
    let (cursor, items): (String, Vec<String>) = q(&mut c, &["ZSCAN", "r", "0", "MATCH", "b"]);
    assert_eq!((cursor.as_str(), items), ("0", strs(&["b", "2"])));
    assert_eq!(
        err(&mut c, &["ZADD", "r", "x", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&mut c, &["ZRANGEBYSCORE", "r", "a", "b"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(&mut c, &["ZRANGEBYLEX", "r", "a", "b"]),
        "ERR min or max not valid string range item"
    );
}

#[test]
fn resp3_shapes() {
    let server = Server::start("uring", "");
    let mut c = resp3(&server);
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a", "2.5", "b"]);
    assert_eq!(
        q::<Value>(&mut c, &["ZSCORE", "z", "b"]),
        Value::Double(2.5)
    );
    assert_eq!(
        q::<Value>(&mut c, &["ZINCRBY", "z", "1", "a"]),
        Value::Double(2.0)
    );
    let pairs = |v: Value| match v {
        Value::Array(items) => items
            .into_iter()
            .map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => kv,
                other => panic!("pair expected, got {other:?}"),
            })
            .count(),
        other => panic!("array expected, got {other:?}"),
    };
    assert_eq!(
        pairs(q(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"])),
        2
    );
    assert_eq!(pairs(q(&mut c, &["ZUNION", "1", "z", "WITHSCORES"])), 2);
    assert_eq!(
        pairs(q(&mut c, &["ZRANDMEMBER", "z", "-3", "WITHSCORES"])),
        3
    );
    assert_eq!(pairs(q(&mut c, &["ZPOPMIN", "z", "1"])), 1);
    // Without a count a pop stays flat, as in Redis.
    match q::<Value>(&mut c, &["ZPOPMIN", "z"]) {
        Value::Array(items) => assert_eq!(items[1], Value::Double(2.5)),
        v => panic!("flat pair expected, got {v:?}"),
    }
    assert_eq!(q::<Value>(&mut c, &["ZMPOP", "1", "z", "MIN"]), Value::Nil);
    assert_eq!(q::<Value>(&mut c, &["ZSCORE", "z", "a"]), Value::Nil);
}

#[test]
fn wrongtype_both_ways() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    let _: () = q(&mut c, &["SET", "str", "x"]);
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a"]);
    for args in [
        &["ZADD", "str", "1", "a"][..],
        &["ZINCRBY", "str", "1", "a"],
        &["ZRANGE", "str", "0", "-1"],
        &["ZSCORE", "str", "a"],
        &["ZCARD", "str"],
        &["ZPOPMIN", "str"],
        &["ZMPOP", "1", "str", "MIN"],
        &["ZUNION", "2", "z", "str"],
        &["ZUNIONSTORE", "d", "2", "z", "str"],
        &["ZRANGESTORE", "d", "str", "0", "-1"],
        &["ZRANDMEMBER", "str"],
        &["ZSCAN", "str", "0"],
        &["GET", "z"],
        &["INCR", "z"],
        &["HSET", "z", "f", "v"],
        &["SADD", "z", "m"],
        &["SMEMBERS", "z"],
    ] {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(q::<String>(&mut c, &["TYPE", "z"]), "zset");
    let (_, keys): (String, Vec<String>) =
        q(&mut c, &["SCAN", "0", "TYPE", "zset", "COUNT", "10000"]);
    assert_eq!(keys, strs(&["z"]));
}

#[test]
fn encodings_and_thresholds() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    let enc = |c: &mut Connection, k: &str| q::<String>(c, &["OBJECT", "ENCODING", k]);
    for i in 0..128 {
        let _: i64 = q(&mut c, &["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    assert_eq!(enc(&mut c, "z"), "listpack");
    let _: i64 = q(&mut c, &["ZADD", "z", "500", "one-more"]);
    assert_eq!(enc(&mut c, "z"), "skiplist");
    assert_eq!(q::<i64>(&mut c, &["ZRANK", "z", "m100"]), 100);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "z", "127", "128"]),
        strs(&["m127", "one-more"])
    );
    let _: i64 = q(&mut c, &["ZADD", "long", "1", &"x".repeat(65)]);
    assert_eq!(enc(&mut c, "long"), "skiplist");
    let _: () = q(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", "2"]);
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "zset-max-ziplist-entries"]);
    assert_eq!(got, strs(&["zset-max-ziplist-entries", "2"]));
    let _: i64 = q(&mut c, &["ZADD", "small", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(enc(&mut c, "small"), "skiplist");
    // A stored result is encoded afresh by the thresholds.
    let _: i64 = q(&mut c, &["ZRANGESTORE", "s2", "small", "0", "1"]);
    assert_eq!(enc(&mut c, "s2"), "listpack");
}

#[test]
fn expiry_rename_copy_move_and_memory() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    let used = |c: &mut Connection| -> u64 {
        let info: String = q(c, &["INFO", "memory"]);
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a"]);
    let small: i64 = q(&mut c, &["MEMORY", "USAGE", "z"]);
    for i in 0..300 {
        let _: i64 = q(
            &mut c,
            &[
                "ZADD",
                "z",
                &i.to_string(),
                &format!("member-{i}-{}", "y".repeat(40)),
            ],
        );
    }
    let big: i64 = q(&mut c, &["MEMORY", "USAGE", "z"]);
    assert!(big > small + 300 * 40, "{small} -> {big}");
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "z", "50"]), 1);
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_eq!(q::<i64>(&mut c, &["ZCARD", "z"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "z"]), 0);
    let _: i64 = q(&mut c, &["ZADD", "y", "1", "a", "2", "b"]);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "y", "1000"]), 1);
    let _: () = q(&mut c, &["RENAME", "y", "y2"]);
    assert!(q::<i64>(&mut c, &["TTL", "y2"]) > 990);
    assert_eq!(q::<i64>(&mut c, &["COPY", "y2", "y3"]), 1);
    let _: i64 = q(&mut c, &["ZREM", "y2", "a"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["ZRANGE", "y3", "0", "-1"]),
        strs(&["a", "b"])
    );
    assert_eq!(q::<i64>(&mut c, &["MOVE", "y3", "2"]), 1);
    let _: () = q(&mut c, &["SELECT", "2"]);
    assert_eq!(q::<i64>(&mut c, &["ZCARD", "y3"]), 2);
    let _: () = q(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["DEL", "y2"]), 1);
    let _: () = q(&mut c, &["FLUSHALL"]);
    assert_eq!(used(&mut c), 0, "the estimate returns to zero");
}

/// Threads ZINCRBY shared members of shared keys (by integers, so sums are exact), ZADD their
/// own members and ZPOPMIN them back out of their own keys; afterwards every shared score is
/// the sum of all increments and each thread's key holds what it left there.
#[test]
fn concurrent_zincrby_zadd_zpopmin_keep_totals() {
    let server = Server::start("uring", "");
    const THREADS: u64 = 4;
    const STEPS: usize = 2000;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut rng = 0x9E37_79B9u64.wrapping_mul(t + 1) | 1;
                let mut incr: BTreeMap<(String, String), i64> = BTreeMap::new();
                let mut own: i64 = 0;
                let mine = format!("own{t}");
                for step in 0..STEPS {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let key = format!("cz{}", rng % 3);
                    match (rng >> 8) % 3 {
                        0 | 1 => {
                            let m = format!("m{}", (rng >> 16) % 20);
                            let by = ((rng >> 32) % 7) as i64 - 3;
                            let _: String = q(&mut c, &["ZINCRBY", &key, &by.to_string(), &m]);
                            *incr.entry((key, m)).or_default() += by;
                        }
                        _ if step % 2 == 0 => {
                            let added: i64 = q(
                                &mut c,
                                &["ZADD", &mine, &step.to_string(), &format!("e{step}")],
                            );
                            own += added;
                        }
                        _ => {
                            let popped: Vec<String> = q(&mut c, &["ZPOPMIN", &mine]);
                            own -= (popped.len() / 2) as i64;
                        }
                    }
                }
                (incr, own)
            })
        })
        .collect();
    let mut c = server.redis();
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (t, h) in threads.into_iter().enumerate() {
        let (incr, own) = h.join().unwrap();
        for (k, v) in incr {
            *want.entry(k).or_default() += v;
        }
        assert_eq!(q::<i64>(&mut c, &["ZCARD", &format!("own{t}")]), own);
    }
    for ((k, m), v) in want {
        let got: String = q(&mut c, &["ZSCORE", &k, &m]);
        assert_eq!(got, v.to_string(), "{k} {m}");
    }
}
