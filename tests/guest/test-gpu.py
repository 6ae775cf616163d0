#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest-boot GPU tests (issue 3): a real Linux guest under QEMU 10 (TCG)
with a vhost-user GPU backend: QEMU's reference /usr/lib/qemu/vhost-user-gpu
('reference') or vgi-gpu ('vgi').

  test-gpu.py --backend reference|vgi --check driver|pattern|fbcon|cursor|outputs
"""

import argparse
import glob
import os
import re
import shlex
import shutil
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgiguest as vg  # noqa: E402

BLACK = (0, 0, 0)
zlib_error = zlib.error


def poll_until(fn, timeout, interval=0.25):
    """Call fn() until it returns (True, x); returns (ok, last x)."""
    end = time.monotonic() + timeout
    while True:
        ok, x = fn()
        if ok or time.monotonic() > end:
            return ok, x
        time.sleep(interval)


class Ctx:
    def __init__(self, args):
        self.args = args
        self.build = vg.find_build_dir(args.build_dir)
        if not self.build:
            raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
        self.kms = os.path.join(self.build, 'tests', 'guest', 'kms-pattern')
        if not os.access(self.kms, os.X_OK):
            raise vg.Skip('kms-pattern not built at %s' % self.kms)
        self.out = args.out or os.path.join(self.build, 'tests', 'guest', 'out',
                                            '%s-%s' % (args.backend, args.check))
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        os.makedirs(self.out)
        self.headless = None

    def backend(self, outputs=1, headless=False):
        extra = []
        if self.args.backend == 'vgi':
            if outputs != 1:
                extra += ['--outputs', str(outputs)]
            if headless:
                self.headless = os.path.join(self.out, 'headless')
                os.makedirs(self.headless, exist_ok=True)
                # --display is repeatable; QEMU's display must stay on for QMP screendump.
                extra += ['--display', 'qemu', '--display', 'headless,dir=%s' % self.headless]
        return vg.gpu_backend_argv(self.args.backend, self.build, extra)

    def guest(self, script, outputs=1, **kw):
        props = {'max_outputs': outputs} if outputs != 1 else {}
        return vg.Guest(os.path.join(self.out, 'guest'), script, gpu='vhost-user',
                        gpu_backend=self.backend(outputs, kw.pop('headless', False)), gpu_props=props,
                        build_dir=self.build, timeout=self.args.timeout, name=self.args.check, **kw)


def finish(g, t0):
    rc = g.wait(60)
    dt = time.monotonic() - t0
    print('guest script exit status %d; total %.1f s (boot to first signal %.1f s)' % (
        rc, dt, g.boot_s or -1))
    assert rc == 0, 'guest script failed (%d); console:\n%s' % (rc, g.tail(g.console_log, 4000))


def check_driver(c):
    """(a) virtio_gpu initializes; features and scanout count in dmesg;
    QEMU (QMP query-pci) has the virtio-gpu device."""
    script = r'''
set -e
test -c /dev/dri/card0
for s in /sys/class/drm/card0-*/status; do echo "$s: $(cat $s)"; done
dmesg | grep '\[drm\]'
vgi_signal booted
'''
    t0 = time.monotonic()
    with c.guest(script) as g:
        g.wait_file('booted')
        pci = g.qmp.command('query-pci')
        devs = [d for bus in pci for d in bus['devices']]
        gpus = [d for d in devs if d['id']['vendor'] == 0x1af4 and d['id']['device'] == 0x1050]
        assert gpus, 'QEMU has no virtio-gpu PCI device (1af4:1050): %s' % devs
        finish(g, t0)
    dmesg = g.read('dmesg.txt')
    feats = re.findall(r'\[drm\] features: (.*)', dmesg)
    scanouts = re.findall(r'\[drm\] number of scanouts: (\d+)', dmesg)
    print('features: %s; scanouts: %s' % (' '.join(feats), scanouts))
    assert re.search(r'\[drm\] Initialized virtio_gpu', dmesg), 'virtio_gpu did not initialize:\n' + dmesg
    assert feats, 'no "[drm] features:" line in dmesg'
    flags = ' '.join(feats).split()
    assert '+edid' in flags, 'EDID not negotiated: %s' % flags
    # Both backends run without --virgl: 2D only.
    assert '-virgl' in flags, 'the backend without --virgl negotiated virgl: %s' % flags
    assert scanouts == ['1'], 'number of scanouts %s, expected 1' % scanouts
    status = g.read('console.log')
    assert re.search(r'card0-Virtual-1/status: connected', status), 'connector not connected:\n' + status
    return g


def check_pattern(c):
    """(b) kms-pattern sets a mode, draws the pattern after the mode set and
    sends damage; QMP screendump equals the pattern pixel for pixel."""
    script = r'''
%s --signal "$VGI_OUT/drawn" --wait "$VGI_OUT/checked" > "$VGI_OUT/kms.txt" 2>&1
rc=$?; cat "$VGI_OUT/kms.txt"; exit $rc
''' % shlex.quote(c.kms)
    t0 = time.monotonic()
    with c.guest(script, headless=True) as g:
        g.wait_file('drawn')
        out = g.read('kms.txt')
        m = re.search(r'^mode (\d+)x(\d+) ', out, re.M)
        assert m, 'kms-pattern printed no mode:\n' + out
        w, h = int(m.group(1)), int(m.group(2))
        want = vg.pattern_image(w, h)
        ok, diff = poll_until(lambda: (lambda d: (d is None, d))(vg.compare_images(g.screenshot(), want)), 60)
        g.screenshot().save_png(os.path.join(c.out, 'screendump.png'))
        assert ok, 'QMP screendump does not match the pattern: %s' % diff
        print('screendump %dx%d matches the pattern pixel for pixel' % (w, h))
        if c.headless:
            check_headless_png(c, want)
        g.signal('checked')
        finish(g, t0)
    return g


def check_headless_png(c, want):
    """vgi-gpu --display headless: the latest scanout PNG (while the pattern
    is shown) equals the pattern too."""
    path = os.path.join(c.headless, 'scanout0.png')

    def matches():
        try:
            d = vg.compare_images(vg.read_png(path), want)
        except (OSError, ValueError, zlib_error) as e:
            d = str(e)
        return d is None, d
    ok, d = poll_until(matches, 60, 0.5)
    assert ok, '%s does not match the pattern: %s (files: %s)' % (path, d, sorted(os.listdir(c.headless)))
    print('vgi-gpu headless %s matches the pattern pixel for pixel' % path)


def check_fbcon(c):
    """(c) fbcon text written to tty1 appears in the screendump where the text is."""
    script = r'''
printf '\033[2J\033[H\033[?25l' > /dev/tty1
printf '%0100d\n' 0 | tr 0 '#' > /dev/tty1
vgi_signal text
vgi_wait checked 120
'''
    t0 = time.monotonic()
    with c.guest(script) as g:
        g.wait_file('text')

        def text_visible():
            img = g.screenshot()
            # 8x16 font: the first 100 cells of row 0 each hold a '#'.
            cells = [img.count_not(BLACK, x * 8, 0, 8, 16) for x in range(100)]
            after = img.count_not(BLACK, 800, 0, img.width - 800, 16)
            below = img.count_not(BLACK, 0, 32, img.width, img.height - 32)
            return all(n >= 8 for n in cells) and after == 0 and below == 0, (img, cells, after, below)
        ok, (img, cells, after, below) = poll_until(text_visible, 60)
        img.save_png(os.path.join(c.out, 'screendump.png'))
        assert ok, ('fbcon text not where expected: lit pixels per cell %s; right of the text %d; '
                    'below it %d (screendump in %s)' % (cells, after, below, c.out))
        print('fbcon: 100 "#" cells lit (%d..%d px each), rest of the screen background' % (
            min(cells), max(cells)))
        g.signal('checked')
        finish(g, t0)
    return g


def check_cursor(c):
    """(d) cursor define and move reach QEMU. QEMU cannot display a
    vhost-user-gpu cursor here (every display listener must support DMABUF,
    which needs a render node; QMP screendump leaves cursors out), so a
    GpuTap between QEMU and the backend checks the CURSOR_UPDATE/CURSOR_POS
    messages QEMU receives: image, hotspot, positions. With vgi-gpu the
    headless sink's cursor PNG is checked too."""
    script = r"""
%s --cursor 100,120 --hot 5,7 --move 300,200 --signal "$VGI_OUT/cursor" --wait "$VGI_OUT/checked" \
  > "$VGI_OUT/kms.txt" 2>&1
rc=$?; cat "$VGI_OUT/kms.txt"; exit $rc
""" % shlex.quote(c.kms)
    t0 = time.monotonic()
    want = vg.cursor_image_rgba()
    want_le = bytearray(len(want))          # ARGB8888 words in little-endian: B, G, R, A
    want_le[0::4], want_le[1::4], want_le[2::4], want_le[3::4] = want[2::4], want[1::4], want[0::4], want[3::4]
    errors = []
    with c.guest(script, gpu_tap=True, headless=True) as g:
        g.wait_file('cursor')

        def moved():
            pos = [(m['x'], m['y']) for m in g.tap.find('CURSOR_POS')]
            return (300, 200) in pos, pos
        ok, pos = poll_until(moved, 60)
        ups = g.tap.find('CURSOR_UPDATE')
        print('backend->QEMU: %d CURSOR_UPDATE %s, CURSOR_POS %s, %d CURSOR_POS_HIDE' % (
            len(ups), [(m['scanout'], m['x'], m['y'], m['hot_x'], m['hot_y']) for m in ups if 'hot_x' in m],
            pos, len(g.tap.find('CURSOR_POS_HIDE'))))
        assert g.tap.error is None, 'tap failed: %s' % g.tap.error
        assert ups, 'the backend sent QEMU no CURSOR_UPDATE'
        u = ups[-1]
        assert u['size'] == 12 + 8 + 64 * 64 * 4, 'CURSOR_UPDATE payload %d bytes, expected %d' % (
            u['size'], 12 + 8 + 64 * 64 * 4)
        if (u['scanout'], u['hot_x'], u['hot_y']) != (0, 5, 7):
            errors.append('CURSOR_UPDATE scanout %d hotspot %d,%d, expected 0 and 5,7' % (
                u['scanout'], u['hot_x'], u['hot_y']))
        # kms-pattern defines the cursor (at the CRTC's cursor position, 0,0), then moves it to
        # 100,120 and 300,200. Where QEMU's display learns the pointer is: CURSOR_UPDATE carries
        # a position too (QEMU moves the pointer there), so a define and a move that reach the
        # backend together may go out as one CURSOR_UPDATE at 100,120; the moves must arrive in order.
        with g.tap.lock:
            learned = [(m['x'], m['y']) for m in g.tap.messages if m['dir'] == 'backend->qemu' and
                       m['name'] in ('CURSOR_UPDATE', 'CURSOR_POS') and 'x' in m]
        pairs = list(zip(learned, learned[1:]))
        if not ok or ((100, 120), (300, 200)) not in pairs:
            errors.append('pointer positions sent to QEMU %s (CURSOR_POS %s), expected 100,120 then 300,200'
                          % (learned, pos))
        bad = [i // 4 for i in range(0, len(want), 4) if u['data'][i:i + 4] != want_le[i:i + 4]]
        if bad:
            errors.append('%d of 4096 pixels of the CURSOR_UPDATE QEMU got differ from kms-pattern\'s '
                          'cursor; first (x,y): %s' % (len(bad), '; '.join(
                              '(%d,%d) got %s want %s (BGRA)' % (i % 64, i // 64, u['data'][i * 4:i * 4 + 4].hex(),
                                                                want_le[i * 4:i * 4 + 4].hex()) for i in bad[:3])))
        else:
            print('QEMU got the cursor image (4096 pixels equal), hotspot %d,%d' % (u['hot_x'], u['hot_y']))
        if c.headless:
            errors += check_headless_cursor(c, want)
        g.signal('checked')
        finish(g, t0)
    out = g.read('kms.txt')
    assert 'cursor move 300,200 ok' in out, 'kms-pattern did not move the cursor:\n' + out
    assert not errors, '\n'.join(errors)
    return g


def check_headless_cursor(c, want):
    """vgi-gpu --display headless writes cursor0.png (straight RGBA): alpha
    equal everywhere, colour equal where opaque."""
    path = os.path.join(c.headless, 'cursor0.png')

    def written():
        try:
            return True, vg.read_png(path)
        except (OSError, ValueError, zlib_error) as e:
            return False, e
    ok, img = poll_until(written, 60, 0.5)
    if not ok:
        return ['vgi-gpu --display headless wrote no readable %s (%s; files %s)' % (
            path, img, sorted(os.listdir(c.headless)))]
    if (img.width, img.height) != (64, 64) or img.alpha is None:
        return ['%s is %dx%d%s, expected 64x64 RGBA' % (path, img.width, img.height,
                                                        '' if img.alpha else ' without alpha')]
    bad = []
    for i in range(64 * 64):
        a = want[i * 4 + 3]
        if img.alpha[i] != a or (a and img.data[i * 3:i * 3 + 3] != want[i * 4:i * 4 + 3]):
            bad.append(i)
    if bad:
        i = bad[0]
        return ['%s: %d of 4096 pixels differ; first (%d,%d) got rgb %s a %d, want rgba %s' % (
            path, len(bad), i % 64, i // 64, img.data[i * 3:i * 3 + 3].hex(), img.alpha[i],
            want[i * 4:i * 4 + 4].hex())]
    print('vgi-gpu headless %s equals kms-pattern\'s cursor' % path)
    return []


def check_outputs(c):
    """(e) two outputs: vgi-gpu --outputs 2 (and the device's max_outputs=2:
    QEMU overrides the backend's num_scanouts with it) gives the guest two
    connectors. With QEMU's backend the second one is disconnected (QEMU
    enables only output 0 without a UI; vgi-gpu reports both connected);
    kms-pattern sets a 640x480 mode on it either way and the pattern (seed 1)
    must reach QEMU's second head (QMP screendump head 1)."""
    script = r"""
KMS=%s
$KMS --list > "$VGI_OUT/list.txt" 2>&1 || { cat "$VGI_OUT/list.txt"; exit 1; }
cat "$VGI_OUT/list.txt"
grep -c '^connector ' "$VGI_OUT/list.txt" > "$VGI_OUT/nconn"
$KMS --connector 1 --mode 640x480 --seed 1 --signal "$VGI_OUT/head1" --wait "$VGI_OUT/checked" \
  > "$VGI_OUT/kms.txt" 2>&1
rc=$?; cat "$VGI_OUT/kms.txt"; exit $rc
""" % shlex.quote(c.kms)
    t0 = time.monotonic()
    with c.guest(script, outputs=2) as g:
        g.wait_file('head1')
        n = int(g.read('nconn').strip())
        listing = g.read('list.txt')
        print('guest connectors: %d\n%s' % (n, listing))
        assert n == 2, 'guest sees %d connectors, expected 2' % n
        want = vg.pattern_image(640, 480, 1)

        def head1():
            try:
                d = vg.compare_images(g.screenshot(head=1), want)
            except vg.QMPError as e:
                d = str(e)
            return d is None, d
        ok, d = poll_until(head1, 60)
        assert ok, 'QMP screendump of head 1 does not show the pattern: %s' % d
        print('head 1: 640x480 pattern (seed 1) equals the QMP screendump pixel for pixel')
        g.signal('checked')
        finish(g, t0)
    scanouts = re.findall(r'\[drm\] number of scanouts: (\d+)', g.read('dmesg.txt'))
    assert scanouts == ['2'], 'number of scanouts %s, expected 2' % scanouts
    return g


def check_kill(c):
    """Killing QEMU (SIGKILL) while the guest shows a pattern and moves the
    cursor: the backend notices and exits by itself with a status (no crash,
    no signal, no hang); vgi-gpu also says so in its log."""
    script = r"""
%s --cursor 10,10 --move 20,20 --move 30,30 --signal "$VGI_OUT/drawn" --wait "$VGI_OUT/never" --wait-timeout 100
""" % shlex.quote(c.kms)
    t0 = time.monotonic()
    with c.guest(script) as g:
        g.wait_file('drawn')
        be = g.backends['gpu']
        os.killpg(g.qemu.pid, 9)
        g.qemu.wait(10)
        rc = be.wait(15)
        log = g.tail(be.log_path, 4000)
        print('QEMU killed after %.1f s; backend exit status %s; its log:\n%s' % (
            time.monotonic() - t0, rc, log))
        assert rc is not None, 'the backend did not exit within 15 s of QEMU\'s death'
        assert rc >= 0, 'the backend died of signal %d' % -rc
        if c.args.backend == 'vgi':     # QEMU's own backend leaves silently (status 0)
            assert re.search(r'disconnect|closed', log, re.I), 'vgi-gpu said nothing about the disconnect'


CHECKS = {'driver': check_driver, 'pattern': check_pattern, 'fbcon': check_fbcon,
          'cursor': check_cursor, 'outputs': check_outputs, 'kill': check_kill}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backend', choices=['reference', 'vgi'], required=True)
    ap.add_argument('--check', choices=sorted(CHECKS), required=True)
    ap.add_argument('--build-dir')
    ap.add_argument('--out')
    ap.add_argument('--timeout', type=float, default=240)
    ap.add_argument('--require-vgi', action='store_true', help='fail (not skip) when vgi-gpu is not built')
    args = ap.parse_args()

    def run():
        vg.check_qemu()
        c = Ctx(args)
        if args.backend == 'vgi' and not vg.vgi_gpu_path(c.build):
            msg = 'vgi-gpu not built (%s/tools/vgi-gpu/vgi-gpu missing)' % c.build
            if args.require_vgi:
                raise AssertionError(msg + ' although tools/vgi-gpu is in the tree')
            raise vg.Skip(msg)
        t0 = time.monotonic()
        g = CHECKS[args.check](c)
        if g is not None and args.check != 'kill':
            problems = g.backend_problems()
            if args.backend == 'reference':
                # QEMU's own backend writes to the display socket QEMU just closed and dies of
                # SIGPIPE now and then when QEMU quits (seen 1 run in about 10 under load): its
                # exit is QEMU's to fix, the checks above already compared its output.
                late = [p for p in problems if p.endswith('(signal 13)')]
                for p in late:
                    print('note: reference %s (ignored: QEMU\'s backend, at QEMU\'s exit)' % p)
                problems = [p for p in problems if p not in late]
            assert not problems, 'after the guest: ' + '\n'.join(problems)
        print('PASS %s/%s in %.1f s' % (args.backend, args.check, time.monotonic() - t0))
    vg.test_main(run)


if __name__ == '__main__':
    main()
