//! Around the swap: the health check before anything is touched, the restart command, the
//! health checks that decide whether the rollback stands, and the words that tell the
//! operator which case a failure is. Each check is mobius-probe's (same client, same error
//! classes).

use mobius_core::cli::Reporter;
use mobius_core::records::HealthBefore;
use mobius_probe::check::{CheckOptions, Checker, Outcome, StatusSet};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No single check waits longer than this, so a hung service still gets several tries.
const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of the restart command's stderr quoted when it fails.
const STDERR_TAIL_LINES: usize = 5;
/// Bytes of the restart command's stderr read back at most (its end).
const STDERR_TAIL_BYTES: u64 = 64 * 1024;

/// Why the restart command failed: its exit status and the last lines it wrote to stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartFailure {
    pub message: String,
}

/// Runs `sh -c CMD`. Its stdout goes to our stderr (stdout carries JSON lines only); its
/// stderr goes to an unlinked temporary file that is copied to our stderr afterwards, so
/// the last lines can be quoted on failure, and a service the command leaves running holds
/// no pipe of ours (it would hang a caller reading our output, or die of SIGPIPE once we
/// exit). `MOBIUS_ENV` and `MOBIUS_TARGET` (the first place restored) tell it what was
/// restored.
pub fn restart(cmd: &str, env: &str, target: &Path) -> Result<(), RestartFailure> {
    let fail = |message: String| RestartFailure { message };
    let mut log = tempfile::tempfile().map_err(|e| {
        fail(format!(
            "cannot make a temporary file for the restart command's stderr: {e}"
        ))
    })?;
    let child_err = log
        .try_clone()
        .map_err(|e| fail(format!("cannot pass a file to the restart command: {e}")))?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("MOBIUS_ENV", env)
        .env("MOBIUS_TARGET", target)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .stderr(Stdio::from(child_err))
        .status()
        .map_err(|e| fail(format!("cannot run the restart command {cmd:?}: {e}")))?;
    let tail = copy_and_tail(&mut log);
    if status.success() {
        return Ok(());
    }
    let code = match status.code() {
        Some(c) => format!("exit code {c}"),
        None => format!("{status}"),
    };
    let last = if tail.is_empty() {
        "it wrote nothing to stderr".to_owned()
    } else {
        format!("its last stderr lines: {}", tail.join(" | "))
    };
    Err(fail(format!(
        "the restart command {cmd:?} failed ({code}); {last}"
    )))
}

/// Copies what the command wrote to our stderr and returns its last lines (escaped).
fn copy_and_tail(log: &mut std::fs::File) -> Vec<String> {
    let len = log.seek(SeekFrom::End(0)).unwrap_or(0);
    let from = len.saturating_sub(STDERR_TAIL_BYTES);
    if log.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    let _ = log.take(STDERR_TAIL_BYTES).read_to_end(&mut bytes);
    let _ = io::stderr().write_all(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(|l| l.escape_debug().to_string().chars().take(300).collect())
        .collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].to_vec()
}

/// What the health checks after the swap found.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub url: String,
    pub checks: u64,
    pub ok: bool,
    /// The last failure, for the message.
    pub last_failure: Option<String>,
    /// Whether any check got an HTTP answer at all (a service that is not running never
    /// answers).
    pub answered: bool,
}

fn checker(timeout: Duration) -> (Checker, Duration) {
    let per_check = timeout
        .min(MAX_CHECK_TIMEOUT)
        .max(Duration::from_millis(100));
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(per_check))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("mobius-rollback/{}", mobius_core::VERSION))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let checker = Checker::new(
        agent,
        CheckOptions {
            timeout: per_check,
            expect_status: "200-299"
                .parse::<StatusSet>()
                .unwrap_or_else(|_| unreachable!("a valid literal")),
            expect_body: None,
            max_body: 64 * 1024,
            error_rate_field: "error_rate".to_owned(),
            p95_field: "p95_ms".to_owned(),
            // The restored service's own health URL: a redirect is not health.
            max_redirects: 0,
        },
    );
    (checker, per_check)
}

fn describe(o: &Outcome) -> String {
    format!(
        "{}{}",
        o.status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(),
        o.detail
    )
}

