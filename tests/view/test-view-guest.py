#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-view in a real guest on vgi-gpu: a Linux guest boots with vgi-gpu as
its GPU (vhost-user-gpu-pci) and a vhost-user-input-pci keyboard served by
vgi-input, which replays tests/view/data/key-j.evemu (one press of J) each
time it gets SIGUSR1. In the guest, vgi-view (this build tree, over 9p) shows
a photo-like image and a PDF on /dev/dri/card0 through the DRM display, with
the keyboard grabbed through vgi's evdev layer (vt=/dev/tty1: VT switching).
The host's QMP screendumps must equal, pixel for pixel, what the same
vgi-view draws on the headless output at the guest's resolution, and match
the references tests/view/ref/guest-*.png (mean channel difference <= 0.5).

Steps: the image; J -> the PDF's page 1; J -> page 2; chvt 2 (keyboard
released, J then goes to the console, the page stays); chvt 1 (grabbed
again, page 2 shown again); J -> page 3.

  test-view-guest.py [--build-dir DIR] [--out DIR]   (VGI_VIEW_UPDATE=1 rewrites the references)
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

SRC = os.environ.get('VGI_SOURCE_ROOT', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, os.path.join(SRC, 'tests', 'guest'))
try:
    import vgiguest as vg  # noqa: E402
except ImportError as e:
    print('SKIP: the guest harness tests/guest/vgiguest.py is missing (%s)' % e)
    sys.exit(77)


