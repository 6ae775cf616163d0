// SPDX-License-Identifier: MIT
/*
 * SPICE display sink: QXL instances on libspice-server, one per shown
 * scanout (scanout=N is the first, heads=N how many; display channel i
 * shows scanout N+i), with
 * a host primary surface matching the scanout, damage sent as QXL_DRAW_COPY
 * commands, the cursor channel, keyboard/tablet/mouse input back to the host,
 * and SPICE GL scanout (dmabuf) for local clients. spice-server's core
 * interface (timers, fd watches) runs on GLib's default main context.
 *
 * Threads: spice-server runs a worker thread per QXL instance; it pulls draw
 * and cursor commands (get_command, get_cursor_command), releases them
 * (release_resource) and completes async calls (async_complete) from that
 * thread. Everything else runs in the thread that runs the main loop. The
 * command queues are shared under a mutex; the GL completion comes back
 * through an eventfd watched on the main context.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <glib.h>
#include <glib-unix.h>
#include <linux/input-event-codes.h>
#include <pixman.h>
#include <spice.h>
#include <spice/protocol.h>

#include <vgi/display.h>
#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#include "spice-keymap.h"
#include "spice-sink.h"

#define MEMSLOT_GROUP 0
#define MAX_QUEUED 16		/* draw commands waiting for the worker before we merge */
#define MAX_CURSOR_QUEUED 32
#define MAX_SURFACE_DIM 16384
#define POINTER_ABS_MAX 0x7fff		/* EV_ABS range of pointer positions sent to the host */
#define GL_DRAW_COOKIE 0x6c67u

/* One QXL_DRAW_COPY command; one allocation, freed by release_resource. */
struct spice_update {
	QXLDrawable drawable;
	QXLImage image;
	uint8_t pixels[];	/* QXL_BITMAP_DIRECT: the bitmap points here */
};

/* One cursor command (with the shape for QXL_CURSOR_SET). */
struct spice_cursor_cmd {
	QXLCursorCmd cmd;
	QXLCursor cursor;	/* pixels follow (SET only) */
};

struct vgi_spice {
	SpiceServer *server;
	QXLInstance qxl;
	SpiceKbdInstance kbd;
	SpiceMouseInstance mouse;
	SpiceTabletInstance tablet;
	bool qxl_added, kbd_added, mouse_added, tablet_added;
	struct vgi_display_host host;
	bool gl;
	uint32_t scanout_id;	/* the scanout this display channel shows */
	struct vgi_spice *next_head;	/* heads=N: the next display (channel id + 1), owned by the first */

	/* shared with the worker thread */
	GMutex lock;
	GQueue draws;		/* struct spice_update * */
	GQueue cursors;		/* struct spice_cursor_cmd * */
	bool draw_notify, cursor_notify;

	/* main thread */
	uint32_t width, height;	/* primary surface; 0 when there is none */
	uint8_t *surface;	/* memory of the primary surface (spice-server renders into it) */
	uint32_t *shadow;	/* XRGB8888 copy of the scanout, width x height */
	struct vgi_rect dirty;	/* damage not sent yet because the worker lagged */
	bool have_dirty;
	guint flush_timer;
	uint32_t unique;

	bool cursor_defined;
	uint32_t cursor_hot_x, cursor_hot_y;

	struct vgi_scancode_decoder kbd_dec;
	uint32_t buttons;	/* last button mask sent (tablet and mouse share it) */
	int logical_w, logical_h;

	/* GL scanout */
	bool gl_active;
	int gl_event_fd;
	guint gl_event_source;
	bool gl_draw_pending;	/* a spice_qxl_gl_draw_async is in flight */
	bool gl_have_damage;	/* damage that arrived while one was in flight */
	struct vgi_rect gl_damage;
	uint32_t gl_width, gl_height;
};

/* ---- SpiceCoreInterface on GLib ---------------------------------------- */

struct SpiceTimer {
	GSource *source;
	SpiceTimerFunc func;
	void *opaque;
};

struct SpiceWatch {
	int fd;
	int mask;
	GSource *source;
	SpiceWatchFunc func;
	void *opaque;
};

static SpiceTimer *core_timer_add(SpiceTimerFunc func, void *opaque)
{
	SpiceTimer *t = g_new0(SpiceTimer, 1);

	t->func = func;
	t->opaque = opaque;
	return t;
}

static void core_timer_cancel(SpiceTimer *t)
{
	if (t->source) {
		g_source_destroy(t->source);
		g_source_unref(t->source);
		t->source = NULL;
	}
}

static gboolean core_timer_fire(gpointer data)
{
	SpiceTimer *t = data;
	GSource *src = t->source;

	/* func may start the timer again or remove it: t is not touched after the call */
	t->source = NULL;
	t->func(t->opaque);
	g_source_unref(src);
	return G_SOURCE_REMOVE;
}

static void core_timer_start(SpiceTimer *t, uint32_t ms)
{
	core_timer_cancel(t);
	t->source = g_timeout_source_new(ms);
	g_source_set_callback(t->source, core_timer_fire, t, NULL);
	g_source_attach(t->source, NULL);
}

static void core_timer_remove(SpiceTimer *t)
{
	core_timer_cancel(t);
	g_free(t);
}

