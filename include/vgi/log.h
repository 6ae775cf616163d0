/* SPDX-License-Identifier: MIT */
#ifndef VGI_LOG_H
#define VGI_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vgi_log_level {
	VGI_LOG_ERROR,
	VGI_LOG_WARN,	/* includes guest errors: bad ids, rects, chains */
	VGI_LOG_INFO,
	VGI_LOG_DEBUG,
};

typedef void (*vgi_log_func)(enum vgi_log_level level, const char *msg, void *opaque);

/* Route log lines somewhere else (default: stderr, "vgi: " prefix). NULL restores it. */
void vgi_log_set_handler(vgi_log_func func, void *opaque);
/* Lines above this level are dropped (default VGI_LOG_INFO; VGI_DEBUG=1 in the env: DEBUG). */
void vgi_log_set_level(enum vgi_log_level level);
enum vgi_log_level vgi_log_get_level(void);

void vgi_log(enum vgi_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vgi_logv(enum vgi_log_level level, const char *fmt, va_list ap);

#define vgi_error(...) vgi_log(VGI_LOG_ERROR, __VA_ARGS__)
#define vgi_warn(...)  vgi_log(VGI_LOG_WARN, __VA_ARGS__)
#define vgi_info(...)  vgi_log(VGI_LOG_INFO, __VA_ARGS__)
#define vgi_debug(...) vgi_log(VGI_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
