//! mobius-backup as an operator runs it: the real binary on real trees, its zips checked with
//! the real `sha256sum -c`, `unzip -t`, `unzip -Z1` and `unzip`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Unix modes, symlinks, FIFOs, sockets and the real sha256sum/unzip: Unix behaviour.
#![cfg(unix)]

use assert_cmd::Command;
use mobius_core::backups::{sidecar_path, Manifest, MANIFEST_NAME};
use mobius_core::records::{BackupRecord, Event, Record};
use mobius_core::{EnvName, Root};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn bin() -> Command {
    Command::cargo_bin("mobius-backup").unwrap()
}

fn backup(root: &Path, args: &[&str]) -> Output {
    bin().arg("--root").arg(root).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn record(o: &Output) -> BackupRecord {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one record: {text}");
    match serde_json::from_str::<Record>(lines[0]).unwrap() {
        Record::Backup(b) => b,
        other => panic!("not a backup record: {other:?}"),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Deterministic bytes that deflate cannot shrink.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn sh(dir: &Path, cmd: &str, args: &[&str]) -> Output {
    std::process::Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn read_manifest(zip: &Path) -> Manifest {
    let mut a = zip::ZipArchive::new(fs::File::open(zip).unwrap()).unwrap();
    let m = a.by_name(MANIFEST_NAME).unwrap();
    serde_json::from_reader(m).unwrap()
}

/// A tree with every awkward case the issue names.
fn awkward_tree(cfg: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut add = |rel: &str, bytes: Vec<u8>| {
        write(&cfg.join(rel), &bytes);
        files.insert(rel.to_owned(), bytes);
    };
    add("app.json", b"{\"port\": 8080, \"workers\": 4}\n".to_vec());
    add(
        "database.json",
        "{\"url\": \"postgres://db\"}\n".repeat(200).into_bytes(),
    );
    add("nested/deeper/still/deep.conf", b"key=value\n".to_vec());
    add("with space/a file name.txt", b"spaces\n".to_vec());
    add(
        "ütf-8 ✓/naïve – config.json",
        "{\"ok\": \"ü\"}\n".as_bytes().to_vec(),
    );
    add("empty.txt", Vec::new());
    add("a-b.txt", b"sorts before a/ in byte order\n".to_vec());
    add("a/inner.txt", b"inner\n".to_vec());
    // 20 MB: streamed by the writer thread, half text and half noise.
    let mut big = "log line with some repetition 1234567890\n"
        .repeat(10 << 20 >> 5)
        .into_bytes();
    big.truncate(10 << 20);
    big.extend(noise(10 << 20, 7));
    add("big/blob.bin", big);
    fs::create_dir_all(cfg.join("empty dir")).unwrap();
    fs::set_permissions(cfg.join("app.json"), fs::Permissions::from_mode(0o640)).unwrap();
    files
}

#[test]
fn backs_up_an_awkward_tree_that_sha256sum_and_unzip_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = root.join("config/production");
    let files = awkward_tree(&cfg);

    let out = backup(root, &["--env", "production"]);
    let rec = record(&out);
    let zip = PathBuf::from(&rec.path);
    let dir = root.join("backups");
    assert_eq!(zip.parent().unwrap(), dir);
    let name = zip.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("dhash_production_") && name.ends_with(".zip"));
    assert_eq!(rec.env, "production");
    assert_eq!(rec.files, files.len() as u64);
    assert_eq!(
        rec.bytes_in,
        files.values().map(|b| b.len() as u64).sum::<u64>()
    );
    assert_eq!(rec.bytes_out, fs::metadata(&zip).unwrap().len());
    assert!(rec.bytes_out < rec.bytes_in, "text was compressed: {rec:?}");
    assert!(!rec.dry_run);
    assert!(rec.deleted.is_empty());
    assert_eq!(
        rec.sha256,
        mobius_core::digest::sha256_file(&zip).unwrap().0
    );

    // The sidecar is sha256sum's format naming `backups/<zip>`: the real sha256sum -c accepts
    // it from the root as the framework's emergency procedure runs it, and no `backups -> .`
    // link is made for it.
    let side = fs::read_to_string(sidecar_path(&zip)).unwrap();
    assert_eq!(side, format!("{}  backups/{name}\n", rec.sha256));
    assert!(
        fs::symlink_metadata(dir.join("backups")).is_err(),
        "no link"
    );
    let check = sh(
        root,
        "sha256sum",
        &["-c", &format!("backups/{name}.sha256")],
    );
    assert!(check.status.success(), "{}", stderr(&check));
    // A moved copy is checked with the README's one-liner.
    let moved = tempfile::tempdir().unwrap();
    fs::copy(&zip, moved.path().join(&name)).unwrap();
    fs::copy(
        sidecar_path(&zip),
        moved.path().join(format!("{name}.sha256")),
    )
    .unwrap();
    let check = sh(
        moved.path(),
        "sh",
        &[
            "-c",
            &format!("sed 's#  .*/#  #' {name}.sha256 | sha256sum -c"),
        ],
    );
    assert!(check.status.success(), "{}", stderr(&check));
    let test = sh(&dir, "unzip", &["-t", &name]);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );

    // Entries sorted by byte order, directories included, the manifest last.
    let list = sh(&dir, "unzip", &["-Z1", &name]);
    let listed: Vec<String> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<String> = files.keys().cloned().collect();
    for d in [
        "a/",
        "big/",
        "empty dir/",
        "nested/",
        "nested/deeper/",
        "nested/deeper/still/",
        "with space/",
        "ütf-8 ✓/",
    ] {
        expected.push(d.to_owned());
    }
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    expected.push(MANIFEST_NAME.to_owned());
    assert_eq!(listed, expected);

    // Extracted with the real unzip, every byte comes back, and the empty dir too.
    let x = root.join("extracted");
    let ex = sh(
        root,
        "unzip",
        &["-q", zip.to_str().unwrap(), "-d", "extracted"],
    );
    assert!(ex.status.success(), "{}", stderr(&ex));
    for (rel, bytes) in &files {
        assert_eq!(&fs::read(x.join(rel)).unwrap(), bytes, "{rel}");
    }
    assert!(x.join("empty dir").is_dir());
    assert_eq!(mode(&x.join("app.json")), 0o640, "mode stored in the zip");

    // The manifest describes every file and where the backup came from.
    let m = read_manifest(&zip);
    assert_eq!(m.format, "mobius-backup/1");
    assert_eq!((m.env.as_str(), m.name.as_str()), ("production", "dhash"));
    let stamp = name
        .strip_prefix("dhash_production_")
        .unwrap()
        .strip_suffix(".zip")
        .unwrap();
    assert_eq!(
        mobius_core::time::file_stamp(mobius_core::time::parse_rfc3339(&m.created).unwrap()),
        stamp,
        "created matches the stamp in the name"
    );
    assert_eq!(m.tool, "mobius-backup");
    assert_eq!(m.sources, vec!["config/production".to_owned()]);
    assert!(!m.host.is_empty() && !m.user.is_empty());
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(paths, sorted);
    assert_eq!(m.files.len(), files.len());
    for f in &m.files {
        let bytes = &files[&f.path];
        assert_eq!(f.size, bytes.len() as u64, "{}", f.path);
        assert_eq!(
            f.sha256,
            mobius_core::digest::sha256_hex(bytes),
            "{}",
            f.path
        );
        let want = if f.path == "app.json" { 0o640 } else { 0o644 };
        assert_eq!(f.mode, want, "{}", f.path);
    }
    assert!(m.dirs.contains(&"empty dir/".to_owned()), "{:?}", m.dirs);
    assert!(m.dirs.contains(&"nested/deeper/still/".to_owned()));
}

#[test]
fn backups_are_mode_0600_whatever_the_umask() {
    for umask in ["022", "000"] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(&root.join("config/staging/app.json"), b"{}\n");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("mobius-backup"))
            .args(["--env", "staging", "--root"])
            .arg(root)
            .output()
            .unwrap();
        let rec = record(&out);
        let zip = PathBuf::from(&rec.path);
        assert_eq!(mode(&zip), 0o600, "zip with umask {umask}");
        assert_eq!(
            mode(&sidecar_path(&zip)),
            0o600,
            "sidecar with umask {umask}"
        );
    }
}

