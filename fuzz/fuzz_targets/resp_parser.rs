//! RESP request parser: any bytes, split at fuzzer-chosen points, must give exactly what parsing
//! the whole stream at once gives (commands, then the same error or the same incomplete tail),
//! and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::resp::{ParseLimits, ParseStatus, ProtocolError, RequestParser};

type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fn limits() -> ParseLimits {
    // Small limits so the fuzzer reaches them.
    ParseLimits { max_bulk_len: 64, ..ParseLimits::default() }
}

fn one_shot(input: &[u8]) -> Outcome {
    let mut parser = RequestParser::new(limits());
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match parser.parse(&input[pos..], false) {
            Ok(ParseStatus::Complete { consumed }) => {
                assert!(consumed > 0 && pos + consumed <= input.len());
                out.push(parser.args(&input[pos..pos + consumed]).map(<[u8]>::to_vec).collect());
                pos += consumed;
            }
            Ok(ParseStatus::Skip { consumed }) => {
                assert!(consumed > 0 && pos + consumed <= input.len());
                pos += consumed;
            }
            Ok(ParseStatus::Incomplete { .. }) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn chunked(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut parser = RequestParser::new(limits());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &b in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[last..b]);
        last = b;
        loop {
            match parser.parse(&buf, false) {
                Ok(ParseStatus::Complete { consumed }) => {
                    out.push(parser.args(&buf[..consumed]).map(<[u8]>::to_vec).collect());
                    buf.drain(..consumed);
                }
                Ok(ParseStatus::Skip { consumed }) => {
                    buf.drain(..consumed);
                }
                Ok(ParseStatus::Incomplete { .. }) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split points (a stride), the rest is the stream.
    let Some((&stride, input)) = data.split_first() else { return };
    let stride = usize::from(stride).max(1);
    let cuts: Vec<usize> = (stride..input.len()).step_by(stride).collect();
    assert_eq!(one_shot(input), chunked(input, &cuts), "split every {stride} bytes");
});
