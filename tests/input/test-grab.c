// SPDX-License-Identifier: MIT
/*
 * The grab-toggle state machine on event arrays. A small model of the two
 * sides checks every step: the host sees a device's events while it is not
 * grabbed (the kernel's EVIOCGRAB rule), the guest sees what is forwarded.
 * Neither side may see a release without a press or a press twice, and
 * after every key is released neither side may hold a key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/input-event-codes.h>

#include <vgi/grab.h>

#define NDEV 3
#define MAXACT 4096

struct world {
	struct vgi_grab *g;
	struct vgi_grab_action act[MAXACT];
	unsigned nact;
	bool grabbed[NDEV];		/* as told by GRAB actions */
	bool host_down[NDEV][KEY_CNT];
	bool guest_down[NDEV][KEY_CNT];
	uint16_t shown_led[NDEV];	/* as written by LED actions */
	unsigned hooks;
	bool last_hook;
	unsigned guest_events;		/* non-SYN events forwarded */
	bool open_frame[NDEV];		/* guest got events with no SYN_REPORT yet */
};

static void on_action(void *opaque, const struct vgi_grab_action *a)
{
	struct world *w = opaque;

	assert_true(w->nact < MAXACT);
	w->act[w->nact++] = *a;
	assert_true(a->dev < NDEV);
	switch (a->type) {
	case VGI_GRAB_ACT_FORWARD:
		assert_true(w->grabbed[a->dev] || a->ev.value == 0 || a->ev.type == EV_SYN);
		if (a->ev.type == EV_KEY) {
			assert_true(a->ev.code < KEY_CNT);
			if (a->ev.value == 1) {
				assert_false(w->guest_down[a->dev][a->ev.code]);
				w->guest_down[a->dev][a->ev.code] = true;
			} else if (a->ev.value == 0) {
				assert_true(w->guest_down[a->dev][a->ev.code]);
				w->guest_down[a->dev][a->ev.code] = false;
			} else {
				assert_int_equal(a->ev.value, 2);
				assert_true(w->guest_down[a->dev][a->ev.code]);
			}
		}
		if (a->ev.type == EV_SYN && a->ev.code == SYN_REPORT) {
			w->open_frame[a->dev] = false;
		} else {
			w->open_frame[a->dev] = true;
			w->guest_events++;
		}
		break;
	case VGI_GRAB_ACT_GRAB:
		assert_true(w->grabbed[a->dev] != a->on);
		/* the flip happens only with every key up, and the guest holds nothing from a released device */
		assert_int_equal(vgi_grab_keys_down(w->g), 0);
		if (!a->on) {
			for (unsigned c = 0; c < KEY_CNT; c++)
				assert_false(w->guest_down[a->dev][c]);
			assert_false(w->open_frame[a->dev]);
		}
		w->grabbed[a->dev] = a->on;
		break;
	case VGI_GRAB_ACT_LED:
		assert_int_equal(a->ev.type, EV_LED);
		assert_true(a->ev.code < VGI_GRAB_LED_CNT);
		if (a->ev.value)
			w->shown_led[a->dev] |= (uint16_t)(1u << a->ev.code);
		else
			w->shown_led[a->dev] &= (uint16_t)~(1u << a->ev.code);
		break;
	case VGI_GRAB_ACT_HOOK:
		w->hooks++;
		w->last_hook = a->on;
		break;
	}
}

static struct world *world_new(enum vgi_grab_toggle t, bool grab_all, bool repeat, bool start, unsigned ndev)
{
	struct world *w = calloc(1, sizeof(*w));
	struct vgi_grab_config cfg = { .toggle = t, .grab_all = grab_all, .repeat = repeat, .start_grabbed = start };

	w->g = vgi_grab_new(&cfg, on_action, w);
	assert_non_null(w->g);
	for (unsigned i = 0; i < ndev; i++) {
		assert_int_equal(vgi_grab_add_device(w->g), (int)i);
		assert_int_equal(vgi_grab_device_online(w->g, i, NULL, NULL), 0);
	}
	return w;
}

static void world_free(struct world *w)
{
	vgi_grab_free(w->g);
	free(w);
}

/* What the kernel does with an event from the device, then what the state machine does. */
static void ev(struct world *w, unsigned dev, uint16_t type, uint16_t code, int32_t value)
{
	struct vgi_input_event e = { type, code, value };

	if (!w->grabbed[dev] && type == EV_KEY && value != 2) {
		w->host_down[dev][code] = value == 1;
	}
	if (w->grabbed[dev] && type == EV_KEY && value == 0)
		assert_false(w->host_down[dev][code]);	/* host would keep it down */
	vgi_grab_event(w->g, dev, &e);
}

