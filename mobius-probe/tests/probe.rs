#![allow(clippy::unwrap_used, clippy::expect_used)]
//! mobius-probe as a real process against real servers on 127.0.0.1 that misbehave in every
//! way the issue lists, and against a real mobius-demo.
// Raw socket options and signals through libc, bash and openssl: Unix behaviour.
#![cfg(unix)]

mod common;

use common::*;
use mobius_core::records::{ErrorClass, Sample};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[test]
fn healthy_server_gives_ok_samples_with_seq_and_latency() {
    let addr = serve_http(|| http_response("200 OK", "fine"));
    let url = format!("http://{addr}/health");
    let (s, _) = run(&["--url", &url, "--count", "3", "--interval", "50ms"]);
    assert_eq!(s.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    for x in &s {
        assert!(x.ok && x.error.is_none() && x.status == Some(200), "{x:?}");
        assert_eq!(x.target, url);
        assert!(x.latency_ms.unwrap() >= 0.0);
        assert!(mobius_core::time::parse_rfc3339(&x.ts).is_some());
        assert!(x.error_rate.is_none() && x.p95_ms.is_none());
    }
}

#[test]
fn refused_connection_is_connect() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = one(&format!("http://127.0.0.1:{port}/health"), &[]);
    assert_failed(&s, ErrorClass::Connect);
    assert_eq!((s.status, s.latency_ms), (None, None));
}

#[test]
fn unresolvable_name_is_dns() {
    // A 64-character label is refused by the resolver itself, so no query leaves the machine;
    // and `.invalid` never resolves anyway (RFC 6761).
    let host = format!("{}.invalid", "a".repeat(64));
    let s = one(&format!("http://{host}/health"), &[]);
    assert_failed(&s, ErrorClass::Dns);
    assert_eq!(s.latency_ms, None);
}

#[test]
fn server_that_never_answers_is_timeout_after_the_timeout() {
    let addr = serve(|s| {
        let mut r = BufReader::new(s);
        read_head(&mut r);
        std::thread::sleep(Duration::from_secs(30));
    });
    let s = one(&format!("http://{addr}/"), &["--timeout", "500ms"]);
    assert_failed(&s, ErrorClass::Timeout);
    let ms = s.latency_ms.unwrap();
    assert!(
        (500.0..2500.0).contains(&ms),
        "latency {ms} should be about the 500 ms timeout"
    );
}

