#!/usr/bin/env bash
# Benchmark of mobius-judge (issue 3): throughput on a file of healthy samples against
# `jq -c .` and against bare serde_json parsing of the same lines, and peak memory from a
# small to a large stream. Reports figures; asserts nothing (machines are noisy).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bench/judge.sh [--samples N] [--mem-small N] [--mem-large N] [--runs N]
                      [--dir DIR] [--keep] [--no-jq] [--dry-run] [--verbose] [--help]

Generates N healthy sample lines (default 5000000, deterministic: examples/gen_samples.rs,
4 targets, one with the service's error_rate/p95_ms), then times on the same file:
  mobius-judge            the real judge (must print a pass verdict: it read everything)
  parse_only --ignored    serde_json into IgnoredAny per line: the "bare parsing" baseline
  parse_only --value      serde_json into serde_json::Value per line (for reference)
  jq -c . >/dev/null      re-printing each line
Best of --runs (default 3) for the Rust tools, one run of jq. Then peak RSS
(/usr/bin/time %M) of the judge on --mem-small and --mem-large samples (default 1M, 10M)
piped straight from the generator, so no 2 GB file is written.

Targets (issue 3): judge >= 10x jq, >= 40% of the IgnoredAny baseline, flat memory.

  --dir DIR    where to write the sample file (default: a temporary directory)
  --keep       keep the sample file
  --no-jq      skip jq (it takes the longest)
  --dry-run    print the commands, run nothing
  --verbose    print each command as it runs
  --help       this text
USAGE
}

die() {
  printf 'bench/judge.sh: %s\n' "$*" >&2
  exit 2
}

samples=5000000 mem_small=1000000 mem_large=10000000 runs=3
dir="" keep=0 use_jq=1 dry_run=0 verbose=0
while (($#)); do
  case "$1" in
    --samples) samples="${2:?--samples needs a number}"; shift 2 ;;
    --mem-small) mem_small="${2:?--mem-small needs a number}"; shift 2 ;;
    --mem-large) mem_large="${2:?--mem-large needs a number}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-jq) use_jq=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --verbose) verbose=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in "$samples" "$mem_small" "$mem_large" "$runs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
judge="$target/release/mobius-judge"
gen="$target/release/examples/gen_samples"
parse="$target/release/examples/parse_only"
timer=/usr/bin/time

say() { printf '%s\n' "$*"; }
vsay() { if ((verbose)); then printf '+ %s\n' "$*" >&2; fi; }

if ((dry_run)); then
  say "dry run: cargo build --release -p mobius-judge --bin mobius-judge --example gen_samples --example parse_only"
  say "dry run: $gen $samples > ${dir:-\$TMP}/samples.jsonl"
  say "dry run: time $judge, $parse --ignored, $parse --value$( ((use_jq)) && printf ', jq -c .') on it (best of $runs)"
  say "dry run: $gen $mem_small | $timer -f %M $judge; $gen $mem_large | $timer -f %M $judge"
  exit 0
fi

[[ -x "$timer" ]] || die "$timer is needed for timings and peak RSS (apt-get install time)"
if ((use_jq)) && ! command -v jq >/dev/null 2>&1; then
  die "jq not found: install it or pass --no-jq"
fi

vsay "cargo build --release -p mobius-judge"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mobius-judge \
  --bin mobius-judge --example gen_samples --example parse_only

if [[ -z "$dir" ]]; then
  dir="$(mktemp -d "${TMPDIR:-/tmp}/mobius-judge-bench.XXXXXX")"
  made_dir=1
else
  mkdir -p "$dir"
  made_dir=0
fi
file="$dir/samples.jsonl"
tfile="$dir/time.txt"
efile="$dir/stderr.txt"
cleanup() {
  rm -f "$tfile" "$efile" "$dir/verdict.jsonl"
  if ((!keep)); then
    rm -f "$file"
    if ((made_dir)); then rmdir "$dir" 2>/dev/null || true; fi
  fi
}
trap cleanup EXIT

vsay "$gen $samples > $file"
"$gen" "$samples" >"$file"
bytes="$(wc -c <"$file")"
cat "$file" >/dev/null # into the page cache, so every tool reads from memory

# time_once OUT CMD...: runs CMD < file, stdout to OUT; sets secs and rss.
secs="" rss=""
time_once() {
  local out="$1"
  shift
  vsay "$* < $file > $out"
  "$timer" -f '%e %M' -o "$tfile" "$@" <"$file" >"$out" 2>"$efile" ||
    die "$* failed: $(cat "$efile")"
  read -r secs rss <"$tfile"
}

# best NAME RUNS OUT CMD...: the fastest of RUNS runs; sets best_secs.
best_secs=""
best() {
  local name="$1" n="$2" out="$3" i
  shift 3
  best_secs=""
  for ((i = 0; i < n; i++)); do
    time_once "$out" "$@"
    if [[ -z "$best_secs" ]] || awk -v a="$secs" -v b="$best_secs" 'BEGIN { exit !(a < b) }'; then
      best_secs="$secs"
    fi
  done
  printf '%-24s %8.2f s  %12s lines/s\n' "$name" "$best_secs" "$(rate "$best_secs")"
}

rate() {
  awk -v n="$samples" -v s="$1" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n / s }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) a = 0.01; printf "%.2f", b / a }'
}

say "mobius-judge benchmark: $samples samples, $bytes bytes ($(nproc) cores)"
best "mobius-judge" "$runs" "$dir/verdict.jsonl" "$judge" --quiet
judge_secs="$best_secs"
grep -q '"decision":"pass"' "$dir/verdict.jsonl" ||
  die "the judge did not pass the healthy file: $(cat "$dir/verdict.jsonl")"
best "parse_only --ignored" "$runs" /dev/null "$parse" --ignored
ignored_secs="$best_secs"
best "parse_only --value" "$runs" /dev/null "$parse" --value
value_secs="$best_secs"
jq_secs=""
if ((use_jq)); then
  best "jq -c ." 1 /dev/null jq -c .
  jq_secs="$best_secs"
fi

say ""
say "judge vs bare serde_json (IgnoredAny, the baseline): $(awk -v j="$judge_secs" -v b="$ignored_secs" 'BEGIN { printf "%.0f%%", 100 * b / (j > 0 ? j : 0.01) }') of its speed (target >= 40%)"
say "judge vs serde_json::Value:                        $(awk -v j="$judge_secs" -v b="$value_secs" 'BEGIN { printf "%.0f%%", 100 * b / (j > 0 ? j : 0.01) }') of its speed"
if [[ -n "$jq_secs" ]]; then
  say "judge vs jq -c .:                                  $(ratio "$judge_secs" "$jq_secs")x faster (target >= 10x)"
fi

say ""
for n in "$mem_small" "$mem_large"; do
  vsay "$gen $n | $judge --quiet"
  "$gen" "$n" | "$timer" -f '%e %M' -o "$tfile" "$judge" --quiet >/dev/null ||
    die "judge failed on $n piped samples"
  read -r secs rss <"$tfile"
  printf 'peak RSS with %9s samples: %8s KB  (%s s)\n' "$n" "$rss" "$secs"
  if [[ "$n" == "$mem_small" ]]; then small_rss="$rss"; else large_rss="$rss"; fi
done
say "memory growth from $mem_small to $mem_large samples: $(awk -v a="$small_rss" -v b="$large_rss" 'BEGIN { printf "%+.1f%%", 100 * (b - a) / a }') (target: flat)"
