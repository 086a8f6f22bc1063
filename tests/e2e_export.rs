//! lcm_export.sh after a deployment that monitoring rolled back: backup.sh and monitor.sh
//! run against the real demo service, then `lcm_export.sh --env production --days 30`
//! produces a bundle (checked with the real `sha256sum -c` and `unzip`) whose
//! deployments.csv tells the story, with no secret anywhere in it.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash, checked with the real sha256sum and unzip: Unix tools.
#![cfg(unix)]

use mobius_core::records::Record;
use mobius_core::EnvName;
use mobius_core::Root;
use mobius_tests::{bin, records, script_cmd, stderr_of, temp_root, Demo};
use std::path::Path;
use std::process::Command;

const CANARY: &str = "CANARY-E2E-db-pass";

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn export_after_a_rolled_back_deployment() {
    bin("mobius-export");
    let root = temp_root();
    let r = root.path();
    let demo = Demo::start(r, "production");
    demo.point_config_at_me(r, "production");
    let db = r.join("config/production/database.json");
    let text = std::fs::read_to_string(&db).unwrap();
    std::fs::write(&db, text.replace("change-me", CANARY)).unwrap();

    let env = EnvName::parse("production").unwrap();
    let deploy = serde_json::json!({"version": "1.5.0", "commit": "e2e"});
    mobius_core::history::append(&Root::new(r), &env, "deploy", "started", deploy).unwrap();
    let out = script_cmd("backup.sh", r)
        .args(["--env", "production"])
        .output()
        .unwrap();
    assert!(out.status.success(), "backup.sh: {}", stderr_of(&out));

    // The new version is unhealthy: monitoring decides to roll back.
    let app = r.join("config/production/app.json");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        text.replace("\"healthy\": true", "\"healthy\": false"),
    )
    .unwrap();
    let out = script_cmd("monitor.sh", r)
        .args([
            "--env",
            "production",
            "--duration",
            "30s",
            "--interval",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    mobius_core::history::append(
        &Root::new(r),
        &env,
        "deploy",
        "failure",
        serde_json::json!({"reason": "monitoring verdict: rollback"}),
    )
    .unwrap();

    let out = script_cmd("lcm_export.sh", r)
        .args(["--env", "production", "--days", "30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let rec = match records(&out.stdout).pop().unwrap() {
        Record::Export(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(rec.chain_ok, Some(true));
    assert_eq!((rec.deployments, rec.backups, rec.monitor_runs), (1, 1, 1));

    let zip = r.join(&rec.path);
    // The sidecar names exports/<zip>: checked from the root, with nothing but coreutils.
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(format!("{}.sha256", rec.path))
        .current_dir(r)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let x = tempfile::tempdir().unwrap();
    let unz = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(x.path())
        .output()
        .unwrap();
    assert!(unz.status.success(), "{unz:?}");

    let csv = std::fs::read_to_string(x.path().join("deployments.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("version"), "1.5.0");
    assert!(col("backup").contains("backups/dhash_production_"), "{csv}");
    assert_eq!(col("verdict"), "rollback");
    assert_eq!(col("verdict_rule"), "consecutive_failures");
    assert_eq!(col("outcome"), "failure");

    let monitoring = std::fs::read_to_string(x.path().join("monitoring.csv")).unwrap();
    assert!(monitoring.contains("consecutive_failures"), "{monitoring}");
    let files = files_under(x.path());
    assert!(files
        .iter()
        .any(|f| f.ends_with("config/production/database.json")));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "secret in {}",
            f.display()
        );
    }
}
