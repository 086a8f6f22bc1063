#!/usr/bin/env bash
# mobius-backup benchmark (issue 2): against what the framework's shell scripts would do,
# `zip -r -q` then `sha256sum`, on a generated tree of mixed files (half compressible text,
# half random bytes). Target: at least 3x faster (median of --runs) with peak RSS < 64 MB.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/backup.sh [--env ENV] [--runs N] [--size MB] [--files N] [--no-build]
                       [--dry-run] [--verbose] [--help]

Generates bench/work/tree-<MB>-<N>/ once with bench/gen_tree.py (default 200 MB in 20,000
files), builds the release binary, and runs hyperfine (--runs, default 5, plus one warmup)
on both commands, each starting from an empty output directory:
  mobius-backup --env ENV --root bench/work --source <tree> --out bench/work/out-mobius
  zip -r -q bench/work/out-peer/peer.zip <tree> && sha256sum peer.zip > peer.zip.sha256
Prints both medians, the ratio (target >= 3x), the archive sizes, and the peak RSS of one
run of each measured with /usr/bin/time -f %M (target for mobius-backup: < 64 MB).
Results: bench/work/backup.json (hyperfine's export). --no-build uses the binary already
built. --dry-run prints the plan and exits.
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
bench_require hyperfine zip sha256sum python3 /usr/bin/time

work="$BENCH_WORK"
tree_name="tree-$size-$files"
tree="$work/$tree_name"
out_m="$work/out-mobius"
out_p="$work/out-peer"
json="$work/backup.json"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($size MB, $files files) unless present, build release mobius-backup,"
  log "dry run: run hyperfine --runs $runs (mobius-backup vs zip -r -q + sha256sum) exporting $json, and measure peak RSS"
  exit 0
fi

bench_tree "$size" "$files" >/dev/null
bench_build "$build" mobius-backup
bin="$BENCH_RELEASE/mobius-backup"

q() { printf '%q' "$1"; }
mobius_cmd="$(q "$bin") --env $(q "$env") --root $(q "$work") --source $(q "$tree_name") --out $(q "$out_m") --quiet > /dev/null"
peer_cmd="cd $(q "$work") && zip -r -q $(q "$out_p/peer.zip") $(q "$tree_name") && cd $(q "$out_p") && sha256sum peer.zip > peer.zip.sha256"
prepare="rm -rf $(q "$out_m") $(q "$out_p") && mkdir -p $(q "$out_m") $(q "$out_p")"
vlog "mobius: $mobius_cmd"
vlog "peer:   $peer_cmd"

hyperfine --runs "$runs" --warmup 1 --prepare "$prepare" --export-json "$json" \
  -n mobius-backup "$mobius_cmd" -n 'zip -r + sha256sum' "$peer_cmd" >&2

# Peak memory of one run of each, from the kernel's accounting via GNU time.
peak_kb() {
  bash -c "$prepare" >&2
  /usr/bin/time -f %M -o "$work/rss.txt" sh -c "$1" >&2
  cat "$work/rss.txt"
}
rss_m="$(peak_kb "$mobius_cmd")"
zip_size="$(stat -c %s "$out_m"/*.zip)"
(cd "$out_m" && sha256sum --check --quiet -- *.sha256) || die 1 "mobius-backup's sidecar does not check"
rss_p="$(peak_kb "$peer_cmd")"
peer_size="$(stat -c %s "$out_p/peer.zip")"

python3 - "$json" "$rss_m" "$rss_p" "$zip_size" "$peer_size" <<'PY'
import json, sys
path, rss_m, rss_p, size_m, size_p = sys.argv[1], *map(int, sys.argv[2:])
res = {r["command"]: r for r in json.load(open(path))["results"]}
m = res["mobius-backup"]["median"]
p = res["zip -r + sha256sum"]["median"]
ratio = p / m
print(f"mobius-backup       median {m:7.3f} s   peak RSS {rss_m / 1024:6.1f} MB   zip {size_m / 2**20:6.1f} MB")
print(f"zip -r + sha256sum  median {p:7.3f} s   peak RSS {rss_p / 1024:6.1f} MB   zip {size_p / 2**20:6.1f} MB")
print(f"speedup {ratio:.2f}x (target >= 3x): {'PASS' if ratio >= 3 else 'FAIL'}; "
      f"peak RSS {rss_m / 1024:.1f} MB (target < 64 MB): {'PASS' if rss_m < 64 * 1024 else 'FAIL'}")
PY
