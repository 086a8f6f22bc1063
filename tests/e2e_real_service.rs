//! The guarded deployment of a service the user wrote, not mobius-demo: the stdlib-Python
//! service of tests/fixtures/realservice reads `config/production/app.json` and
//! `releases/current/` only at start and is restarted by its `restart_cmd`. One backup holds
//! both directories (`backup_sources`); a bad release plus a bad config is deployed;
//! monitor.sh --auto-rollback restores both and restarts the service, which is healthy again
//! on the old release. Then the three ways a rollback fails, each named in `failure_cause`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash, the restart script signals pids: Unix behaviour.
#![cfg(unix)]

use mobius_core::records::RollbackRecord;
use mobius_tests::{
    free_port, http_get, http_status, script_cmd, stderr_of, tree_files, RealService,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const ENV: &str = "production";
type Tree = BTreeMap<PathBuf, Vec<u8>>;

fn config_dir(root: &Path) -> PathBuf {
    root.join("config").join(ENV)
}

fn release_dir(root: &Path) -> PathBuf {
    root.join("releases").join("current")
}

/// What a deploy leaves: config/production/app.json (with the given health and restart
/// command) and smoke.json, releases/current/ with the code and assets of `version`.
fn write_deployment(
    root: &Path,
    port: u16,
    restart_cmd: Option<&str>,
    version: &str,
    healthy: bool,
) {
    let mut app = json!({
        "service": "realservice",
        "health_url": format!("http://127.0.0.1:{port}/health"),
        "backup_sources": ["config/production", "releases/current"],
        "healthy": healthy,
        "greeting": format!("hello from {version}"),
    });
    if let Some(cmd) = restart_cmd {
        app["restart_cmd"] = json!(cmd);
    }
    let cfg = config_dir(root);
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("app.json"),
        serde_json::to_string_pretty(&app).unwrap(),
    )
    .unwrap();
    std::fs::write(
        cfg.join("smoke.json"),
        json!({"checks": [
            {"name": "health", "path": "/health",
             "expect": {"status": 200, "json": [{"pointer": "/ok", "equals": true}]}},
            {"name": "version", "path": "/version",
             "expect": {"status": 200, "body_contains": [version]}},
        ]})
        .to_string(),
    )
    .unwrap();
    let rel = release_dir(root);
    let _ = std::fs::remove_dir_all(&rel);
    std::fs::create_dir_all(rel.join("assets")).unwrap();
    std::fs::write(rel.join("VERSION"), format!("{version}\n")).unwrap();
    std::fs::write(rel.join("app.py"), format!("VERSION = {version:?}\n")).unwrap();
    std::fs::write(
        rel.join("assets").join(format!("app-{version}.js")),
        format!("console.log({version:?});\n").repeat(50),
    )
    .unwrap();
}

/// A root holding release 1.0.0 on a healthy config, the service started through its
/// restart command and answering 200.
fn started(restart_cmd_in_config: bool) -> (tempfile::TempDir, RealService) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    let cmd = RealService::restart_cmd(root, ENV);
    write_deployment(
        root,
        port,
        restart_cmd_in_config.then_some(cmd.as_str()),
        "1.0.0",
        true,
    );
    let svc = RealService::new(root, ENV, port);
    svc.restart();
    assert_eq!(http_status(&svc.url("/health")), Some(200));
    (dir, svc)
}

fn backup(root: &Path) -> PathBuf {
    let out = script_cmd("backup.sh", root)
        .args(["--env", ENV])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    root.join(path)
}

fn snapshot(root: &Path) -> (Tree, Tree) {
    (
        tree_files(&config_dir(root)),
        tree_files(&release_dir(root)),
    )
}

/// The `rollback` record among the JSON lines of a script's stdout, as a Value (for the
/// fields added by issue 11) and checked to decode as the typed record too.
fn rollback_record(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "rollback")
        .unwrap_or_else(|| panic!("no rollback record in stdout: {text}\n{}", stderr_of(out)));
    serde_json::from_value::<RollbackRecord>(v.clone())
        .unwrap_or_else(|e| panic!("rollback record does not decode: {e}: {v}"));
    v
}

fn rollback_dhash(root: &Path, backup: &Path) -> Output {
    script_cmd("rollback_dhash.sh", root)
        .args(["--env", ENV, "--health-timeout", "4s", "--backup"])
        .arg(backup)
        .output()
        .unwrap()
}

fn wait_for(url: &str, want: u16) -> bool {
    (0..100).any(|_| {
        let ok = http_status(url) == Some(want);
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    })
}

