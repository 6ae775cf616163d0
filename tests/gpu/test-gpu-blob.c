// SPDX-License-Identifier: MIT
/*
 * Guest-memory blob resources (VIRTIO_GPU_F_RESOURCE_BLOB) on the 2D device,
 * driven through real rings by the in-process test guest: RESOURCE_CREATE_BLOB
 * over scattered pages, SET_SCANOUT_BLOB with an offset and a padded
 * stride, pixels read from guest memory at every flush (checked pixel for
 * pixel in the headless sink), and every hostile variant of the blob
 * commands with its error code. With the feature off, every blob command
 * is ERR_UNSPEC (what vgi-gpu, which never offers it, answers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <drm_fourcc.h>
#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>
#include <vgi/headless.h>
#include <vgi/log.h>

#include "gpu-guest.h"

#define OK VIRTIO_GPU_RESP_OK_NODATA
#define E_UNSPEC VIRTIO_GPU_RESP_ERR_UNSPEC
#define E_ID VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
#define E_PARAM VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define E_SCANOUT VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
#define E_OOM VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
#define XRGB VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
#define W0 640
#define H0 480
#define W1 320
#define H1 200
#define PAGE TG_PAGE_SIZE

/* ---------------------------------------------------------------- recording sink */

struct rec {
	unsigned scanouts[2], updates[2], cursors[2];
	struct vgi_scanout scanout[2];
	struct vgi_rect damage[2];
	uint32_t cursor_px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
	bool cursor_changed;
};

static void rec_scanout(void *sink, uint32_t id, const struct vgi_scanout *s)
{
	struct rec *r = sink;

	assert_true(id < 2);
	r->scanouts[id]++;
	r->scanout[id] = *s;
}

static void rec_update(void *sink, uint32_t id, const struct vgi_rect *d, const struct vgi_image *img)
{
	struct rec *r = sink;

	assert_true(id < 2);
	assert_true((uint64_t)d->x + d->width <= img->width);
	assert_true((uint64_t)d->y + d->height <= img->height);
	assert_true(d->width > 0 && d->height > 0);
	assert_int_equal(img->width, r->scanout[id].width);
	assert_int_equal(img->height, r->scanout[id].height);
	assert_int_equal(img->format, r->scanout[id].format);
	r->updates[id]++;
	r->damage[id] = *d;
}

static void rec_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct rec *r = sink;

	assert_true(id < 2);
	r->cursors[id]++;
	r->cursor_changed = c->image_changed;
	if (c->image_changed)
		memcpy(r->cursor_px, c->pixels, sizeof(r->cursor_px));
}

static const struct vgi_display_ops rec_ops = {
	.scanout = rec_scanout,
	.update = rec_update,
	.cursor = rec_cursor,
};

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct tg_guest *g;
	struct vgi_gpu *gpu;
	struct gg *gg;
	struct rec rec;
	struct vgi_headless *hl;
};

static void quiet(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (getenv("VGI_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", msg);
}

static struct fx *fx_new_cfg(bool blob, uint64_t max_hostmem)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vgi_gpu_config cfg;

	vgi_gpu_config_init(&cfg);
	cfg.blob = blob;
	cfg.num_scanouts = 2;
	cfg.outputs[0] = (struct vgi_gpu_output_config){ W0, H0, false };
	cfg.outputs[1] = (struct vgi_gpu_output_config){ W1, H1, false };
	if (max_hostmem)
		cfg.max_hostmem = max_hostmem;
	f->g = tg_guest_new(48u << 20);
	f->gpu = vgi_gpu_new(&cfg);
	assert_non_null(f->gpu);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, &rec_ops, &f->rec), 0);
	f->hl = vgi_headless_new(NULL);
	assert_non_null(f->hl);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, vgi_headless_ops(), f->hl), 0);
	f->gg = gg_new(f->g, f->gpu);
	return f;
}

static void fx_free(struct fx *f)
{
	gg_free(f->gg);
	vgi_gpu_free(f->gpu);
	tg_guest_free(f->g);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new_cfg(true, 0);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static void assert_empty(struct fx *f)
{
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

/* ---------------------------------------------------------------- guest side of a blob */

/* Guest pages of a blob: scattered, one mem entry per physically contiguous run. */
struct blob {
	uint64_t size;
	uint32_t npages;
	uint64_t *pages;
	struct virtio_gpu_mem_entry *ents;
	uint32_t nents;
};

static struct blob *blob_alloc(struct fx *f, uint64_t size)
{
	struct blob *b = calloc(1, sizeof(*b));

	b->size = size;
	b->npages = (uint32_t)((size + PAGE - 1) / PAGE);
	b->pages = calloc(b->npages, sizeof(uint64_t));
	b->ents = calloc(b->npages, sizeof(*b->ents));
	for (uint32_t i = 0; i < b->npages; i++) {
		b->pages[i] = tg_alloc_page(f->g);
		if (b->nents && b->ents[b->nents - 1].addr + b->ents[b->nents - 1].length == b->pages[i])
			b->ents[b->nents - 1].length += PAGE;
		else
			b->ents[b->nents++] = (struct virtio_gpu_mem_entry){ b->pages[i], PAGE, 0 };
	}
	return b;
}

static void blob_free(struct fx *f, struct blob *b)
{
	for (uint32_t i = 0; i < b->npages; i++)
		tg_free_page(f->g, b->pages[i]);
	free(b->pages);
	free(b->ents);
	free(b);
}

static void blob_put(struct fx *f, const struct blob *b, uint64_t offset, uint32_t v)
{
	assert_true(offset + 4 <= b->size && offset % 4 == 0);
	memcpy((uint8_t *)tg_host(f->g, b->pages[offset / PAGE]) + offset % PAGE, &v, 4);
}

static uint32_t create_blob_ents(struct fx *f, uint32_t id, uint32_t mem, uint32_t flags, uint64_t size,
				 const struct virtio_gpu_mem_entry *ents, uint32_t n, uint32_t nr_entries)
{
	struct virtio_gpu_resource_create_blob c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .resource_id = id, .blob_mem = mem,
		.blob_flags = flags, .nr_entries = nr_entries, .size = size,
	};

	return gg_cmd(f->gg, &c, sizeof(c), ents, (size_t)n * sizeof(*ents), NULL, sizeof(struct virtio_gpu_ctrl_hdr));
}

/* As Linux creates a dumb buffer's blob: guest memory, shareable. */
static uint32_t create_blob(struct fx *f, uint32_t id, const struct blob *b)
{
	return create_blob_ents(f, id, VIRTIO_GPU_BLOB_MEM_GUEST, VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE, b->size,
				b->ents, b->nents, b->nents);
}

struct layout {
	uint32_t format, width, height, stride, offset;
};

static uint32_t set_scanout_blob(struct fx *f, uint32_t sid, uint32_t id, const struct layout *l, uint32_t x,
				 uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_set_scanout_blob c = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { x, y, w, h }, .scanout_id = sid,
		.resource_id = id, .width = l->width, .height = l->height, .format = l->format,
		.strides = { l->stride }, .offsets = { l->offset },
	};

	return gg_cmd(f->gg, &c, sizeof(c), NULL, 0, NULL, sizeof(struct virtio_gpu_ctrl_hdr));
}

