//! The rollback rules of docs/CONTRACT.md §5 as a state machine over checks. It knows nothing of
//! lines or I/O: feed it [`Check`]s in input order with [`Judge::observe`], ask for the
//! verdicts, and call [`Judge::final_verdict`] at the end. Every figure comes from the
//! checks themselves (their `ts`, never the clock), so the same checks give the same verdicts.
//!
//! Precise meaning of the rules (check numbers count the checks of one target, from 1):
//!
//! 1. `consecutive_failures`: fires at the check that makes `--consecutive-failures` failed
//!    checks (`ok: false`) in a row.
//! 2. `success_rate`: evaluated at check `--min-checks` and every check after it; fires when
//!    successes / checks < `--min-success-rate` (7/10 = 70% does not fire at 70%).
//! 3. `p95_latency`: a check's P95 is the sample's `p95_ms` when present, else the linear
//!    P95 (numpy's default) of the last `--latency-window` `latency_ms` values of the target
//!    (null latencies are not values; failed checks with a latency are). The rule is evaluated
//!    from check `--min-checks` on: each evaluated check with a P95 above `--p95-ms` adds one
//!    to the streak, any other check (P95 not above, or no P95 at all) resets it. It fires when
//!    the streak reaches `--sustained`, so with the defaults no earlier than check 9
//!    (checks 5, 6, 7, 8, 9). A slow check before check 5 counts in the window, not in the streak.
//! 4. `error_rate`: each check whose sample has `error_rate` above `--error-rate` adds one
//!    to its streak; a check at or below it, or without `error_rate`, resets it. It fires when
//!    the streak reaches `--sustained` (the contract gives this rule no minimum, so check 5 at
//!    the earliest with the defaults).
//!
//! A target whose samples carry `metrics` (the probe had a metrics source) but brought fewer
//! than `--sustained` error rates ends `inconclusive` with rule `error_rate`: the rule could
//! not be evaluated on metrics that never came. (The P95 rule needs no metrics: without the
//! service's `p95_ms` it uses the checks' own latencies.)
//!
//! All rules are updated at every check; the first in this order that fires decides. A target
//! whose rule fired stays at rollback; later checks of it fire nothing new.

use crate::input::Check;
use crate::window::Window;
use mobius_core::records::{Decision, Rule, Verdict};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

/// The thresholds (CLI flags; defaults are the contract's).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub consecutive_failures: u64,
    pub min_success_rate: f64,
    pub min_checks: u64,
    pub p95_ms: f64,
    pub latency_window: usize,
    pub error_rate: f64,
    pub sustained: u64,
    pub quorum: usize,
    /// The run must span this long, else the final verdict is inconclusive.
    pub duration: Option<Duration>,
    /// The probe's interval; estimated from the samples when not given.
    pub interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            consecutive_failures: 3,
            min_success_rate: 0.70,
            min_checks: 5,
            p95_ms: 5000.0,
            latency_window: 20,
            error_rate: 0.05,
            sustained: 5,
            quorum: 1,
            duration: None,
            interval: None,
        }
    }
}

/// How many intervals a run's span may fall short of `--duration` and still count as
/// complete: the last check is due one interval before the end, and a check's timestamp may
/// lag its schedule by up to one more (a slow check, a busy machine).
pub const DURATION_SLACK_INTERVALS: u32 = 2;

/// A guard on memory: a stream naming more distinct targets than this is not a probe's.
pub const MAX_TARGETS: usize = 10_000;

/// The RFC 3339 time of a final verdict when there was no sample to take one from.
pub const NO_TIME: &str = "1970-01-01T00:00:00.000Z";

/// How one failed check is named in a reason ("timeout", "status 503").
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Class(&'static str),
    Status(u16),
    Other(String),
    Unknown,
}

