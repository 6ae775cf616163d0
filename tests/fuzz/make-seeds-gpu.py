#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes seed inputs for fuzz-gpu (format: see fuzz-gpu.c) into corpus/fuzz-gpu.
import os
import struct

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'fuzz-gpu')
os.makedirs(D, exist_ok=True)

GET_DISPLAY_INFO, CREATE_2D, UNREF, SET_SCANOUT, FLUSH, TRANSFER, ATTACH, DETACH = range(0x100, 0x108)
GET_CAPSET_INFO, GET_CAPSET, GET_EDID, ASSIGN_UUID = 0x108, 0x109, 0x10a, 0x10b
CTX_CREATE, SUBMIT_3D = 0x200, 0x207
CREATE_BLOB, SET_SCANOUT_BLOB, MAP_BLOB, UNMAP_BLOB = 0x10c, 0x10d, 0x208, 0x209
BLOB_MEM_GUEST, BLOB_MEM_HOST3D, SHAREABLE, MAPPABLE = 1, 2, 2, 1
MODE_BLOB = 4
UPDATE_CURSOR, MOVE_CURSOR = 0x300, 0x301
FENCE = 1


def hdr(t, flags=0, fence=0):
    return struct.pack('<IIQIBBBB', t, flags, fence, 0, 0, 0, 0, 0)


def ctrl(cmd, data=b'', rlen=24):
    return bytes([0]) + struct.pack('<HHH', len(cmd), len(data), rlen) + cmd + data


def cursor(cmd):
    return bytes([1]) + struct.pack('<HHH', len(cmd), 0, 0) + cmd


def rect(x, y, w, h):
    return struct.pack('<IIII', x, y, w, h)


def create(rid, fmt=2, w=64, h=64):
    return ctrl(hdr(CREATE_2D) + struct.pack('<IIII', rid, fmt, w, h))


def attach(rid, ents):
    return ctrl(hdr(ATTACH) + struct.pack('<II', rid, len(ents)),
                b''.join(struct.pack('<QII', a, l, 0) for a, l in ents))


def seed(name, *recs, mode=0):
    open(os.path.join(D, name), 'wb').write(bytes([mode]) + b''.join(recs))


fb = [create(1), attach(1, [(i, 4096) for i in range(4)]),
      ctrl(hdr(SET_SCANOUT) + rect(0, 0, 64, 64) + struct.pack('<II', 0, 1)),
      ctrl(hdr(TRANSFER) + rect(0, 0, 64, 64) + struct.pack('<QII', 0, 1, 0)),
      ctrl(hdr(FLUSH, FENCE, 7) + rect(0, 0, 64, 64) + struct.pack('<II', 1, 0))]
seed('dumb-fb', ctrl(hdr(GET_DISPLAY_INFO), rlen=408),
     ctrl(hdr(GET_EDID) + struct.pack('<II', 0, 0), rlen=1056), *fb)
seed('cursor', create(2, 2, 64, 64), attach(2, [(10, 16384)]),
     ctrl(hdr(TRANSFER) + rect(0, 0, 64, 64) + struct.pack('<QII', 0, 2, 0)),
     cursor(hdr(UPDATE_CURSOR) + struct.pack('<IIIIIIII', 0, 10, 10, 0, 2, 1, 1, 0)),
     cursor(hdr(MOVE_CURSOR) + struct.pack('<IIIIIIII', 0, 20, 20, 0, 0, 0, 0, 0)), mode=2)
seed('edges', create(3, 1, 0xffffffff, 1), create(4, 0, 1, 1), create(5, 99, 8, 8),
     attach(6, [(1, 4096)]), attach(3, [(0x8000000000000000, 4096)]),
     ctrl(hdr(SET_SCANOUT) + rect(0xfffffff0, 0, 0x20, 1) + struct.pack('<II', 16, 1)),
     ctrl(hdr(TRANSFER) + rect(60, 60, 8, 8) + struct.pack('<QII', 0xfffffffffffff000, 1, 0)),
     ctrl(hdr(GET_CAPSET_INFO) + struct.pack('<II', 0, 0)),
     ctrl(hdr(GET_CAPSET) + struct.pack('<IIII', 1, 0, 0, 0)),
     ctrl(hdr(CTX_CREATE) + struct.pack('<II', 0, 0) + b'x' * 64),
     ctrl(hdr(SUBMIT_3D) + struct.pack('<II', 0xffffffff, 0)),
     ctrl(hdr(ASSIGN_UUID) + struct.pack('<II', 1, 0), rlen=40),
     ctrl(hdr(DETACH) + struct.pack('<II', 1, 0)),
     ctrl(hdr(UNREF) + struct.pack('<II', 1, 0)), ctrl(hdr(UNREF) + struct.pack('<II', 1, 0)))
seed('hotplug', *fb, bytes([2, 0x81, 40, 0, 30, 0]), bytes([2, 0x00, 0, 0, 0, 0]),
     bytes([3, 4]) + struct.pack('<I', 1), ctrl(hdr(GET_DISPLAY_INFO), rlen=408), mode=1)
seed('many-entries', create(7, 2, 256, 256), attach(7, [(i, 512) for i in range(120)]),
     ctrl(hdr(TRANSFER) + rect(0, 0, 256, 256) + struct.pack('<QII', 0, 7, 0)))


