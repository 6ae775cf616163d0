#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest kmscube frames per second: vgi-gpu --virgl (vhost-user-gpu-pci,
surfaceless llvmpipe, QEMU display) versus QEMU's built-in
virtio-gpu-gl-pci with -display gtk,gl=on under Xvfb (llvmpipe), one run
each (alternating, --rounds times), same guest, same kmscube -c N. Prints the figures and the ratio;
fails only when a guest fails, never on timing."""

import argparse
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'guest'))
import vgiguest as vg  # noqa: E402


def run_one(kind, build, out, frames, timeout):
    script = r'''
timeout %d kmscube -c %d > "$VGI_OUT/kmscube.txt" 2>&1
rc=$?; grep -E 'renderer|Rendered' "$VGI_OUT/kmscube.txt" | tail -3; exit $rc
''' % (timeout - 60, frames)
    d = os.path.join(out, kind)
    if kind == 'vgi':
        backend = vg.gpu_backend_argv('vgi', build, ['--virgl'])
        os.environ['VGI_VIRGL_STATS'] = '1'     # vgi-gpu logs SUBMIT_3D timing at exit
        g = vg.Guest(d, script, gpu='vhost-user', gpu_backend=backend, build_dir=build, timeout=timeout,
                     name='bench-virgl-vgi')
    else:
        g = vg.Guest(d, script, gpu='builtin-gl', build_dir=build, timeout=timeout, name='bench-virgl-builtin')
    with g:
        rc = g.wait()
        stats = g.backend_stats() if kind == 'vgi' else None
    txt = g.read('kmscube.txt')
    assert rc == 0, '%s: guest failed (%d):\n%s\n%s' % (kind, rc, txt[-2000:], g.tail(g.console_log, 2000))
    ms = list(re.finditer(r'Rendered (\d+) frames in ([\d.]+) sec \(([\d.]+) fps\)', txt))
    assert ms, '%s: kmscube printed no summary:\n%s' % (kind, txt[-2000:])
    r = re.findall(r'renderer: *"?([^"\n]*)', txt)
    m = ms[-1]
    submit = None
    if kind == 'vgi':
        log = g.tail(os.path.join(d, 'gpu-backend.log'), 20000)
        sm = re.findall(r'virgl: stats: (.*SUBMIT_3D.*)', log)
        sm2 = re.findall(r'virgl: stats: (.*read-backs.*)', log)
        if sm2:
            sm = [(sm[-1] + '; ' if sm else '') + sm2[-1]]
        submit = sm[-1] if sm else None
    return {'frames': int(m.group(1)), 'secs': float(m.group(2)), 'fps': float(m.group(3)),
            'renderer': r[0] if r else '?', 'stats': stats, 'submit': submit}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--frames', type=int, default=500)
    ap.add_argument('--timeout', type=float, default=280)
    ap.add_argument('--rounds', type=int, default=3, help='alternating runs of each (the machine is shared)')
    args = ap.parse_args()

    def run():
        build = vg.find_build_dir(args.build_dir)
        if not build:
            raise vg.Skip('no build directory')
        out = os.path.join(build, 'tests', 'virgl', 'out', 'bench-kmscube')
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(out)
        res = {'vgi': [], 'builtin-gl': []}
        for rnd in range(args.rounds):
            for kind in ('vgi', 'builtin-gl'):
                try:
                    r = run_one(kind, build, os.path.join(out, str(rnd)), args.frames, args.timeout)
                except vg.Skip as e:
                    print('%s: skipped: %s' % (kind, e))
                    continue
                res[kind].append(r)
                print('round %d %-10s kmscube -c %d: %d frames in %.2f s = %.1f fps (guest GL renderer: %s)' % (
                    rnd + 1, kind, args.frames, r['frames'], r['secs'], r['fps'], r['renderer']))
                if r.get('submit'):
                    print('round %d %-10s SUBMIT_3D on the guest\'s real buffers: %s' % (rnd + 1, kind, r['submit']))
        if res['vgi'] and res['builtin-gl']:
            a = sum(r['fps'] for r in res['vgi']) / len(res['vgi'])
            b = sum(r['fps'] for r in res['builtin-gl']) / len(res['builtin-gl'])
            print('mean of %d: vgi-gpu --virgl %.1f fps, QEMU virtio-gpu-gl-pci (gtk,gl=on, Xvfb) %.1f fps: '
                  '%.2fx (target >= 1.0x)' % (len(res['vgi']), a, b, a / b))
            ba = max(r['fps'] for r in res['vgi'])
            bb = max(r['fps'] for r in res['builtin-gl'])
            print('best of %d (least disturbed by other load): vgi-gpu --virgl %.1f fps, QEMU virtio-gpu-gl-pci '
                  '%.1f fps: %.2fx' % (len(res['vgi']), ba, bb, ba / bb))
        return 0
    vg.test_main(run)


if __name__ == '__main__':
    main()
