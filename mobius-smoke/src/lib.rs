//! mobius-smoke: post-deployment smoke tests from a JSON spec, one `smoke_check` JSON line
//! per check and a `smoke_summary`, optionally a JUnit report, and a `smoke` history event.
//!
//! The spec (`config/<env>/smoke.json` unless `--spec`):
//!
//! ```json
//! {
//!   "base_url": "http://127.0.0.1:8080",
//!   "headers": {"accept": "application/json"},
//!   "checks": [
//!     {"name": "login", "method": "POST", "path": "/login",
//!      "body": {"user": "smoke", "password": "{{password}}"},
//!      "expect": {"status": 200},
//!      "capture": {"token": {"json": "/token"}}},
//!     {"name": "items", "path": "/api/items",
//!      "headers": {"authorization": "Bearer {{token}}"},
//!      "expect": {"status": "200-299",
//!                 "headers": {"content-type": {"contains": "json"}},
//!                 "body_contains": "alpha",
//!                 "body_matches": "\"id\":\\s*1",
//!                 "json": [{"pointer": "/items/0/name", "equals": "alpha"},
//!                          {"pointer": "/version", "exists": true}],
//!                 "max_duration_ms": 2000}}
//!   ]
//! }
//! ```
//!
//! Every key is checked: an unknown one (a typo such as `"expct"`) is exit 3 naming the check
//! and the key, as is a regex that does not compile. The run order follows the captures
//! (`items` waits for `login`); other checks run in parallel, `--jobs` at a time. Records are
//! written in spec order as soon as every earlier check is done:
//!
//! ```text
//! {"type":"smoke_check","name":"items","ok":false,"method":"GET","url":"http://127.0.0.1:8080/api/items","status":503,"duration_ms":1.9,"attempts":3,"error":null,"failures":[{"expectation":"status","expected":"200-299","actual":"503 (body: {\"error\":\"down\"})"}]}
//! {"type":"smoke_summary","env":"staging","spec":"config/staging/smoke.json","total":2,"passed":1,"failed":1,"duration_ms":2012.4,"junit":"junit.xml"}
//! ```

pub mod exec;
pub mod junit;
mod secrets;
pub mod spec;

