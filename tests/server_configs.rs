//! `/v1/configs` over real HTTP: the real `coalmine serve` on a loopback port, called as CD tools and curl
//! call it.

mod common;

use std::path::Path;

use reqwest::{Client, Response};
use serde_json::{Value, json};

/// A running `coalmine serve` with an empty data directory, stopped when dropped.
struct Server {
    server: common::server::Server,
    client: Client,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        Server {
            server: common::server::Server::start(data.path(), &[]),
            client: Client::new(),
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    async fn post_json(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/v1/configs"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/configs` with `body` as it is, sent as `content_type`.
    async fn post_raw(&self, content_type: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url("/v1/configs"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates `config`, which must succeed, and returns the stored config.
    async fn create(&self, config: &Value) -> Value {
        let response = self.post_json(config).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let mut stored: Value = response.json().await.unwrap();
        // The answer of a store adds the config's unknown fields (none here); the stored config has none.
        let warnings = stored.as_object_mut().unwrap().remove("warnings");
        assert_eq!(warnings, Some(json!([])), "{stored:#}");
        stored
    }
}

fn example_path(extension: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("examples/analyze/checkout-canary.{extension}"))
}

/// `examples/analyze/checkout-canary.json`.
fn example() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example_path("json")).unwrap()).unwrap()
}

/// `config` as the store gives it back, without its id and timestamps: group weights are numbers with a
/// fraction (`60.0`), as in Kayenta, whose weights are Java doubles.
fn as_stored(mut config: Value) -> Value {
    if let Some(weights) = config["classifier"]["groupWeights"].as_object_mut() {
        for weight in weights.values_mut() {
            *weight = json!(weight.as_f64().unwrap());
        }
    }
    config
}

/// `examples/analyze/checkout-canary.yaml`, as text.
fn example_yaml() -> String {
    std::fs::read_to_string(example_path("yaml")).unwrap()
}

/// A small valid config named `name` in `applications`.
fn config(name: &str, applications: &[&str]) -> Value {
    json!({
        "name": name,
        "applications": applications,
        "metrics": [{"name": "latency", "query": {"type": "prometheus", "metricName": "latency"}}],
    })
}

/// The status and `message` of an error answer.
async fn message(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    let message = body["message"].as_str().expect("a message").to_string();
    (status, message)
}

/// `stored` without what the store adds: `id` and the timestamps.
/// The answer of a store (POST, PUT) without its `warnings`, which list unknown fields: the examples have none.
fn answered(mut answer: Value) -> Value {
    let warnings = answer.as_object_mut().unwrap().remove("warnings");
    assert_eq!(warnings, Some(json!([])), "{answer:#}");
    answer
}

fn without_stamps(stored: &Value) -> Value {
    let mut document = stored.clone();
    let object = document.as_object_mut().unwrap();
    // The answers of POST and PUT add the unknown fields, of which the examples have none.
    if let Some(warnings) = object.remove("warnings") {
        assert_eq!(warnings, json!([]));
    }
    for field in [
        "id",
        "createdTimestamp",
        "createdTimestampIso",
        "updatedTimestamp",
        "updatedTimestampIso",
    ] {
        assert!(
            object.remove(field).is_some(),
            "the stored config has {field}"
        );
    }
    document
}

