//! The problem kinds a `verify` record can carry, and what each means for the exit code.

use mobius_core::records::Problem;
use mobius_core::Exit;

/// Machine-readable problem kinds (the `kind` field). Stable: scripts match on them.
pub mod kind {
    /// The backup file does not exist (or is not a regular file).
    pub const BACKUP_MISSING: &str = "backup_missing";
    /// No `X.zip.sha256` beside the zip: an incomplete backup.
    pub const SIDECAR_MISSING: &str = "sidecar_missing";
    /// The sidecar is not in `sha256sum` format (exit 3).
    pub const SIDECAR_UNPARSEABLE: &str = "sidecar_unparseable";
    /// The sidecar names another file.
    pub const SIDECAR_NAME_MISMATCH: &str = "sidecar_name_mismatch";
    /// The zip's SHA-256 differs from the sidecar's.
    pub const SIDECAR_MISMATCH: &str = "sidecar_mismatch";
    /// End record, central directory or entry layout is broken.
    pub const ZIP_STRUCTURE: &str = "zip_structure";
    /// Bytes after the end of the archive (appended data).
    pub const TRAILING_BYTES: &str = "trailing_bytes";
    /// Bytes no entry accounts for (before the first entry, between entries).
    pub const GAP: &str = "gap";
    /// An entry's bytes run into the next entry or the central directory.
    pub const OVERLAP: &str = "overlap";
    /// A local header is unreadable or disagrees with the central directory.
    pub const LOCAL_HEADER: &str = "local_header";
    /// The entry's compressed data does not inflate, or its CRC-32 or size is wrong.
    pub const ENTRY_CORRUPT: &str = "entry_corrupt";
    /// Compression method or encryption a backup never uses.
    pub const UNSUPPORTED_ENTRY: &str = "unsupported_entry";
    /// The entry's content differs from the manifest's SHA-256.
    pub const SHA256_MISMATCH: &str = "sha256_mismatch";
    /// The entry's size differs from the manifest's.
    pub const SIZE_MISMATCH: &str = "size_mismatch";
    /// Permission bits differ from the manifest's, or are absent.
    pub const MODE_MISMATCH: &str = "mode_mismatch";
    /// A symlink or special file where a regular file or directory belongs.
    pub const NOT_REGULAR: &str = "not_regular";
    /// Absolute, `..`, backslash, drive letter, NUL, Windows device name (see
    /// `mobius_core::backups::unsafe_entry_name`).
    pub const UNSAFE_NAME: &str = "unsafe_name";
    /// A name a restore cannot create here: a control character, a component over
    /// `NAME_MAX` bytes or a path too long (see `mobius_core::backups::unrestorable_entry_name`).
    pub const UNRESTORABLE_NAME: &str = "unrestorable_name";
    /// The entry name is not UTF-8.
    pub const NAME_ENCODING: &str = "name_encoding";
    /// Two entries with the same name.
    pub const DUPLICATE_ENTRY: &str = "duplicate_entry";
    /// Two entries whose names differ only in case (they collide on case-insensitive disks).
    pub const DUPLICATE_ENTRY_CASE: &str = "duplicate_entry_case";
    /// A file entry used as a directory by another entry (`a` and `a/b`).
    pub const PATH_CONFLICT: &str = "path_conflict";
    /// In the manifest, not in the zip.
    pub const ENTRY_MISSING: &str = "entry_missing";
    /// In the zip, not in the manifest.
    pub const ENTRY_EXTRA: &str = "entry_extra";
    /// No `MOBIUS-MANIFEST.json` entry.
    pub const MANIFEST_MISSING: &str = "manifest_missing";
    /// The manifest entry's bytes are damaged (so nothing it says can be trusted).
    pub const MANIFEST_CORRUPT: &str = "manifest_corrupt";
    /// The manifest is intact as stored but is not valid manifest JSON (exit 3).
    pub const MANIFEST_UNPARSEABLE: &str = "manifest_unparseable";
    /// A manifest format this version does not understand (exit 3).
    pub const MANIFEST_UNSUPPORTED: &str = "manifest_unsupported";
    /// The manifest contradicts itself (duplicate paths, malformed hashes) or is not last.
    pub const MANIFEST_INVALID: &str = "manifest_invalid";
    /// The file name's name, env or stamp differ from the manifest's: a renamed zip.
    pub const NAME_MISMATCH: &str = "name_mismatch";
    /// More problems than a record lists; the count is in the detail.
    pub const TOO_MANY_PROBLEMS: &str = "too_many_problems";
}

/// A record lists at most this many problems: a zip damaged at the start can make every
/// entry fail, and 20,000 identical lines help no one.
pub const MAX_PROBLEMS: usize = 200;

pub(crate) fn problem(kind: &str, entry: Option<&str>, detail: impl Into<String>) -> Problem {
    Problem {
        kind: kind.to_owned(),
        entry: entry.map(str::to_owned),
        detail: detail.into(),
    }
}

/// Whether a problem means the input could not be parsed (exit 3) rather than found bad (1).
pub fn is_malformed(p: &Problem) -> bool {
    matches!(
        p.kind.as_str(),
        kind::SIDECAR_UNPARSEABLE | kind::MANIFEST_UNPARSEABLE | kind::MANIFEST_UNSUPPORTED
    )
}

/// The exit code for a set of problems: 0 none, 3 when a sidecar or manifest does not
/// parse, 1 otherwise.
pub fn exit_for(problems: &[Problem]) -> Exit {
    if problems.is_empty() {
        Exit::Success
    } else if problems.iter().any(is_malformed) {
        Exit::Malformed
    } else {
        Exit::Bad
    }
}

/// Caps a problem list at [`MAX_PROBLEMS`], keeping the first ones (the cause is usually
/// early) and saying how many were left out. Malformed-input problems are always kept, since
/// they decide the exit code.
pub(crate) fn cap(problems: &mut Vec<Problem>) {
    if problems.len() <= MAX_PROBLEMS {
        return;
    }
    let extra = problems.len() - MAX_PROBLEMS;
    let kept_malformed: Vec<Problem> = problems[MAX_PROBLEMS..]
        .iter()
        .filter(|p| is_malformed(p))
        .cloned()
        .collect();
    problems.truncate(MAX_PROBLEMS);
    problems.extend(kept_malformed);
    problems.push(problem(
        kind::TOO_MANY_PROBLEMS,
        None,
        format!("{extra} more problems are not listed"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_worst_problem() {
        assert_eq!(exit_for(&[]), Exit::Success);
        let bad = problem(kind::SHA256_MISMATCH, Some("a"), "x");
        let malformed = problem(kind::SIDECAR_UNPARSEABLE, None, "x");
        assert_eq!(exit_for(std::slice::from_ref(&bad)), Exit::Bad);
        assert_eq!(exit_for(&[bad, malformed]), Exit::Malformed);
    }

    #[test]
    fn cap_keeps_malformed_and_counts_the_rest() {
        let mut v: Vec<Problem> = (0..MAX_PROBLEMS + 10)
            .map(|i| problem(kind::ENTRY_CORRUPT, Some(&i.to_string()), "x"))
            .collect();
        v.push(problem(kind::MANIFEST_UNPARSEABLE, None, "x"));
        cap(&mut v);
        assert_eq!(v.len(), MAX_PROBLEMS + 2);
        assert_eq!(exit_for(&v), Exit::Malformed);
        assert_eq!(v.last().unwrap().kind, kind::TOO_MANY_PROBLEMS);
        assert!(v.last().unwrap().detail.starts_with("11 more"));
    }
}
