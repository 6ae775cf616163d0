// SPDX-License-Identifier: MIT
/*
 * Fuzz a virtio-input device (hw/input/) through real split rings: config
 * space select/subsel and garbage writes, reads at any offset, status queue
 * buffers of any size and content, event buffers of wrong sizes, host events
 * (frames, overflow), resets and memory changes. After every config access
 * the answer must be consistent: size within the union, nothing past size.
 * At the end every guest page must come back and the device is freed
 * (leaks show up under LeakSanitizer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input-event-codes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_input.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/virtio-input.h>

#include "test-guest.h"
#include "fuzz-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EVQ_NUM 16
#define STQ_NUM 8
#define MAX_BUFS 256

static void status_cb(void *opaque, const struct vgi_input_event *ev)
{
	unsigned *n = opaque;

	(*n)++;
}

struct state {
	struct tg_guest *g;
	struct vgi_virtio_input *in;
	struct vgi_virtio_device *dev;
	struct tg_queue *evq, *stq;
	uint64_t bufs[MAX_BUFS];	/* every guest buffer we allocated, freed at the end */
	unsigned nbufs;
	bool event_idx;
};

static void queues_new(struct state *s)
{
	s->evq = tg_queue_new(s->g, EVQ_NUM);
	s->stq = tg_queue_new(s->g, STQ_NUM);
	s->evq->event_idx = s->stq->event_idx = s->event_idx;
	if (tg_queue_attach(s->evq, s->dev, 0) || tg_queue_attach(s->stq, s->dev, 1))
		abort();
}

/* Free a queue and the indirect tables of chains the device never used. */
static void queue_free(struct tg_queue *q)
{
	for (uint32_t i = 0; i < q->num; i++)
		if (q->indirect_gpa[i])
			tg_free_page(q->g, q->indirect_gpa[i]);
	tg_queue_free(q);
}

static void drain(struct tg_queue *q, uint32_t max_len)
{
	uint32_t head, len;

	while (tg_queue_get_used(q, &head, &len)) {
		if (len > max_len) {
			fprintf(stderr, "fuzz-virtio-input: used length %u > buffer %u\n", len, max_len);
			abort();
		}
	}
}

/* The config answer must be self-consistent whatever was written before. */
static void check_config(struct state *s)
{
	struct virtio_input_config c;

	if (vgi_virtio_device_read_config(s->dev, 0, &c, sizeof(c)))
		abort();
	if (c.size > sizeof(c.u))
		abort();
	for (size_t i = c.size; i < sizeof(c.u); i++)
		if (((const uint8_t *)&c.u)[i])
			abort();	/* stale bytes past the answer */
	switch (c.select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
	case VIRTIO_INPUT_CFG_ID_SERIAL:
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
	case VIRTIO_INPUT_CFG_PROP_BITS:
	case VIRTIO_INPUT_CFG_EV_BITS:
	case VIRTIO_INPUT_CFG_ABS_INFO:
		break;
	default:
		if (c.size)
			abort();	/* unknown selects answer nothing */
	}
}

