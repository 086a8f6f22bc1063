//! The zip writer of mobius-backup and mobius-export, so memory does not grow with the
//! number of files.
//!
//! The `zip` crate's `ZipWriter` keeps a `ZipFileData` (about 200 bytes, plus the name) for every
//! entry until `finish`, in an index map that doubles as it grows: at 300,000 small files that
//! alone passed 64 MB. This writer appends each local header and its data in order and writes
//! the entry's central directory record at once to a temporary spill file beside the backup,
//! which `finish` copies after the last entry; it keeps only counters in memory.
//!
//! The format is plain PKZIP as `unzip`, the `zip` crate and mobius-verify's strict reader
//! read it: stored (0) or deflated (8) entries, UTF-8 flag (bit 11) for non-ASCII names, no
//! data descriptors (local headers carry the real CRC and sizes, patched in place for a
//! streamed big file), Unix modes in the external attributes, and ZIP64 records only where a
//! value does not fit in 32 bits (more than 65,535 entries, offsets or sizes past 4 GiB).
//!
//! Modification times: every entry with a time carries Info-ZIP's extended-timestamp extra
//! field (0x5455 "UT": flags 1 and the mtime in UTC seconds, in the local and the central
//! header alike), which Info-ZIP `unzip`, mobius-rollback and most other readers prefer to
//! the MS-DOS field. The MS-DOS date and time are deliberately UTC, not the writer's local
//! time: a backup of the same tree is then the same bytes in every time zone (its SHA-256
//! does not depend on the host's TZ), and the only readers left with the DOS field are the
//! ones that ignore UT, which would shift by the writer's offset anyway when restoring in
//! another zone. With UT present, `TZ=anything unzip` restores the exact mtime.

use crate::atomic::AtomicFile;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR64: u32 = 0x0706_4b50;
const FLAG_UTF8: u16 = 1 << 11;
const EXTRA_ZIP64: u16 = 0x0001;
/// Info-ZIP's extended timestamp ("UT"); flag bit 0: the modification time follows.
pub const EXTRA_UT: u16 = 0x5455;
const UT_MTIME: u8 = 1;
/// The UT field with the modification time: id, length, flags, seconds (9 bytes).
const UT_LEN: u16 = 5;
/// "Version made by": Unix (3) in the high byte, so readers take the mode from the external
/// attributes; 4.5, the ZIP64 version, in the low byte.
const MADE_BY: u16 = (3 << 8) | 45;
const NEEDS: u16 = 20;
const NEEDS_ZIP64: u16 = 45;
const U32_MAX: u64 = 0xFFFF_FFFF;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
/// MS-DOS "directory" attribute, for readers that look only at the low half.
const DOS_DIR: u32 = 0x10;

pub const METHOD_STORED: u16 = 0;
pub const METHOD_DEFLATED: u16 = 8;

/// A temporary file beside the backup that holds what would otherwise grow in memory with the
/// number of files (central directory records, manifest rows, the compressed manifest). Its
/// name is a temporary one (`.X.zip.<what>.tmp-…`), so a run killed half-way leaves nothing a
/// tool takes for a backup, and the next backup names it as left over; dropped, it is removed.
pub struct Spill {
    w: BufWriter<AtomicFile>,
    len: u64,
}

