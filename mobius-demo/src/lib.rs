//! mobius-demo: the small HTTP service MOBIUS deploys in its README and its tests.
//!
//! Its behaviour follows `config/<env>/app.json`, re-read whenever the file changes (also
//! when the whole `config/<env>/` directory is swapped by a rename, as a rollback does), so a
//! bad deploy makes it unhealthy and restoring the old config heals it without a restart.
//!
//! On start it writes one JSON line to stdout and nothing else there:
//!
//! ```text
//! {"type":"listening","addr":"127.0.0.1:8080","url":"http://127.0.0.1:8080","env":"staging","pid":4242}
//! ```
//!
//! Routes: `GET /health`, `GET /metrics`, `GET /metrics/prometheus`, `GET /api/version`,
//! `GET /api/items` (HEAD too).

pub mod config;
pub mod http;
pub mod stats;

use clap::Parser;
use config::{AppConfig, ConfigError, Watched};
use mobius_core::cli::{CommonArgs, EnvArg, Reporter};
use mobius_core::{signal, Exit, ToolError};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const CONFIG_HELP: &str = "\
Configuration (config/<env>/app.json, re-read within 100 ms of a change):
  version              reported by /health, /metrics and /api/version
  health_url           (read by mobius-probe, not by the demo)
  metrics_url          (read by mobius-probe, not by the demo)
  demo.latency_ms      delay added to every /health and /api request (default 0)
  demo.error_share     share 0..1 of /health and /api requests answered 500, spread evenly
                       and exactly: request n fails when floor(n*share) > floor((n-1)*share),
                       counting from the last config change (default 0)
  demo.healthy         false: /health answers 503 (default true)
A config that is missing or does not parse at start is an error (exit 4 / 3); later the last
good config stays in force and the problem is logged on stderr until it is fixed.

Metrics (GET /metrics): requests, errors (5xx) since start; window_requests, window_errors,
error_rate and p95_ms (linear interpolation) over the requests of the last 60 s, /metrics itself
not counted; version, env, healthy, uptime_s.
GET /metrics/prometheus, the same requests since start in the Prometheus text format: counter
mobius_demo_http_requests_total{code} and histogram mobius_demo_http_request_duration_seconds
(buckets 5 ms .. 10 s, _sum, _count); neither metrics path is counted.";

/// Serve the demo service for an environment.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-demo",
    version = mobius_core::VERSION,
    about = "A small HTTP service whose health, latency and error share follow config/<env>/app.json",
    after_help = format!("{CONFIG_HELP}\n\n{}", mobius_core::exit::EXIT_CODE_HELP)
)]
pub struct Args {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on; port 0 picks a free port (printed in the `listening` line)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Connections served at once; more are closed at once
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source} (is another service on that port? try --listen 127.0.0.1:0)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the listening line to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("cannot install the SIGTERM/SIGINT handler")]
    Signal(#[source] std::io::Error),
    #[error("cannot start a thread")]
    Thread(#[source] std::io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Config(e) => e.exit(),
            _ => Exit::Runtime,
        }
    }
}

/// Everything the connection threads share.
pub struct Service {
    pub env: String,
    pub config: Watched,
    pub stats: stats::Stats,
    pub share: http::ShareCounter,
    pub reporter: Reporter,
    pub started: std::time::Instant,
}

/// Loads the config, listens, prints the `listening` line and serves until SIGTERM/SIGINT.
pub fn run(args: Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter("mobius-demo");
    signal::install_stop_handler().map_err(Error::Signal)?;
    let path: PathBuf = args
        .common
        .root()
        .config_dir(&args.env.env)
        .join("app.json");
    let watched = Watched::load(path.clone())?;
    let cfg: Arc<AppConfig> = watched.current();
    if args.common.dry_run {
        reporter.info(format!(
            "dry run: {} parses (version {}); would listen on {}",
            path.display(),
            cfg.version,
            args.listen
        ));
        return Ok(Exit::Success);
    }
    let listener = TcpListener::bind(args.listen).map_err(|source| Error::Bind {
        addr: args.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: args.listen,
        source,
    })?;
    let line = serde_json::json!({
        "type": "listening",
        "addr": addr.to_string(),
        "url": format!("http://{addr}"),
        "env": args.env.env.as_str(),
        "pid": std::process::id(),
        "version": cfg.version,
    });
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)?;
    reporter.info(format!(
        "listening on http://{addr} for env {} (config {}, version {})",
        args.env.env,
        path.display(),
        cfg.version
    ));

    let service = Arc::new(Service {
        env: args.env.env.to_string(),
        config: watched,
        stats: stats::Stats::new(),
        share: http::ShareCounter::default(),
        reporter: reporter.clone(),
        started: std::time::Instant::now(),
    });
    {
        let service = Arc::clone(&service);
        std::thread::Builder::new()
            .name("config-watch".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(100));
                service.config.poll(&service.reporter);
            })
            .map_err(Error::Thread)?;
    }
    {
        let service = Arc::clone(&service);
        let max = args.max_connections.max(1);
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || http::accept_loop(listener, service, max))
            .map_err(Error::Thread)?;
    }
    // The accept loop blocks in accept(); the main thread only waits for the stop signal,
    // so a SIGTERM ends the process promptly even with connections open.
    while signal::sleep_until(std::time::Instant::now() + Duration::from_secs(3600)) {}
    let sig = signal::stop_signal().map_or_else(|| "stop".to_string(), signal::signal_name);
    reporter.info(format!("stopping on {sig}"));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Args::command().debug_assert();
    }
}

mobius_core::help_fits_test!(Args);
