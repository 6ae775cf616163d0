#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real-guest soak of vgi-gpu (issue 11): one vgi-gpu --keep-listening --virgl
serves a guest that QEMU resets again and again while it renders, then a
series of QEMUs that are killed and replaced.

Reset phase (one QEMU, guest reboots allowed): every boot the guest shows
kms-pattern's pattern (checked pixel for pixel through QMP screendump, then
QMP stop, a screendump while stopped, cont, and the pattern again), then
renders (virgl kmscube on even boots, kms-pattern's 2D damage loop on odd
boots) until QMP system_reset (after one more stop/cont) reboots it. After
each reset the guest must come back and show exactly its pattern; vgi-gpu's
RSS (VmRSS) and open fds are printed per reset. Assertion: RSS grows by at
most 10% between the 2nd and the last reset.

Reconnect phase: a new QEMU connects to the same vgi-gpu, its guest shows
the pattern (exact), QEMU is SIGKILLed; once vgi-gpu says it waits for the
next connection, its RSS and fd count are printed. Assertion: from the
baseline cycle (after the first few, caches settled) to the last, the fd
count is equal and RSS within 5%.

Sizes: VGI_SOAK=1 runs the full soak (8 resets, 50 reconnects); the default
is the CI form (3 resets, 4 reconnects). --resets/--reconnects override.
vgi-gpu runs with VGI_DEBUG=1; the vhost-user messages QEMU sends on stop,
cont and system_reset are printed (first reset) from its log.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgiguest as vg  # noqa: E402

WAIT = 240          # seconds for any single guest step (a busy 2-core machine under TCG)
MSG_RE = re.compile(r'vhost-user: (\w+) \((\d+)\) size')


def proc_figures(pid):
    """(VmRSS kB, open fd count) of a running process."""
    rss = None
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return rss, len(os.listdir('/proc/%d/fd' % pid))


