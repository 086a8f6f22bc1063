//! One health check of one URL: the request, the capped body read, and the sorting of every
//! way it can fail into the error classes of docs/CONTRACT.md §3.

use crate::redirect;
use mobius_core::records::ErrorClass;
use std::fmt;
use std::io::Read;
use std::str::FromStr;
use std::time::{Duration, Instant};
use ureq::http::Uri;
use ureq::Agent;

/// Accepted HTTP status codes: `200-299`, `200,204`, `200-299,304`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl FromStr for StatusSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(format!(
                    "'{}' is not an HTTP status code (100-599)",
                    t.trim()
                )),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(format!("range '{}' is backwards", part.trim()));
            }
            ranges.push(range);
        }
        Ok(StatusSet {
            ranges,
            text: s.replace(' ', ""),
        })
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What every check of a run shares.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub timeout: Duration,
    pub expect_status: StatusSet,
    pub expect_body: Option<String>,
    /// Body bytes read at most; a longer body is a `body` failure.
    pub max_body: u64,
    pub error_rate_field: String,
    pub p95_field: String,
    /// Redirects followed at most; one more is a `redirect` failure.
    pub max_redirects: u32,
}

/// The result of one check, before it becomes a `sample`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub error: Option<ErrorClass>,
    pub detail: String,
}

/// Figures read from the service's own metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    pub error_rate: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// Checks one target again and again over one connection pool.
pub struct Checker {
    agent: Agent,
    opts: CheckOptions,
    buf: Vec<u8>,
}

/// Details longer than this are cut: a sample's detail is a hint, not a log.
const MAX_DETAIL: usize = 200;

impl Checker {
    pub fn new(agent: Agent, opts: CheckOptions) -> Checker {
        Checker {
            agent,
            opts,
            buf: Vec::new(),
        }
    }

    pub fn options(&self) -> &CheckOptions {
        &self.opts
    }

    /// Runs one check; never longer than the timeout (ureq's global timeout covers the
    /// lookup, connect, TLS, request, response head and the body read).
    pub fn check(&mut self, url: &str) -> Outcome {
        let t0 = Instant::now();
        let elapsed_ms = |t0: Instant| Some(round_ms(t0.elapsed()));
        let mut current: Uri = match url.parse() {
            Ok(u) => u,
            Err(e) => return failure(None, None, ErrorClass::Io, format!("bad URL: {e}")),
        };
        // The status and latency of the last redirect answered, and where it led.
        let mut redirected: Option<(u16, f64)> = None;
        let mut hops = 0u32;
        let mut resp = loop {
            let call = if hops == 0 {
                self.agent.get(&current).call()
            } else {
                let left = self.opts.timeout.saturating_sub(t0.elapsed());
                self.agent
                    .get(&current)
                    .config()
                    .timeout_global(Some(left.max(Duration::from_millis(1))))
                    .build()
                    .call()
            };
            let resp = match call {
                Ok(r) => r,
                Err(e) => {
                    let (mut class, mut detail) = classify(&e, self.opts.timeout);
                    // Over https everything before an answer is TLS: a plain-HTTP port
                    // answering a ClientHello surfaces as an I/O error from rustls.
                    if class == ErrorClass::Io
                        && matches!(e, ureq::Error::Io(_))
                        && current.scheme() == Some(&ureq::http::uri::Scheme::HTTPS)
                    {
                        class = ErrorClass::Tls;
                        detail = format!("TLS: {detail} (is the port speaking plain HTTP?)");
                    }
                    // Nothing was sent and nothing waited for: no latency to report.
                    let waited = match (&e, class) {
                        (ureq::Error::Timeout(_), _) => elapsed_ms(t0),
                        (_, ErrorClass::Dns | ErrorClass::Connect) => None,
                        _ => elapsed_ms(t0),
                    };
                    return match redirected {
                        None => failure(None, waited, class, detail),
                        // What was answered stands: its status, and its latency unless
                        // the target's failure took longer.
                        Some((status, answered)) => failure(
                            Some(status),
                            Some(waited.map_or(answered, |w| w.max(answered))),
                            if class == ErrorClass::Timeout {
                                class
                            } else {
                                ErrorClass::Redirect
                            },
                            // Redacted where it leaves: the sample (probe), the record (rollback).
                            format!("redirect {status} to {current} failed: {detail}"),
                        ),
                    };
                }
            };
            let status = resp.status().as_u16();
            let location = resp.headers().get(ureq::http::header::LOCATION);
            let (true, Some(location)) = (resp.status().is_redirection(), location) else {
                break resp;
            };
            let latency = round_ms(t0.elapsed());
            if hops >= self.opts.max_redirects {
                return failure(
                    Some(status),
                    Some(latency),
                    ErrorClass::Redirect,
                    format!(
                        "more than {} redirects (a redirect loop?)",
                        self.opts.max_redirects
                    ),
                );
            }
            match redirect::resolve(&current, location.as_bytes()) {
                Ok(next) => current = next,
                Err(why) => {
                    return failure(
                        Some(status),
                        Some(latency),
                        ErrorClass::Redirect,
                        format!(
                            "redirect {status} to \"{}\": {why}",
                            mobius_core::fsafe::excerpt(location.as_bytes(), 120)
                        ),
                    )
                }
            }
            redirected = Some((status, latency));
            hops += 1;
        };
        let status = resp.status().as_u16();
        self.buf.clear();
        // One byte past the cap tells "exactly at the cap" from "over it".
        let read = resp
            .body_mut()
            .as_reader()
            .take(self.opts.max_body.saturating_add(1))
            .read_to_end(&mut self.buf);
        let latency = elapsed_ms(t0);
        if let Err(e) = read {
            let e = ureq::Error::from(e);
            let (class, detail) = match classify(&e, self.opts.timeout) {
                (ErrorClass::Timeout, d) => (ErrorClass::Timeout, d),
                (_, d) => (ErrorClass::Body, format!("reading the body failed: {d}")),
            };
            return failure(Some(status), latency, class, detail);
        }
        if !self.opts.expect_status.contains(status) {
            let detail = format!(
                "HTTP {status} (expected {}){}",
                self.opts.expect_status,
                body_hint(&self.buf)
            );
            return failure(Some(status), latency, ErrorClass::Status, detail);
        }
        if self.buf.len() as u64 > self.opts.max_body {
            let detail = format!(
                "body larger than {} bytes; read stopped there",
                self.opts.max_body
            );
            return failure(Some(status), latency, ErrorClass::Body, detail);
        }
        if let Some(want) = &self.opts.expect_body {
            if !contains(&self.buf, want.as_bytes()) {
                let detail = format!("body does not contain {want:?}{}", body_hint(&self.buf));
                return failure(Some(status), latency, ErrorClass::Body, detail);
            }
        }
        Outcome {
            ok: true,
            status: Some(status),
            latency_ms: latency,
            error: None,
            detail: String::new(),
        }
    }

