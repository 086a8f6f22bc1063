//! The per-run summary of a monitoring log, built while the log streams into the bundle:
//! counters, the first and last timestamps, the set of targets (capped), one latency window
//! per target (the judge's 20 checks), and the last verdict. Memory does not grow with the
//! log's length.
//!
//! `p95_ms` is the judge's figure at the end of the run: the P95 of the last 20 latencies
//! of a target (linear interpolation, [`mobius_judge::window::percentile`]), the highest
//! over the targets. `max_p95_ms` is the highest that figure reached during the run, from
//! a target's 5th check on (when the judge's P95 rule starts to apply).

use crate::csvsafe::{num, CsvOut};
use mobius_judge::window::SortedWindow;
// The fields of a line, decoded once for the summary and for mobius-report's page.
use mobius_report::model::Peek;
use std::collections::HashMap;
use std::io::{self, Write};

/// The judge's latency window and the check from which its P95 rule applies.
const WINDOW: usize = 20;
const MIN_CHECKS: u64 = 5;
/// More distinct targets than this in one log are counted, not tracked one by one.
const MAX_TARGETS: usize = 256;

pub const HEADER: &[&str] = &[
    "file",
    "first_ts",
    "last_ts",
    "targets",
    "checks",
    "ok_checks",
    "failed_checks",
    "success_rate",
    "p95_ms",
    "max_p95_ms",
    "verdict",
    "verdict_rule",
    "verdict_reason",
    "verdict_ts",
    "lines",
    "unreadable_lines",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalVerdict {
    pub decision: String,
    pub rule: String,
    pub reason: String,
    pub ts: String,
}

struct TargetState {
    checks: u64,
    window: SortedWindow,
}

/// The summary of one monitoring run (one log file).
pub struct RunSummary {
    pub file: String,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub checks: u64,
    pub ok: u64,
    pub lines: u64,
    pub unreadable: u64,
    pub max_p95: Option<f64>,
    pub verdict: Option<FinalVerdict>,
    targets: HashMap<String, TargetState>,
    extra_targets: u64,
    /// The run drawn by mobius-report as the log streams past (bundled beside the log).
    pub report: mobius_report::Lenient,
}

impl RunSummary {
    pub fn new(file: String) -> RunSummary {
        RunSummary {
            file,
            first_ts: None,
            last_ts: None,
            checks: 0,
            ok: 0,
            lines: 0,
            unreadable: 0,
            max_p95: None,
            verdict: None,
            targets: HashMap::new(),
            extra_targets: 0,
            report: mobius_report::Lenient::new(),
        }
    }

    /// Takes one line of the log (without its newline).
    pub fn line(&mut self, text: &str) {
        self.lines += 1;
        if text.trim().is_empty() {
            return;
        }
        let Ok(p) = mobius_report::fastpeek::peek(text) else {
            self.unreadable += 1;
            return;
        };
        self.report.record(&p);
        match p.kind.as_deref() {
            Some("sample") => self.sample(&p),
            Some("verdict") => self.verdict(&p),
            _ => {}
        }
    }

    fn sample(&mut self, p: &Peek<'_>) {
        if let Some(ts) = p.ts.as_deref() {
            if self.first_ts.is_none() {
                self.first_ts = Some(ts.to_owned());
            }
            match &mut self.last_ts {
                Some(last) => {
                    last.clear();
                    last.push_str(ts);
                }
                None => self.last_ts = Some(ts.to_owned()),
            }
        }
        self.checks += 1;
        if p.ok == Some(true) {
            self.ok += 1;
        }
        let target = p.target.as_deref().unwrap_or("");
        if !self.targets.contains_key(target) {
            if self.targets.len() >= MAX_TARGETS {
                self.extra_targets += 1;
                return;
            }
            self.targets.insert(
                target.to_owned(),
                TargetState {
                    checks: 0,
                    window: SortedWindow::new(WINDOW),
                },
            );
        }
        let Some(state) = self.targets.get_mut(target) else {
            return;
        };
        state.checks += 1;
        if let Some(l) = p.latency_ms.filter(|l| l.is_finite()) {
            state.window.push(l);
            if state.checks >= MIN_CHECKS {
                let p95 = state.window.percentile(0.95);
                if p95 > self.max_p95 {
                    self.max_p95 = p95;
                }
            }
        }
    }

    fn verdict(&mut self, p: &Peek<'_>) {
        if p.target.as_deref() != Some("*") {
            return;
        }
        let decision = p.decision.as_deref().unwrap_or("");
        // A `continue` never replaces a decision already seen.
        if decision == "continue" && self.verdict.is_some() {
            return;
        }
        self.verdict = Some(FinalVerdict {
            decision: decision.to_owned(),
            rule: p.rule.as_deref().unwrap_or("").to_owned(),
            reason: p.reason.as_deref().unwrap_or("").to_owned(),
            ts: p.ts.as_deref().unwrap_or("").to_owned(),
        });
    }

    pub fn target_count(&self) -> u64 {
        self.targets.len() as u64 + u64::from(self.extra_targets > 0)
    }

    /// The judge's P95 at the end of the run, the highest over the targets.
    pub fn p95(&self) -> Option<f64> {
        self.targets
            .values()
            .filter_map(|t| t.window.percentile(0.95))
            .reduce(f64::max)
    }

    pub fn success_rate(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.ok as f64 / self.checks as f64)
    }
}

