//! Where the bundle's files go: a zip written through `AtomicFile` (published by rename
//! only when complete and synced), or a directory built under a temporary name and renamed
//! into place. Every file passes through a hasher on its way, so MANIFEST.json gets each
//! file's SHA-256 and size without reading anything back.

use crate::Error;
use mobius_core::atomic::{sync_dir, AtomicFile};
use mobius_core::digest::HashingWriter;
use mobius_core::platform;
use serde::Serialize;
use std::cell::Cell;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// One file of the bundle, as MANIFEST.json lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

enum Target {
    Zip(Box<ZipWriter<Quiet>>, Rc<Cell<bool>>),
    Dir { tmp: PathBuf, dest: PathBuf },
}

pub struct Bundle {
    target: Option<Target>,
    files: Vec<FileEntry>,
}

const BUF: usize = 256 * 1024;
/// Bundles hold redacted but still internal data: owner only.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
/// Deflate level 6 (zlib's default, what `gzip -c` uses).
const LEVEL: i64 = 6;

/// The zip's file, which goes quiet after its first write error or once the bundle is
/// abandoned: a `ZipWriter` dropped unfinished (also by its own failed `finish`) finalizes
/// itself, and when that fails (a full disk) the zip crate prints its error's debug text to
/// stderr after the tool's own one-line error. Such a bundle is never published (`finish`
/// checks the flag; its `AtomicFile` removes the temporary file), so from then on writes and
/// seeks succeed without touching the file.
struct Quiet {
    inner: BufWriter<AtomicFile>,
    /// Set by the first write error, or when the bundle is dropped unfinished.
    abandoned: Rc<Cell<bool>>,
    /// The position the zip crate believes in once abandoned.
    pos: u64,
}

impl Write for Quiet {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned.get() {
            self.pos = self.pos.saturating_add(buf.len() as u64);
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.abandoned.set(r.is_err());
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.abandoned.get() {
            return Ok(());
        }
        let r = self.inner.flush();
        self.abandoned.set(r.is_err());
        r
    }
}

impl Seek for Quiet {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if !self.abandoned.get() {
            let p = self.inner.seek(to);
            self.abandoned.set(p.is_err());
            self.pos = *p.as_ref().unwrap_or(&self.pos);
            return p;
        }
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) | SeekFrom::End(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

impl Bundle {
    pub fn zip(dest: &Path) -> Result<Bundle, Error> {
        let file = AtomicFile::create(dest, FILE_MODE).map_err(|e| Error::io("create", dest, e))?;
        let abandoned = Rc::new(Cell::new(false));
        let quiet = Quiet {
            inner: BufWriter::with_capacity(BUF, file),
            abandoned: Rc::clone(&abandoned),
            pos: 0,
        };
        Ok(Bundle {
            target: Some(Target::Zip(Box::new(ZipWriter::new(quiet)), abandoned)),
            files: Vec::new(),
        })
    }

    /// A directory bundle, built in `.<name>.tmp-<pid>` beside `dest` (a name every tool
    /// skips as temporary) and renamed on [`Bundle::finish`].
    pub fn dir(dest: &Path) -> Result<Bundle, Error> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        platform::dir_builder(DIR_MODE)
            .create(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(Bundle {
            target: Some(Target::Dir {
                tmp,
                dest: dest.to_path_buf(),
            }),
            files: Vec::new(),
        })
    }

    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Adds the file `name` (`/`-separated), its content written by `fill`. `size_hint`
    /// (bytes, roughly) selects ZIP64 for entries that may pass 4 GiB.
    pub fn add<F>(&mut self, name: &str, size_hint: u64, fill: F) -> Result<FileEntry, Error>
    where
        F: FnOnce(&mut dyn Write) -> Result<(), Error>,
    {
        let shown = PathBuf::from(name);
        let entry = match self.target.as_mut() {
            Some(Target::Zip(zip, _)) => {
                let opts = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Deflated)
                    .compression_level(Some(LEVEL))
                    .unix_permissions(FILE_MODE)
                    .large_file(size_hint >= 3 << 30);
                zip.start_file(name, opts).map_err(Error::Zip)?;
                let mut w = BufWriter::with_capacity(BUF, HashingWriter::new(&mut **zip));
                fill(&mut w)?;
                let hw = w
                    .into_inner()
                    .map_err(|e| Error::io("write", &shown, e.into_error()))?;
                let (_, sha256, size) = hw.finish();
                FileEntry {
                    path: name.to_owned(),
                    size,
                    sha256,
                }
            }
            Some(Target::Dir { tmp, .. }) => {
                let path = tmp.join(name);
                if let Some(parent) = path.parent() {
                    platform::dir_builder(DIR_MODE)
                        .recursive(true)
                        .create(parent)
                        .map_err(|e| Error::io("create", parent, e))?;
                }
                let file = platform::create_mode(
                    OpenOptions::new().write(true).create_new(true),
                    FILE_MODE,
                )
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))?;
                let mut w = BufWriter::with_capacity(BUF, HashingWriter::new(file));
                fill(&mut w)?;
                let hw = w
                    .into_inner()
                    .map_err(|e| Error::io("write", &path, e.into_error()))?;
                let (file, sha256, size) = hw.finish();
                file.sync_all().map_err(|e| Error::io("sync", &path, e))?;
                FileEntry {
                    path: name.to_owned(),
                    size,
                    sha256,
                }
            }
            None => return Err(Error::Internal("bundle already finished")),
        };
        self.files.push(entry.clone());
        Ok(entry)
    }

    /// Publishes the bundle under its final name.
    pub fn finish(mut self) -> Result<(), Error> {
        match self.target.take() {
            Some(Target::Zip(zip, abandoned)) => {
                let quiet = zip.finish().map_err(Error::Zip)?;
                if abandoned.get() {
                    return Err(Error::io(
                        "write",
                        quiet.inner.get_ref().dest(),
                        io::Error::other("an earlier write to it failed"),
                    ));
                }
                let file = quiet
                    .inner
                    .into_inner()
                    .map_err(|e| Error::io("write", Path::new("bundle"), e.into_error()))?;
                let dest = file.dest().to_path_buf();
                file.commit().map_err(|e| Error::io("commit", &dest, e))
            }
            Some(Target::Dir { tmp, dest }) => {
                sync_tree(&tmp)?;
                fs::rename(&tmp, &dest).map_err(|e| Error::io("rename", &tmp, e))?;
                let parent = dest.parent().unwrap_or(Path::new("."));
                sync_dir(parent).map_err(|e| Error::io("sync", parent, e))
            }
            None => Err(Error::Internal("bundle already finished")),
        }
    }
}

fn sync_tree(dir: &Path) -> Result<(), Error> {
    for entry in walkdir::WalkDir::new(dir).contents_first(true) {
        let entry = entry.map_err(|e| Error::io("walk", dir, e.into()))?;
        if entry.file_type().is_dir() {
            sync_dir(entry.path()).map_err(|e| Error::io("sync", entry.path(), e))?;
        }
    }
    Ok(())
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // The zip's AtomicFile removes its own temporary file; a directory is ours to remove.
        match self.target.take() {
            Some(Target::Dir { tmp, .. }) => {
                let _ = fs::remove_dir_all(tmp);
            }
            Some(Target::Zip(zip, abandoned)) => {
                abandoned.set(true);
                drop(zip);
            }
            None => {}
        }
    }
}
