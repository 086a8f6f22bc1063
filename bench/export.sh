#!/usr/bin/env bash
# Benchmark of mobius-export (issue 14): a year of 10-second monitoring samples (about 3 M
# lines in 12 monthly logs, ~640 MB) exported, against `gzip -c` of the same input files (the
# floor for "read everything once and write it compressed", on one core) and `zip -r` of
# them, in the same run, alternating. Target: the export at least 1.5x faster than gzip -c
# (ratio export/gzip <= 0.67) with a peak RSS under 64 MB. Reports figures; asserts nothing
# (machines are noisy).
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/export.sh [--runs N] [--dir DIR] [--regen] [--no-build] [--dry-run] [--verbose]
                       [--help]

Generates (once) a root in bench/work/export-root (or --dir) with 12 monthly monitor logs
of 10-second samples for env "production" (bench/gen_export_root.py), builds the release
binary, then runs --runs rounds (default 5) of three commands, the order rotated each
round, each timed with its peak RSS (GNU time):
  mobius-export --env production --days 366   the whole export (zip, sidecar, history event)
  gzip -c <the 12 logs> > logs.gz              one core's floor
  zip -r -q peer.zip monitor_logs              what a shell script would do
Prints the medians, export/gzip (target <= 0.67, i.e. 1.5x faster) and export/zip ratios,
the speed-up within each round (steadier on a shared machine), and the bundle's size
beside the peers'. Results: DIR.out/export.tsv.

  --runs N    rounds (default 5)
  --dir DIR   the root to generate and export (default bench/work/export-root)
  --regen     regenerate the root even if it exists
  --no-build  use the release binary already built
USAGE
}

env="production" runs=5 dir="" regen=0 no_build=0
mobius_flag --runs number runs
mobius_flag --dir value dir
mobius_flag --regen switch regen
mobius_flag --no-build switch no_build
mobius_parse "$@"
check_env "$env"
bench_positive "$runs"
bench_require gzip zip unzip python3 /usr/bin/time

dir="${dir:-$BENCH_WORK/export-root}"
out="$dir.out"
bin="$BENCH_RELEASE/mobius-export"

q() { printf '%q' "$1"; }
export_cmd="$(q "$bin") --quiet --root $(q "$dir") --env $env --days 366 --out $(q "$out/bundles") > /dev/null"
gzip_cmd="gzip -c $(q "$dir")/monitor_logs/${env}_*.jsonl > $(q "$out/logs.gz")"
zip_cmd="cd $(q "$dir") && zip -r -q $(q "$out/peer.zip") monitor_logs"
prepare="rm -rf $(q "$out/bundles") $(q "$out/logs.gz") $(q "$out/peer.zip") && mkdir -p $(q "$out/bundles")"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $dir unless present, build release mobius-export, and run $runs rounds of:"
  log "dry run:   $export_cmd"
  log "dry run:   $gzip_cmd"
  log "dry run:   $zip_cmd"
  exit 0
fi

bench_build "$((1 - no_build))" mobius-export
if ((regen)) || [[ ! -f "$dir.complete" ]]; then
  rm -rf "$dir" "$dir.complete"
  log "generating $dir (a year of samples; once)"
  lines="$(python3 "$BENCH_DIR/gen_export_root.py" "$dir" "$env" "$(date +%s)")"
  printf '%s\n' "$lines" >"$dir.complete"
fi
logs=("$dir"/monitor_logs/"${env}"_*.jsonl)
bytes="$(cat "${logs[@]}" | wc -c)"
log "input: $(cat "$dir.complete") lines, $((bytes >> 20)) MB in ${#logs[@]} monitor logs"
cat "${logs[@]}" >/dev/null # into the page cache for every command

mkdir -p "$out"
tsv="$out/export.tsv"
: >"$tsv"
bench_alternate "$tsv" "$runs" "$prepare" \
  mobius-export "$export_cmd" 'gzip -c' "$gzip_cmd" 'zip -r' "$zip_cmd"

# One more export, untimed, to check the bundle (unzip -t) and to compare sizes.
if ! bash -c "$prepare && $export_cmd && $gzip_cmd && $zip_cmd"; then
  die 1 "the check run failed"
fi
bundle=("$out"/bundles/*.zip)
unzip -tq "${bundle[0]}" >/dev/null || die 1 "the bundle does not pass unzip -t: ${bundle[0]}"
bench_summary "$tsv" mobius-export 'gzip -c' 0.67
bench_summary "$tsv" mobius-export 'zip -r' 1.0 | tail -n 2
# The machine is shared: a round's commands run back to back, so the ratio within each round
# is steadier than the ratio of medians when other work comes and goes.
python3 - "$tsv" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, secs, _ = line.rstrip("\n").split("\t")
    runs.setdefault(name, []).append(float(secs))
e = runs["mobius-export"]
for peer in ("gzip -c", "zip -r"):
    r = [p / x for p, x in zip(runs[peer], e)]
    print(f"{peer} / mobius-export per round: median {statistics.median(r):.2f}x faster "
          f"(rounds: {' '.join(f'{x:.2f}' for x in r)})")
PY
log "sizes: bundle $(stat -c %s "${bundle[0]}") bytes, gzip -c $(stat -c %s "$out/logs.gz") bytes, zip -r $(stat -c %s "$out/peer.zip") bytes"
log "peak RSS target for mobius-export: < 64 MB"