static gboolean core_watch_fire(gint fd, GIOCondition cond, gpointer data)
{
	SpiceWatch *w = data;
	int ev = 0;

	if (cond & G_IO_IN)
		ev |= SPICE_WATCH_EVENT_READ;
	if (cond & G_IO_OUT)
		ev |= SPICE_WATCH_EVENT_WRITE;
	if (cond & (G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		ev |= w->mask;	/* let the reader/writer see the error */
	/* func may remove the watch: w is not touched after the call */
	w->func(fd, ev, w->opaque);
	return G_SOURCE_CONTINUE;
}

static void core_watch_update_mask(SpiceWatch *w, int mask)
{
	GIOCondition cond = 0;

	if (w->source) {
		g_source_destroy(w->source);
		g_source_unref(w->source);
		w->source = NULL;
	}
	w->mask = mask & (SPICE_WATCH_EVENT_READ | SPICE_WATCH_EVENT_WRITE);
	if (mask & SPICE_WATCH_EVENT_READ)
		cond |= G_IO_IN;
	if (mask & SPICE_WATCH_EVENT_WRITE)
		cond |= G_IO_OUT;
	if (!cond)
		return;
	w->source = g_unix_fd_source_new(w->fd, cond);
	g_source_set_callback(w->source, (GSourceFunc)(void (*)(void))core_watch_fire, w, NULL);
	g_source_attach(w->source, NULL);
}

static SpiceWatch *core_watch_add(int fd, int mask, SpiceWatchFunc func, void *opaque)
{
	SpiceWatch *w = g_new0(SpiceWatch, 1);

	w->fd = fd;
	w->func = func;
	w->opaque = opaque;
	core_watch_update_mask(w, mask);
	return w;
}

static void core_watch_remove(SpiceWatch *w)
{
	core_watch_update_mask(w, 0);
	g_free(w);
}

static void core_channel_event(int event, SpiceChannelEventInfo *info)
{
	/* may come from a worker thread: log only */
	static const char *const names[] = { "?", "connected", "initialized", "disconnected" };

	vgi_debug("spice: channel type %d id %d %s", info ? info->type : -1, info ? info->id : -1,
		  event >= 1 && event <= 3 ? names[event] : names[0]);
}

static SpiceCoreInterface core_interface = {
	.base = {
		.type = SPICE_INTERFACE_CORE,
		.description = "vgi GLib core",
		.major_version = SPICE_INTERFACE_CORE_MAJOR,
		.minor_version = SPICE_INTERFACE_CORE_MINOR,
	},
	.timer_add = core_timer_add,
	.timer_start = core_timer_start,
	.timer_cancel = core_timer_cancel,
	.timer_remove = core_timer_remove,
	.watch_add = core_watch_add,
	.watch_update_mask = core_watch_update_mask,
	.watch_remove = core_watch_remove,
	.channel_event = core_channel_event,
};

/* ---- pixels ------------------------------------------------------------- */

/* Copy r (already clipped to img and dst) of img into an XRGB8888 buffer. */
static void copy_to_xrgb(uint32_t *dst, uint32_t dst_stride, const struct vgi_image *img,
			 const struct vgi_rect *r)
{
	const uint8_t *src = (const uint8_t *)img->data + (size_t)r->y * img->stride + (size_t)r->x * 4;
	uint8_t *d = (uint8_t *)dst + (size_t)r->y * dst_stride + (size_t)r->x * 4;

	if (img->format == DRM_FORMAT_XRGB8888 || img->format == DRM_FORMAT_ARGB8888) {
		for (uint32_t row = 0; row < r->height; row++)
			memcpy(d + (size_t)row * dst_stride, src + (size_t)row * img->stride, (size_t)r->width * 4);
		return;
	}
	pixman_image_t *s = pixman_image_create_bits((pixman_format_code_t)vgi_format_to_pixman(img->format),
						     (int)img->width, (int)img->height,
						     (uint32_t *)img->data, (int)img->stride);
	pixman_image_t *t = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)img->width, (int)img->height,
						     dst, (int)dst_stride);
	if (s && t)
		pixman_image_composite32(PIXMAN_OP_SRC, s, NULL, t, (int)r->x, (int)r->y, 0, 0,
					 (int)r->x, (int)r->y, (int)r->width, (int)r->height);
	if (s)
		pixman_image_unref(s);
	if (t)
		pixman_image_unref(t);
}

/* ---- QXL commands ------------------------------------------------------ */

static void wakeup_draws(struct vgi_spice *s, struct spice_update *u)
{
	g_mutex_lock(&s->lock);
	g_queue_push_tail(&s->draws, u);
	s->draw_notify = false;
	g_mutex_unlock(&s->lock);
	/*
	 * Always wake the worker (as QEMU does on every refresh with updates):
	 * when it did not ask for a notification it would otherwise find the
	 * command only at its next ring poll, up to 10 ms later.
	 */
	spice_qxl_wakeup(&s->qxl);
}

static unsigned queued_draws(struct vgi_spice *s)
{
	unsigned n;

	g_mutex_lock(&s->lock);
	n = s->draws.length;
	g_mutex_unlock(&s->lock);
	return n;
}

unsigned vgi_spice_sink_pending(void *sink)
{
	unsigned n = 0;

	for (struct vgi_spice *s = sink; s; s = s->next_head)
		n += queued_draws(s) + (s->have_dirty ? 1 : 0);
	return n;
}

