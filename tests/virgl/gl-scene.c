// SPDX-License-Identifier: MIT
/*
 * gl-scene: a small deterministic OpenGL ES 2 scene (clear, three
 * triangles, a textured quad) for the 3D screenshot test.
 *
 *   gl-scene --kms [--signal FILE] [--wait FILE]
 *       In a guest: render with EGL on GBM of /dev/dri/card0 (Mesa's virgl
 *       driver), show it with a mode set and then a page flip, print the
 *       GL renderer, create FILE (--signal), wait for FILE (--wait), exit.
 *   gl-scene --png OUT.png [--size WxH]
 *       On the host: the same scene on surfaceless EGL into an FBO, written
 *       as a PNG (how tests/virgl/gl-scene-ref.png was made).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <gbm.h>
#include <png.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

/*
 * Mesa's GBM/EGL keep allocations past eglTerminate; this test program's
 * leaks are not the library's, so a sanitizer build does not check them.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static void die(const char *what)
{
	fprintf(stderr, "gl-scene: %s\n", what);
	exit(1);
}

static GLuint shader(GLenum type, const char *src)
{
	GLuint s = glCreateShader(type);
	GLint ok = 0;
	glShaderSource(s, 1, &src, NULL);
	glCompileShader(s);
	glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
	if (!ok) {
		char log[1024];
		glGetShaderInfoLog(s, sizeof(log), NULL, log);
		fprintf(stderr, "gl-scene: shader: %s\n", log);
		exit(1);
	}
	return s;
}

static GLuint program(const char *vs, const char *fs)
{
	GLuint p = glCreateProgram();
	GLint ok = 0;
	glAttachShader(p, shader(GL_VERTEX_SHADER, vs));
	glAttachShader(p, shader(GL_FRAGMENT_SHADER, fs));
	glBindAttribLocation(p, 0, "pos");
	glBindAttribLocation(p, 1, "attr");
	glLinkProgram(p);
	glGetProgramiv(p, GL_LINK_STATUS, &ok);
	if (!ok)
		die("link failed");
	return p;
}

/* The scene. Everything is fixed: no time, no randomness. */
static void draw_scene(int w, int h)
{
	static const char *color_vs =
		"attribute vec2 pos; attribute vec3 attr; varying vec3 c;\n"
		"void main() { c = attr; gl_Position = vec4(pos, 0.0, 1.0); }\n";
	static const char *color_fs =
		"precision mediump float; varying vec3 c;\n"
		"void main() { gl_FragColor = vec4(c, 1.0); }\n";
	static const char *tex_vs =
		"attribute vec2 pos; attribute vec3 attr; varying vec2 uv;\n"
		"void main() { uv = attr.xy; gl_Position = vec4(pos, 0.0, 1.0); }\n";
	static const char *tex_fs =
		"precision mediump float; varying vec2 uv; uniform sampler2D t;\n"
		"void main() { gl_FragColor = texture2D(t, uv); }\n";
	/* x, y, r, g, b */
	static const GLfloat tris[] = {
		-0.90f, -0.80f, 1, 0, 0,  -0.10f, -0.80f, 0, 1, 0,  -0.50f, 0.10f, 0, 0, 1,	/* gradient */
		-0.80f, 0.30f, 1, 1, 0,  -0.20f, 0.30f, 1, 1, 0,  -0.50f, 0.90f, 1, 1, 0,	/* yellow */
		0.05f, -0.95f, 1, 0, 1,  0.95f, -0.95f, 1, 0, 1,  0.50f, -0.30f, 0, 1, 1,	/* magenta-cyan */
	};
	/* x, y, u, v, unused: a quad (two triangles), 4x texture repeat */
	static const GLfloat quad[] = {
		0.10f, -0.10f, 0, 0, 0,  0.90f, -0.10f, 4, 0, 0,  0.90f, 0.85f, 4, 4, 0,
		0.10f, -0.10f, 0, 0, 0,  0.90f, 0.85f, 4, 4, 0,  0.10f, 0.85f, 0, 4, 0,
	};
	uint8_t tex[16 * 16 * 4];

	for (int y = 0; y < 16; y++) {
		for (int x = 0; x < 16; x++) {
			uint8_t *p = &tex[(y * 16 + x) * 4];
			bool on = ((x >> 2) ^ (y >> 2)) & 1;
			p[0] = on ? 240 : (uint8_t)(x * 16);
			p[1] = on ? 240 : 32;
			p[2] = on ? 240 : (uint8_t)(y * 16);
			p[3] = 255;
		}
	}
	glViewport(0, 0, w, h);
	glClearColor(0.1f, 0.2f, 0.3f, 1.0f);
	glClear(GL_COLOR_BUFFER_BIT);

	GLuint cp = program(color_vs, color_fs), tp = program(tex_vs, tex_fs);
	glEnableVertexAttribArray(0);
	glEnableVertexAttribArray(1);
	glUseProgram(cp);
	glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), tris);
	glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), tris + 2);
	glDrawArrays(GL_TRIANGLES, 0, 9);

	GLuint t;
	glGenTextures(1, &t);
	glBindTexture(GL_TEXTURE_2D, t);
	glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, 16, 16, 0, GL_RGBA, GL_UNSIGNED_BYTE, tex);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_REPEAT);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_REPEAT);
	glUseProgram(tp);
	glUniform1i(glGetUniformLocation(tp, "t"), 0);
	glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), quad);
	glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 5 * sizeof(GLfloat), quad + 2);
	glDrawArrays(GL_TRIANGLES, 0, 6);
	glFinish();
	if (glGetError() != GL_NO_ERROR)
		die("GL error");
}

