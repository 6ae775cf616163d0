/* SPDX-License-Identifier: MIT */
#ifndef VGI_EDID_H
#define VGI_EDID_H

#include <stdint.h>

#define VGI_EDID_SIZE 128

/*
 * A 128-byte EDID 1.4 base block for output id whose preferred mode is
 * width x height: manufacturer "VGI", the mode as the first detailed
 * timing (reduced blanking, 60 Hz, or less when the pixel clock would not
 * fit), monitor name "vgi", serial "vgi-<id>", valid checksum. Sizes above
 * 4095 cannot be described by a detailed timing: that slot is then a dummy.
 */
void vgi_edid_generate(uint8_t edid[VGI_EDID_SIZE], uint32_t id, uint32_t width, uint32_t height);

#endif
