/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRGL_H
#define VGI_VIRGL_H

/*
 * The virgl renderer of the virtio-gpu device (private to hw/display).
 *
 * It owns the EGL display (virgl-egl.c), virglrenderer (one per process:
 * virglrenderer keeps global state), the table of virgl resources and of
 * 3D contexts, and the fence queue. The device decodes the virtqueue,
 * validates headers, maps guest memory and answers the guest; it hands
 * every 3D command and every 2D command on a resource of this renderer to
 * the functions below, which check every guest number again against what
 * they know (resource sizes, levels, strides, context ids) and return a
 * VIRTIO_GPU_RESP_* code. Nothing here blocks, polls or arms a timer:
 * virglrenderer's fence thread signals an eventfd (vgi_virgl_get_fd), and
 * vgi_virgl_dispatch() retires fences through cb.fence.
 *
 * Host memory: each resource is charged an estimate of its size
 * (width*height*depth*layers*bytes per pixel, levels, samples; in 64-bit)
 * through cfg->charge before virglrenderer sees it (creation is refused when
 * it says no) and released through cfg->release when it goes.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_gpu.h>

#include <vgi/display.h>

/* Caps on guest-chosen sizes, checked before any allocation. */
#define VGI_VIRGL_MAX_SUBMIT	(16u << 20)	/* bytes of one SUBMIT_3D */
#define VGI_VIRGL_MAX_CAPSET	(64u << 10)	/* bytes of one capset */
#define VGI_VIRGL_MAX_CONTEXTS	1024u
#define VGI_VIRGL_MAX_RESOURCES	65536u
#define VGI_VIRGL_MAX_DIM	16384u
#define VGI_VIRGL_MAX_LAYERS	2048u

struct vgi_virgl;

struct vgi_virgl_config {
	const char *render_node;	/* NULL: surfaceless EGL */
	/* The device's host-memory budget: false refuses (nothing charged). */
	bool (*charge)(void *opaque, uint64_t bytes);
	void (*release)(void *opaque, uint64_t bytes);
	/* A fence retired (in order per timeline): data is what vgi_virgl_create_fence got. */
	void (*fence)(void *opaque, void *data, uint32_t ctx_id, uint32_t ring_idx, uint64_t fence_id);
	void *opaque;
};

/* NULL with a logged reason (no EGL, no virglrenderer, or one already in this process). */
struct vgi_virgl *vgi_virgl_new(const struct vgi_virgl_config *cfg);
void vgi_virgl_free(struct vgi_virgl *v);
/* Device reset: destroy every context, drop pending fences without calling cfg->fence. */
void vgi_virgl_reset(struct vgi_virgl *v);

const char *vgi_virgl_renderer_name(const struct vgi_virgl *v);	/* GL_RENDERER */
int vgi_virgl_get_fd(struct vgi_virgl *v);	/* eventfd of the fence thread, -1 if none */
void vgi_virgl_dispatch(struct vgi_virgl *v);	/* retire fences (calls cfg->fence) */
unsigned vgi_virgl_pending_fences(const struct vgi_virgl *v);
/* Drop pending fences without calling cfg->fence (their commands were answered another way). */
void vgi_virgl_forget_fences(struct vgi_virgl *v);

/* Capsets: VIRGL (1) and VIRGL2 (2). */
uint32_t vgi_virgl_num_capsets(const struct vgi_virgl *v);
uint32_t vgi_virgl_capset_info(struct vgi_virgl *v, uint32_t index, uint32_t *id,
			       uint32_t *max_version, uint32_t *max_size);
/* *size gets the capset size (<= VGI_VIRGL_MAX_CAPSET); fill buf of that size. */
uint32_t vgi_virgl_capset_size(struct vgi_virgl *v, uint32_t id, uint32_t version, uint32_t *size);
void vgi_virgl_capset_fill(struct vgi_virgl *v, uint32_t id, uint32_t version, void *buf);

/* Contexts. context_init: CONTEXT_INIT's value (capset id in the low byte), 0 = virgl. */
uint32_t vgi_virgl_ctx_create(struct vgi_virgl *v, uint32_t ctx_id, uint32_t context_init,
			      const char *name, uint32_t nlen);
