//! What the probe's integration tests share: running the real binary, decoding its samples,
//! and small HTTP servers on 127.0.0.1 that answer as a test tells them.
#![allow(dead_code)]

use mobius_core::records::{ErrorClass, Record, Sample};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};

pub fn probe() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("mobius-probe"))
}

pub fn samples(stdout: &[u8]) -> Vec<Sample> {
    let text = std::str::from_utf8(stdout).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line complete"
    );
    text.lines()
        .map(|l| match serde_json::from_str::<Record>(l).unwrap() {
            Record::Sample(s) => s,
            other => panic!("not a sample: {other:?}"),
        })
        .collect()
}

pub fn run(args: &[&str]) -> (Vec<Sample>, Output) {
    let out = probe().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (samples(&out.stdout), out)
}

/// One check of `url`; returns its sample.
pub fn one(url: &str, extra: &[&str]) -> Sample {
    let mut args = vec!["--url", url, "--count", "1"];
    args.extend_from_slice(extra);
    let (s, _) = run(&args);
    assert_eq!(s.len(), 1);
    s.into_iter().next().unwrap()
}

/// A server on 127.0.0.1 that hands every connection to `handle` on its own thread.
pub fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = std::sync::Arc::clone(&handle);
            std::thread::spawn(move || h(s));
        }
    });
    addr
}

/// Reads one request head; false when the peer closed.
pub fn read_head(r: &mut BufReader<TcpStream>) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => return true,
            Ok(_) => {}
        }
    }
}

/// A keep-alive server answering every request with `response(path)`.
pub fn serve_http(response: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> String {
    serve(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        while read_head(&mut r) {
            if w.write_all(&response()).is_err() {
                return;
            }
        }
    })
}

pub fn http_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn assert_failed(s: &Sample, class: ErrorClass) {
    assert!(!s.ok, "{s:?}");
    assert_eq!(s.error, Some(class), "{s:?}");
    assert!(!s.detail.is_empty(), "{s:?}");
}

/// A server that records the path of every request and answers `route(path)`.
pub fn serve_routes(
    route: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let addr = serve(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut first = String::new();
        while r.read_line(&mut first).is_ok_and(|n| n > 0) {
            let path = first.split(' ').nth(1).unwrap_or_default().to_owned();
            if !read_head(&mut r) {
                return;
            }
            log.lock().unwrap().push(path.clone());
            if w.write_all(&route(&path)).is_err() {
                return;
            }
            first.clear();
        }
    });
    (addr, seen)
}

pub fn redirect_to(location: &[u8]) -> Vec<u8> {
    let mut v = b"HTTP/1.1 302 Found\r\nLocation: ".to_vec();
    v.extend_from_slice(location);
    v.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    v
}
