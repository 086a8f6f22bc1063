//! The smoke spec: its JSON form (strict: an unknown key is an error naming the check and
//! the key), its checks compiled once (status sets, regexes, header names), the `{{name}}`
//! templates in it, and the run order that captures impose.

use mobius_core::fsafe::quoted;
use mobius_probe::check::StatusSet;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The top level of a spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    base_url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Kept as values here so that each check is decoded on its own and an error can name it.
    checks: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    #[serde(default = "default_method")]
    method: String,
    path: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
    #[serde(default)]
    expect: RawExpect,
    #[serde(default)]
    capture: BTreeMap<String, RawCapture>,
}

fn default_method() -> String {
    "GET".to_owned()
}

/// Makes `"key": null` a present null rather than an absent key.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, RawHeaderExpect>,
    body_contains: Option<OneOrMany>,
    body_matches: Option<String>,
    #[serde(default)]
    json: Vec<RawJsonExpect>,
    max_duration_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderExpect {
    equals: Option<String>,
    contains: Option<String>,
    matches: Option<String>,
    exists: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonExpect {
    pointer: String,
    #[serde(default, deserialize_with = "present")]
    equals: Option<Value>,
    exists: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    json: Option<String>,
    header: Option<String>,
}

/// Where a check sends its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Appended to the base URL.
    Path(String),
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text(String),
    /// Sent as JSON with `content-type: application/json` unless the check sets one.
    Json(Value),
}

#[derive(Debug, Clone)]
pub enum HeaderRule {
    Equals(String),
    Contains(String),
    Matches(Regex),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonRule {
    Equals(Value),
    Exists(bool),
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub status: StatusSet,
    /// Lower-case header name and what must hold for it.
    pub headers: Vec<(String, HeaderRule)>,
    pub body_contains: Vec<String>,
    pub body_matches: Option<Regex>,
    pub json: Vec<(String, JsonRule)>,
    pub max_duration_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureFrom {
    Json(String),
    Header(String),
}

/// One check, compiled.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub method: String,
    pub target: Target,
    /// Spec-level headers merged with the check's own (which win); names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub expect: Expect,
    pub captures: Vec<(String, CaptureFrom)>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub base_url: Option<String>,
    pub checks: Vec<Check>,
}

/// A spec problem, for exit 3: the message names the check and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses and compiles a spec.
pub fn parse(text: &str) -> Result<Spec, SpecError> {
    let raw: RawSpec = serde_json::from_str(text).map_err(|e| SpecError(e.to_string()))?;
    if let Some(b) = &raw.base_url {
        check_http_url(b).map_err(|m| SpecError(format!("base_url: {m}")))?;
    }
    let spec_headers =
        compile_headers(&raw.headers).map_err(|m| SpecError(format!("headers: {m}")))?;
    if raw.checks.is_empty() {
        return Err(SpecError(
            "checks: the list is empty; add at least one check".into(),
        ));
    }
    let mut checks: Vec<Check> = Vec::with_capacity(raw.checks.len());
    let mut names = BTreeSet::new();
    for (i, value) in raw.checks.into_iter().enumerate() {
        // The name, when there is one, is the best handle an operator has on a bad check.
        let label = match value.get("name").and_then(Value::as_str) {
            Some(n) => format!("check '{n}' (#{})", i + 1),
            None => format!("check #{}", i + 1),
        };
        let rc: RawCheck =
            serde_json::from_value(value).map_err(|e| SpecError(format!("{label}: {e}")))?;
        let check =
            compile_check(rc, &spec_headers).map_err(|m| SpecError(format!("{label}: {m}")))?;
        if !names.insert(check.name.clone()) {
            return Err(SpecError(format!(
                "{label}: name: another check is already called '{}'; names must be unique",
                check.name
            )));
        }
        checks.push(check);
    }
    Ok(Spec {
        base_url: raw.base_url,
        checks,
    })
}

fn compile_headers(raw: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (name, value) in raw {
        ureq::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{} is not a valid header name", quoted(name)))?;
        out.push((name.to_ascii_lowercase(), value.clone()));
    }
    Ok(out)
}

fn compile_check(rc: RawCheck, spec_headers: &[(String, String)]) -> Result<Check, String> {
    if rc.name.trim().is_empty() {
        return Err("name: must not be empty".into());
    }
    let method = rc.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(format!(
            "method: {} is not an HTTP method",
            quoted(&rc.method)
        ));
    }
    let target = match (rc.path, rc.url) {
        (Some(p), None) => {
            if !p.starts_with('/') && !p.starts_with("{{") {
                return Err(format!(
                    "path: '{p}' must start with '/' (or use \"url\" for a full URL)"
                ));
            }
            Target::Path(p)
        }
        (None, Some(u)) => {
            if template_names(&u).is_empty() {
                check_http_url(&u).map_err(|m| format!("url: {m}"))?;
            }
            Target::Url(u)
        }
        (Some(_), Some(_)) => return Err("give either \"path\" or \"url\", not both".into()),
        (None, None) => return Err("missing \"path\" (joined to the base URL) or \"url\"".into()),
    };
    let mut headers: Vec<(String, String)> = spec_headers
        .iter()
        .filter(|(n, _)| !rc.headers.keys().any(|k| k.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    headers.extend(compile_headers(&rc.headers).map_err(|m| format!("headers: {m}"))?);
    let body = match rc.body {
        None => None,
        Some(Value::String(s)) => Some(Body::Text(s)),
        Some(v) => Some(Body::Json(v)),
    };
    let expect = compile_expect(rc.expect)?;
    let mut captures = Vec::new();
    for (var, cap) in rc.capture {
        if !is_var_name(&var) {
            return Err(format!(
                "capture: '{var}' is not a variable name (letters, digits, _ . -; not starting with a digit)"
            ));
        }
        let from = match (cap.json, cap.header) {
            (Some(p), None) => {
                check_pointer(&p).map_err(|m| format!("capture.{var}.json: {m}"))?;
                CaptureFrom::Json(p)
            }
            (None, Some(h)) => {
                ureq::http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    format!("capture.{var}.header: {} is not a header name", quoted(&h))
                })?;
                CaptureFrom::Header(h.to_ascii_lowercase())
            }
            _ => {
                return Err(format!(
                    "capture.{var}: give exactly one of \"json\" (a JSON pointer) or \"header\""
                ))
            }
        };
        captures.push((var, from));
    }
    Ok(Check {
        name: rc.name,
        method,
        target,
        headers,
        body,
        expect,
        captures,
    })
}

