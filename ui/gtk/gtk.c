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
 * GL ("gl=on"): each scanout is a GtkGLArea (GLES) showing a texture that
 * damage is uploaded into with glTexSubImage2D; a GL scanout's dmabuf is
 * imported with EGL_EXT_image_dma_buf_import when GDK runs GL on EGL
 * (Wayland); GDK's X11 backend uses GLX, where no dmabuf can be imported.
 * Without gl=on the ops have no scanout_gl, and the device reads 3D
 * scanouts back into pixels for this sink.
 *
 * Keys: on X11 and Wayland the hardware keycode is the evdev code + 8;
 * other backends go through a keyval table.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <gtk/gtk.h>
#include <linux/input-event-codes.h>
#ifdef GDK_WINDOWING_X11
#include <gdk/gdkx.h>
#endif

#include <vgi/input.h>
#include <vgi/log.h>
#include <vgi/sinks.h>

#ifdef VGI_GTK_GL
#include <epoxy/egl.h>
#include <epoxy/gl.h>

#include "../gl-program.h"
#endif

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
	GtkWidget *area;		/* what takes input and sits in the window or tab */
	GtkWidget *view;		/* what shows pixels: area itself, or a GtkGLArea in it */
#ifdef VGI_GTK_GL
	GLuint tex, prog, vbo, vao;
	GLint loc_pos, loc_uv;
	bool es;			/* GDK gave a GLES context (else desktop GL) */
	uint32_t tex_w, tex_h;
	bool dirty;			/* damage waiting for the next render */
	struct vgi_rect damage;		/* union of it */
	bool gl_scanout;		/* showing an imported dmabuf */
	bool gl_pending;		/* a dmabuf to import at the next render */
	struct vgi_gl_scanout gl;	/* its description (gl.dmabuf_fd is our dup) */
	EGLImageKHR image;
	float u0, v0, u1, v1;
#endif
	int alloc_w, alloc_h;
	int rep_w, rep_h;		/* last size reported through output_changed */
	bool sized;			/* the area has had its first allocation */
	double scale, ox, oy;		/* scanout -> widget */
	int dst_w, dst_h;
	GdkCursor *cursor;
	bool cursor_visible;
	cairo_surface_t *cursor_img;	/* the same image, painted over the frame while grabbed */
	int32_t cursor_x, cursor_y;	/* hot spot position in scanout coordinates */
	uint32_t hot_x, hot_y;		/* clamped to the image */
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
	bool gl;			/* GtkGLArea views */
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

/*
 * While this output holds the grab the host pointer is blank (relative
 * motion), so the guest's cursor is painted over the frame, on the scanout
 * pixels it covers (the same scale and offset as the frame).
 */
static bool cursor_painted(const struct gtk_output *o)
{
	return o->sink->grab == o && o->cursor_visible && o->cursor_img && o->width && o->height;
}

/* The part of the scanout the cursor image covers; false if none (the guest may put it anywhere). */
static bool cursor_rect(const struct gtk_output *o, double *x0, double *y0, double *x1, double *y1)
{
	if (!o->cursor_img || !o->width || !o->height)
		return false;
	*x0 = (double)o->cursor_x - o->hot_x;
	*y0 = (double)o->cursor_y - o->hot_y;
	*x1 = *x0 + VGI_CURSOR_SIZE;
	*y1 = *y0 + VGI_CURSOR_SIZE;
	*x0 = *x0 < 0 ? 0 : *x0;
	*y0 = *y0 < 0 ? 0 : *y0;
	*x1 = *x1 > o->width ? o->width : *x1;
	*y1 = *y1 > o->height ? o->height : *y1;
	return *x0 < *x1 && *y0 < *y1;
}

static void draw_cursor(struct gtk_output *o, cairo_t *cr)
{
	double x0, y0, x1, y1;

	if (!cursor_painted(o) || !cursor_rect(o, &x0, &y0, &x1, &y1))
		return;
	cairo_save(cr);
	cairo_translate(cr, o->ox, o->oy);
	cairo_scale(cr, o->scale, o->scale);
	cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
	cairo_clip(cr);
	cairo_set_operator(cr, CAIRO_OPERATOR_OVER);
	cairo_set_source_surface(cr, o->cursor_img, (double)o->cursor_x - o->hot_x, (double)o->cursor_y - o->hot_y);
	cairo_pattern_set_filter(cairo_get_source(cr), o->scale == 1.0 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_BILINEAR);
	cairo_paint(cr);
	cairo_restore(cr);
}

