// SPDX-License-Identifier: MIT
/*
 * Input path benchmark, in-process on one core: struct input_event records
 * read(2) from a pipe (the same read an evdev fd gets; this machine has no
 * /dev/input), through the grab state machine (device grabbed) into the
 * virtio-input device, up to the used-ring entry the test guest sees.
 * Prints p50/p99 latency per frame (a key event + SYN_REPORT) and events
 * per second. Targets: p99 < 50 us, >= 500k events/s. Never fails on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/grab.h>
#include <vgi/virtio-input.h>

#include "test-guest.h"

#define QNUM 256u
#define LAT_FRAMES 200000u
#define TPUT_EVENTS 4000000u
#define CHUNK 128u	/* events per read, as libevdev reads */

struct bench {
	struct tg_guest *g;
	struct tg_queue *q;
	struct vgi_virtio_input *in;
	struct vgi_virtio_device *dev;
	struct vgi_grab *grab;
	uint64_t buf[QNUM];
	uint64_t delivered;
};

static void on_action(void *opaque, const struct vgi_grab_action *a)
{
	struct bench *b = opaque;

	if (a->type == VGI_GRAB_ACT_FORWARD)
		vgi_virtio_input_send(b->in, &a->ev);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The guest takes what was used and gives the buffers back. */
static void recycle(struct bench *b)
{
	uint32_t head, len;
	bool any = false;

	while (tg_queue_get_used(b->q, &head, &len)) {
		struct tg_buf tb = { b->buf[head], 8, true };
		int h = tg_queue_add(b->q, &tb, 1, false);

		if (h < 0)
			abort();
		b->buf[h] = tb.gpa;
		b->delivered++;
		any = true;
	}
	if (any) {
		tg_queue_publish(b->q);
		vgi_virtio_device_kick(b->dev, 0);
	}
}

static void process(struct bench *b, const struct input_event *ie, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct vgi_input_event ev = { ie[i].type, ie[i].code, ie[i].value };

		vgi_grab_event(b->grab, 0, &ev);
	}
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return a < c ? -1 : a > c;
}

int main(void)
{
	struct bench b = { 0 };
	struct vgi_input_desc desc;
	struct vgi_grab_config cfg = { .toggle = VGI_GRAB_TOGGLE_CTRL_CTRL, .start_grabbed = true };
	struct tg_queue *sq;
	int p[2];
	double *lat, t0, t1;
	cpu_set_t cpus;
	struct input_event frame[2], chunk[CHUNK];
	uint64_t sent = 0;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) == 0)
		printf("pinned to CPU 0\n");
	if (pipe2(p, O_NONBLOCK) < 0) {
		perror("pipe");
		return 1;
	}
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);

	b.g = tg_guest_new(16u << 20);
	vgi_input_desc_keyboard(&desc);
	b.in = vgi_virtio_input_new(&desc);
	b.dev = vgi_virtio_input_device(b.in);
	vgi_virtio_device_set_memory(b.dev, b.g->mem);
	vgi_virtio_device_set_features(b.dev, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	b.q = tg_queue_new(b.g, QNUM);
	b.q->event_idx = true;
	sq = tg_queue_new(b.g, 8);
	if (tg_queue_attach(b.q, b.dev, 0) || tg_queue_attach(sq, b.dev, 1))
		return 1;
	for (unsigned i = 0; i < QNUM; i++) {
		struct tg_buf tb = { tg_alloc_buf(b.g, NULL, 8), 8, true };
		int h = tg_queue_add(b.q, &tb, 1, false);

		b.buf[h] = tb.gpa;
	}
	tg_queue_publish(b.q);
	b.grab = vgi_grab_new(&cfg, on_action, &b);
	vgi_grab_add_device(b.grab);
	vgi_grab_device_online(b.grab, 0, NULL, NULL);
	if (!vgi_grab_is_grabbed(b.grab, 0))
		return 1;

	/* latency: one frame (key press or release + SYN_REPORT) at a time */
	lat = calloc(LAT_FRAMES, sizeof(double));
	memset(frame, 0, sizeof(frame));
	for (unsigned i = 0; i < LAT_FRAMES; i++) {
		uint64_t before = b.delivered;
		ssize_t n;

		frame[0].type = EV_KEY;
		frame[0].code = KEY_A;
		frame[0].value = (int32_t)((i + 1) & 1);	/* press, release, ... */
		frame[1].type = EV_SYN;
		frame[1].code = SYN_REPORT;
		if (write(p[1], frame, sizeof(frame)) != (ssize_t)sizeof(frame))
			return 1;
		t0 = now();
		n = read(p[0], chunk, sizeof(chunk));
		if (n != (ssize_t)sizeof(frame))
			return 1;
		process(&b, chunk, (size_t)n / sizeof(chunk[0]));
		t1 = now();
		lat[i] = (t1 - t0) * 1e6;
		recycle(&b);
		if (b.delivered != before + 2) {
			fprintf(stderr, "frame %u: %llu events delivered, expected 2\n", i,
				(unsigned long long)(b.delivered - before));
			return 1;
		}
	}
	qsort(lat, LAT_FRAMES, sizeof(double), cmp);
	printf("latency read -> used ring, per frame of 2 events (%u frames): p50 %.2f us, p99 %.2f us, max %.2f us "
	       "(target p99 < 50 us)\n",
	       LAT_FRAMES, lat[LAT_FRAMES / 2], lat[LAT_FRAMES * 99 / 100], lat[LAT_FRAMES - 1]);

	/* throughput: the pipe kept full, read in chunks, the guest recycling buffers */
	b.delivered = 0;
	t0 = now();
	while (b.delivered < TPUT_EVENTS) {
		ssize_t n;

		while (sent - b.delivered < 8192) {
			struct input_event w[64];

			for (unsigned i = 0; i < 64; i += 2) {
				w[i] = (struct input_event){ .type = EV_REL, .code = REL_X, .value = 1 };
				w[i + 1] = (struct input_event){ .type = EV_SYN, .code = SYN_REPORT };
			}
			n = write(p[1], w, sizeof(w));
			if (n < 0)
				break;
			sent += (uint64_t)n / sizeof(w[0]);
		}
		n = read(p[0], chunk, sizeof(chunk));
		if (n < 0 && errno != EAGAIN)
			return 1;
		if (n > 0)
			process(&b, chunk, (size_t)n / sizeof(chunk[0]));
		recycle(&b);
	}
	t1 = now();
	{
		struct vgi_virtio_input_stats st;

		vgi_virtio_input_get_stats(b.in, &st);
		printf("throughput pipe read -> used ring, REL_X + SYN frames, guest recycling on the same core: "
		       "%.0f events/s (%llu events in %.3f s, %llu dropped) (target >= 500000)\n",
		       (double)b.delivered / (t1 - t0), (unsigned long long)b.delivered, t1 - t0,
		       (unsigned long long)st.dropped_events);
	}
	free(lat);
	vgi_grab_free(b.grab);
	vgi_virtio_input_free(b.in);
	tg_queue_free(b.q);
	tg_queue_free(sq);
	tg_guest_free(b.g);
	close(p[0]);
	close(p[1]);
	return 0;
}
