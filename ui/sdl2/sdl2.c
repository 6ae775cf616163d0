// SPDX-License-Identifier: MIT
/*
 * SDL2 display sink: one window per enabled scanout.
 *
 * Pixels: the sink keeps an XRGB8888 copy of each scanout (the device's
 * image is only valid during the call). Damage is converted into that copy
 * and, on the software path, blitted into SDL's window surface and pushed
 * with SDL_UpdateWindowSurfaceRects for that rectangle only, so a small
 * update costs in proportion to its area. On the GL path (gl=on, or when a
 * GL scanout arrives) the damage goes into a GL texture with
 * glTexSubImage2D of the rectangle and a quad is drawn.
 *
 * GL scanouts: a dmabuf is imported with EGL_EXT_image_dma_buf_import into
 * the window's GLES2 context (SDL is asked for EGL on X11). A bare texture
 * name from the device's context cannot be used in ours and is refused.
 *
 * Events: SDL is polled from a GLib timeout (100 Hz) on the default main
 * context while a window exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drm_fourcc.h>
#include <glib.h>
#include <linux/input-event-codes.h>
#include <SDL.h>
#include <SDL_syswm.h>

#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#include "sdl2-keymap.h"
#include "sdl2-sink.h"

#ifdef VGI_SDL_GL
#include <epoxy/egl.h>
#include <epoxy/gl.h>

#include "../gl-program.h"
#endif

#define POLL_MS 10
#define ABS_MAX_VALUE 32767

enum gl_mode { GL_OFF, GL_ON, GL_AUTO };

struct sdl_sink;

struct sdl_output {
	struct sdl_sink *sink;
	uint32_t id;
	bool enabled;
	uint32_t width, height;		/* scanout size */
	SDL_Surface *shadow;		/* XRGB8888 copy of the scanout */
	SDL_Window *win;
	bool gl_window;			/* created with SDL_WINDOW_OPENGL */
	int win_w, win_h;
	int rep_w, rep_h;		/* last size reported through output_changed */
	SDL_Rect dst;			/* where the scanout lands in the window */
	SDL_Cursor *cursor;
	bool cursor_visible;
	bool fullscreen;
	int windowed_w, windowed_h;	/* size before fullscreen */
#ifdef VGI_SDL_GL
	SDL_GLContext ctx;
	GLuint tex, prog;
	GLint loc_pos, loc_uv;
	uint32_t tex_w, tex_h;
	bool gl_scanout;		/* showing an imported GL buffer, not the shadow */
	EGLImageKHR image;
	float u0, v0, u1, v1;
#endif
};

struct sdl_sink {
	struct vgi_display_host host;
	enum gl_mode gl;
	bool gl_broken;
	struct sdl_output out[VGI_MAX_SCANOUTS];
	guint poll_id;
	unsigned windows;
	bool grab;
	SDL_Cursor *blank;
	uint8_t keys_down[(KEY_MAX + 8) / 8];	/* evdev keys we sent down */
	bool hotkey_down[SDL_NUM_SCANCODES];	/* G/F pressed as a hotkey: swallow the release */
	uint64_t presented;
};

static bool sdl_sink_alive;	/* SDL's event queue is process-wide: one sink at a time */

/* ---- input to the host ---- */

static void send_ev(struct sdl_sink *s, uint32_t id, uint16_t type, uint16_t code, int32_t value)
{
	struct vgi_input_event ev = { .type = type, .code = code, .value = value };

	if (s->host.input)
		s->host.input(s->host.opaque, id, &ev);
}

static void send_syn(struct sdl_sink *s, uint32_t id)
{
	send_ev(s, id, EV_SYN, SYN_REPORT, 0);
}

static void send_key(struct sdl_sink *s, uint32_t id, unsigned code, bool down)
{
	bool was = s->keys_down[code / 8] & (1u << (code % 8));

	if (!down && !was)
		return;		/* a release we never pressed (e.g. after focus loss) */
	if (down)
		s->keys_down[code / 8] |= (uint8_t)(1u << (code % 8));
	else
		s->keys_down[code / 8] &= (uint8_t)~(1u << (code % 8));
	send_ev(s, id, EV_KEY, (uint16_t)code, down ? 1 : 0);
	send_syn(s, id);
}

static void release_all_keys(struct sdl_sink *s, uint32_t id)
{
	for (unsigned code = 0; code <= KEY_MAX; code++)
		if (s->keys_down[code / 8] & (1u << (code % 8)))
			send_key(s, id, code, false);
}

/* ---- pixels ---- */

static Uint32 sdl_format(uint32_t drm)
{
	/* DRM fourccs are little-endian, SDL's packed formats native-endian: equal on LE hosts. */
#if SDL_BYTEORDER == SDL_LIL_ENDIAN
	switch (drm) {
	case DRM_FORMAT_XRGB8888: case DRM_FORMAT_ARGB8888: return SDL_PIXELFORMAT_XRGB8888;
	case DRM_FORMAT_XBGR8888: case DRM_FORMAT_ABGR8888: return SDL_PIXELFORMAT_XBGR8888;
	case DRM_FORMAT_BGRX8888: case DRM_FORMAT_BGRA8888: return SDL_PIXELFORMAT_BGRX8888;
	case DRM_FORMAT_RGBX8888: case DRM_FORMAT_RGBA8888: return SDL_PIXELFORMAT_RGBX8888;
	}
#endif
	(void)drm;
	return SDL_PIXELFORMAT_UNKNOWN;
}

