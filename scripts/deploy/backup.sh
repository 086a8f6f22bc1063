#!/usr/bin/env bash
# Creates a verified backup of an environment's configuration: mobius-backup writes the zip,
# its sha256sum sidecar, the history event and applies retention; this wrapper then checks
# the new backup with the plain `sha256sum -c` an operator would use, and prints its path.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: backup.sh --env ENV [--keep N] [--source PATH]... [--out DIR] [--name NAME]
                 [--root DIR] [--dry-run] [--verbose] [--help]

Backs up config/ENV/ (or each --source) into backups/NAME_ENV_<UTC stamp>.zip with its
.zip.sha256 sidecar (NAME defaults to dhash), keeps the newest --keep (default 10)
backups of that name and env, records a `backup` event in history/ENV.jsonl, checks the
new backup with `sha256sum -c` and prints its path on stdout.

Symlinks out of the source, special files and unreadable files are refused (exit 4) and
nothing is written. With --dry-run, shows what would be archived and deleted.

Exit codes: 0 backed up and checked, 1 the new backup failed sha256sum -c, 2 usage,
            4 tool failure (I/O error, refused file, lock held by another run).
USAGE
}

mobius_flag --keep number +
mobius_flag --source value +
mobius_flag --out value +
mobius_flag --name value +
mobius_parse "$@"
check_env "$env"

backup="$(mobius_bin mobius-backup)"
flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  flags+=(--dry-run)
fi

rc=0
record="$("$backup" --env "$env" ${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"} ${flags[@]+"${flags[@]}"})" || rc=$?
vlog "record: $record"
# Exit 4 with a record on stdout: the backup is complete but retention failed; go on and
# check it, then report the failure.
if [[ -z "$record" ]]; then
  exit "$rc"
fi
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  exit "$rc"
fi

path="$(sed -n 's/.*"path":"\([^"\\]*\)".*/\1/p' <<<"$record")"
[[ -n "$path" && -f "$path" ]] ||
  die 4 "cannot find the new backup from mobius-backup's record: $record"
dir="$(dirname "$path")"
file="$(basename "$path")"
# The sidecar names backups/<zip> (for the check from the root); as rollback_dhash.sh does,
# check it from the backup's own directory with the directory part of the name dropped.
if ! sed 's#  .*/#  #' "$path.sha256" | (cd "$dir" && mobius_sha256sum --check --quiet >&2); then
  die 1 "the new backup $path does not match its sidecar $file.sha256"
fi
vlog "sha256sum -c passed for $path"
printf '%s\n' "$path"
exit "$rc"
