// SPDX-License-Identifier: MIT
/* The "drm" display sink: one scanout (scanout=N, default 0) on a DRM/KMS console (drm-display.c), driven by GLib. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib-unix.h>

#include <vgi/drm-display.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

struct drm_sink {
	struct vgi_drm_display *d;
	struct vgi_display_host host;
	guint watch, idle;
	bool enabled;
	uint32_t frame_w, frame_h;
	uint32_t scanout_id;	/* the scanout shown (scanout=N) */
};

static gboolean drm_sink_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct drm_sink *s = data;

	vgi_drm_display_dispatch(s->d);
	return G_SOURCE_CONTINUE;
}

/* Tell the device the mode's size once the program runs its loop. */
static gboolean drm_sink_announce(gpointer data)
{
	struct drm_sink *s = data;
	uint32_t w, h;

	s->idle = 0;
	vgi_drm_display_size(s->d, &w, &h);
	if (s->host.output_changed)
		s->host.output_changed(s->host.opaque, s->scanout_id, true, w, h);
	return G_SOURCE_REMOVE;
}

static void drm_sink_scanout(void *opaque, uint32_t id, const struct vgi_scanout *so)
{
	struct drm_sink *s = opaque;

	if (id != s->scanout_id)
		return;
	if (!so->enabled) {
		s->enabled = false;
		s->frame_w = s->frame_h = 0;
		vgi_drm_display_set_frame_size(s->d, 0, 0);
		return;
	}
	if (!s->enabled || so->width < s->frame_w || so->height < s->frame_h)
		vgi_drm_display_set_frame_size(s->d, so->width, so->height);
	s->enabled = true;
	s->frame_w = so->width;
	s->frame_h = so->height;
}

static void drm_sink_update(void *opaque, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct drm_sink *s = opaque;

	if (id != s->scanout_id || !s->enabled)
		return;
	if (vgi_drm_display_present(s->d, img, damage, 1) == -EINVAL)
		vgi_warn("drm: cannot show a %ux%u frame of format 0x%08x with stride %u", img->width, img->height,
			 img->format, img->stride);
}

static void drm_sink_cursor(void *opaque, uint32_t id, const struct vgi_cursor *c)
{
	struct drm_sink *s = opaque;

	if (id == s->scanout_id)
		vgi_drm_display_cursor(s->d, c);
}

static void drm_sink_destroy(void *opaque)
{
	struct drm_sink *s = opaque;

	if (!s)
		return;
	if (s->watch)
		g_source_remove(s->watch);
	if (s->idle)
		g_source_remove(s->idle);
	vgi_drm_display_free(s->d);
	g_free(s);
}

static const struct vgi_display_ops drm_sink_ops = {
	.scanout = drm_sink_scanout,
	.update = drm_sink_update,
	.cursor = drm_sink_cursor,
	.destroy = drm_sink_destroy,
};

int vgi_drm_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	struct vgi_drm_display_options o = { 0 };
	const char *mode = vgi_options_get(opts, "mode");
	const char *atomic = vgi_options_get(opts, "atomic");
	const char *cursor = vgi_options_get(opts, "cursor");
	const char *vt = vgi_options_get(opts, "vt");
	struct drm_sink *s;
	uint64_t scanout;
	int ret;

	if (vgi_options_uint(opts, "scanout", 0, VGI_MAX_SCANOUTS - 1, 0, &scanout)) {
		vgi_error("drm: scanout must be a number in 0..%d", VGI_MAX_SCANOUTS - 1);
		return -EINVAL;
	}
	o.card = vgi_options_get(opts, "card");
	o.connector = vgi_options_get(opts, "connector");
	if (mode) {
		unsigned w, h;
		char end;

		if (sscanf(mode, "%ux%u%c", &w, &h, &end) != 2 || !w || !h || w > 16384 || h > 16384) {
			vgi_error("drm: mode must be WIDTHxHEIGHT, not '%s'", mode);
			return -EINVAL;
		}
		o.width = w;
		o.height = h;
	}
	if (atomic) {
		if (!strcmp(atomic, "off") || !strcmp(atomic, "no") || !strcmp(atomic, "0"))
			o.no_atomic = true;
		else if (*atomic && strcmp(atomic, "on") && strcmp(atomic, "yes") && strcmp(atomic, "1")) {
			vgi_error("drm: atomic must be on or off, not '%s'", atomic);
			return -EINVAL;
		}
	}
	if (cursor) {
		if (!strcmp(cursor, "sw") || !strcmp(cursor, "software"))
			o.cursor = VGI_DRM_CURSOR_SOFTWARE;
		else if (strcmp(cursor, "auto")) {
			vgi_error("drm: cursor must be auto or sw, not '%s'", cursor);
			return -EINVAL;
		}
	}
	if (vt) {
		if (!strcmp(vt, "off"))
			o.no_vt = true;
		else if (*vt)
			o.tty = vt;
	}

	s = g_new0(struct drm_sink, 1);
	s->scanout_id = (uint32_t)scanout;
	if (host)
		s->host = *host;
	ret = vgi_drm_display_open(&o, &s->d);
	if (ret) {
		g_free(s);
		return ret;
	}
	s->watch = g_unix_fd_add(vgi_drm_display_get_fd(s->d), G_IO_IN, drm_sink_ready, s);
	s->idle = g_idle_add(drm_sink_announce, s);
	out->ops = &drm_sink_ops;
	out->sink = s;
	return 0;
}
