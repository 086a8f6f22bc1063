//! A strict reader of the zip container, written for verification rather than extraction.
//!
//! General-purpose readers (the zip crate, `unzip`) are lenient on purpose: they trust the
//! central directory, skip bytes nobody points at, collapse duplicate names and ignore most
//! local-header fields. A verifier must do the opposite, so that any changed byte shows up
//! somewhere: the end record must be the file's last bytes, the central directory must end
//! exactly where that record starts, entries must tile the file from offset 0 to the central
//! directory without gaps or overlaps, and every local header must agree with its central
//! header field by field. What the deep check does not cover (fields no reader gives a
//! meaning to) is listed in the crate documentation; the sidecar covers those.

use crate::problems::{kind, problem};
use mobius_core::records::Problem;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

pub(crate) const SIG_LOCAL: u32 = 0x0403_4b50;
pub(crate) const SIG_CENTRAL: u32 = 0x0201_4b50;
pub(crate) const SIG_EOCD: u32 = 0x0605_4b50;
pub(crate) const SIG_EOCD64: u32 = 0x0606_4b50;
pub(crate) const SIG_LOCATOR64: u32 = 0x0706_4b50;
pub(crate) const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

pub(crate) const FLAG_ENCRYPTED: u16 = 1;
pub(crate) const FLAG_DESCRIPTOR: u16 = 1 << 3;
pub(crate) const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;

const EOCD_LEN: u64 = 22;
const LOCATOR64_LEN: u64 = 20;
const EOCD64_MIN_LEN: u64 = 56;
pub(crate) const LOCAL_FIXED_LEN: usize = 30;
const CENTRAL_FIXED_LEN: usize = 46;
const EXTRA_ZIP64: u16 = 0x0001;
/// Info-ZIP's extended timestamp ("UT"), which MOBIUS writers add to every dated entry.
const EXTRA_UT: u16 = 0x5455;
const U16_SENTINEL: u64 = 0xFFFF;
const U32_SENTINEL: u64 = 0xFFFF_FFFF;
/// A central directory beyond this is not a config backup; refusing it bounds memory.
const MAX_CENTRAL_DIRECTORY: u64 = 512 * 1024 * 1024;

/// Unix `st_mode` file-type bits as zip writers store them in the external attributes.
pub(crate) const S_IFMT: u32 = 0o170_000;
pub(crate) const S_IFREG: u32 = 0o100_000;
pub(crate) const S_IFDIR: u32 = 0o040_000;

/// Little-endian field reader over a byte slice; `None` when the slice is too short.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.bytes(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
}

/// One central directory header, with ZIP64 values already substituted.
#[derive(Debug, Clone)]
pub(crate) struct CentralEntry {
    pub name_raw: Vec<u8>,
    pub version_made_by: u16,
    pub version_needed: u16,
    pub flags: u16,
    pub method: u16,
    pub time: u16,
    pub date: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub external_attrs: u32,
    /// Offset of the local header.
    pub offset: u64,
    /// The modification time of the extended-timestamp field (UTC seconds, a signed 32-bit
    /// `time_t`), when there is one.
    pub mtime: Option<i32>,
}

impl CentralEntry {
    /// The Unix `st_mode` the writer stored, when the entry says it was made on Unix.
    pub(crate) fn unix_mode(&self) -> Option<u32> {
        (self.version_made_by >> 8 == 3).then_some(self.external_attrs >> 16)
    }

    pub(crate) fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name_raw).into_owned()
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.name_raw.last() == Some(&b'/')
    }
}

/// The parsed container: entries in central-directory order and where their data must end.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    pub entries: Vec<CentralEntry>,
    /// The central directory's offset: the last entry's data must end exactly here.
    pub cd_start: u64,
}

fn read_at(file: &mut File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(pos))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

struct EndRecord {
    pos: u64,
    disk: u16,
    cd_disk: u16,
    entries_disk: u16,
    entries_total: u16,
    cd_size: u32,
    cd_offset: u32,
    comment_len: u16,
}

