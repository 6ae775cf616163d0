// SPDX-License-Identifier: MIT
/*
 * The vhost-user back-end against a test front-end over a socketpair, with a
 * small device behind it: negotiation, memory table, rings, kicks and calls,
 * and a hostile front-end (every bad message must end the connection with a
 * log line, no crash, no fd or memory leak).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/vhost-user.h>
#include <vgi/virtio-input.h>

#include "frontend.h"

/* ---- an echo device: queue 0 answers each chain with its bytes inverted ---- */

struct echo {
	struct vgi_virtio_device dev;
	uint8_t config[8];
	uint64_t acked;
	unsigned memory_changes;
	unsigned resets;
	unsigned hook_calls;
	int hook_fd;
	bool hold;			/* keep the next request instead of answering it */
	struct vgi_vq_elem *held;
	bool answer_on_stop;		/* queue_stop answers the held request (else it stays held) */
	bool unpop_on_stop;		/* queue_stop gives the held request back unused */
	unsigned queue_stops;
};

static uint64_t echo_get_features(struct vgi_virtio_device *dev)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VIRTIO_RING_F_INDIRECT_DESC);
}

static void echo_set_features(struct vgi_virtio_device *dev, uint64_t acked)
{
	((struct echo *)dev)->acked = acked;
}

static void echo_queue_notify(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(dev, index);
	struct echo *echo = (struct echo *)dev;
	struct vgi_vq_elem *e;

	if (echo->hold && !echo->held) {
		echo->held = vgi_virtqueue_pop(vq);
		return;
	}
	while ((e = vgi_virtqueue_pop(vq))) {
		uint8_t buf[256];
		size_t n = vgi_iov_to_buf(e->out_sg, e->out_num, 0, buf, sizeof(buf));

		for (size_t i = 0; i < n; i++)
			buf[i] ^= 0xff;
		n = vgi_iov_from_buf(e->in_sg, e->in_num, 0, buf, n);
		vgi_virtqueue_push(vq, e, (uint32_t)n);
	}
	vgi_virtio_device_notify(dev, index);
}

static void echo_queue_stop(struct vgi_virtio_device *dev, unsigned index)
{
	struct echo *echo = (struct echo *)dev;

	echo->queue_stops++;
	if (index == 0 && echo->answer_on_stop && echo->held) {
		vgi_virtqueue_push(vgi_virtio_device_queue(dev, 0), echo->held, 0);
		echo->held = NULL;
		vgi_virtio_device_notify(dev, 0);
	}
	if (index == 0 && echo->unpop_on_stop && echo->held) {
		vgi_virtqueue_unpop(vgi_virtio_device_queue(dev, 0), echo->held);
		echo->held = NULL;
	}
}

static void echo_read_config(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
	memcpy(buf, ((struct echo *)dev)->config + offset, len);
}

static void echo_write_config(struct vgi_virtio_device *dev, uint32_t offset, const void *buf, uint32_t len)
{
	memcpy(((struct echo *)dev)->config + offset, buf, len);
}

static void echo_reset(struct vgi_virtio_device *dev)
{
	struct echo *echo = (struct echo *)dev;

	echo->resets++;
	vgi_vq_elem_free(echo->held);
	echo->held = NULL;
}

static void echo_memory_changed(struct vgi_virtio_device *dev)
{
	((struct echo *)dev)->memory_changes++;
}

static const struct vgi_virtio_device_ops echo_ops = {
	.get_features = echo_get_features,
	.set_features = echo_set_features,
	.queue_notify = echo_queue_notify,
	.read_config = echo_read_config,
	.write_config = echo_write_config,
	.queue_stop = echo_queue_stop,
	.reset = echo_reset,
	.memory_changed = echo_memory_changed,
};

/* Device-specific message 1000 takes one fd and keeps it. */
static int echo_hook(void *opaque, uint32_t request, const void *payload, uint32_t size, int *fds, unsigned nfds)
{
	struct echo *e = opaque;

	if (request != 1000)
		return -ENOTSUP;
	e->hook_calls++;
	if (nfds != 1)
		return -EINVAL;
	e->hook_fd = fds[0];
	fds[0] = -1;
	return 0;
}

static const struct vgi_vhost_user_ops echo_vu_ops = { .message = echo_hook };

/* ---- captured log lines ---- */

static char last_warning[8192];	/* every warning since the test started */
static unsigned warnings;

