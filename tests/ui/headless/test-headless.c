// SPDX-License-Identifier: MIT
/* The headless sink: format conversion, damage, cursor composition, PNG files. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <drm_fourcc.h>

#include <vgi/headless.h>
#include <vgi/sinks.h>

static char tmpdir[64];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vgi-headless-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
	return 0;
}

static unsigned count_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Read a PNG back as 8-bit RGB (or RGBA) with libpng (caller frees). */
static uint8_t *read_png_as(const char *path, uint32_t *w, uint32_t *h, uint32_t format, bool *had_alpha)
{
	png_image img = { .version = PNG_IMAGE_VERSION };
	uint8_t *buf;

	if (!png_image_begin_read_from_file(&img, path))
		return NULL;
	if (had_alpha)
		*had_alpha = img.format & PNG_FORMAT_FLAG_ALPHA;
	img.format = format;
	buf = malloc(PNG_IMAGE_SIZE(img));
	assert_non_null(buf);
	if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
		free(buf);
		png_image_free(&img);
		return NULL;
	}
	*w = img.width;
	*h = img.height;
	return buf;
}

static uint8_t *read_png(const char *path, uint32_t *w, uint32_t *h)
{
	bool alpha = true;
	uint8_t *p = read_png_as(path, w, h, PNG_FORMAT_RGB, &alpha);

	assert_false(alpha);	/* frames are written without alpha */
	return p;
}

static void enable(struct vgi_headless *h, uint32_t id, uint32_t w, uint32_t ht, uint32_t format)
{
	struct vgi_scanout s = { .enabled = true, .width = w, .height = ht, .format = format };

	vgi_headless_ops()->scanout(h, id, &s);
}

static void update(struct vgi_headless *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t ht,
		   const struct vgi_image *img)
{
	struct vgi_rect r = { x, y, w, ht };

	vgi_headless_ops()->update(h, id, &r, img);
}

/*
 * A pixel with the given channels packed as the DRM fourcc says: the name
 * lists the channels from the most significant byte of a little-endian u32.
 */
static uint32_t pack(uint32_t fourcc, uint8_t a, uint8_t r, uint8_t g, uint8_t b)
{
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888: case DRM_FORMAT_XRGB8888:
		return (uint32_t)a << 24 | (uint32_t)r << 16 | (uint32_t)g << 8 | b;
	case DRM_FORMAT_BGRA8888: case DRM_FORMAT_BGRX8888:
		return (uint32_t)b << 24 | (uint32_t)g << 16 | (uint32_t)r << 8 | a;
	case DRM_FORMAT_ABGR8888: case DRM_FORMAT_XBGR8888:
		return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)g << 8 | r;
	case DRM_FORMAT_RGBA8888: case DRM_FORMAT_RGBX8888:
		return (uint32_t)r << 24 | (uint32_t)g << 16 | (uint32_t)b << 8 | a;
	}
	fail();
	return 0;
}

static const struct {
	uint32_t fourcc;
	bool alpha;
} formats[] = {
	{ DRM_FORMAT_ARGB8888, true }, { DRM_FORMAT_XRGB8888, false },
	{ DRM_FORMAT_BGRA8888, true }, { DRM_FORMAT_BGRX8888, false },
	{ DRM_FORMAT_ABGR8888, true }, { DRM_FORMAT_XBGR8888, false },
	{ DRM_FORMAT_RGBA8888, true }, { DRM_FORMAT_RGBX8888, false },
};

/* Byte order in memory, checked once against the packing above. */
static void test_pack_is_little_endian(void **state)
{
	uint32_t p = pack(DRM_FORMAT_ABGR8888, 0x78, 0x12, 0x34, 0x56);
	const uint8_t *b = (const uint8_t *)&p;

	/* ABGR8888 is R, G, B, A in memory order (as GL_RGBA bytes). */
	assert_int_equal(b[0], 0x12);
	assert_int_equal(b[1], 0x34);
	assert_int_equal(b[2], 0x56);
	assert_int_equal(b[3], 0x78);
}

