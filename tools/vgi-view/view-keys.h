/* SPDX-License-Identifier: MIT */
#ifndef VGI_VIEW_KEYS_H
#define VGI_VIEW_KEYS_H

/*
 * Keys to viewer commands, fbi/fbpdf style. Three key sources feed one
 * interpreter with key symbols: evdev key codes (with shift tracked), bytes
 * from a terminal in raw mode (escape sequences), and scripted key names
 * (--keys "j j 3g q"). Pure code (unit-tested).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key symbols: printable ASCII as itself, the rest: */
enum {
	VK_NONE = 0,
	VK_ESC = 0x1b,
	VK_PGDN = 0x100, VK_PGUP, VK_LEFT, VK_RIGHT, VK_UP, VK_DOWN, VK_HOME, VK_END,
};

enum view_cmd_type {
	VIEW_CMD_NONE,
	VIEW_CMD_NEXT,		/* arg pages forward */
	VIEW_CMD_PREV,		/* arg pages back */
	VIEW_CMD_GOTO,		/* page arg (1-based), 0: the last */
	VIEW_CMD_ZOOM_IN,
	VIEW_CMD_ZOOM_OUT,
	VIEW_CMD_FIT_PAGE,
	VIEW_CMD_FIT_WIDTH,
	VIEW_CMD_PAN,		/* dx, dy in steps */
	VIEW_CMD_INFO,		/* toggle the info overlay */
	VIEW_CMD_QUIT,
};

struct view_cmd {
	enum view_cmd_type type;
	int arg;
	int dx, dy;
};

struct view_keys {
	unsigned count;		/* digits typed before a command */
	bool have_count;
	bool shift_l, shift_r;	/* evdev shift state */
};

void view_keys_init(struct view_keys *k);
/* One key symbol. Returns the command (VIEW_CMD_NONE for a count digit or an unbound key). */
struct view_cmd view_keys_feed(struct view_keys *k, int sym);
/* An evdev key event (value 0 up, 1 down, 2 repeat): the symbol it types, or VK_NONE. */
int view_keys_from_evdev(struct view_keys *k, unsigned code, int value);
/*
 * Terminal bytes: decodes the first symbol of buf[0..len). Returns the bytes
 * used (0 if buf holds an incomplete escape sequence and more may come;
 * with final set, a lone ESC is the Esc key) and the symbol in *sym (VK_NONE
 * for an unknown sequence, which is consumed).
 */
size_t view_keys_from_term(const uint8_t *buf, size_t len, bool final, int *sym);
/*
 * Scripted keys: the next token of a "j j 3g PgDn space q" list. Names:
 * a single character, a run of characters ("3g"), or one of PgDn PgUp
 * Left Right Up Down Home End Esc space plus minus. *pos advances; fills
 * syms (at most max) and returns how many, 0 at the end, -1 for an unknown
 * name (skipped).
 */
int view_keys_parse_script(const char *s, size_t *pos, int *syms, int max);
/* A printable name of a symbol ("j", "PgDn"). */
const char *view_keys_name(int sym, char buf[8]);

#endif
