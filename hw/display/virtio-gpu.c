// SPDX-License-Identifier: MIT
/*
 * The virtio-gpu device core: queues, command decoding and validation,
 * resource table and backing, scanouts, cursors, sinks, outputs, EDID,
 * config space, host-memory accounting. Pixels are the renderer's
 * (virtio-gpu-renderer.h describes the split).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>
#include <vgi/log.h>

#include "vgi-config.h"
#include "edid.h"
#include "idmap.h"
#include "virtio-gpu-renderer.h"

#define MAX_SINKS 8
#define MAX_BACKING_ENTRIES 16384	/* as QEMU */
#define MAX_BACKING_SIZE (1ull << 32)	/* more than any 2D resource can use */
#define MAX_OUTPUT_SIZE 16384
#define MIN_SCANOUT_SIZE 16		/* as QEMU */
#define MAX_EDID_SIZE 1024		/* virtio_gpu_resp_edid.edid */
#define CURSOR_PIXELS (VGI_CURSOR_SIZE * VGI_CURSOR_SIZE)

struct gpu_scanout {
	uint32_t resource_id;	/* 0: disabled */
	struct vgi_rect rect;	/* part of the resource shown */
	uint32_t format;
	bool gl;		/* shown through the renderer's GL path */
	/* SET_SCANOUT_BLOB of a guest blob: its layout, and the host copy of rect that sinks read */
	bool blob;
	uint32_t blob_stride;
	uint64_t blob_offset;	/* of the framebuffer's first pixel in the blob */
	uint8_t *staging;	/* rect.width * rect.height * 4, rows packed */
	uint64_t staging_charge;
	struct vgi_cursor cursor;
	uint32_t cursor_pixels[CURSOR_PIXELS];
};

struct gpu_output {
	bool connected;
	uint32_t width, height;
	uint8_t *edid;		/* the frontend's, or NULL: generated */
	uint32_t edid_size;
	bool edid_expected;	/* vgi_gpu_expect_edid: GET_EDID waits for the frontend's */
};

/* A GET_EDID held until the frontend's EDID comes (vgi_gpu_expect_edid). */
struct edid_waiter {
	struct vgi_gpu_cmd cmd;	/* owns the element */
	uint32_t scanout;
	struct edid_waiter *next;
};
#define MAX_EDID_WAITERS 64

struct vgi_gpu {
	struct vgi_virtio_device vdev;	/* first: container_of by cast */
	uint32_t num_scanouts;
	uint64_t max_hostmem;
	bool edid, resource_uuid, blob;
	struct virtio_gpu_config config;
	struct vgi_gpu_renderer *renderer;
	struct vgi_display_sink sinks[MAX_SINKS];
	unsigned nsinks;
	struct gpu_output outputs[VGI_MAX_SCANOUTS];
	struct edid_waiter *edid_waiters;	/* held GET_EDIDs, oldest first */
	unsigned nedid_waiters;
	struct gpu_scanout scanouts[VGI_MAX_SCANOUTS];
	struct vgi_idmap resources;	/* of struct vgi_gpu_resource, by id (keyed hash) */
	uint32_t max_resources;
	uint64_t hostmem;
	struct vgi_gpu_cmd *held;	/* fenced commands the renderer keeps */
	uint64_t cmd_bytes_read;	/* of control commands, from guest memory (tests) */
	/* host-visible blobs: the embedder's region and mapper, and what is mapped in it */
	uint64_t region_size;
	struct vgi_gpu_blob_mapper mapper;	/* map == NULL: none */
	void *mapper_opaque;
	struct vgi_gpu_resource *mapped;
	bool busy[2], again[2];		/* queue re-entrancy guard */
	bool reset_pending;		/* reset asked for from inside a command: done after it */
	bool ctrl_pushed;
};

static struct vgi_gpu *to_gpu(struct vgi_virtio_device *dev)
{
	return (struct vgi_gpu *)dev;
}

void vgi_gpu_config_init(struct vgi_gpu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->num_scanouts = 1;
	cfg->max_hostmem = VGI_GPU_DEFAULT_MAX_HOSTMEM;
	cfg->max_resources = VGI_GPU_DEFAULT_MAX_RESOURCES;
	cfg->edid = true;
	cfg->resource_uuid = true;
}

/* ---------------------------------------------------------------- host memory */

bool vgi_gpu_hostmem_charge(struct vgi_gpu *gpu, uint64_t bytes)
{
	if (bytes > gpu->max_hostmem - gpu->hostmem)
		return false;
	gpu->hostmem += bytes;
	return true;
}

void vgi_gpu_hostmem_release(struct vgi_gpu *gpu, uint64_t bytes)
{
	if (bytes > gpu->hostmem) {
		vgi_error("virtio-gpu: hostmem accounting underflow (%llu > %llu)", (unsigned long long)bytes,
			  (unsigned long long)gpu->hostmem);
		bytes = gpu->hostmem;
	}
	gpu->hostmem -= bytes;
}

uint64_t *vgi_gpu_hostmem_counter(struct vgi_gpu *gpu, uint64_t *max)
{
	*max = gpu->max_hostmem;
	return &gpu->hostmem;
}

uint64_t vgi_gpu_hostmem_used(const struct vgi_gpu *gpu)
{
	return gpu->hostmem;
}

unsigned vgi_gpu_resource_count(const struct vgi_gpu *gpu)
{
	return gpu->resources.count;
}

uint64_t vgi_gpu_cmd_bytes_read(const struct vgi_gpu *gpu)
{
	return gpu->cmd_bytes_read;
}

unsigned vgi_gpu_resource_probes(const struct vgi_gpu *gpu, uint32_t id)
{
	return vgi_idmap_probes(&gpu->resources, id);
}

/* ---------------------------------------------------------------- sinks */

static void sinks_cursor(struct vgi_gpu *gpu, uint32_t id, const struct vgi_cursor *c)
{
	for (unsigned i = 0; i < gpu->nsinks; i++) {
		if (gpu->sinks[i].ops->cursor)
			gpu->sinks[i].ops->cursor(gpu->sinks[i].sink, id, c);
	}
}

static bool sink_has_gl(const struct vgi_display_sink *s)
{
	return s->ops->scanout_gl && s->ops->gl_update;
}

/* The CPU image of what scanout sid shows. */
static bool scanout_image(struct vgi_gpu *gpu, uint32_t sid, struct vgi_gpu_resource *res, struct vgi_image *img)
{
	const struct gpu_scanout *so = &gpu->scanouts[sid];
	struct vgi_image full = { 0 };

	if (so->blob) {
		*img = (struct vgi_image){ .width = so->rect.width, .height = so->rect.height,
					   .stride = so->rect.width * 4, .format = so->format, .data = so->staging };
		return true;
	}
	if (!gpu->renderer->ops->get_image || !gpu->renderer->ops->get_image(gpu->renderer, res, &full))
		return false;
	/* the rect was checked against the resource size when the scanout was set */
	*img = full;
	img->width = so->rect.width;
	img->height = so->rect.height;
	img->data = (const uint8_t *)full.data + (size_t)so->rect.y * full.stride + (size_t)so->rect.x * 4;
	return true;
}

/*
 * A guest blob has no host copy: the damaged rows (scanout coordinates) of
 * the framebuffer, read from guest memory into the scanout's staging copy.
 */
static bool scanout_blob_read(const struct gpu_scanout *so, const struct vgi_gpu_resource *res,
			      const struct vgi_rect *d)
{
	/* SET_SCANOUT_BLOB checked the framebuffer against the blob, and d is inside rect */
	uint64_t src = so->blob_offset + (uint64_t)so->blob_stride * (so->rect.y + d->y) +
		       (uint64_t)(so->rect.x + d->x) * 4;
	size_t dst_stride = (size_t)so->rect.width * 4;

	if (!res->iov)
		return false;	/* its pages left guest memory (memory_changed said so once) */
	if (vgi_gpu_backing_read_rows(res, src, so->blob_stride, (size_t)d->width * 4, d->height,
				      so->staging + (size_t)d->y * dst_stride + (size_t)d->x * 4, dst_stride))
		return true;
	vgi_warn("virtio-gpu: blob %u: rows %u..%u no longer inside its backing", res->id, d->y,
		 d->y + d->height - 1);
	return false;
}

/* Tell sinks about damage (scanout coordinates) on scanout sid. */
static void scanout_update(struct vgi_gpu *gpu, uint32_t sid, struct vgi_gpu_resource *res, const struct vgi_rect *damage)
{
	const struct gpu_scanout *so = &gpu->scanouts[sid];
	struct vgi_image img;
	bool have_img = false, tried = false;

	if (so->blob && !scanout_blob_read(so, res, damage))
		return;
	for (unsigned i = 0; i < gpu->nsinks; i++) {
		const struct vgi_display_sink *s = &gpu->sinks[i];

		if (so->gl && sink_has_gl(s)) {
			s->ops->gl_update(s->sink, sid, damage);
			continue;
		}
		if (!s->ops->update)
			continue;
		if (!tried) {
			have_img = scanout_image(gpu, sid, res, &img);
			tried = true;
		}
		if (have_img)
			s->ops->update(s->sink, sid, damage, &img);
	}
}

/* Scanout sid now shows res (or its rect changed): sinks get scanout() and a full update. */
static void scanout_announce(struct vgi_gpu *gpu, uint32_t sid, struct vgi_gpu_resource *res)
{
	struct gpu_scanout *so = &gpu->scanouts[sid];
	struct vgi_scanout s = { .enabled = true, .width = so->rect.width, .height = so->rect.height,
				 .format = so->format };
	struct vgi_gl_scanout gls;
	struct vgi_rect all = { 0, 0, so->rect.width, so->rect.height };

	memset(&gls, 0, sizeof(gls));
	gls.dmabuf_fd = -1;
	so->gl = !so->blob && gpu->renderer->ops->scanout_gl &&
		 gpu->renderer->ops->scanout_gl(gpu->renderer, res, &so->rect, &gls);
	for (unsigned i = 0; i < gpu->nsinks; i++) {
		const struct vgi_display_sink *sk = &gpu->sinks[i];

		if (so->gl && sink_has_gl(sk))
			sk->ops->scanout_gl(sk->sink, sid, &gls);
		else if (sk->ops->scanout)
			sk->ops->scanout(sk->sink, sid, &s);
	}
	scanout_update(gpu, sid, res, &all);
}

