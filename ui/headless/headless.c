// SPDX-License-Identifier: MIT
/*
 * The headless display sink: the last frame of each scanout in CPU memory
 * (XRGB8888 with the X byte 0xff, or ARGB8888 for scanouts with alpha), the
 * cursor of each scanout, and PNG files on request or after every flush.
 */
#include <errno.h>
#include <limits.h>
#include <png.h>
#include <pixman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include <vgi/headless.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "DRM fourcc codes are little-endian and map to pixman formats only on little-endian hosts"
#endif

/* Largest scanout side the sink accepts (the frame is allocated on the host). */
#define HL_MAX_SIDE 16384u

struct hl_scanout {
	bool enabled;
	uint32_t width, height;
	uint32_t format;		/* DRM_FORMAT_XRGB8888 or DRM_FORMAT_ARGB8888 */
	uint32_t *pixels;		/* width * height, stride width * 4 */
	struct vgi_image image;
	unsigned updates;
	unsigned seq;
	bool write_failed;		/* last automatic PNG failed (logged once) */

	bool has_cursor;
	struct vgi_cursor cursor;
	uint32_t *cursor_pixels;	/* VGI_CURSOR_SIZE^2, NULL until defined */
};

struct vgi_headless {
	char *dir;
	bool file_cursor, file_numbered;
	struct hl_scanout s[VGI_MAX_SCANOUTS];
};

static struct hl_scanout *get_scanout(struct vgi_headless *h, uint32_t id, const char *what)
{
	if (!h)
		return NULL;
	if (id >= VGI_MAX_SCANOUTS) {
		vgi_warn("headless: %s: scanout id %u out of range (max %u)", what, id, VGI_MAX_SCANOUTS - 1);
		return NULL;
	}
	return &h->s[id];
}

static void fill(uint32_t *p, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = v;
}

static void hl_scanout(void *sink, uint32_t id, const struct vgi_scanout *so)
{
	struct vgi_headless *h = sink;
	struct hl_scanout *s = get_scanout(h, id, "scanout");
	pixman_format_code_t pf;
	uint32_t format;

	if (!s || !so)
		return;
	if (!so->enabled) {
		free(s->pixels);
		s->pixels = NULL;
		s->enabled = false;
		s->width = s->height = 0;
		return;
	}
	pf = (pixman_format_code_t)vgi_format_to_pixman(so->format);
	if (!pf || so->width == 0 || so->height == 0 || so->width > HL_MAX_SIDE || so->height > HL_MAX_SIDE) {
		vgi_warn("headless: scanout %u: unusable mode %ux%u format 0x%08x; disabling it", id, so->width,
			 so->height, so->format);
		hl_scanout(sink, id, &(struct vgi_scanout){ .enabled = false });
		return;
	}
	format = PIXMAN_FORMAT_A(pf) ? DRM_FORMAT_ARGB8888 : DRM_FORMAT_XRGB8888;
	if (s->enabled && s->pixels && s->width == so->width && s->height == so->height && s->format == format)
		return;	/* same frame buffer: keep what it shows until the next update */

	size_t n = (size_t)so->width * so->height;
	uint32_t *p = malloc(n * sizeof(uint32_t));

	if (!p) {
		vgi_warn("headless: scanout %u: no memory for a %ux%u frame", id, so->width, so->height);
		hl_scanout(sink, id, &(struct vgi_scanout){ .enabled = false });
		return;
	}
	fill(p, n, 0xff000000);	/* opaque black */
	free(s->pixels);
	s->pixels = p;
	s->enabled = true;
	s->width = so->width;
	s->height = so->height;
	s->format = format;
	s->image = (struct vgi_image){
		.width = s->width, .height = s->height, .stride = s->width * 4, .format = format, .data = p,
	};
}

