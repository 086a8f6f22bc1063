//! The per-environment lock: one tool at a time changes an environment (a backup, a rollback,
//! an auto-rollback from monitoring). The lock is an advisory `flock` on `locks/<env>.lock`,
//! so it is released by the kernel when the holder dies, even by SIGKILL: no stale locks.
//! The file's text names the holder, for the message the loser prints. (On Windows, where a
//! locked file cannot be read by anyone else, that text is kept beside it in
//! `locks/<env>.lock.holder`; the lock itself is the same, `LockFileEx` through std.)

use crate::env::EnvName;
use crate::layout::Root;
use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment {env} is locked by another run ({holder}); lock file {path}")]
    Held {
        env: String,
        holder: String,
        path: PathBuf,
    },
    #[error("cannot open lock file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Held while alive; dropping it releases the lock.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
    path: PathBuf,
}

impl EnvLock {
    /// Takes the lock for `env`, waiting up to `wait` for a holder to finish (zero: fail at
    /// once). `tool` is recorded as the holder.
    pub fn acquire(
        root: &Root,
        env: &EnvName,
        tool: &str,
        wait: Duration,
    ) -> Result<EnvLock, LockError> {
        let path = root.lock_file(env);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        // The holder's text truncates the file: never through a planted link or into a pipe.
        let mut file = crate::fsafe::open_owned(&path, false, 0o644).map_err(io_err)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(LockError::Held {
                            env: env.to_string(),
                            holder: read_holder(&path),
                            path,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        let actor = crate::history::actor();
        let holder = format!(
            "{tool} pid {} by {}@{} since {}\n",
            std::process::id(),
            actor.user,
            actor.host,
            crate::time::now_rfc3339()
        );
        // Best effort: the flock is the lock, the text only explains it.
        let _ = write_holder(&mut file, &path, &holder);
        Ok(EnvLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether the holder's text can live in the lock file itself: not where locks are mandatory
/// (Windows), since the one who wants to read it is the one the lock keeps out.
const HOLDER_IN_LOCK_FILE: bool = cfg!(unix);

fn holder_path(lock: &Path) -> PathBuf {
    if HOLDER_IN_LOCK_FILE {
        lock.to_path_buf()
    } else {
        let mut p = lock.as_os_str().to_owned();
        p.push(".holder");
        PathBuf::from(p)
    }
}

fn write_holder(locked: &mut File, lock: &Path, text: &str) -> io::Result<()> {
    if HOLDER_IN_LOCK_FILE {
        locked.set_len(0)?;
        locked.rewind()?;
        locked.write_all(text.as_bytes())
    } else {
        fs::write(holder_path(lock), text)
    }
}

fn read_holder(lock: &Path) -> String {
    // Bounded and escaped: the file is ours, but anyone who can write locks/ can fill it.
    match crate::fsafe::read_input(&holder_path(lock), crate::fsafe::Kind::Sidecar) {
        Ok(s) if !s.trim_ascii().is_empty() => {
            crate::fsafe::excerpt(s.trim_ascii(), crate::fsafe::EXCERPT_CHARS * 2)
        }
        _ => "holder unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let env = EnvName::parse("prod").unwrap();
        let held = EnvLock::acquire(&root, &env, "mobius-backup", Duration::ZERO).unwrap();
        let err = EnvLock::acquire(&root, &env, "mobius-rollback", Duration::from_millis(120))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mobius-backup pid"), "{err}");
        drop(held);
        EnvLock::acquire(&root, &env, "mobius-rollback", Duration::ZERO).unwrap();
    }

    #[test]
    fn other_environments_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let _a =
            EnvLock::acquire(&root, &EnvName::parse("a").unwrap(), "t", Duration::ZERO).unwrap();
        EnvLock::acquire(&root, &EnvName::parse("b").unwrap(), "t", Duration::ZERO).unwrap();
    }
}
