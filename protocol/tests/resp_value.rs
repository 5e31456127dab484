//! The client-side value parser, and the encoder round-tripping through it.

use bytes::BytesMut;
use proptest::prelude::*;
use protocol::resp::{parse_value, Reply, RespVersion, Value, ValueLimits};

fn parse(input: &[u8]) -> Value {
    let (v, used) = parse_value(input, &ValueLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(used, input.len());
    v
}

#[test]
fn every_type() {
    assert_eq!(parse(b"+OK\r\n"), Value::Simple("OK".into()));
    assert_eq!(parse(b"-ERR x\r\n"), Value::Error("ERR x".into()));
    assert_eq!(parse(b":-3\r\n"), Value::Integer(-3));
    assert_eq!(parse(b"$-1\r\n"), Value::Null);
    assert_eq!(parse(b"*-1\r\n"), Value::Null);
    assert_eq!(parse(b"_\r\n"), Value::Null);
    assert_eq!(parse(b"#t\r\n"), Value::Boolean(true));
    assert_eq!(parse(b",1.5\r\n"), Value::Double(1.5));
    assert_eq!(
        parse(b"(12345678901234567890\r\n"),
        Value::BigNumber("12345678901234567890".into())
    );
    assert_eq!(
        parse(b"=7\r\ntxt:abc\r\n"),
        Value::Verbatim {
            format: "txt".into(),
            text: b"abc".to_vec()
        }
    );
    assert_eq!(parse(b"!5\r\nERR x\r\n"), Value::Error("ERR x".into()));
    assert_eq!(
        parse(b"%1\r\n+a\r\n*2\r\n:1\r\n$0\r\n\r\n"),
        Value::Map(vec![(
            Value::Simple("a".into()),
            Value::Array(vec![Value::Integer(1), Value::Bulk(vec![])])
        )])
    );
    assert_eq!(parse(b"~1\r\n:1\r\n"), Value::Set(vec![Value::Integer(1)]));
    assert_eq!(parse(b">1\r\n:1\r\n"), Value::Push(vec![Value::Integer(1)]));
}

#[test]
fn incomplete_and_malformed() {
    let l = ValueLimits::default();
    assert_eq!(parse_value(b"*2\r\n:1\r\n", &l), Ok(None));
    assert_eq!(parse_value(b"$3\r\nab", &l), Ok(None));
    assert!(parse_value(b"?x\r\n", &l).is_err());
    assert!(parse_value(b"$3\r\nabcd\r\n", &l).is_err());
    let deep = "*1\r\n".repeat(100);
    assert!(parse_value(deep.as_bytes(), &l).is_err());
}

proptest! {
    #[test]
    fn encoder_round_trips(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..10),
                           n in any::<i64>(), v3 in any::<bool>()) {
        let version = if v3 { RespVersion::V3 } else { RespVersion::V2 };
        let mut buf = BytesMut::new();
        let mut r = Reply::new(&mut buf, version);
        r.array(items.len() + 2);
        for i in &items { r.bulk(i); }
        r.integer(n);
        r.null();
        let mut expected: Vec<Value> = items.iter().map(|i| Value::Bulk(i.clone())).collect();
        expected.push(Value::Integer(n));
        expected.push(Value::Null);
        prop_assert_eq!(parse(&buf), Value::Array(expected));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_value(&input, &ValueLimits::default());
    }
}