/* Repaint the widget area the cursor covers (if it is painted, or was until now). */
static void queue_cursor(struct gtk_output *o)
{
	double x0, y0, x1, y1;

	if (!o->area || !cursor_rect(o, &x0, &y0, &x1, &y1))
		return;
	/* in widget pixels, one wider for the filter */
	x0 = floor(o->ox + x0 * o->scale) - 1;
	y0 = floor(o->oy + y0 * o->scale) - 1;
	x1 = ceil(o->ox + x1 * o->scale) + 1;
	y1 = ceil(o->oy + y1 * o->scale) + 1;
	gtk_widget_queue_draw_area(o->area, (int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0));
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
		cairo_save(cr);
		cairo_translate(cr, o->ox, o->oy);
		cairo_scale(cr, o->scale, o->scale);
		cairo_set_source_surface(cr, o->shadow, 0, 0);
		cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
		cairo_rectangle(cr, 0, 0, o->width, o->height);
		cairo_fill(cr);
		cairo_restore(cr);
	}
	draw_cursor(o, cr);
	o->sink->presented++;
	return TRUE;
}

static void queue_rect(struct gtk_output *o, const struct vgi_rect *r)
{
	if (!o->area)
		return;
#ifdef VGI_GTK_GL
	if (o->sink->gl) {
		struct vgi_rect all = { 0, 0, o->width, o->height };

		if (!r)
			r = &all;
		if (!o->dirty) {
			o->damage = *r;
		} else {
			/* union of the damage since the last render */
			uint32_t x0 = r->x < o->damage.x ? r->x : o->damage.x;
			uint32_t y0 = r->y < o->damage.y ? r->y : o->damage.y;
			uint64_t x1 = (uint64_t)r->x + r->width, y1 = (uint64_t)r->y + r->height;

			if ((uint64_t)o->damage.x + o->damage.width > x1)
				x1 = (uint64_t)o->damage.x + o->damage.width;
			if ((uint64_t)o->damage.y + o->damage.height > y1)
				y1 = (uint64_t)o->damage.y + o->damage.height;
			o->damage = (struct vgi_rect){ x0, y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0) };
		}
		o->dirty = true;
		gtk_gl_area_queue_render(GTK_GL_AREA(o->view));
		return;
	}
#endif
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

#ifdef VGI_GTK_GL
/* GLSL 1.50 for GDK's desktop GL (core or compatibility); GLES uses ui/gl-program.c's */
static const char vs_gl[] =
	"#version 150\n"
	"in vec2 pos;\n"
	"in vec2 uv;\n"
	"out vec2 v_uv;\n"
	"void main() { v_uv = uv; gl_Position = vec4(pos, 0.0, 1.0); }\n";
static const char fs_gl[] =
	"#version 150\n"
	"in vec2 v_uv;\n"
	"uniform sampler2D tex;\n"
	"out vec4 color;\n"
	"void main() { color = vec4(texture(tex, v_uv).rgb, 1.0); }\n";

static void gl_new_texture(struct gtk_output *o)
{
	glGenTextures(1, &o->tex);
	glBindTexture(GL_TEXTURE_2D, o->tex);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
	o->tex_w = o->tex_h = 0;
}

static void gl_drop_image(struct gtk_output *o)
{
	if (o->image != EGL_NO_IMAGE_KHR) {
		eglDestroyImageKHR(eglGetCurrentDisplay(), o->image);
		o->image = EGL_NO_IMAGE_KHR;
	}
}

