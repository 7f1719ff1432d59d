//! A real `coalmine serve` process on a free loopback port, for tests over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `coalmine serve`; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `coalmine serve` on `data_dir` with `args`, and waits until it listens.
    pub fn start(data_dir: &Path, args: &[&str]) -> Server {
        Server::start_with_env(data_dir, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables for the server.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coalmine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env(
                "COALMINE_CACHE_DIR",
                std::env::temp_dir().join("coalmine-test-cache"),
            )
            .env_remove("COALMINE_JUDGES_DIR")
            .env_remove("COALMINE_CONFIG")
            .env_remove("COALMINE_PROMETHEUS_URL")
            .env_remove("COALMINE_DATADOG_URL")
            .env_remove("COALMINE_DATABASE_URL")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting coalmine serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "coalmine serve exited before listening"
            );
            log.lock().unwrap().push_str(&line);
            if let Some(url) = line.trim().strip_prefix("coalmine listening on ") {
                break url.to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server { child, url, log }
    }

    /// What the server has logged so far.
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's `/metrics` page (Prometheus' text format).
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of `sample` (the name with its labels, if any) on `/metrics`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{sample} ")))
            .unwrap_or_else(|| panic!("no {sample} in {text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Kills the server as a crash would (SIGKILL), and waits for it to be gone.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
