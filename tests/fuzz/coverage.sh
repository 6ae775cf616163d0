#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Line coverage (llvm-cov) of the command decoding code: a clang build with
# -fprofile-instr-generate -fcoverage-mapping runs every fuzz corpus (the
# fuzz-*-corpus tests) and the in-process suite, then reports per file.
# Usage: tests/fuzz/coverage.sh [build-dir]   (default build-cov; extra corpus
# folders in VGI_COV_CORPUS="fuzz-gpu=/path ..." are run too; VGI_COV_SUITES
# picks the meson suites, default "fuzz inproc")
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build-cov}
flags="-fprofile-instr-generate -fcoverage-mapping"
if [ ! -d "$dir" ]; then
  CC=clang meson setup "$dir" -Dwerror=false -Dbuildtype=debug -Dc_args="$flags" -Dc_link_args="$flags" >/dev/null
fi
ninja -C "$dir" -j"${VGI_JOBS:-2}" >/dev/null
prof="$dir/coverage-profiles"
rm -rf "$prof"; mkdir -p "$prof"
export LLVM_PROFILE_FILE="$PWD/$prof/%p-%m.profraw"
suites=()
for s in ${VGI_COV_SUITES:-fuzz inproc}; do suites+=(--suite "$s"); done
meson test -C "$dir" --no-rebuild --num-processes 2 "${suites[@]}" >/dev/null || true
for spec in ${VGI_COV_CORPUS:-}; do
  "$dir/tests/fuzz/${spec%%=*}" "${spec#*=}" >/dev/null 2>&1 || true
done
llvm-profdata merge -sparse "$prof"/*.profraw -o "$dir/coverage.profdata"
lib=$(find "$dir" -maxdepth 1 -type f -name "libvgi.so.*" | head -1)
# llvm-cov 14 ignores source arguments for this layout: filter the report instead
echo "file                                  lines  missed  line-coverage"
llvm-cov report "$lib" -instr-profile="$dir/coverage.profdata" |
  awk '/(display\/virtio-gpu|virtio\/virtqueue|virtio\/guest-memory|vhost-user\/vhost-user|qemu\/qemu-display|hw\/input\/[^ ]*|input\/grab|virgl\/virtio-gpu-virgl)\.c / {
         f = $1; if (match(f, /\/(hw|ui|input)\//)) f = substr(f, RSTART + 1)
         printf "%-36s %6d %7d  %s\n", f, $8, $9, $10 }'
