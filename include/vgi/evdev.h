/* SPDX-License-Identifier: MIT */
#ifndef VGI_EVDEV_H
#define VGI_EVDEV_H

/*
 * The host evdev grabber (libevdev): opens input devices, grabs them
 * (EVIOCGRAB) and flips the grab on the toggle combination (the rules are
 * the state machine's, include/vgi/grab.h), forwards what the guest should
 * get, writes the guest's LEDs back, resyncs after SYN_DROPPED, reopens a
 * device that vanished when it comes back (inotify on /dev/input) with its
 * grab state, and runs a toggle hook command.
 *
 * No main loop of its own: poll vgi_evdev_get_fd() for input and call
 * vgi_evdev_dispatch().
 */

#include <stdbool.h>
#include <stdint.h>

#include <vgi/grab.h>
#include <vgi/input.h>
#include <vgi/virtio-input.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vgi_evdev_config {
	struct vgi_grab_config grab;
	/*
	 * Run on every toggle as `sh -c CMD vgi-input-hook grab|release`, with
	 * VGI_GRAB=1|0 and VGI_GRAB_DEVICE=<path of the device that toggled> in
	 * the environment. NULL: none.
	 */
	const char *toggle_hook;
	bool no_hotplug;		/* do not watch /dev/input */
	const char *input_dir;		/* default "/dev/input" */
};

struct vgi_evdev_ops {
	/* An event for the guest, from device dev (events end with SYN_REPORT frames). */
	void (*event)(void *opaque, unsigned dev, const struct vgi_input_event *ev);
	/* Optional: device dev was grabbed or released. */
	void (*grab_changed)(void *opaque, unsigned dev, bool grabbed);
	/* Optional: device dev vanished (online false) or came back. */
	void (*online_changed)(void *opaque, unsigned dev, bool online);
};

struct vgi_evdev;

/* NULL on bad config or error (logged). */
struct vgi_evdev *vgi_evdev_new(const struct vgi_evdev_config *cfg, const struct vgi_evdev_ops *ops, void *opaque);
void vgi_evdev_free(struct vgi_evdev *e);

/*
 * Open a device: a path, or a name under /dev/input/by-id/, /dev/input/by-path/
 * or /dev/input/. Returns its id (>= 0), or -errno if it cannot be opened now.
 */
int vgi_evdev_add(struct vgi_evdev *e, const char *name);
unsigned vgi_evdev_count(const struct vgi_evdev *e);
const char *vgi_evdev_path(const struct vgi_evdev *e, unsigned dev);

/* What to describe a passthrough virtio-input device with. -EINVAL, -ENODEV (offline). */
int vgi_evdev_describe(struct vgi_evdev *e, unsigned dev, struct vgi_input_desc *desc);

/* One fd to poll for readability (an epoll fd over the devices and the inotify watch). */
int vgi_evdev_get_fd(const struct vgi_evdev *e);
/* Read and handle everything pending, without blocking. */
void vgi_evdev_dispatch(struct vgi_evdev *e);

/* The guest's LED state changed (from the virtio-input status queue). */
void vgi_evdev_guest_led(struct vgi_evdev *e, unsigned code, bool on);
/* Flip as if the combination was pressed on dev. */
void vgi_evdev_request_toggle(struct vgi_evdev *e, unsigned dev);
bool vgi_evdev_is_grabbed(const struct vgi_evdev *e, unsigned dev);
bool vgi_evdev_is_online(const struct vgi_evdev *e, unsigned dev);

#ifdef __cplusplus
}
#endif

#endif
