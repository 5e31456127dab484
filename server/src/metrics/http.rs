//! The HTTP/1.1 the metrics endpoint speaks, as pure functions: where a request head ends,
//! what it asks for, whether it carries the scrape token, and the bytes of each response.
//! No sockets here (`endpoint` owns those), so every rule is testable on byte strings.

/// Largest request head (request line and headers) read from a peer; a head that has not
/// ended by then is answered `431` and the connection closed. Prometheus sends a few hundred
/// bytes; the bound is what makes a peer that never sends a newline cost 8 KiB, not memory.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Longest scrape token `[metrics] token` may set: it must fit in a head with room to spare.
pub const MAX_TOKEN_BYTES: usize = 1024;

/// What the endpoint answers a request with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `200`: the Prometheus text.
    Metrics,
    /// `400`: the head is not an HTTP/1.x request.
    BadRequest,
    /// `401`: a token is configured and the request does not carry it.
    Unauthorized,
    /// `404`: a path other than `/metrics`.
    NotFound,
    /// `405`: a method other than GET.
    MethodNotAllowed,
    /// `408`: the head did not arrive within its deadline.
    Timeout,
    /// `431`: the head is longer than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// `503`: every connection slot is taken; try again later.
    Busy,
}

/// The length of the head at the start of `buf` (through its blank line), once it has ended.
/// A bare `\n` ends lines as well as `\r\n` (RFC 9112 §2.2 lets a server accept it).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let line_end = at + nl + 1;
        let line = &buf[at..line_end];
        // The first empty line (other than before the request line) ends the head.
        if at > 0 && (line == b"\n" || line == b"\r\n") {
            return Some(line_end);
        }
        at = line_end;
    }
    None
}

/// What a complete head asks for, given the configured token (None: no authentication).
pub fn answer(head: &[u8], token: Option<&[u8]>) -> Answer {
    let Ok(text) = std::str::from_utf8(head) else {
        return Answer::BadRequest;
    };
    let mut lines = text.lines();
    let mut request = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request.next(),
        request.next(),
        request.next(),
        request.next(),
    ) else {
        return Answer::BadRequest;
    };
    if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Answer::BadRequest;
    }
    let mut authorization = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Answer::BadRequest;
        };
        if authorization.is_none() && name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim_matches([' ', '\t']));
        }
    }
    // Authentication comes first: a peer without the token learns nothing, not even which
    // paths or methods exist.
    if let Some(token) = token {
        if !authorization.is_some_and(|value| bearer_matches(value, token)) {
            return Answer::Unauthorized;
        }
    }
    if method != "GET" {
        Answer::MethodNotAllowed
    } else if target == "/metrics" || target.starts_with("/metrics?") {
        Answer::Metrics
    } else {
        Answer::NotFound
    }
}

