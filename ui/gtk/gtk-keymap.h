/* SPDX-License-Identifier: MIT */
#ifndef VGI_GTK_KEYMAP_H
#define VGI_GTK_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A GDK key event to an evdev KEY_* code (0 if none). On X11 (xkb "evdev"
 * keycodes) and Wayland the hardware keycode is the evdev code plus 8;
 * elsewhere, or for keycodes outside that range, the keyval is looked up.
 */
unsigned vgi_gtk_key_to_evdev(uint16_t hardware_keycode, unsigned keyval, bool keycode_is_evdev);
/* The keyval fallback alone (unshifted keyvals; letters in either case). */
unsigned vgi_gtk_keyval_to_evdev(unsigned keyval);

#endif