fn parse_eocd(b: &[u8], pos: u64) -> Option<EndRecord> {
    let mut f = Fields::new(b);
    if f.u32()? != SIG_EOCD {
        return None;
    }
    Some(EndRecord {
        pos,
        disk: f.u16()?,
        cd_disk: f.u16()?,
        entries_disk: f.u16()?,
        entries_total: f.u16()?,
        cd_size: f.u32()?,
        cd_offset: f.u32()?,
        comment_len: f.u16()?,
    })
}

impl EndRecord {
    fn wants_zip64(&self) -> bool {
        u64::from(self.entries_total) == U16_SENTINEL
            || u64::from(self.entries_disk) == U16_SENTINEL
            || u64::from(self.cd_size) == U32_SENTINEL
            || u64::from(self.cd_offset) == U32_SENTINEL
    }
}

/// Finds the end record. A MOBIUS backup has no archive comment, so the record is the last
/// 22 bytes; when it is not, the latest plausible signature is used so that the entries can
/// still be checked, and what follows it is reported.
fn find_end_record(file: &mut File, file_len: u64) -> io::Result<Option<EndRecord>> {
    if file_len < EOCD_LEN {
        return Ok(None);
    }
    // The comment is at most 64 KiB; appended garbage can push the record further back, and
    // 1 MiB of search finds it behind a fair amount of it without reading whole files.
    let window = file_len.min(EOCD_LEN + 0xFFFF + 1024 * 1024);
    let base = file_len - window;
    let tail = read_at(file, base, window as usize)?;
    let mut fallback = None;
    for p in (0..=tail.len() - EOCD_LEN as usize).rev() {
        if tail[p..p + 4] != SIG_EOCD.to_le_bytes() {
            continue;
        }
        let Some(rec) = parse_eocd(&tail[p..], base + p as u64) else {
            continue;
        };
        let plausible =
            rec.wants_zip64() || u64::from(rec.cd_offset) + u64::from(rec.cd_size) <= rec.pos;
        if plausible {
            return Ok(Some(rec));
        }
        if fallback.is_none() {
            fallback = Some(rec);
        }
    }
    Ok(fallback)
}

struct Zip64End {
    pos: u64,
    entries_total: u64,
    cd_size: u64,
    cd_offset: u64,
}

/// Reads the ZIP64 locator and end record when the locator sits right before the end record.
fn read_zip64_end(
    file: &mut File,
    eocd: &EndRecord,
    problems: &mut Vec<Problem>,
) -> io::Result<Option<Zip64End>> {
    if eocd.pos < LOCATOR64_LEN {
        return Ok(None);
    }
    let loc_pos = eocd.pos - LOCATOR64_LEN;
    let loc = read_at(file, loc_pos, LOCATOR64_LEN as usize)?;
    let mut f = Fields::new(&loc);
    if f.u32() != Some(SIG_LOCATOR64) {
        if eocd.wants_zip64() {
            problems.push(problem(
                kind::ZIP_STRUCTURE,
                None,
                "the end record asks for ZIP64 values but there is no ZIP64 locator before it",
            ));
        }
        return Ok(None);
    }
    let (disk, pos64, disks) = (f.u32(), f.u64(), f.u32());
    let (Some(disk), Some(pos64), Some(disks)) = (disk, pos64, disks) else {
        return Ok(None);
    };
    if disk != 0 || disks != 1 {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!("the ZIP64 locator names disk {disk} of {disks}; a backup is one file"),
        ));
    }
    if pos64 >= loc_pos || loc_pos - pos64 < EOCD64_MIN_LEN {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the ZIP64 locator points at offset {pos64}, which cannot hold a ZIP64 end record"
            ),
        ));
        return Ok(None);
    }
    let rec = read_at(file, pos64, EOCD64_MIN_LEN as usize)?;
    let mut f = Fields::new(&rec);
    let parsed = (|| {
        if f.u32()? != SIG_EOCD64 {
            return None;
        }
        let size = f.u64()?;
        let _made_by = f.u16()?;
        let _needed = f.u16()?;
        let disk = f.u32()?;
        let cd_disk = f.u32()?;
        let entries_disk = f.u64()?;
        let entries_total = f.u64()?;
        let cd_size = f.u64()?;
        let cd_offset = f.u64()?;
        Some((
            size,
            disk,
            cd_disk,
            entries_disk,
            entries_total,
            cd_size,
            cd_offset,
        ))
    })();
    let Some((size, disk, cd_disk, entries_disk, entries_total, cd_size, cd_offset)) = parsed
    else {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!("no valid ZIP64 end record at offset {pos64}, where the locator points"),
        ));
        return Ok(None);
    };
    if pos64.checked_add(12).and_then(|p| p.checked_add(size)) != Some(loc_pos) {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the ZIP64 end record at offset {pos64} declares {size} bytes but the locator follows at {loc_pos}"
            ),
        ));
    }
    if disk != 0 || cd_disk != 0 || entries_disk != entries_total {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            "the ZIP64 end record has multi-disk fields set or disagreeing entry counts",
        ));
    }
    // The 32-bit fields must hold the sentinel or the same value: a disagreement means one
    // of the two records was changed.
    let agree = |small: u64, sentinel: u64, big: u64| small == sentinel || small == big;
    if !agree(u64::from(eocd.entries_total), U16_SENTINEL, entries_total)
        || !agree(u64::from(eocd.entries_disk), U16_SENTINEL, entries_disk)
        || !agree(u64::from(eocd.cd_size), U32_SENTINEL, cd_size)
        || !agree(u64::from(eocd.cd_offset), U32_SENTINEL, cd_offset)
    {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            "the end record and the ZIP64 end record disagree about the central directory",
        ));
    }
    Ok(Some(Zip64End {
        pos: pos64,
        entries_total,
        cd_size,
        cd_offset,
    }))
}

