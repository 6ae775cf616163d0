// SPDX-License-Identifier: MIT
#include <stddef.h>

#include <gdk/gdkkeysyms.h>
#include <linux/input-event-codes.h>

#include "gtk-keymap.h"

/* Keyvals of a US layout (and the usual function keys) to evdev, for backends without evdev keycodes. */
static const struct {
	unsigned keyval;
	unsigned short code;
} keyval_map[] = {
	{ GDK_KEY_a, KEY_A }, { GDK_KEY_b, KEY_B }, { GDK_KEY_c, KEY_C }, { GDK_KEY_d, KEY_D },
	{ GDK_KEY_e, KEY_E }, { GDK_KEY_f, KEY_F }, { GDK_KEY_g, KEY_G }, { GDK_KEY_h, KEY_H },
	{ GDK_KEY_i, KEY_I }, { GDK_KEY_j, KEY_J }, { GDK_KEY_k, KEY_K }, { GDK_KEY_l, KEY_L },
	{ GDK_KEY_m, KEY_M }, { GDK_KEY_n, KEY_N }, { GDK_KEY_o, KEY_O }, { GDK_KEY_p, KEY_P },
	{ GDK_KEY_q, KEY_Q }, { GDK_KEY_r, KEY_R }, { GDK_KEY_s, KEY_S }, { GDK_KEY_t, KEY_T },
	{ GDK_KEY_u, KEY_U }, { GDK_KEY_v, KEY_V }, { GDK_KEY_w, KEY_W }, { GDK_KEY_x, KEY_X },
	{ GDK_KEY_y, KEY_Y }, { GDK_KEY_z, KEY_Z },
	{ GDK_KEY_1, KEY_1 }, { GDK_KEY_2, KEY_2 }, { GDK_KEY_3, KEY_3 }, { GDK_KEY_4, KEY_4 },
	{ GDK_KEY_5, KEY_5 }, { GDK_KEY_6, KEY_6 }, { GDK_KEY_7, KEY_7 }, { GDK_KEY_8, KEY_8 },
	{ GDK_KEY_9, KEY_9 }, { GDK_KEY_0, KEY_0 },
	{ GDK_KEY_exclam, KEY_1 }, { GDK_KEY_at, KEY_2 }, { GDK_KEY_numbersign, KEY_3 },
	{ GDK_KEY_dollar, KEY_4 }, { GDK_KEY_percent, KEY_5 }, { GDK_KEY_asciicircum, KEY_6 },
	{ GDK_KEY_ampersand, KEY_7 }, { GDK_KEY_asterisk, KEY_8 }, { GDK_KEY_parenleft, KEY_9 },
	{ GDK_KEY_parenright, KEY_0 },
	{ GDK_KEY_Return, KEY_ENTER }, { GDK_KEY_Escape, KEY_ESC }, { GDK_KEY_BackSpace, KEY_BACKSPACE },
	{ GDK_KEY_Tab, KEY_TAB }, { GDK_KEY_ISO_Left_Tab, KEY_TAB }, { GDK_KEY_space, KEY_SPACE },
	{ GDK_KEY_minus, KEY_MINUS }, { GDK_KEY_underscore, KEY_MINUS },
	{ GDK_KEY_equal, KEY_EQUAL }, { GDK_KEY_plus, KEY_EQUAL },
	{ GDK_KEY_bracketleft, KEY_LEFTBRACE }, { GDK_KEY_braceleft, KEY_LEFTBRACE },
	{ GDK_KEY_bracketright, KEY_RIGHTBRACE }, { GDK_KEY_braceright, KEY_RIGHTBRACE },
	{ GDK_KEY_backslash, KEY_BACKSLASH }, { GDK_KEY_bar, KEY_BACKSLASH },
	{ GDK_KEY_semicolon, KEY_SEMICOLON }, { GDK_KEY_colon, KEY_SEMICOLON },
	{ GDK_KEY_apostrophe, KEY_APOSTROPHE }, { GDK_KEY_quotedbl, KEY_APOSTROPHE },
	{ GDK_KEY_grave, KEY_GRAVE }, { GDK_KEY_asciitilde, KEY_GRAVE },
	{ GDK_KEY_comma, KEY_COMMA }, { GDK_KEY_less, KEY_COMMA },
	{ GDK_KEY_period, KEY_DOT }, { GDK_KEY_greater, KEY_DOT },
	{ GDK_KEY_slash, KEY_SLASH }, { GDK_KEY_question, KEY_SLASH },
	{ GDK_KEY_Caps_Lock, KEY_CAPSLOCK },
	{ GDK_KEY_F1, KEY_F1 }, { GDK_KEY_F2, KEY_F2 }, { GDK_KEY_F3, KEY_F3 }, { GDK_KEY_F4, KEY_F4 },
	{ GDK_KEY_F5, KEY_F5 }, { GDK_KEY_F6, KEY_F6 }, { GDK_KEY_F7, KEY_F7 }, { GDK_KEY_F8, KEY_F8 },
	{ GDK_KEY_F9, KEY_F9 }, { GDK_KEY_F10, KEY_F10 }, { GDK_KEY_F11, KEY_F11 }, { GDK_KEY_F12, KEY_F12 },
	{ GDK_KEY_F13, KEY_F13 }, { GDK_KEY_F14, KEY_F14 }, { GDK_KEY_F15, KEY_F15 }, { GDK_KEY_F16, KEY_F16 },
	{ GDK_KEY_F17, KEY_F17 }, { GDK_KEY_F18, KEY_F18 }, { GDK_KEY_F19, KEY_F19 }, { GDK_KEY_F20, KEY_F20 },
	{ GDK_KEY_F21, KEY_F21 }, { GDK_KEY_F22, KEY_F22 }, { GDK_KEY_F23, KEY_F23 }, { GDK_KEY_F24, KEY_F24 },
	{ GDK_KEY_Print, KEY_SYSRQ }, { GDK_KEY_Sys_Req, KEY_SYSRQ }, { GDK_KEY_Scroll_Lock, KEY_SCROLLLOCK },
	{ GDK_KEY_Pause, KEY_PAUSE }, { GDK_KEY_Break, KEY_PAUSE },
	{ GDK_KEY_Insert, KEY_INSERT }, { GDK_KEY_Home, KEY_HOME }, { GDK_KEY_Page_Up, KEY_PAGEUP },
	{ GDK_KEY_Delete, KEY_DELETE }, { GDK_KEY_End, KEY_END }, { GDK_KEY_Page_Down, KEY_PAGEDOWN },
	{ GDK_KEY_Right, KEY_RIGHT }, { GDK_KEY_Left, KEY_LEFT }, { GDK_KEY_Down, KEY_DOWN }, { GDK_KEY_Up, KEY_UP },
	{ GDK_KEY_Num_Lock, KEY_NUMLOCK }, { GDK_KEY_KP_Divide, KEY_KPSLASH },
	{ GDK_KEY_KP_Multiply, KEY_KPASTERISK }, { GDK_KEY_KP_Subtract, KEY_KPMINUS },
	{ GDK_KEY_KP_Add, KEY_KPPLUS }, { GDK_KEY_KP_Enter, KEY_KPENTER },
	{ GDK_KEY_KP_1, KEY_KP1 }, { GDK_KEY_KP_End, KEY_KP1 }, { GDK_KEY_KP_2, KEY_KP2 }, { GDK_KEY_KP_Down, KEY_KP2 },
	{ GDK_KEY_KP_3, KEY_KP3 }, { GDK_KEY_KP_Page_Down, KEY_KP3 }, { GDK_KEY_KP_4, KEY_KP4 },
	{ GDK_KEY_KP_Left, KEY_KP4 }, { GDK_KEY_KP_5, KEY_KP5 }, { GDK_KEY_KP_Begin, KEY_KP5 },
	{ GDK_KEY_KP_6, KEY_KP6 }, { GDK_KEY_KP_Right, KEY_KP6 }, { GDK_KEY_KP_7, KEY_KP7 },
	{ GDK_KEY_KP_Home, KEY_KP7 }, { GDK_KEY_KP_8, KEY_KP8 }, { GDK_KEY_KP_Up, KEY_KP8 },
	{ GDK_KEY_KP_9, KEY_KP9 }, { GDK_KEY_KP_Page_Up, KEY_KP9 }, { GDK_KEY_KP_0, KEY_KP0 },
	{ GDK_KEY_KP_Insert, KEY_KP0 }, { GDK_KEY_KP_Decimal, KEY_KPDOT }, { GDK_KEY_KP_Delete, KEY_KPDOT },
	{ GDK_KEY_KP_Equal, KEY_KPEQUAL }, { GDK_KEY_KP_Separator, KEY_KPCOMMA },
	{ GDK_KEY_Menu, KEY_COMPOSE },
	{ GDK_KEY_Control_L, KEY_LEFTCTRL }, { GDK_KEY_Shift_L, KEY_LEFTSHIFT }, { GDK_KEY_Alt_L, KEY_LEFTALT },
	{ GDK_KEY_Super_L, KEY_LEFTMETA }, { GDK_KEY_Meta_L, KEY_LEFTMETA },
	{ GDK_KEY_Control_R, KEY_RIGHTCTRL }, { GDK_KEY_Shift_R, KEY_RIGHTSHIFT }, { GDK_KEY_Alt_R, KEY_RIGHTALT },
	{ GDK_KEY_ISO_Level3_Shift, KEY_RIGHTALT }, { GDK_KEY_Super_R, KEY_RIGHTMETA }, { GDK_KEY_Meta_R, KEY_RIGHTMETA },
	{ GDK_KEY_Help, KEY_HELP }, { GDK_KEY_Undo, KEY_UNDO }, { GDK_KEY_Redo, KEY_REDO },
	{ GDK_KEY_Find, KEY_FIND }, { GDK_KEY_Cancel, KEY_CANCEL }, { GDK_KEY_Select, KEY_SELECT },
	{ GDK_KEY_AudioMute, KEY_MUTE }, { GDK_KEY_AudioRaiseVolume, KEY_VOLUMEUP },
	{ GDK_KEY_AudioLowerVolume, KEY_VOLUMEDOWN }, { GDK_KEY_AudioNext, KEY_NEXTSONG },
	{ GDK_KEY_AudioPrev, KEY_PREVIOUSSONG }, { GDK_KEY_AudioPlay, KEY_PLAYPAUSE }, { GDK_KEY_AudioStop, KEY_STOPCD },
	{ GDK_KEY_PowerOff, KEY_POWER }, { GDK_KEY_Sleep, KEY_SLEEP }, { GDK_KEY_Eject, KEY_EJECTCD },
	{ GDK_KEY_Calculator, KEY_CALC }, { GDK_KEY_Mail, KEY_MAIL }, { GDK_KEY_HomePage, KEY_HOMEPAGE },
	{ GDK_KEY_Back, KEY_BACK }, { GDK_KEY_Forward, KEY_FORWARD }, { GDK_KEY_Refresh, KEY_REFRESH },
	{ GDK_KEY_Search, KEY_SEARCH },
};

unsigned vgi_gtk_keyval_to_evdev(unsigned keyval)
{
	if (keyval >= GDK_KEY_A && keyval <= GDK_KEY_Z)
		keyval += GDK_KEY_a - GDK_KEY_A;
	for (size_t i = 0; i < sizeof(keyval_map) / sizeof(keyval_map[0]); i++)
		if (keyval_map[i].keyval == keyval)
			return keyval_map[i].code;
	return 0;
}

unsigned vgi_gtk_key_to_evdev(uint16_t hardware_keycode, unsigned keyval, bool keycode_is_evdev)
{
	if (keycode_is_evdev && hardware_keycode >= 8 && hardware_keycode - 8u < KEY_MAX && hardware_keycode - 8u)
		return hardware_keycode - 8u;
	return vgi_gtk_keyval_to_evdev(keyval);
}
