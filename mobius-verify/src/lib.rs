//! mobius-verify: proves a MOBIUS backup intact before anyone relies on it, and checks the
//! deployment history's hash chain.
//!
//! # What a deep check proves
//!
//! - The sidecar `X.zip.sha256` exists, parses, names this file, and its SHA-256 is the file's.
//! - The zip container is sound and tight: the end record is the file's last 22 bytes, the
//!   central directory ends exactly where it starts, entries tile the file from offset 0 to
//!   the central directory with no gap or overlap, every local header agrees with its
//!   central header field by field, deflate streams end exactly where their data ends, and
//!   the zip library the other tools use can open it.
//! - `MOBIUS-MANIFEST.json` is present, intact, parses, is the last entry, and its name, env
//!   and creation stamp are those in the file name (a zip renamed into another backup's name
//!   fails).
//! - Every entry's bytes match its CRC-32, its declared size, the manifest's size and
//!   SHA-256, and its mode matches the manifest's; no entry is missing or extra; no name is
//!   unsafe ([`mobius_core::backups::unsafe_entry_name`]), impossible to create here
//!   ([`mobius_core::backups::unrestorable_entry_name`]), duplicated (also up to case), or a
//!   file used as a directory.
//! - Structure values that point past the file (an absurd ZIP64 offset or size) are
//!   `zip_structure` problems, never an I/O error.
//!
//! Bytes no reader gives a meaning to are covered by the sidecar only: the central header's
//! "version made by" low byte, its internal attributes, the DOS half of its external
//! attributes, the permission bits of directory entries and of the manifest entry (the
//! manifest has no mode for them), the padding bits after a deflate stream's
//! last symbol, and the content of extra fields other than ZIP64.
//!
//! `--quick` checks the sidecar alone.
//!
//! # Library use (rollback, export)
//!
//! [`verify_backup`] gives the record; [`OpenedBackup`] streams entries so a caller can
//! extract while verifying and decompress each entry once:
//!
//! ```no_run
//! # fn main() -> Result<(), mobius_verify::Error> {
//! use mobius_verify::{Mode, OpenedBackup};
//! let backup = OpenedBackup::open("backups/x.zip".as_ref(), Mode::Deep)?;
//! // check backup.entries() (sizes, ratios, names) before writing anything, then:
//! let verified = backup.for_each_entry(2, |meta, reader| {
//!     // write `reader` to a staging file for `meta.name` (create dirs from entries() first)
//!     std::io::copy(reader, &mut std::io::sink()).map(|_| ())
//! })?;
//! if !verified.ok() { /* discard the staging tree; verified.problems says why */ }
//! # Ok(()) }
//! ```
//!
//! # Output
//!
//! One `verify` record per backup, one `history_check` record for `--history`:
//!
//! ```text
//! {"type":"verify","path":"backups/dhash_production_20261126T120000.123Z.zip","ok":false,"mode":"deep","entries":12,"problems":[{"kind":"sha256_mismatch","entry":"app.json","detail":"SHA-256 is …, the manifest says …"}]}
//! {"type":"history_check","env":"production","path":"history/production.jsonl","ok":true,"lines":42,"first_bad_line":null,"problem":null}
//! ```
//!
//! Problem kinds are the constants in [`kind`].
//!
//! `--migrations DIR [--env E]` checks SQL migrations Flyway-style (see the `migrations`
//! module docs): one `migration` record per file, then a `migrations_summary`:
//!
//! ```text
//! {"type":"migration","file":"V2__add_index.sql","version":"2","description":"add_index","sha256":"…","status":"changed","problem":"V2__add_index.sql changed after it was applied: …"}
//! {"type":"migrations_summary","dir":"migrations","env":"staging","ok":false,"pending":0,"applied":1,"problems":1,"note":null}
//! ```
//!
//! `--config --env E` checks `config/<env>/` (app.json with an http(s) health_url, every JSON
//! file parses) and prints one `config_check` record listing every problem.

mod config;
mod engine;
mod migrations;
mod problems;
mod zipfmt;

pub use config::check_config;
pub use migrations::{
    check_migrations, compare_versions, parse_name as parse_migration_name, MigrationsReport,
};

pub use engine::{EntryMeta, Method, OpenedBackup, Verified};
pub use problems::{exit_for, is_malformed, kind, MAX_PROBLEMS};

