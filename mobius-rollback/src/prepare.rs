//! Steps 2 and 3 of a rollback: verify the backup, refuse what must be refused, decide the
//! places, and (in a real run) extract every place into its own staging tree — all before
//! a single live file is touched.

use crate::checks::check_entries;
use crate::diff::{changes, Changes};
use crate::extract::{self, Dest, Extractor};
use crate::places::{self, Place};
use crate::{io_err, Ctx, Error};
use mobius_core::app_config::{AppConfig, APP_JSON};
use mobius_core::backups::{path_fits, Manifest, PATH_MAX};
use mobius_core::platform;
use mobius_core::progress::Progress;
use mobius_core::records::Problem;
use mobius_core::text::escape_path;
use mobius_verify::{Mode, OpenedBackup};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// A problem kind of its own: the manifest names another environment.
pub const ENV_MISMATCH: &str = "env_mismatch";

/// What verification, the entry checks and the extraction found.
pub enum Prepared {
    Refused {
        problems: Vec<Problem>,
        sha256: String,
        reason: String,
    },
    Ready(Box<Ready>),
}

/// One place, checked and (in a real run) staged.
pub struct ReadyPlace {
    pub place: Place,
    pub changes: Changes,
    /// Directories of the staged tree with their final modes.
    pub dirs: BTreeMap<String, u32>,
    /// `None` in a dry run.
    pub staging: Option<PathBuf>,
}

pub struct Ready {
    pub sha256: String,
    pub manifest: Manifest,
    pub places: Vec<ReadyPlace>,
    pub files: u64,
    /// The restored config's `app.json`, parsed once (None: the backup has none; Err: why
    /// it does not parse).
    pub app: Result<Option<AppConfig>, String>,
}

impl Ready {
    pub fn totals(&self) -> (usize, usize, usize, u64) {
        self.places.iter().fold((0, 0, 0, 0), |(a, c, r, u), p| {
            (
                a + p.changes.added.len(),
                c + p.changes.changed.len(),
                r + p.changes.removed.len(),
                u + p.changes.unchanged,
            )
        })
    }

    /// Removes every staging tree (after a refusal or an error before the swap).
    pub fn discard(&self, ctx: &Ctx<'_>) {
        for p in &self.places {
            if let Some(s) = &p.staging {
                discard(ctx, s);
            }
        }
    }
}

pub use mobius_core::text::problem_line as describe;

pub fn discard(ctx: &Ctx<'_>, dir: &Path) {
    if let Err(e) = extract::remove_tree(dir) {
        ctx.reporter.warn(format!(
            "could not remove the staging tree {}: {e}; the next run removes it",
            dir.display()
        ));
    }
}

fn sha_of_file(path: &Path) -> String {
    mobius_core::digest::sha256_file(path)
        .map(|(h, _)| h)
        .unwrap_or_default()
}

fn refused(problems: Vec<Problem>, sha256: String, when: &str) -> Prepared {
    let n = problems.len();
    let first = problems.first().map(describe).unwrap_or_default();
    Prepared::Refused {
        reason: format!(
            "{when}: {n} problem{}; first: {first}",
            if n == 1 { "" } else { "s" }
        ),
        problems,
        sha256,
    }
}

/// Whether two paths name the same directory (or the same path, when one is missing).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (platform::path_id(a), platform::path_id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The limits a verified manifest vouches for: an entry that compresses beyond
/// `--max-ratio` (300 MB of zeros does) and more entries than `--max-entries` (a release
/// tree may hold more) are refused only if the backup does not verify. `--max-total-size`
/// is never waived.
const VOUCHABLE_LIMITS: &[&str] = &["compression_ratio", "too_many_entries"];

/// Reads every entry once without writing anything, against the manifest's sizes and
/// SHA-256 (the reader stops one byte past an entry's declared size, and all the bytes
/// inflated stay under `--max-total-size`): the problems found, none when the manifest
/// vouches for what the zip holds, so the ratio and entry-count limits may be waived.
fn vouch(ctx: &Ctx<'_>, opened: &OpenedBackup) -> Result<Vec<Problem>, Error> {
    let dry = vec![Dest {
        prefix: None,
        staging: None,
    }];
    let ex = Extractor::new(dry, String::new(), 0, ctx.limits.max_total_size);
    let progress = Progress::bytes(&ctx.reporter, opened.stored_len(), "checking");
    let pass = opened.for_each_entry_shown(usize::from(ctx.args.threads), &progress, |m, r| {
        ex.visit(m, r)
    });
    progress.finish();
    match pass {
        Ok(v) => Ok(v.problems),
        Err(_) if ex.over_limit.load(Ordering::Relaxed) => Ok(vec![over_total(ctx)]),
        Err(e) => Err(Error::Verify(e)),
    }
}

