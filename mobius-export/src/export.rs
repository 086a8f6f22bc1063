//! The export itself: find the inputs, check the history chain, stream everything (redacted)
//! into the bundle, then MANIFEST.json last.

mod sections;
use crate::bundle::{Bundle, FileEntry};
use crate::csvsafe::CsvOut;
use crate::deployments::{self, Deployment, Deployments};
use crate::monitoring::{self, RunSummary};
use crate::{names, shown, Args, Error, Format, TOOL};
use mobius_core::atomic::is_temp_name;
use mobius_core::backups::{sidecar_path, BackupName};
use mobius_core::cli::Reporter;
use mobius_core::digest::{sha256_file, sha256_hex, write_sidecar};
use mobius_core::fsafe;
use mobius_core::history::{self, verify_chain, ChainReport};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::{Event, ExportRecord, Record};
use mobius_core::redact::{
    redact_document, redact_json_line, redact_lines, redact_text, redact_value, LineRedactor,
    REDACTED,
};
use mobius_core::text::plural;
use mobius_core::time::{millis, rfc3339, rfc3339_millis, unique_file_stamp};
use mobius_core::{EnvName, Exit, Root};
use sections::*;
use serde_json::{json, Value};
use std::fs;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FORMAT: &str = "mobius-export/1";

struct Period {
    start: SystemTime,
    end: SystemTime,
    start_ms: i64,
    end_ms: i64,
}

impl Period {
    fn contains_ts(&self, ts: &str) -> bool {
        rfc3339_millis(ts).is_some_and(|t| t >= self.start_ms && t <= self.end_ms)
    }
    fn contains(&self, t: SystemTime) -> bool {
        t >= self.start && t <= self.end
    }
}

fn ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

struct MonitorLog {
    path: PathBuf,
    name: String,
    size: u64,
}

struct SmokeRun {
    dir: PathBuf,
    name: String,
    time: SystemTime,
    files: Vec<(PathBuf, &'static str)>,
}

struct ConfigFile {
    path: PathBuf,
    rel: String,
    size: u64,
}

#[derive(serde::Serialize)]
struct Omitted {
    path: String,
    reason: String,
}

/// What the export will read.
struct Plan {
    history: Option<PathBuf>,
    chain: Option<ChainReport>,
    monitor_logs: Vec<MonitorLog>,
    smoke_runs: Vec<SmokeRun>,
    backups: Vec<(PathBuf, BackupName)>,
    config: Vec<ConfigFile>,
    missing: Vec<String>,
    omitted: Vec<Omitted>,
}

fn read_dir_sorted(dir: &Path) -> Result<Option<Vec<fs::DirEntry>>, Error> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut v = Vec::new();
    for entry in rd {
        v.push(entry.map_err(|e| Error::io("list", dir, e))?);
    }
    v.sort_by_key(|e| e.file_name());
    Ok(Some(v))
}

