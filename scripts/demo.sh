#!/usr/bin/env bash
# The README's first command: a guarded deployment of the built-in demo service, end to end,
# in a temporary root. Builds the tools, starts mobius-demo on a free loopback port, then
# backup → verify → deploy a good config → smoke → monitor (pass) → deploy a bad config →
# monitor detects it → auto-rollback → healthy again → compliance export.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/demo.sh [--root DIR] [--env ENV] [--interval 200ms] [--dry-run] [--verbose] [--help]
       scripts/demo.sh --serve [--root DIR] [--dry-run]
       scripts/demo.sh --stop  [--root DIR]

Without --serve/--stop: runs a whole guarded deployment against mobius-demo in DIR
(default: a new temporary directory, kept afterwards so you can look at the backups,
logs, history and export). Takes well under a minute. Only loopback (127.0.0.1) is used.

--serve: starts mobius-demo in the background for every environment of DIR/config/
(default DIR: $MOBIUS_ROOT or the current directory, e.g. the checkout), each at the
host:port of the health_url in its config/ENV/app.json (shipped: production 8080,
staging 8081), with its pidfile and log under DIR/run/ (demo-ENV.pid, demo-ENV.log).
Refuses (exit 4) when a port is taken or ENV is already being served. The framework's
Quick Start then runs as written against those services.
--stop: stops the services whose pidfiles --serve wrote (a stale pidfile is removed).

Exit codes: 0 done, 1 a step of the demo failed, 2 usage, 4 cannot start or stop a service.
USAGE
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The flag parser, mobius_sha256sum and MOBIUS_ENV_RE; like the deploy scripts, this runs on
# macOS's bash 3.2 and BSD tools too (see the top of scripts/lib/mobius.sh).
# shellcheck source=lib/mobius.sh
source "$repo/scripts/lib/mobius.sh"
env="production" interval="200ms" serve=0 stop=0
# The full demo runs in a root of its own (--root, or a new temporary one), never in an
# inherited $MOBIUS_ROOT; --serve and --stop default to $MOBIUS_ROOT, then the current directory.
inherited_root="${MOBIUS_ROOT:-}"
unset MOBIUS_ROOT
# The full demo makes its --root (below, with the shipped config copied in).
MOBIUS_NEW_ROOT_OK=1
mobius_flag --interval duration interval
mobius_flag --serve switch serve
mobius_flag --stop switch stop
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-}"
dry_run="$MOBIUS_DRY_RUN" verbose="$MOBIUS_VERBOSE"
# The steps below run the deploy scripts against their own root, given explicitly.
unset MOBIUS_ROOT
((serve + stop < 2)) || die 2 "--serve and --stop: give one of them"

# The host:port of config/ENV/app.json's health_url under ROOT ("" when there is none).
demo_addr() {
  sed -n 's|.*"health_url"[[:space:]]*:[[:space:]]*"http://\([^/"]*\).*|\1|p' \
    "$1/config/$2/app.json" 2>/dev/null | head -n 1
}

# Is PID alive and a mobius-demo? (ps -o comm= is the same on Linux and BSD.)
is_demo_pid() {
  [[ "$1" =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
    ps -p "$1" -o comm= 2>/dev/null | grep -q 'mobius-demo'
}

if ((serve || stop)); then
  root="${root:-${inherited_root:-.}}"
  [[ -d "$root" ]] || die 2 "--root $root is not a directory"
  root="$(cd "$root" && pwd)"
  run="$root/run"
fi

if ((stop)); then
  stopped=0
  for pidfile in "$run"/demo-*.pid; do
    [[ -f "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    pid="$(head -n 1 "$pidfile")"
    if is_demo_pid "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      if kill -0 "$pid" 2>/dev/null; then die 4 "$name (pid $pid) did not stop on SIGTERM"; fi
      log "stopped $name (pid $pid)"
      stopped=$((stopped + 1))
    else
      log "stale pidfile $pidfile (pid ${pid:-?} is not a running mobius-demo): removed"
    fi
    rm -f -- "$pidfile"
  done
  ((stopped > 0)) || log "no demo service was running under $run"
  exit 0
fi

if ((serve)); then
  [[ -d "$root/config" ]] || die 4 "no $root/config: --serve starts a service per config/ENV/app.json"
  demo_bin="$(mobius_bin mobius-demo)"
  mkdir -p "$run"
  envs=() addrs=()
  for app in "$root"/config/*/app.json; do
    [[ -f "$app" ]] || continue
    e="$(basename "$(dirname "$app")")"
    [[ "$e" =~ $MOBIUS_ENV_RE ]] || continue
    addr="$(demo_addr "$root" "$e")"
    [[ -n "$addr" ]] || die 4 "config/$e/app.json has no http://host:port health_url to serve"
    pidfile="$run/demo-$e.pid"
    if [[ -f "$pidfile" ]]; then
      pid="$(head -n 1 "$pidfile")"
      if is_demo_pid "$pid"; then
        die 4 "$e is already served (pid $pid, $pidfile): scripts/demo.sh --stop first"
      fi
      log "stale pidfile $pidfile (pid ${pid:-?} is gone): replaced"
      rm -f -- "$pidfile"
    fi
    # Something answering on the port already: refuse rather than fail half-way.
    if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
      die 4 "port ${addr##*:} of config/$e/app.json ($addr) is taken by another process: stop it or change health_url"
    fi
    envs+=("$e")
    addrs+=("$addr")
  done
  ((${#envs[@]})) || die 4 "no config/ENV/app.json under $root"
  if ((dry_run)); then
    for i in "${!envs[@]}"; do
      log "dry run: would start $demo_bin --env ${envs[i]} --listen ${addrs[i]} (pidfile $run/demo-${envs[i]}.pid)"
    done
    exit 0
  fi
  for i in "${!envs[@]}"; do
    e="${envs[i]}"
    out="$run/demo-$e.out"
    : >"$out"
    "$demo_bin" --env "$e" --listen "${addrs[i]}" --root "$root" >"$out" 2>"$run/demo-$e.log" &
    pid=$!
    for _ in $(seq 1 100); do
      [[ -s "$out" ]] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if ! grep -q '"type":"listening"' "$out"; then
      kill "$pid" 2>/dev/null || true
      die 4 "mobius-demo for $e did not start on ${addrs[i]}: $(tail -n 1 "$run/demo-$e.log")"
    fi
    printf '%s\n' "$pid" >"$run/demo-$e.pid"
    log "serving $e at http://${addrs[i]} (pid $pid, log $run/demo-$e.log)"
  done
  log "stop them with: scripts/demo.sh --stop${root:+ --root $root}"
  exit 0
fi

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
# The shipped config points at a fixed port; this run's demo listens elsewhere.
for f in "$root/config/$env"/*.json; do
  # -i with an attached suffix is the in-place edit GNU and BSD sed both understand.
  if [[ -f "$f" ]]; then
    sed -i.orig "s|http://127\.0\.0\.1:[0-9][0-9]*|$url|g" "$f"
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
mobius_check_sidecar "$backup" && echo "    sha256sum -c: OK"

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
