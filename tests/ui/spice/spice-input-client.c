// SPDX-License-Identifier: MIT
/*
 * A small real SPICE client (spice-client-glib, the library spicy uses) for
 * the tests: connects, records the cursor shape the server sets, sends a
 * fixed sequence of keys and pointer events through the inputs channel, and
 * writes what it saw to OUTFILE. The server side answers through files next
 * to OUTFILE: STAGE1 once it got the first batch (ending with F1), DONE once
 * it got the last key (Esc). With --stay it only connects a display
 * channel and stays until killed (for the benchmark).
 *
 *   spice-input-client HOST PORT OUTFILE
 *   spice-input-client --stay HOST PORT
 *   spice-input-client --gl URI OUTDIR
 *   spice-input-client --shot CHANNEL HOST PORT OUT.ppm
 *
 * --gl: a local GL client (unix socket): takes the server's GL scanout
 * (dmabuf), creates OUTDIR/ready once it has it, and on each GL draw reads
 * the dmabuf through mmap, writes it to OUTDIR/gl.ppm and acknowledges the
 * draw; it exits after the second draw.
 * --shot: like spicy-screenshot, but for display channel CHANNEL (spicy-screenshot
 * takes channel 0 only): the primary surface at the first invalidate, as PPM.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <spice-client.h>

static gboolean finish(gpointer data);

static GMainLoop *loop;
static SpiceInputsChannel *inputs;
static SpiceMainChannel *main_channel;
static FILE *out;
static bool have_cursor, inputs_open, sent, started;
static bool stay;
static bool gl_mode;
static const char *gl_dir;
static int gl_draws;

static void gl_scanout_changed(GObject *obj, GParamSpec *pspec, gpointer data)
{
	const SpiceGlScanout *so = spice_display_channel_get_gl_scanout(SPICE_DISPLAY_CHANNEL(obj));
	char path[512];
	FILE *f;

	if (!so || so->fd < 0)
		return;
	fprintf(out, "gl-scanout %ux%u stride %u format %08x y0top %d\n", so->width, so->height, so->stride,
		so->format, so->y0top);
	snprintf(path, sizeof(path), "%s/ready", gl_dir);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

static void gl_draw(SpiceDisplayChannel *ch, guint x, guint y, guint w, guint h, gpointer data)
{
	const SpiceGlScanout *so = spice_display_channel_get_gl_scanout(ch);
	char path[512];
	FILE *f;

	gl_draws++;
	fprintf(out, "gl-draw %d %u,%u %ux%u\n", gl_draws, x, y, w, h);
	if (so && so->fd >= 0) {
		size_t size = (size_t)so->stride * so->height;
		uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, so->fd, 0);

		if (p == MAP_FAILED) {
			fprintf(out, "mmap of the dmabuf failed\n");
		} else {
			snprintf(path, sizeof(path), "%s/gl.ppm", gl_dir);
			f = fopen(path, "wb");
			if (f) {
				fprintf(f, "P6\n%u %u\n255\n", so->width, so->height);
				for (uint32_t j = 0; j < so->height; j++) {
					const uint8_t *row = p + (size_t)(so->y0top ? j : so->height - 1 - j) * so->stride;

					for (uint32_t i = 0; i < so->width; i++) {
						fputc(row[i * 4 + 2], f);
						fputc(row[i * 4 + 1], f);
						fputc(row[i * 4], f);
					}
				}
				fclose(f);
			}
			munmap(p, size);
		}
	}
	spice_display_channel_gl_draw_done(ch);
	if (gl_draws == 2) {
		sent = true;
		g_timeout_add(300, finish, NULL);
	}
}

static void cursor_set(SpiceCursorChannel *ch, gint w, gint h, gint hx, gint hy, gpointer rgba, gpointer data)
{
	uint64_t sum = 0;
	const uint32_t *px = rgba;

	if (!rgba || have_cursor)
		return;
	for (gint i = 0; i < w * h; i++)
		sum = sum * 31 + px[i];
	fprintf(out, "cursor %d %d %d %d %016llx\n", w, h, hx, hy, (unsigned long long)sum);
	if (w * h > 700)
		fprintf(out, "cursor-px %08x %08x %08x\n", px[0], px[40], px[64 * 10 + 3]);
	have_cursor = true;
}

static int shot_channel = -1;
static const char *shot_path;
static int shot_w, shot_h, shot_stride;
static const uint8_t *shot_data;
static bool shot_done;

static void shot_primary(SpiceChannel *ch, gint format, gint w, gint h, gint stride, gint shmid, gpointer data,
			 gpointer user)
{
	shot_w = w;
	shot_h = h;
	shot_stride = stride;
	shot_data = data;
}

static void shot_invalidate(SpiceChannel *ch, gint x, gint y, gint w, gint h, gpointer user)
{
	FILE *f;

	if (shot_done || !shot_data)
		return;
	f = fopen(shot_path, "wb");
	if (!f)
		return;
	fprintf(f, "P6\n%d %d\n255\n", shot_w, shot_h);
	for (int j = 0; j < shot_h; j++)
		for (int i = 0; i < shot_w; i++) {
			const uint8_t *p = shot_data + (size_t)j * shot_stride + (size_t)i * 4;

			fputc(p[2], f);
			fputc(p[1], f);
			fputc(p[0], f);
		}
	fclose(f);
	shot_done = true;
	g_main_loop_quit(loop);
}

static gboolean finish(gpointer data)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/*
 * The input sequence waits on events, never on fixed delays (the machine may
 * be busy): the mouse mode from the main channel, and from the server side
 * (the test, which sees the events arrive) the files STAGE1 and DONE next to
 * OUTFILE. Each wait gives up at the overall deadline and says what it waited for.
 */
