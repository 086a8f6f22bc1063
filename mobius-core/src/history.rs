//! The deployment history, `history/<env>.jsonl` (docs/CONTRACT.md §4): append-only and
//! tamper-evident. Each line is an [`Event`] whose `prev` is the SHA-256 of the previous line's
//! bytes (without its `\n`), so editing, removing or inserting a line breaks the chain at the
//! line after it.
//!
//! Appends happen under an exclusive `flock` on the file, with O_APPEND (on Windows: a seek to
//! the end) and one `write` per line, then `fdatasync`. A crash can still leave a partial last
//! line; the next append finds it, moves its bytes to `<file>.partial-<stamp>` (nothing is
//! lost), truncates it away, records a `history_repair` event saying so, and warns. It never
//! joins a new line onto it.

use crate::atomic::write_atomic;
use crate::digest::{sha256_hex, ZERO_HASH};
use crate::env::EnvName;
use crate::layout::Root;
use crate::records::{Actor, Event};
use serde_json::Value;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot append to history {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The result of an append: the event written, and anything the operator must be told.
#[derive(Debug, Clone)]
pub struct Appended {
    pub event: Event,
    pub warnings: Vec<String>,
}

/// Who is acting: `$USER` (or `$LOGNAME`, or the uid) and the host name.
pub fn actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(uid_name);
    Actor {
        user,
        host: hostname(),
    }
}

#[cfg(unix)]
fn uid_name() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    format!("uid:{}", unsafe { libc::getuid() })
}

#[cfg(not(unix))]
fn uid_name() -> String {
    "unknown".to_owned()
}

#[cfg(unix)]
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for buf.len() bytes; gethostname NUL-terminates on success
    // (and we cap at the first NUL or the buffer's end either way).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(not(unix))]
fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_else(|_| "unknown".to_owned())
}

/// Appends one event to `history/<env>.jsonl`.
pub fn append(
    root: &Root,
    env: &EnvName,
    action: &str,
    outcome: &str,
    details: Value,
) -> Result<Appended, HistoryError> {
    // The history is shared (exported, notified from, read by people): no secret in it,
    // whichever tool's details these are.
    let mut details = details;
    crate::redact::redact_value(&mut details);
    let path = root.history_file(env);
    append_to(&path, env, action, outcome, details).map_err(|source| HistoryError::Io {
        path: path.clone(),
        source,
    })
}

/// Refuses, before any work, a history file that [`append`] would refuse (a symlink, FIFO,
/// device or directory in its place), so a tool fails before it takes the lock or changes
/// anything rather than after.
pub fn check_writable(root: &Root, env: &EnvName) -> Result<(), HistoryError> {
    let path = root.history_file(env);
    crate::fsafe::check_output(&path).map_err(|source| HistoryError::Io { path, source })
}

fn append_to(
    path: &Path,
    env: &EnvName,
    action: &str,
    outcome: &str,
    details: Value,
) -> io::Result<Appended> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    // Never through a planted link, never into a pipe or another file's hard link: the
    // repair below truncates. On Windows (which cannot truncate a file opened for
    // appending) it is opened for writing and `write_event` seeks to the end, under the lock.
    let mut file = crate::fsafe::open_owned(path, cfg!(unix), 0o640)?;
    file.lock()?;
    let mut warnings = Vec::new();
    let mut tail = read_tail(&mut file, env)?;
    if let Some(partial) = tail.partial.take() {
        if !tail.ours {
            return Err(crate::fsafe::refusal(format!(
                "ends in an incomplete line but is not a MOBIUS history log (its last complete line is not an event of {env}); refusing to repair it"
            )));
        }
        let aside = PathBuf::from(format!(
            "{}.partial-{}",
            path.display(),
            crate::time::file_stamp(SystemTime::now())
        ));
        write_atomic(&aside, &partial.bytes, 0o600)?;
        file.set_len(partial.offset)?;
        file.sync_data()?;
        warnings.push(format!(
            "{}: line {} was incomplete ({} bytes, left by a crash); moved it to {} and continued the chain after line {}",
            path.display(),
            tail.last_seq_hint + 1,
            partial.bytes.len(),
            aside.display(),
            tail.last_seq_hint
        ));
        let repair = write_event(
            &mut file,
            &mut tail,
            env,
            "history_repair",
            "success",
            serde_json::json!({
                "partial_bytes": partial.bytes.len(),
                "partial_sha256": sha256_hex(&partial.bytes),
                "moved_to": aside.file_name().map(|n| n.to_string_lossy().into_owned()),
            }),
        )?;
        let _ = repair;
    }
    let event = write_event(&mut file, &mut tail, env, action, outcome, details)?;
    Ok(Appended { event, warnings })
}

