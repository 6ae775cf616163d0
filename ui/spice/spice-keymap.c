// SPDX-License-Identifier: MIT
/* PC scancode set 1 (as SPICE clients send it) to evdev key codes. */
#include <linux/input-event-codes.h>

#include "spice-keymap.h"

/*
 * Indexed by qnum: the set-1 make code, | 0x80 for codes sent after 0xe0.
 * Make codes 0x01-0x53 equal the evdev codes by construction of evdev.
 */
static const uint16_t qnum_to_evdev[256] = {
	[0x01] = KEY_ESC, [0x02] = KEY_1, [0x03] = KEY_2, [0x04] = KEY_3,
	[0x05] = KEY_4, [0x06] = KEY_5, [0x07] = KEY_6, [0x08] = KEY_7,
	[0x09] = KEY_8, [0x0a] = KEY_9, [0x0b] = KEY_0, [0x0c] = KEY_MINUS,
	[0x0d] = KEY_EQUAL, [0x0e] = KEY_BACKSPACE, [0x0f] = KEY_TAB,
	[0x10] = KEY_Q, [0x11] = KEY_W, [0x12] = KEY_E, [0x13] = KEY_R,
	[0x14] = KEY_T, [0x15] = KEY_Y, [0x16] = KEY_U, [0x17] = KEY_I,
	[0x18] = KEY_O, [0x19] = KEY_P, [0x1a] = KEY_LEFTBRACE, [0x1b] = KEY_RIGHTBRACE,
	[0x1c] = KEY_ENTER, [0x1d] = KEY_LEFTCTRL, [0x1e] = KEY_A, [0x1f] = KEY_S,
	[0x20] = KEY_D, [0x21] = KEY_F, [0x22] = KEY_G, [0x23] = KEY_H,
	[0x24] = KEY_J, [0x25] = KEY_K, [0x26] = KEY_L, [0x27] = KEY_SEMICOLON,
	[0x28] = KEY_APOSTROPHE, [0x29] = KEY_GRAVE, [0x2a] = KEY_LEFTSHIFT, [0x2b] = KEY_BACKSLASH,
	[0x2c] = KEY_Z, [0x2d] = KEY_X, [0x2e] = KEY_C, [0x2f] = KEY_V,
	[0x30] = KEY_B, [0x31] = KEY_N, [0x32] = KEY_M, [0x33] = KEY_COMMA,
	[0x34] = KEY_DOT, [0x35] = KEY_SLASH, [0x36] = KEY_RIGHTSHIFT, [0x37] = KEY_KPASTERISK,
	[0x38] = KEY_LEFTALT, [0x39] = KEY_SPACE, [0x3a] = KEY_CAPSLOCK, [0x3b] = KEY_F1,
	[0x3c] = KEY_F2, [0x3d] = KEY_F3, [0x3e] = KEY_F4, [0x3f] = KEY_F5,
	[0x40] = KEY_F6, [0x41] = KEY_F7, [0x42] = KEY_F8, [0x43] = KEY_F9,
	[0x44] = KEY_F10, [0x45] = KEY_NUMLOCK, [0x46] = KEY_SCROLLLOCK, [0x47] = KEY_KP7,
	[0x48] = KEY_KP8, [0x49] = KEY_KP9, [0x4a] = KEY_KPMINUS, [0x4b] = KEY_KP4,
	[0x4c] = KEY_KP5, [0x4d] = KEY_KP6, [0x4e] = KEY_KPPLUS, [0x4f] = KEY_KP1,
	[0x50] = KEY_KP2, [0x51] = KEY_KP3, [0x52] = KEY_KP0, [0x53] = KEY_KPDOT,
	[0x54] = KEY_SYSRQ, [0x55] = KEY_F16, [0x56] = KEY_102ND, [0x57] = KEY_F11,
	[0x58] = KEY_F12, [0x59] = KEY_KPEQUAL, [0x5a] = KEY_F20, [0x5b] = KEY_LINEFEED,
	[0x5c] = KEY_KPJPCOMMA, [0x5d] = KEY_F13, [0x5e] = KEY_F14, [0x5f] = KEY_F15,
	[0x63] = KEY_PHONE, [0x64] = KEY_OPEN, [0x65] = KEY_PASTE, [0x66] = KEY_SETUP,
	[0x67] = KEY_FILE, [0x68] = KEY_SENDFILE, [0x69] = KEY_DELETEFILE, [0x6a] = KEY_MSDOS,
	[0x6b] = KEY_DIRECTION, [0x6c] = KEY_EJECTCD, [0x6d] = KEY_F23, [0x6f] = KEY_F24,
	[0x70] = KEY_KATAKANAHIRAGANA, [0x71] = KEY_EXIT, [0x72] = KEY_MOVE, [0x73] = KEY_RO,
	[0x74] = KEY_F21, [0x75] = KEY_SCROLLUP, [0x76] = KEY_ZENKAKUHANKAKU, [0x77] = KEY_HIRAGANA,
	[0x78] = KEY_KATAKANA, [0x79] = KEY_HENKAN, [0x7b] = KEY_MUHENKAN, [0x7d] = KEY_YEN,
	[0x7e] = KEY_KPCOMMA,
	/* after 0xe0 */
	[0x81] = KEY_CONFIG, [0x82] = KEY_WWW, [0x83] = KEY_F17, [0x84] = KEY_F19,
	[0x85] = KEY_AGAIN, [0x86] = KEY_PROPS, [0x87] = KEY_UNDO, [0x88] = KEY_EDIT,
	[0x89] = KEY_NEW, [0x8a] = KEY_REDO, [0x8b] = KEY_SCALE, [0x8c] = KEY_FRONT,
	[0x8d] = KEY_HANJA, [0x8e] = KEY_FORWARDMAIL, [0x8f] = KEY_SCROLLDOWN,
	[0x90] = KEY_PREVIOUSSONG, [0x92] = KEY_SCREENLOCK, [0x93] = KEY_XFER,
	[0x94] = KEY_ALTERASE, [0x97] = KEY_PROG2, [0x98] = KEY_REWIND, [0x99] = KEY_NEXTSONG,
	[0x9c] = KEY_KPENTER, [0x9d] = KEY_RIGHTCTRL, [0x9e] = KEY_MENU, [0x9f] = KEY_PROG1,
	[0xa0] = KEY_MUTE, [0xa1] = KEY_CALC, [0xa2] = KEY_PLAYPAUSE, [0xa3] = KEY_CLOSECD,
	[0xa4] = KEY_STOPCD, [0xa5] = KEY_SUSPEND, [0xa6] = KEY_CYCLEWINDOWS,
	[0xa8] = KEY_PLAYCD, [0xa9] = KEY_PAUSECD, [0xab] = KEY_PROG3, [0xac] = KEY_PROG4,
	[0xad] = KEY_DASHBOARD, [0xae] = KEY_VOLUMEDOWN, [0xaf] = KEY_CLOSE,
	[0xb0] = KEY_VOLUMEUP, [0xb1] = KEY_RECORD, [0xb2] = KEY_HOMEPAGE, [0xb3] = KEY_PLAY,
	[0xb4] = KEY_FASTFORWARD, [0xb5] = KEY_KPSLASH, [0xb6] = KEY_BASSBOOST,
	[0xb7] = KEY_SYSRQ,	/* Print Screen */
	[0xb8] = KEY_RIGHTALT, [0xb9] = KEY_PRINT, [0xba] = KEY_HP, [0xbb] = KEY_CAMERA,
	[0xbc] = KEY_CUT, [0xbd] = KEY_SOUND, [0xbe] = KEY_QUESTION, [0xbf] = KEY_EMAIL,
	[0xc0] = KEY_CHAT, [0xc1] = KEY_FIND, [0xc2] = KEY_CONNECT, [0xc3] = KEY_FINANCE,
	[0xc4] = KEY_SPORT, [0xc5] = KEY_SHOP,
	[0xc6] = KEY_PAUSE,	/* Ctrl+Break */
	[0xc7] = KEY_HOME, [0xc8] = KEY_UP, [0xc9] = KEY_PAGEUP, [0xca] = KEY_CANCEL,
	[0xcb] = KEY_LEFT, [0xcc] = KEY_BRIGHTNESSDOWN, [0xcd] = KEY_RIGHT, [0xce] = KEY_KPPLUSMINUS,
	[0xcf] = KEY_END, [0xd0] = KEY_DOWN, [0xd1] = KEY_PAGEDOWN, [0xd2] = KEY_INSERT,
	[0xd3] = KEY_DELETE, [0xd4] = KEY_BRIGHTNESSUP, [0xd5] = KEY_SAVE,
	[0xd6] = KEY_SWITCHVIDEOMODE, [0xd7] = KEY_KBDILLUMTOGGLE, [0xd8] = KEY_KBDILLUMDOWN,
	[0xd9] = KEY_KBDILLUMUP, [0xda] = KEY_SEND, [0xdb] = KEY_LEFTMETA, [0xdc] = KEY_RIGHTMETA,
	[0xdd] = KEY_COMPOSE, [0xde] = KEY_POWER, [0xdf] = KEY_SLEEP, [0xe3] = KEY_WAKEUP,
	[0xe4] = KEY_REPLY, [0xe5] = KEY_SEARCH, [0xe6] = KEY_BOOKMARKS, [0xe7] = KEY_REFRESH,
	[0xe8] = KEY_STOP, [0xe9] = KEY_FORWARD, [0xea] = KEY_BACK, [0xeb] = KEY_COMPUTER,
	[0xec] = KEY_MAIL, [0xed] = KEY_MEDIA, [0xef] = KEY_MACRO, [0xf0] = KEY_DOCUMENTS,
	[0xf1] = KEY_BATTERY, [0xf2] = KEY_BLUETOOTH, [0xf3] = KEY_WLAN, [0xf4] = KEY_UWB,
	[0xf5] = KEY_HELP, [0xf6] = KEY_KPLEFTPAREN, [0xf7] = KEY_F18, [0xf8] = KEY_COPY,
	[0xf9] = KEY_F22, [0xfb] = KEY_KPRIGHTPAREN, [0xfd] = KEY_EJECTCLOSECD,
};

