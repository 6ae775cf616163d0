// SPDX-License-Identifier: MIT
/*
 * vgi-view: an image and PDF viewer (fbi/fbpdf style) on vgi's display
 * sinks (DRM/KMS console, SDL, headless PNG) and evdev layer, with the
 * terminal as the keyboard fallback.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/input-event-codes.h>
#include <linux/vt.h>

#include <cairo.h>
#include <drm_fourcc.h>
#include <glib.h>
#include <glib-unix.h>

#include "vgi-config.h"
#include <vgi/display.h>
#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/options.h>
#include <vgi/sinks.h>
#if VGI_HAVE_DRM_DISPLAY
#include <vgi/drm-display.h>
#endif
#ifdef VGI_HAVE_EVDEV
#include <libevdev/libevdev.h>
#include <vgi/evdev.h>
#endif

#include "view-doc.h"
#include "view-geom.h"
#include "view-keys.h"

#define MAX_SCRIPT_KEYS 100000

struct viewer {
	GMainLoop *loop;
	int exit_code;
	/* files */
	char **files;
	unsigned nfiles;
	bool *failed;
	unsigned cur;
	struct view_doc *doc;
	int page;
	struct view_geom geom;
	enum view_fit fit_default;
	bool info;
	/* output */
	bool use_drm;
	struct vgi_display_sink sink;
	bool have_sink;
#if VGI_HAVE_DRM_DISPLAY
	struct vgi_drm_display *drm;
	guint drm_watch;
#endif
	bool vt_active;
	uint32_t out_w, out_h;
	cairo_surface_t *frame;
	bool scanout_sent;
	/* keys */
	struct view_keys keys;
	int *script;
	size_t nscript, script_pos;
	unsigned key_delay_ms;
	guint script_src;
#ifdef VGI_HAVE_EVDEV
	struct vgi_evdev *evdev;
	guint evdev_watch;
#endif
	int term_fd;
	bool term_raw;
	struct termios term_saved;
	uint8_t term_buf[64];
	size_t term_len;
	guint term_watch, term_timer;
	/* slideshow and pre-rendering */
	double slide_s;
	bool once, random;
	guint slide_src, prerender_src;
	bool no_prerender;
	/* reporting */
	FILE *frames_log;
	bool stats;
	unsigned frames;
	bool key_pending;
	double key_t0;
	char key_name[16];
	double sum_cached_ms, sum_rendered_ms;
	unsigned n_cached, n_rendered;
	bool last_cached;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void quit(struct viewer *v)
{
	g_main_loop_quit(v->loop);
}

/* ---- drawing ---- */

static void draw_info(struct viewer *v, cairo_t *cr)
{
	char line1[512], line2[256];
	double fs = v->out_h / 40.0, pad, w1, w2, bw, bh;
	cairo_text_extents_t e;
	const char *name = view_doc_path(v->doc);
	const char *slash = strrchr(name, '/');
	double dw, dh;
	const char *fit = v->geom.fit == VIEW_FIT_PAGE ? "fit page" : v->geom.fit == VIEW_FIT_WIDTH ? "fit width" : "zoom";

	if (slash && slash[1])
		name = slash + 1;
	if (fs < 10)
		fs = 10;
	if (fs > 28)
		fs = 28;
	pad = fs / 2;
	view_doc_page_size(v->doc, v->page, &dw, &dh);
	snprintf(line1, sizeof(line1), "%s  %s %.0fx%.0f%s", name, view_doc_format(v->doc), dw, dh,
		 view_doc_kind(v->doc) == VIEW_DOC_PDF ? " pt" : "");
	snprintf(line2, sizeof(line2), "page %d/%d  zoom %.0f%% (%s)  file %u/%u", v->page + 1,
		 view_doc_pages(v->doc), view_geom_scale(&v->geom) * 100, fit, v->cur + 1, v->nfiles);
	cairo_select_font_face(cr, "monospace", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, fs);
	cairo_text_extents(cr, line1, &e);
	w1 = e.x_advance;
	cairo_text_extents(cr, line2, &e);
	w2 = e.x_advance;
	bw = (w1 > w2 ? w1 : w2) + 2 * pad;
	bh = 2 * fs * 1.3 + 2 * pad;
	cairo_rectangle(cr, pad, v->out_h - bh - pad, bw, bh);
	cairo_set_source_rgba(cr, 0, 0, 0, 0.75);
	cairo_fill(cr);
	cairo_set_source_rgb(cr, 1, 1, 0.6);
	cairo_move_to(cr, 2 * pad, v->out_h - bh + fs * 1.1);
	cairo_show_text(cr, line1);
	cairo_move_to(cr, 2 * pad, v->out_h - bh + fs * 2.4);
	cairo_show_text(cr, line2);
}

