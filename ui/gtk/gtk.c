// SPDX-License-Identifier: MIT
/*
 * GTK 3 display sink: scanouts as tabs of one window (GtkNotebook, the
 * default) or one window each ("windows" option), each a GtkDrawingArea
 * painted with cairo from a copy of the scanout.
 *
 * Damage: the rectangle is copied into the scanout's cairo image and only
 * that area of the widget is invalidated, so GTK repaints (and sends to the
 * X server) just that part. A scaled view (window not the scanout's size)
 * repaints the matching part of the scaled picture.
 *
 * No GL path: the ops have no scanout_gl, so the device reads 3D scanouts
 * back into pixels for this sink.
 *
 * Keys: on X11 and Wayland the hardware keycode is the evdev code + 8;
 * other backends go through a keyval table.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>
#include <gtk/gtk.h>
#include <linux/input-event-codes.h>
#ifdef GDK_WINDOWING_X11
#include <gdk/gdkx.h>
#endif

#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#include "gtk-keymap.h"
#include "gtk-sink.h"

#define ABS_MAX_VALUE 32767
#define GRAB_EDGE 16

struct gtk_sink;

struct gtk_output {
	struct gtk_sink *sink;
	uint32_t id;
	bool enabled;
	uint32_t width, height;		/* scanout size */
	cairo_surface_t *shadow;	/* CAIRO_FORMAT_RGB24 copy of the scanout */
	GtkWidget *window;		/* own window ("windows") or the shared one */
	GtkWidget *area;
	int alloc_w, alloc_h;
	int rep_w, rep_h;		/* last size reported through output_changed */
	bool sized;			/* the area has had its first allocation */
	double scale, ox, oy;		/* scanout -> widget */
	int dst_w, dst_h;
	GdkCursor *cursor;
	bool cursor_visible;
	bool fullscreen;
	int saved_x, saved_y, saved_w, saved_h;	/* geometry before emulated fullscreen */
	bool emulated_fullscreen;
	double last_x, last_y;		/* pointer, for relative motion while grabbed */
	bool have_last;
	double scroll_acc_x, scroll_acc_y;
};

struct gtk_sink {
	struct vgi_display_host host;
	bool windows;			/* a window per scanout, else tabs */
	GtkWidget *window;		/* tabs: the one window */
	GtkWidget *notebook;
	struct gtk_output out[VGI_MAX_SCANOUTS];
	struct gtk_output *grab;	/* the output holding the grab, or NULL */
	GdkCursor *blank;
	uint8_t keys_down[(KEY_MAX + 8) / 8];
	uint8_t hotkey_down[(KEY_MAX + 8) / 8];
	uint64_t presented;
	bool keycode_is_evdev;
};

/* ---- input to the host ---- */

static void send_ev(struct gtk_sink *s, uint32_t id, uint16_t type, uint16_t code, int32_t value)
{
	struct vgi_input_event ev = { .type = type, .code = code, .value = value };

	if (s->host.input)
		s->host.input(s->host.opaque, id, &ev);
}

static void send_syn(struct gtk_sink *s, uint32_t id)
{
	send_ev(s, id, EV_SYN, SYN_REPORT, 0);
}

static bool bit(const uint8_t *map, unsigned code)
{
	return map[code / 8] & (1u << (code % 8));
}

static void set_bit(uint8_t *map, unsigned code, bool on)
{
	if (on)
		map[code / 8] |= (uint8_t)(1u << (code % 8));
	else
		map[code / 8] &= (uint8_t)~(1u << (code % 8));
}

static void send_key(struct gtk_sink *s, uint32_t id, unsigned code, bool down)
{
	if (code > KEY_MAX || down == bit(s->keys_down, code))
		return;		/* autorepeat (down twice), or a release we never pressed */
	set_bit(s->keys_down, code, down);
	send_ev(s, id, EV_KEY, (uint16_t)code, down ? 1 : 0);
	send_syn(s, id);
}

static void release_all_keys(struct gtk_sink *s, uint32_t id)
{
	for (unsigned code = 0; code <= KEY_MAX; code++)
		if (bit(s->keys_down, code))
			send_key(s, id, code, false);
}

/* ---- layout and drawing ---- */

