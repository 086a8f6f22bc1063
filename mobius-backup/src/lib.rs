//! mobius-backup: a crash-safe, SHA-256-verified zip of an environment's configuration (and
//! whatever else it declares: the release directory the service runs from).
//!
//! `mobius-backup --env production` archives the `backup_sources` declared in
//! `config/production/app.json` (default: `config/production/` alone) into
//! `backups/dhash_production_<UTC stamp>.zip`, writes the `sha256sum`-compatible sidecar
//! `<that>.zip.sha256`, keeps the newest `--keep` backups of that name and env, appends a
//! `backup` event to `history/production.jsonl` and prints one `backup` record:
//!
//! ```text
//! {"type":"backup","env":"production","path":"backups/dhash_production_20261126T120000.123Z.zip","sha256":"9f2c…","files":12,"bytes_in":48213,"bytes_out":9120,"duration_ms":15,"deleted":["backups/dhash_production_20261116T120000.000Z.zip"],"dry_run":false}
//! ```
//!
//! Other tools use the library: rollback takes a safety backup with [`create_backup`] while it
//! holds the environment lock; export prunes with [`apply_retention`].
//!
//! Guarantees: the zip is written under a temporary name and renamed only when complete and
//! synced, then the sidecar is written the same way, so `kill -9` at any moment leaves either
//! nothing, a complete zip without sidecar (an incomplete backup for every tool), or a
//! complete backup. Both files are mode 0600 whatever the umask. Memory does not grow with
//! the number of files beyond 32 bytes and the name of each (see `walk`, `zipout`, `manifest`).

mod archive;
mod hashing;
mod manifest;
mod walk;

use clap::Parser;
use mobius_core::app_config::{app_json_path, AppConfig, AppConfigError};
use mobius_core::atomic::{is_temp_name, sync_dir, AtomicFile};
use mobius_core::backups::{
    list_backups, remove_backup, retention_victims, sidecar_path, BackupName, DEFAULT_NAME,
    MANIFEST_FORMAT, MANIFEST_NAME,
};
use mobius_core::cli::{CommonArgs, EnvArg, Reporter};
use mobius_core::digest::{hex, sha256_file, write_sidecar};
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::history::{self, HistoryError};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::lock::{EnvLock, LockError};
use mobius_core::platform;
use mobius_core::records::{BackupRecord, Record};
use mobius_core::text::escape_path;
use mobius_core::time::{file_stamp, millis, parse_file_stamp, rfc3339, unique_file_stamp};
use mobius_core::zipout::{self, Spill, ZipOut};
use mobius_core::{EnvName, Exit, Root, ToolError};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use walk::Source;

const TOOL: &str = "mobius-backup";

const LONG_ABOUT: &str = "\
Back up an environment's configuration into a verified zip.

Archives the sources declared as backup_sources in config/<env>/app.json (paths relative to
the root, or absolute; without the file or the key: config/<env>/ alone), or each --source
instead, into <out>/<name>_<env>_<UTC stamp>.zip with a
manifest (MOBIUS-MANIFEST.json: every file's path, size, SHA-256 and mode), writes the
sha256sum-compatible sidecar <zip>.sha256, keeps the newest --keep backups of that name and
env, appends a `backup` event to history/<env>.jsonl and prints one JSON line on stdout:

  {\"type\":\"backup\",\"env\":\"production\",\"path\":\"backups/dhash_production_20261126T120000.123Z.zip\",
   \"sha256\":\"…\",\"files\":12,\"bytes_in\":48213,\"bytes_out\":9120,\"duration_ms\":15,
   \"deleted\":[…],\"dry_run\":false}

Check a backup without any MOBIUS tool, from the root: sha256sum -c backups/<zip>.sha256
(a copy moved elsewhere: cd DIR && sed 's#  .*/#  #' <zip>.sha256 | sha256sum -c)

Refused (exit 4, nothing written): a missing source, a source without any file, special
files (FIFO, socket, device), unreadable files, file names a restore would refuse or could
not create (control characters, a component over NAME_MAX, a path near PATH_MAX), and
symlinks that point outside the source, to a directory, or nowhere. A symlink to a regular
file inside the source is archived as that file's content (it comes back as a plain file).
Another run holding the environment's lock also fails at once with exit 4, naming it.";

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-backup",
    version,
    about = "Back up an environment's configuration into a verified zip",
    long_about = LONG_ABOUT,
    after_help = EXIT_CODE_HELP
)]
pub struct Args {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to archive, a directory or a file; repeatable. Relative paths are relative to
    /// the root. With several sources each goes under its base name in the zip.
    /// [default: backup_sources in config/<env>/app.json, else config/<env>/]
    #[arg(long = "source", value_name = "PATH")]
    pub sources: Vec<PathBuf>,
    /// Directory the backups go to; a relative one is relative to the root [default: <root>/backups]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Backup name, the first part of the file name (letters, digits, '-')
    #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME, value_parser = parse_name)]
    pub name: String,
    /// How many backups of this name and env to keep (older complete ones are deleted)
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_keep)]
    pub keep: usize,
}

