#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-gpu's display path against a front-end that plays QEMU (issue 11, items 1 and 7).

Runs the built vgi-gpu (argv[1]) over a real vhost-user socket, with a real
socketpair as QEMU's display socket (tests/vhost-user/vgifrontend.py), and
runs each case in a loop, in 2D mode, with --max-fps 0 and with --virgl:

- box: a full 1280x800 frame reaches the display, then, within the same
  refresh interval, a 100x50 box is changed, transferred and flushed and
  nothing more is sent: the box must arrive.
- rgbx: a resource of format R8G8B8X8_UNORM (134), filled, transferred,
  set as the scanout and flushed must reach the display (after another
  scanout showed other pixels).
- edid: the guest's first GET_EDID comes before the display answered
  vgi-gpu's GET_EDID: the guest gets the display's EDID, not vgi's own.
- stall: the display stops reading (its socket buffer fills) while the guest
  sends 500 commands: they all complete, vgi-gpu's memory stays bounded, and
  when the display reads again it gets the latest frame exactly.

Iterations: VGI_DISPLAY_ITERATIONS (default 20; VGI_SOAK=1: 100).
VGI_DISPLAY_CASES / VGI_DISPLAY_MODES pick cases and modes (comma lists).
A case's failure says what it waited for; nothing here fails on timing.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgifrontend as vf  # noqa: E402

W, H = 1280, 800
STRIDE = W * 4
FB_BYTES = STRIDE * H
BOX_W, BOX_H = 100, 50
VGI_GPU = None
LOGDIR = None
FAILURES = []


def check(cond, what):
    print('%s: %s' % ('ok' if cond else 'FAIL', what), flush=True)
    if not cond:
        FAILURES.append(what)


def mode_args(mode):
    return {'2d': [], 'fps0': ['--max-fps', '0'], 'virgl': ['--virgl'],
            'virgl-fps0': ['--virgl', '--max-fps', '0']}[mode]


def xrgb(i):
    """A colour for iteration i, as guest bytes of a B8G8R8X8 pixel (B, G, R, 0xff)."""
    return bytes(((i * 41 + 7) & 0xff, (i * 73 + 101) & 0xff, (i * 151 + 29) & 0xff, 0xff))


def session(mode, tag, display_kw=None):
    log = os.path.join(LOGDIR, 'vgi-gpu-%s-%s.log' % (tag, mode))
    p, sock = vf.start_vgi_gpu(VGI_GPU, ['--display', 'qemu'] + mode_args(mode), log)
    fe = vf.Frontend(sock, display_kw=display_kw, virgl=mode.startswith('virgl'))
    return p, fe, log


def end(p, fe):
    fe.close()
    rc = vf.stop(p)
    return rc


def log_tail(log, n=5):
    try:
        with open(log) as f:
            return ' | '.join(f.read().strip().split('\n')[-n:])
    except OSError:
        return ''


# ---- box after a full frame ----

