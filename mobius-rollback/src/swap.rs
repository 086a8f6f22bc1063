//! Putting the staged tree in place atomically, putting the old one back, and finishing
//! what a killed run left behind.
//!
//! All names live in the target's parent directory (same file system, so renames are
//! atomic), next to `<parent>/<name>`:
//!
//! - `.<name>.rollback-<stamp>.staging`: the tree being extracted;
//! - `.<name>.rollback-<stamp>.previous`: the tree that was live, kept until the health
//!   checks pass;
//! - `.<name>.rollback-<stamp>.discard`: a tree on its way out;
//! - `.<name>.rollback.journal`: written (atomically, synced) once the staged tree is
//!   complete and synced, before the swap; says which directory (device and inode) is the
//!   old tree and which the restored one, and whether the health checks passed.
//!
//! The swap is one `renameat2(RENAME_EXCHANGE)` of staging and target: there is no moment
//! when the target is missing or mixed. Where the file system does not support it (or the
//! system: `renameat2` is Linux's), the fallback is two renames (target → previous,
//! staging → target), with a window of microseconds in which the target does not exist; a
//! crash inside it leaves both trees, whole, and the journal, and the next run puts the old
//! tree back.
//!
//! Recovery (every real run, under the environment lock, before anything else): with a
//! journal, trees are found by inode, never by name. Health confirmed: the restored tree
//! stays and the old one is removed. Not confirmed: the old tree is put back (the
//! interrupted run did not prove the restored one) and the restored one removed. Without a
//! journal, leftovers are staging trees of a run killed before its swap and are removed:
//! the target was never touched.
//!
//! Without inodes (Windows: std offers no stable file index there) the trees could not be
//! told apart after a crash, so a real rollback is refused up front ([`ensure_supported`]).

use crate::extract::remove_tree;
use mobius_core::atomic::{is_temp_name, sync_dir, write_atomic};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const JOURNAL_FORMAT: &str = "mobius-rollback-journal/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The staged tree is complete and synced; the swap may have happened.
    Staged,
    /// The restored tree is in place and the health checks passed.
    Healthy,
}

/// (device, inode) of a directory.
pub type Id = (u64, u64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: String,
    pub env: String,
    pub target: PathBuf,
    pub backup: String,
    pub sha256: String,
    pub stamp: String,
    pub new_id: Id,
    /// None when there was no target before the rollback.
    pub old_id: Option<Id>,
    pub phase: Phase,
    pub pid: u32,
    pub started: String,
}

/// The names used around one target.
#[derive(Debug, Clone)]
pub struct Paths {
    pub parent: PathBuf,
    pub name: String,
    pub target: PathBuf,
}

impl Paths {
    pub fn new(target: &Path) -> io::Result<Paths> {
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the target must end in a UTF-8 directory name",
                )
            })?
            .to_owned();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Paths {
            parent,
            name,
            target: target.to_path_buf(),
        })
    }

    fn prefix(&self) -> String {
        format!(".{}.rollback-", self.name)
    }

    pub fn staging(&self, stamp: &str) -> PathBuf {
        self.parent
            .join(format!("{}{stamp}.staging", self.prefix()))
    }

    pub fn previous(&self, stamp: &str) -> PathBuf {
        self.parent
            .join(format!("{}{stamp}.previous", self.prefix()))
    }

    pub fn discard(&self, stamp: &str) -> PathBuf {
        self.parent
            .join(format!("{}{stamp}.discard", self.prefix()))
    }

    pub fn journal(&self) -> PathBuf {
        self.parent.join(format!(".{}.rollback.journal", self.name))
    }

    /// Leftover trees and temporary journal files of killed runs.
    pub fn leftovers(&self) -> io::Result<Vec<PathBuf>> {
        let prefix = self.prefix();
        let journal_tmp = format!("..{}.rollback.journal.tmp-", self.name);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.parent) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(&prefix) || (is_temp_name(name) && name.starts_with(&journal_tmp)) {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The identity of `path` itself (a final symlink is not followed); None when it is absent.
#[cfg(unix)]
pub fn id_of(path: &Path) -> io::Result<Option<Id>> {
    use std::os::unix::fs::MetadataExt;
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Without inodes there is no identity to give (see [`ensure_supported`]).
#[cfg(not(unix))]
pub fn id_of(path: &Path) -> io::Result<Option<Id>> {
    let _ = path;
    Err(unsupported_here())
}

/// Whether this system can swap trees and recover them by identity; checked before a real
/// run takes the lock or touches anything. `--dry-run` needs none of it.
pub fn ensure_supported() -> io::Result<()> {
    if cfg!(unix) {
        Ok(())
    } else {
        Err(unsupported_here())
    }
}

fn unsupported_here() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a real rollback is not supported on this platform: the atomic swap and its crash \
         recovery find directories by device and inode, which it does not provide; \
         --dry-run works here, the rollback itself needs Linux or another Unix",
    )
}

