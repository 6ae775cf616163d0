// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "gpu-guest.h"

#define MAX_DATA_PAGES 128	/* 16384 mem entries * 16 bytes = 64 pages, with room */

static void gg_die(const char *why, uint32_t v)
{
	fprintf(stderr, "gpu guest: %s (0x%x)\n", why, v);
	abort();
}

static void on_notify(void *opaque, unsigned index)
{
	struct gg *gg = opaque;

	if (index < 2)
		gg->irqs[index]++;
}

static void on_config(void *opaque)
{
	((struct gg *)opaque)->config_irqs++;
}

static const struct vgi_virtio_host_ops gg_host = { on_notify, on_config };

struct gg *gg_new(struct tg_guest *g, struct vgi_gpu *gpu)
{
	struct gg *gg = calloc(1, sizeof(*gg));
	/* what Linux's virtio-gpu (6.x) and virtio core know */
	uint64_t known = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
			 (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_GPU_F_VIRGL) |
			 (1ull << VIRTIO_GPU_F_EDID) | (1ull << VIRTIO_GPU_F_RESOURCE_UUID) |
			 (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) | (1ull << VIRTIO_GPU_F_CONTEXT_INIT);

	gg->g = g;
	gg->gpu = gpu;
	gg->dev = vgi_gpu_virtio(gpu);
	vgi_virtio_device_set_host(gg->dev, &gg_host, gg);
	if (vgi_virtio_device_set_memory(gg->dev, g->mem))
		gg_die("set memory", 0);
	gg->features = vgi_virtio_device_get_features(gg->dev) & known;
	vgi_virtio_device_set_features(gg->dev, gg->features);
	gg->indirect = gg->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	gg->ctrl = tg_queue_new(g, 256);
	gg->cursor = tg_queue_new(g, 256);
	gg->ctrl->event_idx = gg->cursor->event_idx = gg->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (tg_queue_attach(gg->ctrl, gg->dev, 0) || tg_queue_attach(gg->cursor, gg->dev, 1))
		gg_die("queue setup", 0);
	return gg;
}

void gg_free(struct gg *gg)
{
	if (!gg)
		return;
	tg_queue_free(gg->ctrl);
	tg_queue_free(gg->cursor);
	free(gg);
}

static void free_buf(struct tg_guest *g, uint64_t gpa, size_t len)
{
	uint32_t pages = (uint32_t)((len + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE);

	if (pages == 0)
		pages = 1;
	for (uint32_t i = 0; i < pages; i++)
		tg_free_page(g, gpa + (uint64_t)i * TG_PAGE_SIZE);
}

uint32_t gg_raw(struct gg *gg, unsigned queue, const struct tg_buf *bufs, unsigned n)
{
	struct tg_queue *q = queue ? gg->cursor : gg->ctrl;
	uint32_t head, len;
	int h = tg_queue_add(q, bufs, n, gg->indirect);

	if (h < 0)
		gg_die("ring full", queue);
	tg_queue_publish(q);
	vgi_virtio_device_kick(gg->dev, queue);
	if (!tg_queue_get_used(q, &head, &len))
		gg_die("no used element after the kick", queue);
	if (head != (uint32_t)h)
		gg_die("used head mismatch", head);
	return len;
}

uint32_t gg_cmd(struct gg *gg, void *cmd, size_t len, const void *data, size_t dlen, void *resp, size_t resp_len)
{
	struct virtio_gpu_ctrl_hdr *hdr = cmd;
	struct tg_buf bufs[3 + MAX_DATA_PAGES];
	unsigned n = 0, nd = 0;
	uint64_t c, d[MAX_DATA_PAGES], r;

	if (len >= sizeof(*hdr)) {
		hdr->flags |= gg->hdr_flags;
		if (gg->hdr_flags & VIRTIO_GPU_FLAG_FENCE) {
			hdr->fence_id = gg->fence_id;
			hdr->ctx_id = gg->ctx_id;
			hdr->ring_idx = gg->ring_idx;
		}
	}
	c = tg_alloc_buf(gg->g, cmd, len);
	bufs[n++] = (struct tg_buf){ c, (uint32_t)len, false };
	/* like a vmalloc'd array in Linux: one descriptor per (scattered) page */
	for (size_t o = 0; o < dlen; o += TG_PAGE_SIZE) {
		size_t piece = dlen - o < TG_PAGE_SIZE ? dlen - o : TG_PAGE_SIZE;

		if (nd == MAX_DATA_PAGES)
			gg_die("command data too large", (uint32_t)dlen);
		d[nd] = tg_alloc_page(gg->g);
		memcpy(tg_host(gg->g, d[nd]), (const uint8_t *)data + o, piece);
		bufs[n++] = (struct tg_buf){ d[nd++], (uint32_t)piece, false };
	}
	r = tg_alloc_buf(gg->g, NULL, resp_len);
	memset(tg_host(gg->g, r), 0xee, resp_len);	/* catch writes past what the device answers */
	bufs[n++] = (struct tg_buf){ r, (uint32_t)resp_len, true };
	gg->used_len = gg_raw(gg, 0, bufs, n);
	memset(&gg->resp, 0, sizeof(gg->resp));
	if (gg->used_len >= sizeof(gg->resp))
		memcpy(&gg->resp, tg_host(gg->g, r), sizeof(gg->resp));
	if (resp)
		memcpy(resp, tg_host(gg->g, r), resp_len);
	free_buf(gg->g, c, len);
	for (unsigned i = 0; i < nd; i++)
		tg_free_page(gg->g, d[i]);
	free_buf(gg->g, r, resp_len);
	return gg->used_len >= sizeof(gg->resp) ? gg->resp.type : 0;
}

static uint32_t nodata(struct gg *gg, void *cmd, size_t len)
{
	return gg_cmd(gg, cmd, len, NULL, 0, NULL, sizeof(struct virtio_gpu_ctrl_hdr));
}

uint32_t gg_get_display_info(struct gg *gg, struct virtio_gpu_resp_display_info *info)
{
	struct virtio_gpu_ctrl_hdr c = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };

	return gg_cmd(gg, &c, sizeof(c), NULL, 0, info, sizeof(*info));
}

