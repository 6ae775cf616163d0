/* SPDX-License-Identifier: MIT */
#ifndef VGI_GPU_H
#define VGI_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/display.h>
#include <vgi/virtio-device.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The virtio-gpu device model. An emulator creates one with a config,
 * attaches display sinks, and drives it through its struct
 * vgi_virtio_device (vgi_gpu_virtio()): guest memory, queue setup, kicks,
 * config space. Queue 0 is the control queue, queue 1 the cursor queue.
 * A device is not thread-safe: call it, and get sink calls, on one thread.
 */

#define VGI_GPU_DEFAULT_MAX_HOSTMEM (256ull << 20)
/* QEMU, crosvm and virglrenderer have no cap on the count (only QEMU's max_hostmem); virgl's table had 65536 */
#define VGI_GPU_DEFAULT_MAX_RESOURCES 65536u
#define VGI_GPU_DEFAULT_WIDTH 1280
#define VGI_GPU_DEFAULT_HEIGHT 800

struct vgi_gpu_output_config {
	uint32_t width, height;	/* preferred mode; 0 = default */
	bool disconnected;	/* start with this output unplugged */
};

struct vgi_gpu_config {
	uint32_t num_scanouts;		/* 1..16; 0 = 1 */
	uint64_t max_hostmem;		/* cap on guest-caused host allocations; 0 = default */
	uint32_t max_resources;		/* cap on live resources (ERR_OUT_OF_MEMORY past it); 0 = default */
	bool edid;			/* offer VIRTIO_GPU_F_EDID (default on via vgi_gpu_config_init) */
	bool resource_uuid;		/* offer VIRTIO_GPU_F_RESOURCE_UUID */
	bool virgl;			/* 3D through virglrenderer (if built) */
	bool blob;			/* offer VIRTIO_GPU_F_RESOURCE_BLOB: guest-memory blobs (in-process only) */
	const char *render_node;	/* EGL on GBM of this node; NULL = surfaceless */
	struct vgi_gpu_output_config outputs[VGI_MAX_SCANOUTS];
	/*
	 * Bytes of the host-visible shared-memory region the embedder exposes
	 * to the guest (virtio shm id VIRTIO_GPU_SHM_ID_HOST_VISIBLE) for
	 * RESOURCE_MAP_BLOB of host (HOST3D) blobs; 0 = none. Needs a mapper
	 * (vgi_gpu_set_blob_mapper), else MAP_BLOB is ERR_UNSPEC.
	 */
	uint64_t hostmem_region_size;
};

void vgi_gpu_config_init(struct vgi_gpu_config *cfg);	/* defaults: 1 output 1280x800, EDID, UUID, 256 MiB */

struct vgi_gpu;

/* NULL with a logged reason on bad config (or 3D requested and unavailable). */
struct vgi_gpu *vgi_gpu_new(const struct vgi_gpu_config *cfg);
void vgi_gpu_free(struct vgi_gpu *gpu);

struct vgi_virtio_device *vgi_gpu_virtio(struct vgi_gpu *gpu);

/* Sinks get every scanout/update/cursor call; vgi_gpu_free calls their destroy. -ENOSPC past 8. */
int vgi_gpu_add_sink(struct vgi_gpu *gpu, const struct vgi_display_ops *ops, void *sink);

/*
 * The host changed an output (window resize, hotplug): raises a display event
 * to the guest (config events_read |= VIRTIO_GPU_EVENT_DISPLAY and a config
 * interrupt) when something changed. 0, or -EINVAL for a bad id or, when
 * connected, a size of 0 or above 16384. The size is kept when disconnecting.
 */
int vgi_gpu_set_output(struct vgi_gpu *gpu, uint32_t id, bool connected, uint32_t width, uint32_t height);

/*
 * The EDID the device reports for an output: the frontend's (vgi_gpu_set_edid),
 * else a generated one, 128 bytes, or 256 with a DisplayID extension when a side
 * of the mode is above 4095. *size: room in edid on entry, bytes written on
 * return. 0 or -EINVAL (bad id, or not enough room).
 */
int vgi_gpu_get_edid(struct vgi_gpu *gpu, uint32_t id, uint8_t *edid, uint32_t *size);

/* Bytes of host memory currently charged to the guest. */
uint64_t vgi_gpu_hostmem_used(const struct vgi_gpu *gpu);
/* Number of live resources (for leak checks in tests). */
unsigned vgi_gpu_resource_count(const struct vgi_gpu *gpu);
/* Tests: resource-table entries a lookup of id looks at (its chain position, or chain length if absent). */
unsigned vgi_gpu_resource_probes(const struct vgi_gpu *gpu, uint32_t id);
/* Tests: bytes of control commands read from guest memory so far (all reads, counted). */
uint64_t vgi_gpu_cmd_bytes_read(const struct vgi_gpu *gpu);

/* For the 3D path: an fd to poll (virglrenderer fences), -1 if none; dispatch when readable. */
int vgi_gpu_get_fd(struct vgi_gpu *gpu);
void vgi_gpu_dispatch(struct vgi_gpu *gpu);

/*
 * The frontend's EDID for an output (e.g. QEMU's over vhost-user-gpu): GET_EDID
 * then reports it instead of the generated one. size a multiple of 128, at most
 * 1024; size 0 goes back to the generated EDID. 0 or -EINVAL.
 */
int vgi_gpu_set_edid(struct vgi_gpu *gpu, uint32_t id, const uint8_t *blob, uint32_t size);

/*
 * Whether the frontend's EDID for output id is on its way (vgi-gpu: asked of
 * QEMU's display, not answered yet). While it is, the guest's GET_EDID for
 * that output is held instead of answered with the EDID the device has now;
 * vgi_gpu_set_edid() for the output, or expected = false, answers the held
 * commands with the EDID the device has then. The caller bounds the wait
 * (vgi-gpu: 1.5 s, then false); a device reset drops held commands, and at
 * most 64 are held (later ones are answered at once). 0 or -EINVAL (bad id).
 */
int vgi_gpu_expect_edid(struct vgi_gpu *gpu, uint32_t id, bool expected);

/*
 * Fill host so that a sink's reports reach this device: output_changed ->
 * vgi_gpu_set_output, edid -> vgi_gpu_set_edid (opaque = gpu). input and
 * quit are left NULL for the program to set.
 */
void vgi_gpu_display_host_init(struct vgi_gpu *gpu, struct vgi_display_host *host);

/*
 * Host-visible blobs: RESOURCE_MAP_BLOB of a HOST3D blob (3D, cfg->blob)
 * asks map() to make size bytes at ptr (virglrenderer's mapping) visible
 * to the guest at offset in the shared-memory region; the device has
 * already checked offset + size against cfg->hostmem_region_size and
 * against the other mappings (no overlaps). 0, or a negative errno (the
 * guest then gets ERR_UNSPEC). unmap() undoes one map (UNMAP_BLOB, or the
 * blob's unref, reset or the device's free). Both run on the device's thread.
 */
struct vgi_gpu_blob_mapper {
	int (*map)(void *opaque, uint64_t offset, void *ptr, uint64_t size);
	void (*unmap)(void *opaque, uint64_t offset, uint64_t size);
};

/* Set (or with NULL clear) the mapper; only while nothing is mapped: 0 or -EBUSY (-EINVAL for a NULL map/unmap). */
int vgi_gpu_set_blob_mapper(struct vgi_gpu *gpu, const struct vgi_gpu_blob_mapper *mapper, void *opaque);

#ifdef __cplusplus
}
#endif

#endif
