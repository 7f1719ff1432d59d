//! The examples a user copies, checked against what coalmine accepts. The client examples (Argo Rollouts,
//! Flagger, Spinnaker) are replayed against a real server by `tests/argo.rs`, `tests/flagger.rs`,
//! `tests/spinnaker.rs` and `tests/kayenta_api.rs`; here they are checked against the clients' schemas.
//! Kubernetes manifests and the Dockerfile cannot run here (no cluster, no Docker): they are parsed, and
//! what they reference — the configuration file, the Secret's keys, ports, probe paths, flags, environment
//! variables — is checked against a real `coalmine serve`.

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use common::clients::{example, example_yaml, get, post};
use common::server::Server;
use serde_json::Value;

/// The document of `kind` among `documents`.
fn kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

#[test]
fn every_client_and_deployment_example_is_exercised_by_a_test() {
    let tests: String = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    for folder in [
        "argo-rollouts",
        "flagger",
        "spinnaker",
        "kubernetes",
        "influxdb",
        "graphite",
        "newrelic",
        "signalfx",
        "stackdriver",
        "wavefront",
    ] {
        for entry in std::fs::read_dir(example(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let relative = format!("{folder}/{name}");
            assert!(
                tests.contains(&format!("\"{relative}\"")),
                "no test reads examples/{relative}"
            );
        }
    }
}

#[test]
fn the_argo_rollouts_templates_match_argos_analysis_template_schema() {
    // `KayentaMetric`'s required fields (manifests/crds/analysis-template-crd.yaml); `threshold` is singular.
    let template = example_yaml("argo-rollouts/analysis-template-kayenta.yaml").remove(0);
    assert_eq!(template["apiVersion"], "argoproj.io/v1alpha1");
    let metric = &template["spec"]["metrics"][0];
    assert!(
        metric["interval"].is_string() && metric["count"].is_number(),
        "interval and count belong to the metric"
    );
    let kayenta = &metric["provider"]["kayenta"];
    for field in [
        "address",
        "application",
        "canaryConfigName",
        "configurationAccountName",
        "metricsAccountName",
        "scopes",
        "storageAccountName",
        "threshold",
    ] {
        assert!(!kayenta[field].is_null(), "kayenta.{field} is required");
    }
    assert!(kayenta["thresholds"].is_null(), "the field is `threshold`");
    assert!(kayenta["threshold"]["pass"].is_i64() && kayenta["threshold"]["marginal"].is_i64());
    for scope in kayenta["scopes"].as_array().unwrap() {
        assert!(scope["name"].is_string());
        for side in ["controlScope", "experimentScope"] {
            for field in ["region", "scope", "step"] {
                assert!(!scope[side][field].is_null(), "{side}.{field} is required");
            }
        }
    }
    let declared: BTreeSet<&str> = template["spec"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg["name"].as_str().unwrap())
        .collect();
    let used = serde_json::to_string(&template["spec"]["metrics"]).unwrap();
    for arg in used.split("{{args.").skip(1) {
        let name = &arg[..arg.find("}}").unwrap()];
        assert!(declared.contains(name), "args.{name} is not declared");
    }

    let web = example_yaml("argo-rollouts/analysis-template-web.yaml").remove(0);
    let metric = &web["spec"]["metrics"][0];
    let provider = &metric["provider"]["web"];
    assert!(provider["timeoutSeconds"].as_u64().unwrap() <= 10);
    assert!(
        provider["body"].is_null(),
        "jsonBody, not body (both is an error)"
    );
    assert!(metric["successCondition"].is_string() && metric["failureCondition"].is_string());
}

#[test]
fn the_flagger_canary_sends_metadata_as_strings() {
    let canary = example_yaml("flagger/canary.yaml").remove(0);
    assert_eq!(canary["apiVersion"], "flagger.app/v1beta1");
    let hook = &canary["spec"]["analysis"]["webhooks"][0];
    for (key, value) in hook["metadata"].as_object().unwrap() {
        assert!(
            value.is_string(),
            "metadata.{key} must be a string for Flagger's map[string]string"
        );
    }
}

#[tokio::test]
async fn the_kubernetes_manifests_configure_a_server_that_starts() {
    let documents = example_yaml("kubernetes/coalmine.yaml");
    let config_map = kind(&documents, "ConfigMap");
    let secret = kind(&documents, "Secret");
    let deployment = kind(&documents, "Deployment");
    let service = kind(&documents, "Service");
    let claim = kind(&documents, "PersistentVolumeClaim");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // The configuration file, as mounted.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mount = |volume: &str| {
        let name = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| !v[volume].is_null())
            .unwrap()["name"]
            .clone();
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["mountPath"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (directory, file) = config_path.rsplit_once('/').unwrap();
    assert_eq!(directory, mount("configMap"));
    let toml_text = config_map["data"][file]
        .as_str()
        .expect("the ConfigMap holds the file the args name");
    let settings: toml::Table = toml::from_str(toml_text).unwrap();
    assert_eq!(
        settings["data_dir"].as_str().unwrap(),
        mount("persistentVolumeClaim")
    );
    let claim_name = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str());
    assert_eq!(claim_name, claim["metadata"]["name"].as_str());

    // Ports: the listen address, the container, the Service.
    let port: u64 = settings["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let container_port = &container["ports"][0];
    assert_eq!(container_port["containerPort"], port);
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container_port["name"]
    );
    assert_eq!(
        service["spec"]["ports"][0]["port"], 8090,
        "Kayenta's port, which the client examples call"
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );

    // The Secret's keys reach the variables the configuration names.
    let mut env = Vec::new();
    for variable in container["env"].as_array().unwrap() {
        let name = variable["name"].as_str().unwrap().to_string();
        let value = if let Some(value) = variable["value"].as_str() {
            value.to_string()
        } else {
            let reference = &variable["valueFrom"]["secretKeyRef"];
            assert_eq!(reference["name"], secret["metadata"]["name"]);
            secret["stringData"][reference["key"].as_str().unwrap()]
                .as_str()
                .expect("the Secret has the key")
                .to_string()
        };
        env.push((name, value));
    }
    for account in settings["accounts"].as_array().unwrap() {
        for key in [
            "api_key_env",
            "app_key_env",
            "bearer_token_env",
            "password_env",
        ] {
            if let Some(variable) = account.get(key).and_then(|v| v.as_str()) {
                assert!(
                    env.iter().any(|(name, _)| name == variable),
                    "{variable} is not set by the Deployment"
                );
            }
        }
    }

    // A real server with exactly this configuration and these arguments (listening on a free port here).
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join(file);
    std::fs::write(&config_file, toml_text).unwrap();
    let mut server_args: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
    let at = server_args.iter().position(|a| a == "--config").unwrap() + 1;
    server_args[at] = config_file.display().to_string();
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let server = Server::start_with_env(&dir.path().join("data"), &server_args, &env);
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        assert_eq!(container[probe]["httpGet"]["port"], container_port["name"]);
        let (status, _) = get(&format!("{}{path}", server.url)).await;
        assert_eq!(status, 200, "{probe} {path}");
    }
    let (_, credentials) = get(&format!("{}/credentials", server.url)).await;
    let names: Vec<&str> = credentials
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prometheus", "datadog", "coalmine"]);
}

