//! Real backup fixtures, written the way the brief's backup format says (independently of
//! mobius-backup): entries sorted by path, directory entries `a/b/`, Unix modes in the zip,
//! `MOBIUS-MANIFEST.json` last, `created` matching the file name's stamp, a GNU sha256sum
//! sidecar naming the zip's base name.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use mobius_core::backups::{Manifest, ManifestFile, MANIFEST_FORMAT, MANIFEST_NAME};
use mobius_core::digest::{sha256_hex, sidecar_line};
use mobius_core::records::{Record, VerifyRecord};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

pub const STAMP: &str = "20261126T120000.123Z";
pub const STAMP2: &str = "20261126T130000.456Z";

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub env: String,
    pub stamp: String,
    pub files: Vec<FileSpec>,
    pub dirs: Vec<String>,
    /// Write the zip with the streaming writer (data descriptors after each entry).
    pub streamed: bool,
    /// Force ZIP64 extra fields on every entry.
    pub zip64: bool,
}

/// Deterministic pseudo-random bytes (xorshift), so fixtures are the same on every run.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = seed;
    while out.len() < len {
        out.extend_from_slice(format!("key{}=value{}\n", i % 97, i * 7 % 1000).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn file(path: &str, content: Vec<u8>, mode: u32) -> FileSpec {
    FileSpec {
        path: path.to_owned(),
        content,
        mode,
    }
}

/// The small tree most tests use: nested dirs, a name with spaces, a UTF-8 name, an empty
/// file, an empty directory, compressible text and incompressible bytes, two modes.
pub fn small_spec() -> Spec {
    Spec {
        name: "dhash".into(),
        env: "production".into(),
        stamp: STAMP.into(),
        files: vec![
            file(
                "app.json",
                br#"{"health_url":"http://127.0.0.1:8080/health","workers":4}"#.to_vec(),
                0o644,
            ),
            file("database.json", text(3000, 1), 0o600),
            file("empty.txt", Vec::new(), 0o644),
            file("nested/deeper/blob.bin", noise(1500, 2), 0o644),
            file("nested/my file.txt", text(700, 3), 0o640),
            file("nested/\u{fc}ber-caf\u{e9}.json", text(120, 4), 0o644),
            file("run.sh", b"#!/bin/sh\necho hi\n".to_vec(), 0o755),
        ],
        dirs: vec![
            "empty-dir/".into(),
            "nested/".into(),
            "nested/deeper/".into(),
        ],
        streamed: false,
        zip64: false,
    }
}

impl Spec {
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.zip", self.name, self.env, self.stamp)
    }

    pub fn manifest(&self) -> Manifest {
        let created = mobius_core::time::rfc3339(
            mobius_core::time::parse_file_stamp(&self.stamp).expect("stamp"),
        );
        let mut files: Vec<ManifestFile> = self
            .files
            .iter()
            .map(|f| ManifestFile {
                path: f.path.clone(),
                size: f.content.len() as u64,
                sha256: sha256_hex(&f.content),
                mode: f.mode,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest {
            format: MANIFEST_FORMAT.into(),
            env: self.env.clone(),
            name: self.name.clone(),
            created,
            host: "testhost".into(),
            user: "tester".into(),
            tool: "mobius-backup".into(),
            tool_version: "0.1.0".into(),
            sources: vec![format!("config/{}", self.env)],
            files,
            dirs: self.dirs.clone(),
        }
    }

    /// The zip bytes with this manifest (callers may pass an altered one).
    pub fn zip_bytes_with(&self, manifest_json: &[u8]) -> Vec<u8> {
        let when = DateTime::from_date_and_time(2026, 11, 26, 12, 0, 0).unwrap();
        let base = SimpleFileOptions::default()
            .last_modified_time(when)
            .large_file(self.zip64);
        // Entries in byte order of their paths: directories as `a/b/`, files as themselves.
        let mut items: Vec<(String, Option<&FileSpec>)> = self
            .dirs
            .iter()
            .map(|d| (d.clone(), None))
            .chain(self.files.iter().map(|f| (f.path.clone(), Some(f))))
            .collect();
        items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let write_all = |w: &mut dyn FnMut(&str, Option<&FileSpec>)| {
            for (name, f) in &items {
                w(name, *f);
            }
        };
        let opts_for = |f: &FileSpec| {
            let compressible = f.content.len() > 16 && !f.path.ends_with(".bin");
            base.compression_method(if compressible {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            })
            .unix_permissions(f.mode)
        };
        let manifest_opts = base.compression_method(CompressionMethod::Deflated);
        if self.streamed {
            let mut out = Vec::new();
            {
                let mut zw = ZipWriter::new_stream(&mut out);
                write_all(&mut |name, f| match f {
                    None => zw
                        .add_directory(name, base.unix_permissions(0o755))
                        .unwrap(),
                    Some(f) => {
                        zw.start_file(name, opts_for(f)).unwrap();
                        zw.write_all(&f.content).unwrap();
                    }
                });
                zw.start_file(MANIFEST_NAME, manifest_opts).unwrap();
                zw.write_all(manifest_json).unwrap();
                zw.finish().unwrap();
            }
            out
        } else {
            let mut zw = ZipWriter::new(Cursor::new(Vec::new()));
            write_all(&mut |name, f| match f {
                None => zw
                    .add_directory(name, base.unix_permissions(0o755))
                    .unwrap(),
                Some(f) => {
                    zw.start_file(name, opts_for(f)).unwrap();
                    zw.write_all(&f.content).unwrap();
                }
            });
            zw.start_file(MANIFEST_NAME, manifest_opts).unwrap();
            zw.write_all(manifest_json).unwrap();
            zw.finish().unwrap().into_inner()
        }
    }

    pub fn zip_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec_pretty(&self.manifest()).unwrap();
        self.zip_bytes_with(&json)
    }

    /// Writes `<dir>/<name>_<env>_<stamp>.zip` and its sidecar; returns the zip's path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(self.file_name());
        write_backup(&path, &self.zip_bytes());
        path
    }
}

/// Writes zip bytes and a matching sidecar.
pub fn write_backup(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    write_sidecar(path);
}

/// (Re)writes the sidecar for what is on disk now, as `sha256sum` would.
pub fn write_sidecar(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let base = path.file_name().unwrap().to_str().unwrap();
    std::fs::write(sidecar(path), sidecar_line(&sha256_hex(&bytes), base)).unwrap();
}

pub fn sidecar(path: &Path) -> PathBuf {
    mobius_core::backups::sidecar_path(path)
}

/// Replaces every occurrence of an entry name (local and central headers) with another of
/// the same length: how tests make names the zip writer would refuse.
pub fn rename_entry(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let (f, t) = (from.as_bytes(), to.as_bytes());
    let mut hits = 0;
    let mut i = 0;
    while i + f.len() <= bytes.len() {
        if &bytes[i..i + f.len()] == f {
            bytes[i..i + f.len()].copy_from_slice(t);
            hits += 1;
            i += f.len();
        } else {
            i += 1;
        }
    }
    assert!(hits >= 2, "{from:?} found {hits} times");
}

/// Byte ranges of the zip's structures, from its central directory, for the flip tests.
#[derive(Debug, Default, Clone)]
pub struct Layout {
    /// (entry name, local header start, data start, data end)
    pub entries: Vec<(String, usize, usize, usize)>,
    pub cd_start: usize,
    pub eocd: usize,
    /// Offsets of each central header, with whether it is a directory entry.
    pub central: Vec<(usize, bool)>,
}

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Parses a plain (non-ZIP64, comment-free) zip as the fixtures produce.
pub fn layout(b: &[u8]) -> Layout {
    let eocd = b.len() - 22;
    assert_eq!(le32(b, eocd), 0x0605_4b50);
    let count = le16(b, eocd + 10);
    let cd_start = le32(b, eocd + 16);
    let mut l = Layout {
        cd_start,
        eocd,
        ..Layout::default()
    };
    let mut p = cd_start;
    for _ in 0..count {
        assert_eq!(le32(b, p), 0x0201_4b50);
        let csize = le32(b, p + 20);
        let (n, e, c) = (le16(b, p + 28), le16(b, p + 30), le16(b, p + 32));
        let off = le32(b, p + 42);
        let name = String::from_utf8_lossy(&b[p + 46..p + 46 + n]).into_owned();
        let (ln, le) = (le16(b, off + 26), le16(b, off + 28));
        let data = off + 30 + ln + le;
        l.central.push((p, name.ends_with('/')));
        l.entries.push((name, off, data, data + csize));
        p += 46 + n + e + c;
    }
    l
}

/// Runs the binary's stdout through the real record types.
pub fn records(stdout: &[u8]) -> Vec<Record> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Record>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

pub fn verify_records(stdout: &[u8]) -> Vec<VerifyRecord> {
    records(stdout)
        .into_iter()
        .filter_map(|r| match r {
            Record::Verify(v) => Some(v),
            _ => None,
        })
        .collect()
}

pub fn kinds(v: &VerifyRecord) -> Vec<&str> {
    v.problems.iter().map(|p| p.kind.as_str()).collect()
}

/// Runs a real program; true when it exits 0.
pub fn tool_ok(dir: &Path, program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"))
        .success()
}
