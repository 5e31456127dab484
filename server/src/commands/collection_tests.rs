//! Hash and set commands through `dispatch` with a real store: exact replies for the edge
//! cases, and random command sequences against a model with the store's bookkeeping (memory
//! estimate, collection structure) verified after every command.

use super::tests::Harness;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn replies_are_redis_bytes() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
    assert_eq!(
        h.run(&["HGETALL", "h"]),
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(h.run(&["HGET", "h", "x"]), "$-1\r\n");
    assert_eq!(h.run(&["HINCRBYFLOAT", "h", "a", "1.5"]), "$3\r\n2.5\r\n");
    assert_eq!(h.run(&["HINCRBYFLOAT", "h", "a", "0.5"]), "$1\r\n3\r\n");
    assert_eq!(
        h.run(&["HSCAN", "h", "0", "MATCH", "b"]),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(h.run(&["SADD", "s", "2", "1"]), ":2\r\n");
    assert_eq!(h.run(&["SMEMBERS", "s"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_eq!(h.run(&["SPOP", "nokey", "3"]), "*0\r\n");
    assert_eq!(h.run(&["TYPE", "s"]), "+set\r\n");
    assert_eq!(h.run(&["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
    assert_eq!(h.run(&["OBJECT", "ENCODING", "s"]), "$6\r\nintset\r\n");
    assert!(h.run(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        h.run(&["HGETALL", "h"]),
        "%2\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(h.run(&["SMEMBERS", "s"]), "~2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_eq!(h.run(&["SPOP", "nokey", "3"]), "~0\r\n");
    assert_eq!(h.run(&["SPOP", "nokey"]), "_\r\n");
    h.state.cache.verify().unwrap();
}

/// Random HSET/HDEL/HINCRBY/SADD/SREM/SPOP/SMOVE/S*STORE/RENAME/COPY/DEL/EXPIRE over a few
/// keys, with tiny encoding thresholds so conversions happen; after every command the store
/// verifies its memory estimate and every collection's structure, and the contents match a
/// model.
#[test]
fn random_commands_keep_the_store_consistent() {
    // Each seed builds a whole store (16 databases x 1024 shards) that verify() walks after
    // every command, so seeds are few and runs short.
    for seed in 1..=16u64 {
        let mut h = Harness::new();
        h.run(&["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
        h.run(&["CONFIG", "SET", "hash-max-listpack-value", "6"]);
        h.run(&["CONFIG", "SET", "set-max-intset-entries", "5"]);
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut hashes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for step in 0..400 {
            let r = next();
            let hk = format!("h{}", r % 3);
            let sk = format!("s{}", (r >> 4) % 3);
            let f = format!("f{}", (r >> 8) % 8);
            let v = "v".repeat(((r >> 12) % 9) as usize);
            let m = if (r >> 16) % 4 == 0 {
                format!("x{}", (r >> 20) % 5)
            } else {
                format!("{}", (r >> 20) % 9)
            };
            match (r >> 32) % 10 {
                0 | 1 => {
                    h.run(&["HSET", &hk, &f, &v]);
                    hashes
                        .entry(hk.clone())
                        .or_default()
                        .insert(f.clone(), v.clone());
                }
                2 => {
                    h.run(&["HDEL", &hk, &f]);
                    if let Some(map) = hashes.get_mut(&hk) {
                        map.remove(&f);
                        if map.is_empty() {
                            hashes.remove(&hk);
                        }
                    }
                }
                3 => {
                    let reply = h.run(&["HINCRBY", &hk, "n", "3"]);
                    let map = hashes.entry(hk.clone()).or_default();
                    let n: i64 = map.get("n").map_or(0, |s| s.parse().unwrap()) + 3;
                    assert_eq!(reply, format!(":{n}\r\n"));
                    map.insert("n".into(), n.to_string());
                }
                4 | 5 => {
                    h.run(&["SADD", &sk, &m]);
                    sets.entry(sk.clone()).or_default().insert(m.clone());
                }
                6 => {
                    h.run(&["SREM", &sk, &m]);
                    if let Some(s) = sets.get_mut(&sk) {
                        s.remove(&m);
                        if s.is_empty() {
                            sets.remove(&sk);
                        }
                    }
                }
                7 => {
                    let dst = format!("s{}", (r >> 40) % 3);
                    let reply = h.run(&["SMOVE", &sk, &dst, &m]);
                    let present = sets.get(&sk).is_some_and(|s| s.contains(&m));
                    assert_eq!(reply, format!(":{}\r\n", i64::from(present)));
                    if present && dst != sk {
                        sets.get_mut(&sk).unwrap().remove(&m);
                        if sets[&sk].is_empty() {
                            sets.remove(&sk);
                        }
                        sets.entry(dst).or_default().insert(m.clone());
                    }
                }
                8 => {
                    let (a, b) = ("s0".to_string(), "s1".to_string());
                    let sa = sets.get(&a).cloned().unwrap_or_default();
                    let sb = sets.get(&b).cloned().unwrap_or_default();
                    let (cmd, result): (&str, BTreeSet<String>) = match (r >> 40) % 3 {
                        0 => ("SINTERSTORE", sa.intersection(&sb).cloned().collect()),
                        1 => ("SUNIONSTORE", sa.union(&sb).cloned().collect()),
                        _ => ("SDIFFSTORE", sa.difference(&sb).cloned().collect()),
                    };
                    assert_eq!(
                        h.run(&[cmd, "s2", &a, &b]),
                        format!(":{}\r\n", result.len())
                    );
                    if result.is_empty() {
                        sets.remove("s2");
                    } else {
                        sets.insert("s2".into(), result);
                    }
                }
                _ => {
                    if let Some(s) = sets.get(&sk).filter(|_| r % 2 == 0) {
                        let popped = h.run(&["SPOP", &sk]);
                        let member = popped.split("\r\n").nth(1).unwrap().to_string();
                        assert!(s.contains(&member), "step {step}: popped {member}");
                        let s = sets.get_mut(&sk).unwrap();
                        s.remove(&member);
                        if s.is_empty() {
                            sets.remove(&sk);
                        }
                    } else {
                        h.run(&["COPY", &hk, "h2", "REPLACE"]);
                        if let Some(map) = hashes.get(&hk).cloned() {
                            hashes.insert("h2".into(), map);
                        }
                    }
                }
            }
            h.state
                .cache
                .verify()
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
        }
        for (k, map) in &hashes {
            assert_eq!(h.run(&["HLEN", k]), format!(":{}\r\n", map.len()));
            for (f, v) in map {
                assert_eq!(h.run(&["HGET", k, f]), format!("${}\r\n{v}\r\n", v.len()));
            }
        }
        for (k, s) in &sets {
            assert_eq!(h.run(&["SCARD", k]), format!(":{}\r\n", s.len()));
            for m in s {
                assert_eq!(h.run(&["SISMEMBER", k, m]), ":1\r\n");
            }
        }
        assert_eq!(
            h.run(&["DBSIZE"]),
            format!(":{}\r\n", hashes.len() + sets.len())
        );
        h.run(&["FLUSHALL"]);
        assert_eq!(h.state.cache.used_memory(), 0);
    }
}
