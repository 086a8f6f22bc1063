//! `mobius-verify --migrations` and `--config`: the real binary on real files in temporary
//! directories, with the history written by mobius-core's own append.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use mobius_core::digest::sha256_file;
use mobius_core::records::{ConfigCheck, MigrationCheck, MigrationsSummary, Record};
use mobius_core::{EnvName, Root};
use serde_json::json;
use std::path::Path;

struct Out {
    code: i32,
    checks: Vec<MigrationCheck>,
    summary: Option<MigrationsSummary>,
    config: Option<ConfigCheck>,
    stderr: String,
}

fn run(root: &Path, args: &[&str]) -> Out {
    let out = Command::cargo_bin("mobius-verify")
        .unwrap()
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    let mut o = Out {
        code: out.status.code().unwrap(),
        checks: Vec::new(),
        summary: None,
        config: None,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match serde_json::from_str::<Record>(line).unwrap() {
            Record::Migration(m) => o.checks.push(m),
            Record::MigrationsSummary(s) => o.summary = Some(s),
            Record::ConfigCheck(c) => o.config = Some(c),
            other => panic!("unexpected record {other:?}"),
        }
    }
    o
}

fn migrations(root: &Path, files: &[(&str, &str)]) -> String {
    let dir = root.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    dir.to_str().unwrap().to_owned()
}

fn record_applied(root: &Path, dir: &str, file: &str, version: &str) {
    let (sha, _) = sha256_file(&Path::new(dir).join(file)).unwrap();
    mobius_core::history::append(
        &Root::new(root),
        &EnvName::parse("staging").unwrap(),
        "migration",
        "applied",
        json!({"file": file, "version": version, "sha256": sha}),
    )
    .unwrap();
}

fn status_of<'a>(o: &'a Out, file: &str) -> &'a MigrationCheck {
    o.checks
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no record for {file}: {:?}", o.checks))
}

#[test]
fn good_migrations_are_listed_pending_in_numeric_version_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = migrations(
        tmp.path(),
        &[
            ("V10__late.sql", "SELECT 10;"),
            ("V2__add_index.sql", "CREATE INDEX i ON items(name);"),
            ("V1_1__fix.sql", "SELECT 11;"),
            ("V1__create_items.sql", "CREATE TABLE items(name text);"),
            ("README.md", "not a migration"),
        ],
    );
    let o = run(tmp.path(), &["--migrations", &dir, "--env", "staging"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let files: Vec<&str> = o.checks.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "V1__create_items.sql",
            "V1_1__fix.sql",
            "V2__add_index.sql",
            "V10__late.sql"
        ]
    );
    assert!(o.checks.iter().all(|c| c.status == "pending"));
    assert_eq!(o.checks[1].version, "1.1");
    assert_eq!(o.checks[0].description, "create_items");
    let (sha, _) = sha256_file(&Path::new(&dir).join("V1__create_items.sql")).unwrap();
    assert_eq!(o.checks[0].sha256, sha);
    let s = o.summary.unwrap();
    assert!(s.ok);
    assert_eq!((s.pending, s.applied, s.problems), (4, 0, 0));
}

