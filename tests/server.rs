//! `coalmine serve` over real HTTP: the real binary on a loopback port, called as CD tools and curl call it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// A running `coalmine serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_coalmine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env(
                "COALMINE_CACHE_DIR",
                std::env::temp_dir().join("coalmine-test-cache"),
            )
            .env_remove("COALMINE_JUDGES_DIR")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting coalmine serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "coalmine serve exited before listening"
            );
            if let Some(url) = line.trim().strip_prefix("coalmine listening on ") {
                break url.to_string();
            }
        };

        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});

        Server {
            child,
            url,
            _data: data,
        }
    }
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judge/regressed.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn health_judge_and_judges_answer_over_http() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every answer carries a request id"
    );
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "UP"})
    );
    assert_eq!(
        client
            .get(format!("{}/ready", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let judged = client
        .post(format!("{}/v1/judge", server.url))
        .json(&example())
        .send()
        .await
        .unwrap();
    assert_eq!(judged.status(), 200);
    let judged: Value = judged.json().await.unwrap();
    // The same answer as `coalmine judge` gives for the same request.
    let cli = Command::new(env!("CARGO_BIN_EXE_coalmine"))
        .args(["judge", "--input"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/judge/regressed.json"))
        .env(
            "COALMINE_CACHE_DIR",
            std::env::temp_dir().join("coalmine-test-cache"),
        )
        .output()
        .unwrap();
    assert_eq!(
        judged,
        serde_json::from_slice::<Value>(&cli.stdout).unwrap()
    );
    assert_eq!(judged["score"]["classification"], "Fail");

    let judges: Value = client
        .get(format!("{}/v1/judges", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let judge = &judges[0];
    assert_eq!(judge["name"], "mann-whitney");
    assert_eq!(judge["origin"], "built-in");
    assert_eq!(judge["aliases"], json!(["NetflixACAJudge-v1.0"]));
    assert_eq!(judge["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_message() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{}/v1/judge", server.url))
            .json(&body)
            .send()
    };
    let message = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON error body");
        (
            status,
            body["message"].as_str().expect("a message").to_string(),
        )
    };

    let mut request = example();
    request["metricSetPairList"][0]["values"]["control"][3] = json!(true);
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("metricSetPairList[0].values.control[3]: invalid type: boolean"),
        "{text}"
    );

    let (status, text) = message(post(json!({"canaryConfig": {}})).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(text.contains("missing field"), "{text}");

    let mut request = example();
    request["canaryConfig"]["judge"]["name"] = json!("t-test");
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!(
        (status, text.contains("no judge named \"t-test\"")),
        (400, true),
        "{text}"
    );

    let mut request = example();
    request["canaryConfig"]["judge"]["judgeConfigurations"] = json!({"tolerance": -1});
    let (status, text) = message(post(request).await.unwrap()).await;
    assert_eq!((status, text.contains("tolerance")), (400, true), "{text}");

    let malformed = client
        .post(format!("{}/v1/judge", server.url))
        .header("content-type", "application/json")
        .body("{\"canaryConfig\": ")
        .send()
        .await
        .unwrap();
    let (status, text) = message(malformed).await;
    assert_eq!((status, text.contains("EOF")), (400, true), "{text}");

    let not_json = client
        .post(format!("{}/v1/judge", server.url))
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, text) = message(not_json).await;
    assert_eq!(
        (status, text.contains("must be JSON")),
        (400, true),
        "{text}"
    );
    let (status, text) = message(
        client
            .get(format!("{}/nope", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, text.as_str()), (404, "no such endpoint"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