static void on_gl_realize(GtkWidget *w, gpointer data)
{
	struct gtk_output *o = data;

	gtk_gl_area_make_current(GTK_GL_AREA(w));
	if (gtk_gl_area_get_error(GTK_GL_AREA(w))) {
		vgi_error("gtk: scanout %u: no GL context: %s", o->id, gtk_gl_area_get_error(GTK_GL_AREA(w))->message);
		return;
	}
	o->es = gdk_gl_context_get_use_es(gtk_gl_area_get_context(GTK_GL_AREA(w)));
	o->prog = o->es ? vgi_gl_program(vgi_gl_quad_vs_es, vgi_gl_quad_fs_es, "gtk (GLES)")
			: vgi_gl_program(vs_gl, fs_gl, "gtk (desktop GL)");
	if (!o->prog) {
		vgi_error("gtk: scanout %u: GL program failed", o->id);
		return;
	}
	o->loc_pos = glGetAttribLocation(o->prog, "pos");
	o->loc_uv = glGetAttribLocation(o->prog, "uv");
	/* vertices in a buffer (a core profile has no client arrays), in a VAO where there are VAOs */
	glGenBuffers(1, &o->vbo);
	if (!o->es || epoxy_gl_version() >= 30) {
		glGenVertexArrays(1, &o->vao);
		glBindVertexArray(o->vao);
	}
	glBindBuffer(GL_ARRAY_BUFFER, o->vbo);
	glVertexAttribPointer((GLuint)o->loc_pos, 2, GL_FLOAT, GL_FALSE, 0, (void *)0);
	glVertexAttribPointer((GLuint)o->loc_uv, 2, GL_FLOAT, GL_FALSE, 0, (void *)(8 * sizeof(GLfloat)));
	glEnableVertexAttribArray((GLuint)o->loc_pos);
	glEnableVertexAttribArray((GLuint)o->loc_uv);
	if (o->vao)
		glBindVertexArray(0);
	gl_new_texture(o);
	o->image = EGL_NO_IMAGE_KHR;
	o->gl_scanout = false;
	o->dirty = true;
	o->damage = (struct vgi_rect){ 0, 0, o->width, o->height };
	if (o->gl.dmabuf_fd >= 0)
		o->gl_pending = true;
	vgi_info("gtk: scanout %u: GL path (%s, %s)", o->id, (const char *)glGetString(GL_RENDERER),
		 (const char *)glGetString(GL_VERSION));
}

static void on_gl_unrealize(GtkWidget *w, gpointer data)
{
	struct gtk_output *o = data;

	gtk_gl_area_make_current(GTK_GL_AREA(w));
	if (gtk_gl_area_get_error(GTK_GL_AREA(w)))
		return;
	gl_drop_image(o);
	if (o->tex)
		glDeleteTextures(1, &o->tex);
	if (o->prog)
		glDeleteProgram(o->prog);
	if (o->vbo)
		glDeleteBuffers(1, &o->vbo);
	if (o->vao)
		glDeleteVertexArrays(1, &o->vao);
	o->tex = o->prog = o->vbo = o->vao = 0;
	o->tex_w = o->tex_h = 0;
}

/* Import the pending dmabuf (needs GDK's GL on EGL). */
static void gl_import(struct gtk_output *o)
{
	EGLDisplay dpy = eglGetCurrentDisplay();
	const struct vgi_gl_scanout *g = &o->gl;
	EGLint attrs[32], n = 0;

	o->gl_pending = false;
	if (dpy == EGL_NO_DISPLAY || !epoxy_has_egl_extension(dpy, "EGL_EXT_image_dma_buf_import")) {
		vgi_warn("gtk: scanout %u: GDK's GL is not on EGL with dmabuf import (X11 uses GLX): "
			 "use gl=off to get pixels", o->id);
		return;
	}
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
	o->image = eglCreateImageKHR(dpy, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, NULL, attrs);
	if (o->image == EGL_NO_IMAGE_KHR) {
		vgi_warn("gtk: scanout %u: dmabuf import failed (fourcc 0x%08x, EGL error 0x%x)", o->id, g->fourcc,
			 eglGetError());
		return;
	}
	glDeleteTextures(1, &o->tex);
	gl_new_texture(o);
	glEGLImageTargetTexture2DOES(GL_TEXTURE_2D, o->image);
	o->gl_scanout = true;
	o->tex_w = g->buf_width;
	o->tex_h = g->buf_height;
	o->u0 = (float)g->x / g->buf_width;
	o->u1 = (float)(g->x + g->width) / g->buf_width;
	o->v0 = (float)g->y / g->buf_height;
	o->v1 = (float)(g->y + g->height) / g->buf_height;
	if (!g->y0_top) {
		float t = o->v0;

		o->v0 = o->v1;
		o->v1 = t;
	}
}

