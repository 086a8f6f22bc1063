//! Hostile files around the tools (issue 12): every file a tool opens by name, given as a
//! FIFO nobody writes to, `/dev/zero` or a directory, and every file a tool writes, replaced
//! by a symlink to someone else's file. Each table row runs the real binary under a hang
//! guard; the class holds when every row ends with its documented exit code, no lock is left
//! held, no "started" event was logged, and a link's target is byte for byte unchanged.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mobius_core::lock::EnvLock;
use mobius_core::records::Event;
use mobius_core::{EnvName, Root};
use mobius_tests::{bin, records, temp_root, wait_guarded};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longer than any of these runs takes; a run still going then is hung.
const HANG_GUARD: Duration = Duration::from_secs(20);
const ENV: &str = "staging";

struct Ran {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `tool` in `root` (stdin empty, output to files so a flood cannot block it) and
/// fails the test if it is still running after [`HANG_GUARD`].
fn run(tool: &str, root: &Path, args: &[String]) -> Ran {
    let out = tempfile::tempdir().unwrap();
    let (o, e) = (out.path().join("out"), out.path().join("err"));
    let mut child = Command::new(bin(tool))
        .args(args)
        .current_dir(root)
        .env_remove("MOBIUS_ROOT")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let status = wait_guarded(&mut child, HANG_GUARD, &format!("{tool} {args:?}"));
    Ran {
        code: status.code().expect("exited, not killed by a signal"),
        stdout: fs::read(&o).unwrap(),
        stderr: String::from_utf8_lossy(&fs::read(&e).unwrap()).into_owned(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Hostile {
    Fifo,
    DevZero,
    Dir,
}

const HOSTILE: [Hostile; 3] = [Hostile::Fifo, Hostile::DevZero, Hostile::Dir];

fn plant(kind: Hostile, path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_dir_all(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    match kind {
        Hostile::Fifo => {
            let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
            assert!(ok, "mkfifo {}", path.display());
        }
        Hostile::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Hostile::Dir => fs::create_dir(path).unwrap(),
    }
}

/// A root with the shipped config and one real backup of staging; returns it and the zip
/// (relative to the root).
fn root_with_backup() -> (tempfile::TempDir, String) {
    let root = temp_root();
    let made = run(
        "mobius-backup",
        root.path(),
        &args(&["--env", ENV, "-q"], "", ""),
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let zip = fs::read_dir(root.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".zip"))
        .unwrap();
    fs::write(
        root.path().join("event.json"),
        r#"{"env":"staging","action":"deploy","outcome":"success"}"#,
    )
    .unwrap();
    (root, format!("backups/{zip}"))
}

/// `{file}` and `{zip}` in the template, replaced.
fn args(template: &[&str], file: &str, zip: &str) -> Vec<String> {
    template
        .iter()
        .map(|a| a.replace("{file}", file).replace("{zip}", zip))
        .collect()
}

fn history_events(root: &Path) -> Vec<Event> {
    let path = root.join("history").join(format!("{ENV}.jsonl"));
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        _ => Vec::new(),
    }
}

/// Nobody holds the environment's lock once the tool is gone.
fn assert_lock_free(root: &Path, what: &str) {
    let env = EnvName::parse(ENV).unwrap();
    if let Err(e) = EnvLock::acquire(&Root::new(root), &env, "test", Duration::ZERO) {
        panic!("{what}: the lock is not free afterwards: {e}");
    }
}

/// (what, tool, where the hostile file goes, arguments, exit code for FIFO, /dev/zero, dir).
type InputCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    [i32; 3],
);

const ROLLBACK_ZIP: &[&str] = &["--env", ENV, "--backup", "{zip}", "--no-health-check"];

const INPUTS: &[InputCase] = &[
    (
        "backup",
        "mobius-rollback",
        "hostile.zip",
        &["--env", ENV, "--backup", "{file}", "--no-health-check"],
        [4, 4, 4],
    ),
    (
        "backup",
        "mobius-verify",
        "hostile.zip",
        &["{file}"],
        [1, 1, 1],
    ),
    (
        "sidecar",
        "mobius-verify",
        "{zip}.sha256",
        &["{zip}"],
        [3, 3, 3],
    ),
    (
        "sidecar",
        "mobius-rollback",
        "{zip}.sha256",
        ROLLBACK_ZIP,
        [4, 4, 4],
    ),
    (
        "spec",
        "mobius-smoke",
        "spec.json",
        &["--env", ENV, "--spec", "{file}"],
        [4, 4, 4],
    ),
    (
        "event",
        "mobius-notify",
        "hostile-event.json",
        &[
            "--channel",
            "slack",
            "--template",
            "deploy_started",
            "--dry-run",
            "--event",
            "{file}",
        ],
        [4, 4, 4],
    ),
    (
        "template",
        "mobius-notify",
        "tpl/slack/deploy_started.json",
        &[
            "--channel",
            "slack",
            "--template",
            "deploy_started",
            "--dry-run",
            "--event",
            "event.json",
            "--templates",
            "tpl",
        ],
        [4, 4, 4],
    ),
    (
        "app.json",
        "mobius-probe",
        "config/staging/app.json",
        &["--env", ENV, "--count", "1"],
        [4, 4, 4],
    ),
    (
        "app.json",
        "mobius-demo",
        "config/staging/app.json",
        &["--env", ENV, "--dry-run"],
        [4, 4, 4],
    ),
    (
        "app.json",
        "mobius-smoke",
        "config/staging/app.json",
        &["--env", ENV, "--dry-run"],
        [4, 4, 4],
    ),
    (
        "app.json",
        "mobius-backup",
        "config/staging/app.json",
        &["--env", ENV],
        [4, 4, 4],
    ),
    (
        "app.json",
        "mobius-verify",
        "config/staging/app.json",
        &["--config", "--env", ENV],
        [1, 1, 1],
    ),
    (
        "config",
        "mobius-verify",
        "config/staging/database.json",
        &["--config", "--env", ENV],
        // A directory is not one of the *.json files checked.
        [1, 1, 0],
    ),
    (
        "CA file",
        "mobius-probe",
        "ca.pem",
        &[
            "--url",
            "http://127.0.0.1:9/",
            "--count",
            "1",
            "--cacert",
            "{file}",
        ],
        [4, 4, 4],
    ),
    // A directory named like a migration is not a migration: passed over.
    (
        "migration",
        "mobius-verify",
        "migr/V3__x.sql",
        &["--migrations", "migr"],
        [4, 4, 0],
    ),
    (
        "history",
        "mobius-verify",
        "history/staging.jsonl",
        &["--history", "--env", ENV],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-history",
        "history/staging.jsonl",
        &["--env", ENV, "--list"],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-history",
        "history/staging.jsonl",
        &["--env", ENV, "--action", "note", "--outcome", "success"],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-notify",
        "history/staging.jsonl",
        &[
            "--channel",
            "slack",
            "--template",
            "deploy_started",
            "--dry-run",
            "--env",
            ENV,
        ],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-export",
        "history/staging.jsonl",
        &["--env", ENV],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-backup",
        "history/staging.jsonl",
        &["--env", ENV],
        [4, 4, 4],
    ),
    (
        "history",
        "mobius-rollback",
        "history/staging.jsonl",
        ROLLBACK_ZIP,
        [4, 4, 4],
    ),
    (
        "lock",
        "mobius-backup",
        "locks/staging.lock",
        &["--env", ENV],
        [4, 4, 4],
    ),
    (
        "lock",
        "mobius-rollback",
        "locks/staging.lock",
        ROLLBACK_ZIP,
        [4, 4, 4],
    ),
    (
        "journal",
        "mobius-rollback",
        "locks/staging.rollback.journal",
        ROLLBACK_ZIP,
        [4, 4, 4],
    ),
];

#[test]
fn no_file_input_hangs_a_tool_or_is_read_unbounded() {
    let mut failures = Vec::new();
    for &(what, tool, file, template, codes) in INPUTS {
        for (i, kind) in HOSTILE.into_iter().enumerate() {
            let (root, zip) = root_with_backup();
            let file = file.replace("{zip}", &zip);
            plant(kind, &root.path().join(&file));
            let before = history_events(root.path()).len();
            let ran = run(tool, root.path(), &args(template, &file, &zip));
            let label = format!("{what} as {kind:?} to {tool} {template:?}");
            if ran.code != codes[i] {
                failures.push(format!(
                    "{label}: exit {} (expected {}): {}",
                    ran.code, codes[i], ran.stderr
                ));
                continue;
            }
            let name = Path::new(&file).file_name().unwrap().to_string_lossy();
            if codes[i] != 0 && !ran.stderr.contains(name.as_ref()) {
                failures.push(format!(
                    "{label}: the message does not name {name}: {}",
                    ran.stderr
                ));
            }
            let events = history_events(root.path());
            if let Some(e) = events[before.min(events.len())..]
                .iter()
                .find(|e| e.outcome == "started")
            {
                failures.push(format!("{label}: logged {} started", e.action));
            }
            if what != "lock" {
                assert_lock_free(root.path(), &label);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (tool, arguments, the written file a link is planted at).
const OUTPUTS: &[(&str, &[&str], &str)] = &[
    (
        "mobius-history",
        &["--env", ENV, "--action", "note", "--outcome", "success"],
        "history/staging.jsonl",
    ),
    ("mobius-backup", &["--env", ENV], "history/staging.jsonl"),
    ("mobius-rollback", ROLLBACK_ZIP, "history/staging.jsonl"),
    (
        "mobius-smoke",
        &["--env", ENV, "--base-url", "http://127.0.0.1:9"],
        "history/staging.jsonl",
    ),
    ("mobius-backup", &["--env", ENV], "locks/staging.lock"),
    ("mobius-rollback", ROLLBACK_ZIP, "locks/staging.lock"),
    (
        "mobius-rollback",
        ROLLBACK_ZIP,
        "locks/staging.rollback.journal",
    ),
    (
        "mobius-smoke",
        &["--env", ENV, "--dry-run", "--junit", "junit.xml"],
        "junit.xml",
    ),
    (
        "mobius-smoke",
        &["--env", ENV, "--dry-run", "--jsonl", "smoke.jsonl"],
        "smoke.jsonl",
    ),
];

#[test]
fn nothing_is_written_or_repaired_through_a_link() {
    // Ends in a partial line: what the history repair would once cut off.
    const FOREIGN: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nno newline at the end";
    let mut failures = Vec::new();
    for &(tool, template, file) in OUTPUTS {
        let (root, zip) = root_with_backup();
        let foreign = root.path().join("foreign");
        fs::write(&foreign, FOREIGN).unwrap();
        let link = root.path().join(file);
        let _ = fs::remove_file(&link);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&foreign, &link).unwrap();
        let ran = run(tool, root.path(), &args(template, "", &zip));
        let label = format!("{tool} {template:?} with {file} a symlink");
        if ran.code != 4 {
            failures.push(format!("{label}: exit {}: {}", ran.code, ran.stderr));
        }
        if !ran.stderr.contains("symbolic link") {
            failures.push(format!(
                "{label}: the message does not say why: {}",
                ran.stderr
            ));
        }
        if fs::read(&foreign).unwrap() != FOREIGN {
            failures.push(format!("{label}: the link's target was changed"));
        }
        if !fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
        {
            failures.push(format!("{label}: the link was replaced"));
        }
        let stray: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("foreign."))
            .collect();
        if !stray.is_empty() {
            failures.push(format!("{label}: left {stray:?} beside the target"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_huge_sidecar_is_refused_in_a_short_message() {
    let (root, zip) = root_with_backup();
    let side = root.path().join(format!("{zip}.sha256"));
    // A valid digest and a 100 MB "file name": once echoed whole in the mismatch message.
    let mut text = format!("{}  ", "a".repeat(64)).into_bytes();
    text.resize(100 * 1024 * 1024, b'x');
    fs::write(&side, &text).unwrap();
    drop(text);
    for (tool, template) in [
        ("mobius-verify", &["{zip}"][..]),
        ("mobius-rollback", ROLLBACK_ZIP),
    ] {
        let ran = run(tool, root.path(), &args(template, "", &zip));
        assert!(
            ran.code == 3 || ran.code == 1,
            "{tool}: exit {}: {}",
            ran.code,
            ran.stderr
        );
        assert!(
            ran.stderr.contains("larger than 4 KiB"),
            "{tool}: {}",
            ran.stderr
        );
        for line in ran.stderr.lines() {
            assert!(line.len() < 300, "{tool}: a {} byte message", line.len());
        }
        assert!(
            ran.stdout.len() < 4096,
            "{tool}: {} bytes of records",
            ran.stdout.len()
        );
        records(&ran.stdout);
    }
}

#[test]
fn a_root_that_does_not_exist_is_an_error_and_is_not_created() {
    let tools: &[(&str, &[&str])] = &[
        ("mobius-backup", &["--env", ENV]),
        ("mobius-verify", &["--history", "--env", ENV]),
        ("mobius-smoke", &["--env", ENV, "--dry-run"]),
        ("mobius-probe", &["--env", ENV, "--count", "1"]),
        ("mobius-judge", &["--env", ENV]),
        ("mobius-rollback", &["--env", ENV, "--latest"]),
        ("mobius-export", &["--env", ENV]),
        (
            "mobius-history",
            &["--env", ENV, "--action", "note", "--outcome", "success"],
        ),
        (
            "mobius-notify",
            &[
                "--channel",
                "slack",
                "--template",
                "deploy_started",
                "--env",
                ENV,
                "--dry-run",
            ],
        ),
        ("mobius-demo", &["--env", ENV, "--dry-run"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("typo").join("root");
    for (tool, rest) in tools {
        let mut a = vec!["--root".to_owned(), missing.display().to_string()];
        a.extend(rest.iter().map(|s| s.to_string()));
        let ran = run(tool, dir.path(), &a);
        assert_eq!(ran.code, 2, "{tool}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("typo/root") && ran.stderr.contains("does not exist"),
            "{tool}: {}",
            ran.stderr
        );
        assert!(!dir.path().join("typo").exists(), "{tool} created the root");
    }
    // The same through MOBIUS_ROOT.
    let ran = Command::new(bin("mobius-history"))
        .args(["--env", ENV, "--action", "note", "--outcome", "success"])
        .env("MOBIUS_ROOT", &missing)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2));
    assert!(!dir.path().join("typo").exists());
}