def case_box(mode, iterations):
    p, fe, log = session(mode, 'box')
    misses = []
    try:
        fe.setup()
        fb = fe.alloc(FB_BYTES)
        fe.create_2d(1, vf.FORMAT_B8G8R8X8, W, H)
        fe.attach(1, fb, FB_BYTES)
        fe.set_scanout(0, 1, W, H)
        for i in range(iterations):
            full = xrgb(2 * i) * (W * H)
            box = xrgb(2 * i + 1)
            bx, by = (i * 37) % (W - BOX_W), (i * 23) % (H - BOX_H)
            fe.write(fb, full)
            fe.transfer(1, 0, 0, W, H, 0)
            fe.flush(1, 0, 0, W, H)
            # even runs: the box once the display has the full frame; odd runs: at once
            if i % 2 == 0:
                try:
                    fe.display.wait_region(0, 0, 0, W, H, full, 20, 'the full frame of iteration %d' % i)
                except vf.Timeout as e:
                    misses.append('full %d: %s' % (i, e))
                    continue
            # within the same refresh interval: the box, then nothing more
            for r in range(BOX_H):
                fe.write(fb + (by + r) * STRIDE + bx * 4, box * BOX_W)
            fe.transfer(1, bx, by, BOX_W, BOX_H, by * STRIDE + bx * 4)
            fe.flush(1, bx, by, BOX_W, BOX_H)
            try:
                fe.display.wait_region(0, bx, by, BOX_W, BOX_H, box * (BOX_W * BOX_H), 5,
                                       'the %dx%d box at %d,%d of iteration %d' % (BOX_W, BOX_H, bx, by, i))
            except vf.Timeout as e:
                misses.append('box %d: %s' % (i, e))
                continue
            # and the rest of the frame is the full one
            want = bytearray(full)
            for r in range(BOX_H):
                o = (by + r) * STRIDE + bx * 4
                want[o:o + BOX_W * 4] = box * BOX_W
            try:
                fe.display.wait_region(0, 0, 0, W, H, bytes(want), 5, 'the whole frame of iteration %d' % i)
            except vf.Timeout as e:
                misses.append('frame %d: %s' % (i, e))
    finally:
        rc = end(p, fe)
    check(not misses, 'box after a full frame (%s): %d/%d boxes arrived%s' %
          (mode, iterations - len(misses), iterations, '; ' + misses[0] if misses else ''))
    check(rc == 0, 'box (%s): vgi-gpu exits 0 (got %r; %s)' % (mode, rc, log_tail(log)))


# ---- an R8G8B8X8 scanout ----

def case_rgbx(mode, iterations):
    p, fe, log = session(mode, 'rgbx')
    misses = []
    try:
        fe.setup()
        fb_a = fe.alloc(FB_BYTES)
        fb_b = fe.alloc(FB_BYTES)
        for i in range(iterations):
            ra, rb = 2 * i + 1, 2 * i + 2
            # first another scanout (XRGB) with other pixels
            a = xrgb(3 * i)
            fe.create_2d(ra, vf.FORMAT_B8G8R8X8, W, H)
            fe.attach(ra, fb_a, FB_BYTES)
            fe.write(fb_a, a * (W * H))
            fe.transfer(ra, 0, 0, W, H, 0)
            fe.set_scanout(0, ra, W, H)
            fe.flush(ra, 0, 0, W, H)
            try:
                fe.display.wait_region(0, 0, 0, W, H, a * (W * H), 20, 'the XRGB frame of iteration %d' % i)
            except vf.Timeout as e:
                misses.append('xrgb %d: %s' % (i, e))
                continue
            # then R8G8B8X8: guest bytes R, G, B, X; QEMU's x8r8g8b8 surface gets B, G, R, 0xff
            r, g, b = (i * 29 + 3) & 0xff, (i * 59 + 200) & 0xff, (i * 97 + 50) & 0xff
            fe.create_2d(rb, vf.FORMAT_R8G8B8X8, W, H)
            fe.attach(rb, fb_b, FB_BYTES)
            fe.write(fb_b, bytes((r, g, b, 0x00)) * (W * H))
            fe.transfer(rb, 0, 0, W, H, 0)
            fe.set_scanout(0, rb, W, H)
            fe.flush(rb, 0, 0, W, H)
            want = bytes((b, g, r, 0xff)) * (W * H)
            try:
                fe.display.wait_region(0, 0, 0, W, H, want, 5, 'the R8G8B8X8 frame of iteration %d' % i)
            except vf.Timeout as e:
                misses.append('rgbx %d: %s' % (i, e))
            fe.set_scanout(0, 0, 0, 0)
            fe.unref(ra)
            fe.unref(rb)
    finally:
        rc = end(p, fe)
    check(not misses, 'R8G8B8X8 scanout (%s): %d/%d frames arrived%s' %
          (mode, iterations - len(misses), iterations, '; ' + misses[0] if misses else ''))
    check(rc == 0, 'rgbx (%s): vgi-gpu exits 0 (got %r; %s)' % (mode, rc, log_tail(log)))


# ---- the guest's first GET_EDID before the display's answer ----

