// SPDX-License-Identifier: MIT
/* virtio-input devices: config space, event queue, status queue. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/virtio-input.h>

#define EVENTQ 0
#define STATUSQ 1
#define EV_SIZE sizeof(struct virtio_input_event)
#define MAX_STATUS_PER_ELEM 64

struct vgi_virtio_input {
	struct vgi_virtio_device vdev;
	struct vgi_input_desc desc;
	struct virtio_input_config cfg;		/* select, subsel and the answer */

	vgi_virtio_input_status_fn status_fn;
	void *status_opaque;

	/* the frame being built (until SYN_REPORT) */
	struct virtio_input_event frame[VGI_INPUT_MAX_FRAME];
	unsigned nframe;
	bool frame_overflow;

	/* complete frames waiting for guest buffers (a ring of events) */
	struct virtio_input_event backlog[VGI_INPUT_MAX_BACKLOG];
	unsigned bl_head, bl_count;
	bool dropping;
	uint64_t dropped_run;

	/* buffers popped from the eventq and not used yet (fewer than a frame needs) */
	struct vgi_vq_elem *stash[VGI_INPUT_MAX_FRAME];
	unsigned nstash;

	uint32_t leds;
	struct vgi_virtio_input_stats stats;
};

static struct vgi_virtio_input *to_input(struct vgi_virtio_device *dev)
{
	return (struct vgi_virtio_input *)((char *)dev - offsetof(struct vgi_virtio_input, vdev));
}

/* ---- descriptions ---- */

bool vgi_input_desc_has(const struct vgi_input_desc *d, unsigned type, unsigned code)
{
	if (type >= VGI_INPUT_EV_CNT || code >= VGI_INPUT_BITMAP_BYTES * 8)
		return false;
	return d->bits[type][code / 8] & (1u << (code % 8));
}

void vgi_input_desc_set(struct vgi_input_desc *d, unsigned type, unsigned code)
{
	if (type >= VGI_INPUT_EV_CNT || code >= VGI_INPUT_BITMAP_BYTES * 8)
		return;
	d->bits[type][code / 8] |= (uint8_t)(1u << (code % 8));
}

bool vgi_input_desc_has_type(const struct vgi_input_desc *d, unsigned type)
{
	if (type >= VGI_INPUT_EV_CNT)
		return false;
	for (unsigned i = 0; i < VGI_INPUT_BITMAP_BYTES; i++) {
		if (d->bits[type][i])
			return true;
	}
	return false;
}

static void desc_base(struct vgi_input_desc *d, const char *name, uint16_t product)
{
	memset(d, 0, sizeof(*d));
	strncpy(d->name, name, sizeof(d->name) - 1);
	d->bustype = BUS_VIRTUAL;
	d->vendor = 0x0627;	/* the same vendor id QEMU uses for its virtio HID devices */
	d->product = product;
	d->version = 1;
}

void vgi_input_desc_keyboard(struct vgi_input_desc *d)
{
	desc_base(d, "vgi virtio keyboard", 1);
	/* every keyboard key below the button range (KEY_ESC .. 0xff) */
	for (unsigned c = KEY_ESC; c < BTN_MISC; c++)
		vgi_input_desc_set(d, EV_KEY, c);
	vgi_input_desc_set(d, EV_REP, REP_DELAY);
	vgi_input_desc_set(d, EV_REP, REP_PERIOD);
	vgi_input_desc_set(d, EV_LED, LED_NUML);
	vgi_input_desc_set(d, EV_LED, LED_CAPSL);
	vgi_input_desc_set(d, EV_LED, LED_SCROLLL);
	vgi_input_desc_set(d, EV_MSC, MSC_SCAN);
}

void vgi_input_desc_mouse(struct vgi_input_desc *d)
{
	desc_base(d, "vgi virtio mouse", 2);
	for (unsigned c = BTN_LEFT; c <= BTN_TASK; c++)
		vgi_input_desc_set(d, EV_KEY, c);
	vgi_input_desc_set(d, EV_REL, REL_X);
	vgi_input_desc_set(d, EV_REL, REL_Y);
	vgi_input_desc_set(d, EV_REL, REL_WHEEL);
	vgi_input_desc_set(d, EV_REL, REL_HWHEEL);
}