/* Convert rect r of img (already clipped) into the frame. */
static int convert_rect(struct hl_scanout *s, const struct vgi_rect *r, const struct vgi_image *img,
			pixman_format_code_t src_format)
{
	const uint8_t *src = (const uint8_t *)img->data + (size_t)r->y * img->stride + (size_t)r->x * 4;
	uint32_t src_stride = img->stride;
	uint32_t *tmp = NULL;
	pixman_image_t *si, *di;

	/* pixman wants 4-byte aligned rows: copy odd layouts to an aligned buffer first. */
	if (((uintptr_t)src | src_stride) & 3) {
		tmp = malloc((size_t)r->width * r->height * 4);
		if (!tmp)
			return -ENOMEM;
		for (uint32_t y = 0; y < r->height; y++)
			memcpy(tmp + (size_t)y * r->width, src + (size_t)y * img->stride, (size_t)r->width * 4);
		src = (const uint8_t *)tmp;
		src_stride = r->width * 4;
	}
	si = pixman_image_create_bits_no_clear(src_format, (int)r->width, (int)r->height,
					       (uint32_t *)(uintptr_t)src, (int)src_stride);
	di = pixman_image_create_bits_no_clear(PIXMAN_a8r8g8b8, (int)r->width, (int)r->height,
					       s->pixels + (size_t)r->y * s->width + r->x, (int)(s->width * 4));
	if (!si || !di) {
		if (si)
			pixman_image_unref(si);
		if (di)
			pixman_image_unref(di);
		free(tmp);
		return -ENOMEM;
	}
	pixman_image_composite32(PIXMAN_OP_SRC, si, NULL, di, 0, 0, 0, 0, 0, 0, (int)r->width, (int)r->height);
	pixman_image_unref(si);
	pixman_image_unref(di);
	free(tmp);

	/* An XRGB frame always has X = 0xff, whatever the source's alpha said. */
	if (s->format == DRM_FORMAT_XRGB8888 && PIXMAN_FORMAT_A(src_format)) {
		for (uint32_t y = 0; y < r->height; y++) {
			uint32_t *row = s->pixels + (size_t)(r->y + y) * s->width + r->x;

			for (uint32_t x = 0; x < r->width; x++)
				row[x] |= 0xff000000u;
		}
	}
	return 0;
}

static void write_flush_files(struct vgi_headless *h, uint32_t id);

static void hl_update(void *sink, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct vgi_headless *h = sink;
	struct hl_scanout *s = get_scanout(h, id, "update");
	pixman_format_code_t pf;
	struct vgi_rect r;

	if (!s || !damage || !img)
		return;
	if (!s->enabled) {
		vgi_debug("headless: update of disabled scanout %u ignored", id);
		return;
	}
	pf = (pixman_format_code_t)vgi_format_to_pixman(img->format);
	if (!pf || !img->data || (uint64_t)img->width * 4 > img->stride || img->stride > INT32_MAX) {
		vgi_warn("headless: scanout %u: bad image %ux%u stride %u format 0x%08x", id, img->width,
			 img->height, img->stride, img->format);
		return;
	}
	s->updates++;
	r = *damage;
	/* Damage is in scanout coordinates: clip to both the image and the frame. */
	if (vgi_rect_clip(&r, img->width < s->width ? img->width : s->width,
			  img->height < s->height ? img->height : s->height)) {
		if (convert_rect(s, &r, img, pf) < 0) {
			vgi_warn("headless: scanout %u: no memory to convert %ux%u", id, r.width, r.height);
			return;
		}
	}
	if (h->dir)
		write_flush_files(h, id);
}

static void write_cursor_file(struct vgi_headless *h, uint32_t id);

uint32_t vgi_headless_unpremultiply(uint32_t argb)
{
	uint32_t a = argb >> 24, out = argb & 0xff000000u;

	if (a == 0)
		return 0;
	for (unsigned shift = 0; shift < 24; shift += 8) {
		uint32_t c = (argb >> shift) & 0xff;

		c = (c * 255 + a / 2) / a;
		out |= (c > 255 ? 255 : c) << shift;
	}
	return out;
}