/// What [`create_backup`] archives and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOptions {
    /// Directories or files; relative ones are relative to the root. Empty: the
    /// `backup_sources` of `config/<env>/app.json`, else `config/<env>/`.
    pub sources: Vec<PathBuf>,
    /// Output directory; `None`: `<root>/backups`.
    pub out: Option<PathBuf>,
    /// The backup name (`dhash`).
    pub name: String,
    /// Check and report what would be archived; write nothing.
    pub dry_run: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            sources: Vec::new(),
            out: None,
            name: DEFAULT_NAME.to_owned(),
            dry_run: false,
        }
    }
}

impl BackupOptions {
    /// The directory the backups go to.
    pub fn out_dir(&self, root: &Root) -> PathBuf {
        match &self.out {
            // Relative to the root, like --source: one base for every path a user names.
            Some(dir) => root.dir().join(dir),
            None => root.backups_dir(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("source {} does not exist; {}", .path.display(), check_hint(.declared_in.as_deref()))]
    SourceMissing {
        path: PathBuf,
        declared_in: Option<String>,
    },
    #[error("{path} does not parse: {msg}; fix it, or give --source")]
    AppConfig { path: String, msg: String },
    #[error("{path}: backup_sources {why}")]
    BadDeclaration { path: String, why: String },
    #[error("source {} holds no files, so there is nothing to back up; {}", .path.display(), check_hint(.declared_in.as_deref()))]
    EmptySource {
        path: PathBuf,
        declared_in: Option<String>,
    },
    #[error("refusing to back up {}: {why}; no backup was written", escape_path(.path))]
    Refused { path: PathBuf, why: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot {action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the backup is complete, but it could not be recorded in the history")]
    History(#[from] HistoryError),
    #[error("cannot write the record to stdout")]
    Output(#[source] io::Error),
    #[error("internal error: {what}")]
    Internal { what: &'static str },
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

/// Where to look when a source is missing or empty: the declaration it came from, or the flags.
fn check_hint(declared_in: Option<&str>) -> String {
    match declared_in {
        Some(app) => {
            format!("it is declared in backup_sources of {app}; create it or fix the declaration")
        }
        None => "check --root, --env and --source".to_owned(),
    }
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::AppConfig { .. } | Error::BadDeclaration { .. } => Exit::Malformed,
            Error::SourceMissing { .. }
            | Error::EmptySource { .. }
            | Error::Refused { .. }
            | Error::Lock(_)
            | Error::Io { .. }
            | Error::History(_)
            | Error::Output(_)
            | Error::Internal { .. } => Exit::Runtime,
        }
    }
}

/// A backup name becomes the first `_`-separated part of file names, so it may not contain
/// `_` (nor anything a shell or a path would misread).
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid backup name {s:?}: use 1-32 letters, digits and '-', starting with a letter or digit"
        ))
    }
}

fn parse_keep(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "--keep must be a whole number of at least 1 (the backup just made is always kept), not {s:?}"
        )),
    }
}

