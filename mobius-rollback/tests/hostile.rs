//! Backups hostile to the machine they are restored on, or honest backups that look
//! hostile: setuid/setgid bits (never restored), names a restore cannot create (refused by
//! a dry run too), a 300 MB file of zeros and more than 100,000 files (a backup that
//! mobius-backup made and mobius-verify passes is never refused by the bomb limits).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use common::*;
use mobius_verify::{verify, Mode};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn setup() -> (tempfile::TempDir, PathBuf, String) {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    make_tree(
        &config(&root),
        &[("app.json".into(), b"{\"version\":\"live\"}".to_vec())],
    );
    (outer, root, health_server(200))
}

fn restore(root: &Path, backup: &Path, url: &str) -> std::process::Output {
    run_rollback(
        root,
        backup,
        &[
            "--health-url",
            url,
            "--health-interval",
            "10ms",
            "--no-safety-backup",
        ],
    )
}

const SUID_BITS: u32 = 0o6000;

#[test]
fn setuid_and_setgid_bits_are_never_restored() {
    let (_outer, root, url) = setup();
    let live = config(&root);
    // A setuid+setgid file owned by root (the tests run as root) in a real backup.
    let tool = live.join("bin/tool");
    make_tree(&live, &[("bin/tool".into(), b"#!/bin/sh\n".to_vec())]);
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o6755)).unwrap();
    let meta = std::fs::metadata(&tool).unwrap();
    assert_eq!(
        meta.mode() & SUID_BITS,
        SUID_BITS,
        "the fixture must be setuid/setgid"
    );
    let backup = real_backup(&root);
    std::fs::remove_file(&tool).unwrap();
    let out = restore(&root, &backup, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = std::fs::metadata(&tool).unwrap();
    assert_eq!(m.mode() & SUID_BITS, 0, "restored with {:o}", m.mode());
    assert_eq!(m.mode() & 0o777, 0o755);

    // A zip that asks for the bits in both its external attributes and its manifest (and
    // sticky on a file): verification passes (they agree), the restore drops the bits.
    let (_o2, root2, url2) = setup();
    let app = b"{\"version\":\"x\"}";
    let mut entries = vec![file_entry("app.json", app, 0o644)];
    let mut listed_files = vec![listed("app.json", app, 0o644)];
    for (name, mode) in [("suid", 0o4755), ("sgid", 0o2755), ("both", 0o7777)] {
        entries.push(file_entry(name, b"#!/bin/sh\n", mode));
        listed_files.push(listed(name, b"#!/bin/sh\n", mode));
    }
    let crafted = write_backup(&root2, entries, &listed_files, &[]);
    let out = restore(&root2, &crafted, &url2);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in ["suid", "sgid", "both"] {
        let m = std::fs::metadata(config(&root2).join(name)).unwrap();
        assert_eq!(m.mode() & 0o7000, 0, "{name} restored with {:o}", m.mode());
    }
}

#[test]
fn names_a_restore_cannot_create_are_refused_by_a_dry_run_and_nothing_is_written() {
    let long = "n".repeat(mobius_core::backups::NAME_MAX + 1);
    for name in ["evil\nname", "esc\u{1b}]0;x\u{7}", long.as_str()] {
        let (_outer, root, url) = setup();
        let before = snapshot(&root.join("config"));
        let b = write_backup(
            &root,
            vec![
                file_entry("app.json", b"{}", 0o644),
                file_entry(name, b"x", 0o644),
            ],
            &[listed("app.json", b"{}", 0o644), listed(name, b"x", 0o644)],
            &[],
        );
        for extra in [&["--dry-run"][..], &[][..]] {
            let mut args = vec!["--health-url", url.as_str()];
            args.extend_from_slice(extra);
            let out = run_rollback(&root, &b, &args);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name:?} {extra:?}: {}",
                stderr(&out)
            );
            let rec = the_record(&out);
            assert!(
                rec.problems.iter().any(|p| p.kind == "unrestorable_name"),
                "{name:?}: {:?}",
                rec.problems
            );
            let err = stderr(&out);
            assert!(
                !err.chars().any(|c| c.is_ascii_control() && c != '\n'),
                "raw control characters on stderr: {err:?}"
            );
            assert!(!err.contains("evil\nname"), "{err}");
            assert_eq!(snapshot(&root.join("config")), before);
        }
    }
}

