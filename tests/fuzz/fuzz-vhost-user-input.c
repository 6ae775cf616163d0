// SPDX-License-Identifier: MIT
/*
 * Lifecycle fuzzing of virtio-input behind vhost-user (as vgi-input serves
 * QEMU's vhost-user-input-pci): the front-end of fuzz-vu-life.h stops and
 * starts the rings, swaps and hot-plugs memory, sets the status, resets,
 * hangs up and comes back, truncates its RAM, while the guest gives event
 * and status buffers and the host injects events (frames, overlong
 * frames). Besides the ring invariants of fuzz-vu-life.h (no head answered
 * twice, GET_VRING_BASE == used index: every buffer the device took and did
 * not fill is available again, nothing held after a stop), with only
 * well-sized event buffers (mode bit 2 clear) no event buffer may come back
 * empty: a Linux guest reads an empty one as the stale event in it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input-event-codes.h>
#include <linux/virtio_input.h>

#include <vgi/virtio-input.h>

#include "fuzz-reader.h"
#include "fuzz-vu-life.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input_state {
	struct vgi_virtio_input *in;
	bool mixed_sizes;	/* the guest may give event buffers of wrong sizes */
};

static void check_reset(struct lf *f)
{
	struct input_state *s = f->opaque;

	for (unsigned q = 0; q < 2; q++)
		if (vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)))
			lf_fail("queue %u: %u buffers held after a reset", q,
				vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)));
	if (vgi_virtio_input_leds(s->in))
		lf_fail("LEDs 0x%x survive a reset", vgi_virtio_input_leds(s->in));
}

static void check_events(struct lf *f)
{
	struct input_state *s = f->opaque;

	if (!s->mixed_sizes && f->q[0].used_empty)
		lf_fail("%llu well-sized event buffers came back without an event",
			(unsigned long long)f->q[0].used_empty);
}

static void input_record(struct lf *f, struct input_state *s, struct reader *r, uint8_t op)
{
	uint8_t a = u8(r);

	if (lf_verbose > 0)
		fprintf(stderr, "input record %u a 0x%x\n", op, a);
	switch (op) {
	case 0:
	case 1: {	/* event buffers: 1..8, kicked or not */
		static const uint32_t bad[] = { 0, 4, 16, 7 };
		unsigned n = 1 + (a & 7);

		for (unsigned i = 0; i < n && f->ram; i++) {	/* stopped rings too: taken on resume */
			int slot = lf_free_slot(f, 0);
			uint64_t gpa;
			uint32_t len = 8;
			bool wr = true;

			if (slot < 0)
				break;
			gpa = lf_buf_gpa(0, (unsigned)slot);
			if (s->mixed_sizes && (u8(r) & 3) == 3)
				len = bad[u8(r) & 3];
			if (s->mixed_sizes && (a & 0x40) && i == 0)
				gpa = LF_EXTRA_GPA + (unsigned)slot * 0x100u;	/* in the hot-plugged region */
			memset(lf_host(f, lf_buf_gpa(0, (unsigned)slot)), 0xee, 16);
			lf_publish(f, 0, (unsigned)slot, &gpa, &len, &wr, 1, false);
		}
		if (!(a & 0x80) && f->q[0].kick >= 0)
			eventfd_write(f->q[0].kick, 1);
		lf_pump(f);
		break;
	}
	case 2: {	/* a status buffer: an LED from the guest */
		struct virtio_input_event ev = { .type = EV_LED, .code = a & 7, .value = a >> 7 };
		int slot = f->ram ? lf_free_slot(f, 1) : -1;
		uint64_t gpa;
		uint32_t len = sizeof(ev);
		bool wr = false;

		if (slot < 0)
			break;
		gpa = lf_buf_gpa(1, (unsigned)slot);
		memcpy(lf_host(f, gpa), &ev, sizeof(ev));
		lf_publish(f, 1, (unsigned)slot, &gpa, &len, &wr, 1, true);
		lf_pump(f);
		break;
	}
	case 3:
	case 4: {	/* host events: a frame of 1..8 events and SYN_REPORT */
		unsigned n = 1 + (a & 7);

		for (unsigned i = 0; i < n; i++) {
			struct vgi_input_event ev = { EV_KEY, KEY_A + (u8(r) & 15), i & 1 };

			vgi_virtio_input_send(s->in, &ev);
		}
		if (!(a & 0x80)) {
			struct vgi_input_event syn = { EV_SYN, SYN_REPORT, 0 };

			vgi_virtio_input_send(s->in, &syn);
		}
		lf_pump(f);
		break;
	}
	case 5:		/* the host's own flush (vgi-input calls it on its timer) */
		vgi_virtio_input_flush(s->in);
		lf_pump(f);
		break;
	default: {	/* a frame past the frame cap */
		struct vgi_input_event ev = { EV_REL, REL_X, 1 };

		for (unsigned i = 0; i < 64u * (1 + (a & 3)); i++)
			vgi_virtio_input_send(s->in, &ev);
		ev = (struct vgi_input_event){ EV_SYN, SYN_REPORT, 0 };
		vgi_virtio_input_send(s->in, &ev);
		lf_pump(f);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct vgi_input_desc desc;
	struct input_state s;
	struct lf f;
	unsigned records = 0;
	uint8_t mode = u8(&r);
	int fds_before;

	vgi_log_set_handler(lf_log, NULL);
	fds_before = lf_count_fds();
	switch (mode & 3) {
	case 0:
		vgi_input_desc_keyboard(&desc);
		break;
	case 1:
		vgi_input_desc_mouse(&desc);
		break;
	default:
		vgi_input_desc_tablet(&desc, 1920, 1080);
		break;
	}
	s.in = vgi_virtio_input_new(&desc);
	s.mixed_sizes = mode & 4;
	if (!s.in)
		abort();
	lf_init(&f, vgi_vhost_user_new(vgi_virtio_input_device(s.in), NULL, NULL), vgi_virtio_input_device(s.in));
	if (!f.vu)
		abort();
	f.opaque = &s;
	f.q[0].dpc = f.q[1].dpc = 1;

	while (r.left && records++ < 64) {
		uint8_t op = u8(&r) % (LF_NOPS + 7);

		lf_ensure_connected(&f, op);
		if (op < LF_NOPS)
			lf_record(&f, op, &r, check_reset);
		else if (f.sock >= 0)
			input_record(&f, &s, &r, op - LF_NOPS);
		if (f.sock >= 0)
			lf_check(&f);
		check_events(&f);
	}
	lf_finish(&f);
	check_events(&f);
	check_reset(&f);
	vgi_vhost_user_free(f.vu);
	vgi_virtio_input_free(s.in);
	if (lf_count_fds() != fds_before) {
		fprintf(stderr, "fuzz-vhost-user-input: %d fds before, %d after\n", fds_before, lf_count_fds());
		abort();
	}
	return 0;
}
