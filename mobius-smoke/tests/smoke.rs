#![allow(clippy::unwrap_used, clippy::expect_used)]
//! mobius-smoke as a real process against real HTTP servers on 127.0.0.1 (written here with
//! std::net) and against a real mobius-demo with the shipped specs. JUnit reports are checked
//! with a real XML parser (python3's xml.etree).

use mobius_core::records::{ErrorClass, Record, SmokeCheck, SmokeSummary};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ---- a small HTTP server ----

#[derive(Debug)]
struct Req {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn read_req(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let n: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; n];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

/// A keep-alive server answering each request with `handler(request)`.
fn serve(handler: impl Fn(&Req) -> Vec<u8> + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = Arc::clone(&handler);
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                while let Some(req) = read_req(&mut r) {
                    if w.write_all(&h(&req)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn resp(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

// ---- running the tool ----

fn smoke() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("mobius-smoke"));
    c.stdin(Stdio::null());
    c
}

struct Run {
    checks: Vec<SmokeCheck>,
    summary: Option<SmokeSummary>,
    out: Output,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn check(&self, name: &str) -> &SmokeCheck {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name} in {:?}", self.checks))
    }
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    let mut checks = Vec::new();
    let mut summary = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match serde_json::from_str::<Record>(line).unwrap() {
            Record::SmokeCheck(c) => checks.push(c),
            Record::SmokeSummary(s) => summary = Some(s),
            other => panic!("unexpected record {other:?}"),
        }
    }
    Run {
        checks,
        summary,
        out,
    }
}

fn write_spec(dir: &Path, spec: &serde_json::Value) -> PathBuf {
    let p = dir.join("smoke.json");
    std::fs::write(&p, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    p
}

/// Runs `spec` against `base` with a JUnit report; returns the run and the report path.
fn run_spec(dir: &Path, base: &str, spec: serde_json::Value, extra: &[&str]) -> (Run, PathBuf) {
    let spec = write_spec(dir, &spec);
    let junit = dir.join("junit.xml");
    let r = run(smoke()
        .arg("--spec")
        .arg(&spec)
        .args(["--base-url", base, "--junit"])
        .arg(&junit)
        .args(extra));
    (r, junit)
}

/// The report as a real XML parser sees it: suite counts and each case's outcome.
#[derive(Debug, serde::Deserialize)]
struct Junit {
    tests: u64,
    failures: u64,
    errors: u64,
    cases: Vec<(String, String)>,
}

fn parse_junit(path: &Path) -> Junit {
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1
s = suites[0]
for attr in ("name", "tests", "failures", "errors", "time", "timestamp"):
    assert attr in s.attrib, attr
cases = []
for c in s.findall("testcase"):
    float(c.attrib["time"]); c.attrib["classname"]
    kind = "ok"
    for k in ("failure", "error", "skipped"):
        el = c.find(k)
        if el is not None:
            kind = k
            assert el.attrib.get("message"), "message"
    cases.append((c.attrib["name"], kind))
assert int(s.attrib["tests"]) == len(cases)
print(json.dumps({"tests": int(s.attrib["tests"]), "failures": int(s.attrib["failures"]),
                  "errors": int(s.attrib["errors"]), "cases": cases}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "JUnit report does not parse: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn failure_kinds(c: &SmokeCheck) -> Vec<&str> {
    c.failures.iter().map(|f| f.expectation.as_str()).collect()
}

/// A server with one rich JSON route, a slow route, a text route.
fn rich_server() -> String {
    serve(|req| match req.path.as_str() {
        "/rich" => resp(
            "200 OK",
            &[
                ("Content-Type", "application/json; charset=utf-8"),
                ("X-Build", "build-42"),
            ],
            r#"{"status":"ok","count":3,"ratio":1.0,"items":[{"name":"alpha"}],"nothing":null}"#,
        ),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(300));
            resp("200 OK", &[], "slow")
        }
        "/text" => resp("200 OK", &[("Content-Type", "text/plain")], "plain words"),
        _ => resp("404 Not Found", &[], "nope"),
    })
}

#[test]
fn every_expectation_kind_passes() {
    let dir = tempfile::tempdir().unwrap();
    let base = rich_server();
    let spec = serde_json::json!({"checks": [
        {"name": "rich", "path": "/rich", "expect": {
            "status": [200, "204-206"],
            "headers": {
                "content-type": {"contains": "json", "matches": "^application/json"},
                "x-build": {"equals": "build-42", "exists": true},
                "x-missing": {"exists": false}
            },
            "body_contains": ["\"status\":\"ok\"", "alpha"],
            "body_matches": "\"count\":\\s*3",
            "json": [
                {"pointer": "/status", "equals": "ok"},
                {"pointer": "/count", "equals": 3.0},
                {"pointer": "/ratio", "equals": 1},
                {"pointer": "/items/0", "equals": {"name": "alpha"}},
                {"pointer": "/nothing", "equals": null},
                {"pointer": "/items", "exists": true},
                {"pointer": "/absent", "exists": false}
            ],
            "max_duration_ms": 5000
        }},
        {"name": "missing route", "path": "/nowhere", "expect": {"status": "400-499"}},
        {"name": "default status", "url": format!("{base}/text")}
    ]});
    let (r, junit) = run_spec(dir.path(), &base, spec, &[]);
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    assert_eq!(r.checks.len(), 3);
    for c in &r.checks {
        assert!(c.ok && c.failures.is_empty() && c.attempts == 1, "{c:?}");
        assert!(c.duration_ms.unwrap() >= 0.0 && c.error.is_none());
    }
    assert_eq!(r.check("rich").status, Some(200));
    assert_eq!(r.check("missing route").status, Some(404));
    assert_eq!(r.check("rich").url, format!("{base}/rich"));
    let s = r.summary.unwrap();
    assert_eq!((s.total, s.passed, s.failed), (3, 3, 0));
    assert_eq!(s.junit.as_deref(), Some(junit.to_str().unwrap()));
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (3, 0, 0));
    assert!(j.cases.iter().all(|(_, k)| k == "ok"));
}

#[test]
fn every_expectation_kind_fails_with_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let base = rich_server();
    let rich = |name: &str, expect: serde_json::Value| serde_json::json!({"name": name, "path": "/rich", "expect": expect});
    let spec = serde_json::json!({"checks": [
        rich("status", serde_json::json!({"status": 201})),
        rich("header equals", serde_json::json!({"headers": {"x-build": {"equals": "build-43"}}})),
        rich("header contains", serde_json::json!({"headers": {"content-type": {"contains": "xml"}}})),
        rich("header matches", serde_json::json!({"headers": {"x-build": {"matches": "^b-\\d+$"}}})),
        rich("header exists", serde_json::json!({"headers": {"x-trace": {"exists": true}}})),
        rich("header absent", serde_json::json!({"headers": {"x-build": {"exists": false}}})),
        rich("body contains", serde_json::json!({"body_contains": "omega"})),
        rich("body matches", serde_json::json!({"body_matches": "\"count\":\\s*4"})),
        rich("json equals", serde_json::json!({"json": [{"pointer": "/status", "equals": "down"}]})),
        rich("json exists", serde_json::json!({"json": [{"pointer": "/version", "exists": true}]})),
        rich("json absent", serde_json::json!({"json": [{"pointer": "/status", "exists": false}]})),
        {"name": "not json", "path": "/text", "expect": {"json": [{"pointer": "/a", "exists": true}]}},
        {"name": "too slow", "path": "/slow", "expect": {"max_duration_ms": 50}}
    ]});
    let (r, junit) = run_spec(dir.path(), &base, spec, &[]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let want = [
        ("status", "status", "201", "200 (body: {\"status\":\"ok\""),
        (
            "header equals",
            "header x-build",
            "equals \"build-43\"",
            "\"build-42\"",
        ),
        (
            "header contains",
            "header content-type",
            "contains \"xml\"",
            "\"application/json; charset=utf-8\"",
        ),
        (
            "header matches",
            "header x-build",
            "matches /^b-\\d+$/",
            "\"build-42\"",
        ),
        ("header exists", "header x-trace", "present", "absent"),
        ("header absent", "header x-build", "absent", "\"build-42\""),
        ("body contains", "body_contains", "\"omega\"", "body ("),
        (
            "body matches",
            "body_matches",
            "/\"count\":\\s*4/",
            "\"count\":3",
        ),
        ("json equals", "json /status", "\"down\"", "\"ok\""),
        ("json exists", "json /version", "present", "absent"),
        ("json absent", "json /status", "absent", "present: \"ok\""),
        ("not json", "json /a", "present", "body is not JSON"),
        ("too slow", "max_duration_ms", "at most 50 ms", " ms"),
    ];
    assert_eq!(r.checks.len(), want.len());
    for (name, expectation, expected, actual) in want {
        let c = r.check(name);
        assert!(!c.ok, "{c:?}");
        assert_eq!(c.failures.len(), 1, "{c:?}");
        let f = &c.failures[0];
        assert_eq!(f.expectation, expectation, "{c:?}");
        assert_eq!(f.expected, expected, "{c:?}");
        assert!(
            f.actual.contains(actual),
            "{name}: {:?} lacks {actual:?}",
            f.actual
        );
        // Every failure is told to the operator with the check's name.
        assert!(
            r.stderr().contains(&format!("FAIL {name} ")),
            "{}",
            r.stderr()
        );
    }
    let s = r.summary.unwrap();
    assert_eq!((s.total, s.passed, s.failed), (13, 0, 13));
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (13, 13, 0));
    assert!(j.cases.iter().all(|(_, k)| k == "failure"));
}

