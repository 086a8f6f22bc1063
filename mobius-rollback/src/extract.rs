//! Writing a verified backup into a staging directory, and removing trees.
//!
//! Extraction is system-call bound (20,000 small files): each file costs one `open`
//! (`O_CREAT|O_EXCL|O_NOFOLLOW`, with its mode), its `write`s and a `close`; an `fchmod` only
//! when the umask would strip bits of the mode. Nothing is synced per file: one `syncfs` of
//! the staging directory's file system makes the whole tree durable before the swap (where
//! there is no `syncfs`, every file and directory of the tree is synced instead). Without Unix
//! modes (Windows) files are created plainly and no mode is set. Each file gets the
//! modification time the backup recorded (the zip's extended-timestamp field), one
//! `futimens` after its last write.

use mobius_core::platform;
use mobius_verify::EntryMeta;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

const COPY_BUFFER: usize = 256 * 1024;
/// Directories that the zip implies (parents of files) but does not list get this mode.
const IMPLIED_DIR_MODE: u32 = 0o755;
/// The restored `app.json` is read for its `health_url`; anything larger is not a config.
const MAX_APP_JSON: usize = 1024 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The process's umask, read once (setting it back at once; before any thread starts).
#[cfg(unix)]
pub fn current_umask() -> u32 {
    // SAFETY: umask cannot fail; it is called twice to read the value without changing it.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

/// No umask where there are no Unix modes.
#[cfg(not(unix))]
pub fn current_umask() -> u32 {
    0
}

/// Creates the staging directory (mode 0700, failing if it exists) and every directory the
/// entries need, each 0700 until [`finish_dirs`] gives them their modes. `entries` are
/// (name relative to the place, is a directory, mode). Returns the directories with their
/// final modes.
pub fn make_dirs<'a>(
    staging: &Path,
    entries: impl Iterator<Item = (&'a str, bool, u32)>,
) -> io::Result<BTreeMap<String, u32>> {
    platform::dir_builder(0o700).create(staging)?;
    let mut dirs: BTreeMap<String, u32> = BTreeMap::new();
    for (name, is_dir, mode) in entries {
        let name = name.trim_end_matches('/');
        if name.is_empty() {
            // The place's own directory: its mode is the live target's.
            continue;
        }
        let mut pos = 0;
        while let Some(i) = name[pos..].find('/') {
            dirs.entry(name[..pos + i].to_owned())
                .or_insert(IMPLIED_DIR_MODE);
            pos += i + 1;
        }
        if is_dir {
            dirs.insert(name.to_owned(), mode & 0o777);
        }
    }
    // Sorted by bytes, a parent comes before its children.
    let builder = platform::dir_builder(0o700);
    for d in dirs.keys() {
        builder.create(staging.join(d))?;
    }
    Ok(dirs)
}

/// Gives the directories their modes, children before parents (a read-only parent would
/// otherwise refuse the change to its child).
pub fn finish_dirs(staging: &Path, dirs: &BTreeMap<String, u32>, root_mode: u32) -> io::Result<()> {
    for (d, mode) in dirs.iter().rev() {
        platform::set_mode(&staging.join(d), *mode)?;
    }
    platform::set_mode(staging, root_mode & 0o777)
}

/// One `syncfs` for the whole staged tree (data and metadata of every file in it).
#[cfg(target_os = "linux")]
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(dir)?;
    // SAFETY: the descriptor is valid for the duration of the call.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Without `syncfs`: every file and directory of the staged tree, children first.
#[cfg(not(target_os = "linux"))]
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    sync_each(dir)
}

/// Syncs every file and directory under `dir` (and `dir`), children before parents.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn sync_each(dir: &Path) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .contents_first(true)
    {
        let entry = entry.map_err(io::Error::other)?;
        if entry.file_type().is_dir() {
            mobius_core::atomic::sync_dir(entry.path())?;
        } else {
            // Windows flushes only handles opened for writing; Unix syncs any descriptor, and
            // a restored read-only file could not be opened for writing there.
            OpenOptions::new()
                .read(true)
                .write(!cfg!(unix))
                .open(entry.path())?
                .sync_all()?;
        }
    }
    Ok(())
}

/// Where one place's entries go.
pub struct Dest<'a> {
    /// The folder of the place in the zip (with `/`); `None`: the top level.
    pub prefix: Option<&'a str>,
    /// `None`: a dry run, which reads (and so verifies) everything and writes nothing.
    pub staging: Option<&'a Path>,
}

