/* SPDX-License-Identifier: MIT */
#ifndef VGI_DISPLAY_H
#define VGI_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Display sinks: what shows a device's scanouts (QEMU's display over the
 * vhost-user-gpu socket, headless PNG, SDL2, GTK, SPICE, DRM/KMS). The
 * device calls the ops; a sink never reaches into the device. Everything a
 * sink needs after a call returns it must copy during the call.
 *
 * Pixel formats are DRM fourcc codes (drm_fourcc.h), little-endian as DRM
 * defines them: VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM is DRM_FORMAT_XRGB8888, etc.
 */

#define VGI_MAX_SCANOUTS 16

struct vgi_rect {
	uint32_t x, y, width, height;
};

/* CPU pixels of a whole scanout (2D, or a 3D scanout read back). */
struct vgi_image {
	uint32_t width, height;
	uint32_t stride;	/* bytes per row */
	uint32_t format;	/* DRM fourcc, 32 bits per pixel */
	const void *data;	/* pixel (0,0) of the scanout */
	/*
	 * data stays valid (and keeps showing this scanout's latest pixels) until
	 * the next scanout()/scanout_gl() call for this id, so a sink may read it
	 * later instead of at once (the 2D renderer's resource images). False:
	 * valid only during the call (3D read-backs, blob staging).
	 */
	bool stable;
};

/* A scanout was set up, resized or disabled. */
struct vgi_scanout {
	bool enabled;
	uint32_t width, height;	/* visible size */
	uint32_t format;	/* DRM fourcc */
};

/* A 3D scanout, for sinks with a GL path. */
struct vgi_gl_scanout {
	bool enabled;
	uint32_t texture;	/* GL texture name in the device's EGL context, 0 if none */
	int dmabuf_fd;		/* -1 if none; owned by the device (dup it to keep it) */
	uint32_t fourcc;
	uint64_t modifier;
	uint32_t stride, offset;
	uint32_t buf_width, buf_height;	/* the whole buffer */
	uint32_t x, y, width, height;	/* the visible part */
	bool y0_top;		/* row 0 is the top row (else GL's bottom-up) */
};

/* 64x64 ARGB8888 (premultiplied) cursor image and position. */
#define VGI_CURSOR_SIZE 64
struct vgi_cursor {
	bool visible;
	int32_t x, y;		/* position of the hot spot in scanout coordinates */
	uint32_t hot_x, hot_y;
	bool image_changed;	/* pixels holds a new image (else only moved) */
	const uint32_t *pixels;	/* VGI_CURSOR_SIZE * VGI_CURSOR_SIZE, may be NULL when !image_changed */
};

struct vgi_display_ops {
	void (*scanout)(void *sink, uint32_t id, const struct vgi_scanout *s);
	/* damage in scanout coordinates, clipped to img; img is the whole scanout */
	void (*update)(void *sink, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img);
	/* Optional GL path; a sink without it gets update() with read-back pixels. */
	void (*scanout_gl)(void *sink, uint32_t id, const struct vgi_gl_scanout *s);
	void (*gl_update)(void *sink, uint32_t id, const struct vgi_rect *damage);
	void (*cursor)(void *sink, uint32_t id, const struct vgi_cursor *c);
	void (*destroy)(void *sink);
};

struct vgi_display_sink {
	const struct vgi_display_ops *ops;
	void *sink;
};

/*
 * What a sink reports back (window resized or closed, keys and pointer).
 * Programs wire these to vgi_gpu_set_output() and an input device.
 */
struct vgi_input_event;
struct vgi_display_host {
	void (*output_changed)(void *opaque, uint32_t id, bool connected, uint32_t width, uint32_t height);
	void (*input)(void *opaque, uint32_t id, const struct vgi_input_event *ev);
	void (*quit)(void *opaque);
	/* The frontend's EDID for an output (QEMU's GET_EDID); the device reports it to the guest. */
	void (*edid)(void *opaque, uint32_t id, const uint8_t *blob, uint32_t size);
	/*
	 * Optional: whether the display's EDID for output id is on its way
	 * (asked for, or about to be, and not answered yet); false once it came
	 * (after edid()) or will not come. vgi-gpu holds the guest's GET_EDID
	 * meanwhile (vgi_gpu_expect_edid).
	 */
	void (*edid_pending)(void *opaque, uint32_t id, bool pending);
	void *opaque;
};

/* DRM fourcc helpers for the virtio-gpu 32-bit formats. */
uint32_t vgi_format_from_virtio_gpu(uint32_t virtio_format);	/* 0 if unknown */
/* The pixman format code (pixman_format_code_t) of one of those eight fourccs; 0 if another. */
uint32_t vgi_format_to_pixman(uint32_t fourcc);

/* Clip r to a width x height area; false if nothing is left (all in 64-bit). */
bool vgi_rect_clip(struct vgi_rect *r, uint32_t width, uint32_t height);

#ifdef __cplusplus
}
#endif

#endif
