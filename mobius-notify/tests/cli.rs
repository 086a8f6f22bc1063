//! The real binary against a real local HTTP receiver (std TcpListener); email is in
//! email.rs, hostile events in hostile.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{notify, record, write_event};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::thread::JoinHandle;

const SECRET: &str = "T0PSECRETxyz987";

/// A one-shot HTTP server: answers `status` and hands back the request's head and body.
fn receiver(status: u16) -> (String, JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("content-length");
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut w = stream;
        write!(
            w,
            "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        )
        .unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    (
        format!("http://127.0.0.1:{port}/services/T000/B000/{SECRET}"),
        handle,
    )
}

fn assert_no_secret(out: &std::process::Output) {
    for s in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(s);
        assert!(!s.contains(SECRET), "webhook secret leaked: {s}");
    }
}

#[test]
fn slack_posts_the_rendered_json_to_the_webhook_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_event(dir.path());
    let (url, server) = receiver(200);
    let out = notify()
        .args(["--channel", "slack", "--template", "rolled_back", "--event"])
        .arg(&ev)
        .args(["--var", "runbook_url=https://wiki.example/rollback"])
        .env("MOBIUS_SLACK_WEBHOOK", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_no_secret(&out);
    let (head, body) = server.join().unwrap();
    assert!(
        head.starts_with(&format!("POST /services/T000/B000/{SECRET} HTTP/1.1")),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    // Exactly what the dry run renders.
    let dry = notify()
        .args(["--channel", "slack", "--template", "rolled_back", "--event"])
        .arg(&ev)
        .args([
            "--var",
            "runbook_url=https://wiki.example/rollback",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(dry.status.success());
    let dry_rec = record(&dry.stdout);
    assert!(!dry_rec.sent && dry_rec.dry_run);
    let posted: Value = serde_json::from_str(&body).unwrap();
    let rendered: Value = serde_json::from_str(dry_rec.rendered.as_deref().unwrap()).unwrap();
    assert_eq!(posted, rendered);
    assert_eq!(posted["blocks"][0]["type"], "header");
    assert!(body.contains("dhash_production_20261126T110000.000Z.zip"));
    assert!(body.contains("https://wiki.example/rollback"));
    assert!(!body.contains("{{") && !body.contains("mobius_if"));
    let rec = record(&out.stdout);
    assert!(rec.sent && !rec.dry_run);
    assert_eq!(rec.channel, "slack");
    assert_eq!(rec.template, "rolled_back");
    assert_eq!(rec.status, Some(200));
    assert_eq!(rec.env.as_deref(), Some("production"));
    assert_eq!(rec.event_seq, Some(12));
    assert_eq!(rec.destination.as_deref(), Some("$MOBIUS_SLACK_WEBHOOK"));
    assert_eq!(rec.bytes, body.len() as u64);
}

#[test]
fn teams_posts_an_adaptive_card_and_a_refusal_is_a_runtime_failure_without_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_event(dir.path());
    let (url, server) = receiver(202);
    let out = notify()
        .args([
            "--channel",
            "teams",
            "--template",
            "rollback_failed",
            "--event",
        ])
        .arg(&ev)
        .env("MOBIUS_TEAMS_WEBHOOK", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_no_secret(&out);
    let (_, body) = server.join().unwrap();
    let card: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(card["type"], "message");
    let att = &card["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    assert_eq!(att["content"]["actions"], json!([]), "no runbook_url given");
    assert_eq!(record(&out.stdout).status, Some(202));

    let (url, server) = receiver(500);
    let out = notify()
        .args([
            "--channel",
            "teams",
            "--template",
            "rollback_failed",
            "--event",
        ])
        .arg(&ev)
        .env("MOBIUS_TEAMS_WEBHOOK", &url)
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_no_secret(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("$MOBIUS_TEAMS_WEBHOOK"), "{err}");

    // Nobody listening: the connection error must not carry the URL either.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = notify()
        .args(["--channel", "slack", "--template", "rolled_back", "--event"])
        .arg(&ev)
        .env(
            "MOBIUS_SLACK_WEBHOOK",
            format!("http://127.0.0.1:{port}/services/{SECRET}"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_no_secret(&out);
}

#[test]
fn unconfigured_channel_missing_field_and_bad_input_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_event(dir.path());
    let out = notify()
        .args(["--channel", "slack", "--template", "rolled_back", "--event"])
        .arg(&ev)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MOBIUS_SLACK_WEBHOOK"));
    let out = notify()
        .args(["--channel", "email", "--template", "rolled_back", "--event"])
        .arg(&ev)
        .env("MOBIUS_SMTP_URL", "smtp://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MOBIUS_EMAIL_FROM, MOBIUS_EMAIL_TO"), "{err}");

    // A template needing a field the event lacks: exit 3, the field named.
    let tdir = dir.path().join("tpl");
    std::fs::create_dir_all(tdir.join("slack")).unwrap();
    std::fs::write(
        tdir.join("slack/custom.json"),
        r#"{"text": "{{env}} {{details.version}} {{ticket}}"}"#,
    )
    .unwrap();
    let out = notify()
        .args([
            "--channel",
            "slack",
            "--template",
            "custom",
            "--dry-run",
            "--event",
        ])
        .arg(&ev)
        .arg("--templates")
        .arg(&tdir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("details.version, ticket"), "{err}");
    assert!(err.contains("custom.json"), "{err}");
    // ... and given with --var it renders, escaped.
    let out = notify()
        .args([
            "--channel",
            "slack",
            "--template",
            "custom",
            "--dry-run",
            "--event",
        ])
        .arg(&ev)
        .arg("--templates")
        .arg(&tdir)
        .args([
            "--var",
            "details.version=1.5\"x",
            "--var",
            "ticket=OPS-1\n2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_str(&record(&out.stdout).rendered.unwrap()).unwrap();
    assert_eq!(r["text"], "production 1.5\"x OPS-1\n2");

    let out = notify()
        .args(["--channel", "slack", "--template", "nope", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rolled_back"));
    for bad in [["--template", "../x"], ["--env", "../prod"]] {
        let out = notify()
            .args(["--channel", "slack", "--template", "rolled_back"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let out = notify()
        .args([
            "--channel",
            "slack",
            "--template",
            "rolled_back",
            "--dry-run",
            "--event",
            "-",
        ])
        .write_stdin("not json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn dry_run_takes_the_last_history_event_of_env() {
    let root = tempfile::tempdir().unwrap();
    let env: mobius_core::EnvName = "staging".parse().unwrap();
    let r = mobius_core::Root::new(root.path());
    mobius_core::history::append(&r, &env, "deploy", "started", json!({"version": "1.0"})).unwrap();
    mobius_core::history::append(
        &r,
        &env,
        "deploy",
        "success",
        json!({"version": "2.0", "commit": "abc123"}),
    )
    .unwrap();
    let out = notify()
        .args([
            "--channel",
            "email",
            "--template",
            "deploy_succeeded",
            "--dry-run",
        ])
        .args(["--env", "staging", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rec = record(&out.stdout);
    assert_eq!(rec.event_seq, Some(2));
    assert_eq!(rec.env.as_deref(), Some("staging"));
    assert_eq!(
        rec.subject.as_deref(),
        Some("[MOBIUS] Deployment succeeded: staging")
    );
    let text = rec.rendered.unwrap();
    assert!(
        text.contains("abc123") && text.contains("version 2.0"),
        "{text}"
    );
    // stderr shows it to a person too.
    assert!(String::from_utf8_lossy(&out.stderr).contains("abc123"));
    // Templates in ROOT/templates/notifications win over the built-in ones.
    let t = root.path().join("templates/notifications/email");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("deploy_succeeded.txt"),
        "Subject: ours {{env}}\n\nbody\n",
    )
    .unwrap();
    let out = notify()
        .args([
            "--channel",
            "email",
            "--template",
            "deploy_succeeded",
            "--dry-run",
        ])
        .args(["--env", "staging", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(record(&out.stdout).subject.as_deref(), Some("ours staging"));
}

/// The `notify` function of scripts/lib/mobius.sh, as monitor.sh and rollback_dhash.sh call
/// it: the last history event goes to every configured channel, and a failed delivery is
/// reported but returns 0. (lib.sh is bash: Unix only.)
#[cfg(unix)]
#[test]
fn deploy_scripts_notify_hook_sends_and_never_fails_the_caller() {
    let root = tempfile::tempdir().unwrap();
    let env: mobius_core::EnvName = "production".parse().unwrap();
    let r = mobius_core::Root::new(root.path());
    mobius_core::history::append(
        &r,
        &env,
        "rollback",
        "success",
        json!({"backup": "backups/dhash_production_x.zip", "files_restored": 2}),
    )
    .unwrap();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/mobius.sh");
    let bin_dir = assert_cmd::cargo::cargo_bin("mobius-notify")
        .parent()
        .unwrap()
        .to_path_buf();
    let hook = |extra: &[(&str, &str)]| {
        let mut c = std::process::Command::new("bash");
        c.arg("-c")
            .arg(r#"set -euo pipefail; source "$1"; notify production rolled_back --var reason=why; echo "rc=$?""#)
            .arg("notify-test")
            .arg(&lib)
            .env("MOBIUS_BIN_DIR", &bin_dir)
            .env("MOBIUS_ROOT", root.path())
            .env("MOBIUS_RUNBOOK_URL", "https://wiki.example/rb")
            .stdin(Stdio::null());
        for v in [
            "MOBIUS_SLACK_WEBHOOK",
            "MOBIUS_TEAMS_WEBHOOK",
            "MOBIUS_SMTP_URL",
        ] {
            c.env_remove(v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // Nothing configured: nothing sent, nothing said.
    let out = hook(&[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=0\n");
    assert!(out.stderr.is_empty(), "{out:?}");

    let (url, server) = receiver(200);
    let out = hook(&[("MOBIUS_SLACK_WEBHOOK", &url)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=0\n", "{out:?}");
    assert_no_secret(&out);
    let (_, body) = server.join().unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let text = v.to_string();
    assert!(text.contains("Rolled back: production"), "{text}");
    assert!(text.contains("backups/dhash_production_x.zip"), "{text}");
    assert!(text.contains("https://wiki.example/rb"), "{text}");
    assert!(text.contains("Why: why"), "{text}");

    // Slack unreachable: loud on stderr, and still exit 0 for the caller.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dead = format!("http://127.0.0.1:{port}/services/{SECRET}");
    let out = hook(&[("MOBIUS_SLACK_WEBHOOK", &dead)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=0\n", "{out:?}");
    assert_no_secret(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOTIFICATION FAILED (slack, rolled_back"),
        "{err}"
    );
}

/// A template that contradicts its event is sent, with one warning line on stderr; one
/// that fits says nothing.
#[test]
fn a_template_that_contradicts_the_event_is_warned_about_and_still_sent() {
    let root = tempfile::tempdir().unwrap();
    let env: mobius_core::EnvName = "staging".parse().unwrap();
    let r = mobius_core::Root::new(root.path());
    mobius_core::history::append(&r, &env, "deploy", "success", json!({"version": "2.0"})).unwrap();
    for (template, expect) in [
        (
            "deploy_started",
            Some("template deploy_started is for a deploy started event, but event #1 is \"deploy success\""),
        ),
        (
            "rolled_back",
            Some("template rolled_back is for a rollback success event, but event #1 is \"deploy success\""),
        ),
        ("deploy_succeeded", None),
    ] {
        let (url, server) = receiver(200);
        let out = notify()
            .args(["--channel", "slack", "--template", template])
            .args(["--env", "staging", "--root"])
            .arg(root.path())
            .env("MOBIUS_SLACK_WEBHOOK", &url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{template}: {out:?}");
        server.join().unwrap();
        let rec = record(&out.stdout);
        assert!(rec.sent, "{template}");
        let err = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        match expect {
            Some(w) => {
                assert_eq!(warnings.len(), 1, "{err}");
                assert!(
                    warnings[0].starts_with(&format!("mobius-notify: warning: {w}; sending it anyway")),
                    "{err}"
                );
            }
            None => assert!(warnings.is_empty(), "{err}"),
        }
    }
}