uint32_t vgi_virgl_ctx_destroy(struct vgi_virgl *v, uint32_t ctx_id);
uint32_t vgi_virgl_ctx_attach(struct vgi_virgl *v, uint32_t ctx_id, uint32_t res_id);
uint32_t vgi_virgl_ctx_detach(struct vgi_virgl *v, uint32_t ctx_id, uint32_t res_id);
unsigned vgi_virgl_ctx_count(const struct vgi_virgl *v);
/* cmds is a host copy of the guest's buffer; size checked against VGI_VIRGL_MAX_SUBMIT by the caller too. */
uint32_t vgi_virgl_submit(struct vgi_virgl *v, uint32_t ctx_id, void *cmds, uint32_t size);

/* Resources. */
bool vgi_virgl_has_resource(const struct vgi_virgl *v, uint32_t res_id);
unsigned vgi_virgl_resource_count(const struct vgi_virgl *v);
/* Tests: table entries a lookup of res_id looks at (its chain position, or chain length if absent). */
unsigned vgi_virgl_resource_probes(const struct vgi_virgl *v, uint32_t res_id);
uint32_t vgi_virgl_resource_create_2d(struct vgi_virgl *v, uint32_t res_id, uint32_t virtio_format,
				      uint32_t width, uint32_t height);
uint32_t vgi_virgl_resource_create_3d(struct vgi_virgl *v, const struct virtio_gpu_resource_create_3d *c);
uint32_t vgi_virgl_resource_unref(struct vgi_virgl *v, uint32_t res_id);
/*
 * A HOST3D blob: the pipe resource ctx_id's command stream created under
 * blob_id (VIRGL_CCMD_PIPE_RESOURCE_CREATE), size bytes charged. No
 * transfers on it; map it (it must have been made MAP_PERSISTENT).
 */
uint32_t vgi_virgl_resource_create_blob(struct vgi_virgl *v, uint32_t res_id, uint32_t ctx_id, uint32_t flags,
				       uint64_t blob_id, uint64_t size);
/* Its host mapping (virglrenderer's) and VIRTIO_GPU_MAP_CACHE_* info; unmap undoes it (unref does too). */
uint32_t vgi_virgl_blob_map(struct vgi_virgl *v, uint32_t res_id, void **ptr, uint64_t *size, uint32_t *map_info);
void vgi_virgl_blob_unmap(struct vgi_virgl *v, uint32_t res_id);
/* iov (n entries, host pointers into guest RAM) must live until detach or unref. */
uint32_t vgi_virgl_attach_backing(struct vgi_virgl *v, uint32_t res_id, struct iovec *iov, unsigned n);
uint32_t vgi_virgl_detach_backing(struct vgi_virgl *v, uint32_t res_id);
uint32_t vgi_virgl_transfer_to_host_2d(struct vgi_virgl *v, uint32_t res_id, const struct vgi_rect *r,
				       uint64_t offset);
uint32_t vgi_virgl_transfer_3d(struct vgi_virgl *v, const struct virtio_gpu_transfer_host_3d *t,
			       uint32_t ctx_id, bool to_host);

/* Fences: per_ctx (VIRTIO_GPU_FLAG_INFO_RING_IDX) uses ctx_id's timeline ring_idx. */
uint32_t vgi_virgl_create_fence(struct vgi_virgl *v, uint32_t ctx_id, bool per_ctx, uint32_t ring_idx,
				uint64_t fence_id, void *data);

/* Scanouts. */
struct vgi_virgl_res_info {
	uint32_t width, height;
	uint32_t fourcc;	/* DRM fourcc of the pixels a read-back gives, 0 if not 32-bit RGB */
	uint32_t tex_id;	/* GL texture in the device's contexts */
	bool y0_top;
};
uint32_t vgi_virgl_resource_info(struct vgi_virgl *v, uint32_t res_id, struct vgi_virgl_res_info *info);
/* Read rect r of a resource into dst (row r->y at dst, stride bytes per row, 4 bytes a pixel). */
int vgi_virgl_read_rect(struct vgi_virgl *v, uint32_t res_id, const struct vgi_rect *r, void *dst,
			uint32_t stride);
/* 64x64 cursor pixels of a resource into pixels; false if it is not a 64x64 32-bit one. */
bool vgi_virgl_cursor(struct vgi_virgl *v, uint32_t res_id, uint32_t *pixels);
/* Fill s->dmabuf_fd/fourcc/modifier/stride/offset when the texture can be exported; fd owned by v. */
int vgi_virgl_export(struct vgi_virgl *v, uint32_t res_id, struct vgi_gl_scanout *s);

#endif
