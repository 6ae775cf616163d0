// SPDX-License-Identifier: MIT
/*
 * The SPICE sink against a real SPICE client: spicy-screenshot (spice-gtk)
 * connects to the sink over TCP or a unix socket and saves what it receives
 * as a PPM, which must equal the pixels fed through the sink ops. The GLib
 * main loop runs in this process while the client runs as a child.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <drm_fourcc.h>
#include <glib.h>

#include <vgi/display.h>
#include <vgi/sinks.h>

#include "spice-test-util.h"

static char tmpdir[256];

/* ---- helpers ---------------------------------------------------------- */

static void fill_pattern(uint32_t *px, uint32_t w, uint32_t h, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			px[y * w + x] = st_pattern(x, y, seed);
}

/* Expected RGB of an XRGB8888 buffer. */
static uint8_t *xrgb_to_rgb(const uint32_t *px, uint32_t w, uint32_t h)
{
	uint8_t *rgb = malloc((size_t)w * h * 3);

	for (size_t i = 0; i < (size_t)w * h; i++) {
		rgb[i * 3] = (uint8_t)(px[i] >> 16);
		rgb[i * 3 + 1] = (uint8_t)(px[i] >> 8);
		rgb[i * 3 + 2] = (uint8_t)px[i];
	}
	return rgb;
}

static void assert_ppm_equals(const char *path, const uint32_t *want, uint32_t w, uint32_t h)
{
	uint32_t pw, ph;
	uint8_t *got = st_read_ppm(path, &pw, &ph);
	uint8_t *exp;
	size_t bad = 0, first = 0;

	if (!got)
		fail_msg("no screenshot at %s", path);
	assert_int_equal(pw, w);
	assert_int_equal(ph, h);
	exp = xrgb_to_rgb(want, w, h);
	for (size_t i = 0; i < (size_t)w * h; i++) {
		if (memcmp(got + i * 3, exp + i * 3, 3)) {
			if (!bad)
				first = i;
			bad++;
		}
	}
	if (bad)
		fprintf(stderr, "first difference at (%zu,%zu): got %02x%02x%02x want %02x%02x%02x\n", first % w,
			first / w, got[first * 3], got[first * 3 + 1], got[first * 3 + 2], exp[first * 3],
			exp[first * 3 + 1], exp[first * 3 + 2]);
	assert_int_equal(bad, 0);
	free(got);
	free(exp);
}

