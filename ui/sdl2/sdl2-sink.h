/* SPDX-License-Identifier: MIT */
#ifndef VGI_SDL2_SINK_H
#define VGI_SDL2_SINK_H

#include <stdbool.h>
#include <stdint.h>

/* Introspection for tests and benchmarks (sink is vgi_display_sink.sink of an "sdl" sink). */

/* Frames presented to a window so far (all scanouts). */
uint64_t vgi_sdl_sink_presented(void *sink);
/* Which path shows scanout id now: "gl" (SDL GL context), "surface" (SDL window surface), or NULL. */
const char *vgi_sdl_sink_path(void *sink, uint32_t id);
/* X11 window id of scanout id, 0 if none. */
unsigned long vgi_sdl_sink_x11_window(void *sink, uint32_t id);

#endif
