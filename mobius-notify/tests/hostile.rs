//! A hostile event (every field: Slack control sequences, forged links, quotes, backslashes,
//! control characters, 100 KB strings, non-ASCII) through EVERY template in
//! templates/notifications: Slack and Teams output must parse, hold the services' limits and
//! carry nothing from the event that Slack would read as a mention or a link; email goes to
//! a real aiosmtpd and must arrive decodable, with no line over 998 octets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{notify, record, write_json};
use mobius_notify::limits;
use mobius_tests::Smtpd;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn hostile(tag: &str) -> String {
    format!(
        "{tag} <!channel> <!here> <@U123> <https://evil.example|click> [x](https://evil.example) & &amp; \" \\ \\\" '\n\r\t\u{0}\u{7}\u{1b}[31m \u{202e}ünïcødé ✓ 🚀 </script>{}",
        "Ω".repeat(50_000)
    )
}

fn hostile_event() -> Value {
    let h = hostile;
    json!({"type": "event", "seq": h("seq"), "ts": h("ts"), "env": h("env"),
           "action": h("action"), "outcome": h("outcome"),
           "actor": {"user": h("user"), "host": h("host")},
           "details": {"backup": h("backup"), "safety_backup": h("safety"),
                       "files_restored": h("files"), "reason": h("reason"),
                       "version": h("version"), "commit": h("commit")},
           "reason": h("toplevel-reason"), "prev": "00"})
}

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/notifications")
}

/// Every template: (channel, name).
fn every_template() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for ch in ["slack", "teams", "email"] {
        for e in std::fs::read_dir(templates_dir().join(ch)).unwrap() {
            let p = e.unwrap().path();
            all.push((
                ch.to_owned(),
                p.file_stem().unwrap().to_string_lossy().into_owned(),
            ));
        }
    }
    all.sort();
    assert!(all.len() >= 12, "{all:?}");
    all
}

const VARS: [&str; 4] = [
    "--var",
    "runbook_url=https://wiki.example/rb?a=<!channel>&b=\"x\"|y z",
    "--var",
    "log_url=https://ci.example/run/7",
];

/// Every string in `v` with the member name it sits under.
fn strings<'a>(v: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

fn chars(v: &Value, ptr: &str) -> usize {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .count()
}

fn check_slack(label: &str, m: &Value) {
    assert!(m["text"].as_str().unwrap().chars().count() <= limits::SLACK_TEXT);
    let blocks = m["blocks"].as_array().unwrap();
    assert!(
        !blocks.is_empty() && blocks.len() <= limits::SLACK_BLOCKS,
        "{label}"
    );
    for (i, b) in blocks.iter().enumerate() {
        let p = |s: &str| format!("/blocks/{i}{s}");
        match b["type"].as_str().unwrap() {
            "header" => assert!(
                chars(m, &p("/text/text")) <= limits::SLACK_HEADER,
                "{label}"
            ),
            "section" => {
                assert!(
                    chars(m, &p("/text/text")) <= limits::SLACK_SECTION_TEXT,
                    "{label}"
                );
                let fields = b["fields"].as_array().map_or(&[][..], Vec::as_slice);
                assert!(fields.len() <= limits::SLACK_FIELDS, "{label}");
                for f in fields {
                    assert!(
                        f["text"].as_str().unwrap().chars().count() <= limits::SLACK_FIELD_TEXT
                    );
                }
            }
            "context" => {
                let els = b["elements"].as_array().unwrap();
                assert!(els.len() <= limits::SLACK_CONTEXT_ELEMENTS);
                for e in els {
                    assert!(
                        e["text"].as_str().unwrap().chars().count() <= limits::SLACK_TEXT_OBJECT
                    );
                }
            }
            "actions" => {
                for e in b["elements"].as_array().unwrap() {
                    assert_eq!(e["type"], "button", "{label}");
                    assert!(chars(e, "/text/text") <= limits::SLACK_BUTTON_TEXT);
                    assert!(chars(e, "/url") <= limits::SLACK_URL);
                }
            }
            other => panic!("{label}: block type {other} not checked here"),
        }
    }
    let mut all = Vec::new();
    strings(m, "", &mut all);
    let mut cut = false;
    for (key, s) in all {
        assert!(!s.contains("<!"), "{label}: {key} has a mention: {s:.200}");
        assert!(!s.contains("<http"), "{label}: {key} has a link: {s:.200}");
        assert!(!s.contains("<@"), "{label}: {key} has a user mention");
        assert!(
            !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{label}: {key} has a control character"
        );
        if key == "url" {
            assert!(!s.contains(['<', '>', ' ', '"', '|']), "{label}: url {s}");
            continue;
        }
        // Every & is an entity: the event's own `&` and `&amp;` arrive as text.
        for (i, _) in s.match_indices('&') {
            let rest = &s[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "{label}: {key}: bare & in {:.80}",
                rest
            );
        }
        cut |= s.ends_with(limits::MARK);
    }
    assert!(
        cut,
        "{label}: nothing was cut, the 100 KB fields cannot all fit"
    );
}

