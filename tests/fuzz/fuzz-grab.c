// SPDX-License-Identifier: MIT
/*
 * Fuzz the grab-toggle state machine (input/grab.c) with arbitrary evdev
 * event streams from several devices, devices going on/offline, guest LED
 * writes and toggle requests. An independent model checks every action:
 *  - the guest never sees a press of a key it already holds, a release or
 *    repeat of a key it does not hold, nor autorepeat with repeat off;
 *  - events reach the guest only from a grabbed device (releases of held
 *    keys while a grab ends excepted), never the scroll lock key in the
 *    scroll-lock modes;
 *  - grab/release actions alternate and happen only with every key up;
 *  - the key count equals the model's physical keys after every call;
 *  - at the end, once every key is released: no key is down on either
 *    side, no toggle is left pending (another SYN changes nothing) and
 *    with grab_all every online device is in the same state.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input-event-codes.h>

#include <vgi/grab.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDEV 4
#define KBYTES (VGI_GRAB_KEY_CNT / 8)

struct model {
	struct vgi_grab *g;
	struct vgi_grab_config cfg;
	unsigned ndev;
	bool online[NDEV], grabbed[NDEV];
	uint8_t phys[NDEV][KBYTES];	/* keys physically down (from what we fed) */
	uint8_t guest[NDEV][KBYTES];	/* keys the guest holds (from FORWARD actions) */
	unsigned grab_actions;
};

static void fail(const char *what, unsigned dev, unsigned code)
{
	fprintf(stderr, "fuzz-grab: invariant broken: %s (dev %u code %u)\n", what, dev, code);
	abort();
}

