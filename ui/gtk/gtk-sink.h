/* SPDX-License-Identifier: MIT */
#ifndef VGI_GTK_SINK_H
#define VGI_GTK_SINK_H

#include <stdint.h>

/* Introspection for tests and benchmarks (sink is vgi_display_sink.sink of a "gtk" sink). */

/* Frames drawn into a window so far (all scanouts). */
uint64_t vgi_gtk_sink_presented(void *sink);
/* Wait until the X server has done everything asked of it so far. */
void vgi_gtk_sink_sync(void *sink);

#endif
