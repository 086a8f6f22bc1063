//! Support for the end-to-end tests: locating the workspace's built binaries and scripts,
//! making a temporary MOBIUS root from the shipped config, and running the demo service.
//!
//! `cargo test --workspace` builds every binary before any test runs; if a binary is missing
//! (running this crate's tests alone), it is built once with cargo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mobius_core::records::Record;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Once;

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// The directory holding the workspace's binaries for this build profile.
pub fn bin_dir() -> PathBuf {
    // target/<profile>/deps/<test-exe> → target/<profile>
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test exe in target/<profile>/deps")
        .to_path_buf()
}

static BUILD: Once = Once::new();

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        BUILD.call_once(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--workspace", "--bins"])
                .current_dir(repo_dir())
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build failed");
        });
    }
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Waits for `child`; past `guard` it kills it and fails the test naming `what` (a hang is a
/// failure, never a long wait).
pub fn wait_guarded(child: &mut Child, guard: std::time::Duration, what: &str) -> ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung (killed after {guard:?})");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn script(name: &str) -> PathBuf {
    repo_dir().join("scripts").join("deploy").join(name)
}

/// Every tool the workspace builds.
pub const TOOLS: [&str; 11] = [
    "mobius-backup",
    "mobius-verify",
    "mobius-probe",
    "mobius-judge",
    "mobius-demo",
    "mobius-smoke",
    "mobius-rollback",
    "mobius-export",
    "mobius-history",
    "mobius-notify",
    "mobius-report",
];

/// Makes sure every binary the scripts look for exists before they run.
pub fn ensure_bins() {
    for b in TOOLS {
        bin(b);
    }
}

/// A command for a deploy script, with MOBIUS_BIN_DIR pointing at this build's binaries.
pub fn script_cmd(name: &str, root: &Path) -> Command {
    ensure_bins();
    let mut cmd = Command::new(script(name));
    cmd.env("MOBIUS_BIN_DIR", bin_dir())
        .env("MOBIUS_ROOT", root)
        .current_dir(root)
        .stdin(Stdio::null());
    cmd
}

/// A temporary root with the repo's shipped config/ copied in.
pub fn temp_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_dir().join("config"), &dir.path().join("config"));
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Decodes JSON lines into records; panics with the line on anything else.
pub fn records(stdout: &[u8]) -> Vec<Record> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record {l:?}: {e}")))
        .collect()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The demo service running on a free loopback port; killed on drop.
pub struct Demo {
    child: Child,
    pub url: String,
}

