//! Email through a real local SMTP server (Python's aiosmtpd): plain, STARTTLS with AUTH
//! (required, with a private CA made by the real `openssl` CLI), and implicit TLS (smtps).
//! The server logs the TLS version of each mail and AUTH attempt, and decodes each mail with
//! Python's own MIME parser, so these tests fail if TLS is not really used or if the encoding
//! is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, notify, record, write_event, write_json};
use mobius_tests::{Smtpd, SmtpdConfig, TestCerts};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const USER: &str = "mobius-bot";
const PASSWORD: &str = "Pa55-w0rd-QXZ9";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Neither the password nor the username in anything the tool printed.
fn assert_no_credentials(out: &Output) {
    for s in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(s);
        assert!(!s.contains(PASSWORD), "password leaked: {s}");
        assert!(!s.contains(USER), "username leaked: {s}");
    }
}

/// A failure: the exit code, one line on stderr, nothing on stdout.
fn assert_one_line_failure(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("mobius-notify: "), "{err}");
    err
}

/// A template with a non-ASCII subject and body and a very long line.
fn hard_template(dir: &Path) -> std::path::PathBuf {
    let t = dir.join("tpl/email");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("hard.txt"),
        "Subject: Zurückgerollt ✓ {{env}} — ein sehr langer Betreff, der gefaltet werden muss, weil er länger als achtundsiebzig Zeichen ist\n\nGrüße — {{actor.user}}\n{{details.long}}\n.dot line\nend.\n",
    )
    .unwrap();
    dir.join("tpl")
}

fn hard_event(dir: &Path) -> (std::path::PathBuf, String) {
    let long = format!("{}{}", "ä€".repeat(700), "x".repeat(5000));
    let mut ev = event();
    ev["details"]["long"] = json!(long);
    (write_json(dir, "hard.json", &ev), long)
}

fn run(
    url: &str,
    ev: &Path,
    tpl: Option<&Path>,
    env: &[(&str, &str)],
    template: &str,
) -> std::process::Output {
    let mut c = notify();
    c.args(["--channel", "email", "--template", template, "--event"])
        .arg(ev)
        .env("MOBIUS_SMTP_URL", url)
        .env("MOBIUS_EMAIL_FROM", "Mobius Bot <mobius@example.com>")
        .env(
            "MOBIUS_EMAIL_TO",
            "\"Ops, Team\" <ops@example.com>, oncall@example.com",
        );
    if let Some(t) = tpl {
        c.arg("--templates").arg(t);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The mail arrived whole: envelope, headers and body, decoded by Python, as sent.
fn assert_hard_mail(mail: &Value, long: &str) {
    assert_eq!(mail["from"], "mobius@example.com");
    assert_eq!(mail["to"], json!(["ops@example.com", "oncall@example.com"]));
    assert_eq!(mail["from_header"], "Mobius Bot <mobius@example.com>");
    assert_eq!(
        mail["to_header"],
        "\"Ops, Team\" <ops@example.com>, oncall@example.com"
    );
    assert_eq!(
        mail["subject"],
        "Zurückgerollt ✓ production — ein sehr langer Betreff, der gefaltet werden muss, weil er länger als achtundsiebzig Zeichen ist"
    );
    let body = mail["body"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(body, format!("Grüße — ops\n{long}\n.dot line\nend.\n"));
    let raw = mail["data"].as_str().unwrap();
    assert!(raw.is_ascii(), "8-bit data on the wire");
    for line in raw.split("\r\n") {
        assert!(line.len() <= 998, "a line of {} octets", line.len());
    }
}

#[test]
fn plain_relay_without_credentials_delivers_encoded_mail() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_event(dir.path());
    let smtpd = Smtpd::start(&dir.path().join("received.jsonl"));
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let out = run(&url, &ev, None, &[], "rolled_back");
    assert!(out.status.success(), "{out:?}");
    let rec = record(&out.stdout);
    assert!(rec.sent);
    assert_eq!(rec.status, Some(250));
    assert_eq!(rec.destination.as_deref(), Some(url.as_str()));
    assert_eq!(
        rec.subject.as_deref(),
        Some("[MOBIUS] Rolled back: production")
    );

    let (hard, long) = hard_event(dir.path());
    let tpl = hard_template(dir.path());
    let out = run(&url, &hard, Some(&tpl), &[], "hard");
    assert!(out.status.success(), "{out:?}");

    let got = smtpd.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["tls"], Value::Null, "this server has no TLS");
    assert!(!got[0]["helo"].as_str().unwrap().is_empty());
    assert_eq!(got[0]["subject"], "[MOBIUS] Rolled back: production");
    let body = got[0]["body"].as_str().unwrap();
    assert!(body.contains("backups/dhash_production_20261126T110000.000Z.zip"));
    assert!(!body.contains("{{"));
    let raw = got[0]["data"].as_str().unwrap();
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
    assert_hard_mail(&got[1], &long);

    // Bad addresses: exit 2, the variable and the address named, nothing sent.
    for (var, bad) in [
        ("MOBIUS_EMAIL_FROM", "not an address"),
        ("MOBIUS_EMAIL_TO", "ops@example.com, Eve <eve@"),
        ("MOBIUS_EMAIL_TO", "a@b.org\r\nBcc: x@y.org"),
    ] {
        let out = run(&url, &ev, None, &[(var, bad)], "rolled_back");
        let err = assert_one_line_failure(&out, 2);
        assert!(err.contains(var), "{err}");
        assert!(err.contains("is not an email address"), "{err}");
    }
    assert_eq!(smtpd.received().len(), 2);

    // The server gone: a delivery failure (exit 4).
    drop(smtpd);
    let out = run(&url, &ev, None, &[], "rolled_back");
    assert_one_line_failure(&out, 4);
}

fn creds<'a>(ca: Option<&'a str>, password: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("MOBIUS_SMTP_USERNAME", USER),
        ("MOBIUS_SMTP_PASSWORD", password),
    ];
    if let Some(ca) = ca {
        v.push(("MOBIUS_SMTP_CACERT", ca));
    }
    v
}

