/* SPDX-License-Identifier: MIT */
#ifndef VGI_SINKS_H
#define VGI_SINKS_H

#include <vgi/display.h>
#include <vgi/options.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Creating display sinks by name, for programs (vgi-gpu --display SPEC).
 * Sinks that need a main loop (SDL, GTK, SPICE) attach their sources to
 * GLib's default main context; the program runs a GLib main loop. A sink
 * removes its sources in destroy().
 */

/* spec "name[,key=value...]". 0, -ENOENT (no such sink, or not built), -EINVAL (bad option, logged). */
int vgi_display_sink_new(const char *spec, const struct vgi_display_host *host, struct vgi_display_sink *out);
/* Names of the sinks built in, space separated. */
const char *vgi_display_sink_names(void);

/* The constructors the registry calls. opts: unknown keys are an error. */
typedef int (*vgi_display_sink_ctor)(struct vgi_options *opts, const struct vgi_display_host *host,
				     struct vgi_display_sink *out);
int vgi_headless_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);
int vgi_qemu_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);
int vgi_sdl_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);
int vgi_gtk_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);
int vgi_spice_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);
int vgi_drm_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out);

#ifdef __cplusplus
}
#endif

#endif
