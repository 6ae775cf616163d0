// SPDX-License-Identifier: MIT
/* Key symbols to viewer commands (fbi/fbpdf bindings) and the three key sources. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <linux/input-event-codes.h>

#include "view-keys.h"

void view_keys_init(struct view_keys *k)
{
	memset(k, 0, sizeof(*k));
}

static struct view_cmd cmd(enum view_cmd_type t, int arg)
{
	return (struct view_cmd){ .type = t, .arg = arg };
}

static struct view_cmd pan(int dx, int dy)
{
	return (struct view_cmd){ .type = VIEW_CMD_PAN, .dx = dx, .dy = dy };
}

struct view_cmd view_keys_feed(struct view_keys *k, int sym)
{
	unsigned n = k->have_count ? k->count : 1;
	bool had = k->have_count;
	struct view_cmd c;

	if (sym >= '0' && sym <= '9') {
		unsigned v = k->count * 10 + (unsigned)(sym - '0');

		/* a page number, capped: a held key cannot overflow it */
		k->count = v > 1000000 ? 1000000 : v;
		k->have_count = true;
		return cmd(VIEW_CMD_NONE, 0);
	}
	k->count = 0;
	k->have_count = false;
	switch (sym) {
	case VK_PGDN: case ' ': case 'j': case 'n':
		return cmd(VIEW_CMD_NEXT, (int)n);
	case VK_PGUP: case 'k': case 'p': case 8: case 0x7f:
		return cmd(VIEW_CMD_PREV, (int)n);
	case 'g':
		return cmd(VIEW_CMD_GOTO, had ? (int)n : 1);
	case 'G':
		return cmd(VIEW_CMD_GOTO, had ? (int)n : 0);
	case VK_HOME:
		return cmd(VIEW_CMD_GOTO, 1);
	case VK_END:
		return cmd(VIEW_CMD_GOTO, 0);
	case '+': case '=':
		return cmd(VIEW_CMD_ZOOM_IN, 0);
	case '-': case '_':
		return cmd(VIEW_CMD_ZOOM_OUT, 0);
	case 'a':
		return cmd(VIEW_CMD_FIT_PAGE, 0);
	case 'w':
		return cmd(VIEW_CMD_FIT_WIDTH, 0);
	case VK_LEFT: case 'h':
		return pan(-(int)n, 0);
	case VK_RIGHT: case 'l':
		return pan((int)n, 0);
	case VK_UP:
		return pan(0, -(int)n);
	case VK_DOWN:
		return pan(0, (int)n);
	case 'i':
		return cmd(VIEW_CMD_INFO, 0);
	case 'q': case VK_ESC:
		return cmd(VIEW_CMD_QUIT, 0);
	default:
		c = cmd(VIEW_CMD_NONE, 0);
		return c;
	}
}

/* evdev code -> (unshifted, shifted) symbol */
static const struct {
	unsigned short code;
	char plain, shifted;
} ev_chars[] = {
	{ KEY_A, 'a', 'A' }, { KEY_B, 'b', 'B' }, { KEY_C, 'c', 'C' }, { KEY_D, 'd', 'D' },
	{ KEY_E, 'e', 'E' }, { KEY_F, 'f', 'F' }, { KEY_G, 'g', 'G' }, { KEY_H, 'h', 'H' },
	{ KEY_I, 'i', 'I' }, { KEY_J, 'j', 'J' }, { KEY_K, 'k', 'K' }, { KEY_L, 'l', 'L' },
	{ KEY_M, 'm', 'M' }, { KEY_N, 'n', 'N' }, { KEY_O, 'o', 'O' }, { KEY_P, 'p', 'P' },
	{ KEY_Q, 'q', 'Q' }, { KEY_R, 'r', 'R' }, { KEY_S, 's', 'S' }, { KEY_T, 't', 'T' },
	{ KEY_U, 'u', 'U' }, { KEY_V, 'v', 'V' }, { KEY_W, 'w', 'W' }, { KEY_X, 'x', 'X' },
	{ KEY_Y, 'y', 'Y' }, { KEY_Z, 'z', 'Z' },
	{ KEY_1, '1', '!' }, { KEY_2, '2', '@' }, { KEY_3, '3', '#' }, { KEY_4, '4', '$' },
	{ KEY_5, '5', '%' }, { KEY_6, '6', '^' }, { KEY_7, '7', '&' }, { KEY_8, '8', '*' },
	{ KEY_9, '9', '(' }, { KEY_0, '0', ')' },
	{ KEY_KP1, '1', '1' }, { KEY_KP2, '2', '2' }, { KEY_KP3, '3', '3' }, { KEY_KP4, '4', '4' },
	{ KEY_KP5, '5', '5' }, { KEY_KP6, '6', '6' }, { KEY_KP7, '7', '7' }, { KEY_KP8, '8', '8' },
	{ KEY_KP9, '9', '9' }, { KEY_KP0, '0', '0' },
	{ KEY_MINUS, '-', '_' }, { KEY_EQUAL, '=', '+' }, { KEY_KPPLUS, '+', '+' },
	{ KEY_KPMINUS, '-', '-' }, { KEY_SPACE, ' ', ' ' }, { KEY_BACKSPACE, 8, 8 },
};