static void out_layout(struct gtk_output *o)
{
	int w = o->alloc_w, h = o->alloc_h;

	o->scale = 1.0;
	o->ox = o->oy = 0;
	o->dst_w = w;
	o->dst_h = h;
	if (!o->width || !o->height || w <= 0 || h <= 0 || ((uint32_t)w == o->width && (uint32_t)h == o->height))
		return;
	if ((uint64_t)w * o->height <= (uint64_t)h * o->width) {
		o->dst_w = w;
		o->dst_h = (int)((uint64_t)w * o->height / o->width);
	} else {
		o->dst_h = h;
		o->dst_w = (int)((uint64_t)h * o->width / o->height);
	}
	if (o->dst_w < 1)
		o->dst_w = 1;
	if (o->dst_h < 1)
		o->dst_h = 1;
	o->scale = (double)o->dst_w / o->width;
	o->ox = (w - o->dst_w) / 2;
	o->oy = (h - o->dst_h) / 2;
}

static gboolean on_draw(GtkWidget *w, cairo_t *cr, gpointer data)
{
	struct gtk_output *o = data;
	if (!o->shadow) {
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_paint(cr);
		return TRUE;
	}
	cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE);
	if (o->scale == 1.0 && o->ox == 0 && o->oy == 0) {
		/* 1:1; GTK has clipped cr to what was invalidated */
		cairo_set_source_surface(cr, o->shadow, 0, 0);
		cairo_paint(cr);
	} else {
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_paint(cr);
		cairo_translate(cr, o->ox, o->oy);
		cairo_scale(cr, o->scale, o->scale);
		cairo_set_source_surface(cr, o->shadow, 0, 0);
		cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
		cairo_rectangle(cr, 0, 0, o->width, o->height);
		cairo_fill(cr);
	}
	o->sink->presented++;
	return TRUE;
}

static void queue_rect(struct gtk_output *o, const struct vgi_rect *r)
{
	if (!o->area)
		return;
	if (!r) {
		gtk_widget_queue_draw(o->area);
		return;
	}
	if (o->scale == 1.0 && o->ox == 0 && o->oy == 0) {
		gtk_widget_queue_draw_area(o->area, (int)r->x, (int)r->y, (int)r->width, (int)r->height);
	} else {
		/* the scaled rectangle, one pixel wider for the filter */
		int x0 = (int)floor(o->ox + r->x * o->scale) - 1, y0 = (int)floor(o->oy + r->y * o->scale) - 1;
		int x1 = (int)ceil(o->ox + (r->x + r->width) * o->scale) + 1;
		int y1 = (int)ceil(o->oy + (r->y + r->height) * o->scale) + 1;

		gtk_widget_queue_draw_area(o->area, x0, y0, x1 - x0, y1 - y0);
	}
}

/* ---- windows ---- */

static struct gtk_output *current_output(struct gtk_sink *s, GtkWidget *window)
{
	if (s->windows) {
		for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++)
			if (s->out[i].window == window && s->out[i].area)
				return &s->out[i];
		return NULL;
	}
	int page = gtk_notebook_get_current_page(GTK_NOTEBOOK(s->notebook));
	GtkWidget *child = page >= 0 ? gtk_notebook_get_nth_page(GTK_NOTEBOOK(s->notebook), page) : NULL;

	for (unsigned i = 0; i < VGI_MAX_SCANOUTS && child; i++)
		if (s->out[i].area == child)
			return &s->out[i];
	return NULL;
}

static void update_title(struct gtk_sink *s, GtkWidget *window)
{
	struct gtk_output *o = current_output(s, window);
	char title[128];

	if (!window)
		return;
	snprintf(title, sizeof(title), "vgi: scanout %u%s", o ? o->id : 0,
		 s->grab ? " - grabbed (Ctrl+Alt+G to release)" : "");
	gtk_window_set_title(GTK_WINDOW(window), title);
}

static void apply_cursor(struct gtk_output *o)
{
	GdkWindow *gw = o->area ? gtk_widget_get_window(o->area) : NULL;

	if (!gw)
		return;
	if (o->sink->grab)
		gdk_window_set_cursor(gw, o->sink->blank);	/* relative motion: the guest draws it */
	else if (o->cursor)
		gdk_window_set_cursor(gw, o->cursor_visible ? o->cursor : o->sink->blank);
	else
		gdk_window_set_cursor(gw, NULL);
}

