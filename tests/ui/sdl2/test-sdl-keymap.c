// SPDX-License-Identifier: MIT
/*
 * The SDL scancode -> evdev table. Cross-checked against names that come
 * from elsewhere: SDL's own scancode names and libevdev's KEY_* names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <ctype.h>

#include <libevdev/libevdev.h>
#include <linux/input-event-codes.h>
#include <SDL.h>

#include "sdl2-keymap.h"

/* Every scancode whose SDL name, upper-cased with spaces dropped, is an evdev KEY_ name maps to that key. */
static void test_names_agree(void **state)
{
	unsigned checked = 0;

	for (int sc = 0; sc < SDL_NUM_SCANCODES; sc++) {
		const char *name = SDL_GetScancodeName((SDL_Scancode)sc);
		char ev[64] = "KEY_";
		size_t n = 4;
		int code;

		if (!name || !name[0])
			continue;
		for (const char *p = name; *p && n < sizeof(ev) - 1; p++)
			if (*p != ' ')
				ev[n++] = (char)toupper((unsigned char)*p);
		ev[n] = 0;
		code = libevdev_event_code_from_name(EV_KEY, ev);
		if (code < 0)
			continue;
		/* names that mean different keys in the two worlds */
		if (sc == SDL_SCANCODE_AC_STOP || sc == SDL_SCANCODE_AUDIOMUTE || sc == SDL_SCANCODE_MENU ||
		    sc == SDL_SCANCODE_AC_SEARCH || sc == SDL_SCANCODE_POWER)
			continue;
		if (vgi_sdl_scancode_to_evdev(sc) != (unsigned)code)
			printf("%s (%d): table %u, libevdev %s = %d\n", name, sc, vgi_sdl_scancode_to_evdev(sc), ev, code);
		assert_int_equal(vgi_sdl_scancode_to_evdev(sc), code);
		checked++;
	}
	printf("%u scancodes agree by name\n", checked);
	assert_true(checked >= 60);
}

/* The ones whose names differ, by their evdev names. */
static void test_renamed(void **state)
{
	static const struct { int sc; const char *ev; } map[] = {
		{ SDL_SCANCODE_RETURN, "KEY_ENTER" }, { SDL_SCANCODE_ESCAPE, "KEY_ESC" },
		{ SDL_SCANCODE_EQUALS, "KEY_EQUAL" }, { SDL_SCANCODE_LEFTBRACKET, "KEY_LEFTBRACE" },
		{ SDL_SCANCODE_RIGHTBRACKET, "KEY_RIGHTBRACE" }, { SDL_SCANCODE_PERIOD, "KEY_DOT" },
		{ SDL_SCANCODE_PRINTSCREEN, "KEY_SYSRQ" }, { SDL_SCANCODE_NUMLOCKCLEAR, "KEY_NUMLOCK" },
		{ SDL_SCANCODE_KP_DIVIDE, "KEY_KPSLASH" }, { SDL_SCANCODE_KP_MULTIPLY, "KEY_KPASTERISK" },
		{ SDL_SCANCODE_KP_PERIOD, "KEY_KPDOT" }, { SDL_SCANCODE_KP_0, "KEY_KP0" },
		{ SDL_SCANCODE_KP_9, "KEY_KP9" }, { SDL_SCANCODE_NONUSBACKSLASH, "KEY_102ND" },
		{ SDL_SCANCODE_NONUSHASH, "KEY_BACKSLASH" }, { SDL_SCANCODE_APPLICATION, "KEY_COMPOSE" },
		{ SDL_SCANCODE_LCTRL, "KEY_LEFTCTRL" }, { SDL_SCANCODE_LSHIFT, "KEY_LEFTSHIFT" },
		{ SDL_SCANCODE_LALT, "KEY_LEFTALT" }, { SDL_SCANCODE_LGUI, "KEY_LEFTMETA" },
		{ SDL_SCANCODE_RCTRL, "KEY_RIGHTCTRL" }, { SDL_SCANCODE_RSHIFT, "KEY_RIGHTSHIFT" },
		{ SDL_SCANCODE_RALT, "KEY_RIGHTALT" }, { SDL_SCANCODE_RGUI, "KEY_RIGHTMETA" },
		{ SDL_SCANCODE_INTERNATIONAL1, "KEY_RO" }, { SDL_SCANCODE_INTERNATIONAL3, "KEY_YEN" },
		{ SDL_SCANCODE_LANG1, "KEY_HANGEUL" }, { SDL_SCANCODE_LANG2, "KEY_HANJA" },
		{ SDL_SCANCODE_AUDIONEXT, "KEY_NEXTSONG" }, { SDL_SCANCODE_AUDIOPLAY, "KEY_PLAYPAUSE" },
		{ SDL_SCANCODE_AC_HOME, "KEY_HOMEPAGE" }, { SDL_SCANCODE_AC_SEARCH, "KEY_SEARCH" },
		{ SDL_SCANCODE_CALCULATOR, "KEY_CALC" }, { SDL_SCANCODE_EJECT, "KEY_EJECTCD" },
		{ SDL_SCANCODE_POWER, "KEY_POWER" }, { SDL_SCANCODE_MENU, "KEY_MENU" },
		{ SDL_SCANCODE_KP_ENTER, "KEY_KPENTER" }, { SDL_SCANCODE_GRAVE, "KEY_GRAVE" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(vgi_sdl_scancode_to_evdev(map[i].sc), libevdev_event_code_from_name(EV_KEY, map[i].ev));
}

/* Every entry is a real key, no two keys of a PC keyboard collide, and junk maps to nothing. */
static void test_table_shape(void **state)
{
	unsigned owner[KEY_MAX + 1];
	unsigned mapped = 0;

	memset(owner, 0, sizeof(owner));
	for (int sc = 0; sc < SDL_NUM_SCANCODES; sc++) {
		unsigned code = vgi_sdl_scancode_to_evdev(sc);

		if (!code)
			continue;
		mapped++;
		assert_true(code < BTN_MISC || code >= KEY_OK);	/* a key, not a button */
		assert_non_null(libevdev_event_code_get_name(EV_KEY, code));
		/* the 105 keys of a PC keyboard (HID 4..0x65 and modifiers) map one to one */
		if ((sc >= SDL_SCANCODE_A && sc <= SDL_SCANCODE_APPLICATION && sc != SDL_SCANCODE_NONUSHASH) ||
		    (sc >= SDL_SCANCODE_LCTRL && sc <= SDL_SCANCODE_RGUI)) {
			assert_int_equal(owner[code], 0);
			owner[code] = (unsigned)sc;
		}
	}
	printf("%u scancodes mapped\n", mapped);
	assert_true(mapped >= 170);
	for (int sc = SDL_SCANCODE_A; sc <= SDL_SCANCODE_APPLICATION; sc++)
		assert_int_not_equal(vgi_sdl_scancode_to_evdev(sc), 0);
	assert_int_equal(vgi_sdl_scancode_to_evdev(SDL_SCANCODE_UNKNOWN), 0);
	assert_int_equal(vgi_sdl_scancode_to_evdev(-1), 0);
	assert_int_equal(vgi_sdl_scancode_to_evdev(SDL_NUM_SCANCODES), 0);
	assert_int_equal(vgi_sdl_scancode_to_evdev(1 << 30), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_agree),
		cmocka_unit_test(test_renamed),
		cmocka_unit_test(test_table_shape),
	};

	return cmocka_run_group_tests_name("sdl keymap", tests, NULL, NULL);
}
