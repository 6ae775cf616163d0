// SPDX-License-Identifier: MIT
/*
 * vgi-gpu: a vhost-user-gpu back-end for QEMU's vhost-user-gpu-pci device,
 * following QEMU's back-end program conventions (docs/interop/vhost-user.rst).
 * Thin wiring: option parsing, the virtio-gpu device, display sinks, the
 * vhost-user back-end, and a GLib main loop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#include <vgi/gpu.h>
#include <vgi/log.h>
#include <vgi/sinks.h>
#include <vgi/vhost-user.h>
#ifdef VGI_GPU_HAVE_QEMU_SINK
#include <vgi/qemu-display.h>
#endif

#include "vgi-config.h"

#define MAX_DISPLAYS 8
/* How long the guest's GET_EDID waits for QEMU's EDID; then it gets the generated one. */
#define EDID_WAIT_MS 1500

struct app {
	GMainLoop *loop;
	struct vgi_gpu *gpu;
	struct vgi_vhost_user *vu;
	struct vgi_display_host host;
	void *qemu_display;	/* struct vgi_qemu_display *, owned by the gpu (a sink) */
	int idle_display_fd;	/* QEMU's display socket when no 'qemu' display is used */
	bool keep_listening;
	int exit_code;
	guint gpu_watch;
	guint qd_watch;		/* QEMU's display socket (replies to our requests) */
	GSource *qd_out;	/* the same socket, for writing while the display queued data */
	guint qd_timer_watch;	/* its update throttle (--max-fps) */
	uint32_t edid_pending;	/* outputs whose EDID QEMU has yet to send */
	guint edid_timer;	/* bounds the wait for them */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vgi-gpu [OPTION...]\n"
		"A vhost-user-gpu back-end for QEMU (-device vhost-user-gpu-pci).\n"
		"\n"
		"  -s, --socket-path=PATH    listen on the Unix socket PATH\n"
		"  -f, --fd=FDNUM            use the inherited, connected socket FDNUM\n"
		"  -c, --print-capabilities  print the back-end capabilities as JSON and exit\n"
		"  -d, --display=SPEC        where scanouts go; repeatable (default: qemu)\n"
		"                              qemu                QEMU's own display (vhost-user-gpu socket)\n"
		"                              headless,dir=DIR    PNG files in DIR\n"
		"                            built in: %s\n"
		"  -o, --outputs=N           number of outputs (scanouts), 1..%u (default 1)\n"
		"      --max-fps=N           qemu display: at most N deliveries of 2D updates a second;\n"
		"                            flushes in between are merged (default 60; 0: send each)\n"
		"  -m, --max-hostmem=BYTES   cap on host memory the guest may use (K/M/G suffixes;\n"
		"                            default %lluM)\n"
		"  -v, --virgl               3D acceleration through virglrenderer\n"
		"  -r, --render-node=PATH    DRM render node for 3D (default: surfaceless EGL)\n"
		"  -k, --keep-listening      with --socket-path: after QEMU disconnects, wait for the\n"
		"                            next connection instead of exiting\n"
		"  -h, --help                this help\n"
		"  -V, --version             print the version\n"
		"\n"
		"Example:\n"
		"  vgi-gpu --socket-path=/tmp/gpu.sock &\n"
		"  qemu-system-x86_64 -object memory-backend-memfd,id=mem,size=1G,share=on \\\n"
		"    -machine memory-backend=mem -vga none \\\n"
		"    -chardev socket,id=gpu,path=/tmp/gpu.sock -device vhost-user-gpu-pci,chardev=gpu ...\n",
		vgi_display_sink_names(), VGI_MAX_SCANOUTS,
		(unsigned long long)(VGI_GPU_DEFAULT_MAX_HOSTMEM >> 20));
}

static bool have_3d(void)
{
#ifdef VGI_GPU_HAVE_3D
	return true;
#else
	return false;
#endif
}

static void print_capabilities(void)
{
	printf("{\n  \"type\": \"gpu\",\n  \"features\": [");
	if (have_3d())
		printf("\n    \"render-node\",\n    \"virgl\"\n  ");
	printf("]\n}\n");
}

/* "256M", "1G", "65536": bytes. false on garbage or overflow. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 0:
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return false;
	}
	if (*end && end[1] && !(end[1] == 'i' && end[2] == 'B' && !end[3]) && !(end[1] == 'B' && !end[2]))
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- QEMU's display socket ---- */

