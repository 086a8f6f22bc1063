#!/usr/bin/env bash
# Checks the SQL migrations Flyway-style with mobius-verify --migrations and prints the
# ordered plan of pending ones; with --database-url and psql, also runs the pending ones in a
# transaction that is rolled back. Changes nothing.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: migration_dryrun.sh --env ENV [--dir DIR] [--database-url URL]
                           [--root DIR] [--dry-run] [--verbose] [--help]

Checks the migrations in DIR (default: ROOT/migrations) with `mobius-verify --migrations`:
names are V<version>__<description>.sql, versions unique (compared numerically) and not
below the newest applied one, and every migration history/ENV.jsonl records as applied
(action migration, outcome applied) is present and unchanged (the file and both SHA-256
are named otherwise). Then prints the ordered plan of pending migrations on stdout.
A missing DIR means the service has no migrations (exit 0).

  --database-url URL  when psql is installed, run the pending migrations against URL in
                      one transaction that is ROLLED BACK (psql --echo-all shows each
                      statement and its result); without psql this step is skipped
  --dry-run           the same checks: this script never changes anything

Record an applied migration with:
  mobius-history --env ENV --action migration --outcome applied \
    --detail file=V1__x.sql --detail version=1 --detail sha256=<sha256sum of the file>

Exit codes: 0 migrations valid (and the rehearsal passed), 1 a migration problem or a
            failed rehearsal, 2 usage, 4 tool failure (DIR unreadable).
USAGE
}

dir="" database_url=""
mobius_flag --dir value dir
mobius_flag --database-url value database_url
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-.}"
dir="${dir:-$root/migrations}"

verify="$(mobius_bin mobius-verify)"
flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi

rc=0
records="$("$verify" --migrations "$dir" --env "$env" ${flags[@]+"${flags[@]}"})" || rc=$?
if ((rc != 0 && rc != 1)); then
  die "$rc" "mobius-verify could not check $dir (exit $rc)"
fi
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then printf '%s\n' "$records" >&2; fi

# File names of pending migrations match [A-Za-z0-9_.]+ (mobius-verify checked), so the
# JSON string needs no unescaping.
pending=()
while IFS= read -r f; do
  pending+=("$f")
done < <(
  grep '"type":"migration"' <<<"$records" | grep '"status":"pending"' |
    sed -n 's/.*"file":"\([A-Za-z0-9_.]*\)".*/\1/p'
)
if ((rc != 0)); then
  log "MIGRATION CHECK FAILED for $env: fix the problems above before deploying"
  exit 1
fi

if ((${#pending[@]} == 0)); then
  printf 'migration plan for %s: nothing pending\n' "$env"
else
  printf 'migration plan for %s (%d pending, in this order):\n' "$env" "${#pending[@]}"
  n=0
  for f in ${pending[@]+"${pending[@]}"}; do
    n=$((n + 1))
    printf '  %d. %s\n' "$n" "$dir/$f"
  done
fi

if [[ -z "$database_url" ]]; then
  vlog "no --database-url: the migrations were not rehearsed against a database"
  exit 0
fi
if ! command -v psql >/dev/null 2>&1; then
  log "psql is not installed: skipped the rehearsal against --database-url"
  exit 0
fi
if ((${#pending[@]} == 0)); then
  log "nothing pending: no rehearsal needed"
  exit 0
fi

script="$(mktemp "${TMPDIR:-/tmp}/mobius-migrations.XXXXXX")"
trap 'rm -f -- "$script"' EXIT
{
  printf 'BEGIN;\n'
  q="'"
  for f in ${pending[@]+"${pending[@]}"}; do
    printf '\\echo === %s\n' "$f"
    # \i takes a quoted file name; the directory part may hold a quote, so double it. The
    # quotes are in variables: bash before 4.3 keeps a backslash-escaped replacement's backslashes.
    printf "\\\\i '%s'\n" "${dir//$q/$q$q}/$f"
  done
  printf 'ROLLBACK;\n'
} >"$script"
vlog "rehearsal script: $(tr '\n' ' ' <"$script")"
log "rehearsing ${#pending[@]} migration(s) in a transaction that is rolled back"
rc=0
psql -X --no-password -v ON_ERROR_STOP=1 --echo-all --dbname="$database_url" -f "$script" || rc=$?
case "$rc" in
  0)
    log "rehearsal passed: every statement ran, then ROLLBACK; the database is unchanged"
    exit 0
    ;;
  3)
    log "REHEARSAL FAILED: the statement above failed; the transaction was rolled back"
    exit 1
    ;;
  2) die 4 "psql could not connect with --database-url (see psql's message above)" ;;
  *) die 4 "psql failed (exit $rc) before the rehearsal could run" ;;
esac
