//! Writing `MOBIUS-MANIFEST.json` without holding a `ManifestFile` per file.
//!
//! The manifest is [`mobius_core::backups::Manifest`] as readers parse it, serialized by serde
//! with the same field names, order and pretty layout; only its `files` list is produced on
//! the fly from the walk's names and the rows spilled while the entries were written (SHA-256
//! and size per file, in entry order), and `dirs` from the walk's directory names.

use crate::archive::ROW;
use crate::walk::Items;
use mobius_core::digest::hex;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};
use std::cell::RefCell;
use std::io::{self, Read};

/// The manifest's header fields, as in `Manifest` (same order).
#[derive(Serialize)]
pub(crate) struct Header<'a> {
    pub format: &'a str,
    pub env: &'a str,
    pub name: &'a str,
    pub created: &'a str,
    pub host: &'a str,
    pub user: &'a str,
    pub tool: &'a str,
    pub tool_version: &'a str,
    pub sources: &'a [String],
}

#[derive(Serialize)]
#[serde(bound = "")]
struct Out<'a, R: Read> {
    format: &'a str,
    env: &'a str,
    name: &'a str,
    created: &'a str,
    host: &'a str,
    user: &'a str,
    tool: &'a str,
    tool_version: &'a str,
    sources: &'a [String],
    files: Files<'a, R>,
    dirs: Dirs<'a>,
}

/// One element of `files`, as `ManifestFile` serializes.
#[derive(Serialize)]
struct FileRow<'a> {
    path: &'a str,
    size: u64,
    sha256: &'a str,
    mode: u32,
}

struct Files<'a, R: Read> {
    items: &'a Items,
    rows: RefCell<R>,
}

impl<R: Read> Serialize for Files<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut rows = self.rows.borrow_mut();
        let mut seq = s.serialize_seq(None)?;
        let mut row = [0u8; ROW];
        for item in self.items.all().iter().filter(|i| !i.is_dir()) {
            rows.read_exact(&mut row)
                .map_err(|e| S::Error::custom(format!("manifest rows: {e}")))?;
            let (sha, size) = row.split_at(32);
            let size = size
                .try_into()
                .map(u64::from_le_bytes)
                .map_err(S::Error::custom)?;
            seq.serialize_element(&FileRow {
                path: self.items.name(item),
                size,
                sha256: &hex(sha),
                mode: u32::from(item.mode),
            })?;
        }
        seq.end()
    }
}

struct Dirs<'a>(&'a Items);

impl Serialize for Dirs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .all()
                .iter()
                .filter(|i| i.is_dir())
                .map(|i| self.0.name(i)),
        )
    }
}

/// Writes the pretty JSON of the manifest to `w`.
pub(crate) fn write(
    w: &mut dyn io::Write,
    h: &Header<'_>,
    items: &Items,
    rows: impl Read,
) -> io::Result<()> {
    let out = Out {
        format: h.format,
        env: h.env,
        name: h.name,
        created: h.created,
        host: h.host,
        user: h.user,
        tool: h.tool,
        tool_version: h.tool_version,
        sources: h.sources,
        files: Files {
            items,
            rows: RefCell::new(rows),
        },
        dirs: Dirs(items),
    };
    serde_json::to_writer_pretty(w, &out).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::walk::{collect, Source};
    use mobius_core::backups::{Manifest, ManifestFile};
    use mobius_core::digest::sha256_hex;

    #[test]
    fn the_streamed_manifest_is_byte_for_byte_what_serde_writes_for_manifest() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/empty")).unwrap();
        std::fs::write(d.path().join("a/x \"q\".json"), b"{}").unwrap();
        std::fs::write(d.path().join("b.txt"), b"hello").unwrap();
        let items = collect(
            &[Source {
                shown: "src".into(),
                path: d.path().to_path_buf(),
                declared_in: None,
            }],
            None,
        )
        .unwrap();
        let mut rows = Vec::new();
        let mut files = Vec::new();
        for item in items.all().iter().filter(|i| !i.is_dir()) {
            let bytes = std::fs::read(items.path(item)).unwrap();
            let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
            rows.extend_from_slice(&sha);
            rows.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            files.push(ManifestFile {
                path: items.name(item).to_owned(),
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                mode: u32::from(item.mode),
            });
        }
        let sources = vec!["src".to_owned()];
        let h = Header {
            format: "f",
            env: "e",
            name: "n",
            created: "c",
            host: "h",
            user: "u",
            tool: "t",
            tool_version: "v",
            sources: &sources,
        };
        let mut ours = Vec::new();
        write(&mut ours, &h, &items, &rows[..]).unwrap();
        let theirs = serde_json::to_vec_pretty(&Manifest {
            format: "f".into(),
            env: "e".into(),
            name: "n".into(),
            created: "c".into(),
            host: "h".into(),
            user: "u".into(),
            tool: "t".into(),
            tool_version: "v".into(),
            sources,
            files,
            dirs: vec!["a/".into(), "a/empty/".into()],
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }
}
