//! The one way a tool opens a file by name. Files the tools read or write can be planted by
//! someone else (a symlink at `history/prod.jsonl`, a FIFO given as a backup, `/dev/zero` as
//! a spec), so:
//!
//! - an input is opened without blocking (a FIFO with no writer cannot hang the open), must
//!   be a regular file, and is read with a size limit that fits its [`Kind`];
//! - a file written, appended to or repaired is opened without following a final symlink,
//!   must be a regular file with one link, and a name that holds anything else is refused;
//! - a message quotes input only through [`excerpt`]: short and escaped.
//!
//! Every refusal is an `io::Error` whose text names what the path is ("is a FIFO (named
//! pipe), not a regular file"), so each tool's existing "cannot read <path>: ..." wrapping
//! and its exit code for I/O failures (4) apply unchanged; [`is_refusal`] tells it apart.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, BufRead, Read};
use std::path::Path;

/// What an input is, which decides how much of it may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `.sha256` sidecar: one line.
    Sidecar,
    /// A spec, config, `app.json`, event, template, migration or key file.
    Text,
    /// A JSON-lines log read line by line (history, records): each line is bounded.
    Lines,
    /// A backup archive: a regular file of any size (its reader bounds what it unpacks).
    Archive,
}

/// The most a sidecar may hold: one line of 64 hex digits, two spaces and a file name.
pub const SIDECAR_LIMIT: u64 = 4 * 1024;
/// The most a spec, config, event or template may hold.
pub const TEXT_LIMIT: u64 = 8 * 1024 * 1024;
/// The longest line of a JSON-lines log.
pub const LINE_LIMIT: u64 = 4 * 1024 * 1024;

impl Kind {
    /// The whole-file limit, `None` for files read in bounded pieces.
    pub fn limit(self) -> Option<u64> {
        match self {
            Kind::Sidecar => Some(SIDECAR_LIMIT),
            Kind::Text => Some(TEXT_LIMIT),
            Kind::Lines | Kind::Archive => None,
        }
    }
}

/// The marker that makes a refusal recognisable after it was wrapped as an `io::Error`.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// A refusal with this text ("is ..., not ..."), for callers that refuse on their own grounds.
pub fn refusal(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, Refused(msg))
}

/// Whether `e` is a refusal made here (a file of the wrong type, too large, linked).
pub fn is_refusal(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

/// What a file type is, for "is <this>, not a regular file".
pub fn describe(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        match crate::platform::special_kind(&ft) {
            "FIFO (named pipe)" => "a FIFO (named pipe)",
            "socket" => "a socket",
            "block device" => "a block device",
            "character device" => "a character device",
            _ => "a special file",
        }
    }
}

fn must_be_regular(file: &File) -> io::Result<Metadata> {
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(refusal(format!(
            "is {}, not a regular file",
            describe(&meta)
        )))
    }
}

#[cfg(unix)]
fn clear_nonblock(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fd is open for the life of `file`; F_GETFL/F_SETFL take no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens an input: without blocking (std sets O_CLOEXEC), then it must be a regular file.
/// A final symlink is followed: an operator may link a config into place. Every kind is
/// opened alike; callers name it anyway so each input says what it is, and [`read_input`]
/// takes its limit from it.
pub fn open_input(path: &Path, kind: Kind) -> io::Result<File> {
    let _ = kind;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path)?;
    must_be_regular(&file)?;
    #[cfg(unix)]
    clear_nonblock(&file)?;
    Ok(file)
}

/// Reads all of `r`, refusing more than `limit` bytes (never reads past `limit + 1`).
pub fn read_limited(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(refusal(format!(
            "is larger than {} (the limit for this kind of file)",
            human(limit)
        )));
    }
    Ok(buf)
}

/// Opens and reads an input whole, within its kind's limit.
pub fn read_input(path: &Path, kind: Kind) -> io::Result<Vec<u8>> {
    let file = open_input(path, kind)?;
    match kind.limit() {
        Some(limit) => read_limited(file, limit),
        None => {
            let mut buf = Vec::new();
            let mut file = file;
            file.read_to_end(&mut buf)?;
            Ok(buf)
        }
    }
}

/// `-`: standard input, where a tool reads a file.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// [`read_input`], or the whole of `stdin` (within the kind's limit) when the path is `-`.
pub fn read_input_or(path: &Path, kind: Kind, stdin: impl Read) -> io::Result<Vec<u8>> {
    if is_stdin(path) {
        read_limited(stdin, kind.limit().unwrap_or(TEXT_LIMIT))
    } else {
        read_input(path, kind)
    }
}

/// [`read_input_or`] as text.
pub fn read_input_string_or(path: &Path, kind: Kind, stdin: impl Read) -> io::Result<String> {
    utf8(read_input_or(path, kind, stdin)?)
}

/// How a tool names an input in messages: `standard input` for `-`.
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// [`read_input`] as text: invalid UTF-8 is an error naming where it starts.
pub fn read_input_string(path: &Path, kind: Kind) -> io::Result<String> {
    utf8(read_input(path, kind)?)
}

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads one line (up to and including `\n`) into `buf`, refusing a line longer than
/// `limit`: a log of one endless line (`/dev/zero` copied into place) cannot fill memory.
pub fn read_line_limited(r: &mut impl BufRead, buf: &mut Vec<u8>, limit: u64) -> io::Result<usize> {
    let n = r.take(limit + 1).read_until(b'\n', buf)?;
    if n as u64 > limit && buf.last() != Some(&b'\n') {
        return Err(refusal(format!("has a line longer than {}", human(limit))));
    }
    Ok(n)
}

