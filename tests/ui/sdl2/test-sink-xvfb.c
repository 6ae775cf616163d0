// SPDX-License-Identifier: MIT
/*
 * A desktop sink (SINK_NAME: "sdl" or "gtk") under a private Xvfb, through
 * real X clients: xwd screenshots compared pixel for pixel with what was
 * sent, xdotool keys/clicks/moves/resizes that must come back as the right
 * evdev events and output changes, an XFixes read of the cursor image, and
 * a WM_DELETE_WINDOW that must ask the program to quit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <drm_fourcc.h>
#include <glib.h>
#include <linux/input-event-codes.h>

#include <vgi/display.h>
#include <vgi/input.h>
#include <vgi/sinks.h>

#ifdef TEST_HAVE_X11
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#endif
#ifdef TEST_SDL
#include <SDL.h>

#include "sdl2-sink.h"
#endif

#include "xvfb-harness.h"

#ifndef SINK_NAME
#error SINK_NAME must be defined
#endif

#define W 320
#define H 200
#define MAX_EVENTS 4096

static struct xvfb xvfb;
static struct vgi_display_sink sink;
static uint32_t img[W * H];	/* what the "guest" shows, 0x00RRGGBB */
static char winid[32];

static struct {
	uint32_t id;
	struct vgi_input_event ev;
} events[MAX_EVENTS];
static unsigned n_events;
struct output_change {
	uint32_t id, w, h;
	bool connected;
};
static struct output_change outputs[64];
static unsigned n_outputs;
static unsigned quits;

static void host_output_changed(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	if (n_outputs < 64)
		outputs[n_outputs++] = (struct output_change){ id, w, h, connected };
	printf("output_changed(%u, %d, %ux%u)\n", id, connected, w, h);
}

static void host_input(void *opaque, uint32_t id, const struct vgi_input_event *ev)
{
	if (n_events < MAX_EVENTS) {
		events[n_events].id = id;
		events[n_events].ev = *ev;
		n_events++;
	}
}

static void host_quit(void *opaque)
{
	quits++;
}

static const struct vgi_display_host host = {
	.output_changed = host_output_changed,
	.input = host_input,
	.quit = host_quit,
};

static uint32_t pattern(int x, int y)
{
	/* unique per pixel of a 320x200 image, so the screenshot can be searched for it */
	return (uint32_t)(x & 0xff) << 16 | (uint32_t)(y & 0xff) << 8 | (uint32_t)(0x40 | (x >> 8) << 2 | (y >> 8));
}

static void show_full(uint32_t format)
{
	static uint32_t conv[W * H];
	struct vgi_rect all = { 0, 0, W, H };
	struct vgi_image im = { W, H, W * 4, format, conv, false };

	for (int i = 0; i < W * H; i++) {
		uint32_t v = img[i], r = v >> 16 & 0xff, g = v >> 8 & 0xff, b = v & 0xff;

		switch (format) {
		case DRM_FORMAT_XRGB8888: conv[i] = v | 0x12000000; break;	/* X byte must be ignored */
		case DRM_FORMAT_XBGR8888: conv[i] = b << 16 | g << 8 | r; break;
		case DRM_FORMAT_BGRX8888: conv[i] = b << 24 | g << 16 | r << 8; break;
		default: fail();
		}
	}
	sink.ops->update(sink.sink, 0, &all, &im);
}

static void find_window(void)
{
	const char *argv[] = { "timeout", "10", "xdotool", "search", "--sync", "--name", "^vgi: scanout 0", NULL };
	char out[256];

	assert_int_equal(run_pumping(argv, out, sizeof(out)), 0);
	assert_true(sscanf(out, "%31s", winid) == 1);
}

static int xdo(const char *a, const char *b, const char *c, const char *d, const char *e)
{
	const char *argv[] = { "xdotool", a, b, c, d, e, NULL };
	int ret = run_pumping(argv, NULL, 0);

	pump_ms(150);
	return ret;
}

