//! Where a backup's content goes: the places a rollback writes, decided by the live
//! declaration, never by the backup.
//!
//! A backup of one source holds that source's files at the top level of the zip; a backup
//! of several holds each source under its folder name (the last component of the path as
//! declared: `releases/current` → `current/`). The operator declares the sources once, as
//! `backup_sources` in the live `config/<env>/app.json` (default: `config/<env>` alone).
//!
//! - Several sources: each folder of the backup must be the folder of a live declared
//!   source, and goes to that source's path. A folder nobody declared, or an entry outside
//!   every folder, refuses the backup (`undeclared_source`): a backup can name any path it
//!   likes in its manifest, and it must not be able to choose where a rollback writes.
//! - One source: the declared source with the same folder, else `config/<env>` when the
//!   declaration is the default (backups made before `backup_sources`), else refused.
//! - `--target DIR`: a one-source backup restored into DIR, as the operator says.

use crate::swap::Paths;
use mobius_core::app_config::{folder_name, DeclaredSource};
use mobius_core::backups::Manifest;
use mobius_core::records::Problem;
use std::path::Path;

/// A problem kind of its own: the backup holds a source the live declaration does not name.
pub const UNDECLARED_SOURCE: &str = "undeclared_source";

/// One place to restore.
#[derive(Debug, Clone)]
pub struct Place {
    /// The source as the backup names it.
    pub source: String,
    /// The folder holding it in the zip (with its trailing `/`); `None`: the top level.
    pub prefix: Option<String>,
    pub paths: Paths,
}

impl Place {
    /// The name of a zip entry relative to this place, if it belongs here. The folder's own
    /// directory entry maps to `""`.
    pub fn relative<'a>(&self, entry: &'a str) -> Option<&'a str> {
        match &self.prefix {
            None => Some(entry),
            Some(p) => entry
                .strip_prefix(p.as_str())
                .or_else(|| (entry == p.trim_end_matches('/')).then_some("")),
        }
    }
}

/// What the operator declared, as this run sees it.
#[derive(Debug, Clone)]
pub struct Declared {
    pub sources: Vec<DeclaredSource>,
    /// The declaration is the default (no `backup_sources`).
    pub default: bool,
    /// Why the live app.json could not be read, if it could not (then only the config
    /// directory is declared).
    pub unreadable: Option<String>,
}

fn undeclared(source: &str, declared: &Declared) -> Problem {
    let names: Vec<&str> = declared.sources.iter().map(|s| s.shown.as_str()).collect();
    let mut detail = format!(
        "the backup holds the source {source:?}, which the live backup_sources ({}) do not declare; a rollback writes only where the live config/<env>/app.json says",
        names.join(", ")
    );
    if let Some(why) = &declared.unreadable {
        detail.push_str(&format!(" (and it cannot be read: {why})"));
    }
    Problem {
        kind: UNDECLARED_SOURCE.to_owned(),
        entry: None,
        detail,
    }
}

fn place(source: &str, prefix: Option<String>, path: &Path) -> Result<Place, Problem> {
    let paths = Paths::new(path).map_err(|e| Problem {
        kind: UNDECLARED_SOURCE.to_owned(),
        entry: None,
        detail: format!("{}: {e}", path.display()),
    })?;
    Ok(Place {
        source: source.to_owned(),
        prefix,
        paths,
    })
}

