//! The status line a person watching a run sees on a terminal (through monitor.sh): checks
//! done of expected, time left, and each figure against the threshold that would roll back.
//! Drawn by mobius_core::progress, so never on stdout or a non-terminal stderr.

use crate::judge::{Config, Judge};
use mobius_core::cli::Reporter;
use mobius_core::progress::Progress;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How often the line is rebuilt: often enough to feel live, rarely enough to cost nothing
/// when a saved log is replayed at millions of lines a second.
const EVERY: Duration = Duration::from_millis(100);

pub struct Status {
    progress: Progress,
    last: Option<Instant>,
}

impl Status {
    pub fn new(reporter: &Reporter) -> Status {
        Status {
            progress: Progress::status(reporter),
            last: None,
        }
    }

    /// After a sample: redraws the line, at most every [`EVERY`].
    pub fn update(&mut self, judge: &Judge) {
        if !self.progress.active() || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.progress.set_message(line(judge));
    }

    /// A message to stderr while the line is drawn.
    pub fn suspend(&self, f: impl FnOnce()) {
        self.progress.suspend(f);
    }

    pub fn finish(&self) {
        self.progress.finish();
    }
}

/// `12/360 checks, 58m left | success 100% (min 70%) | P95 120 ms (max 5000) | errors 0.0%
/// (max 5%) | 0 failed in a row (max 3)`.
pub fn line(judge: &Judge) -> String {
    let cfg: &Config = judge.config();
    let v = judge.summary_verdict();
    let (covered, interval) = judge.coverage();
    let mut s = format!("{} checks", v.checks);
    if let Some(duration) = cfg.duration {
        let per_target = duration.as_millis() / interval.as_millis().max(1);
        let expected = per_target.saturating_mul(judge.targets().max(1) as u128);
        s = format!("{}/{expected} checks", v.checks);
        let left = duration.saturating_sub(covered);
        let _ = write!(
            s,
            ", {} left",
            humantime::format_duration(Duration::from_secs(left.as_secs()))
        );
    }
    if judge.targets() > 1 {
        let _ = write!(s, " ({} targets)", judge.targets());
    }
    let pct = |x: f64| {
        let p = x * 100.0;
        if (p - p.round()).abs() < 0.05 {
            format!("{p:.0}%")
        } else {
            format!("{p:.1}%")
        }
    };
    let _ = write!(
        s,
        " | success {} (min {})",
        v.success_rate.map_or("-".to_owned(), pct),
        pct(cfg.min_success_rate)
    );
    let _ = write!(
        s,
        " | P95 {} (max {} ms)",
        v.p95_ms.map_or("-".to_owned(), |p| format!("{p:.0} ms")),
        cfg.p95_ms
    );
    if let Some(e) = v.error_rate {
        let _ = write!(s, " | errors {} (max {})", pct(e), pct(cfg.error_rate));
    }
    let _ = write!(
        s,
        " | {} failed in a row (max {})",
        v.consecutive_failures, cfg.consecutive_failures
    );
    s
}
