//! A real Graphite (Debian's `graphite-web`, Django's server on a free port of 127.0.0.1) reading whisper
//! files written for the test, for tests.
//!
//! [`shared`] starts one server per test binary: the whisper files of the data set are created with
//! `whisper-create` and filled with `whisper-update` (Debian's `python3-whisper`) in a temporary directory,
//! a settings module there points graphite-web at them (no carbon, no tag database), and `django-admin
//! runserver` serves it. The server is killed when the test process ends (a small shell watchdog kills it
//! when its stdin pipe closes).
//!
//! # The data set
//!
//! One hour at 60 s: points `i = 0..=60` at `start + 60 s · i`, where `start` is the whole hour three to four
//! hours before the server started ([`GraphiteWeb::start_time`]). Retention `60s:30d`.
//!
//! - `checkout.us-east-1.<server>.<host>.latency.p99`, servers [`BASELINE`] and [`CANARY`], hosts `host-1`
//!   and `host-2`: [`latency`] minus 0.01 on `host-1`, plus 0.01 on `host-2` (their average is
//!   [`latency`]): `0.100 + 0.001·((7i) mod 11)`, **the canary 50 ms higher**;
//! - `checkout.us-east-1.<server>.<host>.requests.5xx`: half of [`errors`] on each host: `2 + i mod 3` on the
//!   baseline, **`10 + 5·(i mod 3)` on the canary**;
//! - `integrationTestCpu.namespace.<ns>.scope.<scope>` (Kayenta's integration-test metric), namespaces
//!   `ns-a` and `ns-b`, scopes `baseline` and `canary`: [`cpu`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

pub const BASELINE: &str = "checkout-baseline";
pub const CANARY: &str = "checkout-canary";
pub const SAMPLES: usize = 61;

/// The average p99 latency of `server` at sample `i`.
pub fn latency(server: &str, i: usize) -> f64 {
    0.100 + 0.001 * ((7 * i) % 11) as f64 + if server == CANARY { 0.05 } else { 0.0 }
}

/// The 5xx of `server` at sample `i`, over both hosts.
pub fn errors(server: &str, i: usize) -> f64 {
    match server {
        CANARY => 10.0 + 5.0 * (i % 3) as f64,
        _ => 2.0 + (i % 3) as f64,
    }
}

/// `integrationTestCpu.namespace.<namespace>.scope.<scope>` at any sample.
pub fn cpu(namespace: &str, scope: &str) -> f64 {
    let base = if namespace == "ns-a" { 10.0 } else { 20.0 };
    base + if scope == "canary" { 5.0 } else { 0.0 }
}

/// A series' value at sample `i`.
type ValueAt = Box<dyn Fn(usize) -> f64>;

pub struct GraphiteWeb {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    start: Timestamp,
    watchdog: Child,
    _dir: tempfile::TempDir,
}