use clap::{ArgGroup, Parser};
use mobius_core::backups::{list_backups, DEFAULT_NAME};
use mobius_core::cli::{CommonArgs, Reporter};
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::history::verify_chain;
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::{ConfigCheck, HistoryCheck, Record, VerifyRecord};
use mobius_core::{EnvName, Exit, ToolError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const TOOL: &str = "mobius-verify";

/// How much to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The sidecar only: the file is the one that was written.
    Quick,
    /// Everything (see the crate docs).
    Deep,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Deep => "deep",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("while reading entry {entry:?} of {}, the caller failed", path.display())]
    Visitor {
        path: PathBuf,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("no backups of {env} (name {name}) in {}; make one with mobius-backup --env {env}", dir.display())]
    NoBackups {
        env: EnvName,
        name: String,
        dir: PathBuf,
    },
    #[error("cannot write to stdout")]
    Output(#[source] io::Error),
    #[error("a verification thread panicked; this is a bug in mobius-verify")]
    Panic,
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::NoBackups { .. } => Exit::Bad,
            Error::Io { .. } | Error::Visitor { .. } | Error::Output(_) | Error::Panic => {
                Exit::Runtime
            }
        }
    }
}

/// Threads for a deep check when the caller does not say: every core (the work is hashing
/// and inflating, which scale).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Verifies one backup with [`default_threads`]. `Err` only when the tool itself fails;
/// every kind of damage is a problem in the record. [`exit_for`] gives the exit code.
pub fn verify_backup(path: &Path, mode: Mode) -> Result<VerifyRecord, Error> {
    let verified = verify(path, mode, default_threads())?;
    Ok(record(path, mode, &verified))
}

/// Verifies one backup and returns the full outcome (including the zip's SHA-256).
pub fn verify(path: &Path, mode: Mode, threads: usize) -> Result<Verified, Error> {
    verify_shown(path, mode, threads, &Reporter::silent("mobius-verify"))
}

/// [`verify`] with a progress bar for a person at a terminal (see mobius_core::progress).
pub fn verify_shown(
    path: &Path,
    mode: Mode,
    threads: usize,
    reporter: &Reporter,
) -> Result<Verified, Error> {
    let opened = OpenedBackup::open(path, mode)?;
    let name = path.file_name().map_or(String::new(), |n| {
        mobius_core::text::escape_str(&n.to_string_lossy())
    });
    let progress = mobius_core::progress::Progress::bytes(reporter, opened.stored_len(), &name);
    let verified = opened.for_each_entry_shown(threads, &progress, |_, _| Ok(()));
    progress.finish();
    verified
}

/// The `verify` record for an outcome.
pub fn record(path: &Path, mode: Mode, v: &Verified) -> VerifyRecord {
    VerifyRecord {
        path: path.display().to_string(),
        ok: v.ok(),
        mode: mode.as_str().to_owned(),
        entries: v.entries,
        problems: v.problems.clone(),
    }
}

fn parse_name(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s.to_owned())
    } else {
        Err("a backup name is 1-64 letters, digits or '-'".to_owned())
    }
}

