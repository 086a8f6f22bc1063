//! The JUnit XML report: the dialect GitHub Actions test reporters and GitLab read
//! (`testsuites` > `testsuite` > `testcase` with `failure` or `error`).
//!
//! A check whose response came but did not meet an expectation is a `failure`; a check that
//! got no response (refused, timeout, ...) or did not run (a check it depends on failed) is
//! an `error`. Times are seconds.

use mobius_core::records::SmokeCheck;
use std::fmt::Write;

/// Text safe inside XML 1.0 attributes and elements: the five entities escaped, and the
/// control characters XML 1.0 forbids replaced (a response body may contain anything).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: Option<f64>) -> String {
    format!("{:.3}", ms.unwrap_or(0.0) / 1000.0)
}

/// Whether a failed check counts as an `error` (no response, or not run) in JUnit terms.
pub fn is_error(c: &SmokeCheck) -> bool {
    !c.ok
        && c.failures.iter().any(|f| {
            matches!(
                f.expectation.as_str(),
                "response" | "dependency" | "request" | "url"
            )
        })
}

/// Renders the report. `suite` names the run (`mobius-smoke staging`), `timestamp` is the
/// start in UTC (`2026-11-26T12:00:00`), `total_ms` the wall time of the run.
pub fn render(
    suite: &str,
    classname: &str,
    timestamp: &str,
    total_ms: f64,
    checks: &[SmokeCheck],
) -> String {
    let errors = checks.iter().filter(|c| is_error(c)).count();
    let failures = checks.iter().filter(|c| !c.ok).count() - errors;
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="{}" tests="{}" failures="{failures}" errors="{errors}" time="{}">"#,
        escape(suite),
        checks.len(),
        seconds(Some(total_ms))
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="0" time="{}" timestamp="{}">"#,
        escape(suite),
        checks.len(),
        seconds(Some(total_ms)),
        escape(timestamp)
    );
    for c in checks {
        let _ = write!(
            x,
            r#"    <testcase classname="{}" name="{}" time="{}""#,
            escape(classname),
            escape(&c.name),
            seconds(c.duration_ms)
        );
        if c.ok {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        let tag = if is_error(c) { "error" } else { "failure" };
        let first = c.failures.first();
        let message = first.map_or_else(String::new, |f| {
            format!(
                "{}: expected {}, got {}",
                f.expectation, f.expected, f.actual
            )
        });
        let kind = first.map_or("failure", |f| f.expectation.as_str());
        let mut details = format!(
            "{} {}\nstatus: {}\nattempts: {}\n",
            c.method,
            c.url,
            c.status.map_or("no response".to_owned(), |s| s.to_string()),
            c.attempts
        );
        for f in &c.failures {
            let _ = writeln!(
                details,
                "{}: expected {}, got {}",
                f.expectation, f.expected, f.actual
            );
        }
        let _ = writeln!(
            x,
            r#"      <{tag} message="{}" type="{}">{}</{tag}>"#,
            escape(&message),
            escape(kind),
            escape(&details)
        );
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_forbidden_controls() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{FFFD}\n"
        );
    }
}