int view_keys_from_evdev(struct view_keys *k, unsigned code, int value)
{
	if (code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT) {
		if (code == KEY_LEFTSHIFT)
			k->shift_l = value != 0;
		else
			k->shift_r = value != 0;
		return VK_NONE;
	}
	if (value == 0)
		return VK_NONE;		/* presses and autorepeat act */
	switch (code) {
	case KEY_PAGEDOWN: return VK_PGDN;
	case KEY_PAGEUP: return VK_PGUP;
	case KEY_LEFT: return VK_LEFT;
	case KEY_RIGHT: return VK_RIGHT;
	case KEY_UP: return VK_UP;
	case KEY_DOWN: return VK_DOWN;
	case KEY_HOME: return VK_HOME;
	case KEY_END: return VK_END;
	case KEY_ESC: return VK_ESC;
	default: break;
	}
	for (size_t i = 0; i < sizeof(ev_chars) / sizeof(ev_chars[0]); i++) {
		if (ev_chars[i].code == code)
			return (k->shift_l || k->shift_r) ? ev_chars[i].shifted : ev_chars[i].plain;
	}
	return VK_NONE;
}

size_t view_keys_from_term(const uint8_t *buf, size_t len, bool final, int *sym)
{
	size_t i;

	*sym = VK_NONE;
	if (!len)
		return 0;
	if (buf[0] != 0x1b) {
		*sym = buf[0] == '\r' || buf[0] == '\n' ? VK_NONE : buf[0];
		return 1;
	}
	if (len == 1) {
		if (!final)
			return 0;
		*sym = VK_ESC;
		return 1;
	}
	if (buf[1] != '[' && buf[1] != 'O') {
		*sym = VK_ESC;		/* ESC then another key: Esc */
		return 1;
	}
	/* CSI / SS3: parameters 0x30-0x3f, then a final byte 0x40-0x7e */
	for (i = 2; i < len; i++) {
		uint8_t c = buf[i];

		if (c >= 0x40 && c <= 0x7e)
			break;
		if (c < 0x20 || c > 0x3f || i > 16) {
			*sym = VK_NONE;	/* garbage: drop what we have */
			return i;
		}
	}
	if (i == len) {
		if (!final)
			return 0;
		*sym = VK_NONE;
		return len;
	}
	switch (buf[i]) {
	case 'A': *sym = VK_UP; break;
	case 'B': *sym = VK_DOWN; break;
	case 'C': *sym = VK_RIGHT; break;
	case 'D': *sym = VK_LEFT; break;
	case 'H': *sym = VK_HOME; break;
	case 'F': *sym = VK_END; break;
	case '~':
		if (i == 3 && buf[2] == '5')
			*sym = VK_PGUP;
		else if (i == 3 && buf[2] == '6')
			*sym = VK_PGDN;
		else if (i == 3 && (buf[2] == '1' || buf[2] == '7'))
			*sym = VK_HOME;
		else if (i == 3 && (buf[2] == '4' || buf[2] == '8'))
			*sym = VK_END;
		break;
	default:
		break;
	}
	return i + 1;
}

static const struct {
	const char *name;
	int sym;
} names[] = {
	{ "PgDn", VK_PGDN }, { "PageDown", VK_PGDN }, { "Next", VK_PGDN },
	{ "PgUp", VK_PGUP }, { "PageUp", VK_PGUP }, { "Prior", VK_PGUP },
	{ "Left", VK_LEFT }, { "Right", VK_RIGHT }, { "Up", VK_UP }, { "Down", VK_DOWN },
	{ "Home", VK_HOME }, { "End", VK_END }, { "Esc", VK_ESC }, { "Escape", VK_ESC },
	{ "space", ' ' }, { "plus", '+' }, { "minus", '-' },
};

int view_keys_parse_script(const char *s, size_t *pos, int *syms, int max)
{
	size_t p = *pos, start, len;
	int n = 0;

	while (s[p] && isspace((unsigned char)s[p]))
		p++;
	start = p;
	while (s[p] && !isspace((unsigned char)s[p]))
		p++;
	*pos = p;
	len = p - start;
	if (!len)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len && !strncasecmp(names[i].name, s + start, len)) {
			if (max < 1)
				return -1;
			syms[0] = names[i].sym;
			return 1;
		}
	}
	if ((int)len > max)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[start + i];

		if (c < 0x21 || c > 0x7e)
			return -1;
		syms[n++] = c;
	}
	return n;
}

const char *view_keys_name(int sym, char buf[8])
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].sym == sym)
			return names[i].name;
	}
	if (sym > 0x20 && sym < 0x7f) {
		buf[0] = (char)sym;
		buf[1] = 0;
		return buf;
	}
	return "?";
}
