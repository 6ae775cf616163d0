// SPDX-License-Identifier: MIT
/* vgi-view: fit/zoom/pan geometry and the key interpreter (pure code). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <linux/input-event-codes.h>

#include "view-geom.h"
#include "view-keys.h"

static struct view_geom a4(uint32_t w, uint32_t h, enum view_fit fit)
{
	struct view_geom g = { .doc_w = 595, .doc_h = 842, .out_w = w, .out_h = h, .fit = fit };

	view_geom_clamp(&g);
	return g;
}

static void test_fit_page(void **state)
{
	struct view_geom g = a4(1024, 768, VIEW_FIT_PAGE);
	uint32_t w, h;
	int64_t x, y;

	assert_true(fabs(view_geom_scale(&g) - 768.0 / 842) < 1e-9);
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(h, 768);
	assert_int_equal(w, 543);	/* 595 * 768 / 842 = 542.7 */
	view_geom_place(&g, &x, &y);
	assert_int_equal(x, (1024 - 543) / 2);
	assert_int_equal(y, 0);
	/* a landscape page on a portrait output: width bound */
	g = (struct view_geom){ .doc_w = 842, .doc_h = 595, .out_w = 600, .out_h = 1000, .fit = VIEW_FIT_PAGE };
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 600);
	assert_int_equal(h, 424);	/* 595 * 600 / 842 = 423.99 */
	view_geom_place(&g, &x, &y);
	assert_int_equal(x, 0);
	assert_int_equal(y, (1000 - 424) / 2);
}

static void test_fit_width_and_pan(void **state)
{
	struct view_geom g = a4(1024, 768, VIEW_FIT_WIDTH);
	uint32_t w, h;
	int64_t x, y;

	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 1024);
	assert_int_equal(h, 1449);	/* 842 * 1024 / 595 = 1449.1 */
	view_geom_place(&g, &x, &y);
	assert_int_equal(x, 0);
	assert_int_equal(y, 0);
	/* pan down: moves; sideways: the page is as wide as the output, nothing moves */
	assert_true(view_geom_pan(&g, 0, 96));
	view_geom_place(&g, &x, &y);
	assert_int_equal(y, -96);
	assert_false(view_geom_pan(&g, 50, 0));
	/* past the bottom: clamped to the last output height */
	assert_true(view_geom_pan(&g, 0, 100000));
	assert_int_equal(g.pan_y, 1449 - 768);
	assert_false(view_geom_pan(&g, 0, 1));
	assert_true(view_geom_pan(&g, 0, -100000));
	assert_int_equal(g.pan_y, 0);
	/* a new page goes back to the top, keeps fit width */
	view_geom_pan(&g, 0, 300);
	view_geom_new_page(&g, 595, 842);
	assert_int_equal(g.pan_y, 0);
	assert_int_equal(g.fit, VIEW_FIT_WIDTH);
	/* back to fit page */
	view_geom_set_fit(&g, VIEW_FIT_PAGE);
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(h, 768);
}