static struct vgi_display_sink new_sink(const char *fmt, ...)
{
	struct vgi_display_sink sink = { 0 };
	char spec[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	assert_int_equal(vgi_display_sink_new(spec, NULL, &sink), 0);
	return sink;
}

/* Run spicy-screenshot against the server until it exits; its stderr goes to err_path. */
static int screenshot(const char *target_args, const char *out, const char *err_path)
{
	char cmd[2048];

	unlink(out);
	snprintf(cmd, sizeof(cmd), "exec spicy-screenshot %s -o '%s' 2>'%s'", target_args, out, err_path);
	return st_run_child(cmd, 30);
}

/* ---- tests ------------------------------------------------------------ */

static void test_option_errors(void **state)
{
	struct vgi_display_sink sink;
	char pw[300];

	snprintf(pw, sizeof(pw), "%s/nonexistent", tmpdir);
	assert_int_equal(vgi_display_sink_new("spice,port=5999", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=5999,disable-ticketing,password-file=/x", NULL, &sink),
			 -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=0,disable-ticketing", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=70000,disable-ticketing", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=5999,disable-ticketing,gl=on", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,unix=/tmp/x,port=5999,disable-ticketing", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=5999,disable-ticketing,bogus=1", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=5999,disable-ticketing,scanout=16", NULL, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("spice,port=5999,disable-ticketing,scanout=8,heads=9", NULL, &sink),
			 -EINVAL);
	char spec[400];
	snprintf(spec, sizeof(spec), "spice,port=5999,password-file=%s", pw);
	assert_int_equal(vgi_display_sink_new(spec, NULL, &sink), -ENOENT);

	/* a port in use: a clear error, and the first server keeps working */
	struct vgi_display_sink first;
	int port = st_free_port();
	snprintf(spec, sizeof(spec), "spice,port=%d,disable-ticketing", port);
	assert_int_equal(vgi_display_sink_new(spec, NULL, &first), 0);
	assert_int_equal(vgi_display_sink_new(spec, NULL, &sink), -EADDRINUSE);
	first.ops->destroy(first.sink);
}

/* Full frame, then two damage updates from a different frame: the client sees the merge. */
static void test_tcp_updates(void **state)
{
	const uint32_t w = 320, h = 200;
	uint32_t *a = malloc(w * h * 4), *b = malloc(w * h * 4), *want = malloc(w * h * 4);
	int port = st_free_port();
	struct vgi_display_sink s = new_sink("spice,port=%d,disable-ticketing", port);
	struct vgi_scanout so = { .enabled = true, .width = w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect full = { 0, 0, w, h }, d1 = { 10, 20, 64, 64 }, d2 = { 250, 150, 100, 100 };
	char args[64], out[300], err[300];

	fill_pattern(a, w, h, 1);
	fill_pattern(b, w, h, 2);
	s.ops->scanout(s.sink, 0, &so);
	img.data = a;
	s.ops->update(s.sink, 0, &full, &img);
	img.data = b;
	s.ops->update(s.sink, 0, &d1, &img);
	s.ops->update(s.sink, 0, &d2, &img);	/* clipped to 70x50 */
	memcpy(want, a, w * h * 4);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			if ((x >= 10 && x < 74 && y >= 20 && y < 84) || (x >= 250 && y >= 150))
				want[y * w + x] = b[y * w + x];

	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d", port);
	snprintf(out, sizeof(out), "%s/tcp.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/tcp.err", tmpdir);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, want, w, h);

	/* a second client after more damage sees the new state */
	struct vgi_rect d3 = { 0, 0, w, 10 };
	img.data = a;
	s.ops->update(s.sink, 0, &d3, &img);
	memcpy(want, a, w * 10 * 4);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, want, w, h);

	s.ops->destroy(s.sink);
	free(a);
	free(b);
	free(want);
}

/* A non-XRGB scanout format is converted; a resize recreates the primary surface. */
static void test_format_and_resize(void **state)
{
	const uint32_t w1 = 200, h1 = 100, w2 = 333, h2 = 211;
	uint32_t *px = malloc(w2 * h2 * 4), *abgr = malloc(w2 * h2 * 4);
	int port = st_free_port();
	struct vgi_display_sink s = new_sink("spice,addr=127.0.0.1,port=%d,disable-ticketing", port);
	struct vgi_scanout so = { .enabled = true, .width = w1, .height = h1, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = w1, .height = h1, .stride = w1 * 4, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect full = { 0, 0, w1, h1 };
	char args[64], out[300], err[300];

	fill_pattern(px, w1, h1, 3);
	s.ops->scanout(s.sink, 0, &so);
	img.data = px;
	s.ops->update(s.sink, 0, &full, &img);

	/* resize to w2 x h2 in ABGR8888 (R in the low byte) */
	fill_pattern(px, w2, h2, 4);
	for (size_t i = 0; i < (size_t)w2 * h2; i++) {
		uint32_t v = px[i];

		abgr[i] = 0xff000000u | (v & 0xff) << 16 | (v & 0xff00) | ((v >> 16) & 0xff);
	}
	so.width = w2;
	so.height = h2;
	so.format = DRM_FORMAT_ABGR8888;
	s.ops->scanout(s.sink, 0, &so);
	img = (struct vgi_image){ .width = w2, .height = h2, .stride = w2 * 4, .format = DRM_FORMAT_ABGR8888,
				  .data = abgr };
	full = (struct vgi_rect){ 0, 0, w2, h2 };
	s.ops->update(s.sink, 0, &full, &img);

	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d", port);
	snprintf(out, sizeof(out), "%s/resize.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/resize.err", tmpdir);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, px, w2, h2);

	s.ops->destroy(s.sink);
	free(px);
	free(abgr);
}

static void test_password(void **state)
{
	const uint32_t w = 128, h = 96;
	uint32_t *px = malloc(w * h * 4);
	int port = st_free_port();
	char pwfile[300], args[128], out[300], err[300], *msg;
	FILE *f;

	snprintf(pwfile, sizeof(pwfile), "%s/pw", tmpdir);
	f = fopen(pwfile, "w");
	assert_non_null(f);
	fputs("s3cret-Pass\n", f);
	fclose(f);

	struct vgi_display_sink s = new_sink("spice,port=%d,password-file=%s", port, pwfile);
	struct vgi_scanout so = { .enabled = true, .width = w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888,
				 .data = px };
	struct vgi_rect full = { 0, 0, w, h };

	fill_pattern(px, w, h, 5);
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &full, &img);
	snprintf(out, sizeof(out), "%s/pw.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/pw.err", tmpdir);