fn write_event(
    file: &mut File,
    tail: &mut Tail,
    env: &EnvName,
    action: &str,
    outcome: &str,
    details: Value,
) -> io::Result<Event> {
    let event = Event {
        seq: tail.next_seq,
        ts: crate::time::now_rfc3339(),
        env: env.to_string(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        actor: actor(),
        details,
        prev: tail.prev.clone(),
    };
    let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
    tail.prev = sha256_hex(&line);
    tail.next_seq += 1;
    tail.last_seq_hint = event.seq;
    line.push(b'\n');
    // A no-op with O_APPEND; without it (Windows), what puts the line at the end.
    file.seek(SeekFrom::End(0))?;
    file.write_all(&line)?;
    file.sync_data()?;
    Ok(event)
}

struct Partial {
    offset: u64,
    bytes: Vec<u8>,
}

struct Tail {
    next_seq: u64,
    prev: String,
    last_seq_hint: u64,
    partial: Option<Partial>,
    /// Whether the file is provably a history log of this env (its last complete line is
    /// one of its events, or it holds only the start of a first one): the only kind of file
    /// a repair may truncate.
    ours: bool,
}

/// Finds the last complete line (for `seq` and `prev`) and any partial line after it, reading
/// backwards from the end so an append costs the same for a 10-line and a 10-million-line file.
fn read_tail(file: &mut File, env: &EnvName) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail {
            next_seq: 1,
            prev: ZERO_HASH.to_owned(),
            last_seq_hint: 0,
            partial: None,
            ours: true,
        });
    }
    // Grow the window backwards until it holds two newlines (or the file's start).
    let mut window = 64 * 1024u64;
    let (start, buf) = loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        let newlines = buf.iter().filter(|&&b| b == b'\n').count();
        if start == 0 || newlines >= 2 {
            break (start, buf);
        }
        window *= 4;
    };
    let mut end = buf.len();
    let mut partial = None;
    if buf[end - 1] != b'\n' {
        let cut = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        partial = Some(Partial {
            offset: start + cut as u64,
            bytes: buf[cut..].to_vec(),
        });
        end = cut;
    }
    if end == 0 {
        // Nothing complete before the partial line: it was the first line, ours only if it
        // starts the way `write_event` starts a first line.
        let ours = partial
            .as_ref()
            .is_some_and(|p| p.bytes.starts_with(b"{\"seq\":1,"));
        return Ok(Tail {
            next_seq: 1,
            prev: ZERO_HASH.to_owned(),
            last_seq_hint: 0,
            partial,
            ours,
        });
    }
    let line_end = end - 1; // index of the '\n' ending the last complete line
    let line_start = buf[..line_end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = &buf[line_start..line_end];
    let prev = sha256_hex(line);
    let mut ours = false;
    let seq = match serde_json::from_slice::<Event>(line) {
        Ok(ev) => {
            ours = ev.env == env.as_str();
            ev.seq
        }
        // The last line is not an event (the file was edited): keep appending with the line
        // count as seq; `mobius-verify --history` reports the damage.
        Err(_) => count_lines(file, start + line_end as u64 + 1)?,
    };
    Ok(Tail {
        next_seq: seq + 1,
        prev,
        last_seq_hint: seq,
        partial,
        ours,
    })
}

fn count_lines(file: &mut File, upto: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::new(file.take(upto));
    let mut n = 0;
    let mut buf = Vec::new();
    while r.read_until(b'\n', &mut buf)? > 0 {
        n += 1;
        buf.clear();
    }
    Ok(n)
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub line: u64,
    pub problem: String,
}

