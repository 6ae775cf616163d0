// SPDX-License-Identifier: MIT
/* Images (gdk-pixbuf) and PDF pages (poppler-glib) rendered with cairo, with a small page cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <poppler.h>

#include <vgi/log.h>

#include "view-doc.h"

struct cache_entry {
	int page;
	uint32_t w, h;
	uint64_t used;
	cairo_surface_t *s;
};

struct view_doc {
	enum view_doc_kind kind;
	char *path;
	char format[16];
	int pages;
	/* image: the decoded picture, premultiplied ARGB32 */
	cairo_surface_t *image;
	/* pdf */
	PopplerDocument *pdf;
	struct cache_entry cache[VIEW_CACHE_ENTRIES];
	uint64_t clock;
	unsigned renders;
};

static char *msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msg(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* GdkPixbuf (RGB or RGBA, straight alpha) -> cairo ARGB32 (premultiplied) */
static cairo_surface_t *surface_from_pixbuf(GdkPixbuf *pb)
{
	int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb);
	int nch = gdk_pixbuf_get_n_channels(pb), sstride = gdk_pixbuf_get_rowstride(pb);
	bool alpha = gdk_pixbuf_get_has_alpha(pb);
	const guint8 *src = gdk_pixbuf_read_pixels(pb);
	cairo_surface_t *s;
	unsigned char *dst;
	int dstride;

	if (gdk_pixbuf_get_bits_per_sample(pb) != 8 || nch < 3 || (alpha && nch < 4))
		return NULL;
	s = cairo_image_surface_create(alpha ? CAIRO_FORMAT_ARGB32 : CAIRO_FORMAT_RGB24, w, h);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(s);
		return NULL;
	}
	cairo_surface_flush(s);
	dst = cairo_image_surface_get_data(s);
	dstride = cairo_image_surface_get_stride(s);
	for (int y = 0; y < h; y++) {
		const guint8 *p = src + (size_t)y * sstride;
		uint32_t *q = (uint32_t *)(dst + (size_t)y * dstride);

		for (int x = 0; x < w; x++, p += nch) {
			uint32_t a = alpha ? p[3] : 255, r = p[0], g = p[1], b = p[2];

			if (a != 255) {
				r = (r * a + 127) / 255;
				g = (g * a + 127) / 255;
				b = (b * a + 127) / 255;
			}
			q[x] = a << 24 | r << 16 | g << 8 | b;
		}
	}
	cairo_surface_mark_dirty(s);
	return s;
}

static bool is_pdf(const char *path)
{
	char head[1024];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, head, sizeof(head));
	close(fd);
	/* "%PDF-" within the first KiB, as readers accept */
	return n >= 5 && memmem(head, (size_t)n, "%PDF-", 5) != NULL;
}

static int open_pdf(struct view_doc *d, const char *path, char **err)
{
	GError *e = NULL;
	char *abs = g_canonicalize_filename(path, NULL);
	char *uri = g_filename_to_uri(abs, NULL, &e);

	g_free(abs);
	if (!uri) {
		*err = msg("%s: %s", path, e ? e->message : "bad file name");
		g_clear_error(&e);
		return -EINVAL;
	}
	d->pdf = poppler_document_new_from_file(uri, NULL, &e);
	g_free(uri);
	if (!d->pdf) {
		*err = msg("%s: not a readable PDF (%s)", path, e ? e->message : "unknown error");
		g_clear_error(&e);
		return -EINVAL;
	}
	d->pages = poppler_document_get_n_pages(d->pdf);
	if (d->pages <= 0) {
		*err = msg("%s: the PDF has no pages", path);
		return -EINVAL;
	}
	for (int i = 0; i < d->pages; i++) {
		PopplerPage *p = poppler_document_get_page(d->pdf, i);
		double w = 0, h = 0;

		if (p) {
			poppler_page_get_size(p, &w, &h);
			g_object_unref(p);
		}
		if (!p || !(w >= 1 && h >= 1 && w <= 100000 && h <= 100000)) {
			*err = msg("%s: page %d is broken (size %gx%g)", path, i + 1, w, h);
			return -EINVAL;
		}
	}
	d->kind = VIEW_DOC_PDF;
	snprintf(d->format, sizeof(d->format), "PDF");
	return 0;
}

static int open_image(struct view_doc *d, const char *path, char **err)
{
	GdkPixbufFormat *fmt;
	GdkPixbuf *pb, *rot;
	GError *e = NULL;
	gint w = 0, h = 0;
	char *name;

	fmt = gdk_pixbuf_get_file_info(path, &w, &h);
	if (!fmt) {
		*err = msg("%s: not an image or PDF that this build can read", path);
		return -ENOTSUP;
	}
	name = gdk_pixbuf_format_get_name(fmt);
	snprintf(d->format, sizeof(d->format), "%s", name ? name : "?");
	for (char *c = d->format; *c; c++)
		*c = (char)g_ascii_toupper(*c);
	g_free(name);
	if (w <= 0 || h <= 0) {
		*err = msg("%s: %s image with a bad size %dx%d", path, d->format, w, h);
		return -EINVAL;
	}
	if ((uint64_t)w * (uint64_t)h > VIEW_IMAGE_MAX_PIXELS) {
		*err = msg("%s: %s image of %dx%d is larger than the %llu pixel limit", path, d->format, w, h,
			   (unsigned long long)VIEW_IMAGE_MAX_PIXELS);
		return -EFBIG;
	}
	pb = gdk_pixbuf_new_from_file(path, &e);
	if (!pb) {
		*err = msg("%s: cannot decode the %s image (%s)", path, d->format, e ? e->message : "unknown error");
		g_clear_error(&e);
		return -EINVAL;
	}
	rot = gdk_pixbuf_apply_embedded_orientation(pb);
	g_object_unref(pb);
	if (!rot) {
		*err = msg("%s: out of memory", path);
		return -ENOMEM;
	}
	d->image = surface_from_pixbuf(rot);
	g_object_unref(rot);
	if (!d->image) {
		*err = msg("%s: unsupported pixel layout or out of memory", path);
		return -ENOTSUP;
	}
	d->kind = VIEW_DOC_IMAGE;
	d->pages = 1;
	return 0;
}

