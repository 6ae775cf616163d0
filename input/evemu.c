// SPDX-License-Identifier: MIT
/* evemu recording parser (text format of evemu-record 2.x). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input-event-codes.h>

#include <vgi/evemu.h>
#include <vgi/log.h>

#define MAX_FILE (1u << 30)

struct parser {
	struct vgi_evemu *rec;
	size_t cap;
	unsigned prop_bytes;			/* P: bytes seen so far */
	unsigned bit_bytes[VGI_INPUT_EV_CNT];	/* B: bytes seen so far, per type */
};

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Unsigned number in base at p; false if none or out of range. */
static bool parse_num(const char **pp, const char *end, int base, int64_t min, int64_t max, int64_t *out)
{
	const char *p = skip_ws(*pp, end);
	char buf[32];
	size_t n = 0;
	char *e;
	long long v;

	while (p + n < end && n < sizeof(buf) - 1 && p[n] != ' ' && p[n] != '\t' && p[n] != '#')
		n++;
	if (n == 0 || n >= sizeof(buf) - 1)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &e, base);
	if (errno || *e || v < min || v > max)
		return false;
	*out = v;
	*pp = p + n;
	return true;
}

static bool at_end(const char *p, const char *end)
{
	p = skip_ws(p, end);
	return p == end || *p == '#';
}

static int add_event(struct parser *ps, const char *p, const char *end)
{
	struct vgi_evemu *rec = ps->rec;
	int64_t sec, usec, type, code, value;
	const char *dot;
	char *e;

	p = skip_ws(p, end);
	dot = memchr(p, '.', (size_t)(end - p));
	if (!dot)
		return -EINVAL;
	{
		char buf[24];
		size_t n = (size_t)(dot - p);

		if (n == 0 || n >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, p, n);
		buf[n] = '\0';
		errno = 0;
		sec = strtoll(buf, &e, 10);
		if (errno || *e || sec < 0 || sec > INT32_MAX)
			return -EINVAL;
	}
	p = dot + 1;
	if (!parse_num(&p, end, 10, 0, 999999, &usec) || !parse_num(&p, end, 16, 0, UINT16_MAX, &type) ||
	    !parse_num(&p, end, 16, 0, UINT16_MAX, &code) || !parse_num(&p, end, 10, INT32_MIN, INT32_MAX, &value) ||
	    !at_end(p, end))
		return -EINVAL;
	if (rec->n >= VGI_EVEMU_MAX_EVENTS)
		return -E2BIG;
	if (rec->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 256;
		struct vgi_evemu_event *ev = realloc(rec->events, cap * sizeof(*ev));

		if (!ev)
			return -ENOMEM;
		rec->events = ev;
		ps->cap = cap;
	}
	rec->events[rec->n++] = (struct vgi_evemu_event){
		.usec = (uint64_t)sec * 1000000u + (uint64_t)usec,
		.ev = { (uint16_t)type, (uint16_t)code, (int32_t)value },
	};
	return 0;
}

/* Bytes in hex, appended at *pos of dst (size cap); extra bytes past cap are an error. */
static int add_bytes(const char *p, const char *end, uint8_t *dst, unsigned cap, unsigned *pos)
{
	int64_t v;

	while (!at_end(p, end)) {
		if (!parse_num(&p, end, 16, 0, 255, &v))
			return -EINVAL;
		if (*pos >= cap) {
			if (v)
				return -EINVAL;	/* a bit we cannot represent */
			continue;
		}
		dst[(*pos)++] = (uint8_t)v;
	}
	return 0;
}

