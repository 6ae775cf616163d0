// SPDX-License-Identifier: MIT
/* The device-side split ring against the test guest's driver-side ring. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/virtqueue.h>

#include "test-guest.h"

struct fixture {
	struct tg_guest *g;
	struct tg_queue *q;
	struct vgi_virtqueue *vq;
};

static struct fixture *setup_queue(uint32_t num, uint64_t features)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->g = tg_guest_new(64u << 20);
	f->q = tg_queue_new(f->g, num);
	f->q->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	f->vq = vgi_virtqueue_new(0);
	assert_int_equal(vgi_virtqueue_set_num(f->vq, num), 0);
	vgi_virtqueue_set_addr(f->vq, f->q->desc_gpa, f->q->avail_gpa, f->q->used_gpa);
	vgi_virtqueue_set_memory(f->vq, f->g->mem);
	vgi_virtqueue_set_features(f->vq, features);
	assert_int_equal(vgi_virtqueue_start(f->vq), 0);
	return f;
}

static int setup(void **state)
{
	*state = setup_queue(256, (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vgi_virtqueue_inflight(f->vq), 0);
	vgi_virtqueue_free(f->vq);
	tg_queue_free(f->q);
	tg_guest_free(f->g);
	free(f);
	return 0;
}

/* A chain of one readable buffer spanning scattered pages and one writable. */
static void test_chain_roundtrip(void **state, bool indirect)
{
	struct fixture *f = *state;
	uint64_t p1 = tg_alloc_page(f->g), p2 = tg_alloc_page(f->g), resp = tg_alloc_page(f->g);
	struct tg_buf bufs[3] = { { p1, 4096, false }, { p2, 100, false }, { resp, 24, true } };
	struct vgi_vq_elem *e;
	uint32_t head, len;
	int h;

	memset(tg_host(f->g, p1), 0xab, 4096);
	h = tg_queue_add(f->q, bufs, 3, indirect);
	assert_true(h >= 0);
	assert_null(vgi_virtqueue_pop(f->vq));	/* not published yet */
	tg_queue_publish(f->q);
	e = vgi_virtqueue_pop(f->vq);
	assert_non_null(e);
	assert_int_equal(e->head, h);
	assert_int_equal(e->out_num, p2 == p1 + 4096 ? 1 : 2);
	assert_int_equal(vgi_iov_size(e->out_sg, e->out_num), 4196);
	assert_int_equal(e->in_num, 1);
	assert_int_equal(e->in_sg[0].iov_len, 24);
	assert_int_equal(((uint8_t *)e->out_sg[0].iov_base)[4095], 0xab);
	assert_int_equal(vgi_virtqueue_inflight(f->vq), 1);
	memset(e->in_sg[0].iov_base, 0x5a, 24);
	vgi_virtqueue_push(f->vq, e, 24);
	assert_true(vgi_virtqueue_should_notify(f->vq));
	assert_false(vgi_virtqueue_should_notify(f->vq));	/* nothing new pushed */
	assert_true(tg_queue_get_used(f->q, &head, &len));
	assert_int_equal(head, h);
	assert_int_equal(len, 24);
	assert_int_equal(((uint8_t *)tg_host(f->g, resp))[23], 0x5a);
	assert_null(vgi_virtqueue_pop(f->vq));
}

static void test_direct_chain(void **state)
{
	test_chain_roundtrip(state, false);
}

static void test_indirect_chain(void **state)
{
	test_chain_roundtrip(state, true);
}

/* Publish a hand-made chain at head 0 and expect it returned with length 0. */
static void expect_rejected(struct fixture *f, uint16_t head)
{
	uint16_t *avail = tg_queue_avail(f->q);
	uint32_t h, len;

	avail[2 + (f->q->avail_idx & (f->q->num - 1))] = head;
	f->q->avail_idx++;
	tg_queue_publish(f->q);
	assert_null(vgi_virtqueue_pop(f->vq));
	assert_false(vgi_virtqueue_broken(f->vq));
	assert_true(tg_queue_get_used(f->q, &h, &len) || head >= f->q->num);
	if (head < f->q->num) {
		assert_int_equal(h, head);
		assert_int_equal(len, 0);
	}
}