static void test_zoom(void **state)
{
	struct view_geom g = a4(1024, 768, VIEW_FIT_PAGE);
	double s0 = view_geom_scale(&g);
	uint32_t w, h;
	int64_t x, y;

	assert_true(view_geom_zoom(&g, VIEW_ZOOM_STEP));
	assert_int_equal(g.fit, VIEW_FIT_NONE);
	assert_true(fabs(view_geom_scale(&g) - s0 * 1.25) < 1e-9);
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(h, 960);
	/* the centre stays: page is 678 wide (centred), 960 high: panned to the middle */
	view_geom_place(&g, &x, &y);
	assert_int_equal(w, 678);
	assert_int_equal(x, (1024 - 678) / 2);
	assert_int_equal(g.pan_y, (960 - 768) / 2);
	assert_int_equal(y, -g.pan_y);
	/* zoom out again: back to the fitting size, centred, no pan */
	assert_true(view_geom_zoom(&g, 1 / VIEW_ZOOM_STEP));
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(h, 768);
	assert_int_equal(g.pan_y, 0);
	/* zooming in keeps the point under the centre: pan to the bottom right, zoom, still at the same page point */
	for (int i = 0; i < 4; i++)
		view_geom_zoom(&g, VIEW_ZOOM_STEP);
	view_geom_pan(&g, 200, 300);
	{
		uint32_t pw, ph;
		double fx, fy;

		view_geom_page_px(&g, &pw, &ph);
		view_geom_place(&g, &x, &y);
		fx = (512.0 - x) / pw;
		fy = (384.0 - y) / ph;
		view_geom_zoom(&g, VIEW_ZOOM_STEP);
		view_geom_page_px(&g, &pw, &ph);
		view_geom_place(&g, &x, &y);
		assert_true(fabs((512.0 - x) / pw - fx) < 2.0 / pw);
		assert_true(fabs((384.0 - y) / ph - fy) < 2.0 / ph);
	}
}

static void test_limits(void **state)
{
	struct view_geom g = a4(1024, 768, VIEW_FIT_PAGE);
	uint32_t w, h;
	int n = 0;

	/* zooming in stops at the limits: never a page over VIEW_MAX_SIDE or VIEW_MAX_PIXELS */
	while (view_geom_zoom(&g, VIEW_ZOOM_STEP) && n < 1000)
		n++;
	assert_true(n < 1000);
	view_geom_page_px(&g, &w, &h);
	assert_true(w <= VIEW_MAX_SIDE && h <= VIEW_MAX_SIDE);
	assert_true((uint64_t)w * h <= VIEW_MAX_PIXELS + VIEW_MAX_SIDE * 2);
	n = 0;
	while (view_geom_zoom(&g, 1 / VIEW_ZOOM_STEP) && n < 1000)
		n++;
	assert_true(n < 1000);
	assert_true(view_geom_scale(&g) >= VIEW_SCALE_MIN - 1e-12);
	view_geom_page_px(&g, &w, &h);
	assert_true(w >= 1 && h >= 1);
	/* a degenerate page or output: scale 0, nothing placed, no division by zero */
	g = (struct view_geom){ .doc_w = 0, .doc_h = 842, .out_w = 1024, .out_h = 768 };
	assert_true(view_geom_scale(&g) == 0);
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 0);
	assert_false(view_geom_zoom(&g, 2));
	g = (struct view_geom){ .doc_w = 100, .doc_h = 100, .out_w = 0, .out_h = 768 };
	assert_true(view_geom_scale(&g) == 0);
	g = (struct view_geom){ .doc_w = NAN, .doc_h = 100, .out_w = 10, .out_h = 768 };
	assert_true(view_geom_scale(&g) == 0);
	/* a huge image: fit page shrinks it; 1e6 x 1 stays within the side limit */
	g = (struct view_geom){ .doc_w = 1e6, .doc_h = 1, .out_w = 1024, .out_h = 768, .fit = VIEW_FIT_WIDTH };
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 1024);
	assert_int_equal(h, 1);
	/* below the zoom minimum after a fit: zooming out refuses, zooming in works */
	assert_false(view_geom_zoom(&g, 1 / VIEW_ZOOM_STEP));
	assert_true(view_geom_zoom(&g, VIEW_ZOOM_STEP));
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 1280);
}

static void test_no_upscale(void **state)
{
	struct view_geom g = { .doc_w = 160, .doc_h = 120, .out_w = 320, .out_h = 240, .fit = VIEW_FIT_PAGE,
			       .no_upscale = true };
	uint32_t w, h;
	int64_t x, y;

	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 160);
	assert_int_equal(h, 120);
	view_geom_place(&g, &x, &y);
	assert_int_equal(x, 80);
	assert_int_equal(y, 60);
	/* zoom in is still allowed */
	assert_true(view_geom_zoom(&g, 2));
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 320);
	/* a large image is shrunk */
	g.doc_w = 640;
	g.doc_h = 400;
	g.fit = VIEW_FIT_PAGE;
	view_geom_page_px(&g, &w, &h);
	assert_int_equal(w, 320);
	assert_int_equal(h, 200);
}

