//! The bundle's sections, one writer each: history (the chain's lines as they are, redacted),
//! backups (with their verification), monitoring runs, smoke runs and the config files.

use super::*;

/// Adds `src` to the bundle as `entry`, line by line and redacted; `each` sees each original
/// line. JSON lines are redacted one by one by the bundle (in a zip, on the compression
/// workers, in parallel); other text here, since a secret may span lines (a PEM key).
pub(super) fn add_redacted_lines(
    bundle: &mut Bundle,
    entry: &str,
    size: u64,
    src: &Path,
    json_lines: bool,
    each: impl FnMut(&str) + Send,
) -> Result<(), Error> {
    if json_lines {
        bundle.add_lines(entry, size, redact_json_line, |w| {
            copy_lines(src, w, None, each)
        })?;
    } else {
        let mut lines = LineRedactor::default();
        bundle.add(entry, size, |w| copy_lines(src, w, Some(&mut lines), each))?;
    }
    Ok(())
}

/// Lines handed to `each` at a time.
const EACH_BATCH: usize = 256 * 1024;

/// Streams `src` line by line into `w`, redacted by `lines` (or as they are, for the bundle
/// to redact); `each` sees the original lines, in order, on a thread of its own: summarizing
/// a monitoring log (parsing every sample) costs as much as reading, redacting and
/// compressing it, and would otherwise hold up this thread, which feeds the compressors.
/// Non-UTF-8 bytes are replaced (U+FFFD): the bundle is text.
fn copy_lines(
    src: &Path,
    w: &mut dyn Write,
    lines: Option<&mut LineRedactor>,
    mut each: impl FnMut(&str) + Send,
) -> Result<(), Error> {
    let file = fsafe::open_input(src, fsafe::Kind::Lines).map_err(|e| Error::io("open", src, e))?;
    let r = BufReader::with_capacity(256 * 1024, file);
    std::thread::scope(|s| {
        // A few batches in flight: memory stays bounded however long the file is.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        s.spawn(move || {
            for batch in rx {
                let text = mobius_core::text::lossy(&batch);
                for line in text.split_inclusive('\n') {
                    each(line.strip_suffix('\n').unwrap_or(line));
                }
            }
        });
        copy_lines_to(src, r, w, lines, &tx)
    })
}

/// The reading half of [`copy_lines`]: the text of the original lines goes to `each_tx` in
/// batches, each line ending in `\n` but perhaps the last.
fn copy_lines_to(
    src: &Path,
    mut r: BufReader<std::fs::File>,
    w: &mut dyn Write,
    mut lines: Option<&mut LineRedactor>,
    each_tx: &std::sync::mpsc::SyncSender<Vec<u8>>,
) -> Result<(), Error> {
    let mut buf = Vec::with_capacity(1024);
    let mut batch = Vec::with_capacity(EACH_BATCH + 4096);
    let gone = || Error::Internal("the line summary stopped");
    loop {
        buf.clear();
        let got = fsafe::read_line_limited(&mut r, &mut buf, fsafe::LINE_LIMIT)
            .map_err(|e| Error::io("read", src, e))?;
        if got == 0 {
            if !batch.is_empty() {
                each_tx.send(batch).map_err(|_| gone())?;
            }
            return Ok(());
        }
        let terminated = buf.last() == Some(&b'\n');
        let body = if terminated {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        let text = mobius_core::text::lossy(body);
        batch.extend_from_slice(text.as_bytes());
        if terminated {
            batch.push(b'\n');
        }
        // Secrets spanning lines (a PEM key, an XML element) need the previous lines' state.
        let red = match lines.as_deref_mut() {
            Some(lines) => lines.line(&text),
            None => std::borrow::Cow::Borrowed(&*text),
        };
        let res = w.write_all(red.as_bytes()).and_then(|()| {
            if terminated {
                w.write_all(b"\n")
            } else {
                Ok(())
            }
        });
        res.map_err(|e| Error::io("write the bundle entry for", src, e))?;
        if batch.len() >= EACH_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(EACH_BATCH + 4096));
            each_tx.send(full).map_err(|_| gone())?;
        }
    }
}

pub(super) fn werr(name: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::io("write the bundle entry", Path::new(name), e)
}

