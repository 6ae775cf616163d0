/* SPDX-License-Identifier: MIT */
#ifndef VGI_SDL2_KEYMAP_H
#define VGI_SDL2_KEYMAP_H

/* SDL_Scancode (USB HID usage) to evdev KEY_* code; 0 when evdev has no equivalent. */
unsigned vgi_sdl_scancode_to_evdev(int scancode);

#endif
