//! `coalmine analyze`: one canary analysis from the command line, for a CI job that gates a deploy without
//! a server. Fetches the config's metrics for the control and the experiment from Prometheus or Datadog
//! (`--prometheus-url`, `--datadog-url`) or any account of a settings file (`--settings FILE --account
//! NAME`), judges them, prints the verdict, and exits 0 (Pass), 3 (Marginal) or 4 (Fail).
//!
//! With `--lifetime` the analysis runs in real time, as the server runs one: judged every `--interval` as
//! time passes (over a growing window, or a sliding one of `--lookback`), failing fast, with its progress
//! on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::progress::Progress;
use super::{Cli, report};
use crate::analysis::schedule::Schedule;
use crate::analysis::{self, AnalysisOutcome, AnalysisRequest, live, verdict};
use crate::kayenta::{CanaryConfig, ScoreThresholds, warnings};
use crate::metrics::{
    DatadogAccount, DatadogSource, MetricSource, PrometheusAccount, PrometheusSource, Scope,
    ScopePair,
};
use crate::{documents, judging};

/// The longest `--step`: a year.
const MAX_STEP_SECONDS: u64 = 366 * 24 * 3600;

/// Exit code of a Marginal verdict.
pub const EXIT_MARGINAL: u8 = 3;
/// Exit code of a Fail verdict.
pub const EXIT_FAIL: u8 = 4;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 Pass, 3 Marginal, 4 Fail, 1 the analysis could not be made, 2 usage error."
)]
pub struct AnalyzeArgs {
    /// The canary config: Kayenta's JSON, or YAML of the same shape
    #[arg(long, value_name = "FILE")]
    config: PathBuf,

    /// Fetch metrics from this Prometheus (or Thanos, Mimir, VictoriaMetrics) URL
    #[arg(
        long,
        value_name = "URL",
        required_unless_present_any = ["datadog_url", "settings"],
        conflicts_with_all = ["datadog_url", "settings"]
    )]
    prometheus_url: Option<String>,

    /// Fetch metrics from this Datadog API URL (keys from DD_API_KEY and DD_APP_KEY)
    #[arg(long, value_name = "URL", conflicts_with = "settings")]
    datadog_url: Option<String>,

    /// Fetch metrics from an account of this settings file (`coalmine serve --config`'s TOML): any store
    /// it configures (Prometheus, Datadog, InfluxDB, Graphite, ...), secrets read from its environment variables
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,

    /// With --settings: the account's name [default: the file's first account]
    #[arg(long, value_name = "NAME", requires = "settings", conflicts_with_all = ["prometheus_url", "datadog_url"])]
    account: Option<String>,

    /// The control's scope, e.g. `checkout-baseline`
    #[arg(long, value_name = "SCOPE")]
    control_scope: String,

    /// The experiment's scope, e.g. `checkout-canary`
    #[arg(long, value_name = "SCOPE")]
    experiment_scope: String,

    /// The control's location (region)
    #[arg(long, value_name = "LOCATION", default_value = "")]
    control_location: String,

    /// The experiment's location (region)
    #[arg(long, value_name = "LOCATION", default_value = "")]
    experiment_location: String,

    /// The scope name the config's metrics use (`scopeName`)
    #[arg(long, value_name = "NAME", default_value = "default")]
    scope_name: String,

    /// An extended scope parameter for both sides (template variable), repeatable
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,

    /// Start of the window (ISO 8601, e.g. 2026-11-22T10:00:00Z); with --lifetime, when the analysis starts
    /// [default: now]
    #[arg(
        long,
        value_name = "TIME",
        required_unless_present_any = ["lookback", "lifetime"],
        conflicts_with = "lookback"
    )]
    start: Option<jiff::Timestamp>,

    /// End of the window (ISO 8601), or `now` [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_end, conflicts_with = "lifetime")]
    end: Option<jiff::Timestamp>,

    /// Instead of --start: the window is this long and ends at --end (e.g. 30m, 1h); with --lifetime, each
    /// interval is judged over this much time before its end (a sliding window) instead of since the start
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lookback: Option<Duration>,

    /// Run in real time for this long (e.g. 30m), judging every --interval as time passes, and fail fast
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lifetime: Option<Duration>,

    /// With --lifetime: judge this often (e.g. 5m) [default: once, at the end]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "lifetime")]
    interval: Option<Duration>,

    /// With --lifetime: pass as soon as the judge says every metric is final and harmless (a judge that
    /// exports the `decision` interface) and the score passes, instead of judging to the end
    #[arg(long, requires = "lifetime")]
    early_pass: bool,

    /// Seconds between data points
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_STEP_SECONDS))]
    step: u64,

    /// Score at or above which the canary passes
    #[arg(long, value_name = "SCORE", default_value_t = 75.0)]
    pass: f64,

    /// Score at or above which the canary is marginal
    #[arg(long, value_name = "SCORE", default_value_t = 50.0)]
    marginal: f64,

    /// The judge [default: the config's judge.name, else mann-whitney]
    #[arg(long, value_name = "NAME")]
    judge: Option<String>,

    /// Also load the judge plugins (*.wasm) in this directory
    #[arg(long, env = "COALMINE_JUDGES_DIR", value_name = "DIR")]
    judges_dir: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,

    /// Fail a metric whose queries return no data (mustHaveData on every metric that does not set it),
    /// instead of Kayenta's Nodata, which passes
    #[arg(long)]
    fail_on_no_data: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A table: one row per metric, then the group scores and the verdict
    Text,
    /// {"judgeResult", "metricSetPairList", "queries", "warnings"}
    Json,
}