static uint32_t pattern(uint32_t x, uint32_t y)
{
	return 0xff000000u | ((x * 7) & 0xff) << 16 | ((y * 3) & 0xff) << 8 | ((x ^ y) & 0xff);
}

/* The whole framebuffer gets pattern(); the stride padding past width gets garbage. */
static void fill_fb(struct fx *f, const struct blob *b, const struct layout *l)
{
	for (uint32_t y = 0; y < l->height; y++) {
		for (uint32_t x = 0; x < l->stride / 4; x++)
			blob_put(f, b, l->offset + (uint64_t)y * l->stride + (uint64_t)x * 4,
				 x < l->width ? pattern(x, y) : 0xffdead00u + x);
	}
}

static void fill_rect(struct fx *f, const struct blob *b, const struct layout *l, uint32_t x0, uint32_t y0, uint32_t w,
		      uint32_t h, uint32_t v)
{
	for (uint32_t y = y0; y < y0 + h; y++)
		for (uint32_t x = x0; x < x0 + w; x++)
			blob_put(f, b, l->offset + (uint64_t)y * l->stride + (uint64_t)x * 4, v);
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

/* Every pixel of scanout sid (w x h) shows framebuffer pixel (x + rx, y + ry) of pattern(). */
static void assert_frame_pattern(struct fx *f, uint32_t sid, uint32_t rx, uint32_t ry, uint32_t w, uint32_t h)
{
	const struct vgi_image *img = vgi_headless_frame(f->hl, sid);

	assert_non_null(img);
	assert_int_equal(img->width, w);
	assert_int_equal(img->height, h);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			if (frame_px(f, sid, x, y) != pattern(x + rx, y + ry))
				fail_msg("scanout %u pixel %u,%u: 0x%08x, want 0x%08x", sid, x, y,
					 frame_px(f, sid, x, y), pattern(x + rx, y + ry));
}

static uint32_t flush(struct fx *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_flush c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { x, y, w, h },
					       .resource_id = id };

	return gg_cmd(f->gg, &c, sizeof(c), NULL, 0, NULL, sizeof(struct virtio_gpu_ctrl_hdr));
}

/* A command whose answer must be err with nothing written past the header. */
static void expect_untouched(struct fx *f, void *cmd, size_t len, size_t resp_len, uint32_t err)
{
	uint8_t *resp = malloc(resp_len);

	assert_int_equal(gg_cmd(f->gg, cmd, len, NULL, 0, resp, resp_len), err);
	assert_int_equal(f->gg->used_len, sizeof(struct virtio_gpu_ctrl_hdr));
	for (size_t i = sizeof(struct virtio_gpu_ctrl_hdr); i < resp_len; i++)
		assert_int_equal(resp[i], 0xee);
	free(resp);
}

/* ---------------------------------------------------------------- the scanout path */

/*
 * A Linux-like blob framebuffer: scattered pages, a framebuffer at a
 * nonzero offset with a stride wider than its width; the scanout shows a
 * sub-rect. Pixels come from guest memory at SET_SCANOUT_BLOB and at every
 * RESOURCE_FLUSH, never from TRANSFER_TO_HOST_2D.
 */
