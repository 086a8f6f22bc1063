#!/usr/bin/env bash
# Makes docs/img/report-rollback.png: a real demo run (mobius-demo, monitor.sh with
# --auto-rollback) where a bad release (slow, 60% errors) is caught and rolled back, drawn
# by mobius-report and screenshotted with headless Chromium.
# Usage: docs/img/report-rollback.sh BIN_DIR   (the directory of the built binaries)
set -euo pipefail
bin="${1:?usage: docs/img/report-rollback.sh BIN_DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
root="$(mktemp -d "${TMPDIR:-/tmp}/mobius-shot.XXXXXX")"
demo_pid=""
cleanup() {
  if [[ -n "$demo_pid" ]]; then kill "$demo_pid" 2>/dev/null || true; fi
  rm -rf -- "$root"
}
trap cleanup EXIT
cp -R "$repo/config" "$root/config"
"$bin/mobius-demo" --env staging --root "$root" --listen 127.0.0.1:0 --quiet >"$root/listening.json" &
demo_pid=$!
for _ in $(seq 100); do [[ -s "$root/listening.json" ]] && break; sleep 0.05; done
url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$root/listening.json")"
app="$root/config/staging/app.json"
sed -i "s|http://127.0.0.1:8081|$url|g" "$app"
export MOBIUS_BIN_DIR="$bin" MOBIUS_ROOT="$root"
backup="$("$repo/scripts/deploy/backup.sh" --env staging)"
good="$(cat "$app")"
{
  sleep 6
  # The bad release: slow and failing most requests.
  printf '%s\n' "$good" | sed 's/"latency_ms": 0/"latency_ms": 350/; s/"error_share": 0.0/"error_share": 0.6/' >"$app.new"
  mv "$app.new" "$app"
} &
changer=$!
"$repo/scripts/deploy/monitor.sh" --env staging --interval 500ms --duration 60s \
  --auto-rollback --backup "$backup" --restart-cmd true >/dev/null || true
wait "$changer"
html="$(ls "$root"/monitor_logs/*.html)"
# The log too: the picture can be redrawn from it (mobius-report LOG -o X.html).
cp "${html%.html}.jsonl" "$repo/docs/img/report-rollback.jsonl"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$root/chromium" --screenshot="$repo/docs/img/report-rollback.png" \
  --window-size=1000,1180 "file://$html" 2>/dev/null
ls -l "$repo/docs/img/report-rollback.png"
