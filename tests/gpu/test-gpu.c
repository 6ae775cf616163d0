// SPDX-License-Identifier: MIT
/*
 * The virtio-gpu 2D device driven through real rings by the in-process
 * test guest, command sequences as the Linux driver sends them. Pixels are
 * checked in the headless sink; calls in a small recording sink.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <drm_fourcc.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>
#include <vgi/headless.h>
#include <vgi/log.h>

#include "gpu-guest.h"

#define OK VIRTIO_GPU_RESP_OK_NODATA
#define W0 640
#define H0 480
#define W1 800
#define H1 600

/* ---------------------------------------------------------------- recording sink */

struct rec {
	unsigned scanouts[VGI_MAX_SCANOUTS], updates[VGI_MAX_SCANOUTS], cursors[VGI_MAX_SCANOUTS];
	struct vgi_scanout scanout[VGI_MAX_SCANOUTS];
	struct vgi_rect damage[VGI_MAX_SCANOUTS];
	struct vgi_image img[VGI_MAX_SCANOUTS];
	uint32_t first_px[VGI_MAX_SCANOUTS];	/* pixel at the damage origin during update() */
	struct vgi_cursor cursor[VGI_MAX_SCANOUTS];
	uint32_t cursor_px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
	unsigned destroyed;
	/* hostile sink: kick the control queue from inside update() */
	struct vgi_virtio_device *kick_dev;
	unsigned kicks;
	/* hostile host: reset the device from inside update() */
	struct vgi_virtio_device *reset_dev;
};

static void rec_scanout(void *sink, uint32_t id, const struct vgi_scanout *s)
{
	struct rec *r = sink;

	assert_true(id < VGI_MAX_SCANOUTS);
	r->scanouts[id]++;
	r->scanout[id] = *s;
}

static void rec_update(void *sink, uint32_t id, const struct vgi_rect *d, const struct vgi_image *img)
{
	struct rec *r = sink;

	assert_true(id < VGI_MAX_SCANOUTS);
	/* damage is inside the image it comes with */
	assert_true((uint64_t)d->x + d->width <= img->width);
	assert_true((uint64_t)d->y + d->height <= img->height);
	assert_true(d->width > 0 && d->height > 0);
	r->updates[id]++;
	r->damage[id] = *d;
	r->img[id] = *img;
	memcpy(&r->first_px[id], (const uint8_t *)img->data + (size_t)d->y * img->stride + (size_t)d->x * 4, 4);
	if (r->kick_dev && r->kicks++ < 3)
		vgi_virtio_device_kick(r->kick_dev, 0);
	if (r->reset_dev) {
		struct vgi_virtio_device *dev = r->reset_dev;

		r->reset_dev = NULL;
		vgi_virtio_device_reset(dev);
	}
}

static void rec_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct rec *r = sink;

	assert_true(id < VGI_MAX_SCANOUTS);
	r->cursors[id]++;
	r->cursor[id] = *c;
	if (c->image_changed) {
		assert_non_null(c->pixels);
		memcpy(r->cursor_px, c->pixels, sizeof(r->cursor_px));
	}
	r->cursor[id].pixels = NULL;
}

static void rec_destroy(void *sink)
{
	((struct rec *)sink)->destroyed++;
}

static const struct vgi_display_ops rec_ops = {
	.scanout = rec_scanout,
	.update = rec_update,
	.cursor = rec_cursor,
	.destroy = rec_destroy,
};

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct tg_guest *g;
	struct vgi_gpu *gpu;
	struct gg *gg;
	struct rec rec;
	struct vgi_headless *hl;
	unsigned warnings;
};

static unsigned warnings;

static void count_log(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (level <= VGI_LOG_WARN)
		warnings++;
	if (getenv("VGI_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", msg);
}

static struct fx *fx_new(const struct vgi_gpu_config *cfg_in)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vgi_gpu_config cfg;

	if (cfg_in) {
		cfg = *cfg_in;
	} else {
		vgi_gpu_config_init(&cfg);
		cfg.num_scanouts = 2;
		cfg.outputs[0] = (struct vgi_gpu_output_config){ W0, H0, false };
		cfg.outputs[1] = (struct vgi_gpu_output_config){ W1, H1, false };
	}
	f->g = tg_guest_new(48u << 20);
	f->gpu = vgi_gpu_new(&cfg);
	assert_non_null(f->gpu);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, &rec_ops, &f->rec), 0);
	f->hl = vgi_headless_new(NULL);
	assert_non_null(f->hl);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, vgi_headless_ops(), f->hl), 0);
	f->gg = gg_new(f->g, f->gpu);
	warnings = 0;
	return f;
}