#[test]
fn bad_environment_names_exit_2_before_touching_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    for bad in ["../prod", "prod;rm -rf /", "-rf", "", "Prod", "prod\n"] {
        let env_arg = format!("--env={bad}");
        for args in [vec!["--env", bad], vec![env_arg.as_str()]] {
            let out = backup(root, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(out.stdout.is_empty());
        }
    }
    assert_eq!(files_in(root), vec!["config"], "nothing created");
}

/// Makes a fake backup pair (content is irrelevant to retention).
fn fake(dir: &Path, file: &str, sidecar: bool) {
    write(&dir.join(file), b"zip");
    if sidecar {
        write(&dir.join(format!("{file}.sha256")), b"x");
    }
}

fn stamp(day: u32) -> String {
    format!("202601{day:02}T120000.000Z")
}

#[test]
fn retention_keeps_the_newest_ten_and_touches_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/production/app.json"), b"{}\n");
    let dir = root.join("backups");
    // An incomplete backup (no sidecar), older than all: not counted, not deleted.
    fake(&dir, "dhash_production_20251231T000000.000Z.zip", false);
    for day in 1..=11 {
        fake(&dir, &format!("dhash_production_{}.zip", stamp(day)), true);
    }
    let others = [
        format!("dhash_production-eu_{}.zip", stamp(1)),
        format!("dhash_production-eu_{}.zip.sha256", stamp(1)),
        format!("dhash_staging_{}.zip", stamp(1)),
        format!("dhash_staging_{}.zip.sha256", stamp(1)),
        format!("other_production_{}.zip", stamp(1)),
        format!("other_production_{}.zip.sha256", stamp(1)),
        format!(".dhash_production_{}.zip.tmp-999-0", stamp(1)),
        "notes.txt".to_owned(),
        "dhash_production_latest.zip".to_owned(),
    ];
    for f in &others {
        write(&dir.join(f), b"keep me");
    }

    let rec = record(&backup(root, &["--env", "production"]));
    let deleted: Vec<String> = rec
        .deleted
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        deleted,
        vec![
            format!("dhash_production_{}.zip", stamp(1)),
            format!("dhash_production_{}.zip", stamp(2))
        ]
    );
    let left = files_in(&dir);
    let complete: Vec<&String> = left
        .iter()
        .filter(|f| f.starts_with("dhash_production_2") && f.ends_with(".zip"))
        .filter(|f| left.contains(&format!("{f}.sha256")))
        .collect();
    assert_eq!(complete.len(), 10, "{left:?}");
    for day in [1, 2] {
        let z = format!("dhash_production_{}.zip", stamp(day));
        assert!(!left.contains(&z) && !left.contains(&format!("{z}.sha256")));
    }
    assert!(left.contains(&"dhash_production_20251231T000000.000Z.zip".to_owned()));
    for f in &others {
        assert_eq!(fs::read(dir.join(f)).unwrap(), b"keep me", "{f} untouched");
    }
    // The warning names the leftover temporary file without touching it.
    assert!(
        stderr(&backup(root, &["--env", "production", "--keep", "10"])).contains("temporary file")
    );
}

