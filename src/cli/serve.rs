//! `coalmine serve`: the analysis server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::Cli;
use crate::analysis::leases::{DEFAULT_LEASE_PERIOD, Leases, check_period, replica_id};
use crate::analysis::scheduler::Scheduler;
use crate::judge_host::watch::JudgesDir;
use crate::judge_host::{JudgeHost, Limits};
use crate::metrics::{DatadogAccount, DatadogSource, PrometheusAccount, PrometheusSource};
use crate::server::settings::Settings;
use crate::server::{self, AppState};
use crate::store::{SqliteStore, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML): listen address, data directory, metrics accounts, API tokens, limits
    #[arg(long, env = "COALMINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8090, Kayenta's port]
    #[arg(long, env = "COALMINE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Where the server keeps its data, created if missing [default: ./coalmine-data]
    #[arg(long, env = "COALMINE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Also load the judge plugins (*.wasm) in this directory
    #[arg(long, env = "COALMINE_JUDGES_DIR", value_name = "DIR")]
    judges_dir: Option<PathBuf>,

    /// How often to look for new, changed or removed plugins in the judges directory (e.g. `2s`, `500ms`)
    #[arg(long, env = "COALMINE_JUDGES_POLL_INTERVAL", value_name = "DURATION", default_value = "2s", value_parser = super::analyze::parse_duration)]
    judges_poll_interval: std::time::Duration,

    /// Add a metrics account named `prometheus` for this Prometheus (or Thanos, Mimir, VictoriaMetrics) URL
    #[arg(long, env = "COALMINE_PROMETHEUS_URL", value_name = "URL")]
    prometheus_url: Option<String>,

    /// Add a metrics account named `datadog` for this Datadog API URL (keys from DD_API_KEY and DD_APP_KEY)
    #[arg(long, env = "COALMINE_DATADOG_URL", value_name = "URL")]
    datadog_url: Option<String>,

    /// Keep records in this PostgreSQL database (postgres://user@host:5432/db), which several replicas can
    /// share, instead of SQLite in the data directory; the password is best given by [store] password_env
    #[arg(long, env = "COALMINE_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,

    /// How long this replica's lease on an analysis lasts: another replica takes over the analyses of one
    /// that died within about this long [default: 15s]
    #[arg(long, env = "COALMINE_LEASE_PERIOD", value_name = "DURATION", value_parser = super::analyze::parse_duration)]
    lease_period: Option<std::time::Duration>,
}

/// The judges directory is not polled more often than this, whatever the option says.
const MIN_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