/// A login route returning a token, and a route that needs it.
fn login_server(login_ok: bool) -> (String, Arc<AtomicUsize>) {
    let private_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&private_hits);
    let url = serve(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/login") => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let ct = req.headers.get("content-type").cloned().unwrap_or_default();
            if login_ok
                && body["user"] == "smoke"
                && body["password"] == "pw"
                && ct == "application/json"
            {
                resp(
                    "200 OK",
                    &[("X-Session", "sess-77")],
                    r#"{"token":"tok-abc123","user":"smoke"}"#,
                )
            } else {
                resp(
                    "500 Internal Server Error",
                    &[],
                    r#"{"error":"login broken"}"#,
                )
            }
        }
        (_, "/private") => {
            hits.fetch_add(1, Ordering::SeqCst);
            let auth = req
                .headers
                .get("authorization")
                .cloned()
                .unwrap_or_default();
            let session = req.headers.get("x-session").cloned().unwrap_or_default();
            if auth == "Bearer tok-abc123" && session == "sess-77" {
                resp("200 OK", &[], r#"{"secret_data":"yes"}"#)
            } else {
                resp("401 Unauthorized", &[], "who are you")
            }
        }
        _ => resp("200 OK", &[], "other"),
    });
    (url, private_hits)
}

fn login_spec() -> serde_json::Value {
    // The check that uses the captures comes first in the file: the order is the captures'.
    serde_json::json!({"checks": [
        {"name": "private", "path": "/private",
         "headers": {"authorization": "Bearer {{token}}", "x-session": "{{session}}"},
         "expect": {"status": 200, "json": [{"pointer": "/secret_data", "equals": "yes"}]}},
        {"name": "independent", "path": "/other", "expect": {"body_contains": "other"}},
        {"name": "login", "method": "POST", "path": "/login",
         "body": {"user": "{{user}}", "password": "pw"},
         "expect": {"status": 200},
         "capture": {"token": {"json": "/token"}, "session": {"header": "x-session"}}}
    ]})
}

