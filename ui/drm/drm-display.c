// SPDX-License-Identifier: MIT
/*
 * DRM/KMS console display (include/vgi/drm-display.h).
 *
 * Pixels: the frame is kept in an XRGB8888 shadow the size of the mode; each
 * of the two dumb buffers has a "stale" region (what changed in the shadow
 * since that buffer was last drawn). Drawing a buffer copies its stale region
 * from the shadow, so a buffer that missed frames catches up with the damage
 * of the frames shown from the other buffer, and nothing else is copied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/kd.h>
#include <linux/vt.h>

#include <drm_fourcc.h>
#include <pixman.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <vgi/drm-display.h>
#include <vgi/log.h>

#define CURSOR_DIM 64
#ifndef DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT
#define DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT 6	/* Linux 6.6 */
#endif

struct dumb_fb {
	uint32_t handle, fb_id, pitch, width, height;
	uint64_t size;
	uint8_t *map;
};

struct plane_props {
	uint32_t damage_clips;	/* FB_DAMAGE_CLIPS, 0 if the plane has none */
	uint32_t fb_id, crtc_id, src_x, src_y, src_w, src_h, crtc_x, crtc_y, crtc_w, crtc_h;
};

struct vgi_drm_display {
	int fd;
	int epfd;
	char card[64];
	char connector_name[32];
	uint32_t connector_id, crtc_id, crtc_index;
	drmModeModeInfo mode;
	uint32_t width, height;		/* mode size */
	drmModeCrtc *saved_crtc;
	bool atomic;
	uint32_t mode_blob;
	uint32_t primary_plane, cursor_plane;
	struct plane_props primary_props, cursor_props;
	uint32_t hotspot_x_prop, hotspot_y_prop;	/* cursor plane HOTSPOT_X/Y (virtual GPUs, Linux 6.6+) */
	uint32_t conn_crtc_prop, crtc_mode_prop, crtc_active_prop;

	struct dumb_fb fb[2];
	int front;			/* buffer on screen (or flipping to) */
	pixman_region32_t stale[2];
	pixman_region32_t flip_damage;	/* what the last draw_buffer() changed: FB_DAMAGE_CLIPS */
	uint32_t *shadow;
	bool needs_present;
	bool flip_pending;
	bool modeset_done;
	uint64_t flips;

	/* cursor */
	enum { CURSOR_PLANE, CURSOR_LEGACY, CURSOR_SOFTWARE } cursor_kind;
	struct dumb_fb cursor_fb;
	uint32_t cursor_pixels[CURSOR_DIM * CURSOR_DIM];
	bool cursor_defined, cursor_visible;
	int32_t cursor_x, cursor_y;	/* hot spot position */
	uint32_t hot_x, hot_y;
	bool cursor_dirty;		/* plane props to commit */
	pixman_region32_t sw_cursor_drawn[2];	/* where each buffer has the cursor blended */

	/* VT */
	int tty_fd;
	bool own_tty_fd;
	struct vt_mode saved_vt_mode;
	int saved_kd_mode;
	bool active;
};

/* ---- VT signals: one display at a time handles a VT --------------------- */

static int vt_pipe[2] = { -1, -1 };
static struct sigaction old_rel_action, old_acq_action;
static bool vt_in_use;

static int vt_rel_sig(void) { return SIGRTMIN + 4; }
static int vt_acq_sig(void) { return SIGRTMIN + 5; }

static void vt_signal_handler(int sig)
{
	int saved = errno;
	char c = sig == vt_rel_sig() ? 'r' : 'a';

	if (write(vt_pipe[1], &c, 1) < 0) {
		/* pipe full: a switch request is already pending */
	}
	errno = saved;
}

/* ---- helpers ---------------------------------------------------------------- */

static uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	if (!props)
		return 0;
	for (uint32_t i = 0; i < props->count_props && !id; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && !strcmp(p->name, name))
			id = p->prop_id;
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

static uint64_t prop_value(int fd, uint32_t obj, uint32_t type, const char *name, uint64_t def)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint64_t v = def;

	if (!props)
		return def;
	for (uint32_t i = 0; i < props->count_props; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && !strcmp(p->name, name))
			v = props->prop_values[i];
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return v;
}

static int get_plane_props(int fd, uint32_t plane, struct plane_props *pp)
{
	pp->damage_clips = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "FB_DAMAGE_CLIPS");
	pp->fb_id = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "FB_ID");
	pp->crtc_id = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_ID");
	pp->src_x = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_X");
	pp->src_y = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_Y");
	pp->src_w = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_W");
	pp->src_h = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "SRC_H");
	pp->crtc_x = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_X");
	pp->crtc_y = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_Y");
	pp->crtc_w = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_W");
	pp->crtc_h = prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "CRTC_H");
	return pp->fb_id && pp->crtc_id && pp->src_x && pp->src_y && pp->src_w && pp->src_h &&
	       pp->crtc_x && pp->crtc_y && pp->crtc_w && pp->crtc_h ? 0 : -ENOENT;
}