fn over_total(ctx: &Ctx<'_>) -> Problem {
    Problem {
        kind: "too_large".into(),
        entry: None,
        detail: format!(
            "entry check: more than --max-total-size {} bytes inflated",
            ctx.limits.max_total_size
        ),
    }
}

/// A stamp as long as every real one: a dry run has none, and must measure the same paths.
const STAMP_SHAPE: &str = "20261126T120000.000Z";

/// Entries whose staged path (the place's real staging directory joined with the name)
/// would exceed `PATH_MAX`: the file could not be created, so the restore is refused before
/// it starts, in a dry run too.
fn too_long_here(opened: &OpenedBackup, places: &[Place], stamp: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    for place in places {
        let staging = place.paths.staging(stamp.unwrap_or(STAMP_SHAPE));
        for e in opened.entries() {
            let Some(rel) = place.relative(&e.name) else {
                continue;
            };
            if !path_fits(&staging, rel) {
                out.push(Problem {
                    kind: mobius_verify::kind::UNRESTORABLE_NAME.into(),
                    entry: Some(e.name.clone()),
                    detail: format!(
                        "staged under {} the path would be longer than PATH_MAX ({PATH_MAX} bytes): the restore could not create it",
                        escape_path(&staging)
                    ),
                });
            }
        }
    }
    out
}

