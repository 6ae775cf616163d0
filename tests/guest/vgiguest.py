#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vgiguest: boot a real Linux guest under QEMU for vgi's integration tests.

Standard library only. See tests/guest/README.md for the API and the CLI.

The guest is Debian's kernel with a tiny initramfs (busybox-static and a
few modules). Its init mounts the host's root read-only over 9p, mounts
devtmpfs/proc/sys/tmpfs inside it, mounts the host's per-test output
directory writable at /run/out, chroots into the host root, runs the guest
script there, writes its exit status to /run/out/rc and powers off.
"""

import atexit
import ctypes
import errno
import glob
import hashlib
import json
import lzma
import gzip
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77                     # meson's "skipped" exit code
GUEST_OUT = '/run/out'        # where the output directory appears in the guest
FORMAT_VERSION = 3            # bump when the initramfs layout changes

# Module load order that works (FACTS.md); dependencies are resolved too.
DEFAULT_MODULES = [
    'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev',
    'virtio_pci', 'drm', 'drm_kms_helper', 'drm_shmem_helper', 'virtio_dma_buf',
    'virtio-gpu', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p', 'evdev',
    'virtio_input', 'uinput',
]

QEMU = os.environ.get('VGI_QEMU', 'qemu-system-x86_64')
REFERENCE_GPU = '/usr/lib/qemu/vhost-user-gpu'


class Skip(Exception):
    """Something this machine cannot have is missing: the test should exit 77."""


class GuestError(Exception):
    """The guest or QEMU failed (timeout, crash, no result)."""


class QMPError(Exception):
    """QMP answered a command with an error."""


def log(*args):
    print('[vgiguest %6.2f]' % (time.monotonic() - _T0), *args, file=sys.stderr, flush=True)


_T0 = time.monotonic()

# ---------------------------------------------------------------------------
# Process hygiene: every child runs in its own process group, dies with us
# (PR_SET_PDEATHSIG) and is killed at exit or on SIGTERM/SIGINT/SIGHUP.

_live = set()


def _set_pdeathsig():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _cleanup_all():
    for p in list(_live):
        try:
            p.kill()
        except Exception:
            pass


def _on_signal(signum, frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


atexit.register(_cleanup_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        if signal.getsignal(_s) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(_s, _on_signal)
    except (ValueError, OSError):
        pass


class Proc:
    """A child process in its own process group, with CPU/memory accounting.

    argv: list; stdout/stderr go to log_path (appended) unless given.
    """

    def __init__(self, argv, name, log_path=None, env=None, pass_fds=(), stdin=subprocess.DEVNULL):
        self.argv = [str(a) for a in argv]
        self.name = name
        self.log_path = log_path
        self.rusage = None
        self.last_stats = None
        out = subprocess.DEVNULL
        self._logf = None
        if log_path:
            self._logf = open(log_path, 'ab')
            out = self._logf
        try:
            self.popen = subprocess.Popen(self.argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                          env=env, pass_fds=pass_fds, start_new_session=True,
                                          preexec_fn=_set_pdeathsig)
        except FileNotFoundError as e:
            if self._logf:
                self._logf.close()
            raise Skip('%s: cannot run %s: %s' % (name, self.argv[0], e.strerror))
        self.pid = self.popen.pid
        _live.add(self)

    def poll(self):
        """Exit code or None; reaps with wait4 to keep the child's rusage."""
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.popen.returncode = -1
            return -1
        if pid == 0:
            return None
        self.rusage = ru
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(self.pid, signal.SIGKILL)   # leftovers of its group
        _live.discard(self)
        if self._logf:
            self._logf.close()
        return self.popen.returncode

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.poll()
            if rc is not None:
                return rc
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def stats(self):
        """{'cpu_s', 'peak_rss_kb', 'rss_kb'} of the running process (from /proc),
        or of the exited one (from wait4's rusage)."""
        if self.popen.returncode is None:
            try:
                with open('/proc/%d/stat' % self.pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                tck = os.sysconf('SC_CLK_TCK')
                cpu = (int(fields[11]) + int(fields[12])) / tck
                hwm = rss = 0
                with open('/proc/%d/status' % self.pid) as f:
                    for line in f:
                        if line.startswith('VmHWM:'):
                            hwm = int(line.split()[1])
                        elif line.startswith('VmRSS:'):
                            rss = int(line.split()[1])
                self.last_stats = {'cpu_s': cpu, 'peak_rss_kb': hwm, 'rss_kb': rss}
                return dict(self.last_stats)
            except (OSError, IndexError, ValueError):
                pass
        if self.rusage is not None:
            return {'cpu_s': self.rusage.ru_utime + self.rusage.ru_stime,
                    'peak_rss_kb': self.rusage.ru_maxrss, 'rss_kb': 0}
        return dict(self.last_stats) if self.last_stats else None

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        """Ask it to stop (sig to the process), then SIGKILL its group. Returns the exit code."""
        if self.poll() is not None:
            return self.popen.returncode
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            rc = self.wait(5.0)
        return rc

    def kill(self):
        if self.popen.returncode is None:
            _kill_group(self.pid, signal.SIGKILL)
            self.wait(5.0)
        _live.discard(self)
        if self._logf and not self._logf.closed:
            self._logf.close()


# ---------------------------------------------------------------------------
# Images: PPM (P6) and PNG (8-bit, non-interlaced) readers, a PNG writer.

class Image:
    """RGB image: width, height, data (bytes, 3 per pixel, row-major).
    alpha: bytes (1 per pixel) or None."""

    def __init__(self, width, height, data, alpha=None):
        self.width, self.height, self.data, self.alpha = width, height, bytes(data), alpha

    def pixel(self, x, y):
        o = (y * self.width + x) * 3
        return tuple(self.data[o:o + 3])

    def row(self, y):
        o = y * self.width * 3
        return self.data[o:o + self.width * 3]

    def crop(self, x, y, w, h):
        rows = [self.data[((y + j) * self.width + x) * 3:((y + j) * self.width + x + w) * 3] for j in range(h)]
        a = None
        if self.alpha is not None:
            a = b''.join(self.alpha[(y + j) * self.width + x:(y + j) * self.width + x + w] for j in range(h))
        return Image(w, h, b''.join(rows), a)

    def count_not(self, rgb, x=0, y=0, w=None, h=None):
        """Number of pixels in the rectangle that differ from rgb."""
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        px = bytes(rgb)
        n = 0
        for j in range(y, y + h):
            r = self.data[(j * self.width + x) * 3:(j * self.width + x + w) * 3]
            if r != px * w:
                n += sum(1 for i in range(0, len(r), 3) if r[i:i + 3] != px)
        return n

    def save_png(self, path):
        write_png(path, self.width, self.height, self.data, self.alpha)

    def save_ppm(self, path):
        with open(path, 'wb') as f:
            f.write(b'P6\n%d %d\n255\n' % (self.width, self.height))
            f.write(self.data)


def read_ppm(path):
    with open(path, 'rb') as f:
        raw = f.read()
    tokens = []
    pos = 0
    while len(tokens) < 4:
        m = re.compile(rb'\s*(#[^\n]*\n\s*)*(\S+)').match(raw, pos)
        if not m:
            raise ValueError('%s: bad PPM header' % path)
        tokens.append(m.group(2))
        pos = m.end()
    if tokens[0] != b'P6' or tokens[3] != b'255':
        raise ValueError('%s: not an 8-bit P6 PPM' % path)
    w, h = int(tokens[1]), int(tokens[2])
    pos += 1
    data = raw[pos:pos + w * h * 3]
    if len(data) != w * h * 3:
        raise ValueError('%s: short PPM' % path)
    return Image(w, h, data)


def _unfilter(raw, w, h, bpp):
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    pos = 0
    for y in range(h):
        ft = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if ft == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif ft == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ft == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ft == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 0xff
        elif ft != 0:
            raise ValueError('bad PNG filter %d' % ft)
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return out


def read_png(path):
    """8-bit gray/RGB/RGBA/gray+alpha, non-interlaced PNG -> Image (alpha kept)."""
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('%s: not a PNG' % path)
    pos = 8
    idat = []
    w = h = depth = ctype = interlace = None
    while pos < len(raw):
        n, typ = struct.unpack('>I4s', raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
        elif typ == b'IDAT':
            idat.append(body)
        elif typ == b'IEND':
            break
    if depth != 8 or interlace != 0 or ctype not in (0, 2, 4, 6):
        raise ValueError('%s: unsupported PNG (depth %s, color type %s, interlace %s)' %
                         (path, depth, ctype, interlace))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    px = _unfilter(zlib.decompress(b''.join(idat)), w, h, bpp)
    alpha = None
    if ctype == 2:
        rgb = bytes(px)
    elif ctype == 6:
        rgb = bytearray(w * h * 3)
        rgb[0::3] = px[0::4]
        rgb[1::3] = px[1::4]
        rgb[2::3] = px[2::4]
        alpha = bytes(px[3::4])
    elif ctype == 0:
        rgb = bytearray(w * h * 3)
        rgb[0::3] = px
        rgb[1::3] = px
        rgb[2::3] = px
    else:
        rgb = bytearray(w * h * 3)
        rgb[0::3] = px[0::2]
        rgb[1::3] = px[0::2]
        rgb[2::3] = px[0::2]
        alpha = bytes(px[1::2])
    return Image(w, h, rgb, alpha)


def read_image(path):
    with open(path, 'rb') as f:
        magic = f.read(8)
    if magic.startswith(b'\x89PNG'):
        return read_png(path)
    return read_ppm(path)


def write_png(path, w, h, rgb, alpha=None):
    if alpha is not None:
        px = bytearray(w * h * 4)
        px[0::4] = rgb[0::3]
        px[1::4] = rgb[1::3]
        px[2::4] = rgb[2::3]
        px[3::4] = alpha
        bpp, ctype = 4, 6
    else:
        px, bpp, ctype = rgb, 3, 2
    stride = w * bpp
    raw = b''.join(b'\0' + bytes(px[y * stride:(y + 1) * stride]) for y in range(h))

    def chunk(t, b):
        return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ctype, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


# The deterministic pattern kms-pattern draws (tests/guest/kms-pattern.c,
# pattern_pixel()): keep the two in sync.
def pattern_rgb(x, y, seed=0):
    r = (x + 3 * y + seed) & 0xff
    g = (y * 2 + (x >> 4) + 5 * seed) & 0xff
    b = ((x >> 3) ^ (y >> 3) ^ seed) & 0xff
    return r, g, b


def cursor_rgba(x, y):
    """kms-pattern's 64x64 cursor (cursor_pixel()): (r, g, b, a), premultiplied."""
    if x + y >= 64:
        return 0, 0, 0, 0
    return (x * 4) & 0xff, (y * 4) & 0xff, 0x80, 0xff


def cursor_image_rgba():
    return b''.join(bytes(cursor_rgba(x, y)) for y in range(64) for x in range(64))


def pattern_image(w, h, seed=0):
    data = bytearray(w * h * 3)
    for y in range(h):
        row = bytearray(w * 3)
        for x in range(w):
            row[x * 3:x * 3 + 3] = bytes(pattern_rgb(x, y, seed))
        data[y * w * 3:(y + 1) * w * 3] = row
    return Image(w, h, data)


def compare_images(got, want):
    """None if equal, else a short description of the first differences."""
    if (got.width, got.height) != (want.width, want.height):
        return 'size %dx%d, expected %dx%d' % (got.width, got.height, want.width, want.height)
    if got.data == want.data:
        return None
    bad = 0
    first = []
    for y in range(got.height):
        if got.row(y) == want.row(y):
            continue
        for x in range(got.width):
            if got.pixel(x, y) != want.pixel(x, y):
                bad += 1
                if len(first) < 5:
                    first.append('(%d,%d) got %s want %s' % (x, y, got.pixel(x, y), want.pixel(x, y)))
    return '%d pixels differ; first: %s' % (bad, '; '.join(first))


# ---------------------------------------------------------------------------
# Initramfs

def find_kernel():
    """(vmlinuz path, kernel version) of the newest /boot/vmlinuz-* with modules."""
    k = os.environ.get('VGI_GUEST_KERNEL')
    if k:
        ver = os.environ.get('VGI_GUEST_KVER') or os.path.basename(k).replace('vmlinuz-', '')
        return k, ver
    cands = []
    for path in glob.glob('/boot/vmlinuz-*'):
        ver = path[len('/boot/vmlinuz-'):]
        if os.path.isdir('/lib/modules/' + ver) and os.access(path, os.R_OK):
            cands.append((os.stat(path).st_mtime, path, ver))
    if not cands:
        raise Skip('no readable /boot/vmlinuz-* with /lib/modules (install linux-image-amd64)')
    cands.sort()
    return cands[-1][1], cands[-1][2]


def _module_paths(kver, name):
    """Paths of name and its dependencies, dependencies first."""
    try:
        out = subprocess.run(['modprobe', '-S', kver, '--show-depends', name], capture_output=True,
                             text=True, timeout=30)
        if out.returncode == 0:
            paths = []
            for line in out.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == 'insmod':
                    paths.append(parts[1])
            return paths
    except (OSError, subprocess.TimeoutExpired):
        pass
    # Fallback: search the tree (no dependency resolution).
    base = '/lib/modules/%s' % kver
    alt = {name, name.replace('-', '_'), name.replace('_', '-')}
    for root, _, files in os.walk(base):
        for f in files:
            stem = f.split('.ko')[0]
            if '.ko' in f and stem in alt:
                return [os.path.join(root, f)]
    return []


def _read_module(path):
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.xz'):
        return lzma.decompress(data)
    if path.endswith('.gz'):
        return gzip.decompress(data)
    if path.endswith('.zst'):
        out = subprocess.run(['zstd', '-dc', path], capture_output=True, timeout=60)
        if out.returncode != 0:
            raise Skip('cannot decompress %s (install zstd)' % path)
        return out.stdout
    return data


INIT_SCRIPT = r'''#!/bin/sh
# vgi guest init (generated by tests/guest/vgiguest.py)
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /modules.order); do
  insmod /lib/modules/$m || echo "vgi-init: insmod $m failed"
done
fail() { echo "vgi-init: $*"; echo "vgi-init: FAILED"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /mnt || fail "mounting hostroot"
mount -t devtmpfs dev /mnt/dev || fail "devtmpfs"
mount -t proc proc /mnt/proc
mount -t sysfs sys /mnt/sys
mount -t tmpfs -o mode=1777 tmp /mnt/tmp
mount -t tmpfs run /mnt/run
mkdir -p /mnt/run/out /mnt/dev/pts /mnt/dev/shm
mount -t devpts devpts /mnt/dev/pts 2>/dev/null
mount -t tmpfs shm /mnt/dev/shm 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /mnt/run/out || fail "mounting out"
# Host directories hidden under the guest's own /tmp or /run (e.g. a build tree in /tmp).
if [ -f /mnt/run/out/.vgi-mounts ]; then
  while read tag path; do
    mkdir -p "/mnt$path" && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 "$tag" "/mnt$path" ||
      fail "mounting $path"
  done < /mnt/run/out/.vgi-mounts
fi
echo "vgi-init: running guest script"
chroot /mnt /bin/sh -c '. /run/out/.vgi-env; cd "${VGI_CWD:-/}"; exec /bin/sh /run/out/guest.sh' </dev/console >/dev/console 2>&1
rc=$?
dmesg > /mnt/run/out/dmesg.txt
echo $rc > /mnt/run/out/rc.tmp && mv /mnt/run/out/rc.tmp /mnt/run/out/rc
echo "vgi-init: guest script exited with $rc"
sync
umount /mnt/run/out 2>/dev/null
poweroff -f
'''

# Sourced before the guest script (inside the chroot).
GUEST_PRELUDE = r'''# vgi guest prelude (generated by tests/guest/vgiguest.py)
# vgi_signal NAME: create $VGI_OUT/NAME (the host waits for it with Guest.wait_file).
vgi_signal() { : > "$VGI_OUT/$1"; }
# vgi_wait NAME [SECONDS]: wait until the host created $VGI_OUT/NAME (Guest.signal); 1 on timeout.
vgi_wait() {
  _n=$(( ${2:-60} * 20 ))
  while [ ! -e "$VGI_OUT/$1" ]; do
    _n=$((_n - 1)); [ $_n -le 0 ] && { echo "vgi_wait: timeout waiting for $1" >&2; return 1; }
    sleep 0.05
  done
}
'''


def _newc(name, mode, data=b'', rdev=(0, 0), ino=[1000]):
    ino[0] += 1
    name_b = name.encode() + b'\0'
    hdr = b'070701' + b''.join(b'%08X' % v for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
    out = hdr + name_b
    out += b'\0' * (-len(out) % 4)
    out += data
    out += b'\0' * (-len(out) % 4)
    return out


def _elf_interp(elf):
    """True if the 64-bit little-endian ELF image has a PT_INTERP (is dynamically linked)."""
    if elf[:4] != b'\x7fELF' or elf[4] != 2:
        return False
    phoff, = struct.unpack_from('<Q', elf, 32)
    phentsize, phnum = struct.unpack_from('<HH', elf, 54)
    for i in range(phnum):
        if struct.unpack_from('<I', elf, phoff + i * phentsize)[0] == 3:
            return True
    return False


def default_cache_dir(build_dir=None):
    d = os.environ.get('VGI_GUEST_CACHE')
    if d:
        return d
    if build_dir:
        return os.path.join(build_dir, 'tests', 'guest', 'cache')
    return os.path.join(os.path.expanduser('~'), '.cache', 'vgi-guest')


def build_initramfs(cache_dir=None, kver=None, modules=None, busybox=None):
    """Build (or reuse from cache_dir) the initramfs; returns its path."""
    if kver is None:
        _, kver = find_kernel()
    modules = list(modules or DEFAULT_MODULES)
    busybox = busybox or shutil.which('busybox', path='/bin:/usr/bin:/sbin:/usr/sbin') or '/bin/busybox'
    if not os.path.exists(busybox):
        raise Skip('busybox not found (install busybox-static)')
    cache_dir = cache_dir or default_cache_dir()
    paths = []
    for m in modules:
        p = _module_paths(kver, m)
        if not p:
            raise Skip('kernel module %s not found for %s' % (m, kver))
        for q in p:
            if q not in paths:
                paths.append(q)
    key = hashlib.sha256()
    key.update(json.dumps([FORMAT_VERSION, kver, paths, INIT_SCRIPT]).encode())
    for p in paths + [busybox]:
        st = os.stat(p)
        key.update(('%s %d %d' % (p, st.st_size, int(st.st_mtime))).encode())
    out = os.path.join(cache_dir, 'initramfs-%s-%s.cpio.gz' % (kver, key.hexdigest()[:16]))
    if os.path.exists(out):
        return out
    with open(busybox, 'rb') as f:
        bb = f.read()
    if _elf_interp(bb):
        raise Skip('%s is not statically linked (install busybox-static)' % busybox)
    cpio = bytearray()
    for d in ('bin', 'sbin', 'dev', 'proc', 'sys', 'mnt', 'lib', 'lib/modules', 'tmp', 'run'):
        cpio += _newc(d, 0o040755)
    cpio += _newc('dev/console', 0o020600, rdev=(5, 1))
    cpio += _newc('bin/busybox', 0o100755, bb)
    for applet in ('sh', 'mount', 'umount', 'insmod', 'mkdir', 'cat', 'echo', 'poweroff', 'chroot',
                   'dmesg', 'mv', 'sync', 'sleep', 'ls', 'mknod'):
        cpio += _newc('bin/' + applet, 0o120777, b'busybox')
    order = []
    for p in paths:
        base = os.path.basename(p).split('.ko')[0] + '.ko'
        cpio += _newc('lib/modules/' + base, 0o100644, _read_module(p))
        order.append(base)
    cpio += _newc('modules.order', 0o100644, ('\n'.join(order) + '\n').encode())
    cpio += _newc('init', 0o100755, INIT_SCRIPT.encode())
    cpio += _newc('TRAILER!!!', 0)
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix='.initramfs-')
    with os.fdopen(fd, 'wb') as f:
        f.write(gzip.compress(bytes(cpio), 6))
    os.rename(tmp, out)
    return out


# ---------------------------------------------------------------------------
# QMP

class QMP:
    """Minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=30.0):
        self.path = path
        self.timeout = timeout
        self.events = []
        self.sock = None
        self._buf = b''

    def connect(self, deadline, alive=None):
        """Connect and negotiate capabilities, retrying until deadline: the
        socket may not exist yet, refuse, or drop a connection QEMU queued
        before it was ready (reset or EOF before the greeting). alive(): a
        callable that returns False once retrying is pointless (QEMU exited)."""
        last = None
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.sock, self._buf = s, b''
                greeting = self._read_msg(deadline)
                if 'QMP' not in greeting:
                    raise GuestError('unexpected QMP greeting %r' % greeting)
                self.command('qmp_capabilities')
                return
            except (OSError, GuestError) as e:
                # A timeout with a live socket is final; anything else may be a start-up race.
                s.close()
                self.sock = None
                last = e
                if isinstance(e, GuestError) and 'timeout' in str(e):
                    raise GuestError('QMP %s: no greeting/capabilities answer before the deadline' % self.path)
            if alive is not None and not alive():
                raise GuestError('QMP %s: QEMU is gone (last error: %s)' % (self.path, last))
            if time.monotonic() > deadline:
                raise GuestError('QMP %s: no working connection before the deadline (last error: %s)' %
                                 (self.path, last))
            time.sleep(0.05)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _read_msg(self, deadline):
        while b'\n' not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError('QMP: timeout')
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(65536)
            except OSError as e:
                raise GuestError('QMP: %s' % e)
            if not chunk:
                raise GuestError('QMP: connection closed')
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def command(self, name, timeout=None, **args):
        """Run a command and return its 'return' value; QMPError on error."""
        if not self.sock:
            raise GuestError('QMP not connected')
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        try:
            self.sock.sendall(json.dumps(msg).encode() + b'\n')
        except OSError as e:
            raise GuestError('QMP: %s' % e)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            r = self._read_msg(deadline)
            if 'event' in r:
                self.events.append(r)
                continue
            if 'error' in r:
                raise QMPError('%s: %s' % (name, r['error'].get('desc', r['error'])))
            return r.get('return')

    def hmp(self, cmdline):
        return self.command('human-monitor-command', **{'command-line': cmdline})

    def screendump(self, path, fmt=None, device=None, head=None):
        """Write the console to path (format from the extension unless fmt: 'png' or 'ppm')."""
        fmt = fmt or ('png' if path.endswith('.png') else 'ppm')
        args = {'filename': os.path.abspath(path), 'format': fmt}
        if device is not None:
            args['device'] = device
        if head is not None:
            args['head'] = head
        self.command('screendump', **args)
        return path

    def screenshot(self, device=None, head=None, tmpdir=None):
        """screendump to a temporary PPM, returned as an Image."""
        fd, path = tempfile.mkstemp(suffix='.ppm', dir=tmpdir)
        os.close(fd)
        try:
            self.screendump(path, 'ppm', device, head)
            return read_ppm(path)
        finally:
            os.unlink(path)

    def query_mice(self):
        return self.command('query-mice')

    def input_send_event(self, events, device=None, head=None):
        """events: QMP InputEvent dicts, e.g. {'type': 'key', 'data': {...}}."""
        args = {'events': events}
        if device is not None:
            args['device'] = device
        if head is not None:
            args['head'] = head
        return self.command('input-send-event', **args)

    def send_key(self, qcode, down=True):
        return self.input_send_event([{'type': 'key', 'data': {
            'down': down, 'key': {'type': 'qcode', 'data': qcode}}}])

    def quit(self):
        try:
            self.command('quit', timeout=5)
        except (GuestError, QMPError, OSError):
            pass


# ---------------------------------------------------------------------------
# Minimal RFB (VNC) client: enough to see the cursor QEMU's VNC server holds.

class VNC:
    """Connects to QEMU's VNC server (-vnc unix:PATH) and records the cursor
    shape it sends (alpha-cursor / rich-cursor pseudo-encodings). QEMU's VNC
    server does not send cursor positions."""

    ENC_RAW, ENC_RICH_CURSOR, ENC_ALPHA_CURSOR = 0, -239, -314

    def __init__(self, path, timeout=10.0):
        self.path, self.timeout = path, timeout
        self.sock = None
        self.cursor = None          # dict(hot_x, hot_y, width, height, rgba bytes)
        self.cursor_updates = 0
        self.width = self.height = 0
        self._buf = b''

    def _recv(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError('VNC: timeout')
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                c = self.sock.recv(1 << 20)
                if not c:
                    raise GuestError('VNC: connection closed')
                self._buf += c
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def connect(self, deadline):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise GuestError('VNC socket %s did not appear' % self.path)
                time.sleep(0.05)
        self.sock = s
        d = time.monotonic() + self.timeout
        self._recv(12, d)
        s.sendall(b'RFB 003.008\n')
        n = self._recv(1, d)[0]
        types = self._recv(n, d)
        if 1 not in types:
            raise GuestError('VNC: no "None" security type')
        s.sendall(b'\x01')
        if struct.unpack('>I', self._recv(4, d))[0] != 0:
            raise GuestError('VNC: security failed')
        s.sendall(b'\x01')    # shared
        self.width, self.height = struct.unpack('>HH', self._recv(4, d))
        self._recv(16, d)
        nlen = struct.unpack('>I', self._recv(4, d))[0]
        self._recv(nlen, d)
        # 32 bpp, depth 24, little endian, true colour, r<<16 g<<8 b
        s.sendall(struct.pack('>BxxxBBBBHHHBBBxxx', 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        encs = [self.ENC_ALPHA_CURSOR, self.ENC_RICH_CURSOR, self.ENC_RAW]
        s.sendall(struct.pack('>BxH', 2, len(encs)) + b''.join(struct.pack('>i', e) for e in encs))
        self.request(False)

    def request(self, incremental=True):
        self.sock.sendall(struct.pack('>BBHHHH', 3, 1 if incremental else 0, 0, 0,
                                      max(self.width, 1), max(self.height, 1)))

    def pump(self, seconds):
        """Read server messages for up to seconds; returns when idle for a while."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], min(0.2, max(0, end - time.monotonic())))
            if not r and not self._buf:
                continue
            d = time.monotonic() + self.timeout
            t = self._recv(1, d)[0]
            if t == 0:
                nrect = struct.unpack('>xH', self._recv(3, d))[0]
                for _ in range(nrect):
                    x, y, w, h, enc = struct.unpack('>HHHHi', self._recv(12, d))
                    if enc == self.ENC_RAW:
                        self._recv(w * h * 4, d)
                    elif enc == self.ENC_ALPHA_CURSOR:
                        sub = struct.unpack('>i', self._recv(4, d))[0]
                        if sub != self.ENC_RAW:
                            raise GuestError('VNC: alpha cursor in encoding %d' % sub)
                        bgra = self._recv(w * h * 4, d)   # QEMU sends its uint32 ARGB as is (LE)
                        rgba = bytearray(len(bgra))
                        rgba[0::4], rgba[1::4] = bgra[2::4], bgra[1::4]
                        rgba[2::4], rgba[3::4] = bgra[0::4], bgra[3::4]
                        self.cursor = {'hot_x': x, 'hot_y': y, 'width': w, 'height': h, 'rgba': bytes(rgba)}
                        self.cursor_updates += 1
                    elif enc == self.ENC_RICH_CURSOR:
                        px = self._recv(w * h * 4, d)
                        mask = self._recv(((w + 7) // 8) * h, d)
                        rgba = bytearray()
                        for j in range(h):
                            for i in range(w):
                                b_, g_, r_ = px[(j * w + i) * 4:(j * w + i) * 4 + 3]
                                on = mask[j * ((w + 7) // 8) + i // 8] & (0x80 >> (i % 8))
                                rgba += bytes((r_, g_, b_, 255 if on else 0))
                        self.cursor = {'hot_x': x, 'hot_y': y, 'width': w, 'height': h, 'rgba': bytes(rgba)}
                        self.cursor_updates += 1
                    elif enc == -223:          # DesktopSize
                        self.width, self.height = w, h
                    else:
                        raise GuestError('VNC: unexpected encoding %d' % enc)
                self.request(True)
            elif t == 1:
                _, n = struct.unpack('>xHH', self._recv(5, d))
                self._recv(6 * n, d)
            elif t == 2:
                pass
            elif t == 3:
                n = struct.unpack('>xxxI', self._recv(7, d))[0]
                self._recv(n, d)
            else:
                raise GuestError('VNC: unexpected message %d' % t)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


# ---------------------------------------------------------------------------
# vhost-user tap: a transparent proxy between QEMU and a vhost-user GPU
# backend that records the display protocol (docs/interop/vhost-user-gpu.rst)
# the backend sends QEMU. QEMU cannot show a vhost-user-gpu cursor on this
# machine (every display listener must support DMABUF, which needs a render
# node), so the cursor messages are observed on the wire QEMU reads them from.

VHOST_USER_GPU_SET_SOCKET = 33
GPU_MSG_NAMES = {1: 'GET_PROTOCOL_FEATURES', 2: 'SET_PROTOCOL_FEATURES', 3: 'GET_DISPLAY_INFO',
                 4: 'CURSOR_POS', 5: 'CURSOR_POS_HIDE', 6: 'CURSOR_UPDATE', 7: 'SCANOUT', 8: 'UPDATE',
                 9: 'DMABUF_SCANOUT', 10: 'DMABUF_UPDATE', 11: 'GET_EDID', 12: 'DMABUF_SCANOUT2'}


class _Stream:
    """One direction of a message stream (12-byte header: request, flags, size)."""

    def __init__(self, src, dst, direction, on_msg=None):
        self.src, self.dst, self.direction, self.on_msg = src, dst, direction, on_msg
        self.fds = []

    def _read(self, n):
        """Exactly n bytes (collecting any fds that come with them), or None on EOF."""
        out = bytearray()
        while len(out) < n:
            try:
                data, anc, _, _ = self.src.recvmsg(n - len(out), socket.CMSG_SPACE(16 * 4))
            except InterruptedError:
                continue
            except OSError:
                return None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    k = len(cdata) // 4
                    self.fds += list(struct.unpack('%di' % k, cdata[:k * 4]))
            if not data:
                return None
            out += data
        return bytes(out)

    def pump(self):
        """Forward one message (read exactly, so fds stay with their message); False on EOF."""
        hdr = self._read(12)
        if hdr is None:
            return False
        req, flags, size = struct.unpack('<III', hdr)
        body = self._read(size) if size else b''
        if body is None:
            return False
        msg = hdr + body
        fds, self.fds = self.fds, []
        try:
            if self.on_msg:
                msg, fds = self.on_msg(self, req, flags, msg, fds)
            if fds:
                self.dst.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                          struct.pack('%di' % len(fds), *fds))])
            else:
                self.dst.sendall(msg)
        except OSError:
            return False
        finally:
            for fd in fds:
                os.close(fd)
        return True


class GpuTap:
    """Listens on path (QEMU connects here) and forwards to the backend's
    socket; records every display-protocol message of the backend in
    self.messages as dicts {'t', 'dir', 'name', 'request', 'flags', 'size', ...}
    with parsed fields for cursor/scanout/update messages."""

    def __init__(self, path, backend_path):
        import threading
        self.path, self.backend_path = path, backend_path
        self.messages = []
        self.lock = threading.Lock()
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        self.lsock.listen(1)
        self._stop_r, self._stop_w = os.pipe()
        self._socks = []
        self._threads = []
        self.error = None
        self.thread = threading.Thread(target=self._run, name='gpu-tap', daemon=True)
        self.thread.start()

    def _record(self, direction, req, flags, msg):
        p = msg[12:]
        m = {'t': time.monotonic(), 'dir': direction, 'request': req, 'flags': flags,
             'size': len(p), 'name': GPU_MSG_NAMES.get(req, str(req))}
        if req in (4, 5, 6) and len(p) >= 12:
            m['scanout'], m['x'], m['y'] = struct.unpack_from('<III', p)
            if req == 6 and len(p) >= 20 + 64 * 64 * 4:
                m['hot_x'], m['hot_y'] = struct.unpack_from('<II', p, 12)
                m['data'] = p[20:20 + 64 * 64 * 4]        # ARGB8888 little-endian words
        elif req == 7 and len(p) >= 12:
            m['scanout'], m['width'], m['height'] = struct.unpack_from('<III', p)
        elif req == 8 and len(p) >= 20:
            m['scanout'], m['x'], m['y'], m['width'], m['height'] = struct.unpack_from('<IIIII', p)
        with self.lock:
            self.messages.append(m)

    def _run(self):
        try:
            self._serve()
        except Exception as e:      # reported by the test through self.error
            self.error = e

    def _serve(self):
        import threading
        r, _, _ = select.select([self.lsock, self._stop_r], [], [])
        if self._stop_r in r:
            return
        qemu, _ = self.lsock.accept()
        be = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        be.connect(self.backend_path)
        self._socks = [qemu, be]

        def forward(stream):
            # One thread per direction, so a blocked writer never stalls another stream.
            try:
                while stream.pump():
                    pass
            finally:
                try:
                    stream.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        def start(stream):
            t = threading.Thread(target=forward, args=(stream,), daemon=True)
            t.start()
            self._threads.append(t)

        def record(stream, req, flags, msg, fds):
            self._record(stream.direction, req, flags, msg)
            return msg, fds

        def on_master(stream, req, flags, msg, fds):
            if req == VHOST_USER_GPU_SET_SOCKET and len(fds) == 1 and not flags & 0x4:
                qemu_gpu = socket.socket(fileno=os.dup(fds[0]))
                mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                self._socks += [qemu_gpu, mine]
                start(_Stream(mine, qemu_gpu, 'backend->qemu', record))
                start(_Stream(qemu_gpu, mine, 'qemu->backend', record))
                os.close(fds[0])
                fd = os.dup(theirs.fileno())
                theirs.close()
                return msg, [fd]
            return msg, fds
        start(_Stream(qemu, be, 'qemu->backend', on_master))
        start(_Stream(be, qemu, 'backend->qemu'))

    def find(self, name, direction='backend->qemu'):
        with self.lock:
            return [m for m in self.messages if m['name'] == name and m['dir'] == direction]

    def close(self):
        try:
            os.write(self._stop_w, b'x')
        except OSError:
            pass
        self.thread.join(5)
        for sk in self._socks:
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        for sk in self._socks:
            sk.close()
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.lsock.close()


# ---------------------------------------------------------------------------
# Backends and the guest

class Backend(Proc):
    """A vhost-user backend listening on a unix socket.

    argv may contain '{socket}' (replaced by the socket path); if it does
    not, '--socket-path=SOCK' is appended."""

    def __init__(self, argv, name, sock, log_path, env=None):
        argv = [str(a) for a in argv]
        if not any('{socket}' in a for a in argv):
            argv.append('--socket-path={socket}')
        argv = [a.replace('{socket}', sock) for a in argv]
        self.sock = sock
        if os.path.exists(sock):
            os.unlink(sock)
        super().__init__(argv, name, log_path, env)

    def wait_socket(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock):
            if self.poll() is not None:
                raise GuestError('%s exited with %s before creating %s (see %s)' %
                                 (self.name, self.popen.returncode, self.sock, self.log_path))
            if time.monotonic() > deadline:
                raise GuestError('%s did not create %s in %.0f s' % (self.name, self.sock, timeout))
            time.sleep(0.02)
        # bind() comes before listen(): QEMU's connect fails (and QEMU exits) in between.
        while not unix_socket_listening(self.sock):
            if self.poll() is not None:
                raise GuestError('%s exited with %s before listening on %s (see %s)' %
                                 (self.name, self.popen.returncode, self.sock, self.log_path))
            if time.monotonic() > deadline:
                raise GuestError('%s created %s but did not listen on it in %.0f s' % (self.name, self.sock, timeout))
            time.sleep(0.02)


def unix_socket_listening(path):
    """True if a unix socket bound to path is listening (/proc/net/unix: the
    __SO_ACCEPTCON flag, 0x10000), without connecting to it (a connection
    would be the backend's one front-end)."""
    path = os.path.abspath(path)
    try:
        with open('/proc/net/unix') as f:
            next(f)
            for line in f:
                fields = line.split(None, 7)
                if len(fields) == 8 and fields[7].rstrip('\n') == path and int(fields[3], 16) & 0x10000:
                    return True
    except (OSError, ValueError, StopIteration):
        return os.path.exists(path)      # no /proc: fall back to the file
    return False


def find_build_dir(hint=None):
    for d in (hint, os.environ.get('VGI_BUILD_ROOT'), os.environ.get('MESON_BUILD_ROOT')):
        if d and os.path.isdir(d):
            return os.path.abspath(d)
    return None


def vgi_gpu_path(build_dir):
    """Path of the built vgi-gpu, or None."""
    p = os.path.join(build_dir or '', 'tools', 'vgi-gpu', 'vgi-gpu')
    return p if build_dir and os.access(p, os.X_OK) else None


def gpu_backend_argv(kind, build_dir=None, extra=()):
    """argv for a GPU backend: kind 'vgi' (build_dir/tools/vgi-gpu/vgi-gpu) or
    'reference' (/usr/lib/qemu/vhost-user-gpu). Skip if it is missing."""
    if kind == 'vgi':
        p = vgi_gpu_path(build_dir)
        if not p:
            raise Skip('vgi-gpu is not built (%s/tools/vgi-gpu/vgi-gpu missing)' % build_dir)
        return [p, '--socket-path={socket}'] + list(extra)
    if kind == 'reference':
        if not os.access(REFERENCE_GPU, os.X_OK):
            raise Skip('%s missing (install qemu-system-gui from bookworm-backports)' % REFERENCE_GPU)
        return [REFERENCE_GPU, '--socket-path={socket}'] + list(extra)
    raise ValueError('unknown backend kind %r' % kind)


def check_qemu():
    """Raise Skip unless a QEMU that can run vhost-user under TCG (>= 8) is present."""
    exe = shutil.which(QEMU)
    if not exe:
        raise Skip('%s not found (install qemu-system-x86 from bookworm-backports)' % QEMU)
    out = subprocess.run([exe, '--version'], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r'version (\d+)\.(\d+)', out)
    if not m or int(m.group(1)) < 8:
        raise Skip('%s is too old for vhost-user under TCG (need >= 8; bookworm-backports has 10)' %
                   out.split('\n')[0])
    return exe


class Guest:
    """One guest boot. Use as a context manager (always cleans up).

    out_dir:   host directory for everything of this boot (created; the regular
               files directly in it are deleted first); appears writable in
               the guest at /run/out ($VGI_OUT).
    script:    shell script run in the guest (as root, /bin/sh, chrooted into
               the host root, cwd build_dir). Its exit status is wait()'s result.
    gpu:       None, 'vhost-user', 'builtin' (virtio-gpu-pci) or 'builtin-gl'
               (virtio-gpu-gl-pci with -display gtk,gl=on under Xvfb).
    gpu_backend: argv of the vhost-user GPU backend ('{socket}' is replaced;
               see gpu_backend_argv()).
    gpu_props: extra -device properties of the GPU, e.g. {'max_outputs': 2}.
    devices:   extra vhost-user devices: list of dicts {'device':
               'vhost-user-input-pci', 'backend': argv, 'props': {...},
               'name': 'input0'}; each gets its own socket and chardev.
    qemu_args: extra QEMU arguments (e.g. ['-device', 'virtio-keyboard-pci']).
    display:   QEMU -display value (default 'none'; 'gtk,gl=on' for builtin-gl).
    vnc:       True to add a VNC server on a unix socket (self.vnc_path); QEMU
               refuses VNC with vhost-user-gpu (its console needs DMABUF).
    gpu_tap:   True to put a GpuTap between QEMU and the vhost-user GPU
               backend (self.tap records the display protocol messages).
    env:       extra environment variables for the guest script.
    cwd:       the guest script's working directory (default build_dir, else /);
               under /tmp or /run it gets its own read-only share.
    timeout:   seconds for the whole boot (wait() default).
    """

    GPU_ID = 'gpu0'

    def __init__(self, out_dir, script='true', gpu=None, gpu_backend=None, gpu_props=None,
                 devices=(), qemu_args=(), build_dir=None, memory_mb=1024, smp=1, timeout=120,
                 display=None, vnc=False, env=None, modules=None, kernel_args='', cache_dir=None,
                 name='guest', gpu_tap=False, gpu_socket=None, reboot=False, cwd=None):
        self.out_dir = os.path.abspath(out_dir)
        self.script = script
        self.gpu = gpu
        self.gpu_backend = gpu_backend
        self.gpu_props = dict(gpu_props or {})
        self.devices = [dict(d) for d in devices]
        self.qemu_args = list(qemu_args)
        self.build_dir = find_build_dir(build_dir)
        self.memory_mb = memory_mb
        self.smp = smp
        self.timeout = timeout
        self.display = display
        self.vnc_enabled = vnc
        self.gpu_tap = gpu_tap
        self.gpu_socket = gpu_socket    # a backend the caller runs (listening there)
        self.reboot = reboot            # False: -no-reboot (a guest reboot or QMP system_reset ends QEMU)
        self.tap = None             # GpuTap when gpu_tap=True
        self.env = dict(env or {})
        self.cwd = os.path.abspath(cwd) if cwd else None
        self.modules = modules
        self.kernel_args = kernel_args
        self.cache_dir = cache_dir or default_cache_dir(self.build_dir)
        self.name = name
        self.backends = {}          # name -> Backend
        self.qemu = None
        self.xvfb = None
        self.x_display = None       # ':N' of the Xvfb started for gtk/sdl displays
        self.qmp = None
        self.vnc = None
        self.rc = None
        self.boot_s = None
        self._rundir = None
        self._t_start = None
        self.shares = []            # (mount tag, host path) of extra read-only 9p shares
        self.console_log = os.path.join(self.out_dir, 'console.log')
        self.qemu_log = os.path.join(self.out_dir, 'qemu.log')

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _prepare_out(self):
        os.makedirs(self.out_dir, exist_ok=True)
        # Stale signal files of an earlier boot would race with this one.
        for f in os.listdir(self.out_dir):
            p = os.path.join(self.out_dir, f)
            if os.path.isfile(p) or os.path.islink(p):
                os.unlink(p)
        env = {'VGI_OUT': GUEST_OUT, 'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
               'HOME': '/root', 'TERM': 'linux', 'LANG': 'C.UTF-8'}
        if self.build_dir:
            env['VGI_BUILD_ROOT'] = self.build_dir
            env['VGI_CWD'] = self.build_dir
        if self.cwd:
            env['VGI_CWD'] = self.cwd
        src = os.environ.get('VGI_SOURCE_ROOT') or os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))
        env['VGI_SOURCE_ROOT'] = src
        env.update({k: str(v) for k, v in self.env.items()})
        with open(os.path.join(self.out_dir, '.vgi-env'), 'w') as f:
            for k, v in env.items():
                f.write('export %s=%s\n' % (k, shlex.quote(v)))
        self.shares = self._hidden_shares()
        if self.shares:
            with open(os.path.join(self.out_dir, '.vgi-mounts'), 'w') as f:
                for tag, p in self.shares:
                    f.write('%s %s\n' % (tag, p))
        with open(os.path.join(self.out_dir, 'guest.sh'), 'w') as f:
            f.write(GUEST_PRELUDE + '# ---- guest script ----\n')
            f.write(self.script if self.script.endswith('\n') else self.script + '\n')

    def _start_xvfb(self):
        xvfb = shutil.which('Xvfb')
        if not xvfb:
            raise Skip('Xvfb not found (install xvfb)')
        r, w = os.pipe()
        self.xvfb = Proc([xvfb, '-displayfd', str(w), '-screen', '0', '1280x1024x24', '-nolisten', 'tcp',
                          '+extension', 'GLX'], 'Xvfb', os.path.join(self.out_dir, 'xvfb.log'), pass_fds=(w,))
        os.close(w)
        buf = b''
        deadline = time.monotonic() + 30
        while not buf.endswith(b'\n'):
            rr, _, _ = select.select([r], [], [], max(0, deadline - time.monotonic()))
            if not rr:
                os.close(r)
                raise GuestError('Xvfb did not start')
            c = os.read(r, 64)
            if not c:
                break
            buf += c
        os.close(r)
        if not buf.strip():
            raise GuestError('Xvfb failed (see %s)' % self.xvfb.log_path)
        return ':' + buf.decode().strip()

    def qemu_argv(self, initrd, kernel):
        m = self.memory_mb
        argv = [check_qemu(), '-nodefaults', '-no-user-config', '-machine', 'pc,accel=%s,memory-backend=mem' % os.environ.get('VGI_GUEST_ACCEL', 'tcg'),
                '-m', '%dM' % m, '-object', 'memory-backend-memfd,id=mem,size=%dM,share=on' % m,
                '-smp', str(self.smp), '-vga', 'none'] + ([] if self.reboot else ['-no-reboot']) + [
                '-kernel', kernel, '-initrd', initrd,
                '-append', ('console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init 8250.nr_uarts=1 '
                            'mitigations=off ' + self.kernel_args).strip(),
                '-chardev', 'file,id=ser0,path=%s' % self.console_log, '-serial', 'chardev:ser0',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
                '-virtfs', 'local,path=%s,mount_tag=out,security_model=none,multidevs=remap' % self.out_dir]
        for tag, p in self.shares:
            argv += ['-virtfs', 'local,path=%s,mount_tag=%s,security_model=none,readonly=on,multidevs=remap' % (
                p, tag)]
        display = self.display
        if self.gpu == 'vhost-user':
            sock = self.tap.path if self.tap else self._gpu_sock()
            argv += ['-chardev', 'socket,id=%s-chr,path=%s' % (self.GPU_ID, sock)]
            dev = 'vhost-user-gpu-pci,id=%s,chardev=%s-chr' % (self.GPU_ID, self.GPU_ID)
        elif self.gpu == 'builtin':
            dev = 'virtio-gpu-pci,id=%s' % self.GPU_ID
        elif self.gpu == 'builtin-gl':
            dev = 'virtio-gpu-gl-pci,id=%s' % self.GPU_ID
            display = display or 'gtk,gl=on'
        elif self.gpu is None:
            dev = None
        else:
            raise ValueError('unknown gpu %r' % self.gpu)
        if dev:
            dev += ''.join(',%s=%s' % (k, v) for k, v in self.gpu_props.items())
            argv += ['-device', dev]
        for d in self.devices:
            n = d['name']
            props = ''.join(',%s=%s' % (k, v) for k, v in d.get('props', {}).items())
            if 'backend' in d:
                argv += ['-chardev', 'socket,id=%s-chr,path=%s' % (n, self.backends[n].sock),
                         '-device', '%s,id=%s,chardev=%s-chr%s' % (d['device'], n, n, props)]
            else:
                argv += ['-device', '%s,id=%s%s' % (d['device'], n, props)]
        argv += ['-display', display or 'none']
        if self.vnc_enabled:
            argv += ['-vnc', 'unix:%s' % self.vnc_path]
        return argv + self.qemu_args

    def _hidden_shares(self):
        """Host directories the guest needs (build and source tree) that its own
        /tmp or /run would hide: they get their own read-only 9p shares."""
        src = os.environ.get('VGI_SOURCE_ROOT') or os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))
        paths = []
        for p in (self.build_dir, src, self.cwd):
            if not p:
                continue
            p = os.path.realpath(p)
            if re.match(r'/(dev|proc|sys)(/|$)', p):
                raise GuestError('%s is hidden in the guest (it mounts its own /dev, /proc, /sys)' % p)
            if re.match(r'/(tmp|run)/', p) and p not in paths:
                paths.append(p)
        # A directory inside another shared one needs no share of its own.
        paths = [p for p in paths if not any(q != p and p.startswith(q + '/') for q in paths)]
        return [('vgishare%d' % i, p) for i, p in enumerate(sorted(paths))]

    def start(self):
        """Build the initramfs, start the backends and QEMU, connect QMP."""
        self._t_start = time.monotonic()
        deadline = self._t_start + self.timeout
        kernel, kver = find_kernel()
        self._prepare_out()
        initrd = build_initramfs(self.cache_dir, kver, self.modules)
        # Sockets live in a short private directory (unix socket paths are limited to 108 bytes).
        self._rundir = tempfile.mkdtemp(prefix='vgig-')
        self.qmp_path = os.path.join(self._rundir, 'qmp')
        self.vnc_path = os.path.join(self._rundir, 'vnc')
        try:
            env = None
            if self.gpu == 'builtin-gl' or re.match(r'(gtk|sdl)', self.display or ''):
                self.x_display = self._start_xvfb()
                env = dict(os.environ, DISPLAY=self.x_display)
            if self.gpu == 'vhost-user':
                if self.gpu_socket:
                    if not unix_socket_listening(self.gpu_socket):
                        raise GuestError('nothing listens on gpu_socket %s' % self.gpu_socket)
                elif not self.gpu_backend:
                    raise ValueError('gpu=vhost-user needs gpu_backend or gpu_socket')
                else:
                    self.backends['gpu'] = Backend(self.gpu_backend, 'gpu', os.path.join(self._rundir, 'gpu'),
                                                   os.path.join(self.out_dir, 'gpu-backend.log'))
            for d in self.devices:
                d.setdefault('name', 'dev%d' % len(self.backends))
                if 'backend' in d:
                    self.backends[d['name']] = Backend(d['backend'], d['name'],
                                                       os.path.join(self._rundir, d['name']),
                                                       os.path.join(self.out_dir, d['name'] + '-backend.log'))
            for b in self.backends.values():
                b.wait_socket(max(1.0, deadline - time.monotonic()))
            if self.gpu_tap and self.gpu == 'vhost-user':
                self.tap = GpuTap(os.path.join(self._rundir, 'gpu-tap'), self._gpu_sock())
            argv = self.qemu_argv(initrd, kernel)
            with open(os.path.join(self.out_dir, 'qemu.cmdline'), 'w') as f:
                f.write(' '.join(shlex.quote(a) for a in argv) + '\n')
            self.qemu = Proc(argv, 'qemu', self.qemu_log, env=env)
            self.qmp = QMP(self.qmp_path)
            try:
                self.qmp.connect(min(deadline, time.monotonic() + 90), alive=lambda: self.qemu.poll() is None)
            except GuestError as e:
                # A QMP error at start is mostly QEMU dying (its queued QMP connection is
                # reset then): give it a moment to be reaped and report why it died.
                if self.qemu.wait(5.0) is not None:
                    raise GuestError('QEMU exited with %s at start (QMP: %s); qemu.log: %s' % (
                        self.qemu.popen.returncode, e, self.tail(self.qemu_log)))
                raise GuestError('%s; QEMU still running; qemu.log: %s' % (e, self.tail(self.qemu_log)))
            if self.vnc_enabled:
                self.vnc = VNC(self.vnc_path)
                self.vnc.connect(time.monotonic() + 10)
        except BaseException:
            self.close()
            raise
        return self

    def _gpu_sock(self):
        return self.gpu_socket or self.backends['gpu'].sock

    def _deadline(self, timeout):
        if timeout is None:
            return self._t_start + self.timeout
        return time.monotonic() + timeout

    def _check_alive(self, what):
        if self.qemu.poll() is not None:
            raise GuestError('QEMU exited (%s) while %s; console: %s\nqemu.log: %s' % (
                self.qemu.popen.returncode, what, self.tail(self.console_log), self.tail(self.qemu_log)))
        for b in self.backends.values():
            if b.poll() is not None:
                raise GuestError('backend %s exited (%s) while %s; log: %s' % (
                    b.name, b.popen.returncode, what, self.tail(b.log_path)))

    def wait_file(self, name, timeout=None):
        """Wait until the guest created $VGI_OUT/name (vgi_signal name); returns its path."""
        deadline = self._deadline(timeout)
        path = os.path.join(self.out_dir, name)
        while not os.path.exists(path):
            if os.path.exists(os.path.join(self.out_dir, 'rc')):
                raise GuestError('guest script ended (rc %s) before %s appeared; console: %s' % (
                    self.read('rc').strip(), name, self.tail(self.console_log)))
            self._check_alive('waiting for %s' % name)
            if time.monotonic() > deadline:
                raise GuestError('timeout waiting for %s; console: %s' % (name, self.tail(self.console_log)))
            time.sleep(0.05)
        if self.boot_s is None:
            self.boot_s = time.monotonic() - self._t_start
        return path

    def signal(self, name):
        """Create $VGI_OUT/name (the guest waits for it with vgi_wait name)."""
        with open(os.path.join(self.out_dir, name), 'w'):
            pass

    def read(self, name):
        with open(os.path.join(self.out_dir, name), errors='replace') as f:
            return f.read()

    @staticmethod
    def tail(path, n=2000):
        try:
            with open(path, 'rb') as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode(errors='replace')
        except OSError:
            return '(no %s)' % path

    def wait(self, timeout=None):
        """Wait for the guest to power off; returns the guest script's exit status."""
        deadline = self._deadline(timeout)
        rc = self.qemu.wait(max(0.0, deadline - time.monotonic()))
        if rc is None:
            self.close()
            raise GuestError('guest timed out after %.0f s; console: %s' % (
                time.monotonic() - self._t_start, self.tail(self.console_log)))
        try:
            self.rc = int(self.read('rc').strip())
        except (OSError, ValueError):
            raise GuestError('guest gave no exit status (QEMU rc %s); console: %s\nqemu.log: %s' % (
                rc, self.tail(self.console_log), self.tail(self.qemu_log)))
        return self.rc

    def screendump(self, path, head=None, device=None):
        """QMP screendump of the GPU (head 0 unless given) to path (.png or .ppm)."""
        if device is None and self.gpu:
            device = self.GPU_ID
        return self.qmp.screendump(path, device=device, head=head)

    def screenshot(self, head=None):
        """QMP screendump of the GPU as an Image."""
        return self.qmp.screenshot(self.GPU_ID if self.gpu else None, head, self._rundir)

    SANITIZER_RE = re.compile(r'ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: |'
                              r'SUMMARY: UndefinedBehaviorSanitizer')

    def backend_problems(self):
        """After close(): a list of problems of the backends: an exit status other
        than 0 (or a signal) and sanitizer reports in their logs. [] if clean."""
        out = []
        for b in self.backends.values():
            rc = b.popen.returncode
            if rc is None:
                out.append('backend %s still running' % b.name)
            elif rc != 0:
                out.append('backend %s exited with %s%s' % (b.name, rc, ' (signal %d)' % -rc if rc < 0 else ''))
            try:
                with open(b.log_path, errors='replace') as f:
                    text = f.read()
            except OSError:
                text = ''
            m = self.SANITIZER_RE.search(text)
            if m:
                out.append('backend %s log has a sanitizer report: %s' % (
                    b.name, text[max(0, m.start() - 200):m.start() + 1500]))
        return out

    def backend_stats(self):
        return {n: b.stats() for n, b in self.backends.items()}

    def close(self, quit_timeout=5.0):
        """Stop QEMU (QMP quit, then SIGKILL), then the backends (SIGTERM, then SIGKILL)."""
        if self.vnc:
            self.vnc.close()
        if self.qemu and self.qemu.poll() is None:
            if self.qmp and self.qmp.sock:
                self.qmp.quit()
            if self.qemu.wait(quit_timeout) is None:
                self.qemu.kill()
        if self.qmp:
            self.qmp.close()
        if self.tap:
            self.tap.close()
        for b in self.backends.values():
            if b.wait(2.0) is None:         # backends should leave when QEMU disconnects
                b.stop(3.0)
        if self.xvfb:
            self.xvfb.stop(3.0)
        if self._rundir:
            shutil.rmtree(self._rundir, ignore_errors=True)
            self._rundir = None