static char *stage1_path, *done_path;
static const char *waiting_for = "the main, inputs and cursor channels";

static bool failed;

static void fail(const char *what)
{
	failed = true;
	fprintf(out, "timeout waiting for %s\n", what);
	fprintf(stderr, "spice-input-client: timeout waiting for %s\n", what);
	g_main_loop_quit(loop);
}

static gint mouse_mode(void)
{
	gint mode = 0;

	g_object_get(main_channel, "mouse-mode", &mode, NULL);
	return mode;
}

static gboolean wait_done(gpointer data)
{
	if (!g_file_test(done_path, G_FILE_TEST_EXISTS))
		return G_SOURCE_CONTINUE;
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void send_server_mode(void)
{
	fprintf(out, "mouse-mode-after %d\n", mouse_mode());
	spice_inputs_channel_motion(inputs, 5, -2, 0);
	spice_inputs_channel_button_press(inputs, SPICE_MOUSE_BUTTON_MIDDLE, 0);
	spice_inputs_channel_button_release(inputs, SPICE_MOUSE_BUTTON_MIDDLE, SPICE_MOUSE_BUTTON_MASK_MIDDLE);
	/* the last key tells the server that everything before it arrived */
	spice_inputs_channel_key_press(inputs, 0x01);
	spice_inputs_channel_key_release(inputs, 0x01);
	sent = true;
	waiting_for = "the server to get the last key (DONE file)";
	g_timeout_add(20, wait_done, NULL);
}

static bool want_server_mode;

static void mouse_mode_changed(GObject *obj, GParamSpec *pspec, gpointer data)
{
	if (want_server_mode && mouse_mode() == SPICE_MOUSE_MODE_SERVER) {
		want_server_mode = false;
		send_server_mode();
	}
}

static gboolean wait_stage1(gpointer data)
{
	if (!g_file_test(stage1_path, G_FILE_TEST_EXISTS))
		return G_SOURCE_CONTINUE;
	/*
	 * the server has the first batch: now server mouse mode (relative motion
	 * and the middle button through SpiceMouseInterface); the request goes
	 * over the main channel, a different socket, hence the wait for STAGE1
	 */
	waiting_for = "server mouse mode";
	want_server_mode = true;
	spice_main_channel_request_mouse_mode(main_channel, SPICE_MOUSE_MODE_SERVER);
	mouse_mode_changed(NULL, NULL, NULL);
	return G_SOURCE_REMOVE;
}

static void send_input(void)
{
	started = true;
	fprintf(out, "mouse-mode %d\n", mouse_mode());
	/* 'a', right ctrl (e0 1d), up arrow (e0 48) */
	spice_inputs_channel_key_press(inputs, 0x1e);
	spice_inputs_channel_key_release(inputs, 0x1e);
	spice_inputs_channel_key_press(inputs, 0x11d);
	spice_inputs_channel_key_release(inputs, 0x11d);
	spice_inputs_channel_key_press(inputs, 0x148);
	spice_inputs_channel_key_release(inputs, 0x148);
	/* pointer: absolute in client mode */
	spice_inputs_channel_position(inputs, 100, 50, 0, 0);
	spice_inputs_channel_button_press(inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
	spice_inputs_channel_button_release(inputs, SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT);
	spice_inputs_channel_button_press(inputs, SPICE_MOUSE_BUTTON_RIGHT, 0);
	spice_inputs_channel_button_release(inputs, SPICE_MOUSE_BUTTON_RIGHT, SPICE_MOUSE_BUTTON_MASK_RIGHT);
	/* wheel up: spice-server turns the UP button into wheel motion */
	spice_inputs_channel_button_press(inputs, SPICE_MOUSE_BUTTON_UP, 0);
	spice_inputs_channel_button_release(inputs, SPICE_MOUSE_BUTTON_UP, 0);
	/* F1 ends the first batch: the server answers with STAGE1 */
	spice_inputs_channel_key_press(inputs, 0x3b);
	spice_inputs_channel_key_release(inputs, 0x3b);
	waiting_for = "the server to get the first batch (STAGE1 file)";
	g_timeout_add(20, wait_stage1, NULL);
}

static void maybe_send(void)
{
	/* client mouse mode (the server has a tablet) before the absolute position */
	if (inputs_open && have_cursor && !started && main_channel && mouse_mode() == SPICE_MOUSE_MODE_CLIENT)
		send_input();
	else if (!started)
		waiting_for = "the inputs channel, the cursor and client mouse mode";
}

static void main_mouse_mode(GObject *obj, GParamSpec *pspec, gpointer data)
{
	maybe_send();
	mouse_mode_changed(obj, pspec, data);
}

static gboolean deadline(gpointer data)
{
	fail(waiting_for);
	return G_SOURCE_REMOVE;
}

static void inputs_event(SpiceChannel *ch, SpiceChannelEvent ev, gpointer data)
{
	if (ev == SPICE_CHANNEL_OPENED) {
		inputs_open = true;
		maybe_send();
	} else if (ev != SPICE_CHANNEL_CLOSED) {
		fprintf(stderr, "inputs channel event %d\n", ev);
		g_main_loop_quit(loop);
	}
}

static void cursor_set_wrap(SpiceCursorChannel *ch, gint w, gint h, gint hx, gint hy, gpointer rgba, gpointer data)
{
	cursor_set(ch, w, h, hx, hy, rgba, data);
	maybe_send();
}

static void main_event(SpiceChannel *ch, SpiceChannelEvent ev, gpointer data)
{
	if (ev != SPICE_CHANNEL_OPENED) {
		fprintf(stderr, "main channel event %d\n", ev);
		g_main_loop_quit(loop);
	}
}

static void channel_new(SpiceSession *s, SpiceChannel *ch, gpointer data)
{
	if (SPICE_IS_MAIN_CHANNEL(ch)) {
		main_channel = SPICE_MAIN_CHANNEL(ch);
		g_signal_connect(ch, "channel-event", G_CALLBACK(main_event), NULL);
		if (!stay)
			g_signal_connect(ch, "notify::mouse-mode", G_CALLBACK(main_mouse_mode), NULL);
		return;
	}
	if (SPICE_IS_DISPLAY_CHANNEL(ch)) {
		gint id = -1;

		g_object_get(ch, "channel-id", &id, NULL);
		if (shot_channel >= 0) {
			if (id != shot_channel)
				return;
			g_signal_connect(ch, "display-primary-create", G_CALLBACK(shot_primary), NULL);
			g_signal_connect(ch, "display-invalidate", G_CALLBACK(shot_invalidate), NULL);
		}
		if (gl_mode) {
			g_signal_connect(ch, "notify::gl-scanout", G_CALLBACK(gl_scanout_changed), NULL);
			g_signal_connect(ch, "gl-draw", G_CALLBACK(gl_draw), NULL);
		}
		spice_channel_connect(ch);
		return;
	}
	if (stay)
		return;
	if (SPICE_IS_INPUTS_CHANNEL(ch)) {
		inputs = SPICE_INPUTS_CHANNEL(ch);
		g_signal_connect(ch, "channel-event", G_CALLBACK(inputs_event), NULL);
		spice_channel_connect(ch);
	} else if (SPICE_IS_CURSOR_CHANNEL(ch)) {
		g_signal_connect(ch, "cursor-set", G_CALLBACK(cursor_set_wrap), NULL);
		spice_channel_connect(ch);
	}
}

int main(int argc, char **argv)
{
	SpiceSession *session;
	int a = 1;

	if (argc > 1 && !strcmp(argv[1], "--stay")) {
		stay = true;
		a = 2;
	} else if (argc == 6 && !strcmp(argv[1], "--shot")) {
		shot_channel = atoi(argv[2]);
		shot_path = argv[5];
		stay = true;
		out = stdout;
		loop = g_main_loop_new(NULL, FALSE);
		session = spice_session_new();
		g_object_set(session, "host", argv[3], "port", argv[4], NULL);
		g_signal_connect(session, "channel-new", G_CALLBACK(channel_new), NULL);
		if (!spice_session_connect(session))
			return 1;
		g_timeout_add_seconds(30, finish, NULL);
		g_main_loop_run(loop);
		spice_session_disconnect(session);
		return shot_done ? 0 : 1;
	} else if (argc == 4 && !strcmp(argv[1], "--gl")) {
		char path[512];

		gl_mode = stay = true;	/* no inputs or cursor */
		gl_dir = argv[3];
		snprintf(path, sizeof(path), "%s/gl-client.txt", gl_dir);
		out = fopen(path, "w");
		if (!out)
			return 1;
		setvbuf(out, NULL, _IOLBF, 0);
		loop = g_main_loop_new(NULL, FALSE);
		session = spice_session_new();
		if (!g_object_class_find_property(G_OBJECT_GET_CLASS(session), "gl-scanout")) {
			fprintf(out, "this spice-client-glib has no gl-scanout property\n");
			return 77;
		}
		g_object_set(session, "uri", argv[2], "gl-scanout", TRUE, NULL);
		g_signal_connect(session, "channel-new", G_CALLBACK(channel_new), NULL);
		if (!spice_session_connect(session))
			return 1;
		g_timeout_add_seconds(30, finish, NULL);
		g_main_loop_run(loop);
		fprintf(out, "done %d draws\n", gl_draws);
		fclose(out);
		return gl_draws == 2 ? 0 : 1;
	}
	if (argc - a != (stay ? 2 : 3)) {
		fprintf(stderr, "usage: %s HOST PORT OUTFILE | --stay HOST PORT\n", argv[0]);
		return 2;
	}
	out = stay ? stdout : fopen(argv[a + 2], "w");
	if (!out)
		return 1;
	if (!stay) {
		gchar *dir = g_path_get_dirname(argv[a + 2]);

		setvbuf(out, NULL, _IOLBF, 0);
		stage1_path = g_build_filename(dir, "stage1", NULL);
		done_path = g_build_filename(dir, "done", NULL);
		g_free(dir);
	}
	loop = g_main_loop_new(NULL, FALSE);
	session = spice_session_new();
	g_object_set(session, "host", argv[a], "port", argv[a + 1], NULL);
	g_signal_connect(session, "channel-new", G_CALLBACK(channel_new), NULL);
	if (!spice_session_connect(session)) {
		fprintf(stderr, "spice_session_connect failed\n");
		return 1;
	}
	/* generous: a busy machine under ASan is slow, and every wait above is on an event */
	if (stay)
		g_timeout_add_seconds(3600, finish, NULL);
	else
		g_timeout_add_seconds(80, deadline, NULL);
	g_main_loop_run(loop);
	spice_session_disconnect(session);
	fprintf(out, "done %s\n", sent ? "sent" : "not-sent");
	if (!stay)
		fclose(out);
	g_free(stage1_path);
	g_free(done_path);
	return (sent && !failed) || stay ? 0 : 1;
}