static void log_capture(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (level <= VGI_LOG_WARN) {
		size_t l = strlen(last_warning);

		snprintf(last_warning + l, sizeof(last_warning) - l, "%s\n", msg);
		warnings++;
	}
	if (getenv("VGI_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", msg);
}

/* ---- fixture ---- */

struct fixture {
	struct echo echo;
	struct vgi_vhost_user *vu;
	struct fe fe;
	int fds_before;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->fds_before = fe_count_fds();
	assert_int_equal(vgi_virtio_device_init(&f->echo.dev, &echo_ops, 42, 2, sizeof(f->echo.config)), 0);
	f->echo.hook_fd = -1;
	f->vu = vgi_vhost_user_new(&f->echo.dev, &echo_vu_ops, &f->echo);
	assert_non_null(f->vu);
	fe_init(&f->fe, f->vu);
	last_warning[0] = 0;
	warnings = 0;
	vgi_log_set_handler(log_capture, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fe_finish(&f->fe);
	vgi_vhost_user_free(f->vu);
	vgi_virtio_device_finish(&f->echo.dev);
	if (f->echo.hook_fd >= 0)
		close(f->echo.hook_fd);
	vgi_log_set_handler(NULL, NULL);
	assert_int_equal(fe_count_fds(), f->fds_before);	/* no fd leaked */
	free(f);
	return 0;
}

static void negotiate_and_start(struct fixture *f)
{
	fe_negotiate(&f->fe, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	assert_int_equal(fe_setup_queue(&f->fe, 1), 0);
	assert_true(vgi_vhost_user_queue_started(f->vu, 0));
	assert_true(vgi_vhost_user_queue_enabled(f->vu, 0));
}

/* One echo round trip on queue 0 through kick and call eventfds. */
static void roundtrip(struct fixture *f, const char *text)
{
	size_t len = strlen(text);
	uint64_t out = fe_alloc(&f->fe, (uint32_t)len), in = fe_alloc(&f->fe, 64);
	uint32_t id, used_len;
	unsigned head;
	uint8_t *r;

	memcpy(fe_host(&f->fe, out), text, len);
	head = fe_add_chain(&f->fe, 0, out, (uint32_t)len, in, 64, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_true(fe_called(&f->fe, 0));
	assert_true(fe_get_used(&f->fe, 0, &id, &used_len));
	assert_int_equal(id, head);
	assert_int_equal(used_len, len);
	r = fe_host(&f->fe, in);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(r[i], (uint8_t)~text[i]);
}

/* The connection must be over, with a warning naming the problem. */
static void assert_ended(struct fixture *f, int ret, const char *needle)
{
	uint32_t b;

	assert_int_equal(ret, -EPROTO);
	assert_false(vgi_vhost_user_connected(f->vu));
	assert_non_null(strstr(last_warning, needle));
	assert_int_equal(vgi_vhost_user_num_regions(f->vu), 0);
	/* the back-end closed its end */
	assert_int_equal(recv(f->fe.sock, &b, sizeof(b), MSG_DONTWAIT), 0);
}

/* How many mappings of memfd "name" this process has. */
static int count_maps(const char *name)
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512], needle[128];
	int n = 0;

	assert_non_null(fp);
	snprintf(needle, sizeof(needle), "/memfd:%s ", name);
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* ---- tests ---- */

static void test_negotiation(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = fe_get_u64(&f->fe, VGI_VHOST_USER_GET_FEATURES);
	uint64_t pf = fe_get_u64(&f->fe, VGI_VHOST_USER_GET_PROTOCOL_FEATURES);
	uint64_t want = (1ull << VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG) |
			(1ull << VGI_VHOST_USER_PROTOCOL_F_STATUS) | (1ull << VGI_VHOST_USER_PROTOCOL_F_MQ) |
			(1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	uint64_t ack = ~0ull, v;
	uint8_t cfg[12 + 8];
	uint32_t hdr[3];

	assert_true(feat & (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_int_equal(pf & want, want);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_PROTOCOL_FEATURES, &want, 8, NULL, 0), 0);
	assert_int_equal(fe_get_u64(&f->fe, VGI_VHOST_USER_GET_QUEUE_NUM), 2);
	assert_int_equal(fe_get_u64(&f->fe, VGI_VHOST_USER_GET_MAX_MEM_SLOTS), VGI_VHOST_USER_MAX_MEM_SLOTS);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_OWNER, NULL, 0, NULL, 0), 0);

	/* REPLY_ACK: SET_FEATURES with need_reply is acknowledged with 0; bit 30 is not the device's */
	v = (1ull << VIRTIO_F_VERSION_1) | (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << 20);
	assert_int_equal(fe_send(&f->fe, VGI_VHOST_USER_SET_FEATURES,
				 VGI_VHOST_USER_VERSION | VGI_VHOST_USER_FLAG_NEED_REPLY, &v, 8, NULL, 0), 0);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_SET_FEATURES, &ack, 8), 8);
	assert_int_equal(ack, 0);
	assert_int_equal(f->echo.acked, 1ull << VIRTIO_F_VERSION_1);

	/* config space round trip */
	memset(f->echo.config, 0, sizeof(f->echo.config));
	hdr[0] = 2;	/* offset */
	hdr[1] = 4;	/* size */
	hdr[2] = 0;
	memcpy(cfg, hdr, 12);
	memcpy(cfg + 12, "abcd", 4);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_CONFIG, cfg, 16, NULL, 0), 0);
	assert_memory_equal(f->echo.config + 2, "abcd", 4);
	hdr[0] = 0;
	hdr[1] = 8;
	memcpy(cfg, hdr, 12);
	memset(cfg + 12, 0, 8);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_GET_CONFIG, cfg, 20, NULL, 0), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_GET_CONFIG, cfg, sizeof(cfg)), 20);
	assert_memory_equal(cfg + 12, "\0\0abcd\0\0", 8);
	/* out of the config space: the protocol's zero-length error answer, connection stays */
	hdr[0] = 4;
	memcpy(cfg, hdr, 12);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_GET_CONFIG, cfg, 20, NULL, 0), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_GET_CONFIG, cfg, sizeof(cfg)), 0);

	/* status */
	v = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK;
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_STATUS, &v, 8, NULL, 0), 0);
	assert_int_equal(fe_get_u64(&f->fe, VGI_VHOST_USER_GET_STATUS), v);
	assert_true(vgi_vhost_user_connected(f->vu));
}