/// Whether an `Authorization` value is `Bearer <token>` (the scheme is case-insensitive).
fn bearer_matches(value: &str, token: &[u8]) -> bool {
    let Some((scheme, credentials)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(credentials.trim_start_matches(' ').as_bytes(), token)
}

/// Compares a presented secret with the configured one in time that depends only on their
/// lengths, never on where they first differ, so a peer cannot find the token byte by byte
/// by timing its guesses.
fn constant_time_eq(presented: &[u8], secret: &[u8]) -> bool {
    let mut diff = presented.len() ^ secret.len();
    for i in 0..presented.len().max(secret.len()) {
        let a = presented.get(i).copied().unwrap_or(0);
        let b = secret.get(i).copied().unwrap_or(0);
        // black_box keeps the optimizer from turning the loop into an early exit.
        diff |= usize::from(std::hint::black_box(a ^ b));
    }
    diff == 0
}

/// The whole response for `answer` (`body` is the Prometheus text for [`Answer::Metrics`]).
/// Every response closes the connection: one request per connection keeps each one's cost
/// bounded and the server simple.
pub fn response(answer: Answer, body: &str) -> Vec<u8> {
    let too_large;
    let (status, extra, body) = match answer {
        Answer::Metrics => ("200 OK", "", body),
        Answer::BadRequest => ("400 Bad Request", "", "not an HTTP/1.x request\n"),
        Answer::Unauthorized => (
            "401 Unauthorized",
            "WWW-Authenticate: Bearer realm=\"ringledger metrics\"\r\n",
            "a bearer token is required\n",
        ),
        Answer::NotFound => ("404 Not Found", "", "metrics are at /metrics\n"),
        Answer::MethodNotAllowed => (
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "only GET is served\n",
        ),
        Answer::Timeout => ("408 Request Timeout", "", "the request took too long\n"),
        Answer::TooLarge => {
            too_large = format!("the request head is larger than {MAX_HEAD_BYTES} bytes\n");
            (
                "431 Request Header Fields Too Large",
                "",
                too_large.as_str(),
            )
        }
        Answer::Busy => (
            "503 Service Unavailable",
            "Retry-After: 1\r\n",
            "too many scrapers at once\n",
        ),
    };
    let content_type = if answer == Answer::Metrics {
        "text/plain; version=0.0.4"
    } else {
        "text/plain; charset=utf-8"
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_first_blank_line() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(27));
        assert_eq!(head_len(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_len(b"GET / HTTP/1.1"), None);
        assert_eq!(head_len(b""), None);
        // A blank line before the request line does not end an empty head.
        assert_eq!(head_len(b"\r\n"), None);
    }

    #[test]
    fn requests_are_routed() {
        let a = |head: &str| answer(head.as_bytes(), None);
        assert_eq!(
            a("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Answer::Metrics
        );
        assert_eq!(a("GET /metrics?name[]=x HTTP/1.0\n\n"), Answer::Metrics);
        assert_eq!(a("GET /metricsx HTTP/1.1\r\n\r\n"), Answer::NotFound);
        assert_eq!(a("GET / HTTP/1.1\r\n\r\n"), Answer::NotFound);
        assert_eq!(
            a("POST /metrics HTTP/1.1\r\n\r\n"),
            Answer::MethodNotAllowed
        );
        assert_eq!(a("GET /metrics\r\n\r\n"), Answer::BadRequest);
        assert_eq!(a("GET /metrics SPDY/3\r\n\r\n"), Answer::BadRequest);
        assert_eq!(a("GET  /metrics HTTP/1.1\r\n\r\n"), Answer::BadRequest);
        assert_eq!(
            a("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"),
            Answer::BadRequest
        );
        assert_eq!(
            answer(b"GET /metrics HTTP/1.1\r\n\xff: x\r\n\r\n", None),
            Answer::BadRequest
        );
    }

    #[test]
    fn a_configured_token_is_required() {
        let token = Some(&b"s3cret-token"[..]);
        let a = |auth: &str| {
            answer(
                format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes(),
                token,
            )
        };
        assert_eq!(a("Authorization: Bearer s3cret-token\r\n"), Answer::Metrics);
        assert_eq!(
            a("authorization:bearer  s3cret-token \r\n"),
            Answer::Metrics
        );
        assert_eq!(a(""), Answer::Unauthorized);
        assert_eq!(
            a("Authorization: Bearer s3cret-toke\r\n"),
            Answer::Unauthorized
        );
        assert_eq!(
            a("Authorization: Bearer s3cret-token2\r\n"),
            Answer::Unauthorized
        );
        assert_eq!(
            a("Authorization: Basic s3cret-token\r\n"),
            Answer::Unauthorized
        );
        assert_eq!(a("Authorization: s3cret-token\r\n"), Answer::Unauthorized);
        // Without the token, other paths and methods are not revealed either.
        assert_eq!(
            answer(b"POST /x HTTP/1.1\r\n\r\n", token),
            Answer::Unauthorized
        );
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn responses_close_and_count_their_body() {
        let r = String::from_utf8(response(Answer::Metrics, "x 1\n")).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n"),
            "{r}"
        );
        let r = String::from_utf8(response(Answer::Unauthorized, "")).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 401 ") && r.contains("WWW-Authenticate: Bearer"),
            "{r}"
        );
        let r = String::from_utf8(response(Answer::Busy, "")).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 503 ") && r.contains("Retry-After: 1"),
            "{r}"
        );
    }
}
