//! smoke_tests.sh against the real demo service with the shipped spec: a healthy staging
//! passes and leaves junit.xml + smoke.jsonl under premerge_artifacts/ and a history event; a
//! bad config fails naming the check and the expectation; --dry-run sends and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash: Unix tools.
#![cfg(unix)]

use mobius_core::records::{Event, Record};
use mobius_tests::{bin, records, script_cmd, stderr_of, temp_root, Demo};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Counts of the JUnit report as python3's XML parser reads them: (tests, failures, errors).
fn junit_counts(path: &Path) -> (u64, u64, u64) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             s = E.parse(sys.argv[1]).getroot().find('testsuite')\n\
             assert len(s.findall('testcase')) == int(s.get('tests'))\n\
             print(s.get('tests'), s.get('failures'), s.get('errors'))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let n: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (n[0], n[1], n[2])
}

fn only_report_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root.join("premerge_artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let name = dirs[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("smoke_staging_"), "{name}");
    dirs[0].clone()
}

fn last_event(root: &Path) -> Event {
    let text = std::fs::read_to_string(root.join("history/staging.jsonl")).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn staging_passes_with_the_shipped_spec_and_keeps_the_reports() {
    bin("mobius-smoke");
    let root = temp_root();
    let demo = Demo::start(root.path(), "staging");
    demo.point_config_at_me(root.path(), "staging");
    let out = script_cmd("smoke_tests.sh", root.path())
        .args(["--env", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let dir = only_report_dir(root.path());
    let junit = dir.join("junit.xml");
    let (tests, failures, errors) = junit_counts(&junit);
    assert!(tests >= 4);
    assert_eq!((failures, errors), (0, 0));
    // smoke.jsonl holds exactly what went to stdout.
    let saved = std::fs::read(dir.join("smoke.jsonl")).unwrap();
    assert_eq!(saved, out.stdout);
    let recs = records(&saved);
    let checks = recs
        .iter()
        .filter(|r| matches!(r, Record::SmokeCheck(c) if c.ok))
        .count() as u64;
    assert_eq!(checks, tests);
    let Some(Record::SmokeSummary(s)) = recs.last() else {
        panic!("no summary last: {recs:?}")
    };
    assert_eq!((s.total, s.failed), (tests, 0));
    let e = last_event(root.path());
    assert_eq!((e.action.as_str(), e.outcome.as_str()), ("smoke", "pass"));
    assert_eq!(e.details["junit"], junit.to_str().unwrap());
    assert_eq!(
        e.details["jsonl"],
        dir.join("smoke.jsonl").to_str().unwrap()
    );
}

#[test]
fn a_bad_config_fails_naming_the_check_and_expectation() {
    bin("mobius-smoke");
    let root = temp_root();
    let app = root.path().join("config/staging/app.json");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        text.replace("\"healthy\": true", "\"healthy\": false"),
    )
    .unwrap();
    let demo = Demo::start(root.path(), "staging");
    let reports = root.path().join("reports");
    // The config still says port 8081: --base-url points the run at this demo.
    let out = script_cmd("smoke_tests.sh", root.path())
        .args(["--env", "staging", "--base-url", &demo.url, "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("FAIL health") && err.contains("status: expected 200, got 503"),
        "{err}"
    );
    assert!(err.contains("SMOKE TESTS FAILED"), "{err}");
    let (_, failures, errors) = junit_counts(&reports.join("junit.xml"));
    assert!(failures >= 1 && errors == 0);
    let report = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(report.contains(r#"name="health""#) && report.contains("<failure"));
    assert_eq!(last_event(root.path()).outcome, "fail");
}

#[test]
fn dry_run_lists_the_checks_and_writes_nothing() {
    bin("mobius-smoke");
    let root = temp_root();
    let out = script_cmd("smoke_tests.sh", root.path())
        .args(["--env", "staging", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("dry run: check 'health': GET http://127.0.0.1:8081/health"));
    assert!(!root.path().join("premerge_artifacts").exists());
    assert!(!root.path().join("history").exists());
    let bad = script_cmd("smoke_tests.sh", root.path())
        .args(["--env", "../prod"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
