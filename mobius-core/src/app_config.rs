//! `config/<env>/app.json`: the fields of it that the tools read, parsed in one place.
//!
//! The file belongs to the operator's service; the tools read only these keys and ignore
//! every other one:
//!
//! | key | read by | meaning |
//! | --- | --- | --- |
//! | `health_url` | probe, smoke, rollback | the URL whose 2xx answer means healthy |
//! | `metrics_url` | probe | the service's JSON metrics (`error_rate`, `p95_ms`) |
//! | `prometheus_url` | probe | a Prometheus server to read the metrics from instead (needs `error_rate_query`) |
//! | `error_rate_query` | probe | PromQL instant query giving the error rate (0..1) as one series |
//! | `p95_query` | probe | PromQL instant query giving the P95 latency as one series (optional) |
//! | `p95_unit` | probe | `ms` (default) or `s`: the unit `p95_query` answers in |
//! | `restart_cmd` | rollback, monitor.sh | run with `sh -c` after a restore swaps trees (and after a swap back) |
//! | `backup_sources` | backup, rollback | the directories one backup holds (default: `config/<env>` alone) |
//!
//! `backup_sources` paths are relative to the MOBIUS root, or absolute. The *live* file
//! decides where a rollback may write: a backup only says what it holds.

use crate::env::EnvName;
use crate::layout::Root;
use serde::Deserialize;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The file name, inside `config/<env>/`.
pub const APP_JSON: &str = "app.json";

/// The keys of `app.json` the tools use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AppConfig {
    #[serde(default)]
    pub health_url: Option<String>,
    #[serde(default)]
    pub metrics_url: Option<String>,
    #[serde(default)]
    pub prometheus_url: Option<String>,
    #[serde(default)]
    pub error_rate_query: Option<String>,
    #[serde(default)]
    pub p95_query: Option<String>,
    #[serde(default)]
    pub p95_unit: Option<String>,
    #[serde(default)]
    pub restart_cmd: Option<String>,
    #[serde(default)]
    pub backup_sources: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppConfigError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} does not parse: {msg}", .path.display())]
    Parse { path: PathBuf, msg: String },
}

impl AppConfig {
    /// Parses the bytes of an `app.json`; `Err` says what is wrong (without the file name).
    pub fn parse(bytes: &[u8]) -> Result<AppConfig, String> {
        let app: AppConfig = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if let Some(cmd) = &app.restart_cmd {
            if cmd.trim().is_empty() {
                return Err("restart_cmd is empty: remove it, or give the command".into());
            }
        }
        app.check_prometheus()?;
        if let Some(list) = &app.backup_sources {
            if list.is_empty() {
                return Err(
                    "backup_sources is empty: list the directories to back up, or remove it".into(),
                );
            }
            for s in list {
                if s.trim().is_empty() {
                    return Err("backup_sources holds an empty path".into());
                }
            }
        }
        Ok(app)
    }

    /// The Prometheus keys go together: a server needs its error-rate query, a query needs
    /// its server, and the JSON metrics and Prometheus are not both the source.
    fn check_prometheus(&self) -> Result<(), String> {
        let blank = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
        for (key, v) in [
            ("prometheus_url", &self.prometheus_url),
            ("error_rate_query", &self.error_rate_query),
            ("p95_query", &self.p95_query),
        ] {
            if blank(v) {
                return Err(format!("{key} is empty: remove it, or give it"));
            }
        }
        if let Some(u) = &self.p95_unit {
            if u != "ms" && u != "s" {
                return Err(format!("p95_unit is {u:?}, expected \"ms\" or \"s\""));
            }
        }
        match &self.prometheus_url {
            Some(_) if self.metrics_url.is_some() => {
                Err("metrics_url and prometheus_url are both set: keep one metrics source".into())
            }
            Some(_) if self.error_rate_query.is_none() => Err(
                "prometheus_url needs error_rate_query (a PromQL query giving the error rate)"
                    .into(),
            ),
            None if self.error_rate_query.is_some()
                || self.p95_query.is_some()
                || self.p95_unit.is_some() =>
            {
                Err("error_rate_query, p95_query and p95_unit need prometheus_url".into())
            }
            _ => Ok(()),
        }
    }

    /// `config/<env>/app.json` of `root`; `Ok(None)` when there is no such file.
    pub fn load(root: &Root, env: &EnvName) -> Result<Option<AppConfig>, AppConfigError> {
        let path = app_json_path(root, env);
        let bytes = match crate::fsafe::read_input(&path, crate::fsafe::Kind::Text) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(AppConfigError::Read { path, source }),
        };
        AppConfig::parse(&bytes)
            .map(Some)
            .map_err(|msg| AppConfigError::Parse { path, msg })
    }

    /// The sources one backup of `env` holds: `backup_sources`, or `config/<env>` alone.
    pub fn sources(&self, root: &Root, env: &EnvName) -> Vec<DeclaredSource> {
        match &self.backup_sources {
            Some(list) => list.iter().map(|s| DeclaredSource::new(root, s)).collect(),
            None => vec![DeclaredSource::config_dir(root, env)],
        }
    }
}

