//! What a backup is on disk, shared by backup, verify, rollback and export: the file name
//! `<name>_<env>_<stamp>.zip` with its `.zip.sha256` sidecar, the manifest inside the zip, and
//! the retention rule (keep the newest N complete backups of one name and env).

use crate::env::EnvName;
use crate::time::{is_file_stamp, parse_file_stamp};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The manifest's name inside every backup zip.
pub const MANIFEST_NAME: &str = "MOBIUS-MANIFEST.json";
/// The manifest's `format` value; bumped only for incompatible changes.
pub const MANIFEST_FORMAT: &str = "mobius-backup/1";
pub const DEFAULT_NAME: &str = "dhash";
pub const SIDECAR_SUFFIX: &str = ".sha256";

/// One archived file as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside the zip, `/`-separated, relative to the source.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Unix permission bits (e.g. 0o644 as 420).
    pub mode: u32,
}

/// `MOBIUS-MANIFEST.json`: what the backup holds and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub env: String,
    pub name: String,
    pub created: String,
    pub host: String,
    pub user: String,
    pub tool: String,
    pub tool_version: String,
    pub sources: Vec<String>,
    pub files: Vec<ManifestFile>,
    /// Directories stored as zip directory entries (`a/b/`), so empty ones come back on restore.
    #[serde(default)]
    pub dirs: Vec<String>,
}

/// The parts of a backup file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    pub name: String,
    pub env: String,
    pub stamp: String,
}

impl BackupName {
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.zip", self.name, self.env, self.stamp)
    }

    pub fn time(&self) -> Option<SystemTime> {
        parse_file_stamp(&self.stamp)
    }

    /// Parses `file` as a backup of exactly this `name` and `env`. Strict: `production-eu`
    /// is not `production`, and `prod_eu_<stamp>` is not `prod` (its rest is not a stamp).
    pub fn parse_for(file: &str, name: &str, env: &str) -> Option<BackupName> {
        let rest = file.strip_prefix(name)?.strip_prefix('_')?;
        let rest = rest.strip_prefix(env)?.strip_prefix('_')?;
        let stamp = rest.strip_suffix(".zip")?;
        is_file_stamp(stamp).then(|| BackupName {
            name: name.to_owned(),
            env: env.to_owned(),
            stamp: stamp.to_owned(),
        })
    }

    /// Parses any backup file name when name and env are unknown. The stamp is the last
    /// `_` field; name and env are split at the first `_` (names with `_` are ambiguous, and
    /// callers that know them use [`BackupName::parse_for`]).
    pub fn parse(file: &str) -> Option<BackupName> {
        let base = file.strip_suffix(".zip")?;
        let (head, stamp) = base.rsplit_once('_')?;
        let (name, env) = head.split_once('_')?;
        if !is_file_stamp(stamp) || name.is_empty() || EnvName::parse(env).is_err() {
            return None;
        }
        Some(BackupName {
            name: name.to_owned(),
            env: env.to_owned(),
            stamp: stamp.to_owned(),
        })
    }
}

/// The sidecar path of a zip: `X.zip` → `X.zip.sha256`.
pub fn sidecar_path(zip: &Path) -> PathBuf {
    let mut s = zip.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

/// A backup found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBackup {
    pub path: PathBuf,
    pub name: BackupName,
    /// A zip without its sidecar is incomplete (a crash between the two renames, or tampering).
    pub has_sidecar: bool,
}

/// The backups of `name` and `env` in `dir`, oldest first. Temporary files and anything not
/// named exactly like such a backup are ignored. A missing directory is an empty list.
pub fn list_backups(dir: &Path, name: &str, env: &EnvName) -> io::Result<Vec<FoundBackup>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if let Some(bn) = BackupName::parse_for(file, name, env.as_str()) {
            let path = entry.path();
            let has_sidecar = sidecar_path(&path).is_file();
            found.push(FoundBackup {
                path,
                name: bn,
                has_sidecar,
            });
        }
    }
    found.sort_by(|a, b| a.name.stamp.cmp(&b.name.stamp));
    Ok(found)
}

/// The newest complete backup (zip and sidecar) of `name` and `env`, if any.
pub fn latest_backup(dir: &Path, name: &str, env: &EnvName) -> io::Result<Option<FoundBackup>> {
    Ok(list_backups(dir, name, env)?
        .into_iter()
        .rev()
        .find(|b| b.has_sidecar))
}

