#!/usr/bin/env bash
# mobius-rollback benchmark (issue 4): a full rollback (deep verification included, safety
# backup and health checks off) against what a shell script would do with no verification at
# all: `unzip -q` into a new directory, then `mv` it into place. Both restore the 200 MB,
# 20,000-file backup over a small live tree. Target: ratio mobius / peer <= 1.0 (median of --runs).
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
no_build=0
mobius_flag --runs number runs
mobius_flag --size number size
mobius_flag --files number files
mobius_flag --threads number threads
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
bench_positive "$runs" "$size" "$files" "$threads"
bench_require hyperfine unzip python3 diff

work="$BENCH_WORK"
tree="$work/tree-$size-$files"
backup_dir="$work/rollback-in"
broot="$work/rollback-root"
live="$broot/config/$env"
json="$work/rollback.json"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($size MB, $files files) unless present, build release mobius-backup and mobius-rollback,"
  log "dry run: back the tree up into $backup_dir, run hyperfine --runs $runs (mobius-rollback vs unzip -q + mv) into $live, exporting $json"
  exit 0
fi

tree_name="$(bench_tree "$size" "$files")"
bench_build "$build" mobius-backup mobius-rollback
rollback_bin="$BENCH_RELEASE/mobius-rollback"
zip="$(bench_backup "$env" "$tree_name" "$backup_dir")"

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