static void test_formats(void **state)
{
	enum { W = 37, H = 5 };	/* odd width: SIMD paths and their tails */

	for (unsigned f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		struct vgi_headless *h = vgi_headless_new(NULL);
		uint32_t src[W * H];
		struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = formats[f].fourcc, .data = src };
		const struct vgi_image *fr;

		for (unsigned i = 0; i < W * H; i++)
			src[i] = pack(formats[f].fourcc, (uint8_t)(i * 7 + 3), (uint8_t)(i * 3), (uint8_t)(255 - i),
				      (uint8_t)(i * 11 + 1));
		/* extremes, including alpha 0 with colour (no premultiplication may happen) */
		src[0] = pack(formats[f].fourcc, 0x78, 0x12, 0x34, 0x56);
		src[1] = pack(formats[f].fourcc, 0x00, 0xff, 0x80, 0x01);
		src[2] = pack(formats[f].fourcc, 0xff, 0x00, 0x00, 0x00);

		enable(h, 0, W, H, formats[f].fourcc);
		update(h, 0, 0, 0, W, H, &img);
		fr = vgi_headless_frame(h, 0);
		assert_non_null(fr);
		assert_int_equal(fr->width, W);
		assert_int_equal(fr->height, H);
		assert_int_equal(fr->stride, W * 4);
		assert_int_equal(fr->format, formats[f].alpha ? DRM_FORMAT_ARGB8888 : DRM_FORMAT_XRGB8888);

		const uint32_t *px = fr->data;

		if (formats[f].alpha) {
			assert_int_equal(px[0], 0x78123456);
			assert_int_equal(px[1], 0x00ff8001);
		} else {
			assert_int_equal(px[0], 0xff123456);
			assert_int_equal(px[1], 0xffff8001);
		}
		assert_int_equal(px[2], 0xff000000);
		for (unsigned i = 3; i < W * H; i++) {
			uint32_t a = formats[f].alpha ? (uint8_t)(i * 7 + 3) : 0xff;
			uint32_t want = a << 24 | (uint32_t)(uint8_t)(i * 3) << 16 | (uint32_t)(uint8_t)(255 - i) << 8 |
					(uint8_t)(i * 11 + 1);

			if (px[i] != want)
				fail_msg("format %u pixel %u: got 0x%08x want 0x%08x", f, i, px[i], want);
		}
		assert_int_equal(vgi_headless_update_count(h, 0), 1);
		vgi_headless_free(h);
	}
}

/* An alpha image on an XRGB scanout still gives X = 0xff; odd strides and unaligned rows work. */
static void test_format_mismatch_and_odd_stride(void **state)
{
	struct vgi_headless *h = vgi_headless_new(NULL);
	uint8_t raw[4 * 9 * 3 + 3 + 1];
	uint8_t *base = raw + 1;	/* unaligned rows, stride 4*4+2 bytes */
	struct vgi_image img = { .width = 4, .height = 3, .stride = 18, .format = DRM_FORMAT_ARGB8888, .data = base };
	const uint32_t *px;

	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 4; x++) {
			uint32_t v = pack(DRM_FORMAT_ARGB8888, 0x10, (uint8_t)(x * 40), (uint8_t)(y * 70), 0x33);

			memcpy(base + y * 18 + x * 4, &v, 4);
		}
	enable(h, 0, 4, 3, DRM_FORMAT_XRGB8888);
	update(h, 0, 0, 0, 4, 3, &img);
	px = vgi_headless_frame(h, 0)->data;
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 4; x++)
			assert_int_equal(px[y * 4 + x], 0xff000000u | (x * 40) << 16 | (y * 70) << 8 | 0x33);
	/* stride smaller than a row: rejected, nothing counted */
	img.stride = 15;
	update(h, 0, 0, 0, 4, 3, &img);
	assert_int_equal(vgi_headless_update_count(h, 0), 1);
	/* unknown format: rejected */
	img.stride = 18;
	img.format = DRM_FORMAT_RGB565;
	update(h, 0, 0, 0, 4, 3, &img);
	assert_int_equal(vgi_headless_update_count(h, 0), 1);
	vgi_headless_free(h);
}

