//! SHA-256 helpers and the `sha256sum`-compatible sidecar format.
//!
//! A sidecar is one line in GNU `sha256sum` format: 64 lowercase hex digits, two spaces, a name,
//! a newline. The name is `<dir>/<file>`, `<dir>` being the name of the directory holding both
//! (`backups/X.zip`), because the framework's emergency procedure checks it from the MOBIUS root
//! as written: `sha256sum -c backups/X.zip.sha256`. A copy moved elsewhere is checked by
//! dropping the directory part: `sed 's#  .*/#  #' X.zip.sha256 | sha256sum -c` inside its
//! directory; the MOBIUS tools accept any name ending in the file's own name.
//!
//! Earlier versions also made a link `<dir>/<dir> -> .` so that `sha256sum -c` passed from
//! inside the directory too. That link makes `zip -r`, `tar -ch`, `cp -rL` and `rsync -L` of
//! the directory recurse, so it is no longer made, and [`write_sidecar`] removes one it finds
//! (only a symlink of exactly that name pointing to `.`; anything else is left alone).

use crate::atomic::{parent_dir, write_atomic};
use crate::backups::sidecar_path;
use crate::cli::Reporter;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Hashes a reader to its end; returns the hex digest and the byte count.
pub fn sha256_reader(mut r: impl Read) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    sha256_reader(crate::fsafe::open_input(path, crate::fsafe::Kind::Archive)?)
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex(&self.hasher.finalize()), self.count)
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The sidecar text for a file with this digest and base name.
pub fn sidecar_line(hex_digest: &str, base_name: &str) -> String {
    format!("{hex_digest}  {base_name}\n")
}

/// What [`write_sidecar`] did besides writing the sidecar, for the caller to report.
#[derive(Debug, Default)]
pub struct SidecarWritten {
    /// The name written into the sidecar (`backups/X.zip`, or `X.zip` when the directory has
    /// no name a sidecar can hold).
    pub named: String,
    /// An old `<dir>/<dir> -> .` link was removed.
    pub removed_old_link: Option<PathBuf>,
    /// Something has the old link's name but is not that link: left alone, worth a warning.
    pub kept: Option<PathBuf>,
    /// The old link could not be removed (the sidecar was still written).
    pub link_error: Option<(PathBuf, io::Error)>,
}

impl SidecarWritten {
    /// Tells the operator what became of an old `-> .` link: removed (one line), something
    /// else of that name left alone (detail), or a removal that failed (a warning: copies of
    /// the directory still recurse through it).
    pub fn report(&self, reporter: &Reporter) {
        if let Some(link) = &self.removed_old_link {
            reporter.info(format!(
                "removed the link {} -> . made by an earlier version (copies of the directory recursed through it)",
                link.display()
            ));
        }
        if let Some(p) = &self.kept {
            reporter.detail(format!(
                "left {} alone: it is not the old `-> .` link",
                p.display()
            ));
        }
        if let Some((link, e)) = &self.link_error {
            reporter.warn(format!(
                "cannot remove the old link {} -> . ({e}); remove it by hand, or zip -r and cp -rL of the directory recurse through it",
                link.display()
            ));
        }
    }
}

/// The name of the directory holding `file` as the caller named it (`backups` for
/// `root/backups/X.zip`, even when `backups` is itself a symlink elsewhere), so the sidecar
/// matches the path an operator types from the root. `.` or `..` fall back to the real name.
/// `None` for a name `sha256sum` would escape or misread (backslash, newline).
fn dir_name(dir: &Path) -> Option<String> {
    let name = match dir.components().next_back() {
        Some(Component::Normal(n)) => n.to_str()?.to_owned(),
        _ => dir.canonicalize().ok()?.file_name()?.to_str()?.to_owned(),
    };
    (!name.contains(['\\', '\n'])).then_some(name)
}

/// Removes `dir/<name>` when it is exactly the `-> .` link earlier versions made; reports
/// anything else of that name without touching it.
fn remove_old_self_link(dir: &Path, name: &str, out: &mut SidecarWritten) {
    let link = dir.join(name);
    let Ok(meta) = std::fs::symlink_metadata(&link) else {
        return;
    };
    let is_self_link = meta.file_type().is_symlink()
        && std::fs::read_link(&link).is_ok_and(|t| t == Path::new("."));
    if !is_self_link {
        out.kept = Some(link);
        return;
    }
    match std::fs::remove_file(&link) {
        Ok(()) => out.removed_old_link = Some(link),
        // Another run removed it first: the goal is reached.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => out.link_error = Some((link, e)),
    }
}

/// Writes `<file>.sha256` atomically (mode 0600), naming the file `<dir>/<file>` (see the
/// module header), and removes the `<dir>/<dir> -> .` link an earlier version made.
pub fn write_sidecar(file: &Path, hex_digest: &str) -> io::Result<SidecarWritten> {
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::other(format!("{} has no file name", file.display())))?;
    let dir = parent_dir(file);
    let mut out = SidecarWritten::default();
    let dir_name = dir_name(dir);
    out.named = match &dir_name {
        Some(d) => format!("{d}/{base}"),
        None => base,
    };
    write_atomic(
        &sidecar_path(file),
        sidecar_line(hex_digest, &out.named).as_bytes(),
        0o600,
    )?;
    if let Some(d) = &dir_name {
        remove_old_self_link(dir, d, &mut out);
    }
    Ok(out)
}