#[tokio::test]
async fn a_config_is_created_read_listed_replaced_and_deleted() {
    let server = Server::start();

    // Create: 201, the stored config with its id and timestamps, and where it lives.
    let response = server.post_json(&example()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created = answered(response.json().await.unwrap());
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(location, format!("/v1/configs/{id}"));
    assert_eq!(without_stamps(&created), as_stored(example()));
    assert_eq!(created["createdTimestamp"], created["updatedTimestamp"]);
    assert!(created["createdTimestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(
        created["createdTimestampIso"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Get: by id (the Location), and by name.
    let by_id = server.get(&location).await;
    assert_eq!(by_id.status(), 200);
    assert_eq!(by_id.json::<Value>().await.unwrap(), created);
    let by_name = server.get("/v1/configs/checkout-canary").await;
    assert_eq!(by_name.status(), 200);
    assert_eq!(by_name.json::<Value>().await.unwrap(), created);
    let in_application = server
        .get("/v1/configs/checkout-canary?application=checkout")
        .await;
    assert_eq!(in_application.json::<Value>().await.unwrap(), created);

    // List: every config, or those of the applications asked for.
    let other = server
        .create(&config("payments-canary", &["payments"]))
        .await;
    let list: Value = server.get("/v1/configs").await.json().await.unwrap();
    assert_eq!(
        list,
        json!([
            {
                "id": id,
                "name": "checkout-canary",
                "updatedTimestamp": created["updatedTimestamp"],
                "updatedTimestampIso": created["updatedTimestampIso"],
                "applications": ["checkout"],
            },
            {
                "id": other["id"],
                "name": "payments-canary",
                "updatedTimestamp": other["updatedTimestamp"],
                "updatedTimestampIso": other["updatedTimestampIso"],
                "applications": ["payments"],
            },
        ])
    );
    let payments: Value = server
        .get("/v1/configs?application=payments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payments, json!([list[1]]));
    let both: Value = server
        .get("/v1/configs?application=payments&application=checkout")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(both, list);
    let none: Value = server
        .get("/v1/configs?application=billing")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // Replace, by name: same id and creation time, the new document.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut changed = example();
    changed["description"] = json!("Only latency");
    changed["metrics"].as_array_mut().unwrap().truncate(1);
    let response = server
        .put_json("/v1/configs/checkout-canary", &changed)
        .await;
    assert_eq!(response.status(), 200);
    let replaced = answered(response.json().await.unwrap());
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["createdTimestamp"], created["createdTimestamp"]);
    assert_eq!(
        replaced["createdTimestampIso"],
        created["createdTimestampIso"]
    );
    assert!(replaced["updatedTimestamp"].as_i64() > created["updatedTimestamp"].as_i64());
    assert_eq!(without_stamps(&replaced), as_stored(changed));
    assert_eq!(
        server.get(&location).await.json::<Value>().await.unwrap(),
        replaced
    );
    // A body that carries the config's own id (as a GET gives it) replaces it too.
    let response = server.put_json(&location, &replaced).await;
    assert_eq!(response.status(), 200);

    // Delete: 204, then it is gone, by id and by name.
    let response = server.delete(&location).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(
        message(server.get(&location).await).await,
        (
            404,
            format!("Canary config '{id}' does not exist: no config has that id or name.")
        )
    );
    assert_eq!(
        message(server.get("/v1/configs/checkout-canary").await)
            .await
            .0,
        404
    );
    assert_eq!(message(server.delete(&location).await).await.0, 404);
    let list: Value = server.get("/v1/configs").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // A config deleted by name.
    assert_eq!(
        server.delete("/v1/configs/payments-canary").await.status(),
        204
    );
    assert_eq!(
        server
            .get("/v1/configs")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!([])
    );
}

#[tokio::test]
async fn a_yaml_config_is_stored_as_its_json_twin() {
    let server = Server::start();
    let yaml = example_yaml();
    for (index, content_type) in [
        "application/yaml",
        "application/x-yaml",
        "text/yaml; charset=utf-8",
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("checkout-canary-{index}");
        let body = yaml.replace("\nname: checkout-canary\n", &format!("\nname: {name}\n"));
        let response = server.post_raw(content_type, body).await;
        assert_eq!(response.status(), 201, "{content_type}");
        let stored = answered(response.json().await.unwrap());
        let mut expected = example();
        expected["name"] = json!(name);
        assert_eq!(
            without_stamps(&stored),
            as_stored(expected),
            "{content_type}"
        );
        let fetched: Value = server
            .get(&format!("/v1/configs/{name}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(fetched, stored);
    }

    // A replacement may be YAML too.
    let response = server
        .client
        .put(server.url("/v1/configs/checkout-canary-0"))
        .header("content-type", "application/yaml")
        .body(yaml.replace("Latency and errors", "Latency, errors"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["name"], "checkout-canary");
    assert!(
        replaced["description"]
            .as_str()
            .unwrap()
            .starts_with("Latency, errors")
    );
}

#[tokio::test]
async fn names_are_unique_within_an_application() {
    let server = Server::start();
    let first = server
        .create(&config("latency", &["checkout", "cart"]))
        .await;

    // Kayenta's message, naming the new config's applications.
    let (status, text) = message(
        server
            .post_json(&config("latency", &["payments", "cart"]))
            .await,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            409,
            "Canary config with name 'latency' already exists in the scope of applications [payments, cart]."
        )
    );

    // The same name in another application is another config.
    let second = server.create(&config("latency", &["payments"])).await;
    assert_ne!(first["id"], second["id"]);

    // By name alone it is ambiguous; the application picks one.
    let (status, text) = message(server.get("/v1/configs/latency").await).await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.starts_with("2 canary configs are named 'latency'"),
        "{text}"
    );
    assert!(text.contains("give its application"), "{text}");
    for (application, config) in [("cart", &first), ("payments", &second)] {
        let found: Value = server
            .get(&format!("/v1/configs/latency?application={application}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(&found, config);
    }
    assert_eq!(
        message(server.get("/v1/configs/latency?application=billing").await).await,
        (
            404,
            "Canary config 'latency' does not exist in application 'billing': no config of that \
             application has that id or name."
                .to_string()
        )
    );

    // A replacement may not take a name that another config has in the same application.
    let mut renamed = config("errors", &["payments"]);
    let errors = server.create(&renamed).await;
    renamed["name"] = json!("latency");
    let (status, text) = message(
        server
            .put_json(
                &format!("/v1/configs/{}", errors["id"].as_str().unwrap()),
                &renamed,
            )
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        text.starts_with("Canary config with name 'latency' already exists"),
        "{text}"
    );

    // Deleting by an ambiguous name deletes nothing.
    assert_eq!(server.delete("/v1/configs/latency").await.status(), 409);
    assert_eq!(
        server
            .delete("/v1/configs/latency?application=cart")
            .await
            .status(),
        204
    );
    assert_eq!(
        server
            .get("/v1/configs/latency")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        second
    );
}

#[tokio::test]
async fn ids_may_be_given_and_must_be_usable_in_a_path() {
    let server = Server::start();
    let mut given = config("given", &["checkout"]);
    given["id"] = json!("checkout-latency.v1");
    let response = server.post_json(&given).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        "/v1/configs/checkout-latency.v1"
    );
    assert_eq!(
        server.get("/v1/configs/checkout-latency.v1").await.status(),
        200
    );

    // The id is taken, whatever the name.
    given["name"] = json!("other");
    assert_eq!(
        message(server.post_json(&given).await).await,
        (
            409,
            "Canary config 'checkout-latency.v1' already exists.".to_string()
        )
    );

    for id in ["a/b", "..", "spaced out", "café"] {
        given["id"] = json!(id);
        let (status, text) = message(server.post_json(&given).await).await;
        assert_eq!(status, 400, "{id}: {text}");
        assert!(
            text.starts_with(&format!("id: a config cannot have the id '{id}'")),
            "{text}"
        );
    }

    // An empty id is no id: one is generated.
    given["id"] = json!("");
    let created = server.create(&given).await;
    assert_eq!(created["id"].as_str().unwrap().len(), 36);

    // A replacement cannot move a config to another id.
    let mut moved = created.clone();
    moved["id"] = json!("checkout-latency.v1");
    let (status, text) = message(server.put_json("/v1/configs/other", &moved).await).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("id: the body's id 'checkout-latency.v1' is not the id of config 'other'"),
        "{text}"
    );
}

#[tokio::test]
async fn invalid_configs_are_refused_with_what_is_wrong() {
    let server = Server::start();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no name",
            json!({"applications": ["checkout"], "metrics": [{"name": "m"}]}),
            "Canary config must specify a name.",
        ),
        (
            "null name",
            json!({"name": null, "applications": ["checkout"], "metrics": [{"name": "m"}]}),
            "Canary config must specify a name.",
        ),
        (
            "no applications",
            json!({"name": "c", "metrics": [{"name": "m"}]}),
            "Canary config must specify at least one application.",
        ),
        (
            "empty applications",
            json!({"name": "c", "applications": [], "metrics": [{"name": "m"}]}),
            "Canary config must specify at least one application.",
        ),
        (
            "a comma in the name (Kayenta's pattern lets it through)",
            json!({"name": "a,b", "applications": ["checkout"], "metrics": [{"name": "m"}]}),
            "Canary config cannot be named 'a,b'. Names must contain only letters, numbers, dashes (-) and \
             underscores (_).",
        ),
        (
            "a space in the name",
            json!({"name": "my config", "applications": ["checkout"], "metrics": [{"name": "m"}]}),
            "Canary config cannot be named 'my config'. Names must contain only letters, numbers, dashes (-) \
             and underscores (_).",
        ),
        (
            "an empty application",
            json!({"name": "c", "applications": ["checkout", ""], "metrics": [{"name": "m"}]}),
            "applications[1] must not be empty",
        ),
        (
            "no metrics",
            json!({"name": "c", "applications": ["checkout"]}),
            "The canary config must specify at least one metric. Otherwise we're not analyzing anything. :)",
        ),
        (
            "empty metrics",
            json!({"name": "c", "applications": ["checkout"], "metrics": []}),
            "The canary config must specify at least one metric. Otherwise we're not analyzing anything. :)",
        ),
        (
            "an unnamed metric",
            json!({"name": "c", "applications": ["checkout"], "metrics": [{"name": "m"}, {"groups": []}]}),
            "metrics[1].name must not be empty",
        ),
        (
            "a duplicate metric",
            json!({"name": "c", "applications": ["checkout"], "metrics": [{"name": "mem"}, {"name": "mem"}]}),
            "Metric config name must be unique. 'mem' is duplicated.",
        ),
        (
            "a negative group weight",
            json!({
                "name": "c", "applications": ["checkout"], "metrics": [{"name": "m"}],
                "classifier": {"groupWeights": {"latency": -1}},
            }),
            "classifier.groupWeights.latency must be a number of at least 0, got -1",
        ),
        (
            "an unknown direction",
            json!({
                "name": "c", "applications": ["checkout"],
                "metrics": [{"name": "m", "analysisConfigurations": {"canary": {"direction": "up"}}}],
            }),
            "metric 'm': analysisConfigurations.canary.direction must be one of \"increase\", \"decrease\", \
             \"either\", got \"up\"",
        ),
        (
            "a string flag",
            json!({
                "name": "c", "applications": ["checkout"],
                "metrics": [{"name": "m", "analysisConfigurations": {"canary": {"critical": "true"}}}],
            }),
            "metric 'm': analysisConfigurations.canary.critical must be true or false (a JSON boolean), got \
             \"true\"",
        ),
        (
            "a bad outlier factor",
            json!({
                "name": "c", "applications": ["checkout"],
                "metrics": [{"name": "m", "analysisConfigurations": {"canary": {
                    "outliers": {"strategy": "remove", "outlierFactor": 0}
                }}}],
            }),
            "metric 'm': analysisConfigurations.canary.outliers.outlierFactor must be a number greater than 0, \
             got 0.0",
        ),
    ];
    for (case, body, expected) in &cases {
        let (status, text) = message(server.post_json(body).await).await;
        assert_eq!((status, text.as_str()), (400, *expected), "{case}");
    }

    // A replacement is checked the same way, and an invalid one changes nothing.
    let stored = server.create(&config("c", &["checkout"])).await;
    for (case, body, expected) in &cases {
        let (status, text) = message(server.put_json("/v1/configs/c", body).await).await;
        assert_eq!((status, text.as_str()), (400, *expected), "PUT: {case}");
    }
    assert_eq!(
        server
            .get("/v1/configs/c")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        stored
    );
    assert_eq!(
        server
            .get("/v1/configs")
            .await
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1,
        "no invalid config was stored"
    );
}

#[tokio::test]
async fn malformed_bodies_and_requests_are_refused_with_where() {
    let server = Server::start();

    // JSON: the field at fault.
    let mut body = example();
    body["metrics"][1]["groups"] = json!(5);
    let (status, text) = message(server.post_json(&body).await).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("metrics[1].groups: invalid type: integer `5`, expected a sequence"),
        "{text}"
    );
    let (status, text) = message(server.post_raw("application/json", "{\"name\": ").await).await;
    assert_eq!((status, text.contains("EOF")), (400, true), "{text}");
    let (status, text) = message(server.post_raw("application/json", "[1]").await).await;
    assert_eq!(
        (status, text.contains("invalid type")),
        (400, true),
        "{text}"
    );

    // YAML: the field at fault.
    let yaml = example_yaml().replace("groups: [errors]", "groups: errors");
    let (status, text) = message(server.post_raw("application/yaml", yaml).await).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("metrics[2].groups: invalid type: string \"errors\", expected a sequence"),
        "{text}"
    );
    let yaml = example_yaml().replace("critical: true", "critical: true, direction: [up]");
    let (status, text) = message(server.post_raw("application/yaml", yaml).await).await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "metric 'latency': analysisConfigurations.canary.direction must be one of \"increase\", \
             \"decrease\", \"either\", got [\"up\"]"
        )
    );
    let (status, text) =
        message(server.post_raw("application/yaml", "name: [unclosed").await).await;
    assert_eq!(status, 400);
    assert!(text.contains("line 1"), "{text}");
    let (status, text) = message(
        server
            .post_raw("application/yaml", "name: a\n---\nname: b\n")
            .await,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = message(server.post_raw("application/yaml", vec![b'n', 0xff]).await).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("the YAML body is not valid UTF-8"),
        "{text}"
    );

    for content_type in ["application/json", "application/yaml"] {
        assert_eq!(
            message(server.post_raw(content_type, " \n").await).await,
            (
                400,
                "the request body is empty: it must be a canary config".to_string()
            ),
            "{content_type}"
        );
    }

    // Neither JSON nor YAML.
    let (status, text) = message(server.post_raw("text/plain", "name: a").await).await;
    assert_eq!(status, 415);
    assert!(
        text.contains(
            "JSON (Content-Type: application/json) or YAML (Content-Type: application/yaml)"
        ),
        "{text}"
    );
    assert!(text.ends_with("got Content-Type: text/plain"), "{text}");
    let response = server
        .client
        .post(server.url("/v1/configs"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, text) = message(response).await;
    assert_eq!(status, 415);
    assert!(text.ends_with("the request has no Content-Type"), "{text}");

    // Query parameters.
    let (status, text) = message(server.get("/v1/configs?app=checkout").await).await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "unknown query parameter 'app': the only parameter here is application"
        )
    );
    let (status, text) = message(server.get("/v1/configs?application=").await).await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = message(
        server
            .get("/v1/configs/c?application=a&application=b")
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.starts_with("application: give at most one"), "{text}");

    // Configs that do not exist.
    assert_eq!(
        message(
            server
                .put_json("/v1/configs/nope", &config("nope", &["checkout"]))
                .await
        )
        .await,
        (
            404,
            "Canary config 'nope' does not exist: no config has that id or name.".to_string()
        )
    );
    assert_eq!(server.delete("/v1/configs/nope").await.status(), 404);

    // Nothing was stored along the way.
    assert_eq!(
        server
            .get("/v1/configs")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!([])
    );
}
