//! mobius-rollback: restores an environment from a verified backup — its configuration and,
//! where the operator declared them, its other sources (a release directory...) — atomically,
//! and does not call it done until the service answers healthy.
//!
//! `mobius-rollback --env production --backup backups/dhash_production_<stamp>.zip` (or
//! `--latest`: the newest backup of the environment that verifies deeply):
//!
//! 1. takes the environment lock (`locks/production.lock`; another holder: exit 4, named),
//!    finishes what a killed earlier run left (see [`swap`]'s docs), records
//!    `rollback`/`started` in `history/production.jsonl`, and checks the service's health
//!    once (`health_before`) before anything is touched;
//! 2. verifies the backup fully with mobius-verify's code (sidecar, zip structure, every
//!    entry against the manifest), refuses a backup of another environment (`env_mismatch`,
//!    unless `--allow-other-env`), and decides where each source of the backup goes: the
//!    live `backup_sources` of `config/<env>/app.json` decide, never the backup
//!    ([`places`]);
//! 3. checks every entry before writing anything (names, duplicates, symlinks and special
//!    files, size / count / ratio limits, overlapping entries: [`check_entries`]; an entry
//!    past the ratio limit or more entries than the count limit are read once, writing
//!    nothing, against the manifest's sizes and SHA-256, and pass only if they verify), then
//!    extracts entry by entry into a fresh 0700 staging directory beside each place,
//!    decompressing each entry once while verification hashes it, creating each file with
//!    `O_EXCL|O_NOFOLLOW` and the manifest's permission bits (`& 0o777`: setuid, setgid
//!    and sticky are never restored, whatever the zip or the manifest says); any problem: the staging trees are
//!    removed, exit 1, the live trees untouched;
//! 4. backs the live trees up with mobius-backup's code as `pre-rollback_<env>_<stamp>.zip`
//!    (a name of its own, so safety backups never push `dhash` backups out of retention;
//!    the newest 10 are kept), unless `--no-safety-backup`;
//! 5. swaps each staged tree in with one `renameat2(RENAME_EXCHANGE)`, keeping the old trees
//!    beside them; all places or none (one journal for all of them);
//! 6. runs the restart command (`--restart-cmd`, else `restart_cmd` of the restored
//!    `app.json`, else of the live one), then needs `--health-checks` consecutive healthy
//!    answers of `--health-url` (default: `health_url` of the restored `app.json`) within
//!    `--health-timeout`. Failure: every old tree is swapped back (and the restart command
//!    run again), exit 1, and `failure_cause` says which case it is: `service_down`,
//!    `restart_failed` or `restored_unhealthy`. Success: the old trees are removed;
//! 7. prints one `rollback` record and records the outcome in the history.
//!
//! ```text
//! {"type":"rollback","env":"production","backup":"backups/dhash_production_20261126T120000.123Z.zip","sha256":"…","target":"./config/production","places":[{"source":"config/production","target":"./config/production"}],"files_restored":3,"added":0,"changed":1,"removed":0,"safety_backup":"./backups/pre-rollback_production_20261126T130000.000Z.zip","health":{"checks":3,"ok":true,"url":"http://127.0.0.1:8080/health"},"health_before":{"url":"http://127.0.0.1:8080/health","ok":false,"status":503,"detail":"HTTP 503: status 503"},"failure_cause":null,"skipped":[],"outcome":"success","reason":null,"problems":[],"duration_ms":3120,"dry_run":false}
//! ```
//!
//! `outcome` is `success`, `failure` (restored, unhealthy, put back), `refused` (the backup
//! failed verification or the entry checks; `problems` says why) or `checked` (a dry run
//! that found nothing to refuse).
//!
//! Without any health URL (no `--health-url`, no `health_url` in the restored `app.json`)
//! the rollback is refused (exit 2) before the swap, unless `--no-health-check` says that
//! the operator checks the service by other means.
//!
//! `--dry-run` verifies and checks the backup and lists the files the restore would add,
//! change and remove; it writes nothing at all: no staging tree, no lock file, no history.

mod checks;
mod diff;
mod extract;
mod health;
pub mod places;
mod prepare;
mod restore;
pub mod swap;

pub use checks::{check_entries, Limits, RATIO_MIN_SIZE};
pub use diff::{changes, Changes};
pub use prepare::ENV_MISMATCH;

