//! mobius-verify end to end: the real binary on real zip files, its JSON decoded into the
//! real record types, cross-checked with the real `unzip -t` and `sha256sum -c`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Cross-checked with the real sha256sum, unzip and sh: Unix tools.
#![cfg(unix)]

mod common;

use assert_cmd::Command;
use common::*;
use mobius_core::records::{Record, VerifyRecord};
use mobius_verify::kind;
use std::path::Path;

fn verify_cmd() -> Command {
    Command::cargo_bin("mobius-verify").unwrap()
}

/// Runs the binary on paths; returns exit code and the verify records.
fn run(args: &[&str]) -> (i32, Vec<VerifyRecord>, String) {
    let out = verify_cmd().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        verify_records(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_one(zip: &Path, extra: &[&str]) -> (i32, VerifyRecord, String) {
    let mut args = vec![zip.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, mut recs, err) = run(&args);
    assert_eq!(recs.len(), 1, "one record per backup; stderr: {err}");
    (code, recs.remove(0), err)
}

#[test]
fn a_good_backup_verifies_and_passes_the_standard_tools_too() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = spec.write(dir.path());
    let (code, rec, err) = run_one(&zip, &[]);
    assert_eq!(code, 0, "{rec:?} {err}");
    assert!(rec.ok && rec.problems.is_empty());
    assert_eq!(rec.mode, "deep");
    assert_eq!(rec.entries as usize, spec.files.len() + spec.dirs.len());
    assert_eq!(rec.path, zip.to_str().unwrap());
    assert!(err.contains("OK"), "{err}");
    let name = spec.file_name();
    assert!(tool_ok(dir.path(), "unzip", &["-tq", &name]));
    assert!(tool_ok(
        dir.path(),
        "sha256sum",
        &["-c", &format!("{name}.sha256")]
    ));
}

#[test]
fn quick_checks_the_sidecar_only() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = spec.write(dir.path());
    let (code, rec, _) = run_one(&zip, &["--quick"]);
    assert_eq!(
        (code, rec.ok, rec.mode.as_str(), rec.entries),
        (0, true, "quick", 0)
    );
    // A manifest that lies is invisible to --quick (the sidecar was made after it) but not
    // to the deep check.
    let mut m = spec.manifest();
    m.files[0].sha256 = "0".repeat(64);
    write_backup(&zip, &spec.zip_bytes_with(&serde_json::to_vec(&m).unwrap()));
    assert_eq!(run_one(&zip, &["--quick"]).0, 0);
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&rec), vec![kind::SHA256_MISMATCH]);
    assert_eq!(
        rec.problems[0].entry.as_deref(),
        Some(m.files[0].path.as_str())
    );
}

#[test]
fn missing_sidecar_is_an_incomplete_backup() {
    let dir = tempfile::tempdir().unwrap();
    let zip = small_spec().write(dir.path());
    std::fs::remove_file(sidecar(&zip)).unwrap();
    for mode in [&[][..], &["--quick"][..]] {
        let (code, rec, err) = run_one(&zip, mode);
        assert_eq!(code, 1);
        assert_eq!(kinds(&rec), vec![kind::SIDECAR_MISSING]);
        assert!(err.contains("sidecar_missing"), "{err}");
    }
}

#[test]
fn edited_sidecars_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let zip = small_spec().write(dir.path());
    let side = sidecar(&zip);
    let good = std::fs::read_to_string(&side).unwrap();
    let base = zip.file_name().unwrap().to_str().unwrap().to_owned();

    // Another hash.
    let mut other = good.clone();
    other.replace_range(0..1, if good.starts_with('0') { "1" } else { "0" });
    std::fs::write(&side, &other).unwrap();
    let (code, rec, _) = run_one(&zip, &["--quick"]);
    assert_eq!((code, kinds(&rec)), (1, vec![kind::SIDECAR_MISMATCH]));
    assert!(!tool_ok(
        dir.path(),
        "sha256sum",
        &["-c", &format!("{base}.sha256")]
    ));

    // Another file's name.
    std::fs::write(
        &side,
        good.replace(&base, "dhash_production_20250101T000000.000Z.zip"),
    )
    .unwrap();
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!((code, kinds(&rec)), (1, vec![kind::SIDECAR_NAME_MISMATCH]));

    // Not a sidecar at all: exit 3, naming the file.
    std::fs::write(&side, "this is not a checksum\n").unwrap();
    let (code, rec, err) = run_one(&zip, &[]);
    assert_eq!((code, kinds(&rec)), (3, vec![kind::SIDECAR_UNPARSEABLE]));
    assert!(
        rec.problems[0].detail.contains(&format!("{base}.sha256")),
        "{rec:?}"
    );
    assert!(err.contains(&format!("{base}.sha256")), "{err}");
}