static void ungrab(struct gtk_sink *s)
{
	struct gtk_output *o = s->grab;

	if (!o)
		return;
	gdk_seat_ungrab(gdk_display_get_default_seat(gtk_widget_get_display(o->window)));
	s->grab = NULL;
	update_title(s, o->window);
	apply_cursor(o);
}

static void grab(struct gtk_sink *s, struct gtk_output *o)
{
	GdkWindow *gw = gtk_widget_get_window(o->area);
	GdkSeat *seat = gdk_display_get_default_seat(gtk_widget_get_display(o->window));
	GdkGrabStatus st;

	if (!gw)
		return;
	st = gdk_seat_grab(seat, gw, GDK_SEAT_CAPABILITY_ALL, FALSE, s->blank, NULL, NULL, NULL);
	if (st != GDK_GRAB_SUCCESS) {
		vgi_warn("gtk: grab failed (%d)", st);
		return;
	}
	s->grab = o;
	{
		/* relative motion counts from where the pointer is now */
		double px, py;

		gdk_window_get_device_position_double(gw, gdk_seat_get_pointer(seat), &px, &py, NULL);
		o->last_x = px;
		o->last_y = py;
		o->have_last = true;
	}
	update_title(s, o->window);
	apply_cursor(o);
}

static void toggle_fullscreen(struct gtk_output *o)
{
	GtkWindow *win = GTK_WINDOW(o->window);
	bool wm = true;

	o->fullscreen = !o->fullscreen;
#ifdef GDK_WINDOWING_X11
	GdkScreen *screen = gtk_widget_get_screen(o->window);

	if (GDK_IS_X11_SCREEN(screen))
		wm = gdk_x11_screen_supports_net_wm_hint(screen,
							 gdk_atom_intern_static_string("_NET_WM_STATE_FULLSCREEN"));
#endif
	if (o->fullscreen) {
		gtk_window_get_position(win, &o->saved_x, &o->saved_y);
		gtk_window_get_size(win, &o->saved_w, &o->saved_h);
		gtk_window_fullscreen(win);
		if (!wm) {
			/* no window manager to do it: cover the monitor ourselves */
			GdkRectangle geo;
			GdkMonitor *mon = gdk_display_get_monitor_at_window(gtk_widget_get_display(o->window),
									     gtk_widget_get_window(o->window));

			if (mon) {
				gdk_monitor_get_geometry(mon, &geo);
				gtk_window_move(win, geo.x, geo.y);
				gtk_window_resize(win, geo.width, geo.height);
				o->emulated_fullscreen = true;
			}
		}
	} else {
		gtk_window_unfullscreen(win);
		if (o->emulated_fullscreen || !wm) {
			gtk_window_move(win, o->saved_x, o->saved_y);
			gtk_window_resize(win, o->saved_w, o->saved_h);
			o->emulated_fullscreen = false;
		}
	}
}

static gboolean on_key(GtkWidget *window, GdkEventKey *ev, gpointer data)
{
	struct gtk_sink *s = data;
	struct gtk_output *o = current_output(s, window);
	bool down = ev->type == GDK_KEY_PRESS;
	unsigned code;

	if (!o)
		return TRUE;
	code = vgi_gtk_key_to_evdev(ev->hardware_keycode, ev->keyval, s->keycode_is_evdev);
	if (!code || code > KEY_MAX) {
		vgi_debug("gtk: key %u (keyval 0x%x) has no evdev code", ev->hardware_keycode, ev->keyval);
		return TRUE;
	}
	if (down && (ev->state & GDK_CONTROL_MASK) && (ev->state & GDK_MOD1_MASK) &&
	    (code == KEY_G || code == KEY_F)) {
		if (!bit(s->hotkey_down, code)) {
			if (code == KEY_G) {
				if (s->grab)
					ungrab(s);
				else
					grab(s, o);
			} else {
				toggle_fullscreen(o);
			}
		}
		set_bit(s->hotkey_down, code, true);
		return TRUE;
	}
	if (down && (ev->state & GDK_CONTROL_MASK) && (ev->state & GDK_MOD1_MASK) && code >= KEY_1 && code <= KEY_9) {
		/* Ctrl+Alt+N: show scanout N-1 (its tab, or its window) */
		struct gtk_output *t = &s->out[code - KEY_1];

		if (t->area && !s->windows)
			gtk_notebook_set_current_page(GTK_NOTEBOOK(s->notebook),
						      gtk_notebook_page_num(GTK_NOTEBOOK(s->notebook), t->area));
		else if (t->area)
			gtk_window_present(GTK_WINDOW(t->window));
		set_bit(s->hotkey_down, code, true);
		return TRUE;
	}
	if (!down && bit(s->hotkey_down, code)) {
		set_bit(s->hotkey_down, code, false);
		return TRUE;
	}
	send_key(s, o->id, code, down);
	return TRUE;	/* everything goes to the guest, nothing to GTK's accelerators */
}

