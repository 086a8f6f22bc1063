//! Entry and file names as they may be printed: a name comes from an archive or a tree
//! someone else wrote, and its bytes must not reach a terminal or a log line as they are
//! (a newline forges a second line, an escape sequence rewrites the screen). Also the
//! lossy UTF-8 decoding of lines that streams of text go through.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `String::from_utf8_lossy`, with the usual case (valid UTF-8) checked by `str::from_utf8`,
/// which validates ASCII a word at a time, where `from_utf8_lossy` walks byte by byte: it
/// was a tenth of the export's time on a year of monitoring logs.
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `name` with every control character (0x00-0x1f, 0x7f), backslash and byte that is not
/// UTF-8 written as `\xNN`; everything else (printable ASCII, other Unicode) as it is.
/// The result is one line, and two different names never escape to the same text.
pub fn escape_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii_control() || c == '\\' {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// [`escape_name`] of a `str`.
pub fn escape_str(name: &str) -> String {
    escape_name(name.as_bytes())
}

/// A problem as one printed line: `kind "entry": detail`, the entry name escaped.
pub fn problem_line(p: &crate::records::Problem) -> String {
    match &p.entry {
        Some(e) => format!("{} \"{}\": {}", p.kind, escape_str(e), p.detail),
        None => format!("{}: {}", p.kind, p.detail),
    }
}

/// [`escape_name`] of a path's bytes (on Windows, of its lossy UTF-8 form).
pub fn escape_path(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        escape_name(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        escape_str(&path.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_backslashes_and_bad_bytes_are_escaped() {
        assert_eq!(escape_name(b"a/b c.json"), "a/b c.json");
        assert_eq!(escape_name("\u{fc}ber".as_bytes()), "\u{fc}ber");
        assert_eq!(escape_name(b"x\ny\x1b[2J\x7f"), "x\\x0ay\\x1b[2J\\x7f");
        assert_eq!(escape_name(b"a\\x0a"), "a\\x5cx0a");
        assert_eq!(escape_name(b"bad\xff\xfe"), "bad\\xff\\xfe");
        assert_eq!(escape_str("nul\0"), "nul\\x00");
        assert_eq!(escape_path(std::path::Path::new("d/a\tb")), "d/a\\x09b");
        let p = crate::records::Problem {
            kind: "unrestorable_name".into(),
            entry: Some("a\nb".into()),
            detail: "why".into(),
        };
        assert_eq!(problem_line(&p), "unrestorable_name \"a\\x0ab\": why");
    }
}

/// `1 file`, `2 files`, `0 entries`, `3 matches`: a count and its noun, so no message says
/// "1 files" or "target(s)".
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        return format!("1 {noun}");
    }
    let b = noun.as_bytes();
    let consonant_y = b.len() >= 2 && b[b.len() - 1] == b'y' && !b"aeiou".contains(&b[b.len() - 2]);
    if consonant_y {
        format!("{n} {}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| noun.ends_with(e))
    {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod plural_tests {
    use super::plural;

    #[test]
    fn nouns() {
        assert_eq!(plural(1u64, "file"), "1 file");
        assert_eq!(plural(0u64, "file"), "0 files");
        assert_eq!(plural(2u64, "entry"), "2 entries");
        assert_eq!(plural(2u64, "day"), "2 days");
        assert_eq!(plural(3u64, "match"), "3 matches");
        assert_eq!(plural(2u64, "target"), "2 targets");
    }
}
