//! A deliberately small HTTP/1.1 server on std::net: a thread per connection, keep-alive,
//! GET/HEAD only, request bodies read and dropped. Enough for health checks and load from
//! the probe and curl; not a general web server.

use crate::Service;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A keep-alive connection idle this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_LINE: u64 = 8 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_REQUEST_BODY: u64 = 1024 * 1024;

pub fn accept_loop(listener: TcpListener, service: Arc<Service>, max_connections: usize) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                service.reporter.warn(format!("accept failed: {e}"));
                // EMFILE and friends: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= max_connections {
            service.reporter.detail(format!(
                "{max_connections} connections open; closing a new one"
            ));
            drop(stream);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let conn_service = Arc::clone(&service);
        let guard = ActiveGuard(Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .spawn(move || {
                let _guard = guard;
                serve_connection(stream, &conn_service);
            });
        if let Err(e) = spawned {
            service
                .reporter
                .warn(format!("cannot start a connection thread: {e}"));
        }
    }
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
}

enum ReadOutcome {
    Request(Request),
    /// The peer closed (or went idle) between requests: nothing to answer.
    Closed,
    /// Not HTTP we understand: answer 400 and close.
    Bad(&'static str),
}

fn serve_connection(stream: TcpStream, service: &Service) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    loop {
        let req = match read_request(&mut reader, &mut line) {
            ReadOutcome::Request(r) => r,
            ReadOutcome::Closed => return,
            ReadOutcome::Bad(why) => {
                let resp = Response::json(400, &json!({"error": why}));
                let _ = resp.write_to(&mut writer, false, false);
                return;
            }
        };
        let started = Instant::now();
        let resp = route(&req, service);
        let head_only = req.method == "HEAD";
        let written = resp.write_to(&mut writer, req.keep_alive, head_only);
        if resp.counted {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            service.stats.record(Instant::now(), ms, resp.status);
        }
        service
            .reporter
            .detail(format!("{} {} -> {}", req.method, req.path, resp.status));
        if written.is_err() || !req.keep_alive {
            return;
        }
    }
}

fn read_line(reader: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    reader.by_ref().take(MAX_LINE).read_until(b'\n', buf)
}

