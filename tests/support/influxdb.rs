//! A real InfluxDB 1.x server (Debian's `influxdb`, the `influxd` binary) holding a fixed data set, for tests.
//!
//! [`shared`] starts one server per test binary: a configuration file with every port on a free port of
//! 127.0.0.1, its data in a temporary directory, reporting and self-monitoring off, and authentication on
//! (the first user, [`USER`] with [`PASSWORD`], is created as the admin). The data set is written through
//! the HTTP write API (`POST /write?precision=s`) in line protocol at past timestamps. The server is killed
//! when the test process ends (a small shell watchdog kills it when its stdin pipe closes).
//!
//! # The data set
//!
//! One hour at 60 s: [`SAMPLES`] points `i = 0..=60` at `start + 60 s · i`, where `start` is the whole hour
//! three to four hours before the server started ([`InfluxDbServer::start_time`]). Servers [`BASELINE`]
//! (`checkout-baseline`) and [`CANARY`] (`checkout-canary`):
//!
//! - database [`DATABASE`] (`checkout`):
//!   - `http_latency`, tags `server` and `region` ([`REGIONS`]), field `p99` = [`latency`]:
//!     `0.100 + 0.001·((7i) mod 11)`, plus `0.020` in `eu-west-1`; **the canary is 50 ms higher**;
//!   - `temperature` (the shape of Kayenta's converter test), tag `server`, fields `external` = `25 + i mod 3`
//!     and `internal` = `37 + i mod 3`, **`internal` missing where `i mod 10 == 5`** (a `null` in a row);
//!   - `http_errors`, tag `server`, field `count` = [`errors`]: `2 + i mod 3` a minute on the baseline,
//!     **`10 + 5·(i mod 3)` on the canary**;
//!   - `single`, tag `server`, field `value` = `4.5`, **one point**, at `i = 0`, baseline only;
//! - database [`TELEGRAF`] (`telegraf`): `cpu`, tag `server`, field `usage_user` = [`cpu`]: `0.40` baseline,
//!   `0.45` canary, plus `0.01·(i mod 3)`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

pub const BASELINE: &str = "checkout-baseline";
pub const CANARY: &str = "checkout-canary";
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
pub const STEP: Duration = Duration::from_secs(60);
/// Points per series: an hour at 60 s, both ends included.
pub const SAMPLES: usize = 61;
pub const DATABASE: &str = "checkout";
pub const TELEGRAF: &str = "telegraf";
pub const USER: &str = "coalmine";
pub const PASSWORD: &str = "influx-test-pass-7c1e";

/// `http_latency.p99` of `server` in `region` at sample `i`.
pub fn latency(server: &str, region: &str, i: usize) -> f64 {
    let base = 0.100 + 0.001 * ((7 * i) % 11) as f64;
    let region = if region == "eu-west-1" { 0.020 } else { 0.0 };
    let canary = if server == CANARY { 0.050 } else { 0.0 };
    base + region + canary
}

/// `http_errors.count` of `server` at sample `i`.
pub fn errors(server: &str, i: usize) -> f64 {
    match server {
        CANARY => 10.0 + 5.0 * (i % 3) as f64,
        _ => 2.0 + (i % 3) as f64,
    }
}

/// `cpu.usage_user` of `server` at sample `i`.
pub fn cpu(server: &str, i: usize) -> f64 {
    let base = if server == CANARY { 0.45 } else { 0.40 };
    base + 0.01 * (i % 3) as f64
}

/// Whether `temperature.internal` has a value at sample `i`.
pub fn has_internal(i: usize) -> bool {
    i % 10 != 5
}

/// The line protocol of database `database`, from `start`.
fn lines(database: &str, start: Timestamp) -> String {
    let mut text = String::new();
    let time = |i: usize| start.as_second() + 60 * i as i64;
    for server in [BASELINE, CANARY] {
        for i in 0..SAMPLES {
            if database == TELEGRAF {
                text += &format!(
                    "cpu,server={server} usage_user={:?} {}\n",
                    cpu(server, i),
                    time(i)
                );
                continue;
            }
            for region in REGIONS {
                text += &format!(
                    "http_latency,region={region},server={server} p99={:?} {}\n",
                    latency(server, region, i),
                    time(i)
                );
            }
            text += &format!(
                "http_errors,server={server} count={:?} {}\n",
                errors(server, i),
                time(i)
            );
            let base = (i % 3) as f64;
            let internal = match has_internal(i) {
                true => format!(",internal={:?}", 37.0 + base),
                false => String::new(),
            };
            text += &format!(
                "temperature,server={server} external={:?}{internal} {}\n",
                25.0 + base,
                time(i)
            );
        }
    }
    if database == DATABASE {
        text += &format!("single,server={BASELINE} value=4.5 {}\n", time(0));
    }
    text
}