/// The whole command: takes the environment lock (failing at once if another run holds
/// it), creates the backup, applies retention, records the event and prints the record.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let root = args.common.root();
    let env = &args.env.env;
    let reporter = args.common.reporter(TOOL);
    let opts = BackupOptions {
        sources: args.sources.clone(),
        out: args.out.clone(),
        name: args.name.clone(),
        dry_run: args.common.dry_run,
    };
    let keep = args.keep;
    // A dry run changes nothing, so it neither needs the lock nor creates locks/.
    let _lock = if opts.dry_run {
        None
    } else {
        history::check_writable(&root, env)?;
        Some(EnvLock::acquire(&root, env, TOOL, Duration::ZERO)?)
    };
    let mut record = create_backup(&root, env, &opts, &reporter)?;

    // In a dry run the new backup does not exist yet, so one fewer old one survives.
    let dir = opts.out_dir(&root);
    let keep_old = if opts.dry_run { keep - 1 } else { keep };
    let mut exit = Exit::Success;
    match apply_retention(&dir, &opts.name, env, keep_old, opts.dry_run) {
        Ok(deleted) => {
            for p in &deleted {
                let verb = if opts.dry_run {
                    "would delete"
                } else {
                    "deleted"
                };
                reporter.info(format!("{verb} old backup {}", shown(p)));
            }
            record.deleted = deleted.iter().map(|p| shown(p)).collect();
        }
        Err(e) => {
            reporter.warn(format!(
                "the backup is complete, but old backups were not removed: {}",
                error_chain(&e)
            ));
            exit = Exit::Runtime;
        }
    }

    if !opts.dry_run {
        let details = serde_json::json!({
            "path": record.path,
            "sha256": record.sha256,
            "files": record.files,
            "bytes": record.bytes_in,
            "bytes_out": record.bytes_out,
            "deleted": record.deleted,
        });
        let appended = history::append(&root, env, "backup", "success", details)?;
        for w in appended.warnings {
            reporter.warn(w);
        }
        reporter.info(format!(
            "backed up {} ({}) to {} ({}, {} ms)",
            mobius_core::text::plural(record.files, "file"),
            human_bytes(record.bytes_in),
            record.path,
            human_bytes(record.bytes_out),
            record.duration_ms
        ));
    }
    JsonlWriter::new(out)
        .write(&Record::Backup(record))
        .map_err(Error::Output)?;
    Ok(exit)
}

/// Creates one backup of `env` and returns its record (with `deleted` empty). Does not take
/// the environment lock, which the caller must hold, and does not apply retention.
///
/// With `opts.dry_run`, checks everything a real run checks (sources, file types, names,
/// readability), reports on stderr what would be archived, and writes nothing.
pub fn create_backup(
    root: &Root,
    env: &EnvName,
    opts: &BackupOptions,
    reporter: &Reporter,
) -> Result<BackupRecord, Error> {
    let started = Instant::now();
    parse_name(&opts.name).map_err(Error::Usage)?;
    let sources = resolve_sources(root, env, &opts.sources)?;
    let out_dir = opts.out_dir(root);
    let skip = fs::metadata(&out_dir)
        .ok()
        .and_then(|m| platform::file_id(&out_dir, &m));
    let items = walk::collect(&sources, skip.as_ref())?;
    let walked = started.elapsed();
    let files = items.all().iter().filter(|i| !i.is_dir()).count() as u64;
    let bytes_in: u64 = items.all().iter().map(walk::Item::size).sum();
    warn_stale_temp_files(&out_dir, &opts.name, env, reporter);

    let (stamp, file_name) = choose_stamp(&out_dir, &opts.name, env, reporter)?;
    let dest = out_dir.join(&file_name);
    let sources_shown: Vec<String> = sources.iter().map(|s| s.shown.clone()).collect();

    if opts.dry_run {
        for item in items.all().iter().filter(|i| !i.is_dir()) {
            archive::open_source(&items.path(item), item.via_link())?;
        }
        for item in items.all() {
            reporter.detail(format!("would archive {}", items.name(item)));
        }
        reporter.info(format!(
            "dry run: would archive {} ({}) from {} into {}",
            mobius_core::text::plural(files, "file"),
            human_bytes(bytes_in),
            sources_shown.join(", "),
            shown(&dest)
        ));
        return Ok(BackupRecord {
            env: env.to_string(),
            path: shown(&dest),
            sha256: String::new(),
            files,
            bytes_in,
            bytes_out: 0,
            duration_ms: millis(started.elapsed()),
            deleted: Vec::new(),
            dry_run: true,
        });
    }

    // Backups hold secrets: a directory we create is private to the owner.
    platform::dir_builder(0o700)
        .recursive(true)
        .create(&out_dir)
        .map_err(|e| Error::io("create the backup directory", &out_dir, e))?;
    let created = parse_file_stamp(&stamp).unwrap_or_else(SystemTime::now);
    let tmp =
        AtomicFile::create(&dest, 0o600).map_err(|e| Error::io("create a file in", &out_dir, e))?;
    let tmp_path = tmp.temp_path().to_path_buf();
    let spill_err = |e| Error::io("create a temporary file in", &out_dir, e);
    let mut zip = ZipOut::new(
        BufWriter::with_capacity(1 << 20, hashing::HashSeekWriter::new(tmp)),
        Spill::create(&dest, "central").map_err(spill_err)?,
    );
    let mut rows = Spill::create(&dest, "rows").map_err(spill_err)?;
    let written = archive::write_entries(&mut zip, &items, &mut rows, reporter)?;
    let archived = started.elapsed();
    let actor = history::actor();
    let created_text = rfc3339(created);
    let header = manifest::Header {
        format: MANIFEST_FORMAT,
        env: env.as_str(),
        name: &opts.name,
        created: &created_text,
        host: &actor.host,
        user: &actor.user,
        tool: TOOL,
        tool_version: mobius_core::VERSION,
        sources: &sources_shown,
    };
    // The manifest of a large tree is tens of MB of JSON: it is deflated as it is serialized
    // into a spill file, then copied in with its sizes known (no header to patch, so the
    // running SHA-256 of the zip stays valid).
    let mut packed = Spill::create(&dest, "manifest").map_err(spill_err)?;
    let manifest_err = |e| Error::io("write", Path::new(MANIFEST_NAME), e);
    let mut deflate = mobius_core::deflate::DeflateTo::new(&mut packed, archive::LEVEL);
    let rows_in = rows.reader().map_err(manifest_err)?;
    manifest::write(&mut deflate, &header, &items, rows_in).map_err(manifest_err)?;
    deflate.finish().map_err(manifest_err)?;
    let head = zipout::Head {
        name: MANIFEST_NAME,
        dir: false,
        method: zipout::METHOD_DEFLATED,
        crc: deflate.crc.clone().finalize(),
        compressed: deflate.compressed,
        size: deflate.size,
        mtime: zipout::unix_secs(Some(created)),
        mode: 0o600,
    };
    drop(rows);
    drop(items);
    zip.add_reader(&head, &mut packed.reader().map_err(manifest_err)?)
        .map_err(manifest_err)?;
    drop(packed);
    let (tmp, digest) = zip
        .finish()
        .map_err(|e| Error::io("write", &tmp_path, e))?
        .into_inner()
        .map_err(|e| Error::io("write", &tmp_path, e.into_error()))?
        .finish()
        .map_err(|e| Error::io("write", &tmp_path, e))?;
    let finished = started.elapsed();
    let (sha256, bytes_out) = match digest {
        Some((d, n)) => (hex(&d), n),
        // A header was patched after it was hashed: hash the finished file instead.
        None => sha256_file(&tmp_path).map_err(|e| Error::io("read", &tmp_path, e))?,
    };
    let hashed = started.elapsed();
    tmp.commit()
        .map_err(|e| Error::io("commit the backup", &dest, e))?;
    reporter.detail(format!(
        "timings: walk {} ms, entries {} ms, manifest {} ms, sha256 {} ms, sync+rename {} ms",
        millis(walked),
        millis(archived - walked),
        millis(finished - archived),
        millis(hashed - finished),
        millis(started.elapsed() - hashed)
    ));
    let sidecar = sidecar_path(&dest);
    match write_sidecar(&dest, &sha256) {
        Ok(w) => w.report(reporter),
        Err(e) => {
            // Without its sidecar the zip is an incomplete backup; do not leave one behind.
            let _ = fs::remove_file(&dest);
            return Err(Error::io("write the checksum file", &sidecar, e));
        }
    }
    Ok(BackupRecord {
        env: env.to_string(),
        path: shown(&dest),
        sha256,
        files: written.files,
        bytes_in: written.bytes_in,
        bytes_out,
        duration_ms: millis(started.elapsed()),
        deleted: Vec::new(),
        dry_run: false,
    })
}

