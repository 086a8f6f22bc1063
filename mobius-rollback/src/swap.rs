//! Putting the staged trees in place atomically, putting the old ones back, and finishing
//! what a killed run left behind.
//!
//! A rollback restores one or several places (the sources of the backup: the config
//! directory, a release directory...). For each place the names live in the target's parent
//! directory (same file system, so renames are atomic), next to `<parent>/<name>`:
//!
//! - `.<name>.rollback-<stamp>.staging`: the tree being extracted;
//! - `.<name>.rollback-<stamp>.previous`: the tree that was live, kept until the health
//!   checks pass;
//! - `.<name>.rollback-<stamp>.discard`: a tree on its way out.
//!
//! One journal for the whole rollback, `locks/<env>.rollback.journal` under the root, is
//! written (atomically, synced) once every staged tree is complete and synced, before the
//! first swap. It lists every place with the identity (device, inode) of its old tree and of
//! its restored one, and whether the health checks passed.
//!
//! Each swap is one `renameat2(RENAME_EXCHANGE)` of staging and target: there is no moment
//! when a target is missing or mixed. Where the file system does not support it (or the
//! system: `renameat2` is Linux's), the fallback is two renames (target → previous,
//! staging → target), with a window of microseconds in which the target does not exist; a
//! crash inside it leaves both trees, whole, and the journal, and the next run puts the old
//! tree back.
//!
//! All or none: the places are swapped one after the other, so a kill between two swaps
//! leaves some places restored and some not, but always with the journal on disk, and
//! recovery (every real run, under the environment lock, before anything else) decides for
//! all of them together, finding trees by inode, never by name. Health confirmed: every
//! restored tree stays and the old ones are removed. Not confirmed: every old tree is put
//! back (the interrupted run did not prove the restored state). Without a journal,
//! leftovers are staging trees of a run killed before its first swap and are removed: no
//! target was touched.
//!
//! Without inodes (Windows: std offers no stable file index there) the trees could not be
//! told apart after a crash, so a real rollback is refused up front ([`ensure_supported`]).

use crate::extract::remove_tree;
use mobius_core::atomic::{is_temp_name, sync_dir, write_atomic};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const JOURNAL_FORMAT: &str = "mobius-rollback-journal/2";
/// The journal of earlier versions: one place, kept beside the target.
const LEGACY_FORMAT: &str = "mobius-rollback-journal/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Every staged tree is complete and synced; swaps may have happened.
    Staged,
    /// The restored trees are in place and the health checks passed.
    Healthy,
}

/// (device, inode) of a directory.
pub type Id = (u64, u64);

/// One place a rollback restores: the target (an absolute path) and the identities of its
/// restored tree and of the tree that was live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub target: PathBuf,
    pub new_id: Id,
    /// None when there was no target before the rollback.
    pub old_id: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: String,
    pub env: String,
    pub backup: String,
    pub sha256: String,
    pub stamp: String,
    /// In the order they are swapped.
    pub places: Vec<Place>,
    pub phase: Phase,
    pub pid: u32,
    pub started: String,
}

impl Journal {
    /// The targets, for messages.
    pub fn targets(&self) -> String {
        self.places
            .iter()
            .map(|p| p.target.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Deserialize)]
struct LegacyJournal {
    env: String,
    target: PathBuf,
    backup: String,
    sha256: String,
    stamp: String,
    new_id: Id,
    old_id: Option<Id>,
    phase: Phase,
    pid: u32,
    started: String,
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

