#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-view on the SDL output under a private Xvfb: keys typed with xdotool
(X events -> SDL sink -> vgi-view) turn the page, and the window's pixels
(taken with the real xwd client) equal what the same vgi-view draws on the
headless output.  Skips (77) without Xvfb, xdotool or xwd.

  test-view-sdl.py [--build-dir DIR]
"""

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time


def skip(why):
    print('SKIP: %s' % why)
    sys.exit(77)


def read_xwd(data):
    """(width, height, RGB bytes) of a 24/32-bit ZPixmap XWD file."""
    h = struct.unpack('>25I', data[:100])
    header_size, w, hgt, byte_order, bpp, bpl, ncolors = h[0], h[4], h[5], h[7], h[11], h[12], h[19]
    assert bpp == 32, 'xwd: %d bits per pixel' % bpp
    off = header_size + ncolors * 12
    rgb = bytearray(w * hgt * 3)
    for y in range(hgt):
        row = data[off + y * bpl: off + y * bpl + w * 4]
        for x in range(w):
            p = row[x * 4:x * 4 + 4]
            if byte_order == 0:
                b, g, r = p[0], p[1], p[2]
            else:
                r, g, b = p[1], p[2], p[3]
            rgb[(y * w + x) * 3:(y * w + x) * 3 + 3] = bytes((r, g, b))
    return w, hgt, bytes(rgb)


def read_png_rgb(path):
    sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', '.'), 'tests', 'guest'))
    import vgiguest as vg
    img = vg.read_image(path)
    return img.width, img.height, bytes(img.data)


def frames(log):
    try:
        with open(log) as f:
            return [l for l in f.read().splitlines() if l.startswith('frame ')]
    except OSError:
        return []


def wait_frames(log, n, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while len(frames(log)) < n:
        if proc.poll() is not None:
            raise AssertionError('vgi-view exited (%d) before frame %d' % (proc.returncode, n - 1))
        if time.monotonic() > deadline:
            raise AssertionError('no frame %d within %d s' % (n - 1, timeout))
        time.sleep(0.1)
    return frames(log)


def main():
    build = os.environ.get('VGI_BUILD_ROOT') or (sys.argv[2] if len(sys.argv) > 2 else None)
    if not build:
        skip('no build directory')
    for prog in ('Xvfb', 'xdotool', 'xwd'):
        if not shutil.which(prog):
            skip('%s is not installed' % prog)
    viewer = os.path.join(build, 'tools', 'vgi-view', 'vgi-view')
    mkfiles = os.path.join(build, 'tests', 'view', 'view-mkfiles')
    tmp = tempfile.mkdtemp(prefix='vgi-view-sdl-')
    xvfb = None
    view = None
    try:
        subprocess.run([mkfiles, tmp, '3'], check=True, timeout=60)
        pdf = os.path.join(tmp, 'doc.pdf')
        for n in range(140, 200):
            if not os.path.exists('/tmp/.X11-unix/X%d' % n) and not os.path.exists('/tmp/.X%d-lock' % n):
                break
        disp = ':%d' % n
        xvfb = subprocess.Popen(['Xvfb', disp, '-screen', '0', '800x600x24', '-nolisten', 'tcp'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists('/tmp/.X11-unix/X%d' % n):
                break
            time.sleep(0.1)
        env = dict(os.environ, DISPLAY=disp)
        log = os.path.join(tmp, 'frames.log')
        view = subprocess.Popen([viewer, '--display', 'sdl', '--size', '400x300', '--no-evdev', '--frames-log', log,
                                 pdf], env=env, stdin=subprocess.DEVNULL)
        wait_frames(log, 1, view)
        wid = subprocess.run(['xdotool', 'search', '--sync', '--name', 'vgi'], env=env, capture_output=True,
                             text=True, timeout=30).stdout.split()[0]
        subprocess.run(['xdotool', 'windowfocus', '--sync', wid], env=env, timeout=30)
        subprocess.run(['xdotool', 'key', 'j'], env=env, check=True, timeout=30)
        lines = wait_frames(log, 2, view)
        assert 'page=2/3' in lines[1], lines[1]
        subprocess.run(['xdotool', 'key', 'Next'], env=env, check=True, timeout=30)   # PgDn
        lines = wait_frames(log, 3, view)
        assert 'page=3/3' in lines[2], lines[2]
        print('\n'.join(lines))
        time.sleep(0.5)
        xwd = subprocess.run(['xwd', '-silent', '-id', wid], env=env, capture_output=True, timeout=30).stdout
        got = read_xwd(xwd)
        hl = os.path.join(tmp, 'headless')
        subprocess.run([viewer, '--display', 'headless,dir=' + hl, '--size', '400x300', '--keys', 'j j q', pdf],
                       check=True, stdin=subprocess.DEVNULL, timeout=60)
        want = read_png_rgb(os.path.join(hl, 'scanout0-000002.png'))
        assert got[:2] == want[:2], 'window %dx%d, frame %dx%d' % (got[0], got[1], want[0], want[1])
        bad = sum(1 for i in range(0, len(want[2]), 3) if got[2][i:i + 3] != want[2][i:i + 3])
        print('SDL window %dx%d after j and PgDn (xdotool): %d pixels differ from the headless frame' % (
            got[0], got[1], bad))
        assert bad == 0
        subprocess.run(['xdotool', 'key', 'q'], env=env, check=True, timeout=30)
        rc = view.wait(timeout=30)
        assert rc == 0, 'vgi-view exited %d' % rc
        print('PASS')
    finally:
        if view and view.poll() is None:
            view.send_signal(signal.SIGKILL)
            view.wait()
        if xvfb:
            xvfb.terminate()
            xvfb.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