class Soak:
    def __init__(self, args):
        self.args = args
        self.build = vg.find_build_dir(args.build_dir)
        if not self.build:
            raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
        self.kms = os.path.join(self.build, 'tests', 'guest', 'kms-pattern')
        if not os.access(self.kms, os.X_OK):
            raise vg.Skip('kms-pattern not built at %s' % self.kms)
        if not shutil.which('kmscube') or not shutil.which('stdbuf'):
            raise vg.Skip('kmscube or stdbuf missing on the host (the guest runs the host\'s userland)')
        self.out = args.out or os.path.join(self.build, 'tests', 'guest', 'out', 'soak')
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        os.makedirs(self.out)
        self.errors = []
        self.gpu = None
        self.rundir = None

    # -- vgi-gpu ---------------------------------------------------------
    def start_gpu(self):
        import tempfile
        self.rundir = tempfile.mkdtemp(prefix='vgisoak-')
        self.sock = os.path.join(self.rundir, 'gpu')
        self.gpu_log = os.path.join(self.out, 'vgi-gpu.log')
        argv = vg.gpu_backend_argv('vgi', self.build, ['--keep-listening', '--virgl'])
        self.gpu = vg.Backend(argv, 'vgi-gpu', self.sock, self.gpu_log, env=dict(os.environ, VGI_DEBUG='1'))
        self.gpu.wait_socket(60)

    def gpu_alive(self, what):
        if self.gpu.poll() is not None:
            raise AssertionError('vgi-gpu exited (%s) while %s; its log:\n%s' % (
                self.gpu.popen.returncode, what, vg.Guest.tail(self.gpu_log, 3000)))

    def log_size(self):
        return os.path.getsize(self.gpu_log)

    def log_since(self, off):
        with open(self.gpu_log, 'rb') as f:
            f.seek(off)
            return f.read().decode(errors='replace')

    def messages_since(self, off):
        return [m.group(1) for m in MSG_RE.finditer(self.log_since(off))]

    def wait_gpu_log(self, pattern, count, what):
        """Wait until vgi-gpu's log has count matches of pattern."""
        end = time.monotonic() + WAIT
        while True:
            with open(self.gpu_log, errors='replace') as f:
                n = len(re.findall(pattern, f.read()))
            if n >= count:
                return
            self.gpu_alive('waiting for %s' % what)
            if time.monotonic() > end:
                raise AssertionError('timeout (%d s) waiting for %s (vgi-gpu log: %d of %d "%s")' % (
                    WAIT, what, n, count, pattern))
            time.sleep(0.1)

    # -- screen checks -----------------------------------------------------
    def pattern_shown(self, g, name, timeout=60):
        """Poll QMP screendump until it equals kms-pattern's pattern; returns
        None or a description of what was seen (screendump kept as NAME.png)."""
        out = g.read(name + '.kms.txt') if os.path.exists(os.path.join(g.out_dir, name + '.kms.txt')) else ''
        m = re.search(r'^mode (\d+)x(\d+) ', out, re.M)
        w, h = (int(m.group(1)), int(m.group(2))) if m else (1280, 800)
        want = vg.pattern_image(w, h)
        end = time.monotonic() + timeout
        while True:
            try:
                img = g.screenshot()
                diff = vg.compare_images(img, want)
            except (vg.QMPError, ValueError, OSError) as e:
                img, diff = None, 'screendump failed: %s' % e
            if diff is None:
                return None
            if time.monotonic() > end:
                path = os.path.join(self.out, name + '.png')
                if img is not None:
                    img.save_png(path)
                return '%s (after %d s; screendump %s)' % (diff, timeout, path)
            time.sleep(0.25)

    # -- reset phase -------------------------------------------------------
    RESET_SCRIPT = r'''
n=0; while [ -e "$VGI_OUT/boot.$n" ]; do n=$((n+1)); done
vgi_signal boot.$n
KMS=%(kms)s
# the pattern, checked by the host (kms-pattern keeps the mode until checked.N)
$KMS --signal "$VGI_OUT/drawn.$n" --wait "$VGI_OUT/checked.$n" --wait-timeout 900 \
  > "$VGI_OUT/boot.$n.kms.txt" 2>&1 || { cat "$VGI_OUT/boot.$n.kms.txt"; exit 1; }
# then render until the host resets the guest: 3D on even boots, 2D damage on odd ones
if [ $((n %% 2)) = 0 ]; then
  # kmscube stops at the first byte on stdin ("user interrupted!"): give it a silent pipe
  sleep 100000 | stdbuf -oL kmscube > "$VGI_OUT/render.$n.txt" 2>&1 &
  what=Rendered
else
  stdbuf -oL $KMS --bench rects 10000000 > "$VGI_OUT/render.$n.txt" 2>&1 &
  what=mode
fi
pid=$!
t=0
until grep -q "$what" "$VGI_OUT/render.$n.txt"; do
  kill -0 $pid 2>/dev/null || { echo "renderer died:"; cat "$VGI_OUT/render.$n.txt"; exit 1; }
  t=$((t+1)); [ $t -gt 3000 ] && { echo "renderer never started"; exit 1; }
  sleep 0.1
done
vgi_signal rendering.$n
wait $pid
echo "renderer ended:"; cat "$VGI_OUT/render.$n.txt"; exit 1
'''

    def qmp_seq(self, g, cmd, wait_for=None):
        """Run a QMP command and return the vhost-user messages vgi-gpu logged
        for it (until wait_for() is true, or until the log is quiet for a while
        after the command returned: stop/cont act synchronously)."""
        off = self.log_size()
        g.qmp.command(cmd, timeout=WAIT)
        if wait_for:
            wait_for()
        else:
            # the messages QEMU sends for stop/cont are sent before the command returns;
            # wait for the log to stop growing to catch the back-end's last lines
            last, quiet = -1, 0
            end = time.monotonic() + 30
            while quiet < 5 and time.monotonic() < end:
                s = self.log_size()
                quiet = quiet + 1 if s == last else 0
                last = s
                time.sleep(0.1)
        return self.messages_since(off)

    def reset_phase(self, resets):
        script = self.RESET_SCRIPT % {'kms': shlex.quote(self.kms)}
        figures = {}
        seqs = {}
        g = vg.Guest(os.path.join(self.out, 'reset-guest'), script, gpu='vhost-user', gpu_socket=self.sock,
                     build_dir=self.build, timeout=WAIT, name='soak-reset', reboot=True)
        with g:
            for n in range(resets + 1):
                t0 = time.monotonic()
                g.wait_file('drawn.%d' % n, timeout=WAIT)
                self.gpu_alive('boot %d' % n)
                d = self.pattern_shown(g, 'boot.%d' % n)
                if d:
                    self.errors.append('boot %d (after %d resets): pattern not exact: %s' % (n, n, d))
                if n > 0:
                    rss, fds = proc_figures(self.gpu.pid)
                    figures[n] = (rss, fds)
                    print('reset %d: guest back with %s in %.1f s; vgi-gpu RSS %d kB, %d fds' % (
                        n, 'its exact pattern' if not d else 'a WRONG picture', time.monotonic() - t0,
                        rss, fds), flush=True)
                if n == resets:
                    break
                # stop/cont while the pattern is shown
                seqs.setdefault('stop (pattern shown)', self.qmp_seq(g, 'stop'))
                d = self.pattern_shown(g, 'boot.%d.stopped' % n, timeout=10)
                if d:
                    self.errors.append('boot %d: while stopped the screendump is not the pattern: %s' % (n, d))
                seqs.setdefault('cont (pattern shown)', self.qmp_seq(g, 'cont'))
                d = self.pattern_shown(g, 'boot.%d.cont' % n)
                if d:
                    self.errors.append('boot %d: after cont the pattern is not exact: %s' % (n, d))
                g.signal('checked.%d' % n)
                # render, stop/cont while rendering, then reset while rendering
                g.wait_file('rendering.%d' % n, timeout=WAIT)
                kind = 'kmscube (virgl)' if n % 2 == 0 else 'kms-pattern 2D damage'
                seqs.setdefault('stop (%s)' % kind, self.qmp_seq(g, 'stop'))
                seqs.setdefault('cont (%s)' % kind, self.qmp_seq(g, 'cont'))
                self.gpu_alive('rendering on boot %d' % n)
                seqs.setdefault('system_reset (%s)' % kind, self.qmp_seq(
                    g, 'system_reset', lambda: g.wait_file('boot.%d' % (n + 1), timeout=WAIT)))
        print('vhost-user messages from QEMU (vgi-gpu log, VGI_DEBUG=1):')
        for k, v in seqs.items():
            print('  %s: %s' % (k, ' '.join(v) or '(none)'))
        if resets >= 2:
            last = max(figures)
            base = figures[2][0]
            grow = (figures[last][0] - base) * 100.0 / base
            print('RSS from reset 2 to reset %d: %d -> %d kB (%+.1f%%, limit +10%%); fds %d -> %d' % (
                last, base, figures[last][0], grow, figures[2][1], figures[last][1]))
            if grow > 10.0:
                self.errors.append('vgi-gpu RSS grew %.1f%% between reset 2 and reset %d (%d -> %d kB)' % (
                    grow, last, base, figures[last][0]))
        return figures

    # -- reconnect phase ---------------------------------------------------
    RECONNECT_SCRIPT = r'''
%s --signal "$VGI_OUT/drawn" --wait "$VGI_OUT/never" --wait-timeout 900 > "$VGI_OUT/kms.txt" 2>&1
cat "$VGI_OUT/kms.txt"; exit 1
'''

    def reconnect_phase(self, cycles):
        script = self.RECONNECT_SCRIPT % shlex.quote(self.kms)
        waits = len(re.findall('waiting for the next connection', open(self.gpu_log, errors='replace').read()))
        figures = {}
        for c in range(1, cycles + 1):
            t0 = time.monotonic()
            g = vg.Guest(os.path.join(self.out, 'reconnect-guest'), script, gpu='vhost-user', gpu_socket=self.sock,
                         build_dir=self.build, timeout=WAIT, name='soak-reconnect')
            with g:
                g.wait_file('drawn', timeout=WAIT)
                d = self.pattern_shown(g, 'kms')
                if d:
                    self.errors.append('reconnect %d: pattern not exact: %s' % (c, d))
                os.killpg(g.qemu.pid, signal.SIGKILL)
                g.qemu.wait(30)
            waits += 1
            self.wait_gpu_log('waiting for the next connection', waits,
                              'vgi-gpu to notice that QEMU %d died and listen again' % c)
            rss, fds = proc_figures(self.gpu.pid)
            figures[c] = (rss, fds)
            print('reconnect %d: pattern %s, QEMU killed; vgi-gpu RSS %d kB, %d fds (%.1f s)' % (
                c, 'exact' if not d else 'WRONG', rss, fds, time.monotonic() - t0), flush=True)
        base_c = min(5, max(1, cycles // 2))
        if cycles > base_c:
            (r0, f0), (r1, f1) = figures[base_c], figures[cycles]
            drift = (r1 - r0) * 100.0 / r0
            print('reconnects %d -> %d: RSS %d -> %d kB (%+.1f%%, limit 5%%), fds %d -> %d' % (
                base_c, cycles, r0, r1, drift, f0, f1))
            if f1 != f0:
                self.errors.append('vgi-gpu fd count changed from %d (reconnect %d) to %d (reconnect %d)' % (
                    f0, base_c, f1, cycles))
            if abs(drift) > 5.0:
                self.errors.append('vgi-gpu RSS changed %.1f%% from reconnect %d to %d (%d -> %d kB)' % (
                    drift, base_c, cycles, r0, r1))
        return figures

    def run(self):
        t0 = time.monotonic()
        self.start_gpu()
        try:
            rss, fds = proc_figures(self.gpu.pid)
            print('vgi-gpu started: RSS %d kB, %d fds' % (rss, fds))
            try:
                self.reset_phase(self.args.resets)
            except (vg.GuestError, vg.QMPError, AssertionError) as e:
                self.errors.append('reset phase: %s' % e)
            self.gpu_alive('between the phases')
            try:
                self.reconnect_phase(self.args.reconnects)
            except (vg.GuestError, vg.QMPError, AssertionError) as e:
                self.errors.append('reconnect phase: %s' % e)
            self.gpu_alive('at the end')
        finally:
            rc = self.gpu.stop(10)
            shutil.rmtree(self.rundir, ignore_errors=True)
        log = open(self.gpu_log, errors='replace').read()
        m = vg.Guest.SANITIZER_RE.search(log)
        if m:
            self.errors.append('vgi-gpu log has a sanitizer report: %s' % log[max(0, m.start() - 200):m.start() + 1500])
        if rc != 0:
            self.errors.append('vgi-gpu exited with %s on SIGTERM' % rc)
        print('soak: %d resets, %d reconnects in %.0f s; vgi-gpu log %s' % (
            self.args.resets, self.args.reconnects, time.monotonic() - t0, self.gpu_log))
        assert not self.errors, '\n'.join(self.errors)


def main():
    full = os.environ.get('VGI_SOAK', '0') not in ('', '0')
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--out')
    ap.add_argument('--resets', type=int, default=8 if full else 3)
    ap.add_argument('--reconnects', type=int, default=50 if full else 4)
    args = ap.parse_args()

    def run():
        vg.check_qemu()
        s = Soak(args)
        if not vg.vgi_gpu_path(s.build):
            raise AssertionError('vgi-gpu not built in %s' % s.build)
        s.run()
    vg.test_main(run)


if __name__ == '__main__':
    main()
