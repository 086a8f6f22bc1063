//! SHA-256 helpers and the `sha256sum`-compatible sidecar format.
//!
//! A sidecar is one line in GNU `sha256sum` format: 64 lowercase hex digits, two spaces, a name,
//! a newline. The name is `<dir>/<file>`, `<dir>` being the name of the directory holding both,
//! and that directory holds a link `<dir> -> .` (as Debian's `/usr/bin/X11 -> .` did). So plain
//! `sha256sum -c` passes both from the directory above, the way the framework's emergency
//! procedure runs it (`sha256sum -c backups/X.zip.sha256` from the root), and from inside
//! (`cd backups && sha256sum -c X.zip.sha256`). A sidecar naming the bare file (older ones, or
//! one written where no link can be made) is equally valid.

use crate::atomic::{parent_dir, write_atomic};
use crate::backups::sidecar_path;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

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
    sha256_reader(File::open(path)?)
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

/// The name of `dir` itself when `dir/<name>` is (or now becomes) a link to `.`; `None` when
/// that cannot be (another file has the name, a name `sha256sum` would escape, no symlinks).
#[cfg(unix)]
fn self_link(dir: &Path) -> Option<String> {
    let canon = dir.canonicalize().ok()?;
    let name = canon.file_name()?.to_str()?.to_owned();
    if name.contains(['\\', '\n']) {
        return None;
    }
    let link = canon.join(&name);
    match std::os::unix::fs::symlink(".", &link) {
        Ok(()) => {}
        // Another backup made it first, or an operator's file is in the way: read_link tells.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    (std::fs::read_link(&link).ok()? == Path::new(".")).then_some(name)
}

#[cfg(not(unix))]
fn self_link(_dir: &Path) -> Option<String> {
    None
}

/// Writes `<file>.sha256` atomically (mode 0600), naming the file `<dir>/<file>` when the
/// directory's self-link exists or can be made (see the module header), else by its bare name.
/// Returns whether the `<dir>/` form was used, so a caller can warn when it was not.
pub fn write_sidecar(file: &Path, hex_digest: &str) -> io::Result<bool> {
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::other(format!("{} has no file name", file.display())))?;
    let dir_name = self_link(parent_dir(file));
    let named = match &dir_name {
        Some(d) => format!("{d}/{base}"),
        None => base,
    };
    write_atomic(
        &sidecar_path(file),
        sidecar_line(hex_digest, &named).as_bytes(),
        0o600,
    )?;
    Ok(dir_name.is_some())
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
    fn sidecar_names_the_file_through_its_directory_link() {
        let tmp = std::env::temp_dir().join(format!("mobius-sidecar-{}", std::process::id()));
        let dir = tmp.join("backups");
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("a.zip");
        std::fs::write(&zip, b"x").unwrap();
        assert!(write_sidecar(&zip, &sha256_hex(b"x")).unwrap());
        let text = std::fs::read_to_string(dir.join("a.zip.sha256")).unwrap();
        assert_eq!(text, format!("{}  backups/a.zip\n", sha256_hex(b"x")));
        assert_eq!(
            std::fs::read_link(dir.join("backups")).unwrap(),
            Path::new(".")
        );
        // A second write finds the link in place.
        assert!(write_sidecar(&zip, &sha256_hex(b"x")).unwrap());
        assert!(sidecar_names("backups/a.zip", &zip));
        assert!(sidecar_names("a.zip", &zip));
        assert!(sidecar_names("other/a.zip", &zip));
        assert!(sidecar_names("/mnt/usb/offsite/a.zip", &zip));
        assert!(!sidecar_names("other/xa.zip", &zip));
        assert!(!sidecar_names("backups/b.zip", &zip));
        assert!(!sidecar_names("b.zip", &zip));
        // Something else in the link's place: the bare name, never a wrong path.
        let other = tmp.join("exports");
        std::fs::create_dir_all(other.join("exports")).unwrap();
        let z2 = other.join("e.zip");
        std::fs::write(&z2, b"y").unwrap();
        assert!(!write_sidecar(&z2, &sha256_hex(b"y")).unwrap());
        let text = std::fs::read_to_string(other.join("e.zip.sha256")).unwrap();
        assert_eq!(text, format!("{}  e.zip\n", sha256_hex(b"y")));
        std::fs::remove_dir_all(&tmp).unwrap();
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