static void test_rings(void **state)
{
	struct fixture *f = *state;
	uint32_t st[2] = { 0, 0 };

	negotiate_and_start(f);
	assert_int_equal(vgi_vhost_user_num_regions(f->vu), 1);
	roundtrip(f, "hello, vhost-user");
	roundtrip(f, "second");

	/* disabled ring: kicks are not processed until it is enabled again */
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_ENABLE, st, 8, NULL, 0), 0);
	{
		uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);
		uint32_t id, len;

		fe_add_chain(&f->fe, 0, out, 4, in, 4, true);
		assert_int_equal(fe_pump(&f->fe), 0);
		assert_false(fe_get_used(&f->fe, 0, &id, &len));
		st[1] = 1;
		assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_ENABLE, st, 8, NULL, 0), 0);
		assert_true(fe_get_used(&f->fe, 0, &id, &len));
		assert_true(fe_called(&f->fe, 0));
	}

	/* GET_VRING_BASE stops the ring and reports where it stopped */
	st[1] = 0;
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_GET_VRING_BASE, st, 8, NULL, 0), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_GET_VRING_BASE, st, 8), 8);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], 3);
	assert_false(vgi_vhost_user_queue_started(f->vu, 0));
	/* restart from there */
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	roundtrip(f, "after restart");

	/* device-specific message with its fd goes to the hook */
	{
		int e = eventfd(0, EFD_CLOEXEC);

		assert_int_equal(fe_call(&f->fe, 1000, NULL, 0, &e, 1), 0);
		close(e);
		assert_int_equal(f->echo.hook_calls, 1);
		assert_true(f->echo.hook_fd >= 0);
	}

	/* RESET_DEVICE stops the rings and resets the device */
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	assert_false(vgi_vhost_user_queue_started(f->vu, 0));
	assert_int_equal(f->echo.resets, 1);
	assert_true(vgi_vhost_user_connected(f->vu));
	assert_int_equal(warnings, 0);
}

