#!/usr/bin/env bash
# Shared by scripts/deploy/*.sh and scripts/demo.sh: the flag parser, finding the mobius-*
# binaries, messages, and the checks every script makes. Sourced, never run; it lives outside
# scripts/deploy/ so that `for script in scripts/deploy/*.sh` finds the deploy scripts only.
# Logic belongs in the binaries; this file only holds what every thin wrapper would repeat.
#
# These scripts also run on macOS, whose /bin/bash is 3.2 and whose tools are BSD's: no
# mapfile, declare -A or other bash 4 features, no GNU-only flags (date -d, sed -i, stat -c,
# readlink -f ...), and an array that may be empty is expanded as ${a[@]+"${a[@]}"} because
# "${a[@]}" of an empty array is an unbound-variable error under set -u before bash 4.4.
# .ci/run greps for these; a line that must use one anyway says why with "# portable: ...".

MOBIUS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOBIUS_REPO_DIR="$(cd "$MOBIUS_LIB_DIR/../.." && pwd)"
# The deploy scripts call each other through this (monitor.sh → rollback_dhash.sh, ...).
MOBIUS_DEPLOY_DIR="$MOBIUS_REPO_DIR/scripts/deploy"
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

# ---------------------------------------------------------------------------------------
# The flag parser (the idea of git's git-sh-setup: a script declares its flags, one shared
# parser reads them). A script declares each of its own flags, then parses:
#
#   usage() { cat <<'USAGE' ... USAGE; }        # printed by --help
#   mobius_flag --duration duration duration    # --duration D: checked, stored in $duration
#   mobius_flag --keep     number   +           # --keep N: checked, appended to MOBIUS_PASS
#   mobius_flag --url      value    +           # repeatable: every one is appended
#   mobius_flag --auto-rollback switch auto_rollback   # no value: auto_rollback=1
#   mobius_parse "$@"
#
# Kinds: switch (sets the variable to 1), value (any string not starting with --), number
# (digits), duration (humantime: 500ms, 10s, 60m, 1h30m), env (an environment name).
# A target of + appends "--flag VALUE" (or "--flag") to the array MOBIUS_PASS, for flags a
# script hands on to its binary unchanged; otherwise it names the variable to set (the
# script gives its default before parsing). Every script also gets --env ENV (into $env),
# --root DIR (exports MOBIUS_ROOT), --dry-run (MOBIUS_DRY_RUN=1), --verbose
# (MOBIUS_VERBOSE=1) and -h/--help. --flag=VALUE is the same as --flag VALUE.
# A missing value, an unknown flag, a bad number, duration or environment name: one line
# naming the flag on stderr and exit 2, before anything else happens (also with --dry-run).

MOBIUS_FLAG_SPEC=""
MOBIUS_PASS=()
env="${env:-}"

# Humantime durations: one or more <number><unit>, e.g. 500ms, 90s, 60m, 1h30m.
MOBIUS_DURATION_RE='^([0-9]+(ns|us|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|days))+$'

# mobius_flag --NAME KIND TARGET: declares one flag of the calling script.
mobius_flag() {
  case "$2" in
    switch | value | number | duration | env) ;;
    *) die 4 "mobius_flag $1: unknown kind '$2' (a bug in $(basename "$0"))" ;;
  esac
  MOBIUS_FLAG_SPEC+="$1 $2 $3"$'\n'
}

# mobius_check_value FLAG KIND VALUE: exit 2 naming FLAG when VALUE is not of KIND.
mobius_check_value() {
  local flag="$1" kind="$2" value="$3"
  case "$kind" in
    number)
      [[ "$value" =~ ^[0-9]+$ ]] || die 2 "$flag: '$value' is not a number"
      ;;
    duration)
      [[ "$value" =~ $MOBIUS_DURATION_RE ]] ||
        die 2 "$flag: '$value' is not a duration (e.g. 90s, 60m)"
      ;;
    env)
      [[ "$value" =~ $MOBIUS_ENV_RE ]] ||
        die 2 "$flag: invalid environment name '$value': use $MOBIUS_ENV_RE"
      ;;
  esac
  return 0
}

# mobius_parse "$@": parses the command line against the declared flags (see above).
mobius_parse() {
  local arg flag value has_value name kind target found
  while (($#)); do
    arg="$1"
    shift
    has_value=0 value=""
    case "$arg" in
      -h | --help)
        usage
        exit 0
        ;;
      --*=*)
        flag="${arg%%=*}"
        value="${arg#*=}"
        has_value=1
        ;;
      --*) flag="$arg" ;;
      *) die 2 "unexpected argument '$arg' (see --help)" ;;
    esac
    found=""
    while IFS=' ' read -r name kind target; do
      if [[ "$name" == "$flag" ]]; then
        found=1
        break
      fi
    done <<<"--env env env
--root value MOBIUS_ROOT
--dry-run switch MOBIUS_DRY_RUN
--verbose switch MOBIUS_VERBOSE
$MOBIUS_FLAG_SPEC"
    [[ -n "$found" ]] || die 2 "unknown option '$flag' (see --help)"
    if [[ "$kind" == switch ]]; then
      ((has_value == 0)) || die 2 "$flag takes no value"
      if [[ "$target" == + ]]; then
        MOBIUS_PASS+=("$flag")
      else
        printf -v "$target" '%s' 1
      fi
      continue
    fi
    if ((has_value == 0)); then
      # The next word is the value, unless there is none or it is the next flag.
      if (($# == 0)) || [[ "$1" == --* ]]; then
        die 2 "$flag needs a value"
      fi
      value="$1"
      shift
    fi
    [[ -n "$value" ]] || die 2 "$flag needs a value"
    mobius_check_value "$flag" "$kind" "$value"
    if [[ "$target" == + ]]; then
      MOBIUS_PASS+=("$flag" "$value")
    else
      printf -v "$target" '%s' "$value"
    fi
  done
  if [[ -n "${MOBIUS_ROOT:-}" ]]; then
    # A mistyped root is an error, never a fresh empty tree made by a later mkdir -p; only a
    # script that sets up a new root on purpose (scripts/demo.sh) sets MOBIUS_NEW_ROOT_OK=1.
    if [[ ! -d "$MOBIUS_ROOT" && "${MOBIUS_NEW_ROOT_OK:-0}" != 1 ]]; then
      die 2 "--root $MOBIUS_ROOT: does not exist (create it first: the tools never create a root)"
    fi
    export MOBIUS_ROOT
  fi
  return 0
}

# Prints the path of a mobius binary: $MOBIUS_BIN_DIR, next to the deploy scripts, the repo's
# target/release or target/debug, then PATH; as a last resort builds it with cargo.
mobius_bin() {
  local name="$1" dir candidate
  for dir in "${MOBIUS_BIN_DIR:-}" "$MOBIUS_DEPLOY_DIR" \
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

# mobius_check_sidecar ZIP: the plain `sha256sum -c` of ZIP.sha256, wherever the pair is.
# The sidecar names <dir>/<zip> (backups/X.zip, so that the check passes from the root as
# the framework runs it); read from the zip's own directory with the directory part removed,
# it checks both the hash and the file name, with no link and no cd into the caller's shell.
mobius_check_sidecar() {
  local zip="$1"
  sed 's#  .*/#  #' "$zip.sha256" | (cd "$(dirname "$zip")" && mobius_sha256sum --check --quiet >&2)
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
