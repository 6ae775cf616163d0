// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <vgi/guest-memory.h>

static uint8_t ram_a[8192], ram_b[4096];

static struct vgi_guest_memory *two_regions(void)
{
	struct vgi_guest_memory *mem = vgi_guest_memory_new();
	struct vgi_guest_region a = { .gpa = 0x1000, .size = sizeof(ram_a), .host = ram_a, .uaddr = 0x7f0000000000 };
	struct vgi_guest_region b = { .gpa = 0x3000, .size = sizeof(ram_b), .host = ram_b, .uaddr = 0x7f0000100000 };

	assert_int_equal(vgi_guest_memory_add_region(mem, &b), 0);
	assert_int_equal(vgi_guest_memory_add_region(mem, &a), 0);
	return mem;
}

static void test_add_rejects_bad_regions(void **state)
{
	struct vgi_guest_memory *mem = two_regions();
	struct vgi_guest_region r = { .gpa = 0x2fff, .size = 2, .host = ram_b };

	assert_int_equal(vgi_guest_memory_add_region(mem, &r), -EEXIST);
	r = (struct vgi_guest_region){ .gpa = 0x10000, .size = 0, .host = ram_b };
	assert_int_equal(vgi_guest_memory_add_region(mem, &r), -EINVAL);
	r = (struct vgi_guest_region){ .gpa = UINT64_MAX - 10, .size = 12, .host = ram_b };
	assert_int_equal(vgi_guest_memory_add_region(mem, &r), -EINVAL);
	r = (struct vgi_guest_region){ .gpa = UINT64_MAX - 10, .size = 11, .host = ram_b };
	assert_int_equal(vgi_guest_memory_add_region(mem, &r), 0);
	assert_int_equal(vgi_guest_memory_num_regions(mem), 3);
	assert_int_equal(vgi_guest_memory_remove_region(mem, 0x1234), -ENOENT);
	assert_int_equal(vgi_guest_memory_remove_region(mem, UINT64_MAX - 10), 0);
	vgi_guest_memory_free(mem);
}

static void test_map_bounds(void **state)
{
	struct vgi_guest_memory *mem = two_regions();

	assert_ptr_equal(vgi_guest_memory_map(mem, 0x1000, 8192), ram_a);
	assert_ptr_equal(vgi_guest_memory_map(mem, 0x2fff, 1), ram_a + 8191);
	assert_null(vgi_guest_memory_map(mem, 0x2fff, 2));	/* crosses into b: not contiguous */
	assert_null(vgi_guest_memory_map(mem, 0xfff, 1));
	assert_null(vgi_guest_memory_map(mem, 0x1000, 0));
	assert_null(vgi_guest_memory_map(mem, 0x1000, UINT64_MAX));
	assert_null(vgi_guest_memory_map(mem, UINT64_MAX, 2));
	assert_null(vgi_guest_memory_map(mem, 0x4000, 1));
	vgi_guest_memory_free(mem);
}

static void test_iovec_spans_regions(void **state)
{
	struct vgi_guest_memory *mem = two_regions();
	struct iovec iov[4];
	unsigned n = 0;

	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x2ff0, 0x20, iov, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].iov_base, ram_a + 8192 - 16);
	assert_int_equal(iov[0].iov_len, 16);
	assert_ptr_equal(iov[1].iov_base, ram_b);
	assert_int_equal(iov[1].iov_len, 16);

	/* too few iovecs: error, count untouched */
	n = 3;
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x2ff0, 0x20, iov, 4, &n), -E2BIG);
	assert_int_equal(n, 3);
	/* past the end, wrap, hole */
	n = 0;
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x3000, 4097, iov, 4, &n), -EFAULT);
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x3000, UINT64_MAX, iov, 4, &n), -EFAULT);
	assert_int_equal(vgi_guest_memory_to_iovec(mem, UINT64_MAX - 1, 4, iov, 4, &n), -EFAULT);
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x0, 1, iov, 4, &n), -EFAULT);
	assert_int_equal(n, 0);
	/* zero length is fine and adds nothing */
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x3000, 0, iov, 4, &n), 0);
	assert_int_equal(n, 0);
	vgi_guest_memory_free(mem);
}

static void test_iovec_merges_adjacent(void **state)
{
	static uint8_t buf[8192];
	struct vgi_guest_memory *mem = vgi_guest_memory_new();
	struct vgi_guest_region x = { .gpa = 0x10000, .size = 4096, .host = buf };
	struct vgi_guest_region y = { .gpa = 0x11000, .size = 4096, .host = buf + 4096 };
	struct iovec iov[2];
	unsigned n = 0;

	assert_int_equal(vgi_guest_memory_add_region(mem, &x), 0);
	assert_int_equal(vgi_guest_memory_add_region(mem, &y), 0);
	/* one range over two host-adjacent regions: one iovec */
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x10ff0, 32, iov, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 32);
	/* a second call never merges into the caller's earlier entries */
	assert_int_equal(vgi_guest_memory_to_iovec(mem, 0x11010, 16, iov, 2, &n), 0);
	assert_int_equal(n, 2);
	vgi_guest_memory_free(mem);
}

static void test_uaddr(void **state)
{
	struct vgi_guest_memory *mem = two_regions();
	uint64_t gpa = 0;

	assert_int_equal(vgi_guest_memory_uaddr_to_gpa(mem, 0x7f0000100010, 16, &gpa), 0);
	assert_int_equal(gpa, 0x3010);
	assert_int_equal(vgi_guest_memory_uaddr_to_gpa(mem, 0x7f0000100ff0, 17, &gpa), -EFAULT);
	assert_int_equal(vgi_guest_memory_uaddr_to_gpa(mem, UINT64_MAX, 2, &gpa), -EFAULT);
	vgi_guest_memory_free(mem);
}

static void test_iov_copy(void **state)
{
	uint8_t a[5] = { 1, 2, 3, 4, 5 }, b[3] = { 6, 7, 8 }, out[8] = { 0 };
	struct iovec iov[2] = { { a, 5 }, { b, 3 } };
	uint8_t in[4] = { 9, 9, 9, 9 };

	assert_int_equal(vgi_iov_size(iov, 2), 8);
	assert_int_equal(vgi_iov_to_buf(iov, 2, 3, out, 8), 5);
	assert_int_equal(out[0], 4);
	assert_int_equal(out[4], 8);
	assert_int_equal(vgi_iov_from_buf(iov, 2, 4, in, 4), 4);
	assert_int_equal(a[4], 9);
	assert_int_equal(b[2], 9);
	assert_int_equal(vgi_iov_to_buf(iov, 2, 100, out, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_rejects_bad_regions),
		cmocka_unit_test(test_map_bounds),
		cmocka_unit_test(test_iovec_spans_regions),
		cmocka_unit_test(test_iovec_merges_adjacent),
		cmocka_unit_test(test_uaddr),
		cmocka_unit_test(test_iov_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