/// Keeps the newest `keep` complete backups of `name` and `env` in `dir` and deletes the
/// older ones (zip and sidecar), returning the zips deleted — or, with `dry_run`, the ones
/// that would be, judged on what is on disk now. Nothing else is touched: other names, other
/// envs (`production-eu` is not `production`), incomplete backups, temporary and unrelated
/// files.
pub fn apply_retention(
    dir: &Path,
    name: &str,
    env: &EnvName,
    keep: usize,
    dry_run: bool,
) -> Result<Vec<PathBuf>, Error> {
    let found = list_backups(dir, name, env).map_err(|e| Error::io("list", dir, e))?;
    let mut deleted = Vec::new();
    for victim in retention_victims(&found, keep) {
        if !dry_run {
            remove_backup(&victim).map_err(|e| Error::io("delete", &victim.path, e))?;
        }
        deleted.push(victim.path);
    }
    if !dry_run && !deleted.is_empty() {
        sync_dir(dir).map_err(|e| Error::io("sync", dir, e))?;
    }
    Ok(deleted)
}

/// The sources to archive: the `--source` paths when given; otherwise the `backup_sources`
/// declared in `config/<env>/app.json`, so backup.sh, rollback's safety backup and every other
/// caller archive the same set; `config/<env>` alone when the file or the key is absent.
fn resolve_sources(root: &Root, env: &EnvName, given: &[PathBuf]) -> Result<Vec<Source>, Error> {
    if !given.is_empty() {
        return Ok(given
            .iter()
            .map(|p| Source {
                shown: p.display().to_string(),
                path: if p.is_absolute() {
                    p.clone()
                } else {
                    root.dir().join(p)
                },
                declared_in: None,
            })
            .collect());
    }
    let app = match AppConfig::load(root, env) {
        Ok(app) => app,
        Err(AppConfigError::Parse { path, msg }) => {
            return Err(Error::AppConfig {
                path: shown_under(root, &path),
                msg,
            })
        }
        Err(AppConfigError::Read { path, source }) => return Err(Error::io("read", &path, source)),
    };
    let declared_in = app
        .as_ref()
        .and_then(|a| a.backup_sources.as_ref())
        .map(|_| shown_under(root, &app_json_path(root, env)));
    Ok(app
        .unwrap_or_default()
        .sources(root, env)
        .into_iter()
        .map(|d| Source {
            shown: d.shown,
            path: d.path,
            declared_in: declared_in.clone(),
        })
        .collect())
}

