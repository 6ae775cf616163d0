/* SPDX-License-Identifier: MIT */
#ifndef VGI_OPTIONS_H
#define VGI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "name,key=value,flag,..." as in QEMU's -display and vgi-gpu's --display. */

#define VGI_OPTIONS_MAX 16

struct vgi_options {
	char *name;
	unsigned n;
	struct {
		char *key;
		char *value;	/* "" for a bare flag */
		bool used;
	} kv[VGI_OPTIONS_MAX];
};

/* -EINVAL on empty name, empty key, or too many keys. */
int vgi_options_parse(struct vgi_options *opts, const char *spec);
void vgi_options_finish(struct vgi_options *opts);

/* NULL if absent. Marks the key used. */
const char *vgi_options_get(struct vgi_options *opts, const char *key);
bool vgi_options_flag(struct vgi_options *opts, const char *key);
/* -EINVAL if present but not a number in [min, max]; def if absent. */
int vgi_options_uint(struct vgi_options *opts, const char *key, uint64_t min, uint64_t max,
		     uint64_t def, uint64_t *out);
/* First key nobody asked for (a typo), or NULL. */
const char *vgi_options_unused(const struct vgi_options *opts);

#ifdef __cplusplus
}
#endif

#endif
