/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIEW_TESTFILES_H
#define VGI_VIEW_TESTFILES_H

#include <stdbool.h>

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>

#define VT_PATTERN_W 160
#define VT_PATTERN_H 120
/* The shapes PDF: A4 portrait, a coloured band (red, green, blue by page). */
#define VT_PDF_W 595
#define VT_PDF_H 842
#define VT_PDF_BAND_X 72
#define VT_PDF_BAND_Y 120
#define VT_PDF_BAND_W 451
#define VT_PDF_BAND_H 200

struct vt_format {
	const char *name, *type;
	bool lossless;
};
extern const struct vt_format vt_formats[];

GdkPixbuf *vt_pattern(void);
bool vt_have_webp(void);
/* Every entry of vt_formats in dir (test.webp only where gdk-pixbuf can write WebP). 0 or -errno. */
int vt_make_images(const char *dir);
/* pages of shapes (text false) or of text and a figure. */
int vt_make_pdf(const char *path, int pages, bool text);
int vt_make_photo(const char *path, int w, int h);
/* Three broken copies of src in dir; their paths are added to out (g_free them). */
int vt_make_corrupt(const char *src, const char *dir, GPtrArray *out);

#endif
