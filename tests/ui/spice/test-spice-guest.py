#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-gpu --display spice with a real guest: a Linux guest boots on
vhost-user-gpu-pci with vgi-gpu as the backend (--display qemu for QMP
screendumps, and --display spice), writes text to its console (fbcon on
virtio-gpu), and spicy-screenshot, a real SPICE client, captures the same
picture as QEMU's screendump, pixel for pixel, and it has the text.

  test-spice-guest.py [--build-dir DIR]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')), 'tests', 'guest'))
try:
    import vgiguest as vg  # noqa: E402
except ImportError as e:
    print('SKIP: the guest harness tests/guest/vgiguest.py is missing (%s)' % e)
    sys.exit(77)

BLACK = (0, 0, 0)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    args = ap.parse_args()
    if not shutil.which('spicy-screenshot'):
        raise vg.Skip('spicy-screenshot (package spice-client-gtk) is not installed: no real SPICE client')
    build = vg.find_build_dir(args.build_dir)
    if not build:
        raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
    out = os.path.join(build, 'tests', 'ui', 'spice', 'out-guest')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    port = free_port()
    backend = vg.gpu_backend_argv('vgi', build, extra=[
        '--display', 'qemu', '--display', 'spice,port=%d,disable-ticketing' % port])
    script = r'''
echo 0 > /sys/class/graphics/fbcon/cursor_blink 2>/dev/null
printf '\033[2J\033[H\033[?25l' > /dev/tty1
printf 'vgi-gpu --display spice: hello from the guest console\n' > /dev/tty1
printf '%0100d\n' 0 | tr 0 '#' > /dev/tty1
vgi_signal text
vgi_wait checked 200
'''
    with vg.Guest(out, script=script, gpu='vhost-user', gpu_backend=backend, timeout=300, name='spice') as g:
        g.wait_file('text', timeout=240)
        time.sleep(2)
        ppm = os.path.join(out, 'spicy.ppm')
        for attempt in range(10):
            qmp = g.screenshot()
            if os.path.exists(ppm):
                os.unlink(ppm)
            r = subprocess.run(['spicy-screenshot', '-h', '127.0.0.1', '-p', str(port), '-o', ppm],
                               capture_output=True, text=True, timeout=60)
            spice = vg.read_ppm(ppm) if os.path.exists(ppm) else None
            if spice is None:
                raise AssertionError('spicy-screenshot got no picture: %s' % r.stderr)
            diff = vg.compare_images(spice, qmp)
            if diff is None:
                break
            time.sleep(1)   # the console may still have been drawing
        qmp.save_png(os.path.join(out, 'qmp.png'))
        spice.save_png(os.path.join(out, 'spice.png'))
        assert diff is None, 'SPICE picture differs from the QMP screendump: %s' % diff
        lit = spice.count_not(BLACK, 0, 0, spice.width, 32)
        below = spice.count_not(BLACK, 0, 48, spice.width, spice.height - 48)
        assert lit > 500, 'no console text in the SPICE picture (%d lit pixels in the first two rows)' % lit
        assert below == 0, 'unexpected pixels below the text: %d' % below
        print('spicy-screenshot %dx%d equals the QMP screendump pixel for pixel; %d text pixels lit'
              % (spice.width, spice.height, lit))
        g.signal('checked')
        rc = g.wait(timeout=60)
        assert rc == 0, 'guest script exited %d' % rc
    print('PASS')


if __name__ == '__main__':
    try:
        main()
    except vg.Skip as e:
        print('SKIP: %s' % e)
        sys.exit(77)
