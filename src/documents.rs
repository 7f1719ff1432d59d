//! Reading JSON and YAML documents (requests, canary configs) with errors that name the field at fault:
//! `metricSetPairList[0].values.control[3]: invalid type: string "fast", expected a number …`.
//!
//! A document is bounded as well as checked: nesting deeper than 128 levels is refused by the parsers
//! themselves (serde_json's and the YAML parser's recursion limits), so are YAML aliases that multiply a
//! document (the YAML parser's repetition limit), and no string may be longer than
//! [`MAX_STRING_BYTES`] — a 10 MB metric name or query is refused with the field's name before anything
//! uses it.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The longest string a document may hold (a name, a query, a template, a tag), in UTF-8 bytes.
pub const MAX_STRING_BYTES: usize = 64 << 10;

/// Parses JSON `text` as `T`; the error names the field.
pub fn from_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    // A document shorter than the bound cannot hold a string longer than it.
    if text.len() > MAX_STRING_BYTES && has_long_json_string(text) {
        let value: Value = serde_json::from_slice(text).map_err(|error| error.to_string())?;
        check_strings(&value)?;
    }
    // Tracking the path costs time on every value; it is only needed to explain a failure.
    serde_json::from_slice(text).or_else(|_| {
        let deserializer = &mut serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(deserializer).map_err(located)
    })
}

/// Parses YAML `text` as `T`; the error names the field.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    if text.len() > MAX_STRING_BYTES {
        // A document that is not even a tree of JSON values (e.g. non-string keys) is left to the parse
        // below, which reports its problem.
        if let Ok(value) = serde_norway::from_str::<Value>(text) {
            check_strings(&value)?;
        }
    }
    serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text)).map_err(located)
}

/// Whether a string in JSON `text` is longer than [`MAX_STRING_BYTES`] as written (escapes make a string
/// as written at least as long as the string it stands for), in one pass over the bytes.
fn has_long_json_string(text: &[u8]) -> bool {
    let mut bytes = text.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'"' {
            continue;
        }
        let mut length = 0;
        loop {
            match bytes.next() {
                None | Some(b'"') => break,
                Some(b'\\') => {
                    bytes.next();
                    length += 2;
                }
                Some(_) => length += 1,
            }
        }
        if length > MAX_STRING_BYTES {
            return true;
        }
    }
    false
}

/// Refuses a string (or key) longer than [`MAX_STRING_BYTES`] anywhere in `value`, naming where it is.
pub fn check_strings(value: &Value) -> Result<(), String> {
    fn walk(value: &Value, path: &mut String) -> Result<(), String> {
        let too_long = |path: &str, what: &str, length: usize| {
            let path = if path.is_empty() { "." } else { path };
            Err(format!(
                "{path}: the {what} is {length} bytes long, more than the {MAX_STRING_BYTES} a string may have"
            ))
        };
        match value {
            Value::String(text) if text.len() > MAX_STRING_BYTES => {
                too_long(path, "string", text.len())
            }
            Value::Array(items) => items.iter().enumerate().try_for_each(|(index, item)| {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                walk(item, path)?;
                path.truncate(length);
                Ok(())
            }),
            Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
                let length = path.len();
                if key.len() > MAX_STRING_BYTES {
                    return too_long(path, "key", key.len());
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(item, path)?;
                path.truncate(length);
                Ok(())
            }),
            _ => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

fn located<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> String {
    let path = known_path(error.path());
    let inner = error.into_inner().to_string();
    // The YAML parser names the field itself when it knows it (`metrics[2].groups: invalid type: …`).
    if path.is_empty() || inner.starts_with(&format!("{path}: ")) {
        inner
    } else {
        format!("{path}: {inner}")
    }
}

/// The part of `path` that is known: its segments up to the first unknown one (`serde_path_to_error` writes
/// `?` for a segment it cannot name, e.g. inside an untagged enum); empty for the document itself.
fn known_path(path: &serde_path_to_error::Path) -> String {
    let mut known = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => known.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !known.is_empty() {
                    known.push('.');
                }
                known.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !known.is_empty() {
                    known.push('.');
                }
                known.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => break,
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only through Debug
    struct Doc {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        size: u32,
    }

    #[test]
    fn errors_name_the_field_once() {
        let json = from_json::<Doc>(br#"{"items": [{"size": 1}, {"size": "big"}]}"#).unwrap_err();
        assert!(
            json.starts_with("items[1].size: invalid type: string \"big\""),
            "{json}"
        );
        let yaml = from_yaml::<Doc>("items:\n  - size: 1\n  - size: big\n").unwrap_err();
        assert!(
            yaml.starts_with("items[1].size: invalid type: string \"big\""),
            "{yaml}"
        );
        assert!(!yaml.contains("items[1].size: items[1].size"), "{yaml}");
        assert!(from_json::<Doc>(b"{").unwrap_err().contains("EOF"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        metrics: Vec<NamedMetric>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct NamedMetric {
        name: String,
    }

    #[test]
    fn a_string_longer_than_the_bound_is_refused_with_its_field() {
        let long = "x".repeat(MAX_STRING_BYTES + 1);
        let json = serde_json::json!({"metrics": [{"name": "a"}, {"name": long}]}).to_string();
        let error = from_json::<Named>(json.as_bytes()).unwrap_err();
        assert_eq!(
            error,
            "metrics[1].name: the string is 65537 bytes long, more than the 65536 a string may have"
        );
        let yaml = format!("metrics:\n  - name: a\n  - name: {long}\n");
        assert_eq!(from_yaml::<Named>(&yaml).unwrap_err(), error);
        let key = serde_json::json!({"metrics": [], long.clone(): 1}).to_string();
        assert!(
            from_json::<Named>(key.as_bytes())
                .unwrap_err()
                .starts_with(".: the key is 65537")
        );
        // At the bound, and long only as written (escapes), are fine.
        let fits = "y".repeat(MAX_STRING_BYTES);
        let json = serde_json::json!({"metrics": [{"name": fits}]}).to_string();
        assert_eq!(
            from_json::<Named>(json.as_bytes()).unwrap().metrics[0]
                .name
                .len(),
            MAX_STRING_BYTES
        );
        let escaped = format!(
            r#"{{"metrics": [{{"name": "{}"}}]}}"#,
            "\\u0041".repeat(20_000)
        );
        assert_eq!(
            from_json::<Named>(escaped.as_bytes()).unwrap().metrics[0]
                .name
                .len(),
            20_000
        );
    }

    #[test]
    fn nesting_is_bounded_by_the_parsers() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = from_json::<Value>(deep.as_bytes()).unwrap_err();
        assert!(error.contains("recursion limit exceeded"), "{error}");
        let deep_yaml = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = from_yaml::<Value>(&deep_yaml).unwrap_err();
        assert!(error.contains("recursion limit exceeded"), "{error}");
    }

    #[test]
    fn yaml_aliases_cannot_multiply_a_document() {
        // "Billion laughs": nine levels of nine aliases each.
        let mut yaml = format!("a: &a [{}]\n", ["\"lol\""; 9].join(","));
        let mut previous = 'a';
        for name in 'b'..='j' {
            let aliases = vec![format!("*{previous}"); 9].join(",");
            yaml.push_str(&format!("{name}: &{name} [{aliases}]\n"));
            previous = name;
        }
        let error = from_yaml::<Value>(&yaml).unwrap_err();
        assert!(error.contains("repetition limit exceeded"), "{error}");
    }
}