fn human(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Refuses to write at `path` when something other than a regular file is there (a
/// symlink, FIFO, device, directory); nothing there is fine. Used before a file is replaced
/// by rename, which would otherwise swap a planted link or pipe away silently. (A rename
/// never writes into another hard link's data, so those are not refused here.)
pub fn check_output(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check_written(&meta, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn check_written(meta: &Metadata, single_link: bool) -> io::Result<()> {
    if meta.file_type().is_symlink() {
        return Err(refusal(
            "is a symbolic link; refusing to write through it".to_owned(),
        ));
    }
    if !meta.is_file() {
        return Err(refusal(format!(
            "is {}, not a regular file; refusing to write to it",
            describe(meta)
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if single_link && meta.nlink() > 1 {
            return Err(refusal(format!(
                "has {} hard links; refusing to write to a file shared with another name",
                meta.nlink()
            )));
        }
    }
    Ok(())
}

/// Opens (creating with `mode` if absent) a file the tool writes in place, such as the
/// history log (`append`) or a lock (read-write): never through a final symlink, never
/// blocking on a FIFO, and it must be a regular file with one link.
pub fn open_owned(path: &Path, append: bool, mode: u32) -> io::Result<File> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // The clearer message for a link or a pipe; the flags below close the race.
        check_written(&meta, true)?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).create(true);
    if append {
        opts.append(true);
    } else {
        opts.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let file = opts.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return refusal("is a symbolic link; refusing to write through it".to_owned());
        }
        e
    })?;
    check_written(&file.metadata()?, true)?;
    #[cfg(unix)]
    clear_nonblock(&file)?;
    Ok(file)
}

/// At most `max` characters of `bytes` for a message: control characters, quotes,
/// backslashes and bytes that are not UTF-8 escaped (`\n`, `\x1b`), `...` when cut.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0usize;
    let mut rest = bytes;
    let mut cut = false;
    'outer: while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                // The prefix was just checked to be UTF-8.
                (std::str::from_utf8(v).unwrap_or_default(), b)
            }
        };
        for c in valid.chars() {
            let piece = match c {
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                '\\' => "\\\\".to_owned(),
                '"' => "\\\"".to_owned(),
                c if c.is_control() || is_invisible_format(c) => {
                    if (c as u32) < 0x100 {
                        format!("\\x{:02x}", c as u32)
                    } else {
                        format!("\\u{{{:x}}}", c as u32)
                    }
                }
                c => c.to_string(),
            };
            if shown + piece.chars().count() > max {
                cut = true;
                break 'outer;
            }
            shown += piece.chars().count();
            out.push_str(&piece);
        }
        if let Some((&b, after)) = bad.split_first() {
            if shown + 4 > max {
                cut = true;
                break;
            }
            out.push_str(&format!("\\x{b:02x}"));
            shown += 4;
            rest = after;
        } else {
            rest = &[];
        }
    }
    if cut {
        out.push_str("...");
    }
    out
}

/// Format characters that reorder or hide text on a terminal (bidi overrides, zero-width).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// The excerpt length messages use.
pub const EXCERPT_CHARS: usize = 80;

/// A value taken from input, for a message: `'<excerpt>'`.
pub fn quoted(s: &str) -> String {
    format!("'{}'", excerpt(s.as_bytes(), EXCERPT_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn excerpt_escapes_and_cuts() {
        assert_eq!(excerpt(b"abc", 80), "abc");
        assert_eq!(excerpt(b"a\nb\x1b\xff\"", 80), "a\\nb\\x1b\\xff\\\"");
        let long = vec![b'x'; 100_000];
        let e = excerpt(&long, 80);
        assert_eq!(e.len(), 83);
        assert!(e.ends_with("..."));
        assert_eq!(excerpt("é\u{202e}".as_bytes(), 80), "é\\u{202e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_input(&p, Kind::Text).unwrap_err();
        assert!(is_refusal(&e));
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = open_owned(&p, true, 0o600).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_and_directories_are_refusal() {
        let e = read_input(Path::new("/dev/zero"), Kind::Text).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = read_input(d.path(), Kind::Sidecar).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        assert!(check_output(d.path()).is_err());
    }

    #[test]
    fn inputs_over_their_limit_are_refusal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.sha256");
        std::fs::write(&p, vec![b'a'; SIDECAR_LIMIT as usize + 1]).unwrap();
        let e = read_input(&p, Kind::Sidecar).unwrap_err();
        assert!(e.to_string().contains("4 KiB"), "{e}");
        std::fs::write(&p, vec![b'a'; SIDECAR_LIMIT as usize]).unwrap();
        assert_eq!(read_input(&p, Kind::Sidecar).unwrap().len(), 4096);
        let mut r = io::Cursor::new(vec![b'x'; 100]);
        let mut buf = Vec::new();
        assert!(read_line_limited(&mut r, &mut buf, 10).is_err());
        let mut r = io::Cursor::new(b"0123456789\nab".to_vec());
        buf.clear();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), 11);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_never_follow_links() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("foreign");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.path().join("history.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_owned(&link, true, 0o600).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(check_output(&link).is_err());
        let hard = d.path().join("hard");
        std::fs::hard_link(&target, &hard).unwrap();
        assert!(open_owned(&hard, true, 0o600).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        let mine = d.path().join("mine");
        let mut f = open_owned(&mine, true, 0o600).unwrap();
        f.write_all(b"x").unwrap();
        assert!(check_output(&mine).is_ok());
    }
}