static void window_name(char *out, size_t len)
{
	const char *argv[] = { "xdotool", "getwindowname", winid, NULL };

	pump_ms(100);
	assert_int_equal(run_pumping(argv, out, len), 0);
}

static int setup(void **state)
{
	struct vgi_scanout sc = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };

	assert_int_equal(vgi_display_sink_new(SINK_NAME, &host, &sink), 0);
	sink.ops->scanout(sink.sink, 0, &sc);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			img[y * W + x] = pattern(x, y);
	show_full(DRM_FORMAT_XRGB8888);
	pump_ms(300);
	find_window();
	return 0;
}

static int teardown(void **state)
{
	if (sink.ops)
		sink.ops->destroy(sink.sink);
	sink.ops = NULL;
	pump_ms(50);
	return 0;
}

/* Full frame, then a damage rectangle: only the damaged pixels may change on screen. */
static void check_pixels(void)
{
	struct shot s;
	int ox, oy;
	struct vgi_rect d = { 37, 21, 64, 48 };
	uint32_t expect[W * H];

	assert_int_equal(shot_take(&s), 0);
	assert_true(shot_find(&s, img, W, H, W, &ox, &oy));
	printf("full frame found at %d,%d\n", ox, oy);
	shot_free(&s);

	memcpy(expect, img, sizeof(img));
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			bool in = x >= (int)d.x && x < (int)(d.x + d.width) && y >= (int)d.y && y < (int)(d.y + d.height);

			if (in)
				img[y * W + x] = expect[y * W + x] = 0xff8000 ^ (uint32_t)(x * y);
			else if (x >= 250 && x < 270 && y >= 150 && y < 170)
				img[y * W + x] = 0x0000ff;	/* changed but not damaged: must not show */
		}
	{
		struct vgi_image im = { W, H, W * 4, DRM_FORMAT_XRGB8888, img, false };

		sink.ops->update(sink.sink, 0, &d, &im);
	}
	pump_ms(200);
	assert_int_equal(shot_take(&s), 0);
	assert_int_equal(shot_compare(&s, expect, W, H, W, ox, oy), 0);
	shot_free(&s);

	/* The undamaged change shows once it is damaged, in another pixel format. */
	show_full(DRM_FORMAT_XBGR8888);
	pump_ms(200);
	assert_int_equal(shot_take(&s), 0);
	assert_int_equal(shot_compare(&s, img, W, H, W, ox, oy), 0);
	shot_free(&s);
	show_full(DRM_FORMAT_BGRX8888);
	pump_ms(200);
	assert_int_equal(shot_take(&s), 0);
	assert_int_equal(shot_compare(&s, img, W, H, W, ox, oy), 0);
	shot_free(&s);
}

static void test_pixels(void **state)
{
#ifdef TEST_SDL
	printf("sdl path: %s\n", vgi_sdl_sink_path(sink.sink, 0));
	assert_string_equal(vgi_sdl_sink_path(sink.sink, 0), "surface");
#endif
	check_pixels();
}

/* The EV_KEY events seen since n0, each followed by a SYN_REPORT. */
static unsigned keys_since(unsigned n0, struct vgi_input_event *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = n0; i < n_events; i++) {
		assert_int_equal(events[i].id, 0);
		if (events[i].ev.type != EV_KEY)
			continue;
		assert_true(i + 1 < n_events);
		assert_int_equal(events[i + 1].ev.type, EV_SYN);
		assert_int_equal(events[i + 1].ev.code, SYN_REPORT);
		if (n < max)
			out[n++] = events[i].ev;
	}
	return n;
}

static void focus(void)
{
	assert_int_equal(xdo("mousemove", "--window", winid, "3", "3"), 0);
	assert_int_equal(xdo("windowfocus", "--sync", winid, NULL, NULL), 0);
}