#[test]
fn keep_sets_how_many_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    for day in 1..=4 {
        fake(
            &root.join("backups"),
            &format!("dhash_prod_{}.zip", stamp(day)),
            true,
        );
    }
    let rec = record(&backup(root, &["--env", "prod", "--keep", "2"]));
    assert_eq!(rec.deleted.len(), 3);
    assert_eq!(
        files_in(&root.join("backups")).len(),
        4,
        "2 pairs left, and no backups -> . link"
    );
    let out = backup(root, &["--env", "prod", "--keep", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn two_backups_in_one_second_get_distinct_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    let names: Vec<String> = (0..3)
        .map(|_| record(&backup(root, &["--env", "prod"])).path)
        .collect();
    assert_eq!(
        names
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "{names:?}"
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names, "names sort in creation order");
    for n in &names {
        let base = Path::new(n).file_name().unwrap().to_str().unwrap();
        assert!(sh(
            root,
            "sha256sum",
            &["-c", &format!("backups/{base}.sha256")]
        )
        .status
        .success());
    }
}

/// Runs a backup expected to be refused: exit 4, the message names `culprit`, and no zip,
/// sidecar or temporary file is left.
fn assert_refused(root: &Path, env: &str, culprit: &str, why: &str) {
    let out = backup(root, &["--env", env]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains(culprit), "names {culprit}: {err}");
    assert!(err.contains(why), "says {why}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(out.stdout.is_empty());
    assert!(
        files_in(&root.join("backups")).is_empty(),
        "no partial backup"
    );
    assert!(!root.join("history").exists());
}

#[test]
fn symlinks_out_of_the_source_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = root.join("config/prod");
    write(&cfg.join("app.json"), b"{}\n");
    write(&root.join("secret.txt"), b"outside\n");
    std::os::unix::fs::symlink("../../secret.txt", cfg.join("leak.txt")).unwrap();
    assert_refused(root, "prod", "leak.txt", "outside the source");

    fs::remove_file(cfg.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", cfg.join("etc")).unwrap();
    assert_refused(root, "prod", "etc", "outside the source");

    fs::remove_file(cfg.join("etc")).unwrap();
    std::os::unix::fs::symlink("nowhere.json", cfg.join("dangling.json")).unwrap();
    assert_refused(root, "prod", "dangling.json", "does not exist");

    fs::remove_file(cfg.join("dangling.json")).unwrap();
    fs::create_dir_all(cfg.join("sub")).unwrap();
    std::os::unix::fs::symlink("sub", cfg.join("loop")).unwrap();
    assert_refused(root, "prod", "loop", "directory");
}

#[test]
fn a_symlink_to_a_file_inside_the_source_is_archived_as_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = root.join("config/prod");
    write(&cfg.join("v2/app.json"), b"{\"v\": 2}\n");
    std::os::unix::fs::symlink("v2/app.json", cfg.join("current.json")).unwrap();
    let rec = record(&backup(root, &["--env", "prod"]));
    let m = read_manifest(Path::new(&rec.path));
    let current = m.files.iter().find(|f| f.path == "current.json").unwrap();
    assert_eq!(
        current.sha256,
        mobius_core::digest::sha256_hex(b"{\"v\": 2}\n")
    );
}

#[test]
fn special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = root.join("config/prod");
    write(&cfg.join("app.json"), b"{}\n");
    let fifo = cfg.join("sub/pipe");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    assert_refused(root, "prod", "sub/pipe", "FIFO");

    fs::remove_file(&fifo).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(cfg.join("app.sock")).unwrap();
    assert_refused(root, "prod", "app.sock", "socket");
}