/* Damage from the cairo copy into the texture. */
static void gl_upload(struct gtk_output *o)
{
	const uint8_t *px;
	int stride;
	struct vgi_rect r = o->damage;

	o->dirty = false;
	if (!o->shadow)
		return;
	if (o->gl_scanout) {
		gl_drop_image(o);
		glDeleteTextures(1, &o->tex);
		gl_new_texture(o);
		o->gl_scanout = false;
	}
	glBindTexture(GL_TEXTURE_2D, o->tex);
	o->u0 = 0.0f, o->v0 = 0.0f, o->u1 = 1.0f, o->v1 = 1.0f;
	if (o->tex_w != o->width || o->tex_h != o->height) {
		/* cairo's RGB24 is B,G,R,X in memory: BGRA upload (GLES: EXT_texture_format_BGRA8888) */
		glTexImage2D(GL_TEXTURE_2D, 0, o->es ? GL_BGRA_EXT : GL_RGBA8, (GLsizei)o->width, (GLsizei)o->height,
			     0, GL_BGRA_EXT, GL_UNSIGNED_BYTE, NULL);
		o->tex_w = o->width;
		o->tex_h = o->height;
		r = (struct vgi_rect){ 0, 0, o->width, o->height };
	}
	if (!vgi_rect_clip(&r, o->width, o->height))
		return;
	cairo_surface_flush(o->shadow);
	px = cairo_image_surface_get_data(o->shadow);
	stride = cairo_image_surface_get_stride(o->shadow);
	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	if (!o->es || epoxy_gl_version() >= 30 || epoxy_has_gl_extension("GL_EXT_unpack_subimage")) {
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, stride / 4);
		glTexSubImage2D(GL_TEXTURE_2D, 0, (GLint)r.x, (GLint)r.y, (GLsizei)r.width, (GLsizei)r.height,
				GL_BGRA_EXT, GL_UNSIGNED_BYTE, px + (size_t)r.y * stride + (size_t)r.x * 4);
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, 0);
	} else {
		for (uint32_t y = r.y; y < r.y + r.height; y++)
			glTexSubImage2D(GL_TEXTURE_2D, 0, (GLint)r.x, (GLint)y, (GLsizei)r.width, 1, GL_BGRA_EXT,
					GL_UNSIGNED_BYTE, px + (size_t)y * stride + (size_t)r.x * 4);
	}
}