/* Queue a QXL_DRAW_COPY of rect r of the shadow. */
static void push_update(struct vgi_spice *s, const struct vgi_rect *r)
{
	size_t stride = (size_t)r->width * 4, size = stride * r->height;
	struct spice_update *u = g_malloc0(sizeof(*u) + size);
	QXLDrawable *d = &u->drawable;
	QXLImage *img = &u->image;

	for (uint32_t row = 0; row < r->height; row++)
		memcpy(u->pixels + row * stride, s->shadow + (size_t)(r->y + row) * s->width + r->x, stride);

	img->descriptor.id = ((uint64_t)MEMSLOT_GROUP << 32) | s->unique++;
	img->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
	img->descriptor.flags = 0;
	img->descriptor.width = r->width;
	img->descriptor.height = r->height;
	img->bitmap.format = SPICE_BITMAP_FMT_32BIT;
	img->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
	img->bitmap.x = r->width;
	img->bitmap.y = r->height;
	img->bitmap.stride = (uint32_t)stride;
	img->bitmap.palette = 0;
	img->bitmap.data = (QXLPHYSICAL)(uintptr_t)u->pixels;

	d->release_info.id = (uint64_t)(uintptr_t)u;
	d->surface_id = 0;
	d->type = QXL_DRAW_COPY;
	d->effect = QXL_EFFECT_OPAQUE;
	d->bbox.left = (int32_t)r->x;
	d->bbox.top = (int32_t)r->y;
	d->bbox.right = (int32_t)(r->x + r->width);
	d->bbox.bottom = (int32_t)(r->y + r->height);
	d->clip.type = SPICE_CLIP_TYPE_NONE;
	d->surfaces_dest[0] = d->surfaces_dest[1] = d->surfaces_dest[2] = -1;
	d->u.copy.src_bitmap = (QXLPHYSICAL)(uintptr_t)img;
	d->u.copy.src_area.left = d->u.copy.src_area.top = 0;
	d->u.copy.src_area.right = (int32_t)r->width;
	d->u.copy.src_area.bottom = (int32_t)r->height;
	d->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
	wakeup_draws(s, u);
}

static void rect_union(struct vgi_rect *a, const struct vgi_rect *b)
{
	uint32_t x2 = MAX(a->x + a->width, b->x + b->width), y2 = MAX(a->y + a->height, b->y + b->height);

	a->x = MIN(a->x, b->x);
	a->y = MIN(a->y, b->y);
	a->width = x2 - a->x;
	a->height = y2 - a->y;
}

static gboolean flush_dirty(gpointer data)
{
	struct vgi_spice *s = data;

	if (!s->have_dirty || !s->width) {
		s->have_dirty = false;
		s->flush_timer = 0;
		return G_SOURCE_REMOVE;
	}
	if (queued_draws(s) >= MAX_QUEUED)
		return G_SOURCE_CONTINUE;	/* the worker still lags: retry */
	push_update(s, &s->dirty);
	s->have_dirty = false;
	s->flush_timer = 0;
	return G_SOURCE_REMOVE;
}

static void drop_queued_draws(struct vgi_spice *s)
{
	g_mutex_lock(&s->lock);
	g_queue_clear_full(&s->draws, g_free);
	g_mutex_unlock(&s->lock);
	s->have_dirty = false;
	if (s->flush_timer) {
		g_source_remove(s->flush_timer);
		s->flush_timer = 0;
	}
}

static void destroy_primary(struct vgi_spice *s)
{
	if (!s->width)
		return;
	drop_queued_draws(s);
	spice_qxl_destroy_primary_surface(&s->qxl, 0);	/* synchronous: the worker lets go */
	g_free(s->surface);
	g_free(s->shadow);
	s->surface = NULL;
	s->shadow = NULL;
	s->width = s->height = 0;
}

static void create_primary(struct vgi_spice *s, uint32_t width, uint32_t height)
{
	QXLDevSurfaceCreate sc;

	s->surface = g_malloc0((size_t)width * height * 4);
	s->shadow = g_malloc0((size_t)width * height * 4);
	s->width = width;
	s->height = height;
	memset(&sc, 0, sizeof(sc));
	sc.width = width;
	sc.height = height;
	sc.stride = (int32_t)(width * 4);
	sc.format = SPICE_SURFACE_FMT_32_xRGB;
	sc.position = 0;
	sc.mouse_mode = 1;	/* client mouse mode when the client has a tablet */
	sc.flags = 0;
	sc.type = 0;
	sc.mem = (uint64_t)(uintptr_t)s->surface;
	sc.group_id = MEMSLOT_GROUP;
	spice_qxl_create_primary_surface(&s->qxl, 0, &sc);
}

/* ---- QXLInterface -------------------------------------------------------- */

static struct vgi_spice *from_qxl(QXLInstance *qin)
{
	return (struct vgi_spice *)((char *)qin - offsetof(struct vgi_spice, qxl));
}

static void qxl_attached_worker(QXLInstance *qin)
{
}

static void qxl_set_compression_level(QXLInstance *qin, int level)
{
}

static void qxl_get_init_info(QXLInstance *qin, QXLDevInitInfo *info)
{
	memset(info, 0, sizeof(*info));
	info->num_memslots_groups = 1;
	info->num_memslots = 1;
	info->memslot_gen_bits = 8;
	info->memslot_id_bits = 8;
	info->internal_groupslot_id = 0;
	info->qxl_ram_size = 16 << 20;
	info->n_surfaces = 1;
}

