/* SPDX-License-Identifier: MIT */
#ifndef VGI_GPU_GUEST_H
#define VGI_GPU_GUEST_H

/*
 * A guest-side virtio-gpu driver on top of the in-process test guest. It
 * submits commands the way the Linux virtio-gpu driver does for a
 * dumb-buffer framebuffer: the command struct in one readable buffer, the
 * attach-backing entry array in a second readable buffer, the response in
 * a writable buffer (indirect descriptors when negotiated); framebuffers
 * are backed by scattered 4 KiB pages, one mem entry per physically
 * contiguous run, as sg_alloc_table_from_pages() builds them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>

#include "test-guest.h"

struct gg {
	struct tg_guest *g;
	struct vgi_gpu *gpu;
	struct vgi_virtio_device *dev;
	struct tg_queue *ctrl, *cursor;
	uint64_t features;	/* acked */
	bool indirect;		/* chains in indirect tables */
	unsigned irqs[2];	/* queue interrupts seen */
	unsigned config_irqs;	/* config-change interrupts seen */
	/* applied to every control command's header when set */
	uint32_t hdr_flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
	/* the last control command's response */
	struct virtio_gpu_ctrl_hdr resp;
	uint32_t used_len;
};

/* Attach to gpu: memory, host callbacks, feature negotiation (every offered bit the
 * Linux driver knows), queues of 256 entries. The gg does not own gpu or g. */
struct gg *gg_new(struct tg_guest *g, struct vgi_gpu *gpu);
void gg_free(struct gg *gg);

/*
 * One control command: cmd (len bytes, header filled from gg's fence
 * fields), optional data (readable, one descriptor per scattered page as
 * for a vmalloc'd array), response of resp_len
 * bytes copied to resp (may be NULL). Kicks, waits for the used element and
 * returns the response type (0 if the device wrote nothing). gg->resp and
 * gg->used_len describe the answer.
 */
uint32_t gg_cmd(struct gg *gg, void *cmd, size_t len, const void *data, size_t dlen, void *resp, size_t resp_len);
/* A raw chain: bufs in guest RAM made by the caller; returns the used length. */
uint32_t gg_raw(struct gg *gg, unsigned queue, const struct tg_buf *bufs, unsigned n);

uint32_t gg_get_display_info(struct gg *gg, struct virtio_gpu_resp_display_info *info);
uint32_t gg_get_edid(struct gg *gg, uint32_t scanout, struct virtio_gpu_resp_edid *edid);
uint32_t gg_create_2d(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height);
uint32_t gg_attach_backing(struct gg *gg, uint32_t id, const struct virtio_gpu_mem_entry *ents, uint32_t n);
uint32_t gg_detach_backing(struct gg *gg, uint32_t id);
uint32_t gg_unref(struct gg *gg, uint32_t id);
uint32_t gg_set_scanout(struct gg *gg, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
uint32_t gg_transfer_2d(struct gg *gg, uint32_t id, uint64_t offset, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
uint32_t gg_flush(struct gg *gg, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h);
uint32_t gg_assign_uuid(struct gg *gg, uint32_t id, uint8_t uuid[16]);

/* Cursor queue (no response). */
void gg_update_cursor(struct gg *gg, uint32_t scanout, uint32_t id, int32_t x, int32_t y, uint32_t hot_x,
		      uint32_t hot_y);
void gg_move_cursor(struct gg *gg, uint32_t scanout, uint32_t id, int32_t x, int32_t y);

uint32_t gg_config_read32(struct gg *gg, uint32_t offset);
void gg_config_write32(struct gg *gg, uint32_t offset, uint32_t value);

/* A dumb framebuffer: resource + scattered page backing, as DRM_IOCTL_MODE_CREATE_DUMB. */
struct gg_fb {
	uint32_t id, width, height, stride, format;
	uint32_t npages;
	uint64_t *pages;	/* gpa of each 4 KiB page */
	struct virtio_gpu_mem_entry *ents;
	uint32_t nents;
	uint64_t size;		/* backing bytes: stride * height rounded to pages */
};

/* Create (CREATE_2D + ATTACH_BACKING); asserts (abort) on a non-OK answer. */
struct gg_fb *gg_fb_new(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height);
/* Allocate pages and entries only (no commands): for tests that send their own. */
struct gg_fb *gg_fb_alloc(struct gg *gg, uint32_t id, uint32_t format, uint32_t width, uint32_t height);
/* Free pages and entries (no commands). */
void gg_fb_free(struct gg *gg, struct gg_fb *fb);
/* Host pointer of backing byte offset (inside one page). */
uint8_t *gg_fb_byte(struct gg *gg, const struct gg_fb *fb, uint64_t offset);
void gg_fb_put(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t pixel);
uint32_t gg_fb_get(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y);
void gg_fb_fill_rect(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		     uint32_t pixel);
/* The driver's dirty-fb path: TRANSFER_TO_HOST_2D of the rect then RESOURCE_FLUSH; returns the worst answer. */
uint32_t gg_fb_dirty(struct gg *gg, const struct gg_fb *fb, uint32_t x, uint32_t y, uint32_t w, uint32_t h);

#endif
