//! Opening a backup and streaming its entries through the checks.
//!
//! [`OpenedBackup::open`] reads what is small (sidecar, end record, central directory, the
//! manifest) and checks names and the manifest against the directory. [`OpenedBackup::for_each_entry`]
//! then reads every entry once: each entry's bytes are inflated, hashed (SHA-256 and CRC-32)
//! and counted while a visitor reads them, so a caller that writes them somewhere (rollback)
//! decompresses each entry exactly once. The whole file is hashed for the sidecar at the same
//! time, on another thread.

use crate::problems::{cap, kind, problem};
use crate::zipfmt::{
    self, CentralEntry, Directory, LocalFixed, FLAG_DESCRIPTOR, FLAG_ENCRYPTED,
    FLAG_STRONG_ENCRYPTION, LOCAL_FIXED_LEN, METHOD_DEFLATED, METHOD_STORED, S_IFDIR, S_IFMT,
    S_IFREG,
};
use crate::{Error, Mode};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use mobius_core::backups::{
    sidecar_path, unrestorable_entry_name, unsafe_entry_name, BackupName, Manifest,
    MANIFEST_FORMAT, MANIFEST_NAME,
};
use mobius_core::digest::{hex, parse_sidecar, sidecar_names};
use mobius_core::fsafe;
use mobius_core::progress::Progress;
use mobius_core::records::Problem;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A manifest beyond this is not a config backup's; refusing it bounds memory.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
const READ_BUFFER: usize = 1024 * 1024;
const DRAIN_BUFFER: usize = 256 * 1024;

/// How an entry's bytes are stored in the zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// An entry handed to a visitor: listed in the manifest, with a safe, unique name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// Position in the zip's central directory.
    pub index: usize,
    /// `/`-separated path; directories end with `/`.
    pub name: String,
    pub is_dir: bool,
    /// Permission bits to restore (`& 0o7777`): the manifest's for files, the zip's for
    /// directories (0o755 when the zip has none).
    pub mode: u32,
    /// The manifest's size and SHA-256 (hex); 0 and empty for directories.
    pub manifest_size: u64,
    pub manifest_sha256: String,
    /// What the zip headers claim: check limits and ratios on these before extracting.
    /// The reader never yields more than `size` bytes.
    pub size: u64,
    pub compressed_size: u64,
    pub method: Method,
    /// The modification time of the zip's extended-timestamp field (0x5455), the one to
    /// restore; `None` without one (the MS-DOS time has no time zone).
    pub mtime: Option<std::time::SystemTime>,
}

/// An extended-timestamp second count (a signed 32-bit `time_t`) as a time.
fn ut_time(secs: i32) -> std::time::SystemTime {
    let d = std::time::Duration::from_secs(u64::from(secs.unsigned_abs()));
    if secs >= 0 {
        std::time::UNIX_EPOCH + d
    } else {
        std::time::UNIX_EPOCH - d
    }
}

/// The outcome of a full pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Every problem found (open and pass), sidecar problems first, capped at
    /// [`crate::MAX_PROBLEMS`]. Empty means the backup is proven intact.
    pub problems: Vec<Problem>,
    /// Zip entries examined, the manifest not counted (0 in quick mode).
    pub entries: u64,
    /// Uncompressed bytes read and hashed.
    pub bytes: u64,
    /// SHA-256 of the whole zip file (hex), as the sidecar should say.
    pub sha256: String,
    /// Size of the zip file.
    pub file_len: u64,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the pass must do with one central directory entry.
#[derive(Debug, Clone)]
struct Slot {
    central: CentralEntry,
    /// Index into `OpenedBackup::entries` when the entry goes to the visitor.
    visit: Option<usize>,
    /// Manifest size and SHA-256 the content must have.
    expect: Option<(u64, String)>,
    /// For the manifest, already read at open: where its bytes end.
    known_end: Option<Option<u64>>,
    /// Encrypted or an unknown method: the bytes cannot be checked, only skipped.
    unreadable: bool,
}

/// A backup whose small parts have been read and checked; see the module docs.
#[derive(Debug)]
pub struct OpenedBackup {
    path: PathBuf,
    mode: Mode,
    file_len: u64,
    exists: bool,
    sidecar_digest: Option<String>,
    manifest: Option<Manifest>,
    entries: Vec<EntryMeta>,
    slots: Vec<Slot>,
    cd_start: u64,
    /// Sidecar problems, listed first in the result.
    sidecar_problems: Vec<Problem>,
    problems: Vec<Problem>,
}

impl OpenedBackup {
    /// Reads the sidecar, the zip's end record and central directory, and the manifest, and
    /// checks everything that does not need the entries' bytes. Damage is reported as
    /// problems, never as `Err`; `Err` is for the tool failing (permission denied, I/O error).
    pub fn open(path: &Path, mode: Mode) -> Result<OpenedBackup, Error> {
        let mut b = OpenedBackup {
            path: path.to_owned(),
            mode,
            file_len: 0,
            exists: false,
            sidecar_digest: None,
            manifest: None,
            entries: Vec::new(),
            slots: Vec::new(),
            cd_start: 0,
            sidecar_problems: Vec::new(),
            problems: Vec::new(),
        };
        let io_err = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        match fs::metadata(path) {
            Ok(m) if m.is_file() => {
                b.exists = true;
                b.file_len = m.len();
            }
            Ok(_) => {
                b.sidecar_problems.push(problem(
                    kind::BACKUP_MISSING,
                    None,
                    format!("{} is not a regular file", path.display()),
                ));
                return Ok(b);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                b.sidecar_problems.push(problem(
                    kind::BACKUP_MISSING,
                    None,
                    format!("{} does not exist", path.display()),
                ));
                return Ok(b);
            }
            Err(e) => return Err(io_err(e)),
        }
        b.read_sidecar()?;
        if mode == Mode::Quick {
            return Ok(b);
        }
        let mut file = fsafe::open_input(path, fsafe::Kind::Archive).map_err(io_err)?;
        let Some(dir) =
            zipfmt::read_directory(&mut file, b.file_len, &mut b.problems).map_err(io_err)?
        else {
            return Ok(b);
        };
        // A second, independent reader: if the zip library that other tools use cannot open
        // what we accept, something is wrong with the file (or with us).
        if let Err(e) =
            zip::ZipArchive::new(fsafe::open_input(path, fsafe::Kind::Archive).map_err(io_err)?)
        {
            b.problems.push(problem(
                kind::ZIP_STRUCTURE,
                None,
                format!("the zip library cannot open it: {e}"),
            ));
        }
        b.check_directory(dir, &mut file)?;
        Ok(b)
    }

