//! A RESP2/RESP3 *value* parser, for the client side: our tests, the load generator over RESP and
//! the fuzz targets. Bounded (nesting depth, aggregate length, bulk length), never panics.

use super::number::parse_i64;

/// Any RESP2 or RESP3 value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
    Double(f64),
    Boolean(bool),
    Verbatim {
        format: String,
        text: Vec<u8>,
    },
    BigNumber(String),
    /// An attribute map (`|`) and the value it annotates.
    Attribute {
        attributes: Vec<(Value, Value)>,
        value: Box<Value>,
    },
}

/// Bounds for [`parse_value`].
#[derive(Clone, Copy, Debug)]
pub struct ValueLimits {
    pub max_depth: usize,
    pub max_aggregate_len: usize,
    pub max_bulk_len: usize,
}

impl Default for ValueLimits {
    fn default() -> Self {
        ValueLimits {
            max_depth: 64,
            max_aggregate_len: 1 << 24,
            max_bulk_len: 512 * 1024 * 1024,
        }
    }
}

/// Why bytes are not a valid RESP value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    UnknownType(u8),
    BadLength,
    BadInteger,
    BadDouble,
    BadBoolean,
    BadVerbatim,
    MissingCrlf,
    TooDeep,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed RESP value: {self:?}")
    }
}

impl std::error::Error for ValueError {}

/// Parses one value from the front of `buf`: `Ok(None)` if more bytes are needed, else the value
/// and the number of bytes it took.
pub fn parse_value(buf: &[u8], limits: &ValueLimits) -> Result<Option<(Value, usize)>, ValueError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, limits, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

fn line<'b>(buf: &'b [u8], pos: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*pos..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += cr + 2;
    Some(&rest[..cr])
}

fn parse_at(
    buf: &[u8],
    pos: &mut usize,
    limits: &ValueLimits,
    depth: usize,
) -> Result<Option<Value>, ValueError> {
    if depth > limits.max_depth {
        return Err(ValueError::TooDeep);
    }
    let Some(&tag) = buf.get(*pos) else {
        return Ok(None);
    };
    let start = *pos;
    *pos += 1;
    let Some(text) = line(buf, pos) else {
        *pos = start;
        return Ok(None);
    };
    let as_string = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
    let value = match tag {
        b'+' => Value::Simple(as_string(text)),
        b'-' => Value::Error(as_string(text)),
        b':' => Value::Integer(parse_i64(text).ok_or(ValueError::BadInteger)?),
        b'(' => Value::BigNumber(as_string(text)),
        b'_' => Value::Null,
        b'#' => match text {
            b"t" => Value::Boolean(true),
            b"f" => Value::Boolean(false),
            _ => return Err(ValueError::BadBoolean),
        },
        b',' => {
            let s = std::str::from_utf8(text).map_err(|_| ValueError::BadDouble)?;
            Value::Double(match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse().map_err(|_| ValueError::BadDouble)?,
            })
        }
        b'$' | b'=' | b'!' => {
            let len = parse_i64(text).ok_or(ValueError::BadLength)?;
            if len == -1 && tag == b'$' {
                return Ok(Some(Value::Null));
            }
            if len < 0 || len as usize > limits.max_bulk_len {
                return Err(ValueError::BadLength);
            }
            let len = len as usize;
            if buf.len() < *pos + len + 2 {
                *pos = start;
                return Ok(None);
            }
            let data = &buf[*pos..*pos + len];
            if &buf[*pos + len..*pos + len + 2] != b"\r\n" {
                return Err(ValueError::MissingCrlf);
            }
            *pos += len + 2;
            match tag {
                b'$' => Value::Bulk(data.to_vec()),
                b'!' => Value::Error(as_string(data)),
                _ => {
                    if len < 4 || data[3] != b':' {
                        return Err(ValueError::BadVerbatim);
                    }
                    Value::Verbatim {
                        format: as_string(&data[..3]),
                        text: data[4..].to_vec(),
                    }
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let len = parse_i64(text).ok_or(ValueError::BadLength)?;
            if len == -1 && tag == b'*' {
                return Ok(Some(Value::Null));
            }
            if len < 0 || len as usize > limits.max_aggregate_len {
                return Err(ValueError::BadLength);
            }
            let is_map = tag == b'%' || tag == b'|';
            let items = if is_map {
                len as usize * 2
            } else {
                len as usize
            };
            let mut values = Vec::with_capacity(items.min(1024));
            for _ in 0..items {
                match parse_at(buf, pos, limits, depth + 1)? {
                    Some(v) => values.push(v),
                    None => {
                        *pos = start;
                        return Ok(None);
                    }
                }
            }
            let pairs = |values: Vec<Value>| {
                let mut it = values.into_iter();
                let mut out = Vec::with_capacity(len as usize);
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    out.push((k, v));
                }
                out
            };
            match tag {
                b'*' => Value::Array(values),
                b'~' => Value::Set(values),
                b'>' => Value::Push(values),
                b'%' => Value::Map(pairs(values)),
                _ => {
                    let attributes = pairs(values);
                    match parse_at(buf, pos, limits, depth + 1)? {
                        Some(v) => Value::Attribute {
                            attributes,
                            value: Box::new(v),
                        },
                        None => {
                            *pos = start;
                            return Ok(None);
                        }
                    }
                }
            }
        }
        other => return Err(ValueError::UnknownType(other)),
    };
    Ok(Some(value))
}
