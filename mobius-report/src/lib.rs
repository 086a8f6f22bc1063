//! mobius-report: draws a monitoring log (the JSON lines monitor.sh saves: mobius-probe's
//! `sample` records and mobius-judge's `verdict` records, of one or more targets) as one
//! self-contained HTML page with inline SVG charts, or as the bare SVG.
//!
//! The log streams through [`model::Run`], which keeps a bounded summary (buckets, capped
//! failures, the firing point), so a year of samples renders in seconds in a few MB;
//! [`page`] and [`svg`] turn that summary into markup, every log text escaped by
//! [`escape`].

pub mod escape;
pub mod fastpeek;
pub mod model;
pub mod page;
pub mod svg;

use clap::{Parser, ValueEnum};
use mobius_core::cli::CommonArgs;
use mobius_core::exit::{Exit, ToolError};
use mobius_core::fsafe::{self, Kind};
use mobius_core::jsonl::JsonlError;
use model::{Overrides, Peek, Run};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const ABOUT: &str = "Draws a monitoring log as an HTML page (or SVG) with the verdict";

const LONG_ABOUT: &str = "\
Draws a monitoring log as one self-contained HTML page (or the bare SVG).

Reads the JSON lines monitor.sh saves (monitor_logs/ENV_<stamp>.jsonl: mobius-probe's
`sample` records and mobius-judge's `verdict` records, any number of targets) from LOG,
or from stdin when LOG is `-` or absent, and writes the page to -o FILE (replaced
atomically, never through a symlink) or to stdout.

Per target: latency over time with the rolling P95 (the judge's: the service's p95_ms,
else the last 20 latencies) and the P95 threshold; the success rate over all checks so
far with its minimum and the checks before --min-checks shaded; the error rate the
service reported with its threshold; every failed check marked by class (timeout,
connect, http_5xx, ...); and where a rule fired, with the rule and the judge's reason,
and where a rollback finished when the log has its record. Long runs are drawn with the
min and max of a fixed number of columns; failed checks beyond 400 per target are counted
per column.

Thresholds: the flags, else what the verdict that fired says, else mobius-judge's
defaults (5000 ms, 70%, 5%, check 5). The page names the source of each.

A log without any sample is exit 5 (inconclusive: nothing to draw) and writes nothing.
A line that is not JSON, or a sample or verdict without its fields, is exit 3 naming the
line.

Example:
  mobius-report monitor_logs/staging_20261126T120000.jsonl -o run.html";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Svg,
}

/// Command-line arguments of mobius-report.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mobius-report",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = mobius_core::exit::EXIT_CODE_HELP
)]
pub struct Args {
    /// The monitoring log (`-` or absent: stdin)
    #[arg(value_name = "LOG")]
    pub log: Option<PathBuf>,
    /// Write the report here (default: stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// html: the page; svg: the bare SVG of the charts
    #[arg(long, value_enum, default_value_t = Format::Html)]
    pub format: Format,
    /// P95 latency threshold drawn, in milliseconds (default: from the verdict, else 5000)
    #[arg(long, value_name = "MS", value_parser = mobius_judge::parse_ms)]
    pub p95_ms: Option<f64>,
    /// Error-rate threshold drawn, 0.05 or 5% (default: from the verdict, else 5%)
    #[arg(long, value_name = "RATE", value_parser = mobius_judge::parse_fraction)]
    pub error_rate: Option<f64>,
    /// Minimum success rate drawn, 0.70 or 70% (default: from the verdict, else 70%)
    #[arg(long, value_name = "RATE", value_parser = mobius_judge::parse_fraction)]
    pub min_success_rate: Option<f64>,
    /// Checks before the rules apply, shaded (default 5)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub min_checks: Option<u64>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Everything that stops a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{input}: malformed input at {source}; fix or remove that line")]
    Malformed {
        input: String,
        #[source]
        source: JsonlError,
    },
    #[error("cannot read {input}")]
    Read {
        input: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the report to {output}")]
    Write {
        output: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{input}: no sample records ({lines} lines): nothing to draw; is this a monitoring log?"
    )]
    Empty { input: String, lines: u64 },
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Malformed { .. } => Exit::Malformed,
            Error::Read { .. } | Error::Write { .. } => Exit::Runtime,
            Error::Empty { .. } => Exit::Inconclusive,
        }
    }
}

