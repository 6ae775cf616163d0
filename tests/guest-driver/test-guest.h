/* SPDX-License-Identifier: MIT */
#ifndef VGI_TEST_GUEST_H
#define VGI_TEST_GUEST_H

/*
 * The in-process test guest: the driver side of virtio split rings, laid
 * out in a buffer that plays guest RAM. Pages are handed out in a shuffled
 * order (fixed seed), as a long-running Linux guest's allocator does, so
 * multi-page buffers are scattered. RAM is two regions with a hole between
 * them, so translations that span regions are exercised.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vgi/guest-memory.h>
#include <vgi/virtio-device.h>

#define TG_PAGE_SIZE 4096u

struct tg_guest {
	struct vgi_guest_memory *mem;
	uint8_t *ram[2];
	uint64_t ram_gpa[2];
	uint64_t ram_size[2];
	uint32_t npages;	/* over both regions */
	uint32_t *free_pages;	/* page numbers, shuffled */
	uint32_t nfree;
};

struct tg_guest *tg_guest_new(uint64_t ram_size);
void tg_guest_free(struct tg_guest *g);

uint64_t tg_page_gpa(const struct tg_guest *g, uint32_t page);
void *tg_host(const struct tg_guest *g, uint64_t gpa);	/* abort()s outside RAM: a test bug */
/* One scattered page (zeroed). Returns its gpa; aborts when RAM is exhausted. */
uint64_t tg_alloc_page(struct tg_guest *g);
/* n physically contiguous pages (for rings and small structs), zeroed. */
uint64_t tg_alloc_contig(struct tg_guest *g, uint32_t npages);
void tg_free_page(struct tg_guest *g, uint64_t gpa);
/* A guest buffer of len bytes in one contiguous block; copies data in if given. */
uint64_t tg_alloc_buf(struct tg_guest *g, const void *data, size_t len);

struct tg_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;		/* device-writable */
};

struct tg_queue {
	struct tg_guest *g;
	uint32_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx;	/* driver's next avail index */
	uint16_t last_used;	/* driver's next used index to read */
	uint16_t free_head;
	uint32_t num_free;
	bool event_idx;
	uint64_t *indirect_gpa;	/* per head: an indirect table to free, or 0 */
	uint32_t *chain_len;	/* per head: descriptors to free */
	uint32_t ring_pages;	/* pages at desc_gpa, returned by tg_queue_free */
};

/* Allocates the rings in guest RAM; num a power of two. */
struct tg_queue *tg_queue_new(struct tg_guest *g, uint32_t num);
/* Frees the queue and returns its ring pages to the guest. */
void tg_queue_free(struct tg_queue *q);
/* Hand the queue to the device (vgi_virtio_device_queue_setup). */
int tg_queue_attach(struct tg_queue *q, struct vgi_virtio_device *dev, unsigned index);

/*
 * Add one chain made of bufs (readable ones first, then writable). With
 * indirect, the chain goes in an indirect table. Returns the head, or -1
 * when the ring is full. Does not publish: call tg_queue_publish.
 */
int tg_queue_add(struct tg_queue *q, const struct tg_buf *bufs, unsigned n, bool indirect);
/* Make added chains visible (avail idx store with a release barrier). */
void tg_queue_publish(struct tg_queue *q);
/* Next used element: true and its head and length, or false if none. Frees its descriptors. */
bool tg_queue_get_used(struct tg_queue *q, uint32_t *head, uint32_t *len);

/* Raw ring access for hostile tests. */
struct tg_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
struct tg_desc *tg_queue_desc(struct tg_queue *q);
uint16_t *tg_queue_avail(struct tg_queue *q);	/* flags, idx, ring[num], used_event */
uint16_t *tg_queue_used(struct tg_queue *q);	/* flags, idx, ring (u32 pairs), avail_event */

#endif
