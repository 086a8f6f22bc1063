//! The shared flag parser of scripts/lib/mobius.sh, on its own and through every script:
//! each script only declares its flags, and every flag error is exit 2 with one line naming
//! the flag, before anything else happens (also under --dry-run).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The scripts are bash: Unix tools.
#![cfg(unix)]

use mobius_tests::{repo_dir, stderr_of};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs a small script that declares flags, parses ARGS and prints what it got, one per line.
fn parse(args: &[&str]) -> Output {
    let lib = repo_dir().join("scripts/lib/mobius.sh");
    let program = r#"set -euo pipefail
source "$MOBIUS_LIB"
usage() { echo "Usage: t.sh"; }
n=7 d=1s s=0 v=""
mobius_flag --n number n
mobius_flag --d duration d
mobius_flag --s switch s
mobius_flag --v value v
mobius_flag --p value +
mobius_flag --q switch +
mobius_parse "$@"
printf 'env=%s\n' "$env"
printf 'n=%s\nd=%s\ns=%s\nv=%s\n' "$n" "$d" "$s" "$v"
printf 'pass=%s\n' ${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"}
printf 'dry=%s verbose=%s\n' "$MOBIUS_DRY_RUN" "$MOBIUS_VERBOSE"
bash -c 'printf "root=%s\n" "${MOBIUS_ROOT:-}"'
"#;
    Command::new("bash")
        .arg("-c")
        .arg(program)
        .arg("t.sh")
        .args(args)
        .env("MOBIUS_LIB", lib)
        .env_remove("MOBIUS_ROOT")
        .env_remove("MOBIUS_DRY_RUN")
        .env_remove("MOBIUS_VERBOSE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts exit 2 and exactly one stderr line, equal to `line`.
fn assert_usage_error(out: &Output, line: &str, what: &str) {
    assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr_of(out));
    assert_eq!(stderr_of(out), format!("{line}\n"), "{what}");
}

#[test]
fn parser_sets_declared_variables_and_passes_the_rest_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("some root");
    std::fs::create_dir(&root).unwrap();
    let root = root.to_str().unwrap();
    let out = parse(&[
        "--env",
        "staging",
        "--n",
        "3",
        "--d=1h30m",
        "--s",
        "--v",
        "$(touch pwned); * 'x'",
        "--p",
        "a b",
        "--p=c",
        "--q",
        "--dry-run",
        "--verbose",
        "--root",
        root,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        format!(
            "env=staging\nn=3\nd=1h30m\ns=1\nv=$(touch pwned); * 'x'\n\
             pass=--p\npass=a b\npass=--p\npass=c\npass=--q\n\
             dry=1 verbose=1\nroot={root}\n"
        )
    );
}

#[test]
fn a_root_that_does_not_exist_is_a_usage_error_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let m = missing.to_str().unwrap();
    let out = parse(&["--root", m]);
    assert_usage_error(
        &out,
        &format!(
            "t.sh: --root {m}: does not exist (create it first: the tools never create a root)"
        ),
        "--root",
    );
    assert!(!missing.exists());
}

#[test]
fn parser_keeps_defaults_when_flags_are_absent() {
    let out = parse(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "env=\nn=7\nd=1s\ns=0\nv=\npass=\ndry=0 verbose=0\nroot=\n"
    );
}

#[test]
fn parser_accepts_humantime_durations_and_refuses_others() {
    for good in ["500ms", "10s", "60m", "1h", "1h30m", "2d", "90sec"] {
        let out = parse(&["--d", good]);
        assert_eq!(out.status.code(), Some(0), "{good}: {}", stderr_of(&out));
        assert!(stdout_of(&out).contains(&format!("d={good}\n")), "{good}");
    }
    for bad in ["10x", "10", "s", "1.5s", "-1s", "1 h", "ten"] {
        let out = parse(&["--d", bad]);
        assert_usage_error(
            &out,
            &format!("t.sh: --d: '{bad}' is not a duration (e.g. 90s, 60m)"),
            bad,
        );
    }
}

#[test]
fn parser_errors_are_one_line_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--n"], "t.sh: --n needs a value"),
        (&["--n", "--s"], "t.sh: --n needs a value"),
        (&["--v="], "t.sh: --v needs a value"),
        (&["--env"], "t.sh: --env needs a value"),
        (&["--root"], "t.sh: --root needs a value"),
        (&["--n", "x1"], "t.sh: --n: 'x1' is not a number"),
        (&["--s=1"], "t.sh: --s takes no value"),
        (&["--nope"], "t.sh: unknown option '--nope' (see --help)"),
        (&["--nope=1"], "t.sh: unknown option '--nope' (see --help)"),
        (&["stray"], "t.sh: unexpected argument 'stray' (see --help)"),
        (
            &["--env", "../prod"],
            "t.sh: --env: invalid environment name '../prod': use ^[a-z][a-z0-9_-]{0,31}$",
        ),
    ];
    for (args, line) in cases {
        assert_usage_error(&parse(args), line, &format!("{args:?}"));
    }
}

#[test]
fn parser_help_prints_usage_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = parse(&["--n", "1", flag, "--nope"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout_of(&out), "Usage: t.sh\n");
    }
}

