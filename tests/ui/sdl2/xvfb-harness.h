/* SPDX-License-Identifier: MIT */
#ifndef VGI_TEST_XVFB_HARNESS_H
#define VGI_TEST_XVFB_HARNESS_H

/*
 * Shared by the SDL and GTK sink tests and the sink benchmark: a private
 * Xvfb, screenshots through the real xwd client, external commands
 * (xdotool) run while the GLib main loop keeps turning.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct xvfb {
	pid_t pid;
	int display;
	char name[16];		/* ":N" */
};

/* Start Xvfb on a free display (:90 and up) of w x h x 24 and set DISPLAY.
 * 0, or 77 (printed why) when Xvfb is not installed, or -1 on failure. */
int xvfb_start(struct xvfb *x, int w, int h);
void xvfb_stop(struct xvfb *x);
/* CPU time (user+system) the X server has used so far, in ns. */
uint64_t xvfb_cpu_ns(const struct xvfb *x);
/* Is this program on PATH? */
bool have_program(const char *name);

/* Run the GLib default main context for ms milliseconds. */
void pump_ms(int ms);
/* Run argv (NULL-terminated) to completion while pumping the main loop;
 * its stdout (up to outlen-1 bytes, NUL-terminated) into out if given. Exit status or -1. */
int run_pumping(const char *const argv[], char *out, size_t outlen);

/* The whole X screen as 0x00RRGGBB pixels, taken with `xwd -root`. */
struct shot {
	int width, height;
	uint32_t *px;
};
int shot_take(struct shot *s);
/* One window's own image (`xwd -id`), as shot_take. */
int shot_take_window(struct shot *s, const char *window_id);
void shot_free(struct shot *s);
/* Write s as a binary PPM (for looking at a failure). */
int shot_save_ppm(const struct shot *s, const char *path);
/* Where img (w x h, 0x00RRGGBB, stride in pixels) appears exactly in s; false if nowhere. */
bool shot_find(const struct shot *s, const uint32_t *img, int w, int h, int stride, int *ox, int *oy);
/* Number of pixels of img that differ from s at (ox, oy); prints the first few. */
long shot_compare(const struct shot *s, const uint32_t *img, int w, int h, int stride, int ox, int oy);

/* Process CPU time (CLOCK_PROCESS_CPUTIME_ID) in ns. */
uint64_t cpu_ns(void);

#endif