uint32_t gg_get_edid(struct gg *gg, uint32_t scanout, struct virtio_gpu_resp_edid *edid)
{
	struct virtio_gpu_cmd_get_edid c = { .hdr.type = VIRTIO_GPU_CMD_GET_EDID, .scanout = scanout };

	return gg_cmd(gg, &c, sizeof(c), NULL, 0, edid, sizeof(*edid));
}

uint32_t gg_create_2d(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height)
{
	struct virtio_gpu_resource_create_2d c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
						   .resource_id = id, .format = format, .width = width,
						   .height = height };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_attach_backing(struct gg *gg, uint32_t id, const struct virtio_gpu_mem_entry *ents, uint32_t n)
{
	struct virtio_gpu_resource_attach_backing c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
							.resource_id = id, .nr_entries = n };

	return gg_cmd(gg, &c, sizeof(c), ents, (size_t)n * sizeof(*ents), NULL, sizeof(struct virtio_gpu_ctrl_hdr));
}

uint32_t gg_detach_backing(struct gg *gg, uint32_t id)
{
	struct virtio_gpu_resource_detach_backing c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
							.resource_id = id };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_unref(struct gg *gg, uint32_t id)
{
	struct virtio_gpu_resource_unref c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = id };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_set_scanout(struct gg *gg, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_set_scanout c = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { x, y, w, h },
					    .scanout_id = scanout, .resource_id = id };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_transfer_2d(struct gg *gg, uint32_t id, uint64_t offset, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_transfer_to_host_2d c = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						    .r = { x, y, w, h }, .offset = offset, .resource_id = id };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_flush(struct gg *gg, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_flush c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { x, y, w, h },
					       .resource_id = id };

	return nodata(gg, &c, sizeof(c));
}

uint32_t gg_assign_uuid(struct gg *gg, uint32_t id, uint8_t uuid[16])
{
	struct virtio_gpu_resource_assign_uuid c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID,
						     .resource_id = id };
	struct virtio_gpu_resp_resource_uuid r;
	uint32_t t;

	memset(&r, 0, sizeof(r));
	t = gg_cmd(gg, &c, sizeof(c), NULL, 0, &r, sizeof(r));
	if (uuid)
		memcpy(uuid, r.uuid, 16);
	return t;
}

static void cursor_cmd(struct gg *gg, uint32_t type, uint32_t scanout, uint32_t id, int32_t x, int32_t y,
		       uint32_t hot_x, uint32_t hot_y)
{
	struct virtio_gpu_update_cursor c;
	struct tg_buf b;
	uint64_t gpa;

	memset(&c, 0, sizeof(c));
	c.hdr.type = type;
	c.pos.scanout_id = scanout;
	c.pos.x = (uint32_t)x;
	c.pos.y = (uint32_t)y;
	c.resource_id = id;
	c.hot_x = hot_x;
	c.hot_y = hot_y;
	gpa = tg_alloc_buf(gg->g, &c, sizeof(c));
	b = (struct tg_buf){ gpa, sizeof(c), false };
	if (gg_raw(gg, 1, &b, 1) != 0)
		gg_die("cursor element returned with a length", 0);
	tg_free_page(gg->g, gpa);
}

