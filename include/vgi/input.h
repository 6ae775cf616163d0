/* SPDX-License-Identifier: MIT */
#ifndef VGI_INPUT_H
#define VGI_INPUT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One input event, evdev style (linux/input-event-codes.h): also virtio-input's wire event. */
struct vgi_input_event {
	uint16_t type;
	uint16_t code;
	int32_t value;
};

#ifdef __cplusplus
}
#endif

#endif
