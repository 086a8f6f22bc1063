//! No secret crosses a boundary: distinct canary values are planted in every place a secret
//! can sit (config files of every format, app.json's health URL, a smoke spec's headers,
//! variables and captures, a real HTTP service that echoes secrets back, notification
//! events and variables, a PEM key); then every tool runs, failing paths and `--verbose`
//! included, and every byte they wrote or sent is searched for any canary: stdout, stderr,
//! every file under the root (zips unzipped, gzip inflated, JSON and XML unescaped), what
//! the webhook received and what was mailed.
//!
//! One exclusion, on purpose: the backups (`backups/*.zip`, the rollback's pre-rollback
//! safety backups too) and the restored `config/` hold the configuration verbatim: they are
//! the backup and the restore, and they stay on the machine. The export bundle is searched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mobius_tests::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MARK: &str = "CANARY-";

/// What the test HTTP service was sent: (path, headers and body as text).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A service on 127.0.0.1 that hands out secrets and echoes back what it is sent.
fn serve(seen: Seen) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let _ = handle(stream, &seen);
            });
        }
    });
    port
}

fn handle(mut stream: TcpStream, seen: &Seen) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&h);
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        seen.lock()
            .unwrap()
            .push((path.clone(), format!("{head}\n{body}")));
        let (status, extra, text) = if path.starts_with("/health") {
            (
                "200 OK",
                "Set-Cookie: session=CANARY-SRVCOOKIE-c1\r\n",
                r#"{"status":"ok","version":"1.4.2-rc1"}"#.to_owned(),
            )
        } else if path.starts_with("/token") {
            (
                "200 OK",
                "",
                r#"{"t":"CANARY-CAPTURE-d1","auth_code":"CANARY-CAPAUTH-d2"}"#.to_owned(),
            )
        } else if path.starts_with("/fail") {
            (
                "503 Service Unavailable",
                "",
                r#"{"status":"down","token":"CANARY-SRVBODY-e1","detail":"Authorization: Bearer CANARY-SRVAUTHZ-e2"}"#.to_owned(),
            )
        } else if path.starts_with("/hook") {
            ("200 OK", "", "ok".to_owned())
        } else {
            // Every header and the body, back in the body: the secrets come back.
            ("403 Forbidden", "", format!("{path}\n{head}\n{body}"))
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
        stream.flush()?;
    }
}

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nCANARY-PEM-f1\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";