static uint64_t buf(struct state *s, const void *d, size_t len)
{
	uint64_t gpa = tg_alloc_buf(s->g, d, len ? len : 1);

	if (s->nbufs < MAX_BUFS)
		s->bufs[s->nbufs++] = gpa;
	else
		abort();
	return gpa;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tg_guest *g;
	struct reader r = { data, size };
	struct vgi_input_desc desc;
	struct state s;
	unsigned status_events = 0, records = 0;
	uint8_t mode = u8(&r);

	vgi_log_set_handler(quiet, NULL);
	if (!g)
		g = tg_guest_new(2u << 20);
	memset(&s, 0, sizeof(s));
	s.g = g;
	switch (mode % 4) {
	case 0:
		vgi_input_desc_keyboard(&desc);
		break;
	case 1:
		vgi_input_desc_mouse(&desc);
		break;
	case 2:
		vgi_input_desc_tablet(&desc, 1 + u32(&r) % 65536, 1 + u32(&r) % 65536);
		break;
	default:	/* passthrough: a host description with arbitrary bits and strings */
		memset(&desc, 0, sizeof(desc));
		for (size_t i = 0; i < sizeof(desc) && r.left; i += 1 + (u8(&r) & 63))
			((uint8_t *)&desc)[i] = u8(&r);
		desc.name[sizeof(desc.name) - 1] = 0;
		desc.serial[sizeof(desc.serial) - 1] = 0;
		break;
	}
	s.in = vgi_virtio_input_new(&desc);
	if (!s.in)
		abort();
	s.dev = vgi_virtio_input_device(s.in);
	vgi_virtio_input_set_status_cb(s.in, status_cb, &status_events);
	if (vgi_virtio_device_set_memory(s.dev, g->mem))
		abort();
	s.event_idx = mode & 4;
	vgi_virtio_device_set_features(s.dev, (1ull << VIRTIO_F_VERSION_1) |
						 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
						 (mode & 8 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0));
	queues_new(&s);
	check_config(&s);

	while (r.left && records++ < 64) {
		uint8_t op = u8(&r);

		if (s.nbufs + 8 > MAX_BUFS && (op % 10 == 3 || op % 10 == 4))
			continue;	/* out of buffers for this input */
		switch (op % 10) {
		case 0: case 1: {	/* config write: select/subsel, or anywhere (garbage) */
			uint8_t off = u8(&r), len = 1 + (op >> 4) % 8;
			uint8_t v[8];

			for (unsigned i = 0; i < len; i++)
				v[i] = u8(&r);
			if (op & 0x80)
				off %= 2;
			vgi_virtio_device_write_config(s.dev, off % 0x90, v, len);
			check_config(&s);
			break;
		}
		case 2: {	/* config read at any offset and length */
			uint8_t off = u8(&r), len = u8(&r), v[256];

			vgi_virtio_device_read_config(s.dev, off, v, len);
			break;
		}
		case 3: {	/* status buffer: any size, any content; maybe split, maybe with a writable part */
			uint8_t st[512];
			uint32_t len = u8(&r) | (uint32_t)(op >> 4) << 8;
			struct tg_buf b[3];
			unsigned n = 0;

			len %= sizeof(st) + 1;
			for (uint32_t i = 0; i < len; i++)
				st[i] = u8(&r);
			if (len > 8 && (op & 0x10)) {
				b[n] = (struct tg_buf){ buf(&s, st, 5), 5, false };
				n++;
				b[n] = (struct tg_buf){ buf(&s, st + 5, len - 5), len - 5, false };
				n++;
			} else {
				b[n] = (struct tg_buf){ buf(&s, st, len), len, false };
				n++;
			}
			if (op & 0x20) {
				b[n] = (struct tg_buf){ buf(&s, NULL, 8), 8, true };
				n++;
			}
			if (tg_queue_add(s.stq, b, n, (op & 0x40) && (mode & 8)) >= 0) {
				tg_queue_publish(s.stq);
				vgi_virtio_device_kick(s.dev, 1);
			}
			drain(s.stq, 8);
			break;
		}
		case 4: {	/* event buffers, of the right size or not */
			static const uint32_t sizes[] = { 8, 8, 8, 16, 4, 0, 7, 4096 };
			unsigned count = 1 + (op >> 4) % 8;

			for (unsigned i = 0; i < count; i++) {
				uint32_t len = sizes[u8(&r) % 8];
				struct tg_buf b = { 0, len, true };

				b.gpa = buf(&s, NULL, len);
				if (tg_queue_add(s.evq, &b, 1, false) < 0)
					break;
			}
			tg_queue_publish(s.evq);
			vgi_virtio_device_kick(s.dev, 0);
			drain(s.evq, 4096);
			break;
		}
		case 5: case 6: {	/* host events: any type/code/value; SYN_REPORT ends a frame */
			unsigned count = 1 + (op >> 4);

			for (unsigned i = 0; i < count && r.left; i++) {
				uint8_t t = u8(&r);
				struct vgi_input_event ev = { .type = t % EV_CNT, .code = u8(&r), .value = (int8_t)u8(&r) };

				if (t & 0x80)
					ev = (struct vgi_input_event){ EV_SYN, SYN_REPORT, 0 };
				vgi_virtio_input_send(s.in, &ev);
			}
			drain(s.evq, 4096);
			break;
		}
		case 7: {	/* a long frame: past the frame cap and the backlog */
			unsigned count = 64u * (1 + (op >> 4));
			struct vgi_input_event ev = { EV_KEY, KEY_A, 1 };

			for (unsigned i = 0; i < count; i++) {
				ev.value = (int32_t)(i & 1);
				vgi_virtio_input_send(s.in, &ev);
			}
			ev = (struct vgi_input_event){ EV_SYN, SYN_REPORT, 0 };
			vgi_virtio_input_send(s.in, &ev);
			vgi_virtio_input_flush(s.in);
			drain(s.evq, 4096);
			break;
		}
		case 8:		/* reset: the guest sets its queues up again */
			drain(s.evq, 4096);
			drain(s.stq, 8);
			vgi_virtio_device_reset(s.dev);
			check_config(&s);
			queue_free(s.evq);
			queue_free(s.stq);
			queues_new(&s);
			break;
		case 9:		/* memory map changes under stashed buffers */
			if (vgi_virtio_device_set_memory(s.dev, g->mem))
				abort();
			break;
		}
	}
	{
		struct vgi_virtio_input_stats st;

		vgi_virtio_input_get_stats(s.in, &st);
		if (st.backlog > VGI_INPUT_MAX_BACKLOG || st.status_events < status_events)
			abort();
	}
	vgi_virtio_input_free(s.in);
	queue_free(s.evq);
	queue_free(s.stq);
	for (unsigned i = 0; i < s.nbufs; i++)
		tg_free_page(g, s.bufs[i]);
	if (g->nfree != g->npages) {
		fprintf(stderr, "fuzz-virtio-input: the harness lost guest pages\n");
		abort();
	}
	return 0;
}
