// SPDX-License-Identifier: MIT
/*
 * Fuzz the virtio-gpu device through real split rings: the input is a
 * sequence of control/cursor commands (bytes as the guest writes them),
 * host output changes and config writes. Attach-backing and create-blob
 * entries whose address has the top bit clear are pointed at real guest
 * pages (so backings are mostly valid and the transfer and blob scanout
 * paths run); the rest are raw. Mode bit 2 offers guest-memory blobs.
 * At the end every resource is unreffed and the device must hold no host
 * memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_gpu.h>

#include <vgi/gpu.h>
#include <vgi/log.h>

#include "gpu-guest.h"
#include "fuzz-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_backing(struct tg_guest *g, uint8_t *cmd, size_t len, uint8_t *d, size_t dlen)
{
	struct virtio_gpu_ctrl_hdr hdr;

	if (len < sizeof(hdr))
		return;
	memcpy(&hdr, cmd, sizeof(hdr));
	if (hdr.type != VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING && hdr.type != VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB)
		return;
	for (size_t off = 0; off + sizeof(struct virtio_gpu_mem_entry) <= dlen; off += sizeof(struct virtio_gpu_mem_entry)) {
		struct virtio_gpu_mem_entry e;

		memcpy(&e, d + off, sizeof(e));
		if (!(e.addr >> 63)) {
			e.addr = tg_page_gpa(g, (uint32_t)(e.addr % g->npages)) + ((e.addr >> 32) & 0xfff);
			memcpy(d + off, &e, sizeof(e));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct vgi_gpu_config cfg;
	static struct tg_guest *g;	/* kept: every page is returned at the end of an input */
	struct vgi_gpu *gpu;
	struct gg *gg;
	uint8_t mode = 0;
	unsigned records = 0;

	vgi_log_set_handler(quiet, NULL);
	take(&r, &mode, 1);
	vgi_gpu_config_init(&cfg);
	cfg.num_scanouts = 1 + (mode & 1);
	cfg.max_hostmem = 2u << 20;
	cfg.blob = mode & 4;
	if (!g)
		g = tg_guest_new(1u << 20);
	gpu = vgi_gpu_new(&cfg);
	gg = gg_new(g, gpu);
	gg->indirect = gg->indirect && (mode & 2);

	while (r.left && records++ < 48) {
		uint8_t kind = 0, cmd[512], d[1024];
		uint16_t len = 0, dlen = 0, rlen = 0;

		take(&r, &kind, 1);
		switch (kind % 5) {
		case 0:		/* control command */
		case 1:		/* cursor command */
			if (!take(&r, &len, 2) || !take(&r, &dlen, 2) || !take(&r, &rlen, 2))
				goto out;
			len %= sizeof(cmd) + 1;
			dlen %= sizeof(d) + 1;
			rlen %= 2048;
			memset(cmd, 0, sizeof(cmd));
			if (!take(&r, cmd, len < r.left ? len : r.left) || !take(&r, d, dlen < r.left ? dlen : r.left))
				goto out;
			if (kind % 5 == 0) {
				fix_backing(g, cmd, len, d, dlen);
				gg_cmd(gg, cmd, len, d, dlen, NULL, rlen);
			} else {
				struct tg_buf b = { tg_alloc_buf(g, cmd, len ? len : 1), len, false };

				gg_raw(gg, 1, &b, 1);
				tg_free_page(g, b.gpa);
			}
			break;
		case 2: {	/* the host resizes or unplugs an output */
			uint8_t o[5];

			if (!take(&r, o, sizeof(o)))
				goto out;
			vgi_gpu_set_output(gpu, o[0] % 20, o[0] & 0x80, (uint32_t)o[1] << 5 | o[2],
					   (uint32_t)o[3] << 5 | o[4]);
			break;
		}
		case 3: {	/* config space write (events_clear and garbage) */
			uint8_t off = 0;
			uint32_t v = 0;

			if (!take(&r, &off, 1) || !take(&r, &v, 4))
				goto out;
			vgi_virtio_device_write_config(gg->dev, off % 32, &v, 1 + (off >> 6));
			break;
		}
		case 4:
			break;
		}
	}
out:
	/* unref everything the guest may have created */
	for (uint32_t id = 0; id < 64 && vgi_gpu_resource_count(gpu); id++)
		gg_unref(gg, id);
	gg_free(gg);
	vgi_gpu_free(gpu);
	if (g->nfree != g->npages)
		abort();	/* the harness lost pages: a test bug */
	return 0;
}