static int dumb_create(int fd, uint32_t width, uint32_t height, uint32_t format, struct dumb_fb *fb)
{
	struct drm_mode_create_dumb create = { .width = width, .height = height, .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	int ret;

	memset(fb, 0, sizeof(*fb));
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create))
		return -errno;
	fb->handle = create.handle;
	fb->pitch = create.pitch;
	fb->size = create.size;
	fb->width = width;
	fb->height = height;
	handles[0] = fb->handle;
	pitches[0] = fb->pitch;
	if (drmModeAddFB2(fd, width, height, format, handles, pitches, offsets, &fb->fb_id, 0)) {
		ret = -errno;
		goto fail;
	}
	map.handle = fb->handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map)) {
		ret = -errno;
		goto fail;
	}
	fb->map = mmap(NULL, fb->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map.offset);
	if (fb->map == MAP_FAILED) {
		fb->map = NULL;
		ret = -errno;
		goto fail;
	}
	memset(fb->map, 0, fb->size);
	return 0;
fail:
	if (fb->fb_id)
		drmModeRmFB(fd, fb->fb_id);
	struct drm_mode_destroy_dumb destroy = { .handle = fb->handle };
	drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	memset(fb, 0, sizeof(*fb));
	return ret;
}

static void dumb_destroy(int fd, struct dumb_fb *fb)
{
	if (!fb->handle)
		return;
	if (fb->map)
		munmap(fb->map, fb->size);
	if (fb->fb_id)
		drmModeRmFB(fd, fb->fb_id);
	struct drm_mode_destroy_dumb destroy = { .handle = fb->handle };
	drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	memset(fb, 0, sizeof(*fb));
}

static void connector_name(const drmModeConnector *c, char *buf, size_t size)
{
	const char *type = drmModeGetConnectorTypeName(c->connector_type);

	snprintf(buf, size, "%s-%u", type ? type : "Unknown", c->connector_type_id);
}

/* ---- opening ---------------------------------------------------------------- */

static int open_card(const char *path, int *fd_out)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			vgi_error("drm: no permission to open %s (join the group owning it, usually 'video', or run as root)",
				  path);
		else
			vgi_error("drm: cannot open %s: %s", path, strerror(err));
		return -err;
	}
	*fd_out = fd;
	return 0;
}

/* Pick the connector (by name, or the first connected one). */
static int find_connector(struct vgi_drm_display *d, drmModeRes *res, const char *want, drmModeConnector **out)
{
	char names[256] = "";

	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnector *c = drmModeGetConnector(d->fd, res->connectors[i]);
		char name[32];

		if (!c)
			continue;
		connector_name(c, name, sizeof(name));
		if ((want && !strcmp(name, want)) || (!want && c->connection == DRM_MODE_CONNECTED)) {
			if (c->connection != DRM_MODE_CONNECTED || c->count_modes == 0) {
				vgi_error("drm: connector %s on %s is not connected", name, d->card);
				drmModeFreeConnector(c);
				return -ENODEV;
			}
			snprintf(d->connector_name, sizeof(d->connector_name), "%s", name);
			*out = c;
			return 0;
		}
		size_t len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s (%s)", len ? ", " : "", name,
			 c->connection == DRM_MODE_CONNECTED ? "connected" : "disconnected");
		drmModeFreeConnector(c);
	}
	if (want)
		vgi_error("drm: no connector '%s' on %s (it has: %s)", want, d->card, names[0] ? names : "none");
	else
		vgi_error("drm: no connected connector on %s (it has: %s)", d->card, names[0] ? names : "none");
	return -ENODEV;
}

static int find_crtc(struct vgi_drm_display *d, drmModeRes *res, drmModeConnector *c)
{
	/* the CRTC the connector uses now, else the first free one its encoders can drive */
	if (c->encoder_id) {
		drmModeEncoder *e = drmModeGetEncoder(d->fd, c->encoder_id);

		if (e && e->crtc_id) {
			d->crtc_id = e->crtc_id;
			drmModeFreeEncoder(e);
			goto found;
		}
		drmModeFreeEncoder(e);
	}
	for (int i = 0; i < c->count_encoders; i++) {
		drmModeEncoder *e = drmModeGetEncoder(d->fd, c->encoders[i]);

		if (!e)
			continue;
		for (int j = 0; j < res->count_crtcs; j++) {
			if (!(e->possible_crtcs & (1u << j)))
				continue;
			d->crtc_id = res->crtcs[j];
			drmModeFreeEncoder(e);
			goto found;
		}
		drmModeFreeEncoder(e);
	}
	vgi_error("drm: no CRTC can drive connector %s", d->connector_name);
	return -ENODEV;
found:
	for (int j = 0; j < res->count_crtcs; j++)
		if (res->crtcs[j] == d->crtc_id)
			d->crtc_index = (uint32_t)j;
	return 0;
}

static void find_planes(struct vgi_drm_display *d)
{
	drmModePlaneRes *pr = drmModeGetPlaneResources(d->fd);

	if (!pr)
		return;
	for (uint32_t i = 0; i < pr->count_planes; i++) {
		drmModePlane *p = drmModeGetPlane(d->fd, pr->planes[i]);
		uint64_t type;

		if (!p)
			continue;
		if (p->possible_crtcs & (1u << d->crtc_index)) {
			type = prop_value(d->fd, p->plane_id, DRM_MODE_OBJECT_PLANE, "type", UINT64_MAX);
			if (type == DRM_PLANE_TYPE_PRIMARY && !d->primary_plane)
				d->primary_plane = p->plane_id;
			else if (type == DRM_PLANE_TYPE_CURSOR && !d->cursor_plane)
				d->cursor_plane = p->plane_id;
		}
		drmModeFreePlane(p);
	}
	drmModeFreePlaneResources(pr);
}