static int feed_str(struct view_keys *k, const char *s, struct view_cmd *last)
{
	int n = 0;

	for (; *s; s++) {
		struct view_cmd c = view_keys_feed(k, (unsigned char)*s);

		if (c.type != VIEW_CMD_NONE) {
			*last = c;
			n++;
		}
	}
	return n;
}

static void test_keys(void **state)
{
	struct view_keys k;
	struct view_cmd c;

	view_keys_init(&k);
	assert_int_equal(view_keys_feed(&k, 'j').type, VIEW_CMD_NEXT);
	assert_int_equal(view_keys_feed(&k, ' ').type, VIEW_CMD_NEXT);
	assert_int_equal(view_keys_feed(&k, 'n').type, VIEW_CMD_NEXT);
	assert_int_equal(view_keys_feed(&k, VK_PGDN).type, VIEW_CMD_NEXT);
	assert_int_equal(view_keys_feed(&k, 'k').type, VIEW_CMD_PREV);
	assert_int_equal(view_keys_feed(&k, 'p').type, VIEW_CMD_PREV);
	assert_int_equal(view_keys_feed(&k, VK_PGUP).type, VIEW_CMD_PREV);
	assert_int_equal(view_keys_feed(&k, '+').type, VIEW_CMD_ZOOM_IN);
	assert_int_equal(view_keys_feed(&k, '-').type, VIEW_CMD_ZOOM_OUT);
	assert_int_equal(view_keys_feed(&k, 'a').type, VIEW_CMD_FIT_PAGE);
	assert_int_equal(view_keys_feed(&k, 'w').type, VIEW_CMD_FIT_WIDTH);
	assert_int_equal(view_keys_feed(&k, 'i').type, VIEW_CMD_INFO);
	assert_int_equal(view_keys_feed(&k, 'q').type, VIEW_CMD_QUIT);
	assert_int_equal(view_keys_feed(&k, VK_ESC).type, VIEW_CMD_QUIT);
	c = view_keys_feed(&k, VK_LEFT);
	assert_int_equal(c.type, VIEW_CMD_PAN);
	assert_int_equal(c.dx, -1);
	assert_int_equal(c.dy, 0);
	c = view_keys_feed(&k, VK_DOWN);
	assert_int_equal(c.dy, 1);
	/* counts */
	assert_int_equal(feed_str(&k, "12g", &c), 1);
	assert_int_equal(c.type, VIEW_CMD_GOTO);
	assert_int_equal(c.arg, 12);
	assert_int_equal(feed_str(&k, "g", &c), 1);
	assert_int_equal(c.arg, 1);
	assert_int_equal(feed_str(&k, "G", &c), 1);
	assert_int_equal(c.arg, 0);
	assert_int_equal(feed_str(&k, "3j", &c), 1);
	assert_int_equal(c.type, VIEW_CMD_NEXT);
	assert_int_equal(c.arg, 3);
	assert_int_equal(feed_str(&k, "j", &c), 1);
	assert_int_equal(c.arg, 1);	/* the count was used up */
	/* an unbound key drops the count */
	assert_int_equal(feed_str(&k, "5xg", &c), 1);
	assert_int_equal(c.arg, 1);
	/* a held digit cannot overflow */
	for (int i = 0; i < 100; i++)
		view_keys_feed(&k, '9');
	c = view_keys_feed(&k, 'g');
	assert_int_equal(c.arg, 1000000);
}

