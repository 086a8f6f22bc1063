#!/usr/bin/env bash
# A fleet on one probe (issue 13): mobius-probe checking 50 targets at a 1 s interval for
# 45 s against one local mobius-demo (each target a distinct URL of it), measuring how well
# every target keeps its schedule, from the samples' ts, and the probe's peak RSS.
# Targets: p99 interval error under 50 ms for every target, under 20 MB RSS. Asserts nothing.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/probe_fleet.sh [--env ENV] [--targets N] [--duration 45s] [--no-build]
                            [--dry-run] [--verbose] [--help]

Starts one mobius-demo on 127.0.0.1 (config in a temporary root, environment ENV, default
"bench"), then runs `mobius-probe --interval 1s --duration D` with --targets URLs (default
50: /health?target=1 ... /health?target=N, distinct targets to the probe) under
/usr/bin/time, and reports from the samples' ts:
  interval error   |ts(k+1) - ts(k) - 1 s| per target: p50, p99 and max; the worst target's
                   p99 is the figure (target < 50 ms)
  schedule offset  |ts(k) - ts(0) - k x 1 s| per target: the same (drift shows here)
  peak RSS         of the probe (target < 20 MB)
--no-build uses the release binaries already built. --dry-run prints the plan and exits.
USAGE
}

env="bench" targets=50 duration="45s" no_build=0
mobius_flag --targets number targets
mobius_flag --duration duration duration
mobius_flag --no-build switch no_build
mobius_parse "$@"
check_env "$env"
bench_positive "$targets"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would start mobius-demo (env $env) on 127.0.0.1 and run mobius-probe on $targets URLs of it every 1s for $duration under /usr/bin/time"
  exit 0
fi
bench_require /usr/bin/time python3
bench_build "$((1 - no_build))" mobius-probe mobius-demo

work="$(mktemp -d)"
cleanup() {
  bench_stop_demos
  rm -rf "$work"
}
trap 'cleanup 2>/dev/null' EXIT
bench_demo "$work" "$env" '{"version":"bench","demo":{"latency_ms":0,"error_share":0,"healthy":true}}'
url="$BENCH_DEMO_URL"

args=()
for ((i = 1; i <= targets; i++)); do args+=(--url "$url/health?target=$i"); done
log "probing $targets targets every 1s for $duration"
/usr/bin/time -f %M -o "$work/rss" "$BENCH_RELEASE/mobius-probe" "${args[@]}" \
  --interval 1s --duration "$duration" >"$work/samples.jsonl" 2>"$work/probe.err" ||
  die 4 "mobius-probe failed: $(head -n 3 "$work/probe.err")"

python3 - "$work/samples.jsonl" "$(tail -n 1 "$work/rss")" "$targets" <<'PY'
import collections, datetime, json, sys
path, rss_kb, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ts, ok = collections.defaultdict(list), 0
for line in open(path):
    r = json.loads(line)
    if r.get("type") != "sample":
        continue
    ok += bool(r.get("ok"))
    t = datetime.datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
    ts[r["target"]].append(t.timestamp() * 1000)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def report(name, per_target):
    p99s = [pct(v, 99) for v in per_target.values()]
    pooled = [e for v in per_target.values() for e in v]
    print(f"{name:<16} worst target p99 {max(p99s):7.2f} ms   pooled p50 {pct(pooled, 50):6.2f}"
          f"  p99 {pct(pooled, 99):6.2f}  max {max(pooled):7.2f} ms")
    return max(p99s)

gaps, offsets = {}, {}
for target, v in ts.items():
    v.sort()
    gaps[target] = [abs(b - a - 1000) for a, b in zip(v, v[1:])]
    offsets[target] = [abs(t - v[0] - k * 1000) for k, t in enumerate(v)]
n = sum(len(v) for v in ts.values())
print(f"targets: {len(ts)} of {want}, samples: {n} ({ok} ok), checks per target: "
      f"{min(len(v) for v in ts.values())}-{max(len(v) for v in ts.values())}")
worst = report("interval error", gaps)
report("schedule offset", offsets)
print(f"peak RSS         {rss_kb / 1024:.1f} MB (target < 20 MB)")
print(f"worst p99 interval error {worst:.2f} ms (target < 50 ms): {'PASS' if worst < 50 else 'FAIL'}")
PY