static void test_keys(void **state)
{
	static const struct { uint16_t code; int32_t value; } want[] = {
		{ KEY_A, 1 }, { KEY_A, 0 },
		{ KEY_LEFTSHIFT, 1 }, { KEY_B, 1 }, { KEY_LEFTSHIFT, 0 }, { KEY_B, 0 },	/* xdotool's order */
		{ KEY_LEFT, 1 }, { KEY_LEFT, 0 }, { KEY_UP, 1 }, { KEY_UP, 0 },
		{ KEY_ENTER, 1 }, { KEY_ENTER, 0 }, { KEY_F5, 1 }, { KEY_F5, 0 },
		{ KEY_KPENTER, 1 }, { KEY_KPENTER, 0 }, { KEY_1, 1 }, { KEY_1, 0 },
		{ KEY_SPACE, 1 }, { KEY_SPACE, 0 }, { KEY_DELETE, 1 }, { KEY_DELETE, 0 },
	};
	struct vgi_input_event got[64];
	unsigned n0, n;
	const char *argv[] = { "xdotool", "key", "--delay", "30", "a", "shift+b", "Left", "Up", "Return", "F5",
			       "KP_Enter", "1", "space", "Delete", NULL };

	focus();
	n0 = n_events;
	assert_int_equal(run_pumping(argv, NULL, 0), 0);
	pump_ms(200);
	n = keys_since(n0, got, 64);
	for (unsigned i = 0; i < n; i++)
		printf("key %u %d\n", got[i].code, got[i].value);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(got[i].code, want[i].code);
		assert_int_equal(got[i].value, want[i].value);
	}
}

static bool last_abs(unsigned n0, int32_t *x, int32_t *y)
{
	bool seen = false;

	for (unsigned i = n0; i < n_events; i++) {
		if (events[i].ev.type != EV_ABS)
			continue;
		if (events[i].ev.code == ABS_X)
			*x = events[i].ev.value, seen = true;
		if (events[i].ev.code == ABS_Y)
			*y = events[i].ev.value;
	}
	return seen;
}

static void test_mouse(void **state)
{
	struct vgi_input_event got[64];
	int32_t ax = -1, ay = -1, wheel = 0;
	unsigned n0, n;

	focus();
	n0 = n_events;
	assert_int_equal(xdo("mousemove", "--window", winid, "100", "50"), 0);
	assert_true(last_abs(n0, &ax, &ay));
	printf("abs %d %d\n", ax, ay);
	assert_int_equal(ax, 100 * 32767 / (W - 1));
	assert_int_equal(ay, 50 * 32767 / (H - 1));
	assert_int_equal(xdo("mousemove", "--window", winid, "319", "199"), 0);
	assert_true(last_abs(n0, &ax, &ay));
	assert_int_equal(ax, 32767);
	assert_int_equal(ay, 32767);

	n0 = n_events;
	assert_int_equal(xdo("click", "1", NULL, NULL, NULL), 0);
	assert_int_equal(xdo("click", "3", NULL, NULL, NULL), 0);
	assert_int_equal(xdo("click", "2", NULL, NULL, NULL), 0);
	n = keys_since(n0, got, 64);
	assert_int_equal(n, 6);
	assert_int_equal(got[0].code, BTN_LEFT);
	assert_int_equal(got[0].value, 1);
	assert_int_equal(got[1].code, BTN_LEFT);
	assert_int_equal(got[1].value, 0);
	assert_int_equal(got[2].code, BTN_RIGHT);
	assert_int_equal(got[2].value, 1);
	assert_int_equal(got[3].code, BTN_RIGHT);
	assert_int_equal(got[3].value, 0);
	assert_int_equal(got[4].code, BTN_MIDDLE);
	assert_int_equal(got[5].code, BTN_MIDDLE);

	n0 = n_events;
	assert_int_equal(xdo("click", "4", NULL, NULL, NULL), 0);
	for (unsigned i = n0; i < n_events; i++)
		if (events[i].ev.type == EV_REL && events[i].ev.code == REL_WHEEL)
			wheel += events[i].ev.value;
	assert_int_equal(wheel, 1);
	assert_int_equal(xdo("click", "--repeat", "3", "5", NULL), 0);
	wheel = 0;
	for (unsigned i = n0; i < n_events; i++)
		if (events[i].ev.type == EV_REL && events[i].ev.code == REL_WHEEL)
			wheel += events[i].ev.value;
	assert_int_equal(wheel, 1 - 3);
}

