//! What the notify tests share: the binary with a clean environment, a sample event, and
//! the one JSON-lines record it prints.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use mobius_core::records::{NotificationRecord, Record};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// mobius-notify with none of its variables inherited from the caller's environment.
pub fn notify() -> Command {
    let mut c = Command::cargo_bin("mobius-notify").unwrap();
    for v in [
        "MOBIUS_SLACK_WEBHOOK",
        "MOBIUS_TEAMS_WEBHOOK",
        "MOBIUS_SMTP_URL",
        "MOBIUS_SMTP_USERNAME",
        "MOBIUS_SMTP_PASSWORD",
        "MOBIUS_SMTP_CACERT",
        "MOBIUS_EMAIL_FROM",
        "MOBIUS_EMAIL_TO",
        "MOBIUS_TEMPLATES",
        "MOBIUS_ROOT",
    ] {
        c.env_remove(v);
    }
    c
}

pub fn event() -> Value {
    json!({"type": "event", "seq": 12, "ts": "2026-11-26T12:00:00.000Z", "env": "production",
           "action": "rollback", "outcome": "success", "actor": {"user": "ops", "host": "web1"},
           "details": {"backup": "backups/dhash_production_20261126T110000.000Z.zip",
                       "safety_backup": "backups/pre-rollback_production_20261126T120000.000Z.zip",
                       "files_restored": 3, "reason": null},
           "prev": "0000"})
}

/// The one record on stdout, decoded into the real type.
pub fn record(stdout: &[u8]) -> NotificationRecord {
    let text = std::str::from_utf8(stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    match serde_json::from_str::<Record>(lines[0]).unwrap() {
        Record::Notification(r) => r,
        other => panic!("{other:?}"),
    }
}

pub fn write_event(dir: &Path) -> PathBuf {
    write_json(dir, "event.json", &event())
}

pub fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}
