// SPDX-License-Identifier: MIT
/* virtio-gpu pieces that need no rings: EDID, configuration, sinks, outputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>
#include <vgi/log.h>

static void quiet(enum vgi_log_level level, const char *msg, void *opaque)
{
}

static struct vgi_gpu *gpu_with(uint32_t n, uint32_t w, uint32_t h)
{
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;

	vgi_gpu_config_init(&cfg);
	cfg.num_scanouts = n;
	for (uint32_t i = 0; i < n; i++) {
		cfg.outputs[i].width = w;
		cfg.outputs[i].height = h;
	}
	gpu = vgi_gpu_new(&cfg);
	assert_non_null(gpu);
	return gpu;
}

static void check_edid_block(const uint8_t *e, uint32_t id, uint32_t w, uint32_t h)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	uint8_t sum = 0;
	char serial[16];
	bool name = false, ser = false;

	assert_memory_equal(e, header, 8);
	for (int i = 0; i < 128; i++)
		sum = (uint8_t)(sum + e[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(e[18], 1);
	assert_int_equal(e[19], 4);
	/* manufacturer VGI */
	assert_int_equal(((e[8] >> 2) & 0x1f) + '@', 'V');
	assert_int_equal((((e[8] & 3) << 3) | (e[9] >> 5)) + '@', 'G');
	assert_int_equal((e[9] & 0x1f) + '@', 'I');
	{
		/* first descriptor: detailed timing of the preferred mode (scaled down to fit when too big) */
		uint32_t m = w > h ? w : h;
		uint32_t dw = m > 4095 ? (uint32_t)((uint64_t)w * 4095 / m) : w;
		uint32_t dh = m > 4095 ? (uint32_t)((uint64_t)h * 4095 / m) : h;
		uint32_t clock = e[54] | (e[55] << 8);
		uint32_t ha = e[56] | ((e[58] >> 4) << 8), hb = e[57] | ((e[58] & 0xf) << 8);
		uint32_t va = e[59] | ((e[61] >> 4) << 8), vb = e[60] | ((e[61] & 0xf) << 8);
		double hz;

		assert_true(clock > 0);
		assert_int_equal(ha, dw ? dw : 1);
		assert_int_equal(va, dh ? dh : 1);
		hz = clock * 10000.0 / ((ha + hb) * (double)(va + vb));
		assert_true(hz > 0.9 && hz < 62.0);
		assert_true(clock >= 1000);	/* at least 10 MHz */
	}
	/* a DisplayID extension with the real mode exactly when it does not fit */
	assert_int_equal(e[126], w > 4095 || h > 4095);
	if (e[126]) {
		const uint8_t *x = e + 128, *b;
		uint8_t s1 = 0;
		bool found = false;

		for (int i = 0; i < 128; i++)
			s1 = (uint8_t)(s1 + x[i]);
		assert_int_equal(s1, 0);
		assert_int_equal(x[0], 0x70);
		/* walk the data blocks to the type I timing */
		for (b = x + 5; b < x + 5 + x[2]; b += 3 + b[2]) {
			if (b[0] == 0x03) {
				assert_int_equal((b[7] | b[8] << 8) + 1, w);
				assert_int_equal((b[15] | b[16] << 8) + 1, h);
				assert_true(b[6] & 0x80);	/* preferred */
				found = true;
			}
		}
		assert_true(found);
	}
	snprintf(serial, sizeof(serial), "vgi-%u\n", id);
	for (int d = 54; d < 126; d += 18) {
		if (e[d] || e[d + 1])
			continue;
		if (e[d + 3] == 0xfc)
			name = !memcmp(e + d + 5, "vgi\n", 4);
		if (e[d + 3] == 0xff)
			ser = !memcmp(e + d + 5, serial, strlen(serial));
	}
	assert_true(name);
	assert_true(ser);
}

static void test_edid_generated(void **state)
{
	static const uint32_t sizes[][2] = { { 1280, 800 }, { 640, 480 }, { 3840, 2160 }, { 4095, 4095 },
					     { 16, 16 }, { 4096, 2160 }, { 16384, 16384 }, { 16384, 16 },
					     { 16, 16384 } };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct vgi_gpu *gpu = gpu_with(2, sizes[i][0], sizes[i][1]);
		uint8_t e[256];
		uint32_t size = sizeof(e);
		bool big = sizes[i][0] > 4095 || sizes[i][1] > 4095;

		assert_int_equal(vgi_gpu_get_edid(gpu, 1, e, &size), 0);
		assert_int_equal(size, big ? 256 : 128);
		check_edid_block(e, 1, sizes[i][0], sizes[i][1]);
		size = big ? 255 : 127;
		assert_int_equal(vgi_gpu_get_edid(gpu, 0, e, &size), -EINVAL);
		size = 128;
		assert_int_equal(vgi_gpu_get_edid(gpu, 2, e, &size), -EINVAL);
		vgi_gpu_free(gpu);
	}
}

