/* SPDX-License-Identifier: MIT */
#ifndef VGI_DRM_DISPLAY_H
#define VGI_DRM_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/display.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A DRM/KMS console display: one connector of a card, two dumb buffers
 * flipped on vblank (atomic commits where the driver takes them, legacy page
 * flips otherwise), only damage copied, the cursor on the hardware cursor
 * plane when there is one (composited into the frame otherwise), and virtual
 * terminal switching (DRM master dropped while another VT is shown). The
 * CRTC's previous state is restored by vgi_drm_display_free().
 *
 * The display owns no main loop: poll vgi_drm_display_get_fd() for POLLIN
 * and call vgi_drm_display_dispatch() (page-flip events and VT signals).
 * The drm display sink ("drm" in vgi_display_sink_new) wraps this and
 * watches the fd on GLib's default main context.
 */

struct vgi_drm_display;

enum vgi_drm_cursor_mode {
	VGI_DRM_CURSOR_AUTO,	/* hardware cursor plane if any, else composited */
	VGI_DRM_CURSOR_SOFTWARE,	/* always composited into the frame */
};

struct vgi_drm_display_options {
	const char *card;	/* "/dev/dri/card0"; NULL: the first card with a connected connector */
	const char *connector;	/* "Virtual-1", "HDMI-A-1"; NULL: the first connected one */
	uint32_t width, height;	/* mode; 0: the connector's preferred mode */
	bool no_atomic;		/* use legacy modeset/page flips even where atomic works */
	enum vgi_drm_cursor_mode cursor;
	/*
	 * VT switching: tty is the VT to handle ("/dev/tty1"); NULL: standard
	 * input when it is a VT, else none. With a VT, the VT is put in graphics
	 * mode and VT_PROCESS switching (signals SIGRTMIN+4/SIGRTMIN+5).
	 */
	const char *tty;
	bool no_vt;		/* never touch a VT */
};

/*
 * Open and light up a display. 0 or negative errno, logged clearly:
 * -ENOENT no card, -ENODEV no (such) connected connector or mode,
 * -EACCES no permission (the device node, or DRM master held by another).
 */
int vgi_drm_display_open(const struct vgi_drm_display_options *opts, struct vgi_drm_display **out);
/* Restores the previous CRTC (and the VT's mode); accepts NULL. */
void vgi_drm_display_free(struct vgi_drm_display *d);

/* The mode's size; the frame shown is its top-left part. */
void vgi_drm_display_size(const struct vgi_drm_display *d, uint32_t *width, uint32_t *height);
const char *vgi_drm_display_connector(const struct vgi_drm_display *d);	/* "Virtual-1" */
const char *vgi_drm_display_card(const struct vgi_drm_display *d);	/* "/dev/dri/card0" */
bool vgi_drm_display_atomic(const struct vgi_drm_display *d);
/* "plane", "legacy" (drmModeSetCursor) or "software" */
const char *vgi_drm_display_cursor_kind(const struct vgi_drm_display *d);

/*
 * Show the damaged rectangles of img (placed at the display's top-left,
 * clipped to the mode; any 32-bit format of display.h). Copies the damage
 * before returning; the flip happens now or, when one is pending, as soon as
 * it completes (later frames merge). A resized frame is shown black outside.
 * 0, or -EINVAL for an unsupported format.
 */
int vgi_drm_display_present(struct vgi_drm_display *d, const struct vgi_image *img,
			    const struct vgi_rect *damage, unsigned ndamage);
/* Blank everything outside width x height (after the frame shrank). */
void vgi_drm_display_set_frame_size(struct vgi_drm_display *d, uint32_t width, uint32_t height);
/* Define and/or move the cursor (as struct vgi_cursor in display.h says). */
void vgi_drm_display_cursor(struct vgi_drm_display *d, const struct vgi_cursor *c);

/* A pollable fd (POLLIN: call dispatch), stable for the display's life. */
int vgi_drm_display_get_fd(const struct vgi_drm_display *d);
/* Handle page-flip events and VT switch requests; never blocks. 0 or -errno. */
int vgi_drm_display_dispatch(struct vgi_drm_display *d);
/* Dispatch until nothing is left to show (flips done). -ETIMEDOUT after timeout_ms. */
int vgi_drm_display_flush(struct vgi_drm_display *d, int timeout_ms);
/* false while another VT is shown (presents are kept and shown on return). */
bool vgi_drm_display_active(const struct vgi_drm_display *d);
/* Number of flips completed, for tests and benchmarks. */
uint64_t vgi_drm_display_flip_count(const struct vgi_drm_display *d);

#ifdef __cplusplus
}
#endif

#endif
