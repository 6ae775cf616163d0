# SPDX-License-Identifier: MIT
"""A vhost-user-gpu front-end in Python that plays QEMU against the real vgi-gpu.

Three parts, all over real sockets:
- Frontend: the vhost-user master (socketpair handed over with --fd, or a
  connection to --socket-path): features, a memfd as guest RAM, split rings.
- Guest: virtio-gpu commands on the control queue, completions read from the
  used ring (waits on the call eventfd).
- Display: QEMU's side of the vhost-user-gpu display socket (the fd sent with
  GPU_SET_SOCKET), in a thread: answers GET_PROTOCOL_FEATURES,
  GET_DISPLAY_INFO, GET_EDID and DMABUF_UPDATE like QEMU 10, and keeps a copy
  of each scanout's surface built from SCANOUT/UPDATE messages. It can hold
  its GET_EDID answers and stop reading altogether.

Every wait is on an event with a generous deadline and says what it waited for.
"""
import mmap
import os
import select
import socket
import struct
import subprocess
import threading
import time

# vhost-user
GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
SET_MEM_TABLE = 5
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
SET_VRING_KICK = 12
SET_VRING_CALL = 13
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
SET_VRING_ENABLE = 18
GPU_SET_SOCKET = 33
VERSION = 1
FLAG_REPLY = 4
FLAG_NEED_REPLY = 8
F_PROTOCOL_FEATURES = 1 << 30
PF_REPLY_ACK = 1 << 3
PF_CONFIG = 1 << 9
VIRTIO_F_VERSION_1 = 1 << 32
VIRTIO_GPU_F_VIRGL = 1 << 0
VIRTIO_GPU_F_EDID = 1 << 1

# virtio-gpu
CMD_GET_DISPLAY_INFO = 0x100
CMD_RESOURCE_CREATE_2D = 0x101
CMD_RESOURCE_UNREF = 0x102
CMD_SET_SCANOUT = 0x103
CMD_RESOURCE_FLUSH = 0x104
CMD_TRANSFER_TO_HOST_2D = 0x105
CMD_RESOURCE_ATTACH_BACKING = 0x106
CMD_GET_EDID = 0x10a
RESP_OK_NODATA = 0x1100
RESP_OK_DISPLAY_INFO = 0x1101
RESP_OK_EDID = 0x1104
FORMAT_B8G8R8X8 = 2     # DRM XRGB8888
FORMAT_R8G8B8X8 = 134   # DRM XBGR8888

# QEMU's display protocol
D_GET_PROTOCOL_FEATURES = 1
D_SET_PROTOCOL_FEATURES = 2
D_GET_DISPLAY_INFO = 3
D_CURSOR_POS = 4
D_CURSOR_POS_HIDE = 5
D_CURSOR_UPDATE = 6
D_SCANOUT = 7
D_UPDATE = 8
D_DMABUF_SCANOUT = 9
D_DMABUF_UPDATE = 10
D_GET_EDID = 11
D_DMABUF_SCANOUT2 = 12
D_REPLY = 4

RAM_GPA = 0x40000000
RAM_UADDR = 0x7f3400000000
QSIZE = 64
SLOT_BYTES = 0x2000     # per command slot: 4 KiB out, 4 KiB in
CMD_BASE = 0x10000
BUF_BASE = 0x100000


