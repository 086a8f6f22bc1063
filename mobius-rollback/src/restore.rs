//! Steps 4 to 7 of a rollback, and the choice of the backup before them: which candidate
//! (`--latest`: the newest that verifies), the dry run's report, the safety backup, the
//! swaps, the restart and health checks, and putting everything back when they fail.

use crate::health::{self, Cause};
use crate::prepare::{describe, prepare, Prepared, Ready};
use crate::{
    extract, io_err, swap, Ctx, Error, NEW_TARGET_MODE, SAFETY_BACKUP_NAME, SAFETY_KEEP, TOOL,
};
use mobius_backup::BackupOptions;
use mobius_core::backups::list_backups;
use mobius_core::cli::Reporter;
use mobius_core::exit::error_chain;
use mobius_core::history;
use mobius_core::platform;
use mobius_core::records::{
    HealthBefore, Problem, RestoredPlace, RollbackHealth, RollbackRecord, SkippedBackup,
};
use mobius_core::time::{file_stamp, millis};
use mobius_core::Exit;
use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The one health check before the restore waits at most this long.
const BEFORE_TIMEOUT: Duration = Duration::from_secs(5);

fn report_refusal(ctx: &Ctx<'_>, backup: &Path, problems: &[Problem]) {
    ctx.reporter.error(format!(
        "REFUSED {}: {} problem{}; nothing live was touched",
        backup.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
    ));
    for p in problems.iter().take(20) {
        ctx.reporter.info(format!("  {}", describe(p)));
    }
    for p in problems.iter().skip(20) {
        ctx.reporter.detail(format!("  {}", describe(p)));
    }
}

/// The backups to try, newest first: the one given, or (`--latest`) every backup of the
/// environment.
fn candidates(ctx: &Ctx<'_>) -> Result<Vec<PathBuf>, Error> {
    if let Some(b) = &ctx.args.backup {
        return Ok(vec![b.clone()]);
    }
    let dir = ctx.root.backups_dir();
    let mut found =
        list_backups(&dir, &ctx.args.name, ctx.env).map_err(io_err("list the backups in", &dir))?;
    found.reverse();
    Ok(found.into_iter().map(|b| b.path).collect())
}

/// What choosing among the candidates came to.
enum Chosen {
    Ready(PathBuf, Box<Ready>),
    /// Nothing to restore: the record says why.
    Refused(Box<RollbackRecord>),
}

/// Tries each candidate in turn (one, without `--latest`); `stamp` extracts it.
fn choose(
    ctx: &Ctx<'_>,
    stamp: Option<&str>,
    skipped: &mut Vec<SkippedBackup>,
) -> Result<Chosen, Error> {
    let list = candidates(ctx)?;
    if list.is_empty() {
        let dir = ctx.root.backups_dir();
        let why = format!(
            "there is no backup {}_{}_<stamp>.zip in {} (make one with backup.sh --env {})",
            ctx.args.name,
            ctx.env,
            dir.display(),
            ctx.env
        );
        ctx.reporter.error(format!("REFUSED: {why}"));
        let mut rec = ctx.record(Path::new(&ctx.backup_shown()), "refused");
        rec.reason = Some(why);
        rec.duration_ms = millis(ctx.started.elapsed());
        return Ok(Chosen::Refused(Box::new(rec)));
    }
    let mut last = None;
    for backup in &list {
        match prepare(ctx, backup, stamp)? {
            Prepared::Ready(r) => {
                if !skipped.is_empty() {
                    ctx.reporter.info(format!(
                        "newest good backup of {}: {} ({} newer skipped)",
                        ctx.env,
                        backup.display(),
                        skipped.len()
                    ));
                }
                return Ok(Chosen::Ready(backup.clone(), r));
            }
            Prepared::Refused {
                problems,
                sha256,
                reason,
            } => {
                if ctx.args.latest {
                    ctx.reporter
                        .warn(format!("skipping {}: {reason}", backup.display()));
                    skipped.push(SkippedBackup {
                        backup: backup.display().to_string(),
                        reason: reason.clone(),
                    });
                } else {
                    report_refusal(ctx, backup, &problems);
                }
                last = Some((backup.clone(), problems, sha256, reason));
            }
        }
    }
    let (backup, problems, sha256, reason) =
        last.unwrap_or_else(|| unreachable!("the list is not empty"));
    let mut rec = ctx.record(&backup, "refused");
    if ctx.args.latest {
        let all: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} ({})", s.backup, s.reason))
            .collect();
        let why = format!(
            "no backup of {} verifies; every candidate was refused: {}",
            ctx.env,
            all.join("; ")
        );
        ctx.reporter.error(format!("REFUSED: {why}"));
        rec.backup = ctx.backup_shown();
        rec.reason = Some(why);
    } else {
        rec.sha256 = sha256;
        rec.reason = Some(reason);
    }
    rec.problems = problems;
    rec.skipped = std::mem::take(skipped);
    rec.duration_ms = millis(ctx.started.elapsed());
    Ok(Chosen::Refused(Box::new(rec)))
}

