//! `coalmine plugin new|test|inspect`: the judge plugin author's kit.
//!
//! - `new` scaffolds a judge crate on the SDK: the checkout's inside a coalmine checkout, `--sdk PATH` when
//!   given, else the copy this binary carries, written into the crate ([`super::plugin_sdk`]);
//! - `test` runs a plugin on a Kayenta request under the server's limits and reports its judgement, logs, wall
//!   time and peak memory, comparing with an expected judgement when given;
//! - `inspect` tells what a `.wasm` file is and whether this coalmine can load it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Cli;
use crate::judge_host::{JudgeHost, Limits, LogLevel, Origin, PluginError, WIT_VERSION};
use crate::judging::{self, SelectedJudge};
use crate::kayenta::RemoteJudgeRequest;

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a judge crate (Rust, on coalmine's SDK) with a working judge, a fixture and a README
    New(NewArgs),
    /// Run a plugin on a request under the server's limits: judgement on stdout; logs, time and memory on
    /// stderr. Exits 1 when the plugin fails or its judgement differs from --expect
    Test(TestArgs),
    /// Show a plugin's name, version, WIT package version, imports and size, and whether it loads
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
struct NewArgs {
    /// The judge's name: letters, digits and '-' (also the crate's name)
    name: String,
    /// Directory to create [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Depend on the judge SDK at this path (a `coalmine-judge-sdk` crate) [default: the coalmine checkout's
    /// `judges/sdk` when inside one, else a copy of the SDK written into the crate's `vendor/`]
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The plugin component
    plugin: PathBuf,
    /// A Kayenta RemoteJudge request ({canaryConfig, metricSetPairList, scoreThresholds}), as for `coalmine judge`
    #[arg(long, short, value_name = "FIXTURE.json")]
    input: PathBuf,
    /// The judgement (CanaryJudgeResult) the plugin must return; numbers may differ by 1e-9 relatively
    #[arg(long, value_name = "EXPECTED.json")]
    expect: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// The plugin component
    plugin: PathBuf,
}

pub fn plugin(cli: &Cli, args: &PluginArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PluginCommand::New(args) => new(args),
        PluginCommand::Test(args) => test(cli, args),
        PluginCommand::Inspect(args) => inspect(cli, args),
    }
}

const CARGO_TOML: &str = include_str!("plugin_template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("plugin_template/lib.rs.tmpl");
const FIXTURE: &str = include_str!("plugin_template/fixture.json");
const README: &str = include_str!("plugin_template/README.md.tmpl");
const CARGO_CONFIG: &str = include_str!("plugin_template/cargo_config.toml");

fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "the judge name {name:?} must start with a lowercase letter and use only lowercase letters, digits \
             and '-' (at most 64)"
        );
    }
    // Checked before anything is created, so that a mistake leaves nothing behind.
    let given_sdk = args.sdk.as_deref().map(given_sdk).transpose()?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && dir
            .read_dir()
            .map_or(true, |mut entries| entries.next().is_some())
    {
        bail!("{} already exists and is not empty", dir.display());
    }
    std::fs::create_dir_all(dir.join("src"))
        .and_then(|()| std::fs::create_dir_all(dir.join("fixtures")))
        .and_then(|()| std::fs::create_dir_all(dir.join(".cargo")))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let sdk_path = match given_sdk.or_else(|| checkout_sdk(&dir)) {
        Some(sdk) => relative_path(&dir, &sdk).display().to_string(),
        None => {
            super::plugin_sdk::write(&dir.join(super::plugin_sdk::VENDORED_PATH))?;
            super::plugin_sdk::VENDORED_PATH.to_string()
        }
    };
    let sdk_dependency = format!("coalmine-judge-sdk = {{ path = {sdk_path:?} }}");
    let crate_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk_dependency}}", &sdk_dependency)
    };
    for (file, template) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB_RS),
        ("fixtures/input.json", FIXTURE),
        ("README.md", README),
        (".cargo/config.toml", CARGO_CONFIG),
        (".gitignore", "/target\n"),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, fill(template))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let shown = args.path.clone().unwrap_or_else(|| PathBuf::from(name));
    println!("created the judge {name} in {}", shown.display());
    println!("  cd {}", shown.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!(
        "  coalmine plugin test target/wasm32-wasip2/release/{crate_name}.wasm --input fixtures/input.json"
    );
    Ok(ExitCode::SUCCESS)
}

/// The SDK of the coalmine checkout `dir` is in, if it is in one.
fn checkout_sdk(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find_map(|ancestor| {
        let manifest = ancestor.join("judges/sdk/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).ok()?;
        text.contains("name = \"coalmine-judge-sdk\"")
            .then(|| ancestor.join("judges/sdk"))
    })
}

/// The SDK crate at `path` (`--sdk`), made absolute; an error unless it is one.
fn given_sdk(path: &Path) -> anyhow::Result<PathBuf> {
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "--sdk {}: cannot read {}",
            path.display(),
            manifest.display()
        )
    })?;
    if !text.contains("name = \"coalmine-judge-sdk\"") {
        bail!(
            "--sdk {}: {} is not the coalmine-judge-sdk crate",
            path.display(),
            manifest.display()
        );
    }
    path.canonicalize()
        .with_context(|| format!("--sdk {}: cannot resolve the path", path.display()))
}

/// `to` relative to `from` (both absolute, `to` under an ancestor of `from`).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let common = from
        .ancestors()
        .find(|ancestor| to.starts_with(ancestor))
        .unwrap_or(Path::new("/"));
    let ups = from.components().count() - common.components().count();
    let mut path: PathBuf = std::iter::repeat_n("..", ups).collect();
    path.push(to.strip_prefix(common).unwrap_or(to));
    path
}

