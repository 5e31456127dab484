//! Hashes and sets over the real server with the `redis` crate, in RESP2 and RESP3: every
//! command, WRONGTYPE both ways, encodings and their thresholds, expiry, RENAME/COPY/MOVE,
//! the memory estimate, and concurrent SADD/SREM/SMOVE on shared keys.

mod common;

use common::Server;
use redis::{cmd, Connection, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    // The crate splits "CODE detail"; put Redis's line back together.
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn hash_commands_resp2() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "10", "c", "3"]), 1);
    assert_eq!(q::<String>(&mut c, &["HMSET", "h", "d", "4"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "a", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "e", "5"]), 1);
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "a"]), "10");
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "h", "zz"]), None);
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["HMGET", "h", "a", "zz", "b"]),
        vec![Some("10".into()), None, Some("2".into())]
    );
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h"]), 5);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "a"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "zz"]), 0);
    // A listpack keeps insertion order, as Redis's does.
    assert_eq!(
        q::<Vec<String>>(&mut c, &["HKEYS", "h"]),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["HVALS", "h"]),
        ["10", "2", "3", "4", "5"]
    );
    let all: Vec<String> = q(&mut c, &["HGETALL", "h"]);
    assert_eq!(all, ["a", "10", "b", "2", "c", "3", "d", "4", "e", "5"]);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "h", "a", "zz", "b"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "5"]), 5);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "-7"]), -2);
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]),
        "0.1"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "0.2"]),
        "0.3"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "n", "2.5"]),
        "0.5"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "f", "1"]),
        "ERR hash value is not an integer"
    );
    let _: i64 = q(&mut c, &["HSET", "h", "s", "abc"]);
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "s", "inf"]),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    let _: i64 = q(&mut c, &["HSET", "h", "big", "9223372036854775807"]);
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(&mut c, &["HSET", "h", "odd"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, &["HMSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    // HRANDFIELD: one field, distinct fields, repeats with a negative count, values.
    let fields: BTreeSet<String> = q::<Vec<String>>(&mut c, &["HKEYS", "h"])
        .into_iter()
        .collect();
    let one: String = q(&mut c, &["HRANDFIELD", "h"]);
    assert!(fields.contains(&one));
    let three: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "3"]);
    assert_eq!(three.iter().collect::<BTreeSet<_>>().len(), 3);
    let many: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "100"]);
    assert_eq!(many.len(), fields.len());
    let repeats: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-50"]);
    assert_eq!(repeats.len(), 50);
    assert!(repeats.iter().all(|f| fields.contains(f)));
    let with: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-4", "WITHVALUES"]);
    assert_eq!(with.len(), 8);
    for pair in with.chunks(2) {
        assert_eq!(q::<String>(&mut c, &["HGET", "h", &pair[0]]), pair[1]);
    }
    assert_eq!(q::<Option<String>>(&mut c, &["HRANDFIELD", "nokey"]), None);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["HRANDFIELD", "nokey", "5"]),
        Vec::<String>::new()
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "1", "foo"]),
        "ERR syntax error"
    );
    // The last field deleted deletes the key.
    assert_eq!(q::<i64>(&mut c, &["HSET", "tiny", "x", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "tiny", "x"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "tiny"]), 0);
    assert_eq!(q::<String>(&mut c, &["TYPE", "h"]), "hash");
}

