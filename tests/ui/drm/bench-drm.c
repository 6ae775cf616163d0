// SPDX-License-Identifier: MIT
/*
 * CPU time per presented frame through the DRM display (include/vgi/drm-display.h):
 * a full-frame update and a 64x64 damage update, each presented and its page
 * flip completed. Process CPU time (user + system: the copies and the
 * kernel's work in the flip ioctls). Needs a KMS card: run in a guest by
 * bench-drm-guest.py. Never fails on timing.
 *
 *   bench-drm [CARD [WxH]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <drm_fourcc.h>

#include <vgi/drm-display.h>

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(struct vgi_drm_display *d, uint32_t **frames, uint32_t w, uint32_t h, uint32_t rw, uint32_t rh,
	       int n, const char *what)
{
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888 };
	double c0 = 0, w0 = 0;
	uint64_t f0 = 0;

	for (int i = 0; i < n + 3; i++) {
		struct vgi_rect r = { 0, 0, rw, rh };

		if (rw < w) {
			r.x = (uint32_t)(i * 97) % (w - rw);
			r.y = (uint32_t)(i * 61) % (h - rh);
		}
		if (i == 3) {
			c0 = now(CLOCK_PROCESS_CPUTIME_ID);
			w0 = now(CLOCK_MONOTONIC);
			f0 = vgi_drm_display_flip_count(d);
		}
		img.data = frames[i & 1];
		vgi_drm_display_present(d, &img, &r, 1);
		if (vgi_drm_display_flush(d, 2000)) {
			fprintf(stderr, "bench-drm: flip timed out\n");
			return 1;
		}
	}
	double c = now(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = now(CLOCK_MONOTONIC) - w0;
	uint64_t flips = vgi_drm_display_flip_count(d) - f0;

	printf("| drm   | %-6s | %-10s | %5d | %5llu | %10.3f | %10.3f |\n", vgi_drm_display_atomic(d) ? "atomic" : "legacy",
	       what, n, (unsigned long long)flips, c * 1e3 / n, wall * 1e3 / n);
	return 0;
}

int main(int argc, char **argv)
{
	struct vgi_drm_display_options o = { .card = argc > 1 ? argv[1] : NULL, .no_vt = true };
	uint32_t *frames[2], w, h;
	int ret = 0;

	if (argc > 2 && sscanf(argv[2], "%ux%u", &o.width, &o.height) != 2)
		return 2;
	printf("| sink  | flips  | update     | frames| flips | CPU ms/frm | wall ms/frm|\n");
	printf("|-------|--------|------------|-------|-------|------------|------------|\n");
	for (int legacy = 0; legacy < 2 && !ret; legacy++) {
		struct vgi_drm_display *d;

		o.no_atomic = legacy;
		if (vgi_drm_display_open(&o, &d))
			return 1;
		vgi_drm_display_size(d, &w, &h);
		for (int f = 0; f < 2; f++) {
			frames[f] = malloc((size_t)w * h * 4);
			for (uint32_t i = 0; i < w * h; i++)
				frames[f][i] = 0xff000000u | ((i % w) * (f + 3)) << 8 | (i / w) * (f + 1);
		}
		if (!legacy)
			fprintf(stderr, "bench-drm: %s %s %ux%u\n", vgi_drm_display_card(d), vgi_drm_display_connector(d), w, h);
		ret = run(d, frames, w, h, w, h, 30, legacy ? "full" : "full") ||
		      run(d, frames, w, h, 64, 64, 300, "64x64");
		vgi_drm_display_free(d);
		free(frames[0]);
		free(frames[1]);
	}
	printf("(%ux%u XRGB8888)\n", w, h);
	return ret;
}
