//! Reading JSON and YAML documents (requests, canary configs) with errors that name the field at fault:
//! `metricSetPairList[0].values.control[3]: invalid type: string "fast", expected a number …`.

use serde::de::DeserializeOwned;

/// Parses JSON `text` as `T`; the error names the field.
pub fn from_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    // Tracking the path costs time on every value; it is only needed to explain a failure.
    serde_json::from_slice(text).or_else(|_| {
        let deserializer = &mut serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(deserializer).map_err(located)
    })
}

/// Parses YAML `text` as `T`; the error names the field.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text)).map_err(located)
}

fn located<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> String {
    let path = error.path().to_string();
    let inner = error.into_inner().to_string();
    // The YAML parser names the field itself when it knows it (`metrics[2].groups: invalid type: …`).
    if path == "." || inner.starts_with(&format!("{path}: ")) {
        inner
    } else {
        format!("{path}: {inner}")
    }
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
}
