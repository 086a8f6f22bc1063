//! The library API rollback and export use: extract while verifying, each entry read once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobius_verify::{kind, Error, Method, Mode, OpenedBackup};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Extracts into memory through the visitor, as rollback would into a staging directory.
fn extract(
    zip: &std::path::Path,
    threads: usize,
) -> (BTreeMap<String, Vec<u8>>, mobius_verify::Verified) {
    let opened = OpenedBackup::open(zip, Mode::Deep).unwrap();
    let got = Mutex::new(BTreeMap::new());
    let verified = opened
        .for_each_entry(threads, |meta, r| {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf)?;
            got.lock().unwrap().insert(meta.name.clone(), buf);
            Ok(())
        })
        .unwrap();
    (got.into_inner().unwrap(), verified)
}

#[test]
fn extracting_through_the_visitor_yields_exactly_the_backed_up_files() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = spec.write(dir.path());
    for threads in [1, 2, 4] {
        let (got, verified) = extract(&zip, threads);
        assert!(verified.ok(), "{:?}", verified.problems);
        for f in &spec.files {
            assert_eq!(
                got.get(&f.path),
                Some(&f.content),
                "{} with {threads} threads",
                f.path
            );
        }
        for d in &spec.dirs {
            assert_eq!(got.get(d).map(Vec::len), Some(0));
        }
        assert!(
            !got.contains_key("MOBIUS-MANIFEST.json"),
            "the manifest is not content"
        );
        assert_eq!(got.len(), spec.files.len() + spec.dirs.len());
        assert_eq!(
            verified.sha256,
            mobius_core::digest::sha256_file(&zip).unwrap().0
        );
    }
}

#[test]
fn entries_carry_what_a_restorer_checks_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = spec.write(dir.path());
    let opened = OpenedBackup::open(&zip, Mode::Deep).unwrap();
    assert!(opened.problems().is_empty());
    assert_eq!(opened.manifest().unwrap().env, "production");
    let names: Vec<&str> = opened.entries().iter().map(|e| e.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "archive order is path order");
    let run = opened
        .entries()
        .iter()
        .find(|e| e.name == "run.sh")
        .unwrap();
    assert_eq!(
        (run.mode, run.is_dir, run.method),
        (0o755, false, Method::Deflated)
    );
    assert_eq!(
        run.manifest_sha256,
        mobius_core::digest::sha256_hex(b"#!/bin/sh\necho hi\n")
    );
    assert_eq!((run.size, run.manifest_size), (18, 18));
    let blob = opened
        .entries()
        .iter()
        .find(|e| e.name.ends_with("blob.bin"))
        .unwrap();
    assert_eq!(
        (blob.method, blob.size, blob.compressed_size),
        (Method::Stored, 1500, 1500)
    );
    let d = opened
        .entries()
        .iter()
        .find(|e| e.name == "nested/deeper/")
        .unwrap();
    assert!(d.is_dir && d.mode == 0o755);
    let db = opened
        .entries()
        .iter()
        .find(|e| e.name == "database.json")
        .unwrap();
    assert_eq!(db.mode, 0o600);
    assert!(db.compressed_size < db.size);
}

#[test]
fn in_archive_order_on_one_thread_and_partial_reads_are_still_verified() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let zip = spec.write(dir.path());
    let opened = OpenedBackup::open(&zip, Mode::Deep).unwrap();
    let seen = Mutex::new(Vec::new());
    let v = opened
        .for_each_entry(1, |meta, r| {
            seen.lock().unwrap().push(meta.index);
            // Read one byte only: the rest must still be hashed.
            let mut one = [0u8; 1];
            let _ = r.read(&mut one)?;
            Ok(())
        })
        .unwrap();
    assert!(v.ok());
    let seen = seen.into_inner().unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(
        v.bytes as usize,
        spec.files.iter().map(|f| f.content.len()).sum::<usize>()
    );
}

#[test]
fn damage_reaches_the_visitor_as_an_error_and_the_pass_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let mut bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let (_, _, start, _) = l
        .entries
        .iter()
        .find(|e| e.0 == "database.json")
        .cloned()
        .unwrap();
    bytes[start + 5] ^= 0xFF;
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let opened = OpenedBackup::open(&zip, Mode::Deep).unwrap();
    let visited = Mutex::new(Vec::new());
    let v = opened
        .for_each_entry(1, |meta, r| {
            let mut buf = Vec::new();
            let res = r.read_to_end(&mut buf).map(|_| ());
            visited
                .lock()
                .unwrap()
                .push((meta.name.clone(), res.is_err()));
            res
        })
        .unwrap();
    assert!(!v.ok());
    assert_eq!(v.problems[0].kind, kind::ENTRY_CORRUPT);
    assert_eq!(v.problems[0].entry.as_deref(), Some("database.json"));
    let visited = visited.into_inner().unwrap();
    assert_eq!(
        visited.len(),
        spec.files.len() + spec.dirs.len(),
        "later entries still visited"
    );
    assert!(visited
        .iter()
        .any(|(n, failed)| n == "database.json" && *failed));
}

#[test]
fn a_visitor_failure_stops_the_pass_and_names_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let zip = small_spec().write(dir.path());
    let opened = OpenedBackup::open(&zip, Mode::Deep).unwrap();
    for threads in [1, 2] {
        let err = opened
            .for_each_entry(threads, |meta, _| {
                if meta.name == "empty.txt" {
                    Err(std::io::Error::other("disk full"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        match &err {
            Error::Visitor { entry, source, .. } => {
                assert_eq!(entry, "empty.txt");
                assert_eq!(source.to_string(), "disk full");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            mobius_core::ToolError::exit(&err),
            mobius_core::Exit::Runtime
        );
    }
}

#[test]
fn an_entry_whose_header_lies_about_its_size_never_inflates_past_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    let zeros = vec![0u8; 8 * 1024 * 1024];
    spec.files.push(FileSpec {
        path: "zeros.txt".into(),
        content: zeros,
        mode: 0o644,
    });
    let mut bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let i = l.entries.iter().position(|e| e.0 == "zeros.txt").unwrap();
    let (_, local, _, _) = l.entries[i];
    let (central, _) = l.central[i];
    let claim = 1000u32.to_le_bytes();
    bytes[local + 22..local + 26].copy_from_slice(&claim);
    bytes[central + 24..central + 28].copy_from_slice(&claim);
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let opened = OpenedBackup::open(&zip, Mode::Deep).unwrap();
    let meta = opened
        .entries()
        .iter()
        .find(|e| e.name == "zeros.txt")
        .cloned();
    assert_eq!(
        meta.map(|m| m.size),
        Some(1000),
        "the claim is what a restorer checks"
    );
    let delivered = Mutex::new(0usize);
    let v = opened
        .for_each_entry(1, |meta, r| {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        if meta.name == "zeros.txt" {
                            *delivered.lock().unwrap() += n;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .unwrap();
    assert!(*delivered.lock().unwrap() <= 1000);
    assert!(v
        .problems
        .iter()
        .any(|p| p.kind == kind::ENTRY_CORRUPT && p.detail.contains("more than the 1000 bytes")));
}