void vgi_input_desc_tablet(struct vgi_input_desc *d, uint32_t width, uint32_t height)
{
	desc_base(d, "vgi virtio tablet", 3);
	for (unsigned c = BTN_LEFT; c <= BTN_TASK; c++)
		vgi_input_desc_set(d, EV_KEY, c);
	vgi_input_desc_set(d, EV_ABS, ABS_X);
	vgi_input_desc_set(d, EV_ABS, ABS_Y);
	vgi_input_desc_set(d, EV_REL, REL_WHEEL);
	d->abs[ABS_X].max = width > 1 ? (int32_t)(width - 1 > INT32_MAX ? INT32_MAX : width - 1) : 0;
	d->abs[ABS_Y].max = height > 1 ? (int32_t)(height - 1 > INT32_MAX ? INT32_MAX : height - 1) : 0;
	d->props[INPUT_PROP_DIRECT / 8] |= 1u << (INPUT_PROP_DIRECT % 8);
}

/* ---- config space ---- */

static uint8_t bitmap_size(const uint8_t *map)
{
	unsigned n = VGI_INPUT_BITMAP_BYTES;

	while (n && !map[n - 1])
		n--;
	return (uint8_t)n;
}

/* Fill the answer for the current select/subsel (virtio 1.x 5.8.5). */
static void config_answer(struct vgi_virtio_input *in)
{
	struct virtio_input_config *c = &in->cfg;
	const struct vgi_input_desc *d = &in->desc;

	memset(&c->u, 0, sizeof(c->u));
	memset(c->reserved, 0, sizeof(c->reserved));
	c->size = 0;
	switch (c->select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
		if (c->subsel == 0) {
			c->size = (uint8_t)strnlen(d->name, sizeof(c->u.string));
			memcpy(c->u.string, d->name, c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		if (c->subsel == 0) {
			c->size = (uint8_t)strnlen(d->serial, sizeof(c->u.string));
			memcpy(c->u.string, d->serial, c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (c->subsel == 0) {
			c->u.ids.bustype = htole16(d->bustype);
			c->u.ids.vendor = htole16(d->vendor);
			c->u.ids.product = htole16(d->product);
			c->u.ids.version = htole16(d->version);
			c->size = sizeof(c->u.ids);
		}
		break;
	case VIRTIO_INPUT_CFG_PROP_BITS:
		if (c->subsel == 0) {
			c->size = bitmap_size(d->props);
			memcpy(c->u.bitmap, d->props, c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (c->subsel > 0 && c->subsel < VGI_INPUT_EV_CNT) {
			c->size = bitmap_size(d->bits[c->subsel]);
			memcpy(c->u.bitmap, d->bits[c->subsel], c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (c->subsel < VGI_INPUT_ABS_CNT && vgi_input_desc_has(d, EV_ABS, c->subsel)) {
			const struct vgi_input_absinfo *a = &d->abs[c->subsel];

			c->u.abs.min = htole32((uint32_t)a->min);
			c->u.abs.max = htole32((uint32_t)a->max);
			c->u.abs.fuzz = htole32((uint32_t)a->fuzz);
			c->u.abs.flat = htole32((uint32_t)a->flat);
			c->u.abs.res = htole32((uint32_t)a->res);
			c->size = sizeof(c->u.abs);
		}
		break;
	default:
		break;	/* UNSET and unknown selects: size 0 */
	}
}

static void input_read_config(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vgi_virtio_input *in = to_input(dev);

	/* the transport checked offset+len against config_size == sizeof(cfg) */
	memcpy(buf, (const uint8_t *)&in->cfg + offset, len);
}

static void input_write_config(struct vgi_virtio_device *dev, uint32_t offset, const void *buf, uint32_t len)
{
	struct vgi_virtio_input *in = to_input(dev);
	const uint8_t *p = buf;
	bool changed = false, garbage = false;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = offset + i;

		if (o == offsetof(struct virtio_input_config, select)) {
			in->cfg.select = p[i];
			changed = true;
		} else if (o == offsetof(struct virtio_input_config, subsel)) {
			in->cfg.subsel = p[i];
			changed = true;
		} else {
			garbage = true;	/* read-only fields */
		}
	}
	if (garbage)
		vgi_debug("virtio-input: config write to read-only bytes at offset %u len %u ignored", offset, len);
	/* recomputing also undoes any garbage written over the answer (it never reaches it anyway) */
	if (changed || garbage)
		config_answer(in);
}

/* ---- event queue ---- */

static struct vgi_virtqueue *eventq(struct vgi_virtio_input *in)
{
	return in->vdev.queues[EVENTQ];
}

/* Device reset: the driver forgets its buffers. */
static void drop_stash(struct vgi_virtio_input *in)
{
	for (unsigned i = 0; i < in->nstash; i++)
		vgi_vq_elem_free(in->stash[i]);
	in->nstash = 0;
}

/* Buffers taken but not filled go back to the ring, newest first, so the guest loses none. */
static void return_stash(struct vgi_virtio_input *in)
{
	while (in->nstash)
		vgi_virtqueue_unpop(eventq(in), in->stash[--in->nstash]);
}

/* Pop until the stash holds n usable buffers; false when the guest has no more. */
static bool fill_stash(struct vgi_virtio_input *in, unsigned n)
{
	struct vgi_virtqueue *vq = eventq(in);

	while (in->nstash < n) {
		struct vgi_vq_elem *e = vgi_virtqueue_pop(vq);

		if (!e)
			return false;
		if (e->out_num || vgi_iov_size(e->in_sg, e->in_num) < EV_SIZE) {
			vgi_warn("virtio-input: event buffer head %u: %u readable, %zu writable bytes (need %zu writable)",
				 e->head, e->out_num, vgi_iov_size(e->in_sg, e->in_num), EV_SIZE);
			vgi_virtqueue_push(vq, e, 0);
			continue;
		}
		in->stash[in->nstash++] = e;
	}
	return true;
}

static unsigned backlog_frame_len(const struct vgi_virtio_input *in)
{
	for (unsigned i = 0; i < in->bl_count; i++) {
		const struct virtio_input_event *e = &in->backlog[(in->bl_head + i) % VGI_INPUT_MAX_BACKLOG];

		if (e->type == htole16(EV_SYN) && e->code == htole16(SYN_REPORT))
			return i + 1;
	}
	return 0;
}

/* Hand the first n stashed buffers the n events from src (a ring when ring_mod != 0). */
static void deliver(struct vgi_virtio_input *in, const struct virtio_input_event *src, unsigned start,
		    unsigned n, unsigned ring_mod)
{
	struct vgi_virtqueue *vq = eventq(in);

	for (unsigned i = 0; i < n; i++) {
		struct vgi_vq_elem *e = in->stash[i];
		const struct virtio_input_event *ev = &src[ring_mod ? (start + i) % ring_mod : start + i];

		vgi_iov_from_buf(e->in_sg, e->in_num, 0, ev, EV_SIZE);
		vgi_virtqueue_push(vq, e, EV_SIZE);
	}
	memmove(in->stash, in->stash + n, (in->nstash - n) * sizeof(in->stash[0]));
	in->nstash -= n;
	in->stats.events += n;
	in->stats.frames++;
}

static bool queue_ok(struct vgi_virtio_input *in)
{
	struct vgi_virtqueue *vq = eventq(in);

	return vq && vgi_virtqueue_ready(vq) && !vgi_virtqueue_broken(vq);
}

void vgi_virtio_input_flush(struct vgi_virtio_input *in)
{
	bool pushed = false;

	while (in->bl_count && queue_ok(in)) {
		unsigned n = backlog_frame_len(in);

		if (!n || !fill_stash(in, n))
			break;
		deliver(in, in->backlog, in->bl_head, n, VGI_INPUT_MAX_BACKLOG);
		in->bl_head = (in->bl_head + n) % VGI_INPUT_MAX_BACKLOG;
		in->bl_count -= n;
		pushed = true;
	}
	if (pushed)
		vgi_virtio_device_notify(&in->vdev, EVENTQ);
	if (in->dropping && in->bl_count == 0) {
		vgi_info("virtio-input: guest buffers back, %llu events were dropped",
			 (unsigned long long)in->dropped_run);
		in->dropping = false;
		in->dropped_run = 0;
	}
}

static void drop(struct vgi_virtio_input *in, unsigned n, const char *why)
{
	in->stats.dropped_events += n;
	in->dropped_run += n;
	if (!in->dropping) {
		vgi_warn("virtio-input: dropping events: %s (%u waiting)", why, in->bl_count);
		in->dropping = true;
	}
}

static void end_frame(struct vgi_virtio_input *in)
{
	unsigned n = in->nframe;

	in->nframe = 0;
	if (in->frame_overflow) {
		in->frame_overflow = false;
		drop(in, n, "frame longer than VGI_INPUT_MAX_FRAME events");
		return;
	}
	/* fast path: nothing waiting, buffers at hand */
	if (in->bl_count == 0 && queue_ok(in) && fill_stash(in, n)) {
		deliver(in, in->frame, 0, n, 0);
		vgi_virtio_device_notify(&in->vdev, EVENTQ);
		return;
	}
	if (in->bl_count + n > VGI_INPUT_MAX_BACKLOG) {
		drop(in, n, queue_ok(in) ? "the guest gives no event buffers" : "event queue not ready");
		return;
	}
	for (unsigned i = 0; i < n; i++)
		in->backlog[(in->bl_head + in->bl_count + i) % VGI_INPUT_MAX_BACKLOG] = in->frame[i];
	in->bl_count += n;
	vgi_virtio_input_flush(in);
}

int vgi_virtio_input_send(struct vgi_virtio_input *in, const struct vgi_input_event *ev)
{
	if (in->nframe >= VGI_INPUT_MAX_FRAME - 1 && !(ev->type == EV_SYN && ev->code == SYN_REPORT)) {
		in->frame_overflow = true;
		in->stats.dropped_events++;
		return -ENOBUFS;
	}
	in->frame[in->nframe].type = htole16(ev->type);
	in->frame[in->nframe].code = htole16(ev->code);
	in->frame[in->nframe].value = htole32((uint32_t)ev->value);
	in->nframe++;
	if (ev->type == EV_SYN && ev->code == SYN_REPORT) {
		uint64_t before = in->stats.dropped_events;

		end_frame(in);
		return in->stats.dropped_events != before ? -ENOBUFS : 0;
	}
	return 0;
}

/* ---- status queue ---- */

static void process_status(struct vgi_virtio_input *in)
{
	struct vgi_virtqueue *vq = in->vdev.queues[STATUSQ];
	struct vgi_vq_elem *e;
	bool pushed = false;

	while ((e = vgi_virtqueue_pop(vq))) {
		size_t size = vgi_iov_size(e->out_sg, e->out_num);
		size_t n = size / EV_SIZE;

		if (size % EV_SIZE || n == 0)
			vgi_warn("virtio-input: status buffer of %zu bytes (not a multiple of %zu)", size, EV_SIZE);
		if (n > MAX_STATUS_PER_ELEM) {
			vgi_warn("virtio-input: status buffer of %zu events, only %u read", n, MAX_STATUS_PER_ELEM);
			n = MAX_STATUS_PER_ELEM;
		}
		for (size_t i = 0; i < n; i++) {
			struct virtio_input_event raw;
			struct vgi_input_event ev;

			vgi_iov_to_buf(e->out_sg, e->out_num, i * EV_SIZE, &raw, EV_SIZE);
			ev.type = le16toh(raw.type);
			ev.code = le16toh(raw.code);
			ev.value = (int32_t)le32toh(raw.value);
			in->stats.status_events++;
			if (ev.type == EV_LED) {
				if (ev.code >= 32) {
					vgi_warn("virtio-input: status LED code %u out of range", ev.code);
					continue;
				}
				if (ev.value)
					in->leds |= 1u << ev.code;
				else
					in->leds &= ~(1u << ev.code);
			}
			if (in->status_fn)
				in->status_fn(in->status_opaque, &ev);
		}
		vgi_virtqueue_push(vq, e, 0);
		pushed = true;
	}
	if (pushed)
		vgi_virtio_device_notify(&in->vdev, STATUSQ);
}

/* ---- device ops ---- */

static uint64_t input_get_features(struct vgi_virtio_device *dev)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX);
}

static void input_set_features(struct vgi_virtio_device *dev, uint64_t acked)
{
}

static void input_queue_notify(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_virtio_input *in = to_input(dev);

	if (index == EVENTQ)
		vgi_virtio_input_flush(in);
	else if (index == STATUSQ)
		process_status(in);
}

static void input_reset(struct vgi_virtio_device *dev)
{
	struct vgi_virtio_input *in = to_input(dev);

	drop_stash(in);
	in->nframe = 0;
	in->frame_overflow = false;
	in->bl_head = in->bl_count = 0;
	in->dropping = false;
	in->dropped_run = 0;
	in->leds = 0;
	in->cfg.select = 0;
	in->cfg.subsel = 0;
	config_answer(in);
}

static void input_queue_stop(struct vgi_virtio_device *dev, unsigned index)
{
	if (index == EVENTQ)
		return_stash(to_input(dev));
}

static void input_memory_changed(struct vgi_virtio_device *dev)
{
	struct vgi_virtio_input *in = to_input(dev);

	/*
	 * Stashed buffers point into the old mapping: give them back, so the
	 * transport can unmap it now. The next event or kick takes them again
	 * through the new one.
	 */
	return_stash(in);
}

static const struct vgi_virtio_device_ops input_ops = {
	.get_features = input_get_features,
	.set_features = input_set_features,
	.queue_notify = input_queue_notify,
	.read_config = input_read_config,
	.write_config = input_write_config,
	.queue_stop = input_queue_stop,
	.reset = input_reset,
	.memory_changed = input_memory_changed,
};

struct vgi_virtio_input *vgi_virtio_input_new(const struct vgi_input_desc *desc)
{
	struct vgi_virtio_input *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	if (vgi_virtio_device_init(&in->vdev, &input_ops, VIRTIO_ID_INPUT, 2, sizeof(struct virtio_input_config))) {
		free(in);
		return NULL;
	}
	in->desc = *desc;
	in->desc.name[sizeof(in->desc.name) - 1] = '\0';
	in->desc.serial[sizeof(in->desc.serial) - 1] = '\0';
	config_answer(in);
	return in;
}

void vgi_virtio_input_free(struct vgi_virtio_input *in)
{
	if (!in)
		return;
	drop_stash(in);
	vgi_virtio_device_finish(&in->vdev);
	free(in);
}

struct vgi_virtio_device *vgi_virtio_input_device(struct vgi_virtio_input *in)
{
	return &in->vdev;
}

const struct vgi_input_desc *vgi_virtio_input_desc(const struct vgi_virtio_input *in)
{
	return &in->desc;
}

void vgi_virtio_input_set_status_cb(struct vgi_virtio_input *in, vgi_virtio_input_status_fn fn, void *opaque)
{
	in->status_fn = fn;
	in->status_opaque = opaque;
}

uint32_t vgi_virtio_input_leds(const struct vgi_virtio_input *in)
{
	return in->leds;
}

void vgi_virtio_input_get_stats(const struct vgi_virtio_input *in, struct vgi_virtio_input_stats *st)
{
	*st = in->stats;
	st->backlog = in->bl_count;
}
