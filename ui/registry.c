// SPDX-License-Identifier: MIT
/* Display sinks by name. A sink's meson.build defines VGI_SINK_<NAME> when it is built. */
#include <errno.h>
#include <string.h>

#include <vgi/log.h>
#include <vgi/sinks.h>

static const struct {
	const char *name;
	vgi_display_sink_ctor ctor;
} sinks[] = {
#ifdef VGI_SINK_HEADLESS
	{ "headless", vgi_headless_sink_new },
#endif
#ifdef VGI_SINK_QEMU
	{ "qemu", vgi_qemu_sink_new },
#endif
#ifdef VGI_SINK_SDL
	{ "sdl", vgi_sdl_sink_new },
#endif
#ifdef VGI_SINK_GTK
	{ "gtk", vgi_gtk_sink_new },
#endif
#ifdef VGI_SINK_SPICE
	{ "spice", vgi_spice_sink_new },
#endif
#ifdef VGI_SINK_DRM
	{ "drm", vgi_drm_sink_new },
#endif
	{ NULL, NULL },
};

const char *vgi_display_sink_names(void)
{
	static char names[128];

	if (!names[0]) {
		for (unsigned i = 0; sinks[i].name; i++) {
			if (i)
				strcat(names, " ");
			strcat(names, sinks[i].name);
		}
	}
	return names;
}

int vgi_display_sink_new(const char *spec, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	struct vgi_options opts;
	const char *unused;
	int ret = -ENOENT;

	if (vgi_options_parse(&opts, spec)) {
		vgi_error("display '%s': cannot parse (expected name[,key=value...])", spec);
		return -EINVAL;
	}
	for (unsigned i = 0; sinks[i].name; i++) {
		if (strcmp(sinks[i].name, opts.name))
			continue;
		ret = sinks[i].ctor(&opts, host, out);
		if (ret == 0 && (unused = vgi_options_unused(&opts))) {
			vgi_error("display '%s': unknown option '%s'", opts.name, unused);
			if (out->ops->destroy)
				out->ops->destroy(out->sink);
			ret = -EINVAL;
		}
		vgi_options_finish(&opts);
		return ret;
	}
	vgi_error("display '%s': no such display (built in: %s)", opts.name, vgi_display_sink_names());
	vgi_options_finish(&opts);
	return ret;
}
