// SPDX-License-Identifier: MIT
/*
 * Test files for vgi-view, made at test time: a pattern image in every
 * format gdk-pixbuf can write (plus GIF and PNM written here, and a JPEG
 * with an EXIF orientation), PDFs drawn with cairo, a colourful synthetic
 * "photo", and corrupt and truncated copies of all of them.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <cairo-pdf.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>

#include "view-testfiles.h"

/* four flat quadrants (JPEG-friendly, 8-pixel aligned) and a 16x16 white-on-black mark top-left */
static const guint8 quad_rgb[4][3] = { { 220, 30, 30 }, { 30, 200, 60 }, { 40, 60, 220 }, { 240, 240, 240 } };

static int pattern_index(int x, int y)
{
	if (x >= 8 && x < 24 && y >= 8 && y < 24)
		return (x / 8 + y / 8) % 2 ? 3 : 4;
	return (x >= VT_PATTERN_W / 2) + 2 * (y >= VT_PATTERN_H / 2);
}

static void index_rgb(int i, guint8 *p)
{
	if (i == 4) {
		p[0] = p[1] = p[2] = 0;
		return;
	}
	memcpy(p, quad_rgb[i], 3);
}

GdkPixbuf *vt_pattern(void)
{
	GdkPixbuf *pb = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, VT_PATTERN_W, VT_PATTERN_H);
	int stride = gdk_pixbuf_get_rowstride(pb);
	guint8 *px = gdk_pixbuf_get_pixels(pb);

	for (int y = 0; y < VT_PATTERN_H; y++)
		for (int x = 0; x < VT_PATTERN_W; x++)
			index_rgb(pattern_index(x, y), px + y * stride + x * 3);
	return pb;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

/* A GIF (89a) with two frames of the pattern, the second with the quadrants rotated: readers show the first. */
static int write_gif(const char *path)
{
	GByteArray *b = g_byte_array_new();
	static const guint8 head[] = { 'G', 'I', 'F', '8', '9', 'a', VT_PATTERN_W & 0xff, VT_PATTERN_W >> 8,
				       VT_PATTERN_H & 0xff, VT_PATTERN_H >> 8, 0xf7, 0, 0 };
	int ret;

	g_byte_array_append(b, head, sizeof(head));
	for (int i = 0; i < 256; i++) {
		guint8 rgb[3] = { 0, 0, 0 };

		if (i < 5)
			index_rgb(i, rgb);
		g_byte_array_append(b, rgb, 3);
	}
	/* NETSCAPE loop extension: an animation */
	static const guint8 loop[] = { 0x21, 0xff, 11, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0',
				       3, 1, 0, 0, 0 };
	g_byte_array_append(b, loop, sizeof(loop));
	for (int frame = 0; frame < 2; frame++) {
		static const guint8 gce[] = { 0x21, 0xf9, 4, 0, 50, 0, 0, 0 };
		guint8 desc[] = { 0x2c, 0, 0, 0, 0, VT_PATTERN_W & 0xff, VT_PATTERN_W >> 8, VT_PATTERN_H & 0xff,
				  VT_PATTERN_H >> 8, 0 };
		guint8 mcs = 8, block[256];
		unsigned nblock = 0, ncodes = 0;
		uint32_t acc = 0;
		int bits = 0;

		g_byte_array_append(b, gce, sizeof(gce));
		g_byte_array_append(b, desc, sizeof(desc));
		g_byte_array_append(b, &mcs, 1);
		/* LZW with 9-bit codes only: a clear code every 250 codes keeps the table below 512 */
		for (int p = -1; p <= VT_PATTERN_W * VT_PATTERN_H; p++) {
			unsigned code;

			if (p < 0 || ncodes == 250) {
				code = 256;
				ncodes = 0;
				if (p >= 0)
					p--;
			} else if (p == VT_PATTERN_W * VT_PATTERN_H) {
				code = 257;
			} else {
				int x = p % VT_PATTERN_W, y = p / VT_PATTERN_W;
				int idx = pattern_index(x, y);

				code = (unsigned)(frame && idx < 4 ? (idx + 1) % 4 : idx);
				ncodes++;
			}
			acc |= code << bits;
			bits += 9;
			while (bits >= 8) {
				block[nblock++] = acc & 0xff;
				acc >>= 8;
				bits -= 8;
				if (nblock == 255) {
					guint8 n = 255;

					g_byte_array_append(b, &n, 1);
					g_byte_array_append(b, block, 255);
					nblock = 0;
				}
			}
		}
		if (bits)
			block[nblock++] = acc & 0xff;
		if (nblock) {
			guint8 n = (guint8)nblock;

			g_byte_array_append(b, &n, 1);
			g_byte_array_append(b, block, nblock);
		}
		g_byte_array_append(b, (const guint8 *)"\0", 1);
	}
	g_byte_array_append(b, (const guint8 *)";", 1);
	ret = write_file(path, b->data, b->len);
	g_byte_array_free(b, TRUE);
	return ret;
}

