//! Writing the zip fast on every core without letting memory grow with the source.
//!
//! The sorted entries are cut into jobs: batches of small files (a few MB in all) and single
//! big files. Worker threads take batches in order; for each they read every file, hash it
//! (SHA-256 for the manifest, CRC-32 for the zip), decide stored or deflated, and compress it
//! into one buffer of their own with a deflate state reused from file to file. The main
//! thread writes the batches' entries into the archive in sorted order ([`ZipOut`]) and
//! streams big files itself. Workers may run at most `WINDOW` jobs ahead of the writer, so
//! the memory in flight is about `WINDOW x BATCH_BYTES` whatever the size of the source.
//!
//! Nothing per file is kept once written: the central directory goes to a spill file (see
//! `zipout`), and each file's manifest row (SHA-256 and size, 40 bytes) to another, read back
//! in the same order when the manifest is written.

use crate::walk::{Item, Items};
use crate::Error;
use flate2::{Compress, Compression};
use mobius_core::cli::Reporter;
use mobius_core::deflate::{deflate_all, DeflateTo};
use mobius_core::zipout::{Head, Spill, ZipData, ZipOut, METHOD_DEFLATED, METHOD_STORED};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, PoisonError};

/// Deflate level. Measured on the benchmark tree (200 MB, half text; CPU seconds / zip MB):
/// level 1 0.97 / 139, level 2 1.25 / 130, level 3 1.37 / 128, level 6 1.9 / 127 (what
/// `zip -r` uses). Level 3 is within 1% of level 6's size for 30% less CPU.
pub(crate) const LEVEL: u32 = 3;
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
/// One manifest row in the rows spill: SHA-256, then the size read (little endian).
pub(crate) const ROW: usize = 40;

enum Job {
    Batch(Range<usize>),
    Big(usize),
}

/// One compressed entry of a batch.
struct Packed {
    item: usize,
    method: u16,
    crc: u32,
    size: u64,
    sha256: [u8; 32],
    data: Range<usize>,
}

/// A worker's result: every entry of one batch, compressed, in one buffer.
struct Batch {
    data: Vec<u8>,
    entries: Vec<Packed>,
}

struct Window {
    next: usize,
    written: usize,
    cancel: bool,
}

/// Totals of the written entries.
pub(crate) struct Written {
    pub files: u64,
    pub bytes_in: u64,
}

fn head<'a>(items: &'a Items, item: &Item) -> Head<'a> {
    Head {
        name: items.name(item),
        dir: item.is_dir(),
        method: METHOD_STORED,
        crc: 0,
        compressed: 0,
        size: 0,
        mtime: item.mtime(),
        mode: u32::from(item.mode),
    }
}

fn row(rows: &mut Spill, sha256: &[u8; 32], size: u64) -> io::Result<()> {
    rows.write_all(sha256)?;
    rows.write_all(&size.to_le_bytes())
}

/// Appends every item to `zip` in order, and each file's manifest row to `rows`. The manifest
/// is the caller's business (it is the last entry and needs these results).
pub(crate) fn write_entries<W: Write + Seek>(
    zip: &mut ZipOut<W>,
    items: &Items,
    rows: &mut Spill,
    reporter: &Reporter,
) -> Result<Written, Error> {
    let jobs = plan(items.all());
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
    let total: u64 = items.all().iter().map(Item::size).sum();
    let progress = mobius_core::progress::Progress::bytes(reporter, total, "");
    let rows_err = |e| Error::io("write", Path::new("the manifest's temporary file"), e);

    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Done>(WINDOW);
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, state, turn) = (&jobs, &state, &turn);
            s.spawn(move || worker(items, jobs, state, turn, &tx));
        }
        drop(tx);

        let result = (|| {
            let mut files = 0u64;
            let mut bytes_in = 0u64;
            let mut pending = BTreeMap::new();
            for (j, job) in jobs.iter().enumerate() {
                match job {
                    Job::Big(i) => {
                        let (sha, size) = write_big(zip, items, items.get(*i))?;
                        row(rows, &sha, size).map_err(rows_err)?;
                        bytes_in += size;
                        files += 1;
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
                        for p in &batch.entries {
                            let item = items.get(p.item);
                            let data = batch.data.get(p.data.clone()).unwrap_or(&[]);
                            let h = Head {
                                method: p.method,
                                crc: p.crc,
                                compressed: data.len() as u64,
                                size: p.size,
                                ..head(items, item)
                            };
                            zip.add(&h, data).map_err(|e| {
                                Error::io("write the zip entry for", Path::new(h.name), e)
                            })?;
                            if !item.is_dir() {
                                row(rows, &p.sha256, p.size).map_err(rows_err)?;
                                bytes_in += p.size;
                                files += 1;
                            }
                        }
                    }
                }
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                st.written = j + 1;
                drop(st);
                turn.notify_all();
                progress.set_position(bytes_in);
                if progress.active() {
                    progress.set_message(mobius_core::text::plural(files, "file"));
                }
            }
            progress.finish();
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
    items: &Items,
    jobs: &[Job],
    state: &Mutex<Window>,
    turn: &Condvar,
    tx: &mpsc::SyncSender<Done>,
) {
    let mut buf = Vec::new();
    let mut deflate = Compress::new(Compression::new(LEVEL), false);
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
            build_batch(items, range, &mut buf, &mut deflate)
        }))
        .unwrap_or(Err(Error::Internal {
            what: "a compression worker panicked",
        }));
        if tx.send((j, result)).is_err() {
            return;
        }
    }
}

