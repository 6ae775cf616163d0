// SPDX-License-Identifier: MIT
/*
 * The virtio-gpu device behind the vhost-user back-end, driven by the test
 * front-end as QEMU would: GET_DISPLAY_INFO and config space over the
 * protocol, a 2D resource shown through the headless sink, and a memory
 * table replaced under a resource's backing while the rings run.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <drm_fourcc.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>
#include <vgi/headless.h>
#include <vgi/log.h>
#include <vgi/vhost-user.h>

#include "frontend.h"

struct fixture {
	struct vgi_gpu *gpu;
	struct vgi_headless *hl;
	struct vgi_vhost_user *vu;
	struct fe fe;
	int fds_before;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vgi_gpu_config cfg;

	f->fds_before = fe_count_fds();
	vgi_gpu_config_init(&cfg);
	f->gpu = vgi_gpu_new(&cfg);
	assert_non_null(f->gpu);
	f->hl = vgi_headless_new(NULL);
	assert_non_null(f->hl);
	assert_int_equal(vgi_gpu_add_sink(f->gpu, vgi_headless_ops(), f->hl), 0);
	f->vu = vgi_vhost_user_new(vgi_gpu_virtio(f->gpu), NULL, NULL);
	assert_non_null(f->vu);
	fe_init(&f->fe, f->vu);
	fe_negotiate(&f->fe, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_GPU_F_EDID));
	assert_int_equal(fe_set_mem_table(&f->fe), 0);
	assert_int_equal(fe_setup_queue(&f->fe, 0), 0);
	assert_int_equal(fe_setup_queue(&f->fe, 1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fe_finish(&f->fe);
	vgi_vhost_user_free(f->vu);
	vgi_gpu_free(f->gpu);	/* destroys the headless sink */
	assert_int_equal(fe_count_fds(), f->fds_before);
	free(f);
	return 0;
}

/* One control command; returns the response (in guest RAM) after checking it was used. */
static void *gpu_cmd(struct fixture *f, const void *cmd, uint32_t len, uint32_t resp_len)
{
	uint64_t out = fe_alloc(&f->fe, len), in = fe_alloc(&f->fe, resp_len);
	uint32_t id, used;
	unsigned head;

	memcpy(fe_host(&f->fe, out), cmd, len);
	head = fe_add_chain(&f->fe, 0, out, len, in, resp_len, true);
	assert_int_equal(fe_pump(&f->fe), 0);
	assert_true(fe_get_used(&f->fe, 0, &id, &used));
	assert_int_equal(id, head);
	assert_int_equal(used, resp_len);
	return fe_host(&f->fe, in);
}

static void expect_ok(struct fixture *f, const void *cmd, uint32_t len)
{
	struct virtio_gpu_ctrl_hdr *r = gpu_cmd(f, cmd, len, sizeof(*r));

	assert_int_equal(r->type, VIRTIO_GPU_RESP_OK_NODATA);
}

static void test_display_info(void **state)
{
	struct fixture *f = *state;
	struct virtio_gpu_ctrl_hdr cmd = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resp_display_info *info = gpu_cmd(f, &cmd, sizeof(cmd), sizeof(*info));
	struct virtio_gpu_config cfg;
	uint8_t msg[12 + sizeof(cfg)] = { 0 };
	uint32_t hdr[3] = { 0, sizeof(cfg), 0 };

	assert_int_equal(info->hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info->pmodes[0].enabled, 1);
	assert_int_equal(info->pmodes[0].r.width, VGI_GPU_DEFAULT_WIDTH);
	assert_int_equal(info->pmodes[0].r.height, VGI_GPU_DEFAULT_HEIGHT);
	assert_int_equal(info->pmodes[1].enabled, 0);
	assert_true(fe_called(&f->fe, 0));

	/* config space through GET_CONFIG, as QEMU reads it */
	memcpy(msg, hdr, 12);
	assert_int_equal(fe_call(&f->fe, VGI_VHOST_USER_GET_CONFIG, msg, sizeof(msg), NULL, 0), 0);
	assert_int_equal(fe_reply(&f->fe, VGI_VHOST_USER_GET_CONFIG, msg, sizeof(msg)), (int)sizeof(msg));
	memcpy(&cfg, msg + 12, sizeof(cfg));
	assert_int_equal(cfg.num_scanouts, 1);
}