/// Verify MOBIUS backups (sidecar, zip structure, every entry against the manifest) and the
/// deployment history's hash chain.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-verify",
    version,
    after_help = EXIT_CODE_HELP,
    group(ArgGroup::new("what").required(true).multiple(true).args(["backups", "latest", "history", "migrations", "config"])),
    long_about = "Verify MOBIUS backups and the deployment history.\n\n\
Deep (default): the sidecar matches the file; the zip structure is sound; every entry's bytes \
match the manifest's SHA-256 and size; no entry is missing, extra, unsafe or duplicated; the \
file name matches the manifest. --quick: the sidecar only.\n\n\
Prints one JSON line per backup on stdout:\n  \
{\"type\":\"verify\",\"path\":\"…zip\",\"ok\":false,\"mode\":\"deep\",\"entries\":12,\"problems\":[{\"kind\":\"sha256_mismatch\",\"entry\":\"app.json\",\"detail\":\"…\"}]}\n\
and for --history:\n  \
{\"type\":\"history_check\",\"env\":\"production\",\"path\":\"history/production.jsonl\",\"ok\":true,\"lines\":42,\"first_bad_line\":null,\"problem\":null}\n\n\
--migrations DIR [--env E]: every *.sql in DIR is named V<version>__<description>.sql (version: \
digits separated by . or _, compared numerically, so V1 and V1.0 are duplicates); versions are \
unique; no pending migration is below the newest applied one; a migration the history of E \
records as applied (action migration, outcome applied, details {file, version, sha256}; record it \
with mobius-history --env E --action migration --outcome applied --detail file=… --detail \
version=… --detail sha256=…) is unchanged and still present. A missing DIR means no migrations \
(exit 0, said in the summary's note). One record per migration, then the summary:\n  \
{\"type\":\"migration\",\"file\":\"V1__create_items.sql\",\"version\":\"1\",\"description\":\"create_items\",\"sha256\":\"…\",\"status\":\"pending\",\"problem\":null}\n  \
{\"type\":\"migrations_summary\",\"dir\":\"migrations\",\"env\":\"staging\",\"ok\":true,\"pending\":1,\"applied\":0,\"problems\":0,\"note\":null}\n\
status is pending, applied, changed, missing or invalid.\n\n\
--config --env E: config/E/ exists, app.json is there with an http(s) health_url, every *.json \
file parses; one record listing every problem:\n  \
{\"type\":\"config_check\",\"env\":\"staging\",\"dir\":\"config/staging\",\"ok\":false,\"files\":2,\"problems\":[{\"kind\":\"bad_json\",\"entry\":\"smoke.json\",\"detail\":\"…\"}]}"
)]
pub struct Args {
    /// Backup zips to verify
    #[arg(value_name = "BACKUP.zip", value_parser = mobius_core::cli::backup_file)]
    pub backups: Vec<PathBuf>,
    /// Verify the newest backup of --env in <root>/backups (complete or not)
    #[arg(long, requires = "env")]
    pub latest: bool,
    /// Check the hash chain of <root>/history/<env>.jsonl and name the first bad line
    #[arg(long, requires = "env")]
    pub history: bool,
    /// Check the SQL migrations in DIR (against the history of --env when given)
    #[arg(long, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
    /// Check config/<env>/ of --env: app.json present with a health_url, every JSON file parses
    #[arg(long, requires = "env")]
    pub config: bool,
    /// Environment for --latest, --history, --config and --migrations
    #[arg(long, value_name = "ENV")]
    pub env: Option<EnvName>,
    /// Backup name for --latest
    #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME, value_parser = parse_name)]
    pub name: String,
    /// Check only the sidecar (the SHA-256 of the whole file)
    #[arg(long)]
    pub quick: bool,
    /// Threads for a deep check (default: one per core)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the command: records to `stdout`, messages to stderr.
pub fn run(args: &Args, stdout: impl Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter(TOOL);
    let root = args.common.root();
    let mode = if args.quick { Mode::Quick } else { Mode::Deep };
    let threads = args.threads.map_or_else(default_threads, usize::from);
    let mut out = JsonlWriter::new(stdout);
    let mut exit = Exit::Success;
    let mut paths = args.backups.clone();
    if args.latest {
        if let Some(env) = &args.env {
            let dir = root.backups_dir();
            let found = list_backups(&dir, &args.name, env).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            match found.last() {
                Some(b) => {
                    reporter.detail(format!("newest backup of {env}: {}", b.path.display()));
                    paths.push(b.path.clone());
                }
                None => {
                    let err = Error::NoBackups {
                        env: env.clone(),
                        name: args.name.clone(),
                        dir,
                    };
                    if paths.is_empty() && !args.history {
                        return Err(err);
                    }
                    reporter.error(err.to_string());
                    exit = exit.merge(err.exit());
                }
            }
        }
    }
    for path in &paths {
        let verified = verify_shown(path, mode, threads, &reporter)?;
        let rec = record(path, mode, &verified);
        out.write(&Record::Verify(rec.clone()))
            .map_err(Error::Output)?;
        report_backup(&reporter, &rec, &verified);
        exit = exit.merge(exit_for(&rec.problems));
    }
    if args.history {
        if let Some(env) = &args.env {
            let rec = check_history(&root.history_file(env), env)?;
            out.write(&Record::HistoryCheck(rec.clone()))
                .map_err(Error::Output)?;
            match (&rec.problem, rec.first_bad_line) {
                (None, _) => reporter.info(format!(
                    "history {}: {} lines, hash chain intact",
                    rec.path, rec.lines
                )),
                (Some(p), Some(line)) => reporter.error(format!(
                    "history {}: hash chain broken at line {line}: {p}",
                    rec.path
                )),
                (Some(p), None) => reporter.error(format!("history {}: {p}", rec.path)),
            }
            if !rec.ok {
                exit = exit.merge(Exit::Bad);
            }
        }
    }
    if args.config {
        if let Some(env) = &args.env {
            let rec = check_config(&root, env)?;
            out.write(&Record::ConfigCheck(rec.clone()))
                .map_err(Error::Output)?;
            report_config(&reporter, &rec);
            if !rec.ok {
                exit = exit.merge(Exit::Bad);
            }
        }
    }
    if let Some(dir) = &args.migrations {
        let report = check_migrations(dir, &root, args.env.as_ref())?;
        for check in &report.checks {
            out.write(&Record::Migration(check.clone()))
                .map_err(Error::Output)?;
            match &check.problem {
                Some(p) => reporter.error(format!("{} {}: {p}", check.status, check.file)),
                None => reporter.detail(format!("{} {}", check.status, check.file)),
            }
        }
        let s = &report.summary;
        out.write(&Record::MigrationsSummary(s.clone()))
            .map_err(Error::Output)?;
        if let Some(note) = &s.note {
            reporter.info(note);
        }
        reporter.info(format!(
            "migrations in {}: {} applied, {} pending, {} problem{}",
            s.dir,
            s.applied,
            s.pending,
            s.problems,
            if s.problems == 1 { "" } else { "s" }
        ));
        if !s.ok {
            exit = exit.merge(Exit::Bad);
        }
    }
    Ok(exit)
}

fn report_config(reporter: &Reporter, rec: &ConfigCheck) {
    if rec.ok {
        reporter.info(format!(
            "config {}: {} JSON file{} parse, app.json has a health_url",
            rec.dir,
            rec.files,
            if rec.files == 1 { "" } else { "s" }
        ));
    }
    for p in &rec.problems {
        match &p.entry {
            Some(e) => reporter.error(format!("config {e}: {}", p.detail)),
            None => reporter.error(format!("config: {}", p.detail)),
        }
    }
}

/// Walks `history/<env>.jsonl`. A missing file is a failed check, said plainly.
pub fn check_history(path: &Path, env: &EnvName) -> Result<HistoryCheck, Error> {
    let shown = path.display().to_string();
    match verify_chain(path, Some(env)) {
        Ok(report) => Ok(HistoryCheck {
            env: env.to_string(),
            path: shown,
            ok: report.ok(),
            lines: report.lines,
            first_bad_line: report.first_break.as_ref().map(|b| b.line),
            problem: report.first_break.map(|b| b.problem),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HistoryCheck {
            env: env.to_string(),
            path: shown,
            ok: false,
            lines: 0,
            first_bad_line: None,
            problem: Some(format!(
                "the history file does not exist: no tool has recorded anything for {env} under this root, or it was removed"
            )),
        }),
        Err(source) => Err(Error::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn report_backup(reporter: &Reporter, rec: &VerifyRecord, v: &Verified) {
    if rec.ok {
        if rec.mode == Mode::Quick.as_str() {
            reporter.info(format!("OK {} (sidecar matches; quick check)", rec.path));
        } else {
            reporter.info(format!(
                "OK {}: {} entries, {} bytes verified against the manifest",
                rec.path, rec.entries, v.bytes
            ));
        }
        return;
    }
    let n = rec.problems.len();
    let describe = mobius_core::text::problem_line;
    reporter.error(format!(
        "FAILED {}: {n} problem{}; first: {}",
        rec.path,
        if n == 1 { "" } else { "s" },
        rec.problems.first().map(describe).unwrap_or_default()
    ));
    const SHOWN: usize = 20;
    for p in rec.problems.iter().skip(1).take(SHOWN) {
        reporter.info(format!("  {}", describe(p)));
    }
    for p in rec.problems.iter().skip(1 + SHOWN) {
        reporter.detail(format!("  {}", describe(p)));
    }
    if n > 1 + SHOWN && reporter.verbosity() < mobius_core::cli::Verbosity::Verbose {
        reporter.info(format!(
            "  … {} more in the verify record (or use --verbose)",
            n - 1 - SHOWN
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn args_are_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn latest_and_history_need_an_env() {
        assert!(Args::try_parse_from(["mobius-verify", "--latest"]).is_err());
        assert!(Args::try_parse_from(["mobius-verify", "--history"]).is_err());
        assert!(Args::try_parse_from(["mobius-verify"]).is_err());
        assert!(Args::try_parse_from(["mobius-verify", "--latest", "--env", "../prod"]).is_err());
        let a = Args::try_parse_from(["mobius-verify", "--latest", "--env", "prod", "--quick"])
            .unwrap();
        assert!(a.latest && a.quick);
        assert_eq!(a.name, "dhash");
    }

    #[test]
    fn backup_names_are_restricted() {
        assert!(parse_name("dhash").is_ok());
        assert!(parse_name("a_b").is_err());
        assert!(parse_name("../x").is_err());
        assert!(parse_name("").is_err());
    }
}

mobius_core::help_fits_test!(Args);
