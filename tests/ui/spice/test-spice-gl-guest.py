#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SPICE GL scanout with a real client: needs a dmabuf, which needs a DRM
device, which only a guest has here. A guest boots on virtio-gpu-pci and
runs spice-gl-check (tests/ui/spice/spice-gl-check.c): a PRIME-exported dumb
buffer goes through the SPICE sink's scanout_gl/gl_update to a spice-client-glib
client on a unix socket, which reads the dmabuf on each GL draw."""

import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')), 'tests', 'guest'))
try:
    import vgiguest as vg  # noqa: E402
except ImportError as e:
    print('SKIP: the guest harness tests/guest/vgiguest.py is missing (%s)' % e)
    sys.exit(77)


def sanitizer_env():
    """The sanitizer settings of this test (meson's env) for the program in the guest."""
    return {k: os.environ[k] for k in ('ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS') if k in os.environ}


def main():
    build = vg.find_build_dir(None)
    if not build:
        raise vg.Skip('no build directory (VGI_BUILD_ROOT unset)')
    d = os.path.join(build, 'tests', 'ui', 'spice')
    check, client = os.path.join(d, 'spice-gl-check'), os.path.join(d, 'spice-input-client')
    if not (os.access(check, os.X_OK) and os.access(client, os.X_OK)):
        raise vg.Skip('spice-gl-check or spice-input-client not built (libspice-client-glib-2.0-dev missing?)')
    out = os.path.join(d, 'out-gl-guest')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    script = '%s %s "$VGI_OUT" >"$VGI_OUT/check.txt" 2>&1\n' % (check, client)
    with vg.Guest(out, script=script, gpu='builtin', timeout=240, name='spice-gl',
                  env=sanitizer_env()) as g:
        rc = g.wait()
        print(g.read('check.txt'))
        if os.path.exists(os.path.join(out, 'gl-client.txt')):
            print('client:\n' + g.read('gl-client.txt'))
    if rc == 77:
        raise vg.Skip('the SPICE client cannot take GL scanouts')
    assert rc == 0, 'spice-gl-check exited %d' % rc
    print('PASS')


if __name__ == '__main__':
    try:
        main()
    except vg.Skip as e:
        print('SKIP: %s' % e)
        sys.exit(77)