static void test_damage_only(void **state)
{
	enum { W = 64, H = 48 };
	struct vgi_headless *h = vgi_headless_new(NULL);
	uint32_t *src = malloc(W * H * 4);
	struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = DRM_FORMAT_XRGB8888, .data = src };
	const uint32_t *px;

	for (unsigned i = 0; i < W * H; i++)
		src[i] = 0x00aaaaaa;
	enable(h, 0, W, H, DRM_FORMAT_XRGB8888);
	/* before any update: opaque black */
	px = vgi_headless_frame(h, 0)->data;
	assert_int_equal(px[0], 0xff000000);
	update(h, 0, 0, 0, W, H, &img);
	for (unsigned i = 0; i < W * H; i++)
		src[i] = 0x00bbbbbb;
	update(h, 0, 10, 5, 7, 3, &img);
	px = vgi_headless_frame(h, 0)->data;
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++) {
			bool in = x >= 10 && x < 17 && y >= 5 && y < 8;

			assert_int_equal(px[y * W + x], in ? 0xffbbbbbb : 0xffaaaaaa);
		}
	/* damage hanging off the right and bottom edge: clipped */
	for (unsigned i = 0; i < W * H; i++)
		src[i] = 0x00cccccc;
	update(h, 0, 60, 46, 100, UINT32_MAX, &img);
	assert_int_equal(px[47 * W + 63], 0xffcccccc);
	assert_int_equal(px[46 * W + 60], 0xffcccccc);
	assert_int_equal(px[45 * W + 63], 0xffaaaaaa);
	assert_int_equal(px[47 * W + 59], 0xffaaaaaa);
	/* entirely outside, or empty: nothing copied, but counted */
	for (unsigned i = 0; i < W * H; i++)
		src[i] = 0x00dddddd;
	update(h, 0, W, 0, 1, 1, &img);
	update(h, 0, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, &img);
	update(h, 0, 0, 0, 0, 5, &img);
	for (unsigned i = 0; i < W * H; i++)
		assert_int_not_equal(px[i], 0xffdddddd);
	assert_int_equal(vgi_headless_update_count(h, 0), 6);
	/* an image smaller than the scanout: clipped to the image */
	img.width = 8;
	img.height = 2;
	update(h, 0, 0, 0, W, H, &img);
	assert_int_equal(px[1 * W + 7], 0xffdddddd);
	assert_int_equal(px[1 * W + 8], 0xffaaaaaa);
	assert_int_equal(px[2 * W + 0], 0xffaaaaaa);
	/* the frame is kept when the scanout is set again with the same mode */
	enable(h, 0, W, H, DRM_FORMAT_BGRX8888);
	assert_int_equal(((const uint32_t *)vgi_headless_frame(h, 0)->data)[0], 0xffdddddd);
	/* and replaced by a black one when it changes */
	enable(h, 0, W, H + 1, DRM_FORMAT_XRGB8888);
	assert_int_equal(((const uint32_t *)vgi_headless_frame(h, 0)->data)[0], 0xff000000);
	free(src);
	vgi_headless_free(h);
}

