//! mobius-probe: health checks on a fixed schedule, one `sample` JSON line per check.
//!
//! Each target gets a thread that checks it at start + k × interval (not "sleep after each
//! check": a slow check neither shifts later ones nor hides its slowness) over one reused
//! connection; the main thread numbers the samples (`seq`) and writes each as it arrives,
//! flushed at once:
//!
//! ```text
//! {"type":"sample","seq":7,"ts":"2026-11-26T12:01:00.002Z","target":"http://127.0.0.1:8080/health","ok":false,"status":503,"latency_ms":1.204,"error":"status","detail":"HTTP 503 (expected 200-299): {\"status\":\"unhealthy\"}","error_rate":0.25,"p95_ms":3.1}
//! ```
//!
//! A check never runs longer than `--timeout`. Ticks missed by less than min(5 intervals, 1 s)
//! (a busy machine) are caught up at once; when a check overran the interval by more, the
//! latest missed tick runs at once and the older ones are skipped (said on stderr).

pub mod check;
pub mod prom;
pub mod redirect;

use check::{CheckOptions, Checker, Metrics, Outcome, StatusSet};
use clap::Parser;
use mobius_core::cli::{CommonArgs, Reporter};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::{MetricsRead, Record, Sample};
use mobius_core::redact::redact_text;
use mobius_core::{signal, EnvName, Exit, ToolError};
use prom::{P95Unit, PromSource};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