int view_doc_open(const char *path, struct view_doc **out, char **err)
{
	struct view_doc *d;
	struct stat st;
	int ret;

	*out = NULL;
	*err = NULL;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		ret = -errno;
		*err = msg("%s: %s", path, strerror(errno));
		return ret;
	}
	if (S_ISDIR(st.st_mode)) {
		*err = msg("%s: is a directory", path);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = msg("%s: not a regular file", path);
		return -ENOTSUP;
	}
	if (st.st_size == 0) {
		*err = msg("%s: empty file", path);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(path))) {
		free(d);
		*err = msg("%s: out of memory", path);
		return -ENOMEM;
	}
	ret = is_pdf(path) ? open_pdf(d, path, err) : open_image(d, path, err);
	if (ret < 0) {
		view_doc_free(d);
		if (!*err)
			*err = msg("%s: cannot open (%s)", path, strerror(-ret));
		return ret;
	}
	*out = d;
	return 0;
}

void view_doc_free(struct view_doc *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < VIEW_CACHE_ENTRIES; i++) {
		if (d->cache[i].s)
			cairo_surface_destroy(d->cache[i].s);
	}
	if (d->image)
		cairo_surface_destroy(d->image);
	if (d->pdf)
		g_object_unref(d->pdf);
	free(d->path);
	free(d);
}

enum view_doc_kind view_doc_kind(const struct view_doc *d)
{
	return d->kind;
}

const char *view_doc_path(const struct view_doc *d)
{
	return d->path;
}

const char *view_doc_format(const struct view_doc *d)
{
	return d->format;
}

int view_doc_pages(const struct view_doc *d)
{
	return d->pages;
}

void view_doc_page_size(const struct view_doc *d, int page, double *w, double *h)
{
	*w = *h = 0;
	if (page < 0 || page >= d->pages)
		return;
	if (d->kind == VIEW_DOC_IMAGE) {
		*w = cairo_image_surface_get_width(d->image);
		*h = cairo_image_surface_get_height(d->image);
	} else {
		PopplerPage *p = poppler_document_get_page(d->pdf, page);

		if (p) {
			poppler_page_get_size(p, w, h);
			g_object_unref(p);
		}
	}
}

static cairo_surface_t *render(struct view_doc *d, int page, uint32_t w, uint32_t h)
{
	double pw, ph;
	cairo_surface_t *s;
	cairo_t *cr;

	view_doc_page_size(d, page, &pw, &ph);
	if (pw <= 0 || ph <= 0)
		return NULL;
	s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
		vgi_warn("vgi-view: no memory for a %ux%u page", w, h);
		cairo_surface_destroy(s);
		return NULL;
	}
	cr = cairo_create(s);
	/* scale per axis so the page fills exactly w x h (rounded sizes) */
	if (d->kind == VIEW_DOC_PDF) {
		PopplerPage *p = poppler_document_get_page(d->pdf, page);

		cairo_set_source_rgb(cr, 1, 1, 1);
		cairo_paint(cr);
		if (p) {
			cairo_scale(cr, w / pw, h / ph);
			poppler_page_render(p, cr);
			g_object_unref(p);
		}
	} else {
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_paint(cr);
		if (w == (uint32_t)pw && h == (uint32_t)ph) {
			cairo_set_source_surface(cr, d->image, 0, 0);
		} else {
			cairo_scale(cr, w / pw, h / ph);
			cairo_set_source_surface(cr, d->image, 0, 0);
			cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
			cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
		}
		cairo_paint(cr);
	}
	cairo_destroy(cr);
	cairo_surface_flush(s);
	d->renders++;
	return s;
}

static struct cache_entry *find(const struct view_doc *d, int page, uint32_t w, uint32_t h)
{
	for (unsigned i = 0; i < VIEW_CACHE_ENTRIES; i++) {
		const struct cache_entry *c = &d->cache[i];

		if (c->s && c->page == page && c->w == w && c->h == h)
			return (struct cache_entry *)c;
	}
	return NULL;
}

bool view_doc_cached(const struct view_doc *d, int page, uint32_t w, uint32_t h)
{
	return find(d, page, w, h) != NULL;
}

unsigned view_doc_render_count(const struct view_doc *d)
{
	return d->renders;
}

cairo_surface_t *view_doc_render(struct view_doc *d, int page, double scale, uint32_t w, uint32_t h,
				 bool *cached)
{
	struct cache_entry *c = find(d, page, w, h), *victim = NULL;
	cairo_surface_t *s;

	(void)scale;
	*cached = c != NULL;
	if (c) {
		c->used = ++d->clock;
		return c->s;
	}
	if (page < 0 || page >= d->pages || !w || !h)
		return NULL;
	s = render(d, page, w, h);
	if (!s)
		return NULL;
	/* least recently used (or empty) slot */
	for (unsigned i = 0; i < VIEW_CACHE_ENTRIES; i++) {
		if (!victim || !d->cache[i].s || (victim->s && d->cache[i].used < victim->used))
			victim = &d->cache[i];
		if (!victim->s)
			break;
	}
	if (victim->s)
		cairo_surface_destroy(victim->s);
	*victim = (struct cache_entry){ .page = page, .w = w, .h = h, .used = ++d->clock, .s = s };
	return s;
}
