#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The DRM/KMS sink in a real guest: a Linux guest boots on QEMU's virtio-gpu
(-device virtio-gpu-pci), runs drm-show (tests/ui/drm/drm-show.c) from the
build tree, which drives the guest's /dev/dri/card0 through vgi's "drm"
sink; the host compares QMP screendumps of the guest's display with the
frames drm-show was given (exact match).

  test-drm-guest.py [--build-dir DIR] [--out DIR]
"""

import argparse
import os
import shutil
import time
import sys

sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')), 'tests', 'guest'))
try:
    import vgiguest as vg  # noqa: E402
except ImportError as e:
    print('SKIP: the guest harness tests/guest/vgiguest.py is missing (%s)' % e)
    sys.exit(77)


def frame(w, h, seed, overlays=(), cursor=None):
    """pattern seed over w x h, with (rect, seed) overlays and a cursor top-left (x, y)."""
    img = vg.pattern_image(w, h, seed)
    data = bytearray(img.data)
    for (x0, y0, rw, rh), s in overlays:
        for y in range(y0, min(h, y0 + rh)):
            for x in range(x0, min(w, x0 + rw)):
                data[(y * w + x) * 3:(y * w + x) * 3 + 3] = bytes(vg.pattern_rgb(x, y, s))
    if cursor:
        cx, cy = cursor
        for j in range(64):
            for i in range(64):
                r, g, b, a = vg.cursor_rgba(i, j)
                x, y = cx + i, cy + j
                if a == 0xff and 0 <= x < w and 0 <= y < h:
                    data[(y * w + x) * 3:(y * w + x) * 3 + 3] = bytes((r, g, b))
    return vg.Image(w, h, data)


def check(name, got, want, out):
    diff = vg.compare_images(got, want)
    got.save_png(os.path.join(out, name + '-got.png'))
    if diff:
        want.save_png(os.path.join(out, name + '-want.png'))
        raise AssertionError('%s: %s' % (name, diff))
    print('%s: %dx%d matches exactly' % (name, got.width, got.height))


def sanitizer_env():
    """The sanitizer settings of this test (meson's env) for the program in the guest."""
    return {k: os.environ[k] for k in ('ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS') if k in os.environ}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--out')
    args = ap.parse_args()
    build = vg.find_build_dir(args.build_dir)
    if not build:
        raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
    prog = os.path.join(build, 'tests', 'ui', 'drm', 'drm-show')
    if not os.access(prog, os.X_OK):
        raise vg.Skip('drm-show not built at %s' % prog)
    out = args.out or os.path.join(build, 'tests', 'ui', 'drm', 'out-guest')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    # drm-show runs in the background: this script switches VTs for its step 5
    script = ('%s --vt 2>"$VGI_OUT/drm-show.log" &\n'
              'pid=$!\n'
              'vgi_wait vt-away 250 && busybox chvt 2 && vgi_signal vt-away-done\n'
              'vgi_wait vt-back 120 && busybox chvt 1 && vgi_signal vt-back-done\n'
              'wait $pid\n' % prog)
    with vg.Guest(out, script=script, gpu='builtin', timeout=300, name='drm', vnc=True,
                  env=sanitizer_env()) as g:
        g.wait_file('shown1', timeout=240)
        shot = g.screenshot()
        w, h = shot.width, shot.height
        log = g.read('drm-show.log')
        print(log)
        assert 'atomic' in log.split('drm-show: shown1')[0], 'step 1 did not use atomic commits'
        rects = [(10, 20, 64, 64), (300, 200, 100, 50), (w - 50, h - 30, 100, 100)]
        check('step1-damage', shot, frame(w, h, 1, [(r, 2) for r in rects]), out)
        # the hardware cursor reached QEMU (its VNC server forwards the shape)
        for _ in range(20):
            g.vnc.pump(0.5)
            if g.vnc.cursor:
                break
        cur = g.vnc.cursor
        assert cur, 'no hardware cursor reached QEMU (VNC saw none)'
        want_rgba = b''.join(bytes(vg.cursor_rgba(x, y)) for y in range(64) for x in range(64))
        assert (cur['width'], cur['height']) == (64, 64), 'cursor size %dx%d' % (cur['width'], cur['height'])
        got_rgba = cur['rgba']
        bad = sum(1 for i in range(0, 64 * 64 * 4, 4) if got_rgba[i + 3] != want_rgba[i + 3] or
                  (want_rgba[i + 3] and got_rgba[i:i + 3] != want_rgba[i:i + 3]))
        assert bad == 0, '%d cursor pixels differ from the image given' % bad
        kind = 'plane' if 'cursor: plane' in log else 'legacy'
        assert (cur['hot_x'], cur['hot_y']) == (10, 5), 'cursor hot spot %d,%d, expected 10,5 (%s cursor)' % (
            cur['hot_x'], cur['hot_y'], kind)
        print('step1-hw-cursor: QEMU got the 64x64 cursor image and hot spot 10,5 through the %s cursor' % kind)
        g.signal('next1')

        g.wait_file('shown2')
        shot = g.screenshot()
        same = shot.width * shot.height - shot.count_not((0, 0, 0))
        a = frame(w, h, 1, [(r, 2) for r in rects])
        assert vg.compare_images(shot, a), 'step2: the frame is still shown after the sink was destroyed'
        print('step2-restore: the console is back (%d of %d pixels black)' % (same, w * h))
        shot.save_png(os.path.join(out, 'step2-restore-got.png'))
        g.signal('next2')

        g.wait_file('shown3')
        log = g.read('drm-show.log')
        assert 'legacy, cursor: software' in log, 'step 3 did not use legacy flips with a software cursor'
        check('step3-sw-cursor', g.screenshot(), frame(w, h, 1, cursor=(200, 150)), out)
        g.signal('next3')

        g.wait_file('shown4')
        check('step4-cursor-moved', g.screenshot(),
              frame(w, h, 1, [((190, 140, 40, 40), 2)], cursor=(500, 300)), out)
        g.signal('next4')

        g.wait_file('shown5')
        log = g.read('drm-show.log')
        assert 'VT switching' in log, 'step 5 did not take the VT'
        check('step5-vt-own', g.screenshot(), frame(w, h, 1), out)
        g.signal('vt-away')
        g.wait_file('updated-away')
        time.sleep(1.0)
        shot = g.screenshot()
        shot.save_png(os.path.join(out, 'step5-vt-away-got.png'))
        assert vg.compare_images(shot, frame(w, h, 1)), 'step5: still our frame after switching to tty2'
        assert 'VT released' in g.read('drm-show.log'), 'step5: the VT release was not handled'
        print('step5-vt-away: tty2 is shown, the sink released the VT')
        g.signal('vt-back')
        g.wait_file('vt-back-done')
        time.sleep(1.5)
        check('step5-vt-back', g.screenshot(), frame(w, h, 1, [((100, 100, 200, 120), 2)]), out)
        g.signal('next6')
        rc = g.wait(timeout=60)
        log = g.read('drm-show.log')
        print(log[log.find('drm-show: shown4'):])
        assert rc == 0, 'drm-show exited %d (error checks failed?)' % rc
    print('PASS')


if __name__ == '__main__':
    try:
        main()
    except vg.Skip as e:
        print('SKIP: %s' % e)
        sys.exit(77)