static void hl_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct vgi_headless *h = sink;
	struct hl_scanout *s = get_scanout(h, id, "cursor");

	if (!s || !c)
		return;
	if (c->image_changed) {
		if (!c->pixels) {
			vgi_warn("headless: scanout %u: cursor image_changed without pixels", id);
		} else {
			if (!s->cursor_pixels)
				s->cursor_pixels = malloc(VGI_CURSOR_SIZE * VGI_CURSOR_SIZE * sizeof(uint32_t));
			if (s->cursor_pixels) {
				memcpy(s->cursor_pixels, c->pixels, VGI_CURSOR_SIZE * VGI_CURSOR_SIZE * sizeof(uint32_t));
				if (h->dir)
					write_cursor_file(h, id);
			}
		}
	}
	s->has_cursor = true;
	s->cursor = (struct vgi_cursor){
		.visible = c->visible,
		.x = c->x, .y = c->y,
		.hot_x = c->hot_x, .hot_y = c->hot_y,
		.image_changed = false,
		.pixels = s->cursor_pixels,
	};
}

static void hl_destroy(void *sink)
{
	vgi_headless_free(sink);
}

static const struct vgi_display_ops headless_ops = {
	.scanout = hl_scanout,
	.update = hl_update,
	/* No GL path: the device reads 3D scanouts back and calls update(). */
	.scanout_gl = NULL,
	.gl_update = NULL,
	.cursor = hl_cursor,
	.destroy = hl_destroy,
};

const struct vgi_display_ops *vgi_headless_ops(void)
{
	return &headless_ops;
}

struct vgi_headless *vgi_headless_new(const char *dir)
{
	struct vgi_headless *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (dir) {
		h->dir = strdup(dir);
		if (!h->dir) {
			free(h);
			errno = ENOMEM;
			return NULL;
		}
	}
	return h;
}

void vgi_headless_set_file_options(struct vgi_headless *h, bool cursor, bool numbered)
{
	if (!h)
		return;
	h->file_cursor = cursor;
	h->file_numbered = numbered;
}

void vgi_headless_free(struct vgi_headless *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		free(h->s[i].pixels);
		free(h->s[i].cursor_pixels);
	}
	free(h->dir);
	free(h);
}

const struct vgi_image *vgi_headless_frame(struct vgi_headless *h, uint32_t id)
{
	if (!h || id >= VGI_MAX_SCANOUTS || !h->s[id].enabled || !h->s[id].pixels)
		return NULL;
	return &h->s[id].image;
}

const struct vgi_cursor *vgi_headless_cursor(struct vgi_headless *h, uint32_t id)
{
	if (!h || id >= VGI_MAX_SCANOUTS || !h->s[id].has_cursor)
		return NULL;
	return &h->s[id].cursor;
}

unsigned vgi_headless_update_count(struct vgi_headless *h, uint32_t id)
{
	if (!h || id >= VGI_MAX_SCANOUTS)
		return 0;
	return h->s[id].updates;
}

/* ---- PNG ---- */

struct png_job {
	FILE *f;
	const uint32_t *pixels;
	uint32_t width, height;
	bool rgba;		/* pixels are straight (not premultiplied) ARGB8888: keep alpha */
};

static void png_error_fn(png_structp png, png_const_charp msg)
{
	vgi_warn("headless: libpng: %s", msg);
	png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
	(void)png;
	vgi_debug("headless: libpng warning: %s", msg);
}