#[test]
fn captures_carry_a_token_to_the_next_check() {
    let dir = tempfile::tempdir().unwrap();
    let (base, hits) = login_server(true);
    let (r, _) = run_spec(
        dir.path(),
        &base,
        login_spec(),
        &["--var", "user=smoke", "--jobs", "4"],
    );
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    assert!(r.checks.iter().all(|c| c.ok), "{:?}", r.checks);
    // Records come in spec order even though "private" ran after "login".
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["private", "independent", "login"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The captured token is a secret by its name: never printed.
    assert!(!r.stdout().contains("tok-abc123") && !r.stderr().contains("tok-abc123"));
}

#[test]
fn a_failed_capture_leaves_its_dependents_unrun() {
    let dir = tempfile::tempdir().unwrap();
    let (base, hits) = login_server(false);
    let (r, junit) = run_spec(dir.path(), &base, login_spec(), &["--var", "user=smoke"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let login = r.check("login");
    assert!(!login.ok && login.status == Some(500));
    let private = r.check("private");
    assert!(!private.ok && private.attempts == 0 && private.status.is_none());
    assert_eq!(failure_kinds(private), ["dependency"]);
    assert!(
        private.failures[0].actual.contains("'login' failed"),
        "{private:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "private must not be requested"
    );
    assert!(r.check("independent").ok);
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (3, 1, 1));
}

#[test]
fn retry_succeeds_on_the_third_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let base = serve(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            resp("503 Service Unavailable", &[], "starting")
        } else {
            resp("200 OK", &[], "ready")
        }
    });
    let spec = serde_json::json!({"checks": [{"name": "warm", "path": "/", "expect": {"body_contains": "ready"}}]});
    let (r, _) = run_spec(
        dir.path(),
        &base,
        spec.clone(),
        &["--retry", "5", "--retry-interval", "20ms"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let c = r.check("warm");
    assert!(c.ok && c.attempts == 3 && c.status == Some(200), "{c:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // Too few retries: the last attempt's failure is the one reported.
    count.store(0, Ordering::SeqCst);
    let (r, _) = run_spec(
        dir.path(),
        &base,
        spec,
        &["--retry", "1", "--retry-interval", "20ms"],
    );
    assert_eq!(r.code(), Some(1));
    let c = r.check("warm");
    assert!(!c.ok && c.attempts == 2 && c.status == Some(503), "{c:?}");
    assert_eq!(failure_kinds(c), ["status", "body_contains"]);
}

#[test]
fn a_silent_server_times_out_and_a_closed_port_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let silent = serve(|_| {
        std::thread::sleep(Duration::from_secs(30));
        Vec::new()
    });
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let spec = serde_json::json!({"checks": [
        {"name": "silent", "url": format!("{silent}/health")},
        {"name": "refused", "url": format!("{closed}/health")}
    ]});
    let (r, junit) = run_spec(dir.path(), &silent, spec, &["--timeout", "300ms"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let s = r.check("silent");
    assert_eq!(s.error, Some(ErrorClass::Timeout), "{s:?}");
    assert_eq!(failure_kinds(s), ["response"]);
    assert_eq!(s.failures[0].expected, "an HTTP response within 300ms");
    assert!(
        s.status.is_none() && s.duration_ms.unwrap() >= 250.0,
        "{s:?}"
    );
    let c = r.check("refused");
    assert_eq!(c.error, Some(ErrorClass::Connect), "{c:?}");
    assert!(c.failures[0].actual.contains("refused"), "{c:?}");
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (2, 0, 2));
}

#[test]
fn secrets_never_leak_into_stdout_stderr_or_junit() {
    let dir = tempfile::tempdir().unwrap();
    // Echoes what it was sent, and hands out a fresh token: every secret comes back in a body.
    let base = serve(|req| {
        let echo = format!(
            "{} {} auth={} body={}",
            req.method,
            req.path,
            req.headers
                .get("authorization")
                .cloned()
                .unwrap_or_default(),
            String::from_utf8_lossy(&req.body)
        );
        if req.path == "/token" {
            resp("200 OK", &[], r#"{"api_token":"captured-tok-999"}"#)
        } else {
            resp("403 Forbidden", &[], &echo)
        }
    });
    let spec = serde_json::json!({"checks": [
        {"name": "get token", "path": "/token", "capture": {"session_token": {"json": "/api_token"}}},
        {"name": "use all", "method": "POST", "path": "/login?pw={{password}}",
         "headers": {"authorization": "Bearer {{session_token}} {{api_key_token}}"},
         "body": "password={{password}}&key={{api_key_token}}",
         "expect": {"status": 200, "body_contains": "{{password}}x",
                    "headers": {"x-echo": {"equals": "{{password}}"}}}}
    ]});
    let spec = write_spec(dir.path(), &spec);
    let junit = dir.path().join("junit.xml");
    let r = run(smoke()
        .arg("--spec")
        .arg(&spec)
        .args([
            "--base-url",
            &base,
            "--verbose",
            "--secret",
            "password=hunter2-pw",
        ])
        .arg("--junit")
        .arg(&junit)
        .env("MOBIUS_VAR_api_key_token", "env-key-555"));
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let c = r.check("use all");
    // The request really carried the secrets (the echo came back), and they were masked.
    assert!(
        c.failures
            .iter()
            // `auth=` is itself a secret-named key: the scheme word goes too.
            .any(|f| f.actual.contains("auth=***REDACTED*** *** ***")),
        "{c:?}"
    );
    assert!(c.url.contains("pw=***"), "{c:?}");
    let report = std::fs::read_to_string(&junit).unwrap();
    for secret in ["hunter2-pw", "env-key-555", "captured-tok-999"] {
        for (what, text) in [
            ("stdout", r.stdout()),
            ("stderr", r.stderr()),
            ("junit", report.clone()),
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {what}: {text}"
            );
        }
    }
    assert!(report.contains("***"));
    parse_junit(&junit);
}

#[test]
fn a_malformed_spec_is_exit_3_naming_the_check_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"checks": [{"name": "health", "path": "/h", "expect": {"stauts": 200}}]}"#,
            vec!["check 'health'", "stauts"],
        ),
        (
            r#"{"checks": [{"name": "ok", "path": "/"}, {"name": "second", "path": "/", "hedaers": {}}]}"#,
            vec!["check 'second' (#2)", "hedaers"],
        ),
        (
            r#"{"checks": [{"name": "rx", "path": "/", "expect": {"body_matches": "(unclosed"}}]}"#,
            vec!["check 'rx'", "body_matches", "regex"],
        ),
        (
            r#"{"checks": [{"name": "v", "path": "/{{who}}"}]}"#,
            vec!["check 'v'", "{{who}}", "--var who="],
        ),
        (
            r#"{"checks": [{"name": "x", "path": "/",}]}"#,
            vec!["line 1"],
        ),
        (r#"{"chekcs": []}"#, vec!["chekcs"]),
    ];
    for (text, wants) in cases {
        let spec = dir.path().join("bad.json");
        std::fs::write(&spec, text).unwrap();
        let r = run(smoke()
            .arg("--spec")
            .arg(&spec)
            .args(["--base-url", "http://127.0.0.1:9"]));
        assert_eq!(r.code(), Some(3), "{text}: {}", r.stderr());
        assert!(r.stdout().is_empty());
        for w in wants {
            assert!(
                r.stderr().contains(w),
                "{text}: {:?} lacks {w:?}",
                r.stderr()
            );
        }
        assert!(r.stderr().starts_with("mobius-smoke: "), "{}", r.stderr());
    }
}

