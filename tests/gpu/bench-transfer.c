// SPDX-License-Identifier: MIT
/*
 * TRANSFER_TO_HOST_2D throughput on a 3840x2160 XRGB resource backed by
 * scattered 4 KiB guest pages, through the real control queue, against a
 * plain memcpy of the same bytes measured in the same run. Prints figures;
 * never fails on timing (only on a wrong answer or wrong pixels).
 *
 * Timed: the device's processing of a kicked batch (pop, decode, checks,
 * copy, response). Not timed: the test guest filling descriptors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>
#include <vgi/headless.h>
#include <vgi/log.h>

#include "gpu-guest.h"

#define W 3840
#define H 2160
#define RECT 64
#define BATCH 128	/* chains per kick: 2 descriptors each in a 256 ring */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char *what)
{
	fprintf(stderr, "bench-transfer: %s\n", what);
	exit(1);
}

struct slot {
	uint64_t cmd, resp;
};

/* Queue n transfers (rects[i]) as direct chains, kick once, time the kick, check the answers. */
static double run_batch(struct gg *gg, struct slot *slots, const struct vgi_rect *rects, unsigned n,
			uint64_t stride)
{
	double t0, t1;
	uint32_t head, len;

	for (unsigned i = 0; i < n; i++) {
		struct virtio_gpu_transfer_to_host_2d *c = tg_host(gg->g, slots[i].cmd);
		struct tg_buf b[2] = { { slots[i].cmd, sizeof(*c), false },
				       { slots[i].resp, sizeof(struct virtio_gpu_ctrl_hdr), true } };

		memset(c, 0, sizeof(*c));
		c->hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D;
		c->resource_id = 1;
		c->r.x = rects[i].x;
		c->r.y = rects[i].y;
		c->r.width = rects[i].width;
		c->r.height = rects[i].height;
		c->offset = rects[i].y * stride + rects[i].x * 4ull;
		if (tg_queue_add(gg->ctrl, b, 2, false) < 0)
			fail("ring full");
	}
	tg_queue_publish(gg->ctrl);
	t0 = now();
	vgi_virtio_device_kick(gg->dev, 0);
	t1 = now();
	for (unsigned i = 0; i < n; i++) {
		if (!tg_queue_get_used(gg->ctrl, &head, &len) || len != sizeof(struct virtio_gpu_ctrl_hdr))
			fail("missing answer");
	}
	for (unsigned i = 0; i < n; i++) {
		const struct virtio_gpu_ctrl_hdr *r = tg_host(gg->g, slots[i].resp);

		if (r->type != VIRTIO_GPU_RESP_OK_NODATA)
			fail("transfer answered with an error");
	}
	return t1 - t0;
}

static double best(const double *v, int n)
{
	double b = v[0];

	for (int i = 1; i < n; i++)
		if (v[i] < b)
			b = v[i];
	return b;
}

/* Median of the per-repetition ratios num[i] / den[i]: each pair was measured back to back. */
static double median_ratio(const double *num, const double *den, int n)
{
	double r[32];

	for (int i = 0; i < n; i++)
		r[i] = num[i] / den[i];
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && r[j] < r[j - 1]; j--) {
			double t = r[j];

			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	return r[n / 2];
}