/* Drop a blob scanout's layout and staging copy (the scanout is being disabled or replaced). */
static void scanout_blob_clear(struct vgi_gpu *gpu, struct gpu_scanout *so)
{
	free(so->staging);
	vgi_gpu_hostmem_release(gpu, so->staging_charge);
	so->staging = NULL;
	so->staging_charge = 0;
	so->blob = false;
	so->blob_stride = 0;
	so->blob_offset = 0;
}

static void scanout_disable(struct vgi_gpu *gpu, uint32_t sid)
{
	struct gpu_scanout *so = &gpu->scanouts[sid];
	struct vgi_gpu_resource *res;
	struct vgi_scanout s = { .enabled = false };
	struct vgi_gl_scanout gls = { .enabled = false, .dmabuf_fd = -1 };

	if (so->resource_id == 0)
		return;
	res = vgi_gpu_resource_find(gpu, so->resource_id);
	if (res)
		res->scanout_mask &= ~(1u << sid);
	for (unsigned i = 0; i < gpu->nsinks; i++) {
		const struct vgi_display_sink *sk = &gpu->sinks[i];

		if (so->gl && sink_has_gl(sk))
			sk->ops->scanout_gl(sk->sink, sid, &gls);
		else if (sk->ops->scanout)
			sk->ops->scanout(sk->sink, sid, &s);
	}
	so->resource_id = 0;
	so->gl = false;
	memset(&so->rect, 0, sizeof(so->rect));
	so->format = 0;
	scanout_blob_clear(gpu, so);
}

void vgi_gpu_resource_damage(struct vgi_gpu *gpu, struct vgi_gpu_resource *res, const struct vgi_rect *damage)
{
	for (uint32_t sid = 0; sid < gpu->num_scanouts; sid++) {
		const struct gpu_scanout *so = &gpu->scanouts[sid];
		uint64_t x1, y1, x2, y2;
		struct vgi_rect d;

		if (!(res->scanout_mask & (1u << sid)))
			continue;
		/* intersect with the scanout's rect, in 64-bit */
		x1 = damage->x > so->rect.x ? damage->x : so->rect.x;
		y1 = damage->y > so->rect.y ? damage->y : so->rect.y;
		x2 = (uint64_t)damage->x + damage->width;
		y2 = (uint64_t)damage->y + damage->height;
		if (x2 > (uint64_t)so->rect.x + so->rect.width)
			x2 = (uint64_t)so->rect.x + so->rect.width;
		if (y2 > (uint64_t)so->rect.y + so->rect.height)
			y2 = (uint64_t)so->rect.y + so->rect.height;
		if (x2 <= x1 || y2 <= y1)
			continue;
		d = (struct vgi_rect){ (uint32_t)(x1 - so->rect.x), (uint32_t)(y1 - so->rect.y), (uint32_t)(x2 - x1),
				       (uint32_t)(y2 - y1) };
		scanout_update(gpu, sid, res, &d);
	}
}

/* ---------------------------------------------------------------- resources */

static struct vgi_gpu_resource *res_of(struct vgi_idmap_node *n)
{
	return n ? (struct vgi_gpu_resource *)((char *)n - offsetof(struct vgi_gpu_resource, hnode)) : NULL;
}

struct vgi_gpu_resource *vgi_gpu_resource_find(struct vgi_gpu *gpu, uint32_t id)
{
	return id ? res_of(vgi_idmap_find(&gpu->resources, id)) : NULL;
}