static int write_pnm(const char *path, GdkPixbuf *pb)
{
	int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb), stride = gdk_pixbuf_get_rowstride(pb);
	const guint8 *px = gdk_pixbuf_read_pixels(pb);
	GString *s = g_string_new(NULL);
	int ret;

	g_string_append_printf(s, "P6\n# vgi-view test\n%d %d\n255\n", w, h);
	for (int y = 0; y < h; y++)
		g_string_append_len(s, (const char *)px + y * stride, w * 3);
	ret = write_file(path, s->str, s->len);
	g_string_free(s, TRUE);
	return ret;
}

/* The JPEG with an EXIF APP1 segment (orientation 6: rotate 90 degrees clockwise to show) after JFIF's APP0. */
static int write_exif_jpeg(const char *path, GdkPixbuf *pb)
{
	static const guint8 app1[] = {
		0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
		'I', 'I', 0x2a, 0, 8, 0, 0, 0,	/* TIFF header, IFD at 8 */
		1, 0,				/* one entry */
		0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0,	/* Orientation SHORT 1 = 6 */
		0, 0, 0, 0,			/* no next IFD */
	};
	gchar *buf = NULL;
	gsize len = 0, at;
	GByteArray *b;
	int ret;

	if (!gdk_pixbuf_save_to_buffer(pb, &buf, &len, "jpeg", NULL, "quality", "95", NULL))
		return -EIO;
	at = 2;
	if (len > 6 && (guint8)buf[2] == 0xff && (guint8)buf[3] == 0xe0)
		at = 4 + ((guint8)buf[4] << 8 | (guint8)buf[5]);
	b = g_byte_array_new();
	g_byte_array_append(b, (guint8 *)buf, at);
	g_byte_array_append(b, app1, sizeof(app1));
	g_byte_array_append(b, (guint8 *)buf + at, len - at);
	ret = write_file(path, b->data, b->len);
	g_byte_array_free(b, TRUE);
	g_free(buf);
	return ret;
}

bool vt_have_webp(void)
{
	GSList *formats = gdk_pixbuf_get_formats();
	bool found = false;

	for (GSList *l = formats; l; l = l->next) {
		gchar *name = gdk_pixbuf_format_get_name(l->data);

		if (!g_strcmp0(name, "webp") && gdk_pixbuf_format_is_writable(l->data))
			found = true;
		g_free(name);
	}
	g_slist_free(formats);
	return found;
}

const struct vt_format vt_formats[] = {
	{ "test.png", "png", true },
	{ "test.jpg", "jpeg", false },
	{ "test.gif", "gif", true },
	{ "test.bmp", "bmp", true },
	{ "test.tiff", "tiff", true },
	{ "test.webp", "webp", false },
	{ "test.pnm", "pnm", true },
	{ "exif6.jpg", "jpeg-exif", false },
	{ NULL, NULL, false },
};

int vt_make_images(const char *dir)
{
	GdkPixbuf *pb = vt_pattern();
	int ret = 0;

	for (const struct vt_format *f = vt_formats; f->name; f++) {
		char *path = g_build_filename(dir, f->name, NULL);
		GError *e = NULL;
		int r = 0;

		if (!strcmp(f->type, "gif"))
			r = write_gif(path);
		else if (!strcmp(f->type, "pnm"))
			r = write_pnm(path, pb);
		else if (!strcmp(f->type, "jpeg-exif"))
			r = write_exif_jpeg(path, pb);
		else if (!strcmp(f->type, "jpeg"))
			r = gdk_pixbuf_save(pb, path, "jpeg", &e, "quality", "95", NULL) ? 0 : -EIO;
		else if (!strcmp(f->type, "webp")) {
			if (vt_have_webp())
				r = gdk_pixbuf_save(pb, path, "webp", &e, "quality", "95", NULL) ? 0 : -EIO;
		} else
			r = gdk_pixbuf_save(pb, path, f->type, &e, NULL) ? 0 : -EIO;
		if (r < 0) {
			fprintf(stderr, "cannot write %s: %s\n", path, e ? e->message : strerror(-r));
			ret = r;
		}
		g_clear_error(&e);
		g_free(path);
	}
	g_object_unref(pb);
	return ret;
}

