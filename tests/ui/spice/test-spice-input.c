// SPDX-License-Identifier: MIT
/*
 * Input and cursor through a real SPICE client: spice-input-client (built on
 * spice-client-glib, the library of spicy and virt-viewer) connects to the
 * sink, reports the cursor shape it received and sends keys, pointer motion
 * and buttons; the evdev events must arrive at the display host.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <drm_fourcc.h>
#include <glib.h>
#include <linux/input-event-codes.h>

#include <vgi/display.h>
#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#include "spice-test-util.h"

#define MAX_EVENTS 256

static struct vgi_input_event events[MAX_EVENTS];
static unsigned nevents;
static uint32_t output_w, output_h;

/*
 * Everything the test allocates lives here and is released by the teardown,
 * so an assertion that fails half-way leaks nothing (LeakSanitizer would
 * bury the real failure under its reports).
 */
struct input_test {
	char dir[64];			/* mkdtemp */
	bool have_dir;
	struct vgi_display_sink s;	/* .ops != NULL once created */
	uint32_t *px;
	char *text;
};

static struct input_test *cur;

/*
 * SPICE channel connects and disconnects, counted from the sink's debug log
 * (spice-server reports them from its worker threads too). The server must
 * have seen every channel go before it is destroyed: spice-server 0.15
 * crashes in its display worker thread when spice_server_destroy() runs
 * while a channel's disconnect is still being processed.
 */
static gint channels_up, channels_down;

static void log_handler(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (strstr(msg, "spice: channel ")) {
		if (strstr(msg, " disconnected"))
			g_atomic_int_inc(&channels_down);
		else if (strstr(msg, " connected"))
			g_atomic_int_inc(&channels_up);
	}
	if (level != VGI_LOG_DEBUG)
		fprintf(stderr, "vgi: %s\n", msg);
}

