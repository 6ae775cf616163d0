/* SPDX-License-Identifier: MIT */
#ifndef VGI_SPICE_SINK_H
#define VGI_SPICE_SINK_H

/* For tests and benchmarks: draw commands queued and not yet taken by spice-server's worker. */
unsigned vgi_spice_sink_pending(void *sink);

#endif