/// The result of walking a history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Lines read (up to and including the first bad one).
    pub lines: u64,
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Walks a history file and checks every line: a complete line, a valid event of this env,
/// `seq` counting 1, 2, ..., and `prev` equal to the SHA-256 of the line before. Stops at the
/// first break. Reads as a stream: memory does not grow with the file.
pub fn verify_chain(path: &Path, env: Option<&EnvName>) -> io::Result<ChainReport> {
    let file = crate::fsafe::open_input(path, crate::fsafe::Kind::Lines)?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    verify_chain_reader(&mut r, env)
}

pub fn verify_chain_reader(r: &mut impl BufRead, env: Option<&EnvName>) -> io::Result<ChainReport> {
    let mut buf = Vec::new();
    let mut prev = ZERO_HASH.to_owned();
    let mut n = 0u64;
    let brk = |line, problem: String| ChainReport {
        lines: line,
        first_break: Some(ChainBreak { line, problem }),
    };
    loop {
        buf.clear();
        if crate::fsafe::read_line_limited(r, &mut buf, crate::fsafe::LINE_LIMIT)? == 0 {
            return Ok(ChainReport {
                lines: n,
                first_break: None,
            });
        }
        n += 1;
        if buf.last() != Some(&b'\n') {
            return Ok(brk(
                n,
                format!("line {n} is incomplete (no newline at the end): a write was cut short"),
            ));
        }
        let line = &buf[..buf.len() - 1];
        let ev: Event = match serde_json::from_slice(line) {
            Ok(ev) => ev,
            Err(e) => return Ok(brk(n, format!("line {n} is not a history event: {e}"))),
        };
        if ev.seq != n {
            return Ok(brk(
                n,
                format!(
                    "line {n} has seq {}, expected {n}: a line was removed, inserted or reordered",
                    ev.seq
                ),
            ));
        }
        if ev.prev != prev {
            let what = if n == 1 {
                "the first line's prev must be 64 zeros".to_owned()
            } else {
                format!(
                    "it does not match the SHA-256 of line {}: line {} was changed",
                    n - 1,
                    n - 1
                )
            };
            return Ok(brk(n, format!("line {n}: prev hash mismatch; {what}")));
        }
        if let Some(env) = env {
            if ev.env != env.as_str() {
                return Ok(brk(
                    n,
                    format!(
                        "line {n} belongs to environment {}, not {env}",
                        crate::fsafe::quoted(&ev.env)
                    ),
                ));
            }
        }
        prev = sha256_hex(line);
    }
}