use clap::Parser;
use mobius_core::cli::{CommonArgs, Reporter};
use mobius_core::fsafe;
use mobius_core::history::HistoryError;
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::{Record, SmokeCheck, SmokeFailure, SmokeSummary};
use mobius_core::redact::Redactor;
use mobius_core::{EnvName, Exit, ToolError};
use secrets::{is_secret_name, redacted, secret_header_vars};
use spec::{Check, Plan, Spec};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const SPEC_HELP: &str = r#"Spec (JSON; config/<ENV>/smoke.json unless --spec):
  {"base_url": "http://127.0.0.1:8080",
   "headers": {"accept": "application/json"},
   "checks": [
    {"name": "login", "method": "POST", "path": "/login",
     "headers": {"x-smoke": "1"},
     "body": {"user": "smoke", "password": "{{password}}"},
     "expect": {"status": 200},
     "capture": {"token": {"json": "/token"}}},
    {"name": "items", "path": "/api/items",
     "headers": {"authorization": "Bearer {{token}}"},
     "expect": {"status": "200-299",
                "headers": {"content-type": {"contains": "json"}},
                "body_contains": "alpha",
                "body_matches": ""id":\s*1",
                "json": [{"pointer": "/items/0/name", "equals": "alpha"},
                         {"pointer": "/version", "exists": true}],
                "max_duration_ms": 2000}}]}
  base_url: optional; --base-url overrides it; without either, the origin of health_url in
  config/<ENV>/app.json.
  headers: optional, sent with every check (a check's own headers add to them).
  path: joins base_url; or a whole "url".
  body: a string is sent as is; other JSON as JSON (content-type set for you).
  expect.status: 200, "200-299" or [200, 204, "300-304"]; default 200-299.
  expect.headers: per header {"equals"|"contains"|"matches"|"exists": ...}.
  expect.body_contains: a string or a list of strings; body_matches: a regex (Rust syntax).
  expect.json: RFC 6901 pointers, each with equals (any JSON value) or exists.
  capture: {"json": POINTER} or {"header": NAME}; a check using {{token}} runs after the
  check that captures it.
  Unknown keys are errors (exit 3, naming the check and the key). Redirects are not followed.
Variables: {{name}} in paths, URLs, header values, bodies and expected values (not in regexes),
  from --var name=VALUE, --secret name=VALUE, the environment (MOBIUS_VAR_name), or a capture
  of another check. A variable nobody defines is exit 3, naming it.
Secrets: --secret values, every variable whose name is secret-like (token, password, secret,
  api_key/apikey, credential, auth, cookie, session, ...: mobius_core::redact's one list) or
  that a secret-like header uses (Authorization: Bearer {{t}}), captures too, and literal
  values of secret-like headers, are written as *** in records, messages and the JUnit
  report; the shared redaction rules (whole Authorization/Cookie values, URL userinfo,
  secret-named keys in echoed bodies) run on all of it as well. Prefer
  MOBIUS_VAR_name over --secret on shared hosts: arguments are visible in `ps`.
Output: one line per check in spec order, then the summary:
  {"type":"smoke_check","name":"health","ok":false,"method":"GET","url":"http://127.0.0.1:8080/health",
   "status":503,"duration_ms":1.2,"attempts":3,"error":null,
   "failures":[{"expectation":"status","expected":"200","actual":"503 (body: ...)"}]}
  {"type":"smoke_summary","env":"staging","spec":"config/staging/smoke.json","total":4,"passed":3,
   "failed":1,"duration_ms":12.5,"junit":"junit.xml"}
  expectation: status | header NAME | body_contains | body_matches | json POINTER |
  max_duration_ms | capture VAR | response (none came: error says why) | dependency (not run:
  a check whose capture it needs failed) | url | request.
  With --env the result is recorded in history/<ENV>.jsonl (action smoke, outcome pass|fail).
  --dry-run checks the spec and lists the checks on stderr; no request is sent.
  A missing spec file is exit 4 (the tool has nothing to run), a spec that does not parse exit 3."#;

/// Run the smoke checks of a spec and report each one.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-smoke",
    version = mobius_core::VERSION,
    about = "Post-deployment smoke tests: one `smoke_check` JSON line per check, a summary, JUnit",
    after_help = format!("{SPEC_HELP}\n\n{}", mobius_core::exit::EXIT_CODE_HELP)
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Environment: its spec config/<ENV>/smoke.json, its app.json for the base URL, and its
    /// history for the result
    #[arg(long, value_name = "ENV", required_unless_present = "spec")]
    pub env: Option<EnvName>,
    /// The spec to run, `-` for standard input (default: config/<ENV>/smoke.json)
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Base URL for the checks' paths, instead of the spec's base_url
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Checks run at the same time at most
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Re-run a failed check up to N more times (a service still starting)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry: u32,
    /// Wait between a failed attempt and the next
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    pub retry_interval: Duration,
    /// Limit for one request: connect, response and body
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Write a JUnit XML report here (atomically)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the JSON lines to this file (atomically, at the end)
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// A variable for {{NAME}} (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A variable whose value is replaced by *** in all output (repeatable)
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 1s, 500ms)"))
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match duration(s) {
        Ok(d) if d.is_zero() => Err("must be more than zero".into()),
        other => other,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("no smoke spec at {}; create one (see mobius-smoke --help for the format) or pass --spec FILE", mobius_core::fsafe::input_name(path))]
    SpecMissing { path: PathBuf },
    #[error("cannot read the smoke spec {}", mobius_core::fsafe::input_name(path))]
    SpecRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {msg}", mobius_core::fsafe::input_name(path))]
    Spec { path: PathBuf, msg: String },
    #[error("{} does not parse: {msg}", mobius_core::fsafe::input_name(path))]
    AppConfig { path: PathBuf, msg: String },
    #[error("cannot read {}", mobius_core::fsafe::input_name(path))]
    AppRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the JUnit report {}", path.display())]
    Junit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Jsonl {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write records to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("the smoke result could not be recorded in the history")]
    History(#[source] HistoryError),
    #[error("cannot start a worker thread")]
    Thread(#[source] std::io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Spec { .. } | Error::AppConfig { .. } => Exit::Malformed,
            Error::SpecMissing { .. }
            | Error::SpecRead { .. }
            | Error::AppRead { .. }
            | Error::Junit { .. }
            | Error::Jsonl { .. }
            | Error::Stdout(_)
            | Error::History(_)
            | Error::Thread(_) => Exit::Runtime,
        }
    }
}