	/* wrong password: refused, no picture */
	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d -w wrong-pass", port);
	screenshot(args, out, err);	/* spicy-screenshot exits 0 even when refused */
	assert_int_not_equal(access(out, F_OK), 0);
	msg = st_read_file(err);
	fprintf(stderr, "wrong password, spicy-screenshot said: %s", msg ? msg : "(nothing)\n");
	assert_non_null(msg);
	assert_non_null(strstr(msg, "main channel event"));
	free(msg);

	/* no password at all: refused too */
	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d", port);
	screenshot(args, out, err);
	assert_int_not_equal(access(out, F_OK), 0);

	/* the right one: the picture */
	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d -w s3cret-Pass", port);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, px, w, h);

	s.ops->destroy(s.sink);
	free(px);
}

static void test_unix_socket(void **state)
{
	const uint32_t w = 64, h = 48;
	uint32_t *px = malloc(w * h * 4);
	char sock[300], args[400], out[300], err[300];

	snprintf(sock, sizeof(sock), "%s/spice.sock", tmpdir);
	/* this sink shows scanout 1: what comes for scanout 0 is not its business */
	struct vgi_display_sink s = new_sink("spice,unix=%s,disable-ticketing,scanout=1", sock);
	struct vgi_scanout so = { .enabled = true, .width = w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_scanout so0 = { .enabled = true, .width = 2 * w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888,
				 .data = px };
	struct vgi_rect full = { 0, 0, w, h };
	uint32_t *other = calloc(2 * w * h, 4);
	struct vgi_image img0 = { .width = 2 * w, .height = h, .stride = 2 * w * 4, .format = DRM_FORMAT_XRGB8888,
				  .data = other };

	fill_pattern(px, w, h, 6);
	s.ops->scanout(s.sink, 0, &so0);
	s.ops->scanout(s.sink, 1, &so);
	s.ops->update(s.sink, 1, &full, &img);
	s.ops->update(s.sink, 0, &full, &img0);
	free(other);
	snprintf(args, sizeof(args), "--uri=spice+unix://%s", sock);
	snprintf(out, sizeof(out), "%s/unix.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/unix.err", tmpdir);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, px, w, h);
	s.ops->destroy(s.sink);
	free(px);
}

/* Calls a device could make in a bad moment or with bad values: no crash, no leak, still serving. */
static void test_hostile_calls(void **state)
{
	const uint32_t w = 100, h = 80;
	uint32_t *px = calloc(w * h, 4), cursor[64 * 64] = { 0 };
	int port = st_free_port();
	struct vgi_display_sink s = new_sink("spice,port=%d,disable-ticketing", port);
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888, .data = px };
	struct vgi_rect huge = { 0xfffffff0u, 0xfffffff0u, 0x20, 0x20 }, all = { 0, 0, 0xffffffffu, 0xffffffffu };
	struct vgi_rect zero = { 5, 5, 0, 0 }, r = { 0, 0, w, h };
	struct vgi_scanout so = { .enabled = true, .width = w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_cursor c = { .visible = true, .x = INT32_MAX, .y = INT32_MIN, .hot_x = 1000, .hot_y = 1000,
				.image_changed = true, .pixels = NULL };
	char args[64], out[300], err[300];

	s.ops->update(s.sink, 0, &r, &img);	/* before any scanout */
	s.ops->update(s.sink, 3, &r, &img);	/* another scanout */
	s.ops->cursor(s.sink, 0, &c);		/* image_changed without pixels */
	so.width = 0;
	s.ops->scanout(s.sink, 0, &so);
	so.width = 1u << 20;
	s.ops->scanout(s.sink, 0, &so);
	so.width = w;
	so.format = 0x12345678;
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &r, &img);
	so.format = DRM_FORMAT_XRGB8888;
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &huge, &img);
	s.ops->update(s.sink, 0, &all, &img);
	s.ops->update(s.sink, 0, &zero, &img);
	img.format = 0x12345678;
	s.ops->update(s.sink, 0, &r, &img);
	img.format = DRM_FORMAT_XRGB8888;
	img.stride = 4;		/* shorter than a row */
	s.ops->update(s.sink, 0, &r, &img);
	img.stride = w * 4;
	img.width = w * 2;	/* bigger than the scanout: clipped */
	img.stride = w * 4 * 2;
	uint32_t *big = calloc((size_t)w * 2 * h, 4);
	img.data = big;
	s.ops->update(s.sink, 0, &all, &img);
	c.pixels = cursor;
	s.ops->cursor(s.sink, 0, &c);
	for (int i = 0; i < 200; i++) {	/* many moves with no client: coalesced, bounded */
		struct vgi_cursor m = { .visible = true, .x = i, .y = i };

		s.ops->cursor(s.sink, 0, &m);
	}
	for (int i = 0; i < 500; i++)	/* many updates: merged when the worker lags */
		s.ops->update(s.sink, 0, &all, &img);
	so.enabled = false;
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &r, &img);
	so.enabled = true;
	s.ops->scanout(s.sink, 0, &so);
	/* still serves a picture: the last full update of zeros */
	s.ops->update(s.sink, 0, &all, &img);
	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d", port);
	snprintf(out, sizeof(out), "%s/hostile.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/hostile.err", tmpdir);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, px, w, h);
	s.ops->destroy(s.sink);
	free(px);
	free(big);
}

