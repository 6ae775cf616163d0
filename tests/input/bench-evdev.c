// SPDX-License-Identifier: MIT
/*
 * Input path benchmark over a real evdev device (needs /dev/uinput: run it
 * inside a test guest; exits 77 elsewhere). A uinput keyboard is read by the
 * evdev I/O layer (libevdev, EVIOCGRAB, the grab state machine), forwarded
 * into the virtio-input device, up to the used-ring entry the test guest
 * sees. Latency: from the evdev dispatch that reads a frame (key + SYN) to
 * its used-ring entries. Never fails on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/evdev.h>
#include <vgi/virtio-input.h>

#include "test-guest.h"

#define QNUM 256u
#define LAT_FRAMES 20000u
#define TPUT_FRAMES 100000u

struct bench {
	struct tg_guest *g;
	struct tg_queue *q;
	struct vgi_virtio_input *in;
	struct vgi_virtio_device *dev;
	uint64_t buf[QNUM];
	uint64_t delivered;
};

static void on_event(void *opaque, unsigned dev, const struct vgi_input_event *ev)
{
	struct bench *b = opaque;

	vgi_virtio_input_send(b->in, ev);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return a < c ? -1 : a > c;
}

int main(void)
{
	static const struct vgi_evdev_ops ops = { .event = on_event };
	struct vgi_evdev_config cfg = { .grab = { .start_grabbed = true }, .no_hotplug = true };
	struct bench b = { 0 };
	struct vgi_input_desc desc;
	struct libevdev *ld;
	struct libevdev_uinput *ui;
	struct vgi_evdev *e;
	struct tg_queue *sq;
	double *lat, t0, t1;
	int fd;

	fd = open("/dev/uinput", O_RDWR);
	if (fd < 0) {
		printf("SKIP: no /dev/uinput (%s): run this inside a test guest\n", strerror(errno));
		return 77;
	}
	close(fd);
	ld = libevdev_new();
	libevdev_set_name(ld, "vgi bench keyboard");
	for (unsigned c = KEY_ESC; c <= KEY_MICMUTE; c++)
		libevdev_enable_event_code(ld, EV_KEY, c, NULL);
	libevdev_enable_event_code(ld, EV_REL, REL_X, NULL);
	if (libevdev_uinput_create_from_device(ld, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui) < 0)
		return 1;

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

	e = vgi_evdev_new(&cfg, &ops, &b);
	for (int i = 0; i < 100 && vgi_evdev_add(e, libevdev_uinput_get_devnode(ui)) < 0; i++)
		usleep(20000);
	if (vgi_evdev_count(e) != 1 || !vgi_evdev_is_grabbed(e, 0)) {
		printf("cannot open and grab %s\n", libevdev_uinput_get_devnode(ui));
		return 1;
	}

	lat = calloc(LAT_FRAMES, sizeof(double));
	for (unsigned i = 0; i < LAT_FRAMES; i++) {
		uint64_t before = b.delivered;

		libevdev_uinput_write_event(ui, EV_KEY, KEY_A, (int)((i + 1) & 1));
		libevdev_uinput_write_event(ui, EV_SYN, SYN_REPORT, 0);
		t0 = now();
		while (b.delivered < before + 2) {
			vgi_evdev_dispatch(e);
			recycle(&b);
		}
		t1 = now();
		lat[i] = (t1 - t0) * 1e6;
	}
	qsort(lat, LAT_FRAMES, sizeof(double), cmp);
	printf("evdev (uinput) dispatch -> used ring, per frame of 2 events (%u frames): p50 %.2f us, p99 %.2f us "
	       "(target p99 < 50 us)\n", LAT_FRAMES, lat[LAT_FRAMES / 2], lat[LAT_FRAMES * 99 / 100]);

	b.delivered = 0;
	t0 = now();
	for (unsigned i = 0; i < TPUT_FRAMES; i += 16) {
		/* 16 frames: well within the kernel's per-client buffer (64 events here) */
		for (unsigned k = 0; k < 16; k++) {
			libevdev_uinput_write_event(ui, EV_REL, REL_X, 1);
			libevdev_uinput_write_event(ui, EV_SYN, SYN_REPORT, 0);
		}
		vgi_evdev_dispatch(e);
		recycle(&b);
	}
	t1 = now();
	printf("evdev (uinput) read -> used ring, REL_X + SYN frames, writer and guest on the same core: %.0f events/s "
	       "(%llu events in %.3f s) (target >= 500000)\n",
	       (double)b.delivered / (t1 - t0), (unsigned long long)b.delivered, t1 - t0);
	free(lat);
	vgi_evdev_free(e);
	libevdev_uinput_destroy(ui);
	libevdev_free(ld);
	vgi_virtio_input_free(b.in);
	tg_queue_free(b.q);
	tg_queue_free(sq);
	tg_guest_free(b.g);
	return 0;
}
