// SPDX-License-Identifier: MIT
/* virtio-input devices driven by the in-process test guest through real rings. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/virtio-input.h>

#include "test-guest.h"

#define EVQ_NUM 64
#define STQ_NUM 16

struct fixture {
	struct tg_guest *g;
	struct vgi_virtio_input *in;
	struct vgi_virtio_device *dev;
	struct tg_queue *evq, *stq;
	uint64_t buf_gpa[EVQ_NUM];	/* per head: the event buffer */
	unsigned notifies[2];
	struct vgi_input_event status[256];
	unsigned nstatus;
	unsigned warnings;
};

static struct fixture *cur;

static void log_fn(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (level <= VGI_LOG_WARN && cur)
		cur->warnings++;
}

static void host_notify(void *opaque, unsigned index)
{
	struct fixture *f = opaque;

	assert_true(index < 2);
	f->notifies[index]++;
}

static const struct vgi_virtio_host_ops host_ops = { .notify = host_notify };

static void status_cb(void *opaque, const struct vgi_input_event *ev)
{
	struct fixture *f = opaque;

	if (f->nstatus < 256)
		f->status[f->nstatus++] = *ev;
}

static struct fixture *fixture_new(const struct vgi_input_desc *desc, uint64_t features)
{
	struct fixture *f = calloc(1, sizeof(*f));

	cur = f;
	vgi_log_set_handler(log_fn, NULL);
	f->g = tg_guest_new(16u << 20);
	f->in = vgi_virtio_input_new(desc);
	assert_non_null(f->in);
	f->dev = vgi_virtio_input_device(f->in);
	assert_int_equal(f->dev->device_id, VIRTIO_ID_INPUT);
	assert_int_equal(f->dev->num_queues, 2);
	assert_int_equal(f->dev->config_size, sizeof(struct virtio_input_config));
	vgi_virtio_device_set_host(f->dev, &host_ops, f);
	vgi_virtio_input_set_status_cb(f->in, status_cb, f);
	assert_int_equal(vgi_virtio_device_set_memory(f->dev, f->g->mem), 0);
	assert_true(vgi_virtio_device_get_features(f->dev) & (1ull << VIRTIO_F_VERSION_1));
	vgi_virtio_device_set_features(f->dev, features);
	f->evq = tg_queue_new(f->g, EVQ_NUM);
	f->stq = tg_queue_new(f->g, STQ_NUM);
	f->evq->event_idx = f->stq->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	assert_int_equal(tg_queue_attach(f->evq, f->dev, 0), 0);
	assert_int_equal(tg_queue_attach(f->stq, f->dev, 1), 0);
	return f;
}

static void fixture_free(struct fixture *f)
{
	vgi_virtio_input_free(f->in);
	tg_queue_free(f->evq);
	tg_queue_free(f->stq);
	tg_guest_free(f->g);
	free(f);
	vgi_log_set_handler(NULL, NULL);
	cur = NULL;
}

static int setup_kbd(void **state)
{
	struct vgi_input_desc d;

	vgi_input_desc_keyboard(&d);
	*state = fixture_new(&d, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* The guest gives n 8-byte event buffers (in one go) and kicks. */
static void give_buffers(struct fixture *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = tg_alloc_buf(f->g, NULL, 8);
		struct tg_buf b = { gpa, 8, true };
		int h = tg_queue_add(f->evq, &b, 1, false);

		assert_true(h >= 0);
		f->buf_gpa[h] = gpa;
	}
	tg_queue_publish(f->evq);
	vgi_virtio_device_kick(f->dev, 0);
}

/* Events the device returned, in used-ring order. */
static unsigned take_events(struct fixture *f, struct vgi_input_event *out, unsigned max)
{
	uint32_t head, len;
	unsigned n = 0;

	while (n < max && tg_queue_get_used(f->evq, &head, &len)) {
		struct virtio_input_event *e;

		assert_true(head < EVQ_NUM);
		assert_int_equal(len, 8);
		e = tg_host(f->g, f->buf_gpa[head]);
		out[n].type = le16toh(e->type);
		out[n].code = le16toh(e->code);
		out[n].value = (int32_t)le32toh(e->value);
		tg_free_page(f->g, f->buf_gpa[head]);
		n++;
	}
	return n;
}

static void send(struct fixture *f, uint16_t type, uint16_t code, int32_t value, int expect)
{
	struct vgi_input_event ev = { type, code, value };

	assert_int_equal(vgi_virtio_input_send(f->in, &ev), expect);
}

/* ---- config space ---- */

static uint8_t cfg_select(struct fixture *f, uint8_t sel, uint8_t subsel, void *u)
{
	uint8_t size;

	assert_int_equal(vgi_virtio_device_write_config(f->dev, 0, &sel, 1), 0);
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 1, &subsel, 1), 0);
	assert_int_equal(vgi_virtio_device_read_config(f->dev, 2, &size, 1), 0);
	assert_true(size <= 128);
	if (u)
		assert_int_equal(vgi_virtio_device_read_config(f->dev, 8, u, 128), 0);
	return size;
}