/* Replace the memory table while the rings run: a new memfd with the same contents. */
static void test_mem_table_replace(void **state)
{
	struct fixture *f = *state;
	int memfd2 = memfd_create("vu-test-ram2", MFD_CLOEXEC);
	uint8_t *ram2;
	unsigned changes;

	negotiate_and_start(f);
	roundtrip(f, "before");
	changes = f->echo.memory_changes;

	assert_int_equal(count_maps("vu-test-ram"), 2);	/* front-end's and back-end's */
	/* same table again (QEMU resends it): mappings are kept */
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(count_maps("vu-test-ram"), 2);
	assert_int_equal(f->echo.memory_changes, changes + 1);
	roundtrip(f, "same table");

	assert_true(memfd2 >= 0);
	assert_int_equal(ftruncate(memfd2, FE_RAM_SIZE), 0);
	ram2 = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd2, 0);
	assert_true(ram2 != MAP_FAILED);
	memcpy(ram2, f->fe.ram, FE_RAM_SIZE);
	/* the front-end now uses the new memory */
	munmap(f->fe.ram, FE_RAM_SIZE);
	close(f->fe.memfd);
	f->fe.ram = ram2;
	f->fe.memfd = memfd2;
	assert_int_equal(count_maps("vu-test-ram"), 1);	/* the back-end's, still in use */
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(count_maps("vu-test-ram"), 0);	/* old table unmapped after the switch */
	assert_int_equal(count_maps("vu-test-ram2"), 2);
	assert_true(vgi_vhost_user_queue_started(f->vu, 0));
	assert_true(f->echo.memory_changes > changes + 1);
	roundtrip(f, "after the new table");

	/* ADD_MEM_REG / REM_MEM_REG: a second region, then removed again */
	{
		int fd3 = memfd_create("vu-test-ram3", MFD_CLOEXEC);
		uint64_t r[5] = { 0, 0x80000000ull, 0x10000, 0x7f3000000000ull, 0 };

		assert_int_equal(ftruncate(fd3, 0x10000), 0);
		assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_ADD_MEM_REG, r, sizeof(r), &fd3, 1), 0);
		close(fd3);
		assert_int_equal(vgi_vhost_user_num_regions(f->vu), 2);
		assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_REM_MEM_REG, r, sizeof(r), NULL, 0), 0);
		assert_int_equal(vgi_vhost_user_num_regions(f->vu), 1);
		roundtrip(f, "after add/remove");
	}
	assert_int_equal(warnings, 0);

	/* a new table without the rings' memory: the started ring cannot be kept */
	{
		int fd4 = memfd_create("vu-test-ram4", MFD_CLOEXEC);
		uint8_t p[40] = { 0 };
		uint64_t r[4] = { 0x100000000ull, 0x10000, 0x7f4000000000ull, 0 };
		uint32_t n = 1;

		assert_int_equal(ftruncate(fd4, 0x10000), 0);
		memcpy(p, &n, 4);
		memcpy(p + 8, r, 32);
		assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_MEM_TABLE, p, 40, &fd4, 1), "ring outside");
		close(fd4);
	}
}

/* A request the device still holds keeps its old mapping alive until it is returned. */
static void test_mem_table_replace_inflight(void **state)
{
	struct fixture *f = *state;
	int memfd2 = memfd_create("vu-test-ram2", MFD_CLOEXEC);
	uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);
	uint8_t *ram2;
	uint32_t id, len;

	negotiate_and_start(f);
	f->echo.hold = true;
	memcpy(fe_host(&f->fe, out), "held", 4);
	fe_add_chain(&f->fe, 0, out, 4, in, 4, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_non_null(f->echo.held);

	assert_true(memfd2 >= 0);
	assert_int_equal(ftruncate(memfd2, FE_RAM_SIZE), 0);
	ram2 = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd2, 0);
	assert_true(ram2 != MAP_FAILED);
	memcpy(ram2, f->fe.ram, FE_RAM_SIZE);
	munmap(f->fe.ram, FE_RAM_SIZE);
	close(f->fe.memfd);
	f->fe.ram = ram2;
	f->fe.memfd = memfd2;
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	/* the held request's buffers still point into the old mapping: it stays */
	assert_int_equal(count_maps("vu-test-ram"), 1);
	assert_int_equal(((uint8_t *)f->echo.held->out_sg[0].iov_base)[0], 'h');
	vgi_virtqueue_push(vgi_virtio_device_queue(&f->echo.dev, 0), f->echo.held, 0);
	f->echo.held = NULL;
	f->echo.hold = false;
	assert_true(fe_get_used(&f->fe, 0, &id, &len));	/* used ring: the new mapping */
	roundtrip(f, "next");
	assert_int_equal(count_maps("vu-test-ram"), 0);	/* nothing held: unmapped */
	assert_int_equal(warnings, 0);
}

/* A new memfd with the same contents becomes guest RAM (as an x86 reset or a hotplug remaps it). */
static void swap_ram_fe(struct fe *fe)
{
	int memfd2 = memfd_create("vu-test-ram2", MFD_CLOEXEC);
	uint8_t *ram2;

	assert_true(memfd2 >= 0);
	assert_int_equal(ftruncate(memfd2, FE_RAM_SIZE), 0);
	ram2 = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd2, 0);
	assert_true(ram2 != MAP_FAILED);
	memcpy(ram2, fe->ram, FE_RAM_SIZE);
	munmap(fe->ram, FE_RAM_SIZE);
	close(fe->memfd);
	fe->ram = ram2;
	fe->memfd = memfd2;
}