#[test]
fn unreadable_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = root.join("config/prod");
    write(&cfg.join("app.json"), b"{}\n");
    write(&cfg.join("secret.key"), b"k\n");
    fs::set_permissions(cfg.join("secret.key"), fs::Permissions::from_mode(0o000)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if is_root {
        // Root reads anything, so run the real binary as `nobody`, for whom the rest of the
        // tree is readable and the backups directory writable, but the key is not.
        for d in [root, &root.join("config"), &cfg] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(assert_cmd::cargo::cargo_bin("mobius-backup"));
        c
    } else {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mobius-backup"))
    };
    let out = cmd
        .args(["--env", "prod", "--root"])
        .arg(root)
        .env("USER", "nobody")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("secret.key") && err.contains("permission denied"),
        "{err}"
    );
    assert!(
        files_in(&root.join("backups")).is_empty(),
        "no partial backup: {:?}",
        files_in(&root.join("backups"))
    );
}

#[test]
fn missing_and_empty_sources_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("config/prod") && stderr(&out).contains("does not exist"));

    fs::create_dir_all(root.join("config/prod/only/empty/dirs")).unwrap();
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("holds no files"), "{}", stderr(&out));
    assert!(files_in(&root.join("backups")).is_empty());
}

#[test]
fn several_sources_go_under_their_base_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("srv/app/app.json"), b"{}\n");
    write(&root.join("srv/db/db.json"), b"{}\n");
    write(&root.join("single.conf"), b"x=1\n");
    let out_dir = root.join("elsewhere");
    let rec = record(&backup(
        root,
        &[
            "--env",
            "prod",
            "--source",
            "srv/app",
            "--source",
            "srv/db",
            "--source",
            "single.conf",
            "--out",
            out_dir.to_str().unwrap(),
            "--name",
            "multi",
        ],
    ));
    assert!(Path::new(&rec.path).starts_with(&out_dir));
    let m = read_manifest(Path::new(&rec.path));
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["app/app.json", "db/db.json", "single.conf"]);
    assert_eq!(m.name, "multi");
    assert_eq!(m.sources, ["srv/app", "srv/db", "single.conf"]);

    let clash = backup(
        root,
        &[
            "--env",
            "prod",
            "--source",
            "srv/app",
            "--source",
            "srv/../srv/app",
        ],
    );
    assert_eq!(clash.status.code(), Some(2), "{}", stderr(&clash));
}

