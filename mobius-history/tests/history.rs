//! mobius-history through the real binary: appended events chain onto what other tools wrote,
//! `--list` reads them back, and bad input is refused without touching the history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use mobius_core::history::verify_chain;
use mobius_core::records::Record;
use mobius_core::EnvName;

fn cmd(root: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("mobius-history").unwrap();
    c.arg("--root").arg(root);
    c
}

fn events(stdout: &[u8]) -> Vec<mobius_core::records::Event> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| match serde_json::from_str::<Record>(l).unwrap() {
            Record::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        })
        .collect()
}

#[test]
fn deploy_started_and_finished_chain_and_list_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path())
        .args([
            "--env",
            "production",
            "--action",
            "deploy",
            "--outcome",
            "started",
        ])
        .args(["--detail", "version=1.5.0", "--detail", "replicas=3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = events(&out.stdout).remove(0);
    assert_eq!(
        (first.seq, first.action.as_str(), first.outcome.as_str()),
        (1, "deploy", "started")
    );
    assert_eq!(first.details["version"], "1.5.0");
    assert_eq!(first.details["replicas"], 3);

    cmd(dir.path())
        .args([
            "--env",
            "production",
            "--action",
            "deploy",
            "--outcome",
            "success",
        ])
        .assert()
        .success();
    let env = EnvName::parse("production").unwrap();
    let report = verify_chain(&dir.path().join("history/production.jsonl"), Some(&env)).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.lines, 2);

    let list = cmd(dir.path())
        .args(["--env", "production", "--list"])
        .output()
        .unwrap();
    let listed = events(&list.stdout);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], first);
    assert_eq!(listed[1].outcome, "success");
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec![
            "--env",
            "../prod",
            "--action",
            "deploy",
            "--outcome",
            "started",
        ],
        vec![
            "--env",
            "prod",
            "--action",
            "Deploy!",
            "--outcome",
            "started",
        ],
        vec![
            "--env",
            "prod",
            "--action",
            "deploy",
            "--outcome",
            "started",
            "--detail",
            "x",
        ],
        vec!["--env", "prod", "--action", "deploy"],
    ] {
        let out = cmd(dir.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    cmd(dir.path())
        .args([
            "--env",
            "prod",
            "--action",
            "deploy",
            "--outcome",
            "started",
            "--dry-run",
        ])
        .assert()
        .success();
    assert!(!dir.path().join("history").exists());
}