/* Page n (0-based) of the shapes PDF: a coloured band, a circle and a frame; no text (fonts differ between machines). */
static void draw_shapes_page(cairo_t *cr, int n)
{
	static const double col[3][3] = { { 0.85, 0.1, 0.1 }, { 0.1, 0.7, 0.2 }, { 0.15, 0.2, 0.85 } };
	const double *c = col[n % 3];

	cairo_set_source_rgb(cr, c[0], c[1], c[2]);
	cairo_rectangle(cr, VT_PDF_BAND_X, VT_PDF_BAND_Y, VT_PDF_BAND_W, VT_PDF_BAND_H);
	cairo_fill(cr);
	cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
	cairo_set_line_width(cr, 6);
	cairo_rectangle(cr, 36, 36, VT_PDF_W - 72, VT_PDF_H - 72);
	cairo_stroke(cr);
	/* n + 1 dots: the page number without text */
	for (int i = 0; i <= n && i < 20; i++) {
		cairo_arc(cr, 90 + i * 40, 500, 14, 0, 2 * M_PI);
		cairo_fill(cr);
	}
	cairo_set_source_rgb(cr, 1, 0.8, 0.1);
	cairo_arc(cr, VT_PDF_W / 2.0, 680, 80, 0, 2 * M_PI);
	cairo_fill(cr);
}

/* A text page for the screenshot and the benchmark: a title, paragraphs, a figure. */
static void draw_text_page(cairo_t *cr, int n, int pages)
{
	static const char *words[] = { "virtio", "gpu", "scanout", "resource", "fence", "queue", "descriptor",
				       "guest", "host", "display", "sink", "evdev", "grab", "page", "flip", "damage",
				       "cursor", "backing", "memory", "render", "poppler", "cairo", "pixel", "frame" };
	char title[64], line[256];
	unsigned r = (unsigned)n * 2654435761u + 1;

	cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 21);
	cairo_set_source_rgb(cr, 0.1, 0.15, 0.4);
	snprintf(title, sizeof(title), "vgi-view test document, page %d of %d", n + 1, pages);
	cairo_move_to(cr, 60, 90);
	cairo_show_text(cr, title);
	cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, 11);
	cairo_set_source_rgb(cr, 0, 0, 0);
	for (int l = 0; l < 22; l++) {
		size_t len = 0;

		line[0] = 0;
		while (len < 80) {
			const char *w;

			r = r * 1103515245u + 12345u;
			w = words[(r >> 16) % (sizeof(words) / sizeof(words[0]))];
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s ", w);
		}
		cairo_move_to(cr, 60, 130 + l * 15);
		cairo_show_text(cr, line);
	}
	/* a figure: a bar chart */
	for (int i = 0; i < 10; i++) {
		double hgt = 40 + ((n * 7 + i * 13) % 17) * 10;

		cairo_set_source_rgb(cr, 0.2 + 0.08 * i, 0.5, 0.9 - 0.07 * i);
		cairo_rectangle(cr, 80 + i * 45, 780 - hgt, 34, hgt);
		cairo_fill(cr);
	}
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_set_line_width(cr, 1.5);
	cairo_move_to(cr, 70, 780);
	cairo_line_to(cr, 540, 780);
	cairo_stroke(cr);
}

int vt_make_pdf(const char *path, int pages, bool text)
{
	cairo_surface_t *s = cairo_pdf_surface_create(path, VT_PDF_W, VT_PDF_H);
	cairo_t *cr = cairo_create(s);
	int ret;

	for (int n = 0; n < pages; n++) {
		if (text)
			draw_text_page(cr, n, pages);
		else
			draw_shapes_page(cr, n);
		cairo_show_page(cr);
	}
	cairo_destroy(cr);
	cairo_surface_finish(s);
	ret = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS ? 0 : -EIO;
	cairo_surface_destroy(s);
	return ret;
}