uint16_t vgi_spice_qnum_to_evdev(uint8_t qnum)
{
	return qnum_to_evdev[qnum];
}

bool vgi_scancode_feed(struct vgi_scancode_decoder *d, uint8_t byte, uint16_t *code, int32_t *value)
{
	uint8_t prefix = d->prefix;

	if (prefix == 0xe1) {
		/* Pause: e1 1d 45 (press) or e1 9d c5 (release); anything else resyncs. */
		d->e1_count++;
		if (d->e1_count == 1) {
			if ((byte & 0x7f) == 0x1d)
				return false;
		} else if ((byte & 0x7f) == 0x45) {
			d->prefix = 0;
			d->e1_count = 0;
			*code = KEY_PAUSE;
			*value = !(byte & 0x80);
			return true;
		}
		d->prefix = 0;
		d->e1_count = 0;
		return false;
	}
	if (byte == 0xe0 || byte == 0xe1) {
		d->prefix = byte;
		d->e1_count = 0;
		return false;
	}
	d->prefix = 0;
	/* Fake shifts some keyboards wrap around extended keys (e0 2a, e0 aa, e0 36, e0 b6). */
	if (prefix == 0xe0 && ((byte & 0x7f) == 0x2a || (byte & 0x7f) == 0x36))
		return false;
	*code = qnum_to_evdev[(byte & 0x7f) | (prefix == 0xe0 ? 0x80 : 0)];
	*value = !(byte & 0x80);
	return *code != 0;
}