static void test_cursor(void **state)
{
#ifdef TEST_HAVE_X11
	static uint32_t px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
	struct vgi_cursor c = { .visible = true, .x = 10, .y = 10, .hot_x = 5, .hot_y = 7,
				.image_changed = true, .pixels = px };
	Display *dpy = XOpenDisplay(NULL);
	XFixesCursorImage *ci;
	int ev, err;
	long bad = 0;

	assert_non_null(dpy);
	if (!XFixesQueryExtension(dpy, &ev, &err)) {
		XCloseDisplay(dpy);
		skip();
	}
	for (int i = 0; i < VGI_CURSOR_SIZE * VGI_CURSOR_SIZE; i++)
		px[i] = 0xff000000u | (uint32_t)(i * 2654435761u >> 8);	/* opaque: premultiplied = straight */
	assert_int_equal(xdo("mousemove", "--window", winid, "60", "60"), 0);
	sink.ops->cursor(sink.sink, 0, &c);
	pump_ms(200);
	ci = XFixesGetCursorImage(dpy);
	assert_non_null(ci);
	printf("cursor %ux%u hot %u,%u\n", ci->width, ci->height, ci->xhot, ci->yhot);
	assert_int_equal(ci->width, VGI_CURSOR_SIZE);
	assert_int_equal(ci->height, VGI_CURSOR_SIZE);
	assert_int_equal(ci->xhot, 5);
	assert_int_equal(ci->yhot, 7);
	for (int i = 0; i < VGI_CURSOR_SIZE * VGI_CURSOR_SIZE; i++)
		if ((uint32_t)ci->pixels[i] != px[i] && bad++ < 3)
			printf("cursor pixel %d: %08x want %08x\n", i, (uint32_t)ci->pixels[i], px[i]);
	assert_int_equal(bad, 0);
	XFree(ci);

	/* Hidden: the X cursor must become fully transparent. */
	c.visible = false;
	c.image_changed = false;
	c.pixels = NULL;
	sink.ops->cursor(sink.sink, 0, &c);
	pump_ms(200);
	ci = XFixesGetCursorImage(dpy);
	assert_non_null(ci);
	for (unsigned i = 0; i < (unsigned)ci->width * ci->height; i++)
		assert_int_equal((uint32_t)ci->pixels[i] >> 24, 0);
	XFree(ci);
	XCloseDisplay(dpy);
#else
	skip();
#endif
}

static void test_grab(void **state)
{
	struct vgi_input_event got[64];
	char name[256];
	unsigned n0, n;
	int32_t rx = 0, ry = 0;

	focus();
	n0 = n_events;
	assert_int_equal(xdo("key", "ctrl+alt+g", NULL, NULL, NULL), 0);
	window_name(name, sizeof(name));
	printf("title: %s", name);
	assert_non_null(strstr(name, "grabbed"));
	n = keys_since(n0, got, 64);
	for (unsigned i = 0; i < n; i++)
		assert_int_not_equal(got[i].code, KEY_G);	/* the hotkey stays with us */

	n0 = n_events;
	assert_int_equal(xdo("mousemove_relative", "--", "20", "10", NULL), 0);
	assert_int_equal(xdo("mousemove_relative", "--", "-5", "4", NULL), 0);
	for (unsigned i = n0; i < n_events; i++) {
		if (events[i].ev.type == EV_REL && events[i].ev.code == REL_X)
			rx += events[i].ev.value;
		if (events[i].ev.type == EV_REL && events[i].ev.code == REL_Y)
			ry += events[i].ev.value;
		assert_int_not_equal(events[i].ev.type, EV_ABS);
	}
	printf("relative motion while grabbed: %d,%d\n", rx, ry);
	assert_int_equal(rx, 15);
	assert_int_equal(ry, 14);

	assert_int_equal(xdo("key", "ctrl+alt+g", NULL, NULL, NULL), 0);
	window_name(name, sizeof(name));
	assert_null(strstr(name, "grabbed"));
}

