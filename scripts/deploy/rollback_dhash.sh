#!/usr/bin/env bash
# The emergency rollback procedure: check the backup's sidecar with the plain `sha256sum -c`
# an operator would use, restore it with mobius-rollback (verification, entry checks, safety
# backup, atomic swap, post-rollback health checks, automatic swap back if unhealthy), and
# print what the operator needs next. monitor.sh --auto-rollback calls it.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: rollback_dhash.sh --env ENV (--backup FILE | --latest)
                         [--health-url URL] [--restart-cmd CMD] [--health-checks N]
                         [--health-timeout 60s] [--no-safety-backup] [--root DIR]
                         [--dry-run] [--verbose] [--help]

Restores config/ENV/ from FILE (or, with --latest, the newest backups/dhash_ENV_<stamp>.zip
that verifies deeply: mobius-rollback --latest names each newer one it skips and why):
  1. with --backup: sha256sum -c of FILE.sha256 (the hash and the file name it names; the
     backup may have been copied anywhere with its sidecar). With --latest, mobius-rollback's
     deep verification checks the sidecar of the backup it picks instead;
  2. mobius-rollback: takes ENV's lock, verifies every entry against the manifest,
     refuses unsafe archives, backs the live tree up (backups/pre-rollback_ENV_*.zip),
     swaps the restored tree in atomically, runs --restart-cmd, and requires 3
     consecutive healthy checks of the restored app.json's health_url (or --health-url)
     within 60s. If the service stays unhealthy, the previous tree is put back.
  3. prints what was restored, where the safety backup is and how to undo it.
The `rollback` record goes to stdout; messages to stderr.
Slack/Teams/email are told the outcome (rolled_back / rollback_failed) when
MOBIUS_SLACK_WEBHOOK, MOBIUS_TEAMS_WEBHOOK or MOBIUS_SMTP_URL is set (mobius-notify).

--dry-run verifies and lists the files that would be added, changed and removed. Without
--backup, a dry run checks the newest good backup (as --latest --dry-run); when ENV has no
backup at all, it says so and exits 0 (nothing to check), where a real run exits 1.

Exit codes: 0 restored and healthy, 1 sidecar mismatch, backup refused, or service
            unhealthy (previous tree put back), 2 usage, 4 tool failure (I/O, lock held
            by another run; follow runbooks/rollback_runbook.md).
USAGE
}

backup="" latest=0
mobius_flag --backup value backup
mobius_flag --latest switch latest
mobius_flag --health-url value +
mobius_flag --restart-cmd value +
mobius_flag --health-checks number +
mobius_flag --health-timeout duration +
mobius_flag --no-safety-backup switch +
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-.}"

[[ -z "$backup" || "$latest" == 0 ]] || die 2 "give --backup FILE or --latest, not both"
if [[ -z "$backup" && "$latest" == 0 ]]; then
  [[ "$MOBIUS_DRY_RUN" == 1 ]] || die 2 "--backup FILE (or --latest) is required"
  # What an operator checking "could I roll back now?" means: the newest good backup.
  latest=1
  vlog "dry run without --backup: checking the newest good backup (--latest)"
fi

if ((latest)); then
  newest=""
  if [[ -d "$root/backups" ]]; then
    newest="$(find "$root/backups" -maxdepth 1 -type f -name "dhash_${env}_*.zip" | sort -r | head -n 1)"
  fi
  if [[ -z "$newest" ]]; then
    if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
      log "NO BACKUP of $env in $root/backups: there is nothing to roll back to (dry run: nothing to check; make one with backup.sh --env $env)"
      exit 0
    fi
    die 1 "no backup of $env in $root/backups: nothing to roll back to (make one with backup.sh --env $env)"
  fi
  select_flags=(--latest)
  vlog "--latest: mobius-rollback picks the newest backup of $env that verifies deeply; its deep verification includes the sidecar, so the plain sha256sum -c step is left to it"
else
  [[ -f "$backup" ]] || die 1 "backup $backup does not exist"
  [[ -f "$backup.sha256" ]] ||
    die 1 "backup $backup has no sidecar $backup.sha256: it is incomplete; choose another backup"
  # 1. The check anyone can repeat by hand, before any MOBIUS code reads the zip. The
  # sidecar names backups/<zip>; checked from the backup's own directory with the directory
  # part removed, it passes wherever the pair was copied to, and still checks the name.
  file="$(basename "$backup")"
  if ! mobius_check_sidecar "$backup"; then
    die 1 "backup $backup does not match its sidecar $file.sha256; refusing to restore it"
  fi
  vlog "sha256sum -c passed for $backup"
  select_flags=(--backup "$backup")
fi

# 2. The rollback itself.
rollback="$(mobius_bin mobius-rollback)"
flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  flags+=(--dry-run)
fi
rc=0
record="$("$rollback" --env "$env" ${select_flags[@]+"${select_flags[@]}"} ${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"} ${flags[@]+"${flags[@]}"})" || rc=$?
if [[ -n "$record" ]]; then
  printf '%s\n' "$record"
fi
vlog "mobius-rollback exit $rc"

field() {
  # The value of a string field of the record ("" for null or absent).
  sed -n "s/.*\"$1\":\"\\([^\"\\\\]*\\)\".*/\\1/p" <<<"$record"
}
outcome="$(field outcome)"
if ((latest)); then
  # The backup mobius-rollback chose (it named the ones it skipped on stderr).
  backup="$(field backup)"
  backup="${backup:-the newest good backup of $env}"
fi
safety="$(field safety_backup)"
target="$(field target)"

# 3. What the operator needs next.
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  if ((rc == 0)); then
    log "dry run: $backup verified; nothing was changed. Run again without --dry-run to restore it."
  else
    log "dry run: a real rollback from $backup would not go through (exit $rc); see above"
  fi
  exit "$rc"
fi
case "$outcome" in
  success)
    log "ROLLED BACK: $env (${target:-config/$env}) now holds the content of $backup, and the service answered healthy"
    if [[ -n "$safety" ]]; then
      log "the tree that was live is saved in $safety"
      log "to undo this rollback: $0 --env $env --backup $safety"
    else
      log "no safety backup was taken: this rollback cannot be undone from a backup"
    fi
    log "next: watch the service (monitor.sh --env $env), check the history (mobius-verify --history --env $env), and record the incident"
    notify "$env" rolled_back
    ;;
  failure)
    log "ROLLBACK FAILED: the service stayed unhealthy with $backup's config; the previous tree was put back in ${target:-config/$env}"
    log "next: pick an older backup (ls $root/backups | sort -r) or follow runbooks/rollback_runbook.md"
    notify "$env" rollback_failed
    ;;
  refused)
    log "ROLLBACK REFUSED: $backup did not pass the checks (see above); nothing was changed"
    log "next: pick another backup (ls $root/backups | sort -r) and try again"
    notify "$env" rollback_failed
    ;;
  *)
    log "mobius-rollback failed (exit $rc); the live tree is either untouched or fully restored, never mixed"
    log "next: run this command again (it finishes or undoes an interrupted rollback), then follow runbooks/rollback_runbook.md"
    notify "$env" rollback_failed
    ;;
esac
exit "$rc"
