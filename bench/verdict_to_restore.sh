#!/usr/bin/env bash
# Verdict-to-restore benchmark (issue 11): the time from writing a bad config to the service
# restored and healthy, for monitor.sh --auto-rollback against a plain `curl` loop that copies
# the backup's files back after 3 consecutive failed health checks, at each --intervals value.
# Both need 3 failures, two intervals apart, before they act; what differs is what happens
# after the third. Reports figures; asserts nothing (machines are noisy).
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/verdict_to_restore.sh [--runs N] [--intervals "1s 10s"] [--no-build]
                                   [--dry-run] [--verbose] [--help]

For each interval, --runs (default 3) trials of each tool, alternating, each in a fresh root
with mobius-demo on a free loopback port and a backup of its healthy config:
  monitor   scripts/deploy/monitor.sh --env production --interval I --duration 60m
            --auto-rollback --backup B   (ends when mobius-rollback has restored B and seen
            3 healthy checks)
  curl      every I: curl the health URL; after 3 consecutive failures unzip B and copy its
            files over config/production/, then curl every 50 ms until healthy
The clock starts when the bad config (healthy: false) is written (the tool starts once the
demo answers 503) and stops when the tool has seen the service healthy again. Prints each trial, the medians and the ratio
monitor / curl per interval. --dry-run prints the plan and exits.
USAGE
}

runs=3 intervals="1s 10s" no_build=0 result=0
mobius_flag --runs number runs
mobius_flag --intervals value intervals
mobius_flag --no-build switch no_build
mobius_parse "$@"
bench_positive "$runs"
for i in $intervals; do mobius_check_value --intervals duration "$i"; done

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: $runs trial(s) of monitor.sh --auto-rollback and of a curl loop at each of: $intervals"
  exit 0
fi
bench_require curl unzip python3
bench_build "$((1 - no_build))" mobius-demo mobius-probe mobius-judge mobius-backup mobius-verify \
  mobius-rollback mobius-history
export MOBIUS_BIN_DIR="$BENCH_RELEASE"
deploy="$MOBIUS_REPO_DIR/scripts/deploy"

now_ms() { date +%s%3N; }
# Seconds of a humantime interval, for sleep (the two forms used here: Ns and Nms).
seconds() {
  case "$1" in
    *ms) python3 -c "print(${1%ms} / 1000)" ;;
    *s) printf '%s\n' "${1%s}" ;;
    *) die 2 "--intervals: use seconds or milliseconds (e.g. 1s, 500ms), not '$1'" ;;
  esac
}

work="$(mktemp -d "${TMPDIR:-/tmp}/mobius-bench-v2r.XXXXXX")"
demo_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n "$demo_pid" ]]; then kill "$demo_pid" 2>/dev/null || true; fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf -- "$work"; fi
}
trap cleanup EXIT

# setup: a fresh root with a demo serving a healthy config and a backup of it. Sets root,
# url, backup.
setup() {
  root="$work/root-$1"
  rm -rf "$root"
  mkdir -p "$root"
  cp -R "$MOBIUS_REPO_DIR/config" "$root/"
  "$BENCH_RELEASE/mobius-demo" --env production --listen 127.0.0.1:0 --root "$root" \
    >"$root/demo.out" 2>"$root/demo.log" &
  demo_pid=$!
  for _ in $(seq 1 100); do
    [[ -s "$root/demo.out" ]] && break
    sleep 0.05
  done
  url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$root/demo.out")"
  [[ -n "$url" ]] || die 4 "mobius-demo did not start; see $root/demo.log"
  sed -i "s|http://127\.0\.0\.1:[0-9]*|$url|g" "$root/config/production/app.json"
  sleep 0.3
  backup="$(MOBIUS_ROOT="$root" "$deploy/backup.sh" --env production 2>"$root/backup.err")"
  [[ "$backup" == /* ]] || backup="$root/$backup"
}

teardown() {
  kill "$demo_pid" 2>/dev/null || true
  wait "$demo_pid" 2>/dev/null || true
  demo_pid=""
}

break_config() {
  local app="$root/config/production/app.json"
  sed 's/"healthy": true/"healthy": false/' "$app" >"$app.new"
  mv "$app.new" "$app"
  # The demo re-reads its config every 100 ms; once it answers 503, both tools' first check
  # fails alike (else one may see the old config once and lose an interval by chance).
  while healthy 2>/dev/null; do sleep 0.02; done
}

healthy() { curl -fsS -o /dev/null --max-time 5 "$url/health"; }

# trial_monitor INTERVAL: sets result to the milliseconds from the bad config to healthy again.
trial_monitor() {
  local start rc=0
  setup monitor
  start="$(now_ms)"
  break_config
  MOBIUS_ROOT="$root" "$deploy/monitor.sh" --env production --interval "$1" --duration 60m \
    --auto-rollback --backup "$backup" >/dev/null 2>"$root/monitor.err" || rc=$?
  ((rc == 1)) || die 4 "monitor.sh exited $rc, not 1 (rolled back); see $root/monitor.err"
  healthy || die 4 "monitor.sh rolled back but the service is not healthy"
  result=$(($(now_ms) - start))
  teardown
}

# trial_curl INTERVAL: the same with a plain curl loop.
trial_curl() {
  local start pause failures=0
  pause="$(seconds "$1")"
  setup curl
  start="$(now_ms)"
  break_config
  while ((failures < 3)); do
    if healthy 2>/dev/null; then failures=0; else failures=$((failures + 1)); fi
    ((failures < 3)) && sleep "$pause"
  done
  rm -rf "$root/restore"
  unzip -q "$backup" -d "$root/restore"
  rm -f "$root/restore/MOBIUS-MANIFEST.json"
  cp -R "$root/restore/." "$root/config/production/"
  until healthy 2>/dev/null; do sleep 0.05; done
  result=$(($(now_ms) - start))
  teardown
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

printf '%-9s %-8s %s\n' interval tool 'ms from bad config to healthy again (each trial)'
for interval in $intervals; do
  m_times="" c_times=""
  for _ in $(seq 1 "$runs"); do
    # Not in $( ): a failed trial must stop the benchmark (and its EXIT trap the demo).
    trial_monitor "$interval"
    m="$result"
    trial_curl "$interval"
    c="$result"
    vlog "$interval: monitor $m ms, curl $c ms"
    m_times+="$m "
    c_times+="$c "
  done
  m_med="$(tr ' ' '\n' <<<"$m_times" | grep . | median)"
  c_med="$(tr ' ' '\n' <<<"$c_times" | grep . | median)"
  printf '%-9s %-8s %s (median %s)\n' "$interval" monitor "$m_times" "$m_med"
  printf '%-9s %-8s %s (median %s)\n' "$interval" curl "$c_times" "$c_med"
  printf '%-9s ratio monitor/curl: %s\n' "$interval" \
    "$(python3 -c "print(f'{$m_med / $c_med:.2f}')")"
done