#[test]
fn a_missing_spec_says_which_file_and_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(smoke().args(["--env", "staging", "--root"]).arg(dir.path()));
    assert_eq!(r.code(), Some(4), "{}", r.stderr());
    let e = r.stderr();
    assert!(
        e.contains("config/staging/smoke.json") && e.contains("--help") && e.contains("--spec"),
        "{e}"
    );
    // Neither a bad environment name nor a missing --env/--spec gets that far.
    assert_eq!(run(smoke().args(["--env", "../prod"])).code(), Some(2));
    assert_eq!(run(&mut smoke()).code(), Some(2));
    let r = run(smoke().args(["--env", "staging", "--secret", "oops-hunter2"]));
    assert_eq!(r.code(), Some(2));
    assert!(!r.stderr().contains("hunter2"), "{}", r.stderr());
}

#[test]
fn dry_run_lists_the_checks_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let base = serve(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        resp("200 OK", &[], "")
    });
    let (r, junit) = run_spec(
        dir.path(),
        &base,
        login_spec(),
        &["--dry-run", "--var", "user=x"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(r.stdout().is_empty());
    assert!(
        r.stderr().contains("check 'private': GET ") && r.stderr().contains("(after login)"),
        "{}",
        r.stderr()
    );
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert!(!junit.exists());
}

#[test]
fn jobs_bounds_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let base = serve(move |_| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        f.fetch_sub(1, Ordering::SeqCst);
        resp("200 OK", &[], "ok")
    });
    let checks: Vec<_> = (0..6)
        .map(|i| serde_json::json!({"name": format!("c{i}"), "path": format!("/{i}")}))
        .collect();
    let (r, _) = run_spec(
        dir.path(),
        &base,
        serde_json::json!({"checks": checks}),
        &["--jobs", "2"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.checks.len(), 6);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn junit_escapes_names_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(|_| resp("500 Internal Server Error", &[], "<b>&\"'\u{1}</b>]]>"));
    let spec =
        serde_json::json!({"checks": [{"name": "a <tricky> & \"quoted\" name", "path": "/"}]});
    let (r, junit) = run_spec(dir.path(), &base, spec, &[]);
    assert_eq!(r.code(), Some(1));
    let j = parse_junit(&junit);
    assert_eq!(
        j.cases,
        vec![(
            "a <tricky> & \"quoted\" name".to_owned(),
            "failure".to_owned()
        )]
    );
}