static void key(struct world *w, unsigned dev, uint16_t code, int32_t value)
{
	ev(w, dev, EV_KEY, code, value);
	ev(w, dev, EV_SYN, SYN_REPORT, 0);
}

static void assert_nothing_stuck(struct world *w)
{
	assert_int_equal(vgi_grab_keys_down(w->g), 0);
	for (unsigned d = 0; d < NDEV; d++) {
		for (unsigned c = 0; c < KEY_CNT; c++) {
			assert_false(w->host_down[d][c]);
			assert_false(w->guest_down[d][c]);
			assert_false(vgi_grab_guest_key_down(w->g, d, c));
		}
	}
}

static void combo_keys(enum vgi_grab_toggle t, uint16_t k[2])
{
	static const uint16_t keys[VGI_GRAB_TOGGLE_COUNT][2] = {
		{ KEY_LEFTCTRL, KEY_RIGHTCTRL }, { KEY_LEFTALT, KEY_RIGHTALT },
		{ KEY_LEFTSHIFT, KEY_RIGHTSHIFT }, { KEY_LEFTMETA, KEY_RIGHTMETA },
		{ KEY_SCROLLLOCK, 0 }, { KEY_RIGHTCTRL, KEY_SCROLLLOCK },
	};

	k[0] = keys[t][0];
	k[1] = keys[t][1];
}

/* Press the combination (first key, then second), release in reverse order. */
static void press_combo(struct world *w, unsigned dev, enum vgi_grab_toggle t)
{
	uint16_t k[2];

	combo_keys(t, k);
	key(w, dev, k[0], 1);
	if (k[1])
		key(w, dev, k[1], 1);
	if (k[1])
		key(w, dev, k[1], 0);
	key(w, dev, k[0], 0);
}

static unsigned count(struct world *w, unsigned from, enum vgi_grab_action_type type, unsigned dev)
{
	unsigned n = 0;

	for (unsigned i = from; i < w->nact; i++)
		n += w->act[i].type == type && w->act[i].dev == dev;
	return n;
}

static bool forwarded_key(struct world *w, unsigned from, unsigned dev, uint16_t code)
{
	for (unsigned i = from; i < w->nact; i++) {
		if (w->act[i].type == VGI_GRAB_ACT_FORWARD && w->act[i].dev == dev && w->act[i].ev.type == EV_KEY &&
		    w->act[i].ev.code == code)
			return true;
	}
	return false;
}

/* Every combination, with and without grab_all and repeat, flipped both ways several times. */
static void test_every_combo(void **state)
{
	for (int t = 0; t < VGI_GRAB_TOGGLE_COUNT; t++) {
		for (int all = 0; all < 2; all++) {
			for (int rep = 0; rep < 2; rep++) {
				struct world *w = world_new((enum vgi_grab_toggle)t, all, rep, true, 2);
				bool scroll_mode = t == VGI_GRAB_TOGGLE_SCROLLLOCK || t == VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK;
				uint16_t k[2];
				unsigned mark;

				combo_keys((enum vgi_grab_toggle)t, k);
				/* both come up grabbed (start_grabbed) */
				assert_true(w->grabbed[0] && w->grabbed[1]);
				for (int round = 0; round < 3; round++) {
					/* grabbed: keys, repeat and mouse motion reach the guest */
					mark = w->nact;
					ev(w, 0, EV_KEY, KEY_A, 1);
					ev(w, 0, EV_SYN, SYN_REPORT, 0);
					ev(w, 0, EV_KEY, KEY_A, 2);
					ev(w, 0, EV_SYN, SYN_REPORT, 0);
					key(w, 0, KEY_A, 0);
					ev(w, 1, EV_REL, REL_X, 5);
					ev(w, 1, EV_SYN, SYN_REPORT, 0);
					assert_true(forwarded_key(w, mark, 0, KEY_A));
					/* press, (repeat + its SYN), release, SYNs: */
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_FORWARD, 0), rep ? 6 : 4);
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_FORWARD, 1), 2);
					for (unsigned c = 0; c < KEY_CNT; c++)
						assert_false(w->host_down[0][c]);

					/* the combination releases the keyboard (and the mouse with grab_all) */
					mark = w->nact;
					press_combo(w, 0, (enum vgi_grab_toggle)t);
					assert_false(w->grabbed[0]);
					assert_int_equal(w->grabbed[1], !all);
					assert_false(w->last_hook);
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_HOOK, 0), 1);
					/* the guest saw the combination keys pressed and released, except scroll lock */
					assert_int_equal(forwarded_key(w, mark, 0, KEY_SCROLLLOCK), false);
					if (!scroll_mode)
						assert_true(forwarded_key(w, mark, 0, k[0]) && forwarded_key(w, mark, 0, k[1]));
					if (t == VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK)
						assert_true(forwarded_key(w, mark, 0, KEY_RIGHTCTRL));
					assert_nothing_stuck(w);

					/* released: nothing reaches the guest, the host sees it */
					mark = w->nact;
					key(w, 0, KEY_B, 1);
					assert_true(w->host_down[0][KEY_B]);
					key(w, 0, KEY_B, 0);
					ev(w, 1, EV_REL, REL_Y, 3);
					ev(w, 1, EV_SYN, SYN_REPORT, 0);
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_FORWARD, 0), 0);
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_FORWARD, 1), all ? 0 : 2);

					/* and back: the guest gets nothing of the combination that grabs */
					mark = w->nact;
					press_combo(w, 0, (enum vgi_grab_toggle)t);
					assert_true(w->grabbed[0] && w->grabbed[1]);
					assert_true(w->last_hook);
					assert_int_equal(count(w, mark, VGI_GRAB_ACT_FORWARD, 0), 0);
					assert_nothing_stuck(w);
				}
				assert_int_equal(w->hooks, 6);
				world_free(w);
			}
		}
	}
}

