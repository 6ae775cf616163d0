/* SPDX-License-Identifier: MIT */
#ifndef SPICE_TEST_UTIL_H
#define SPICE_TEST_UTIL_H

#include <stdint.h>

/* A pattern with distinct neighbours and all channels used. */
uint32_t st_pattern(uint32_t x, uint32_t y, uint32_t seed);
/* P6 PPM as RGB bytes (malloc'd), NULL if unreadable. */
uint8_t *st_read_ppm(const char *path, uint32_t *w, uint32_t *h);
/* Whole file as a NUL-terminated string (malloc'd), NULL if unreadable. */
char *st_read_file(const char *path);
/* Run "sh -c cmd" while iterating GLib's default context; its exit status, or -1 (killed after timeout_s). */
int st_run_child(const char *cmd, int timeout_s);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int st_free_port(void);
void st_rm_rf(const char *dir);

#endif