static void test_malformed_chains(void **state)
{
	struct fixture *f = *state;
	struct tg_desc *d = tg_queue_desc(f->q);
	uint64_t page = tg_alloc_page(f->g), table = tg_alloc_page(f->g);
	struct tg_desc *t = tg_host(f->g, table);

	/* loop: 0 -> 1 -> 0 */
	d[0] = (struct tg_desc){ page, 16, VRING_DESC_F_NEXT, 1 };
	d[1] = (struct tg_desc){ page, 16, VRING_DESC_F_NEXT, 0 };
	expect_rejected(f, 0);
	/* address outside RAM (in the hole between regions) */
	d[0] = (struct tg_desc){ f->g->ram_gpa[0] + f->g->ram_size[0] + 10, 16, 0, 0 };
	expect_rejected(f, 0);
	/* address + len wraps 64 bits */
	d[0] = (struct tg_desc){ UINT64_MAX - 4, 16, 0, 0 };
	expect_rejected(f, 0);
	/* next out of range */
	d[0] = (struct tg_desc){ page, 16, VRING_DESC_F_NEXT, 300 };
	expect_rejected(f, 0);
	/* readable after writable */
	d[0] = (struct tg_desc){ page, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1 };
	d[1] = (struct tg_desc){ page, 16, 0, 0 };
	expect_rejected(f, 0);
	/* indirect inside indirect */
	t[0] = (struct tg_desc){ table, 16, VRING_DESC_F_INDIRECT, 0 };
	d[0] = (struct tg_desc){ table, 16, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
	/* indirect table with a loop */
	t[0] = (struct tg_desc){ page, 8, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct tg_desc){ page, 8, VRING_DESC_F_NEXT, 0 };
	d[0] = (struct tg_desc){ table, 32, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
	/* indirect length not a multiple of 16, and zero */
	d[0] = (struct tg_desc){ table, 17, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
	d[0] = (struct tg_desc){ table, 0, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
	/* indirect with NEXT */
	t[0] = (struct tg_desc){ page, 8, 0, 0 };
	d[0] = (struct tg_desc){ table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1 };
	expect_rejected(f, 0);
	/* head out of range: skipped, nothing to return */
	expect_rejected(f, 4000);

	/* and the queue still serves a good chain afterwards */
	d[0] = (struct tg_desc){ page, 16, 0, 0 };
	tg_queue_avail(f->q)[2 + (f->q->avail_idx & 255)] = 0;
	f->q->avail_idx++;
	tg_queue_publish(f->q);
	struct vgi_vq_elem *e = vgi_virtqueue_pop(f->vq);
	assert_non_null(e);
	assert_int_equal(e->out_num, 1);
	vgi_virtqueue_push(f->vq, e, 0);
}

static void test_too_many_iovecs(void **state)
{
	struct fixture *f = *state;
	uint64_t table = tg_alloc_contig(f->g, 5);
	struct tg_desc *t = tg_host(f->g, table);
	uint32_t n = VGI_VQ_MAX_IOV + 1;

	/* every descriptor on its own non-adjacent page: no merging possible */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t p = tg_alloc_page(f->g);

		t[i] = (struct tg_desc){ p, 8, (uint16_t)(i + 1 < n ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1) };
	}
	tg_queue_desc(f->q)[0] = (struct tg_desc){ table, 16 * n, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
}

static void test_indirect_needs_feature(void **state)
{
	struct fixture *f = setup_queue(16, 0);
	uint64_t page = tg_alloc_page(f->g), table = tg_alloc_page(f->g);
	struct tg_desc *t = tg_host(f->g, table);

	t[0] = (struct tg_desc){ page, 8, 0, 0 };
	tg_queue_desc(f->q)[0] = (struct tg_desc){ table, 16, VRING_DESC_F_INDIRECT, 0 };
	expect_rejected(f, 0);
	*state = f;
	teardown(state);
}

static void test_avail_jump_breaks_queue(void **state)
{
	struct fixture *f = *state;

	tg_queue_avail(f->q)[1] = 257;	/* more than num ahead */
	assert_null(vgi_virtqueue_pop(f->vq));
	assert_true(vgi_virtqueue_broken(f->vq));
	assert_false(vgi_virtqueue_ready(f->vq));
	/* restarting after the driver fixed it works again */
	tg_queue_avail(f->q)[1] = 0;
	assert_int_equal(vgi_virtqueue_start(f->vq), 0);
	assert_null(vgi_virtqueue_pop(f->vq));
	assert_false(vgi_virtqueue_broken(f->vq));
}

/* Index wrap-around past 65535 on a small queue, with EVENT_IDX suppression. */
static void test_wraparound_and_event_idx(void **state)
{
	struct fixture *f = setup_queue(4, (1ull << VIRTIO_RING_F_EVENT_IDX));
	uint64_t page = tg_alloc_page(f->g);
	struct tg_buf b = { page, 64, true };
	unsigned notifies = 0;

	for (unsigned round = 0; round < 70000; round++) {
		struct vgi_vq_elem *e;
		uint32_t h, len;

		assert_true(tg_queue_add(f->q, &b, 1, false) >= 0);
		tg_queue_publish(f->q);
		e = vgi_virtqueue_pop(f->vq);
		assert_non_null(e);
		vgi_virtqueue_push(f->vq, e, (uint32_t)round);
		/* the driver asks for an interrupt only every 8th element */
		if (round % 8 == 0)
			tg_queue_avail(f->q)[2 + 4] = (uint16_t)(f->q->last_used);
		else
			tg_queue_avail(f->q)[2 + 4] = (uint16_t)(f->q->last_used + 100);
		if (vgi_virtqueue_should_notify(f->vq))
			notifies++;
		assert_true(tg_queue_get_used(f->q, &h, &len));
		assert_int_equal(len, round);
		/* device asks to be kicked at the next avail index */
		assert_int_equal(tg_queue_used(f->q)[2 + 4 * 4], (uint16_t)(round + 1));
	}
	assert_int_equal(vgi_virtqueue_get_last_avail(f->vq), (uint16_t)70000);
	assert_int_equal(notifies, 70000 / 8);	/* rounds 0, 8, ..., 69992 */
	*state = f;
	teardown(state);
}

static void test_no_interrupt_flag(void **state)
{
	struct fixture *f = setup_queue(8, 0);
	struct tg_buf b = { tg_alloc_page(f->g), 64, true };
	struct vgi_vq_elem *e;

	tg_queue_avail(f->q)[0] = VRING_AVAIL_F_NO_INTERRUPT;
	tg_queue_add(f->q, &b, 1, false);
	tg_queue_publish(f->q);
	e = vgi_virtqueue_pop(f->vq);
	vgi_virtqueue_push(f->vq, e, 0);
	assert_false(vgi_virtqueue_should_notify(f->vq));
	*state = f;
	teardown(state);
}

static void test_max_queue_size(void **state)
{
	struct fixture *f = setup_queue(VGI_VQ_MAX_SIZE, (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	struct vgi_virtqueue *vq = vgi_virtqueue_new(1);
	struct tg_buf b = { tg_alloc_page(f->g), 64, false };
	unsigned count = 0;
	struct vgi_vq_elem *e;

	assert_int_equal(vgi_virtqueue_set_num(vq, VGI_VQ_MAX_SIZE * 2), -EINVAL);
	assert_int_equal(vgi_virtqueue_set_num(vq, 100), -EINVAL);
	assert_int_equal(vgi_virtqueue_set_num(vq, 0), -EINVAL);
	vgi_virtqueue_free(vq);
	for (unsigned i = 0; i < VGI_VQ_MAX_SIZE; i++)
		assert_true(tg_queue_add(f->q, &b, 1, false) >= 0);
	tg_queue_publish(f->q);
	while ((e = vgi_virtqueue_pop(f->vq))) {
		vgi_virtqueue_push(f->vq, e, 0);
		count++;
	}
	assert_int_equal(count, VGI_VQ_MAX_SIZE);
	*state = f;
	teardown(state);
}

static void test_ring_outside_memory(void **state)
{
	struct vgi_virtqueue *vq = vgi_virtqueue_new(0);
	struct tg_guest *g = tg_guest_new(1u << 20);

	vgi_virtqueue_set_num(vq, 256);
	vgi_virtqueue_set_memory(vq, g->mem);
	vgi_virtqueue_set_addr(vq, 0x10, 0x10000, 0x20000);	/* below RAM */
	assert_int_equal(vgi_virtqueue_start(vq), -EFAULT);
	vgi_virtqueue_set_addr(vq, g->ram_gpa[0] + 8, g->ram_gpa[0] + 0x1000, g->ram_gpa[0] + 0x2000);
	assert_int_equal(vgi_virtqueue_start(vq), -EFAULT);	/* misaligned desc */
	/* used ring straddling the end of RAM */
	vgi_virtqueue_set_addr(vq, g->ram_gpa[0], g->ram_gpa[0] + 0x1000, g->ram_gpa[0] + g->ram_size[0] - 8);
	assert_int_equal(vgi_virtqueue_start(vq), -EFAULT);
	assert_false(vgi_virtqueue_ready(vq));
	assert_null(vgi_virtqueue_pop(vq));
	vgi_virtqueue_free(vq);
	tg_guest_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_direct_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_iovecs, setup, teardown),
		cmocka_unit_test(test_indirect_needs_feature),
		cmocka_unit_test_setup_teardown(test_avail_jump_breaks_queue, setup, teardown),
		cmocka_unit_test(test_wraparound_and_event_idx),
		cmocka_unit_test(test_no_interrupt_flag),
		cmocka_unit_test(test_max_queue_size),
		cmocka_unit_test(test_ring_outside_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
