//! Writing the zip fast on every core without letting memory grow with the source.
//!
//! The sorted entries are cut into jobs: batches of small files (a few MB in all) and single
//! big files. Worker threads take batches in order; for each they read every file, hash it
//! (SHA-256, for the manifest), decide stored or deflated, and write it into a small in-memory
//! zip of their own, whose deflate state is reused from file to file. The main thread merges
//! the batch zips into the one archive in sorted order, copying the compressed bytes without
//! recompressing them, and streams big files itself. Workers may run at most `WINDOW` jobs
//! ahead of the writer, so the memory in flight is about `WINDOW x BATCH_BYTES` whatever the
//! size of the source.

use crate::walk::{Item, Kind};
use crate::Error;
use mobius_core::backups::ManifestFile;
use mobius_core::cli::Reporter;
use mobius_core::digest::hex;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Cursor, Read, Seek, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Deflate level. Measured on the benchmark tree (200 MB, half text; CPU seconds / zip MB):
/// level 1 0.97 / 139, level 2 1.25 / 130, level 3 1.37 / 128, level 6 1.9 / 127 (what
/// `zip -r` uses). Level 3 is within 1% of level 6's size for 30% less CPU.
pub(crate) const LEVEL: i64 = 3;
/// Files larger than this are streamed by the writer thread instead of buffered whole.
const BIG_FILE: u64 = 4 << 20;
/// Input bytes per batch, and entries per batch.
const BATCH_BYTES: u64 = 1 << 20;
const BATCH_FILES: usize = 256;
/// Jobs the workers may run ahead of the writer.
const WINDOW: usize = 4;
/// How much of a file is looked at to decide whether deflating it is worth it: 8 KiB
/// tells random from text reliably (the entropy estimate of 8 KiB of uniform bytes is
/// about 7.98 bits) at a tenth of the cost of counting 64 KiB.
const SAMPLE: usize = 8 << 10;
/// Below this size deflate's fixed overhead outweighs what it could save.
const TINY: usize = 64;
/// Progress is drawn only for sources at least this large.
const PROGRESS_MIN_BYTES: u64 = 50 << 20;

enum Job {
    Batch(Range<usize>),
    Big(usize),
}

/// A worker's result: a complete little zip holding one batch, and its manifest lines.
struct Batch {
    zip: Vec<u8>,
    files: Vec<ManifestFile>,
}

struct Window {
    next: usize,
    written: usize,
    cancel: bool,
}

/// Totals of the written entries.
pub(crate) struct Written {
    pub files: Vec<ManifestFile>,
    pub bytes_in: u64,
}

/// Appends every item to `zip` in order. The manifest is the caller's business (it is the
/// last entry and needs these results).
pub(crate) fn write_entries<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    items: &[Item],
    reporter: &Reporter,
) -> Result<Written, Error> {
    let jobs = plan(items);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    let state = Mutex::new(Window {
        next: 0,
        written: 0,
        cancel: false,
    });
    let turn = Condvar::new();
    let total: u64 = items.iter().map(Item::size).sum();
    let mut progress = Progress::new(reporter, total);

    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Done>(WINDOW);
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, state, turn) = (&jobs, &state, &turn);
            s.spawn(move || worker(items, jobs, state, turn, &tx));
        }
        drop(tx);

        let result = (|| {
            let mut files = Vec::new();
            let mut bytes_in = 0u64;
            let mut pending = BTreeMap::new();
            for (j, job) in jobs.iter().enumerate() {
                match job {
                    Job::Big(i) => {
                        let mf = write_big(zip, &items[*i])?;
                        bytes_in += mf.size;
                        files.push(mf);
                    }
                    Job::Batch(_) => {
                        let batch = loop {
                            if let Some(r) = pending.remove(&j) {
                                break r?;
                            }
                            let (k, r) = rx.recv().map_err(|_| Error::Internal {
                                what: "a compression worker stopped unexpectedly",
                            })?;
                            pending.insert(k, r);
                        };
                        let part = ZipArchive::new(Cursor::new(batch.zip)).map_err(Error::zip)?;
                        zip.merge_archive(part).map_err(Error::zip)?;
                        bytes_in += batch.files.iter().map(|f| f.size).sum::<u64>();
                        files.extend(batch.files);
                    }
                }
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                st.written = j + 1;
                drop(st);
                turn.notify_all();
                progress.update(bytes_in, files.len());
            }
            progress.done();
            Ok(Written { files, bytes_in })
        })();
        // Whatever happened, release the workers: they stop before their next job.
        state.lock().unwrap_or_else(PoisonError::into_inner).cancel = true;
        turn.notify_all();
        drop(rx);
        result
    })
}

