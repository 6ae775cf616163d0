// SPDX-License-Identifier: MIT
/*
 * The 3D device end to end in-process: the virtio-gpu core with the virgl
 * renderer, driven through real split rings by the test guest, as the
 * Linux driver and Mesa's virgl winsys drive it. Fenced commands are held
 * until virglrenderer's fence thread signals the poll fd; pixel sinks get
 * read-back pixels of only the flushed area.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>

#include "test-guest.h"
#include "virgl-cmds.h"

#define W 64
#define H 64

struct sink {
	unsigned scanouts, updates;
	struct vgi_scanout last_scanout;
	struct vgi_rect last_damage;
	uint32_t px[H][W];	/* what the sink shows */
};

static void sink_scanout(void *s, uint32_t id, const struct vgi_scanout *so)
{
	struct sink *k = s;
	k->scanouts++;
	k->last_scanout = *so;
}

static void sink_update(void *s, uint32_t id, const struct vgi_rect *d, const struct vgi_image *img)
{
	struct sink *k = s;
	k->updates++;
	k->last_damage = *d;
	assert_true(d->x + d->width <= img->width && d->y + d->height <= img->height && img->width <= W);
	for (uint32_t y = d->y; y < d->y + d->height; y++)
		memcpy(&k->px[y][d->x], (const uint8_t *)img->data + (size_t)y * img->stride + d->x * 4,
		       d->width * 4);
}

static const struct vgi_display_ops sink_ops = {
	.scanout = sink_scanout,
	.update = sink_update,
};

struct fx {
	struct tg_guest *g;
	struct vgi_gpu *gpu;
	struct vgi_virtio_device *dev;
	struct tg_queue *ctrl, *cursor;
	struct sink sink;
	uint64_t features;
	uint32_t used_len;
	_Alignas(8) uint8_t resp[4096];
	uint64_t backing_pages[W * H * 4 / TG_PAGE_SIZE];
};

#define REGION_SIZE (1u << 20)

static int setup_cfg(void **state, bool blob)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vgi_gpu_config cfg;
	vgi_gpu_config_init(&cfg);
	cfg.virgl = true;
	cfg.blob = blob;
	cfg.hostmem_region_size = blob ? REGION_SIZE : 0;
	cfg.max_hostmem = 8u << 20;
	f->gpu = vgi_gpu_new(&cfg);
	if (!f->gpu) {
		free(f);
		return -1;
	}
	f->g = tg_guest_new(32u << 20);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, &sink_ops, &f->sink), 0);
	f->dev = vgi_gpu_virtio(f->gpu);
	assert_int_equal(vgi_virtio_device_set_memory(f->dev, f->g->mem), 0);
	uint64_t known = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			 (1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_EDID) |
			 (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) | (1ull << VIRTIO_GPU_F_CONTEXT_INIT);
	f->features = vgi_virtio_device_get_features(f->dev) & known;
	vgi_virtio_device_set_features(f->dev, f->features);
	f->ctrl = tg_queue_new(f->g, 64);
	f->cursor = tg_queue_new(f->g, 64);
	assert_int_equal(tg_queue_attach(f->ctrl, f->dev, 0), 0);
	assert_int_equal(tg_queue_attach(f->cursor, f->dev, 1), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_cfg(state, false);
}

static int setup_blob(void **state)
{
	return setup_cfg(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vgi_gpu_free(f->gpu);
	tg_queue_free(f->ctrl);
	tg_queue_free(f->cursor);
	tg_guest_free(f->g);
	free(f);
	return 0;
}

/* Queue one command (cmd, optional data, response buffer); returns the head. */
static int post(struct fx *f, const void *cmd, size_t len, const void *data, size_t dlen, size_t resp_len,
		uint64_t *resp_gpa)
{
	struct tg_buf b[3];
	unsigned n = 0;
	b[n++] = (struct tg_buf){ tg_alloc_buf(f->g, cmd, len), (uint32_t)len, false };
	if (dlen)
		b[n++] = (struct tg_buf){ tg_alloc_buf(f->g, data, dlen), (uint32_t)dlen, false };
	*resp_gpa = tg_alloc_buf(f->g, NULL, resp_len);
	memset(tg_host(f->g, *resp_gpa), 0xee, resp_len);
	b[n++] = (struct tg_buf){ *resp_gpa, (uint32_t)resp_len, true };
	int h = tg_queue_add(f->ctrl, b, n, false);
	assert_true(h >= 0);
	tg_queue_publish(f->ctrl);
	vgi_virtio_device_kick(f->dev, 0);
	return h;
}

/* Wait for the used element: the fence thread's fd, then dispatch. No sleeping loop. */
static uint32_t wait_used(struct fx *f, int head, uint64_t resp_gpa, size_t resp_len)
{
	uint32_t h, len;
	for (int i = 0; i < 50; i++) {
		if (tg_queue_get_used(f->ctrl, &h, &len)) {
			assert_int_equal(h, head);
			f->used_len = len;
			memcpy(f->resp, tg_host(f->g, resp_gpa), resp_len < sizeof(f->resp) ? resp_len : sizeof(f->resp));
			return len >= sizeof(struct virtio_gpu_ctrl_hdr) ? ((struct virtio_gpu_ctrl_hdr *)f->resp)->type : 0;
		}
		struct pollfd p = { .fd = vgi_gpu_get_fd(f->gpu), .events = POLLIN };
		assert_true(p.fd >= 0);
		if (poll(&p, 1, 200) > 0)
			vgi_gpu_dispatch(f->gpu);
	}
	fail_msg("command never completed");
	return 0;
}

/* Pixel sinks get at most a frame per refresh (60 Hz): wait on the device's fd for the update. */
static void wait_updates(struct fx *f, unsigned want)
{
	for (int i = 0; i < 50 && f->sink.updates < want; i++) {
		struct pollfd p = { .fd = vgi_gpu_get_fd(f->gpu), .events = POLLIN };
		if (poll(&p, 1, 100) > 0)
			vgi_gpu_dispatch(f->gpu);
	}
	assert_int_equal(f->sink.updates, want);
}

static uint32_t cmd(struct fx *f, void *c, size_t len, const void *data, size_t dlen, size_t resp_len)
{
	uint64_t r;
	int h = post(f, c, len, data, dlen, resp_len, &r);
	return wait_used(f, h, r, resp_len);
}

static uint32_t nodata(struct fx *f, void *c, size_t len)
{
	return cmd(f, c, len, NULL, 0, sizeof(struct virtio_gpu_ctrl_hdr));
}

static void create_rt(struct fx *f, uint32_t id, uint32_t ctx)
{
	struct virtio_gpu_resource_create_3d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, .resource_id = id, .target = 2,
		.format = VGL_FMT_B8G8R8X8, .bind = VGL_BIND_RENDER_TARGET | VGL_BIND_SAMPLER_VIEW | VGL_BIND_SCANOUT,
		.width = W, .height = H, .depth = 1, .array_size = 1,
	};
	assert_int_equal(nodata(f, &c, sizeof(c)), VIRTIO_GPU_RESP_OK_NODATA);
	/* scattered pages, one entry each, as the kernel's sg table */
	struct virtio_gpu_mem_entry ents[W * H * 4 / TG_PAGE_SIZE];
	for (unsigned i = 0; i < W * H * 4 / TG_PAGE_SIZE; i++) {
		f->backing_pages[i] = tg_alloc_page(f->g);
		ents[i] = (struct virtio_gpu_mem_entry){ .addr = f->backing_pages[i], .length = TG_PAGE_SIZE };
	}
	struct virtio_gpu_resource_attach_backing a = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, .resource_id = id,
		.nr_entries = W * H * 4 / TG_PAGE_SIZE,
	};
	assert_int_equal(cmd(f, &a, sizeof(a), ents, sizeof(ents), 24), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_ctx_resource ca = {
		.hdr = { .type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = ctx }, .resource_id = id,
	};
	assert_int_equal(nodata(f, &ca, sizeof(ca)), VIRTIO_GPU_RESP_OK_NODATA);
}

