// SPDX-License-Identifier: MIT
/* The grab-toggle state machine (see include/vgi/grab.h). No I/O here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input-event-codes.h>

#include <vgi/grab.h>

#define KEY_BYTES (VGI_GRAB_KEY_CNT / 8)

struct grab_dev {
	bool used, online;
	bool grabbed;		/* what the I/O layer was told */
	bool want;		/* wanted state (without grab_all) */
	bool pending;		/* toggle asked for, waiting for all keys up */
	bool frame;		/* forwarded something since the last SYN_REPORT */
	unsigned ndown;
	uint8_t phys[KEY_BYTES];	/* keys physically down */
	uint8_t guest[KEY_BYTES];	/* keys the guest holds from this device */
	uint16_t host_led;	/* host's LED state (seen while released) */
	uint16_t shown_led;	/* what the device shows now */
};

struct vgi_grab {
	struct vgi_grab_config cfg;
	vgi_grab_action_fn fn;
	void *opaque;
	unsigned ndev;
	unsigned total_down;
	bool want_all;
	bool pending_all;
	unsigned toggler;
	uint16_t guest_led;
	struct grab_dev dev[VGI_GRAB_MAX_DEVICES];
};

static const char *const toggle_names[VGI_GRAB_TOGGLE_COUNT] = {
	[VGI_GRAB_TOGGLE_CTRL_CTRL] = "ctrl-ctrl",
	[VGI_GRAB_TOGGLE_ALT_ALT] = "alt-alt",
	[VGI_GRAB_TOGGLE_SHIFT_SHIFT] = "shift-shift",
	[VGI_GRAB_TOGGLE_META_META] = "meta-meta",
	[VGI_GRAB_TOGGLE_SCROLLLOCK] = "scrolllock",
	[VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK] = "ctrl-scrolllock",
};

