// SPDX-License-Identifier: MIT
/* GDK key events to evdev codes: the keycode path (evdev + 8) and the keyval fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gdk/gdkkeysyms.h>
#include <linux/input-event-codes.h>

#include "gtk-keymap.h"

static void test_keycode_path(void **state)
{
	/* xkb "evdev" keycodes: 38 is 'a', 50 left shift, 113 left arrow, 36 Return */
	assert_int_equal(vgi_gtk_key_to_evdev(38, GDK_KEY_a, true), KEY_A);
	assert_int_equal(vgi_gtk_key_to_evdev(50, GDK_KEY_Shift_L, true), KEY_LEFTSHIFT);
	assert_int_equal(vgi_gtk_key_to_evdev(113, GDK_KEY_Left, true), KEY_LEFT);
	assert_int_equal(vgi_gtk_key_to_evdev(36, GDK_KEY_Return, true), KEY_ENTER);
	/* the keycode wins over the layout: 'q' on an AZERTY layout is still KEY_A's key */
	assert_int_equal(vgi_gtk_key_to_evdev(38, GDK_KEY_q, true), KEY_A);
	/* keycodes below 9 are not evdev keys: the keyval decides */
	assert_int_equal(vgi_gtk_key_to_evdev(8, GDK_KEY_b, true), KEY_B);
	assert_int_equal(vgi_gtk_key_to_evdev(0, 0, true), 0);
}

static void test_keyval_fallback(void **state)
{
	static const struct { unsigned keyval, code; } map[] = {
		{ GDK_KEY_a, KEY_A }, { GDK_KEY_A, KEY_A }, { GDK_KEY_Z, KEY_Z }, { GDK_KEY_0, KEY_0 },
		{ GDK_KEY_exclam, KEY_1 }, { GDK_KEY_Return, KEY_ENTER }, { GDK_KEY_Escape, KEY_ESC },
		{ GDK_KEY_F1, KEY_F1 }, { GDK_KEY_F12, KEY_F12 }, { GDK_KEY_Left, KEY_LEFT },
		{ GDK_KEY_Page_Down, KEY_PAGEDOWN }, { GDK_KEY_KP_Enter, KEY_KPENTER }, { GDK_KEY_KP_7, KEY_KP7 },
		{ GDK_KEY_KP_Home, KEY_KP7 }, { GDK_KEY_Shift_R, KEY_RIGHTSHIFT }, { GDK_KEY_Control_L, KEY_LEFTCTRL },
		{ GDK_KEY_Super_L, KEY_LEFTMETA }, { GDK_KEY_ISO_Left_Tab, KEY_TAB }, { GDK_KEY_question, KEY_SLASH },
		{ GDK_KEY_Print, KEY_SYSRQ }, { GDK_KEY_AudioMute, KEY_MUTE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		assert_int_equal(vgi_gtk_keyval_to_evdev(map[i].keyval), map[i].code);
		assert_int_equal(vgi_gtk_key_to_evdev(38, map[i].keyval, false), map[i].code);
	}
	assert_int_equal(vgi_gtk_keyval_to_evdev(GDK_KEY_VoidSymbol), 0);
	assert_int_equal(vgi_gtk_keyval_to_evdev(0xffffffffu), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keycode_path),
		cmocka_unit_test(test_keyval_fallback),
	};

	return cmocka_run_group_tests_name("gtk keymap", tests, NULL, NULL);
}
