//! mobius-export: the compliance bundle of an environment, and artifact retention.
//!
//! `mobius-export --env production --days 30` collects, for the period, the deployment
//! history (its hash chain checked first), every backup of the env (verified now, deep, with
//! mobius-verify's code), the monitoring logs with a per-run summary, the smoke reports and
//! the env's configuration, secrets redacted ([`mobius_core::redact`]), into
//! `exports/lcm_production_<stamp>.zip` with a `sha256sum`-compatible `.zip.sha256` sidecar,
//! records an `export` event in the history and prints one `export` record:
//!
//! ```text
//! {"type":"export","env":"production","path":"exports/lcm_production_20261126T120000.123Z.zip","format":"zip","sha256":"…","files":14,"bytes":48213,"period_start":"2026-10-27T12:00:00.123Z","period_end":"2026-11-26T12:00:00.123Z","chain_ok":true,"chain_first_bad_line":null,"deployments":3,"backups":4,"backups_failing":0,"monitor_runs":3,"smoke_runs":3,"missing":[],"duration_ms":120,"dry_run":false}
//! ```
//!
//! `mobius-export --prune [--env E]` applies the retention rules and prints one `pruned`
//! record per deleted path:
//!
//! ```text
//! {"type":"pruned","path":"monitor_logs/production_20260901T120000.jsonl","kind":"monitor_log","reason":"monitoring logs are kept 30 days","dry_run":false}
//! ```
//!
//! Exit codes: 0 done; 1 the history's hash chain is broken (the bundle is still written and
//! says so first); 2 usage; 4 the tool failed (I/O, lock held).
//!
//! Memory stays flat whatever the size of the logs: every input is streamed line by line
//! into the bundle, and the monitoring summary keeps counters and a 20-value window per
//! target.

mod bundle;
pub mod csvsafe;
pub mod deployments;
mod export;
pub mod monitoring;
pub mod names;
mod prune;

use clap::{Parser, ValueEnum};
use mobius_core::cli::CommonArgs;
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::history::HistoryError;
use mobius_core::lock::LockError;
use mobius_core::{EnvName, Exit, ToolError};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

pub(crate) const TOOL: &str = "mobius-export";

const LONG_ABOUT: &str = "\
Compliance export of an environment, and artifact retention.

EXPORT (--env E): collects for the period (--days N back from now, or --since DATE):
  history/<env>.jsonl      hash chain checked first; the period's events → events.jsonl and
                           deployments.csv (one row per deployment: the events from one
                           deploy/started event to the next)
  backups/                 every backup of the env, verified now (deep) → backups.csv
  monitor_logs/<env>_*     the raw logs of runs in the period + monitoring.csv (per run:
                           checks, success rate, P95, final verdict and its rule)
  premerge_artifacts/smoke_<env>_*/  junit.xml and smoke.jsonl + smoke.csv
  config/<env>/            the configuration