fn compile_expect(re: RawExpect) -> Result<Expect, String> {
    let status = match re.status {
        None => "200-299"
            .parse()
            .map_err(|e: String| format!("expect.status: {e}"))?,
        Some(v) => status_set(&v).map_err(|m| format!("expect.status: {m}"))?,
    };
    let mut headers = Vec::new();
    for (name, rule) in re.headers {
        ureq::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("expect.headers: {} is not a header name", quoted(&name)))?;
        let lname = name.to_ascii_lowercase();
        let before = headers.len();
        if let Some(e) = rule.exists {
            headers.push((lname.clone(), HeaderRule::Exists(e)));
        }
        if let Some(s) = rule.equals {
            headers.push((lname.clone(), HeaderRule::Equals(s)));
        }
        if let Some(s) = rule.contains {
            headers.push((lname.clone(), HeaderRule::Contains(s)));
        }
        if let Some(s) = rule.matches {
            let re = Regex::new(&s).map_err(|e| {
                format!(
                    "expect.headers.{name}.matches: not a valid regex: {}",
                    one_line(&e.to_string())
                )
            })?;
            headers.push((lname.clone(), HeaderRule::Matches(re)));
        }
        if headers.len() == before {
            return Err(format!(
                "expect.headers.{name}: say what to expect: \"equals\", \"contains\", \"matches\" or \"exists\""
            ));
        }
    }
    let body_contains = match re.body_contains {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    };
    let body_matches = match re.body_matches {
        None => None,
        Some(s) => Some(Regex::new(&s).map_err(|e| {
            format!(
                "expect.body_matches: not a valid regex: {}",
                one_line(&e.to_string())
            )
        })?),
    };
    let mut json = Vec::new();
    for (i, j) in re.json.into_iter().enumerate() {
        let at = format!("expect.json[{i}]");
        check_pointer(&j.pointer).map_err(|m| format!("{at}.pointer: {m}"))?;
        match (j.equals, j.exists) {
            (Some(v), None) => json.push((j.pointer, JsonRule::Equals(v))),
            (None, Some(e)) => json.push((j.pointer, JsonRule::Exists(e))),
            _ => {
                return Err(format!(
                "{at}: give exactly one of \"equals\" (any JSON value) or \"exists\" (true/false)"
            ))
            }
        }
    }
    if let Some(ms) = re.max_duration_ms {
        if !(ms.is_finite() && ms > 0.0) {
            return Err(format!(
                "expect.max_duration_ms: {ms} is not a positive number of milliseconds"
            ));
        }
    }
    Ok(Expect {
        status,
        headers,
        body_contains,
        body_matches,
        json,
        max_duration_ms: re.max_duration_ms,
    })
}