static void wait_channels_closed(void)
{
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

	while (g_atomic_int_get(&channels_down) < g_atomic_int_get(&channels_up)) {
		if (g_get_monotonic_time() > end) {
			fprintf(stderr, "timeout (60 s) waiting for the server to close its channels: %d of %d closed\n",
				g_atomic_int_get(&channels_down), g_atomic_int_get(&channels_up));
			return;
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	fprintf(stderr, "the server closed %d of %d channels\n", g_atomic_int_get(&channels_down),
		g_atomic_int_get(&channels_up));
}

static void touch(const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cur->dir, name);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

static void host_input(void *opaque, uint32_t id, const struct vgi_input_event *ev)
{
	assert_int_equal(id, 0);
	if (nevents < MAX_EVENTS)
		events[nevents++] = *ev;
	/* the client waits for these before its next step (spice-input-client.c) */
	if (ev->type == EV_KEY && ev->code == KEY_F1 && ev->value == 0)
		touch("stage1");
	if (ev->type == EV_KEY && ev->code == KEY_ESC && ev->value == 0)
		touch("done");
}

static void host_output(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	output_w = w;
	output_h = h;
}

static int setup(void **state)
{
	struct input_test *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/vgi-spice-input-XXXXXX");
	t->have_dir = mkdtemp(t->dir) != NULL;
	nevents = 0;
	channels_up = channels_down = 0;
	vgi_log_set_level(VGI_LOG_DEBUG);
	vgi_log_set_handler(log_handler, NULL);
	cur = t;
	*state = t;
	return t->have_dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct input_test *t = *state;

	if (t->s.ops) {
		wait_channels_closed();
		t->s.ops->destroy(t->s.sink);
	}
	if (t->have_dir)
		st_rm_rf(t->dir);
	free(t->px);
	free(t->text);
	free(t);
	cur = NULL;
	vgi_log_set_handler(NULL, NULL);
	return 0;
}

static void test_input_and_cursor(void **state)
{
	struct input_test *t = *state;
	const uint32_t w = 640, h = 480;
	struct vgi_display_host host = { .input = host_input, .output_changed = host_output };
	uint32_t *px, cursor[64 * 64];
	char spec[128], cmd[512], outfile[300], *text;
	int port = st_free_port();
	uint64_t sum = 0;

	px = t->px = malloc(w * h * 4);
	assert_non_null(px);
	snprintf(spec, sizeof(spec), "spice,port=%d,disable-ticketing", port);
	assert_int_equal(vgi_display_sink_new(spec, &host, &t->s), 0);

	struct vgi_display_sink s = t->s;
	struct vgi_scanout so = { .enabled = true, .width = w, .height = h, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_image img = { .width = w, .height = h, .stride = w * 4, .format = DRM_FORMAT_XRGB8888, .data = px };
	struct vgi_rect full = { 0, 0, w, h };
	for (uint32_t i = 0; i < w * h; i++)
		px[i] = st_pattern(i % w, i / w, 9);
	s.ops->scanout(s.sink, 0, &so);
	s.ops->update(s.sink, 0, &full, &img);
	for (uint32_t i = 0; i < 64 * 64; i++)
		cursor[i] = (i % 64 < 32) ? 0xff000000u | st_pattern(i % 64, i / 64, 3) : 0;
	/* spice-client-glib hands the shape out as RGBA bytes: R and B swap places in a uint32 */
	for (uint32_t i = 0; i < 64 * 64; i++) {
		uint32_t v = cursor[i];

		sum = sum * 31 + ((v & 0xff00ff00u) | (v >> 16 & 0xff) | (v & 0xff) << 16);
	}
	struct vgi_cursor c = { .visible = true, .x = 10, .y = 20, .hot_x = 5, .hot_y = 7, .image_changed = true,
				.pixels = cursor };
	s.ops->cursor(s.sink, 0, &c);

	snprintf(outfile, sizeof(outfile), "%s/client.txt", t->dir);
	snprintf(cmd, sizeof(cmd), "exec '%s' 127.0.0.1 %d '%s'", SPICE_INPUT_CLIENT, port, outfile);
	/* the client waits on events and gives up after 80 s itself, saying what it waited for */
	int rc = st_run_child(cmd, 100);
	text = t->text = st_read_file(outfile);
	fprintf(stderr, "client exit status %d; it reported:\n%s", rc, text ? text : "(nothing)\n");
	assert_int_equal(rc, 0);
	assert_non_null(text);

	/* the cursor shape as the client got it */
	char want_cursor[128];
	snprintf(want_cursor, sizeof(want_cursor), "cursor 64 64 5 7 %016llx", (unsigned long long)sum);
	assert_non_null(strstr(text, want_cursor));

	/* keys, in order, with nothing else; the client waits for server mouse mode (it always comes) */
	assert_non_null(strstr(text, "mouse-mode-after 1"));
	static const struct { uint16_t code; int32_t value; } keys[] = {
		{ KEY_A, 1 }, { KEY_A, 0 }, { KEY_RIGHTCTRL, 1 }, { KEY_RIGHTCTRL, 0 }, { KEY_UP, 1 }, { KEY_UP, 0 },
		{ BTN_LEFT, 1 }, { BTN_LEFT, 0 }, { BTN_RIGHT, 1 }, { BTN_RIGHT, 0 },
		{ KEY_F1, 1 }, { KEY_F1, 0 },		/* end of the first batch */
		{ BTN_MIDDLE, 1 }, { BTN_MIDDLE, 0 },	/* server mode part */
		{ KEY_ESC, 1 }, { KEY_ESC, 0 },
	};
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	unsigned k = 0;
	int32_t abs_x = -1, abs_y = -1, rel_x = 0, rel_y = 0, wheel = 0;
	for (unsigned i = 0; i < nevents; i++) {
		const struct vgi_input_event *e = &events[i];

		if (e->type == EV_KEY) {
			assert_true(k < nkeys);
			assert_int_equal(e->code, keys[k].code);
			assert_int_equal(e->value, keys[k].value);
			k++;
		} else if (e->type == EV_ABS) {
			if (e->code == ABS_X)
				abs_x = e->value;
			else if (e->code == ABS_Y)
				abs_y = e->value;
		} else if (e->type == EV_REL) {
			if (e->code == REL_X)
				rel_x += e->value;
			else if (e->code == REL_Y)
				rel_y += e->value;
			else if (e->code == REL_WHEEL)
				wheel += e->value;
		}
	}
	assert_int_equal(k, nkeys);
	assert_true(nevents > 0);
	assert_int_equal(events[nevents - 1].type, EV_SYN);
	/* client mouse mode first: absolute positions scaled to 0..0x7fff, the wheel as REL_WHEEL */
	assert_non_null(strstr(text, "mouse-mode 2"));
	assert_int_equal(abs_x, 100 * 0x7fff / (w - 1));
	assert_int_equal(abs_y, 50 * 0x7fff / (h - 1));
	assert_int_equal(wheel, 1);	/* one notch up */
	/* then server mode: relative motion through the mouse interface */
	assert_int_equal(rel_x, 5);
	assert_int_equal(rel_y, -2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_input_and_cursor, setup, teardown),
	};

	if (access(SPICE_INPUT_CLIENT, X_OK)) {
		printf("SKIP: %s not built\n", SPICE_INPUT_CLIENT);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
