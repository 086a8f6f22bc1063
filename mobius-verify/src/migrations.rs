//! `--migrations DIR`: Flyway-validate-style checks of a directory of SQL migrations against
//! what the history says was applied.
//!
//! - Every `*.sql` file directly in DIR is named `V<version>__<description>.sql`: the
//!   version is digits in parts separated by `.` or `_` (`1`, `1.2`, `2_0_1`), the
//!   description is non-empty `[A-Za-z0-9_]`. Other files and subdirectories are ignored.
//! - Versions compare numerically part by part, missing parts being 0, so `V1` and `V1.0`
//!   are the same version: a duplicate, which is invalid (both files are named).
//! - A migration is applied when `history/<env>.jsonl` has an event with action `migration`,
//!   outcome `applied` and details `{file, version, sha256}`. An applied file whose SHA-256
//!   differs now is `changed`; an applied file no longer in DIR is `missing`.
//! - A pending migration whose version is below the newest applied one is invalid (out of
//!   order): applying it would run history in a different order than other environments.
//! - A missing DIR means the service has no migrations: not a problem, said in the summary's
//!   `note` (applied migrations recorded for the env are then `missing`).

use crate::Error;
use mobius_core::digest::sha256_file;
use mobius_core::history::for_each_event;
use mobius_core::records::{MigrationCheck, MigrationsSummary};
use mobius_core::EnvName;
use mobius_core::Root;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// A parsed `V<version>__<description>.sql` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    /// Numeric parts with trailing zeros removed, so equal versions compare equal.
    pub parts: Vec<u64>,
    /// As written, `_` separators shown as `.`.
    pub version: String,
    pub description: String,
}

/// Parses a migration file name, or says why it is not one.
pub fn parse_name(file: &str) -> Result<MigrationName, String> {
    const FORM: &str = "expected V<version>__<description>.sql, e.g. V2__add_index.sql";
    let stem = file
        .strip_suffix(".sql")
        .ok_or_else(|| format!("not a .sql file; {FORM}"))?;
    let rest = stem
        .strip_prefix('V')
        .ok_or_else(|| format!("does not start with V; {FORM}"))?;
    let (version, description) = rest
        .split_once("__")
        .ok_or_else(|| format!("no `__` between version and description; {FORM}"))?;
    if version.is_empty() {
        return Err(format!("the version is empty; {FORM}"));
    }
    let mut parts = Vec::new();
    for part in version.split(['.', '_']) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "version {version:?} is not digits separated by single '.' or '_'; {FORM}"
            ));
        }
        parts.push(
            part.parse::<u64>()
                .map_err(|_| format!("version part {part:?} is too large"))?,
        );
    }
    if description.is_empty()
        || !description
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "description {description:?} must be non-empty letters, digits or '_'; {FORM}"
        ));
    }
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Ok(MigrationName {
        parts,
        version: version.replace('_', "."),
        description: description.to_owned(),
    })
}

/// Compares two versions numerically part by part (missing parts are 0).
pub fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// An applied migration as the history recorded it (the last `applied` event per file wins).
#[derive(Debug, Clone)]
struct Applied {
    version: String,
    sha256: String,
}

