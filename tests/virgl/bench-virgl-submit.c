// SPDX-License-Identifier: MIT
/*
 * What vgi adds to SUBMIT_3D: the same virgl command buffers submitted
 * (a) through the device -- a guest chain on the control ring, kick,
 * decode, size checks, copy out of guest memory, virglrenderer, response
 * -- and (b) straight to virgl_renderer_submit_cmd() on the same virgl
 * context, in alternating blocks so drift hits both alike; between blocks
 * (untimed) a fenced command drains the GPU so neither block pays for the
 * other's rendering. Prints figures; never fails on timing.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>
#include <virglrenderer.h>

#include <vgi/gpu.h>

#include "test-guest.h"
#include "virgl-cmds.h"

#define SIZE 256
#define ROUNDS 30
#define BLOCK 100

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static struct tg_queue *ctrl;
static struct vgi_virtio_device *dev;
static struct tg_guest *g;

static uint32_t ring_cmd(const void *cmd, size_t len, const void *data, size_t dlen, double *kick_s)
{
	struct tg_buf b[3];
	unsigned n = 0;
	uint64_t c = tg_alloc_buf(g, cmd, len), d = 0, r = tg_alloc_buf(g, NULL, 64);
	b[n++] = (struct tg_buf){ c, (uint32_t)len, false };
	if (dlen) {
		d = tg_alloc_buf(g, data, dlen);
		b[n++] = (struct tg_buf){ d, (uint32_t)dlen, false };
	}
	b[n++] = (struct tg_buf){ r, 64, true };
	if (tg_queue_add(ctrl, b, n, false) < 0)
		abort();
	tg_queue_publish(ctrl);
	double t0 = now();
	vgi_virtio_device_kick(dev, 0);
	if (kick_s)
		*kick_s += now() - t0;
	uint32_t head, ulen;
	if (!tg_queue_get_used(ctrl, &head, &ulen))
		abort();
	uint32_t type = ((struct virtio_gpu_ctrl_hdr *)tg_host(g, r))->type;
	for (uint64_t p = c; p < c + len; p += TG_PAGE_SIZE)
		tg_free_page(g, p);
	for (uint64_t p = d; dlen && p < d + dlen; p += TG_PAGE_SIZE)
		tg_free_page(g, p);
	tg_free_page(g, r);
	return type;
}

static struct vgi_gpu *gpu;

/* A fenced (context 1, ring 0) empty SUBMIT_3D; wait for it on the poll fd: all rendering done. */
static void drain(void)
{
	static uint64_t fence = 1;
	struct virtio_gpu_cmd_submit s = { .hdr = { .type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1,
						    .flags = VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX,
						    .fence_id = fence++ } };
	uint64_t c = tg_alloc_buf(g, &s, sizeof(s)), r = tg_alloc_buf(g, NULL, 64);
	struct tg_buf b[2] = { { c, sizeof(s), false }, { r, 64, true } };
	if (tg_queue_add(ctrl, b, 2, false) < 0)
		abort();
	tg_queue_publish(ctrl);
	vgi_virtio_device_kick(dev, 0);
	uint32_t head, ulen;
	while (!tg_queue_get_used(ctrl, &head, &ulen)) {
		struct pollfd p = { .fd = vgi_gpu_get_fd(gpu), .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			abort();
		vgi_gpu_dispatch(gpu);
	}
	tg_free_page(g, c);
	tg_free_page(g, r);
}

/* One frame-like command buffer: clear, then many small state commands. */
static uint32_t build(uint32_t *cs, uint32_t res, uint32_t surf, int extra)
{
	uint32_t n = vgl_clear_cmds(cs, res, surf, 0.2f, 0.4f, 0.6f);
	for (int i = 0; i < extra; i++) {
		float vp[6] = { 128, 128, 0.5f, 128, 128, 0.5f };
		cs[n++] = VGL_CMD0(VGL_CCMD_SET_VIEWPORT_STATE, 0, 7);
		cs[n++] = 0;	/* start slot */
		memcpy(&cs[n], vp, sizeof(vp));
		n += 6;
	}
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	struct vgi_gpu_config cfg;
	vgi_gpu_config_init(&cfg);
	cfg.virgl = true;
	gpu = vgi_gpu_new(&cfg);
	if (!gpu) {
		printf("SKIP: no 3D device (surfaceless EGL / virglrenderer)\n");
		return 77;
	}
	g = tg_guest_new(64u << 20);
	dev = vgi_gpu_virtio(gpu);
	vgi_virtio_device_set_memory(dev, g->mem);
	uint64_t f = vgi_virtio_device_get_features(dev) & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_GPU_F_VIRGL) |
							   (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	vgi_virtio_device_set_features(dev, f);
	ctrl = tg_queue_new(g, 256);
	struct tg_queue *cur = tg_queue_new(g, 16);
	tg_queue_attach(ctrl, dev, 0);
	tg_queue_attach(cur, dev, 1);

	/* (a) through the device: context 1, resource 10 */
	struct virtio_gpu_ctx_create cc = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1 }, .nlen = 1,
					    .debug_name = "a" };
	struct virtio_gpu_resource_create_3d rc = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, .resource_id = 10, .target = 2,
		.format = VGL_FMT_B8G8R8X8, .bind = VGL_BIND_RENDER_TARGET, .width = SIZE, .height = SIZE,
		.depth = 1, .array_size = 1,
	};
	struct virtio_gpu_ctx_resource ca = { .hdr = { .type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = 1 },
					      .resource_id = 10 };
	if (ring_cmd(&cc, sizeof(cc), NULL, 0, NULL) != VIRTIO_GPU_RESP_OK_NODATA ||
	    ring_cmd(&rc, sizeof(rc), NULL, 0, NULL) != VIRTIO_GPU_RESP_OK_NODATA ||
	    ring_cmd(&ca, sizeof(ca), NULL, 0, NULL) != VIRTIO_GPU_RESP_OK_NODATA) {
		fprintf(stderr, "bench: setup through the device failed\n");
		return 1;
	}

	static const int sizes[] = { 0, 40, 400 };
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint32_t *csa = calloc(8 + sizes[si] * 8 + 64, 4), *csb = calloc(8 + sizes[si] * 8 + 64, 4);
		uint32_t n = build(csa, 10, 100, sizes[si]);
		build(csb, 10, 100, sizes[si]);
		size_t len = sizeof(struct virtio_gpu_cmd_submit) + n * 4;
		uint8_t *msg = calloc(1, len);
		struct virtio_gpu_cmd_submit *s = (void *)msg;
		s->hdr = (struct virtio_gpu_ctrl_hdr){ .type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1 };
		s->size = n * 4;
		memcpy(msg + sizeof(*s), csa, n * 4);
		uint32_t *copy = malloc(n * 4);
		double ta[ROUNDS], tb[ROUNDS];
		/* warm up both paths */
		for (int i = 0; i < 20; i++) {
			ring_cmd(msg, len, NULL, 0, NULL);
			memcpy(copy, csb, n * 4);
			virgl_renderer_submit_cmd(copy, 1, (int)n);
		}
		drain();
		for (int r = 0; r < ROUNDS; r++) {
			double ka = 0;
			for (int i = 0; i < BLOCK; i++)
				if (ring_cmd(msg, len, NULL, 0, &ka) != VIRTIO_GPU_RESP_OK_NODATA)
					return 1;
			double kb = 0;
			for (int i = 0; i < BLOCK; i++) {
				memcpy(copy, csb, n * 4);	/* untimed: the direct caller's buffer */
				double t0 = now();
				virgl_renderer_submit_cmd(copy, 1, (int)n);
				kb += now() - t0;
			}
			drain();
			drain();
			ta[r] = ka / BLOCK;
			tb[r] = kb / BLOCK;
		}
		qsort(ta, ROUNDS, sizeof(double), cmp_double);
		qsort(tb, ROUNDS, sizeof(double), cmp_double);
		double ma = ta[ROUNDS / 2], mb = tb[ROUNDS / 2];
		printf("SUBMIT_3D of %5u bytes: through vgi %7.2f us, virglrenderer directly %7.2f us, "
		       "vgi adds %.2f us (%+.1f%%) [median of %d blocks of %d]\n",
		       n * 4, ma * 1e6, mb * 1e6, (ma - mb) * 1e6, 100.0 * (ma - mb) / mb, ROUNDS, BLOCK);
		free(csa);
		free(csb);
		free(msg);
		free(copy);
	}
	vgi_gpu_free(gpu);
	tg_queue_free(ctrl);
	tg_queue_free(cur);
	tg_guest_free(g);
	return 0;
}
