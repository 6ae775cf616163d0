// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "xvfb-harness.h"

bool have_program(const char *name)
{
	gchar *p = g_find_program_in_path(name);
	bool ok = p != NULL;

	g_free(p);
	return ok;
}

uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int xvfb_start(struct xvfb *x, int w, int h)
{
	char screen[32];

	memset(x, 0, sizeof(*x));
	if (!have_program("Xvfb")) {
		fprintf(stderr, "SKIP: Xvfb is not installed (Debian package xvfb)\n");
		return 77;
	}
	snprintf(screen, sizeof(screen), "%dx%dx24", w, h);
	/* A display number nobody holds, from :90 on (-displayfd tells when it is ready). */
	for (int tries = 0; tries < 40; tries++) {
		int n = 90 + (int)((getpid() + tries) % 40), fds[2];
		char lock[64], fdarg[16], disp[16], buf[16] = "";
		pid_t pid;
		ssize_t got = 0;
		uint64_t deadline;

		snprintf(lock, sizeof(lock), "/tmp/.X%d-lock", n);
		if (access(lock, F_OK) == 0)
			continue;
		if (pipe(fds))
			return -1;
		snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
		snprintf(disp, sizeof(disp), ":%d", n);
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);

			prctl(PR_SET_PDEATHSIG, SIGTERM);	/* no stray X server if the test dies */
			close(fds[0]);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execlp("Xvfb", "Xvfb", disp, "-displayfd", fdarg, "-screen", "0", screen, "-nolisten",
			       "tcp", "-noreset", "+extension", "XFIXES", (char *)NULL);
			_exit(127);
		}
		close(fds[1]);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		deadline = mono_ms() + 10000;
		while (mono_ms() < deadline) {
			ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got);

			if (r > 0)
				got += r;
			if (got && buf[got - 1] == '\n')
				break;
			if (r == 0)
				break;	/* Xvfb died */
			usleep(10000);
		}
		close(fds[0]);
		if (got && buf[got - 1] == '\n') {
			x->pid = pid;
			x->display = n;
			snprintf(x->name, sizeof(x->name), ":%d", n);
			setenv("DISPLAY", x->name, 1);
			unsetenv("WAYLAND_DISPLAY");
			return 0;
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	fprintf(stderr, "Xvfb did not start on any display from :90\n");
	return -1;
}

void xvfb_stop(struct xvfb *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGTERM);
		waitpid(x->pid, NULL, 0);
		x->pid = 0;
	}
}

uint64_t xvfb_cpu_ns(const struct xvfb *x)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)x->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

void pump_ms(int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	while (mono_ms() < end) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		usleep(2000);
	}
}

int run_pumping(const char *const argv[], char *out, size_t outlen)
{
	int fds[2], status = -1;
	size_t got = 0;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		char tmp[512];
		ssize_t r = read(fds[0], tmp, sizeof(tmp));

		if (r > 0 && out && got + 1 < outlen) {
			size_t n = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;

			memcpy(out + got, tmp, n);
			got += n;
		}
		if (r > 0)
			continue;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		while (g_main_context_iteration(NULL, FALSE))
			;
		usleep(2000);
	}
	/* what is left in the pipe */
	for (;;) {
		char tmp[512];
		ssize_t r = read(fds[0], tmp, sizeof(tmp));

		if (r <= 0)
			break;
		if (out && got + 1 < outlen) {
			size_t n = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;

			memcpy(out + got, tmp, n);
			got += n;
		}
	}
	close(fds[0]);
	if (out && outlen)
		out[got] = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* XWD: a header of big-endian CARD32s, the window name, colormap entries, the image. */
static int shot_read(struct shot *s, const char *cmd);

int shot_take(struct shot *s)
{
	return shot_read(s, "xwd -root -screen -silent");
}

int shot_take_window(struct shot *s, const char *window_id)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "xwd -id %lu -silent", strtoul(window_id, NULL, 0));
	return shot_read(s, cmd);
}

