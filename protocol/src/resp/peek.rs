//! A quick look ahead at pipelined requests: the length and the second argument of each plain
//! multibulk request (`*N\r\n$L\r\n...`) at the front of a buffer, without the checks and limits
//! of [`RequestParser`](super::RequestParser). Servers use it to prefetch the keys of the
//! requests they are about to run; the parser still decides what each request is.

/// Most arguments a request may have to be looked at (bounds the work of one peek).
const MAX_PEEK_ARGS: usize = 1024;

/// One request seen by [`peek_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peeked<'a> {
    /// Bytes the request occupies.
    pub len: usize,
    /// Its second argument (the first key of most commands), if it has one.
    pub key: Option<&'a [u8]>,
}

/// The request at the front of `buf`, when it is a whole, plainly written multibulk request;
/// `None` otherwise (incomplete, inline, malformed, or more than 1024 arguments).
pub fn peek_request(buf: &[u8]) -> Option<Peeked<'_>> {
    let (count, mut pos) = header(buf, 0, b'*')?;
    if count == 0 || count > MAX_PEEK_ARGS {
        return None;
    }
    let mut key = None;
    for i in 0..count {
        let (len, start) = header(buf, pos, b'$')?;
        let end = start.checked_add(len)?;
        if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        if i == 1 {
            key = Some(&buf[start..end]);
        }
        pos = end + 2;
    }
    Some(Peeked { len: pos, key })
}

/// `<prefix><decimal>\r\n` at `pos`: the number and the position after the line.
fn header(buf: &[u8], pos: usize, prefix: u8) -> Option<(usize, usize)> {
    if *buf.get(pos)? != prefix {
        return None;
    }
    let mut n = 0usize;
    let mut i = pos + 1;
    loop {
        let b = *buf.get(i)?;
        if b == b'\r' {
            break;
        }
        // Ten digits are more than any length the parser accepts.
        if !b.is_ascii_digit() || i - pos > 10 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
        i += 1;
    }
    if i == pos + 1 || *buf.get(i + 1)? != b'\n' {
        return None;
    }
    Some((n, i + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{ParseLimits, ParseStatus, RequestParser};

    #[test]
    fn peeks_pipelined_requests_like_the_parser_frames_them() {
        let input = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
        let mut parser = RequestParser::new(ParseLimits::default());
        let mut pos = 0;
        let mut keys = Vec::new();
        while pos < input.len() {
            let peeked = peek_request(&input[pos..]).expect("a whole request");
            let Ok(ParseStatus::Complete { consumed }) = parser.parse(&input[pos..], false) else {
                panic!("parser disagrees at {pos}");
            };
            assert_eq!(peeked.len, consumed);
            keys.push(peeked.key.map(<[u8]>::to_vec));
            pos += consumed;
        }
        assert_eq!(
            keys,
            vec![Some(b"key:1".to_vec()), None, Some(b"k".to_vec())]
        );
    }

    #[test]
    fn gives_up_on_anything_but_a_whole_plain_multibulk() {
        let whole = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(peek_request(&whole[..cut]), None, "cut at {cut}");
        }
        for bad in [
            &b"GET k\r\n"[..],
            b"*0\r\n",
            b"*-1\r\n",
            b"*1\r\n:3\r\nGET\r\n",
            b"*1\r\n$3\r\nGETX\r\n",
            b"*1\r\n$\r\nGET\r\n",
            b"*1\r\n$99999999999\r\nGET\r\n",
            b"*1025\r\n",
        ] {
            assert_eq!(
                peek_request(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