static void test_edid_follows_output(void **state)
{
	struct vgi_gpu *gpu = gpu_with(1, 1024, 768);
	uint8_t e[128];
	uint32_t size = 128;

	assert_int_equal(vgi_gpu_set_output(gpu, 0, true, 1920, 1080), 0);
	assert_int_equal(vgi_gpu_get_edid(gpu, 0, e, &size), 0);
	check_edid_block(e, 0, 1920, 1080);
	vgi_gpu_free(gpu);
}

static void test_edid_from_frontend(void **state)
{
	struct vgi_gpu *gpu = gpu_with(2, 800, 600);
	struct vgi_display_host host;
	uint8_t blob[256], e[1024];
	uint32_t size = sizeof(e);

	for (int i = 0; i < 256; i++)
		blob[i] = (uint8_t)i;
	assert_int_equal(vgi_gpu_set_edid(gpu, 0, blob, 100), -EINVAL);	/* not whole blocks */
	assert_int_equal(vgi_gpu_set_edid(gpu, 2, blob, 128), -EINVAL);
	assert_int_equal(vgi_gpu_set_edid(gpu, 0, NULL, 128), -EINVAL);
	vgi_gpu_display_host_init(gpu, &host);
	host.edid(host.opaque, 0, blob, 256);
	assert_int_equal(vgi_gpu_get_edid(gpu, 0, e, &size), 0);
	assert_int_equal(size, 256);
	assert_memory_equal(e, blob, 256);
	size = 128;
	assert_int_equal(vgi_gpu_get_edid(gpu, 0, e, &size), -EINVAL);	/* no room */
	/* the other output still generates its own */
	size = sizeof(e);
	assert_int_equal(vgi_gpu_get_edid(gpu, 1, e, &size), 0);
	check_edid_block(e, 1, 800, 600);
	/* size 0: back to generated */
	assert_int_equal(vgi_gpu_set_edid(gpu, 0, NULL, 0), 0);
	size = sizeof(e);
	assert_int_equal(vgi_gpu_get_edid(gpu, 0, e, &size), 0);
	assert_int_equal(size, 128);
	check_edid_block(e, 0, 800, 600);
	/* output_changed reaches set_output */
	host.output_changed(host.opaque, 1, true, 1024, 768);
	size = sizeof(e);
	assert_int_equal(vgi_gpu_get_edid(gpu, 1, e, &size), 0);
	check_edid_block(e, 1, 1024, 768);
	host.output_changed(host.opaque, 7, true, 1024, 768);	/* refused, logged */
	vgi_gpu_free(gpu);
}

