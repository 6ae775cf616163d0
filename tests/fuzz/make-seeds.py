#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hand-written seeds for fuzz-vhost-user, fuzz-qemu-display and fuzz-virtio-input
(the hostile suite's cases in each target's record format; see the .c files)."""
import os
import struct
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')


def write(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz-vhost-user: op%8 0-2 raw msg, 3 setup, 4-5 gpu command, 6 new memory table, 7 hang-up ----
REQ = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 25, 33, 34, 36, 37, 38, 39, 40]


def raw(req, payload=b'', fdspec=0, need_reply=False, extra_fd_kinds=b''):
    op = 0 | (0x08 if need_reply else 0)
    return bytes([op, fdspec, REQ.index(req)]) + struct.pack('<H', len(payload)) + payload + extra_fd_kinds


def gpu(cmd_type, body=b'', resp=24, q=0):
    hdr = struct.pack('<IIQII', cmd_type, 0, 0, 0, 0)
    cmd = hdr + body
    return bytes([4 | (0x80 if q == 0 else 0xa0)]) + bytes([len(cmd)]) + struct.pack('<H', resp) + cmd


SETUP = bytes([3, 0x0c])
vu = {
    'setup-display-info': SETUP + gpu(0x100, resp=408),
    'setup-create-attach': SETUP + gpu(0x101, struct.pack('<IIII', 1, 1, 64, 64)) +
    gpu(0x106, struct.pack('<II', 1, 1) + struct.pack('<QII', 0x110000, 16384, 0), resp=24) +
    gpu(0x105, struct.pack('<IIIIQII', 0, 0, 64, 64, 0, 1, 0)) + gpu(0x102, struct.pack('<I', 1) + b'\0' * 4),
    'mem-table-while-running': SETUP + gpu(0x100, resp=408) + bytes([6, 0x07]) + gpu(0x100, resp=408),
    'mem-table-other-fd': SETUP + bytes([6, 0x01]) + gpu(0x100, resp=408),
    'ring-wrap': bytes([3, 0x2c]) + gpu(0x100, resp=408) * 4,
    'ring-huge-num': bytes([3, 0xf1]) + gpu(0x100, resp=408),
    'hangup-mid-header': SETUP + bytes([7, 4, 0, 5]),
    'hangup-mid-payload': SETUP + gpu(0x100, resp=408) + bytes([7, 8, 40, 17]),
    'too-many-fds': raw(5, b'\0' * 40, fdspec=0xff, extra_fd_kinds=bytes(9)),
    'config': SETUP + raw(24, struct.pack('<III', 0, 24, 0) + b'\0' * 24) +
    raw(25, struct.pack('<III', 4, 4, 0) + b'\xff' * 4) + raw(25, struct.pack('<III', 0xfffffffc, 8, 0) + b'\1' * 8),
    'add-rem-region': raw(2, struct.pack('<Q', 1 << 30)) + raw(16, struct.pack('<Q', (1 << 15) | 8)) +
    raw(37, struct.pack('<QQQQQ', 0, 0x100000, 1 << 20, 0x7f0000000000, 0), fdspec=1) +
    raw(38, struct.pack('<QQQQQ', 0, 0x100000, 1 << 20, 0x7f0000000000, 0), fdspec=1),
    'region-wraps': raw(5, struct.pack('<IIQQQQ', 1, 0, 0xfffffffffffff000, 0x2000, 0x7f0000000000, 0), fdspec=1),
    'region-past-memfd': raw(5, struct.pack('<IIQQQQ', 1, 0, 0x100000, 1 << 20, 0x7f0000000000, 1 << 19), fdspec=1),
    'gpu-set-socket': raw(33, fdspec=3 << 2 | 1),
    'cursor': SETUP + gpu(0x300, struct.pack('<IIIII', 0, 5, 5, 0, 0) + b'\0' * 16, resp=0, q=1),
}
for k, v in vu.items():
    write('fuzz-vhost-user', k, v)

# ---- fuzz-qemu-display: mode byte; op%12 0-2 answer, 3 raw, 4 scanout, 5 update, 6 cursor,
#      7 dmabuf scanout, 8 gl update, 9 display info, 10 hang-up, 11 drop ----
feat = lambda f: bytes([0]) + struct.pack('<II', f & 0xffffffff, f >> 32)
dinfo = bytes([2]) + bytes([1 | 4 * 20] + [0] * 15)
qd = {
    'negotiate-edid': bytes([0]) + feat(3) + dinfo + bytes([0]) + bytes(32),
    'negotiate-none': bytes([2]) + feat(0) + dinfo,
    'display-info-bad-sizes': bytes([0]) + feat(0) + bytes([2]) + bytes([3]) + struct.pack('<II', 0, 0xffffffff) +
    bytes([3]) + struct.pack('<II', 0x10000, 1) + bytes(14),
    'edid-size-huge': bytes([0]) + feat(1) + dinfo + bytes([0x10]) + struct.pack('<I', 0xffffffff) + bytes(32),
    'edid-size-zero': bytes([0]) + feat(1) + dinfo + bytes([0x10]) + struct.pack('<I', 0) + bytes(32),
    'wrong-reply': bytes([0, 0x40, 0, 3]) + bytes(8),
    'truncated-reply': bytes([0, 0x80, 5]),
    'raw-garbage': bytes([0, 3, 20]) + bytes(range(20)),
    'unasked-fd': bytes([0, 0x13, 12]) + struct.pack('<III', 3, 5, 0),
    'scanouts-updates': bytes([2]) + feat(3) + bytes([4, 0, 63, 63, 5]) + struct.pack('<IIII', 0xfffffff0, 0, 0x20, 8) +
    bytes([0, 0x15]) + struct.pack('<IIII', 60, 60, 30, 30) + bytes([0]) + bytes([0x36]) + struct.pack('<ii', -5, 100000) +
    bytes([3, 3, 0]),
    'dmabuf': bytes([0]) + feat(3) + bytes([7]) + struct.pack('<II', 0, 256) + bytes([64, 64, 0, 0, 64, 64, 0]) +
    bytes([0x18, 0, 0, 64, 64, 0]) + bytes([8, 0, 0, 64, 64, 0]),
    'hangup-reconnect': bytes([0]) + feat(3) + bytes([0x1a]) + feat(2) + dinfo + bytes([11, 9, 0]) + feat(3),
    'out-of-range-ids': bytes([0, 4, 17, 1, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 8, 0, 0, 1, 1, 17]),
}
for k, v in qd.items():
    write('fuzz-qemu-display', k, v)

# ---- fuzz-virtio-input: mode byte; op%10 0-1 config write, 2 read, 3 status, 4 event bufs,
#      5-6 host events, 7 long frame, 8 reset, 9 memory ----
ev = lambda t, c, v: bytes([t, c, v & 0xff])
vi = {
    'config-walk': bytes([0]) + b''.join(bytes([0x90 | 0x10, 0, s, sub]) for s, sub in
                                         [(1, 0), (2, 0), (0x10, 0), (0x11, 1), (0x11, 0), (0x12, 0), (0x11, 31), (0x20, 0), (0xff, 0xff)]),
    'config-garbage': bytes([1]) + bytes([0x71, 2, 1, 2, 3, 4, 5, 6, 7, 8]) + bytes([0x71, 0x80] + [0xff] * 8) +
    bytes([2, 0x80, 0xff]) + bytes([2, 0, 0xff]),
    'tablet-abs': bytes([2]) + struct.pack('<II', 0xffffffff, 0) + bytes([0x90 | 0x10, 0, 0x12, 0]) +
    bytes([0x90 | 0x10, 0, 0x12, 1]) + bytes([0x90 | 0x10, 0, 0x12, 0x3f]),
    'status-leds': bytes([4]) + bytes([3, 8]) + struct.pack('<HHi', 0x11, 0, 1) + bytes([3, 8]) +
    struct.pack('<HHi', 0x11, 40, 1) + bytes([0x13, 24]) + struct.pack('<HHi', 0x11, 1, 1) * 3,
    'status-odd-sizes': bytes([8]) + bytes([3, 0]) + bytes([3, 5]) + bytes(5) + bytes([0x53, 0]) + bytes(256) +
    bytes([0x23, 3]) + bytes(3),
    'events': bytes([4]) + bytes([0x74]) + bytes(8) + bytes([0x25]) + ev(1, 30, 1) + ev(0x80, 0, 0) + ev(1, 30, 0) +
    ev(0x80, 0, 0),
    'event-bad-sizes': bytes([0]) + bytes([0x74, 3, 4, 5, 6, 7, 3, 4, 5]) + bytes([0x15]) + ev(1, 30, 1) + ev(0x80, 0, 0),
    'overflow': bytes([1]) + bytes([0xf7]) + bytes([0x04, 0]) + bytes([0x07]),
    'reset-memory': bytes([0]) + bytes([0x74]) + bytes(8) + bytes([9, 8, 0x05]) + ev(1, 30, 1) + bytes([0x74]) + bytes(8),
    'passthrough': bytes([3]) + bytes(range(256)) * 4,
}
for k, v in vi.items():
    write('fuzz-virtio-input', k, v)

# ---- fuzz-gpu: every command with every field 0xff, then 0 (the hostile suite's extreme sizes) ----
GPU_CMDS = [(0x100, 24), (0x101, 40), (0x102, 32), (0x103, 48), (0x104, 48), (0x105, 56), (0x106, 32), (0x107, 32),
            (0x108, 32), (0x109, 40), (0x10a, 32), (0x10b, 32), (0x10c, 56), (0x10d, 64), (0x200, 96), (0x201, 24),
            (0x202, 32), (0x204, 72), (0x205, 72), (0x206, 72), (0x207, 32), (0x208, 40), (0x209, 32)]
for fill in (0xff, 0x00):
    recs = b''
    for t, ln in GPU_CMDS:
        cmd = struct.pack('<I', t) + bytes([fill]) * (ln - 4)
        recs += bytes([0]) + struct.pack('<HHH', ln, 16, 1200 if fill else 0) + cmd + bytes([fill]) * 16
    for t in (0x300, 0x301):
        cmd = struct.pack('<I', t) + bytes([fill]) * 52
        recs += bytes([1]) + struct.pack('<HHH', 56, 0, 0) + cmd
    write('fuzz-gpu', 'extreme-%02x' % fill, bytes([3]) + recs)
