#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds vgi twice (warnings as errors; and with
# ASan+UBSan+LSan), runs every test in both, and ends with "N passed, N failed".
# VGI_TEST_SUITES="unit inproc" limits the suites; VGI_SKIP_ASAN=1 skips the sanitizer build.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

suite_args=()
for s in ${VGI_TEST_SUITES:-}; do suite_args+=(--suite "$s"); done

build() {	# dir, extra meson args...
  local dir=$1; shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || return 1
  else
    meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" || return 1
}

status=0
results=()
if build build; then
  meson test -C build --print-errorlogs --num-processes 2 "${suite_args[@]}" || status=1
  results+=(build/meson-logs/testlog.json)
else
  echo "build failed"; status=1
fi

if [ "${VGI_SKIP_ASAN:-0}" != 1 ]; then
  if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
    # The sanitizer build runs the in-process suites; guest boots are covered above.
    meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite guest --no-suite bench || status=1
    results+=(build-asan/meson-logs/testlog.json)
  else
    echo "sanitizer build failed"; status=1
  fi
fi

# A short libFuzzer run per target (clang build with ASan+UBSan); VGI_FUZZ_SECONDS=0 skips.
fuzz_seconds=${VGI_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  fuzz_log=build-fuzz.results.json
  : >"$fuzz_log"
  if CC=clang build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
       -Dc_args=-fsanitize=fuzzer-no-link -Dwerror=false; then
    for exe in build-fuzz/tests/fuzz/fuzz-*; do
      [ -f "$exe" ] && [ -x "$exe" ] || continue
      name=$(basename "$exe")
      work=$(mktemp -d)
      cp tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
      echo "fuzzing $name for ${fuzz_seconds}s"
      if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
         "$exe" -max_total_time="$fuzz_seconds" -print_final_stats=1 -artifact_prefix="$work/" "$work" \
           >"build-fuzz/$name.log" 2>&1; then
        r=OK
      else
        r=FAIL; tail -40 "build-fuzz/$name.log"; cp "$work"/crash-* "$work"/leak-* build-fuzz/ 2>/dev/null
      fi
      grep -E 'stat::number_of_executed_units' "build-fuzz/$name.log" | sed "s/^/$name: /"
      printf '{"name": "%s", "result": "%s"}\n' "$name" "$r" >>"$fuzz_log"
      [ $r = OK ] || status=1
      rm -rf "$work"
    done
  else
    echo "fuzz build failed"; printf '{"name": "fuzz-build", "result": "FAIL"}\n' >>"$fuzz_log"; status=1
  fi
  results+=("$fuzz_log")
fi

python3 - "${results[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line).get('result')
        if r in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif r == 'SKIP':
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