#[tokio::test]
async fn the_highly_available_manifests_run_replicas_that_share_one_postgresql() {
    let documents = example_yaml("kubernetes/coalmine-ha.yaml");
    let config_map = kind(&documents, "ConfigMap");
    let secret = kind(&documents, "Secret");
    let deployment = kind(&documents, "Deployment");
    let budget = kind(&documents, "PodDisruptionBudget");
    let service = kind(&documents, "Service");
    assert!(
        documents
            .iter()
            .all(|document| document["kind"] != "PersistentVolumeClaim"),
        "the records are in PostgreSQL: no volume to share"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *labels);
    assert_eq!(budget["apiVersion"], "policy/v1");
    assert_eq!(budget["spec"]["minAvailable"], 2);
    assert_eq!(budget["spec"]["selector"]["matchLabels"], *labels);
    assert_eq!(service["spec"]["selector"], *labels);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(
            container[probe]["httpGet"]["port"],
            container["ports"][0]["name"]
        );
    }

    // The configuration file and the variables the Deployment sets from the Secret.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let (_, file) = config_path.rsplit_once('/').unwrap();
    let toml_text = config_map["data"][file].as_str().unwrap();
    let settings: toml::Table = toml::from_str(toml_text).unwrap();
    let password_env = settings["store"]["password_env"].as_str().unwrap();
    assert!(
        settings["store"].get("url").is_none(),
        "the URL comes from the Secret"
    );
    let mut from_secret = Vec::new();
    for variable in container["env"].as_array().unwrap() {
        let reference = &variable["valueFrom"]["secretKeyRef"];
        if reference.is_null() {
            continue;
        }
        assert_eq!(reference["name"], secret["metadata"]["name"]);
        let value = secret["stringData"][reference["key"].as_str().unwrap()]
            .as_str()
            .expect("the Secret has the key");
        from_secret.push((variable["name"].as_str().unwrap(), value));
    }
    let secret_url = from_secret
        .iter()
        .find(|(name, _)| *name == "COALMINE_DATABASE_URL")
        .expect("the URL is set from the Secret")
        .1;
    assert!(secret_url.starts_with("postgres://"), "{secret_url}");
    assert!(
        from_secret.iter().any(|(name, _)| *name == password_env),
        "{password_env} is not set from the Secret"
    );

    // Two replicas with exactly this configuration and these arguments, on a real PostgreSQL (its URL in
    // place of the in-cluster one): each is ready, and each serves what the other stored.
    let url = support::postgres::fresh_database();
    let env: Vec<(&str, &str)> = from_secret
        .iter()
        .map(|(name, value)| match *name {
            "COALMINE_DATABASE_URL" => (*name, url.as_str()),
            _ => (*name, *value),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join(file);
    std::fs::write(&config_file, toml_text).unwrap();
    let mut server_args: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
    let at = server_args.iter().position(|a| a == "--config").unwrap() + 1;
    server_args[at] = config_file.display().to_string();
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let replicas: Vec<Server> = ["a", "b"]
        .iter()
        .map(|name| Server::start_with_env(&dir.path().join(name), &server_args, &env))
        .collect();
    for replica in &replicas {
        for path in ["/ready", "/health"] {
            let (status, _) = get(&format!("{}{path}", replica.url)).await;
            assert_eq!(status, 200, "{path}");
        }
    }
    let config: Value = serde_yaml_config(
        &std::fs::read_to_string(example("analyze/checkout-canary.yaml")).unwrap(),
    );
    let (status, stored) = post(&format!("{}/v1/configs", replicas[0].url), &config).await;
    assert_eq!(status, 201, "{stored}");
    let id = stored["id"].as_str().unwrap();
    let (status, fetched) = get(&format!("{}/v1/configs/{id}", replicas[1].url)).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["name"], config["name"]);
}

