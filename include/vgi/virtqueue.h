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

/* One popped descriptor chain. Allocated by pop, sized by its actual iovec count. */
struct vgi_vq_elem {
	uint16_t head;		/* first descriptor's index; identifies the element */
	unsigned out_num;	/* device-readable buffers (driver to device) */
	unsigned in_num;	/* device-writable buffers (device to driver) */
	struct iovec *out_sg;	/* out_num entries */
	struct iovec *in_sg;	/* in_num entries */
	struct iovec iov[];	/* storage for both */
};

struct vgi_virtqueue;

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

/* Return elem to the driver with len bytes written; frees elem. */
void vgi_virtqueue_push(struct vgi_virtqueue *vq, struct vgi_vq_elem *elem, uint32_t len);
/* Free elem without returning it (device reset). NULL is fine. */
void vgi_vq_elem_free(struct vgi_vq_elem *elem);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * call (EVENT_IDX used_event, or VRING_AVAIL_F_NO_INTERRUPT). Call once after
 * a batch of pushes; it resets the batch.
 */
bool vgi_virtqueue_should_notify(struct vgi_virtqueue *vq);

/* Number of elements popped and not yet pushed or freed. */
unsigned vgi_virtqueue_inflight(const struct vgi_virtqueue *vq);

#ifdef __cplusplus
}
#endif

#endif
