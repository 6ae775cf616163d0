/* SPDX-License-Identifier: MIT */
#ifndef VGI_IDMAP_H
#define VGI_IDMAP_H

/*
 * A table of guest-chosen 32-bit ids (private to hw/display): the resource
 * tables of the virtio-gpu core and of the virgl renderer.
 *
 * The guest picks the ids, so a fixed hash lets it put every id in one
 * chain and make each lookup O(n). Here the bucket is SipHash-1-3 of the
 * id under a random key drawn per table (getrandom), and the bucket array
 * doubles when the table holds more entries than buckets: lookups cost
 * O(1) expected whatever ids the guest sends. Callers cap the count.
 *
 * Nodes are embedded in the caller's struct (container_of); the table
 * never allocates per entry. Insert never fails: when growing is refused
 * (no memory) the chains just get longer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vgi_idmap_node {
	struct vgi_idmap_node *next;
	uint32_t id;
};

struct vgi_idmap {
	struct vgi_idmap_node **buckets;
	uint32_t mask;		/* buckets - 1 (a power of two) */
	uint32_t count;
	uint64_t key[2];
};

/* 0, or -ENOMEM. */
int vgi_idmap_init(struct vgi_idmap *m);
/* The table must be empty (the caller frees its nodes). */
void vgi_idmap_fini(struct vgi_idmap *m);

struct vgi_idmap_node *vgi_idmap_find(const struct vgi_idmap *m, uint32_t id);
/* n->id set by the caller and not in the table yet. */
void vgi_idmap_insert(struct vgi_idmap *m, struct vgi_idmap_node *n);
void vgi_idmap_remove(struct vgi_idmap *m, struct vgi_idmap_node *n);

/*
 * Walk: uint32_t b = 0; for (n = vgi_idmap_next(m, &b, NULL); n; n = vgi_idmap_next(m, &b, n)).
 * To empty the table: while ((n = vgi_idmap_next(m, &b, NULL))) remove and free n
 * (b only moves forward: O(buckets + count) in all).
 */
struct vgi_idmap_node *vgi_idmap_next(const struct vgi_idmap *m, uint32_t *b, struct vgi_idmap_node *n);

/* Tests: the entries a lookup of id looks at (its place in its chain, or the chain length if absent). */
unsigned vgi_idmap_probes(const struct vgi_idmap *m, uint32_t id);

#endif