/// `200`, `"200-299"`, `"200,204"`, `[200, 204, "300-399"]`.
fn status_set(v: &Value) -> Result<StatusSet, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if !items.is_empty() => {
            let mut parts = Vec::new();
            for item in items {
                match item {
                    Value::Number(n) => parts.push(n.to_string()),
                    Value::String(s) => parts.push(s.clone()),
                    other => return Err(format!("{other} is not a status code or range")),
                }
            }
            parts.join(",")
        }
        other => {
            return Err(format!(
                "{other} is not a status: use 200, \"200-299\" or [200, 204]"
            ))
        }
    };
    text.parse()
}

fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{} is not a JSON pointer: it starts with '/' (e.g. \"/status\"), or is \"\" for the whole document", quoted(p)))
    }
}

pub fn check_http_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!(
            "'{url}' is not an http:// or https:// URL with a host"
        )),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- templates ----

/// `[A-Za-z_][A-Za-z0-9_.-]*`
pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The `{{name}}` places in `s`: (byte range of the whole `{{ … }}`, name). A `{{` that does
/// not enclose a variable name is literal text (JSON bodies and regexes contain braces).
fn templates(s: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| i + from) {
        let Some(close) = s[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        let name = s[open + 2..close].trim();
        if is_var_name(name) {
            out.push((open..close + 2, name));
            from = close + 2;
        } else {
            from = open + 1;
        }
    }
    out
}

pub fn template_names(s: &str) -> Vec<&str> {
    templates(s).into_iter().map(|(_, n)| n).collect()
}

/// Replaces each `{{name}}` by `lookup(name)`; the first name without a value is the error.
pub fn substitute(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let places = templates(s);
    if places.is_empty() {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (range, name) in places {
        out.push_str(&s[last..range.start]);
        out.push_str(&lookup(name).ok_or_else(|| name.to_owned())?);
        last = range.end;
    }
    out.push_str(&s[last..]);
    Ok(out)
}

fn visit_value(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|x| visit_value(x, f)),
        Value::Object(map) => map.values_mut().for_each(|x| visit_value(x, f)),
        _ => {}
    }
}

impl Check {
    /// Every string where `{{name}}` is replaced: the path or URL, header values, the body
    /// (inside JSON strings too), and the expected texts and JSON values. Not regexes (a value
    /// would need escaping) nor names and pointers.
    fn visit_templates(&mut self, f: &mut dyn FnMut(&mut String)) {
        match &mut self.target {
            Target::Path(s) | Target::Url(s) => f(s),
        }
        self.headers.iter_mut().for_each(|(_, v)| f(v));
        match &mut self.body {
            Some(Body::Text(s)) => f(s),
            Some(Body::Json(v)) => visit_value(v, f),
            None => {}
        }
        for (_, rule) in &mut self.expect.headers {
            match rule {
                HeaderRule::Equals(s) | HeaderRule::Contains(s) => f(s),
                HeaderRule::Matches(_) | HeaderRule::Exists(_) => {}
            }
        }
        for s in &mut self.expect.body_contains {
            f(s);
        }
        for (_, rule) in &mut self.expect.json {
            if let JsonRule::Equals(v) = rule {
                visit_value(v, f);
            }
        }
    }