    /// Reads the metrics from Prometheus within `budget` (see [`crate::prom::read`]).
    pub fn prometheus(
        &self,
        src: &crate::prom::PromSource,
        budget: Duration,
    ) -> (Metrics, Vec<String>) {
        crate::prom::read(&self.agent, src, budget, self.opts.max_body)
    }

    /// Reads the service's metrics within `budget`. Errors are short texts for the detail.
    pub fn metrics(&mut self, url: &str, budget: Duration) -> Result<Metrics, String> {
        if budget < Duration::from_millis(1) {
            return Err("no time left in this check's timeout".into());
        }
        let mut resp = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(budget))
            .build()
            .call()
            .map_err(|e| classify(&e, budget).1)?;
        let status = resp.status().as_u16();
        self.buf.clear();
        resp.body_mut()
            .as_reader()
            .take(self.opts.max_body.saturating_add(1))
            .read_to_end(&mut self.buf)
            .map_err(|e| classify(&ureq::Error::from(e), budget).1)?;
        if !(200..=299).contains(&status) {
            return Err(format!("HTTP {status}"));
        }
        if self.buf.len() as u64 > self.opts.max_body {
            return Err(format!("body larger than {} bytes", self.opts.max_body));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&self.buf).map_err(|e| format!("not JSON: {e}"))?;
        let error_rate = number_at(&v, &self.opts.error_rate_field)?;
        if let Some(r) = error_rate {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!(
                    "{} is {r}, not a share between 0 and 1",
                    self.opts.error_rate_field
                ));
            }
        }
        let p95_ms = number_at(&v, &self.opts.p95_field)?;
        if let Some(p) = p95_ms {
            if p < 0.0 {
                return Err(format!("{} is negative ({p})", self.opts.p95_field));
            }
        }
        Ok(Metrics { error_rate, p95_ms })
    }
}

/// A field by name, or by JSON pointer when it starts with `/` (`/http/p95`). A missing or
/// null field is `None`; anything else that is not a finite number is an error.
fn number_at(v: &serde_json::Value, field: &str) -> Result<Option<f64>, String> {
    let found = if field.starts_with('/') {
        v.pointer(field)
    } else {
        v.get(field)
    };
    match found {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(x) => match x.as_f64() {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(format!("{field} is not a number")),
        },
    }
}

fn failure(
    status: Option<u16>,
    latency: Option<f64>,
    class: ErrorClass,
    detail: String,
) -> Outcome {
    Outcome {
        ok: false,
        status,
        latency_ms: latency,
        error: Some(class),
        detail: shorten(detail),
    }
}

/// Milliseconds with microsecond resolution: enough for any dashboard, and short lines.
pub fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The start of a body, for the detail of a failed check: often says why (`"status":"unhealthy"`).
fn body_hint(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.replace(['\n', '\r'], " "))
    }
}