static int setup_atomic(struct vgi_drm_display *d)
{
	if (drmSetClientCap(d->fd, DRM_CLIENT_CAP_ATOMIC, 1))
		return -ENOTSUP;
	/* virtual GPUs want the cursor's hot spot; newer kernels hide their cursor plane without this */
	drmSetClientCap(d->fd, DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT, 1);
	find_planes(d);
	d->conn_crtc_prop = prop_id(d->fd, d->connector_id, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID");
	d->crtc_mode_prop = prop_id(d->fd, d->crtc_id, DRM_MODE_OBJECT_CRTC, "MODE_ID");
	d->crtc_active_prop = prop_id(d->fd, d->crtc_id, DRM_MODE_OBJECT_CRTC, "ACTIVE");
	if (!d->primary_plane || get_plane_props(d->fd, d->primary_plane, &d->primary_props) ||
	    !d->conn_crtc_prop || !d->crtc_mode_prop || !d->crtc_active_prop ||
	    drmModeCreatePropertyBlob(d->fd, &d->mode, sizeof(d->mode), &d->mode_blob)) {
		drmSetClientCap(d->fd, DRM_CLIENT_CAP_ATOMIC, 0);
		d->primary_plane = d->cursor_plane = 0;
		return -ENOTSUP;
	}
	if (d->cursor_plane && get_plane_props(d->fd, d->cursor_plane, &d->cursor_props))
		d->cursor_plane = 0;
	if (d->cursor_plane) {
		d->hotspot_x_prop = prop_id(d->fd, d->cursor_plane, DRM_MODE_OBJECT_PLANE, "HOTSPOT_X");
		d->hotspot_y_prop = prop_id(d->fd, d->cursor_plane, DRM_MODE_OBJECT_PLANE, "HOTSPOT_Y");
	}
	return 0;
}

static void add_plane(drmModeAtomicReq *req, uint32_t plane, const struct plane_props *pp, uint32_t crtc,
		      uint32_t fb, int32_t x, int32_t y, uint32_t w, uint32_t h)
{
	drmModeAtomicAddProperty(req, plane, pp->fb_id, fb);
	drmModeAtomicAddProperty(req, plane, pp->crtc_id, fb ? crtc : 0);
	if (!fb)
		return;
	drmModeAtomicAddProperty(req, plane, pp->src_x, 0);
	drmModeAtomicAddProperty(req, plane, pp->src_y, 0);
	drmModeAtomicAddProperty(req, plane, pp->src_w, (uint64_t)w << 16);
	drmModeAtomicAddProperty(req, plane, pp->src_h, (uint64_t)h << 16);
	drmModeAtomicAddProperty(req, plane, pp->crtc_x, (uint64_t)(int64_t)x);
	drmModeAtomicAddProperty(req, plane, pp->crtc_y, (uint64_t)(int64_t)y);
	drmModeAtomicAddProperty(req, plane, pp->crtc_w, w);
	drmModeAtomicAddProperty(req, plane, pp->crtc_h, h);
}

static void add_cursor_plane(struct vgi_drm_display *d, drmModeAtomicReq *req)
{
	bool show = d->cursor_defined && d->cursor_visible;

	add_plane(req, d->cursor_plane, &d->cursor_props, d->crtc_id, show ? d->cursor_fb.fb_id : 0,
		  d->cursor_x - (int32_t)d->hot_x, d->cursor_y - (int32_t)d->hot_y, CURSOR_DIM, CURSOR_DIM);
	if (show && d->hotspot_x_prop && d->hotspot_y_prop) {
		drmModeAtomicAddProperty(req, d->cursor_plane, d->hotspot_x_prop, d->hot_x);
		drmModeAtomicAddProperty(req, d->cursor_plane, d->hotspot_y_prop, d->hot_y);
	}
}

/* damage: the buffer was just drawn and flip_damage says where (else the whole plane counts as damaged) */
static int commit_atomic(struct vgi_drm_display *d, int buf, bool modeset, bool damage)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	uint32_t flags = DRM_MODE_PAGE_FLIP_EVENT, damage_blob = 0;
	int ret;

	if (!req)
		return -ENOMEM;
	if (modeset) {
		drmModeAtomicAddProperty(req, d->connector_id, d->conn_crtc_prop, d->crtc_id);
		drmModeAtomicAddProperty(req, d->crtc_id, d->crtc_mode_prop, d->mode_blob);
		drmModeAtomicAddProperty(req, d->crtc_id, d->crtc_active_prop, 1);
		flags |= DRM_MODE_ATOMIC_ALLOW_MODESET;
	} else {
		flags |= DRM_MODE_ATOMIC_NONBLOCK;
	}
	add_plane(req, d->primary_plane, &d->primary_props, d->crtc_id, d->fb[buf].fb_id, 0, 0, d->width,
		  d->height);
	if (damage && d->primary_props.damage_clips) {
		/* tell the driver what changed in this buffer: virtio-gpu then transfers only that */
		int n;
		pixman_box32_t *b = pixman_region32_rectangles(&d->flip_damage, &n);
		struct drm_mode_rect *rects = calloc(n ? (size_t)n : 1, sizeof(*rects));

		if (rects) {
			for (int i = 0; i < n; i++)
				rects[i] = (struct drm_mode_rect){ b[i].x1, b[i].y1, b[i].x2, b[i].y2 };
			if (drmModeCreatePropertyBlob(d->fd, rects, (size_t)n * sizeof(*rects), &damage_blob))
				damage_blob = 0;
			free(rects);
		}
		if (damage_blob)
			drmModeAtomicAddProperty(req, d->primary_plane, d->primary_props.damage_clips, damage_blob);
	}
	if (d->cursor_kind == CURSOR_PLANE)
		add_cursor_plane(d, req);
	ret = drmModeAtomicCommit(d->fd, req, flags, d) ? -errno : 0;
	drmModeAtomicFree(req);
	if (damage_blob)
		drmModeDestroyPropertyBlob(d->fd, damage_blob);
	if (!ret)
		d->cursor_dirty = false;
	return ret;
}

