//! Retention: backups keep the newest N complete ones per name and env (mobius-backup's
//! `apply_retention`, under the env's lock), monitoring logs and pre-merge artifacts are
//! deleted when the stamp in their name is older than the limit. Only names recognised
//! exactly ([`crate::names`]) are ever deleted; exports are kept.

use crate::{names, shown, Args, Error, TOOL};
use mobius_core::atomic::{is_temp_name, sync_dir};
use mobius_core::backups::{sidecar_path, BackupName};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::lock::EnvLock;
use mobius_core::records::{PrunedRecord, Record};
use mobius_core::{EnvName, Exit};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

struct Pruner<'a> {
    out: JsonlWriter<&'a mut dyn Write>,
    dry_run: bool,
    count: u64,
}

impl Pruner<'_> {
    fn emit(&mut self, path: &Path, kind: &str, reason: &str) -> Result<(), Error> {
        self.count += 1;
        self.out
            .write(&Record::Pruned(PrunedRecord {
                path: shown(path),
                kind: kind.to_owned(),
                reason: reason.to_owned(),
                dry_run: self.dry_run,
            }))
            .map_err(Error::Output)
    }
}

fn older_than(now: SystemTime, t: SystemTime, days: u32) -> bool {
    now.duration_since(t)
        .is_ok_and(|age| age > Duration::from_secs(u64::from(days) * 86_400))
}

fn list(dir: &Path) -> Result<Vec<fs::DirEntry>, Error> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut v = Vec::new();
    for e in rd {
        v.push(e.map_err(|err| Error::io("list", dir, err))?);
    }
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

pub(crate) fn prune(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let root = args.common.root();
    let reporter = args.common.reporter(TOOL);
    let dry_run = args.common.dry_run;
    let only = args.env.as_ref();
    let now = SystemTime::now();
    let mut p = Pruner {
        out: JsonlWriter::new(out),
        dry_run,
        count: 0,
    };

    // Backups: every (name, env) found, one env lock at a time so no backup or rollback of
    // that env runs while its backups are deleted.
    let bdir = root.backups_dir();
    let mut groups: BTreeMap<EnvName, BTreeSet<String>> = BTreeMap::new();
    for e in list(&bdir)? {
        let file = e.file_name().to_string_lossy().into_owned();
        if is_temp_name(&file) {
            continue;
        }
        let Some(bn) = BackupName::parse(&file) else {
            continue;
        };
        let Ok(env) = EnvName::parse(&bn.env) else {
            continue;
        };
        if only.is_some_and(|o| o != &env) {
            continue;
        }
        groups.entry(env).or_default().insert(bn.name);
    }
    let keep = args.keep_backups as usize;
    for (env, backup_names) in &groups {
        let _lock = if dry_run {
            None
        } else {
            Some(EnvLock::acquire(&root, env, TOOL, Duration::ZERO)?)
        };
        for name in backup_names {
            let reason = format!("backups keep the {keep} newest complete {name} backups of {env}");
            let deleted = mobius_backup::apply_retention(&bdir, name, env, keep, dry_run)
                .map_err(Error::Retention)?;
            for zip in deleted {
                p.emit(&sidecar_path(&zip), "backup_sidecar", &reason)?;
                p.emit(&zip, "backup", &reason)?;
            }
        }
    }

    let mdir = root.monitor_logs_dir();
    let mreason = format!("monitoring logs are kept {} days", args.monitor_days);
    let mut touched: Vec<PathBuf> = Vec::new();
    for e in list(&mdir)? {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some((env, stamp)) = names::monitor_log(&file) else {
            continue;
        };
        if only.is_some_and(|o| o != &env)
            || !e.file_type().is_ok_and(|t| t.is_file())
            || !older_than(now, stamp, args.monitor_days)
        {
            continue;
        }
        let path = e.path();
        if !dry_run {
            fs::remove_file(&path).map_err(|err| Error::io("delete", &path, err))?;
        }
        p.emit(&path, "monitor_log", &mreason)?;
        touched.push(mdir.clone());
    }

    let pdir = root.premerge_dir();
    let preason = format!("pre-merge artifacts are kept {} days", args.premerge_days);
    for e in list(&pdir)? {
        let file = e.file_name().to_string_lossy().into_owned();
        // A symlink is never followed into, nor deleted: only real directories.
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let (kind, stamp) = if let Some((env, t)) = names::smoke_dir(&file) {
            if only.is_some_and(|o| o != &env) {
                continue;
            }
            ("smoke_report", t)
        } else if let Some(t) = names::premerge_dir(&file) {
            // Pre-merge runs belong to no environment: pruned with or without --env.
            ("premerge_artifacts", t)
        } else {
            continue;
        };
        if !older_than(now, stamp, args.premerge_days) {
            continue;
        }
        let path = e.path();
        if !dry_run {
            fs::remove_dir_all(&path).map_err(|err| Error::io("delete", &path, err))?;
        }
        p.emit(&path, kind, &preason)?;
        touched.push(pdir.clone());
    }
    if !dry_run {
        touched.dedup();
        for d in touched {
            sync_dir(&d).map_err(|e| Error::io("sync", &d, e))?;
        }
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    reporter.info(format!(
        "retention: {verb} {} paths (exports are kept)",
        p.count
    ));
    Ok(Exit::Success)
}