static void test_blob_scanout(void **state)
{
	struct fx *f = *state;
	const struct layout l = { XRGB, W0 + 40, H0 + 30, (W0 + 40) * 4 + 320, 3 * PAGE + 192 };
	const uint32_t rx = 24, ry = 17;
	struct blob *b = blob_alloc(f, ((uint64_t)l.offset + (uint64_t)l.stride * l.height + PAGE - 1) / PAGE * PAGE);
	uint64_t created, shown;

	assert_true(f->gg->features & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_true(b->nents > 10);	/* scattered */
	fill_fb(f, b, &l);
	assert_int_equal(create_blob(f, 5, b), OK);
	created = vgi_gpu_hostmem_used(f->gpu);
	assert_true(created > 0);
	assert_true(created < b->size / 8);	/* entries and indexes, no copy of the pixels */

	assert_int_equal(set_scanout_blob(f, 0, 5, &l, rx, ry, W0, H0), OK);
	shown = vgi_gpu_hostmem_used(f->gpu);
	assert_int_equal(shown - created, (uint64_t)W0 * H0 * 4);	/* the staging copy, charged */
	assert_int_equal(f->rec.scanouts[0], 1);
	assert_true(f->rec.scanout[0].enabled);
	assert_int_equal(f->rec.scanout[0].width, W0);
	assert_int_equal(f->rec.scanout[0].height, H0);
	assert_int_equal(f->rec.scanout[0].format, DRM_FORMAT_XRGB8888);
	assert_int_equal(f->rec.updates[0], 1);
	assert_frame_pattern(f, 0, rx, ry, W0, H0);

	/* the guest draws; nothing shows until a flush, TRANSFER_TO_HOST_2D is a no-op */
	fill_rect(f, b, &l, 100, 60, 77, 33, 0xff123456);
	fill_rect(f, b, &l, rx, ry, W0, 1, 0xffabcdef);
	assert_int_equal(gg_transfer_2d(f->gg, 5, 0, 0, 0, 1, 1), OK);
	assert_int_equal(gg_transfer_2d(f->gg, 5, UINT64_MAX, 0xffffffffu, 7, 5, 5), OK);	/* nothing read */
	assert_int_equal(frame_px(f, 0, 100 - rx, 60 - ry), pattern(100, 60));
	/* flush in framebuffer coordinates: damage in scanout coordinates, rows from guest memory */
	assert_int_equal(flush(f, 5, 100, 60, 77, 33), OK);
	assert_int_equal(f->rec.damage[0].x, 100 - rx);
	assert_int_equal(f->rec.damage[0].y, 60 - ry);
	assert_int_equal(f->rec.damage[0].width, 77);
	assert_int_equal(f->rec.damage[0].height, 33);
	for (uint32_t y = 60; y < 93; y++)
		for (uint32_t x = 100; x < 177; x++)
			assert_int_equal(frame_px(f, 0, x - rx, y - ry), 0xff123456);
	assert_int_equal(frame_px(f, 0, 99 - rx, 60 - ry), pattern(99, 60));
	assert_int_equal(frame_px(f, 0, 177 - rx, 92 - ry), pattern(177, 92));
	assert_int_equal(frame_px(f, 0, 100 - rx, 93 - ry), pattern(100, 93));
	assert_int_equal(frame_px(f, 0, 5, 0), pattern(rx + 5, ry));	/* drawn, not flushed */
	/* a flush partly outside the shown rect is clipped to it */
	assert_int_equal(flush(f, 5, 0, 0, rx + 10, ry + 1), OK);
	assert_int_equal(f->rec.damage[0].x, 0);
	assert_int_equal(f->rec.damage[0].y, 0);
	assert_int_equal(f->rec.damage[0].width, 10);
	assert_int_equal(f->rec.damage[0].height, 1);
	assert_int_equal(frame_px(f, 0, 5, 0), 0xffabcdef);
	assert_int_equal(frame_px(f, 0, 10, 0), pattern(rx + 10, ry));
	/* flushes outside it, or huge (clipped in 64-bit), send nothing wrong */
	{
		unsigned before = f->rec.updates[0];

		assert_int_equal(flush(f, 5, 0, 0, rx, H0), OK);
		assert_int_equal(flush(f, 5, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu), OK);
		assert_int_equal(f->rec.updates[0], before);
		assert_int_equal(flush(f, 5, 0, 0, 0xffffffffu, 0xffffffffu), OK);
		assert_int_equal(f->rec.updates[0], before + 1);
		assert_int_equal(f->rec.damage[0].width, W0);
		assert_int_equal(f->rec.damage[0].height, H0);
	}
	/* the whole frame, pixel for pixel, after a full redraw */
	fill_fb(f, b, &l);
	assert_int_equal(flush(f, 5, 0, 0, l.width, l.height), OK);
	assert_frame_pattern(f, 0, rx, ry, W0, H0);

	/* the driver's teardown: disable, unref; everything returned */
	assert_int_equal(set_scanout_blob(f, 0, 0, &l, 0, 0, 0, 0), OK);
	assert_false(f->rec.scanout[0].enabled);
	assert_null(vgi_headless_frame(f->hl, 0));
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), created);
	assert_int_equal(gg_unref(f->gg, 5), OK);
	assert_empty(f);
	blob_free(f, b);
}

/* Formats: the scanout's format is SET_SCANOUT_BLOB's; sinks convert (headless to [AX]RGB8888). */
static void test_blob_formats(void **state)
{
	static const struct {
		uint32_t format, fourcc;
		int r, g, b, a;	/* byte of each channel in memory */
		bool alpha;
	} fmts[] = {
		{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DRM_FORMAT_ARGB8888, 2, 1, 0, 3, true },
		{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DRM_FORMAT_XRGB8888, 2, 1, 0, 3, false },
		{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DRM_FORMAT_BGRA8888, 1, 2, 3, 0, true },
		{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DRM_FORMAT_ABGR8888, 0, 1, 2, 3, true },
		{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DRM_FORMAT_RGBX8888, 3, 2, 1, 0, false },
		{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DRM_FORMAT_XBGR8888, 0, 1, 2, 3, false },
	};
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 4 * PAGE);

	assert_int_equal(create_blob(f, 9, b), OK);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		const struct layout l = { fmts[i].format, 32, 16, 32 * 4 + 64, 4 };
		uint8_t px[4];
		uint32_t v, want;

		px[fmts[i].r] = 0x11;
		px[fmts[i].g] = 0x22;
		px[fmts[i].b] = 0x33;
		px[fmts[i].a] = fmts[i].alpha ? 0x80 : 0x00;	/* X bytes: anything, not shown */
		memcpy(&v, px, 4);
		fill_rect(f, b, &l, 0, 0, 32, 16, v);
		assert_int_equal(set_scanout_blob(f, 1, 9, &l, 0, 0, 32, 16), OK);
		assert_int_equal(f->rec.scanout[1].format, fmts[i].fourcc);
		want = fmts[i].alpha ? 0x80112233u : 0xff112233u;
		/* X formats: the fourth byte is not shown, whatever the sink makes of it */
		assert_int_equal(frame_px(f, 1, 0, 0) | (fmts[i].alpha ? 0 : 0xff000000u), want);
		assert_int_equal(frame_px(f, 1, 31, 15) | (fmts[i].alpha ? 0 : 0xff000000u), want);
		/* same bytes through flush */
		px[fmts[i].g] = 0x77;
		memcpy(&v, px, 4);
		fill_rect(f, b, &l, 31, 15, 1, 1, v);
		assert_int_equal(flush(f, 9, 31, 15, 1, 1), OK);
		assert_int_equal(frame_px(f, 1, 31, 15) | (fmts[i].alpha ? 0 : 0xff000000u),
				 (want & 0xffff00ffu) | 0x7700);
	}
	assert_int_equal(gg_unref(f->gg, 9), OK);	/* while on scanout 1 */
	assert_false(f->rec.scanout[1].enabled);
	assert_empty(f);
	blob_free(f, b);
}

