/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIEW_GEOM_H
#define VGI_VIEW_GEOM_H

/*
 * Where a page goes on the output: fit page, fit width or a free zoom, and a
 * pan offset. Pure arithmetic, no I/O (unit-tested in tests/view).
 */

#include <stdbool.h>
#include <stdint.h>

enum view_fit {
	VIEW_FIT_PAGE,		/* the whole page visible */
	VIEW_FIT_WIDTH,		/* page width = output width */
	VIEW_FIT_NONE,		/* free zoom (after + or -) */
};

#define VIEW_ZOOM_STEP 1.25
#define VIEW_SCALE_MIN 0.02
#define VIEW_SCALE_MAX 16.0
#define VIEW_MAX_SIDE 16384u			/* rendered page, pixels per side */
#define VIEW_MAX_PIXELS (48ull * 1024 * 1024)	/* rendered page, pixels */

struct view_geom {
	/* inputs */
	double doc_w, doc_h;	/* page size in document units (points, or image pixels) */
	uint32_t out_w, out_h;	/* output size */
	enum view_fit fit;
	bool no_upscale;	/* fit never enlarges (images) */
	double zoom;		/* scale with VIEW_FIT_NONE */
	/* state: the visible part's top-left in page pixels (0 when the page is narrower) */
	int64_t pan_x, pan_y;
};

/* Scale (output pixels per document unit), clamped to the limits. 0 for an empty page or output. */
double view_geom_scale(const struct view_geom *g);
/* Page size in pixels at the current scale (at least 1x1 unless the scale is 0). */
void view_geom_page_px(const struct view_geom *g, uint32_t *w, uint32_t *h);
/* Clamp the pan into the page; call after anything changed. */
void view_geom_clamp(struct view_geom *g);
/*
 * Where page pixel (0,0) lands on the output (negative when panned), and
 * the visible rectangle of the output it covers.
 */
void view_geom_place(const struct view_geom *g, int64_t *x, int64_t *y);

/* Zoom by factor (VIEW_ZOOM_STEP or its inverse) keeping the output's centre; false if at a limit. */
bool view_geom_zoom(struct view_geom *g, double factor);
/* Switch to fit page / fit width; resets the pan to the top. */
void view_geom_set_fit(struct view_geom *g, enum view_fit fit);
/* Pan by dx, dy output pixels; false if nothing moved. */
bool view_geom_pan(struct view_geom *g, int64_t dx, int64_t dy);
/* A new page or output size: keep fit/zoom, pan to the top (pan_x kept when top is true). */
void view_geom_new_page(struct view_geom *g, double doc_w, double doc_h);

#endif
