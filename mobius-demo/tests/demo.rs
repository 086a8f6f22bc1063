#![allow(clippy::unwrap_used, clippy::expect_used)]
//! mobius-demo as a real process on 127.0.0.1, driven over real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEALTHY: &str = r#"{"version":"1.0.0","health_url":"http://127.0.0.1:1/health","demo":{"latency_ms":0,"error_share":0.0,"healthy":true}}"#;

struct Demo {
    child: Child,
    addr: String,
    stderr_path: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(root: &Path, env: &str, json: &str) {
    let dir = root.join("config").join(env);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.json"), json).unwrap();
}

fn start(root: &Path) -> Demo {
    let stderr_path = root.join("demo.stderr");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mobius-demo"))
        .args(["--env", "staging", "--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect("listening line is JSON");
    assert_eq!(v["type"], "listening");
    assert_eq!(v["env"], "staging");
    assert_eq!(v["pid"], child.id());
    let addr = v["addr"].as_str().unwrap().to_string();
    assert_eq!(v["url"], format!("http://{addr}"));
    Demo {
        child,
        addr,
        stderr_path,
    }
}

/// One request on its own connection: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    parse_response(&resp)
}

fn parse_response(resp: &str) -> (u16, String) {
    let status = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

/// Waits (bounded) until the demo's metrics report `version`: the reload took effect.
/// /metrics is used because it does not count towards the error share.
fn wait_for_version(addr: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get(addr, "/metrics");
        if json(&body)["version"] == version {
            return;
        }
        assert!(Instant::now() < deadline, "config {version} never loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_health_api_metrics_and_404() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "staging", HEALTHY);
    let demo = start(dir.path());
    let (st, body) = get(&demo.addr, "/health");
    assert_eq!(st, 200);
    assert_eq!(json(&body)["status"], "ok");
    assert_eq!(json(&body)["version"], "1.0.0");
    let (st, body) = get(&demo.addr, "/api/items");
    assert_eq!(st, 200);
    assert_eq!(json(&body)["items"].as_array().unwrap().len(), 3);
    let (st, body) = get(&demo.addr, "/api/version");
    assert_eq!((st, json(&body)["version"].clone()), (200, "1.0.0".into()));
    assert_eq!(get(&demo.addr, "/nope").0, 404);
    let (st, body) = get(&demo.addr, "/metrics");
    assert_eq!(st, 200);
    let m = json(&body);
    // /health, /api/items, /api/version, /nope; /metrics itself is not counted.
    assert_eq!(m["requests"], 4);
    assert_eq!(m["errors"], 0);
    assert_eq!(m["error_rate"], 0.0);
    assert!(m["p95_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(m["version"], "1.0.0");
    assert!(m["uptime_s"].is_u64());
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "staging", HEALTHY);
    let demo = start(dir.path());
    let mut s = TcpStream::connect(&demo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..3 {
        write!(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
    }
}

#[test]
fn edited_config_takes_effect_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "staging", HEALTHY);
    let demo = start(dir.path());
    assert_eq!(get(&demo.addr, "/health").0, 200);
    write_config(
        dir.path(),
        "staging",
        r#"{"version":"2.0.0-bad","demo":{"healthy":false}}"#,
    );
    wait_for_version(&demo.addr, "2.0.0-bad");
    let (st, body) = get(&demo.addr, "/health");
    assert_eq!(st, 503);
    assert_eq!(json(&body)["status"], "unhealthy");
    // A broken file keeps the last good config in force, and says so on stderr.
    write_config(dir.path(), "staging", "{\"version\": ");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(&demo.addr, "/health").0, 503);
    let err = std::fs::read_to_string(&demo.stderr_path).unwrap();
    assert!(err.contains("does not parse"), "{err}");
    assert!(err.contains("keeping the last good config"), "{err}");
    write_config(dir.path(), "staging", HEALTHY);
    wait_for_version(&demo.addr, "1.0.0");
    assert_eq!(get(&demo.addr, "/health").0, 200);
}

#[test]
fn config_dir_swapped_by_rename_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_config(
        root,
        "staging",
        r#"{"version":"3.0.0-bad","demo":{"healthy":false}}"#,
    );
    let demo = start(root);
    assert_eq!(get(&demo.addr, "/health").0, 503);
    // What a rollback does: build the old config beside the live one, then swap by rename.
    write_config(root, "staging.restore", HEALTHY);
    let config = root.join("config");
    std::fs::rename(config.join("staging"), config.join("staging.old")).unwrap();
    std::fs::rename(config.join("staging.restore"), config.join("staging")).unwrap();
    wait_for_version(&demo.addr, "1.0.0");
    assert_eq!(get(&demo.addr, "/health").0, 200);
    // A directory missing for a moment keeps the last good config.
    std::fs::rename(config.join("staging"), config.join("staging.gone")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&demo.addr, "/health").0, 200);
    std::fs::rename(config.join("staging.old"), config.join("staging")).unwrap();
    wait_for_version(&demo.addr, "3.0.0-bad");
    assert_eq!(get(&demo.addr, "/health").0, 503);
}

#[test]
fn error_share_fails_exactly_every_kth_request_and_shows_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "staging", HEALTHY);
    let demo = start(dir.path());
    write_config(
        dir.path(),
        "staging",
        r#"{"version":"4.0.0","demo":{"error_share":0.25}}"#,
    );
    wait_for_version(&demo.addr, "4.0.0");
    let before = json(&get(&demo.addr, "/metrics").1);
    let statuses: Vec<u16> = (0..20)
        .map(|i| {
            get(
                &demo.addr,
                if i % 2 == 0 { "/api/items" } else { "/health" },
            )
            .0
        })
        .collect();
    let failed: Vec<usize> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == 500)
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(failed, vec![4, 8, 12, 16, 20], "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 500));
    let after = json(&get(&demo.addr, "/metrics").1);
    let d = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!((d("requests"), d("errors")), (20, 5));
    assert_eq!(
        after["window_errors"].as_u64().unwrap(),
        before["window_errors"].as_u64().unwrap() + 5
    );
    let rate = after["error_rate"].as_f64().unwrap();
    let expect =
        after["window_errors"].as_f64().unwrap() / after["window_requests"].as_f64().unwrap();
    assert!((rate - expect).abs() < 1e-12, "{rate} vs {expect}");
}