static int qxl_get_command(QXLInstance *qin, QXLCommandExt *ext)
{
	struct vgi_spice *s = from_qxl(qin);
	struct spice_update *u;

	g_mutex_lock(&s->lock);
	u = g_queue_pop_head(&s->draws);
	g_mutex_unlock(&s->lock);
	if (!u)
		return 0;
	memset(ext, 0, sizeof(*ext));
	ext->cmd.type = QXL_CMD_DRAW;
	ext->cmd.data = (QXLPHYSICAL)(uintptr_t)&u->drawable;
	ext->group_id = MEMSLOT_GROUP;
	ext->flags = 0;
	return 1;
}

static int qxl_req_cmd_notification(QXLInstance *qin)
{
	struct vgi_spice *s = from_qxl(qin);
	int wait;

	g_mutex_lock(&s->lock);
	wait = g_queue_is_empty(&s->draws);
	if (wait)
		s->draw_notify = true;
	g_mutex_unlock(&s->lock);
	return wait;
}

static void qxl_release_resource(QXLInstance *qin, QXLReleaseInfoExt info)
{
	/* both command kinds are single allocations whose address is the id */
	g_free((void *)(uintptr_t)info.info->id);
}

static int qxl_get_cursor_command(QXLInstance *qin, QXLCommandExt *ext)
{
	struct vgi_spice *s = from_qxl(qin);
	struct spice_cursor_cmd *c;

	g_mutex_lock(&s->lock);
	c = g_queue_pop_head(&s->cursors);
	g_mutex_unlock(&s->lock);
	if (!c)
		return 0;
	memset(ext, 0, sizeof(*ext));
	ext->cmd.type = QXL_CMD_CURSOR;
	ext->cmd.data = (QXLPHYSICAL)(uintptr_t)&c->cmd;
	ext->group_id = MEMSLOT_GROUP;
	return 1;
}

static int qxl_req_cursor_notification(QXLInstance *qin)
{
	struct vgi_spice *s = from_qxl(qin);
	int wait;

	g_mutex_lock(&s->lock);
	wait = g_queue_is_empty(&s->cursors);
	if (wait)
		s->cursor_notify = true;
	g_mutex_unlock(&s->lock);
	return wait;
}

static void qxl_notify_update(QXLInstance *qin, uint32_t update_id)
{
}

static int qxl_flush_resources(QXLInstance *qin)
{
	return 0;
}

static void qxl_async_complete(QXLInstance *qin, uint64_t cookie)
{
	struct vgi_spice *s = from_qxl(qin);
	uint64_t one = 1;

	if (cookie == GL_DRAW_COOKIE && s->gl_event_fd >= 0) {
		/* worker thread: hand the completion to the main loop */
		if (write(s->gl_event_fd, &one, sizeof(one)) != sizeof(one))
			vgi_warn("spice: cannot signal GL draw completion: %s", strerror(errno));
	}
}

static void qxl_update_area_complete(QXLInstance *qin, uint32_t surface_id, QXLRect *rects, uint32_t n)
{
}

static void qxl_set_client_capabilities(QXLInstance *qin, uint8_t present, uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

static int qxl_client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *mc)
{
	struct vgi_spice *s = from_qxl(qin);

	if (!mc)
		return 1;
	/* the client's window for display 0 is the preferred size of output 0 */
	for (uint32_t i = 0; i < mc->num_of_monitors && i < 16; i++) {
		if (i != 0)
			continue;
		if (mc->monitors[i].width >= 16 && mc->monitors[i].height >= 16 &&
		    mc->monitors[i].width <= MAX_SURFACE_DIM && mc->monitors[i].height <= MAX_SURFACE_DIM &&
		    s->host.output_changed)
			s->host.output_changed(s->host.opaque, s->scanout_id, true, mc->monitors[i].width,
					       mc->monitors[i].height);
	}
	return 1;
}

static const QXLInterface qxl_interface = {
	.base = {
		.type = SPICE_INTERFACE_QXL,
		.description = "vgi display",
		.major_version = SPICE_INTERFACE_QXL_MAJOR,
		.minor_version = SPICE_INTERFACE_QXL_MINOR,
	},
	.attached_worker = qxl_attached_worker,
	.set_compression_level = qxl_set_compression_level,
	.get_init_info = qxl_get_init_info,
	.get_command = qxl_get_command,
	.req_cmd_notification = qxl_req_cmd_notification,
	.release_resource = qxl_release_resource,
	.get_cursor_command = qxl_get_cursor_command,
	.req_cursor_notification = qxl_req_cursor_notification,
	.notify_update = qxl_notify_update,
	.flush_resources = qxl_flush_resources,
	.async_complete = qxl_async_complete,
	.update_area_complete = qxl_update_area_complete,
	.set_client_capabilities = qxl_set_client_capabilities,
	.client_monitors_config = qxl_client_monitors_config,
};

/* ---- input ------------------------------------------------------------- */

static void emit(struct vgi_spice *s, uint16_t type, uint16_t code, int32_t value)
{
	struct vgi_input_event ev = { .type = type, .code = code, .value = value };

	if (s->host.input)
		s->host.input(s->host.opaque, s->scanout_id, &ev);
}

/*
 * spice-server hands button states to the mouse and tablet interfaces in its
 * "local" layout, not the protocol's: left 0x01, right 0x02, middle 0x04,
 * wheel up/down 0x10/0x20 (delivered as wheel motion), side 0x40, extra 0x80.
 */