/* Without grab_all, the mouse has its own state: toggled only by request. */
static void test_per_device(void **state)
{
	struct world *w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, false, false, true, 2);

	press_combo(w, 0, VGI_GRAB_TOGGLE_CTRL_CTRL);
	assert_false(w->grabbed[0]);
	assert_true(w->grabbed[1]);
	vgi_grab_request_toggle(w->g, 1);
	assert_false(w->grabbed[1]);
	assert_int_equal(w->hooks, 2);
	/* a combination pressed on the mouse device toggles the mouse */
	press_combo(w, 1, VGI_GRAB_TOGGLE_CTRL_CTRL);
	assert_true(w->grabbed[1]);
	assert_false(w->grabbed[0]);
	assert_nothing_stuck(w);
	world_free(w);
}

/* The flip waits for every key on every device: held keys cross the toggle press without getting stuck. */
static void test_keys_held_across_toggle(void **state)
{
	for (int all = 0; all < 2; all++) {
		struct world *w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, all, true, true, 3);
		unsigned mark;

		/* grabbed -> released, with A held on the same keyboard */
		key(w, 0, KEY_A, 1);
		press_combo(w, 0, VGI_GRAB_TOGGLE_CTRL_CTRL);
		assert_true(w->grabbed[0]);
		assert_true(w->guest_down[0][KEY_A]);
		mark = w->nact;
		key(w, 0, KEY_A, 0);
		assert_true(forwarded_key(w, mark, 0, KEY_A));	/* the guest gets the release, then the flip */
		assert_false(w->grabbed[0]);
		assert_nothing_stuck(w);

		/* released -> grabbed, with B held on another keyboard and a mouse button down */
		key(w, 1, KEY_B, 1);
		key(w, 2, BTN_LEFT, 1);
		assert_true(all ? w->host_down[1][KEY_B] : w->guest_down[1][KEY_B]);
		press_combo(w, 0, VGI_GRAB_TOGGLE_CTRL_CTRL);
		assert_false(w->grabbed[0]);
		key(w, 1, KEY_B, 0);
		assert_false(w->grabbed[0]);
		mark = w->nact;
		key(w, 2, BTN_LEFT, 0);
		assert_true(w->grabbed[0]);
		assert_int_equal(w->last_hook, true);
		/* the releases of keys pressed before the grab went to whoever saw the press */
		assert_int_equal(forwarded_key(w, mark, 2, BTN_LEFT), !all);
		assert_nothing_stuck(w);

		/* the combination pressed twice before all keys are up still asks once */
		key(w, 0, KEY_LEFTCTRL, 1);
		key(w, 0, KEY_RIGHTCTRL, 1);
		key(w, 0, KEY_RIGHTCTRL, 0);
		key(w, 0, KEY_RIGHTCTRL, 1);
		key(w, 0, KEY_RIGHTCTRL, 2);
		key(w, 0, KEY_RIGHTCTRL, 0);
		key(w, 0, KEY_LEFTCTRL, 0);
		assert_false(w->grabbed[0]);
		assert_nothing_stuck(w);
		world_free(w);
	}
}