#[test]
fn the_output_directory_inside_the_source_is_not_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("data/app.json"), b"{}\n");
    for _ in 0..2 {
        let rec = record(&backup(
            root,
            &["--env", "prod", "--source", "data", "--out", "data/backups"],
        ));
        let m = read_manifest(Path::new(&rec.path));
        assert_eq!(m.files.len(), 1, "{:?}", m.files);
    }
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    for day in 1..=10 {
        fake(
            &root.join("backups"),
            &format!("dhash_prod_{}.zip", stamp(day)),
            true,
        );
    }
    let before = files_in(&root.join("backups"));
    let out = backup(root, &["--env", "prod", "--dry-run"]);
    let rec = record(&out);
    assert!(rec.dry_run);
    assert_eq!(rec.files, 1);
    assert!(rec.sha256.is_empty());
    assert_eq!(rec.deleted.len(), 1, "the oldest would make room: {rec:?}");
    assert!(rec.deleted[0].ends_with(&format!("dhash_prod_{}.zip", stamp(1))));
    let err = stderr(&out);
    assert!(
        err.contains("would archive 1 file ") && err.contains("would delete"),
        "{err}"
    );
    assert_eq!(files_in(&root.join("backups")), before);
    assert_eq!(
        files_in(root),
        vec!["backups", "config"],
        "no history, no locks"
    );

    // Refusals show up in a dry run too.
    std::os::unix::fs::symlink("/etc/passwd", root.join("config/prod/pw")).unwrap();
    assert_eq!(
        backup(root, &["--env", "prod", "--dry-run"]).status.code(),
        Some(4)
    );
}

#[test]
fn each_backup_appends_a_chained_history_event() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    let recs: Vec<BackupRecord> = (0..2)
        .map(|_| record(&backup(root, &["--env", "prod"])))
        .collect();
    let env = EnvName::parse("prod").unwrap();
    let path = Root::new(root).history_file(&env);
    let report = mobius_core::history::verify_chain(&path, Some(&env)).unwrap();
    assert!(report.first_break.is_none(), "{:?}", report.first_break);
    assert_eq!(report.lines, 2);
    let text = fs::read_to_string(&path).unwrap();
    for (line, rec) in text.lines().zip(&recs) {
        let ev: Event = serde_json::from_str(line).unwrap();
        assert_eq!(
            (ev.action.as_str(), ev.outcome.as_str()),
            ("backup", "success")
        );
        assert_eq!(ev.details["sha256"], rec.sha256.as_str());
        assert_eq!(ev.details["path"], rec.path.as_str());
        assert_eq!(ev.details["files"], 1);
    }
}

#[test]
fn a_held_lock_fails_at_once_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    let env = EnvName::parse("prod").unwrap();
    let held = mobius_core::lock::EnvLock::acquire(
        &Root::new(root),
        &env,
        "mobius-rollback",
        Duration::ZERO,
    )
    .unwrap();
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mobius-rollback pid"),
        "{}",
        stderr(&out)
    );
    assert!(files_in(&root.join("backups")).is_empty());
    drop(held);
    record(&backup(root, &["--env", "prod"]));
}

#[test]
fn default_root_is_the_working_directory_and_paths_are_relative() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("config/prod/app.json"), b"{}\n");
    let out = bin()
        .current_dir(tmp.path())
        .env_remove("MOBIUS_ROOT")
        .args(["--env", "prod", "--quiet"])
        .output()
        .unwrap();
    let rec = record(&out);
    assert!(rec.path.starts_with("backups/dhash_prod_"), "{}", rec.path);
    assert!(out.stderr.is_empty(), "--quiet: {}", stderr(&out));
}