#[test]
fn truncation_is_caught_at_any_length() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let bytes = spec.zip_bytes();
    let zip = dir.path().join(spec.file_name());
    let l = layout(&bytes);
    for cut in [
        1,
        10,
        22,
        bytes.len() - l.cd_start,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let keep = bytes.len() - cut;
        // The sidecar is for the truncated file: the deep check alone must notice.
        write_backup(&zip, &bytes[..keep]);
        let (code, rec, _) = run_one(&zip, &[]);
        assert_eq!(code, 1, "cut to {keep}: {rec:?}");
        assert!(!rec.ok);
        assert!(
            !tool_ok(dir.path(), "unzip", &["-tq", &spec.file_name()]),
            "unzip -t passes a zip cut to {keep}"
        );
        // With the original sidecar, even --quick notices.
        std::fs::write(&zip, &bytes).unwrap();
        write_sidecar(&zip);
        std::fs::write(&zip, &bytes[..keep]).unwrap();
        assert_eq!(run_one(&zip, &["--quick"]).0, 1);
    }
}

#[test]
fn appended_bytes_are_caught_even_with_a_matching_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let mut bytes = spec.zip_bytes();
    bytes.extend_from_slice(b"\0appended");
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&rec), vec![kind::TRAILING_BYTES]);
    assert!(rec.problems[0].detail.starts_with("9 bytes"), "{rec:?}");
}

#[test]
fn an_edited_manifest_is_caught_even_with_a_matching_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = dir.path().join(spec.file_name());

    let mut m = spec.manifest();
    m.files[1].size += 1;
    write_backup(&zip, &spec.zip_bytes_with(&serde_json::to_vec(&m).unwrap()));
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&rec), vec![kind::SIZE_MISMATCH]);
    assert_eq!(
        rec.problems[0].entry.as_deref(),
        Some(m.files[1].path.as_str())
    );

    let mut m = spec.manifest();
    m.files[2].mode = 0o600;
    write_backup(&zip, &spec.zip_bytes_with(&serde_json::to_vec(&m).unwrap()));
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!((code, kinds(&rec)), (1, vec![kind::MODE_MISMATCH]));

    // Valid zip, valid sidecar, manifest not JSON: exit 3 naming the backup.
    write_backup(
        &zip,
        &spec.zip_bytes_with(b"{\"format\": \"mobius-backup/1\", oops"),
    );
    let (code, rec, err) = run_one(&zip, &[]);
    assert_eq!(code, 3, "{rec:?}");
    assert!(kinds(&rec).contains(&kind::MANIFEST_UNPARSEABLE));
    assert!(
        err.contains(&spec.file_name()) && err.contains("MOBIUS-MANIFEST.json"),
        "{err}"
    );

    let mut m = spec.manifest();
    m.format = "mobius-backup/9".into();
    write_backup(&zip, &spec.zip_bytes_with(&serde_json::to_vec(&m).unwrap()));
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!((code, kinds(&rec)), (3, vec![kind::MANIFEST_UNSUPPORTED]));
}

#[test]
fn a_zip_renamed_into_another_backups_name_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let bytes = spec.zip_bytes();
    for other in [
        format!("dhash_production_{STAMP2}.zip"),
        format!("dhash_staging_{STAMP}.zip"),
        format!("other_production_{STAMP}.zip"),
        "backup.zip".to_owned(),
    ] {
        let zip = dir.path().join(&other);
        write_backup(&zip, &bytes);
        // The standard tools cannot tell: the bytes are intact and the sidecar matches.
        assert!(tool_ok(dir.path(), "unzip", &["-tq", &other]));
        assert!(tool_ok(
            dir.path(),
            "sha256sum",
            &["-c", &format!("{other}.sha256")]
        ));
        let (code, rec, _) = run_one(&zip, &[]);
        assert_eq!(
            (code, kinds(&rec)),
            (1, vec![kind::NAME_MISMATCH]),
            "{other}"
        );
    }
}

