#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Quick start: install what is missing, build, and run the main job on a
# headless default: a real Linux guest boots under QEMU with vgi-gpu as its
# GPU (no X, no GPU needed); vgi writes screenshots of what the guest drew
# and prints their paths. OUT=dir chooses where (default ./out).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ -d build ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

out=${OUT:-$PWD/out}
mkdir -p "$out"
# The in-process demo: the 2D device driven through rings in a memory buffer.
./build/tools/vgi-demo/vgi-demo --output "$out/vgi-demo.png"
# The main job: a Linux guest on vgi-gpu, screenshots from QEMU and from vgi's headless sink.
python3 tests/guest/vgiguest.py demo --build-dir build --out "$out"
# 3D in one command: kmscube through virgl (llvmpipe) in a throwaway VM; its GL renderer is printed.
./build/tools/vgi-run/vgi-run -- kmscube -c 60 | grep -E '^  (version|renderer):'
