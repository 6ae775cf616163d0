// SPDX-License-Identifier: MIT
#include "virgl-egl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <epoxy/gl.h>

#include <vgi/log.h>

#include "vgi-config.h"

#ifdef VGI_HAVE_GBM
#include <gbm.h>
#endif

/* Desktop GL core versions to try for the base context, newest first. */
static const int gl_versions[][2] = {
	{ 4, 6 }, { 4, 5 }, { 4, 3 }, { 4, 1 }, { 3, 3 }, { 3, 2 }, { 3, 1 },
};
static const int gles_versions[][2] = { { 3, 2 }, { 3, 1 }, { 3, 0 } };

/* eglBindAPI is per thread; virglrenderer's fence thread makes contexts current too. */
static _Thread_local bool api_bound;

static void bind_api(const struct vgi_egl *egl)
{
	if (!api_bound) {
		eglBindAPI(egl->gles ? EGL_OPENGL_ES_API : EGL_OPENGL_API);
		api_bound = true;
	}
}

static EGLDisplay get_display(EGLenum platform, void *native)
{
	if (epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_EXT_platform_base"))
		return eglGetPlatformDisplayEXT(platform, native, NULL);
	return eglGetPlatformDisplay(platform, native, NULL);
}

static int open_display(struct vgi_egl *egl, const char *render_node)
{
	if (!render_node) {
		if (!epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_MESA_platform_surfaceless")) {
			vgi_error("virgl: EGL lacks EGL_MESA_platform_surfaceless");
			return -ENOTSUP;
		}
		egl->dpy = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY);
		return egl->dpy == EGL_NO_DISPLAY ? -ENODEV : 0;
	}
#ifdef VGI_HAVE_GBM
	if (!epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_MESA_platform_gbm") &&
	    !epoxy_has_egl_extension(EGL_NO_DISPLAY, "EGL_KHR_platform_gbm")) {
		vgi_error("virgl: EGL lacks EGL_KHR_platform_gbm");
		return -ENOTSUP;
	}
	egl->drm_fd = open(render_node, O_RDWR | O_CLOEXEC);
	if (egl->drm_fd < 0) {
		int err = errno;
		vgi_error("virgl: cannot open render node %s: %s", render_node, strerror(err));
		return -err;
	}
	egl->gbm = gbm_create_device(egl->drm_fd);
	if (!egl->gbm) {
		vgi_error("virgl: gbm_create_device(%s) failed", render_node);
		return -ENODEV;
	}
	egl->dpy = get_display(EGL_PLATFORM_GBM_MESA, egl->gbm);
	return egl->dpy == EGL_NO_DISPLAY ? -ENODEV : 0;
#else
	vgi_error("virgl: built without GBM, --render-node %s is unavailable", render_node);
	return -ENOTSUP;
#endif
}

static EGLConfig pick_config(struct vgi_egl *egl)
{
	if (egl->no_config)
		return EGL_NO_CONFIG_KHR;
	const EGLint attrs[] = {
		EGL_SURFACE_TYPE, EGL_PBUFFER_BIT,
		EGL_RENDERABLE_TYPE, egl->gles ? EGL_OPENGL_ES3_BIT : EGL_OPENGL_BIT,
		EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8,
		EGL_NONE,
	};
	EGLConfig cfg = NULL;
	EGLint n = 0;
	if (!eglChooseConfig(egl->dpy, attrs, &cfg, 1, &n) || n < 1)
		return NULL;
	return cfg;
}

static EGLContext create(struct vgi_egl *egl, EGLContext share, int major, int minor)
{
	EGLint attrs[16];
	int i = 0;

	if (major > 0) {
		attrs[i++] = EGL_CONTEXT_MAJOR_VERSION;
		attrs[i++] = major;
		attrs[i++] = EGL_CONTEXT_MINOR_VERSION;
		attrs[i++] = minor;
	}
	if (!egl->gles && (major > 3 || (major == 3 && minor >= 2))) {
		attrs[i++] = EGL_CONTEXT_OPENGL_PROFILE_MASK;
		attrs[i++] = EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT;
	}
	attrs[i] = EGL_NONE;
	bind_api(egl);
	EGLConfig cfg = pick_config(egl);
	if (!egl->no_config && !cfg)
		return EGL_NO_CONTEXT;
	return eglCreateContext(egl->dpy, cfg, share, attrs);
}

