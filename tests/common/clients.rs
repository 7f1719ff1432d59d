//! What the progressive-delivery clients (Argo Rollouts, Spinnaker, Flagger) do, for replaying their exact
//! calls against a real server: reading the examples they are configured with, JSON over HTTP, and Argo's
//! `{{args.x}}` substitution.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The path of `examples/<relative>`.
pub fn example(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(relative)
}

/// `examples/<relative>`, JSON.
pub fn example_json(relative: &str) -> Value {
    let path = example(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of the YAML file `examples/<relative>`.
pub fn example_yaml(relative: &str) -> Vec<Value> {
    let path = example(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Replaces Argo Rollouts' `{{args.name}}` placeholders in every string of `value`.
pub fn substitute(value: &Value, args: &[(&str, &str)]) -> Value {
    match value {
        Value::String(text) => {
            let mut text = text.clone();
            for (name, arg) in args {
                text = text.replace(&format!("{{{{args.{name}}}}}"), arg);
            }
            assert!(
                !text.contains("{{args."),
                "an argument of '{text}' was not given"
            );
            Value::String(text)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| substitute(item, args)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| (key.clone(), substitute(item, args)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JSON answer: status and body (`Null` when the body is empty).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

pub async fn get(url: &str) -> (u16, Value) {
    send(reqwest::Client::new().get(url)).await
}

pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    send(reqwest::Client::new().post(url).json(body)).await
}

/// Stores `examples/spinnaker/canary-config.json` through Kayenta's `POST /canaryConfig`; its id.
pub async fn store_example_config(server_url: &str) -> String {
    let (status, body) = post(
        &format!("{server_url}/canaryConfig"),
        &example_json("spinnaker/canary-config.json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["canaryConfigId"].as_str().unwrap().to_string()
}
