#!/usr/bin/env bash
# Multi-source rollback benchmark (issue 11): one backup holding a release tree and the
# environment's config, restored by mobius-rollback (deep verification, every source swapped
# atomically, all or none; safety backup and health checks off) against `restic restore` of
# the same two directories followed by `mv` of each into place. Two trees: the 200 MB /
# 20,000-file tree of bench/lib.sh, and 300,000 small files. Rounds alternate A and B; the
# medians and their ratio come from the same run. Target: mobius / restic <= 1.0.
set -euo pipefail
# shellcheck source=../scripts/lib/mobius.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/mobius.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'USAGE'
Usage: bench/rollback_multi.sh [--env ENV] [--runs N] [--size MB] [--files N]
                               [--small-size MB] [--small-files N] [--small-runs N]
                               [--threads N] [--single] [--no-build] [--dry-run]
                               [--verbose] [--help]

For each tree (bench/work/tree-<MB>-<N>/ from bench/gen_tree.py: default 200 MB in 20,000
files, and --small-files 300000 in --small-size 150 MB; --small-files 0 skips it):
  untimed: a source root bench/work/multi-src/ holding config/ENV/ (app.json declaring
  backup_sources ["config/ENV", "releases/current"], database.json) and releases/current/
  (a hard-linked copy of the tree); one mobius-backup of both sources, and a restic
  repository (bench/work/multi-restic/, `restic init` + `restic backup` of the same two
  directories); restic is installed with apt-get when missing.
  timed, --runs rounds (default 5; --small-runs, default 3, for the small-file tree), order
  alternating, the live root bench/work/multi-live/ reset before each command to a small bad
  deploy of both directories:
    A  mobius-rollback --env ENV --root multi-live --backup BACKUP.zip --no-safety-backup
                       --no-health-check --threads N
    B  restic restore latest --target multi-live/.restic-new, then mv of config/ENV and
       releases/current out of the way and mv of each restored directory into place
Both must restore both directories byte for byte first (diff -r), or the benchmark stops.
--single measures one source (the release tree, mobius-rollback --target releases/current)
against restic restore + one mv; it is chosen by itself when this build's mobius-rollback
cannot restore a multi-source backup.
Prints each command's median, peak RSS, every run, and the ratio. Results:
bench/work/rollback_multi-<tree>.tsv. --dry-run prints the plan and exits.
USAGE
}

env="bench" runs=5 size=200 files=20000 small_size=150 small_files=300000 small_runs=3
threads=2 build=1 single=0
no_build=0
mobius_flag --runs number runs
mobius_flag --size number size
mobius_flag --files number files
mobius_flag --small-size number small_size
mobius_flag --small-files number small_files
mobius_flag --small-runs number small_runs
mobius_flag --threads number threads
mobius_flag --single switch single
mobius_flag --no-build switch no_build
mobius_parse "$@"
if ((no_build)); then build=0; fi
check_env "$env"
bench_positive "$runs" "$size" "$files" "$small_size" "$small_runs" "$threads"
[[ "$small_files" == 0 ]] || bench_positive "$small_files"

work="$BENCH_WORK"
src="$work/multi-src"
live="$work/multi-live"
repo="$work/multi-restic"
pwfile="$work/multi-restic.password"

if [[ "$MOBIUS_DRY_RUN" == 1 ]]; then
  log "dry run: would generate tree-$size-$files (and tree-$small_size-$small_files unless --small-files 0), build release mobius-backup and mobius-rollback,"
  log "dry run: back up $src (config/$env + releases/current) with mobius-backup and restic, then alternate mobius-rollback and restic restore + mv into $live"
  exit 0
fi

if ! command -v restic >/dev/null 2>&1; then
  log "restic is missing: installing the Debian package (apt-get install restic)"
  { apt-get install -y -qq restic >&2 || { apt-get update -qq >&2 && apt-get install -y -qq restic >&2; }; } ||
    die 4 "could not install restic; install it and run again"
fi
bench_require restic python3 diff /usr/bin/time
bench_build "$build" mobius-backup mobius-rollback
rollback_bin="$BENCH_RELEASE/mobius-rollback"
if ((!single)) && ! "$rollback_bin" --help 2>&1 | grep -q backup_sources; then
  log "this mobius-rollback cannot restore a multi-source backup (no backup_sources in its --help): measuring --single"
  single=1