    fn read_sidecar(&mut self) -> Result<(), Error> {
        let side = sidecar_path(&self.path);
        let text = match fsafe::read_input(&side, fsafe::Kind::Sidecar) {
            Ok(t) => t,
            // A pipe, a device or a 100 MB file where the one-line sidecar should be: the
            // backup cannot be checked against it, which is a problem with the backup.
            Err(e) if fsafe::is_refusal(&e) => {
                self.sidecar_problems.push(problem(
                    kind::SIDECAR_UNPARSEABLE,
                    None,
                    format!("sidecar {} {e}", side.display()),
                ));
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.sidecar_problems.push(problem(
                    kind::SIDECAR_MISSING,
                    None,
                    format!(
                        "{} does not exist: the backup is incomplete (a crash before the sidecar was written) or the sidecar was removed",
                        side.display()
                    ),
                ));
                return Ok(());
            }
            Err(source) => return Err(Error::Io { path: side, source }),
        };
        let parsed = std::str::from_utf8(&text)
            .map_err(|_| "is not UTF-8 text".to_owned())
            .and_then(|t| parse_sidecar(t).map_err(|e| e.to_string()));
        match parsed {
            Err(e) => self.sidecar_problems.push(problem(
                kind::SIDECAR_UNPARSEABLE,
                None,
                format!("sidecar {} {e}", side.display()),
            )),
            Ok((digest, name)) => {
                let own = file_name(&self.path);
                if !sidecar_names(&name, &self.path) {
                    self.sidecar_problems.push(problem(
                        kind::SIDECAR_NAME_MISMATCH,
                        None,
                        format!(
                            "sidecar {} is for \"{}\", not {own:?}: it belongs to another backup or the zip was renamed",
                            side.display(),
                            fsafe::excerpt(name.as_bytes(), fsafe::EXCERPT_CHARS)
                        ),
                    ));
                }
                self.sidecar_digest = Some(digest);
            }
        }
        Ok(())
    }

    fn check_directory(&mut self, dir: Directory, file: &mut File) -> Result<(), Error> {
        self.cd_start = dir.cd_start;
        let entries = dir.entries;
        let first = entries.first().map_or(dir.cd_start, |e| e.offset);
        if first != 0 {
            self.problems.push(problem(
                kind::GAP,
                None,
                format!("{first} unexplained bytes before the first entry"),
            ));
        }
        let names = check_names(&entries, &mut self.problems);
        let manifest_index = entries
            .iter()
            .rposition(|e| e.name_raw == MANIFEST_NAME.as_bytes());
        let mut slots: Vec<Slot> = entries
            .iter()
            .map(|c| Slot {
                unreadable: !supported(c),
                central: c.clone(),
                visit: None,
                expect: None,
                known_end: None,
            })
            .collect();
        for c in &entries {
            self.check_entry_header(c);
        }
        let Some(mi) = manifest_index else {
            self.problems.push(problem(
                kind::MANIFEST_MISSING,
                None,
                format!("the zip has no {MANIFEST_NAME}: it is not a MOBIUS backup, or the manifest was removed"),
            ));
            self.slots = slots;
            return Ok(());
        };
        if mi + 1 != entries.len() {
            self.problems.push(problem(
                kind::MANIFEST_INVALID,
                Some(MANIFEST_NAME),
                "the manifest is not the last entry, where every MOBIUS backup has it",
            ));
        }
        let (bytes, end) = self.read_manifest(file, &entries[mi])?;
        slots[mi].known_end = Some(end);
        if let Some(bytes) = bytes {
            self.parse_manifest(&bytes);
        }
        if let Some(m) = self.manifest.take() {
            self.match_manifest(&m, &entries, &names, mi, &mut slots);
            self.manifest = Some(m);
        }
        self.slots = slots;
        Ok(())
    }

