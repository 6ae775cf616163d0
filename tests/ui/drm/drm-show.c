// SPDX-License-Identifier: MIT
/*
 * Runs inside a guest booted by test-drm-guest.py: shows known frames through
 * the "drm" display sink on the guest's virtio-gpu card, in steps the host
 * checks with QMP screendumps. Steps are synchronised through files in
 * $VGI_OUT (this program creates shownN, the host creates nextN).
 * Frames: vgiguest.pattern_rgb(x, y, seed); cursor: vgiguest.cursor_rgba.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <glib.h>

#include <vgi/display.h>
#include <vgi/sinks.h>

static const char *out_dir;
static uint32_t mode_w, mode_h;

static uint32_t pattern(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t r = (x + 3 * y + seed) & 0xff, g = (y * 2 + (x >> 4) + 5 * seed) & 0xff;
	uint32_t b = ((x >> 3) ^ (y >> 3) ^ seed) & 0xff;

	return 0xff000000u | r << 16 | g << 8 | b;
}

static uint32_t cursor_pixel(uint32_t x, uint32_t y)
{
	if (x + y >= 64)
		return 0;
	return 0xff000000u | ((x * 4) & 0xff) << 16 | ((y * 4) & 0xff) << 8 | 0x80;
}

static void run_loop(int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (g_get_monotonic_time() < end) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(2000);
	}
}

static void signal_host(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "w");
	if (f)
		fclose(f);
	fprintf(stderr, "drm-show: %s\n", name);
}

static int wait_host(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	for (int i = 0; i < 120 * 50; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		run_loop(20);
	}
	fprintf(stderr, "drm-show: timeout waiting for %s\n", name);
	return -1;
}

static void output_changed(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	mode_w = w;
	mode_h = h;
}

static int expect_error(const char *spec, int want)
{
	struct vgi_display_sink s;
	int ret = vgi_display_sink_new(spec, NULL, &s);

	fprintf(stderr, "drm-show: '%s' -> %d (%s)\n", spec, ret, strerror(-ret));
	if (ret == 0)
		s.ops->destroy(s.sink);
	return ret == want ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct vgi_display_host host = { .output_changed = output_changed };
	struct vgi_display_sink s;
	uint32_t *a, *b, cursor[64 * 64];
	int fails = 0;

	out_dir = getenv("VGI_OUT");
	if (!out_dir)
		out_dir = ".";

	/* errors first: they must not disturb the card */
	fails += expect_error("drm,card=/dev/dri/card0,connector=HDMI-A-9,vt=off", -ENODEV);
	fails += expect_error("drm,card=/dev/dri/card0,mode=123x45,vt=off", -ENODEV);
	fails += expect_error("drm,card=/dev/dri/card7,vt=off", -ENOENT);
	fails += expect_error("drm,card=/dev/dri/card0,mode=12", -EINVAL);

	/* step 1: atomic (where the driver has it), frames and damage */
	if (vgi_display_sink_new("drm,card=/dev/dri/card0,vt=off", &host, &s))
		return 1;
	run_loop(100);	/* the sink announces the mode size from an idle callback */
	if (!mode_w || !mode_h) {
		fprintf(stderr, "drm-show: no output size reported\n");
		return 1;
	}
	a = malloc((size_t)mode_w * mode_h * 4);
	b = malloc((size_t)mode_w * mode_h * 4);
	for (uint32_t y = 0; y < mode_h; y++)
		for (uint32_t x = 0; x < mode_w; x++) {
			a[y * mode_w + x] = pattern(x, y, 1);
			b[y * mode_w + x] = pattern(x, y, 2);
		}
	struct vgi_scanout so = { .enabled = true, .width = mode_w, .height = mode_h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = mode_w, .height = mode_h, .stride = mode_w * 4,
				 .format = DRM_FORMAT_XRGB8888, .data = a };
	struct vgi_rect full = { 0, 0, mode_w, mode_h };
	struct vgi_rect r[3] = { { 10, 20, 64, 64 }, { 300, 200, 100, 50 }, { mode_w - 50, mode_h - 30, 100, 100 } };

	/* hostile calls first: none may crash or disturb what follows */
	{
		struct vgi_rect huge = { 0xfffffff0u, 0xfffffff0u, 0x20, 0x20 };
		struct vgi_rect all = { 0, 0, 0xffffffffu, 0xffffffffu };
		struct vgi_image bad = img;
		struct vgi_scanout big = so;
		struct vgi_cursor nc = { .visible = true, .x = INT32_MAX, .y = INT32_MIN, .hot_x = 999,
					 .hot_y = 999, .image_changed = true, .pixels = NULL };

		s.ops->update(s.sink, 0, &full, &img);	/* before the scanout is set */
		s.ops->update(s.sink, 5, &full, &img);
		s.ops->cursor(s.sink, 0, &nc);
		for (uint32_t i = 0; i < 64 * 64; i++)
			cursor[i] = cursor_pixel(i % 64, i / 64);
		nc.pixels = cursor;
		nc.hot_x = 10;
		nc.hot_y = 5;
		s.ops->cursor(s.sink, 0, &nc);	/* far off screen, with a hot spot */
		big.width = big.height = 1u << 20;
		s.ops->scanout(s.sink, 0, &big);
		s.ops->update(s.sink, 0, &all, &img);
		s.ops->update(s.sink, 0, &huge, &img);
		bad.format = 0x12345678;
		s.ops->update(s.sink, 0, &full, &bad);
		bad = img;
		bad.stride = 4;
		s.ops->update(s.sink, 0, &full, &bad);
		big.enabled = false;
		s.ops->scanout(s.sink, 0, &big);
		run_loop(100);
	}
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &full, &img);
	run_loop(200);
	img.data = b;
	for (int i = 0; i < 3; i++) {
		s.ops->update(s.sink, 0, &r[i], &img);
		run_loop(i == 1 ? 0 : 150);	/* two damages in one frame once */
	}
	/* a second client while this one is DRM master: refused with a clear error */
	fails += expect_error("drm,card=/dev/dri/card0,vt=off", -EACCES);

	/* the hardware cursor (plane or legacy): not in the screendump, seen by QEMU's VNC server */
	for (uint32_t i = 0; i < 64 * 64; i++)
		cursor[i] = cursor_pixel(i % 64, i / 64);
	struct vgi_cursor hw = { .visible = true, .x = 600, .y = 400, .hot_x = 10, .hot_y = 5,
				 .image_changed = true, .pixels = cursor };
	s.ops->cursor(s.sink, 0, &hw);
	run_loop(500);
	signal_host("shown1");
	if (wait_host("next1"))
		return 1;

	/* step 2: back to the console: the previous CRTC state is restored */
	s.ops->destroy(s.sink);
	run_loop(300);
	signal_host("shown2");
	if (wait_host("next2"))
		return 1;

	/* step 3: legacy page flips, software cursor composited into the frame */
	if (vgi_display_sink_new("drm,card=/dev/dri/card0,atomic=off,cursor=sw,vt=off", &host, &s))
		return 1;
	struct vgi_cursor c = { .visible = true, .x = 200, .y = 150, .hot_x = 0, .hot_y = 0, .image_changed = true,
				.pixels = cursor };
	img.data = a;
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &full, &img);
	run_loop(150);
	s.ops->cursor(s.sink, 0, &c);
	run_loop(500);
	signal_host("shown3");
	if (wait_host("next3"))
		return 1;

	/* step 4: the cursor moves (hot spot 10,5); a damage update lands under its old place */
	c = (struct vgi_cursor){ .visible = true, .x = 510, .y = 305, .hot_x = 10, .hot_y = 5, .image_changed = true,
				 .pixels = cursor };
	s.ops->cursor(s.sink, 0, &c);
	run_loop(150);
	struct vgi_rect under = { 190, 140, 40, 40 };
	img.data = b;
	s.ops->update(s.sink, 0, &under, &img);
	run_loop(500);
	signal_host("shown4");
	if (wait_host("next4"))
		return 1;
	s.ops->destroy(s.sink);

	if (argc > 1 && !strcmp(argv[1], "--vt")) {
		/*
		 * step 5: VT switching on tty1: the guest script switches to tty2
		 * and back (busybox chvt); a frame presented while away shows on return
		 */
		if (vgi_display_sink_new("drm,card=/dev/dri/card0,vt=/dev/tty1", &host, &s))
			return 1;
		img.data = a;
		s.ops->scanout(s.sink, 0, &so);
		s.ops->update(s.sink, 0, &full, &img);
		run_loop(500);
		signal_host("shown5");
		if (wait_host("vt-away-done"))
			return 1;
		run_loop(300);
		struct vgi_rect away = { 100, 100, 200, 120 };
		img.data = b;
		s.ops->update(s.sink, 0, &away, &img);
		signal_host("updated-away");
		if (wait_host("next6"))
			return 1;
		s.ops->destroy(s.sink);
	}
	free(a);
	free(b);
	fprintf(stderr, "drm-show: done, %d error check(s) failed\n", fails);
	return fails ? 2 : 0;
}