static void out_layout(struct sdl_output *o)
{
	int w = o->win_w, h = o->win_h;

	if (!o->width || !o->height || w <= 0 || h <= 0) {
		o->dst = (SDL_Rect){ 0, 0, w, h };
		return;
	}
	if ((uint32_t)w == o->width && (uint32_t)h == o->height) {
		o->dst = (SDL_Rect){ 0, 0, w, h };
		return;
	}
	/* Scale to fit, keeping the aspect ratio, centred. */
	if ((uint64_t)w * o->height <= (uint64_t)h * o->width) {
		o->dst.w = w;
		o->dst.h = (int)((uint64_t)w * o->height / o->width);
	} else {
		o->dst.h = h;
		o->dst.w = (int)((uint64_t)h * o->width / o->height);
	}
	if (o->dst.w < 1)
		o->dst.w = 1;
	if (o->dst.h < 1)
		o->dst.h = 1;
	o->dst.x = (w - o->dst.w) / 2;
	o->dst.y = (h - o->dst.h) / 2;
}

#ifdef VGI_SDL_GL
static int gl_setup(struct sdl_output *o)
{
	o->ctx = SDL_GL_CreateContext(o->win);
	if (!o->ctx) {
		vgi_warn("sdl: no GL context (%s): using the window surface", SDL_GetError());
		return -ENODEV;
	}
	SDL_GL_MakeCurrent(o->win, o->ctx);
	SDL_GL_SetSwapInterval(0);
	o->prog = vgi_gl_program(vgi_gl_quad_vs_es, vgi_gl_quad_fs_es, "sdl");
	if (!o->prog)
		goto fail;
	o->loc_pos = glGetAttribLocation(o->prog, "pos");
	o->loc_uv = glGetAttribLocation(o->prog, "uv");
	glGenTextures(1, &o->tex);
	glBindTexture(GL_TEXTURE_2D, o->tex);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
	vgi_info("sdl: scanout %u: GL path (%s, %s)", o->id, (const char *)glGetString(GL_RENDERER),
		 (const char *)glGetString(GL_VERSION));
	return 0;
fail:
	SDL_GL_DeleteContext(o->ctx);
	o->ctx = NULL;
	return -ENODEV;
}

static void gl_drop_image(struct sdl_output *o)
{
	if (o->image != EGL_NO_IMAGE_KHR) {
		eglDestroyImageKHR(eglGetCurrentDisplay(), o->image);
		o->image = EGL_NO_IMAGE_KHR;
	}
}

static void gl_teardown(struct sdl_output *o)
{
	if (!o->ctx)
		return;
	SDL_GL_MakeCurrent(o->win, o->ctx);
	gl_drop_image(o);
	glDeleteTextures(1, &o->tex);
	glDeleteProgram(o->prog);
	o->tex = o->prog = 0;
	o->tex_w = o->tex_h = 0;
	o->gl_scanout = false;
	SDL_GL_MakeCurrent(o->win, NULL);
	SDL_GL_DeleteContext(o->ctx);
	o->ctx = NULL;
}

/* Upload r of the shadow into the texture (allocating it first if needed). */
static void gl_upload(struct sdl_output *o, const SDL_Rect *r)
{
	const uint8_t *px = o->shadow->pixels;
	int pitch = o->shadow->pitch;

	SDL_GL_MakeCurrent(o->win, o->ctx);
	if (o->gl_scanout) {
		/* back from an imported buffer to pixels: a fresh texture */
		gl_drop_image(o);
		glDeleteTextures(1, &o->tex);
		glGenTextures(1, &o->tex);
		glBindTexture(GL_TEXTURE_2D, o->tex);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
		o->gl_scanout = false;
		o->tex_w = o->tex_h = 0;
	}
	glBindTexture(GL_TEXTURE_2D, o->tex);
	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	o->u0 = 0.0f, o->v0 = 0.0f, o->u1 = 1.0f, o->v1 = 1.0f;
	if (o->tex_w != o->width || o->tex_h != o->height) {
		glTexImage2D(GL_TEXTURE_2D, 0, GL_BGRA_EXT, (GLsizei)o->width, (GLsizei)o->height, 0,
			     GL_BGRA_EXT, GL_UNSIGNED_BYTE, NULL);
		o->tex_w = o->width;
		o->tex_h = o->height;
		r = NULL;	/* everything */
	}
	SDL_Rect all = { 0, 0, (int)o->width, (int)o->height };
	if (!r)
		r = &all;
	/* Only the damaged rectangle travels: rows of r, one call when the row length can be given. */
	if (epoxy_has_gl_extension("GL_EXT_unpack_subimage")) {
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, pitch / 4);
		glTexSubImage2D(GL_TEXTURE_2D, 0, r->x, r->y, r->w, r->h, GL_BGRA_EXT, GL_UNSIGNED_BYTE,
				px + (size_t)r->y * pitch + (size_t)r->x * 4);
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, 0);
	} else {
		for (int y = r->y; y < r->y + r->h; y++)
			glTexSubImage2D(GL_TEXTURE_2D, 0, r->x, y, r->w, 1, GL_BGRA_EXT, GL_UNSIGNED_BYTE,
					px + (size_t)y * pitch + (size_t)r->x * 4);
	}
}

