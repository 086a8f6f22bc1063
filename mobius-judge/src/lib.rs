//! mobius-judge: reads `sample` lines (from mobius-probe, live or saved) and applies the
//! rollback rules of docs/CONTRACT.md §5, writing `verdict` lines.
//!
//! The rules engine is [`judge::Judge`] (pure, no I/O); [`input`] reads and checks the lines;
//! [`run`] joins them for the binary. Given the same lines the output is the same, however
//! the input is split into reads and whenever it is run: every time comes from the samples.
//!
//! Output, one JSON object per line (`mobius_core::records::Verdict`):
//!
//! ```text
//! {"type":"verdict","ts":"2026-11-26T12:00:30.000Z","target":"http://127.0.0.1:8080/health","decision":"rollback","rule":"consecutive_failures","reason":"3 consecutive failed checks of http://127.0.0.1:8080/health (threshold 3): timeout, timeout, status 503","checks":4,"consecutive_failures":3,"success_rate":0.25,"p95_ms":5000.0,"error_rate":null}
//! {"type":"verdict","ts":"2026-11-26T12:00:30.000Z","target":"*","decision":"rollback","rule":"consecutive_failures","reason":"3 consecutive failed checks of ...","checks":4,"consecutive_failures":3,"success_rate":0.25,"p95_ms":5000.0,"error_rate":null}
//! ```

pub mod input;
pub mod judge;
pub mod status;
pub mod window;

use clap::Parser;
use input::{LineError, Lines, Parsed};
use judge::{Config, Judge};
use mobius_core::cli::{CommonArgs, Reporter};
use mobius_core::exit::{Exit, ToolError};
use mobius_core::jsonl::JsonlError;
use mobius_core::records::{Decision, Record, Verdict};
use mobius_core::redact::redact_text;
use mobius_core::EnvName;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

const ABOUT: &str = "Decides rollback from health-check samples (docs/CONTRACT.md §5)";

const LONG_ABOUT: &str = "\
Decides rollback from health-check samples (docs/CONTRACT.md §5).

Reads JSON lines on stdin (mobius-probe's `sample` records; other record types, such as
earlier verdicts in a saved log, are passed over) and writes `verdict` lines on stdout:
one when a target's rule fires, one per sample with --every, and one overall verdict
(target \"*\") at the end, or at the first rollback with --follow. Every time comes from
the samples' `ts`, never the clock, so `mobius-judge < monitor_logs/X.jsonl` replays a
run exactly.

Rules, evaluated after every sample for its target, in this order; the first that fires
decides, and the target stays at rollback. \"Check N\" counts that target's samples from 1.
  1. consecutive_failures: fires at the check that makes --consecutive-failures failed
     checks (ok: false) in a row (default: at the 3rd).
  2. success_rate: from check --min-checks on (5), fires when successes / checks is below
     --min-success-rate over all checks so far (70%: 7 of 10 does not fire, 69.9% does).
  3. p95_latency: a check's P95 is the sample's `p95_ms` if present, else the P95 of the
     last --latency-window (20) latencies of the target by linear interpolation (numpy's
     default, PERCENTILE.INC); failed checks with a latency count, null latencies do not.
     From check --min-checks on, each check whose P95 is above --p95-ms adds one to a
     streak and any other check resets it; it fires when the streak reaches --sustained,
     i.e. with the defaults at check 9 at the earliest (checks 5 to 9). Slow checks before
     check 5 weigh in the window, not in the streak. With 20 latencies the P95 lies 5% of
     the way from the 19th to the 20th smallest: one outlier does not make it, two do.
  4. error_rate: each sample whose `error_rate` is above --error-rate adds one to a
     streak; one at or below it, or without `error_rate`, resets it; it fires when the
     streak reaches --sustained (check 5 at the earliest). Without any `error_rate` in a
     target's samples the rule is not evaluated, and the final verdict says so.

Overall (target \"*\"): rollback as soon as --quorum targets have fired (exit 1); its
figures are those of the target that decided it. Rules that fired below the quorum are
named in the final reason, which then never says the targets passed. A --quorum above the
number of targets in the input can never be met: at the end that is a usage error (exit
2), not a pass. At the end otherwise: pass (exit 0), or inconclusive (exit 5) when there
were no samples, a target had fewer than --min-checks checks, or, with --duration, the
samples cover less than the duration minus two intervals (the last check is due one
interval before the end and may be stamped up to one late).

What the samples cover is measured from gap to gap, not from the earliest to the latest
`ts`, so that a timestamp gone backwards or far ahead cannot make a run look long enough:
a target covers the sum of the gaps between its consecutive checks in input order, each
gap counted as at most two intervals and a gap backwards as none; the run covers what its
best target covers. The interval is --interval, else the median gap between the checks of
the busiest target. One outlying timestamp thus adds at most two intervals. The figures
of a final pass or inconclusive are over all targets: all checks, the overall success
rate, the highest current P95, error rate and run of failures.

With --env, the overall verdict is also recorded in history/ENV.jsonl (not with
--dry-run); a failure to record it is warned about and does not change the exit code.

Examples:
  mobius-probe --env staging --duration 60m | mobius-judge --follow --duration 60m
  mobius-judge monitor_logs/staging_20261126T120000.000Z.jsonl";

/// Command-line arguments of mobius-judge.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-judge",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = mobius_core::exit::EXIT_CODE_HELP
)]
pub struct Args {
    /// The run must span this long, else the verdict is inconclusive (e.g. 60m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The probe's interval, for the --duration check (default: estimated from the samples)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Roll back after this many failed checks in a row
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub consecutive_failures: u64,
    /// Roll back when successes / checks falls below this (0.70 or 70%)
    #[arg(long, value_name = "RATE", default_value = "0.70", value_parser = parse_fraction)]
    pub min_success_rate: f64,
    /// Checks of a target before the success-rate and P95 rules apply, and needed to decide
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_checks: u64,
    /// P95 latency threshold in milliseconds
    #[arg(long, value_name = "MS", default_value = "5000", value_parser = parse_ms)]
    pub p95_ms: f64,
    /// Latencies the P95 is computed over (the last N of the target)
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub latency_window: u64,
    /// Error-rate threshold (0.05 or 5%), from the samples' error_rate
    #[arg(long, value_name = "RATE", default_value = "0.05", value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Consecutive checks the P95 or error rate must be above its threshold
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub sustained: u64,
    /// Targets that must call for rollback before the overall verdict is rollback
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub quorum: u64,
    /// Stop reading and exit 1 at the first overall rollback (live monitoring)
    #[arg(long)]
    pub follow: bool,
    /// Write a verdict for every sample (decision continue or rollback)
    #[arg(long)]
    pub every: bool,
    /// Record the overall verdict in history/ENV.jsonl
    #[arg(long, value_name = "ENV")]
    pub env: Option<EnvName>,
    /// The saved log of this run, named in the history event
    #[arg(long, value_name = "FILE", requires = "env")]
    pub log: Option<PathBuf>,
    /// A saved log to judge instead of standard input (`-`: standard input)
    #[arg(value_name = "LOG")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Args {
    /// The thresholds these flags set.
    pub fn config(&self) -> Config {
        Config {
            consecutive_failures: self.consecutive_failures,
            min_success_rate: self.min_success_rate,
            min_checks: self.min_checks,
            p95_ms: self.p95_ms,
            latency_window: usize::try_from(self.latency_window).unwrap_or(usize::MAX),
            error_rate: self.error_rate,
            sustained: self.sustained,
            quorum: usize::try_from(self.quorum).unwrap_or(usize::MAX),
            duration: self.duration,
            interval: self.interval,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 90s, 60m, 1h)"))
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the interval must be longer than 0".to_owned());
    }
    Ok(d)
}

