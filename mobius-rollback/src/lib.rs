//! mobius-rollback: restores an environment's configuration from a verified backup,
//! atomically, and does not call it done until the service answers healthy.
//!
//! `mobius-rollback --env production --backup backups/dhash_production_<stamp>.zip`:
//!
//! 1. takes the environment lock (`locks/production.lock`; another holder: exit 4, named),
//!    finishes what a killed earlier run left (see [`swap`]'s docs), and records
//!    `rollback`/`started` in `history/production.jsonl`;
//! 2. verifies the backup fully with mobius-verify's code (sidecar, zip structure, every
//!    entry against the manifest);
//! 3. checks every entry before writing anything (names, duplicates, symlinks and special
//!    files, size / count / ratio limits, overlapping entries: [`check_entries`]), then
//!    extracts entry by entry into a fresh 0700 staging directory beside the target,
//!    decompressing each entry once while verification hashes it, creating each file with
//!    `O_EXCL|O_NOFOLLOW` and the manifest's mode, counting the bytes actually inflated;
//!    any problem: the staging tree is removed, exit 1, the live tree untouched;
//! 4. backs the live tree up with mobius-backup's code as `pre-rollback_<env>_<stamp>.zip`
//!    (a name of its own, so safety backups never push `dhash` backups out of retention;
//!    the newest 10 are kept), unless `--no-safety-backup`;
//! 5. swaps the staged tree in with one `renameat2(RENAME_EXCHANGE)`, keeping the old tree
//!    beside it;
//! 6. runs `--restart-cmd`, then needs `--health-checks` consecutive healthy answers of
//!    `--health-url` (default: `health_url` of the restored `app.json`) within
//!    `--health-timeout`. Failure: the old tree is swapped back (and the restart command
//!    run again), exit 1. Success: the old tree is removed;
//! 7. prints one `rollback` record and records the outcome in the history.
//!
//! ```text
//! {"type":"rollback","env":"production","backup":"backups/dhash_production_20261126T120000.123Z.zip","sha256":"…","target":"./config/production","files_restored":3,"added":0,"changed":1,"removed":0,"safety_backup":"./backups/pre-rollback_production_20261126T130000.000Z.zip","health":{"checks":3,"ok":true,"url":"http://127.0.0.1:8080/health"},"outcome":"success","reason":null,"problems":[],"duration_ms":3120,"dry_run":false}
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
pub mod swap;

pub use checks::{check_entries, Limits, RATIO_MIN_SIZE};
pub use diff::{changes, Changes};

use clap::Parser;
use mobius_backup::BackupOptions;
use mobius_core::backups::Manifest;
use mobius_core::cli::{CommonArgs, EnvArg, Reporter};
use mobius_core::exit::error_chain;
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::history::{self, HistoryError};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::lock::{EnvLock, LockError};
use mobius_core::platform;
use mobius_core::records::{Problem, Record, RollbackHealth, RollbackRecord};
use mobius_core::time::{file_stamp, millis};
use mobius_core::{EnvName, Exit, Root, ToolError};
use mobius_verify::{Mode, OpenedBackup};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use swap::{Paths, Recovered};

const TOOL: &str = "mobius-rollback";
/// The backup name of safety backups (see the crate docs).
pub const SAFETY_BACKUP_NAME: &str = "pre-rollback";
/// Safety backups kept per environment.
pub const SAFETY_KEEP: usize = 10;
/// Mode of a target created by the restore (there was none before).
const NEW_TARGET_MODE: u32 = 0o755;

const LONG_ABOUT: &str = "\
Restore an environment's configuration from a verified backup, atomically, then prove the
service healthy.

Takes the environment lock, verifies the backup fully (sidecar, zip structure, every entry
against the manifest), checks every entry before writing anything (unsafe or duplicate names,
symlinks and special files, size / entry-count / compression-ratio limits, overlapping
entries), extracts it into a 0700 staging directory beside the target, backs the live tree up
(backups/pre-rollback_<env>_<stamp>.zip, newest 10 kept), swaps the staged tree in with one
atomic exchange rename, runs --restart-cmd, and needs --health-checks consecutive healthy
checks of --health-url (default: health_url of the restored app.json) within
--health-timeout. If they fail, the previous tree is swapped back (and --restart-cmd run
again): exit 1. A run killed at any moment leaves the old tree or the backup's content, never
a mix; the next run finishes or undoes it (.<env>.rollback.journal beside the target).

