// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "test-guest.h"

#define HOLE (1ull << 30)	/* second region starts this far above the first's end */

static void die(const char *why)
{
	fprintf(stderr, "test guest: %s\n", why);
	abort();
}

struct tg_guest *tg_guest_new(uint64_t ram_size)
{
	struct tg_guest *g = calloc(1, sizeof(*g));
	uint64_t half = (ram_size / 2) & ~(uint64_t)(TG_PAGE_SIZE - 1);
	uint32_t seed = 12345;

	if (!g || half == 0)
		die("bad ram size");
	g->mem = vgi_guest_memory_new();
	for (int i = 0; i < 2; i++) {
		struct vgi_guest_region r;

		g->ram_size[i] = half;
		g->ram_gpa[i] = i == 0 ? 0x100000 : 0x100000 + half + HOLE;
		g->ram[i] = aligned_alloc(TG_PAGE_SIZE, half);
		if (!g->ram[i])
			die("out of memory");
		memset(g->ram[i], 0, half);
		r = (struct vgi_guest_region){ .gpa = g->ram_gpa[i], .size = half, .host = g->ram[i] };
		if (vgi_guest_memory_add_region(g->mem, &r))
			die("add region");
	}
	g->npages = (uint32_t)(2 * half / TG_PAGE_SIZE);
	g->free_pages = malloc(g->npages * sizeof(uint32_t));
	for (uint32_t i = 0; i < g->npages; i++)
		g->free_pages[i] = i;
	/* Fisher-Yates with a fixed LCG: scattered but reproducible */
	for (uint32_t i = g->npages - 1; i > 0; i--) {
		uint32_t j, t;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		t = g->free_pages[i];
		g->free_pages[i] = g->free_pages[j];
		g->free_pages[j] = t;
	}
	g->nfree = g->npages;
	return g;
}

void tg_guest_free(struct tg_guest *g)
{
	if (!g)
		return;
	vgi_guest_memory_free(g->mem);
	free(g->ram[0]);
	free(g->ram[1]);
	free(g->free_pages);
	free(g);
}

uint64_t tg_page_gpa(const struct tg_guest *g, uint32_t page)
{
	uint64_t per = g->ram_size[0] / TG_PAGE_SIZE;

	if (page < per)
		return g->ram_gpa[0] + (uint64_t)page * TG_PAGE_SIZE;
	return g->ram_gpa[1] + (uint64_t)(page - per) * TG_PAGE_SIZE;
}

static int64_t gpa_to_page(const struct tg_guest *g, uint64_t gpa)
{
	for (int i = 0; i < 2; i++) {
		if (gpa >= g->ram_gpa[i] && gpa - g->ram_gpa[i] < g->ram_size[i])
			return (int64_t)((gpa - g->ram_gpa[i]) / TG_PAGE_SIZE + (i ? g->ram_size[0] / TG_PAGE_SIZE : 0));
	}
	return -1;
}

void *tg_host(const struct tg_guest *g, uint64_t gpa)
{
	for (int i = 0; i < 2; i++) {
		if (gpa >= g->ram_gpa[i] && gpa - g->ram_gpa[i] < g->ram_size[i])
			return g->ram[i] + (gpa - g->ram_gpa[i]);
	}
	die("gpa outside RAM");
	return NULL;
}

uint64_t tg_alloc_page(struct tg_guest *g)
{
	uint64_t gpa;

	if (!g->nfree)
		die("guest RAM exhausted");
	gpa = tg_page_gpa(g, g->free_pages[--g->nfree]);
	memset(tg_host(g, gpa), 0, TG_PAGE_SIZE);
	return gpa;
}

void tg_free_page(struct tg_guest *g, uint64_t gpa)
{
	int64_t p = gpa_to_page(g, gpa);

	if (p < 0 || g->nfree == g->npages)
		die("bad page free");
	g->free_pages[g->nfree++] = (uint32_t)p;
}

uint64_t tg_alloc_contig(struct tg_guest *g, uint32_t npages)
{
	/* find a run of npages free pages within the first region */
	uint32_t per = (uint32_t)(g->ram_size[0] / TG_PAGE_SIZE);
	uint8_t *isfree = calloc(g->npages, 1);
	uint32_t run = 0, start = 0;
	int64_t found = -1;

	for (uint32_t i = 0; i < g->nfree; i++)
		isfree[g->free_pages[i]] = 1;
	for (uint32_t p = 0; p < per; p++) {
		run = isfree[p] ? run + 1 : 0;
		if (run == 1)
			start = p;
		if (run == npages) {
			found = start;
			break;
		}
	}
	free(isfree);
	if (found < 0)
		die("no contiguous block");
	/* remove them from the free list */
	for (uint32_t i = 0; i < g->nfree;) {
		if (g->free_pages[i] >= (uint32_t)found && g->free_pages[i] < (uint32_t)found + npages)
			g->free_pages[i] = g->free_pages[--g->nfree];
		else
			i++;
	}
	memset(tg_host(g, tg_page_gpa(g, (uint32_t)found)), 0, (size_t)npages * TG_PAGE_SIZE);
	return tg_page_gpa(g, (uint32_t)found);
}