static uint32_t backing_px(struct fx *f, uint32_t x, uint32_t y)
{
	uint64_t off = ((uint64_t)y * W + x) * 4;
	uint32_t v;
	memcpy(&v, (uint8_t *)tg_host(f->g, f->backing_pages[off / TG_PAGE_SIZE]) + off % TG_PAGE_SIZE, 4);
	return v;
}

/* SUBMIT_3D header + stream in one buffer, as the kernel sends it. */
static uint32_t submit(struct fx *f, uint32_t ctx, const uint32_t *cs, uint32_t ndw, uint32_t flags,
		       uint64_t fence, uint8_t ring, bool wait, int *head, uint64_t *rgpa)
{
	size_t len = sizeof(struct virtio_gpu_cmd_submit) + ndw * 4;
	uint8_t *buf = calloc(1, len);
	struct virtio_gpu_cmd_submit *s = (void *)buf;
	s->hdr = (struct virtio_gpu_ctrl_hdr){ .type = VIRTIO_GPU_CMD_SUBMIT_3D, .flags = flags, .fence_id = fence,
					       .ctx_id = ctx, .ring_idx = ring };
	s->size = ndw * 4;
	memcpy(buf + sizeof(*s), cs, ndw * 4);
	uint64_t r;
	int h = post(f, buf, len, NULL, 0, 24, &r);
	free(buf);
	if (!wait) {
		*head = h;
		*rgpa = r;
		return 0;
	}
	return wait_used(f, h, r, 24);
}

/*
 * Fence ids that go backwards on one timeline (100, then 5, repeats):
 * the guest's ids are only echoed; a ring retires in the order its
 * commands came, so every held command is answered, with its own id.
 * Waits on the device's fd (deadline: 50 quiet polls of 200 ms).
 */
static void test_fence_ids_backwards(void **state)
{
	struct fx *f = *state;
	static const uint64_t ids[] = { 100, 5, 100, 3, 1000, 2, 0, 7 };
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	int head[2 * N];
	uint64_t rgpa[2 * N];
	bool done[2 * N] = { false };
	unsigned got = 0;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1 }, .nlen = 1 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	/* per-context ring 0 (CONTEXT_INIT), then the global timeline */
	for (unsigned i = 0; i < 2 * N; i++) {
		uint32_t flags = VIRTIO_GPU_FLAG_FENCE | (i < N ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0);
		static const uint32_t none[1];
		submit(f, 1, none, 0, flags, ids[i % N], 0, false, &head[i], &rgpa[i]);
	}
	for (int quiet = 0; got < 2 * N && quiet < 50;) {
		uint32_t h, len;
		if (tg_queue_get_used(f->ctrl, &h, &len)) {
			unsigned i = 0;
			while (i < 2 * N && (head[i] != (int)h || done[i]))
				i++;
			assert_true(i < 2 * N);
			const struct virtio_gpu_ctrl_hdr *rh = tg_host(f->g, rgpa[i]);
			assert_int_equal(len, 24);
			assert_int_equal(rh->type, VIRTIO_GPU_RESP_OK_NODATA);
			assert_int_equal(rh->fence_id, ids[i % N]);
			assert_int_equal(!!(rh->flags & VIRTIO_GPU_FLAG_INFO_RING_IDX), i < N);
			done[i] = true;
			got++;
			quiet = 0;
			continue;
		}
		struct pollfd p = { .fd = vgi_gpu_get_fd(f->gpu), .events = POLLIN };
		if (poll(&p, 1, 200) > 0)
			vgi_gpu_dispatch(f->gpu);
		else
			quiet++;
	}
	if (got < 2 * N) {
		for (unsigned i = 0; i < 2 * N; i++)
			if (!done[i])
				printf("held for good: %s fence %llu\n", i < N ? "ring 0" : "global",
				       (unsigned long long)ids[i % N]);
	}
	assert_int_equal(got, 2 * N);
}

/* A buffer of w bytes (R8_UNORM, as Mesa makes them). */
static uint32_t create_buffer(struct fx *f, uint32_t id, uint32_t w)
{
	struct virtio_gpu_resource_create_3d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, .resource_id = id, .target = 0, .format = 64,
		.width = w, .height = 1, .depth = 1, .array_size = 1,
	};
	return nodata(f, &c, sizeof(c));
}

/*
 * virglrenderer made the resource, then vgi's own bookkeeping for it
 * failed (its state struct is over the host-memory cap by a byte): the
 * resource must go from virglrenderer too. Seen by making the same id
 * again once there is room (virgl's table would still hold it), and by
 * LeakSanitizer in the ASan build.
 */
static void test_create_fails_after_virgl(void **state)
{
	struct fx *f = *state;
	const uint64_t max = 8u << 20;	/* setup_cfg's cap */
	uint64_t used0 = vgi_gpu_hostmem_used(f->gpu);
	/* what a 4-byte buffer costs in all: core entry, 4 bytes, renderer state */
	assert_int_equal(create_buffer(f, 1, 4), VIRTIO_GPU_RESP_OK_NODATA);
	uint64_t d = vgi_gpu_hostmem_used(f->gpu) - used0;
	/* a buffer of x bytes costs x + d - 4: leave d - 1 */
	uint64_t room = max - vgi_gpu_hostmem_used(f->gpu);
	uint64_t x = room - 2 * d + 5;
	assert_int_equal(create_buffer(f, 2, (uint32_t)x), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(max - vgi_gpu_hostmem_used(f->gpu), d - 1);
	uint64_t before = vgi_gpu_hostmem_used(f->gpu);
	assert_int_equal(create_buffer(f, 3, 4), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), before);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 2);
	/* room again: the same id is new to virglrenderer too */
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 2 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(create_buffer(f, 3, 4), VIRTIO_GPU_RESP_OK_NODATA);
	u.resource_id = 3;
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	u.resource_id = 1;
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used0);
}

/* Bytes the device read from guest memory for one command. */
static uint64_t bytes_read(struct fx *f, void *c, size_t len, const void *data, size_t dlen, uint32_t want)
{
	uint64_t before = vgi_gpu_cmd_bytes_read(f->gpu);
	assert_int_equal(cmd(f, c, len, data, dlen, sizeof(struct virtio_gpu_ctrl_hdr)), want);
	return vgi_gpu_cmd_bytes_read(f->gpu) - before;
}

