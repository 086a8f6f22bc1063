//! `--config --env E`: whether `config/<env>/` is deployable before anything is changed:
//! the directory exists, `app.json` is there with an http(s) `health_url`, and every `*.json`
//! file under it parses. Every problem is reported, not just the first.

use crate::Error;
use mobius_core::records::{ConfigCheck, Problem};
use mobius_core::{EnvName, Root};
use std::io;
use std::path::{Path, PathBuf};

/// Files a deployment cannot do without.
pub const REQUIRED: &[&str] = &["app.json"];

fn problem(kind: &str, entry: Option<String>, detail: String) -> Problem {
    Problem {
        kind: kind.to_owned(),
        entry,
        detail,
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // Follows symlinks on purpose: a linked file is deployed as its target.
        if path.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks `config/<env>/` under `root`.
pub fn check_config(root: &Root, env: &EnvName) -> Result<ConfigCheck, Error> {
    let dir = root.config_dir(env);
    let mut problems = Vec::new();
    let mut files = Vec::new();
    match json_files(&dir, &mut files) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => problems.push(problem(
            "missing_dir",
            None,
            format!(
                "the configuration directory {} does not exist; create it with the environment's app.json",
                dir.display()
            ),
        )),
        Err(source) => return Err(Error::Io { path: dir, source }),
    }
    let shown = |p: &Path| {
        p.strip_prefix(&dir)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    if problems.is_empty() {
        for name in REQUIRED {
            if !dir.join(name).is_file() {
                problems.push(problem(
                    "missing_file",
                    Some((*name).to_owned()),
                    format!("{} is required and missing", dir.join(name).display()),
                ));
            }
        }
    }
    let mut parsed = 0;
    for path in &files {
        let entry = shown(path);
        let text = match mobius_core::fsafe::read_input(path, mobius_core::fsafe::Kind::Text) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem(
                    "unreadable",
                    Some(entry),
                    format!("cannot read {}: {e}", path.display()),
                ));
                continue;
            }
        };
        let value: serde_json::Value = match serde_json::from_slice(&text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(problem(
                    "bad_json",
                    Some(entry),
                    format!("{} does not parse as JSON: {e}", path.display()),
                ));
                continue;
            }
        };
        parsed += 1;
        if entry == "app.json" {
            match value.get("health_url").and_then(|v| v.as_str()) {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                Some(u) => problems.push(problem(
                    "bad_field",
                    Some(entry),
                    format!(
                        "health_url {u:?} in {} is not an http(s) URL",
                        path.display()
                    ),
                )),
                None => problems.push(problem(
                    "bad_field",
                    Some(entry),
                    format!(
                        "{} has no string health_url; the probe and smoke tests need it",
                        path.display()
                    ),
                )),
            }
        }
    }
    Ok(ConfigCheck {
        env: env.to_string(),
        dir: dir.display().to_string(),
        ok: problems.is_empty(),
        files: parsed,
        problems,
    })
}