/*
 * A main-loop watch on fd. GLib takes a non-recursive source's fds out of the
 * poll set around each dispatch and puts them back, and each change writes
 * and later reads the loop's wakeup eventfd and costs one more poll: four
 * syscalls per guest kick on top of the six the work needs. No callback here
 * runs a nested main loop, so the sources may be marked recursive instead.
 */
static guint watch_fd(int fd, GIOCondition cond, GUnixFDSourceFunc fn, void *opaque)
{
	GSource *src = g_unix_fd_source_new(fd, cond);
	guint id;

	g_source_set_callback(src, G_SOURCE_FUNC(fn), opaque, NULL);
	g_source_set_can_recurse(src, TRUE);
	id = g_source_attach(src, NULL);
	g_source_unref(src);
	return id;
}

static void qd_unwatch(struct app *app)
{
	if (app->qd_watch)
		g_source_remove(app->qd_watch);
	app->qd_watch = 0;
	if (app->qd_out) {
		g_source_destroy(app->qd_out);
		g_source_unref(app->qd_out);
	}
	app->qd_out = NULL;
}

#ifdef VGI_GPU_HAVE_QEMU_DISPLAY_FD
/*
 * Sends to QEMU's display never wait: what the socket did not take waits
 * in the sink until the socket is writable. This source asks for
 * writability only while the sink holds data; its prepare() runs before
 * every poll, so whatever queued data (a guest command, a timer, a reply)
 * is seen.
 */
struct qd_out_source {
	GSource base;
	struct app *app;
	gpointer tag;
	GIOCondition want;
};

static gboolean on_qemu_display_fd(gint fd, GIOCondition cond, gpointer opaque);

static gboolean qd_out_prepare(GSource *src, gint *timeout)
{
	struct qd_out_source *q = (struct qd_out_source *)src;
	GIOCondition want = vgi_qemu_display_wants_write(q->app->qemu_display) ? G_IO_OUT : 0;

	*timeout = -1;
	if (want != q->want) {	/* a change wakes the loop once; no change costs nothing */
		g_source_modify_unix_fd(src, q->tag, want);
		q->want = want;
	}
	return FALSE;
}

static gboolean qd_out_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	struct qd_out_source *q = (struct qd_out_source *)src;

	if (g_source_query_unix_fd(src, q->tag) && q->app->qd_watch)
		on_qemu_display_fd(-1, G_IO_OUT, q->app);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs qd_out_funcs = { .prepare = qd_out_prepare, .dispatch = qd_out_dispatch };

static GSource *qd_out_new(struct app *app, int fd)
{
	struct qd_out_source *q = (struct qd_out_source *)g_source_new(&qd_out_funcs, sizeof(*q));

	q->app = app;
	q->want = 0;
	q->tag = g_source_add_unix_fd(&q->base, fd, 0);
	g_source_set_can_recurse(&q->base, TRUE);
	g_source_attach(&q->base, NULL);
	return &q->base;
}
#endif

#ifdef VGI_GPU_HAVE_QEMU_DISPLAY_FD
static gboolean on_qemu_display_fd(gint fd, GIOCondition cond, gpointer opaque)
{
	struct app *app = opaque;

	if (vgi_qemu_display_dispatch(app->qemu_display) < 0) {
		/* the display closed the socket: QEMU left or misbehaved (logged) */
		if (fd >= 0) {
			app->qd_watch = 0;	/* this watch goes with G_SOURCE_REMOVE */
			qd_unwatch(app);
			return G_SOURCE_REMOVE;
		}
		qd_unwatch(app);	/* called by the write source: drop both */
	}
	return G_SOURCE_CONTINUE;
}
#endif

#ifdef VGI_GPU_HAVE_QEMU_SINK
static gboolean on_qemu_display_timer(gint fd, GIOCondition cond, gpointer opaque)
{
	vgi_qemu_display_dispatch_timer(((struct app *)opaque)->qemu_display);
	return G_SOURCE_CONTINUE;
}
#endif

/* ---- vhost-user hooks ---- */