/*
 * With the virgl renderer in front of the core: its peeks at core
 * commands (flush, scanout) and its own commands use the core's one copy;
 * a SUBMIT_3D stream is read once. Counted where the device reads guest
 * memory: any second fetch shows up as more bytes than the command has.
 */
static void test_commands_read_once(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1 }, .nlen = 1 };
	assert_int_equal(bytes_read(f, &cc, sizeof(cc), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(cc));
	create_rt(f, 10, 1);
	struct virtio_gpu_set_scanout ss = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W, H },
					     .resource_id = 10 };
	assert_int_equal(bytes_read(f, &ss, sizeof(ss), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(ss));
	struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 0, 0, W, H },
						.resource_id = 10 };
	assert_int_equal(bytes_read(f, &fl, sizeof(fl), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(fl));
	uint32_t stream[64] = { 0 };
	struct virtio_gpu_cmd_submit sb = { .hdr = { .type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1 },
					    .size = sizeof(stream) };
	assert_int_equal(bytes_read(f, &sb, sizeof(sb), stream, sizeof(stream), VIRTIO_GPU_RESP_OK_NODATA),
			 sizeof(sb) + sizeof(stream));
	struct virtio_gpu_transfer_host_3d t = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
						 .box = { 0, 0, 0, W, H, 1 }, .resource_id = 10 };
	assert_int_equal(bytes_read(f, &t, sizeof(t), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(t));
	ss.resource_id = 0;
	assert_int_equal(bytes_read(f, &ss, sizeof(ss), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(ss));
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 10 };
	assert_int_equal(bytes_read(f, &u, sizeof(u), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(u));
	struct virtio_gpu_ctx_destroy cd = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 1 } };
	assert_int_equal(bytes_read(f, &cd, sizeof(cd), NULL, 0, VIRTIO_GPU_RESP_OK_NODATA), sizeof(cd));
}

