#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages from this working tree (dpkg-buildpackage -b),
# runs lintian (no errors allowed), installs them, and boots a guest with the
# installed vgi-run and /usr/libexec/vgi-gpu from outside the source tree.
# Run on demand, as root (it installs packages): tests/packaging/test-deb.sh
# VGI_KEEP_PACKAGES=1 leaves them installed. Takes about 5-10 minutes on 2 cores.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /var/tmp/vgi-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ "$(id -u)" -eq 0 ] || { echo "test-deb.sh: run as root (installs packages)"; exit 77; }
for t in dpkg-buildpackage dh lintian help2man; do
  command -v "$t" >/dev/null || { echo "test-deb.sh: $t missing (apt-get install dpkg-dev debhelper lintian help2man)"; exit 77; }
done

echo "== copying the working tree to $work/vgi"
mkdir "$work/vgi"
(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/vgi")

echo "== dpkg-buildpackage -b -us -uc"
(cd "$work/vgi" && nice dpkg-buildpackage -b -us -uc -j2 >"$work/build.log" 2>&1) ||
  { tail -60 "$work/build.log"; echo "test-deb.sh: FAIL: dpkg-buildpackage"; exit 1; }
ls "$work"/*.deb

echo "== lintian"
changes=$(ls "$work"/vgi_*.changes)
lintian --fail-on error --tag-display-limit 0 "$changes" | tee "$work/lintian.log" ||
  { echo "test-deb.sh: FAIL: lintian reports errors"; exit 1; }
echo "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings"

echo "== installing"
export DEBIAN_FRONTEND=noninteractive
debs=$(ls "$work"/*.deb | grep -v -- -dbgsym_)
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $debs >"$work/install.log" 2>&1 ||
  { tail -30 "$work/install.log"; echo "test-deb.sh: FAIL: install"; exit 1; }
cleanup_pkgs() {
  if [ "${VGI_KEEP_PACKAGES:-0}" != 1 ]; then
    dpkg --purge vgi-run vgi-gpu vgi-input vgi-view vgi-sink-sdl vgi-sink-gtk vgi-sink-spice libvgi-dev libvgi0 >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup_pkgs EXIT

fail=0
check() { if "$@"; then echo "ok: $*"; else echo "FAIL: $*"; fail=1; fi; }
check man -w vgi-gpu
check man -w vgi-run
check test -x /usr/libexec/vgi-gpu
check grep -q '"binary": "/usr/libexec/vgi-gpu"' /usr/share/qemu/vhost-user/50-vgi-gpu.json
check /usr/libexec/vgi-gpu --version
# a headless server: vgi-gpu maps neither GTK nor SDL
check sh -c '! ldd /usr/libexec/vgi-gpu | grep -Eq "libgtk|libSDL2|libspice"'
check pkg-config --exists vgi

echo "== the quick start's guest on the installed vgi-gpu (2D: fbcon text and a screenshot)"
mkdir -p "$work/run" "$work/shots"
cd "$work/run"
set +e
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" /usr/bin/vgi-run --no-virgl --screenshot "$work/shots" -- \
  sh -c 'printf "\033[2J\033[Hvgi package test\n" > /dev/tty1; uname -r; sleep 1; exit 3' >"$work/run.out" 2>"$work/run.err"
rc=$?
set -e
cat "$work/run.err" "$work/run.out"
check test "$rc" -eq 3
check grep -q 'with /usr/libexec/vgi-gpu' "$work/run.err"
check sh -c "ls '$work'/shots/scanout0-*.png >/dev/null"
echo "== 3D: kmscube on the installed vgi-gpu --virgl"
if command -v kmscube >/dev/null; then
  set +e
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" /usr/bin/vgi-run -- kmscube -c 30 >"$work/kms.out" 2>"$work/kms.err"
  rc=$?
  set -e
  tail -3 "$work/kms.err"
  check test "$rc" -eq 0
  check grep -q 'renderer: "virgl' "$work/kms.out"
fi
[ $fail -eq 0 ] && echo "test-deb.sh: PASS" || echo "test-deb.sh: FAIL"
exit $fail
