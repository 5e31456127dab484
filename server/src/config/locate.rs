//! Where in the file a config error is: maps the `toml` crate's byte spans to `line:column` and
//! to the dotted key they belong to, so that every error names the file, the line and the key.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// One key (or one element of an array of tables) in the file.
struct Entry {
    /// Dotted path from the root, e.g. `uring.buffer_count`; arrays of tables add no index.
    path: String,
    /// The element of each enclosing array of tables (`[[listener]]` number 0, 1, ...).
    indices: Vec<usize>,
    key: Range<usize>,
    value: Range<usize>,
}

/// Every key of `text`, or none when it does not parse as TOML.
fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Ok(table) = DeTable::parse(text) {
        walk(table.get_ref(), "", &[], &mut out);
    }
    out
}

fn walk(table: &DeTable<'_>, prefix: &str, indices: &[usize], out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        out.push(Entry {
            path: path.clone(),
            indices: indices.to_vec(),
            key: key.span(),
            value: value.span(),
        });
        match value.get_ref() {
            DeValue::Table(t) => walk(t, &path, indices, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut inner = indices.to_vec();
                    inner.push(i);
                    out.push(Entry {
                        path: path.clone(),
                        indices: inner.clone(),
                        key: key.span(),
                        value: item.span(),
                    });
                    if let DeValue::Table(t) = item.get_ref() {
                        walk(t, &path, &inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// A `toml` parse or deserialization error as `FILE:LINE:COLUMN: KEY: message`: the key is the
/// innermost one whose name or value the error's span falls in; the value's text is added when
/// the message does not quote it.
pub fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    // serde says "field"; a config file has keys.
    let message = e
        .message()
        .trim_end()
        .replacen("unknown field", "unknown key", 1);
    let message = message.as_str();
    let Some(span) = e.span() else {
        return format!("{file}: {message}");
    };
    let (line, column) = line_column(text, span.start);
    let best = entries(text)
        .into_iter()
        .filter_map(|entry| {
            let on_key = contains(&entry.key, &span);
            let on_value = contains(&entry.value, &span);
            let width = if on_key {
                entry.key.len()
            } else if on_value {
                entry.value.len()
            } else {
                return None;
            };
            Some((width, std::cmp::Reverse(entry.path.len()), on_key, entry))
        })
        .min_by_key(|(width, depth, _, _)| (*width, *depth));
    match best {
        Some((_, _, false, entry)) => {
            let value = text.get(entry.value.clone()).unwrap_or("").trim();
            let unquoted = value.trim_matches(|c| c == '"' || c == '\'');
            if value.is_empty() || value.contains('\n') || message.contains(unquoted) {
                format!("{file}:{line}:{column}: {}: {message}", entry.path)
            } else {
                format!(
                    "{file}:{line}:{column}: {} = {value}: {message}",
                    entry.path
                )
            }
        }
        Some((_, _, true, entry)) => format!("{file}:{line}:{column}: {}: {message}", entry.path),
        None => format!("{file}:{line}:{column}: {message}"),
    }
}

/// `FILE:LINE:COLUMN` of the value of `key` (in element `index` of its array of tables, when
/// given), or just `FILE` when the file does not set it (the value is a default).
pub fn key_location(file: &str, text: &str, key: &str, index: Option<usize>) -> String {
    let found = entries(text)
        .into_iter()
        .find(|e| e.path == key && index.is_none_or(|i| e.indices.first() == Some(&i)));
    match found {
        Some(e) => {
            let (line, column) = line_column(text, e.value.start);
            format!("{file}:{line}:{column}")
        }
        None => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one() {
        let text = "[server]\nworkers = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 9), (2, 1));
        assert_eq!(line_column(text, 19), (2, 11));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn keys_are_found_in_arrays_of_tables() {
        let text = "[[listener]]\naddress = \"a\"\n\n[[listener]]\naddress = \"b\"\n";
        assert_eq!(
            key_location("f", text, "listener.address", Some(1)),
            "f:5:11"
        );
        assert_eq!(key_location("f", text, "listener.address", None), "f:2:11");
        assert_eq!(key_location("f", text, "server.workers", None), "f");
    }
}
