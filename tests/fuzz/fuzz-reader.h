/* SPDX-License-Identifier: MIT */
#ifndef VGI_FUZZ_READER_H
#define VGI_FUZZ_READER_H

/*
 * The fuzzer's input read front to back as a script; little-endian, and
 * every read past the end gives zeros, so any input is a whole script.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vgi/log.h>

struct reader {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t u8(struct reader *r)
{
	uint8_t v = 0;

	if (r->left) {
		v = *r->p++;
		r->left--;
	}
	return v;
}

static inline uint16_t u16(struct reader *r)
{
	uint16_t lo = u8(r);	/* two statements: the byte order must not depend on the compiler */

	return (uint16_t)(lo | u8(r) << 8);
}

static inline uint32_t u32(struct reader *r)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)u8(r) << (8 * i);
	return v;
}

/* n bytes, or false (nothing consumed) when fewer are left. */
static inline bool take(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

/* Log handler that drops everything: the fuzzer feeds errors on purpose. */
static inline void quiet(enum vgi_log_level level, const char *msg, void *opaque)
{
	(void)level;
	(void)msg;
	(void)opaque;
}

#endif