    /// The variables this check uses.
    pub fn uses(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.clone().visit_templates(&mut |s: &mut String| {
            names.extend(template_names(s).into_iter().map(str::to_owned));
        });
        names
    }

    /// A copy with every `{{name}}` replaced; `Err(name)` for a variable without a value.
    pub fn substituted(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Check, String> {
        let mut c = self.clone();
        let mut missing = None;
        c.visit_templates(&mut |s: &mut String| {
            if missing.is_none() {
                match substitute(s, lookup) {
                    Ok(new) => *s = new,
                    Err(name) => missing = Some(name),
                }
            }
        });
        match missing {
            Some(name) => Err(name),
            None => Ok(c),
        }
    }
}

// ---- run order ----

/// The order constraints: `deps[i]` are the checks whose captures check i uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub deps: Vec<BTreeSet<usize>>,
    /// Variable name → the check capturing it.
    pub captured_by: BTreeMap<String, usize>,
}

/// Works out which check waits for which. `defined(name)` says whether a variable has a value
/// from outside the spec (--var, --secret, MOBIUS_VAR_name).
pub fn plan(checks: &[Check], defined: &dyn Fn(&str) -> bool) -> Result<Plan, SpecError> {
    let mut captured_by: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in checks.iter().enumerate() {
        for (var, _) in &c.captures {
            if let Some(&j) = captured_by.get(var) {
                return Err(SpecError(format!(
                    "check '{}': capture.{var}: check '{}' already captures '{var}'; use another name",
                    c.name, checks[j].name
                )));
            }
            if defined(var) {
                return Err(SpecError(format!(
                    "check '{}': capture.{var}: '{var}' is also given from outside (--var, --secret or MOBIUS_VAR_{var}); rename one",
                    c.name
                )));
            }
            captured_by.insert(var.clone(), i);
        }
    }
    let mut deps = Vec::with_capacity(checks.len());
    for (i, c) in checks.iter().enumerate() {
        let mut d = BTreeSet::new();
        for name in c.uses() {
            match captured_by.get(&name) {
                Some(&j) if j == i => {
                    return Err(SpecError(format!(
                        "check '{}' uses {{{{{name}}}}}, which it captures itself; only later checks can use a capture",
                        c.name
                    )))
                }
                Some(&j) => {
                    d.insert(j);
                }
                None if defined(&name) => {}
                None => {
                    return Err(SpecError(format!(
                        "check '{}' uses the unknown variable {{{{{name}}}}}: pass --var {name}=VALUE (or --secret {name}=VALUE), set MOBIUS_VAR_{name}, or capture it in another check",
                        c.name
                    )))
                }
            }
        }
        deps.push(d);
    }
    // A cycle would leave checks that never become ready: name them.
    let mut done = vec![false; checks.len()];
    loop {
        let mut progress = false;
        for i in 0..checks.len() {
            if !done[i] && deps[i].iter().all(|&j| done[j]) {
                done[i] = true;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    let stuck: Vec<&str> = (0..checks.len())
        .filter(|&i| !done[i])
        .map(|i| checks[i].name.as_str())
        .collect();
    if !stuck.is_empty() {
        return Err(SpecError(format!(
            "checks {} capture variables from each other in a cycle; none of them can run first",
            stuck
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Plan { deps, captured_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(checks: &str) -> Result<Spec, SpecError> {
        parse(&format!(
            r#"{{"base_url": "http://127.0.0.1:1", "checks": {checks}}}"#
        ))
    }

    #[test]
    fn unknown_keys_name_the_check_and_the_key() {
        let e =
            spec(r#"[{"name": "ok", "path": "/"}, {"name": "health", "path": "/h", "expct": {}}]"#)
                .unwrap_err();
        assert!(
            e.0.contains("check 'health' (#2)") && e.0.contains("expct"),
            "{e}"
        );
        let e =
            spec(r#"[{"name": "h", "path": "/", "expect": {"headers": {"x": {"contain": "a"}}}}]"#)
                .unwrap_err();
        assert!(e.0.contains("check 'h'") && e.0.contains("contain"), "{e}");
        let e = parse(r#"{"checks": [], "base": 1}"#).unwrap_err();
        assert!(e.0.contains("base"), "{e}");
    }

    #[test]
    fn bad_regex_status_and_pointer_are_named() {
        let e =
            spec(r#"[{"name": "r", "path": "/", "expect": {"body_matches": "a("}}]"#).unwrap_err();
        assert!(
            e.0.contains("check 'r'") && e.0.contains("body_matches"),
            "{e}"
        );
        let e = spec(r#"[{"name": "s", "path": "/", "expect": {"status": "2xx"}}]"#).unwrap_err();
        assert!(e.0.contains("expect.status"), "{e}");
        let e = spec(r#"[{"name": "p", "path": "/", "expect": {"json": [{"pointer": "status", "exists": true}]}}]"#)
            .unwrap_err();
        assert!(e.0.contains("expect.json[0].pointer"), "{e}");
        let e = spec(r#"[{"name": "p", "path": "/", "url": "http://x/"}]"#).unwrap_err();
        assert!(e.0.contains("not both"), "{e}");
        let e = spec(r#"[{"name": "a", "path": "/"}, {"name": "a", "path": "/"}]"#).unwrap_err();
        assert!(e.0.contains("unique"), "{e}");
    }

    #[test]
    fn status_forms_and_defaults() {
        let s = spec(r#"[{"name": "a", "path": "/", "expect": {"status": [200, "300-302"]}}, {"name": "b", "path": "/"}]"#)
            .unwrap();
        assert!(
            s.checks[0].expect.status.contains(301) && !s.checks[0].expect.status.contains(204)
        );
        assert!(s.checks[1].expect.status.contains(204));
        assert_eq!(s.checks[1].method, "GET");
    }

    #[test]
    fn json_equals_null_is_an_expectation() {
        let s = spec(r#"[{"name": "a", "path": "/", "expect": {"json": [{"pointer": "/x", "equals": null}]}}]"#)
            .unwrap();
        assert_eq!(s.checks[0].expect.json[0].1, JsonRule::Equals(Value::Null));
    }

    #[test]
    fn templates_are_found_and_replaced() {
        assert_eq!(
            template_names("a {{x}} {{ y.z }} {{not a name}} {{"),
            vec!["x", "y.z"]
        );
        let look = |n: &str| (n == "x").then(|| "1".to_owned());
        assert_eq!(substitute("{{x}}-{{ x }}", &look).unwrap(), "1-1");
        assert_eq!(substitute("{{y}}", &look).unwrap_err(), "y");
        assert_eq!(
            substitute(r#"{"a": {"b": 1}}"#, &look).unwrap(),
            r#"{"a": {"b": 1}}"#
        );
    }

    #[test]
    fn plan_orders_by_captures_and_rejects_unknowns_and_cycles() {
        let s = spec(
            r#"[{"name": "use", "path": "/{{tok}}"}, {"name": "login", "path": "/l", "capture": {"tok": {"json": "/t"}}}]"#,
        )
        .unwrap();
        let p = plan(&s.checks, &|_| false).unwrap();
        assert_eq!(p.deps[0], BTreeSet::from([1]));
        assert!(p.deps[1].is_empty());
        let s = spec(r#"[{"name": "a", "path": "/{{who}}"}]"#).unwrap();
        let e = plan(&s.checks, &|_| false).unwrap_err();
        assert!(e.0.contains("{{who}}") && e.0.contains("--var who="), "{e}");
        assert!(plan(&s.checks, &|n| n == "who").is_ok());
        let s = spec(
            r#"[{"name": "a", "path": "/{{y}}", "capture": {"x": {"header": "x"}}}, {"name": "b", "path": "/{{x}}", "capture": {"y": {"header": "y"}}}]"#,
        )
        .unwrap();
        let e = plan(&s.checks, &|_| false).unwrap_err();
        assert!(e.0.contains("cycle") && e.0.contains("'a'"), "{e}");
    }
}