static void present(struct viewer *v)
{
	struct vgi_rect all = { 0, 0, v->out_w, v->out_h };
	struct vgi_image img = {
		.width = v->out_w, .height = v->out_h,
		.stride = (uint32_t)cairo_image_surface_get_stride(v->frame),
		.format = DRM_FORMAT_XRGB8888,
		.data = cairo_image_surface_get_data(v->frame),
	};

#if VGI_HAVE_DRM_DISPLAY
	if (v->use_drm) {
		vgi_drm_display_present(v->drm, &img, &all, 1);
		if (vgi_drm_display_active(v->drm))
			vgi_drm_display_flush(v->drm, 1000);
		return;
	}
#endif
	if (!v->scanout_sent) {
		struct vgi_scanout so = { .enabled = true, .width = v->out_w, .height = v->out_h,
					  .format = DRM_FORMAT_XRGB8888 };

		v->sink.ops->scanout(v->sink.sink, 0, &so);
		v->scanout_sent = true;
	}
	v->sink.ops->update(v->sink.sink, 0, &all, &img);
}

static const char *fit_name(enum view_fit f)
{
	return f == VIEW_FIT_PAGE ? "page" : f == VIEW_FIT_WIDTH ? "width" : "zoom";
}

static gboolean prerender_cb(gpointer data);
static void restart_slideshow(struct viewer *v);

/* Render the current page into the frame and show it. */
static void redraw(struct viewer *v)
{
	uint32_t pw, ph;
	int64_t x, y;
	cairo_surface_t *page;
	bool cached = false;
	cairo_t *cr;

	if (!v->doc || !v->frame)
		return;
	view_geom_clamp(&v->geom);
	view_geom_page_px(&v->geom, &pw, &ph);
	view_geom_place(&v->geom, &x, &y);
	page = view_doc_render(v->doc, v->page, view_geom_scale(&v->geom), pw, ph, &cached);
	cr = cairo_create(v->frame);
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_paint(cr);
	if (page) {
		cairo_set_source_surface(cr, page, (double)x, (double)y);
		cairo_paint(cr);
	}
	if (v->info)
		draw_info(v, cr);
	cairo_destroy(cr);
	cairo_surface_flush(v->frame);
	present(v);
	v->frames++;
	v->last_cached = cached;
	if (v->frames_log) {
		fprintf(v->frames_log, "frame %u file=%s page=%d/%d scale=%.4f page_px=%ux%u at=%lld,%lld fit=%s info=%d cached=%d\n",
			v->frames - 1, view_doc_path(v->doc), v->page + 1, view_doc_pages(v->doc),
			view_geom_scale(&v->geom), pw, ph, (long long)x, (long long)y, fit_name(v->geom.fit), v->info,
			cached);
		fflush(v->frames_log);
	}
	if (v->key_pending) {
		double ms = now_ms() - v->key_t0;

		v->key_pending = false;
		if (cached) {
			v->sum_cached_ms += ms;
			v->n_cached++;
		} else {
			v->sum_rendered_ms += ms;
			v->n_rendered++;
		}
		if (v->stats)
			fprintf(stderr, "vgi-view: key %s -> page %d shown in %.3f ms (%s)\n", v->key_name, v->page + 1,
				ms, cached ? "pre-rendered" : "rendered on demand");
	}
	if (!v->no_prerender && view_doc_kind(v->doc) == VIEW_DOC_PDF && !v->prerender_src)
		v->prerender_src = g_idle_add_full(G_PRIORITY_LOW, prerender_cb, v, NULL);
	restart_slideshow(v);
}

/* The size a page would be rendered at with the current fit/zoom. */
static void page_px_for(struct viewer *v, int page, uint32_t *w, uint32_t *h)
{
	struct view_geom g = v->geom;
	double dw, dh;

	view_doc_page_size(v->doc, page, &dw, &dh);
	view_geom_new_page(&g, dw, dh);
	view_geom_page_px(&g, w, h);
}

/* One page per call: the next, then the previous. */
static gboolean prerender_cb(gpointer data)
{
	struct viewer *v = data;
	int want[2] = { v->page + 1, v->page - 1 };

	if (!v->doc)
		goto done;
	for (int i = 0; i < 2; i++) {
		uint32_t w, h;
		bool cached;

		if (want[i] < 0 || want[i] >= view_doc_pages(v->doc))
			continue;
		page_px_for(v, want[i], &w, &h);
		if (!w || view_doc_cached(v->doc, want[i], w, h))
			continue;
		view_doc_render(v->doc, want[i], 0, w, h, &cached);
		/* keep the page on screen the most recently used */
		page_px_for(v, v->page, &w, &h);
		view_doc_render(v->doc, v->page, 0, w, h, &cached);
		return G_SOURCE_CONTINUE;
	}
done:
	v->prerender_src = 0;
	return G_SOURCE_REMOVE;
}