#[test]
fn missing_and_extra_entries_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = dir.path().join(spec.file_name());

    // The manifest lists a file and a directory the zip does not hold.
    let mut m = spec.manifest();
    m.files.push(mobius_core::backups::ManifestFile {
        path: "gone.json".into(),
        size: 2,
        sha256: mobius_core::digest::sha256_hex(b"{}"),
        mode: 0o644,
    });
    m.dirs.push("gone-dir/".into());
    write_backup(&zip, &spec.zip_bytes_with(&serde_json::to_vec(&m).unwrap()));
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&rec), vec![kind::ENTRY_MISSING, kind::ENTRY_MISSING]);
    let entries: Vec<_> = rec
        .problems
        .iter()
        .map(|p| p.entry.clone().unwrap())
        .collect();
    assert_eq!(entries, vec!["gone.json", "gone-dir/"]);

    // The zip holds a file and a directory the manifest does not list.
    let mut extra = spec.clone();
    extra.files.push(FileSpec {
        path: "smuggled.sh".into(),
        content: b"rm -rf /\n".to_vec(),
        mode: 0o755,
    });
    extra.dirs.push("stash/".into());
    write_backup(
        &zip,
        &extra.zip_bytes_with(&serde_json::to_vec(&spec.manifest()).unwrap()),
    );
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    let mut got: Vec<_> = rec
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.entry.clone().unwrap()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (kind::ENTRY_EXTRA, "smuggled.sh".to_owned()),
            (kind::ENTRY_EXTRA, "stash/".to_owned())
        ]
    );
}

#[test]
fn unsafe_names_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    for (placeholder, evil) in [
        ("zz/evil", "../evil"),
        ("zzzzzzzzz", "/etc/evil"),
        ("zzzz", "C:\\x"),
        ("zzzzzzzz", "a/../../"),
        ("zzz", "CON"),
    ] {
        let mut spec = small_spec();
        spec.files.push(FileSpec {
            path: placeholder.into(),
            content: b"payload".to_vec(),
            mode: 0o644,
        });
        let json = serde_json::to_vec(&spec.manifest()).unwrap();
        let mut bytes = spec.zip_bytes_with(&json);
        rename_entry(&mut bytes, placeholder, evil);
        let zip = dir.path().join(spec.file_name());
        write_backup(&zip, &bytes);
        let (code, rec, _) = run_one(&zip, &[]);
        assert_eq!(code, 1, "{evil}");
        assert!(
            rec.problems
                .iter()
                .any(|p| p.kind == kind::UNSAFE_NAME && p.entry.as_deref() == Some(evil)),
            "{evil}: {rec:?}"
        );
        // Never handed to a caller that extracts.
        let opened = mobius_verify::OpenedBackup::open(&zip, mobius_verify::Mode::Deep).unwrap();
        assert!(opened.entries().iter().all(|e| e.name != evil));
    }
}

#[test]
fn duplicate_entries_are_caught_also_up_to_case() {
    let dir = tempfile::tempdir().unwrap();
    for (second, dup, k) in [
        ("database.jsoo", "database.json", kind::DUPLICATE_ENTRY),
        ("database.jsoo", "DATABASE.json", kind::DUPLICATE_ENTRY_CASE),
    ] {
        let mut spec = small_spec();
        spec.files.push(FileSpec {
            path: second.into(),
            content: b"{\"evil\":true}".to_vec(),
            mode: 0o644,
        });
        let json = serde_json::to_vec(&spec.manifest()).unwrap();
        let mut bytes = spec.zip_bytes_with(&json);
        rename_entry(&mut bytes, second, dup);
        let zip = dir.path().join(spec.file_name());
        write_backup(&zip, &bytes);
        let (code, rec, _) = run_one(&zip, &[]);
        assert_eq!(code, 1);
        assert!(
            rec.problems
                .iter()
                .any(|p| p.kind == k && p.entry.as_deref() == Some(dup)),
            "{dup}: {rec:?}"
        );
        let opened = mobius_verify::OpenedBackup::open(&zip, mobius_verify::Mode::Deep).unwrap();
        let n = opened
            .entries()
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case("database.json"))
            .count();
        assert!(n <= 1, "a duplicate reached the visitor list");
    }
}

#[test]
fn damaged_entry_data_fails_verify_and_unzip_alike() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let mut bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let (name, _, start, end) = l
        .entries
        .iter()
        .find(|e| e.0 == "database.json")
        .cloned()
        .unwrap();
    bytes[(start + end) / 2] ^= 0x55;
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert_eq!(rec.problems[0].entry.as_deref(), Some(name.as_str()));
    assert!(!tool_ok(dir.path(), "unzip", &["-tq", &spec.file_name()]));
}

