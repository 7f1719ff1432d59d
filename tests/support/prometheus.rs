//! A real Prometheus server (Debian's `prometheus` and `promtool`) holding a fixed data set, for tests.
//!
//! [`PrometheusServer::start`] writes the data set as OpenMetrics, backfills it with
//! `promtool tsdb create-blocks-from openmetrics`, starts `prometheus` on a free port of 127.0.0.1 and waits
//! for `/-/ready`; the server is killed when the value is dropped, or when the test process ends (a small
//! shell watchdog kills it when its stdin pipe closes). [`shared`] is one server per test binary.
//!
//! # The data set
//!
//! One hour at 15 s resolution: [`SAMPLES`] samples `i = 0..=240` at `start + 15 s · i`, where `start` is
//! the whole hour three to four hours before the server started ([`PrometheusServer::start_time`]); the
//! window is `start ..= start + 1 h` ([`PrometheusServer::scope`]). Two apps, [`BASELINE`]
//! (`checkout-baseline`) and [`CANARY`] (`checkout-canary`), each with pod `<app>-0` in `us-east-1` and pod
//! `<app>-1` in `eu-west-1` ([`REGIONS`], [`pod`]):
//!
//! - [`LATENCY`], a gauge labelled `app`, `pod`, `region`: [`latency`] is
//!   `0.100 + 0.001·((7i) mod 11)`, plus `0.020` in `eu-west-1`; **the canary is 50 ms higher**.
//! - [`REQUESTS`], a counter labelled `app`, `pod`, `region`, `code`: [`requests`] grows 10/s for code
//!   `200`; for code `500`, 0.1/s on the baseline and 0.5/s on the canary (**5× the errors**).
//! - [`SPECIAL`], a gauge labelled `app`, canary only: [`special`] repeats `i, NaN, +Inf, -Inf`; **the
//!   baseline has no series**.
//! - [`SPARSE`], a gauge labelled `app`: `1.0`, but only for `i < 40` and `i ≥ 200`
//!   ([`sparse_has_sample`]): a 40-minute gap.
//! - [`CPU`], a gauge in two styles, [`cpu`] being the base plus `0.01·(i mod 3)`:
//!   - AWS, labelled `asg_groupName`, `zone` (`us-east-1a`, `us-east-1b`), `instance`: base `0.40` for
//!     group `checkout-v001` (baseline) and `0.45` for `checkout-v002` (canary) ([`ASGS`]);
//!   - GCE, labelled `instance`, `zone` ([`GCE_ZONE`], project `proj1`, region `us-central1`): base
//!     `0.30` for `checkout-baseline-ab12` and `0.35` for `checkout-canary-cd34` ([`GCE_INSTANCES`]).
//!
//! Values are written with Rust's shortest round-trip formatting, so they come back from queries exactly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use coalmine::metrics::{Scope, ScopePair};
use jiff::{SignedDuration, Timestamp};

pub const BASELINE: &str = "checkout-baseline";
pub const CANARY: &str = "checkout-canary";
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
pub const STEP: Duration = Duration::from_secs(15);
/// Samples per series: an hour at 15 s, both ends included.
pub const SAMPLES: usize = 241;

pub const LATENCY: &str = "checkout_latency_seconds";
pub const REQUESTS: &str = "checkout_requests_total";
pub const SPECIAL: &str = "checkout_special_values";
pub const SPARSE: &str = "checkout_sparse_gauge";
pub const CPU: &str = "instance_cpu_utilization";

/// The AWS auto scaling groups of the [`CPU`] series: baseline, canary.
pub const ASGS: [&str; 2] = ["checkout-v001", "checkout-v002"];
/// The GCE instances of the [`CPU`] series: baseline, canary (scope `checkout-baseline`/`checkout-canary`
/// plus four characters, as Kayenta's `gce_instance` query expects).
pub const GCE_INSTANCES: [&str; 2] = ["checkout-baseline-ab12", "checkout-canary-cd34"];
pub const GCE_ZONE: &str =
    "https://www.googleapis.com/compute/v1/projects/proj1/zones/us-central1-b";

/// The pod of `app` in `region`.
pub fn pod(app: &str, region: &str) -> String {
    let index = REGIONS
        .iter()
        .position(|r| *r == region)
        .expect("a region of the data set");
    format!("{app}-{index}")
}

/// [`LATENCY`] of `app` in `region` at sample `i`.
pub fn latency(app: &str, region: &str, i: usize) -> f64 {
    let base = 0.100 + 0.001 * ((7 * i) % 11) as f64;
    let region = if region == "eu-west-1" { 0.020 } else { 0.0 };
    let canary = if app == CANARY { 0.050 } else { 0.0 };
    base + region + canary
}

/// [`REQUESTS`] (a counter) of one pod of `app` with status `code` at sample `i`.
pub fn requests(app: &str, code: &str, i: usize) -> f64 {
    let per_second = match (code, app) {
        ("200", _) => 10.0,
        ("500", CANARY) => 0.5,
        ("500", _) => 0.1,
        _ => panic!("codes are 200 and 500"),
    };
    per_second * 15.0 * i as f64
}