fn plan(items: &[Item]) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, item) in items.iter().enumerate() {
        if item.size() > BIG_FILE {
            if start < i {
                jobs.push(Job::Batch(start..i));
            }
            jobs.push(Job::Big(i));
            start = i + 1;
            bytes = 0;
            continue;
        }
        bytes += item.size();
        if bytes >= BATCH_BYTES || i + 1 - start >= BATCH_FILES {
            jobs.push(Job::Batch(start..i + 1));
            start = i + 1;
            bytes = 0;
        }
    }
    if start < items.len() {
        jobs.push(Job::Batch(start..items.len()));
    }
    jobs
}

type Done = (usize, Result<Batch, Error>);

fn worker(
    items: &[Item],
    jobs: &[Job],
    state: &Mutex<Window>,
    turn: &Condvar,
    tx: &mpsc::SyncSender<Done>,
) {
    let mut buf = Vec::new();
    loop {
        let (j, range) = {
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if st.cancel {
                    return;
                }
                while let Some(Job::Big(_)) = jobs.get(st.next) {
                    st.next += 1;
                }
                let Some(Job::Batch(range)) = jobs.get(st.next) else {
                    return;
                };
                if st.next < st.written + WINDOW {
                    st.next += 1;
                    break (st.next - 1, range.clone());
                }
                st = turn.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // A panic must reach the writer as an error: it waits for this very job, and the
        // other workers wait for the writer.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            build_batch(&items[range], &mut buf)
        }))
        .unwrap_or(Err(Error::Internal {
            what: "a compression worker panicked",
        }));
        if tx.send((j, result)).is_err() {
            return;
        }
    }
}

/// Reads, hashes and compresses a batch of entries into an in-memory zip.
fn build_batch(items: &[Item], buf: &mut Vec<u8>) -> Result<Batch, Error> {
    let input: u64 = items.iter().map(Item::size).sum();
    let capacity = usize::try_from(input).unwrap_or(0) + 128 * items.len() + 1024;
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(capacity)));
    let mut files = Vec::new();
    for item in items {
        if item.kind == Kind::Dir {
            zip.add_directory(item.name.as_str(), options(item, true))
                .map_err(Error::zip)?;
            continue;
        }
        buf.clear();
        open_source(item)?
            .read_to_end(buf)
            .map_err(|e| Error::io("read", &item.path, e))?;
        let store = buf.len() < TINY || looks_incompressible(&buf[..buf.len().min(SAMPLE)]);
        zip.start_file(item.name.as_str(), options(item, store))
            .map_err(Error::zip)?;
        zip.write_all(buf)
            .map_err(|e| Error::io("compress", &item.path, e))?;
        files.push(ManifestFile {
            path: item.name.clone(),
            size: buf.len() as u64,
            sha256: hex(&Sha256::digest(&buf[..])),
            mode: item.mode,
        });
    }
    let zip = zip.finish().map_err(Error::zip)?.into_inner();
    Ok(Batch { zip, files })
}

/// Adds one small entry by way of an in-memory zip merged into `zip`: unlike `start_file`,
/// this never seeks back to patch a header, which keeps the running SHA-256 of the output
/// valid (see `hashing`).
pub(crate) fn append_in_memory<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    opts: SimpleFileOptions,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let mut part = ZipWriter::new(Cursor::new(Vec::new()));
    part.start_file(name, opts).map_err(Error::zip)?;
    fill(&mut part).map_err(|e| Error::io("compress", Path::new(name), e))?;
    let part = part.finish().map_err(Error::zip)?;
    zip.merge_archive(ZipArchive::new(part).map_err(Error::zip)?)
        .map_err(Error::zip)
}

/// Streams one big file into the zip on the writer thread, hashing as it goes.
fn write_big<W: Write + Seek>(zip: &mut ZipWriter<W>, item: &Item) -> Result<ManifestFile, Error> {
    let mut f = open_source(item)?;
    let mut buf = vec![0u8; 256 << 10];
    let mut head = 0;
    while head < SAMPLE {
        match f.read(&mut buf[head..SAMPLE]) {
            Ok(0) => break,
            Ok(n) => head += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", &item.path, e)),
        }
    }
    let store = looks_incompressible(&buf[..head]);
    let opts = options(item, store).large_file(item.size() >= 1 << 31);
    zip.start_file(item.name.as_str(), opts)
        .map_err(Error::zip)?;
    let mut hasher = Sha256::new();
    let mut size = head as u64;
    hasher.update(&buf[..head]);
    zip.write_all(&buf[..head])
        .map_err(|e| Error::io("write", &item.path, e))?;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", &item.path, e)),
        };
        hasher.update(&buf[..n]);
        zip.write_all(&buf[..n])
            .map_err(|e| Error::io("write", &item.path, e))?;
        size += n as u64;
    }
    Ok(ManifestFile {
        path: item.name.clone(),
        size,
        sha256: hex(&hasher.finalize()),
        mode: item.mode,
    })
}