const BODY_TYPES: [&str; 7] = [
    "TextBlock",
    "FactSet",
    "ColumnSet",
    "Container",
    "Image",
    "ActionSet",
    "RichTextBlock",
];

fn check_teams(label: &str, m: &Value) {
    let compact = serde_json::to_string(m).unwrap();
    assert!(
        compact.len() <= limits::TEAMS_MAX_BYTES,
        "{label}: {} bytes",
        compact.len()
    );
    assert_eq!(m["type"], "message");
    let att = &m["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard", "{label}");
    assert!(card["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("1.")));
    let body = card["body"].as_array().unwrap();
    assert!(!body.is_empty());
    for el in body {
        let t = el["type"].as_str().unwrap();
        assert!(BODY_TYPES.contains(&t), "{label}: element type {t}");
        match t {
            "TextBlock" => assert!(el["text"].is_string(), "{label}"),
            "FactSet" => {
                for f in el["facts"].as_array().unwrap() {
                    assert!(
                        f["title"].is_string() && f["value"].is_string(),
                        "{label}: {f}"
                    );
                }
            }
            _ => {}
        }
    }
    for a in card["actions"].as_array().unwrap() {
        assert_eq!(a["type"], "Action.OpenUrl", "{label}");
        assert!(a["title"].is_string() && a["url"].is_string());
    }
    let mut all = Vec::new();
    strings(card, "", &mut all);
    for (key, s) in all {
        assert!(
            !s.contains("](https://evil"),
            "{label}: {key} has a forged link"
        );
        assert!(
            !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{label}: {key} has a control character"
        );
    }
}

#[test]
fn a_hostile_event_through_every_template() {
    let dir = tempfile::tempdir().unwrap();
    let ev = write_json(dir.path(), "hostile.json", &hostile_event());
    let smtpd = Smtpd::start(&dir.path().join("received.jsonl"));
    let mut mails = 0;
    for (channel, name) in every_template() {
        let label = format!("{channel}/{name}");
        if channel == "email" {
            let out = notify()
                .args(["--channel", "email", "--template", &name, "--event"])
                .arg(&ev)
                .arg("--templates")
                .arg(templates_dir())
                .args(VARS)
                .env(
                    "MOBIUS_SMTP_URL",
                    format!("smtp://127.0.0.1:{}", smtpd.port),
                )
                .env("MOBIUS_EMAIL_FROM", "mobius@example.com")
                .env("MOBIUS_EMAIL_TO", "ops@example.com")
                .output()
                .unwrap();
            assert!(out.status.success(), "{label}: {out:?}");
            mails += 1;
            let got = smtpd.received();
            let mail = got.last().unwrap();
            let raw = mail["data"].as_str().unwrap();
            assert!(raw.is_ascii(), "{label}");
            assert!(
                raw.split("\r\n").all(|l| l.len() <= 998),
                "{label}: a long line"
            );
            let subject = mail["subject"].as_str().unwrap();
            assert!(!subject.contains(['\n', '\r']), "{label}: {subject:.100}");
            assert!(subject.contains("ünïcødé"), "{label}: {subject:.200}");
            let body = mail["body"].as_str().unwrap();
            assert!(
                body.contains(&"Ω".repeat(50_000)),
                "{label}: the body lost text"
            );
            continue;
        }
        let out = notify()
            .args([
                "--channel",
                &channel,
                "--template",
                &name,
                "--dry-run",
                "--event",
            ])
            .arg(&ev)
            .arg("--templates")
            .arg(templates_dir())
            .args(VARS)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered: Value = serde_json::from_str(&record(&out.stdout).rendered.unwrap())
            .unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
        match channel.as_str() {
            "slack" => check_slack(&label, &rendered),
            _ => check_teams(&label, &rendered),
        }
    }
    assert_eq!(smtpd.received().len(), mails);
}