static int legacy_cursor_update(struct vgi_drm_display *d, bool image)
{
	bool show = d->cursor_defined && d->cursor_visible;

	if (!show)
		return drmModeSetCursor(d->fd, d->crtc_id, 0, 0, 0) ? -errno : 0;
	if (image && drmModeSetCursor2(d->fd, d->crtc_id, d->cursor_fb.handle, CURSOR_DIM, CURSOR_DIM,
				       (int32_t)d->hot_x, (int32_t)d->hot_y) &&
	    drmModeSetCursor(d->fd, d->crtc_id, d->cursor_fb.handle, CURSOR_DIM, CURSOR_DIM))
		return -errno;
	return drmModeMoveCursor(d->fd, d->crtc_id, d->cursor_x - (int32_t)d->hot_x,
				 d->cursor_y - (int32_t)d->hot_y) ? -errno : 0;
}

static int modeset(struct vgi_drm_display *d)
{
	int ret;

	if (d->atomic) {
		ret = commit_atomic(d, d->front, true, false);
		if (!ret)
			d->flip_pending = true;
	} else {
		ret = drmModeSetCrtc(d->fd, d->crtc_id, d->fb[d->front].fb_id, 0, 0, &d->connector_id, 1, &d->mode)
			? -errno : 0;
	}
	if (!ret && d->cursor_kind == CURSOR_LEGACY)
		legacy_cursor_update(d, true);
	if (ret == -EACCES || ret == -EPERM)
		vgi_error("drm: no permission to set a mode on %s: another program (a display server?) is DRM master",
			  d->card);
	else if (ret)
		vgi_error("drm: cannot set mode %s on %s: %s", d->mode.name, d->connector_name, strerror(-ret));
	d->modeset_done = !ret;
	return ret;
}

/* ---- drawing ----------------------------------------------------------- */

static void cursor_rect(const struct vgi_drm_display *d, pixman_box32_t *b)
{
	b->x1 = d->cursor_x - (int32_t)d->hot_x;
	b->y1 = d->cursor_y - (int32_t)d->hot_y;
	b->x2 = b->x1 + CURSOR_DIM;
	b->y2 = b->y1 + CURSOR_DIM;
}

/* Bring buffer buf up to date with the shadow (and the software cursor). */
static void draw_buffer(struct vgi_drm_display *d, int buf)
{
	struct dumb_fb *fb = &d->fb[buf];
	pixman_region32_t *stale = &d->stale[buf];
	pixman_box32_t *boxes, cb;
	int n;

	if (d->cursor_kind == CURSOR_SOFTWARE) {
		/* restore what the old cursor covered, and redraw under the new one */
		pixman_region32_union(stale, stale, &d->sw_cursor_drawn[buf]);
		pixman_region32_clear(&d->sw_cursor_drawn[buf]);
		if (d->cursor_defined && d->cursor_visible) {
			cursor_rect(d, &cb);
			pixman_region32_union_rect(stale, stale, cb.x1, cb.y1, CURSOR_DIM, CURSOR_DIM);
		}
	}
	pixman_region32_intersect_rect(stale, stale, 0, 0, d->width, d->height);
	pixman_region32_copy(&d->flip_damage, stale);
	boxes = pixman_region32_rectangles(stale, &n);
	for (int i = 0; i < n; i++) {
		size_t w = (size_t)(boxes[i].x2 - boxes[i].x1) * 4;

		for (int32_t y = boxes[i].y1; y < boxes[i].y2; y++)
			memcpy(fb->map + (size_t)y * fb->pitch + (size_t)boxes[i].x1 * 4,
			       d->shadow + (size_t)y * d->width + boxes[i].x1, w);
	}
	pixman_region32_clear(stale);

	if (d->cursor_kind == CURSOR_SOFTWARE && d->cursor_defined && d->cursor_visible) {
		pixman_image_t *src = pixman_image_create_bits(PIXMAN_a8r8g8b8, CURSOR_DIM, CURSOR_DIM,
							       d->cursor_pixels, CURSOR_DIM * 4);
		pixman_image_t *dst = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)d->width, (int)d->height,
							       (uint32_t *)fb->map, (int)fb->pitch);

		cursor_rect(d, &cb);
		if (src && dst)
			pixman_image_composite32(PIXMAN_OP_OVER, src, NULL, dst, 0, 0, 0, 0, cb.x1, cb.y1,
						 CURSOR_DIM, CURSOR_DIM);
		if (src)
			pixman_image_unref(src);
		if (dst)
			pixman_image_unref(dst);
		pixman_region32_union_rect(&d->sw_cursor_drawn[buf], &d->sw_cursor_drawn[buf], cb.x1, cb.y1,
					   CURSOR_DIM, CURSOR_DIM);
		pixman_region32_union_rect(&d->flip_damage, &d->flip_damage, cb.x1, cb.y1, CURSOR_DIM, CURSOR_DIM);
		pixman_region32_intersect_rect(&d->flip_damage, &d->flip_damage, 0, 0, d->width, d->height);
	}
}

