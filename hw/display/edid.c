// SPDX-License-Identifier: MIT
/* EDID 1.4 base block generator (VESA E-EDID 1.4 layout). */
#include <stdio.h>
#include <string.h>

#include "edid.h"

/* 18-byte display descriptor with a text payload (tag 0xfc name, 0xff serial). */
static void text_descriptor(uint8_t *d, uint8_t tag, const char *text)
{
	size_t n = strlen(text);

	memset(d, 0, 18);
	d[3] = tag;
	if (n > 13)
		n = 13;
	memcpy(d + 5, text, n);
	if (n < 13) {
		d[5 + n] = '\n';
		memset(d + 6 + n, ' ', 13 - n - 1);
	}
}

/* Detailed timing descriptor; false if the mode does not fit in one. */
static int detailed_timing(uint8_t *d, uint32_t width, uint32_t height)
{
	/* CVT reduced-blanking style: fixed 160 pixel horizontal blank. */
	const uint32_t hfront = 48, hsync = 32, hblank = 160;
	const uint32_t vfront = 3, vsync = 6;
	uint32_t vblank = height / 20 + 10;	/* > 460 us at the usual rates */
	uint32_t hmm = (uint32_t)(((uint64_t)width * 254 + 480) / 960);	/* 96 dpi */
	uint32_t vmm = (uint32_t)(((uint64_t)height * 254 + 480) / 960);
	uint64_t clock10k = 0;	/* pixel clock in 10 kHz units */

	if (width == 0 || height == 0 || width > 4095 || height > 4095)
		return 0;
	if (vblank > 4095)
		vblank = 4095;
	if (hmm > 4095)
		hmm = 4095;
	if (vmm > 4095)
		vmm = 4095;
	for (uint32_t hz = 60; hz >= 1; hz--) {
		clock10k = ((uint64_t)(width + hblank) * (height + vblank) * hz + 5000) / 10000;
		if (clock10k <= 0xffff)
			break;
	}
	if (clock10k > 0xffff)
		return 0;
	if (clock10k == 0)
		clock10k = 1;
	d[0] = (uint8_t)clock10k;
	d[1] = (uint8_t)(clock10k >> 8);
	d[2] = (uint8_t)width;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)(((width >> 8) & 0xf) << 4 | ((hblank >> 8) & 0xf));
	d[5] = (uint8_t)height;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)(((height >> 8) & 0xf) << 4 | ((vblank >> 8) & 0xf));
	d[8] = (uint8_t)hfront;
	d[9] = (uint8_t)hsync;
	d[10] = (uint8_t)((vfront & 0xf) << 4 | (vsync & 0xf));
	d[11] = (uint8_t)(((hfront >> 8) & 3) << 6 | ((hsync >> 8) & 3) << 4);
	d[12] = (uint8_t)hmm;
	d[13] = (uint8_t)vmm;
	d[14] = (uint8_t)(((hmm >> 8) & 0xf) << 4 | ((vmm >> 8) & 0xf));
	d[15] = 0;	/* no border */
	d[16] = 0;
	d[17] = 0x18 | 0x02;	/* digital separate sync, +hsync, -vsync (reduced blanking) */
	return 1;
}

void vgi_edid_generate(uint8_t edid[VGI_EDID_SIZE], uint32_t id, uint32_t width, uint32_t height)
{
	/* manufacturer "VGI": three 5-bit letters, big endian */
	uint16_t mfg = (uint16_t)((('V' - '@') << 10) | (('G' - '@') << 5) | ('I' - '@'));
	uint32_t serial = id + 1;
	uint16_t product = 0x1000 + (uint16_t)(id & 0xff);
	/* sRGB primaries and D65 in 10-bit binary fractions */
	const uint16_t rx = 655, ry = 338, gx = 307, gy = 614, bx = 154, by = 61, wx = 320, wy = 337;
	char text[16];
	uint8_t sum = 0;
	uint32_t hcm = (uint32_t)(((uint64_t)width * 254 + 4800) / 9600);
	uint32_t vcm = (uint32_t)(((uint64_t)height * 254 + 4800) / 9600);

	memset(edid, 0, VGI_EDID_SIZE);
	memcpy(edid, "\x00\xff\xff\xff\xff\xff\xff\x00", 8);
	edid[8] = (uint8_t)(mfg >> 8);
	edid[9] = (uint8_t)mfg;
	edid[10] = (uint8_t)product;
	edid[11] = (uint8_t)(product >> 8);
	edid[12] = (uint8_t)serial;
	edid[13] = (uint8_t)(serial >> 8);
	edid[14] = (uint8_t)(serial >> 16);
	edid[15] = (uint8_t)(serial >> 24);
	edid[16] = 1;		/* week */
	edid[17] = 2024 - 1990;	/* year */
	edid[18] = 1;		/* EDID 1.4 */
	edid[19] = 4;
	edid[20] = 0x80 | 0x20;	/* digital, 8 bits per colour, interface undefined */
	edid[21] = (uint8_t)(hcm > 255 ? 255 : hcm ? hcm : 1);
	edid[22] = (uint8_t)(vcm > 255 ? 255 : vcm ? vcm : 1);
	edid[23] = 120;		/* gamma 2.2 */
	edid[24] = 0x04 | 0x02;	/* sRGB default colour space, preferred timing is native */
	edid[25] = (uint8_t)(((rx & 3) << 6) | ((ry & 3) << 4) | ((gx & 3) << 2) | (gy & 3));
	edid[26] = (uint8_t)(((bx & 3) << 6) | ((by & 3) << 4) | ((wx & 3) << 2) | (wy & 3));
	edid[27] = (uint8_t)(rx >> 2);
	edid[28] = (uint8_t)(ry >> 2);
	edid[29] = (uint8_t)(gx >> 2);
	edid[30] = (uint8_t)(gy >> 2);
	edid[31] = (uint8_t)(bx >> 2);
	edid[32] = (uint8_t)(by >> 2);
	edid[33] = (uint8_t)(wx >> 2);
	edid[34] = (uint8_t)(wy >> 2);
	edid[35] = 0x20;	/* established timing: 640x480@60 */
	for (int i = 38; i < 54; i++)
		edid[i] = 1;	/* standard timings unused */
	if (!detailed_timing(edid + 54, width, height)) {
		memset(edid + 54, 0, 18);
		edid[54 + 3] = 0x10;	/* dummy descriptor */
	}
	text_descriptor(edid + 72, 0xfc, "vgi");
	snprintf(text, sizeof(text), "vgi-%u", id);
	text_descriptor(edid + 90, 0xff, text);
	edid[108 + 3] = 0x10;	/* dummy */
	edid[126] = 0;		/* no extension blocks */
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + edid[i]);
	edid[127] = (uint8_t)(0x100 - sum);
}