    /// Header-level checks of one entry that need neither the manifest nor the bytes.
    fn check_entry_header(&mut self, c: &CentralEntry) {
        let name = c.display_name();
        if c.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
            self.problems.push(problem(
                kind::UNSUPPORTED_ENTRY,
                Some(&name),
                "the entry is encrypted; MOBIUS backups never are",
            ));
        } else if c.method != METHOD_STORED && c.method != METHOD_DEFLATED {
            self.problems.push(problem(
                kind::UNSUPPORTED_ENTRY,
                Some(&name),
                format!(
                    "compression method {} (only stored and deflate are used in backups)",
                    c.method
                ),
            ));
        }
        if c.method == METHOD_STORED && c.compressed_size != c.size {
            self.problems.push(problem(
                kind::ENTRY_CORRUPT,
                Some(&name),
                format!(
                    "a stored entry of {} bytes cannot take {} bytes in the zip",
                    c.size, c.compressed_size
                ),
            ));
        }
        if c.unix_mode().is_none() {
            self.problems.push(problem(
                kind::MODE_MISMATCH,
                Some(&name),
                format!(
                    "the zip stores no Unix mode for this entry (made on system {}); backups store the mode in every entry",
                    c.version_made_by >> 8
                ),
            ));
        }
        let ftype = c.unix_mode().map_or(0, |m| m & S_IFMT);
        let want = if c.is_dir() { S_IFDIR } else { S_IFREG };
        if ftype != 0 && ftype != want {
            self.problems.push(problem(
                kind::NOT_REGULAR,
                Some(&name),
                format!(
                    "the zip marks it as {} (mode {:o}); a backup holds only regular files and directories",
                    file_type_name(ftype),
                    c.unix_mode().unwrap_or(0)
                ),
            ));
        }
        if c.is_dir() && c.size != 0 {
            self.problems.push(problem(
                kind::ZIP_STRUCTURE,
                Some(&name),
                format!("a directory entry with {} bytes of content", c.size),
            ));
        }
    }

    /// Reads the manifest entry through the same checks as every other entry. Returns its
    /// bytes when they are intact, and where the entry ends.
    fn read_manifest(
        &mut self,
        file: &mut File,
        c: &CentralEntry,
    ) -> Result<(Option<Vec<u8>>, Option<u64>), Error> {
        if c.size > MAX_MANIFEST_BYTES {
            self.problems.push(problem(
                kind::MANIFEST_INVALID,
                Some(MANIFEST_NAME),
                format!(
                    "the manifest claims {} bytes, more than any backup's",
                    c.size
                ),
            ));
            return Ok((None, None));
        }
        let io_err = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let f = file.try_clone().map_err(io_err)?;
        let mut src = Source::new(f, 64 * 1024, self.file_len);
        let mut d = Decompress::new(false);
        let mut bytes = Vec::new();
        let slot = Slot {
            central: c.clone(),
            visit: None,
            expect: None,
            known_end: None,
            unreadable: !supported(c),
        };
        let mut collect = |r: &mut dyn Read| r.read_to_end(&mut bytes).map(|_| ());
        let mut scratch = vec![0u8; 64 * 1024];
        let out =
            read_entry(&mut src, &slot, &mut d, Some(&mut collect), &mut scratch).map_err(|e| {
                match e {
                    EntryError::Io(source) => io_err(source),
                    EntryError::Visitor(source) => io_err(source),
                }
            })?;
        let damaged = !out.problems.is_empty() || !supported(c);
        let n = out.problems.len();
        self.problems.extend(out.problems);
        if damaged {
            self.problems.push(problem(
                kind::MANIFEST_CORRUPT,
                Some(MANIFEST_NAME),
                format!(
                    "the manifest's bytes are damaged ({} above); nothing it lists can be checked",
                    mobius_core::text::plural(n as u64, "problem")
                ),
            ));
            return Ok((None, out.end));
        }
        Ok((Some(bytes), out.end))
    }

    fn parse_manifest(&mut self, bytes: &[u8]) {
        let m: Manifest = match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.problems.push(problem(
                    kind::MANIFEST_UNPARSEABLE,
                    Some(MANIFEST_NAME),
                    format!(
                        "{MANIFEST_NAME} in {} is not a valid manifest: {e}",
                        self.path.display()
                    ),
                ));
                return;
            }
        };
        if m.format != MANIFEST_FORMAT {
            self.problems.push(problem(
                kind::MANIFEST_UNSUPPORTED,
                Some(MANIFEST_NAME),
                format!(
                    "manifest format {:?} in {} is not {MANIFEST_FORMAT:?}, the one this version understands",
                    m.format,
                    self.path.display()
                ),
            ));
            return;
        }
        self.manifest = Some(m);
    }

    /// File name ↔ manifest, manifest ↔ entries.
    fn match_manifest(
        &mut self,
        m: &Manifest,
        entries: &[CentralEntry],
        names: &[NameCheck],
        mi: usize,
        slots: &mut [Slot],
    ) {
        let own = file_name(&self.path);
        match BackupName::parse_for(&own, &m.name, &m.env) {
            None => self.problems.push(problem(
                kind::NAME_MISMATCH,
                None,
                format!(
                    "the file name {own:?} is not that of a backup of name {:?} and env {:?}, as the manifest says: the zip was renamed",
                    m.name, m.env
                ),
            )),
            Some(bn) => {
                let stamp = mobius_core::time::parse_rfc3339(&m.created)
                    .map(mobius_core::time::file_stamp);
                if stamp.as_deref() != Some(bn.stamp.as_str()) {
                    self.problems.push(problem(
                        kind::NAME_MISMATCH,
                        None,
                        format!(
                            "the file name's stamp {} does not match the manifest's creation time {:?}: the zip was renamed",
                            bn.stamp, m.created
                        ),
                    ));
                }
            }
        }
        let mut files: HashMap<&str, &mobius_core::backups::ManifestFile> = HashMap::new();
        for f in &m.files {
            if files.insert(f.path.as_str(), f).is_some() {
                self.problems.push(problem(
                    kind::MANIFEST_INVALID,
                    Some(&f.path),
                    "the manifest lists this path twice",
                ));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.problems.push(problem(
                    kind::MANIFEST_INVALID,
                    Some(&f.path),
                    format!(
                        "the manifest's SHA-256 {} is not 64 hex digits",
                        fsafe::quoted(&f.sha256)
                    ),
                ));
            }
        }
        let dirs: HashSet<&str> = m
            .dirs
            .iter()
            .map(|d| d.strip_suffix('/').unwrap_or(d))
            .collect();
        let mut seen_files: HashSet<&str> = HashSet::new();
        let mut seen_dirs: HashSet<&str> = HashSet::new();
        for (i, c) in entries.iter().enumerate() {
            if i == mi {
                continue;
            }
            let check = &names[i];
            let Some(name) = check.name.as_deref() else {
                continue;
            };
            if check.duplicate {
                // Reported as a duplicate; one copy is matched against the manifest.
                continue;
            }
            let listed = if c.is_dir() {
                let key = name.strip_suffix('/').unwrap_or(name);
                dirs.get(key).map(|k| {
                    seen_dirs.insert(k);
                })
            } else {
                files.get(name).map(|f| {
                    seen_files.insert(f.path.as_str());
                    slots[i].expect = Some((f.size, f.sha256.to_ascii_lowercase()));
                    self.check_mode(c, name, f.mode);
                })
            };
            if listed.is_none() {
                self.problems.push(problem(
                    kind::ENTRY_EXTRA,
                    Some(name),
                    format!(
                        "the zip holds this {} but the manifest does not list it",
                        if c.is_dir() { "directory" } else { "file" }
                    ),
                ));
                continue;
            }
            if check.safe
                && !slots[i].unreadable
                && c.unix_mode().is_none_or(|m| {
                    let t = m & S_IFMT;
                    t == 0 || t == if c.is_dir() { S_IFDIR } else { S_IFREG }
                })
            {
                let (manifest_size, manifest_sha256, mode) = match files.get(name) {
                    Some(f) if !c.is_dir() => (f.size, f.sha256.to_ascii_lowercase(), f.mode),
                    _ => (
                        0,
                        String::new(),
                        c.unix_mode().map_or(0o755, |m| m & 0o7777),
                    ),
                };
                slots[i].visit = Some(self.entries.len());
                self.entries.push(EntryMeta {
                    index: i,
                    name: name.to_owned(),
                    is_dir: c.is_dir(),
                    mode: mode & 0o7777,
                    manifest_size,
                    manifest_sha256,
                    size: c.size,
                    compressed_size: c.compressed_size,
                    method: if c.method == METHOD_DEFLATED {
                        Method::Deflated
                    } else {
                        Method::Stored
                    },
                    mtime: c.mtime.map(ut_time),
                });
            }
        }
        for f in &m.files {
            if !seen_files.contains(f.path.as_str()) {
                self.problems.push(problem(
                    kind::ENTRY_MISSING,
                    Some(&f.path),
                    "the manifest lists this file but the zip does not hold it",
                ));
            }
        }
        for d in &m.dirs {
            if !seen_dirs.contains(d.strip_suffix('/').unwrap_or(d)) {
                self.problems.push(problem(
                    kind::ENTRY_MISSING,
                    Some(d),
                    "the manifest lists this directory but the zip has no entry for it",
                ));
            }
        }
    }

    fn check_mode(&mut self, c: &CentralEntry, name: &str, manifest_mode: u32) {
        let Some(zmode) = c.unix_mode() else {
            // Reported with the header checks.
            return;
        };
        // The zip crate keeps only 0o777 of what the writer passes, so setuid/setgid/sticky
        // in the manifest may be absent from the zip; present in the zip alone is a change.
        let same_rwx = zmode & 0o777 == manifest_mode & 0o777;
        let extra_special = zmode & 0o7000 & !manifest_mode != 0;
        if !same_rwx || extra_special {
            self.problems.push(problem(
                kind::MODE_MISMATCH,
                Some(name),
                format!(
                    "the zip stores mode {:04o}, the manifest {:04o}",
                    zmode & 0o7777,
                    manifest_mode & 0o7777
                ),
            ));
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The manifest, when it was present, intact and parseable.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// The entries a visitor will receive, in archive order (directories included): each
    /// listed in the manifest, with a safe, unique name, a regular file or a directory.
    pub fn entries(&self) -> &[EntryMeta] {
        &self.entries
    }

    /// Problems found so far. Any problem means the backup must not be trusted; the list
    /// grows during [`OpenedBackup::for_each_entry`].
    pub fn problems(&self) -> Vec<Problem> {
        let mut v = self.sidecar_problems.clone();
        v.extend(self.problems.iter().cloned());
        v
    }

    /// The SHA-256 the sidecar names, when it parsed.
    pub fn sidecar_sha256(&self) -> Option<&str> {
        self.sidecar_digest.as_deref()
    }

    /// Reads every entry once, checking it, and the whole file for the sidecar.
    ///
    /// `visitor` is called for each entry of [`OpenedBackup::entries`] with a reader of its
    /// uncompressed bytes; what it reads is hashed on the way (what it leaves is read and
    /// hashed afterwards). Entries not in `entries()` (unsafe, duplicate, unlisted) are
    /// checked but never shown to it. When the bytes turn out damaged the reader returns an
    /// error, the problem is recorded and the pass goes on; an error the visitor raises
    /// itself (disk full) stops the pass with [`Error::Visitor`].
    ///
    /// `threads` > 1 processes runs of entries in parallel (the visitor must then be
    /// thread-safe and must not rely on order: create directories from `entries()` first).
    /// With `threads` == 1 the visitor sees entries in archive order on the calling thread's
    /// behalf. Problems come back in archive order either way. A caller that stages files
    /// must discard them unless the returned problems are empty.
    pub fn for_each_entry<F>(&self, threads: usize, visitor: F) -> Result<Verified, Error>
    where
        F: Fn(&EntryMeta, &mut dyn Read) -> io::Result<()> + Sync,
    {
        self.for_each_entry_shown(threads, &Progress::hidden(), visitor)
    }

    /// The entries' stored bytes, all together: the total of a progress bar over
    /// [`OpenedBackup::for_each_entry_shown`].
    pub fn stored_len(&self) -> u64 {
        // Saturating: an absurd ZIP64 size is a problem found later, not an overflow here.
        self.slots
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.central.compressed_size))
    }

    /// [`OpenedBackup::for_each_entry`], advancing `progress` by each entry's stored bytes.
    pub fn for_each_entry_shown<F>(
        &self,
        threads: usize,
        progress: &Progress,
        visitor: F,
    ) -> Result<Verified, Error>
    where
        F: Fn(&EntryMeta, &mut dyn Read) -> io::Result<()> + Sync,
    {
        let threads = threads.max(1);
        let chunks = self.chunks(threads);
        let hash_needed = self.exists;
        let tasks = usize::from(hash_needed) + chunks.len();
        let next = AtomicUsize::new(0);
        let abort = AtomicBool::new(false);
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let results: Mutex<Vec<(usize, ChunkResult)>> = Mutex::new(Vec::new());
        let file_hash: Mutex<Option<(String, u64)>> = Mutex::new(None);
        let work = || {
            let mut worker = Worker::new(self);
            loop {
                if abort.load(Ordering::Relaxed) {
                    return;
                }
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= tasks {
                    return;
                }
                let outcome = if hash_needed && t == 0 {
                    hash_file(&self.path).map(|h| {
                        *lock(&file_hash) = Some(h);
                    })
                } else {
                    let c = t - usize::from(hash_needed);
                    worker
                        .run_chunk(chunks[c].clone(), &visitor, &abort, progress)
                        .map(|r| lock(&results).push((c, r)))
                };
                if let Err(e) = outcome {
                    abort.store(true, Ordering::Relaxed);
                    lock(&failure).get_or_insert(e);
                    return;
                }
            }
        };
        let spawned = threads.min(tasks.max(1));
        std::thread::scope(|s| {
            let handles: Vec<_> = (1..spawned).map(|_| s.spawn(work)).collect();
            work();
            for h in handles {
                if h.join().is_err() {
                    lock(&failure).get_or_insert(Error::Panic);
                }
            }
        });
        if let Some(e) = lock(&failure).take() {
            return Err(e);
        }
        let mut results = std::mem::take(&mut *lock(&results));
        results.sort_by_key(|(c, _)| *c);
        let mut problems = self.sidecar_problems.clone();
        let (sha256, hashed_len) = lock(&file_hash).take().unwrap_or_default();
        if let Some(want) = &self.sidecar_digest {
            if self.exists && *want != sha256 {
                problems.push(problem(
                    kind::SIDECAR_MISMATCH,
                    None,
                    format!(
                        "the zip's SHA-256 is {sha256} but the sidecar says {want}: the file was changed, truncated or extended after it was written"
                    ),
                ));
            }
        }
        problems.extend(self.problems.iter().cloned());
        let mut entries = 0;
        let mut bytes = 0;
        for (_, r) in results {
            problems.extend(r.problems);
            entries += r.entries;
            bytes += r.bytes;
        }
        cap(&mut problems);
        Ok(Verified {
            problems,
            entries,
            bytes,
            sha256,
            file_len: if self.exists {
                hashed_len
            } else {
                self.file_len
            },
        })
    }

    /// Splits the entries into runs of similar size, so that two threads finish together
    /// even when one entry is much larger than the rest.
    fn chunks(&self, threads: usize) -> Vec<std::ops::Range<usize>> {
        if self.mode == Mode::Quick || self.slots.is_empty() {
            return Vec::new();
        }
        // Saturating: an absurd ZIP64 size is damage reported by the pass, not an overflow.
        let total: u64 = self
            .slots
            .iter()
            .map(|s| s.central.compressed_size.saturating_add(64))
            .fold(0, u64::saturating_add);
        let target = (total / (threads as u64 * 8)).max(4 * 1024 * 1024);
        let mut out = Vec::new();
        let mut start = 0;
        let mut acc = 0u64;
        for (i, s) in self.slots.iter().enumerate() {
            acc = acc.saturating_add(s.central.compressed_size.saturating_add(64));
            if acc >= target {
                out.push(start..i + 1);
                start = i + 1;
                acc = 0;
            }
        }
        if start < self.slots.len() {
            out.push(start..self.slots.len());
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a worker panicked; the panic is reported by join.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn supported(c: &CentralEntry) -> bool {
    c.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) == 0
        && (c.method == METHOD_STORED || c.method == METHOD_DEFLATED)
}

fn file_type_name(t: u32) -> &'static str {
    match t {
        0o120_000 => "a symlink",
        0o040_000 => "a directory",
        0o100_000 => "a regular file",
        0o020_000 => "a character device",
        0o060_000 => "a block device",
        0o010_000 => "a FIFO",
        0o140_000 => "a socket",
        _ => "an unknown file type",
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn hash_file(path: &Path) -> Result<(String, u64), Error> {
    let mut f = fsafe::open_input(path, fsafe::Kind::Archive).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut n = 0u64;
    loop {
        let k = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

/// The result of checking names across the whole directory, per entry.
#[derive(Debug, Clone, Default)]
struct NameCheck {
    name: Option<String>,
    /// Safe to hand to a visitor: valid UTF-8, no unsafe component, no collision.
    safe: bool,
    /// A later copy of a name seen before.
    duplicate: bool,
}

fn check_names(entries: &[CentralEntry], problems: &mut Vec<Problem>) -> Vec<NameCheck> {
    let mut out = Vec::with_capacity(entries.len());
    let mut exact: HashMap<&[u8], usize> = HashMap::new();
    let mut folded: HashMap<String, usize> = HashMap::new();
    let files: HashSet<&[u8]> = entries
        .iter()
        .filter(|e| !e.is_dir())
        .map(|e| e.name_raw.as_slice())
        .collect();
    for (i, e) in entries.iter().enumerate() {
        let shown = e.display_name();
        let mut check = NameCheck::default();
        let Ok(name) = std::str::from_utf8(&e.name_raw) else {
            problems.push(problem(
                kind::NAME_ENCODING,
                Some(&shown),
                "the entry name is not valid UTF-8",
            ));
            out.push(check);
            continue;
        };
        check.name = Some(name.to_owned());
        let mut safe = true;
        if let Some(why) = unsafe_entry_name(name) {
            problems.push(problem(
                kind::UNSAFE_NAME,
                Some(name),
                format!("unsafe entry name: {why}"),
            ));
            safe = false;
        } else if let Some(why) = unrestorable_entry_name(name) {
            problems.push(problem(
                kind::UNRESTORABLE_NAME,
                Some(name),
                format!("a restore cannot create this name: {why}"),
            ));
            safe = false;
        }
        if let Some(&first) = exact.get(e.name_raw.as_slice()) {
            problems.push(problem(
                kind::DUPLICATE_ENTRY,
                Some(name),
                format!("entries {} and {} have the same name", first + 1, i + 1),
            ));
            check.duplicate = true;
            safe = false;
        } else {
            exact.insert(&e.name_raw, i);
            let key = name.to_lowercase();
            if let Some(&first) = folded.get(&key) {
                problems.push(problem(
                    kind::DUPLICATE_ENTRY_CASE,
                    Some(name),
                    format!(
                        "differs only in case from entry {} ({:?}): they collide on case-insensitive file systems",
                        first + 1,
                        entries[first].display_name()
                    ),
                ));
                safe = false;
            } else {
                folded.insert(key, i);
            }
        }
        let trimmed = name.strip_suffix('/').unwrap_or(name);
        let parent_file = trimmed
            .match_indices('/')
            .map(|(pos, _)| &trimmed[..pos])
            .find(|parent| files.contains(parent.as_bytes()));
        if let Some(parent) = parent_file {
            problems.push(problem(
                kind::PATH_CONFLICT,
                Some(name),
                format!("its parent {parent:?} is a file entry, not a directory"),
            ));
            safe = false;
        }
        if e.is_dir() && files.contains(trimmed.as_bytes()) {
            problems.push(problem(
                kind::PATH_CONFLICT,
                Some(name),
                format!("{trimmed:?} is both a file and a directory entry"),
            ));
            safe = false;
        }
        check.safe = safe;
        out.push(check);
    }
    out
}

/// A positioned, buffered reader over one file handle.
struct Source {
    r: BufReader<File>,
    pos: u64,
    /// The file's length: a position past it (an absurd ZIP64 offset or size) is damage to
    /// report, never a seek to attempt (which fails with an OS error).
    len: u64,
}

impl Source {
    fn new(f: File, cap: usize, len: u64) -> Source {
        Source {
            r: BufReader::with_capacity(cap, f),
            pos: 0,
            len,
        }
    }

    fn seek_to(&mut self, target: u64) -> io::Result<()> {
        if target != self.pos {
            match i64::try_from(i128::from(target) - i128::from(self.pos)) {
                Ok(delta) => self.r.seek_relative(delta)?,
                Err(_) => {
                    self.r.seek(SeekFrom::Start(target))?;
                }
            }
            self.pos = target;
        }
        Ok(())
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl BufRead for Source {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.r.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.r.consume(amt);
        self.pos += amt as u64;
    }
}

/// Inflates raw deflate data and insists on the stream's end marker, which the usual
/// readers do not: a stream cut short would otherwise pass as a shorter file.
struct Inflate<'d, R> {
    inner: R,
    d: &'d mut Decompress,
    done: bool,
}

impl<R: BufRead> Read for Inflate<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress(input, out, FlushDecompress::None)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the deflate data is corrupt ({e})"),
                    )
                })?;
            let consumed = (self.d.total_in() - in0) as usize;
            let produced = (self.d.total_out() - out0) as usize;
            self.inner.consume(consumed);
            if status == Status::StreamEnd {
                self.done = true;
                return Ok(produced);
            }
            if produced > 0 {
                return Ok(produced);
            }
            if eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the deflate data ends before the deflate stream does",
                ));
            }
            if consumed == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the deflate stream makes no progress",
                ));
            }
        }
    }
}

