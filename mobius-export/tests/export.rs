//! mobius-export against a fixture root with a month of history (a real hash chain), real
//! backups (mobius-backup's library; one damaged, one incomplete), monitoring logs with a
//! rollback verdict, smoke reports and a configuration full of canary secrets. The bundle
//! is checked with the real `unzip -t` and `sha256sum -c`, unpacked, every file's SHA-256
//! recomputed against MANIFEST.json, the CSVs parsed back row by row, and every file
//! searched for the canaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Unix modes, symlinks and the real sha256sum/unzip: Unix behaviour.
#![cfg(unix)]

use assert_cmd::Command;
use mobius_backup::{create_backup, BackupOptions};
use mobius_core::cli::Reporter;
use mobius_core::digest::{sha256_file, sha256_hex, ZERO_HASH};
use mobius_core::history::verify_chain;
use mobius_core::records::{Actor, Event, ExportRecord, PrunedRecord, Record};
use mobius_core::time::rfc3339;
use mobius_core::{EnvName, Root};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

const CANARIES: &[&str] = &[
    "CANARY-PLAIN-1",
    "CANARY-NESTED-2",
    "CANARY-URL-3",
    "CANARY-HOOK-4",
    "CANARY-TEXT-5",
    "CANARY-HIST-6",
    "CANARY-HIST-7",
    "CANARY-HIST-8",
    "CANARY-LOG-9",
    "CANARY-LOG-10",
    "CANARY-SMOKE-11",
    "CANARY-SMOKE-12",
];

fn days_ago(d: f64) -> SystemTime {
    SystemTime::now() - Duration::from_secs_f64(d * 86_400.0)
}

/// `YYYYmmddTHHMMSS`, as monitor.sh and smoke_tests.sh name their files.
fn short_stamp(t: SystemTime) -> String {
    let s = rfc3339(t);
    s[..19].replace(['-', ':'], "")
}

/// Writes history events with chosen timestamps and a real hash chain, exactly as
/// mobius_core::history::append links lines (checked with verify_chain below).
struct History {
    path: PathBuf,
    seq: u64,
    prev: String,
}

impl History {
    fn new(root: &Path) -> History {
        fs::create_dir_all(root.join("history")).unwrap();
        History {
            path: root.join("history/production.jsonl"),
            seq: 0,
            prev: ZERO_HASH.to_owned(),
        }
    }

    fn add(&mut self, days: f64, action: &str, outcome: &str, details: Value) {
        self.add_as("ops", days, action, outcome, details);
    }