/// The restored app.json, parsed (None when absent or unreadable: the caller says why).
/// The URL the health checks use, or why there is none.
fn health_url(ctx: &Ctx<'_>, ready: &Ready) -> Result<Option<String>, String> {
    if ctx.args.no_health_check {
        return Ok(None);
    }
    if let Some(u) = &ctx.args.health_url {
        return Ok(Some(u.clone()));
    }
    let why = match &ready.app {
        Ok(None) => "the backup has no app.json in the config it restores".to_owned(),
        Err(e) => e.clone(),
        Ok(Some(app)) => match &app.health_url {
            Some(u) if !u.trim().is_empty() => return Ok(Some(u.clone())),
            _ => "the restored app.json has no health_url".to_owned(),
        },
    };
    Err(format!(
        "{why}, so nothing would prove the service healthy: give --health-url URL, or --no-health-check to restore without a check"
    ))
}

/// The restart command: the flag, else the restored app.json's, else the live one's.
fn restart_cmd(ctx: &Ctx<'_>, ready: &Ready) -> Option<String> {
    ctx.args
        .restart_cmd
        .clone()
        .or_else(|| {
            ready
                .app
                .as_ref()
                .ok()
                .and_then(|a| a.as_ref()?.restart_cmd.clone())
        })
        .or_else(|| ctx.live.as_ref().and_then(|a| a.restart_cmd.clone()))
}

/// The one check before anything is touched: the flag's URL or the live app.json's.
fn health_before(ctx: &Ctx<'_>) -> Option<HealthBefore> {
    if ctx.args.no_health_check {
        return None;
    }
    let url = ctx
        .args
        .health_url
        .clone()
        .or_else(|| ctx.live.as_ref().and_then(|a| a.health_url.clone()))?;
    let h = health::check_before(&url, ctx.args.health_timeout.min(BEFORE_TIMEOUT));
    ctx.reporter.info(format!(
        "before the restore, {url} answers: {}",
        if h.ok {
            "healthy".to_owned()
        } else {
            h.detail.clone()
        }
    ));
    Some(h)
}

fn fill(rec: &mut RollbackRecord, ready: &Ready) {
    let (a, c, r, _) = ready.totals();
    rec.sha256 = ready.sha256.clone();
    rec.added = a as u64;
    rec.changed = c as u64;
    rec.removed = r as u64;
    rec.places = ready
        .places
        .iter()
        .map(|p| RestoredPlace {
            source: p.place.source.clone(),
            target: p.place.paths.target.display().to_string(),
        })
        .collect();
    if let Some(p) = ready.places.first() {
        rec.target = p.place.paths.target.display().to_string();
    }
}