/// One check of `url` before anything is touched.
pub fn check_before(url: &str, timeout: Duration) -> HealthBefore {
    let (mut checker, _) = checker(timeout);
    let o = checker.check(url);
    HealthBefore {
        url: url.to_owned(),
        ok: o.ok,
        status: o.status,
        detail: describe(&o),
    }
}

/// Checks `url` every `interval` until `needed` consecutive checks are healthy (2xx) or
/// `timeout` has passed since the start.
pub fn check(
    url: &str,
    needed: u32,
    timeout: Duration,
    interval: Duration,
    reporter: &Reporter,
) -> Health {
    let (mut checker, _) = checker(timeout);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut health = Health {
        url: url.to_owned(),
        checks: 0,
        ok: false,
        last_failure: None,
        answered: false,
    };
    let mut consecutive = 0u32;
    loop {
        let outcome = checker.check(url);
        health.checks += 1;
        health.answered |= outcome.status.is_some();
        if outcome.ok {
            consecutive += 1;
            reporter.detail(format!(
                "health check {}: healthy ({consecutive}/{needed} in a row)",
                health.checks
            ));
            if consecutive >= needed {
                health.ok = true;
                return health;
            }
        } else {
            consecutive = 0;
            let why = describe(&outcome);
            reporter.detail(format!("health check {}: unhealthy: {why}", health.checks));
            health.last_failure = Some(why);
        }
        let next = Instant::now() + interval;
        if next >= deadline {
            return health;
        }
        std::thread::sleep(interval);
    }
}

/// The three ways a rollback fails after the swap, as `failure_cause` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Not answering before the restore, and still not after it.
    ServiceDown,
    RestartFailed,
    /// The restored state answers, unhealthy (or a service that answered before stopped).
    RestoredUnhealthy,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ServiceDown => "service_down",
            Cause::RestartFailed => "restart_failed",
            Cause::RestoredUnhealthy => "restored_unhealthy",
        }
    }

    /// Which case failed health checks are. A service that never answered after the swap,
    /// and did not answer before it either, was down all along: the backup was not judged.
    pub fn of(before: Option<&HealthBefore>, after: &Health) -> Cause {
        let down_before = before.is_some_and(|b| b.status.is_none());
        if down_before && !after.answered {
            Cause::ServiceDown
        } else {
            Cause::RestoredUnhealthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(status: Option<u16>) -> HealthBefore {
        HealthBefore {
            url: "http://127.0.0.1:1/health".into(),
            ok: status == Some(200),
            status,
            detail: String::new(),
        }
    }

    fn after(answered: bool) -> Health {
        Health {
            url: String::new(),
            checks: 3,
            ok: false,
            last_failure: None,
            answered,
        }
    }

    #[test]
    fn causes_are_told_apart() {
        assert_eq!(
            Cause::of(Some(&before(None)), &after(false)),
            Cause::ServiceDown
        );
        assert_eq!(
            Cause::of(Some(&before(None)), &after(true)),
            Cause::RestoredUnhealthy
        );
        assert_eq!(
            Cause::of(Some(&before(Some(503))), &after(false)),
            Cause::RestoredUnhealthy
        );
        assert_eq!(Cause::of(None, &after(false)), Cause::RestoredUnhealthy);
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_restart_quotes_its_exit_code_and_last_stderr_lines() {
        let d = std::env::temp_dir();
        let e = restart(
            "echo one >&2; echo two >&2; printf 'three\\n' >&2; exit 3",
            "prod",
            &d,
        )
        .unwrap_err();
        assert!(e.message.contains("exit code 3"), "{}", e.message);
        assert!(e.message.contains("one | two | three"), "{}", e.message);
        assert!(restart("true", "prod", &d).is_ok());
        let e = restart("exit 7", "prod", &d).unwrap_err();
        assert!(e.message.contains("exit code 7") && e.message.contains("wrote nothing"));
    }

    #[cfg(unix)]
    #[test]
    fn a_restart_that_leaves_a_process_running_does_not_wait_for_it() {
        let d = std::env::temp_dir();
        let t0 = Instant::now();
        // The background sleep inherits the command's stdout and stderr.
        restart("sleep 30 & exit 0", "prod", &d).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(25));
    }
}
