// SPDX-License-Identifier: MIT
/* The evemu recording parser: the project's recordings, evemu-record's own format, hostile text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/input.h>

#include <vgi/evemu.h>
#include <vgi/log.h>

static void quiet(enum vgi_log_level level, const char *msg, void *opaque)
{
}

static int parse(const char *text, struct vgi_evemu **out)
{
	return vgi_evemu_parse(text, strlen(text), out);
}

/* Lines as evemu-record 2.7 writes them (comments after events, tabs, L:/S: lines). */
static void test_evemu_record_format(void **state)
{
	const char *text =
		"# EVEMU 1.3\n"
		"# Kernel: 6.1.0-56-amd64\n"
		"# Input device name: \"Logitech USB Receiver\"\n"
		"# Supported events:\n"
		"#   Event type 0 (EV_SYN)\n"
		"N: Logitech USB Receiver\n"
		"I: 0003 046d c52b 0111\n"
		"P: 00 00 00 00 00 00 00 00\n"
		"B: 00 0b 00 00 00 00 00 00 00\n"
		"B: 01 00 00 00 00 00 00 00 00\n"
		"B: 01 00 00 00 00 00 00 00 00\n"
		"B: 01 00 00 00 00 00 00 00 00\n"
		"B: 01 00 00 00 00 00 00 00 00\n"
		"B: 01 00 00 07 00 00 00 00 00\n"
		"B: 02 03 01 00 00 00 00 00 00\n"
		"B: 03 03 00 00 00 00 00 00 00\n"
		"A: 00 0 1919 0 0 0\n"
		"A: 01 -5 1079 2 3 12\n"
		"L: 00 0\n"
		"S: 00 0\n"
		"################################\n"
		"#      Waiting for events      #\n"
		"################################\n"
		"E: 0.000001 0002 0000 -003\t# EV_REL / REL_X                -3\n"
		"E: 0.000001 0000 0000 0000\t# ------------ SYN_REPORT (0) ---------- +0ms\r\n"
		"E: 12.250000 0001 0110 0001\t# EV_KEY / BTN_LEFT             1\n"
		"E: 12.250000 0003 0001 2147483647\n"
		"E: 12.250000 0000 0000 0000";	/* no final newline */
	struct vgi_evemu *r;

	assert_int_equal(parse(text, &r), 0);
	assert_true(r->has_desc);
	assert_string_equal(r->desc.name, "Logitech USB Receiver");
	assert_int_equal(r->desc.bustype, 3);
	assert_int_equal(r->desc.vendor, 0x046d);
	assert_int_equal(r->desc.product, 0xc52b);
	assert_int_equal(r->desc.version, 0x111);
	assert_true(vgi_input_desc_has(&r->desc, EV_KEY, BTN_LEFT));
	assert_true(vgi_input_desc_has(&r->desc, EV_KEY, BTN_MIDDLE));
	assert_false(vgi_input_desc_has(&r->desc, EV_KEY, BTN_SIDE));
	assert_true(vgi_input_desc_has(&r->desc, EV_REL, REL_X));
	assert_true(vgi_input_desc_has(&r->desc, EV_REL, REL_WHEEL));
	assert_false(vgi_input_desc_has_type(&r->desc, EV_REP));
	assert_int_equal(r->desc.abs[ABS_X].max, 1919);
	assert_int_equal(r->desc.abs[ABS_Y].min, -5);
	assert_int_equal(r->desc.abs[ABS_Y].fuzz, 2);
	assert_int_equal(r->desc.abs[ABS_Y].flat, 3);
	assert_int_equal(r->desc.abs[ABS_Y].res, 12);
	assert_int_equal(r->n, 5);
	assert_int_equal(r->events[0].ev.type, EV_REL);
	assert_int_equal(r->events[0].ev.value, -3);
	assert_int_equal(r->events[0].usec, 1);
	assert_int_equal(r->events[2].usec, 12250000);
	assert_int_equal(r->events[2].ev.code, BTN_LEFT);
	assert_int_equal(r->events[3].ev.value, INT32_MAX);
	assert_int_equal(r->events[4].ev.type, EV_SYN);
	vgi_evemu_free(r);
}