static void swap_ram(struct fixture *f)
{
	swap_ram_fe(&f->fe);
}

static uint32_t get_vring_base(struct fixture *f, unsigned index)
{
	uint32_t state[2] = { index, 0 };

	assert_int_equal(fe_send(&f->fe, VGI_VHOST_USER_GET_VRING_BASE, VGI_VHOST_USER_VERSION, state, 8, NULL, 0),
			 0);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_GET_VRING_BASE, state, sizeof(state)), 8);
	assert_int_equal(state[0], index);
	return state[1];
}

/*
 * VM stop (GET_VRING_BASE) while the device holds a request, then a memory
 * table that differs: the held request's buffers stay mapped until the
 * device lets go of it, and its late answer does not touch the stopped ring.
 */
static void test_stop_held_then_new_table(void **state)
{
	struct fixture *f = *state;
	uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);
	uint16_t used_idx;

	negotiate_and_start(f);
	f->echo.hold = true;
	memcpy(fe_host(&f->fe, out), "held", 4);
	fe_add_chain(&f->fe, 0, out, 4, in, 4, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_non_null(f->echo.held);
	assert_int_equal(get_vring_base(f, 0), 1);	/* the held chain was taken */
	assert_int_equal(vgi_virtqueue_inflight(vgi_virtio_device_queue(&f->echo.dev, 0)), 1);

	swap_ram(f);
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(count_maps("vu-test-ram"), 1);	/* still mapped: the request points there */
	assert_int_equal(((uint8_t *)f->echo.held->out_sg[0].iov_base)[0], 'h');
	used_idx = ((volatile uint16_t *)fe_host(&f->fe, f->fe.q[0].used))[1];
	vgi_virtqueue_push(vgi_virtio_device_queue(&f->echo.dev, 0), f->echo.held, 4);
	f->echo.held = NULL;
	f->echo.hold = false;
	/* the ring belongs to the front-end since the stop: nothing written */
	assert_int_equal(((volatile uint16_t *)fe_host(&f->fe, f->fe.q[0].used))[1], used_idx);
	assert_int_equal(vgi_virtqueue_inflight(vgi_virtio_device_queue(&f->echo.dev, 0)), 0);

	/* the front-end resumes the ring where the stop left it */
	f->fe.q[0].avail_idx = 1;
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	roundtrip(f, "after the stop");
	assert_int_equal(count_maps("vu-test-ram"), 0);	/* let go: unmapped at the next dispatch */
}