#[test]
fn help_ends_with_the_exit_codes_and_version_works() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("symlink"), "documents the symlink rule");
    assert!(help.contains("a run cut short"), "{help}");
    assert!(help.trim_end().ends_with("docs/CONTRACT.md"), "{help}");
    let v = bin().arg("--version").output().unwrap();
    assert!(String::from_utf8(v.stdout)
        .unwrap()
        .starts_with("mobius-backup "));
}

#[test]
fn the_library_backs_up_under_the_callers_lock_and_prunes_on_request() {
    // What rollback does: hold the lock, take a safety backup, and (like export) prune.
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path());
    let env = EnvName::parse("prod").unwrap();
    write(&tmp.path().join("config/prod/app.json"), b"{}\n");
    let _held = mobius_core::lock::EnvLock::acquire(&root, &env, "mobius-rollback", Duration::ZERO)
        .unwrap();
    let opts = mobius_backup::BackupOptions::default();
    let reporter = mobius_core::cli::Reporter::silent("mobius-rollback");
    let first = mobius_backup::create_backup(&root, &env, &opts, &reporter).unwrap();
    let second = mobius_backup::create_backup(&root, &env, &opts, &reporter).unwrap();
    assert_ne!(first.path, second.path);
    assert!(Path::new(&second.path).is_file() && sidecar_path(Path::new(&second.path)).is_file());
    assert!(
        !root.history_file(&env).exists(),
        "history is the caller's business"
    );

    let dir = opts.out_dir(&root);
    let would = mobius_backup::apply_retention(&dir, "dhash", &env, 1, true).unwrap();
    assert_eq!(would, vec![PathBuf::from(&first.path)]);
    assert!(Path::new(&first.path).exists(), "dry run deletes nothing");
    let gone = mobius_backup::apply_retention(&dir, "dhash", &env, 1, false).unwrap();
    assert_eq!(gone, would);
    assert!(!Path::new(&first.path).exists() && !sidecar_path(Path::new(&first.path)).exists());
    assert!(Path::new(&second.path).exists());
}

#[test]
fn the_old_backups_link_is_removed_by_the_next_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    fs::create_dir_all(root.join("backups")).unwrap();
    std::os::unix::fs::symlink(".", root.join("backups/backups")).unwrap();
    let out = backup(root, &["--env", "prod"]);
    let rec = record(&out);
    assert!(
        fs::symlink_metadata(root.join("backups/backups")).is_err(),
        "the link made by an earlier version is gone"
    );
    assert!(
        stderr(&out).contains("removed the link"),
        "{}",
        stderr(&out)
    );
    let name = Path::new(&rec.path).file_name().unwrap().to_str().unwrap();
    let side = fs::read_to_string(root.join(format!("backups/{name}.sha256"))).unwrap();
    assert_eq!(side, format!("{}  backups/{name}\n", rec.sha256));
    let check = sh(
        root,
        "sha256sum",
        &["-c", &format!("backups/{name}.sha256")],
    );
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn anything_else_named_backups_in_backups_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/app.json"), b"{}\n");
    fs::create_dir_all(root.join("backups")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root.join("backups/backups")).unwrap();
    record(&backup(root, &["--env", "prod"]));
    assert_eq!(
        fs::read_link(root.join("backups/backups")).unwrap(),
        Path::new("/elsewhere")
    );

    fs::remove_file(root.join("backups/backups")).unwrap();
    write(&root.join("backups/backups/keep.txt"), b"mine\n");
    let rec = record(&backup(root, &["--env", "prod"]));
    assert_eq!(
        fs::read(root.join("backups/backups/keep.txt")).unwrap(),
        b"mine\n"
    );
    let name = Path::new(&rec.path).file_name().unwrap().to_str().unwrap();
    let check = sh(
        root,
        "sha256sum",
        &["-c", &format!("backups/{name}.sha256")],
    );
    assert!(check.status.success(), "{}", stderr(&check));
}

/// `config/prod/app.json` declaring `backup_sources`.
fn declare(root: &Path, sources: &[&str]) {
    let app = serde_json::json!({"service": "web", "backup_sources": sources});
    write(
        &root.join("config/prod/app.json"),
        serde_json::to_string_pretty(&app).unwrap().as_bytes(),
    );
}