/*
 * One blob on both scanouts at different places (the offset picks the
 * second framebuffer), then page flips between two blobs of the same size:
 * the staging copy is kept, not charged twice.
 */
static void test_blob_two_scanouts_and_flips(void **state)
{
	struct fx *f = *state;
	const struct layout top = { XRGB, W1, H1, W1 * 4, 0 };
	const struct layout bottom = { XRGB, W1, H1, W1 * 4, W1 * 4 * H1 };
	uint64_t size = ((uint64_t)W1 * 4 * H1 * 2 + PAGE - 1) / PAGE * PAGE;
	struct blob *a = blob_alloc(f, size), *c = blob_alloc(f, size);
	uint64_t used;

	fill_fb(f, a, &top);
	for (uint32_t y = 0; y < H1; y++)
		for (uint32_t x = 0; x < W1; x++)
			blob_put(f, a, bottom.offset + (uint64_t)y * bottom.stride + x * 4, pattern(x + 1000, y));
	assert_int_equal(create_blob(f, 1, a), OK);
	assert_int_equal(create_blob(f, 2, c), OK);
	assert_int_equal(set_scanout_blob(f, 0, 1, &top, 0, 0, W1, H1), OK);
	assert_int_equal(set_scanout_blob(f, 1, 1, &bottom, 0, 0, W1, H1), OK);
	assert_frame_pattern(f, 0, 0, 0, W1, H1);
	assert_int_equal(frame_px(f, 1, 0, 0), pattern(1000, 0));
	assert_int_equal(frame_px(f, 1, W1 - 1, H1 - 1), pattern(1000 + W1 - 1, H1 - 1));
	/* one flush: both scanouts read their own rows */
	fill_rect(f, a, &top, 10, 10, 5, 5, 0xff0000ffu);
	fill_rect(f, a, &bottom, 10, 10, 5, 5, 0xff00ff00u);
	assert_int_equal(flush(f, 1, 0, 0, 20, 20), OK);
	assert_int_equal(frame_px(f, 0, 12, 12), 0xff0000ffu);
	assert_int_equal(frame_px(f, 1, 12, 12), 0xff00ff00u);

	/* flips on scanout 0: a -> c -> a, same size: hostmem stays */
	used = vgi_gpu_hostmem_used(f->gpu);
	fill_fb(f, c, &top);
	fill_rect(f, c, &top, 0, 0, 1, 1, 0xff445566u);
	assert_int_equal(set_scanout_blob(f, 0, 2, &top, 0, 0, W1, H1), OK);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used);
	assert_int_equal(frame_px(f, 0, 0, 0), 0xff445566u);
	assert_int_equal(frame_px(f, 0, 12, 12), pattern(12, 12));
	assert_int_equal(set_scanout_blob(f, 0, 1, &top, 0, 0, W1, H1), OK);
	assert_int_equal(frame_px(f, 0, 12, 12), 0xff0000ffu);
	/* a smaller rect: a new copy, the old one returned */
	assert_int_equal(set_scanout_blob(f, 0, 2, &top, 16, 16, 64, 32), OK);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used - (uint64_t)W1 * H1 * 4 + 64 * 32 * 4);
	assert_int_equal(f->rec.scanout[0].width, 64);
	assert_int_equal(frame_px(f, 0, 0, 0), pattern(16, 16));
	/* blob 1 left scanout 0: flushing it updates scanout 1 only */
	{
		unsigned u0 = f->rec.updates[0], u1 = f->rec.updates[1];

		assert_int_equal(flush(f, 1, 0, 0, W1, H1), OK);
		assert_int_equal(f->rec.updates[0], u0);
		assert_int_equal(f->rec.updates[1], u1 + 1);
	}
	/* back to a 2D resource on scanout 0: the blob copy is returned */
	{
		struct gg_fb *fb = gg_fb_new(f->gg, 3, XRGB, 64, 64);

		assert_int_equal(gg_set_scanout(f->gg, 0, 3, 0, 0, 64, 64), OK);
		assert_int_equal(f->rec.scanout[0].width, 64);
		assert_int_equal(gg_unref(f->gg, 3), OK);
		gg_fb_free(f->gg, fb);
	}
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_false(f->rec.scanout[1].enabled);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	assert_empty(f);
	blob_free(f, a);
	blob_free(f, c);
}

/* A guest blob as cursor: 64x64 ARGB8888 words from its start (as QEMU). */
static void test_blob_cursor(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 4 * PAGE), *small = blob_alloc(f, PAGE);

	for (uint32_t i = 0; i < 64 * 64; i++)
		blob_put(f, b, (uint64_t)i * 4, 0x80000000u | i);
	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(create_blob(f, 2, small), OK);
	gg_update_cursor(f->gg, 0, 1, 10, 20, 3, 4);
	assert_int_equal(f->rec.cursors[0], 1);
	assert_true(f->rec.cursor_changed);
	for (uint32_t i = 0; i < 64 * 64; i++)
		assert_int_equal(f->rec.cursor_px[i], 0x80000000u | i);
	gg_update_cursor(f->gg, 0, 2, 10, 20, 3, 4);	/* too small: no new image */
	assert_int_equal(f->rec.cursors[0], 2);
	assert_false(f->rec.cursor_changed);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	assert_empty(f);
	blob_free(f, b);
	blob_free(f, small);
}

/* ---------------------------------------------------------------- hostile RESOURCE_CREATE_BLOB */

