//! Inline (telnet-style) commands: Redis's `sdssplitargs` word splitting, quotes and escapes.

/// Why an inline line could not be split.
#[derive(Debug, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line` into arguments exactly as Redis's `sdssplitargs`: words separated by blanks;
/// `"..."` with `\n \r \t \b \a \xHH` and `\<any>` escapes; `'...'` with only `\'`; a closing quote
/// must be followed by a blank or the end. A NUL byte ends the line, as it does for the C code.
///
/// The unescaped bytes are appended to `scratch`; each argument is pushed to `args` as a
/// `(start, end)` range of `scratch`.
pub fn split_args(
    line: &[u8],
    scratch: &mut Vec<u8>,
    args: &mut Vec<(usize, usize)>,
) -> Result<(), UnbalancedQuotes> {
    // Reading past the end (or at a NUL) yields 0, like the C string's terminator.
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = scratch.len();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        scratch.push(h * 16 + l);
                        p += 3;
                    } else {
                        // `\x` not followed by two hex digits: the generic escape, giving 'x'.
                        p += 1;
                        scratch.push(b'x');
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    scratch.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    scratch.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    scratch.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => scratch.push(other),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push((start, scratch.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
        let (mut scratch, mut args) = (Vec::new(), Vec::new());
        split_args(line, &mut scratch, &mut args)?;
        Ok(args.iter().map(|&(s, e)| scratch[s..e].to_vec()).collect())
    }

    fn words(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(split(b"  set  a   b ").unwrap(), words(&["set", "a", "b"]));
        assert_eq!(split(b"").unwrap(), words(&[]));
        assert_eq!(split(b"   ").unwrap(), words(&[]));
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            split(br#"set "a b" "\x41\n\t\"""#).unwrap(),
            vec![b"set".to_vec(), b"a b".to_vec(), b"A\n\t\"".to_vec()]
        );
        assert_eq!(split(br#""\xZZ""#).unwrap(), vec![b"xZZ".to_vec()]);
        assert_eq!(split(br#""""#).unwrap(), vec![b"".to_vec()]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(
            split(br"'it\'s' 'a\nb'").unwrap(),
            vec![b"it's".to_vec(), b"a\\nb".to_vec()]
        );
    }

    #[test]
    fn quotes_glued_to_words() {
        // A quote may open in the middle of a word: a"b c" is one argument `ab c`.
        assert_eq!(split(br#"a"b c""#).unwrap(), vec![b"ab c".to_vec()]);
    }

    #[test]
    fn unbalanced() {
        assert_eq!(split(br#"set "abc"#), Err(UnbalancedQuotes));
        assert_eq!(split(br#"set "a"b"#), Err(UnbalancedQuotes));
        assert_eq!(split(br"set 'a'b"), Err(UnbalancedQuotes));
        assert_eq!(split(br"set 'abc"), Err(UnbalancedQuotes));
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split(b"get a\0b c").unwrap(), words(&["get", "a"]));
    }
}