uint64_t tg_alloc_buf(struct tg_guest *g, const void *data, size_t len)
{
	uint32_t pages = (uint32_t)((len + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE);
	uint64_t gpa = pages <= 1 ? tg_alloc_page(g) : tg_alloc_contig(g, pages);

	if (data)
		memcpy(tg_host(g, gpa), data, len);
	return gpa;
}

struct tg_queue *tg_queue_new(struct tg_guest *g, uint32_t num)
{
	struct tg_queue *q = calloc(1, sizeof(*q));
	uint64_t desc_bytes = 16ull * num, avail_bytes = 6 + 2ull * num, used_bytes = 6 + 8ull * num;
	uint32_t pages = (uint32_t)((desc_bytes + avail_bytes + 4096 + used_bytes + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE);
	uint64_t base = tg_alloc_contig(g, pages);
	struct tg_desc *d;

	q->g = g;
	q->num = num;
	q->ring_pages = pages;
	q->desc_gpa = base;
	q->avail_gpa = base + desc_bytes;
	q->used_gpa = (q->avail_gpa + avail_bytes + 4095) & ~4095ull;
	q->indirect_gpa = calloc(num, sizeof(uint64_t));
	q->chain_len = calloc(num, sizeof(uint32_t));
	d = tg_queue_desc(q);
	for (uint32_t i = 0; i < num; i++)
		d[i].next = (uint16_t)(i + 1);
	q->num_free = num;
	return q;
}

void tg_queue_free(struct tg_queue *q)
{
	if (!q)
		return;
	for (uint32_t i = 0; i < q->ring_pages; i++)
		tg_free_page(q->g, q->desc_gpa + (uint64_t)i * TG_PAGE_SIZE);
	free(q->indirect_gpa);
	free(q->chain_len);
	free(q);
}

int tg_queue_attach(struct tg_queue *q, struct vgi_virtio_device *dev, unsigned index)
{
	return vgi_virtio_device_queue_setup(dev, index, q->num, q->desc_gpa, q->avail_gpa, q->used_gpa);
}

struct tg_desc *tg_queue_desc(struct tg_queue *q)
{
	return tg_host(q->g, q->desc_gpa);
}

uint16_t *tg_queue_avail(struct tg_queue *q)
{
	return tg_host(q->g, q->avail_gpa);
}

uint16_t *tg_queue_used(struct tg_queue *q)
{
	return tg_host(q->g, q->used_gpa);
}

int tg_queue_add(struct tg_queue *q, const struct tg_buf *bufs, unsigned n, bool indirect)
{
	struct tg_desc *d = tg_queue_desc(q);
	uint16_t *avail = tg_queue_avail(q);
	uint16_t head = q->free_head;

	if (n == 0 || q->num_free < (indirect ? 1 : n))
		return -1;
	if (indirect) {
		uint64_t table = tg_alloc_buf(q->g, NULL, 16ull * n);
		struct tg_desc *t = tg_host(q->g, table);

		for (unsigned i = 0; i < n; i++) {
			t[i] = (struct tg_desc){ bufs[i].gpa, bufs[i].len,
						 (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
							    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
						 (uint16_t)(i + 1) };
		}
		q->free_head = d[head].next;
		d[head].addr = table;
		d[head].len = 16 * n;
		d[head].flags = VRING_DESC_F_INDIRECT;
		q->indirect_gpa[head] = table;
		q->chain_len[head] = 1;
		q->num_free--;
	} else {
		uint16_t i = head, last = head;

		for (unsigned k = 0; k < n; k++) {
			d[i].addr = bufs[k].gpa;
			d[i].len = bufs[k].len;
			d[i].flags = (uint16_t)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
						(k + 1 < n ? VRING_DESC_F_NEXT : 0));
			last = i;
			i = d[i].next;
		}
		q->free_head = d[last].next;
		q->indirect_gpa[head] = 0;
		q->chain_len[head] = n;
		q->num_free -= n;
	}
	avail[2 + (q->avail_idx & (q->num - 1))] = head;
	q->avail_idx++;
	return head;
}

void tg_queue_publish(struct tg_queue *q)
{
	__atomic_store_n(&tg_queue_avail(q)[1], q->avail_idx, __ATOMIC_RELEASE);
}

bool tg_queue_get_used(struct tg_queue *q, uint32_t *head, uint32_t *len)
{
	uint16_t *used = tg_queue_used(q);
	uint32_t *ring = (uint32_t *)&used[2];
	uint16_t idx = __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
	struct tg_desc *d = tg_queue_desc(q);
	uint32_t h, n;
	uint16_t i;

	if (idx == q->last_used)
		return false;
	h = ring[2 * (q->last_used & (q->num - 1))];
	*len = ring[2 * (q->last_used & (q->num - 1)) + 1];
	*head = h;
	q->last_used++;
	if (q->event_idx)
		tg_queue_avail(q)[2 + q->num] = q->last_used;
	if (h >= q->num)
		return true;
	/* return the chain's descriptors to the free list */
	if (q->indirect_gpa[h]) {
		tg_free_page(q->g, q->indirect_gpa[h]);
		q->indirect_gpa[h] = 0;
	}
	n = q->chain_len[h];
	i = (uint16_t)h;
	for (uint32_t k = 1; k < n; k++)
		i = d[i].next;
	d[i].next = q->free_head;
	q->free_head = (uint16_t)h;
	q->num_free += n;
	q->chain_len[h] = 0;
	return true;
}
