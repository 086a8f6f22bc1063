//! Progress on a terminal only: mobius-judge's (and so monitor.sh's) status line and the
//! byte bars of backup, verify, rollback and export are drawn when stderr is a real terminal (a pty
//! made by util-linux `script`), and never on stdout, a piped stderr, `TERM=dumb` or
//! `--quiet`; `NO_COLOR` drops the colour but keeps the line.

use mobius_core::records::Record;
use mobius_tests::{bin, bin_dir, records, script, temp_root, Demo};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `cmd` (a shell command line) with stdin, stderr and the controlling terminal on a
/// fresh pty, 120 columns wide, stdout to `out`; returns what reached the terminal.
fn on_terminal(cmd: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    let typescript = dir.join("typescript");
    let mut c = Command::new("script");
    c.arg("-q")
        .arg("-e")
        .arg("-c")
        .arg(format!("stty cols 120 rows 40; {cmd}"))
        .arg(&typescript)
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let status = c.status().expect("util-linux script");
    assert!(status.code().is_some(), "script was killed");
    String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned()
}

fn samples(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("samples.jsonl");
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!(
            "{{\"type\":\"sample\",\"seq\":{},\"ts\":\"2026-11-26T12:00:{:02}.000Z\",\"target\":\"http://127.0.0.1:1/health\",\"ok\":true,\"status\":200,\"latency_ms\":12.5,\"error\":null,\"detail\":\"\"}}\n",
            i + 1,
            i
        ));
    }
    std::fs::write(&path, text).expect("write samples");
    path
}

fn judge_cmd(dir: &Path) -> String {
    format!(
        "{} --duration 60s --interval 1s < {} > {}",
        bin("mobius-judge").display(),
        samples(dir).display(),
        dir.join("out.jsonl").display()
    )
}

fn stdout_is_json_lines(dir: &Path) {
    let out = std::fs::read(dir.join("out.jsonl")).expect("stdout file");
    let recs = records(&out);
    assert!(!recs.is_empty());
    assert!(recs.iter().all(|r| matches!(r, Record::Verdict(_))));
}

#[test]
fn the_judge_draws_its_status_line_on_a_terminal_and_nowhere_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = on_terminal(&judge_cmd(dir.path()), dir.path(), &[]);
    for want in [
        "mobius-judge: ",
        "/60 checks",
        "left",
        "success 100% (min 70%)",
        "P95 12 ms (max 5000 ms)",
        "failed in a row (max 3)",
    ] {
        assert!(
            shown.contains(want),
            "the terminal lacks {want:?}: {shown:?}"
        );
    }
    // Drawn in place (cursor control), in colour, and cleared at the end.
    assert!(shown.contains("\x1b[2K"), "{shown:?}");
    assert!(shown.contains("\x1b[1m"), "{shown:?}");
    stdout_is_json_lines(dir.path());

    // NO_COLOR: the same line, no colour.
    let plain = on_terminal(&judge_cmd(dir.path()), dir.path(), &[("NO_COLOR", "1")]);
    assert!(plain.contains("/60 checks"), "{plain:?}");
    assert!(!plain.contains("\x1b[1m"), "{plain:?}");

    // TERM=dumb and --quiet: nothing drawn.
    for (extra, env) in [("", [("TERM", "dumb")]), (" --quiet", [("LANG", "C")])] {
        let cmd = judge_cmd(dir.path()).replacen(" --duration", &format!("{extra} --duration"), 1);
        let shown = on_terminal(&cmd, dir.path(), &env);
        assert!(!shown.contains("checks"), "{extra} {env:?}: {shown:?}");
        stdout_is_json_lines(dir.path());
    }

    // A piped stderr (a log, CI) gets the verdict message only.
    let out = Command::new(bin("mobius-judge"))
        .args(["--duration", "60s", "--interval", "1s"])
        .stdin(std::fs::File::open(samples(dir.path())).expect("samples"))
        .output()
        .expect("judge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("checks,") && !err.contains('\r'), "{err:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("checks,"));
}