/// Every script that takes the common flags: the eight deploy scripts and demo.sh.
fn scripts() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(repo_dir().join("scripts/deploy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    all.sort();
    all.push(repo_dir().join("scripts/demo.sh"));
    all
}

/// The `mobius_flag --NAME KIND TARGET` declarations of a script: (flag, kind).
fn declared(script: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(script)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("mobius_flag"))
                .then(|| (w.next().unwrap().to_owned(), w.next().unwrap().to_owned()))
        })
        .collect()
}

fn run(script: &Path, root: &Path, args: &[&str]) -> Output {
    // No binary is needed for a flag error: the parser runs before any is looked up.
    Command::new(script)
        .args(args)
        .env("MOBIUS_ROOT", root)
        .env("MOBIUS_BIN_DIR", mobius_tests::bin_dir())
        .env_remove("MOBIUS_MONITOR_DURATION")
        .env_remove("MOBIUS_MONITOR_INTERVAL")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_script_refuses_bad_flags_with_one_line_and_exit_2_also_in_a_dry_run() {
    let scripts = scripts();
    assert_eq!(scripts.len(), 9, "{scripts:?}");
    let root = tempfile::tempdir().unwrap();
    let mut value_flags = 0;
    let mut durations = 0;
    for script in &scripts {
        let name = script.file_name().unwrap().to_str().unwrap();
        let what = |a: &[&str]| format!("{name} {a:?}");

        let help = run(script, root.path(), &["--help"]);
        assert_eq!(help.status.code(), Some(0), "{name} --help");
        let usage = stdout_of(&help);
        for common in ["--env", "--dry-run", "--verbose", "--help"] {
            assert!(usage.contains(common), "{name} --help lacks {common}");
        }

        let args = ["--env", "staging", "--dry-run", "--no-such-flag"];
        let out = run(script, root.path(), &args);
        let line = format!("{name}: unknown option '--no-such-flag' (see --help)");
        assert_usage_error(&out, &line, &what(&args));

        let mut flags = declared(script);
        flags.push(("--env".into(), "env".into()));
        flags.push(("--root".into(), "value".into()));
        for (flag, kind) in &flags {
            assert!(usage.contains(flag.as_str()), "{name} --help lacks {flag}");
            if kind == "switch" {
                continue;
            }
            value_flags += 1;
            let last = ["--env", "staging", "--dry-run", flag.as_str()];
            let before_flag = [flag.as_str(), "--dry-run", "--env", "staging"];
            for args in [&last[..], &before_flag[..]] {
                let args: Vec<&str> = if flag == "--env" {
                    args.iter().copied().filter(|a| *a != "staging").collect()
                } else {
                    args.to_vec()
                };
                let out = run(script, root.path(), &args);
                let line = format!("{name}: {flag} needs a value");
                assert_usage_error(&out, &line, &what(&args));
            }
            let bad = match kind.as_str() {
                "duration" => Some(("10x", "is not a duration (e.g. 90s, 60m)")),
                "number" => Some(("many", "is not a number")),
                _ => None,
            };
            if let Some((value, problem)) = bad {
                durations += usize::from(kind == "duration");
                let args = ["--env", "staging", "--dry-run", flag.as_str(), value];
                let out = run(script, root.path(), &args);
                let line = format!("{name}: {flag}: '{value}' {problem}");
                assert_usage_error(&out, &line, &what(&args));
            }
        }
    }
    // The loop really exercised the scripts' own flags, not only the common ones.
    assert!(value_flags > 40, "{value_flags}");
    assert!(durations >= 5, "{durations}");
    // Nothing was written by any refused command.
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn monitor_reads_its_default_duration_and_interval_from_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let monitor = repo_dir().join("scripts/deploy/monitor.sh");
    let out = Command::new(&monitor)
        .args(["--env", "staging", "--dry-run"])
        .env("MOBIUS_MONITOR_DURATION", "90s")
        .env("MOBIUS_MONITOR_INTERVAL", "250ms")
        .env("MOBIUS_ROOT", root.path())
        .env("MOBIUS_BIN_DIR", mobius_tests::bin_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("would monitor staging for 90s every 250ms"),
        "{}",
        stderr_of(&out)
    );
    // The flag wins over the variable.
    let out = Command::new(&monitor)
        .args(["--env", "staging", "--dry-run", "--duration", "5m"])
        .env("MOBIUS_MONITOR_DURATION", "90s")
        .env("MOBIUS_ROOT", root.path())
        .env("MOBIUS_BIN_DIR", mobius_tests::bin_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("for 5m every 10s"),
        "{}",
        stderr_of(&out)
    );
    // A bad value is named like a bad flag.
    let out = Command::new(&monitor)
        .args(["--env", "staging", "--dry-run"])
        .env("MOBIUS_MONITOR_DURATION", "10x")
        .env("MOBIUS_ROOT", root.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_usage_error(
        &out,
        "monitor.sh: MOBIUS_MONITOR_DURATION: '10x' is not a duration (e.g. 90s, 60m)",
        "MOBIUS_MONITOR_DURATION=10x",
    );
}
