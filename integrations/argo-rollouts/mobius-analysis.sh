#!/usr/bin/env bash
# The command of the Job that integrations/argo-rollouts/analysis-template.yaml runs for a
# canary step: scripts/deploy/monitor.sh --url ... (mobius-probe | mobius-judge, the probe
# stopped the moment the judge decides), its exit code mapped onto the only two outcomes
# Argo's Job provider knows: the Job succeeds (Successful) or fails (Failed). Inconclusive has
# no Job outcome of its own and must never promote a canary, so it fails the Job.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib/mobius.sh
source "$here/../../scripts/lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: mobius-analysis.sh --url URL... [--duration 5m] [--interval 10s] [--timeout 5s]
                          [--p95-ms MS] [--error-rate RATE] [--min-success-rate RATE]
                          [--consecutive-failures N] [--min-checks N] [--sustained N]
                          [--env ENV] [--root DIR] [--dry-run] [--verbose] [--help]

One canary analysis for Argo Rollouts: checks every --url every --interval for --duration
with monitor.sh (no --auto-rollback: Argo rolls back, not MOBIUS) and exits with what the
Job provider turns into the measurement's phase:

  judge exit                      this script   Argo measurement
  0 pass                          0             Successful
  1 rollback                      1             Failed
  5 inconclusive (too few checks) 1             Failed: inconclusive counts as failure
  2 usage, 3 malformed, 4 tool    2, 3, 4       Failed (the log says which)

The thresholds go to mobius-judge unchanged (see mobius-judge --help). Samples and verdicts
are kept in ROOT/monitor_logs (--root, default a fresh temporary directory, removed at the
end unless given); --env (default canary) only names them and the history file.
USAGE
}

env="canary"
mobius_flag --url value +
for flag in --duration --interval --timeout; do mobius_flag "$flag" duration +; done
for flag in --p95-ms --error-rate --min-success-rate; do mobius_flag "$flag" value +; done
for flag in --consecutive-failures --min-checks --sustained; do mobius_flag "$flag" number +; done
mobius_parse "$@"
check_env "$env"
case " ${MOBIUS_PASS[*]+${MOBIUS_PASS[*]}} " in
  *" --url "*) ;;
  *) die 2 "--url URL is required (the service the canary serves)" ;;
esac

made_root=""
if [[ -z "${MOBIUS_ROOT:-}" ]]; then
  MOBIUS_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/mobius-analysis.XXXXXX")"
  made_root="$MOBIUS_ROOT"
fi
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { if [[ -n "$made_root" ]]; then rm -rf -- "$made_root"; fi; }
trap cleanup EXIT

flags=(--env "$env" --root "$MOBIUS_ROOT")
if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then flags+=(--dry-run); fi
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then flags+=(--verbose); fi
set +e
"$MOBIUS_DEPLOY_DIR/monitor.sh" ${flags[@]+"${flags[@]}"} ${MOBIUS_PASS[@]+"${MOBIUS_PASS[@]}"}
rc=$?
set -e

case "$rc" in
  0) log "analysis: pass (exit 0: the Job succeeds, the measurement is Successful)" ;;
  1) log "analysis: rollback (exit 1: the Job fails, the measurement is Failed)" ;;
  5)
    log "analysis: inconclusive counts as failure (exit 1): too few checks to decide, and a canary is never promoted on checks it did not get"
    rc=1
    ;;
  *) log "analysis: error (exit $rc: the Job fails, the measurement is Failed; see the lines above)" ;;
esac
exit "$rc"
