// SPDX-License-Identifier: MIT
/* EDID 1.4 base block generator (VESA E-EDID 1.4 layout). */
#include <stdbool.h>
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

/*
 * The screen's physical size in mm: 96 dpi, scaled down (aspect kept) to
 * the 255 cm the base block can state, so every block agrees.
 */
static void physical_mm(uint32_t width, uint32_t height, uint32_t *wmm, uint32_t *hmm)
{
	uint64_t w = ((uint64_t)width * 254 + 480) / 960, h = ((uint64_t)height * 254 + 480) / 960;
	uint64_t m = w > h ? w : h;

	if (m > 2550) {
		w = w * 2550 / m;
		h = h * 2550 / m;
	}
	*wmm = (uint32_t)(w ? w : 1);
	*hmm = (uint32_t)(h ? h : 1);
}

struct timing {
	uint32_t width, height, hblank, hfront, hsync, vblank, vfront, vsync;
	uint64_t clock10k;	/* pixel clock in 10 kHz units */
};

/*
 * CVT reduced-blanking style timing at 60 Hz, or the highest rate whose
 * clock fits max_clock10k; the vertical blank grows for tiny modes so the
 * clock stays at or above 10 MHz (the EDID minimum).
 */
static int make_timing(struct timing *t, uint32_t width, uint32_t height, uint64_t max_clock10k)
{
	t->width = width;
	t->height = height;
	t->hblank = 160;
	t->hfront = 48;
	t->hsync = 32;
	t->vfront = 3;
	t->vsync = 6;
	t->vblank = height / 20 + 10;	/* > 460 us at the usual rates */
	while ((uint64_t)(width + t->hblank) * (height + t->vblank) * 60 < 10000000ull && t->vblank < 4095)
		t->vblank++;
	for (uint32_t hz = 60; hz >= 1; hz--) {
		t->clock10k = ((uint64_t)(width + t->hblank) * (height + t->vblank) * hz + 5000) / 10000;
		if (t->clock10k <= max_clock10k)
			break;
	}
	if (t->clock10k == 0)
		t->clock10k = 1;
	return t->clock10k <= max_clock10k;
}

/* Detailed timing descriptor; false if the mode does not fit in one. */
static int detailed_timing(uint8_t *d, uint32_t width, uint32_t height, uint32_t hmm, uint32_t vmm)
{
	struct timing t;

	if (width == 0 || height == 0 || width > 4095 || height > 4095 || !make_timing(&t, width, height, 0xffff))
		return 0;
	if (hmm > 4095)
		hmm = 4095;
	if (vmm > 4095)
		vmm = 4095;
	d[0] = (uint8_t)t.clock10k;
	d[1] = (uint8_t)(t.clock10k >> 8);
	d[2] = (uint8_t)width;
	d[3] = (uint8_t)t.hblank;
	d[4] = (uint8_t)(((width >> 8) & 0xf) << 4 | ((t.hblank >> 8) & 0xf));
	d[5] = (uint8_t)height;
	d[6] = (uint8_t)t.vblank;
	d[7] = (uint8_t)(((height >> 8) & 0xf) << 4 | ((t.vblank >> 8) & 0xf));
	d[8] = (uint8_t)t.hfront;
	d[9] = (uint8_t)t.hsync;
	d[10] = (uint8_t)((t.vfront & 0xf) << 4 | (t.vsync & 0xf));
	d[11] = (uint8_t)(((t.hfront >> 8) & 3) << 6 | ((t.hsync >> 8) & 3) << 4);
	d[12] = (uint8_t)hmm;
	d[13] = (uint8_t)vmm;
	d[14] = (uint8_t)(((hmm >> 8) & 0xf) << 4 | ((vmm >> 8) & 0xf));
	d[15] = 0;	/* no border */
	d[16] = 0;
	d[17] = 0x18 | 0x02;	/* digital separate sync, +hsync, -vsync (reduced blanking) */
	return 1;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* A DisplayID 1.3 extension block: product identification and one type I timing, the preferred mode. */
static void displayid_block(uint8_t *b, uint32_t id, uint32_t width, uint32_t height)
{
	static const char name[] = "vgi";
	const uint32_t nlen = sizeof(name) - 1, prod_len = 12 + nlen;
	const uint32_t len = (3 + prod_len) + (3 + 12) + (3 + 10) + (3 + 20);
	uint32_t long_side = width > height ? width : height, short_side = width > height ? height : width;
	uint64_t aspect = (uint64_t)long_side * 100 / short_side - 100;
	uint32_t wmm, hmm;

	physical_mm(width, height, &wmm, &hmm);
	struct timing t;
	uint8_t *d;
	uint8_t sum = 0;

	memset(b, 0, 128);
	make_timing(&t, width, height, 0xffffff);
	b[0] = 0x70;		/* DisplayID extension */
	b[1] = 0x13;		/* version 1.3 */
	b[2] = (uint8_t)len;	/* bytes of data blocks */
	b[3] = 3;		/* product type: standalone display */
	b[4] = 0;		/* no further sections */
	d = b + 5;
	d[0] = 0x00;		/* product identification block */
	d[1] = 0;
	d[2] = (uint8_t)prod_len;
	memcpy(d + 3, "VGI", 3);
	put16(d + 6, 0x1000 + (id & 0xff));
	d[8] = (uint8_t)(id + 1);	/* serial, as in the base block */
	d[9] = (uint8_t)((id + 1) >> 8);
	d[10] = (uint8_t)((id + 1) >> 16);
	d[11] = (uint8_t)((id + 1) >> 24);
	d[12] = 1;		/* week */
	d[13] = 2024 - 2000;	/* year */
	d[14] = (uint8_t)nlen;
	memcpy(d + 15, name, nlen);
	d += 3 + prod_len;
	d[0] = 0x01;		/* display parameters block */
	d[1] = 0;
	d[2] = 12;
	put16(d + 3, wmm * 10);	/* image size in 0.1 mm */
	put16(d + 5, hmm * 10);
	put16(d + 7, width);	/* native format */
	put16(d + 9, height);
	d[11] = 0x04;		/* fixed pixel format */
	d[12] = 120;		/* gamma 2.2 */
	d[13] = (uint8_t)(aspect > 255 ? 255 : aspect);	/* long / short side */
	d[14] = 0x77;		/* 8 bits per colour */
	d += 3 + 12;
	d[0] = 0x0f;		/* display interface features block */
	d[1] = 0;
	d[2] = 10;
	d[3] = 0xb1;		/* proprietary digital interface, one link */
	d[5] = 0x02;		/* RGB at 8 bits per colour */
	d += 3 + 10;
	d[0] = 0x03;		/* type I detailed timing block */
	d[1] = 0;
	d[2] = 20;		/* one descriptor */
	d += 3;
	d[0] = (uint8_t)(t.clock10k - 1);
	d[1] = (uint8_t)((t.clock10k - 1) >> 8);
	d[2] = (uint8_t)((t.clock10k - 1) >> 16);
	d[3] = 0x80 | 8;	/* preferred, aspect ratio not given */
	put16(d + 4, width - 1);
	put16(d + 6, t.hblank - 1);
	put16(d + 8, (t.hfront - 1) | 0x8000);	/* +hsync */
	put16(d + 10, t.hsync - 1);
	put16(d + 12, height - 1);
	put16(d + 14, t.vblank - 1);
	put16(d + 16, t.vfront - 1);		/* -vsync */
	put16(d + 18, t.vsync - 1);
	/* section checksum: bytes 1 .. end of the data blocks, plus itself */
	for (uint32_t i = 1; i < 5 + len; i++)
		sum = (uint8_t)(sum + b[i]);
	b[5 + len] = (uint8_t)(0x100 - sum);
	sum = 0;
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + b[i]);
	b[127] = (uint8_t)(0x100 - sum);
}