/// A server with a certificate from a fresh private CA, checking USER and PASSWORD: smtps
/// with `implicit_tls`, else STARTTLS required. Also the CA's path; None without openssl.
fn tls_smtpd(dir: &Path, implicit_tls: bool) -> Option<(Smtpd, String)> {
    let certs = TestCerts::make(&dir.join("pki"))?;
    let ca = certs.ca_cert.display().to_string();
    let smtpd = Smtpd::start_with(
        &dir.join("received.jsonl"),
        &SmtpdConfig {
            tls: Some(certs),
            implicit_tls,
            require_starttls: !implicit_tls,
            auth: Some((USER.into(), PASSWORD.into())),
            ..SmtpdConfig::default()
        },
    );
    Some((smtpd, ca))
}

#[test]
fn starttls_is_required_for_auth_and_the_private_ca_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let Some((smtpd, ca)) = tls_smtpd(dir.path(), false) else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let (ev, long) = hard_event(dir.path());
    let tpl = hard_template(dir.path());

    let out = run(&url, &ev, Some(&tpl), &creds(Some(&ca), PASSWORD), "hard");
    assert!(out.status.success(), "{out:?}");
    assert_no_credentials(&out);
    assert_eq!(record(&out.stdout).status, Some(250));
    let mails = smtpd.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]["tls"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "the mail did not go over TLS: {}",
        mails[0]["tls"]
    );
    assert_eq!(mails[0]["authenticated"], true);
    assert_hard_mail(&mails[0], &long);
    let auth = smtpd.auth_attempts();
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert_eq!(auth[0]["ok"], true);
    assert_eq!(auth[0]["user"], USER);
    assert!(auth[0]["tls"].is_string(), "AUTH not under TLS: {auth:?}");

    // A wrong password: a delivery failure, and neither it nor the user in any output.
    let out = run(
        &url,
        &ev,
        Some(&tpl),
        &creds(Some(&ca), "wrong-Pa55-w0rd-QXZ9"),
        "hard",
    );
    let err = assert_one_line_failure(&out, 4);
    assert_no_credentials(&out);
    assert!(!err.contains("wrong-Pa55"), "{err}");
    assert!(err.contains("refused the login"), "{err}");
    let auth = smtpd.auth_attempts();
    assert_eq!(auth.len(), 2);
    assert_eq!(auth[1]["ok"], false);
    assert!(auth[1]["tls"].is_string());

    // Without the private CA the certificate is not trusted: one line, and nothing sent.
    let out = run(&url, &ev, Some(&tpl), &creds(None, PASSWORD), "hard");
    let err = assert_one_line_failure(&out, 4);
    assert_no_credentials(&out);
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("MOBIUS_SMTP_CACERT"), "{err}");
    // Without credentials the upgrade is still made when offered, and still verified.
    let out = run(&url, &ev, Some(&tpl), &[], "hard");
    let err = assert_one_line_failure(&out, 4);
    assert!(err.contains("certificate"), "{err}");
    assert_eq!(smtpd.auth_attempts().len(), 2);
    assert_eq!(smtpd.received().len(), 1);

    // A CA file that is not PEM (exit 3), or is missing (exit 4): one line naming it.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.display().to_string();
    let out = run(&url, &ev, Some(&tpl), &creds(Some(&junk), PASSWORD), "hard");
    let err = assert_one_line_failure(&out, 3);
    assert!(
        err.contains("MOBIUS_SMTP_CACERT") && err.contains("junk.pem"),
        "{err}"
    );
    let gone = dir.path().join("gone.pem").display().to_string();
    let out = run(&url, &ev, Some(&tpl), &creds(Some(&gone), PASSWORD), "hard");
    let err = assert_one_line_failure(&out, 4);
    assert!(err.contains("gone.pem"), "{err}");
    // Half the credentials: a usage error.
    let out = run(
        &url,
        &ev,
        Some(&tpl),
        &[("MOBIUS_SMTP_USERNAME", USER)],
        "hard",
    );
    let err = assert_one_line_failure(&out, 2);
    assert!(err.contains("MOBIUS_SMTP_PASSWORD"), "{err}");
    assert_eq!(smtpd.received().len(), 1);
}