static int shot_read(struct shot *s, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint32_t hsize, fmt, w, h, bpp, bpl, order, ncolors, rmask, gmask, bmask;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (!f)
		return -1;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			if (!buf)
				break;
		}
		size_t r = fread(buf + len, 1, cap - len, f);

		if (!r)
			break;
		len += r;
	}
	pclose(f);
	if (!buf || len < 100)
		goto out;
	hsize = be32(buf + 0);
	fmt = be32(buf + 8);
	w = be32(buf + 16);
	h = be32(buf + 20);
	order = be32(buf + 28);
	bpp = be32(buf + 44);
	bpl = be32(buf + 48);
	rmask = be32(buf + 56);
	gmask = be32(buf + 60);
	bmask = be32(buf + 64);
	ncolors = be32(buf + 76);
	if (fmt != 2 || (bpp != 32 && bpp != 24) || rmask != 0xff0000 || gmask != 0xff00 || bmask != 0xff) {
		fprintf(stderr, "xwd: unexpected format %u bpp %u masks %x %x %x\n", fmt, bpp, rmask, gmask, bmask);
		goto out;
	}
	size_t off = (size_t)hsize + (size_t)ncolors * 12;
	if (off + (size_t)bpl * h > len || bpl < w * (bpp / 8)) {
		fprintf(stderr, "xwd: short file\n");
		goto out;
	}
	s->width = (int)w;
	s->height = (int)h;
	s->px = malloc((size_t)w * h * 4);
	if (!s->px)
		goto out;
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			const uint8_t *p = buf + off + (size_t)y * bpl + (size_t)x * (bpp / 8);
			uint32_t v;

			if (bpp == 24)
				v = order == 0 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
					       : (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
			else
				v = order == 0 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
							 (uint32_t)p[3] << 24
					       : be32(p);

			s->px[(size_t)y * w + x] = v & 0xffffff;
		}
	ret = 0;
out:
	free(buf);
	return ret;
}

int shot_save_ppm(const struct shot *s, const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	fprintf(f, "P6\n%d %d\n255\n", s->width, s->height);
	for (long i = 0; i < (long)s->width * s->height; i++) {
		uint8_t rgb[3] = { (uint8_t)(s->px[i] >> 16), (uint8_t)(s->px[i] >> 8), (uint8_t)s->px[i] };

		fwrite(rgb, 1, 3, f);
	}
	return fclose(f);
}

void shot_free(struct shot *s)
{
	free(s->px);
	s->px = NULL;
}

long shot_compare(const struct shot *s, const uint32_t *img, int w, int h, int stride, int ox, int oy)
{
	long bad = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint32_t want = img[(size_t)y * stride + x] & 0xffffff, got;

			if (ox + x < 0 || oy + y < 0 || ox + x >= s->width || oy + y >= s->height) {
				bad++;
				continue;
			}
			got = s->px[(size_t)(oy + y) * s->width + ox + x];
			if (got != want && bad++ < 5)
				fprintf(stderr, "pixel (%d,%d): got %06x want %06x\n", x, y, got, want);
		}
	return bad;
}

bool shot_find(const struct shot *s, const uint32_t *img, int w, int h, int stride, int *ox, int *oy)
{
	uint32_t first = img[0] & 0xffffff;

	for (int y = 0; y + h <= s->height; y++)
		for (int x = 0; x + w <= s->width; x++) {
			if (s->px[(size_t)y * s->width + x] != first)
				continue;
			bool ok = true;

			for (int yy = 0; yy < h && ok; yy++)
				for (int xx = 0; xx < w; xx++)
					if (s->px[(size_t)(y + yy) * s->width + x + xx] !=
					    (img[(size_t)yy * stride + xx] & 0xffffff)) {
						ok = false;
						break;
					}
			if (ok) {
				*ox = x;
				*oy = y;
				return true;
			}
		}
	return false;
}