impl Failure {
    fn of(c: &Check<'_>) -> Failure {
        const CLASSES: [&str; 7] = ["timeout", "connect", "dns", "tls", "body", "redirect", "io"];
        match (c.error.as_deref(), c.status) {
            (Some("status") | None, Some(code)) => Failure::Status(code),
            (Some(e), _) => match CLASSES.iter().find(|k| **k == e) {
                Some(k) => Failure::Class(k),
                None => Failure::Other(e.chars().take(40).collect()),
            },
            (None, None) => Failure::Unknown,
        }
    }

    fn write(&self, s: &mut String) {
        let _ = match self {
            Failure::Class(k) => write!(s, "{k}"),
            Failure::Status(code) => write!(s, "status {code}"),
            Failure::Other(e) => write!(s, "{e}"),
            Failure::Unknown => write!(s, "failed"),
        };
    }
}

/// The failures named in a consecutive-failures reason (the last few).
const NAMED_FAILURES: usize = 5;

#[derive(Debug, Clone)]
struct Target {
    name: String,
    checks: u64,
    successes: u64,
    consecutive: u64,
    recent_failures: VecDeque<Failure>,
    window: Window,
    p95_streak: u64,
    error_streak: u64,
    /// The service's own P95 in this check's sample, which replaces the window's.
    p95_service: Option<f64>,
    error_rate: Option<f64>,
    error_rate_seen: bool,
    /// Checks whose sample says the probe had a metrics source, and those that brought an
    /// error rate: the judge must not pass on metrics asked for and never got.
    metrics_configured: u64,
    error_rate_checks: u64,
    /// The `ts` of this target's previous check, in input order.
    prev_ms: Option<i64>,
    /// Gaps (ms) from each check to the next, as counts per length: the median gives the
    /// interval and the capped sum the time covered (see [`Judge::coverage`]). Lengths are
    /// kept to four significant digits ([`quantize`]), so the map stays small whatever the
    /// stream (a few entries for a real probe, at most some thousands per decade).
    gaps: BTreeMap<u64, u64>,
    /// Checks stamped earlier than the one before them.
    backwards: u64,
    fired: Option<(Rule, String)>,
}

impl Target {
    fn new(name: &str, cfg: &Config) -> Target {
        Target {
            name: name.to_owned(),
            checks: 0,
            successes: 0,
            consecutive: 0,
            recent_failures: VecDeque::new(),
            window: Window::new(cfg.latency_window, cfg.p95_ms),
            p95_streak: 0,
            error_streak: 0,
            p95_service: None,
            error_rate: None,
            error_rate_seen: false,
            metrics_configured: 0,
            error_rate_checks: 0,
            prev_ms: None,
            gaps: BTreeMap::new(),
            backwards: 0,
            fired: None,
        }
    }

    /// This check's P95: the service's, else the window's (computed here, off the hot path).
    fn p95(&self) -> Option<f64> {
        self.p95_service.or_else(|| self.window.percentile(0.95))
    }

