/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRTIO_GPU_RENDERER_H
#define VGI_VIRTIO_GPU_RENDERER_H

/*
 * The rendering interface of the virtio-gpu device (private).
 *
 * The core (virtio-gpu.c) owns everything that is not pixels: the queues,
 * command decoding and size checks, responses and fence echo, the resource
 * table (ids, size, format, backing iovecs and their run index, uuid,
 * which scanouts show it), scanouts, cursors, sinks, outputs, EDID, config
 * space, host-memory accounting. A renderer owns the pixels of resources
 * and whatever else a rendering engine needs (3D contexts, capsets, fences).
 * There are two: the CPU 2D renderer (virtio-gpu-2d.c, pixman) and,
 * when built, virglrenderer: hw/display/virgl/ holds the engine (virgl.c)
 * and the glue (virtio-gpu-virgl.c) that implements these ops and
 * vgi_gpu_renderer_virgl_new(); its meson.build defines
 * VGI_GPU_VIRGL_RENDERER, and vgi_gpu_new() then uses it for cfg->virgl.
 *
 * How a control command flows:
 *   1. The core pops the chain and copies the command struct out of guest
 *      memory once: the header, then the body its type has (short:
 *      ERR_UNSPEC). Everybody decodes that copy, never the chain: what was
 *      checked is what is used, whatever the guest writes meanwhile.
 *      Variable tails (mem entries, a SUBMIT_3D stream) are read once, by
 *      whoever uses them, with vgi_gpu_cmd_read_tail().
 *   2. ops->process_cmd (if set) sees the command FIRST. It returns false
 *      for "not mine" and the core decodes it; true when it handled the
 *      command: it either answered with vgi_gpu_cmd_respond(), or set
 *      cmd->error (a VIRTIO_GPU_RESP_ERR_*), or left both alone (the core
 *      then answers OK_NODATA). This is where 3D goes: CTX_*, SUBMIT_3D,
 *      RESOURCE_CREATE_3D, TRANSFER_*_3D, GET_CAPSET_INFO, GET_CAPSET;
 *      it may also take over core commands (SET_SCANOUT of a GL
 *      resource). Use vgi_gpu_cmd_read() to read the command struct
 *      (it checks the size; vgi_gpu_cmd_peek() for a look without an
 *      error), vgi_gpu_resource_*() for the shared table and
 *      vgi_gpu_hostmem_charge() for every allocation the guest causes.
 *   3. Commands the core decodes (GET_DISPLAY_INFO, GET_EDID,
 *      RESOURCE_CREATE_2D, RESOURCE_UNREF, SET_SCANOUT, RESOURCE_FLUSH,
 *      TRANSFER_TO_HOST_2D, ATTACH/DETACH_BACKING, ASSIGN_UUID and the
 *      blob commands RESOURCE_CREATE_BLOB, SET_SCANOUT_BLOB, MAP_BLOB,
 *      UNMAP_BLOB) are fully validated by the core (ids, rects in 64-bit,
 *      backing bounds, blob layouts and map offsets) and then call the
 *      resource ops below, which only do the work.
 *   4. Unknown commands: ERR_UNSPEC (as QEMU). With no 3D renderer that
 *      includes every 3D and capset command (CVE-2016-10028, -3545, -3546:
 *      nothing of the response beyond the header is written).
 *   5. Fences: after a command succeeded without a data response and
 *      carries VIRTIO_GPU_FLAG_FENCE, the core calls ops->fence (if set).
 *      Returning true means the renderer keeps the command until its fence
 *      retires, and then calls vgi_gpu_cmd_finish(gpu, cmd), which answers
 *      OK_NODATA with fence_id/ctx_id/ring_idx echoed, notifies and frees
 *      the command. When the control queue stops, ops->settle runs and the
 *      core answers what is still held; on reset/free the core drops held
 *      commands unanswered (ops->reset forgets their fences). 2D never
 *      holds: it completes synchronously.
 *      ops->get_fd/dispatch feed vgi_gpu_get_fd()/vgi_gpu_dispatch().
 *
 * Resources: the core allocates struct vgi_gpu_resource and inserts it; the
 * renderer puts its state in res->priv and charges its pixel memory with
 * vgi_gpu_hostmem_charge() (res->hostmem is released by the core on
 * destroy, so add what you charge to it). Backing (res->iov/niov/
 * backing_size) is mapped by the core before attach_backing is called and
 * unmapped after detach_backing; vgi_gpu_backing_read() and
 * vgi_gpu_backing_read_rows() copy out of it with one table load per 4 KiB
 * page touched (a per-page direct map built at attach time), never a walk
 * of the iovec list.
 *
 * Blob commands: the core answers RESOURCE_CREATE_BLOB and SET_SCANOUT_BLOB
 * for guest blobs (VIRTIO_GPU_BLOB_MEM_GUEST) itself, TRANSFER_TO_HOST_2D
 * of a blob is a no-op, RESOURCE_FLUSH of a blob scanout reads the damaged
 * rows from guest memory. Host blobs (HOST3D) are decoded and checked by
 * the core and made by ops->resource_create_blob (else
 * ERR_INVALID_PARAMETER, as HOST3D_GUEST always); MAP/UNMAP_BLOB of them
 * go through ops->blob_map/blob_unmap and the embedder's mapper
 * (vgi_gpu_set_blob_mapper), with offset, size and overlaps checked by the
 * core. All of it is ERR_UNSPEC when cfg->blob is off.
 *
 * Pixels to sinks: the core asks get_image() for a CPU view of a whole
 * resource (2D: the pixman image; 3D: a read back into a buffer the
 * renderer owns, valid until the next renderer call) when a scanout is set
 * or flushed, and cursor_image() for a 64x64 cursor. A renderer with a GL
 * path implements scanout_gl(); the core then sends sinks that have
 * scanout_gl/gl_update those, and everybody else get_image() pixels.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_gpu.h>

#include <vgi/display.h>
#include <vgi/virtqueue.h>

#include "idmap.h"

struct vgi_gpu;
struct vgi_gpu_config;
struct vgi_gpu_renderer;

/* The largest command struct (CTX_CREATE, SET_SCANOUT_BLOB: 96 bytes). */
#define VGI_GPU_CMD_MAX 96

