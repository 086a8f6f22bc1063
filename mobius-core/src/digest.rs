//! SHA-256 helpers and the `sha256sum`-compatible sidecar format.
//!
//! A sidecar is exactly what GNU `sha256sum FILE` prints when run in the file's directory:
//! 64 lowercase hex digits, two spaces, the base name, a newline. So `sha256sum -c X.sha256`
//! run beside the file checks it, with no MOBIUS tool at hand.

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