# ---------------------------------------------------------------------------
# Helpers for tests

def test_main(fn):
    """Run fn() as a test: exit 0 on success, 77 on Skip, 1 on failure."""
    try:
        rc = fn()
    except Skip as e:
        print('SKIP: %s' % e, flush=True)
        sys.exit(SKIP)
    except (GuestError, QMPError, AssertionError) as e:
        print('FAIL: %s' % e, flush=True)
        _cleanup_all()
        sys.exit(1)
    _cleanup_all()
    sys.exit(rc or 0)


def _cmd_boot(args):
    script = args.script
    if args.script_file:
        with open(args.script_file) as f:
            script = f.read()
    props = dict(kv.split('=', 1) for kv in args.gpu_prop)
    backend = None
    if args.gpu == 'vhost-user':
        if args.backend in ('vgi', 'reference'):
            backend = gpu_backend_argv(args.backend, find_build_dir(args.build_dir), args.backend_arg)
        else:
            backend = shlex.split(args.backend) + list(args.backend_arg)
    devices = []
    for i, spec in enumerate(args.input_backend):
        devices.append({'device': 'vhost-user-input-pci', 'backend': shlex.split(spec), 'name': 'input%d' % i})
    g = Guest(args.out, script, gpu=None if args.gpu == 'none' else args.gpu, gpu_backend=backend,
              gpu_props=props, devices=devices, qemu_args=args.qemu_arg, build_dir=args.build_dir,
              timeout=args.timeout, vnc=args.vnc, display=args.display)
    with g:
        if args.screendump_after:
            g.wait_file(args.screendump_after)
            for s in args.screendump:
                g.screendump(s)
                print('screendump: %s' % os.path.abspath(s))
        rc = g.wait()
    print('guest exit status: %d (console log: %s)' % (rc, g.console_log))
    return rc