#[test]
fn several_backups_one_record_each_worst_exit_wins() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_spec().write(dir.path());
    let mut spec2 = small_spec();
    spec2.stamp = STAMP2.into();
    let bad = spec2.write(dir.path());
    std::fs::remove_file(sidecar(&bad)).unwrap();
    let missing = dir.path().join("dhash_production_20200101T000000.000Z.zip");
    let (code, recs, _) = run(&[
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(recs.len(), 3);
    assert!(recs[0].ok);
    assert_eq!(kinds(&recs[1]), vec![kind::SIDECAR_MISSING]);
    assert_eq!(kinds(&recs[2]), vec![kind::BACKUP_MISSING]);
}

#[test]
fn latest_picks_the_newest_backup_even_an_incomplete_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let backups = root.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let root_s = root.to_str().unwrap();

    let (code, recs, err) = run(&["--latest", "--env", "production", "--root", root_s]);
    assert_eq!((code, recs.len()), (1, 0));
    assert!(err.contains("no backups of production"), "{err}");

    let old = small_spec().write(&backups);
    // Same stamp, other env: never chosen for production.
    let mut other_env = small_spec();
    other_env.env = "production-eu".into();
    other_env.stamp = "20991231T235959.999Z".into();
    other_env.write(&backups);
    let (code, recs, _) = run(&["--latest", "--env", "production", "--root", root_s]);
    assert_eq!(code, 0);
    assert_eq!(recs[0].path, old.to_str().unwrap());

    let mut newer = small_spec();
    newer.stamp = STAMP2.into();
    let newer = newer.write(&backups);
    std::fs::remove_file(sidecar(&newer)).unwrap();
    let (code, recs, _) = run(&["--latest", "--env", "production", "--root", root_s]);
    assert_eq!(code, 1);
    assert_eq!(recs[0].path, newer.to_str().unwrap());
    assert_eq!(kinds(&recs[0]), vec![kind::SIDECAR_MISSING]);
}

#[test]
fn history_chain_intact_broken_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let root = mobius_core::Root::new(dir.path());
    let env = mobius_core::EnvName::parse("production").unwrap();
    let root_s = dir.path().to_str().unwrap();
    let args = ["--history", "--env", "production", "--root", root_s];

    let out = verify_cmd().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let Record::HistoryCheck(h) = records(&out.stdout).remove(0) else {
        panic!("not a history_check record")
    };
    assert!(!h.ok && h.first_bad_line.is_none());
    assert!(h.problem.unwrap().contains("does not exist"));

    for i in 0..5 {
        mobius_core::history::append(
            &root,
            &env,
            "backup",
            "success",
            serde_json::json!({"i": i}),
        )
        .unwrap();
    }
    let out = verify_cmd().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let Record::HistoryCheck(h) = records(&out.stdout).remove(0) else {
        panic!()
    };
    assert_eq!((h.ok, h.lines, h.first_bad_line), (true, 5, None));
    assert_eq!(h.env, "production");

    // Edit line 3: the chain breaks at line 4, whose prev no longer matches.
    let path = root.history_file(&env);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"i\":2", "\"i\":7", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let out = verify_cmd().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let Record::HistoryCheck(h) = records(&out.stdout).remove(0) else {
        panic!()
    };
    assert_eq!((h.ok, h.first_bad_line), (false, Some(4)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_help_ends_with_the_exit_codes() {
    for args in [
        &["--latest"][..],
        &["--history", "--env", "../prod"][..],
        &["--latest", "--env", "prod;rm -rf /"][..],
        &[][..],
        &["--bogus"][..],
    ] {
        verify_cmd().args(args).assert().code(2);
    }
    let help = verify_cmd().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.trim_end().ends_with(
            mobius_core::exit::EXIT_CODE_HELP
                .lines()
                .last()
                .unwrap()
                .trim()
        ),
        "{text}"
    );
    assert!(text.contains("\"type\":\"verify\""));
    let version = verify_cmd().arg("--version").output().unwrap();
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("mobius-verify "));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let zip = small_spec().write(dir.path());
    let z = zip.to_str().unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' '{z}' '{z}' '{z}' '{z}' | head -c 1 >/dev/null",
            assert_cmd::cargo::cargo_bin("mobius-verify").display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_file_used_as_a_directory_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.files.push(FileSpec {
        path: "app.jsoo/x".into(),
        content: b"x".to_vec(),
        mode: 0o644,
    });
    let json = serde_json::to_vec(&spec.manifest()).unwrap();
    let mut bytes = spec.zip_bytes_with(&json);
    rename_entry(&mut bytes, "app.jsoo/x", "app.json/x");
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let (code, rec, _) = run_one(&zip, &[]);
    assert_eq!(code, 1);
    assert!(
        rec.problems
            .iter()
            .any(|p| p.kind == kind::PATH_CONFLICT && p.entry.as_deref() == Some("app.json/x")),
        "{rec:?}"
    );
}