static gboolean on_focus_out(GtkWidget *window, GdkEventFocus *ev, gpointer data)
{
	struct gtk_sink *s = data;
	struct gtk_output *o = current_output(s, window);

	if (o)
		release_all_keys(s, o->id);
	return FALSE;
}

static gboolean on_delete(GtkWidget *window, GdkEvent *ev, gpointer data)
{
	struct gtk_sink *s = data;

	if (s->host.quit)
		s->host.quit(s->host.opaque);
	return TRUE;	/* the program decides; destroy() removes the window */
}

static gboolean on_motion(GtkWidget *w, GdkEventMotion *ev, gpointer data)
{
	struct gtk_output *o = data;
	struct gtk_sink *s = o->sink;
	double x, y;

	if (!o->enabled)
		return TRUE;
	if (s->grab == o) {
		int dx, dy;

		if (!o->have_last) {
			o->last_x = ev->x, o->last_y = ev->y, o->have_last = true;
			return TRUE;
		}
		dx = (int)lround(ev->x - o->last_x);
		dy = (int)lround(ev->y - o->last_y);
		o->last_x += dx;
		o->last_y += dy;
		if (dx)
			send_ev(s, o->id, EV_REL, REL_X, dx);
		if (dy)
			send_ev(s, o->id, EV_REL, REL_Y, dy);
		if (dx || dy)
			send_syn(s, o->id);
		/* keep the pointer away from the edges: warp it back to the middle */
		if (ev->x < GRAB_EDGE || ev->y < GRAB_EDGE || ev->x > o->alloc_w - GRAB_EDGE ||
		    ev->y > o->alloc_h - GRAB_EDGE) {
			int rx, ry;
			GdkWindow *gw = gtk_widget_get_window(o->area);

			gdk_window_get_root_coords(gw, o->alloc_w / 2, o->alloc_h / 2, &rx, &ry);
			gdk_device_warp(ev->device, gtk_widget_get_screen(o->area), rx, ry);
			o->last_x = o->alloc_w / 2;
			o->last_y = o->alloc_h / 2;
		}
		return TRUE;
	}
	if (o->dst_w <= 0 || o->dst_h <= 0)
		return TRUE;
	x = floor(ev->x - o->ox);
	y = floor(ev->y - o->oy);
	if (x < 0 || y < 0 || x >= o->dst_w || y >= o->dst_h)
		return TRUE;
	send_ev(s, o->id, EV_ABS, ABS_X, o->dst_w > 1 ? (int32_t)((int64_t)x * ABS_MAX_VALUE / (o->dst_w - 1)) : 0);
	send_ev(s, o->id, EV_ABS, ABS_Y, o->dst_h > 1 ? (int32_t)((int64_t)y * ABS_MAX_VALUE / (o->dst_h - 1)) : 0);
	send_syn(s, o->id);
	return TRUE;
}

static gboolean on_button(GtkWidget *w, GdkEventButton *ev, gpointer data)
{
	struct gtk_output *o = data;
	unsigned code;

	if (ev->type != GDK_BUTTON_PRESS && ev->type != GDK_BUTTON_RELEASE)
		return TRUE;	/* double/triple-click synthesis: the guest sees the plain presses */
	switch (ev->button) {
	case 1: code = BTN_LEFT; break;
	case 2: code = BTN_MIDDLE; break;
	case 3: code = BTN_RIGHT; break;
	case 8: code = BTN_SIDE; break;
	case 9: code = BTN_EXTRA; break;
	default: return TRUE;
	}
	if (ev->type == GDK_BUTTON_PRESS)
		gtk_widget_grab_focus(o->area);
	send_key(o->sink, o->id, code, ev->type == GDK_BUTTON_PRESS);
	return TRUE;
}

