//! mobius-rollback against real backups, real malicious zips, a real HTTP health endpoint,
//! the real demo service, and real SIGKILLs.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Unix modes, SIGKILL and the inode-based swap (refused elsewhere): Unix behaviour.
#![cfg(unix)]

mod common;

use common::*;
use mobius_core::lock::EnvLock;
use mobius_core::{EnvName, Root};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A root whose live tree holds a few files, and a health URL that answers 200.
fn setup() -> (tempfile::TempDir, PathBuf, String) {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let url = health_server(200);
    make_tree(
        &config(&root),
        &[
            ("app.json".into(), b"{\"version\":\"live\"}".to_vec()),
            ("database.json".into(), b"{\"pool\":5}".to_vec()),
            ("nested/keep.txt".into(), b"live".to_vec()),
        ],
    );
    (outer, root, url)
}

#[test]
fn a_good_backup_is_restored_exactly_with_a_safety_backup_and_history() {
    let (_outer, root, url) = setup();
    let live = config(&root);
    // The state to return to: made by mobius-backup, with a sub-directory, an empty
    // directory and a mode that is not the default.
    make_tree(
        &live,
        &[
            ("app.json".into(), b"{\"version\":\"good\"}".to_vec()),
            ("sub/deep/x.conf".into(), b"x=1\n".to_vec()),
        ],
    );
    std::fs::create_dir(live.join("empty")).unwrap();
    std::fs::set_permissions(
        live.join("sub/deep/x.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let backup = real_backup(&root);
    let good = snapshot(&live);
    // Then the config goes bad.
    make_tree(
        &live,
        &[
            ("app.json".into(), b"{\"version\":\"bad\"}".to_vec()),
            ("stray.json".into(), b"{}".to_vec()),
        ],
    );
    let bad = snapshot(&live);

    let out = run_rollback(
        &root,
        &backup,
        &["--health-url", &url, "--health-interval", "10ms"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "success");
    assert_eq!(rec.files_restored, 2);
    assert_eq!((rec.added, rec.changed, rec.removed), (1, 1, 1), "{rec:?}");
    let h = rec.health.clone().unwrap();
    assert!(h.ok && h.checks == 3 && h.url == url, "{h:?}");
    assert_eq!(
        rec.sha256,
        mobius_core::digest::sha256_file(&backup).unwrap().0
    );
    assert!(!rec.dry_run && rec.problems.is_empty());
    assert_eq!(
        snapshot(&live),
        good,
        "the target is exactly the backup's content"
    );

    // The safety backup holds the bad tree and verifies; it can undo the rollback.
    let safety = PathBuf::from(rec.safety_backup.clone().unwrap());
    assert!(safety
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("pre-rollback_staging_"));
    let v = mobius_verify::verify_backup(&safety, mobius_verify::Mode::Deep).unwrap();
    assert!(v.ok, "{v:?}");
    let undo = run_rollback(
        &root,
        &safety,
        &["--no-safety-backup", "--health-url", &url],
    );
    assert_eq!(undo.status.code(), Some(0), "{}", stderr(&undo));
    assert_eq!(
        snapshot(&live),
        bad,
        "the safety backup undoes the rollback"
    );

    // Nothing left beside the target; the history tells the story.
    let names: Vec<_> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![ENV.to_owned()]);
    let h = history(&root);
    let pairs: Vec<(&str, &str)> = h.iter().map(|(a, o)| (a.as_str(), o.as_str())).collect();
    assert_eq!(
        pairs,
        vec![
            ("rollback", "started"),
            ("backup", "success"),
            ("rollback", "success"),
            ("rollback", "started"),
            ("rollback", "success"),
        ]
    );
    let chain = mobius_core::history::verify_chain(
        &root.join("history").join(format!("{ENV}.jsonl")),
        None,
    )
    .unwrap();
    assert!(chain.ok());
}

/// The outer temp dir (root included) minus what a refused rollback may write: its history
/// event and the lock file.
fn everything(outer: &Path) -> Snapshot {
    let mut s = snapshot(outer);
    s.retain(|k, _| !k.starts_with("root/history") && !k.starts_with("root/locks"));
    s
}

struct Case {
    what: &'static str,
    /// Problem kinds that must be among those reported.
    kinds: &'static [&'static str],
    build: fn(&Path) -> PathBuf,
}

fn with_good(root: &Path, mut evil: Vec<RawEntry>, mut evil_listed: Vec<Listed>) -> PathBuf {
    let good = b"{\"version\":\"x\"}";
    evil.insert(0, file_entry("app.json", good, 0o644));
    evil_listed.insert(0, listed("app.json", good, 0o644));
    write_backup(root, evil, &evil_listed, &[])
}

fn named(root: &Path, name: &str) -> PathBuf {
    with_good(
        root,
        vec![file_entry(name, b"pwned", 0o644)],
        vec![listed(name, b"pwned", 0o644)],
    )
}

/// 1e9 zeros, deflated while streaming (about 1 MB); made once.
fn zeros_gb() -> &'static (Vec<u8>, u32) {
    static Z: std::sync::OnceLock<(Vec<u8>, u32)> = std::sync::OnceLock::new();
    Z.get_or_init(|| {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let chunk = vec![0u8; 1 << 20];
        let mut crc = flate2::Crc::new();
        let mut left = 1_000_000_000usize;
        while left > 0 {
            let n = left.min(chunk.len());
            e.write_all(&chunk[..n]).unwrap();
            crc.update(&chunk[..n]);
            left -= n;
        }
        (e.finish().unwrap(), crc.sum())
    })
}