/// Reads the log (from `LOG`, or `stdin` for `-`/none), writes the report (to `-o`, or
/// `stdout`).
pub fn run(args: &Args, stdin: impl Read, stdout: impl Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter("mobius-report");
    let (name, run) = match args.log.as_deref() {
        None => ("stdin".to_owned(), read_log(stdin, "stdin")?),
        Some(p) if p == Path::new("-") => ("stdin".to_owned(), read_log(stdin, "stdin")?),
        Some(p) => {
            let name = mobius_core::text::escape_path(p);
            let file = fsafe::open_input(p, Kind::Lines).map_err(|source| Error::Read {
                input: name.clone(),
                source,
            })?;
            let run = read_log(file, &name)?;
            (name, run)
        }
    };
    if run.samples == 0 {
        return Err(Error::Empty {
            input: name,
            lines: run.lines,
        });
    }
    let overrides = Overrides {
        p95_ms: args.p95_ms,
        error_rate: args.error_rate,
        min_success_rate: args.min_success_rate,
        min_checks: args.min_checks,
    };
    let th = run.thresholds(&overrides);
    let shown = args
        .log
        .as_deref()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".to_owned());
    let title = page::Title { input: &shown };
    let doc = match args.format {
        Format::Html => page::html(&run, &th, &title),
        Format::Svg => page::svg_document(&run, &th, &title),
    };
    match &args.output {
        Some(path) => {
            let output = mobius_core::text::escape_path(path);
            mobius_core::atomic::write_atomic(path, doc.as_bytes(), 0o644).map_err(|source| {
                Error::Write {
                    output: output.clone(),
                    source,
                }
            })?;
            reporter.detail(format!("wrote {output} ({} bytes)", doc.len()));
        }
        None => {
            let mut out = stdout;
            out.write_all(doc.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| Error::Write {
                    output: "stdout".to_owned(),
                    source,
                })?;
        }
    }
    reporter.detail(format!(
        "{name}: {}, {}, {}",
        mobius_core::text::plural(run.lines, "line"),
        mobius_core::text::plural(run.samples, "sample"),
        mobius_core::text::plural(run.targets.len() as u64, "target")
    ));
    Ok(Exit::Success)
}

/// Streams the log into a [`Run`], strictly: a bad line stops it, naming the line.
pub fn read_log(input: impl Read, name: &str) -> Result<Run, Error> {
    let mut reader = BufReader::with_capacity(256 * 1024, input);
    let mut run = Run::default();
    let mut buf = Vec::with_capacity(1024);
    let mut number = 0u64;
    loop {
        buf.clear();
        let n = fsafe::read_line_limited(&mut reader, &mut buf, fsafe::LINE_LIMIT).map_err(
            |source| {
                if fsafe::is_refusal(&source) {
                    Error::Malformed {
                        input: name.to_owned(),
                        source: JsonlError::Invalid {
                            line: number + 1,
                            msg: source.to_string(),
                        },
                    }
                } else {
                    Error::Read {
                        input: name.to_owned(),
                        source,
                    }
                }
            },
        )?;
        if n == 0 {
            break;
        }
        number += 1;
        line(&mut run, &buf, number).map_err(|source| Error::Malformed {
            input: name.to_owned(),
            source,
        })?;
    }
    Ok(run)
}

/// Takes one line (with its newline, if any) into `run`.
pub fn line(run: &mut Run, bytes: &[u8], number: u64) -> Result<(), JsonlError> {
    let terminated = bytes.last() == Some(&b'\n');
    let mut b = bytes;
    if terminated {
        b = &b[..b.len() - 1];
        if b.last() == Some(&b'\r') {
            b = &b[..b.len() - 1];
        }
    }
    let text = std::str::from_utf8(b).map_err(|_| JsonlError::NotUtf8 { line: number })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(());
    }
    if !trimmed.starts_with('{') {
        return Err(if terminated {
            JsonlError::NotObject { line: number }
        } else {
            JsonlError::Truncated { line: number }
        });
    }
    let peek: Peek<'_> = fastpeek::peek(text).map_err(|e| {
        if !terminated && e.is_eof() {
            JsonlError::Truncated { line: number }
        } else {
            JsonlError::Invalid {
                line: number,
                msg: format!("{} (column {})", strip_position(&e.to_string()), e.column()),
            }
        }
    })?;
    run.record(&peek)
        .map_err(|msg| JsonlError::Invalid { line: number, msg })
}

fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// A report built from lines handed over one by one, leniently: mobius-export draws each
/// log it bundles as it streams past, and a log it bundles is never refused (lines that do
/// not parse are passed over; its own summary counts them).
#[derive(Debug, Default)]
pub struct Lenient {
    run: Run,
    number: u64,
}

impl Lenient {
    pub fn new() -> Lenient {
        Lenient::default()
    }

    /// Takes one line the caller has decoded already (mobius-export reads its own summary
    /// from the same [`Peek`], so each line is parsed once).
    pub fn record(&mut self, peek: &Peek<'_>) {
        self.number += 1;
        let _ = self.run.record(peek);
    }

    /// The HTML page (with the thresholds the verdicts carry, else the judge's defaults),
    /// or `None` for a log without samples. The lines read so far are dropped.
    pub fn finish_html(&mut self, title: &str) -> Option<String> {
        let run = std::mem::take(&mut self.run);
        self.number = 0;
        if run.samples == 0 {
            return None;
        }
        let th = run.thresholds(&Overrides::default());
        Some(page::html(&run, &th, &page::Title { input: title }))
    }
}

mobius_core::help_fits_test!(Args);
