//! What users of well-kept command-line tools expect of every MOBIUS tool: a man page and
//! shell completions made from the clap definitions (`--generate`), rendered by the real `man`
//! and loaded by the real bash (and zsh, where installed), and usage errors as one
//! `mobius-<tool>:` line with exit 2.

use mobius_tests::{bin, component_missing, ensure_bins, TOOLS};
use std::process::Command;

fn generate(tool: &str, kind: &str) -> String {
    let out = Command::new(bin(tool))
        .args(["--generate", kind])
        .output()
        .expect("run tool");
    assert!(out.status.success(), "{tool} --generate {kind}: {out:?}");
    assert!(out.stderr.is_empty(), "{tool} --generate {kind}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn every_man_page_renders_with_man() {
    ensure_bins();
    if Command::new("man").arg("--version").output().is_err() {
        return component_missing("man (the man-db package)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for tool in TOOLS {
        let page = dir.path().join(format!("{tool}.1"));
        std::fs::write(&page, generate(tool, "man")).expect("write page");
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env_remove("MANOPT")
            .output()
            .expect("run man");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {tool}.1: {err}");
        // groff's own complaints (a bad request, an unknown macro) would land on stderr.
        assert!(err.trim().is_empty(), "man -l {tool}.1 complained: {err}");
        for want in [
            "NAME",
            "SYNOPSIS",
            "OPTIONS",
            "--root",
            "--generate",
            "Exit codes",
        ] {
            assert!(
                text.contains(want),
                "{tool}'s man page lacks {want}:\n{text}"
            );
        }
        assert!(text.contains(tool), "{tool}'s man page does not name it");
    }
}

#[test]
fn every_bash_completion_loads_and_completes_flags() {
    ensure_bins();
    let dir = tempfile::tempdir().expect("tempdir");
    for tool in TOOLS {
        let script = dir.path().join(format!("{tool}.bash"));
        std::fs::write(&script, generate(tool, "complete-bash")).expect("write");
        // Loads the script as bash-completion would, then asks it what follows `--ro`.
        let probe = r#"set -u
source "$1" || exit 10
spec=$(complete -p "$2") || exit 11
func=${spec#*-F }; func=${func%% *}
COMP_WORDS=("$2" --ro); COMP_CWORD=1; COMP_LINE="$2 --ro"; COMP_POINT=${#COMP_LINE}
"$func" "$2" --ro "$2"
printf '%s\n' "${COMPREPLY[@]}""#;
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", probe, "bash"])
            .arg(&script)
            .arg(tool)
            .output()
            .expect("run bash");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{tool}'s bash completion: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.lines().any(|l| l.trim() == "--root"),
            "{tool}'s bash completion of --ro gave {text:?}"
        );
    }
}

#[test]
fn zsh_fish_and_powershell_completions_are_generated() {
    ensure_bins();
    let zsh = Command::new("zsh").arg("--version").output().is_ok();
    if !zsh {
        component_missing("zsh");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for tool in TOOLS {
        let text = generate(tool, "complete-zsh");
        assert!(
            text.starts_with(&format!("#compdef {tool}")),
            "{tool}: {text:.80}"
        );
        if zsh {
            let file = dir.path().join(format!("_{tool}"));
            std::fs::write(&file, &text).expect("write");
            let out = Command::new("zsh")
                .arg("-n")
                .arg(&file)
                .output()
                .expect("zsh");
            assert!(out.status.success(), "zsh -n _{tool}: {out:?}");
        }
        assert!(generate(tool, "complete-fish").contains(&format!("complete -c {tool}")));
        assert!(generate(tool, "complete-powershell").contains(tool));
    }
}

#[test]
fn usage_errors_are_one_line_with_the_tools_prefix() {
    ensure_bins();
    for tool in TOOLS {
        for args in [
            &["--no-such-flag"][..],
            &["--generate", "tcsh"][..],
            &["--generate", "man", "--verbose"][..],
            &["--root"][..],
        ] {
            let out = Command::new(bin(tool)).args(args).output().expect("run");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{tool} {args:?}: {err}");
            assert!(
                out.stdout.is_empty(),
                "{tool} {args:?}: stdout {:?}",
                out.stdout
            );
            assert_eq!(err.lines().count(), 1, "{tool} {args:?}: {err}");
            assert!(
                err.starts_with(&format!("{tool}: ")),
                "{tool} {args:?}: {err}"
            );
        }
    }
}

#[test]
fn help_fits_the_terminal_without_split_lines() {
    ensure_bins();
    for tool in TOOLS {
        for cols in ["80", "100"] {
            let out = Command::new(bin(tool))
                .arg("--help")
                .env("COLUMNS", cols)
                .output()
                .expect("run");
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).expect("utf-8");
            let width: usize = cols.parse().expect("number");
            for line in text.lines() {
                // clap's own usage line lists every flag and may be longer.
                if line.starts_with("Usage:") {
                    continue;
                }
                assert!(
                    line.chars().count() <= width,
                    "{tool} --help at {cols} columns: {line:?}"
                );
            }
        }
    }
}

/// `-` is standard input wherever a tool reads a file; a backup (read at random offsets,
/// checked against the sidecar beside it) says plainly that it cannot come from there.
#[test]
fn dash_means_standard_input() {
    use std::io::Write;
    ensure_bins();
    let run = |tool: &str, args: &[&str], input: &str| {
        let mut child = Command::new(bin(tool))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
        child.wait_with_output().expect("wait")
    };
    // mobius-judge - and mobius-judge FILE judge the same samples alike.
    let mut samples = String::new();
    for i in 0..6 {
        samples.push_str(&format!(
            "{{\"type\":\"sample\",\"seq\":{},\"ts\":\"2026-11-26T12:00:0{i}.000Z\",\"target\":\"t\",\"ok\":true,\"status\":200,\"latency_ms\":1.0,\"error\":null,\"detail\":\"\"}}\n",
            i + 1
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("run.jsonl");
    std::fs::write(&log, &samples).expect("write");
    let from_stdin = run("mobius-judge", &["-"], &samples);
    let from_file = run("mobius-judge", &[log.to_str().expect("utf-8")], "");
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    assert_eq!(from_stdin.stdout, from_file.stdout);

    // mobius-smoke --spec -: a spec that does not parse, read from stdin, is exit 3 naming it.
    let out = run("mobius-smoke", &["--spec", "-"], "{ not json");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard input"));
    let demo_root = mobius_tests::temp_root();
    let demo = mobius_tests::Demo::start(demo_root.path(), "staging");
    let spec = format!(
        r#"{{"base_url": "{}", "checks": [{{"name": "health", "path": "/health"}}]}}"#,
        demo.url
    );
    let out = run("mobius-smoke", &["--spec", "-"], &spec);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // mobius-probe --cacert -: what stdin holds is read as the CA file.
    let out = run(
        "mobius-probe",
        &[
            "--url",
            "https://127.0.0.1:1/",
            "--count",
            "1",
            "--cacert",
            "-",
        ],
        "no certificate here\n",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    // A backup from stdin: a usage error that says why.
    for (tool, args) in [
        ("mobius-verify", &["-"][..]),
        (
            "mobius-rollback",
            &["--env", "staging", "--backup", "-"][..],
        ),
    ] {
        let out = run(tool, args, "");
        assert_eq!(out.status.code(), Some(2), "{tool}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not from standard input"));
    }
}

/// The one setup command: says what it would install, and refuses a flag it does not know.
#[test]
fn dev_setup_dry_run_and_flags() {
    let script = mobius_tests::repo_dir().join("scripts/dev-setup.sh");
    let out = Command::new(&script)
        .args(["--dry-run", "--tests-only"])
        .output()
        .expect("run dev-setup.sh");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run: nothing installed"));
    let out = Command::new(&script).arg("--bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let help = Command::new(&script).arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&help.stdout);
    for tool in [
        "aiosmtpd",
        "chromium",
        "prometheus",
        "ansible-core",
        "hyperfine",
        "zsh",
    ] {
        assert!(text.contains(tool), "--help does not list {tool}: {text}");
    }
}