enum Data<'a, 'd> {
    Stored(io::Take<&'a mut Source>),
    Deflated(Inflate<'d, io::Take<&'a mut Source>>),
}

/// What a visitor reads: the entry's bytes, hashed and counted on the way, never more than
/// the header declares. Damage shows up as an `InvalidData`/`UnexpectedEof` error and is
/// remembered, so the pass can tell it from the visitor's own failures.
struct Checked<'a, 'd> {
    data: Data<'a, 'd>,
    limit: u64,
    count: u64,
    sha: Sha256,
    crc: Crc,
    damage: Option<String>,
}

impl Read for Checked<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = &self.damage {
            return Err(io::Error::new(io::ErrorKind::InvalidData, d.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.limit - self.count;
        // One byte past the limit is enough to know it is exceeded; asking for no more
        // bounds what a lying header can make us inflate.
        let want = usize::try_from(room.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let r = match &mut self.data {
            Data::Stored(t) => t.read(&mut buf[..want]),
            Data::Deflated(z) => z.read(&mut buf[..want]),
        };
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) {
                    self.damage = Some(e.to_string());
                }
                return Err(e);
            }
        };
        if n as u64 > room {
            let msg = format!(
                "the entry inflates to more than the {} bytes its header declares",
                self.limit
            );
            self.damage = Some(msg.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        self.count += n as u64;
        self.sha.update(&buf[..n]);
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

struct EntryOutcome {
    problems: Vec<Problem>,
    /// Where the entry's bytes end (after any data descriptor), when known.
    end: Option<u64>,
    bytes: u64,
}

enum EntryError {
    /// Reading the backup failed (not damage: the disk or the OS).
    Io(io::Error),
    /// The visitor failed on its own account.
    Visitor(io::Error),
}

type VisitFn<'v> = &'v mut dyn FnMut(&mut dyn Read) -> io::Result<()>;

/// Reads one entry at its offset: local header, data (through `visit` when given), data
/// descriptor; compares them with the central directory and the manifest.
fn read_entry(
    src: &mut Source,
    slot: &Slot,
    d: &mut Decompress,
    visit: Option<VisitFn<'_>>,
    scratch: &mut [u8],
) -> Result<EntryOutcome, EntryError> {
    let c = &slot.central;
    let name = c.display_name();
    let mut out = EntryOutcome {
        problems: Vec::new(),
        end: None,
        bytes: 0,
    };
    let push = |out: &mut EntryOutcome, k: &str, detail: String| {
        out.problems.push(problem(k, Some(&name), detail));
    };
    if c.offset >= src.len {
        push(
            &mut out,
            kind::ZIP_STRUCTURE,
            format!(
                "the central directory puts its local header at offset {}, past the end of the file ({} bytes)",
                c.offset, src.len
            ),
        );
        return Ok(out);
    }
    src.seek_to(c.offset).map_err(EntryError::Io)?;
    let mut fixed = [0u8; LOCAL_FIXED_LEN];
    if let Err(e) = read_full(src, &mut fixed) {
        push(
            &mut out,
            kind::LOCAL_HEADER,
            format!("the local header at offset {} {e}", c.offset),
        );
        return Ok(out);
    }
    let Some(local) = zipfmt::parse_local_fixed(&fixed) else {
        push(
            &mut out,
            kind::LOCAL_HEADER,
            format!(
                "no local header at offset {}, where the central directory points",
                c.offset
            ),
        );
        return Ok(out);
    };
    let mut name_extra = vec![0u8; usize::from(local.name_len) + usize::from(local.extra_len)];
    if let Err(e) = read_full(src, &mut name_extra) {
        push(
            &mut out,
            kind::LOCAL_HEADER,
            format!("the local header at offset {} {e}", c.offset),
        );
        return Ok(out);
    }
    let (lname, lextra) = name_extra.split_at(local.name_len.into());
    let diffs = zipfmt::compare_local(c, &local, lname, lextra);
    if !diffs.is_empty() {
        push(&mut out, kind::LOCAL_HEADER, diffs.join("; "));
    }
    let data_start = src.pos;
    let data_end = data_start.saturating_add(c.compressed_size);
    if slot.unreadable {
        out.end = finish_descriptor(src, c, &local, lextra, data_end, &mut out.problems)?;
        return Ok(out);
    }
    d.reset(false);
    let take = Read::take(&mut *src, c.compressed_size);
    let data = if c.method == METHOD_DEFLATED {
        Data::Deflated(Inflate {
            inner: take,
            d,
            done: false,
        })
    } else {
        Data::Stored(take)
    };
    let mut checked = Checked {
        data,
        limit: c.size,
        count: 0,
        sha: Sha256::new(),
        crc: Crc::new(),
        damage: None,
    };
    if let Some(visit) = visit {
        if let Err(e) = visit(&mut checked) {
            if checked.damage.is_none() {
                return Err(EntryError::Visitor(e));
            }
        }
    }
    if checked.damage.is_none() {
        loop {
            match checked.read(scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if checked.damage.is_none() {
                        return Err(EntryError::Io(e));
                    }
                    break;
                }
            }
        }
    }
    out.bytes = checked.count;
    let left = match &checked.data {
        Data::Stored(t) => t.limit(),
        Data::Deflated(z) => z.inner.limit(),
    };
    if let Some(damage) = checked.damage.take() {
        push(&mut out, kind::ENTRY_CORRUPT, damage);
    } else if left > 0 && matches!(checked.data, Data::Deflated(_)) {
        push(
            &mut out,
            kind::ENTRY_CORRUPT,
            format!("{left} compressed bytes follow the end of the deflate stream"),
        );
    } else if checked.count != c.size {
        push(
            &mut out,
            kind::ENTRY_CORRUPT,
            format!(
                "the entry holds {} bytes but its header declares {} (truncated?)",
                checked.count, c.size
            ),
        );
    } else if checked.crc.sum() != c.crc32 {
        push(
            &mut out,
            kind::ENTRY_CORRUPT,
            format!(
                "CRC-32 is {:08x} but the zip header says {:08x}",
                checked.crc.sum(),
                c.crc32
            ),
        );
    } else if let Some((size, sha)) = &slot.expect {
        let got = hex(&checked.sha.clone().finalize());
        if checked.count != *size {
            push(
                &mut out,
                kind::SIZE_MISMATCH,
                format!("{} bytes, the manifest says {size}", checked.count),
            );
        }
        if got != *sha {
            push(
                &mut out,
                kind::SHA256_MISMATCH,
                format!("SHA-256 is {got}, the manifest says {sha}"),
            );
        }
    }
    drop(checked);
    out.end = finish_descriptor(src, c, &local, lextra, data_end, &mut out.problems)?;
    Ok(out)
}

/// `read_exact` with the failure phrased for a message: "is cut short" or the I/O error.
fn read_full(src: &mut Source, buf: &mut [u8]) -> io::Result<()> {
    src.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(e.kind(), "is cut short (the file ends inside it)")
        } else {
            e
        }
    })
}