/// Reads and checks the end record(s) and the central directory. Returns `None` when the
/// entries cannot be located at all (the reasons are in `problems`).
pub(crate) fn read_directory(
    file: &mut File,
    file_len: u64,
    problems: &mut Vec<Problem>,
) -> io::Result<Option<Directory>> {
    let Some(eocd) = find_end_record(file, file_len)? else {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            "no zip end-of-central-directory record: the file is not a zip or was truncated",
        ));
        return Ok(None);
    };
    let end = eocd.pos + EOCD_LEN + u64::from(eocd.comment_len);
    if end > file_len {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the end record's comment length ({}) runs {} bytes past the end of the file: truncated or changed",
                eocd.comment_len,
                end - file_len
            ),
        ));
    } else {
        if end < file_len {
            problems.push(problem(
                kind::TRAILING_BYTES,
                None,
                format!("{} bytes follow the end of the zip archive", file_len - end),
            ));
        }
        if eocd.comment_len > 0 {
            problems.push(problem(
                kind::ZIP_STRUCTURE,
                None,
                format!(
                    "the archive has a {}-byte comment; MOBIUS backups have none",
                    eocd.comment_len
                ),
            ));
        }
    }
    if eocd.disk != 0 || eocd.cd_disk != 0 {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            "the end record has multi-disk fields set; a backup is one file",
        ));
    }
    if eocd.entries_disk != eocd.entries_total {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the end record's two entry counts disagree ({} and {})",
                eocd.entries_disk, eocd.entries_total
            ),
        ));
    }
    let z64 = read_zip64_end(file, &eocd, problems)?;
    let (count, cd_size, cd_offset, cd_region_end) = match &z64 {
        Some(z) => (z.entries_total, z.cd_size, z.cd_offset, z.pos),
        None => (
            u64::from(eocd.entries_total),
            u64::from(eocd.cd_size),
            u64::from(eocd.cd_offset),
            eocd.pos,
        ),
    };
    let Some(cd_end) = cd_offset.checked_add(cd_size) else {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            "the central directory's offset and size overflow",
        ));
        return Ok(None);
    };
    if cd_end > cd_region_end {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the central directory (offset {cd_offset}, {cd_size} bytes) runs past the end record at {cd_region_end}: truncated or changed"
            ),
        ));
        return Ok(None);
    }
    if cd_end < cd_region_end {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "{} unexplained bytes between the central directory and the end record",
                cd_region_end - cd_end
            ),
        ));
    }
    if cd_size > MAX_CENTRAL_DIRECTORY {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!("the central directory claims {cd_size} bytes, more than any backup has"),
        ));
        return Ok(None);
    }
    let cd = read_at(file, cd_offset, cd_size as usize)?;
    let entries = parse_central_directory(&cd, cd_offset, count, problems);
    Ok(Some(Directory {
        entries,
        cd_start: cd_offset,
    }))
}

