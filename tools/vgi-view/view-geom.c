// SPDX-License-Identifier: MIT
/* Fit, zoom and pan arithmetic for vgi-view. */
#include <math.h>

#include "view-geom.h"

/* min: apply VIEW_SCALE_MIN (zoom); a fit may go below it for a huge page */
static double clamp_scale(const struct view_geom *g, double s, bool min)
{
	double lim;

	if (min && s < VIEW_SCALE_MIN)
		s = VIEW_SCALE_MIN;
	if (s > VIEW_SCALE_MAX)
		s = VIEW_SCALE_MAX;
	/* the rendered page stays within VIEW_MAX_SIDE per side and VIEW_MAX_PIXELS */
	lim = VIEW_MAX_SIDE / (g->doc_w > g->doc_h ? g->doc_w : g->doc_h);
	if (s > lim)
		s = lim;
	lim = sqrt((double)VIEW_MAX_PIXELS / (g->doc_w * g->doc_h));
	if (s > lim)
		s = lim;
	return s;
}

static bool usable(const struct view_geom *g)
{
	return g->doc_w >= 1e-3 && g->doc_h >= 1e-3 && isfinite(g->doc_w) && isfinite(g->doc_h) &&
	       g->out_w && g->out_h;
}

double view_geom_scale(const struct view_geom *g)
{
	double s;

	if (!usable(g))
		return 0;
	switch (g->fit) {
	case VIEW_FIT_PAGE: {
		double sx = g->out_w / g->doc_w, sy = g->out_h / g->doc_h;

		s = sx < sy ? sx : sy;
		if (g->no_upscale && s > 1)
			s = 1;
		break;
	}
	case VIEW_FIT_WIDTH:
		s = g->out_w / g->doc_w;
		if (g->no_upscale && s > 1)
			s = 1;
		break;
	default:
		s = g->zoom;
		break;
	}
	return clamp_scale(g, s, false);	/* the zoom was clamped when set */
}

void view_geom_page_px(const struct view_geom *g, uint32_t *w, uint32_t *h)
{
	double s = view_geom_scale(g);
	double pw, ph;

	if (s <= 0) {
		*w = *h = 0;
		return;
	}
	/* round to nearest so that fit page gives exactly the output's width or height */
	pw = floor(g->doc_w * s + 0.5);
	ph = floor(g->doc_h * s + 0.5);
	*w = pw < 1 ? 1 : pw > VIEW_MAX_SIDE ? VIEW_MAX_SIDE : (uint32_t)pw;
	*h = ph < 1 ? 1 : ph > VIEW_MAX_SIDE ? VIEW_MAX_SIDE : (uint32_t)ph;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void view_geom_clamp(struct view_geom *g)
{
	uint32_t pw, ph;

	view_geom_page_px(g, &pw, &ph);
	g->pan_x = pw > g->out_w ? clamp64(g->pan_x, 0, (int64_t)pw - g->out_w) : 0;
	g->pan_y = ph > g->out_h ? clamp64(g->pan_y, 0, (int64_t)ph - g->out_h) : 0;
}

void view_geom_place(const struct view_geom *g, int64_t *x, int64_t *y)
{
	uint32_t pw, ph;

	view_geom_page_px(g, &pw, &ph);
	/* a page smaller than the output is centred, a larger one panned */
	*x = pw <= g->out_w ? ((int64_t)g->out_w - pw) / 2 : -g->pan_x;
	*y = ph <= g->out_h ? ((int64_t)g->out_h - ph) / 2 : -g->pan_y;
}

bool view_geom_zoom(struct view_geom *g, double factor)
{
	double old = view_geom_scale(g), s;
	uint32_t ow, oh, nw, nh;
	int64_t x, y;
	double cx, cy;

	if (old <= 0 || !(factor > 0))
		return false;
	s = clamp_scale(g, old * factor, factor < 1);
	if (fabs(s - old) < 1e-9 || (factor < 1 && s > old))
		return false;
	view_geom_page_px(g, &ow, &oh);
	view_geom_place(g, &x, &y);
	/* the page point under the output's centre, as a fraction of the page */
	cx = ((double)g->out_w / 2 - x) / ow;
	cy = ((double)g->out_h / 2 - y) / oh;
	g->fit = VIEW_FIT_NONE;
	g->zoom = s;
	view_geom_page_px(g, &nw, &nh);
	g->pan_x = (int64_t)floor(cx * nw - (double)g->out_w / 2 + 0.5);
	g->pan_y = (int64_t)floor(cy * nh - (double)g->out_h / 2 + 0.5);
	view_geom_clamp(g);
	return true;
}

void view_geom_set_fit(struct view_geom *g, enum view_fit fit)
{
	g->fit = fit;
	g->pan_x = g->pan_y = 0;
	view_geom_clamp(g);
}

bool view_geom_pan(struct view_geom *g, int64_t dx, int64_t dy)
{
	int64_t ox = g->pan_x, oy = g->pan_y;

	g->pan_x += dx;
	g->pan_y += dy;
	view_geom_clamp(g);
	return g->pan_x != ox || g->pan_y != oy;
}

void view_geom_new_page(struct view_geom *g, double doc_w, double doc_h)
{
	g->doc_w = doc_w;
	g->doc_h = doc_h;
	g->pan_y = 0;
	view_geom_clamp(g);
}
