//! Sorted set commands through `dispatch` with a real store: exact replies (RESP2 and RESP3,
//! compared with Redis 7.0.15's bytes), and random command sequences against a model with the
//! store's bookkeeping (memory estimate, zset structure) verified after every command.

use super::tests::Harness;
use std::collections::BTreeMap;

#[test]
fn replies_are_redis_bytes_in_resp2() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        ":3\r\n"
    );
    assert_eq!(h.run(&["ZADD", "z", "CH", "5", "a", "2", "b"]), ":1\r\n");
    assert_eq!(
        h.run(&["ZADD", "z", "NX", "XX", "1", "a"]),
        "-ERR XX and NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        h.run(&["ZADD", "z", "GT", "LT", "1", "a"]),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        h.run(&["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "-ERR INCR option supports a single increment-element pair\r\n"
    );
    assert_eq!(
        h.run(&["ZADD", "z", "1", "a", "2"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        h.run(&["ZADD", "z", "nan", "a"]),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(h.run(&["ZADD", "z", "INCR", "1.5", "a"]), "$3\r\n6.5\r\n");
    assert_eq!(h.run(&["ZADD", "z", "NX", "INCR", "1", "a"]), "$-1\r\n");
    assert_eq!(h.run(&["ZINCRBY", "z", "0.5", "b"]), "$3\r\n2.5\r\n");
    assert_eq!(h.run(&["ZSCORE", "z", "b"]), "$3\r\n2.5\r\n");
    assert_eq!(h.run(&["ZADD", "i", "+inf", "a"]), ":1\r\n");
    assert_eq!(
        h.run(&["ZINCRBY", "i", "-inf", "a"]),
        "-ERR resulting score is not a number (NaN)\r\n"
    );
    assert_eq!(h.run(&["ZSCORE", "i", "a"]), "$3\r\ninf\r\n");
    assert_eq!(h.run(&["ZADD", "f", "0.1", "x"]), ":1\r\n");
    assert_eq!(
        h.run(&["ZRANGE", "f", "0", "-1", "WITHSCORES"]),
        "*2\r\n$1\r\nx\r\n$19\r\n0.10000000000000001\r\n"
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        "*6\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$3\r\n6.5\r\n"
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "(2.5", "+inf", "BYSCORE", "LIMIT", "1", "1"]),
        "*1\r\n$1\r\na\r\n"
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
    );
    assert_eq!(
        h.run(&["ZCOUNT", "z", "x", "1"]),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        h.run(&["ZLEXCOUNT", "z", "a", "+"]),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(h.run(&["ZRANK", "z", "a"]), ":2\r\n");
    assert_eq!(h.run(&["ZREVRANK", "z", "a"]), ":0\r\n");
    assert_eq!(h.run(&["ZRANK", "z", "nosuch"]), "$-1\r\n");
    assert_eq!(
        h.run(&["ZMSCORE", "z", "c", "nosuch"]),
        "*2\r\n$1\r\n3\r\n$-1\r\n"
    );
    assert_eq!(h.run(&["ZPOPMIN", "z"]), "*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n");
    assert_eq!(
        h.run(&["ZPOPMAX", "z", "5"]),
        "*4\r\n$1\r\na\r\n$3\r\n6.5\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(h.run(&["EXISTS", "z"]), ":0\r\n");
    assert_eq!(
        h.run(&["ZPOPMIN", "z", "-1"]),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(h.run(&["ZADD", "p", "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(
        h.run(&["ZMPOP", "2", "nokey", "p", "MAX", "COUNT", "5"]),
        "*2\r\n$1\r\np\r\n*2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(h.run(&["ZMPOP", "1", "p", "MIN"]), "*-1\r\n");
    assert_eq!(
        h.run(&["ZMPOP", "0", "p", "MIN"]),
        "-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(h.run(&["ZADD", "u1", "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(h.run(&["ZADD", "u2", "10", "b", "20", "c"]), ":2\r\n");
    assert_eq!(h.run(&["SADD", "s", "c"]), ":1\r\n");
    assert_eq!(
        h.run(&[
            "ZUNION",
            "3",
            "u1",
            "u2",
            "s",
            "WEIGHTS",
            "2",
            "1",
            "1",
            "WITHSCORES"
        ]),
        "*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$2\r\n14\r\n$1\r\nc\r\n$2\r\n21\r\n"
    );
    assert_eq!(
        h.run(&["ZINTER", "2", "u1", "u2", "AGGREGATE", "MAX", "WITHSCORES"]),
        "*2\r\n$1\r\nb\r\n$2\r\n10\r\n"
    );
    assert_eq!(h.run(&["ZDIFFSTORE", "d", "2", "u1", "u2"]), ":1\r\n");
    assert_eq!(
        h.run(&["ZINTERCARD", "2", "u1", "u2", "LIMIT", "5"]),
        ":1\r\n"
    );
    assert_eq!(
        h.run(&["ZUNION", "0", "u1"]),
        "-ERR at least 1 input key is needed for 'zunion' command\r\n"
    );
    assert_eq!(h.run(&["ZRANGESTORE", "r", "u2", "0", "0"]), ":1\r\n");
    assert_eq!(h.run(&["ZRANGE", "r", "0", "-1"]), "*1\r\n$1\r\nb\r\n");
    assert_eq!(
        h.run(&["ZSCAN", "f", "0"]),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nx\r\n$19\r\n0.10000000000000001\r\n"
    );
    assert_eq!(h.run(&["SET", "str", "x"]), "+OK\r\n");
    assert_eq!(
        h.run(&["ZADD", "str", "1", "a"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        h.run(&["GET", "u1"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    // Lex ranges over different scores answer as Redis's listpack walk does.
    assert_eq!(
        h.run(&["ZADD", "k", "0", "a", "1", "z", "2", "b"]),
        ":3\r\n"
    );
    assert_eq!(h.run(&["ZRANGEBYLEX", "k", "[c", "+"]), "*0\r\n");
    assert_eq!(h.run(&["ZREVRANGEBYLEX", "k", "+", "[c"]), "*0\r\n");
    assert_eq!(
        h.run(&["ZRANGEBYLEX", "k", "[b", "+"]),
        "*2\r\n$1\r\nz\r\n$1\r\nb\r\n"
    );
    assert_eq!(h.run(&["ZLEXCOUNT", "k", "(a", "[z"]), ":2\r\n");
    assert_eq!(
        h.run(&[
            "ZRANGE",
            "u1",
            "-9223372036854775808",
            "9223372036854775807"
        ]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        h.run(&["ZREMRANGEBYRANK", "nokey", "-9223372036854775808", "-1"]),
        ":0\r\n"
    );
    assert_eq!(h.run(&["TYPE", "u1"]), "+zset\r\n");
    assert_eq!(h.run(&["OBJECT", "ENCODING", "u1"]), "$8\r\nlistpack\r\n");
    h.state.cache.verify().unwrap();
}

#[test]
fn replies_are_redis_bytes_in_resp3() {
    let mut h = Harness::new();
    assert!(h.run(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(h.run(&["ZADD", "z", "1", "a", "2.5", "b"]), ":2\r\n");
    assert_eq!(h.run(&["ZSCORE", "z", "b"]), ",2.5\r\n");
    assert_eq!(h.run(&["ZSCORE", "z", "x"]), "_\r\n");
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "-1"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(h.run(&["ZINCRBY", "z", "1", "a"]), ",2\r\n");
    // Without a count the pop is flat in RESP3 too; with one it is pairs.
    assert_eq!(h.run(&["ZPOPMIN", "z"]), "*2\r\n$1\r\na\r\n,2\r\n");
    assert_eq!(
        h.run(&["ZPOPMAX", "z", "1"]),
        "*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"
    );
    assert_eq!(h.run(&["ZMPOP", "1", "z", "MIN"]), "_\r\n");
    assert_eq!(h.run(&["ZADD", "z", "-inf", "m"]), ":1\r\n");
    assert_eq!(
        h.run(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]),
        "*2\r\n*2\r\n$1\r\nm\r\n,-inf\r\n*2\r\n$1\r\nm\r\n,-inf\r\n"
    );
    assert_eq!(
        h.run(&["ZSCAN", "z", "0"]),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nm\r\n$4\r\n-inf\r\n"
    );
    assert_eq!(h.run(&["ZMSCORE", "z", "m", "x"]), "*2\r\n,-inf\r\n_\r\n");
    h.state.cache.verify().unwrap();
}

#[test]
fn encodings_follow_the_thresholds() {
    let mut h = Harness::new();
    h.run(&["CONFIG", "SET", "zset-max-ziplist-entries", "2"]);
    assert_eq!(
        h.run(&["CONFIG", "GET", "zset-max-listpack-entries"]),
        "*2\r\n$25\r\nzset-max-listpack-entries\r\n$1\r\n2\r\n"
    );
    h.run(&["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "z"]), "$8\r\nlistpack\r\n");
    h.run(&["ZADD", "z", "3", "c"]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    h.run(&["ZREM", "z", "c"]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    // A computed result is encoded afresh.
    h.run(&["ZUNIONSTORE", "u", "1", "z"]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "u"]), "$8\r\nlistpack\r\n");
    h.run(&["CONFIG", "SET", "zset-max-listpack-value", "3"]);
    h.run(&["ZADD", "long", "1", "abcd"]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "long"]), "$8\r\nskiplist\r\n");
    h.state.cache.verify().unwrap();
}

/// Random ZADD/ZINCRBY/ZREM/ZPOP*/ZREMRANGEBY*/Z*STORE/RENAME/COPY/DEL/EXPIRE over a few
/// keys with tiny thresholds, so conversions happen; after every command the store verifies
/// its memory estimate and every zset's structure, and ZRANGE matches a model.
#[test]
fn random_commands_keep_the_store_consistent() {
    for seed in 1..=12u64 {
        let mut h = Harness::new();
        h.run(&["CONFIG", "SET", "zset-max-listpack-entries", "4"]);
        h.run(&["CONFIG", "SET", "zset-max-listpack-value", "6"]);
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // key -> member -> score (integers, so exact and easy to print)
        let mut model: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for step in 0..300 {
            let r = next();
            let k = format!("z{}", r % 3);
            let m = if (r >> 8) % 5 == 0 {
                format!("longmember{}", (r >> 12) % 3)
            } else {
                format!("m{}", (r >> 12) % 8)
            };
            let s = ((r >> 20) % 7) as i64 - 3;
            match (r >> 32) % 10 {
                0..=2 => {
                    h.run(&["ZADD", &k, &s.to_string(), &m]);
                    model.entry(k.clone()).or_default().insert(m.clone(), s);
                }
                3 => {
                    let reply = h.run(&["ZINCRBY", &k, &s.to_string(), &m]);
                    let e = model
                        .entry(k.clone())
                        .or_default()
                        .entry(m.clone())
                        .or_insert(0);
                    *e += s;
                    let text = e.to_string();
                    assert_eq!(reply, format!("${}\r\n{text}\r\n", text.len()));
                }
                4 => {
                    h.run(&["ZREM", &k, &m]);
                    remove(&mut model, &k, |z| {
                        z.remove(&m);
                    });
                }
                5 => {
                    let (cmd, max) = if r & 1 == 0 {
                        ("ZPOPMIN", false)
                    } else {
                        ("ZPOPMAX", true)
                    };
                    h.run(&[cmd, &k, "2"]);
                    remove(&mut model, &k, |z| {
                        for (m, _) in sorted(z).into_iter().take(2).collect::<Vec<_>>() {
                            if !max {
                                z.remove(&m);
                            }
                        }
                        if max {
                            let mut all = sorted(z);
                            all.reverse();
                            for (m, _) in all.into_iter().take(2) {
                                z.remove(&m);
                            }
                        }
                    });
                }
                6 => {
                    h.run(&["ZREMRANGEBYSCORE", &k, "-1", "1"]);
                    remove(&mut model, &k, |z| z.retain(|_, s| !(-1..=1).contains(s)));
                }
                7 => {
                    let reply = h.run(&["ZUNIONSTORE", "z2", "2", "z0", "z1"]);
                    let mut u = model.get("z0").cloned().unwrap_or_default();
                    for (m, s) in model.get("z1").cloned().unwrap_or_default() {
                        *u.entry(m).or_insert(0) += s;
                    }
                    assert_eq!(reply, format!(":{}\r\n", u.len()));
                    if u.is_empty() {
                        model.remove("z2");
                    } else {
                        model.insert("z2".into(), u);
                    }
                }
                8 => {
                    h.run(&["COPY", &k, "z2", "REPLACE"]);
                    if let Some(z) = model.get(&k).cloned() {
                        model.insert("z2".into(), z);
                    }
                }
                _ => {
                    h.run(&["RENAME", &k, "z1"]);
                    if let Some(z) = model.remove(&k) {
                        model.insert("z1".into(), z);
                    }
                }
            }
            h.state
                .cache
                .verify()
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            for key in ["z0", "z1", "z2"] {
                let want = model.get(key).map(sorted).unwrap_or_default();
                let mut expect = format!("*{}\r\n", want.len() * 2);
                for (m, s) in &want {
                    let s = s.to_string();
                    expect.push_str(&format!("${}\r\n{m}\r\n${}\r\n{s}\r\n", m.len(), s.len()));
                }
                assert_eq!(
                    h.run(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
                    expect,
                    "seed {seed} step {step} key {key}"
                );
            }
        }
        h.run(&["FLUSHALL"]);
        assert_eq!(h.state.cache.used_memory(), 0);
    }
}

type Model = BTreeMap<String, BTreeMap<String, i64>>;

/// Applies `f` to the model's zset at `k`, dropping the key when it empties.
fn remove(model: &mut Model, k: &str, f: impl FnOnce(&mut BTreeMap<String, i64>)) {
    if let Some(z) = model.get_mut(k) {
        f(z);
        if z.is_empty() {
            model.remove(k);
        }
    }
}

fn sorted(z: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}
