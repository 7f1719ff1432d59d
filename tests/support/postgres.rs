//! A real, throwaway PostgreSQL cluster (Debian's `postgresql` package) for tests.
//!
//! [`PostgresServer::start`] runs `initdb` in a temporary directory and `pg_ctl start` on a free port of
//! 127.0.0.1, with its socket directory inside the temporary directory and `trust` authentication for the
//! superuser `postgres`. PostgreSQL refuses to run as root, and CI runs as root: then the directory is given to
//! the `postgres` user and the tools run through `runuser -u postgres --`. A small shell watchdog stops the
//! server (`pg_ctl stop -m immediate`) and removes the directory when its stdin pipe closes: when the value
//! is dropped, or when the test process ends, however it ends. [`shared`] is one cluster per test binary;
//! [`fresh_database`] makes a new, empty database in it for each test, so tests do not see each other.
//!
//! Missing binaries fail the test with what to install; they never skip it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The superuser of the cluster, with `trust` authentication on loopback.
pub const USER: &str = "postgres";

/// A running PostgreSQL cluster.
pub struct PostgresServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    /// Whether the tools must run as the `postgres` user (we are root).
    as_postgres: bool,
    watchdog: Child,
}

impl PostgresServer {
    /// Creates a cluster in a new temporary directory and starts it on a free port. Fails the test if the
    /// PostgreSQL binaries are missing.
    pub fn start() -> PostgresServer {
        let bin = binaries();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("coalmine-postgres-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        std::fs::create_dir(dir.join("socket")).unwrap();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("running chown");
            assert!(
                status.success(),
                "cannot give {} to the postgres user",
                dir.display()
            );
        }
        // Started before anything that could fail, so that the directory goes whatever happens.
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(
                r#"trap '' INT TERM HUP; read -r _; "$@" stop -m immediate -D "$DATA" >/dev/null 2>&1; rm -rf "$DIR""#,
            )
            .arg("postgres-watchdog")
            .args(as_postgres.then_some("runuser"))
            .args(runner(as_postgres))
            .arg(bin.join("pg_ctl"))
            .env("DATA", dir.join("data"))
            .env("DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the postgres watchdog");
        let mut server = PostgresServer {
            port: 0,
            bin,
            dir,
            as_postgres,
            watchdog,
        };
        let output = server
            .tool("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "--username",
                USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("running initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for _ in 0..3 {
            server.port = free_port();
            match server.run() {
                Ok(()) => return server,
                Err(log) => assert!(
                    log.contains("could not bind") || log.contains("already in use"),
                    "postgres did not start:\n{log}"
                ),
            }
        }
        panic!("postgres found no free port in three tries");
    }

    /// The URL of database `database` as the superuser, without a password.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `statements` in `database` with `psql` (stopping at the first error, which fails the test) and
    /// returns what they print, unaligned, one row a line, fields separated by `|`.
    pub fn sql(&self, database: &str, statements: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", database, "-c", statements])
            .output()
            .expect("running psql");
        assert!(
            output.status.success(),
            "psql failed on `{statements}`: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The name of the database of `url` (one of [`url`](Self::url) or [`fresh_database`](Self::fresh_database)).
    pub fn database_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    /// Stops the server (`pg_ctl stop -m fast`), as an outage would; [`restart`](Self::restart) brings it
    /// back on the same port with the same data.
    pub fn stop(&self) {
        let output = self
            .tool("pg_ctl")
            .arg("stop")
            .args(["-m", "fast", "-w", "-D"])
            .arg(self.data())
            .output()
            .expect("running pg_ctl stop");
        assert!(
            output.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the stopped server again on the same port and data, and waits until it accepts connections.
    pub fn restart(&self) {
        self.run().unwrap_or_else(|log| {
            panic!("postgres did not come back on port {}:\n{log}", self.port)
        });
    }

    /// Starts the server on [`port`](Self::port) and waits until it accepts connections; on failure, its log.
    fn run(&self) -> Result<(), String> {
        let log = self.dir.join("postgres.log");
        let output = self
            .tool("pg_ctl")
            .arg("start")
            .args(["-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
                self.port,
                self.dir.join("socket").display()
            ))
            .output()
            .expect("running pg_ctl start");
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command running PostgreSQL tool `name`, as the `postgres` user when we are root.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(runner(true)).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.current_dir(&self.dir);
        command
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // The watchdog stops the server and removes the directory.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// One cluster per test binary, started on first use, stopped when the test process ends.
pub fn shared() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(PostgresServer::start)
}

/// A new, empty database in the [`shared`] cluster: its URL.
pub fn fresh_database() -> String {
    shared().fresh_database()
}

/// The arguments that run a program as the `postgres` user through `runuser`, when needed.
fn runner(as_postgres: bool) -> Vec<&'static str> {
    if as_postgres {
        vec!["-u", "postgres", "--"]
    } else {
        vec![]
    }
}

/// The directory of the PostgreSQL server binaries, or a failed test saying what to install.
fn binaries() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    candidates.sort_by_key(|dir| {
        // The newest version first: the directories are named by major version.
        let version = dir
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok());
        std::cmp::Reverse(version)
    });
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| ["initdb", "pg_ctl", "postgres", "psql"].iter().all(|name| dir.join(name).is_file()))
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) are needed to run the \
                 PostgreSQL tests but were found neither in /usr/lib/postgresql/*/bin nor on PATH: install \
                 them with `apt-get install postgresql`"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