/// `NAME=VALUE` from the command line. The value never appears in an error: it may be a secret.
fn parse_assignments(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, Error> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((name, value)) if spec::is_var_name(name) => {
                Ok((name.to_owned(), value.to_owned()))
            }
            Some((name, _)) => Err(Error::Usage(format!(
                "{flag}: '{name}' is not a variable name (letters, digits, _ . -; not starting with a digit)"
            ))),
            None => Err(Error::Usage(format!("{flag} takes NAME=VALUE"))),
        })
        .collect()
}

/// The origin (`scheme://host:port`) of health_url in config/<env>/app.json.
fn app_origin(root: &mobius_core::Root, env: &EnvName) -> Result<Option<String>, Error> {
    let path = mobius_core::app_config::app_json_path(root, env);
    let bytes = match fsafe::read_input(&path, fsafe::Kind::Text) {
        Ok(b) => b,
        Err(source) if fsafe::is_refusal(&source) => return Err(Error::AppRead { path, source }),
        Err(_) => return Ok(None),
    };
    let bad = |msg: String| Error::AppConfig {
        path: path.clone(),
        msg,
    };
    let app = mobius_core::app_config::AppConfig::parse(&bytes).map_err(bad)?;
    let Some(health) = app.health_url.as_deref() else {
        return Ok(None);
    };
    let uri: ureq::http::Uri = health
        .parse()
        .map_err(|e| bad(format!("health_url '{health}' is not a URL: {e}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => Ok(Some(format!("{s}://{a}"))),
        _ => Err(bad(format!("health_url '{health}' has no scheme and host"))),
    }
}

fn failure_line(c: &SmokeCheck) -> String {
    let what = c
        .failures
        .iter()
        .map(|f| {
            format!(
                "{}: expected {}, got {}",
                f.expectation, f.expected, f.actual
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "FAIL {} ({} {}, {} attempt{}): {what}",
        c.name,
        c.method,
        c.url,
        c.attempts,
        if c.attempts == 1 { "" } else { "s" }
    )
}

/// Where records go: stdout, and a copy kept for --jsonl.
struct Sink<'a> {
    out: JsonlWriter<&'a mut dyn Write>,
    copy: Option<Vec<u8>>,
}

impl Sink<'_> {
    fn write(&mut self, rec: &Record) -> Result<(), Error> {
        if let Some(buf) = &mut self.copy {
            serde_json::to_writer(&mut *buf, rec)
                .map_err(|e| Error::Stdout(std::io::Error::other(e)))?;
            buf.push(b'\n');
        }
        self.out.write(rec).map_err(Error::Stdout)
    }
}

/// What a worker sends back: the check's index, attempts made, and the last attempt.
type Done = (usize, u32, exec::Attempt);

struct RunOptions<'a> {
    reporter: &'a Reporter,
    /// Variables used in secret-like headers (see [`secret_header_vars`]).
    secret_vars: &'a BTreeSet<String>,
    jobs: usize,
    retry: u32,
    retry_interval: Duration,
}

/// Runs the checks in dependency order, `jobs` at a time; `emit` gets each finished check in
/// spec order. Captured values go into `values` (and secret ones into `redactor`) before any
/// later record is emitted.
fn run_checks(
    spec: &Spec,
    plan: &Plan,
    ctx: &exec::Context,
    opts: &RunOptions<'_>,
    values: &mut BTreeMap<String, String>,
    redactor: &mut Redactor,
    emit: &mut dyn FnMut(&SmokeCheck, &Redactor) -> Result<(), Error>,
) -> Result<Vec<SmokeCheck>, Error> {
    let checks = &spec.checks;
    let n = checks.len();
    let mut waiting: Vec<usize> = plan.deps.iter().map(|d| d.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, deps) in plan.deps.iter().enumerate() {
        for &j in deps {
            dependents[j].push(i);
        }
    }
    let mut results: Vec<Option<SmokeCheck>> = vec![None; n];
    let (job_tx, job_rx) = mpsc::channel::<(usize, Check)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let workers = opts.jobs.min(n).max(1);
    std::thread::scope(|s| -> Result<Vec<SmokeCheck>, Error> {
        for _ in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            std::thread::Builder::new()
                .name("smoke".into())
                .spawn_scoped(s, move || loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, check)) = job else { return };
                    let mut attempts = 0;
                    let last = loop {
                        attempts += 1;
                        let a = exec::attempt(&check, ctx);
                        if a.ok() || attempts > opts.retry {
                            break a;
                        }
                        opts.reporter.detail(format!(
                            "check '{}' failed attempt {attempts}; retrying in {}",
                            check.name,
                            humantime::format_duration(opts.retry_interval)
                        ));
                        std::thread::sleep(opts.retry_interval);
                    };
                    if done_tx.send((i, attempts, last)).is_err() {
                        return;
                    }
                })
                .map_err(Error::Thread)?;
        }
        drop(done_tx);
        let dispatch =
            |i: usize, values: &BTreeMap<String, String>, results: &mut Vec<Option<SmokeCheck>>| {
                match checks[i].substituted(&|name| values.get(name).cloned()) {
                    Ok(c) => {
                        // The workers outlive the sender inside this scope; a send cannot fail
                        // unless every worker died, and then the receive below reports it.
                        let _ = job_tx.send((i, c));
                    }
                    Err(name) => {
                        results[i] = Some(not_run(
                            &checks[i],
                            ctx,
                            SmokeFailure {
                                expectation: "dependency".into(),
                                expected: format!("a value for {{{{{name}}}}}"),
                                actual: "none was captured".into(),
                            },
                        ))
                    }
                }
            };
        let ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        for i in ready {
            dispatch(i, values, &mut results);
        }
        let mut next_emit = 0;
        let mut out = Vec::with_capacity(n);
        loop {
            while next_emit < n {
                let Some(r) = &results[next_emit] else { break };
                emit(r, redactor)?;
                out.push(r.clone());
                next_emit += 1;
            }
            if next_emit == n {
                break;
            }
            let Ok((i, attempts, last)) = done_rx.recv() else {
                return Err(Error::Thread(std::io::Error::other(
                    "every worker thread ended before the checks were done",
                )));
            };
            let ok = last.ok();
            if ok {
                for (var, value) in &last.captures {
                    if is_secret_name(opts.secret_vars, var) {
                        redactor.add(value);
                    }
                    values.insert(var.clone(), value.clone());
                }
            }
            results[i] = Some(SmokeCheck {
                name: checks[i].name.clone(),
                ok,
                method: checks[i].method.clone(),
                url: last.url,
                status: last.status,
                duration_ms: last.duration_ms,
                attempts,
                error: last.error,
                failures: last.failures,
            });
            if ok {
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 && results[d].is_none() {
                        dispatch(d, values, &mut results);
                    }
                }
            } else {
                block_dependents(i, checks, plan, &dependents, ctx, &mut results);
            }
        }
        drop(job_tx);
        Ok(out)
    })
}