const RECORD_HELP: &str = "\
Output: one `sample` JSON line per check per target (docs/CONTRACT.md §3):
  {\"type\":\"sample\",\"seq\":1,\"ts\":\"2026-11-26T12:00:00.002Z\",\"target\":\"http://127.0.0.1:8080/health\",
   \"ok\":true,\"status\":200,\"latency_ms\":1.204,\"error\":null,\"detail\":\"\",\"error_rate\":0.0,\"p95_ms\":3.1}
  error: timeout | connect | dns | tls | status | body | redirect | io  (null when ok)
  status: null when no response came; latency_ms: null for refused connections and failed
  name lookups (nothing was sent, nothing waited for), else the time to the end of the body.
  A body longer than --max-body is a `body` failure (the read stops at the cap).
  Redirects (up to --max-redirects) are followed to http(s) URLs only: a Location of another
  scheme (file:, ftp: ...) or not a URL is a `redirect` failure naming it, never asked of
  this host; a redirect whose target fails keeps the 3xx status and its latency.
  https:// to a port speaking plain HTTP is `tls`.
  error_rate/p95_ms: present when the metrics endpoint answered; a metrics failure does not
  fail the check, it is noted in `detail` (\"metrics: ...\").
Targets: --url (repeatable), else health_url of config/<env>/app.json; metrics from
--metrics-url (one for all targets, or one per --url in order), else metrics_url of app.json
when the targets came from there too.
Prometheus instead: --prometheus URL --error-rate-query PROMQL [--p95-query PROMQL
[--p95-unit ms|s]] (or prometheus_url, error_rate_query, p95_query, p95_unit in app.json), one
instant query each per check via /api/v1/query, the same queries for every target. A query
must return one series (aggregate with sum(...)) or a scalar; NaN, +Inf/-Inf, an empty vector,
several series and API errors are named in `detail` (\"metrics: error_rate query: ...\") and
leave the figure out. With a metrics source, each sample says `\"metrics\":\"ok\"` or
`\"failed\"`, so mobius-judge does not pass a run whose metrics never came.
Stops after --count checks per target or --duration (default 60m), quietly when the reader
closes the pipe, and on SIGINT/SIGTERM after writing the samples already complete (exit 0).";

/// Health-check targets on a fixed schedule and write one `sample` line per check.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-probe",
    version = mobius_core::VERSION,
    about = "Health checks on a fixed schedule: one `sample` JSON line per check, for mobius-judge",
    after_help = format!("{RECORD_HELP}\n\n{}", mobius_core::exit::EXIT_CODE_HELP)
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// URL to check (repeatable; targets are checked concurrently)
    #[arg(long = "url", value_name = "URL", required_unless_present = "env")]
    pub urls: Vec<String>,
    /// Read health_url and metrics_url from config/<ENV>/app.json
    #[arg(long, value_name = "ENV")]
    pub env: Option<EnvName>,
    /// Time between the starts of two checks of a target
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub interval: Duration,
    /// Stop after this long (default 60m unless --count is given)
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,
    /// Stop after N checks of each target
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Limit for a whole check: lookup, connect, TLS, response and body
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Status codes that count as healthy: ranges and lists, e.g. 200-299,304
    #[arg(long, value_name = "CODES", default_value = "200-299")]
    pub expect_status: StatusSet,
    /// Text the body must contain to count as healthy
    #[arg(long, value_name = "TEXT")]
    pub expect_body: Option<String>,
    /// JSON metrics to read with each check (error_rate, p95_ms); repeatable, see below
    #[arg(long = "metrics-url", value_name = "URL")]
    pub metrics_urls: Vec<String>,
    /// Do not read metrics, not even metrics_url from app.json
    #[arg(long, conflicts_with = "metrics_urls")]
    pub no_metrics: bool,
    /// Field of the metrics JSON holding the error rate (0..1); a leading / makes it a JSON pointer
    #[arg(long, value_name = "FIELD", default_value = "error_rate")]
    pub metrics_error_rate_field: String,
    /// Field of the metrics JSON holding the P95 latency in ms; a leading / makes it a JSON pointer
    #[arg(long, value_name = "FIELD", default_value = "p95_ms")]
    pub metrics_p95_field: String,
    /// Prometheus server to read the error rate (and P95) from, e.g. http://127.0.0.1:9090
    #[arg(long, value_name = "URL", conflicts_with_all = ["metrics_urls", "no_metrics"], requires = "error_rate_query")]
    pub prometheus: Option<String>,
    /// PromQL instant query giving the error rate (0..1) as one series
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub error_rate_query: Option<String>,
    /// PromQL instant query giving the P95 latency as one series, in --p95-unit
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub p95_query: Option<String>,
    /// Unit of --p95-query's answer: ms, or s (as histogram_quantile over seconds gives)
    #[arg(long, value_enum, value_name = "UNIT", default_value = "ms")]
    pub p95_unit: P95Unit,
    /// Body bytes read at most; a longer body fails the check with `body`
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: u64,
    /// Redirects followed at most; more is a `redirect` failure
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_redirects: u32,
    /// Trust only the CA certificates in this PEM file (`-`: standard input) for https,
    /// instead of the built-in roots
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than zero".into()),
        Err(e) => Err(format!("{e} (examples: 10s, 500ms, 60m)")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {}: {source} (create it, or pass --url)", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} does not parse: {msg}", path.display())]
    ConfigParse { path: PathBuf, msg: String },
    #[error("cannot read the CA file {}: {msg}", path.display())]
    CaCert { path: PathBuf, msg: String },
    #[error("cannot read the CA file {}", path.display())]
    CaCertRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write samples to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("cannot install the SIGTERM/SIGINT handler")]
    Signal(#[source] std::io::Error),
    #[error("cannot start a probe thread")]
    Thread(#[source] std::io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::ConfigParse { .. } | Error::CaCert { .. } => Exit::Malformed,
            Error::ConfigRead { .. }
            | Error::CaCertRead { .. }
            | Error::Stdout(_)
            | Error::Signal(_)
            | Error::Thread(_) => Exit::Runtime,
        }
    }
}

/// One URL to check, and where its metrics come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// `url` as samples name it: redacted once here, not on every check.
    pub shown: String,
    pub metrics_url: Option<String>,
    /// Metrics from Prometheus instead of `metrics_url`.
    pub prometheus: Option<PromSource>,
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!(
            "'{url}' is not an http:// or https:// URL with a host"
        )),
    }
}