static bool bm(const uint8_t *map, unsigned bit)
{
	return map[bit / 8] & (1u << (bit % 8));
}

static void test_config_keyboard(void **state)
{
	struct fixture *f = *state;
	uint8_t u[128];
	struct virtio_input_devids ids;
	uint8_t size;

	size = cfg_select(f, VIRTIO_INPUT_CFG_ID_NAME, 0, u);
	assert_int_equal(size, strlen("vgi virtio keyboard"));
	assert_memory_equal(u, "vgi virtio keyboard", size);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_SERIAL, 0, u), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, u), sizeof(ids));
	memcpy(&ids, u, sizeof(ids));
	assert_int_equal(le16toh(ids.bustype), BUS_VIRTUAL);
	assert_int_equal(le16toh(ids.product), 1);
	size = cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, u);
	assert_true(size >= KEY_A / 8 + 1 && size <= KEY_CNT / 8);
	assert_true(bm(u, KEY_A) && bm(u, KEY_LEFTCTRL) && bm(u, KEY_SCROLLLOCK) && !bm(u, 0) && !bm(u, BTN_LEFT));
	assert_true(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_REP, NULL) > 0);	/* Linux turns on EV_REP */
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_LED, u), 1);
	assert_int_equal(u[0], 7);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_REL, NULL), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, NULL), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_X, NULL), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_PROP_BITS, 0, NULL), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_UNSET, 0, NULL), 0);
}

static void test_config_mouse_tablet_passthrough(void **state)
{
	struct vgi_input_desc d;
	struct fixture *f;
	struct virtio_input_absinfo abs;
	uint8_t u[128];

	vgi_input_desc_mouse(&d);
	f = fixture_new(&d, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_REL, u), 2);
	assert_true(bm(u, REL_X) && bm(u, REL_Y) && bm(u, REL_WHEEL));
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, u), BTN_TASK / 8 + 1);
	assert_true(bm(u, BTN_LEFT) && bm(u, BTN_RIGHT) && bm(u, BTN_MIDDLE) && !bm(u, KEY_A));
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, NULL), 0);
	fixture_free(f);

	vgi_input_desc_tablet(&d, 1920, 1080);
	f = fixture_new(&d, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, u), 1);
	assert_int_equal(u[0], 3);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, u), sizeof(abs));
	memcpy(&abs, u, sizeof(abs));
	assert_int_equal(le32toh(abs.min), 0);
	assert_int_equal(le32toh(abs.max), 1079);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z, NULL), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_PROP_BITS, 0, u), 1);
	assert_true(bm(u, INPUT_PROP_DIRECT));
	fixture_free(f);

	/* a passthrough description as libevdev or an evemu recording gives it */
	memset(&d, 0, sizeof(d));
	memset(d.name, 'n', sizeof(d.name));	/* not terminated: cut at 127 */
	strcpy(d.serial, "serial-42");
	d.bustype = BUS_USB;
	d.vendor = 0x046d;
	d.product = 0xc52b;
	d.version = 0x111;
	d.props[0] = 1u << INPUT_PROP_POINTER;
	vgi_input_desc_set(&d, EV_ABS, ABS_MT_POSITION_X);
	vgi_input_desc_set(&d, EV_KEY, KEY_MAX);
	vgi_input_desc_set(&d, EV_SW, SW_LID);
	d.abs[ABS_MT_POSITION_X] = (struct vgi_input_absinfo){ -100, 4000, 3, 7, 12, 55 };
	f = fixture_new(&d, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_NAME, 0, u), 127);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_SERIAL, 0, u), 9);
	assert_memory_equal(u, "serial-42", 9);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, u), KEY_MAX / 8 + 1);
	assert_true(bm(u, KEY_MAX));
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_SW, u), 1);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_MT_POSITION_X, u), sizeof(abs));
	memcpy(&abs, u, sizeof(abs));
	assert_int_equal((int32_t)le32toh(abs.min), -100);
	assert_int_equal(le32toh(abs.max), 4000);
	assert_int_equal(le32toh(abs.fuzz), 3);
	assert_int_equal(le32toh(abs.flat), 7);
	assert_int_equal(le32toh(abs.res), 12);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_PROP_BITS, 0, u), 1);
	assert_int_equal(u[0], 1u << INPUT_PROP_POINTER);
	fixture_free(f);
}