/// Reads the data descriptor, when the entry has one, and returns where the entry ends.
fn finish_descriptor(
    src: &mut Source,
    c: &CentralEntry,
    local: &LocalFixed,
    lextra: &[u8],
    data_end: u64,
    problems: &mut Vec<Problem>,
) -> Result<Option<u64>, EntryError> {
    if local.flags & FLAG_DESCRIPTOR == 0 {
        return Ok(Some(data_end));
    }
    if data_end >= src.len {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            Some(&c.display_name()),
            format!(
                "the entry's data would end at offset {data_end}, past the end of the file ({} bytes)",
                src.len
            ),
        ));
        return Ok(None);
    }
    src.seek_to(data_end).map_err(EntryError::Io)?;
    let zip64 = zipfmt::parse_extra(lextra)
        .map(|f| f.iter().any(|(id, _)| *id == 0x0001))
        .unwrap_or(false);
    let mut buf = Vec::with_capacity(24);
    let want = if zip64 { 24 } else { 16 };
    let got = Read::take(&mut *src, want)
        .read_to_end(&mut buf)
        .map_err(EntryError::Io)?;
    let name = c.display_name();
    let Some((len, crc, comp, size)) = zipfmt::parse_descriptor(&buf[..got], zip64) else {
        problems.push(problem(
            kind::LOCAL_HEADER,
            Some(&name),
            "the data descriptor is cut short",
        ));
        return Ok(None);
    };
    if crc != c.crc32 || comp != c.compressed_size || size != c.size {
        problems.push(problem(
            kind::LOCAL_HEADER,
            Some(&name),
            format!(
                "the data descriptor (CRC {crc:08x}, {comp} compressed, {size} bytes) disagrees with the central directory (CRC {:08x}, {}, {})",
                c.crc32, c.compressed_size, c.size
            ),
        ));
    }
    Ok(Some(data_end + len as u64))
}

