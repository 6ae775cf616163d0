// SPDX-License-Identifier: MIT
/* The SPICE scancode (PC set 1) to evdev table and decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/input-event-codes.h>

#include "spice-keymap.h"

/* Feed bytes; collect (code, value) pairs. */
static int feed(const uint8_t *bytes, size_t n, uint16_t *codes, int32_t *values)
{
	struct vgi_scancode_decoder d = { 0 };
	int k = 0;

	for (size_t i = 0; i < n; i++)
		if (vgi_scancode_feed(&d, bytes[i], &codes[k], &values[k]))
			k++;
	return k;
}

static void test_plain_range_is_identity(void **state)
{
	/* evdev codes 1..83 were defined as the set-1 make codes */
	for (uint8_t q = 1; q <= 0x53; q++)
		assert_int_equal(vgi_spice_qnum_to_evdev(q), q);
	assert_int_equal(vgi_spice_qnum_to_evdev(0), 0);
}

static void test_known_keys(void **state)
{
	static const struct { uint8_t qnum; uint16_t key; } k[] = {
		{ 0x01, KEY_ESC }, { 0x1e, KEY_A }, { 0x2c, KEY_Z }, { 0x39, KEY_SPACE }, { 0x1c, KEY_ENTER },
		{ 0x56, KEY_102ND }, { 0x57, KEY_F11 }, { 0x58, KEY_F12 }, { 0x5d, KEY_F13 }, { 0x55, KEY_F16 },
		{ 0x73, KEY_RO }, { 0x7d, KEY_YEN }, { 0x70, KEY_KATAKANAHIRAGANA }, { 0x79, KEY_HENKAN },
		{ 0x9c, KEY_KPENTER }, { 0x9d, KEY_RIGHTCTRL }, { 0xb5, KEY_KPSLASH }, { 0xb7, KEY_SYSRQ },
		{ 0xb8, KEY_RIGHTALT }, { 0xc7, KEY_HOME }, { 0xc8, KEY_UP }, { 0xc9, KEY_PAGEUP },
		{ 0xcb, KEY_LEFT }, { 0xcd, KEY_RIGHT }, { 0xcf, KEY_END }, { 0xd0, KEY_DOWN },
		{ 0xd1, KEY_PAGEDOWN }, { 0xd2, KEY_INSERT }, { 0xd3, KEY_DELETE }, { 0xdb, KEY_LEFTMETA },
		{ 0xdc, KEY_RIGHTMETA }, { 0xdd, KEY_COMPOSE }, { 0xde, KEY_POWER }, { 0xa0, KEY_MUTE },
		{ 0xae, KEY_VOLUMEDOWN }, { 0xb0, KEY_VOLUMEUP }, { 0xa2, KEY_PLAYPAUSE }, { 0x99, KEY_NEXTSONG },
		{ 0x90, KEY_PREVIOUSSONG }, { 0xc6, KEY_PAUSE },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		assert_int_equal(vgi_spice_qnum_to_evdev(k[i].qnum), k[i].key);
}

static void test_table_is_injective(void **state)
{
	/* every evdev key comes from one scancode, except SysRq (Alt+PrtSc 0x54 and PrtSc e0 37) */
	int seen[KEY_MAX + 1];
	int mapped = 0;

	memset(seen, -1, sizeof(seen));
	for (int q = 0; q < 256; q++) {
		uint16_t key = vgi_spice_qnum_to_evdev((uint8_t)q);

		if (!key)
			continue;
		mapped++;
		assert_true(key <= KEY_MAX);
		if (seen[key] >= 0 && key != KEY_SYSRQ)
			fail_msg("evdev %u from qnum 0x%02x and 0x%02x", key, seen[key], q);
		seen[key] = q;
	}
	assert_true(mapped >= 200);	/* a full table, not a sample */
}

static void test_decoder_press_release(void **state)
{
	const uint8_t bytes[] = { 0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x1d, 0xe0, 0x9d, 0x2a, 0xaa };
	uint16_t codes[16];
	int32_t values[16];

	assert_int_equal(feed(bytes, sizeof(bytes), codes, values), 8);
	assert_int_equal(codes[0], KEY_A);
	assert_int_equal(values[0], 1);
	assert_int_equal(codes[1], KEY_A);
	assert_int_equal(values[1], 0);
	assert_int_equal(codes[2], KEY_UP);
	assert_int_equal(values[2], 1);
	assert_int_equal(codes[3], KEY_UP);
	assert_int_equal(values[3], 0);
	assert_int_equal(codes[4], KEY_RIGHTCTRL);
	assert_int_equal(codes[5], KEY_RIGHTCTRL);
	assert_int_equal(values[5], 0);
	assert_int_equal(codes[6], KEY_LEFTSHIFT);
	assert_int_equal(values[6], 1);
	assert_int_equal(codes[7], KEY_LEFTSHIFT);
	assert_int_equal(values[7], 0);
}

static void test_decoder_pause_and_fake_shift(void **state)
{
	/* Pause press/release, then PrtSc wrapped in fake shifts (e0 2a e0 37 / e0 b7 e0 aa) */
	const uint8_t bytes[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5, 0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa };
	uint16_t codes[16];
	int32_t values[16];

	assert_int_equal(feed(bytes, sizeof(bytes), codes, values), 4);
	assert_int_equal(codes[0], KEY_PAUSE);
	assert_int_equal(values[0], 1);
	assert_int_equal(codes[1], KEY_PAUSE);
	assert_int_equal(values[1], 0);
	assert_int_equal(codes[2], KEY_SYSRQ);
	assert_int_equal(values[2], 1);
	assert_int_equal(codes[3], KEY_SYSRQ);
	assert_int_equal(values[3], 0);
}

static void test_decoder_garbage(void **state)
{
	/* unmapped codes are dropped; a broken e1 sequence resyncs; every byte is safe */
	struct vgi_scancode_decoder d = { 0 };
	uint16_t code;
	int32_t value;

	assert_false(vgi_scancode_feed(&d, 0x60, &code, &value));	/* unmapped */
	assert_false(vgi_scancode_feed(&d, 0xe1, &code, &value));
	assert_false(vgi_scancode_feed(&d, 0x30, &code, &value));	/* not 1d: resync */
	assert_true(vgi_scancode_feed(&d, 0x30, &code, &value));
	assert_int_equal(code, KEY_B);
	for (int i = 0; i < 4096; i++)
		vgi_scancode_feed(&d, (uint8_t)(i * 37 + 11), &code, &value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_range_is_identity),
		cmocka_unit_test(test_known_keys),
		cmocka_unit_test(test_table_is_injective),
		cmocka_unit_test(test_decoder_press_release),
		cmocka_unit_test(test_decoder_pause_and_fake_shift),
		cmocka_unit_test(test_decoder_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
