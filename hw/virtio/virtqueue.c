// SPDX-License-Identifier: MIT
/*
 * Device side of a split virtqueue. The driver (guest) owns the descriptor
 * table and avail ring and may change them at any time: every descriptor is
 * copied once before it is checked and used, and every index is bounded.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/virtqueue.h>

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vgi_virtqueue {
	unsigned index;
	uint32_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	const struct vgi_guest_memory *mem;
	bool event_idx, indirect;

	/* host mappings of the rings, valid while ready */
	bool ready, broken;
	const volatile struct vq_desc *desc;
	volatile uint16_t *avail;	/* flags, idx, ring[num], used_event */
	volatile uint16_t *used;	/* flags, idx, then ring of {le32 id, le32 len}, avail_event */

	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;	/* used_idx at the last interrupt */
	bool signalled_used_valid;
	bool pushed;
	uint32_t gen;		/* bumped by every stop: elements of older generations are not written */
	unsigned inflight;	/* live elements of every generation */

	struct iovec scratch[VGI_VQ_MAX_IOV];
};

struct vgi_virtqueue *vgi_virtqueue_new(unsigned index)
{
	struct vgi_virtqueue *vq = calloc(1, sizeof(*vq));

	if (vq)
		vq->index = index;
	return vq;
}

void vgi_virtqueue_free(struct vgi_virtqueue *vq)
{
	if (vq && vq->inflight)
		vgi_error("queue %u freed with %u elements still in flight (a device leaked them)", vq->index,
			  vq->inflight);
	free(vq);
}

int vgi_virtqueue_set_num(struct vgi_virtqueue *vq, uint32_t num)
{
	if (num == 0 || num > VGI_VQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	vq->num = num;
	return 0;
}

uint32_t vgi_virtqueue_get_num(const struct vgi_virtqueue *vq)
{
	return vq->num;
}

void vgi_virtqueue_set_addr(struct vgi_virtqueue *vq, uint64_t desc, uint64_t avail, uint64_t used)
{
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
}

void vgi_virtqueue_set_memory(struct vgi_virtqueue *vq, const struct vgi_guest_memory *mem)
{
	vq->mem = mem;
}

void vgi_virtqueue_set_features(struct vgi_virtqueue *vq, uint64_t features)
{
	vq->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
}

void vgi_virtqueue_set_last_avail(struct vgi_virtqueue *vq, uint16_t idx)
{
	vq->last_avail = idx;
	vq->used_idx = idx;
	vq->signalled_used_valid = false;
}

uint16_t vgi_virtqueue_get_last_avail(const struct vgi_virtqueue *vq)
{
	return vq->last_avail;
}

unsigned vgi_virtqueue_index(const struct vgi_virtqueue *vq)
{
	return vq->index;
}

int vgi_virtqueue_start(struct vgi_virtqueue *vq)
{
	uint64_t num = vq->num;
	void *desc, *avail, *used;
	bool was_ready = vq->ready;
	int ret = -EFAULT;

	vq->ready = false;
	if (!vq->mem || !num) {
		ret = -EINVAL;
		goto fail;
	}
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
		vgi_warn("queue %u: misaligned ring (desc 0x%llx avail 0x%llx used 0x%llx)", vq->index,
			 (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			 (unsigned long long)vq->used_gpa);
		goto fail;
	}
	desc = vgi_guest_memory_map(vq->mem, vq->desc_gpa, 16 * num);
	avail = vgi_guest_memory_map(vq->mem, vq->avail_gpa, 6 + 2 * num);
	used = vgi_guest_memory_map(vq->mem, vq->used_gpa, 6 + 8 * num);
	if (!desc || !avail || !used) {
		vgi_warn("queue %u: ring outside guest memory (desc 0x%llx avail 0x%llx used 0x%llx, size %u)",
			 vq->index, (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			 (unsigned long long)vq->used_gpa, vq->num);
		goto fail;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->used_idx = le16toh(__atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE));
	vq->ready = true;
	vq->broken = false;
	return 0;

fail:
	/* a ring that no longer starts is stopped: what was popped from it is not written back */
	if (was_ready)
		vq->gen++;
	return ret;
}

void vgi_virtqueue_stop(struct vgi_virtqueue *vq)
{
	if (vq->ready)
		vq->gen++;
	vq->ready = false;
	vq->desc = NULL;
	vq->avail = vq->used = NULL;
}

bool vgi_virtqueue_ready(const struct vgi_virtqueue *vq)
{
	return vq->ready && !vq->broken;
}

bool vgi_virtqueue_broken(const struct vgi_virtqueue *vq)
{
	return vq->broken;
}

unsigned vgi_virtqueue_inflight(const struct vgi_virtqueue *vq)
{
	return vq->inflight;
}

static void write_used(struct vgi_virtqueue *vq, uint32_t id, uint32_t len)
{
	volatile uint32_t *ring = (volatile uint32_t *)&vq->used[2];
	uint16_t slot = vq->used_idx & (vq->num - 1);

	ring[2 * slot] = htole32(id);
	ring[2 * slot + 1] = htole32(len);
	vq->used_idx++;
	/* the entry must be visible before the index that publishes it */
	__atomic_store_n(&vq->used[1], htole16(vq->used_idx), __ATOMIC_RELEASE);
	vq->pushed = true;
}

static void set_avail_event(struct vgi_virtqueue *vq)
{
	if (vq->event_idx)
		vq->used[2 + 4 * vq->num] = htole16(vq->last_avail);
}

/*
 * Walk the chain at head into vq->scratch: readable buffers first, then
 * writable. Returns a reason string on failure, NULL on success.
 */
static const char *parse_chain(struct vgi_virtqueue *vq, uint16_t head, unsigned *out_num, unsigned *in_num)
{
	const volatile struct vq_desc *table = vq->desc;
	uint32_t max = vq->num, i = head, count = 0;
	bool in_indirect = false;
	unsigned n = 0, outs = 0;
	int err;

	if (head >= vq->num)
		return "head index out of range";
	for (;;) {
		struct vq_desc d;

		d.addr = le64toh(table[i].addr);
		d.len = le32toh(table[i].len);
		d.flags = le16toh(table[i].flags);
		d.next = le16toh(table[i].next);

		if (++count > max)
			return "chain longer than its table (loop?)";
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
			if (in_indirect)
				return "indirect descriptor inside an indirect table";
			if (d.flags & VRING_DESC_F_NEXT)
				return "indirect descriptor with NEXT set";
			if (d.len == 0 || d.len % 16 || d.len / 16 > VGI_VQ_MAX_SIZE)
				return "bad indirect table length";
			table = vgi_guest_memory_map(vq->mem, d.addr, d.len);
			if (!table)
				return "indirect table outside guest memory";
			max = d.len / 16;
			i = 0;
			count = 0;
			in_indirect = true;
			continue;
		}
		if (d.flags & VRING_DESC_F_WRITE) {
			err = vgi_guest_memory_to_iovec(vq->mem, d.addr, d.len, vq->scratch, VGI_VQ_MAX_IOV, &n);
		} else {
			if (n > outs)
				return "readable descriptor after a writable one";
			err = vgi_guest_memory_to_iovec(vq->mem, d.addr, d.len, vq->scratch, VGI_VQ_MAX_IOV, &n);
			outs = n;
		}
		if (err == -E2BIG)
			return "chain needs too many iovecs";
		if (err)
			return "buffer outside guest memory";
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
		if (i >= max)
			return "next index out of range";
	}
	*out_num = outs;
	*in_num = n - outs;
	return NULL;
}

struct vgi_vq_elem *vgi_virtqueue_pop(struct vgi_virtqueue *vq)
{
	for (;;) {
		uint16_t avail_idx, head;
		unsigned out_num, in_num;
		const char *why;
		struct vgi_vq_elem *elem;

		if (!vq->ready || vq->broken)
			return NULL;
		avail_idx = le16toh(__atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE));
		if ((uint16_t)(avail_idx - vq->last_avail) > vq->num) {
			vgi_warn("queue %u: avail index jumped from %u to %u (size %u); queue stopped", vq->index,
				 vq->last_avail, avail_idx, vq->num);
			vq->broken = true;
			return NULL;
		}
		if (avail_idx == vq->last_avail) {
			set_avail_event(vq);
			return NULL;
		}
		head = le16toh(vq->avail[2 + (vq->last_avail & (vq->num - 1))]);
		vq->last_avail++;
		set_avail_event(vq);

		why = parse_chain(vq, head, &out_num, &in_num);
		if (why) {
			vgi_warn("queue %u: bad descriptor chain at head %u: %s", vq->index, head, why);
			if (head < vq->num)
				write_used(vq, head, 0);
			continue;
		}
		elem = malloc(sizeof(*elem) + (out_num + in_num) * sizeof(struct iovec));
		if (!elem) {
			vq->last_avail--;
			return NULL;
		}
		elem->vq = vq;
		elem->gen = vq->gen;
		elem->avail_pos = (uint16_t)(vq->last_avail - 1);
		elem->head = head;
		elem->out_num = out_num;
		elem->in_num = in_num;
		memcpy(elem->iov, vq->scratch, (out_num + in_num) * sizeof(struct iovec));
		elem->out_sg = elem->iov;
		elem->in_sg = elem->iov + out_num;
		vq->inflight++;
		return elem;
	}
}