/* The recordings the guest tests replay. */
static void test_project_recordings(void **state)
{
	const char *src = getenv("VGI_SOURCE_ROOT");
	char path[4096];
	struct vgi_evemu *r;

	if (!src)
		skip();
	snprintf(path, sizeof(path), "%s/tests/input/data/keyboard.evemu", src);
	assert_int_equal(vgi_evemu_load(path, &r), 0);
	assert_string_equal(r->desc.name, "vgi test keyboard");
	assert_int_equal(r->n, 40);
	assert_true(vgi_input_desc_has(&r->desc, EV_KEY, KEY_ESC));
	assert_true(vgi_input_desc_has(&r->desc, EV_LED, LED_CAPSL));
	assert_true(vgi_input_desc_has(&r->desc, EV_MSC, MSC_SCAN));
	vgi_evemu_free(r);
	snprintf(path, sizeof(path), "%s/tests/input/data/mouse.evemu", src);
	assert_int_equal(vgi_evemu_load(path, &r), 0);
	assert_int_equal(r->n, 66);
	assert_true(vgi_input_desc_has(&r->desc, EV_REL, REL_WHEEL));
	vgi_evemu_free(r);
	assert_int_equal(vgi_evemu_load("/nonexistent/x.evemu", &r), -ENOENT);
	assert_null(r);
}

static void test_events_only(void **state)
{
	struct vgi_evemu *r;

	assert_int_equal(parse("E: 0.5 0001 001e 1\nE: 0.5 0 0 0\n", &r), 0);
	assert_false(r->has_desc);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->events[0].usec, 5);	/* "0.5" is 5 microseconds, as evemu writes %06 */
	vgi_evemu_free(r);
	assert_int_equal(parse("", &r), 0);
	assert_int_equal(r->n, 0);
	vgi_evemu_free(r);
}

/* Every malformed line is refused with -EINVAL, nothing leaks, nothing is half-returned. */
static void test_hostile(void **state)
{
	static const char *const bad[] = {
		"E: 0.000001 0001 001e\n",			/* missing value */
		"E: 0.000001 0001 001e 1 extra\n",		/* trailing garbage */
		"E: 0000001 0001 001e 1\n",			/* no dot */
		"E: .000001 0001 001e 1\n",			/* no seconds */
		"E: -1.000001 0001 001e 1\n",			/* negative time */
		"E: 99999999999.000001 0001 001e 1\n",		/* seconds out of range */
		"E: 0.1000000 0001 001e 1\n",			/* usec out of range */
		"E: 0.000001 10000 001e 1\n",			/* type > 16 bits */
		"E: 0.000001 0001 1001e 1\n",			/* code > 16 bits */
		"E: 0.000001 0001 001e 2147483648\n",		/* value > 32 bits */
		"E: 0.000001 0001 001e -2147483649\n",
		"E: 0.000001 zz 001e 1\n",
		"E: 0.000001 0001 001e 0x1\n",
		"E: 0.000001 0001 001e 123456789012345678901234567890\n",
		"I: 0003 046d c52b\n",				/* short */
		"I: 0003 046d c52b 10000\n",
		"B: 20 ff\n",					/* type >= EV_CNT */
		"B: 01 100\n",					/* byte > 255 */
		"B: 01 zz\n",
		"A: 40 0 1 0 0 0\n",				/* abs code >= ABS_CNT */
		"A: 00 0 1 0\n",				/* short */
		"A: 00 0 1 0 0 0 0\n",				/* long */
		"A: 00 0 99999999999 0 0 0\n",
		"P: 01 02 gg\n",
	};
	struct vgi_evemu *r = (struct vgi_evemu *)1;
	char big[8192];
	size_t n = 0;

	vgi_log_set_handler(quiet, NULL);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &r), -EINVAL);
		assert_null(r);
	}
	/* a bitmap longer than 1024 codes: zeros are fine, a set bit past the end is not */
	n += (size_t)snprintf(big + n, sizeof(big) - n, "B: 01");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, " 00");
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\n");
	assert_int_equal(parse(big, &r), 0);
	vgi_evemu_free(r);
	n -= 1;
	n += (size_t)snprintf(big + n, sizeof(big) - n, " 01\n");
	assert_int_equal(parse(big, &r), -EINVAL);
	/* a name longer than the field is cut; NUL bytes and odd kinds are harmless */
	memset(big, 'x', sizeof(big));
	memcpy(big, "N: ", 3);
	big[600] = '\n';
	assert_int_equal(vgi_evemu_parse(big, 601, &r), 0);
	assert_int_equal(strlen(r->desc.name), 127);
	vgi_evemu_free(r);
	assert_int_equal(vgi_evemu_parse("Q: what\n#\n\n:\nE\n\0\0\n", 18, &r), 0);
	vgi_evemu_free(r);
	vgi_log_set_handler(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evemu_record_format),
		cmocka_unit_test(test_project_recordings),
		cmocka_unit_test(test_events_only),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