/// Reads, hashes and compresses a batch of entries into one buffer.
fn build_batch(
    items: &Items,
    range: Range<usize>,
    buf: &mut Vec<u8>,
    deflate: &mut Compress,
) -> Result<Batch, Error> {
    let list = items.all().get(range.clone()).unwrap_or(&[]);
    let input: u64 = list.iter().map(Item::size).sum();
    let mut data = Vec::with_capacity(usize::try_from(input).unwrap_or(0) + 1024);
    let mut entries = Vec::with_capacity(list.len());
    for (i, item) in range.zip(list) {
        let at = data.len();
        if item.is_dir() {
            entries.push(Packed {
                item: i,
                method: METHOD_STORED,
                crc: 0,
                size: 0,
                sha256: [0; 32],
                data: at..at,
            });
            continue;
        }
        let path = items.path(item);
        buf.clear();
        open_source(&path, item.via_link())?
            .read_to_end(buf)
            .map_err(|e| Error::io("read", &path, e))?;
        let store = buf.len() < TINY || looks_incompressible(&buf[..buf.len().min(SAMPLE)]);
        let mut method = METHOD_STORED;
        if !store {
            deflate_all(deflate, buf, &mut data).map_err(|e| Error::io("compress", &path, e))?;
            method = METHOD_DEFLATED;
            // Deflate that did not shrink the file is undone: stored is smaller and faster
            // to read back.
            if data.len() - at >= buf.len() {
                data.truncate(at);
                method = METHOD_STORED;
            }
        }
        if method == METHOD_STORED {
            data.extend_from_slice(buf);
        }
        entries.push(Packed {
            item: i,
            method,
            crc: crc32fast::hash(buf),
            size: buf.len() as u64,
            sha256: Sha256::digest(&buf[..]).into(),
            data: at..data.len(),
        });
    }
    Ok(Batch { data, entries })
}

/// Streams one big file into the zip on the writer thread, hashing as it goes; returns its
/// SHA-256 and size.
fn write_big<W: Write + Seek>(
    zip: &mut ZipOut<W>,
    items: &Items,
    item: &Item,
) -> Result<([u8; 32], u64), Error> {
    let path = items.path(item);
    let mut f = open_source(&path, item.via_link())?;
    let mut buf = vec![0u8; 256 << 10];
    let mut head_len = 0;
    while head_len < SAMPLE {
        match f.read(&mut buf[head_len..SAMPLE]) {
            Ok(0) => break,
            Ok(n) => head_len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", &path, e)),
        }
    }
    let store = looks_incompressible(&buf[..head_len]);
    let mut h = head(items, item);
    h.method = if store {
        METHOD_STORED
    } else {
        METHOD_DEFLATED
    };
    let werr = |e| Error::io("write the zip entry for", &path, e);
    let pending = zip
        .start_streamed(&h, item.size() >= 1 << 31)
        .map_err(werr)?;
    let (crc, sha, size, compressed) = {
        let mut data = ZipData(zip);
        if store {
            let mut crc = crc32fast::Hasher::new();
            let mut sha = Sha256::new();
            let mut size = 0u64;
            let mut n = head_len;
            loop {
                crc.update(&buf[..n]);
                sha.update(&buf[..n]);
                data.write_all(&buf[..n]).map_err(werr)?;
                size += n as u64;
                n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                    Err(e) => return Err(Error::io("read", &path, e)),
                };
            }
            (crc.finalize(), sha.finalize().into(), size, size)
        } else {
            let mut d = DeflateTo::new(&mut data, LEVEL);
            let mut n = head_len;
            loop {
                d.write_all(&buf[..n]).map_err(werr)?;
                n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                    Err(e) => return Err(Error::io("read", &path, e)),
                };
            }
            d.finish().map_err(werr)?;
            (
                d.crc.clone().finalize(),
                d.sha.clone().finalize().into(),
                d.size,
                d.compressed,
            )
        }
    };
    h.crc = crc;
    h.size = size;
    h.compressed = compressed;
    zip.end_streamed(pending, &h).map_err(werr)?;
    Ok((sha, size))
}

/// Opens a source file for reading. Regular files are opened with O_NOFOLLOW, so a file
/// swapped for a symlink after the walk is not followed out of the tree, and O_NONBLOCK, so a
/// file swapped for a FIFO cannot hang the backup; the open file is checked to be regular.
/// (Without those flags, on Windows, the symlink is looked for just before the open.)
pub(crate) fn open_source(path: &Path, via_link: bool) -> Result<File, Error> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK;
        if !via_link {
            flags |= libc::O_NOFOLLOW;
        }
        opts.custom_flags(flags);
    }
    #[cfg(not(unix))]
    if !via_link && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(became_symlink(path));
    }
    let f = opts.open(path).map_err(|e| open_error(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io("read", path, e))?;
    if !meta.is_file() {
        return Err(Error::Refused {
            path: path.to_path_buf(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let d = tempfile::tempdir().unwrap();
        let sizes = [10, BIG_FILE + 1, BATCH_BYTES, 1, 2];
        for (i, n) in sizes.iter().enumerate() {
            let f = std::fs::File::create(d.path().join(format!("f{i}"))).unwrap();
            f.set_len(*n).unwrap();
        }
        let src = crate::walk::Source {
            shown: "d".into(),
            path: d.path().to_path_buf(),
            declared_in: None,
        };
        let items = crate::walk::collect(&[src], None).unwrap();
        let items = items.all();
        let jobs = plan(items);
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