static void fx_free(struct fx *f)
{
	gg_free(f->gg);
	vgi_gpu_free(f->gpu);	/* destroys both sinks */
	assert_int_equal(f->rec.destroyed, 1);
	tg_guest_free(f->g);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* Every resource gone: nothing charged, nothing in the table. */
static void assert_empty(struct fx *f)
{
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

static uint32_t pattern(uint32_t x, uint32_t y)
{
	return 0xff000000u | ((x * 7) & 0xff) << 16 | ((y * 3) & 0xff) << 8 | ((x ^ y) & 0xff);
}

static void fill_pattern(struct fx *f, const struct gg_fb *fb)
{
	for (uint32_t y = 0; y < fb->height; y++)
		for (uint32_t x = 0; x < fb->width; x++)
			gg_fb_put(f->gg, fb, x, y, pattern(x, y));
}

static uint32_t frame_px(struct fx *f, uint32_t id, uint32_t x, uint32_t y)
{
	const struct vgi_image *img = vgi_headless_frame(f->hl, id);
	uint32_t p;

	assert_non_null(img);
	assert_true(x < img->width && y < img->height);
	memcpy(&p, (const uint8_t *)img->data + (size_t)y * img->stride + (size_t)x * 4, 4);
	return p;
}

/* ---------------------------------------------------------------- probe */

static void test_probe(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_config c;

	assert_true(f->gg->features & (1ull << VIRTIO_GPU_F_EDID));
	assert_true(f->gg->features & (1ull << VIRTIO_GPU_F_RESOURCE_UUID));
	assert_true(f->gg->features & (1ull << VIRTIO_F_VERSION_1));
	assert_false(f->gg->features & (1ull << VIRTIO_GPU_F_VIRGL));
	vgi_virtio_device_read_config(f->gg->dev, 0, &c, sizeof(c));
	assert_int_equal(c.num_scanouts, 2);
	assert_int_equal(c.num_capsets, 0);
	assert_int_equal(c.events_read, 0);

	assert_int_equal(gg_get_display_info(f->gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(f->gg->used_len, sizeof(info));
	assert_int_equal(info.pmodes[0].enabled, 1);
	assert_int_equal(info.pmodes[0].r.width, W0);
	assert_int_equal(info.pmodes[0].r.height, H0);
	assert_int_equal(info.pmodes[1].enabled, 1);
	assert_int_equal(info.pmodes[1].r.width, W1);
	assert_int_equal(info.pmodes[1].r.height, H1);
	for (int i = 2; i < 16; i++)
		assert_int_equal(info.pmodes[i].enabled, 0);
	assert_true(f->gg->irqs[0] > 0);
}

static void test_get_edid(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_resp_edid *e = calloc(1, sizeof(*e));
	uint8_t sum = 0;

	assert_int_equal(gg_get_edid(f->gg, 1, e), VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(f->gg->used_len, sizeof(*e));
	assert_int_equal(e->size, 128);
	for (int i = 0; i < 128; i++)
		sum = (uint8_t)(sum + e->edid[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(e->edid[56] | ((e->edid[58] >> 4) << 8), W1);
	assert_int_equal(e->edid[59] | ((e->edid[61] >> 4) << 8), H1);
	assert_int_equal(e->edid[128], 0);	/* nothing past the block */
	/* the frontend's EDID, when it gave one, is what the guest gets */
	{
		uint8_t blob[256];

		for (int i = 0; i < 256; i++)
			blob[i] = (uint8_t)(255 - i);
		assert_int_equal(vgi_gpu_set_edid(f->gpu, 1, blob, 256), 0);
		assert_int_equal(gg_get_edid(f->gg, 1, e), VIRTIO_GPU_RESP_OK_EDID);
		assert_int_equal(e->size, 256);
		assert_memory_equal(e->edid, blob, 256);
		assert_int_equal(e->edid[256], 0);
		assert_int_equal(vgi_gpu_set_edid(f->gpu, 1, NULL, 0), 0);
		assert_int_equal(gg_get_edid(f->gg, 1, e), VIRTIO_GPU_RESP_OK_EDID);
		assert_int_equal(e->size, 128);
	}
	/* an output too big for a detailed timing: base block plus DisplayID */
	assert_int_equal(vgi_gpu_set_output(f->gpu, 0, true, 7680, 4320), 0);
	assert_int_equal(gg_get_edid(f->gg, 0, e), VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(e->size, 256);
	assert_int_equal(e->edid[126], 1);
	assert_int_equal(e->edid[128], 0x70);
	/* scanout out of range: ERR_INVALID_PARAMETER, as QEMU */
	assert_int_equal(gg_get_edid(f->gg, 2, e), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_get_edid(f->gg, 0xffffffffu, e), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	free(e);
}

static void test_get_edid_not_offered(void **state)
{
	struct vgi_gpu_config cfg;
	struct fx *f;
	struct virtio_gpu_resp_edid *e = calloc(1, sizeof(*e));
	uint8_t uuid[16];

	vgi_gpu_config_init(&cfg);
	cfg.edid = false;
	cfg.resource_uuid = false;
	f = fx_new(&cfg);
	assert_false(f->gg->features & (1ull << VIRTIO_GPU_F_EDID));
	assert_int_equal(gg_get_edid(f->gg, 0, e), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	assert_int_equal(gg_assign_uuid(f->gg, 1, uuid), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	fx_free(f);
	free(e);
}

/* ---------------------------------------------------------------- the dumb-buffer path */

static void test_dumb_framebuffer(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb;
	uint64_t charged;

	fb = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W0, H0);
	assert_true(fb->nents > 10);	/* scattered */
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);
	charged = vgi_gpu_hostmem_used(f->gpu);
	assert_true(charged >= (uint64_t)W0 * H0 * 4);
	fill_pattern(f, fb);

	/* modeset: SET_SCANOUT then a full flush */
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, W0, H0), OK);
	assert_int_equal(f->rec.scanouts[0], 1);
	assert_true(f->rec.scanout[0].enabled);
	assert_int_equal(f->rec.scanout[0].width, W0);
	assert_int_equal(f->rec.scanout[0].height, H0);
	assert_int_equal(f->rec.scanout[0].format, DRM_FORMAT_XRGB8888);
	assert_int_equal(f->rec.scanouts[1], 0);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, W0, H0), OK);
	assert_int_equal(f->rec.damage[0].width, W0);
	assert_int_equal(f->rec.damage[0].height, H0);
	assert_int_equal(f->rec.img[0].format, DRM_FORMAT_XRGB8888);
	assert_int_equal(f->rec.img[0].stride, W0 * 4);
	for (uint32_t y = 0; y < H0; y += 13)
		for (uint32_t x = 0; x < W0; x += 7)
			assert_int_equal(frame_px(f, 0, x, y), pattern(x, y));
	assert_int_equal(frame_px(f, 0, W0 - 1, H0 - 1), pattern(W0 - 1, H0 - 1));

	/* dirty rect in the middle, crossing page boundaries in both directions */
	gg_fb_fill_rect(f->gg, fb, 300, 200, 77, 33, 0xff123456);
	gg_fb_fill_rect(f->gg, fb, 0, 0, W0, 1, 0xffabcdef);	/* not transferred */
	assert_int_equal(gg_fb_dirty(f->gg, fb, 300, 200, 77, 33), OK);
	assert_int_equal(f->rec.damage[0].x, 300);
	assert_int_equal(f->rec.damage[0].y, 200);
	assert_int_equal(f->rec.damage[0].width, 77);
	assert_int_equal(f->rec.damage[0].height, 33);
	assert_int_equal(f->rec.first_px[0], 0xff123456);
	assert_int_equal(frame_px(f, 0, 300, 200), 0xff123456);
	assert_int_equal(frame_px(f, 0, 376, 232), 0xff123456);
	assert_int_equal(frame_px(f, 0, 377, 232), pattern(377, 232));
	assert_int_equal(frame_px(f, 0, 299, 200), pattern(299, 200));
	assert_int_equal(frame_px(f, 0, 300, 233), pattern(300, 233));
	assert_int_equal(frame_px(f, 0, 5, 0), pattern(5, 0));
	/* a flush without a transfer shows the host copy, not guest memory */
	assert_int_equal(gg_flush(f->gg, 1, 0, 0, W0, 1), OK);
	assert_int_equal(frame_px(f, 0, 5, 0), pattern(5, 0));
	/* a full-width band (the contiguous path) */
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, W0, 2), OK);
	assert_int_equal(frame_px(f, 0, 5, 0), 0xffabcdef);
	assert_int_equal(frame_px(f, 0, 5, 1), pattern(5, 1));

	/* teardown as the driver does: disable, unref (no detach) */
	assert_int_equal(gg_set_scanout(f->gg, 0, 0, 0, 0, 0, 0), OK);
	assert_false(f->rec.scanout[0].enabled);
	assert_null(vgi_headless_frame(f->hl, 0));
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* Without indirect descriptors the chains are plain ones. */
static void test_direct_descriptors(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb;

	f->gg->indirect = false;
	fb = gg_fb_new(f->gg, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 100);
	fill_pattern(f, fb);
	assert_int_equal(gg_set_scanout(f->gg, 1, 9, 0, 0, 100, 100), OK);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 10, 10, 50, 50), OK);
	assert_int_equal(frame_px(f, 1, 59, 59), pattern(59, 59));
	assert_int_equal(gg_detach_backing(f->gg, 9), OK);
	assert_int_equal(gg_unref(f->gg, 9), OK);
	assert_false(f->rec.scanout[1].enabled);	/* unref disabled the scanout */
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* All eight 32-bit formats: bytes in memory order R,G,B,A at known places. */
static void test_formats(void **state)
{
	static const struct {
		uint32_t format, fourcc;
		int r, g, b, a;	/* byte index of each channel in memory; a = -1: X */
		bool alpha;
	} fmts[] = {
		{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DRM_FORMAT_ARGB8888, 2, 1, 0, 3, true },
		{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DRM_FORMAT_XRGB8888, 2, 1, 0, 3, false },
		{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DRM_FORMAT_BGRA8888, 1, 2, 3, 0, true },
		{ VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, DRM_FORMAT_BGRX8888, 1, 2, 3, 0, false },
		{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DRM_FORMAT_ABGR8888, 0, 1, 2, 3, true },
		{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DRM_FORMAT_RGBX8888, 3, 2, 1, 0, false },
		{ VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, DRM_FORMAT_RGBA8888, 3, 2, 1, 0, true },
		{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DRM_FORMAT_XBGR8888, 0, 1, 2, 3, false },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		uint32_t id = 100 + (uint32_t)i;
		struct gg_fb *fb = gg_fb_new(f->gg, id, fmts[i].format, 32, 16);
		uint8_t px[4];
		uint32_t got;

		px[fmts[i].r] = 0x11;
		px[fmts[i].g] = 0x22;
		px[fmts[i].b] = 0x33;
		px[fmts[i].a] = 0xff;
		for (uint32_t y = 0; y < 16; y++)
			for (uint32_t x = 0; x < 32; x++)
				memcpy(gg_fb_byte(f->gg, fb, (uint64_t)y * fb->stride + x * 4), px, 4);
		assert_int_equal(gg_set_scanout(f->gg, 0, id, 0, 0, 32, 16), OK);
		assert_int_equal(f->rec.scanout[0].format, fmts[i].fourcc);
		assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, 32, 16), OK);
		got = frame_px(f, 0, 31, 15);
		assert_int_equal(got & 0xffffff, 0x112233);
		assert_int_equal(f->rec.img[0].format, fmts[i].fourcc);
		assert_int_equal(gg_unref(f->gg, id), OK);
		gg_fb_free(f->gg, fb);
	}
	assert_empty(f);
}

/* ---------------------------------------------------------------- RESOURCE_CREATE_2D */

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	const uint32_t X = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;

	assert_int_equal(gg_create_2d(f->gg, 0, X, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_create_2d(f->gg, 5, 0, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_create_2d(f->gg, 5, 100, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);	/* 16-bit and others */
	assert_int_equal(gg_create_2d(f->gg, 5, 0xffffffffu, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 0, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 64, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 0xffffffffu, 1), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 1, 0xffffffffu), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 0xffffffffu, 0xffffffffu), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(gg_create_2d(f->gg, 5, X, 0x40000000u, 4), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);	/* stride wraps 32 bits */
	assert_int_equal(gg_create_2d(f->gg, 5, X, 65536, 65536), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_empty(f);	/* CVE-2021-3544: nothing left behind by failed creates */
	assert_int_equal(gg_create_2d(f->gg, 0xffffffffu, X, 1, 1), OK);	/* largest id, smallest size */
	assert_int_equal(gg_create_2d(f->gg, 0xffffffffu, X, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);
	assert_int_equal(gg_unref(f->gg, 0xffffffffu), OK);
	assert_int_equal(gg_unref(f->gg, 0xffffffffu), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_unref(f->gg, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_unref(f->gg, 77), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_empty(f);
}

/* Many resources: the table's hash chains. */
static void test_many_resources(void **state)
{
	struct fx *f = *state;

	for (uint32_t i = 1; i <= 3000; i++)
		assert_int_equal(gg_create_2d(f->gg, i * 1024, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 4, 4), OK);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 3000);
	for (uint32_t i = 3000; i >= 1; i -= 2)
		assert_int_equal(gg_unref(f->gg, i * 1024), OK);
	for (uint32_t i = 1; i <= 3000; i += 2)
		assert_int_equal(gg_unref(f->gg, i * 1024), OK);
	assert_empty(f);
}

/* The table's hash before it was keyed: (id * 2654435761) >> 22. */
static uint32_t old_bucket(uint32_t id)
{
	return (id * 2654435761u) >> 22;
}

/*
 * Ids a guest picks to share one chain of a fixed hash (the core's old
 * multiplicative one, and multiples of 1024 for virgl's old id % 1024):
 * a lookup must still look at a handful of entries, not at all of them.
 * Counted through the table itself (vgi_gpu_resource_probes), not timed.
 */
static void test_colliding_ids(void **state)
{
	struct fx *f = *state;
	enum { N = 2048 };
	static uint32_t ids[2 * N];
	unsigned n = 0, max = 0;
	uint64_t total = 0;

	for (uint32_t id = 1; n < N; id++)
		if (old_bucket(id) == 0)
			ids[n++] = id;
	for (uint32_t k = 1; n < 2 * N; k++)
		if (old_bucket(k * 1024) != 0)	/* not already in */
			ids[n++] = k * 1024;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(gg_create_2d(f->gg, ids[i], VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 1, 1), OK);
	for (unsigned i = 0; i < n; i++) {
		unsigned p = vgi_gpu_resource_probes(f->gpu, ids[i]);

		assert_true(p >= 1);
		total += p;
		if (p > max)
			max = p;
	}
	printf("%u resources with colliding ids: %.2f entries looked at per lookup, at most %u\n", n,
	       (double)total / n, max);
	assert_true(max <= 16);
	assert_true(total <= 3ull * n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(gg_unref(f->gg, ids[i]), OK);
	assert_empty(f);
}

/* cfg.max_resources: ERR_OUT_OF_MEMORY past it, room again after an unref. */
static void test_resource_cap(void **state)
{
	struct vgi_gpu_config cfg;
	struct fx *f;

	(void)state;
	vgi_gpu_config_init(&cfg);
	assert_int_equal(cfg.max_resources, VGI_GPU_DEFAULT_MAX_RESOURCES);
	cfg.max_resources = 100;
	f = fx_new(&cfg);
	for (uint32_t i = 1; i <= 100; i++)
		assert_int_equal(gg_create_2d(f->gg, i, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 1, 1), OK);
	assert_int_equal(gg_create_2d(f->gg, 101, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 1, 1),
			 VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 100);
	assert_int_equal(gg_unref(f->gg, 7), OK);
	assert_int_equal(gg_create_2d(f->gg, 101, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 1, 1), OK);
	for (uint32_t i = 1; i <= 101; i++)
		if (i != 7)
			assert_int_equal(gg_unref(f->gg, i), OK);
	assert_empty(f);
	fx_free(f);
}

/* ---------------------------------------------------------------- SET_SCANOUT */

static void test_set_scanout_errors(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_new(f->gg, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 256, 128);

	/* CVE-2016-10029: scanout id past num_scanouts */
	assert_int_equal(gg_set_scanout(f->gg, 2, 3, 0, 0, 256, 128), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(gg_set_scanout(f->gg, 16, 3, 0, 0, 256, 128), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(gg_set_scanout(f->gg, 0xffffffffu, 3, 0, 0, 256, 128),
			 VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(gg_set_scanout(f->gg, 0xffffffffu, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(gg_set_scanout(f->gg, 0, 4, 0, 0, 256, 128), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	/* rect outside the resource, including 32-bit wrap of x + w */
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0, 0, 257, 128), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 1, 0, 256, 128), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0, 1, 256, 128), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0xffffff00u, 0, 0x200, 128),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0, 0xfffffff0u, 256, 0x20),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0, 0, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);	/* < 16 */
	assert_int_equal(f->rec.scanouts[0], 0);
	/* no backing: as QEMU, ERR_INVALID_RESOURCE_ID */
	assert_int_equal(gg_create_2d(f->gg, 8, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	assert_int_equal(gg_set_scanout(f->gg, 0, 8, 0, 0, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);

	/* a sub-rect; then move the scanout to another resource; then disable twice */
	fill_pattern(f, fb);
	assert_int_equal(gg_set_scanout(f->gg, 1, 3, 100, 50, 120, 60), OK);
	assert_int_equal(f->rec.scanout[1].width, 120);
	assert_int_equal(f->rec.scanout[1].height, 60);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, 256, 128), OK);
	/* flush damage is clipped to the scanout and in its coordinates */
	assert_int_equal(f->rec.damage[1].x, 0);
	assert_int_equal(f->rec.damage[1].y, 0);
	assert_int_equal(f->rec.damage[1].width, 120);
	assert_int_equal(f->rec.damage[1].height, 60);
	assert_int_equal(frame_px(f, 1, 0, 0), pattern(100, 50));
	assert_int_equal(frame_px(f, 1, 119, 59), pattern(219, 109));
	assert_int_equal(gg_flush(f->gg, 3, 90, 40, 20, 20), OK);
	assert_int_equal(f->rec.damage[1].x, 0);
	assert_int_equal(f->rec.damage[1].y, 0);
	assert_int_equal(f->rec.damage[1].width, 10);
	assert_int_equal(f->rec.damage[1].height, 10);
	{
		unsigned before = f->rec.updates[1];

		assert_int_equal(gg_flush(f->gg, 3, 0, 0, 100, 128), OK);	/* left of the scanout */
		assert_int_equal(f->rec.updates[1], before);
	}
	assert_int_equal(gg_unref(f->gg, 8), OK);
	assert_int_equal(gg_set_scanout(f->gg, 1, 0, 0, 0, 0, 0), OK);
	assert_false(f->rec.scanout[1].enabled);
	assert_int_equal(gg_set_scanout(f->gg, 1, 0, 0, 0, 0, 0), OK);
	assert_int_equal(gg_unref(f->gg, 3), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* One resource on both scanouts: a flush updates both. */
static void test_two_scanouts(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_new(f->gg, 20, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W0 + W1, H1);

	fill_pattern(f, fb);
	assert_int_equal(gg_set_scanout(f->gg, 0, 20, 0, 0, W0, H0), OK);
	assert_int_equal(gg_set_scanout(f->gg, 1, 20, W0, 0, W1, H1), OK);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, W0 + W1, H1), OK);
	assert_int_equal(frame_px(f, 0, 10, 10), pattern(10, 10));
	assert_int_equal(frame_px(f, 1, 10, 10), pattern(W0 + 10, 10));
	gg_fb_fill_rect(f->gg, fb, W0 - 10, 100, 20, 5, 0xff00ff00);
	assert_int_equal(gg_fb_dirty(f->gg, fb, W0 - 10, 100, 20, 5), OK);
	assert_int_equal(f->rec.damage[0].x, W0 - 10);
	assert_int_equal(f->rec.damage[0].width, 10);
	assert_int_equal(f->rec.damage[1].x, 0);
	assert_int_equal(f->rec.damage[1].width, 10);
	assert_int_equal(frame_px(f, 0, W0 - 1, 104), 0xff00ff00);
	assert_int_equal(frame_px(f, 1, 0, 100), 0xff00ff00);
	assert_int_equal(gg_unref(f->gg, 20), OK);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(f->rec.scanout[1].enabled);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* ---------------------------------------------------------------- FLUSH / TRANSFER */

static void test_flush_errors(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gg_flush(f->gg, 1, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	assert_int_equal(gg_flush(f->gg, 1, 0, 0, 64, 64), OK);	/* no backing, not shown: fine */
	assert_int_equal(gg_flush(f->gg, 1, 0, 0, 65, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_flush(f->gg, 1, 0xffffffffu, 0, 2, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_flush(f->gg, 1, 0, 0xfffffff0u, 1, 0x20), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_flush(f->gg, 1, 64, 64, 0, 0), OK);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
}

static void test_transfer_errors(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb;
	uint64_t size;

	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	/* no backing attached */
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_unref(f->gg, 1), OK);

	fb = gg_fb_new(f->gg, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 50);	/* 20000 bytes, 5 pages */
	size = fb->size;
	assert_int_equal(size, 20480);
	/* rect outside the resource, incl. x + w wrapping 32 bits */
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 0, 0, 101, 50), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 0xffffffffu, 0, 2, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 0, 0xffffffffu, 1, 2), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 50, 0, 0xffffffceu, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* offset past the backing; offset + rows past it; offsets that wrap 64 bits */
	assert_int_equal(gg_transfer_2d(f->gg, 2, size, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, size - 3, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, size - 4, 0, 0, 1, 1), OK);	/* last pixel of the backing */
	assert_int_equal(gg_transfer_2d(f->gg, 2, UINT64_MAX, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, UINT64_MAX - 3, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* rows with the resource's stride: the last row must be in the backing */
	assert_int_equal(gg_transfer_2d(f->gg, 2, 400 * 4, 0, 4, 100, 46), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 401 * 4 + 480, 0, 4, 100, 46), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 0, 0, 0, 0), OK);	/* empty */
	assert_int_equal(gg_transfer_2d(f->gg, 2, size, 0, 0, 0, 0), OK);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	gg_fb_free(f->gg, fb);

	/*
	 * Stride mismatch: the guest backs a 64-wide resource with memory laid
	 * out for a 32-pixel pitch (half the size). The device reads rows with
	 * the resource's pitch, so transfers that would run past the smaller
	 * backing fail, and those inside it read the resource-pitch rows.
	 */
	fb = gg_fb_alloc(f->gg, 4, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 32, 64);	/* 8 KiB */
	assert_int_equal(gg_create_2d(f->gg, 4, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	assert_int_equal(gg_attach_backing(f->gg, 4, fb->ents, fb->nents), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 4, 0, 0, 0, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 4, 0, 0, 0, 64, 32), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 4, 0, 0, 0, 64, 33), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 4, 256 * 31, 0, 31, 32, 2), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gg_transfer_2d(f->gg, 4, 256 * 31, 0, 31, 32, 1), OK);
	gg_fb_put(f->gg, fb, 0, 2, 0xff010203);	/* guest pitch 128: byte 256 */
	assert_int_equal(gg_set_scanout(f->gg, 0, 4, 0, 0, 64, 64), OK);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, 64, 2), OK);
	assert_int_equal(frame_px(f, 0, 0, 1), 0xff010203);	/* device pitch 256: row 1 */
	assert_int_equal(gg_unref(f->gg, 4), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* ---------------------------------------------------------------- ATTACH / DETACH */

static void test_attach_errors(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_alloc(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 128, 128);
	struct virtio_gpu_mem_entry bad[4];
	uint64_t base;
	uint64_t hole = f->g->ram_gpa[0] + f->g->ram_size[0];	/* first byte after region 0 */

	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, fb->nents), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 128, 128), OK);
	base = vgi_gpu_hostmem_used(f->gpu);

	/* nr_entries 0 and past the cap */
	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);
	{
		struct virtio_gpu_resource_attach_backing c = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, .resource_id = 1, .nr_entries = 16385 };

		assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), fb->ents, 16 * fb->nents, NULL, 24),
				 VIRTIO_GPU_RESP_ERR_UNSPEC);
		c.nr_entries = 0xffffffffu;
		assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), fb->ents, 16 * fb->nents, NULL, 24),
				 VIRTIO_GPU_RESP_ERR_UNSPEC);
		/* more entries announced than sent */
		c.nr_entries = fb->nents + 1;
		assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), fb->ents, 16 * fb->nents, NULL, 24),
				 VIRTIO_GPU_RESP_ERR_UNSPEC);
	}
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	/* entries outside guest RAM: in the hole, wrapping, length 0, huge length */
	memcpy(bad, fb->ents, sizeof(bad));
	bad[2] = (struct virtio_gpu_mem_entry){ hole, 4096, 0 };
	assert_int_equal(gg_attach_backing(f->gg, 1, bad, 4), VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[2] = (struct virtio_gpu_mem_entry){ hole - 4096, 8192, 0 };	/* runs into the hole */
	assert_int_equal(gg_attach_backing(f->gg, 1, bad, 4), VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[2] = (struct virtio_gpu_mem_entry){ UINT64_MAX - 100, 4096, 0 };
	assert_int_equal(gg_attach_backing(f->gg, 1, bad, 4), VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[2] = (struct virtio_gpu_mem_entry){ fb->ents[2].addr, 0, 0 };
	assert_int_equal(gg_attach_backing(f->gg, 1, bad, 4), VIRTIO_GPU_RESP_ERR_UNSPEC);
	bad[2] = (struct virtio_gpu_mem_entry){ 0, 0xffffffffu, 0 };
	assert_int_equal(gg_attach_backing(f->gg, 1, bad, 4), VIRTIO_GPU_RESP_ERR_UNSPEC);
	/* CVE-2021-3544: every failed attach left nothing allocated */
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);

	/* the real thing, then twice */
	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, fb->nents), OK);
	assert_true(vgi_gpu_hostmem_used(f->gpu) > base);
	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, fb->nents), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 128, 128), OK);
	/* detach: then no transfer, no second detach; attach again works */
	assert_int_equal(gg_detach_backing(f->gg, 1), OK);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);
	assert_int_equal(gg_detach_backing(f->gg, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_detach_backing(f->gg, 99), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 128, 128), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, fb->nents), OK);
	/* unref with backing attached frees it (CVE-2021-3544) */
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* One entry spanning both RAM regions' ends is not contiguous; entries that alias are fine. */
static void test_attach_odd_layouts(void **state)
{
	struct fx *f = *state;
	uint64_t p = tg_alloc_page(f->g);
	struct virtio_gpu_mem_entry e[64];
	struct gg_fb view = { .id = 1, .width = 64, .height = 16, .stride = 256, .npages = 1, .pages = &p,
			      .size = 4096 };

	/* 16 rows of 256 bytes all backed by the same page, one entry per row, unaligned lengths */
	for (int i = 0; i < 16; i++)
		e[i] = (struct virtio_gpu_mem_entry){ p + (uint64_t)(i % 2) * 2048, 256, 0 };
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 16), OK);
	assert_int_equal(gg_attach_backing(f->gg, 1, e, 16), OK);
	memset(tg_host(f->g, p), 0, 4096);
	gg_fb_put(f->gg, &view, 3, 0, 0xff0000ffu);	/* row 0 */
	gg_fb_put(f->gg, &view, 5, 8, 0xff00ff00u);	/* byte 2048+20: rows 1,3,5.. */
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 64, 16), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 64, 16), OK);
	assert_int_equal(gg_flush(f->gg, 1, 0, 0, 64, 16), OK);
	assert_int_equal(frame_px(f, 0, 3, 0), 0xff0000ffu);
	assert_int_equal(frame_px(f, 0, 3, 2), 0xff0000ffu);
	assert_int_equal(frame_px(f, 0, 5, 1), 0xff00ff00u);
	assert_int_equal(frame_px(f, 0, 5, 15), 0xff00ff00u);
	/* a sub-rect transfer through the row path with 256-byte runs */
	gg_fb_put(f->gg, &view, 10, 0, 0xff777777u);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 7 * 256 + 40, 10, 7, 2, 3), OK);
	assert_int_equal(gg_flush(f->gg, 1, 0, 0, 64, 16), OK);
	assert_int_equal(frame_px(f, 0, 10, 8), 0xff777777u);
	assert_int_equal(frame_px(f, 0, 10, 7) & 0xffffff, 0);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	tg_free_page(f->g, p);
}

