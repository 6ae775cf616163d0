// SPDX-License-Identifier: MIT
/*
 * Display sinks by name. A sink's meson.build defines VGI_SINK_<NAME> when it
 * is built. Sinks on heavy libraries (SDL, GTK, SPICE) are loadable modules
 * (VGI_SINK_MODULE_<NAME>), so a program pays for those libraries only when
 * it uses that display: vgi-gpu with --display qemu maps none of them.
 * A program or test that links a module's objects itself gets that copy
 * (weak reference) instead of loading the module.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgi-config.h"

#include <vgi/log.h>
#include <vgi/sinks.h>

#pragma weak vgi_sdl_sink_new
#pragma weak vgi_gtk_sink_new
#pragma weak vgi_spice_sink_new

static const struct {
	const char *name;
	vgi_display_sink_ctor ctor;	/* NULL: load the module */
	const char *symbol;
} sinks[] = {
#ifdef VGI_SINK_HEADLESS
	{ "headless", vgi_headless_sink_new, NULL },
#endif
#ifdef VGI_SINK_QEMU
	{ "qemu", vgi_qemu_sink_new, NULL },
#endif
#ifdef VGI_SINK_DRM
	{ "drm", vgi_drm_sink_new, NULL },
#endif
#ifdef VGI_SINK_SDL
	{ "sdl", NULL, "vgi_sdl_sink_new" },
#endif
#ifdef VGI_SINK_GTK
	{ "gtk", NULL, "vgi_gtk_sink_new" },
#endif
#ifdef VGI_SINK_SPICE
	{ "spice", NULL, "vgi_spice_sink_new" },
#endif
	{ NULL, NULL, NULL },
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

/* The constructor linked into this program, if any. */
static vgi_display_sink_ctor linked_ctor(const char *name)
{
	if (!strcmp(name, "sdl"))
		return vgi_sdl_sink_new;
	if (!strcmp(name, "gtk"))
		return vgi_gtk_sink_new;
	if (!strcmp(name, "spice"))
		return vgi_spice_sink_new;
	return NULL;
}

/*
 * dlopen vgi-sink-NAME.so from $VGI_MODULE_DIR, the install directory, or
 * the build tree. Modules stay loaded: their libraries (GTK, SPICE) keep
 * threads and atexit handlers that must not outlive their code.
 */
static vgi_display_sink_ctor load_module(const char *name, const char *symbol)
{
	const char *dirs[] = { getenv("VGI_MODULE_DIR"), VGI_MODULE_DIR, VGI_MODULE_BUILD_DIR };
	char path[4096], errors[1024] = "";

	for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		void *handle, *sym;

		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/vgi-sink-%s.so", dirs[i], name);
		handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			size_t used = strlen(errors);

			snprintf(errors + used, sizeof(errors) - used, "%s%s", used ? "; " : "", dlerror());
			continue;
		}
		sym = dlsym(handle, symbol);
		if (sym) {
			vgi_debug("display '%s': loaded %s", name, path);
			return (vgi_display_sink_ctor)sym;
		}
		vgi_error("display '%s': %s has no %s", name, path, symbol);
		dlclose(handle);
		return NULL;
	}
	vgi_error("display '%s': cannot load its module (%s)", name, errors);
	return NULL;
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
		vgi_display_sink_ctor ctor = sinks[i].ctor;

		if (strcmp(sinks[i].name, opts.name))
			continue;
		if (!ctor)
			ctor = linked_ctor(opts.name);
		if (!ctor)
			ctor = load_module(opts.name, sinks[i].symbol);
		if (!ctor) {
			vgi_options_finish(&opts);
			return -ENOENT;
		}
		ret = ctor(&opts, host, out);
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
