// SPDX-License-Identifier: MIT
/*
 * The hostile-guest suite: what tests/gpu, tests/virtio and tests/vhost-user
 * do not already cover (see the README's testing section for where the
 * rest lives).
 *  - CVE-2024-3446 (DMA re-entrancy): responses written over the device's
 *    own rings, over the command being read, backings on the ring pages,
 *    a used ring laid over the avail ring;
 *  - every command with every 32-bit field 0 and 2^32-1;
 *  - an indirect table longer than the queue, a descriptor loop through
 *    the GPU's control queue;
 *  - ring index wrap-around through the GPU (more than 65536 commands);
 *  - garbage over the whole GPU config space;
 *  - the vhost-user front-end hanging up with a command in the ring;
 *  - with guest-memory blobs offered: all of the above fields against a
 *    blob on a scanout, and a blob over the control queue's ring pages.
 * After each case the device must still serve a good command and hold no
 * host memory once the guest unrefs its resources.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>
#include <vgi/log.h>
#include <vgi/vhost-user.h>

#include "frontend.h"
#include "gpu-guest.h"

struct fx {
	struct tg_guest *g;
	struct vgi_gpu *gpu;
	struct gg *gg;
};

static void quiet(enum vgi_log_level level, const char *msg, void *opaque)
{
	if (getenv("VGI_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", msg);
}

static struct fx *fx_new(bool virgl, bool blob)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vgi_gpu_config cfg;

	vgi_log_set_handler(quiet, NULL);
	vgi_gpu_config_init(&cfg);
	cfg.num_scanouts = 2;
	cfg.max_hostmem = 8u << 20;
	cfg.virgl = virgl;
	cfg.blob = blob;
	f->gpu = vgi_gpu_new(&cfg);
	if (!f->gpu) {
		free(f);
		return NULL;
	}
	f->g = tg_guest_new(16u << 20);
	f->gg = gg_new(f->g, f->gpu);
	return f;
}

static int setup(void **state)
{
	*state = fx_new(false, false);
	assert_non_null(*state);
	return 0;
}

/* The same cases with guest-memory blobs offered (2D device). */
static int setup_blob(void **state)
{
	*state = fx_new(false, true);
	assert_non_null(*state);
	return 0;
}

/* The same cases against the 3D device (virglrenderer on surfaceless EGL), where it can be made. */
static int setup_virgl(void **state)
{
	*state = fx_new(true, false);
	return 0;
}

/* The 3D device with blobs offered: host (HOST3D) blobs go to virglrenderer. */
static int setup_virgl_blob(void **state)
{
	*state = fx_new(true, true);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	gg_free(f->gg);
	vgi_gpu_free(f->gpu);
	tg_guest_free(f->g);
	free(f);
	return 0;
}

/* The device still answers a good command correctly. */
static void assert_alive(struct fx *f)
{
	struct virtio_gpu_resp_display_info info;

	assert_int_equal(gg_get_display_info(f->gg, &info), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info.pmodes[0].enabled, 1);
	assert_int_equal(info.pmodes[0].r.width, VGI_GPU_DEFAULT_WIDTH);
}