static void gl_draw(struct sdl_output *o)
{
	/* dst in window pixels; GL's y axis points up */
	float x0 = 2.0f * o->dst.x / o->win_w - 1.0f, x1 = 2.0f * (o->dst.x + o->dst.w) / o->win_w - 1.0f;
	float y0 = 1.0f - 2.0f * o->dst.y / o->win_h, y1 = 1.0f - 2.0f * (o->dst.y + o->dst.h) / o->win_h;
	const GLfloat pos[] = { x0, y0, x1, y0, x0, y1, x1, y1 };
	const GLfloat uv[] = { o->u0, o->v0, o->u1, o->v0, o->u0, o->v1, o->u1, o->v1 };

	SDL_GL_MakeCurrent(o->win, o->ctx);
	glViewport(0, 0, o->win_w, o->win_h);
	glClearColor(0, 0, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	if (o->tex_w) {
		glUseProgram(o->prog);
		glActiveTexture(GL_TEXTURE0);
		glBindTexture(GL_TEXTURE_2D, o->tex);
		/* 1:1 shows texels exactly; scaled views are filtered */
		GLint filter = o->dst.w == (int)o->width && o->dst.h == (int)o->height ? GL_NEAREST : GL_LINEAR;
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
		glVertexAttribPointer((GLuint)o->loc_pos, 2, GL_FLOAT, GL_FALSE, 0, pos);
		glVertexAttribPointer((GLuint)o->loc_uv, 2, GL_FLOAT, GL_FALSE, 0, uv);
		glEnableVertexAttribArray((GLuint)o->loc_pos);
		glEnableVertexAttribArray((GLuint)o->loc_uv);
		glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
	}
	SDL_GL_SwapWindow(o->win);
}
#endif

static bool out_is_gl(const struct sdl_output *o)
{
#ifdef VGI_SDL_GL
	return o->ctx != NULL;
#else
	(void)o;
	return false;
#endif
}

/* Show r of the scanout (NULL: the whole window). */
static void out_present(struct sdl_output *o, const SDL_Rect *r)
{
	SDL_Surface *ws;

	if (!o->win)
		return;
#ifdef VGI_SDL_GL
	if (o->ctx) {
		SDL_GL_GetDrawableSize(o->win, &o->win_w, &o->win_h);
		out_layout(o);
		if (r && o->shadow)
			gl_upload(o, r);
		else if (o->shadow && !o->gl_scanout && o->tex_w != o->width)
			gl_upload(o, NULL);
		gl_draw(o);
		o->sink->presented++;
		return;
	}
#endif
	ws = SDL_GetWindowSurface(o->win);
	if (!ws)
		return;
	o->win_w = ws->w;
	o->win_h = ws->h;
	out_layout(o);
	if (!o->shadow) {
		SDL_FillRect(ws, NULL, 0);
		SDL_UpdateWindowSurface(o->win);
	} else if (r && o->dst.x == 0 && o->dst.y == 0 && o->dst.w == (int)o->width && o->dst.h == (int)o->height) {
		SDL_Rect src = *r, d = *r;

		SDL_BlitSurface(o->shadow, &src, ws, &d);
		SDL_UpdateWindowSurfaceRects(o->win, r, 1);
	} else {
		SDL_Rect d = o->dst;

		SDL_FillRect(ws, NULL, 0);
		if (o->dst.w == (int)o->width && o->dst.h == (int)o->height)
			SDL_BlitSurface(o->shadow, NULL, ws, &d);
		else
			SDL_BlitScaled(o->shadow, NULL, ws, &d);
		SDL_UpdateWindowSurface(o->win);
	}
	o->sink->presented++;
}

static void out_title(struct sdl_output *o)
{
	char title[128];

	if (!o->win)
		return;
	snprintf(title, sizeof(title), "vgi: scanout %u%s", o->id,
		 o->sink->grab ? " - grabbed (Ctrl+Alt+G to release)" : "");
	SDL_SetWindowTitle(o->win, title);
}

static void out_destroy_window(struct sdl_output *o)
{
	if (!o->win)
		return;
#ifdef VGI_SDL_GL
	gl_teardown(o);
#endif
	SDL_DestroyWindow(o->win);
	o->win = NULL;
	o->sink->windows--;
	if (!o->sink->windows && o->sink->poll_id) {
		g_source_remove(o->sink->poll_id);
		o->sink->poll_id = 0;
	}
}

static gboolean poll_events(gpointer data);

/* Make sure scanout o has a window of the right kind (GL or not). */
static int out_ensure_window(struct sdl_output *o, bool want_gl)
{
	struct sdl_sink *s = o->sink;
	Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;

#ifndef VGI_SDL_GL
	want_gl = false;
#endif
	if (s->gl_broken)
		want_gl = false;
	if (o->win && o->gl_window == want_gl) {
		if (!o->fullscreen && (o->win_w != (int)o->width || o->win_h != (int)o->height)) {
			/* the guest picked another size: follow it, and do not echo it back as a request */
			o->rep_w = (int)o->width;
			o->rep_h = (int)o->height;
			SDL_SetWindowSize(o->win, (int)o->width, (int)o->height);
			SDL_GetWindowSize(o->win, &o->win_w, &o->win_h);
			out_layout(o);
		}
		return 0;
	}
	out_destroy_window(o);
	if (want_gl)
		flags |= SDL_WINDOW_OPENGL;
	/* scanout 0 in the middle, the others cascaded from the top left */
	int pos = o->id ? (int)(48 * o->id) : (int)SDL_WINDOWPOS_CENTERED;

	o->win = SDL_CreateWindow("vgi", pos, pos, (int)o->width, (int)o->height, flags);
	if (!o->win && want_gl) {
		vgi_warn("sdl: no GL window (%s): using the window surface", SDL_GetError());
		s->gl_broken = true;
		want_gl = false;
		flags &= ~(Uint32)SDL_WINDOW_OPENGL;
		o->win = SDL_CreateWindow("vgi", pos, pos, (int)o->width, (int)o->height, flags);
	}
	if (!o->win) {
		vgi_error("sdl: cannot create a window for scanout %u: %s", o->id, SDL_GetError());
		return -EIO;
	}
	o->gl_window = want_gl;
	s->windows++;
	if (!s->poll_id)
		s->poll_id = g_timeout_add(POLL_MS, poll_events, s);
	SDL_SetWindowData(o->win, "vgi", o);
	SDL_GetWindowSize(o->win, &o->win_w, &o->win_h);
	o->rep_w = (int)o->width;
	o->rep_h = (int)o->height;
	out_layout(o);
	out_title(o);
	if (s->grab) {
		SDL_SetWindowGrab(o->win, SDL_TRUE);
		SDL_SetWindowKeyboardGrab(o->win, SDL_TRUE);
	}
#ifdef VGI_SDL_GL
	if (want_gl && gl_setup(o)) {
		/* A GL window without a context: start again without GL. */
		s->gl_broken = true;
		return out_ensure_window(o, false);
	}
#endif
	return 0;
}

static struct sdl_output *out_get(struct sdl_sink *s, uint32_t id, const char *what)
{
	if (id >= VGI_MAX_SCANOUTS) {
		vgi_warn("sdl: %s: scanout id %u out of range", what, id);
		return NULL;
	}
	return &s->out[id];
}

static void sdl_scanout(void *sink, uint32_t id, const struct vgi_scanout *sc)
{
	struct sdl_sink *s = sink;
	struct sdl_output *o = out_get(s, id, "scanout");

	if (!o || !sc)
		return;
	if (!sc->enabled || !sc->width || !sc->height) {
		out_destroy_window(o);
		SDL_FreeSurface(o->shadow);
		o->shadow = NULL;
		o->enabled = false;
		o->width = o->height = 0;
		return;
	}
	if (sc->width > 16384 || sc->height > 16384) {
		vgi_warn("sdl: scanout %u: size %ux%u too large", id, sc->width, sc->height);
		return;
	}
	if (!o->shadow || o->width != sc->width || o->height != sc->height) {
		SDL_FreeSurface(o->shadow);
		o->shadow = SDL_CreateRGBSurfaceWithFormat(0, (int)sc->width, (int)sc->height, 32,
							   SDL_PIXELFORMAT_XRGB8888);
		if (!o->shadow) {
			vgi_error("sdl: scanout %u: no memory for %ux%u", id, sc->width, sc->height);
			o->enabled = false;
			out_destroy_window(o);
			return;
		}
		SDL_FillRect(o->shadow, NULL, 0);
	}
	o->enabled = true;
	o->width = sc->width;
	o->height = sc->height;
	if (out_ensure_window(o, s->gl == GL_ON))
		return;
#ifdef VGI_SDL_GL
	if (o->ctx) {
		SDL_GL_MakeCurrent(o->win, o->ctx);
		gl_drop_image(o);
		o->gl_scanout = false;
	}
#endif
	out_present(o, NULL);
}

static void sdl_update(void *sink, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct sdl_sink *s = sink;
	struct sdl_output *o = out_get(s, id, "update");
	struct vgi_rect r;
	Uint32 fmt;

	if (!o || !damage || !img || !img->data || !o->enabled || !o->shadow)
		return;
	fmt = sdl_format(img->format);
	if (fmt == SDL_PIXELFORMAT_UNKNOWN) {
		vgi_warn("sdl: scanout %u: unsupported format 0x%08x", id, img->format);
		return;
	}
	if (img->width != o->width || img->height != o->height ||
	    img->stride < (uint64_t)img->width * 4) {
		vgi_warn("sdl: scanout %u: image %ux%u stride %u does not match scanout %ux%u", id,
			 img->width, img->height, img->stride, o->width, o->height);
		return;
	}
	r = *damage;
	if (!vgi_rect_clip(&r, img->width, img->height))
		return;
	SDL_ConvertPixels((int)r.width, (int)r.height, fmt,
			  (const uint8_t *)img->data + (size_t)r.y * img->stride + (size_t)r.x * 4,
			  (int)img->stride, SDL_PIXELFORMAT_XRGB8888,
			  (uint8_t *)o->shadow->pixels + (size_t)r.y * o->shadow->pitch + (size_t)r.x * 4,
			  o->shadow->pitch);
#ifdef VGI_SDL_GL
	if (o->ctx && o->gl_scanout) {
		/* pixels again after a GL scanout: re-upload it whole */
		out_present(o, NULL);
		return;
	}
#endif
	out_present(o, &(SDL_Rect){ (int)r.x, (int)r.y, (int)r.width, (int)r.height });
}

static void sdl_scanout_gl(void *sink, uint32_t id, const struct vgi_gl_scanout *g)
{
	struct sdl_sink *s = sink;
	struct sdl_output *o = out_get(s, id, "scanout_gl");

	if (!o || !g)
		return;
	if (!g->enabled || !g->width || !g->height) {
		struct vgi_scanout off = { .enabled = false };

		sdl_scanout(s, id, &off);
		return;
	}
#ifdef VGI_SDL_GL
	if (g->dmabuf_fd < 0) {
		vgi_warn("sdl: scanout %u: GL scanout without a dmabuf (texture %u of another context) cannot be shown",
			 id, g->texture);
		return;
	}
	if (g->width > 16384 || g->height > 16384 || !g->buf_width || !g->buf_height ||
	    (uint64_t)g->x + g->width > g->buf_width || (uint64_t)g->y + g->height > g->buf_height) {
		vgi_warn("sdl: scanout %u: bad GL scanout %ux%u+%u+%u of %ux%u", id, g->width, g->height,
			 g->x, g->y, g->buf_width, g->buf_height);
		return;
	}
	o->enabled = true;
	o->width = g->width;
	o->height = g->height;
	SDL_FreeSurface(o->shadow);
	o->shadow = NULL;
	if (out_ensure_window(o, true))
		return;
	if (!o->ctx) {
		vgi_warn("sdl: scanout %u: GL scanout but no GL context", id);
		return;
	}
	SDL_GL_MakeCurrent(o->win, o->ctx);
	EGLDisplay dpy = eglGetCurrentDisplay();
	if (dpy == EGL_NO_DISPLAY || !epoxy_has_egl_extension(dpy, "EGL_EXT_image_dma_buf_import")) {
		vgi_warn("sdl: scanout %u: EGL_EXT_image_dma_buf_import missing: cannot show the dmabuf", id);
		return;
	}
	EGLint attrs[32], n = 0;
	attrs[n++] = EGL_WIDTH; attrs[n++] = (EGLint)g->buf_width;
	attrs[n++] = EGL_HEIGHT; attrs[n++] = (EGLint)g->buf_height;
	attrs[n++] = EGL_LINUX_DRM_FOURCC_EXT; attrs[n++] = (EGLint)g->fourcc;
	attrs[n++] = EGL_DMA_BUF_PLANE0_FD_EXT; attrs[n++] = g->dmabuf_fd;
	attrs[n++] = EGL_DMA_BUF_PLANE0_OFFSET_EXT; attrs[n++] = (EGLint)g->offset;
	attrs[n++] = EGL_DMA_BUF_PLANE0_PITCH_EXT; attrs[n++] = (EGLint)g->stride;
	if (g->modifier != DRM_FORMAT_MOD_INVALID &&
	    epoxy_has_egl_extension(dpy, "EGL_EXT_image_dma_buf_import_modifiers")) {
		attrs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT; attrs[n++] = (EGLint)(g->modifier & 0xffffffff);
		attrs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT; attrs[n++] = (EGLint)(g->modifier >> 32);
	}
	attrs[n++] = EGL_NONE;
	gl_drop_image(o);
	/* The image holds its own reference to the dmabuf: the fd stays the device's. */
	o->image = eglCreateImageKHR(dpy, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, NULL, attrs);
	if (o->image == EGL_NO_IMAGE_KHR) {
		vgi_warn("sdl: scanout %u: dmabuf import failed (fourcc 0x%08x, EGL error 0x%x)", id, g->fourcc,
			 eglGetError());
		return;
	}
	glBindTexture(GL_TEXTURE_2D, o->tex);
	glEGLImageTargetTexture2DOES(GL_TEXTURE_2D, o->image);
	o->gl_scanout = true;
	o->tex_w = g->buf_width;
	o->tex_h = g->buf_height;
	o->u0 = (float)g->x / g->buf_width;
	o->u1 = (float)(g->x + g->width) / g->buf_width;
	o->v0 = (float)g->y / g->buf_height;
	o->v1 = (float)(g->y + g->height) / g->buf_height;
	if (!g->y0_top) {
		/* bottom-up: the last visible row is the top of the window */
		float t = o->v0;

		o->v0 = o->v1;
		o->v1 = t;
	}
	out_present(o, NULL);
#else
	vgi_warn("sdl: scanout %u: built without GL (libepoxy): GL scanout ignored", id);
#endif
}

static void sdl_gl_update(void *sink, uint32_t id, const struct vgi_rect *damage)
{
	struct sdl_sink *s = sink;
	struct sdl_output *o = out_get(s, id, "gl_update");

	if (!o || !o->enabled || !o->win)
		return;
	/* The imported buffer is live: a swap shows the new contents. */
	out_present(o, NULL);
}

static void sdl_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct sdl_sink *s = sink;
	struct sdl_output *o = out_get(s, id, "cursor");

	if (!o || !c)
		return;
	if (c->image_changed && c->pixels) {
		SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormatFrom((void *)c->pixels, VGI_CURSOR_SIZE,
								       VGI_CURSOR_SIZE, 32, VGI_CURSOR_SIZE * 4,
								       SDL_PIXELFORMAT_ARGB8888);
		SDL_Cursor *cur = NULL;

		if (surf) {
			int hx = c->hot_x < VGI_CURSOR_SIZE ? (int)c->hot_x : VGI_CURSOR_SIZE - 1;
			int hy = c->hot_y < VGI_CURSOR_SIZE ? (int)c->hot_y : VGI_CURSOR_SIZE - 1;

			cur = SDL_CreateColorCursor(surf, hx, hy);	/* copies the pixels */
			SDL_FreeSurface(surf);
		}
		if (cur) {
			if (o->cursor)
				SDL_FreeCursor(o->cursor);
			o->cursor = cur;
		}
	}
	o->cursor_visible = c->visible;
	if (o->win && SDL_GetMouseFocus() == o->win)
		SDL_SetCursor(o->cursor_visible && o->cursor ? o->cursor : s->blank);
}