pub fn analyze(cli: &Cli, args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut config = read_config(&args.config)?;
    for warning in crate::kayenta::config_warnings::of_config(&config) {
        eprintln!("warning: {}: {warning}", args.config.display());
    }
    if args.fail_on_no_data {
        // The config-level default: every metric that does not set mustHaveData must have data.
        config
            .other
            .insert("mustHaveData".into(), Value::Bool(true));
    }
    let thresholds = ScoreThresholds {
        pass: args.pass,
        marginal: args.marginal,
    };
    thresholds
        .validate("--pass/--marginal")
        .map_err(anyhow::Error::msg)?;
    if let Some(lifetime) = args.lifetime {
        return analyze_live(cli, args, config, thresholds, lifetime);
    }
    let end = args.end.unwrap_or_else(jiff::Timestamp::now);
    let start = match (args.start, args.lookback) {
        (Some(start), _) => start,
        (None, Some(lookback)) => signed("--lookback", lookback)
            .ok()
            .and_then(|lookback| end.checked_sub(lookback).ok())
            .context("--lookback reaches before the year -9999")?,
        (None, None) => bail!("give --start or --lookback"),
    };
    if start >= end {
        bail!("the window is empty: --start {start} is not before --end {end}");
    }
    let request = AnalysisRequest {
        scopes: scopes(args, start, end),
        config,
        thresholds,
    };

    let source = source(args)?;
    let host = cli.judge_host(args.judges_dir.as_deref())?;
    let judge = judging::select_judge(&host, args.judge.as_deref(), &request.config)?;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let outcome = runtime.block_on(analysis::analyze(
        source.as_ref(),
        &judge,
        &request,
        analysis::DEFAULT_CONCURRENCY,
    ))?;
    print_outcome(args, &outcome)?;
    Ok(exit_code(&outcome.judge_result.score.classification))
}

