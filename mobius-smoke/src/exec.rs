//! Sending one check's request and judging the response against its expectations.

use crate::spec::{check_http_url, Body, CaptureFrom, Check, HeaderRule, JsonRule, Target};
use mobius_core::records::{ErrorClass, SmokeFailure};
use mobius_probe::check::{classify, round_ms};
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};
use ureq::unversioned::transport::DefaultConnector;
use ureq::Agent;

/// Response bodies are read up to this many bytes; a longer one fails its check.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;
/// How much of a body a failure quotes.
const QUOTE: usize = 200;

/// What every request of a run shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub agent: Agent,
    pub timeout: Duration,
    pub base_url: Option<String>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub url: String,
    pub status: Option<u16>,
    pub duration_ms: Option<f64>,
    pub error: Option<ErrorClass>,
    pub failures: Vec<SmokeFailure>,
    /// Captured (variable, value) pairs; only complete when there are no failures.
    pub captures: Vec<(String, String)>,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An agent for a run: no redirects followed (a 302 is asserted, not chased), statuses are
/// results rather than errors, one pooled connection per worker.
pub fn agent(timeout: Duration, jobs: usize) -> Agent {
    let config = Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .max_idle_connections_per_host(jobs.max(1))
        .user_agent(format!("mobius-smoke/{}", mobius_core::VERSION))
        .build();
    Agent::with_parts(
        config,
        DefaultConnector::new(),
        mobius_probe::LiteralFirst::default(),
    )
}

/// The URL a check requests (templates already replaced).
pub fn url_of(check: &Check, base: Option<&str>) -> Result<String, String> {
    match &check.target {
        Target::Url(u) => Ok(u.clone()),
        Target::Path(p) => match base {
            Some(b) => Ok(format!("{}{p}", b.trim_end_matches('/'))),
            None => Err(
                "no base URL: set \"base_url\" in the spec, pass --base-url, or give --env with a health_url in app.json"
                    .into(),
            ),
        },
    }
}

fn fail(
    expectation: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> SmokeFailure {
    SmokeFailure {
        expectation: expectation.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// Sends the check's request once and judges the response.
pub fn attempt(check: &Check, ctx: &Context) -> Attempt {
    let mut out = Attempt {
        url: String::new(),
        status: None,
        duration_ms: None,
        error: None,
        failures: Vec::new(),
        captures: Vec::new(),
    };
    let url = match url_of(check, ctx.base_url.as_deref()) {
        Ok(u) => u,
        Err(m) => {
            out.failures.push(fail("url", "a URL to request", m));
            return out;
        }
    };
    out.url = url.clone();
    if let Err(m) = check_http_url(&url) {
        out.failures
            .push(fail("url", "an http:// or https:// URL", m));
        return out;
    }
    let mut req = ureq::http::Request::builder()
        .method(check.method.as_str())
        .uri(url.as_str());
    let mut has_content_type = false;
    for (name, value) in &check.headers {
        has_content_type |= name == "content-type";
        req = req.header(name.as_str(), value.as_str());
    }
    let body: Option<Vec<u8>> = match &check.body {
        None => None,
        Some(Body::Text(s)) => Some(s.clone().into_bytes()),
        Some(Body::Json(v)) => {
            if !has_content_type {
                req = req.header("content-type", "application/json");
            }
            Some(v.to_string().into_bytes())
        }
    };
    let t0 = Instant::now();
    let sent = match body {
        None => req.body(()).map(|r| ctx.agent.run(r)),
        Some(b) => req.body(b).map(|r| ctx.agent.run(r)),
    };
    let mut resp = match sent {
        Err(e) => {
            // Header values are only known after substitution, so a bad one shows up here.
            out.failures
                .push(fail("request", "a valid HTTP request", e.to_string()));
            return out;
        }
        Ok(Err(e)) => {
            let (class, detail) = classify(&e, ctx.timeout);
            out.error = Some(class);
            if matches!(class, ErrorClass::Timeout) {
                out.duration_ms = Some(round_ms(t0.elapsed()));
            }
            out.failures.push(fail(
                "response",
                format!(
                    "an HTTP response within {}",
                    humantime::format_duration(ctx.timeout)
                ),
                detail,
            ));
            return out;
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    out.status = Some(status);
    let mut buf = Vec::new();
    let read = resp
        .body_mut()
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut buf);
    let elapsed = t0.elapsed();
    out.duration_ms = Some(round_ms(elapsed));
    if let Err(e) = read {
        let (class, detail) = classify(&ureq::Error::from(e), ctx.timeout);
        out.error = Some(class);
        out.failures
            .push(fail("response", "a complete response body", detail));
        return out;
    }
    if buf.len() as u64 > MAX_BODY {
        out.failures.push(fail(
            "response",
            format!("a body of at most {MAX_BODY} bytes"),
            "a longer body (read stopped there)",
        ));
        return out;
    }
    judge(check, status, resp.headers(), &buf, elapsed, &mut out);
    out
}

/// The start of a body, on one line, for a failure's "actual".
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE * 4)]);
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.trim();
    let mut cut: String = one.chars().take(QUOTE).collect();
    if cut.len() < one.len() {
        cut.push('…');
    }
    cut
}