impl Demo {
    pub fn start(root: &Path, env: &str) -> Demo {
        let mut child = Command::new(bin("mobius-demo"))
            .args(["--env", env, "--listen", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("demo's first line {line:?}: {e}"));
        let url = v["url"].as_str().expect("url in listening line").to_owned();
        Demo { child, url }
    }

    /// Points the env's app.json at this demo instance (the shipped files say production
    /// 127.0.0.1:8080, staging 127.0.0.1:8081).
    pub fn point_config_at_me(&self, root: &Path, env: &str) {
        let app = root.join("config").join(env).join("app.json");
        let text = std::fs::read_to_string(&app).unwrap();
        let text = ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]
            .iter()
            .fold(text, |t, shipped| t.replace(shipped, &self.url));
        std::fs::write(&app, text).unwrap();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of a plain `GET` of a loopback URL, or None when nothing answers. A bare
/// HTTP/1.1 exchange on purpose: the tests check the service, not an HTTP client.
pub fn http_status(url: &str) -> Option<u16> {
    http_get(url).map(|(status, _)| status)
}

/// A file under tests/fixtures/.
pub fn fixture(rel: &str) -> PathBuf {
    repo_dir().join("tests").join("fixtures").join(rel)
}

/// A loopback port that was free a moment ago (for a service that must keep its port across
/// restarts, so the port has to be chosen before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every file under `dir` (relative path → bytes), to compare whole trees byte for byte.
pub fn tree_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The status and body of a plain `GET` of a loopback URL; None when nothing answers.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

/// tests/fixtures/realservice: an ordinary HTTP service (not mobius-demo) that reads
/// `config/<env>/app.json` and `releases/current/` once at start, writes
/// `run/realservice_<env>.pid`, and is (re)started by `restart.sh ROOT ENV`, the command a
/// test puts in `restart_cmd`. Dropping the guard stops whichever instance the pidfile names
/// at that moment (restarts change the pid).
pub struct RealService {
    root: PathBuf,
    env: String,
    pub port: u16,
}

impl RealService {
    /// Lays out a root for it (done by the caller: `config/<env>/app.json` must name
    /// `health_url` at `port`) and gives the guard, without starting anything.
    pub fn new(root: &Path, env: &str, port: u16) -> RealService {
        RealService {
            root: root.to_path_buf(),
            env: env.to_owned(),
            port,
        }
    }

    /// `restart.sh ROOT ENV`, shell-quoted for `sh -c` (what goes into `restart_cmd`).
    pub fn restart_cmd(root: &Path, env: &str) -> String {
        let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        format!(
            "{} {} {env}",
            q(&fixture("realservice/restart.sh")),
            q(root)
        )
    }

    /// Runs the restart command with `sh -c`, as a deploy (or a rollback) does; panics with
    /// its stderr unless it exits 0.
    pub fn restart(&self) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(RealService::restart_cmd(&self.root, &self.env))
            .stdin(Stdio::null())
            .output()
            .expect("run sh (and python3: the real service needs it)");
        assert!(
            out.status.success(),
            "restart.sh failed ({}): {}",
            out.status,
            stderr_of(&out)
        );
    }

    pub fn pidfile(&self) -> PathBuf {
        self.root
            .join("run")
            .join(format!("realservice_{}.pid", self.env))
    }

    /// The pid the pidfile names, if there is a pidfile.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pidfile())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the running instance (SIGTERM, then SIGKILL) and waits until nothing answers.
    pub fn stop(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let gone = (0..100).any(|_| {
                let up = http_status(&self.url("/health")).is_some();
                if up {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                !up
            });
            if !gone {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = std::fs::remove_file(self.pidfile());
        }
    }
}

impl Drop for RealService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The SMTP server behind [`Smtpd`]: Python's aiosmtpd, appending each mail (`kind` "mail")
/// and each AUTH attempt (`kind` "auth") as a JSON line, each with the TLS version the
/// session was under at that moment (`tls`, null for plain text): a test can prove TLS was
/// really used.
const SMTP_SERVER: &str = r#"
import email, email.policy, json, logging, ssl, sys, warnings
from aiosmtpd.controller import Controller
# A refused handshake is what some tests want; its traceback is noise in the test output.
logging.disable(logging.CRITICAL)
warnings.simplefilter("ignore")
from aiosmtpd.smtp import AuthResult
out, port, cfg = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def tls_of(server, session):
    # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
    obj = server.transport.get_extra_info("ssl_object") if server.transport else None
    return obj.version() if obj is not None else None
def log(rec):
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
class Save:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        log({"kind": "mail", "from": envelope.mail_from, "to": envelope.rcpt_tos,
             "helo": session.host_name, "tls": tls_of(server, session),
             "authenticated": bool(session.authenticated),
             "data": envelope.original_content.decode("utf-8"),
             # Decoded by Python's own MIME parser, not by the sender's library.
             "subject": str(msg["subject"]), "from_header": str(msg["from"]),
             "to_header": str(msg["to"]), "body": msg.get_content()})
        return "250 Message accepted for delivery"
def authenticator(server, session, envelope, mechanism, auth_data):
    user = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    ok = [user, password] == cfg["auth"]
    log({"kind": "auth", "mechanism": mechanism, "user": user, "ok": ok,
         "tls": tls_of(server, session)})
    # handled=False: aiosmtpd itself answers 535 on a failure.
    return AuthResult(success=ok, handled=False)
kw = {}
ctx = None
if cfg.get("cert"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
if cfg.get("implicit_tls"):
    kw["ssl_context"] = ctx
elif ctx is not None:
    kw["tls_context"] = ctx
    kw["require_starttls"] = bool(cfg.get("require_starttls"))
if cfg.get("auth"):
    kw["authenticator"] = authenticator
    # False only to offer AUTH over plain text, so a test can check the client refuses;
    # and with implicit TLS, where aiosmtpd (seeing no STARTTLS) would not offer AUTH at all.
    kw["auth_require_tls"] = bool(cfg.get("auth_require_tls", True)) and not cfg.get("implicit_tls")
c = Controller(Save(), hostname="127.0.0.1", port=port, **kw)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// How an [`Smtpd`] is set up: plain by default; with a certificate it offers STARTTLS (or
/// speaks TLS from the start with `implicit_tls`), with `auth` it checks a user and password.
#[derive(Debug, Clone, Default)]
pub struct SmtpdConfig {
    /// Server certificate and key (PEM), and the CA that signed them.
    pub tls: Option<TestCerts>,
    /// smtps: TLS from the first byte.
    pub implicit_tls: bool,
    /// Refuse every command but EHLO/STARTTLS/QUIT before STARTTLS.
    pub require_starttls: bool,
    /// The only user and password accepted.
    pub auth: Option<(String, String)>,
    /// Offer AUTH even without TLS (to prove a client refuses to use it).
    pub auth_over_plain: bool,
}

/// A real SMTP server on 127.0.0.1 (Python's aiosmtpd, which .ci/run installs: tests never
/// install anything), saving each mail it accepts into `out` as a JSON line with `from`, `to`,
/// `helo`, `tls`, `data` (raw) and `subject`, `from_header`, `to_header`, `body` (decoded by
/// Python's email parser), and each AUTH attempt, see [`SMTP_SERVER`]; stopped on drop.
pub struct Smtpd {
    child: Child,
    pub port: u16,
    pub out: PathBuf,
}

impl Smtpd {
    /// A plain SMTP server: no TLS, no AUTH.
    pub fn start(out: &Path) -> Smtpd {
        Smtpd::start_with(out, &SmtpdConfig::default())
    }

    pub fn start_with(out: &Path, cfg: &SmtpdConfig) -> Smtpd {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd.controller"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            have,
            "python3 with aiosmtpd is needed for the SMTP tests (scripts/dev-setup.sh installs it)"
        );
        let mut conf = serde_json::json!({
            "implicit_tls": cfg.implicit_tls,
            "require_starttls": cfg.require_starttls,
            "auth_require_tls": !cfg.auth_over_plain,
        });
        if let Some(t) = &cfg.tls {
            conf["cert"] = t.server_cert.display().to_string().into();
            conf["key"] = t.server_key.display().to_string().into();
            conf["ca"] = t.ca_cert.display().to_string().into();
        }
        if let Some((u, p)) = &cfg.auth {
            conf["auth"] = serde_json::json!([u, p]);
        }
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER])
            .arg(out)
            .arg(port.to_string())
            .arg(conf.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Smtpd {
            child,
            port,
            out: out.to_path_buf(),
        }
    }

    /// Everything logged so far: mails and AUTH attempts.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The mails accepted so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|r| r["kind"] == "mail")
            .collect()
    }

    /// The AUTH attempts so far.
    pub fn auth_attempts(&self) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|r| r["kind"] == "auth")
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate for 127.0.0.1/localhost it signed, made with the
/// real `openssl` CLI in `dir`.
#[derive(Debug, Clone)]
pub struct TestCerts {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCerts {
    /// None (after [`component_missing`]) when `openssl` is not installed.
    pub fn make(dir: &Path) -> Option<TestCerts> {
        if Command::new("openssl")
            .arg("version")
            .output()
            .map_or(true, |o| !o.status.success())
        {
            component_missing("the openssl CLI");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Mobius Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat());
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        Some(TestCerts {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        })
    }
}

/// Called by a test whose real component (a server, a CLI) is not installed: under CI
/// (`CI` set; .ci/run installs every component) that is a failure, never a skip; elsewhere
/// the test says loudly that it did not run, and the caller returns.
pub fn component_missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is not installed; scripts/dev-setup.sh installs it"
    );
    eprintln!(
        "SKIPPED: {what} is not installed; scripts/dev-setup.sh installs it: this test did not run"
    );
}