/* Random presses, releases, repeats, toggles and mouse motion over three devices. */
static void test_random_sequences(void **state)
{
	static const uint16_t pool[] = { KEY_A, KEY_B, KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT,
					 KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTMETA, KEY_RIGHTMETA,
					 KEY_SCROLLLOCK, BTN_LEFT, BTN_RIGHT, KEY_ENTER };
	uint32_t seed = 1;

	for (int t = 0; t < VGI_GRAB_TOGGLE_COUNT; t++) {
		for (int all = 0; all < 2; all++) {
			for (int rep = 0; rep < 2; rep++) {
				struct world *w = world_new((enum vgi_grab_toggle)t, all, rep, rep, NDEV);
				bool phys[NDEV][KEY_CNT] = { { false } };

				for (int step = 0; step < 3000; step++) {
					unsigned d, r;
					uint16_t c;

					w->nact = 0;	/* the model checks each action as it comes */
					seed = seed * 1103515245u + 12345u;
					r = seed >> 8;
					d = r % NDEV;
					c = pool[(r / NDEV) % (sizeof(pool) / sizeof(pool[0]))];
					switch ((r >> 12) % 8) {
					case 0:
						ev(w, d, EV_REL, REL_X, 1);
						ev(w, d, EV_SYN, SYN_REPORT, 0);
						break;
					case 1:
						if (phys[d][c])
							key(w, d, c, 2);
						break;
					case 2:
						vgi_grab_guest_led(w->g, (r >> 16) % 3, (r >> 20) & 1);
						break;
					default:
						phys[d][c] = !phys[d][c];
						key(w, d, c, phys[d][c]);
						break;
					}
				}
				for (unsigned d = 0; d < NDEV; d++)
					for (unsigned c = 0; c < KEY_CNT; c++)
						if (phys[d][c])
							key(w, d, (uint16_t)c, 0);
				assert_nothing_stuck(w);
				assert_true(w->hooks > 0);
				world_free(w);
			}
		}
	}
}

/* A key held while the program starts (Enter in the terminal): the grab waits for its release. */
static void test_start_with_key_down(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct vgi_grab_config cfg = { .toggle = VGI_GRAB_TOGGLE_CTRL_CTRL, .start_grabbed = true };
	uint8_t keys[VGI_GRAB_KEY_CNT / 8] = { 0 };

	w->g = vgi_grab_new(&cfg, on_action, w);
	keys[KEY_ENTER / 8] |= 1u << (KEY_ENTER % 8);
	w->host_down[0][KEY_ENTER] = true;
	assert_int_equal(vgi_grab_add_device(w->g), 0);
	assert_int_equal(vgi_grab_device_online(w->g, 0, keys, NULL), 0);
	assert_false(w->grabbed[0]);
	assert_int_equal(vgi_grab_keys_down(w->g), 1);
	key(w, 0, KEY_ENTER, 0);	/* goes to the host, not the guest */
	assert_true(w->grabbed[0]);
	assert_int_equal(w->guest_events, 0);
	assert_int_equal(w->hooks, 0);	/* starting grabbed is no toggle */
	assert_nothing_stuck(w);
	world_free(w);
}

/* Scroll lock modes: the scroll lock key never reaches the guest, grabbed or not, even held with others. */
static void test_scrolllock_not_forwarded(void **state)
{
	struct world *w = world_new(VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK, true, true, true, 1);

	/* scroll lock alone does not toggle in ctrl-scrolllock mode, and is not forwarded */
	key(w, 0, KEY_SCROLLLOCK, 1);
	key(w, 0, KEY_SCROLLLOCK, 2);
	key(w, 0, KEY_SCROLLLOCK, 0);
	assert_true(w->grabbed[0]);
	assert_false(forwarded_key(w, 0, 0, KEY_SCROLLLOCK));
	assert_int_equal(w->guest_events, 0);
	/* left ctrl works as well as right ctrl */
	key(w, 0, KEY_LEFTCTRL, 1);
	key(w, 0, KEY_SCROLLLOCK, 1);
	key(w, 0, KEY_LEFTCTRL, 0);
	key(w, 0, KEY_SCROLLLOCK, 0);
	assert_false(w->grabbed[0]);
	assert_false(forwarded_key(w, 0, 0, KEY_SCROLLLOCK));
	assert_nothing_stuck(w);
	world_free(w);

	/* in ctrl-ctrl mode scroll lock is an ordinary key */
	w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, true, false, true, 1);
	key(w, 0, KEY_SCROLLLOCK, 1);
	key(w, 0, KEY_SCROLLLOCK, 0);
	assert_true(forwarded_key(w, 0, 0, KEY_SCROLLLOCK));
	assert_true(w->grabbed[0]);
	world_free(w);
}

