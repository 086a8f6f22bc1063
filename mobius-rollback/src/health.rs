//! After the swap: the restart command, then the health checks that decide whether the
//! rollback stands. Each check is mobius-probe's (same client, same error classes).

use mobius_core::cli::Reporter;
use mobius_probe::check::{CheckOptions, Checker, StatusSet};
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No single check waits longer than this, so a hung service still gets several tries.
const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `sh -c CMD`; its output goes to stderr (stdout carries our JSON lines only).
/// `MOBIUS_ENV` and `MOBIUS_TARGET` tell it what was restored.
pub fn restart(cmd: &str, env: &str, target: &Path) -> Result<(), String> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("MOBIUS_ENV", env)
        .env("MOBIUS_TARGET", target)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(|e| format!("cannot run the restart command {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the restart command {cmd:?} failed ({status})"))
    }
}

/// What the health checks found.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub url: String,
    pub checks: u64,
    pub ok: bool,
    /// The last failure, for the message.
    pub last_failure: Option<String>,
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
    let mut checker = Checker::new(
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
        },
    );
    let start = Instant::now();
    let deadline = start + timeout;
    let mut health = Health {
        url: url.to_owned(),
        checks: 0,
        ok: false,
        last_failure: None,
    };
    let mut consecutive = 0u32;
    loop {
        let outcome = checker.check(url);
        health.checks += 1;
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
            let why = format!(
                "{}{}",
                outcome
                    .status
                    .map(|s| format!("HTTP {s}: "))
                    .unwrap_or_default(),
                outcome.detail
            );
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
