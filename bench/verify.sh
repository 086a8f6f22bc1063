#!/usr/bin/env bash
# mobius-verify benchmark (issue 2): a deep verification against what the framework's shell
# scripts would do, `unzip -tq` then `sha256sum -c`, on a backup of the generated tree
# (half compressible text, half random bytes). Target: at least 2x faster (median of --runs).
set -euo pipefail
# shellcheck source=../scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/deploy/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/verify.sh [--env ENV] [--runs N] [--size MB] [--files N] [--no-build]
                       [--dry-run] [--verbose] [--help]

Generates bench/work/tree-<MB>-<N>/ once with bench/gen_tree.py (default 200 MB in 20,000
files; shared with bench/backup.sh), builds the release binaries, backs the tree up with
mobius-backup into bench/work/verify-in/, and runs hyperfine (--runs, default 5, plus one
warmup) on both commands against that backup:
  mobius-verify BACKUP.zip                      (deep: sidecar, structure, every entry)
  unzip -tq BACKUP.zip && sha256sum -c --quiet BACKUP.zip.sha256
Prints both medians and the ratio (target >= 2x). Both commands must succeed on the
backup first, or the benchmark stops. Results: bench/work/verify.json (hyperfine's export).
--no-build uses the binaries already built. --dry-run prints the plan and exits.
USAGE
}

env="bench" runs=5 size=200 files=20000 build=1
while (($#)); do
  case "$1" in
    --env) env="${2:-}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --size) size="${2:?--size needs a number of MB}"; shift 2 ;;
    --files) files="${2:?--files needs a number}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --dry-run) MOBIUS_DRY_RUN=1; shift ;;
    --verbose) MOBIUS_VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown option '$1' (see --help)" ;;
  esac
done
check_env "$env"
for n in "$runs" "$size" "$files"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die 2 "--runs, --size and --files must be positive numbers"
done
for tool in hyperfine unzip sha256sum python3; do
  command -v "$tool" >/dev/null 2>&1 || die 4 "$tool is needed for the benchmark; install it"
done

bench_dir="$MOBIUS_REPO_DIR/bench"
work="$bench_dir/work"
tree_name="tree-$size-$files"
tree="$work/$tree_name"
backup_dir="$work/verify-in"
json="$work/verify.json"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($size MB, $files files) unless present, build release mobius-backup and mobius-verify,"
  log "dry run: back the tree up into $backup_dir, run hyperfine --runs $runs (mobius-verify vs unzip -tq + sha256sum -c) exporting $json"
  exit 0
fi

mkdir -p "$work"
# Same marker as bench/backup.sh: a generation cut short is redone rather than benchmarked.
if [[ ! -f "$tree.complete" ]]; then
  log "generating $tree ($size MB, $files files; once)"
  rm -rf "$tree"
  python3 "$bench_dir/gen_tree.py" "$tree" "$size" "$files"
  touch "$tree.complete"
fi

release_dir="${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release"
if ((build)); then
  log "building release binaries (cargo build --release -p mobius-backup -p mobius-verify)"
  cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" \
    -p mobius-backup -p mobius-verify >&2 || die 4 "cargo build failed"
fi
backup_bin="$release_dir/mobius-backup"
verify_bin="$release_dir/mobius-verify"
for bin in "$backup_bin" "$verify_bin"; do
  [[ -x "$bin" ]] || die 4 "release binary missing: $bin (drop --no-build)"
done

# A fresh backup each run: the benchmark measures verification of what mobius-backup makes
# today, not of a file left over from an older build.
log "backing up $tree with mobius-backup"
rm -rf "$backup_dir"
mkdir -p "$backup_dir"
"$backup_bin" --env "$env" --root "$work" --source "$tree_name" --out "$backup_dir" --quiet >/dev/null ||
  die 4 "mobius-backup failed"
zips=("$backup_dir"/*.zip)
[[ ${#zips[@]} -eq 1 && -f "${zips[0]}" ]] || die 4 "expected one backup in $backup_dir"
zip="${zips[0]}"
zip_name="$(basename "$zip")"
vlog "backup: $zip ($(stat -c %s "$zip") bytes)"

q() { printf '%q' "$1"; }
mobius_cmd="$(q "$verify_bin") $(q "$zip") --quiet > /dev/null"
peer_cmd="unzip -tq $(q "$zip") > /dev/null && cd $(q "$backup_dir") && sha256sum -c --quiet $(q "$zip_name.sha256")"
vlog "mobius: $mobius_cmd"
vlog "peer:   $peer_cmd"

# Both must pass before their speed means anything.
sh -c "$mobius_cmd" || die 1 "mobius-verify rejects the backup mobius-backup made; see: $verify_bin $zip"
sh -c "$peer_cmd" || die 1 "unzip -t or sha256sum -c rejects the backup"

hyperfine --runs "$runs" --warmup 1 --export-json "$json" \
  -n mobius-verify "$mobius_cmd" -n 'unzip -tq + sha256sum -c' "$peer_cmd" >&2

python3 - "$json" "$(stat -c %s "$zip")" <<'PY'
import json, sys
path, size = sys.argv[1], int(sys.argv[2])
res = {r["command"]: r for r in json.load(open(path))["results"]}
m = res["mobius-verify"]["median"]
p = res["unzip -tq + sha256sum -c"]["median"]
ratio = p / m
print(f"backup {size / 2**20:.1f} MB")
print(f"mobius-verify (deep)        median {m:7.3f} s")
print(f"unzip -tq + sha256sum -c    median {p:7.3f} s")
print(f"speedup {ratio:.2f}x (target >= 2x): {'PASS' if ratio >= 2 else 'FAIL'}")
PY