int main(void)
{
	struct tg_guest *g = tg_guest_new(160u << 20);
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	struct vgi_headless *hl;
	struct gg *gg;
	struct gg_fb *fb;
	struct slot slots[BATCH];
	const uint64_t stride = W * 4ull, frame = stride * H;
	uint8_t *src, *dst;
	volatile uint32_t sink = 0;
	enum { REPS = 9, FULL_ITERS = 8, RECTS = 4096 };
	double t_full[REPS], t_full_mc[REPS], t_full_gather[REPS], t_rect[REPS], t_rect_rows[REPS], t_rect_block[REPS],
		t_empty[REPS];
	const uint8_t **page_host;
	struct vgi_rect *rects = malloc(RECTS * sizeof(*rects));
	struct vgi_rect full = { 0, 0, W, H };
	uint32_t seed = 1;

	vgi_gpu_config_init(&cfg);
	cfg.outputs[0].width = W;
	cfg.outputs[0].height = H;
	gpu = vgi_gpu_new(&cfg);
	hl = vgi_headless_new(NULL);
	vgi_gpu_add_sink(gpu, vgi_headless_ops(), hl);
	gg = gg_new(g, gpu);
	gg->indirect = false;
	fb = gg_fb_new(gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W, H);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x += 97)
			gg_fb_put(gg, fb, x, y, 0xff000000u | (x * 2654435761u ^ y));
	for (unsigned i = 0; i < BATCH; i++) {
		slots[i].cmd = tg_alloc_page(g);
		slots[i].resp = tg_alloc_page(g);
	}
	for (unsigned i = 0; i < RECTS; i++) {
		seed = seed * 1103515245u + 12345u;
		rects[i].x = (seed >> 8) % (W - RECT + 1);
		seed = seed * 1103515245u + 12345u;
		rects[i].y = (seed >> 8) % (H - RECT + 1);
		rects[i].width = rects[i].height = RECT;
	}
	/* a contiguous copy of the guest framebuffer for the memcpy baselines */
	src = aligned_alloc(4096, frame);
	dst = aligned_alloc(4096, frame);
	for (uint64_t o = 0; o < frame; o += 4096)
		memcpy(src + o, gg_fb_byte(gg, fb, o), 4096);
	memset(dst, 0, frame);
	page_host = malloc(fb->npages * sizeof(*page_host));
	for (uint32_t i = 0; i < fb->npages; i++)
		page_host[i] = tg_host(g, fb->pages[i]);

	/*
	 * Each transfer batch is followed at once by its memcpy baselines, so
	 * both see the same machine load (the machine may be shared).
	 */
	for (int rep = 0; rep < REPS; rep++) {
		double t = 0, tm = 0, t0;

		/* full frame through the queue, then a plain memcpy of the frame */
		t_full_gather[rep] = 0;
		for (int i = 0; i < FULL_ITERS; i++) {
			t += run_batch(gg, slots, &full, 1, stride);
			t0 = now();
			memcpy(dst, src, frame);
			tm += now() - t0;
			sink += dst[(size_t)i * 4096];
			/* diagnostic: memcpy gathering the same scattered pages (no device) */
			t0 = now();
			for (uint32_t p = 0; p < fb->npages; p++)
				memcpy(dst + (size_t)p * 4096, page_host[p], 4096);
			t_full_gather[rep] += now() - t0;
			sink += dst[(size_t)i * 8192];
		}
		t_full[rep] = t / FULL_ITERS;
		t_full_mc[rep] = tm / FULL_ITERS;
		t_full_gather[rep] /= FULL_ITERS;

		/* 64x64 rectangles at varying positions, a batch at a time */
		t = 0;
		t_rect_rows[rep] = t_rect_block[rep] = 0;
		for (unsigned b = 0; b < RECTS; b += BATCH) {
			t += run_batch(gg, slots, rects + b, BATCH, stride);
			t0 = now();
			for (unsigned i = b; i < b + BATCH; i++) {
				size_t off = rects[i].y * stride + rects[i].x * 4ull;

				for (unsigned r = 0; r < RECT; r++)
					memcpy(dst + off + r * stride, src + off + r * stride, RECT * 4);
				sink += dst[off];
			}
			t_rect_rows[rep] += now() - t0;
			t0 = now();
			for (unsigned i = b; i < b + BATCH; i++) {
				size_t off = rects[i].y * stride + rects[i].x * 4ull;
				size_t d = (size_t)(i % 1024) * RECT * RECT * 4;	/* 16 MiB of targets */

				memcpy(dst + d, src + off, RECT * RECT * 4);
				sink += dst[d];
			}
			t_rect_block[rep] += now() - t0;
		}
		t_rect[rep] = t;

		/* per-command cost with nothing to copy */
		{
			struct vgi_rect empty[BATCH];

			memset(empty, 0, sizeof(empty));
			t = 0;
			for (unsigned i = 0; i < RECTS; i += BATCH)
				t += run_batch(gg, slots, empty, BATCH, stride);
			t_empty[rep] = t;
		}
	}

	/* the pixels arrived */
	if (gg_set_scanout(gg, 0, 1, 0, 0, W, H) != VIRTIO_GPU_RESP_OK_NODATA)
		fail("set scanout");
	{
		const struct vgi_image *img = vgi_headless_frame(hl, 0);
		uint32_t p;

		memcpy(&p, (const uint8_t *)img->data + 1234 * img->stride + 97 * 4, 4);
		if (p != (0xff000000u | (97 * 2654435761u ^ 1234)))
			fail("wrong pixels after the transfers");
	}

	{
		double full_mb = (double)frame / (1 << 20);
		double rect_bytes = (double)RECTS * RECT * RECT * 4;
		double tf = best(t_full, REPS), tm = best(t_full_mc, REPS);
		double tr = best(t_rect, REPS), trr = best(t_rect_rows, REPS), trb = best(t_rect_block, REPS);
		double te = best(t_empty, REPS);

		printf("TRANSFER_TO_HOST_2D, %dx%d XRGB8888, backing %u scattered 4 KiB pages in %u entries\n", W, H,
		       fb->npages, fb->nents);
		printf("full frame (%.1f MiB): transfer %.2f ms (%.2f GB/s), memcpy %.2f ms (%.2f GB/s), "
		       "best-time ratio %.2f (target >= 0.80)\n",
		       full_mb, tf * 1e3, frame / tf / 1e9, tm * 1e3, frame / tm / 1e9, tm / tf);
		printf("  diagnostic, memcpy gathering the same 4 KiB pages: %.2f ms (%.2f GB/s), transfer/gather %.2f\n",
		       best(t_full_gather, REPS) * 1e3, frame / best(t_full_gather, REPS) / 1e9,
		       median_ratio(t_full_gather, t_full, REPS));
		printf("64x64 rects (%d at varying positions, %u per kick): transfer %.2f us/rect (%.2f GB/s)\n", RECTS,
		       BATCH, tr / RECTS * 1e6, rect_bytes / tr / 1e9);
		printf("  memcpy of the same rows:        %.2f us/rect (%.2f GB/s), best-time ratio %.2f (target >= 0.50)\n",
		       trr / RECTS * 1e6, rect_bytes / trr / 1e9, trr / tr);
		printf("  memcpy of 16 KiB blocks:        %.2f us/rect (%.2f GB/s), best-time ratio %.2f\n", trb / RECTS * 1e6,
		       rect_bytes / trb / 1e9, trb / tr);
		printf("  command overhead (0x0 transfer): %.2f us/command\n", te / RECTS * 1e6);
		printf("median of per-repetition ratios (%d repetitions): full=%.2f rect64=%.2f rect64_block=%.2f\n",
		       REPS, median_ratio(t_full_mc, t_full, REPS), median_ratio(t_rect_rows, t_rect, REPS),
		       median_ratio(t_rect_block, t_rect, REPS));
	}
	(void)sink;
	if (gg_unref(gg, 1) != VIRTIO_GPU_RESP_OK_NODATA || vgi_gpu_hostmem_used(gpu) != 0)
		fail("unref");
	gg_fb_free(gg, fb);
	gg_free(gg);
	vgi_gpu_free(gpu);
	tg_guest_free(g);
	free(src);
	free(dst);
	free(rects);
	free(page_host);
	return 0;
}