/// Works out the targets from the flags and, without --url, from app.json.
pub fn targets(args: &Args) -> Result<Vec<Target>, Error> {
    let (urls, app_metrics, app_prom) = if !args.urls.is_empty() {
        for u in &args.urls {
            check_url(u).map_err(Error::Usage)?;
        }
        (args.urls.clone(), None, None)
    } else {
        let env = args
            .env
            .as_ref()
            .ok_or_else(|| Error::Usage("give --url URL or --env ENV".into()))?;
        let path = mobius_core::app_config::app_json_path(&args.common.root(), env);
        let bytes = mobius_core::fsafe::read_input(&path, mobius_core::fsafe::Kind::Text).map_err(
            |source| Error::ConfigRead {
                path: path.clone(),
                source,
            },
        )?;
        let bad = |msg: String| Error::ConfigParse {
            path: path.clone(),
            msg,
        };
        let app = mobius_core::app_config::AppConfig::parse(&bytes).map_err(bad)?;
        let health = app
            .health_url
            .ok_or_else(|| bad("no health_url: add it, or pass --url".into()))?;
        check_url(&health).map_err(|m| bad(format!("health_url: {m}")))?;
        if let Some(m) = &app.metrics_url {
            check_url(m).map_err(|m| bad(format!("metrics_url: {m}")))?;
        }
        let prom = match (&app.prometheus_url, &app.error_rate_query) {
            (Some(url), Some(q)) => {
                check_url(url).map_err(|m| bad(format!("prometheus_url: {m}")))?;
                let unit = app
                    .p95_unit
                    .as_deref()
                    .map_or(Ok(P95Unit::Ms), P95Unit::parse);
                Some(PromSource {
                    url: url.clone(),
                    error_rate_query: q.clone(),
                    p95_query: app.p95_query.clone(),
                    p95_unit: unit.map_err(bad)?,
                })
            }
            _ => None,
        };
        (vec![health], app.metrics_url, prom)
    };
    let flag_prom = match (&args.prometheus, &args.error_rate_query) {
        (Some(url), Some(q)) => {
            check_url(url).map_err(|m| Error::Usage(format!("--prometheus: {m}")))?;
            Some(PromSource {
                url: url.clone(),
                error_rate_query: q.clone(),
                p95_query: args.p95_query.clone(),
                p95_unit: args.p95_unit,
            })
        }
        _ => None,
    };
    // Flags over app.json, as for --metrics-url; --no-metrics over both.
    let prometheus = if args.no_metrics || !args.metrics_urls.is_empty() {
        None
    } else {
        flag_prom.or(app_prom)
    };
    for m in &args.metrics_urls {
        check_url(m).map_err(Error::Usage)?;
    }
    let metrics: Vec<Option<String>> = if args.no_metrics || prometheus.is_some() {
        vec![None; urls.len()]
    } else {
        match args.metrics_urls.len() {
            0 => vec![app_metrics; urls.len()],
            1 => vec![Some(args.metrics_urls[0].clone()); urls.len()],
            n if n == urls.len() => args.metrics_urls.iter().cloned().map(Some).collect(),
            n => {
                return Err(Error::Usage(format!(
                    "{n} --metrics-url for {} targets: give one for all, or one per --url",
                    urls.len()
                )))
            }
        }
    };
    Ok(urls
        .into_iter()
        .zip(metrics)
        .map(|(url, metrics_url)| Target {
            shown: redact_text(&url).into_owned(),
            url,
            metrics_url,
            prometheus: prometheus.clone(),
        })
        .collect())
}

