#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seeds for the lifecycle fuzzing (fuzz-vu-life.h): fuzz-vhost-user's lifecycle
mode (first byte 0xfa, then a mode byte: bit 0 = the virgl device) and
fuzz-vhost-user-input (mode byte: bits 0-1 device kind, bit 2 = wrong-sized
event buffers allowed). Each seed is one QEMU-like sequence: VM stop/continue
with work held, a guest reboot (SET_STATUS 0, rings afresh), RESET_DEVICE, a
memory table swapped for a new file, memory hotplug, a new front-end, RAM
truncated under the back-end."""
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')


def write(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(bytes(data))


# ---- lifecycle records (fuzz-vu-life.h lf_record): op, arg ----
NOPS = 12
SETUP = [0, 0]
SETUP_EVENT_IDX = [0, 2]


def stop(q):            # GET_VRING_BASE
    return [1, q]


def resume(q):          # VM continue: the ring starts again at its base
    return [2, q]


def fresh(q):           # the guest sets the ring up afresh (base 0)
    return [3, q]


SAME_TABLE = [4, 0]
SWAP_TABLE = [4, 2]     # a new memfd with the same contents
HOTPLUG = [5, 0]        # ADD_MEM_REG, then REM_MEM_REG the next time
STATUS_0 = [6, 0]
STATUS_OK = [6, 2]
RESET_DEVICE = [7, 0]
RESET_OWNER = [7, 2]


def kick(q):
    return [8, 4 | q]


def disable(q):
    return [8, 2 | q]


def enable(q):
    return [8, q]


HANGUP = [9, 0]         # the next record connects a new front-end (and sets it up)
TRUNCATE = [10, 0]
MOVE_RING = [11, 0]

# ---- fuzz-vhost-user lifecycle GPU records: 12 + k, a, b (a: res 1+(a&3), ctx 1+(a>>2&1)) ----


def g(k, a=0, b=0):
    return [NOPS + k, a, b]


CTX = g(0)
RT3D = g(1)                     # 3D render target, backing in RAM, attached to the context
RT3D_EXTRA = g(1, 0, 8)         # backing in the hot-plugged region


def submit(fence_flags=0):      # fenced clear (0x40: unfenced, 0x20: ring idx, 0x10|n: fence id n)
    return g(2, 0, fence_flags)


DISPATCH = g(4, 0, 1)           # wait for the fence fd, dispatch
DISPATCH_NOW = g(4, 0, 0)
RES2D = g(5, 1, 1)              # 2D resource 2, backing, transfer, scanout, flush
RES2D_EXTRA = g(5, 1, 9)
UNREF = g(6, 0, 0)
CTX_DESTROY = g(6, 0, 2)
SCANOUT_OFF = g(6, 1, 1 | 4)
CURSOR = g(7, 1, 1)
DISPLAY_INFO = g(7, 0, 2)
READBACK = g(7, 0, 0)

WORK = SETUP + CTX + RT3D + submit() + submit(0x20) + RES2D
gpu = {
    'stop-held-resume': WORK + stop(0) + resume(0) + submit() + DISPATCH + stop(0) + stop(1) + resume(0) +
    resume(1) + submit() + DISPATCH,
    'stop-held-new-table': WORK + stop(0) + stop(1) + SWAP_TABLE + resume(0) + resume(1) + submit() +
    DISPATCH + READBACK,
    'new-table-running': WORK + SWAP_TABLE + submit() + SWAP_TABLE + DISPATCH + RES2D + SAME_TABLE,
    'reboot-status-0': WORK + stop(0) + stop(1) + STATUS_0 + fresh(0) + fresh(1) + STATUS_OK + CTX + RT3D +
    submit() + DISPATCH,
    'reboot-status-0-no-stop': WORK + STATUS_0 + stop(0) + fresh(0) + fresh(1) + CTX + submit(),
    'vm-stop-cont': WORK + stop(0) + stop(1) + STATUS_0 + resume(0) + resume(1) + STATUS_OK + submit() +
    DISPATCH + READBACK,
    'reset-device': WORK + RESET_DEVICE + SETUP + CTX + RT3D + submit() + RESET_OWNER + resume(0) + DISPATCH,
    'reconnect': WORK + HANGUP + CTX + RT3D + submit() + HANGUP + SETUP_EVENT_IDX + CTX + submit() + DISPATCH,
    'truncate-ram': WORK + TRUNCATE + CTX + RT3D + submit() + kick(0) + DISPATCH,
    'hotplug-backing': SETUP + HOTPLUG + CTX + RT3D_EXTRA + RES2D_EXTRA + submit() + HOTPLUG + RES2D +
    submit() + DISPATCH + HOTPLUG + READBACK,
    'disabled-ring': WORK + disable(0) + submit() + stop(0) + resume(0) + enable(0) + DISPATCH,
    'move-ring': WORK + MOVE_RING + submit() + DISPATCH + CURSOR + DISPLAY_INFO,
    'fences-backwards': SETUP + CTX + RT3D + submit(0x10 | 9) + submit(0x10 | 2) + submit(0x30 | 1) +
    stop(0) + resume(0) + DISPATCH + CTX_DESTROY + UNREF + SCANOUT_OFF,
}
for name, recs in gpu.items():
    write('fuzz-vhost-user', 'life-virgl-' + name, [0xfa, 1] + recs)
    write('fuzz-vhost-user', 'life-2d-' + name, [0xfa, 0] + recs)

# ---- fuzz-vhost-user-input records: 12 + k, a, ... ----


def bufs(n, kick=True):         # n well-sized event buffers (mode bit 2 clear)
    return [NOPS + 0, (n - 1) | (0 if kick else 0x80)]


def frame(n, syn=True):         # n key events, then SYN_REPORT
    return [NOPS + 3, (n - 1) | (0 if syn else 0x80)] + [i for i in range(n)]


def led(code, on):
    return [NOPS + 2, code | (0x80 if on else 0)]


FLUSH = [NOPS + 5, 0]
LONG_FRAME = [NOPS + 6, 1]

inp = {
    # two buffers taken for a frame of four: held, given back at the stop, taken again after
    'stop-stashed-resume': SETUP + bufs(2) + frame(4) + stop(0) + resume(0) + bufs(4) + FLUSH + frame(1),
    'events-while-stopped': SETUP + bufs(8) + stop(0) + frame(2) + frame(3) + resume(0) + FLUSH + stop(0),
    'swap-table-stashed': SETUP + bufs(1) + frame(3) + SWAP_TABLE + bufs(4) + FLUSH + stop(0) + resume(0),
    'reboot-status-0': SETUP + bufs(3) + frame(5) + led(1, True) + STATUS_0 + fresh(0) + fresh(1) + bufs(8) +
    frame(2),
    'vm-stop-cont': SETUP + bufs(3) + frame(5) + stop(0) + stop(1) + STATUS_0 + resume(0) + resume(1) +
    STATUS_OK + bufs(4) + FLUSH,
    'status-0-then-base': SETUP + bufs(2) + frame(1) + frame(4) + STATUS_0 + stop(0) + resume(0) + FLUSH,
    'reset-device': SETUP + bufs(2) + frame(3) + led(0, True) + RESET_DEVICE + SETUP + bufs(4) + frame(2),
    'reconnect': SETUP + bufs(2) + frame(3) + HANGUP + bufs(4) + frame(1) + HANGUP + SETUP_EVENT_IDX + bufs(2) +
    frame(2),
    'truncate-ram': SETUP + bufs(2) + frame(3) + TRUNCATE + bufs(2) + frame(1),
    'disabled-ring': SETUP + bufs(4) + disable(0) + frame(2) + stop(0) + resume(0) + enable(0) + FLUSH,
    'long-frame-stop': SETUP + bufs(8) + LONG_FRAME + bufs(8) + stop(0) + resume(0) + FLUSH,
    'hotplug': SETUP + HOTPLUG + bufs(2) + frame(3) + HOTPLUG + FLUSH + bufs(3) + MOVE_RING + FLUSH,
}
for name, recs in inp.items():
    write('fuzz-vhost-user-input', 'keyboard-' + name, [0] + recs)
    write('fuzz-vhost-user-input', 'tablet-' + name, [2] + recs)
# wrong-sized event buffers and buffers in a region that goes away (mode bit 2): 3 = wrong size next
mixed = SETUP + HOTPLUG + [NOPS + 0, 0x43, 0, 3, 1, 0, 0] + frame(3) + [NOPS + 0, 1, 3, 2, 0] + frame(2) + \
    HOTPLUG + stop(0) + resume(0) + FLUSH
write('fuzz-vhost-user-input', 'mixed-sizes-hotplug', [4] + mixed)
