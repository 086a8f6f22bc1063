#!/usr/bin/env bash
# Post-deployment smoke tests: mobius-smoke runs config/<env>/smoke.json against the service,
# saving the JUnit report and the JSON lines under premerge_artifacts/smoke_<env>_<stamp>/
# (or --report-dir) and recording the result in history/<env>.jsonl. Exit codes are
# mobius-smoke's: 0 all checks passed, 1 a check failed, 3 bad spec, 4 tool failure.
set -euo pipefail
# shellcheck source=../lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/mobius.sh"

usage() {
  cat <<'USAGE'
Usage: smoke_tests.sh --env ENV [--report-dir DIR] [--base-url URL] [--retry N]
                      [--root DIR] [--dry-run] [--verbose] [--help]

Runs the smoke checks of config/ENV/smoke.json (format: mobius-smoke --help) against
ENV's service: the base URL is the origin of health_url in config/ENV/app.json unless
the spec sets base_url or --base-url is given. Writes junit.xml (for the CI test viewer)
and smoke.jsonl into premerge_artifacts/smoke_ENV_<UTC stamp>/ or --report-dir DIR, and
records a "smoke" event (pass|fail) in history/ENV.jsonl.

  --retry N       re-run a failed check up to N more times, 1 s apart (a service still
                  starting after a deploy)
  --dry-run       check the spec and list the checks; send no request, write nothing

Secrets for the spec's {{variables}}: export MOBIUS_VAR_<name>; names containing token,
password or secret are masked as *** in every output.

Exit codes: 0 all checks passed, 1 a check failed, 2 usage, 3 spec does not parse,
            4 tool failure (no spec, cannot write the report).
USAGE
}

report_dir="" base_url="" retry=""
mobius_flag --report-dir value report_dir
mobius_flag --base-url value base_url
mobius_flag --retry number retry
mobius_parse "$@"
check_env "$env"
root="${MOBIUS_ROOT:-.}"

smoke="$(mobius_bin mobius-smoke)"
flags=(--env "$env")
if [[ -n "$base_url" ]]; then flags+=(--base-url "$base_url"); fi
if [[ -n "$retry" ]]; then flags+=(--retry "$retry"); fi
verbose_flags=()
if [[ "$MOBIUS_VERBOSE" == 1 ]]; then verbose_flags+=(--verbose); fi

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  exec "$smoke" ${flags[@]+"${flags[@]}"} --dry-run ${verbose_flags[@]+"${verbose_flags[@]}"}
fi

if [[ -z "$report_dir" ]]; then
  # A fresh directory per run: mkdir (without -p) claims the name, so two runs in the same
  # second never write into one directory.
  base="$root/premerge_artifacts/smoke_${env}_$(date -u +%Y%m%dT%H%M%S)"
  mkdir -p "$root/premerge_artifacts"
  report_dir="$base"
  n=1
  until mkdir "$report_dir" 2>/dev/null; do
    n=$((n + 1))
    ((n < 100)) || die 4 "cannot create a report directory like $base"
    report_dir="$base-$n"
  done
else
  mkdir -p "$report_dir" || die 4 "cannot create the report directory $report_dir"
fi
vlog "reports go to $report_dir"

set +e
"$smoke" ${flags[@]+"${flags[@]}"} --junit "$report_dir/junit.xml" --jsonl "$report_dir/smoke.jsonl" \
  ${verbose_flags[@]+"${verbose_flags[@]}"}
rc=$?
set -e
case "$rc" in
  0) log "smoke tests passed for $env; report: $report_dir/junit.xml" ;;
  1) log "SMOKE TESTS FAILED for $env (failed checks above); report: $report_dir/junit.xml" ;;
  *) log "mobius-smoke could not run the smoke tests for $env (exit $rc)" ;;
esac
exit "$rc"