/* A colourful synthetic "photo": a sky gradient, sun, hills, a lake with reflections, trees. */
int vt_make_photo(const char *path, int w, int h)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
	cairo_t *cr = cairo_create(s);
	cairo_pattern_t *p;
	int ret;

	cairo_scale(cr, w / 640.0, h / 400.0);
	p = cairo_pattern_create_linear(0, 0, 0, 260);
	cairo_pattern_add_color_stop_rgb(p, 0, 0.15, 0.2, 0.55);
	cairo_pattern_add_color_stop_rgb(p, 0.6, 0.95, 0.45, 0.35);
	cairo_pattern_add_color_stop_rgb(p, 1, 1.0, 0.8, 0.4);
	cairo_set_source(cr, p);
	cairo_paint(cr);
	cairo_pattern_destroy(p);
	p = cairo_pattern_create_radial(420, 215, 10, 420, 215, 120);
	cairo_pattern_add_color_stop_rgba(p, 0, 1, 1, 0.85, 1);
	cairo_pattern_add_color_stop_rgba(p, 0.3, 1, 0.85, 0.4, 0.9);
	cairo_pattern_add_color_stop_rgba(p, 1, 1, 0.6, 0.3, 0);
	cairo_set_source(cr, p);
	cairo_paint(cr);
	cairo_pattern_destroy(p);
	for (int layer = 0; layer < 3; layer++) {
		double base = 200 + layer * 25, k = 0.4 + 0.25 * layer;

		cairo_move_to(cr, 0, 400);
		for (int x = 0; x <= 640; x += 8)
			cairo_line_to(cr, x, base - 40 * sin(x / (60.0 + 30 * layer) + layer * 1.7) -
						 15 * sin(x / 17.0 + layer));
		cairo_line_to(cr, 640, 400);
		cairo_close_path(cr);
		cairo_set_source_rgb(cr, 0.25 * k, 0.35 * k + 0.1, 0.3 * k);
		cairo_fill(cr);
	}
	p = cairo_pattern_create_linear(0, 290, 0, 400);
	cairo_pattern_add_color_stop_rgb(p, 0, 0.2, 0.45, 0.6);
	cairo_pattern_add_color_stop_rgb(p, 1, 0.05, 0.15, 0.3);
	cairo_set_source(cr, p);
	cairo_rectangle(cr, 0, 290, 640, 110);
	cairo_fill(cr);
	cairo_pattern_destroy(p);
	cairo_set_line_width(cr, 2);
	for (int i = 0; i < 14; i++) {
		cairo_set_source_rgba(cr, 1, 0.85, 0.5, 0.5 - i * 0.03);
		cairo_move_to(cr, 420 - 60 + i * 3, 300 + i * 7);
		cairo_line_to(cr, 420 + 60 - i * 3, 300 + i * 7);
		cairo_stroke(cr);
	}
	for (int t = 0; t < 9; t++) {
		double x = 40 + t * 31 + (t % 3) * 7, y = 300 - (t % 4) * 6, th = 50 + (t % 3) * 18;

		cairo_set_source_rgb(cr, 0.05, 0.2 + 0.03 * t, 0.08);
		cairo_move_to(cr, x, y - th);
		cairo_line_to(cr, x - 14, y);
		cairo_line_to(cr, x + 14, y);
		cairo_close_path(cr);
		cairo_fill(cr);
	}
	cairo_destroy(cr);
	ret = cairo_surface_write_to_png(s, path) == CAIRO_STATUS_SUCCESS ? 0 : -EIO;
	cairo_surface_destroy(s);
	return ret;
}

/* Corrupt copies of src in dir: truncated to half, to its first 24 bytes, and with the middle scrambled. */
int vt_make_corrupt(const char *src, const char *dir, GPtrArray *out)
{
	gchar *data = NULL, *base;
	gsize len = 0;
	static const char *kinds[] = { "half", "head", "scrambled" };

	if (!g_file_get_contents(src, &data, &len, NULL))
		return -ENOENT;
	base = g_path_get_basename(src);
	for (unsigned k = 0; k < 3; k++) {
		char *name = g_strdup_printf("%s-%s", kinds[k], base);
		char *path = g_build_filename(dir, name, NULL);
		gsize n = k == 0 ? len / 2 : k == 1 ? (len < 24 ? len : 24) : len;
		gchar *copy = g_memdup2(data, len);

		if (k == 2) {
			unsigned r = 12345;

			for (gsize i = len / 4; i < len * 3 / 4; i++) {
				r = r * 1103515245u + 12345u;
				copy[i] ^= (gchar)(r >> 16);
			}
		}
		write_file(path, copy, n);
		g_ptr_array_add(out, path);
		g_free(copy);
		g_free(name);
	}
	g_free(base);
	g_free(data);
	return 0;
}
