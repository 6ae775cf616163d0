/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRTIO_DEVICE_H
#define VGI_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/guest-memory.h>
#include <vgi/virtqueue.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What every vgi device model (virtio-gpu, virtio-input) looks like to a
 * transport (the in-process API, hw/vhost-user, the test guest). A device
 * embeds struct vgi_virtio_device and fills in ops; the transport drives it
 * with the vgi_virtio_device_* calls below and gets interrupts and config
 * changes through the host ops.
 */

#define VGI_VIRTIO_MAX_QUEUES 8

struct vgi_virtio_device;

struct vgi_virtio_device_ops {
	/* Device and transport feature bits offered (VIRTIO_F_VERSION_1 included). */
	uint64_t (*get_features)(struct vgi_virtio_device *dev);
	/* Driver acked these (already masked to the offered ones). */
	void (*set_features)(struct vgi_virtio_device *dev, uint64_t acked);
	/* The driver kicked queue index. */
	void (*queue_notify)(struct vgi_virtio_device *dev, unsigned index);
	/* Config space: bytes [offset, offset+len) already bounds-checked against config_size. */
	void (*read_config)(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len);
	void (*write_config)(struct vgi_virtio_device *dev, uint32_t offset, const void *buf, uint32_t len);
	/*
	 * Optional: queue index is about to stop (VM stop, ring moved, device
	 * reset), and the ring state goes back to the transport right after.
	 * Complete (push) or give back (vgi_virtqueue_unpop) every element the
	 * device holds from it, while guest memory is still mapped; an element
	 * kept past this is never written to the ring. Not needed by devices
	 * that never hold elements between notifications.
	 */
	void (*queue_stop)(struct vgi_virtio_device *dev, unsigned index);
	/*
	 * Drop all guest state (driver reset or frontend disconnect): back to
	 * the state after creation. Free every element held (vgi_vq_elem_free);
	 * the queues are stopped by the caller right after.
	 */
	void (*reset)(struct vgi_virtio_device *dev);
	/* Optional: memory map is about to change / changed (unmap or remap guest pointers). */
	void (*memory_changed)(struct vgi_virtio_device *dev);
};

struct vgi_virtio_host_ops {
	/* Raise queue index's interrupt (vhost-user: write its call eventfd). */
	void (*notify)(void *opaque, unsigned index);
	/* Config space changed (virtio-gpu display events): raise the config interrupt. */
	void (*config_changed)(void *opaque);
};

struct vgi_virtio_device {
	const struct vgi_virtio_device_ops *ops;
	uint32_t device_id;		/* VIRTIO_ID_GPU, VIRTIO_ID_INPUT */
	uint32_t config_size;
	unsigned num_queues;
	struct vgi_virtqueue *queues[VGI_VIRTIO_MAX_QUEUES];
	const struct vgi_guest_memory *mem;	/* not owned */
	uint64_t acked_features;
	const struct vgi_virtio_host_ops *host;
	void *host_opaque;
};

int vgi_virtio_device_init(struct vgi_virtio_device *dev, const struct vgi_virtio_device_ops *ops,
			   uint32_t device_id, unsigned num_queues, uint32_t config_size);
void vgi_virtio_device_finish(struct vgi_virtio_device *dev);

void vgi_virtio_device_set_host(struct vgi_virtio_device *dev, const struct vgi_virtio_host_ops *host,
				void *opaque);
/* Also remaps started queues; -EFAULT from a queue whose rings are no longer mapped. */
int vgi_virtio_device_set_memory(struct vgi_virtio_device *dev, const struct vgi_guest_memory *mem);

uint64_t vgi_virtio_device_get_features(struct vgi_virtio_device *dev);
/* Masks to the offered features, tells the device and the queues. */
void vgi_virtio_device_set_features(struct vgi_virtio_device *dev, uint64_t acked);

struct vgi_virtqueue *vgi_virtio_device_queue(struct vgi_virtio_device *dev, unsigned index);
/* Configure and start a queue (num, ring addresses as guest physical addresses). */
int vgi_virtio_device_queue_setup(struct vgi_virtio_device *dev, unsigned index, uint32_t num,
				  uint64_t desc, uint64_t avail, uint64_t used);
/*
 * Stop queue index: the device completes or gives back what it holds of it
 * (ops->queue_stop), then the ring stops.
 */
void vgi_virtio_device_queue_stop(struct vgi_virtio_device *dev, unsigned index);
/* The driver kicked queue index (ignored if out of range or not ready). */
void vgi_virtio_device_kick(struct vgi_virtio_device *dev, unsigned index);
/* Device side: interrupt the driver for queue index if the ring asks for it. */
void vgi_virtio_device_notify(struct vgi_virtio_device *dev, unsigned index);
void vgi_virtio_device_config_changed(struct vgi_virtio_device *dev);

/* -EINVAL for a range outside config_size (checked in 64-bit). */
int vgi_virtio_device_read_config(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len);
int vgi_virtio_device_write_config(struct vgi_virtio_device *dev, uint32_t offset, const void *buf,
				   uint32_t len);

/* Reset the device (it frees every element it holds), then stop the queues and rewind them to 0. */
void vgi_virtio_device_reset(struct vgi_virtio_device *dev);

#ifdef __cplusplus
}
#endif

#endif