/// Opens a source file for reading. Regular files are opened with O_NOFOLLOW, so a file
/// swapped for a symlink after the walk is not followed out of the tree, and O_NONBLOCK, so a
/// file swapped for a FIFO cannot hang the backup; the open file is checked to be regular.
/// (Without those flags, on Windows, the symlink is looked for just before the open.)
pub(crate) fn open_source(item: &Item) -> Result<File, Error> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK;
        if !item.via_link {
            flags |= libc::O_NOFOLLOW;
        }
        opts.custom_flags(flags);
    }
    #[cfg(not(unix))]
    if !item.via_link
        && std::fs::symlink_metadata(&item.path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(became_symlink(&item.path));
    }
    let f = opts
        .open(&item.path)
        .map_err(|e| open_error(&item.path, e))?;
    let meta = f.metadata().map_err(|e| Error::io("read", &item.path, e))?;
    if !meta.is_file() {
        return Err(Error::Refused {
            path: item.path.clone(),
            why: "it stopped being a regular file while the backup ran".into(),
        });
    }
    Ok(f)
}

fn open_error(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::Refused {
            path: path.to_path_buf(),
            why: "it cannot be read (permission denied); fix its permissions".into(),
        }
    } else if is_symlink_loop(&e) {
        became_symlink(path)
    } else {
        Error::io("read", path, e)
    }
}

/// What O_NOFOLLOW answers when the last component is a symlink.
fn is_symlink_loop(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

fn became_symlink(path: &Path) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        why: "it became a symlink while the backup ran".into(),
    }
}

/// True when the sample's byte distribution is close to uniform (random, encrypted or already
/// compressed data), which deflate cannot shrink. Counting bytes costs far less than trying to
/// deflate, and this is what lets half of a mixed tree skip the compressor entirely. Below
/// 512 bytes the estimate is biased low, so small files are always tried.
fn looks_incompressible(sample: &[u8]) -> bool {
    if sample.len() < 512 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[usize::from(b)] += 1;
    }
    let n = sample.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy > 7.5
}

pub(crate) fn options(item: &Item, store: bool) -> SimpleFileOptions {
    let opts = SimpleFileOptions::default()
        .unix_permissions(item.mode)
        .last_modified_time(zip_time(item.mtime));
    if store {
        opts.compression_method(CompressionMethod::Stored)
    } else {
        opts.compression_method(CompressionMethod::Deflated)
            .compression_level(Some(LEVEL))
    }
}

/// A file's modification time as a zip (MS-DOS, UTC here) time; 1980-01-01 when out of range.
pub(crate) fn zip_time(t: Option<SystemTime>) -> DateTime {
    let Some(secs) = t
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
    else {
        return DateTime::DEFAULT;
    };
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let parts = (
        u16::try_from(y),
        u8::try_from(rem / 3600),
        u8::try_from(rem % 3600 / 60),
        u8::try_from(rem % 60),
    );
    match parts {
        (Ok(y), Ok(h), Ok(mi), Ok(s)) => {
            DateTime::from_date_and_time(y, m, d, h, mi, s).unwrap_or(DateTime::DEFAULT)
        }
        _ => DateTime::DEFAULT,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A one-line `\r` progress display on stderr, for a person at a terminal.
struct Progress {
    on: bool,
    tool: &'static str,
    total: u64,
    last: Instant,
}

impl Progress {
    fn new(reporter: &Reporter, total: u64) -> Progress {
        Progress {
            on: reporter.progress_allowed() && total >= PROGRESS_MIN_BYTES,
            tool: reporter.tool(),
            total,
            last: Instant::now(),
        }
    }

    fn update(&mut self, done: u64, files: usize) {
        if !self.on || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let pct = done.saturating_mul(100) / self.total.max(1);
        let _ = write!(
            io::stderr().lock(),
            "\r{}: {pct:3}% {} / {} MB, {files} files",
            self.tool,
            done >> 20,
            self.total >> 20
        );
    }

    fn done(&self) {
        if self.on {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        // 2026-11-26
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
    }

    #[test]
    fn random_bytes_are_stored_and_text_is_tried() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let random: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(looks_incompressible(&random));
        let text = "key1=value7 key2=value14\n".repeat(3000);
        assert!(!looks_incompressible(text.as_bytes()));
        assert!(
            !looks_incompressible(&random[..100]),
            "small files are tried"
        );
    }

    #[test]
    fn plan_cuts_batches_and_isolates_big_files() {
        let item = |size| Item {
            name: String::new(),
            path: Default::default(),
            kind: Kind::File { size },
            mode: 0o644,
            mtime: None,
            via_link: false,
        };
        let items = vec![
            item(10),
            item(BIG_FILE + 1),
            item(BATCH_BYTES),
            item(1),
            item(2),
        ];
        let jobs = plan(&items);
        let shape: Vec<String> = jobs
            .iter()
            .map(|j| match j {
                Job::Batch(r) => format!("b{}..{}", r.start, r.end),
                Job::Big(i) => format!("B{i}"),
            })
            .collect();
        assert_eq!(shape, ["b0..1", "B1", "b2..3", "b3..5"]);
    }
}