/// Marks every check that needs a capture of failed check `i` (directly or not) as not run.
fn block_dependents(
    i: usize,
    checks: &[Check],
    plan: &Plan,
    dependents: &[Vec<usize>],
    ctx: &exec::Context,
    results: &mut [Option<SmokeCheck>],
) {
    let mut stack = vec![i];
    while let Some(j) = stack.pop() {
        for &d in &dependents[j] {
            if results[d].is_some() {
                continue;
            }
            let vars: Vec<String> = plan
                .captured_by
                .iter()
                .filter(|(_, &by)| by == j)
                .map(|(v, _)| format!("{{{{{v}}}}}"))
                .collect();
            results[d] = Some(not_run(
                &checks[d],
                ctx,
                SmokeFailure {
                    expectation: "dependency".into(),
                    expected: format!(
                        "check '{}' passes and captures {}",
                        checks[j].name,
                        vars.join(", ")
                    ),
                    actual: format!("check '{}' failed; this check was not run", checks[j].name),
                },
            ));
            stack.push(d);
        }
    }
}

fn not_run(check: &Check, ctx: &exec::Context, why: SmokeFailure) -> SmokeCheck {
    SmokeCheck {
        name: check.name.clone(),
        ok: false,
        method: check.method.clone(),
        url: exec::url_of(check, ctx.base_url.as_deref()).unwrap_or_default(),
        status: None,
        duration_ms: None,
        attempts: 0,
        error: None,
        failures: vec![why],
    }
}

