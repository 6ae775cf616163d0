// SPDX-License-Identifier: MIT
/*
 * The virgl renderer behind the virtio-gpu core (virtio-gpu-renderer.h):
 * decodes the 3D and capset commands, routes the core's 2D resource work
 * to virglrenderer, holds fenced commands until their fence retires, and
 * gives sinks a texture/dmabuf or read-back pixels (only the flushed area).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <vgi/gpu.h>
#include <vgi/guest-memory.h>
#include <vgi/log.h>

#include "../virtio-gpu-renderer.h"
#include "virgl.h"

/* Per resource: the read-back copy for pixel sinks. */
struct vres {
	uint8_t *pixels;	/* width * height * 4, allocated on the first get_image */
	uint64_t pixels_charge;
	bool stale;		/* read everything on the next get_image */
	bool dirty;
	uint64_t full_gen;	/* pixels were all current at this render generation (0: never) */
	bool pending;		/* a fenced flush's pixels go to sinks after its fence */
	bool gl;		/* shown through a dmabuf: sinks with GL need no pixels */
	struct vgi_rect damage;	/* flushed since the last read-back (bounding box) */
};

struct vrenderer {
	struct vgi_gpu_renderer base;
	struct vgi_virgl *v;
	bool context_init;
	uint8_t *submit_buf;	/* reused SUBMIT_3D copy, grows up to VGI_VIRGL_MAX_SUBMIT */
	size_t submit_cap;
	/* VGI_VIRGL_STATS=1: time of SUBMIT_3D in this handler and inside virglrenderer */
	uint64_t gen;		/* bumped by everything that may change pixels (submits, uploads) */
	/* what each scanout showed last (from SET_SCANOUT), to spot page flips */
	struct { uint32_t w, h; bool on; } shown[VGI_MAX_SCANOUTS];
	bool defer_image;	/* the SET_SCANOUT being processed is a page flip */
	bool defer_flush;	/* the RESOURCE_FLUSH being processed is fenced: pixels after the fence */
	uint32_t pending[32];	/* resources with deferred flush pixels */
	unsigned npending;
	/*
	 * Pixel sinks get at most one frame per refresh interval, like a
	 * display: a guest flipping faster has its in-between frames
	 * superseded, not read back. The last frame always goes out: a
	 * one-shot timer (armed only while pixels wait) sends it. The
	 * device's fd is an epoll set of virglrenderer's fence eventfd and
	 * that timer.
	 */
	int epfd, tfd;
	bool timer_armed;
	uint64_t last_delivery_ns, refresh_ns;
	bool stats;
	uint64_t n_submit, submit_bytes, ns_handler, ns_virgl;
	uint64_t n_read, read_bytes, ns_read, n_image;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static struct vrenderer *to_vr(struct vgi_gpu_renderer *r)
{
	return (struct vrenderer *)r;
}

static bool vr_charge(void *opaque, uint64_t bytes)
{
	struct vrenderer *vr = opaque;
	return vgi_gpu_hostmem_charge(vr->base.gpu, bytes);
}

static void vr_release(void *opaque, uint64_t bytes)
{
	struct vrenderer *vr = opaque;
	vgi_gpu_hostmem_release(vr->base.gpu, bytes);
}

static void vr_fence_done(void *opaque, void *data, uint32_t ctx_id, uint32_t ring_idx, uint64_t fence_id)
{
	struct vrenderer *vr = opaque;
	vgi_gpu_cmd_finish(vr->base.gpu, data);
}

/*
 * Pixels of fenced flushes, sent after the guest got its answer: the guest
 * renders its next frame while this process reads back and feeds pixel
 * sinks (a flip's fence waits for the GPU, not for the sinks).
 */
static void run_pending(struct vrenderer *vr)
{
	unsigned n = vr->npending;
	vr->npending = 0;
	vr->defer_flush = vr->defer_image = false;
	for (unsigned i = 0; i < n; i++) {
		struct vgi_gpu_resource *res = vgi_gpu_resource_find(vr->base.gpu, vr->pending[i]);
		struct vres *vs = res ? res->priv : NULL;
		if (!vs || !vs->pending)
			continue;
		vs->pending = false;
		if (vs->dirty) {
			struct vgi_rect d = vs->damage;
			vgi_gpu_resource_damage(vr->base.gpu, res, &d);
		}
	}
}

/* ---- ops ---- */

static uint64_t vr_features(struct vgi_gpu_renderer *r)
{
	uint64_t f = 1ull << VIRTIO_GPU_F_VIRGL;
	if (to_vr(r)->context_init)
		f |= 1ull << VIRTIO_GPU_F_CONTEXT_INIT;
	return f;
}

static uint32_t vr_num_capsets(struct vgi_gpu_renderer *r)
{
	return vgi_virgl_num_capsets(to_vr(r)->v);
}

static void vr_destroy(struct vgi_gpu_renderer *r)
{
	struct vrenderer *vr = to_vr(r);
	if (vr->stats && vr->n_submit) {
		double n = (double)vr->n_submit;
		vgi_info("virgl: stats: %llu SUBMIT_3D, %.0f bytes average; virglrenderer %.2f us, "
			 "vgi's handler around it %.3f us (%.2f%%) per submit",
			 (unsigned long long)vr->n_submit, vr->submit_bytes / n, vr->ns_virgl / n / 1000.0,
			 (vr->ns_handler - vr->ns_virgl) / n / 1000.0,
			 vr->ns_virgl ? 100.0 * (vr->ns_handler - vr->ns_virgl) / vr->ns_virgl : 0.0);
		vgi_info("virgl: stats: %llu images for pixel sinks, %llu read-backs of %.0f KiB average, %.2f ms each",
			 (unsigned long long)vr->n_image, (unsigned long long)vr->n_read,
			 vr->n_read ? vr->read_bytes / 1024.0 / vr->n_read : 0.0,
			 vr->n_read ? vr->ns_read / 1e6 / vr->n_read : 0.0);
	}
	vgi_virgl_free(vr->v);
	if (vr->epfd >= 0)
		close(vr->epfd);
	if (vr->tfd >= 0)
		close(vr->tfd);
	free(vr->submit_buf);
	free(vr);
}

static void vr_reset(struct vgi_gpu_renderer *r)
{
	to_vr(r)->npending = 0;
	vgi_virgl_reset(to_vr(r)->v);
}

static struct vres *vres_of(struct vgi_gpu_resource *res)
{
	return res->priv;
}

/*
 * Our state of a resource virglrenderer just made (charged; released with
 * the resource). When it fails, the resource goes from virglrenderer too:
 * with res->priv unset, resource_destroy would not know it is there.
 */
static uint32_t vres_attach(struct vrenderer *vr, struct vgi_gpu_resource *res)
{
	struct vres *vs = NULL;
	if (vgi_gpu_hostmem_charge(vr->base.gpu, sizeof(*vs))) {
		vs = calloc(1, sizeof(*vs));
		if (!vs)
			vgi_gpu_hostmem_release(vr->base.gpu, sizeof(*vs));
	}
	if (!vs) {
		vgi_warn("virgl: resource %u: no room for its state", res->id);
		vgi_virgl_resource_unref(vr->v, res->id);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	res->hostmem += sizeof(*vs);
	vs->stale = true;
	res->priv = vs;
	return 0;
}

static void cmd_create_3d(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_create_3d c;
	struct vgi_gpu_resource *res;
	uint32_t err;

	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	err = vgi_gpu_resource_add(vr->base.gpu, c.resource_id, &res);
	if (err) {
		cmd->error = err;
		return;
	}
	res->width = c.width;
	res->height = c.height;
	res->virtio_format = c.format;
	res->fourcc = c.target == 2 ? vgi_format_from_virtio_gpu(c.format) : 0;
	err = vgi_virgl_resource_create_3d(vr->v, &c);
	if (err == VIRTIO_GPU_RESP_OK_NODATA)
		err = vres_attach(vr, res);
	else
		err = err ? err : VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (err) {
		vgi_gpu_resource_destroy(vr->base.gpu, res);
		cmd->error = err;
	}
}

static void cmd_ctx_create(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_ctx_create c;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	if (!vr->context_init && c.context_init) {
		vgi_warn("virgl: CTX_CREATE %u: context_init 0x%x without CONTEXT_INIT", c.hdr.ctx_id,
			 c.context_init);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	uint32_t nlen = c.nlen < sizeof(c.debug_name) ? c.nlen : sizeof(c.debug_name);
	uint32_t err = vgi_virgl_ctx_create(vr->v, c.hdr.ctx_id, c.context_init, c.debug_name, nlen);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		cmd->error = err;
}

static void cmd_ctx_resource(struct vrenderer *vr, struct vgi_gpu_cmd *cmd, bool attach)
{
	struct virtio_gpu_ctx_resource c;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	uint32_t err = attach ? vgi_virgl_ctx_attach(vr->v, c.hdr.ctx_id, c.resource_id)
			      : vgi_virgl_ctx_detach(vr->v, c.hdr.ctx_id, c.resource_id);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		cmd->error = err;
}

static void cmd_submit(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_cmd_submit c;
	uint64_t t0 = vr->stats ? now_ns() : 0;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	/* bounded before anything is allocated, and against what the guest really sent */
	uint64_t have = cmd->out_size - sizeof(c);	/* >= 0: the struct was there */
	if (c.size > VGI_VIRGL_MAX_SUBMIT || c.size % 4 || have < c.size) {
		vgi_warn("virgl: SUBMIT_3D of %u bytes (%llu sent, limit %u)", c.size, (unsigned long long)have,
			 VGI_VIRGL_MAX_SUBMIT);
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (c.size > vr->submit_cap) {
		size_t cap = vr->submit_cap ? vr->submit_cap : 4096;
		while (cap < c.size)
			cap *= 2;
		uint8_t *b = realloc(vr->submit_buf, cap);
		if (!b) {
			cmd->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
			return;
		}
		vr->submit_buf = b;
		vr->submit_cap = cap;
	}
	/* a copy, read once: the guest may change its buffer while virglrenderer decodes */
	if (c.size && !vgi_gpu_cmd_read_tail(cmd, sizeof(c), vr->submit_buf, c.size)) {
		cmd->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	uint64_t t1 = vr->stats ? now_ns() : 0;
	vr->gen++;
	uint32_t err = vgi_virgl_submit(vr->v, c.hdr.ctx_id, vr->submit_buf, c.size);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		cmd->error = err;
	if (vr->stats) {
		uint64_t t2 = now_ns();
		vr->n_submit++;
		vr->submit_bytes += c.size;
		vr->ns_virgl += t2 - t1;
		vr->ns_handler += t2 - t0;
	}
}

static void cmd_transfer_3d(struct vrenderer *vr, struct vgi_gpu_cmd *cmd, bool to_host)
{
	struct virtio_gpu_transfer_host_3d c;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	uint32_t err = vgi_virgl_transfer_3d(vr->v, &c, c.hdr.ctx_id, to_host);
	if (err != VIRTIO_GPU_RESP_OK_NODATA) {
		cmd->error = err;
		return;
	}
	if (to_host)
		vr->gen++;
}

static void cmd_capset_info(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_get_capset_info c;
	struct virtio_gpu_resp_capset_info resp;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	memset(&resp, 0, sizeof(resp));	/* CVE-2021-3545 */
	uint32_t t = vgi_virgl_capset_info(vr->v, c.capset_index, &resp.capset_id, &resp.capset_max_version,
					   &resp.capset_max_size);
	if (t != VIRTIO_GPU_RESP_OK_CAPSET_INFO) {
		cmd->error = t;
		return;
	}
	resp.hdr.type = t;
	vgi_gpu_cmd_respond(vr->base.gpu, cmd, &resp.hdr, sizeof(resp));
}

static void cmd_capset(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_get_capset c;
	uint32_t size;
	if (!vgi_gpu_cmd_read(cmd, &c, sizeof(c)))
		return;
	/* CVE-2016-10028 / CVE-2021-3546: the size is ours (bounded), never the guest's */
	uint32_t t = vgi_virgl_capset_size(vr->v, c.capset_id, c.capset_version, &size);
	if (t != VIRTIO_GPU_RESP_OK_CAPSET) {
		cmd->error = t;
		return;
	}
	struct virtio_gpu_resp_capset *resp = calloc(1, sizeof(*resp) + size);
	if (!resp) {
		cmd->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return;
	}
	vgi_virgl_capset_fill(vr->v, c.capset_id, c.capset_version, resp->capset_data);
	resp->hdr.type = t;
	vgi_gpu_cmd_respond(vr->base.gpu, cmd, &resp->hdr, sizeof(*resp) + size);
	free(resp);
}

static void arm_timer(struct vrenderer *vr, uint64_t due)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(due / 1000000000u),
						.tv_nsec = (long)(due % 1000000000u) } };
	if (due == 0)
		its.it_value.tv_nsec = 1;	/* zero would disarm */
	if (timerfd_settime(vr->tfd, 0, &its, NULL) == 0)
		vr->timer_armed = true;
	else
		run_pending(vr);
}

/* When the next frame may go to pixel sinks: 0 = now. */
static uint64_t next_frame_due(struct vrenderer *vr)
{
	uint64_t now = now_ns();
	return now - vr->last_delivery_ns >= vr->refresh_ns ? 0 : vr->last_delivery_ns + vr->refresh_ns - now;
}

/*
 * A flush of a scanout for pixel sinks: its pixels go out later, at most
 * one frame per refresh. Fenced flushes: after the answer (vr_dispatch);
 * others: when the timer says (right away if a refresh has passed).
 */
static void flush_defer(struct vrenderer *vr, struct vgi_gpu_cmd *cmd, struct vgi_gpu_resource *res)
{
	struct vres *vs = vres_of(res);
	if (vr->tfd < 0 || !res->scanout_mask || vs->gl)
		return;
	if (!vs->pending) {
		if (vr->npending >= sizeof(vr->pending) / sizeof(vr->pending[0]))
			return;
		vr->pending[vr->npending++] = res->id;
		vs->pending = true;
	}
	vr->defer_flush = true;
	if (!(cmd->hdr.flags & VIRTIO_GPU_FLAG_FENCE) && !vr->timer_armed)
		arm_timer(vr, next_frame_due(vr));
}

/* Peek at a core command (without answering) to track what pixel sinks need. */
static void peek_flush(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_resource_flush c;
	if (!vgi_gpu_cmd_peek(cmd, &c, sizeof(c)))
		return;
	struct vgi_gpu_resource *res = vgi_gpu_resource_find(vr->base.gpu, c.resource_id);
	if (!res || !res->priv)
		return;
	struct vres *vs = vres_of(res);
	struct vgi_rect d = { c.r.x, c.r.y, c.r.width, c.r.height };
	if (!vgi_rect_clip(&d, res->width, res->height))
		return;
	if (!vs->dirty) {
		vs->damage = d;
		vs->dirty = true;
		flush_defer(vr, cmd, res);
		return;
	}
	flush_defer(vr, cmd, res);
	uint64_t x1 = vs->damage.x < d.x ? vs->damage.x : d.x;
	uint64_t y1 = vs->damage.y < d.y ? vs->damage.y : d.y;
	uint64_t x2 = (uint64_t)vs->damage.x + vs->damage.width, y2 = (uint64_t)vs->damage.y + vs->damage.height;
	if ((uint64_t)d.x + d.width > x2)
		x2 = (uint64_t)d.x + d.width;
	if ((uint64_t)d.y + d.height > y2)
		y2 = (uint64_t)d.y + d.height;
	vs->damage = (struct vgi_rect){ (uint32_t)x1, (uint32_t)y1, (uint32_t)(x2 - x1), (uint32_t)(y2 - y1) };
}

static void peek_set_scanout(struct vrenderer *vr, struct vgi_gpu_cmd *cmd)
{
	struct virtio_gpu_set_scanout c;
	if (!vgi_gpu_cmd_peek(cmd, &c, sizeof(c)) || c.scanout_id >= VGI_MAX_SCANOUTS)
		return;
	struct vgi_gpu_resource *res = vgi_gpu_resource_find(vr->base.gpu, c.resource_id);
	if (!res || !res->priv) {
		vr->shown[c.scanout_id].on = false;
		return;
	}
	vres_of(res)->stale = true;
	/*
	 * A page flip (same visible size as before): the spec makes content
	 * visible with RESOURCE_FLUSH, and Linux sends one right after, so
	 * the pixels go to sinks once, with the flush, not twice.
	 */
	vr->defer_image = vr->shown[c.scanout_id].on && vr->shown[c.scanout_id].w == c.r.width &&
			  vr->shown[c.scanout_id].h == c.r.height;
	vr->shown[c.scanout_id].on = true;
	vr->shown[c.scanout_id].w = c.r.width;
	vr->shown[c.scanout_id].h = c.r.height;
}

static bool vr_process_cmd(struct vgi_gpu_renderer *r, struct vgi_gpu_cmd *cmd)
{
	struct vrenderer *vr = to_vr(r);
	vr->defer_image = false;
	vr->defer_flush = false;
	switch (cmd->hdr.type) {
	case VIRTIO_GPU_CMD_CTX_CREATE: cmd_ctx_create(vr, cmd); return true;
	case VIRTIO_GPU_CMD_CTX_DESTROY: {
		uint32_t err = vgi_virgl_ctx_destroy(vr->v, cmd->hdr.ctx_id);
		if (err != VIRTIO_GPU_RESP_OK_NODATA)
			cmd->error = err;
		return true;
	}
	case VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE: cmd_ctx_resource(vr, cmd, true); return true;
	case VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE: cmd_ctx_resource(vr, cmd, false); return true;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_3D: cmd_create_3d(vr, cmd); return true;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D: cmd_transfer_3d(vr, cmd, true); return true;
	case VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D: cmd_transfer_3d(vr, cmd, false); return true;
	case VIRTIO_GPU_CMD_SUBMIT_3D: cmd_submit(vr, cmd); return true;
	case VIRTIO_GPU_CMD_GET_CAPSET_INFO: cmd_capset_info(vr, cmd); return true;
	case VIRTIO_GPU_CMD_GET_CAPSET: cmd_capset(vr, cmd); return true;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: peek_flush(vr, cmd); return false;
	case VIRTIO_GPU_CMD_SET_SCANOUT: peek_set_scanout(vr, cmd); return false;
	default:
		/* core commands, blob commands included (host blobs come back through the ops) */
		return false;
	}
}

static bool vr_fence(struct vgi_gpu_renderer *r, struct vgi_gpu_cmd *cmd)
{
	struct vrenderer *vr = to_vr(r);
	bool per_ctx = cmd->hdr.flags & VIRTIO_GPU_FLAG_INFO_RING_IDX;
	vr->defer_flush = vr->defer_image = false;	/* the command is done with sinks */
	uint32_t err = vgi_virgl_create_fence(vr->v, cmd->hdr.ctx_id, per_ctx, cmd->hdr.ring_idx,
					      cmd->hdr.fence_id, cmd);
	if (err != VIRTIO_GPU_RESP_OK_NODATA) {
		cmd->error = err;
		run_pending(vr);
		return false;	/* answered now, with the error */
	}
	return true;
}

#define SETTLE_MS 1000	/* how long a stopping queue waits for running fences */

static void deliver_or_arm(struct vrenderer *vr);

/* The control queue stops: wait (bounded) for the fences in flight, then forget the rest. */
static void vr_settle(struct vgi_gpu_renderer *r)
{
	struct vrenderer *vr = to_vr(r);
	uint64_t deadline = now_ns() + SETTLE_MS * 1000000ull;
	int fd = vgi_virgl_get_fd(vr->v);

	for (;;) {
		vgi_virgl_dispatch(vr->v);	/* answers retired commands through vgi_gpu_cmd_finish */
		if (!vgi_virgl_pending_fences(vr->v) || now_ns() >= deadline)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, fd >= 0 ? 1 : 0, 5);
	}
	if (vgi_virgl_pending_fences(vr->v))
		vgi_warn("virgl: %u fences still running after %d ms", vgi_virgl_pending_fences(vr->v), SETTLE_MS);
	vgi_virgl_forget_fences(vr->v);
	deliver_or_arm(vr);
}

static int vr_get_fd(struct vgi_gpu_renderer *r)
{
	struct vrenderer *vr = to_vr(r);
	return vr->epfd >= 0 ? vr->epfd : vgi_virgl_get_fd(vr->v);
}

/* Deliver pending pixels now if a refresh interval has passed, else arm the timer for then. */
static void deliver_or_arm(struct vrenderer *vr)
{
	if (!vr->npending)
		return;
	uint64_t due = vr->tfd < 0 ? 0 : next_frame_due(vr);
	if (due == 0) {
		vr->last_delivery_ns = now_ns();
		run_pending(vr);
	} else if (!vr->timer_armed) {
		arm_timer(vr, due);
	}
}

static void vr_dispatch(struct vgi_gpu_renderer *r)
{
	struct vrenderer *vr = to_vr(r);
	if (vr->tfd >= 0) {
		uint64_t expirations;
		if (read(vr->tfd, &expirations, sizeof(expirations)) == sizeof(expirations))
			vr->timer_armed = false;
	}
	vgi_virgl_dispatch(vr->v);	/* answers held commands */
	deliver_or_arm(vr);		/* outside virglrenderer's fence callbacks */
}

static uint32_t vr_resource_create_2d(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	uint32_t err = vgi_virgl_resource_create_2d(to_vr(r)->v, res->id, res->virtio_format, res->width,
						    res->height);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		return err ? err : VIRTIO_GPU_RESP_ERR_UNSPEC;
	return vres_attach(to_vr(r), res);
}

static void vr_resource_destroy(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	struct vrenderer *vr = to_vr(r);
	struct vres *vs = vres_of(res);
	if (!vs)	/* virglrenderer never had it */
		return;
	vgi_virgl_resource_unref(vr->v, res->id);
	if (vs->pixels_charge)
		vgi_gpu_hostmem_release(vr->base.gpu, vs->pixels_charge);
	free(vs->pixels);
	free(vs);
	res->priv = NULL;
}

static uint32_t vr_attach_backing(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	if (!res->priv)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	uint32_t err = vgi_virgl_attach_backing(to_vr(r)->v, res->id, res->iov, res->niov);
	return err == VIRTIO_GPU_RESP_OK_NODATA ? 0 : err;
}

static void vr_detach_backing(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	if (res->priv)
		vgi_virgl_detach_backing(to_vr(r)->v, res->id);
}

static uint32_t vr_transfer_to_host_2d(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res,
				       const struct vgi_rect *rect, uint64_t offset)
{
	if (!res->priv)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	uint32_t err = vgi_virgl_transfer_to_host_2d(to_vr(r)->v, res->id, rect, offset);
	if (err == VIRTIO_GPU_RESP_OK_NODATA)
		to_vr(r)->gen++;
	return err == VIRTIO_GPU_RESP_OK_NODATA ? 0 : err;
}

/* Pixels for sinks without GL: only what was flushed since the last call is read back. */
static bool vr_get_image(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, struct vgi_image *img)
{
	struct vrenderer *vr = to_vr(r);
	struct vres *vs = vres_of(res);
	struct vgi_virgl_res_info info;
	if (!vs || vgi_virgl_resource_info(vr->v, res->id, &info) != VIRTIO_GPU_RESP_OK_NODATA || !info.fourcc)
		return false;
	uint32_t stride = res->width * 4;
	if (!vs->pixels) {
		uint64_t bytes = (uint64_t)stride * res->height;
		if (!vgi_gpu_hostmem_charge(vr->base.gpu, bytes))
			return false;
		vs->pixels = malloc(bytes);
		if (!vs->pixels) {
			vgi_gpu_hostmem_release(vr->base.gpu, bytes);
			return false;
		}
		vs->pixels_charge = bytes;
		vs->stale = true;
	}
	/*
	 * A new scanout (SET_SCANOUT: stale) needs everything, a flush only its
	 * damage; nothing at all when no submit or upload happened since the
	 * last full read (the kernel sends SET_SCANOUT then RESOURCE_FLUSH for
	 * every page flip: one read-back per frame, not two).
	 */
	if (vr->defer_image) {
		vr->defer_image = false;	/* the flush that follows brings the pixels */
		return false;
	}
	if (vr->defer_flush)
		return false;			/* after the flush's fence (run_pending) */
	vr->n_image++;
	if (vs->full_gen == vr->gen) {
		vs->dirty = vs->stale = false;
	} else if (vs->stale || vs->dirty) {
		struct vgi_rect d = vs->damage;
		if (vs->stale)
			d = (struct vgi_rect){ 0, 0, res->width, res->height };
		uint64_t t0 = vr->stats ? now_ns() : 0;
		if (vgi_virgl_read_rect(vr->v, res->id, &d, vs->pixels + (size_t)d.y * stride + (size_t)d.x * 4,
					stride) < 0)
			return false;
		if (vr->stats) {
			vr->n_read++;
			vr->read_bytes += (uint64_t)d.width * d.height * 4;
			vr->ns_read += now_ns() - t0;
		}
		if (vs->stale)
			vs->full_gen = vr->gen;
		vs->dirty = vs->stale = false;
	}
	*img = (struct vgi_image){ .width = res->width, .height = res->height, .stride = stride,
				   .format = info.fourcc, .data = vs->pixels };
	return true;
}

static uint32_t vr_resource_create_blob(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, uint32_t ctx_id)
{
	uint32_t err = vgi_virgl_resource_create_blob(to_vr(r)->v, res->id, ctx_id, res->blob_flags, res->blob_id,
						      res->blob_size);
	if (err != VIRTIO_GPU_RESP_OK_NODATA)
		return err ? err : VIRTIO_GPU_RESP_ERR_UNSPEC;
	return vres_attach(to_vr(r), res);
}

static uint32_t vr_blob_map(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, void **ptr, uint64_t *size,
			    uint32_t *map_info)
{
	uint32_t err = vgi_virgl_blob_map(to_vr(r)->v, res->id, ptr, size, map_info);
	return err == VIRTIO_GPU_RESP_OK_NODATA ? 0 : err;
}

static void vr_blob_unmap(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	vgi_virgl_blob_unmap(to_vr(r)->v, res->id);
}

static bool vr_cursor_image(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, uint32_t *pixels)
{
	return res->priv && vgi_virgl_cursor(to_vr(r)->v, res->id, pixels);
}

static bool vr_scanout_gl(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, const struct vgi_rect *rect,
			  struct vgi_gl_scanout *s)
{
	struct vrenderer *vr = to_vr(r);
	struct vgi_virgl_res_info info;
	if (!res->priv || vgi_virgl_resource_info(vr->v, res->id, &info) != VIRTIO_GPU_RESP_OK_NODATA ||
	    !info.tex_id)
		return false;
	*s = (struct vgi_gl_scanout){
		.enabled = true, .texture = info.tex_id, .dmabuf_fd = -1, .fourcc = info.fourcc,
		.buf_width = info.width, .buf_height = info.height,
		.x = rect->x, .y = rect->y, .width = rect->width, .height = rect->height,
		.y0_top = info.y0_top,
	};
	/*
	 * Sinks with a GL path import a dmabuf (in this process or in QEMU);
	 * a texture name alone is no use to them. Without one (surfaceless
	 * llvmpipe has no dmabuf export) every sink gets read-back pixels.
	 */
	if (vgi_virgl_export(vr->v, res->id, s) < 0 || s->dmabuf_fd < 0)
		return false;
	vres_of(res)->gl = true;
	return true;
}

static const struct vgi_gpu_renderer_ops virgl_ops = {
	.name = "virgl",
	.features = vr_features,
	.num_capsets = vr_num_capsets,
	.destroy = vr_destroy,
	.reset = vr_reset,
	.process_cmd = vr_process_cmd,
	.fence = vr_fence,
	.settle = vr_settle,
	.get_fd = vr_get_fd,
	.dispatch = vr_dispatch,
	.resource_create_2d = vr_resource_create_2d,
	.resource_destroy = vr_resource_destroy,
	.attach_backing = vr_attach_backing,
	.detach_backing = vr_detach_backing,
	.transfer_to_host_2d = vr_transfer_to_host_2d,
	.get_image = vr_get_image,
	.cursor_image = vr_cursor_image,
	.scanout_gl = vr_scanout_gl,
	.resource_create_blob = vr_resource_create_blob,
	.blob_map = vr_blob_map,
	.blob_unmap = vr_blob_unmap,
};

struct vgi_gpu_renderer *vgi_gpu_renderer_virgl_new(struct vgi_gpu *gpu, const struct vgi_gpu_config *cfg)
{
	struct vrenderer *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return NULL;
	vr->base.ops = &virgl_ops;
	vr->base.gpu = gpu;
	/* virglrenderer 0.10: one fence timeline (ring 0) per virgl context */
	vr->context_init = true;
	vr->gen = 1;
	const char *st = getenv("VGI_VIRGL_STATS");
	vr->stats = st && *st && strcmp(st, "0") != 0;
	struct vgi_virgl_config vc = {
		.render_node = cfg->render_node,
		.charge = vr_charge,
		.release = vr_release,
		.fence = vr_fence_done,
		.opaque = vr,
	};
	vr->v = vgi_virgl_new(&vc);
	if (!vr->v) {
		free(vr);
		return NULL;
	}
	vr->refresh_ns = 1000000000u / 60;
	vr->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	vr->epfd = epoll_create1(EPOLL_CLOEXEC);
	int vfd = vgi_virgl_get_fd(vr->v);
	struct epoll_event ev = { .events = EPOLLIN };
	if (vr->tfd < 0 || vr->epfd < 0 || epoll_ctl(vr->epfd, EPOLL_CTL_ADD, vr->tfd, &ev) ||
	    (vfd >= 0 && epoll_ctl(vr->epfd, EPOLL_CTL_ADD, vfd, &ev))) {
		vgi_warn("virgl: no timerfd/epoll: every frame goes to pixel sinks");
		if (vr->epfd >= 0)
			close(vr->epfd);
		if (vr->tfd >= 0)
			close(vr->tfd);
		vr->epfd = vr->tfd = -1;
	}
	return &vr->base;
}