fn agent_config(args: &Args, stdin: impl std::io::Read) -> Result<ureq::config::Config, Error> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &args.cacert {
        let bad = |msg: String| Error::CaCert {
            path: path.clone(),
            msg,
        };
        // Unreadable (a pipe, a device, too large) is the tool failing, exit 4; a file
        // that reads but holds no certificate is malformed input.
        let pem = mobius_core::fsafe::read_input_or(path, mobius_core::fsafe::Kind::Text, stdin)
            .map_err(|source| Error::CaCertRead {
                path: path.clone(),
                source,
            })?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(args.timeout))
        .http_status_as_error(false)
        // Redirects are followed by Checker::check (see redirect.rs), not by ureq.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(format!("mobius-probe/{}", mobius_core::VERSION))
        .tls_config(tls.build())
        .build();
    Ok(config)
}

/// ureq looks up the host on every request, even for a pooled connection, and with a timeout
/// it does so on a new thread. At a 10 ms interval that thread costs more CPU than the check
/// itself, so an IP literal (the usual `http://127.0.0.1:8080/health`) is answered here;
/// names still go through ureq's lookup and its timeout.
/// Shared with mobius-smoke, whose checks hit the same kind of URL.
#[derive(Debug, Default)]
pub struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.host().and_then(|h| {
            let ip: std::net::IpAddr = h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?;
            let port = uri.port_u16().or(match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            })?;
            Some(std::net::SocketAddr::new(ip, port))
        });
        match literal {
            Some(addr) => {
                let mut v = self.empty();
                v.push(addr);
                Ok(v)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

fn new_agent(config: &ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config.clone(),
        DefaultConnector::new(),
        LiteralFirst::default(),
    )
}

/// The time of check k: start + k × interval, or None past the end of representable time.
fn tick(start: Instant, interval: Duration, k: u64) -> Option<Instant> {
    let nanos = interval.as_nanos().checked_mul(u128::from(k))?;
    start.checked_add(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// What a target's thread sends to the writer.
struct Done {
    ts: SystemTime,
    target: usize,
    outcome: Outcome,
    /// The figures read and the problems of those that could not be; None without a source.
    metrics: Option<(Metrics, Vec<String>)>,
}

struct Schedule {
    start: Instant,
    interval: Duration,
    end: Option<Instant>,
    count: Option<u64>,
}

fn target_loop(
    index: usize,
    target: Target,
    mut checker: Checker,
    schedule: Schedule,
    tx: mpsc::SyncSender<Done>,
    reporter: Reporter,
) {
    let timeout = checker.options().timeout;
    let catch_up = schedule
        .interval
        .saturating_mul(5)
        .min(Duration::from_secs(1));
    let mut k: u64 = 0;
    let mut done: u64 = 0;
    let mut skipped: u64 = 0;
    loop {
        if schedule.count.is_some_and(|c| done >= c) {
            break;
        }
        let Some(at) = tick(schedule.start, schedule.interval, k) else {
            break;
        };
        if schedule.end.is_some_and(|end| at >= end) {
            break;
        }
        if !signal::sleep_until(at) {
            break;
        }
        let ts = SystemTime::now();
        let t0 = Instant::now();
        let outcome = checker.check(&target.url);
        // The metrics read gets what is left of the check's timeout, so a check as a
        // whole never runs longer than --timeout.
        let budget = timeout.saturating_sub(t0.elapsed());
        let metrics = match (&target.prometheus, &target.metrics_url) {
            (Some(p), _) => Some(checker.prometheus(p, budget)),
            (None, Some(m)) => Some(match checker.metrics(m, budget) {
                Ok(m) => (m, Vec::new()),
                Err(problem) => (Metrics::default(), vec![problem]),
            }),
            (None, None) => None,
        };
        if tx
            .send(Done {
                ts,
                target: index,
                outcome,
                metrics,
            })
            .is_err()
        {
            break;
        }
        done += 1;
        k += 1;
        // Ticks that already passed: a short lag (a busy machine woke us late) is caught up
        // by running them at once, so the count and the schedule hold; a long one (a check
        // that overran the interval, a stopped process) runs only the latest of them, late,
        // and skips the older ones rather than firing a burst of stale checks.
        let now = Instant::now();
        let lag = tick(schedule.start, schedule.interval, k)
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        if lag > catch_up {
            let latest = now.saturating_duration_since(schedule.start).as_nanos()
                / schedule.interval.as_nanos().max(1);
            let latest = u64::try_from(latest).unwrap_or(u64::MAX);
            let n = latest.saturating_sub(k);
            if n > 0 {
                if skipped == 0 {
                    reporter.warn(format!(
                        "a check of {} took {:.0?} (interval {}): skipping {} it overran; later skips are counted at the end",
                        target.url,
                        now - t0,
                        humantime::format_duration(schedule.interval),
                        mobius_core::text::plural(n, "check")
                    ));
                }
                skipped += n;
                k = latest;
            }
        }
    }
    if skipped > 0 {
        reporter.warn(format!(
            "{} of {} skipped because earlier checks overran the interval",
            mobius_core::text::plural(skipped, "scheduled check"),
            target.url
        ));
    }
}

fn sample(seq: u64, target: &Target, d: Done) -> Sample {
    let Done {
        ts,
        outcome,
        metrics,
        ..
    } = d;
    let mut detail = outcome.detail;
    let (m, read) = match metrics {
        Some((m, problems)) if problems.is_empty() => (m, Some(MetricsRead::Ok)),
        Some((m, problems)) => {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str("metrics: ");
            detail.push_str(&problems.join("; "));
            (m, Some(MetricsRead::Failed))
        }
        None => (Metrics::default(), None),
    };
    // Samples land in monitor logs and exports: no userinfo in the target, no secret echoed
    // back in the detail.
    let detail = redact_text(&detail).into_owned();
    Sample {
        seq,
        ts: mobius_core::time::rfc3339(ts),
        target: target.shown.clone(),
        ok: outcome.ok,
        status: outcome.status,
        latency_ms: outcome.latency_ms,
        error: outcome.error,
        detail,
        error_rate: m.error_rate,
        p95_ms: m.p95_ms,
        metrics: read,
    }
}

/// Probes until --count/--duration, a closed pipe, or SIGINT/SIGTERM.
pub fn run(args: Args, stdin: impl std::io::Read, out: &mut dyn Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter("mobius-probe");
    let targets = targets(&args)?;
    let agent_config = agent_config(&args, stdin)?;
    let duration = match (args.duration, args.count) {
        (None, None) => Some(Duration::from_secs(3600)),
        (d, _) => d,
    };
    for t in &targets {
        reporter.detail(format!(
            "target {} (metrics: {})",
            t.url,
            t.prometheus
                .as_ref()
                .map(|p| format!("Prometheus {}", p.url))
                .or_else(|| t.metrics_url.clone())
                .unwrap_or_else(|| "none".into())
        ));
    }
    if args.timeout > args.interval {
        reporter.detail(format!(
            "timeout {} is longer than the interval {}: a slow check makes the ticks it covers be skipped",
            humantime::format_duration(args.timeout),
            humantime::format_duration(args.interval)
        ));
    }
    if args.common.dry_run {
        reporter.info(format!(
            "dry run: would check {} every {}{}{}",
            mobius_core::text::plural(targets.len() as u64, "target"),
            humantime::format_duration(args.interval),
            duration.map_or(String::new(), |d| format!(
                " for {}",
                humantime::format_duration(d)
            )),
            args.count
                .map_or(String::new(), |c| format!(", {c} checks each"))
        ));
        return Ok(Exit::Success);
    }
    signal::install_stop_handler().map_err(Error::Signal)?;
    let opts = CheckOptions {
        timeout: args.timeout,
        expect_status: args.expect_status.clone(),
        expect_body: args.expect_body.clone(),
        max_body: args.max_body,
        error_rate_field: args.metrics_error_rate_field.clone(),
        p95_field: args.metrics_p95_field.clone(),
        max_redirects: args.max_redirects,
    };
    // Bounded: a stalled reader holds back the probes instead of filling memory.
    let (tx, rx) = mpsc::sync_channel::<Done>(64);
    let start = Instant::now();
    let end = duration.and_then(|d| start.checked_add(d));
    for (i, t) in targets.iter().enumerate() {
        // An agent per target: each keeps its own connection, none waits on another's pool.
        let checker = Checker::new(new_agent(&agent_config), opts.clone());
        let schedule = Schedule {
            start,
            interval: args.interval,
            end,
            count: args.count,
        };
        let (t, tx, reporter) = (t.clone(), tx.clone(), reporter.clone());
        std::thread::Builder::new()
            .name(format!("probe-{i}"))
            .spawn(move || target_loop(i, t, checker, schedule, tx, reporter))
            .map_err(Error::Thread)?;
    }
    drop(tx);

    let mut writer = JsonlWriter::new(out);
    let mut seq: u64 = 0;
    let mut write = |d: Done, seq: &mut u64| -> Result<bool, Error> {
        *seq += 1;
        let s = sample(*seq, &targets[d.target], d);
        match writer.write(&Record::Sample(s)) {
            Ok(()) => Ok(true),
            // The reader has all it wanted (`| head -3`): a clean end, no message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Error::Stdout(e)),
        }
    };
    loop {
        match rx.recv_timeout(signal::POLL_STEP) {
            Ok(d) => {
                if !write(d, &mut seq)? {
                    signal::request_stop();
                    return Ok(Exit::Success);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if signal::stop_signal().is_some() {
            // Checks already finished are written; those still running are abandoned.
            while let Ok(d) = rx.try_recv() {
                if !write(d, &mut seq)? {
                    return Ok(Exit::Success);
                }
            }
            break;
        }
    }
    match signal::stop_signal() {
        Some(sig) => reporter.info(format!(
            "stopped by {} after {}",
            signal::signal_name(sig),
            mobius_core::text::plural(seq, "sample")
        )),
        None => reporter.detail(format!(
            "done: {}",
            mobius_core::text::plural(seq, "sample")
        )),
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn ticks_are_start_plus_k_intervals() {
        let s = Instant::now();
        let i = Duration::from_millis(10);
        assert_eq!(tick(s, i, 0), Some(s));
        assert_eq!(tick(s, i, 1000), Some(s + Duration::from_secs(10)));
        assert_eq!(tick(s, Duration::from_secs(u64::MAX / 2), 4), None);
    }

    #[test]
    fn metrics_urls_pair_with_targets() {
        let parse = |v: &[&str]| {
            let mut a = vec!["mobius-probe"];
            a.extend_from_slice(v);
            Args::try_parse_from(a).unwrap()
        };
        let t = targets(&parse(&[
            "--url",
            "http://a/h",
            "--url",
            "http://b/h",
            "--metrics-url",
            "http://m/x",
        ]))
        .unwrap();
        assert!(t
            .iter()
            .all(|t| t.metrics_url.as_deref() == Some("http://m/x")));
        let e = targets(&parse(&[
            "--url",
            "http://a/h",
            "--url",
            "http://b/h",
            "--url",
            "http://c/h",
            "--metrics-url",
            "http://m/x",
            "--metrics-url",
            "http://m/y",
        ]))
        .unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        let e = targets(&parse(&["--url", "ftp://a/h"])).unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
    }

    #[test]
    fn needs_a_url_or_an_env() {
        assert!(Args::try_parse_from(["mobius-probe"]).is_err());
        assert!(Args::try_parse_from(["mobius-probe", "--env", "../x"]).is_err());
        assert!(
            Args::try_parse_from(["mobius-probe", "--url", "http://a", "--interval", "0s"])
                .is_err()
        );
    }
}

mobius_core::help_fits_test!(Args);