static void test_blob_create_errors(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 8 * PAGE);
	const uint32_t G = VIRTIO_GPU_BLOB_MEM_GUEST, S = VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE;
	uint64_t hole = f->g->ram_gpa[0] + f->g->ram_size[0];
	struct virtio_gpu_mem_entry bad[16];
	struct virtio_gpu_mem_entry *many;

	/* ids */
	assert_int_equal(create_blob_ents(f, 0, G, S, b->size, b->ents, b->nents, b->nents), E_ID);
	assert_int_equal(gg_create_2d(f->gg, 7, XRGB, 16, 16), OK);
	assert_int_equal(create_blob_ents(f, 7, G, S, b->size, b->ents, b->nents, b->nents), E_ID);
	assert_int_equal(gg_unref(f->gg, 7), OK);
	/* blob_mem: unknown, and host memory without a 3D renderer */
	assert_int_equal(create_blob_ents(f, 1, 0, S, b->size, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, 4, S, b->size, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, 0xffffffffu, S, b->size, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, VIRTIO_GPU_BLOB_MEM_HOST3D, VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE, b->size,
					  NULL, 0, 0), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, VIRTIO_GPU_BLOB_MEM_HOST3D_GUEST, S, b->size, b->ents, b->nents,
					  b->nents), E_PARAM);
	/* flags: unknown bits */
	assert_int_equal(create_blob_ents(f, 1, G, 8, b->size, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, 0xffffffffu, b->size, b->ents, b->nents, b->nents), E_PARAM);
	/* size: 0, not page-aligned, past the entries, past 4 GiB, 2^64-4096 */
	assert_int_equal(create_blob_ents(f, 1, G, S, 0, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, S, 4097, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size - 1, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size + PAGE, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, S, 8ull << 30, b->ents, b->nents, b->nents), E_PARAM);
	assert_int_equal(create_blob_ents(f, 1, G, S, UINT64_MAX - PAGE + 1, b->ents, b->nents, b->nents), E_PARAM);
	/* nr_entries: 0, past the cap, 2^32-1, more announced than sent */
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, b->ents, b->nents, 0), E_UNSPEC);
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, b->ents, b->nents, 16385), E_UNSPEC);
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, b->ents, b->nents, 0xffffffffu), E_UNSPEC);
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, b->ents, b->nents, b->nents + 1), E_UNSPEC);
	/* entries: in the RAM hole, running into it, wrapping 64 bits, length 0, huge */
	memcpy(bad, b->ents, b->nents * sizeof(bad[0]));
	bad[0] = (struct virtio_gpu_mem_entry){ hole, 8 * PAGE, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, bad, 1, 1), E_UNSPEC);
	bad[0] = (struct virtio_gpu_mem_entry){ hole - PAGE, 8 * PAGE, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, bad, 1, 1), E_UNSPEC);
	bad[0] = (struct virtio_gpu_mem_entry){ UINT64_MAX - 100, 8 * PAGE, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, bad, 1, 1), E_UNSPEC);
	bad[0] = (struct virtio_gpu_mem_entry){ b->pages[0], 0, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, bad, 1, 1), E_UNSPEC);
	bad[0] = (struct virtio_gpu_mem_entry){ 0, 0xffffffffu, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, bad, 1, 1), E_UNSPEC);
	/* 16384 entries of 2^32-1 bytes: past the 4 GiB backing cap, refused on the second */
	many = calloc(16384, sizeof(*many));
	for (int i = 0; i < 16384; i++)
		many[i] = (struct virtio_gpu_mem_entry){ f->g->ram_gpa[0], 0xffffffffu, 0 };
	assert_int_equal(create_blob_ents(f, 1, G, S, b->size, many, 16384, 16384), E_UNSPEC);
	free(many);
	/* CVE-2021-3544: nothing left by any failed create */
	assert_empty(f);

	/* overlapping (aliasing) entries are only reads of guest RAM: accepted, as ATTACH_BACKING */
	for (int i = 0; i < 16; i++)
		bad[i] = (struct virtio_gpu_mem_entry){ b->pages[0], PAGE, 0 };
	blob_put(f, b, 8, 0xff0a0b0cu);
	assert_int_equal(create_blob_ents(f, 1, G, S, 16 * PAGE, bad, 16, 16), OK);
	{
		const struct layout l = { XRGB, 16, 16, PAGE, 8 };	/* every row the same page */

		assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 16, 16), OK);
		assert_int_equal(frame_px(f, 0, 0, 15), 0xff0a0b0cu);
	}
	assert_int_equal(gg_unref(f->gg, 1), OK);
	/* the real thing; then the same id again; every flag combination is fine */
	assert_int_equal(create_blob_ents(f, 1, G, 7, b->size, b->ents, b->nents, b->nents), OK);
	assert_int_equal(create_blob(f, 1, b), E_ID);
	/* the core's backing commands on a blob */
	assert_int_equal(gg_attach_backing(f->gg, 1, b->ents, b->nents), E_UNSPEC);
	assert_int_equal(gg_detach_backing(f->gg, 1), E_PARAM);
	/* SET_SCANOUT of a blob: it has no size of its own */
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 16, 16), E_PARAM);
	/* double unref */
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_int_equal(gg_unref(f->gg, 1), E_ID);
	assert_int_equal(flush(f, 1, 0, 0, 1, 1), E_ID);
	assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 1, 1), E_ID);
	assert_empty(f);
	blob_free(f, b);
}

/* ---------------------------------------------------------------- hostile SET_SCANOUT_BLOB */