pub fn write_journal(paths: &Paths, j: &Journal) -> io::Result<()> {
    let mut text = serde_json::to_vec_pretty(j).map_err(io::Error::other)?;
    text.push(b'\n');
    write_atomic(&paths.journal(), &text, 0o600)
}

pub fn read_journal(paths: &Paths) -> io::Result<Option<Journal>> {
    match fs::read(paths.journal()) {
        Ok(bytes) => serde_json::from_slice::<Journal>(&bytes)
            .map(Some)
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the rollback journal {} is unreadable: {e}",
                        paths.journal().display()
                    ),
                )
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn new_journal(
    env: &str,
    paths: &Paths,
    backup: &str,
    sha256: &str,
    stamp: &str,
    new_id: Id,
    old_id: Option<Id>,
) -> Journal {
    Journal {
        format: JOURNAL_FORMAT.to_owned(),
        env: env.to_owned(),
        target: paths.target.clone(),
        backup: backup.to_owned(),
        sha256: sha256.to_owned(),
        stamp: stamp.to_owned(),
        new_id,
        old_id,
        phase: Phase::Staged,
        pid: std::process::id(),
        started: mobius_core::time::now_rfc3339(),
    }
}

/// `renameat2(2)`, which only Linux has.
#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn cstr(p: &Path) -> io::Result<CString> {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path contains a NUL byte"))
    }

    pub fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
        let (a, b) = (cstr(from)?, cstr(to)?);
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The file system (or an old kernel) cannot do this kind of rename.
    pub fn unsupported(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
        )
    }
}

/// Exchanges two directories atomically; `Ok(false)` when the file system cannot (or the
/// system: only Linux has an exchange rename).
pub fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        match linux::renameat2(a, b, libc::RENAME_EXCHANGE) {
            Ok(()) => Ok(true),
            Err(e) if linux::unsupported(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// Renames without replacing whatever may have appeared at `to`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        match linux::renameat2(from, to, libc::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if linux::unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    // Not atomic: something appearing between the look and the rename would be replaced
    // (a file) or make the rename fail (a non-empty directory).
    if to.symlink_metadata().is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} appeared during the rollback", to.display()),
        ));
    }
    fs::rename(from, to)
}

/// How the staged tree went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swapped {
    Exchanged,
    /// Two renames (the file system has no exchange rename).
    Renamed,
    /// There was no target before.
    Created,
}

/// Puts the staged tree at the target; the old tree ends at `previous(stamp)`.
pub fn swap_in(paths: &Paths, j: &Journal) -> io::Result<Swapped> {
    let staging = paths.staging(&j.stamp);
    let previous = paths.previous(&j.stamp);
    let how = if j.old_id.is_none() {
        rename_noreplace(&staging, &paths.target)?;
        Swapped::Created
    } else if exchange(&staging, &paths.target)? {
        // The staging name now holds the old tree; name it for what it is.
        fs::rename(&staging, &previous)?;
        Swapped::Exchanged
    } else {
        fs::rename(&paths.target, &previous)?;
        fs::rename(&staging, &paths.target)?;
        Swapped::Renamed
    };
    sync_dir(&paths.parent)?;
    Ok(how)
}