static void emit_buttons(struct vgi_spice *s, uint32_t state)
{
	static const struct { uint32_t mask; uint16_t code; } map[] = {
		{ 0x01, BTN_LEFT }, { 0x02, BTN_RIGHT }, { 0x04, BTN_MIDDLE }, { 0x40, BTN_SIDE }, { 0x80, BTN_EXTRA },
	};
	uint32_t changed = state ^ s->buttons;

	for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
		if (changed & map[i].mask)
			emit(s, EV_KEY, map[i].code, !!(state & map[i].mask));
	s->buttons = state;
}

static void kbd_push_scan_freg(SpiceKbdInstance *sin, uint8_t frag)
{
	struct vgi_spice *s = (struct vgi_spice *)((char *)sin - offsetof(struct vgi_spice, kbd));
	uint16_t code;
	int32_t value;

	if (vgi_scancode_feed(&s->kbd_dec, frag, &code, &value)) {
		emit(s, EV_KEY, code, value);
		emit(s, EV_SYN, SYN_REPORT, 0);
	}
}

static uint8_t kbd_get_leds(SpiceKbdInstance *sin)
{
	return 0;
}

static const SpiceKbdInterface kbd_interface = {
	.base = {
		.type = SPICE_INTERFACE_KEYBOARD,
		.description = "vgi keyboard",
		.major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
		.minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
	},
	.push_scan_freg = kbd_push_scan_freg,
	.get_leds = kbd_get_leds,
};

static struct vgi_spice *from_mouse(SpiceMouseInstance *sin)
{
	return (struct vgi_spice *)((char *)sin - offsetof(struct vgi_spice, mouse));
}

static void mouse_motion(SpiceMouseInstance *sin, int dx, int dy, int dz, uint32_t buttons)
{
	struct vgi_spice *s = from_mouse(sin);

	if (dx)
		emit(s, EV_REL, REL_X, dx);
	if (dy)
		emit(s, EV_REL, REL_Y, dy);
	if (dz)
		emit(s, EV_REL, REL_WHEEL, -dz);
	emit_buttons(s, buttons);
	emit(s, EV_SYN, SYN_REPORT, 0);
}

static void mouse_buttons(SpiceMouseInstance *sin, uint32_t buttons)
{
	struct vgi_spice *s = from_mouse(sin);

	emit_buttons(s, buttons);
	emit(s, EV_SYN, SYN_REPORT, 0);
}

static const SpiceMouseInterface mouse_interface = {
	.base = {
		.type = SPICE_INTERFACE_MOUSE,
		.description = "vgi mouse",
		.major_version = SPICE_INTERFACE_MOUSE_MAJOR,
		.minor_version = SPICE_INTERFACE_MOUSE_MINOR,
	},
	.motion = mouse_motion,
	.buttons = mouse_buttons,
};

static struct vgi_spice *from_tablet(SpiceTabletInstance *sin)
{
	return (struct vgi_spice *)((char *)sin - offsetof(struct vgi_spice, tablet));
}

static void tablet_set_logical_size(SpiceTabletInstance *sin, int width, int height)
{
	struct vgi_spice *s = from_tablet(sin);

	s->logical_w = width;
	s->logical_h = height;
}

static int32_t scale_abs(int v, int size)
{
	if (size <= 1 || v <= 0)
		return 0;
	if (v >= size - 1)
		return POINTER_ABS_MAX;
	return (int32_t)((int64_t)v * POINTER_ABS_MAX / (size - 1));
}

static void tablet_position(SpiceTabletInstance *sin, int x, int y, uint32_t buttons)
{
	struct vgi_spice *s = from_tablet(sin);
	int w = s->logical_w > 0 ? s->logical_w : (int)s->width;
	int h = s->logical_h > 0 ? s->logical_h : (int)s->height;

	emit(s, EV_ABS, ABS_X, scale_abs(x, w));
	emit(s, EV_ABS, ABS_Y, scale_abs(y, h));
	emit_buttons(s, buttons);
	emit(s, EV_SYN, SYN_REPORT, 0);
}

static void tablet_wheel(SpiceTabletInstance *sin, int motion, uint32_t buttons)
{
	struct vgi_spice *s = from_tablet(sin);

	if (motion)
		emit(s, EV_REL, REL_WHEEL, -motion);
	emit_buttons(s, buttons);
	emit(s, EV_SYN, SYN_REPORT, 0);
}

static void tablet_buttons(SpiceTabletInstance *sin, uint32_t buttons)
{
	struct vgi_spice *s = from_tablet(sin);

	emit_buttons(s, buttons);
	emit(s, EV_SYN, SYN_REPORT, 0);
}

static const SpiceTabletInterface tablet_interface = {
	.base = {
		.type = SPICE_INTERFACE_TABLET,
		.description = "vgi tablet",
		.major_version = SPICE_INTERFACE_TABLET_MAJOR,
		.minor_version = SPICE_INTERFACE_TABLET_MINOR,
	},
	.set_logical_size = tablet_set_logical_size,
	.position = tablet_position,
	.wheel = tablet_wheel,
	.buttons = tablet_buttons,
};

/* ---- display ops --------------------------------------------------------- */

static void spice_scanout(void *opaque, uint32_t id, const struct vgi_scanout *so)
{
	struct vgi_spice *s = opaque;

	if (id != s->scanout_id) {
		if (s->next_head)
			spice_scanout(s->next_head, id, so);
		return;
	}
	if (!so->enabled) {
		destroy_primary(s);
		return;
	}
	if (!so->width || !so->height || so->width > MAX_SURFACE_DIM || so->height > MAX_SURFACE_DIM) {
		vgi_warn("spice: scanout size %ux%u out of range", so->width, so->height);
		destroy_primary(s);
		return;
	}
	if (!vgi_format_to_pixman(so->format))
		vgi_warn("spice: scanout format 0x%08x not supported, updates are dropped", so->format);
	if (so->width == s->width && so->height == s->height)
		return;
	destroy_primary(s);
	create_primary(s, so->width, so->height);
}