/* ---- events ---- */

static struct sdl_output *out_from_window(struct sdl_sink *s, Uint32 window_id)
{
	SDL_Window *w = SDL_GetWindowFromID(window_id);
	struct sdl_output *o = w ? SDL_GetWindowData(w, "vgi") : NULL;

	if (!o || o < s->out || o >= s->out + VGI_MAX_SCANOUTS || o->win != w)
		return NULL;
	return o;
}

static void set_grab(struct sdl_sink *s, struct sdl_output *focus, bool on)
{
	s->grab = on;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		struct sdl_output *o = &s->out[i];

		if (!o->win)
			continue;
		SDL_SetWindowGrab(o->win, on && o == focus ? SDL_TRUE : SDL_FALSE);
		SDL_SetWindowKeyboardGrab(o->win, on && o == focus ? SDL_TRUE : SDL_FALSE);
		out_title(o);
	}
	SDL_SetRelativeMouseMode(on ? SDL_TRUE : SDL_FALSE);
}

static void toggle_fullscreen(struct sdl_output *o)
{
	o->fullscreen = !o->fullscreen;
	vgi_debug("sdl: scanout %u: fullscreen %s", o->id, o->fullscreen ? "on" : "off");
	if (o->fullscreen)
		SDL_GetWindowSize(o->win, &o->windowed_w, &o->windowed_h);
	if (SDL_SetWindowFullscreen(o->win, o->fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0))
		vgi_warn("sdl: fullscreen: %s", SDL_GetError());
	/* Without a window manager nobody restores the windowed size: do it. */
	if (!o->fullscreen && o->windowed_w > 0 && o->windowed_h > 0)
		SDL_SetWindowSize(o->win, o->windowed_w, o->windowed_h);
}

