#!/usr/bin/env bash
# Shared by the scripts in scripts/deploy/: finding the mobius-* binaries, messages, and the
# argument checks every script makes. Sourced, never run. Logic belongs in the binaries; this
# file only holds what every thin wrapper would otherwise repeat.
#
# These scripts also run on macOS, whose /bin/bash is 3.2 and whose tools are BSD's: no
# mapfile, declare -A or other bash 4 features, no GNU-only flags (date -d, sed -i, stat -c,
# readlink -f ...), and an array that may be empty is expanded as ${a[@]+"${a[@]}"} because
# "${a[@]}" of an empty array is an unbound-variable error under set -u before bash 4.4.
# .ci/run greps for these; a line that must use one anyway says why with "# portable: ...".

MOBIUS_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOBIUS_REPO_DIR="$(cd "$MOBIUS_SCRIPT_DIR/../.." && pwd)"
MOBIUS_VERBOSE="${MOBIUS_VERBOSE:-0}"
MOBIUS_DRY_RUN="${MOBIUS_DRY_RUN:-0}"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
vlog() { if [[ "$MOBIUS_VERBOSE" == 1 ]]; then log "$@"; fi; }
die() {
  # die CODE MESSAGE
  local code="$1"
  shift
  log "$*"
  exit "$code"
}

# Environment names, as the binaries accept them. A regex kept in a variable means the same
# to every bash since 3.2, which changed how quoted regexes after =~ are read.
MOBIUS_ENV_RE='^[a-z][a-z0-9_-]{0,31}$'

# Refuses a bad environment name before it is used in any path (exit 2, as the binaries do).
check_env() {
  local env="${1:-}"
  [[ -n "$env" ]] || die 2 "--env is required (e.g. --env staging)"
  [[ "$env" =~ $MOBIUS_ENV_RE ]] ||
    die 2 "invalid environment name '$env': use $MOBIUS_ENV_RE"
}

# Prints the path of a mobius binary: $MOBIUS_BIN_DIR, next to this script, the repo's
# target/release or target/debug, then PATH; as a last resort builds it with cargo.
mobius_bin() {
  local name="$1" dir candidate
  for dir in "${MOBIUS_BIN_DIR:-}" "$MOBIUS_SCRIPT_DIR" \
    "${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release" \
    "${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/debug"; do
    [[ -n "$dir" ]] || continue
    candidate="$dir/$name"
    if [[ -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  if candidate="$(command -v "$name" 2>/dev/null)"; then
    printf '%s\n' "$candidate"
    return 0
  fi
  if command -v cargo >/dev/null 2>&1 && [[ -f "$MOBIUS_REPO_DIR/Cargo.toml" ]]; then
    log "building $name (first run)"
    cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" -p "$name" >&2 ||
      die 4 "cannot build $name with cargo"
    printf '%s\n' "${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release/$name"
    return 0
  fi
  die 4 "$name not found: build it with 'cargo build --release' or put it on PATH"
}

# mobius_sha256sum ARGS...: sha256sum, or `shasum -a 256` where it is missing (macOS). Both
# read and write the same "HASH  NAME" lines and take --check and --quiet.
mobius_sha256sum() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$@" # portable: the fallback follows
  else
    shasum -a 256 "$@"
  fi
}

# notify ENV TEMPLATE [--var NAME=VALUE]...: sends TEMPLATE (rolled_back, rollback_failed,
# deploy_started, deploy_succeeded) about ENV's last history event to every channel that is
# configured: slack (MOBIUS_SLACK_WEBHOOK), teams (MOBIUS_TEAMS_WEBHOOK), email
# (MOBIUS_SMTP_URL with MOBIUS_EMAIL_FROM and MOBIUS_EMAIL_TO). MOBIUS_RUNBOOK_URL, if set,
# becomes the runbook button. A failed notification is reported loudly and never changes the
# caller's exit code. MOBIUS_NOTIFY_SUPPRESS=1 turns it off (monitor.sh sets it for the
# rollback it runs, so that one rollback sends one notification).
notify() {
  local env="$1" template="$2" channel notifier
  shift 2
  local -a channels=() vars=("$@")
  [[ "${MOBIUS_NOTIFY_SUPPRESS:-0}" == 1 ]] && return 0
  [[ -n "${MOBIUS_SLACK_WEBHOOK:-}" ]] && channels+=(slack)
  [[ -n "${MOBIUS_TEAMS_WEBHOOK:-}" ]] && channels+=(teams)
  [[ -n "${MOBIUS_SMTP_URL:-}" ]] && channels+=(email)
  ((${#channels[@]})) || return 0
  if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
    log "dry run: would notify ${channels[*]:-}: $template"
    return 0
  fi
  if [[ -n "${MOBIUS_RUNBOOK_URL:-}" ]]; then
    vars+=(--var "runbook_url=$MOBIUS_RUNBOOK_URL")
  fi
  # mobius_bin dies when the binary cannot be found; in $( ) that only ends the subshell.
  if ! notifier="$(mobius_bin mobius-notify)"; then
    log "NOTIFICATION FAILED: mobius-notify not found; nobody was told: $template for $env"
    return 0
  fi
  for channel in ${channels[@]+"${channels[@]}"}; do
    # The record is for machines; the caller's stdout carries its own records only.
    if "$notifier" --channel "$channel" --template "$template" --env "$env" ${vars[@]+"${vars[@]}"} \
      >/dev/null; then
      vlog "notified $channel: $template"
    else
      log "NOTIFICATION FAILED ($channel, $template for $env): see the message above; tell the team another way"
    fi
  done
  return 0
}