pub(super) struct HistoryOut {
    pub(super) lines: u64,
    pub(super) events_in_period: u64,
    pub(super) unparsed: u64,
    pub(super) head_sha256: Option<String>,
    pub(super) deployments: Vec<Deployment>,
}

pub(super) fn export_history(
    bundle: &mut Bundle,
    path: Option<&Path>,
    period: &Period,
) -> Result<HistoryOut, Error> {
    let mut out = HistoryOut {
        lines: 0,
        events_in_period: 0,
        unparsed: 0,
        head_sha256: None,
        deployments: Vec::new(),
    };
    let mut deps = Deployments::default();
    bundle.add("events.jsonl", 0, |w| {
        let Some(path) = path else { return Ok(()) };
        let file =
            fsafe::open_input(path, fsafe::Kind::Lines).map_err(|e| Error::io("open", path, e))?;
        let mut r = BufReader::new(file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if fsafe::read_line_limited(&mut r, &mut buf, fsafe::LINE_LIMIT)
                .map_err(|e| Error::io("read", path, e))?
                == 0
            {
                break;
            }
            out.lines += 1;
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            out.head_sha256 = Some(sha256_hex(body));
            let text = String::from_utf8_lossy(body);
            let keep = match serde_json::from_str::<Event>(&text) {
                Ok(ev) => {
                    deps.push(&ev);
                    period.contains_ts(&ev.ts)
                }
                // Not an event (damage, which the chain report names): kept, since its
                // time is unknown.
                Err(_) => {
                    out.unparsed += 1;
                    true
                }
            };
            if keep {
                out.events_in_period += 1;
                let red = redact_json_line(&text);
                w.write_all(red.as_bytes())
                    .and_then(|()| w.write_all(b"\n"))
                    .map_err(werr("events.jsonl"))?;
            }
        }
        Ok(())
    })?;
    out.deployments = deps
        .finish()
        .into_iter()
        .filter(|d| period.contains_ts(&d.started))
        .collect();
    Ok(out)
}

pub(super) const BACKUP_HEADER: &[&str] = &[
    "file",
    "name",
    "env",
    "created",
    "size",
    "sha256",
    "sidecar",
    "verifies",
    "entries",
    "problems",
    "first_problem",
];

pub(super) fn export_backups(
    bundle: &mut Bundle,
    backups: &[(PathBuf, BackupName)],
    reporter: &Reporter,
) -> Result<u64, Error> {
    let mut failing = 0u64;
    bundle.add("backups.csv", 0, |w| {
        let mut csv = CsvOut::new(w, BACKUP_HEADER).map_err(werr("backups.csv"))?;
        for (path, bn) in backups {
            let file = bn.file_name();
            reporter.detail(format!("verifying backups/{file}"));
            let has_sidecar = sidecar_path(path).is_file();
            let created = bn.time().map(rfc3339).unwrap_or_default();
            let row = match mobius_verify::verify(
                path,
                mobius_verify::Mode::Deep,
                mobius_verify::default_threads(),
            ) {
                Ok(v) => {
                    let kinds: Vec<&str> = v.problems.iter().map(|p| p.kind.as_str()).collect();
                    let first = v
                        .problems
                        .first()
                        .map(|p| redact_text(&p.detail).into_owned())
                        .unwrap_or_default();
                    if !v.ok() {
                        failing += 1;
                        reporter.warn(format!(
                            "backups/{file} does not verify: {}",
                            kinds.join(", ")
                        ));
                    }
                    [
                        file.clone(),
                        bn.name.clone(),
                        bn.env.clone(),
                        created,
                        v.file_len.to_string(),
                        v.sha256.clone(),
                        yes(has_sidecar),
                        yes(v.ok()),
                        v.entries.to_string(),
                        kinds.join(";"),
                        first,
                    ]
                }
                Err(e) => {
                    failing += 1;
                    reporter.warn(format!("backups/{file} could not be verified: {e}"));
                    [
                        file.clone(),
                        bn.name.clone(),
                        bn.env.clone(),
                        created,
                        fs::metadata(path)
                            .map(|m| m.len().to_string())
                            .unwrap_or_default(),
                        String::new(),
                        yes(has_sidecar),
                        "no".to_owned(),
                        String::new(),
                        "unreadable".to_owned(),
                        e.to_string(),
                    ]
                }
            };
            csv.row(row).map_err(werr("backups.csv"))?;
        }
        csv.finish().map_err(werr("backups.csv"))?;
        Ok(())
    })?;
    Ok(failing)
}