fn header_values(headers: &ureq::http::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

fn show_values(values: &[String]) -> String {
    if values.is_empty() {
        "absent".into()
    } else {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Equality of JSON values where numbers compare by value (1 equals 1.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > QUOTE {
        let mut cut: String = s.chars().take(QUOTE).collect();
        cut.push('…');
        cut
    } else {
        s
    }
}

fn judge(
    check: &Check,
    status: u16,
    headers: &ureq::http::HeaderMap,
    body: &[u8],
    elapsed: Duration,
    out: &mut Attempt,
) {
    let e = &check.expect;
    if !e.status.contains(status) {
        out.failures.push(fail(
            "status",
            e.status.to_string(),
            format!("{status} (body: {})", quote(body)),
        ));
    }
    for (name, rule) in &e.headers {
        let values = header_values(headers, name);
        let (ok, expected) = match rule {
            HeaderRule::Exists(want) => (
                values.is_empty() != *want,
                if *want { "present" } else { "absent" }.to_owned(),
            ),
            HeaderRule::Equals(s) => (values.iter().any(|v| v == s), format!("equals {s:?}")),
            HeaderRule::Contains(s) => (
                values.iter().any(|v| v.contains(s.as_str())),
                format!("contains {s:?}"),
            ),
            HeaderRule::Matches(re) => (
                values.iter().any(|v| re.is_match(v)),
                format!("matches /{}/", re.as_str()),
            ),
        };
        if !ok {
            out.failures.push(fail(
                format!("header {name}"),
                expected,
                show_values(&values),
            ));
        }
    }
    let text = String::from_utf8_lossy(body);
    for want in &e.body_contains {
        if !text.contains(want.as_str()) {
            out.failures.push(fail(
                "body_contains",
                format!("{want:?}"),
                format!("body ({} bytes): {}", body.len(), quote(body)),
            ));
        }
    }
    if let Some(re) = &e.body_matches {
        if !re.is_match(&text) {
            out.failures.push(fail(
                "body_matches",
                format!("/{}/", re.as_str()),
                format!("body ({} bytes): {}", body.len(), quote(body)),
            ));
        }
    }
    let needs_json = !e.json.is_empty()
        || check
            .captures
            .iter()
            .any(|(_, c)| matches!(c, CaptureFrom::Json(_)));
    let doc: Result<Value, String> = if needs_json {
        serde_json::from_slice(body)
            .map_err(|err| format!("body is not JSON ({err}): {}", quote(body)))
    } else {
        Ok(Value::Null)
    };
    for (pointer, rule) in &e.json {
        let what = format!("json {pointer}");
        let found = match &doc {
            Ok(d) => d.pointer(pointer),
            Err(m) => {
                out.failures.push(fail(what, rule_text(rule), m.clone()));
                continue;
            }
        };
        match rule {
            JsonRule::Exists(want) => {
                if found.is_some() != *want {
                    out.failures.push(fail(
                        what,
                        rule_text(rule),
                        found.map_or("absent".to_owned(), |v| format!("present: {}", shown(v))),
                    ));
                }
            }
            JsonRule::Equals(want) => {
                if !found.is_some_and(|v| json_eq(v, want)) {
                    out.failures.push(fail(
                        what,
                        rule_text(rule),
                        found.map_or("absent".to_owned(), shown),
                    ));
                }
            }
        }
    }
    if let Some(max) = e.max_duration_ms {
        let ms = round_ms(elapsed);
        if ms > max {
            out.failures.push(fail(
                "max_duration_ms",
                format!("at most {max} ms"),
                format!("{ms} ms"),
            ));
        }
    }
    for (var, from) in &check.captures {
        let value = match from {
            CaptureFrom::Header(h) => header_values(headers, h)
                .into_iter()
                .next()
                .ok_or_else(|| format!("no {h} header")),
            CaptureFrom::Json(p) => match &doc {
                Err(m) => Err(m.clone()),
                Ok(d) => match d.pointer(p) {
                    None => Err(format!("nothing at {p}")),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(v) => Ok(v.to_string()),
                },
            },
        };
        match value {
            Ok(v) => out.captures.push((var.clone(), v)),
            Err(m) => out.failures.push(fail(
                format!("capture {var}"),
                match from {
                    CaptureFrom::Header(h) => format!("a {h} header"),
                    CaptureFrom::Json(p) => format!("a JSON value at {p}"),
                },
                m,
            )),
        }
    }
}

fn rule_text(rule: &JsonRule) -> String {
    match rule {
        JsonRule::Exists(true) => "present".into(),
        JsonRule::Exists(false) => "absent".into(),
        JsonRule::Equals(v) => shown(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&serde_json::json!(1), &serde_json::json!(1.0)));
        assert!(json_eq(
            &serde_json::json!({"a": [1, "x"]}),
            &serde_json::json!({"a": [1.0, "x"]})
        ));
        assert!(!json_eq(&serde_json::json!("1"), &serde_json::json!(1)));
    }

    #[test]
    fn quotes_are_one_line_and_short() {
        let q = quote(format!("a\nb{}", "x".repeat(500)).as_bytes());
        assert!(q.starts_with("a b") && q.ends_with('…') && !q.contains('\n'));
        assert_eq!(q.chars().count(), QUOTE + 1);
    }
}