/* One control command in flight. */
struct vgi_gpu_cmd {
	struct vgi_gpu *gpu;
	struct vgi_vq_elem *elem;	/* renderers: only through vgi_gpu_cmd_read_tail() */
	struct virtio_gpu_ctrl_hdr hdr;	/* as the guest sent it (zeroed when short) */
	_Alignas(8) uint8_t data[VGI_GPU_CMD_MAX];	/* the command struct, read from the chain once */
	uint32_t len;			/* bytes of it in data (fewer when the guest sent fewer) */
	uint64_t out_size;		/* readable bytes of the chain */
	uint32_t error;			/* VIRTIO_GPU_RESP_ERR_*, 0 if none */
	bool finished;			/* a response was pushed */
	struct vgi_gpu_cmd *next;	/* core's list of held (fenced) commands */
};

struct vgi_gpu_resource {
	uint32_t id;
	uint32_t width, height;
	uint32_t virtio_format;		/* VIRTIO_GPU_FORMAT_* (2D), or the 3D format */
	uint32_t fourcc;		/* DRM fourcc, 0 for 3D formats with none */
	uint64_t hostmem;		/* bytes charged for this resource, released on destroy */
	uint32_t scanout_mask;		/* scanouts showing it */
	bool has_uuid;
	uint8_t uuid[16];
	/* backing: guest entries as sent, their host iovecs, and run start offsets */
	struct virtio_gpu_mem_entry *entries;
	uint32_t nentries;
	struct iovec *iov;		/* NULL when no backing is attached */
	unsigned niov;
	uint64_t *run_start;		/* niov + 1: offset of iov[i] in the backing, last = backing_size */
	uint32_t *page_run;		/* per 4 KiB of backing: the run holding its first byte */
	uint8_t **page_host;		/* per 4 KiB of backing: its host address if one run holds all of it, else NULL */
	uint64_t backing_size;
	uint64_t backing_charge;	/* hostmem charged for entries, iov, run_start, page_run, page_host */
	/*
	 * Blob resources (RESOURCE_CREATE_BLOB) have no width, height or
	 * format of their own (0): SET_SCANOUT_BLOB gives a layout per
	 * scanout. A guest blob (VIRTIO_GPU_BLOB_MEM_GUEST) is the core's
	 * alone: its pixels are its backing, read at every flush, and
	 * renderers never see it (priv stays NULL, no attach_backing).
	 */
	bool blob;
	uint32_t blob_mem, blob_flags;	/* VIRTIO_GPU_BLOB_MEM_*, VIRTIO_GPU_BLOB_FLAG_* */
	uint64_t blob_id, blob_size;
	/* a host blob mapped into the host-visible region (MAP_BLOB): the core's */
	bool mapped;
	uint64_t map_offset, map_size;
	struct vgi_gpu_resource *map_next;	/* the core's list of mapped blobs */
	void *priv;			/* the renderer's */
	struct vgi_idmap_node hnode;	/* the core's table (idmap.h) */
};

