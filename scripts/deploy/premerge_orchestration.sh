#!/usr/bin/env bash
# The pre-merge validation: deploy dry-run, migration dry-run, a backup and its verification,
# and the smoke tests of the same environment (or --smoke-env). Runs every step even when one fails, keeps each
# step's output in premerge_artifacts/<stamp>/, and writes summary.json and summary.md (the
# PR comment). Exit 1 when any step failed.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: premerge_orchestration.sh --env ENV [--smoke-env ENV] [--migrations DIR]
                                 [--root DIR] [--dry-run] [--verbose] [--help]

Runs, in order, always all of them:
  1. deploy_dryrun     deploy_dryrun.sh --env ENV
  2. migration_dryrun  migration_dryrun.sh --env ENV [--dir DIR]
  3. backup            backup.sh --env ENV (with --dry-run: backup.sh --dry-run)
  4. verify_backup     mobius-verify on the new backup (skipped with --dry-run)
  5. smoke             smoke_tests.sh --env SMOKE_ENV (default: ENV), reports into the
                       artifacts directory (with --dry-run: the spec is only checked)
Each step's stdout and stderr go to ROOT/premerge_artifacts/<YYYYmmddTHHMMSS>/, with
summary.json ({"type":"premerge_summary", env, ok, steps: [{name, command, exit_code,
outcome (pass|fail|skipped), duration_ms, artifacts}]}) and summary.md (a Markdown table
and checklist for the PR comment). The directory is printed on stdout.

Exit codes: 0 every step passed, 1 a step failed, 2 usage, 4 cannot write the artifacts.
USAGE
}

smoke_env="" migrations_dir=""
mobius_flag --smoke-env env smoke_env
mobius_flag --migrations value migrations_dir
mobius_parse "$@"
check_env "$env"
# The environment deployed is the one smoke-tested, unless --smoke-env says otherwise.
smoke_env="${smoke_env:-$env}"
root="${MOBIUS_ROOT:-.}"

# A fresh directory per run: mkdir (without -p) claims the name.
mkdir -p "$root/premerge_artifacts" || die 4 "cannot create $root/premerge_artifacts"
base="$root/premerge_artifacts/$(date -u +%Y%m%dT%H%M%S)"
art="$base"
n=1
until mkdir "$art" 2>/dev/null; do
  n=$((n + 1))
  ((n < 100)) || die 4 "cannot create an artifacts directory like $base"
  art="$base-$n"
done
log "artifacts: $art"

# JSON string escaping for the summary: backslash, quote, and control characters.
json_str() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      "\\") out+="\\\\" ;;
      '"') out+='\"' ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      $'\t') out+='\t' ;;
      *)
        if [[ "$c" < ' ' ]]; then
          out+="$(printf '\\u%04x' "'$c")"
        else
          out+="$c"
        fi
        ;;
    esac
  done
  printf '"%s"' "$out"
}

# Milliseconds since the epoch, for duration_ms. BSD date (macOS) has no %N: there perl's
# Time::HiRes (shipped with macOS) tells the time; with neither, whole seconds, in ms.
if [[ "$(date +%3N)" =~ ^[0-9]{3}$ ]]; then # portable: asks whether date is GNU's
  now_ms() { date +%s%3N; }                   # portable: it is
elif command -v perl >/dev/null 2>&1; then
  now_ms() { perl -MTime::HiRes=time -e 'printf "%d\n", time() * 1000'; }
else
  now_ms() { printf '%s000\n' "$(date +%s)"; }
fi

names=() commands=() codes=() outcomes=() durations=()
vflags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then vflags+=(--verbose); fi
passthrough=(${vflags[@]+"${vflags[@]}"})
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then passthrough+=(--dry-run); fi

# step NAME CMD...: runs CMD with stdout/stderr into the artifacts; never stops the run.
step() {
  local name="$1" start rc=0
  shift
  local idx="${#names[@]}"
  local prefix
  prefix="$(printf '%02d_%s' "$((idx + 1))" "$name")"
  start="$(now_ms)"
  log "step $((idx + 1)): $name: $*"
  "$@" >"$art/$prefix.stdout" 2>"$art/$prefix.stderr" || rc=$?
  names+=("$name")
  commands+=("$*")
  codes+=("$rc")
  durations+=("$(($(now_ms) - start))")
  if ((rc == 0)); then outcomes+=(pass); else outcomes+=(fail); fi
  log "step $((idx + 1)): $name: ${outcomes[idx]} (exit $rc)"
  if ((rc != 0)); then sed 's/^/    /' "$art/$prefix.stderr" | tail -n 20 >&2; fi
}

skip() {
  local name="$1" why="$2"
  names+=("$name")
  commands+=("$why")
  codes+=(0)
  durations+=(0)
  outcomes+=(skipped)
  log "step ${#names[@]}: $name: skipped ($why)"
}