static gboolean on_gl_render(GtkGLArea *area, GdkGLContext *ctx, gpointer data)
{
	struct gtk_output *o = data;
	int w = o->alloc_w, h = o->alloc_h;

	glClearColor(0, 0, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	if (!o->prog || w <= 0 || h <= 0)
		return TRUE;
	if (o->gl_pending)
		gl_import(o);
	else if (o->dirty && !o->gl_scanout)
		gl_upload(o);
	if (o->tex_w) {
		float x0 = 2.0f * (float)o->ox / w - 1.0f, x1 = 2.0f * (float)(o->ox + o->dst_w) / w - 1.0f;
		float y0 = 1.0f - 2.0f * (float)o->oy / h, y1 = 1.0f - 2.0f * (float)(o->oy + o->dst_h) / h;
		const GLfloat pos[] = { x0, y0, x1, y0, x0, y1, x1, y1 };
		const GLfloat uv[] = { o->u0, o->v0, o->u1, o->v0, o->u0, o->v1, o->u1, o->v1 };
		GLint filter = o->dst_w == (int)o->width && o->dst_h == (int)o->height ? GL_NEAREST : GL_LINEAR;

		glUseProgram(o->prog);
		glActiveTexture(GL_TEXTURE0);
		glBindTexture(GL_TEXTURE_2D, o->tex);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
		GLfloat verts[16];

		memcpy(verts, pos, sizeof(pos));
		memcpy(verts + 8, uv, sizeof(uv));
		if (o->vao)
			glBindVertexArray(o->vao);
		glBindBuffer(GL_ARRAY_BUFFER, o->vbo);
		glBufferData(GL_ARRAY_BUFFER, sizeof(verts), verts, GL_STREAM_DRAW);
		if (!o->vao) {
			glVertexAttribPointer((GLuint)o->loc_pos, 2, GL_FLOAT, GL_FALSE, 0, (void *)0);
			glVertexAttribPointer((GLuint)o->loc_uv, 2, GL_FLOAT, GL_FALSE, 0, (void *)(8 * sizeof(GLfloat)));
			glEnableVertexAttribArray((GLuint)o->loc_pos);
			glEnableVertexAttribArray((GLuint)o->loc_uv);
		}
		glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
		if (o->vao)
			glBindVertexArray(0);
	}
	o->sink->presented++;
	return TRUE;
}

static gboolean on_gl_cursor_draw(GtkWidget *w, cairo_t *cr, gpointer data)
{
	draw_cursor(data, cr);
	return FALSE;
}
#endif

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
	queue_cursor(o);
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
	queue_cursor(o);
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
	vgi_debug("gtk: key %u (keyval 0x%x, state 0x%x) %s -> %u", ev->hardware_keycode, ev->keyval, ev->state,
		  down ? "down" : "up", code);
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
	GtkWidget *area;

#ifdef VGI_GTK_GL
	if (s->gl) {
		/* the GL view in an event box, which has the window that takes input */
		area = gtk_event_box_new();
		o->view = gtk_gl_area_new();
		gtk_gl_area_set_use_es(GTK_GL_AREA(o->view), TRUE);
		gtk_gl_area_set_auto_render(GTK_GL_AREA(o->view), FALSE);
		g_signal_connect(o->view, "realize", G_CALLBACK(on_gl_realize), o);
		g_signal_connect(o->view, "unrealize", G_CALLBACK(on_gl_unrealize), o);
		g_signal_connect(o->view, "render", G_CALLBACK(on_gl_render), o);
		/*
		 * The grabbed cursor: cairo in a windowless drawing area laid over
		 * the GL view (GDK blends what a widget drawn after the GL view
		 * paints; an after-handler on the event box would be lost).
		 */
		{
			GtkWidget *overlay = gtk_overlay_new(), *top = gtk_drawing_area_new();

			gtk_widget_set_has_window(top, FALSE);
			gtk_widget_set_can_focus(top, FALSE);
			g_signal_connect(top, "draw", G_CALLBACK(on_gl_cursor_draw), o);
			gtk_container_add(GTK_CONTAINER(overlay), o->view);
			gtk_overlay_add_overlay(GTK_OVERLAY(overlay), top);
			gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(overlay), top, TRUE);
			gtk_container_add(GTK_CONTAINER(area), overlay);
		}
	} else
#endif
	{
		area = gtk_drawing_area_new();
		o->view = area;
		g_signal_connect(area, "draw", G_CALLBACK(on_draw), o);
	}
	o->area = area;
	o->sized = false;
	gtk_widget_set_can_focus(area, TRUE);
	gtk_widget_add_events(area, GDK_POINTER_MOTION_MASK | GDK_BUTTON_PRESS_MASK | GDK_BUTTON_RELEASE_MASK |
				    GDK_SCROLL_MASK | GDK_ENTER_NOTIFY_MASK | GDK_LEAVE_NOTIFY_MASK);
	gtk_widget_set_size_request(area, (int)o->width, (int)o->height);
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
		gtk_widget_show_all(area);
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
	if (o->view != o->area)
		gtk_widget_destroy(o->view);	/* unrealizes it, freeing its GL objects, while o is valid */
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
	o->view = NULL;
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
#ifdef VGI_GTK_GL
	if (o->gl.dmabuf_fd >= 0)
		close(o->gl.dmabuf_fd);
	o->gl.dmabuf_fd = -1;
	o->gl_pending = false;
#endif
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
	if (cursor_painted(o))
		queue_cursor(o);	/* where it was */
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
		if (cur) {
			if (o->cursor)
				g_object_unref(o->cursor);
			o->cursor = cur;
			if (o->cursor_img)
				cairo_surface_destroy(o->cursor_img);
			o->cursor_img = img;
			o->hot_x = c->hot_x < VGI_CURSOR_SIZE ? c->hot_x : VGI_CURSOR_SIZE - 1;
			o->hot_y = c->hot_y < VGI_CURSOR_SIZE ? c->hot_y : VGI_CURSOR_SIZE - 1;
		} else {
			cairo_surface_destroy(img);
		}
	}
	o->cursor_visible = c->visible;
	o->cursor_x = c->x;
	o->cursor_y = c->y;
	apply_cursor(o);
	if (cursor_painted(o))
		queue_cursor(o);	/* where it is now */
}