static gboolean on_scroll(GtkWidget *w, GdkEventScroll *ev, gpointer data)
{
	struct gtk_output *o = data;
	int dx = 0, dy = 0;

	switch (ev->direction) {
	case GDK_SCROLL_UP: dy = 1; break;
	case GDK_SCROLL_DOWN: dy = -1; break;
	case GDK_SCROLL_LEFT: dx = -1; break;
	case GDK_SCROLL_RIGHT: dx = 1; break;
	case GDK_SCROLL_SMOOTH:
		/* GDK's smooth deltas point down/right; evdev's wheel points up */
		o->scroll_acc_x += ev->delta_x;
		o->scroll_acc_y -= ev->delta_y;
		dx = (int)trunc(o->scroll_acc_x);
		dy = (int)trunc(o->scroll_acc_y);
		o->scroll_acc_x -= dx;
		o->scroll_acc_y -= dy;
		break;
	}
	if (dy)
		send_ev(o->sink, o->id, EV_REL, REL_WHEEL, dy);
	if (dx)
		send_ev(o->sink, o->id, EV_REL, REL_HWHEEL, dx);
	if (dx || dy)
		send_syn(o->sink, o->id);
	return TRUE;
}

static gboolean on_crossing(GtkWidget *w, GdkEventCrossing *ev, gpointer data)
{
	struct gtk_output *o = data;

	if (ev->type == GDK_ENTER_NOTIFY)
		o->have_last = false;
	return FALSE;
}

static void on_realize(GtkWidget *w, gpointer data)
{
	apply_cursor(data);
}

static gboolean clear_size_request(gpointer data)
{
	struct gtk_output *o = data;

	if (o->area)
		gtk_widget_set_size_request(o->area, -1, -1);
	return G_SOURCE_REMOVE;
}

static void on_size_allocate(GtkWidget *w, GdkRectangle *a, gpointer data)
{
	struct gtk_output *o = data;
	struct gtk_sink *s = o->sink;

	o->alloc_w = a->width;
	o->alloc_h = a->height;
	out_layout(o);
	if (!s->windows && s->notebook && current_output(s, s->window) != o) {
		/* a background tab follows the window; it is fitted when shown */
		if (!o->sized) {
			o->sized = true;
			o->rep_w = (int)o->width;
			o->rep_h = (int)o->height;
			g_idle_add(clear_size_request, o);
		}
		return;
	}
	if (!o->sized) {
		/* the first allocation: from now on the user may make the window smaller */
		o->sized = true;
		o->rep_w = a->width;
		o->rep_h = a->height;
		g_idle_add(clear_size_request, o);
		return;
	}
	if (a->width > 0 && a->height > 0 && (a->width != o->rep_w || a->height != o->rep_h)) {
		o->rep_w = a->width;
		o->rep_h = a->height;
		if (s->host.output_changed)
			s->host.output_changed(s->host.opaque, o->id, true, (uint32_t)a->width, (uint32_t)a->height);
	}
}

static void out_fit(struct gtk_output *o);

static gboolean fit_idle(gpointer data)
{
	struct gtk_output *o = data;

	if (o->area)
		out_fit(o);
	return G_SOURCE_REMOVE;
}

static void on_switch_page(GtkNotebook *nb, GtkWidget *page, guint n, gpointer data)
{
	struct gtk_sink *s = data;

	/* the title names the page being switched to */
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++)
		if (s->out[i].area == page) {
			char title[128];

			snprintf(title, sizeof(title), "vgi: scanout %u%s", i,
				 s->grab ? " - grabbed (Ctrl+Alt+G to release)" : "");
			gtk_window_set_title(GTK_WINDOW(s->window), title);
			/* once the page has its allocation: size the window for this scanout */
			g_idle_add(fit_idle, &s->out[i]);
		}
}

static GtkWidget *new_window(struct gtk_sink *s)
{
	GtkWidget *w = gtk_window_new(GTK_WINDOW_TOPLEVEL);

	gtk_window_set_title(GTK_WINDOW(w), "vgi");
	g_signal_connect(w, "key-press-event", G_CALLBACK(on_key), s);
	g_signal_connect(w, "key-release-event", G_CALLBACK(on_key), s);
	g_signal_connect(w, "focus-out-event", G_CALLBACK(on_focus_out), s);
	g_signal_connect(w, "delete-event", G_CALLBACK(on_delete), s);
	return w;
}