#[test]
fn a_target_so_deep_that_the_staged_path_exceeds_path_max_is_refused_by_a_dry_run() {
    let outer = tempfile::tempdir().unwrap();
    // The root itself lies deep: staged names of 3000 bytes then exceed PATH_MAX (4096).
    let mut root = outer.path().to_path_buf();
    while root.as_os_str().len() < 1500 {
        root.push("d".repeat(200));
    }
    make_tree(&config(&root), &[("app.json".into(), b"{}".to_vec())]);
    let url = health_server(200);
    let name = vec!["e".repeat(250); 11].join("/") + "/f";
    assert!(mobius_core::backups::unrestorable_entry_name(&name).is_none());
    let b = write_backup(
        &root,
        vec![
            file_entry("app.json", b"{}", 0o644),
            file_entry(&name, b"x", 0o644),
        ],
        &[listed("app.json", b"{}", 0o644), listed(&name, b"x", 0o644)],
        &[],
    );
    let out = run_rollback(&root, &b, &["--health-url", &url, "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = the_record(&out);
    assert!(
        rec.problems
            .iter()
            .any(|p| p.kind == "unrestorable_name" && p.detail.contains("PATH_MAX")),
        "{:?}",
        rec.problems
    );
}

#[test]
fn a_300_mb_zero_file_backs_up_verifies_and_restores_despite_the_ratio_limit() {
    let (_outer, root, url) = setup();
    let live = config(&root);
    let big = live.join("zeros.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(300_000_000).unwrap();
    drop(f);
    let backup = real_backup(&root);
    let v = verify(&backup, Mode::Deep, 2).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    // The backup really is past the ratio limit, so the limit had to be vouched for.
    let checks = mobius_rollback::check_entries(
        &backup,
        &mobius_rollback::Limits {
            max_total_size: 1 << 30,
            max_entries: 100_000,
            max_ratio: 200,
        },
    )
    .unwrap();
    assert!(
        checks.iter().any(|p| p.kind == "compression_ratio"),
        "{checks:?}"
    );
    std::fs::write(&big, b"small now").unwrap();
    let out = restore(&root, &backup, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 300_000_000);
}

#[test]
fn a_tree_of_more_than_100_000_files_backs_up_verifies_and_restores() {
    let (_outer, root, url) = setup();
    let live = config(&root);
    const N: usize = 100_050;
    for d in 0..=(N / 1000) {
        std::fs::create_dir_all(live.join(format!("d{d:03}"))).unwrap();
    }
    for i in 0..N {
        std::fs::write(live.join(format!("d{:03}/f{i}", i / 1000)), b"").unwrap();
    }
    let backup = real_backup(&root);
    let v = verify(&backup, Mode::Deep, 2).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    std::fs::remove_file(live.join("d000/f0")).unwrap();
    let out = restore(&root, &backup, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(live.join("d000/f0").exists());
    assert!(live.join(format!("d100/f{}", N - 1)).exists());
}

#[test]
fn a_dry_run_escapes_names_from_the_live_tree_in_every_line() {
    let (_outer, root, url) = setup();
    let backup = real_backup(&root);
    // A live file whose name would forge a line and recolour the terminal.
    let evil = "stray\nmobius-rollback: all good\u{1b}[32m";
    std::fs::write(config(&root).join(evil), b"x").unwrap();
    let out = run_rollback(&root, &backup, &["--health-url", &url, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("would remove stray\\x0amobius-rollback: all good\\x1b[32m in "),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        !err.lines()
            .any(|l| l.starts_with("mobius-rollback: all good")),
        "{err}"
    );
}