static void fill(struct fixture *f, uint64_t gpa, uint32_t pixels, uint32_t value)
{
	uint32_t *p = fe_host(&f->fe, gpa);

	for (uint32_t i = 0; i < pixels; i++)
		p[i] = value;
}

static void show(struct fixture *f, uint32_t w, uint32_t h)
{
	struct virtio_gpu_transfer_to_host_2d t = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, .r = { 0, 0, w, h }, .resource_id = 1,
	};
	struct virtio_gpu_resource_flush fl = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = { 0, 0, w, h }, .resource_id = 1,
	};

	expect_ok(f, &t, sizeof(t));
	expect_ok(f, &fl, sizeof(fl));
}

static uint32_t frame_pixel(struct fixture *f, uint32_t x, uint32_t y)
{
	const struct vgi_image *img = vgi_headless_frame(f->hl, 0);
	uint32_t v;

	assert_non_null(img);
	memcpy(&v, (const uint8_t *)img->data + (size_t)y * img->stride + 4 * x, 4);
	return v & 0xffffff;
}

/* A resource's backing survives a memory table replacement (new memfd, same guest contents). */
static void test_scanout_across_mem_table_replace(void **state)
{
	struct fixture *f = *state;
	const uint32_t w = 64, h = 32;
	uint64_t backing = fe_alloc(&f->fe, w * h * 4);
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, .resource_id = 1,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, .width = w, .height = h,
	};
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} ab = {
		{ .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, .resource_id = 1, .nr_entries = 1 },
		{ .addr = backing, .length = w * h * 4 },
	};
	struct virtio_gpu_set_scanout ss = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, w, h }, .scanout_id = 0, .resource_id = 1,
	};
	int memfd2;
	uint8_t *ram2;

	expect_ok(f, &c, sizeof(c));
	expect_ok(f, &ab, sizeof(ab));
	expect_ok(f, &ss, sizeof(ss));
	fill(f, backing, w * h, 0x00ff0000);
	show(f, w, h);
	assert_int_equal(frame_pixel(f, 5, 5), 0xff0000);

	/* QEMU replaces the table: new memfd with the same contents */
	memfd2 = memfd_create("vu-gpu-ram2", MFD_CLOEXEC);
	assert_true(memfd2 >= 0);
	assert_int_equal(ftruncate(memfd2, FE_RAM_SIZE), 0);
	ram2 = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd2, 0);
	assert_true(ram2 != MAP_FAILED);
	memcpy(ram2, f->fe.ram, FE_RAM_SIZE);
	munmap(f->fe.ram, FE_RAM_SIZE);
	close(f->fe.memfd);
	f->fe.ram = ram2;
	f->fe.memfd = memfd2;
	assert_int_equal(fe_set_mem_table(&f->fe), 0);

	/* the guest draws green into the same guest pages: the device must read the new mapping */
	fill(f, backing, w * h, 0x0000ff00);
	show(f, w, h);
	assert_int_equal(frame_pixel(f, 5, 5), 0x00ff00);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 1);

	/* QEMU goes away: every resource is dropped */
	vgi_vhost_user_disconnect(f->vu);
	assert_int_equal(vgi_gpu_resource_count(f->gpu), 0);
	assert_int_equal(vgi_gpu_hostmem_used(f->gpu), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_display_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scanout_across_mem_table_replace, setup, teardown),
	};

	vgi_log_set_level(getenv("VGI_TEST_VERBOSE") ? VGI_LOG_DEBUG : VGI_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