/* ---- files ---- */

static void set_page(struct viewer *v, int page)
{
	double dw, dh;

	v->page = page;
	view_doc_page_size(v->doc, page, &dw, &dh);
	view_geom_new_page(&v->geom, dw, dh);
}

/*
 * Open file idx (or the next readable one in direction dir, wrapping when
 * wrap) at page (negative: from the end). false when none can be shown.
 */
static bool open_file(struct viewer *v, unsigned idx, int dir, int page, bool wrap)
{
	for (unsigned tries = 0; tries < v->nfiles; tries++) {
		struct view_doc *d;
		char *err = NULL;

		if (!v->failed[idx]) {
			if (view_doc_open(v->files[idx], &d, &err) == 0) {
				view_doc_free(v->doc);
				if (v->prerender_src) {
					g_source_remove(v->prerender_src);
					v->prerender_src = 0;
				}
				v->doc = d;
				v->cur = idx;
				v->geom.fit = v->fit_default;
				v->geom.no_upscale = view_doc_kind(d) == VIEW_DOC_IMAGE;
				v->geom.pan_x = v->geom.pan_y = 0;
				if (page < 0)
					page = view_doc_pages(d) + page;
				if (page < 0)
					page = 0;
				if (page >= view_doc_pages(d))
					page = view_doc_pages(d) - 1;
				set_page(v, page);
				return true;
			}
			fprintf(stderr, "vgi-view: %s, skipped\n", err ? err : v->files[idx]);
			free(err);
			v->failed[idx] = true;
		}
		if (dir >= 0) {
			if (idx + 1 >= v->nfiles && !wrap)
				return false;
			idx = (idx + 1) % v->nfiles;
		} else {
			if (idx == 0 && !wrap)
				return false;
			idx = idx ? idx - 1 : v->nfiles - 1;
		}
	}
	return false;
}

static bool all_failed(const struct viewer *v)
{
	for (unsigned i = 0; i < v->nfiles; i++) {
		if (!v->failed[i])
			return false;
	}
	return true;
}

/* Forward by n pages (across files); false at the end. */
static bool go_next(struct viewer *v, int n, bool wrap)
{
	if (v->page + n < view_doc_pages(v->doc)) {
		set_page(v, v->page + n);
		return true;
	}
	if (v->page + 1 < view_doc_pages(v->doc)) {
		set_page(v, view_doc_pages(v->doc) - 1);
		return true;
	}
	if (v->cur + 1 < v->nfiles && open_file(v, v->cur + 1, 1, 0, false))
		return true;
	if (wrap && open_file(v, v->cur + 1 < v->nfiles ? v->cur + 1 : 0, 1, 0, true))
		return true;
	return false;
}

static bool go_prev(struct viewer *v, int n)
{
	if (v->page > 0) {
		set_page(v, v->page - n < 0 ? 0 : v->page - n);
		return true;
	}
	if (v->cur > 0 && open_file(v, v->cur - 1, -1, -1, false))
		return true;
	return false;
}

/* ---- commands ---- */

static void command(struct viewer *v, const struct view_cmd *c)
{
	bool changed = false;
	int64_t step_x = v->out_w / 8 ? v->out_w / 8 : 1, step_y = v->out_h / 8 ? v->out_h / 8 : 1;
	int pages = view_doc_pages(v->doc);

	switch (c->type) {
	case VIEW_CMD_NONE:
		break;
	case VIEW_CMD_NEXT:
		changed = go_next(v, c->arg, false);
		break;
	case VIEW_CMD_PREV:
		changed = go_prev(v, c->arg);
		break;
	case VIEW_CMD_GOTO:
		if (pages > 1 || v->nfiles == 1) {
			int p = c->arg == 0 || c->arg > pages ? pages - 1 : c->arg - 1;

			changed = p != v->page;
			if (changed)
				set_page(v, p);
		} else {
			unsigned f = c->arg == 0 || (unsigned)c->arg > v->nfiles ? v->nfiles - 1 : (unsigned)c->arg - 1;

			if (f != v->cur)
				changed = open_file(v, f, 1, 0, false);
		}
		break;
	case VIEW_CMD_ZOOM_IN:
		changed = view_geom_zoom(&v->geom, VIEW_ZOOM_STEP);
		break;
	case VIEW_CMD_ZOOM_OUT:
		changed = view_geom_zoom(&v->geom, 1 / VIEW_ZOOM_STEP);
		break;
	case VIEW_CMD_FIT_PAGE:
	case VIEW_CMD_FIT_WIDTH:
		view_geom_set_fit(&v->geom, c->type == VIEW_CMD_FIT_PAGE ? VIEW_FIT_PAGE : VIEW_FIT_WIDTH);
		changed = true;
		break;
	case VIEW_CMD_PAN:
		changed = view_geom_pan(&v->geom, c->dx * step_x, c->dy * step_y);
		break;
	case VIEW_CMD_INFO:
		v->info = !v->info;
		changed = true;
		break;
	case VIEW_CMD_QUIT:
		quit(v);
		return;
	}
	if (changed)
		redraw(v);
	else
		v->key_pending = false;
}

