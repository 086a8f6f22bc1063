#!/usr/bin/env bash
# mobius-verify benchmark (issue 2): a deep verification against what the framework's shell
# scripts would do, `unzip -tq` then `sha256sum -c`, on a backup of the generated tree
# (half compressible text, half random bytes). Target: at least 2x faster (median of --runs).
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
no_build=0
mobius_flag --runs number runs
mobius_flag --size number size
mobius_flag --files number files
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
bench_positive "$runs" "$size" "$files"
bench_require hyperfine unzip sha256sum python3

work="$BENCH_WORK"
tree="$work/tree-$size-$files"
backup_dir="$work/verify-in"
json="$work/verify.json"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($size MB, $files files) unless present, build release mobius-backup and mobius-verify,"
  log "dry run: back the tree up into $backup_dir, run hyperfine --runs $runs (mobius-verify vs unzip -tq + sha256sum -c) exporting $json"
  exit 0
fi

tree_name="$(bench_tree "$size" "$files")"
bench_build "$build" mobius-backup mobius-verify
verify_bin="$BENCH_RELEASE/mobius-verify"
zip="$(bench_backup "$env" "$tree_name" "$backup_dir")"
zip_name="$(basename "$zip")"

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
