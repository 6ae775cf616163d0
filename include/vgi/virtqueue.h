/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIRTQUEUE_H
#define VGI_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vgi/guest-memory.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Device side of a virtio split virtqueue (virtio 1.x, section 2.7).
 * Descriptor chains, indirect descriptors (VIRTIO_F_INDIRECT_DESC) and
 * notification suppression (VIRTIO_F_EVENT_IDX). Ring addresses are guest
 * physical addresses; the rings must each lie within one memory region.
 */

#define VGI_VQ_MAX_SIZE 32768u	/* largest queue size accepted */
#define VGI_VQ_MAX_IOV 1024u	/* most iovecs one element may map to */

struct vgi_virtqueue;

/*
 * One popped descriptor chain. Allocated by pop, sized by its actual iovec
 * count. Until it is pushed, unpopped or freed it counts as in flight on its
 * queue (vgi_virtqueue_inflight): its iovecs point into guest memory.
 */
struct vgi_vq_elem {
	struct vgi_virtqueue *vq;	/* the queue it came from */
	uint32_t gen;		/* the queue's start generation when popped */
	uint16_t avail_pos;	/* the avail ring position it was read from */
	uint16_t head;		/* first descriptor's index; identifies the element */
	unsigned out_num;	/* device-readable buffers (driver to device) */
	unsigned in_num;	/* device-writable buffers (device to driver) */
	struct iovec *out_sg;	/* out_num entries */
	struct iovec *in_sg;	/* in_num entries */
	struct iovec iov[];	/* storage for both */
};

struct vgi_virtqueue *vgi_virtqueue_new(unsigned index);
void vgi_virtqueue_free(struct vgi_virtqueue *vq);

/* Configuration, while the queue is stopped. num: power of two, 1..VGI_VQ_MAX_SIZE (-EINVAL otherwise). */
int vgi_virtqueue_set_num(struct vgi_virtqueue *vq, uint32_t num);
uint32_t vgi_virtqueue_get_num(const struct vgi_virtqueue *vq);
void vgi_virtqueue_set_addr(struct vgi_virtqueue *vq, uint64_t desc, uint64_t avail, uint64_t used);
void vgi_virtqueue_set_memory(struct vgi_virtqueue *vq, const struct vgi_guest_memory *mem);
/* Acked transport features: VIRTIO_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC are honoured. */
void vgi_virtqueue_set_features(struct vgi_virtqueue *vq, uint64_t features);
/* Where to continue reading the avail ring (vhost-user SET_VRING_BASE). Also resets used_idx to it. */
void vgi_virtqueue_set_last_avail(struct vgi_virtqueue *vq, uint16_t idx);
uint16_t vgi_virtqueue_get_last_avail(const struct vgi_virtqueue *vq);

/*
 * Map the rings (again: call after the memory map changed). -EINVAL if not
 * configured, -EFAULT if a ring is outside guest memory or misaligned.
 */
int vgi_virtqueue_start(struct vgi_virtqueue *vq);
/*
 * Stop processing. Elements popped before the stop stay counted in flight
 * until they are pushed or freed, but a push no longer writes them to the
 * ring (the front-end owns the ring state now): devices complete or give
 * back what they hold before the stop (vgi_virtio_device_ops.queue_stop).
 */
void vgi_virtqueue_stop(struct vgi_virtqueue *vq);
bool vgi_virtqueue_ready(const struct vgi_virtqueue *vq);
/* True after the driver broke the ring itself (avail idx jumped by more than num). */
bool vgi_virtqueue_broken(const struct vgi_virtqueue *vq);
unsigned vgi_virtqueue_index(const struct vgi_virtqueue *vq);

/*
 * Next available chain, or NULL when there is none (or the queue is not
 * ready or broken). A malformed chain (loop, too long, outside guest memory,
 * nested indirect, readable after writable, more than VGI_VQ_MAX_IOV
 * iovecs) is logged, returned to the driver with length 0, and skipped.
 */
struct vgi_vq_elem *vgi_virtqueue_pop(struct vgi_virtqueue *vq);

/*
 * Return elem to the driver with len bytes written; frees elem. An element
 * popped before the queue last stopped is freed without touching the ring.
 */
void vgi_virtqueue_push(struct vgi_virtqueue *vq, struct vgi_vq_elem *elem, uint32_t len);
/*
 * Give elem back unused: the avail ring is read again from its position, so
 * the driver loses nothing (a buffer the device took but never filled).
 * Unpop the most recent pop first. An element that cannot be unpopped (older
 * than a later pop that was already answered, or from before a stop) is
 * pushed with length 0 instead, or freed when the queue stopped since.
 */
void vgi_virtqueue_unpop(struct vgi_virtqueue *vq, struct vgi_vq_elem *elem);
/* Free elem without returning it (device reset: the driver forgets the ring). NULL is fine. */
void vgi_vq_elem_free(struct vgi_vq_elem *elem);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call (EVENT_IDX used_event, or VRING_AVAIL_F_NO_INTERRUPT). Call once after
 * a batch of pushes; it resets the batch.
 */
bool vgi_virtqueue_should_notify(struct vgi_virtqueue *vq);

/* Number of elements popped from this queue and not yet pushed, unpopped or freed, across stops. */
unsigned vgi_virtqueue_inflight(const struct vgi_virtqueue *vq);

#ifdef __cplusplus
}
#endif

#endif