static void handle_key(struct sdl_sink *s, const SDL_KeyboardEvent *k)
{
	struct sdl_output *o = out_from_window(s, k->windowID);
	SDL_Scancode sc = k->keysym.scancode;
	bool down = k->state == SDL_PRESSED;
	unsigned code;

	if (!o || sc < 0 || sc >= SDL_NUM_SCANCODES)
		return;
	if (down && (k->keysym.mod & KMOD_CTRL) && (k->keysym.mod & KMOD_ALT) &&
	    (sc == SDL_SCANCODE_G || sc == SDL_SCANCODE_F)) {
		if (!k->repeat) {
			if (sc == SDL_SCANCODE_G)
				set_grab(s, o, !s->grab);
			else
				toggle_fullscreen(o);
		}
		s->hotkey_down[sc] = true;
		return;
	}
	if (!down && s->hotkey_down[sc]) {
		s->hotkey_down[sc] = false;
		return;
	}
	if (k->repeat)
		return;		/* the guest's input layer repeats by itself */
	code = vgi_sdl_scancode_to_evdev(sc);
	if (!code) {
		vgi_debug("sdl: scancode %d has no evdev code", sc);
		return;
	}
	send_key(s, o->id, code, down);
}

static void handle_motion(struct sdl_sink *s, const SDL_MouseMotionEvent *m)
{
	struct sdl_output *o = out_from_window(s, m->windowID);
	int64_t x, y;

	if (!o || !o->enabled)
		return;
	if (s->grab) {
		if (m->xrel)
			send_ev(s, o->id, EV_REL, REL_X, m->xrel);
		if (m->yrel)
			send_ev(s, o->id, EV_REL, REL_Y, m->yrel);
		if (m->xrel || m->yrel)
			send_syn(s, o->id);
		return;
	}
	if (o->dst.w <= 0 || o->dst.h <= 0)
		return;
	x = (int64_t)m->x - o->dst.x;
	y = (int64_t)m->y - o->dst.y;
	if (x < 0 || y < 0 || x >= o->dst.w || y >= o->dst.h)
		return;
	/* window pixel -> 0..32767 across the scanout */
	send_ev(s, o->id, EV_ABS, ABS_X, o->dst.w > 1 ? (int32_t)(x * ABS_MAX_VALUE / (o->dst.w - 1)) : 0);
	send_ev(s, o->id, EV_ABS, ABS_Y, o->dst.h > 1 ? (int32_t)(y * ABS_MAX_VALUE / (o->dst.h - 1)) : 0);
	send_syn(s, o->id);
}