/// `--lifetime`: a real-time analysis, judged interval by interval as time passes.
fn analyze_live(
    cli: &Cli,
    args: &AnalyzeArgs,
    config: CanaryConfig,
    thresholds: ScoreThresholds,
    lifetime: Duration,
) -> anyhow::Result<ExitCode> {
    let schedule = Schedule::new(
        args.start.unwrap_or_else(jiff::Timestamp::now),
        signed("--lifetime", lifetime)?,
        args.interval
            .map(|interval| signed("--interval", interval))
            .transpose()?,
        jiff::SignedDuration::ZERO,
        args.lookback
            .map(|lookback| signed("--lookback", lookback))
            .transpose()?,
        true,
    )
    .map_err(|error| anyhow::anyhow!("--lifetime/--interval/--lookback: {error}"))?;
    let source = source(args)?;
    let host = cli.judge_host(args.judges_dir.as_deref())?;
    let judge = judging::select_judge(&host, args.judge.as_deref(), &config)?;
    if args.early_pass {
        verdict::require_decisions("--early-pass", &judge).map_err(anyhow::Error::msg)?;
    }
    let intervals = schedule.intervals();
    let progress = Progress::new(Some(intervals));
    let mut last_score = None;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let ran = runtime.block_on(live::run(
        source.as_ref(),
        &judge,
        &config,
        crate::analysis::verdict::Rule {
            thresholds,
            early_pass: args.early_pass,
        },
        &schedule,
        |start, end| scopes(args, start, end),
        |event| match event {
            live::Event::Waiting { window, intervals } => {
                progress.waiting(window.index, Some(intervals), window.due, last_score)
            }
            live::Event::Judged {
                window,
                intervals,
                outcome,
                ..
            } => {
                let score = &outcome.judge_result.score;
                last_score = Some(score.score);
                progress.judged(
                    window.index,
                    Some(intervals),
                    score.score,
                    &score.classification,
                );
            }
        },
    ));
    let (verdict, outcome) = match ran {
        Ok(ran) => ran,
        Err(error) => {
            progress.finish(&format!("stopped at interval {}", error.window.index + 1));
            return Err(error.into());
        }
    };
    let given = &outcome.judge_result.score;
    let given = if given.classification == verdict.classification {
        given.classification_reason.as_str()
    } else {
        ""
    };
    let reason = match crate::analysis::verdict::stopped(&outcome.judge_result) {
        Some(stopped) => stopped.to_string(),
        None => report::reason(
            &verdict.classification,
            given,
            verdict.score,
            args.pass,
            args.marginal,
        ),
    };
    progress.finish(&format!(
        "{} (score {}): {reason}",
        verdict.classification,
        crate::display::number(verdict.score),
    ));
    print_outcome(args, &outcome)?;
    if verdict.classification != outcome.judge_result.score.classification {
        println!(
            "Failed fast: the score is at or below the marginal threshold ({}).",
            crate::display::number(args.marginal)
        );
    }
    Ok(exit_code(&verdict.classification))
}

/// `duration` as jiff's, or an error naming `flag` when it is past what jiff represents (about 292 years).
fn signed(flag: &str, duration: Duration) -> anyhow::Result<jiff::SignedDuration> {
    jiff::SignedDuration::try_from(duration)
        .map_err(|_| anyhow::anyhow!("{flag}: {duration:?} is longer than this command represents"))
}

/// The scopes of both sides over `[start, end]`.
fn scopes(
    args: &AnalyzeArgs,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
) -> BTreeMap<String, ScopePair> {
    let scope = |scope: &str, location: &str| Scope {
        scope: scope.to_string(),
        location: location.to_string(),
        extended_params: args.params.iter().cloned().collect(),
        start,
        end,
        step: Duration::from_secs(args.step),
    };
    BTreeMap::from([(
        args.scope_name.clone(),
        ScopePair {
            control: scope(&args.control_scope, &args.control_location),
            experiment: scope(&args.experiment_scope, &args.experiment_location),
        },
    )])
}

fn source(args: &AnalyzeArgs) -> anyhow::Result<Arc<dyn MetricSource>> {
    if let Some(path) = &args.settings {
        let settings = crate::server::settings::Settings::read(path)?;
        let accounts = settings
            .accounts()
            .with_context(|| format!("{}", path.display()))?;
        let (_, source) = accounts.get(args.account.as_deref()).map_err(|error| {
            let names: Vec<&str> = accounts.iter().map(|(name, _)| name).collect();
            anyhow::anyhow!(
                "{}: {error} (its accounts: {})",
                path.display(),
                match names.is_empty() {
                    true => "none".to_string(),
                    false => names.join(", "),
                }
            )
        })?;
        return Ok(source.clone());
    }
    Ok(match (&args.prometheus_url, &args.datadog_url) {
        (Some(url), _) => Arc::new(PrometheusSource::new(PrometheusAccount::new(
            "prometheus",
            url,
        ))?),
        (None, Some(url)) => Arc::new(DatadogSource::new(DatadogAccount::new("datadog", url))?),
        (None, None) => bail!("give --prometheus-url, --datadog-url or --settings"),
    })
}