/// The places `manifest`'s content goes to, or why the backup is refused.
pub fn resolve(
    manifest: &Manifest,
    declared: &Declared,
    target: Option<&Path>,
    config_dir: &Path,
) -> Result<Vec<Place>, Vec<Problem>> {
    let sources = &manifest.sources;
    // The backup's own environment's config directory is this environment's config
    // directory (what --allow-other-env restores across environments).
    let own_config = format!("config/{}", manifest.env);
    let config_declared = declared.sources.iter().any(|d| d.path == config_dir);
    if sources.len() <= 1 {
        let source = sources.first().map(String::as_str).unwrap_or("");
        if let Some(t) = target {
            return place(source, None, t).map(|p| vec![p]).map_err(|p| vec![p]);
        }
        if source == own_config && config_declared {
            return place(source, None, config_dir)
                .map(|p| vec![p])
                .map_err(|p| vec![p]);
        }
        let folder = folder_name(Path::new(source));
        let matching = declared
            .sources
            .iter()
            .find(|d| folder.is_some() && d.folder() == folder);
        let path = match matching {
            Some(d) => d.path.clone(),
            None if declared.default || declared.unreadable.is_some() => config_dir.to_path_buf(),
            None => return Err(vec![undeclared(source, declared)]),
        };
        return place(source, None, &path)
            .map(|p| vec![p])
            .map_err(|p| vec![p]);
    }
    let mut problems = Vec::new();
    if target.is_some() {
        problems.push(Problem {
            kind: UNDECLARED_SOURCE.to_owned(),
            entry: None,
            detail: format!(
                "--target restores a backup of one source; this one holds {} ({}), which go where config/<env>/app.json's backup_sources say",
                sources.len(),
                sources.join(", ")
            ),
        });
        return Err(problems);
    }
    let mut places = Vec::new();
    for source in sources {
        let Some(folder) = folder_name(Path::new(source)) else {
            problems.push(undeclared(source, declared));
            continue;
        };
        if *source == own_config && config_declared {
            match place(source, Some(format!("{folder}/")), config_dir) {
                Ok(p) => places.push(p),
                Err(p) => problems.push(p),
            }
            continue;
        }
        match declared
            .sources
            .iter()
            .find(|d| d.folder().as_deref() == Some(folder.as_str()))
        {
            Some(d) => match place(source, Some(format!("{folder}/")), &d.path) {
                Ok(p) => places.push(p),
                Err(p) => problems.push(p),
            },
            None => problems.push(undeclared(source, declared)),
        }
    }
    for f in &manifest.files {
        if places
            .iter()
            .any(|p| p.prefix.as_deref().map(|x| x.trim_end_matches('/')) == Some(f.path.as_str()))
        {
            problems.push(Problem {
                kind: UNDECLARED_SOURCE.to_owned(),
                entry: Some(f.path.clone()),
                detail: "this source is a single file; a rollback restores directories".into(),
            });
        }
    }
    // Entries that no place claims would be silently dropped; the manifest lists them, so
    // the backup is not what it says.
    let claimed = |name: &str| places.iter().any(|p| p.relative(name).is_some());
    for name in manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(manifest.dirs.iter().map(String::as_str))
    {
        if !claimed(name) && problems.is_empty() {
            problems.push(Problem {
                kind: UNDECLARED_SOURCE.to_owned(),
                entry: Some(name.to_owned()),
                detail: "the entry lies outside every source folder of the backup".into(),
            });
        }
    }
    let mut targets: Vec<&Path> = places.iter().map(|p| p.paths.target.as_path()).collect();
    targets.sort();
    if targets.windows(2).any(|w| w[1].starts_with(w[0])) {
        problems.push(Problem {
            kind: UNDECLARED_SOURCE.to_owned(),
            entry: None,
            detail: "two declared sources are the same directory, or one lies inside another; fix backup_sources".into(),
        });
    }
    if problems.is_empty() {
        Ok(places)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobius_core::backups::ManifestFile;
    use mobius_core::Root;

    fn manifest(sources: &[&str], files: &[&str]) -> Manifest {
        Manifest {
            format: String::new(),
            env: "prod".into(),
            name: "dhash".into(),
            created: String::new(),
            host: String::new(),
            user: String::new(),
            tool: String::new(),
            tool_version: String::new(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            files: files
                .iter()
                .map(|f| ManifestFile {
                    path: f.to_string(),
                    size: 0,
                    sha256: String::new(),
                    mode: 0o644,
                })
                .collect(),
            dirs: Vec::new(),
        }
    }

    fn declared(list: &[&str]) -> Declared {
        let root = Root::new("/r");
        Declared {
            sources: list.iter().map(|s| DeclaredSource::new(&root, s)).collect(),
            default: false,
            unreadable: None,
        }
    }

    const CONFIG: &str = "/r/config/prod";

    #[test]
    fn the_live_declaration_decides_where_each_folder_goes() {
        let m = manifest(
            &["config/prod", "/old/place/current"],
            &["prod/app.json", "current/index.js"],
        );
        let d = declared(&["config/prod", "releases/current"]);
        let p = resolve(&m, &d, None, Path::new(CONFIG)).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].paths.target, Path::new(CONFIG));
        assert_eq!(p[1].paths.target, Path::new("/r/releases/current"));
        assert_eq!(p[1].relative("current/index.js"), Some("index.js"));
        assert_eq!(p[1].relative("current/"), Some(""));
        assert_eq!(p[1].relative("current"), Some(""));
        assert_eq!(p[1].relative("currently/x"), None);
    }

    #[test]
    fn a_folder_nobody_declared_is_refused() {
        let m = manifest(&["config/prod", "/etc"], &["prod/app.json", "etc/passwd"]);
        let e = resolve(&m, &declared(&["config/prod"]), None, Path::new(CONFIG)).unwrap_err();
        assert_eq!(e[0].kind, UNDECLARED_SOURCE);
        assert!(e[0].detail.contains("\"/etc\""), "{}", e[0].detail);
        let m = manifest(&["config/prod", "x/.."], &["prod/app.json"]);
        assert!(resolve(&m, &declared(&["config/prod"]), None, Path::new(CONFIG)).is_err());
    }

    #[test]
    fn an_entry_outside_every_folder_is_refused() {
        let m = manifest(
            &["config/prod", "current"],
            &["prod/a", "current/b", "stray"],
        );
        let e = resolve(
            &m,
            &declared(&["config/prod", "current"]),
            None,
            Path::new(CONFIG),
        )
        .unwrap_err();
        assert_eq!(e[0].entry.as_deref(), Some("stray"));
    }

    #[test]
    fn one_source_goes_to_its_declared_place_or_the_config_dir() {
        let m = manifest(&["releases/current"], &["index.js"]);
        let p = resolve(
            &m,
            &declared(&["config/prod", "releases/current"]),
            None,
            Path::new(CONFIG),
        )
        .unwrap();
        assert_eq!(p[0].paths.target, Path::new("/r/releases/current"));
        assert_eq!(p[0].relative("index.js"), Some("index.js"));
        // Made before backup_sources: the config directory, as always.
        let mut d = declared(&["config/prod"]);
        d.default = true;
        let m = manifest(&["somewhere/else"], &["app.json"]);
        let p = resolve(&m, &d, None, Path::new(CONFIG)).unwrap();
        assert_eq!(p[0].paths.target, Path::new(CONFIG));
        // Declared otherwise: refused.
        let e = resolve(&m, &declared(&["config/prod"]), None, Path::new(CONFIG)).unwrap_err();
        assert_eq!(e[0].kind, UNDECLARED_SOURCE);
        // --target: as the operator says, for one source only.
        let p = resolve(
            &m,
            &declared(&["config/prod"]),
            Some(Path::new("/t")),
            Path::new(CONFIG),
        )
        .unwrap();
        assert_eq!(p[0].paths.target, Path::new("/t"));
        let m2 = manifest(&["config/prod", "current"], &["prod/a", "current/b"]);
        assert!(resolve(
            &m2,
            &declared(&["config/prod", "current"]),
            Some(Path::new("/t")),
            Path::new(CONFIG)
        )
        .is_err());
    }

    #[test]
    fn nested_declared_places_are_refused() {
        let m = manifest(&["config/prod", "prod/x"], &["prod/a"]);
        // Two sources with the same folder cannot exist in a backup; nested targets can.
        let m2 = manifest(&["config/prod", "inner"], &["prod/a", "inner/b"]);
        let e = resolve(
            &m2,
            &declared(&["config/prod", "config/prod/inner"]),
            None,
            Path::new(CONFIG),
        )
        .unwrap_err();
        assert!(e[0].detail.contains("inside another"), "{}", e[0].detail);
        let _ = m;
    }
}
