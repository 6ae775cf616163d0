#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-view benchmark (suite 'bench'; prints figures, never fails on timing).

On the headless output (1024x768, frames kept in memory; and with a PNG
written per frame), with a generated 100-page PDF of text and a figure per
page: time from a key press (the scripted key is taken) to the next page on
screen (the sink's update() returned), for pages rendered ahead and pages
rendered on demand (--no-prerender, and jumps with Ng), and the peak memory
(VmHWM) after paging through all 100 pages.

  bench-view.py [--build-dir DIR] [--pages N]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(viewer, args, pdf):
    p = subprocess.run([viewer, '--stats'] + args + [pdf], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit('vgi-view failed (%d)' % p.returncode)
    times = {'pre-rendered': [], 'rendered on demand': []}
    for m in re.finditer(r'shown in ([0-9.]+) ms \(([a-z -]+)\)', p.stderr):
        times[m.group(2)].append(float(m.group(1)))
    hwm = int(re.search(r'VmHWM\) (\d+) kB', p.stderr).group(1))
    return times, hwm


def stats(v):
    if not v:
        return 'n/a'
    v = sorted(v)
    return 'median %.2f ms, min %.2f, max %.2f (n=%d)' % (v[len(v) // 2], v[0], v[-1], len(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir', default=os.environ.get('VGI_BUILD_ROOT'))
    ap.add_argument('--pages', type=int, default=100)
    args = ap.parse_args()
    if not args.build_dir:
        print('SKIP: no build directory')
        return 77
    viewer = os.path.join(args.build_dir, 'tools', 'vgi-view', 'vgi-view')
    mkfiles = os.path.join(args.build_dir, 'tests', 'view', 'view-mkfiles')
    if not os.access(viewer, os.X_OK) or not os.access(mkfiles, os.X_OK):
        print('SKIP: vgi-view or view-mkfiles not built')
        return 77
    tmp = tempfile.mkdtemp(prefix='vgi-view-bench-')
    try:
        subprocess.run([mkfiles, tmp, str(args.pages)], check=True, timeout=120)
        pdf = os.path.join(tmp, 'big.pdf')
        print('%d-page PDF: %d bytes; output headless 1024x768' % (args.pages, os.path.getsize(pdf)))
        turns = ' '.join(['j'] * 20) + ' q'
        base = ['--display', 'headless', '--size', '1024x768']
        t_pre, _ = run(viewer, base + ['--key-delay', '300', '--keys', turns], pdf)
        t_dem, _ = run(viewer, base + ['--no-prerender', '--key-delay', '50', '--keys', turns], pdf)
        t_jump, _ = run(viewer, base + ['--key-delay', '300', '--keys', '50g 10g 90g 30g 70g q'], pdf)
        print('key -> next page on screen (headless, frame in memory):')
        print('  pre-rendered:        %s' % stats(t_pre['pre-rendered']))
        print('  rendered on demand:  %s (--no-prerender)' % stats(t_dem['rendered on demand']))
        print('  jump Ng (not ahead): %s' % stats(t_jump['rendered on demand']))
        png = os.path.join(tmp, 'frames')
        t_png, _ = run(viewer, ['--display', 'headless,dir=' + png, '--size', '1024x768', '--key-delay', '300',
                                '--keys', ' '.join(['j'] * 10) + ' q'], pdf)
        t_png2, _ = run(viewer, ['--display', 'headless,dir=' + png, '--size', '1024x768', '--no-prerender',
                                 '--key-delay', '50', '--keys', ' '.join(['j'] * 10) + ' q'], pdf)
        fw = base + ['--fit', 'width']
        t_fwp, _ = run(viewer, fw + ['--key-delay', '300', '--keys', turns], pdf)
        t_fwd, _ = run(viewer, fw + ['--no-prerender', '--key-delay', '50', '--keys', turns], pdf)
        print('  fit width (1024x1449 pages), pre-rendered: %s' % stats(t_fwp['pre-rendered']))
        print('  fit width (1024x1449 pages), on demand:    %s' % stats(t_fwd['rendered on demand']))
        print('key -> next page written as PNG (headless,dir=):')
        print('  pre-rendered:        %s' % stats(t_png['pre-rendered']))
        print('  rendered on demand:  %s' % stats(t_png2['rendered on demand']))
        _, hwm1 = run(viewer, base + ['--keys', 'q'], pdf)
        all_pages = ' '.join(['j'] * (args.pages - 1)) + ' q'
        _, hwm_all = run(viewer, base + ['--key-delay', '30', '--keys', all_pages], pdf)
        _, hwm_fw = run(viewer, base + ['--fit', 'width', '--key-delay', '30', '--keys', all_pages], pdf)
        print('peak memory (VmHWM): first page only %d kB; all %d pages (fit page) %d kB; '
              'all pages at fit width (1024x1449 pages) %d kB' % (hwm1, args.pages, hwm_all, hwm_fw))
        print('page cache: %d rendered pages at most (current, next, previous, one more)' % 4)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