static void test_disabled_scanout(void **state)
{
	struct vgi_headless *h = vgi_headless_new(NULL);
	uint32_t src[4] = { 0x123456, 0x123456, 0x123456, 0x123456 };
	struct vgi_image img = { .width = 2, .height = 2, .stride = 8, .format = DRM_FORMAT_XRGB8888, .data = src };
	struct vgi_scanout off = { .enabled = false };
	char path[128];

	snprintf(path, sizeof(path), "%s/off.png", tmpdir);
	assert_null(vgi_headless_frame(h, 0));
	assert_int_equal(vgi_headless_write_png(h, 0, path, false), -ENODATA);
	update(h, 0, 0, 0, 2, 2, &img);		/* never enabled */
	assert_int_equal(vgi_headless_update_count(h, 0), 0);
	enable(h, 0, 2, 2, DRM_FORMAT_XRGB8888);
	update(h, 0, 0, 0, 2, 2, &img);
	assert_int_equal(vgi_headless_update_count(h, 0), 1);
	vgi_headless_ops()->scanout(h, 0, &off);
	assert_null(vgi_headless_frame(h, 0));
	update(h, 0, 0, 0, 2, 2, &img);
	assert_int_equal(vgi_headless_update_count(h, 0), 1);
	assert_int_equal(vgi_headless_write_png(h, 0, path, true), -ENODATA);
	assert_int_equal(access(path, F_OK), -1);
	/* re-enabled: black again */
	enable(h, 0, 2, 2, DRM_FORMAT_XRGB8888);
	assert_int_equal(((const uint32_t *)vgi_headless_frame(h, 0)->data)[3], 0xff000000);
	/* bad modes disable; out-of-range ids are ignored */
	enable(h, 0, 0, 2, DRM_FORMAT_XRGB8888);
	assert_null(vgi_headless_frame(h, 0));
	enable(h, 0, 2, 2, DRM_FORMAT_RGB565);
	assert_null(vgi_headless_frame(h, 0));
	enable(h, 0, 100000, 2, DRM_FORMAT_XRGB8888);
	assert_null(vgi_headless_frame(h, 0));
	enable(h, VGI_MAX_SCANOUTS, 2, 2, DRM_FORMAT_XRGB8888);
	update(h, VGI_MAX_SCANOUTS, 0, 0, 2, 2, &img);
	vgi_headless_ops()->cursor(h, UINT32_MAX, &(struct vgi_cursor){ .visible = true });
	assert_null(vgi_headless_frame(h, VGI_MAX_SCANOUTS));
	assert_null(vgi_headless_cursor(h, VGI_MAX_SCANOUTS));
	assert_int_equal(vgi_headless_update_count(h, VGI_MAX_SCANOUTS), 0);
	assert_int_equal(vgi_headless_write_png(h, VGI_MAX_SCANOUTS, path, false), -EINVAL);
	/* scanouts are independent */
	enable(h, 3, 2, 2, DRM_FORMAT_XRGB8888);
	update(h, 3, 0, 0, 2, 2, &img);
	assert_non_null(vgi_headless_frame(h, 3));
	assert_null(vgi_headless_frame(h, 0));
	assert_int_equal(vgi_headless_update_count(h, 3), 1);
	vgi_headless_ops()->destroy(h);
}

/* Frame W x H filled with colour bg; cursor pixel (cx, cy) opaque, encoding its position. */
enum { CW = 40, CH = 30 };

static uint32_t cursor_px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];

static struct vgi_headless *cursor_setup(void)
{
	struct vgi_headless *h = vgi_headless_new(NULL);
	static uint32_t bg[CW * CH];
	struct vgi_image img = { .width = CW, .height = CH, .stride = CW * 4, .format = DRM_FORMAT_XRGB8888, .data = bg };

	for (unsigned i = 0; i < CW * CH; i++)
		bg[i] = 0x000000ff;	/* blue */
	for (unsigned y = 0; y < VGI_CURSOR_SIZE; y++)
		for (unsigned x = 0; x < VGI_CURSOR_SIZE; x++)
			cursor_px[y * VGI_CURSOR_SIZE + x] = 0xff000000u | (x + 1) << 16 | (y + 1) << 8;
	/* one half-transparent premultiplied pixel: alpha 0x80, red 0x40 */
	cursor_px[5 * VGI_CURSOR_SIZE + 6] = 0x80400000;
	/* one fully transparent pixel */
	cursor_px[7 * VGI_CURSOR_SIZE + 8] = 0;
	enable(h, 0, CW, CH, DRM_FORMAT_XRGB8888);
	update(h, 0, 0, 0, CW, CH, &img);
	return h;
}