static void test_blob_scanout_errors(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 16 * PAGE);	/* 65536 bytes */
	const struct layout good = { XRGB, 64, 64, 256, 0 };	/* exactly the first 16 KiB */
	struct layout l;
	uint64_t base;

	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 0, 64, 64), E_ID);	/* no such resource */
	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(gg_create_2d(f->gg, 2, XRGB, 64, 64), OK);
	base = vgi_gpu_hostmem_used(f->gpu);
	/* CVE-2016-10029: scanout ids */
	assert_int_equal(set_scanout_blob(f, 2, 1, &good, 0, 0, 64, 64), E_SCANOUT);
	assert_int_equal(set_scanout_blob(f, 0xffffffffu, 1, &good, 0, 0, 64, 64), E_SCANOUT);
	assert_int_equal(set_scanout_blob(f, 0xffffffffu, 0, &good, 0, 0, 64, 64), E_SCANOUT);
	/* a 2D resource is not a blob */
	assert_int_equal(set_scanout_blob(f, 0, 2, &good, 0, 0, 64, 64), E_ID);
	/* formats */
	l = good;
	l.format = 0;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.format = 100;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.format = 0xffffffffu;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	/* sizes 0, stride short of the width */
	l = good;
	l.width = 0;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 0, 0), E_PARAM);
	l = good;
	l.height = 0;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 0, 0), E_PARAM);
	l = good;
	l.stride = 252;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.stride = 0;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	/* width * 4 past 32 bits: the stride cannot hold it */
	l = good;
	l.width = 0x40000000u;
	l.stride = 0;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.stride = 0xffffffffu;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	/* stride * height past the blob, and with stride * (height - 1) near 2^64 */
	l = good;
	l.height = 257;	/* one row too many */
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.stride = 0xffffffffu;
	l.height = 0xffffffffu;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.width = 0x3fffffffu;
	l.offset = 0xffffffffu;	/* the largest sums: just under 2^64 */
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	/* offsets: past the end, to the byte */
	l = good;
	l.offset = 65536;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.offset = 0xffffffffu;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	l.height = 1;
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 16, 1), E_PARAM);
	l = good;
	l.offset = 65536 - 64 * 256 + 1;	/* last byte one past the blob */
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), E_PARAM);
	/* rects outside the framebuffer, wrapping 32 bits, below the minimum */
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 0, 65, 64), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 1, 0, 64, 64), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 1, 64, 64), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0xffffffc0u, 0, 0x80, 64), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 0xfffffff0u, 64, 0x20), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 0, 15, 64), E_PARAM);
	assert_int_equal(set_scanout_blob(f, 0, 1, &good, 0, 0, 64, 15), E_PARAM);
	/* nothing shown, nothing charged */
	assert_int_equal(f->rec.scanouts[0], 0);
	assert_int_equal(f->rec.scanouts[1], 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), base);

	/* the edges that fit: the last byte of the blob; a 1-pixel-wide stride-4 column */
	l = good;
	l.offset = 65536 - 64 * 256;
	fill_fb(f, b, &l);
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 48, 48, 16, 16), OK);
	assert_int_equal(frame_px(f, 0, 15, 15), pattern(63, 63));
	l = (struct layout){ XRGB, 16, 1024, 64, 0 };	/* the whole blob, stride == width */
	fill_fb(f, b, &l);
	assert_int_equal(set_scanout_blob(f, 1, 1, &l, 0, 1008, 16, 16), OK);
	assert_int_equal(frame_px(f, 1, 15, 15), pattern(15, 1023));
	/* unref while on both scanouts: both disabled, everything returned */
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(f->rec.scanout[1].enabled);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	assert_empty(f);
	blob_free(f, b);
}

/* ---------------------------------------------------------------- MAP_BLOB / UNMAP_BLOB */

static void test_blob_map(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, PAGE);
	struct virtio_gpu_resource_map_blob m = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, .resource_id = 1 };
	struct virtio_gpu_resource_unmap_blob u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, .resource_id = 1 };

	expect_untouched(f, &m, sizeof(m), sizeof(struct virtio_gpu_resp_map_info), E_ID);
	expect_untouched(f, &u, sizeof(u), sizeof(struct virtio_gpu_resp_map_info), E_ID);
	assert_int_equal(create_blob_ents(f, 1, VIRTIO_GPU_BLOB_MEM_GUEST, VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE, PAGE,
					  b->ents, b->nents, b->nents), OK);
	/* a guest blob is not host-visible: no map, whatever the offset */
	expect_untouched(f, &m, sizeof(m), sizeof(struct virtio_gpu_resp_map_info), E_PARAM);
	m.offset = UINT64_MAX;
	expect_untouched(f, &m, sizeof(m), sizeof(struct virtio_gpu_resp_map_info), E_PARAM);
	expect_untouched(f, &u, sizeof(u), sizeof(struct virtio_gpu_resp_map_info), E_PARAM);
	/* nor a 2D resource */
	assert_int_equal(gg_create_2d(f->gg, 2, XRGB, 16, 16), OK);
	m.resource_id = u.resource_id = 2;
	expect_untouched(f, &m, sizeof(m), sizeof(struct virtio_gpu_resp_map_info), E_PARAM);
	expect_untouched(f, &u, sizeof(u), sizeof(struct virtio_gpu_resp_map_info), E_PARAM);
	/* short commands */
	expect_untouched(f, &m, sizeof(m) - 1, sizeof(struct virtio_gpu_resp_map_info), E_UNSPEC);
	expect_untouched(f, &u, sizeof(u) - 4, sizeof(struct virtio_gpu_resp_map_info), E_UNSPEC);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_int_equal(gg_unref(f->gg, 2), OK);
	assert_empty(f);
	blob_free(f, b);
}

/* ---------------------------------------------------------------- host memory */

static void test_blob_hostmem_exhaustion(void **state)
{
	struct fx *f = fx_new_cfg(true, 1u << 20);
	struct blob *b = blob_alloc(f, 64 * PAGE);
	const struct layout big = { XRGB, 256, 256, 1024, 0 };	/* 256 KiB copy */
	uint32_t n = 0, t;

	/* a scanout copy larger than the whole budget */
	{
		struct blob *huge = blob_alloc(f, 300 * PAGE);
		const struct layout l = { XRGB, 600, 500, 2400, 0 };	/* 1.2 MB copy > 1 MiB */

		assert_int_equal(create_blob(f, 1, huge), OK);
		assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 600, 500), E_OOM);
		assert_int_equal(f->rec.scanouts[0], 0);
		assert_int_equal(gg_unref(f->gg, 1), OK);
		assert_empty(f);
		blob_free(f, huge);
	}
	/* two 256 KiB scanout copies fit; blobs then until the cap */
	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(set_scanout_blob(f, 0, 1, &big, 0, 0, 256, 256), OK);
	assert_int_equal(set_scanout_blob(f, 1, 1, &big, 0, 0, 256, 256), OK);
	while ((t = create_blob(f, 100 + n, b)) == OK)
		n++;
	assert_int_equal(t, E_OOM);
	assert_true(n > 10);
	assert_true(vgi_gpu_hostmem_used(f->gpu) <= (1u << 20));
	/* a third copy no longer fits; the scanouts already set are unchanged */
	assert_int_equal(gg_unref(f->gg, 100), OK);
	assert_int_equal(set_scanout_blob(f, 0, 1, &big, 0, 0, 128, 256), E_OOM);
	assert_int_equal(f->rec.scanout[0].width, 256);
	/* free everything: back to zero, and the whole budget usable again */
	for (uint32_t i = 1; i < n; i++)
		assert_int_equal(gg_unref(f->gg, 100 + i), OK);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(f->rec.scanout[1].enabled);
	assert_empty(f);
	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(set_scanout_blob(f, 0, 1, &big, 0, 0, 256, 256), OK);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	blob_free(f, b);
	fx_free(f);
}