/* The device is told before the ring stops and answers what it holds: GET_VRING_BASE's reply comes after. */
static void test_stop_completes_held(void **state)
{
	struct fixture *f = *state;
	uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);
	uint32_t id, len;
	unsigned head;

	negotiate_and_start(f);
	f->echo.hold = true;
	f->echo.answer_on_stop = true;
	head = fe_add_chain(&f->fe, 0, out, 4, in, 4, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_non_null(f->echo.held);
	assert_int_equal(get_vring_base(f, 0), 1);
	assert_null(f->echo.held);
	assert_true(fe_get_used(&f->fe, 0, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(vgi_virtqueue_inflight(vgi_virtio_device_queue(&f->echo.dev, 0)), 0);
	swap_ram(f);
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(count_maps("vu-test-ram"), 0);	/* nothing held: the old mapping went at once */
}

/*
 * The device gives a held request back at the stop (virtio-input's unused
 * event buffers): GET_VRING_BASE answers the base after that, so the
 * request is taken again when the ring resumes, not lost.
 * Found by fuzz-vhost-user-input (the base was read before the device was told).
 */
static void test_stop_gives_back_held(void **state)
{
	struct fixture *f = *state;
	uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);
	uint32_t id, len;
	unsigned head;

	negotiate_and_start(f);
	f->echo.hold = true;
	f->echo.unpop_on_stop = true;
	memcpy(fe_host(&f->fe, out), "back", 4);
	head = fe_add_chain(&f->fe, 0, out, 4, in, 4, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_non_null(f->echo.held);
	assert_int_equal(get_vring_base(f, 0), 0);	/* given back: not taken */
	assert_null(f->echo.held);
	assert_int_equal(vgi_virtqueue_inflight(vgi_virtio_device_queue(&f->echo.dev, 0)), 0);
	assert_false(fe_get_used(&f->fe, 0, &id, &len));

	/* VM continue at that base: the request is taken again and answered once */
	f->echo.hold = false;
	f->fe.q[0].avail_idx = 0;	/* fe_setup_queue sends it as the base */
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	f->fe.q[0].avail_idx = 1;
	assert_true(fe_get_used(&f->fe, 0, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 4);
	assert_false(fe_get_used(&f->fe, 0, &id, &len));
	assert_int_equal(get_vring_base(f, 0), 1);
}

/*
 * SET_STATUS 0 stops the rings; a GET_VRING_BASE after it answers where
 * they stopped, not the base they were started at (a front-end resuming
 * there would have every request since then run twice).
 * Found by fuzz-vhost-user's lifecycle mode.
 */
static void test_status_zero_then_get_base(void **state)
{
	struct fixture *f = *state;
	uint64_t zero = 0;

	negotiate_and_start(f);
	roundtrip(f, "one");
	roundtrip(f, "two");
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_STATUS, &zero, 8, NULL, 0), 0);
	assert_false(vgi_vhost_user_queue_started(f->vu, 0));
	assert_int_equal(get_vring_base(f, 0), 2);
	assert_int_equal(get_vring_base(f, 1), 0);
}

/* SET_STATUS 0, then the rings start afresh at 0: the device is reset and its features kept. */
static void test_status_zero_fresh_start_resets(void **state)
{
	struct fixture *f = *state;
	uint64_t zero = 0;

	negotiate_and_start(f);
	roundtrip(f, "before");
	assert_int_equal(f->echo.resets, 0);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_STATUS, &zero, 8, NULL, 0), 0);
	assert_false(vgi_vhost_user_queue_started(f->vu, 0));
	assert_int_equal(f->echo.resets, 0);	/* not yet: this may be a VM stop */
	/* a rebooted driver: new rings from index 0 */
	memset(fe_host(&f->fe, f->fe.q[0].avail), 0, 6 + 2 * FE_QSIZE);
	memset(fe_host(&f->fe, f->fe.q[0].used), 0, 6 + 8 * FE_QSIZE);
	f->fe.q[0].avail_idx = f->fe.q[0].last_used = 0;
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	assert_int_equal(f->echo.resets, 1);
	assert_true(f->echo.acked & (1ull << VIRTIO_RING_F_EVENT_IDX));	/* SET_FEATURES survives */
	assert_true(f->echo.dev.acked_features & (1ull << VIRTIO_RING_F_EVENT_IDX));
	roundtrip(f, "after the reset");
	assert_int_equal(f->echo.resets, 1);
}

/* SET_STATUS 0, then the rings resume where they were (QEMU's VM stop and cont): state kept. */
static void test_status_zero_resume_keeps_state(void **state)
{
	struct fixture *f = *state;
	uint64_t zero = 0;

	negotiate_and_start(f);
	roundtrip(f, "before");
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_STATUS, &zero, 8, NULL, 0), 0);
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);	/* base 1: resumed */
	assert_int_equal(f->echo.resets, 0);
	roundtrip(f, "after cont");
	assert_int_equal(f->echo.resets, 0);
}

/* The front-end shrinks guest RAM's file under the back-end: no SIGBUS death, a named error, next front-end served. */
static void test_truncated_memory_file(void **state)
{
	struct fixture *f = *state;
	uint64_t out = fe_alloc(&f->fe, 4), in = fe_alloc(&f->fe, 4);

	negotiate_and_start(f);
	roundtrip(f, "before");
	fe_add_chain(&f->fe, 0, out, 4, in, 4, false);
	assert_int_equal(ftruncate(f->fe.memfd, 0), 0);
	assert_int_equal(eventfd_write(f->fe.q[0].kick, 1), 0);
	assert_ended(f, fe_pump(&f->fe), "SIGBUS");
	assert_int_equal(count_maps("vu-test-ram"), 1);	/* only the front-end's own mapping is left */
	fe_finish(&f->fe);
	fe_init(&f->fe, f->vu);
	negotiate_and_start(f);
	roundtrip(f, "next front-end");
}

/*
 * virtio-input holding an event buffer it could not fill yet, while the
 * front-end replaces the memory table again and again (hotplug, resets):
 * the buffer goes back each time, so the old mappings go and the connection
 * lives on (it used to end after 64 tables), and the event arrives.
 */