int vgi_egl_init(struct vgi_egl *egl, const char *render_node)
{
	EGLint maj, min;
	int ret;

	memset(egl, 0, sizeof(*egl));
	egl->dpy = EGL_NO_DISPLAY;
	egl->base = EGL_NO_CONTEXT;
	egl->drm_fd = -1;

	ret = open_display(egl, render_node);
	if (ret < 0)
		goto fail;
	if (!eglInitialize(egl->dpy, &maj, &min)) {
		vgi_error("virgl: eglInitialize failed (0x%x)", eglGetError());
		ret = -ENODEV;
		goto fail;
	}
	if (!epoxy_has_egl_extension(egl->dpy, "EGL_KHR_surfaceless_context")) {
		vgi_error("virgl: EGL lacks EGL_KHR_surfaceless_context");
		ret = -ENOTSUP;
		goto fail;
	}
	egl->no_config = epoxy_has_egl_extension(egl->dpy, "EGL_KHR_no_config_context") ||
			 epoxy_has_egl_extension(egl->dpy, "EGL_MESA_configless_context");
	egl->dmabuf_export = epoxy_has_egl_extension(egl->dpy, "EGL_MESA_image_dma_buf_export");

	/* Desktop GL core first (what virglrenderer prefers), GLES when that is all there is. */
	egl->gles = !eglBindAPI(EGL_OPENGL_API);
	for (int pass = 0; pass < 2 && egl->base == EGL_NO_CONTEXT; pass++) {
		const int (*v)[2] = egl->gles ? gles_versions : gl_versions;
		size_t n = egl->gles ? sizeof(gles_versions) / sizeof(gles_versions[0])
				     : sizeof(gl_versions) / sizeof(gl_versions[0]);
		api_bound = false;
		for (size_t k = 0; k < n && egl->base == EGL_NO_CONTEXT; k++)
			egl->base = create(egl, EGL_NO_CONTEXT, v[k][0], v[k][1]);
		if (egl->base == EGL_NO_CONTEXT) {
			if (egl->gles)
				break;
			egl->gles = true;
		}
	}
	api_bound = false;
	if (egl->base == EGL_NO_CONTEXT) {
		vgi_error("virgl: no GL 3.1+ or GLES 3.0+ context (0x%x)", eglGetError());
		ret = -ENOTSUP;
		goto fail;
	}
	if (vgi_egl_make_current(egl, egl->base) < 0) {
		ret = -EIO;
		goto fail;
	}
	const char *r = (const char *)glGetString(GL_RENDERER);
	snprintf(egl->renderer, sizeof(egl->renderer), "%s", r ? r : "?");
	vgi_info("virgl: EGL %d.%d %s, %s %s%s", maj, min,
		 render_node ? render_node : "surfaceless", egl->gles ? "GLES" : "GL",
		 egl->renderer, egl->dmabuf_export ? ", dmabuf export" : "");
	return 0;

fail:
	vgi_egl_finish(egl);
	return ret;
}

void vgi_egl_finish(struct vgi_egl *egl)
{
	if (egl->dpy != EGL_NO_DISPLAY) {
		eglMakeCurrent(egl->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
		if (egl->base != EGL_NO_CONTEXT)
			eglDestroyContext(egl->dpy, egl->base);
		/*
		 * No eglTerminate: EGL hands out the same display again for
		 * the same platform, and Mesa's terminate unloads the driver,
		 * which orphans its one-time allocations (leaks for LSan).
		 */
		eglReleaseThread();
	}
#ifdef VGI_HAVE_GBM
	if (egl->gbm)
		gbm_device_destroy(egl->gbm);
#endif
	if (egl->drm_fd >= 0)
		close(egl->drm_fd);
	egl->dpy = EGL_NO_DISPLAY;
	egl->base = EGL_NO_CONTEXT;
	egl->gbm = NULL;
	egl->drm_fd = -1;
	api_bound = false;
}

EGLContext vgi_egl_create_context(struct vgi_egl *egl, int major, int minor)
{
	EGLContext ctx = create(egl, egl->base, major, minor);
	if (ctx == EGL_NO_CONTEXT)
		vgi_debug("virgl: no %s %d.%d context (0x%x)", egl->gles ? "GLES" : "GL",
			  major, minor, eglGetError());
	return ctx;
}

void vgi_egl_destroy_context(struct vgi_egl *egl, EGLContext ctx)
{
	if (ctx == EGL_NO_CONTEXT || ctx == egl->base)
		return;
	if (eglGetCurrentContext() == ctx)
		eglMakeCurrent(egl->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
	eglDestroyContext(egl->dpy, ctx);
}

int vgi_egl_make_current(struct vgi_egl *egl, EGLContext ctx)
{
	bind_api(egl);
	if (!eglMakeCurrent(egl->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
		vgi_error("virgl: eglMakeCurrent failed (0x%x)", eglGetError());
		return -EIO;
	}
	return 0;
}