/* Show what is pending, if the display can take a flip now. */
static int present_now(struct vgi_drm_display *d)
{
	int back, ret;

	if (!d->active || d->flip_pending || !d->modeset_done)
		return 0;
	if (!d->needs_present) {
		if (d->atomic && d->cursor_kind == CURSOR_PLANE && d->cursor_dirty) {
			/* cursor-only commit on the buffer already shown: nothing in it changed */
			pixman_region32_clear(&d->flip_damage);
			ret = commit_atomic(d, d->front, false, true);
			if (!ret)
				d->flip_pending = true;
			return ret;
		}
		return 0;
	}
	back = !d->front;
	draw_buffer(d, back);
	if (d->atomic)
		ret = commit_atomic(d, back, false, true);
	else
		ret = drmModePageFlip(d->fd, d->crtc_id, d->fb[back].fb_id, DRM_MODE_PAGE_FLIP_EVENT, d) ? -errno : 0;
	if (ret == -EBUSY)
		return 0;	/* retried on the next event */
	if (ret) {
		vgi_warn("drm: page flip on %s failed: %s", d->connector_name, strerror(-ret));
		/* keep the buffer's content consistent: everything is stale again */
		pixman_region32_union_rect(&d->stale[back], &d->stale[back], 0, 0, d->width, d->height);
		return ret;
	}
	d->front = back;
	d->flip_pending = true;
	d->needs_present = false;
	return 0;
}

static void mark_damage(struct vgi_drm_display *d, int32_t x, int32_t y, uint32_t w, uint32_t h)
{
	for (int i = 0; i < 2; i++)
		pixman_region32_union_rect(&d->stale[i], &d->stale[i], x, y, w, h);
	d->needs_present = true;
}

/* ---- VT ---------------------------------------------------------------- */

static int vt_setup(struct vgi_drm_display *d, const struct vgi_drm_display_options *o)
{
	struct vt_mode mode;
	struct sigaction sa;
	int fd;

	if (o->no_vt)
		return 0;
	if (o->tty) {
		fd = open(o->tty, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			vgi_error("drm: cannot open VT %s: %s", o->tty, strerror(errno));
			return -errno;
		}
		d->own_tty_fd = true;
	} else {
		fd = STDIN_FILENO;
	}
	if (ioctl(fd, VT_GETMODE, &d->saved_vt_mode) || ioctl(fd, KDGETMODE, &d->saved_kd_mode)) {
		if (o->tty) {
			vgi_error("drm: %s is not a virtual terminal", o->tty);
			close(fd);
			return -ENOTTY;
		}
		return 0;	/* not on a VT: no switching to handle */
	}
	if (vt_in_use) {
		vgi_warn("drm: another display already handles the VT; VT switching is off for %s", d->card);
		if (d->own_tty_fd)
			close(fd);
		return 0;
	}
	if (pipe2(vt_pipe, O_CLOEXEC | O_NONBLOCK)) {
		if (d->own_tty_fd)
			close(fd);
		return -errno;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vt_signal_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(vt_rel_sig(), &sa, &old_rel_action);
	sigaction(vt_acq_sig(), &sa, &old_acq_action);
	memset(&mode, 0, sizeof(mode));
	mode.mode = VT_PROCESS;
	mode.relsig = (short)vt_rel_sig();
	mode.acqsig = (short)vt_acq_sig();
	if (ioctl(fd, VT_SETMODE, &mode)) {
		vgi_warn("drm: VT_SETMODE: %s; VT switching is off", strerror(errno));
		sigaction(vt_rel_sig(), &old_rel_action, NULL);
		sigaction(vt_acq_sig(), &old_acq_action, NULL);
		close(vt_pipe[0]);
		close(vt_pipe[1]);
		vt_pipe[0] = vt_pipe[1] = -1;
		if (d->own_tty_fd)
			close(fd);
		return 0;
	}
	if (ioctl(fd, KDSETMODE, KD_GRAPHICS))
		vgi_warn("drm: KDSETMODE KD_GRAPHICS: %s", strerror(errno));
	d->tty_fd = fd;
	vt_in_use = true;
	return 0;
}

static void vt_finish(struct vgi_drm_display *d)
{
	if (d->tty_fd < 0)
		return;
	ioctl(d->tty_fd, KDSETMODE, d->saved_kd_mode);
	ioctl(d->tty_fd, VT_SETMODE, &d->saved_vt_mode);
	sigaction(vt_rel_sig(), &old_rel_action, NULL);
	sigaction(vt_acq_sig(), &old_acq_action, NULL);
	close(vt_pipe[0]);
	close(vt_pipe[1]);
	vt_pipe[0] = vt_pipe[1] = -1;
	if (d->own_tty_fd)
		close(d->tty_fd);
	d->tty_fd = -1;
	vt_in_use = false;
}

static void page_flip_handler(int fd, unsigned int seq, unsigned int tv_sec, unsigned int tv_usec, void *data);

/* Wait (bounded) for the flip in flight, handling DRM events only. */
static void wait_flip(struct vgi_drm_display *d, int timeout_ms)
{
	drmEventContext ctx = { .version = 2, .page_flip_handler = page_flip_handler };

	while (d->flip_pending) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };

		if (poll(&pfd, 1, timeout_ms) <= 0 || drmHandleEvent(d->fd, &ctx))
			break;
	}
}