#[test]
fn applied_migrations_are_recognised_and_a_changed_one_names_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = migrations(
        tmp.path(),
        &[
            ("V1__create_items.sql", "CREATE TABLE items(name text);"),
            ("V2__add_index.sql", "CREATE INDEX i ON items(name);"),
            ("V3__more.sql", "SELECT 3;"),
        ],
    );
    record_applied(tmp.path(), &dir, "V1__create_items.sql", "1");
    record_applied(tmp.path(), &dir, "V2__add_index.sql", "2");
    let o = run(tmp.path(), &["--migrations", &dir, "--env", "staging"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(status_of(&o, "V1__create_items.sql").status, "applied");
    assert_eq!(status_of(&o, "V3__more.sql").status, "pending");

    let (old, _) = sha256_file(&Path::new(&dir).join("V2__add_index.sql")).unwrap();
    std::fs::write(
        Path::new(&dir).join("V2__add_index.sql"),
        "CREATE UNIQUE INDEX i ON items(name);",
    )
    .unwrap();
    let (new, _) = sha256_file(&Path::new(&dir).join("V2__add_index.sql")).unwrap();
    let o = run(tmp.path(), &["--migrations", &dir, "--env", "staging"]);
    assert_eq!(o.code, 1);
    let c = status_of(&o, "V2__add_index.sql");
    assert_eq!(c.status, "changed");
    let p = c.problem.as_deref().unwrap();
    assert!(
        p.contains("V2__add_index.sql") && p.contains(&old) && p.contains(&new),
        "{p}"
    );
    assert!(
        o.stderr.contains(&old) && o.stderr.contains(&new),
        "{}",
        o.stderr
    );
    let s = o.summary.unwrap();
    assert!(!s.ok);
    assert_eq!((s.pending, s.applied, s.problems), (1, 1, 1));

    // Without --env there is no history to compare with: everything is pending.
    let o = run(tmp.path(), &["--migrations", &dir]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.summary.unwrap().pending, 3);
}

#[test]
fn bad_names_duplicates_out_of_order_and_missing_files_are_each_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = migrations(
        tmp.path(),
        &[
            ("V1__create_items.sql", "a"),
            ("V1.0__again.sql", "b"),
            ("create_things.sql", "c"),
            ("V3__x-y.sql", "d"),
            ("V5__five.sql", "e"),
            ("V4__four.sql", "f"),
            ("V6__gone.sql", "g"),
        ],
    );
    record_applied(tmp.path(), &dir, "V5__five.sql", "5");
    record_applied(tmp.path(), &dir, "V6__gone.sql", "6");
    std::fs::remove_file(Path::new(&dir).join("V6__gone.sql")).unwrap();
    let o = run(tmp.path(), &["--migrations", &dir, "--env", "staging"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    for (file, status, says) in [
        ("V1__create_items.sql", "invalid", "V1.0__again.sql"),
        ("V1.0__again.sql", "invalid", "V1__create_items.sql"),
        ("create_things.sql", "invalid", "does not start with V"),
        ("V3__x-y.sql", "invalid", "description"),
        ("V4__four.sql", "invalid", "out of order"),
        ("V5__five.sql", "applied", ""),
        ("V6__gone.sql", "missing", "not in"),
    ] {
        let c = status_of(&o, file);
        assert_eq!(c.status, status, "{c:?}");
        assert!(
            c.problem.as_deref().unwrap_or_default().contains(says),
            "{c:?}"
        );
    }
    let s = o.summary.unwrap();
    assert_eq!((s.pending, s.applied, s.problems), (0, 1, 6));
}

#[test]
fn a_missing_directory_means_no_migrations_and_an_unreadable_one_is_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("migrations");
    let o = run(
        tmp.path(),
        &[
            "--migrations",
            missing.to_str().unwrap(),
            "--env",
            "staging",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s = o.summary.unwrap();
    assert!(s.ok && s.note.unwrap().contains("does not exist"));
    assert!(o.stderr.contains("no migrations"), "{}", o.stderr);

    // A file where the directory should be cannot be listed: the tool failed (exit 4).
    std::fs::write(&missing, "not a dir").unwrap();
    let o = run(tmp.path(), &["--migrations", missing.to_str().unwrap()]);
    assert_eq!(o.code, 4, "{}", o.stderr);
}

#[test]
fn config_check_lists_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("config").join("staging");
    std::fs::create_dir_all(cfg.join("sub")).unwrap();
    std::fs::write(
        cfg.join("app.json"),
        r#"{"health_url":"http://127.0.0.1:1/health"}"#,
    )
    .unwrap();
    std::fs::write(cfg.join("database.json"), "{}").unwrap();
    let o = run(tmp.path(), &["--config", "--env", "staging"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let c = o.config.unwrap();
    assert!(c.ok && c.files == 2, "{c:?}");

    std::fs::remove_file(cfg.join("app.json")).unwrap();
    std::fs::write(cfg.join("sub").join("smoke.json"), "{\"checks\": [").unwrap();
    let o = run(tmp.path(), &["--config", "--env", "staging"]);
    assert_eq!(o.code, 1);
    let c = o.config.unwrap();
    let kinds: Vec<(&str, Option<&str>)> = c
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.entry.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("missing_file", Some("app.json")),
            ("bad_json", Some("sub/smoke.json"))
        ]
    );
    assert!(o.stderr.contains("app.json") && o.stderr.contains("smoke.json"));

    std::fs::write(cfg.join("app.json"), r#"{"health_url":"ftp://x"}"#).unwrap();
    let o = run(tmp.path(), &["--config", "--env", "staging"]);
    assert!(o
        .config
        .unwrap()
        .problems
        .iter()
        .any(|p| p.kind == "bad_field"));

    let o = run(tmp.path(), &["--config", "--env", "production"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.config.unwrap().problems[0].kind, "missing_dir");

    let o = run(tmp.path(), &["--config", "--env", "../prod"]);
    assert_eq!(o.code, 2);
}
