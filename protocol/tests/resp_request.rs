//! The RESP request parser against Redis 7.0's behaviour, and the split-anywhere property.

use proptest::prelude::*;
use protocol::resp::{ParseLimits, ParseStatus, ProtocolError, RequestParser};

/// Parses a whole stream one shot at a time; returns the commands and the first error.
fn parse_all(
    parser: &mut RequestParser,
    input: &[u8],
) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match parser.parse(&input[pos..], false) {
            Ok(ParseStatus::Complete { consumed }) => {
                out.push(
                    parser
                        .args(&input[pos..pos + consumed])
                        .map(<[u8]>::to_vec)
                        .collect(),
                );
                pos += consumed;
            }
            Ok(ParseStatus::Skip { consumed }) => pos += consumed,
            Ok(ParseStatus::Incomplete { .. }) => return (out, None, pos),
            Err(e) => return (out, Some(e), pos),
        }
    }
}

/// Feeds the stream in the given chunk sizes, the way a server's receive loop would: keep the
/// unconsumed tail, append the next chunk, parse again only once `needed` bytes are there.
fn parse_in_chunks(input: &[u8], cuts: &[usize]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(ParseLimits::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut needed = 0;
    let mut boundaries: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .collect();
    boundaries.sort_unstable();
    boundaries.push(input.len());
    let mut last = 0;
    for b in boundaries {
        buf.extend_from_slice(&input[last..b]);
        last = b;
        if buf.len() < needed {
            continue;
        }
        loop {
            match parser.parse(&buf, false) {
                Ok(ParseStatus::Complete { consumed }) => {
                    out.push(parser.args(&buf[..consumed]).map(<[u8]>::to_vec).collect());
                    buf.drain(..consumed);
                }
                Ok(ParseStatus::Skip { consumed }) => {
                    buf.drain(..consumed);
                }
                Ok(ParseStatus::Incomplete { needed: n }) => {
                    needed = n;
                    break;
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn one(input: &[u8]) -> Result<ParseStatus, ProtocolError> {
    RequestParser::new(ParseLimits::default()).parse(input, false)
}

fn err(input: &[u8]) -> String {
    match one(input) {
        Err(e) => e.message(),
        other => panic!(
            "expected an error for {:?}, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_and_inline_pipelined() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nv!\r\nPING\r\nget  k\n*1\r\n$0\r\n\r\n";
    let (cmds, e, pos) = parse_all(&mut RequestParser::new(ParseLimits::default()), input);
    assert_eq!(e, None);
    assert_eq!(pos, input.len());
    assert_eq!(
        cmds,
        vec![
            vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\nv!".to_vec()],
            cmd(&["PING"]),
            cmd(&["get", "k"]),
            vec![Vec::new()]
        ]
    );
}

#[test]
fn empty_requests_are_skipped() {
    assert_eq!(one(b"\r\n"), Ok(ParseStatus::Skip { consumed: 2 }));
    assert_eq!(one(b"   \n"), Ok(ParseStatus::Skip { consumed: 4 }));
    assert_eq!(one(b"*0\r\n"), Ok(ParseStatus::Skip { consumed: 4 }));
    assert_eq!(one(b"*-1\r\n"), Ok(ParseStatus::Skip { consumed: 5 }));
    assert_eq!(one(b"*-5\r\n"), Ok(ParseStatus::Skip { consumed: 5 }));
}

#[test]
fn incomplete_needs_more() {
    assert_eq!(one(b""), Ok(ParseStatus::Incomplete { needed: 1 }));
    assert_eq!(one(b"*2\r"), Ok(ParseStatus::Incomplete { needed: 4 }));
    assert_eq!(
        one(b"*1\r\n$5\r\nab"),
        Ok(ParseStatus::Incomplete { needed: 15 })
    );
    assert_eq!(one(b"PIN"), Ok(ParseStatus::Incomplete { needed: 4 }));
}

#[test]
fn redis_protocol_errors_verbatim() {
    assert_eq!(
        err(b"*abc\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        err(b"*+1\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        err(b"*01\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        err(b"*2147483648\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        err(b"*1\r\nfoo\r\n"),
        "ERR Protocol error: expected '$', got 'f'"
    );
    assert_eq!(
        err(b"*1\r\n$-1\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        err(b"*1\r\n$x\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        err(b"*1\r\n$536870913\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        err(b"set \"a\r\n"),
        "ERR Protocol error: unbalanced quotes in request"
    );
    let long_inline = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(
        err(&long_inline),
        "ERR Protocol error: too big inline request"
    );
    let mut long_count = b"*".to_vec();
    long_count.extend(vec![b'1'; 64 * 1024 + 1]);
    assert_eq!(
        err(&long_count),
        "ERR Protocol error: too big mbulk count string"
    );
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend(vec![b'1'; 64 * 1024 + 1]);
    assert_eq!(
        err(&long_bulk),
        "ERR Protocol error: too big bulk count string"
    );
}

#[test]
fn unauthenticated_limits() {
    let mut p = RequestParser::new(ParseLimits::default());
    assert_eq!(
        p.parse(b"*11\r\n", true).unwrap_err().message(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    assert!(matches!(
        p.parse(b"*10\r\n", true),
        Ok(ParseStatus::Incomplete { .. })
    ));
    p.reset();
    assert_eq!(
        p.parse(b"*1\r\n$16385\r\n", true).unwrap_err().message(),
        "ERR Protocol error: unauthenticated bulk length"
    );
}

#[test]
fn configured_limits_apply() {
    let limits = ParseLimits {
        max_multibulk_len: 3,
        max_bulk_len: 4,
        max_inline_len: 64 * 1024,
    };
    let mut p = RequestParser::new(limits);
    assert_eq!(
        p.parse(b"*4\r\n", false).unwrap_err(),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(
        p.parse(b"*1\r\n$5\r\n", false).unwrap_err(),
        ProtocolError::InvalidBulkLength
    );
    assert_eq!(
        p.parse(b"*1\r\n$4\r\nabcd\r\n", false),
        Ok(ParseStatus::Complete { consumed: 14 })
    );
}

#[test]
fn redis_does_not_check_the_bytes_after_a_bulk() {
    // Redis skips two bytes after the data without looking at them.
    let input = b"*1\r\n$4\r\nPINGxx";
    let mut p = RequestParser::new(ParseLimits::default());
    assert_eq!(
        p.parse(input, false),
        Ok(ParseStatus::Complete {
            consumed: input.len()
        })
    );
    assert_eq!(p.args(input).collect::<Vec<_>>(), vec![&b"PING"[..]]);
}

#[test]
fn big_bulk_is_parsed_once_across_many_chunks() {
    let payload = vec![b'x'; 1 << 20];
    let mut input = format!("*2\r\n$3\r\nSET\r\n${}\r\n", payload.len()).into_bytes();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\n");
    let cuts: Vec<usize> = (1..input.len()).step_by(4096).collect();
    let (cmds, e) = parse_in_chunks(&input, &cuts);
    assert_eq!(e, None);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0][1], payload);
}

#[test]
fn binary_safe_arguments() {
    let input = b"*2\r\n$4\r\n\r\n\0\xff\r\n$0\r\n\r\n";
    let (cmds, e, _) = parse_all(&mut RequestParser::new(ParseLimits::default()), input);
    assert_eq!(e, None);
    assert_eq!(cmds, vec![vec![b"\r\n\0\xff".to_vec(), Vec::new()]]);
}

fn encode(cmds: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn command_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    /// Every split of a valid stream parses to the same commands as one-shot parsing.
    #[test]
    fn any_split_parses_the_same(cmds in prop::collection::vec(command_strategy(), 1..8),
                                 cuts in prop::collection::vec(0usize..2000, 0..30)) {
        let input = encode(&cmds);
        let (whole, e, _) = parse_all(&mut RequestParser::new(ParseLimits::default()), &input);
        prop_assert_eq!(e, None);
        prop_assert_eq!(&whole, &cmds);
        let (chunked, e) = parse_in_chunks(&input, &cuts);
        prop_assert_eq!(e, None);
        prop_assert_eq!(chunked, cmds);
    }

    /// Inline commands too: split at every byte.
    #[test]
    fn inline_split_everywhere(words in prop::collection::vec("[a-z0-9]{1,8}", 1..5)) {
        let line = format!("{}\r\n{}\n", words.join(" "), words.join("  "));
        let input = line.as_bytes();
        let cuts: Vec<usize> = (1..input.len()).collect();
        let (chunked, e) = parse_in_chunks(input, &cuts);
        prop_assert_eq!(e, None);
        let expected: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(chunked, vec![expected.clone(), expected]);
    }

    /// Arbitrary bytes never panic, and whatever is consumed is within the input.
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let (_, _, pos) = parse_all(&mut RequestParser::new(ParseLimits::default()), &input);
        prop_assert!(pos <= input.len());
    }
}
