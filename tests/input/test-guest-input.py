#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Input tests with a real Linux guest (tests/guest/vgiguest.py).

--check grab:   inside the guest: uinput keyboards and a mouse grabbed by
                vgi-input, every toggle combination both ways (guest-grab.c).
--check replay: host to guest: vgi-input replays evemu recordings into two
                vhost-user-input-pci devices (keyboard, mouse); the guest reads
                exactly those events from /dev/input/event*, and the LEDs it
                sets come back to vgi-input over the status queue.
"""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get('VGI_SOURCE_ROOT', os.path.join(os.path.dirname(
    os.path.abspath(__file__)), '..', '..')), 'tests', 'guest'))
import vgiguest  # noqa: E402
from vgiguest import Guest, GuestError, Skip  # noqa: E402


def paths():
    build = vgiguest.find_build_dir()
    src = os.environ.get('VGI_SOURCE_ROOT') or os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    if not build:
        raise Skip('VGI_BUILD_ROOT not set (run through meson test)')
    vi = os.path.join(build, 'tools', 'vgi-input', 'vgi-input')
    if not os.access(vi, os.X_OK):
        raise Skip('vgi-input not built')
    return build, src, vi


def out_dir(name):
    build, _, _ = paths()
    return os.path.join(build, 'test-out', 'input', name)


def check_grab(combos):
    build, src, vi = paths()
    helper = os.path.join(build, 'tests', 'input', 'guest-grab')
    if not os.access(helper, os.X_OK):
        raise Skip('guest-grab not built (needs libevdev)')
    script = '%s %s "$VGI_OUT" %s\n' % (helper, vi, ' '.join(combos))
    with Guest(out_dir('grab' + ('-' + '-'.join(combos) if combos else '')), script=script, timeout=540) as g:
        rc = g.wait()
        log = g.tail(g.console_log, 3000)
    print(log)
    assert rc == 0, 'guest-grab failed (rc %s); see %s' % (rc, g.console_log)
    return 0


def expected_events(rec_path):
    """The recording's events as the guest should read them: 'type code value' lines."""
    out = []
    with open(rec_path) as f:
        for line in f:
            if line.startswith('E:'):
                _, _, t, c, v = line.split()[:5]
                out.append('%d %d %d' % (int(t, 16), int(c, 16), int(v)))
    return out


def check_replay():
    build, src, vi = paths()
    reader = os.path.join(build, 'tests', 'input', 'guest-evread')
    data = os.path.join(src, 'tests', 'input', 'data')
    kbd_rec, mouse_rec = os.path.join(data, 'keyboard.evemu'), os.path.join(data, 'mouse.evemu')
    want_kbd, want_mouse = expected_events(kbd_rec), expected_events(mouse_rec)
    devices = [
        {'name': 'kbd', 'device': 'vhost-user-input-pci',
         'backend': [vi, '--replay', kbd_rec, '--replay-wait', '--output', 'vhost-user', '--socket-path={socket}']},
        {'name': 'mouse', 'device': 'vhost-user-input-pci',
         'backend': [vi, '--replay', mouse_rec, '--replay-wait', '--replay-speed', '4', '--output', 'vhost-user',
                     '--socket-path={socket}']},
    ]
    script = r'''
set -e
R=%(reader)s
kbd=$($R find "vgi test keyboard")
mouse=$($R find "vgi test mouse")
echo "keyboard $kbd mouse $mouse"
$R read $kbd %(nk)d 60 > $VGI_OUT/got-kbd.txt &
pk=$!
$R read $mouse %(nm)d 60 > $VGI_OUT/got-mouse.txt &
pm=$!
while ! grep -q reading $VGI_OUT/got-kbd.txt || ! grep -q reading $VGI_OUT/got-mouse.txt; do sleep 0.05; done
vgi_signal ready
rk=0; rm=0
wait $pk || rk=$?
wait $pm || rm=$?
echo "readers: $rk $rm"
# the guest's LEDs go back over the status queue
$R led $kbd 1 1
$R led $kbd 0 1
vgi_wait leds-seen 60
$R led $kbd 1 0
vgi_signal leds-sent
vgi_wait done 60
exit $((rk + rm))
''' % {'reader': reader, 'nk': len(want_kbd), 'nm': len(want_mouse)}
    with Guest(out_dir('replay'), script=script, devices=devices, timeout=300) as g:
        g.wait_file('ready')
        for name in ('kbd', 'mouse'):
            os.kill(g.backends[name].pid, signal.SIGUSR1)
        # the LED lines vgi-input prints for what the guest sets
        deadline = time.monotonic() + 120
        klog = g.backends['kbd'].log_path
        while 'guest LED LED_NUML 1' not in g.tail(klog, 100000) or \
                'guest LED LED_CAPSL 1' not in g.tail(klog, 100000):
            g._check_alive('waiting for the guest LEDs')
            if time.monotonic() > deadline:
                raise GuestError('guest LEDs did not come back; backend log: %s' % g.tail(klog))
            time.sleep(0.1)
        g.signal('leds-seen')
        g.wait_file('leds-sent')
        deadline = time.monotonic() + 60
        while 'guest LED LED_CAPSL 0' not in g.tail(klog, 100000):
            if time.monotonic() > deadline:
                raise GuestError('caps lock off did not come back; backend log: %s' % g.tail(klog))
            time.sleep(0.1)
        g.signal('done')
        rc = g.wait()
        got_kbd = [l for l in g.read('got-kbd.txt').splitlines() if l != 'reading']
        got_mouse = [l for l in g.read('got-mouse.txt').splitlines() if l != 'reading']
    print('keyboard: %d events, want %d; mouse: %d events, want %d' % (
        len(got_kbd), len(want_kbd), len(got_mouse), len(want_mouse)))
    assert got_kbd == want_kbd, 'keyboard events differ:\n got  %s\n want %s' % (got_kbd, want_kbd)
    assert got_mouse == want_mouse, 'mouse events differ:\n got  %s\n want %s' % (got_mouse, want_mouse)
    assert rc == 0, 'guest script failed (rc %s)' % rc
    print('guest read exactly the recorded events; LEDs came back over the status queue')
    return 0


def check_bench():
    build, src, vi = paths()
    bench = os.path.join(build, 'tests', 'input', 'bench-evdev')
    if not os.access(bench, os.X_OK):
        raise Skip('bench-evdev not built (needs libevdev)')
    pipe_bench = os.path.join(build, 'tests', 'input', 'bench-input')
    # the pipe benchmark too, on the same emulated CPU, to see what evdev itself costs
    script = '%s > "$VGI_OUT/bench.txt" 2>&1 && %s >> "$VGI_OUT/bench.txt" 2>&1\n' % (bench, pipe_bench)
    with Guest(out_dir('bench'), script=script, timeout=280) as g:
        rc = g.wait()
        out = g.read('bench.txt')
    print(out)
    print('(inside a TCG guest: emulated CPU, figures far below the host\'s)')
    assert rc == 0, 'bench-evdev failed (rc %s)' % rc
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check', choices=['grab', 'replay', 'bench'], required=True)
    ap.add_argument('combos', nargs='*')
    args = ap.parse_args()
    if args.check == 'grab':
        vgiguest.test_main(lambda: check_grab(args.combos))
    elif args.check == 'bench':
        vgiguest.test_main(check_bench)
    else:
        vgiguest.test_main(check_replay)


if __name__ == '__main__':
    main()
