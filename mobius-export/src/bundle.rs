//! Where the bundle's files go: a zip written through `AtomicFile` (published by rename
//! only when complete and synced), or a directory built under a temporary name and renamed
//! into place. Every file passes through a hasher on its way, so MANIFEST.json gets each
//! file's SHA-256 and size without reading anything back.
//!
//! The zip is written by the shared writer of mobius-backup (`mobius_core::zipout`), each
//! entry one deflate stream compressed in 1 MiB chunks on every core
//! (`mobius_core::deflate::DeflatePool`): the export of a year of monitoring logs is
//! bound by deflate and by redaction, and both run in the workers, while this thread reads,
//! summarizes, hashes and writes. [`Bundle::add_lines`] hands the per-line redaction of JSON
//! lines to those workers too.

use crate::Error;
use mobius_core::atomic::{sync_dir, AtomicFile};
use mobius_core::deflate::{map_lines, DeflatePool, LineMap};
use mobius_core::digest::{hex, HashingWriter};
use mobius_core::platform;
use mobius_core::progress::Progress;
use mobius_core::zipout::{self, Head, Spill, ZipData, ZipOut, METHOD_DEFLATED};
use serde::Serialize;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One file of the bundle, as MANIFEST.json lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

struct ZipTarget {
    zip: ZipOut<BufWriter<AtomicFile>>,
    pool: DeflatePool,
    /// Every entry's modification time: the export's own time.
    mtime: Option<u64>,
    dest: PathBuf,
}

enum Target {
    Zip(Box<ZipTarget>),
    Dir { tmp: PathBuf, dest: PathBuf },
}

pub struct Bundle {
    target: Option<Target>,
    files: Vec<FileEntry>,
    /// Advanced by the bytes of each monitoring log written (the bulk of any bundle).
    progress: Progress,
}

const BUF: usize = 256 * 1024;
/// Bundles hold redacted but still internal data: owner only.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
/// Deflate level 6 (zlib's default, what `gzip -c` uses).
const LEVEL: u32 = 6;
/// Entries that may pass 4 GiB get ZIP64 sizes in their local header.
const LARGE: u64 = 3 << 30;

impl Bundle {
    /// A zip bundle at `dest`, its entries dated `created`.
    pub fn zip(dest: &Path, created: SystemTime) -> Result<Bundle, Error> {
        let file = AtomicFile::create(dest, FILE_MODE).map_err(|e| Error::io("create", dest, e))?;
        let central = Spill::create(dest, "central").map_err(|e| Error::io("create", dest, e))?;
        Ok(Bundle {
            target: Some(Target::Zip(Box::new(ZipTarget {
                zip: ZipOut::new(BufWriter::with_capacity(BUF, file), central),
                pool: DeflatePool::per_core(LEVEL),
                mtime: zipout::unix_secs(Some(created)),
                dest: dest.to_path_buf(),
            }))),
            files: Vec::new(),
            progress: Progress::hidden(),
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
            progress: Progress::hidden(),
        })
    }

    /// Shows `progress` (a bar over the bytes of the inputs) while the bundle is written.
    pub fn with_progress(mut self, progress: Progress) -> Bundle {
        self.progress = progress;
        self
    }

    /// `n` more input bytes are in the bundle.
    pub fn advance(&self, n: u64) {
        self.progress.inc(n);
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
        self.add_mapped(name, size_hint, None, fill)
    }

    /// Like [`Bundle::add`], but `fill` writes lines (UTF-8, each ending in `\n` but
    /// perhaps the last) and the file holds `map` of each: in a zip, the compression workers
    /// apply it, on every core.
    pub fn add_lines<F>(
        &mut self,
        name: &str,
        size_hint: u64,
        map: LineMap,
        fill: F,
    ) -> Result<FileEntry, Error>
    where
        F: FnOnce(&mut dyn Write) -> Result<(), Error>,
    {
        self.add_mapped(name, size_hint, Some(map), fill)
    }

    fn add_mapped<F>(
        &mut self,
        name: &str,
        size_hint: u64,
        map: Option<LineMap>,
        fill: F,
    ) -> Result<FileEntry, Error>
    where
        F: FnOnce(&mut dyn Write) -> Result<(), Error>,
    {
        let shown = PathBuf::from(name);
        let werr = |e| Error::io("write the bundle entry", &shown, e);
        let entry = match self.target.as_mut() {
            Some(Target::Zip(t)) => {
                let mut head = Head {
                    name,
                    dir: false,
                    method: METHOD_DEFLATED,
                    crc: 0,
                    compressed: 0,
                    size: 0,
                    mtime: t.mtime,
                    mode: FILE_MODE,
                };
                let pending = t
                    .zip
                    .start_streamed(&head, size_hint >= LARGE)
                    .map_err(werr)?;
                let mut stream = t.pool.stream(ZipData(&mut t.zip), map);
                fill(&mut stream)?;
                let sum = stream.finish().map_err(werr)?;
                head.crc = sum.crc;
                head.size = sum.size;
                head.compressed = sum.compressed;
                t.zip.end_streamed(pending, &head).map_err(werr)?;
                FileEntry {
                    path: name.to_owned(),
                    size: sum.size,
                    sha256: hex(&sum.sha256),
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
                match map {
                    None => fill(&mut w)?,
                    Some(map) => {
                        let mut lines = MapLines {
                            map,
                            out: &mut w,
                            buf: Vec::new(),
                            mapped: Vec::new(),
                        };
                        fill(&mut lines)?;
                        lines.end().map_err(|e| Error::io("write", &path, e))?;
                    }
                }
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
            Some(Target::Zip(t)) => {
                let ZipTarget { zip, dest, .. } = *t;
                let werr = |e| Error::io("write", &dest, e);
                let file = zip
                    .finish()
                    .map_err(werr)?
                    .into_inner()
                    .map_err(|e| werr(e.into_error()))?;
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

/// Applies a [`LineMap`] to each complete line written through it, for a directory bundle
/// (a zip's workers do it there).
struct MapLines<'a> {
    map: LineMap,
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    mapped: Vec<u8>,
}

impl MapLines<'_> {
    /// Maps and writes what is left: a last line without its `\n`.
    fn end(mut self) -> io::Result<()> {
        self.mapped.clear();
        map_lines(self.map, &self.buf, &mut self.mapped);
        self.out.write_all(&self.mapped)
    }
}

impl Write for MapLines<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
            self.mapped.clear();
            map_lines(self.map, &self.buf[..=i], &mut self.mapped);
            self.out.write_all(&self.mapped)?;
            self.buf.drain(..=i);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // The zip's AtomicFile and spill file remove their own temporary files; a directory
        // is ours to remove.
        if let Some(Target::Dir { tmp, .. }) = self.target.take() {
            let _ = fs::remove_dir_all(tmp);
        }
    }
}