/* heads=2: display channel 0 shows scanout 2, channel 1 scanout 3 (read with the spice-client-glib client) */
static void test_two_heads(void **state)
{
#ifdef SPICE_INPUT_CLIENT
	const uint32_t w0 = 160, h0 = 120, w1 = 200, h1 = 90;
	uint32_t *a = malloc(w0 * h0 * 4), *b = malloc(w1 * h1 * 4);
	int port = st_free_port();
	struct vgi_display_sink s = new_sink("spice,port=%d,disable-ticketing,scanout=2,heads=2", port);
	struct vgi_scanout s0 = { .enabled = true, .width = w0, .height = h0, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_scanout s1 = { .enabled = true, .width = w1, .height = h1, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image i0 = { .width = w0, .height = h0, .stride = w0 * 4, .format = DRM_FORMAT_XRGB8888, .data = a };
	struct vgi_image i1 = { .width = w1, .height = h1, .stride = w1 * 4, .format = DRM_FORMAT_XRGB8888, .data = b };
	struct vgi_rect f0 = { 0, 0, w0, h0 }, f1 = { 0, 0, w1, h1 };
	char args[64], out[300], err[300], cmd[1024];

	fill_pattern(a, w0, h0, 7);
	fill_pattern(b, w1, h1, 8);
	s.ops->scanout(s.sink, 2, &s0);
	s.ops->scanout(s.sink, 3, &s1);
	s.ops->update(s.sink, 2, &f0, &i0);
	s.ops->update(s.sink, 3, &f1, &i1);
	s.ops->update(s.sink, 1, &f1, &i1);	/* not shown here */

	snprintf(args, sizeof(args), "-h 127.0.0.1 -p %d", port);
	snprintf(out, sizeof(out), "%s/head0.ppm", tmpdir);
	snprintf(err, sizeof(err), "%s/head0.err", tmpdir);
	assert_int_equal(screenshot(args, out, err), 0);
	assert_ppm_equals(out, a, w0, h0);
	snprintf(out, sizeof(out), "%s/head1.ppm", tmpdir);
	/* the client is not vgi code: under ASan, spice-client-glib's own leaks at exit are not ours to report */
	snprintf(cmd, sizeof(cmd), "ASAN_OPTIONS=detect_leaks=0 exec '%s' --shot 1 127.0.0.1 %d '%s' 2>'%s/head1.err'",
		 SPICE_INPUT_CLIENT, port, out, tmpdir);
	assert_int_equal(st_run_child(cmd, 30), 0);
	assert_ppm_equals(out, b, w1, h1);
	s.ops->destroy(s.sink);
	free(a);
	free(b);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_tcp_updates),
		cmocka_unit_test(test_format_and_resize),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_hostile_calls),
		cmocka_unit_test(test_two_heads),
	};
	char *path = g_find_program_in_path("spicy-screenshot");
	int ret;

	if (!path) {
		printf("SKIP: spicy-screenshot (package spice-client-gtk) is not installed: no real SPICE client\n");
		return 77;
	}
	g_free(path);
	snprintf(tmpdir, sizeof(tmpdir), "%s/vgi-spice-XXXXXX", g_get_tmp_dir());
	if (!mkdtemp(tmpdir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	if (ret == 0)
		st_rm_rf(tmpdir);
	else
		fprintf(stderr, "files kept in %s\n", tmpdir);
	return ret;
}
