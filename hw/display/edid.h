/* SPDX-License-Identifier: MIT */
#ifndef VGI_EDID_H
#define VGI_EDID_H

#include <stdint.h>

#define VGI_EDID_SIZE 128	/* the base block */
#define VGI_EDID_MAX_SIZE 256	/* with a DisplayID extension */

/*
 * An EDID 1.4 for output id whose preferred mode is width x height:
 * manufacturer "VGI", the mode as the first detailed timing (reduced
 * blanking, 60 Hz, or less when the pixel clock would not fit), monitor
 * name "vgi", serial "vgi-<id>", valid checksums. A side above 4095 does
 * not fit a detailed timing: the base block then carries the mode scaled
 * down to fit, and a DisplayID 1.3 extension block the real one. Returns
 * the size written (128 or 256).
 */
unsigned vgi_edid_generate(uint8_t edid[VGI_EDID_MAX_SIZE], uint32_t id, uint32_t width, uint32_t height);

#endif