static bool elem_current(const struct vgi_virtqueue *vq, const struct vgi_vq_elem *elem)
{
	return vq->ready && elem->vq == vq && elem->gen == vq->gen;
}

void vgi_virtqueue_push(struct vgi_virtqueue *vq, struct vgi_vq_elem *elem, uint32_t len)
{
	if (!elem)
		return;
	if (elem_current(vq, elem))
		write_used(vq, elem->head, len);
	else
		vgi_debug("queue %u: element %u popped before the ring stopped: not returned", vq->index, elem->head);
	vgi_vq_elem_free(elem);
}

void vgi_virtqueue_unpop(struct vgi_virtqueue *vq, struct vgi_vq_elem *elem)
{
	if (!elem)
		return;
	if (elem_current(vq, elem) && (uint16_t)(elem->avail_pos + 1) == vq->last_avail) {
		vq->last_avail--;
		set_avail_event(vq);
		vgi_vq_elem_free(elem);
		return;
	}
	vgi_virtqueue_push(vq, elem, 0);
}

void vgi_vq_elem_free(struct vgi_vq_elem *elem)
{
	if (!elem)
		return;
	if (elem->vq && elem->vq->inflight)
		elem->vq->inflight--;
	free(elem);
}

bool vgi_virtqueue_should_notify(struct vgi_virtqueue *vq)
{
	uint16_t old, event;
	bool need;

	if (!vq->ready || !vq->pushed)
		return false;
	vq->pushed = false;
	/* our used idx store must be ordered before reading the driver's flags/event */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(le16toh(vq->avail[0]) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	need = !vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	event = le16toh(vq->avail[2 + vq->num]);
	return need || (uint16_t)(vq->used_idx - event - 1) < (uint16_t)(vq->used_idx - old);
}
