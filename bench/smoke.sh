#!/usr/bin/env bash
# mobius-smoke benchmark (issue 5): 100 body_contains checks against mobius-demo with
# `mobius-smoke --jobs 4` against a bash loop of curl + grep doing the same checks, timed by
# hyperfine (median of --runs), with both verdict lists compared line by line.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/smoke.sh [--env ENV] [--checks N] [--runs N] [--jobs N] [--no-build]
                      [--dry-run] [--verbose] [--help]

Builds the release binaries, starts mobius-demo on a free port (config in a temporary root,
environment ENV, default "bench"), generates N checks (default 100) cycling over /health,
/api/version, /api/items and /metrics, each with a body_contains; every 25th looks for text
that is not there, so both sides must report the same failures. Then:
  mobius-smoke --spec SPEC --jobs N       (default --jobs 4)
  bash loop: curl -s URL | grep -qF TEXT  (one check after the other)
are timed with hyperfine --runs N (default 5); prints both medians and the ratio
(target: mobius-smoke at least 10x faster) and whether the verdicts are the same.
--no-build uses the binaries already built. --dry-run prints the plan and exits.
USAGE
}

env="bench" checks=100 runs=5 jobs=4 build=1
no_build=0
mobius_flag --checks number checks
mobius_flag --runs number runs
mobius_flag --jobs number jobs
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
for n in "$checks" "$runs" "$jobs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die 2 "--checks, --runs and --jobs take positive numbers"
done
for tool in curl hyperfine jq; do
  command -v "$tool" >/dev/null 2>&1 || die 4 "$tool is needed for this benchmark; install it"
done

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would build release, start mobius-demo (env $env), and time $checks checks: mobius-smoke --jobs $jobs vs a curl+grep loop, hyperfine --runs $runs"
  exit 0
fi

release_dir="${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release"
if ((build)); then
  log "building release binaries (cargo build --release -p mobius-smoke -p mobius-demo)"
  cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" \
    -p mobius-smoke -p mobius-demo >&2 || die 4 "cargo build failed"
fi
smoke="$release_dir/mobius-smoke"
demo="$release_dir/mobius-demo"
[[ -x "$smoke" && -x "$demo" ]] || die 4 "release binaries missing in $release_dir (drop --no-build)"

work="$(mktemp -d)"
cleanup() {
  bench_stop_demos
  rm -rf "$work"
}
trap 'cleanup 2>/dev/null' EXIT
bench_demo "$work" "$env" '{"version":"bench-1","demo":{"latency_ms":0,"error_share":0,"healthy":true}}'
base="$BENCH_DEMO_URL"
vlog "demo at $base"

# The checks, one per line: name, path, text the body must contain.
paths=(/health /api/version /api/items /metrics)
needles=('"status":"ok"' '"service":"mobius-demo"' '"name":"gamma"' '"uptime_s"')
: >"$work/checks.tsv"
for ((i = 0; i < checks; i++)); do
  k=$((i % 4))
  needle="${needles[$k]}"
  if (((i + 1) % 25 == 0)); then needle="not-in-any-body-$i"; fi
  printf 'check-%03d\t%s\t%s\n' "$i" "${paths[$k]}" "$needle" >>"$work/checks.tsv"
done
jq -R -s --arg base "$base" '{base_url: $base, checks: [split("\n")[] | select(length > 0)
  | split("\t") | {name: .[0], path: .[1], expect: {body_contains: .[2]}}]}' \
  "$work/checks.tsv" >"$work/spec.json"

cat >"$work/curl_loop.sh" <<'LOOP'
#!/usr/bin/env bash
# The peer: each check is a curl of the URL and a grep of its body, one after the other.
set -uo pipefail
base="$1"
while IFS=$'\t' read -r name path needle; do
  if curl -s --max-time 10 "$base$path" | grep -qF -- "$needle"; then
    printf '%s ok\n' "$name"
  else
    printf '%s FAIL\n' "$name"
  fi
done <"$2"
LOOP

log "verdicts: one run of each"
"$smoke" --spec "$work/spec.json" --jobs "$jobs" --quiet >"$work/smoke.jsonl" || true
jq -r 'select(.type == "smoke_check") | "\(.name) \(if .ok then "ok" else "FAIL" end)"' \
  "$work/smoke.jsonl" >"$work/smoke.verdicts"
bash "$work/curl_loop.sh" "$base" "$work/checks.tsv" >"$work/curl.verdicts"
if cmp -s "$work/smoke.verdicts" "$work/curl.verdicts"; then
  same="yes"
else
  same="NO"
  diff "$work/smoke.verdicts" "$work/curl.verdicts" | head -n 10 >&2 || true
fi
failed="$(grep -c ' FAIL$' "$work/smoke.verdicts" || true)"

log "timing: hyperfine --runs $runs"
hyperfine --runs "$runs" --warmup 1 --ignore-failure --style basic \
  --export-json "$work/hyperfine.json" \
  -n "mobius-smoke --jobs $jobs" "'$smoke' --spec '$work/spec.json' --jobs $jobs --quiet >/dev/null" \
  -n "curl+grep loop" "bash '$work/curl_loop.sh' '$base' '$work/checks.tsv' >/dev/null" >&2

smoke_ms="$(jq '.results[0].median * 1000' "$work/hyperfine.json")"
curl_ms="$(jq '.results[1].median * 1000' "$work/hyperfine.json")"
awk -v s="$smoke_ms" -v c="$curl_ms" -v n="$checks" -v j="$jobs" -v same="$same" \
  -v failed="$failed" -v runs="$runs" '
BEGIN {
  printf "%d checks (%d expected to fail), median of %d runs:\n", n, int(n / 25), runs
  printf "  mobius-smoke --jobs %d  %8.1f ms\n", j, s
  printf "  curl+grep loop         %8.1f ms\n", c
  printf "  ratio                  %8.1fx faster (target >= 10x)\n", c / s
  printf "  same verdicts          %s (%d failed on both sides)\n", same, failed
}'
[[ "$same" == yes ]] || die 1 "the verdicts differ"