static void test_input_stash_over_many_tables(void **state)
{
	(void)state;
	struct vgi_input_desc d;
	struct vgi_virtio_input *in;
	struct vgi_vhost_user *vu;
	struct vgi_input_event ev[2] = { { EV_KEY, KEY_Z, 1 }, { EV_SYN, SYN_REPORT, 0 } };
	uint64_t buf[2];
	uint32_t id, len;
	int maps;

	vgi_input_desc_keyboard(&d);
	in = vgi_virtio_input_new(&d);
	assert_non_null(in);
	vu = vgi_vhost_user_new(vgi_virtio_input_device(in), NULL, NULL);
	struct fe fe;

	fe_init(&fe, vu);
	fe_negotiate(&fe, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	assert_int_equal(fe_set_mem_table(&fe), 0);
	assert_int_equal(fe_setup_queue(&fe, 0), 0);
	assert_int_equal(fe_setup_queue(&fe, 1), 0);
	for (unsigned i = 0; i < 2; i++)
		buf[i] = fe_alloc(&fe, 8);
	fe_add_chain(&fe, 0, buf[0], 0, buf[0], 8, true);
	assert_int_equal(fe_pump(&fe), 0);
	assert_int_equal(vgi_virtio_input_send(in, &ev[0]), 0);
	assert_int_equal(vgi_virtio_input_send(in, &ev[1]), 0);	/* one buffer for a frame of two: stashed */
	maps = count_maps("vu-test-ram") + count_maps("vu-test-ram2");
	for (unsigned i = 0; i < 100; i++) {
		swap_ram_fe(&fe);
		assert_int_equal(fe_set_mem_table(&fe), 0);
		assert_true(vgi_vhost_user_connected(vu));
		/* the old table's mapping went at once: no more mappings than before */
		assert_int_equal(count_maps("vu-test-ram") + count_maps("vu-test-ram2"), maps);
	}
	fe_add_chain(&fe, 0, buf[1], 0, buf[1], 8, true);
	assert_int_equal(fe_pump(&fe), 0);
	assert_true(fe_get_used(&fe, 0, &id, &len));
	assert_int_equal(len, 8);
	assert_int_equal(((uint16_t *)fe_host(&fe, buf[0]))[1], KEY_Z);
	assert_true(fe_get_used(&fe, 0, &id, &len));
	assert_int_equal(((uint16_t *)fe_host(&fe, buf[1]))[0], EV_SYN);
	assert_int_equal(warnings, 0);
	fe_finish(&fe);
	vgi_vhost_user_free(vu);
	vgi_virtio_input_free(in);
}

static void test_truncated_header(void **state)
{
	struct fixture *f = *state;
	uint32_t partial[2] = { VGI_VHOST_USER_GET_FEATURES, VGI_VHOST_USER_VERSION };

	assert_int_equal(send(f->fe.sock, partial, 5, 0), 5);
	shutdown(f->fe.sock, SHUT_WR);
	assert_ended(f, fe_pump(&f->fe), "truncated message header");
}

static void test_payload_cap(void **state)
{
	struct fixture *f = *state;
	uint32_t hdr[3] = { VGI_VHOST_USER_SET_FEATURES, VGI_VHOST_USER_VERSION, 0x40000000 };

	assert_int_equal(send(f->fe.sock, hdr, 12, 0), 12);
	assert_ended(f, fe_pump(&f->fe), "exceeds the cap");
}

static void test_closed_mid_message(void **state)
{
	struct fixture *f = *state;
	uint32_t hdr[3] = { VGI_VHOST_USER_SET_VRING_ADDR, VGI_VHOST_USER_VERSION, 40 };
	uint8_t part[10] = { 0 };

	assert_int_equal(send(f->fe.sock, hdr, 12, 0), 12);
	assert_int_equal(send(f->fe.sock, part, sizeof(part), 0), (ssize_t)sizeof(part));
	shutdown(f->fe.sock, SHUT_WR);
	assert_ended(f, fe_pump(&f->fe), "mid-message");
}

static void test_bad_flags(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(fe_send(&f->fe, VGI_VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0), 0);
	assert_ended(f, fe_pump(&f->fe), "bad header flags");
}

static void test_wrong_fd_counts(void **state)
{
	struct fixture *f = *state;
	int e = eventfd(0, EFD_CLOEXEC);

	/* SET_OWNER takes no fd */
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_OWNER, NULL, 0, &e, 1), "expected none");
	close(e);
}

