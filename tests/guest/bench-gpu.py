#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark (issue 3 item 5): the same guest workload through vgi-gpu and
through QEMU's /usr/lib/qemu/vhost-user-gpu, in one run.

Workload (tests/guest/kms-pattern --bench): N full-frame damages of a
dumb buffer, then M damages of single 32x32 rectangles. For each backend
process: CPU seconds (utime+stime, /proc/<pid>/stat while running, wait4
rusage at exit) per phase and in all, and peak RSS (VmHWM / ru_maxrss),
then the ratios vgi/reference. Targets: CPU <= 0.7, peak RSS <= 1.0.
Never fails on timing; exits 77 when vgi-gpu is not built (after the
reference figures).

vgi-gpu runs with its defaults (--max-fps=60: flushes within one refresh
interval are merged, as QEMU's display only refreshes every 30 ms) and
again as 'vgi-every-flush' (--max-fps=0), whose ratio is printed too.

  bench-gpu.py [--build-dir DIR] [--full N] [--rects M] [--backends reference,vgi,vgi-every-flush]
"""

import argparse
import os
import re
import shlex
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgiguest as vg  # noqa: E402


def run_backend(kind, build, kms, args, out):
    # 'vgi-every-flush': vgi-gpu with --max-fps=0, each flush sent as it comes (as the reference does)
    if kind == 'vgi-every-flush':
        argv = vg.gpu_backend_argv('vgi', build, ['--max-fps=0'])
    else:
        argv = vg.gpu_backend_argv(kind, build)
    script = r'''
KMS=%s
vgi_signal ready
vgi_wait go-full 120 || exit 1
$KMS --bench full %d > "$VGI_OUT/full.txt" 2>&1 || { cat "$VGI_OUT/full.txt"; exit 1; }
vgi_signal full
vgi_wait go-rects 120 || exit 1
$KMS --bench rects %d > "$VGI_OUT/rects.txt" 2>&1 || { cat "$VGI_OUT/rects.txt"; exit 1; }
vgi_signal rects
vgi_wait go-end 120 || exit 1
''' % (shlex.quote(kms), args.full, args.rects)
    res = {'kind': kind}
    with vg.Guest(os.path.join(out, kind), script, gpu='vhost-user', gpu_backend=argv, build_dir=build,
                  timeout=args.timeout, name='bench-' + kind) as g:
        be = g.backends['gpu']
        g.wait_file('ready')
        s0 = be.stats()
        q0 = g.qemu.stats()
        g.signal('go-full')
        g.wait_file('full')
        s1 = be.stats()
        g.signal('go-rects')
        g.wait_file('rects')
        s2 = be.stats()
        q2 = g.qemu.stats()
        g.signal('go-end')
        rc = g.wait(60)
        if rc != 0:
            raise vg.GuestError('%s: guest workload failed (%d): %s' % (kind, rc, g.tail(g.console_log)))
    fin = be.stats()     # after exit: wait4 rusage (includes start-up and shutdown)
    res.update({
        'boot_cpu_s': s0['cpu_s'],
        'full_cpu_s': s1['cpu_s'] - s0['cpu_s'],
        'rects_cpu_s': s2['cpu_s'] - s1['cpu_s'],
        'bench_cpu_s': s2['cpu_s'] - s0['cpu_s'],
        'total_cpu_s': fin['cpu_s'] if fin else s2['cpu_s'],
        'peak_rss_kb': max(s2['peak_rss_kb'], fin['peak_rss_kb'] if fin else 0),
        'qemu_bench_cpu_s': q2['cpu_s'] - q0['cpu_s'],
        'full': g.read('full.txt').strip(),
        'rects': g.read('rects.txt').strip(),
    })
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--full', type=int, default=int(os.environ.get('VGI_BENCH_FULL', 200)))
    ap.add_argument('--rects', type=int, default=int(os.environ.get('VGI_BENCH_RECTS', 20000)))
    ap.add_argument('--backends', default='reference,vgi,vgi-every-flush')
    ap.add_argument('--timeout', type=float, default=400)
    ap.add_argument('--require-vgi', action='store_true', help='fail (not skip) when vgi-gpu is not built')
    args = ap.parse_args()

    def run():
        vg.check_qemu()
        build = vg.find_build_dir(args.build_dir)
        if not build:
            raise vg.Skip('no build directory (VGI_BUILD_ROOT unset; give --build-dir)')
        kms = os.path.join(build, 'tests', 'guest', 'kms-pattern')
        if not os.access(kms, os.X_OK):
            raise vg.Skip('kms-pattern not built')
        out = os.path.join(build, 'tests', 'guest', 'out', 'bench')
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        results = {}
        missing = []
        for kind in args.backends.split(','):
            if kind.startswith('vgi') and not vg.vgi_gpu_path(build):
                missing.append('vgi-gpu not built (%s/tools/vgi-gpu/vgi-gpu)' % build)
                continue
            t0 = time.monotonic()
            results[kind] = run_backend(kind, build, kms, args, out)
            results[kind]['wall_s'] = time.monotonic() - t0
        print('workload: %d full-frame damages, %d 32x32-rectangle damages (TCG guest)' % (args.full, args.rects))
        hdr = '%-16s %9s %9s %9s %9s %9s %11s %10s' % ('backend', 'full-cpu', 'rects-cpu', 'bench-cpu',
                                                      'total-cpu', 'boot-cpu', 'peak-rss', 'qemu-cpu')
        print(hdr)
        for k, r in results.items():
            print('%-16s %8.3fs %8.3fs %8.3fs %8.3fs %8.3fs %8d kB %9.3fs' % (
                k, r['full_cpu_s'], r['rects_cpu_s'], r['bench_cpu_s'], r['total_cpu_s'], r['boot_cpu_s'],
                r['peak_rss_kb'], r['qemu_bench_cpu_s']))
        for k, r in results.items():
            lines = [ln for ln in (r['full'] + '\n' + r['rects']).splitlines() if ln.startswith('bench ')]
            print('%s guest (%.1f s wall): %s' % (k, r['wall_s'], ' | '.join(lines)))
        def ratio(a, b):
            return a / b if b > 0 else float('inf')
        if 'vgi' in results and 'reference' in results:
            v, ref = results['vgi'], results['reference']
            cpu = ratio(v['bench_cpu_s'], ref['bench_cpu_s'])
            tot = ratio(v['total_cpu_s'], ref['total_cpu_s'])
            rss = ratio(v['peak_rss_kb'], ref['peak_rss_kb'])
            print('ratio vgi/reference: bench CPU %.2f (target <= 0.70: %s), total CPU %.2f, '
                  'full %.2f, rects %.2f, peak RSS %.2f (target <= 1.00: %s)' % (
                      cpu, 'met' if cpu <= 0.7 else 'NOT met', tot,
                      ratio(v['full_cpu_s'], ref['full_cpu_s']), ratio(v['rects_cpu_s'], ref['rects_cpu_s']),
                      rss, 'met' if rss <= 1.0 else 'NOT met'))
        if 'vgi-every-flush' in results and 'reference' in results:
            v, ref = results['vgi-every-flush'], results['reference']
            print('ratio vgi --max-fps=0 (every flush sent, as the reference)/reference: bench CPU %.2f, '
                  'full %.2f, rects %.2f, peak RSS %.2f' % (
                      ratio(v['bench_cpu_s'], ref['bench_cpu_s']), ratio(v['full_cpu_s'], ref['full_cpu_s']),
                      ratio(v['rects_cpu_s'], ref['rects_cpu_s']), ratio(v['peak_rss_kb'], ref['peak_rss_kb'])))
        if missing:
            if args.require_vgi:
                raise AssertionError('; '.join(missing) + ' although tools/vgi-gpu is in the tree')
            raise vg.Skip('; '.join(missing) + ': no ratios')
    vg.test_main(run)


if __name__ == '__main__':
    main()