fi

q() { printf '%q' "$1"; }

# app_json STATE: the config a deploy writes; both states declare the same two sources.
app_json() {
  printf '{"service":"bench","state":"%s","health_url":"http://127.0.0.1:9/health","backup_sources":["config/%s","releases/current"]}\n' "$1" "$env"
}

# run_case TREE_NAME RUNS: one tree, both tools, alternating.
run_case() {
  local tree_name="$1" case_runs="$2" zip sources prepare mobius_cmd peer_cmd tsv
  tsv="$work/rollback_multi-$tree_name.tsv"
  log "== $tree_name ($([[ $single == 1 ]] && echo 'single source: the release' || echo 'release + config'))"

  # The state to return to: config plus the release (hard links: no second 200 MB).
  rm -rf "$src"
  mkdir -p "$src/config/$env" "$src/releases"
  app_json good >"$src/config/$env/app.json"
  printf '{"pool":16,"url":"postgres://db.internal/app"}\n' >"$src/config/$env/database.json"
  cp -al "$work/$tree_name" "$src/releases/current"
  if ((single)); then
    sources=(releases/current)
  else
    sources=("config/$env" releases/current)
  fi
  zip="$(bench_backup_in "$src" "$env" "$work/multi-in" "${sources[@]}")"
  log "mobius backup: $zip ($(($(stat -c %s "$zip") / 1048576)) MB)"
  rm -rf "$repo"
  printf 'bench-only-password\n' >"$pwfile"
  restic init --quiet -r "$repo" --password-file "$pwfile" >/dev/null
  (cd "$src" && restic backup --quiet -r "$repo" --password-file "$pwfile" "${sources[@]}" >/dev/null) ||
    die 4 "restic backup failed"
  log "restic repository: $repo ($(du -sm "$repo" | cut -f1) MB)"

  # The bad deploy both restore over: a small release and a bad config.
  prepare="rm -rf $(q "$live") && mkdir -p $(q "$live/config/$env") $(q "$live/releases/current") && printf '%s' $(q "$(app_json bad)") > $(q "$live/config/$env/app.json") && echo 2.0.0-bad > $(q "$live/releases/current/VERSION")"
  local target_flag=""
  if ((single)); then target_flag="--target releases/current"; fi
  mobius_cmd="$(q "$rollback_bin") --env $(q "$env") --root $(q "$live") --backup $(q "$zip") $target_flag --no-safety-backup --no-health-check --max-entries 10000000 --max-total-size 8GiB --threads $threads --quiet > /dev/null"
  peer_cmd="restic restore latest --quiet -r $(q "$repo") --password-file $(q "$pwfile") --target $(q "$live/.restic-new")"
  local s
  for s in "${sources[@]}"; do
    peer_cmd+=" && mv $(q "$live/$s") $(q "$live/$s.old") && mv $(q "$live/.restic-new/$s") $(q "$live/$s")"
  done
  vlog "prepare: $prepare"
  vlog "A: $mobius_cmd"
  vlog "B: $peer_cmd"

  # Both must restore every source before their speed means anything (this is the warmup).
  local cmd
  for cmd in "$mobius_cmd" "$peer_cmd"; do
    bash -c "$prepare"
    bash -c "$cmd" || die 1 "the command failed: $cmd"
    for s in "${sources[@]}"; do
      rm -f "$live/$s/MOBIUS-MANIFEST.json"
      diff -r -q "$src/$s" "$live/$s" >/dev/null || die 1 "$live/$s differs from $src/$s after: $cmd"
    done
  done

  rm -f "$tsv"
  bench_alternate "$tsv" "$case_runs" "$prepare" mobius-rollback "$mobius_cmd" 'restic restore + mv' "$peer_cmd"
  printf '%s (%s): backup %s MB\n' "$tree_name" "${sources[*]}" "$(($(stat -c %s "$zip") / 1048576))"
  bench_summary "$tsv" mobius-rollback 'restic restore + mv' 1.0
}

run_case "$(bench_tree "$size" "$files")" "$runs"
if [[ "$small_files" != 0 ]]; then
  run_case "$(bench_tree "$small_size" "$small_files")" "$small_runs"
fi
rm -rf "$live" "$src"
