#!/usr/bin/env bash
# mobius-backup on a release-like tree of many small files (issue 11): a backup of 300,000
# files must stay under 64 MB peak RSS. Measured against `zip -r -q` + `sha256sum`, runs of
# A and B alternating (so both see the same machine state), medians of wall time and peak
# RSS, and the bytes of peak RSS per file beyond what a one-file backup takes.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/backup_many.sh [--env ENV] [--runs N] [--files N] [--no-build]
                            [--dry-run] [--verbose] [--help]

Generates bench/work/many-<N>/ once with bench/gen_many.py (default 300,000 files of a few
hundred bytes in nested node_modules-like directories), builds the release binary, then runs
--runs times (default 3), alternating:
  A  mobius-backup --env ENV --root bench/work --source many-<N> --out bench/work/out-many-mobius
  B  zip -r -q bench/work/out-many-peer/peer.zip many-<N> && sha256sum peer.zip > peer.zip.sha256
each under /usr/bin/time -f '%e %M' from an empty output directory. Prints the median wall
time and peak RSS of each, the ratio, mobius-backup's peak RSS per file (beyond a one-file
backup's), and PASS/FAIL against the 64 MB target. --no-build uses the binary already built.
USAGE
}

env="bench" runs=3 files=300000 build=1
no_build=0
mobius_flag --runs number runs
mobius_flag --files number files
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
bench_positive "$runs" "$files"

work="$BENCH_WORK"
tree_name="many-$files"
tree="$work/$tree_name"
out_m="$work/out-many-mobius"
out_p="$work/out-many-peer"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $tree ($files files) unless present, build release mobius-backup,"
  log "dry run: and run mobius-backup and zip -r + sha256sum $runs times each, alternating"
  exit 0
fi

# GNU time is the only portable way to read a child's peak RSS from a script.
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time (/usr/bin/time) with apt-get"
  apt-get install -y -qq time >&2 || die 4 "/usr/bin/time is needed; install the 'time' package"
fi
bench_require zip sha256sum python3

mkdir -p "$work"
if [[ ! -f "$tree.complete" ]]; then
  log "generating $tree ($files files; once)"
  rm -rf "$tree"
  python3 "$BENCH_DIR/gen_many.py" "$tree" "$files" >&2
  touch "$tree.complete"
fi
bench_build "$build" mobius-backup
bin="$BENCH_RELEASE/mobius-backup"

# measure OUT_DIR CMD...: runs CMD from an empty OUT_DIR under GNU time; prints "secs kb".
measure() {
  local out="$1"
  shift
  rm -rf "$out"
  mkdir -p "$out"
  /usr/bin/time -f '%e %M' -o "$work/many-time.txt" "$@" >/dev/null || die 4 "failed: $*"
  cat "$work/many-time.txt"
}
run_mobius() {
  measure "$out_m" "$bin" --env "$env" --root "$work" --source "$tree_name" --out "$out_m" --quiet
}
run_peer() {
  # shellcheck disable=SC2016 # $1, $2, $3 are the inner sh's arguments
  measure "$out_p" sh -c 'cd "$1" && zip -r -q "$2/peer.zip" "$3" && cd "$2" && sha256sum peer.zip > peer.zip.sha256' \
    sh "$work" "$out_p" "$tree_name"
}

# The fixed cost: a backup of one small file, so bytes per file count only what grows.
one="$work/many-one"
mkdir -p "$one"
printf 'x\n' >"$one/x.txt"
base_kb="$(measure "$out_m" "$bin" --env "$env" --root "$work" --source many-one --out "$out_m" --quiet | cut -d' ' -f2)"

results="$work/many-results.txt"
: >"$results"
for ((i = 1; i <= runs; i++)); do
  log "run $i of $runs: mobius-backup"
  printf 'A %s\n' "$(run_mobius)" >>"$results"
  (cd "$out_m" && cd .. && sha256sum --check --quiet -- "$(basename "$out_m")"/*.sha256 >/dev/null) ||
    die 1 "mobius-backup's sidecar does not check from above its directory"
  log "run $i of $runs: zip -r -q + sha256sum"
  printf 'B %s\n' "$(run_peer)" >>"$results"
done
zip_m="$(stat -c %s "$out_m"/*.zip)"
zip_p="$(stat -c %s "$out_p/peer.zip")"
unzip -tq "$out_m"/*.zip >/dev/null || die 1 "unzip -t rejects mobius-backup's zip"

python3 - "$results" "$files" "$base_kb" "$zip_m" "$zip_p" <<'PY'
import statistics, sys
path, files, base_kb, zip_m, zip_p = sys.argv[1], *map(int, sys.argv[2:])
runs = {"A": [], "B": []}
for line in open(path):
    who, secs, kb = line.split()
    runs[who].append((float(secs), int(kb)))
med = {k: (statistics.median(s for s, _ in v), statistics.median(kb for _, kb in v)) for k, v in runs.items()}
(ta, ra), (tb, rb) = med["A"], med["B"]
print(f"files {files}, runs {len(runs['A'])} each, alternating")
print(f"mobius-backup       median {ta:7.2f} s   peak RSS {ra / 1024:6.1f} MB   zip {zip_m / 2**20:6.1f} MB")
print(f"zip -r + sha256sum  median {tb:7.2f} s   peak RSS {rb / 1024:6.1f} MB   zip {zip_p / 2**20:6.1f} MB")
print(f"time ratio (zip+sha256sum / mobius-backup): {tb / ta:.2f}x")
print(f"mobius-backup peak RSS per file: {ra * 1024 / files:.0f} bytes "
      f"({(ra - base_kb) * 1024 / files:.0f} beyond a one-file backup's {base_kb / 1024:.1f} MB)")
print(f"peak RSS {ra / 1024:.1f} MB (target < 64 MB): {'PASS' if ra < 64 * 1024 else 'FAIL'}")
PY