static void handle_button(struct sdl_sink *s, const SDL_MouseButtonEvent *b)
{
	struct sdl_output *o = out_from_window(s, b->windowID);
	unsigned code;

	if (!o)
		return;
	switch (b->button) {
	case SDL_BUTTON_LEFT: code = BTN_LEFT; break;
	case SDL_BUTTON_MIDDLE: code = BTN_MIDDLE; break;
	case SDL_BUTTON_RIGHT: code = BTN_RIGHT; break;
	case SDL_BUTTON_X1: code = BTN_SIDE; break;
	case SDL_BUTTON_X2: code = BTN_EXTRA; break;
	default: return;
	}
	send_key(s, o->id, code, b->state == SDL_PRESSED);
}

static void handle_wheel(struct sdl_sink *s, const SDL_MouseWheelEvent *w)
{
	struct sdl_output *o = out_from_window(s, w->windowID);
	int32_t dx = w->x, dy = w->y;

	if (!o)
		return;
	if (w->direction == SDL_MOUSEWHEEL_FLIPPED)
		dx = -dx, dy = -dy;
	if (dy)
		send_ev(s, o->id, EV_REL, REL_WHEEL, dy);
	if (dx)
		send_ev(s, o->id, EV_REL, REL_HWHEEL, dx);
	if (dx || dy)
		send_syn(s, o->id);
}