Prints one JSON line on stdout:
  {\"type\":\"rollback\",\"env\":\"production\",\"backup\":\"backups/dhash_production_….zip\",\"sha256\":\"…\",
   \"target\":\"./config/production\",\"files_restored\":3,\"added\":0,\"changed\":1,\"removed\":0,
   \"safety_backup\":\"./backups/pre-rollback_production_….zip\",\"health\":{\"checks\":3,\"ok\":true,
   \"url\":\"http://127.0.0.1:8080/health\"},\"outcome\":\"success\",\"reason\":null,\"problems\":[],
   \"duration_ms\":3120,\"dry_run\":false}
outcome: success | failure (unhealthy, put back) | refused (problems says why) | checked (dry run).

--dry-run: verify, check and list the files that would be added, changed and removed; write
nothing (no lock, no history). No health URL at all: refused with exit 2 unless
--no-health-check.";

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-rollback",
    version,
    about = "Restore an environment's configuration from a verified backup, then prove it healthy",
    long_about = LONG_ABOUT,
    after_help = EXIT_CODE_HELP
)]
pub struct Args {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The backup zip to restore (its .sha256 sidecar beside it)
    #[arg(long, value_name = "FILE")]
    pub backup: PathBuf,
    /// Directory to restore; relative paths are relative to the root [default: config/<env>]
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Run with `sh -c` after the swap (and again after a swap back); failing is a failed rollback
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
    /// Refuse a backup with more entries than this
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_entries: u64,
    /// Refuse an entry of 1 MiB or more that inflates more than N times its compressed size
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

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Everything a run needs, resolved once.
struct Ctx<'a> {
    args: &'a Args,
    root: Root,
    env: &'a EnvName,
    target: PathBuf,
    paths: Paths,
    reporter: Reporter,
    limits: Limits,
    started: Instant,
}

impl Ctx<'_> {
    fn record(&self, outcome: &str) -> RollbackRecord {
        RollbackRecord {
            env: self.env.to_string(),
            backup: self.args.backup.display().to_string(),
            sha256: String::new(),
            target: self.target.display().to_string(),
            files_restored: 0,
            added: 0,
            changed: 0,
            removed: 0,
            safety_backup: None,
            health: None,
            outcome: outcome.to_owned(),
            reason: None,
            problems: Vec::new(),
            duration_ms: 0,
            dry_run: self.args.common.dry_run,
        }
    }
}