static EGLDisplay get_display(EGLenum platform, void *native)
{
	PFNEGLGETPLATFORMDISPLAYEXTPROC get =
		(PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	EGLDisplay d = get ? get(platform, native, NULL) : EGL_NO_DISPLAY;
	EGLint maj, min;
	if (d == EGL_NO_DISPLAY || !eglInitialize(d, &maj, &min))
		die("no EGL display");
	if (!eglBindAPI(EGL_OPENGL_ES_API))
		die("no GLES");
	return d;
}

static const EGLint ctx_attrs[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };

static void write_png(const char *path, int w, int h, const uint8_t *rgba_bottom_up)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		die("cannot write the PNG");
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png)))
		die("libpng failed");
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	uint8_t *row = malloc((size_t)w * 3);
	for (int y = 0; y < h; y++) {
		const uint8_t *src = rgba_bottom_up + (size_t)(h - 1 - y) * w * 4;
		for (int x = 0; x < w; x++)
			memcpy(row + x * 3, src + x * 4, 3);
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	fclose(f);
}

static int run_png(const char *out, int w, int h)
{
	EGLDisplay d = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY);
	EGLContext c = eglCreateContext(d, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, ctx_attrs);
	if (c == EGL_NO_CONTEXT || !eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, c))
		die("no context");
	GLuint fb;
	glGenFramebuffers(1, &fb);
	glBindFramebuffer(GL_FRAMEBUFFER, fb);
	GLuint tex;
	glGenTextures(1, &tex);
	glBindTexture(GL_TEXTURE_2D, tex);
	glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, NULL);
	glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, tex, 0);
	if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE)
		die("incomplete FBO");
	draw_scene(w, h);
	uint8_t *px = malloc((size_t)w * h * 4);
	glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, px);
	write_png(out, w, h, px);
	free(px);
	printf("gl-scene: %s: %dx%d, GL_RENDERER %s\n", out, w, h, (const char *)glGetString(GL_RENDERER));
	return 0;
}

struct kms {
	int fd;
	uint32_t conn, crtc;
	drmModeModeInfo mode;
};

static void kms_open(struct kms *k)
{
	k->fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		die("cannot open /dev/dri/card0");
	drmModeRes *res = drmModeGetResources(k->fd);
	if (!res)
		die("no KMS resources");
	for (int i = 0; i < res->count_connectors && !k->conn; i++) {
		drmModeConnector *c = drmModeGetConnector(k->fd, res->connectors[i]);
		if (c && c->connection == DRM_MODE_CONNECTED && c->count_modes > 0) {
			k->conn = c->connector_id;
			k->mode = c->modes[0];
			for (int m = 0; m < c->count_modes; m++)
				if (c->modes[m].type & DRM_MODE_TYPE_PREFERRED) {
					k->mode = c->modes[m];
					break;
				}
			drmModeEncoder *e = c->encoder_id ? drmModeGetEncoder(k->fd, c->encoder_id) : NULL;
			if (e && e->crtc_id)
				k->crtc = e->crtc_id;
			else if (c->count_encoders > 0) {
				drmModeEncoder *e2 = drmModeGetEncoder(k->fd, c->encoders[0]);
				for (int j = 0; e2 && j < res->count_crtcs; j++)
					if (e2->possible_crtcs & (1u << j)) {
						k->crtc = res->crtcs[j];
						break;
					}
				drmModeFreeEncoder(e2);
			}
			drmModeFreeEncoder(e);
		}
		drmModeFreeConnector(c);
	}
	drmModeFreeResources(res);
	if (!k->conn || !k->crtc)
		die("no connected output");
}

static uint32_t bo_fb(struct kms *k, struct gbm_bo *bo)
{
	uint32_t fb = 0;
	if (drmModeAddFB(k->fd, gbm_bo_get_width(bo), gbm_bo_get_height(bo), 24, 32, gbm_bo_get_stride(bo),
			 gbm_bo_get_handle(bo).u32, &fb))
		die("drmModeAddFB failed");
	return fb;
}

static void flip_done(int fd, unsigned frame, unsigned sec, unsigned usec, void *data)
{
	*(bool *)data = true;
}