/* A device reset with blobs on scanouts frees everything. */
static void test_blob_reset(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 64 * PAGE);
	const struct layout l = { XRGB, 256, 256, 1024, 0 };

	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(create_blob(f, 2, b), OK);	/* two blobs over the same pages */
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 256, 256), OK);
	assert_int_equal(set_scanout_blob(f, 1, 2, &l, 0, 0, 200, 100), OK);
	vgi_virtio_device_reset(f->gg->dev);
	assert_empty(f);
	assert_false(f->rec.scanout[0].enabled);
	assert_false(f->rec.scanout[1].enabled);
	/* the driver comes back and the same ids work */
	gg_free(f->gg);
	f->gg = gg_new(f->g, f->gpu);
	assert_int_equal(create_blob(f, 1, b), OK);
	fill_fb(f, b, &l);
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 256, 256), OK);
	assert_frame_pattern(f, 0, 0, 0, 256, 256);
	/* left alive: vgi_gpu_free frees it (ASan checks) */
	blob_free(f, b);
}

/* Guest RAM moves (a memory-table change): blobs are translated again and still shown. */
static void test_blob_memory_remap(void **state)
{
	struct fx *f = *state;
	struct blob *b = blob_alloc(f, 16 * PAGE);
	const struct layout l = { XRGB, 64, 64, 256, 0 };
	struct vgi_guest_memory *empty = vgi_guest_memory_new();
	uint64_t used;

	fill_fb(f, b, &l);
	assert_int_equal(create_blob(f, 1, b), OK);
	assert_int_equal(set_scanout_blob(f, 0, 1, &l, 0, 0, 64, 64), OK);
	used = vgi_gpu_hostmem_used(f->gpu);
	assert_int_equal(vgi_virtio_device_set_memory(f->gg->dev, f->g->mem), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), used);
	fill_rect(f, b, &l, 0, 0, 64, 64, 0xff010101u);
	assert_int_equal(flush(f, 1, 0, 0, 64, 64), OK);
	assert_int_equal(frame_px(f, 0, 63, 63), 0xff010101u);
	/* a map without that RAM: the blob on the scanout loses its pages; flushes show nothing, no crash */
	vgi_virtio_device_set_memory(f->gg->dev, empty);
	assert_true(vgi_gpu_hostmem_used(f->gpu) < used);
	vgi_virtio_device_set_memory(f->gg->dev, f->g->mem);
	assert_int_equal(tg_queue_attach(f->gg->ctrl, f->gg->dev, 0), 0);
	assert_int_equal(tg_queue_attach(f->gg->cursor, f->gg->dev, 1), 0);
	{
		unsigned before = f->rec.updates[0];

		assert_int_equal(flush(f, 1, 0, 0, 64, 64), OK);
		assert_int_equal(f->rec.updates[0], before);
	}
	assert_int_equal(set_scanout_blob(f, 1, 1, &l, 0, 0, 64, 64), E_ID);	/* no pages: not showable */
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	vgi_guest_memory_free(empty);
	blob_free(f, b);
}

/* ---------------------------------------------------------------- random sequences */

static uint32_t rnd(uint32_t *seed, uint32_t n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) % n;
}

#define PICK(seed, a) ((a)[rnd(seed, sizeof(a) / sizeof((a)[0]))])

/*
 * Random blob command sequences over a few ids and pages, with mostly
 * plausible and sometimes hostile fields: every answer is a valid
 * response, the sinks only ever get images that match their scanout
 * (rec_update checks), host memory stays under the cap, and everything
 * comes back at the end.
 */
