/* SPDX-License-Identifier: MIT */
#ifndef VGI_GUEST_MEMORY_H
#define VGI_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The guest's physical memory as seen by a device: a set of non-overlapping
 * regions, each mapping guest physical addresses [gpa, gpa + size) to host
 * memory. Every translation is bounds- and overflow-checked; a range may span
 * several regions, which is why translations produce iovecs.
 */

#define VGI_GUEST_MEMORY_MAX_REGIONS 64

struct vgi_guest_region {
	uint64_t gpa;		/* guest physical address of the first byte */
	uint64_t size;		/* bytes, > 0 */
	void *host;		/* where the first byte is mapped in this process */
	uint64_t uaddr;		/* frontend's virtual address (vhost-user), else 0 */
};

struct vgi_guest_memory;

struct vgi_guest_memory *vgi_guest_memory_new(void);
void vgi_guest_memory_free(struct vgi_guest_memory *mem);

/* -EINVAL: size 0 or gpa+size wraps; -EEXIST: overlaps a region; -ENOSPC: table full. */
int vgi_guest_memory_add_region(struct vgi_guest_memory *mem, const struct vgi_guest_region *r);
/* Removes the region that starts at gpa. -ENOENT if there is none. */
int vgi_guest_memory_remove_region(struct vgi_guest_memory *mem, uint64_t gpa);
void vgi_guest_memory_clear(struct vgi_guest_memory *mem);
unsigned vgi_guest_memory_num_regions(const struct vgi_guest_memory *mem);
const struct vgi_guest_region *vgi_guest_memory_region(const struct vgi_guest_memory *mem, unsigned i);

/*
 * Host pointer for [gpa, gpa + len) if the whole range lies in one region,
 * else NULL (also for len 0 or overflow).
 */
void *vgi_guest_memory_map(const struct vgi_guest_memory *mem, uint64_t gpa, uint64_t len);

/*
 * Translate [gpa, gpa + len) into at most max_iov iovecs, appended at
 * iov[*n_iov] (which is advanced). Adjacent host-contiguous pieces are merged.
 * Returns 0, -EFAULT if any byte is outside guest memory or the range wraps,
 * -E2BIG if more than max_iov iovecs would be needed. On error *n_iov is
 * left as it was.
 */
int vgi_guest_memory_to_iovec(const struct vgi_guest_memory *mem, uint64_t gpa, uint64_t len,
			      struct iovec *iov, unsigned max_iov, unsigned *n_iov);

/* Frontend virtual address (vhost-user ring addresses) to guest physical. -EFAULT if unmapped. */
int vgi_guest_memory_uaddr_to_gpa(const struct vgi_guest_memory *mem, uint64_t uaddr, uint64_t len,
				  uint64_t *gpa);

/* Copy helpers over guest iovecs: return bytes copied (stop at the shorter side). */
size_t vgi_iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t vgi_iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf, size_t len);
size_t vgi_iov_size(const struct iovec *iov, unsigned n);

#ifdef __cplusplus
}
#endif

#endif
