//! `coalmine judge` and `coalmine judges`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::judge_host::{JudgeHost, Limits, Origin};
use crate::judging::{self, SelectedJudge};
use crate::kayenta::RemoteJudgeRequest;

#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// The request: a JSON file, or `-` for stdin
    #[arg(long, short, value_name = "FILE|-")]
    input: PathBuf,

    /// The judge to use, by name [default: canaryConfig.judge.name, else mann-whitney]
    #[arg(long, value_name = "NAME", conflicts_with = "plugin")]
    judge: Option<String>,

    /// Use the judge plugin in this file instead of a named judge
    #[arg(long, value_name = "PATH.wasm", conflicts_with = "judges_dir")]
    plugin: Option<PathBuf>,

    /// Also load the judge plugins (*.wasm) in this directory
    #[arg(long, env = "COALMINE_JUDGES_DIR", value_name = "DIR")]
    judges_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JudgesArgs {
    /// Also load the judge plugins (*.wasm) in this directory
    #[arg(long, env = "COALMINE_JUDGES_DIR", value_name = "DIR")]
    judges_dir: Option<PathBuf>,
}

pub fn judge(cli: &Cli, args: &JudgeArgs) -> anyhow::Result<ExitCode> {
    let request = read_request(&args.input)?;
    for warning in crate::kayenta::config_warnings::of_config(&request.canary_config) {
        eprintln!("warning: {}: canaryConfig.{warning}", args.input.display());
    }
    let result = match &args.plugin {
        Some(path) => {
            let judge =
                Arc::new(JudgeHost::new(Limits::default(), cli.cache_dir()).load_file(path)?);
            let selected = SelectedJudge {
                name: judge.name().to_string(),
                judge,
            };
            judging::judge_remote(&selected, &request)?
        }
        None => {
            let host = cli.judge_host(args.judges_dir.as_deref())?;
            let selected =
                judging::select_judge(&host, args.judge.as_deref(), &request.canary_config)?;
            judging::judge_remote(&selected, &request)?
        }
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &result)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}

pub fn judges(cli: &Cli, args: &JudgesArgs) -> anyhow::Result<ExitCode> {
    let host = cli.judge_host(args.judges_dir.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    for judge in host.judges() {
        let info = judge.info();
        let aliases: Vec<&str> = host.aliases_of(judge.name()).collect();
        let origin = match judge.origin() {
            Origin::BuiltIn(_) => "built-in".to_string(),
            Origin::File(path) => path.display().to_string(),
        };
        writeln!(
            stdout,
            "{} {} ({origin}, sha256 {})",
            info.name,
            info.version,
            &judge.sha256()[..12]
        )?;
        if !aliases.is_empty() {
            writeln!(stdout, "    also known as: {}", aliases.join(", "))?;
        }
        writeln!(stdout, "    {}", info.description)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and parses the request, naming the file and the field of any error.
fn read_request(input: &Path) -> anyhow::Result<RemoteJudgeRequest> {
    let (name, text) = if input == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the request from stdin")?;
        ("stdin".to_string(), text)
    } else {
        let text = std::fs::read_to_string(input)
            .with_context(|| format!("cannot read {}", input.display()))?;
        (input.display().to_string(), text)
    };
    crate::documents::from_json(text.as_bytes()).map_err(|error| anyhow::anyhow!("{name}: {error}"))
}
