//! Every single flipped byte must fail verification: with the original sidecar (which alone
//! catches all), and with a sidecar regenerated after the flip, so that the deep checks
//! alone must catch flips in entry data, local headers, the central directory, the end
//! record and the manifest. Also: other writers' zips (data descriptors, ZIP64, Python's
//! zipfile, Info-ZIP's zip) must verify clean, so strictness does not reject good backups.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Unix modes and the real zip/unzip: Unix behaviour.
#![cfg(unix)]

mod common;

use assert_cmd::Command;
use common::*;
use mobius_verify::{kind, verify, Mode};
use std::collections::BTreeMap;
use std::path::Path;

/// Offsets whose bytes no reader gives a meaning to; the crate docs list them as covered
/// by the sidecar only.
fn cosmetic_offsets(l: &Layout) -> Vec<usize> {
    let mut v = Vec::new();
    for (i, &(p, is_dir)) in l.central.iter().enumerate() {
        let manifest = l.entries[i].0 == "MOBIUS-MANIFEST.json";
        v.push(p + 4); // version made by, low byte
        v.extend([p + 36, p + 37]); // internal attributes
        v.extend([p + 38, p + 39]); // DOS half of the external attributes
        if is_dir || manifest {
            // Permission bits of directories and of the manifest: no manifest counterpart.
            v.push(p + 40);
        }
    }
    v
}

fn region(l: &Layout, off: usize) -> &'static str {
    if off >= l.eocd {
        return "end record";
    }
    if off >= l.cd_start {
        return "central directory";
    }
    for (name, local, data, end) in &l.entries {
        if off >= *local && off < *end {
            let manifest = name == "MOBIUS-MANIFEST.json";
            return match (off < *data, manifest) {
                (true, true) => "manifest local header",
                (true, false) => "local header",
                (false, true) => "manifest data",
                (false, false) => "entry data",
            };
        }
    }
    "between entries"
}

fn sweep(spec: &Spec) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let cosmetic = cosmetic_offsets(&l);
    let zip = dir.path().join(spec.file_name());
    let mut hit: BTreeMap<&str, usize> = BTreeMap::new();
    let mut missed = Vec::new();
    for off in 0..bytes.len() {
        let mut b = bytes.clone();
        b[off] ^= 0xFF;
        // Original sidecar: must fail, even in quick mode (sampled: it is the same check
        // at every offset).
        if off % 5 == 0 {
            std::fs::write(&zip, &bytes).unwrap();
            write_sidecar(&zip);
            std::fs::write(&zip, &b).unwrap();
            let quick = verify(&zip, Mode::Quick, 1).unwrap();
            assert!(!quick.ok(), "offset {off}: quick passed a flipped byte");
        }
        // Regenerated sidecar: the deep checks alone.
        write_backup(&zip, &b);
        let deep = verify(&zip, Mode::Deep, 1).unwrap();
        if cosmetic.contains(&off) {
            continue;
        }
        *hit.entry(region(&l, off)).or_default() += 1;
        if deep.ok() {
            missed.push((off, region(&l, off)));
        }
    }
    assert!(
        missed.is_empty(),
        "flips not detected by the deep check: {missed:?}"
    );
    for r in [
        "entry data",
        "local header",
        "manifest local header",
        "manifest data",
        "central directory",
        "end record",
    ] {
        assert!(
            hit.get(r).copied().unwrap_or(0) > 0,
            "the sweep never touched the {r}"
        );
    }
}

#[test]
fn every_flipped_byte_fails_deep_verification_even_with_a_regenerated_sidecar() {
    sweep(&small_spec());
}

#[test]
fn every_flipped_byte_fails_with_data_descriptors_too() {
    let mut spec = small_spec();
    spec.streamed = true;
    sweep(&spec);
}