/* Every select and subsel, garbage written everywhere, out-of-range accesses. */
static void test_config_hostile(void **state)
{
	struct fixture *f = *state;
	uint8_t full[sizeof(struct virtio_input_config)], junk[sizeof(full)], u[128];

	for (unsigned sel = 0; sel < 256; sel++) {
		for (unsigned sub = 0; sub < 256; sub++) {
			uint8_t size = cfg_select(f, (uint8_t)sel, (uint8_t)sub, NULL);
			bool known = sel == VIRTIO_INPUT_CFG_ID_NAME || sel == VIRTIO_INPUT_CFG_ID_SERIAL ||
				     sel == VIRTIO_INPUT_CFG_ID_DEVIDS || sel == VIRTIO_INPUT_CFG_PROP_BITS ||
				     sel == VIRTIO_INPUT_CFG_EV_BITS || sel == VIRTIO_INPUT_CFG_ABS_INFO;

			if (!known || (sel != VIRTIO_INPUT_CFG_EV_BITS && sel != VIRTIO_INPUT_CFG_ABS_INFO && sub))
				assert_int_equal(size, 0);
			if (sel == VIRTIO_INPUT_CFG_EV_BITS && sub >= EV_CNT)
				assert_int_equal(size, 0);
		}
	}
	/* garbage over the whole config: select/subsel take it, the answer is recomputed */
	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0x5a + 37 * i);
	junk[0] = VIRTIO_INPUT_CFG_ID_NAME;
	junk[1] = 0;
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 0, junk, sizeof(junk)), 0);
	assert_int_equal(vgi_virtio_device_read_config(f->dev, 0, full, sizeof(full)), 0);
	assert_int_equal(full[0], VIRTIO_INPUT_CFG_ID_NAME);
	assert_int_equal(full[2], strlen("vgi virtio keyboard"));
	assert_memory_equal(full + 8, "vgi virtio keyboard", full[2]);
	for (unsigned i = 8 + full[2]; i < sizeof(full); i++)
		assert_int_equal(full[i], 0);
	for (unsigned i = 3; i < 8; i++)
		assert_int_equal(full[i], 0);
	/* writes to the size byte or the union alone change nothing */
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 2, junk, 1), 0);
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 20, junk, 100), 0);
	assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_NAME, 0, u), strlen("vgi virtio keyboard"));
	/* out of range */
	assert_int_equal(vgi_virtio_device_read_config(f->dev, sizeof(full), u, 1), -EINVAL);
	assert_int_equal(vgi_virtio_device_read_config(f->dev, 100, u, 100), -EINVAL);
	assert_int_equal(vgi_virtio_device_write_config(f->dev, UINT32_MAX, u, 2), -EINVAL);
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 1, junk, sizeof(junk)), -EINVAL);
	/* both select bytes in one 2-byte write, as a driver may do */
	{
		uint8_t sel[2] = { VIRTIO_INPUT_CFG_EV_BITS, EV_LED };
		uint8_t size;

		assert_int_equal(vgi_virtio_device_write_config(f->dev, 0, sel, 2), 0);
		assert_int_equal(vgi_virtio_device_read_config(f->dev, 2, &size, 1), 0);
		assert_int_equal(size, 1);
	}
}