static void assert_empty(struct fx *f)
{
	for (uint32_t id = 0; id < 16; id++)
		gg_unref(f->gg, id);
	gg_unref(f->gg, UINT32_MAX);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

/* Start over after a case that wrecked the driver's view of its rings. */
static void fresh_rings(struct fx *f)
{
	gg_free(f->gg);
	vgi_virtio_device_reset(vgi_gpu_virtio(f->gpu));
	f->gg = gg_new(f->g, f->gpu);
}

/* Submit a raw chain on the control queue and kick; no waiting on the used ring. */
static void submit(struct fx *f, const struct tg_buf *bufs, unsigned n)
{
	assert_true(tg_queue_add(f->gg->ctrl, bufs, n, false) >= 0);
	tg_queue_publish(f->gg->ctrl);
	vgi_virtio_device_kick(f->gg->dev, 0);
}

#define NEED_DEVICE(f)                                                                 \
	do {                                                                           \
		if (!(f)) {                                                            \
			fprintf(stderr, "skip: no 3D device here (virglrenderer/EGL)\n"); \
			skip();                                                        \
		}                                                                      \
	} while (0)

/* ---- CVE-2024-3446: the device's writes aimed at its own structures ---- */

static void test_response_over_own_rings_on(struct fx *f)
{

	struct tg_queue *q = f->gg->ctrl;
	struct virtio_gpu_ctrl_hdr cmd = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	uint64_t targets[3] = { q->desc_gpa, q->avail_gpa, q->used_gpa };

	for (unsigned t = 0; t < 3; t++) {
		uint64_t c = tg_alloc_buf(f->g, &cmd, sizeof(cmd));
		struct tg_buf b[2] = { { c, sizeof(cmd), false },
				       { targets[t], sizeof(struct virtio_gpu_resp_display_info), true } };

		/* the response lands on the ring itself: the device must finish without harm */
		submit(f, b, 2);
		tg_free_page(f->g, c);
		fresh_rings(f);
		q = f->gg->ctrl;
		targets[0] = q->desc_gpa;
		targets[1] = q->avail_gpa;
		targets[2] = q->used_gpa;
		assert_alive(f);
	}
	assert_empty(f);
}

static void test_response_over_own_rings(void **state)
{
	NEED_DEVICE(*state);
	test_response_over_own_rings_on(*state);
}

/* Command and response in the same bytes: the command is read whole before the answer is written. */
static void test_response_over_command_on(struct fx *f)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 5,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = 32, .height = 32,
	};
	uint64_t p = tg_alloc_buf(f->g, &c, sizeof(c));
	struct tg_buf b[2] = { { p, sizeof(c), false }, { p, sizeof(struct virtio_gpu_ctrl_hdr), true } };
	struct virtio_gpu_ctrl_hdr *resp = tg_host(f->g, p);

	assert_int_equal(gg_raw(f->gg, 0, b, 2), sizeof(*resp));
	assert_int_equal(resp->type, VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);
	tg_free_page(f->g, p);
	/* and for a response larger than the command (display info over a bare header) */
	{
		struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
		struct virtio_gpu_resp_display_info *info;

		p = tg_alloc_buf(f->g, &h, sizeof(h));
		b[0] = (struct tg_buf){ p, sizeof(h), false };
		b[1] = (struct tg_buf){ p, sizeof(*info), true };
		assert_int_equal(gg_raw(f->gg, 0, b, 2), sizeof(*info));
		info = tg_host(f->g, p);
		assert_int_equal(info->hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
		assert_int_equal(info->pmodes[0].r.height, VGI_GPU_DEFAULT_HEIGHT);
		tg_free_page(f->g, p);
	}
	assert_empty(f);
}

static void test_response_over_command(void **state)
{
	NEED_DEVICE(*state);
	test_response_over_command_on(*state);
}

