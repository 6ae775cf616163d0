// SPDX-License-Identifier: MIT
/*
 * virglrenderer behind the virtio-gpu device: contexts, resources,
 * capsets, transfers, submits and fences, with every guest number checked
 * here before virglrenderer sees it. See virgl.h.
 */
#define VIRGL_RENDERER_UNSTABLE_APIS 1
#include "virgl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <virglrenderer.h>

#include <vgi/log.h>

#include "virgl-egl.h"

/* Same layout as struct virtio_gpu_box and virglrenderer's struct virgl_box. */
struct virgl_box {
	uint32_t x, y, z;
	uint32_t w, h, d;
};

/* Gallium texture targets (virgl protocol). */
enum {
	T_BUFFER, T_1D, T_2D, T_3D, T_CUBE, T_RECT, T_1D_ARRAY, T_2D_ARRAY, T_CUBE_ARRAY,
	T_MAX = T_CUBE_ARRAY,
};
#define VIRGL_BIND_RENDER_TARGET_ (1u << 1)
#define VIRGL_RESOURCE_Y_0_TOP_ (1u << 0)

#define RES_BUCKETS 1024u

struct res {
	struct res *next;
	uint32_t id;
	uint32_t target, format, width, height, depth, array_size, last_level;
	uint64_t charge;
	struct iovec *iov;
	unsigned niov;
	uint64_t backing_size;
	int export_fd;
	uint32_t export_stride, export_offset;
	bool blob;		/* a HOST3D blob: no layout known here, no transfers */
	bool mapped;		/* virgl_renderer_resource_map'ed */
};

/*
 * A pipe resource a context's stream made (VIRGL_CCMD_PIPE_RESOURCE_CREATE):
 * virglrenderer holds it until RESOURCE_CREATE_BLOB claims its blob_id or
 * the context goes. Charged when the stream is submitted.
 */
struct pipe_res {
	struct pipe_res *next;	/* newest first */
	uint64_t blob_id;
	uint64_t charge;	/* its estimate plus this struct */
};
#define MAX_PIPE_RES 4096u	/* unclaimed per context */

struct ctx {
	struct ctx *next;
	uint32_t id;
	struct pipe_res *pipes;
	unsigned npipes;
};

struct fence {
	struct fence *next;
	bool per_ctx;
	uint32_t seq;		/* our ctx0 sequence number (global timeline) */
	uint32_t ctx_id, ring_idx;
	uint64_t fence_id;	/* the guest's */
	void *data;
};

struct vgi_virgl {
	struct vgi_virgl_config cfg;
	struct vgi_egl egl;
	struct virgl_renderer_callbacks cbs;
	bool renderer_up;
	struct res *res[RES_BUCKETS];
	unsigned nres;
	struct ctx *ctxs;
	unsigned nctx;
	struct fence *fences, **fences_tail;
	unsigned nfences;
	uint32_t next_seq;
	uint32_t num_capsets;
};

/* virglrenderer keeps process-wide state: one renderer per process. */
static struct vgi_virgl *instance;

/* ---- fences ---- */

static void fences_retire(struct vgi_virgl *v, bool per_ctx, uint32_t ctx_id, uint32_t ring_idx,
			  uint64_t upto, bool all)
{
	struct fence **pp = &v->fences;
	while (*pp) {
		struct fence *f = *pp;
		bool match;
		if (per_ctx)
			match = f->per_ctx && f->ctx_id == ctx_id && f->ring_idx == ring_idx &&
				(all || f->fence_id <= upto);
		else
			match = !f->per_ctx && (int32_t)((uint32_t)upto - f->seq) >= 0;
		if (!match) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		if (v->fences_tail == &f->next)
			v->fences_tail = pp;
		v->nfences--;
		if (v->cfg.fence)
			v->cfg.fence(v->cfg.opaque, f->data, f->ctx_id, f->ring_idx, f->fence_id);
		free(f);
	}
	if (!v->fences)
		v->fences_tail = &v->fences;
}

static void cb_write_fence(void *cookie, uint32_t seq)
{
	fences_retire(cookie, false, 0, 0, seq, false);
}

static void cb_write_context_fence(void *cookie, uint32_t ctx_id, uint32_t ring_idx, uint64_t fence_id)
{
	fences_retire(cookie, true, ctx_id, ring_idx, fence_id, false);
}

static void drop_fences(struct vgi_virgl *v)
{
	while (v->fences) {
		struct fence *f = v->fences;
		v->fences = f->next;
		free(f);
	}
	v->fences_tail = &v->fences;
	v->nfences = 0;
}

/* ---- EGL for virglrenderer ---- */

static virgl_renderer_gl_context cb_create_gl_context(void *cookie, int scanout,
						      struct virgl_renderer_gl_ctx_param *p)
{
	struct vgi_virgl *v = cookie;
	EGLContext c = vgi_egl_create_context(&v->egl, p->major_ver, p->minor_ver);
	return c == EGL_NO_CONTEXT ? NULL : (virgl_renderer_gl_context)c;
}

static void cb_destroy_gl_context(void *cookie, virgl_renderer_gl_context c)
{
	struct vgi_virgl *v = cookie;
	vgi_egl_destroy_context(&v->egl, c ? (EGLContext)c : EGL_NO_CONTEXT);
}

static int cb_make_current(void *cookie, int scanout, virgl_renderer_gl_context c)
{
	struct vgi_virgl *v = cookie;
	return vgi_egl_make_current(&v->egl, c ? (EGLContext)c : EGL_NO_CONTEXT);
}