fn places_shown(ready: &Ready) -> String {
    ready
        .places
        .iter()
        .map(|p| p.place.paths.target.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

pub(crate) fn dry_run(ctx: &Ctx<'_>) -> Result<(RollbackRecord, Exit), Error> {
    let rep = &ctx.reporter;
    if swap::read_journal(&ctx.journal).ok().flatten().is_some()
        || ctx
            .candidate_paths()
            .iter()
            .any(|p| !p.leftovers().unwrap_or_default().is_empty())
    {
        rep.warn(
            "an interrupted rollback left trees or a journal behind; a real run finishes or undoes it first",
        );
    }
    let mut skipped = Vec::new();
    let (backup, ready) = match choose(ctx, None, &mut skipped)? {
        Chosen::Refused(rec) => return Ok((*rec, Exit::Bad)),
        Chosen::Ready(b, r) => (b, r),
    };
    for p in &ready.places {
        let c = &p.changes;
        for (verb, list) in [
            ("would add", &c.added),
            ("would change", &c.changed),
            ("would remove", &c.removed),
        ] {
            for f in list {
                // A removed name comes from the live tree, which may hold any bytes.
                rep.info(format!(
                    "{verb} {} in {}",
                    mobius_core::text::escape_str(f),
                    p.place.paths.target.display()
                ));
            }
        }
    }
    let mut rec = ctx.record(&backup, "checked");
    fill(&mut rec, &ready);
    rec.skipped = skipped;
    rec.files_restored = ready.manifest.files.len() as u64;
    rec.duration_ms = millis(ctx.started.elapsed());
    if let Err(why) = health_url(ctx, &ready) {
        rep.error(format!("a real run would refuse: {why}"));
        rec.outcome = "refused".into();
        rec.reason = Some(why);
        return Ok((rec, Exit::Usage));
    }
    match restart_cmd(ctx, &ready) {
        Some(cmd) => rep.detail(format!("a real run would then run the restart command: {cmd}")),
        None => rep.detail("no restart command (restart_cmd in app.json or --restart-cmd): the service must pick the restored files up itself"),
    }
    let (a, c, r, u) = ready.totals();
    rep.info(format!(
        "dry run: {} verified; restoring it into {} would add {a}, change {c} and remove {r} files ({u} unchanged); nothing was written",
        backup.display(),
        places_shown(&ready),
    ));
    Ok((rec, Exit::Success))
}

pub(crate) fn real_run(ctx: &Ctx<'_>) -> Result<(RollbackRecord, Exit), Error> {
    let rep = &ctx.reporter;
    let before = health_before(ctx);
    let stamp = file_stamp(SystemTime::now());
    let mut skipped = Vec::new();
    let (backup, ready) = match choose(ctx, Some(&stamp), &mut skipped)? {
        Chosen::Refused(mut rec) => {
            rec.health_before = before;
            return Ok((*rec, Exit::Bad));
        }
        Chosen::Ready(b, r) => (b, r),
    };
    let mut rec = ctx.record(&backup, "success");
    rec.health_before = before.clone();
    rec.skipped = skipped;
    fill(&mut rec, &ready);
    rec.files_restored = ready.files;
    rep.detail(format!(
        "verified {} and staged {} for {}",
        backup.display(),
        mobius_core::text::plural(ready.files, "file"),
        places_shown(&ready)
    ));
    let url = match health_url(ctx, &ready) {
        Ok(u) => u,
        Err(why) => {
            ready.discard(ctx);
            rep.error(format!("refused: {why}"));
            rec.outcome = "refused".into();
            rec.reason = Some(why);
            rec.files_restored = 0;
            rec.duration_ms = millis(ctx.started.elapsed());
            return Ok((rec, Exit::Usage));
        }
    };
    let restart = restart_cmd(ctx, &ready);

    if !ctx.args.no_safety_backup {
        match safety_backup(ctx, &ready) {
            Ok(p) => rec.safety_backup = p,
            Err(e) => {
                ready.discard(ctx);
                return Err(e);
            }
        }
    }
    let mut journal_places = Vec::with_capacity(ready.places.len());
    for p in &ready.places {
        let Some(staging) = &p.staging else {
            unreachable!("a real run stages every place")
        };
        let target = &p.place.paths.target;
        let old_meta = std::fs::symlink_metadata(target).ok();
        let root_mode = old_meta.as_ref().map_or(NEW_TARGET_MODE, platform::mode_of);
        let finished = extract::finish_dirs(staging, &p.dirs, root_mode)
            .and_then(|()| extract::sync_tree(staging))
            .and_then(|()| swap::id_of(staging))
            .and_then(|id| {
                id.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the staging tree vanished")
                })
            });
        let new_id = match finished {
            Ok(id) => id,
            Err(e) => {
                ready.discard(ctx);
                return Err(io_err("finish the staging tree", staging)(e));
            }
        };
        let old_id = swap::id_of(target).map_err(io_err("read", target))?;
        journal_places.push(swap::Place {
            target: absolute(target),
            new_id,
            old_id,
        });
    }
    let mut journal = swap::new_journal(
        ctx.env.as_str(),
        &rec.backup,
        &ready.sha256,
        &stamp,
        journal_places,
    );
    if let Err(e) = swap::write_journal(&ctx.journal, &journal) {
        ready.discard(ctx);
        return Err(io_err("write the journal", &ctx.journal)(e));
    }
    for (p, jp) in ready.places.iter().zip(&journal.places) {
        if let Err(e) = swap::swap_in(&p.place.paths, &stamp, jp) {
            let err = io_err("swap in the restored tree at", &p.place.paths.target)(e);
            return Err(undo_after(ctx, &journal, err));
        }
    }
    rep.info(format!(
        "restored {} from {} into {} (added {}, changed {}, removed {}); the previous trees are kept until the service is healthy",
        mobius_core::text::plural(ready.files, "file"),
        backup.display(),
        places_shown(&ready),
        rec.added,
        rec.changed,
        rec.removed
    ));

    let verdict = prove_healthy(ctx, restart.as_deref(), url.as_deref(), before.as_ref());
    rec.health = verdict.health.as_ref().map(|h| RollbackHealth {
        checks: h.checks,
        ok: h.ok,
        url: h.url.clone(),
    });
    if let Some((cause, why)) = verdict.failure {
        swap::undo(&ctx.journal, &journal).map_err(Error::SwapBack)?;
        let mut again = String::new();
        if let Some(cmd) = &restart {
            again =
                match health::restart(cmd, ctx.env.as_str(), &ready.places[0].place.paths.target) {
                    Ok(()) => " and the restart command run again".into(),
                    Err(e) => {
                        rep.warn(format!(
                            "after putting the previous trees back: {}",
                            e.message
                        ));
                        " (the restart command failed after that: restart the service by hand)"
                            .into()
                    }
                };
        }
        let put_back = format!(
            "the previous trees were put back in {}{again}",
            places_shown(&ready)
        );
        let advice = match cause {
            Cause::ServiceDown => format!(
                "nothing answered at {} before the restore ({}) and nothing answers now: the service is probably not running. Start it (systemctl status / your process manager) or give the command that restarts it (restart_cmd in config/{}/app.json, or --restart-cmd), then run the rollback again; the backup {} was not judged",
                url.as_deref().unwrap_or("the health URL"),
                before.as_ref().map_or("", |b| b.detail.as_str()),
                ctx.env,
                backup.display()
            ),
            Cause::RestartFailed => format!(
                "fix the restart command (restart_cmd in config/{}/app.json, or --restart-cmd) or restart the service by hand, then run the rollback again; the backup {} was not judged",
                ctx.env,
                backup.display()
            ),
            Cause::RestoredUnhealthy if restart.is_none() => format!(
                "no restart command was run (restart_cmd in config/{}/app.json, or --restart-cmd): a service that reads its config only at start is still running the old one, so give the command and run the rollback again; if the service re-reads its files by itself, the backup {} is not a good state to return to: choose another (ls backups/) or follow runbooks/rollback_runbook.md",
                ctx.env,
                backup.display()
            ),
            Cause::RestoredUnhealthy => format!(
                "the restored state was restarted and answers unhealthy: the backup {} is not a good state to return to; choose another (ls backups/, or --latest skips only backups that do not verify) or follow runbooks/rollback_runbook.md",
                backup.display()
            ),
        };
        rep.error(format!(
            "ROLLBACK FAILED ({}): {why}; {put_back}. {advice}",
            cause.as_str()
        ));
        rec.outcome = "failure".into();
        rec.failure_cause = Some(cause.as_str().to_owned());
        rec.reason = Some(format!("{why}; {advice}"));
        rec.duration_ms = millis(ctx.started.elapsed());
        return Ok((rec, Exit::Bad));
    }
    journal.phase = swap::Phase::Healthy;
    if let Err(e) = swap::write_journal(&ctx.journal, &journal) {
        let err = io_err("write the journal", &ctx.journal)(e);
        return Err(undo_after(ctx, &journal, err));
    }
    swap::commit(&ctx.journal, &journal).map_err(|e| Error::Unfinished {
        during: "removing the previous trees".into(),
        journal: ctx.journal.clone(),
        source: Box::new(Error::Recover(e)),
    })?;
    match &rec.health {
        Some(h) => rep.info(format!(
            "healthy: {} consecutive checks of {} passed ({} sent); rollback complete",
            ctx.args.health_checks, h.url, h.checks
        )),
        None => rep.warn(format!(
            "rollback complete WITHOUT a health check (--no-health-check): check {} yourself now",
            ctx.env
        )),
    }
    if let Some(s) = &rec.safety_backup {
        rep.info(format!(
            "safety backup of the trees that were live: {s} (undo: mobius-rollback --env {} --backup {s})",
            ctx.env
        ));
    }
    rec.duration_ms = millis(ctx.started.elapsed());
    Ok((rec, Exit::Success))
}

