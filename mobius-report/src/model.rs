//! What a report draws, built while the log streams past: per target, a fixed number of
//! buckets (min/max per bucket of latency, rolling P95, success rate and error rate), the
//! failed checks (each one up to a cap, then only counted per bucket and class), the check
//! where a rule fired, and where a rollback finished. Memory does not grow with the log:
//! a year of 10 s samples takes as much as an hour.

use mobius_core::records::{Decision, ErrorClass, Rule};
use mobius_judge::window::SortedWindow;
use serde::Deserialize;
use std::borrow::Cow;

/// Buckets per chart: a new bucket opens per check until there are `2 * BUCKETS`, then
/// neighbours merge and each bucket holds twice as many checks. 600 columns are finer than
/// a printed A4 chart can show.
pub const BUCKETS: usize = 300;
/// Failed checks kept one by one per target; beyond, they are counted per bucket and class.
pub const FAILURE_CAP: usize = 400;
/// Targets drawn; samples of further targets are counted, not drawn.
pub const MAX_TARGETS: usize = 32;
/// The judge's latency window and percentile (mobius-judge --latency-window default).
const WINDOW: usize = 20;
/// Longest text kept from the log (a target, a detail, a reason), in characters.
pub const TEXT_CAP: usize = 300;
pub const REASON_CAP: usize = 2000;

/// The classes a failed check is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Timeout,
    Connect,
    Dns,
    Tls,
    Http5xx,
    Http4xx,
    HttpOther,
    Body,
    Redirect,
    Io,
    Other,
}

pub const CLASSES: usize = 11;

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::Timeout,
        Class::Connect,
        Class::Dns,
        Class::Tls,
        Class::Http5xx,
        Class::Http4xx,
        Class::HttpOther,
        Class::Body,
        Class::Redirect,
        Class::Io,
        Class::Other,
    ];

    pub fn of(error: Option<ErrorClass>, status: Option<u16>) -> Class {
        match error {
            Some(ErrorClass::Timeout) => Class::Timeout,
            Some(ErrorClass::Connect) => Class::Connect,
            Some(ErrorClass::Dns) => Class::Dns,
            Some(ErrorClass::Tls) => Class::Tls,
            Some(ErrorClass::Body) => Class::Body,
            Some(ErrorClass::Redirect) => Class::Redirect,
            Some(ErrorClass::Io) => Class::Io,
            Some(ErrorClass::Status) | None => match status {
                Some(500..=599) => Class::Http5xx,
                Some(400..=499) => Class::Http4xx,
                Some(_) => Class::HttpOther,
                None => Class::Other,
            },
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Timeout => "timeout",
            Class::Connect => "connect",
            Class::Dns => "dns",
            Class::Tls => "tls",
            Class::Http5xx => "http_5xx",
            Class::Http4xx => "http_4xx",
            Class::HttpOther => "http_status",
            Class::Body => "body",
            Class::Redirect => "redirect",
            Class::Io => "io",
            Class::Other => "failed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The thresholds drawn, and where each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub p95_ms: (f64, Source),
    pub error_rate: (f64, Source),
    pub min_success_rate: (f64, Source),
    pub min_checks: (u64, Source),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// mobius-judge's default (the verdicts did not say otherwise).
    Default,
    /// Read from the reason of the verdict that fired.
    Verdict,
    /// Given on the command line.
    Flag,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Default => "mobius-judge default",
            Source::Verdict => "from the verdict",
            Source::Flag => "from the command line",
        }
    }
}

/// The fields of a line the report needs; the rest is skipped (but must still be JSON).
/// Read with [`crate::fastpeek::peek`].
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Peek<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub ts: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub target: Option<Cow<'a, str>>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub status: Option<u64>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Names, not enums: a value a newer tool adds is drawn as "failed", not refused (and
    /// mobius-export, which reads its summary from the same decoding, never drops a line).
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub detail: Option<Cow<'a, str>>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub p95_ms: Option<f64>,
    #[serde(borrow, default)]
    pub decision: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub rule: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub checks: Option<u64>,
    /// rollback records and history events.
    #[serde(borrow, default)]
    pub outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub action: Option<Cow<'a, str>>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