/// The configuration files, one canary (or more) each, in every format.
fn plant_config(dir: &Path, port: u16) {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "app.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "service": "canary",
            "version": "1.4.2-rc1",
            "health_url": format!("http://CANARY-URLUSER-a1:CANARY-URLPASS-a2@127.0.0.1:{port}/health"),
            "restart_cmd": "true",
            "api_token": "CANARY-APPJSON-a3",
            "db": {"dsn": "postgres://app:CANARY-DSN-a4@db:5432/x"},
            "demo": {}
        }))
        .unwrap(),
    );
    w(
        "settings.yaml",
        "db:\n  host: db1\n  password: CANARY-YAMLPLAIN-b1\ntls:\n  private_key: |\n    CANARY-YAMLBLOCK-b2\n    CANARY-YAMLBLOCK-b3\n  cert: public\nsecret_note: >-\n  CANARY-YAMLFOLD-b4\nenv:\n  - name: DB_PASSWORD\n    value: CANARY-YAMLPAIR-b5\n",
    );
    w(
        "db.ini",
        "[database]\nhost = db1\npassword = CANARY-INI-b6 with spaces\n[smtp]\napi_key='CANARY-INI-b7'\n",
    );
    w(
        ".env",
        "LOG_LEVEL=info\nexport API_KEY=\"CANARY-ENV-b8\"\nAUTH=CANARY-ENV-b9\n",
    );
    w(
        "app.xml",
        "<?xml version=\"1.0\"?>\n<config>\n  <password>CANARY-XMLELEM-c2</password>\n  <db secret=\"CANARY-XMLATTR-c3\"/>\n  <add key=\"DbPassword\" value=\"CANARY-XMLPAIR-c4\"/>\n  <token>\n    CANARY-XMLMULTI-c5\n  </token>\n</config>\n",
    );
    w(
        "broken.json",
        "{\"password\": \"CANARY-BROKEN-c6\",\n  \"token\": CANARY-BROKEN-c7\n  oops <<\n",
    );
    w(
        "escaped.json",
        r#"{"body": "{\"password\":\"CANARY-ESCJSON-c8\"}", "xml": "&lt;token&gt;CANARY-ESCXML-c9&lt;/token&gt;", "attr": "<db password=&quot;CANARY-ESCATTR-ca&quot;/>"}"#,
    );
    w(
        "headers.txt",
        "Authorization: Bearer CANARY-AUTHZ-cb\nProxy-Authorization: Basic CANARY-PROXY-cc\nCookie: theme=dark; sid=CANARY-COOKIE-cd\nX-API-Key: CANARY-XAPIKEY-ce\nX-Auth-Token: CANARY-XAUTH-cf\n",
    );
    w("tls/server.pem", PEM);
    w("tls/server.key", "CANARY-KEYFILE-f2\n");
    w(
        "smoke.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "headers": {"x-api-key": "CANARY-SPECHDR-g1"},
            "checks": [
                {"name": "token", "path": "/token",
                 "capture": {"t": {"json": "/t"}, "auth_code": {"json": "/auth_code"}}},
                {"name": "health", "path": "/health",
                 "expect": {"status": 200, "headers": {"set-cookie": {"equals": "none"}}}},
                {"name": "echo", "method": "POST", "path": "/echo?k={{api_key}}",
                 "headers": {"authorization": "Bearer {{t}}", "x-credential": "{{credential}}"},
                 "body": "code={{auth_code}}&apikey={{api_key}}",
                 "expect": {"status": 200, "body_contains": "nothing"}}
            ]
        }))
        .unwrap(),
    );
}

struct Run {
    what: String,
    out: Output,
}

/// A command with a 60 s hang guard: a hung tool fails the test instead of hanging it.
fn run(what: &str, cmd: &mut Command) -> Run {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{what}: still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    Run {
        what: what.to_owned(),
        out,
    }
}

fn tool(name: &str, root: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.env("MOBIUS_ROOT", root).current_dir(root);
    for v in [
        "MOBIUS_SLACK_WEBHOOK",
        "MOBIUS_TEAMS_WEBHOOK",
        "MOBIUS_SMTP_URL",
        "MOBIUS_EMAIL_FROM",
        "MOBIUS_EMAIL_TO",
    ] {
        c.env_remove(v);
    }
    c
}

/// Every text that `bytes` (named `name`) holds: itself, the entries of a zip, a gzip's
/// content, each decoded again; plus the JSON-unescaped and XML-unescaped forms.
fn texts(name: &str, bytes: &[u8], out: &mut Vec<(String, String)>) {
    if bytes.starts_with(b"PK\x03\x04") {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec()))
            .unwrap_or_else(|e| panic!("{name}: not a zip: {e}"));
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let entry = format!("{name}!{}", f.name().unwrap_or_default());
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            texts(&entry, &b, out);
        }
        return;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut b = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut b)
            .unwrap();
        texts(&format!("{name}!gunzip"), &b, out);
        return;
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut unescaped = String::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            strings(&v, &mut unescaped);
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        strings(&v, &mut unescaped);
    }
    let xml = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let x1 = xml(&text);
    let x2 = xml(&unescaped);
    out.push((name.to_owned(), text));
    out.push((format!("{name} (JSON-unescaped)"), unescaped));
    out.push((format!("{name} (XML-unescaped)"), x1));
    out.push((format!("{name} (JSON- then XML-unescaped)"), x2));
}

/// Every string in a JSON value (and the strings inside strings that are JSON).
fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                strings(&inner, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push_str(k);
            out.push('\n');
            strings(x, out);
        }),
        _ => {}
    }
}

/// The files under `dir`, but for the stated exclusions (the backups and the restored
/// configuration, which stay on the machine).
fn written_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel == "config" || (rel.starts_with("backups/") && rel.ends_with(".zip")) {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_dir() {
            written_files(root, &p, out);
        } else if t.is_file() {
            out.push(p);
        }
    }
}