/// The journal names places by absolute path, so a later run from another directory still
/// finds them.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// After a failure between the first swap and the end: put the old trees back if possible.
fn undo_after(ctx: &Ctx<'_>, journal: &swap::Journal, err: Error) -> Error {
    match swap::undo(&ctx.journal, journal) {
        Ok(()) => {
            ctx.reporter.warn(format!(
                "the previous trees were put back in {}",
                journal.targets()
            ));
            err
        }
        Err(e) => {
            ctx.reporter
                .error(format!("putting the previous trees back failed too: {e}"));
            Error::Unfinished {
                during: error_chain(&err),
                journal: ctx.journal.clone(),
                source: Box::new(err),
            }
        }
    }
}

struct Verdict {
    health: Option<health::Health>,
    failure: Option<(Cause, String)>,
}

fn prove_healthy(
    ctx: &Ctx<'_>,
    restart: Option<&str>,
    url: Option<&str>,
    before: Option<&HealthBefore>,
) -> Verdict {
    let args = ctx.args;
    if let Some(cmd) = restart {
        ctx.reporter
            .info(format!("running the restart command: {cmd}"));
        if let Err(e) = health::restart(cmd, ctx.env.as_str(), &ctx.default_target()) {
            return Verdict {
                health: None,
                failure: Some((Cause::RestartFailed, e.message)),
            };
        }
    }
    let Some(url) = url else {
        return Verdict {
            health: None,
            failure: None,
        };
    };
    ctx.reporter.info(format!(
        "checking {url}: {} consecutive healthy answers needed within {}",
        args.health_checks,
        humantime::format_duration(args.health_timeout)
    ));
    let h = health::check(
        url,
        args.health_checks,
        args.health_timeout,
        args.health_interval,
        &ctx.reporter,
    );
    let failure = (!h.ok).then(|| {
        (
            Cause::of(before, &h),
            format!(
                "{url} did not answer healthy {} times in a row within {} ({} checks; last: {})",
                args.health_checks,
                humantime::format_duration(args.health_timeout),
                h.checks,
                h.last_failure.as_deref().unwrap_or("none")
            ),
        )
    });
    Verdict {
        health: Some(h),
        failure,
    }
}

