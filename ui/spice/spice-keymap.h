/* SPDX-License-Identifier: MIT */
#ifndef VGI_SPICE_KEYMAP_H
#define VGI_SPICE_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * PC (XT, scan code set 1) scancodes as SPICE clients send them, one byte at a
 * time through SpiceKbdInterface.push_scan_freg: a make code, or the make
 * code | 0x80 for a release, optionally after an 0xe0 prefix; Pause is the
 * sequence e1 1d 45 (press) / e1 9d c5 (release).
 */

/* "qnum": the 7-bit make code, | 0x80 when it came after 0xe0. 0 if none. */
uint16_t vgi_spice_qnum_to_evdev(uint8_t qnum);

struct vgi_scancode_decoder {
	uint8_t prefix;		/* 0, 0xe0 or 0xe1 */
	uint8_t e1_count;	/* bytes seen after 0xe1 */
};

/*
 * Feed one byte. Returns true and sets *code (evdev KEY_*) and *value (1 press,
 * 0 release) when the byte completes a key; false for prefixes and for codes
 * with no evdev key (those are dropped).
 */
bool vgi_scancode_feed(struct vgi_scancode_decoder *d, uint8_t byte, uint16_t *code, int32_t *value);

#endif
