//! Keeps the runbooks honest: the shell blocks of runbooks/deployment_runbook.md and
//! runbooks/rollback_runbook.md are run, in document order, against a temporary root with the
//! demo service, exactly as written.
//!
//! Markup the test understands (everything else in the Markdown is prose for people):
//! - a fence ```` ```bash runbook ```` marks a block to run; plain ```` ```bash ```` blocks are
//!   illustrative (environment-specific deploy commands, variants) and are only checked with
//!   `bash -n`;
//! - `if-exists=PATH` in the fence info runs the block only when PATH exists in the repository
//!   (a script another change adds); otherwise the skip is reported on stderr;
//! - a first line `# expect-exit: N` declares the block's exit status; without it, 0;
//! - `<!-- runbook-test: NAME -->` is where the scenario needs something only the test can do
//!   (`deploy`: put the new release's config in place; `break-config`: a bad deploy).
//!
//! Each block runs alone with `bash -euo pipefail`, cwd = the root (where config/ is, with
//! scripts/ linked in), the binaries and scripts on PATH, and short durations in the variables
//! the runbooks read with production defaults (MONITOR_DURATION, ...).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The runbooks are bash, run with a symlinked scripts/: Unix behaviour.
#![cfg(unix)]

use mobius_tests::{bin, bin_dir, http_status, repo_dir, temp_root, Demo};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENV: &str = "production";
const RELEASE: &str = "1.5.0";
const SHIPPED: &str = "1.4.2";
const BLOCK_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, PartialEq)]
enum Step {
    Run {
        line: usize,
        script: String,
        expect: i32,
        if_exists: Option<String>,
    },
    Hook {
        line: usize,
        name: String,
    },
}

/// The runbook's steps in document order, and the illustrative bash blocks (line, text).
fn parse(doc: &str, file: &str) -> (Vec<Step>, Vec<(usize, String)>) {
    let mut steps = Vec::new();
    let mut illustrative = Vec::new();
    let mut lines = doc.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- runbook-test:") {
            let name = rest.trim_end_matches("-->").trim().to_owned();
            steps.push(Step::Hook { line: n, name });
            continue;
        }
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("");
        let mut marked = false;
        let mut if_exists = None;
        for w in words {
            match w.split_once('=') {
                None if w == "runbook" => marked = true,
                Some(("if-exists", path)) => if_exists = Some(path.to_owned()),
                _ => panic!("{file}:{n}: unknown fence attribute {w:?}"),
            }
        }
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        assert!(closed, "{file}:{n}: unclosed code block");
        if lang != "bash" {
            assert!(!marked, "{file}:{n}: only bash blocks can be run");
            continue;
        }
        if !marked {
            illustrative.push((n, body));
            continue;
        }
        let expect = body
            .lines()
            .next()
            .and_then(|first| first.trim().strip_prefix("# expect-exit:"))
            .map_or(0, |code| {
                code.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{file}:{n}: bad expect-exit {code:?}: {e}"))
            });
        steps.push(Step::Run {
            line: n,
            script: body,
            expect,
            if_exists,
        });
    }
    (steps, illustrative)
}

/// The `--flags` given to each `scripts/deploy/X.sh` and `mobius-x` command in a block, as
/// (command, flag) pairs; a continuation line (`\\` at the end) joins the next one.
fn flags_used(block: &str) -> Vec<(String, String)> {
    let joined = block.replace("\\\n", " ");
    let mut used = Vec::new();
    for line in joined.lines() {
        let mut command: Option<String> = None;
        for token in line.split_whitespace() {
            let word = token.trim_start_matches(['(', '"', '$']);
            if token.starts_with('#') {
                break;
            }
            if matches!(token, "|" | ";" | "&&" | "||") || token.ends_with(')') {
                command = None;
            }
            if word.starts_with("scripts/deploy/") || word.starts_with("mobius-") {
                command = Some(word.trim_end_matches([')', '"', ';']).to_owned());
            } else if let (Some(cmd), Some(flag)) = (&command, token.strip_prefix("--")) {
                let flag = flag.split('=').next().unwrap_or(flag);
                used.push((cmd.clone(), format!("--{flag}")));
            }
        }
    }
    used
}

