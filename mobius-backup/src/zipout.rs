//! The backup's own zip writer, so memory does not grow with the number of files.
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

use mobius_core::atomic::AtomicFile;
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

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;

/// A temporary file beside the backup that holds what would otherwise grow in memory with the
/// number of files (central directory records, manifest rows, the compressed manifest). Its
/// name is a temporary one (`.X.zip.<what>.tmp-…`), so a run killed half-way leaves nothing a
/// tool takes for a backup, and the next backup names it as left over; dropped, it is removed.
pub(crate) struct Spill {
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
pub(crate) struct Head<'a> {
    pub name: &'a str,
    pub dir: bool,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    /// MS-DOS date and time.
    pub dos_date: u16,
    pub dos_time: u16,
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

    fn external(&self) -> u32 {
        if self.dir {
            ((S_IFDIR | self.mode) << 16) | DOS_DIR
        } else {
            (S_IFREG | self.mode) << 16
        }
    }
}

/// Where a streamed entry's header sits, to patch it when the data is written.
pub(crate) struct Pending {
    header_at: u64,
    zip64: bool,
}

pub(crate) struct ZipOut<W: Write + Seek> {
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

fn local_header(b: &mut Vec<u8>, h: &Head<'_>, zip64: bool, offset: u64) {
    put32(b, SIG_LOCAL);
    put16(b, needs(zip64, offset));
    put16(b, h.flags());
    put16(b, h.method);
    put16(b, h.dos_time);
    put16(b, h.dos_date);
    put32(b, h.crc);
    if zip64 {
        put32(b, u32::MAX);
        put32(b, u32::MAX);
    } else {
        put32(b, clamp32(h.compressed));
        put32(b, clamp32(h.size));
    }
    put16(b, name_len(h.name));
    put16(b, if zip64 { 20 } else { 0 });
    b.extend_from_slice(h.name.as_bytes());
    if zip64 {
        put16(b, EXTRA_ZIP64);
        put16(b, 16);
        put64(b, h.size);
        put64(b, h.compressed);
    }
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
    put16(b, h.flags());
    put16(b, h.method);
    put16(b, h.dos_time);
    put16(b, h.dos_date);
    put32(b, h.crc);
    put32(b, clamp32(h.compressed));
    put32(b, clamp32(h.size));
    put16(b, name_len(h.name));
    put16(
        b,
        if extra.is_empty() {
            0
        } else {
            4 + extra.len() as u16
        },
    );
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
            dos_date: 33,
            dos_time: 0,
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
        let mut dir_head = head("dir/", b"");
        dir_head.dir = true;
        dir_head.mode = 0o755;
        z.add(&dir_head, b"").unwrap();
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
