//! Deployments derived from the history: a deployment is the run of events from one
//! `deploy`/`started` event up to (not including) the next one. Within it:
//!
//! - `finished`, `outcome`: the last `deploy` event with another outcome (`success`,
//!   `failure`); without one the outcome is `unfinished`.
//! - `version`, `commit`, `backup`: from the `deploy`/`started` details; `backup` falls back
//!   to the path of the first successful `backup` event in the deployment.
//! - `smoke`, `smoke_passed`, `smoke_total`: the last `smoke` event (pass|fail).
//! - `verdict`, `verdict_rule`: the last `monitor_verdict` event (pass|rollback|inconclusive).
//! - `rolled_back`: `yes` when a `rollback` event ended in `success`; `rollback_outcome` is
//!   the last rollback outcome (started, success, failure, refused), `rollback_backup` the
//!   backup it restored.
//!
//! Events before the first deployment belong to none (they are in events.jsonl).

use crate::csvsafe::CsvOut;
use mobius_core::records::Event;
use serde_json::Value;
use std::io::{self, Write};

pub const HEADER: &[&str] = &[
    "id",
    "started",
    "finished",
    "actor",
    "version",
    "commit",
    "backup",
    "smoke",
    "smoke_passed",
    "smoke_total",
    "verdict",
    "verdict_rule",
    "rolled_back",
    "rollback_outcome",
    "rollback_backup",
    "outcome",
    "first_seq",
    "last_seq",
    "events",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deployment {
    /// The `seq` of the `deploy`/`started` event.
    pub id: u64,
    pub started: String,
    pub finished: String,
    pub actor: String,
    pub version: String,
    pub commit: String,
    pub backup: String,
    pub smoke: String,
    pub smoke_passed: String,
    pub smoke_total: String,
    pub verdict: String,
    pub verdict_rule: String,
    pub rolled_back: bool,
    pub rollback_outcome: String,
    pub rollback_backup: String,
    pub outcome: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub events: u64,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Folds events into deployments, in history order.
#[derive(Debug, Default)]
pub struct Deployments {
    current: Option<Deployment>,
    done: Vec<Deployment>,
}

impl Deployments {
    pub fn push(&mut self, ev: &Event) {
        if ev.action == "deploy" && ev.outcome == "started" {
            self.close();
            self.current = Some(Deployment {
                id: ev.seq,
                started: ev.ts.clone(),
                actor: format!("{}@{}", ev.actor.user, ev.actor.host),
                version: text(&ev.details, "version"),
                commit: text(&ev.details, "commit"),
                backup: text(&ev.details, "backup"),
                outcome: "unfinished".to_owned(),
                first_seq: ev.seq,
                last_seq: ev.seq,
                events: 1,
                ..Deployment::default()
            });
            return;
        }
        let Some(d) = self.current.as_mut() else {
            return;
        };
        d.last_seq = ev.seq;
        d.events += 1;
        match ev.action.as_str() {
            "deploy" => {
                d.finished = ev.ts.clone();
                d.outcome = ev.outcome.clone();
                if d.version.is_empty() {
                    d.version = text(&ev.details, "version");
                }
                if d.commit.is_empty() {
                    d.commit = text(&ev.details, "commit");
                }
            }
            "backup" if ev.outcome == "success" && d.backup.is_empty() => {
                d.backup = text(&ev.details, "path");
            }
            "smoke" => {
                d.smoke = ev.outcome.clone();
                d.smoke_passed = text(&ev.details, "passed");
                d.smoke_total = text(&ev.details, "total");
            }
            "monitor_verdict" => {
                d.verdict = ev.outcome.clone();
                d.verdict_rule = text(&ev.details, "rule");
            }
            "rollback" => {
                d.rollback_outcome = ev.outcome.clone();
                if ev.outcome == "success" {
                    d.rolled_back = true;
                }
                let b = text(&ev.details, "backup");
                if !b.is_empty() {
                    d.rollback_backup = b;
                }
            }
            _ => {}
        }
    }

    fn close(&mut self) {
        if let Some(d) = self.current.take() {
            self.done.push(d);
        }
    }

    pub fn finish(mut self) -> Vec<Deployment> {
        self.close();
        self.done
    }
}

pub fn write_csv(out: &mut dyn Write, rows: &[Deployment]) -> io::Result<()> {
    let mut w = CsvOut::new(out, HEADER)?;
    for d in rows {
        w.row([
            d.id.to_string(),
            d.started.clone(),
            d.finished.clone(),
            d.actor.clone(),
            d.version.clone(),
            d.commit.clone(),
            d.backup.clone(),
            d.smoke.clone(),
            d.smoke_passed.clone(),
            d.smoke_total.clone(),
            d.verdict.clone(),
            d.verdict_rule.clone(),
            if d.rolled_back { "yes" } else { "no" }.to_owned(),
            d.rollback_outcome.clone(),
            d.rollback_backup.clone(),
            d.outcome.clone(),
            d.first_seq.to_string(),
            d.last_seq.to_string(),
            d.events.to_string(),
        ])?;
    }
    w.finish().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobius_core::records::Actor;
    use serde_json::json;

    fn ev(seq: u64, action: &str, outcome: &str, details: Value) -> Event {
        Event {
            seq,
            ts: format!("2026-11-{:02}T12:00:00.000Z", seq),
            env: "production".into(),
            action: action.into(),
            outcome: outcome.into(),
            actor: Actor {
                user: "ops".into(),
                host: "h".into(),
            },
            details,
            prev: String::new(),
        }
    }

    #[test]
    fn rolled_back_deployment() {
        let mut d = Deployments::default();
        let events = [
            ev(1, "backup", "success", json!({"path": "backups/early.zip"})),
            ev(
                2,
                "deploy",
                "started",
                json!({"version": "1.5.0", "commit": "abc"}),
            ),
            ev(3, "backup", "success", json!({"path": "backups/b1.zip"})),
            ev(4, "smoke", "pass", json!({"passed": 5, "total": 5})),
            ev(
                5,
                "monitor_verdict",
                "rollback",
                json!({"rule": "consecutive_failures"}),
            ),
            ev(
                6,
                "rollback",
                "started",
                json!({"backup": "backups/b1.zip"}),
            ),
            ev(
                7,
                "rollback",
                "success",
                json!({"backup": "backups/b1.zip"}),
            ),
            ev(8, "deploy", "failure", json!({})),
            ev(
                9,
                "deploy",
                "started",
                json!({"version": "1.5.1", "backup": "x.zip"}),
            ),
        ];
        for e in &events {
            d.push(e);
        }
        let rows = d.finish();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.id, r.first_seq, r.last_seq, r.events), (2, 2, 8, 7));
        assert_eq!(r.backup, "backups/b1.zip");
        assert_eq!((r.smoke.as_str(), r.smoke_passed.as_str()), ("pass", "5"));
        assert_eq!(r.verdict, "rollback");
        assert_eq!(r.verdict_rule, "consecutive_failures");
        assert!(r.rolled_back);
        assert_eq!(r.rollback_outcome, "success");
        assert_eq!(r.outcome, "failure");
        assert_eq!(r.finished, "2026-11-08T12:00:00.000Z");
        assert_eq!(rows[1].outcome, "unfinished");
        assert_eq!(rows[1].backup, "x.zip");
        assert!(!rows[1].rolled_back);
    }
}
