#!/usr/bin/env bash
# T+60 monitoring: mobius-probe (into a FIFO) | tee monitor_logs/<env>_<stamp>.jsonl | mobius-judge
# --follow; the probe is stopped the moment the judge decides. At the end mobius-report draws
# the log as monitor_logs/<env>_<stamp>.html (a failure there is one warning, nothing more).
# The judge decides; with --auto-rollback a rollback verdict runs rollback_dhash.sh on the
# given backup. Exit codes are the judge's: 0 pass, 1 rollback, 5 inconclusive (2/3/4 errors).
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: monitor.sh --env ENV [--duration 60m] [--interval 10s] [--timeout 5s]
                  [--auto-rollback --backup FILE [--restart-cmd CMD] [--health-url URL]]
                  [--url URL]... [--p95-ms MS] [--error-rate RATE] [--min-success-rate RATE]
                  [--consecutive-failures N] [--min-checks N] [--sustained N]
                  [--root DIR] [--dry-run] [--verbose] [--help]

Watches ENV's health (targets from config/ENV/app.json, or --url) for --duration,
saving every sample and verdict to monitor_logs/ENV_<stamp>.jsonl (drawn at the end by
mobius-report as monitor_logs/ENV_<stamp>.html), and applies the
rollback rules (3 consecutive failures, success rate < 70% after 5 checks, P95 > 5000 ms
at 5 consecutive checks, error rate > 5% at 5 consecutive checks; the threshold flags,
passed to mobius-judge unchanged, set other values: see mobius-judge --help). The verdict is
recorded in history/ENV.jsonl. With --auto-rollback, a rollback verdict stops the probe
and restores --backup at once via rollback_dhash.sh (the backup is verified before
monitoring starts); --restart-cmd CMD and --health-url URL are passed to it (without
them mobius-rollback uses restart_cmd and health_url of config/ENV/app.json).
Slack/Teams/email are told of the rollback's outcome when MOBIUS_SLACK_WEBHOOK,
MOBIUS_TEAMS_WEBHOOK or MOBIUS_SMTP_URL is set (see mobius-notify --help).

Defaults from the environment (the flags win):
  MOBIUS_MONITOR_DURATION   default --duration (60m), e.g. MOBIUS_MONITOR_DURATION=3s
  MOBIUS_MONITOR_INTERVAL   default --interval (10s)
Durations are humantime: 500ms, 10s, 60m, 1h30m.

Replay a saved run:  mobius-judge < monitor_logs/ENV_<stamp>.jsonl

Exit codes: 0 pass, 1 rollback (rolled back with --auto-rollback), 2 usage,
            3 malformed samples, 4 tool failure, 5 inconclusive.
USAGE
}

duration="${MOBIUS_MONITOR_DURATION:-60m}" interval="${MOBIUS_MONITOR_INTERVAL:-10s}"
mobius_check_value MOBIUS_MONITOR_DURATION duration "$duration"
mobius_check_value MOBIUS_MONITOR_INTERVAL duration "$interval"
timeout="5s" auto_rollback=0 backup=""
mobius_flag --duration duration duration
mobius_flag --interval duration interval
mobius_flag --timeout duration timeout
mobius_flag --auto-rollback switch auto_rollback
mobius_flag --backup value backup
mobius_flag --restart-cmd value +
mobius_flag --health-url value +
mobius_flag --url value +
# The rules' thresholds, handed to the judge as they are (it checks them).
for flag in --p95-ms --error-rate --min-success-rate; do mobius_flag "$flag" value +; done
for flag in --consecutive-failures --min-checks --sustained; do mobius_flag "$flag" number +; done
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-.}"
# --url goes to the probe; the thresholds to the judge; --restart-cmd and --health-url to
# the rollback.
urls=() judge_args=() rollback_args=()
set -- ${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"}
while (($#)); do
  case "$1" in
    --url) urls+=("$1" "$2") ;;
    --restart-cmd | --health-url) rollback_args+=("$1" "$2") ;;
    *) judge_args+=("$1" "$2") ;;
  esac
  shift 2
done
if ((auto_rollback)); then
  [[ -n "$backup" ]] || die 2 "--auto-rollback needs --backup FILE (the backup to restore)"