/// A rate given as 0.70 or 70%, for the threshold flags (mobius-report reads them alike).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p, 100.0),
        None => (s, 1.0),
    };
    let v = num
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("{s:?} is not a number (use e.g. 0.70 or 70%)"))?
        / scale;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s:?} is not between 0 and 1 (or 0% and 100%)"));
    }
    Ok(v)
}

/// A number of milliseconds >= 0, for --p95-ms.
pub fn parse_ms(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of milliseconds >= 0")),
    }
}

/// Everything that stops the judge before a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed input at {0}; fix or remove that line, then replay the log")]
    Malformed(JsonlError),
    #[error(
        "line {line}: more than {} distinct targets; is this a sample stream?",
        judge::MAX_TARGETS
    )]
    TooManyTargets { line: u64 },
    #[error("cannot read the input at line {line}")]
    Read {
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write verdicts to stdout")]
    Write(#[source] io::Error),
    #[error(
        "--quorum {quorum} is more than the {} in the input, so no verdict can be rollback; give --quorum {targets} or less", mobius_core::text::plural(*targets as u64, "target")
    )]
    QuorumAboveTargets { quorum: usize, targets: usize },
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Malformed(_) | Error::TooManyTargets { .. } => Exit::Malformed,
            Error::Read { .. } | Error::Open { .. } | Error::Write(_) => Exit::Runtime,
            Error::QuorumAboveTargets { .. } => Exit::Usage,
        }
    }
}

