#!/usr/bin/env bash
# Benchmark of mobius-report (issue 14): a year of 10-second samples of one target (3153600
# lines, bench/gen_monitor_log.py) drawn as the HTML page, against `jq -c . LOG >/dev/null`
# (the named peer for reading the log once) and `wc -l` (the floor for touching every byte).
# Median times and peak RSS; asserts nothing but the 5 s goal's PASS/FAIL line (machines
# are noisy).
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/report.sh [--runs N] [--samples N] [--no-build] [--dry-run] [--verbose] [--help]

Generates (once) bench/work/report-<N>.jsonl, N samples of one target 10 s apart (default
3153600: a year) with scattered failures and a rollback verdict at the end, then --runs
(default 3) rounds, alternating the order, of:
  mobius-report LOG -o OUT.html   the report
  jq -c . LOG > /dev/null         the peer: reading and re-printing every line
and one `wc -l LOG` for the floor. Prints medians, peak RSS (/usr/bin/time -f %M), the
ratio report / jq, and whether the report's median is under 5 s (issue 14's goal).
USAGE
}

runs=3 samples=3153600 no_build=0
mobius_flag --runs number runs
mobius_flag --samples number samples
mobius_flag --no-build switch no_build
mobius_parse "$@"
bench_positive "$runs" "$samples"

log_file="$BENCH_WORK/report-$samples.jsonl"
html="$BENCH_WORK/report-$samples.html"
report="$BENCH_RELEASE/mobius-report"
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: python3 bench/gen_monitor_log.py $samples $log_file (once)"
  log "dry run: $runs rounds of: $report $log_file -o $html | jq -c . $log_file >/dev/null"
  exit 0
fi
bench_require jq python3 wc
[[ -x /usr/bin/time ]] || die 4 "/usr/bin/time is needed for peak RSS (apt-get install time)"
bench_build "$((1 - no_build))" mobius-report

mkdir -p "$BENCH_WORK"
if [[ ! -f "$log_file.complete" ]]; then
  log "generating $log_file ($samples samples; once)"
  python3 "$BENCH_DIR/gen_monitor_log.py" "$samples" "$log_file"
  touch "$log_file.complete"
fi
lines="$(wc -l <"$log_file")"
bytes="$(wc -c <"$log_file")"
cat "$log_file" >/dev/null # into the page cache: every command reads from memory

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
bench_alternate "$results" "$runs" true \
  mobius-report "$report --quiet $log_file -o $html" \
  "jq -c ." "jq -c . $log_file >/dev/null"

t0="$(date +%s%N)"
wc -l "$log_file" >/dev/null
t1="$(date +%s%N)"

printf 'mobius-report benchmark: %s lines, %s bytes, %s cores\n' "$lines" "$bytes" "$(nproc)"
bench_summary "$results" mobius-report "jq -c ." 1.0
printf 'wc -l (floor): %s ms\n' "$(((t1 - t0) / 1000000))"
printf 'report: %s (%s bytes)\n' "$html" "$(wc -c <"$html")"
python3 - "$results" <<'PY'
import statistics, sys
t = [float(l.split("\t")[1]) for l in open(sys.argv[1]) if l.startswith("mobius-report\t")]
m = statistics.median(t)
print(f"goal: a year of samples in under 5 s: median {m:.2f} s: {'PASS' if m < 5 else 'FAIL'}")
PY