#[test]
fn without_source_the_declared_backup_sources_are_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let assets = elsewhere.path().join("assets");
    write(&assets.join("logo.svg"), b"<svg/>\n");
    write(&root.join("releases/current/bin/server.js"), b"listen()\n");
    write(&root.join("releases/current/package.json"), b"{}\n");
    declare(
        root,
        &["config/prod", "releases/current", assets.to_str().unwrap()],
    );
    let rec = record(&backup(root, &["--env", "prod"]));
    let zip = PathBuf::from(&rec.path);
    let test = sh(root, "unzip", &["-t", zip.to_str().unwrap()]);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    let m = read_manifest(&zip);
    assert_eq!(
        m.sources,
        ["config/prod", "releases/current", assets.to_str().unwrap()]
    );
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "assets/logo.svg",
            "current/bin/server.js",
            "current/package.json",
            "prod/app.json",
        ]
    );
    assert_eq!(rec.files, 4);
    // The folder names are the ones rollback maps back to the live declaration.
    for s in mobius_core::app_config::AppConfig::load(&Root::new(root), &"prod".parse().unwrap())
        .unwrap()
        .unwrap()
        .sources(&Root::new(root), &"prod".parse().unwrap())
    {
        let folder = s.folder().unwrap();
        assert!(
            m.dirs.contains(&format!("{folder}/")),
            "{folder} in {:?}",
            m.dirs
        );
    }
    // The real unzip restores each source under its folder.
    let x = tempfile::tempdir().unwrap();
    let un = sh(x.path(), "unzip", &["-q", zip.to_str().unwrap()]);
    assert!(un.status.success(), "{}", stderr(&un));
    assert_eq!(
        fs::read(x.path().join("current/bin/server.js")).unwrap(),
        b"listen()\n"
    );
    let check = sh(
        root,
        "sha256sum",
        &[
            "-c",
            &format!(
                "backups/{}.sha256",
                zip.file_name().unwrap().to_str().unwrap()
            ),
        ],
    );
    assert!(check.status.success(), "{}", stderr(&check));

    // --source still wins over the declaration.
    write(&root.join("other/x.txt"), b"x\n");
    let rec = record(&backup(root, &["--env", "prod", "--source", "other"]));
    assert_eq!(read_manifest(Path::new(&rec.path)).sources, ["other"]);
}

#[test]
fn without_app_json_or_the_key_the_config_dir_alone_is_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("config/prod/database.json"), b"{}\n");
    let m = read_manifest(Path::new(&record(&backup(root, &["--env", "prod"])).path));
    assert_eq!(m.sources, ["config/prod"]);
    assert_eq!(m.files[0].path, "database.json");
    write(
        &root.join("config/prod/app.json"),
        b"{\"health_url\": \"http://x\"}\n",
    );
    let m = read_manifest(Path::new(&record(&backup(root, &["--env", "prod"])).path));
    assert_eq!(m.sources, ["config/prod"]);
    assert_eq!(m.files.len(), 2);
}

#[test]
fn bad_declarations_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join("releases/current/a.js"), b"a\n");
    write(&root.join("staging/current/b.js"), b"b\n");

    // Two declared paths ending in the same folder: exit 3, naming app.json and the folder.
    declare(
        root,
        &["config/prod", "releases/current", "staging/current"],
    );
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("config/prod/app.json") && err.contains("\"current\""),
        "{err}"
    );

    // A declared source that is not there: exit 4, naming it and where it is declared.
    declare(root, &["config/prod", "releases/gone"]);
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("releases/gone") && err.contains("config/prod/app.json"),
        "{err}"
    );

    // An app.json that does not parse: one line, exit 3, naming the file and the problem.
    write(
        &root.join("config/prod/app.json"),
        b"{\"backup_sources\": [\"config/prod\",}\n",
    );
    let out = backup(root, &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("config/prod/app.json does not parse") && err.contains("line 1"),
        "{err}"
    );
    // ... but with --source the file is not needed.
    record(&backup(
        root,
        &["--env", "prod", "--source", "releases/current"],
    ));
    assert_eq!(
        files_in(&root.join("backups")).len(),
        2,
        "only the --source backup was written"
    );
}
