//! The command line: argument parsing, logging setup, and turning every failure into one line on stderr and
//! a non-zero exit code.

mod analyze;
mod judge;
mod plugin;
mod plugin_sdk;
mod progress;
mod report;
mod serve;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::judge_host::{JudgeHost, Limits};

/// coalmine: a canary judge. Compares a canary's metrics with its baseline's and answers Pass, Marginal or
/// Fail, the way Kayenta does, with judges that run as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "coalmine", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Where compiled judges are cached [default: $XDG_CACHE_HOME/coalmine or ~/.cache/coalmine; for `serve`,
    /// <data-dir>/cache]
    #[arg(long, global = true, env = "COALMINE_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// The settings file (TOML, as for `serve --config`); analyze, judge and judges use its [judges] aliases
    #[arg(long, global = true, env = "COALMINE_SETTINGS", value_name = "FILE")]
    settings: Option<PathBuf>,

    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Log filter, e.g. `info` or `coalmine=debug` [default: info for serve, warn otherwise]
    #[arg(long, global = true, env = "COALMINE_LOG", value_name = "FILTER")]
    log: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge a Kayenta RemoteJudge request ({canaryConfig, metricSetPairList, scoreThresholds}) and print
    /// Kayenta's CanaryJudgeResult as JSON
    Judge(judge::JudgeArgs),
    /// List the available judges
    Judges(judge::JudgesArgs),
    /// Fetch a canary's metrics (Prometheus, Datadog, or any account of a settings file), judge them, and
    /// exit 0 (Pass), 3 (Marginal) or 4 (Fail)
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Run the analysis server
    Serve(serve::ServeArgs),
    /// Write and check judge plugins: scaffold a judge crate, test a plugin, inspect a component
    Plugin(plugin::PluginArgs),
    /// Follow an analysis running in a server until it ends, and exit 0 (Pass), 3 (Marginal) or 4 (Fail)
    Watch(watch::WatchArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server reports what it does; a one-shot command speaks only when something is wrong.
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log_format, cli.log.as_deref().unwrap_or(default_filter));
    let result = match &cli.command {
        Command::Judge(args) => judge::judge(&cli, args),
        Command::Judges(args) => judge::judges(&cli, args),
        Command::Analyze(args) => analyze::analyze(&cli, args),
        Command::Serve(args) => serve::serve(&cli, args),
        Command::Plugin(args) => plugin::plugin(&cli, args),
        Command::Watch(args) => watch::watch(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    /// A judge host with the built-in judges and those of `judges_dir`.
    fn judge_host(&self, judges_dir: Option<&std::path::Path>) -> anyhow::Result<JudgeHost> {
        let mut host = JudgeHost::with_built_in(Limits::default(), self.cache_dir())?;
        if let Some(dir) = judges_dir {
            let (_, failed) = host.load_dir(dir)?;
            if !failed.is_empty() {
                let errors: Vec<String> = failed.iter().map(ToString::to_string).collect();
                anyhow::bail!("{}", errors.join("; "));
            }
        }
        if let Some(path) = &self.settings {
            let settings = crate::server::settings::Settings::read(path)?;
            for (alias, target) in &settings.judges.aliases {
                host.add_alias(alias, target)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
            }
        }
        Ok(host)
    }

    fn cache_dir(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .map(|dir| dir.join("coalmine"))
        })
    }
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("warning: ignoring the log filter {filter:?}: {error}");
        tracing_subscriber::EnvFilter::new("warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Error chains can span lines; the command line reports each error on one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