/// A YAML canary config as JSON.
fn serde_yaml_config(yaml: &str) -> Value {
    serde_norway::from_str(yaml).unwrap()
}

#[test]
fn the_dockerfile_builds_and_runs_what_coalmine_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // Instructions, with continuation lines joined and comments dropped.
    let mut instructions: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        pending.push(' ');
        if !line.ends_with('\\') {
            let (keyword, rest) = pending.trim().split_once(' ').unwrap();
            instructions.push((keyword.to_string(), rest.trim().to_string()));
            pending.clear();
        }
    }
    let all = |keyword: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let rust_version = manifest["package"]["rust-version"].as_str().unwrap();
    let builder = all("FROM")[0];
    assert!(
        builder.starts_with(&format!("rust:{rust_version}")),
        "the builder is Rust {rust_version}: {builder}"
    );
    let binary = manifest["bin"][0]["name"].as_str().unwrap();
    assert!(
        all("COPY")
            .iter()
            .any(|copy| copy.contains(&format!("target/release/{binary}")))
    );
    let entrypoint: Vec<String> = serde_json::from_str(all("ENTRYPOINT")[0]).unwrap();
    assert_eq!(entrypoint, [binary]);
    let cmd: Vec<String> = serde_json::from_str(all("CMD")[0]).unwrap();
    assert_eq!(cmd[0], "serve");

    // The variables it sets are ones `coalmine serve` reads, and the port it exposes is the one it listens on.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    // clap wraps its help to the terminal: read it as one line.
    let help = String::from_utf8(help.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let env = all("ENV").join(" ");
    let mut listen_port = None;
    for assignment in env.split_whitespace() {
        let (name, value) = assignment.split_once('=').unwrap();
        assert!(
            help.contains(&format!("[env: {name}=")),
            "coalmine serve does not read {name}"
        );
        if name == "COALMINE_LISTEN" {
            listen_port = value.rsplit(':').next().map(str::to_string);
        }
    }
    assert_eq!(all("EXPOSE"), [listen_port.unwrap().as_str()]);
    let data_dir = env
        .split_whitespace()
        .find_map(|a| a.strip_prefix("COALMINE_DATA_DIR="))
        .unwrap();
    assert_eq!(all("VOLUME"), [data_dir]);
}

#[tokio::test]
async fn the_two_example_configs_are_stored_side_by_side_as_the_readme_says() {
    // The README stores examples/analyze/checkout-canary.yaml with `POST /v1/configs`, and the Argo,
    // Flagger and Spinnaker examples name examples/spinnaker/canary-config.json stored with
    // `POST /canaryConfig`. Two different configs: both must be stored, under the names the examples use.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let yaml = std::fs::read_to_string(example("analyze/checkout-canary.yaml")).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/configs", server.url))
        .header("Content-Type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        status == 200 || status == 201,
        "{status}: {}",
        response.text().await.unwrap()
    );
    let (status, body) = common::clients::post(
        &format!("{}/canaryConfig", server.url),
        &common::clients::example_json("spinnaker/canary-config.json"),
    )
    .await;
    assert_eq!(status, 200, "the second example collides: {body}");
    let (_, listed) = get(&format!("{}/v1/configs", server.url)).await;
    let names: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|config| config["name"].as_str().unwrap())
        .collect();
    let stage = common::clients::example_json("spinnaker/kayenta-canary-stage.json");
    let flagger = example_yaml("flagger/canary.yaml");
    let flagger_config = flagger
        .iter()
        .flat_map(|document| document["spec"]["analysis"]["webhooks"].as_array().cloned())
        .flatten()
        .find_map(|hook| hook["metadata"]["config"].as_str().map(str::to_string))
        .expect("the Flagger example names a config");
    assert_eq!(
        names,
        BTreeSet::from(["checkout-canary", "checkout-canary-by-region"])
    );
    assert_eq!(flagger_config, "checkout-canary-by-region");
    assert!(
        stage
            .to_string()
            .contains("\"canaryConfigName\":\"checkout-canary-by-region\""),
        "{stage}"
    );
}
