//! Archives that are well-formed zips but hold names no restore can create here (control
//! characters, a component over NAME_MAX, a path over PATH_MAX less the staging reserve):
//! each is a named problem (`unrestorable_name`) with exit 1, and no line printed carries a
//! name's raw control characters. Absurd ZIP64 values: tests/e2e_archive_edges.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use assert_cmd::Command;
use common::*;
use mobius_core::backups::{NAME_MAX, PATH_MAX};
use mobius_verify::{kind, verify, Mode};
use std::path::Path;

fn run_verify(zip: &Path) -> (i32, Vec<mobius_core::records::VerifyRecord>, String) {
    let out = Command::cargo_bin("mobius-verify")
        .unwrap()
        .arg(zip)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code().unwrap(),
        verify_records(&out.stdout),
        stderr,
    )
}

#[test]
fn names_a_restore_cannot_create_are_named_problems_with_exit_1() {
    let long_component = "c".repeat(NAME_MAX + 1);
    let long_path = vec!["d".repeat(200); PATH_MAX / 201 + 1].join("/");
    let cases = [
        ("newline", "bad\nname.txt".to_owned()),
        ("escape sequence", "x\u{1b}[2Jy.txt".to_owned()),
        ("DEL", "del\u{7f}.txt".to_owned()),
        ("tab in a directory", "tab\tdir/f.txt".to_owned()),
        (
            "component over NAME_MAX",
            format!("nested/{long_component}"),
        ),
        ("path over PATH_MAX", format!("{long_path}/f")),
    ];
    for (what, name) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = small_spec();
        spec.files.push(FileSpec {
            path: name.clone(),
            content: b"x".to_vec(),
            mode: 0o644,
        });
        let zip = spec.write(dir.path());
        let v = verify(&zip, Mode::Deep, 1).unwrap();
        let hit = v
            .problems
            .iter()
            .find(|p| p.kind == kind::UNRESTORABLE_NAME)
            .unwrap_or_else(|| panic!("{what}: {:#?}", v.problems));
        assert_eq!(hit.entry.as_deref(), Some(name.as_str()), "{what}");
        let (code, recs, stderr) = run_verify(&zip);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(kinds(&recs[0]).contains(&kind::UNRESTORABLE_NAME), "{what}");
        assert!(
            !stderr.chars().any(|c| c.is_ascii_control() && c != '\n'),
            "{what}: a raw control character reached stderr: {stderr:?}"
        );
    }
}
