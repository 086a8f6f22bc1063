#!/usr/bin/env bash
# The README's first command: a guarded deployment of the built-in demo service, end to end,
# in a temporary root. Builds the tools, starts mobius-demo on a free loopback port, then
# backup → verify → deploy a good config → smoke → monitor (pass) → deploy a bad config →
# monitor detects it → auto-rollback → healthy again → compliance export.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/demo.sh [--root DIR] [--env ENV] [--interval 200ms] [--dry-run] [--verbose] [--help]

Runs a whole guarded deployment against mobius-demo in DIR (default: a new temporary
directory, kept afterwards so you can look at the backups, logs, history and export).
Takes well under a minute. Only loopback (127.0.0.1) is used.
USAGE
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# For mobius_sha256sum and MOBIUS_ENV_RE; like the deploy scripts, this runs on macOS's bash
# 3.2 and BSD tools too (see the top of lib.sh).
# shellcheck source=deploy/lib.sh
source "$repo/scripts/deploy/lib.sh"
root="" env="production" interval="200ms" dry_run=0 verbose=0
while (($#)); do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --env) env="${2:?--env needs a name}"; shift 2 ;;
    --interval) interval="${2:?--interval needs a value}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --verbose) verbose=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'demo.sh: unknown option %s (see --help)\n' "$1" >&2; exit 2 ;;
  esac
done
[[ "$env" =~ $MOBIUS_ENV_RE ]] || { printf 'demo.sh: invalid --env %s\n' "$env" >&2; exit 2; }

step=0
say() { step=$((step + 1)); printf '\n[%d] %s\n' "$step" "$*"; }
quiet() { if ((verbose)); then "$@"; else "$@" >/dev/null; fi; }

if ((dry_run)); then
  cat <<PLAN
demo.sh (dry run): would build the tools with cargo, start mobius-demo on 127.0.0.1:<free port>
in a temporary root with the shipped config/, then run:
deploy_dryrun.sh, migration_dryrun.sh, backup.sh, mobius-verify, a good deploy,
smoke_tests.sh, monitor.sh (pass), a bad deploy, monitor.sh --auto-rollback (rollback),
a health check, lcm_export.sh.
PLAN
  exit 0
fi

say "building the tools (cargo build --release)"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bins
export MOBIUS_BIN_DIR="${CARGO_TARGET_DIR:-$repo/target}/release"

if [[ -z "$root" ]]; then
  root="$(mktemp -d "${TMPDIR:-/tmp}/mobius-demo.XXXXXX")"
fi
mkdir -p "$root"
root="$(cd "$root" && pwd)"
export MOBIUS_ROOT="$root"
cp -R "$repo/config" "$root/"
deploy="$repo/scripts/deploy"

say "starting mobius-demo for $env on a free loopback port"
demo_out="$root/demo.out"
"$MOBIUS_BIN_DIR/mobius-demo" --env "$env" --listen 127.0.0.1:0 >"$demo_out" 2>"$root/demo.log" &
demo_pid=$!
trap 'kill "$demo_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [[ -s "$demo_out" ]] && break
  sleep 0.05
done
url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$demo_out")"
[[ -n "$url" ]] || { printf 'demo.sh: mobius-demo did not start; see %s\n' "$root/demo.log" >&2; exit 4; }
# The shipped config points at port 8080; this run's demo listens elsewhere.
for f in "$root"/config/*/app.json "$root"/config/*/smoke.json; do
  # -i with an attached suffix is the in-place edit GNU and BSD sed both understand.
  if [[ -f "$f" ]]; then
    sed -i.orig "s|http://127.0.0.1:8080|$url|g" "$f"
    rm -f -- "$f.orig"
  fi
done
echo "    demo service at $url (pid $demo_pid), root $root"

if [[ -x "$deploy/deploy_dryrun.sh" ]]; then
  say "deployment dry run: config, free space, binaries, health URL, and the plan"
  quiet "$deploy/deploy_dryrun.sh" --env "$env"
  echo "    all checks passed"
fi
if [[ -x "$deploy/migration_dryrun.sh" ]]; then
  say "migration dry run (Flyway-style validation of migrations/)"
  quiet "$deploy/migration_dryrun.sh" --env "$env" --dir "$repo/migrations"
  echo "    names, order and hashes valid"
fi

app="$root/config/$env/app.json"
smoke="$root/config/$env/smoke.json"
set_config() {
  # A deploy, as far as the demo is concerned: a new app.json (and the smoke spec that
  # expects its version) written next to the old and renamed over it.
  local version="$1" healthy="$2" current
  current="$(sed -n 's|.*"version": "\([^"]*\)".*|\1|p' "$app" | head -n1)"
  sed -e "s|\"version\": \"$current\"|\"version\": \"$version\"|" \
    -e "s|\"healthy\": [a-z]*|\"healthy\": $healthy|" "$app" >"$app.new"
  mv "$app.new" "$app"
  if [[ -f "$smoke" ]]; then
    sed -e "s|\"$current\"|\"$version\"|g" "$smoke" >"$smoke.new"
    mv "$smoke.new" "$smoke"
  fi
}

say "backup of config/$env (SHA-256 verified)"
backup="$("$deploy/backup.sh" --env "$env")"
echo "    $backup"
(cd "$(dirname "$backup")" && mobius_sha256sum -c "$(basename "$backup").sha256")

say "deep verification of the backup"
quiet "$MOBIUS_BIN_DIR/mobius-verify" "$backup"
echo "    every entry matches the manifest"

record() { quiet "$MOBIUS_BIN_DIR/mobius-history" --env "$env" "$@"; }

say "deploy a good config (version 1.5.0), recorded in the history"
record --action deploy --outcome started --detail version=1.5.0 --detail backup="$backup"
set_config "1.5.0" true
sleep 0.3

if [[ -x "$deploy/smoke_tests.sh" ]]; then
  say "smoke tests"
  quiet "$deploy/smoke_tests.sh" --env "$env"
fi

say "monitoring for 3s every $interval: expect pass"
quiet "$deploy/monitor.sh" --env "$env" --duration 3s --interval "$interval"
echo "    verdict: pass"
record --action deploy --outcome success --detail version=1.5.0

say "backup of the good config, then deploy a bad config (health down)"
good_backup="$("$deploy/backup.sh" --env "$env")"
echo "    $good_backup"
record --action deploy --outcome started --detail version=1.6.0-bad --detail backup="$good_backup"
set_config "1.6.0-bad" false

if [[ -x "$deploy/rollback_dhash.sh" ]]; then
  say "monitoring with --auto-rollback: expect the rules to fire and the backup to come back"
  rc=0
  quiet "$deploy/monitor.sh" --env "$env" --duration 60s --interval "$interval" \
    --auto-rollback --backup "$good_backup" || rc=$?
  [[ "$rc" == 1 ]] || { printf 'demo.sh: expected a rollback verdict (exit 1), got %s\n' "$rc" >&2; exit 1; }
  record --action deploy --outcome failure --detail version=1.6.0-bad --detail reason=rolled_back
  say "the service answers healthy again"
  curl -fsS "$url/health"
  echo
else
  say "monitoring: expect a rollback verdict"
  rc=0
  quiet "$deploy/monitor.sh" --env "$env" --duration 60s --interval "$interval" || rc=$?
  [[ "$rc" == 1 ]] || { printf 'demo.sh: expected a rollback verdict (exit 1), got %s\n' "$rc" >&2; exit 1; }
  echo "    verdict: rollback (auto-rollback arrives with rollback_dhash.sh)"
  record --action deploy --outcome failure --detail version=1.6.0-bad --detail reason=rollback_verdict
fi

say "the deployment history's hash chain"
"$MOBIUS_BIN_DIR/mobius-verify" --history --env "$env"

if [[ -x "$deploy/lcm_export.sh" ]]; then
  say "compliance export"
  quiet "$deploy/lcm_export.sh" --env "$env" --days 30
  bundle="$(find "$root/exports" -maxdepth 1 -name "lcm_${env}_*.zip" | sort -r | head -n1)"
  echo "    $bundle — deployments.csv:"
  unzip -p "$bundle" deployments.csv | cut -d, -f1,4,5,8,11,12,13,16 | sed 's/^/      /'
fi

printf '\nDone. Artifacts in %s:\n' "$root"
for d in backups monitor_logs history premerge_artifacts exports; do
  if [[ -d "$root/$d" ]]; then
    n="$(find "$root/$d" -maxdepth 1 -mindepth 1 | wc -l)"
    # $(( )) drops the blanks BSD wc puts before the count.
    printf '  %-20s %s item(s)\n' "$d/" "$((n))"
  fi
done