/* All libpng calls live here so that nothing changes between setjmp and longjmp. */
static int png_encode(const struct png_job *job)
{
	png_structp png;
	png_infop info;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_fn, png_warning_fn);
	if (!png)
		return -ENOMEM;
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -EIO;
	}
	png_init_io(png, job->f);
	png_set_compression_level(png, 1);	/* screenshots: speed over size */
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
	png_set_IHDR(png, info, job->width, job->height, 8, job->rgba ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	/* (X|A)RGB8888 in memory is B,G,R,X|A: swap to RGB and drop the filler byte (or keep alpha). */
	png_set_bgr(png);
	if (!job->rgba)
		png_set_filler(png, 0, PNG_FILLER_AFTER);
	for (uint32_t y = 0; y < job->height; y++)
		png_write_row(png, (png_const_bytep)(job->pixels + (size_t)y * job->width));
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* Composite the cursor (premultiplied ARGB) OVER a copy of the frame. */
static uint32_t *compose_cursor(const struct hl_scanout *s)
{
	const struct vgi_cursor *c = &s->cursor;
	int64_t cx = (int64_t)c->x - c->hot_x, cy = (int64_t)c->y - c->hot_y;
	size_t n = (size_t)s->width * s->height;
	pixman_image_t *dst, *src;
	uint32_t *copy = malloc(n * sizeof(uint32_t));

	if (!copy)
		return NULL;
	memcpy(copy, s->pixels, n * sizeof(uint32_t));
	/* Entirely outside the frame (this also keeps the offsets inside int range). */
	if (cx >= s->width || cy >= s->height || cx + VGI_CURSOR_SIZE <= 0 || cy + VGI_CURSOR_SIZE <= 0)
		return copy;
	/* x8r8g8b8: the frame is opaque, whatever its alpha byte says. */
	dst = pixman_image_create_bits_no_clear(PIXMAN_x8r8g8b8, (int)s->width, (int)s->height, copy,
						(int)(s->width * 4));
	src = pixman_image_create_bits_no_clear(PIXMAN_a8r8g8b8, VGI_CURSOR_SIZE, VGI_CURSOR_SIZE,
						s->cursor_pixels, VGI_CURSOR_SIZE * 4);
	if (!dst || !src) {
		if (dst)
			pixman_image_unref(dst);
		if (src)
			pixman_image_unref(src);
		free(copy);
		return NULL;
	}
	pixman_image_composite32(PIXMAN_OP_OVER, src, NULL, dst, 0, 0, 0, 0, (int32_t)cx, (int32_t)cy,
				 VGI_CURSOR_SIZE, VGI_CURSOR_SIZE);
	pixman_image_unref(src);
	pixman_image_unref(dst);
	return copy;
}

/* Encode scanout s into tmp_path (created or truncated). */
static int write_png_file(const struct hl_scanout *s, const char *tmp_path, bool cursor)
{
	struct png_job job = { .width = s->width, .height = s->height, .pixels = s->pixels };
	uint32_t *composed = NULL;
	int ret;

	if (cursor && s->has_cursor && s->cursor.visible && s->cursor_pixels) {
		composed = compose_cursor(s);
		if (!composed)
			return -ENOMEM;
		job.pixels = composed;
	}
	job.f = fopen(tmp_path, "wbe");
	if (!job.f) {
		ret = -errno;
		free(composed);
		return ret;
	}
	ret = png_encode(&job);
	if (fflush(job.f) != 0 && ret == 0)
		ret = -errno;
	if (fclose(job.f) != 0 && ret == 0)
		ret = -errno;
	free(composed);
	if (ret < 0)
		unlink(tmp_path);
	return ret;
}

static char *tmp_name(const char *path)
{
	size_t n = strlen(path) + 16;
	char *t = malloc(n);

	if (t)
		snprintf(t, n, "%s.tmp", path);
	return t;
}

int vgi_headless_write_png(struct vgi_headless *h, uint32_t id, const char *path, bool cursor)
{
	struct hl_scanout *s;
	char *tmp;
	int ret;

	if (!h || !path || !*path || id >= VGI_MAX_SCANOUTS)
		return -EINVAL;
	s = &h->s[id];
	if (!s->enabled || !s->pixels)
		return -ENODATA;
	tmp = tmp_name(path);
	if (!tmp)
		return -ENOMEM;
	ret = write_png_file(s, tmp, cursor);
	if (ret == 0 && rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
	}
	free(tmp);
	return ret;
}

/* "<dir>/cursor<N>.png": the 64x64 cursor image, straight RGBA (PNG does not premultiply). */
static void write_cursor_file(struct vgi_headless *h, uint32_t id)
{
	struct hl_scanout *s = &h->s[id];
	uint32_t straight[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
	struct png_job job = { .pixels = straight, .width = VGI_CURSOR_SIZE, .height = VGI_CURSOR_SIZE, .rgba = true };
	size_t n = strlen(h->dir) + 64;
	char *path = malloc(n), *tmp = malloc(n);
	int ret = -ENOMEM;

	for (unsigned i = 0; i < VGI_CURSOR_SIZE * VGI_CURSOR_SIZE; i++)
		straight[i] = vgi_headless_unpremultiply(s->cursor_pixels[i]);
	if (!path || !tmp)
		goto out;
	snprintf(path, n, "%s/cursor%u.png", h->dir, id);
	snprintf(tmp, n, "%s/.cursor%u.png.tmp", h->dir, id);
	job.f = fopen(tmp, "wbe");
	if (!job.f) {
		ret = -errno;
		goto out;
	}
	ret = png_encode(&job);
	if (fclose(job.f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
out:
	if (ret < 0)
		vgi_warn("headless: cannot write the cursor of scanout %u into '%s': %s", id, h->dir, strerror(-ret));
	free(path);
	free(tmp);
}

static void write_flush_files(struct vgi_headless *h, uint32_t id)
{
	struct hl_scanout *s = &h->s[id];
	size_t n = strlen(h->dir) + 64;
	char *latest = malloc(n), *tmp = malloc(n), *numbered = malloc(n);
	int ret = -ENOMEM;

	if (!latest || !tmp || !numbered)
		goto out;
	snprintf(latest, n, "%s/scanout%u.png", h->dir, id);
	snprintf(tmp, n, "%s/.scanout%u.png.tmp", h->dir, id);
	ret = write_png_file(s, tmp, h->file_cursor);
	if (ret < 0)
		goto out;
	if (h->file_numbered) {
		snprintf(numbered, n, "%s/scanout%u-%06u.png", h->dir, id, s->seq);
		unlink(numbered);
		if (link(tmp, numbered) < 0) {
			ret = -errno;
			unlink(tmp);
			goto out;
		}
	}
	if (rename(tmp, latest) < 0) {
		ret = -errno;
		unlink(tmp);
		goto out;
	}
	s->seq++;
out:
	if (ret < 0 && !s->write_failed)
		vgi_warn("headless: cannot write scanout %u into '%s': %s (further failures not logged)", id,
			 h->dir, strerror(-ret));
	s->write_failed = ret < 0;
	free(latest);
	free(tmp);
	free(numbered);
}

/* ---- registry: "headless[,dir=PATH][,cursor][,numbered]" ---- */

int vgi_headless_sink_new(struct vgi_options *opts, const struct vgi_display_host *host,
			  struct vgi_display_sink *out)
{
	const char *dir = vgi_options_get(opts, "dir");
	bool cursor = vgi_options_flag(opts, "cursor");
	bool numbered = vgi_options_flag(opts, "numbered");
	struct vgi_headless *h;
	struct stat st;

	(void)host;
	if (dir) {
		if (!*dir) {
			vgi_error("display 'headless': dir= needs a directory");
			return -EINVAL;
		}
		if (stat(dir, &st) < 0) {
			int err = errno;

			if (err != ENOENT || mkdir(dir, 0755) < 0) {
				err = err != ENOENT ? err : errno;
				vgi_error("display 'headless': cannot use directory '%s': %s", dir, strerror(err));
				return -err;
			}
		} else if (!S_ISDIR(st.st_mode)) {
			vgi_error("display 'headless': '%s' is not a directory", dir);
			return -ENOTDIR;
		}
		if (access(dir, W_OK) < 0) {
			int err = errno;

			vgi_error("display 'headless': cannot write into '%s': %s", dir, strerror(err));
			return -err;
		}
	}
	h = vgi_headless_new(dir);
	if (!h)
		return -ENOMEM;
	vgi_headless_set_file_options(h, cursor, numbered);
	out->ops = vgi_headless_ops();
	out->sink = h;
	return 0;
}