fn test(cli: &Cli, args: &TestArgs) -> anyhow::Result<ExitCode> {
    let request: RemoteJudgeRequest = read_json_document(&args.input)?;
    let expected: Option<Value> = args.expect.as_deref().map(read_json_document).transpose()?;
    // The server's host: the same engine, linker and limits.
    let host = JudgeHost::new(Limits::default(), cli.cache_dir());
    let judge = Arc::new(host.load_file(&args.plugin)?);
    let info = judge.info();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "judge {} {} ({}, sha256 {})",
        info.name,
        info.version,
        args.plugin.display(),
        &judge.sha256()[..12]
    )?;
    let wit_request = judging::build_request(
        &request.canary_config,
        &request.metric_set_pair_list,
        request.score_thresholds,
    )
    .map_err(|message| anyhow::anyhow!("{}: {message}", args.input.display()))?;
    let (judgement, report) = judge.judge_with_report(&wit_request);
    for line in &report.logs {
        writeln!(err, "log {}: {}", level(line.level), line.message)?;
    }
    if report.dropped_log_lines > 0 {
        writeln!(
            err,
            "log: {} more lines dropped (limit {} per call)",
            report.dropped_log_lines,
            judge.limits().max_log_lines
        )?;
    }
    let limits = judge.limits();
    writeln!(
        err,
        "wall time {:.1} ms of {} ms allowed; peak memory {:.1} MiB of {} MiB allowed",
        report.elapsed.as_secs_f64() * 1000.0,
        limits.deadline.as_millis(),
        report.peak_memory as f64 / f64::from(1 << 20),
        limits.max_memory >> 20
    )?;
    let judgement = match judgement {
        Ok(judgement) => judgement,
        Err(error) => {
            writeln!(err, "FAILED ({}): {error}", error.kind())?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let selected = SelectedJudge {
        name: info.name.clone(),
        judge: judge.clone(),
    };
    let result = judging::canary_judge_result(
        &selected.name,
        &wit_request,
        &request.metric_set_pair_list,
        &judgement,
    );
    let result = serde_json::to_value(&result)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &result)?;
    writeln!(stdout)?;
    writeln!(
        err,
        "judgement: {} (score {})",
        judging::score_classification(judgement.classification),
        judgement.score
    )?;
    let Some(expected) = expected else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut differences = Vec::new();
    diff("", &expected, &result, &mut differences);
    if differences.is_empty() {
        writeln!(
            err,
            "matches {}",
            args.expect.as_deref().unwrap_or(Path::new("")).display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        err,
        "DIFFERS from {} in {} places:",
        args.expect.as_deref().unwrap_or(Path::new("")).display(),
        differences.len()
    )?;
    for difference in differences.iter().take(50) {
        writeln!(err, "  {difference}")?;
    }
    Ok(ExitCode::FAILURE)
}

fn level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "TRACE",
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
    }
}

fn read_json_document<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    crate::documents::from_json(&text)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// The differences between `expected` and `actual`, each as `path: expected X, got Y`.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let at = |path: &str| {
        if path.is_empty() {
            "the judgement".to_string()
        } else {
            path.to_string()
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let child = format!("{path}.{key}");
                match a.get(key) {
                    Some(actual) => diff(&child, value, actual, out),
                    None => out.push(format!("{}: expected {value}, missing", at(&child))),
                }
            }
            for (key, value) in a {
                if !e.contains_key(key) {
                    out.push(format!(
                        "{}: not expected, got {value}",
                        at(&format!("{path}.{key}"))
                    ));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (index, (e, a)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{index}]"), e, a, out);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (
                e.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            if (e - a).abs() > 1e-9 * e.abs().max(a.abs()) {
                out.push(format!("{}: expected {e}, got {a}", at(path)));
            }
        }
        (e, a) if e != a => out.push(format!("{}: expected {e}, got {a}", at(path))),
        _ => {}
    }
}

fn inspect(cli: &Cli, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let host = JudgeHost::new(Limits::default(), cli.cache_dir());
    let inspection = host.inspect(&bytes, Origin::File(args.plugin.clone()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "file:        {}", args.plugin.display())?;
    writeln!(
        out,
        "size:        {} bytes ({:.1} KiB)",
        inspection.size,
        inspection.size as f64 / 1024.0
    )?;
    writeln!(out, "sha256:      {}", inspection.sha256)?;
    if let Ok(judge) = &inspection.judge {
        let info = judge.info();
        writeln!(out, "name:        {}", info.name)?;
        writeln!(out, "version:     {}", info.version)?;
        writeln!(out, "description: {}", info.description)?;
    }
    writeln!(
        out,
        "wit:         {} (this coalmine speaks coalmine:judge@{WIT_VERSION})",
        inspection
            .wit_version
            .as_deref()
            .map_or("no coalmine:judge/judge export".to_string(), |v| format!(
                "coalmine:judge@{v}"
            ))
    )?;
    writeln!(out, "imports:")?;
    for import in &inspection.imports {
        writeln!(out, "  {import}")?;
    }
    match &inspection.judge {
        Ok(judge) => {
            writeln!(
                out,
                "decides:     {}",
                if judge.decides() {
                    "yes (exports the decision interface: earlyPass can end an analysis early)"
                } else {
                    "no (no decision interface: earlyPass cannot be used with it)"
                }
            )?;
            writeln!(out, "loads:       yes")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            writeln!(out, "loads:       no ({}): {}", error.kind(), reason(error))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn reason(error: &PluginError) -> String {
    super::one_line(&error.to_string())
}