fn parse_central_directory(
    cd: &[u8],
    cd_offset: u64,
    count: u64,
    problems: &mut Vec<Problem>,
) -> Vec<CentralEntry> {
    // Each header takes at least 46 bytes: a lying count cannot make us reserve much.
    let cap = count.min((cd.len() / CENTRAL_FIXED_LEN) as u64) as usize;
    let mut entries = Vec::with_capacity(cap);
    let mut f = Fields::new(cd);
    while f.pos() < cd.len() {
        let header_pos = cd_offset + f.pos() as u64;
        match parse_central_entry(&mut f) {
            Ok((e, issue)) => {
                if let Some(issue) = issue {
                    problems.push(problem(
                        kind::ZIP_STRUCTURE,
                        Some(&e.display_name()),
                        format!("central directory header at offset {header_pos}: {issue}"),
                    ));
                }
                entries.push(e);
            }
            Err(msg) => {
                problems.push(problem(
                    kind::ZIP_STRUCTURE,
                    None,
                    format!(
                        "central directory header {} at offset {header_pos}: {msg}; the entries after it cannot be located",
                        entries.len() + 1
                    ),
                ));
                return entries;
            }
        }
    }
    if entries.len() as u64 != count {
        problems.push(problem(
            kind::ZIP_STRUCTURE,
            None,
            format!(
                "the end record counts {count} entries but the central directory holds {}",
                entries.len()
            ),
        ));
    }
    entries
}

/// Parses one central header: the entry and a non-fatal issue, or why the directory cannot be
/// read past this point.
fn parse_central_entry(f: &mut Fields<'_>) -> Result<(CentralEntry, Option<String>), String> {
    const SHORT: &str = "cut short";
    if f.u32().ok_or(SHORT)? != SIG_CENTRAL {
        return Err("bad signature".into());
    }
    let version_made_by = f.u16().ok_or(SHORT)?;
    let version_needed = f.u16().ok_or(SHORT)?;
    let flags = f.u16().ok_or(SHORT)?;
    let method = f.u16().ok_or(SHORT)?;
    let time = f.u16().ok_or(SHORT)?;
    let date = f.u16().ok_or(SHORT)?;
    let crc32 = f.u32().ok_or(SHORT)?;
    let csize = f.u32().ok_or(SHORT)?;
    let usize_ = f.u32().ok_or(SHORT)?;
    let name_len = f.u16().ok_or(SHORT)?;
    let extra_len = f.u16().ok_or(SHORT)?;
    let comment_len = f.u16().ok_or(SHORT)?;
    let disk = f.u16().ok_or(SHORT)?;
    let _internal_attrs = f.u16().ok_or(SHORT)?;
    let external_attrs = f.u32().ok_or(SHORT)?;
    let offset = f.u32().ok_or(SHORT)?;
    let name_raw = f.bytes(name_len.into()).ok_or(SHORT)?.to_vec();
    let extra = f.bytes(extra_len.into()).ok_or(SHORT)?;
    let comment = f.bytes(comment_len.into()).ok_or(SHORT)?;
    let mut issue = (!comment.is_empty()).then(|| {
        format!(
            "the entry has a {}-byte comment; MOBIUS backups have none",
            comment.len()
        )
    });
    let mut z = Zip64Need {
        size: u64::from(usize_) == U32_SENTINEL,
        compressed: u64::from(csize) == U32_SENTINEL,
        offset: u64::from(offset) == U32_SENTINEL,
        disk: u64::from(disk) == U16_SENTINEL,
    };
    let fields = parse_extra(extra).map_err(|e| format!("extra field {e}"))?;
    // A malformed timestamp does not hide where the entry is: an issue, not the end.
    let mtime = match fields.iter().find(|(id, _)| *id == EXTRA_UT) {
        Some((_, data)) => match parse_ut(data, false) {
            Ok(t) => t,
            Err(e) => {
                issue = Some(match issue {
                    Some(i) => format!("{i}; {e}"),
                    None => e,
                });
                None
            }
        },
        None => None,
    };
    let z64 = match fields.iter().find(|(id, _)| *id == EXTRA_ZIP64) {
        Some((_, data)) => read_zip64_values(data, &mut z)?,
        None if z.any() => {
            return Err("the sizes or offset need a ZIP64 extra field, which is missing".into())
        }
        None => Zip64Values::default(),
    };
    let disk = z64.disk.unwrap_or(u32::from(disk));
    if disk != 0 {
        issue = Some(format!(
            "the entry starts on disk {disk}; a backup is one file"
        ));
    }
    let entry = CentralEntry {
        name_raw,
        version_made_by,
        version_needed,
        flags,
        method,
        time,
        date,
        crc32,
        compressed_size: z64.compressed.unwrap_or(u64::from(csize)),
        size: z64.size.unwrap_or(u64::from(usize_)),
        external_attrs,
        offset: z64.offset.unwrap_or(u64::from(offset)),
        mtime,
    };
    Ok((entry, issue))
}

