//! `kill -9` at random moments: never a final-named zip that is incomplete, never a sidecar
//! that does not match its zip. Set MOBIUS_CRASH_SEED to replay a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// SIGKILL at random moments and the real sha256sum/unzip: Unix behaviour.
#![cfg(unix)]

use mobius_core::atomic::is_temp_name;
use mobius_core::backups::{BackupName, Manifest, MANIFEST_NAME};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// About 60 MB: compressible text and noise in many files, plus big files that the writer
/// streams itself, so that a run lasts long enough for kills to land inside it.
fn make_tree(cfg: &Path) {
    let mut rng = Rng(42);
    let line = "endpoint=https://api.example.invalid/v1 timeout=30s retries=3 pool=16\n";
    for i in 0..120 {
        let dir = cfg.join(format!("d{:02}", i % 12));
        fs::create_dir_all(&dir).unwrap();
        let text = line.repeat(3500 + i * 13);
        fs::write(dir.join(format!("t{i:03}.conf")), text).unwrap();
        let noise: Vec<u8> = (0..(30_000 + i * 100))
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        fs::write(dir.join(format!("n{i:03}.bin")), noise).unwrap();
    }
    for i in 0..2 {
        let mut big = line.repeat(6 << 20 >> 6).into_bytes();
        big.extend((0..400_000).flat_map(|_| rng.next().to_le_bytes()));
        fs::write(cfg.join(format!("big{i}.dat")), big).unwrap();
    }
}

fn run_backup(root: &Path) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("mobius-backup"))
        .args(["--env", "prod", "--quiet", "--root"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn ok(dir: &Path, cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[derive(Default, Debug)]
struct Tally {
    nothing: u32,
    mid_write: u32,
    zip_without_sidecar: u32,
    complete: u32,
}

/// Checks the invariants on everything in `dir`; removes leftover temporary files (they are
/// allowed, and only cost disk space) and returns what this kill left behind.
fn check(dir: &Path, seen: &mut Vec<String>, tally: &mut Tally) {
    let mut temp = false;
    let mut new_zip = None;
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) {
            temp = true;
            fs::remove_file(dir.join(&name)).unwrap();
        } else if let Some(zip) = name.strip_suffix(".sha256") {
            assert!(dir.join(zip).is_file(), "sidecar {name} without its zip");
            assert!(
                // Checked from the root, as the framework does: the sidecar names backups/<zip>.
                ok(
                    dir.parent().unwrap(),
                    "sha256sum",
                    &["-c", &format!("backups/{name}")]
                ),
                "sidecar {name} does not match its zip"
            );
        } else if BackupName::parse_for(&name, "dhash", "prod").is_some() {
            if !seen.contains(&name) {
                // Renamed into place only when complete: the whole zip must test clean and
                // end with its manifest.
                assert!(
                    ok(dir, "unzip", &["-tq", &name]),
                    "incomplete final zip {name}"
                );
                let mut a = zip::ZipArchive::new(fs::File::open(dir.join(&name)).unwrap()).unwrap();
                let m: Manifest =
                    serde_json::from_reader(a.by_name(MANIFEST_NAME).unwrap()).unwrap();
                assert_eq!(m.files.len(), 242);
                new_zip = Some(name.clone());
                seen.push(name);
            }
        } else {
            panic!("unexpected file {name} in backups/");
        }
    }
    match new_zip {
        Some(z) if dir.join(format!("{z}.sha256")).exists() => tally.complete += 1,
        Some(_) => tally.zip_without_sidecar += 1,
        None if temp => tally.mid_write += 1,
        None => tally.nothing += 1,
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_bad_backup() {
    let seed = std::env::var("MOBIUS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (MOBIUS_CRASH_SEED={seed} to replay)");
    let mut rng = Rng(seed);

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    make_tree(&root.join("config/prod"));
    let dir = root.join("backups");

    // One undisturbed run tells how long a backup takes here; kills are spread over it.
    let started = Instant::now();
    assert!(run_backup(root).wait().unwrap().success());
    let full = started.elapsed().as_millis() as u64;
    let mut seen = Vec::new();
    let mut tally = Tally::default();
    check(&dir, &mut seen, &mut tally);
    assert_eq!(tally.complete, 1);
    let mut tally = Tally::default();

    for _ in 0..24 {
        let delay = Duration::from_millis(rng.next() % (full + full / 5).max(1));
        let mut child = run_backup(root);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        check(&dir, &mut seen, &mut tally);
    }
    eprintln!("one backup took {full} ms; after 24 kills: {tally:?}");
    assert!(
        tally.mid_write > 0,
        "no kill landed while the zip was being written: {tally:?}"
    );
    // The survivors are still good backups a later run builds on.
    assert!(run_backup(root).wait().unwrap().success());
    check(&dir, &mut seen, &mut tally);
}
