//! rollback_dhash.sh end to end: backup.sh makes the backup, a bad config makes the demo
//! unhealthy, the emergency procedure restores it and the demo is healthy again; and
//! monitor.sh --auto-rollback does the same on its own when the judge says roll back.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash, and the rollback swaps by inode: Unix behaviour.
#![cfg(unix)]

use mobius_core::records::Record;
use mobius_tests::{bin, http_status, records, script_cmd, stderr_of, temp_root, Demo};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ENV: &str = "staging";

fn wait_for(url: &str, want: u16) -> bool {
    (0..100).any(|_| {
        let ok = http_status(url) == Some(want);
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    })
}

fn app_json(root: &Path) -> PathBuf {
    root.join("config").join(ENV).join("app.json")
}

/// Backs the (healthy) config up with backup.sh and returns the backup's path.
fn backup(root: &Path) -> PathBuf {
    let out = script_cmd("backup.sh", root)
        .args(["--env", ENV])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    root.join(path)
}

fn break_config(root: &Path) {
    let text = std::fs::read_to_string(app_json(root)).unwrap();
    let bad = text.replace("\"healthy\": true", "\"healthy\": false");
    assert_ne!(bad, text);
    std::fs::write(app_json(root), bad).unwrap();
}

#[test]
fn rollback_dhash_restores_the_backup_and_the_demo_is_healthy_again() {
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let demo = Demo::start(root, ENV);
    demo.point_config_at_me(root, ENV);
    let health = format!("{}/health", demo.url);
    assert!(wait_for(&health, 200));
    let good = std::fs::read(app_json(root)).unwrap();
    let backup = backup(root);

    break_config(root);
    assert!(
        wait_for(&health, 503),
        "the bad config makes the demo unhealthy"
    );

    // A dry run first, as the runbook says: it changes nothing.
    let out = script_cmd("rollback_dhash.sh", root)
        .args(["--env", ENV, "--dry-run", "--backup"])
        .arg(&backup)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("would change app.json"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(http_status(&health), Some(503));

    let out = script_cmd("rollback_dhash.sh", root)
        .args(["--env", ENV, "--backup"])
        .arg(&backup)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let Some(Record::Rollback(rec)) = records(&out.stdout).into_iter().next() else {
        panic!(
            "no rollback record: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    assert_eq!(rec.outcome, "success");
    assert_eq!(rec.changed, 1);
    assert!(rec.health.unwrap().ok);
    assert_eq!(std::fs::read(app_json(root)).unwrap(), good);
    assert_eq!(http_status(&health), Some(200));
    // The operator is told where the safety backup is and how to undo.
    let safety = rec.safety_backup.unwrap();
    assert!(Path::new(&safety).is_file() || root.join(&safety).is_file());
    assert!(err.contains("to undo this rollback"), "{err}");
    assert!(err.contains(&safety), "{err}");
}

#[test]
fn a_backup_that_fails_sha256sum_is_not_restored() {
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let backup = backup(root);
    break_config(root);
    let before = std::fs::read(app_json(root)).unwrap();
    let mut bytes = std::fs::read(&backup).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 1;
    std::fs::write(&backup, bytes).unwrap();
    let out = script_cmd("rollback_dhash.sh", root)
        .args(["--env", ENV, "--backup"])
        .arg(&backup)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("does not match its sidecar"));
    assert_eq!(std::fs::read(app_json(root)).unwrap(), before);
}

#[test]
fn monitor_auto_rollback_restores_the_backup_and_ends_healthy() {
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let demo = Demo::start(root, ENV);
    demo.point_config_at_me(root, ENV);
    let health = format!("{}/health", demo.url);
    let good = std::fs::read(app_json(root)).unwrap();
    let backup = backup(root);
    break_config(root);
    assert!(wait_for(&health, 503));

    let out = script_cmd("monitor.sh", root)
        .args([
            "--env",
            ENV,
            "--duration",
            "30s",
            "--interval",
            "100ms",
            "--auto-rollback",
            "--backup",
        ])
        .arg(&backup)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    // The judge's verdict is the exit code: 1, roll back (done).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auto-rollback finished"), "{err}");
    assert_eq!(std::fs::read(app_json(root)).unwrap(), good);
    assert_eq!(http_status(&health), Some(200));
    let hist = std::fs::read_to_string(root.join("history").join(format!("{ENV}.jsonl"))).unwrap();
    assert!(
        hist.lines()
            .any(|l| l.contains("\"action\":\"rollback\"") && l.contains("\"outcome\":\"success\"")),
        "{hist}"
    );
}

#[test]
fn without_a_backup_a_dry_run_says_there_is_none_and_a_real_run_refuses() {
    let root = temp_root();
    let root = root.path();
    let run = |args: &[&str]| {
        script_cmd("rollback_dhash.sh", root)
            .args(["--env", ENV])
            .args(args)
            .output()
            .unwrap()
    };
    // The framework's Testing loop: nothing to check is not a failure, but it is said loudly.
    let out = run(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("NO BACKUP of staging"),
        "{}",
        stderr_of(&out)
    );
    let out = run(&["--latest"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("no backup of staging"),
        "{}",
        stderr_of(&out)
    );
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--backup FILE (or --latest) is required"));
    let out = run(&["--latest", "--backup", "backups/x.zip"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(!root.join("history").exists(), "nothing recorded");
}

#[test]
fn the_plain_sidecar_check_works_for_a_backup_copied_anywhere() {
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let backup = backup(root);
    let offsite = root.join("offsite");
    std::fs::create_dir(&offsite).unwrap();
    let name = backup.file_name().unwrap().to_str().unwrap().to_owned();
    let copy = offsite.join(&name);
    std::fs::copy(&backup, &copy).unwrap();
    let sidecar = std::fs::read_to_string(format!("{}.sha256", backup.display())).unwrap();
    assert!(sidecar.contains(&format!("  backups/{name}")), "{sidecar}");
    std::fs::write(format!("{}.sha256", copy.display()), &sidecar).unwrap();
    let run = || {
        script_cmd("rollback_dhash.sh", root)
            .args(["--env", ENV, "--dry-run", "--verbose", "--backup"])
            .arg(&copy)
            .output()
            .unwrap()
    };
    // The sidecar names backups/<zip>; checked beside the copy, it passes.
    let out = run();
    let err = stderr_of(&out);
    assert!(err.contains("sha256sum -c passed for"), "{err}");

    // A copy whose bytes are not the sidecar's is refused by that check, before any MOBIUS
    // code reads it.
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("does not match its sidecar"), "{err}");
    assert!(!err.contains("sha256sum -c passed"), "{err}");
}

#[test]
fn dry_run_without_backup_checks_the_newest_good_backup() {
    bin("mobius-rollback");
    let root = temp_root();
    let root = root.path();
    let demo = Demo::start(root, ENV);
    demo.point_config_at_me(root, ENV);
    let older = backup(root);
    let newest = backup(root);
    // The newest is corrupt: --latest skips it, naming it, and checks the older one.
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
    let out = script_cmd("rollback_dhash.sh", root)
        .args(["--env", ENV, "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let newest_name = newest.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(newest_name),
        "the skipped backup is named: {err}"
    );
    let rec = records(&out.stdout);
    let Some(Record::Rollback(r)) = rec.last() else {
        panic!("{rec:?}")
    };
    let older_name = older.file_name().unwrap().to_str().unwrap();
    assert!(r.backup.ends_with(older_name), "{}", r.backup);
    assert!(r.dry_run);
}