class Timeout(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError('closed after %d of %d bytes' % (len(buf), n))
        buf += chunk
    return bytes(buf)


def wait_until(cond, timeout, what):
    """Poll cond() (cheap) until true; raise Timeout naming what was awaited."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Timeout('waited %.0f s for %s' % (timeout, what))
        time.sleep(0.001)


class Display(threading.Thread):
    """QEMU's end of the display socket."""

    def __init__(self, sock, width=1280, height=800, edid=None, features=3):
        super().__init__(daemon=True)
        self.sock = sock
        self.mode = (width, height)
        self.edid = edid if edid is not None else make_edid(0)
        self.features = features
        self.lock = threading.Condition()
        self.surfaces = {}        # id -> [w, h, bytearray x8r8g8b8]
        self.updates = 0
        self.msgs = []            # (request, summary)
        self.edid_gate = threading.Event()
        self.edid_gate.set()
        self.edid_requests = 0
        self.reading = threading.Event()
        self.reading.set()
        self.closed = False
        self.error = None
        self.stop = False

    def run(self):
        try:
            while not self.stop:
                if not self.reading.is_set():
                    self.reading.wait(0.05)
                    continue
                r, _, _ = select.select([self.sock], [], [], 0.05)
                if not r:
                    continue
                hdr = self.sock.recv(12, socket.MSG_PEEK)
                if not hdr:
                    break
                hdr = recv_exact(self.sock, 12)
                req, flags, size = struct.unpack('=III', hdr)
                if size > (64 << 20):
                    raise ValueError('message %d of %d bytes' % (req, size))
                payload = recv_exact(self.sock, size) if size else b''
                self.handle(req, payload)
        except Exception as e:  # noqa: BLE001 - reported by the test
            if not self.stop:
                self.error = '%s: %s' % (type(e).__name__, e)
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def reply(self, req, payload):
        self.sock.sendall(struct.pack('=III', req, D_REPLY, len(payload)) + payload)

    def handle(self, req, p):
        if req == D_GET_PROTOCOL_FEATURES:
            self.reply(req, struct.pack('=Q', self.features))
        elif req == D_GET_DISPLAY_INFO:
            info = bytearray(408)
            struct.pack_into('=I', info, 0, RESP_OK_DISPLAY_INFO)
            struct.pack_into('=IIIIII', info, 24, 0, 0, self.mode[0], self.mode[1], 1, 0)
            self.reply(req, bytes(info))
        elif req == D_GET_EDID:
            with self.lock:
                self.edid_requests += 1
                self.lock.notify_all()
            self.edid_gate.wait(30)
            resp = bytearray(1056)
            struct.pack_into('=II', resp, 0, RESP_OK_EDID, 0)
            struct.pack_into('=I', resp, 24, len(self.edid))
            resp[32:32 + len(self.edid)] = self.edid
            self.reply(req, bytes(resp))
        elif req == D_DMABUF_UPDATE:
            self.reply(req, b'')
        elif req == D_SCANOUT:
            sid, w, h = struct.unpack_from('=III', p)
            with self.lock:
                self.surfaces[sid] = [w, h, bytearray(w * h * 4)]
                self.msgs.append((req, (sid, w, h)))
                self.lock.notify_all()
        elif req == D_UPDATE:
            sid, x, y, w, h = struct.unpack_from('=IIIII', p)
            if len(p) != 20 + w * h * 4:
                raise ValueError('UPDATE %dx%d with %d bytes' % (w, h, len(p)))
            with self.lock:
                s = self.surfaces.get(sid)
                if s:
                    sw, sh, buf = s
                    for row in range(h):
                        if y + row >= sh or x >= sw:
                            break
                        n = min(w, sw - x) * 4
                        o = ((y + row) * sw + x) * 4
                        buf[o:o + n] = p[20 + row * w * 4:20 + row * w * 4 + n]
                self.updates += 1
                self.msgs.append((req, (sid, x, y, w, h)))
                self.lock.notify_all()
        else:
            with self.lock:
                self.msgs.append((req, len(p)))

    def region(self, sid, x, y, w, h):
        """Bytes of a rect of the surface (rows concatenated), or None."""
        with self.lock:
            s = self.surfaces.get(sid)
            if not s:
                return None
            sw, sh, buf = s
            if x + w > sw or y + h > sh:
                return None
            if x == 0 and w == sw:
                return bytes(buf[y * sw * 4:(y + h) * sw * 4])
            return b''.join(bytes(buf[((y + r) * sw + x) * 4:((y + r) * sw + x + w) * 4]) for r in range(h))

    def wait_region(self, sid, x, y, w, h, want, timeout, what):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = self.region_locked(sid, x, y, w, h)
                if got == want:
                    return
                if self.closed:
                    raise Timeout('display socket closed while waiting for %s (%s)' % (what, self.error))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout('waited %.0f s for %s; last UPDATEs %r' % (timeout, what, self.msgs[-3:]))
                self.lock.wait(min(left, 0.2))

    def region_locked(self, sid, x, y, w, h):
        s = self.surfaces.get(sid)
        if not s:
            return None
        sw, sh, buf = s
        if x + w > sw or y + h > sh:
            return None
        if x == 0 and w == sw:
            return bytes(buf[y * sw * 4:(y + h) * sw * 4])
        return b''.join(bytes(buf[((y + r) * sw + x) * 4:((y + r) * sw + x + w) * 4]) for r in range(h))

    def close(self):
        self.stop = True
        self.reading.set()
        self.edid_gate.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(5)
        self.sock.close()


def make_edid(tag):
    """A 128-byte EDID block that names tag in its serial number (checksum fixed)."""
    e = bytearray(128)
    e[0:8] = b'\x00\xff\xff\xff\xff\xff\xff\x00'
    e[8:10] = b'\x59\x37'          # manufacturer "VGT"
    struct.pack_into('<I', e, 12, tag & 0xffffffff)
    e[18] = 1
    e[19] = 4
    e[127] = (-sum(e[:127])) & 0xff
    return bytes(e)


class Frontend:
    """The vhost-user master, guest RAM and the control queue."""

    def __init__(self, sock, ram_size=64 << 20, display_kw=None, virgl=False, start_display=True):
        self.sock = sock
        self.sock.settimeout(30)
        self.ram_size = ram_size
        self.memfd = os.memfd_create('vgi-test-ram', os.MFD_CLOEXEC)
        os.ftruncate(self.memfd, ram_size)
        self.ram = mmap.mmap(self.memfd, ram_size)
        self.kick = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(2)]
        self.call = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(2)]
        self.rings = [(0x1000 + i * 0x3000) for i in range(2)]   # desc; avail +0x1000; used +0x2000
        self.avail_idx = [0, 0]
        self.last_used = [0, 0]
        self.free_slots = list(range(QSIZE // 2))
        self.done = {}            # head -> used length
        self.next_buf = BUF_BASE
        self.virgl = virgl
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.display_peer = b     # handed to vgi-gpu
        self.display = Display(a, **(display_kw or {}))
        if start_display:
            self.display.start()

    # ---- vhost-user messages ----
    def msg(self, req, payload=b'', fds=(), need_reply=False):
        flags = VERSION | (FLAG_NEED_REPLY if need_reply else 0)
        data = struct.pack('=III', req, flags, len(payload)) + payload
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        if need_reply:
            if self.get_reply(req) != 0:
                raise RuntimeError('vhost-user request %d failed' % req)

    def get_reply(self, req):
        hdr = recv_exact(self.sock, 12)
        r, flags, size = struct.unpack('=III', hdr)
        if r != req or not flags & FLAG_REPLY or size != 8:
            raise RuntimeError('bad reply %r to %d' % ((r, flags, size), req))
        return struct.unpack('=Q', recv_exact(self.sock, 8))[0]

    def get_u64(self, req):
        self.msg(req)
        return self.get_reply(req)

    def setup(self, before_queues=None):
        """Negotiate like QEMU, hand over the display socket, start both queues."""
        f = self.get_u64(GET_FEATURES)
        pf = self.get_u64(GET_PROTOCOL_FEATURES) & (PF_REPLY_ACK | PF_CONFIG)
        self.msg(SET_PROTOCOL_FEATURES, struct.pack('=Q', pf))
        self.msg(SET_OWNER, need_reply=True)
        want = VIRTIO_F_VERSION_1 | VIRTIO_GPU_F_EDID | F_PROTOCOL_FEATURES
        if self.virgl:
            want |= VIRTIO_GPU_F_VIRGL
        self.msg(SET_FEATURES, struct.pack('=Q', f & want), need_reply=True)
        self.msg(GPU_SET_SOCKET, fds=[self.display_peer.fileno()], need_reply=True)
        self.display_peer.close()
        self.msg(SET_MEM_TABLE, struct.pack('=II', 1, 0) + struct.pack('=QQQQ', RAM_GPA, self.ram_size,
                                                                       RAM_UADDR, 0),
                 fds=[self.memfd], need_reply=True)
        if before_queues:
            before_queues()
        for i in range(2):
            d = RAM_GPA + self.rings[i]
            self.msg(SET_VRING_NUM, struct.pack('=II', i, QSIZE), need_reply=True)
            self.msg(SET_VRING_BASE, struct.pack('=II', i, 0), need_reply=True)
            self.msg(SET_VRING_ADDR, struct.pack('=IIQQQQ', i, 0, self.uaddr(d), self.uaddr(d + 0x2000),
                                                 self.uaddr(d + 0x1000), 0), need_reply=True)
            self.msg(SET_VRING_KICK, struct.pack('=Q', i), fds=[self.kick[i]], need_reply=True)
            self.msg(SET_VRING_CALL, struct.pack('=Q', i), fds=[self.call[i]], need_reply=True)
            self.msg(SET_VRING_ENABLE, struct.pack('=II', i, 1), need_reply=True)

    @staticmethod
    def uaddr(gpa):
        return gpa - RAM_GPA + RAM_UADDR

    # ---- guest RAM ----
    def off(self, gpa):
        return gpa - RAM_GPA

    def write(self, gpa, data):
        o = self.off(gpa)
        self.ram[o:o + len(data)] = data

    def read(self, gpa, n):
        o = self.off(gpa)
        return bytes(self.ram[o:o + n])

    def alloc(self, n):
        g = RAM_GPA + self.next_buf
        self.next_buf += (n + 0xfff) & ~0xfff
        if self.next_buf > self.ram_size:
            raise RuntimeError('test RAM exhausted')
        return g

    # ---- control queue ----
    def submit(self, cmd, resp_len=24, q=0):
        """Queue one command (one readable, one writable buffer) and kick; returns its head."""
        if not self.free_slots:
            self.reap(q)
            wait_until(lambda: self.reap(q) or self.free_slots, 30, 'a free queue slot')
        slot = self.free_slots.pop(0)
        out = RAM_GPA + CMD_BASE + slot * SLOT_BYTES
        inb = out + 0x1000
        assert len(cmd) <= 0x1000 and resp_len <= 0x1000
        self.write(out, cmd)
        self.write(inb, bytes(resp_len))
        ring = RAM_GPA + self.rings[q]
        head = slot * 2
        self.write(ring + head * 16, struct.pack('=QIHH', out, len(cmd), 1, head + 1))
        self.write(ring + (head + 1) * 16, struct.pack('=QIHH', inb, resp_len, 2, 0))
        avail = ring + 0x1000
        self.write(avail + 4 + (self.avail_idx[q] % QSIZE) * 2, struct.pack('=H', head))
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xffff
        self.write(avail + 2, struct.pack('=H', self.avail_idx[q]))
        os.eventfd_write(self.kick[q], 1)
        return head

    def reap(self, q=0):
        """Collect used elements; returns how many."""
        used = RAM_GPA + self.rings[q] + 0x2000
        idx = struct.unpack('=H', self.read(used + 2, 2))[0]
        n = 0
        while self.last_used[q] != idx:
            i = self.last_used[q] % QSIZE
            head, length = struct.unpack('=II', self.read(used + 4 + i * 8, 8))
            self.done[head] = length
            self.free_slots.append(head // 2)
            self.last_used[q] = (self.last_used[q] + 1) & 0xffff
            n += 1
        return n

    def completed(self, head, q=0):
        self.reap(q)
        return head in self.done

    def wait(self, head, timeout=30, what='a command', q=0):
        """Wait for head's completion (call eventfd); returns its response bytes."""
        deadline = time.monotonic() + timeout
        while not self.completed(head, q):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout('waited %.0f s for %s to complete' % (timeout, what))
            r, _, _ = select.select([self.call[q]], [], [], min(left, 0.1))
            if r:
                try:
                    os.eventfd_read(self.call[q])
                except BlockingIOError:
                    pass
        length = self.done.pop(head)
        slot_in = RAM_GPA + CMD_BASE + (head // 2) * SLOT_BYTES + 0x1000
        return self.read(slot_in, length)

    def cmd(self, cmd, resp_len=24, what='a command', timeout=30):
        resp = self.wait(self.submit(cmd, resp_len), timeout, what)
        return resp

    def ok(self, cmd, what):
        resp = self.cmd(cmd, what=what)
        t = struct.unpack_from('=I', resp)[0] if len(resp) >= 4 else None
        if t != RESP_OK_NODATA:
            raise RuntimeError('%s answered 0x%x' % (what, t or 0))

    # ---- virtio-gpu commands ----
    @staticmethod
    def hdr(t):
        return struct.pack('=IIQIB3x', t, 0, 0, 0, 0)

    def create_2d(self, rid, fmt, w, h):
        self.ok(self.hdr(CMD_RESOURCE_CREATE_2D) + struct.pack('=IIII', rid, fmt, w, h), 'RESOURCE_CREATE_2D')

    def attach(self, rid, gpa, length):
        self.ok(self.hdr(CMD_RESOURCE_ATTACH_BACKING) + struct.pack('=II', rid, 1) +
                struct.pack('=QII', gpa, length, 0), 'RESOURCE_ATTACH_BACKING')

    def set_scanout(self, sid, rid, w, h, x=0, y=0):
        self.ok(self.hdr(CMD_SET_SCANOUT) + struct.pack('=IIIIII', x, y, w, h, sid, rid), 'SET_SCANOUT')

    def transfer_cmd(self, rid, x, y, w, h, offset):
        return self.hdr(CMD_TRANSFER_TO_HOST_2D) + struct.pack('=IIIIQII', x, y, w, h, offset, rid, 0)

    def flush_cmd(self, rid, x, y, w, h):
        return self.hdr(CMD_RESOURCE_FLUSH) + struct.pack('=IIIIII', x, y, w, h, rid, 0)

    def transfer(self, rid, x, y, w, h, offset):
        self.ok(self.transfer_cmd(rid, x, y, w, h, offset), 'TRANSFER_TO_HOST_2D')

    def flush(self, rid, x, y, w, h):
        self.ok(self.flush_cmd(rid, x, y, w, h), 'RESOURCE_FLUSH')

    def unref(self, rid):
        self.ok(self.hdr(CMD_RESOURCE_UNREF) + struct.pack('=II', rid, 0), 'RESOURCE_UNREF')

    def get_edid_cmd(self, sid=0):
        return self.hdr(CMD_GET_EDID) + struct.pack('=II', sid, 0)

    def close(self):
        self.display.close()
        try:
            self.sock.close()
        except OSError:
            pass
        for fd in self.kick + self.call:
            os.close(fd)
        self.ram.close()
        os.close(self.memfd)


def start_vgi_gpu(exe, args, log_path=None):
    """vgi-gpu with --fd: returns (process, front-end socket)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    err = open(log_path, 'w') if log_path else subprocess.DEVNULL
    # under ASan freed memory sits in a 256 MiB quarantine: keep it small so RSS says what vgi-gpu keeps
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'), 'quarantine_size_mb=8']))
    p = subprocess.Popen([exe, '--fd', str(b.fileno())] + args, pass_fds=[b.fileno()],
                         stdout=subprocess.DEVNULL, stderr=err, env=env)
    if log_path:
        err.close()
    b.close()
    return p, a


def stop(p, timeout=10):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0