/* Guest LEDs shown while grabbed, host LEDs put back on release. */
static void test_leds(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct vgi_grab_config cfg = { .toggle = VGI_GRAB_TOGGLE_CTRL_CTRL, .grab_all = true, .start_grabbed = false };
	uint8_t leds[2] = { 1u << LED_NUML, 0 };
	unsigned mark;

	w->g = vgi_grab_new(&cfg, on_action, w);
	assert_int_equal(vgi_grab_add_device(w->g), 0);
	assert_int_equal(vgi_grab_add_device(w->g), 1);
	w->shown_led[0] = 1u << LED_NUML;
	assert_int_equal(vgi_grab_device_online(w->g, 0, NULL, leds), 0);
	assert_int_equal(vgi_grab_device_online(w->g, 1, NULL, NULL), 0);
	assert_false(w->grabbed[0]);
	/* the guest's LEDs change while released: nothing is written yet */
	vgi_grab_guest_led(w->g, LED_CAPSL, true);
	assert_int_equal(count(w, 0, VGI_GRAB_ACT_LED, 0), 0);
	/* the host turns scroll lock on while released: the device reports it */
	ev(w, 0, EV_LED, LED_SCROLLL, 1);
	ev(w, 0, EV_SYN, SYN_REPORT, 0);
	w->shown_led[0] |= 1u << LED_SCROLLL;
	/* grab: the device shows the guest's state (caps only) */
	mark = w->nact;
	press_combo(w, 0, VGI_GRAB_TOGGLE_CTRL_CTRL);
	assert_true(w->grabbed[0]);
	assert_int_equal(w->shown_led[0], 1u << LED_CAPSL);
	assert_int_equal(w->shown_led[1], 1u << LED_CAPSL);
	assert_int_equal(count(w, mark, VGI_GRAB_ACT_LED, 0), 3);
	/* the guest turns num lock on: written at once; echoes while grabbed change nothing */
	vgi_grab_guest_led(w->g, LED_NUML, true);
	assert_int_equal(w->shown_led[0], (1u << LED_CAPSL) | (1u << LED_NUML));
	ev(w, 0, EV_LED, LED_NUML, 1);
	ev(w, 0, EV_LED, LED_KANA, 1);	/* not the host's: ignored while grabbed */
	/* release: the host's state (num + scroll) comes back */
	press_combo(w, 0, VGI_GRAB_TOGGLE_CTRL_CTRL);
	assert_false(w->grabbed[0]);
	assert_int_equal(w->shown_led[0], (1u << LED_NUML) | (1u << LED_SCROLLL));
	assert_int_equal(w->shown_led[1], 0);
	/* out-of-range LED codes are ignored */
	mark = w->nact;
	vgi_grab_guest_led(w->g, 1000, true);
	ev(w, 0, EV_LED, 0xffff, 1);
	assert_int_equal(w->nact, mark);
	assert_int_equal(w->guest_events, 4);	/* the releasing combination's ctrl presses and releases */
	world_free(w);
}