/*
 * Random backing layouts (pieces of 1 byte to a page, at random places in
 * scattered pages, several per page) and random transfers, against a
 * reference computed here from the same guest bytes.
 */
static void test_random_layouts(void **state)
{
	enum { RW = 100, RH = 37, STRIDE = RW * 4, SIZE = STRIDE * RH, ITER = 150 };
	struct fx *f = *state;
	uint32_t seed = 777;
	uint8_t *ref = malloc(SIZE);
	uint32_t *expect = calloc(RW * RH, 4);

	for (int layout = 0; layout < 6; layout++) {
		struct virtio_gpu_mem_entry *e = calloc(SIZE, sizeof(*e));
		uint64_t pages[SIZE / 16 + 16];
		uint32_t ne = 0, np = 0, done = 0;

		/* cut [0, SIZE) into pieces; short ones share a page */
		while (done < SIZE) {
			uint32_t len, off;

			seed = seed * 1103515245u + 12345u;
			switch ((seed >> 16) % 3) {
			case 0: len = 1 + (seed >> 8) % 16; break;
			case 1: len = 17 + (seed >> 8) % 600; break;
			default: len = 601 + (seed >> 8) % (4096 - 600); break;
			}
			if (len > SIZE - done)
				len = SIZE - done;
			seed = seed * 1103515245u + 12345u;
			off = (seed >> 8) % (4096 - len + 1);
			if (np == 0 || layout % 2 || len > 64) {
				pages[np++] = tg_alloc_page(f->g);
			}
			e[ne++] = (struct virtio_gpu_mem_entry){ pages[np - 1] + off, len, 0 };
			for (uint32_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				ref[done + i] = (uint8_t)(seed >> 13);
			}
			/* pieces sharing a page may overlap: write in order, re-read the reference at the end */
			memcpy(tg_host(f->g, pages[np - 1] + off), ref + done, len);
			done += len;
		}
		/* what the device will read: the guest bytes as they are now (overlaps resolved) */
		done = 0;
		for (uint32_t i = 0; i < ne; i++) {
			memcpy(ref + done, tg_host(f->g, e[i].addr), e[i].length);
			done += e[i].length;
		}
		assert_int_equal(gg_create_2d(f->gg, 7, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, RW, RH), OK);
		assert_int_equal(gg_attach_backing(f->gg, 7, e, ne), OK);
		assert_int_equal(gg_set_scanout(f->gg, 0, 7, 0, 0, RW, RH), OK);
		memset(expect, 0, RW * RH * 4);
		for (int it = 0; it < ITER; it++) {
			uint32_t x, y, w, h;
			uint64_t offset;

			seed = seed * 1103515245u + 12345u;
			x = (seed >> 8) % RW;
			seed = seed * 1103515245u + 12345u;
			y = (seed >> 8) % RH;
			seed = seed * 1103515245u + 12345u;
			w = 1 + (seed >> 8) % (RW - x);
			seed = seed * 1103515245u + 12345u;
			h = 1 + (seed >> 8) % (RH - y);
			if (it % 5 == 0) {	/* full rows: the contiguous path */
				x = 0;
				w = RW;
			}
			offset = (uint64_t)y * STRIDE + x * 4;
			if (it % 7 == 3 && offset >= 4)	/* rows from elsewhere in the backing */
				offset -= 4 * ((seed >> 4) % (offset / 4));
			assert_int_equal(gg_transfer_2d(f->gg, 7, offset, x, y, w, h), OK);
			for (uint32_t r = 0; r < h; r++)
				memcpy(&expect[(y + r) * RW + x], ref + offset + (uint64_t)r * STRIDE, (size_t)w * 4);
			assert_int_equal(gg_flush(f->gg, 7, 0, 0, RW, RH), OK);
			for (uint32_t py = 0; py < RH; py++)
				for (uint32_t px = 0; px < RW; px++)
					if ((frame_px(f, 0, px, py) & 0xffffff) != (expect[py * RW + px] & 0xffffff))
						fail_msg("layout %d iteration %d: pixel %u,%u is %08x, expected %08x", layout,
							 it, px, py, frame_px(f, 0, px, py), expect[py * RW + px]);
		}
		assert_int_equal(gg_unref(f->gg, 7), OK);
		assert_empty(f);
		for (uint32_t i = 0; i < np; i++)
			tg_free_page(f->g, pages[i]);
		free(e);
	}
	free(ref);
	free(expect);
}

