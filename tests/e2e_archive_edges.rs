//! Archive edge cases through the real binaries: absurd ZIP64 structure values are named
//! problems (mobius-verify exit 1, mobius-rollback refuses with exit 1), never an I/O error
//! (exit 4); mobius-backup refuses a source tree holding a name no restore could create,
//! leaving no zip; and on a full disk (a 2 MiB tmpfs) mobius-backup, mobius-rollback and
//! mobius-export print one `mobius-<tool>: ` line, exit 4, and leave nothing final-named.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Python's zipfile, tmpfs mounts, Unix file names: Unix behaviour.
#![cfg(unix)]

use mobius_core::digest::{sha256_hex, sidecar_line};
use mobius_core::records::Record;
use mobius_tests::{bin, records, stderr_of, temp_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ENV: &str = "production";

fn run(tool: &str, root: &Path, args: &[&str]) -> Output {
    Command::new(bin(tool))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("MOBIUS_ROOT")
        .output()
        .unwrap()
}

/// Files in `dir` (recursively), by path relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            out.extend(listing(&p).into_iter().map(|s| format!("{rel}/{s}")));
            out.push(format!("{rel}/"));
        } else {
            out.push(rel);
        }
    }
    out.sort();
    out
}

fn make_backup(root: &Path) -> PathBuf {
    let out = run("mobius-backup", root, &["--env", ENV, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    match records(&out.stdout).pop() {
        Some(Record::Backup(b)) => PathBuf::from(b.path),
        other => panic!("{other:?}"),
    }
}

fn write_sidecar(zip: &Path) {
    let bytes = std::fs::read(zip).unwrap();
    let name = zip.file_name().unwrap().to_str().unwrap();
    let side = zip.with_file_name(format!("{name}.sha256"));
    std::fs::write(side, sidecar_line(&sha256_hex(&bytes), name)).unwrap();
}

/// Rewrites `zip` with Python's zipfile with every ZIP64 structure present (the module's
/// limits lowered, so each entry has a ZIP64 extra field and the end a ZIP64 end record and
/// locator), then sets `field` to `value` ("none": no patch) and rewrites the sidecar: the
/// only damage is the patched value.
fn zip64_patched(zip: &Path, field: &str, value: u64) {
    let script = r#"
import struct, sys, zipfile
path, field, value = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = zipfile.ZipFile(path)
items = [(i, src.read(i)) for i in src.infolist()]
src.close()
zipfile.ZIP64_LIMIT = -1
zipfile.ZIP_FILECOUNT_LIMIT = -1
with zipfile.ZipFile(path, "w") as z:
    for info, data in items:
        z.writestr(info, data)
b = bytearray(open(path, "rb").read())
e64 = b.rfind(b"PK\x06\x06")
loc = b.rfind(b"PK\x06\x07")
cd = b.find(b"PK\x01\x02")
n_len, x_len = struct.unpack_from("<HH", b, cd + 28)
x = cd + 46 + n_len
assert struct.unpack_from("<HH", b, x) == (1, 24), "the first entry's ZIP64 field"
at = {
    "entries": [e64 + 24, e64 + 32],
    "cd_size": [e64 + 40],
    "cd_offset": [e64 + 48],
    "locator": [loc + 8],
    "size": [x + 4],
    "compressed_size": [x + 12],
    "local_offset": [x + 20],
    "none": [],
}[field]
for pos in at:
    struct.pack_into("<Q", b, pos, value)
open(path, "wb").write(b)
"#;
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(zip)
        .args([field, &value.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "python3 failed for {field}");
    write_sidecar(zip);
}

fn verify_kinds(out: &Output) -> Vec<String> {
    records(&out.stdout)
        .into_iter()
        .filter_map(|r| match r {
            Record::Verify(v) => Some(v.problems.into_iter().map(|p| p.kind)),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn absurd_zip64_values_are_named_problems_for_verify_and_rollback() {
    let root = temp_root();
    let good = make_backup(root.path());
    let clean = good.with_file_name("clean.zip");
    std::fs::copy(&good, &clean).unwrap();
    zip64_patched(&good, "none", 0);
    let out = run("mobius-verify", root.path(), &[good.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the unpatched ZIP64 rewrite must verify: {:?} {}",
        verify_kinds(&out),
        stderr_of(&out)
    );
    let fields = [
        "entries",
        "cd_offset",
        "cd_size",
        "locator",
        "local_offset",
        "compressed_size",
        "size",
    ];
    // Past the file, past what a signed offset holds, and the largest value there is.
    let values = [1u64 << 40, 1 << 62, (1 << 63) + 7, u64::MAX];
    for field in fields {
        for value in values {
            std::fs::copy(&clean, &good).unwrap();
            zip64_patched(&good, field, value);
            let what = format!("{field}={value}");
            let out = run("mobius-verify", root.path(), &[good.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr_of(&out));
            let kinds = verify_kinds(&out);
            assert!(!kinds.is_empty(), "{what}: no problem named");
            let out = run(
                "mobius-rollback",
                root.path(),
                &[
                    "--env",
                    ENV,
                    "--backup",
                    good.to_str().unwrap(),
                    "--dry-run",
                    "-q",
                ],
            );
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr_of(&out));
            let refused = records(&out.stdout).into_iter().any(
                |r| matches!(r, Record::Rollback(r) if r.outcome == "refused" && !r.problems.is_empty()),
            );
            assert!(refused, "{what}: {}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

#[test]
fn backup_refuses_a_source_name_no_restore_could_create_and_writes_nothing() {
    let long = "n".repeat(mobius_core::backups::NAME_MAX + 1);
    let deep = vec!["d".repeat(250); 13].join("/");
    for (what, name, shown) in [
        (
            "newline",
            "evil\nname.json".to_owned(),
            "evil\\x0aname.json",
        ),
        (
            "escape",
            "esc\u{1b}[31m.json".to_owned(),
            "esc\\x1b[31m.json",
        ),
        ("component over NAME_MAX", long.clone(), ""),
        ("path over the restore limit", format!("{deep}/f"), ""),
    ] {
        let root = temp_root();
        let path = root.path().join("config").join(ENV).join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if std::fs::write(&path, b"x").is_err() {
            // A name this file system cannot hold cannot be in a source tree either.
            assert!(name.len() > 255 || name.contains(&long), "{what}");
            continue;
        }
        let out = run("mobius-backup", root.path(), &["--env", ENV, "-q"]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
        assert!(
            err.starts_with("mobius-backup: refusing to back up "),
            "{what}: {err}"
        );
        assert!(err.contains(shown), "{what}: {err}");
        assert!(
            !err.trim_end().chars().any(|c| c.is_ascii_control()),
            "{what}: {err:?}"
        );
        assert_eq!(
            listing(&root.path().join("backups")),
            Vec::<String>::new(),
            "{what}"
        );
    }
}

/// A 2 MiB tmpfs at `dir`, unmounted on drop.
#[cfg(target_os = "linux")]
struct Tmpfs(PathBuf);

#[cfg(target_os = "linux")]
impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        // Owned by whoever runs the tests; mounted through `sudo -n` where that is not root
        // (GitHub's runners), so the tools meet ENOSPC, not EACCES.
        let opts = format!("size=2m,uid={},gid={}", id("-u"), id("-g"));
        let st = privileged("mount")
            .args(["-t", "tmpfs", "-o", opts.as_str(), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mount tmpfs at {} (needs root or passwordless sudo)",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }
}

#[cfg(target_os = "linux")]
fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `cmd` as root: directly when we are root, else through `sudo -n`.
#[cfg(target_os = "linux")]
fn privileged(cmd: &str) -> Command {
    if id("-u") == "0" {
        Command::new(cmd)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", cmd]);
        c
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = privileged("umount").arg(&self.0).status();
    }
}

/// 3 MB that do not compress, so they cannot fit in 2 MiB however they are stored.
#[cfg(target_os = "linux")]
fn incompressible(path: &Path) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

#[cfg(target_os = "linux")]
fn assert_one_line(tool: &str, out: &Output) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(4), "{tool}: {err}");
    assert_eq!(err.lines().count(), 1, "{tool}: one line expected: {err:?}");
    assert!(err.starts_with(&format!("{tool}: ")), "{tool}: {err:?}");
    assert!(
        !err.contains("Os {") && !err.contains("Io("),
        "{tool}: debug text: {err:?}"
    );
}

/// Only temporary names (dot-names) may remain in a full directory.
#[cfg(target_os = "linux")]
fn assert_nothing_final(tool: &str, dir: &Path) {
    for name in listing(dir) {
        let base = name
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        assert!(
            base.starts_with('.'),
            "{tool}: {name} left in {}",
            dir.display()
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn on_a_full_disk_each_tool_prints_one_line_exits_4_and_leaves_nothing_final() {
    let root = temp_root();
    incompressible(&root.path().join("config").join(ENV).join("big.bin"));

    // mobius-backup into a full backups directory.
    let full = Tmpfs::mount(&root.path().join("full-backups"));
    let out = run(
        "mobius-backup",
        root.path(),
        &["--env", ENV, "-q", "--out", "full-backups"],
    );
    assert_one_line("mobius-backup", &out);
    assert_nothing_final("mobius-backup", &full.0);
    drop(full);

    // mobius-export bundles into a full directory, as a zip and as a directory.
    let backup = make_backup(root.path());
    let full = Tmpfs::mount(&root.path().join("full-exports"));
    for format in ["zip", "dir"] {
        let out = run(
            "mobius-export",
            root.path(),
            &[
                "--env",
                ENV,
                "-q",
                "--format",
                format,
                "--out",
                full.0.to_str().unwrap(),
            ],
        );
        assert_one_line("mobius-export", &out);
        assert_nothing_final("mobius-export", &full.0);
    }
    drop(full);

    // mobius-rollback restores into a full target: the whole second root is the tmpfs.
    let target_root = tempfile::tempdir().unwrap();
    let full = Tmpfs::mount(&target_root.path().join("root"));
    mobius_tests::copy_tree(
        &mobius_tests::repo_dir().join("config"),
        &full.0.join("config"),
    );
    let before = listing(&full.0.join("config"));
    let out = run(
        "mobius-rollback",
        &full.0,
        &[
            "--env",
            ENV,
            "-q",
            "--backup",
            backup.to_str().unwrap(),
            "--health-url",
            "http://127.0.0.1:9/health",
            "--no-safety-backup",
        ],
    );
    assert_one_line("mobius-rollback", &out);
    // Recursive: a staging tree left beside the target would show here too.
    assert_eq!(
        listing(&full.0.join("config")),
        before,
        "the live tree changed"
    );
    drop(full);
}
