// SPDX-License-Identifier: MIT
/*
 * The virgl renderer on its own (surfaceless EGL, llvmpipe here): capsets,
 * contexts, a render target cleared by a real virgl command stream, a fence
 * retired through the poll fd, read back with TRANSFER_FROM_HOST_3D; and
 * the limits: host memory, boxes, strides, offsets, ids, sizes.
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
#include <unistd.h>

#include <cmocka.h>

#include <vgi/log.h>

#include "virgl.h"

/* virgl protocol numbers (virglrenderer's virgl_protocol.h, virgl_hw.h) */
#define CMD0(cmd, obj, len) ((cmd) | ((obj) << 8) | ((uint32_t)(len) << 16))
#define CCMD_CREATE_OBJECT 1
#define CCMD_SET_FRAMEBUFFER_STATE 5
#define CCMD_CLEAR 7
#define OBJECT_SURFACE 8
#define PIPE_CLEAR_COLOR0 (1u << 2)
#define FMT_B8G8R8X8 2
#define BIND_RENDER_TARGET (1u << 1)
#define BIND_SAMPLER_VIEW (1u << 3)

struct fence_log {
	unsigned n;
	uint32_t ctx[16], ring[16];
	uint64_t id[16];
};

static void on_fence(void *opaque, void *data, uint32_t ctx_id, uint32_t ring_idx, uint64_t fence_id)
{
	struct fence_log *l = opaque;
	assert_ptr_equal(data, (void *)(uintptr_t)(fence_id + 1));
	if (l->n < 16) {
		l->ctx[l->n] = ctx_id;
		l->ring[l->n] = ring_idx;
		l->id[l->n] = fence_id;
	}
	l->n++;
}

struct fx {
	struct fence_log log;	/* first: the fence callback's opaque */
	struct vgi_virgl *v;
	uint64_t hostmem, max_hostmem;
};

static bool charge(void *opaque, uint64_t bytes)
{
	struct fx *f = opaque;
	if (bytes > f->max_hostmem - f->hostmem)
		return false;
	f->hostmem += bytes;
	return true;
}

static void release(void *opaque, uint64_t bytes)
{
	struct fx *f = opaque;
	assert_true(bytes <= f->hostmem);
	f->hostmem -= bytes;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vgi_virgl_config cfg = {
		.charge = charge,
		.release = release,
		.fence = on_fence,
		.opaque = f,
	};
	f->max_hostmem = 64ull << 20;
	f->v = vgi_virgl_new(&cfg);
	if (!f->v) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vgi_virgl_free(f->v);
	free(f);
	return 0;
}

static void wait_fences(struct fx *f, unsigned want)
{
	int fd = vgi_virgl_get_fd(f->v);
	assert_true(fd >= 0);	/* no timer, no busy loop: the fence thread's eventfd */
	for (int i = 0; i < 100 && f->log.n < want; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 100);
		assert_true(r >= 0);
		if (r > 0)
			vgi_virgl_dispatch(f->v);
	}
	assert_int_equal(f->log.n, want);
}

static struct virtio_gpu_resource_create_3d rt(uint32_t id, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_create_3d c = {
		.resource_id = id, .target = 2, .format = FMT_B8G8R8X8,
		.bind = BIND_RENDER_TARGET | BIND_SAMPLER_VIEW,
		.width = w, .height = h, .depth = 1, .array_size = 1,
	};
	return c;
}

