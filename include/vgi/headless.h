/* SPDX-License-Identifier: MIT */
#ifndef VGI_HEADLESS_H
#define VGI_HEADLESS_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/display.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The headless sink: keeps the last frame of each scanout (converted to
 * DRM_FORMAT_XRGB8888, or ARGB8888 for alpha formats) and its cursor, and
 * writes PNG files on request or after every flush.
 */

struct vgi_headless;

/*
 * dir: where to write a PNG after every flush ("<dir>/scanout<N>.png", the
 * latest frame, replaced atomically) and the cursor image whenever it
 * changes ("<dir>/cursor<N>.png", 64x64 straight RGBA), or NULL to write
 * only on request.
 * NULL with errno set on failure.
 */
struct vgi_headless *vgi_headless_new(const char *dir);
/*
 * Files written after every flush: cursor composites the cursor into them
 * (default off, like QEMU's screendump); numbered also keeps every frame as
 * "<dir>/scanout<N>-<seq>.png" (default off: a busy guest flushes 60 times
 * a second).
 */
void vgi_headless_set_file_options(struct vgi_headless *h, bool cursor, bool numbered);
void vgi_headless_free(struct vgi_headless *h);
/* ops whose sink argument is a struct vgi_headless *; destroy frees it. */
const struct vgi_display_ops *vgi_headless_ops(void);

/* The last frame (NULL if the scanout is disabled or never set). Valid until the next device call. */
const struct vgi_image *vgi_headless_frame(struct vgi_headless *h, uint32_t id);
/* The cursor state of a scanout (NULL before the first cursor() call for it);
 * pixels is NULL while no image was defined. */
const struct vgi_cursor *vgi_headless_cursor(struct vgi_headless *h, uint32_t id);
/* Number of update() calls seen for a scanout. */
unsigned vgi_headless_update_count(struct vgi_headless *h, uint32_t id);
/*
 * Write scanout id as an 8-bit RGB PNG (alpha is ignored, as a display does),
 * with the visible cursor composited (OVER, premultiplied) if cursor is true.
 * Written to "<path>.tmp" and renamed. 0, -EINVAL (bad id), -ENODATA (scanout
 * disabled or never set), -ENOMEM, -EIO (libpng) or the -errno of a file call.
 */
int vgi_headless_write_png(struct vgi_headless *h, uint32_t id, const char *path, bool cursor);

/* Premultiplied ARGB8888 to straight (as PNG stores it), rounded to nearest. */
uint32_t vgi_headless_unpremultiply(uint32_t argb);

#ifdef __cplusplus
}
#endif

#endif