static bool bit(const uint8_t *m, unsigned i)
{
	return m[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *m, unsigned i, bool v)
{
	if (v)
		m[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		m[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static unsigned count(const uint8_t *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < KBYTES; i++)
		n += (unsigned)__builtin_popcount(m[i]);
	return n;
}

static unsigned phys_total(const struct model *m)
{
	unsigned n = 0;

	for (unsigned d = 0; d < m->ndev; d++)
		if (m->online[d])
			n += count(m->phys[d]);
	return n;
}

static bool scroll_mode(const struct model *m)
{
	return m->cfg.toggle == VGI_GRAB_TOGGLE_SCROLLLOCK || m->cfg.toggle == VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK;
}

static void action(void *opaque, const struct vgi_grab_action *a)
{
	struct model *m = opaque;
	unsigned d = a->dev;

	if (d >= m->ndev)
		fail("action for an unknown device", d, 0);
	switch (a->type) {
	case VGI_GRAB_ACT_FORWARD:
		if (a->ev.type == EV_KEY) {
			unsigned c = a->ev.code;

			if (c >= VGI_GRAB_KEY_CNT)
				fail("key code out of range forwarded", d, c);
			if (scroll_mode(m) && c == KEY_SCROLLLOCK)
				fail("scroll lock forwarded in a scroll-lock mode", d, c);
			if (a->ev.value == 1) {
				if (!m->grabbed[d] || !m->online[d])
					fail("press forwarded from a device not grabbed", d, c);
				if (bit(m->guest[d], c))
					fail("press of a key the guest already holds", d, c);
				if (!bit(m->phys[d], c))
					fail("press forwarded for a key not physically down", d, c);
				set_bit(m->guest[d], c, true);
			} else if (a->ev.value == 0) {
				if (!bit(m->guest[d], c))
					fail("release of a key the guest does not hold", d, c);
				set_bit(m->guest[d], c, false);
			} else if (a->ev.value == 2) {
				if (!m->cfg.repeat)
					fail("autorepeat forwarded with repeat off", d, c);
				if (!bit(m->guest[d], c) || !m->grabbed[d])
					fail("autorepeat of a key the guest does not hold", d, c);
			} else {
				fail("key value out of range forwarded", d, (unsigned)a->ev.value);
			}
		} else if (!(a->ev.type == EV_SYN && a->ev.code == SYN_REPORT) && !m->grabbed[d]) {
			fail("event forwarded from a device not grabbed", d, a->ev.type);
		}
		break;
	case VGI_GRAB_ACT_GRAB:
		if (m->grabbed[d] == a->on)
			fail("grab action repeats the current state", d, a->on);
		if (!m->online[d])
			fail("grab action for an offline device", d, a->on);
		if (phys_total(m))
			fail("grab flipped while keys are down", d, phys_total(m));
		if (!a->on && count(m->guest[d]))
			fail("device released while the guest holds keys from it", d, count(m->guest[d]));
		m->grabbed[d] = a->on;
		m->grab_actions++;
		break;
	case VGI_GRAB_ACT_LED:
		if (a->ev.type != EV_LED || a->ev.code >= VGI_GRAB_LED_CNT || a->ev.value != (int32_t)a->on)
			fail("bad LED action", d, a->ev.code);
		break;
	case VGI_GRAB_ACT_HOOK:
		break;
	default:
		fail("unknown action", d, a->type);
	}
}

static void check(struct model *m)
{
	if (vgi_grab_keys_down(m->g) != phys_total(m))
		fail("key count differs from the keys physically down", vgi_grab_keys_down(m->g), phys_total(m));
	for (unsigned d = 0; d < m->ndev; d++) {
		if (vgi_grab_is_grabbed(m->g, d) != m->grabbed[d])
			fail("grab state differs from the actions", d, m->grabbed[d]);
		if (vgi_grab_is_online(m->g, d) != m->online[d])
			fail("online state differs", d, m->online[d]);
	}
}

/* Interesting key codes: the toggle keys and a few ordinary ones. */
static const uint16_t keys[] = {
	KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT, KEY_LEFTSHIFT, KEY_RIGHTSHIFT,
	KEY_LEFTMETA, KEY_RIGHTMETA, KEY_SCROLLLOCK, KEY_A, KEY_CAPSLOCK, BTN_LEFT, BTN_TOUCH, KEY_NUMLOCK,
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void feed(struct model *m, unsigned d, uint16_t type, uint16_t code, int32_t value)
{
	struct vgi_input_event ev = { .type = type, .code = code, .value = value };

	if (m->online[d] && type == EV_KEY && code < VGI_GRAB_KEY_CNT && value >= 0 && value <= 1)
		set_bit(m->phys[d], code, value);
	vgi_grab_event(m->g, d, &ev);
	check(m);
}

static void go_online(struct model *m, unsigned d, const uint8_t *keymap)
{
	/*
	 * The model changes first, as the library sees it from inside the call:
	 * an online device is implicitly taken offline (its grab is gone with
	 * its fd, its keys no longer count), then comes up with no grab and
	 * its keys counted before any flip is considered.
	 */
	memset(m->phys[d], 0, KBYTES);
	m->online[d] = true;
	m->grabbed[d] = false;
	if (vgi_grab_device_online(m->g, d, keymap, NULL))
		fail("device_online failed", d, 0);
	if (keymap)
		memcpy(m->phys[d], keymap, KBYTES);
	check(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m;
	size_t i = 2;

	if (size < 2)
		return 0;
	memset(&m, 0, sizeof(m));
	m.cfg.toggle = (enum vgi_grab_toggle)(data[0] % VGI_GRAB_TOGGLE_COUNT);
	m.cfg.grab_all = data[0] & 0x10;
	m.cfg.repeat = data[0] & 0x20;
	m.cfg.start_grabbed = data[0] & 0x40;
	m.ndev = 1 + data[1] % NDEV;
	m.g = vgi_grab_new(&m.cfg, action, &m);
	if (!m.g)
		abort();
	for (unsigned d = 0; d < m.ndev; d++) {
		if (vgi_grab_add_device(m.g) != (int)d)
			abort();
		if (!(data[1] & (0x10u << d)))
			go_online(&m, d, NULL);
	}

	while (i + 4 <= size) {
		uint8_t op = data[i], dv = data[i + 1], c = data[i + 2], v = data[i + 3];
		unsigned d = dv % m.ndev;

		i += 4;
		switch (op % 16) {
		case 0: case 1: case 2: case 3: case 4: case 5:		/* a key from the interesting set */
			feed(&m, d, EV_KEY, keys[c % NKEYS], v % 3);
			break;
		case 6:		/* any key code, any value */
			feed(&m, d, EV_KEY, (uint16_t)(c | (v & 3) << 8), (int32_t)(int8_t)v >> 2);
			break;
		case 7: case 8:
			feed(&m, d, EV_SYN, SYN_REPORT, 0);
			break;
		case 9:		/* other event types */
			feed(&m, d, (uint16_t)(v % EV_CNT), c, (int32_t)(int8_t)v);
			break;
		case 10:
			feed(&m, d, EV_LED, c % 20, v & 1);
			break;
		case 11:
			vgi_grab_guest_led(m.g, c % 20, v & 1);
			check(&m);
			break;
		case 12: {	/* device (re)appears with some keys already down */
			uint8_t map[KBYTES] = { 0 };

			if (v & 1)
				set_bit(map, keys[c % NKEYS], true);
			if (v & 2)
				set_bit(map, keys[(c >> 4) % NKEYS], true);
			go_online(&m, d, (v & 4) ? NULL : map);
			break;
		}
		case 13:	/* device vanishes: the guest gets releases for what it holds */
			if (m.online[d]) {
				m.online[d] = false;
				m.grabbed[d] = false;
				memset(m.phys[d], 0, KBYTES);
				vgi_grab_device_offline(m.g, d);
				if (count(m.guest[d]))
					fail("guest still holds keys of a vanished device", d, count(m.guest[d]));
				check(&m);
			}
			break;
		case 14:
			vgi_grab_request_toggle(m.g, dv);	/* unchecked id on purpose */
			check(&m);
			break;
		case 15:	/* unknown device ids are ignored */
			{
				struct vgi_input_event ev = { EV_KEY, KEY_A, 1 };

				vgi_grab_event(m.g, NDEV + c, &ev);
				vgi_grab_device_offline(m.g, NDEV + c);
				if (vgi_grab_device_online(m.g, NDEV + c, NULL, NULL) != -22)
					fail("device_online accepted an unknown id", NDEV + c, 0);
				check(&m);
			}
			break;
		}
	}

	/* Release every key still down, end the frames: nothing may be left down anywhere. */
	for (unsigned d = 0; d < m.ndev; d++) {
		if (!m.online[d])
			continue;
		for (unsigned c = 0; c < VGI_GRAB_KEY_CNT; c++)
			if (bit(m.phys[d], c))
				feed(&m, d, EV_KEY, (uint16_t)c, 0);
		feed(&m, d, EV_SYN, SYN_REPORT, 0);
	}
	if (vgi_grab_keys_down(m.g))
		fail("keys down after every key was released", vgi_grab_keys_down(m.g), 0);
	for (unsigned d = 0; d < m.ndev; d++) {
		if (count(m.guest[d]))
			fail("guest holds keys after every key was released", d, count(m.guest[d]));
		for (unsigned c = 0; c < VGI_GRAB_KEY_CNT; c++)
			if (vgi_grab_guest_key_down(m.g, d, c))
				fail("library says the guest holds a key", d, c);
	}
	/* Every toggle asked for has been carried out: another frame flips nothing. */
	{
		unsigned before = m.grab_actions;

		for (unsigned d = 0; d < m.ndev; d++)
			if (m.online[d])
				feed(&m, d, EV_SYN, SYN_REPORT, 0);
		if (m.grab_actions != before)
			fail("a toggle was still pending with every key up", before, m.grab_actions);
	}
	if (m.cfg.grab_all) {
		int state = -1;

		for (unsigned d = 0; d < m.ndev; d++) {
			if (!m.online[d])
				continue;
			if (state >= 0 && state != m.grabbed[d])
				fail("grab_all: online devices differ", d, m.grabbed[d]);
			state = m.grabbed[d];
		}
	}
	vgi_grab_free(m.g);
	return 0;
}
