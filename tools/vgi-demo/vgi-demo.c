// SPDX-License-Identifier: MIT
/*
 * vgi-demo: drives the virtio-gpu 2D device through the in-process test
 * guest (real split rings, scattered guest pages) the way the Linux driver
 * does, draws a test pattern and a cursor, and writes the scanout as PNG
 * through the headless sink.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>
#include <vgi/headless.h>
#include <vgi/log.h>

#include "gpu-guest.h"
#include "vgi-config.h"

#define FB_ID 1
#define CURSOR_ID 2
#define MAX_SIDE 4096	/* 64 MiB of scattered pages: the 16384 backing entries a device accepts */

static void usage(FILE *f)
{
	fprintf(f, "Usage: vgi-demo [--output PATH] [--size WxH]\n"
		   "Drive the virtio-gpu 2D device through an in-process guest and write\n"
		   "its scanout (test pattern and cursor) as a PNG file.\n"
		   "\n"
		   "  -o, --output PATH   PNG to write (default ./vgi-demo.png)\n"
		   "  -s, --size WxH      display size (default %ux%u, 64..%u per side)\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n",
		   VGI_GPU_DEFAULT_WIDTH, VGI_GPU_DEFAULT_HEIGHT, MAX_SIDE);
}

static uint32_t rgb(unsigned r, unsigned g, unsigned b)
{
	return 0xff000000u | (r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff);
}

/* Colour bars over the top 60%, a grey ramp and a hue ramp below, circles, a checkerboard and a triangle. */
static void draw_pattern(uint32_t *px, uint32_t w, uint32_t h)
{
	static const uint32_t bars[8] = { 0xffc0c0c0, 0xffc0c000, 0xff00c0c0, 0xff00c000,
					  0xffc000c0, 0xffc00000, 0xff0000c0, 0xff101010 };
	uint32_t bars_h = h * 6 / 10, ramp_h = h / 10;

	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			uint32_t *p = &px[(size_t)y * w + x];

			if (y < bars_h) {
				*p = bars[x * 8 / w];
			} else if (y < bars_h + ramp_h) {
				unsigned v = x * 255 / (w - 1);

				*p = rgb(v, v, v);
			} else if (y < bars_h + 2 * ramp_h) {
				/* hue ramp: red -> green -> blue -> red */
				double t = (double)x / w * 3.0;
				int seg = (int)t;
				unsigned a = (unsigned)((t - seg) * 255.0), b = 255 - a;

				*p = seg == 0 ? rgb(b, a, 0) : seg == 1 ? rgb(0, b, a) : rgb(a, 0, b);
			} else {
				unsigned cell = (w / 32) ? w / 32 : 1;

				*p = ((x / cell) + (y / cell)) & 1 ? rgb(40, 40, 40) : rgb(90, 90, 90);
			}
		}
	}
	/* circles across the bars */
	for (int i = 0; i < 4; i++) {
		double cx = w * (0.2 + 0.2 * i), cy = bars_h * 0.5, r = (w < h ? w : h) * (0.06 + 0.02 * i);
		uint32_t c = i & 1 ? rgb(255, 255, 255) : rgb(255, 140, 0);

		for (int32_t y = (int32_t)(cy - r); y <= (int32_t)(cy + r); y++)
			for (int32_t x = (int32_t)(cx - r); x <= (int32_t)(cx + r); x++)
				if (x >= 0 && y >= 0 && (uint32_t)x < w && (uint32_t)y < h &&
				    (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r)
					px[(size_t)y * w + (uint32_t)x] = c;
	}
	/* a triangle in the checkerboard area */
	{
		uint32_t top = bars_h + 2 * ramp_h, th = h - top;

		for (uint32_t y = top; y < h; y++) {
			uint32_t half = (y - top) * (w / 8) / (th ? th : 1);

			for (uint32_t x = w / 2 - half; x <= w / 2 + half && x < w; x++)
				px[(size_t)y * w + x] = rgb(30, 144, 255);
		}
	}
}

/* An arrow cursor: premultiplied ARGB with a dark outline, hot spot at (0,0). */
static void draw_cursor(uint32_t *px)
{
	for (uint32_t y = 0; y < 64; y++) {
		for (uint32_t x = 0; x < 64; x++) {
			bool in = y < 40 && x <= y * 3 / 4;
			bool edge = in && (x == 0 || x == y * 3 / 4 || y == 39);

			px[y * 64 + x] = !in ? 0 : edge ? 0xff000000u : 0xffffffffu;
		}
	}
}

/* Copy a linear image into the framebuffer's scattered pages. */
static void upload(struct gg *gg, const struct gg_fb *fb, const uint32_t *px)
{
	const uint8_t *src = (const uint8_t *)px;
	uint64_t bytes = (uint64_t)fb->stride * fb->height;

	for (uint64_t o = 0; o < bytes; o += TG_PAGE_SIZE) {
		uint64_t n = bytes - o < TG_PAGE_SIZE ? bytes - o : TG_PAGE_SIZE;

		memcpy(gg_fb_byte(gg, fb, o), src + o, n);
	}
}