#[derive(Debug, Default)]
struct ChunkResult {
    problems: Vec<Problem>,
    entries: u64,
    bytes: u64,
}

/// One thread's reading state, reused across the runs of entries it takes.
struct Worker<'b> {
    backup: &'b OpenedBackup,
    src: Option<Source>,
    d: Decompress,
    scratch: Vec<u8>,
}

impl<'b> Worker<'b> {
    fn new(backup: &'b OpenedBackup) -> Self {
        Worker {
            backup,
            src: None,
            d: Decompress::new(false),
            scratch: Vec::new(),
        }
    }

    fn run_chunk<F>(
        &mut self,
        range: std::ops::Range<usize>,
        visitor: &F,
        abort: &AtomicBool,
        progress: &Progress,
    ) -> Result<ChunkResult, Error>
    where
        F: Fn(&EntryMeta, &mut dyn Read) -> io::Result<()> + Sync,
    {
        let b = self.backup;
        let io_err = |source| Error::Io {
            path: b.path.clone(),
            source,
        };
        if self.src.is_none() {
            let f = fsafe::open_input(&b.path, fsafe::Kind::Archive).map_err(io_err)?;
            self.src = Some(Source::new(f, READ_BUFFER, b.file_len));
            self.scratch = vec![0u8; DRAIN_BUFFER];
        }
        let Some(src) = self.src.as_mut() else {
            return Ok(ChunkResult::default());
        };
        let mut res = ChunkResult::default();
        for i in range {
            if abort.load(Ordering::Relaxed) {
                break;
            }
            let slot = &b.slots[i];
            progress.inc(slot.central.compressed_size);
            let end = match slot.known_end {
                Some(end) => end,
                None => {
                    let meta = slot.visit.map(|v| &b.entries[v]);
                    let mut call = |r: &mut dyn Read| match meta {
                        Some(m) => visitor(m, r),
                        None => Ok(()),
                    };
                    let out =
                        read_entry(src, slot, &mut self.d, Some(&mut call), &mut self.scratch)
                            .map_err(|e| match e {
                                EntryError::Io(source) => io_err(source),
                                EntryError::Visitor(source) => Error::Visitor {
                                    path: b.path.clone(),
                                    entry: slot.central.display_name(),
                                    source,
                                },
                            })?;
                    res.problems.extend(out.problems);
                    res.bytes += out.bytes;
                    res.entries += 1;
                    out.end
                }
            };
            let next = b.slots.get(i + 1).map_or(b.cd_start, |s| s.central.offset);
            let name = slot.central.display_name();
            match end {
                Some(end) if end < next => res.problems.push(problem(
                    kind::GAP,
                    Some(&name),
                    format!("{} unexplained bytes after this entry", next - end),
                )),
                Some(end) if end > next => res.problems.push(problem(
                    kind::OVERLAP,
                    Some(&name),
                    format!(
                        "this entry runs {} bytes into {}",
                        end - next,
                        if i + 1 < b.slots.len() {
                            "the next entry"
                        } else {
                            "the central directory"
                        }
                    ),
                )),
                _ => {}
            }
        }
        Ok(res)
    }
}