/// Runs the spec; the exit code says whether every check passed.
pub fn run(args: Args, stdin: impl std::io::Read, out: &mut dyn Write) -> Result<Exit, Error> {
    let reporter = args.common.reporter("mobius-smoke");
    let root = args.common.root();
    let cli_vars = parse_assignments("--var", &args.vars)?;
    let cli_secrets = parse_assignments("--secret", &args.secrets)?;
    let mut redactor = Redactor::default();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &cli_vars {
        values.insert(name.clone(), value.clone());
    }
    for (name, value) in &cli_secrets {
        redactor.add(value);
        values.insert(name.clone(), value.clone());
    }

    let spec_path = match (&args.spec, &args.env) {
        (Some(p), _) => p.clone(),
        (None, Some(env)) => root.config_dir(env).join("smoke.json"),
        (None, None) => return Err(Error::Usage("give --env ENV or --spec FILE".into())),
    };
    // Reports are checked before any check runs: a link planted at --junit is refused
    // now, not after the service was exercised.
    for (path, is_junit) in [(&args.junit, true), (&args.jsonl, false)] {
        if let Some(path) = path {
            fsafe::check_output(path).map_err(|source| match is_junit {
                true => Error::Junit {
                    path: path.clone(),
                    source,
                },
                false => Error::Jsonl {
                    path: path.clone(),
                    source,
                },
            })?;
        }
    }
    let text = match fsafe::read_input_string_or(&spec_path, fsafe::Kind::Text, stdin) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::SpecMissing { path: spec_path })
        }
        Err(source) => {
            return Err(Error::SpecRead {
                path: spec_path,
                source,
            })
        }
    };
    let spec_err = |msg: String| Error::Spec {
        path: spec_path.clone(),
        msg,
    };
    let spec = spec::parse(&text).map_err(|e| spec_err(e.0))?;
    let secret_vars = secret_header_vars(&spec, &mut redactor);
    for (name, value) in &cli_vars {
        if is_secret_name(&secret_vars, name) {
            redactor.add(value);
        }
    }

    // The environment is read here, once, and only for names the spec uses.
    let env_value = |name: &str| std::env::var(format!("MOBIUS_VAR_{name}")).ok();
    let plan = spec::plan(&spec.checks, &|name| {
        values.contains_key(name) || env_value(name).is_some()
    })
    .map_err(|e| spec_err(e.0))?;
    for c in &spec.checks {
        for name in c.uses() {
            if !values.contains_key(&name) && !plan.captured_by.contains_key(&name) {
                if let Some(v) = env_value(&name) {
                    if is_secret_name(&secret_vars, &name) {
                        redactor.add(&v);
                    }
                    values.insert(name, v);
                }
            }
        }
    }

    let needs_base = spec
        .checks
        .iter()
        .any(|c| matches!(c.target, spec::Target::Path(_)));
    let base_url = match (&args.base_url, &spec.base_url) {
        (Some(b), _) => {
            spec::check_http_url(b).map_err(|m| Error::Usage(format!("--base-url: {m}")))?;
            Some(b.clone())
        }
        (None, Some(b)) => Some(b.clone()),
        (None, None) if needs_base => match &args.env {
            Some(env) => app_origin(&root, env)?,
            None => None,
        },
        (None, None) => None,
    };
    if needs_base && base_url.is_none() {
        return Err(spec_err(
            "the checks use \"path\" but there is no base URL: set \"base_url\" in the spec, pass --base-url, or give --env with a health_url in config/<ENV>/app.json".into(),
        ));
    }
    let base_for_messages = base_url.clone().unwrap_or_default();
    reporter.detail(format!(
        "spec {} ({}), base URL {}",
        spec_path.display(),
        mobius_core::text::plural(spec.checks.len() as u64, "check"),
        if base_for_messages.is_empty() {
            "none"
        } else {
            &base_for_messages
        }
    ));

    let ctx = exec::Context {
        agent: exec::agent(args.timeout, args.jobs as usize),
        timeout: args.timeout,
        base_url,
    };

    // Where the result will be recorded is checked before the service is exercised.
    if let (Some(env), false) = (&args.env, args.common.dry_run) {
        mobius_core::history::check_writable(&root, env).map_err(Error::History)?;
    }
    if args.common.dry_run {
        for (i, c) in spec.checks.iter().enumerate() {
            let url = exec::url_of(c, ctx.base_url.as_deref()).unwrap_or_default();
            let after: Vec<&str> = plan.deps[i]
                .iter()
                .map(|&j| spec.checks[j].name.as_str())
                .collect();
            reporter.info(redactor.apply(&format!(
                "dry run: check '{}': {} {}{}",
                c.name,
                c.method,
                url,
                if after.is_empty() {
                    String::new()
                } else {
                    format!(" (after {})", after.join(", "))
                }
            )));
        }
        reporter.info(format!(
            "dry run: {} in {}; no request sent",
            mobius_core::text::plural(spec.checks.len() as u64, "check"),
            spec_path.display()
        ));
        return Ok(Exit::Success);
    }

    let started = SystemTime::now();
    let t0 = Instant::now();
    let mut sink = Sink {
        out: JsonlWriter::new(out),
        copy: args.jsonl.as_ref().map(|_| Vec::new()),
    };
    let opts = RunOptions {
        reporter: &reporter,
        secret_vars: &secret_vars,
        jobs: args.jobs as usize,
        retry: args.retry,
        retry_interval: args.retry_interval,
    };
    let mut emit = |c: &SmokeCheck, r: &Redactor| -> Result<(), Error> {
        let shown = redacted(c, r);
        if shown.ok {
            reporter.detail(format!(
                "ok   {} ({} {}): {} in {} ms",
                shown.name,
                shown.method,
                shown.url,
                shown.status.map_or("-".to_owned(), |s| s.to_string()),
                shown.duration_ms.unwrap_or(0.0)
            ));
        } else {
            reporter.info(failure_line(&shown));
        }
        sink.write(&Record::SmokeCheck(shown))
    };
    let results = run_checks(
        &spec,
        &plan,
        &ctx,
        &opts,
        &mut values,
        &mut redactor,
        &mut emit,
    )?;
    let total_ms = mobius_probe::check::round_ms(t0.elapsed());
    let shown: Vec<SmokeCheck> = results.iter().map(|c| redacted(c, &redactor)).collect();
    let passed = shown.iter().filter(|c| c.ok).count() as u64;
    let total = shown.len() as u64;
    let failed = total - passed;

    let env_label = args.env.as_ref().map(|e| e.to_string());
    let mut junit_error = None;
    let mut junit_written = None;
    if let Some(path) = &args.junit {
        let suite = match &env_label {
            Some(e) => format!("mobius-smoke {e}"),
            None => "mobius-smoke".to_owned(),
        };
        let classname = match &env_label {
            Some(e) => format!("smoke.{e}"),
            None => "smoke".to_owned(),
        };
        let stamp = mobius_core::time::rfc3339(started);
        // JUnit's timestamp is an xs:dateTime without a zone (UTC by convention here).
        let stamp: String = stamp.chars().take(19).collect();
        let xml = junit::render(&suite, &classname, &stamp, total_ms, &shown);
        match mobius_core::atomic::write_atomic(path, xml.as_bytes(), 0o644) {
            Ok(()) => junit_written = Some(path.display().to_string()),
            Err(source) => {
                junit_error = Some(Error::Junit {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
    sink.write(&Record::SmokeSummary(SmokeSummary {
        env: env_label.clone(),
        spec: spec_path.display().to_string(),
        total,
        passed,
        failed,
        duration_ms: total_ms,
        junit: junit_written.clone(),
    }))?;
    let summary = format!(
        "{total} checks: {passed} passed, {failed} failed in {total_ms:.0} ms{}",
        junit_written
            .as_deref()
            .map_or(String::new(), |p| format!("; JUnit report {p}"))
    );
    reporter.info(summary);

    let mut jsonl_written = None;
    if let (Some(path), Some(buf)) = (&args.jsonl, &sink.copy) {
        mobius_core::atomic::write_atomic(path, buf, 0o644).map_err(|source| Error::Jsonl {
            path: path.clone(),
            source,
        })?;
        jsonl_written = Some(path.display().to_string());
    }
    if let Some(env) = &args.env {
        let details = serde_json::json!({
            "passed": passed,
            "failed": failed,
            "total": total,
            "junit": junit_written,
            "jsonl": jsonl_written,
            "spec": spec_path.display().to_string(),
        });
        let outcome = if failed == 0 { "pass" } else { "fail" };
        let appended = mobius_core::history::append(&root, env, "smoke", outcome, details)
            .map_err(Error::History)?;
        for w in appended.warnings {
            reporter.warn(w);
        }
    }
    if let Some(e) = junit_error {
        return Err(e);
    }
    Ok(if failed == 0 {
        Exit::Success
    } else {
        Exit::Bad
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn assignments_never_echo_the_value() {
        let e = parse_assignments("--secret", &["bad name=hunter2".into()]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse_assignments("--secret", &["hunter2".into()]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(
            parse_assignments("--var", &["a=b=c".into()]).unwrap(),
            vec![("a".to_owned(), "b=c".to_owned())]
        );
    }
}

mobius_core::help_fits_test!(Args);
