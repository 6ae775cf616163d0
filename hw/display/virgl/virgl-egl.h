/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRGL_EGL_H
#define VGI_VIRGL_EGL_H

/*
 * The EGL side of the 3D path (private). Surfaceless (EGL_MESA_platform_
 * surfaceless: llvmpipe or the first GPU Mesa finds, no /dev/dri needed, no
 * X) by default; EGL on GBM of a DRM render node when one is given. Every
 * context is a desktop GL core context shared with the base context, so a
 * texture virglrenderer renders into is visible to the device's own GL.
 */

#include <stdbool.h>

#include <epoxy/egl.h>

struct gbm_device;

struct vgi_egl {
	EGLDisplay dpy;
	EGLContext base;	/* the device's own context; every other one shares with it */
	int drm_fd;		/* render node, -1 when surfaceless */
	struct gbm_device *gbm;
	bool no_config;		/* EGL_KHR_no_config_context */
	bool dmabuf_export;	/* EGL_MESA_image_dma_buf_export */
	bool gles;		/* contexts are OpenGL ES (no desktop GL available) */
	char renderer[128];	/* GL_RENDERER of the base context */
};

/* 0 or negative errno (logged). render_node NULL: surfaceless. */
int vgi_egl_init(struct vgi_egl *egl, const char *render_node);
void vgi_egl_finish(struct vgi_egl *egl);

/* A context of at least major.minor (0.0: any), shared with base; EGL_NO_CONTEXT on failure. */
EGLContext vgi_egl_create_context(struct vgi_egl *egl, int major, int minor);
void vgi_egl_destroy_context(struct vgi_egl *egl, EGLContext ctx);
/* ctx EGL_NO_CONTEXT releases the calling thread's context. 0 or -EIO. */
int vgi_egl_make_current(struct vgi_egl *egl, EGLContext ctx);

#endif