/* A resource backed by the control queue's own ring pages: transfers read the rings as pixels. */
static void test_backing_over_rings_on(struct fx *f)
{

	struct tg_queue *q = f->gg->ctrl;
	/* desc + avail + used of a 256-entry queue: the ring pages, contiguous */
	struct virtio_gpu_mem_entry e[2] = { { q->desc_gpa, (uint32_t)q->ring_pages * TG_PAGE_SIZE, 0 },
					     { q->used_gpa & ~0xfffull, TG_PAGE_SIZE, 0 } };

	assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(gg_attach_backing(f->gg, 1, e, 2), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(gg_set_scanout(f->gg, 0, 1, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gg_transfer_2d(f->gg, 1, 0, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
		assert_int_equal(gg_flush(f->gg, 1, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	}
	assert_int_equal(gg_set_scanout(f->gg, 0, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
	assert_alive(f);
	assert_empty(f);
}

static void test_backing_over_rings(void **state)
{
	NEED_DEVICE(*state);
	test_backing_over_rings_on(*state);
}

/* The used ring laid over the avail ring: every used write moves the avail index the device reads. */
static void test_used_over_avail(void **state)
{
	struct fx *f = *state;
	struct tg_queue *q = f->gg->ctrl;
	struct virtio_gpu_ctrl_hdr cmd = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	uint64_t c = tg_alloc_buf(f->g, &cmd, sizeof(cmd)), r = tg_alloc_page(f->g);
	struct tg_buf b[2] = { { c, sizeof(cmd), false }, { r, 408, true } };

	assert_int_equal(vgi_virtio_device_queue_setup(f->gg->dev, 0, q->num, q->desc_gpa, q->avail_gpa,
						       q->avail_gpa), 0);
	for (int i = 0; i < 8; i++) {
		if (tg_queue_add(q, b, 2, false) < 0)
			break;
		tg_queue_publish(q);
		vgi_virtio_device_kick(f->gg->dev, 0);	/* must return: no endless walk of the ring */
	}
	tg_free_page(f->g, c);
	tg_free_page(f->g, r);
	fresh_rings(f);
	assert_alive(f);
	assert_empty(f);
}

/* ---- sizes 0 and 2^32-1 in every field of every command ---- */

static const struct {
	uint32_t type;
	uint32_t len;
} commands[] = {
	{ VIRTIO_GPU_CMD_GET_DISPLAY_INFO, sizeof(struct virtio_gpu_ctrl_hdr) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, sizeof(struct virtio_gpu_resource_create_2d) },
	{ VIRTIO_GPU_CMD_RESOURCE_UNREF, sizeof(struct virtio_gpu_resource_unref) },
	{ VIRTIO_GPU_CMD_SET_SCANOUT, sizeof(struct virtio_gpu_set_scanout) },
	{ VIRTIO_GPU_CMD_RESOURCE_FLUSH, sizeof(struct virtio_gpu_resource_flush) },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, sizeof(struct virtio_gpu_transfer_to_host_2d) },
	{ VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, sizeof(struct virtio_gpu_resource_attach_backing) },
	{ VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, sizeof(struct virtio_gpu_resource_detach_backing) },
	{ VIRTIO_GPU_CMD_GET_CAPSET_INFO, sizeof(struct virtio_gpu_get_capset_info) },
	{ VIRTIO_GPU_CMD_GET_CAPSET, sizeof(struct virtio_gpu_get_capset) },
	{ VIRTIO_GPU_CMD_GET_EDID, sizeof(struct virtio_gpu_cmd_get_edid) },
	{ VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, sizeof(struct virtio_gpu_resource_assign_uuid) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, sizeof(struct virtio_gpu_resource_create_blob) },
	{ VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, sizeof(struct virtio_gpu_set_scanout_blob) },
	{ VIRTIO_GPU_CMD_CTX_CREATE, sizeof(struct virtio_gpu_ctx_create) },
	{ VIRTIO_GPU_CMD_CTX_DESTROY, sizeof(struct virtio_gpu_ctx_destroy) },
	{ VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, sizeof(struct virtio_gpu_ctx_resource) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, sizeof(struct virtio_gpu_resource_create_3d) },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, sizeof(struct virtio_gpu_transfer_host_3d) },
	{ VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, sizeof(struct virtio_gpu_transfer_host_3d) },
	{ VIRTIO_GPU_CMD_SUBMIT_3D, sizeof(struct virtio_gpu_cmd_submit) },
	{ VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, sizeof(struct virtio_gpu_resource_map_blob) },
	{ VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, sizeof(struct virtio_gpu_resource_unmap_blob) },
	{ VIRTIO_GPU_CMD_UPDATE_CURSOR, sizeof(struct virtio_gpu_update_cursor) },
	{ VIRTIO_GPU_CMD_MOVE_CURSOR, sizeof(struct virtio_gpu_update_cursor) },
};

static bool valid_response(uint32_t type)
{
	return (type >= VIRTIO_GPU_RESP_OK_NODATA && type <= VIRTIO_GPU_RESP_OK_MAP_INFO) ||
	       (type >= VIRTIO_GPU_RESP_ERR_UNSPEC && type <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
}

static void send_filled(struct fx *f, unsigned c, uint8_t fill, bool with_resource)
{
	uint8_t cmd[256], data[64], resp[1200];
	struct virtio_gpu_ctrl_hdr h = { .type = commands[c].type };
	uint32_t len = commands[c].len;

	memset(cmd, fill, sizeof(cmd));
	memset(data, fill, sizeof(data));
	memcpy(cmd, &h, sizeof(h));
	if (with_resource) {	/* a real resource: the other fields alone are hostile */
		uint32_t id = 1;
		size_t at = sizeof(h);

		switch (commands[c].type) {
		case VIRTIO_GPU_CMD_SET_SCANOUT:
			at = offsetof(struct virtio_gpu_set_scanout, resource_id);
			break;
		case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
			at = offsetof(struct virtio_gpu_resource_flush, resource_id);
			break;
		case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
			at = offsetof(struct virtio_gpu_transfer_to_host_2d, resource_id);
			break;
		case VIRTIO_GPU_CMD_UPDATE_CURSOR:
		case VIRTIO_GPU_CMD_MOVE_CURSOR:
			at = offsetof(struct virtio_gpu_update_cursor, resource_id);
			break;
		case VIRTIO_GPU_CMD_SET_SCANOUT_BLOB:
			at = offsetof(struct virtio_gpu_set_scanout_blob, resource_id);
			break;
		}
		memcpy(cmd + at, &id, 4);
	}
	if (commands[c].type >= VIRTIO_GPU_CMD_UPDATE_CURSOR) {
		struct tg_buf b = { tg_alloc_buf(f->g, cmd, len), len, false };

		gg_raw(f->gg, 1, &b, 1);
		tg_free_page(f->g, b.gpa);
		return;
	}
	gg_cmd(f->gg, cmd, len, data, sizeof(data), resp, sizeof(resp));
	if (f->gg->used_len)
		if (!valid_response(f->gg->resp.type))
			fail_msg("command 0x%x filled with 0x%02x answered 0x%x (%u bytes)", commands[c].type, fill, f->gg->resp.type, f->gg->used_len);
}

static void test_all_fields_extreme_on(struct fx *f)
{

	static const uint8_t fills[] = { 0x00, 0xff, 0x7f, 0x80 };

	for (unsigned w = 0; w < 2; w++) {
		for (unsigned i = 0; i < sizeof(fills); i++) {
			for (unsigned c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
				if (w) {
					gg_unref(f->gg, 1);
					assert_int_equal(gg_create_2d(f->gg, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16),
							 VIRTIO_GPU_RESP_OK_NODATA);
				}
				send_filled(f, c, fills[i], w);
				assert_true(vgi_gpu_hostmem_used(f->gpu) <= (8u << 20));
			}
		}
	}
	assert_alive(f);
	assert_empty(f);
}

static void test_all_fields_extreme(void **state)
{
	NEED_DEVICE(*state);
	test_all_fields_extreme_on(*state);
}

/* ---- guest-memory blobs ---- */

/* A guest blob (id 1) over n scattered pages, as Linux creates a dumb buffer's. */
static void create_blob(struct fx *f, uint32_t n, uint64_t *pages)
{
	struct virtio_gpu_mem_entry e[16];
	struct virtio_gpu_resource_create_blob c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .resource_id = 1,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST, .blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE,
		.nr_entries = n, .size = (uint64_t)n * TG_PAGE_SIZE,
	};

	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++)
		e[i] = (struct virtio_gpu_mem_entry){ pages[i], TG_PAGE_SIZE, 0 };
	assert_int_equal(gg_cmd(f->gg, &c, sizeof(c), e, n * sizeof(e[0]), NULL, sizeof(struct virtio_gpu_ctrl_hdr)),
			 VIRTIO_GPU_RESP_OK_NODATA);
}

/*
 * Every command, every field 0, 2^32-1, 0x7f.., 0x80.., aimed at a real
 * guest blob shown on a scanout: the blob code paths (flush from guest
 * memory, no-op transfer, cursor from a blob, map refused) with hostile
 * rects, offsets, formats and strides.
 */
static void test_blob_fields_extreme(void **state)
{
	static const uint8_t fills[] = { 0x00, 0xff, 0x7f, 0x80 };
	struct fx *f = *state;
	uint64_t pages[16];

	for (int i = 0; i < 16; i++)
		pages[i] = tg_alloc_page(f->g);
	for (unsigned i = 0; i < sizeof(fills); i++) {
		for (unsigned c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
			struct virtio_gpu_set_scanout_blob so = {
				.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { 0, 0, 32, 32 }, .resource_id = 1,
				.width = 64, .height = 64, .format = VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM,
				.strides = { 256 },
			};

			gg_unref(f->gg, 1);
			create_blob(f, 16, pages);
			assert_int_equal(gg_cmd(f->gg, &so, sizeof(so), NULL, 0, NULL, 24), VIRTIO_GPU_RESP_OK_NODATA);
			send_filled(f, c, fills[i], true);
			assert_true(vgi_gpu_hostmem_used(f->gpu) <= (8u << 20));
		}
	}
	assert_alive(f);
	assert_empty(f);
	for (int i = 0; i < 16; i++)
		tg_free_page(f->g, pages[i]);
}

/* CVE-2024-3446's shape for blobs: a blob over the control queue's own ring pages, shown and flushed. */
static void test_blob_over_rings(void **state)
{
	struct fx *f = *state;
	struct tg_queue *q = f->gg->ctrl;
	uint64_t pages[16];
	uint32_t n = q->ring_pages < 16 ? q->ring_pages : 16;
	struct virtio_gpu_set_scanout_blob so = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, .r = { 0, 0, 16, 16 }, .resource_id = 1,
		.width = 16, .height = 16 * n, .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .strides = { 64 },
	};

	for (uint32_t i = 0; i < n; i++)
		pages[i] = q->desc_gpa + (uint64_t)i * TG_PAGE_SIZE;
	create_blob(f, n, pages);
	assert_int_equal(gg_cmd(f->gg, &so, sizeof(so), NULL, 0, NULL, 24), VIRTIO_GPU_RESP_OK_NODATA);
	for (int i = 0; i < 4; i++) {
		struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
							.r = { 0, 0, 16, 16 * n }, .resource_id = 1 };

		assert_int_equal(gg_cmd(f->gg, &fl, sizeof(fl), NULL, 0, NULL, 24), VIRTIO_GPU_RESP_OK_NODATA);
		gg_update_cursor(f->gg, 0, 1, 0, 0, 0, 0);	/* the rings as a cursor image */
	}
	assert_alive(f);
	assert_empty(f);
}

/* ---- chains ---- */

/* An indirect table longer than the queue, and a descriptor loop, on the GPU's control queue. */
static void test_long_chains(void **state)
{
	struct fx *f = *state;
	struct tg_queue *q = f->gg->ctrl;
	struct virtio_gpu_ctrl_hdr cmd = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	uint32_t n = q->num + 8;
	uint64_t c = tg_alloc_buf(f->g, &cmd, sizeof(cmd));
	uint64_t table = tg_alloc_contig(f->g, (uint32_t)((16ull * n + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE));
	struct tg_desc *t = tg_host(f->g, table), *d = tg_queue_desc(q);
	uint16_t *avail = tg_queue_avail(q);

	for (uint32_t i = 0; i < n; i++)
		t[i] = (struct tg_desc){ c, sizeof(cmd), (uint16_t)(i + 1 < n ? VRING_DESC_F_NEXT : 0),
					 (uint16_t)(i + 1) };
	/* with indirect descriptors negotiated or not, the device must refuse or bound it */
	d[0] = (struct tg_desc){ table, 16 * n, VRING_DESC_F_INDIRECT, 0 };
	avail[2 + q->avail_idx % q->num] = 0;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
	vgi_virtio_device_kick(f->gg->dev, 0);
	/* a loop of direct descriptors: 0 -> 1 -> 0 */
	d[0] = (struct tg_desc){ c, sizeof(cmd), VRING_DESC_F_NEXT, 1 };
	d[1] = (struct tg_desc){ c, sizeof(cmd), VRING_DESC_F_NEXT, 0 };
	avail[2 + q->avail_idx % q->num] = 0;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
	vgi_virtio_device_kick(f->gg->dev, 0);
	tg_free_page(f->g, c);
	for (uint32_t i = 0; i < (16ull * n + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE; i++)
		tg_free_page(f->g, table + (uint64_t)i * TG_PAGE_SIZE);
	fresh_rings(f);
	assert_alive(f);
	assert_empty(f);
}

/* More than 65536 commands: the 16-bit ring indexes wrap on both sides. */
static void test_ring_wrap(void **state)
{
	struct fx *f = *state;
	struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = 77 };
	uint64_t c = tg_alloc_buf(f->g, &u, sizeof(u)), r = tg_alloc_page(f->g);
	struct tg_buf b[2] = { { c, sizeof(u), false }, { r, sizeof(struct virtio_gpu_ctrl_hdr), true } };
	struct virtio_gpu_ctrl_hdr *resp = tg_host(f->g, r);

	for (uint32_t i = 0; i < 65536 + 300; i++) {
		resp->type = 0;
		assert_int_equal(gg_raw(f->gg, 0, b, 2), sizeof(*resp));
		if (resp->type != VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID)
			fail_msg("command %u answered 0x%x", i, resp->type);
	}
	assert_int_equal(f->gg->ctrl->avail_idx, (uint16_t)(65536 + 300));
	tg_free_page(f->g, c);
	tg_free_page(f->g, r);
	assert_alive(f);
	assert_empty(f);
}

/* ---- config space ---- */

static void test_config_garbage(void **state)
{
	struct fx *f = *state;
	struct vgi_virtio_device *dev = vgi_gpu_virtio(f->gpu);
	struct virtio_gpu_config before, after;
	uint8_t junk[64];

	assert_int_equal(vgi_virtio_device_read_config(dev, 0, &before, sizeof(before)), 0);
	srand(3446);
	for (int round = 0; round < 2000; round++) {
		uint32_t off = (uint32_t)rand() % (sizeof(before) + 8), len = 1 + (uint32_t)rand() % 16;

		for (uint32_t i = 0; i < len; i++)
			junk[i] = (uint8_t)rand();
		vgi_virtio_device_write_config(dev, off, junk, len);	/* out of range: refused */
		vgi_virtio_device_read_config(dev, off, junk, len);
	}
	assert_int_equal(vgi_virtio_device_write_config(dev, UINT32_MAX - 1, junk, 4) < 0, 1);
	assert_int_equal(vgi_virtio_device_read_config(dev, UINT32_MAX - 1, junk, 4) < 0, 1);
	assert_int_equal(vgi_virtio_device_read_config(dev, 0, &after, sizeof(after)), 0);
	/* the read-only fields are what they were; events can only have been cleared */
	assert_int_equal(after.num_scanouts, before.num_scanouts);
	assert_int_equal(after.num_capsets, before.num_capsets);
	assert_int_equal(after.events_read & ~before.events_read, 0);
	assert_int_equal(after.events_clear, 0);
	assert_alive(f);
}

/* ---- vhost-user: the front-end hangs up with commands in the ring ---- */

static void test_vhost_user_hangup_mid_command(void **state)
{
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	struct vgi_vhost_user *vu;
	int fds_before = fe_count_fds();

	(void)state;
	vgi_gpu_config_init(&cfg);
	for (int round = 0; round < 3; round++) {
		struct fe fe;
		struct virtio_gpu_resource_create_2d c = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 9,
			.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = 64, .height = 64,
		};
		uint64_t out, in;

		gpu = vgi_gpu_new(&cfg);
		assert_non_null(gpu);
		vu = vgi_vhost_user_new(vgi_gpu_virtio(gpu), NULL, NULL);
		assert_non_null(vu);
		fe_init(&fe, vu);
		fe_negotiate(&fe, 1ull << VIRTIO_F_VERSION_1);
		assert_int_equal(fe_set_mem_table(&fe), 0);
		assert_int_equal(fe_setup_queue(&fe, 0), 0);
		assert_int_equal(fe_setup_queue(&fe, 1), 0);
		out = fe_alloc(&fe, sizeof(c));
		in = fe_alloc(&fe, 24);
		memcpy(fe_host(&fe, out), &c, sizeof(c));
		if (round == 1) {	/* one command served (a resource exists), then more queued */
			fe_add_chain(&fe, 0, out, sizeof(c), in, 24, true);
			assert_int_equal(fe_pump(&fe), 0);
			assert_int_equal(vgi_gpu_resource_count(gpu), 1);
		}
		c.resource_id = 10;
		memcpy(fe_host(&fe, out), &c, sizeof(c));
		fe_add_chain(&fe, 0, out, sizeof(c), in, 24, true);
		if (round == 2) {	/* half a message on the socket as well */
			uint32_t hdr[3] = { VGI_VHOST_USER_SET_VRING_NUM, VGI_VHOST_USER_VERSION, 8 };

			assert_int_equal(write(fe.sock, hdr, 10), 10);
		}
		/* the front-end is gone before the kick is served */
		close(fe.sock);
		fe.sock = -1;
		fe_pump(&fe);
		assert_false(vgi_vhost_user_connected(vu));
		assert_int_equal(vgi_vhost_user_num_regions(vu), 0);
		/* the device was reset: the guest's resources are gone with it */
		assert_int_equal(vgi_gpu_resource_count(gpu), 0);
		assert_int_equal(vgi_gpu_hostmem_used(gpu), 0);
		fe_finish(&fe);
		vgi_vhost_user_free(vu);
		vgi_gpu_free(gpu);
		assert_int_equal(fe_count_fds(), fds_before);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T3(fn) cmocka_unit_test_setup_teardown(fn, setup_virgl, teardown)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, setup_blob, teardown)
#define TB3(fn) cmocka_unit_test_setup_teardown(fn, setup_virgl_blob, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_response_over_own_rings),
		T(test_response_over_command),
		T(test_backing_over_rings),
		T(test_used_over_avail),
		T(test_all_fields_extreme),
		T(test_long_chains),
		T(test_ring_wrap),
		T(test_config_garbage),
		cmocka_unit_test(test_vhost_user_hangup_mid_command),
		T3(test_response_over_command),
		T3(test_backing_over_rings),
		T3(test_all_fields_extreme),
		T3(test_response_over_own_rings),
		TB(test_all_fields_extreme),
		TB(test_blob_fields_extreme),
		TB(test_blob_over_rings),
		TB3(test_all_fields_extreme),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