/// Which backups retention removes: all complete backups but the newest `keep`. Incomplete
/// ones (no sidecar) are left for an operator to look at; they are not counted as kept.
pub fn retention_victims(found: &[FoundBackup], keep: usize) -> Vec<FoundBackup> {
    let complete: Vec<&FoundBackup> = found.iter().filter(|b| b.has_sidecar).collect();
    let excess = complete.len().saturating_sub(keep);
    complete.into_iter().take(excess).cloned().collect()
}

/// Removes a backup's zip and sidecar (sidecar first, so a crash in between leaves an
/// incomplete backup, never a sidecar without its zip).
pub fn remove_backup(b: &FoundBackup) -> io::Result<()> {
    match fs::remove_file(sidecar_path(&b.path)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::remove_file(&b.path)
}

/// True for a zip entry name that must never be written to disk as is: absolute, with a `..`
/// component, a backslash, a drive letter or other `:`, a NUL, an empty component, or a
/// Windows reserved device name. Shared by verify (to report) and rollback (to refuse).
pub fn unsafe_entry_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("contains a NUL byte");
    }
    if name.contains('\\') {
        return Some("contains a backslash");
    }
    if name.contains(':') {
        return Some("contains ':' (drive letter or stream name)");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for comp in trimmed.split('/') {
        if comp.is_empty() {
            return Some("empty path component");
        }
        if comp == ".." {
            return Some("contains a '..' component");
        }
        if comp == "." {
            return Some("contains a '.' component");
        }
        if is_windows_reserved(comp) {
            return Some("Windows reserved device name");
        }
    }
    None
}

/// The longest name one path component may have here (`NAME_MAX`), in bytes.
#[cfg(unix)]
pub const NAME_MAX: usize = libc::NAME_MAX as usize;
#[cfg(not(unix))]
pub const NAME_MAX: usize = 255;

/// The longest path (its terminating NUL included) the system calls accept (`PATH_MAX`).
#[cfg(unix)]
pub const PATH_MAX: usize = libc::PATH_MAX as usize;
#[cfg(not(unix))]
pub const PATH_MAX: usize = 260;

/// Bytes of a path kept for the directory a restore writes an entry into (the target's real
/// path, its staging name `.<name>.rollback-<stamp>.staging/` and a source folder): an entry
/// name longer than `PATH_MAX - STAGING_RESERVE` cannot be restored under any plausible
/// target, so backup refuses to write it and verify refuses to pass it. A rollback checks
/// the real staging path as well ([`path_fits`]).
pub const STAGING_RESERVE: usize = PATH_MAX / 4;