/* ---------------------------------------------------------------- UUID */

static void test_assign_uuid(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16], c[16];

	assert_int_equal(gg_assign_uuid(f->gg, 1, a), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(gg_create_2d(f->gg, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(gg_assign_uuid(f->gg, 1, a), VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_int_equal(f->gg->used_len, sizeof(struct virtio_gpu_resp_resource_uuid));
	assert_int_equal(a[6] >> 4, 4);
	assert_int_equal(a[8] >> 6, 2);
	assert_int_equal(gg_assign_uuid(f->gg, 1, b), VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_memory_equal(a, b, 16);	/* stable */
	assert_int_equal(gg_assign_uuid(f->gg, 2, c), VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_memory_not_equal(a, c, 16);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	assert_empty(f);
}

/* ---------------------------------------------------------------- cursor */

static void test_cursor(void **state)
{
	struct fx *f = *state;
	struct gg_fb *cur = gg_fb_new(f->gg, 50, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
	struct gg_fb *small = gg_fb_new(f->gg, 51, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 32, 32);
	struct gg_fb *abgr = gg_fb_new(f->gg, 52, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 64, 64);
	const struct vgi_cursor *hc;

	for (uint32_t y = 0; y < 64; y++)
		for (uint32_t x = 0; x < 64; x++)
			gg_fb_put(f->gg, cur, x, y, x < 32 ? 0xffff0000u : 0x80000080u);
	/* the driver transfers the cursor image then sends UPDATE_CURSOR */
	assert_int_equal(gg_transfer_2d(f->gg, 50, 0, 0, 0, 64, 64), OK);
	gg_update_cursor(f->gg, 0, 50, 100, 200, 3, 4);
	assert_int_equal(f->rec.cursors[0], 1);
	assert_true(f->rec.cursor[0].visible);
	assert_true(f->rec.cursor[0].image_changed);
	assert_int_equal(f->rec.cursor[0].x, 100);
	assert_int_equal(f->rec.cursor[0].y, 200);
	assert_int_equal(f->rec.cursor[0].hot_x, 3);
	assert_int_equal(f->rec.cursor[0].hot_y, 4);
	assert_int_equal(f->rec.cursor_px[0], 0xffff0000u);
	assert_int_equal(f->rec.cursor_px[63 * 64 + 63], 0x80000080u);
	hc = vgi_headless_cursor(f->hl, 0);
	assert_non_null(hc);
	assert_true(hc->visible);
	assert_int_equal(hc->x, 100);

	gg_move_cursor(f->gg, 0, 50, -5, 7);
	assert_int_equal(f->rec.cursors[0], 2);
	assert_false(f->rec.cursor[0].image_changed);
	assert_true(f->rec.cursor[0].visible);
	assert_int_equal(f->rec.cursor[0].x, -5);
	assert_int_equal(f->rec.cursor[0].y, 7);
	assert_int_equal(f->rec.cursor[0].hot_x, 3);

	/* the alpha-last byte order is converted to ARGB8888 */
	for (uint32_t y = 0; y < 64; y++)
		for (uint32_t x = 0; x < 64; x++)
			gg_fb_put(f->gg, abgr, x, y, 0xff0000ffu);	/* bytes R=ff,G=0,B=0,A=ff */
	assert_int_equal(gg_transfer_2d(f->gg, 52, 0, 0, 0, 64, 64), OK);
	gg_update_cursor(f->gg, 1, 52, 1, 1, 0, 0);
	assert_int_equal(f->rec.cursors[1], 1);
	assert_int_equal(f->rec.cursor_px[5], 0xffff0000u);

	/*
	 * Linux makes every dumb buffer XRGB8888, cursors too: the words'
	 * top byte is still the cursor's alpha (regression: it was forced
	 * to 0xff, turning transparent pixels opaque black).
	 */
	{
		struct gg_fb *xrgb = gg_fb_new(f->gg, 53, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64);

		for (uint32_t y = 0; y < 64; y++)
			for (uint32_t x = 0; x < 64; x++)
				gg_fb_put(f->gg, xrgb, x, y, y < 32 ? 0x00000000u : 0x80402010u);
		assert_int_equal(gg_transfer_2d(f->gg, 53, 0, 0, 0, 64, 64), OK);
		gg_update_cursor(f->gg, 1, 53, 1, 1, 0, 0);
		assert_int_equal(f->rec.cursor_px[0], 0x00000000u);
		assert_int_equal(f->rec.cursor_px[40 * 64 + 3], 0x80402010u);
		assert_int_equal(gg_unref(f->gg, 53), OK);
		gg_fb_free(f->gg, xrgb);
	}

	/* wrong size or unknown resource: the image stays */
	gg_update_cursor(f->gg, 0, 51, 1, 2, 0, 0);
	assert_false(f->rec.cursor[0].image_changed);
	assert_true(f->rec.cursor[0].visible);
	gg_update_cursor(f->gg, 0, 4242, 1, 2, 0, 0);
	assert_false(f->rec.cursor[0].image_changed);
	/* resource 0 hides it */
	gg_update_cursor(f->gg, 0, 0, 1, 2, 0, 0);
	assert_false(f->rec.cursor[0].visible);
	hc = vgi_headless_cursor(f->hl, 0);
	assert_true(hc == NULL || !hc->visible);

	/* scanout out of range, other commands, short ones: ignored, still returned */
	warnings = 0;
	{
		unsigned n0 = f->rec.cursors[0], n1 = f->rec.cursors[1];

		gg_update_cursor(f->gg, 2, 50, 0, 0, 0, 0);
		gg_move_cursor(f->gg, 0xffffffffu, 50, 0, 0);
		{
			struct virtio_gpu_update_cursor c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH };
			uint64_t gpa = tg_alloc_buf(f->g, &c, sizeof(c));
			struct tg_buf b = { gpa, sizeof(c), false };

			assert_int_equal(gg_raw(f->gg, 1, &b, 1), 0);
			b.len = 20;
			assert_int_equal(gg_raw(f->gg, 1, &b, 1), 0);
			tg_free_page(f->g, gpa);
		}
		assert_int_equal(f->rec.cursors[0], n0);
		assert_int_equal(f->rec.cursors[1], n1);
		assert_int_equal(warnings, 4);
	}
	assert_true(f->gg->irqs[1] > 0);
	assert_int_equal(gg_unref(f->gg, 50), OK);
	assert_int_equal(gg_unref(f->gg, 51), OK);
	assert_int_equal(gg_unref(f->gg, 52), OK);
	assert_empty(f);
	gg_fb_free(f->gg, cur);
	gg_fb_free(f->gg, small);
	gg_fb_free(f->gg, abgr);
}

/* ---------------------------------------------------------------- fences */

static void test_fence(void **state)
{
	struct fx *f = *state;

	f->gg->hdr_flags = VIRTIO_GPU_FLAG_FENCE;
	f->gg->fence_id = 0x123456789abcull;
	f->gg->ctx_id = 7;
	f->gg->ring_idx = 3;
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(f->gg->resp.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_true(f->gg->resp.fence_id == 0x123456789abcull);
	assert_int_equal(f->gg->resp.ctx_id, 7);
	assert_int_equal(f->gg->resp.ring_idx, 0);	/* not asked for */
	/* errors carry the fence too */
	f->gg->fence_id++;
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_true(f->gg->resp.fence_id == 0x123456789abdull);
	assert_int_equal(f->gg->resp.flags, VIRTIO_GPU_FLAG_FENCE);
	/* with INFO_RING_IDX the ring index is echoed */
	f->gg->hdr_flags = VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX;
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_int_equal(f->gg->resp.flags, VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	assert_int_equal(f->gg->resp.ring_idx, 3);
	/* data responses too */
	{
		struct virtio_gpu_resp_display_info info;

		assert_int_equal(gg_get_display_info(f->gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
		assert_int_equal(info.hdr.ctx_id, 7);
	}
	/* without the flag nothing is echoed */
	f->gg->hdr_flags = 0;
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(f->gg->resp.flags, 0);
	assert_true(f->gg->resp.fence_id == 0);
	assert_int_equal(f->gg->resp.ctx_id, 0);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
}

/* ---------------------------------------------------------------- hostile commands */

/* Sends cmd and expects ERR_UNSPEC with nothing written past the header (0xee fill kept). */
static void expect_unspec_untouched(struct fx *f, void *cmd, size_t len, size_t resp_len)
{
	uint8_t *resp = malloc(resp_len);

	assert_int_equal(gg_cmd(f->gg, cmd, len, NULL, 0, resp, resp_len), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(f->gg->used_len, sizeof(struct virtio_gpu_ctrl_hdr));
	for (size_t i = sizeof(struct virtio_gpu_ctrl_hdr); i < resp_len; i++)
		assert_int_equal(resp[i], 0xee);
	free(resp);
}

static void test_3d_commands_without_3d(void **state)
{
	struct fx *f = *state;

	/* CVE-2021-3545: capset info for a 2D device: error, no uninitialised bytes sent */
	{
		struct virtio_gpu_get_capset_info c = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO, .capset_index = 0 };

		expect_unspec_untouched(f, &c, sizeof(c), sizeof(struct virtio_gpu_resp_capset_info));
		c.capset_index = 0xffffffffu;
		expect_unspec_untouched(f, &c, sizeof(c), sizeof(struct virtio_gpu_resp_capset_info));
	}
	/* CVE-2016-10028 (max_size 0) and CVE-2021-3546 (out-of-bounds write) */
	{
		struct virtio_gpu_get_capset c = { .hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 1,
						   .capset_version = 0, };

		expect_unspec_untouched(f, &c, sizeof(c), 4096);
		c.capset_id = 2;
		c.capset_version = 0xffffffffu;
		expect_unspec_untouched(f, &c, sizeof(c), 64);
	}
	{
		static const uint32_t types[] = {
			VIRTIO_GPU_CMD_CTX_CREATE, VIRTIO_GPU_CMD_CTX_DESTROY, VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE,
			VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
			VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D,
			VIRTIO_GPU_CMD_SUBMIT_3D, VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
			VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
			VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, VIRTIO_GPU_CMD_UPDATE_CURSOR, VIRTIO_GPU_CMD_MOVE_CURSOR,
			0, 0x1100, 0xdeadbeef,
		};
		uint8_t big[512];

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			memset(big, 0, sizeof(big));
			((struct virtio_gpu_ctrl_hdr *)big)->type = types[i];
			expect_unspec_untouched(f, big, sizeof(big), 128);
		}
	}
	assert_empty(f);
}

static void test_short_and_odd_chains(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];
	struct virtio_gpu_resource_create_2d c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 1,
						   .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = 64,
						   .height = 64 };

	/* shorter than a header */
	memset(buf, 0, sizeof(buf));
	((struct virtio_gpu_ctrl_hdr *)buf)->type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
	assert_int_equal(gg_cmd(f->gg, buf, 10, NULL, 0, NULL, 24), VIRTIO_GPU_RESP_ERR_UNSPEC);
	/* header but a truncated body: nothing created */
	assert_int_equal(gg_cmd(f->gg, &c, sizeof(c) - 1, NULL, 0, NULL, 24), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(gg_cmd(f->gg, &c, sizeof(struct virtio_gpu_ctrl_hdr), NULL, 0, NULL, 24),
			 VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_empty(f);
	/* a body split across two readable buffers is fine (iovec reads) */
	{
		struct virtio_gpu_resource_create_2d c2 = c;

		assert_int_equal(gg_cmd(f->gg, &c2, 20, (uint8_t *)&c + 20, sizeof(c) - 20, NULL, 24), OK);
		assert_int_equal(gg_unref(f->gg, 1), OK);
	}
	/* response buffer too small: pushed with length 0, nothing written */
	{
		uint8_t r[16];

		assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), NULL, 0, r, sizeof(r)), 0);
		assert_int_equal(f->gg->used_len, 0);
		for (int i = 0; i < 16; i++)
			assert_int_equal(r[i], 0xee);
		assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);	/* it was executed */
		assert_int_equal(gg_unref(f->gg, 1), OK);
	}
	{
		struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
		uint8_t r[100];

		assert_int_equal(gg_cmd(f->gg, &h, sizeof(h), NULL, 0, r, sizeof(r)), 0);
		assert_int_equal(f->gg->used_len, 0);
	}
	/* no readable part at all; no writable part at all */
	{
		uint64_t gpa = tg_alloc_page(f->g);
		struct tg_buf only_w = { gpa, 24, true }, only_r = { gpa, sizeof(c), false };

		assert_int_equal(gg_raw(f->gg, 0, &only_w, 1), 24);
		assert_int_equal(((struct virtio_gpu_ctrl_hdr *)tg_host(f->g, gpa))->type, VIRTIO_GPU_RESP_ERR_UNSPEC);
		memcpy(tg_host(f->g, gpa), &c, sizeof(c));
		assert_int_equal(gg_raw(f->gg, 0, &only_r, 1), 0);
		assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);
		assert_int_equal(gg_unref(f->gg, 1), OK);
		tg_free_page(f->g, gpa);
	}
	assert_empty(f);
}

/* Bytes the device read from guest memory for one command (its chain: cmd, then data). */
static uint64_t bytes_read(struct fx *f, void *cmd, size_t len, const void *data, size_t dlen, uint32_t want)
{
	uint64_t before = vgi_gpu_cmd_bytes_read(f->gpu);

	assert_int_equal(gg_cmd(f->gg, cmd, len, data, dlen, NULL, 24), want);
	return vgi_gpu_cmd_bytes_read(f->gpu) - before;
}

/*
 * Each command is read from guest memory once: its header and body in one
 * pass (the header first, to know the body's size, then only the rest),
 * its variable tail (mem entries) once, and nothing past what it needs.
 * Counted at the one place the device reads commands from guest memory;
 * a second fetch of any byte (a re-read after validation) shows up as more
 * bytes than the command has.
 */
static void test_commands_read_once(void **state)
{
	struct fx *f = *state;
	uint8_t junk[100];
	struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resource_create_2d c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 1,
						   .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = 64,
						   .height = 64 };
	struct virtio_gpu_resource_attach_backing ab = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
							 .resource_id = 1, .nr_entries = 4 };
	struct virtio_gpu_mem_entry ents[4];
	struct virtio_gpu_set_scanout ss = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, 64, 64 },
					     .resource_id = 1 };
	struct virtio_gpu_transfer_to_host_2d t = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						    .r = { 0, 0, 64, 64 }, .resource_id = 1 };
	struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 0, 0, 64, 64 },
						.resource_id = 1 };
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 1 };
	struct virtio_gpu_ctrl_hdr bad = { .type = 0x1234 };

	memset(junk, 0x5a, sizeof(junk));
	for (unsigned i = 0; i < 4; i++) {
		ents[i].addr = tg_alloc_page(f->g);
		ents[i].length = TG_PAGE_SIZE;	/* 64x64x4: 4 pages */
		ents[i].padding = 0;
	}
	assert_int_equal(bytes_read(f, &h, sizeof(h), NULL, 0, 0), sizeof(h));	/* response too small: still read */
	assert_int_equal(bytes_read(f, &c, sizeof(c), junk, sizeof(junk), OK), sizeof(c));	/* junk after: unread */
	assert_int_equal(bytes_read(f, &ab, sizeof(ab), ents, sizeof(ents), OK), sizeof(ab) + sizeof(ents));
	assert_int_equal(bytes_read(f, &ss, sizeof(ss), NULL, 0, OK), sizeof(ss));
	assert_int_equal(bytes_read(f, &t, sizeof(t), NULL, 0, OK), sizeof(t));
	assert_int_equal(bytes_read(f, &fl, sizeof(fl), NULL, 0, OK), sizeof(fl));
	ss.resource_id = 0;
	assert_int_equal(bytes_read(f, &ss, sizeof(ss), NULL, 0, OK), sizeof(ss));
	assert_int_equal(bytes_read(f, &u, sizeof(u), junk, sizeof(junk), OK), sizeof(u));
	/* unknown: its header only; short: what there is */
	assert_int_equal(bytes_read(f, &bad, sizeof(bad), junk, sizeof(junk), VIRTIO_GPU_RESP_ERR_UNSPEC), sizeof(bad));
	assert_int_equal(bytes_read(f, &c, sizeof(c) - 4, NULL, 0, VIRTIO_GPU_RESP_ERR_UNSPEC), sizeof(c) - 4);
	for (unsigned i = 0; i < 4; i++)
		tg_free_page(f->g, ents[i].addr);
	assert_empty(f);
}

