//! monitor.sh against the real demo service: a healthy config passes; a bad config is caught
//! within the documented number of checks with a reason; replaying the saved log gives the
//! same verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash: Unix tools.
#![cfg(unix)]

use mobius_core::records::{Decision, Record, Rule};
use mobius_tests::{bin, records, script_cmd, stderr_of, temp_root, Demo};
use std::process::{Command, Stdio};

fn monitor_log(root: &std::path::Path) -> std::path::PathBuf {
    let logs: Vec<_> = std::fs::read_dir(root.join("monitor_logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

fn final_verdict(recs: &[Record]) -> mobius_core::records::Verdict {
    recs.iter()
        .rev()
        .find_map(|r| match r {
            Record::Verdict(v) if v.target == "*" => Some(v.clone()),
            _ => None,
        })
        .expect("an overall verdict")
}

#[test]
fn healthy_demo_passes() {
    let root = temp_root();
    let demo = Demo::start(root.path(), "staging");
    demo.point_config_at_me(root.path(), "staging");
    let out = script_cmd("monitor.sh", root.path())
        .args([
            "--env",
            "staging",
            "--duration",
            "1s",
            "--interval",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v = final_verdict(&records(&out.stdout));
    assert_eq!(v.decision, Decision::Pass, "{v:?}");
    assert!(v.checks >= 5);
}

#[test]
fn unhealthy_config_rolls_back_at_the_third_failure_and_replays_identically() {
    let root = temp_root();
    let demo = Demo::start(root.path(), "staging");
    demo.point_config_at_me(root.path(), "staging");
    let app = root.path().join("config/staging/app.json");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        text.replace("\"healthy\": true", "\"healthy\": false"),
    )
    .unwrap();
    // The demo re-reads app.json on change; give it a moment by probing until it answers 503
    // (monitoring itself tolerates it either way: the rule needs 3 failures in a row).
    let out = script_cmd("monitor.sh", root.path())
        .args([
            "--env",
            "staging",
            "--duration",
            "30s",
            "--interval",
            "100ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let v = final_verdict(&records(&out.stdout));
    assert_eq!(v.decision, Decision::Rollback);
    assert_eq!(v.rule, Some(Rule::ConsecutiveFailures));
    assert_eq!(v.consecutive_failures, 3);
    assert!(v.reason.contains("503"), "{}", v.reason);

    // Replay: the judge on the saved log says exactly what it said live.
    let log = monitor_log(root.path());
    let replay = Command::new(bin("mobius-judge"))
        .arg("--follow")
        .stdin(Stdio::from(std::fs::File::open(&log).unwrap()))
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1));
    let replayed = final_verdict(&records(&replay.stdout));
    assert_eq!(replayed, v);

    // The verdict is in the history.
    let hist = std::fs::read_to_string(root.path().join("history/staging.jsonl")).unwrap();
    assert!(hist.contains("rollback"), "{hist}");
}

#[test]
fn auto_rollback_without_backup_is_a_usage_error() {
    let root = temp_root();
    let out = script_cmd("monitor.sh", root.path())
        .args(["--env", "staging", "--auto-rollback"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--backup"));
}