#[test]
fn the_binary_exits_1_or_3_for_flips_across_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let cosmetic = cosmetic_offsets(&l);
    let zip = dir.path().join(spec.file_name());
    let step = bytes.len() / 40;
    for off in (0..bytes.len())
        .step_by(step)
        .filter(|o| !cosmetic.contains(o))
    {
        let mut b = bytes.clone();
        b[off] ^= 0xFF;
        write_backup(&zip, &b);
        let out = Command::cargo_bin("mobius-verify")
            .unwrap()
            .arg(&zip)
            .output()
            .unwrap();
        let code = out.status.code().unwrap();
        assert!(
            code == 1 || code == 3,
            "offset {off} ({}): exit {code}",
            region(&l, off)
        );
        let rec = verify_records(&out.stdout).remove(0);
        assert!(!rec.ok && !rec.problems.is_empty());
    }
}

#[test]
fn a_damaged_manifest_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let mut bytes = spec.zip_bytes();
    let l = layout(&bytes);
    let (_, _, start, end) = l.entries.last().cloned().unwrap();
    bytes[(start + end) / 2] ^= 0x01;
    let zip = dir.path().join(spec.file_name());
    write_backup(&zip, &bytes);
    let v = verify(&zip, Mode::Deep, 2).unwrap();
    let kinds: Vec<&str> = v.problems.iter().map(|p| p.kind.as_str()).collect();
    assert!(kinds.contains(&kind::MANIFEST_CORRUPT), "{kinds:?}");
}

fn assert_clean(zip: &Path) {
    let v = verify(zip, Mode::Deep, 2).unwrap();
    assert!(v.ok(), "{:#?}", v.problems);
    let dir = zip.parent().unwrap();
    let name = zip.file_name().unwrap().to_str().unwrap();
    assert!(tool_ok(dir, "unzip", &["-tq", name]));
}

#[test]
fn zips_with_data_descriptors_and_zip64_fields_verify_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = small_spec();
    spec.streamed = true;
    assert_clean(&spec.write(dir.path()));
    let mut spec = small_spec();
    spec.zip64 = true;
    spec.stamp = STAMP2.into();
    assert_clean(&spec.write(dir.path()));
}

/// Writes the spec's tree to disk with its modes.
fn materialize(spec: &Spec, root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in &spec.dirs {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in &spec.files {
        let p = root.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode)).unwrap();
    }
}

#[test]
fn a_backup_written_by_info_zip_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let tree = dir.path().join("tree");
    materialize(&spec, &tree);
    let zip = dir.path().join(spec.file_name());
    let zip_s = zip.to_str().unwrap();
    assert!(tool_ok(&tree, "zip", &["-r", "-q", zip_s, "."]));
    let side = dir.path().join("side");
    std::fs::create_dir(&side).unwrap();
    std::fs::write(
        side.join("MOBIUS-MANIFEST.json"),
        serde_json::to_vec(&spec.manifest()).unwrap(),
    )
    .unwrap();
    assert!(tool_ok(
        &side,
        "zip",
        &["-q", zip_s, "MOBIUS-MANIFEST.json"]
    ));
    write_sidecar(&zip);
    assert_clean(&zip);
}

#[test]
fn a_backup_written_by_pythons_zipfile_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec();
    let tree = dir.path().join("tree");
    materialize(&spec, &tree);
    let zip = dir.path().join(spec.file_name());
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec(&spec.manifest()).unwrap()).unwrap();
    let script = r#"
import os, sys, zipfile
tree, out, manifest = sys.argv[1], sys.argv[2], sys.argv[3]
names = []
for d, subdirs, files in os.walk(tree):
    rel = os.path.relpath(d, tree)
    if rel != ".":
        names.append(rel + "/")
    names += [os.path.normpath(os.path.join(rel, f)) for f in files]
with zipfile.ZipFile(out, "w") as z:
    for n in sorted(names, key=lambda s: s.encode()):
        method = zipfile.ZIP_STORED if n.endswith((".bin", "/")) else zipfile.ZIP_DEFLATED
        z.write(os.path.join(tree, n), n, compress_type=method)
    z.write(manifest, "MOBIUS-MANIFEST.json", compress_type=zipfile.ZIP_DEFLATED)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .args([tree.as_os_str(), zip.as_os_str(), manifest.as_os_str()])
        .status()
        .unwrap();
    assert!(status.success());
    write_sidecar(&zip);
    assert_clean(&zip);
}