impl Spill {
    pub fn create(dest: &Path, what: &str) -> io::Result<Spill> {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!(".{what}"));
        let file = AtomicFile::create(Path::new(&name), 0o600)?;
        Ok(Spill {
            w: BufWriter::with_capacity(256 << 10, file),
            len: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everything written so far, from the start.
    pub fn reader(&mut self) -> io::Result<io::Take<io::BufReader<File>>> {
        self.w.flush()?;
        let f = File::open(self.w.get_ref().temp_path())?;
        Ok(io::BufReader::with_capacity(256 << 10, f).take(self.len))
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Everything about an entry that goes into its headers.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub name: &'a str,
    pub dir: bool,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    /// Modification time in seconds since the epoch (UTC); `None` (or a time the UT field
    /// cannot hold, before 1970 or past 2038) writes no UT field and 1980-01-01 as the DOS
    /// time.
    pub mtime: Option<u64>,
    /// Permission bits; the file type is added here.
    pub mode: u32,
}

impl Head<'_> {
    fn flags(&self) -> u16 {
        if self.name.is_ascii() {
            0
        } else {
            FLAG_UTF8
        }
    }

    /// The seconds for the UT field: it holds a signed 32-bit `time_t`.
    fn ut(&self) -> Option<u32> {
        self.mtime
            .and_then(|s| u32::try_from(s).ok())
            .filter(|&s| s <= i32::MAX as u32)
    }

    fn extra_ut_len(&self) -> u16 {
        if self.ut().is_some() {
            4 + UT_LEN
        } else {
            0
        }
    }

    fn put_ut(&self, b: &mut Vec<u8>) {
        // The same 9 bytes in both headers: the central field of Info-ZIP carries only the
        // mtime, and the local one here carries only the mtime too.
        if let Some(secs) = self.ut() {
            put16(b, EXTRA_UT);
            put16(b, UT_LEN);
            b.push(UT_MTIME);
            put32(b, secs);
        }
    }

    fn dos(&self) -> (u16, u16) {
        dos_time(self.mtime)
    }

    fn external(&self) -> u32 {
        if self.dir {
            ((S_IFDIR | self.mode) << 16) | DOS_DIR
        } else {
            (S_IFREG | self.mode) << 16
        }
    }
}

/// Where a streamed entry's header sits, to patch it when the data is written.
pub struct Pending {
    header_at: u64,
    zip64: bool,
}

pub struct ZipOut<W: Write + Seek> {
    out: W,
    /// Bytes written to `out` so far: the next entry's offset.
    pos: u64,
    entries: u64,
    central: Spill,
    record: Vec<u8>,
}

impl<W: Write + Seek> ZipOut<W> {
    /// `central` receives the central directory until [`ZipOut::finish`].
    pub fn new(out: W, central: Spill) -> Self {
        ZipOut {
            out,
            pos: 0,
            entries: 0,
            central,
            record: Vec::with_capacity(512),
        }
    }

    /// Appends a complete entry whose compressed bytes are `head.compressed` bytes of `data`.
    pub fn add_reader(&mut self, head: &Head<'_>, data: &mut impl Read) -> io::Result<()> {
        let at = self.pos;
        self.record.clear();
        local_header(&mut self.record, head, false, at);
        self.out.write_all(&self.record)?;
        self.pos += self.record.len() as u64;
        let n = io::copy(&mut data.take(head.compressed), &mut self.out)?;
        self.pos += n;
        if n != head.compressed {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} was cut short in its temporary file", head.name),
            ));
        }
        self.push_central(head, false, at)
    }

    /// Appends a complete entry: its local header, then `data` (already compressed).
    pub fn add(&mut self, head: &Head<'_>, data: &[u8]) -> io::Result<()> {
        let at = self.pos;
        self.record.clear();
        // Sizes known in advance never need ZIP64 here: only big files reach 4 GiB, and they
        // are streamed.
        local_header(&mut self.record, head, false, at);
        self.out.write_all(&self.record)?;
        self.out.write_all(data)?;
        self.pos += (self.record.len() + data.len()) as u64;
        self.push_central(head, false, at)
    }

    /// Writes the local header of an entry whose data is streamed next with
    /// [`ZipOut::write_data`]; CRC and sizes are filled in by [`ZipOut::end_streamed`].
    /// `zip64` reserves room for sizes past 4 GiB.
    pub fn start_streamed(&mut self, head: &Head<'_>, zip64: bool) -> io::Result<Pending> {
        let at = self.pos;
        self.record.clear();
        local_header(&mut self.record, head, zip64, at);
        self.out.write_all(&self.record)?;
        self.pos += self.record.len() as u64;
        Ok(Pending {
            header_at: at,
            zip64,
        })
    }

    pub fn write_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Patches the streamed entry's local header with the real values (this seek makes the
    /// running SHA-256 of the output unusable, see `hashing`) and records the entry.
    pub fn end_streamed(&mut self, p: Pending, head: &Head<'_>) -> io::Result<()> {
        // A file that grew past 4 GiB after the walk no longer fits its 32-bit header.
        if !p.zip64 && (head.size >= U32_MAX || head.compressed >= U32_MAX) {
            return Err(io::Error::other(format!(
                "{} grew past 4 GiB while it was archived",
                head.name
            )));
        }
        self.record.clear();
        local_header(&mut self.record, head, p.zip64, p.header_at);
        self.out.seek(SeekFrom::Start(p.header_at))?;
        self.out.write_all(&self.record)?;
        self.out.seek(SeekFrom::Start(self.pos))?;
        self.push_central(head, p.zip64, p.header_at)
    }

    fn push_central(&mut self, head: &Head<'_>, local_zip64: bool, offset: u64) -> io::Result<()> {
        self.record.clear();
        central_header(&mut self.record, head, local_zip64, offset);
        self.central.write_all(&self.record)?;
        self.entries += 1;
        Ok(())
    }

    /// Copies the central directory after the entries, adds the end records and returns the
    /// output (not flushed beyond what the writer does itself).
    pub fn finish(mut self) -> io::Result<W> {
        let cd_len = self.central.len();
        let copied = io::copy(&mut self.central.reader()?, &mut self.out)?;
        if copied != cd_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the central directory's temporary file was cut short",
            ));
        }
        let cd_at = self.pos;
        let end_at = cd_at + cd_len;
        let mut b = Vec::with_capacity(128);
        let zip64 = self.entries >= 0xFFFF || cd_len >= U32_MAX || cd_at >= U32_MAX;
        if zip64 {
            put32(&mut b, SIG_EOCD64);
            put64(&mut b, 44); // size of the rest of this record
            put16(&mut b, MADE_BY);
            put16(&mut b, NEEDS_ZIP64);
            put32(&mut b, 0); // this disk
            put32(&mut b, 0); // disk of the central directory
            put64(&mut b, self.entries);
            put64(&mut b, self.entries);
            put64(&mut b, cd_len);
            put64(&mut b, cd_at);
            put32(&mut b, SIG_LOCATOR64);
            put32(&mut b, 0);
            put64(&mut b, end_at);
            put32(&mut b, 1); // total disks
        }
        put32(&mut b, SIG_EOCD);
        put16(&mut b, 0);
        put16(&mut b, 0);
        // 0xFFFF from 65,535 entries on: readers then take the count from the ZIP64 record.
        let n16 = u16::try_from(self.entries).unwrap_or(0xFFFF);
        put16(&mut b, n16);
        put16(&mut b, n16);
        put32(&mut b, clamp32(cd_len));
        put32(&mut b, clamp32(cd_at));
        put16(&mut b, 0); // comment length
        self.out.write_all(&b)?;
        Ok(self.out)
    }
}