static void key(struct viewer *v, int sym)
{
	struct view_cmd c;
	char buf[8];

	if (sym == VK_NONE)
		return;
	c = view_keys_feed(&v->keys, sym);
	if (c.type == VIEW_CMD_NONE)
		return;
	v->key_pending = true;
	v->key_t0 = now_ms();
	snprintf(v->key_name, sizeof(v->key_name), "%s", view_keys_name(sym, buf));
	command(v, &c);
}

/* ---- slideshow ---- */

static gboolean slide_cb(gpointer data)
{
	struct viewer *v = data;

	v->slide_src = 0;
	if (!go_next(v, 1, !v->once)) {
		if (v->once)
			quit(v);
		return G_SOURCE_REMOVE;
	}
	redraw(v);
	return G_SOURCE_REMOVE;
}

static void restart_slideshow(struct viewer *v)
{
	if (v->slide_s <= 0)
		return;
	if (v->slide_src)
		g_source_remove(v->slide_src);
	v->slide_src = g_timeout_add((guint)(v->slide_s * 1000 + 0.5), slide_cb, v);
}

/* ---- key sources ---- */

static gboolean script_cb(gpointer data)
{
	struct viewer *v = data;

	v->script_src = 0;
	if (v->script_pos < v->nscript)
		key(v, v->script[v->script_pos++]);
	if (v->script_pos < v->nscript && g_main_loop_is_running(v->loop))
		v->script_src = v->key_delay_ms ? g_timeout_add(v->key_delay_ms, script_cb, v)
						: g_idle_add(script_cb, v);
	return G_SOURCE_REMOVE;
}

static int add_script(struct viewer *v, const char *text, const char *what)
{
	size_t pos = 0;
	int syms[64], n;

	while ((n = view_keys_parse_script(text, &pos, syms, 64)) != 0) {
		if (n < 0) {
			fprintf(stderr, "vgi-view: %s: unknown key name near offset %zu\n", what, pos);
			return -EINVAL;
		}
		if (v->nscript + (size_t)n > MAX_SCRIPT_KEYS) {
			fprintf(stderr, "vgi-view: %s: more than %d keys\n", what, MAX_SCRIPT_KEYS);
			return -E2BIG;
		}
		v->script = realloc(v->script, (v->nscript + (size_t)n) * sizeof(int));
		if (!v->script)
			return -ENOMEM;
		memcpy(v->script + v->nscript, syms, (size_t)n * sizeof(int));
		v->nscript += (size_t)n;
	}
	return 0;
}

static void term_restore(struct viewer *v)
{
	if (v->term_raw) {
		tcsetattr(v->term_fd, TCSANOW, &v->term_saved);
		v->term_raw = false;
	}
}

static void term_drain(struct viewer *v, bool final)
{
	size_t used;
	int sym;

	while (v->term_len && (used = view_keys_from_term(v->term_buf, v->term_len, final, &sym)) > 0) {
		memmove(v->term_buf, v->term_buf + used, v->term_len - used);
		v->term_len -= used;
		key(v, sym);
	}
}

static gboolean term_timer_cb(gpointer data)
{
	struct viewer *v = data;

	v->term_timer = 0;
	term_drain(v, true);
	return G_SOURCE_REMOVE;
}

static gboolean term_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct viewer *v = data;
	ssize_t n;

	n = read(fd, v->term_buf + v->term_len, sizeof(v->term_buf) - v->term_len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return G_SOURCE_CONTINUE;
		/* end of input: keys from elsewhere may still come */
		term_drain(v, true);
		v->term_watch = 0;
		return G_SOURCE_REMOVE;
	}
	v->term_len += (size_t)n;
	term_drain(v, false);
	if (v->term_len == sizeof(v->term_buf))
		v->term_len = 0;	/* an endless escape sequence: drop it */
	if (v->term_len && !v->term_timer)
		v->term_timer = g_timeout_add(50, term_timer_cb, v);
	return G_SOURCE_CONTINUE;
}

static void term_start(struct viewer *v)
{
	struct termios t;
	struct stat st;

	v->term_fd = STDIN_FILENO;
	if (fstat(v->term_fd, &st) < 0)
		return;
	if (isatty(v->term_fd)) {
		if (tcgetattr(v->term_fd, &v->term_saved) == 0) {
			t = v->term_saved;
			t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
			t.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(v->term_fd, TCSANOW, &t) == 0)
				v->term_raw = true;
		}
	} else if (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		return;
	}
	v->term_watch = g_unix_fd_add(v->term_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, term_cb, v);
}