static void vt_release(struct vgi_drm_display *d)
{
	if (d->active) {
		/* wait for the flip in flight so no event lands while another owns the card */
		wait_flip(d, 100);
		d->active = false;
		if (drmDropMaster(d->fd))
			vgi_warn("drm: drop master: %s", strerror(errno));
	}
	ioctl(d->tty_fd, VT_RELDISP, 1);
	vgi_info("drm: VT released");
}

static void vt_acquire(struct vgi_drm_display *d)
{
	ioctl(d->tty_fd, VT_RELDISP, VT_ACKACQ);
	if (d->active)
		return;
	if (drmSetMaster(d->fd)) {
		vgi_warn("drm: cannot become DRM master again: %s", strerror(errno));
		return;
	}
	d->active = true;
	d->flip_pending = false;
	/* someone else drew: redraw both buffers completely */
	mark_damage(d, 0, 0, d->width, d->height);
	d->cursor_dirty = true;
	draw_buffer(d, d->front);
	if (modeset(d) == 0)
		present_now(d);
	vgi_info("drm: VT acquired");
}

/* ---- public ------------------------------------------------------------ */

static int first_card(char *path, size_t size)
{
	DIR *dir = opendir("/dev/dri");
	struct dirent *e;
	int best = -1;

	if (!dir)
		return -ENOENT;
	while ((e = readdir(dir))) {
		int n;

		if (sscanf(e->d_name, "card%d", &n) == 1 && (best < 0 || n < best))
			best = n;
	}
	closedir(dir);
	if (best < 0)
		return -ENOENT;
	snprintf(path, size, "/dev/dri/card%d", best);
	return 0;
}

int vgi_drm_display_open(const struct vgi_drm_display_options *o, struct vgi_drm_display **out)
{
	static const struct vgi_drm_display_options defaults;
	struct vgi_drm_display *d;
	drmModeRes *res = NULL;
	drmModeConnector *conn = NULL;
	struct epoll_event ev;
	int ret;

	if (!o)
		o = &defaults;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = d->epfd = d->tty_fd = -1;
	d->active = true;
	for (int i = 0; i < 2; i++) {
		pixman_region32_init(&d->stale[i]);
		pixman_region32_init(&d->sw_cursor_drawn[i]);
	}
	pixman_region32_init(&d->flip_damage);

	if (o->card) {
		snprintf(d->card, sizeof(d->card), "%s", o->card);
	} else if (first_card(d->card, sizeof(d->card))) {
		vgi_error("drm: no DRM card: /dev/dri/card* does not exist (no GPU, or its driver is not loaded)");
		ret = -ENOENT;
		goto fail;
	}
	if (access(d->card, F_OK)) {
		vgi_error("drm: no DRM card %s: %s", d->card, strerror(errno));
		ret = -ENOENT;
		goto fail;
	}
	if ((ret = open_card(d->card, &d->fd)))
		goto fail;
	res = drmModeGetResources(d->fd);
	if (!res) {
		vgi_error("drm: %s has no KMS resources (a render-only device?): %s", d->card, strerror(errno));
		ret = -ENODEV;
		goto fail;
	}
	if ((ret = find_connector(d, res, o->connector, &conn)))
		goto fail;
	d->connector_id = conn->connector_id;

	/* the mode: WxH (first match), else preferred, else the first listed */
	int pick = -1;
	for (int i = 0; i < conn->count_modes && pick < 0; i++) {
		if (o->width && o->height) {
			if (conn->modes[i].hdisplay == o->width && conn->modes[i].vdisplay == o->height)
				pick = i;
		} else if (conn->modes[i].type & DRM_MODE_TYPE_PREFERRED) {
			pick = i;
		}
	}
	if (pick < 0 && !(o->width && o->height))
		pick = 0;
	if (pick < 0) {
		char modes[256] = "";

		for (int i = 0; i < conn->count_modes; i++) {
			size_t len = strlen(modes);

			snprintf(modes + len, sizeof(modes) - len, "%s%ux%u", len ? " " : "",
				 conn->modes[i].hdisplay, conn->modes[i].vdisplay);
		}
		vgi_error("drm: connector %s has no mode %ux%u (it has: %s)", d->connector_name, o->width,
			  o->height, modes);
		ret = -ENODEV;
		goto fail;
	}
	d->mode = conn->modes[pick];
	d->width = d->mode.hdisplay;
	d->height = d->mode.vdisplay;
	if ((ret = find_crtc(d, res, conn)))
		goto fail;

	if (!drmIsMaster(d->fd) && drmSetMaster(d->fd)) {
		vgi_error("drm: cannot become DRM master of %s: %s (another program, e.g. a display server, holds it)",
			  d->card, strerror(errno));
		ret = -EACCES;
		goto fail;
	}
	drmSetClientCap(d->fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
	d->atomic = !o->no_atomic && setup_atomic(d) == 0;
	d->saved_crtc = drmModeGetCrtc(d->fd, d->crtc_id);

	for (int i = 0; i < 2; i++) {
		if ((ret = dumb_create(d->fd, d->width, d->height, DRM_FORMAT_XRGB8888, &d->fb[i]))) {
			vgi_error("drm: cannot create a %ux%u dumb buffer on %s: %s", d->width, d->height, d->card,
				  strerror(-ret));
			goto fail;
		}
	}
	d->shadow = calloc((size_t)d->width * d->height, 4);
	if (!d->shadow) {
		ret = -ENOMEM;
		goto fail;
	}

	/*
	 * cursor: the plane in atomic commits when it takes a hot spot (or when
	 * the legacy ioctls fail), else drmModeSetCursor2, which carries the hot
	 * spot that virtual GPUs pass to the host pointer, else software
	 */
	d->cursor_kind = CURSOR_SOFTWARE;
	if (o->cursor != VGI_DRM_CURSOR_SOFTWARE &&
	    dumb_create(d->fd, CURSOR_DIM, CURSOR_DIM, DRM_FORMAT_ARGB8888, &d->cursor_fb) == 0) {
		if (d->atomic && d->cursor_plane && d->hotspot_x_prop && d->hotspot_y_prop)
			d->cursor_kind = CURSOR_PLANE;
		else if (drmModeSetCursor(d->fd, d->crtc_id, 0, 0, 0) == 0)
			d->cursor_kind = CURSOR_LEGACY;
		else if (d->atomic && d->cursor_plane)
			d->cursor_kind = CURSOR_PLANE;
		else
			dumb_destroy(d->fd, &d->cursor_fb);
	}

	if ((ret = vt_setup(d, o)))
		goto fail;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		ret = -errno;
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.fd = d->fd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fd, &ev);
	if (d->tty_fd >= 0) {
		ev.data.fd = vt_pipe[0];
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, vt_pipe[0], &ev);
	}

	d->front = 0;
	if ((ret = modeset(d)))
		goto fail;
	vgi_info("drm: %s %s %ux%u@%u, %s, cursor: %s%s", d->card, d->connector_name, d->width, d->height,
		 d->mode.vrefresh, d->atomic ? "atomic" : "legacy", vgi_drm_display_cursor_kind(d),
		 d->tty_fd >= 0 ? ", VT switching" : "");
	drmModeFreeConnector(conn);
	drmModeFreeResources(res);
	*out = d;
	return 0;