#[test]
fn hscan_and_sscan_return_everything_in_both_encodings() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    for n in [10usize, 1000] {
        let key = format!("h{n}");
        let skey = format!("s{n}");
        for i in 0..n {
            let _: i64 = q(&mut c, &["HSET", &key, &format!("f{i}"), &format!("v{i}")]);
            let _: i64 = q(&mut c, &["SADD", &skey, &format!("m{i}")]);
        }
        let mut seen = HashMap::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, items): (String, Vec<String>) =
                q(&mut c, &["HSCAN", &key, &cursor, "COUNT", "20"]);
            for p in items.chunks(2) {
                seen.insert(p[0].clone(), p[1].clone());
            }
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        let mut members = BTreeSet::new();
        loop {
            let (next, items): (String, Vec<String>) =
                q(&mut c, &["SSCAN", &skey, &cursor, "MATCH", "m*"]);
            members.extend(items);
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), n);
        assert!((0..n).all(|i| seen.get(&format!("f{i}")) == Some(&format!("v{i}"))));
        assert_eq!(members.len(), n);
        let (_, matched): (String, Vec<String>) = q(&mut c, &["HSCAN", "h10", "0", "MATCH", "f1*"]);
        assert_eq!(matched, ["f1", "v1"]);
    }
    assert_eq!(err(&mut c, &["HSCAN", "h10", "x"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["SSCAN", "s10", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    let empty: (String, Vec<String>) = q(&mut c, &["SSCAN", "nokey", "0"]);
    assert_eq!(empty, ("0".into(), vec![]));
}

#[test]
fn set_commands_resp2() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    assert_eq!(q::<i64>(&mut c, &["SADD", "s", "3", "1", "2", "2"]), 3);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["SMEMBERS", "s"]),
        ["1", "2", "3"],
        "intset order"
    );
    assert_eq!(q::<i64>(&mut c, &["SREM", "s", "1", "9"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 2);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", "2"]), 1);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["SMISMEMBER", "s", "2", "9", "3"]),
        [1, 0, 1]
    );
    assert_eq!(q::<Vec<i64>>(&mut c, &["SMISMEMBER", "nokey", "2"]), [0]);
    let _: i64 = q(&mut c, &["SADD", "a", "1", "2", "3", "4"]);
    let _: i64 = q(&mut c, &["SADD", "b", "3", "4", "5", "x"]);
    assert_eq!(sorted(q(&mut c, &["SINTER", "a", "b"])), ["3", "4"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["SINTER", "a", "nokey"]),
        Vec::<String>::new()
    );
    assert_eq!(
        sorted(q(&mut c, &["SUNION", "a", "b"])),
        ["1", "2", "3", "4", "5", "x"]
    );
    assert_eq!(sorted(q(&mut c, &["SDIFF", "a", "b"])), ["1", "2"]);
    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        1
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "0", "a"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "3", "a", "b"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "1", "a", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "a", "b"]), 2);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "d"]), "intset");
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "a", "b"]), 6);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "d"]),
        "hashtable"
    );
    assert_eq!(q::<i64>(&mut c, &["SDIFFSTORE", "d", "a", "b"]), 2);
    assert_eq!(q::<Vec<String>>(&mut c, &["SMEMBERS", "d"]), ["1", "2"]);
    // An empty result deletes the destination.
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "a", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    // SMOVE
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "b", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "b", "1"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "a", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "nokey", "b", "2"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "fresh", "2"]), 1);
    assert_eq!(q::<Vec<String>>(&mut c, &["SMEMBERS", "fresh"]), ["2"]);
    // SPOP / SRANDMEMBER
    let _: i64 = q(&mut c, &["SADD", "p", "1", "2", "3", "4", "5"]);
    let one: String = q(&mut c, &["SPOP", "p"]);
    let two: Vec<String> = q(&mut c, &["SPOP", "p", "2"]);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "p"]), 2);
    let mut popped: BTreeSet<String> = two.into_iter().collect();
    popped.insert(one);
    popped.extend(q::<Vec<String>>(&mut c, &["SMEMBERS", "p"]));
    assert_eq!(popped.len(), 5);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["SRANDMEMBER", "p", "-10"]).len(),
        10
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["SRANDMEMBER", "p", "10"]).len(),
        2
    );
    let _: Vec<String> = q(&mut c, &["SPOP", "p", "10"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "p"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["SPOP", "p"]), None);
    assert_eq!(q::<Option<String>>(&mut c, &["SRANDMEMBER", "p"]), None);
    assert_eq!(
        err(&mut c, &["SPOP", "a", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(q::<String>(&mut c, &["TYPE", "a"]), "set");
}

#[test]
fn resp3_shapes() {
    let server = Server::start("uring", "");
    let mut c = resp3(&server);
    let _: i64 = q(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let _: i64 = q(&mut c, &["SADD", "s", "1", "2"]);
    match q::<Value>(&mut c, &["HGETALL", "h"]) {
        Value::Map(pairs) => assert_eq!(pairs.len(), 2),
        v => panic!("HGETALL: map expected, got {v:?}"),
    }
    assert_eq!(
        q::<Value>(&mut c, &["HGETALL", "nokey"]),
        Value::Map(vec![])
    );
    match q::<Value>(&mut c, &["HRANDFIELD", "h", "2", "WITHVALUES"]) {
        Value::Array(items) => {
            assert_eq!(items.len(), 2);
            assert!(items
                .iter()
                .all(|p| matches!(p, Value::Array(kv) if kv.len() == 2)));
        }
        v => panic!("HRANDFIELD WITHVALUES: array of pairs expected, got {v:?}"),
    }
    for args in [
        &["SMEMBERS", "s"][..],
        &["SINTER", "s"],
        &["SUNION", "s"],
        &["SDIFF", "s"],
        &["SPOP", "nokey", "2"],
    ] {
        assert!(
            matches!(q::<Value>(&mut c, args), Value::Set(_)),
            "{args:?}: set expected"
        );
    }
    assert!(matches!(
        q::<Value>(&mut c, &["SRANDMEMBER", "s", "2"]),
        Value::Array(_)
    ));
    assert!(matches!(
        q::<Value>(&mut c, &["SMISMEMBER", "s", "1"]),
        Value::Array(_)
    ));
    assert_eq!(q::<Value>(&mut c, &["SPOP", "nokey"]), Value::Nil);
}

#[test]
fn wrongtype_both_ways() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    let _: () = q(&mut c, &["SET", "str", "v"]);
    let _: i64 = q(&mut c, &["HSET", "h", "f", "v"]);
    let _: i64 = q(&mut c, &["SADD", "s", "m"]);
    for key in ["h", "s"] {
        for args in [
            vec!["GET", key],
            vec!["APPEND", key, "x"],
            vec!["STRLEN", key],
            vec!["INCR", key],
            vec!["INCRBYFLOAT", key, "1"],
            vec!["GETRANGE", key, "0", "1"],
            vec!["SETRANGE", key, "0", "x"],
            vec!["GETBIT", key, "0"],
            vec!["SETBIT", key, "0", "1"],
            vec!["BITCOUNT", key],
            vec!["GETDEL", key],
            vec!["GETEX", key],
            vec!["GETSET", key, "x"],
            vec!["SET", key, "x", "GET"],
        ] {
            assert_eq!(err(&mut c, &args), WRONGTYPE, "{args:?}");
        }
    }
    for args in [
        vec!["HGET", "str", "f"],
        vec!["HSET", "s", "f", "v"],
        vec!["HGETALL", "str"],
        vec!["HINCRBY", "s", "f", "1"],
        vec!["HSCAN", "s", "0"],
        vec!["SADD", "h", "m"],
        vec!["SMEMBERS", "str"],
        vec!["SINTER", "s", "h"],
        vec!["SUNIONSTORE", "d", "s", "str"],
        vec!["SMOVE", "s", "h", "m"],
        vec!["SMOVE", "str", "s", "m"],
        vec!["SINTERCARD", "2", "s", "h"],
        vec!["SPOP", "h"],
    ] {
        assert_eq!(err(&mut c, &args), WRONGTYPE, "{args:?}");
    }
    // MGET answers nil for other types; SET without GET replaces any type.
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "h", "str", "s"]);
    assert_eq!(got, vec![None, Some("v".into()), None]);
    assert_eq!(
        err(&mut c, &["LCS", "h", "str"]),
        "ERR The specified keys must contain string values"
    );
    let _: () = q(&mut c, &["SET", "h", "now-a-string"]);
    assert_eq!(q::<String>(&mut c, &["TYPE", "h"]), "string");
    // The failed commands changed nothing.
    assert_eq!(q::<Vec<String>>(&mut c, &["SMEMBERS", "s"]), ["m"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    let scanned: (String, Vec<String>) = q(&mut c, &["SCAN", "0", "TYPE", "set", "COUNT", "10000"]);
    assert_eq!(scanned.1, ["s"]);
}

#[test]
fn encodings_follow_the_thresholds_one_way() {
    let server = Server::start("epoll", "");
    let mut c = server.redis();
    let enc = |c: &mut Connection, k: &str| q::<String>(c, &["OBJECT", "ENCODING", k]);
    let cfg: BTreeMap<String, String> = q(&mut c, &["CONFIG", "GET", "*max-*-entries"]);
    assert_eq!(
        cfg.get("hash-max-listpack-entries").map(String::as_str),
        Some("512")
    );
    assert_eq!(
        cfg.get("set-max-intset-entries").map(String::as_str),
        Some("512")
    );
    let _: i64 = q(&mut c, &["HSET", "h", "f", &"x".repeat(64)]);
    assert_eq!(enc(&mut c, "h"), "listpack");
    let _: i64 = q(&mut c, &["HSET", "h", "g", &"x".repeat(65)]);
    assert_eq!(enc(&mut c, "h"), "hashtable");
    let _: i64 = q(&mut c, &["HDEL", "h", "g"]);
    assert_eq!(enc(&mut c, "h"), "hashtable", "never converted back");
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-ziplist-entries", "3"]);
    let _: i64 = q(&mut c, &["HSET", "n", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(enc(&mut c, "n"), "listpack");
    let _: i64 = q(&mut c, &["HSET", "n", "d", "4"]);
    assert_eq!(enc(&mut c, "n"), "hashtable");
    let _: i64 = q(&mut c, &["SADD", "i", "1", "-5", "100000000000"]);
    assert_eq!(enc(&mut c, "i"), "intset");
    let _: i64 = q(&mut c, &["SADD", "i", "01"]);
    assert_eq!(
        enc(&mut c, "i"),
        "hashtable",
        "01 is not an integer to Redis"
    );
    let _: () = q(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "4"]);
    let _: i64 = q(&mut c, &["SADD", "j", "1", "2", "3", "4"]);
    assert_eq!(enc(&mut c, "j"), "intset");
    let _: i64 = q(&mut c, &["SADD", "j", "5"]);
    assert_eq!(enc(&mut c, "j"), "hashtable");
    assert_eq!(
        err(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'set-max-intset-entries') - argument must be between 0 and 9223372036854775807 inclusive"
    );
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
    let base = used(&mut c);
    let _: i64 = q(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let _: i64 = q(&mut c, &["SADD", "s", "x", "y"]);
    let small: i64 = q(&mut c, &["MEMORY", "USAGE", "h"]);
    for i in 0..200 {
        let _: i64 = q(&mut c, &["HSET", "h", &format!("f{i}"), &"v".repeat(100)]);
    }
    let big: i64 = q(&mut c, &["MEMORY", "USAGE", "h"]);
    assert!(big > small + 200 * 100, "{small} -> {big}");
    assert!(used(&mut c) > base + 20_000);
    // Expiry applies to the whole collection.
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "s", "50"]), 1);
    assert!(q::<i64>(&mut c, &["PTTL", "s"]) > 0);
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    // RENAME keeps the TTL; COPY is independent of its source; MOVE to another db.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "h", "1000"]), 1);
    let _: () = q(&mut c, &["RENAME", "h", "h2"]);
    assert!(q::<i64>(&mut c, &["TTL", "h2"]) > 990);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "h2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "h2"]), -1);
    assert_eq!(q::<i64>(&mut c, &["COPY", "h2", "h3"]), 1);
    let _: i64 = q(&mut c, &["HDEL", "h2", "a"]);
    assert_eq!(q::<String>(&mut c, &["HGET", "h3", "a"]), "1");
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "h3"]),
        "hashtable"
    );
    let _: i64 = q(&mut c, &["SADD", "m", "1", "2"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "m", "1"]), 1);
    let _: () = q(&mut c, &["SELECT", "1"]);
    assert_eq!(q::<Vec<String>>(&mut c, &["SMEMBERS", "m"]), ["1", "2"]);
    let _: () = q(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["UNLINK", "h2", "h3"]), 2);
    let _: () = q(&mut c, &["FLUSHALL"]);
    assert_eq!(used(&mut c), 0, "the estimate returns to zero");
}

