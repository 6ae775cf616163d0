#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark of the DRM display: boots a guest on QEMU's virtio-gpu at
1920x1080 and runs bench-drm in it on /dev/dri/card0 (the only place a KMS
card exists on the development machine). Figures are guest CPU time under
TCG emulation: compare them with each other, not with native numbers.
Never fails on timing."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')), 'tests', 'guest'))
try:
    import vgiguest as vg  # noqa: E402
except ImportError as e:
    print('SKIP: the guest harness tests/guest/vgiguest.py is missing (%s)' % e)
    sys.exit(77)


def main():
    build = vg.find_build_dir(None)
    if not build:
        raise vg.Skip('no build directory (VGI_BUILD_ROOT unset)')
    prog = os.path.join(build, 'tests', 'ui', 'drm', 'bench-drm')
    if not os.access(prog, os.X_OK):
        raise vg.Skip('bench-drm not built')
    out = os.path.join(build, 'tests', 'ui', 'drm', 'out-bench')
    os.makedirs(out, exist_ok=True)
    script = '%s /dev/dri/card0 1920x1080 >"$VGI_OUT/bench.txt" 2>"$VGI_OUT/bench.log"\n' % prog
    with vg.Guest(out, script=script, gpu='builtin', gpu_props={'xres': 1920, 'yres': 1080},
                  timeout=500, name='drm-bench') as g:
        rc = g.wait()
        print('DRM display in a TCG guest on QEMU virtio-gpu-pci (guest CPU time):')
        print(g.read('bench.txt'))
        print(g.read('bench.log'))
        if rc != 0:
            print('bench-drm exited %d' % rc)
            return 1
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except vg.Skip as e:
        print('SKIP: %s' % e)
        sys.exit(77)