static void test_wrong_fd_counts_mem_table(void **state)
{
	struct fixture *f = *state;
	uint8_t p[40] = { 0 };
	uint64_t r[4] = { FE_RAM_GPA, FE_RAM_SIZE, FE_RAM_UADDR, 0 };
	uint32_t n = 1;
	int fds[2] = { f->fe.memfd, f->fe.memfd };

	fe_negotiate(&f->fe, 1ull << VIRTIO_F_VERSION_1);
	memcpy(p, &n, 4);
	memcpy(p + 8, r, 32);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_MEM_TABLE, p, 40, fds, 2), "1 regions but 2 fds");
}

static void test_wrong_fd_counts_call(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0;	/* fd expected (no-fd flag clear) but none sent */

	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_CALL, &v, 8, NULL, 0), "0 fds");
}

static void test_too_many_fds(void **state)
{
	struct fixture *f = *state;
	int fds[10];

	for (int i = 0; i < 10; i++)
		fds[i] = f->fe.memfd;
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_OWNER, NULL, 0, fds, 10), "more than 8 fds");
}

static void test_vring_before_mem_table(void **state)
{
	struct fixture *f = *state;
	uint32_t st[2] = { 0, 16 };

	fe_negotiate(&f->fe, 1ull << VIRTIO_F_VERSION_1);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_NUM, st, 8, NULL, 0), "before any memory table");
}

static void test_kick_before_addr(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0;

	fe_negotiate(&f->fe, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_KICK, &v, 8, &f->fe.q[0].kick, 1),
		     "not configured");
}

static void test_queue_index(void **state)
{
	struct fixture *f = *state;
	uint32_t st[2] = { 2, 16 };

	fe_negotiate(&f->fe, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_NUM, st, 8, NULL, 0), "queue index 2 out of range");
}

static void test_queue_index_kick(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 200;

	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_CALL, &v, 8, &f->fe.q[0].call, 1),
		     "queue index 200 out of range");
}

static void test_ring_outside_table(void **state)
{
	struct fixture *f = *state;
	uint32_t st[2] = { 0, 16 };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { 0, 0, FE_RAM_UADDR + FE_RAM_SIZE - 64, FE_RAM_UADDR + 0x2000, FE_RAM_UADDR + 0x3000, 0 };

	fe_negotiate(&f->fe, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_NUM, st, 8, NULL, 0), 0);
	/* the descriptor table (256 bytes) runs past the end of RAM */
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0),
		     "ring outside the memory table");
}

static void test_region_larger_than_file(void **state)
{
	struct fixture *f = *state;
	uint8_t p[40] = { 0 };
	uint64_t r[4] = { FE_RAM_GPA, 2 * FE_RAM_SIZE, FE_RAM_UADDR, 0 };
	uint32_t n = 1;

	memcpy(p, &n, 4);
	memcpy(p + 8, r, 32);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_MEM_TABLE, p, 40, &f->fe.memfd, 1), "larger than its file");
}

static void test_kick_not_eventfd(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0;
	int pfd[2];

	negotiate_and_start(f);
	assert_int_equal(pipe(pfd), 0);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_SET_VRING_KICK, &v, 8, &pfd[0], 1), "not an eventfd");
	close(pfd[0]);
	close(pfd[1]);
}

static void test_unknown_request(void **state)
{
	struct fixture *f = *state;

	assert_ended(f, fe_call(&f->fe, 777, NULL, 0, NULL, 0), "unsupported request 777");
}

static void test_bad_config_size(void **state)
{
	struct fixture *f = *state;
	uint32_t hdr[3] = { 0, 1000, 0 };
	uint64_t pf = 1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG;

	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 0);
	assert_ended(f, fe_call(&f->fe, VGI_VHOST_USER_GET_CONFIG, hdr, 12, NULL, 0), "config size 1000");
}

/* After a bad message the same object serves the next front-end (listening mode does this). */
static void test_next_connection(void **state)
{
	struct fixture *f = *state;

	negotiate_and_start(f);
	roundtrip(f, "first front-end");
	assert_ended(f, fe_call(&f->fe, 777, NULL, 0, NULL, 0), "unsupported request");
	assert_int_equal(f->echo.resets, 1);
	fe_finish(&f->fe);
	fe_init(&f->fe, f->vu);
	negotiate_and_start(f);
	roundtrip(f, "second front-end");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_replace_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_held_then_new_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_completes_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_gives_back_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_zero_then_get_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_zero_fresh_start_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_zero_resume_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_memory_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_stash_over_many_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_mid_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_fd_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_fd_counts_mem_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_fd_counts_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vring_before_mem_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_before_addr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_index_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_outside_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_larger_than_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_not_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_connection, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
