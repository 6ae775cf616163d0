// SPDX-License-Identifier: MIT
/* Guest-chosen ids to nodes: a keyed hash (SipHash-1-3) and a growing bucket array. See idmap.h. */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/random.h>

#define INITIAL_BUCKETS 64u
#define MAX_BUCKETS (1u << 20)	/* 8 MiB of heads: far above any cap on the count */

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                          \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                             \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                             \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                          \
	} while (0)

/* SipHash-1-3 of the 4 bytes of id (little-endian): one final block, length 4. */
static uint64_t hash(const struct vgi_idmap *m, uint32_t id)
{
	uint64_t v0 = m->key[0] ^ 0x736f6d6570736575ull, v1 = m->key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = m->key[0] ^ 0x6c7967656e657261ull, v3 = m->key[1] ^ 0x7465646279746573ull;
	uint64_t b = (4ull << 56) | id;

	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t bucket(const struct vgi_idmap *m, uint32_t id)
{
	return (uint32_t)hash(m, id) & m->mask;
}

int vgi_idmap_init(struct vgi_idmap *m)
{
	m->count = 0;
	m->mask = INITIAL_BUCKETS - 1;
	m->buckets = calloc(INITIAL_BUCKETS, sizeof(*m->buckets));
	if (!m->buckets)
		return -ENOMEM;
	if (getrandom(m->key, sizeof(m->key), GRND_NONBLOCK) != (ssize_t)sizeof(m->key)) {
		/* no entropy yet (early boot): still unknown to the guest, if weaker */
		struct timespec t;

		clock_gettime(CLOCK_MONOTONIC, &t);
		m->key[0] = ((uint64_t)t.tv_sec << 32) ^ (uint64_t)t.tv_nsec ^ (uint64_t)(uintptr_t)m;
		m->key[1] = (uint64_t)(uintptr_t)m->buckets * 0x9e3779b97f4a7c15ull ^ (uint64_t)t.tv_nsec;
	}
	return 0;
}

void vgi_idmap_fini(struct vgi_idmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->count = 0;
}

struct vgi_idmap_node *vgi_idmap_find(const struct vgi_idmap *m, uint32_t id)
{
	for (struct vgi_idmap_node *n = m->buckets[bucket(m, id)]; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}

/* Twice the buckets, every node rehashed; nothing changes when the allocation fails. */
static void grow(struct vgi_idmap *m)
{
	uint32_t nb = (m->mask + 1) * 2;
	struct vgi_idmap_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (uint32_t i = 0; i <= m->mask; i++) {
		while (m->buckets[i]) {
			struct vgi_idmap_node *n = m->buckets[i];
			uint32_t h = (uint32_t)hash(m, n->id) & (nb - 1);

			m->buckets[i] = n->next;
			n->next = b[h];
			b[h] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->mask = nb - 1;
}

void vgi_idmap_insert(struct vgi_idmap *m, struct vgi_idmap_node *n)
{
	uint32_t h;

	if (m->count >= m->mask + 1 && m->mask + 1 < MAX_BUCKETS)
		grow(m);
	h = bucket(m, n->id);
	n->next = m->buckets[h];
	m->buckets[h] = n;
	m->count++;
}

void vgi_idmap_remove(struct vgi_idmap *m, struct vgi_idmap_node *n)
{
	for (struct vgi_idmap_node **pp = &m->buckets[bucket(m, n->id)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			m->count--;
			return;
		}
	}
}

struct vgi_idmap_node *vgi_idmap_next(const struct vgi_idmap *m, uint32_t *b, struct vgi_idmap_node *n)
{
	if (n && n->next)
		return n->next;
	if (n)
		(*b)++;
	for (; *b <= m->mask; (*b)++)
		if (m->buckets[*b])
			return m->buckets[*b];
	return NULL;
}

unsigned vgi_idmap_probes(const struct vgi_idmap *m, uint32_t id)
{
	unsigned k = 0;

	for (struct vgi_idmap_node *n = m->buckets[bucket(m, id)]; n; n = n->next) {
		k++;
		if (n->id == id)
			break;
	}
	return k;
}