pub(super) fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

pub(super) fn export_monitoring(
    bundle: &mut Bundle,
    logs: &[MonitorLog],
    reporter: &Reporter,
) -> Result<usize, Error> {
    let mut runs = Vec::with_capacity(logs.len());
    for log in logs {
        reporter.detail(format!("monitor_logs/{} ({} bytes)", log.name, log.size));
        let mut summary = RunSummary::new(log.name.clone());
        let entry = format!("monitor_logs/{}", log.name);
        add_redacted_lines(bundle, &entry, log.size, &log.path, true, |line| {
            summary.line(line)
        })?;
        bundle.advance(log.size);
        // The log's report beside it (mobius-report's page; none for a log without samples).
        if let Some(html) = summary.report.finish_html(&log.name) {
            let stem = log.name.strip_suffix(".jsonl").unwrap_or(&log.name);
            let name = format!("monitor_logs/{stem}.html");
            bundle.add(&name, html.len() as u64, |w| {
                w.write_all(html.as_bytes()).map_err(werr(&name))
            })?;
        }
        runs.push(summary);
    }
    bundle.add("monitoring.csv", 0, |w| {
        monitoring::write_csv(w, &runs).map_err(werr("monitoring.csv"))
    })?;
    Ok(runs.len())
}

pub(super) const SMOKE_HEADER: &[&str] = &[
    "dir", "time", "outcome", "total", "passed", "failed", "junit", "jsonl",
];

pub(super) fn export_smoke(bundle: &mut Bundle, runs: &[SmokeRun]) -> Result<(), Error> {
    let mut rows = Vec::new();
    for run in runs {
        let mut summary: Option<Value> = None;
        let mut junit = String::new();
        let mut jsonl = String::new();
        for (path, kind) in &run.files {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let entry = format!("premerge_artifacts/{}/{file}", run.name);
            let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let is_jsonl = *kind == "jsonl";
            add_redacted_lines(bundle, &entry, size, path, is_jsonl, |line| {
                if is_jsonl && line.contains("\"smoke_summary\"") {
                    if let Ok(v) = serde_json::from_str::<Value>(line) {
                        summary = Some(v);
                    }
                }
            })?;
            if is_jsonl {
                jsonl = entry;
            } else {
                junit = entry;
            }
        }
        let get = |k: &str| {
            summary
                .as_ref()
                .and_then(|v| v.get(k))
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let outcome = match summary.as_ref().and_then(|v| v.get("failed")) {
            Some(f) if f.as_u64() == Some(0) => "pass",
            Some(_) => "fail",
            None => "unknown",
        };
        rows.push([
            run.name.clone(),
            rfc3339(run.time),
            outcome.to_owned(),
            get("total"),
            get("passed"),
            get("failed"),
            junit,
            jsonl,
        ]);
    }
    bundle.add("smoke.csv", 0, |w| {
        let mut csv = CsvOut::new(w, SMOKE_HEADER).map_err(werr("smoke.csv"))?;
        for r in rows {
            csv.row(r).map_err(werr("smoke.csv"))?;
        }
        csv.finish().map_err(werr("smoke.csv")).map(|_| ())
    })?;
    Ok(())
}

pub(super) fn export_config(
    bundle: &mut Bundle,
    env: &EnvName,
    files: &[ConfigFile],
) -> Result<(), Error> {
    for f in files {
        let entry = format!("config/{env}/{}", f.rel);
        let bytes = fsafe::read_input(&f.path, fsafe::Kind::Text)
            .map_err(|e| Error::io("read", &f.path, e))?;
        // Any format, parsed or not; a file without secrets goes out byte for byte.
        let out = redact_document(&f.rel, &bytes);
        bundle.add(&entry, f.size, |w| {
            w.write_all(&out).map_err(werr("config"))
        })?;
    }
    Ok(())
}
