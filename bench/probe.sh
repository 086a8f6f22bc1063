#!/usr/bin/env bash
# mobius-probe benchmark (issue 3): CPU per check against a curl loop, latency accuracy
# against a server that answers after 200 ms, and schedule drift over 1,000 checks at 10 ms.
# Everything runs on 127.0.0.1 against mobius-demo; numbers go to stdout.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/probe.sh [--env ENV] [--count N] [--slow-count N] [--no-build]
                      [--dry-run] [--verbose] [--help]

Builds the release binaries, starts mobius-demo on a free port (config in a temporary root,
environment ENV, default "bench"), then measures:
  1. CPU time (user+sys) of `mobius-probe --interval 10ms --count N` against a bash loop of
     N `curl -s -o /dev/null -w '%{http_code} %{time_total}'` (default N=1000; target: the
     probe uses at least 20x less CPU per check);
  2. latency accuracy: median latency_ms against a demo answering after 200 ms
     (--slow-count checks, default 30; target: within 2 ms of 200);
  3. schedule drift: last sample's ts minus (first ts + (N-1) x 10 ms) (target: < 10 ms).
--no-build uses the binaries already built. --dry-run prints the plan and exits.
USAGE
}

env="bench" count=1000 slow_count=30 build=1
no_build=0
mobius_flag --count number count
mobius_flag --slow-count number slow_count
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
[[ "$count" =~ ^[1-9][0-9]*$ ]] || die 2 "--count must be a positive number"
[[ "$slow_count" =~ ^[1-9][0-9]*$ ]] || die 2 "--slow-count must be a positive number"
command -v curl >/dev/null 2>&1 || die 4 "curl is needed for the comparison; install it"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would build release, start mobius-demo (env $env) on 127.0.0.1, run $count probe checks and $count curl calls at 10 ms, and $slow_count checks against a 200 ms server"
  exit 0
fi

release_dir="${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release"
if ((build)); then
  log "building release binaries (cargo build --release -p mobius-probe -p mobius-demo)"
  build_start="$(date +%s%N)"
  cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" \
    -p mobius-probe -p mobius-demo >&2 || die 4 "cargo build failed"
  build_end="$(date +%s%N)"
  vlog "build took $(((build_end - build_start) / 1000000)) ms"
fi
probe="$release_dir/mobius-probe"
demo="$release_dir/mobius-demo"
[[ -x "$probe" && -x "$demo" ]] || die 4 "release binaries missing in $release_dir (drop --no-build)"

work="$(mktemp -d)"
cleanup() {
  bench_stop_demos
  rm -rf "$work"
}
trap 'cleanup 2>/dev/null' EXIT

# start_demo NAME LATENCY_MS: starts a demo whose config adds LATENCY_MS; sets demo_url.
demo_url=""
start_demo() {
  bench_demo "$work/$1" "$env" \
    "{\"version\":\"bench\",\"demo\":{\"latency_ms\":$2,\"error_share\":0,\"healthy\":true}}"
  demo_url="$BENCH_DEMO_URL"
}

# cpu_seconds FILE: user+sys seconds from a bash `time` report in FILE (TIMEFORMAT='%3U %3S').
cpu_seconds() {
  awk 'NF == 2 { printf "%.3f\n", $1 + $2 }' "$1"
}

# ts_ms TS: milliseconds since the epoch of an RFC 3339 time.
ts_ms() {
  date -u -d "$1" +%s%3N
}

start_demo fast 0
fast_url="$demo_url/health"
start_demo slow 200
slow_url="$demo_url/health"
vlog "fast demo: $fast_url; slow demo: $slow_url"

TIMEFORMAT='%3U %3S'

log "1/3: $count probe checks at 10 ms"
{ time "$probe" --url "$fast_url" --interval 10ms --count "$count" \
  >"$work/probe.jsonl" 2>"$work/probe.err"; } 2>"$work/probe.time"
probe_cpu="$(cpu_seconds "$work/probe.time")"
probe_samples="$(grep -c '"type":"sample"' "$work/probe.jsonl" || true)"
probe_ok="$(grep -c '"ok":true' "$work/probe.jsonl" || true)"

log "1/3: $count curl calls in a bash loop"
curl_loop() {
  local i
  for ((i = 0; i < count; i++)); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$fast_url"
  done
}
{ time curl_loop >"$work/curl.out" 2>&1; } 2>"$work/curl.time"
curl_cpu="$(cpu_seconds "$work/curl.time")"
curl_ok="$(grep -c '^200 ' "$work/curl.out" || true)"

log "2/3: $slow_count checks against a server answering after 200 ms"
"$probe" --url "$slow_url" --interval 300ms --count "$slow_count" >"$work/slow.jsonl" 2>"$work/slow.err"
median="$(grep -o '"latency_ms":[0-9.]*' "$work/slow.jsonl" | cut -d: -f2 | sort -n |
  awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"

log "3/3: schedule drift"
first_ts="$(head -n1 "$work/probe.jsonl" | sed -n 's/.*"ts":"\([^"]*\)".*/\1/p')"
last_ts="$(tail -n1 "$work/probe.jsonl" | sed -n 's/.*"ts":"\([^"]*\)".*/\1/p')"
drift_ms="$(($(ts_ms "$last_ts") - $(ts_ms "$first_ts") - (count - 1) * 10))"

awk -v pc="$probe_cpu" -v cc="$curl_cpu" -v n="$count" -v ps="$probe_samples" -v pok="$probe_ok" \
  -v cok="$curl_ok" -v med="$median" -v drift="$drift_ms" -v sn="$slow_count" '
BEGIN {
  ppc = pc * 1e6 / n; cpc = cc * 1e6 / n
  printf "cpu per check:    mobius-probe %.1f us (%s s for %d checks, %d samples, %d ok)\n", ppc, pc, n, ps, pok
  printf "                  curl loop    %.1f us (%s s for %d calls, %d ok)\n", cpc, cc, n, cok
  if (pc > 0) printf "                  ratio        %.1fx less CPU per check (target >= 20x)\n", cc / pc
  else print "                  ratio        probe CPU below timer resolution"
  printf "latency accuracy: median latency_ms %s vs 200 ms true delay over %d checks: off by %+.3f ms (target within 2 ms)\n", med, sn, med - 200
  printf "schedule drift:   %d ms after %d checks at 10 ms (target < 10 ms)\n", drift, n
}'
if [[ -s "$work/probe.err" ]]; then
  log "mobius-probe said: $(head -n3 "$work/probe.err")"
fi