/// Each canary found: where, and the canary.
fn leaks(all: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (where_, text) in all {
        let mut from = 0;
        while let Some(p) = text[from..].find(MARK) {
            let s = from + p;
            let e = text[s..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(text.len(), |e| s + e);
            found.push(format!("{} in {where_}", &text[s..e]));
            from = e.max(s + 1);
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_canary_leaves_through_any_tool() {
    ensure_bins();
    let root_dir = temp_root();
    let root = root_dir.path();
    let inputs = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let port = serve(Arc::clone(&seen));
    let base = format!("http://127.0.0.1:{port}");
    let cfg = root.join("config/staging");
    std::fs::remove_dir_all(&cfg).unwrap();
    plant_config(&cfg, port);
    let mail_file = inputs.path().join("mail.jsonl");
    let smtpd = Smtpd::start(&mail_file);
    let hook = format!("{base}/hook/T000/CANARY-WEBHOOK-h1");
    let mut runs: Vec<Run> = Vec::new();
    let env = ["--env", "staging"];

    // backup, verify.
    let r = run(
        "backup",
        tool("mobius-backup", root).args(env).arg("--verbose"),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", stderr_of(&r.out));
    let backup = String::from_utf8_lossy(&r.out.stdout)
        .lines()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()?
                .get("path")?
                .as_str()
                .map(str::to_owned)
        })
        .expect("backup record with a path");
    runs.push(r);
    runs.push(run(
        "verify",
        tool("mobius-verify", root).arg(&backup).arg("--verbose"),
    ));
    runs.push(run(
        "verify --config",
        tool("mobius-verify", root).args(["--config", "--env", "staging", "--verbose"]),
    ));

    // smoke: a failing run with --verbose, its reports where the export finds them.
    let stamp =
        mobius_core::time::rfc3339(std::time::SystemTime::now())[..19].replace(['-', ':'], "");
    let reports = root.join(format!("premerge_artifacts/smoke_staging_{stamp}"));
    std::fs::create_dir_all(&reports).unwrap();
    let r = run(
        "smoke --verbose (failing)",
        tool("mobius-smoke", root)
            .args(env)
            .arg("--verbose")
            .args(["--var", "api_key=CANARY-VARAPIKEY-g2"])
            .env("MOBIUS_VAR_credential", "CANARY-VARCRED-g3")
            .arg("--junit")
            .arg(reports.join("junit.xml"))
            .arg("--jsonl")
            .arg(reports.join("smoke.jsonl")),
    );
    assert_eq!(r.out.status.code(), Some(1), "{}", stderr_of(&r.out));
    runs.push(r);
    {
        // The secrets really went out to the service (and came back in the echo).
        let seen = seen.lock().unwrap();
        let echo = seen
            .iter()
            .find(|(p, _)| p.starts_with("/echo"))
            .expect("echo sent");
        for c in [
            "CANARY-CAPTURE-d1",
            "CANARY-VARAPIKEY-g2",
            "CANARY-VARCRED-g3",
            "CANARY-SPECHDR-g1",
            "CANARY-CAPAUTH-d2",
        ] {
            assert!(
                echo.1.contains(c) || echo.0.contains(c),
                "{c} not sent: {echo:?}"
            );
        }
    }
    runs.push(run(
        "smoke --dry-run",
        tool("mobius-smoke", root)
            .args(env)
            .args(["--dry-run", "--verbose"])
            .args(["--var", "api_key=CANARY-VARAPIKEY-g2"])
            .env("MOBIUS_VAR_credential", "CANARY-VARCRED-g3"),
    ));

    // probe: app.json's URL (userinfo), and a failing URL whose body echoes secrets.
    let r = run(
        "probe",
        tool("mobius-probe", root).args(env).args([
            "--count",
            "2",
            "--interval",
            "50ms",
            "--no-metrics",
            "--verbose",
        ]),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", stderr_of(&r.out));
    runs.push(r);
    let fail_url =
        format!("http://CANARY-PROBEUSER-i1@127.0.0.1:{port}/fail?token=CANARY-PROBEQ-i2");
    let r = run(
        "probe (failing)",
        tool("mobius-probe", root).args(["--url", &fail_url]).args([
            "--count",
            "3",
            "--interval",
            "50ms",
            "--no-metrics",
            "--verbose",
        ]),
    );
    let samples = r.out.stdout.clone();
    runs.push(r);

    // judge: the failing samples, with the unredacted target put back (a probe of another
    // version, or a hand-written log).
    let raw =
        String::from_utf8_lossy(&samples).replace("***REDACTED***@127", "CANARY-JUDGEUSER-j1@127");
    let samples_file = inputs.path().join("samples.jsonl");
    std::fs::write(&samples_file, raw).unwrap();
    // The judge reads stdin, which `run` closes: run by hand.
    let judge = Command::new(bin("mobius-judge"))
        .args(env)
        .arg("--verbose")
        .env("MOBIUS_ROOT", root)
        .current_dir(root)
        .stdin(std::fs::File::open(&samples_file).unwrap())
        .output()
        .unwrap();
    assert_eq!(judge.status.code(), Some(1), "{}", stderr_of(&judge));
    runs.push(Run {
        what: "judge (rollback verdict)".into(),
        out: judge,
    });

    // rollback: a failing health check (put back), then a healthy one (app.json's URL).
    let r = run(
        "rollback (failing health check)",
        tool("mobius-rollback", root)
            .args(env)
            .args(["--backup", &backup, "--verbose", "--restart-cmd", "true"])
            .args([
                "--health-url",
                &format!("http://CANARY-RBUSER-k1:pw@127.0.0.1:{port}/fail"),
            ])
            .args([
                "--health-checks",
                "1",
                "--health-timeout",
                "1s",
                "--health-interval",
                "50ms",
            ]),
    );
    assert_eq!(r.out.status.code(), Some(1), "{}", stderr_of(&r.out));
    runs.push(r);
    let r = run(
        "rollback",
        tool("mobius-rollback", root).args(env).args([
            "--backup",
            &backup,
            "--verbose",
            "--health-checks",
            "1",
        ]),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", stderr_of(&r.out));
    runs.push(r);

    // history: details with secrets.
    runs.push(run(
        "history append",
        tool("mobius-history", root)
            .args(env)
            .args(["--action", "note", "--outcome", "success"])
            .args(["--detail", "password=CANARY-HISTPW-l1"])
            .args([
                "--detail",
                "url=https://CANARY-HISTURL-l2@git.example/x.git",
            ])
            .args(["--detail", "note=Authorization: Bearer CANARY-HISTAUTHZ-l3"]),
    ));

    // notify: to a real webhook and a real SMTP server; the event and variables hold secrets.
    let event = serde_json::json!({"type": "event", "seq": 9, "ts": "2026-12-01T00:00:00.000Z",
        "env": "staging", "action": "rollback", "outcome": "failure",
        "actor": {"user": "ops", "host": "web1"},
        "details": {"backup": "https://CANARY-EVURL-m1@store.example/b.zip",
                    "reason": "restart said Authorization: Bearer CANARY-EVAUTHZ-m2 password=CANARY-EVPW-m3",
                    "api_key": "CANARY-EVKEY-m4"}});
    let event_file = inputs.path().join("event.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    let notify_vars = [
        "--var",
        "reason={\"token\":\"CANARY-NVJSON-n1\"}",
        "--var",
        "runbook_url=https://wiki.example/rb?access_token=CANARY-NVQ-n2",
        "--var",
        "log_url=https://CANARY-NVUSER-n3@logs.example/x",
    ];
    for channel in ["slack", "teams"] {
        let var = if channel == "slack" {
            "MOBIUS_SLACK_WEBHOOK"
        } else {
            "MOBIUS_TEAMS_WEBHOOK"
        };
        for dry in [false, true] {
            let mut c = tool("mobius-notify", root);
            c.args([
                "--channel",
                channel,
                "--template",
                "rollback_failed",
                "--verbose",
            ])
            .arg("--event")
            .arg(&event_file)
            .args(notify_vars)
            .env(var, &hook);
            if dry {
                c.arg("--dry-run");
            }
            let r = run(&format!("notify {channel} dry={dry}"), &mut c);
            assert_eq!(r.out.status.code(), Some(0), "{}", stderr_of(&r.out));
            runs.push(r);
        }
    }
    let r = run(
        "notify email",
        tool("mobius-notify", root)
            .args([
                "--channel",
                "email",
                "--template",
                "rollback_failed",
                "--verbose",
            ])
            .arg("--event")
            .arg(&event_file)
            .args(notify_vars)
            .env(
                "MOBIUS_SMTP_URL",
                format!("smtp://127.0.0.1:{}", smtpd.port),
            )
            .env("MOBIUS_EMAIL_FROM", "mobius@example.com")
            .env("MOBIUS_EMAIL_TO", "ops@example.com"),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", stderr_of(&r.out));
    runs.push(r);

    // monitor.sh: a failing --url (userinfo), auto-rollback with a --health-url carrying
    // userinfo, a webhook to tell; and its dry run.
    let mon_url = format!("http://CANARY-MONUSER-o1@127.0.0.1:{port}/fail");
    let mon_health = format!("http://CANARY-MONHEALTH-o2:pw@127.0.0.1:{port}/health");
    for dry in [true, false] {
        let mut c = script_cmd("monitor.sh", root);
        c.args([
            "--env",
            "staging",
            "--interval",
            "100ms",
            "--duration",
            "30s",
            "--verbose",
        ])
        .args(["--url", &mon_url, "--auto-rollback", "--backup", &backup])
        .args(["--restart-cmd", "true", "--health-url", &mon_health])
        .env("MOBIUS_SLACK_WEBHOOK", &hook);
        if dry {
            c.arg("--dry-run");
        }
        let r = run(&format!("monitor.sh dry={dry}"), &mut c);
        let want = if dry { 0 } else { 1 };
        assert_eq!(r.out.status.code(), Some(want), "{}", stderr_of(&r.out));
        runs.push(r);
    }

    // export (zip and dir), history --list.
    for format in ["zip", "dir"] {
        let r = run(
            &format!("export {format}"),
            tool("mobius-export", root)
                .args(env)
                .args(["--format", format, "--verbose"]),
        );
        assert!(
            matches!(r.out.status.code(), Some(0 | 1)),
            "{}",
            stderr_of(&r.out)
        );
        runs.push(r);
    }
    runs.push(run(
        "history --list",
        tool("mobius-history", root).args(env).arg("--list"),
    ));
    drop(smtpd);

    // Everything written or sent.
    let mut all: Vec<(String, String)> = Vec::new();
    for r in &runs {
        texts(&format!("stdout of {}", r.what), &r.out.stdout, &mut all);
        texts(&format!("stderr of {}", r.what), &r.out.stderr, &mut all);
    }
    let mut files = Vec::new();
    written_files(root, root, &mut files);
    let mut exports = 0;
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().display().to_string();
        if rel.starts_with("exports/") && rel.ends_with(".zip") {
            exports += 1;
        }
        texts(&rel, &std::fs::read(f).unwrap(), &mut all);
    }
    assert!(exports >= 1, "no export bundle in {files:?}");
    let posts: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/hook"))
        .cloned()
        .collect();
    assert!(posts.len() >= 3, "the webhook got {} posts", posts.len());
    for (i, (_, req)) in posts.iter().enumerate() {
        let body = req.split_once("\n\n").map_or("", |(_, b)| b);
        texts(&format!("webhook POST body {i}"), body.as_bytes(), &mut all);
    }
    let mails = std::fs::read(&mail_file).expect("a mail was received");
    texts("the mail", &mails, &mut all);

    // The canaries were where the tools could see them: a bundle that left config out would
    // pass for the wrong reason.
    let bundle_has = |entry: &str| all.iter().any(|(w, _)| w.contains(&format!("!{entry}")));
    for entry in [
        "config/staging/settings.yaml",
        "config/staging/tls/server.pem",
        "config/staging/broken.json",
        "config/staging/.env",
        "events.jsonl",
    ] {
        assert!(bundle_has(entry), "the export bundle has no {entry}");
    }

    let found = leaks(&all);
    assert!(
        found.is_empty(),
        "{} canaries crossed a boundary:\n{}",
        found.len(),
        found.join("\n")
    );
}