#[test]
fn dripping_server_is_timeout_within_the_timeout() {
    // Headers arrive at once, then the body one byte a second: the timeout covers the body.
    let addr = serve(|mut s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_head(&mut r);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        for _ in 0..100 {
            if s.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let s = one(&format!("http://{addr}/"), &["--timeout", "1500ms"]);
    assert_failed(&s, ErrorClass::Timeout);
    assert_eq!(s.status, Some(200));
    let ms = s.latency_ms.unwrap();
    assert!((1500.0..3500.0).contains(&ms), "latency {ms}");
    // Dripping the status line itself is a timeout too.
    let addr = serve(|mut s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_head(&mut r);
        for b in b"HTTP/1.1 200 OK\r\n".iter() {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let s = one(&format!("http://{addr}/"), &["--timeout", "1s"]);
    assert_failed(&s, ErrorClass::Timeout);
    assert_eq!(s.status, None);
}

#[test]
fn reset_connection_is_io() {
    let addr = serve(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_head(&mut r);
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on a socket we own with a correctly sized linger struct; with
        // a zero linger, close sends RST instead of FIN.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(r);
        drop(s);
    });
    let s = one(&format!("http://{addr}/"), &[]);
    assert_failed(&s, ErrorClass::Io);
    assert!(s.latency_ms.is_some());
}

#[test]
fn garbage_instead_of_http_is_io() {
    let addr = serve(|mut s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_head(&mut r);
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02 this is not http\r\n\r\n");
    });
    let s = one(&format!("http://{addr}/"), &[]);
    assert_failed(&s, ErrorClass::Io);
    assert_eq!(s.status, None);
}

#[test]
fn ten_megabyte_body_is_capped_and_a_body_failure() {
    let addr = serve(|mut s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_head(&mut r);
        let size = 10 * 1024 * 1024;
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let s = one(&format!("http://{addr}/"), &[]);
    assert_failed(&s, ErrorClass::Body);
    assert_eq!(s.status, Some(200));
    assert!(s.detail.contains("1048576"), "{}", s.detail);
    // A cap above the size reads it all.
    let s = one(&format!("http://{addr}/"), &["--max-body", "20000000"]);
    assert!(s.ok, "{s:?}");
}

#[test]
fn server_error_is_status_and_expect_status_accepts_lists() {
    let addr = serve_http(|| http_response("500 Internal Server Error", "boom"));
    let url = format!("http://{addr}/");
    let s = one(&url, &[]);
    assert_failed(&s, ErrorClass::Status);
    assert_eq!(s.status, Some(500));
    assert!(
        s.detail.contains("500") && s.detail.contains("boom"),
        "{}",
        s.detail
    );
    let s = one(&url, &["--expect-status", "200-299,500"]);
    assert!(s.ok, "{s:?}");
}

#[test]
fn expect_body_mismatch_is_body() {
    let addr = serve_http(|| http_response("200 OK", "{\"status\":\"degraded\"}"));
    let url = format!("http://{addr}/");
    let s = one(&url, &["--expect-body", "\"status\":\"ok\""]);
    assert_failed(&s, ErrorClass::Body);
    assert_eq!(s.status, Some(200));
    let s = one(&url, &["--expect-body", "degraded"]);
    assert!(s.ok, "{s:?}");
}

#[test]
fn metrics_are_read_and_their_failure_does_not_fail_the_check() {
    let health = serve_http(|| http_response("200 OK", "ok"));
    let metrics =
        serve_http(|| http_response("200 OK", r#"{"error_rate":0.125,"lat":{"p95":42.5}}"#));
    let s = one(
        &format!("http://{health}/"),
        &[
            "--metrics-url",
            &format!("http://{metrics}/m"),
            "--metrics-p95-field",
            "/lat/p95",
        ],
    );
    assert!(s.ok, "{s:?}");
    assert_eq!((s.error_rate, s.p95_ms), (Some(0.125), Some(42.5)));
    let bad = serve_http(|| http_response("200 OK", "not json"));
    let s = one(
        &format!("http://{health}/"),
        &["--metrics-url", &format!("http://{bad}/m")],
    );
    assert!(s.ok, "{s:?}");
    assert_eq!((s.error_rate, s.p95_ms), (None, None));
    assert!(s.detail.starts_with("metrics: "), "{}", s.detail);
}

#[test]
fn several_targets_are_probed_concurrently_with_one_seq() {
    let fast = serve_http(|| http_response("200 OK", "ok"));
    let silent = serve(|s| {
        let mut r = BufReader::new(s);
        read_head(&mut r);
        std::thread::sleep(Duration::from_secs(30));
    });
    let fast_url = format!("http://{fast}/");
    let (s, _) = run(&[
        "--url",
        &fast_url,
        "--url",
        &format!("http://{silent}/"),
        "--count",
        "2",
        "--interval",
        "1s",
        "--timeout",
        "800ms",
    ]);
    assert_eq!(s.len(), 4);
    assert_eq!(
        s.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let fast_samples: Vec<&Sample> = s.iter().filter(|x| x.target == fast_url).collect();
    assert_eq!(fast_samples.len(), 2);
    assert!(fast_samples.iter().all(|x| x.ok));
    // The fast target's result of each tick is written before the stuck one's timeout.
    assert_eq!(s[0].target, fast_url);
    assert_eq!(s[1].error, Some(ErrorClass::Timeout));
    assert_eq!(s[2].target, fast_url);
}

#[test]
fn a_check_that_overruns_the_interval_skips_the_ticks_it_covered() {
    let addr = serve(|mut s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        while read_head(&mut r) {
            std::thread::sleep(Duration::from_millis(1500));
            if s.write_all(&http_response("200 OK", "slow")).is_err() {
                return;
            }
        }
    });
    let (s, out) = run(&[
        "--url",
        &format!("http://{addr}/"),
        "--count",
        "2",
        "--interval",
        "100ms",
    ]);
    // Two samples, not a burst of the ~14 ticks the first check covered.
    assert_eq!(s.len(), 2);
    assert!(
        s.iter().all(|x| x.ok && x.latency_ms.unwrap() >= 1500.0),
        "{s:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipping"), "{err}");
}

#[test]
fn targets_come_from_app_json() {
    let addr = serve_http(|| http_response("200 OK", r#"{"error_rate":0.0,"p95_ms":3}"#));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config/staging");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("app.json"),
        format!(r#"{{"health_url":"http://{addr}/health","metrics_url":"http://{addr}/metrics"}}"#),
    )
    .unwrap();
    let root = dir.path().to_str().unwrap();
    let (s, _) = run(&["--env", "staging", "--root", root, "--count", "1"]);
    assert_eq!(s[0].target, format!("http://{addr}/health"));
    assert_eq!((s[0].error_rate, s[0].p95_ms), (Some(0.0), Some(3.0)));
    std::fs::write(cfg.join("app.json"), "{\"health_url\": 5}").unwrap();
    let out = probe()
        .args(["--env", "staging", "--root", root, "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app.json"));
    let out = probe()
        .args(["--env", "production", "--root", root, "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        vec!["--url", "http://127.0.0.1:1/", "--expect-status", "abc"],
        vec!["--url", "not a url"],
        vec!["--url", "http://127.0.0.1:1/", "--interval", "0s"],
        vec!["--url", "http://127.0.0.1:1/", "--count", "0"],
        vec!["--env", "../prod"],
        vec![],
    ] {
        let out = probe().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_ends_with_exit_codes() {
    let out = probe().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--metrics-error-rate-field"));
    assert!(help.contains("a run cut short"), "{help}");
    assert!(help.trim_end().ends_with("docs/CONTRACT.md"), "{help}");
}

// ---- TLS, with certificates made by the real openssl CLI ----

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mobius test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_s_server(dir: &Path) -> (Killed, u16) {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "s_server", "-quiet", "-www", "-cert", "leaf.pem", "-key", "leaf.key",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Killed(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            if child.0.try_wait().unwrap().is_some() {
                break; // port taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("openssl s_server did not start");
}

#[test]
fn bad_certificate_is_tls_and_a_trusted_one_passes() {
    if !openssl_available() {
        mobius_tests::component_missing("the openssl CLI (the TLS test needs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let (_server, port) = start_s_server(dir.path());
    let url = format!("https://127.0.0.1:{port}/");
    // Not signed by any CA the probe trusts: verification fails, and is never skipped.
    let s = one(&url, &["--timeout", "5s"]);
    assert_failed(&s, ErrorClass::Tls);
    assert_eq!(s.status, None);
    // Trusting the test CA proves the rest of the https path works.
    let ca = dir.path().join("ca.pem");
    let s = one(&url, &["--cacert", ca.to_str().unwrap()]);
    assert!(s.ok, "{s:?}");
    assert_eq!(s.status, Some(200));
    // The right CA but the wrong name: still a TLS failure.
    let s = one(
        &format!("https://localhost:{port}/"),
        &["--cacert", ca.to_str().unwrap()],
    );
    assert_failed(&s, ErrorClass::Tls);
}

#[test]
fn https_to_a_plain_http_port_is_tls() {
    let addr = serve_http(|| http_response("400 Bad Request", "plain HTTP here"));
    let s = one(&format!("https://{addr}/health"), &[]);
    assert_failed(&s, ErrorClass::Tls);
    assert_eq!(s.status, None);
    assert!(s.detail.starts_with("TLS: "), "{}", s.detail);
}

// ---- against the real mobius-demo ----

use mobius_tests::Demo;

fn write_app(root: &Path, healthy: bool) {
    let dir = root.join("config/staging");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(".app.json.tmp");
    std::fs::write(
        &tmp,
        format!(r#"{{"version":"1.0.0","demo":{{"healthy":{healthy}}}}}"#),
    )
    .unwrap();
    std::fs::rename(tmp, dir.join("app.json")).unwrap();
}

fn start_demo(root: &Path) -> Demo {
    write_app(root, true);
    Demo::start(root, "staging")
}

#[test]
fn demo_healthy_then_unhealthy_after_a_config_change() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path());
    let health = format!("{}/health", demo.url);
    let metrics = format!("{}/metrics", demo.url);
    let args = ["--url", &health, "--metrics-url", &metrics, "--count", "3"];
    let (s, _) = run(&[&args[..], &["--interval", "50ms"]].concat());
    assert_eq!(s.len(), 3);
    for x in &s {
        assert!(x.ok && x.status == Some(200), "{x:?}");
        assert_eq!(x.error_rate, Some(0.0));
        assert!(x.p95_ms.is_some(), "{x:?}");
    }
    write_app(dir.path(), false);
    // The demo re-reads within ~100 ms; 500 ms later every check must see 503.
    std::thread::sleep(Duration::from_millis(500));
    let (s, _) = run(&[&args[..], &["--interval", "50ms"]].concat());
    for x in &s {
        assert_failed(x, ErrorClass::Status);
        assert_eq!(x.status, Some(503));
        assert!(x.detail.contains("unhealthy"), "{}", x.detail);
        // The demo counts its 503s as errors in its own metrics.
        assert!(x.error_rate.unwrap() > 0.0, "{x:?}");
    }
}

#[test]
fn closed_pipe_ends_quietly_with_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path());
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" --url "$1" --interval 10ms --count 100000 | head -3; exit "${PIPESTATUS[0]}""#)
        .arg(assert_cmd::cargo::cargo_bin("mobius-probe"))
        .arg(format!("{}/health", demo.url))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(samples(&out.stdout).len(), 3);
}

#[test]
fn sigterm_writes_complete_lines_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path());
    let mut child = probe()
        .args([
            "--url",
            &format!("{}/health", demo.url),
            "--interval",
            "20ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // SAFETY: signalling the child we started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut all = first.into_bytes();
    all.extend_from_slice(&rest);
    let s = samples(&all);
    assert!(!s.is_empty());
    let seqs: Vec<u64> = s.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, (1..=s.len() as u64).collect::<Vec<_>>());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("stopped by SIGTERM"), "{err}");
}