    fn success_rate(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.successes as f64 / self.checks as f64)
    }

    /// Updates every rule's state with one check and returns the rule that fires now, if any.
    fn update(&mut self, c: &Check<'_>, cfg: &Config) -> Option<Rule> {
        self.checks += 1;
        if let Some(prev) = self.prev_ms {
            match u64::try_from(c.ts_ms.saturating_sub(prev)) {
                Ok(gap) => *self.gaps.entry(quantize(gap)).or_insert(0) += 1,
                Err(_) => self.backwards += 1,
            }
        }
        self.prev_ms = Some(c.ts_ms);
        if c.ok {
            self.successes += 1;
            self.consecutive = 0;
            self.recent_failures.clear();
        } else {
            self.consecutive += 1;
            if self.recent_failures.len() == NAMED_FAILURES {
                self.recent_failures.pop_front();
            }
            self.recent_failures.push_back(Failure::of(c));
        }
        if let Some(ms) = c.latency_ms {
            self.window.push(ms);
        }
        self.p95_service = c.p95_ms;
        let evaluated = self.checks >= cfg.min_checks;
        let p95_above = evaluated
            && match c.p95_ms {
                Some(p) => p > cfg.p95_ms,
                None => self.window.percentile_above(0.95),
            };
        self.p95_streak = if p95_above { self.p95_streak + 1 } else { 0 };
        self.error_rate = c.error_rate;
        self.error_rate_seen |= c.error_rate.is_some();
        self.metrics_configured += u64::from(c.metrics.is_some());
        self.error_rate_checks += u64::from(c.error_rate.is_some());
        self.error_streak = match c.error_rate {
            Some(e) if e > cfg.error_rate => self.error_streak + 1,
            _ => 0,
        };

        if self.fired.is_some() {
            return None;
        }
        if self.consecutive >= cfg.consecutive_failures {
            Some(Rule::ConsecutiveFailures)
        } else if evaluated && (self.successes as f64 / self.checks as f64) < cfg.min_success_rate {
            Some(Rule::SuccessRate)
        } else if self.p95_streak >= cfg.sustained {
            Some(Rule::P95Latency)
        } else if self.error_streak >= cfg.sustained {
            Some(Rule::ErrorRate)
        } else {
            None
        }
    }

    fn reason(&self, rule: Rule, cfg: &Config) -> String {
        let mut s = String::new();
        match rule {
            Rule::ConsecutiveFailures => {
                let _ = write!(
                    s,
                    "{} consecutive failed checks of {} (threshold {})",
                    self.consecutive, self.name, cfg.consecutive_failures
                );
                s.push_str(if self.consecutive as usize > self.recent_failures.len() {
                    ": last ones "
                } else {
                    ": "
                });
                for (i, f) in self.recent_failures.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    f.write(&mut s);
                }
            }
            Rule::SuccessRate => {
                let rate = self.successes as f64 / self.checks as f64;
                let (r, t) = percent_pair(rate, cfg.min_success_rate);
                let _ = write!(
                    s,
                    "success rate {r} after {} checks of {} is below {t} ({} of {} ok)",
                    self.checks, self.name, self.successes, self.checks
                );
            }
            Rule::P95Latency => {
                let p = self.p95().unwrap_or(f64::NAN);
                let (v, t) = ms_pair(p, cfg.p95_ms);
                let from = self.checks + 1 - self.p95_streak;
                let _ = write!(
                    s,
                    "P95 latency {v} ms of {} above {t} ms at {} consecutive checks (checks {from}-{}, {})",
                    self.name,
                    self.p95_streak,
                    self.checks,
                    if self.p95_service.is_some() {
                        "as reported by the service".to_owned()
                    } else {
                        format!("over the last {} latencies", self.window.len())
                    }
                );
            }
            Rule::ErrorRate => {
                let e = self.error_rate.unwrap_or(f64::NAN);
                let (v, t) = percent_pair(e, cfg.error_rate);
                let from = self.checks + 1 - self.error_streak;
                let _ = write!(
                    s,
                    "error rate {v} of {} above {t} at {} consecutive checks (checks {from}-{})",
                    self.name, self.error_streak, self.checks
                );
            }
        }
        s
    }

    fn verdict(&self, ts: &str, decision: Decision, rule: Option<Rule>, reason: String) -> Verdict {
        Verdict {
            ts: ts.to_owned(),
            target: self.name.clone(),
            decision,
            rule,
            reason,
            checks: self.checks,
            consecutive_failures: self.consecutive,
            success_rate: self.success_rate(),
            p95_ms: self.p95(),
            error_rate: self.error_rate,
        }
    }
}

/// The Fx hash (rustc's): a few cycles for a short URL, where SipHash costs more than the rest
/// of a lookup. Target names come from our own probe, so flooding is not a concern, and
/// [`MAX_TARGETS`] bounds the map anyway.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Index of the check's target (first-seen order).
    pub target: usize,
    /// A rule fired for this target at this check.
    pub fired: bool,
    /// The overall decision became rollback at this check (quorum reached).
    pub overall_rollback: bool,
}