void gg_update_cursor(struct gg *gg, uint32_t scanout, uint32_t id, int32_t x, int32_t y, uint32_t hot_x,
		      uint32_t hot_y)
{
	cursor_cmd(gg, VIRTIO_GPU_CMD_UPDATE_CURSOR, scanout, id, x, y, hot_x, hot_y);
}

void gg_move_cursor(struct gg *gg, uint32_t scanout, uint32_t id, int32_t x, int32_t y)
{
	cursor_cmd(gg, VIRTIO_GPU_CMD_MOVE_CURSOR, scanout, id, x, y, 0, 0);
}

uint32_t gg_config_read32(struct gg *gg, uint32_t offset)
{
	uint32_t v = 0;

	if (vgi_virtio_device_read_config(gg->dev, offset, &v, 4))
		gg_die("config read", offset);
	return v;
}

void gg_config_write32(struct gg *gg, uint32_t offset, uint32_t value)
{
	if (vgi_virtio_device_write_config(gg->dev, offset, &value, 4))
		gg_die("config write", offset);
}

struct gg_fb *gg_fb_alloc(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height)
{
	struct gg_fb *fb = calloc(1, sizeof(*fb));

	fb->id = id;
	fb->format = format;
	fb->width = width;
	fb->height = height;
	fb->stride = width * 4;
	fb->size = ((uint64_t)fb->stride * height + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE * TG_PAGE_SIZE;
	fb->npages = (uint32_t)(fb->size / TG_PAGE_SIZE);
	fb->pages = calloc(fb->npages, sizeof(uint64_t));
	fb->ents = calloc(fb->npages, sizeof(*fb->ents));
	for (uint32_t i = 0; i < fb->npages; i++) {
		fb->pages[i] = tg_alloc_page(gg->g);
		/* one entry per physically contiguous run, like sg_alloc_table_from_pages */
		if (fb->nents && fb->ents[fb->nents - 1].addr + fb->ents[fb->nents - 1].length == fb->pages[i])
			fb->ents[fb->nents - 1].length += TG_PAGE_SIZE;
		else
			fb->ents[fb->nents++] = (struct virtio_gpu_mem_entry){ fb->pages[i], TG_PAGE_SIZE, 0 };
	}
	return fb;
}

struct gg_fb *gg_fb_new(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height)
{
	struct gg_fb *fb = gg_fb_alloc(gg, id, format, width, height);
	uint32_t t;

	if ((t = gg_create_2d(gg, id, format, width, height)) != VIRTIO_GPU_RESP_OK_NODATA)
		gg_die("CREATE_2D failed", t);
	if ((t = gg_attach_backing(gg, id, fb->ents, fb->nents)) != VIRTIO_GPU_RESP_OK_NODATA)
		gg_die("ATTACH_BACKING failed", t);
	return fb;
}

void gg_fb_free(struct gg *gg, struct gg_fb *fb)
{
	if (!fb)
		return;
	for (uint32_t i = 0; i < fb->npages; i++)
		tg_free_page(gg->g, fb->pages[i]);
	free(fb->pages);
	free(fb->ents);
	free(fb);
}

uint8_t *gg_fb_byte(struct gg *gg, const struct gg_fb *fb, uint64_t offset)
{
	if (offset >= fb->size)
		gg_die("framebuffer offset out of range", (uint32_t)offset);
	return (uint8_t *)tg_host(gg->g, fb->pages[offset / TG_PAGE_SIZE]) + offset % TG_PAGE_SIZE;
}

void gg_fb_put(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t pixel)
{
	memcpy(gg_fb_byte(gg, fb, (uint64_t)y * fb->stride + (uint64_t)x * 4), &pixel, 4);
}

uint32_t gg_fb_get(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y)
{
	uint32_t p;

	memcpy(&p, gg_fb_byte(gg, fb, (uint64_t)y * fb->stride + (uint64_t)x * 4), 4);
	return p;
}

void gg_fb_fill_rect(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		     uint32_t pixel)
{
	for (uint32_t j = y; j < y + h && j < fb->height; j++) {
		for (uint32_t i = x; i < x + w && i < fb->width; i++)
			gg_fb_put(gg, fb, i, j, pixel);
	}
}

uint32_t gg_fb_dirty(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	uint32_t t = gg_transfer_2d(gg, fb->id, (uint64_t)y * fb->stride + (uint64_t)x * 4, x, y, w, h);
	uint32_t f = gg_flush(gg, fb->id, x, y, w, h);

	return t != VIRTIO_GPU_RESP_OK_NODATA ? t : f;
}