impl Peek<'_> {
    pub fn status(&self) -> Option<u16> {
        self.status.and_then(|s| u16::try_from(s).ok())
    }

    pub fn error_class(&self) -> Option<ErrorClass> {
        let e = self.error.as_deref()?;
        serde_json::from_value(serde_json::Value::String(e.to_owned())).ok()
    }

    pub fn decision(&self) -> Option<Decision> {
        match self.decision.as_deref()? {
            "continue" => Some(Decision::Continue),
            "pass" => Some(Decision::Pass),
            "rollback" => Some(Decision::Rollback),
            "inconclusive" => Some(Decision::Inconclusive),
            _ => None,
        }
    }

    pub fn rule(&self) -> Option<Rule> {
        match self.rule.as_deref()? {
            "consecutive_failures" => Some(Rule::ConsecutiveFailures),
            "success_rate" => Some(Rule::SuccessRate),
            "p95_latency" => Some(Rule::P95Latency),
            "error_rate" => Some(Rule::ErrorRate),
            _ => None,
        }
    }
}

/// Min and max of the values seen, `None` when there were none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Span {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub n: u64,
}

impl Span {
    pub fn add(&mut self, v: f64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.last = v;
        self.n += 1;
    }

    fn merge(&mut self, o: &Span) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.last = o.last;
        self.n += o.n;
    }

    pub fn get(&self) -> Option<(f64, f64)> {
        (self.n > 0).then_some((self.min, self.max))
    }
}

/// Consecutive checks of one target, `first..=last` (check numbers from 1).
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub first: u64,
    pub last: u64,
    pub ok: u64,
    pub latency: Span,
    pub p95: Span,
    pub success_rate: Span,
    pub error_rate: Span,
    pub failures: [u32; CLASSES],
    /// `ts` of the first check (for the time axis).
    pub ts: String,
}

impl Bucket {
    pub fn checks(&self) -> u64 {
        self.last + 1 - self.first
    }

    fn merge(&mut self, o: &Bucket) {
        self.last = o.last;
        self.ok += o.ok;
        self.latency.merge(&o.latency);
        self.p95.merge(&o.p95);
        self.success_rate.merge(&o.success_rate);
        self.error_rate.merge(&o.error_rate);
        for (a, b) in self.failures.iter_mut().zip(o.failures) {
            *a += b;
        }
    }
}

/// One failed check, kept whole (up to [`FAILURE_CAP`] per target).
#[derive(Debug, Clone)]
pub struct Failure {
    pub check: u64,
    pub ts: String,
    pub class: Class,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

/// Where a rule fired for a target.
#[derive(Debug, Clone)]
pub struct Fired {
    pub check: u64,
    pub ts: String,
    pub rule: Option<Rule>,
    pub reason: String,
}

/// The end of a rollback run after the verdict.
#[derive(Debug, Clone)]
pub struct RollbackDone {
    pub outcome: String,
    pub ts: Option<String>,
    pub duration_ms: Option<u64>,
}

/// Everything drawn for one target.
#[derive(Debug)]
pub struct TargetRun {
    pub name: String,
    pub checks: u64,
    pub ok: u64,
    pub width: u64,
    pub buckets: Vec<Bucket>,
    pub failures: Vec<Failure>,
    pub failed: u64,
    pub class_totals: [u64; CLASSES],
    pub fired: Option<Fired>,
    /// Checks of this target read before the rollback's record: the marker goes after them.
    pub rollback_after: Option<u64>,
    pub first_ts: String,
    pub last_ts: String,
    pub latency: Span,
    pub p95: Span,
    pub error_rate: Span,
    /// Some sample carried the service's own `p95_ms`, which the judge (and the drawing)
    /// takes as that check's P95 instead of the window's.
    pub service_p95: bool,
    window: SortedWindow,
}

impl TargetRun {
    fn new(name: String) -> TargetRun {
        TargetRun {
            name,
            checks: 0,
            ok: 0,
            width: 1,
            buckets: Vec::with_capacity(2 * BUCKETS),
            failures: Vec::new(),
            failed: 0,
            class_totals: [0; CLASSES],
            fired: None,
            rollback_after: None,
            first_ts: String::new(),
            last_ts: String::new(),
            latency: Span::default(),
            p95: Span::default(),
            error_rate: Span::default(),
            service_p95: false,
            window: SortedWindow::new(WINDOW),
        }
    }