#ifdef VGI_HAVE_EVDEV
static void evdev_event(void *opaque, unsigned dev, const struct vgi_input_event *ev)
{
	struct viewer *v = opaque;

	if (ev->type == EV_KEY)
		key(v, view_keys_from_evdev(&v->keys, ev->code, ev->value));
}

static gboolean evdev_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct viewer *v = data;

	vgi_evdev_dispatch(v->evdev);
	return G_SOURCE_CONTINUE;
}

/* A device with the keys the viewer uses. */
static bool is_keyboard(const char *path)
{
	struct libevdev *dev = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	bool ok = false;

	if (fd < 0)
		return false;
	if (libevdev_new_from_fd(fd, &dev) == 0) {
		ok = libevdev_has_event_code(dev, EV_KEY, KEY_J) && libevdev_has_event_code(dev, EV_KEY, KEY_Q);
		libevdev_free(dev);
	}
	close(fd);
	return ok;
}

static int evdev_start(struct viewer *v, char **inputs, unsigned ninputs)
{
	struct vgi_evdev_config cfg = {
		/* Scroll Lock hands the keyboards to the console and back (rarely hit by accident) */
		.grab = { .toggle = VGI_GRAB_TOGGLE_SCROLLLOCK, .grab_all = true, .repeat = true, .start_grabbed = true },
		.no_hotplug = true,
	};
	static const struct vgi_evdev_ops ops = { .event = evdev_event };
	unsigned added = 0;

	v->evdev = vgi_evdev_new(&cfg, &ops, v);
	if (!v->evdev)
		return -ENOMEM;
	if (ninputs) {
		for (unsigned i = 0; i < ninputs; i++) {
			int r = vgi_evdev_add(v->evdev, inputs[i]);

			if (r < 0)
				fprintf(stderr, "vgi-view: input %s: %s\n", inputs[i], strerror(-r));
			else
				added++;
		}
	} else {
		DIR *d = opendir("/dev/input");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[300];

			if (strncmp(de->d_name, "event", 5))
				continue;
			snprintf(path, sizeof(path), "/dev/input/%s", de->d_name);
			if (is_keyboard(path) && vgi_evdev_add(v->evdev, path) >= 0)
				added++;
		}
		if (d)
			closedir(d);
	}
	if (!added) {
		vgi_evdev_free(v->evdev);
		v->evdev = NULL;
		return -ENODEV;
	}
	for (unsigned i = 0; i < vgi_evdev_count(v->evdev); i++)
		fprintf(stderr, "vgi-view: keyboard %s\n", vgi_evdev_path(v->evdev, i));
	v->evdev_watch = g_unix_fd_add(vgi_evdev_get_fd(v->evdev), G_IO_IN, evdev_cb, v);
	return 0;
}

/* Grab the keyboards while the viewer is shown, release them while another VT is. */
static void evdev_set_grab(struct viewer *v, bool on)
{
	if (v->evdev && vgi_evdev_count(v->evdev) && vgi_evdev_is_grabbed(v->evdev, 0) != on)
		vgi_evdev_request_toggle(v->evdev, 0);
}
#endif

/* ---- outputs ---- */

static void set_output_size(struct viewer *v, uint32_t w, uint32_t h)
{
	if (w == v->out_w && h == v->out_h && v->frame)
		return;
	if (v->frame)
		cairo_surface_destroy(v->frame);
	v->out_w = w;
	v->out_h = h;
	v->frame = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
	v->scanout_sent = false;
	v->geom.out_w = w;
	v->geom.out_h = h;
}

static void host_output_changed(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	struct viewer *v = opaque;

	if (id || !connected || !w || !h || w > 16384 || h > 16384 || (w == v->out_w && h == v->out_h))
		return;
	set_output_size(v, w, h);
	redraw(v);
}

static void host_input(void *opaque, uint32_t id, const struct vgi_input_event *ev)
{
	struct viewer *v = opaque;

	if (ev->type == EV_KEY)
		key(v, view_keys_from_evdev(&v->keys, ev->code, ev->value));
}

static void host_quit(void *opaque)
{
	quit(opaque);
}

#if VGI_HAVE_DRM_DISPLAY
static gboolean drm_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct viewer *v = data;
	bool active;

	vgi_drm_display_dispatch(v->drm);
	active = vgi_drm_display_active(v->drm);
	if (active != v->vt_active) {
		v->vt_active = active;
		fprintf(stderr, "vgi-view: VT %s\n", active ? "back: keyboard grabbed" : "switched away: keyboard released");
#ifdef VGI_HAVE_EVDEV
		evdev_set_grab(v, active);
#endif
		if (active)
			redraw(v);
	}
	return G_SOURCE_CONTINUE;
}