int vgi_grab_toggle_parse(const char *name, enum vgi_grab_toggle *out)
{
	for (int i = 0; i < VGI_GRAB_TOGGLE_COUNT; i++) {
		if (name && strcmp(name, toggle_names[i]) == 0) {
			*out = (enum vgi_grab_toggle)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vgi_grab_toggle_name(enum vgi_grab_toggle t)
{
	return (unsigned)t < VGI_GRAB_TOGGLE_COUNT ? toggle_names[t] : "?";
}

static bool bit(const uint8_t *map, unsigned i)
{
	return map[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *map, unsigned i, bool v)
{
	if (v)
		map[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		map[i / 8] &= (uint8_t)~(1u << (i % 8));
}

struct vgi_grab *vgi_grab_new(const struct vgi_grab_config *cfg, vgi_grab_action_fn fn, void *opaque)
{
	struct vgi_grab *g;

	if (!cfg || !fn || (unsigned)cfg->toggle >= VGI_GRAB_TOGGLE_COUNT)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->cfg = *cfg;
	g->fn = fn;
	g->opaque = opaque;
	g->want_all = cfg->start_grabbed;
	return g;
}

void vgi_grab_free(struct vgi_grab *g)
{
	free(g);
}

int vgi_grab_add_device(struct vgi_grab *g)
{
	struct grab_dev *d;

	if (g->ndev >= VGI_GRAB_MAX_DEVICES)
		return -ENOSPC;
	d = &g->dev[g->ndev];
	memset(d, 0, sizeof(*d));
	d->used = true;
	d->want = g->cfg.start_grabbed;
	return (int)g->ndev++;
}

static struct grab_dev *get_dev(struct vgi_grab *g, unsigned dev)
{
	return dev < g->ndev ? &g->dev[dev] : NULL;
}

static void emit(struct vgi_grab *g, enum vgi_grab_action_type type, unsigned dev, bool on, uint16_t etype,
		 uint16_t code, int32_t value)
{
	struct vgi_grab_action a = { .type = type, .dev = dev, .on = on,
				     .ev = { .type = etype, .code = code, .value = value } };

	g->fn(g->opaque, &a);
}

static void forward(struct vgi_grab *g, unsigned dev, uint16_t type, uint16_t code, int32_t value)
{
	g->dev[dev].frame = type != EV_SYN || code != SYN_REPORT;
	emit(g, VGI_GRAB_ACT_FORWARD, dev, true, type, code, value);
}

/* Release every key the guest holds from dev, and close the frame. */
static void release_guest_keys(struct vgi_grab *g, unsigned dev)
{
	struct grab_dev *d = &g->dev[dev];

	for (unsigned i = 0; i < KEY_BYTES; i++) {
		if (!d->guest[i])
			continue;
		for (unsigned b = 0; b < 8; b++) {
			if (d->guest[i] & (1u << b))
				forward(g, dev, EV_KEY, (uint16_t)(i * 8 + b), 0);
		}
		d->guest[i] = 0;
	}
	if (d->frame)
		forward(g, dev, EV_SYN, SYN_REPORT, 0);
}

static void show_leds(struct vgi_grab *g, unsigned dev, uint16_t leds)
{
	struct grab_dev *d = &g->dev[dev];

	for (unsigned c = 0; c < VGI_GRAB_LED_CNT; c++) {
		bool want = leds & (1u << c), now = d->shown_led & (1u << c);

		if (want != now)
			emit(g, VGI_GRAB_ACT_LED, dev, want, EV_LED, (uint16_t)c, want);
	}
	d->shown_led = leds;
}

static void set_grabbed(struct vgi_grab *g, unsigned dev, bool on)
{
	struct grab_dev *d = &g->dev[dev];

	if (d->grabbed == on)
		return;
	if (!on)
		release_guest_keys(g, dev);
	d->grabbed = on;
	emit(g, VGI_GRAB_ACT_GRAB, dev, on, 0, 0, 0);
	show_leds(g, dev, on ? g->guest_led : d->host_led);
}

/* With every key up: resolve the toggles asked for, then bring devices to their wanted state. */
static void apply(struct vgi_grab *g)
{
	bool hooks[VGI_GRAB_MAX_DEVICES] = { false };
	bool hook_all = false;

	if (g->total_down)
		return;
	if (g->cfg.grab_all) {
		if (g->pending_all) {
			g->pending_all = false;
			g->want_all = !g->want_all;
			hook_all = true;
		}
	} else {
		for (unsigned i = 0; i < g->ndev; i++) {
			if (g->dev[i].pending) {
				g->dev[i].pending = false;
				g->dev[i].want = !g->dev[i].want;
				hooks[i] = true;
			}
		}
	}
	for (unsigned i = 0; i < g->ndev; i++) {
		struct grab_dev *d = &g->dev[i];

		if (d->online)
			set_grabbed(g, i, g->cfg.grab_all ? g->want_all : d->want);
	}
	if (hook_all)
		emit(g, VGI_GRAB_ACT_HOOK, g->toggler, g->want_all, 0, 0, 0);
	for (unsigned i = 0; i < g->ndev; i++) {
		if (hooks[i])
			emit(g, VGI_GRAB_ACT_HOOK, i, g->dev[i].want, 0, 0, 0);
	}
}

int vgi_grab_device_online(struct vgi_grab *g, unsigned dev, const uint8_t *keys, const uint8_t *leds)
{
	struct grab_dev *d = get_dev(g, dev);

	if (!d)
		return -EINVAL;
	if (d->online)
		vgi_grab_device_offline(g, dev);
	memset(d->phys, 0, sizeof(d->phys));
	memset(d->guest, 0, sizeof(d->guest));
	d->ndown = 0;
	d->frame = false;
	d->grabbed = false;
	if (keys) {
		for (unsigned c = 0; c < VGI_GRAB_KEY_CNT; c++) {
			if (bit(keys, c)) {
				set_bit(d->phys, c, true);
				d->ndown++;
			}
		}
	}
	d->host_led = 0;
	if (leds) {
		for (unsigned c = 0; c < VGI_GRAB_LED_CNT; c++) {
			if (bit(leds, c))
				d->host_led |= (uint16_t)(1u << c);
		}
	}
	d->shown_led = d->host_led;
	d->online = true;
	g->total_down += d->ndown;
	apply(g);
	return 0;
}

void vgi_grab_device_offline(struct vgi_grab *g, unsigned dev)
{
	struct grab_dev *d = get_dev(g, dev);

	if (!d || !d->online)
		return;
	release_guest_keys(g, dev);
	g->total_down -= d->ndown;
	d->ndown = 0;
	memset(d->phys, 0, sizeof(d->phys));
	d->online = false;
	d->grabbed = false;	/* the fd is gone, and its grab with it */
	apply(g);
}

static bool down(const struct grab_dev *d, unsigned code)
{
	return bit(d->phys, code);
}

static bool combo_down(const struct vgi_grab *g, const struct grab_dev *d)
{
	switch (g->cfg.toggle) {
	case VGI_GRAB_TOGGLE_CTRL_CTRL:
		return down(d, KEY_LEFTCTRL) && down(d, KEY_RIGHTCTRL);
	case VGI_GRAB_TOGGLE_ALT_ALT:
		return down(d, KEY_LEFTALT) && down(d, KEY_RIGHTALT);
	case VGI_GRAB_TOGGLE_SHIFT_SHIFT:
		return down(d, KEY_LEFTSHIFT) && down(d, KEY_RIGHTSHIFT);
	case VGI_GRAB_TOGGLE_META_META:
		return down(d, KEY_LEFTMETA) && down(d, KEY_RIGHTMETA);
	case VGI_GRAB_TOGGLE_SCROLLLOCK:
		return down(d, KEY_SCROLLLOCK);
	case VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK:
		return (down(d, KEY_LEFTCTRL) || down(d, KEY_RIGHTCTRL)) && down(d, KEY_SCROLLLOCK);
	default:
		return false;
	}
}

static bool skipped(const struct vgi_grab *g, unsigned code)
{
	return code == KEY_SCROLLLOCK && (g->cfg.toggle == VGI_GRAB_TOGGLE_SCROLLLOCK ||
					  g->cfg.toggle == VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK);
}

static void request(struct vgi_grab *g, unsigned dev)
{
	if (g->cfg.grab_all) {
		g->pending_all = true;
		g->toggler = dev;
	} else {
		g->dev[dev].pending = true;
	}
}

void vgi_grab_request_toggle(struct vgi_grab *g, unsigned dev)
{
	if (!get_dev(g, dev))
		return;
	request(g, dev);
	apply(g);
}

static void key_event(struct vgi_grab *g, unsigned dev, unsigned code, int32_t value)
{
	struct grab_dev *d = &g->dev[dev];

	if (code >= VGI_GRAB_KEY_CNT || value < 0 || value > 2)
		return;
	if (value == 2) {
		if (g->cfg.repeat && d->grabbed && bit(d->guest, code))
			forward(g, dev, EV_KEY, (uint16_t)code, 2);
		return;
	}
	if (value) {
		if (!bit(d->phys, code)) {
			set_bit(d->phys, code, true);
			d->ndown++;
			g->total_down++;
		}
		if (d->grabbed && !skipped(g, code) && !bit(d->guest, code)) {
			set_bit(d->guest, code, true);
			forward(g, dev, EV_KEY, (uint16_t)code, 1);
		}
		if (combo_down(g, d))
			request(g, dev);
	} else {
		if (bit(d->phys, code)) {
			set_bit(d->phys, code, false);
			d->ndown--;
			g->total_down--;
		}
		if (bit(d->guest, code)) {
			set_bit(d->guest, code, false);
			forward(g, dev, EV_KEY, (uint16_t)code, 0);
		}
	}
}

void vgi_grab_event(struct vgi_grab *g, unsigned dev, const struct vgi_input_event *ev)
{
	struct grab_dev *d = get_dev(g, dev);

	if (!d || !d->online)
		return;
	switch (ev->type) {
	case EV_KEY:
		key_event(g, dev, ev->code, ev->value);
		break;
	case EV_SYN:
		if (ev->code == SYN_REPORT) {
			if (d->grabbed && d->frame)
				forward(g, dev, EV_SYN, SYN_REPORT, 0);
			apply(g);
		} else if (ev->code == SYN_MT_REPORT && d->grabbed) {
			forward(g, dev, ev->type, ev->code, ev->value);
		}
		break;
	case EV_LED:
		/* while grabbed, LED events are echoes of what we wrote */
		if (!d->grabbed && ev->code < VGI_GRAB_LED_CNT) {
			uint16_t m = (uint16_t)(1u << ev->code);

			d->host_led = ev->value ? (d->host_led | m) : (d->host_led & (uint16_t)~m);
			d->shown_led = d->host_led;
		}
		break;
	case EV_REL:
	case EV_ABS:
	case EV_MSC:
	case EV_SW:
		if (d->grabbed)
			forward(g, dev, ev->type, ev->code, ev->value);
		break;
	default:
		break;
	}
}

void vgi_grab_guest_led(struct vgi_grab *g, unsigned code, bool on)
{
	uint16_t m;

	if (code >= VGI_GRAB_LED_CNT)
		return;
	m = (uint16_t)(1u << code);
	g->guest_led = on ? (g->guest_led | m) : (g->guest_led & (uint16_t)~m);
	for (unsigned i = 0; i < g->ndev; i++) {
		if (g->dev[i].online && g->dev[i].grabbed)
			show_leds(g, i, g->guest_led);
	}
}

bool vgi_grab_is_grabbed(const struct vgi_grab *g, unsigned dev)
{
	return dev < g->ndev && g->dev[dev].grabbed;
}

bool vgi_grab_is_online(const struct vgi_grab *g, unsigned dev)
{
	return dev < g->ndev && g->dev[dev].online;
}

unsigned vgi_grab_keys_down(const struct vgi_grab *g)
{
	return g->total_down;
}

bool vgi_grab_guest_key_down(const struct vgi_grab *g, unsigned dev, unsigned code)
{
	return dev < g->ndev && code < VGI_GRAB_KEY_CNT && bit(g->dev[dev].guest, code);
}
