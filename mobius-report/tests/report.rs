//! mobius-report on real logs: the page and the SVG parse as XML, carry the thresholds and
//! the verdict, escape hostile text, refuse bad input with the documented codes, and a real
//! headless Chromium renders the page to a PNG that is not blank.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use std::path::Path;

const TARGET: &str = "http://127.0.0.1:8080/health";

fn sample(
    seq: u64,
    ok: bool,
    latency: Option<f64>,
    status: u16,
    error: &str,
    detail: &str,
) -> String {
    let latency = latency.map_or("null".to_owned(), |l| l.to_string());
    let error = if error.is_empty() {
        "null".to_owned()
    } else {
        format!("\"{error}\"")
    };
    format!(
        r#"{{"type":"sample","seq":{seq},"ts":"2026-11-26T12:00:{:02}.000Z","target":"{TARGET}","ok":{ok},"status":{status},"latency_ms":{latency},"error":{error},"detail":{},"error_rate":0.01}}"#,
        seq % 60,
        serde_json::to_string(detail).unwrap()
    )
}

/// A 6-check run: 3 ok, then 3 failed (timeout, 503, 503), the judge's verdicts.
fn rollback_log() -> String {
    let mut s = String::new();
    for i in 1..=3 {
        s += &sample(i, true, Some(4.0 + i as f64), 200, "", "200 OK");
        s.push('\n');
    }
    s += &sample(4, false, Some(5000.0), 0, "timeout", "no answer in 5s")
        .replace("\"status\":0", "\"status\":null");
    s.push('\n');
    for i in 5..=6 {
        s += &sample(
            i,
            false,
            Some(3.0),
            503,
            "status",
            "503 Service Unavailable",
        );
        s.push('\n');
    }
    let reason = format!(
        "3 consecutive failed checks of {TARGET} (threshold 3): timeout, status 503, status 503"
    );
    for t in [TARGET, "*"] {
        s += &serde_json::json!({"type":"verdict","ts":"2026-11-26T12:00:06.000Z","target":t,"decision":"rollback","rule":"consecutive_failures","reason":reason,"checks":6,"consecutive_failures":3,"success_rate":0.5,"p95_ms":4000.0,"error_rate":0.01}).to_string();
        s.push('\n');
    }
    s
}

fn report(args: &[&str], stdin: &str) -> std::process::Output {
    Command::cargo_bin("mobius-report")
        .unwrap()
        .args(args)
        .write_stdin(stdin.to_owned())
        .output()
        .unwrap()
}

fn text_of(doc: &roxmltree::Document<'_>) -> String {
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn html_and_svg_are_well_formed_xml() {
    let log = rollback_log();
    let out = report(&[], &log);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    // The doctype is HTML5's; the rest is XHTML, which an XML parser reads.
    let body = html.strip_prefix("<!DOCTYPE html>\n").expect("doctype");
    let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(doc.root_element().tag_name().name(), "html");
    let svgs = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "svg")
        .count();
    assert_eq!(svgs, 1, "one chart per target");
    assert!(
        !doc.descendants().any(|n| n.tag_name().name() == "script"),
        "no JavaScript"
    );

    let out = report(&["--format", "svg", "-"], &log);
    assert_eq!(out.status.code(), Some(0));
    let svg = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
}

#[test]
fn thresholds_and_verdict_are_on_the_page() {
    let out = report(&[], &rollback_log());
    let html = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(html.strip_prefix("<!DOCTYPE html>\n").unwrap()).unwrap();
    let text = text_of(&doc);
    for want in [
        "Verdict: ROLLBACK",
        "consecutive_failures",
        "(threshold 3): timeout, status 503, status 503",
        "rollback: consecutive_failures at check 6",
        "P95 threshold 5000 ms",
        "minimum 70%",
        "threshold 5%",
        "rules apply from check 5",
        "timeout \u{d7}1",
        "http_5xx \u{d7}2",
        "mobius-judge default",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }

    // A verdict that fired on the P95 carries its threshold; a flag overrides it.
    let mut log = String::new();
    for i in 1..=9 {
        log += &sample(i, true, Some(900.0), 200, "", "200 OK");
        log.push('\n');
    }
    log += &serde_json::json!({"type":"verdict","ts":"2026-11-26T12:00:09.000Z","target":TARGET,"decision":"rollback","rule":"p95_latency","reason":"P95 latency 900 ms of x above 800 ms at 5 consecutive checks (checks 5-9, over the last 9 latencies)","checks":9,"consecutive_failures":0,"success_rate":1.0,"p95_ms":900.0,"error_rate":null}).to_string();
    log.push('\n');
    let page = String::from_utf8(report(&[], &log).stdout).unwrap();
    assert!(page.contains("P95 threshold 800 ms"), "{page}");
    assert!(page.contains("from the verdict"));
    let page =
        String::from_utf8(report(&["--p95-ms", "1234", "--min-success-rate", "90%"], &log).stdout)
            .unwrap();
    assert!(page.contains("P95 threshold 1234 ms") && page.contains("minimum 90%"));
    assert!(page.contains("from the command line"));
}