/// The whole command: records to `out`, messages to stderr.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let root = args.common.root();
    let env = &args.env.env;
    let target = match &args.target {
        Some(t) if t.is_absolute() => t.clone(),
        Some(t) => root.dir().join(t),
        None => root.config_dir(env),
    };
    let paths = Paths::new(&target).map_err(|e| Error::Usage(format!("--target: {e}")))?;
    check_target(&paths)?;
    let ctx = Ctx {
        args,
        root,
        env,
        target,
        paths,
        reporter: args.common.reporter(TOOL),
        limits: Limits {
            max_total_size: args.max_total_size,
            max_entries: args.max_entries,
            max_ratio: args.max_ratio,
        },
        started: Instant::now(),
    };
    if args.common.dry_run {
        let (rec, exit) = dry_run(&ctx)?;
        emit(out, rec)?;
        return Ok(exit);
    }
    swap::ensure_supported().map_err(|e| Error::Target {
        path: ctx.target.clone(),
        why: e.to_string(),
    })?;

    let _lock = EnvLock::acquire(&ctx.root, env, TOOL, args.lock_wait)?;
    report_recovery(&ctx.reporter, swap::recover(&ctx.paths)?);
    let appended = history::append(
        &ctx.root,
        env,
        "rollback",
        "started",
        json!({"backup": args.backup.display().to_string(), "target": ctx.target.display().to_string()}),
    )?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    let result = real_run(&ctx);
    let (rec, exit) = match result {
        Ok(r) => r,
        Err(e) => {
            let mut rec = ctx.record("failure");
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
    JsonlWriter::new(out)
        .write(&Record::Rollback(rec))
        .map_err(Error::Output)
}

fn record_history(ctx: &Ctx<'_>, rec: &RollbackRecord) -> Result<(), Error> {
    let details = json!({
        "backup": rec.backup,
        "sha256": rec.sha256,
        "target": rec.target,
        "safety_backup": rec.safety_backup,
        "files_restored": rec.files_restored,
        "added": rec.added,
        "changed": rec.changed,
        "removed": rec.removed,
        "health": rec.health,
        "reason": rec.reason,
    });
    let appended = history::append(&ctx.root, ctx.env, "rollback", &rec.outcome, details)?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    Ok(())
}

/// The target must be a real directory (the swap replaces the directory itself; a symlink
/// would be replaced by a directory) or not exist yet, in an existing parent.
fn check_target(paths: &Paths) -> Result<(), Error> {
    let bad = |why: String| Error::Target {
        path: paths.target.clone(),
        why,
    };
    match std::fs::symlink_metadata(&paths.target) {
        Ok(m) if m.file_type().is_symlink() => Err(bad(
            "it is a symlink; the rollback swaps the directory itself, so give the real directory with --target".into(),
        )),
        Ok(m) if !m.is_dir() => Err(bad("it exists and is not a directory".into())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if paths.parent.is_dir() {
                Ok(())
            } else {
                Err(bad(format!(
                    "neither it nor its parent {} exists; check --root, --env and --target",
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
            "a rollback from {} (started {}, pid {}) was interrupted before its health checks passed: the tree that was live before it is back in {}",
            j.backup,
            j.started,
            j.pid,
            j.target.display()
        )),
        Recovered::Committed(j) => reporter.warn(format!(
            "a rollback from {} (started {}, pid {}) was interrupted after its health checks passed: finished removing the previous tree of {}",
            j.backup,
            j.started,
            j.pid,
            j.target.display()
        )),
    }
}

/// What verification, the entry checks and the extraction found.
enum Prepared {
    Refused {
        problems: Vec<Problem>,
        sha256: String,
        reason: String,
    },
    Ready(Box<Ready>),
}

struct Ready {
    sha256: String,
    manifest: Manifest,
    changes: Changes,
    files: u64,
    app_json: Option<Vec<u8>>,
    dirs: BTreeMap<String, u32>,
}

fn sha_of_file(path: &Path) -> String {
    mobius_core::digest::sha256_file(path)
        .map(|(h, _)| h)
        .unwrap_or_default()
}

/// Steps 2 and 3: verify, check, and (with `staging`) extract. A refusal removes the
/// staging tree.
fn prepare(ctx: &Ctx<'_>, staging: Option<&Path>) -> Result<Prepared, Error> {
    let backup = &ctx.args.backup;
    let opened = OpenedBackup::open(backup, Mode::Deep)?;
    let mut problems = opened.problems();
    match check_entries(backup, &ctx.limits) {
        Ok(p) => problems.extend(p),
        // Verification has already said that the backup is missing.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("read", backup)(e)),
    }
    let refused = |problems: Vec<Problem>, sha256: String, when: &str| {
        let n = problems.len();
        let first = problems.first().map(describe).unwrap_or_default();
        Prepared::Refused {
            reason: format!(
                "{when}: {n} problem{}; first: {first}",
                if n == 1 { "" } else { "s" }
            ),
            problems,
            sha256,
        }
    };
    let manifest = match (problems.is_empty(), opened.manifest()) {
        (true, Some(m)) => m.clone(),
        _ => {
            // Verification's whole-file hash comes with the pass, which a refused backup
            // never gets; the sidecar is compared here so the record still says so.
            let sha = sha_of_file(backup);
            if let Some(want) = opened.sidecar_sha256() {
                if !sha.is_empty() && !want.eq_ignore_ascii_case(&sha) {
                    problems.insert(
                        0,
                        Problem {
                            kind: mobius_verify::kind::SIDECAR_MISMATCH.into(),
                            entry: None,
                            detail: format!(
                                "the zip's SHA-256 is {sha} but the sidecar says {want}"
                            ),
                        },
                    );
                }
            }
            return Ok(refused(
                problems,
                sha,
                "refused before anything was written",
            ));
        }
    };
    let changes = changes(&manifest, &ctx.target).map_err(io_err("read", &ctx.target))?;
    let dirs = match staging {
        Some(dir) => match extract::make_dirs(dir, opened.entries()) {
            Ok(d) => d,
            Err(e) => {
                discard(ctx, dir);
                return Err(io_err("create the staging tree", dir)(e));
            }
        },
        None => BTreeMap::new(),
    };
    let ex = extract::Extractor::new(staging, extract::current_umask(), ctx.limits.max_total_size);
    let pass = opened.for_each_entry(usize::from(ctx.args.threads), |m, r| ex.visit(m, r));
    let verified = match pass {
        Ok(v) => v,
        Err(e) => {
            if let Some(dir) = staging {
                discard(ctx, dir);
            }
            if ex.over_limit.load(std::sync::atomic::Ordering::Relaxed) {
                let p = Problem {
                    kind: "too_large".into(),
                    entry: None,
                    detail: format!(
                        "entry check: more than --max-total-size {} bytes inflated",
                        ctx.limits.max_total_size
                    ),
                };
                return Ok(refused(
                    vec![p],
                    sha_of_file(backup),
                    "refused while extracting",
                ));
            }
            return Err(match e {
                mobius_verify::Error::Visitor { entry, source, .. } => Error::Io {
                    action: "write the staged copy of",
                    path: staging.map_or_else(PathBuf::new, |d| d.join(entry)),
                    source,
                },
                other => Error::Verify(other),
            });
        }
    };
    if !verified.ok() {
        if let Some(dir) = staging {
            discard(ctx, dir);
        }
        return Ok(refused(
            verified.problems,
            verified.sha256,
            "verification failed; the staged copy was removed",
        ));
    }
    let files = ex.files.load(std::sync::atomic::Ordering::Relaxed);
    let app_json = ex.app_json.lock().ok().and_then(|mut g| g.take());
    Ok(Prepared::Ready(Box::new(Ready {
        sha256: verified.sha256,
        manifest,
        changes,
        files,
        app_json,
        dirs,
    })))
}

fn discard(ctx: &Ctx<'_>, dir: &Path) {
    if let Err(e) = extract::remove_tree(dir) {
        ctx.reporter.warn(format!(
            "could not remove the staging tree {}: {e}; the next run removes it",
            dir.display()
        ));
    }
}

fn describe(p: &Problem) -> String {
    match &p.entry {
        Some(e) => format!("{} {e:?}: {}", p.kind, p.detail),
        None => format!("{}: {}", p.kind, p.detail),
    }
}

fn report_refusal(ctx: &Ctx<'_>, problems: &[Problem]) {
    ctx.reporter.error(format!(
        "REFUSED {}: {} problem(s); the live tree {} was not touched",
        ctx.args.backup.display(),
        problems.len(),
        ctx.target.display()
    ));
    for p in problems.iter().take(20) {
        ctx.reporter.info(format!("  {}", describe(p)));
    }
    for p in problems.iter().skip(20) {
        ctx.reporter.detail(format!("  {}", describe(p)));
    }
}

fn refused_record(
    ctx: &Ctx<'_>,
    problems: Vec<Problem>,
    sha256: String,
    reason: String,
) -> RollbackRecord {
    report_refusal(ctx, &problems);
    let mut rec = ctx.record("refused");
    rec.sha256 = sha256;
    rec.reason = Some(reason);
    rec.problems = problems;
    rec.duration_ms = millis(ctx.started.elapsed());
    rec
}

/// The URL the health checks use, or why there is none.
fn health_url(ctx: &Ctx<'_>, app_json: Option<&[u8]>) -> Result<Option<String>, String> {
    if ctx.args.no_health_check {
        return Ok(None);
    }
    if let Some(u) = &ctx.args.health_url {
        return Ok(Some(u.clone()));
    }
    let why = match app_json {
        None => "the backup has no top-level app.json".to_owned(),
        Some(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(e) => format!("the restored app.json does not parse ({e})"),
            Ok(v) => match v.get("health_url").and_then(|u| u.as_str()) {
                Some(u) if !u.trim().is_empty() => return Ok(Some(u.to_owned())),
                _ => "the restored app.json has no health_url".to_owned(),
            },
        },
    };
    Err(format!(
        "{why}, so nothing would prove the service healthy: give --health-url URL, or --no-health-check to restore without a check"
    ))
}

fn fill_changes(rec: &mut RollbackRecord, ready: &Ready) {
    rec.sha256 = ready.sha256.clone();
    rec.added = ready.changes.added.len() as u64;
    rec.changed = ready.changes.changed.len() as u64;
    rec.removed = ready.changes.removed.len() as u64;
}

fn dry_run(ctx: &Ctx<'_>) -> Result<(RollbackRecord, Exit), Error> {
    let rep = &ctx.reporter;
    if swap::read_journal(&ctx.paths).ok().flatten().is_some()
        || !ctx.paths.leftovers().unwrap_or_default().is_empty()
    {
        rep.warn(format!(
            "an interrupted rollback left trees or a journal beside {}; a real run finishes or undoes it first",
            ctx.target.display()
        ));
    }
    let ready = match prepare(ctx, None)? {
        Prepared::Refused {
            problems,
            sha256,
            reason,
        } => return Ok((refused_record(ctx, problems, sha256, reason), Exit::Bad)),
        Prepared::Ready(r) => r,
    };
    let c = &ready.changes;
    for (verb, list) in [
        ("would add", &c.added),
        ("would change", &c.changed),
        ("would remove", &c.removed),
    ] {
        for f in list {
            rep.info(format!("{verb} {f}"));
        }
    }
    let mut rec = ctx.record("checked");
    fill_changes(&mut rec, &ready);
    rec.files_restored = ready.manifest.files.len() as u64;
    rec.duration_ms = millis(ctx.started.elapsed());
    if let Err(why) = health_url(ctx, ready.app_json.as_deref()) {
        rep.error(format!("a real run would refuse: {why}"));
        rec.outcome = "refused".into();
        rec.reason = Some(why);
        return Ok((rec, Exit::Usage));
    }
    rep.info(format!(
        "dry run: {} verified; restoring it into {} would add {}, change {} and remove {} files ({} unchanged); nothing was written",
        ctx.args.backup.display(),
        ctx.target.display(),
        c.added.len(),
        c.changed.len(),
        c.removed.len(),
        c.unchanged
    ));
    Ok((rec, Exit::Success))
}

fn real_run(ctx: &Ctx<'_>) -> Result<(RollbackRecord, Exit), Error> {
    let rep = &ctx.reporter;
    let stamp = file_stamp(SystemTime::now());
    let staging = ctx.paths.staging(&stamp);
    let ready = match prepare(ctx, Some(&staging))? {
        Prepared::Refused {
            problems,
            sha256,
            reason,
        } => return Ok((refused_record(ctx, problems, sha256, reason), Exit::Bad)),
        Prepared::Ready(r) => r,
    };
    let mut rec = ctx.record("success");
    fill_changes(&mut rec, &ready);
    rec.files_restored = ready.files;
    rep.detail(format!(
        "verified {} and staged {} files in {}",
        ctx.args.backup.display(),
        ready.files,
        staging.display()
    ));
    let url = match health_url(ctx, ready.app_json.as_deref()) {
        Ok(u) => u,
        Err(why) => {
            discard(ctx, &staging);
            rep.error(format!("refused: {why}"));
            rec.outcome = "refused".into();
            rec.reason = Some(why);
            rec.files_restored = 0;
            rec.duration_ms = millis(ctx.started.elapsed());
            return Ok((rec, Exit::Usage));
        }
    };

    let old_meta = std::fs::symlink_metadata(&ctx.target).ok();
    if !ctx.args.no_safety_backup && old_meta.is_some() {
        match safety_backup(ctx) {
            Ok(p) => rec.safety_backup = p,
            Err(e) => {
                discard(ctx, &staging);
                return Err(e);
            }
        }
    }
    let root_mode = old_meta.as_ref().map_or(NEW_TARGET_MODE, platform::mode_of);
    let finished = extract::finish_dirs(&staging, &ready.dirs, root_mode)
        .and_then(|()| extract::sync_tree(&staging))
        .and_then(|()| swap::id_of(&staging))
        .and_then(|id| {
            id.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the staging tree vanished"))
        });
    let new_id = match finished {
        Ok(id) => id,
        Err(e) => {
            discard(ctx, &staging);
            return Err(io_err("finish the staging tree", &staging)(e));
        }
    };
    let old_id = swap::id_of(&ctx.target).map_err(io_err("read", &ctx.target))?;
    let mut journal = swap::new_journal(
        ctx.env.as_str(),
        &ctx.paths,
        &rec.backup,
        &ready.sha256,
        &stamp,
        new_id,
        old_id,
    );
    if let Err(e) = swap::write_journal(&ctx.paths, &journal) {
        discard(ctx, &staging);
        return Err(io_err("write the journal", &ctx.paths.journal())(e));
    }
    if let Err(e) = swap::swap_in(&ctx.paths, &journal) {
        let err = io_err("swap in the restored tree at", &ctx.target)(e);
        return Err(undo_after(ctx, &journal, err));
    }
    rep.info(format!(
        "restored {} files from {} into {} (added {}, changed {}, removed {}); the previous tree is kept until the service is healthy",
        ready.files,
        ctx.args.backup.display(),
        ctx.target.display(),
        rec.added,
        rec.changed,
        rec.removed
    ));

    let verdict = prove_healthy(ctx, url.as_deref());
    rec.health = verdict.health.as_ref().map(|h| RollbackHealth {
        checks: h.checks,
        ok: h.ok,
        url: h.url.clone(),
    });
    if let Some(why) = verdict.failure {
        swap::undo(&ctx.paths, &journal).map_err(Error::SwapBack)?;
        let mut again = String::new();
        if let Some(cmd) = &ctx.args.restart_cmd {
            again = match health::restart(cmd, ctx.env.as_str(), &ctx.target) {
                Ok(()) => " and the restart command run again".into(),
                Err(e) => {
                    rep.warn(format!("after putting the previous tree back: {e}"));
                    " (the restart command failed after that: restart the service by hand)".into()
                }
            };
        }
        rep.error(format!(
            "ROLLBACK FAILED: {why}; the previous tree was put back in {}{again}. The backup {} is not a good state to return to; choose another (ls backups/) or follow runbooks/rollback_runbook.md",
            ctx.target.display(),
            ctx.args.backup.display()
        ));
        rec.outcome = "failure".into();
        rec.reason = Some(why);
        rec.duration_ms = millis(ctx.started.elapsed());
        return Ok((rec, Exit::Bad));
    }
    journal.phase = swap::Phase::Healthy;
    if let Err(e) = swap::write_journal(&ctx.paths, &journal) {
        let err = io_err("write the journal", &ctx.paths.journal())(e);
        return Err(undo_after(ctx, &journal, err));
    }
    swap::commit(&ctx.paths, &journal).map_err(|e| Error::Unfinished {
        during: "removing the previous tree".into(),
        journal: ctx.paths.journal(),
        source: Box::new(Error::Recover(e)),
    })?;
    match &rec.health {
        Some(h) => rep.info(format!(
            "healthy: {} consecutive checks of {} passed ({} sent); rollback complete",
            ctx.args.health_checks, h.url, h.checks
        )),
        None => rep.warn(format!(
            "rollback complete WITHOUT a health check (--no-health-check): check {} yourself now",
            ctx.env
        )),
    }
    if let Some(s) = &rec.safety_backup {
        rep.info(format!(
            "safety backup of the tree that was live: {s} (undo: mobius-rollback --env {} --backup {s})",
            ctx.env
        ));
    }
    rec.duration_ms = millis(ctx.started.elapsed());
    Ok((rec, Exit::Success))
}

/// After a failure between the swap and the end: put the old tree back if possible.
fn undo_after(ctx: &Ctx<'_>, journal: &swap::Journal, err: Error) -> Error {
    match swap::undo(&ctx.paths, journal) {
        Ok(()) => {
            ctx.reporter.warn(format!(
                "the previous tree was put back in {}",
                ctx.target.display()
            ));
            err
        }
        Err(e) => {
            ctx.reporter
                .error(format!("putting the previous tree back failed too: {e}"));
            Error::Unfinished {
                during: error_chain(&err),
                journal: ctx.paths.journal(),
                source: Box::new(err),
            }
        }
    }
}

struct Verdict {
    health: Option<health::Health>,
    failure: Option<String>,
}

fn prove_healthy(ctx: &Ctx<'_>, url: Option<&str>) -> Verdict {
    let args = ctx.args;
    if let Some(cmd) = &args.restart_cmd {
        ctx.reporter
            .info(format!("running the restart command: {cmd}"));
        if let Err(e) = health::restart(cmd, ctx.env.as_str(), &ctx.target) {
            return Verdict {
                health: None,
                failure: Some(e),
            };
        }
    }
    let Some(url) = url else {
        return Verdict {
            health: None,
            failure: None,
        };
    };
    ctx.reporter.info(format!(
        "checking {url}: {} consecutive healthy answers needed within {}",
        args.health_checks,
        humantime::format_duration(args.health_timeout)
    ));
    let h = health::check(
        url,
        args.health_checks,
        args.health_timeout,
        args.health_interval,
        &ctx.reporter,
    );
    let failure = (!h.ok).then(|| {
        format!(
            "{url} did not answer healthy {} times in a row within {} ({} checks; last: {})",
            args.health_checks,
            humantime::format_duration(args.health_timeout),
            h.checks,
            h.last_failure.as_deref().unwrap_or("none")
        )
    });
    Verdict {
        health: Some(h),
        failure,
    }
}

/// Step 4: the live tree, backed up by mobius-backup's code under [`SAFETY_BACKUP_NAME`].
fn safety_backup(ctx: &Ctx<'_>) -> Result<Option<String>, Error> {
    let default_target = ctx.target == ctx.root.config_dir(ctx.env);
    let opts = BackupOptions {
        sources: if default_target {
            Vec::new()
        } else {
            vec![ctx.target.clone()]
        },
        out: None,
        name: SAFETY_BACKUP_NAME.to_owned(),
        dry_run: false,
    };
    let quiet = Reporter::new(TOOL, mobius_core::cli::Verbosity::Quiet);
    let rec = match mobius_backup::create_backup(&ctx.root, ctx.env, &opts, &quiet) {
        Ok(r) => r,
        Err(mobius_backup::Error::EmptySource { .. }) => {
            ctx.reporter.warn(format!(
                "no safety backup: {} holds no files",
                ctx.target.display()
            ));
            return Ok(None);
        }
        Err(e) => return Err(Error::SafetyBackup(e)),
    };
    ctx.reporter
        .info(format!("safety backup of the live tree: {}", rec.path));
    let appended = history::append(
        &ctx.root,
        ctx.env,
        "backup",
        "success",
        json!({
            "path": rec.path,
            "sha256": rec.sha256,
            "files": rec.files,
            "bytes": rec.bytes_in,
            "purpose": "safety backup before rollback",
        }),
    )?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    let dir = opts.out_dir(&ctx.root);
    if let Err(e) =
        mobius_backup::apply_retention(&dir, SAFETY_BACKUP_NAME, ctx.env, SAFETY_KEEP, false)
    {
        ctx.reporter.warn(format!(
            "old safety backups were not pruned: {}",
            error_chain(&e)
        ));
    }
    Ok(Some(rec.path))
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