fn plan(root: &Root, env: &EnvName, period: &Period) -> Result<Plan, Error> {
    let mut p = Plan {
        history: None,
        chain: None,
        monitor_logs: Vec::new(),
        smoke_runs: Vec::new(),
        backups: Vec::new(),
        config: Vec::new(),
        missing: Vec::new(),
        omitted: Vec::new(),
    };

    let hist = root.history_file(env);
    if hist.is_file() {
        // The chain is checked before anything else is read, so the verdict on the history
        // comes from the file as it was when the export started.
        p.chain = Some(verify_chain(&hist, Some(env)).map_err(|e| Error::io("read", &hist, e))?);
        p.history = Some(hist);
    } else {
        p.missing.push(format!(
            "history/{env}.jsonl: no history yet (no deployment event to export)"
        ));
    }

    let logs_dir = root.monitor_logs_dir();
    if let Some(entries) = read_dir_sorted(&logs_dir)? {
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((log_env, stamp)) = names::monitor_log(&name) else {
                continue;
            };
            if &log_env != env || !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let meta = e
                .metadata()
                .map_err(|err| Error::io("stat", &e.path(), err))?;
            // A run started before the period that went on into it belongs to it too.
            let mtime = meta.modified().unwrap_or(stamp);
            if stamp <= period.end && (stamp >= period.start || mtime >= period.start) {
                p.monitor_logs.push(MonitorLog {
                    path: e.path(),
                    name,
                    size: meta.len(),
                });
            }
        }
    }
    if p.monitor_logs.is_empty() {
        p.missing.push(format!(
            "monitor_logs/{env}_<stamp>.jsonl: no monitoring run in the period"
        ));
    }

    let pre_dir = root.premerge_dir();
    if let Some(entries) = read_dir_sorted(&pre_dir)? {
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((dir_env, time)) = names::smoke_dir(&name) else {
                continue;
            };
            if &dir_env != env || !period.contains(time) || !e.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let mut files = Vec::new();
            for (file, kind) in [("junit.xml", "xml"), ("smoke.jsonl", "jsonl")] {
                let path = e.path().join(file);
                if path.is_file() {
                    files.push((path, kind));
                } else {
                    p.missing
                        .push(format!("premerge_artifacts/{name}/{file}: not there"));
                }
            }
            p.smoke_runs.push(SmokeRun {
                dir: e.path(),
                name,
                time,
                files,
            });
        }
    }
    if p.smoke_runs.is_empty() {
        p.missing.push(format!(
            "premerge_artifacts/smoke_{env}_<stamp>/: no smoke report in the period"
        ));
    }

    let bdir = root.backups_dir();
    if let Some(entries) = read_dir_sorted(&bdir)? {
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_temp_name(&name) {
                continue;
            }
            if let Some(bn) = BackupName::parse(&name) {
                if bn.env == env.as_str() {
                    p.backups.push((e.path(), bn));
                }
            }
        }
    }
    p.backups
        .sort_by(|a, b| (&a.1.stamp, &a.1.name).cmp(&(&b.1.stamp, &b.1.name)));
    if p.backups.is_empty() {
        p.missing
            .push(format!("backups/*_{env}_<stamp>.zip: no backup"));
    }

    let cdir = root.config_dir(env);
    if cdir.is_dir() {
        let walker = walkdir::WalkDir::new(&cdir)
            .follow_links(false)
            .sort_by_file_name();
        for entry in walker {
            let entry = entry.map_err(|e| Error::io("walk", &cdir, e.into()))?;
            let rel = entry
                .path()
                .strip_prefix(&cdir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            let ft = entry.file_type();
            if ft.is_dir() {
                continue;
            }
            if ft.is_file() && !is_temp_name(&entry.file_name().to_string_lossy()) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                // Config is redacted as a whole document, read up to the text limit: a larger
                // file (a data file beside the config) is named as left out, and the export
                // goes on; the backups hold it.
                if size > fsafe::TEXT_LIMIT {
                    p.omitted.push(Omitted {
                        path: format!("config/{env}/{rel}"),
                        reason: format!(
                            "{} bytes, more than the {} MiB a config file is read and redacted up to; the backups hold it",
                            size,
                            fsafe::TEXT_LIMIT >> 20
                        ),
                    });
                    continue;
                }
                p.config.push(ConfigFile {
                    path: entry.path().to_path_buf(),
                    rel,
                    size,
                });
            } else {
                p.omitted.push(Omitted {
                    path: format!("config/{env}/{rel}"),
                    reason: "not a regular file (symlinks are not followed)".to_owned(),
                });
            }
        }
    } else {
        p.missing
            .push(format!("config/{env}/: no configuration directory"));
    }
    Ok(p)
}

fn chain_status(plan: &Plan) -> (Option<bool>, Option<u64>, Option<String>) {
    match &plan.chain {
        None => (None, None, None),
        Some(c) => match &c.first_break {
            None => (Some(true), None, None),
            Some(b) => (Some(false), Some(b.line), Some(b.problem.clone())),
        },
    }
}