#[test]
fn hostile_log_text_is_escaped_and_bounded() {
    let huge = "A".repeat(2_000_000);
    let hostile = format!("<script>alert(1)</script>]]><![CDATA[\u{1b}[2J\u{0}\u{7}&amp;\"'{huge}");
    let mut log = String::new();
    for i in 1..=6 {
        let mut line: serde_json::Value =
            serde_json::from_str(&sample(i, i < 4, Some(3.0), 503, "status", &hostile)).unwrap();
        line["target"] = serde_json::Value::String(format!("{hostile}-target"));
        log += &line.to_string();
        log.push('\n');
    }
    log += &serde_json::json!({"type":"verdict","ts":"<b>x</b>","target":"*","decision":"rollback","rule":"success_rate","reason":hostile,"checks":6}).to_string();
    log.push('\n');
    for format in ["html", "svg"] {
        let out = report(&["--format", format], &log);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(
            page.len() < 200_000,
            "huge strings are cut: {} bytes",
            page.len()
        );
        assert!(!page.contains("<script"), "raw markup from the log");
        assert!(!page.contains("]]>") && !page.contains("<![CDATA["));
        assert!(!page.contains('\u{1b}') && !page.contains('\u{0}') && !page.contains('\u{7}'));
        assert!(page.contains("&lt;script&gt;") && page.contains("\\x1b"));
        let body = page.strip_prefix("<!DOCTYPE html>\n").unwrap_or(&page);
        let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("{e}"));
        assert!(!doc.descendants().any(|n| n.tag_name().name() == "script"));
        assert!(
            text_of(&doc).contains("<script>alert(1)</script>"),
            "shown as text"
        );
    }
}

#[test]
fn bad_input_has_its_documented_exit_code() {
    let mut log = rollback_log();
    log.insert_str(
        0,
        &format!(
            "{}\n{{\"type\":\"sample\",\"ts\": oops}}\n",
            sample(1, true, Some(1.0), 200, "", "")
        ),
    );
    let out = report(&[], &log);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("mobius-report: stdin: malformed input at line 2"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = report(&[], "{\"type\":\"sample\",\"ts\":\"x\"}\n");
    assert_eq!(out.status.code(), Some(3), "a sample without its fields");

    let out = report(&[], "");
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sample records"));
    let out = report(
        &[],
        "{\"type\":\"verdict\",\"target\":\"*\",\"decision\":\"pass\"}\n",
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "verdicts alone: nothing to draw"
    );
}

#[cfg(unix)]
#[test]
fn files_are_opened_and_written_safely() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("staging_20261126T120000.jsonl");
    std::fs::write(&log, rollback_log()).unwrap();
    let html = dir.path().join("run.html");
    let out = report(&[log.to_str().unwrap(), "-o", html.to_str().unwrap()], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("staging_20261126T120000.jsonl"));
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // A FIFO as LOG is refused at once, not waited on.
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = Command::cargo_bin("mobius-report")
        .unwrap()
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));

    // -o through a symlink is refused; the file it points at is untouched.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = dir.path().join("link.html");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = report(&[log.to_str().unwrap(), "-o", link.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_long_run_is_drawn_in_bounded_buckets_with_every_failure_counted() {
    let mut log = String::with_capacity(50_000 * 200);
    for i in 1..=50_000u64 {
        let ok = i % 97 != 0;
        log += &sample(
            i,
            ok,
            Some(5.0),
            if ok { 200 } else { 503 },
            if ok { "" } else { "status" },
            "",
        );
        log.push('\n');
    }
    let out = report(&[], &log);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.len() < 400_000, "{} bytes", page.len());
    assert!(
        page.contains(&format!("http_5xx \u{d7}{}", 50_000 / 97)),
        "every failure counted"
    );
    assert!(page.contains("checks per column"));
}

/// Renders `html` with the real headless Chromium; `None` when it is not installed.
fn chromium_png(html: &Path, png: &Path, profile: &Path) -> Option<()> {
    // Debian's chromium (.ci/run installs it); the Chrome that GitHub's runners carry.
    let chromium = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())?;
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,900")
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run chromium");
    assert!(status.success(), "chromium failed: {status}");
    Some(())
}

#[test]
fn chromium_renders_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    std::fs::write(&log, rollback_log()).unwrap();
    let html = dir.path().join("run.html");
    let out = report(&[log.to_str().unwrap(), "-o", html.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0));
    let png = dir.path().join("out.png");
    if chromium_png(&html, &png, &dir.path().join("profile")).is_none() {
        mobius_tests::component_missing("chromium");
        return;
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 900));
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let mut colours = std::collections::HashSet::new();
    let mut red = 0usize;
    for px in buf[..info.buffer_size()].chunks(channels) {
        colours.insert((px[0], px[1], px[2]));
        // The threshold and verdict red (#d62728), as drawn (anti-aliasing aside).
        if (i32::from(px[0]) - 0xd6).abs() < 12
            && (i32::from(px[1]) - 0x27).abs() < 12
            && (i32::from(px[2]) - 0x28).abs() < 12
        {
            red += 1;
        }
    }
    assert!(colours.len() > 50, "looks blank: {} colours", colours.len());
    assert!(red > 500, "the threshold red is missing: {red} pixels");
}