static int on_message(void *opaque, uint32_t request, const void *payload, uint32_t size, int *fds, unsigned nfds)
{
	struct app *app = opaque;

	if (request != VGI_VHOST_USER_GPU_SET_SOCKET)
		return -ENOTSUP;
	if (nfds != 1) {
		vgi_warn("vgi-gpu: GPU_SET_SOCKET with %u fds (expected 1)", nfds);
		return -EINVAL;
	}
#ifdef VGI_GPU_HAVE_QEMU_SINK
	if (app->qemu_display) {
		int fd = fds[0];

		fds[0] = -1;	/* set_socket owns it now, also on failure */
		qd_unwatch(app);	/* set_socket drops the previous socket */
		if (vgi_qemu_display_set_socket(app->qemu_display, fd) < 0) {
			vgi_warn("vgi-gpu: QEMU's display socket could not be set up; scanouts will not reach QEMU");
			return 0;
		}
#ifdef VGI_GPU_HAVE_QEMU_DISPLAY_FD
		if (vgi_qemu_display_get_fd(app->qemu_display) >= 0) {
			app->qd_watch = watch_fd(vgi_qemu_display_get_fd(app->qemu_display),
						 G_IO_IN | G_IO_HUP | G_IO_ERR, on_qemu_display_fd, app);
			app->qd_out = qd_out_new(app, vgi_qemu_display_get_fd(app->qemu_display));
		}
#endif
		return 0;
	}
#endif
	/* No 'qemu' display: keep the socket open (QEMU expects it to stay) but send nothing. */
	if (app->idle_display_fd >= 0)
		close(app->idle_display_fd);
	app->idle_display_fd = fds[0];
	fds[0] = -1;
	vgi_info("vgi-gpu: QEMU's display socket is not used (no --display qemu)");
	return 0;
}

static void on_disconnected(void *opaque, int reason)
{
	struct app *app = opaque;

	qd_unwatch(app);
#ifdef VGI_GPU_HAVE_QEMU_SINK
	if (app->qemu_display)
		vgi_qemu_display_disconnect(app->qemu_display);
#endif
	if (app->idle_display_fd >= 0) {
		close(app->idle_display_fd);
		app->idle_display_fd = -1;
	}
	if (reason)
		fprintf(stderr, "vgi-gpu: QEMU sent a bad message (see above); connection closed\n");
	else
		fprintf(stderr, "vgi-gpu: QEMU disconnected\n");
	if (app->keep_listening) {
		fprintf(stderr, "vgi-gpu: waiting for the next connection\n");
		return;
	}
	app->exit_code = reason ? 1 : 0;
	g_main_loop_quit(app->loop);
}

static const struct vgi_vhost_user_ops vu_ops = {
	.message = on_message,
	.disconnected = on_disconnected,
};

/* ---- main loop callbacks ---- */

