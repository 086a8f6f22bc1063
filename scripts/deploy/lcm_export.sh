#!/usr/bin/env bash
# Compliance export and artifact retention: a thin wrapper around mobius-export.
# Exit codes are mobius-export's: 0 done, 1 the history's hash chain is broken (the bundle
# is still written), 2 usage, 4 tool failure.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: lcm_export.sh --env ENV [--days 30 | --since DATE] [--format zip|dir] [--out DIR]
                     [--root DIR] [--dry-run] [--verbose] [--help]
       lcm_export.sh --prune [--env ENV] [--keep-backups 10] [--monitor-days 30]
                     [--premerge-days 7] [--root DIR] [--dry-run] [--verbose]

Export: bundles ENV's deployment history (hash chain checked), backups (verified now),
monitoring runs, smoke reports and configuration of the last --days days (or since
--since 2026-11-01) into exports/lcm_ENV_<stamp>.zip with a .zip.sha256 sidecar, secrets
redacted. deployments.csv has one row per deployment (version, backup, smoke, verdict,
rolled back or not, outcome). Prints one JSON "export" record on stdout.

--prune: retention instead: backups keep the 10 newest per env, monitoring logs 30 days,
pre-merge artifacts and smoke reports 7 days, exports are kept; only recognised names
are deleted. One JSON "pruned" line per deleted path. With --env, only that env's
backups, logs and smoke reports (pre-merge run directories belong to no env and are
pruned either way).

Check a bundle without MOBIUS tools (from ROOT): sha256sum -c exports/lcm_ENV_<stamp>.zip.sha256

Exit codes: 0 done, 1 history chain broken (bundle still written), 2 usage,
            4 tool failure (I/O, lock held).
USAGE
}

prune=0
mobius_flag --days number +
mobius_flag --since value +
mobius_flag --format value +
mobius_flag --out value +
mobius_flag --keep-backups number +
mobius_flag --monitor-days number +
mobius_flag --premerge-days number +
mobius_flag --prune switch prune
mobius_parse "$@"
flags=(${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"})
if ((prune)); then
  if [[ -n "$env" ]]; then
    check_env "$env"
    flags+=(--env "$env")
  fi
  flags+=(--prune)
else
  check_env "$env"
  flags+=(--env "$env")
fi
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then flags+=(--dry-run); fi
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi

export_bin="$(mobius_bin mobius-export)"
vlog "$export_bin ${flags[*]:-}"
exec "$export_bin" ${flags[@]+"${flags[@]}"}