    /// Where earlier versions kept the journal of a rollback of this one target.
    pub fn legacy_journal(&self) -> PathBuf {
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

pub fn write_journal(path: &Path, j: &Journal) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_vec_pretty(j).map_err(io::Error::other)?;
    text.push(b'\n');
    write_atomic(path, &text, 0o600)
}

/// Reads a journal (this version's, or an earlier version's one-place journal).
pub fn read_journal(path: &Path) -> io::Result<Option<Journal>> {
    let bytes = match mobius_core::fsafe::read_input(path, mobius_core::fsafe::Kind::Text) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let unreadable = |e: serde_json::Error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the rollback journal {} is unreadable: {e}", path.display()),
        )
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(unreadable)?;
    if v.get("format").and_then(|f| f.as_str()) == Some(LEGACY_FORMAT) {
        let l: LegacyJournal = serde_json::from_value(v).map_err(unreadable)?;
        return Ok(Some(Journal {
            format: JOURNAL_FORMAT.to_owned(),
            env: l.env,
            backup: l.backup,
            sha256: l.sha256,
            stamp: l.stamp,
            places: vec![Place {
                target: l.target,
                new_id: l.new_id,
                old_id: l.old_id,
            }],
            phase: l.phase,
            pid: l.pid,
            started: l.started,
        }));
    }
    serde_json::from_value(v).map(Some).map_err(unreadable)
}

pub fn new_journal(
    env: &str,
    backup: &str,
    sha256: &str,
    stamp: &str,
    places: Vec<Place>,
) -> Journal {
    Journal {
        format: JOURNAL_FORMAT.to_owned(),
        env: env.to_owned(),
        backup: backup.to_owned(),
        sha256: sha256.to_owned(),
        stamp: stamp.to_owned(),
        places,
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

/// Puts the staged tree of `place` at its target; the old tree ends at `previous(stamp)`.
pub fn swap_in(paths: &Paths, stamp: &str, place: &Place) -> io::Result<Swapped> {
    let staging = paths.staging(stamp);
    let previous = paths.previous(stamp);
    let how = if place.old_id.is_none() {
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

fn inconsistent(journal: &Path, paths: &Paths, what: String) -> RecoverError {
    RecoverError::Inconsistent(Inconsistent {
        what,
        journal: journal.display().to_string(),
        target: paths.target.display().to_string(),
    })
}

fn place_paths(place: &Place) -> io::Result<Paths> {
    Paths::new(&place.target)
}

fn candidates(paths: &Paths, stamp: &str) -> [PathBuf; 3] {
    [
        paths.previous(stamp),
        paths.staging(stamp),
        paths.discard(stamp),
    ]
}

/// Puts the old tree of one place back (or removes the restored one when there was none)
/// and removes everything else the rollback made there.
fn undo_place(journal: &Path, stamp: &str, place: &Place) -> Result<(), RecoverError> {
    let paths = place_paths(place)?;
    let candidates = candidates(&paths, stamp);
    let find = |id: Id| -> io::Result<Option<PathBuf>> {
        for c in &candidates {
            if id_of(c)? == Some(id) {
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    };
    let at_target = id_of(&paths.target)?;
    match (place.old_id, at_target) {
        (Some(old), Some(t)) if t == old => {}
        (None, None) => {}
        (Some(old), Some(t)) if t == place.new_id => {
            let Some(old_at) = find(old)? else {
                return Err(inconsistent(
                    journal,
                    &paths,
                    "the restored tree is in place but the previous tree is nowhere to be found"
                        .into(),
                ));
            };
            if !exchange(&old_at, &paths.target)? {
                let discard = paths.discard(stamp);
                fs::rename(&paths.target, &discard)?;
                fs::rename(&old_at, &paths.target)?;
            }
        }
        (Some(old), None) => {
            let Some(old_at) = find(old)? else {
                return Err(inconsistent(
                    journal,
                    &paths,
                    "the target is missing and the previous tree is nowhere to be found".into(),
                ));
            };
            fs::rename(&old_at, &paths.target)?;
        }
        (None, Some(t)) if t == place.new_id => {
            fs::rename(&paths.target, paths.discard(stamp))?;
        }
        _ => {
            return Err(inconsistent(
                journal,
                &paths,
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
    Ok(())
}

/// Puts every place's old tree back, the last swapped first, then removes the journal.
pub fn undo(journal: &Path, j: &Journal) -> Result<(), RecoverError> {
    for place in j.places.iter().rev() {
        undo_place(journal, &j.stamp, place)?;
    }
    finish(journal)
}

/// Keeps every restored tree and removes the old ones, then the journal.
pub fn commit(journal: &Path, j: &Journal) -> Result<(), RecoverError> {
    // Check every place before removing anything: an old tree removed is gone for good.
    for place in &j.places {
        let paths = place_paths(place)?;
        if id_of(&paths.target)? != Some(place.new_id) {
            return Err(inconsistent(
                journal,
                &paths,
                format!(
                    "the health checks passed but {} is not the restored tree",
                    paths.target.display()
                ),
            ));
        }
    }
    for place in &j.places {
        let paths = place_paths(place)?;
        for c in candidates(&paths, &j.stamp) {
            remove_tree(&c)?;
        }
        sync_dir(&paths.parent)?;
    }
    finish(journal)
}

fn finish(journal: &Path) -> Result<(), RecoverError> {
    match fs::remove_file(journal) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    sync_dir(parent_of(journal))?;
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What [`recover`] did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    Nothing,
    /// Staging trees of runs killed before their first swap were removed.
    RemovedLeftovers(Vec<PathBuf>),
    /// An interrupted rollback had not proven the restored state: the old trees are back.
    Undone(Journal),
    /// An interrupted rollback had passed its health checks: its cleanup was finished.
    Committed(Journal),
}

/// Finishes whatever a killed run left (see the module docs). Call under the env lock.
/// `journal` is this version's journal; `places` are the targets this run may touch, whose
/// neighbourhood is searched for an earlier version's journal and for leftover trees.
pub fn recover(journal: &Path, places: &[Paths]) -> Result<Recovered, RecoverError> {
    let mut found = read_journal(journal)?.map(|j| (j, journal.to_path_buf()));
    if found.is_none() {
        for p in places {
            let legacy = p.legacy_journal();
            if let Some(j) = read_journal(&legacy)? {
                found = Some((j, legacy));
                break;
            }
        }
    }
    let mut searched: Vec<Paths> = places.to_vec();
    let outcome = match found {
        Some((j, at)) => {
            for place in &j.places {
                searched.push(place_paths(place)?);
            }
            match j.phase {
                Phase::Healthy => {
                    commit(&at, &j)?;
                    Recovered::Committed(j)
                }
                Phase::Staged => {
                    undo(&at, &j)?;
                    Recovered::Undone(j)
                }
            }
        }
        None => Recovered::Nothing,
    };
    let mut leftovers = Vec::new();
    for p in &searched {
        for l in p.leftovers()? {
            if !leftovers.contains(&l) {
                remove_tree(&l)?;
                leftovers.push(l);
            }
        }
    }
    leftovers.extend(remove_journal_temps(journal)?);
    if !leftovers.is_empty() && outcome == Recovered::Nothing {
        return Ok(Recovered::RemovedLeftovers(leftovers));
    }
    Ok(outcome)
}

/// Temporary files of a journal write that a kill interrupted.
fn remove_journal_temps(journal: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = journal.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!(".{name}.tmp-");
    let dir = parent_of(journal);
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let n = entry.file_name();
        if n.to_str().is_some_and(|n| n.starts_with(&prefix)) {
            fs::remove_file(entry.path())?;
            out.push(entry.path());
        }
    }
    Ok(out)
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

    struct Setup {
        _d: tempfile::TempDir,
        journal: PathBuf,
        paths: Vec<Paths>,
        j: Journal,
    }

    /// Two places (a config dir and a release dir in another parent), each with an old
    /// tree and a staged one, and the journal written.
    fn setup() -> Setup {
        let d = tempfile::tempdir().unwrap();
        let journal = d.path().join("locks").join("prod.rollback.journal");
        let mut paths = Vec::new();
        let mut places = Vec::new();
        for (i, t) in ["config/prod", "releases/current"].iter().enumerate() {
            let p = Paths::new(&d.path().join(t)).unwrap();
            tree(&p.target, &format!("old{i}"));
            tree(&p.staging("s"), &format!("new{i}"));
            places.push(Place {
                target: p.target.clone(),
                new_id: id_of(&p.staging("s")).unwrap().unwrap(),
                old_id: id_of(&p.target).unwrap(),
            });
            paths.push(p);
        }
        let j = new_journal("prod", "b.zip", "", "s", places);
        write_journal(&journal, &j).unwrap();
        Setup {
            _d: d,
            journal,
            paths,
            j,
        }
    }

    fn only_targets_left(s: &Setup) {
        for p in &s.paths {
            let names: Vec<_> = fs::read_dir(&p.parent)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names, vec![p.name.clone()]);
        }
        assert!(!s.journal.exists());
    }

    fn contents(s: &Setup) -> Vec<String> {
        s.paths.iter().map(|p| content(&p.target)).collect()
    }

    #[test]
    fn swap_then_undo_restores_every_old_tree() {
        let s = setup();
        let how = if cfg!(target_os = "linux") {
            Swapped::Exchanged
        } else {
            Swapped::Renamed
        };
        for (p, place) in s.paths.iter().zip(&s.j.places) {
            assert_eq!(swap_in(p, "s", place).unwrap(), how);
        }
        assert_eq!(contents(&s), ["new0", "new1"]);
        assert_eq!(content(&s.paths[0].previous("s")), "old0");
        undo(&s.journal, &s.j).unwrap();
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);
    }

    #[test]
    fn a_kill_between_two_swaps_is_undone_for_all_places() {
        let s = setup();
        swap_in(&s.paths[0], "s", &s.j.places[0]).unwrap();
        assert_eq!(contents(&s), ["new0", "old1"]);
        assert!(matches!(
            recover(&s.journal, &s.paths).unwrap(),
            Recovered::Undone(_)
        ));
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);
    }

    #[test]
    fn recovery_undoes_an_unconfirmed_swap_and_commits_a_confirmed_one() {
        let s = setup();
        for (p, place) in s.paths.iter().zip(&s.j.places) {
            swap_in(p, "s", place).unwrap();
        }
        assert!(matches!(
            recover(&s.journal, &[]).unwrap(),
            Recovered::Undone(_)
        ));
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);

        let mut s = setup();
        for (p, place) in s.paths.iter().zip(&s.j.places) {
            swap_in(p, "s", place).unwrap();
        }
        s.j.phase = Phase::Healthy;
        write_journal(&s.journal, &s.j).unwrap();
        assert!(matches!(
            recover(&s.journal, &s.paths).unwrap(),
            Recovered::Committed(_)
        ));
        assert_eq!(contents(&s), ["new0", "new1"]);
        only_targets_left(&s);
    }

    #[test]
    fn recovery_handles_the_fallback_window_and_a_swap_not_yet_made() {
        // Killed between the two renames of the fallback: no target at all.
        let s = setup();
        fs::rename(&s.paths[1].target, s.paths[1].previous("s")).unwrap();
        recover(&s.journal, &s.paths).unwrap();
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);
        // Killed after the journal, before the first exchange.
        let s = setup();
        recover(&s.journal, &s.paths).unwrap();
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);
        // Killed just after an exchange, before naming the old tree `previous` (made with
        // three renames where the system has no exchange rename).
        let s = setup();
        let p = &s.paths[0];
        let exchanged = exchange(&p.staging("s"), &p.target).unwrap();
        assert_eq!(exchanged, cfg!(target_os = "linux"), "only Linux exchanges");
        if !exchanged {
            let aside = p.parent.join("aside");
            fs::rename(p.staging("s"), &aside).unwrap();
            fs::rename(&p.target, p.staging("s")).unwrap();
            fs::rename(&aside, &p.target).unwrap();
        }
        recover(&s.journal, &s.paths).unwrap();
        assert_eq!(contents(&s), ["old0", "old1"]);
        only_targets_left(&s);
    }

    #[test]
    fn a_target_changed_by_hand_is_left_alone() {
        let s = setup();
        swap_in(&s.paths[0], "s", &s.j.places[0]).unwrap();
        fs::rename(&s.paths[0].target, s.paths[0].parent.join("elsewhere")).unwrap();
        tree(&s.paths[0].target, "someone else's");
        let err = recover(&s.journal, &s.paths).unwrap_err();
        assert!(matches!(err, RecoverError::Inconsistent(_)), "{err}");
        assert_eq!(content(&s.paths[0].target), "someone else's");
        assert!(s.journal.exists());
    }

    #[test]
    fn a_one_place_journal_of_an_earlier_version_is_recovered() {
        let d = tempfile::tempdir().unwrap();
        let p = Paths::new(&d.path().join("prod")).unwrap();
        tree(&p.target, "old");
        tree(&p.staging("s"), "new");
        let legacy = serde_json::json!({
            "format": LEGACY_FORMAT, "env": "prod", "target": p.target, "backup": "b.zip",
            "sha256": "", "stamp": "s", "new_id": id_of(&p.staging("s")).unwrap().unwrap(),
            "old_id": id_of(&p.target).unwrap(), "phase": "staged", "pid": 1, "started": "x"
        });
        fs::write(p.legacy_journal(), legacy.to_string()).unwrap();
        let place = Place {
            target: p.target.clone(),
            new_id: id_of(&p.staging("s")).unwrap().unwrap(),
            old_id: id_of(&p.target).unwrap(),
        };
        swap_in(&p, "s", &place).unwrap();
        let journal = d.path().join("locks/prod.rollback.journal");
        assert!(matches!(
            recover(&journal, std::slice::from_ref(&p)).unwrap(),
            Recovered::Undone(_)
        ));
        assert_eq!(content(&p.target), "old");
        assert!(!p.legacy_journal().exists());
    }

    #[test]
    fn leftovers_without_a_journal_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(&d.path().join("prod")).unwrap();
        tree(&paths.target, "old");
        tree(&paths.staging("x"), "partial");
        fs::create_dir(d.path().join(".prod-eu.rollback-y.staging")).unwrap();
        let journal = d.path().join("locks/prod.rollback.journal");
        let r = recover(&journal, std::slice::from_ref(&paths)).unwrap();
        assert_eq!(r, Recovered::RemovedLeftovers(vec![paths.staging("x")]));
        assert!(d.path().join(".prod-eu.rollback-y.staging").exists());
        assert_eq!(content(&paths.target), "old");
    }
}