static gboolean on_vhost_user(gint fd, GIOCondition cond, gpointer opaque)
{
	struct app *app = opaque;
	int ret = vgi_vhost_user_dispatch(app->vu);

	if (ret < 0 && ret != -ECONNRESET && ret != -EPROTO) {
		fprintf(stderr, "vgi-gpu: vhost-user: %s\n", strerror(-ret));
		app->exit_code = 1;
		g_main_loop_quit(app->loop);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_gpu_fd(gint fd, GIOCondition cond, gpointer opaque)
{
	vgi_gpu_dispatch(((struct app *)opaque)->gpu);
	return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer opaque)
{
	struct app *app = opaque;

	fprintf(stderr, "vgi-gpu: terminating on signal\n");
	app->exit_code = 0;
	g_main_loop_quit(app->loop);
	return G_SOURCE_CONTINUE;
}

/* What the displays report: window resized/closed, QEMU's EDIDs. */
static void on_output_changed(void *opaque, uint32_t id, bool connected, uint32_t width, uint32_t height)
{
	struct app *app = opaque;

	if (vgi_gpu_set_output(app->gpu, id, connected, width, height) < 0)
		vgi_warn("vgi-gpu: display reported output %u (%ux%u) that the device cannot take", id, width, height);
}

static void on_edid(void *opaque, uint32_t id, const uint8_t *blob, uint32_t size)
{
	struct app *app = opaque;

	if (vgi_gpu_set_edid(app->gpu, id, blob, size) < 0) {
		vgi_warn("vgi-gpu: EDID of %u bytes for output %u not taken; the generated one stays", size, id);
		vgi_gpu_expect_edid(app->gpu, id, false);
	}
}

static gboolean on_edid_timeout(gpointer opaque)
{
	struct app *app = opaque;

	app->edid_timer = 0;
	for (uint32_t id = 0; id < 32; id++) {
		if (!(app->edid_pending & (1u << id)))
			continue;
		vgi_warn("vgi-gpu: QEMU sent no EDID for output %u within %d ms; the guest gets the generated one",
			 id, EDID_WAIT_MS);
		vgi_gpu_expect_edid(app->gpu, id, false);
	}
	app->edid_pending = 0;
	return G_SOURCE_REMOVE;
}

/* QEMU's EDID for output id is on its way (or no longer): the guest's GET_EDID waits for it, boundedly. */
static void on_edid_pending(void *opaque, uint32_t id, bool pending)
{
	struct app *app = opaque;

	if (id >= 32 || vgi_gpu_expect_edid(app->gpu, id, pending) < 0)
		return;	/* an output the device does not have */
	if (pending)
		app->edid_pending |= 1u << id;
	else
		app->edid_pending &= ~(1u << id);
	if (app->edid_pending && !app->edid_timer)
		app->edid_timer = g_timeout_add(EDID_WAIT_MS, on_edid_timeout, app);
	else if (!app->edid_pending && app->edid_timer) {
		g_source_remove(app->edid_timer);
		app->edid_timer = 0;
	}
}

static void on_quit(void *opaque)
{
	struct app *app = opaque;

	fprintf(stderr, "vgi-gpu: display closed\n");
	app->exit_code = 0;
	g_main_loop_quit(app->loop);
}

/* ---- setup ---- */

static bool sink_name_is(const char *spec, const char *name)
{
	size_t l = strlen(name);

	return strncmp(spec, name, l) == 0 && (spec[l] == 0 || spec[l] == ',');
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "print-capabilities", no_argument, NULL, 'c' },
		{ "display", required_argument, NULL, 'd' },
		{ "outputs", required_argument, NULL, 'o' },
		{ "max-hostmem", required_argument, NULL, 'm' },
		{ "virgl", no_argument, NULL, 'v' },
		{ "render-node", required_argument, NULL, 'r' },
		{ "keep-listening", no_argument, NULL, 'k' },
		{ "max-fps", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *displays[MAX_DISPLAYS];
	unsigned ndisplays = 0;
	const char *socket_path = NULL;
	long conn_fd = -1;
	bool caps = false;
	struct vgi_gpu_config cfg;
	struct app app = { .idle_display_fd = -1 };
	unsigned max_fps = 60;
	unsigned long ul;
	int c, ret;

	vgi_gpu_config_init(&cfg);
	while ((c = getopt_long(argc, argv, "s:f:cd:o:m:vr:khV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'f':
			if (!parse_uint(optarg, 0, INT_MAX, &ul)) {
				fprintf(stderr, "vgi-gpu: --fd: '%s' is not a file descriptor number\n", optarg);
				return 1;
			}
			conn_fd = (long)ul;
			break;
		case 'c':
			caps = true;
			break;
		case 'd':
			if (ndisplays == MAX_DISPLAYS) {
				fprintf(stderr, "vgi-gpu: at most %u --display options\n", MAX_DISPLAYS);
				return 1;
			}
			displays[ndisplays++] = optarg;
			break;
		case 'o':
			if (!parse_uint(optarg, 1, VGI_MAX_SCANOUTS, &ul)) {
				fprintf(stderr, "vgi-gpu: --outputs: '%s' is not a number in 1..%u\n", optarg,
					VGI_MAX_SCANOUTS);
				return 1;
			}
			cfg.num_scanouts = (uint32_t)ul;
			break;
		case 'm':
			if (!parse_size(optarg, &cfg.max_hostmem) || cfg.max_hostmem == 0) {
				fprintf(stderr, "vgi-gpu: --max-hostmem: '%s' is not a size (e.g. 512M, 2G)\n", optarg);
				return 1;
			}
			break;
		case 'v':
			cfg.virgl = true;
			break;
		case 'r':
			cfg.render_node = optarg;
			break;
		case 'F':
			if (!parse_uint(optarg, 0, 1000, &ul)) {
				fprintf(stderr, "vgi-gpu: --max-fps: '%s' is not a number from 0 to 1000\n", optarg);
				return 1;
			}
			max_fps = (unsigned)ul;
			break;
		case 'k':
			app.keep_listening = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vgi-gpu %s\n", VGI_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (caps) {
		/* the convention: print, exit, ignore everything else */
		print_capabilities();
		return 0;
	}
	if (optind < argc) {
		fprintf(stderr, "vgi-gpu: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 1;
	}
	if (!socket_path == (conn_fd < 0)) {
		fprintf(stderr, "vgi-gpu: give exactly one of --socket-path or --fd (see --help)\n");
		return 1;
	}
	if (app.keep_listening && !socket_path) {
		fprintf(stderr, "vgi-gpu: --keep-listening needs --socket-path\n");
		return 1;
	}
	if ((cfg.virgl || cfg.render_node) && !have_3d()) {
		fprintf(stderr, "vgi-gpu: %s: 3D (virgl) support is not built into this vgi-gpu "
				"(needs virglrenderer and libepoxy at build time)\n",
			cfg.virgl ? "--virgl" : "--render-node");
		return 1;
	}
	if (cfg.render_node && !cfg.virgl) {
		fprintf(stderr, "vgi-gpu: --render-node is only used with --virgl\n");
		return 1;
	}
	if (cfg.render_node && access(cfg.render_node, R_OK | W_OK) < 0) {
		fprintf(stderr, "vgi-gpu: --render-node %s: %s\n", cfg.render_node, strerror(errno));
		return 1;
	}
	if (ndisplays == 0)
		displays[ndisplays++] = "qemu";

	app.gpu = vgi_gpu_new(&cfg);
	if (!app.gpu) {
		fprintf(stderr, "vgi-gpu: cannot create the GPU device (see above)\n");
		return 1;
	}
	app.host = (struct vgi_display_host){
		.output_changed = on_output_changed, .edid = on_edid, .edid_pending = on_edid_pending,
		.quit = on_quit, .opaque = &app,
	};
	for (unsigned i = 0; i < ndisplays; i++) {
		struct vgi_display_sink sink;

		if (sink_name_is(displays[i], "qemu")) {
			if (app.qemu_display) {
				fprintf(stderr, "vgi-gpu: --display qemu given twice\n");
				goto fail;
			}
#ifndef VGI_GPU_HAVE_QEMU_SINK
			fprintf(stderr, "vgi-gpu: --display qemu: QEMU's display is not built in (built in: %s)\n",
				vgi_display_sink_names());
			goto fail;
#endif
		}
		ret = vgi_display_sink_new(displays[i], &app.host, &sink);
		if (ret) {
			fprintf(stderr, "vgi-gpu: --display %s: %s\n", displays[i],
				ret == -ENOENT ? "no such display" : "bad options (see above)");
			goto fail;
		}
		if (vgi_gpu_add_sink(app.gpu, sink.ops, sink.sink) < 0) {
			fprintf(stderr, "vgi-gpu: --display %s: too many displays\n", displays[i]);
			if (sink.ops->destroy)
				sink.ops->destroy(sink.sink);
			goto fail;
		}
		if (sink_name_is(displays[i], "qemu"))
			app.qemu_display = sink.sink;
	}

	app.vu = vgi_vhost_user_new(vgi_gpu_virtio(app.gpu), &vu_ops, &app);
	if (!app.vu)
		goto fail;
	if (socket_path) {
		if (vgi_vhost_user_listen(app.vu, socket_path) < 0) {
			fprintf(stderr, "vgi-gpu: cannot listen on %s\n", socket_path);
			goto fail;
		}
	} else if (vgi_vhost_user_set_connection(app.vu, (int)conn_fd) < 0) {
		fprintf(stderr, "vgi-gpu: --fd %ld is not a usable socket\n", conn_fd);
		goto fail;
	}

	app.loop = g_main_loop_new(NULL, FALSE);
#ifdef VGI_GPU_HAVE_QEMU_SINK
	if (app.qemu_display && max_fps) {
		int tfd = vgi_qemu_display_set_max_fps(app.qemu_display, max_fps);

		if (tfd >= 0)
			app.qd_timer_watch = watch_fd(tfd, G_IO_IN, on_qemu_display_timer, &app);
		else
			vgi_warn("vgi-gpu: --max-fps: no timer (%s); every update is sent at once", strerror(-tfd));
	}
#endif
	watch_fd(vgi_vhost_user_get_fd(app.vu), G_IO_IN, on_vhost_user, &app);
	if (vgi_gpu_get_fd(app.gpu) >= 0)
		app.gpu_watch = watch_fd(vgi_gpu_get_fd(app.gpu), G_IO_IN, on_gpu_fd, &app);
	g_unix_signal_add(SIGTERM, on_signal, &app);
	g_unix_signal_add(SIGINT, on_signal, &app);
	signal(SIGPIPE, SIG_IGN);
	if (socket_path)
		fprintf(stderr, "vgi-gpu: listening on %s\n", socket_path);
	g_main_loop_run(app.loop);

	qd_unwatch(&app);
	if (app.qd_timer_watch)
		g_source_remove(app.qd_timer_watch);
	if (app.edid_timer)
		g_source_remove(app.edid_timer);
	app.edid_timer = 0;
	vgi_vhost_user_free(app.vu);
	if (app.idle_display_fd >= 0)
		close(app.idle_display_fd);
	vgi_gpu_free(app.gpu);
	g_main_loop_unref(app.loop);
	return app.exit_code;

fail:
	vgi_vhost_user_free(app.vu);
	vgi_gpu_free(app.gpu);
	return 1;
}
