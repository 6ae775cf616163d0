#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Long libFuzzer runs, one target at a time (-jobs=1), each for SECONDS
# (default 600), in a clang ASan+UBSan build with -Dfuzz=true. New inputs go
# to a work folder per target; with VGI_FUZZ_MERGE=1 the ones that add edges
# are merged back into tests/fuzz/corpus/<target> (-merge=1 -use_counters=0
# keeps the corpora small). Prints executions per target and in total; any
# crash/leak/UB report stops with its artifact under the work folder.
# Usage: tests/fuzz/long-run.sh [SECONDS] [target...]   (build dir: $VGI_FUZZ_BUILD or build-fuzz)
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}; shift || true
dir=${VGI_FUZZ_BUILD:-build-fuzz}
work=${VGI_FUZZ_WORK:-$dir/fuzz-work}
if [ ! -d "$dir" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link -Dwerror=false >/dev/null || exit 1
fi
ninja -C "$dir" -j"${VGI_JOBS:-2}" >/dev/null || exit 1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || for t in tests/fuzz/fuzz-*.c; do n=$(basename "$t" .c); [ -x "$dir/tests/fuzz/$n" ] && targets+=("$n"); done
total=0; status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -n tests/fuzz/corpus/"$t"/* "$work/$t"/ 2>/dev/null
  log="$work/$t.log"
  "$dir/tests/fuzz/$t" -jobs=1 -workers=1 -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$work/$t-" "$work/$t" >"$log" 2>&1
  # -jobs=1 runs the fuzzer as a child writing fuzz-0.log in the current folder
  [ -f fuzz-0.log ] && { cat fuzz-0.log >>"$log"; rm -f fuzz-0.log; }
  n=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
  if ls "$work/$t"-crash-* "$work/$t"-leak-* "$work/$t"-timeout-* "$work/$t"-oom-* >/dev/null 2>&1; then
    echo "$t: $n executions, FINDINGS in $work (see $log)"; status=1
  else
    echo "$t: $n executions, no findings"
  fi
  total=$((total + n))
  if [ "${VGI_FUZZ_MERGE:-0}" = 1 ]; then
    "$dir/tests/fuzz/$t" -merge=1 -use_counters=0 tests/fuzz/corpus/"$t" "$work/$t" >/dev/null 2>&1
  fi
done
echo "total: $total executions"
exit $status
