//! `config/<env>/app.json` and watching it for changes.
//!
//! The file is looked up by path on every poll, so replacing the whole directory by a rename
//! (what a rollback does) is seen like an edit. A change is detected by inode, size, mtime and
//! ctime: ctime cannot be set back by tools that restore mtimes, so a restored file whose size
//! and mtime equal the old one's is still noticed. (Without inodes and ctime, on Windows, the
//! key is the size, the mtime and the creation time.)

use mobius_core::cli::Reporter;
use mobius_core::{Exit, ToolError};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The parts of app.json the demo reads; other keys are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppConfig {
    #[serde(default = "unknown_version")]
    pub version: String,
    #[serde(default)]
    pub demo: DemoBehaviour,
}

fn unknown_version() -> String {
    "unknown".into()
}

/// How the demo misbehaves on purpose.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DemoBehaviour {
    pub latency_ms: f64,
    pub error_share: f64,
    pub healthy: bool,
}

impl Default for DemoBehaviour {
    fn default() -> Self {
        DemoBehaviour {
            latency_ms: 0.0,
            error_share: 0.0,
            healthy: true,
        }
    }
}

/// Added latency above this is refused: a typo (ms vs s) should not hang the service for hours.
const MAX_LATENCY_MS: f64 = 600_000.0;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source} (create it, e.g. from config/staging/app.json)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} does not parse: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
}

impl ToolError for ConfigError {
    fn exit(&self) -> Exit {
        match self {
            ConfigError::Read { .. } => Exit::Runtime,
            ConfigError::Parse { .. } => Exit::Malformed,
        }
    }
}

impl AppConfig {
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<AppConfig, ConfigError> {
        let bad = |msg: String| ConfigError::Parse {
            path: path.to_path_buf(),
            msg,
        };
        let cfg: AppConfig = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let d = &cfg.demo;
        if !(0.0..=MAX_LATENCY_MS).contains(&d.latency_ms) {
            return Err(bad(format!(
                "demo.latency_ms is {}, expected 0..={MAX_LATENCY_MS}",
                d.latency_ms
            )));
        }
        if !(0.0..=1.0).contains(&d.error_share) {
            return Err(bad(format!(
                "demo.error_share is {}, expected a share between 0 and 1",
                d.error_share
            )));
        }
        Ok(cfg)
    }

    pub fn read(path: &Path) -> Result<(AppConfig, FileKey), ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        // Key first, then content: if the file changes in between, the next poll sees a
        // different key and reads again, so a change is never missed.
        let key = FileKey::of(path).map_err(read_err)?;
        let bytes = mobius_core::fsafe::read_input(path, mobius_core::fsafe::Kind::Text)
            .map_err(read_err)?;
        Ok((AppConfig::parse(path, &bytes)?, key))
    }
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    pub fn of(path: &Path) -> std::io::Result<FileKey> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        let (dev, ino, ctime) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino(), (m.ctime(), m.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (dev, ino, ctime) = (0, 0, time_key(m.created()));
        Ok(FileKey {
            dev,
            ino,
            len: m.len(),
            mtime: time_key(m.modified()),
            ctime,
        })
    }
}

/// A time as (seconds, nanoseconds) since the epoch, negative before it; (0, 0) when the
/// system does not record it. Only ever compared for equality.
fn time_key(t: std::io::Result<SystemTime>) -> (i64, i64) {
    let Ok(t) = t else { return (0, 0) };
    let (d, sign) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d, 1),
        Err(e) => (e.duration(), -1),
    };
    (
        sign * i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        sign * i64::from(d.subsec_nanos()),
    )
}

/// The config in force, and what the watcher last saw on disk.
pub struct Watched {
    path: PathBuf,
    current: RwLock<Arc<AppConfig>>,
    /// Bumped on every change that took effect: the error-share counter restarts with it.
    generation: AtomicU64,
    seen: Mutex<Seen>,
}

struct Seen {
    /// Key of the file version last parsed successfully (None: retry on every poll).
    key: Option<FileKey>,
    /// The last problem logged, so a broken file is reported once, not ten times a second.
    problem: Option<String>,
}

impl Watched {
    /// Reads the config at start: a missing or broken file is an error here.
    pub fn load(path: PathBuf) -> Result<Watched, ConfigError> {
        let (cfg, key) = AppConfig::read(&path)?;
        Ok(Watched {
            path,
            current: RwLock::new(Arc::new(cfg)),
            generation: AtomicU64::new(0),
            seen: Mutex::new(Seen {
                key: Some(key),
                problem: None,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn current(&self) -> Arc<AppConfig> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Looks at the file once; reloads it if it changed. Problems keep the last good config.
    pub fn poll(&self, reporter: &Reporter) {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = FileKey::of(&self.path).ok();
        if key.is_some() && key == seen.key {
            return;
        }
        match AppConfig::read(&self.path) {
            Ok((cfg, key)) => {
                seen.key = Some(key);
                seen.problem = None;
                let changed = *self.current() != cfg;
                if changed {
                    reporter.info(format!(
                        "config reloaded from {}: version {}, healthy {}, latency_ms {}, error_share {}",
                        self.path.display(),
                        cfg.version,
                        cfg.demo.healthy,
                        cfg.demo.latency_ms,
                        cfg.demo.error_share
                    ));
                    let mut cur = match self.current.write() {
                        Ok(g) => g,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    *cur = Arc::new(cfg);
                    self.generation.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) => {
                seen.key = None;
                let msg = e.to_string();
                if seen.problem.as_deref() != Some(msg.as_str()) {
                    reporter.warn(format!("{msg}; keeping the last good config"));
                    seen.problem = Some(msg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_missing_keys() {
        let c = AppConfig::parse(Path::new("a.json"), br#"{"version":"1"}"#).unwrap();
        assert_eq!(c.demo, DemoBehaviour::default());
        let c = AppConfig::parse(Path::new("a.json"), b"{}").unwrap();
        assert_eq!(c.version, "unknown");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for bad in [
            r#"{"demo":{"error_share":1.5}}"#,
            r#"{"demo":{"latency_ms":-1}}"#,
            r#"{"demo":{"healthy":"yes"}}"#,
            "[1]",
            "{",
        ] {
            let e = AppConfig::parse(Path::new("a.json"), bad.as_bytes()).unwrap_err();
            assert_eq!(e.exit(), Exit::Malformed, "{bad}");
            assert!(e.to_string().contains("a.json"), "{e}");
        }
    }

    #[test]
    fn file_keys_change_with_the_file_and_times_map_one_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.json");
        std::fs::write(&p, "{}").unwrap();
        let key = FileKey::of(&p).unwrap();
        assert_eq!(FileKey::of(&p).unwrap(), key);
        std::fs::write(&p, "{ }").unwrap();
        assert_ne!(FileKey::of(&p).unwrap(), key);

        let d = std::time::Duration::new(5, 7);
        assert_eq!(time_key(Ok(UNIX_EPOCH + d)), (5, 7));
        assert_eq!(time_key(Ok(UNIX_EPOCH - d)), (-5, -7));
        assert_eq!(time_key(Err(std::io::Error::other("not recorded"))), (0, 0));
    }
}