use clap::Parser;
use mobius_core::app_config::{AppConfig, DeclaredSource};
use mobius_core::cli::{CommonArgs, EnvArg, Reporter};
use mobius_core::exit::error_chain;
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::fsafe;
use mobius_core::history::{self, HistoryError};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::lock::{EnvLock, LockError};
use mobius_core::records::{Record, RollbackRecord};
use mobius_core::{EnvName, Exit, Root, ToolError};
use places::Declared;
use serde_json::json;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use swap::{Paths, Recovered};

const TOOL: &str = "mobius-rollback";
/// The backup name of safety backups (see the crate docs).
pub const SAFETY_BACKUP_NAME: &str = "pre-rollback";
/// Safety backups kept per environment.
pub const SAFETY_KEEP: usize = 10;
/// Mode of a target created by the restore (there was none before).
const NEW_TARGET_MODE: u32 = 0o755;

const LONG_ABOUT: &str = "\
Restore an environment from a verified backup (its config and the other sources declared as
backup_sources in config/<env>/app.json, e.g. a release directory), atomically, then prove the
service healthy.

Takes the environment lock, checks the service's health once (health_before in the record),
verifies the backup fully (sidecar, zip structure, every entry against the manifest), refuses a
backup of another environment (env_mismatch; --allow-other-env to override), decides where each
source goes from the LIVE backup_sources (a backup cannot choose where a rollback writes:
undeclared_source), checks every entry before writing anything (unsafe or duplicate names,
symlinks and special files, size / entry-count / compression-ratio limits, overlapping entries),
extracts each source into a 0700 staging directory beside its place, backs the live trees up
(backups/pre-rollback_<env>_<stamp>.zip, newest 10 kept), swaps every staged tree in with one
atomic exchange rename each, runs the restart command (--restart-cmd, else restart_cmd of the
restored app.json, else of the live one; sh -c), and needs --health-checks consecutive healthy
checks of --health-url (default: health_url of the restored app.json) within --health-timeout.
If they fail, every previous tree is swapped back (and the restart command run again): exit 1,
and failure_cause says which case it is:
  service_down        nothing answered before the restore and nothing answers after it: the
                      service is not running; start it (or give a restart command), retry
  restart_failed      the restart command failed (its exit code and last stderr lines)
  restored_unhealthy  the restored state answers unhealthy: choose another backup
A run killed at any moment leaves every place old or every place restored once the next run has
finished or undone it (locks/<env>.rollback.journal).

--latest restores the newest backups/<name>_<env>_<stamp>.zip that verifies deeply; each newer
one passed over is named on stderr and in the record's skipped list; none good: exit 1.

