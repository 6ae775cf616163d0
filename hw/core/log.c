// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>

#include <vgi/log.h>

static vgi_log_func log_func;
static void *log_opaque;
static int log_level = -1;

void vgi_log_set_handler(vgi_log_func func, void *opaque)
{
	log_func = func;
	log_opaque = opaque;
}

void vgi_log_set_level(enum vgi_log_level level)
{
	log_level = level;
}

enum vgi_log_level vgi_log_get_level(void)
{
	if (log_level < 0) {
		const char *env = getenv("VGI_DEBUG");
		log_level = env && *env && *env != '0' ? VGI_LOG_DEBUG : VGI_LOG_INFO;
	}
	return (enum vgi_log_level)log_level;
}

void vgi_logv(enum vgi_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char msg[1024];

	if (level > vgi_log_get_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_func) {
		log_func(level, msg, log_opaque);
		return;
	}
	fprintf(stderr, "vgi: %s: %s\n", names[level], msg);
}

void vgi_log(enum vgi_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vgi_logv(level, fmt, ap);
	va_end(ap);
}