fail:
	drmModeFreeConnector(conn);
	drmModeFreeResources(res);
	vgi_drm_display_free(d);
	return ret;
}

void vgi_drm_display_free(struct vgi_drm_display *d)
{
	if (!d)
		return;
	if (d->fd >= 0 && d->modeset_done && d->active) {
		wait_flip(d, 200);
		if (d->cursor_kind == CURSOR_LEGACY)
			drmModeSetCursor(d->fd, d->crtc_id, 0, 0, 0);
		if (d->atomic && d->cursor_kind == CURSOR_PLANE) {
			drmModeAtomicReq *req = drmModeAtomicAlloc();

			if (req) {
				add_plane(req, d->cursor_plane, &d->cursor_props, d->crtc_id, 0, 0, 0, 0, 0);
				drmModeAtomicCommit(d->fd, req, 0, NULL);
				drmModeAtomicFree(req);
			}
		}
		/* the previous CRTC state (legacy call: works with and without the atomic cap) */
		drmModeCrtc *c = d->saved_crtc;
		if (c && c->mode_valid && c->buffer_id)
			drmModeSetCrtc(d->fd, c->crtc_id, c->buffer_id, c->x, c->y, &d->connector_id, 1, &c->mode);
		else if (c)
			drmModeSetCrtc(d->fd, c->crtc_id, 0, 0, 0, NULL, 0, NULL);
	}
	vt_finish(d);
	if (d->fd >= 0) {
		for (int i = 0; i < 2; i++)
			dumb_destroy(d->fd, &d->fb[i]);
		dumb_destroy(d->fd, &d->cursor_fb);
		if (d->mode_blob)
			drmModeDestroyPropertyBlob(d->fd, d->mode_blob);
		close(d->fd);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	drmModeFreeCrtc(d->saved_crtc);
	for (int i = 0; i < 2; i++) {
		pixman_region32_fini(&d->stale[i]);
		pixman_region32_fini(&d->sw_cursor_drawn[i]);
	}
	pixman_region32_fini(&d->flip_damage);
	free(d->shadow);
	free(d);
}

void vgi_drm_display_size(const struct vgi_drm_display *d, uint32_t *width, uint32_t *height)
{
	*width = d->width;
	*height = d->height;
}

const char *vgi_drm_display_connector(const struct vgi_drm_display *d)
{
	return d->connector_name;
}

const char *vgi_drm_display_card(const struct vgi_drm_display *d)
{
	return d->card;
}

bool vgi_drm_display_atomic(const struct vgi_drm_display *d)
{
	return d->atomic;
}

const char *vgi_drm_display_cursor_kind(const struct vgi_drm_display *d)
{
	return d->cursor_kind == CURSOR_PLANE ? "plane" : d->cursor_kind == CURSOR_LEGACY ? "legacy" : "software";
}

int vgi_drm_display_present(struct vgi_drm_display *d, const struct vgi_image *img,
			    const struct vgi_rect *damage, unsigned ndamage)
{
	pixman_format_code_t pf = (pixman_format_code_t)vgi_format_to_pixman(img->format);
	pixman_image_t *src = NULL, *dst = NULL;

	if (!pf || !img->data || img->stride < (uint64_t)img->width * 4)
		return -EINVAL;
	for (unsigned i = 0; i < ndamage; i++) {
		struct vgi_rect r = damage[i];

		if (!vgi_rect_clip(&r, img->width < d->width ? img->width : d->width,
				   img->height < d->height ? img->height : d->height))
			continue;
		if (img->format == DRM_FORMAT_XRGB8888 || img->format == DRM_FORMAT_ARGB8888) {
			const uint8_t *s = (const uint8_t *)img->data + (size_t)r.y * img->stride + (size_t)r.x * 4;

			for (uint32_t y = 0; y < r.height; y++)
				memcpy(d->shadow + (size_t)(r.y + y) * d->width + r.x, s + (size_t)y * img->stride,
				       (size_t)r.width * 4);
		} else {
			if (!src)
				src = pixman_image_create_bits(pf, (int)img->width, (int)img->height,
							       (uint32_t *)img->data, (int)img->stride);
			if (!dst)
				dst = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)d->width, (int)d->height,
							       d->shadow, (int)d->width * 4);
			if (src && dst)
				pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, (int)r.x, (int)r.y, 0, 0,
							 (int)r.x, (int)r.y, (int)r.width, (int)r.height);
		}
		mark_damage(d, (int32_t)r.x, (int32_t)r.y, r.width, r.height);
	}
	if (src)
		pixman_image_unref(src);
	if (dst)
		pixman_image_unref(dst);
	present_now(d);
	return 0;
}