static void set_cursor(struct vgi_headless *h, bool visible, int32_t x, int32_t y, uint32_t hx, uint32_t hy,
		       bool image)
{
	struct vgi_cursor c = {
		.visible = visible, .x = x, .y = y, .hot_x = hx, .hot_y = hy,
		.image_changed = image, .pixels = image ? cursor_px : NULL,
	};

	vgi_headless_ops()->cursor(h, 0, &c);
}

/* Write with the cursor, read back, and check every pixel against a model. */
static void check_composited(struct vgi_headless *h, int64_t left, int64_t top, bool cursor_expected)
{
	char path[128];
	uint32_t w, ht;
	uint8_t *rgb;

	snprintf(path, sizeof(path), "%s/cursor.png", tmpdir);
	assert_int_equal(vgi_headless_write_png(h, 0, path, true), 0);
	rgb = read_png(path, &w, &ht);
	assert_non_null(rgb);
	assert_int_equal(w, CW);
	assert_int_equal(ht, CH);
	for (int64_t y = 0; y < CH; y++)
		for (int64_t x = 0; x < CW; x++) {
			int64_t cx = x - left, cy = y - top;
			uint8_t r = 0, g = 0, b = 0xff;
			const uint8_t *p = rgb + (y * CW + x) * 3;

			if (cursor_expected && cx >= 0 && cy >= 0 && cx < VGI_CURSOR_SIZE && cy < VGI_CURSOR_SIZE) {
				if (cx == 6 && cy == 5) {
					/* OVER: 0x40 red + blue * (1 - 0x80/255) */
					r = 0x40;
					b = 0x7f;
				} else if (!(cx == 8 && cy == 7)) {
					r = (uint8_t)(cx + 1);
					g = (uint8_t)(cy + 1);
					b = 0;
				}
			}
			if (p[0] != r || p[1] != g || p[2] != b)
				fail_msg("cursor at (%lld,%lld): pixel (%lld,%lld) is %02x%02x%02x, want %02x%02x%02x",
					 (long long)left, (long long)top, (long long)x, (long long)y, p[0], p[1], p[2],
					 r, g, b);
		}
	free(rgb);
}

static void test_cursor_composition(void **state)
{
	struct vgi_headless *h = cursor_setup();
	const struct vgi_cursor *c;

	assert_null(vgi_headless_cursor(h, 0));
	/* moved before any image: state kept, nothing drawn */
	set_cursor(h, true, 3, 4, 0, 0, false);
	c = vgi_headless_cursor(h, 0);
	assert_non_null(c);
	assert_null(c->pixels);
	check_composited(h, 0, 0, false);

	set_cursor(h, true, 2, 3, 0, 0, true);
	c = vgi_headless_cursor(h, 0);
	assert_true(c->visible);
	assert_int_equal(c->x, 2);
	assert_int_equal(c->y, 3);
	assert_non_null(c->pixels);
	assert_memory_equal(c->pixels, cursor_px, sizeof(cursor_px));
	check_composited(h, 2, 3, true);
	/* negative position: top and left cut off */
	set_cursor(h, true, -10, -20, 0, 0, false);
	check_composited(h, -10, -20, true);
	/* hot spot moves the image up and left */
	set_cursor(h, true, 0, 0, 63, 63, false);
	check_composited(h, -63, -63, true);
	set_cursor(h, true, 30, 20, 2, 3, false);
	check_composited(h, 28, 17, true);
	/* bottom-right corner, one pixel visible */
	set_cursor(h, true, CW - 1, CH - 1, 0, 0, false);
	check_composited(h, CW - 1, CH - 1, true);
	/* far outside, and at the extremes of int32 with large hot spots */
	set_cursor(h, true, CW, 0, 0, 0, false);
	check_composited(h, CW, 0, true);
	set_cursor(h, true, INT32_MIN, INT32_MIN, UINT32_MAX, UINT32_MAX, false);
	check_composited(h, 0, 0, false);
	set_cursor(h, true, INT32_MAX, INT32_MAX, 0, 0, false);
	check_composited(h, 0, 0, false);
	set_cursor(h, true, 5, 5, UINT32_MAX, 0, false);
	check_composited(h, 0, 0, false);
	/* hidden: not drawn; the image stays defined */
	set_cursor(h, false, 2, 3, 0, 0, false);
	check_composited(h, 0, 0, false);
	assert_non_null(vgi_headless_cursor(h, 0)->pixels);
	/* image_changed without pixels: ignored, old image kept */
	set_cursor(h, true, 2, 3, 0, 0, false);
	vgi_headless_ops()->cursor(h, 0, &(struct vgi_cursor){ .visible = true, .x = 2, .y = 3, .image_changed = true });
	check_composited(h, 2, 3, true);

	/* without cursor=true the PNG is the frame alone */
	{
		char path[128];
		uint32_t w, ht;
		uint8_t *rgb;

		snprintf(path, sizeof(path), "%s/nocursor.png", tmpdir);
		assert_int_equal(vgi_headless_write_png(h, 0, path, false), 0);
		rgb = read_png(path, &w, &ht);
		assert_non_null(rgb);
		for (unsigned i = 0; i < CW * CH; i++)
			assert_true(rgb[i * 3] == 0 && rgb[i * 3 + 1] == 0 && rgb[i * 3 + 2] == 0xff);
		free(rgb);
	}
	/* the frame itself never holds the cursor */
	assert_int_equal(((const uint32_t *)vgi_headless_frame(h, 0)->data)[3 * CW + 2], 0xff0000ff);
	vgi_headless_free(h);
}