/// Every flag the runbook gives a script or tool is one its `--help` documents.
fn check_flags(file: &str, line: usize, block: &str) {
    for (cmd, flag) in flags_used(block) {
        let program = if let Some(script) = cmd.strip_prefix("scripts/deploy/") {
            let path = repo_dir().join("scripts").join("deploy").join(script);
            if !path.exists() {
                // if-exists blocks name scripts that another change adds.
                eprintln!("--- {file}:{line}: {cmd} does not exist yet");
                continue;
            }
            path
        } else {
            bin(&cmd)
        };
        let out = Command::new(&program).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(&flag),
            "{file}:{line}: `{cmd} {flag}`: {flag} is not in {cmd} --help"
        );
    }
}

fn app_json(root: &Path) -> std::path::PathBuf {
    root.join("config").join(ENV).join("app.json")
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Waits until the demo (which re-reads app.json within ~100 ms) answers `want`.
fn wait_for_health(url: &str, want: u16) {
    let healthy = (0..100).any(|_| {
        let ok = http_status(url) == Some(want);
        if !ok {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    });
    assert!(healthy, "{url} never answered {want}");
}

/// What only the test can do at the places the runbooks mark.
fn hook(name: &str, root: &Path, health: &str) {
    match name {
        // The release ships its config: the new version in app.json and in the smoke spec.
        "deploy" => {
            replace_in(&app_json(root), SHIPPED, RELEASE);
            replace_in(
                &root.join("config").join(ENV).join("smoke.json"),
                SHIPPED,
                RELEASE,
            );
            wait_for_health(health, 200);
        }
        // A bad release: the service answers 503 from now on.
        "break-config" => {
            replace_in(&app_json(root), "\"healthy\": true", "\"healthy\": false");
            wait_for_health(health, 503);
        }
        _ => panic!("unknown runbook-test hook {name:?}"),
    }
}

/// Runs one block; returns its exit code, with its output for the failure message.
fn run_block(script: &str, root: &Path, logs: &Path, n: usize) -> (i32, String) {
    let path = format!(
        "{}:{}:{}",
        bin_dir().display(),
        repo_dir().join("scripts").join("deploy").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_path = logs.join(format!("block{n}.out"));
    // One file for both streams, so the output reads in the order it was written.
    let out = File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(root)
        .env("PATH", path)
        .env("MOBIUS_BIN_DIR", bin_dir())
        .env("MOBIUS_ROOT", root)
        .env("RELEASE_VERSION", RELEASE)
        .env("RELEASE_COMMIT", "runbook-test")
        .env("SMOKE_RETRY", "2")
        .env("MONITOR_DURATION", "2s")
        .env("MONITOR_INTERVAL", "200ms")
        .env("HEALTH_TIMEOUT", "2s")
        // The demo reports error_rate over the last minute (see the rollback runbook, step 5).
        .env("METRICS_WINDOW_SECONDS", "61")
        .env("ROLLBACK_REASON", "runbook test")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > BLOCK_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, std::fs::read_to_string(&out_path).unwrap_or_default())
}

/// Runs every step of one runbook; returns how many blocks ran.
fn run_runbook(name: &str, root: &Path, health: &str, logs: &Path) -> usize {
    let file = format!("runbooks/{name}");
    let doc = std::fs::read_to_string(repo_dir().join(&file)).unwrap();
    let (steps, illustrative) = parse(&doc, &file);
    for (line, body) in &illustrative {
        let status = Command::new("bash")
            .args(["-n", "-c", body])
            .status()
            .unwrap();
        assert!(status.success(), "{file}:{line}: not valid bash");
        check_flags(&file, *line, body);
    }
    let mut ran = 0;
    for step in steps {
        match step {
            Step::Hook { line, name } => {
                eprintln!("--- {file}:{line}: test hook {name}");
                hook(&name, root, health);
            }
            Step::Run {
                line,
                script,
                expect,
                if_exists,
            } => {
                if let Some(p) = if_exists {
                    if !repo_dir().join(&p).exists() {
                        eprintln!("--- {file}:{line}: skipped, {p} does not exist yet");
                        continue;
                    }
                }
                check_flags(&file, line, &script);
                eprintln!("--- {file}:{line}: running (expect exit {expect})\n{script}");
                let (code, output) = run_block(&script, root, logs, line);
                eprintln!("{output}");
                assert_eq!(
                    code, expect,
                    "{file}:{line}: the block exited {code}, the runbook says {expect}:\n{script}\n{output}"
                );
                ran += 1;
            }
        }
    }
    ran
}

fn history(root: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join("history").join(format!("{ENV}.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["action"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_runbooks_run_as_written_against_the_demo_service() {
    for b in [
        "mobius-backup",
        "mobius-verify",
        "mobius-probe",
        "mobius-judge",
        "mobius-smoke",
        "mobius-rollback",
        "mobius-export",
        "mobius-history",
    ] {
        bin(b);
    }
    let dir = temp_root();
    let root = dir.path();
    let logs = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_dir().join("scripts"), root.join("scripts")).unwrap();
    let demo = Demo::start(root, ENV);
    demo.point_config_at_me(root, ENV);
    let health = format!("{}/health", demo.url);
    wait_for_health(&health, 200);
    let good = std::fs::read(app_json(root)).unwrap();

    // An earlier deployment's backup, so "the previous backup" exists when the rollback
    // runbook picks it. Made by the same script the runbook uses.
    let (code, output) = run_block(
        "scripts/deploy/backup.sh --env production",
        root,
        logs.path(),
        0,
    );
    assert_eq!(code, 0, "{output}");
    // Backup stamps have millisecond resolution; keep the runbook's backup strictly newer.
    std::thread::sleep(Duration::from_millis(5));

    let ran = run_runbook("deployment_runbook.md", root, &health, logs.path());
    assert!(ran >= 6, "only {ran} blocks of the deployment runbook ran");
    let deployed = std::fs::read_to_string(app_json(root)).unwrap();
    assert!(
        deployed.contains(RELEASE),
        "the release is live: {deployed}"
    );
    let h = history(root);
    for want in [
        ("deploy", "started"),
        ("smoke", "pass"),
        ("monitor_verdict", "pass"),
        ("deploy", "success"),
        ("export", "success"),
    ] {
        assert!(
            h.iter().any(|(a, o)| (a.as_str(), o.as_str()) == want),
            "no {want:?} in {h:?}"
        );
    }

    let ran = run_runbook("rollback_runbook.md", root, &health, logs.path());
    assert!(ran >= 6, "only {ran} blocks of the rollback runbook ran");
    // The emergency rollback restored the backup taken before the deploy, and the failed
    // rehearsal at the end put that tree back.
    assert_eq!(std::fs::read(app_json(root)).unwrap(), good);
    assert_eq!(http_status(&health), Some(200));
    let h = history(root);
    for want in [
        ("rollback", "success"),
        ("rollback", "failure"),
        ("deploy", "failure"),
    ] {
        assert!(
            h.iter().any(|(a, o)| (a.as_str(), o.as_str()) == want),
            "no {want:?} in {h:?}"
        );
    }
}

#[test]
fn the_parser_finds_marked_blocks_hooks_and_expected_exits() {
    let doc = "text\n```bash\necho illustrative\n```\n<!-- runbook-test: deploy -->\n\
               ```bash runbook\n# expect-exit: 22\ncurl -f x\n```\n\
               ```bash runbook if-exists=scripts/x.sh\ntrue\n```\n```json\n{}\n```\n";
    let (steps, illustrative) = parse(doc, "t.md");
    assert_eq!(illustrative, vec![(2, "echo illustrative\n".to_owned())]);
    assert_eq!(
        steps,
        vec![
            Step::Hook {
                line: 5,
                name: "deploy".into()
            },
            Step::Run {
                line: 6,
                script: "# expect-exit: 22\ncurl -f x\n".into(),
                expect: 22,
                if_exists: None
            },
            Step::Run {
                line: 10,
                script: "true\n".into(),
                expect: 0,
                if_exists: Some("scripts/x.sh".into())
            },
        ]
    );
}

#[test]
fn flags_are_collected_per_command_across_continuation_lines() {
    let block = "X=$(ls a | sort -r)\nscripts/deploy/monitor.sh --env production \\\n  \
                 --duration \"${D:-60m}\" # --not-a-flag\n\
                 mobius-history --list | jq -c '.x' --tab\n\
                 (cd backups && sha256sum -c x --quiet)\n\
                 mobius-history --env p --detail backup=\"$B\"\n";
    let pairs: Vec<(&str, &str)> = vec![
        ("scripts/deploy/monitor.sh", "--env"),
        ("scripts/deploy/monitor.sh", "--duration"),
        ("mobius-history", "--list"),
        ("mobius-history", "--env"),
        ("mobius-history", "--detail"),
    ];
    let got = flags_used(block);
    let got: Vec<(&str, &str)> = got.iter().map(|(c, f)| (c.as_str(), f.as_str())).collect();
    assert_eq!(got, pairs);
}

#[test]
#[should_panic(expected = "unknown fence attribute")]
fn a_misspelt_marker_is_an_error_not_a_silently_skipped_block() {
    parse("```bash runbok\ntrue\n```\n", "t.md");
}
