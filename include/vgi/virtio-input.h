/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRTIO_INPUT_H
#define VGI_VIRTIO_INPUT_H

/*
 * virtio-input devices (virtio 1.x, section 5.8): keyboard, relative mouse,
 * absolute tablet, and a passthrough that mirrors a host device described by
 * struct vgi_input_desc (from libevdev or an evemu recording).
 *
 * Queue 0 (eventq): events are buffered until SYN_REPORT, then the whole
 * frame goes to the guest, or waits (bounded) for buffers; when the backlog
 * is full the frame is dropped with a log. Queue 1 (statusq): what the guest
 * writes (LED changes) goes to the status callback.
 */

#include <stdbool.h>
#include <stdint.h>

#include <vgi/input.h>
#include <vgi/virtio-device.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VGI_INPUT_EV_CNT 0x20		/* EV_CNT */
#define VGI_INPUT_ABS_CNT 0x40		/* ABS_CNT */
#define VGI_INPUT_BITMAP_BYTES 128	/* virtio_input_config.u.bitmap: codes 0..1023 */
#define VGI_INPUT_MAX_FRAME 256		/* events in one SYN_REPORT frame */
#define VGI_INPUT_MAX_BACKLOG 1024	/* events waiting for guest buffers */

struct vgi_input_absinfo {
	int32_t min, max, fuzz, flat, res;
	int32_t value;			/* current value (passthrough; not in the virtio config) */
};

struct vgi_input_desc {
	char name[128];			/* NUL-terminated */
	char serial[128];
	uint16_t bustype, vendor, product, version;
	uint8_t props[VGI_INPUT_BITMAP_BYTES];			/* INPUT_PROP_* bits */
	uint8_t bits[VGI_INPUT_EV_CNT][VGI_INPUT_BITMAP_BYTES];	/* per event type: its codes */
	struct vgi_input_absinfo abs[VGI_INPUT_ABS_CNT];
};

/* Bit helpers over the bitmaps above (bit i at byte i/8). Out-of-range: false / ignored. */
bool vgi_input_desc_has(const struct vgi_input_desc *d, unsigned type, unsigned code);
void vgi_input_desc_set(struct vgi_input_desc *d, unsigned type, unsigned code);
bool vgi_input_desc_has_type(const struct vgi_input_desc *d, unsigned type);

/* Stock devices, as QEMU's virtio-keyboard/mouse/tablet describe themselves. */
void vgi_input_desc_keyboard(struct vgi_input_desc *d);
void vgi_input_desc_mouse(struct vgi_input_desc *d);
/* Absolute axes 0..width-1 / 0..height-1 (width, height >= 1). */
void vgi_input_desc_tablet(struct vgi_input_desc *d, uint32_t width, uint32_t height);

struct vgi_virtio_input;

struct vgi_virtio_input_stats {
	uint64_t events;		/* delivered to the guest */
	uint64_t frames;
	uint64_t dropped_events;	/* dropped: no guest buffers and backlog full, or frame too long */
	uint64_t status_events;		/* received on the status queue */
	uint32_t backlog;		/* events waiting for guest buffers now */
};

/* Called for each event the guest writes to the status queue (LEDs: EV_LED code value). */
typedef void (*vgi_virtio_input_status_fn)(void *opaque, const struct vgi_input_event *ev);

/* A device with this description (copied). NULL on out of memory. */
struct vgi_virtio_input *vgi_virtio_input_new(const struct vgi_input_desc *desc);
void vgi_virtio_input_free(struct vgi_virtio_input *in);
/* The transport-facing device (VIRTIO_ID_INPUT, 2 queues). */
struct vgi_virtio_device *vgi_virtio_input_device(struct vgi_virtio_input *in);
const struct vgi_input_desc *vgi_virtio_input_desc(const struct vgi_virtio_input *in);

void vgi_virtio_input_set_status_cb(struct vgi_virtio_input *in, vgi_virtio_input_status_fn fn, void *opaque);

/*
 * Queue one event; a SYN_REPORT ends the frame and sends it (with an
 * interrupt when the driver wants one). Returns 0, or -ENOBUFS when the
 * event or its frame was dropped.
 */
int vgi_virtio_input_send(struct vgi_virtio_input *in, const struct vgi_input_event *ev);
/* Try again to deliver frames waiting for buffers (also done on every eventq kick). */
void vgi_virtio_input_flush(struct vgi_virtio_input *in);
/* The guest's LED state as last written on the status queue (bit i = LED i). */
uint32_t vgi_virtio_input_leds(const struct vgi_virtio_input *in);
void vgi_virtio_input_get_stats(const struct vgi_virtio_input *in, struct vgi_virtio_input_stats *st);

#ifdef __cplusplus
}
#endif

#endif