/// Reads every event of a history file (for reports such as the compliance export). Lines
/// that are not events are skipped by this reader; [`verify_chain`] is what judges them.
pub fn for_each_event(path: &Path, mut f: impl FnMut(u64, Event)) -> io::Result<()> {
    let file = crate::fsafe::open_input(path, crate::fsafe::Kind::Lines)?;
    let mut r = BufReader::new(file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if crate::fsafe::read_line_limited(&mut r, &mut buf, crate::fsafe::LINE_LIMIT)? == 0 {
            return Ok(());
        }
        n += 1;
        if let Ok(ev) = serde_json::from_slice::<Event>(buf.trim_ascii_end()) {
            f(n, ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs::OpenOptions;

    fn setup() -> (tempfile::TempDir, Root, EnvName) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        (dir, root, EnvName::parse("prod").unwrap())
    }

    #[test]
    fn appends_a_valid_chain() {
        let (_d, root, env) = setup();
        for i in 0..5 {
            let a = append(&root, &env, "backup", "success", json!({"i": i})).unwrap();
            assert_eq!(a.event.seq, i + 1);
            assert!(a.warnings.is_empty());
        }
        let first = fs::read_to_string(root.history_file(&env)).unwrap();
        assert!(first.lines().next().unwrap().contains(ZERO_HASH));
        let report = verify_chain(&root.history_file(&env), Some(&env)).unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.lines, 5);
    }

    #[test]
    fn an_edited_line_breaks_the_chain_at_the_next_line() {
        let (_d, root, env) = setup();
        for _ in 0..4 {
            append(&root, &env, "deploy", "success", json!({})).unwrap();
        }
        let path = root.history_file(&env);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replacen("\"deploy\"", "\"deplox\"", 2);
        fs::write(&path, text).unwrap();
        let report = verify_chain(&path, Some(&env)).unwrap();
        let brk = report.first_break.unwrap();
        assert_eq!(brk.line, 2, "{}", brk.problem);
        assert!(
            brk.problem.contains("line 1 was changed"),
            "{}",
            brk.problem
        );
    }

    #[test]
    fn a_removed_line_is_detected() {
        let (_d, root, env) = setup();
        for _ in 0..4 {
            append(&root, &env, "deploy", "success", json!({})).unwrap();
        }
        let path = root.history_file(&env);
        let lines: Vec<String> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let kept = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        fs::write(&path, kept).unwrap();
        let brk = verify_chain(&path, None).unwrap().first_break.unwrap();
        assert_eq!(brk.line, 2);
    }

    #[test]
    fn a_partial_last_line_is_moved_aside_not_joined() {
        let (_d, root, env) = setup();
        append(&root, &env, "backup", "success", json!({})).unwrap();
        let path = root.history_file(&env);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":2,\"ts\":\"2026-").unwrap();
        drop(f);
        let brk = verify_chain(&path, Some(&env))
            .unwrap()
            .first_break
            .unwrap();
        assert_eq!(brk.line, 2);
        assert!(brk.problem.contains("incomplete"));

        let a = append(&root, &env, "deploy", "success", json!({})).unwrap();
        assert_eq!(a.warnings.len(), 1, "the repair is reported");
        assert!(a.warnings[0].contains("incomplete"));
        assert_eq!(a.event.seq, 3, "line 2 records the repair");
        let report = verify_chain(&path, Some(&env)).unwrap();
        assert!(report.ok(), "{report:?}");
        let aside: Vec<_> = fs::read_dir(root.history_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            fs::read(aside[0].path()).unwrap(),
            b"{\"seq\":2,\"ts\":\"2026-"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_history_is_refused_and_its_target_untouched() {
        let (d, root, env) = setup();
        fs::create_dir_all(root.history_dir()).unwrap();
        let foreign = d.path().join("foreign");
        fs::write(&foreign, b"root:x:0:0\nno newline at the end").unwrap();
        std::os::unix::fs::symlink(&foreign, root.history_file(&env)).unwrap();
        let e = append(&root, &env, "backup", "success", json!({})).unwrap_err();
        assert!(
            crate::exit::error_chain(&e).contains("symbolic link"),
            "{e:?}"
        );
        assert_eq!(
            fs::read(&foreign).unwrap(),
            b"root:x:0:0\nno newline at the end"
        );
    }

    #[test]
    fn a_foreign_file_with_a_partial_line_is_not_repaired() {
        let (_d, root, env) = setup();
        fs::create_dir_all(root.history_dir()).unwrap();
        let path = root.history_file(&env);
        fs::write(&path, b"first line\nsecond, no newline").unwrap();
        let e = append(&root, &env, "backup", "success", json!({})).unwrap_err();
        assert!(
            crate::exit::error_chain(&e).contains("not a MOBIUS history log"),
            "{e:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"first line\nsecond, no newline");
        fs::write(&path, b"just bytes").unwrap();
        assert!(append(&root, &env, "backup", "success", json!({})).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"just bytes");
    }

    #[test]
    fn long_histories_append_from_the_tail() {
        let (_d, root, env) = setup();
        let big = "x".repeat(70_000);
        for _ in 0..3 {
            append(&root, &env, "note", "success", json!({"pad": big})).unwrap();
        }
        let a = append(&root, &env, "note", "success", json!({})).unwrap();
        assert_eq!(a.event.seq, 4);
        assert!(verify_chain(&root.history_file(&env), Some(&env))
            .unwrap()
            .ok());
    }

    #[test]
    fn wrong_env_is_a_break() {
        let (_d, root, env) = setup();
        append(&root, &env, "x", "success", json!({})).unwrap();
        let other = EnvName::parse("staging").unwrap();
        let brk = verify_chain(&root.history_file(&env), Some(&other))
            .unwrap()
            .first_break
            .unwrap();
        assert_eq!(brk.line, 1);
    }
}