Prints one JSON line on stdout:
  {\"type\":\"rollback\",\"env\":\"production\",\"backup\":\"backups/dhash_production_….zip\",\"sha256\":\"…\",
   \"target\":\"./config/production\",\"places\":[{\"source\":\"config/production\",
   \"target\":\"./config/production\"}],\"files_restored\":3,\"added\":0,\"changed\":1,\"removed\":0,
   \"safety_backup\":\"./backups/pre-rollback_production_….zip\",\"health\":{\"checks\":3,\"ok\":true,
   \"url\":\"http://127.0.0.1:8080/health\"},\"health_before\":{\"url\":\"…\",\"ok\":false,\"status\":503,
   \"detail\":\"…\"},\"failure_cause\":null,\"skipped\":[],\"outcome\":\"success\",\"reason\":null,
   \"problems\":[],\"duration_ms\":3120,\"dry_run\":false}
outcome: success | failure (unhealthy, put back) | refused (problems says why) | checked (dry run).

--dry-run: verify, check and list the files that would be added, changed and removed; write
nothing (no lock, no history). No health URL at all: refused with exit 2 unless
--no-health-check.";

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-rollback",
    version,
    about = "Restore an environment from a verified backup, atomically, then prove it healthy",
    long_about = LONG_ABOUT,
    after_help = EXIT_CODE_HELP
)]
pub struct Args {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup zip to restore (its .sha256 sidecar beside it)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "latest",
        conflicts_with = "latest",
        value_parser = mobius_core::cli::backup_file
    )]
    pub backup: Option<PathBuf>,
    /// Restore the newest backup of the environment that verifies deeply, skipping newer bad ones
    #[arg(long)]
    pub latest: bool,
    /// The backups --latest chooses from: backups/<NAME>_<env>_<stamp>.zip
    #[arg(
        long,
        value_name = "NAME",
        default_value = "dhash",
        requires = "latest"
    )]
    pub name: String,
    /// Restore a backup whose manifest names another environment
    #[arg(long)]
    pub allow_other_env: bool,
    /// Directory to restore a one-source backup into; relative paths are relative to the root [default: where backup_sources say, else config/<env>]
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Run with `sh -c` after the swap (and again after a swap back); failing is a failed rollback [default: restart_cmd of app.json]
    #[arg(long, value_name = "CMD")]
    pub restart_cmd: Option<String>,
    /// URL whose 2xx answers prove the service healthy [default: health_url of the restored app.json]
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,
    /// Consecutive healthy checks needed
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub health_checks: u32,
    /// Time allowed for them, from the swap (or the restart)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub health_timeout: Duration,
    /// Pause between health checks
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,
    /// Do not check health after the swap (the operator checks by other means)
    #[arg(long, conflicts_with = "health_url")]
    pub no_health_check: bool,
    /// Do not back up the live tree first (the rollback then cannot be undone from a backup)
    #[arg(long)]
    pub no_safety_backup: bool,
    /// Refuse a backup whose entries inflate to more than this (e.g. 512MiB, 2GB)
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_total_size: u64,
    /// Refuse a backup with more entries than this, unless every entry verifies against its manifest first
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_entries: u64,
    /// Refuse an entry of 1 MiB or more that inflates more than N times its compressed size, unless every entry verifies against the manifest first
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_ratio: u64,
    /// Wait this long for another run holding the environment's lock (0s: fail at once)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_wait: Duration,
    /// Threads for verifying and extracting
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
}