into <out>/lcm_<env>_<UTC stamp>.zip (+ .zip.sha256: `sha256sum -c` checks it) or, with
--format dir, a directory. MANIFEST.json lists every file's SHA-256 and size, the period,
the tool version, the chain status and missing inputs; SUMMARY.txt says the same for
people, the chain status first. Secrets never leave: values of keys named like password,
secret, token, api_key, private_key, credentials, webhook, auth, cookie, session (in JSON,
YAML incl. block scalars, INI/.env, XML, and line by line in files that do not parse), whole
Authorization/Cookie header values, Bearer tokens, the userinfo of URLs
(scheme://user:pass@host) and PEM private keys become ***REDACTED*** in every exported
file; key files (*.key, *.p12, id_rsa, ...) are exported as ***REDACTED*** only. CSV cells
starting with = + - @ tab or CR are prefixed with ' (spreadsheet formula injection).
Missing inputs are stated, not fatal. A broken history chain is reported, exit 1, and the
bundle is still written. Records an `export` event and prints one line:

  {\"type\":\"export\",\"env\":\"production\",\"path\":\"exports/lcm_production_….zip\",\"format\":\"zip\",
   \"sha256\":\"…\",\"files\":14,\"bytes\":48213,\"period_start\":\"…\",\"period_end\":\"…\",
   \"chain_ok\":true,\"chain_first_bad_line\":null,\"deployments\":3,\"backups\":4,
   \"backups_failing\":0,\"monitor_runs\":3,\"smoke_runs\":3,\"missing\":[],\"duration_ms\":120,
   \"dry_run\":false}

RETENTION (--prune [--env E]): backups keep the --keep-backups newest complete ones per
name and env (mobius-backup's code); monitor_logs/<env>_<stamp>.jsonl older than
--monitor-days; premerge_artifacts/<stamp>/ and smoke_<env>_<stamp>/ older than
--premerge-days (by the stamp in the name); exports are kept. Anything not named exactly
so is never deleted. One line per deleted path:

  {\"type\":\"pruned\",\"path\":\"monitor_logs/production_20260901T120000.jsonl\",\"kind\":\"monitor_log\",
   \"reason\":\"monitoring logs are kept 30 days\",\"dry_run\":false}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Zip,
    Dir,
}

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-export",
    version,
    about = "Compliance export of a MOBIUS environment, and artifact retention",
    long_about = LONG_ABOUT,
    after_help = EXIT_CODE_HELP
)]
pub struct Args {
    /// Environment to export (required for an export; with --prune, limits it to this env)
    #[arg(long, value_name = "ENV", required_unless_present = "prune")]
    pub env: Option<EnvName>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The period: the last N days up to now
    #[arg(long, value_name = "N", default_value_t = 30, conflicts_with = "since")]
    pub days: u32,
    /// The period: from this date (2026-11-01, UTC midnight, or an RFC 3339 time) up to now
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<std::time::SystemTime>,
    /// Directory the bundle goes to [default: <root>/exports]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A zip with a .sha256 sidecar, or a directory
    #[arg(long, value_enum, default_value_t = Format::Zip)]
    pub format: Format,
    /// Apply retention instead of exporting
    #[arg(long)]
    pub prune: bool,
    /// Retention: complete backups kept per name and env
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_backups: u32,
    /// Retention: days monitoring logs are kept
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub monitor_days: u32,
    /// Retention: days pre-merge artifacts and smoke reports are kept
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub premerge_days: u32,
}

fn parse_since(s: &str) -> Result<std::time::SystemTime, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    mobius_core::time::parse_rfc3339(&full).ok_or_else(|| {
        format!("--since takes a date like 2026-11-01 or an RFC 3339 UTC time, not {s:?}")
    })
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot {action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot record the export in the history")]
    History(#[from] HistoryError),
    #[error("backup retention failed")]
    Retention(#[source] mobius_backup::Error),
    #[error("cannot write the record to stdout")]
    Output(#[source] io::Error),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            _ => Exit::Runtime,
        }
    }
}

/// The whole command: an export, or retention with `--prune`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    if args.prune {
        return prune::prune(args, out);
    }
    let Some(env) = args.env.as_ref() else {
        return Err(Error::Usage("--env is required for an export".to_owned()));
    };
    export::export(args, env, out)
}

/// A path as shown in records and messages: without a leading `./`.
pub(crate) fn shown(p: &Path) -> String {
    let mut comps = p.components().peekable();
    while comps.peek() == Some(&Component::CurDir) && comps.clone().count() > 1 {
        comps.next();
    }
    comps.collect::<PathBuf>().display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn env_required_unless_prune() {
        assert!(Args::try_parse_from(["mobius-export"]).is_err());
        assert!(Args::try_parse_from(["mobius-export", "--prune"]).is_ok());
        assert!(Args::try_parse_from(["mobius-export", "--env", "../x"]).is_err());
        assert!(Args::try_parse_from([
            "mobius-export",
            "--env",
            "p",
            "--days",
            "3",
            "--since",
            "2026-11-01"
        ])
        .is_err());
        assert!(Args::try_parse_from(["mobius-export", "--prune", "--keep-backups", "0"]).is_err());
    }

    #[test]
    fn since_accepts_dates_and_times() {
        let a = parse_since("2026-11-01").unwrap();
        let b = parse_since("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_since("yesterday").is_err());
    }
}

mobius_core::help_fits_test!(Args);