def _cmd_demo(args):
    """Boot the demo guest; write QMP screendumps and vgi-gpu's headless PNGs."""
    build = find_build_dir(args.build_dir)
    if not build:
        raise Skip('no build directory (give --build-dir)')
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    headless = os.path.join(out, 'headless')
    os.makedirs(headless, exist_ok=True)
    kms = os.path.join(build, 'tests', 'guest', 'kms-pattern')
    if not os.access(kms, os.X_OK):
        raise Skip('%s not built' % kms)
    if args.backend == 'vgi':
        # QEMU's display (for QMP screendump) and the headless PNG sink.
        backend = gpu_backend_argv('vgi', build, ['--display', 'qemu', '--display', 'headless,dir=%s' % headless])
    else:
        backend = gpu_backend_argv('reference', build)
    script = r"""
echo "demo: guest kernel $(uname -r)"
dmesg | grep -E '\[drm\] (features|number of scanouts)'
printf '\033[2J\033[H' > /dev/tty1
printf 'vgi demo guest: this text is on the guest fbcon (tty1)\n' > /dev/tty1
uname -a > /dev/tty1
vgi_signal fbcon
vgi_wait fbcon-shot 60 || exit 1
%s --signal "$VGI_OUT/pattern" --wait "$VGI_OUT/pattern-shot" --cursor 100,100 || exit 1
""" % shlex.quote(kms)
    shots = []
    latest = os.path.join(headless, 'scanout0.png')

    def keep_headless(name, want=None):
        # Copy vgi-gpu's latest headless frame (once it shows `want`, if given).
        end = time.monotonic() + 10
        while args.backend == 'vgi' and time.monotonic() < end:
            try:
                if want is None or compare_images(read_png(latest), want) is None:
                    dst = os.path.join(out, name)
                    shutil.copyfile(latest, dst)
                    shots.append(dst)
                    return
            except (OSError, ValueError, zlib.error):
                pass
            time.sleep(0.3)

    g = Guest(os.path.join(out, 'guest'), script, gpu='vhost-user', gpu_backend=backend,
              build_dir=build, timeout=args.timeout)
    with g:
        g.wait_file('fbcon')
        time.sleep(1.0)
        shots.append(g.screendump(os.path.join(out, 'fbcon.png')))
        keep_headless('headless-fbcon.png')
        g.signal('fbcon-shot')
        g.wait_file('pattern')
        img = None
        want = None
        for _ in range(40):
            img = g.screenshot()
            want = want or pattern_image(img.width, img.height)
            if compare_images(img, want) is None:
                break
            time.sleep(0.25)
        img.save_png(os.path.join(out, 'pattern.png'))
        shots.append(os.path.join(out, 'pattern.png'))
        print('pattern in QMP screendump: %s' % (compare_images(img, want) or 'matches pixel for pixel'))
        keep_headless('headless-pattern.png', want)
        g.signal('pattern-shot')
        rc = g.wait()
    for s in shots:
        print('screenshot: %s' % s)
    print('guest exit status %d; console log %s' % (rc, g.console_log))
    return rc


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description='Boot a vgi test guest under QEMU (see tests/guest/README.md).')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('initramfs', help='build (or find in the cache) the initramfs and print its path')
    p.add_argument('--build-dir')
    p = sub.add_parser('boot', help='boot a guest and run a script in it')
    p.add_argument('--build-dir')
    p.add_argument('--out', required=True, help='host output directory (the guest\'s $VGI_OUT)')
    p.add_argument('--gpu', choices=['vhost-user', 'builtin', 'builtin-gl', 'none'], default='none')
    p.add_argument('--backend', default='reference',
                   help="vhost-user GPU backend: 'vgi', 'reference' or a command line ({socket} is replaced)")
    p.add_argument('--backend-arg', action='append', default=[], help='extra backend argument')
    p.add_argument('--gpu-prop', action='append', default=[], help='extra GPU -device property KEY=VALUE')
    p.add_argument('--input-backend', action='append', default=[],
                   help='command line of a vhost-user-input backend ({socket} is replaced)')
    p.add_argument('--qemu-arg', action='append', default=[], help='extra QEMU argument')
    p.add_argument('--script', default='true', help='guest shell script')
    p.add_argument('--script-file', help='file with the guest shell script')
    p.add_argument('--screendump-after', help='wait for this $VGI_OUT file, then take the screendumps')
    p.add_argument('--screendump', action='append', default=[], help='screendump path (.png or .ppm)')
    p.add_argument('--display', help="QEMU -display value (default none; gtk/sdl run under Xvfb)")
    p.add_argument('--vnc', action='store_true')
    p.add_argument('--timeout', type=float, default=120)
    p = sub.add_parser('demo', help='boot the demo guest on vgi-gpu (headless) and write screenshots')
    p.add_argument('--build-dir')
    p.add_argument('--out', required=True)
    p.add_argument('--backend', choices=['vgi', 'reference'], default='vgi')
    p.add_argument('--timeout', type=float, default=180)
    args = ap.parse_args(argv)
    try:
        if args.cmd == 'initramfs':
            print(build_initramfs(default_cache_dir(find_build_dir(args.build_dir))))
            return 0
        if args.cmd == 'boot':
            return _cmd_boot(args)
        if args.cmd == 'demo':
            return _cmd_demo(args)
    except Skip as e:
        print('SKIP: %s' % e, file=sys.stderr)
        return SKIP
    except (GuestError, QMPError) as e:
        print('ERROR: %s' % e, file=sys.stderr)
        return 1
    finally:
        _cleanup_all()
    return 2


if __name__ == '__main__':
    sys.exit(main())