static int drm_start(struct viewer *v, const char *spec)
{
	struct vgi_drm_display_options o = { 0 };
	struct vgi_options opts;
	const char *mode, *vt, *unused;
	int ret;

	ret = vgi_options_parse(&opts, spec);
	if (ret < 0) {
		fprintf(stderr, "vgi-view: bad --display '%s'\n", spec);
		return ret;
	}
	o.card = vgi_options_get(&opts, "card");
	o.connector = vgi_options_get(&opts, "connector");
	mode = vgi_options_get(&opts, "mode");
	vt = vgi_options_get(&opts, "vt");
	if (mode) {
		unsigned w, h;
		char end;

		if (sscanf(mode, "%ux%u%c", &w, &h, &end) != 2 || !w || !h || w > 16384 || h > 16384) {
			fprintf(stderr, "vgi-view: drm: mode must be WIDTHxHEIGHT, not '%s'\n", mode);
			ret = -EINVAL;
			goto out;
		}
		o.width = w;
		o.height = h;
	}
	if (vt && !strcmp(vt, "off"))
		o.no_vt = true;
	else if (vt && *vt)
		o.tty = vt;
	unused = vgi_options_unused(&opts);
	if (unused) {
		fprintf(stderr, "vgi-view: drm: unknown option '%s' (card=, connector=, mode=, vt=)\n", unused);
		ret = -EINVAL;
		goto out;
	}
	ret = vgi_drm_display_open(&o, &v->drm);
	if (ret < 0) {
		fprintf(stderr, "vgi-view: cannot open the DRM display: %s\n", strerror(-ret));
		goto out;
	}
	{
		uint32_t w, h;

		vgi_drm_display_size(v->drm, &w, &h);
		set_output_size(v, w, h);
		fprintf(stderr, "vgi-view: %s %s %ux%u\n", vgi_drm_display_card(v->drm),
			vgi_drm_display_connector(v->drm), w, h);
	}
	v->use_drm = true;
	v->vt_active = vgi_drm_display_active(v->drm);
	v->drm_watch = g_unix_fd_add(vgi_drm_display_get_fd(v->drm), G_IO_IN, drm_cb, v);
out:
	vgi_options_finish(&opts);
	return ret;
}
#endif

static int output_start(struct viewer *v, const char *spec, uint32_t w, uint32_t h)
{
	static struct vgi_display_host host;
	char *s = NULL;
	int ret;

	if (!strcmp(spec, "drm") || !strncmp(spec, "drm,", 4)) {
#if VGI_HAVE_DRM_DISPLAY
		return drm_start(v, spec);
#else
		fprintf(stderr, "vgi-view: this build has no DRM display\n");
		return -ENOENT;
#endif
	}
	host = (struct vgi_display_host){ .output_changed = host_output_changed, .input = host_input,
					  .quit = host_quit, .opaque = v };
	/* headless with a directory: keep every frame shown */
	if (!strncmp(spec, "headless,", 9) && strstr(spec, "dir=") && !strstr(spec, "numbered"))
		s = g_strconcat(spec, ",numbered", NULL);
	set_output_size(v, w, h);
	ret = vgi_display_sink_new(s ? s : spec, &host, &v->sink);
	g_free(s);
	if (ret < 0) {
		fprintf(stderr, "vgi-view: cannot open the display '%s': %s (built in: %s)\n", spec, strerror(-ret),
			vgi_display_sink_names());
		return ret;
	}
	v->have_sink = true;
	v->vt_active = true;
	return 0;
}

static bool on_console(void)
{
	struct vt_stat st;

	return ioctl(STDIN_FILENO, VT_GETSTATE, &st) == 0;
}