static void test_png_round_trip(void **state)
{
	enum { W = 37, H = 23 };

	for (int alpha = 0; alpha < 2; alpha++) {
		struct vgi_headless *h = vgi_headless_new(NULL);
		uint32_t src[W * H];
		uint32_t fmt = alpha ? DRM_FORMAT_ABGR8888 : DRM_FORMAT_XBGR8888;
		struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = fmt, .data = src };
		char path[128];
		uint32_t w, ht;
		uint8_t *rgb;

		for (unsigned i = 0; i < W * H; i++)
			src[i] = pack(fmt, (uint8_t)(i * 5), (uint8_t)(i * 13), (uint8_t)(i >> 2), (uint8_t)(i * 7 + 100));
		enable(h, 0, W, H, fmt);
		update(h, 0, 0, 0, W, H, &img);
		snprintf(path, sizeof(path), "%s/round.png", tmpdir);
		assert_int_equal(vgi_headless_write_png(h, 0, path, false), 0);
		rgb = read_png(path, &w, &ht);
		assert_non_null(rgb);
		assert_int_equal(w, W);
		assert_int_equal(ht, H);
		for (unsigned i = 0; i < W * H; i++) {
			assert_int_equal(rgb[i * 3 + 0], (uint8_t)(i * 13));
			assert_int_equal(rgb[i * 3 + 1], (uint8_t)(i >> 2));
			assert_int_equal(rgb[i * 3 + 2], (uint8_t)(i * 7 + 100));
		}
		free(rgb);
		/* overwriting works and leaves no temporary file */
		assert_int_equal(vgi_headless_write_png(h, 0, path, true), 0);
		snprintf(path, sizeof(path), "%s/round.png.tmp", tmpdir);
		assert_int_equal(access(path, F_OK), -1);
		vgi_headless_free(h);
	}
}