/* A sink that kicks the queue from inside update(): served after, never nested. */
static void test_reentrant_kick(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64);

	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 64, 64), OK);
	f->rec.kick_dev = f->gg->dev;
	f->rec.kicks = 0;
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, 64, 64), OK);
	assert_true(f->rec.kicks >= 1);
	f->rec.kick_dev = NULL;
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/* A reset from inside a sink callback (frontend gone mid-flush): the command finishes, then everything goes. */
static void test_reset_inside_callback(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64);
	struct virtio_gpu_resource_flush c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 0, 0, 64, 64 },
					       .resource_id = 1 };
	uint64_t cg = tg_alloc_buf(f->g, &c, sizeof(c)), rg = tg_alloc_page(f->g);
	struct tg_buf b[2] = { { cg, sizeof(c), false }, { rg, 24, true } };

	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 64, 64), OK);
	/* two flushes queued: the reset comes during the first */
	assert_true(tg_queue_add(f->gg->ctrl, b, 2, false) >= 0);
	assert_true(tg_queue_add(f->gg->ctrl, b, 2, false) >= 0);
	tg_queue_publish(f->gg->ctrl);
	f->rec.reset_dev = f->gg->dev;
	vgi_virtio_device_kick(f->gg->dev, 0);
	assert_null(f->rec.reset_dev);
	assert_empty(f);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(vgi_virtqueue_ready(vgi_virtio_device_queue(f->gg->dev, 0)));
	/* a new driver instance works */
	gg_fb_free(f->gg, fb);
	gg_free(f->gg);
	f->gg = gg_new(f->g, f->gpu);
	fb = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
}