/// Whether a sidecar's `name` designates `file`: its bare name, or any path ending in
/// `/<its name>`. The sidecar is written naming `backups/<zip>` (so `sha256sum -c` works from
/// the MOBIUS root), and a backup copied elsewhere (offsite, another host, a USB disk) keeps
/// that line: what binds the sidecar to the zip is its file name and its digest, not the
/// directory it was made in. Another file's name means the sidecar belongs to another backup
/// or the file was renamed.
pub fn sidecar_names(name: &str, file: &Path) -> bool {
    let Some(base) = file.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let named = name.rsplit(['/', '\\']).next().unwrap_or(name);
    named == base
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidecarError {
    #[error("is empty")]
    Empty,
    #[error("has {0} lines; a backup sidecar has exactly one")]
    Lines(usize),
    #[error("is not in sha256sum format (64 hex digits, two spaces, a file name)")]
    Format,
}

/// Parses a sidecar: returns the lowercase digest and the file name it names. Accepts the
/// binary-mode marker (`hash *name`) that `sha256sum -b` writes, as `sha256sum -c` does.
pub fn parse_sidecar(text: &str) -> Result<(String, String), SidecarError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.len() {
        0 => return Err(SidecarError::Empty),
        1 => {}
        n => return Err(SidecarError::Lines(n)),
    }
    let line = lines[0];
    let (digest, rest) = line.split_at_checked(64).ok_or(SidecarError::Format)?;
    if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SidecarError::Format);
    }
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))
        .ok_or(SidecarError::Format)?;
    if name.is_empty() {
        return Err(SidecarError::Format);
    }
    Ok((digest.to_ascii_lowercase(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sidecar_round_trip() {
        let d = sha256_hex(b"x");
        let line = sidecar_line(&d, "dhash_prod_20261126T120000.000Z.zip");
        assert_eq!(
            parse_sidecar(&line),
            Ok((d, "dhash_prod_20261126T120000.000Z.zip".to_owned()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn sidecar_names_dir_and_file_and_no_link_is_made() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("a.zip");
        std::fs::write(&zip, b"x").unwrap();
        let w = write_sidecar(&zip, &sha256_hex(b"x")).unwrap();
        assert_eq!(w.named, "backups/a.zip");
        let text = std::fs::read_to_string(dir.join("a.zip.sha256")).unwrap();
        assert_eq!(text, format!("{}  backups/a.zip\n", sha256_hex(b"x")));
        assert!(std::fs::symlink_metadata(dir.join("backups")).is_err());
        assert!(sidecar_names("backups/a.zip", &zip));
        assert!(sidecar_names("a.zip", &zip));
        assert!(sidecar_names("other/a.zip", &zip));
        assert!(sidecar_names("/mnt/usb/offsite/a.zip", &zip));
        assert!(!sidecar_names("other/xa.zip", &zip));
        assert!(!sidecar_names("backups/b.zip", &zip));
        assert!(!sidecar_names("b.zip", &zip));
    }

    #[cfg(unix)]
    #[test]
    fn only_the_old_self_link_is_removed() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("a.zip");
        std::fs::write(&zip, b"x").unwrap();
        symlink(".", dir.join("backups")).unwrap();
        let w = write_sidecar(&zip, &sha256_hex(b"x")).unwrap();
        assert_eq!(w.removed_old_link, Some(dir.join("backups")));
        assert!(std::fs::symlink_metadata(dir.join("backups")).is_err());

        // A link elsewhere, a directory, a file: kept, and reported.
        symlink("/elsewhere", dir.join("backups")).unwrap();
        let w = write_sidecar(&zip, &sha256_hex(b"x")).unwrap();
        assert_eq!(w.kept, Some(dir.join("backups")));
        assert_eq!(
            std::fs::read_link(dir.join("backups")).unwrap(),
            Path::new("/elsewhere")
        );
        std::fs::remove_file(dir.join("backups")).unwrap();
        std::fs::create_dir(dir.join("backups")).unwrap();
        assert!(write_sidecar(&zip, &sha256_hex(b"x"))
            .unwrap()
            .kept
            .is_some());
        assert!(dir.join("backups").is_dir());
        std::fs::remove_dir(dir.join("backups")).unwrap();
        std::fs::write(dir.join("backups"), b"mine").unwrap();
        assert!(write_sidecar(&zip, &sha256_hex(b"x"))
            .unwrap()
            .kept
            .is_some());
        assert_eq!(std::fs::read(dir.join("backups")).unwrap(), b"mine");
        // A link to `./` or `..` is not exactly `.`: kept too.
        std::fs::remove_file(dir.join("backups")).unwrap();
        symlink("..", dir.join("backups")).unwrap();
        assert!(write_sidecar(&zip, &sha256_hex(b"x"))
            .unwrap()
            .kept
            .is_some());
    }

    #[test]
    fn a_directory_named_through_dot_uses_its_real_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exports");
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join(".").join("e.zip");
        std::fs::write(&zip, b"y").unwrap();
        assert_eq!(
            write_sidecar(&zip, &sha256_hex(b"y")).unwrap().named,
            "exports/e.zip"
        );
    }

    #[test]
    fn sidecar_rejects_garbage() {
        assert_eq!(parse_sidecar(""), Err(SidecarError::Empty));
        assert_eq!(parse_sidecar("abc  x.zip\n"), Err(SidecarError::Format));
        let d = sha256_hex(b"x");
        assert_eq!(
            parse_sidecar(&format!("{d} x.zip")),
            Err(SidecarError::Format)
        );
        assert_eq!(
            parse_sidecar(&format!("{d}  a\n{d}  b\n")),
            Err(SidecarError::Lines(2))
        );
    }
}