/// A running InfluxDB with the data set.
pub struct InfluxDbServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    start: Timestamp,
    watchdog: Child,
    _dir: tempfile::TempDir,
}

impl InfluxDbServer {
    /// Starts a server and writes the data set. Fails the test if `influxd` is missing.
    pub fn start() -> InfluxDbServer {
        let influxd = binary();
        let hour = Timestamp::now().as_second().div_euclid(3600) * 3600;
        let start = Timestamp::from_second(hour - 3 * 3600).unwrap();
        let dir = tempfile::tempdir().expect("a temporary directory");
        for _ in 0..3 {
            let (http, rpc) = (free_port(), free_port());
            let config = dir.path().join("influxdb.conf");
            let path = |name: &str| dir.path().join(name).display().to_string();
            std::fs::write(
                &config,
                format!(
                    "reporting-disabled = true\n\
                     bind-address = \"127.0.0.1:{rpc}\"\n\
                     [meta]\n  dir = \"{}\"\n  logging-enabled = false\n\
                     [data]\n  dir = \"{}\"\n  wal-dir = \"{}\"\n  query-log-enabled = false\n\
                     [monitor]\n  store-enabled = false\n\
                     [subscriber]\n  enabled = false\n\
                     [continuous_queries]\n  enabled = false\n\
                     [http]\n  enabled = true\n  bind-address = \"127.0.0.1:{http}\"\n  \
                     auth-enabled = true\n  log-enabled = false\n  pprof-enabled = false\n",
                    path("meta"),
                    path("data"),
                    path("wal")
                ),
            )
            .unwrap();
            let address = format!("127.0.0.1:{http}");
            match run(&influxd, dir.path(), &config, &address) {
                Ok(watchdog) => {
                    let server = InfluxDbServer {
                        url: format!("http://{address}"),
                        start,
                        watchdog,
                        _dir: dir,
                    };
                    server.load();
                    return server;
                }
                Err(log) => assert!(
                    log.contains("address already in use"),
                    "influxd did not become ready:\n{log}"
                ),
            }
        }
        panic!("influxd found no free port in three tries");
    }

    /// Creates the admin user and the databases, and writes the data set.
    fn load(&self) {
        let address = self.url.trim_start_matches("http://");
        // With authentication on and no user yet, InfluxDB accepts only the creation of an admin.
        let create_user =
            format!("CREATE USER {USER} WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES");
        let (status, body) = post(address, &format!("/query?q={}", encode(&create_user)), "");
        assert_eq!(status, 200, "creating the admin user: {body}");
        let auth = format!("u={USER}&p={PASSWORD}");
        for database in [DATABASE, TELEGRAF] {
            let query = encode(&format!("CREATE DATABASE {database}"));
            let (status, body) = post(address, &format!("/query?{auth}&q={query}"), "");
            assert_eq!(status, 200, "creating {database}: {body}");
            let (status, body) = post(
                address,
                &format!("/write?{auth}&db={database}&precision=s"),
                &lines(database, self.start),
            );
            assert_eq!(status, 204, "writing {database}: {body}");
        }
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

impl Drop for InfluxDbServer {
    fn drop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Runs `influxd` with `config` under a watchdog shell that kills it when its stdin closes (the test process
/// ending); waits until `/ping` answers. On failure, the server's log.
fn run(influxd: &str, dir: &Path, config: &Path, address: &str) -> Result<Child, String> {
    let log = dir.join("influxd.log");
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & server=$!; read -r _; kill "$server"; wait "$server""#)
        .arg("influxd-watchdog")
        .arg(influxd)
        .arg("run")
        .arg("-config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(dir.join("influxd.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting influxd");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if watchdog.try_wait().unwrap().is_some() {
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        if TcpStream::connect(address).is_ok() && request(address, "GET", "/ping", "").0 == 204 {
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
pub fn shared() -> &'static InfluxDbServer {
    static SERVER: OnceLock<InfluxDbServer> = OnceLock::new();
    SERVER.get_or_init(InfluxDbServer::start)
}

/// `influxd`, or a failed test saying how to install it.
fn binary() -> String {
    match Command::new("influxd")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => "influxd".to_string(),
        Err(error) => panic!(
            "`influxd` is needed to run the InfluxDB tests but cannot be run ({error}): install it \
             with `apt-get install influxdb` (Debian's InfluxDB 1.x)"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn post(address: &str, path: &str, body: &str) -> (u16, String) {
    request(address, "POST", path, body)
}

/// An HTTP/1.0 request to `address`: the status (0 when nothing answers) and the body.
fn request(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let sent = write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if sent.is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}