#[test]
fn smtps_speaks_tls_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let Some((smtpd, ca)) = tls_smtpd(dir.path(), true) else {
        return;
    };
    let (ev, long) = hard_event(dir.path());
    let tpl = hard_template(dir.path());
    let url = format!("smtps://127.0.0.1:{}", smtpd.port);
    let out = run(&url, &ev, Some(&tpl), &creds(Some(&ca), PASSWORD), "hard");
    assert!(out.status.success(), "{out:?}");
    assert_no_credentials(&out);
    assert_eq!(
        record(&out.stdout).destination.as_deref(),
        Some(url.as_str())
    );
    let mails = smtpd.received();
    assert_eq!(mails.len(), 1);
    assert!(mails[0]["tls"].is_string(), "{}", mails[0]["tls"]);
    assert_hard_mail(&mails[0], &long);
    let auth = smtpd.auth_attempts();
    assert_eq!(auth.len(), 1);
    assert!(
        auth[0]["ok"] == true && auth[0]["tls"].is_string(),
        "{auth:?}"
    );

    // Plain SMTP to a TLS port is a failure, not a hang or a plain-text send.
    let plain = format!("smtp://127.0.0.1:{}", smtpd.port);
    let out = notify()
        .args([
            "--channel",
            "email",
            "--template",
            "rolled_back",
            "--timeout",
            "3s",
            "--event",
        ])
        .arg(&ev)
        .env("MOBIUS_SMTP_URL", &plain)
        .env("MOBIUS_EMAIL_FROM", "mobius@example.com")
        .env("MOBIUS_EMAIL_TO", "ops@example.com")
        .output()
        .unwrap();
    let err = assert_one_line_failure(&out, 4);
    assert!(err.contains("no answer within 3s"), "{err}");
    assert_eq!(smtpd.received().len(), 1);
}

#[test]
fn credentials_are_never_sent_to_a_server_without_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_event(dir.path());
    // This server offers AUTH over plain text and would accept the password.
    let smtpd = Smtpd::start_with(
        &dir.path().join("received.jsonl"),
        &SmtpdConfig {
            auth: Some((USER.into(), PASSWORD.into())),
            auth_over_plain: true,
            ..SmtpdConfig::default()
        },
    );
    let url = format!("smtp://127.0.0.1:{}", smtpd.port);
    let out = run(&url, &ev, None, &creds(None, PASSWORD), "rolled_back");
    let err = assert_one_line_failure(&out, 4);
    assert_no_credentials(&out);
    assert!(
        err.contains("STARTTLS") && err.contains("in clear"),
        "{err}"
    );
    assert!(
        smtpd.auth_attempts().is_empty(),
        "AUTH was attempted in clear"
    );
    assert!(smtpd.received().is_empty());
}
