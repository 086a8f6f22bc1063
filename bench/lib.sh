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
  log "backing up $BENCH_WORK/$2 with mobius-backup"
  bench_backup_in "$BENCH_WORK" "$1" "$3" "$2"
}

# bench_backup_in ROOT ENV OUT_DIR [SOURCE...]: the same for the given sources of ROOT
# (relative to it, or absolute; each goes under its base name when there are several), or,
# with none, what ROOT's config/ENV/app.json declares in backup_sources; prints the zip.
bench_backup_in() {
  local root="$1" env="$2" out="$3" zips src
  shift 3
  local args=()
  for src in "$@"; do args+=(--source "$src"); done
  rm -rf "$out"
  mkdir -p "$out"
  "$BENCH_RELEASE/mobius-backup" --env "$env" --root "$root" ${args[@]+"${args[@]}"} \
    --out "$out" --quiet >/dev/null || die 4 "mobius-backup failed"
  zips=("$out"/*.zip)
  [[ ${#zips[@]} -eq 1 && -f "${zips[0]}" ]] || die 4 "expected one backup in $out"
  vlog "backup: ${zips[0]} ($(stat -c %s "${zips[0]}") bytes)"
  printf '%s\n' "${zips[0]}"
}

# bench_alternate OUT RUNS PREPARE NAME_A CMD_A NAME_B CMD_B [NAME CMD]...: RUNS rounds of
# the commands, the order rotated every round (A B, B A, ... for two; A B C, B C A, C A B for
# three) so none always runs on a warmer cache, PREPARE (untimed) before each command.
# Appends "name<TAB>seconds<TAB>peak_rss_kb" lines to OUT.
bench_alternate() {
  local out="$1" runs="$2" prepare="$3" i k pair name cmd t0 t1 rss_file n
  shift 3
  local names=() cmds=()
  while (($# >= 2)); do
    names+=("$1") cmds+=("$2")
    shift 2
  done
  n="${#names[@]}"
  rss_file="$(mktemp)"
  for ((i = 0; i < runs; i++)); do
    for ((k = 0; k < n; k++)); do
      pair=$(((k + i) % n))
      name="${names[$pair]}" cmd="${cmds[$pair]}"
      bash -c "$prepare" || die 4 "prepare failed: $prepare"
      t0="$(date +%s%N)"
      /usr/bin/time -f %M -o "$rss_file" bash -c "$cmd" || die 1 "run $((i + 1)) of $name failed: $cmd"
      t1="$(date +%s%N)"
      printf '%s\t%s\t%s\n' "$name" "$(((t1 - t0) / 1000))e-6" "$(tail -n 1 "$rss_file")" >>"$out"
      log "run $((i + 1))/$runs $name: $(((t1 - t0) / 1000000)) ms"
    done
  done
  rm -f "$rss_file"
}

# bench_summary OUT NAME_A NAME_B TARGET: medians of bench_alternate's lines for A and B, and
# the ratio A/B with PASS when it is at most TARGET.
bench_summary() {
  python3 - "$@" <<'PY'
import statistics, sys
path, a, b, target = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
times, rss = {a: [], b: []}, {a: [], b: []}
for line in open(path):
    name, secs, kb = line.rstrip("\n").split("\t")
    if name not in times:
        continue  # a third command of the same run
    times[name].append(float(secs))
    rss[name].append(int(kb))
ma, mb = statistics.median(times[a]), statistics.median(times[b])
for n, m in ((a, ma), (b, mb)):
    runs = " ".join(f"{t:.2f}" for t in times[n])
    print(f"{n:<34} median {m:7.3f} s  peak RSS {max(rss[n]) / 1024:6.1f} MB  runs: {runs}")
r = ma / mb
print(f"ratio {a} / {b} = {r:.2f} (target <= {target}): {'PASS' if r <= target else 'FAIL'}")
PY
}

# bench_demo DIR ENV APP_JSON: writes APP_JSON to DIR/config/ENV/app.json and starts the
# release mobius-demo with root DIR on a free port of 127.0.0.1; sets BENCH_DEMO_URL and
# adds its pid to BENCH_DEMO_PIDS for bench_stop_demos. (Not run in $(...): the pid must
# reach this shell.)
BENCH_DEMO_URL="" BENCH_DEMO_PIDS=()
bench_demo() {
  local dir="$1" env="$2" url="" i
  mkdir -p "$dir/config/$env"
  printf '%s\n' "$3" >"$dir/config/$env/app.json"
  "$BENCH_RELEASE/mobius-demo" --env "$env" --root "$dir" --listen 127.0.0.1:0 --quiet \
    >"$dir/listening.json" 2>"$dir/demo.err" &
  BENCH_DEMO_PIDS+=("$!")
  for ((i = 0; i < 100; i++)); do
    if [[ -s "$dir/listening.json" ]]; then
      url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$dir/listening.json")"
    fi
    [[ -n "$url" ]] && break
    sleep 0.05
  done
  [[ -n "$url" ]] || die 4 "mobius-demo did not start: $(cat "$dir/demo.err")"
  # shellcheck disable=SC2034 # read by the scripts that source this file
  BENCH_DEMO_URL="$url"
}

# bench_stop_demos: stops every demo bench_demo started (for the EXIT trap).
bench_stop_demos() {
  local pid
  for pid in ${BENCH_DEMO_PIDS[@]+"${BENCH_DEMO_PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
