// SPDX-License-Identifier: MIT
/*
 * CPU time per presented 1920x1080 frame, for a full-frame update and for a
 * 64x64 damage update, for the desktop sinks (sdl, gtk) and the headless
 * sink as a reference, under a private Xvfb. Counts this process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) and the X server's (from /proc), since the X
 * server does part of the work of showing pixels. Never fails on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>
#include <glib.h>

#include <vgi/display.h>
#include <vgi/sinks.h>

#ifdef TEST_SDL
#include "sdl2-sink.h"
#endif
#ifdef TEST_GTK
#include "gtk-sink.h"
#endif

#include "xvfb-harness.h"

#define FW 1920
#define FH 1080
#define SMALL 64

static struct xvfb xvfb;
static uint32_t *frame;

static void host_quit(void *opaque) {}
static const struct vgi_display_host host = { .quit = host_quit };

struct result {
	double full_us, full_x_us, small_us, small_x_us, mid_us, mid_x_us;
};

#define MID 256

static uint64_t presented(const char *name, void *sink)
{
#ifdef TEST_SDL
	if (!strncmp(name, "sdl", 3))
		return vgi_sdl_sink_presented(sink);
#endif
#ifdef TEST_GTK
	if (!strncmp(name, "gtk", 3))
		return vgi_gtk_sink_presented(sink);
#endif
	(void)name, (void)sink;
	return 0;
}

static void settle(const char *name, void *sink)
{
#ifdef TEST_GTK
	if (!strncmp(name, "gtk", 3))
		vgi_gtk_sink_sync(sink);
#endif
	(void)name, (void)sink;
}

/* One update, and wait until the sink has put it on screen. */
static void present(const char *name, struct vgi_display_sink *s, const struct vgi_rect *r, uint32_t seq)
{
	struct vgi_image im = { FW, FH, FW * 4, DRM_FORMAT_XRGB8888, frame, false };
	uint64_t before = presented(name, s->sink);

	/* new contents in the damaged area */
	for (uint32_t y = r->y; y < r->y + r->height; y++)
		for (uint32_t x = r->x; x < r->x + r->width; x++)
			frame[(size_t)y * FW + x] = x * 3 + y * 5 + seq * 0x010101;
	s->ops->update(s->sink, 0, r, &im);
	if (!strcmp(name, "headless"))
		return;	/* synchronous */
	for (int spin = 0; presented(name, s->sink) == before && spin < 100000; spin++)
		g_main_context_iteration(NULL, TRUE);
	settle(name, s->sink);
}

static int run(const char *name, struct result *res)
{
	struct vgi_display_sink s;
	struct vgi_scanout sc = { .enabled = true, .width = FW, .height = FH, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect full = { 0, 0, FW, FH };
	/* GL on llvmpipe presents whole frames: fewer rounds keep the run short */
	const int nfull = strstr(name, "gl=on") ? 20 : 40, nsmall = strstr(name, "gl=on") ? 200 : 2000;
	uint64_t c0, x0;

	if (vgi_display_sink_new(name, &host, &s))
		return -1;
	s.ops->scanout(s.sink, 0, &sc);
	for (int i = 0; i < 5; i++)
		present(name, &s, &full, 1000 + i);
	pump_ms(300);

	settle(name, s.sink);
	c0 = cpu_ns();
	x0 = xvfb_cpu_ns(&xvfb);
	for (int i = 0; i < nfull; i++)
		present(name, &s, &full, i);
	settle(name, s.sink);
	res->full_us = (double)(cpu_ns() - c0) / nfull / 1000.0;
	res->full_x_us = (double)(xvfb_cpu_ns(&xvfb) - x0) / nfull / 1000.0;

	c0 = cpu_ns();
	x0 = xvfb_cpu_ns(&xvfb);
	for (int i = 0; i < nsmall; i++) {
		struct vgi_rect r = { (uint32_t)(i * 97 % (FW - SMALL)), (uint32_t)(i * 61 % (FH - SMALL)), SMALL, SMALL };

		present(name, &s, &r, (uint32_t)i);
	}
	settle(name, s.sink);
	res->small_us = (double)(cpu_ns() - c0) / nsmall / 1000.0;
	res->small_x_us = (double)(xvfb_cpu_ns(&xvfb) - x0) / nsmall / 1000.0;

	c0 = cpu_ns();
	x0 = xvfb_cpu_ns(&xvfb);
	for (int i = 0; i < nsmall / 4; i++) {
		struct vgi_rect r = { (uint32_t)(i * 97 % (FW - MID)), (uint32_t)(i * 61 % (FH - MID)), MID, MID };

		present(name, &s, &r, (uint32_t)i);
	}
	settle(name, s.sink);
	res->mid_us = (double)(cpu_ns() - c0) / (nsmall / 4) / 1000.0;
	res->mid_x_us = (double)(xvfb_cpu_ns(&xvfb) - x0) / (nsmall / 4) / 1000.0;
	s.ops->destroy(s.sink);
	pump_ms(100);
	return 0;
}

int main(void)
{
	const char *names = vgi_display_sink_names();
	const char *want[] = { "headless", "sdl", "sdl,gl=on", "gtk", "gtk,gl=on" };
	double area = (double)SMALL * SMALL / ((double)FW * FH);
	int ret;

	ret = xvfb_start(&xvfb, FW + 64, FH + 64);
	if (ret)
		return ret;
	frame = calloc((size_t)FW * FH, 4);
	if (!frame)
		return 1;
	printf("CPU time per presented %dx%d XRGB8888 frame (us); X = the Xvfb server's share\n", FW, FH);
	printf("%-10s %9s %9s %9s %9s %9s %9s %11s %11s %13s\n", "sink", "full", "full X", "64x64", "64x64 X",
	       "256x256", "256 X", "small/full", "area ratio", "ns/px 256-64");
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct result r;
		char pat[32];

		snprintf(pat, sizeof(pat), " %.*s ", (int)strcspn(want[i], ","), want[i]);
		{
			char all[160];

			snprintf(all, sizeof(all), " %s ", names);
			if (!strstr(all, pat)) {
				printf("%-10s (not built)\n", want[i]);
				continue;
			}
		}
		if (run(want[i], &r)) {
			printf("%-10s (could not start)\n", want[i]);
			continue;
		}
		/* marginal cost per pixel between 64x64 and 256x256, against the full frame's per-pixel cost */
		double marg = ((r.mid_us + r.mid_x_us) - (r.small_us + r.small_x_us)) * 1000.0 /
			      ((double)MID * MID - (double)SMALL * SMALL);

		printf("%-10s %9.1f %9.1f %9.2f %9.2f %9.2f %9.2f %11.5f %11.5f %6.2f (%4.2f)\n", want[i], r.full_us,
		       r.full_x_us, r.small_us, r.small_x_us, r.mid_us, r.mid_x_us,
		       (r.small_us + r.small_x_us) / (r.full_us + r.full_x_us), area, marg,
		       (r.full_us + r.full_x_us) * 1000.0 / ((double)FW * FH));
	}
	printf("small/full: total CPU (this process + X server) of a 64x64 update over a full one; proportional\n"
	       "to area alone would be %.5f, the rest is the fixed cost of one update. ns/px 256-64: the cost of\n"
	       "each extra damaged pixel, (in brackets) a full frame's cost per pixel: equal when the damage path\n"
	       "scales with area.\n", area);
	free(frame);
	xvfb_stop(&xvfb);
	return 0;
}