const CASES: &[Case] = &[
    // Names: refused when the backup is opened (verify's name checks) and by the entry
    // checks, before the staging directory exists.
    Case {
        what: "../../x",
        kinds: &["unsafe_name"],
        build: |r| named(r, "../../x"),
    },
    Case {
        what: "/etc/x",
        kinds: &["unsafe_name"],
        build: |r| named(r, "/etc/x"),
    },
    Case {
        what: "C:\\x",
        kinds: &["unsafe_name"],
        build: |r| named(r, "C:\\x"),
    },
    Case {
        what: "a/../../x",
        kinds: &["unsafe_name"],
        build: |r| named(r, "a/../../x"),
    },
    Case {
        what: "CON",
        kinds: &["unsafe_name"],
        build: |r| named(r, "CON"),
    },
    // A symlink, then a file written through it: the symlink is refused by its mode
    // (verify: not_regular; entry checks: not_regular), the file by its parent being a
    // non-directory (path_conflict, both layers).
    Case {
        what: "symlink then a file through it",
        kinds: &["not_regular", "path_conflict"],
        build: |r| {
            with_good(
                r,
                vec![
                    symlink_entry("link", "/tmp"),
                    file_entry("link/mobius-evil", b"pwned", 0o644),
                ],
                vec![
                    listed("link", b"/tmp", 0o777),
                    listed("link/mobius-evil", b"pwned", 0o644),
                ],
            )
        },
    },
    // Duplicates: the zip crate keeps one of them silently; verify and the entry checks
    // both see the central directory's second copy.
    Case {
        what: "duplicate names",
        kinds: &["duplicate_entry"],
        build: |r| {
            with_good(
                r,
                vec![file_entry("app.json", b"{\"evil\":1}", 0o644)],
                vec![],
            )
        },
    },
    Case {
        what: "names equal up to case",
        kinds: &["duplicate_entry_case", "duplicate_entry"],
        build: |r| {
            with_good(
                r,
                vec![file_entry("APP.json", b"{}", 0o644)],
                vec![listed("APP.json", b"{}", 0o644)],
            )
        },
    },
    // 1 GB of zeros whose headers (and manifest) say 1000 bytes: the entry checks' ratio
    // limit cannot see it (1000 bytes from 1 MB), so it reaches extraction, where the
    // reader stops one byte past the declared size (verify: entry_corrupt) and the staged
    // copy is removed.
    Case {
        what: "1 GB of zeros behind a header that says 1000 bytes",
        kinds: &["entry_corrupt"],
        build: |r| {
            let (data, crc) = zeros_gb().clone();
            let lie = RawEntry {
                name: b"bomb.bin".to_vec(),
                data,
                method: 8,
                crc,
                size: 1000,
                mode: 0o100_644,
                share_local_of: None,
            };
            with_good(r, vec![lie], vec![listed("bomb.bin", &[0u8; 1000], 0o644)])
        },
    },
    // The same bytes with honest headers: refused by the entry checks' ratio limit before
    // anything is inflated (the manifest's hash is not even looked at).
    Case {
        what: "1 GB of zeros, honestly declared",
        kinds: &["compression_ratio"],
        build: |r| {
            let (data, crc) = zeros_gb().clone();
            let honest = RawEntry {
                name: b"bomb.bin".to_vec(),
                data,
                method: 8,
                crc,
                size: 1_000_000_000,
                mode: 0o100_644,
                share_local_of: None,
            };
            with_good(
                r,
                vec![honest],
                vec![Listed {
                    path: "bomb.bin".into(),
                    size: 1_000_000_000,
                    sha256: "0".repeat(64),
                    mode: 0o644,
                }],
            )
        },
    },
    // Two central entries sharing one local header and its data: the entry checks see the
    // overlap in the central directory, before anything is read.
    Case {
        what: "overlapping entries",
        kinds: &["overlap"],
        build: |r| {
            let content = b"{\"version\":\"x\"}";
            let mut second = file_entry("app.json", content, 0o644);
            second.name = b"other.json".to_vec();
            second.share_local_of = Some(0);
            write_backup(
                r,
                vec![file_entry("app.json", content, 0o644), second],
                &[
                    listed("app.json", content, 0o644),
                    listed("other.json", content, 0o644),
                ],
                &[],
            )
        },
    },
];