/// A [`ZipOut`] being streamed into (between [`ZipOut::start_streamed`] and
/// [`ZipOut::end_streamed`]) as a plain writer.
pub struct ZipData<'a, W: Write + Seek>(pub &'a mut ZipOut<W>);

impl<W: Write + Seek> Write for ZipData<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_data(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The version needed to extract: 4.5 when any ZIP64 field is involved (local sizes, or an
/// offset past 4 GiB in the central record), else 2.0. Local and central headers must agree.
fn needs(local_zip64: bool, offset: u64) -> u16 {
    if local_zip64 || offset >= U32_MAX {
        NEEDS_ZIP64
    } else {
        NEEDS
    }
}

/// Flags, method, MS-DOS time and date, CRC: the run both headers share.
fn put_common(b: &mut Vec<u8>, h: &Head<'_>) {
    put16(b, h.flags());
    put16(b, h.method);
    let (dos_date, dos_time) = h.dos();
    put16(b, dos_time);
    put16(b, dos_date);
    put32(b, h.crc);
}

fn local_header(b: &mut Vec<u8>, h: &Head<'_>, zip64: bool, offset: u64) {
    put32(b, SIG_LOCAL);
    put16(b, needs(zip64, offset));
    put_common(b, h);
    if zip64 {
        put32(b, u32::MAX);
        put32(b, u32::MAX);
    } else {
        put32(b, clamp32(h.compressed));
        put32(b, clamp32(h.size));
    }
    put16(b, name_len(h.name));
    put16(b, if zip64 { 20 } else { 0 } + h.extra_ut_len());
    b.extend_from_slice(h.name.as_bytes());
    if zip64 {
        put16(b, EXTRA_ZIP64);
        put16(b, 16);
        put64(b, h.size);
        put64(b, h.compressed);
    }
    h.put_ut(b);
}

fn central_header(b: &mut Vec<u8>, h: &Head<'_>, local_zip64: bool, offset: u64) {
    // ZIP64 fields only for the values that overflow, in the order the format fixes.
    let mut extra = Vec::new();
    if h.size >= U32_MAX {
        put64(&mut extra, h.size);
    }
    if h.compressed >= U32_MAX {
        put64(&mut extra, h.compressed);
    }
    if offset >= U32_MAX {
        put64(&mut extra, offset);
    }
    put32(b, SIG_CENTRAL);
    put16(b, MADE_BY);
    put16(b, needs(local_zip64, offset));
    put_common(b, h);
    put32(b, clamp32(h.compressed));
    put32(b, clamp32(h.size));
    put16(b, name_len(h.name));
    let zip64_len = if extra.is_empty() {
        0
    } else {
        4 + extra.len() as u16
    };
    put16(b, zip64_len + h.extra_ut_len());
    put16(b, 0); // comment
    put16(b, 0); // disk
    put16(b, 0); // internal attributes
    put32(b, h.external());
    put32(b, clamp32(offset));
    b.extend_from_slice(h.name.as_bytes());
    if !extra.is_empty() {
        put16(b, EXTRA_ZIP64);
        put16(b, extra.len() as u16);
        b.extend_from_slice(&extra);
    }
    h.put_ut(b);
}

/// A modification time (seconds since the epoch) as a zip's MS-DOS date and time, in UTC (see
/// the module header for why not local time); 1980-01-01 00:00 when there is none or it is
/// out of the format's range (1980-2107).
pub fn dos_time(secs: Option<u64>) -> (u16, u16) {
    const DEFAULT: (u16, u16) = ((1 << 5) | 1, 0);
    let Some(secs) = secs else {
        return DEFAULT;
    };
    let (y, m, d) = crate::time::civil_from_days(secs / 86_400);
    if !(1980..=2107).contains(&y) {
        return DEFAULT;
    }
    let rem = secs % 86_400;
    // Each part is in range by construction (year checked above, h < 24, m < 60, s < 60).
    let date = ((y - 1980) << 9) as u16 | (u16::from(m) << 5) | u16::from(d);
    let time = (((rem / 3600) << 11) | ((rem % 3600 / 60) << 5) | ((rem % 60) / 2)) as u16;
    (date, time)
}

/// A file time as seconds since the epoch, for [`Head::mtime`]; `None` before 1970.
pub fn unix_secs(t: Option<std::time::SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// Entry names are checked by the walk to be far shorter than 64 KiB (a path component is
/// at most 255 bytes and paths at most 4,096 on every system a source can be read from).
fn name_len(name: &str) -> u16 {
    u16::try_from(name.len()).unwrap_or(u16::MAX)
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    fn head<'a>(name: &'a str, data: &[u8]) -> Head<'a> {
        Head {
            name,
            dir: false,
            method: METHOD_STORED,
            crc: crc32fast::hash(data),
            compressed: data.len() as u64,
            size: data.len() as u64,
            mtime: Some(1_795_000_000),
            mode: 0o640,
        }
    }

    fn spill(d: &tempfile::TempDir) -> Spill {
        Spill::create(&d.path().join("t.zip"), "central").unwrap()
    }

    fn read_back(bytes: Vec<u8>) -> zip::ZipArchive<Cursor<Vec<u8>>> {
        zip::ZipArchive::new(Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn the_zip_crate_reads_what_is_written_streamed_or_whole() {
        let d = tempfile::tempdir().unwrap();
        let mut z = ZipOut::new(Cursor::new(Vec::new()), spill(&d));
        z.add(&head("a.txt", b"hello"), b"hello").unwrap();
        let mut dir = head("dir/", b"");
        dir.dir = true;
        dir.mode = 0o755;
        z.add(&dir, b"").unwrap();
        let h = head("dir/ü.bin", b"streamed bytes");
        let p = z.start_streamed(&head("dir/ü.bin", b""), true).unwrap();
        z.write_data(b"streamed ").unwrap();
        z.write_data(b"bytes").unwrap();
        z.end_streamed(p, &h).unwrap();
        let mut a = read_back(z.finish().unwrap().into_inner());
        assert_eq!(a.len(), 3);
        let mut s = String::new();
        a.by_name("dir/ü.bin")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "streamed bytes");
        assert_eq!(a.by_name("a.txt").unwrap().unix_mode(), Some(0o100_640));
        assert!(a.by_name("dir/").unwrap().is_dir());
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "the spill file is removed"
        );
    }

    #[test]
    fn dos_times() {
        assert_eq!(dos_time(None), (33, 0));
        assert_eq!(dos_time(Some(0)), (33, 0), "before 1980");
        // 2026-11-26 12:34:56 UTC
        let t = 20_783 * 86_400 + 12 * 3600 + 34 * 60 + 56;
        assert_eq!(
            dos_time(Some(t)),
            ((46 << 9) | (11 << 5) | 26, (12 << 11) | (34 << 5) | 28)
        );
    }

    #[test]
    fn both_headers_carry_the_ut_mtime_and_only_when_it_fits() {
        let d = tempfile::tempdir().unwrap();
        let mut z = ZipOut::new(Cursor::new(Vec::new()), spill(&d));
        z.add(&head("a", b"x"), b"x").unwrap();
        let mut none = head("b", b"x");
        none.mtime = Some(1 << 33);
        z.add(&none, b"x").unwrap();
        let bytes = z.finish().unwrap().into_inner();
        let ut = [0x55, 0x54, 5, 0, 1];
        let at: Vec<usize> = bytes
            .windows(5)
            .enumerate()
            .filter(|(_, w)| *w == ut)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 2, "entry a: local and central; b: none");
        for i in at {
            assert_eq!(bytes[i + 5..i + 9], 1_795_000_000u32.to_le_bytes());
        }
        let mut a = read_back(bytes);
        assert_eq!(
            a.by_name("b").unwrap().last_modified().map(|t| t.year()),
            Some(1980)
        );
    }

    #[test]
    fn more_than_65535_entries_get_zip64_end_records() {
        let d = tempfile::tempdir().unwrap();
        let mut z = ZipOut::new(Cursor::new(Vec::new()), spill(&d));
        let names: Vec<String> = (0..70_000).map(|i| format!("f{i}")).collect();
        for n in &names {
            z.add(&head(n, b"x"), b"x").unwrap();
        }
        let a = read_back(z.finish().unwrap().into_inner());
        assert_eq!(a.len(), 70_000);
    }
}
