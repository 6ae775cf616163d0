/* SPDX-License-Identifier: MIT */
#ifndef VGI_GRAB_H
#define VGI_GRAB_H

/*
 * The grab-toggle state machine: pure logic, no I/O. Fed with the events
 * read from host input devices (and the guest's LED state), it answers with
 * actions for the I/O layer to carry out: forward an event to the guest,
 * grab or release a device (EVIOCGRAB), write a LED on a host device, run
 * the toggle hook.
 *
 * Semantics follow QEMU's input-linux object:
 *  - the toggle combination (ctrl-ctrl by default: both controls down) asks
 *    for a flip; the flip happens only once every key is up, counted over
 *    all devices, so no key is ever left down on either side;
 *  - in the scrolllock and ctrl-scrolllock modes the scroll lock key itself
 *    is never forwarded;
 *  - autorepeat (value 2) is forwarded only with repeat on;
 *  - grab_all flips every device together, else only the device on which
 *    the combination was pressed.
 * Beyond input-linux: a key release is forwarded only for a key the guest
 * saw pressed; releasing a device releases every key the guest still holds
 * from it (a safety net: with the all-keys-up rule there are none unless a
 * device vanished); LED state: while a device is grabbed it shows the
 * guest's LEDs, and the host's LED state (tracked from the device's own
 * EV_LED events while released) is written back when the grab ends.
 */

#include <stdbool.h>
#include <stdint.h>

#include <vgi/input.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VGI_GRAB_MAX_DEVICES 64
#define VGI_GRAB_KEY_CNT 0x300		/* KEY_CNT */
#define VGI_GRAB_LED_CNT 0x10		/* LED_CNT */

enum vgi_grab_toggle {
	VGI_GRAB_TOGGLE_CTRL_CTRL,
	VGI_GRAB_TOGGLE_ALT_ALT,
	VGI_GRAB_TOGGLE_SHIFT_SHIFT,
	VGI_GRAB_TOGGLE_META_META,
	VGI_GRAB_TOGGLE_SCROLLLOCK,
	VGI_GRAB_TOGGLE_CTRL_SCROLLLOCK,
	VGI_GRAB_TOGGLE_COUNT
};

/* "ctrl-ctrl", ... ; -EINVAL for an unknown name. */
int vgi_grab_toggle_parse(const char *name, enum vgi_grab_toggle *out);
const char *vgi_grab_toggle_name(enum vgi_grab_toggle t);

struct vgi_grab_config {
	enum vgi_grab_toggle toggle;
	bool grab_all;		/* flip every device together */
	bool repeat;		/* forward autorepeat (value 2) */
	bool start_grabbed;	/* devices are grabbed when they come up (once all keys are up) */
};

enum vgi_grab_action_type {
	VGI_GRAB_ACT_FORWARD,	/* send ev to the guest (from device dev) */
	VGI_GRAB_ACT_GRAB,	/* grab (on) or release (!on) device dev */
	VGI_GRAB_ACT_LED,	/* write LED ev.code = ev.value on host device dev */
	VGI_GRAB_ACT_HOOK,	/* run the toggle hook: new state on; dev is the device that toggled */
};

struct vgi_grab_action {
	enum vgi_grab_action_type type;
	unsigned dev;
	bool on;
	struct vgi_input_event ev;
};

typedef void (*vgi_grab_action_fn)(void *opaque, const struct vgi_grab_action *a);

struct vgi_grab;

/* NULL on bad config or out of memory. */
struct vgi_grab *vgi_grab_new(const struct vgi_grab_config *cfg, vgi_grab_action_fn fn, void *opaque);
void vgi_grab_free(struct vgi_grab *g);

/* A new device slot (offline). Returns its id, -ENOSPC when full. */
int vgi_grab_add_device(struct vgi_grab *g);

/*
 * Device dev was opened (or reopened after it vanished). keys: its keys
 * down right now (bitmap of VGI_GRAB_KEY_CNT bits, bit i at byte i/8, or
 * NULL); leds: its LED state (VGI_GRAB_LED_CNT bits, or NULL). A device that
 * should be grabbed is grabbed as soon as every key is up.
 * -EINVAL for an unknown id.
 */
int vgi_grab_device_online(struct vgi_grab *g, unsigned dev, const uint8_t *keys, const uint8_t *leds);
/* Device dev vanished: the guest gets releases for what it still holds from it; its grab state is kept. */
void vgi_grab_device_offline(struct vgi_grab *g, unsigned dev);

/* One event read from device dev (including libevdev's resync events after SYN_DROPPED). */
void vgi_grab_event(struct vgi_grab *g, unsigned dev, const struct vgi_input_event *ev);

/* The guest set LED code (status queue). */
void vgi_grab_guest_led(struct vgi_grab *g, unsigned code, bool on);

/* Ask for a flip of every device (or dev when not grab_all) as if the combination was pressed. */
void vgi_grab_request_toggle(struct vgi_grab *g, unsigned dev);

bool vgi_grab_is_grabbed(const struct vgi_grab *g, unsigned dev);
bool vgi_grab_is_online(const struct vgi_grab *g, unsigned dev);
/* Keys down over all online devices. */
unsigned vgi_grab_keys_down(const struct vgi_grab *g);
/* Whether the guest holds key code from device dev (it saw the press, not the release). */
bool vgi_grab_guest_key_down(const struct vgi_grab *g, unsigned dev, unsigned code);

#ifdef __cplusplus
}
#endif

#endif