def wait_frames(g, n, timeout=120):
    """Wait until the guest's vgi-view logged n frames; return the log lines."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lines = [l for l in g.read('frames.log').splitlines() if l.startswith('frame ')]
        except OSError:
            lines = []
        if len(lines) >= n:
            return lines
        g._check_alive('waiting for vgi-view frame %d' % (n - 1))
        if time.monotonic() > deadline:
            raise vg.GuestError('vgi-view showed %d frames, not %d; its log:\n%s' % (
                len(lines), n, g.tail(os.path.join(g.out_dir, 'view.log'))))
        time.sleep(0.2)


def wait_log(g, text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in g.tail(os.path.join(g.out_dir, 'view.log'), 100000):
        g._check_alive('waiting for "%s" from vgi-view' % text)
        if time.monotonic() > deadline:
            raise vg.GuestError('vgi-view did not log "%s"; its log:\n%s' % (
                text, g.tail(os.path.join(g.out_dir, 'view.log'))))
        time.sleep(0.2)


def headless_frames(viewer, size, files, keys, out):
    """What vgi-view draws on the headless output: {frame number: Image}."""
    d = os.path.join(out, 'headless')
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([viewer, '--display', 'headless,dir=' + d, '--size', size, '--keys', keys] + files,
                   check=True, stdin=subprocess.DEVNULL, timeout=120)
    frames = {}
    for name in sorted(os.listdir(d)):
        if name.startswith('scanout0-'):
            frames[int(name[len('scanout0-'):-4])] = vg.read_image(os.path.join(d, name))
    return frames


def mean_diff(a, b):
    if (a.width, a.height) != (b.width, b.height):
        return 255.0
    return sum(abs(x - y) for x, y in zip(a.data, b.data)) / len(a.data)


def check(name, shot, want, out):
    shot.save_png(os.path.join(out, name + '-got.png'))
    diff = vg.compare_images(shot, want)
    if diff:
        want.save_png(os.path.join(out, name + '-want.png'))
        raise AssertionError('%s: the screendump differs from the headless frame: %s' % (name, diff))
    ref = os.path.join(SRC, 'tests', 'view', 'ref', 'guest-%s.png' % name)
    if os.environ.get('VGI_VIEW_UPDATE'):
        shot.save_png(ref)
        print('wrote %s' % ref)
    m = mean_diff(shot, vg.read_image(ref))
    assert m <= 0.5, '%s: differs from %s (mean channel difference %.3f)' % (name, ref, m)
    print('%s: %dx%d screendump equals the headless frame; reference mean difference %.4f' % (
        name, shot.width, shot.height, m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--out')
    args = ap.parse_args()
    build = vg.find_build_dir(args.build_dir)
    if not build:
        raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
    vg.check_qemu()
    viewer = os.path.join(build, 'tools', 'vgi-view', 'vgi-view')
    mkfiles = os.path.join(build, 'tests', 'view', 'view-mkfiles')
    vi = os.path.join(build, 'tools', 'vgi-input', 'vgi-input')
    for p in (viewer, mkfiles, vi):
        if not os.access(p, os.X_OK):
            raise vg.Skip('%s is not built' % p)
    out = args.out or os.path.join(build, 'tests', 'view', 'out-guest')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    files_dir = os.path.join(out, 'guest', 'files')
    subprocess.run([mkfiles, files_dir, '3'], check=True, timeout=60)
    rec = os.path.join(SRC, 'tests', 'view', 'data', 'key-j.evemu')
    devices = [{'name': 'kbd', 'device': 'vhost-user-input-pci',
                'backend': [vi, '--replay', rec, '--replay-wait', '--output', 'vhost-user',
                            '--socket-path={socket}']}]
    files = ['photo.png', 'doc.pdf']
    script = r'''
F=$VGI_OUT/files
%(viewer)s --display drm,card=/dev/dri/card0,vt=/dev/tty1 --frames-log $VGI_OUT/frames.log --stats \
    $F/photo.png $F/doc.pdf 2>$VGI_OUT/view.log &
pid=$!
vgi_wait vt-away 250 && busybox chvt 2 && vgi_signal vt-away-done
vgi_wait vt-back 120 && busybox chvt 1 && vgi_signal vt-back-done
vgi_wait done 120
kill $pid
wait $pid
rc=$?
echo "vgi-view exit status $rc"
exit $rc
''' % {'viewer': viewer}
    gpu = vg.gpu_backend_argv('vgi', build)
    with vg.Guest(os.path.join(out, 'guest'), script, gpu='vhost-user', gpu_backend=gpu, devices=devices,
                  build_dir=build, timeout=400, name='view') as g:
        kbd = g.backends['kbd'].pid
        lines = wait_frames(g, 1, timeout=300)
        log = g.read('view.log')
        print(log)
        assert 'vgi view keyboard' in log or '/dev/input/event' in log, 'no keyboard opened through evdev'
        shot = g.screenshot()
        size = '%dx%d' % (shot.width, shot.height)
        want = headless_frames(viewer, size, [os.path.join(files_dir, f) for f in files], 'j j j q', out)
        assert len(want) == 4, 'the headless run showed %d frames, not 4' % len(want)
        check('image', shot, want[0], out)

        # page turns: one J press per SIGUSR1, replayed into the guest by vgi-input
        for n, name in ((1, 'pdf-page1'), (2, 'pdf-page2')):
            os.kill(kbd, signal.SIGUSR1)
            lines = wait_frames(g, n + 1)
            print(lines[-1])
            time.sleep(0.3)
            check(name, g.screenshot(), want[n], out)

        # VT switch: the keyboard is released, a J press goes to the console, not to vgi-view
        g.signal('vt-away')
        g.wait_file('vt-away-done')
        wait_log(g, 'switched away: keyboard released')
        os.kill(kbd, signal.SIGUSR1)
        time.sleep(2.0)
        n_away = len(wait_frames(g, 3))
        assert n_away == 3, 'a key turned the page while another VT was shown'
        print('VT 2: keyboard released, the J press did not reach vgi-view')
        g.signal('vt-back')
        g.wait_file('vt-back-done')
        wait_log(g, 'VT back: keyboard grabbed')
        wait_frames(g, 4)
        time.sleep(0.5)
        check('pdf-page2-vt-back', g.screenshot(), want[2], out)
        os.kill(kbd, signal.SIGUSR1)
        wait_frames(g, 5)
        time.sleep(0.3)
        check('pdf-page3', g.screenshot(), want[3], out)
        g.signal('done')
        rc = g.wait(timeout=60)
        log = g.read('view.log')
        print(log[-1500:])
        assert rc == 0, 'vgi-view in the guest exited %d' % rc
    print('PASS')


if __name__ == '__main__':
    vg.test_main(main)