static void out_create(struct gtk_output *o)
{
	struct gtk_sink *s = o->sink;
	GtkWidget *area = gtk_drawing_area_new();

	o->area = area;
	o->sized = false;
	gtk_widget_set_can_focus(area, TRUE);
	gtk_widget_add_events(area, GDK_POINTER_MOTION_MASK | GDK_BUTTON_PRESS_MASK | GDK_BUTTON_RELEASE_MASK |
				    GDK_SCROLL_MASK | GDK_ENTER_NOTIFY_MASK | GDK_LEAVE_NOTIFY_MASK);
	gtk_widget_set_size_request(area, (int)o->width, (int)o->height);
	g_signal_connect(area, "draw", G_CALLBACK(on_draw), o);
	g_signal_connect(area, "motion-notify-event", G_CALLBACK(on_motion), o);
	g_signal_connect(area, "button-press-event", G_CALLBACK(on_button), o);
	g_signal_connect(area, "button-release-event", G_CALLBACK(on_button), o);
	g_signal_connect(area, "scroll-event", G_CALLBACK(on_scroll), o);
	g_signal_connect(area, "enter-notify-event", G_CALLBACK(on_crossing), o);
	g_signal_connect(area, "realize", G_CALLBACK(on_realize), o);
	g_signal_connect(area, "size-allocate", G_CALLBACK(on_size_allocate), o);
	if (s->windows) {
		o->window = new_window(s);
		if (o->id)
			gtk_window_move(GTK_WINDOW(o->window), 48 * (int)o->id, 48 * (int)o->id);	/* cascade */
		gtk_container_add(GTK_CONTAINER(o->window), area);
		gtk_widget_show_all(o->window);
		update_title(s, o->window);
	} else {
		char label[32];
		int page;

		if (!s->window) {
			s->window = new_window(s);
			s->notebook = gtk_notebook_new();
			gtk_notebook_set_show_border(GTK_NOTEBOOK(s->notebook), FALSE);
			g_signal_connect(s->notebook, "switch-page", G_CALLBACK(on_switch_page), s);
			gtk_container_add(GTK_CONTAINER(s->window), s->notebook);
		}
		o->window = s->window;
		snprintf(label, sizeof(label), "scanout %u", o->id);
		gtk_widget_show(area);
		if (gtk_notebook_get_n_pages(GTK_NOTEBOOK(s->notebook)) == 1) {
			/* the tab bar appears: grow the window rather than shrink the visible scanout */
			struct gtk_output *cur = current_output(s, s->window);

			if (cur && cur->sized) {
				gtk_widget_set_size_request(cur->area, cur->alloc_w, cur->alloc_h);
				g_idle_add(clear_size_request, cur);
			}
		}
		page = gtk_notebook_append_page(GTK_NOTEBOOK(s->notebook), area, gtk_label_new(label));
		gtk_notebook_set_show_tabs(GTK_NOTEBOOK(s->notebook),
					   gtk_notebook_get_n_pages(GTK_NOTEBOOK(s->notebook)) > 1);
		gtk_widget_show_all(s->window);
		if (gtk_notebook_get_n_pages(GTK_NOTEBOOK(s->notebook)) == 1)
			gtk_notebook_set_current_page(GTK_NOTEBOOK(s->notebook), page);
		update_title(s, s->window);
	}
	gtk_widget_grab_focus(area);
}

static void out_destroy(struct gtk_output *o)
{
	struct gtk_sink *s = o->sink;

	if (!o->area)
		return;
	if (s->grab == o)
		ungrab(s);
	g_signal_handlers_disconnect_by_data(o->area, o);
	if (s->windows) {
		gtk_widget_destroy(o->window);
	} else {
		gtk_widget_destroy(o->area);
		gtk_notebook_set_show_tabs(GTK_NOTEBOOK(s->notebook),
					   gtk_notebook_get_n_pages(GTK_NOTEBOOK(s->notebook)) > 1);
		if (!gtk_notebook_get_n_pages(GTK_NOTEBOOK(s->notebook))) {
			gtk_widget_destroy(s->window);
			s->window = s->notebook = NULL;
		}
	}
	g_idle_remove_by_data(o);
	o->area = NULL;
	o->window = NULL;
	o->sized = false;
}

