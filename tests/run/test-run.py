#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgi-run from the build tree, as a user runs it.

--check status:     a command's stdout, stderr and exit status come back (2D VM)
--check kmscube:    `vgi-run -- kmscube -c 60` renders through virgl (3D VM)
--check glmark2:    `vgi-run -- glmark2-es2-drm --off-screen ...` prints its score
--check screenshot: --screenshot DIR leaves PNGs; one equals kms-pattern's pattern
--check errors:     no VM: a missing QEMU, kernel or vgi-gpu is a clear error (125)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'guest'))
import vgiguest as vg  # noqa: E402


# vgi-run's errors that mean this machine cannot run a VM at all (the guest suite skips for them too)
NO_VM = ('too old for vhost-user', 'not found (install', 'install linux-image-amd64', 'busybox')


def run(build, argv, env=None, timeout=900, need_vm=True):
    exe = os.path.join(build, 'tools', 'vgi-run', 'vgi-run')
    if not os.access(exe, os.X_OK):
        raise AssertionError('%s is not built' % exe)
    e = dict(os.environ)
    e.setdefault('VGI_GUEST_CACHE', vg.default_cache_dir(build))
    e.update(env or {})
    print('$ vgi-run %s' % ' '.join(argv), flush=True)
    r = subprocess.run([exe] + argv, capture_output=True, env=e, timeout=timeout)
    out, err = r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')
    print('exit status %d\n--- stdout ---\n%s--- stderr ---\n%s' % (r.returncode, out[-3000:], err[-3000:]),
          flush=True)
    if need_vm and r.returncode == 125 and any(s in err for s in NO_VM):
        raise vg.Skip(err.strip().splitlines()[-1])
    return r.returncode, out, err


def check_status(build, work):
    rc, out, err = run(build, ['--no-virgl', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; pwd; exit 7'])
    assert rc == 7, 'exit status %d, wanted the command\'s 7' % rc
    assert 'to-stdout' in out and 'to-stderr' not in out, 'stdout %r' % out
    assert 'to-stderr' in err, 'stderr %r' % err
    assert os.path.realpath(os.getcwd()) in out, 'the command did not start in the current directory: %r' % out
    assert 'vgi-run: guest up after' in err and 'exited with status 7' in err, 'no progress lines: %r' % err


def check_kmscube(build, work):
    if not shutil.which('kmscube'):
        raise vg.Skip('kmscube not installed')
    rc, out, err = run(build, ['--', 'kmscube', '-c', '60'])
    assert rc == 0, 'kmscube exited with %d' % rc
    assert 'renderer: "virgl' in out, 'kmscube did not render through virgl: %r' % out[-2000:]


def check_glmark2(build, work):
    if not shutil.which('glmark2-es2-drm'):
        raise vg.Skip('glmark2-es2-drm not installed (package glmark2-es2-drm)')
    rc, out, err = run(build, ['--', 'glmark2-es2-drm', '--off-screen', '-s', '320x240',
                               '-b', 'build:duration=1', '-b', 'shading:duration=1'])
    assert rc == 0, 'glmark2 exited with %d' % rc
    assert 'GL_RENDERER:    virgl' in out, 'glmark2 did not render through virgl: %r' % out[-2000:]
    assert 'glmark2 Score:' in out, 'no score: %r' % out[-2000:]


def check_screenshot(build, work):
    kms = os.path.join(build, 'tests', 'guest', 'kms-pattern')
    shots = os.path.join(work, 'shots')
    rc, out, err = run(build, ['--no-virgl', '--screenshot', shots, '--', kms])
    assert rc == 0, 'kms-pattern exited with %d' % rc
    frames = sorted(f for f in os.listdir(shots) if f.startswith('scanout0-') and f.endswith('.png'))
    assert frames, 'no PNG in %s' % shots
    assert os.path.exists(os.path.join(shots, 'scanout0.png')), 'no scanout0.png (the last frame)'
    assert '%d screenshots in %s' % (len(frames), shots) in err, 'vgi-run did not say where they are: %r' % err
    want = None
    for f in frames:
        img = vg.read_png(os.path.join(shots, f))
        want = want or vg.pattern_image(img.width, img.height)
        if vg.compare_images(img, want) is None:
            print('%s is kms-pattern\'s pattern, pixel for pixel' % f)
            return
    raise AssertionError('none of %d frames is the pattern kms-pattern drew' % len(frames))


def check_errors(build, work):
    rc, out, err = run(build, ['--', 'true'], env={'VGI_QEMU': '/nonexistent/qemu'}, need_vm=False)
    assert rc == 125 and 'error:' in err and '/nonexistent/qemu not found' in err, 'missing QEMU: %r' % err
    rc, out, err = run(build, ['--', 'true'], env={'VGI_GUEST_KERNEL': '/nonexistent/vmlinuz'}, need_vm=False)
    assert rc == 125 and 'kernel /nonexistent/vmlinuz' in err, 'missing kernel: %r' % err
    rc, out, err = run(build, ['--vgi-gpu', '/nonexistent/vgi-gpu', '--', 'true'], need_vm=False)
    assert rc == 125 and 'vgi-gpu not found at /nonexistent/vgi-gpu' in err, 'missing vgi-gpu: %r' % err
    rc, out, err = run(build, ['--memory', '5', '--', 'true'], need_vm=False)
    assert rc == 2 and '--memory' in err, 'bad option: %r' % err
    rc, out, err = run(build, [], need_vm=False)
    assert rc == 2 and 'no command' in err, 'no command: %r' % err


CHECKS = {'status': check_status, 'kmscube': check_kmscube, 'glmark2': check_glmark2,
          'screenshot': check_screenshot, 'errors': check_errors}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check', choices=sorted(CHECKS), required=True)
    ap.add_argument('--build-dir')
    args = ap.parse_args()
    build = vg.find_build_dir(args.build_dir)
    work = tempfile.mkdtemp(prefix='vgi-run-test-', dir='/var/tmp')
    try:
        os.chdir(work)
        CHECKS[args.check](build, work)
    finally:
        os.chdir('/')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    vg.test_main(main)
