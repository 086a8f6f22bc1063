//! Helpers for the rollback tests: a byte-level zip writer (so archives can lie in ways no
//! zip library allows), MOBIUS-style backups built with it, real backups made with
//! mobius-backup's library, tree snapshots, a health server and the demo service.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use mobius_core::backups::{sidecar_path, MANIFEST_NAME};
use mobius_core::cli::Reporter;
use mobius_core::digest::{sha256_hex, sidecar_line};
use mobius_core::records::{Record, RollbackRecord};
use mobius_core::{EnvName, Root};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const ENV: &str = "staging";

// ---- a zip writer that writes exactly what it is told ----

/// One entry as it will be written: the central and local headers carry the same fields.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// The bytes in the zip (deflated or stored).
    pub data: Vec<u8>,
    pub method: u16,
    pub crc: u32,
    /// The uncompressed size the headers declare.
    pub size: u32,
    /// Full Unix mode, file type included (0o100644, 0o040755, 0o120777).
    pub mode: u32,
    /// Write no local header; point the central entry at entry `i`'s local header instead.
    pub share_local_of: Option<usize>,
}

pub fn deflate(content: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(content).unwrap();
    e.finish().unwrap()
}

pub fn crc32(content: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(content);
    c.sum()
}

pub fn file_entry(name: &str, content: &[u8], mode: u32) -> RawEntry {
    RawEntry {
        name: name.as_bytes().to_vec(),
        data: deflate(content),
        method: 8,
        crc: crc32(content),
        size: content.len() as u32,
        mode: 0o100_000 | mode,
        share_local_of: None,
    }
}

pub fn dir_entry(name: &str) -> RawEntry {
    RawEntry {
        name: name.as_bytes().to_vec(),
        data: Vec::new(),
        method: 0,
        crc: 0,
        size: 0,
        mode: 0o040_755,
        share_local_of: None,
    }
}

pub fn symlink_entry(name: &str, points_to: &str) -> RawEntry {
    RawEntry {
        name: name.as_bytes().to_vec(),
        data: points_to.as_bytes().to_vec(),
        method: 0,
        crc: crc32(points_to.as_bytes()),
        size: points_to.len() as u32,
        mode: 0o120_777,
        share_local_of: None,
    }
}

const DOS_DATE: u16 = (46 << 9) | (11 << 5) | 26; // 2026-11-26

fn header_fields(out: &mut Vec<u8>, e: &RawEntry) {
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&e.method.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // time
    out.extend_from_slice(&DOS_DATE.to_le_bytes());
    out.extend_from_slice(&e.crc.to_le_bytes());
    out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra length
}