void vgi_drm_display_set_frame_size(struct vgi_drm_display *d, uint32_t width, uint32_t height)
{
	/* blank the right and bottom parts that the new frame does not cover */
	if (width < d->width) {
		for (uint32_t y = 0; y < d->height; y++)
			memset(d->shadow + (size_t)y * d->width + width, 0, (size_t)(d->width - width) * 4);
		mark_damage(d, (int32_t)width, 0, d->width - width, d->height);
	}
	if (height < d->height) {
		memset(d->shadow + (size_t)height * d->width, 0, (size_t)(d->height - height) * d->width * 4);
		mark_damage(d, 0, (int32_t)height, d->width, d->height - height);
	}
	present_now(d);
}

void vgi_drm_display_cursor(struct vgi_drm_display *d, const struct vgi_cursor *c)
{
	bool image = false;

	if (c->image_changed && c->pixels) {
		memcpy(d->cursor_pixels, c->pixels, sizeof(d->cursor_pixels));
		d->hot_x = c->hot_x < CURSOR_DIM ? c->hot_x : CURSOR_DIM - 1;
		d->hot_y = c->hot_y < CURSOR_DIM ? c->hot_y : CURSOR_DIM - 1;
		d->cursor_defined = true;
		image = true;
		if (d->cursor_fb.map)
			for (int y = 0; y < CURSOR_DIM; y++)
				memcpy(d->cursor_fb.map + (size_t)y * d->cursor_fb.pitch,
				       d->cursor_pixels + y * CURSOR_DIM, CURSOR_DIM * 4);
	}
	d->cursor_visible = c->visible;
	/* far off screen is as good as anywhere off screen, and keeps x - hot_x in range */
	d->cursor_x = c->x < -(1 << 20) ? -(1 << 20) : c->x > (1 << 20) ? (1 << 20) : c->x;
	d->cursor_y = c->y < -(1 << 20) ? -(1 << 20) : c->y > (1 << 20) ? (1 << 20) : c->y;
	switch (d->cursor_kind) {
	case CURSOR_LEGACY:
		if (d->active && legacy_cursor_update(d, image))
			vgi_warn("drm: cursor update failed: %s", strerror(errno));
		break;
	case CURSOR_PLANE:
		d->cursor_dirty = true;
		present_now(d);
		break;
	case CURSOR_SOFTWARE:
		d->needs_present = true;	/* draw_buffer restores the old spot and blends the new */
		present_now(d);
		break;
	}
}

int vgi_drm_display_get_fd(const struct vgi_drm_display *d)
{
	return d->epfd;
}

static void page_flip_handler(int fd, unsigned int seq, unsigned int tv_sec, unsigned int tv_usec, void *data)
{
	struct vgi_drm_display *d = data;

	d->flip_pending = false;
	d->flips++;
}

int vgi_drm_display_dispatch(struct vgi_drm_display *d)
{
	struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
	drmEventContext ctx = {
		.version = 2,
		.page_flip_handler = page_flip_handler,
	};
	char c;

	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
		if (drmHandleEvent(d->fd, &ctx))
			return -errno;
	}
	if (d->tty_fd >= 0) {
		while (read(vt_pipe[0], &c, 1) == 1) {
			if (c == 'r')
				vt_release(d);
			else
				vt_acquire(d);
		}
	}
	present_now(d);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vgi_drm_display_flush(struct vgi_drm_display *d, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	present_now(d);
	while (d->active && (d->flip_pending || d->needs_present ||
			     (d->cursor_kind == CURSOR_PLANE && d->cursor_dirty))) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
		int64_t left = end - now_ms();
		int ret;

		if (left <= 0)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, (int)left);
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (ret > 0 && (ret = vgi_drm_display_dispatch(d)))
			return ret;
	}
	return 0;
}

bool vgi_drm_display_active(const struct vgi_drm_display *d)
{
	return d->active;
}

uint64_t vgi_drm_display_flip_count(const struct vgi_drm_display *d)
{
	return d->flips;
}