/// [`SPECIAL`] (canary only) at sample `i`.
pub fn special(i: usize) -> f64 {
    match i % 4 {
        0 => i as f64,
        1 => f64::NAN,
        2 => f64::INFINITY,
        _ => f64::NEG_INFINITY,
    }
}

/// Whether [`SPARSE`] has a sample at `i` (its value is always 1).
pub fn sparse_has_sample(i: usize) -> bool {
    !(40..200).contains(&i)
}

/// [`CPU`] of the AWS group or GCE instance `name` at sample `i`.
pub fn cpu(name: &str, i: usize) -> f64 {
    let base = match name {
        "checkout-v001" => 0.40,
        "checkout-v002" => 0.45,
        "checkout-baseline-ab12" => 0.30,
        "checkout-canary-cd34" => 0.35,
        _ => panic!("not a CPU series of the data set: {name}"),
    };
    base + 0.01 * (i % 3) as f64
}

/// The data set as OpenMetrics, samples from `start`.
fn openmetrics(start: Timestamp) -> String {
    let mut text = String::new();
    let apps_and_regions = [BASELINE, CANARY]
        .into_iter()
        .flat_map(|app| REGIONS.map(|region| (app, region)));

    writeln!(text, "# TYPE {LATENCY} gauge").unwrap();
    for (app, region) in apps_and_regions.clone() {
        let labels = format!(
            r#"app="{app}",pod="{}",region="{region}""#,
            pod(app, region)
        );
        write_series(&mut text, start, LATENCY, &labels, |i| {
            Some(latency(app, region, i))
        });
    }
    writeln!(
        text,
        "# TYPE {} counter",
        REQUESTS.trim_end_matches("_total")
    )
    .unwrap();
    for (app, region) in apps_and_regions {
        for code in ["200", "500"] {
            let labels = format!(
                r#"app="{app}",code="{code}",pod="{}",region="{region}""#,
                pod(app, region)
            );
            write_series(&mut text, start, REQUESTS, &labels, |i| {
                Some(requests(app, code, i))
            });
        }
    }
    writeln!(text, "# TYPE {SPECIAL} gauge").unwrap();
    write_series(
        &mut text,
        start,
        SPECIAL,
        &format!(r#"app="{CANARY}""#),
        |i| Some(special(i)),
    );
    writeln!(text, "# TYPE {SPARSE} gauge").unwrap();
    for app in [BASELINE, CANARY] {
        write_series(&mut text, start, SPARSE, &format!(r#"app="{app}""#), |i| {
            sparse_has_sample(i).then_some(1.0)
        });
    }
    writeln!(text, "# TYPE {CPU} gauge").unwrap();
    for (asg, instances) in ASGS
        .into_iter()
        .zip([["i-0a01", "i-0a02"], ["i-0b01", "i-0b02"]])
    {
        for (instance, zone) in instances.into_iter().zip(["us-east-1a", "us-east-1b"]) {
            let labels = format!(r#"asg_groupName="{asg}",instance="{instance}",zone="{zone}""#);
            write_series(&mut text, start, CPU, &labels, |i| Some(cpu(asg, i)));
        }
    }
    for instance in GCE_INSTANCES {
        let labels = format!(r#"instance="{instance}",zone="{GCE_ZONE}""#);
        write_series(&mut text, start, CPU, &labels, |i| Some(cpu(instance, i)));
    }
    text.push_str("# EOF\n");
    text
}

/// The samples of one series, one line each, at `start + 15 s · i` where `value(i)` gives a value.
fn write_series(
    text: &mut String,
    start: Timestamp,
    name: &str,
    labels: &str,
    value: impl Fn(usize) -> Option<f64>,
) {
    for i in 0..SAMPLES {
        let Some(value) = value(i) else { continue };
        let value = match value {
            v if v.is_nan() => "NaN".to_string(),
            f64::INFINITY => "+Inf".to_string(),
            f64::NEG_INFINITY => "-Inf".to_string(),
            v => format!("{v:?}"),
        };
        writeln!(
            text,
            "{name}{{{labels}}} {value} {}",
            start.as_second() + 15 * i as i64
        )
        .unwrap();
    }
}

/// A running Prometheus with the data set.
pub struct PrometheusServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    start: Timestamp,
    /// `None` while [`stop`](Self::stop)ped.
    watchdog: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Writes and backfills the data set and starts a server on it. Fails the test if `prometheus` or
    /// `promtool` is missing.
    pub fn start() -> PrometheusServer {
        let hour = Timestamp::now().as_second().div_euclid(3600) * 3600;
        PrometheusServer::start_at(Timestamp::from_second(hour - 3 * 3600).unwrap())
    }

    /// Like [`start`](Self::start), with the data set's hour starting at `start` (whole seconds), e.g. to
    /// judge windows that end now.
    pub fn start_at(start: Timestamp) -> PrometheusServer {
        let promtool = binary("promtool");
        let dir = tempfile::tempdir().expect("a temporary directory");

        let data = dir.path().join("data.om");
        std::fs::write(&data, openmetrics(start)).unwrap();
        let tsdb = dir.path().join("tsdb");
        let output = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&data)
            .arg(&tsdb)
            .output()
            .expect("running promtool");
        assert!(
            output.status.success(),
            "promtool could not backfill the data set: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        )
        .unwrap();

        for _ in 0..3 {
            let address = format!("127.0.0.1:{}", free_port());
            match run(dir.path(), &address) {
                Ok(watchdog) => {
                    return PrometheusServer {
                        url: format!("http://{address}"),
                        start,
                        watchdog: Some(watchdog),
                        dir,
                    };
                }
                Err(log_text) => assert!(
                    log_text.contains("address already in use"),
                    "prometheus did not become ready:\n{log_text}"
                ),
            }
        }
        panic!("prometheus found no free port in three tries");
    }

    /// Where the data set starts (sample 0).
    pub fn start_time(&self) -> Timestamp {
        self.start
    }

    /// Where the data set ends (sample 240): an hour after [`start_time`](Self::start_time).
    pub fn end_time(&self) -> Timestamp {
        self.start + SignedDuration::from_hours(1)
    }

    /// The scope of `app` over the data set's hour at 15 s: location `us-east-1`, no extended params.
    pub fn scope(&self, app: &str) -> Scope {
        Scope {
            scope: app.to_string(),
            location: "us-east-1".to_string(),
            extended_params: BTreeMap::new(),
            start: self.start_time(),
            end: self.end_time(),
            step: STEP,
        }
    }

    /// Scope `default`: [`BASELINE`] against [`CANARY`].
    pub fn scopes(&self) -> BTreeMap<String, ScopePair> {
        BTreeMap::from([(
            "default".to_string(),
            ScopePair {
                control: self.scope(BASELINE),
                experiment: self.scope(CANARY),
            },
        )])
    }
}

impl PrometheusServer {
    /// Stops the server, as an outage would; [`restart`](Self::restart) brings it back on the same address
    /// and data.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            stop(&mut watchdog);
        }
    }

    /// Starts the stopped server again on the same address and data, and waits until it is ready.
    pub fn restart(&mut self) {
        self.stop();
        let address = self.url.trim_start_matches("http://");
        let watchdog = run(self.dir.path(), address)
            .unwrap_or_else(|log| panic!("prometheus did not come back on {address}:\n{log}"));
        self.watchdog = Some(watchdog);
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `prometheus` on the configuration and data in `dir`, listening on `address`, under a watchdog shell
/// that kills it when its stdin closes (a drop, or the test process ending); waits until it is ready. On
/// failure, the server's log.
fn run(dir: &Path, address: &str) -> Result<Child, String> {
    let log = dir.join("prometheus.log");
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & server=$!; read -r _; kill "$server"; wait "$server""#)
        .arg("prometheus-watchdog")
        .arg(binary("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address={address}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting prometheus");
    match wait_until_ready(&mut watchdog, address, &log) {
        Ok(()) => Ok(watchdog),
        Err(log_text) => {
            stop(&mut watchdog);
            Err(log_text)
        }
    }
}

/// Waits for the server to answer `/-/ready`; on failure, its log.
fn wait_until_ready(watchdog: &mut Child, address: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if watchdog.try_wait().unwrap().is_some() {
            return Err(std::fs::read_to_string(log).unwrap_or_default());
        }
        if http_status(address, "/-/ready") == Some(200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "not ready after 60 s\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    ))
}

/// Closes the watchdog's stdin, so that it kills the server, and waits for it.
fn stop(watchdog: &mut Child) {
    drop(watchdog.stdin.take());
    let _ = watchdog.wait();
}

/// One server per test binary whose data set's hour runs from 50 minutes ago to 10 minutes from now, for
/// analyses of the window ending now; started on first use.
pub fn recent() -> &'static PrometheusServer {
    static SERVER: OnceLock<PrometheusServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let minute = Timestamp::now().as_second().div_euclid(60) * 60;
        PrometheusServer::start_at(Timestamp::from_second(minute - 50 * 60).unwrap())
    })
}

/// One server per test binary, started on first use.
pub fn shared() -> &'static PrometheusServer {
    static SERVER: OnceLock<PrometheusServer> = OnceLock::new();
    SERVER.get_or_init(PrometheusServer::start)
}

/// The path of `name`, or a failed test saying how to install it.
fn binary(name: &str) -> String {
    match Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => name.to_string(),
        Err(error) => panic!(
            "`{name}` is needed to run the Prometheus tests but cannot be run ({error}): install \
             it with `apt-get install prometheus` (Debian's package ships prometheus and promtool)"
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

/// The status code of `GET path` on `address`, or `None` if nothing answers.
fn http_status(address: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}