fn print_outcome(args: &AnalyzeArgs, outcome: &AnalysisOutcome) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Output::Text => {
            write!(
                stdout,
                "{}",
                report::render(&outcome.judge_result, args.pass, args.marginal)
            )?;
            for warning in outcome_warnings(outcome) {
                writeln!(stdout, "Warning: {warning}")?;
            }
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &json_output(outcome))?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

/// 0 for Pass, 3 for Marginal, 4 for Fail.
pub fn exit_code(classification: &str) -> ExitCode {
    match classification {
        "Pass" => ExitCode::SUCCESS,
        "Marginal" => ExitCode::from(EXIT_MARGINAL),
        _ => ExitCode::from(EXIT_FAIL),
    }
}

fn json_output(outcome: &AnalysisOutcome) -> Value {
    json!({
        "judgeResult": outcome.judge_result,
        "metricSetPairList": outcome.pairs,
        "queries": analysis::queries_json(&outcome.queries),
        "warnings": outcome_warnings(outcome),
    })
}

/// What the user should know although the analysis was made: metrics without data.
fn outcome_warnings(outcome: &AnalysisOutcome) -> Vec<String> {
    warnings::no_data(
        &outcome.judge_result,
        &analysis::queries_json(&outcome.queries),
    )
}

/// Reads a canary config, JSON or YAML (by extension, else by content), naming the file and field of any
/// error.
fn read_config(path: &Path) -> anyhow::Result<CanaryConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let yaml = match path.extension().and_then(|ext| ext.to_str()) {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        _ => !text.trim_start().starts_with('{'),
    };
    let parsed = if yaml {
        documents::from_yaml(&text)
    } else {
        documents::from_json(text.as_bytes())
    };
    parsed.map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_end(text: &str) -> Result<jiff::Timestamp, String> {
    if text == "now" {
        return Ok(jiff::Timestamp::now());
    }
    text.parse().map_err(|error| {
        format!("expected an ISO 8601 time such as 2026-11-22T10:00:00Z or `now`: {error}")
    })
}

/// A duration such as `30m`, `1h`, `90s` or ISO 8601 `PT30M`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|error| format!("expected a duration such as 30s, 5m, 1h or PT5M: {error}"))?;
    let duration = jiff::SignedDuration::try_from(span)
        .map_err(|error| format!("{text}: use units of hours or smaller: {error}"))?;
    Duration::try_from(duration).map_err(|_| format!("{text}: a duration must not be negative"))
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn duration_parsing_never_panics(text in prop_oneof![
            any::<String>(),
            "[0-9]{1,25}(ns|us|ms|s|m|h|d|w|y|mo)?",
            "-?P(T)?[0-9]{1,20}[HMSD]",
            "[0-9]{1,12}h [0-9]{1,12}m [0-9.]{1,12}s",
        ]) {
            let _ = parse_duration(&text);
            let _ = text.parse::<jiff::SignedDuration>();
        }

        #[test]
        fn durations_round_trip(seconds in 0u64..=10_000_000_000, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(seconds, nanos);
            let signed = jiff::SignedDuration::try_from(duration).unwrap();
            // jiff's friendly form and ISO 8601, as `--lifetime` and the API's durations read them.
            for text in [format!("{signed:#}"), format!("{signed}")] {
                prop_assert_eq!(parse_duration(&text), Ok(duration), "{}", text);
                prop_assert_eq!(text.parse::<jiff::SignedDuration>().ok(), Some(signed));
            }
            prop_assert_eq!(parse_duration(&format!("{seconds}s")), Ok(Duration::from_secs(seconds)));
        }
    }
}