unsigned vgi_edid_generate(uint8_t edid[VGI_EDID_MAX_SIZE], uint32_t id, uint32_t width, uint32_t height)
{
	bool big = width > 4095 || height > 4095;
	uint32_t bw = width, bh = height;
	/* manufacturer "VGI": three 5-bit letters, big endian */
	uint16_t mfg = (uint16_t)((('V' - '@') << 10) | (('G' - '@') << 5) | ('I' - '@'));
	uint32_t serial = id + 1;
	uint16_t product = 0x1000 + (uint16_t)(id & 0xff);
	/* sRGB primaries and D65 in 10-bit binary fractions */
	const uint16_t rx = 655, ry = 338, gx = 307, gy = 614, bx = 154, by = 61, wx = 320, wy = 337;
	char text[16];
	uint8_t sum = 0;
	uint32_t wmm, hmm, hcm, vcm;

	physical_mm(width, height, &wmm, &hmm);
	hcm = (wmm + 5) / 10;
	vcm = (hmm + 5) / 10;


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
	edid[21] = (uint8_t)(hcm ? hcm : 1);
	edid[22] = (uint8_t)(vcm ? vcm : 1);
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
	if (big) {
		/* the base block's preferred timing: the mode scaled down to fit, aspect kept */
		uint32_t m = width > height ? width : height;

		bw = (uint32_t)((uint64_t)width * 4095 / m);
		bh = (uint32_t)((uint64_t)height * 4095 / m);
		if (bw == 0)
			bw = 1;
		if (bh == 0)
			bh = 1;
	}
	if (!detailed_timing(edid + 54, bw, bh, wmm, hmm)) {
		memset(edid + 54, 0, 18);
		edid[54 + 3] = 0x10;	/* dummy descriptor */
	}
	text_descriptor(edid + 72, 0xfc, "vgi");
	snprintf(text, sizeof(text), "vgi-%u", id);
	text_descriptor(edid + 90, 0xff, text);
	edid[108 + 3] = 0x10;	/* dummy */
	edid[126] = big;	/* extension blocks */
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + edid[i]);
	edid[127] = (uint8_t)(0x100 - sum);
	if (!big)
		return VGI_EDID_SIZE;
	displayid_block(edid + 128, id, width, height);
	return 2 * VGI_EDID_SIZE;
}