/* ---- event queue ---- */

static void test_events_delivered(void **state)
{
	struct fixture *f = *state;
	struct vgi_input_event got[64];
	struct vgi_virtio_input_stats st;

	give_buffers(f, 16);
	send(f, EV_MSC, MSC_SCAN, 0x70004, 0);
	send(f, EV_KEY, KEY_A, 1, 0);
	assert_int_equal(take_events(f, got, 64), 0);	/* nothing before SYN_REPORT */
	assert_int_equal(f->notifies[0], 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	assert_int_equal(f->notifies[0], 1);
	assert_int_equal(take_events(f, got, 64), 3);
	assert_int_equal(got[0].type, EV_MSC);
	assert_int_equal(got[0].value, 0x70004);
	assert_int_equal(got[1].type, EV_KEY);
	assert_int_equal(got[1].code, KEY_A);
	assert_int_equal(got[1].value, 1);
	assert_int_equal(got[2].type, EV_SYN);
	/* negative values survive (REL) */
	send(f, EV_REL, REL_X, -5, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	assert_int_equal(take_events(f, got, 64), 2);
	assert_int_equal(got[0].value, -5);
	vgi_virtio_input_get_stats(f->in, &st);
	assert_int_equal(st.events, 5);
	assert_int_equal(st.frames, 2);
	assert_int_equal(st.dropped_events, 0);
}

/* No buffers: frames wait (in order) and go when the guest gives buffers; past the bound they are dropped. */
static void test_no_buffers(void **state)
{
	struct fixture *f = *state;
	struct vgi_input_event got[EVQ_NUM];
	struct vgi_virtio_input_stats st;
	unsigned total = 0, warn0 = f->warnings, frames = VGI_INPUT_MAX_BACKLOG / 2 + 1;

	/* 3 buffers, frames of 2: one frame goes, the rest wait (the backlog is full then) */
	give_buffers(f, 3);
	for (unsigned i = 0; i < frames; i++) {
		send(f, EV_KEY, KEY_A, (int32_t)(i & 1), 0);
		send(f, EV_SYN, SYN_REPORT, 0, 0);
	}
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
	/* backlog full now: the next frame is dropped with one log line */
	send(f, EV_KEY, KEY_B, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, -ENOBUFS);
	send(f, EV_KEY, KEY_B, 0, 0);
	send(f, EV_SYN, SYN_REPORT, 0, -ENOBUFS);
	assert_int_equal(f->warnings, warn0 + 1);
	vgi_virtio_input_get_stats(f->in, &st);
	assert_int_equal(st.dropped_events, 4);
	/* the guest catches up: everything that waited arrives, in order, whole frames only */
	total = 1;	/* frame 0 came already */
	while (total < frames) {
		unsigned n;

		give_buffers(f, EVQ_NUM - 1 - (total % 7));
		n = take_events(f, got, EVQ_NUM);
		assert_int_equal(n % 2, 0);
		for (unsigned i = 0; i < n; i += 2) {
			assert_int_equal(got[i].code, KEY_A);
			assert_int_equal(got[i].value, (int32_t)((total + i / 2) & 1));
			assert_int_equal(got[i + 1].type, EV_SYN);
		}
		total += n / 2;
		/* one buffer left over at most, in the device's stash */
	}
	assert_int_equal(total, frames);
	vgi_virtio_input_get_stats(f->in, &st);
	assert_int_equal(st.frames, frames);
}

static void test_frame_too_long(void **state)
{
	struct fixture *f = *state;
	struct vgi_input_event got[EVQ_NUM];
	struct vgi_virtio_input_stats st;

	give_buffers(f, 32);
	for (unsigned i = 0; i < VGI_INPUT_MAX_FRAME + 10; i++)
		vgi_virtio_input_send(f->in, &(struct vgi_input_event){ EV_REL, REL_X, 1 });
	send(f, EV_SYN, SYN_REPORT, 0, -ENOBUFS);
	assert_int_equal(take_events(f, got, EVQ_NUM), 0);
	vgi_virtio_input_get_stats(f->in, &st);
	assert_int_equal(st.dropped_events, VGI_INPUT_MAX_FRAME + 11);
	/* the next frame is fine */
	send(f, EV_REL, REL_X, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
}

/* Buffers the device cannot use (readable, too short, outside RAM) are returned empty and skipped. */
static void test_bad_event_buffers(void **state)
{
	struct fixture *f = *state;
	struct vgi_input_event got[EVQ_NUM];
	uint64_t p = tg_alloc_page(f->g);
	struct tg_buf ro = { p, 8, false }, small = { p + 64, 4, true }, wild = { 0xdead00000000ull, 8, true };
	uint32_t head, len;
	int h[3];

	h[0] = tg_queue_add(f->evq, &ro, 1, false);
	h[1] = tg_queue_add(f->evq, &small, 1, false);
	h[2] = tg_queue_add(f->evq, &wild, 1, false);
	tg_queue_publish(f->evq);
	give_buffers(f, 2);
	send(f, EV_KEY, KEY_A, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	for (int i = 0; i < 3; i++) {
		assert_true(tg_queue_get_used(f->evq, &head, &len));
		assert_int_equal(len, 0);
		assert_int_equal(head, h[i]);
	}
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
	assert_int_equal(got[0].code, KEY_A);
	assert_true(f->warnings >= 3);
}

/* ---- status queue ---- */

static void status_write(struct fixture *f, const void *data, uint32_t len, bool write)
{
	uint64_t gpa = tg_alloc_page(f->g);
	struct tg_buf b = { gpa, len, write };

	memcpy(tg_host(f->g, gpa), data, len);
	assert_true(tg_queue_add(f->stq, &b, 1, false) >= 0);
	tg_queue_publish(f->stq);
	vgi_virtio_device_kick(f->dev, 1);
}

static void test_status_queue(void **state)
{
	struct fixture *f = *state;
	struct virtio_input_event ev[3] = {
		{ htole16(EV_LED), htole16(LED_CAPSL), htole32(1) },
		{ htole16(EV_LED), htole16(LED_NUML), htole32(1) },
		{ htole16(EV_SYN), htole16(SYN_REPORT), 0 },
	};
	struct virtio_input_event bad[2] = {
		{ htole16(EV_LED), htole16(200), htole32(1) },
		{ htole16(EV_LED), htole16(LED_CAPSL), htole32(0) },
	};
	uint8_t big[4096];
	uint32_t head, len;
	unsigned used = 0;

	status_write(f, &ev[0], 8, false);
	assert_int_equal(f->nstatus, 1);
	assert_int_equal(f->status[0].type, EV_LED);
	assert_int_equal(f->status[0].code, LED_CAPSL);
	assert_int_equal(f->status[0].value, 1);
	assert_int_equal(vgi_virtio_input_leds(f->in), 1u << LED_CAPSL);
	assert_int_equal(f->notifies[1], 1);
	/* several events in one buffer */
	status_write(f, &ev[1], 16, false);
	assert_int_equal(f->nstatus, 3);
	assert_int_equal(vgi_virtio_input_leds(f->in), (1u << LED_CAPSL) | (1u << LED_NUML));
	/* hostile: LED code out of range (not passed on), a ragged size, a huge buffer, a writable buffer */
	status_write(f, bad, 16, false);
	assert_int_equal(f->nstatus, 4);
	assert_int_equal(vgi_virtio_input_leds(f->in), 1u << LED_NUML);
	status_write(f, &ev[0], 5, false);
	status_write(f, &ev[0], 13, false);
	memset(big, 0, sizeof(big));
	status_write(f, big, sizeof(big), false);
	status_write(f, &ev[0], 8, true);
	assert_int_equal(f->nstatus, 4 + 1 + 64);
	while (tg_queue_get_used(f->stq, &head, &len)) {
		assert_int_equal(len, 0);
		used++;
	}
	assert_int_equal(used, 7);
}

/* Reset drops everything in flight; the device works again after the driver sets it up. */
static void test_reset(void **state)
{
	struct fixture *f = *state;
	struct vgi_input_event got[EVQ_NUM];
	uint8_t sel = VIRTIO_INPUT_CFG_ID_NAME, size;

	give_buffers(f, 1);	/* one buffer: a frame of 2 leaves it in the stash */
	send(f, EV_KEY, KEY_A, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	send(f, EV_KEY, KEY_A, 0, 0);	/* open frame */
	assert_int_equal(vgi_virtio_device_write_config(f->dev, 0, &sel, 1), 0);
	vgi_virtio_device_reset(f->dev);
	assert_int_equal(vgi_virtio_device_read_config(f->dev, 2, &size, 1), 0);
	assert_int_equal(size, 0);
	/* events with no queue: they wait */
	send(f, EV_KEY, KEY_A, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);	/* waits in the backlog */
	/* the driver comes back with fresh rings */
	tg_queue_free(f->evq);
	tg_queue_free(f->stq);
	f->evq = tg_queue_new(f->g, EVQ_NUM);
	f->stq = tg_queue_new(f->g, STQ_NUM);
	vgi_virtio_device_set_features(f->dev, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(tg_queue_attach(f->evq, f->dev, 0), 0);
	assert_int_equal(tg_queue_attach(f->stq, f->dev, 1), 0);
	give_buffers(f, 8);
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);	/* the waiting frame, whole */
	assert_int_equal(got[0].value, 1);
	send(f, EV_KEY, KEY_A, 0, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
	assert_int_equal(got[0].value, 0);
}

/*
 * A ring stop (VM stop) while the device holds event buffers it has not
 * filled (a frame waits for more): they go back to the ring, nothing stays
 * in flight, and after the ring resumes every buffer the guest gave is used.
 */
static void test_stop_gives_buffers_back(void **state)
{
	struct fixture *f = *state;
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(f->dev, 0);
	struct vgi_input_event got[EVQ_NUM];

	give_buffers(f, 1);
	send(f, EV_KEY, KEY_Q, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);	/* needs 2 buffers: the one is stashed */
	assert_int_equal(vgi_virtqueue_inflight(vq), 1);
	assert_int_equal(vgi_virtqueue_get_last_avail(vq), 1);
	vgi_virtio_device_queue_stop(f->dev, 0);
	assert_int_equal(vgi_virtqueue_inflight(vq), 0);
	assert_int_equal(vgi_virtqueue_get_last_avail(vq), 0);	/* the front-end's GET_VRING_BASE sees 0 */
	assert_int_equal(take_events(f, got, EVQ_NUM), 0);
	/* resume where it stopped; one more buffer: the frame uses both */
	assert_int_equal(tg_queue_attach(f->evq, f->dev, 0), 0);
	give_buffers(f, 1);
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
	assert_int_equal(got[0].code, KEY_Q);
	assert_int_equal(got[1].type, EV_SYN);
	assert_int_equal(vgi_virtqueue_inflight(vq), 0);
}

/* A memory map change gives stashed buffers back too (they point into the old mapping). */
static void test_memory_change_gives_buffers_back(void **state)
{
	struct fixture *f = *state;
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(f->dev, 0);
	struct vgi_input_event got[EVQ_NUM];

	give_buffers(f, 1);
	send(f, EV_KEY, KEY_W, 1, 0);
	send(f, EV_SYN, SYN_REPORT, 0, 0);
	assert_int_equal(vgi_virtqueue_inflight(vq), 1);
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(vgi_virtio_device_set_memory(f->dev, f->g->mem), 0);
		assert_int_equal(vgi_virtqueue_inflight(vq), 0);
	}
	give_buffers(f, 1);
	assert_int_equal(take_events(f, got, EVQ_NUM), 2);
	assert_int_equal(got[0].code, KEY_W);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_keyboard, setup_kbd, teardown),
		cmocka_unit_test(test_config_mouse_tablet_passthrough),
		cmocka_unit_test_setup_teardown(test_config_hostile, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_events_delivered, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_no_buffers, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_frame_too_long, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_bad_event_buffers, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_status_queue, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_stop_gives_buffers_back, setup_kbd, teardown),
		cmocka_unit_test_setup_teardown(test_memory_change_gives_buffers_back, setup_kbd, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