static int check(const char *what, uint32_t got, uint32_t want)
{
	if (got == want)
		return 0;
	fprintf(stderr, "vgi-demo: %s answered 0x%x, expected 0x%x\n", what, got, want);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = "./vgi-demo.png";
	uint32_t w = VGI_GPU_DEFAULT_WIDTH, h = VGI_GPU_DEFAULT_HEIGHT;
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	struct vgi_headless *hl;
	struct tg_guest *g;
	struct gg *gg;
	struct gg_fb *fb, *cur;
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid *edid;
	uint32_t *px, cursor_px[64 * 64];
	int c, ret, err = 0;

	while ((c = getopt_long(argc, argv, "o:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 's': {
			char x;

			if (sscanf(optarg, "%u%c%u", &w, &x, &h) != 3 || (x != 'x' && x != 'X') || w < 64 || h < 64 ||
			    w > MAX_SIDE || h > MAX_SIDE) {
				fprintf(stderr, "vgi-demo: bad --size '%s' (WxH, 64..%u)\n", optarg, MAX_SIDE);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vgi-demo %s\n", VGI_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	vgi_gpu_config_init(&cfg);
	cfg.outputs[0].width = w;
	cfg.outputs[0].height = h;
	/* room for the framebuffer and the cursor whatever the size */
	if ((uint64_t)w * h * 4 + (1u << 20) > cfg.max_hostmem)
		cfg.max_hostmem = (uint64_t)w * h * 4 + (1u << 20);
	gpu = vgi_gpu_new(&cfg);
	hl = vgi_headless_new(NULL);
	if (!gpu || !hl) {
		fprintf(stderr, "vgi-demo: cannot create the device\n");
		return 1;
	}
	vgi_gpu_add_sink(gpu, vgi_headless_ops(), hl);
	/* guest RAM: the framebuffer, the cursor, rings and command buffers */
	g = tg_guest_new((uint64_t)w * h * 4 + (16u << 20));
	gg = gg_new(g, gpu);

	/* probe, as the driver does */
	err |= check("GET_DISPLAY_INFO", gg_get_display_info(gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	edid = calloc(1, sizeof(*edid));
	err |= check("GET_EDID", gg_get_edid(gg, 0, edid), VIRTIO_GPU_RESP_OK_EDID);
	if (err || !info.pmodes[0].enabled)
		goto out;
	w = info.pmodes[0].r.width;
	h = info.pmodes[0].r.height;

	/* dumb buffer, modeset, then draw in bands the way a dirty-fb loop would */
	fb = gg_fb_new(gg, FB_ID, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h);
	px = calloc((size_t)w * h, 4);
	draw_pattern(px, w, h);
	upload(gg, fb, px);
	err |= check("SET_SCANOUT", gg_set_scanout(gg, 0, FB_ID, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
	for (uint32_t y = 0; y < h && !err; y += 64) {
		uint32_t bh = h - y < 64 ? h - y : 64;

		err |= check("TRANSFER_TO_HOST_2D/RESOURCE_FLUSH", gg_fb_dirty(gg, fb, 0, y, w, bh),
			     VIRTIO_GPU_RESP_OK_NODATA);
	}

	/* cursor: a 64x64 ARGB resource, transferred, then UPDATE_CURSOR and a MOVE_CURSOR */
	cur = gg_fb_new(gg, CURSOR_ID, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
	draw_cursor(cursor_px);
	upload(gg, cur, cursor_px);
	err |= check("TRANSFER_TO_HOST_2D (cursor)", gg_transfer_2d(gg, CURSOR_ID, 0, 0, 0, 64, 64),
		     VIRTIO_GPU_RESP_OK_NODATA);
	gg_update_cursor(gg, 0, CURSOR_ID, (int32_t)(w / 4), (int32_t)(h / 4), 0, 0);
	gg_move_cursor(gg, 0, CURSOR_ID, (int32_t)(w * 2 / 3), (int32_t)(h * 3 / 4));

	if (!err) {
		ret = vgi_headless_write_png(hl, 0, out, true);
		if (ret < 0) {
			fprintf(stderr, "vgi-demo: cannot write %s: %s\n", out, strerror(-ret));
			err = -1;
		} else {
			printf("%s\n", out);
		}
	}

	/* the driver's teardown: everything the guest caused is freed */
	gg_set_scanout(gg, 0, 0, 0, 0, 0, 0);
	gg_update_cursor(gg, 0, 0, 0, 0, 0, 0);
	gg_unref(gg, CURSOR_ID);
	gg_unref(gg, FB_ID);
	if (vgi_gpu_hostmem_used(gpu) || vgi_gpu_resource_count(gpu)) {
		fprintf(stderr, "vgi-demo: device still holds %llu bytes in %u resources\n",
			(unsigned long long)vgi_gpu_hostmem_used(gpu), vgi_gpu_resource_count(gpu));
		err = -1;
	}
	gg_fb_free(gg, cur);
	gg_fb_free(gg, fb);
	free(px);
out:
	free(edid);
	gg_free(gg);
	vgi_gpu_free(gpu);	/* frees the headless sink */
	tg_guest_free(g);
	return err ? 1 : 0;
}