fn chain_sentence(env: &EnvName, plan: &Plan) -> String {
    match &plan.chain {
        None => format!("HISTORY: none (history/{env}.jsonl does not exist)"),
        Some(c) => match &c.first_break {
            None => format!(
                "HISTORY CHAIN INTACT: history/{env}.jsonl, {} lines, every line's hash checked",
                c.lines
            ),
            Some(b) => format!(
                "WARNING: HISTORY CHAIN BROKEN at line {} of history/{env}.jsonl: {}. \
                 The history may have been altered; events from that line on cannot be trusted.",
                b.line, b.problem
            ),
        },
    }
}

pub(crate) fn export(args: &Args, env: &EnvName, out: &mut dyn Write) -> Result<Exit, Error> {
    let started = Instant::now();
    let root = args.common.root();
    let reporter = args.common.reporter(TOOL);
    let dry_run = args.common.dry_run;
    let now = SystemTime::now();
    let start = match args.since {
        Some(t) => t,
        None => now
            .checked_sub(Duration::from_secs(u64::from(args.days) * 86_400))
            .unwrap_or(UNIX_EPOCH),
    };
    if start > now {
        return Err(Error::Usage(format!(
            "--since {} is in the future",
            rfc3339(start)
        )));
    }
    let period = Period {
        start,
        end: now,
        start_ms: ms(start),
        end_ms: ms(now),
    };
    let out_dir = args.out.clone().unwrap_or_else(|| root.exports_dir());

    let plan = plan(&root, env, &period)?;
    for o in &plan.omitted {
        reporter.warn(format!("not exported: {} ({})", o.path, o.reason));
    }
    let (chain_ok, first_bad, _) = chain_status(&plan);
    let chain_msg = chain_sentence(env, &plan);
    if chain_ok == Some(false) {
        reporter.error(&chain_msg);
    } else {
        reporter.detail(&chain_msg);
    }
    let exit = if chain_ok == Some(false) {
        Exit::Bad
    } else {
        Exit::Success
    };

    let stamp = unique_file_stamp(now, |s| {
        out_dir.join(format!("lcm_{env}_{s}")).exists()
            || out_dir.join(format!("lcm_{env}_{s}.zip")).exists()
    });
    let base_name = format!("lcm_{env}_{stamp}");
    let dest = match args.format {
        Format::Zip => out_dir.join(format!("{base_name}.zip")),
        Format::Dir => out_dir.join(&base_name),
    };
    let format = match args.format {
        Format::Zip => "zip",
        Format::Dir => "dir",
    };

    let mut record = ExportRecord {
        env: env.to_string(),
        path: shown(&dest),
        format: format.to_owned(),
        sha256: String::new(),
        files: 0,
        bytes: 0,
        period_start: rfc3339(period.start),
        period_end: rfc3339(period.end),
        chain_ok,
        chain_first_bad_line: first_bad,
        deployments: 0,
        backups: plan.backups.len() as u64,
        backups_failing: 0,
        monitor_runs: plan.monitor_logs.len() as u64,
        smoke_runs: plan.smoke_runs.len() as u64,
        missing: plan.missing.clone(),
        duration_ms: 0,
        dry_run,
    };

    if dry_run {
        reporter.info(format!(
            "dry run: would write {} for {} .. {}",
            record.path, record.period_start, record.period_end
        ));
        if let Some(h) = &plan.history {
            reporter.info(format!("  history: {} ({chain_msg})", shown(h)));
        }
        for (p, _) in &plan.backups {
            reporter.info(format!("  backup (verified deep): {}", shown(p)));
        }
        for l in &plan.monitor_logs {
            reporter.info(format!(
                "  monitor log: {} ({} bytes)",
                shown(&l.path),
                l.size
            ));
        }
        for s in &plan.smoke_runs {
            reporter.info(format!("  smoke report: {}", shown(&s.dir)));
        }
        for c in &plan.config {
            reporter.info(format!("  config (redacted): {}", shown(&c.path)));
        }
        for m in &plan.missing {
            reporter.info(format!("  missing: {m}"));
        }
        record.duration_ms = millis(started.elapsed());
        JsonlWriter::new(out)
            .write(&Record::Export(record))
            .map_err(Error::Output)?;
        return Ok(exit);
    }

    fs::create_dir_all(&out_dir).map_err(|e| Error::io("create", &out_dir, e))?;
    let result = write_bundle(
        &dest,
        args.format,
        env,
        &plan,
        &period,
        &chain_msg,
        &reporter,
    );
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            let details = json!({
                "path": record.path,
                "period_start": record.period_start,
                "period_end": record.period_end,
                "error": redact_text(&e.to_string()),
            });
            if let Ok(a) = history::append(&root, env, "export", "failure", details) {
                for w in a.warnings {
                    reporter.warn(w);
                }
            }
            return Err(e);
        }
    };
    record.sha256 = written.sha256;
    record.files = written.files;
    record.bytes = written.bytes;
    record.deployments = written.deployments;
    record.backups_failing = written.backups_failing;

    let details = json!({
        "path": record.path,
        "sha256": record.sha256,
        "period_start": record.period_start,
        "period_end": record.period_end,
        "format": record.format,
        "chain_ok": record.chain_ok,
        "files": record.files,
    });
    let mut exit = exit;
    match history::append(&root, env, "export", "success", details) {
        Ok(a) => {
            for w in a.warnings {
                reporter.warn(w);
            }
        }
        Err(e) => {
            reporter.warn(format!(
                "the bundle {} is complete, but it could not be recorded in the history: {e}",
                record.path
            ));
            exit = exit.merge(Exit::Runtime);
        }
    }
    record.duration_ms = millis(started.elapsed());
    reporter.info(format!(
        "exported {}, {}, {}, {} to {} ({}, {} ms)",
        plural(record.deployments, "deployment"),
        plural(record.backups, "backup"),
        plural(record.monitor_runs, "monitoring run"),
        plural(record.smoke_runs, "smoke report"),
        record.path,
        plural(record.files, "file"),
        record.duration_ms
    ));
    for m in &record.missing {
        reporter.detail(format!("missing: {m}"));
    }
    JsonlWriter::new(out)
        .write(&Record::Export(record))
        .map_err(Error::Output)?;
    Ok(exit)
}

