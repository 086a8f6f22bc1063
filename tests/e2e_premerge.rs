//! The pre-merge scripts against the demo service in a temporary root: deploy_dryrun.sh,
//! migration_dryrun.sh and premerge_orchestration.sh, with real failures injected.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The scripts are bash and the database rehearsal uses Unix sockets.
#![cfg(unix)]

use mobius_tests::{script_cmd, stderr_of, temp_root, Demo};
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(script: &str, root: &Path, args: &[&str]) -> Output {
    script_cmd(script, root).args(args).output().unwrap()
}

fn demo_root(env: &str) -> (tempfile::TempDir, Demo) {
    let root = temp_root();
    let demo = Demo::start(root.path(), env);
    demo.point_config_at_me(root.path(), env);
    (root, demo)
}

#[test]
fn deploy_dryrun_passes_against_the_demo_and_prints_the_plan() {
    let (root, _demo) = demo_root("staging");
    let out = run("deploy_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    for step in ["1. backup:", "2. deploy:", "3. smoke:", "4. monitor:"] {
        assert!(plan.contains(step), "{plan}");
    }
    // It changed nothing: no backups dir, no history.
    assert!(!root.path().join("backups").exists());
    assert!(!root.path().join("history").exists());
}

#[test]
fn deploy_dryrun_lists_every_problem() {
    let (root, _demo) = demo_root("staging");
    let cfg = root.path().join("config").join("staging");
    std::fs::remove_file(cfg.join("app.json")).unwrap();
    std::fs::write(cfg.join("database.json"), "{\"host\": ").unwrap();
    let out = run("deploy_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let listed: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("deploy_dryrun.sh:   - "))
        .collect();
    assert!(
        listed
            .iter()
            .any(|l| l.contains("app.json") && l.contains("missing")),
        "{err}"
    );
    assert!(
        listed
            .iter()
            .any(|l| l.contains("database.json") && l.contains("does not parse")),
        "{err}"
    );
}

#[test]
fn deploy_dryrun_reports_an_unreachable_health_url() {
    let root = temp_root();
    let demo = Demo::start(root.path(), "staging");
    demo.point_config_at_me(root.path(), "staging");
    drop(demo);
    let out = run("deploy_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("health URL"),
        "{}",
        stderr_of(&out)
    );
}

fn write_migrations(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    dir
}

#[test]
fn migration_dryrun_plans_pending_and_refuses_invalid_or_changed_migrations() {
    let root = temp_root();
    let dir = write_migrations(
        root.path(),
        &[
            ("V2__add_index.sql", "CREATE INDEX i ON items(name);\n"),
            ("V1__create_items.sql", "CREATE TABLE items(name text);\n"),
        ],
    );
    let out = run("migration_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    let v1 = plan.find("1. ").unwrap();
    assert!(plan[v1..].starts_with("1. ") && plan.contains("V1__create_items.sql"));
    assert!(
        plan.find("V1__create_items.sql").unwrap() < plan.find("V2__add_index.sql").unwrap(),
        "{plan}"
    );

    // V1 applied (recorded with mobius-history, as an operator would), then edited.
    let sha = mobius_core::digest::sha256_file(&dir.join("V1__create_items.sql"))
        .unwrap()
        .0;
    let hist = std::process::Command::new(mobius_tests::bin("mobius-history"))
        .args([
            "--env",
            "staging",
            "--action",
            "migration",
            "--outcome",
            "applied",
            "--detail",
            "file=V1__create_items.sql",
            "--detail",
            "version=1",
            "--detail",
        ])
        .arg(format!("sha256={sha}"))
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    assert!(hist.status.success(), "{}", stderr_of(&hist));
    let out = run("migration_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        !plan.contains("V1__create_items.sql") && plan.contains("V2__add_index.sql"),
        "{plan}"
    );

    std::fs::write(
        dir.join("V1__create_items.sql"),
        "CREATE TABLE items(x int);\n",
    )
    .unwrap();
    let out = run("migration_dryrun.sh", root.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("V1__create_items.sql") && err.contains(&sha) && err.contains("changed"),
        "{err}"
    );

    let other = temp_root();
    write_migrations(other.path(), &[("V1__bad-name.sql", "SELECT 1;")]);
    let out = run("migration_dryrun.sh", other.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("V1__bad-name.sql"));

    // No migrations directory: nothing to do, said plainly.
    let none = temp_root();
    let out = run("migration_dryrun.sh", none.path(), &["--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing pending"));
}

fn summary(root: &Path, out: &Output) -> (PathBuf, serde_json::Value) {
    let art = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(art.starts_with(root.join("premerge_artifacts")), "{art:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(art.join("summary.json")).unwrap()).unwrap();
    (art, json)
}

fn outcomes(summary: &serde_json::Value) -> Vec<(String, String)> {
    summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn premerge_runs_every_step_and_summarises_them() {
    let (root, _demo) = demo_root("staging");
    write_migrations(root.path(), &[("V1__create_items.sql", "SELECT 1;")]);
    let out = run(
        "premerge_orchestration.sh",
        root.path(),
        &["--env", "staging"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let (art, s) = summary(root.path(), &out);
    assert_eq!(s["type"], "premerge_summary");
    assert_eq!(s["ok"], true);
    let expect: Vec<(String, String)> = [
        "deploy_dryrun",
        "migration_dryrun",
        "backup",
        "verify_backup",
        "smoke",
    ]
    .iter()
    .map(|n| ((*n).to_owned(), "pass".to_owned()))
    .collect();
    assert_eq!(outcomes(&s), expect);
    for step in s["steps"].as_array().unwrap() {
        assert_eq!(step["exit_code"], 0);
        for f in step["artifacts"].as_array().unwrap() {
            assert!(art.join(f.as_str().unwrap()).is_file(), "{f}");
        }
    }
    assert!(art.join("smoke").join("junit.xml").is_file());
    let backup_out = std::fs::read_to_string(art.join("03_backup.stdout")).unwrap();
    assert!(Path::new(backup_out.trim()).is_file(), "{backup_out}");
    let md = std::fs::read_to_string(art.join("summary.md")).unwrap();
    assert!(md.contains("| 5 | smoke | ✅ pass |"), "{md}");
    assert!(md.contains("- [x] verify_backup"), "{md}");
}

#[test]
fn premerge_fails_a_step_yet_runs_the_later_ones() {
    let (root, _demo) = demo_root("staging");
    // A badly named migration fails step 2; the smoke tests (step 5) still run and pass.
    write_migrations(root.path(), &[("bad.sql", "SELECT 1;")]);
    let out = run(
        "premerge_orchestration.sh",
        root.path(),
        &["--env", "staging"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let (art, s) = summary(root.path(), &out);
    assert_eq!(s["ok"], false);
    let o = outcomes(&s);
    assert_eq!(o[1], ("migration_dryrun".to_owned(), "fail".to_owned()));
    assert_eq!(s["steps"][1]["exit_code"], 1);
    assert_eq!(o[4], ("smoke".to_owned(), "pass".to_owned()));
    assert_eq!(o[2].1, "pass");
    let md = std::fs::read_to_string(art.join("summary.md")).unwrap();
    assert!(
        md.contains("FAILED") && md.contains("- [ ] migration_dryrun"),
        "{md}"
    );
}

#[test]
fn premerge_dry_run_writes_no_backup() {
    let (root, _demo) = demo_root("staging");
    let out = run(
        "premerge_orchestration.sh",
        root.path(),
        &["--env", "staging", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let (_, s) = summary(root.path(), &out);
    assert_eq!(s["dry_run"], true);
    assert_eq!(outcomes(&s)[3].1, "skipped");
    let backups = root.path().join("backups");
    assert!(
        !backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none(),
        "a dry run wrote a backup"
    );
}

#[test]
fn premerge_smoke_tests_the_env_it_validates_unless_told_otherwise() {
    // Two demos, one per env: each smoke spec expects its own env's version and name.
    let root = temp_root();
    let prod = Demo::start(root.path(), "production");
    prod.point_config_at_me(root.path(), "production");
    let staging = Demo::start(root.path(), "staging");
    staging.point_config_at_me(root.path(), "staging");
    for (args, smoke_env, url, other) in [
        (
            &["--env", "production"][..],
            "production",
            &prod.url,
            &staging.url,
        ),
        (
            &["--env", "production", "--smoke-env", "staging"][..],
            "staging",
            &staging.url,
            &prod.url,
        ),
    ] {
        let out = run("premerge_orchestration.sh", root.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        let (art, s) = summary(root.path(), &out);
        assert_eq!(s["env"], "production");
        assert_eq!(s["smoke_env"], smoke_env, "{args:?}");
        // The checks went to that env's service.
        let smoke = std::fs::read_to_string(art.join("smoke/smoke.jsonl")).unwrap();
        assert!(smoke.contains(url.as_str()), "{args:?}: {smoke}");
        assert!(!smoke.contains(other.as_str()), "{args:?}: {smoke}");
    }
}

#[test]
fn help_works_and_a_bad_env_is_a_usage_error() {
    let root = temp_root();
    for script in [
        "deploy_dryrun.sh",
        "migration_dryrun.sh",
        "premerge_orchestration.sh",
    ] {
        let out = run(script, root.path(), &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
        for bad in ["../prod", "Prod", ""] {
            let out = run(script, root.path(), &["--env", bad]);
            assert_eq!(out.status.code(), Some(2), "{script} --env {bad:?}");
        }
        let out = run(script, root.path(), &["--env", "staging", "--bogus"]);
        assert_eq!(out.status.code(), Some(2), "{script}");
    }
    assert!(!root.path().join("premerge_artifacts").exists());
}

/// A throwaway PostgreSQL server on a Unix socket in a temp dir; stopped on drop.
struct Postgres {
    dir: tempfile::TempDir,
    pg_ctl: PathBuf,
    as_postgres: bool,
    url: String,
}

impl Postgres {
    /// None when no PostgreSQL server binaries are installed (or, as root, no `postgres`
    /// user to run them as: initdb refuses root).
    fn start() -> Option<Postgres> {
        let bin_dir = ["/usr/local/bin", "/usr/bin"]
            .iter()
            .map(PathBuf::from)
            .chain(
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path().join("bin")),
            )
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())?;
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if root
            && !std::process::Command::new("id")
                .arg("postgres")
                .output()
                .ok()
                .is_some_and(|o| o.status.success())
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres {
            url: format!(
                "postgresql:///postgres?host={}&port={port}&user=postgres",
                dir.path().display()
            ),
            dir,
            pg_ctl: bin_dir.join("pg_ctl"),
            as_postgres: root,
        };
        let data = pg.dir.path().join("data");
        let init = pg
            .cmd(&bin_dir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres"])
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {}", stderr_of(&init));
        let start = pg
            .cmd(&pg.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-k {} -c listen_addresses='' -p {port}",
                pg.dir.path().display()
            ))
            .arg("-l")
            .arg(pg.dir.path().join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            start.status.success(),
            "pg_ctl start: {}",
            stderr_of(&start)
        );
        Some(pg)
    }

    fn cmd(&self, program: &Path) -> std::process::Command {
        if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        }
    }

    fn query(&self, sql: &str) -> String {
        let out = std::process::Command::new("psql")
            .args(["-X", "-At", "--dbname", &self.url, "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql: {}", stderr_of(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .cmd(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn migration_dryrun_rehearses_against_a_real_database_and_rolls_back() {
    let Some(pg) = Postgres::start() else {
        eprintln!("no PostgreSQL server binaries (initdb, pg_ctl): rehearsal not tested");
        return;
    };
    let root = temp_root();
    let dir = write_migrations(
        root.path(),
        &[
            (
                "V1__create_items.sql",
                "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);\n",
            ),
            (
                "V2__add_index.sql",
                "CREATE INDEX items_name_idx ON items (name);\n",
            ),
        ],
    );
    let out = run(
        "migration_dryrun.sh",
        root.path(),
        &["--env", "staging", "--database-url", &pg.url],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let echo = String::from_utf8_lossy(&out.stdout);
    for result in ["CREATE TABLE", "CREATE INDEX", "ROLLBACK"] {
        assert!(echo.lines().any(|l| l == result), "{result} in {echo}");
    }
    assert_eq!(pg.query("SELECT to_regclass('items') IS NULL"), "t");

    std::fs::write(
        dir.join("V3__broken.sql"),
        "CREATE INDEX broken ON no_such_table (x);\n",
    )
    .unwrap();
    let out = run(
        "migration_dryrun.sh",
        root.path(),
        &["--env", "staging", "--database-url", &pg.url],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("no_such_table") && err.contains("REHEARSAL FAILED"),
        "{err}"
    );
    assert_eq!(pg.query("SELECT to_regclass('items') IS NULL"), "t");
}