    fn add_as(&mut self, user: &str, days: f64, action: &str, outcome: &str, details: Value) {
        self.seq += 1;
        let ev = Event {
            seq: self.seq,
            ts: rfc3339(days_ago(days)),
            env: "production".into(),
            action: action.into(),
            outcome: outcome.into(),
            actor: Actor {
                user: user.into(),
                host: "deploy1".into(),
            },
            details,
            prev: self.prev.clone(),
        };
        let line = serde_json::to_vec(&ev).unwrap();
        self.prev = sha256_hex(&line);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        f.write_all(&line).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

fn sample(seq: u64, t: SystemTime, ok: bool, latency: f64, extra: &str) -> String {
    format!(
        r#"{{"type":"sample","seq":{seq},"ts":"{}","target":"http://127.0.0.1:8080/health","ok":{ok},"status":{},"latency_ms":{latency},"error":{},"detail":"{extra}"}}"#,
        rfc3339(t),
        if ok { 200 } else { 503 },
        if ok { "null" } else { "\"status\"" },
    )
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// The rollback run 10 days ago: 28 checks with latencies 10, 20, ..., 280 ms, checks 26-28
/// failing, then the judge's rollback verdict.
fn rollback_log(root: &Path) -> String {
    let t0 = days_ago(10.0);
    let name = format!("production_{}.jsonl", short_stamp(t0));
    let mut text = String::new();
    for i in 1..=28u32 {
        let t = t0 + Duration::from_secs(u64::from(i) * 10);
        let detail = if i == 3 {
            "via http://svc:CANARY-LOG-9@proxy:3128"
        } else {
            ""
        };
        text.push_str(&sample(u64::from(i), t, i <= 25, f64::from(i * 10), detail));
        text.push('\n');
    }
    text.push_str(r#"{"type":"verdict","ts":"x","target":"http://127.0.0.1:8080/health","decision":"rollback","rule":"consecutive_failures","reason":"3 consecutive failed checks","checks":28,"consecutive_failures":3,"success_rate":0.89,"p95_ms":270.5,"error_rate":null}"#);
    text.push('\n');
    text.push_str(&format!(
        r#"{{"type":"verdict","ts":"{}","target":"*","decision":"rollback","rule":"consecutive_failures","reason":"3 consecutive failed checks (limit 3)","checks":28,"consecutive_failures":3,"success_rate":0.89,"p95_ms":270.5,"error_rate":null}}"#,
        rfc3339(t0 + Duration::from_secs(281))
    ));
    text.push('\n');
    text.push_str("probe restarted; password=CANARY-LOG-10\n");
    let path = root.join("monitor_logs").join(&name);
    fs::write(&path, text).unwrap();
    set_mtime(&path, t0 + Duration::from_secs(300));
    name
}

fn pass_log(root: &Path, days: f64, env: &str) -> String {
    let t0 = days_ago(days);
    let name = format!("{env}_{}.jsonl", short_stamp(t0));
    let mut text = String::new();
    for i in 1..=6u32 {
        let t = t0 + Duration::from_secs(u64::from(i) * 10);
        text.push_str(&sample(u64::from(i), t, true, 5.0, ""));
        text.push('\n');
    }
    text.push_str(&format!(
        r#"{{"type":"verdict","ts":"{}","target":"*","decision":"pass","rule":null,"reason":"no rule fired","checks":6,"consecutive_failures":0,"success_rate":1.0,"p95_ms":5.0,"error_rate":null}}"#,
        rfc3339(t0 + Duration::from_secs(70))
    ));
    text.push('\n');
    let path = root.join("monitor_logs").join(&name);
    fs::write(&path, text).unwrap();
    set_mtime(&path, t0 + Duration::from_secs(70));
    name
}

struct Fixture {
    dir: tempfile::TempDir,
    backups: Vec<String>,
    rollback_log: String,
    pass_log: String,
}

impl Fixture {
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cfg = root.join("config/production");
    fs::create_dir_all(cfg.join("extra")).unwrap();
    fs::write(
        cfg.join("app.json"),
        serde_json::to_string_pretty(&json!({
            "service": "mobius-demo",
            "version": "1.5.0",
            "health_url": "http://127.0.0.1:8080/health",
            "password": "CANARY-PLAIN-1",
            "db": {"credentials": {"user": "app", "pass": "CANARY-NESTED-2"}},
            "dsn": "postgres://app:CANARY-URL-3@db:5432/mobius",
            "alerts": [{"webhook_url": "https://hooks.example/CANARY-HOOK-4"}],
        }))
        .unwrap(),
    )
    .unwrap();
    fs::write(
        cfg.join("extra/runtime.env"),
        "LOG_LEVEL=info\nAPI_TOKEN=CANARY-TEXT-5\n",
    )
    .unwrap();

    // Real backups through mobius-backup's library; then one damaged, one incomplete.
    let r = Root::new(root);
    let env = EnvName::parse("production").unwrap();
    let mut backups = Vec::new();
    for _ in 0..4 {
        let rec =
            create_backup(&r, &env, &BackupOptions::default(), &Reporter::silent("t")).unwrap();
        backups.push(rec.path);
    }
    let damaged = root.join(&backups[2]);
    let mut bytes = fs::read(&damaged).unwrap();
    bytes[40] ^= 0xff;
    fs::write(&damaged, bytes).unwrap();
    fs::remove_file(format!("{}.sha256", root.join(&backups[3]).display())).unwrap();
    let backup_names: Vec<String> = backups
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let b1 = format!("backups/{}", backup_names[0]);
    let b2 = format!("backups/{}", backup_names[1]);

    let mut h = History::new(root);
    // Before the period: must not become a row.
    h.add(
        40.0,
        "deploy",
        "started",
        json!({"version": "1.3.0", "commit": "c13"}),
    );
    h.add(39.9, "deploy", "success", json!({}));
    // A healthy deployment.
    h.add(
        25.1,
        "backup",
        "success",
        json!({"path": b1, "sha256": "x", "files": 3, "bytes": 10}),
    );
    h.add(
        25.0,
        "deploy",
        "started",
        json!({"version": "1.4.0", "commit": "c14", "backup": b1}),
    );
    h.add(
        24.9,
        "smoke",
        "pass",
        json!({"passed": 5, "failed": 0, "total": 5}),
    );
    h.add(
        24.8,
        "monitor_verdict",
        "pass",
        json!({"rule": null, "reason": "ok", "checks": 6}),
    );
    h.add(24.7, "deploy", "success", json!({}));
    // The rolled-back deployment, with secrets in its details and a formula in its commit.
    h.add(
        10.1,
        "deploy",
        "started",
        json!({
            "version": "1.5.0",
            "commit": "=HYPERLINK(\"http://evil.example\",\"x\")",
            "token": "CANARY-HIST-6",
            "notify": {"webhook": "https://hooks.example/CANARY-HIST-7"},
            "repo": "https://bot:CANARY-HIST-8@git.example/app.git",
        }),
    );
    h.add(
        10.09,
        "backup",
        "success",
        json!({"path": b2, "sha256": "y", "files": 3, "bytes": 10}),
    );
    h.add(
        10.08,
        "smoke",
        "pass",
        json!({"passed": 5, "failed": 0, "total": 5}),
    );
    h.add(
        9.9,
        "monitor_verdict",
        "rollback",
        json!({"rule": "consecutive_failures", "reason": "3 consecutive failed checks", "checks": 28}),
    );
    h.add(9.89, "rollback", "started", json!({"backup": b2}));
    h.add(
        9.88,
        "rollback",
        "success",
        json!({"backup": b2, "files_restored": 3}),
    );
    h.add(9.87, "deploy", "failure", json!({"reason": "rolled back"}));
    // A failed smoke test, by an actor whose name starts like a formula.
    h.add_as(
        "@evil",
        3.0,
        "deploy",
        "started",
        json!({"version": "1.5.1", "commit": "-c151"}),
    );
    h.add_as(
        "@evil",
        2.9,
        "smoke",
        "fail",
        json!({"passed": 4, "failed": 1, "total": 5}),
    );
    h.add_as("@evil", 2.8, "deploy", "failure", json!({}));
    assert!(verify_chain(&h.path, Some(&env)).unwrap().ok());

    fs::create_dir_all(root.join("monitor_logs")).unwrap();
    let rollback_log = rollback_log(root);
    let pass_name = pass_log(root, 24.9, "production");
    pass_log(root, 45.0, "production");
    pass_log(root, 5.0, "staging");
    fs::write(root.join("monitor_logs/README.txt"), "not a log").unwrap();

    let smoke = root.join(format!(
        "premerge_artifacts/smoke_production_{}",
        short_stamp(days_ago(10.08))
    ));
    fs::create_dir_all(&smoke).unwrap();
    fs::write(
        smoke.join("junit.xml"),
        "<?xml version=\"1.0\"?>\n<testsuite name=\"smoke\" tests=\"5\" failures=\"0\">\n  <testcase name=\"login\"><system-out>GET https://u:CANARY-SMOKE-11@h/login</system-out></testcase>\n</testsuite>\n",
    )
    .unwrap();
    fs::write(
        smoke.join("smoke.jsonl"),
        concat!(
            r#"{"type":"smoke_check","name":"login","ok":true,"method":"POST","url":"https://h/login","status":200,"duration_ms":1.0,"attempts":1,"error":null,"failures":[],"headers":{"Authorization":"Bearer CANARY-SMOKE-12"}}"#,
            "\n",
            r#"{"type":"smoke_summary","env":"production","spec":"config/production/smoke.json","total":5,"passed":5,"failed":0,"duration_ms":12.5,"junit":"junit.xml"}"#,
            "\n"
        ),
    )
    .unwrap();
    Fixture {
        dir,
        backups: backup_names,
        rollback_log,
        pass_log: pass_name,
    }
}

fn export(root: &Path, extra: &[&str]) -> Output {
    Command::cargo_bin("mobius-export")
        .unwrap()
        .args(["--env", "production", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap()
}

fn export_record(out: &Output) -> ExportRecord {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one record: {text}");
    match serde_json::from_str::<Record>(lines[0]).unwrap() {
        Record::Export(r) => r,
        other => panic!("not an export record: {other:?}"),
    }
}

fn unzip(zip: &Path) -> tempfile::TempDir {
    let t = std::process::Command::new("unzip")
        .arg("-t")
        .arg(zip)
        .output()
        .unwrap();
    assert!(t.status.success(), "unzip -t: {t:?}");
    let dir = tempfile::tempdir().unwrap();
    let x = std::process::Command::new("unzip")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(x.status.success(), "unzip: {x:?}");
    dir
}

fn all_files(dir: &Path) -> BTreeSet<String> {
    walkdir(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Checks MANIFEST.json against the files: the same set, every SHA-256 and size recomputed.
fn check_manifest(dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let mut listed = BTreeSet::new();
    for f in manifest["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let (sha, size) = sha256_file(&dir.join(path)).unwrap();
        assert_eq!(f["sha256"], sha, "{path}");
        assert_eq!(f["size"], size, "{path}");
        listed.insert(path.to_owned());
    }
    listed.insert("MANIFEST.json".to_owned());
    assert_eq!(listed, all_files(dir));
    assert_eq!(manifest["tool"], "mobius-export");
    assert_eq!(manifest["tool_version"], env!("CARGO_PKG_VERSION"));
    manifest
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], row: &[String], name: &str) -> String {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name}"));
    row[i].clone()
}

#[test]
fn full_export_tells_the_rollback_story_without_secrets() {
    let fx = fixture();
    let root = fx.root();
    let out = export(root, &["--days", "30"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = export_record(&out);
    assert_eq!(rec.chain_ok, Some(true));
    assert_eq!(rec.format, "zip");
    assert_eq!(
        (rec.deployments, rec.backups, rec.backups_failing),
        (3, 4, 2)
    );
    assert_eq!((rec.monitor_runs, rec.smoke_runs), (2, 1));
    assert!(rec.missing.is_empty(), "{:?}", rec.missing);
    assert!(rec
        .path
        .starts_with(&format!("{}/exports/lcm_production_", root.display())));

    let zip = PathBuf::from(&rec.path);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&zip).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(sha256_file(&zip).unwrap().0, rec.sha256);
    // The sidecar names exports/<zip>: checked from the root, and no exports -> . link.
    assert!(fs::symlink_metadata(root.join("exports/exports")).is_err());
    let check = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg(format!(
            "exports/{}.sha256",
            zip.file_name().unwrap().to_string_lossy()
        ))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(check.status.success(), "sha256sum -c: {check:?}");

    let x = unzip(&zip);
    let dir = x.path();
    let manifest = check_manifest(dir);
    assert_eq!(rec.files as usize, all_files(dir).len());
    assert_eq!(manifest["history"]["chain_ok"], true);
    assert_eq!(manifest["missing"], json!([]));
    let files = all_files(dir);
    for want in [
        "events.jsonl",
        "deployments.csv",
        "backups.csv",
        "monitoring.csv",
        "smoke.csv",
        "SUMMARY.txt",
        "config/production/app.json",
        "config/production/extra/runtime.env",
    ] {
        assert!(files.contains(want), "{want} in {files:?}");
    }
    assert!(files.contains(&format!("monitor_logs/{}", fx.rollback_log)));
    assert!(files.contains(&format!("monitor_logs/{}", fx.pass_log)));
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("monitor_logs/") && f.ends_with(".jsonl"))
            .count(),
        2,
        "the 45-day-old and the staging logs stay out: {files:?}"
    );
    // Each bundled log has its report beside it, drawn with the verdict of the log.
    for log in [&fx.rollback_log, &fx.pass_log] {
        let html = format!("monitor_logs/{}", log.replace(".jsonl", ".html"));
        assert!(files.contains(&html), "{html} in {files:?}");
    }
    let report = fs::read_to_string(
        dir.join("monitor_logs")
            .join(fx.rollback_log.replace(".jsonl", ".html")),
    )
    .unwrap();
    assert!(report.contains("Verdict: ROLLBACK"), "{report:.3000}");
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("monitor_logs/"))
            .count(),
        4,
        "{files:?}"
    );

    // Canaries: nowhere in the whole bundle, and the zip's own bytes.
    for f in walkdir(dir) {
        let text = String::from_utf8_lossy(&fs::read(&f).unwrap()).into_owned();
        for c in CANARIES {
            assert!(!text.contains(c), "{c} in {}", f.display());
        }
    }
    let app: Value =
        serde_json::from_slice(&fs::read(dir.join("config/production/app.json")).unwrap()).unwrap();
    assert_eq!(app["password"], "***REDACTED***");
    assert_eq!(app["db"]["credentials"], "***REDACTED***");
    assert_eq!(app["dsn"], "postgres://***REDACTED***@db:5432/mobius");
    assert_eq!(app["version"], "1.5.0");
    let env_file = fs::read_to_string(dir.join("config/production/extra/runtime.env")).unwrap();
    assert_eq!(env_file, "LOG_LEVEL=info\nAPI_TOKEN=***REDACTED***\n");

    // deployments.csv, row by row.
    let (h, rows) = csv_rows(&dir.join("deployments.csv"));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let healthy = &rows[0];
    assert_eq!(col(&h, healthy, "version"), "1.4.0");
    assert_eq!(col(&h, healthy, "id"), "4");
    assert_eq!(col(&h, healthy, "smoke"), "pass");
    assert_eq!(col(&h, healthy, "verdict"), "pass");
    assert_eq!(col(&h, healthy, "rolled_back"), "no");
    assert_eq!(col(&h, healthy, "outcome"), "success");
    assert_eq!(col(&h, healthy, "actor"), "ops@deploy1");
    assert!(col(&h, healthy, "backup").ends_with(&fx.backups[0]));
    let rb = &rows[1];
    assert_eq!(col(&h, rb, "version"), "1.5.0");
    assert_eq!(
        col(&h, rb, "commit"),
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert!(col(&h, rb, "backup").ends_with(&fx.backups[1]));
    assert_eq!(col(&h, rb, "smoke"), "pass");
    assert_eq!(col(&h, rb, "smoke_passed"), "5");
    assert_eq!(col(&h, rb, "verdict"), "rollback");
    assert_eq!(col(&h, rb, "verdict_rule"), "consecutive_failures");
    assert_eq!(col(&h, rb, "rolled_back"), "yes");
    assert_eq!(col(&h, rb, "rollback_outcome"), "success");
    assert_eq!(col(&h, rb, "outcome"), "failure");
    assert_eq!(
        (col(&h, rb, "first_seq"), col(&h, rb, "last_seq")),
        ("8".into(), "14".into())
    );
    let failed = &rows[2];
    assert_eq!(col(&h, failed, "actor"), "'@evil@deploy1");
    assert_eq!(col(&h, failed, "commit"), "'-c151");
    assert_eq!(col(&h, failed, "smoke"), "fail");
    assert_eq!(col(&h, failed, "rolled_back"), "no");
    assert_eq!(col(&h, failed, "outcome"), "failure");

    // events.jsonl: the period's events only (not the two from 40 days ago), redacted.
    let events = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let evs: Vec<Event> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs.len(), 15);
    assert_eq!(evs[0].seq, 3);
    assert_eq!(evs[5].details["token"], "***REDACTED***");
    assert_eq!(
        evs[5].details["repo"],
        "https://***REDACTED***@git.example/app.git"
    );

    // backups.csv: every backup, whether it verifies now.
    let (h, rows) = csv_rows(&dir.join("backups.csv"));
    assert_eq!(rows.len(), 4);
    let verdicts: Vec<String> = rows.iter().map(|r| col(&h, r, "verifies")).collect();
    assert_eq!(verdicts, ["yes", "yes", "no", "no"]);
    assert_eq!(col(&h, &rows[3], "sidecar"), "no");
    assert!(col(&h, &rows[3], "problems").contains("sidecar_missing"));
    for (row, name) in rows.iter().zip(&fx.backups) {
        assert_eq!(&col(&h, row, "file"), name);
        let (sha, size) = sha256_file(&root.join("backups").join(name)).unwrap();
        assert_eq!(col(&h, row, "sha256"), sha);
        assert_eq!(col(&h, row, "size"), size.to_string());
    }

    // monitoring.csv: one row per run.
    let (h, rows) = csv_rows(&dir.join("monitoring.csv"));
    assert_eq!(rows.len(), 2);
    let run = rows
        .iter()
        .find(|r| col(&h, r, "file") == fx.rollback_log)
        .unwrap();
    assert_eq!(col(&h, run, "checks"), "28");
    assert_eq!(col(&h, run, "failed_checks"), "3");
    assert_eq!(col(&h, run, "success_rate"), "0.8929");
    // numpy.percentile(range(90, 281, 10), 95) == 270.5
    assert_eq!(col(&h, run, "p95_ms"), "270.5");
    assert_eq!(col(&h, run, "max_p95_ms"), "270.5");
    assert_eq!(col(&h, run, "verdict"), "rollback");
    assert_eq!(col(&h, run, "verdict_rule"), "consecutive_failures");
    assert_eq!(col(&h, run, "unreadable_lines"), "1");
    let pass = rows
        .iter()
        .find(|r| col(&h, r, "file") == fx.pass_log)
        .unwrap();
    assert_eq!(col(&h, pass, "verdict"), "pass");
    assert_eq!(col(&h, pass, "success_rate"), "1");

    let (h, rows) = csv_rows(&dir.join("smoke.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(col(&h, &rows[0], "outcome"), "pass");
    assert_eq!(col(&h, &rows[0], "total"), "5");

    // The export is in the history, and the chain (fixture lines + append) is intact.
    let hist = root.join("history/production.jsonl");
    let env = EnvName::parse("production").unwrap();
    assert!(verify_chain(&hist, Some(&env)).unwrap().ok());
    let last: Event =
        serde_json::from_str(fs::read_to_string(&hist).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("export", "success")
    );
    assert_eq!(last.details["sha256"], rec.sha256);
}

#[test]
fn tampered_history_is_reported_with_its_line_and_the_bundle_still_written() {
    let fx = fixture();
    let root = fx.root();
    let hist = root.join("history/production.jsonl");
    let text = fs::read_to_string(&hist).unwrap();
    let tampered = text.replacen("\"version\":\"1.4.0\"", "\"version\":\"1.4.9\"", 1);
    assert_ne!(text, tampered);
    fs::write(&hist, tampered).unwrap();

    let out = export(root, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HISTORY CHAIN BROKEN at line 5"),
        "{stderr}"
    );
    let rec = export_record(&out);
    assert_eq!(rec.chain_ok, Some(false));
    assert_eq!(rec.chain_first_bad_line, Some(5));
    let x = unzip(Path::new(&rec.path));
    let manifest = check_manifest(x.path());
    assert_eq!(manifest["history"]["chain_ok"], false);
    assert_eq!(manifest["history"]["first_bad_line"], 5);
    let summary = fs::read_to_string(x.path().join("SUMMARY.txt")).unwrap();
    assert!(
        summary.starts_with("WARNING: HISTORY CHAIN BROKEN at line 5"),
        "{summary}"
    );
}

#[test]
fn missing_inputs_are_stated_not_fatal_and_dir_format_works() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("config/production")).unwrap();
    fs::write(
        root.join("config/production/app.json"),
        "{\"token\": \"CANARY-PLAIN-1\"}",
    )
    .unwrap();
    let out = export(root, &["--format", "dir", "--since", "2020-01-01"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = export_record(&out);
    assert_eq!(rec.chain_ok, None);
    assert_eq!(rec.period_start, "2020-01-01T00:00:00.000Z");
    let missing = rec.missing.join("\n");
    for m in [
        "history/production.jsonl",
        "monitor_logs/",
        "smoke_production_",
        "backups/",
    ] {
        assert!(missing.contains(m), "{m} in {missing}");
    }
    let bundle = PathBuf::from(&rec.path);
    assert!(bundle.is_dir());
    let manifest = check_manifest(&bundle);
    assert_eq!(
        manifest["missing"].as_array().unwrap().len(),
        rec.missing.len()
    );
    assert_eq!(
        sha256_file(&bundle.join("MANIFEST.json")).unwrap().0,
        rec.sha256
    );
    let app = fs::read_to_string(bundle.join("config/production/app.json")).unwrap();
    assert!(!app.contains("CANARY"), "{app}");
    let (_, rows) = csv_rows(&bundle.join("deployments.csv"));
    assert!(rows.is_empty());
    // No temporary directory left beside it.
    let names: Vec<String> = fs::read_dir(root.join("exports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

/// A data file in the config directory too large to redact (over 8 MiB) is named as left
/// out — on stderr, in SUMMARY.txt and MANIFEST.json — and the export goes on.
#[test]
fn a_config_file_too_large_to_redact_is_left_out_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cfg = root.join("config/production");
    fs::create_dir_all(&cfg).unwrap();
    fs::write(
        cfg.join("app.json"),
        "{\"health_url\": \"http://127.0.0.1:1/\"}",
    )
    .unwrap();
    fs::write(cfg.join("geo.db"), vec![0u8; (8 << 20) + 1]).unwrap();
    let out = export(root, &["--format", "dir"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not exported: config/production/geo.db (8388609 bytes, more than the 8 MiB"),
        "{err}"
    );
    let bundle = PathBuf::from(&export_record(&out).path);
    assert!(bundle.join("config/production/app.json").is_file());
    assert!(!bundle.join("config/production/geo.db").exists());
    let summary = fs::read_to_string(bundle.join("SUMMARY.txt")).unwrap();
    assert!(
        summary.contains("omitted: config/production/geo.db"),
        "{summary}"
    );
    let manifest = check_manifest(&bundle);
    assert!(
        manifest["omitted"].to_string().contains("geo.db"),
        "{manifest}"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let fx = fixture();
    let root = fx.root();
    let before = fs::read(root.join("history/production.jsonl")).unwrap();
    let out = export(root, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let rec = export_record(&out);
    assert!(rec.dry_run);
    assert!(rec.sha256.is_empty());
    assert!(!root.join("exports").exists());
    assert_eq!(
        fs::read(root.join("history/production.jsonl")).unwrap(),
        before
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&fx.rollback_log), "{stderr}");
}

fn touch_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    fs::write(path.join("summary.json"), "{}").unwrap();
}

fn pruned(out: &Output) -> Vec<PrunedRecord> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match serde_json::from_str::<Record>(l).unwrap() {
            Record::Pruned(p) => p,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn prune(root: &Path, extra: &[&str]) -> Vec<PrunedRecord> {
    let out = Command::cargo_bin("mobius-export")
        .unwrap()
        .args(["--prune", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pruned(&out)
}

#[test]
fn retention_deletes_exactly_the_expected_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = Root::new(root);
    let made = |env: &str, n: usize| -> Vec<String> {
        let env = EnvName::parse(env).unwrap();
        fs::create_dir_all(r.config_dir(&env)).unwrap();
        fs::write(r.config_dir(&env).join("app.json"), "{}").unwrap();
        (0..n)
            .map(|_| {
                let rec =
                    create_backup(&r, &env, &BackupOptions::default(), &Reporter::silent("t"))
                        .unwrap();
                rec.path
            })
            .collect()
    };
    let prod = made("production", 12);
    let staging = made("staging", 11);
    let b = |p: &str| root.join(p).display().to_string();

    let logs = root.join("monitor_logs");
    fs::create_dir_all(&logs).unwrap();
    let old = short_stamp(days_ago(31.0));
    let new = short_stamp(days_ago(29.0));
    for name in [
        format!("production_{old}.jsonl"),
        format!("production_{new}.jsonl"),
        format!("staging_{old}.jsonl"),
        format!("production_{old}.jsonl.bak"),
        "production_latest.jsonl".to_owned(),
        "notes.txt".to_owned(),
    ] {
        fs::write(logs.join(name), "{}\n").unwrap();
    }
    fs::create_dir(logs.join(format!("production_{}.jsonl", short_stamp(days_ago(60.0))))).unwrap();

    let pre = root.join("premerge_artifacts");
    let old7 = short_stamp(days_ago(8.0));
    let new7 = short_stamp(days_ago(6.0));
    for name in [
        old7.clone(),
        format!("{old7}-2"),
        new7.clone(),
        format!("smoke_production_{old7}"),
        format!("smoke_production_{new7}"),
        format!("smoke_staging_{old7}"),
        "keep-me".to_owned(),
        format!("{old7}-final"),
    ] {
        touch_dir(&pre.join(name));
    }
    std::os::unix::fs::symlink(
        root.join("config"),
        pre.join(format!("smoke_production_{}", short_stamp(days_ago(20.0)))),
    )
    .unwrap();
    let exports = root.join("exports");
    fs::create_dir_all(&exports).unwrap();
    let old_export = exports.join(format!("lcm_production_{old}.000Z.zip"));
    fs::write(&old_export, "x").unwrap();

    let snapshot = || all_files(root);
    let before = snapshot();
    let dry = prune(root, &["--env", "production", "--dry-run"]);
    assert_eq!(snapshot(), before, "a dry run deletes nothing");
    assert!(dry.iter().all(|p| p.dry_run));

    let got = prune(root, &["--env", "production"]);
    let paths = |v: &[PrunedRecord]| v.iter().map(|p| p.path.clone()).collect::<BTreeSet<_>>();
    let expected: BTreeSet<String> = [
        b(&prod[0]),
        format!("{}.sha256", b(&prod[0])),
        b(&prod[1]),
        format!("{}.sha256", b(&prod[1])),
        logs.join(format!("production_{old}.jsonl"))
            .display()
            .to_string(),
        pre.join(&old7).display().to_string(),
        pre.join(format!("{old7}-2")).display().to_string(),
        pre.join(format!("smoke_production_{old7}"))
            .display()
            .to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(paths(&got), expected);
    assert_eq!(paths(&dry), expected, "the dry run announced the same");
    for p in &expected {
        assert!(!Path::new(p).exists(), "{p} deleted");
    }
    let kinds: BTreeSet<&str> = got.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "backup",
            "backup_sidecar",
            "monitor_log",
            "premerge_artifacts",
            "smoke_report"
        ]
        .into_iter()
        .collect()
    );
    assert!(got.iter().any(|p| p.reason.contains("30 days")));
    for kept in &prod[2..] {
        assert!(root.join(kept).exists());
    }
    assert!(old_export.exists(), "exports are kept");
    assert!(logs.join("notes.txt").exists() && logs.join("production_latest.jsonl").exists());
    assert!(logs.join(format!("production_{old}.jsonl.bak")).exists());
    assert!(pre.join("keep-me").exists() && pre.join(format!("{old7}-final")).exists());
    assert!(
        root.join("config/production/app.json").exists(),
        "symlink not followed"
    );

    // Without --env: the other environments' old artifacts go too.
    let got = prune(root, &[]);
    let expected: BTreeSet<String> = [
        b(&staging[0]),
        format!("{}.sha256", b(&staging[0])),
        logs.join(format!("staging_{old}.jsonl"))
            .display()
            .to_string(),
        pre.join(format!("smoke_staging_{old7}"))
            .display()
            .to_string(),
    ]
    .into_iter()
    .collect();
    assert_eq!(paths(&got), expected);
    // Nothing more to do: idempotent.
    assert!(prune(root, &[]).is_empty());
    // The limits are flags.
    let got = prune(root, &["--keep-backups", "9", "--env", "staging"]);
    assert_eq!(got.len(), 2);
}

#[test]
fn bad_env_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("mobius-export")
        .unwrap()
        .args(["--env", "../prod", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn the_old_exports_link_is_removed_and_nothing_else_is() {
    let fx = fixture();
    let root = fx.root();
    fs::create_dir_all(root.join("exports")).unwrap();
    std::os::unix::fs::symlink(".", root.join("exports/exports")).unwrap();
    let out = export(root, &["--days", "30"]);
    assert!(out.status.success(), "{out:?}");
    let rec = export_record(&out);
    assert!(fs::symlink_metadata(root.join("exports/exports")).is_err());
    let name = Path::new(&rec.path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        fs::read_to_string(root.join(format!("exports/{name}.sha256"))).unwrap(),
        format!("{}  exports/{name}\n", rec.sha256)
    );

    // A link elsewhere with that name stays.
    std::os::unix::fs::symlink("/elsewhere", root.join("exports/exports")).unwrap();
    let out = export(root, &["--days", "30"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_link(root.join("exports/exports")).unwrap(),
        Path::new("/elsewhere")
    );
}