struct Written {
    sha256: String,
    files: u64,
    bytes: u64,
    deployments: u64,
    backups_failing: u64,
}

fn write_bundle(
    dest: &Path,
    format: Format,
    env: &EnvName,
    plan: &Plan,
    period: &Period,
    chain_msg: &str,
    reporter: &Reporter,
) -> Result<Written, Error> {
    let mut bundle = match format {
        Format::Zip => Bundle::zip(dest, period.end)?,
        Format::Dir => Bundle::dir(dest)?,
    };
    let logs: u64 = plan.monitor_logs.iter().map(|l| l.size).sum();
    bundle = bundle.with_progress(mobius_core::progress::Progress::bytes(
        reporter,
        logs,
        "monitoring logs",
    ));
    let hist = export_history(&mut bundle, plan.history.as_deref(), period)?;
    let deployments = hist.deployments.len() as u64;
    bundle.add("deployments.csv", 0, |w| {
        deployments::write_csv(w, &hist.deployments).map_err(werr("deployments.csv"))
    })?;
    let backups_failing = export_backups(&mut bundle, &plan.backups, reporter)?;
    export_monitoring(&mut bundle, &plan.monitor_logs, reporter)?;
    export_smoke(&mut bundle, &plan.smoke_runs)?;
    export_config(&mut bundle, env, &plan.config)?;

    let (chain_ok, first_bad, problem) = chain_status(plan);
    let period_start = rfc3339(period.start);
    let period_end = rfc3339(period.end);
    let summary = summary_text(
        env,
        plan,
        chain_msg,
        &period_start,
        &period_end,
        deployments,
        backups_failing,
    );
    // It quotes history problems and paths: redacted like every other file.
    let summary = redact_lines(&summary).into_owned();
    bundle.add("SUMMARY.txt", 0, |w| {
        w.write_all(summary.as_bytes()).map_err(werr("SUMMARY.txt"))
    })?;

    let files: Vec<FileEntry> = bundle.files().to_vec();
    let mut manifest = json!({
        "format": FORMAT,
        "tool": TOOL,
        "tool_version": mobius_core::VERSION,
        "env": env.as_str(),
        "created": rfc3339(period.end),
        "period": {"start": period_start, "end": period_end},
        "history": {
            "path": format!("history/{env}.jsonl"),
            "present": plan.history.is_some(),
            "lines": hist.lines,
            "chain_ok": chain_ok,
            "first_bad_line": first_bad,
            "problem": problem,
            "last_line_sha256": hist.head_sha256,
            "events_in_period": hist.events_in_period,
            "unparsed_lines": hist.unparsed,
        },
        "counts": {
            "deployments": deployments,
            "backups": plan.backups.len(),
            "backups_failing": backups_failing,
            "monitor_runs": plan.monitor_logs.len(),
            "smoke_runs": plan.smoke_runs.len(),
            "config_files": plan.config.len(),
        },
        "missing": plan.missing,
        "omitted": plan.omitted,
        "redaction": format!(
            "mobius_core::redact in every file: values of secret-named keys (password, secret, token, api_key, private_key, credentials, webhook, auth, cookie, session, ...) in JSON, YAML (block scalars too), INI/.env and XML, whole Authorization/Cookie header values, Bearer tokens, URL userinfo, PEM private keys and key files, replaced by {REDACTED}; files that do not parse line by line"
        ),
        "files": files,
    });
    redact_value(&mut manifest);
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::io("serialize", Path::new("MANIFEST.json"), io::Error::other(e)))?;
    manifest_bytes.push(b'\n');
    let m = bundle.add("MANIFEST.json", 0, |w| {
        w.write_all(&manifest_bytes).map_err(werr("MANIFEST.json"))
    })?;
    let count = bundle.files().len() as u64;
    let bytes = bundle.files().iter().map(|f| f.size).sum();
    bundle.finish()?;

    let sha256 = match format {
        Format::Zip => {
            let (digest, _) = sha256_file(dest).map_err(|e| Error::io("read", dest, e))?;
            write_sidecar(dest, &digest)
                .map_err(|e| Error::io("write", &sidecar_path(dest), e))?
                .report(reporter);
            digest
        }
        Format::Dir => m.sha256,
    };
    Ok(Written {
        sha256,
        files: count,
        bytes,
        deployments,
        backups_failing,
    })
}