fn read_request(reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> ReadOutcome {
    // Tolerate blank lines before a request line (RFC 9112 §2.2).
    loop {
        match read_line(reader, line) {
            Ok(0) | Err(_) => return ReadOutcome::Closed,
            Ok(_) if line.last() != Some(&b'\n') => {
                return ReadOutcome::Bad("request line too long")
            }
            Ok(_) if line.trim_ascii().is_empty() => continue,
            Ok(_) => break,
        }
    }
    let text = match std::str::from_utf8(line.trim_ascii()) {
        Ok(t) => t.to_owned(),
        Err(_) => return ReadOutcome::Bad("request line is not UTF-8"),
    };
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return ReadOutcome::Bad("malformed request line");
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return ReadOutcome::Bad("unsupported HTTP version"),
    };
    let mut keep_alive = http11;
    let mut content_length: u64 = 0;
    for _ in 0..=MAX_HEADERS {
        match read_line(reader, line) {
            Ok(0) | Err(_) => return ReadOutcome::Closed,
            Ok(_) if line.last() != Some(&b'\n') => return ReadOutcome::Bad("header too long"),
            Ok(_) => {}
        }
        let h = line.trim_ascii();
        if h.is_empty() {
            if content_length > 0 {
                let copied = std::io::copy(
                    &mut reader.by_ref().take(content_length),
                    &mut std::io::sink(),
                );
                if copied.ok() != Some(content_length) {
                    return ReadOutcome::Closed;
                }
            }
            let path = target.split('?').next().unwrap_or(target).to_owned();
            return ReadOutcome::Request(Request {
                method: method.to_owned(),
                path,
                keep_alive,
            });
        }
        let Some(colon) = h.iter().position(|&b| b == b':') else {
            return ReadOutcome::Bad("malformed header");
        };
        let name = String::from_utf8_lossy(&h[..colon]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(h[colon + 1..].trim_ascii()).to_ascii_lowercase();
        match name.as_str() {
            "connection" => {
                if value.split(',').any(|v| v.trim() == "close") {
                    keep_alive = false;
                } else if value.split(',').any(|v| v.trim() == "keep-alive") {
                    keep_alive = true;
                }
            }
            "content-length" => match value.parse::<u64>() {
                Ok(n) if n <= MAX_REQUEST_BODY => content_length = n,
                _ => return ReadOutcome::Bad("bad or too large content-length"),
            },
            "transfer-encoding" => {
                return ReadOutcome::Bad("request bodies must use content-length")
            }
            _ => {}
        }
    }
    ReadOutcome::Bad("too many headers")
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Counted in /metrics (everything but the metrics paths themselves).
    pub counted: bool,
    pub content_type: &'static str,
}

impl Response {
    fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Response {
            status,
            body,
            counted: true,
            content_type: "application/json",
        }
    }

    fn write_to(
        &self,
        w: &mut TcpStream,
        keep_alive: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        // One write: the head and a small body go out in one segment.
        w.write_all(&out)?;
        w.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Decides, exactly and evenly, which requests the configured `error_share` fails: request n
/// (counted from the last config change) fails when floor(n*share) > floor((n-1)*share), so
/// any run of n requests has round-down(n*share) or one more failures, never a burst.
#[derive(Debug, Default)]
pub struct ShareCounter {
    inner: Mutex<(u64, u64)>,
}

impl ShareCounter {
    pub fn next_fails(&self, generation: u64, share: f64) -> bool {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if g.0 != generation {
            *g = (generation, 0);
        }
        g.1 += 1;
        let n = g.1 as f64;
        // The epsilon keeps 0.29 * 100 = 28.999999999999996 from losing a failure.
        let floor = |x: f64| (x + 1e-9).floor();
        floor(n * share) > floor((n - 1.0) * share)
    }
}

fn route(req: &Request, service: &Service) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::json(405, &json!({"error": "only GET and HEAD are served"}));
    }
    let cfg = service.config.current();
    let generation = service.config.generation();
    let subject = req.path == "/health" || req.path.starts_with("/api/");
    if subject {
        if cfg.demo.latency_ms > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(cfg.demo.latency_ms / 1000.0));
        }
        if service.share.next_fails(generation, cfg.demo.error_share) {
            return Response::json(
                500,
                &json!({"error": "injected failure (demo.error_share)", "version": cfg.version}),
            );
        }
    }
    match req.path.as_str() {
        "/health" if cfg.demo.healthy => {
            Response::json(200, &json!({"status": "ok", "version": cfg.version}))
        }
        "/health" => Response::json(
            503,
            &json!({"status": "unhealthy", "version": cfg.version, "reason": "demo.healthy is false"}),
        ),
        "/metrics" => {
            let snap = service.stats.snapshot(Instant::now());
            let mut v = serde_json::to_value(&snap).unwrap_or_else(|_| json!({}));
            if let Some(obj) = v.as_object_mut() {
                obj.insert("version".into(), json!(cfg.version));
                obj.insert("env".into(), json!(service.env));
                obj.insert("healthy".into(), json!(cfg.demo.healthy));
                obj.insert(
                    "uptime_s".into(),
                    json!(service.started.elapsed().as_secs()),
                );
            }
            let mut r = Response::json(200, &v);
            r.counted = false;
            r
        }
        "/metrics/prometheus" => Response {
            status: 200,
            body: service.stats.prometheus().into_bytes(),
            counted: false,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
        },
        "/api/version" => Response::json(
            200,
            &json!({"version": cfg.version, "env": service.env, "service": "mobius-demo"}),
        ),
        "/api/items" => Response::json(
            200,
            &json!({"version": cfg.version, "items": [
                {"id": 1, "name": "alpha"},
                {"id": 2, "name": "beta"},
                {"id": 3, "name": "gamma"}
            ]}),
        ),
        _ => Response::json(404, &json!({"error": "not found", "path": req.path})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_fails_exactly_and_evenly() {
        let c = ShareCounter::default();
        let fails: Vec<bool> = (0..8).map(|_| c.next_fails(0, 0.25)).collect();
        assert_eq!(
            fails,
            [false, false, false, true, false, false, false, true]
        );
        let c = ShareCounter::default();
        let n = (0..100).filter(|_| c.next_fails(0, 0.29)).count();
        assert_eq!(n, 29);
        // A config change restarts the count.
        assert!(!c.next_fails(1, 0.5));
        assert!(c.next_fails(1, 0.5));
        assert!((0..10).all(|_| !c.next_fails(1, 0.0)));
        assert!((0..10).all(|_| c.next_fails(1, 1.0)));
    }
}