fn applied_migrations(root: &Root, env: &EnvName) -> Result<BTreeMap<String, Applied>, Error> {
    let path = root.history_file(env);
    let mut applied = BTreeMap::new();
    let result = for_each_event(&path, |_, ev| {
        if ev.action != "migration" || ev.outcome != "applied" {
            return;
        }
        let text = |k: &str| {
            ev.details
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let file = text("file");
        if !file.is_empty() {
            applied.insert(
                file,
                Applied {
                    version: text("version"),
                    sha256: text("sha256"),
                },
            );
        }
    });
    match result {
        Ok(()) => Ok(applied),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(applied),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// The outcome of a check: one record per migration, in version order (invalid names and
/// missing files last, by name), and the summary.
#[derive(Debug, Clone)]
pub struct MigrationsReport {
    pub checks: Vec<MigrationCheck>,
    pub summary: MigrationsSummary,
}

/// Checks `dir` against the history of `env` (no env: nothing is applied).
pub fn check_migrations(
    dir: &Path,
    root: &Root,
    env: Option<&EnvName>,
) -> Result<MigrationsReport, Error> {
    let applied = match env {
        Some(env) => applied_migrations(root, env)?,
        None => BTreeMap::new(),
    };
    let io_err = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    let mut note = None;
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(io_err)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".sql") || entry.file_type().map_err(io_err)?.is_dir() {
                    continue;
                }
                files.push(name);
            }
            if files.is_empty() {
                note = Some(format!("no *.sql migrations in {}", dir.display()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            note = Some(format!(
                "{} does not exist: no migrations to check",
                dir.display()
            ));
        }
        Err(source) => return Err(io_err(source)),
    }
    files.sort();

    let mut valid: Vec<(MigrationName, MigrationCheck)> = Vec::new();
    let mut invalid = Vec::new();
    for file in files {
        let path = dir.join(&file);
        let (sha256, _) = sha256_file(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        match parse_name(&file) {
            Ok(name) => {
                let check = MigrationCheck {
                    file,
                    version: name.version.clone(),
                    description: name.description.clone(),
                    sha256,
                    status: "pending".to_owned(),
                    problem: None,
                };
                valid.push((name, check));
            }
            Err(why) => invalid.push(MigrationCheck {
                file,
                version: String::new(),
                description: String::new(),
                sha256,
                status: "invalid".to_owned(),
                problem: Some(why),
            }),
        }
    }
    valid.sort_by(|(a, ca), (b, cb)| {
        compare_versions(&a.parts, &b.parts).then(ca.file.cmp(&cb.file))
    });

    for (_, check) in &mut valid {
        if let Some(a) = applied.get(&check.file) {
            if a.sha256 == check.sha256 {
                check.status = "applied".to_owned();
            } else {
                check.status = "changed".to_owned();
                check.problem = Some(format!(
                    "{} changed after it was applied: the history recorded SHA-256 {}, the file now has {}; restore the applied file and put the change in a new migration",
                    check.file, a.sha256, check.sha256
                ));
            }
        }
    }
    // Duplicates: equal versions are neighbours after the sort.
    for i in 1..valid.len() {
        if compare_versions(&valid[i - 1].0.parts, &valid[i].0.parts).is_eq() {
            let (first, second) = (valid[i - 1].1.file.clone(), valid[i].1.file.clone());
            for (j, other) in [(i - 1, &second), (i, &first)] {
                let c = &mut valid[j].1;
                c.status = "invalid".to_owned();
                c.problem = Some(format!(
                    "version {} is also used by {other}; versions must be unique (compared numerically, so V1 equals V1.0)",
                    c.version
                ));
            }
        }
    }
    let newest_applied = valid
        .iter()
        .filter(|(_, c)| c.status == "applied" || c.status == "changed")
        .map(|(n, _)| n.parts.clone())
        .max_by(|a, b| compare_versions(a, b));
    if let Some(newest) = &newest_applied {
        for (name, check) in &mut valid {
            if check.status == "pending" && compare_versions(&name.parts, newest).is_lt() {
                check.status = "invalid".to_owned();
                check.problem = Some(format!(
                    "out of order: version {} is pending but a higher version is already applied; give it a version above the newest applied one",
                    check.version
                ));
            }
        }
    }

    let present: Vec<&str> = valid
        .iter()
        .map(|(_, c)| c.file.as_str())
        .chain(invalid.iter().map(|c| c.file.as_str()))
        .collect();
    let missing: Vec<MigrationCheck> = applied
        .iter()
        .filter(|(file, _)| !present.contains(&file.as_str()))
        .map(|(file, a)| MigrationCheck {
            file: file.clone(),
            version: a.version.clone(),
            description: parse_name(file).map(|n| n.description).unwrap_or_default(),
            sha256: String::new(),
            status: "missing".to_owned(),
            problem: Some(format!(
                "{file} was applied (SHA-256 {}) but is not in {}; applied migrations must stay",
                a.sha256,
                dir.display()
            )),
        })
        .collect();

    let checks: Vec<MigrationCheck> = valid
        .into_iter()
        .map(|(_, c)| c)
        .chain(invalid)
        .chain(missing)
        .collect();
    let count = |s: &str| checks.iter().filter(|c| c.status == s).count() as u64;
    let problems = count("changed") + count("missing") + count("invalid");
    let summary = MigrationsSummary {
        dir: dir.display().to_string(),
        env: env.map(|e| e.to_string()),
        ok: problems == 0,
        pending: count("pending"),
        applied: count("applied"),
        problems,
        note,
    };
    Ok(MigrationsReport { checks, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_versions_compare_numerically() {
        let n = parse_name("V1_2__add_index.sql").unwrap();
        assert_eq!(n.parts, vec![1, 2]);
        assert_eq!(n.version, "1.2");
        assert_eq!(n.description, "add_index");
        assert_eq!(parse_name("V1.0__x.sql").unwrap().parts, vec![1]);
        assert_eq!(parse_name("V10__x.sql").unwrap().parts, vec![10]);
        assert!(compare_versions(&[2], &[10]).is_lt());
        assert!(compare_versions(&[1, 10], &[1, 9]).is_gt());
        assert!(compare_versions(&[1], &[1, 0, 0]).is_eq());
        for bad in [
            "v1__x.sql",
            "V1_x.sql",
            "V__x.sql",
            "V1__.sql",
            "V1..2__x.sql",
            "Va__x.sql",
            "V1__a-b.sql",
            "V1__x.txt",
            "V99999999999999999999999__x.sql",
        ] {
            assert!(parse_name(bad).is_err(), "{bad} should be refused");
        }
    }
}