/// The state of the trees could not be explained by the journal.
#[derive(Debug, thiserror::Error)]
#[error("{what}; the journal {journal} and the trees beside {target} were left as they are for an operator to inspect")]
pub struct Inconsistent {
    pub what: String,
    pub journal: String,
    pub target: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Inconsistent(#[from] Inconsistent),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn inconsistent(paths: &Paths, what: String) -> RecoverError {
    RecoverError::Inconsistent(Inconsistent {
        what,
        journal: paths.journal().display().to_string(),
        target: paths.target.display().to_string(),
    })
}

/// Puts the old tree back (or removes the restored one when there was none) and removes
/// everything else the rollback made, then the journal.
pub fn undo(paths: &Paths, j: &Journal) -> Result<(), RecoverError> {
    let candidates = [
        paths.previous(&j.stamp),
        paths.staging(&j.stamp),
        paths.discard(&j.stamp),
    ];
    let find = |id: Id| -> io::Result<Option<PathBuf>> {
        for c in &candidates {
            if id_of(c)? == Some(id) {
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    };
    let at_target = id_of(&paths.target)?;
    match (j.old_id, at_target) {
        (Some(old), Some(t)) if t == old => {}
        (None, None) => {}
        (Some(old), Some(t)) if t == j.new_id => {
            let Some(old_at) = find(old)? else {
                return Err(inconsistent(
                    paths,
                    "the restored tree is in place but the previous tree is nowhere to be found".into(),
                ));
            };
            if !exchange(&old_at, &paths.target)? {
                let discard = paths.discard(&j.stamp);
                fs::rename(&paths.target, &discard)?;
                fs::rename(&old_at, &paths.target)?;
            }
        }
        (Some(old), None) => {
            let Some(old_at) = find(old)? else {
                return Err(inconsistent(
                    paths,
                    "the target is missing and the previous tree is nowhere to be found".into(),
                ));
            };
            fs::rename(&old_at, &paths.target)?;
        }
        (None, Some(t)) if t == j.new_id => {
            fs::rename(&paths.target, paths.discard(&j.stamp))?;
        }
        _ => {
            return Err(inconsistent(
                paths,
                format!(
                    "{} is neither the tree that was live nor the restored one (changed by hand during the rollback?)",
                    paths.target.display()
                ),
            ))
        }
    }
    sync_dir(&paths.parent)?;
    // The old tree is at the target now: every other name holds the restored tree or a
    // part of one.
    for c in &candidates {
        remove_tree(c)?;
    }
    finish(paths)
}

/// Keeps the restored tree and removes the old one, then the journal.
pub fn commit(paths: &Paths, j: &Journal) -> Result<(), RecoverError> {
    if id_of(&paths.target)? != Some(j.new_id) {
        return Err(inconsistent(
            paths,
            format!(
                "the health checks passed but {} is not the restored tree",
                paths.target.display()
            ),
        ));
    }
    for c in [
        paths.previous(&j.stamp),
        paths.staging(&j.stamp),
        paths.discard(&j.stamp),
    ] {
        remove_tree(&c)?;
    }
    finish(paths)
}

fn finish(paths: &Paths) -> Result<(), RecoverError> {
    sync_dir(&paths.parent)?;
    match fs::remove_file(paths.journal()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    sync_dir(&paths.parent)?;
    Ok(())
}

/// What [`recover`] did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    Nothing,
    /// Staging trees of runs killed before their swap were removed.
    RemovedLeftovers(Vec<PathBuf>),
    /// An interrupted rollback had not proven the restored tree: the old one is back.
    Undone(Journal),
    /// An interrupted rollback had passed its health checks: its cleanup was finished.
    Committed(Journal),
}

/// Finishes whatever a killed run left (see the module docs). Call under the env lock.
pub fn recover(paths: &Paths) -> Result<Recovered, RecoverError> {
    let outcome = match read_journal(paths)? {
        Some(j) => match j.phase {
            Phase::Healthy => {
                commit(paths, &j)?;
                Recovered::Committed(j)
            }
            Phase::Staged => {
                undo(paths, &j)?;
                Recovered::Undone(j)
            }
        },
        None => Recovered::Nothing,
    };
    let leftovers = paths.leftovers()?;
    for l in &leftovers {
        remove_tree(l)?;
    }
    if !leftovers.is_empty() {
        sync_dir(&paths.parent)?;
        if outcome == Recovered::Nothing {
            return Ok(Recovered::RemovedLeftovers(leftovers));
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod portable_tests {
    use super::*;

    #[test]
    fn real_rollbacks_need_directory_identities() {
        let d = tempfile::tempdir().unwrap();
        match ensure_supported() {
            Ok(()) => assert!(id_of(d.path()).unwrap().is_some()),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::Unsupported);
                assert!(e.to_string().contains("--dry-run works here"), "{e}");
                assert!(id_of(d.path()).is_err());
            }
        }
        assert_eq!(ensure_supported().is_ok(), cfg!(unix));
    }
}

// Every test below finds trees by identity, which only Unix gives.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    fn tree(dir: &Path, content: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("f"), content).unwrap();
    }

    fn content(dir: &Path) -> String {
        fs::read_to_string(dir.join("f")).unwrap()
    }

    fn setup() -> (tempfile::TempDir, Paths, Journal) {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(&d.path().join("prod")).unwrap();
        tree(&paths.target, "old");
        tree(&paths.staging("s"), "new");
        let j = new_journal(
            "prod",
            &paths,
            "b.zip",
            "",
            "s",
            id_of(&paths.staging("s")).unwrap().unwrap(),
            id_of(&paths.target).unwrap(),
        );
        write_journal(&paths, &j).unwrap();
        (d, paths, j)
    }

    fn only_target_left(paths: &Paths) {
        let names: Vec<_> = fs::read_dir(&paths.parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["prod".to_owned()]);
    }

    #[test]
    fn swap_then_undo_restores_the_old_tree() {
        let (_d, paths, j) = setup();
        let how = if cfg!(target_os = "linux") {
            Swapped::Exchanged
        } else {
            Swapped::Renamed
        };
        assert_eq!(swap_in(&paths, &j).unwrap(), how);
        assert_eq!(content(&paths.target), "new");
        assert_eq!(content(&paths.previous("s")), "old");
        undo(&paths, &j).unwrap();
        assert_eq!(content(&paths.target), "old");
        only_target_left(&paths);
    }

    #[test]
    fn recovery_undoes_an_unconfirmed_swap_and_commits_a_confirmed_one() {
        let (_d, paths, j) = setup();
        swap_in(&paths, &j).unwrap();
        assert!(matches!(recover(&paths).unwrap(), Recovered::Undone(_)));
        assert_eq!(content(&paths.target), "old");
        only_target_left(&paths);

        let (_d, paths, mut j) = setup();
        swap_in(&paths, &j).unwrap();
        j.phase = Phase::Healthy;
        write_journal(&paths, &j).unwrap();
        assert!(matches!(recover(&paths).unwrap(), Recovered::Committed(_)));
        assert_eq!(content(&paths.target), "new");
        only_target_left(&paths);
    }

    #[test]
    fn recovery_handles_the_fallback_window_and_a_swap_not_yet_made() {
        // Killed between the two renames of the fallback: no target at all.
        let (_d, paths, _j) = setup();
        fs::rename(&paths.target, paths.previous("s")).unwrap();
        recover(&paths).unwrap();
        assert_eq!(content(&paths.target), "old");
        only_target_left(&paths);
        // Killed after the journal, before the exchange.
        let (_d, paths, _j) = setup();
        recover(&paths).unwrap();
        assert_eq!(content(&paths.target), "old");
        only_target_left(&paths);
        // Killed just after the exchange, before naming the old tree `previous` (made with
        // three renames where the system has no exchange rename).
        let (_d, paths, _j) = setup();
        let exchanged = exchange(&paths.staging("s"), &paths.target).unwrap();
        assert_eq!(exchanged, cfg!(target_os = "linux"), "only Linux exchanges");
        if !exchanged {
            let aside = paths.parent.join("aside");
            fs::rename(paths.staging("s"), &aside).unwrap();
            fs::rename(&paths.target, paths.staging("s")).unwrap();
            fs::rename(&aside, &paths.target).unwrap();
        }
        recover(&paths).unwrap();
        assert_eq!(content(&paths.target), "old");
        only_target_left(&paths);
    }

    #[test]
    fn a_target_changed_by_hand_is_left_alone() {
        let (_d, paths, j) = setup();
        swap_in(&paths, &j).unwrap();
        fs::rename(&paths.target, paths.parent.join("elsewhere")).unwrap();
        tree(&paths.target, "someone else's");
        let err = recover(&paths).unwrap_err();
        assert!(matches!(err, RecoverError::Inconsistent(_)), "{err}");
        assert_eq!(content(&paths.target), "someone else's");
        assert!(paths.journal().exists());
    }

    #[test]
    fn leftovers_without_a_journal_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(&d.path().join("prod")).unwrap();
        tree(&paths.target, "old");
        tree(&paths.staging("x"), "partial");
        fs::create_dir(d.path().join(".prod-eu.rollback-y.staging")).unwrap();
        let r = recover(&paths).unwrap();
        assert_eq!(r, Recovered::RemovedLeftovers(vec![paths.staging("x")]));
        assert!(d.path().join(".prod-eu.rollback-y.staging").exists());
        assert_eq!(content(&paths.target), "old");
    }
}