/// Verifies `backup`, checks it, decides its places and, with `stamp`, extracts it into a
/// staging tree beside each place. A refusal leaves no staging tree behind.
pub fn prepare(ctx: &Ctx<'_>, backup: &Path, stamp: Option<&str>) -> Result<Prepared, Error> {
    let opened = OpenedBackup::open(backup, Mode::Deep)?;
    let mut problems = opened.problems();
    let mut over_limits = Vec::new();
    match check_entries(backup, &ctx.limits) {
        Ok(p) => {
            let (vouchable, rest): (Vec<_>, Vec<_>) = p
                .into_iter()
                .partition(|p| VOUCHABLE_LIMITS.contains(&p.kind.as_str()));
            problems.extend(rest);
            over_limits = vouchable;
        }
        // Verification has already said that the backup is missing.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("read", backup)(e)),
    }
    if !over_limits.is_empty() {
        if problems.is_empty() && opened.manifest().is_some() {
            problems.extend(vouch(ctx, &opened)?);
            if !problems.is_empty() {
                problems.extend(over_limits);
            }
        } else {
            problems.extend(over_limits);
        }
    }
    let manifest = match (problems.is_empty(), opened.manifest()) {
        (true, Some(m)) => m.clone(),
        _ => {
            // Verification's whole-file hash comes with the pass, which a refused backup
            // never gets; the sidecar is compared here so the record still says so.
            let sha = sha_of_file(backup);
            if let Some(want) = opened.sidecar_sha256() {
                if !sha.is_empty() && !want.eq_ignore_ascii_case(&sha) {
                    problems.insert(
                        0,
                        Problem {
                            kind: mobius_verify::kind::SIDECAR_MISMATCH.into(),
                            entry: None,
                            detail: format!(
                                "the zip's SHA-256 is {sha} but the sidecar says {want}"
                            ),
                        },
                    );
                }
            }
            return Ok(refused(
                problems,
                sha,
                "refused before anything was written",
            ));
        }
    };
    if manifest.env != ctx.env.as_str() && !ctx.args.allow_other_env {
        let p = Problem {
            kind: ENV_MISMATCH.into(),
            entry: None,
            detail: format!(
                "the backup is of the environment {:?} (its manifest says so), not {:?}; restoring one environment's state into another is refused unless --allow-other-env is given",
                manifest.env,
                ctx.env.as_str()
            ),
        };
        return Ok(refused(
            vec![p],
            sha_of_file(backup),
            "refused before anything was written",
        ));
    }
    let config_dir = ctx.root.config_dir(ctx.env);
    let places = match places::resolve(
        &manifest,
        &ctx.declared,
        ctx.args.target.as_deref(),
        &config_dir,
    ) {
        Ok(p) => p,
        Err(problems) => {
            return Ok(refused(
                problems,
                sha_of_file(backup),
                "refused before anything was written",
            ))
        }
    };
    for p in &places {
        crate::check_target(&p.paths)?;
    }
    let too_long = too_long_here(&opened, &places, stamp);
    if !too_long.is_empty() {
        return Ok(refused(
            too_long,
            sha_of_file(backup),
            "refused before anything was written",
        ));
    }
    let capture = match places
        .iter()
        .find(|p| same_dir(&p.paths.target, &config_dir))
    {
        Some(p) => format!("{}{APP_JSON}", p.prefix.as_deref().unwrap_or("")),
        None if places.len() == 1 => APP_JSON.to_owned(),
        None => String::new(),
    };
    let mut ready_places = Vec::with_capacity(places.len());
    for place in places {
        let files = manifest
            .files
            .iter()
            .filter_map(|f| place.relative(&f.path).map(|rel| (rel, f)));
        let changes =
            changes(files, &place.paths.target).map_err(io_err("read", &place.paths.target))?;
        ready_places.push(ReadyPlace {
            place,
            changes,
            dirs: BTreeMap::new(),
            staging: None,
        });
    }
    if let Some(stamp) = stamp {
        for i in 0..ready_places.len() {
            let dir = ready_places[i].place.paths.staging(stamp);
            let place = &ready_places[i].place;
            let entries = opened
                .entries()
                .iter()
                .filter_map(|e| place.relative(&e.name).map(|rel| (rel, e.is_dir, e.mode)));
            match extract::make_dirs(&dir, entries) {
                Ok(d) => {
                    ready_places[i].dirs = d;
                    ready_places[i].staging = Some(dir);
                }
                Err(e) => {
                    for p in &ready_places[..i] {
                        if let Some(s) = &p.staging {
                            discard(ctx, s);
                        }
                    }
                    discard(ctx, &dir);
                    return Err(io_err("create the staging tree", &dir)(e));
                }
            }
        }
    }
    let discard_all = |places: &[ReadyPlace]| {
        for p in places {
            if let Some(s) = &p.staging {
                discard(ctx, s);
            }
        }
    };
    let dests = ready_places
        .iter()
        .map(|p| Dest {
            prefix: p.place.prefix.as_deref(),
            staging: p.staging.as_deref(),
        })
        .collect();
    let ex = Extractor::new(
        dests,
        capture,
        extract::current_umask(),
        ctx.limits.max_total_size,
    );
    let progress = Progress::bytes(&ctx.reporter, opened.stored_len(), "restoring");
    let pass = opened.for_each_entry_shown(usize::from(ctx.args.threads), &progress, |m, r| {
        ex.visit(m, r)
    });
    progress.finish();
    let verified = match pass {
        Ok(v) => v,
        Err(e) => {
            discard_all(&ready_places);
            if ex.over_limit.load(Ordering::Relaxed) {
                return Ok(refused(
                    vec![over_total(ctx)],
                    sha_of_file(backup),
                    "refused while extracting",
                ));
            }
            return Err(match e {
                mobius_verify::Error::Visitor { entry, source, .. } => Error::Io {
                    action: "write the staged copy of",
                    path: PathBuf::from(entry),
                    source,
                },
                other => Error::Verify(other),
            });
        }
    };
    if !verified.ok() {
        discard_all(&ready_places);
        return Ok(refused(
            verified.problems,
            verified.sha256,
            "verification failed; the staged copy was removed",
        ));
    }
    let files = ex.files.load(Ordering::Relaxed);
    let app = match ex.app_json.lock().ok().and_then(|mut g| g.take()) {
        None => Ok(None),
        Some(bytes) => AppConfig::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("the restored app.json does not parse ({e})")),
    };
    Ok(Prepared::Ready(Box::new(Ready {
        sha256: verified.sha256,
        manifest,
        places: ready_places,
        files,
        app,
    })))
}