#ifdef TEST_GTK
/* The screen must show expect (W x H) at ox,oy; a few tries for the repaint to land. */
static void expect_screen(const uint32_t *expect, int ox, int oy, const char *what)
{
	struct shot s;
	long bad = -1;

	for (int i = 0; i < 6 && bad; i++) {
		if (i)
			pump_ms(200);
		assert_int_equal(shot_take(&s), 0);
		bad = shot_compare(&s, expect, W, H, W, ox, oy);
		shot_free(&s);
	}
	printf("%s: %ld pixels differ\n", what, bad);
	assert_int_equal(bad, 0);
}

/* img with the cursor image px (opaque) at x - hot_x, y - hot_y, clipped to the frame. */
static void with_cursor(uint32_t *out, const uint32_t *px, int x, int y, int hot_x, int hot_y)
{
	memcpy(out, img, sizeof(img));
	for (int cy = 0; cy < VGI_CURSOR_SIZE; cy++)
		for (int cx = 0; cx < VGI_CURSOR_SIZE; cx++) {
			int fx = x - hot_x + cx, fy = y - hot_y + cy;

			if (fx >= 0 && fx < W && fy >= 0 && fy < H)
				out[fy * W + fx] = px[cy * VGI_CURSOR_SIZE + cx] & 0xffffff;
		}
}

/*
 * While the input is grabbed the host pointer is blank, so the sink paints
 * the guest's cursor into the frame at its hot spot position; it follows
 * moves, and is gone from the frame (back on the host pointer) after the ungrab.
 */