    fn sample(&mut self, p: &Peek<'_>, ok: bool, ts: &str) {
        self.checks += 1;
        let check = self.checks;
        if check == 1 {
            self.first_ts = cap(ts, 40);
        }
        // Every line: no allocation on the way (a year is 3 M of them).
        self.last_ts.clear();
        self.last_ts.push_str(&capped(ts, 40));
        if ok {
            self.ok += 1;
        }
        let latency = p.latency_ms.filter(|l| l.is_finite() && *l >= 0.0);
        if let Some(l) = latency {
            self.window.push(l);
            self.latency.add(l);
        }
        // The judge's figure: the service's own P95 when it reports one, else the window's.
        let p95 = match p.p95_ms.filter(|v| v.is_finite()) {
            Some(v) => {
                self.service_p95 = true;
                Some(v)
            }
            None => self.window.percentile(0.95),
        };
        let rate = self.ok as f64 / self.checks as f64;
        let err = p.error_rate.filter(|v| v.is_finite());

        let need_new = match self.buckets.last() {
            Some(b) => b.checks() >= self.width,
            None => true,
        };
        if need_new {
            if self.buckets.len() >= 2 * BUCKETS {
                self.halve();
            }
            let mut b = Bucket {
                first: check,
                last: check,
                ..Bucket::default()
            };
            b.ts = cap(ts, 40);
            self.buckets.push(b);
        }
        let Some(b) = self.buckets.last_mut() else {
            return;
        };
        b.last = check;
        if ok {
            b.ok += 1;
        }
        if let Some(l) = latency {
            b.latency.add(l);
        }
        if let Some(v) = p95 {
            b.p95.add(v);
            self.p95.add(v);
        }
        b.success_rate.add(rate);
        if let Some(e) = err {
            b.error_rate.add(e);
            self.error_rate.add(e);
        }
        if !ok {
            let class = Class::of(p.error_class(), p.status());
            b.failures[class.index()] += 1;
            self.class_totals[class.index()] += 1;
            self.failed += 1;
            if self.failures.len() < FAILURE_CAP {
                self.failures.push(Failure {
                    check,
                    ts: cap(ts, 40),
                    class,
                    status: p.status(),
                    latency_ms: latency,
                    detail: cap(p.detail.as_deref().unwrap_or(""), TEXT_CAP),
                });
            }
        }
    }

    /// Merges neighbouring buckets: half as many, each twice as wide.
    fn halve(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.merge(&b);
            }
            self.buckets.push(a);
        }
        self.width *= 2;
    }

    /// Whether each failed check is known one by one (else only counts per bucket).
    pub fn failures_complete(&self) -> bool {
        self.failed as usize <= self.failures.len()
    }
}

