#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Redirects, which the probe follows itself: loops, Locations of other schemes or not URLs
//! at all (never asked of the same host), relative references, and a target that fails.
#![cfg(unix)]

mod common;

use common::*;
use mobius_core::records::ErrorClass;
use std::net::TcpListener;

#[test]
fn redirect_loop_is_redirect() {
    let addr = serve_http(|| {
        b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n".to_vec()
    });
    let s = one(&format!("http://{addr}/again"), &["--max-redirects", "3"]);
    assert_failed(&s, ErrorClass::Redirect);
}

#[test]
fn a_redirect_off_http_or_malformed_is_a_redirect_failure_never_a_path_here() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("file", b"file:///etc/passwd".to_vec()),
        ("ftp", b"ftp://127.0.0.1/x".to_vec()),
        ("js", b"javascript:alert(1)".to_vec()),
        ("unclosed", b"http://[::1".to_vec()),
        ("space", b"http://a b/".to_vec()),
        ("port", b"http://127.0.0.1:99999/".to_vec()),
        ("nohost", b"http:///health".to_vec()),
        // (Other control bytes make the response itself invalid HTTP: an `io` failure.)
        ("tab", b"/he\talth".to_vec()),
        ("utf8", "/caf\u{e9}".as_bytes().to_vec()),
        ("creds", b"http://user:pw@127.0.0.1/".to_vec()),
    ];
    let table: std::collections::HashMap<String, Vec<u8>> = cases
        .iter()
        .map(|(k, v)| (format!("/{k}"), v.clone()))
        .collect();
    let (addr, seen) = serve_routes(move |path| match table.get(path) {
        Some(loc) => redirect_to(loc),
        None => http_response("200 OK", "ok"),
    });
    for (name, location) in &cases {
        let s = one(&format!("http://{addr}/{name}"), &[]);
        assert_failed(&s, ErrorClass::Redirect);
        assert_eq!(s.status, Some(302), "{name}: {s:?}");
        assert!(s.latency_ms.is_some(), "{name}: {s:?}");
        assert!(
            s.detail.starts_with("redirect 302 to "),
            "{name}: {}",
            s.detail
        );
        assert!(!s.detail.contains("pw@"), "{name}: {}", s.detail);
        let _ = location;
    }
    // Only the redirecting paths were asked for: no Location became a path on this host.
    let asked = seen.lock().unwrap().clone();
    let want: Vec<String> = cases.iter().map(|(k, _)| format!("/{k}")).collect();
    assert_eq!(asked, want);

    // A redirect whose target fails keeps the status and latency of what was answered.
    let to_dead = format!("http://{dead}/health");
    let (addr, _) = serve_routes(move |_| redirect_to(to_dead.as_bytes()));
    let s = one(&format!("http://{addr}/"), &[]);
    assert_failed(&s, ErrorClass::Redirect);
    assert_eq!(s.status, Some(302), "{s:?}");
    assert!(s.latency_ms.is_some(), "{s:?}");
    assert!(
        s.detail.contains("failed: connection refused"),
        "{}",
        s.detail
    );
}

#[test]
fn relative_redirects_are_followed_as_rfc_3986_resolves_them() {
    let (addr, seen) = serve_routes(|path| match path {
        "/a/b/start" => redirect_to(b"../c/./next?x=1#frag"),
        "/a/c/next?x=1" => redirect_to(b""),
        _ => http_response("200 OK", "ok"),
    });
    let s = one(&format!("http://{addr}/a/b/start"), &[]);
    // An empty Location is malformed, after one good hop.
    assert_failed(&s, ErrorClass::Redirect);
    assert_eq!(
        seen.lock().unwrap().clone(),
        ["/a/b/start", "/a/c/next?x=1"]
    );

    let (addr, seen) = serve_routes(|path| match path {
        "/one" => redirect_to(b"two"),
        "/two" => redirect_to(b"/three/"),
        _ => http_response("200 OK", "ok"),
    });
    let s = one(&format!("http://{addr}/one"), &[]);
    assert!(s.ok, "{s:?}");
    assert_eq!(s.status, Some(200));
    assert_eq!(seen.lock().unwrap().clone(), ["/one", "/two", "/three/"]);
}