elif ((${#rollback_args[@]})); then
  die 2 "${rollback_args[0]} is for the rollback: give it with --auto-rollback"
fi

probe="$(mobius_bin mobius-probe)"
judge="$(mobius_bin mobius-judge)"
# The report is a view of the log: without it, monitoring goes on (and says so once).
report="$(mobius_bin mobius-report 2>/dev/null)" || report=""
rollback_script="$MOBIUS_DEPLOY_DIR/rollback_dhash.sh"
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
report_file="${log_file%.jsonl}.html"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would monitor $env for $duration every $interval (timeout $timeout)"
  # URLs and commands are not shown: a URL may carry userinfo, a --restart-cmd a token; the
  # binaries redact what they print, these lines would not (the flags' names say enough).
  given=""
  for ((i = 0; i < ${#urls[@]}; i += 2)); do given+=" ${urls[i]} ..."; done
  judged=""
  for ((i = 0; i < ${#judge_args[@]}; i++)); do judged+=" ${judge_args[i]}"; done
  log "dry run: $probe --env $env --interval $interval --duration $duration --timeout $timeout$given | tee $log_file | $judge --follow --duration $duration --env $env$judged"
  if ((auto_rollback)); then
    given=""
    for ((i = 0; i < ${#rollback_args[@]}; i += 2)); do given+=" ${rollback_args[i]} ..."; done
    log "dry run: on a rollback verdict: $rollback_script --backup $backup --env $env$given"
  fi
  log "dry run: then: mobius-report $log_file -o $report_file"
  exit 0
fi

mkdir -p "$log_dir"
log "monitoring $env for $duration every $interval; log: $log_file"

# The probe runs in the background into a FIFO in a private directory, so that the moment
# the judge has decided, this script stops the probe (SIGTERM: it exits 0 after writing the
# samples already complete) instead of waiting for it to die of SIGPIPE at its next write,
# one or two intervals later. The samples reach the log through tee before the judge, the
# verdicts after it; both tees end as soon as their input does.
work="$(mktemp -d "${TMPDIR:-/tmp}/mobius-monitor.XXXXXX")"
probe_pid=""
# The report of the run, on every way out once the log exists (a failed auto-rollback
# included). It never changes the exit code: its failure is one warning line.
# shellcheck disable=SC2317 # run by the EXIT trap (cleanup)
write_report() {
  local err
  [[ -s "$log_file" ]] || return 0
  if [[ -z "$report" ]]; then
    log "warning: mobius-report not found; no report drawn (mobius-report $log_file -o $report_file)"
    return 0
  fi
  if err="$("$report" --quiet "$log_file" -o "$report_file" 2>&1 >/dev/null)"; then
    log "report: $report_file"
  else
    log "warning: no report drawn: ${err//$'\n'/ }"
  fi
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n "$probe_pid" ]]; then kill -TERM "$probe_pid" 2>/dev/null || true; fi
  write_report || true
  rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkfifo "$work/samples"
"$probe" --env "$env" --interval "$interval" --duration "$duration" --timeout "$timeout" \
  ${urls[@]+"${urls[@]}"} ${verbose_flags[@]+"${verbose_flags[@]}"} >"$work/samples" &
probe_pid=$!
set +e
tee -a "$log_file" <"$work/samples" |
  {
    "$judge" --follow --duration "$duration" --interval "$interval" --env "$env" \
      --log "$log_file" ${judge_args[@]+"${judge_args[@]}"} ${verbose_flags[@]+"${verbose_flags[@]}"}
    judge_rc=$?
    kill -TERM "$probe_pid" 2>/dev/null
    exit "$judge_rc"
  } |
  tee -a "$log_file"
status=("${PIPESTATUS[@]}")
wait "$probe_pid"
probe_rc=$?
probe_pid=""
set -e
judge_rc="${status[1]}"
vlog "probe exit $probe_rc, judge exit $judge_rc"

case "$judge_rc" in
  0) log "verdict: pass" ;;
  5)
    # A probe that could not start (bad config) leaves the judge without data: say why.
    if ((probe_rc != 0 && probe_rc != 141 && probe_rc != 143)); then
      die "$probe_rc" "mobius-probe failed (exit $probe_rc); no verdict"
    fi
    log "verdict: inconclusive (not enough checks)"
    ;;
  1)
    log "verdict: ROLLBACK"
    if ((auto_rollback)); then
      log "auto-rollback: restoring $backup"
      rollback_flags=(${rollback_args[@]+"${rollback_args[@]}"})
      if [[ "$MOBIUS_VERBOSE" == 1 ]]; then rollback_flags+=(--verbose); fi
      # One rollback, one notification: this script sends it, with the verdict's context.
      # Its record goes into the log too, so the report marks where the rollback finished
      # (pipefail: the rollback's exit status decides, not tee's).
      if MOBIUS_NOTIFY_SUPPRESS=1 "$rollback_script" --backup "$backup" --env "$env" \
        ${rollback_flags[@]+"${rollback_flags[@]}"} | tee -a "$log_file"; then
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