static void test_grab_cursor(void **state)
{
	static uint32_t px[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE], expect[W * H];
	struct vgi_cursor c = { .visible = true, .x = 100, .y = 80, .hot_x = 5, .hot_y = 7,
				.image_changed = true, .pixels = px };
	char name[256];
	struct shot s;
	int ox, oy;

	for (int i = 0; i < VGI_CURSOR_SIZE * VGI_CURSOR_SIZE; i++)	/* opaque: premultiplied = straight */
		px[i] = 0xff000000u | ((uint32_t)i * 2654435761u >> 8 & 0xffffff) | 0x000001u;
	show_full(DRM_FORMAT_XRGB8888);
	sink.ops->cursor(sink.sink, 0, &c);
	pump_ms(200);
	assert_int_equal(shot_take(&s), 0);
	assert_true(shot_find(&s, img, W, H, W, &ox, &oy));	/* not grabbed: the frame alone */
	shot_free(&s);

	focus();
	assert_int_equal(xdo("key", "ctrl+alt+g", NULL, NULL, NULL), 0);
	window_name(name, sizeof(name));
	assert_non_null(strstr(name, "grabbed"));
	with_cursor(expect, px, 100, 80, 5, 7);
	expect_screen(expect, ox, oy, "grabbed, cursor at 100,80");

	/* moved: the old place shows the frame again */
	c.image_changed = false;
	c.pixels = NULL;
	c.x = 200;
	c.y = 120;
	sink.ops->cursor(sink.sink, 0, &c);
	with_cursor(expect, px, 200, 120, 5, 7);
	expect_screen(expect, ox, oy, "grabbed, cursor moved to 200,120");

	/* over the bottom-right edge: clipped to the frame */
	c.x = 300;
	c.y = 190;
	sink.ops->cursor(sink.sink, 0, &c);
	with_cursor(expect, px, 300, 190, 5, 7);
	expect_screen(expect, ox, oy, "grabbed, cursor at 300,190 (clipped)");

	/* hidden by the guest: the frame alone */
	c.visible = false;
	sink.ops->cursor(sink.sink, 0, &c);
	expect_screen(img, ox, oy, "grabbed, cursor hidden");
	/* far outside the scanout (any int32 is possible): nothing painted */
	c.visible = true;
	c.x = INT32_MAX;
	c.y = INT32_MIN;
	sink.ops->cursor(sink.sink, 0, &c);
	expect_screen(img, ox, oy, "grabbed, cursor at INT32_MAX,INT32_MIN");
	c.x = 40;
	c.y = 30;
	sink.ops->cursor(sink.sink, 0, &c);
	with_cursor(expect, px, 40, 30, 5, 7);
	expect_screen(expect, ox, oy, "grabbed, cursor shown at 40,30");

	assert_int_equal(xdo("key", "ctrl+alt+g", NULL, NULL, NULL), 0);
	window_name(name, sizeof(name));
	assert_null(strstr(name, "grabbed"));
	expect_screen(img, ox, oy, "ungrabbed");
#ifdef TEST_HAVE_X11
	{
		/* the host pointer (inside the window) shows the guest image again */
		Display *dpy = XOpenDisplay(NULL);
		XFixesCursorImage *ci;
		int ev, err;
		long bad = 0;

		assert_non_null(dpy);
		if (XFixesQueryExtension(dpy, &ev, &err)) {
			assert_int_equal(xdo("mousemove", "--window", winid, "60", "60"), 0);
			ci = XFixesGetCursorImage(dpy);
			assert_non_null(ci);
			printf("host cursor after ungrab: %ux%u hot %u,%u\n", ci->width, ci->height, ci->xhot, ci->yhot);
			assert_int_equal(ci->width, VGI_CURSOR_SIZE);
			assert_int_equal(ci->height, VGI_CURSOR_SIZE);
			assert_int_equal(ci->xhot, 5);
			assert_int_equal(ci->yhot, 7);
			for (int i = 0; i < VGI_CURSOR_SIZE * VGI_CURSOR_SIZE; i++)
				if ((uint32_t)ci->pixels[i] != px[i])
					bad++;
			XFree(ci);
		}
		XCloseDisplay(dpy);
		assert_int_equal(bad, 0);
	}
#endif
	c.visible = false;
	sink.ops->cursor(sink.sink, 0, &c);
	pump_ms(100);
}
#endif

static bool output_seen(unsigned n0, uint32_t w, uint32_t h)
{
	for (unsigned i = n0; i < n_outputs; i++)
		if (outputs[i].id == 0 && outputs[i].connected && outputs[i].w == w && outputs[i].h == h)
			return true;
	return false;
}

static void test_resize(void **state)
{
	unsigned n0 = n_outputs;
	struct vgi_scanout sc = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };

	assert_int_equal(xdo("windowsize", "--sync", winid, "400", "300"), 0);
	pump_ms(200);
	assert_true(output_seen(n0, 400, 300));

	/* Back to the scanout's size: reported too, and the picture is 1:1 again. */
	n0 = n_outputs;
	assert_int_equal(xdo("windowsize", "--sync", winid, "320", "200"), 0);
	pump_ms(200);
	assert_true(output_seen(n0, W, H));
	sink.ops->scanout(sink.sink, 0, &sc);
	show_full(DRM_FORMAT_XRGB8888);
	pump_ms(200);
	{
		struct shot s;
		int ox, oy;

		assert_int_equal(shot_take(&s), 0);
		assert_true(shot_find(&s, img, W, H, W, &ox, &oy));
		shot_free(&s);
	}
}

