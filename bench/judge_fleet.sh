#!/usr/bin/env bash
# The judge over a fleet (issue 13): mobius-judge on N sample lines cycling through 50
# targets against the same N lines of one target (both from examples/gen_samples.rs), rounds
# alternating. Target: the 50-target file within 1.5x of the single target's time (the same
# lines, so the same ratio of lines per second). Asserts nothing.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/judge_fleet.sh [--samples N] [--targets T] [--runs N] [--no-build]
                            [--dry-run] [--verbose] [--help]

Generates --samples healthy lines (default 2000000, each with error_rate and p95_ms) twice
into bench/work/: cycling through --targets targets (default 50), and of one target; then --runs rounds (default 5, order
alternating) of `mobius-judge --quiet` on each, which must pass. Prints each one's median,
lines per second, peak RSS and the ratio (target <= 1.5).
--no-build uses the release binaries already built. --dry-run prints the plan and exits.
USAGE
}

samples=2000000 targets=50 runs=5 no_build=0
mobius_flag --samples number samples
mobius_flag --targets number targets
mobius_flag --runs number runs
mobius_flag --no-build switch no_build
mobius_parse "$@"
bench_positive "$samples" "$targets" "$runs"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate $samples samples of $targets targets and of 1 target, and time mobius-judge on each ($runs rounds, alternating)"
  exit 0
fi
bench_require /usr/bin/time python3
if ((!no_build)); then
  log "building release binaries (mobius-judge and its gen_samples example)"
  cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" -p mobius-judge \
    --bin mobius-judge --example gen_samples >&2 || die 4 "cargo build failed"
fi
judge="$BENCH_RELEASE/mobius-judge"
gen="$BENCH_RELEASE/examples/gen_samples"
[[ -x "$judge" && -x "$gen" ]] || die 4 "release binaries missing in $BENCH_RELEASE (drop --no-build)"

mkdir -p "$BENCH_WORK"
fleet="$BENCH_WORK/judge-fleet-$samples-$targets.jsonl"
single="$BENCH_WORK/judge-fleet-$samples-1.jsonl"
# Regenerated every run (the generator is deterministic): 400 MB each is not worth keeping.
trap 'rm -f "$fleet" "$single"' EXIT
"$gen" "$samples" "$targets" >"$fleet"
"$gen" "$samples" 1 >"$single"
cat "$fleet" "$single" >/dev/null # into the page cache
out="$BENCH_WORK/judge_fleet.tsv"
rm -f "$out"
a="$targets targets" b="1 target"
# The commands run under bash -c: the paths are ours, quoted with printf %q.
bench_alternate "$out" "$runs" true \
  "$a" "$(printf '%q --quiet <%q >/dev/null' "$judge" "$fleet")" \
  "$b" "$(printf '%q --quiet <%q >/dev/null' "$judge" "$single")"
bench_summary "$out" "$a" "$b" 1.5
python3 - "$out" "$samples" "$a" "$b" <<'PY'
import statistics, sys
path, n = sys.argv[1], int(sys.argv[2])
times = {}
for line in open(path):
    name, secs, _ = line.rstrip("\n").split("\t")
    times.setdefault(name, []).append(float(secs))
for name in sys.argv[3:]:
    print(f"{name:<12} {n / statistics.median(times[name]) / 1e6:.2f} M lines/s")
PY