#[test]
fn added_latency_shows_in_p95() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "staging",
        r#"{"version":"5","demo":{"latency_ms":50}}"#,
    );
    let demo = start(dir.path());
    for _ in 0..3 {
        assert_eq!(get(&demo.addr, "/health").0, 200);
    }
    let m = json(&get(&demo.addr, "/metrics").1);
    assert!(m["p95_ms"].as_f64().unwrap() >= 50.0, "{m}");
}

/// `name{labels} value` lines of a Prometheus text body, by series (name with labels).
fn prom_samples(body: &str) -> std::collections::HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse::<f64>().unwrap())
        })
        .collect()
}

#[test]
fn prometheus_text_counts_served_requests_by_code_and_latency_not_metrics_paths() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "staging",
        r#"{"version":"6","demo":{"latency_ms":30,"error_share":0.5}}"#,
    );
    let demo = start(dir.path());
    for _ in 0..4 {
        get(&demo.addr, "/health");
    }
    get(&demo.addr, "/nope");
    get(&demo.addr, "/metrics");
    get(&demo.addr, "/metrics/prometheus");
    let mut s = TcpStream::connect(&demo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /metrics/prometheus HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.contains("Content-Type: text/plain; version=0.0.4"),
        "{resp}"
    );
    let (st, body) = parse_response(&resp);
    assert_eq!(st, 200);
    assert!(body.contains("# TYPE mobius_demo_http_requests_total counter"));
    assert!(body.contains("# TYPE mobius_demo_http_request_duration_seconds histogram"));
    let m = prom_samples(&body);
    assert_eq!(m[r#"mobius_demo_http_requests_total{code="200"}"#], 2.0);
    assert_eq!(m[r#"mobius_demo_http_requests_total{code="500"}"#], 2.0);
    assert_eq!(m[r#"mobius_demo_http_requests_total{code="404"}"#], 1.0);
    let count = "mobius_demo_http_request_duration_seconds_count";
    assert_eq!(m[count], 5.0, "neither metrics path counted: {body}");
    let bucket =
        |le: &str| m[&format!(r#"mobius_demo_http_request_duration_seconds_bucket{{le="{le}"}}"#)];
    assert_eq!(bucket("+Inf"), 5.0);
    // The four /health requests waited 30 ms; /nope did not.
    assert_eq!(bucket("0.025"), 1.0, "{body}");
    assert_eq!(bucket("0.05"), 5.0, "{body}");
    assert!(m["mobius_demo_http_request_duration_seconds_sum"] >= 0.12);
}

#[cfg(unix)]
#[test]
fn sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "staging", HEALTHY);
    let mut demo = start(dir.path());
    assert_eq!(get(&demo.addr, "/health").0, 200);
    // SAFETY: signalling the child we started.
    unsafe {
        libc::kill(demo.child.id() as i32, libc::SIGTERM);
    }
    let status = demo.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let err = std::fs::read_to_string(&demo.stderr_path).unwrap();
    assert!(err.contains("stopping on SIGTERM"), "{err}");
}

#[test]
fn missing_or_broken_config_at_start_is_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("mobius-demo");
    let dir = tempfile::tempdir().unwrap();
    let run = |root: &Path| {
        Command::new(&bin)
            .args(["--env", "staging", "--listen", "127.0.0.1:0", "--root"])
            .arg(root)
            .output()
            .unwrap()
    };
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("app.json"), "{err}");
    assert!(out.stdout.is_empty());
    write_config(dir.path(), "staging", r#"{"demo":{"error_share":2}}"#);
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error_share"));
    let out = Command::new(&bin)
        .args(["--env", "../prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_ends_with_exit_codes_and_documents_the_config() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("mobius-demo"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("demo.error_share"));
    assert!(help.contains("a run cut short"), "{help}");
    assert!(help.trim_end().ends_with("docs/CONTRACT.md"), "{help}");
}