pub fn write_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        if e.share_local_of.is_some() {
            offsets.push(0);
            continue;
        }
        offsets.push(out.len() as u32);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header_fields(&mut out, e);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
    }
    for (i, e) in entries.iter().enumerate() {
        if let Some(j) = e.share_local_of {
            offsets[i] = offsets[j];
        }
    }
    let cd_start = out.len() as u32;
    for (e, off) in entries.iter().zip(&offsets) {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix
        header_fields(&mut out, e);
        out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        out.extend_from_slice(&0u16.to_le_bytes()); // disk
        out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        out.extend_from_slice(&(e.mode << 16).to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&e.name);
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A manifest file line: what the manifest claims (a malicious one may claim anything).
pub struct Listed {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub mode: u32,
}

pub fn listed(path: &str, content: &[u8], mode: u32) -> Listed {
    Listed {
        path: path.to_owned(),
        size: content.len() as u64,
        sha256: sha256_hex(content),
        mode,
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Writes `entries` plus a manifest listing `files` and `dirs` as the last entry, as
/// `backups/dhash_<env>_<stamp>.zip` with a matching sidecar: a zip that passes the
/// sidecar, name and manifest checks, so what refuses it is the entries themselves.
pub fn write_backup(
    root: &Path,
    mut entries: Vec<RawEntry>,
    files: &[Listed],
    dirs: &[&str],
) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let (secs, ms) = (n / 1000 % 60, n % 1000);
    let stamp = format!("20261126T1200{secs:02}.{ms:03}Z");
    let created = format!("2026-11-26T12:00:{secs:02}.{ms:03}Z");
    let manifest = serde_json::json!({
        "format": "mobius-backup/1",
        "env": ENV,
        "name": "dhash",
        "created": created,
        "host": "test",
        "user": "test",
        "tool": "test",
        "tool_version": "0",
        "sources": [format!("config/{ENV}")],
        "files": files.iter().map(|f| serde_json::json!({
            "path": f.path, "size": f.size, "sha256": f.sha256, "mode": f.mode
        })).collect::<Vec<_>>(),
        "dirs": dirs,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    entries.push(file_entry(MANIFEST_NAME, &bytes, 0o644));
    let zip = write_zip(&entries);
    let dir = root.join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("dhash_{ENV}_{stamp}.zip");
    let path = dir.join(&name);
    std::fs::write(&path, &zip).unwrap();
    std::fs::write(sidecar_path(&path), sidecar_line(&sha256_hex(&zip), &name)).unwrap();
    path
}

/// A benign backup of `files` written with [`write_backup`].
pub fn raw_backup(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let entries = files.iter().map(|(n, c)| file_entry(n, c, 0o644)).collect();
    let listed: Vec<_> = files.iter().map(|(n, c)| listed(n, c, 0o644)).collect();
    write_backup(root, entries, &listed, &[])
}

/// A real backup of the live `config/<env>/`, made by mobius-backup's library.
pub fn real_backup(root: &Path) -> PathBuf {
    let rec = mobius_backup::create_backup(
        &Root::new(root),
        &EnvName::parse(ENV).unwrap(),
        &mobius_backup::BackupOptions::default(),
        &Reporter::silent("test"),
    )
    .unwrap();
    PathBuf::from(rec.path)
}

// ---- trees ----

/// The live `config/<env>` of `root`.
pub fn config(root: &Path) -> PathBuf {
    root.join("config").join(ENV)
}

/// Every path under `dir` with its type, mode and content.
pub type Snapshot = BTreeMap<String, (char, u32, Vec<u8>)>;

pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
        let meta = e.path().symlink_metadata().unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let v = if meta.is_dir() {
            ('d', mode, Vec::new())
        } else if meta.file_type().is_symlink() {
            (
                'l',
                0,
                std::fs::read_link(e.path())
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes(),
            )
        } else {
            ('f', mode, std::fs::read(e.path()).unwrap())
        };
        out.insert(rel, v);
    }
    out
}

/// Writes a tree of `files` (path, content) at `dir`, replacing what is there.
pub fn make_tree(dir: &Path, files: &[(String, Vec<u8>)]) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

pub fn app_json(url: &str, healthy: bool, version: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "service": "mobius-demo",
        "version": version,
        "health_url": format!("{url}/health"),
        "metrics_url": format!("{url}/metrics"),
        "demo": {"latency_ms": 0, "error_share": 0.0, "healthy": healthy}
    }))
    .unwrap()
}

// ---- running ----

pub fn rollback() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("mobius-rollback"));
    c.stdin(Stdio::null()).env_remove("MOBIUS_ROOT");
    c
}

pub fn run_rollback(root: &Path, backup: &Path, extra: &[&str]) -> Output {
    rollback()
        .args(["--env", ENV, "--root"])
        .arg(root)
        .arg("--backup")
        .arg(backup)
        .args(extra)
        .output()
        .unwrap()
}

pub fn the_record(out: &Output) -> RollbackRecord {
    let text = String::from_utf8_lossy(&out.stdout);
    let recs: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    assert_eq!(recs.len(), 1, "one record expected: {text}");
    match recs.into_iter().next().unwrap() {
        Record::Rollback(r) => r,
        other => panic!("not a rollback record: {other:?}"),
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// (action, outcome) of every history event of the env.
pub fn history(root: &Path) -> Vec<(String, String)> {
    let path = root.join("history").join(format!("{ENV}.jsonl"));
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["action"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A health endpoint on 127.0.0.1 answering every request with `status`.
pub fn health_server(status: u16) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let body = if status == 200 { "ok" } else { "bad" };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

pub use mobius_tests::http_status;

/// Polls until `url` answers `want` (the demo re-reads its config within ~100 ms).
pub fn wait_for_status(url: &str, want: u16) -> bool {
    for _ in 0..100 {
        if http_status(url) == Some(want) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[allow(unused_imports)]
pub use mobius_tests::Demo;