/// Verdict lines, buffered and written out whenever the input pauses (so a live pipe sees
/// them at once, while a replay does not pay a write per line).
struct Output<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> Output<W> {
    fn emit(&mut self, v: Verdict) -> io::Result<()> {
        let v = redacted(v);
        serde_json::to_writer(&mut self.buf, &Record::Verdict(v)).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

/// Reads samples from `input` until the end (or, with `--follow`, the first overall
/// rollback), writes verdicts to `output`, and returns the exit code of the overall verdict.
pub fn run(args: &Args, stdin: impl Read, output: impl Write) -> Result<Exit, Error> {
    match &args.input {
        Some(path) if !mobius_core::fsafe::is_stdin(path) => {
            let file = mobius_core::fsafe::open_input(path, mobius_core::fsafe::Kind::Lines)
                .map_err(|source| Error::Open {
                    path: path.clone(),
                    source,
                })?;
            judge_input(args, file, output)
        }
        _ => judge_input(args, stdin, output),
    }
}

fn judge_input(args: &Args, input: impl Read, output: impl Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter("mobius-judge");
    let mut judge = Judge::new(args.config());
    let mut lines = Lines::new(input);
    let mut out = Output {
        out: output,
        buf: Vec::with_capacity(64 * 1024),
    };
    let mut others = 0u64;
    let mut status = status::Status::new(&reporter);
    loop {
        let line = match lines.next_line(|| out.flush()) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(LineError::Hook(e)) => return Err(Error::Write(e)),
            Err(LineError::Read(line, source)) => return Err(Error::Read { line, source }),
            Err(LineError::TooLong(line)) => {
                return Err(Error::Malformed(JsonlError::Invalid {
                    line,
                    msg: format!("longer than {} bytes; not a record", input::MAX_LINE),
                }))
            }
        };
        let number = line.number;
        let check = match input::parse_line(line.bytes, number, line.terminated) {
            Ok(Parsed::Sample(c)) => c,
            Ok(Parsed::Other) => {
                others += 1;
                continue;
            }
            Ok(Parsed::Blank) => continue,
            Err(e) => return Err(Error::Malformed(e)),
        };
        let obs = judge
            .observe(&check)
            .map_err(|_| Error::TooManyTargets { line: number })?;
        status.update(&judge);
        if obs.fired || args.every {
            let v = judge.target_verdict(&obs, &check.ts);
            if obs.fired {
                status.suspend(|| reporter.detail(format!("line {number}: {}", v.reason)));
            }
            out.emit(v).map_err(Error::Write)?;
        }
        if obs.overall_rollback && args.follow {
            reporter.detail(format!(
                "--follow: stopping at line {number}, the first overall rollback"
            ));
            break;
        }
    }
    status.finish();
    reporter.detail(format!(
        "read {} lines: {} samples, {} other records passed over",
        lines.line_number(),
        judge.samples(),
        others
    ));
    // Only the whole input says how many targets there are. A quorum above that count can
    // never be met, so a "pass" would only mean the invocation was wrong.
    if judge.rollback().is_none() && judge.targets() > 0 && judge.config().quorum > judge.targets()
    {
        out.flush().map_err(Error::Write)?;
        return Err(Error::QuorumAboveTargets {
            quorum: judge.config().quorum,
            targets: judge.targets(),
        });
    }
    let verdict = judge.final_verdict();
    out.emit(verdict.clone()).map_err(Error::Write)?;
    out.flush().map_err(Error::Write)?;
    report(&reporter, &verdict);
    if let Some(env) = &args.env {
        record_history(args, env, &verdict, &reporter);
    }
    Ok(match verdict.decision {
        Decision::Pass => Exit::Success,
        Decision::Rollback => Exit::Bad,
        Decision::Inconclusive | Decision::Continue => Exit::Inconclusive,
    })
}

/// A verdict as it leaves: its reason and target quote sample targets and details, which
/// may come from a probe that did not redact them.
fn redacted(mut v: Verdict) -> Verdict {
    v.reason = redact_text(&v.reason).into_owned();
    v.target = redact_text(&v.target).into_owned();
    v
}

fn report(reporter: &Reporter, v: &Verdict) {
    let word = match v.decision {
        Decision::Pass => "pass",
        Decision::Rollback => "ROLLBACK",
        Decision::Inconclusive => "inconclusive",
        Decision::Continue => "continue",
    };
    reporter.info(format!("{word}: {}", v.reason));
}

/// Records the overall verdict as a `monitor_verdict` event. A failure here must not hide
/// the verdict (a rollback has to happen even if the history disk is full), so it is a warning.
fn record_history(args: &Args, env: &EnvName, v: &Verdict, reporter: &Reporter) {
    let outcome = serde_json::to_value(v.decision)
        .ok()
        .and_then(|d| d.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    if args.common.dry_run {
        reporter.info(format!(
            "dry run: would record {outcome} in history/{env}.jsonl"
        ));
        return;
    }
    let details = serde_json::json!({
        "decision": v.decision,
        "rule": v.rule,
        "reason": v.reason,
        "checks": v.checks,
        "verdict_ts": v.ts,
        "log": args.log.as_ref().map(|p| p.display().to_string()),
    });
    match mobius_core::history::append(
        &args.common.root(),
        env,
        "monitor_verdict",
        &outcome,
        details,
    ) {
        Ok(appended) => {
            for w in appended.warnings {
                reporter.warn(w);
            }
            reporter.detail(format!(
                "recorded the verdict as event {} in history/{env}.jsonl",
                appended.event.seq
            ));
        }
        Err(e) => reporter.warn(format!(
            "{e}: {}; the verdict ({outcome}) stands, record it by hand",
            std::error::Error::source(&e).map_or_else(String::new, ToString::to_string)
        )),
    }
}

#[cfg(test)]
mod tests;

mobius_core::help_fits_test!(Args);
