#!/usr/bin/env bash
# Shared by the bench/*.sh scripts (sourced after scripts/lib/mobius.sh): the generated
# benchmark tree, release builds, and a fresh mobius-backup of the tree. Each benchmark keeps
# only what is its own: the peer it is measured against.
#
# The benchmarks are Linux-only, unlike scripts/deploy/ (see the top of scripts/lib/mobius.sh): they
# measure with GNU /usr/bin/time -f %M, stat -c, date -d and %N, nproc, and compare against
# GNU sha256sum.

BENCH_DIR="$MOBIUS_REPO_DIR/bench"
BENCH_WORK="$BENCH_DIR/work"
BENCH_RELEASE="${CARGO_TARGET_DIR:-$MOBIUS_REPO_DIR/target}/release"

# bench_require TOOL...: dies (exit 4) naming the first tool missing.
bench_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die 4 "$tool is needed for the benchmark; install it"
  done
}

# bench_positive VALUE...: dies (exit 2) unless every value is a positive whole number.
bench_positive() {
  local n
  for n in "$@"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die 2 "'$n' is not a positive number (--runs, --size, --files ...)"
  done
}

# bench_tree SIZE_MB FILES: generates $BENCH_WORK/tree-SIZE-FILES once and prints its name
# (relative to $BENCH_WORK). The marker sits beside the tree (inside, it would be archived),
# so a generation cut short is redone rather than benchmarked.
bench_tree() {
  local size="$1" files="$2" name tree
  name="tree-$size-$files"
  tree="$BENCH_WORK/$name"
  mkdir -p "$BENCH_WORK"
  if [[ ! -f "$tree.complete" ]]; then
    log "generating $tree ($size MB, $files files; once)"
    rm -rf "$tree"
    python3 "$BENCH_DIR/gen_tree.py" "$tree" "$size" "$files" >&2
    touch "$tree.complete"
  fi
  printf '%s\n' "$name"
}

# bench_build BUILD(0|1) CRATE...: builds the crates' release binaries (unless BUILD is 0)
# and checks that each is there.
bench_build() {
  local build="$1" crate
  shift
  if ((build)); then
    local args=()
    for crate in "$@"; do args+=(-p "$crate"); done
    log "building release binaries (cargo build --release ${args[*]})"
    cargo build --release --quiet --manifest-path "$MOBIUS_REPO_DIR/Cargo.toml" "${args[@]}" >&2 ||
      die 4 "cargo build failed"
  fi
  for crate in "$@"; do
    [[ -x "$BENCH_RELEASE/$crate" ]] || die 4 "release binary missing: $BENCH_RELEASE/$crate (drop --no-build)"
  done
}

# bench_backup ENV TREE_NAME OUT_DIR: a fresh mobius-backup of the tree into OUT_DIR (emptied
# first), so a benchmark measures what today's build makes; prints the zip's path.
bench_backup() {
  local env="$1" tree_name="$2" out="$3" zips
  log "backing up $BENCH_WORK/$tree_name with mobius-backup"
  rm -rf "$out"
  mkdir -p "$out"
  "$BENCH_RELEASE/mobius-backup" --env "$env" --root "$BENCH_WORK" --source "$tree_name" \
    --out "$out" --quiet >/dev/null || die 4 "mobius-backup failed"
  zips=("$out"/*.zip)
  [[ ${#zips[@]} -eq 1 && -f "${zips[0]}" ]] || die 4 "expected one backup in $out"
  vlog "backup: ${zips[0]} ($(stat -c %s "${zips[0]}") bytes)"
  printf '%s\n' "${zips[0]}"
}