/* The guest changed the scanout's size: make the area that size, window and all. */
static void out_fit(struct gtk_output *o)
{
	int ww, wh;

	if (o->fullscreen || !o->sized)
		return;
	if (o->alloc_w == (int)o->width && o->alloc_h == (int)o->height)
		return;
	/* what the guest chose is not a new request from us */
	o->rep_w = (int)o->width;
	o->rep_h = (int)o->height;
	if (!o->sink->windows && current_output(o->sink, o->window) != o)
		return;		/* a background tab: shown scaled */
	gtk_window_get_size(GTK_WINDOW(o->window), &ww, &wh);
	gtk_window_resize(GTK_WINDOW(o->window), ww + (int)o->width - o->alloc_w, wh + (int)o->height - o->alloc_h);
}

static struct gtk_output *out_get(struct gtk_sink *s, uint32_t id, const char *what)
{
	if (id >= VGI_MAX_SCANOUTS) {
		vgi_warn("gtk: %s: scanout id %u out of range", what, id);
		return NULL;
	}
	return &s->out[id];
}

static void gtk_scanout(void *sink, uint32_t id, const struct vgi_scanout *sc)
{
	struct gtk_sink *s = sink;
	struct gtk_output *o = out_get(s, id, "scanout");

	if (!o || !sc)
		return;
	if (!sc->enabled || !sc->width || !sc->height) {
		out_destroy(o);
		if (o->shadow)
			cairo_surface_destroy(o->shadow);
		o->shadow = NULL;
		o->enabled = false;
		o->width = o->height = 0;
		return;
	}
	if (sc->width > 16384 || sc->height > 16384) {
		vgi_warn("gtk: scanout %u: size %ux%u too large", id, sc->width, sc->height);
		return;
	}
	if (!o->shadow || o->width != sc->width || o->height != sc->height) {
		cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)sc->width, (int)sc->height);

		if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
			vgi_error("gtk: scanout %u: no memory for %ux%u", id, sc->width, sc->height);
			cairo_surface_destroy(img);
			return;
		}
		cairo_surface_flush(img);
		memset(cairo_image_surface_get_data(img), 0,
		       (size_t)cairo_image_surface_get_stride(img) * sc->height);
		cairo_surface_mark_dirty(img);
		if (o->shadow)
			cairo_surface_destroy(o->shadow);
		o->shadow = img;
	}
	o->enabled = true;
	o->width = sc->width;
	o->height = sc->height;
	if (!o->area)
		out_create(o);
	else
		out_fit(o);
	out_layout(o);
	queue_rect(o, NULL);
}

/* One row of any of the 32-bit formats to XRGB8888 (cairo RGB24 on little-endian). */
static bool convert_row(uint32_t *dst, const uint8_t *src, uint32_t n, uint32_t format)
{
	switch (format) {
	case DRM_FORMAT_XRGB8888:
	case DRM_FORMAT_ARGB8888:
		for (uint32_t i = 0; i < n; i++, src += 4)
			dst[i] = (uint32_t)src[2] << 16 | (uint32_t)src[1] << 8 | src[0];
		return true;
	case DRM_FORMAT_XBGR8888:
	case DRM_FORMAT_ABGR8888:
		for (uint32_t i = 0; i < n; i++, src += 4)
			dst[i] = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
		return true;
	case DRM_FORMAT_BGRX8888:
	case DRM_FORMAT_BGRA8888:
		for (uint32_t i = 0; i < n; i++, src += 4)
			dst[i] = (uint32_t)src[1] << 16 | (uint32_t)src[2] << 8 | src[3];
		return true;
	case DRM_FORMAT_RGBX8888:
	case DRM_FORMAT_RGBA8888:
		for (uint32_t i = 0; i < n; i++, src += 4)
			dst[i] = (uint32_t)src[3] << 16 | (uint32_t)src[2] << 8 | src[1];
		return true;
	}
	return false;
}