/// Why a restore could not create `name` (a relative entry name, `/`-separated) on this
/// system, though the name is safe: a control character (0x01-0x1f, 0x7f; NUL is
/// [`unsafe_entry_name`]'s), a component longer than [`NAME_MAX`] bytes, or a path longer
/// than `PATH_MAX - STAGING_RESERVE`.
pub fn unrestorable_entry_name(name: &str) -> Option<String> {
    if let Some(c) = name.chars().find(|c| c.is_ascii_control() && *c != '\0') {
        return Some(format!("contains the control character 0x{:02x}", c as u32));
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if let Some(comp) = trimmed.split('/').find(|c| c.len() > NAME_MAX) {
        return Some(format!(
            "a component of {} bytes, more than the {NAME_MAX} a file name may have",
            comp.len()
        ));
    }
    let max = PATH_MAX - STAGING_RESERVE;
    if name.len() > max {
        return Some(format!(
            "{} bytes long, more than the {max} a restored path may have here (PATH_MAX {PATH_MAX} less {STAGING_RESERVE} for the target and staging directory)",
            name.len()
        ));
    }
    None
}

/// Whether `dir` joined with the relative `name` (and a terminating NUL) stays within
/// [`PATH_MAX`], measured both as given and from `dir`'s real path (whichever is longer).
pub fn path_fits(dir: &Path, name: &str) -> bool {
    let given = dir.as_os_str().len();
    let real = real_len(dir).unwrap_or(given);
    given.max(real) + 1 + name.len() < PATH_MAX
}

/// The length of `dir`'s real path; of its nearest existing ancestor's plus the rest when
/// `dir` does not exist yet (a staging directory is created later).
fn real_len(dir: &Path) -> Option<usize> {
    let mut rest = 0usize;
    let mut cur = dir;
    loop {
        if let Ok(real) = std::fs::canonicalize(cur) {
            return Some(real.as_os_str().len() + rest);
        }
        rest += cur.file_name()?.len() + 1;
        cur = cur.parent()?;
    }
}

fn is_windows_reserved(comp: &str) -> bool {
    let stem = comp
        .split('.')
        .next()
        .unwrap_or(comp)
        .trim_end()
        .to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit()
            && stem.as_bytes()[3] != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_restore_cannot_create_are_named() {
        assert_eq!(unrestorable_entry_name("a/b c/\u{fc}.json"), None);
        assert!(unrestorable_entry_name("a\nb").unwrap().contains("0x0a"));
        assert!(unrestorable_entry_name("x\x7f/").unwrap().contains("0x7f"));
        let long = "n".repeat(NAME_MAX + 1);
        assert!(unrestorable_entry_name(&format!("d/{long}"))
            .unwrap()
            .contains("component"));
        assert_eq!(unrestorable_entry_name(&"n".repeat(NAME_MAX)), None);
        let deep = vec!["d".repeat(200); PATH_MAX / 201].join("/");
        assert!(unrestorable_entry_name(&deep).unwrap().contains("PATH_MAX"));
        let dir = tempfile::tempdir().unwrap();
        assert!(path_fits(&dir.path().join("not-yet/staging"), "a/b"));
        assert!(!path_fits(dir.path(), &"d/".repeat(PATH_MAX / 2)));
    }

    const S1: &str = "20261126T120000.000Z";
    const S2: &str = "20261126T120000.001Z";

    #[test]
    fn parse_for_is_strict_about_env() {
        let f = format!("dhash_production_{S1}.zip");
        assert!(BackupName::parse_for(&f, "dhash", "production").is_some());
        assert!(BackupName::parse_for(
            &format!("dhash_production-eu_{S1}.zip"),
            "dhash",
            "production"
        )
        .is_none());
        assert!(
            BackupName::parse_for(&format!("dhash_prod_eu_{S1}.zip"), "dhash", "prod").is_none()
        );
        assert!(
            BackupName::parse_for(&format!("dhash_prod_eu_{S1}.zip"), "dhash", "prod_eu").is_some()
        );
        assert!(BackupName::parse_for(
            &format!(".dhash_production_{S1}.zip.tmp-1-0"),
            "dhash",
            "production"
        )
        .is_none());
        assert!(BackupName::parse_for(
            &format!("dhash_production_{S1}.zip.sha256"),
            "dhash",
            "production"
        )
        .is_none());
    }

    #[test]
    fn parse_any_name() {
        let b = BackupName::parse(&format!("dhash_staging_{S2}.zip")).unwrap();
        assert_eq!(
            (b.name.as_str(), b.env.as_str(), b.stamp.as_str()),
            ("dhash", "staging", S2)
        );
        assert_eq!(b.file_name(), format!("dhash_staging_{S2}.zip"));
    }

    #[test]
    fn retention_keeps_newest_complete() {
        let mk = |stamp: &str, side: bool| FoundBackup {
            path: PathBuf::from(stamp),
            name: BackupName {
                name: "dhash".into(),
                env: "p".into(),
                stamp: stamp.into(),
            },
            has_sidecar: side,
        };
        let found = vec![
            mk("20260101T000000.000Z", true),
            mk("20260102T000000.000Z", false),
            mk("20260103T000000.000Z", true),
            mk("20260104T000000.000Z", true),
        ];
        let v = retention_victims(&found, 2);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name.stamp, "20260101T000000.000Z");
        assert!(retention_victims(&found, 10).is_empty());
    }

    #[test]
    fn unsafe_names() {
        for bad in [
            "../x",
            "/etc/x",
            "C:\\x",
            "C:/x",
            "a/../../x",
            "a\\b",
            "CON",
            "dir/nul.txt",
            "com1",
            "a//b",
            "",
            "x\0y",
            "./a",
        ] {
            assert!(unsafe_entry_name(bad).is_some(), "{bad:?}");
        }
        for ok in [
            "app.json",
            "a/b/c.txt",
            "dir/",
            "console.json",
            "com0",
            "my file ü.txt",
        ] {
            assert_eq!(unsafe_entry_name(ok), None, "{ok:?}");
        }
    }
}