static void test_config_defaults(void **state)
{
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	struct virtio_gpu_config c;
	uint64_t f;

	vgi_gpu_config_init(&cfg);
	assert_int_equal(cfg.num_scanouts, 1);
	assert_true(cfg.max_hostmem == VGI_GPU_DEFAULT_MAX_HOSTMEM);
	assert_true(cfg.edid);
	assert_true(cfg.resource_uuid);
	assert_false(cfg.virgl);
	gpu = vgi_gpu_new(&cfg);
	assert_non_null(gpu);
	assert_int_equal(vgi_gpu_virtio(gpu)->device_id, 16);
	assert_int_equal(vgi_gpu_virtio(gpu)->num_queues, 2);
	assert_int_equal(vgi_gpu_virtio(gpu)->config_size, sizeof(c));
	f = vgi_virtio_device_get_features(vgi_gpu_virtio(gpu));
	assert_true(f & (1ull << VIRTIO_F_VERSION_1));
	assert_true(f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	assert_true(f & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	assert_true(f & (1ull << VIRTIO_GPU_F_EDID));
	assert_true(f & (1ull << VIRTIO_GPU_F_RESOURCE_UUID));
	assert_false(f & (1ull << VIRTIO_GPU_F_VIRGL));
	assert_false(f & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_int_equal(vgi_virtio_device_read_config(vgi_gpu_virtio(gpu), 0, &c, sizeof(c)), 0);
	assert_int_equal(c.num_scanouts, 1);
	assert_int_equal(c.num_capsets, 0);
	assert_int_equal(c.events_read, 0);
	assert_int_equal(vgi_virtio_device_read_config(vgi_gpu_virtio(gpu), 14, &c, 4), -EINVAL);
	assert_int_equal(vgi_gpu_get_fd(gpu), -1);
	vgi_gpu_dispatch(gpu);
	assert_int_equal(vgi_gpu_hostmem_used(gpu), 0);
	assert_int_equal(vgi_gpu_resource_count(gpu), 0);
	vgi_gpu_free(gpu);

	cfg.edid = cfg.resource_uuid = false;
	gpu = vgi_gpu_new(&cfg);
	f = vgi_virtio_device_get_features(vgi_gpu_virtio(gpu));
	assert_false(f & (1ull << VIRTIO_GPU_F_EDID));
	assert_false(f & (1ull << VIRTIO_GPU_F_RESOURCE_UUID));
	vgi_gpu_free(gpu);

	gpu = vgi_gpu_new(NULL);	/* NULL config: defaults */
	assert_non_null(gpu);
	vgi_gpu_free(gpu);
	vgi_gpu_free(NULL);
}

static void test_config_rejected(void **state)
{
	struct vgi_gpu_config cfg;

	vgi_gpu_config_init(&cfg);
	cfg.num_scanouts = 17;
	assert_null(vgi_gpu_new(&cfg));
	vgi_gpu_config_init(&cfg);
	cfg.outputs[3].width = 20000;
	assert_null(vgi_gpu_new(&cfg));
	vgi_gpu_config_init(&cfg);
	cfg.blob = true;	/* guest-memory blobs need no 3D: accepted */
	{
		struct vgi_gpu *gpu = vgi_gpu_new(&cfg);

		assert_non_null(gpu);
		assert_true(vgi_virtio_device_get_features(vgi_gpu_virtio(gpu)) & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
		vgi_gpu_free(gpu);
	}
	vgi_gpu_config_init(&cfg);
	cfg.num_scanouts = 16;
	{
		struct vgi_gpu *gpu = vgi_gpu_new(&cfg);
		struct virtio_gpu_config c;

		assert_non_null(gpu);
		vgi_virtio_device_read_config(vgi_gpu_virtio(gpu), 0, &c, sizeof(c));
		assert_int_equal(c.num_scanouts, 16);
		vgi_gpu_free(gpu);
	}
}

static unsigned destroyed;

static void count_destroy(void *sink)
{
	destroyed++;
}

static void test_sinks(void **state)
{
	static const struct vgi_display_ops ops = { .destroy = count_destroy };
	struct vgi_gpu *gpu = gpu_with(1, 640, 480);

	destroyed = 0;
	for (int i = 0; i < 8; i++)
		assert_int_equal(vgi_gpu_add_sink(gpu, &ops, NULL), 0);
	assert_int_equal(vgi_gpu_add_sink(gpu, &ops, NULL), -ENOSPC);
	assert_int_equal(vgi_gpu_add_sink(gpu, NULL, NULL), -EINVAL);
	vgi_gpu_free(gpu);
	assert_int_equal(destroyed, 8);
}

static void test_set_output_checks(void **state)
{
	struct vgi_gpu *gpu = gpu_with(2, 640, 480);

	assert_int_equal(vgi_gpu_set_output(gpu, 2, true, 640, 480), -EINVAL);
	assert_int_equal(vgi_gpu_set_output(gpu, 0, true, 0, 480), -EINVAL);
	assert_int_equal(vgi_gpu_set_output(gpu, 0, true, 640, 0), -EINVAL);
	assert_int_equal(vgi_gpu_set_output(gpu, 0, true, 16385, 480), -EINVAL);
	assert_int_equal(vgi_gpu_set_output(gpu, 0, false, 0, 0), 0);	/* size ignored when disconnecting */
	assert_int_equal(vgi_gpu_set_output(gpu, 0, true, 16384, 16384), 0);
	vgi_gpu_free(gpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edid_generated),
		cmocka_unit_test(test_edid_follows_output),
		cmocka_unit_test(test_edid_from_frontend),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_rejected),
		cmocka_unit_test(test_sinks),
		cmocka_unit_test(test_set_output_checks),
	};

	vgi_log_set_handler(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
