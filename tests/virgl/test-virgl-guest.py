#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Headless GL in a real guest through vgi-gpu --virgl (issue 4): QEMU 10
(TCG, no GPU, no X) with vhost-user-gpu-pci, vgi-gpu on surfaceless EGL
(llvmpipe), the guest's Mesa virgl driver from the host's userland (9p).

  test-virgl-guest.py --check eglinfo|kmscube|scene

eglinfo: the guest's GL renderer is virgl.
kmscube: `kmscube -c N` completes.
scene:   tests/virgl/gl-scene renders through virgl and page-flips; QEMU's
         screendump (pixels vgi-gpu read back and sent as UPDATE messages)
         matches tests/virgl/gl-scene-ref.png within the tolerance below,
         and so does vgi-gpu's own headless PNG.
"""

import argparse
import os
import re
import shlex
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'guest'))
import vgiguest as vg  # noqa: E402

# Tolerance of the screenshot against the reference (made on the host's
# llvmpipe directly): a pixel "differs" when any channel is off by more
# than CHANNEL_TOL; at most MAX_DIFF_FRACTION of the pixels may differ
# (triangle edges), and the mean absolute channel error must stay under
# MAX_MEAN_ERR.
CHANNEL_TOL = 8
MAX_DIFF_FRACTION = 0.005
MAX_MEAN_ERR = 1.0


def compare(got, want):
    """(ok, description)"""
    if (got.width, got.height) != (want.width, want.height):
        return False, 'size %dx%d, reference %dx%d' % (got.width, got.height, want.width, want.height)
    a, b = got.data, want.data
    n = got.width * got.height
    diff = 0
    total = 0
    worst = 0
    for i in range(0, len(a), 3):
        d = max(abs(a[i] - b[i]), abs(a[i + 1] - b[i + 1]), abs(a[i + 2] - b[i + 2]))
        total += abs(a[i] - b[i]) + abs(a[i + 1] - b[i + 1]) + abs(a[i + 2] - b[i + 2])
        if d > CHANNEL_TOL:
            diff += 1
        if d > worst:
            worst = d
    frac = diff / n
    mean = total / (3.0 * n)
    desc = ('%d of %d pixels differ by more than %d (%.4f%%, limit %.2f%%), mean channel error %.3f '
            '(limit %.1f), worst %d' % (diff, n, CHANNEL_TOL, 100 * frac, 100 * MAX_DIFF_FRACTION, mean,
                                        MAX_MEAN_ERR, worst))
    return frac <= MAX_DIFF_FRACTION and mean <= MAX_MEAN_ERR, desc


class Ctx:
    def __init__(self, args):
        self.args = args
        self.build = vg.find_build_dir(args.build_dir)
        if not self.build:
            raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
        self.out = args.out or os.path.join(self.build, 'tests', 'virgl', 'out', args.check)
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        os.makedirs(self.out)
        self.headless = os.path.join(self.out, 'headless')
        os.makedirs(self.headless)

    def guest(self, script):
        backend = vg.gpu_backend_argv('vgi', self.build, ['--virgl', '--display', 'qemu', '--display',
                                                          'headless,dir=%s' % self.headless])
        return vg.Guest(os.path.join(self.out, 'guest'), script, gpu='vhost-user', gpu_backend=backend,
                        build_dir=self.build, timeout=self.args.timeout, name='virgl-' + self.args.check)


def finish(g):
    rc = g.wait()
    if rc == 3:
        raise vg.Skip('the host lacks a guest tool: %s' % g.tail(g.console_log, 300).strip().splitlines()[-3:])
    assert rc == 0, 'guest script failed (%d); console:\n%s' % (rc, g.tail(g.console_log, 4000))


def check_virgl_negotiated(g):
    dmesg = g.read('dmesg.txt')
    feats = ' '.join(re.findall(r'\[drm\] features: (.*)', dmesg)).split()
    assert '+virgl' in feats, 'virgl not negotiated: %s' % feats
    print('guest driver features: %s' % ' '.join(feats))


def check_eglinfo(c):
    """eglinfo (mesa-utils 8.5 prints EGL, not GL, strings) on the guest's GBM
    platform names Mesa's virgl driver (virtio_gpu); a GLES context there
    reports the virgl renderer (es2 info from kmscube's banner: kmscube -c 1)."""
    script = r'''
command -v eglinfo >/dev/null || { echo "no eglinfo (mesa-utils)"; exit 3; }
command -v kmscube >/dev/null || { echo "no kmscube"; exit 3; }
eglinfo -p gbm > "$VGI_OUT/eglinfo.txt" 2>&1
grep -E 'EGL (vendor|version|driver name)' "$VGI_OUT/eglinfo.txt"
timeout 120 kmscube -c 1 > "$VGI_OUT/kmscube1.txt" 2>&1
grep -E 'renderer' "$VGI_OUT/kmscube1.txt"
'''
    with c.guest(script) as g:
        finish(g)
    check_virgl_negotiated(g)
    txt = g.read('eglinfo.txt')
    drv = re.findall(r'EGL driver name: (.*)', txt)
    print('guest eglinfo (GBM platform) EGL driver: %s' % drv)
    assert 'virtio_gpu' in drv, 'eglinfo on GBM does not name the virgl (virtio_gpu) driver:\n' + txt[-3000:]
    k = g.read('kmscube1.txt')
    r = re.findall(r'renderer: *"?([^"\n]*)', k)
    print('guest GL renderer: %s' % r)
    assert any(x.startswith('virgl') for x in r), 'GL renderer is not virgl:\n' + k[-2000:]


def check_kmscube(c):
    n = c.args.frames
    script = r'''
command -v kmscube >/dev/null || { echo "no kmscube"; exit 3; }
timeout 300 kmscube -c %d > "$VGI_OUT/kmscube.txt" 2>&1
rc=$?; tail -3 "$VGI_OUT/kmscube.txt"; exit $rc
''' % n
    with c.guest(script) as g:
        finish(g)
    check_virgl_negotiated(g)
    out = g.read('kmscube.txt')
    ms = list(re.finditer(r'Rendered (\d+) frames in ([\d.]+) sec \(([\d.]+) fps\)', out))
    assert ms, 'kmscube printed no summary:\n' + out[-2000:]
    m = ms[-1]
    assert int(m.group(1)) >= n - 1, 'kmscube stopped after %s of %d frames' % (m.group(1), n)
    print('kmscube -c %d: %s frames in %s s (%s fps)' % (n, m.group(1), m.group(2), m.group(3)))


def check_scene(c):
    prog = os.path.join(c.build, 'tests', 'virgl', 'gl-scene')
    if not os.access(prog, os.X_OK):
        raise vg.Skip('gl-scene not built (needs EGL, GLESv2, GBM development files)')
    ref_path = os.path.join(HERE, 'gl-scene-ref.png')
    want = vg.read_png(ref_path)
    script = r'''
%s --kms --signal "$VGI_OUT/shown" --wait "$VGI_OUT/checked" > "$VGI_OUT/scene.txt" 2>&1
rc=$?; cat "$VGI_OUT/scene.txt"; exit $rc
''' % shlex.quote(prog)
    with c.guest(script) as g:
        g.wait_file('shown')
        out = g.read('scene.txt')
        print(out.strip())
        assert re.search(r'GL_RENDERER virgl', out), 'gl-scene did not render through virgl:\n' + out
        # The flip is done; pixels reach QEMU as soon as vgi-gpu has read them back.
        deadline = time.monotonic() + 20
        while True:
            got = g.screenshot()
            ok, desc = compare(got, want)
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        got.save_png(os.path.join(c.out, 'screendump.png'))
        # vgi-gpu's headless sink wrote the same frame after the flush
        png = os.path.join(c.headless, 'scanout0.png')
        hok, hdesc = False, 'no %s' % png
        if os.path.exists(png):
            shutil.copy(png, os.path.join(c.out, 'headless-scene.png'))
            hok, hdesc = compare(vg.read_png(os.path.join(c.out, 'headless-scene.png')), want)
        g.signal('checked')
        finish(g)
    print('QMP screendump vs %s: %s' % (os.path.relpath(ref_path), desc))
    assert ok, 'screendump (%s) does not match the reference: %s' % (os.path.join(c.out, 'screendump.png'),
                                                                     desc)
    print('vgi-gpu headless PNG vs reference: %s' % hdesc)
    assert hok, 'headless PNG does not match the reference: %s' % hdesc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check', choices=['eglinfo', 'kmscube', 'scene'], required=True)
    ap.add_argument('--build-dir')
    ap.add_argument('--out')
    ap.add_argument('--frames', type=int, default=60)
    ap.add_argument('--timeout', type=float, default=300)
    args = ap.parse_args()

    def run():
        c = Ctx(args)
        {'eglinfo': check_eglinfo, 'kmscube': check_kmscube, 'scene': check_scene}[args.check](c)
        return 0
    vg.test_main(run)


if __name__ == '__main__':
    main()