struct vgi_gpu_renderer_ops {
	const char *name;
	uint64_t (*features)(struct vgi_gpu_renderer *r);	/* extra VIRTIO_GPU_F_* bits; NULL: none */
	uint32_t (*num_capsets)(struct vgi_gpu_renderer *r);	/* NULL: 0 */
	void (*destroy)(struct vgi_gpu_renderer *r);
	/* Device reset: the core has already destroyed every resource. */
	void (*reset)(struct vgi_gpu_renderer *r);
	/* Driver acked features (e.g. VIRGL): switch modes here. Optional. */
	void (*set_features)(struct vgi_gpu_renderer *r, uint64_t acked);

	/* Step 2 and 5 above. All optional. */
	bool (*process_cmd)(struct vgi_gpu_renderer *r, struct vgi_gpu_cmd *cmd);
	bool (*fence)(struct vgi_gpu_renderer *r, struct vgi_gpu_cmd *cmd);
	/*
	 * The control queue stops: retire (vgi_gpu_cmd_finish) the held
	 * commands whose fences retire within a short, bounded wait, then
	 * forget every fence still pending: the core answers those commands
	 * at once and frees them.
	 */
	void (*settle)(struct vgi_gpu_renderer *r);
	int (*get_fd)(struct vgi_gpu_renderer *r);
	void (*dispatch)(struct vgi_gpu_renderer *r);

	/* Resource work; return 0 or a VIRTIO_GPU_RESP_ERR_* code. Arguments are checked. */
	uint32_t (*resource_create_2d)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res);
	void (*resource_destroy)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res);
	uint32_t (*attach_backing)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res);	/* optional */
	void (*detach_backing)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res);	/* optional */
	/* rect inside the resource; offset + rows inside the backing (all checked in 64-bit) */
	uint32_t (*transfer_to_host_2d)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res,
					const struct vgi_rect *rect, uint64_t offset);
	/* CPU pixels of the whole resource; false if it has none (the sink then gets nothing). */
	bool (*get_image)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, struct vgi_image *img);
	/* VGI_CURSOR_SIZE^2 premultiplied ARGB8888 from res; false keeps the previous image. */
	bool (*cursor_image)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, uint32_t *pixels);
	/*
	 * Host blobs (optional; without them HOST3D is ERR_INVALID_PARAMETER).
	 * create: res->blob_* set (blob_mem HOST3D, size page-aligned, nonzero),
	 * ctx_id the command's; charge what it holds. map: the host pointer and
	 * size of the whole blob, and VIRTIO_GPU_MAP_CACHE_* map_info; the core
	 * places it in the region, answers, and calls unmap on UNMAP_BLOB and
	 * before resource_destroy of a mapped blob.
	 */
	uint32_t (*resource_create_blob)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, uint32_t ctx_id);
	uint32_t (*blob_map)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, void **ptr, uint64_t *size,
			     uint32_t *map_info);
	void (*blob_unmap)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res);
	/* Optional GL path for a scanout of res showing rect; false: no GL path for it. */
	bool (*scanout_gl)(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, const struct vgi_rect *rect,
			   struct vgi_gl_scanout *s);
};

