//! SHA-256 of the zip while it is written, so the finished file need not be read back.
//!
//! A zip writer may seek back to patch a header it already wrote (a streamed entry's sizes
//! and CRC). The hash of a stream cannot be rewound, so any write that is not a plain append
//! marks the digest unusable and the caller falls back to hashing the finished file. Batches
//! of small files are merged without patches, so on typical trees the fast path holds.

use sha2::{Digest, Sha256};
use std::io::{self, Seek, SeekFrom, Write};

/// A SHA-256 digest and the number of bytes it covers.
pub(crate) type Digest256 = ([u8; 32], u64);

pub(crate) struct HashSeekWriter<W> {
    inner: W,
    hasher: Sha256,
    /// Bytes hashed so far: always a prefix of the file.
    hashed: u64,
    /// Current write position.
    pos: u64,
    /// False once a write landed anywhere but at the end of the hashed prefix.
    clean: bool,
}

impl<W: Write + Seek> HashSeekWriter<W> {
    pub fn new(inner: W) -> Self {
        HashSeekWriter {
            inner,
            hasher: Sha256::new(),
            hashed: 0,
            pos: 0,
            clean: true,
        }
    }

    /// The inner writer, and the digest with the byte count when every write was an append
    /// and the file ends where the hash does.
    pub fn finish(mut self) -> io::Result<(W, Option<Digest256>)> {
        let end = self.inner.seek(SeekFrom::End(0))?;
        let digest =
            (self.clean && end == self.hashed).then(|| (self.hasher.finalize().into(), end));
        Ok((self.inner, digest))
    }
}

impl<W: Write + Seek> Write for HashSeekWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.clean {
            if self.pos == self.hashed {
                self.hasher.update(&buf[..n]);
                self.hashed += n as u64;
            } else if n > 0 {
                self.clean = false;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for HashSeekWriter<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(pos)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobius_core::digest::{hex, sha256_hex};
    use std::io::Cursor;

    #[test]
    fn appends_are_hashed() {
        let mut w = HashSeekWriter::new(Cursor::new(Vec::new()));
        w.write_all(b"hello ").unwrap();
        w.stream_position().unwrap();
        w.write_all(b"world").unwrap();
        let (c, d) = w.finish().unwrap();
        let (digest, n) = d.unwrap();
        assert_eq!(hex(&digest), sha256_hex(b"hello world"));
        assert_eq!(n, 11);
        assert_eq!(c.into_inner(), b"hello world");
    }

    #[test]
    fn a_patch_disables_the_digest() {
        let mut w = HashSeekWriter::new(Cursor::new(Vec::new()));
        w.write_all(b"hello world").unwrap();
        w.seek(SeekFrom::Start(0)).unwrap();
        w.write_all(b"J").unwrap();
        w.seek(SeekFrom::End(0)).unwrap();
        assert!(w.finish().unwrap().1.is_none());
    }
}
