// SPDX-License-Identifier: MIT
/*
 * Fuzz the device side of a split ring: the input is the guest's RAM
 * (descriptor table, avail ring, buffers, indirect tables) plus a small header.
 * Every iovec the queue hands out is read and written in full, so a bad
 * translation shows up as an ASan report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/virtqueue.h>
#include "fuzz-reader.h"

#define RAM_A_GPA 0x10000ull
#define RAM_A_SIZE 0x10000u
#define RAM_B_GPA 0x30000ull
#define RAM_B_SIZE 0x4000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram_a, *ram_b;
	struct vgi_guest_memory *mem;
	struct vgi_virtqueue *vq;
	struct vgi_guest_region a, b;
	uint32_t num;
	uint64_t features = 0;
	size_t la, lb;

	if (size < 2)
		return 0;
	vgi_log_set_handler(quiet, NULL);
	if (!ram_a) {
		ram_a = malloc(RAM_A_SIZE);
		ram_b = malloc(RAM_B_SIZE);
	}
	num = 1u << (data[0] % 7);	/* 1..64 */
	if (data[1] & 1)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (data[1] & 2)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	data += 2;
	size -= 2;
	memset(ram_a, 0, RAM_A_SIZE);
	memset(ram_b, 0, RAM_B_SIZE);
	la = size < RAM_A_SIZE ? size : RAM_A_SIZE;
	memcpy(ram_a, data, la);
	lb = size - la < RAM_B_SIZE ? size - la : RAM_B_SIZE;
	memcpy(ram_b, data + la, lb);

	mem = vgi_guest_memory_new();
	a = (struct vgi_guest_region){ .gpa = RAM_A_GPA, .size = RAM_A_SIZE, .host = ram_a };
	b = (struct vgi_guest_region){ .gpa = RAM_B_GPA, .size = RAM_B_SIZE, .host = ram_b };
	vgi_guest_memory_add_region(mem, &a);
	vgi_guest_memory_add_region(mem, &b);

	vq = vgi_virtqueue_new(0);
	vgi_virtqueue_set_num(vq, num);
	/* desc at the start of RAM A, avail right after, used on the next 4 KiB boundary */
	vgi_virtqueue_set_addr(vq, RAM_A_GPA, RAM_A_GPA + 16 * num, RAM_A_GPA + 0x1000 * (1 + (16 * num + 6 + 2 * num) / 0x1000));
	vgi_virtqueue_set_memory(vq, mem);
	vgi_virtqueue_set_features(vq, features);
	if (vgi_virtqueue_start(vq) == 0) {
		struct vgi_vq_elem *e;
		unsigned rounds = 0;

		while (rounds++ < 4 * num && (e = vgi_virtqueue_pop(vq))) {
			uint32_t written = 0;
			volatile uint8_t sink = 0;

			for (unsigned i = 0; i < e->out_num; i++)
				for (size_t k = 0; k < e->out_sg[i].iov_len; k++)
					sink ^= ((uint8_t *)e->out_sg[i].iov_base)[k];
			for (unsigned i = 0; i < e->in_num; i++) {
				memset(e->in_sg[i].iov_base, 0xa5, e->in_sg[i].iov_len);
				written += (uint32_t)e->in_sg[i].iov_len;
			}
			(void)sink;
			vgi_virtqueue_push(vq, e, written);
			vgi_virtqueue_should_notify(vq);
		}
	}
	vgi_virtqueue_free(vq);
	vgi_guest_memory_free(mem);
	return 0;
}