/// The whole log as the report sees it.
#[derive(Debug, Default)]
pub struct Run {
    pub targets: Vec<TargetRun>,
    /// Samples of targets beyond [`MAX_TARGETS`], and how many such targets.
    pub extra_samples: u64,
    pub extra_targets: Vec<String>,
    pub samples: u64,
    pub lines: u64,
    /// The last overall (`"*"`) verdict that is not `continue`.
    pub overall: Option<OverallVerdict>,
    pub rollback: Option<RollbackDone>,
    /// Thresholds read from the reasons of verdicts that fired.
    pub seen_p95_ms: Option<f64>,
    pub seen_error_rate: Option<f64>,
    pub seen_min_success_rate: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct OverallVerdict {
    pub decision: Decision,
    pub rule: Option<Rule>,
    pub reason: String,
    pub ts: String,
    pub checks: u64,
}

/// Why a line is not a record the report can draw.
pub type LineProblem = String;

impl Run {
    /// Takes one decoded line. `Err` says what is wrong with a sample or verdict that lacks
    /// the fields the report needs.
    pub fn record(&mut self, p: &Peek<'_>) -> Result<(), LineProblem> {
        self.lines += 1;
        match p.kind.as_deref() {
            Some("sample") => {
                let (Some(ts), Some(target), Some(ok)) =
                    (p.ts.as_deref(), p.target.as_deref(), p.ok)
                else {
                    return Err("a sample needs ts, target and ok".to_owned());
                };
                self.samples += 1;
                if let Some(t) = self.target(target) {
                    t.sample(p, ok, ts);
                }
            }
            Some("verdict") => {
                let (Some(target), Some(decision)) = (p.target.as_deref(), p.decision()) else {
                    return Err("a verdict needs target and decision".to_owned());
                };
                self.verdict(p, target, decision);
            }
            Some("rollback") => {
                // mobius-rollback's record: no time of its own, it ends the run.
                self.rollback_done(
                    p.outcome.as_deref().unwrap_or("unknown"),
                    None,
                    p.duration_ms,
                );
            }
            Some("event") if p.action.as_deref() == Some("rollback") => {
                let outcome = p.outcome.as_deref().unwrap_or("");
                if outcome != "started" {
                    self.rollback_done(outcome, p.ts.as_deref(), None);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn target(&mut self, name: &str) -> Option<&mut TargetRun> {
        let name = capped(name, TEXT_CAP);
        match self.targets.iter().position(|t| t.name == name) {
            Some(i) => self.targets.get_mut(i),
            None if self.targets.len() < MAX_TARGETS => {
                self.targets.push(TargetRun::new(name.into_owned()));
                self.targets.last_mut()
            }
            None => {
                self.extra_samples += 1;
                if self.extra_targets.len() < 10 && !self.extra_targets.iter().any(|t| *t == name) {
                    self.extra_targets.push(name.into_owned());
                }
                None
            }
        }
    }

    fn verdict(&mut self, p: &Peek<'_>, target: &str, decision: Decision) {
        let reason = cap(p.reason.as_deref().unwrap_or(""), REASON_CAP);
        let ts = cap(p.ts.as_deref().unwrap_or(""), 40);
        if decision == Decision::Rollback {
            self.thresholds_from(p.rule(), &reason);
        }
        if target == "*" {
            if decision != Decision::Continue {
                self.overall = Some(OverallVerdict {
                    decision,
                    rule: p.rule(),
                    reason,
                    ts,
                    checks: p.checks.unwrap_or(0),
                });
            }
            return;
        }
        if decision != Decision::Rollback {
            return;
        }
        let name = cap(target, TEXT_CAP);
        if let Some(t) = self.targets.iter_mut().find(|t| t.name == name) {
            if t.fired.is_none() {
                t.fired = Some(Fired {
                    check: p.checks.unwrap_or(t.checks).min(t.checks.max(1)),
                    ts,
                    rule: p.rule(),
                    reason,
                });
            }
        }
    }

    fn rollback_done(&mut self, outcome: &str, ts: Option<&str>, duration_ms: Option<u64>) {
        let prev = self.rollback.take();
        self.rollback = Some(RollbackDone {
            outcome: cap(outcome, 40),
            ts: ts
                .map(|t| cap(t, 40))
                .or_else(|| prev.as_ref().and_then(|p| p.ts.clone())),
            duration_ms: duration_ms.or_else(|| prev.as_ref().and_then(|p| p.duration_ms)),
        });
        for t in &mut self.targets {
            t.rollback_after.get_or_insert(t.checks);
        }
    }

    /// The judge writes its thresholds into the reason of a verdict that fired
    /// ("... above 5000 ms at 5 consecutive checks", "... is below 70% (...)").
    fn thresholds_from(&mut self, rule: Option<Rule>, reason: &str) {
        match rule {
            Some(Rule::P95Latency) => {
                if let Some(v) = number_after(reason, " above ", " ms") {
                    self.seen_p95_ms = Some(v);
                }
            }
            Some(Rule::ErrorRate) => {
                if let Some(v) = number_after(reason, " above ", "%") {
                    self.seen_error_rate = Some(v / 100.0);
                }
            }
            Some(Rule::SuccessRate) => {
                if let Some(v) = number_after(reason, " is below ", "%") {
                    self.seen_min_success_rate = Some(v / 100.0);
                }
            }
            _ => {}
        }
    }

    /// The thresholds: flags first, then what the verdicts said, then the judge's defaults.
    pub fn thresholds(&self, flags: &Overrides) -> Thresholds {
        fn pick<T: Copy>(flag: Option<T>, seen: Option<T>, default: T) -> (T, Source) {
            match (flag, seen) {
                (Some(v), _) => (v, Source::Flag),
                (None, Some(v)) => (v, Source::Verdict),
                (None, None) => (default, Source::Default),
            }
        }
        Thresholds {
            p95_ms: pick(flags.p95_ms, self.seen_p95_ms, 5000.0),
            error_rate: pick(flags.error_rate, self.seen_error_rate, 0.05),
            min_success_rate: pick(flags.min_success_rate, self.seen_min_success_rate, 0.70),
            min_checks: pick(flags.min_checks, None, 5),
        }
    }
}

/// Thresholds given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub min_success_rate: Option<f64>,
    pub min_checks: Option<u64>,
}

/// The number in `text` right after the last `before` and ending at `unit`.
fn number_after(text: &str, before: &str, unit: &str) -> Option<f64> {
    let start = text.rfind(before)? + before.len();
    let rest = &text[start..];
    let end = rest.find(unit)?;
    rest[..end]
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn cap(s: &str, max: usize) -> String {
    capped(s, max).into_owned()
}

/// [`cap`], borrowing when nothing is cut (the usual case: no copy per line).
pub fn capped(s: &str, max: usize) -> Cow<'_, str> {
    // Fewer bytes than `max` means fewer characters: no need to count them.
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => {
            let mut out = s[..i].to_owned();
            out.push('…');
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peek(line: &str) -> Peek<'_> {
        serde_json::from_str(line).expect("test line")
    }

    fn sample(ok: bool, latency: f64) -> String {
        format!(
            r#"{{"type":"sample","seq":1,"ts":"2026-11-26T12:00:00.000Z","target":"t","ok":{ok},"status":{},"latency_ms":{latency},"error":null,"detail":"d"}}"#,
            if ok { 200 } else { 503 }
        )
    }

    #[test]
    fn buckets_stay_bounded_and_keep_every_check() {
        let mut run = Run::default();
        let ok = sample(true, 5.0);
        let bad = sample(false, 7.0);
        for i in 0..100_000u32 {
            let line = if i % 1000 == 0 { &bad } else { &ok };
            run.record(&peek(line)).expect("sample");
        }
        let t = &run.targets[0];
        assert!(t.buckets.len() <= 2 * BUCKETS && t.buckets.len() >= BUCKETS / 2);
        let total: u64 = t.buckets.iter().map(Bucket::checks).sum();
        assert_eq!(total, 100_000);
        let failed: u32 = t
            .buckets
            .iter()
            .map(|b| b.failures[Class::Http5xx.index()])
            .sum();
        assert_eq!((failed, t.failed, t.failures.len()), (100, 100, 100));
        assert_eq!(t.buckets.last().map(|b| b.last), Some(100_000));
    }

    #[test]
    fn thresholds_come_from_flags_then_verdicts_then_defaults() {
        let mut run = Run::default();
        let v = r#"{"type":"verdict","ts":"x","target":"t","decision":"rollback","rule":"p95_latency","reason":"P95 latency 900.5 ms of t above 800 ms at 5 consecutive checks (checks 5-9, over the last 9 latencies)","checks":9}"#;
        run.record(&peek(v)).expect("verdict");
        let t = run.thresholds(&Overrides::default());
        assert_eq!(t.p95_ms, (800.0, Source::Verdict));
        assert_eq!(t.error_rate, (0.05, Source::Default));
        let t = run.thresholds(&Overrides {
            p95_ms: Some(100.0),
            ..Overrides::default()
        });
        assert_eq!(t.p95_ms, (100.0, Source::Flag));
    }

    #[test]
    fn rolling_p95_is_the_judges_over_the_last_20_latencies() {
        let mut run = Run::default();
        let lat: Vec<f64> = (0..300u32).map(|i| f64::from((i * 37) % 101)).collect();
        for (i, l) in lat.iter().enumerate() {
            run.record(&peek(&sample(true, *l))).expect("sample");
            let from = (i + 1).saturating_sub(WINDOW);
            let want = mobius_judge::window::percentile(&lat[from..=i], 0.95);
            let b = run.targets[0].buckets.last().expect("bucket");
            assert_eq!(Some(b.p95.last), want, "check {}", i + 1);
        }
    }

    #[test]
    fn cap_cuts_on_characters() {
        assert_eq!(cap("héllo", 2), "hé…");
        assert_eq!(cap("ok", 2), "ok");
    }
}