/* A device that vanishes with keys held releases them in the guest; it comes back grabbed. */
static void test_hotplug(void **state)
{
	struct world *w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, true, false, true, 2);
	uint8_t keys[VGI_GRAB_KEY_CNT / 8] = { 0 };
	unsigned mark;

	ev(w, 0, EV_KEY, KEY_A, 1);
	ev(w, 0, EV_KEY, KEY_LEFTSHIFT, 1);	/* no SYN yet: the frame is open */
	key(w, 1, BTN_LEFT, 1);
	mark = w->nact;
	vgi_grab_device_offline(w->g, 0);
	assert_true(forwarded_key(w, mark, 0, KEY_A) && forwarded_key(w, mark, 0, KEY_LEFTSHIFT));
	assert_false(w->guest_down[0][KEY_A]);
	assert_false(w->open_frame[0]);
	assert_false(vgi_grab_is_online(w->g, 0));
	assert_int_equal(vgi_grab_keys_down(w->g), 1);
	w->grabbed[0] = false;	/* the fd was closed */
	/* events for an offline device are ignored */
	mark = w->nact;
	key(w, 0, KEY_C, 1);
	assert_int_equal(w->nact, mark);
	/* it comes back with Enter held: the grab waits (mouse button too) */
	keys[KEY_ENTER / 8] |= 1u << (KEY_ENTER % 8);
	w->host_down[0][KEY_ENTER] = true;
	w->host_down[0][KEY_C] = false;
	assert_int_equal(vgi_grab_device_online(w->g, 0, keys, NULL), 0);
	assert_false(w->grabbed[0]);
	key(w, 0, KEY_ENTER, 0);
	assert_false(w->grabbed[0]);
	key(w, 1, BTN_LEFT, 0);
	assert_true(w->grabbed[0]);
	assert_int_equal(w->hooks, 0);
	/* a toggle asked while the device is away applies to it when it is back */
	vgi_grab_device_offline(w->g, 0);
	w->grabbed[0] = false;
	press_combo(w, 1, VGI_GRAB_TOGGLE_CTRL_CTRL);
	assert_false(w->grabbed[1]);
	assert_int_equal(vgi_grab_device_online(w->g, 0, NULL, NULL), 0);
	assert_false(w->grabbed[0]);
	assert_nothing_stuck(w);
	world_free(w);
}

/* Hostile or odd input: nothing happens, nothing crashes. */
static void test_bad_input(void **state)
{
	struct world *w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, true, true, true, 1);
	struct vgi_input_event e;
	enum vgi_grab_toggle t;
	unsigned mark = w->nact;

	e = (struct vgi_input_event){ EV_KEY, KEY_CNT, 1 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, 0xffff, 1 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, KEY_A, 3 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, KEY_A, -1 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, KEY_A, 2 };	/* repeat of a key never pressed */
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, KEY_B, 0 };	/* release of a key never pressed */
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_FF, 0, 1 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ 0x1f, 0, 1 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_SYN, SYN_DROPPED, 0 };
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_SYN, SYN_REPORT, 0 };	/* empty frame: not forwarded */
	vgi_grab_event(w->g, 0, &e);
	e = (struct vgi_input_event){ EV_KEY, KEY_A, 1 };
	vgi_grab_event(w->g, 7, &e);
	vgi_grab_event(w->g, VGI_GRAB_MAX_DEVICES + 5, &e);
	vgi_grab_device_offline(w->g, 9);
	vgi_grab_request_toggle(w->g, 9);
	assert_int_equal(vgi_grab_device_online(w->g, 9, NULL, NULL), -EINVAL);
	assert_int_equal(w->nact, mark);
	assert_int_equal(vgi_grab_keys_down(w->g), 0);
	assert_false(vgi_grab_guest_key_down(w->g, 0, 100000));
	assert_false(vgi_grab_is_grabbed(w->g, 50));
	world_free(w);

	/* too many devices */
	w = world_new(VGI_GRAB_TOGGLE_CTRL_CTRL, true, true, true, 0);
	for (int i = 0; i < VGI_GRAB_MAX_DEVICES; i++)
		assert_int_equal(vgi_grab_add_device(w->g), i);
	assert_int_equal(vgi_grab_add_device(w->g), -ENOSPC);
	world_free(w);

	/* bad config */
	{
		struct vgi_grab_config cfg = { .toggle = VGI_GRAB_TOGGLE_COUNT };

		assert_null(vgi_grab_new(&cfg, on_action, NULL));
		assert_null(vgi_grab_new(NULL, on_action, NULL));
	}
	/* names */
	for (int i = 0; i < VGI_GRAB_TOGGLE_COUNT; i++) {
		assert_int_equal(vgi_grab_toggle_parse(vgi_grab_toggle_name((enum vgi_grab_toggle)i), &t), 0);
		assert_int_equal(t, i);
	}
	assert_int_equal(vgi_grab_toggle_parse("ctrl-alt", &t), -EINVAL);
	assert_int_equal(vgi_grab_toggle_parse(NULL, &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_combo),
		cmocka_unit_test(test_per_device),
		cmocka_unit_test(test_keys_held_across_toggle),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_start_with_key_down),
		cmocka_unit_test(test_scrolllock_not_forwarded),
		cmocka_unit_test(test_leds),
		cmocka_unit_test(test_hotplug),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