impl GraphiteWeb {
    /// Writes the data set and starts graphite-web on it. Fails the test if graphite-web or whisper is
    /// missing.
    pub fn start() -> GraphiteWeb {
        check_installed();
        let hour = Timestamp::now().as_second().div_euclid(3600) * 3600;
        let start = Timestamp::from_second(hour - 3 * 3600).unwrap();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let whisper = dir.path().join("whisper");
        let time = |i: usize| start.as_second() + 60 * i as i64;
        let mut series: Vec<(String, ValueAt)> = Vec::new();
        for server in [BASELINE, CANARY] {
            for (host, offset) in [("host-1", -0.01), ("host-2", 0.01)] {
                series.push((
                    format!("checkout.us-east-1.{server}.{host}.latency.p99"),
                    Box::new(move |i| latency(server, i) + offset),
                ));
                series.push((
                    format!("checkout.us-east-1.{server}.{host}.requests.5xx"),
                    Box::new(move |i| errors(server, i) / 2.0),
                ));
            }
        }
        for namespace in ["ns-a", "ns-b"] {
            for scope in ["baseline", "canary"] {
                series.push((
                    format!("integrationTestCpu.namespace.{namespace}.scope.{scope}"),
                    Box::new(move |_| cpu(namespace, scope)),
                ));
            }
        }
        for (name, value) in &series {
            let file = whisper.join(format!("{}.wsp", name.replace('.', "/")));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            run_tool(Command::new("whisper-create").arg(&file).arg("60:30d"));
            run_tool(
                Command::new("whisper-update")
                    .arg(&file)
                    .args((0..SAMPLES).map(|i| format!("{}:{:?}", time(i), value(i)))),
            );
        }
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        std::fs::write(
            dir.path().join("coalmine_graphite_settings.py"),
            format!(
                "from graphite.settings import *\n\
                 WHISPER_DIR = '{}/'\nSTANDARD_DIRS = [WHISPER_DIR]\n\
                 STORAGE_FINDERS = ('graphite.finders.standard.StandardFinder',)\n\
                 LOG_DIR = '{}'\nINDEX_FILE = '{}'\nTAGDB = ''\n\
                 DATABASES = {{'default': {{'NAME': '{}', 'ENGINE': 'django.db.backends.sqlite3'}}}}\n\
                 SECRET_KEY = 'coalmine-test'\nALLOWED_HOSTS = ['127.0.0.1']\n",
                whisper.display(),
                path("log"),
                path("index"),
                path("graphite.db")
            ),
        )
        .unwrap();
        for _ in 0..3 {
            let address = format!("127.0.0.1:{}", free_port());
            match run(dir.path(), &address) {
                Ok(watchdog) => {
                    return GraphiteWeb {
                        url: format!("http://{address}"),
                        start,
                        watchdog,
                        _dir: dir,
                    };
                }
                Err(log) => assert!(
                    log.contains("already in use"),
                    "graphite-web did not become ready:\n{log}"
                ),
            }
        }
        panic!("graphite-web found no free port in three tries");
    }

    /// Where the data set starts (sample 0).
    pub fn start_time(&self) -> Timestamp {
        self.start
    }

    /// An hour after [`start_time`](Self::start_time), where sample 60 is.
    pub fn end_time(&self) -> Timestamp {
        self.start + SignedDuration::from_hours(1)
    }
}

impl Drop for GraphiteWeb {
    fn drop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Runs graphite-web on the settings in `dir`, listening on `address`, under a watchdog shell that kills it
/// when its stdin closes; waits until it renders. On failure, its log.
fn run(dir: &Path, address: &str) -> Result<Child, String> {
    let log = dir.join("graphite-web.log");
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & server=$!; read -r _; kill "$server"; wait "$server""#)
        .arg("graphite-web-watchdog")
        .args(["django-admin", "runserver", "--noreload", address])
        .env("PYTHONPATH", dir)
        .env("DJANGO_SETTINGS_MODULE", "coalmine_graphite_settings")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting graphite-web");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if watchdog.try_wait().unwrap().is_some() {
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        if http_status(address, "/render?target=none&format=json") == Some(200) {
            return Ok(watchdog);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(watchdog.stdin.take());
    let _ = watchdog.wait();
    Err(format!(
        "not ready after 60 s\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    ))
}

/// One server per test binary, started on first use.
pub fn shared() -> &'static GraphiteWeb {
    static SERVER: OnceLock<GraphiteWeb> = OnceLock::new();
    SERVER.get_or_init(GraphiteWeb::start)
}

fn check_installed() {
    // `django-admin` runs the Python that has Debian's graphite-web (a `python3` on the PATH may be another).
    let installed = Command::new("django-admin")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
        && Path::new("/usr/lib/python3/dist-packages/graphite").is_dir()
        && Command::new("whisper-create")
            .arg("--help")
            .stdout(Stdio::null())
            .status()
            .is_ok();
    assert!(
        installed,
        "graphite-web and whisper are needed to run the Graphite tests: install them with `apt-get \
         install graphite-web python3-whisper` (Debian's packages)"
    );
}

fn run_tool(command: &mut Command) {
    let output = command.output().expect("running a whisper tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on `address`, or `None` if nothing answers.
fn http_status(address: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}
