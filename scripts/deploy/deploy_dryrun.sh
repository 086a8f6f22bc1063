#!/usr/bin/env bash
# Validates a deployment of an environment without changing anything, lists EVERY problem
# found (not just the first), and prints the plan of the guarded deployment.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: deploy_dryrun.sh --env ENV [--min-free-mb N] [--root DIR] [--dry-run] [--verbose] [--help]

Checks, changing nothing:
  - config/ENV/ exists, app.json is there with an http(s) health_url, and every JSON
    file under it parses (mobius-verify --config)
  - config/ENV/smoke.json, when present, is a valid smoke spec (mobius-smoke --dry-run)
  - the backups directory is writable (or can be created) with at least --min-free-mb
    (default 10) MiB free and twice the size of config/ENV/
  - the mobius binaries are present
  - the health URL answers (mobius-probe --env ENV --count 1)
then prints the plan: backup, deploy, smoke, monitor, with what each step would do.

--dry-run changes nothing more: this script never changes anything anyway.

Exit codes: 0 ready to deploy, 1 problems (every one is listed), 2 usage.
USAGE
}

min_free_mb=10
mobius_flag --min-free-mb number min_free_mb
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-.}"
config_dir="$root/config/$env"
backups_dir="$root/backups"

problems=()
problem() {
  problems+=("$*")
  log "PROBLEM: $*"
}
flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi

# Binaries first: the other checks need them ("" when missing; no associative arrays in 3.2).
verify_bin="" smoke_bin="" probe_bin=""
for name in mobius-verify mobius-backup mobius-smoke mobius-probe mobius-judge mobius-rollback; do
  if path="$(mobius_bin "$name" 2>/dev/null)"; then
    vlog "found $name: $path"
    case "$name" in
      mobius-verify) verify_bin="$path" ;;
      mobius-smoke) smoke_bin="$path" ;;
      mobius-probe) probe_bin="$path" ;;
    esac
  else
    problem "binary $name not found (build with 'cargo build --release' or put it on PATH)"
  fi
done

# Config: mobius-verify lists every problem on stderr, one line each.
if [[ -n "$verify_bin" ]]; then
  rc=0
  errors="$("$verify_bin" --config --env "$env" ${flags[@]+"${flags[@]}"} 2>&1 >/dev/null)" || rc=$?
  if ((rc != 0)); then
    while IFS= read -r line; do
      [[ -n "$line" ]] && problem "${line#mobius-verify: }"
    done <<<"$errors"
    ((rc == 1)) || problem "mobius-verify --config failed (exit $rc)"
  else
    vlog "$errors"
  fi
fi

# Smoke spec (optional: a service without one is deployed without smoke tests).
smoke_plan="no smoke.json: smoke tests skipped"
if [[ -f "$config_dir/smoke.json" && -n "$smoke_bin" ]]; then
  rc=0
  listing="$("$smoke_bin" --env "$env" --dry-run 2>&1)" || rc=$?
  if ((rc != 0)); then
    problem "config/$env/smoke.json is not a valid smoke spec (mobius-smoke --dry-run exit $rc): $(head -n 3 <<<"$listing" | tr '\n' ' ')"
  else
    smoke_plan="run the checks of config/$env/smoke.json ($(grep -c 'dry run: check ' <<<"$listing" || true) checks listed by mobius-smoke --dry-run)"
  fi
fi

# Backups directory: writable, or creatable in its nearest existing parent; enough space.
target="$backups_dir"
while [[ ! -e "$target" ]]; do
  target="$(dirname "$target")"
done
if [[ ! -d "$target" ]]; then
  problem "$target is not a directory, so $backups_dir cannot be created"
elif [[ ! -w "$target" ]]; then
  problem "$target is not writable: backups cannot be written to $backups_dir"
else
  free_kb="$(df -Pk -- "$target" | awk 'NR == 2 { print $4 }')"
  config_kb=0
  if [[ -d "$config_dir" ]]; then
    config_kb="$(du -sk -- "$config_dir" | awk '{ print $1 }')"
  fi
  need_kb=$((min_free_mb * 1024))
  ((2 * config_kb > need_kb)) && need_kb=$((2 * config_kb))
  if [[ ! "$free_kb" =~ ^[0-9]+$ ]]; then
    problem "cannot read the free space of $target from df"
  elif ((free_kb < need_kb)); then
    problem "only ${free_kb} KiB free for backups in $target; need ${need_kb} KiB"
  else
    vlog "backups: $target writable, ${free_kb} KiB free (need ${need_kb})"
  fi
fi

# Health URL: one real check.
if [[ -n "$probe_bin" && -f "$config_dir/app.json" ]]; then
  rc=0
  sample="$("$probe_bin" --env "$env" --count 1 --timeout 5s 2>/dev/null)" || rc=$?
  if ((rc != 0)) || ! grep -q '"ok":true' <<<"$sample"; then
    detail="$(sed -n 's/.*"detail":"\([^"]*\)".*/\1/p' <<<"$sample")"
    target_url="$(sed -n 's/.*"target":"\([^"]*\)".*/\1/p' <<<"$sample")"
    problem "health URL ${target_url:-of config/$env/app.json} is not healthy: ${detail:-mobius-probe exit $rc}"
  else
    vlog "health: $sample"
  fi
fi

cat <<PLAN
deployment plan for $env (nothing has been changed):
  1. backup:  back up $config_dir into $backups_dir/dhash_${env}_<UTC stamp>.zip + .sha256 (backup.sh --env $env), verified by mobius-verify
  2. deploy:  replace $config_dir with the new configuration; the service re-reads it
  3. smoke:   $smoke_plan (smoke_tests.sh --env $env)
  4. monitor: probe the health URL and judge the samples; roll back to the backup of step 1 on a failed verdict (monitor.sh --env $env)
PLAN

if ((${#problems[@]} > 0)); then
  log "DEPLOY DRY-RUN FAILED for $env: ${#problems[@]} problem(s):"
  for p in ${problems[@]+"${problems[@]}"}; do
    log "  - $p"
  done
  exit 1
fi
log "deploy dry-run passed for $env: ready to deploy"
