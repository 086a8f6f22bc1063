//! The on-disk layout of docs/CONTRACT.md §1, so no tool spells a path on its own.

use crate::env::EnvName;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `config/<env>/`: the live configuration of an environment.
    pub fn config_dir(&self, env: &EnvName) -> PathBuf {
        self.dir.join("config").join(env.as_str())
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }

    pub fn monitor_logs_dir(&self) -> PathBuf {
        self.dir.join("monitor_logs")
    }

    pub fn premerge_dir(&self) -> PathBuf {
        self.dir.join("premerge_artifacts")
    }

    pub fn exports_dir(&self) -> PathBuf {
        self.dir.join("exports")
    }

    pub fn history_dir(&self) -> PathBuf {
        self.dir.join("history")
    }

    /// `history/<env>.jsonl`: the hash-chained deployment history.
    pub fn history_file(&self, env: &EnvName) -> PathBuf {
        self.history_dir().join(format!("{env}.jsonl"))
    }

    /// `locks/<env>.lock`: held while a tool changes the environment.
    pub fn lock_file(&self, env: &EnvName) -> PathBuf {
        self.dir.join("locks").join(format!("{env}.lock"))
    }

    /// `locks/<env>.rollback.journal`: which trees an unfinished rollback swapped (written
    /// and removed under the environment's lock).
    pub fn rollback_journal(&self, env: &EnvName) -> PathBuf {
        self.dir
            .join("locks")
            .join(format!("{env}.rollback.journal"))
    }
}