#[test]
fn junit_that_cannot_be_written_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(|_| resp("200 OK", &[], ""));
    let spec = write_spec(
        dir.path(),
        &serde_json::json!({"checks": [{"name": "a", "path": "/"}]}),
    );
    let r = run(smoke()
        .arg("--spec")
        .arg(&spec)
        .args(["--base-url", &base, "--junit"])
        .arg(dir.path().join("no/such/dir/junit.xml")));
    assert_eq!(r.code(), Some(4), "{}", r.stderr());
    assert!(r.stderr().contains("JUnit"), "{}", r.stderr());
}

// ---- against the real mobius-demo, with the shipped specs ----

use mobius_tests::Demo;

/// A root with the shipped config of `env` (app.json changed by `edit`), and a demo serving
/// it; app.json is then pointed at the demo's port.
fn demo_root(env: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, Demo) {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("config").join(env);
    std::fs::create_dir_all(&cfg).unwrap();
    for f in ["app.json", "smoke.json"] {
        std::fs::copy(
            mobius_tests::repo_dir().join("config").join(env).join(f),
            cfg.join(f),
        )
        .unwrap();
    }
    let app = cfg.join("app.json");
    std::fs::write(&app, edit(std::fs::read_to_string(&app).unwrap())).unwrap();
    let demo = Demo::start(root.path(), env);
    demo.point_config_at_me(root.path(), env);
    (root, demo)
}

