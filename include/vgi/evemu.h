/* SPDX-License-Identifier: MIT */
#ifndef VGI_EVEMU_H
#define VGI_EVEMU_H

/*
 * evemu recordings (evemu-record's text format, as evemu-play reads it):
 * the device description lines N: (name), I: (bus vendor product version,
 * hex), P: (property bytes, hex), B: (type, then bitmap bytes, hex), A:
 * (abs code hex, min max fuzz flat [res]) and the events
 * "E: sec.usec type code value" (type and code hex, value decimal).
 * Comments (#) and unknown line kinds are skipped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vgi/input.h>
#include <vgi/virtio-input.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VGI_EVEMU_MAX_EVENTS (16u << 20)	/* cap on events in one recording */

struct vgi_evemu_event {
	uint64_t usec;			/* timestamp in the recording */
	struct vgi_input_event ev;
};

struct vgi_evemu {
	bool has_desc;			/* an N: or I: or B: line was seen */
	struct vgi_input_desc desc;
	size_t n;
	struct vgi_evemu_event *events;
};

/* Parse text (not necessarily NUL-terminated). -EINVAL (line logged), -E2BIG, -ENOMEM. */
int vgi_evemu_parse(const char *text, size_t len, struct vgi_evemu **out);
/* Read and parse a file ("-" is stdin). Also -errno from reading it. */
int vgi_evemu_load(const char *path, struct vgi_evemu **out);
void vgi_evemu_free(struct vgi_evemu *rec);

#ifdef __cplusplus
}
#endif

#endif
