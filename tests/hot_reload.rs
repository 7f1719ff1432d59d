//! Hot reload of `coalmine serve --judges-dir` over real HTTP: plugins added, swapped (the way a Kubernetes
//! ConfigMap volume swaps its `..data` symlink), broken and removed while the server runs.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::Value;

/// `GET /v1/judges` as `name -> sha256` for the judges loaded from files.
async fn file_judges(client: &reqwest::Client, server: &Server) -> Vec<(String, String)> {
    let judges: Value = client
        .get(format!("{}/v1/judges", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    judges
        .as_array()
        .unwrap()
        .iter()
        .filter(|judge| judge["origin"] != "built-in")
        .map(|judge| {
            (
                judge["name"].as_str().unwrap().to_string(),
                judge["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits (generously) until the file judges are exactly `expected` by name.
async fn wait_for(
    client: &reqwest::Client,
    server: &Server,
    expected: &[&str],
) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let judges = file_judges(client, server).await;
        let names: Vec<&str> = judges.iter().map(|(name, _)| name.as_str()).collect();
        if names == expected {
            return judges;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the judges directory still serves {names:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes `wasm` as `judge.wasm` the way the kubelet updates a ConfigMap volume: a new timestamped
/// directory, a new `..data` symlink renamed over the old one; `judge.wasm -> ..data/judge.wasm` never changes.
fn configmap_publish(dir: &Path, version: &str, wasm: &[u8]) {
    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir(&versioned).unwrap();
    std::fs::write(versioned.join("judge.wasm"), wasm).unwrap();
    let tmp = dir.join("..data_tmp");
    symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if !dir.join("judge.wasm").exists() {
        symlink("..data/judge.wasm", dir.join("judge.wasm")).unwrap();
    }
}

async fn judge_with(client: &reqwest::Client, server: &Server, fixture: &Path) -> (u16, Value) {
    let body = std::fs::read_to_string(fixture).unwrap();
    let response = client
        .post(format!("{}/v1/judge", server.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_judges_directory_is_reloaded_while_the_server_serves() {
    let scripted = std::fs::read(common::plugin("scripted")).unwrap();
    let threshold = std::fs::read(common::example_judge("coalmine-threshold-judge")).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judges/threshold/fixtures/input.json");
    let data = tempfile::tempdir().unwrap();
    let judges = tempfile::tempdir().unwrap();
    configmap_publish(judges.path(), "v1", &scripted);

    let judges_dir = judges.path().display().to_string();
    let server = Server::start(
        data.path(),
        &[
            "--judges-dir",
            &judges_dir,
            "--judges-poll-interval",
            "100ms",
        ],
    );
    let client = reqwest::Client::new();
    wait_for(&client, &server, &["scripted"]).await;
    let (status, result) = judge_with(&client, &server, &fixture).await;
    assert_eq!(status, 400, "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("no judge named \"threshold\""),
        "{result}"
    );

    // The ConfigMap now holds another judge: it replaces the one the file provided.
    configmap_publish(judges.path(), "v2", &threshold);
    let served = wait_for(&client, &server, &["threshold"]).await;
    let (status, result) = judge_with(&client, &server, &fixture).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["judgeName"], "threshold");
    assert_eq!(result["score"]["classification"], "Pass");

    // A broken version is refused and the loaded one keeps serving. A plain file added after it proves the
    // watcher has looked at the directory since.
    configmap_publish(
        judges.path(),
        "v3",
        b"\0asm\x0d\0\x01\0 truncated component",
    );
    std::fs::write(judges.path().join("extra.wasm"), &scripted).unwrap();
    let after = wait_for(&client, &server, &["scripted", "threshold"]).await;
    assert!(
        after.contains(&served[0]),
        "threshold changed: {after:?} vs {served:?}"
    );
    let (status, result) = judge_with(&client, &server, &fixture).await;
    assert_eq!(
        (status, &result["judgeName"]),
        (200, &Value::from("threshold"))
    );

    // Removing a plugin file unloads its judge.
    std::fs::remove_file(judges.path().join("extra.wasm")).unwrap();
    wait_for(&client, &server, &["threshold"]).await;

    // A fixed version is picked up again.
    configmap_publish(judges.path(), "v4", &scripted);
    wait_for(&client, &server, &["scripted"]).await;
    let (status, result) = judge_with(&client, &server, &fixture).await;
    assert_eq!(status, 400, "{result}");

    // A second file with a judge name already taken is refused; the first keeps the name.
    std::fs::write(judges.path().join("a-duplicate.wasm"), &scripted).unwrap();
    std::fs::write(judges.path().join("threshold.wasm"), &threshold).unwrap();
    wait_for(&client, &server, &["scripted", "threshold"]).await;
    let listed: Value = client
        .get(format!("{}/v1/judges", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scripted_origin = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|judge| judge["name"] == "scripted")
        .map(|judge| judge["origin"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        scripted_origin.ends_with("/judge.wasm"),
        "{scripted_origin}"
    );
}
