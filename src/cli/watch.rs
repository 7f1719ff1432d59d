//! `coalmine watch ID [--server URL]`: follows an analysis running in a server — a progress bar on a terminal,
//! a line per judged interval otherwise — and exits like `coalmine analyze` when it ends: 0 (Pass),
//! 3 (Marginal), 4 (Fail), 1 when it errs or is cancelled.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use super::analyze::exit_code;
use super::progress::Progress;
use crate::analysis::schedule::Schedule;
use crate::analysis::spec::AnalysisSpec;
use crate::display::number;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 Pass, 3 Marginal, 4 Fail, 1 the analysis failed, was cancelled or cannot be read, 2 usage error."
)]
pub struct WatchArgs {
    /// The analysis's id (as `POST /v1/analyses` answered it)
    id: String,

    /// The coalmine server
    #[arg(
        long,
        env = "COALMINE_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:8090"
    )]
    server: String,

    /// The server's API token
    #[arg(
        long,
        env = "COALMINE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// Seconds between two looks at the analysis
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    poll: u64,
}

pub fn watch(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(follow(args))
}

async fn follow(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!(
        "{}/v1/analyses/{}",
        args.server.trim_end_matches('/'),
        args.id
    );
    let mut progress: Option<(Progress, Option<Schedule>)> = None;
    let mut reported = 0usize;
    loop {
        let analysis = fetch(&client, &url, args.token.as_deref()).await?;
        let (progress, schedule) = progress.get_or_insert_with(|| {
            // The schedule tells how many intervals there are and when each is due; a Kayenta-shaped request
            // has none, and then only the judged intervals are shown.
            let schedule = serde_json::from_value::<AnalysisSpec>(analysis["request"].clone())
                .ok()
                .and_then(|spec| spec.schedule().ok());
            (Progress::new(schedule.map(|s| s.intervals())), schedule)
        });
        let total = schedule.map(|s| s.intervals());
        let intervals = analysis["intervals"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut last_score = None;
        for interval in &intervals {
            last_score = interval["score"].as_f64();
        }
        for interval in intervals.iter().skip(reported) {
            let index = interval["index"].as_u64().unwrap_or(reported as u64) as u32;
            progress.judged(
                index,
                total,
                interval["score"].as_f64().unwrap_or(f64::NAN),
                interval["classification"].as_str().unwrap_or("?"),
            );
        }
        reported = reported.max(intervals.len());
        match analysis["status"].as_str().unwrap_or_default() {
            "completed" => {
                let classification = analysis["classification"].as_str().unwrap_or("?");
                let score = analysis["score"].as_f64().unwrap_or(f64::NAN);
                let line = format!(
                    "{classification} (score {}): {}",
                    number(score),
                    verdict_reason(&analysis, classification, score)
                );
                progress.finish(&line);
                println!("{line}");
                return Ok(exit_code(classification));
            }
            "error" => {
                progress.stop();
                bail!(
                    "analysis {} failed: {}",
                    args.id,
                    analysis["error"].as_str().unwrap_or("no reason given")
                );
            }
            "cancelled" => {
                progress.stop();
                bail!("analysis {} was cancelled", args.id);
            }
            _ => {
                let next = analysis["nextInterval"].as_u64().unwrap_or(reported as u64) as u32;
                if let Some(schedule) = schedule
                    && next < schedule.intervals()
                {
                    progress.waiting(next, total, schedule.window(next).due, last_score);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(args.poll)).await;
    }
}

/// The analysis as the server gives it, or an error with the server's message.
async fn fetch(client: &reqwest::Client, url: &str, token: Option<&str>) -> anyhow::Result<Value> {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer with JSON (HTTP {status})"))?;
    if !status.is_success() {
        bail!(
            "{url}: HTTP {}: {}",
            status.as_u16(),
            body["message"].as_str().unwrap_or("no message")
        );
    }
    Ok(body)
}

/// Why a completed analysis's verdict is what it is: why it stopped early when the judge's decision ended it
/// (`stopped early at interval 4 of 12: every metric is final and harmless`), else its last interval's reason
/// when the judge gave one for that classification, else the score against the request's thresholds (75/50
/// by default).
fn verdict_reason(analysis: &serde_json::Value, classification: &str, score: f64) -> String {
    let last = analysis["intervals"]
        .as_array()
        .and_then(|intervals| intervals.last());
    if let Some(stopped) =
        last.and_then(|interval| interval["judgeResult"]["decision"]["stopped"].as_str())
    {
        return stopped.to_string();
    }
    let judged = last.map(|interval| &interval["judgeResult"]["score"]);
    let given = judged
        .filter(|judged| judged["classification"] == classification)
        .and_then(|judged| judged["classificationReason"].as_str())
        .unwrap_or_default();
    let thresholds = &analysis["request"]["thresholds"];
    super::report::reason(
        classification,
        given,
        score,
        thresholds["pass"].as_f64().unwrap_or(75.0),
        thresholds["marginal"].as_f64().unwrap_or(50.0),
    )
}