/// The judge: per-target state (bounded by the latency window) and the overall decision.
#[derive(Debug, Clone)]
pub struct Judge {
    cfg: Config,
    targets: Vec<Target>,
    index: HashMap<String, usize, BuildHasherDefault<FxHasher>>,
    fired: usize,
    samples: u64,
    min_ms: i64,
    max_ms: i64,
    last_ts: String,
    overall: Option<Verdict>,
}

/// Too many distinct targets (see [`MAX_TARGETS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyTargets;

impl Judge {
    pub fn new(cfg: Config) -> Judge {
        Judge {
            cfg,
            targets: Vec::new(),
            index: HashMap::default(),
            fired: 0,
            samples: 0,
            min_ms: i64::MAX,
            max_ms: i64::MIN,
            last_ts: String::new(),
            overall: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Distinct targets seen so far.
    pub fn targets(&self) -> usize {
        self.targets.len()
    }

    /// Checks seen so far, all targets together.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Applies the rules to one check.
    pub fn observe(&mut self, c: &Check<'_>) -> Result<Observed, TooManyTargets> {
        let idx = match self.index.get(c.target.as_ref()) {
            Some(&i) => i,
            None => {
                if self.targets.len() >= MAX_TARGETS {
                    return Err(TooManyTargets);
                }
                self.targets.push(Target::new(&c.target, &self.cfg));
                self.index
                    .insert(c.target.clone().into_owned(), self.targets.len() - 1);
                self.targets.len() - 1
            }
        };
        self.samples += 1;
        self.min_ms = self.min_ms.min(c.ts_ms);
        self.max_ms = self.max_ms.max(c.ts_ms);
        self.last_ts.clear();
        self.last_ts.push_str(&c.ts);

        let target = &mut self.targets[idx];
        let mut obs = Observed {
            target: idx,
            fired: false,
            overall_rollback: false,
        };
        if let Some(rule) = target.update(c, &self.cfg) {
            let reason = target.reason(rule, &self.cfg);
            target.fired = Some((rule, reason));
            obs.fired = true;
            self.fired += 1;
            if self.overall.is_none() && self.fired >= self.cfg.quorum {
                self.overall = Some(self.overall_rollback(idx, rule, &c.ts));
                obs.overall_rollback = true;
            }
        }
        Ok(obs)
    }

    fn overall_rollback(&self, idx: usize, rule: Rule, ts: &str) -> Verdict {
        let t = &self.targets[idx];
        let reason = if self.cfg.quorum <= 1 {
            t.fired.as_ref().map(|f| f.1.clone()).unwrap_or_default()
        } else {
            let fired: Vec<&str> = self
                .targets
                .iter()
                .filter_map(|t| t.fired.as_ref().map(|f| f.1.as_str()))
                .collect();
            format!(
                "{} of {} targets call for rollback (quorum {}): {}",
                fired.len(),
                self.targets.len(),
                self.cfg.quorum,
                fired.join("; ")
            )
        };
        let mut v = t.verdict(ts, Decision::Rollback, Some(rule), reason);
        v.target = "*".to_owned();
        v
    }

    /// The verdict about the target of `obs` after its check: `rollback` (with the rule and
    /// reason of when it fired) once a rule has fired, else `continue`.
    pub fn target_verdict(&self, obs: &Observed, ts: &str) -> Verdict {
        let t = &self.targets[obs.target];
        match &t.fired {
            Some((rule, reason)) => t.verdict(ts, Decision::Rollback, Some(*rule), reason.clone()),
            None => {
                let mut reason = format!(
                    "check {} of {}: no rule fired (success rate ",
                    t.checks, t.name
                );
                let _ = write!(reason, "{}", percent(t.success_rate().unwrap_or(0.0), 1));
                match t.p95() {
                    Some(p) => {
                        let _ = write!(reason, ", P95 {} ms", ms(p, 0));
                    }
                    None => reason.push_str(", no latency yet"),
                }
                let _ = write!(
                    reason,
                    ", {} consecutive failure{})",
                    t.consecutive,
                    if t.consecutive == 1 { "" } else { "s" }
                );
                t.verdict(ts, Decision::Continue, None, reason)
            }
        }
    }

    /// The overall rollback verdict, once the quorum of targets has fired.
    pub fn rollback(&self) -> Option<&Verdict> {
        self.overall.as_ref()
    }

    /// The overall verdict at the end of the input: the rollback if there was one; else
    /// `inconclusive` when there were no samples, a target had fewer than `--min-checks`
    /// checks, metrics were configured but too few error rates came, or the samples span
    /// less than `--duration` (see [`Judge::span_complete`]);
    /// else `pass`.
    pub fn final_verdict(&self) -> Verdict {
        if let Some(v) = &self.overall {
            return v.clone();
        }
        let cfg = &self.cfg;
        let mut v = self.summary_verdict();
        if self.targets.is_empty() {
            v.decision = Decision::Inconclusive;
            v.reason = "no samples in the input, so nothing to decide on".to_owned();
            return v;
        }
        let short: Vec<&Target> = self
            .targets
            .iter()
            .filter(|t| t.checks < cfg.min_checks)
            .collect();
        let mut notes = String::new();
        self.write_notes(&mut notes);
        if !short.is_empty() {
            let mut r = String::from("only ");
            for (i, t) in short.iter().take(3).enumerate() {
                if i > 0 {
                    r.push_str(", ");
                }
                let _ = write!(
                    r,
                    "{} check{} of {}",
                    t.checks,
                    if t.checks == 1 { "" } else { "s" },
                    t.name
                );
            }
            if short.len() > 3 {
                let _ = write!(r, " and {} more targets", short.len() - 3);
            }
            let _ = write!(
                r,
                ", but at least {} per target are needed to decide",
                cfg.min_checks
            );
            v.decision = Decision::Inconclusive;
            v.reason = r + &notes;
            return v;
        }
        if let Some(r) = self.missing_metrics() {
            v.decision = Decision::Inconclusive;
            v.rule = Some(Rule::ErrorRate);
            v.reason = r + &notes;
            return v;
        }
        let (covered, interval) = self.coverage();
        if let Some(duration) = cfg.duration {
            if !Self::covers(covered, interval, duration) {
                v.decision = Decision::Inconclusive;
                v.reason = format!(
                    "samples cover {}{}, short of --duration {} (allowing {} intervals of {}), so the run was cut short{}",
                    human(covered),
                    self.clock_note(covered),
                    human(duration),
                    DURATION_SLACK_INTERVALS,
                    human(interval),
                    notes
                );
                return v;
            }
        }
        v.decision = Decision::Pass;
        let n = self.targets.len();
        let over = format!(
            "{} checks over {}{}",
            self.samples,
            human(self.span()),
            self.clock_note(covered)
        );
        v.reason = if self.fired > 0 {
            // Some targets did call for rollback: the reason must not read as "all passed".
            let (fired, others) = (self.fired, n - self.fired);
            format!(
                "no rollback, as {fired} of {n} targets called for rollback, below the quorum of {q}: {}; {others} target{} passed ({over})",
                self.fired_reasons().join("; "),
                if others == 1 { "" } else { "s" },
                q = cfg.quorum,
            )
        } else if n == 1 {
            format!("{} passed {over}", self.targets[0].name)
        } else {
            format!("all {n} targets passed {over}")
        } + &self.unevaluated_note();
        v
    }

    /// Targets whose samples say metrics were configured but brought fewer error rates than
    /// `--sustained` (the streak the error_rate rule needs): that rule could not be decided.
    fn missing_metrics(&self) -> Option<String> {
        let need = self.cfg.sustained.max(1);
        let short: Vec<String> = self
            .targets
            .iter()
            .filter(|t| t.metrics_configured > 0 && t.error_rate_checks < need)
            .take(3)
            .map(|t| {
                format!(
                    "{} ({} of {} checks)",
                    t.name, t.error_rate_checks, t.checks
                )
            })
            .collect();
        (!short.is_empty()).then(|| {
            format!(
                "error_rate rule not evaluated: metrics were configured but too few error rates arrived for {} (at least --sustained {need} needed; see the samples' detail \"metrics: ...\")",
                short.join(", ")
            )
        })
    }

    fn fired_reasons(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter_map(|t| t.fired.as_ref().map(|f| f.1.as_str()))
            .collect()
    }

    /// Rules that fired below the quorum, and rules that could not be evaluated.
    fn write_notes(&self, s: &mut String) {
        if self.fired > 0 {
            let _ = write!(
                s,
                "; {} of {} targets called for rollback, below the quorum of {}: {}",
                self.fired,
                self.targets.len(),
                self.cfg.quorum,
                self.fired_reasons().join("; ")
            );
        }
        s.push_str(&self.unevaluated_note());
    }

    fn unevaluated_note(&self) -> String {
        let unevaluated: Vec<&str> = self
            .targets
            .iter()
            .filter(|t| !t.error_rate_seen)
            .map(|t| t.name.as_str())
            .collect();
        if unevaluated.is_empty() {
            String::new()
        } else if unevaluated.len() == self.targets.len() {
            "; error_rate rule not evaluated (no error_rate in samples)".to_owned()
        } else {
            format!(
                "; error_rate rule not evaluated for {} (no error_rate in its samples)",
                unevaluated.join(", ")
            )
        }
    }

    /// The overall figures: all checks, the worst current streak of failures, the overall
    /// success rate, the highest current P95 and error rate among the targets.
    /// The figures over all targets so far: all checks, the overall success rate, the
    /// highest current P95, error rate and run of failures.
    pub fn summary_verdict(&self) -> Verdict {
        let successes: u64 = self.targets.iter().map(|t| t.successes).sum();
        let max = |f: fn(&Target) -> Option<f64>| {
            self.targets
                .iter()
                .filter_map(f)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        };
        Verdict {
            ts: if self.last_ts.is_empty() {
                NO_TIME.to_owned()
            } else {
                self.last_ts.clone()
            },
            target: "*".to_owned(),
            decision: Decision::Continue,
            rule: None,
            reason: String::new(),
            checks: self.samples,
            consecutive_failures: self
                .targets
                .iter()
                .map(|t| t.consecutive)
                .max()
                .unwrap_or(0),
            success_rate: (self.samples > 0).then(|| successes as f64 / self.samples as f64),
            p95_ms: max(|t| t.p95()),
            error_rate: max(|t| t.error_rate),
        }
    }

    /// How long the samples show the service was watched, and the interval that was judged
    /// by. The interval is `--interval`, else the median gap between consecutive checks of
    /// the busiest target. A target covers the sum of the gaps between its consecutive
    /// checks (input order), each counted as at most [`DURATION_SLACK_INTERVALS`] intervals
    /// and a gap backwards as none; the run covers what its best target covers. So one
    /// timestamp far ahead, or one gone back, adds at most two intervals, where a span from
    /// the earliest to the latest `ts` would have made any run look complete.
    pub fn coverage(&self) -> (Duration, Duration) {
        let interval_ms = match self.cfg.interval {
            Some(i) => u64::try_from(i.as_millis()).unwrap_or(u64::MAX),
            None => self
                .targets
                .iter()
                .filter(|t| !t.gaps.is_empty())
                .max_by_key(|t| t.checks)
                .map_or(0, |t| median(&t.gaps)),
        };
        let cap = interval_ms.saturating_mul(u64::from(DURATION_SLACK_INTERVALS));
        let covered = self
            .targets
            .iter()
            .map(|t| {
                t.gaps.iter().fold(0u64, |sum, (&gap, &n)| {
                    sum.saturating_add(gap.min(cap).saturating_mul(n))
                })
            })
            .max()
            .unwrap_or(0);
        (
            Duration::from_millis(covered),
            Duration::from_millis(interval_ms),
        )
    }

    /// Whether `covered` (see [`Judge::coverage`]) is long enough: covered +
    /// [`DURATION_SLACK_INTERVALS`] × interval ≥ duration.
    pub fn covers(covered: Duration, interval: Duration, duration: Duration) -> bool {
        covered.saturating_add(interval.saturating_mul(DURATION_SLACK_INTERVALS)) >= duration
    }

    /// Whether the samples cover `duration`, and the interval used.
    pub fn span_complete(&self, duration: Duration) -> (bool, Duration) {
        let (covered, interval) = self.coverage();
        (Self::covers(covered, interval, duration), interval)
    }

    /// Time from the earliest to the latest `ts` (what the timestamps claim).
    pub fn span(&self) -> Duration {
        if self.samples == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::try_from(self.max_ms.saturating_sub(self.min_ms)).unwrap_or(0))
    }

    /// Says why the covered time is well short of the timestamps' span, when it is (targets
    /// checked in turn make the span exceed each one's coverage by up to an interval).
    fn clock_note(&self, covered: Duration) -> String {
        let backwards: u64 = self.targets.iter().map(|t| t.backwards).sum();
        let (_, interval) = self.coverage();
        let span = self.span();
        let mut note = String::new();
        if span > covered.saturating_add(interval.saturating_mul(DURATION_SLACK_INTERVALS)) {
            let _ = write!(
                note,
                " (their timestamps span {}, but gaps count at most {} intervals each",
                human(span),
                DURATION_SLACK_INTERVALS
            );
            if backwards > 0 {
                let _ = write!(note, "; {backwards} went backwards");
            }
            note.push(')');
        } else if backwards > 0 {
            let _ = write!(note, " ({backwards} timestamps went backwards)");
        }
        note
    }
}

/// A gap to four significant digits (exact below 10 s): off by at most 0.05%, which the
/// two intervals of slack absorb over any run.
pub(crate) fn quantize(gap_ms: u64) -> u64 {
    let mut scale = 1u64;
    while gap_ms / scale >= 10_000 {
        scale *= 10;
    }
    (gap_ms / scale)
        .saturating_add(u64::from(scale > 1 && gap_ms % scale >= scale / 2))
        .saturating_mul(scale)
}

/// The lower median of a histogram of gap lengths.
fn median(gaps: &BTreeMap<u64, u64>) -> u64 {
    let n: u64 = gaps.values().sum();
    let mut seen = 0;
    for (&gap, &count) in gaps {
        seen += count;
        if seen * 2 >= n {
            return gap;
        }
    }
    0
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{} ms", d.as_millis());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn percent(x: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, x * 100.0)
}

/// A value and its threshold as percentages, with enough decimals that they differ when the
/// numbers do ("69.93% ... below 70.0%", never "70.0% ... below 70.0%").
fn percent_pair(value: f64, threshold: f64) -> (String, String) {
    let t = percent(threshold, 1);
    for d in 1..=4 {
        let v = percent(value, d);
        if v != percent(threshold, d) || value == threshold {
            return (v, t);
        }
    }
    (percent(value, 6), t)
}

fn ms(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

fn ms_pair(value: f64, threshold: f64) -> (String, String) {
    let t = if threshold.fract() == 0.0 {
        ms(threshold, 0)
    } else {
        format!("{threshold}")
    };
    for d in [0, 1, 3] {
        let v = ms(value, d);
        if v != ms(threshold, d) || value == threshold {
            return (v, t);
        }
    }
    (format!("{value}"), t)
}