#[test]
fn every_malicious_archive_is_refused_and_nothing_is_touched() {
    assert!(
        !Path::new("/etc/x").exists(),
        "/etc/x exists before the test"
    );
    for case in CASES {
        let (outer, root, url) = setup();
        let backup = (case.build)(&root);
        let before = everything(outer.path());
        let out = run_rollback(&root, &backup, &["--health-url", &url]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", case.what);
        let rec = the_record(&out);
        assert_eq!(rec.outcome, "refused", "{}", case.what);
        assert_eq!(rec.files_restored, 0);
        let kinds: Vec<&str> = rec.problems.iter().map(|p| p.kind.as_str()).collect();
        for k in case.kinds {
            assert!(kinds.contains(k), "{}: {k} not in {kinds:?}", case.what);
        }
        assert!(err.contains("REFUSED"), "{}: {err}", case.what);
        assert_eq!(
            everything(outer.path()),
            before,
            "{}: something changed outside history/ and locks/",
            case.what
        );
        assert_eq!(
            history(&root),
            vec![
                ("rollback".to_owned(), "started".to_owned()),
                ("rollback".to_owned(), "refused".to_owned())
            ]
        );
        assert!(!Path::new("/etc/x").exists());
        assert!(!Path::new("/tmp/mobius-evil").exists());
    }
}

#[test]
fn the_raw_writer_makes_backups_that_restore_so_refusals_are_the_entries_fault() {
    let (_outer, root, url) = setup();
    let backup = raw_backup(
        &root,
        &[("app.json", b"{\"version\":\"raw\"}"), ("b.txt", b"b")],
    );
    let out = run_rollback(
        &root,
        &backup,
        &["--health-url", &url, "--health-interval", "10ms"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(config(&root).join("app.json")).unwrap(),
        b"{\"version\":\"raw\"}"
    );
    assert!(!config(&root).join("nested").exists());
}

#[test]
fn corrupted_and_incomplete_backups_are_refused() {
    let (outer, root, url) = setup();
    let backup = real_backup(&root);
    make_tree(&config(&root), &[("app.json".into(), b"bad".to_vec())]);
    let before = everything(outer.path());
    // One byte flipped in the middle of the zip.
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&backup, &bytes).unwrap();
    let out = run_rollback(&root, &backup, &["--health-url", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "refused");
    assert!(
        rec.problems.iter().any(|p| p.kind == "sidecar_mismatch"),
        "{rec:?}"
    );
    let mut after = everything(outer.path());
    after.remove(&format!(
        "root/backups/{}",
        backup.file_name().unwrap().to_str().unwrap()
    ));
    let mut before = before;
    before.remove(&format!(
        "root/backups/{}",
        backup.file_name().unwrap().to_str().unwrap()
    ));
    assert_eq!(after, before);
    // Without its sidecar.
    std::fs::remove_file(mobius_core::backups::sidecar_path(&backup)).unwrap();
    let out = run_rollback(&root, &backup, &["--health-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(the_record(&out)
        .problems
        .iter()
        .any(|p| p.kind == "sidecar_missing"));
}

#[test]
fn dry_run_lists_changes_and_writes_nothing() {
    let (outer, root, url) = setup();
    let backup = raw_backup(
        &root,
        &[
            ("app.json", b"{\"version\":\"new\"}"),
            ("database.json", b"{\"pool\":5}"),
            ("add.txt", b"+"),
        ],
    );
    let before = snapshot(outer.path());
    let out = run_rollback(&root, &backup, &["--dry-run", "--health-url", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = the_record(&out);
    assert!(rec.dry_run);
    assert_eq!(rec.outcome, "checked");
    assert_eq!((rec.added, rec.changed, rec.removed), (1, 1, 1));
    let err = stderr(&out);
    assert!(err.contains("would add add.txt"), "{err}");
    assert!(err.contains("would change app.json"), "{err}");
    assert!(err.contains("would remove nested/keep.txt"), "{err}");
    assert_eq!(snapshot(outer.path()), before, "a dry run writes nothing");
}

#[test]
fn without_any_health_url_the_rollback_is_refused_before_the_swap() {
    let (outer, root, _url) = setup();
    let backup = raw_backup(&root, &[("app.json", b"{\"version\":\"no url\"}")]);
    let before = everything(outer.path());
    let out = run_rollback(&root, &backup, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-health-check"));
    assert_eq!(the_record(&out).outcome, "refused");
    assert_eq!(everything(outer.path()), before);
    // Said explicitly, it goes through.
    let out = run_rollback(&root, &backup, &["--no-health-check", "--no-safety-backup"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(the_record(&out).health.is_none());
}

#[test]
fn a_held_lock_fails_at_once_naming_the_holder() {
    let (_outer, root, url) = setup();
    let backup = raw_backup(&root, &[("app.json", b"{}")]);
    let _held = EnvLock::acquire(
        &Root::new(&root),
        &EnvName::parse(ENV).unwrap(),
        "mobius-backup",
        Duration::ZERO,
    )
    .unwrap();
    let before = snapshot(&config(&root));
    let out = run_rollback(&root, &backup, &["--health-url", &url]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("mobius-backup pid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&config(&root)), before);
}

#[test]
fn a_failing_restart_command_or_unhealthy_service_puts_the_old_tree_back() {
    let (_outer, root, _url) = setup();
    let backup = raw_backup(&root, &[("app.json", b"{\"version\":\"x\"}")]);
    let before = snapshot(&config(&root));
    let out = run_rollback(
        &root,
        &backup,
        &[
            "--no-health-check",
            "--restart-cmd",
            "echo restarting; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "failure");
    assert!(rec.reason.unwrap().contains("restart command"));
    assert!(
        stderr(&out).contains("restarting"),
        "the command's output goes to stderr"
    );
    assert_eq!(snapshot(&config(&root)), before);

    let bad = health_server(503);
    let out = run_rollback(
        &root,
        &backup,
        &[
            "--health-url",
            &bad,
            "--health-timeout",
            "1s",
            "--health-interval",
            "100ms",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "failure");
    let h = rec.health.unwrap();
    assert!(!h.ok && h.checks >= 2, "{h:?}");
    assert_eq!(snapshot(&config(&root)), before);
    assert!(stderr(&out).contains("put back"));
    let names: Vec<_> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![ENV.to_owned()]);
}

#[test]
fn against_the_demo_a_good_backup_heals_and_a_bad_one_is_rolled_back_itself() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().to_path_buf();
    // The demo must have a config to start with.
    make_tree(
        &config(&root),
        &[("app.json".into(), app_json("http://127.0.0.1:1", true, "0"))],
    );
    let demo = Demo::start(&root, ENV);
    let health = format!("{}/health", demo.url);
    // The good state, backed up by mobius-backup.
    make_tree(
        &config(&root),
        &[
            ("app.json".into(), app_json(&demo.url, true, "1.0-good")),
            ("database.json".into(), b"{\"pool\":5}".to_vec()),
        ],
    );
    let good_backup = real_backup(&root);
    let good = snapshot(&config(&root));
    // A bad deploy: the service turns unhealthy.
    make_tree(
        &config(&root),
        &[("app.json".into(), app_json(&demo.url, false, "2.0-bad"))],
    );
    let bad_backup = real_backup(&root);
    let bad = snapshot(&config(&root));
    assert!(wait_for_status(&health, 503));

    // Rolling back to the good backup heals it; the URL comes from the restored app.json.
    let out = run_rollback(&root, &good_backup, &["--health-interval", "200ms"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.health.as_ref().unwrap().url, health);
    assert_eq!(snapshot(&config(&root)), good);
    assert_eq!(http_status(&health), Some(200));

    // "Rolling back" to the bad backup: the service stays unhealthy, so the rollback is
    // rolled back itself and the good tree stays.
    let out = run_rollback(
        &root,
        &bad_backup,
        &["--health-timeout", "3s", "--health-interval", "200ms"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert_eq!(rec.outcome, "failure");
    assert!(!rec.health.unwrap().ok);
    assert_eq!(snapshot(&config(&root)), good);
    assert_ne!(snapshot(&config(&root)), bad);
    assert!(wait_for_status(&health, 200));
}

/// A small xorshift generator: the seed is printed so a failure can be replayed with
/// MOBIUS_KILL_SEED.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_mixed_tree_and_a_rerun_finishes() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let url = health_server(200);
    let old_files: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| {
            (
                format!("old/d{}/f{i}.conf", i % 7),
                format!("old {i}\n").repeat(20).into_bytes(),
            )
        })
        .chain([("app.json".to_owned(), b"{\"version\":\"old\"}".to_vec())])
        .collect();
    let new_files: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| {
            (
                format!("new/d{}/f{i}.conf", i % 11),
                format!("new {i}\n").repeat(40).into_bytes(),
            )
        })
        .chain([("app.json".to_owned(), b"{\"version\":\"new\"}".to_vec())])
        .collect();
    make_tree(&config(&root), &new_files);
    let backup = real_backup(&root);
    let new = snapshot(&config(&root));
    make_tree(&config(&root), &old_files);
    let old = snapshot(&config(&root));
    let args = |c: &mut std::process::Command| {
        c.args(["--env", ENV, "--root"])
            .arg(&root)
            .arg("--backup")
            .arg(&backup)
            .args([
                "--health-url",
                &url,
                "--health-checks",
                "5",
                "--health-interval",
                "40ms",
            ]);
    };

    // How long one rollback takes here (the quickest of 3), to spread the kills over all
    // of its phases.
    let mut span = u64::MAX;
    for _ in 0..3 {
        make_tree(&config(&root), &old_files);
        let t0 = Instant::now();
        let mut c = rollback();
        args(&mut c);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        span = span.min(t0.elapsed().as_micros() as u64);
        assert_eq!(snapshot(&config(&root)), new);
    }

    let seed = std::env::var("MOBIUS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!(
        "sigkill test: seed {seed} (replay with MOBIUS_KILL_SEED={seed}), one run takes {span} µs"
    );
    let mut rng = Rng(seed);
    let (mut saw_old, mut saw_new, mut mid_swap) = (0, 0, 0);
    for run in 0..24 {
        make_tree(&config(&root), &old_files);
        let delay = rng.next() % (span + span / 2).max(1);
        let mut c = rollback();
        args(&mut c);
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        let now = snapshot(&config(&root));
        // Killed between the journal and the end: the next run must finish or undo it.
        if root
            .join("locks")
            .join(format!("{ENV}.rollback.journal"))
            .exists()
        {
            mid_swap += 1;
        }
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!("run {run} (seed {seed}, kill after {delay} µs): the target is neither the old tree nor the backup's content");
        }
        // A re-run finishes the job and leaves nothing behind.
        let mut c = rollback();
        args(&mut c);
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {run} (seed {seed}): {}",
            stderr(&out)
        );
        assert_eq!(snapshot(&config(&root)), new, "run {run} (seed {seed})");
        let names: Vec<_> = std::fs::read_dir(root.join("config"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![ENV.to_owned()], "run {run} (seed {seed})");
    }
    eprintln!("sigkill test: after the kill, {saw_old} runs had the old tree and {saw_new} the restored one; {mid_swap} were killed with the journal written (around the swap)");
}
