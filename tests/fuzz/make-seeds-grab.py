#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed corpus for fuzz-grab: header (config, devices) + 4-byte records (op, dev, code, value)."""
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'fuzz-grab')
os.makedirs(out, exist_ok=True)
# indexes into fuzz-grab.c's keys[]
LCTRL, RCTRL, LALT, RALT, LSHIFT, RSHIFT, LMETA, RMETA, SCROLL, A, CAPS, BTN, TOUCH, NUM = range(14)


def key(dev, k, v):
    return bytes([0, dev, k, v])


def syn(dev):
    return bytes([7, dev, 0, 0])


def combo(dev, a, b):
    return key(dev, a, 1) + syn(dev) + key(dev, b, 1) + syn(dev) + key(dev, b, 0) + key(dev, a, 0) + syn(dev)


seeds = {
    # ctrl-ctrl, one device: grab, type, ungrab
    'ctrl-ctrl': bytes([0, 0]) + combo(0, LCTRL, RCTRL) + key(0, A, 1) + syn(0) + key(0, A, 2) + key(0, A, 0) +
    syn(0) + combo(0, LCTRL, RCTRL),
    # a key held across the combination: the flip waits for it
    'held-across': bytes([0x20, 0]) + key(0, A, 1) + syn(0) + combo(0, LCTRL, RCTRL) + key(0, A, 2) +
    key(0, A, 0) + syn(0),
    # scroll lock mode: the key itself never reaches the guest
    'scrolllock': bytes([4, 0]) + key(0, SCROLL, 1) + key(0, SCROLL, 0) + syn(0) + key(0, SCROLL, 1) + syn(0) +
    key(0, SCROLL, 0) + syn(0),
    'ctrl-scrolllock': bytes([5, 0]) + key(0, LCTRL, 1) + key(0, SCROLL, 1) + key(0, SCROLL, 0) +
    key(0, LCTRL, 0) + syn(0),
    # grab_all with three devices, toggled from the second, keys held on the third
    'grab-all': bytes([0x10 | 1, 2]) + key(2, A, 1) + combo(1, LALT, RALT) + key(2, A, 0) + syn(2) +
    bytes([9, 0, 1, 2]) + syn(0),
    # device vanishes with keys held, comes back with keys already down
    'hotplug': bytes([0x40, 1]) + key(0, A, 1) + syn(0) + bytes([13, 0, 0, 0]) + bytes([12, 0, A, 1]) +
    key(0, A, 0) + syn(0) + bytes([12, 1, 0, 4]),
    # LEDs both ways while grabbed and released
    'leds': bytes([0x40, 0]) + syn(0) + bytes([11, 0, 1, 1, 10, 0, 0, 1, 11, 0, 1, 0]) + combo(0, LCTRL, RCTRL) +
    bytes([10, 0, 2, 1]),
    # requested toggles, unknown ids, raw codes and values
    'odd': bytes([0x53, 3]) + bytes([14, 0, 0, 0, 14, 200, 0, 0, 15, 0, 9, 0, 6, 0, 0xff, 0xff, 6, 1, 30, 0x84]) +
    combo(3, LMETA, RMETA) + bytes([9, 1, 0, 3, 9, 1, 0, 0x11]),
    'shift-shift-repeat': bytes([0x22, 0]) + combo(0, LSHIFT, RSHIFT) + key(0, LSHIFT, 1) + key(0, LSHIFT, 2) +
    key(0, LSHIFT, 2) + key(0, LSHIFT, 0) + syn(0),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