static void test_capsets(void **state)
{
	struct fx *f = *state;
	uint32_t n = vgi_virgl_num_capsets(f->v);
	assert_true(n >= 1 && n <= 2);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id, ver, size;
		assert_int_equal(vgi_virgl_capset_info(f->v, i, &id, &ver, &size), VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		assert_int_equal(id, i + 1);
		assert_true(ver >= 1 && size > 0 && size <= VGI_VIRGL_MAX_CAPSET);
		uint32_t sz;
		assert_int_equal(vgi_virgl_capset_size(f->v, id, ver, &sz), VIRTIO_GPU_RESP_OK_CAPSET);
		assert_int_equal(sz, size);
		uint8_t *buf = calloc(1, sz);
		vgi_virgl_capset_fill(f->v, id, ver, buf);
		uint32_t max_version;
		memcpy(&max_version, buf, 4);	/* struct virgl_caps_v1: max_version first */
		assert_true(max_version >= 1);
		free(buf);
		/* a version past the newest is refused */
		assert_int_equal(vgi_virgl_capset_size(f->v, id, ver + 1, &sz), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
		assert_int_equal(sz, 0);
	}
	uint32_t id = 7, ver = 7, size = 7, sz = 7;
	/* CVE-2021-3545: nothing left uninitialised on an error */
	assert_int_equal(vgi_virgl_capset_info(f->v, n, &id, &ver, &size), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(id | ver | size, 0);
	assert_int_equal(vgi_virgl_capset_size(f->v, 99, 0, &sz), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_capset_size(f->v, 3, 0, &sz), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(sz, 0);
	assert_non_null(strstr(vgi_virgl_renderer_name(f->v), ""));
	printf("renderer: %s, %u capsets\n", vgi_virgl_renderer_name(f->v), n);
}

static void test_contexts(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vgi_virgl_ctx_create(f->v, 0, 0, "x", 1), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(vgi_virgl_ctx_create(f->v, 1, 0, "one", 3), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_ctx_create(f->v, 1, 0, "one", 3), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	/* CONTEXT_INIT: virgl2 capset works, venus (4) and stray bits do not */
	assert_int_equal(vgi_virgl_ctx_create(f->v, 2, VIRTIO_GPU_CAPSET_VIRGL2, "two", 3), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_ctx_create(f->v, 3, 4, "v", 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_ctx_create(f->v, 3, 0x100, "v", 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* a name longer than the message is not read past 64 bytes */
	char name[64];
	memset(name, 'n', sizeof(name));
	assert_int_equal(vgi_virgl_ctx_create(f->v, 4, 0, name, 0xffffffffu), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_ctx_count(f->v), 3);
	assert_int_equal(vgi_virgl_ctx_destroy(f->v, 9), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	uint32_t nop = 0;
	assert_int_equal(vgi_virgl_submit(f->v, 9, &nop, 4), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(vgi_virgl_submit(f->v, 1, &nop, 3), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_submit(f->v, 1, &nop, VGI_VIRGL_MAX_SUBMIT + 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_submit(f->v, 1, &nop, 4), VIRTIO_GPU_RESP_OK_NODATA);
	for (uint32_t c = 1; c <= 4; c++)
		vgi_virgl_ctx_destroy(f->v, c);
	assert_int_equal(vgi_virgl_ctx_count(f->v), 0);
}

static void test_clear_and_read_back(void **state)
{
	struct fx *f = *state;
	const uint32_t W = 64, H = 48, RES = 5, CTX = 1;
	struct virtio_gpu_resource_create_3d c = rt(RES, W, H);
	assert_int_equal(vgi_virgl_ctx_create(f->v, CTX, 0, "t", 1), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(f->hostmem, (uint64_t)W * H * 4);
	size_t bsize = (size_t)W * H * 4;
	uint8_t *backing = calloc(1, bsize);
	struct iovec *iov = calloc(2, sizeof(*iov));
	iov[0] = (struct iovec){ backing, bsize / 2 };	/* two pieces, as guest pages are */
	iov[1] = (struct iovec){ backing + bsize / 2, bsize - bsize / 2 };
	assert_int_equal(vgi_virgl_attach_backing(f->v, RES, iov, 2), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_ctx_attach(f->v, CTX, RES), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_ctx_attach(f->v, CTX, 77), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(vgi_virgl_ctx_attach(f->v, 77, RES), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);

	float color[4] = { 1.0f, 0.5f, 0.25f, 1.0f };
	uint32_t cmd[32], n = 0;
	cmd[n++] = CMD0(CCMD_CREATE_OBJECT, OBJECT_SURFACE, 5);
	cmd[n++] = 10;		/* surface handle */
	cmd[n++] = RES;
	cmd[n++] = FMT_B8G8R8X8;
	cmd[n++] = 0;		/* level */
	cmd[n++] = 0;		/* layers */
	cmd[n++] = CMD0(CCMD_SET_FRAMEBUFFER_STATE, 0, 3);
	cmd[n++] = 1;		/* nr_cbufs */
	cmd[n++] = 0;		/* no depth */
	cmd[n++] = 10;
	cmd[n++] = CMD0(CCMD_CLEAR, 0, 8);
	cmd[n++] = PIPE_CLEAR_COLOR0;
	memcpy(&cmd[n], color, sizeof(color));
	n += 4;
	cmd[n++] = 0;		/* depth (double) */
	cmd[n++] = 0;
	cmd[n++] = 0;		/* stencil */
	assert_int_equal(vgi_virgl_submit(f->v, CTX, cmd, n * 4), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_create_fence(f->v, CTX, false, 0, 1000, (void *)1001), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_create_fence(f->v, CTX, true, 0, 7, (void *)8), VIRTIO_GPU_RESP_OK_NODATA);
	/* virglrenderer 0.10 has one timeline per virgl context */
	assert_int_equal(vgi_virgl_create_fence(f->v, CTX, true, 1, 8, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_create_fence(f->v, CTX, true, 64, 8, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_create_fence(f->v, 33, true, 0, 8, NULL), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	wait_fences(f, 2);
	bool seen_global = false, seen_ctx = false;
	for (unsigned i = 0; i < 2; i++) {
		if (f->log.ctx[i] == CTX && f->log.id[i] == 1000)
			seen_global = true;
		if (f->log.ctx[i] == CTX && f->log.ring[i] == 0 && f->log.id[i] == 7)
			seen_ctx = true;
	}
	assert_true(seen_global && seen_ctx);
	assert_int_equal(vgi_virgl_pending_fences(f->v), 0);

	struct virtio_gpu_transfer_host_3d t = {
		.box = { 0, 0, 0, W, H, 1 }, .resource_id = RES, .stride = W * 4,
	};
	assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, CTX, false), VIRTIO_GPU_RESP_OK_NODATA);
	unsigned bad = 0;
	for (size_t i = 0; i < (size_t)W * H; i++) {
		const uint8_t *p = backing + i * 4;
		if (abs(p[0] - 0x40) > 1 || abs(p[1] - 0x80) > 1 || p[2] != 0xff)
			bad++;
	}
	printf("read back pixel 0: %02x %02x %02x, %u wrong\n", backing[0], backing[1], backing[2], bad);
	assert_int_equal(bad, 0);

	/* the device's own read-back for pixel sinks: only a damaged part */
	uint32_t part[4 * 3];
	memset(part, 0, sizeof(part));
	struct vgi_rect r = { 10, 20, 4, 3 };
	assert_int_equal(vgi_virgl_read_rect(f->v, RES, &r, part, 16), 0);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(part[i] & 0xffffff, part[0] & 0xffffff);
	assert_int_equal((part[0] >> 16) & 0xff, 0xff);
	struct vgi_rect out = { W - 2, 0, 4, 1 };
	assert_int_equal(vgi_virgl_read_rect(f->v, RES, &out, part, 16), -EINVAL);

	struct vgi_virgl_res_info info;
	assert_int_equal(vgi_virgl_resource_info(f->v, RES, &info), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(info.width, W);
	assert_int_equal(info.height, H);
	assert_true(info.tex_id != 0);
	assert_int_equal(info.fourcc, 0x34325258);	/* XR24 */

	/* destroy the context with the resource still attached, then the resource */
	assert_int_equal(vgi_virgl_ctx_destroy(f->v, CTX), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_unref(f->v, RES), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_unref(f->v, RES), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(vgi_virgl_resource_count(f->v), 0);
	assert_int_equal(f->hostmem, 0);
	free(backing);
	free(iov);
}

static void test_transfer_limits(void **state)
{
	struct fx *f = *state;
	const uint32_t W = 32, H = 16, RES = 6;
	struct virtio_gpu_resource_create_3d c = rt(RES, W, H);
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_OK_NODATA);
	struct virtio_gpu_transfer_host_3d t = { .box = { 0, 0, 0, W, H, 1 }, .resource_id = RES };
	/* no backing yet */
	assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_ERR_UNSPEC);
	size_t bsize = (size_t)W * H * 4;
	uint8_t *backing = calloc(1, bsize);
	struct iovec *iov = calloc(1, sizeof(*iov));
	*iov = (struct iovec){ backing, bsize };
	assert_int_equal(vgi_virgl_attach_backing(f->v, RES, iov, 1), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_attach_backing(f->v, RES, iov, 1), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_OK_NODATA);

	struct virtio_gpu_transfer_host_3d bad[] = {
		{ .box = { 1, 0, 0, W, H, 1 }, .resource_id = RES },		/* box past the right */
		{ .box = { 0, 0, 0, W, H + 1, 1 }, .resource_id = RES },	/* past the bottom */
		{ .box = { 0, 0, 1, W, H, 1 }, .resource_id = RES },		/* z on a 2D texture */
		{ .box = { 0xffffffffu, 0, 0, 2, 1, 1 }, .resource_id = RES },	/* 32-bit wrap */
		{ .box = { 0, 0, 0, 0, 1, 1 }, .resource_id = RES },		/* empty */
		{ .box = { 0, 0, 0, W, H, 1 }, .resource_id = RES, .level = 1 },	/* no such level */
		{ .box = { 0, 0, 0, W, H, 1 }, .resource_id = RES, .stride = W * 4 - 4 },	/* stride < row */
		{ .box = { 0, 0, 0, W, H, 1 }, .resource_id = RES, .stride = W * 8 },	/* rows past backing */
		{ .box = { 0, 0, 0, W, 1, 1 }, .resource_id = RES, .offset = bsize },	/* offset at end */
		{ .box = { 0, 0, 0, 1, 1, 1 }, .resource_id = RES, .offset = ~0ull },	/* offset wraps */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vgi_virgl_transfer_3d(f->v, &bad[i], 0, true), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
		assert_int_equal(vgi_virgl_transfer_3d(f->v, &bad[i], 0, false), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	}
	t.resource_id = 99;
	assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	t.resource_id = RES;
	assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 42, true), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	struct vgi_rect r2 = { 0, 0, W, H };
	assert_int_equal(vgi_virgl_transfer_to_host_2d(f->v, RES, &r2, 0), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_transfer_to_host_2d(f->v, RES, &r2, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	r2.x = 1;
	assert_int_equal(vgi_virgl_transfer_to_host_2d(f->v, RES, &r2, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_detach_backing(f->v, RES), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_detach_backing(f->v, RES), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(vgi_virgl_resource_unref(f->v, RES), VIRTIO_GPU_RESP_OK_NODATA);
	free(backing);
	free(iov);
}

static char last_warning[512];

static void keep_warning(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (level <= VGI_LOG_WARN)
		snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

/*
 * A transfer vgi bounds itself, before virglrenderer sees it: the bytes
 * of the box in the format's own layout (plain formats the old table
 * lacked, block-compressed formats), and no transfer at all of a format
 * whose layout vgi does not know. The refusal must be vgi's own (its log
 * line), never virglrenderer's check catching what vgi let through.
 */
static void test_transfer_formats(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint32_t format;
		uint32_t w, h;
		size_t packed;	/* bytes of the whole level, rows packed; 0: no layout (refused) */
	} cases[] = {
		{ 100, 16, 8, 16 * 8 * 4 },		/* B8G8R8A8_SRGB */
		{ 180, 16, 8, 16 * 8 * 4 },		/* R8G8B8A8_UINT */
		{ 94, 16, 8, 16 * 8 * 8 },		/* R16G16B16A16_FLOAT */
		{ 105, 16, 8, 4 * 2 * 8 },		/* DXT1_RGB: 4x4 blocks of 8 bytes */
		{ 108, 16, 8, 4 * 2 * 16 },		/* DXT5_RGBA: 4x4 blocks of 16 bytes */
		{ 166, 16, 8, 0 },			/* NV12: planar, no layout here */
		{ 313, 16, 8, 0 },			/* VIRGL_FORMAT_MAX: virglrenderer 0.10 makes it */
	};
	vgi_log_set_handler(keep_warning, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t id = 40 + (uint32_t)i;
		struct virtio_gpu_resource_create_3d c = rt(id, cases[i].w, cases[i].h);
		c.format = cases[i].format;
		c.bind = BIND_SAMPLER_VIEW;
		if (vgi_virgl_resource_create_3d(f->v, &c) != VIRTIO_GPU_RESP_OK_NODATA) {
			printf("format %u: virglrenderer has no such texture here, not tried\n", cases[i].format);
			continue;
		}
		size_t size = cases[i].packed ? cases[i].packed : 4096;
		uint8_t *backing = calloc(1, size);
		struct iovec *iov = calloc(1, sizeof(*iov));
		*iov = (struct iovec){ backing, size };
		assert_int_equal(vgi_virgl_attach_backing(f->v, id, iov, 1), VIRTIO_GPU_RESP_OK_NODATA);
		struct virtio_gpu_transfer_host_3d t = { .box = { 0, 0, 0, cases[i].w, cases[i].h, 1 },
							 .resource_id = id };
		if (!cases[i].packed) {
			last_warning[0] = 0;
			assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
			printf("format %u: %s\n", cases[i].format, last_warning);
			assert_non_null(strstr(last_warning, "no layout known here"));
		} else {
			/* the whole level fits exactly */
			assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_OK_NODATA);
			/* one byte more than the backing: vgi refuses, virglrenderer never sees it */
			t.offset = 1;
			last_warning[0] = 0;
			assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, true), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
			printf("format %u, one byte over: %s\n", cases[i].format, last_warning);
			assert_non_null(strstr(last_warning, "> backing"));
			t.offset = 0;
			/* a stride below one row of the box */
			t.stride = (uint32_t)(cases[i].packed / (cases[i].format == 105 || cases[i].format == 108 ? 2 : cases[i].h)) - 1;
			last_warning[0] = 0;
			assert_int_equal(vgi_virgl_transfer_3d(f->v, &t, 0, false), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
			assert_non_null(strstr(last_warning, "stride"));
		}
		assert_int_equal(vgi_virgl_resource_unref(f->v, id), VIRTIO_GPU_RESP_OK_NODATA);
		free(backing);
		free(iov);
	}
	vgi_log_set_handler(NULL, NULL);
	assert_int_equal(vgi_virgl_resource_count(f->v), 0);
	assert_int_equal(f->hostmem, 0);
}


/*
 * Every format virglrenderer makes here: a transfer of the whole level
 * into a large backing either works or is vgi's own refusal (a format
 * without a layout here), never a refusal from virglrenderer's check.
 */
static void test_every_format(void **state)
{
	struct fx *f = *state;
	unsigned made = 0, refused = 0;
	size_t size = 65536;
	uint8_t *backing = calloc(1, size);
	vgi_log_set_handler(keep_warning, NULL);
	for (uint32_t fmt = 1; fmt < 320; fmt++) {
		struct virtio_gpu_resource_create_3d c = rt(77, 16, 8);
		c.format = fmt;
		c.bind = BIND_SAMPLER_VIEW;
		if (vgi_virgl_resource_create_3d(f->v, &c) != VIRTIO_GPU_RESP_OK_NODATA)
			continue;
		made++;
		struct iovec *iov = calloc(1, sizeof(*iov));
		*iov = (struct iovec){ backing, size };
		assert_int_equal(vgi_virgl_attach_backing(f->v, 77, iov, 1), VIRTIO_GPU_RESP_OK_NODATA);
		struct virtio_gpu_transfer_host_3d t = { .box = { 0, 0, 0, 16, 8, 1 }, .resource_id = 77 };
		last_warning[0] = 0;
		if (vgi_virgl_transfer_3d(f->v, &t, 0, true) != VIRTIO_GPU_RESP_OK_NODATA) {
			printf("format %u: %s\n", fmt, last_warning);
			assert_non_null(strstr(last_warning, "no layout known here"));
			refused++;
		}
		assert_int_equal(vgi_virgl_resource_unref(f->v, 77), VIRTIO_GPU_RESP_OK_NODATA);
		free(iov);
	}
	vgi_log_set_handler(NULL, NULL);
	printf("%u formats made by virglrenderer here, %u without a layout in vgi (no transfers)\n", made, refused);
	free(backing);
	assert_int_equal(f->hostmem, 0);
}

static void test_create_limits(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_resource_create_3d c = rt(0, 16, 16);
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	c = rt(1, 4096, 4096);	/* 64 MiB of 64 MiB allowed: fits exactly */
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_OK_NODATA);
	c = rt(2, 1, 1);	/* nothing left */
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	c = rt(1, 1, 1);
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(vgi_virgl_resource_unref(f->v, 1), VIRTIO_GPU_RESP_OK_NODATA);
	/* 16384^2 x 2048 layers x 16 samples of RGBA32F: refused in 64-bit arithmetic */
	c = rt(3, 16384, 16384);
	c.target = 7;
	c.array_size = 2048;
	c.nr_samples = 16;
	c.format = 31;
	assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	struct virtio_gpu_resource_create_3d bad[] = {
		rt(4, 0, 16), rt(4, 16, 0), rt(4, 16384 + 1, 1), rt(4, 16, 16), rt(4, 16, 16),
		rt(4, 16, 16), rt(4, 16, 16), rt(4, 16, 16),
	};
	bad[3].target = 9;		/* no such target */
	bad[4].depth = 2;		/* depth on a 2D texture */
	bad[5].last_level = 16;
	bad[6].array_size = 0;
	bad[7].target = 0;		/* a buffer with a height */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vgi_virgl_resource_create_3d(f->v, &bad[i]), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_resource_create_2d(f->v, 5, 999, 16, 16), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(vgi_virgl_resource_create_2d(f->v, 5, 2, 16, 16), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_unref(f->v, 5), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_count(f->v), 0);
	assert_int_equal(f->hostmem, 0);
}

/*
 * Ids that shared one chain of the old table (id % 1024): a lookup looks
 * at a handful of entries, whatever ids the guest picked (counted through
 * the table, not timed).
 */
static void test_colliding_ids(void **state)
{
	struct fx *f = *state;
	enum { N = 2048 };
	unsigned max = 0;
	uint64_t total = 0;
	for (uint32_t k = 1; k <= N; k++) {
		struct virtio_gpu_resource_create_3d c = { .resource_id = k * 1024, .target = 0, .format = 64,
							   .width = 16, .height = 1, .depth = 1, .array_size = 1 };
		assert_int_equal(vgi_virgl_resource_create_3d(f->v, &c), VIRTIO_GPU_RESP_OK_NODATA);
	}
	for (uint32_t k = 1; k <= N; k++) {
		unsigned p = vgi_virgl_resource_probes(f->v, k * 1024);
		assert_true(p >= 1);
		total += p;
		if (p > max)
			max = p;
	}
	printf("%u virgl resources with ids k*1024: %.2f entries looked at per lookup, at most %u\n", N,
	       (double)total / N, max);
	assert_true(max <= 16);
	assert_true(total <= 3ull * N);
	for (uint32_t k = 1; k <= N; k++)
		assert_int_equal(vgi_virgl_resource_unref(f->v, k * 1024), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_virgl_resource_count(f->v), 0);
	assert_int_equal(f->hostmem, 0);
}

/* --render-node: a missing node is an error (never a silent fall back); a real one works. */
static void test_render_node(void **state)
{
	struct fx *f = *state;
	struct vgi_virgl_config cfg = { .render_node = "/nonexistent/renderD128", .charge = charge,
					.release = release, .fence = on_fence, .opaque = f };
	/* one virglrenderer per process: the fixture's must go first */
	vgi_virgl_free(f->v);
	f->v = NULL;
	assert_null(vgi_virgl_new(&cfg));
	const char *node = getenv("VGI_TEST_RENDER_NODE");
	if (!node)
		node = "/dev/dri/renderD128";
	cfg.render_node = node;
	if (access(node, R_OK | W_OK) != 0) {
		printf("render node test: %s absent, GBM path not exercised\n", node);
	} else {
		f->v = vgi_virgl_new(&cfg);
		assert_non_null(f->v);
		printf("render node %s: %s\n", node, vgi_virgl_renderer_name(f->v));
		assert_int_equal(vgi_virgl_ctx_create(f->v, 1, 0, "r", 1), VIRTIO_GPU_RESP_OK_NODATA);
		assert_int_equal(vgi_virgl_ctx_destroy(f->v, 1), VIRTIO_GPU_RESP_OK_NODATA);
	}
	/* the fixture's teardown frees f->v (NULL is fine) */
	cfg.render_node = NULL;
	if (!f->v)
		f->v = vgi_virgl_new(&cfg);
	assert_non_null(f->v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capsets),
		cmocka_unit_test(test_contexts),
		cmocka_unit_test(test_clear_and_read_back),
		cmocka_unit_test(test_transfer_limits),
		cmocka_unit_test(test_transfer_formats),
		cmocka_unit_test(test_every_format),
		cmocka_unit_test(test_create_limits),
		cmocka_unit_test(test_colliding_ids),
		cmocka_unit_test(test_render_node),
	};
	/* probe: no EGL at all is a skip, not a failure */
	void *st = NULL;
	if (setup(&st) < 0) {
		printf("SKIP: no surfaceless EGL / virglrenderer on this machine\n");
		return 77;
	}
	teardown(&st);
	return cmocka_run_group_tests(tests, setup, teardown);
}
