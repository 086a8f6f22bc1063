#!/usr/bin/env bash
# Benchmark of mobius-export (issue 6): a year of 10-second monitoring samples (about 3 M
# lines in 12 monthly logs) exported, against `gzip -c` of the same input files (the floor
# for "read everything once and write it compressed"), and the export's peak RSS.
# Reports figures; asserts nothing (machines are noisy).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bench/export.sh [--runs N] [--dir DIR] [--regen] [--dry-run] [--verbose] [--help]

Generates (once) a root in bench/work/export-root (or --dir) with 12 monthly monitor logs
of 10-second samples for env "production" (bench/gen_export_root.py), then times with
hyperfine (--runs, default 3):
  mobius-export --env production --days 366   the whole export (zip, sidecar, history event)
  gzip -c <the 12 logs> > out.gz                the floor
and measures the export's peak RSS with /usr/bin/time -f %M.

Targets (issue 6): export within 2x of gzip -c; peak RSS < 64 MB.

  --runs N   hyperfine runs per command (default 3)
  --dir DIR  the root to generate and export (default bench/work/export-root)
  --regen    regenerate the root even if it exists
  --env ENV  accepted for symmetry with the deploy scripts; the bench uses "production"
  --dry-run  print the commands, run nothing
  --verbose  print each command as it runs
  --help     this text
USAGE
}

die() {
  printf 'bench/export.sh: %s\n' "$*" >&2
  exit 2
}

runs=3 dir="" regen=0 dry_run=0 verbose=0
while (($#)); do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --regen) regen=1; shift ;;
    --env) shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --verbose) verbose=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive whole number, not '$runs'"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
export_bin="$target/release/mobius-export"
dir="${dir:-$repo/bench/work/export-root}"
out="$dir.out"
timer=/usr/bin/time

vsay() { if ((verbose)); then printf '+ %s\n' "$*" >&2; fi; }

if ((dry_run)); then
  printf 'dry run: cargo build --release -p mobius-export\n'
  printf 'dry run: python3 bench/gen_export_root.py %s production <now>\n' "$dir"
  printf 'dry run: hyperfine --runs %s "%s --root %s --env production --days 366 --out %s" "gzip -c %s/monitor_logs/* > %s/logs.gz"\n' \
    "$runs" "$export_bin" "$dir" "$out" "$dir" "$out"
  printf 'dry run: %s -f %%M %s --root %s --env production --days 366 --out %s\n' "$timer" "$export_bin" "$dir" "$out"
  exit 0
fi
command -v hyperfine >/dev/null 2>&1 || die "hyperfine not found"
[[ -x "$timer" ]] || die "$timer is needed for peak RSS (apt-get install time)"

vsay "cargo build --release -p mobius-export"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mobius-export

if ((regen)) || [[ ! -f "$dir.complete" ]]; then
  rm -rf "$dir" "$dir.complete"
  vsay "python3 $repo/bench/gen_export_root.py $dir production $(date +%s)"
  lines="$(python3 "$repo/bench/gen_export_root.py" "$dir" production "$(date +%s)")"
  printf '%s\n' "$lines" >"$dir.complete"
fi
lines="$(cat "$dir.complete")"
logs=("$dir"/monitor_logs/production_*.jsonl)
bytes="$(cat "${logs[@]}" | wc -c)"
printf 'input: %s lines, %s MB in %s monitor logs\n' "$lines" "$((bytes >> 20))" "${#logs[@]}"
cat "${logs[@]}" >/dev/null # into the page cache for both tools

mkdir -p "$out"
json="$out/hyperfine.json"
hyperfine --runs "$runs" --export-json "$json" \
  --prepare "rm -rf '$out/bundles' '$out/logs.gz'; mkdir -p '$out/bundles'" \
  -n mobius-export "'$export_bin' --quiet --root '$dir' --env production --days 366 --out '$out/bundles' > /dev/null" \
  -n 'gzip -c' "gzip -c '$dir'/monitor_logs/production_*.jsonl > '$out/logs.gz'"

python3 - "$json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
e, g = r["mobius-export"]["mean"], r["gzip -c"]["mean"]
print(f"mobius-export {e:.2f} s, gzip -c {g:.2f} s: ratio {e / g:.2f} (target <= 2.0)")
PY

rm -rf "$out/bundles"
mkdir -p "$out/bundles"
"$timer" -f %M -o "$out/rss.txt" "$export_bin" --quiet --root "$dir" --env production \
  --days 366 --out "$out/bundles" >/dev/null
rss_kb="$(tail -n1 "$out/rss.txt")"
printf 'peak RSS of mobius-export: %s MB (target < 64 MB)\n' "$((rss_kb / 1024))"
ls -l "$out/bundles" "$out/logs.gz" 2>/dev/null || true