#[test]
fn monitor_sh_shows_the_status_line_on_a_terminal() {
    let root = temp_root();
    let demo = Demo::start(root.path(), "staging");
    demo.point_config_at_me(root.path(), "staging");
    let cmd = format!(
        "{} --env staging --duration 2s --interval 100ms > {}",
        script("monitor.sh").display(),
        root.path().join("out.jsonl").display()
    );
    let bins = bin_dir();
    let shown = on_terminal(
        &cmd,
        root.path(),
        &[
            ("MOBIUS_BIN_DIR", bins.to_str().expect("utf-8 path")),
            ("MOBIUS_ROOT", root.path().to_str().expect("utf-8 path")),
        ],
    );
    assert!(
        shown.contains("mobius-judge: ") && shown.contains("/20 checks"),
        "{shown:?}"
    );
    assert!(shown.contains("success 100% (min 70%)"), "{shown:?}");
    let out = std::fs::read(root.path().join("out.jsonl")).expect("stdout");
    assert!(records(&out)
        .iter()
        .any(|r| matches!(r, Record::Verdict(_))));
}

#[test]
fn backup_verify_rollback_and_export_draw_a_bar_on_a_terminal_only() {
    let root = temp_root();
    let big = root.path().join("config/production/blob.bin");
    std::fs::write(&big, vec![7u8; 8 << 20]).expect("write");
    let delay = [("MOBIUS_PROGRESS_DELAY", "0")];
    let backup = format!(
        "{} --env production --root {} > {}",
        bin("mobius-backup").display(),
        root.path().display(),
        root.path().join("backup.jsonl").display()
    );
    let shown = on_terminal(&backup, root.path(), &delay);
    assert!(
        shown.contains("mobius-backup: ") && shown.contains("MiB"),
        "{shown:?}"
    );
    let rec = records(&std::fs::read(root.path().join("backup.jsonl")).expect("out"));
    let Some(Record::Backup(b)) = rec.first() else {
        panic!("no backup record: {rec:?}")
    };
    let zip = root.path().join(&b.path);
    // A monitoring log for the export to carry (named for now, so it is in the period).
    let mut log = String::new();
    for i in 0..60_000 {
        log.push_str(&format!(
            "{{\"type\":\"sample\",\"seq\":{},\"ts\":\"2026-12-02T00:00:00.000Z\",\"target\":\"t\",\"ok\":true,\"status\":200,\"latency_ms\":1.5,\"error\":null,\"detail\":\"\"}}\n",
            i + 1
        ));
    }
    let stamp = mobius_core::time::file_stamp(std::time::SystemTime::now());
    std::fs::create_dir_all(root.path().join("monitor_logs")).expect("mkdir");
    std::fs::write(
        root.path()
            .join(format!("monitor_logs/production_{stamp}.jsonl")),
        log,
    )
    .expect("write log");
    for (tool, args) in [
        (
            "mobius-export",
            vec!["--env".to_owned(), "production".to_owned()],
        ),
        ("mobius-verify", vec![zip.display().to_string()]),
        (
            "mobius-rollback",
            vec![
                "--env".into(),
                "production".into(),
                "--backup".into(),
                zip.display().to_string(),
                "--no-health-check".into(),
            ],
        ),
    ] {
        let cmd = format!(
            "{} {} --root {} > {}",
            bin(tool).display(),
            args.join(" "),
            root.path().display(),
            root.path().join("tool.jsonl").display()
        );
        let shown = on_terminal(&cmd, root.path(), &delay);
        assert!(
            shown.contains(&format!("{tool}: ")) && shown.contains("MiB"),
            "{tool}: {shown:?}"
        );
        // Piped: no bar, even at once.
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd.replace(" > ", " 2>&1 > "))
            .env("MOBIUS_PROGRESS_DELAY", "0")
            .output()
            .expect("sh");
        let err = String::from_utf8_lossy(&out.stdout);
        assert!(
            !err.contains("MiB/") && !err.contains('\r'),
            "{tool}: {err:?}"
        );
    }
}