static void spice_update(void *opaque, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct vgi_spice *s = opaque;
	struct vgi_rect r = *damage;

	if (id != s->scanout_id) {
		if (s->next_head)
			spice_update(s->next_head, id, damage, img);
		return;
	}
	if (!s->width || !img || !img->data)
		return;
	if (!vgi_format_to_pixman(img->format) || img->stride < (uint64_t)img->width * 4)
		return;
	if (!vgi_rect_clip(&r, MIN(img->width, s->width), MIN(img->height, s->height)))
		return;
	copy_to_xrgb(s->shadow, s->width * 4, img, &r);
	if (s->have_dirty) {
		rect_union(&s->dirty, &r);
		return;		/* the flush timer sends it */
	}
	if (queued_draws(s) < MAX_QUEUED) {
		push_update(s, &r);
		return;
	}
	/* the worker (or the client behind it) lags: merge until it catches up */
	s->dirty = r;
	s->have_dirty = true;
	s->flush_timer = g_timeout_add(5, flush_dirty, s);
}

static void push_cursor(struct vgi_spice *s, struct spice_cursor_cmd *c)
{
	c->cmd.release_info.id = (uint64_t)(uintptr_t)c;
	g_mutex_lock(&s->lock);
	if (c->cmd.type == QXL_CURSOR_MOVE && s->cursors.length >= MAX_CURSOR_QUEUED) {
		struct spice_cursor_cmd *tail = g_queue_peek_tail(&s->cursors);

		if (tail->cmd.type == QXL_CURSOR_MOVE) {
			tail->cmd.u.position = c->cmd.u.position;	/* coalesce moves */
			g_mutex_unlock(&s->lock);
			g_free(c);
			return;
		}
	}
	g_queue_push_tail(&s->cursors, c);
	s->cursor_notify = false;
	g_mutex_unlock(&s->lock);
	spice_qxl_wakeup(&s->qxl);	/* as for draws: no wait for the worker's next ring poll */
}

static int16_t clamp16(int32_t v)
{
	return (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v);
}

static void spice_cursor(void *opaque, uint32_t id, const struct vgi_cursor *cur)
{
	struct vgi_spice *s = opaque;
	struct spice_cursor_cmd *c;

	if (id != s->scanout_id) {
		if (s->next_head)
			spice_cursor(s->next_head, id, cur);
		return;
	}
	if (cur->image_changed && cur->pixels) {
		size_t size = VGI_CURSOR_SIZE * VGI_CURSOR_SIZE * 4;

		c = g_malloc0(sizeof(*c) + size);
		c->cmd.type = QXL_CURSOR_SET;
		c->cmd.u.set.position.x = clamp16(cur->x);
		c->cmd.u.set.position.y = clamp16(cur->y);
		c->cmd.u.set.visible = cur->visible;
		c->cmd.u.set.shape = (QXLPHYSICAL)(uintptr_t)&c->cursor;
		c->cursor.header.unique = 0;
		c->cursor.header.type = SPICE_CURSOR_TYPE_ALPHA;
		c->cursor.header.width = VGI_CURSOR_SIZE;
		c->cursor.header.height = VGI_CURSOR_SIZE;
		c->cursor.header.hot_spot_x = (uint16_t)MIN(cur->hot_x, VGI_CURSOR_SIZE - 1);
		c->cursor.header.hot_spot_y = (uint16_t)MIN(cur->hot_y, VGI_CURSOR_SIZE - 1);
		c->cursor.data_size = (uint32_t)size;
		c->cursor.chunk.data_size = (uint32_t)size;
		memcpy(c->cursor.chunk.data, cur->pixels, size);
		s->cursor_defined = true;
	} else if (!cur->visible) {
		c = g_malloc0(sizeof(*c));
		c->cmd.type = QXL_CURSOR_HIDE;
	} else if (s->cursor_defined) {
		c = g_malloc0(sizeof(*c));
		c->cmd.type = QXL_CURSOR_MOVE;	/* shows a hidden cursor again */
		c->cmd.u.position.x = clamp16(cur->x);
		c->cmd.u.position.y = clamp16(cur->y);
	} else {
		return;
	}
	push_cursor(s, c);
}

/* GL: one spice_qxl_gl_draw_async at a time; damage that arrives meanwhile is merged. */
static void gl_draw(struct vgi_spice *s, const struct vgi_rect *r)
{
	s->gl_draw_pending = true;
	spice_qxl_gl_draw_async(&s->qxl, r->x, r->y, r->width, r->height, GL_DRAW_COOKIE);
}

static gboolean gl_event_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct vgi_spice *s = data;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return G_SOURCE_CONTINUE;
	s->gl_draw_pending = false;
	if (s->gl_have_damage && s->gl_active) {
		s->gl_have_damage = false;
		gl_draw(s, &s->gl_damage);
	}
	return G_SOURCE_CONTINUE;
}