static void test_bad_paths(void **state)
{
	struct vgi_headless *h = vgi_headless_new(NULL);
	uint32_t src[4] = { 0 };
	struct vgi_image img = { .width = 2, .height = 2, .stride = 8, .format = DRM_FORMAT_XRGB8888, .data = src };
	char path[160];
	int ret;

	enable(h, 0, 2, 2, DRM_FORMAT_XRGB8888);
	update(h, 0, 0, 0, 2, 2, &img);
	assert_int_equal(vgi_headless_write_png(h, 0, "/nonexistent-vgi-dir/x.png", false), -ENOENT);
	assert_int_equal(vgi_headless_write_png(h, 0, "", false), -EINVAL);
	assert_int_equal(vgi_headless_write_png(h, 0, NULL, false), -EINVAL);
	/* a directory as the target: the rename fails, the temporary file is gone */
	ret = vgi_headless_write_png(h, 0, tmpdir, false);
	assert_true(ret == -EISDIR || ret == -ENOTEMPTY || ret == -EEXIST);
	snprintf(path, sizeof(path), "%s.tmp", tmpdir);
	assert_int_equal(access(path, F_OK), -1);
	/* a regular file used as a directory */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	assert_int_equal(vgi_headless_write_png(h, 0, path, false), 0);
	snprintf(path, sizeof(path), "%s/file/x.png", tmpdir);
	assert_int_equal(vgi_headless_write_png(h, 0, path, false), -ENOTDIR);
	vgi_headless_free(h);
}

static void test_unpremultiply(void **state)
{
	assert_int_equal(vgi_headless_unpremultiply(0), 0);
	assert_int_equal(vgi_headless_unpremultiply(0x00ffffff), 0);	/* invalid: nothing under alpha 0 */
	assert_int_equal(vgi_headless_unpremultiply(0xff123456), 0xff123456);
	assert_int_equal(vgi_headless_unpremultiply(0x80400000), 0x80800000);
	assert_int_equal(vgi_headless_unpremultiply(0x80402010), 0x80804020);
	assert_int_equal(vgi_headless_unpremultiply(0x01010101), 0x01ffffff);
	assert_int_equal(vgi_headless_unpremultiply(0x80ff0000), 0x80ff0000);	/* invalid: clamped */
	assert_int_equal(vgi_headless_unpremultiply(0x0a050000), 0x0a800000);	/* 5*255/10 = 127.5 -> 128 */
}

/* With a directory, a new cursor image is written as cursor<N>.png (straight RGBA). */
static void test_cursor_file(void **state)
{
	static uint32_t px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
	struct vgi_headless *h = vgi_headless_new(tmpdir);
	struct vgi_cursor c = { .visible = true, .x = 1, .y = 1, .image_changed = true, .pixels = px };
	char path[160];
	uint32_t w, ht;
	bool alpha = false;
	uint8_t *rgba;

	for (unsigned y = 0; y < VGI_CURSOR_SIZE; y++)
		for (unsigned x = 0; x < VGI_CURSOR_SIZE; x++)
			px[y * VGI_CURSOR_SIZE + x] = x + y < 64 ? 0xff000000u | x << 18 | y << 10 | 0x80 : 0;
	px[1] = 0x80402010;	/* half transparent, premultiplied */
	vgi_headless_ops()->cursor(h, 2, &c);
	snprintf(path, sizeof(path), "%s/cursor2.png", tmpdir);
	rgba = read_png_as(path, &w, &ht, PNG_FORMAT_RGBA, &alpha);
	assert_non_null(rgba);
	assert_true(alpha);
	assert_int_equal(w, 64);
	assert_int_equal(ht, 64);
	for (unsigned y = 0; y < VGI_CURSOR_SIZE; y++)
		for (unsigned x = 0; x < VGI_CURSOR_SIZE; x++) {
			const uint8_t *p = rgba + (y * 64 + x) * 4;

			if (x == 1 && y == 0) {
				assert_true(p[0] == 0x80 && p[1] == 0x40 && p[2] == 0x20 && p[3] == 0x80);
			} else if (x + y < 64) {
				assert_true(p[0] == x * 4 && p[1] == y * 4 && p[2] == 0x80 && p[3] == 0xff);
			} else {
				assert_int_equal(p[3], 0);
			}
		}
	free(rgba);
	/* a move alone writes nothing new */
	assert_int_equal(unlink(path), 0);
	c.image_changed = false;
	c.pixels = NULL;
	vgi_headless_ops()->cursor(h, 2, &c);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_files(), 0);
	vgi_headless_free(h);
}