static void test_capsets(void **state)
{
	struct fx *f = *state;
	assert_true(f->features & (1ull << VIRTIO_GPU_F_VIRGL));
	assert_true(f->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	assert_false(f->features & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	struct virtio_gpu_config cfg;
	assert_int_equal(vgi_virtio_device_read_config(f->dev, 0, &cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg.num_capsets, 2);

	for (uint32_t i = 0; i < 2; i++) {
		struct virtio_gpu_get_capset_info gi = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO, .capset_index = i };
		assert_int_equal(cmd(f, &gi, sizeof(gi), NULL, 0, sizeof(struct virtio_gpu_resp_capset_info)),
				 VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		struct virtio_gpu_resp_capset_info info;
		memcpy(&info, f->resp, sizeof(info));
		assert_int_equal(info.capset_id, i + 1);
		assert_int_equal(info.padding, 0);	/* CVE-2021-3545 */
		assert_true(info.capset_max_size > 0 && info.capset_max_size < 4096 - 24);
		struct virtio_gpu_get_capset gc = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = info.capset_id,
						    .capset_version = info.capset_max_version };
		size_t rl = sizeof(struct virtio_gpu_resp_capset) + info.capset_max_size;
		assert_int_equal(cmd(f, &gc, sizeof(gc), NULL, 0, rl), VIRTIO_GPU_RESP_OK_CAPSET);
		assert_int_equal(f->used_len, rl);
		uint32_t max_version;
		memcpy(&max_version, f->resp + 24, 4);
		assert_true(max_version >= 1);
		/* CVE-2021-3546: a response buffer smaller than the capset gets nothing past it */
		uint64_t r;
		int h = post(f, &gc, sizeof(gc), NULL, 0, 32, &r);
		wait_used(f, h, r, 32);
		assert_int_equal(f->used_len, 0);
	}
	struct virtio_gpu_get_capset_info bad = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO, .capset_index = 2 };
	assert_int_equal(cmd(f, &bad, sizeof(bad), NULL, 0, sizeof(struct virtio_gpu_resp_capset_info)),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(f->used_len, 24);
	assert_int_equal(f->resp[24], 0xee);	/* nothing beyond the header */
	/* CVE-2016-10028: unknown capset / version never sizes an allocation */
	struct virtio_gpu_get_capset gc = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 77, .capset_version = 0 };
	assert_int_equal(cmd(f, &gc, sizeof(gc), NULL, 0, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	gc.capset_id = 1;
	gc.capset_version = 0xffffffffu;
	assert_int_equal(cmd(f, &gc, sizeof(gc), NULL, 0, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
}

static void test_render_fence_scanout(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1 }, .nlen = 4,
					    .debug_name = "test" };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	create_rt(f, 10, 1);
	uint64_t base = vgi_gpu_hostmem_used(f->gpu);

	uint32_t cs[64];
	uint32_t n = vgl_clear_cmds(cs, 10, 100, 1.0f, 0.0f, 0.0f);	/* red */
	int head;
	uint64_t r;
	/* fenced: held until the fence thread says the GPU is done */
	submit(f, 1, cs, n, VIRTIO_GPU_FLAG_FENCE, 5, 0, false, &head, &r);
	uint32_t uh, ul;
	assert_false(tg_queue_get_used(f->ctrl, &uh, &ul));	/* held, not answered early */
	uint32_t t = wait_used(f, head, r, 24);
	assert_int_equal(t, VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_ctrl_hdr *rh = (void *)f->resp;
	assert_true(rh->flags & VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(rh->fence_id, 5);

	struct virtio_gpu_transfer_host_3d tf = {
		.hdr = { .type = VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, .ctx_id = 1 }, .resource_id = 10,
		.box = { 0, 0, 0, W, H, 1 }, .stride = W * 4,
	};
	assert_int_equal(nodata(f, &tf, sizeof(tf)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(backing_px(f, 0, 0) & 0xffffff, 0xff0000);
	assert_int_equal(backing_px(f, W - 1, H - 1) & 0xffffff, 0xff0000);
	tf.box.w = W + 1;
	assert_int_equal(nodata(f, &tf, sizeof(tf)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	tf.box.w = W;
	tf.offset = W * H * 4;
	assert_int_equal(nodata(f, &tf, sizeof(tf)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);

	/* scanout to a pixel sink: the whole image once */
	struct virtio_gpu_set_scanout so = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W, H },
					     .scanout_id = 0, .resource_id = 10 };
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_true(f->sink.scanouts >= 1 && f->sink.last_scanout.enabled);
	assert_int_equal(f->sink.last_scanout.width, W);
	assert_int_equal(f->sink.px[0][0] & 0xffffff, 0xff0000);
	assert_int_equal(f->sink.px[H - 1][W - 1] & 0xffffff, 0xff0000);

	/* render green, flush only a part: the sink sees green there, red elsewhere */
	n = vgl_clear_cmds(cs, 10, 101, 0.0f, 1.0f, 0.0f);
	assert_int_equal(submit(f, 1, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
	unsigned before = f->sink.updates;
	struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 8, 8, 16, 16 },
						.resource_id = 10 };
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	wait_updates(f, before + 1);	/* pixel sinks get flushes at the display refresh, not inline */
	assert_int_equal(f->sink.last_damage.x, 8);
	assert_int_equal(f->sink.last_damage.width, 16);
	assert_int_equal(f->sink.px[8][8] & 0xffffff, 0x00ff00);
	assert_int_equal(f->sink.px[23][23] & 0xffffff, 0x00ff00);
	assert_int_equal(f->sink.px[0][0] & 0xffffff, 0xff0000);	/* not read back: not flushed */
	assert_int_equal(f->sink.px[24][24] & 0xffffff, 0xff0000);

	/* per-context fence (CONTEXT_INIT ring 0); ring 1 does not exist in virgl */
	submit(f, 1, cs, n, VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX, 9, 0, false, &head, &r);
	assert_int_equal(wait_used(f, head, r, 24), VIRTIO_GPU_RESP_OK_NODATA);
	assert_true(rh->flags & VIRTIO_GPU_FLAG_INFO_RING_IDX);
	assert_int_equal(rh->fence_id, 9);
	assert_int_equal(submit(f, 1, cs, n, VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX, 10, 1, true,
				NULL, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);

	/* SUBMIT_3D sizes: more than was sent, over the cap, not whole dwords, unknown context */
	struct virtio_gpu_cmd_submit sb = { .hdr = { .type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1 }, .size = 4096 };
	assert_int_equal(nodata(f, &sb, sizeof(sb)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	sb.size = 0xfffffffcu;
	assert_int_equal(nodata(f, &sb, sizeof(sb)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(submit(f, 1, cs, 1, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(submit(f, 7, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);

	/* blob commands are not offered: an error, not a crash */
	struct virtio_gpu_resource_create_blob blob = { .hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
								 .ctx_id = 1 }, .resource_id = 20,
							.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D, .size = 1u << 20 };
	assert_int_equal(nodata(f, &blob, sizeof(blob)), VIRTIO_GPU_RESP_ERR_UNSPEC);

	/* a 3D resource past max_hostmem (8 MiB): refused before virglrenderer sees it */
	struct virtio_gpu_resource_create_3d big = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, .resource_id = 30, .target = 2,
		.format = VGL_FMT_B8G8R8X8, .bind = VGL_BIND_RENDER_TARGET, .width = 4096, .height = 4096,
		.depth = 1, .array_size = 1,
	};
	assert_int_equal(nodata(f, &big, sizeof(big)), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);

	/* destroy the context with the resource attached, then the resource: all memory back */
	struct virtio_gpu_ctrl_hdr cd = { .type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 1 };
	assert_int_equal(nodata(f, &cd, sizeof(cd)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(nodata(f, &cd, sizeof(cd)), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	struct virtio_gpu_set_scanout off = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .scanout_id = 0 };
	assert_int_equal(nodata(f, &off, sizeof(off)), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 10 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_true(vgi_gpu_hostmem_used(f->gpu) < base);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

static void test_2d_on_virgl(void **state)
{
	struct fx *f = *state;
	/* the plain 2D path (fbcon, dumb buffers) on a virgl device */
	struct virtio_gpu_resource_create_2d c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 3,
						   .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = W, .height = H };
	assert_int_equal(nodata(f, &c, sizeof(c)), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_mem_entry ents[W * H * 4 / TG_PAGE_SIZE];
	for (unsigned i = 0; i < W * H * 4 / TG_PAGE_SIZE; i++) {
		f->backing_pages[i] = tg_alloc_page(f->g);
		ents[i] = (struct virtio_gpu_mem_entry){ .addr = f->backing_pages[i], .length = TG_PAGE_SIZE };
		uint32_t *p = tg_host(f->g, f->backing_pages[i]);
		for (unsigned k = 0; k < TG_PAGE_SIZE / 4; k++)
			p[k] = 0x123456;
	}
	struct virtio_gpu_resource_attach_backing a = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
							.resource_id = 3, .nr_entries = W * H * 4 / TG_PAGE_SIZE };
	assert_int_equal(cmd(f, &a, sizeof(a), ents, sizeof(ents), 24), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_transfer_to_host_2d t = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						    .r = { 0, 0, W, H }, .resource_id = 3 };
	assert_int_equal(nodata(f, &t, sizeof(t)), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_set_scanout so = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W, H },
					     .resource_id = 3 };
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.px[5][5] & 0xffffff, 0x123456);
	/* fenced 2D commands go through virglrenderer's fences too */
	struct virtio_gpu_resource_flush fl = { .hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
							 .flags = VIRTIO_GPU_FLAG_FENCE, .fence_id = 77 },
						.r = { 0, 0, W, H }, .resource_id = 3 };
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(((struct virtio_gpu_ctrl_hdr *)f->resp)->fence_id, 77);
	/* unref while scanned out, with backing: nothing leaks (ASan) */
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 3 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
}

/* Guest-memory blobs on the 3D device: the core shows them from guest pages, virglrenderer never sees them. */
static void test_guest_blob_on_virgl(void **state)
{
	struct fx *f = *state;
	assert_true(f->features & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	struct virtio_gpu_mem_entry ents[W * H * 4 / TG_PAGE_SIZE];
	for (unsigned i = 0; i < W * H * 4 / TG_PAGE_SIZE; i++) {
		f->backing_pages[i] = tg_alloc_page(f->g);
		ents[i] = (struct virtio_gpu_mem_entry){ .addr = f->backing_pages[i], .length = TG_PAGE_SIZE };
		uint32_t *p = tg_host(f->g, f->backing_pages[i]);
		for (unsigned k = 0; k < TG_PAGE_SIZE / 4; k++)
			p[k] = 0x654321;
	}
	struct virtio_gpu_resource_create_blob c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .resource_id = 5,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST, .blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE,
		.nr_entries = W * H * 4 / TG_PAGE_SIZE, .size = W * H * 4,
	};
	assert_int_equal(cmd(f, &c, sizeof(c), ents, sizeof(ents), 24), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_set_scanout_blob so = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { 0, 0, W, H }, .resource_id = 5, .width = W,
		.height = H, .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .strides = { W * 4 },
	};
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.scanouts, 1);
	assert_int_equal(f->sink.px[5][5] & 0xffffff, 0x654321);
	assert_int_equal(f->sink.px[H - 1][W - 1] & 0xffffff, 0x654321);
	/* the guest draws a pixel; a fenced flush shows it, the fence is echoed */
	uint32_t v = 0xabcdef;
	memcpy(tg_host(f->g, f->backing_pages[(7 * W + 9) * 4 / TG_PAGE_SIZE]) + (7 * W + 9) * 4 % TG_PAGE_SIZE, &v, 4);
	struct virtio_gpu_resource_flush fl = { .hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
							 .flags = VIRTIO_GPU_FLAG_FENCE, .fence_id = 78 },
						.r = { 8, 7, 2, 1 }, .resource_id = 5 };
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(((struct virtio_gpu_ctrl_hdr *)f->resp)->fence_id, 78);
	assert_int_equal(f->sink.px[7][9] & 0xffffff, 0xabcdef);
	assert_int_equal(f->sink.last_damage.x, 8);
	assert_int_equal(f->sink.last_damage.width, 2);
	/* guest RAM mapped again (vhost-user SET_MEM_TABLE): the blob is translated again, still shown */
	assert_int_equal(vgi_virtio_device_set_memory(f->dev, f->g->mem), 0);
	v = 0x13579b;
	memcpy(tg_host(f->g, f->backing_pages[(7 * W + 8) * 4 / TG_PAGE_SIZE]) + (7 * W + 8) * 4 % TG_PAGE_SIZE, &v, 4);
	fl.hdr.fence_id = 79;
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.px[7][8] & 0xffffff, 0x13579b);
	/* not host-visible: no map; 3D commands on it are refused by virglrenderer, not crashed on */
	struct virtio_gpu_resource_map_blob m = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, .resource_id = 5 };
	assert_int_equal(cmd(f, &m, sizeof(m), NULL, 0, sizeof(struct virtio_gpu_resp_map_info)),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 2 }, .nlen = 0 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_ctx_resource ca = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = 2 },
					      .resource_id = 5 };
	assert_int_not_equal(nodata(f, &ca, sizeof(ca)), 0);
	struct virtio_gpu_transfer_host_3d t3 = { .hdr = { .type = VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, .ctx_id = 2 },
						  .box = { 0, 0, 0, W, H, 1 }, .resource_id = 5 };
	assert_int_not_equal(nodata(f, &t3, sizeof(t3)), VIRTIO_GPU_RESP_OK_NODATA);
	/* a host blob whose blob_id no submit of the context made: refused by virglrenderer */
	struct virtio_gpu_resource_create_blob h3 = {
		.hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .ctx_id = 2 }, .resource_id = 6,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D, .blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE,
		.blob_id = 1, .size = 1u << 20,
	};
	assert_int_equal(nodata(f, &h3, sizeof(h3)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* unref while scanned out: everything back */
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 5 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_false(f->sink.last_scanout.enabled);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	struct virtio_gpu_ctrl_hdr cd = { .type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 2 };
	assert_int_equal(nodata(f, &cd, sizeof(cd)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

/* ---- host-visible (HOST3D) blobs ---- */

/* The embedder's side of the host-visible region: what is mapped where. */
struct region {
	struct { uint64_t offset, size; void *ptr; } maps[8];
	unsigned n, map_calls, unmap_calls;
	bool fail;
};

static int region_map(void *opaque, uint64_t offset, void *ptr, uint64_t size)
{
	struct region *rg = opaque;
	rg->map_calls++;
	if (rg->fail)
		return -ENOMEM;
	assert_true(rg->n < 8);
	assert_non_null(ptr);
	assert_true(offset + size <= REGION_SIZE);
	for (unsigned i = 0; i < rg->n; i++)	/* the device never asks for overlaps */
		assert_true(offset + size <= rg->maps[i].offset || rg->maps[i].offset + rg->maps[i].size <= offset);
	rg->maps[rg->n].offset = offset;
	rg->maps[rg->n].size = size;
	rg->maps[rg->n].ptr = ptr;
	rg->n++;
	return 0;
}

static void region_unmap(void *opaque, uint64_t offset, uint64_t size)
{
	struct region *rg = opaque;
	rg->unmap_calls++;
	for (unsigned i = 0; i < rg->n; i++) {
		if (rg->maps[i].offset == offset) {
			assert_int_equal(rg->maps[i].size, size);
			rg->maps[i] = rg->maps[--rg->n];
			return;
		}
	}
	fail_msg("unmap of 0x%llx, never mapped", (unsigned long long)offset);
}

static const struct vgi_gpu_blob_mapper region_ops = { region_map, region_unmap };

/* PIPE_RESOURCE_CREATE of a mappable buffer under blob_id (as Mesa's virgl winsys does), at cs. */
static void pipe_cmd(uint32_t *cs, uint32_t blob_id, uint32_t size)
{
	const uint32_t c[12] = {
		VGL_CMD0(48 /* VIRGL_CCMD_PIPE_RESOURCE_CREATE */, 0, 11),
		0,		/* target: buffer */
		64,		/* format: R8_UNORM */
		1u << 4,	/* bind: vertex buffer */
		size, 1, 1, 1,	/* width, height, depth, array size */
		0, 0,		/* last level, samples */
		(1u << 1) | (1u << 2),	/* VIRGL_RESOURCE_FLAG_MAP_PERSISTENT | _COHERENT */
		blob_id,
	};
	memcpy(cs, c, sizeof(c));
}

static void pipe_buffer(struct fx *f, uint32_t ctx, uint32_t blob_id, uint32_t size)
{
	uint32_t cs[12];
	pipe_cmd(cs, blob_id, size);
	assert_int_equal(submit(f, ctx, cs, 12, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
}

static uint32_t create_host_blob(struct fx *f, uint32_t ctx, uint32_t id, uint64_t blob_id, uint64_t size)
{
	struct virtio_gpu_resource_create_blob c = {
		.hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .ctx_id = ctx }, .resource_id = id,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D, .blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE,
		.blob_id = blob_id, .size = size,
	};
	return nodata(f, &c, sizeof(c));
}

static uint32_t map_blob(struct fx *f, uint32_t id, uint64_t offset)
{
	struct virtio_gpu_resource_map_blob m = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, .resource_id = id,
						  .offset = offset };
	return cmd(f, &m, sizeof(m), NULL, 0, sizeof(struct virtio_gpu_resp_map_info));
}

static uint32_t unmap_blob(struct fx *f, uint32_t id)
{
	struct virtio_gpu_resource_unmap_blob u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, .resource_id = id };
	return nodata(f, &u, sizeof(u));
}

static void test_host_blob_map(void **state)
{
	struct fx *f = *state;
	struct region rg = { 0 };
	const uint32_t SZ = 65536;

	/* no mapper yet: MAP_BLOB is ERR_UNSPEC */
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 3 }, .nlen = 0 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	pipe_buffer(f, 3, 7, SZ);
	assert_int_equal(create_host_blob(f, 3, 40, 7, SZ), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(map_blob(f, 40, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(vgi_gpu_set_blob_mapper(f->gpu, &(struct vgi_gpu_blob_mapper){ region_map, NULL }, &rg),
			 -EINVAL);
	assert_int_equal(vgi_gpu_set_blob_mapper(f->gpu, &region_ops, &rg), 0);

	/* map: the whole blob at the offset, OK_MAP_INFO with virglrenderer's caching */
	assert_int_equal(map_blob(f, 40, 0x10000), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(f->used_len, sizeof(struct virtio_gpu_resp_map_info));
	uint32_t info = ((struct virtio_gpu_resp_map_info *)f->resp)->map_info;
	assert_true((info & VIRTIO_GPU_MAP_CACHE_MASK) <= VIRTIO_GPU_MAP_CACHE_WC);
	assert_int_equal(rg.n, 1);
	assert_true(rg.maps[0].offset == 0x10000 && rg.maps[0].size == SZ);
	assert_int_equal(vgi_gpu_set_blob_mapper(f->gpu, NULL, NULL), -EBUSY);
	/* the guest writes through the region; unmap, map elsewhere: the bytes are the buffer's */
	uint8_t *p = rg.maps[0].ptr;
	for (uint32_t i = 0; i < SZ; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(unmap_blob(f, 40), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(rg.n, 0);
	assert_int_equal(unmap_blob(f, 40), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 40, 0), VIRTIO_GPU_RESP_OK_MAP_INFO);
	p = rg.maps[0].ptr;
	for (uint32_t i = 0; i < SZ; i += 997)
		assert_int_equal(p[i], (uint8_t)(i * 7 + 1));

	/* hostile maps: twice, overlapping, past the region, unaligned, wrapping */
	assert_int_equal(map_blob(f, 40, 0x20000), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	pipe_buffer(f, 3, 8, SZ);
	assert_int_equal(create_host_blob(f, 3, 41, 8, SZ), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(map_blob(f, 41, 0x8000), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 41, REGION_SIZE - SZ + 4096), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 41, REGION_SIZE), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 41, 0x10001), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 41, UINT64_MAX - 4095), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(map_blob(f, 99, 0x10000), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(rg.n, 1);
	/* the embedder refuses: ERR_UNSPEC, nothing left mapped; then it works at the region's end */
	rg.fail = true;
	assert_int_equal(map_blob(f, 41, 0x10000), VIRTIO_GPU_RESP_ERR_UNSPEC);
	rg.fail = false;
	assert_int_equal(map_blob(f, 41, REGION_SIZE - SZ), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(rg.n, 2);

	/* hostile creates: unknown blob_id, context, entries with a host blob, HOST3D_GUEST, id in use */
	assert_int_equal(create_host_blob(f, 3, 42, 99, SZ), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_host_blob(f, 9, 42, 7, SZ), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(create_host_blob(f, 3, 40, 7, SZ), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_host_blob(f, 3, 42, 7, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_host_blob(f, 3, 42, 7, 1000), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	struct virtio_gpu_resource_create_blob hg = {
		.hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .ctx_id = 3 }, .resource_id = 42,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D, .nr_entries = 1, .blob_id = 7, .size = SZ,
	};
	assert_int_equal(nodata(f, &hg, sizeof(hg)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	hg.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D_GUEST;
	assert_int_equal(nodata(f, &hg, sizeof(hg)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 2);
	/* a host blob has no layout here: no transfers, no scanout, no backing */
	struct virtio_gpu_ctx_resource ca = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = 3 },
					      .resource_id = 40 };
	assert_int_equal(nodata(f, &ca, sizeof(ca)), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_transfer_host_3d t3 = { .hdr = { .type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, .ctx_id = 3 },
						  .box = { 0, 0, 0, 16, 1, 1 }, .resource_id = 40 };
	assert_int_equal(nodata(f, &t3, sizeof(t3)), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	struct virtio_gpu_set_scanout_blob so = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { 0, 0, 16, 16 }, .resource_id = 40, .width = 16,
		.height = 16, .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .strides = { 64 },
	};
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	struct virtio_gpu_resource_detach_backing db = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
							 .resource_id = 40 };
	assert_int_equal(nodata(f, &db, sizeof(db)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	struct virtio_gpu_transfer_to_host_2d t2 = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						     .r = { 0, 0, 16, 16 }, .resource_id = 40 };
	assert_int_equal(nodata(f, &t2, sizeof(t2)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	/* flushes of a blob on no scanout: nothing to show, fenced or not */
	struct virtio_gpu_resource_flush fl = { .hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
							 .flags = VIRTIO_GPU_FLAG_FENCE, .fence_id = 5 },
						.r = { 0, 0, 0xffffffffu, 0xffffffffu }, .resource_id = 40 };
	unsigned updates = f->sink.updates;
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(((struct virtio_gpu_ctrl_hdr *)f->resp)->fence_id, 5);
	assert_int_equal(f->sink.updates, updates);

	/* unref of mapped blobs unmaps them first; the context's end frees the rest */
	unsigned unmaps = rg.unmap_calls;
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 40 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(rg.unmap_calls, unmaps + 1);
	assert_int_equal(rg.n, 1);
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	/* and a device reset unmaps what is still mapped */
	vgi_virtio_device_reset(f->dev);
	assert_int_equal(rg.n, 0);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
	assert_int_equal(vgi_gpu_set_blob_mapper(f->gpu, NULL, NULL), 0);
}

/*
 * Pipe resources a stream makes are host memory the guest chose: charged
 * at the submit (a stream whose resources do not fit is refused whole,
 * before virglrenderer sees it), moved to the blob that claims them,
 * returned when the context goes.
 */
static void test_pipe_resources_charged(void **state)
{
	struct fx *f = *state;
	const uint32_t MB = 1u << 20;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 6 }, .nlen = 0 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	uint64_t base = vgi_gpu_hostmem_used(f->gpu);
	uint32_t cs[24];

	/* past the 8 MiB budget: refused, nothing charged */
	pipe_cmd(cs, 1, 16 * MB);
	assert_int_equal(submit(f, 6, cs, 12, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	/* 4 MiB fits; a second 4 MiB next to it does not */
	pipe_buffer(f, 6, 1, 4 * MB);
	assert_true(vgi_gpu_hostmem_used(f->gpu) >= base + 4 * MB);
	uint64_t one = vgi_gpu_hostmem_used(f->gpu);
	pipe_cmd(cs, 2, 4 * MB);
	assert_int_equal(submit(f, 6, cs, 12, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	/* a stream of two where the second does not fit: neither is charged */
	pipe_cmd(cs, 3, 1 * MB);
	pipe_cmd(cs + 12, 4, 8 * MB);
	assert_int_equal(submit(f, 6, cs, 24, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), one);
	/* bad layouts are refused before virglrenderer: width 0, a 2^31-byte buffer */
	pipe_cmd(cs, 5, 0);
	assert_int_equal(submit(f, 6, cs, 12, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	pipe_cmd(cs, 5, 1u << 31);
	assert_int_equal(submit(f, 6, cs, 12, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), one);
	/* claimed by a blob: the charge moves to it (no second 4 MiB), unref returns it */
	assert_int_equal(create_host_blob(f, 6, 50, 1, 4 * MB), VIRTIO_GPU_RESP_OK_NODATA);
	assert_true(vgi_gpu_hostmem_used(f->gpu) < one + 4096);
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 50 };
	assert_int_equal(nodata(f, &u, sizeof(u)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	/* unclaimed ones go with their context */
	pipe_buffer(f, 6, 7, 2 * MB);
	pipe_buffer(f, 6, 7, 2 * MB);
	pipe_buffer(f, 6, 8, 1);	/* smaller than the page the reaper claims it with */
	assert_true(vgi_gpu_hostmem_used(f->gpu) >= base + 4 * MB);
	struct virtio_gpu_ctrl_hdr cd = { .type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 6 };
	assert_int_equal(nodata(f, &cd, sizeof(cd)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

/* A blob left mapped at vgi_gpu_free is unmapped through the mapper (ASan checks the rest). */
static struct region leftover_region;

static void test_host_blob_leftover(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 5 }, .nlen = 0 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_set_blob_mapper(f->gpu, &region_ops, &leftover_region), 0);
	pipe_buffer(f, 5, 1, 8192);
	assert_int_equal(create_host_blob(f, 5, 1, 1, 8192), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(map_blob(f, 1, 0), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(leftover_region.n, 1);
}

static int teardown_leftover(void **state)
{
	int r = teardown(state);
	assert_int_equal(leftover_region.n, 0);
	assert_int_equal(leftover_region.unmap_calls, 1);
	return r;
}

static void test_page_flip(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 2 }, .nlen = 1 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	create_rt(f, 20, 2);
	create_rt(f, 21, 2);
	uint32_t cs[64], n;
	n = vgl_clear_cmds(cs, 20, 100, 1.0f, 0.0f, 0.0f);
	assert_int_equal(submit(f, 2, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
	n = vgl_clear_cmds(cs, 21, 100, 0.0f, 0.0f, 1.0f);
	assert_int_equal(submit(f, 2, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_set_scanout so = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W, H },
					     .resource_id = 20 };
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0xff0000);	/* a new scanout shows at once */
	/* a page flip (same size): the pixels come with the flush, once */
	unsigned before = f->sink.updates;
	so.resource_id = 21;
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.updates, before);
	struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 0, 0, W, H },
						.resource_id = 21 };
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	wait_updates(f, before + 1);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0x0000ff);
	assert_int_equal(f->sink.px[H - 1][W - 1] & 0xffffff, 0x0000ff);
	/* a fenced flush (as Linux sends them): the pixels arrive by the time the answer does */
	n = vgl_clear_cmds(cs, 21, 101, 0.0f, 1.0f, 0.0f);
	assert_int_equal(submit(f, 2, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
	fl.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
	fl.hdr.fence_id = 50;
	fl.r = (struct virtio_gpu_rect){ 0, 0, W / 2, H };
	before = f->sink.updates;
	uint64_t rg;
	int fh = post(f, &fl, sizeof(fl), NULL, 0, 24, &rg);
	assert_int_equal(f->sink.updates, before);	/* not yet: after the fence */
	assert_int_equal(wait_used(f, fh, rg, 24), VIRTIO_GPU_RESP_OK_NODATA);
	wait_updates(f, before + 1);
	assert_int_equal(f->sink.last_damage.width, W / 2);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0x00ff00);
	assert_int_equal(f->sink.px[3][W - 1] & 0xffffff, 0x0000ff);	/* outside the flushed rect */
	fl.hdr.flags = 0;
	fl.r = (struct virtio_gpu_rect){ 0, 0, W, H };
	/* flips faster than the display refresh: in-between frames are superseded, the last one shows */
	before = f->sink.updates;
	for (int k = 0; k < 6; k++) {
		n = vgl_clear_cmds(cs, 21, 101, k == 5 ? 1.0f : 0.0f, 0.0f, k == 5 ? 1.0f : 0.5f);
		assert_int_equal(submit(f, 2, cs, n, 0, 0, 0, true, NULL, NULL), VIRTIO_GPU_RESP_OK_NODATA);
		fl.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
		fl.hdr.fence_id = 60 + k;
		assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	}
	wait_updates(f, f->sink.updates > before ? f->sink.updates : before + 1);
	for (int i = 0; i < 5; i++) {	/* a late timer would bring the last frame */
		struct pollfd p = { .fd = vgi_gpu_get_fd(f->gpu), .events = POLLIN };
		if (poll(&p, 1, 40) > 0)
			vgi_gpu_dispatch(f->gpu);
	}
	printf("6 fast flips: %u updates reached the pixel sink\n", f->sink.updates - before);
	assert_true(f->sink.updates - before >= 1 && f->sink.updates - before <= 6);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0xff00ff);	/* the last frame */
	fl.hdr.flags = 0;
	/* flip back: still correct although nothing was rendered in between */
	so.resource_id = 20;
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	fl.resource_id = 20;
	before = f->sink.updates;
	assert_int_equal(nodata(f, &fl, sizeof(fl)), VIRTIO_GPU_RESP_OK_NODATA);
	wait_updates(f, before + 1);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0xff0000);
	/* a different size is a new mode: shown at once again */
	struct virtio_gpu_set_scanout half = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W / 2, H / 2 },
					       .resource_id = 21 };
	before = f->sink.updates;
	assert_int_equal(nodata(f, &half, sizeof(half)), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->sink.updates, before + 1);
	assert_int_equal(f->sink.px[3][3] & 0xffffff, 0xff00ff);	/* 21 was cleared magenta last */
}

/* Hostile guest: random 3D commands with small ids and wild sizes; no crash, no leak, no stuck command. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static uint32_t wild(void)
{
	switch (rnd() % 6) {
	case 0: return 0;
	case 1: return rnd() % 8;
	case 2: return rnd() % 300;
	case 3: return 0xffffffffu - rnd() % 4;
	case 4: return 1u << (rnd() % 32);
	default: return rnd();
	}
}

static void test_random_commands(void **state)
{
	struct fx *f = *state;
	static const uint32_t types[] = {
		VIRTIO_GPU_CMD_CTX_CREATE, VIRTIO_GPU_CMD_CTX_DESTROY, VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE,
		VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
		VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, VIRTIO_GPU_CMD_SUBMIT_3D,
		VIRTIO_GPU_CMD_GET_CAPSET_INFO, VIRTIO_GPU_CMD_GET_CAPSET, VIRTIO_GPU_CMD_RESOURCE_UNREF,
		VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
		VIRTIO_GPU_CMD_SET_SCANOUT, VIRTIO_GPU_CMD_RESOURCE_FLUSH, VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
		VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
	};
	unsigned answered = 0, ok = 0;
	/* a live state to attack: contexts 1-4, render targets 1-3 (small ids, as random ones are) */
	for (uint32_t ctx = 1; ctx <= 4; ctx++) {
		struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = ctx } };
		assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	}
	for (uint32_t id = 1; id <= 3; id++)
		create_rt(f, id, id);
	for (int i = 0; i < 3000; i++) {
		union {
			uint32_t w[64];
			struct virtio_gpu_ctrl_hdr hdr;
		} c;
		for (unsigned k = 0; k < 64; k++)
			c.w[k] = rnd() % 4 ? rnd() % 6 : wild();
		c.hdr.type = types[rnd() % (sizeof(types) / sizeof(types[0]))];
		c.hdr.flags = rnd() % 4 == 0 ? VIRTIO_GPU_FLAG_FENCE | (rnd() % 2 ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0) : 0;
		c.hdr.ring_idx = rnd() % 3 == 0 ? (uint8_t)rnd() : 0;
		c.hdr.ctx_id = rnd() % 5;
		size_t len = rnd() % 4 ? sizeof(c) : sizeof(struct virtio_gpu_ctrl_hdr) + rnd() % (sizeof(c) - sizeof(c.hdr) + 1);
		if (c.hdr.type == VIRTIO_GPU_CMD_RESOURCE_CREATE_3D && rnd() % 2) {
			struct virtio_gpu_resource_create_3d *r = (void *)&c;
			*r = (struct virtio_gpu_resource_create_3d){ .hdr = c.hdr, .resource_id = rnd() % 6, .target = rnd() % 10,
				.format = rnd() % 4 ? 2 : wild(), .bind = 2, .width = rnd() % 70, .height = rnd() % 70,
				.depth = 1 + rnd() % 2, .array_size = 1, .last_level = rnd() % 2, .nr_samples = 0 };
			len = sizeof(*r);
		}
		if (c.hdr.type == VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING) {
			struct virtio_gpu_resource_attach_backing *a = (void *)&c;
			a->resource_id = rnd() % 6;
			a->nr_entries = rnd() % 3;
			struct virtio_gpu_mem_entry e[2] = {
				{ .addr = tg_alloc_page(f->g), .length = TG_PAGE_SIZE },
				{ .addr = tg_alloc_page(f->g), .length = rnd() % 2 ? TG_PAGE_SIZE : wild() },
			};
			cmd(f, a, sizeof(*a), e, sizeof(e), 64);
			answered++;
			continue;
		}
		if (c.hdr.type == VIRTIO_GPU_CMD_SUBMIT_3D && rnd() % 2) {
			/* a well-sized stream of random virgl commands: virglrenderer's decoder gets it */
			struct virtio_gpu_cmd_submit *sb = (void *)&c;
			len = sizeof(*sb) + 4 * (rnd() % 40);
			sb->size = (uint32_t)(len - sizeof(*sb));
			for (unsigned k = sizeof(*sb) / 4; k < len / 4; k += 1 + rnd() % 6)
				c.w[k] = (rnd() % 60) | ((rnd() % 12) << 8) | ((rnd() % 8) << 16);
		}
		uint64_t r;
		int h = post(f, &c, len, NULL, 0, 64 + rnd() % 2048, &r);
		uint32_t t = wait_used(f, h, r, 64);
		if (t == VIRTIO_GPU_RESP_OK_NODATA)
			ok++;
		answered++;
	}
	printf("random commands: %u answered, %u OK\n", answered, ok);
	assert_int_equal(answered, 3000);
	assert_true(ok >= 50);	/* fixed seed: some reach virglrenderer, most are refused */
	/* every fenced command was answered; freeing everything leaks nothing (ASan) */
}

static void test_leftovers_freed(void **state)
{
	struct fx *f = *state;
	/* contexts, resources and a held fenced command left for vgi_gpu_free (ASan checks) */
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 4 }, .nlen = 200 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	create_rt(f, 11, 4);
	uint32_t cs[64];
	uint32_t n = vgl_clear_cmds(cs, 11, 100, 0.0f, 0.0f, 1.0f);
	int head;
	uint64_t r;
	submit(f, 4, cs, n, VIRTIO_GPU_FLAG_FENCE, 1, 0, false, &head, &r);
}

static unsigned ctrl_inflight(struct fx *f)
{
	return vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, 0));
}

/* Let every fence virglrenderer still has in flight retire (its fd goes quiet). */
static void drain_fences(struct fx *f)
{
	for (int i = 0; i < 20; i++) {
		struct pollfd p = { .fd = vgi_gpu_get_fd(f->gpu), .events = POLLIN };
		if (poll(&p, 1, 50) > 0)
			vgi_gpu_dispatch(f->gpu);
	}
}

/*
 * VM stop while fenced commands run: the control queue stops, and each held
 * command is answered (fence echoed) before the ring goes back, not later.
 */
static void test_queue_stop_answers_held(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 2 }, .nlen = 4 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	create_rt(f, 12, 2);
	uint32_t cs[64], n = vgl_clear_cmds(cs, 12, 100, 0.0f, 0.0f, 1.0f);
	int head[3];
	uint64_t r[3];
	for (unsigned i = 0; i < 3; i++)
		submit(f, 2, cs, n, VIRTIO_GPU_FLAG_FENCE, 40 + i, 0, false, &head[i], &r[i]);
	assert_int_equal(ctrl_inflight(f), 3);	/* nothing dispatched: all held */
	vgi_virtio_device_queue_stop(f->dev, 0);
	assert_int_equal(ctrl_inflight(f), 0);
	for (unsigned i = 0; i < 3; i++) {
		uint32_t h, len;
		assert_true(tg_queue_get_used(f->ctrl, &h, &len));
		assert_int_equal(h, head[i]);
		struct virtio_gpu_ctrl_hdr *rh = tg_host(f->g, r[i]);
		assert_int_equal(rh->type, VIRTIO_GPU_RESP_OK_NODATA);
		assert_true(rh->flags & VIRTIO_GPU_FLAG_FENCE);
		assert_int_equal(rh->fence_id, 40 + i);
	}
	drain_fences(f);	/* late fence callbacks find nothing to answer */
	uint32_t h, len;
	assert_false(tg_queue_get_used(f->ctrl, &h, &len));
	/* the ring starts again where it stopped; the device kept its state */
	assert_int_equal(tg_queue_attach(f->ctrl, f->dev, 0), 0);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);
	assert_int_equal(submit(f, 2, cs, n, VIRTIO_GPU_FLAG_FENCE, 50, 0, true, NULL, NULL),
			 VIRTIO_GPU_RESP_OK_NODATA);
}

/*
 * Guest reset while fenced commands run and resources, contexts and a
 * scanout exist: everything goes, host memory back to 0, held commands are
 * dropped (the rebooted guest's ring never sees them), late fences are
 * ignored, and the device works again from scratch.
 */
static void test_reset_drops_everything(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 3 }, .nlen = 4 };
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	create_rt(f, 13, 3);
	struct virtio_gpu_set_scanout so = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, W, H },
					     .scanout_id = 0, .resource_id = 13 };
	assert_int_equal(nodata(f, &so, sizeof(so)), VIRTIO_GPU_RESP_OK_NODATA);
	uint32_t cs[64], n = vgl_clear_cmds(cs, 13, 100, 1.0f, 1.0f, 0.0f);
	int head;
	uint64_t r;
	submit(f, 3, cs, n, VIRTIO_GPU_FLAG_FENCE, 7, 0, false, &head, &r);
	assert_int_equal(ctrl_inflight(f), 1);
	assert_true(vgi_gpu_hostmem_used(f->gpu) > 0);

	vgi_virtio_device_reset(f->dev);
	assert_int_equal(ctrl_inflight(f), 0);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
	assert_false(f->sink.last_scanout.enabled);
	drain_fences(f);
	uint32_t h, len;
	assert_false(tg_queue_get_used(f->ctrl, &h, &len));

	/* the rebooted driver: features, fresh rings, the same ids again */
	vgi_virtio_device_set_features(f->dev, f->features);
	tg_queue_free(f->ctrl);
	f->ctrl = tg_queue_new(f->g, 64);
	assert_int_equal(tg_queue_attach(f->ctrl, f->dev, 0), 0);
	assert_int_equal(nodata(f, &cc, sizeof(cc)), VIRTIO_GPU_RESP_OK_NODATA);
	create_rt(f, 13, 3);
	assert_int_equal(submit(f, 3, cs, n, VIRTIO_GPU_FLAG_FENCE, 1, 0, true, NULL, NULL),
			 VIRTIO_GPU_RESP_OK_NODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_fence_scanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_ids_backwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_fails_after_virgl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_read_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_2d_on_virgl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_blob_on_virgl, setup_blob, teardown),
		cmocka_unit_test_setup_teardown(test_host_blob_map, setup_blob, teardown),
		cmocka_unit_test_setup_teardown(test_host_blob_leftover, setup_blob, teardown_leftover),
		cmocka_unit_test_setup_teardown(test_pipe_resources_charged, setup_blob, teardown),
		cmocka_unit_test_setup_teardown(test_page_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftovers_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_stop_answers_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_drops_everything, setup, teardown),
	};
	void *st = NULL;
	if (setup(&st) < 0) {
		printf("SKIP: no 3D device (no surfaceless EGL / virglrenderer)\n");
		return 77;
	}
	teardown(&st);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