static void test_blob_random(void **state)
{
	static const uint32_t ids[] = { 0, 1, 2, 3, 4, 0xffffffffu };
	static const uint32_t mems[] = { 1, 1, 1, 1, 2, 3, 0, 9 };
	static const uint64_t sizes[] = { 4096, 8192, 16384, 32768, 65536, 0, 4097, 1ull << 33 };
	static const uint32_t dims[] = { 16, 17, 32, 64, 100, 0, 1, 0x40000000u, 0xffffffffu };
	static const uint32_t strides[] = { 64, 128, 256, 400, 1024, 0, 0xffffffffu };
	static const uint32_t offs[] = { 0, 0, 4, 4096, 60000, 0xffffffffu };
	static const uint32_t coords[] = { 0, 0, 1, 8, 16, 48, 0xfffffff0u };
	static const uint32_t fmts[] = { 1, 2, 3, 4, 67, 68, 121, 134, 0, 100 };
	struct fx *f = *state;
	uint64_t pages[16];
	uint32_t seed = 77;
	unsigned ok = 0;

	for (int i = 0; i < 16; i++)
		pages[i] = tg_alloc_page(f->g);
	for (int it = 0; it < 3000; it++) {
		uint32_t t = 0, op = rnd(&seed, 9), id = PICK(&seed, ids);

		switch (op) {
		case 0: case 1: {	/* CREATE_BLOB over some of the pool, maybe out of order or repeated */
			struct virtio_gpu_mem_entry e[16];
			uint32_t n = 1 + rnd(&seed, 16);

			for (uint32_t j = 0; j < n; j++)
				e[j] = (struct virtio_gpu_mem_entry){ pages[rnd(&seed, 16)], PAGE, 0 };
			t = create_blob_ents(f, id, PICK(&seed, mems), rnd(&seed, 8) ? VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE : 8,
					     it % 5 ? (uint64_t)n * PAGE : PICK(&seed, sizes), e, n,
					     it % 7 ? n : n + rnd(&seed, 3));
			break;
		}
		case 2: case 3: {	/* SET_SCANOUT_BLOB, plausible two times in three */
			struct layout l = { PICK(&seed, fmts), PICK(&seed, dims), PICK(&seed, dims), PICK(&seed, strides),
					    PICK(&seed, offs) };
			uint32_t x = PICK(&seed, coords), y = PICK(&seed, coords), w = PICK(&seed, dims),
				 h = PICK(&seed, dims);

			if (it % 3) {
				l = (struct layout){ XRGB, 32, 32, 128 + 64 * rnd(&seed, 3), 4 * rnd(&seed, 4) };
				x = y = rnd(&seed, 3) * 8;
				w = h = 16;
			}
			t = set_scanout_blob(f, rnd(&seed, 3), it % 11 ? id : 0, &l, x, y, w, h);
			break;
		}
		case 4:
			t = flush(f, id, PICK(&seed, coords), PICK(&seed, coords), PICK(&seed, dims), PICK(&seed, dims));
			break;
		case 5:
			t = gg_transfer_2d(f->gg, id, PICK(&seed, offs), 0, 0, PICK(&seed, dims), 1);
			break;
		case 6:
			t = it % 2 ? gg_unref(f->gg, id) : gg_create_2d(f->gg, id, XRGB, 32, 32);
			break;
		case 7: {
			struct virtio_gpu_resource_map_blob m = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
								  .resource_id = id, .offset = PICK(&seed, offs) };

			if (it % 2)
				m.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB;
			t = gg_cmd(f->gg, &m, sizeof(m), NULL, 0, NULL, sizeof(struct virtio_gpu_resp_map_info));
			assert_int_not_equal(t, VIRTIO_GPU_RESP_OK_MAP_INFO);	/* nothing is host-visible */
			break;
		}
		case 8:
			gg_update_cursor(f->gg, rnd(&seed, 3), id, 5, 5, 0, 0);
			t = OK;
			break;
		}
		assert_true(t == OK || (t >= VIRTIO_GPU_RESP_ERR_UNSPEC && t <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER));
		ok += t == OK;
		assert_true(vgi_gpu_hostmem_used(f->gpu) <= VGI_GPU_DEFAULT_MAX_HOSTMEM);
		if (it % 1000 == 999) {	/* the guest RAM mapped again now and then */
			assert_int_equal(vgi_virtio_device_set_memory(f->gg->dev, f->g->mem), 0);
		}
	}
	printf("random blob commands: 3000 answered, %u OK, %u + %u sink updates\n", ok, f->rec.updates[0],
	       f->rec.updates[1]);
	assert_true(ok > 300);
	assert_true(f->rec.updates[0] > 20 && f->rec.updates[1] > 20);
	for (uint32_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		gg_unref(f->gg, ids[i]);
	assert_empty(f);
	for (int i = 0; i < 16; i++)
		tg_free_page(f->g, pages[i]);
}

/* ---------------------------------------------------------------- feature off (vhost-user's vgi-gpu) */

/*
 * cfg->blob off (vgi-gpu never sets it: QEMU's vhost-user-gpu cannot carry
 * blob scanouts): the feature is not offered and a guest that sends blob
 * commands anyway gets ERR_UNSPEC, nothing written past the header,
 * nothing allocated.
 */
static void test_blob_not_offered(void **state)
{
	struct fx *f = fx_new_cfg(false, 0);
	struct blob *b = blob_alloc(f, 4 * PAGE);
	struct virtio_gpu_resource_create_blob c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .resource_id = 1, .blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST,
		.nr_entries = b->nents, .size = b->size,
	};
	struct virtio_gpu_set_scanout_blob s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { 0, 0, 16, 16 }, .resource_id = 1, .width = 16,
		.height = 16, .format = XRGB, .strides = { 64 },
	};
	struct virtio_gpu_resource_map_blob m = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, .resource_id = 1 };
	struct virtio_gpu_resource_unmap_blob u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, .resource_id = 1 };

	assert_false(f->gg->features & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), b->ents, b->nents * sizeof(b->ents[0]), NULL, 24), E_UNSPEC);
	assert_empty(f);
	c.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D;
	assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), NULL, 0, NULL, 24), E_UNSPEC);
	/* with a real resource of that id, too */
	assert_int_equal(gg_create_2d(f->gg, 1, XRGB, 16, 16), OK);
	expect_untouched(f, &s, sizeof(s), 64, E_UNSPEC);
	s.resource_id = 0;
	expect_untouched(f, &s, sizeof(s), 64, E_UNSPEC);
	expect_untouched(f, &m, sizeof(m), sizeof(struct virtio_gpu_resp_map_info), E_UNSPEC);
	expect_untouched(f, &u, sizeof(u), sizeof(struct virtio_gpu_resp_map_info), E_UNSPEC);
	assert_int_equal(f->rec.scanouts[0], 0);
	assert_int_equal(gg_unref(f->gg, 1), OK);
	assert_empty(f);
	blob_free(f, b);
	fx_free(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_blob_scanout),
		T(test_blob_formats),
		T(test_blob_two_scanouts_and_flips),
		T(test_blob_cursor),
		T(test_blob_create_errors),
		T(test_blob_scanout_errors),
		T(test_blob_map),
		cmocka_unit_test(test_blob_hostmem_exhaustion),
		T(test_blob_reset),
		T(test_blob_memory_remap),
		T(test_blob_random),
		cmocka_unit_test(test_blob_not_offered),
	};

	vgi_log_set_handler(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
