/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIEW_DOC_H
#define VGI_VIEW_DOC_H

/*
 * Documents for vgi-view: an image (gdk-pixbuf, EXIF orientation applied)
 * is a one-page document, a PDF (poppler-glib) has pages. Pages are
 * rendered with cairo at a given scale into a small cache (bounded number
 * of entries) so the next and previous pages can be rendered ahead.
 */

#include <stdbool.h>
#include <stdint.h>

#include <cairo.h>

enum view_doc_kind { VIEW_DOC_IMAGE, VIEW_DOC_PDF };

#define VIEW_IMAGE_MAX_PIXELS (40ull * 1000 * 1000)	/* decoded image cap */
#define VIEW_CACHE_ENTRIES 4

struct view_doc;

/*
 * Open a file. 0, or a negative errno with *err set to a message for the
 * user (free it with free()): -ENOENT/-EACCES (unreadable), -EISDIR,
 * -ENOTSUP (not an image or PDF this build can read), -EINVAL (corrupt or
 * truncated), -EFBIG (too large).
 */
int view_doc_open(const char *path, struct view_doc **out, char **err);
void view_doc_free(struct view_doc *d);

enum view_doc_kind view_doc_kind(const struct view_doc *d);
const char *view_doc_path(const struct view_doc *d);
/* "PNG", "JPEG", "PDF", ... */
const char *view_doc_format(const struct view_doc *d);
int view_doc_pages(const struct view_doc *d);
/* Page size in document units (PDF points, image pixels). */
void view_doc_page_size(const struct view_doc *d, int page, double *w, double *h);

/*
 * The page rendered at scale into a w x h surface (cached; the doc keeps
 * the reference, valid until the next render call). *cached tells whether
 * it came from the cache. NULL on error (logged).
 */
cairo_surface_t *view_doc_render(struct view_doc *d, int page, double scale, uint32_t w, uint32_t h,
				 bool *cached);
/* Whether that rendering is in the cache. */
bool view_doc_cached(const struct view_doc *d, int page, uint32_t w, uint32_t h);
/* Pages rendered so far (not from the cache). */
unsigned view_doc_render_count(const struct view_doc *d);

#endif
