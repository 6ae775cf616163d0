// SPDX-License-Identifier: MIT
/* Guest physical memory map: regions sorted by gpa, every lookup bounds-checked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vgi/guest-memory.h>

struct vgi_guest_memory {
	unsigned n;
	struct vgi_guest_region r[VGI_GUEST_MEMORY_MAX_REGIONS];
};

struct vgi_guest_memory *vgi_guest_memory_new(void)
{
	return calloc(1, sizeof(struct vgi_guest_memory));
}

void vgi_guest_memory_free(struct vgi_guest_memory *mem)
{
	free(mem);
}

/* Last byte of a region; size > 0 and no wrap are invariants. */
static uint64_t region_last(const struct vgi_guest_region *r)
{
	return r->gpa + (r->size - 1);
}

int vgi_guest_memory_add_region(struct vgi_guest_memory *mem, const struct vgi_guest_region *r)
{
	unsigned i;

	if (r->size == 0 || r->gpa + (r->size - 1) < r->gpa || !r->host)
		return -EINVAL;
	if (mem->n == VGI_GUEST_MEMORY_MAX_REGIONS)
		return -ENOSPC;
	for (i = 0; i < mem->n; i++) {
		if (r->gpa <= region_last(&mem->r[i]) && mem->r[i].gpa <= region_last(r))
			return -EEXIST;
	}
	/* keep sorted by gpa */
	for (i = mem->n; i > 0 && mem->r[i - 1].gpa > r->gpa; i--)
		mem->r[i] = mem->r[i - 1];
	mem->r[i] = *r;
	mem->n++;
	return 0;
}

int vgi_guest_memory_remove_region(struct vgi_guest_memory *mem, uint64_t gpa)
{
	for (unsigned i = 0; i < mem->n; i++) {
		if (mem->r[i].gpa == gpa) {
			memmove(&mem->r[i], &mem->r[i + 1], (mem->n - i - 1) * sizeof(mem->r[0]));
			mem->n--;
			return 0;
		}
	}
	return -ENOENT;
}

void vgi_guest_memory_clear(struct vgi_guest_memory *mem)
{
	mem->n = 0;
}

unsigned vgi_guest_memory_num_regions(const struct vgi_guest_memory *mem)
{
	return mem->n;
}

const struct vgi_guest_region *vgi_guest_memory_region(const struct vgi_guest_memory *mem, unsigned i)
{
	return i < mem->n ? &mem->r[i] : NULL;
}

/* Region containing gpa (binary search over the sorted table), or NULL. */
static const struct vgi_guest_region *find_region(const struct vgi_guest_memory *mem, uint64_t gpa)
{
	unsigned lo = 0, hi = mem->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct vgi_guest_region *r = &mem->r[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa > region_last(r))
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *vgi_guest_memory_map(const struct vgi_guest_memory *mem, uint64_t gpa, uint64_t len)
{
	const struct vgi_guest_region *r;

	if (!mem || len == 0 || gpa + (len - 1) < gpa)
		return NULL;
	r = find_region(mem, gpa);
	if (!r || len - 1 > region_last(r) - gpa)
		return NULL;
	return (uint8_t *)r->host + (gpa - r->gpa);
}

int vgi_guest_memory_to_iovec(const struct vgi_guest_memory *mem, uint64_t gpa, uint64_t len,
			      struct iovec *iov, unsigned max_iov, unsigned *n_iov)
{
	unsigned n = *n_iov;

	if (!mem || (len && gpa + (len - 1) < gpa))
		return -EFAULT;
	while (len) {
		const struct vgi_guest_region *r = find_region(mem, gpa);
		uint64_t avail, chunk;
		uint8_t *host;

		if (!r)
			return -EFAULT;
		avail = region_last(r) - gpa + 1;	/* cannot overflow: at most r->size */
		chunk = len < avail ? len : avail;
		if (chunk > SIZE_MAX)
			return -EFAULT;
		host = (uint8_t *)r->host + (gpa - r->gpa);
		if (n > *n_iov && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == host &&
		    iov[n - 1].iov_len + chunk >= chunk) {
			iov[n - 1].iov_len += chunk;
		} else {
			if (n >= max_iov)
				return -E2BIG;
			iov[n].iov_base = host;
			iov[n].iov_len = chunk;
			n++;
		}
		gpa += chunk;
		len -= chunk;
	}
	*n_iov = n;
	return 0;
}

int vgi_guest_memory_uaddr_to_gpa(const struct vgi_guest_memory *mem, uint64_t uaddr, uint64_t len,
				  uint64_t *gpa)
{
	if (len == 0 || uaddr + (len - 1) < uaddr)
		return -EFAULT;
	for (unsigned i = 0; i < mem->n; i++) {
		const struct vgi_guest_region *r = &mem->r[i];

		if (uaddr >= r->uaddr && uaddr - r->uaddr < r->size && len - 1 <= r->size - 1 - (uaddr - r->uaddr)) {
			*gpa = r->gpa + (uaddr - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

size_t vgi_iov_size(const struct iovec *iov, unsigned n)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Copy between a flat buffer and iovec bytes [offset, offset + len); to_iov picks the direction. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t offset, uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		uint8_t *p;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		l -= offset;
		if (l > len - done)
			l = len - done;
		p = (uint8_t *)iov[i].iov_base + offset;
		if (to_iov)
			memcpy(p, buf + done, l);
		else
			memcpy(buf + done, p, l);
		done += l;
		offset = 0;
	}
	return done;
}

size_t vgi_iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, n, offset, buf, len, false);
}

size_t vgi_iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf, size_t len)
{
	return iov_copy(iov, n, offset, (uint8_t *)(uintptr_t)buf, len, true);
}