static void gtk_update(void *sink, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct gtk_sink *s = sink;
	struct gtk_output *o = out_get(s, id, "update");
	struct vgi_rect r;
	uint8_t *dst;
	int dstride;

	if (!o || !damage || !img || !img->data || !o->enabled || !o->shadow)
		return;
	if (img->width != o->width || img->height != o->height || img->stride < (uint64_t)img->width * 4) {
		vgi_warn("gtk: scanout %u: image %ux%u stride %u does not match scanout %ux%u", id, img->width,
			 img->height, img->stride, o->width, o->height);
		return;
	}
	r = *damage;
	if (!vgi_rect_clip(&r, img->width, img->height))
		return;
	cairo_surface_flush(o->shadow);
	dst = cairo_image_surface_get_data(o->shadow);
	dstride = cairo_image_surface_get_stride(o->shadow);
	for (uint32_t y = r.y; y < r.y + r.height; y++) {
		const uint8_t *src = (const uint8_t *)img->data + (size_t)y * img->stride + (size_t)r.x * 4;

		if (!convert_row((uint32_t *)(dst + (size_t)y * dstride) + r.x, src, r.width, img->format)) {
			vgi_warn("gtk: scanout %u: unsupported format 0x%08x", id, img->format);
			return;
		}
	}
	cairo_surface_mark_dirty_rectangle(o->shadow, (int)r.x, (int)r.y, (int)r.width, (int)r.height);
	queue_rect(o, &r);
}

static void gtk_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct gtk_sink *s = sink;
	struct gtk_output *o = out_get(s, id, "cursor");

	if (!o || !c)
		return;
	if (c->image_changed && c->pixels) {
		cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, VGI_CURSOR_SIZE, VGI_CURSOR_SIZE);
		GdkCursor *cur = NULL;

		if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
			uint8_t *d = cairo_image_surface_get_data(img);
			int stride = cairo_image_surface_get_stride(img);

			/* premultiplied ARGB8888, as cairo's ARGB32 */
			for (int y = 0; y < VGI_CURSOR_SIZE; y++)
				memcpy(d + (size_t)y * stride, c->pixels + (size_t)y * VGI_CURSOR_SIZE, VGI_CURSOR_SIZE * 4);
			cairo_surface_mark_dirty(img);
			cur = gdk_cursor_new_from_surface(gdk_display_get_default(), img,
							  c->hot_x < VGI_CURSOR_SIZE ? c->hot_x : VGI_CURSOR_SIZE - 1,
							  c->hot_y < VGI_CURSOR_SIZE ? c->hot_y : VGI_CURSOR_SIZE - 1);
		}
		cairo_surface_destroy(img);
		if (cur) {
			if (o->cursor)
				g_object_unref(o->cursor);
			o->cursor = cur;
		}
	}
	o->cursor_visible = c->visible;
	apply_cursor(o);
}

static void gtk_destroy(void *sink)
{
	struct gtk_sink *s = sink;

	if (!s)
		return;
	ungrab(s);
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		struct gtk_output *o = &s->out[i];

		out_destroy(o);
		if (o->shadow)
			cairo_surface_destroy(o->shadow);
		if (o->cursor)
			g_object_unref(o->cursor);
	}
	if (s->window)
		gtk_widget_destroy(s->window);
	if (s->blank)
		g_object_unref(s->blank);
	free(s);
}

static const struct vgi_display_ops gtk_ops = {
	.scanout = gtk_scanout,
	.update = gtk_update,
	.cursor = gtk_cursor,
	.destroy = gtk_destroy,
};

int vgi_gtk_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	struct gtk_sink *s;
	bool windows = vgi_options_flag(opts, "windows");
	const char *type;

	if (!gtk_init_check(NULL, NULL)) {
		vgi_error("gtk: cannot open a display (is DISPLAY or WAYLAND_DISPLAY set?)");
		return -ENODEV;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (host)
		s->host = *host;
	s->windows = windows;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		s->out[i].sink = s;
		s->out[i].id = i;
	}
	s->blank = gdk_cursor_new_for_display(gdk_display_get_default(), GDK_BLANK_CURSOR);
	type = G_OBJECT_TYPE_NAME(gdk_display_get_default());
	s->keycode_is_evdev = type && (!strcmp(type, "GdkX11Display") || !strcmp(type, "GdkWaylandDisplay"));
	out->ops = &gtk_ops;
	out->sink = s;
	return 0;
}

uint64_t vgi_gtk_sink_presented(void *sink)
{
	return ((struct gtk_sink *)sink)->presented;
}

void vgi_gtk_sink_sync(void *sink)
{
	gdk_display_sync(gdk_display_get_default());
}