/// Threads move shared members between three sets with SMOVE while adding and removing
/// members of their own; afterwards every shared member is in exactly one set and each
/// thread's own members are exactly what it left there.
#[test]
fn concurrent_sadd_srem_smove_keep_totals() {
    let server = Server::start("uring", "");
    let mut c = server.redis();
    const SHARED: usize = 300;
    let keys = ["cs:a", "cs:b", "cs:c"];
    for i in 0..SHARED {
        let _: i64 = q(&mut c, &["SADD", keys[i % 3], &format!("m{i}")]);
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut rng = 0x9E37_79B9u64.wrapping_mul(t + 1) | 1;
                let mut mine = BTreeSet::new();
                for _ in 0..3000 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let (src, dst) = (keys[rng as usize % 3], keys[(rng >> 8) as usize % 3]);
                    match (rng >> 16) % 4 {
                        0 | 1 => {
                            let m = format!("m{}", (rng >> 24) as usize % SHARED);
                            let _: i64 = q(&mut c, &["SMOVE", src, dst, &m]);
                        }
                        2 => {
                            let m = format!("t{t}-{}", (rng >> 24) % 50);
                            let added: i64 = q(&mut c, &["SADD", src, &m]);
                            if added == 1 {
                                mine.insert((src, m));
                            }
                        }
                        _ => {
                            if let Some((k, m)) = mine.iter().next().cloned() {
                                let removed: i64 = q(&mut c, &["SREM", k, &m]);
                                assert_eq!(removed, 1, "own member {m} vanished from {k}");
                                mine.remove(&(k, m));
                            }
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut own = BTreeSet::new();
    for h in threads {
        own.extend(h.join().unwrap());
    }
    let mut where_is: HashMap<String, usize> = HashMap::new();
    let mut own_found = BTreeSet::new();
    for k in keys {
        for m in q::<Vec<String>>(&mut c, &["SMEMBERS", k]) {
            if m.starts_with('m') {
                *where_is.entry(m).or_default() += 1;
            } else {
                own_found.insert((k, m));
            }
        }
    }
    assert_eq!(where_is.len(), SHARED, "shared members lost");
    assert!(where_is.values().all(|&n| n == 1), "a member in two sets");
    assert_eq!(own_found, own);
    let total: i64 = keys.iter().map(|k| q::<i64>(&mut c, &["SCARD", k])).sum();
    assert_eq!(total as usize, SHARED + own.len());
}