/// A path under the root as the operator knows it (`config/prod/app.json`), else as is.
fn shown_under(root: &Root, p: &Path) -> String {
    shown(p.strip_prefix(root.dir()).unwrap_or(p))
}

/// Picks the stamp: now, unless the newest existing backup is not older (a clock set back),
/// in which case just after it, so the newest file name is always the newest backup and
/// retention never deletes the backup just made. Unique even for two runs in one second.
fn choose_stamp(
    dir: &Path,
    name: &str,
    env: &EnvName,
    reporter: &Reporter,
) -> Result<(String, String), Error> {
    let mut now = SystemTime::now();
    let existing = list_backups(dir, name, env).map_err(|e| Error::io("list", dir, e))?;
    if let Some(newest) = existing.last().and_then(|b| b.name.time()) {
        if newest >= now {
            reporter.warn(format!(
                "the newest backup ({}) is not older than the clock ({}); naming this one after it",
                file_stamp(newest),
                file_stamp(now)
            ));
            now = newest + Duration::from_millis(1);
        }
    }
    let file_for = |stamp: &str| {
        BackupName {
            name: name.to_owned(),
            env: env.to_string(),
            stamp: stamp.to_owned(),
        }
        .file_name()
    };
    let stamp = unique_file_stamp(now, |s| {
        let p = dir.join(file_for(s));
        p.exists() || sidecar_path(&p).exists()
    });
    let file = file_for(&stamp);
    Ok((stamp, file))
}

/// Temporary files of this name and env are left only by a run that was killed. Retention
/// never deletes them (they are not backups), but the operator should know they take space.
fn warn_stale_temp_files(dir: &Path, name: &str, env: &EnvName, reporter: &Reporter) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}_{env}_");
    let mut count = 0u64;
    let mut bytes = 0u64;
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let ours = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.get(..20))
            .is_some_and(mobius_core::time::is_file_stamp);
        if ours && is_temp_name(file) {
            count += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    if count > 0 {
        reporter.warn(format!(
            "{} ({}) left in {} by interrupted backups (.{name}_{env}_*.tmp-*); remove them when no backup is running",
            mobius_core::text::plural(count, "temporary file"),
            human_bytes(bytes),
            shown(dir)
        ));
    }
}

/// A path as shown to people and in records: without a leading `./`.
fn shown(p: &Path) -> String {
    let mut comps = p.components().peekable();
    while comps.peek() == Some(&Component::CurDir) && comps.clone().count() > 1 {
        comps.next();
    }
    comps.collect::<PathBuf>().display().to_string()
}

fn human_bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{} MB", n >> 20)
    } else if n >= 10 << 10 {
        format!("{} KB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cur = c.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn names_with_underscores_or_slashes_are_refused() {
        assert!(parse_name("dhash").is_ok());
        assert!(parse_name("web-2").is_ok());
        for bad in ["", "a_b", "../x", "-x", "a b", &"a".repeat(33)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shown_paths_lose_a_leading_dot() {
        #[cfg(unix)]
        {
            assert_eq!(shown(Path::new("./backups/x.zip")), "backups/x.zip");
            assert_eq!(shown(Path::new("/tmp/x.zip")), "/tmp/x.zip");
        }
        // Windows shows its own separator.
        #[cfg(not(unix))]
        assert_eq!(shown(Path::new(r".\backups\x.zip")), r"backups\x.zip");
        assert_eq!(shown(Path::new(".")), ".");
    }

    #[test]
    fn keep_zero_is_a_usage_error() {
        let e = Args::try_parse_from(["mobius-backup", "--env", "prod", "--keep", "0"]);
        assert!(e.is_err());
    }
}

mobius_core::help_fits_test!(Args);