#ifdef VGI_GTK_GL
static void gtk_scanout_gl(void *sink, uint32_t id, const struct vgi_gl_scanout *g)
{
	struct gtk_sink *s = sink;
	struct gtk_output *o = out_get(s, id, "scanout_gl");
	struct vgi_scanout sc = { .enabled = true, .format = DRM_FORMAT_XRGB8888 };
	int fd;

	if (!o || !g)
		return;
	if (!g->enabled || !g->width || !g->height) {
		sc.enabled = false;
		gtk_scanout(s, id, &sc);
		return;
	}
	if (g->dmabuf_fd < 0) {
		vgi_warn("gtk: scanout %u: GL scanout without a dmabuf (texture %u of another context) cannot be shown",
			 id, g->texture);
		return;
	}
	if (g->width > 16384 || g->height > 16384 || !g->buf_width || !g->buf_height ||
	    (uint64_t)g->x + g->width > g->buf_width || (uint64_t)g->y + g->height > g->buf_height) {
		vgi_warn("gtk: scanout %u: bad GL scanout %ux%u+%u+%u of %ux%u", id, g->width, g->height, g->x, g->y,
			 g->buf_width, g->buf_height);
		return;
	}
	fd = fcntl(g->dmabuf_fd, F_DUPFD_CLOEXEC, 3);	/* imported at the next render: keep our own */
	if (fd < 0) {
		vgi_warn("gtk: scanout %u: cannot keep the dmabuf: %s", id, strerror(errno));
		return;
	}
	sc.width = g->width;
	sc.height = g->height;
	gtk_scanout(s, id, &sc);
	if (!o->area) {
		close(fd);
		return;
	}
	o->gl = *g;
	o->gl.dmabuf_fd = fd;
	o->gl_pending = true;
	gtk_gl_area_queue_render(GTK_GL_AREA(o->view));
}

static void gtk_gl_update(void *sink, uint32_t id, const struct vgi_rect *damage)
{
	struct gtk_sink *s = sink;
	struct gtk_output *o = out_get(s, id, "gl_update");

	if (o && o->area && o->view)
		gtk_gl_area_queue_render(GTK_GL_AREA(o->view));	/* the imported buffer is live */
}
#endif

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
		if (o->cursor_img)
			cairo_surface_destroy(o->cursor_img);
#ifdef VGI_GTK_GL
		if (o->gl.dmabuf_fd >= 0)
			close(o->gl.dmabuf_fd);
#endif
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

#ifdef VGI_GTK_GL
static const struct vgi_display_ops gtk_ops_gl = {
	.scanout = gtk_scanout,
	.update = gtk_update,
	.scanout_gl = gtk_scanout_gl,
	.gl_update = gtk_gl_update,
	.cursor = gtk_cursor,
	.destroy = gtk_destroy,
};
#endif

int vgi_gtk_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	struct gtk_sink *s;
	bool windows = vgi_options_flag(opts, "windows");
	const char *gl = vgi_options_get(opts, "gl");
	bool use_gl = false;
	const char *type;

	if (gl && (!strcmp(gl, "on") || !*gl))
		use_gl = true;
	else if (gl && strcmp(gl, "off")) {
		vgi_error("gtk: gl=%s: expected on or off", gl);
		return -EINVAL;
	}
#ifndef VGI_GTK_GL
	if (use_gl) {
		vgi_error("gtk: gl=on: built without libepoxy");
		return -EINVAL;
	}
#endif

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
	s->gl = use_gl;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		s->out[i].sink = s;
		s->out[i].id = i;
#ifdef VGI_GTK_GL
		s->out[i].gl.dmabuf_fd = -1;
		s->out[i].image = EGL_NO_IMAGE_KHR;
#endif
	}
	s->blank = gdk_cursor_new_for_display(gdk_display_get_default(), GDK_BLANK_CURSOR);
	type = G_OBJECT_TYPE_NAME(gdk_display_get_default());
	s->keycode_is_evdev = type && (!strcmp(type, "GdkX11Display") || !strcmp(type, "GdkWaylandDisplay"));
#ifdef VGI_GTK_GL
	out->ops = use_gl ? &gtk_ops_gl : &gtk_ops;
#else
	out->ops = &gtk_ops;
#endif
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