impl Dest<'_> {
    fn relative<'n>(&self, name: &'n str) -> Option<&'n str> {
        match self.prefix {
            None => Some(name),
            Some(p) => name.strip_prefix(p),
        }
    }
}

/// The visitor state shared by the extraction threads.
pub struct Extractor<'a> {
    pub dests: Vec<Dest<'a>>,
    /// The entry whose bytes are kept: the restored config's `app.json`.
    pub capture: String,
    pub umask: u32,
    /// Limit on bytes actually inflated, all entries together.
    pub max_total_size: u64,
    pub written: AtomicU64,
    pub files: AtomicU64,
    pub over_limit: AtomicBool,
    pub app_json: Mutex<Option<Vec<u8>>>,
}

impl<'a> Extractor<'a> {
    pub fn new(dests: Vec<Dest<'a>>, capture: String, umask: u32, max_total_size: u64) -> Self {
        Extractor {
            dests,
            capture,
            umask,
            max_total_size,
            written: AtomicU64::new(0),
            files: AtomicU64::new(0),
            over_limit: AtomicBool::new(false),
            app_json: Mutex::new(None),
        }
    }

    /// Writes one entry. Errors from `r` are damage (verification records them); errors
    /// of our own (disk full, the size limit) stop the pass.
    pub fn visit(&self, meta: &EntryMeta, r: &mut dyn Read) -> io::Result<()> {
        if meta.is_dir {
            return Ok(());
        }
        let Some((dest, rel)) = self
            .dests
            .iter()
            .find_map(|d| d.relative(&meta.name).map(|rel| (d, rel)))
            .filter(|(_, rel)| !rel.is_empty())
        else {
            return Err(io::Error::other(format!(
                "the entry {:?} belongs to no place being restored",
                meta.name
            )));
        };
        let capture = meta.name == self.capture;
        let mode = meta.mode & 0o777;
        let mut file = match dest.staging {
            Some(dir) => {
                let mut opts = OpenOptions::new();
                opts.write(true).create_new(true);
                platform::create_mode(&mut opts, mode);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
                }
                let f = opts.open(dir.join(rel))?;
                if mode & self.umask != 0 {
                    platform::set_file_mode(&f, mode)?;
                }
                Some(f)
            }
            None => None,
        };
        let mut captured = Vec::new();
        BUF.with(|cell| -> io::Result<()> {
            let mut buf = cell.borrow_mut();
            if buf.len() < COPY_BUFFER {
                buf.resize(COPY_BUFFER, 0);
            }
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let total = self.written.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                if total > self.max_total_size {
                    self.over_limit.store(true, Ordering::Relaxed);
                    return Err(io::Error::other(format!(
                        "more than --max-total-size {} bytes inflated",
                        self.max_total_size
                    )));
                }
                if let Some(f) = file.as_mut() {
                    f.write_all(&buf[..n])?;
                }
                if capture && captured.len() < MAX_APP_JSON {
                    captured.extend_from_slice(&buf[..n]);
                }
            }
        })?;
        // The backup's time for the file (its UT field), set after the last write, which
        // would move it again; the swap later renames the tree without touching it.
        if let (Some(f), Some(t)) = (file.as_ref(), meta.mtime) {
            f.set_modified(t)?;
        }
        self.files.fetch_add(1, Ordering::Relaxed);
        if capture {
            if let Ok(mut slot) = self.app_json.lock() {
                *slot = Some(captured);
            }
        }
        Ok(())
    }
}

/// Removes a directory tree, also one with read-only directories in it. A missing path is
/// not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return fs::remove_file(path),
        Ok(_) => {}
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // A directory restored read-only (0555) cannot be emptied until it is writable.
            for entry in walkdir::WalkDir::new(path).follow_links(false) {
                let Ok(entry) = entry else { continue };
                if entry.file_type().is_dir() {
                    let _ = platform::set_mode(entry.path(), 0o700);
                }
            }
            fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_trees_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), "x").unwrap();
        platform::set_mode(&t.join("a/b"), 0o555).unwrap();
        platform::set_mode(&t.join("a"), 0o500).unwrap();
        remove_tree(&t).unwrap();
        assert!(!t.exists());
        remove_tree(&t).unwrap();
    }

    #[test]
    fn trees_with_read_only_files_are_synced_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), "x").unwrap();
        fs::write(t.join("g"), "y").unwrap();
        platform::set_mode(&t.join("a/b/f"), 0o400).unwrap();
        sync_each(&t).unwrap();
        sync_tree(&t).unwrap();
        assert!(sync_each(&dir.path().join("missing")).is_err());
    }
}