/// Step 4: the live trees of every place, backed up by mobius-backup's code under
/// [`SAFETY_BACKUP_NAME`], so restoring the safety backup undoes the rollback.
fn safety_backup(ctx: &Ctx<'_>, ready: &Ready) -> Result<Option<String>, Error> {
    let config_dir = ctx.root.config_dir(ctx.env);
    let sources: Vec<PathBuf> = ready
        .places
        .iter()
        .map(|p| &p.place.paths.target)
        .filter(|t| t.exists())
        .map(|t| {
            if *t == config_dir {
                // As the declaration names it, so the safety backup reads like any other.
                PathBuf::from(format!("config/{}", ctx.env))
            } else {
                t.clone()
            }
        })
        .collect();
    if sources.is_empty() {
        return Ok(None);
    }
    let opts = BackupOptions {
        sources,
        out: None,
        name: SAFETY_BACKUP_NAME.to_owned(),
        dry_run: false,
    };
    let quiet = Reporter::new(TOOL, mobius_core::cli::Verbosity::Quiet);
    let rec = match mobius_backup::create_backup(&ctx.root, ctx.env, &opts, &quiet) {
        Ok(r) => r,
        Err(mobius_backup::Error::EmptySource { path, .. }) => {
            ctx.reporter.warn(format!(
                "no safety backup: {} holds no files",
                path.display()
            ));
            return Ok(None);
        }
        Err(e) => return Err(Error::SafetyBackup(e)),
    };
    ctx.reporter
        .info(format!("safety backup of the live trees: {}", rec.path));
    let appended = history::append(
        &ctx.root,
        ctx.env,
        "backup",
        "success",
        json!({
            "path": rec.path,
            "sha256": rec.sha256,
            "files": rec.files,
            "bytes": rec.bytes_in,
            "purpose": "safety backup before rollback",
        }),
    )?;
    for w in appended.warnings {
        ctx.reporter.warn(w);
    }
    let dir = opts.out_dir(&ctx.root);
    if let Err(e) =
        mobius_backup::apply_retention(&dir, SAFETY_BACKUP_NAME, ctx.env, SAFETY_KEEP, false)
    {
        ctx.reporter.warn(format!(
            "old safety backups were not pruned: {}",
            error_chain(&e)
        ));
    }
    Ok(Some(rec.path))
}
