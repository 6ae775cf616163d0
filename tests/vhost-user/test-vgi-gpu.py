#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-gpu as a program: QEMU's back-end conventions and its life cycle.

Runs the built binary (argv[1]) and talks the vhost-user protocol to it over
real sockets: --print-capabilities, --fd, --socket-path, a garbage message,
a front-end disconnecting, --keep-listening, SIGTERM, bad options.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

VGI_GPU = None
FAILURES = []

GET_FEATURES = 1
GET_PROTOCOL_FEATURES = 15
VERSION = 1
REPLY = 4
F_PROTOCOL_FEATURES = 1 << 30
VIRTIO_F_VERSION_1 = 1 << 32
VIRTIO_GPU_F_EDID = 1 << 1


def check(cond, what):
    print('%s: %s' % ('ok' if cond else 'FAIL', what))
    if not cond:
        FAILURES.append(what)


def get_u64(sock, request):
    sock.sendall(struct.pack('=III', request, VERSION, 0))
    hdr = recv_exact(sock, 12)
    req, flags, size = struct.unpack('=III', hdr)
    if req != request or flags != VERSION | REPLY or size != 8:
        raise AssertionError('bad reply header %r' % ((req, flags, size),))
    return struct.unpack('=Q', recv_exact(sock, 8))[0]


def recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError('closed after %d of %d bytes' % (len(buf), n))
        buf += chunk
    return buf


def start(args, **kw):
    return subprocess.Popen([VGI_GPU] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(p, timeout=5):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err
    return p.returncode, out, err


def connect(path, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_capabilities():
    p = start(['--print-capabilities', '--socket-path', '/nonexistent/ignored'])
    rc, out, err = finish(p)
    check(rc == 0, '--print-capabilities exits 0')
    caps = json.loads(out)
    check(caps.get('type') == 'gpu', '--print-capabilities: type gpu')
    check(isinstance(caps.get('features'), list), '--print-capabilities: features is a list')
    check(set(caps['features']) <= {'virgl', 'render-node'}, '--print-capabilities: known features only')


def test_fd_mode():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p = start(['--fd', str(b.fileno()), '--display', 'headless'], pass_fds=[b.fileno()])
    b.close()
    a.settimeout(5)
    f = get_u64(a, GET_FEATURES)
    check(bool(f & F_PROTOCOL_FEATURES), '--fd: GET_FEATURES has PROTOCOL_FEATURES')
    check(bool(f & VIRTIO_F_VERSION_1), '--fd: GET_FEATURES has VERSION_1')
    check(bool(f & VIRTIO_GPU_F_EDID), '--fd: GET_FEATURES has VIRTIO_GPU_F_EDID')
    pf = get_u64(a, GET_PROTOCOL_FEATURES)
    check(bool(pf & (1 << 9)), '--fd: protocol features include CONFIG (QEMU requires it)')
    a.close()
    rc, out, err = finish(p)
    check(rc == 0, '--fd: exits 0 when the front-end disconnects (got %r)' % rc)
    check('QEMU disconnected' in err, '--fd: says the front-end disconnected')


def test_garbage(sock_path):
    p = start(['--socket-path', sock_path, '--display', 'headless'])
    s = connect(sock_path)
    s.sendall(b'\xff' * 12 + b'this is not vhost-user')
    try:
        closed = s.recv(16) == b''
    except ConnectionResetError:
        closed = True
    check(closed, 'garbage: the back-end closes the connection')
    s.close()
    rc, out, err = finish(p)
    check(rc == 1, 'garbage: exits 1 (got %r)' % rc)
    check('bad header flags' in err or 'exceeds the cap' in err, 'garbage: names the problem')
    check('bad message' in err, 'garbage: says the connection ended on a bad message')
    check(not os.path.exists(sock_path), 'garbage: socket file removed on exit')


def test_keep_listening_and_sigterm(sock_path):
    p = start(['--socket-path', sock_path, '--display', 'headless', '--keep-listening'])
    for i in range(3):
        s = connect(sock_path)
        check(get_u64(s, GET_FEATURES) & F_PROTOCOL_FEATURES != 0,
              '--keep-listening: front-end %d served' % (i + 1))
        s.close()
        time.sleep(0.1)
    check(p.poll() is None, '--keep-listening: still running after 3 front-ends left')
    p.send_signal(signal.SIGTERM)
    rc, out, err = finish(p)
    check(rc == 0, 'SIGTERM: exits 0 (got %r)' % rc)
    check('waiting for the next connection' in err, '--keep-listening: says it waits for the next one')
    check(not os.path.exists(sock_path), 'SIGTERM: socket file removed')


def test_listen_exit_on_disconnect(sock_path):
    p = start(['--socket-path', sock_path, '--display', 'headless'])
    s = connect(sock_path)
    get_u64(s, GET_FEATURES)
    s.close()
    rc, out, err = finish(p)
    check(rc == 0, '--socket-path: exits 0 after the front-end disconnects, as QEMU\'s back-end does')


def test_bad_options():
    cases = [
        ([], 'exactly one of'),
        (['--socket-path', '/x', '--fd', '3'], 'exactly one of'),
        (['--fd', 'abc'], 'not a file descriptor'),
        (['--socket-path', '/x', '--outputs', '17'], '--outputs'),
        (['--socket-path', '/x', '--outputs', '0'], '--outputs'),
        (['--socket-path', '/x', '--max-hostmem', '12Q'], '--max-hostmem'),
        (['--socket-path', '/x', '--max-hostmem', '99999999999G'], '--max-hostmem'),
        (['--socket-path', '/x', '--max-fps', '1001'], '--max-fps'),
        (['--socket-path', '/x', '--max-fps', '-1'], '--max-fps'),
        (['--socket-path', '/x', '--max-fps', '60x'], '--max-fps'),
        (['--socket-path', '/x', '--display', 'nosuchsink'], 'no such display'),
        (['--socket-path', '/x', '--display', 'headless,bogus=1'], 'headless'),
        (['--fd', '3', '--keep-listening'], '--keep-listening'),
        (['--socket-path', '/x', 'extra'], 'unexpected argument'),
    ]
    for args, needle in cases:
        rc, out, err = finish(start(args))
        check(rc == 1 and needle in err, 'bad options %r: exit 1 naming %r (got %r: %s)' %
              (args, needle, rc, err.strip().split('\n')[-1] if err.strip() else ''))
    caps = json.loads(finish(start(['--print-capabilities']))[1])
    if 'virgl' not in caps['features']:
        rc, out, err = finish(start(['--socket-path', '/x', '--virgl']))
        check(rc == 1 and 'not built' in err, '--virgl without 3D: a clear error')
    rc, out, err = finish(start(['--help']))
    check(rc == 0 and '--socket-path' in out, '--help')
    rc, out, err = finish(start(['--version']))
    check(rc == 0 and out.startswith('vgi-gpu '), '--version')


def main():
    global VGI_GPU
    VGI_GPU = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix='vgi-gpu-test-') as d:
        test_capabilities()
        test_fd_mode()
        test_garbage(os.path.join(d, 'a.sock'))
        test_keep_listening_and_sigterm(os.path.join(d, 'b.sock'))
        test_listen_exit_on_disconnect(os.path.join(d, 'c.sock'))
        test_bad_options()
    if FAILURES:
        print('%d check(s) failed' % len(FAILURES))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
