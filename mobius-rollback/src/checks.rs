//! The checks made on every entry of the zip before a single byte is written.
//!
//! mobius-verify's `OpenedBackup::open` already refuses unsafe, duplicate and conflicting
//! names, symlinks and special files. These checks read the central directory a second
//! time, with the zip crate (an independent parser), over *every* entry (verify hands a
//! visitor only the entries it accepted), and add what verification does not judge: limits
//! on the size, the number of entries and the compression ratio, and entries whose bytes
//! overlap before any of them is inflated.

use mobius_core::backups::{unrestorable_entry_name, unsafe_entry_name};
use mobius_core::records::Problem;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

/// File type bits of a Unix mode.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
/// The fixed part of a local file header; the name follows it.
const LOCAL_FIXED_LEN: u64 = 30;
/// The ratio limit applies from this uncompressed size on: a small file of spaces may
/// compress 500:1 and is no bomb; everything together is bounded by the total-size limit.
pub const RATIO_MIN_SIZE: u64 = 1024 * 1024;

/// What a restore may unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes of all entries together.
    pub max_total_size: u64,
    /// Entries, the manifest not counted.
    pub max_entries: u64,
    /// Uncompressed : compressed, per entry of at least [`RATIO_MIN_SIZE`].
    pub max_ratio: u64,
}

fn problem(kind: &str, entry: Option<&str>, detail: String) -> Problem {
    Problem {
        kind: kind.to_owned(),
        entry: entry.map(str::to_owned),
        detail: format!("entry check: {detail}"),
    }
}

/// Every reason to refuse the zip found in its central directory. `Err` only when the file
/// cannot be read at all (verification reports that on its own terms).
pub fn check_entries(path: &Path, limits: &Limits) -> io::Result<Vec<Problem>> {
    let file = mobius_core::fsafe::open_input(path, mobius_core::fsafe::Kind::Archive)?;
    let archive = match zip::ZipArchive::new(file) {
        Ok(a) => a,
        Err(e) => {
            return Ok(vec![problem(
                "zip_structure",
                None,
                format!("the zip library cannot read the central directory: {e}"),
            )])
        }
    };
    let mut out = Vec::new();
    if archive.has_duplicate_names() {
        out.push(problem(
            "duplicate_entry",
            None,
            "the central directory lists a name more than once".to_owned(),
        ));
    }
    let count = archive.len() as u64;
    if count.saturating_sub(1) > limits.max_entries {
        out.push(problem(
            "too_many_entries",
            None,
            format!(
                "{} entries, more than --max-entries {}",
                count.saturating_sub(1),
                limits.max_entries
            ),
        ));
    }
    let cd_start = archive.central_directory_start();
    let mut total: u64 = 0;
    let mut ranges: Vec<(u64, u64, String)> = Vec::with_capacity(archive.len());
    let mut folded: HashMap<String, String> = HashMap::new();
    let mut files: HashSet<String> = HashSet::new();
    let mut names: Vec<String> = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let e = match archive.by_index_data(i) {
            Ok(e) => e,
            Err(err) => {
                out.push(problem(
                    "zip_structure",
                    None,
                    format!("entry {} cannot be read: {err}", i + 1),
                ));
                continue;
            }
        };
        let Ok(name) = std::str::from_utf8(e.name_raw()) else {
            out.push(problem(
                "name_encoding",
                Some(&String::from_utf8_lossy(e.name_raw())),
                "the name is not valid UTF-8".to_owned(),
            ));
            continue;
        };
        let name = name.to_owned();
        if let Some(why) = unsafe_entry_name(&name) {
            out.push(problem(
                "unsafe_name",
                Some(&name),
                format!("unsafe name: {why}"),
            ));
        } else if let Some(why) = unrestorable_entry_name(&name) {
            out.push(problem(
                "unrestorable_name",
                Some(&name),
                format!("a restore cannot create this name: {why}"),
            ));
        }
        let is_dir = name.ends_with('/');
        let mode = e.unix_mode();
        let ftype = mode.map_or(0, |m| m & S_IFMT);
        let want = if is_dir { S_IFDIR } else { S_IFREG };
        if e.is_symlink() || (ftype != 0 && ftype != want) {
            out.push(problem(
                "not_regular",
                Some(&name),
                format!(
                    "the zip marks it as a symlink or special file (mode {:o}); only regular files and directories are restored",
                    mode.unwrap_or(0)
                ),
            ));
        }
        if e.encrypted() {
            out.push(problem(
                "unsupported_entry",
                Some(&name),
                "the entry is encrypted".to_owned(),
            ));
        }
        let key = name.trim_end_matches('/').to_lowercase();
        if let Some(first) = folded.get(&key) {
            out.push(problem(
                "duplicate_entry",
                Some(&name),
                format!("the same name as {first:?} (also when case is ignored)"),
            ));
        } else {
            folded.insert(key, name.clone());
        }
        let size = e.size();
        let csize = e.compressed_size();
        total = total.saturating_add(size);
        if size >= RATIO_MIN_SIZE && size > csize.saturating_mul(limits.max_ratio) {
            out.push(problem(
                "compression_ratio",
                Some(&name),
                format!(
                    "{size} bytes from {csize} compressed ({}:1), beyond --max-ratio {}",
                    size / csize.max(1),
                    limits.max_ratio
                ),
            ));
        }
        // The least an entry occupies: its local header (whose name must equal this one)
        // and its data. Extra fields only make it longer; verification measures them.
        let start = e.header_start();
        let end = start
            .saturating_add(LOCAL_FIXED_LEN)
            .saturating_add(e.name_raw().len() as u64)
            .saturating_add(csize);
        ranges.push((start, end, name.clone()));
        if !is_dir {
            files.insert(name.clone());
        }
        names.push(name);
    }
    if total > limits.max_total_size {
        out.push(problem(
            "too_large",
            None,
            format!(
                "the entries declare {total} bytes in all, beyond --max-total-size {}",
                limits.max_total_size
            ),
        ));
    }
    for name in &names {
        let trimmed = name.trim_end_matches('/');
        if name.ends_with('/') && files.contains(trimmed) {
            out.push(problem(
                "path_conflict",
                Some(name),
                format!("{trimmed:?} is both a file and a directory"),
            ));
        }
        if let Some(parent) = trimmed
            .match_indices('/')
            .map(|(pos, _)| &trimmed[..pos])
            .find(|p| files.contains(*p))
        {
            out.push(problem(
                "path_conflict",
                Some(name),
                format!("its parent {parent:?} is a file, not a directory"),
            ));
        }
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[0].1 > w[1].0 {
            out.push(problem(
                "overlap",
                Some(&w[1].2),
                format!("its bytes overlap those of {:?}", w[0].2),
            ));
        }
    }
    if let Some(last) = ranges.iter().find(|r| r.1 > cd_start) {
        out.push(problem(
            "overlap",
            Some(&last.2),
            "its bytes run into the central directory".to_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_say_they_come_from_the_entry_checks() {
        let p = problem("overlap", Some("a"), "x".into());
        assert_eq!(p.detail, "entry check: x");
        assert_eq!(p.entry.as_deref(), Some("a"));
    }
}