struct vgi_gpu_renderer {
	const struct vgi_gpu_renderer_ops *ops;
	struct vgi_gpu *gpu;
};

/* The renderers. NULL with a logged reason. */
struct vgi_gpu_renderer *vgi_gpu_renderer_2d_new(struct vgi_gpu *gpu);
#ifdef VGI_GPU_VIRGL_RENDERER
struct vgi_gpu_renderer *vgi_gpu_renderer_virgl_new(struct vgi_gpu *gpu, const struct vgi_gpu_config *cfg);
#endif

/* ---- core services for renderers (virtio-gpu.c) ---- */

/* The command struct (len bytes, from the core's copy). false: short, cmd->error = ERR_UNSPEC. */
bool vgi_gpu_cmd_read(struct vgi_gpu_cmd *cmd, void *buf, size_t len);
/* The same without an error or a log line when short (a look at a command the core decodes). */
bool vgi_gpu_cmd_peek(const struct vgi_gpu_cmd *cmd, void *buf, size_t len);
/*
 * len bytes of the variable tail at offset (at or past the command struct)
 * from guest memory, once. false if the chain has fewer (nothing used).
 */
bool vgi_gpu_cmd_read_tail(struct vgi_gpu_cmd *cmd, uint64_t offset, void *buf, size_t len);
/* Answer now: resp->type set by the caller; fence fields are echoed. Marks cmd finished. */
void vgi_gpu_cmd_respond(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, struct virtio_gpu_ctrl_hdr *resp,
			 size_t len);
/* A held (fenced) command retired: answer OK_NODATA (or cmd->error), notify, free cmd. */
void vgi_gpu_cmd_finish(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd);

/* Charge bytes to the guest's host-memory budget; false (nothing charged) past max_hostmem. */
bool vgi_gpu_hostmem_charge(struct vgi_gpu *gpu, uint64_t bytes);
void vgi_gpu_hostmem_release(struct vgi_gpu *gpu, uint64_t bytes);
/* The counter itself and the cap, for an engine that does its own accounting against it. */
uint64_t *vgi_gpu_hostmem_counter(struct vgi_gpu *gpu, uint64_t *max);

struct vgi_gpu_resource *vgi_gpu_resource_find(struct vgi_gpu *gpu, uint32_t id);
/* A new resource in the table (id != 0, unused; else ERR_INVALID_RESOURCE_ID; ERR_OUT_OF_MEMORY past the cap). */
uint32_t vgi_gpu_resource_add(struct vgi_gpu *gpu, uint32_t id, struct vgi_gpu_resource **out);
/* Disable its scanouts, renderer destroy, free backing, release hostmem, remove. */
void vgi_gpu_resource_destroy(struct vgi_gpu *gpu, struct vgi_gpu_resource *res);

/*
 * Copy len bytes at offset of res's backing to dst; false if out of range
 * (nothing copied). Per 4 KiB page touched, one load of its host address
 * (pages that one run covers), else a page-index lookup and a binary search
 * among the runs inside that page. stream: run by run with non-temporal
 * stores (large copies the CPU will not read back soon).
 */
bool vgi_gpu_backing_read(const struct vgi_gpu_resource *res, uint64_t offset, void *dst, size_t len, bool stream);
/*
 * rows rows of row_len bytes, src_stride apart in the backing from offset,
 * to dst_stride apart at dst; the source of the rows ahead is prefetched
 * (their pages are anywhere). false if any byte is outside the backing
 * (nothing copied).
 */
bool vgi_gpu_backing_read_rows(const struct vgi_gpu_resource *res, uint64_t offset, uint64_t src_stride,
			       size_t row_len, uint32_t rows, uint8_t *dst, size_t dst_stride);

/* The scanout res is shown on changed (pixels or GL texture): tell the sinks, damage in resource coords. */
void vgi_gpu_resource_damage(struct vgi_gpu *gpu, struct vgi_gpu_resource *res, const struct vgi_rect *damage);

#endif
