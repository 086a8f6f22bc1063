#![allow(clippy::unwrap_used, clippy::expect_used)]
//! mobius-probe reading its metrics from a Prometheus query API: a real HTTP server on
//! 127.0.0.1 answering `/api/v1/query` the way Prometheus does, one odd answer per query.

use mobius_core::records::{MetricsRead, Record, Sample};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

/// Answers `/health` with 200 and `/api/v1/query?query=Q` with `answer(Q)` (status, body).
fn fake_prometheus(answer: fn(&str) -> (u16, String)) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    let (status, body) = match target.split_once("?query=") {
                        Some((_, q)) => answer(&decode(q)),
                        None => (200, "{}".to_owned()),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn decode(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn vector(values: &[&str]) -> String {
    let series: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"metric":{{}},"value":[1700000000.5,"{v}"]}}"#))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        series.join(",")
    )
}

fn one_sample(addr: &str, rate_query: &str, extra: &[&str]) -> Sample {
    let url = format!("http://{addr}/health");
    let prom = format!("http://{addr}");
    let out = Command::new(assert_cmd::cargo::cargo_bin("mobius-probe"))
        .args(["--url", &url, "--count", "1", "--prometheus", &prom])
        .args(["--error-rate-query", rate_query])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let Record::Sample(s) = serde_json::from_str(lines.next().unwrap()).unwrap() else {
        panic!("not a sample: {text}");
    };
    assert!(lines.next().is_none());
    s
}

fn answers(q: &str) -> (u16, String) {
    match q {
        "rate_string" => (200, vector(&["0.25"])),
        "p95_seconds" => (200, vector(&["0.125"])),
        "nan" => (200, vector(&["NaN"])),
        "inf" => (200, vector(&["+Inf"])),
        "empty" => (200, vector(&[])),
        "by code" => (200, vector(&["0.1", "0.2"])),
        _ => (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#.to_owned(),
        ),
    }
}

#[test]
fn string_values_are_read_and_seconds_converted() {
    let addr = fake_prometheus(answers);
    let s = one_sample(
        &addr,
        "rate_string",
        &["--p95-query", "p95_seconds", "--p95-unit", "s"],
    );
    assert!(s.ok, "{s:?}");
    assert_eq!((s.error_rate, s.p95_ms), (Some(0.25), Some(125.0)));
    assert_eq!(s.metrics, Some(MetricsRead::Ok));
    assert_eq!(s.detail, "");
}

#[test]
fn odd_answers_are_named_and_never_fail_the_check() {
    let addr = fake_prometheus(answers);
    for (query, named) in [
        ("nan", "error_rate query: the query returns NaN"),
        ("inf", "error_rate query: the query returns +Inf"),
        (
            "empty",
            "error_rate query: the query returns an empty vector",
        ),
        (
            "by code",
            "error_rate query: the query returns 2 series; aggregate it, e.g. sum(...)",
        ),
        (
            "bad(",
            "error_rate query: Prometheus error (HTTP 400): bad_data: parse error",
        ),
    ] {
        let s = one_sample(&addr, query, &[]);
        assert!(s.ok, "{query}: {s:?}");
        assert_eq!(s.error_rate, None, "{query}");
        assert_eq!(s.metrics, Some(MetricsRead::Failed), "{query}");
        assert!(
            s.detail.starts_with(&format!("metrics: {named}")),
            "{query}: {}",
            s.detail
        );
    }
}

#[test]
fn prometheus_down_is_noted_not_a_failed_check() {
    let health = fake_prometheus(answers);
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let out = Command::new(assert_cmd::cargo::cargo_bin("mobius-probe"))
        .args(["--url", &format!("http://{health}/health"), "--count", "1"])
        .args(["--prometheus", &format!("http://{dead_addr}")])
        .args(["--error-rate-query", "rate_string"])
        .output()
        .unwrap();
    let Record::Sample(s) = serde_json::from_slice(out.stdout.trim_ascii()).unwrap() else {
        panic!()
    };
    assert!(s.ok);
    assert_eq!(s.metrics, Some(MetricsRead::Failed));
    assert!(s.detail.contains("Prometheus unreachable"), "{}", s.detail);
}

fn from_app_json(root: &std::path::Path) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("mobius-probe"))
        .args(["--env", "staging", "--count", "1", "--root"])
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn app_json_names_the_server_and_queries() {
    let addr = fake_prometheus(answers);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config/staging");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("app.json"),
        format!(
            r#"{{"health_url":"http://{addr}/health","prometheus_url":"http://{addr}","error_rate_query":"rate_string","p95_query":"p95_seconds","p95_unit":"s"}}"#
        ),
    )
    .unwrap();
    let out = from_app_json(dir.path());
    let Record::Sample(s) = serde_json::from_slice(out.stdout.trim_ascii()).unwrap() else {
        panic!()
    };
    assert_eq!((s.error_rate, s.p95_ms), (Some(0.25), Some(125.0)));
    std::fs::write(
        cfg.join("app.json"),
        format!(r#"{{"health_url":"http://{addr}/health","prometheus_url":"http://{addr}"}}"#),
    )
    .unwrap();
    let out = from_app_json(dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs error_rate_query"));
}