static void handle_window(struct sdl_sink *s, const SDL_WindowEvent *w)
{
	struct sdl_output *o = out_from_window(s, w->windowID);

	if (!o)
		return;
	switch (w->event) {
	case SDL_WINDOWEVENT_SIZE_CHANGED:
		vgi_debug("sdl: scanout %u: window %dx%d", o->id, w->data1, w->data2);
		o->win_w = w->data1;
		o->win_h = w->data2;
		out_layout(o);
		out_present(o, NULL);
		if (w->data1 > 0 && w->data2 > 0 && (w->data1 != o->rep_w || w->data2 != o->rep_h)) {
			o->rep_w = w->data1;
			o->rep_h = w->data2;
			if (s->host.output_changed)
				s->host.output_changed(s->host.opaque, o->id, true, (uint32_t)w->data1,
						       (uint32_t)w->data2);
		}
		break;
	case SDL_WINDOWEVENT_EXPOSED:
		out_present(o, NULL);
		break;
	case SDL_WINDOWEVENT_ENTER:
	case SDL_WINDOWEVENT_FOCUS_GAINED:
		SDL_SetCursor(o->cursor_visible && o->cursor ? o->cursor : (o->cursor ? s->blank : SDL_GetDefaultCursor()));
		break;
	case SDL_WINDOWEVENT_FOCUS_LOST:
		release_all_keys(s, o->id);
		break;
	case SDL_WINDOWEVENT_CLOSE:
		if (s->host.quit)
			s->host.quit(s->host.opaque);
		break;
	}
}

static gboolean poll_events(gpointer data)
{
	struct sdl_sink *s = data;
	SDL_Event ev;

	while (SDL_PollEvent(&ev)) {
		switch (ev.type) {
		case SDL_KEYDOWN:
		case SDL_KEYUP:
			handle_key(s, &ev.key);
			break;
		case SDL_MOUSEMOTION:
			handle_motion(s, &ev.motion);
			break;
		case SDL_MOUSEBUTTONDOWN:
		case SDL_MOUSEBUTTONUP:
			handle_button(s, &ev.button);
			break;
		case SDL_MOUSEWHEEL:
			handle_wheel(s, &ev.wheel);
			break;
		case SDL_WINDOWEVENT:
			handle_window(s, &ev.window);
			break;
		case SDL_QUIT:
			/* the last window's close: already answered by SDL_WINDOWEVENT_CLOSE */
			break;
		}
	}
	return G_SOURCE_CONTINUE;
}