static int run_kms(const char *signal_file, const char *wait_file)
{
	struct kms k = { 0 };
	kms_open(&k);
	int w = k.mode.hdisplay, h = k.mode.vdisplay;
	struct gbm_device *gbm = gbm_create_device(k.fd);
	struct gbm_surface *gs = gbm ? gbm_surface_create(gbm, w, h, GBM_FORMAT_XRGB8888,
							  GBM_BO_USE_SCANOUT | GBM_BO_USE_RENDERING) : NULL;
	if (!gs)
		die("no GBM surface");
	EGLDisplay d = get_display(EGL_PLATFORM_GBM_KHR, gbm);
	const EGLint cattrs[] = { EGL_SURFACE_TYPE, EGL_WINDOW_BIT, EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8,
				  EGL_BLUE_SIZE, 8, EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT, EGL_NONE };
	EGLConfig cfgs[64], cfg = NULL;
	EGLint n = 0;
	eglChooseConfig(d, cattrs, cfgs, 64, &n);
	for (EGLint i = 0; i < n && !cfg; i++) {
		EGLint id;
		if (eglGetConfigAttrib(d, cfgs[i], EGL_NATIVE_VISUAL_ID, &id) && id == GBM_FORMAT_XRGB8888)
			cfg = cfgs[i];
	}
	if (!cfg)
		die("no XRGB8888 EGL config");
	EGLContext c = eglCreateContext(d, cfg, EGL_NO_CONTEXT, ctx_attrs);
	EGLSurface s = eglCreateWindowSurface(d, cfg, (EGLNativeWindowType)gs, NULL);
	if (c == EGL_NO_CONTEXT || s == EGL_NO_SURFACE || !eglMakeCurrent(d, s, s, c))
		die("no EGL context/surface");
	printf("gl-scene: GL_RENDERER %s\n", (const char *)glGetString(GL_RENDERER));

	/* frame 1: mode set */
	draw_scene(w, h);
	eglSwapBuffers(d, s);
	struct gbm_bo *bo1 = gbm_surface_lock_front_buffer(gs);
	uint32_t fb1 = bo_fb(&k, bo1);
	if (drmModeSetCrtc(k.fd, k.crtc, fb1, 0, 0, &k.conn, 1, &k.mode))
		die("drmModeSetCrtc failed");
	/* frame 2: the same scene, shown by a page flip */
	draw_scene(w, h);
	eglSwapBuffers(d, s);
	struct gbm_bo *bo2 = gbm_surface_lock_front_buffer(gs);
	uint32_t fb2 = bo_fb(&k, bo2);
	bool done = false;
	if (drmModePageFlip(k.fd, k.crtc, fb2, DRM_MODE_PAGE_FLIP_EVENT, &done))
		die("drmModePageFlip failed");
	drmEventContext ev = { .version = 2, .page_flip_handler = flip_done };
	while (!done) {
		struct pollfd p = { .fd = k.fd, .events = POLLIN };
		if (poll(&p, 1, 10000) <= 0)
			die("no page flip event in 10 s");
		drmHandleEvent(k.fd, &ev);
	}
	printf("gl-scene: %dx%d shown (mode set + page flip)\n", w, h);
	fflush(stdout);
	if (signal_file) {
		int fd = open(signal_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; wait_file && access(wait_file, F_OK) != 0; i++) {
		if (i > 1200)
			die("timed out waiting for the host");
		usleep(50000);
	}
	drmModeRmFB(k.fd, fb1);
	drmModeRmFB(k.fd, fb2);
	gbm_surface_release_buffer(gs, bo1);
	gbm_surface_release_buffer(gs, bo2);
	eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
	eglDestroySurface(d, s);
	eglDestroyContext(d, c);
	eglTerminate(d);
	gbm_surface_destroy(gs);
	gbm_device_destroy(gbm);
	close(k.fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *png = NULL, *sig = NULL, *wait = NULL;
	bool kms = false;
	int w = 1280, h = 800;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kms"))
			kms = true;
		else if (!strcmp(argv[i], "--png") && i + 1 < argc)
			png = argv[++i];
		else if (!strcmp(argv[i], "--signal") && i + 1 < argc)
			sig = argv[++i];
		else if (!strcmp(argv[i], "--wait") && i + 1 < argc)
			wait = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && sscanf(argv[++i], "%dx%d", &w, &h) == 2 &&
			 w > 0 && h > 0 && w <= 8192 && h <= 8192)
			;
		else {
			fprintf(stderr, "usage: gl-scene --kms [--signal FILE] [--wait FILE] | --png OUT [--size WxH]\n");
			return 2;
		}
	}
	if (kms)
		return run_kms(sig, wait);
	if (png)
		return run_png(png, w, h);
	fprintf(stderr, "gl-scene: --kms or --png\n");
	return 2;
}