static void spice_scanout_gl(void *opaque, uint32_t id, const struct vgi_gl_scanout *gs)
{
	struct vgi_spice *s = opaque;
	int fd;

	if (id != s->scanout_id) {
		if (s->next_head)
			spice_scanout_gl(s->next_head, id, gs);
		return;
	}
	if (!gs->enabled || gs->dmabuf_fd < 0) {
		if (s->gl_active)
			spice_qxl_gl_scanout(&s->qxl, -1, 0, 0, 0, 0, 0);
		s->gl_active = false;
		if (gs->enabled)
			vgi_warn("spice: GL scanout without a dmabuf is not supported");
		return;
	}
	fd = fcntl(gs->dmabuf_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		vgi_warn("spice: cannot dup dmabuf fd %d: %s", gs->dmabuf_fd, strerror(errno));
		return;
	}
	/* spice-server takes ownership of fd */
	spice_qxl_gl_scanout(&s->qxl, fd, gs->buf_width, gs->buf_height, gs->stride, gs->fourcc, gs->y0_top);
	s->gl_active = true;
	s->gl_width = gs->buf_width;
	s->gl_height = gs->buf_height;
	s->gl_have_damage = false;
}

static void spice_gl_update(void *opaque, uint32_t id, const struct vgi_rect *damage)
{
	struct vgi_spice *s = opaque;
	struct vgi_rect r = *damage;

	if (id != s->scanout_id) {
		if (s->next_head)
			spice_gl_update(s->next_head, id, damage);
		return;
	}
	if (!s->gl_active || !vgi_rect_clip(&r, s->gl_width, s->gl_height))
		return;
	if (s->gl_draw_pending) {
		if (s->gl_have_damage)
			rect_union(&s->gl_damage, &r);
		else
			s->gl_damage = r;
		s->gl_have_damage = true;
		return;
	}
	gl_draw(s, &r);
}

/* What one head owns besides its QXL instance (which goes with the server). */
static void head_free(struct vgi_spice *s)
{
	if (s->flush_timer)
		g_source_remove(s->flush_timer);
	if (s->gl_event_source)
		g_source_remove(s->gl_event_source);
	if (s->gl_event_fd >= 0)
		close(s->gl_event_fd);
	g_queue_clear_full(&s->draws, g_free);
	g_queue_clear_full(&s->cursors, g_free);
	g_mutex_clear(&s->lock);
	g_free(s->surface);
	g_free(s->shadow);
	g_free(s);
}

static void spice_destroy(void *opaque)
{
	struct vgi_spice *s = opaque, *h, *next;

	if (!s)
		return;
	if (s->server) {
		for (h = s; h; h = h->next_head)
			if (h->width && h->qxl_added)
				destroy_primary(h);
		spice_server_vm_stop(s->server);
		/* the tablet's state (spice-server 0.15 cannot remove keyboards and mice) */
		if (s->tablet_added)
			spice_server_remove_interface(&s->tablet.base);
		spice_server_destroy(s->server);	/* joins the worker threads */
	}
	for (h = s; h; h = next) {
		next = h->next_head;
		head_free(h);
	}
}

static const struct vgi_display_ops spice_ops = {
	.scanout = spice_scanout,
	.update = spice_update,
	.cursor = spice_cursor,
	.destroy = spice_destroy,
};

static const struct vgi_display_ops spice_gl_ops = {
	.scanout = spice_scanout,
	.update = spice_update,
	.scanout_gl = spice_scanout_gl,
	.gl_update = spice_gl_update,
	.cursor = spice_cursor,
	.destroy = spice_destroy,
};

/* ---- construction ---------------------------------------------------------- */

static int read_password(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		int err = errno;

		vgi_error("spice: cannot open password-file '%s': %s", path, strerror(err));
		return -err;
	}
	if (!fgets(buf, (int)size, f)) {
		fclose(f);
		vgi_error("spice: password-file '%s' is empty", path);
		return -EINVAL;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == size - 1) {
		vgi_error("spice: password in '%s' is longer than %d characters", path, SPICE_MAX_PASSWORD_LENGTH);
		return -EINVAL;
	}
	buf[n] = '\0';
	if (!n) {
		vgi_error("spice: password-file '%s' has an empty first line", path);
		return -EINVAL;
	}
	return 0;
}

static struct vgi_spice *head_alloc(bool gl, uint32_t scanout)
{
	struct vgi_spice *s = g_new0(struct vgi_spice, 1);

	g_mutex_init(&s->lock);
	g_queue_init(&s->draws);
	g_queue_init(&s->cursors);
	s->gl_event_fd = -1;
	s->gl = gl;
	s->scanout_id = scanout;
	return s;
}

/* Add a head's QXL instance (display channel id) and its memory slot. */
static int head_attach(struct vgi_spice *s, SpiceServer *server, int channel_id)
{
	QXLDevMemSlot slot = {
		.slot_group_id = MEMSLOT_GROUP,
		.slot_id = 0,
		.generation = 0,
		.virt_start = 0,
		.virt_end = ~(uintptr_t)0,
		.addr_delta = 0,
		.qxl_ram_size = 0,
	};

	s->server = server;
	s->qxl.base.sif = &qxl_interface.base;
	s->qxl.id = channel_id;
	if (spice_server_add_interface(server, &s->qxl.base)) {
		vgi_error("spice: cannot add display %d", channel_id);
		return -EIO;
	}
	s->qxl_added = true;
	spice_qxl_add_memslot(&s->qxl, &slot);
	if (s->gl) {
		s->gl_event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->gl_event_fd < 0) {
			vgi_error("spice: eventfd: %s", strerror(errno));
			return -errno;
		}
		s->gl_event_source = g_unix_fd_add(s->gl_event_fd, G_IO_IN, gl_event_ready, s);
	}
	return 0;
}

