//! Modification times survive a backup in every time zone: mobius-backup writes the
//! extended-timestamp field (0x5455 "UT") next to the zip's MS-DOS time (which has no zone),
//! so the real Info-ZIP `unzip` under two different `TZ`s and mobius-rollback all restore a
//! file with exactly its original mtime, `zipinfo -v` shows the field, and mobius-verify
//! refuses a backup whose UT field does not have the length its flags call for.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Info-ZIP unzip/zipinfo, TZ and the rollback's inode swap: Unix tools.
#![cfg(unix)]

use mobius_core::records::Record;
use mobius_tests::{bin, component_missing, records, script_cmd, stderr_of, temp_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

const ENV: &str = "production";
/// An odd second: the MS-DOS field (2-second steps) could not hold it, only UT can.
const MTIME: u64 = 1_700_000_001;

fn mtime_of(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn set_mtime(p: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// Backs up `config/production` (its app.json dated [`MTIME`]) with backup.sh.
fn dated_backup(root: &Path) -> PathBuf {
    set_mtime(&app_json(root), MTIME);
    let out = script_cmd("backup.sh", root)
        .args(["--env", ENV])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    root.join(String::from_utf8(out.stdout).unwrap().trim())
}

fn app_json(root: &Path) -> PathBuf {
    root.join("config").join(ENV).join("app.json")
}

/// The file called `name` somewhere under `dir`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).unwrap().find_map(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            find(&p, name)
        } else {
            p.file_name().is_some_and(|n| n == name).then_some(p)
        }
    })
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn unzip_in_two_time_zones_and_rollback_restore_the_exact_mtime() {
    if !have("unzip") || !have("zipinfo") {
        component_missing("Info-ZIP unzip and zipinfo");
        return;
    }
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let zip = dated_backup(root);

    for tz in ["America/New_York", "Asia/Tokyo"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("unzip")
            .args(["-o", "-q"])
            .arg(&zip)
            .arg("-d")
            .arg(dir.path())
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "unzip under {tz}: {}",
            stderr_of(&out)
        );
        assert_eq!(
            mtime_of(&find(dir.path(), "app.json").expect("app.json unzipped")),
            MTIME,
            "unzip under TZ={tz}"
        );
    }

    let info = Command::new("zipinfo")
        .arg("-v")
        .arg(&zip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{}", stderr_of(&info));
    assert!(
        text.contains("0x5455") && text.contains("universal time"),
        "zipinfo -v shows no UT field:\n{text}"
    );

    // A change to the file (new content, new time), then the rollback restores both.
    std::fs::write(app_json(root), b"{}\n").unwrap();
    set_mtime(&app_json(root), MTIME + 86_400);
    let out = Command::new(bin("mobius-rollback"))
        .args([
            "--env",
            ENV,
            "--no-health-check",
            "--no-safety-backup",
            "--root",
        ])
        .arg(root)
        .arg("--backup")
        .arg(&zip)
        .args(["--restart-cmd", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let Some(Record::Rollback(rec)) = records(&out.stdout).into_iter().next() else {
        panic!(
            "no rollback record: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    assert_eq!(rec.outcome, "success");
    assert_eq!(mtime_of(&app_json(root)), MTIME, "mobius-rollback");
    assert_ne!(std::fs::read(app_json(root)).unwrap(), b"{}\n");
}

#[test]
fn a_ut_field_of_the_wrong_length_is_a_zip_structure_problem() {
    let root = temp_root();
    let root = root.path();
    let zip = dated_backup(root);
    // As written, the field is accepted.
    let out = Command::new(bin("mobius-verify"))
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let mut bytes = std::fs::read(&zip).unwrap();
    // Every UT field (local and central): flags 0 names no time, so its 4 bytes of time
    // are 4 bytes too many.
    let ut = [0x55, 0x54, 5, 0, 1];
    let at: Vec<usize> = bytes
        .windows(ut.len())
        .enumerate()
        .filter(|(_, w)| *w == ut)
        .map(|(i, _)| i)
        .collect();
    assert!(at.len() >= 4, "two headers per entry carry UT: {at:?}");
    for i in at {
        bytes[i + 4] = 0;
    }
    std::fs::write(&zip, &bytes).unwrap();
    let out = Command::new(bin("mobius-verify"))
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let Some(Record::Verify(v)) = records(&out.stdout).into_iter().next() else {
        panic!("no verify record: {}", String::from_utf8_lossy(&out.stdout));
    };
    assert!(!v.ok);
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == "zip_structure" && p.detail.contains("0x5455")),
        "{:?}",
        v.problems
    );
}
