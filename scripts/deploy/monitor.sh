#!/usr/bin/env bash
# T+60 monitoring: mobius-probe | tee monitor_logs/<env>_<stamp>.jsonl | mobius-judge --follow.
# The judge decides; with --auto-rollback a rollback verdict runs rollback_dhash.sh on the
# given backup. Exit codes are the judge's: 0 pass, 1 rollback, 5 inconclusive (2/3/4 errors).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: monitor.sh --env ENV [--duration 60m] [--interval 10s] [--timeout 5s]
                  [--auto-rollback --backup FILE] [--url URL]... [--root DIR]
                  [--dry-run] [--verbose] [--help]

Watches ENV's health (targets from config/ENV/app.json, or --url) for --duration,
saving every sample and verdict to monitor_logs/ENV_<stamp>.jsonl, and applies the
rollback rules (3 consecutive failures, success rate < 70% after 5 checks, P95 > 5000 ms
at 5 consecutive checks, error rate > 5% at 5 consecutive checks). The verdict is
recorded in history/ENV.jsonl. With --auto-rollback, a rollback verdict restores
--backup at once via rollback_dhash.sh. The backup is verified before monitoring starts.
Slack/Teams/email are told of the rollback's outcome when MOBIUS_SLACK_WEBHOOK,
MOBIUS_TEAMS_WEBHOOK or MOBIUS_SMTP_URL is set (see mobius-notify --help).

Replay a saved run:  mobius-judge < monitor_logs/ENV_<stamp>.jsonl

Exit codes: 0 pass, 1 rollback (rolled back with --auto-rollback), 2 usage,
            3 malformed samples, 4 tool failure, 5 inconclusive.
USAGE
}

env="" duration="60m" interval="10s" timeout="5s" auto_rollback=0 backup=""
urls=()
while (($#)); do
  case "$1" in
    --env) env="${2:-}"; shift 2 ;;
    --duration) duration="${2:?--duration needs a value}"; shift 2 ;;
    --interval) interval="${2:?--interval needs a value}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
    --auto-rollback) auto_rollback=1; shift ;;
    --backup) backup="${2:?--backup needs a file}"; shift 2 ;;
    --url) urls+=(--url "${2:?--url needs a value}"); shift 2 ;;
    --root) export MOBIUS_ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --dry-run) MOBIUS_DRY_RUN=1; shift ;;
    --verbose) MOBIUS_VERBOSE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown option '$1' (see --help)" ;;
  esac
done
check_env "$env"
root="${MOBIUS_ROOT:-.}"
if ((auto_rollback)); then
  [[ -n "$backup" ]] || die 2 "--auto-rollback needs --backup FILE (the backup to restore)"
fi

probe="$(mobius_bin mobius-probe)"
judge="$(mobius_bin mobius-judge)"
rollback_script="$MOBIUS_SCRIPT_DIR/rollback_dhash.sh"
verbose_flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then verbose_flags+=(--verbose); fi

if ((auto_rollback)); then
  # A rollback is only as good as its backup: prove it before relying on it for an hour.
  verify="$(mobius_bin mobius-verify)"
  "$verify" --quiet "$backup" >/dev/null ||
    die 1 "backup $backup does not verify; refusing to monitor with it as the rollback target"
  [[ -x "$rollback_script" ]] ||
    die 4 "--auto-rollback needs $rollback_script, which is missing or not executable"
fi

stamp="$(date -u +%Y%m%dT%H%M%S)"
log_dir="$root/monitor_logs"
log_file="$log_dir/${env}_${stamp}.jsonl"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would monitor $env for $duration every $interval (timeout $timeout)"
  log "dry run: $probe --env $env --interval $interval --duration $duration --timeout $timeout ${urls[*]:-} | tee $log_file | $judge --follow --duration $duration --env $env"
  if ((auto_rollback)); then
    log "dry run: on a rollback verdict: $rollback_script --backup $backup --env $env"
  fi
  exit 0
fi

mkdir -p "$log_dir"
log "monitoring $env for $duration every $interval; log: $log_file"
set +e
"$probe" --env "$env" --interval "$interval" --duration "$duration" --timeout "$timeout" \
  ${urls[@]+"${urls[@]}"} ${verbose_flags[@]+"${verbose_flags[@]}"} |
  tee -a "$log_file" |
  "$judge" --follow --duration "$duration" --interval "$interval" --env "$env" \
    --log "$log_file" ${verbose_flags[@]+"${verbose_flags[@]}"} |
  tee -a "$log_file"
status=("${PIPESTATUS[@]}")
set -e
probe_rc="${status[0]}" judge_rc="${status[2]}"
vlog "probe exit $probe_rc, judge exit $judge_rc"

case "$judge_rc" in
  0) log "verdict: pass" ;;
  5)
    # A probe that could not start (bad config) leaves the judge without data: say why.
    if ((probe_rc != 0 && probe_rc != 141)); then
      die "$probe_rc" "mobius-probe failed (exit $probe_rc); no verdict"
    fi
    log "verdict: inconclusive (not enough checks)"
    ;;
  1)
    log "verdict: ROLLBACK"
    if ((auto_rollback)); then
      log "auto-rollback: restoring $backup"
      rollback_flags=()
      if [[ "$MOBIUS_VERBOSE" == 1 ]]; then rollback_flags+=(--verbose); fi
      # One rollback, one notification: this script sends it, with the verdict's context.
      if MOBIUS_NOTIFY_SUPPRESS=1 "$rollback_script" --backup "$backup" --env "$env" \
        ${rollback_flags[@]+"${rollback_flags[@]}"}; then
        log "auto-rollback finished: $env restored from $backup and healthy"
        notify "$env" rolled_back --var "reason=monitoring verdict: rollback (log: $log_file)"
      else
        notify "$env" rollback_failed --var "reason=monitoring verdict: rollback (log: $log_file)"
        die 4 "AUTO-ROLLBACK FAILED for $env: follow runbooks/rollback_runbook.md now"
      fi
    else
      log "no --auto-rollback: roll back by hand: $rollback_script --backup <latest backup> --env $env"
    fi
    ;;
  *) die "$judge_rc" "mobius-judge failed (exit $judge_rc)" ;;
esac
exit "$judge_rc"