static void test_registry_dir(void **state)
{
	struct vgi_display_host host = { 0 };
	struct vgi_display_sink sink;
	uint32_t src[6 * 4];
	struct vgi_image img = { .width = 6, .height = 4, .stride = 24, .format = DRM_FORMAT_XRGB8888, .data = src };
	struct vgi_scanout so = { .enabled = true, .width = 6, .height = 4, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect r = { 0, 0, 6, 4 };
	char spec[300], path[256];
	uint32_t w, ht;
	uint8_t *rgb;

	assert_non_null(strstr(vgi_display_sink_names(), "headless"));
	snprintf(spec, sizeof(spec), "headless,dir=%s,numbered", tmpdir);
	assert_int_equal(vgi_display_sink_new(spec, &host, &sink), 0);
	sink.ops->scanout(sink.sink, 1, &so);
	for (unsigned n = 0; n < 3; n++) {
		for (unsigned i = 0; i < 6 * 4; i++)
			src[i] = 0x010101 * (n * 20 + i);
		sink.ops->update(sink.sink, 1, &r, &img);
	}
	snprintf(path, sizeof(path), "%s/scanout1.png", tmpdir);
	rgb = read_png(path, &w, &ht);
	assert_non_null(rgb);
	assert_int_equal(w, 6);
	for (unsigned i = 0; i < 6 * 4; i++)
		assert_int_equal(rgb[i * 3], 40 + i);
	free(rgb);
	for (unsigned n = 0; n < 3; n++) {
		snprintf(path, sizeof(path), "%s/scanout1-%06u.png", tmpdir, n);
		rgb = read_png(path, &w, &ht);
		assert_non_null(rgb);
		assert_int_equal(rgb[0], n * 20);
		free(rgb);
	}
	assert_int_equal(count_files(), 4);
	sink.ops->destroy(sink.sink);

	/* without numbered: only the latest */
	remove_dir(state);
	setup_dir(state);
	snprintf(spec, sizeof(spec), "headless,dir=%s", tmpdir);
	assert_int_equal(vgi_display_sink_new(spec, &host, &sink), 0);
	sink.ops->scanout(sink.sink, 0, &so);
	sink.ops->update(sink.sink, 0, &r, &img);
	sink.ops->update(sink.sink, 0, &r, &img);
	assert_int_equal(count_files(), 1);
	/* a directory that vanished: logged, no crash */
	remove_dir(state);
	sink.ops->update(sink.sink, 0, &r, &img);
	sink.ops->update(sink.sink, 0, &r, &img);
	sink.ops->destroy(sink.sink);
	setup_dir(state);

	/* bad specs */
	assert_int_equal(vgi_display_sink_new("headless,bogus=1", &host, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("headless,dir=", &host, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("headless,dir=/nonexistent-vgi/a/b", &host, &sink), -ENOENT);
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	fclose(fopen(path, "w"));
	snprintf(spec, sizeof(spec), "headless,dir=%s", path);
	assert_int_equal(vgi_display_sink_new(spec, &host, &sink), -ENOTDIR);
	/* a directory that does not exist yet is created */
	snprintf(path, sizeof(path), "%s/new", tmpdir);
	snprintf(spec, sizeof(spec), "headless,dir=%s", path);
	assert_int_equal(vgi_display_sink_new(spec, &host, &sink), 0);
	sink.ops->destroy(sink.sink);
	assert_int_equal(rmdir(path), 0);
	/* plain headless */
	assert_int_equal(vgi_display_sink_new("headless", &host, &sink), 0);
	assert_null(sink.ops->scanout_gl);
	assert_null(sink.ops->gl_update);
	sink.ops->destroy(sink.sink);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_is_little_endian),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_format_mismatch_and_odd_stride),
		cmocka_unit_test(test_damage_only),
		cmocka_unit_test_setup_teardown(test_disabled_scanout, setup_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_cursor_composition, setup_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_png_round_trip, setup_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup_dir, remove_dir),
		cmocka_unit_test(test_unpremultiply),
		cmocka_unit_test_setup_teardown(test_cursor_file, setup_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_registry_dir, setup_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