fn summary_text(
    env: &EnvName,
    plan: &Plan,
    chain_msg: &str,
    start: &str,
    end: &str,
    deployments: u64,
    backups_failing: u64,
) -> String {
    let mut s = String::new();
    s.push_str(chain_msg);
    s.push_str("\n\n");
    s.push_str(&format!(
        "MOBIUS compliance export of {env}\nperiod: {start} .. {end}\ntool: {TOOL} {}\n\n",
        mobius_core::VERSION
    ));
    s.push_str(&format!(
        "deployments.csv   {deployments} deployments (a deployment = the events from one deploy/started event to the next)\n\
         backups.csv       {} backups, {backups_failing} not verifying now\n\
         monitoring.csv    {} monitoring runs (raw logs under monitor_logs/)\n\
         smoke.csv         {} smoke reports (under premerge_artifacts/)\n\
         events.jsonl      the history events of the period\n\
         config/{env}/     {} configuration files\n\
         MANIFEST.json     every file's SHA-256 and size\n\n\
         Secrets are replaced by {REDACTED}, so redacted lines no longer match the history's\n\
         hashes; the chain was checked on the original file (MANIFEST.json: history).\n",
        plan.backups.len(),
        plan.monitor_logs.len(),
        plan.smoke_runs.len(),
        plan.config.len()
    ));
    if plan.missing.is_empty() {
        s.push_str("\nmissing inputs: none\n");
    } else {
        s.push_str("\nmissing inputs:\n");
        for m in &plan.missing {
            s.push_str(&format!("  - {m}\n"));
        }
    }
    for o in &plan.omitted {
        s.push_str(&format!("omitted: {} ({})\n", o.path, o.reason));
    }
    s
}
