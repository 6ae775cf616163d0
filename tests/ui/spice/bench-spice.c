// SPDX-License-Identifier: MIT
/*
 * CPU time per presented 1920x1080 frame through the SPICE sink: a full-frame
 * update and a 64x64 damage update. A frame counts as presented when
 * spice-server's worker has taken its draw command. Process CPU time covers
 * this thread and spice-server's worker. Run with no client, and with a real
 * client (spice-input-client --stay) connected when it was built.
 * Never fails on timing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <glib.h>

#include <vgi/display.h>
#include <vgi/sinks.h>

#include "../../../ui/spice/spice-sink.h"
#include "spice-test-util.h"

#define W 1920
#define H 1080

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wait_presented(struct vgi_display_sink *s)
{
	while (vgi_spice_sink_pending(s->sink)) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(500);
	}
}

static void run(struct vgi_display_sink *s, uint32_t **frames, const char *what, uint32_t rw, uint32_t rh,
		int n, const char *client)
{
	struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = DRM_FORMAT_XRGB8888 };
	double c0 = 0, w0 = 0, c, w;

	for (int i = 0; i < n + 5; i++) {
		struct vgi_rect r = { 0, 0, rw, rh };

		if (rw < W) {
			r.x = (uint32_t)(i * 97) % (W - rw);
			r.y = (uint32_t)(i * 61) % (H - rh);
		}
		if (i == 5) {	/* warm-up done */
			c0 = cpu_now();
			w0 = wall_now();
		}
		img.data = frames[i & 1];
		s->ops->update(s->sink, 0, &r, &img);
		wait_presented(s);
	}
	c = cpu_now() - c0;
	w = wall_now() - w0;
	printf("| spice | %-10s | %-16s | %5d | %10.3f | %10.3f | %8.1f |\n", what, client, n, c * 1e3 / n,
	       w * 1e3 / n, n / w);
}

int main(int argc, char **argv)
{
	uint32_t *frames[2];
	int port = st_free_port();
	char spec[128];
	struct vgi_display_sink s;
	struct vgi_scanout so = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };
	const char *client = getenv("VGI_SPICE_BENCH_CLIENT");
	GPid pid = 0;

	for (int f = 0; f < 2; f++) {
		frames[f] = malloc((size_t)W * H * 4);
		for (uint32_t y = 0; y < H; y++)
			for (uint32_t x = 0; x < W; x++)
				frames[f][y * W + x] = st_pattern(x, y, (uint32_t)f + 1);
	}
	snprintf(spec, sizeof(spec), "spice,port=%d,disable-ticketing", port);
	if (vgi_display_sink_new(spec, NULL, &s))
		return 1;
	s.ops->scanout(s.sink, 0, &so);

	printf("SPICE sink, %dx%d XRGB8888, CPU time of this process (sink + spice-server worker)\n", W, H);
	printf("| sink  | update     | client           | frames| CPU ms/frm | wall ms/frm| frames/s |\n");
	printf("|-------|------------|------------------|-------|------------|------------|----------|\n");
	run(&s, frames, "full", W, H, 60, "none");
	run(&s, frames, "64x64", 64, 64, 2000, "none");

#ifdef SPICE_INPUT_CLIENT
	if (!client)
		client = SPICE_INPUT_CLIENT;
#endif
	if (client && access(client, X_OK) == 0) {
		char portstr[16];
		const char *argv2[] = { client, "--stay", "127.0.0.1", portstr, NULL };
		GError *err = NULL;

		snprintf(portstr, sizeof(portstr), "%d", port);
		if (g_spawn_async(NULL, (char **)argv2, NULL, G_SPAWN_DEFAULT, NULL, NULL, &pid, &err)) {
			/* let it connect and receive the first picture */
			double end = wall_now() + 3;

			while (wall_now() < end) {
				g_main_context_iteration(NULL, FALSE);
				g_usleep(1000);
			}
			run(&s, frames, "full", W, H, 60, "spice-client-glib");
			run(&s, frames, "64x64", 64, 64, 2000, "spice-client-glib");
			kill(pid, SIGTERM);
			g_spawn_close_pid(pid);
		} else {
			printf("(no client run: %s)\n", err->message);
			g_error_free(err);
		}
	} else {
		printf("(no run with a client: spice-input-client not built)\n");
	}
	s.ops->destroy(s.sink);
	free(frames[0]);
	free(frames[1]);
	return 0;
}