/// Which 32-bit fields held the sentinel and must be read from the ZIP64 extra field.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Zip64Need {
    pub size: bool,
    pub compressed: bool,
    pub offset: bool,
    pub disk: bool,
}

impl Zip64Need {
    fn any(&self) -> bool {
        self.size || self.compressed || self.offset || self.disk
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Zip64Values {
    pub size: Option<u64>,
    pub compressed: Option<u64>,
    pub offset: Option<u64>,
    pub disk: Option<u32>,
}

/// Reads the ZIP64 values in the order APPNOTE 4.5.3 gives, only those whose header field
/// holds the sentinel.
pub(crate) fn read_zip64_values(data: &[u8], need: &mut Zip64Need) -> Result<Zip64Values, String> {
    let mut f = Fields::new(data);
    let short = || "the ZIP64 extra field is too short for the values the header marks".to_owned();
    let mut v = Zip64Values::default();
    if need.size {
        v.size = Some(f.u64().ok_or_else(short)?);
    }
    if need.compressed {
        v.compressed = Some(f.u64().ok_or_else(short)?);
    }
    if need.offset {
        v.offset = Some(f.u64().ok_or_else(short)?);
    }
    if need.disk {
        v.disk = Some(f.u32().ok_or_else(short)?);
    }
    if f.pos() != data.len() {
        return Err(format!(
            "the ZIP64 extra field holds {} bytes beyond the values the header marks",
            data.len() - f.pos()
        ));
    }
    Ok(v)
}

/// Parses an extended-timestamp field (0x5455): a flags byte (bit 0 modification, bit 1
/// access, bit 2 creation time), then 4 bytes per time. A local header carries every time
/// its flags name, a central header the modification time only (Info-ZIP's layout; MOBIUS
/// writes flags 1 and the mtime in both). Returns the modification time; any other length or
/// an unknown flag is malformed.
pub(crate) fn parse_ut(data: &[u8], local: bool) -> Result<Option<i32>, String> {
    let Some((&flags, times)) = data.split_first() else {
        return Err("the extended-timestamp field (0x5455) is empty".into());
    };
    if flags & !7 != 0 {
        return Err(format!(
            "the extended-timestamp field (0x5455) has unknown flags 0x{flags:02x}"
        ));
    }
    let want = 4 * if local {
        (flags & 7).count_ones() as usize
    } else {
        usize::from(flags & 1)
    };
    if times.len() != want {
        return Err(format!(
            "the extended-timestamp field (0x5455) holds {} bytes of times where its flags 0x{flags:02x} call for {want}",
            times.len()
        ));
    }
    Ok(times
        .get(..4)
        .filter(|_| flags & 1 != 0)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes))
}

/// Splits an extra field into (id, data) pairs; it must be exactly filled by them.
pub(crate) fn parse_extra(extra: &[u8]) -> Result<Vec<(u16, &[u8])>, String> {
    let mut f = Fields::new(extra);
    let mut out = Vec::new();
    while f.pos() < extra.len() {
        let (Some(id), Some(len)) = (f.u16(), f.u16()) else {
            return Err("ends with a partial field header".into());
        };
        let data = f
            .bytes(len.into())
            .ok_or_else(|| format!("0x{id:04x} claims {len} bytes, more than remain"))?;
        if out.iter().any(|(seen, _)| *seen == id) {
            return Err(format!("0x{id:04x} appears twice"));
        }
        out.push((id, data));
    }
    Ok(out)
}

/// The fixed part of a local header, read before its name and extra field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalFixed {
    pub version_needed: u16,
    pub flags: u16,
    pub method: u16,
    pub time: u16,
    pub date: u16,
    pub crc32: u32,
    pub compressed_size: u32,
    pub size: u32,
    pub name_len: u16,
    pub extra_len: u16,
}