static void test_fullscreen(void **state)
{
	unsigned n0 = n_outputs;

	focus();
	assert_int_equal(xdo("key", "ctrl+alt+f", NULL, NULL, NULL), 0);
	pump_ms(300);
	assert_true(output_seen(n0, 1024, 768));
	n0 = n_outputs;
	focus();
	assert_int_equal(xdo("key", "ctrl+alt+f", NULL, NULL, NULL), 0);
	pump_ms(300);
	assert_true(n_outputs > n0);
	assert_false(output_seen(n0, 1024, 768));
}

#define W1 240
#define H1 150

/* A second scanout: its own window (or tab), its pixels, its input under its id; gone when disabled. */
static void test_two_scanouts(void **state)
{
	static uint32_t img1[W1 * H1];
	struct vgi_scanout sc1 = { .enabled = true, .width = W1, .height = H1, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect all = { 0, 0, W1, H1 };
	struct vgi_image im = { W1, H1, W1 * 4, DRM_FORMAT_XRGB8888, img1, false };
	const char *argv[] = { "timeout", "10", "xdotool", "search", "--sync", "--name", "^vgi: scanout 1", NULL };
	char win1[64], *nl;
	unsigned n0 = n_outputs, e0;
	bool seen1 = false;
	struct shot s;
	int ox, oy;
	bool tabs = !strncmp(SINK_NAME, "gtk", 3) && !strstr(SINK_NAME, "windows");

	for (int y = 0; y < H1; y++)
		for (int x = 0; x < W1; x++)
			img1[y * W1 + x] = 0x800000u | (uint32_t)(x * 0x100) | (uint32_t)(y + 20);
	sink.ops->scanout(sink.sink, 1, &sc1);
	sink.ops->update(sink.sink, 1, &all, &im);
	pump_ms(300);
	if (tabs) {
		focus();
		assert_int_equal(xdo("key", "ctrl+alt+2", NULL, NULL, NULL), 0);
		pump_ms(200);
	}
	assert_int_equal(run_pumping(argv, win1, sizeof(win1)), 0);
	if ((nl = strchr(win1, '\n')))
		*nl = 0;
	printf("scanout 1: window %s%s\n", win1, tabs ? " (tab of the same window)" : "");
#ifdef TEST_GTK
	/*
	 * Known issue: under Xvfb without a window manager, a second GTK toplevel
	 * reads back black from the root window (xwd -root) although its own
	 * image is right; read that window itself then.
	 */
	const char *shot_id = tabs ? NULL : win1;
#else
	const char *shot_id = NULL;
#endif
	bool found = false;

	for (int i = 0; i < 5 && !found; i++) {	/* give a window manager-less resize a moment */
		if (i) {
			shot_free(&s);
			pump_ms(300);
		}
		assert_int_equal(shot_id ? shot_take_window(&s, shot_id) : shot_take(&s), 0);
		found = shot_find(&s, img1, W1, H1, W1, &ox, &oy);
	}
	if (!found) {
		shot_save_ppm(&s, "two-scanouts-failed-" SINK_NAME ".ppm");
		fail_msg("scanout 1 not on screen (see two-scanouts-failed.ppm)");
	}
	shot_free(&s);

	e0 = n_events;
	assert_int_equal(xdo("mousemove", "--window", win1, "120", tabs ? "120" : "75"), 0);
	for (unsigned i = e0; i < n_events; i++)
		if (events[i].ev.type == EV_ABS)
			seen1 |= events[i].id == 1;
	if (tabs && !seen1) {
		/*
		 * Known issue: after a tab switch by keyboard with the pointer inside
		 * the window, GDK delivers no motion until the pointer leaves and
		 * comes back. Check that it works after that.
		 */
		printf("KNOWN ISSUE: no pointer motion reached the second tab until the pointer left the window\n");
		assert_int_equal(xdo("mousemove", "1000", "750", NULL, NULL), 0);
		e0 = n_events;
		assert_int_equal(xdo("mousemove", "--window", win1, "120", "120"), 0);
		for (unsigned i = e0; i < n_events; i++)
			if (events[i].ev.type == EV_ABS)
				seen1 |= events[i].id == 1;
	}
	assert_true(seen1);
	/* the first scanout was not asked to shrink for the tab bar */
	for (unsigned i = n0; i < n_outputs; i++)
		assert_int_not_equal(outputs[i].id, 0);

	if (tabs) {
		assert_int_equal(xdo("key", "ctrl+alt+1", NULL, NULL, NULL), 0);
		pump_ms(200);
	}
	sc1.enabled = false;
	sink.ops->scanout(sink.sink, 1, &sc1);
	pump_ms(300);
	assert_int_equal(shot_take(&s), 0);
	assert_true(shot_find(&s, img, W, H, W, &ox, &oy));
	assert_false(shot_find(&s, img1, W1, H1, W1, &ox, &oy));
	shot_free(&s);
}

static void test_close(void **state)
{
#ifdef TEST_HAVE_X11
	Display *dpy = XOpenDisplay(NULL);
	Window w = (Window)strtoul(winid, NULL, 0);
	XEvent ev = { 0 };
	unsigned q0 = quits;

	assert_non_null(dpy);
	ev.xclient.type = ClientMessage;
	ev.xclient.window = w;
	ev.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", False);
	ev.xclient.format = 32;
	ev.xclient.data.l[0] = (long)XInternAtom(dpy, "WM_DELETE_WINDOW", False);
	ev.xclient.data.l[1] = CurrentTime;
	XSendEvent(dpy, w, False, NoEventMask, &ev);
	XFlush(dpy);
	for (int i = 0; i < 50 && quits == q0; i++)
		pump_ms(20);
	XCloseDisplay(dpy);
	assert_int_equal(quits, q0 + 1);
#else
	skip();
#endif
}

#ifdef TEST_SDL
/* The same pictures through the GL path (GLES2 on EGL, llvmpipe under Xvfb). */
static void test_gl_pixels(void **state)
{
	struct vgi_scanout sc = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };
	const char *path;

	teardown(NULL);
	assert_int_equal(vgi_display_sink_new("sdl,gl=on", &host, &sink), 0);
	/*
	 * Keep the GL driver loaded to the end of the process: Mesa's one-time
	 * allocations then show up under its own name in leak reports (suppressed)
	 * instead of as an unknown, unloaded module.
	 */
	SDL_GL_LoadLibrary(NULL);
	sink.ops->scanout(sink.sink, 0, &sc);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			img[y * W + x] = pattern(x, y);
	show_full(DRM_FORMAT_XRGB8888);
	pump_ms(300);
	find_window();
	path = vgi_sdl_sink_path(sink.sink, 0);
	printf("sdl gl=on path: %s\n", path);
	if (strcmp(path, "gl"))
		printf("NOTE: no GL under this X server: gl=on fell back to the window surface\n");
	check_pixels();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pixels),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_mouse),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_grab),
#ifdef TEST_GTK
		cmocka_unit_test(test_grab_cursor),
#endif
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_fullscreen),
		cmocka_unit_test(test_two_scanouts),
		cmocka_unit_test(test_close),
#ifdef TEST_SDL
		cmocka_unit_test(test_gl_pixels),
#endif
	};
	int ret;

	if (!have_program("xwd") || !have_program("xdotool")) {
		fprintf(stderr, "SKIP: xwd (x11-apps) and xdotool are needed\n");
		return 77;
	}
	if (getenv("VGI_TEST_FILTER"))
		cmocka_set_test_filter(getenv("VGI_TEST_FILTER"));	/* e.g. "test_pixels" */
	ret = xvfb_start(&xvfb, 1024, 768);
	if (ret)
		return ret;
	ret = cmocka_run_group_tests_name(SINK_NAME " sink under Xvfb", tests, setup, teardown);
	xvfb_stop(&xvfb);
	return ret;
}