static void *cb_get_egl_display(void *cookie)
{
	struct vgi_virgl *v = cookie;
	return v->egl.dpy;
}

static void virgl_log(const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	vgi_debug("virglrenderer: %s", buf);
}

/* ---- life cycle ---- */

struct vgi_virgl *vgi_virgl_new(const struct vgi_virgl_config *cfg)
{
	if (instance) {
		vgi_error("virgl: one 3D device per process (virglrenderer is process-wide)");
		return NULL;
	}
	struct vgi_virgl *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->cfg = *cfg;
	v->fences_tail = &v->fences;
	v->next_seq = 1;
	if (vgi_egl_init(&v->egl, cfg->render_node) < 0) {
		free(v);
		return NULL;
	}
	virgl_set_debug_callback(virgl_log);
	v->cbs.version = 4;
	v->cbs.write_fence = cb_write_fence;
	v->cbs.create_gl_context = cb_create_gl_context;
	v->cbs.destroy_gl_context = cb_destroy_gl_context;
	v->cbs.make_current = cb_make_current;
	v->cbs.write_context_fence = cb_write_context_fence;
	v->cbs.get_egl_display = cb_get_egl_display;
	int flags = VIRGL_RENDERER_THREAD_SYNC | (v->egl.gles ? VIRGL_RENDERER_USE_GLES : 0);
	int ret = virgl_renderer_init(v, flags, &v->cbs);
	if (ret) {
		vgi_error("virgl: virgl_renderer_init failed (%d)", ret);
		vgi_egl_finish(&v->egl);
		free(v);
		return NULL;
	}
	v->renderer_up = true;
	instance = v;

	uint32_t ver, size;
	virgl_renderer_get_cap_set(VIRTIO_GPU_CAPSET_VIRGL2, &ver, &size);
	v->num_capsets = ver ? 2 : 1;
	if (virgl_renderer_get_poll_fd() < 0)
		vgi_warn("virgl: no fence thread: fences retire on the next command only");
	return v;
}

static void res_destroy(struct vgi_virgl *v, struct res *r);
static void ctx_end(struct vgi_virgl *v, struct ctx *c);

void vgi_virgl_free(struct vgi_virgl *v)
{
	if (!v)
		return;
	for (unsigned b = 0; b < RES_BUCKETS; b++)
		while (v->res[b])
			res_destroy(v, v->res[b]);
	while (v->ctxs) {
		struct ctx *c = v->ctxs;
		v->ctxs = c->next;
		ctx_end(v, c);
	}
	if (v->renderer_up)
		virgl_renderer_cleanup(v);
	drop_fences(v);
	vgi_egl_finish(&v->egl);
	if (instance == v)
		instance = NULL;
	free(v);
}

void vgi_virgl_reset(struct vgi_virgl *v)
{
	drop_fences(v);
	while (v->ctxs) {
		struct ctx *c = v->ctxs;
		v->ctxs = c->next;
		ctx_end(v, c);
	}
	v->nctx = 0;
}

const char *vgi_virgl_renderer_name(const struct vgi_virgl *v)
{
	return v->egl.renderer;
}

int vgi_virgl_get_fd(struct vgi_virgl *v)
{
	return virgl_renderer_get_poll_fd();
}

void vgi_virgl_dispatch(struct vgi_virgl *v)
{
	virgl_renderer_poll();
}

unsigned vgi_virgl_pending_fences(const struct vgi_virgl *v)
{
	return v->nfences;
}

/* ---- capsets ---- */

uint32_t vgi_virgl_num_capsets(const struct vgi_virgl *v)
{
	return v->num_capsets;
}

