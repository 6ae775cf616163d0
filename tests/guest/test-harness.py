#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-tests of the guest harness (vgiguest.py) against start-up races that
a busy machine produces (issue 11, item 8):

  test-harness.py --check slow-listen | qemu-dies

slow-listen: the GPU backend binds its socket and listens only 2 s later
  (a process descheduled between bind() and listen() on a loaded machine).
  QEMU connects to the backend once and exits on "Connection refused", so
  the harness must start QEMU only once the socket listens. The guest must
  boot and virtio_gpu must initialize.
qemu-dies: the backend accepts QEMU's connection and closes it at once, so
  QEMU exits while the harness connects to QMP (its queued QMP connection
  is reset). The harness must say that QEMU exited and why (qemu.log), not
  just "QMP: Connection reset by peer".
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgiguest as vg  # noqa: E402

# Binds, listens after a delay, accepts one front-end and hands it to the real
# backend (execs argv with the connection as an inherited fd: vgi-gpu --fd=N).
SLOW_LISTEN = r'''
import os, socket, sys, time
path, delay, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
time.sleep(delay)
s.listen(1)
c, _ = s.accept()
s.close()
os.set_inheritable(c.fileno(), True)
os.execv(argv[0], argv + ['--fd=%d' % c.fileno()])
'''

# Accepts the front-end and closes it: QEMU's vhost-user init fails.
SLAM = r'''
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
c, _ = s.accept()
c.close()
time.sleep(60)
'''


def check_slow_listen(build, out):
    gpu = vg.gpu_backend_argv('vgi', build)[0]
    script = r'''
set -e
test -c /dev/dri/card0
vgi_signal booted
'''
    with vg.Guest(out, script, gpu='vhost-user', build_dir=build, timeout=240, name='slow-listen',
                  gpu_backend=[sys.executable, '-c', SLOW_LISTEN, '{socket}', '2', gpu]) as g:
        g.wait_file('booted')
        rc = g.wait(120)
    assert rc == 0, 'guest script failed (%d); console:\n%s' % (rc, g.tail(g.console_log))
    dmesg = g.read('dmesg.txt')
    assert re.search(r'\[drm\] Initialized virtio_gpu', dmesg), 'virtio_gpu did not initialize:\n' + dmesg
    problems = g.backend_problems()
    assert not problems, '\n'.join(problems)
    print('slow-listen: QEMU started after the backend listened; the guest booted with vgi-gpu')


def check_qemu_dies(build, out):
    try:
        with vg.Guest(out, 'true', gpu='vhost-user', build_dir=build, timeout=120, name='qemu-dies',
                      gpu_backend=[sys.executable, '-c', SLAM, '{socket}']) as g:
            rc = g.wait(60)
    except vg.GuestError as e:
        msg = str(e)
        print('harness error (expected): %s' % msg)
        assert 'QEMU exited' in msg, 'the error does not say that QEMU exited: %s' % msg
        assert 'vhost' in msg, 'the error does not show why QEMU exited (its log): %s' % msg
        return
    raise AssertionError('QEMU ran a guest (rc %s) although its GPU backend hung up' % rc)


CHECKS = {'slow-listen': check_slow_listen, 'qemu-dies': check_qemu_dies}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check', choices=sorted(CHECKS), required=True)
    ap.add_argument('--build-dir')
    args = ap.parse_args()

    def run():
        vg.check_qemu()
        build = vg.find_build_dir(args.build_dir)
        if not build:
            raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
        out = os.path.join(build, 'tests', 'guest', 'out', 'harness-' + args.check)
        CHECKS[args.check](build, out)
    vg.test_main(run)


if __name__ == '__main__':
    main()
