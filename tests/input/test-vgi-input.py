#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-input as a program on this machine (no /dev/input needed): the dump
sink against the recordings, option errors, the capabilities JSON, and a
vhost-user socket fed garbage (the back-end must end cleanly, not crash)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

build = os.environ['VGI_BUILD_ROOT']
src = os.environ['VGI_SOURCE_ROOT']
vi = os.path.join(build, 'tools', 'vgi-input', 'vgi-input')
data = os.path.join(src, 'tests', 'input', 'data')
failures = 0


def check(cond, what):
    global failures
    print('%s: %s' % ('ok' if cond else 'FAIL', what), flush=True)
    if not cond:
        failures += 1


def run(*args, timeout=20):
    return subprocess.run([vi] + list(args), capture_output=True, text=True, timeout=timeout)


def recorded(path):
    out = []
    for line in open(path):
        if line.startswith('E:'):
            f = line.split()
            out.append((int(f[2], 16), int(f[3], 16), int(f[4])))
    return out


def dumped(text):
    out = []
    for line in text.splitlines():
        if not line.startswith('Event:'):
            continue
        if 'SYN_REPORT' in line:
            out.append((0, 0, 0))
            continue
        f = line.replace(',', '').split()
        t, c = int(f[4]), int(f[7])
        v = f[-1]
        out.append((t, c, int(v, 16) if t == 4 else int(v)))
    return out


# the dump is the recording, event for event
for name in ('keyboard', 'mouse'):
    rec = os.path.join(data, name + '.evemu')
    r = run('--replay', rec, '--replay-fast')
    check(r.returncode == 0, '%s: dump exits 0' % name)
    check(dumped(r.stdout) == recorded(rec), '%s: dump has the recorded events (%d)' % (name, len(recorded(rec))))
    check('Input device name: "vgi test %s"' % name in r.stdout, '%s: dump names the device' % name)

# timing is kept: the keyboard recording lasts 0.14 s, twice as fast 0.07 s
t0 = time.monotonic()
r = run('--replay', os.path.join(data, 'keyboard.evemu'), '--replay-speed', '2')
dt = time.monotonic() - t0
check(r.returncode == 0 and 0.06 <= dt < 5, 'timed replay took %.3f s (recording 0.14 s at speed 2)' % dt)

# capabilities, as QEMU asks for them
r = run('--print-capabilities')
try:
    caps = json.loads(r.stdout)
except ValueError:
    caps = {}
check(r.returncode == 0 and caps.get('type') == 'input', '--print-capabilities is JSON of type input')
desc = os.path.join(build, 'tools', 'vgi-input', '50-vgi-input.json')
try:
    d = json.load(open(desc))
except (OSError, ValueError):
    d = {}
check(d.get('type') == 'input' and d.get('binary', '').endswith('/vgi-input'), '50-vgi-input.json: %s' % d)

# option errors: exit 2 with a message, never a crash
for args in (['--grab-toggle', 'ctrl-alt', '--replay', 'x'], [], ['--replay', 'a', '--evdev', 'b'],
             ['--output', 'vhost-user', '--replay', 'a'], ['--output', 'hdmi', '--replay', 'a'],
             ['--fd', '-3', '--replay', 'a'], ['--replay-speed', '0', '--replay', 'a'], ['--bogus']):
    r = run(*args)
    check(r.returncode == 2 and r.stderr, 'bad options %s: exit 2' % args)
# sources that are not there or not recordings: exit 1
r = run('--evdev', '/nonexistent/event0')
check(r.returncode == 1, 'missing evdev device: exit 1')
with tempfile.NamedTemporaryFile('w', suffix='.evemu') as f:
    f.write('E: 0.1 0001 001e\n')
    f.flush()
    r = run('--replay', f.name)
    check(r.returncode == 1 and 'line 1' in r.stderr, 'bad recording: exit 1 naming the line')

# vhost-user: garbage on the socket ends the connection, the back-end leaves cleanly
with tempfile.TemporaryDirectory() as d:
    sock = os.path.join(d, 'in.sock')
    p = subprocess.Popen([vi, '--replay', os.path.join(data, 'keyboard.evemu'), '--output', 'vhost-user',
                          '--socket-path', sock], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # the path appears at bind(), before listen(): connect until it is accepted (a loaded machine is slow)
    s = socket.socket(socket.AF_UNIX)
    deadline = time.monotonic() + 60
    while True:
        try:
            s.connect(sock)
            break
        except (FileNotFoundError, ConnectionRefusedError) as e:
            if time.monotonic() > deadline or p.poll() is not None:
                check(False, 'vhost-user socket %s accepts a connection within 60 s (%s; vgi-input %s)'
                      % (sock, e, 'exited %s' % p.returncode if p.poll() is not None else 'running'))
                p.kill()
                print(p.stdout.read())
                sys.exit(1)
            time.sleep(0.02)
    check(True, 'vhost-user socket created')
    s.sendall(b'\x01\x00\x00\x00\x05\x00\x00\x00\xff\xff\xff\x7f' + b'\xaa' * 64)   # absurd size
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    s.close()
    out = p.stdout.read()
    check(rc == 0, 'garbage on the vhost-user socket: back-end ends cleanly (rc %s)' % rc)
    check(not os.path.exists(sock), 'socket removed on exit')
    print(out)

print('%d failure(s)' % failures)
sys.exit(1 if failures else 0)