def create_blob(rid, ents, size=None, mem=BLOB_MEM_GUEST, flags=SHAREABLE, nr=None):
    size = sum(l for _, l in ents) if size is None else size
    return ctrl(hdr(CREATE_BLOB) + struct.pack('<IIIIQQ', rid, mem, flags, len(ents) if nr is None else nr, 0, size),
                b''.join(struct.pack('<QII', a, l, 0) for a, l in ents))


def scanout_blob(sid, rid, w, h, stride, offset, r, fmt=2):
    return ctrl(hdr(SET_SCANOUT_BLOB) + r + struct.pack('<IIIIII', sid, rid, w, h, fmt, 0) +
                struct.pack('<4I', stride, 0, 0, 0) + struct.pack('<4I', offset, 0, 0, 0))


# guest-memory blobs (mode bit 2): a Linux-like blob framebuffer, flips, a cursor, maps refused
blob_fb = [create_blob(1, [(i, 4096) for i in range(8)]),
           scanout_blob(0, 1, 64, 64, 320, 4096, rect(8, 8, 32, 32)),
           ctrl(hdr(TRANSFER) + rect(0, 0, 64, 64) + struct.pack('<QII', 0, 1, 0)),
           ctrl(hdr(FLUSH, FENCE, 9) + rect(0, 0, 64, 64) + struct.pack('<II', 1, 0))]
seed('blob-fb', *blob_fb, create_blob(2, [(20, 16384)]),
     scanout_blob(0, 2, 64, 64, 256, 0, rect(0, 0, 64, 64), fmt=67),
     ctrl(hdr(FLUSH) + rect(0, 0, 64, 64) + struct.pack('<II', 2, 0)),
     cursor(hdr(UPDATE_CURSOR) + struct.pack('<IIIIIIII', 0, 10, 10, 0, 2, 1, 1, 0)),
     ctrl(hdr(MAP_BLOB) + struct.pack('<IIQ', 1, 0, 0), rlen=32),
     ctrl(hdr(UNMAP_BLOB) + struct.pack('<II', 1, 0)),
     scanout_blob(0, 0, 0, 0, 0, 0, rect(0, 0, 0, 0)),
     ctrl(hdr(UNREF) + struct.pack('<II', 1, 0)), mode=MODE_BLOB | 1)
seed('blob-edges', create_blob(1, [(1, 4096)], size=0), create_blob(1, [(1, 4096)], size=4097),
     create_blob(1, [(1, 4096)], size=8192), create_blob(1, [(1, 4096)], nr=0xffffffff),
     create_blob(1, [(0x8000000000000000, 4096)]), create_blob(1, [], mem=BLOB_MEM_HOST3D, flags=MAPPABLE,
                                                             size=1 << 20),
     create_blob(1, [(1, 4096)], mem=7), create_blob(1, [(1, 4096)], flags=0x80),
     create_blob(3, [(5, 4096)] * 4),
     scanout_blob(0, 3, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, rect(0, 0, 64, 64)),
     scanout_blob(0, 3, 16, 16, 60, 0, rect(0, 0, 16, 16)),
     scanout_blob(0, 3, 16, 256, 64, 1, rect(0, 0, 16, 16)),
     scanout_blob(0, 3, 16, 16, 64, 0, rect(0xfffffff0, 0, 0x20, 16)),
     scanout_blob(16, 3, 16, 16, 64, 0, rect(0, 0, 16, 16)),
     scanout_blob(0, 3, 16, 16, 64, 0, rect(0, 0, 16, 16), fmt=0),
     scanout_blob(0, 3, 16, 256, 64, 0, rect(0, 0, 16, 16)),
     ctrl(hdr(FLUSH) + rect(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff) + struct.pack('<II', 3, 0)),
     ctrl(hdr(DETACH) + struct.pack('<II', 3, 0)), attach(3, [(1, 4096)]),
     ctrl(hdr(SET_SCANOUT) + rect(0, 0, 16, 16) + struct.pack('<II', 0, 3)),
     ctrl(hdr(MAP_BLOB) + struct.pack('<IIQ', 3, 0, 0xffffffffffffffff), rlen=32),
     ctrl(hdr(UNREF) + struct.pack('<II', 3, 0)), ctrl(hdr(UNREF) + struct.pack('<II', 3, 0)),
     mode=MODE_BLOB)
# the same commands to a device that does not offer blobs (vgi-gpu over vhost-user)
seed('blob-off', *blob_fb, ctrl(hdr(MAP_BLOB) + struct.pack('<IIQ', 1, 0, 0), rlen=32), mode=0)
# ids a fixed hash would have put in one chain (the old (id * 2654435761) >> 22 == 0, and k * 1024),
# a resource-count cap to reach, and commands with bytes after their struct that must stay unread
old_chain = [i for i in range(1, 1 << 20) if ((i * 2654435761) & 0xffffffff) >> 22 == 0][:48]
seed('colliding-ids', *[create(i, 2, 1, 1) for i in old_chain + [k * 1024 for k in range(1, 17)]],
     ctrl(hdr(UNREF) + struct.pack('<II', old_chain[5], 0), b'\x5a' * 64),
     ctrl(hdr(CREATE_2D) + struct.pack('<IIII', old_chain[5], 2, 1, 1), b'\x5a' * 64),
     *[ctrl(hdr(UNREF) + struct.pack('<II', i, 0)) for i in old_chain])