#[test]
fn monitor_rolls_back_release_and_config_and_restarts_the_service() {
    let (dir, svc) = started(true);
    let root = dir.path();
    let backup = backup(root);
    // backup.sh with no --source backs up what app.json declares, each under its last name.
    let listing = std::process::Command::new("unzip")
        .arg("-Z1")
        .arg(&backup)
        .output()
        .expect("unzip (a test dependency) lists the backup");
    let names = String::from_utf8_lossy(&listing.stdout);
    for want in ["production/app.json", "current/VERSION", "current/app.py"] {
        assert!(
            names.lines().any(|n| n == want),
            "backup.sh --env production did not back up {want} (backup_sources): {names}"
        );
    }
    let before = snapshot(root);

    // The bad deploy: a new release and a bad config written in place, then the restart a
    // deploy does. The service now runs 2.0.0 and is unhealthy.
    let cmd = RealService::restart_cmd(root, ENV);
    write_deployment(root, svc.port, Some(&cmd), "2.0.0", false);
    svc.restart();
    assert_eq!(
        http_get(&svc.url("/version")).map(|(_, b)| b.trim().to_owned()),
        Some("2.0.0".into())
    );
    assert_eq!(http_status(&svc.url("/health")), Some(503));
    let bad_pid = svc.pid().expect("a pidfile after the restart");

    let out = script_cmd("monitor.sh", root)
        .args([
            "--env",
            ENV,
            "--auto-rollback",
            "--interval",
            "200ms",
            "--duration",
            "30s",
            "--backup",
        ])
        .arg(&backup)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rollback verdict, rolled back: {err}"
    );
    assert!(err.contains("auto-rollback finished"), "{err}");

    // restart_cmd ran: a new process, healthy, on the old release.
    let pid = svc.pid().expect("a pidfile after the rollback");
    assert_ne!(pid, bad_pid, "the service was not restarted: {err}");
    assert_eq!(http_status(&svc.url("/health")), Some(200));
    assert_eq!(
        http_get(&svc.url("/version")).map(|(_, b)| b.trim().to_owned()),
        Some("1.0.0".into())
    );
    // Both declared sources are back, byte for byte, and nothing of 2.0.0 is left.
    assert_eq!(snapshot(root), before);

    let rec = rollback_record(&out);
    assert_eq!(rec["outcome"], "success", "{rec}");
    let hb = &rec["health_before"];
    assert_eq!(hb["ok"], false, "the bad deploy answered 503 before: {rec}");
    assert_eq!(hb["status"], 503, "{rec}");
    assert_eq!(hb["url"], svc.url("/health"), "{rec}");

    let hist = std::fs::read_to_string(root.join("history").join(format!("{ENV}.jsonl"))).unwrap();
    assert!(
        hist.lines()
            .any(|l| l.contains("\"action\":\"rollback\"") && l.contains("\"outcome\":\"success\"")),
        "{hist}"
    );
}

#[test]
fn a_service_that_is_not_running_fails_as_service_down_and_the_tree_is_put_back() {
    // No restart_cmd: the service is run by something else, and nobody started it.
    let (dir, svc) = started(false);
    let root = dir.path();
    let backup = backup(root);
    write_deployment(root, svc.port, None, "2.0.0", false);
    svc.stop();
    assert_eq!(http_status(&svc.url("/health")), None);
    let before = snapshot(root);

    let out = rollback_dhash(root, &backup);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rec = rollback_record(&out);
    assert_eq!(rec["outcome"], "failure", "{rec}");
    assert_eq!(rec["failure_cause"], "service_down", "{rec}");
    assert_eq!(rec["health_before"]["ok"], false, "{rec}");
    let reason = rec["reason"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        reason.contains("running") || reason.contains("start"),
        "the operator is told to start the service: {rec}"
    );
    assert_eq!(snapshot(root), before, "the tree that was live is put back");
}

#[test]
fn a_restart_command_that_fails_is_named_with_its_exit_code_and_stderr() {
    let (dir, svc) = started(false);
    let root = dir.path();
    let failing =
        "echo 'restart-oops: port 80 busy' >&2; echo 'restart-oops: giving up' >&2; exit 3";
    write_deployment(root, svc.port, Some(failing), "1.0.0", true);
    let backup = backup(root);
    write_deployment(root, svc.port, Some(failing), "2.0.0", false);
    svc.restart();
    assert!(wait_for(&svc.url("/health"), 503));
    let before = snapshot(root);

    let out = rollback_dhash(root, &backup);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rec = rollback_record(&out);
    assert_eq!(rec["outcome"], "failure", "{rec}");
    assert_eq!(rec["failure_cause"], "restart_failed", "{rec}");
    let reason = rec["reason"].as_str().unwrap_or_default();
    assert!(reason.contains('3'), "the exit code: {rec}");
    assert!(
        reason.contains("restart-oops: giving up"),
        "the last stderr line: {rec}"
    );
    assert_eq!(snapshot(root), before, "the tree that was live is put back");
}

#[test]
fn a_backup_whose_content_is_unhealthy_fails_as_restored_unhealthy() {
    let (dir, svc) = started(true);
    let root = dir.path();
    let cmd = RealService::restart_cmd(root, ENV);
    // A backup taken of a broken state...
    write_deployment(root, svc.port, Some(&cmd), "1.9.0", false);
    let bad_backup = backup(root);
    // ...then a good deploy, healthy.
    write_deployment(root, svc.port, Some(&cmd), "2.0.0", true);
    svc.restart();
    assert_eq!(http_status(&svc.url("/health")), Some(200));
    let before = snapshot(root);

    let out = rollback_dhash(root, &bad_backup);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rec = rollback_record(&out);
    assert_eq!(rec["outcome"], "failure", "{rec}");
    assert_eq!(rec["failure_cause"], "restored_unhealthy", "{rec}");
    assert_eq!(rec["health_before"]["ok"], true, "{rec}");
    let words = format!("{} {err}", rec["reason"]).to_lowercase();
    assert!(words.contains("choose another"), "{words}");
    // Put back and restarted again: the good deploy serves.
    assert_eq!(snapshot(root), before);
    assert!(wait_for(&svc.url("/health"), 200));
    assert_eq!(
        http_get(&svc.url("/version")).map(|(_, b)| b.trim().to_owned()),
        Some("2.0.0".into())
    );
}