/*
 * A storm of random, mostly hostile, commands on both queues: every answer
 * is a known response type, nothing crashes (ASan/UBSan builds), and after
 * unref of every id nothing is left.
 */
static uint32_t pick(uint32_t *seed, const uint32_t *v, size_t n)
{
	*seed = *seed * 1103515245u + 12345u;
	return v[(*seed >> 8) % n];
}

#define PICK(seed, arr) pick(seed, arr, sizeof(arr) / sizeof(arr[0]))

static void test_random_commands(void **state)
{
	static const uint32_t types[] = {
		VIRTIO_GPU_CMD_GET_DISPLAY_INFO, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, VIRTIO_GPU_CMD_RESOURCE_UNREF, VIRTIO_GPU_CMD_SET_SCANOUT,
		VIRTIO_GPU_CMD_SET_SCANOUT, VIRTIO_GPU_CMD_RESOURCE_FLUSH, VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, VIRTIO_GPU_CMD_GET_CAPSET_INFO, VIRTIO_GPU_CMD_GET_CAPSET,
		VIRTIO_GPU_CMD_GET_EDID, VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, VIRTIO_GPU_CMD_SUBMIT_3D,
		VIRTIO_GPU_CMD_UPDATE_CURSOR, 0x12345678,
	};
	static const uint32_t ids[] = { 0, 1, 2, 3, 4, 5, 0xffffffffu };
	static const uint32_t sizes[] = { 0, 1, 15, 16, 17, 64, 100, 333, 1024, 0x7fffffffu, 0xffffffffu };
	static const uint32_t coords[] = { 0, 1, 16, 63, 64, 99, 100, 1000, 0x7fffffffu, 0xfffffff0u, 0xffffffffu };
	static const uint32_t fmts[] = { 1, 2, 3, 4, 67, 68, 121, 134, 0, 5, 0xffffffffu };
	static const uint32_t nents[] = { 0, 1, 2, 3, 8, 100, 16384, 16385, 0xffffffffu };
	static const uint32_t scanouts[] = { 0, 1, 2, 16, 0xffffffffu };
	static const uint32_t lens[] = { 0, 8, 24, 32, 40, 48, 56, 64, 72 };
	static const uint32_t offsets[] = { 0, 0, 4, 64, 400, 4096, 0xfffffffcu };
	static const uint32_t small[] = { 0, 1, 2, 16, 17 };
	struct fx *f = *state;
	uint64_t pool[8];
	uint32_t seed = 4242;
	uint8_t cmd[256], data[16 * 8];
	uint8_t *resp = malloc(2048);
	uint64_t hole = f->g->ram_gpa[0] + f->g->ram_size[0];
	unsigned ok[0x400] = { 0 };	/* successes per command type (low bits) */

	for (int i = 0; i < 8; i++)
		pool[i] = tg_alloc_page(f->g);
	for (int it = 0; it < 4000; it++) {
		struct virtio_gpu_ctrl_hdr *h = (void *)cmd;
		uint32_t *w = (uint32_t *)(cmd + sizeof(*h));
		uint32_t type = PICK(&seed, types), len = 0, dlen = 0, t;

		memset(cmd, 0, sizeof(cmd));
		h->type = type;
		h->flags = PICK(&seed, ids) & 3;
		h->fence_id = it;
		switch (type) {
		case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
			w[0] = PICK(&seed, ids), w[1] = PICK(&seed, fmts), w[2] = PICK(&seed, sizes), w[3] = PICK(&seed, sizes);
			len = 40;
			break;
		case VIRTIO_GPU_CMD_SET_SCANOUT:	/* r, scanout, resource */
		case VIRTIO_GPU_CMD_RESOURCE_FLUSH:	/* r, resource, pad */
		case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:	/* r, offset, resource, pad */
			if (it % 3) {	/* mostly plausible rects, sometimes anything */
				w[0] = PICK(&seed, small), w[1] = PICK(&seed, small), w[2] = PICK(&seed, small),
				w[3] = PICK(&seed, small);
			} else {
				w[0] = PICK(&seed, coords), w[1] = PICK(&seed, coords), w[2] = PICK(&seed, sizes),
				w[3] = PICK(&seed, sizes);
			}
			if (type == VIRTIO_GPU_CMD_SET_SCANOUT) {
				w[4] = PICK(&seed, scanouts);
				w[5] = PICK(&seed, ids);
			} else if (type == VIRTIO_GPU_CMD_RESOURCE_FLUSH) {
				w[4] = PICK(&seed, ids);
			} else {	/* 64-bit offset, then the resource */
				w[4] = PICK(&seed, offsets);
				w[5] = it % 13 ? 0 : PICK(&seed, coords);
				w[6] = PICK(&seed, ids);
			}
			len = type == VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D ? 56 : 48;
			break;
		case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: {
			uint32_t k = 1 + (PICK(&seed, lens) / 8) % 8, n = it % 4 ? k : PICK(&seed, nents);
			struct virtio_gpu_mem_entry *e = (void *)data;

			w[0] = PICK(&seed, ids);
			w[1] = n;
			len = 32;
			for (uint32_t j = 0; j < k && j < 8; j++) {
				static const uint64_t odd[] = { 0, 1, 4096, 1ull << 32 };

				seed = seed * 1103515245u + 12345u;
				e[j].addr = (seed >> 8) % 8 == 7 ? hole : pool[(seed >> 11) % 8] + ((seed >> 14) % 4) * 1024;
				e[j].length = (seed >> 20) % 12 ? 1024 * (1 + (seed >> 17) % 4) : (uint32_t)odd[(seed >> 22) % 4];
				e[j].padding = 0;
			}
			dlen = k * 16;
			break;
		}
		default:
			w[0] = PICK(&seed, ids);
			w[1] = PICK(&seed, scanouts);
			w[2] = PICK(&seed, sizes);
			len = 48;
			break;
		}
		if (it % 11 == 0)	/* truncate */
			len = PICK(&seed, lens);
		if (type == VIRTIO_GPU_CMD_UPDATE_CURSOR) {
			struct virtio_gpu_update_cursor c;

			memset(&c, 0, sizeof(c));
			c.hdr.type = it % 2 ? VIRTIO_GPU_CMD_UPDATE_CURSOR : VIRTIO_GPU_CMD_MOVE_CURSOR;
			c.pos.scanout_id = PICK(&seed, scanouts);
			c.pos.x = PICK(&seed, coords);
			c.resource_id = PICK(&seed, ids);
			c.hot_x = PICK(&seed, coords);
			gg_update_cursor(f->gg, c.pos.scanout_id, c.resource_id, (int32_t)c.pos.x, 0, c.hot_x, 0);
			continue;
		}
		if (len == 0)
			len = 8;
		t = gg_cmd(f->gg, cmd, len, dlen ? data : NULL, dlen, resp, 2048);
		if (f->gg->used_len == 0)
			fail_msg("iteration %d: type 0x%x len %u: no answer", it, type, len);
		assert_true((t >= VIRTIO_GPU_RESP_OK_NODATA && t <= VIRTIO_GPU_RESP_OK_MAP_INFO) ||
			    (t >= VIRTIO_GPU_RESP_ERR_UNSPEC && t <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER));
		if ((h->flags & VIRTIO_GPU_FLAG_FENCE) && len >= sizeof(*h))
			assert_true(f->gg->resp.fence_id == (uint64_t)it);
		if (t < VIRTIO_GPU_RESP_ERR_UNSPEC)
			ok[type & 0x3ff]++;
	}
	if (getenv("VGI_TEST_VERBOSE"))
		fprintf(stderr, "storm: create %u attach %u transfer %u scanout %u flush %u\n",
			ok[VIRTIO_GPU_CMD_RESOURCE_CREATE_2D & 0x3ff], ok[VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING & 0x3ff],
			ok[VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D & 0x3ff], ok[VIRTIO_GPU_CMD_SET_SCANOUT & 0x3ff],
			ok[VIRTIO_GPU_CMD_RESOURCE_FLUSH & 0x3ff]);
	/* the storm did real work, not only errors */
	assert_true(ok[VIRTIO_GPU_CMD_RESOURCE_CREATE_2D & 0x3ff] > 10);
	assert_true(ok[VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING & 0x3ff] > 5);
	assert_true(ok[VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D & 0x3ff] > 5);
	assert_true(ok[VIRTIO_GPU_CMD_SET_SCANOUT & 0x3ff] > 5);
	assert_true(ok[VIRTIO_GPU_CMD_RESOURCE_FLUSH & 0x3ff] > 5);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		gg_unref(f->gg, ids[i]);
	assert_empty(f);
	for (int i = 0; i < 8; i++)
		tg_free_page(f->g, pool[i]);
	free(resp);
}