/// `1GiB`, `512MiB`, `2GB`, `100k`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1GiB, 500MB, 4096)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit (use B, KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot restore into {}: {why}", .path.display())]
    Target { path: PathBuf, why: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot read the backup")]
    Verify(#[from] mobius_verify::Error),
    #[error("cannot {action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot take the safety backup of the live tree (nothing was changed; fix it, or pass --no-safety-backup to restore without one)")]
    SafetyBackup(#[source] mobius_backup::Error),
    #[error("an interrupted rollback cannot be finished automatically")]
    Recover(#[from] swap::RecoverError),
    #[error("the restored tree is in place but the rollback could not be finished ({during}); the previous tree is beside it and the journal {journal} says which is which: run mobius-rollback again to finish or undo it")]
    Unfinished {
        during: String,
        journal: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("the service stayed unhealthy and the previous tree could NOT be put back: {}: follow runbooks/rollback_runbook.md", .0)]
    SwapBack(#[source] swap::RecoverError),
    #[error("could not record the rollback in the history")]
    History(#[from] HistoryError),
    #[error("cannot write the record to stdout")]
    Output(#[source] io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            _ => Exit::Runtime,
        }
    }
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Everything a run needs, resolved once.
pub(crate) struct Ctx<'a> {
    pub(crate) args: &'a Args,
    pub(crate) root: Root,
    pub(crate) env: &'a EnvName,
    pub(crate) reporter: Reporter,
    pub(crate) limits: Limits,
    pub(crate) started: Instant,
    /// The live `config/<env>/app.json` (None: there is none, or it does not parse).
    pub(crate) live: Option<AppConfig>,
    pub(crate) declared: Declared,
    pub(crate) journal: PathBuf,
}

impl Ctx<'_> {
    fn record(&self, backup: &Path, outcome: &str) -> RollbackRecord {
        RollbackRecord {
            env: self.env.to_string(),
            backup: backup.display().to_string(),
            sha256: String::new(),
            target: self.default_target().display().to_string(),
            places: Vec::new(),
            files_restored: 0,
            added: 0,
            changed: 0,
            removed: 0,
            safety_backup: None,
            health: None,
            health_before: None,
            failure_cause: None,
            skipped: Vec::new(),
            outcome: outcome.to_owned(),
            reason: None,
            problems: Vec::new(),
            duration_ms: 0,
            dry_run: self.args.common.dry_run,
        }
    }

    fn default_target(&self) -> PathBuf {
        match &self.args.target {
            Some(t) if t.is_absolute() => t.clone(),
            Some(t) => self.root.dir().join(t),
            None => self.root.config_dir(self.env),
        }
    }

    /// Every place this run may touch: where leftovers of a killed run are looked for.
    fn candidate_paths(&self) -> Vec<Paths> {
        let mut out: Vec<Paths> = self
            .declared
            .sources
            .iter()
            .filter_map(|s| Paths::new(&s.path).ok())
            .collect();
        if let Ok(p) = Paths::new(&self.default_target()) {
            out.push(p);
        }
        out
    }

    fn backup_shown(&self) -> String {
        match &self.args.backup {
            Some(b) => b.display().to_string(),
            None => format!("the newest good {}_{}_*.zip", self.args.name, self.env),
        }
    }
}

/// The live declaration of the backup sources. An unreadable app.json leaves only the
/// config directory declared (and says so), so the config can still be rolled back.
fn declaration(root: &Root, env: &EnvName, reporter: &Reporter) -> (Option<AppConfig>, Declared) {
    match AppConfig::load(root, env) {
        Ok(app) => {
            let app = app.unwrap_or_default();
            let declared = Declared {
                sources: app.sources(root, env),
                default: app.backup_sources.is_none(),
                unreadable: None,
            };
            (Some(app), declared)
        }
        Err(e) => {
            reporter.warn(format!(
                "{}; only config/{env} counts as declared for this rollback",
                error_chain(&e)
            ));
            (
                None,
                Declared {
                    sources: vec![DeclaredSource::config_dir(root, env)],
                    default: true,
                    unreadable: Some(error_chain(&e)),
                },
            )
        }
    }
}

/// The whole command: records to `out`, messages to stderr.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let root = args.common.root();
    let env = &args.env.env;
    let reporter = args.common.reporter(TOOL);
    let (live, declared) = declaration(&root, env, &reporter);
    let ctx = Ctx {
        args,
        journal: root.rollback_journal(env),
        root,
        env,
        reporter,
        limits: Limits {
            max_total_size: args.max_total_size,
            max_entries: args.max_entries,
            max_ratio: args.max_ratio,
        },
        started: Instant::now(),
        live,
        declared,
    };
    let target =
        Paths::new(&ctx.default_target()).map_err(|e| Error::Usage(format!("--target: {e}")))?;
    if args.target.is_some() {
        check_target(&target)?;
    }
    check_inputs(args, &ctx.root)?;
    if args.common.dry_run {
        let (rec, exit) = restore::dry_run(&ctx)?;
        emit(out, rec)?;
        return Ok(exit);
    }
    swap::ensure_supported().map_err(|e| Error::Target {
        path: target.target.clone(),
        why: e.to_string(),
    })?;

    let _lock = EnvLock::acquire(&ctx.root, env, TOOL, args.lock_wait)?;
    report_recovery(
        &ctx.reporter,
        swap::recover(&ctx.journal, &ctx.candidate_paths())?,
    );
    let appended = history::append(
        &ctx.root,
        env,
        "rollback",
        "started",
        json!({"backup": ctx.backup_shown(), "target": ctx.default_target().display().to_string()}),
    )?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    let result = restore::real_run(&ctx);
    let (rec, exit) = match result {
        Ok(r) => r,
        Err(e) => {
            let mut rec = ctx.record(Path::new(&ctx.backup_shown()), "failure");
            rec.reason = Some(error_chain(&e));
            // The error is what the operator must see; a history failure on top of it
            // would only hide it.
            if let Err(h) = record_history(&ctx, &rec) {
                ctx.reporter.warn(error_chain(&h));
            }
            return Err(e);
        }
    };
    record_history(&ctx, &rec)?;
    emit(out, rec)?;
    Ok(exit)
}

fn emit(out: &mut dyn Write, mut rec: RollbackRecord) -> Result<(), Error> {
    rec.problems.truncate(mobius_verify::MAX_PROBLEMS);
    // Health URLs (userinfo) and error texts leave redacted: the record lands in monitor
    // logs, CI logs and notifications.
    let rec = mobius_core::redact::redact_record(rec);
    JsonlWriter::new(out)
        .write(&Record::Rollback(rec))
        .map_err(Error::Output)
}

fn record_history(ctx: &Ctx<'_>, rec: &RollbackRecord) -> Result<(), Error> {
    let details = json!({
        "backup": rec.backup,
        "sha256": rec.sha256,
        "target": rec.target,
        "places": rec.places,
        "safety_backup": rec.safety_backup,
        "files_restored": rec.files_restored,
        "added": rec.added,
        "changed": rec.changed,
        "removed": rec.removed,
        "health": rec.health,
        "health_before": rec.health_before,
        "failure_cause": rec.failure_cause,
        "skipped": rec.skipped,
        "reason": rec.reason,
    });
    let appended = history::append(&ctx.root, ctx.env, "rollback", &rec.outcome, details)?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    Ok(())
}

/// The backup named by --backup, and its sidecar, must be regular files: checked before
/// the lock is taken and before "started" is logged, so a FIFO or a device given as the
/// backup is a one-line refusal, never a run that holds the lock while it hangs.
/// The history log and the journal it will write are checked the same way (the lock is
/// refused by [`EnvLock::acquire`] itself).
fn check_inputs(args: &Args, root: &Root) -> Result<(), Error> {
    let env = &args.env.env;
    history::check_writable(root, env)?;
    let journal = root.rollback_journal(env);
    fsafe::check_output(&journal).map_err(|source| Error::Io {
        action: "write",
        path: journal.clone(),
        source,
    })?;
    let Some(backup) = &args.backup else {
        return Ok(());
    };
    let side = mobius_core::backups::sidecar_path(backup);
    for (path, kind) in [
        (backup, fsafe::Kind::Archive),
        (&side, fsafe::Kind::Sidecar),
    ] {
        match fsafe::open_input(path, kind) {
            // Missing is the verification's finding, reported in its own terms.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => {
                other.map_err(|source| Error::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// A target must be a real directory (the swap replaces the directory itself; a symlink
/// would be replaced by a directory) or not exist yet, in an existing parent.
pub(crate) fn check_target(paths: &Paths) -> Result<(), Error> {
    let bad = |why: String| Error::Target {
        path: paths.target.clone(),
        why,
    };
    match std::fs::symlink_metadata(&paths.target) {
        Ok(m) if m.file_type().is_symlink() => Err(bad(
            "it is a symlink; the rollback swaps the directory itself, so give the real directory (--target, or backup_sources in app.json)".into(),
        )),
        Ok(m) if !m.is_dir() => Err(bad("it exists and is not a directory".into())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if paths.parent.is_dir() {
                Ok(())
            } else {
                Err(bad(format!(
                    "neither it nor its parent {} exists; check --root, --env, --target and backup_sources",
                    paths.parent.display()
                )))
            }
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

fn report_recovery(reporter: &Reporter, r: Recovered) {
    match r {
        Recovered::Nothing => {}
        Recovered::RemovedLeftovers(l) => {
            for p in l {
                reporter.warn(format!(
                    "removed {} left by a rollback killed before its swap (the target was not touched)",
                    p.display()
                ));
            }
        }
        Recovered::Undone(j) => reporter.warn(format!(
            "a rollback from {} (started {}, pid {}) was interrupted before its health checks passed: the trees that were live before it are back in {}",
            j.backup,
            j.started,
            j.pid,
            j.targets()
        )),
        Recovered::Committed(j) => reporter.warn(format!(
            "a rollback from {} (started {}, pid {}) was interrupted after its health checks passed: finished removing the previous trees of {}",
            j.backup,
            j.started,
            j.pid,
            j.targets()
        )),
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
    fn defaults_and_conflicts() {
        let a = Args::try_parse_from(["r", "--env", "prod", "--backup", "b.zip"]).unwrap();
        assert_eq!(a.health_checks, 3);
        assert_eq!(a.health_timeout, Duration::from_secs(60));
        assert_eq!(a.max_total_size, 1 << 30);
        assert_eq!(a.max_entries, 100_000);
        assert_eq!(a.max_ratio, 200);
        assert!(Args::try_parse_from([
            "r",
            "--env",
            "prod",
            "--backup",
            "b.zip",
            "--no-health-check",
            "--health-url",
            "http://x"
        ])
        .is_err());
        assert!(Args::try_parse_from(["r", "--env", "../prod", "--backup", "b.zip"]).is_err());
        assert!(Args::try_parse_from(["r", "--env", "prod"]).is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("100k"), Ok(100 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1PB").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}

mobius_core::help_fits_test!(Args);