static void sdl_destroy(void *sink)
{
	struct sdl_sink *s = sink;

	if (!s)
		return;
	if (s->grab)
		SDL_SetRelativeMouseMode(SDL_FALSE);
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		struct sdl_output *o = &s->out[i];

		out_destroy_window(o);
		SDL_FreeSurface(o->shadow);
		if (o->cursor)
			SDL_FreeCursor(o->cursor);
	}
	if (s->poll_id)
		g_source_remove(s->poll_id);
	if (s->blank)
		SDL_FreeCursor(s->blank);
	SDL_QuitSubSystem(SDL_INIT_VIDEO);
	free(s);
	sdl_sink_alive = false;
}

static const struct vgi_display_ops sdl_ops = {
	.scanout = sdl_scanout,
	.update = sdl_update,
	.scanout_gl = sdl_scanout_gl,
	.gl_update = sdl_gl_update,
	.cursor = sdl_cursor,
	.destroy = sdl_destroy,
};

/* gl=off: no GL path, the device reads 3D scanouts back into pixels for us. */
static const struct vgi_display_ops sdl_ops_nogl = {
	.scanout = sdl_scanout,
	.update = sdl_update,
	.cursor = sdl_cursor,
	.destroy = sdl_destroy,
};

int vgi_sdl_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	struct sdl_sink *s;
	const char *gl = vgi_options_get(opts, "gl");
	enum gl_mode mode = GL_AUTO;
	static const uint32_t blank_px[1];

	if (gl && (!strcmp(gl, "on") || !strcmp(gl, "") || !strcmp(gl, "es")))
		mode = GL_ON;
	else if (gl && !strcmp(gl, "off"))
		mode = GL_OFF;
	else if (gl && strcmp(gl, "auto")) {
		vgi_error("sdl: gl=%s: expected on, off or auto", gl);
		return -EINVAL;
	}
#ifndef VGI_SDL_GL
	if (mode == GL_ON) {
		vgi_error("sdl: gl=on: built without libepoxy");
		return -EINVAL;
	}
	mode = GL_OFF;
#endif
	if (sdl_sink_alive) {
		vgi_error("sdl: only one SDL display per process");
		return -EBUSY;
	}
	/* GLES2 on EGL, so that dmabufs can be imported on X11 too. */
	SDL_SetHint(SDL_HINT_VIDEO_X11_FORCE_EGL, "1");
	/* The window surface is the X11 (MIT-SHM) framebuffer, not a GL texture redrawn whole
	 * on every update: damage then costs in proportion to its area. */
	SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
	SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
	SDL_SetHint(SDL_HINT_MOUSE_FOCUS_CLICKTHROUGH, "1");
	SDL_SetHint(SDL_HINT_VIDEO_MINIMIZE_ON_FOCUS_LOSS, "0");
	SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	if (SDL_InitSubSystem(SDL_INIT_VIDEO)) {
		vgi_error("sdl: cannot start SDL video: %s", SDL_GetError());
		return -ENODEV;
	}
	SDL_GL_SetAttribute(SDL_GL_CONTEXT_PROFILE_MASK, SDL_GL_CONTEXT_PROFILE_ES);
	SDL_GL_SetAttribute(SDL_GL_CONTEXT_MAJOR_VERSION, 2);
	SDL_GL_SetAttribute(SDL_GL_CONTEXT_MINOR_VERSION, 0);
	SDL_GL_SetAttribute(SDL_GL_DOUBLEBUFFER, 1);
	s = calloc(1, sizeof(*s));
	if (!s) {
		SDL_QuitSubSystem(SDL_INIT_VIDEO);
		return -ENOMEM;
	}
	if (host)
		s->host = *host;
	s->gl = mode;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		s->out[i].sink = s;
		s->out[i].id = i;
#ifdef VGI_SDL_GL
		s->out[i].image = EGL_NO_IMAGE_KHR;
#endif
	}
	{
		SDL_Surface *b = SDL_CreateRGBSurfaceWithFormatFrom((void *)blank_px, 1, 1, 32, 4,
								    SDL_PIXELFORMAT_ARGB8888);
		if (b) {
			s->blank = SDL_CreateColorCursor(b, 0, 0);
			SDL_FreeSurface(b);
		}
	}
	sdl_sink_alive = true;
	out->ops = mode == GL_OFF ? &sdl_ops_nogl : &sdl_ops;
	out->sink = s;
	return 0;
}

/* ---- introspection for tests ---- */

uint64_t vgi_sdl_sink_presented(void *sink)
{
	return ((struct sdl_sink *)sink)->presented;
}

const char *vgi_sdl_sink_path(void *sink, uint32_t id)
{
	struct sdl_sink *s = sink;

	if (id >= VGI_MAX_SCANOUTS || !s->out[id].win)
		return NULL;
	return out_is_gl(&s->out[id]) ? "gl" : "surface";
}

unsigned long vgi_sdl_sink_x11_window(void *sink, uint32_t id)
{
	struct sdl_sink *s = sink;
	SDL_SysWMinfo info;

	if (id >= VGI_MAX_SCANOUTS || !s->out[id].win)
		return 0;
	SDL_VERSION(&info.version);
	if (!SDL_GetWindowWMInfo(s->out[id].win, &info) || info.subsystem != SDL_SYSWM_X11)
		return 0;
	return (unsigned long)info.info.x11.window;
}
