//! Restoring several sources (config + release), the live declaration deciding where,
//! environment mismatches, `--latest`, moved backups, and the three ways a rollback fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use common::*;
use mobius_core::cli::Reporter;
use mobius_core::{EnvName, Root};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn config(root: &Path) -> PathBuf {
    root.join("config").join(ENV)
}

fn release(root: &Path) -> PathBuf {
    root.join("releases").join("current")
}

const SOURCES: &str = r#"["config/staging", "releases/current"]"#;

fn app(url: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"health_url":"{url}","backup_sources":{SOURCES}{extra}}}"#).into_bytes()
}

/// A root whose live app.json declares config + release, both with content.
fn setup(url: &str, version: &str) -> (tempfile::TempDir, PathBuf) {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    write_state(&root, url, version);
    (outer, root)
}

fn write_state(root: &Path, url: &str, version: &str) {
    make_tree(
        &config(root),
        &[
            (
                "app.json".into(),
                app(url, &format!(r#","version":"{version}""#)),
            ),
            (
                "database.json".into(),
                format!("{{\"v\":\"{version}\"}}").into_bytes(),
            ),
        ],
    );
    make_tree(
        &release(root),
        &[
            ("index.js".into(), format!("// {version}\n").into_bytes()),
            (
                "assets/app.css".into(),
                format!("/* {version} */").into_bytes(),
            ),
        ],
    );
}

fn backup_of(root: &Path, env: &str, sources: &[&str]) -> PathBuf {
    let rec = mobius_backup::create_backup(
        &Root::new(root),
        &EnvName::parse(env).unwrap(),
        &mobius_backup::BackupOptions {
            sources: sources.iter().map(PathBuf::from).collect(),
            ..Default::default()
        },
        &Reporter::silent("test"),
    )
    .unwrap();
    PathBuf::from(rec.path)
}

fn multi_backup(root: &Path) -> PathBuf {
    backup_of(root, ENV, &["config/staging", "releases/current"])
}

fn both(root: &Path) -> (Snapshot, Snapshot) {
    (snapshot(&config(root)), snapshot(&release(root)))
}

fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", l.local_addr().unwrap());
    drop(l);
    url
}

#[test]
fn config_and_release_are_restored_together_where_the_live_declaration_says() {
    let url = health_server(200);
    let (_o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    let good = both(&root);
    write_state(&root, &url, "bad");
    std::fs::write(release(&root).join("new-in-bad.js"), "x").unwrap();
    let bad = both(&root);
    let out = run_rollback(&root, &backup, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(both(&root), good);
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "success");
    assert_eq!(rec.places.len(), 2, "{:?}", rec.places);
    assert_eq!(rec.places[1].source, "releases/current");
    assert!(rec.places[1].target.ends_with("releases/current"));
    assert_eq!(rec.removed, 1, "new-in-bad.js is removed");
    let hb = rec.health_before.expect("health_before");
    assert!(hb.ok && hb.status == Some(200), "{hb:?}");
    // The safety backup holds both live trees: restoring it undoes the rollback.
    let safety = PathBuf::from(rec.safety_backup.unwrap());
    let out = run_rollback(&root, &safety, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(both(&root), bad);
    // Nothing is left beside the places.
    for dir in [root.join("config"), root.join("releases")] {
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}

#[test]
fn the_live_declaration_moves_a_source_and_an_undeclared_one_is_refused() {
    let url = health_server(200);
    let (_o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    // The release now lives elsewhere: the live app.json says where it goes.
    let moved = root.join("srv").join("current");
    std::fs::create_dir_all(root.join("srv")).unwrap();
    let decl = format!(
        r#"{{"health_url":"{url}","backup_sources":["config/staging","{}"]}}"#,
        moved.display()
    );
    std::fs::write(config(&root).join("app.json"), &decl).unwrap();
    let out = run_rollback(&root, &backup, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(moved.join("index.js")).unwrap(),
        "// good\n"
    );

    // Declared no more: the backup cannot make the rollback write there.
    write_state(&root, &url, "live");
    let decl = format!(r#"{{"health_url":"{url}","backup_sources":["config/staging"]}}"#);
    std::fs::write(config(&root).join("app.json"), &decl).unwrap();
    let before = both(&root);
    let out = run_rollback(&root, &backup, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "refused");
    assert_eq!(
        rec.problems[0].kind, "undeclared_source",
        "{:?}",
        rec.problems
    );
    assert!(rec.problems[0].detail.contains("releases/current"));
    assert_eq!(both(&root), before);
}

#[test]
fn a_backup_of_another_environment_is_refused_unless_allowed() {
    let url = health_server(200);
    let (_o, root) = setup(&url, "staging");
    make_tree(
        &root.join("config").join("production"),
        &[("app.json".into(), app_json(&url, true, "prod"))],
    );
    let prod = backup_of(&root, "production", &[]);
    let before = both(&root);
    for extra in [&["--dry-run"][..], &[]] {
        let out = run_rollback(&root, &prod, extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stderr(&out));
        let rec = the_record(&out);
        assert_eq!(rec.problems[0].kind, "env_mismatch");
        let d = &rec.problems[0].detail;
        assert!(
            d.contains("\"production\"") && d.contains("\"staging\""),
            "{d}"
        );
        assert_eq!(both(&root), before);
    }
    let out = run_rollback(&root, &prod, &["--allow-other-env"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(config(&root).join("app.json")).unwrap(),
        app_json(&url, true, "prod")
    );
}

fn corrupt(zip: &Path) {
    let mut bytes = std::fs::read(zip).unwrap();
    let i = bytes.len() / 3;
    // Not an xor: corrupting twice must not repair.
    bytes[i] = bytes[i].wrapping_add(1);
    std::fs::write(zip, bytes).unwrap();
}

fn latest(root: &Path, extra: &[&str]) -> std::process::Output {
    rollback()
        .args(["--env", ENV, "--root"])
        .arg(root)
        .arg("--latest")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn latest_restores_the_newest_backup_that_verifies_and_names_the_ones_skipped() {
    let url = health_server(200);
    let (_o, root) = setup(&url, "v1");
    let _b1 = multi_backup(&root);
    write_state(&root, &url, "v2");
    let b2 = multi_backup(&root);
    let v2 = both(&root);
    write_state(&root, &url, "v3");
    let b3 = multi_backup(&root);
    write_state(&root, &url, "v4");
    let b4 = multi_backup(&root);
    corrupt(&b4);
    std::fs::remove_file(mobius_core::backups::sidecar_path(&b3)).unwrap();

    let out = latest(&root, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(the_record(&out).backup, b2.display().to_string());

    let out = latest(&root, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(both(&root), v2);
    let rec = the_record(&out);
    assert_eq!(rec.backup, b2.display().to_string());
    let skipped: Vec<_> = rec.skipped.iter().map(|s| s.backup.clone()).collect();
    assert_eq!(
        skipped,
        [b4.display().to_string(), b3.display().to_string()]
    );
    assert!(
        rec.skipped[1].reason.contains("sidecar_missing"),
        "{:?}",
        rec.skipped
    );
    let err = stderr(&out);
    assert_eq!(err.matches("skipping ").count(), 2, "{err}");

    // None good: exit 1, every candidate named.
    let dir = root.join("backups");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "zip") {
            corrupt(&p);
        }
    }
    let before = both(&root);
    let out = latest(&root, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "refused");
    let reason = rec.reason.unwrap();
    for b in [&b2, &b3, &b4] {
        assert!(reason.contains(&b.display().to_string()), "{reason}");
    }
    assert_eq!(both(&root), before);
    // No backup at all.
    let empty = tempfile::tempdir().unwrap();
    write_state(empty.path(), &url, "x");
    let out = latest(empty.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no backup dhash_staging_<stamp>.zip"));
}

#[test]
fn a_backup_copied_to_another_directory_still_verifies_and_restores() {
    let url = health_server(200);
    let (o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    let good = both(&root);
    let offsite = o.path().join("usb").join("offsite");
    std::fs::create_dir_all(&offsite).unwrap();
    let name = backup.file_name().unwrap();
    let copy = offsite.join(name);
    std::fs::copy(&backup, &copy).unwrap();
    std::fs::copy(
        mobius_core::backups::sidecar_path(&backup),
        mobius_core::backups::sidecar_path(&copy),
    )
    .unwrap();
    std::fs::remove_dir_all(root.join("backups")).unwrap();
    write_state(&root, &url, "bad");
    let verify = std::process::Command::new(assert_cmd::cargo::cargo_bin("mobius-verify"))
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let out = run_rollback(&root, &copy, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(both(&root), good);
}

#[test]
fn a_service_that_was_down_before_and_stays_down_is_named_as_such() {
    let url = closed_port_url();
    let (_o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    write_state(&root, &url, "bad");
    let bad = both(&root);
    let out = run_rollback(
        &root,
        &backup,
        &["--health-timeout", "2s", "--health-interval", "200ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "failure");
    assert_eq!(rec.failure_cause.as_deref(), Some("service_down"));
    let hb = rec.health_before.unwrap();
    assert!(!hb.ok && hb.status.is_none(), "{hb:?}");
    let err = stderr(&out);
    assert!(err.contains("probably not running"), "{err}");
    assert!(!err.contains("not a good state"), "{err}");
    assert_eq!(both(&root), bad, "the previous trees are back");
}

#[test]
fn a_failing_restart_command_is_quoted_with_its_exit_code_and_stderr() {
    let url = health_server(200);
    let (o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    write_state(&root, &url, "bad");
    let bad = both(&root);
    let count = o.path().join("restarts");
    let cmd = format!(
        "echo run >> {}; echo 'cannot bind 0.0.0.0:80' >&2; echo 'giving up' >&2; exit 3",
        count.display()
    );
    let out = run_rollback(&root, &backup, &["--restart-cmd", &cmd]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.failure_cause.as_deref(), Some("restart_failed"));
    let reason = rec.reason.unwrap();
    assert!(reason.contains("exit code 3"), "{reason}");
    assert!(
        reason.contains("cannot bind 0.0.0.0:80 | giving up"),
        "{reason}"
    );
    assert_eq!(both(&root), bad);
    // Run after the swap, and again after the swap back.
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
}

#[test]
fn an_unhealthy_restored_state_says_choose_another_backup() {
    let url = health_server(503);
    let (o, root) = setup(&url, "good");
    let backup = multi_backup(&root);
    write_state(&root, &url, "bad");
    let args = ["--health-timeout", "1s", "--health-interval", "100ms"];
    let out = run_rollback(&root, &backup, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.failure_cause.as_deref(), Some("restored_unhealthy"));
    let err = stderr(&out);
    assert!(err.contains("no restart command was run"), "{err}");
    // With the service restarted, the backup itself is to blame.
    let marker = o.path().join("restarted");
    let with_restart = format!(",\"restart_cmd\":\"touch {}\"", marker.display());
    std::fs::write(config(&root).join("app.json"), app(&url, &with_restart)).unwrap();
    let out = run_rollback(&root, &backup, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(marker.exists(), "restart_cmd of the live app.json was run");
    let err = stderr(&out);
    assert!(err.contains("not a good state to return to"), "{err}");
}

#[test]
fn restart_cmd_of_the_restored_app_json_is_run_after_the_swap() {
    let url = health_server(200);
    let (o, root) = setup(&url, "good");
    let marker = o.path().join("restarted");
    let with_restart = format!(
        ",\"restart_cmd\":\"echo $MOBIUS_ENV > {}\"",
        marker.display()
    );
    std::fs::write(config(&root).join("app.json"), app(&url, &with_restart)).unwrap();
    let backup = multi_backup(&root);
    // The bad deploy dropped the restart command from the live config.
    write_state(&root, &url, "bad");
    let out = run_rollback(&root, &backup, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("{ENV}\n")
    );
}

#[test]
fn killed_at_any_moment_every_source_ends_old_or_every_source_new() {
    let url = health_server(200);
    let (_o, root) = setup(&url, "good");
    // Enough files that the kill can land in every phase.
    let many: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| (format!("lib/m{i}.js"), vec![b'a'; 2000]))
        .collect();
    make_tree(&release(&root), &many);
    let backup = multi_backup(&root);
    let new = both(&root);
    let mut broken = multi_backup(&root);
    corrupt(&broken);
    broken = broken.canonicalize().unwrap();
    write_state(&root, &url, "old");
    let old = both(&root);
    let args = ["--health-checks", "2", "--health-interval", "20ms"];
    let t0 = std::time::Instant::now();
    let out = run_rollback(&root, &backup, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let span = t0.elapsed().as_micros() as u64;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("multi-source kill test: seed {seed}, one run takes {span} µs");
    let mut x = seed;
    let (mut saw_old, mut saw_new) = (0, 0);
    for run in 0..16 {
        // Back to the old state (a rollback of the old state would do; rebuilding is simpler).
        for d in [config(&root), release(&root)] {
            std::fs::remove_dir_all(&d).unwrap();
        }
        write_state(&root, &url, "old");
        assert_eq!(both(&root), old);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = x % (span + span / 2).max(1);
        let mut child = rollback()
            .args(["--env", ENV, "--root"])
            .arg(&root)
            .arg("--backup")
            .arg(&backup)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        // A run that only recovers (its own backup is refused) decides for all places.
        let out = run_rollback(&root, &broken, &[]);
        assert_eq!(out.status.code(), Some(1), "run {run}: {}", stderr(&out));
        let now = both(&root);
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!("run {run} (seed {seed}, kill after {delay} µs): config and release are mixed");
        }
    }
    eprintln!("multi-source kill test: {saw_old} old, {saw_new} new");
}