here="$MOBIUS_DEPLOY_DIR"
step deploy_dryrun "$here/deploy_dryrun.sh" --env "$env" ${passthrough[@]+"${passthrough[@]}"}
mig=(--env "$env")
if [[ -n "$migrations_dir" ]]; then mig+=(--dir "$migrations_dir"); fi
step migration_dryrun "$here/migration_dryrun.sh" ${mig[@]+"${mig[@]}"} ${passthrough[@]+"${passthrough[@]}"}
step backup "$here/backup.sh" --env "$env" ${passthrough[@]+"${passthrough[@]}"}
backup_idx=$((${#names[@]} - 1))
backup_path="$(tail -n 1 "$art/$(printf '%02d' "$((backup_idx + 1))")_backup.stdout")"
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  skip verify_backup "dry run: no backup was written"
elif [[ "${codes[backup_idx]}" != 0 || ! -f "$backup_path" ]]; then
  step verify_backup false "no backup to verify: the backup step failed"
else
  verify_bin="$(mobius_bin mobius-verify)"
  step verify_backup "$verify_bin" "$backup_path" ${vflags[@]+"${vflags[@]}"}
fi
smoke=("$here/smoke_tests.sh" --env "$smoke_env")
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  smoke+=(--dry-run)
else
  smoke+=(--report-dir "$art/smoke")
fi
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then smoke+=(--verbose); fi
step smoke ${smoke[@]+"${smoke[@]}"}

failed=0
for o in ${outcomes[@]+"${outcomes[@]}"}; do
  if [[ "$o" == fail ]]; then failed=$((failed + 1)); fi
done
ok=true
((failed == 0)) || ok=false

{
  printf '{"type":"premerge_summary","env":%s,"smoke_env":%s,"dry_run":%s,"ok":%s,"artifacts":%s,"steps":[' \
    "$(json_str "$env")" "$(json_str "$smoke_env")" \
    "$([[ "$MOBIUS_DRY_RUN" == 1 ]] && echo true || echo false)" "$ok" "$(json_str "$art")"
  for i in "${!names[@]}"; do
    ((i == 0)) || printf ','
    prefix="$(printf '%02d_%s' "$((i + 1))" "${names[i]}")"
    files=""
    for f in "$prefix.stdout" "$prefix.stderr"; do
      if [[ -f "$art/$f" ]]; then files+="${files:+,}$(json_str "$f")"; fi
    done
    if [[ "${names[i]}" == smoke && -d "$art/smoke" ]]; then
      for f in "$art"/smoke/*; do
        [[ -e "$f" ]] && files+="${files:+,}$(json_str "smoke/$(basename "$f")")"
      done
    fi
    printf '{"name":%s,"command":%s,"exit_code":%s,"outcome":%s,"duration_ms":%s,"artifacts":[%s]}' \
      "$(json_str "${names[i]}")" "$(json_str "${commands[i]}")" "${codes[i]}" \
      "$(json_str "${outcomes[i]}")" "${durations[i]}" "$files"
  done
  printf ']}\n'
} >"$art/summary.json" || die 4 "cannot write $art/summary.json"

{
  if [[ "$ok" == true ]]; then
    printf '## MOBIUS pre-merge validation: passed\n\n'
  else
    printf '## MOBIUS pre-merge validation: FAILED (%d step(s))\n\n' "$failed"
  fi
  bt='`'
  printf 'Environment %s, smoke tests against %s%s.\n\n' "$bt$env$bt" "$bt$smoke_env$bt" \
    "$([[ "$MOBIUS_DRY_RUN" == 1 ]] && echo ' (dry run)' || true)"
  printf '| # | step | outcome | exit | duration |\n| --- | --- | --- | --- | --- |\n'
  for i in "${!names[@]}"; do
    case "${outcomes[i]}" in
      pass) mark='✅ pass' ;;
      fail) mark='❌ fail' ;;
      *) mark='⏭️ skipped' ;;
    esac
    printf '| %d | %s | %s | %s | %s ms |\n' "$((i + 1))" "${names[i]}" "$mark" "${codes[i]}" "${durations[i]}"
  done
  printf '\n### Checklist\n\n'
  for i in "${!names[@]}"; do
    box=' '
    [[ "${outcomes[i]}" == pass ]] && box=x
    printf -- '- [%s] %s' "$box" "${names[i]}"
    [[ "${outcomes[i]}" == skipped ]] && printf ' (%s)' "${commands[i]}"
    printf '\n'
  done
  printf '\nArtifacts: %s\n' "$bt$(basename "$art")$bt"
} >"$art/summary.md" || die 4 "cannot write $art/summary.md"

printf '%s\n' "$art"
if [[ "$ok" == true ]]; then
  log "pre-merge validation passed for $env; summary: $art/summary.md"
  exit 0
fi
log "PRE-MERGE VALIDATION FAILED for $env: $failed step(s) failed; summary: $art/summary.md"
exit 1