static void test_keys_evdev(void **state)
{
	struct view_keys k;

	view_keys_init(&k);
	assert_int_equal(view_keys_from_evdev(&k, KEY_J, 1), 'j');
	assert_int_equal(view_keys_from_evdev(&k, KEY_J, 0), VK_NONE);
	assert_int_equal(view_keys_from_evdev(&k, KEY_J, 2), 'j');	/* autorepeat turns pages */
	assert_int_equal(view_keys_from_evdev(&k, KEY_PAGEDOWN, 1), VK_PGDN);
	assert_int_equal(view_keys_from_evdev(&k, KEY_ESC, 1), VK_ESC);
	assert_int_equal(view_keys_from_evdev(&k, KEY_3, 1), '3');
	assert_int_equal(view_keys_from_evdev(&k, KEY_KP7, 1), '7');
	assert_int_equal(view_keys_from_evdev(&k, KEY_EQUAL, 1), '=');
	assert_int_equal(view_keys_from_evdev(&k, KEY_LEFTSHIFT, 1), VK_NONE);
	assert_int_equal(view_keys_from_evdev(&k, KEY_EQUAL, 1), '+');
	assert_int_equal(view_keys_from_evdev(&k, KEY_G, 1), 'G');
	assert_int_equal(view_keys_from_evdev(&k, KEY_LEFTSHIFT, 0), VK_NONE);
	assert_int_equal(view_keys_from_evdev(&k, KEY_G, 1), 'g');
	assert_int_equal(view_keys_from_evdev(&k, KEY_KPPLUS, 1), '+');
	assert_int_equal(view_keys_from_evdev(&k, KEY_LEFT, 1), VK_LEFT);
	assert_int_equal(view_keys_from_evdev(&k, 0x2ff, 1), VK_NONE);
}

static void test_keys_term(void **state)
{
	int sym;

	assert_int_equal(view_keys_from_term((const uint8_t *)"j", 1, false, &sym), 1);
	assert_int_equal(sym, 'j');
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[6~", 4, false, &sym), 4);
	assert_int_equal(sym, VK_PGDN);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[5~j", 5, false, &sym), 4);
	assert_int_equal(sym, VK_PGUP);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[A", 3, false, &sym), 3);
	assert_int_equal(sym, VK_UP);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033OD", 3, false, &sym), 3);
	assert_int_equal(sym, VK_LEFT);
	/* incomplete: wait for more, unless nothing more comes */
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[", 2, false, &sym), 0);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033", 1, false, &sym), 0);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033", 1, true, &sym), 1);
	assert_int_equal(sym, VK_ESC);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033q", 2, false, &sym), 1);
	assert_int_equal(sym, VK_ESC);
	/* unknown or garbage sequences are consumed and ignored */
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[99~", 5, false, &sym), 5);
	assert_int_equal(sym, VK_NONE);
	assert_int_equal(view_keys_from_term((const uint8_t *)"\033[1\001", 4, false, &sym), 3);
	assert_int_equal(sym, VK_NONE);
}

static void test_keys_script(void **state)
{
	const char *s = "j PgDn  3g space Left q";
	int syms[8], n;
	size_t pos = 0;

	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(n, 1);
	assert_int_equal(syms[0], 'j');
	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(syms[0], VK_PGDN);
	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(n, 2);
	assert_int_equal(syms[0], '3');
	assert_int_equal(syms[1], 'g');
	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(syms[0], ' ');
	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(syms[0], VK_LEFT);
	n = view_keys_parse_script(s, &pos, syms, 8);
	assert_int_equal(syms[0], 'q');
	assert_int_equal(view_keys_parse_script(s, &pos, syms, 8), 0);
	/* too long a run for the buffer */
	pos = 0;
	assert_int_equal(view_keys_parse_script("123456789g", &pos, syms, 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit_page),
		cmocka_unit_test(test_fit_width_and_pan),
		cmocka_unit_test(test_zoom),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_upscale),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_keys_evdev),
		cmocka_unit_test(test_keys_term),
		cmocka_unit_test(test_keys_script),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