/// `config/<env>/app.json`.
pub fn app_json_path(root: &Root, env: &EnvName) -> PathBuf {
    root.config_dir(env).join(APP_JSON)
}

/// One backup source as the operator declared it, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSource {
    /// As written (relative to the root, or absolute); recorded in the manifest.
    pub shown: String,
    pub path: PathBuf,
}

impl DeclaredSource {
    pub fn new(root: &Root, shown: &str) -> DeclaredSource {
        let p = Path::new(shown);
        DeclaredSource {
            shown: shown.to_owned(),
            path: if p.is_absolute() {
                p.to_path_buf()
            } else {
                root.dir().join(p)
            },
        }
    }

    /// The default: the environment's configuration directory.
    pub fn config_dir(root: &Root, env: &EnvName) -> DeclaredSource {
        DeclaredSource {
            shown: format!("config/{env}"),
            path: root.config_dir(env),
        }
    }

    /// The folder that holds this source in a backup of several sources (see
    /// [`folder_name`]).
    pub fn folder(&self) -> Option<String> {
        folder_name(Path::new(&self.shown))
    }
}

/// The folder a source's files go under in a backup of several sources: the last component
/// of the path as written (`releases/current` → `current`, `/srv/app/` → `app`). `None` when
/// the path does not end in a plain name (`.`, `..`, `/`).
pub fn folder_name(path: &Path) -> Option<String> {
    match path.components().next_back()? {
        Component::Normal(n) => n.to_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(s: &str) -> EnvName {
        s.parse().unwrap()
    }

    #[test]
    fn unknown_keys_are_ignored_and_known_ones_read() {
        let app = AppConfig::parse(
            br#"{"service":"x","health_url":"http://127.0.0.1:1/health","restart_cmd":"systemctl restart x","backup_sources":["config/production","releases/current","/srv/x/assets"],"demo":{}}"#,
        )
        .unwrap();
        assert_eq!(app.restart_cmd.as_deref(), Some("systemctl restart x"));
        let root = Root::new("/r");
        let s = app.sources(&root, &env("production"));
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].path, PathBuf::from("/r/releases/current"));
        assert_eq!(s[1].folder().as_deref(), Some("current"));
        assert_eq!(s[2].path, PathBuf::from("/srv/x/assets"));
        assert_eq!(s[2].folder().as_deref(), Some("assets"));
    }

    #[test]
    fn prometheus_keys_go_together() {
        let ok = AppConfig::parse(
            br#"{"prometheus_url":"http://p:9090","error_rate_query":"sum(x)","p95_query":"q","p95_unit":"s"}"#,
        )
        .unwrap();
        assert_eq!(ok.p95_unit.as_deref(), Some("s"));
        for (bad, says) in [
            (r#"{"prometheus_url":"http://p"}"#, "needs error_rate_query"),
            (r#"{"error_rate_query":"sum(x)"}"#, "need prometheus_url"),
            (
                r#"{"prometheus_url":"http://p","error_rate_query":"x","metrics_url":"http://m"}"#,
                "both set",
            ),
            (
                r#"{"prometheus_url":"http://p","error_rate_query":"x","p95_unit":"min"}"#,
                "p95_unit",
            ),
            (
                r#"{"prometheus_url":"http://p","error_rate_query":" "}"#,
                "empty",
            ),
        ] {
            let e = AppConfig::parse(bad.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_source_is_the_config_dir() {
        let app = AppConfig::parse(b"{}").unwrap();
        let s = app.sources(&Root::new("r"), &env("staging"));
        assert_eq!(
            s,
            vec![DeclaredSource::config_dir(&Root::new("r"), &env("staging"))]
        );
        assert_eq!(s[0].shown, "config/staging");
        assert_eq!(s[0].folder().as_deref(), Some("staging"));
    }

    #[test]
    fn bad_values_are_named() {
        for (bytes, want) in [
            (&b"{"[..], "EOF"),
            (br#"{"restart_cmd":"  "}"#, "restart_cmd is empty"),
            (br#"{"restart_cmd":3}"#, "invalid type"),
            (br#"{"backup_sources":[]}"#, "backup_sources is empty"),
            (br#"{"backup_sources":"config/x"}"#, "invalid type"),
            (br#"{"backup_sources":[""]}"#, "empty path"),
        ] {
            let e = AppConfig::parse(bytes).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn folder_names() {
        assert_eq!(folder_name(Path::new("a/b/")).as_deref(), Some("b"));
        assert_eq!(folder_name(Path::new(".")), None);
        assert_eq!(folder_name(Path::new("a/..")), None);
        assert_eq!(folder_name(Path::new("/")), None);
    }

    #[test]
    fn a_missing_file_is_none_and_a_broken_one_names_itself() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path());
        assert_eq!(AppConfig::load(&root, &env("prod")).unwrap(), None);
        std::fs::create_dir_all(root.config_dir(&env("prod"))).unwrap();
        std::fs::write(app_json_path(&root, &env("prod")), "{nope").unwrap();
        let e = AppConfig::load(&root, &env("prod"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("app.json does not parse"), "{e}");
    }
}