/* ---------------------------------------------------------------- host memory */

static void test_hostmem_exhaustion(void **state)
{
	struct vgi_gpu_config cfg;
	struct fx *f;
	uint32_t n = 0, t;
	struct gg_fb *fb;

	vgi_gpu_config_init(&cfg);
	cfg.max_hostmem = 4u << 20;
	f = fx_new(&cfg);
	/* 256 KiB resources until the cap */
	while ((t = gg_create_2d(f->gg, n + 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 256, 256)) == OK)
		n++;
	assert_int_equal(t, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(n, 15);	/* 16 * (256 KiB + struct) > 4 MiB */
	assert_true(vgi_gpu_hostmem_used(f->gpu) <= cfg.max_hostmem);
	/* small things still fit; backing arrays are charged too */
	fb = gg_fb_alloc(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 256, 256);
	assert_int_equal(gg_attach_backing(f->gg, 1, fb->ents, fb->nents), OK);
	{
		uint64_t used = vgi_gpu_hostmem_used(f->gpu);
		struct virtio_gpu_mem_entry *many = calloc(16384, sizeof(*many));
		uint32_t m = 0;

		/* fill the rest with 1x1 resources, then a 16384-entry backing no longer fits */
		while (gg_create_2d(f->gg, 1000 + m, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1) == OK)
			m++;
		assert_true(m > 0);
		assert_int_equal(gg_create_2d(f->gg, 5000, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1),
				 VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
		for (int i = 0; i < 16384; i++)
			many[i] = fb->ents[i % fb->nents];
		assert_int_equal(gg_unref(f->gg, 1000), OK);
		used = vgi_gpu_hostmem_used(f->gpu);
		assert_int_equal(gg_attach_backing(f->gg, 1000 + m - 1, many, 16384), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
		assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used);
		for (uint32_t i = 1; i < m; i++)
			assert_int_equal(gg_unref(f->gg, 1000 + i), OK);
		free(many);
	}
	/* free everything: back to zero */
	for (uint32_t i = 1; i <= n; i++)
		assert_int_equal(gg_unref(f->gg, i), OK);
	assert_empty(f);
	/* and the whole budget is usable again */
	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 1000), OK);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	gg_fb_free(f->gg, fb);
	fx_free(f);
}