#[test]
fn shipped_specs_pass_against_the_demo_and_are_recorded_in_history() {
    for env in ["staging", "production"] {
        let (root, demo) = demo_root(env, |s| s);
        let junit = root.path().join("junit.xml");
        // No --base-url: the origin of health_url in app.json.
        let r = run(smoke()
            .args(["--env", env, "--root"])
            .arg(root.path())
            .arg("--junit")
            .arg(&junit));
        assert_eq!(r.code(), Some(0), "{env}: {}{}", r.stdout(), r.stderr());
        assert!(r.checks.len() >= 4);
        assert!(
            r.checks
                .iter()
                .all(|c| c.ok && c.url.starts_with(&demo.url)),
            "{:?}",
            r.checks
        );
        let j = parse_junit(&junit);
        assert_eq!((j.failures, j.errors), (0, 0));
        let history =
            std::fs::read_to_string(root.path().join(format!("history/{env}.jsonl"))).unwrap();
        let event: mobius_core::records::Event =
            serde_json::from_str(history.lines().last().unwrap()).unwrap();
        assert_eq!(
            (event.action.as_str(), event.outcome.as_str()),
            ("smoke", "pass")
        );
        assert_eq!(event.details["total"], r.checks.len());
        assert_eq!(event.details["failed"], 0);
        assert_eq!(event.details["junit"], junit.to_str().unwrap());
    }
}

#[test]
fn an_unhealthy_demo_fails_naming_the_check_and_expectation() {
    let (root, _demo) = demo_root("staging", |s| {
        s.replace("\"healthy\": true", "\"healthy\": false")
    });
    let r = run(smoke()
        .args(["--env", "staging", "--root"])
        .arg(root.path()));
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let h = r.check("health");
    assert!(!h.ok && h.status == Some(503));
    assert_eq!(h.failures[0].expectation, "status");
    assert!(h.failures[0].actual.contains("unhealthy"), "{h:?}");
    assert!(
        r.stderr().contains("FAIL health") && r.stderr().contains("status: expected 200, got 503"),
        "{}",
        r.stderr()
    );
    let history = std::fs::read_to_string(root.path().join("history/staging.jsonl")).unwrap();
    assert!(history.contains("\"outcome\":\"fail\""));
}

#[test]
fn a_wrong_version_fails_the_version_pointer() {
    // The production spec run against a demo serving the staging version: the deploy did not land.
    let (root, _demo) = demo_root("production", |s| s.replace("\"1.4.2\"", "\"1.4.1\""));
    let r = run(smoke()
        .args(["--env", "production", "--root"])
        .arg(root.path()));
    assert_eq!(r.code(), Some(1));
    let v = r.check("version");
    assert_eq!(v.failures[0].expectation, "json /version");
    assert_eq!(
        (
            v.failures[0].expected.as_str(),
            v.failures[0].actual.as_str()
        ),
        ("\"1.4.2\"", "\"1.4.1\"")
    );
}