static int parse_line(struct parser *ps, const char *p, const char *end)
{
	struct vgi_input_desc *d = &ps->rec->desc;
	char kind;
	int64_t v[6];

	if (end - p < 2 || p[1] != ':' || *p == '#')
		return 0;
	kind = p[0];
	p += 2;
	switch (kind) {
	case 'E':
		return add_event(ps, p, end);
	case 'N': {
		size_t n;

		p = skip_ws(p, end);
		n = (size_t)(end - p);
		if (n >= sizeof(d->name))
			n = sizeof(d->name) - 1;
		memcpy(d->name, p, n);
		d->name[n] = '\0';
		ps->rec->has_desc = true;
		return 0;
	}
	case 'I':
		for (int i = 0; i < 4; i++) {
			if (!parse_num(&p, end, 16, 0, UINT16_MAX, &v[i]))
				return -EINVAL;
		}
		d->bustype = (uint16_t)v[0];
		d->vendor = (uint16_t)v[1];
		d->product = (uint16_t)v[2];
		d->version = (uint16_t)v[3];
		ps->rec->has_desc = true;
		return 0;
	case 'P':
		return add_bytes(p, end, d->props, sizeof(d->props), &ps->prop_bytes);
	case 'B': {
		uint8_t types[VGI_INPUT_BITMAP_BYTES] = { 0 };
		unsigned pos = 0;
		int ret;

		if (!parse_num(&p, end, 16, 0, VGI_INPUT_EV_CNT - 1, &v[0]))
			return -EINVAL;
		ps->rec->has_desc = true;
		if (v[0] == 0) {
			/* the event types: only EV_REP matters (it has no codes of its own) */
			ret = add_bytes(p, end, types, sizeof(types), &pos);
			if (!ret && (types[EV_REP / 8] & (1u << (EV_REP % 8)))) {
				vgi_input_desc_set(d, EV_REP, REP_DELAY);
				vgi_input_desc_set(d, EV_REP, REP_PERIOD);
			}
			return ret;
		}
		return add_bytes(p, end, d->bits[v[0]], VGI_INPUT_BITMAP_BYTES, &ps->bit_bytes[v[0]]);
	}
	case 'A': {
		int n = 0;

		if (!parse_num(&p, end, 16, 0, VGI_INPUT_ABS_CNT - 1, &v[0]))
			return -EINVAL;
		for (n = 1; n < 6 && !at_end(p, end); n++) {
			if (!parse_num(&p, end, 10, INT32_MIN, INT32_MAX, &v[n]))
				return -EINVAL;
		}
		if (n < 5 || !at_end(p, end))
			return -EINVAL;
		d->abs[v[0]] = (struct vgi_input_absinfo){ (int32_t)v[1], (int32_t)v[2], (int32_t)v[3],
							   (int32_t)v[4], n > 5 ? (int32_t)v[5] : 0, 0 };
		return 0;
	}
	default:
		return 0;	/* L:, S: (LED and switch state) and anything newer */
	}
}

int vgi_evemu_parse(const char *text, size_t len, struct vgi_evemu **out)
{
	struct parser ps = { 0 };
	const char *p = text, *end = text + len;
	unsigned line = 0;

	*out = NULL;
	ps.rec = calloc(1, sizeof(*ps.rec));
	if (!ps.rec)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		int ret;

		line++;
		if (le > p && le[-1] == '\r')
			le--;
		ret = parse_line(&ps, p, le);
		if (ret) {
			vgi_warn("evemu: line %u: %s: %.*s", line, ret == -E2BIG ? "too many events" : "cannot parse",
				 (int)(le - p > 80 ? 80 : le - p), p);
			vgi_evemu_free(ps.rec);
			return ret;
		}
		p = nl ? nl + 1 : end;
	}
	*out = ps.rec;
	return 0;
}

int vgi_evemu_load(const char *path, struct vgi_evemu **out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret;

	*out = NULL;
	if (!f)
		return -errno;
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nb;

			if (cap >= MAX_FILE) {
				ret = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				ret = -EIO;
				goto out;
			}
			break;
		}
	}
	ret = vgi_evemu_parse(buf ? buf : "", len, out);
out:
	free(buf);
	if (f != stdin)
		fclose(f);
	return ret;
}

void vgi_evemu_free(struct vgi_evemu *rec)
{
	if (!rec)
		return;
	free(rec->events);
	free(rec);
}
