#!/usr/bin/env bash
# mobius-rollback benchmark (issue 4): a full rollback (deep verification included, safety
# backup and health checks off) against what a shell script would do with no verification at
# all: `unzip -q` into a new directory, then `mv` it into place. Both restore the 200 MB,
# 20,000-file backup over a small live tree. Target: ratio mobius / peer <= 1.0 (median of --runs).
set -euo pipefail
# shellcheck source=../scripts/deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/deploy/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/rollback.sh [--env ENV] [--runs N] [--size MB] [--files N] [--threads N]
                         [--no-build] [--dry-run] [--verbose] [--help]

Generates bench/work/tree-<MB>-<N>/ once with bench/gen_tree.py (default 200 MB in 20,000
files; shared with bench/backup.sh and bench/verify.sh), builds the release binaries, backs
the tree up with mobius-backup into bench/work/rollback-in/, and runs hyperfine (--runs,
default 5, plus one warmup); before each run the live tree bench/work/rollback-root/config/ENV
is reset to one small file:
  mobius-rollback --env ENV --root bench/work/rollback-root --backup BACKUP.zip
                  --no-safety-backup --no-health-check [--threads N]
  unzip -q BACKUP.zip -d <new dir> && mv config/ENV <old> && mv <new dir> config/ENV
Prints both medians and the ratio (target <= 1.0). Both must restore the tree first (the
restored tree is compared with the source by diff -r), or the benchmark stops.
Results: bench/work/rollback.json (hyperfine's export). --dry-run prints the plan and exits.
USAGE
}

env="bench" runs=5 size=200 files=20000 build=1 threads=2
while (($#)); do
  case "$1" in
    --env) env="${2:-}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --size) size="${2:?--size needs a number of MB}"; shift 2 ;;
    --files) files="${2:?--files needs a number}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --dry-run) MOBIUS_DRY_RUN=1; shift ;;
    --verbose) MOBIUS_VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown option '$1' (see --help)" ;;
  esac
done
check_env "$env"
for n in "$runs" "$size" "$files" "$threads"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die 2 "--runs, --size, --files and --threads must be positive numbers"
done
for tool in hyperfine unzip python3 diff; do
  command -v "$tool" >/dev/null 2>&1 || die 4 "$tool is needed for the benchmark; install it"
done

bench_dir="$MOBIUS_REPO_DIR/bench"
work="$bench_dir/work"
tree_name="tree-$size-$files"
tree="$work/$tree_name"
backup_dir="$work/rollback-in"
broot="$work/rollback-root"
live="$broot/config/$env"
json="$work/rollback.json"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($size MB, $files files) unless present, build release mobius-backup and mobius-rollback,"
  log "dry run: back the tree up into $backup_dir, run hyperfine --runs $runs (mobius-rollback vs unzip -q + mv) into $live, exporting $json"
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
  log "building release binaries (cargo build --release -p mobius-backup -p mobius-rollback)"
  cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" \
    -p mobius-backup -p mobius-rollback >&2 || die 4 "cargo build failed"
fi
backup_bin="$release_dir/mobius-backup"
rollback_bin="$release_dir/mobius-rollback"
for bin in "$backup_bin" "$rollback_bin"; do
  [[ -x "$bin" ]] || die 4 "release binary missing: $bin (drop --no-build)"
done

log "backing up $tree with mobius-backup"
rm -rf "$backup_dir"
mkdir -p "$backup_dir"
"$backup_bin" --env "$env" --root "$work" --source "$tree_name" --out "$backup_dir" --quiet >/dev/null ||
  die 4 "mobius-backup failed"
zips=("$backup_dir"/*.zip)
[[ ${#zips[@]} -eq 1 && -f "${zips[0]}" ]] || die 4 "expected one backup in $backup_dir"
zip="${zips[0]}"
vlog "backup: $zip ($(stat -c %s "$zip") bytes)"

q() { printf '%q' "$1"; }
config_dir="$broot/config"
new_dir="$config_dir/.peer-new"
old_dir="$config_dir/.peer-old"
# The live tree both replace: one small file, as after a bad deploy.
prepare="rm -rf $(q "$config_dir") && mkdir -p $(q "$live") && echo '{\"version\":\"bad\"}' > $(q "$live/app.json")"
mobius_cmd="$(q "$rollback_bin") --env $(q "$env") --root $(q "$broot") --backup $(q "$zip") --no-safety-backup --no-health-check --threads $threads --quiet > /dev/null"
peer_cmd="unzip -q $(q "$zip") -d $(q "$new_dir") && mv $(q "$live") $(q "$old_dir") && mv $(q "$new_dir") $(q "$live")"
vlog "prepare: $prepare"
vlog "mobius:  $mobius_cmd"
vlog "peer:    $peer_cmd"

# Both must restore the tree before their speed means anything. The peer also extracts the
# manifest, which the source does not have.
for cmd in "$mobius_cmd" "$peer_cmd"; do
  bash -c "$prepare"
  bash -c "$cmd" || die 1 "the command failed: $cmd"
  rm -f "$live/MOBIUS-MANIFEST.json"
  diff -r -q "$tree" "$live" >/dev/null || die 1 "the restored tree differs from $tree after: $cmd"
done

hyperfine --runs "$runs" --warmup 1 --prepare "$prepare" --export-json "$json" \
  -n mobius-rollback "$mobius_cmd" -n 'unzip -q + mv' "$peer_cmd" >&2

python3 - "$json" "$(stat -c %s "$zip")" <<'PY'
import json, sys
path, size = sys.argv[1], int(sys.argv[2])
res = {r["command"]: r for r in json.load(open(path))["results"]}
m = res["mobius-rollback"]["median"]
p = res["unzip -q + mv"]["median"]
ratio = m / p
print(f"backup {size / 2**20:.1f} MB")
print(f"mobius-rollback (verified, atomic)  median {m:7.3f} s")
print(f"unzip -q + mv (no verification)     median {p:7.3f} s")
print(f"ratio mobius/peer {ratio:.2f} (target <= 1.0): {'PASS' if ratio <= 1.0 else 'FAIL'}")
PY
