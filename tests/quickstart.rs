//! The framework description's Quick Start, Emergency Rollback and Testing blocks, run
//! verbatim in bash from a fresh root laid out like a checkout, against the demo services
//! `scripts/demo.sh --serve` starts; and demo.sh --serve/--stop themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The scripts are bash: Unix tools.
#![cfg(unix)]

use mobius_tests::{bin_dir, copy_tree, ensure_bins, http_status, repo_dir, stderr_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The framework's "Quick Start": Prerequisites, then Basic Deployment Workflow, as written.
const QUICK_START: &str = r#"# Ensure all deployment scripts are executable
chmod +x scripts/deploy/*.sh

# Create required directories
mkdir -p backups monitor_logs premerge_artifacts
mkdir -p config/staging config/production
# 1. Pre-deployment validation
./scripts/deploy/deploy_dryrun.sh --env production

# 2. Create backup
./scripts/deploy/backup.sh --env production

# 3. Run full pre-merge orchestration
./scripts/deploy/premerge_orchestration.sh --env production

# 4. Deploy (manual step - customize per environment)
# npm ci --production
# systemctl restart services

# 5. Post-deployment verification
./scripts/deploy/smoke_tests.sh --env production

# 6. Start monitoring with auto-rollback
LATEST_BACKUP=$(ls -1 backups/dhash_production_*.zip | sort -r | head -n1)
./scripts/deploy/monitor.sh --env production --auto-rollback --backup "$LATEST_BACKUP"
"#;

/// The framework's "Emergency Rollback" block, as written.
const EMERGENCY_ROLLBACK: &str = r#"# Identify latest backup
LATEST_BACKUP=$(ls -1 backups/dhash_production_*.zip | sort -r | head -n1)
sha256sum -c "${LATEST_BACKUP}.sha256"

# Execute emergency rollback
./scripts/deploy/rollback_dhash.sh --backup "$LATEST_BACKUP" --env production
"#;

/// The framework's "Testing" block, as written.
const TESTING: &str = r#"# Test all scripts in dry-run mode
for script in scripts/deploy/*.sh; do
    echo "Testing $script"
    "$script" --env staging --dry-run
done
"#;

/// A fresh root laid out like a checkout: scripts/, config/ and migrations/ copied.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scripts", "config", "migrations"] {
        copy_tree(&repo_dir().join(sub), &dir.path().join(sub));
    }
    // copy_tree copies contents, not modes: the scripts are executable in a checkout.
    for sub in ["scripts", "scripts/deploy"] {
        for e in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
    ensure_bins();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped configs name fixed ports; other test runs on this machine may hold them, so
/// this root's copy names two free ones instead (demo.sh --serve reads them from app.json).
fn use_free_ports(root: &Path) -> Vec<(String, String)> {
    let mut urls = vec![];
    for (env, shipped) in [("production", "8080"), ("staging", "8081")] {
        let url = format!("http://127.0.0.1:{}", free_port());
        for file in ["app.json", "smoke.json"] {
            let p = root.join("config").join(env).join(file);
            let text = std::fs::read_to_string(&p).unwrap();
            let text = text.replace(&format!("http://127.0.0.1:{shipped}"), &url);
            std::fs::write(&p, text).unwrap();
        }
        urls.push((env.to_owned(), url));
    }
    urls
}

fn bash(root: &Path, script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(root)
        .env("MOBIUS_BIN_DIR", bin_dir())
        .env_remove("MOBIUS_ROOT")
        .env_remove("MOBIUS_MONITOR_DURATION")
        .env_remove("MOBIUS_MONITOR_INTERVAL")
        .stdin(Stdio::null());
    cmd
}

fn demo_sh(root: &Path, args: &[&str]) -> Output {
    Command::new(root.join("scripts/demo.sh"))
        .args(args)
        .current_dir(root)
        .env("MOBIUS_BIN_DIR", bin_dir())
        .env_remove("MOBIUS_ROOT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Stops the services of `demo.sh --serve` when the test ends, also when it panics.
struct Served(PathBuf);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = demo_sh(&self.0, &["--stop"]);
    }
}

/// Runs a block verbatim under `set -e` (with pipefail for the blocks' own pipelines off, as
/// a user's shell has it); a failing command ends it, and the trap names it.
fn run_block(root: &Path, name: &str, block: &str, envs: &[(&str, &str)]) -> Output {
    let script = format!(
        "set -eE\ntrap 'echo \"BLOCK {name}: FAILED (exit $?): $BASH_COMMAND\" >&2' ERR\n{block}"
    );
    let mut cmd = bash(root, &script);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    out
}

#[test]
fn shipped_configs_name_different_ports() {
    let port = |env: &str| {
        let text =
            std::fs::read_to_string(repo_dir().join("config").join(env).join("app.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["health_url"].as_str().unwrap().to_owned()
    };
    assert_eq!(port("production"), "http://127.0.0.1:8080/health");
    assert_eq!(port("staging"), "http://127.0.0.1:8081/health");
}

#[test]
fn framework_blocks_run_verbatim_against_demo_serve() {
    let root = checkout();
    let urls = use_free_ports(root.path());
    let out = demo_sh(root.path(), &["--serve"]);
    let _served = Served(root.path().to_path_buf());
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    for (env, url) in &urls {
        assert_eq!(
            http_status(&format!("{url}/health")),
            Some(200),
            "{env} at {url}"
        );
        assert!(root.path().join(format!("run/demo-{env}.pid")).is_file());
    }

    // The 60-minute monitor, shortened through the documented variables only.
    let short = [
        ("MOBIUS_MONITOR_DURATION", "2s"),
        ("MOBIUS_MONITOR_INTERVAL", "100ms"),
    ];
    run_block(root.path(), "Quick Start", QUICK_START, &short);
    run_block(root.path(), "Emergency Rollback", EMERGENCY_ROLLBACK, &[]);
    let testing = run_block(root.path(), "Testing", TESTING, &[]);
    let said = String::from_utf8_lossy(&testing.stdout);
    assert_eq!(said.matches("Testing scripts/deploy/").count(), 8, "{said}");
    assert!(
        !said.contains("lib"),
        "the library is outside the glob: {said}"
    );

    // What the blocks did, from the production history: a backup, the smoke pass, the
    // monitor's pass verdict, then the emergency rollback.
    let hist = std::fs::read_to_string(root.path().join("history/production.jsonl")).unwrap();
    let actions: Vec<(String, String)> = hist
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["action"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pos = |a: &str, o: &str| {
        actions
            .iter()
            .position(|x| x.0 == a && x.1 == o)
            .unwrap_or_else(|| panic!("no {a}/{o} in {actions:?}"))
    };
    assert!(pos("smoke", "pass") < pos("monitor_verdict", "pass"));
    assert!(pos("monitor_verdict", "pass") < pos("rollback", "success"));
    // Staging was only dry-run: nothing was recorded for it.
    assert!(!root.path().join("history/staging.jsonl").exists());

    let out = demo_sh(root.path(), &["--stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    for (env, url) in &urls {
        assert_eq!(
            http_status(&format!("{url}/health")),
            None,
            "{env} still up"
        );
        assert!(!root.path().join(format!("run/demo-{env}.pid")).exists());
    }
}

#[test]
fn demo_serve_refuses_a_taken_port_and_stop_handles_a_stale_pidfile() {
    let root = checkout();
    let urls = use_free_ports(root.path());
    // Someone else holds staging's port.
    let staging_port = urls[1].1.rsplit(':').next().unwrap().to_owned();
    let holder = std::net::TcpListener::bind(format!("127.0.0.1:{staging_port}")).unwrap();
    let out = demo_sh(root.path(), &["--serve"]);
    let _served = Served(root.path().to_path_buf());
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains(&format!("port {staging_port}")), "{err}");
    assert!(err.contains("config/staging/app.json"), "{err}");
    // Refused before starting anything.
    assert_eq!(http_status(&format!("{}/health", urls[0].1)), None);
    drop(holder);

    // Served; a second --serve refuses; a stale pidfile (a pid that is no mobius-demo) is
    // removed by --stop without touching that process.
    let out = demo_sh(root.path(), &["--serve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let again = demo_sh(root.path(), &["--serve"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(
        stderr_of(&again).contains("already served"),
        "{}",
        stderr_of(&again)
    );
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let stale = root.path().join("run/demo-other.pid");
    std::fs::write(&stale, format!("{}\n", sleeper.id())).unwrap();
    let out = demo_sh(root.path(), &["--stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("stale pidfile"), "{err}");
    assert!(err.contains("stopped demo-production"), "{err}");
    assert!(err.contains("stopped demo-staging"), "{err}");
    assert!(!stale.exists());
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "--stop killed a stranger"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    for (env, url) in &urls {
        assert_eq!(
            http_status(&format!("{url}/health")),
            None,
            "{env} still up"
        );
    }
}