pub fn write_csv(out: &mut dyn Write, runs: &[RunSummary]) -> io::Result<()> {
    let mut w = CsvOut::new(out, HEADER)?;
    for r in runs {
        let v = r.verdict.clone().unwrap_or_default();
        let targets = if r.extra_targets > 0 {
            format!("{}+", r.targets.len())
        } else {
            r.targets.len().to_string()
        };
        w.row([
            r.file.clone(),
            r.first_ts.clone().unwrap_or_default(),
            r.last_ts.clone().unwrap_or_default(),
            targets,
            r.checks.to_string(),
            r.ok.to_string(),
            (r.checks - r.ok).to_string(),
            num(r.success_rate(), 4),
            num(r.p95(), 3),
            num(r.max_p95, 3),
            v.decision,
            v.rule,
            v.reason,
            v.ts,
            r.lines.to_string(),
            r.unreadable.to_string(),
        ])?;
    }
    w.finish().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: u64, ok: bool, latency: f64) -> String {
        format!(
            r#"{{"type":"sample","seq":{seq},"ts":"2026-11-26T12:00:{:02}.000Z","target":"http://x/health","ok":{ok},"status":200,"latency_ms":{latency},"error":null,"detail":""}}"#,
            seq % 60
        )
    }

    #[test]
    fn counts_p95_and_verdict() {
        let mut s = RunSummary::new("x.jsonl".into());
        for i in 1..=20u32 {
            s.line(&sample(u64::from(i), i != 7, f64::from(i)));
        }
        s.line(r#"{"type":"verdict","ts":"t1","target":"*","decision":"continue","rule":null,"reason":"r","checks":20}"#);
        s.line(r#"{"type":"verdict","ts":"t2","target":"*","decision":"rollback","rule":"p95_latency","reason":"P95 high","checks":20}"#);
        s.line(r#"{"type":"verdict","ts":"t3","target":"*","decision":"continue","rule":null,"reason":"","checks":20}"#);
        s.line("garbage");
        assert_eq!((s.checks, s.ok, s.lines, s.unreadable), (20, 19, 24, 1));
        // numpy.percentile(range(1, 21), 95) == 19.05
        assert!((s.p95().unwrap() - 19.05).abs() < 1e-9);
        assert!((s.max_p95.unwrap() - 19.05).abs() < 1e-9);
        let v = s.verdict.clone().unwrap();
        assert_eq!(
            (v.decision.as_str(), v.rule.as_str()),
            ("rollback", "p95_latency")
        );
        assert_eq!(s.first_ts.as_deref(), Some("2026-11-26T12:00:01.000Z"));
        assert_eq!(s.target_count(), 1);
    }

    #[test]
    fn window_forgets_old_latencies() {
        let mut s = RunSummary::new("x".into());
        s.line(&sample(1, true, 9000.0));
        for i in 2..=40 {
            s.line(&sample(i, true, 10.0));
        }
        assert_eq!(s.p95(), Some(10.0));
        // The 9000 ms check was in the window at checks 5..=20.
        assert!(s.max_p95.unwrap() > 1000.0);
    }
}