int vgi_spice_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	const char *addr = vgi_options_get(opts, "addr");
	const char *unix_path = vgi_options_get(opts, "unix");
	const char *port_str = vgi_options_get(opts, "port");
	const char *pwfile = vgi_options_get(opts, "password-file");
	bool noauth = vgi_options_flag(opts, "disable-ticketing");
	bool gl = vgi_options_flag(opts, "gl");
	char password[SPICE_MAX_PASSWORD_LENGTH + 2];
	struct vgi_spice *s;
	uint64_t port, scanout, heads;
	int ret;

	if (vgi_options_uint(opts, "scanout", 0, VGI_MAX_SCANOUTS - 1, 0, &scanout)) {
		vgi_error("spice: scanout must be a number in 0..%d", VGI_MAX_SCANOUTS - 1);
		return -EINVAL;
	}
	if (vgi_options_uint(opts, "heads", 1, VGI_MAX_SCANOUTS, 1, &heads) || scanout + heads > VGI_MAX_SCANOUTS) {
		vgi_error("spice: heads must be a number in 1..%d (scanouts scanout..scanout+heads-1)", VGI_MAX_SCANOUTS);
		return -EINVAL;
	}
	if (vgi_options_uint(opts, "port", 1, 65535, 5900, &port)) {
		vgi_error("spice: port must be a number in 1..65535");
		return -EINVAL;
	}
	if (unix_path && (addr || port_str)) {
		vgi_error("spice: unix=PATH excludes addr= and port=");
		return -EINVAL;
	}
	if (unix_path && !*unix_path) {
		vgi_error("spice: unix= needs a socket path");
		return -EINVAL;
	}
	if (!pwfile == !noauth) {
		vgi_error("spice: give exactly one of password-file=PATH or disable-ticketing");
		return -EINVAL;
	}
	if (gl && !unix_path) {
		vgi_error("spice: gl=on works only for local clients: use unix=PATH");
		return -EINVAL;
	}
	if (pwfile && (ret = read_password(pwfile, password, sizeof(password))))
		return ret;

	s = head_alloc(gl, (uint32_t)scanout);
	if (host)
		s->host = *host;

	s->server = spice_server_new();
	if (!s->server) {
		vgi_error("spice: spice_server_new failed");
		ret = -ENOMEM;
		goto fail;
	}
	if (unix_path) {
		spice_server_set_addr(s->server, unix_path, SPICE_ADDR_FLAG_UNIX_ONLY);
		spice_server_set_port(s->server, 0);
	} else {
		spice_server_set_addr(s->server, addr && *addr ? addr : "127.0.0.1", 0);
		spice_server_set_port(s->server, (int)port);
	}
	if (noauth)
		spice_server_set_noauth(s->server);
	else
		spice_server_set_ticket(s->server, password, 0, 0, 0);
	memset(password, 0, sizeof(password));
	/* lossless only: no JPEG for images, no MJPEG video streams */
	spice_server_set_jpeg_compression(s->server, SPICE_WAN_COMPRESSION_NEVER);
	spice_server_set_zlib_glz_compression(s->server, SPICE_WAN_COMPRESSION_NEVER);
	spice_server_set_streaming_video(s->server, SPICE_STREAM_VIDEO_OFF);
	spice_server_set_name(s->server, "vgi");

	if (spice_server_init(s->server, &core_interface) < 0) {
		if (unix_path)
			vgi_error("spice: cannot listen on unix socket '%s'", unix_path);
		else
			vgi_error("spice: cannot listen on %s port %u", addr && *addr ? addr : "127.0.0.1",
				  (unsigned)port);
		ret = -EADDRINUSE;
		goto fail;
	}

	s->kbd.base.sif = &kbd_interface.base;
	s->mouse.base.sif = &mouse_interface.base;
	s->tablet.base.sif = &tablet_interface.base;
	s->kbd_added = spice_server_add_interface(s->server, &s->kbd.base) == 0;
	s->mouse_added = s->kbd_added && spice_server_add_interface(s->server, &s->mouse.base) == 0;
	s->tablet_added = s->mouse_added && spice_server_add_interface(s->server, &s->tablet.base) == 0;
	if (!s->tablet_added) {
		vgi_error("spice: cannot add the input interfaces");
		ret = -EIO;
		goto fail;
	}
	/* one display channel per head, ids 0..heads-1, for scanouts scanout.. */
	struct vgi_spice *last = s;
	for (uint32_t i = 0; i < heads; i++) {
		struct vgi_spice *h = i ? head_alloc(gl, (uint32_t)(scanout + i)) : s;

		if (i) {
			last->next_head = h;
			last = h;
		}
		if ((ret = head_attach(h, s->server, (int)i)))
			goto fail;
	}
	spice_server_vm_start(s->server);

	if (unix_path)
		vgi_info("spice: listening on unix socket %s%s", unix_path, gl ? " (GL)" : "");
	else
		vgi_info("spice: listening on %s:%u", addr && *addr ? addr : "127.0.0.1", (unsigned)port);
	out->ops = gl ? &spice_gl_ops : &spice_ops;
	out->sink = s;
	return 0;

fail:
	memset(password, 0, sizeof(password));
	spice_destroy(s);
	return ret;
}