pub fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = match args.config.as_ref().or(cli.settings.as_ref()) {
        Some(path) => Settings::read(path)?,
        None => Settings::default(),
    };
    // Command-line options win over the file.
    let listen = args
        .listen
        .or(settings.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8090)));
    let data_dir = args
        .data_dir
        .clone()
        .or(settings.data_dir.clone())
        .unwrap_or_else(|| "./coalmine-data".into());
    let lease_period = match args.lease_period {
        Some(period) => check_period("--lease-period", period),
        None => settings
            .store
            .lease_period
            .map(|period| check_period("[store] lease_period", period.unsigned_abs()))
            .unwrap_or(Ok(DEFAULT_LEASE_PERIOD)),
    }
    .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("cache"));
    let host = JudgeHost::with_built_in(Limits::default(), Some(cache_dir))?;
    // A broken plugin must not keep the server down: it is refused (and logged), and the others serve.
    let judges_dir = match args.judges_dir.as_ref().or(settings.judges_dir.as_ref()) {
        Some(dir) => Some(JudgesDir::load(&host, dir)?),
        None => None,
    };
    let mut host = host;
    for (alias, target) in &settings.judges.aliases {
        host.add_alias(alias, target).map_err(anyhow::Error::msg)?;
    }
    // Several replicas share a PostgreSQL database; one server at a time holds an SQLite data directory (a
    // second one refuses to start, naming the first).
    let store: Arc<dyn Store> = match settings.store.postgres(args.database_url.as_deref())? {
        Some(postgres) => Arc::new(postgres),
        None => Arc::new(SqliteStore::open_exclusive(&data_dir)?),
    };
    let mut accounts = settings.accounts()?;
    if let Some(url) = &args.prometheus_url {
        accounts.add(
            "prometheus",
            Arc::new(PrometheusSource::new(PrometheusAccount {
                max_points: settings.limits.max_points,
                ..PrometheusAccount::new("prometheus", url)
            })?),
        );
    }
    if let Some(url) = &args.datadog_url {
        accounts.add(
            "datadog",
            Arc::new(DatadogSource::new(DatadogAccount {
                max_points: settings.limits.max_points,
                ..DatadogAccount::new("datadog", url)
            })?),
        );
    }
    let (host, accounts) = (Arc::new(host), Arc::new(accounts));
    let judge_names: Vec<String> = host
        .judges()
        .map(|judge| judge.name().to_string())
        .collect();
    crate::telemetry::prime(
        judge_names.iter().map(String::as_str),
        accounts.iter().map(|(_, kind)| kind),
    );
    if let Some(judges_dir) = judges_dir {
        judges_dir
            .watch(
                host.clone(),
                args.judges_poll_interval.max(MIN_POLL_INTERVAL),
            )
            .context("cannot start watching the judges directory")?;
    }
    let scheduler = Scheduler::with_leases(
        store.clone(),
        host.clone(),
        accounts.clone(),
        settings.limits.max_running_analyses,
        settings.limits.bounds(),
        Leases::new(replica_id(), lease_period),
    );
    tracing::info!(replica = scheduler.replica(), lease_period = ?lease_period, "replica");
    let state = Arc::new(AppState {
        host,
        store,
        accounts,
        scheduler,
        auth: settings.auth()?,
        limits: settings.limits,
    });

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        // Every analysis a crash or a restart interrupted picks up where it was (this replica's share of
        // them, with other replicas); one that cannot be read is failed with the reason, and the server
        // comes up.
        let resumed =
            state.scheduler.start_leasing().await.map_err(|error| {
                anyhow::anyhow!("cannot claim analyses from the store: {error}")
            })?;
        if resumed > 0 {
            tracing::info!("resumed {resumed} unfinished analyses");
        }
        if let Some(retention) = settings.retention.finished_analyses {
            // The first sweep before listening, so that nothing past retention is ever served.
            sweep(state.store.as_ref(), retention);
            let store = state.store.clone();
            let every = (retention / 10).clamp(
                jiff::SignedDuration::from_secs(1),
                jiff::SignedDuration::from_hours(1),
            );
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every.unsigned_abs());
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let store = store.clone();
                    let _ =
                        tokio::task::spawn_blocking(move || sweep(store.as_ref(), retention)).await;
                }
            });
        }
        // Handlers are installed before the server says it is listening: a SIGTERM from then on is graceful.
        let shutdown = shutdown_signal()?;
        eprintln!("coalmine listening on http://{address}");
        tracing::info!(%address, "listening");
        server::serve(listener, state.clone(), shutdown).await?;
        // Other replicas take this one's analyses over at once.
        state.scheduler.shutdown().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Deletes the analyses that finished longer than `retention` ago, and logs how many (or why it could not).
fn sweep(store: &dyn crate::store::Store, retention: jiff::SignedDuration) {
    let Ok(before) = jiff::Timestamp::now().checked_sub(retention) else {
        return; // a retention reaching before the earliest time keeps everything
    };
    match store.delete_finished_analyses_before(before) {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(
            deleted,
            "deleted the analyses that finished before {before}"
        ),
        Err(error) => tracing::warn!("cannot delete the analyses past retention: {error}"),
    }
}

/// Installs the signal handlers now and returns a future that resolves on SIGINT (Ctrl-C) or SIGTERM
/// (Kubernetes stopping the pod).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing the requests in flight");
    })
}