uint32_t vgi_gpu_resource_add(struct vgi_gpu *gpu, uint32_t id, struct vgi_gpu_resource **out)
{
	struct vgi_gpu_resource *res;

	*out = NULL;
	if (id == 0 || vgi_gpu_resource_find(gpu, id)) {
		vgi_warn("virtio-gpu: resource id %u is %s", id, id ? "already in use" : "not allowed");
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	}
	if (gpu->resources.count >= gpu->max_resources) {
		vgi_warn("virtio-gpu: resource %u: %u resources already (the cap)", id, gpu->resources.count);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	if (!vgi_gpu_hostmem_charge(gpu, sizeof(*res)))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res = calloc(1, sizeof(*res));
	if (!res) {
		vgi_gpu_hostmem_release(gpu, sizeof(*res));
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	res->id = id;
	res->hostmem = sizeof(*res);
	res->hnode.id = id;
	vgi_idmap_insert(&gpu->resources, &res->hnode);
	*out = res;
	return 0;
}

static void backing_free(struct vgi_gpu *gpu, struct vgi_gpu_resource *res)
{
	free(res->entries);
	free(res->iov);
	free(res->run_start);
	free(res->page_run);
	free(res->page_host);
	res->entries = NULL;
	res->iov = NULL;
	res->run_start = NULL;
	res->page_run = NULL;
	res->page_host = NULL;
	res->nentries = 0;
	res->niov = 0;
	res->backing_size = 0;
	vgi_gpu_hostmem_release(gpu, res->backing_charge);
	res->hostmem -= res->backing_charge;
	res->backing_charge = 0;
}

/* Charge bytes to res's backing; false past the cap. */
static bool backing_charge(struct vgi_gpu *gpu, struct vgi_gpu_resource *res, uint64_t bytes)
{
	if (!vgi_gpu_hostmem_charge(gpu, bytes))
		return false;
	res->backing_charge += bytes;
	res->hostmem += bytes;
	return true;
}

static void blob_unmap(struct vgi_gpu *gpu, struct vgi_gpu_resource *res);

void vgi_gpu_resource_destroy(struct vgi_gpu *gpu, struct vgi_gpu_resource *res)
{
	if (res->mapped)
		blob_unmap(gpu, res);

	for (uint32_t sid = 0; sid < gpu->num_scanouts; sid++) {
		if (res->scanout_mask & (1u << sid))
			scanout_disable(gpu, sid);
	}
	if (res->iov && gpu->renderer->ops->detach_backing)
		gpu->renderer->ops->detach_backing(gpu->renderer, res);
	backing_free(gpu, res);
	if (gpu->renderer->ops->resource_destroy)
		gpu->renderer->ops->resource_destroy(gpu->renderer, res);
	vgi_gpu_hostmem_release(gpu, res->hostmem);
	vgi_idmap_remove(&gpu->resources, &res->hnode);
	free(res);
}

static void destroy_all_resources(struct vgi_gpu *gpu)
{
	struct vgi_idmap_node *n;
	uint32_t b = 0;

	while ((n = vgi_idmap_next(&gpu->resources, &b, NULL)))
		vgi_gpu_resource_destroy(gpu, res_of(n));
}

#define PAGE_SHIFT 12

/* Index of the backing run holding offset (< backing_size): page index, then binary search in that page. */
static unsigned run_find(const struct vgi_gpu_resource *res, uint64_t offset)
{
	uint64_t p = offset >> PAGE_SHIFT;
	unsigned lo = res->page_run[p];
	unsigned hi = (offset | ((1u << PAGE_SHIFT) - 1)) + 1 < res->backing_size ? res->page_run[p + 1] + 1 : res->niov;

	/* run_start[lo] <= offset < run_start[hi] */
	while (hi - lo > 1) {
		unsigned mid = lo + (hi - lo) / 2;

		if (res->run_start[mid] <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
/*
 * memcpy with non-temporal stores (no read-for-ownership of the
 * destination), prefetching pf (the next run, pf_len bytes) as it goes so
 * the next page's TLB walk and first lines overlap this copy.
 */
static void copy_stream(uint8_t *d, const uint8_t *s, size_t n, const uint8_t *pf, size_t pf_len)
{
	size_t head = (16 - ((uintptr_t)d & 15)) & 15, done = 0;

	if (n < 256) {
		memcpy(d, s, n);
		return;
	}
	memcpy(d, s, head);
	d += head;
	s += head;
	n -= head;
	for (; n >= 64; n -= 64, d += 64, s += 64, done += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s), b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32)), e = _mm_loadu_si128((const __m128i *)(s + 48));

		if (done < pf_len)
			__builtin_prefetch(pf + done);
		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	memcpy(d, s, n);
}
#define stream_fence() _mm_sfence()
#else
#define copy_stream(d, s, n, pf, pf_len) memcpy(d, s, n)
#define stream_fence() do { } while (0)
#endif

/*
 * libc's memcpy: GCC would otherwise inline the page-bounded copies as
 * "rep movs", much slower from cold memory; libc picks by size.
 */
#if defined(__clang__)
#define NOT_INLINED __attribute__((noinline))
#else
#define NOT_INLINED __attribute__((noinline, noipa))	/* GCC only: no constant propagation into it either */
#endif
NOT_INLINED static void copy_bytes(uint8_t *d, const uint8_t *s, size_t n)
{
	memcpy(d, s, n);
}

/*
 * Copies at least this long go run by run, not page by page: a Linux
 * guest's framebuffer is a few long runs, and libc's memcpy of a long run
 * is much faster than page-sized pieces (1280x800 full-frame transfer in a
 * guest: about 290 us instead of 490 us).
 */
#define COPY_RUNS_MIN (64u << 10)

/* Runs ahead whose first line a long copy touches (see vgi_gpu_backing_read). */
#define TLB_AHEAD 4

/* Copy len bytes at offset (range already checked) page by page through the direct map. */
static void copy_pages(const struct vgi_gpu_resource *res, uint64_t offset, uint8_t *d, size_t len)
{
	while (len) {
		uint64_t p = offset >> PAGE_SHIFT;
		size_t in = (size_t)(offset & ((1u << PAGE_SHIFT) - 1));
		size_t n = (1u << PAGE_SHIFT) - in;

		if (n > len)
			n = len;
		if (res->page_host[p]) {
			copy_bytes(d, res->page_host[p] + in, n);
		} else {
			/* several runs in this page: run by run */
			unsigned i = run_find(res, offset);
			size_t left = n;
			uint64_t o = offset;

			while (left) {
				size_t at = (size_t)(o - res->run_start[i]), k = res->iov[i].iov_len - at;

				if (k > left)
					k = left;
				copy_bytes(d + (n - left), (const uint8_t *)res->iov[i].iov_base + at, k);
				left -= k;
				o += k;
				i++;
			}
		}
		d += n;
		offset += n;
		len -= n;
	}
}

/* Start loading the first lines of [offset, offset + len) (range already checked). */
static void prefetch_backing(const struct vgi_gpu_resource *res, uint64_t offset, size_t len)
{
	const uint8_t *h = res->page_host[offset >> PAGE_SHIFT];
	size_t in = (size_t)(offset & ((1u << PAGE_SHIFT) - 1)), end = in + (len < 512 ? len : 512);

	if (!h)
		return;
	if (end > (1u << PAGE_SHIFT))
		end = 1u << PAGE_SHIFT;
	for (size_t o = in & ~(size_t)63; o < end; o += 64)
		__builtin_prefetch(h + o);
}

bool vgi_gpu_backing_read(const struct vgi_gpu_resource *res, uint64_t offset, void *dst, size_t len, bool stream)
{
	uint8_t *d = dst;
	unsigned i;
	uint64_t within;

	if (!res->iov || offset > res->backing_size || len > res->backing_size - offset)
		return false;
	if (len == 0)
		return true;
	if (!stream && len < COPY_RUNS_MIN) {
		copy_pages(res, offset, d, len);
		return true;
	}
	i = run_find(res, offset);
	within = offset - res->run_start[i];
	while (len) {
		size_t n = res->iov[i].iov_len - within;
		const uint8_t *s = (const uint8_t *)res->iov[i].iov_base + within;
		bool more;
		size_t pf_len;

		if (n > len)
			n = len;
		/*
		 * Touch the run TLB_AHEAD ahead: its page walk (scattered guest
		 * pages all miss the TLB) then overlaps this copy. Full frame
		 * from 8100 pages scattered over 160 MiB: 0.68 -> 0.87 of a
		 * contiguous memcpy in a stand-alone test.
		 */
		if (i + TLB_AHEAD < res->niov)
			__builtin_prefetch(res->iov[i + TLB_AHEAD].iov_base);
		more = i + 1 < res->niov && n < len;
		pf_len = more ? res->iov[i + 1].iov_len : 0;
		if (pf_len > len - n)
			pf_len = len - n;
		if (stream)
			copy_stream(d, s, n, more ? res->iov[i + 1].iov_base : NULL, pf_len);
		else
			copy_bytes(d, s, n);
		d += n;
		len -= n;
		within = 0;
		i++;
	}
	if (stream)
		stream_fence();
	return true;
}

bool vgi_gpu_backing_read_rows(const struct vgi_gpu_resource *res, uint64_t offset, uint64_t src_stride,
			       size_t row_len, uint32_t rows, uint8_t *dst, size_t dst_stride)
{
	enum { AHEAD = 4 };	/* rows prefetched ahead: their pages are anywhere */
	uint64_t span;

	if (!res->iov || rows == 0 || row_len == 0)
		return res->iov != NULL;
	/* the last byte of the last row, in 64-bit without overflow */
	if (src_stride && rows - 1 > (UINT64_MAX - row_len) / src_stride)
		return false;
	span = src_stride * (rows - 1) + row_len;
	if (offset > res->backing_size || span > res->backing_size - offset)
		return false;
	for (uint32_t r = 0; r < rows && r < AHEAD; r++)
		prefetch_backing(res, offset + src_stride * r, row_len);
	for (uint32_t r = 0; r < rows; r++) {
		if (r + AHEAD < rows)
			prefetch_backing(res, offset + src_stride * (r + AHEAD), row_len);
		copy_pages(res, offset + src_stride * r, dst + dst_stride * r, row_len);
	}
	return true;
}

/*
 * Translate res->entries into res->iov, the run starts and the page index.
 * Host-contiguous neighbours are merged. Returns 0 or a
 * VIRTIO_GPU_RESP_ERR_* code; on error the caller frees what was made
 * (backing_free releases everything charged: CVE-2021-3544).
 */
static uint32_t backing_map(struct vgi_gpu *gpu, struct vgi_gpu_resource *res)
{
	const struct vgi_guest_memory *mem = gpu->vdev.mem;
	unsigned cap = res->nentries + 8, n = 0;
	uint64_t total = 0, npages;
	struct iovec *iov;

	if (!backing_charge(gpu, res, (uint64_t)cap * sizeof(*iov)))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	iov = res->iov = malloc(cap * sizeof(*iov));
	if (!iov)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	for (uint32_t e = 0; e < res->nentries; e++) {
		uint64_t addr = res->entries[e].addr, len = res->entries[e].length;
		int ret;

		if (len == 0 || len > MAX_BACKING_SIZE - total) {
			vgi_warn("virtio-gpu: resource %u backing entry %u: bad length %llu (total %llu)", res->id, e,
				 (unsigned long long)len, (unsigned long long)total);
			return VIRTIO_GPU_RESP_ERR_UNSPEC;
		}
		total += len;
		while ((ret = vgi_guest_memory_to_iovec(mem, addr, len, iov, cap, &n)) == -E2BIG) {
			unsigned ncap = cap * 2;
			struct iovec *bigger;

			if (!backing_charge(gpu, res, (uint64_t)(ncap - cap) * sizeof(*iov)))
				return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			bigger = realloc(iov, ncap * sizeof(*iov));
			if (!bigger)
				return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			iov = res->iov = bigger;
			cap = ncap;
		}
		if (ret < 0) {
			vgi_warn("virtio-gpu: resource %u backing entry %u: 0x%llx+%llu is not guest RAM", res->id, e,
				 (unsigned long long)addr, (unsigned long long)len);
			return VIRTIO_GPU_RESP_ERR_UNSPEC;
		}
	}
	/* merge pieces of neighbouring entries that are contiguous on the host */
	{
		unsigned w = 0;

		for (unsigned r = 0; r < n; r++) {
			if (w && (uint8_t *)iov[w - 1].iov_base + iov[w - 1].iov_len == iov[r].iov_base)
				iov[w - 1].iov_len += iov[r].iov_len;
			else
				iov[w++] = iov[r];
		}
		n = w;
	}
	res->niov = n;
	res->backing_size = total;
	if (!backing_charge(gpu, res, (uint64_t)(n + 1) * sizeof(uint64_t)))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res->run_start = malloc((n + 1) * sizeof(uint64_t));
	if (!res->run_start)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res->run_start[0] = 0;
	for (unsigned r = 0; r < n; r++)
		res->run_start[r + 1] = res->run_start[r] + iov[r].iov_len;
	/* page index: for each 4 KiB of the backing, the run holding its first byte */
	npages = (total + (1u << PAGE_SHIFT) - 1) >> PAGE_SHIFT;
	if (!backing_charge(gpu, res, npages * sizeof(uint32_t)))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res->page_run = malloc(npages * sizeof(uint32_t));
	if (!res->page_run)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	for (uint64_t p = 0, r = 0; p < npages; p++) {
		while (res->run_start[r + 1] <= p << PAGE_SHIFT)
			r++;
		res->page_run[p] = (uint32_t)r;
	}
	/* and the direct map of pages that lie in one run (almost all of them) */
	if (!backing_charge(gpu, res, npages * sizeof(uint8_t *)))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res->page_host = malloc(npages * sizeof(uint8_t *));
	if (!res->page_host)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	for (uint64_t p = 0; p < npages; p++) {
		uint64_t first = p << PAGE_SHIFT, end = (p + 1) << PAGE_SHIFT;
		uint32_t r = res->page_run[p];

		if (end > total)
			end = total;
		res->page_host[p] = res->run_start[r + 1] >= end
					    ? (uint8_t *)iov[r].iov_base + (first - res->run_start[r])
					    : NULL;
	}
	return 0;
}

/* ---------------------------------------------------------------- responses */

/* The one place control commands are read from guest memory. */
static size_t chain_read(struct vgi_gpu_cmd *cmd, uint64_t offset, void *buf, size_t len)
{
	size_t got = vgi_iov_to_buf(cmd->elem->out_sg, cmd->elem->out_num, offset, buf, len);

	cmd->gpu->cmd_bytes_read += got;
	return got;
}

/* Bytes of the command struct of a type (the header alone for types nobody knows). */
static size_t cmd_struct_size(uint32_t type)
{
	switch (type) {
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: return sizeof(struct virtio_gpu_resource_create_2d);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF: return sizeof(struct virtio_gpu_resource_unref);
	case VIRTIO_GPU_CMD_SET_SCANOUT: return sizeof(struct virtio_gpu_set_scanout);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: return sizeof(struct virtio_gpu_resource_flush);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: return sizeof(struct virtio_gpu_transfer_to_host_2d);
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: return sizeof(struct virtio_gpu_resource_attach_backing);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: return sizeof(struct virtio_gpu_resource_detach_backing);
	case VIRTIO_GPU_CMD_GET_CAPSET_INFO: return sizeof(struct virtio_gpu_get_capset_info);
	case VIRTIO_GPU_CMD_GET_CAPSET: return sizeof(struct virtio_gpu_get_capset);
	case VIRTIO_GPU_CMD_GET_EDID: return sizeof(struct virtio_gpu_cmd_get_edid);
	case VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID: return sizeof(struct virtio_gpu_resource_assign_uuid);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB: return sizeof(struct virtio_gpu_resource_create_blob);
	case VIRTIO_GPU_CMD_SET_SCANOUT_BLOB: return sizeof(struct virtio_gpu_set_scanout_blob);
	case VIRTIO_GPU_CMD_CTX_CREATE: return sizeof(struct virtio_gpu_ctx_create);
	case VIRTIO_GPU_CMD_CTX_DESTROY: return sizeof(struct virtio_gpu_ctx_destroy);
	case VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE:
	case VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE: return sizeof(struct virtio_gpu_ctx_resource);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_3D: return sizeof(struct virtio_gpu_resource_create_3d);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D:
	case VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D: return sizeof(struct virtio_gpu_transfer_host_3d);
	case VIRTIO_GPU_CMD_SUBMIT_3D: return sizeof(struct virtio_gpu_cmd_submit);
	case VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB: return sizeof(struct virtio_gpu_resource_map_blob);
	case VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB: return sizeof(struct virtio_gpu_resource_unmap_blob);
	default: return sizeof(struct virtio_gpu_ctrl_hdr);	/* GET_DISPLAY_INFO, unknown */
	}
}

_Static_assert(sizeof(struct virtio_gpu_ctx_create) <= VGI_GPU_CMD_MAX &&
		       sizeof(struct virtio_gpu_set_scanout_blob) <= VGI_GPU_CMD_MAX &&
		       sizeof(struct virtio_gpu_resource_create_3d) <= VGI_GPU_CMD_MAX &&
		       sizeof(struct virtio_gpu_transfer_host_3d) <= VGI_GPU_CMD_MAX &&
		       sizeof(struct virtio_gpu_resource_create_blob) <= VGI_GPU_CMD_MAX,
	       "VGI_GPU_CMD_MAX holds every command struct");

/*
 * The command struct, out of guest memory once: the header (its type
 * says how long the body is), then only the body. false: not even a header.
 */
static bool cmd_fetch(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	size_t want;

	cmd->gpu = gpu;
	cmd->out_size = vgi_iov_size(cmd->elem->out_sg, cmd->elem->out_num);
	cmd->len = (uint32_t)chain_read(cmd, 0, cmd->data, sizeof(cmd->hdr));
	if (cmd->len != sizeof(cmd->hdr)) {
		memset(&cmd->hdr, 0, sizeof(cmd->hdr));
		return false;
	}
	memcpy(&cmd->hdr, cmd->data, sizeof(cmd->hdr));
	want = cmd_struct_size(cmd->hdr.type);
	cmd->len += (uint32_t)chain_read(cmd, sizeof(cmd->hdr), cmd->data + sizeof(cmd->hdr),
					 want - sizeof(cmd->hdr));
	return true;
}

bool vgi_gpu_cmd_peek(const struct vgi_gpu_cmd *cmd, void *buf, size_t len)
{
	if (len > cmd->len)
		return false;
	memcpy(buf, cmd->data, len);
	return true;
}

bool vgi_gpu_cmd_read(struct vgi_gpu_cmd *cmd, void *buf, size_t len)
{
	if (!vgi_gpu_cmd_peek(cmd, buf, len)) {
		vgi_warn("virtio-gpu: command 0x%x too short: %u bytes, need %zu", cmd->hdr.type, cmd->len, len);
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return false;
	}
	return true;
}

bool vgi_gpu_cmd_read_tail(struct vgi_gpu_cmd *cmd, uint64_t offset, void *buf, size_t len)
{
	/* the struct's bytes come from the copy only */
	if (offset < cmd_struct_size(cmd->hdr.type) || offset > cmd->out_size || len > cmd->out_size - offset)
		return false;
	return chain_read(cmd, offset, buf, len) == len;
}

void vgi_gpu_cmd_respond(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, struct virtio_gpu_ctrl_hdr *resp,
			 size_t len)
{
	struct vgi_virtqueue *vq = gpu->vdev.queues[0];
	size_t room = vgi_iov_size(cmd->elem->in_sg, cmd->elem->in_num);
	uint32_t written = 0;

	if (cmd->finished)
		return;
	if (cmd->hdr.flags & VIRTIO_GPU_FLAG_FENCE) {
		resp->flags |= VIRTIO_GPU_FLAG_FENCE;
		resp->fence_id = cmd->hdr.fence_id;
		resp->ctx_id = cmd->hdr.ctx_id;
		if (cmd->hdr.flags & VIRTIO_GPU_FLAG_INFO_RING_IDX) {
			resp->flags |= VIRTIO_GPU_FLAG_INFO_RING_IDX;
			resp->ring_idx = cmd->hdr.ring_idx;
		}
	}
	if (room < len) {
		vgi_warn("virtio-gpu: command 0x%x: response buffer of %zu bytes, need %zu", cmd->hdr.type, room, len);
	} else {
		vgi_iov_from_buf(cmd->elem->in_sg, cmd->elem->in_num, 0, resp, len);
		written = (uint32_t)len;
	}
	vgi_virtqueue_push(vq, cmd->elem, written);
	cmd->elem = NULL;
	cmd->finished = true;
	gpu->ctrl_pushed = true;
}

static void respond_nodata(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, uint32_t type)
{
	struct virtio_gpu_ctrl_hdr resp;

	memset(&resp, 0, sizeof(resp));
	resp.type = type;
	vgi_gpu_cmd_respond(gpu, cmd, &resp, sizeof(resp));
}

void vgi_gpu_cmd_finish(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct vgi_gpu_cmd **pp = &gpu->held;

	while (*pp && *pp != cmd)
		pp = &(*pp)->next;
	if (*pp)
		*pp = cmd->next;
	if (!cmd->finished)
		respond_nodata(gpu, cmd, cmd->error ? cmd->error : VIRTIO_GPU_RESP_OK_NODATA);
	free(cmd);
	if (gpu->ctrl_pushed) {
		gpu->ctrl_pushed = false;
		vgi_virtio_device_notify(&gpu->vdev, 0);
	}
}

static void free_held(struct vgi_gpu *gpu)
{
	while (gpu->held) {
		struct vgi_gpu_cmd *c = gpu->held;

		gpu->held = c->next;
		vgi_vq_elem_free(c->elem);
		free(c);
	}
}

/* ---------------------------------------------------------------- control commands */

static bool rect_inside(const struct virtio_gpu_rect *r, uint32_t width, uint32_t height)
{
	return (uint64_t)r->x + r->width <= width && (uint64_t)r->y + r->height <= height;
}

static void cmd_get_display_info(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resp_display_info info;

	memset(&info, 0, sizeof(info));
	info.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
	for (uint32_t i = 0; i < gpu->num_scanouts; i++) {
		if (!gpu->outputs[i].connected)
			continue;
		info.pmodes[i].enabled = 1;
		info.pmodes[i].r.width = gpu->outputs[i].width;
		info.pmodes[i].r.height = gpu->outputs[i].height;
	}
	vgi_gpu_cmd_respond(gpu, cmd, &info.hdr, sizeof(info));
}

/* Answer cmd with the EDID output scanout has now. */
static void edid_respond(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, uint32_t scanout)
{
	struct virtio_gpu_resp_edid *resp = calloc(1, sizeof(*resp));
	uint32_t size = sizeof(resp->edid);

	if (!resp) {
		respond_nodata(gpu, cmd, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
		return;
	}
	resp->hdr.type = VIRTIO_GPU_RESP_OK_EDID;
	vgi_gpu_get_edid(gpu, scanout, resp->edid, &size);
	resp->size = size;
	vgi_gpu_cmd_respond(gpu, cmd, &resp->hdr, sizeof(*resp));
	free(resp);
}

/*
 * Answer the held GET_EDIDs of output scanout (UINT32_MAX: all of them) now,
 * with the EDID the device has. Also for when a queue stops: nothing held
 * may stay behind then.
 */
static void edid_waiters_answer(struct vgi_gpu *gpu, uint32_t scanout)
{
	struct edid_waiter **pp = &gpu->edid_waiters;

	while (*pp) {
		struct edid_waiter *w = *pp;

		if (scanout != UINT32_MAX && w->scanout != scanout) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		gpu->nedid_waiters--;
		edid_respond(gpu, &w->cmd, w->scanout);
		free(w);
	}
	/* inside queue processing the answers go out with its notification */
	if (gpu->ctrl_pushed && !gpu->busy[0]) {
		gpu->ctrl_pushed = false;
		vgi_virtio_device_notify(&gpu->vdev, 0);
	}
}

/* Drop the held GET_EDIDs without answering (device reset, free): their buffers belong to the old driver. */
static void edid_waiters_drop(struct vgi_gpu *gpu)
{
	while (gpu->edid_waiters) {
		struct edid_waiter *w = gpu->edid_waiters;

		gpu->edid_waiters = w->next;
		vgi_vq_elem_free(w->cmd.elem);
		free(w);
	}
	gpu->nedid_waiters = 0;
}

static void cmd_get_edid(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_cmd_get_edid ge;
	struct edid_waiter *w, **tail;

	if (!gpu->edid) {
		vgi_warn("virtio-gpu: GET_EDID without the EDID feature");
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (!vgi_gpu_cmd_read(cmd, &ge, sizeof(ge)))
		return;
	if (ge.scanout >= gpu->num_scanouts) {
		vgi_warn("virtio-gpu: GET_EDID for scanout %u (have %u)", ge.scanout, gpu->num_scanouts);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	/*
	 * The frontend's EDID is on its way: answering now would give the
	 * guest the generated one for good (it reads EDIDs once, at probe).
	 */
	if (gpu->outputs[ge.scanout].edid_expected && gpu->nedid_waiters < MAX_EDID_WAITERS &&
	    (w = malloc(sizeof(*w)))) {
		w->cmd = *cmd;
		w->cmd.next = NULL;
		w->scanout = ge.scanout;
		w->next = NULL;
		for (tail = &gpu->edid_waiters; *tail; tail = &(*tail)->next)
			;
		*tail = w;
		gpu->nedid_waiters++;
		cmd->elem = NULL;
		cmd->finished = true;	/* the waiter answers it */
		return;
	}
	edid_respond(gpu, cmd, ge.scanout);
}

static void cmd_resource_create_2d(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_create_2d c;
	struct vgi_gpu_resource *res;
	uint32_t fourcc, err;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	if (c.resource_id == 0 || vgi_gpu_resource_find(gpu, c.resource_id)) {
		vgi_warn("virtio-gpu: CREATE_2D: resource id %u %s", c.resource_id, c.resource_id ? "exists" : "is 0");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	fourcc = vgi_format_from_virtio_gpu(c.format);
	if (!fourcc || c.width == 0 || c.height == 0) {
		vgi_warn("virtio-gpu: CREATE_2D %u: bad format %u or size %ux%u", c.resource_id, c.format, c.width,
			 c.height);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	err = vgi_gpu_resource_add(gpu, c.resource_id, &res);
	if (err) {
		cmd->error = err;
		return;
	}
	res->width = c.width;
	res->height = c.height;
	res->virtio_format = c.format;
	res->fourcc = fourcc;
	err = gpu->renderer->ops->resource_create_2d(gpu->renderer, res);
	if (err) {
		vgi_warn("virtio-gpu: CREATE_2D %u (%ux%u): cannot allocate", c.resource_id, c.width, c.height);
		vgi_gpu_resource_destroy(gpu, res);
		cmd->error = err;
	}
}

static struct vgi_gpu_resource *find_or_error(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, uint32_t id,
					      bool need_backing, const char *what)
{
	struct vgi_gpu_resource *res = vgi_gpu_resource_find(gpu, id);

	if (!res || (need_backing && !res->iov)) {
		vgi_warn("virtio-gpu: %s: resource %u %s", what, id, res ? "has no backing" : "does not exist");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return NULL;
	}
	return res;
}

static void cmd_resource_unref(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_unref c;
	struct vgi_gpu_resource *res;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "UNREF");
	if (res)
		vgi_gpu_resource_destroy(gpu, res);
}

static void cmd_set_scanout(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_set_scanout c;
	struct vgi_gpu_resource *res, *old;
	struct gpu_scanout *so;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	if (c.scanout_id >= gpu->num_scanouts) {	/* CVE-2016-10029 */
		vgi_warn("virtio-gpu: SET_SCANOUT: scanout id %u (have %u)", c.scanout_id, gpu->num_scanouts);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
		return;
	}
	so = &gpu->scanouts[c.scanout_id];
	if (c.resource_id == 0) {
		scanout_disable(gpu, c.scanout_id);
		return;
	}
	res = find_or_error(gpu, cmd, c.resource_id, true, "SET_SCANOUT");
	if (!res)
		return;
	if (!rect_inside(&c.r, res->width, res->height) || c.r.width < MIN_SCANOUT_SIZE ||
	    c.r.height < MIN_SCANOUT_SIZE) {
		vgi_warn("virtio-gpu: SET_SCANOUT %u: rect %u,%u %ux%u outside resource %u (%ux%u)", c.scanout_id,
			 c.r.x, c.r.y, c.r.width, c.r.height, res->id, res->width, res->height);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	old = so->resource_id != res->id ? vgi_gpu_resource_find(gpu, so->resource_id) : NULL;
	if (old)
		old->scanout_mask &= ~(1u << c.scanout_id);
	res->scanout_mask |= 1u << c.scanout_id;
	so->resource_id = res->id;
	so->rect = (struct vgi_rect){ c.r.x, c.r.y, c.r.width, c.r.height };
	so->format = res->fourcc;
	scanout_blob_clear(gpu, so);
	scanout_announce(gpu, c.scanout_id, res);
}

static void cmd_resource_flush(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_flush c;
	struct vgi_gpu_resource *res;
	struct vgi_rect d;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "RESOURCE_FLUSH");
	if (!res)
		return;
	/*
	 * A blob has no size of its own: the rect is in framebuffer
	 * coordinates and is clipped to each scanout's (as QEMU).
	 */
	if (!res->blob && !rect_inside(&c.r, res->width, res->height)) {
		vgi_warn("virtio-gpu: RESOURCE_FLUSH %u: rect %u,%u %ux%u outside %ux%u", res->id, c.r.x, c.r.y,
			 c.r.width, c.r.height, res->width, res->height);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	d = (struct vgi_rect){ c.r.x, c.r.y, c.r.width, c.r.height };
	vgi_gpu_resource_damage(gpu, res, &d);
}

static void cmd_transfer_to_host_2d(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_transfer_to_host_2d c;
	struct vgi_gpu_resource *res;
	struct vgi_rect r;
	uint64_t stride, extent;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, true, "TRANSFER_TO_HOST_2D");
	if (!res)
		return;
	if (res->blob)
		return;	/* guest memory is the only copy: nothing to do (as QEMU) */
	if (!rect_inside(&c.r, res->width, res->height)) {
		vgi_warn("virtio-gpu: TRANSFER_TO_HOST_2D %u: rect %u,%u %ux%u outside %ux%u", res->id, c.r.x, c.r.y,
			 c.r.width, c.r.height, res->width, res->height);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (c.r.width == 0 || c.r.height == 0)
		return;
	/* the guest's rows have the resource's stride; the last byte read must be in the backing */
	stride = (uint64_t)res->width * 4;
	extent = stride * (c.r.height - 1) + (uint64_t)c.r.width * 4;	/* < 2^66 / ... fits: w,h < 2^32 */
	if (c.offset > res->backing_size || extent > res->backing_size - c.offset) {
		vgi_warn("virtio-gpu: TRANSFER_TO_HOST_2D %u: offset %llu + %llu bytes past backing of %llu", res->id,
			 (unsigned long long)c.offset, (unsigned long long)extent,
			 (unsigned long long)res->backing_size);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	r = (struct vgi_rect){ c.r.x, c.r.y, c.r.width, c.r.height };
	cmd->error = gpu->renderer->ops->transfer_to_host_2d(gpu->renderer, res, &r, c.offset);
}

/*
 * The nr_entries mem entries that follow a command of cmd_len bytes become
 * res's backing (ATTACH_BACKING, RESOURCE_CREATE_BLOB): count capped,
 * every entry checked against guest RAM, all charged. renderer: tell the
 * renderer (attach_backing). 0, or an error with nothing left attached.
 */
static uint32_t backing_attach(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd, struct vgi_gpu_resource *res,
			       uint32_t nr_entries, size_t cmd_len, bool renderer, const char *what)
{
	uint64_t esize;
	uint32_t err;

	if (nr_entries == 0 || nr_entries > MAX_BACKING_ENTRIES) {
		vgi_warn("virtio-gpu: %s %u: %u entries (1..%u)", what, res->id, nr_entries, MAX_BACKING_ENTRIES);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	esize = (uint64_t)nr_entries * sizeof(struct virtio_gpu_mem_entry);
	if (!backing_charge(gpu, res, esize))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	res->entries = malloc(esize);
	if (!res->entries) {
		err = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		goto fail;
	}
	res->nentries = nr_entries;
	if (!vgi_gpu_cmd_read_tail(cmd, cmd_len, res->entries, esize)) {
		vgi_warn("virtio-gpu: %s %u: %u entries announced, fewer sent", what, res->id, nr_entries);
		err = VIRTIO_GPU_RESP_ERR_UNSPEC;
		goto fail;
	}
	err = backing_map(gpu, res);
	if (err)
		goto fail;
	if (renderer && gpu->renderer->ops->attach_backing) {
		err = gpu->renderer->ops->attach_backing(gpu->renderer, res);
		if (err)
			goto fail;
	}
	return 0;
fail:
	backing_free(gpu, res);
	return err;
}

static void cmd_attach_backing(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_attach_backing c;
	struct vgi_gpu_resource *res;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "ATTACH_BACKING");
	if (!res)
		return;
	if (res->iov || res->blob) {
		/* a blob's backing is given (or not) once, at creation */
		vgi_warn("virtio-gpu: ATTACH_BACKING %u: %s", res->id, res->blob ? "a blob" : "already has backing");
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	cmd->error = backing_attach(gpu, cmd, res, c.nr_entries, sizeof(c), true, "ATTACH_BACKING");
}

static void cmd_detach_backing(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_detach_backing c;
	struct vgi_gpu_resource *res;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, true, "DETACH_BACKING");
	if (!res)
		return;
	if (res->blob) {
		/* its backing is the blob: it goes with RESOURCE_UNREF */
		vgi_warn("virtio-gpu: DETACH_BACKING %u: a blob", res->id);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (gpu->renderer->ops->detach_backing)
		gpu->renderer->ops->detach_backing(gpu->renderer, res);
	backing_free(gpu, res);
}

static void cmd_assign_uuid(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_assign_uuid c;
	struct virtio_gpu_resp_resource_uuid resp;
	struct vgi_gpu_resource *res;

	if (!gpu->resource_uuid) {
		vgi_warn("virtio-gpu: ASSIGN_UUID without the RESOURCE_UUID feature");
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "ASSIGN_UUID");
	if (!res)
		return;
	if (!res->has_uuid) {
		static uint64_t counter;

		if (getrandom(res->uuid, sizeof(res->uuid), GRND_NONBLOCK) != (ssize_t)sizeof(res->uuid)) {
			uint64_t v = ++counter ^ ((uint64_t)res->id << 32) ^ (uint64_t)(uintptr_t)res;

			memcpy(res->uuid, &v, 8);
			v = v * 6364136223846793005ull + 1442695040888963407ull;
			memcpy(res->uuid + 8, &v, 8);
		}
		res->uuid[6] = (uint8_t)((res->uuid[6] & 0x0f) | 0x40);	/* version 4 */
		res->uuid[8] = (uint8_t)((res->uuid[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
		res->has_uuid = true;
	}
	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = VIRTIO_GPU_RESP_OK_RESOURCE_UUID;
	memcpy(resp.uuid, res->uuid, sizeof(resp.uuid));
	vgi_gpu_cmd_respond(gpu, cmd, &resp.hdr, sizeof(resp));
}

/* ---------------------------------------------------------------- blob resources */

#define BLOB_FLAGS_KNOWN \
	(VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE | VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE | VIRTIO_GPU_BLOB_FLAG_USE_CROSS_DEVICE)

/* Blob commands exist only when the feature is offered; else ERR_UNSPEC, as any unknown command. */
static bool blob_offered(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	if (gpu->blob)
		return true;
	vgi_warn("virtio-gpu: blob command 0x%x without the RESOURCE_BLOB feature", cmd->hdr.type);
	cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
	return false;
}

/*
 * RESOURCE_CREATE_BLOB. Guest memory: the mem entries follow the command
 * as for ATTACH_BACKING, the size is page-aligned and inside them. Host
 * memory (HOST3D): no entries, the renderer makes it from the context's
 * blob_id.
 */
static void cmd_resource_create_blob(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_create_blob c;
	struct vgi_gpu_resource *res;
	bool host;
	uint32_t err;

	if (!blob_offered(gpu, cmd) || !vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	if (c.resource_id == 0 || vgi_gpu_resource_find(gpu, c.resource_id)) {
		vgi_warn("virtio-gpu: CREATE_BLOB: resource id %u %s", c.resource_id, c.resource_id ? "exists" : "is 0");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	host = c.blob_mem == VIRTIO_GPU_BLOB_MEM_HOST3D && gpu->renderer->ops->resource_create_blob;
	if ((!host && c.blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST) || (c.blob_flags & ~BLOB_FLAGS_KNOWN)) {
		vgi_warn("virtio-gpu: CREATE_BLOB %u: blob_mem %u, flags 0x%x: %s", c.resource_id, c.blob_mem,
			 c.blob_flags,
			 c.blob_mem == VIRTIO_GPU_BLOB_MEM_HOST3D || c.blob_mem == VIRTIO_GPU_BLOB_MEM_HOST3D_GUEST
				 ? "this renderer has no host blobs of that kind"
				 : "unknown");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (c.size == 0 || c.size % (1u << PAGE_SHIFT) || c.size > MAX_BACKING_SIZE || (host && c.nr_entries)) {
		vgi_warn("virtio-gpu: CREATE_BLOB %u: size %llu (page-aligned, 4 KiB..4 GiB), %u entries", c.resource_id,
			 (unsigned long long)c.size, c.nr_entries);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	err = vgi_gpu_resource_add(gpu, c.resource_id, &res);
	if (err) {
		cmd->error = err;
		return;
	}
	res->blob = true;
	res->blob_mem = c.blob_mem;
	res->blob_flags = c.blob_flags;
	res->blob_id = c.blob_id;
	res->blob_size = c.size;
	if (host) {
		err = gpu->renderer->ops->resource_create_blob(gpu->renderer, res, c.hdr.ctx_id);
	} else {
		err = backing_attach(gpu, cmd, res, c.nr_entries, sizeof(c), false, "CREATE_BLOB");
		if (!err && res->backing_size < c.size) {
			vgi_warn("virtio-gpu: CREATE_BLOB %u: size %llu, entries hold %llu", res->id,
				 (unsigned long long)c.size, (unsigned long long)res->backing_size);
			err = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		}
	}
	if (err) {
		vgi_gpu_resource_destroy(gpu, res);
		cmd->error = err;
	}
}

/*
 * The framebuffer a SET_SCANOUT_BLOB describes, inside the blob: the last
 * byte of its last row is offset + stride * (height - 1) + 4 * width,
 * all in 64-bit with overflow checks. false with a warning if not.
 */
static bool blob_fb_inside(const struct vgi_gpu_resource *res, const struct virtio_gpu_set_scanout_blob *c)
{
	uint64_t row = (uint64_t)c->width * 4, end;

	if (c->width == 0 || c->height == 0 || c->strides[0] < row) {
		vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: %ux%u, stride %u", res->id, c->width, c->height,
			 c->strides[0]);
		return false;
	}
	/* stride, height < 2^32: the product fits; the sums may not */
	if (__builtin_add_overflow((uint64_t)c->strides[0] * (c->height - 1), row, &end) ||
	    __builtin_add_overflow(end, (uint64_t)c->offsets[0], &end) || end > res->blob_size) {
		vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: %ux%u, stride %u at offset %u past the blob's %llu bytes",
			 res->id, c->width, c->height, c->strides[0], c->offsets[0],
			 (unsigned long long)res->blob_size);
		return false;
	}
	return true;
}

static void cmd_set_scanout_blob(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_set_scanout_blob c;
	struct vgi_gpu_resource *res, *old;
	struct gpu_scanout *so;
	uint32_t fourcc;
	uint64_t bytes;
	uint8_t *staging;

	if (!blob_offered(gpu, cmd) || !vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	if (c.scanout_id >= gpu->num_scanouts) {
		vgi_warn("virtio-gpu: SET_SCANOUT_BLOB: scanout id %u (have %u)", c.scanout_id, gpu->num_scanouts);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
		return;
	}
	so = &gpu->scanouts[c.scanout_id];
	if (c.resource_id == 0) {
		scanout_disable(gpu, c.scanout_id);
		return;
	}
	res = vgi_gpu_resource_find(gpu, c.resource_id);
	if (!res || !res->blob || res->blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST || !res->iov) {
		vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: resource %u %s", c.scanout_id, c.resource_id,
			 !res ? "does not exist" : !res->blob ? "is not a blob" : "is not in guest memory");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	fourcc = vgi_format_from_virtio_gpu(c.format);
	if (!fourcc || !blob_fb_inside(res, &c)) {
		if (!fourcc)
			vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: format %u", c.scanout_id, c.format);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (!rect_inside(&c.r, c.width, c.height) || c.r.width < MIN_SCANOUT_SIZE || c.r.height < MIN_SCANOUT_SIZE) {
		vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: rect %u,%u %ux%u outside the %ux%u framebuffer",
			 c.scanout_id, c.r.x, c.r.y, c.r.width, c.r.height, c.width, c.height);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	/* the host copy of what is shown (the framebuffer is inside a blob of at most 4 GiB) */
	bytes = (uint64_t)c.r.width * c.r.height * 4;
	if (so->blob && so->staging_charge == bytes) {
		staging = so->staging;	/* a flip between same-sized buffers: keep it */
		so->staging = NULL;
		so->staging_charge = 0;
	} else {
		if (!vgi_gpu_hostmem_charge(gpu, bytes)) {
			vgi_warn("virtio-gpu: SET_SCANOUT_BLOB %u: no host memory for a %ux%u copy", c.scanout_id,
				 c.r.width, c.r.height);
			cmd->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			return;
		}
		staging = malloc(bytes);
		if (!staging) {
			vgi_gpu_hostmem_release(gpu, bytes);
			cmd->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			return;
		}
	}
	old = so->resource_id != res->id ? vgi_gpu_resource_find(gpu, so->resource_id) : NULL;
	if (old)
		old->scanout_mask &= ~(1u << c.scanout_id);
	scanout_blob_clear(gpu, so);
	res->scanout_mask |= 1u << c.scanout_id;
	so->resource_id = res->id;
	so->rect = (struct vgi_rect){ c.r.x, c.r.y, c.r.width, c.r.height };
	so->format = fourcc;
	so->blob = true;
	so->blob_stride = c.strides[0];
	so->blob_offset = c.offsets[0];
	so->staging = staging;
	so->staging_charge = bytes;
	scanout_announce(gpu, c.scanout_id, res);
}

/* Undo a MAP_BLOB: out of the embedder's region, then the renderer's mapping. */
static void blob_unmap(struct vgi_gpu *gpu, struct vgi_gpu_resource *res)
{
	struct vgi_gpu_resource **pp = &gpu->mapped;

	while (*pp && *pp != res)
		pp = &(*pp)->map_next;
	if (*pp)
		*pp = res->map_next;
	res->map_next = NULL;
	res->mapped = false;
	if (gpu->mapper.unmap)
		gpu->mapper.unmap(gpu->mapper_opaque, res->map_offset, res->map_size);
	if (gpu->renderer->ops->blob_unmap)
		gpu->renderer->ops->blob_unmap(gpu->renderer, res);
}

/*
 * MAP_BLOB: a host blob at offset in the host-visible region (whole, page
 * aligned, inside the region, over no other mapping); answered with
 * OK_MAP_INFO. Guest blobs and other resources are not host-visible.
 */
static void cmd_map_blob(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_map_blob c;
	struct virtio_gpu_resp_map_info resp;
	struct vgi_gpu_resource *res;
	void *ptr = NULL;
	uint64_t size = 0;
	uint32_t info = 0, err;

	if (!blob_offered(gpu, cmd) || !vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "MAP_BLOB");
	if (!res)
		return;
	if (!res->blob || res->blob_mem == VIRTIO_GPU_BLOB_MEM_GUEST || !gpu->renderer->ops->blob_map) {
		vgi_warn("virtio-gpu: MAP_BLOB %u: not a host-visible blob", res->id);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (!gpu->mapper.map || !gpu->region_size) {
		vgi_warn("virtio-gpu: MAP_BLOB %u: no host-visible region", res->id);
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (res->mapped || c.offset % (1u << PAGE_SHIFT) || c.offset > gpu->region_size ||
	    res->blob_size > gpu->region_size - c.offset) {
		vgi_warn("virtio-gpu: MAP_BLOB %u: %llu bytes at offset 0x%llx of a %llu-byte region%s", res->id,
			 (unsigned long long)res->blob_size, (unsigned long long)c.offset,
			 (unsigned long long)gpu->region_size, res->mapped ? ": already mapped" : "");
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	for (const struct vgi_gpu_resource *m = gpu->mapped; m; m = m->map_next) {
		if (c.offset < m->map_offset + m->map_size && m->map_offset < c.offset + res->blob_size) {
			vgi_warn("virtio-gpu: MAP_BLOB %u at 0x%llx: overlaps blob %u at 0x%llx", res->id,
				 (unsigned long long)c.offset, m->id, (unsigned long long)m->map_offset);
			cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
			return;
		}
	}
	err = gpu->renderer->ops->blob_map(gpu->renderer, res, &ptr, &size, &info);
	if (err) {
		cmd->error = err;
		return;
	}
	/* the guest sees blob_size bytes: the host mapping must hold them all */
	if (!ptr || size < res->blob_size) {
		vgi_warn("virtio-gpu: MAP_BLOB %u: the renderer maps %llu bytes, the blob has %llu", res->id,
			 (unsigned long long)size, (unsigned long long)res->blob_size);
		if (gpu->renderer->ops->blob_unmap)
			gpu->renderer->ops->blob_unmap(gpu->renderer, res);
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (gpu->mapper.map(gpu->mapper_opaque, c.offset, ptr, res->blob_size) < 0) {
		vgi_warn("virtio-gpu: MAP_BLOB %u: the embedder could not map it at 0x%llx", res->id,
			 (unsigned long long)c.offset);
		if (gpu->renderer->ops->blob_unmap)
			gpu->renderer->ops->blob_unmap(gpu->renderer, res);
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	res->mapped = true;
	res->map_offset = c.offset;
	res->map_size = res->blob_size;
	res->map_next = gpu->mapped;
	gpu->mapped = res;
	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = VIRTIO_GPU_RESP_OK_MAP_INFO;
	resp.map_info = info;
	vgi_gpu_cmd_respond(gpu, cmd, &resp.hdr, sizeof(resp));
}

static void cmd_unmap_blob(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_unmap_blob c;
	struct vgi_gpu_resource *res;

	if (!blob_offered(gpu, cmd) || !vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	res = find_or_error(gpu, cmd, c.resource_id, false, "UNMAP_BLOB");
	if (!res)
		return;
	if (!res->mapped) {
		vgi_warn("virtio-gpu: UNMAP_BLOB %u: not mapped", res->id);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	blob_unmap(gpu, res);
}

static void process_cmd(struct vgi_gpu *gpu, struct vgi_gpu_cmd *cmd)
{
	struct vgi_gpu_renderer *r = gpu->renderer;

	if (!cmd_fetch(gpu, cmd)) {
		vgi_warn("virtio-gpu: control command shorter than its header");
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (r->ops->process_cmd && r->ops->process_cmd(r, cmd))
		return;
	switch (cmd->hdr.type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO: cmd_get_display_info(gpu, cmd); break;
	case VIRTIO_GPU_CMD_GET_EDID: cmd_get_edid(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D: cmd_resource_create_2d(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_UNREF: cmd_resource_unref(gpu, cmd); break;
	case VIRTIO_GPU_CMD_SET_SCANOUT: cmd_set_scanout(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: cmd_resource_flush(gpu, cmd); break;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: cmd_transfer_to_host_2d(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING: cmd_attach_backing(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: cmd_detach_backing(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID: cmd_assign_uuid(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB: cmd_resource_create_blob(gpu, cmd); break;
	case VIRTIO_GPU_CMD_SET_SCANOUT_BLOB: cmd_set_scanout_blob(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB: cmd_map_blob(gpu, cmd); break;
	case VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB: cmd_unmap_blob(gpu, cmd); break;
	default:
		/* 3D and capset commands without a renderer for them, and garbage */
		vgi_warn("virtio-gpu: unsupported control command 0x%x", cmd->hdr.type);
		cmd->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		break;
	}
}

static void process_ctrl(struct vgi_gpu *gpu)
{
	struct vgi_virtqueue *vq = gpu->vdev.queues[0];
	struct vgi_vq_elem *elem;

	while ((elem = vgi_virtqueue_pop(vq))) {
		struct vgi_gpu_cmd *cmd = calloc(1, sizeof(*cmd));

		if (!cmd) {
			vgi_error("virtio-gpu: out of memory for a command");
			vgi_virtqueue_push(vq, elem, 0);
			gpu->ctrl_pushed = true;
			continue;
		}
		cmd->elem = elem;
		process_cmd(gpu, cmd);
		if (!cmd->finished && !cmd->error && (cmd->hdr.flags & VIRTIO_GPU_FLAG_FENCE) &&
		    gpu->renderer->ops->fence && gpu->renderer->ops->fence(gpu->renderer, cmd)) {
			cmd->next = gpu->held;
			gpu->held = cmd;
			continue;
		}
		if (!cmd->finished)
			respond_nodata(gpu, cmd, cmd->error ? cmd->error : VIRTIO_GPU_RESP_OK_NODATA);
		free(cmd);
	}
	if (gpu->ctrl_pushed) {
		gpu->ctrl_pushed = false;
		vgi_virtio_device_notify(&gpu->vdev, 0);
	}
}

/* ---------------------------------------------------------------- cursor queue */

static void update_cursor(struct vgi_gpu *gpu, const struct virtio_gpu_update_cursor *c)
{
	struct gpu_scanout *so;
	bool move = c->hdr.type == VIRTIO_GPU_CMD_MOVE_CURSOR;

	if (c->hdr.type != VIRTIO_GPU_CMD_UPDATE_CURSOR && !move) {
		vgi_warn("virtio-gpu: command 0x%x on the cursor queue", c->hdr.type);
		return;
	}
	if (c->pos.scanout_id >= gpu->num_scanouts) {
		vgi_warn("virtio-gpu: cursor on scanout %u (have %u)", c->pos.scanout_id, gpu->num_scanouts);
		return;
	}
	so = &gpu->scanouts[c->pos.scanout_id];
	so->cursor.image_changed = false;
	if (!move) {
		so->cursor.hot_x = c->hot_x;
		so->cursor.hot_y = c->hot_y;
		if (c->resource_id) {
			struct vgi_gpu_resource *res = vgi_gpu_resource_find(gpu, c->resource_id);

			if (!res)
				vgi_warn("virtio-gpu: UPDATE_CURSOR: resource %u does not exist", c->resource_id);
			else if (res->blob && res->blob_mem == VIRTIO_GPU_BLOB_MEM_GUEST) {
				/* 64x64 ARGB8888 words at the blob's start (as QEMU) */
				if (res->blob_size >= sizeof(so->cursor_pixels) &&
				    vgi_gpu_backing_read(res, 0, so->cursor_pixels, sizeof(so->cursor_pixels), false))
					so->cursor.image_changed = true;
				else
					vgi_warn("virtio-gpu: UPDATE_CURSOR: blob %u is smaller than a %ux%u image",
						 res->id, VGI_CURSOR_SIZE, VGI_CURSOR_SIZE);
			} else if (gpu->renderer->ops->cursor_image &&
				 gpu->renderer->ops->cursor_image(gpu->renderer, res, so->cursor_pixels))
				so->cursor.image_changed = true;
			else
				vgi_warn("virtio-gpu: UPDATE_CURSOR: resource %u is not a %ux%u image", res->id,
					 VGI_CURSOR_SIZE, VGI_CURSOR_SIZE);
		}
	}
	so->cursor.x = (int32_t)c->pos.x;
	so->cursor.y = (int32_t)c->pos.y;
	so->cursor.visible = c->resource_id != 0;
	so->cursor.pixels = so->cursor_pixels;
	sinks_cursor(gpu, c->pos.scanout_id, &so->cursor);
	so->cursor.image_changed = false;
}

static void process_cursor(struct vgi_gpu *gpu)
{
	struct vgi_virtqueue *vq = gpu->vdev.queues[1];
	struct vgi_vq_elem *elem;
	bool pushed = false;

	while ((elem = vgi_virtqueue_pop(vq))) {
		struct virtio_gpu_update_cursor c;

		if (vgi_iov_to_buf(elem->out_sg, elem->out_num, 0, &c, sizeof(c)) != sizeof(c))
			vgi_warn("virtio-gpu: cursor command shorter than %zu bytes", sizeof(c));
		else
			update_cursor(gpu, &c);
		vgi_virtqueue_push(vq, elem, 0);
		pushed = true;
	}
	if (pushed)
		vgi_virtio_device_notify(&gpu->vdev, 1);
}

/* ---------------------------------------------------------------- virtio device ops */

static uint64_t gpu_get_features(struct vgi_virtio_device *dev)
{
	struct vgi_gpu *gpu = to_gpu(dev);
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		     (1ull << VIRTIO_RING_F_INDIRECT_DESC);

	if (gpu->edid)
		f |= 1ull << VIRTIO_GPU_F_EDID;
	if (gpu->resource_uuid)
		f |= 1ull << VIRTIO_GPU_F_RESOURCE_UUID;
	if (gpu->blob)
		f |= 1ull << VIRTIO_GPU_F_RESOURCE_BLOB;
	if (gpu->renderer->ops->features)
		f |= gpu->renderer->ops->features(gpu->renderer);
	return f;
}

static void gpu_set_features(struct vgi_virtio_device *dev, uint64_t acked)
{
	struct vgi_gpu *gpu = to_gpu(dev);

	if (gpu->renderer->ops->set_features)
		gpu->renderer->ops->set_features(gpu->renderer, acked);
}

static void do_reset(struct vgi_gpu *gpu);

static void gpu_queue_notify(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_gpu *gpu = to_gpu(dev);

	if (index > 1)
		return;
	/* a sink or host callback that kicks again from inside is served after, not nested */
	if (gpu->busy[index]) {
		gpu->again[index] = true;
		return;
	}
	gpu->busy[index] = true;
	do {
		gpu->again[index] = false;
		if (index == 0)
			process_ctrl(gpu);
		else
			process_cursor(gpu);
	} while (gpu->again[index] && !gpu->reset_pending);
	gpu->busy[index] = false;
	if (gpu->reset_pending && !gpu->busy[0] && !gpu->busy[1])
		do_reset(gpu);
}

/*
 * The control ring stops (VM stop, guest reset, ring moved): no command may
 * stay held past this, or its answer would go to guest memory and a ring
 * that are no longer ours. The renderer retires what retires within a short
 * wait; what is still waiting for its fence is answered now.
 */
static void gpu_queue_stop(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_gpu *gpu = to_gpu(dev);
	struct vgi_gpu_renderer *r = gpu->renderer;
	unsigned n = 0;

	if (index != 0)
		return;	/* the cursor queue never holds */
	edid_waiters_answer(gpu, UINT32_MAX);	/* with the EDID the device has now */
	if (!gpu->held)
		return;
	if (r->ops->settle)
		r->ops->settle(r);
	while (gpu->held) {
		struct vgi_gpu_cmd *c = gpu->held;

		gpu->held = c->next;
		respond_nodata(gpu, c, c->error ? c->error : VIRTIO_GPU_RESP_OK_NODATA);
		free(c);
		n++;
	}
	if (n)
		vgi_warn("virtio-gpu: control queue stopped with %u fenced commands still running: answered now", n);
	if (gpu->ctrl_pushed) {
		gpu->ctrl_pushed = false;
		vgi_virtio_device_notify(&gpu->vdev, 0);
	}
}

static void gpu_read_config(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vgi_gpu *gpu = to_gpu(dev);

	gpu->config.num_capsets = gpu->renderer->ops->num_capsets ? gpu->renderer->ops->num_capsets(gpu->renderer)
								  : 0;
	memcpy(buf, (const uint8_t *)&gpu->config + offset, len);
}

static void gpu_write_config(struct vgi_virtio_device *dev, uint32_t offset, const void *buf, uint32_t len)
{
	struct vgi_gpu *gpu = to_gpu(dev);
	struct virtio_gpu_config tmp = gpu->config;
	const uint32_t clear_at = offsetof(struct virtio_gpu_config, events_clear);

	tmp.events_clear = 0;
	memcpy((uint8_t *)&tmp + offset, buf, len);
	/* only events_clear is writable: write 1 to clear */
	if (offset < clear_at + 4 && offset + len > clear_at)
		gpu->config.events_read &= ~tmp.events_clear;
}

static void do_reset(struct vgi_gpu *gpu)
{
	gpu->reset_pending = false;
	free_held(gpu);
	edid_waiters_drop(gpu);
	destroy_all_resources(gpu);
	for (uint32_t sid = 0; sid < gpu->num_scanouts; sid++) {
		struct gpu_scanout *so = &gpu->scanouts[sid];

		if (so->cursor.visible) {
			so->cursor.visible = false;
			so->cursor.image_changed = false;
			sinks_cursor(gpu, sid, &so->cursor);
		}
		memset(&so->cursor, 0, sizeof(so->cursor));
	}
	if (gpu->renderer->ops->reset)
		gpu->renderer->ops->reset(gpu->renderer);
}

static void gpu_reset(struct vgi_virtio_device *dev)
{
	struct vgi_gpu *gpu = to_gpu(dev);

	/* from a sink or host callback in the middle of a command: finish that command first */
	if (gpu->busy[0] || gpu->busy[1]) {
		gpu->reset_pending = true;
		return;
	}
	do_reset(gpu);
}

static void gpu_memory_changed(struct vgi_virtio_device *dev)
{
	struct vgi_gpu *gpu = to_gpu(dev);
	uint32_t b = 0;

	/* backing iovecs point into the old mapping: translate the guest's entries again */
	for (struct vgi_idmap_node *node = vgi_idmap_next(&gpu->resources, &b, NULL); node;
	     node = vgi_idmap_next(&gpu->resources, &b, node)) {
		struct vgi_gpu_resource *res = res_of(node);
		struct virtio_gpu_mem_entry *entries = res->entries;
		uint32_t n = res->nentries;

		if (!res->iov)
			continue;
		if (gpu->renderer->ops->detach_backing && !res->blob)
			gpu->renderer->ops->detach_backing(gpu->renderer, res);
		/* keep the entries (charged again), drop the mapping */
		res->entries = NULL;
		res->nentries = 0;
		backing_free(gpu, res);
		res->entries = entries;
		res->nentries = n;
		if (backing_charge(gpu, res, (uint64_t)n * sizeof(*entries)) && backing_map(gpu, res) == 0 &&
		    (res->blob || !gpu->renderer->ops->attach_backing ||
		     gpu->renderer->ops->attach_backing(gpu->renderer, res) == 0))
			continue;
		vgi_warn("virtio-gpu: resource %u: backing no longer in guest memory; detached", res->id);
		backing_free(gpu, res);
	}
}

static const struct vgi_virtio_device_ops gpu_ops = {
	.get_features = gpu_get_features,
	.set_features = gpu_set_features,
	.queue_notify = gpu_queue_notify,
	.read_config = gpu_read_config,
	.write_config = gpu_write_config,
	.queue_stop = gpu_queue_stop,
	.reset = gpu_reset,
	.memory_changed = gpu_memory_changed,
};

/* ---------------------------------------------------------------- public API */

struct vgi_gpu *vgi_gpu_new(const struct vgi_gpu_config *cfg)
{
	struct vgi_gpu_config def;
	struct vgi_gpu *gpu;

	if (!cfg) {
		vgi_gpu_config_init(&def);
		cfg = &def;
	}
	if (cfg->num_scanouts > VGI_MAX_SCANOUTS) {
		vgi_error("virtio-gpu: %u scanouts (1..%u)", cfg->num_scanouts, VGI_MAX_SCANOUTS);
		return NULL;
	}
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		if (cfg->outputs[i].width > MAX_OUTPUT_SIZE || cfg->outputs[i].height > MAX_OUTPUT_SIZE) {
			vgi_error("virtio-gpu: output %u: %ux%u is larger than %u", i, cfg->outputs[i].width,
				  cfg->outputs[i].height, MAX_OUTPUT_SIZE);
			return NULL;
		}
	}
	gpu = calloc(1, sizeof(*gpu));
	if (!gpu)
		return NULL;
	if (vgi_idmap_init(&gpu->resources)) {
		free(gpu);
		return NULL;
	}
	if (vgi_virtio_device_init(&gpu->vdev, &gpu_ops, VIRTIO_ID_GPU, 2, sizeof(struct virtio_gpu_config))) {
		vgi_idmap_fini(&gpu->resources);
		free(gpu);
		return NULL;
	}
	gpu->num_scanouts = cfg->num_scanouts ? cfg->num_scanouts : 1;
	gpu->max_hostmem = cfg->max_hostmem ? cfg->max_hostmem : VGI_GPU_DEFAULT_MAX_HOSTMEM;
	gpu->max_resources = cfg->max_resources ? cfg->max_resources : VGI_GPU_DEFAULT_MAX_RESOURCES;
	gpu->edid = cfg->edid;
	gpu->resource_uuid = cfg->resource_uuid;
	gpu->blob = cfg->blob;
	gpu->region_size = cfg->hostmem_region_size;
	gpu->config.num_scanouts = gpu->num_scanouts;
	for (uint32_t i = 0; i < gpu->num_scanouts; i++) {
		struct gpu_output *o = &gpu->outputs[i];

		o->connected = !cfg->outputs[i].disconnected;
		o->width = cfg->outputs[i].width ? cfg->outputs[i].width : VGI_GPU_DEFAULT_WIDTH;
		o->height = cfg->outputs[i].height ? cfg->outputs[i].height : VGI_GPU_DEFAULT_HEIGHT;
	}
	if (cfg->virgl) {
#ifdef VGI_GPU_VIRGL_RENDERER
		gpu->renderer = vgi_gpu_renderer_virgl_new(gpu, cfg);
#else
		vgi_error("virtio-gpu: 3D (virgl) requested but not built in");
#endif
	} else {
		gpu->renderer = vgi_gpu_renderer_2d_new(gpu);
	}
	if (!gpu->renderer) {
		vgi_virtio_device_finish(&gpu->vdev);
		vgi_idmap_fini(&gpu->resources);
		free(gpu);
		return NULL;
	}
	return gpu;
}

void vgi_gpu_free(struct vgi_gpu *gpu)
{
	if (!gpu)
		return;
	free_held(gpu);
	edid_waiters_drop(gpu);
	destroy_all_resources(gpu);
	if (gpu->renderer->ops->destroy)
		gpu->renderer->ops->destroy(gpu->renderer);
	for (unsigned i = 0; i < gpu->nsinks; i++) {
		if (gpu->sinks[i].ops->destroy)
			gpu->sinks[i].ops->destroy(gpu->sinks[i].sink);
	}
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++)
		free(gpu->outputs[i].edid);
	vgi_virtio_device_finish(&gpu->vdev);
	vgi_idmap_fini(&gpu->resources);
	free(gpu);
}

struct vgi_virtio_device *vgi_gpu_virtio(struct vgi_gpu *gpu)
{
	return &gpu->vdev;
}

int vgi_gpu_set_blob_mapper(struct vgi_gpu *gpu, const struct vgi_gpu_blob_mapper *mapper, void *opaque)
{
	if (mapper && (!mapper->map || !mapper->unmap))
		return -EINVAL;
	if (gpu->mapped)
		return -EBUSY;
	if (mapper)
		gpu->mapper = *mapper;
	else
		memset(&gpu->mapper, 0, sizeof(gpu->mapper));
	gpu->mapper_opaque = opaque;
	return 0;
}

int vgi_gpu_add_sink(struct vgi_gpu *gpu, const struct vgi_display_ops *ops, void *sink)
{
	if (!ops)
		return -EINVAL;
	if (gpu->nsinks == MAX_SINKS)
		return -ENOSPC;
	gpu->sinks[gpu->nsinks++] = (struct vgi_display_sink){ ops, sink };
	return 0;
}

int vgi_gpu_set_output(struct vgi_gpu *gpu, uint32_t id, bool connected, uint32_t width, uint32_t height)
{
	struct gpu_output *o;

	if (id >= gpu->num_scanouts)
		return -EINVAL;
	if (connected && (width == 0 || height == 0 || width > MAX_OUTPUT_SIZE || height > MAX_OUTPUT_SIZE))
		return -EINVAL;
	o = &gpu->outputs[id];
	if (!connected) {
		width = o->width;
		height = o->height;
	}
	if (o->connected == connected && o->width == width && o->height == height)
		return 0;
	o->connected = connected;
	o->width = width;
	o->height = height;
	gpu->config.events_read |= VIRTIO_GPU_EVENT_DISPLAY;
	vgi_virtio_device_config_changed(&gpu->vdev);
	return 0;
}

int vgi_gpu_get_edid(struct vgi_gpu *gpu, uint32_t id, uint8_t *edid, uint32_t *size)
{
	const struct gpu_output *o;

	if (id >= gpu->num_scanouts || !edid || !size)
		return -EINVAL;
	o = &gpu->outputs[id];
	if (o->edid) {
		if (*size < o->edid_size)
			return -EINVAL;
		memcpy(edid, o->edid, o->edid_size);
		*size = o->edid_size;
		return 0;
	}
	{
		uint8_t gen[VGI_EDID_MAX_SIZE];
		unsigned n = vgi_edid_generate(gen, id, o->width, o->height);

		if (*size < n)
			return -EINVAL;
		memcpy(edid, gen, n);
		*size = n;
	}
	return 0;
}

int vgi_gpu_set_edid(struct vgi_gpu *gpu, uint32_t id, const uint8_t *blob, uint32_t size)
{
	struct gpu_output *o;
	uint8_t *copy = NULL;

	if (id >= gpu->num_scanouts || size > MAX_EDID_SIZE || (size && (!blob || size % 128)))
		return -EINVAL;
	if (size) {
		copy = malloc(size);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, blob, size);
	}
	o = &gpu->outputs[id];
	free(o->edid);
	o->edid = copy;
	o->edid_size = size;
	o->edid_expected = false;
	edid_waiters_answer(gpu, id);
	return 0;
}

int vgi_gpu_expect_edid(struct vgi_gpu *gpu, uint32_t id, bool expected)
{
	if (!gpu || id >= gpu->num_scanouts)
		return -EINVAL;
	gpu->outputs[id].edid_expected = expected;
	if (!expected)
		edid_waiters_answer(gpu, id);
	return 0;
}

static void host_output_changed(void *opaque, uint32_t id, bool connected, uint32_t width, uint32_t height)
{
	if (vgi_gpu_set_output(opaque, id, connected, width, height) < 0)
		vgi_warn("virtio-gpu: sink asked for output %u %s %ux%u: refused", id,
			 connected ? "connected" : "disconnected", width, height);
}

static void host_edid(void *opaque, uint32_t id, const uint8_t *blob, uint32_t size)
{
	if (vgi_gpu_set_edid(opaque, id, blob, size) < 0)
		vgi_warn("virtio-gpu: frontend EDID for output %u (%u bytes) refused", id, size);
}

void vgi_gpu_display_host_init(struct vgi_gpu *gpu, struct vgi_display_host *host)
{
	memset(host, 0, sizeof(*host));
	host->output_changed = host_output_changed;
	host->edid = host_edid;
	host->opaque = gpu;
}

int vgi_gpu_get_fd(struct vgi_gpu *gpu)
{
	return gpu->renderer->ops->get_fd ? gpu->renderer->ops->get_fd(gpu->renderer) : -1;
}

void vgi_gpu_dispatch(struct vgi_gpu *gpu)
{
	if (gpu->renderer->ops->dispatch)
		gpu->renderer->ops->dispatch(gpu->renderer);
}