/* ---------------------------------------------------------------- config and events */

static void test_display_events(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_resp_display_info info;
	const uint32_t events_read = offsetof(struct virtio_gpu_config, events_read);
	const uint32_t events_clear = offsetof(struct virtio_gpu_config, events_clear);

	assert_int_equal(gg_config_read32(f->gg, events_read), 0);
	assert_int_equal(vgi_gpu_set_output(f->gpu, 1, true, 1024, 768), 0);
	assert_int_equal(f->gg->config_irqs, 1);
	assert_int_equal(gg_config_read32(f->gg, events_read), VIRTIO_GPU_EVENT_DISPLAY);
	/* the driver's config-changed work: read, GET_DISPLAY_INFO, GET_EDID, clear */
	assert_int_equal(gg_get_display_info(f->gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info.pmodes[1].r.width, 1024);
	assert_int_equal(info.pmodes[1].r.height, 768);
	{
		struct virtio_gpu_resp_edid *e = calloc(1, sizeof(*e));

		assert_int_equal(gg_get_edid(f->gg, 1, e), VIRTIO_GPU_RESP_OK_EDID);
		assert_int_equal(e->edid[56] | ((e->edid[58] >> 4) << 8), 1024);
		free(e);
	}
	gg_config_write32(f->gg, events_clear, 0);	/* clears nothing */
	assert_int_equal(gg_config_read32(f->gg, events_read), VIRTIO_GPU_EVENT_DISPLAY);
	gg_config_write32(f->gg, events_read, 0);	/* read-only */
	assert_int_equal(gg_config_read32(f->gg, events_read), VIRTIO_GPU_EVENT_DISPLAY);
	gg_config_write32(f->gg, events_clear, VIRTIO_GPU_EVENT_DISPLAY);
	assert_int_equal(gg_config_read32(f->gg, events_read), 0);
	assert_int_equal(gg_config_read32(f->gg, events_clear), 0);
	/* a one-byte write of events_clear works too */
	assert_int_equal(vgi_gpu_set_output(f->gpu, 0, false, 0, 0), 0);
	assert_int_equal(f->gg->config_irqs, 2);
	{
		uint8_t one = VIRTIO_GPU_EVENT_DISPLAY;

		assert_int_equal(vgi_virtio_device_write_config(f->gg->dev, events_clear, &one, 1), 0);
	}
	assert_int_equal(gg_config_read32(f->gg, events_read), 0);
	assert_int_equal(gg_get_display_info(f->gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info.pmodes[0].enabled, 0);
	/* no change, no event; bad id refused */
	assert_int_equal(vgi_gpu_set_output(f->gpu, 0, false, 0, 0), 0);
	assert_int_equal(vgi_gpu_set_output(f->gpu, 1, true, 1024, 768), 0);
	assert_int_equal(f->gg->config_irqs, 2);
	assert_int_equal(vgi_gpu_set_output(f->gpu, 2, true, 1024, 768), -EINVAL);
	assert_int_equal(f->gg->config_irqs, 2);
	assert_int_equal(vgi_gpu_set_output(f->gpu, 0, true, W0, H0), 0);
	assert_int_equal(f->gg->config_irqs, 3);
	assert_int_equal(gg_config_read32(f->gg, offsetof(struct virtio_gpu_config, num_scanouts)), 2);
	assert_int_equal(gg_config_read32(f->gg, offsetof(struct virtio_gpu_config, num_capsets)), 0);
	{
		uint32_t v;

		assert_int_equal(vgi_virtio_device_write_config(f->gg->dev, 14, &v, 4), -EINVAL);
	}
}

/* ---------------------------------------------------------------- reset and memory map */

static void test_reset_with_resources(void **state)
{
	struct fx *f = *state;
	struct gg_fb *a = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W0, H0);
	struct gg_fb *b = gg_fb_new(f->gg, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);

	assert_int_equal(gg_create_2d(f->gg, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 100), OK);	/* no backing */
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, W0, H0), OK);
	assert_int_equal(gg_set_scanout(f->gg, 1, 1, 0, 0, 320, 240), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 2, 0, 0, 0, 64, 64), OK);
	gg_update_cursor(f->gg, 0, 2, 10, 10, 0, 0);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 3);

	vgi_virtio_device_reset(f->gg->dev);
	assert_empty(f);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(f->rec.scanout[1].enabled);
	assert_false(f->rec.cursor[0].visible);
	assert_null(vgi_headless_frame(f->hl, 0));

	/* the driver comes back: renegotiate, new rings, same ids work */
	gg_fb_free(f->gg, a);
	gg_fb_free(f->gg, b);
	gg_free(f->gg);
	f->gg = gg_new(f->g, f->gpu);
	a = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W0, H0);
	fill_pattern(f, a);
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, W0, H0), OK);
	assert_int_equal(gg_fb_dirty(f->gg, a, 0, 0, W0, H0), OK);
	assert_int_equal(frame_px(f, 0, 33, 44), pattern(33, 44));
	/* and a reset left alive at the end is cleaned by vgi_gpu_free (ASan checks) */
	gg_fb_free(f->gg, a);
}

static void test_memory_remap(void **state)
{
	struct fx *f = *state;
	struct gg_fb *fb = gg_fb_new(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 128, 64);
	struct vgi_guest_memory *empty = vgi_guest_memory_new();
	uint64_t used = vgi_gpu_hostmem_used(f->gpu);

	fill_pattern(f, fb);
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 128, 64), OK);
	/* the same map again (vhost-user SET_MEM_TABLE): backing translated again */
	assert_int_equal(vgi_virtio_device_set_memory(f->gg->dev, f->g->mem), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used);
	assert_int_equal(gg_fb_dirty(f->gg, fb, 0, 0, 128, 64), OK);
	assert_int_equal(frame_px(f, 0, 127, 63), pattern(127, 63));
	/* a map without that RAM: the backing is dropped, not left dangling */
	vgi_virtio_device_set_memory(f->gg->dev, empty);
	assert_true(vgi_gpu_hostmem_used(f->gpu) < used);
	vgi_virtio_device_set_memory(f->gg->dev, f->g->mem);
	/* the rings were unmapped too: the driver sets its queues up again */
	assert_int_equal(tg_queue_attach(f->gg->ctrl, f->gg->dev, 0), 0);
	assert_int_equal(tg_queue_attach(f->gg->cursor, f->gg->dev, 1), 0);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 128, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	vgi_guest_memory_free(empty);
	gg_fb_free(f->gg, fb);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_probe),
		T(test_get_edid),
		cmocka_unit_test(test_get_edid_not_offered),
		T(test_dumb_framebuffer),
		T(test_direct_descriptors),
		T(test_formats),
		T(test_create_errors),
		T(test_many_resources),
		T(test_colliding_ids),
		T(test_commands_read_once),
		cmocka_unit_test(test_resource_cap),
		T(test_set_scanout_errors),
		T(test_two_scanouts),
		T(test_flush_errors),
		T(test_transfer_errors),
		T(test_attach_errors),
		T(test_attach_odd_layouts),
		T(test_random_layouts),
		T(test_assign_uuid),
		T(test_cursor),
		T(test_fence),
		T(test_3d_commands_without_3d),
		T(test_short_and_odd_chains),
		T(test_reentrant_kick),
		T(test_reset_inside_callback),
		T(test_random_commands),
		cmocka_unit_test(test_hostmem_exhaustion),
		T(test_display_events),
		T(test_reset_with_resources),
		T(test_memory_remap),
	};

	vgi_log_set_handler(count_log, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