fn shorten(mut s: String) -> String {
    if s.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Sorts a ureq error into a docs/CONTRACT.md §3 class, with a short detail.
pub fn classify(e: &ureq::Error, timeout: Duration) -> (ErrorClass, String) {
    use ureq::Error as E;
    let limit = humantime::format_duration(timeout);
    match e {
        E::Timeout(ureq::Timeout::Resolve) => (
            ErrorClass::Dns,
            format!("name lookup did not finish within {limit}"),
        ),
        E::Timeout(t) => (
            ErrorClass::Timeout,
            format!("no complete response within {limit} (stuck in: {t})"),
        ),
        E::HostNotFound => (ErrorClass::Dns, "name does not resolve".into()),
        E::ConnectionFailed => (ErrorClass::Connect, "connection failed".into()),
        E::TooManyRedirects => (
            ErrorClass::Redirect,
            "too many redirects (a redirect loop?)".into(),
        ),
        E::RedirectFailed => (
            ErrorClass::Redirect,
            "redirect could not be followed".into(),
        ),
        E::Tls(msg) => (ErrorClass::Tls, format!("TLS: {msg}")),
        E::Rustls(err) => (ErrorClass::Tls, format!("TLS: {err}")),
        E::Pem(err) => (ErrorClass::Tls, format!("TLS: {err}")),
        E::TlsRequired => (ErrorClass::Tls, "TLS required but not set up".into()),
        E::Protocol(err) => (ErrorClass::Io, format!("not a valid HTTP response: {err}")),
        E::LargeResponseHeader(..) => (ErrorClass::Io, format!("{e}")),
        E::StatusCode(code) => (ErrorClass::Status, format!("HTTP {code}")),
        E::Io(io) => classify_io(io, &limit.to_string()),
        other => (ErrorClass::Io, other.to_string()),
    }
}

fn classify_io(io: &std::io::Error, limit: &str) -> (ErrorClass, String) {
    use std::io::ErrorKind as K;
    let text = io.to_string();
    match io.kind() {
        K::TimedOut | K::WouldBlock => (
            ErrorClass::Timeout,
            format!("no complete response within {limit} ({text})"),
        ),
        K::ConnectionRefused => (ErrorClass::Connect, "connection refused".into()),
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable | K::NetworkDown => {
            (ErrorClass::Connect, text)
        }
        K::ConnectionReset => (ErrorClass::Io, "connection reset by peer".into()),
        K::UnexpectedEof => (
            ErrorClass::Io,
            "connection closed before a complete response".into(),
        ),
        // std reports getaddrinfo failures with this prefix and no dedicated ErrorKind.
        _ if text.starts_with("failed to lookup address") => (ErrorClass::Dns, text),
        // rustls handshake failures arrive as InvalidData carrying the rustls error.
        K::InvalidData if looks_like_tls(&text) => (ErrorClass::Tls, format!("TLS: {text}")),
        _ => (ErrorClass::Io, text),
    }
}

fn looks_like_tls(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["certificate", "handshake", "tls", "alert"]
        .iter()
        .any(|w| t.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_ranges_and_lists() {
        let s: StatusSet = "200-299, 304".parse().unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(304));
        assert!(!s.contains(300) && !s.contains(503));
        assert_eq!(s.to_string(), "200-299,304");
        for bad in ["", "abc", "299-200", "42", "200-", "700"] {
            assert!(bad.parse::<StatusSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn metric_fields_by_name_or_pointer() {
        let v = serde_json::json!({"error_rate": 0.5, "http": {"p95": 12}, "n": null, "s": "x"});
        assert_eq!(number_at(&v, "error_rate"), Ok(Some(0.5)));
        assert_eq!(number_at(&v, "/http/p95"), Ok(Some(12.0)));
        assert_eq!(number_at(&v, "missing"), Ok(None));
        assert_eq!(number_at(&v, "n"), Ok(None));
        assert!(number_at(&v, "s").is_err());
    }

    #[test]
    fn io_errors_get_the_right_class() {
        use std::io::{Error, ErrorKind};
        let c = |e: Error| classify(&ureq::Error::Io(e), Duration::from_secs(5)).0;
        assert_eq!(
            c(Error::from(ErrorKind::ConnectionRefused)),
            ErrorClass::Connect
        );
        assert_eq!(c(Error::from(ErrorKind::TimedOut)), ErrorClass::Timeout);
        assert_eq!(c(Error::from(ErrorKind::ConnectionReset)), ErrorClass::Io);
        assert_eq!(
            c(Error::other(
                "failed to lookup address information: Name or service not known"
            )),
            ErrorClass::Dns
        );
        assert_eq!(
            classify(&ureq::Error::TooManyRedirects, Duration::from_secs(1)).0,
            ErrorClass::Redirect
        );
    }

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let s = shorten("é".repeat(300));
        assert!(s.len() <= MAX_DETAIL + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
