//! The README's backup walkthrough, end to end through the scripts and binaries: back up
//! `config/production`, check it with the real `sha256sum -c` and with `mobius-verify`,
//! corrupt it, and see verify fail naming the problem.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash, checked with the real sha256sum: Unix tools.
#![cfg(unix)]

use mobius_core::records::Record;
use mobius_tests::{bin, records, script_cmd, stderr_of, temp_root};
use std::process::Command;

fn only_backup(root: &std::path::Path) -> std::path::PathBuf {
    let mut zips: Vec<_> = std::fs::read_dir(root.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    zips.pop().unwrap()
}

#[test]
fn backup_script_then_sha256sum_and_verify_then_corruption_is_named() {
    let root = temp_root();
    let out = script_cmd("backup.sh", root.path())
        .args(["--env", "production"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backup.sh failed: {}",
        stderr_of(&out)
    );
    let zip = only_backup(root.path());

    // The sidecar is checked by the real sha256sum, run where the backups are: it names
    // backups/<zip>, so from there its directory part is dropped (no backups -> . link).
    let sidecar = format!("{}.sha256", zip.file_name().unwrap().to_string_lossy());
    assert!(!root.path().join("backups/backups").exists(), "no link");
    let check = Command::new("bash")
        .args([
            "-c",
            "sed 's#  .*/#  #' \"$1\" | sha256sum -c",
            "bash",
            &sidecar,
        ])
        .current_dir(root.path().join("backups"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // And exactly as the framework's emergency procedure runs it, from the root.
    let framework = Command::new("bash")
        .args([
            "-c",
            r#"set -euo pipefail
LATEST_BACKUP=$(ls -1 backups/dhash_production_*.zip | sort -r | head -n1)
sha256sum -c "${LATEST_BACKUP}.sha256""#,
        ])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(
        framework.status.success(),
        "{}{}",
        String::from_utf8_lossy(&framework.stdout),
        stderr_of(&framework)
    );

    let verify = Command::new(bin("mobius-verify"))
        .args(["--latest", "--env", "production", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stderr_of(&verify));
    match records(&verify.stdout).as_slice() {
        [Record::Verify(v)] => {
            assert!(v.ok);
            assert_eq!(v.mode, "deep");
            assert!(v.entries >= 2, "app.json and database.json at least");
        }
        other => panic!("expected one verify record, got {other:?}"),
    }

    // Corrupt one byte in the middle of the archive.
    let mut bytes = std::fs::read(&zip).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&zip, &bytes).unwrap();
    let verify = Command::new(bin("mobius-verify"))
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    let Record::Verify(v) = &records(&verify.stdout)[0] else {
        panic!("not a verify record")
    };
    assert!(!v.ok);
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind.contains("sidecar") || p.kind.contains("sha256")),
        "{:?}",
        v.problems
    );
    assert!(
        !stderr_of(&verify).is_empty(),
        "an operator is told on stderr too"
    );

    // The backup was recorded in the history, and the chain is intact.
    let hist = Command::new(bin("mobius-verify"))
        .args(["--history", "--env", "production", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(hist.status.code(), Some(0), "{}", stderr_of(&hist));
}

#[test]
fn backup_script_refuses_a_bad_env_name_before_touching_anything() {
    let root = temp_root();
    for bad in ["../prod", "prod;rm -rf /", "-rf", ""] {
        let out = script_cmd("backup.sh", root.path())
            .args(["--env", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr_of(&out));
    }
    assert!(!root.path().join("backups").exists());
    assert!(!root.path().join("history").exists());
}

#[test]
fn backup_script_dry_run_writes_nothing() {
    let root = temp_root();
    let out = script_cmd("backup.sh", root.path())
        .args(["--env", "staging", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let backups = root.path().join("backups");
    assert!(!backups.exists() || std::fs::read_dir(&backups).unwrap().count() == 0);
    assert!(!root.path().join("history").exists());
}