pub(crate) fn parse_local_fixed(b: &[u8; LOCAL_FIXED_LEN]) -> Option<LocalFixed> {
    let mut f = Fields::new(b);
    if f.u32()? != SIG_LOCAL {
        return None;
    }
    Some(LocalFixed {
        version_needed: f.u16()?,
        flags: f.u16()?,
        method: f.u16()?,
        time: f.u16()?,
        date: f.u16()?,
        crc32: f.u32()?,
        compressed_size: f.u32()?,
        size: f.u32()?,
        name_len: f.u16()?,
        extra_len: f.u16()?,
    })
}

/// Compares a local header with its central header; returns each disagreement.
pub(crate) fn compare_local(
    c: &CentralEntry,
    l: &LocalFixed,
    name: &[u8],
    extra: &[u8],
) -> Vec<String> {
    let mut out = Vec::new();
    if name != c.name_raw.as_slice() {
        out.push(format!(
            "the local header names it {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    let mut diff = |what: &str, local: u64, central: u64| {
        if local != central {
            out.push(format!(
                "{what} is {local} in the local header but {central} in the central directory"
            ));
        }
    };
    diff(
        "version needed",
        l.version_needed.into(),
        c.version_needed.into(),
    );
    diff("flags", l.flags.into(), c.flags.into());
    diff("compression method", l.method.into(), c.method.into());
    diff("modification time", l.time.into(), c.time.into());
    diff("modification date", l.date.into(), c.date.into());
    let described_later = l.flags & FLAG_DESCRIPTOR != 0;
    let fields = match parse_extra(extra) {
        Ok(f) => f,
        Err(e) => {
            out.push(format!("the local extra field {e}"));
            return out;
        }
    };
    let mut need = Zip64Need {
        size: u64::from(l.size) == U32_SENTINEL,
        compressed: u64::from(l.compressed_size) == U32_SENTINEL,
        ..Zip64Need::default()
    };
    let z64 = match fields.iter().find(|(id, _)| *id == EXTRA_ZIP64) {
        // Writers that do not know the sizes in advance put both in the local ZIP64 field.
        Some((_, data)) if data.len() == 16 && !need.size && !need.compressed => {
            need.size = true;
            need.compressed = true;
            read_zip64_values(data, &mut need)
        }
        Some((_, data)) => read_zip64_values(data, &mut need),
        None if need.size || need.compressed => {
            Err("the local header marks ZIP64 sizes but has no ZIP64 extra field".into())
        }
        None => Ok(Zip64Values::default()),
    };
    let z64 = match z64 {
        Ok(z) => z,
        Err(e) => {
            out.push(e);
            return out;
        }
    };
    let lsize = z64.size.unwrap_or(l.size.into());
    let lcomp = z64.compressed.unwrap_or(l.compressed_size.into());
    // With a data descriptor the local values may be zero; the descriptor carries them.
    let zero_ok = |v: u64| described_later && v == 0;
    if !zero_ok(l.crc32.into()) {
        diff("CRC-32", l.crc32.into(), c.crc32.into());
    }
    if !zero_ok(lcomp) {
        diff("compressed size", lcomp, c.compressed_size);
    }
    if !zero_ok(lsize) {
        diff("size", lsize, c.size);
    }
    let lmtime = match fields.iter().find(|(id, _)| *id == EXTRA_UT) {
        Some((_, data)) => match parse_ut(data, true) {
            Ok(t) => t,
            Err(e) => {
                out.push(format!("the local {e}"));
                None
            }
        },
        None => None,
    };
    if lmtime != c.mtime {
        let show = |t: Option<i32>| t.map_or("absent".to_owned(), |t| t.to_string());
        out.push(format!(
            "the extended-timestamp mtime is {} in the local header but {} in the central directory",
            show(lmtime),
            show(c.mtime)
        ));
    }
    out
}

/// Parses a data descriptor (after the entry's data when flag bit 3 is set). Returns its
/// length and (crc, compressed, size). The signature is optional; ZIP64 entries use 8-byte
/// sizes.
pub(crate) fn parse_descriptor(b: &[u8], zip64: bool) -> Option<(usize, u32, u64, u64)> {
    let mut f = Fields::new(b);
    let first = f.u32()?;
    let crc = if first == SIG_DESCRIPTOR {
        f.u32()?
    } else {
        first
    };
    let (comp, size) = if zip64 {
        (f.u64()?, f.u64()?)
    } else {
        (u64::from(f.u32()?), u64::from(f.u32()?))
    };
    Some((f.pos(), crc, comp, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_must_fill_exactly() {
        assert_eq!(parse_extra(&[]).unwrap().len(), 0);
        let ok = [1, 0, 2, 0, 0xAA, 0xBB, 0x55, 0x54, 0, 0];
        let f = parse_extra(&ok).unwrap();
        assert_eq!(f, vec![(1, &[0xAA, 0xBB][..]), (0x5455, &[][..])]);
        assert!(parse_extra(&[1, 0, 3, 0, 0xAA]).is_err());
        assert!(parse_extra(&[1, 0, 0, 0, 9]).is_err());
        assert!(parse_extra(&[1, 0, 0, 0, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn extended_timestamps_must_have_the_length_their_flags_say() {
        let t = 1_795_000_000i32.to_le_bytes();
        let with = |flags: u8, n: usize| {
            let mut v = vec![flags];
            for _ in 0..n {
                v.extend_from_slice(&t);
            }
            v
        };
        assert_eq!(parse_ut(&with(1, 1), false), Ok(Some(1_795_000_000)));
        assert_eq!(parse_ut(&with(1, 1), true), Ok(Some(1_795_000_000)));
        // Info-ZIP's zip: mtime and atime locally, the mtime alone centrally.
        assert_eq!(parse_ut(&with(3, 2), true), Ok(Some(1_795_000_000)));
        assert_eq!(parse_ut(&with(3, 1), false), Ok(Some(1_795_000_000)));
        assert_eq!(parse_ut(&with(2, 1), true), Ok(None));
        for (data, local) in [
            (vec![], false),
            (with(1, 0), false),
            (with(1, 2), false),
            (with(3, 1), true),
            (with(9, 1), false),
            ([vec![1], t[..3].to_vec()].concat(), true),
        ] {
            assert!(parse_ut(&data, local).is_err(), "{data:?} {local}");
        }
    }

    #[test]
    fn zip64_values_follow_the_sentinels() {
        let mut data = Vec::new();
        data.extend_from_slice(&5u64.to_le_bytes());
        data.extend_from_slice(&7u64.to_le_bytes());
        let mut need = Zip64Need {
            size: true,
            offset: true,
            ..Default::default()
        };
        let v = read_zip64_values(&data, &mut need).unwrap();
        assert_eq!((v.size, v.compressed, v.offset), (Some(5), None, Some(7)));
        let mut need = Zip64Need {
            size: true,
            ..Default::default()
        };
        assert!(read_zip64_values(&data, &mut need).is_err());
    }

    #[test]
    fn descriptor_with_and_without_signature() {
        let mut b = SIG_DESCRIPTOR.to_le_bytes().to_vec();
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        assert_eq!(parse_descriptor(&b, false), Some((16, 9, 3, 4)));
        assert_eq!(parse_descriptor(&b[4..], false), Some((12, 9, 3, 4)));
    }
}
