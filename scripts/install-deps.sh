#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what vgi needs on Debian 12 (bookworm): build tools, libraries,
# and the test stack (QEMU 10 from bookworm-backports, a guest kernel,
# busybox for the test initramfs). Idempotent; quiet when all is present.
set -euo pipefail

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

PKGS=(
  build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev
  libpixman-1-dev libpng-dev libcmocka-dev
  libvirglrenderer-dev libepoxy-dev libgbm-dev libegl-dev libdrm-dev
  libevdev-dev libsdl2-dev libgtk-3-dev libspice-server-dev
  libpoppler-glib-dev libcairo2-dev libgdk-pixbuf-2.0-dev libglib2.0-dev
  linux-image-amd64 busybox-static cpio kmod python3
  libgl1-mesa-dri libegl-mesa0 mesa-utils mesa-utils-bin kmscube libdrm-tests
  evemu-tools xvfb xdotool spice-client-gtk x11-apps imagemagick webp-pixbuf-loader edid-decode libspice-client-glib-2.0-dev libx11-dev libxfixes-dev libgles-dev
  help2man glmark2-es2-drm
)

need_update=1
add_backports() {
  local f=/etc/apt/sources.list.d/vgi-backports.sources
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local uri
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" | $SUDO tee "$f" >/dev/null
  fi
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null &&
   qemu-system-x86_64 --version | grep -Eq 'version (9|[1-9][0-9])\.' &&
   [ -x /usr/lib/qemu/vhost-user-gpu ]; then
  qemu_ok=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $qemu_ok -eq 0 ]; then
  add_backports
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ $qemu_ok -eq 0 ]; then
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
      qemu-system-x86 qemu-system-gui qemu-utils >/dev/null
  fi
fi