/* ---- files on the command line ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(GPtrArray *list, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		GPtrArray *sub = g_ptr_array_new();

		if (!d) {
			fprintf(stderr, "vgi-view: %s: %s, skipped\n", path, strerror(errno));
			g_ptr_array_free(sub, TRUE);
			return;
		}
		while ((de = readdir(d))) {
			char *p;
			struct stat fst;

			if (de->d_name[0] == '.')
				continue;
			p = g_build_filename(path, de->d_name, NULL);
			if (stat(p, &fst) == 0 && S_ISREG(fst.st_mode))
				g_ptr_array_add(sub, p);
			else
				g_free(p);
		}
		closedir(d);
		qsort(sub->pdata, sub->len, sizeof(char *), cmp_str);
		for (unsigned i = 0; i < sub->len; i++)
			g_ptr_array_add(list, sub->pdata[i]);
		g_ptr_array_free(sub, TRUE);
		return;
	}
	g_ptr_array_add(list, g_strdup(path));
}

static gboolean signal_cb(gpointer data)
{
	quit(data);
	return G_SOURCE_CONTINUE;
}

static unsigned long vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmHWM: %lu", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vgi-view [OPTIONS] FILE|DIR...\n"
		"Show images (PNG, JPEG, GIF, BMP, TIFF, WebP, PNM... through gdk-pixbuf) and PDF pages\n"
		"on a DRM/KMS console, an SDL window or headless PNG files.\n"
		"\n"
		"Options:\n"
		"  --display SPEC     drm[,card=/dev/dri/cardN][,connector=NAME][,mode=WxH][,vt=/dev/ttyN|off]\n"
		"                     (default on a console), sdl, headless[,dir=DIR] (each frame as PNG)\n"
		"  --size WxH         window / headless size (default 1024x768)\n"
		"  --fit page|width   initial fit (default page; images are never enlarged by a fit)\n"
		"  --timeout SEC      slideshow: next page or file after SEC seconds\n"
		"  --once             slideshow: stop after the last (default: loop)\n"
		"  --random           random order\n"
		"  --seed N           fixed seed for --random\n"
		"  --info             start with the info overlay on\n"
		"  --input DEV        keyboard evdev device (repeatable; default: every keyboard in /dev/input),\n"
		"                     grabbed while shown; Scroll Lock releases / grabs it again\n"
		"  --no-evdev         use the terminal (raw mode on standard input) for keys\n"
		"  --keys \"j j 3g q\"  scripted keys (after the first frame)\n"
		"  --keys-file FILE   scripted keys from FILE\n"
		"  --key-delay MS     pause between scripted keys\n"
		"  --no-prerender     do not render the next and previous pages ahead\n"
		"  --frames-log FILE  one line per frame shown\n"
		"  --stats            print key-to-frame times and peak memory at exit\n"
		"  -v, --verbose      debug log\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n"
		"\n"
		"Keys: PgDn space j n next, PgUp k p previous, N g go to page N (G last), + - zoom,\n"
		"a fit page, w fit width, arrows (or h l) pan, i info, q Esc quit.\n");
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "display", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "fit", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "once", no_argument, NULL, 'o' },
		{ "random", no_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "info", no_argument, NULL, 'i' },
		{ "input", required_argument, NULL, 'I' },
		{ "no-evdev", no_argument, NULL, 'E' },
		{ "keys", required_argument, NULL, 'k' },
		{ "keys-file", required_argument, NULL, 'K' },
		{ "key-delay", required_argument, NULL, 'D' },
		{ "no-prerender", no_argument, NULL, 'P' },
		{ "frames-log", required_argument, NULL, 'L' },
		{ "stats", no_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct viewer v = { .fit_default = VIEW_FIT_PAGE, .term_fd = -1 };
	const char *display = NULL;
	uint32_t w = 1024, h = 768;
	char **inputs = NULL;
	unsigned ninputs = 0;
	bool no_evdev = false, have_seed = false;
	guint32 seed = 0;
	GPtrArray *list;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			display = optarg;
			break;
		case 's': {
			char end;

			if (sscanf(optarg, "%ux%u%c", &w, &h, &end) != 2 || w < 16 || h < 16 || w > 16384 || h > 16384) {
				fprintf(stderr, "vgi-view: --size must be WxH within 16..16384, not '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'f':
			if (!strcmp(optarg, "page"))
				v.fit_default = VIEW_FIT_PAGE;
			else if (!strcmp(optarg, "width"))
				v.fit_default = VIEW_FIT_WIDTH;
			else {
				fprintf(stderr, "vgi-view: --fit must be page or width\n");
				return 2;
			}
			break;
		case 't': {
			char *end;

			v.slide_s = strtod(optarg, &end);
			if (*end || !(v.slide_s > 0 && v.slide_s < 86400)) {
				fprintf(stderr, "vgi-view: --timeout must be seconds > 0, not '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'o':
			v.once = true;
			break;
		case 'r':
			v.random = true;
			break;
		case 'S':
			seed = (guint32)strtoul(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'i':
			v.info = true;
			break;
		case 'I':
			inputs = realloc(inputs, (ninputs + 1) * sizeof(*inputs));
			if (!inputs)
				return 1;
			inputs[ninputs++] = optarg;
			break;
		case 'E':
			no_evdev = true;
			break;
		case 'k':
			if (add_script(&v, optarg, "--keys") < 0)
				return 2;
			break;
		case 'K': {
			gchar *text = NULL;
			GError *e = NULL;

			if (!g_file_get_contents(optarg, &text, NULL, &e)) {
				fprintf(stderr, "vgi-view: --keys-file: %s\n", e->message);
				g_error_free(e);
				return 2;
			}
			ret = add_script(&v, text, optarg);
			g_free(text);
			if (ret < 0)
				return 2;
			break;
		}
		case 'D':
			v.key_delay_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'P':
			v.no_prerender = true;
			break;
		case 'L':
			v.frames_log = fopen(optarg, "w");
			if (!v.frames_log) {
				fprintf(stderr, "vgi-view: --frames-log %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'T':
			v.stats = true;
			break;
		case 'v':
			vgi_log_set_level(VGI_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vgi-view %s\n", VGI_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	list = g_ptr_array_new();
	for (int i = optind; i < argc; i++)
		add_file(list, argv[i]);
	if (!list->len) {
		fprintf(stderr, "vgi-view: no files to show\n");
		g_ptr_array_free(list, TRUE);
		return 1;
	}
	v.nfiles = list->len;
	v.files = (char **)g_ptr_array_free(list, FALSE);
	v.failed = calloc(v.nfiles, sizeof(bool));
	if (v.random) {
		GRand *r = have_seed ? g_rand_new_with_seed(seed) : g_rand_new();

		for (unsigned i = v.nfiles; i > 1; i--) {
			unsigned j = (unsigned)g_rand_int_range(r, 0, (gint32)i);
			char *t = v.files[i - 1];

			v.files[i - 1] = v.files[j];
			v.files[j] = t;
		}
		g_rand_free(r);
	}
	view_keys_init(&v.keys);
	v.loop = g_main_loop_new(NULL, FALSE);

	/* the first file that opens, before touching the display */
	if (!open_file(&v, 0, 1, 0, false)) {
		fprintf(stderr, "vgi-view: none of the %u file%s could be shown\n", v.nfiles, v.nfiles == 1 ? "" : "s");
		ret = 1;
		goto out;
	}
	if (!display) {
		if (on_console() || (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")))
			display = "drm";
		else
			display = "sdl";
	}
	if (output_start(&v, display, w, h) < 0) {
		ret = 1;
		goto out;
	}
#ifdef VGI_HAVE_EVDEV
	if (!no_evdev && evdev_start(&v, inputs, ninputs) == 0) {
		/* keys come from the grabbed keyboards */
	} else
#endif
	{
		(void)no_evdev;
		term_start(&v);
	}
	g_unix_signal_add(SIGINT, signal_cb, &v);
	g_unix_signal_add(SIGTERM, signal_cb, &v);
	g_unix_signal_add(SIGHUP, signal_cb, &v);

	redraw(&v);
	if (v.nscript)
		v.script_src = v.key_delay_ms ? g_timeout_add(v.key_delay_ms, script_cb, &v) : g_idle_add(script_cb, &v);
	g_main_loop_run(v.loop);

out:
	term_restore(&v);
	if (v.stats) {
		fprintf(stderr, "vgi-view: %u frames, %u pages rendered", v.frames,
			v.doc ? view_doc_render_count(v.doc) : 0);
		if (v.n_cached)
			fprintf(stderr, ", pre-rendered page turns %.3f ms on average (%u)", v.sum_cached_ms / v.n_cached,
				v.n_cached);
		if (v.n_rendered)
			fprintf(stderr, ", rendered on demand %.3f ms on average (%u)", v.sum_rendered_ms / v.n_rendered,
				v.n_rendered);
		fprintf(stderr, "\nvgi-view: peak memory (VmHWM) %lu kB\n", vm_hwm_kb());
	}
	if (ret == 0 && all_failed(&v))
		ret = 1;
	if (v.slide_src)
		g_source_remove(v.slide_src);
	if (v.prerender_src)
		g_source_remove(v.prerender_src);
	if (v.script_src)
		g_source_remove(v.script_src);
	if (v.term_watch)
		g_source_remove(v.term_watch);
	if (v.term_timer)
		g_source_remove(v.term_timer);
#ifdef VGI_HAVE_EVDEV
	if (v.evdev_watch)
		g_source_remove(v.evdev_watch);
	vgi_evdev_free(v.evdev);	/* releases the grabs */
#endif
#if VGI_HAVE_DRM_DISPLAY
	if (v.drm_watch)
		g_source_remove(v.drm_watch);
	vgi_drm_display_free(v.drm);
#endif
	if (v.have_sink)
		v.sink.ops->destroy(v.sink.sink);
	if (v.frame)
		cairo_surface_destroy(v.frame);
	view_doc_free(v.doc);
	for (unsigned i = 0; i < v.nfiles; i++)
		g_free(v.files[i]);
	g_free(v.files);
	free(v.failed);
	free(v.script);
	free(inputs);
	if (v.frames_log)
		fclose(v.frames_log);
	g_main_loop_unref(v.loop);
	return ret;
}
