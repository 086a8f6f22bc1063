//! Crash-safe file creation: write to a temporary file in the destination's directory, fsync
//! it, rename it over the final name, fsync the directory. A reader (or a process killed with
//! SIGKILL half-way) sees either no file or the complete one, never a prefix.
//!
//! Temporary names start with `.` and contain `.tmp-`, so globs like `backups/*.zip` and the
//! retention code never mistake one for a finished file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// True for names made by [`AtomicFile`] (left behind only by a crash).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// A file being written under a temporary name; [`AtomicFile::commit`] publishes it. Dropped
/// without commit (an error, a panic), the temporary file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file for `dest` with exactly `mode` (the umask is not applied:
    /// backups hold secrets and must be 0600 whatever the caller's umask). Refused when
    /// `dest` is a symlink, FIFO, device or directory: the commit would silently replace
    /// whatever someone planted there.
    pub fn create(dest: &Path, mode: u32) -> io::Result<AtomicFile> {
        crate::fsafe::check_output(dest)?;
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
            .to_string_lossy()
            .into_owned();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        let file = crate::platform::create_mode(&mut opts, mode).open(&tmp)?;
        crate::platform::set_file_mode(&file, mode)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// Flushes and fsyncs the data, renames it into place and fsyncs the directory.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        sync_dir(parent_dir(&self.dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl io::Seek for AtomicFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file().seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` crash-safely with `mode`.
pub fn write_atomic(dest: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = AtomicFile::create(dest, mode)?;
    f.write_all(bytes)?;
    f.commit()
}

/// fsyncs a directory so a rename or unlink in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The directory holding `p`, `.` for a bare relative name.
pub(crate) fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_publishes_complete_file_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.zip");
        write_atomic(&dest, b"hello", 0o600).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_or_pipe_at_the_destination_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("foreign");
        fs::write(&target, b"keep").unwrap();
        let dest = dir.path().join("a.zip.sha256");
        std::os::unix::fs::symlink(&target, &dest).unwrap();
        let e = write_atomic(&dest, b"new", 0o600).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&dest)
            .unwrap()
            .file_type()
            .is_symlink());
        let sub = dir.path().join("report.xml");
        fs::create_dir(&sub).unwrap();
        let e = write_atomic(&sub, b"new", 0o600).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary left"
        );
    }

    #[test]
    fn drop_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.zip");
        {
            let mut f = AtomicFile::create(&dest, 0o600).unwrap();
            f.write_all(b"partial").unwrap();
            assert!(is_temp_name(
                &f.temp_path().file_name().unwrap().to_string_lossy()
            ));
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