uint32_t vgi_virgl_capset_info(struct vgi_virgl *v, uint32_t index, uint32_t *id,
			       uint32_t *max_version, uint32_t *max_size)
{
	*id = *max_version = *max_size = 0;
	if (index >= v->num_capsets) {
		vgi_warn("virgl: GET_CAPSET_INFO index %u of %u", index, v->num_capsets);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	*id = index == 0 ? VIRTIO_GPU_CAPSET_VIRGL : VIRTIO_GPU_CAPSET_VIRGL2;
	virgl_renderer_get_cap_set(*id, max_version, max_size);
	if (*max_size > VGI_VIRGL_MAX_CAPSET)
		*max_size = 0;
	return VIRTIO_GPU_RESP_OK_CAPSET_INFO;
}

uint32_t vgi_virgl_capset_size(struct vgi_virgl *v, uint32_t id, uint32_t version, uint32_t *size)
{
	uint32_t max_ver = 0, max_size = 0;
	*size = 0;
	if (id != VIRTIO_GPU_CAPSET_VIRGL && !(id == VIRTIO_GPU_CAPSET_VIRGL2 && v->num_capsets > 1)) {
		vgi_warn("virgl: GET_CAPSET of unknown capset %u", id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	virgl_renderer_get_cap_set(id, &max_ver, &max_size);
	/* CVE-2016-10028: a zero or huge size must never reach the allocation. */
	if (max_size == 0 || max_size > VGI_VIRGL_MAX_CAPSET) {
		vgi_warn("virgl: capset %u has size %u", id, max_size);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (version > max_ver) {
		vgi_warn("virgl: GET_CAPSET %u version %u > %u", id, version, max_ver);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	*size = max_size;
	return VIRTIO_GPU_RESP_OK_CAPSET;
}

void vgi_virgl_capset_fill(struct vgi_virgl *v, uint32_t id, uint32_t version, void *buf)
{
	virgl_renderer_fill_caps(id, version, buf);
}

/* ---- contexts ---- */

static struct res *res_find(const struct vgi_virgl *v, uint32_t id);

/*
 * The context goes. virglrenderer 0.10 does not free the pipe resources
 * its stream made and no blob claimed (LeakSanitizer shows them): each is
 * claimed here under a spare resource id and unreffed, then their charges
 * come back.
 */
static void ctx_end(struct vgi_virgl *v, struct ctx *c)
{
	while (c->pipes) {
		struct pipe_res *p = c->pipes;
		uint32_t spare = UINT32_MAX;
		while (res_find(v, spare))
			spare--;
		struct virgl_renderer_resource_create_blob_args a = {
			.res_handle = spare, .ctx_id = c->id, .blob_mem = VIRGL_RENDERER_BLOB_MEM_HOST3D,
			.blob_id = p->blob_id, .size = 4096,
		};
		if (virgl_renderer_resource_create_blob(&a) == 0)
			virgl_renderer_resource_unref(spare);
		c->pipes = p->next;
		v->cfg.release(v->cfg.opaque, p->charge);
		free(p);
	}
	virgl_renderer_context_destroy(c->id);
	free(c);
}

static struct ctx *ctx_find(const struct vgi_virgl *v, uint32_t id)
{
	for (struct ctx *c = v->ctxs; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

uint32_t vgi_virgl_ctx_create(struct vgi_virgl *v, uint32_t ctx_id, uint32_t context_init,
			      const char *name, uint32_t nlen)
{
	uint32_t capset = context_init & VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK;
	if (ctx_id == 0 || ctx_find(v, ctx_id)) {
		vgi_warn("virgl: CTX_CREATE of %s context %u", ctx_id ? "existing" : "reserved", ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (v->nctx >= VGI_VIRGL_MAX_CONTEXTS) {
		vgi_warn("virgl: CTX_CREATE %u: %u contexts already", ctx_id, v->nctx);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	if (context_init & ~VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK ||
	    (capset != 0 && capset != VIRTIO_GPU_CAPSET_VIRGL && capset != VIRTIO_GPU_CAPSET_VIRGL2)) {
		vgi_warn("virgl: CTX_CREATE %u with context_init 0x%x", ctx_id, context_init);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (nlen > 64)
		nlen = 64;
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	int ret = capset ? virgl_renderer_context_create_with_flags(ctx_id, capset, nlen, name)
			 : virgl_renderer_context_create(ctx_id, nlen, name);
	if (ret) {
		vgi_warn("virgl: context %u: virglrenderer error %d", ctx_id, ret);
		free(c);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	c->id = ctx_id;
	c->next = v->ctxs;
	v->ctxs = c;
	v->nctx++;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_ctx_destroy(struct vgi_virgl *v, uint32_t ctx_id)
{
	for (struct ctx **pp = &v->ctxs; *pp; pp = &(*pp)->next) {
		struct ctx *c = *pp;
		if (c->id != ctx_id)
			continue;
		*pp = c->next;
		v->nctx--;
		/* Its own timelines end with it: answer what still waits on them. */
		for (uint32_t ring = 0; ring < 64; ring++)
			fences_retire(v, true, ctx_id, ring, 0, true);
		ctx_end(v, c);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	vgi_warn("virgl: CTX_DESTROY of unknown context %u", ctx_id);
	return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
}

unsigned vgi_virgl_ctx_count(const struct vgi_virgl *v)
{
	return v->nctx;
}

static struct res *res_find(const struct vgi_virgl *v, uint32_t id)
{
	for (struct res *r = v->res[id % RES_BUCKETS]; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static uint32_t ctx_res_check(struct vgi_virgl *v, const char *what, uint32_t ctx_id, uint32_t res_id)
{
	if (!ctx_find(v, ctx_id)) {
		vgi_warn("virgl: %s: unknown context %u", what, ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (!res_find(v, res_id)) {
		vgi_warn("virgl: %s: unknown resource %u", what, res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_ctx_attach(struct vgi_virgl *v, uint32_t ctx_id, uint32_t res_id)
{
	uint32_t r = ctx_res_check(v, "CTX_ATTACH_RESOURCE", ctx_id, res_id);
	if (r == VIRTIO_GPU_RESP_OK_NODATA)
		virgl_renderer_ctx_attach_resource(ctx_id, res_id);
	return r;
}

uint32_t vgi_virgl_ctx_detach(struct vgi_virgl *v, uint32_t ctx_id, uint32_t res_id)
{
	uint32_t r = ctx_res_check(v, "CTX_DETACH_RESOURCE", ctx_id, res_id);
	if (r == VIRTIO_GPU_RESP_OK_NODATA)
		virgl_renderer_ctx_detach_resource(ctx_id, res_id);
	return r;
}

static uint32_t pipe_charge(struct vgi_virgl *v, struct ctx *c, const uint32_t *cs, uint32_t ndw);

uint32_t vgi_virgl_submit(struct vgi_virgl *v, uint32_t ctx_id, void *cmds, uint32_t size)
{
	struct ctx *c = ctx_find(v, ctx_id);
	if (!c) {
		vgi_warn("virgl: SUBMIT_3D to unknown context %u", ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (size > VGI_VIRGL_MAX_SUBMIT || size % 4) {
		vgi_warn("virgl: SUBMIT_3D of %u bytes", size);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (size == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	uint32_t err = pipe_charge(v, c, cmds, size / 4);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		return err;
	int ret = virgl_renderer_submit_cmd(cmds, (int)ctx_id, (int)(size / 4));
	if (ret) {
		vgi_warn("virgl: SUBMIT_3D to context %u: virglrenderer error %d", ctx_id, ret);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---- resources ---- */

bool vgi_virgl_has_resource(const struct vgi_virgl *v, uint32_t res_id)
{
	return res_find(v, res_id) != NULL;
}

unsigned vgi_virgl_resource_count(const struct vgi_virgl *v)
{
	return v->nres;
}

/* Bytes per pixel of the usual virgl formats; 0 when not in this table. */
static uint32_t format_bpp(uint32_t f)
{
	switch (f) {
	case 1: case 2: case 3: case 4: case 8: case 17: case 18: case 19: case 20:
	case 21: case 22: case 28: case 32: case 49: case 67: case 68:
	case 121: case 134:	/* A8B8G8R8, R8G8B8X8: 2D scanout formats too */
		return 4;
	case 5: case 6: case 7: case 12: case 13: case 16: case 48: case 65:
		return 2;
	case 9: case 10: case 11: case 23: case 64:
		return 1;
	case 66:
		return 3;
	case 50:
		return 6;
	case 24: case 29: case 33: case 51:
		return 8;
	case 30: case 34:
		return 12;
	case 25: case 31: case 35:
		return 16;
	case 26:
		return 24;
	case 27:
		return 32;
	default:
		return 0;
	}
}

static uint32_t level_dim(uint32_t d, uint32_t level)
{
	d >>= level;
	return d ? d : 1;
}

/* Extent in y and z of a level: layers live in y (1D arrays) or z (2D/cube arrays). */
static void level_extent(const struct res *r, uint32_t level, uint32_t *w, uint32_t *h, uint32_t *d)
{
	*w = level_dim(r->width, level);
	*h = r->target == T_1D_ARRAY ? r->array_size : level_dim(r->height, level);
	switch (r->target) {
	case T_3D:
		*d = level_dim(r->depth, level);
		break;
	case T_2D_ARRAY: case T_CUBE_ARRAY:
		*d = r->array_size;
		break;
	case T_CUBE:
		*d = r->array_size > 6 ? r->array_size : 6;
		break;
	default:
		*d = 1;
	}
	if (r->target == T_BUFFER)
		*w = r->width;
}

/* The layout's limits, and the host bytes it takes (estimate, 64-bit). */
static uint32_t res_estimate(const struct virgl_renderer_resource_create_args *a, uint64_t *out)
{
	if (a->target > T_MAX || a->width == 0 || a->height == 0 || a->depth == 0 ||
	    a->array_size == 0 || a->width > (a->target == T_BUFFER ? (1u << 30) : VGI_VIRGL_MAX_DIM) ||
	    a->height > VGI_VIRGL_MAX_DIM || a->depth > VGI_VIRGL_MAX_DIM ||
	    a->array_size > VGI_VIRGL_MAX_LAYERS || a->last_level > 15 || a->nr_samples > 32 ||
	    (a->target == T_BUFFER && (a->height != 1 || a->depth != 1 || a->last_level)) ||
	    (a->target != T_3D && a->depth != 1) ||
	    (a->target == T_CUBE && a->array_size != 1 && a->array_size != 6)) {
		vgi_warn("virgl: resource %u: target %u %ux%ux%u layers %u levels %u samples %u",
			 a->handle, a->target, a->width, a->height, a->depth, a->array_size,
			 a->last_level + 1, a->nr_samples);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	uint64_t bpp = format_bpp(a->format);
	uint64_t bytes;
	if (a->target == T_BUFFER) {
		bytes = a->width;
	} else {
		bytes = (uint64_t)a->width * a->height * a->depth * a->array_size;
		bytes *= bpp ? bpp : 16;		/* unknown formats: the widest */
		bytes *= a->nr_samples > 1 ? a->nr_samples : 1;
		if (a->target == T_CUBE && a->array_size == 1)
			bytes *= 6;
		if (a->last_level)
			bytes += bytes / 3;		/* a full mip chain */
	}
	*out = bytes;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* VIRGL_CCMD_PIPE_RESOURCE_CREATE: its dword count and fields (virglrenderer's virgl_protocol.h) */
#define CCMD_PIPE_RESOURCE_CREATE 48u
#define PIPE_RES_CREATE_SIZE 11u
enum { PRC_TARGET = 1, PRC_FORMAT, PRC_BIND, PRC_WIDTH, PRC_HEIGHT, PRC_DEPTH, PRC_ARRAY_SIZE, PRC_LAST_LEVEL,
       PRC_NR_SAMPLES, PRC_FLAGS, PRC_BLOB_ID };

/*
 * Every pipe resource a stream creates, checked and charged like a
 * RESOURCE_CREATE_3D before virglrenderer sees the stream (the commands
 * are framed as virglrenderer frames them: header, then len dwords).
 * Refused whole (nothing charged) if one does not fit.
 */
static uint32_t pipe_charge(struct vgi_virgl *v, struct ctx *c, const uint32_t *cs, uint32_t ndw)
{
	struct pipe_res *mark = c->pipes;
	unsigned nmark = c->npipes;
	uint32_t err = VIRTIO_GPU_RESP_OK_NODATA;
	for (uint32_t i = 0; i < ndw; i += 1 + (cs[i] >> 16)) {
		const uint32_t *p = cs + i;
		if ((p[0] & 0xff) != CCMD_PIPE_RESOURCE_CREATE || (p[0] >> 16) != PIPE_RES_CREATE_SIZE ||
		    ndw - i - 1 < PIPE_RES_CREATE_SIZE)
			continue;	/* not one, or one virglrenderer refuses */
		struct virgl_renderer_resource_create_args a = {
			.target = p[PRC_TARGET], .format = p[PRC_FORMAT], .bind = p[PRC_BIND],
			.width = p[PRC_WIDTH], .height = p[PRC_HEIGHT], .depth = p[PRC_DEPTH],
			.array_size = p[PRC_ARRAY_SIZE], .last_level = p[PRC_LAST_LEVEL],
			.nr_samples = p[PRC_NR_SAMPLES], .flags = p[PRC_FLAGS],
		};
		uint64_t bytes;
		err = res_estimate(&a, &bytes);
		if (err != VIRTIO_GPU_RESP_OK_NODATA)
			break;
		bytes += sizeof(struct pipe_res);
		if (c->npipes >= MAX_PIPE_RES || !v->cfg.charge(v->cfg.opaque, bytes)) {
			vgi_warn("virgl: SUBMIT_3D to context %u: pipe resource %ux%u (%llu bytes, %u unclaimed) "
				 "over the host-memory limit", c->id, a.width, a.height, (unsigned long long)bytes,
				 c->npipes);
			err = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			break;
		}
		struct pipe_res *pr = calloc(1, sizeof(*pr));
		if (!pr) {
			v->cfg.release(v->cfg.opaque, bytes);
			err = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			break;
		}
		pr->blob_id = p[PRC_BLOB_ID];
		pr->charge = bytes;
		pr->next = c->pipes;
		c->pipes = pr;
		c->npipes++;
	}
	if (err != VIRTIO_GPU_RESP_OK_NODATA) {
		while (c->pipes != mark) {
			struct pipe_res *pr = c->pipes;
			c->pipes = pr->next;
			v->cfg.release(v->cfg.opaque, pr->charge);
			free(pr);
		}
		c->npipes = nmark;
	}
	return err;
}

/* CREATE_BLOB claimed blob_id: the oldest unclaimed pipe resource of that id (as virglrenderer picks). */
static struct pipe_res *pipe_claim(struct ctx *c, uint64_t blob_id)
{
	struct pipe_res **found = NULL;
	for (struct pipe_res **pp = &c->pipes; *pp; pp = &(*pp)->next)
		if ((*pp)->blob_id == blob_id)
			found = pp;
	if (!found)
		return NULL;
	struct pipe_res *pr = *found;
	*found = pr->next;
	c->npipes--;
	return pr;
}

/* A claim that failed: back in the list as its oldest entry. */
static void pipe_unclaim(struct ctx *c, struct pipe_res *pr)
{
	struct pipe_res **pp = &c->pipes;
	while (*pp)
		pp = &(*pp)->next;
	pr->next = NULL;
	*pp = pr;
	c->npipes++;
}

static uint32_t res_insert(struct vgi_virgl *v, struct virgl_renderer_resource_create_args *a)
{
	uint64_t bytes;
	if (a->handle == 0 || res_find(v, a->handle)) {
		vgi_warn("virgl: create of %s resource %u", a->handle ? "existing" : "reserved", a->handle);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	if (v->nres >= VGI_VIRGL_MAX_RESOURCES) {
		vgi_warn("virgl: resource %u: %u resources already", a->handle, v->nres);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	uint32_t err = res_estimate(a, &bytes);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		return err;
	if (!v->cfg.charge(v->cfg.opaque, bytes)) {
		vgi_warn("virgl: resource %u needs %llu bytes: over the host-memory limit", a->handle,
			 (unsigned long long)bytes);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	struct res *r = calloc(1, sizeof(*r));
	if (!r) {
		v->cfg.release(v->cfg.opaque, bytes);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	int ret = virgl_renderer_resource_create(a, NULL, 0);
	if (ret) {
		v->cfg.release(v->cfg.opaque, bytes);
		vgi_warn("virgl: resource %u (format %u target %u): virglrenderer error %d",
			 a->handle, a->format, a->target, ret);
		free(r);
		return ret == ENOMEM || ret == -ENOMEM ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
						       : VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	r->id = a->handle;
	r->target = a->target;
	r->format = a->format;
	r->width = a->width;
	r->height = a->height;
	r->depth = a->depth;
	r->array_size = a->array_size;
	r->last_level = a->last_level;
	r->charge = bytes;
	r->export_fd = -1;
	r->next = v->res[r->id % RES_BUCKETS];
	v->res[r->id % RES_BUCKETS] = r;
	v->nres++;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_resource_create_2d(struct vgi_virgl *v, uint32_t res_id, uint32_t virtio_format,
				      uint32_t width, uint32_t height)
{
	if (!vgi_format_from_virtio_gpu(virtio_format)) {
		vgi_warn("virgl: RESOURCE_CREATE_2D %u: format %u", res_id, virtio_format);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	struct virgl_renderer_resource_create_args a = {
		.handle = res_id, .target = T_2D, .format = virtio_format,
		.bind = VIRGL_BIND_RENDER_TARGET_, .width = width, .height = height,
		.depth = 1, .array_size = 1, .flags = VIRGL_RESOURCE_Y_0_TOP_,
	};
	return res_insert(v, &a);
}

uint32_t vgi_virgl_resource_create_3d(struct vgi_virgl *v, const struct virtio_gpu_resource_create_3d *c)
{
	struct virgl_renderer_resource_create_args a = {
		.handle = c->resource_id, .target = c->target, .format = c->format, .bind = c->bind,
		.width = c->width, .height = c->height, .depth = c->depth,
		.array_size = c->array_size, .last_level = c->last_level,
		.nr_samples = c->nr_samples, .flags = c->flags,
	};
	return res_insert(v, &a);
}

uint32_t vgi_virgl_resource_create_blob(struct vgi_virgl *v, uint32_t res_id, uint32_t ctx_id, uint32_t flags,
				       uint64_t blob_id, uint64_t size)
{
	if (res_id == 0 || res_find(v, res_id)) {
		vgi_warn("virgl: CREATE_BLOB of %s resource %u", res_id ? "existing" : "reserved", res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	struct ctx *c = ctx_find(v, ctx_id);
	if (!c) {
		vgi_warn("virgl: CREATE_BLOB %u in unknown context %u", res_id, ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (v->nres >= VGI_VIRGL_MAX_RESOURCES)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	/* the memory is the pipe resource's, charged at its submit: that charge moves to the blob */
	struct pipe_res *pr = pipe_claim(c, blob_id);
	uint64_t charge = pr ? 0 : size;
	if (charge && !v->cfg.charge(v->cfg.opaque, charge)) {
		vgi_warn("virgl: blob %u of %llu bytes: over the host-memory limit", res_id, (unsigned long long)size);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	struct res *r = calloc(1, sizeof(*r));
	struct virgl_renderer_resource_create_blob_args a = {
		.res_handle = res_id, .ctx_id = ctx_id, .blob_mem = VIRGL_RENDERER_BLOB_MEM_HOST3D,
		.blob_flags = flags, .blob_id = blob_id, .size = size,
	};
	/* virglrenderer finds the pipe resource the context's stream made under blob_id */
	int ret = r ? virgl_renderer_resource_create_blob(&a) : -ENOMEM;
	if (ret) {
		vgi_warn("virgl: blob %u (context %u, blob_id %llu, %llu bytes): virglrenderer error %d", res_id,
			 ctx_id, (unsigned long long)blob_id, (unsigned long long)size, ret);
		if (charge)
			v->cfg.release(v->cfg.opaque, charge);
		if (pr)
			pipe_unclaim(c, pr);
		free(r);
		return r ? VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER : VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	r->id = res_id;
	r->target = T_BUFFER;
	r->blob = true;
	r->charge = pr ? pr->charge : charge;
	free(pr);
	r->export_fd = -1;
	r->next = v->res[r->id % RES_BUCKETS];
	v->res[r->id % RES_BUCKETS] = r;
	v->nres++;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_blob_map(struct vgi_virgl *v, uint32_t res_id, void **ptr, uint64_t *size, uint32_t *map_info)
{
	struct res *r = res_find(v, res_id);
	if (!r || !r->blob || r->mapped) {
		vgi_warn("virgl: MAP_BLOB of %s resource %u", !r ? "unknown" : !r->blob ? "a non-blob" : "a mapped",
			 res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	*ptr = NULL;
	*size = 0;
	*map_info = 0;
	int ret = virgl_renderer_resource_map(res_id, ptr, size);
	if (ret || !*ptr) {
		vgi_warn("virgl: MAP_BLOB %u: virglrenderer error %d (not a mappable resource?)", res_id, ret);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	r->mapped = true;
	if (virgl_renderer_resource_get_map_info(res_id, map_info))
		*map_info = VIRTIO_GPU_MAP_CACHE_NONE;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

void vgi_virgl_blob_unmap(struct vgi_virgl *v, uint32_t res_id)
{
	struct res *r = res_find(v, res_id);
	if (r && r->mapped) {
		virgl_renderer_resource_unmap(res_id);
		r->mapped = false;
	}
}

static void res_detach(struct res *r)
{
	struct iovec *iov = NULL;
	int n = 0;
	if (!r->iov)
		return;
	virgl_renderer_resource_detach_iov((int)r->id, &iov, &n);
	r->iov = NULL;
	r->niov = 0;
	r->backing_size = 0;
}

static void res_destroy(struct vgi_virgl *v, struct res *r)
{
	for (struct res **pp = &v->res[r->id % RES_BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	res_detach(r);
	if (r->mapped)
		virgl_renderer_resource_unmap(r->id);
	virgl_renderer_resource_unref(r->id);
	if (r->export_fd >= 0)
		close(r->export_fd);
	v->cfg.release(v->cfg.opaque, r->charge);
	v->nres--;
	free(r);
}

uint32_t vgi_virgl_resource_unref(struct vgi_virgl *v, uint32_t res_id)
{
	struct res *r = res_find(v, res_id);
	if (!r) {
		vgi_warn("virgl: RESOURCE_UNREF of unknown resource %u", res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	res_destroy(v, r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_attach_backing(struct vgi_virgl *v, uint32_t res_id, struct iovec *iov, unsigned n)
{
	struct res *r = res_find(v, res_id);
	uint64_t size = 0;
	if (!r || r->iov) {
		vgi_warn("virgl: ATTACH_BACKING to %s resource %u", r ? "backed" : "unknown", res_id);
		return r ? VIRTIO_GPU_RESP_ERR_UNSPEC : VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	for (unsigned i = 0; i < n; i++)
		size += iov[i].iov_len;
	if (n == 0 || virgl_renderer_resource_attach_iov((int)res_id, iov, (int)n)) {
		vgi_warn("virgl: ATTACH_BACKING to resource %u failed (%u entries)", res_id, n);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	r->iov = iov;
	r->niov = n;
	r->backing_size = size;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_detach_backing(struct vgi_virgl *v, uint32_t res_id)
{
	struct res *r = res_find(v, res_id);
	if (!r || !r->iov) {
		vgi_warn("virgl: DETACH_BACKING of %s resource %u", r ? "unbacked" : "unknown", res_id);
		return r ? VIRTIO_GPU_RESP_ERR_UNSPEC : VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	res_detach(r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/*
 * Every number of a transfer against the resource: level, box inside the
 * level, and the bytes the box spans in the backing (offset, strides).
 */
static uint32_t transfer_check(const struct res *r, const struct virgl_box *b, uint32_t level,
			       uint32_t stride, uint32_t layer_stride, uint64_t offset, bool need_backing)
{
	uint32_t w, h, d;
	if (level > r->last_level) {
		vgi_warn("virgl: transfer to resource %u level %u > %u", r->id, level, r->last_level);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	level_extent(r, level, &w, &h, &d);
	if ((uint64_t)b->x + b->w > w || (uint64_t)b->y + b->h > h || (uint64_t)b->z + b->d > d ||
	    b->w == 0 || b->h == 0 || b->d == 0) {
		vgi_warn("virgl: transfer box %u,%u,%u %ux%ux%u outside resource %u level %u (%ux%ux%u)",
			 b->x, b->y, b->z, b->w, b->h, b->d, r->id, level, w, h, d);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (!need_backing)
		return VIRTIO_GPU_RESP_OK_NODATA;
	if (!r->iov) {
		vgi_warn("virgl: transfer with resource %u that has no backing", r->id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	uint64_t bpp = r->target == T_BUFFER ? 1 : format_bpp(r->format);
	if (bpp && stride && stride < b->w * bpp) {
		vgi_warn("virgl: transfer stride %u < %u pixels of resource %u", stride, b->w, r->id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (bpp && layer_stride && b->d > 1 && layer_stride < (uint64_t)(stride ? stride : b->w * bpp) * b->h) {
		vgi_warn("virgl: transfer layer stride %u too small for resource %u", layer_stride, r->id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	/* The last byte the box reaches (strides 0 mean packed rows). */
	uint64_t row = bpp ? b->w * bpp : 1;
	uint64_t rs = stride ? stride : row;
	uint64_t ls = layer_stride ? layer_stride : rs * b->h;
	uint64_t span = (uint64_t)(b->d - 1) * ls + (uint64_t)(b->h - 1) * rs + row;
	if (offset > r->backing_size || span > r->backing_size - offset) {
		vgi_warn("virgl: transfer of resource %u: offset %llu + %llu bytes > backing %llu",
			 r->id, (unsigned long long)offset, (unsigned long long)span,
			 (unsigned long long)r->backing_size);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_transfer_to_host_2d(struct vgi_virgl *v, uint32_t res_id, const struct vgi_rect *rc,
				       uint64_t offset)
{
	struct res *r = res_find(v, res_id);
	if (!r) {
		vgi_warn("virgl: TRANSFER_TO_HOST_2D of unknown resource %u", res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	struct virgl_box b = { rc->x, rc->y, 0, rc->width, rc->height, 1 };
	/* 2D transfers read the backing with the resource's own stride. */
	uint32_t bpp = format_bpp(r->format);
	uint64_t stride = (uint64_t)r->width * (bpp ? bpp : 4);
	uint32_t ret = transfer_check(r, &b, 0, 0, 0, 0, true);
	if (ret != VIRTIO_GPU_RESP_OK_NODATA)
		return ret;
	uint64_t last = offset + (uint64_t)(rc->height - 1) * stride + (uint64_t)rc->width * (bpp ? bpp : 4);
	if (offset > r->backing_size || last > r->backing_size) {
		vgi_warn("virgl: TRANSFER_TO_HOST_2D of resource %u: offset %llu beyond backing %llu",
			 res_id, (unsigned long long)offset, (unsigned long long)r->backing_size);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (virgl_renderer_transfer_write_iov(res_id, 0, 0, 0, 0, &b, offset, NULL, 0))
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t vgi_virgl_transfer_3d(struct vgi_virgl *v, const struct virtio_gpu_transfer_host_3d *t,
			       uint32_t ctx_id, bool to_host)
{
	struct res *r = res_find(v, t->resource_id);
	if (!r) {
		vgi_warn("virgl: TRANSFER_%s_HOST_3D of unknown resource %u", to_host ? "TO" : "FROM",
			 t->resource_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	if (ctx_id && !ctx_find(v, ctx_id)) {
		vgi_warn("virgl: transfer in unknown context %u", ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	if (r->blob) {
		vgi_warn("virgl: TRANSFER_%s_HOST_3D of blob %u (map it instead)", to_host ? "TO" : "FROM", r->id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	struct virgl_box b = { t->box.x, t->box.y, t->box.z, t->box.w, t->box.h, t->box.d };
	uint32_t ret = transfer_check(r, &b, t->level, t->stride, t->layer_stride, t->offset, true);
	if (ret != VIRTIO_GPU_RESP_OK_NODATA)
		return ret;
	int err = to_host ? virgl_renderer_transfer_write_iov(r->id, ctx_id, (int)t->level, t->stride,
							     t->layer_stride, &b, t->offset, NULL, 0)
			  : virgl_renderer_transfer_read_iov(r->id, ctx_id, t->level, t->stride,
							     t->layer_stride, &b, t->offset, NULL, 0);
	if (err) {
		vgi_warn("virgl: transfer of resource %u: virglrenderer error %d", r->id, err);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---- fences ---- */

uint32_t vgi_virgl_create_fence(struct vgi_virgl *v, uint32_t ctx_id, bool per_ctx, uint32_t ring_idx,
				uint64_t fence_id, void *data)
{
	if (per_ctx && (ring_idx >= 64 || !ctx_find(v, ctx_id))) {
		vgi_warn("virgl: fence on context %u ring %u", ctx_id, ring_idx);
		return ring_idx >= 64 ? VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
				      : VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	struct fence *f = calloc(1, sizeof(*f));
	if (!f)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	f->per_ctx = per_ctx;
	f->ctx_id = ctx_id;
	f->ring_idx = ring_idx;
	f->fence_id = fence_id;
	f->data = data;
	int ret;
	if (per_ctx) {
		ret = virgl_renderer_context_create_fence(ctx_id, VIRGL_RENDERER_FENCE_FLAG_MERGEABLE,
							  ring_idx, fence_id);
	} else {
		f->seq = v->next_seq++;
		ret = virgl_renderer_create_fence((int)f->seq, ctx_id);
	}
	if (ret) {
		vgi_warn("virgl: fence %llu on context %u ring %u: virglrenderer error %d",
			 (unsigned long long)fence_id, ctx_id, ring_idx, ret);
		free(f);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	*v->fences_tail = f;
	v->fences_tail = &f->next;
	v->nfences++;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---- scanouts ---- */

uint32_t vgi_virgl_resource_info(struct vgi_virgl *v, uint32_t res_id, struct vgi_virgl_res_info *info)
{
	struct virgl_renderer_resource_info ri;
	memset(info, 0, sizeof(*info));
	struct res *r = res_find(v, res_id);
	if (!r || virgl_renderer_resource_get_info((int)res_id, &ri)) {
		vgi_warn("virgl: scanout of unknown resource %u", res_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	info->width = ri.width;
	info->height = ri.height;
	info->fourcc = vgi_format_from_virtio_gpu(ri.virgl_format);
	info->tex_id = ri.tex_id;
	info->y0_top = ri.flags & VIRGL_RESOURCE_Y_0_TOP_;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

int vgi_virgl_read_rect(struct vgi_virgl *v, uint32_t res_id, const struct vgi_rect *rc, void *dst,
			uint32_t stride)
{
	struct res *r = res_find(v, res_id);
	if (!r || r->target != T_2D || format_bpp(r->format) != 4 ||
	    (uint64_t)rc->x + rc->width > r->width || (uint64_t)rc->y + rc->height > r->height ||
	    rc->width == 0 || rc->height == 0 || stride < rc->width * 4u)
		return -EINVAL;
	struct virgl_box b = { rc->x, rc->y, 0, rc->width, rc->height, 1 };
	struct iovec iov = {
		.iov_base = dst,
		.iov_len = (size_t)(rc->height - 1) * stride + (size_t)rc->width * 4,
	};
	int ret = virgl_renderer_transfer_read_iov(res_id, 0, 0, stride, 0, &b, 0, &iov, 1);
	return ret ? -EIO : 0;
}

bool vgi_virgl_cursor(struct vgi_virgl *v, uint32_t res_id, uint32_t *pixels)
{
	uint32_t w = 0, h = 0;
	struct res *r = res_find(v, res_id);
	if (!r || r->target != T_2D || format_bpp(r->format) != 4 || r->width != 64 || r->height != 64)
		return false;
	void *data = virgl_renderer_get_cursor_data(res_id, &w, &h);
	bool ok = data && w == 64 && h == 64;
	if (ok)
		memcpy(pixels, data, 64 * 64 * 4);
	free(data);
	return ok;
}

int vgi_virgl_export(struct vgi_virgl *v, uint32_t res_id, struct vgi_gl_scanout *s)
{
	struct res *r = res_find(v, res_id);
	struct virgl_renderer_resource_info ri;
	s->dmabuf_fd = -1;
	if (!r || !v->egl.dmabuf_export || virgl_renderer_resource_get_info((int)res_id, &ri))
		return -ENOTSUP;
	if (r->export_fd < 0) {
		int fd = -1, st = 0, off = 0;
		if (virgl_renderer_get_fd_for_texture2(ri.tex_id, &fd, &st, &off) || fd < 0)
			return -ENOTSUP;
		r->export_fd = fd;
		r->export_stride = (uint32_t)st;
		r->export_offset = (uint32_t)off;
	}
	s->dmabuf_fd = r->export_fd;
	s->fourcc = vgi_format_from_virtio_gpu(ri.virgl_format);
	s->modifier = DRM_FORMAT_MOD_INVALID;
	s->stride = r->export_stride;
	s->offset = r->export_offset;
	s->buf_width = ri.width;
	s->buf_height = ri.height;
	return 0;
}