def connect(path, p, timeout=30):
    """Connect to vgi-gpu --keep-listening (it listens again once the last front-end is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if p.poll() is not None or time.monotonic() > deadline:
                raise vf.Timeout('waited %.0f s to connect to vgi-gpu (%s; exit %r)' % (timeout, e, p.poll()))
            time.sleep(0.01)


def case_edid(mode, iterations, sock_path):
    log = os.path.join(LOGDIR, 'vgi-gpu-edid-%s.log' % mode)
    with open(log, 'w') as err:
        p = subprocess.Popen([VGI_GPU, '--socket-path', sock_path, '--keep-listening', '--display', 'qemu'] +
                             mode_args(mode), stdout=subprocess.DEVNULL, stderr=err)
    misses = []
    try:
        vf.wait_until(lambda: os.path.exists(sock_path) or p.poll() is not None, 30, 'vgi-gpu to listen')
        for i in range(iterations):
            s = connect(sock_path, p)
            edid = vf.make_edid(0x5600 + i)
            fe = vf.Frontend(s, display_kw={'edid': edid}, virgl=mode.startswith('virgl'))
            try:
                # Half the runs hold the display's answer until the guest asked;
                # the other half answer at once (a fast front-end racing the guest).
                held = i % 2 == 0
                if held:
                    fe.display.edid_gate.clear()
                fe.setup()
                head = fe.submit(fe.get_edid_cmd(0), resp_len=1056)
                if held:
                    # give vgi-gpu the chance to answer early (the bug); a slow
                    # answer only makes this run less able to see the bug
                    deadline = time.monotonic() + 0.2
                    while time.monotonic() < deadline and not fe.completed(head):
                        time.sleep(0.005)
                    fe.display.edid_gate.set()
                resp = fe.wait(head, 30, 'the guest\'s GET_EDID of iteration %d' % i)
                t, = struct.unpack_from('=I', resp)
                size, = struct.unpack_from('=I', resp, 24) if len(resp) >= 28 else (0,)
                got = resp[32:32 + size] if len(resp) >= 32 + size else b''
                if t != vf.RESP_OK_EDID or got != edid:
                    misses.append('iteration %d (%s): type 0x%x, %d bytes, serial %s' %
                                  (i, 'held' if held else 'fast', t, size,
                                   got[12:16].hex() if len(got) >= 16 else '-'))
            except vf.Timeout as e:
                misses.append('iteration %d: %s' % (i, e))
            finally:
                fe.close()
            if p.poll() is not None:
                misses.append('vgi-gpu exited (%r)' % p.returncode)
                break
        # a display that never answers: the guest still gets an EDID (vgi's own), after vgi-gpu's bound
        s = connect(sock_path, p)
        fe = vf.Frontend(s, display_kw={'edid': vf.make_edid(0x77)}, virgl=mode.startswith('virgl'))
        try:
            fe.display.edid_gate.clear()
            fe.setup()
            resp = fe.wait(fe.submit(fe.get_edid_cmd(0), resp_len=1056), 30,
                           'GET_EDID while the display never answers its own')
            t, = struct.unpack_from('=I', resp)
            check(t == vf.RESP_OK_EDID and resp[32:160] != vf.make_edid(0x77),
                  'edid (%s): unanswered display: the guest gets the generated EDID' % mode)
        except vf.Timeout as e:
            check(False, 'edid (%s): unanswered display: %s' % (mode, e))
        finally:
            fe.close()
    finally:
        rc = vf.stop(p)
    check(not misses, 'first GET_EDID before the display\'s answer (%s): %d/%d got the display\'s EDID%s' %
          (mode, iterations - len(misses), iterations, '; ' + misses[0] if misses else ''))
    check(rc == 0, 'edid (%s): vgi-gpu exits 0 on SIGTERM (got %r; %s)' % (mode, rc, log_tail(log)))


# ---- the display stops reading ----

def case_stall(mode, commands=500):
    p, fe, log = session(mode, 'stall')
    try:
        fe.setup()
        fb = fe.alloc(FB_BYTES)
        fe.create_2d(1, vf.FORMAT_B8G8R8X8, W, H)
        fe.attach(1, fb, FB_BYTES)
        fe.set_scanout(0, 1, W, H)
        first = xrgb(1) * (W * H)
        fe.write(fb, first)
        fe.transfer(1, 0, 0, W, H, 0)
        fe.flush(1, 0, 0, W, H)
        fe.display.wait_region(0, 0, 0, W, H, first, 20, 'the first frame')
        rss0 = vf.rss_kib(p.pid)
        fe.display.reading.clear()
        # the display reads nothing from here on; the guest keeps drawing:
        # full frames and boxes, each a transfer and a flush (two commands)
        sent = 0
        heads = []
        frame = 0
        last = None
        while sent < commands:
            frame += 1
            if frame % 5 == 0:
                last = xrgb(frame) * (W * H)
                fe.write(fb, last)
                x, y, w, h = 0, 0, W, H
            else:
                x, y, w, h = (frame * 53) % (W - 64), (frame * 31) % (H - 64), 64, 64
                for r in range(h):
                    fe.write(fb + (y + r) * STRIDE + x * 4, xrgb(frame) * w)
            heads.append(fe.submit(fe.transfer_cmd(1, x, y, w, h, y * STRIDE + x * 4)))
            heads.append(fe.submit(fe.flush_cmd(1, x, y, w, h)))
            sent += 2
            while len(heads) > 16:
                fe.wait(heads.pop(0), 60, 'command %d of %d while the display reads nothing' %
                        (sent - len(heads), commands))
        for h in heads:
            fe.wait(h, 60, 'the last commands while the display reads nothing')
        rss1 = vf.rss_kib(p.pid)
        check(True, 'stall (%s): %d commands completed while the display read nothing' % (mode, sent))
        # bounded: a frame or two of copies at most (4 MB each), not one per flush
        check(rss1 - rss0 < 32 * 1024, 'stall (%s): vgi-gpu RSS grew by %d KiB (bound 32 MiB)' %
              (mode, rss1 - rss0))
        expected = bytes(fe.read(fb, FB_BYTES))
        fe.display.reading.set()
        fe.display.wait_region(0, 0, 0, W, H, expected, 30, 'the latest frame once the display reads again')
        check(True, 'stall (%s): the display got the latest frame exactly once it read again' % mode)
    except vf.Timeout as e:
        check(False, 'stall (%s): %s (%s)' % (mode, e, log_tail(log)))
    finally:
        rc = end(p, fe)
    check(rc == 0, 'stall (%s): vgi-gpu exits 0 (got %r; %s)' % (mode, rc, log_tail(log)))


def have_virgl():
    out = subprocess.run([VGI_GPU, '--print-capabilities'], capture_output=True, text=True).stdout
    return 'virgl' in json.loads(out).get('features', [])


def main():
    global VGI_GPU, LOGDIR
    VGI_GPU = sys.argv[1]
    iterations = int(os.environ.get('VGI_DISPLAY_ITERATIONS') or (100 if os.environ.get('VGI_SOAK') == '1' else 20))
    cases = (os.environ.get('VGI_DISPLAY_CASES') or 'box,rgbx,edid,stall').split(',')
    modes = (os.environ.get('VGI_DISPLAY_MODES') or '2d,fps0,virgl,virgl-fps0').split(',')
    if any(m.startswith('virgl') for m in modes) and not have_virgl():
        print('skip: --virgl (not built into this vgi-gpu)')
        modes = [m for m in modes if not m.startswith('virgl')]
    with tempfile.TemporaryDirectory(prefix='vgi-gpu-display-') as d:
        LOGDIR = os.environ.get('VGI_DISPLAY_LOGDIR') or d
        for mode in modes:
            t0 = time.monotonic()
            if 'box' in cases:
                case_box(mode, iterations)
            if 'rgbx' in cases:
                case_rgbx(mode, iterations)
            if 'edid' in cases:
                case_edid(mode, iterations, os.path.join(d, 'edid-%s.sock' % mode))
            if 'stall' in cases:
                case_stall(mode)
            print('# %s: %d iterations per case in %.1f s' % (mode, iterations, time.monotonic() - t0), flush=True)
    if FAILURES:
        print('%d check(s) failed' % len(FAILURES))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
