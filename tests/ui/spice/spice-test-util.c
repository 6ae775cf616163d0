// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <glib.h>

#include "spice-test-util.h"

uint32_t st_pattern(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t r = (x * 7 + seed * 40) & 0xff, g = (y * 5 + seed * 90) & 0xff, b = ((x ^ y) * 3 + seed) & 0xff;

	return 0xff000000u | r << 16 | g << 8 | b;
}

uint8_t *st_read_ppm(const char *path, uint32_t *w, uint32_t *h)
{
	FILE *f = fopen(path, "rb");
	unsigned maxval;
	uint8_t *rgb;

	if (!f)
		return NULL;
	if (fscanf(f, "P6 %u %u %u", w, h, &maxval) != 3 || maxval != 255 || fgetc(f) == EOF ||
	    *w == 0 || *h == 0 || *w > 16384 || *h > 16384) {
		fclose(f);
		return NULL;
	}
	rgb = malloc((size_t)*w * *h * 3);
	if (fread(rgb, 3, (size_t)*w * *h, f) != (size_t)*w * *h) {
		free(rgb);
		rgb = NULL;
	}
	fclose(f);
	return rgb;
}

char *st_read_file(const char *path)
{
	gchar *text = NULL;
	char *copy;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	copy = strdup(text);
	g_free(text);
	return copy;
}

struct child_state {
	bool done;
	int status;
};

static void child_exited(GPid pid, gint status, gpointer data)
{
	struct child_state *c = data;

	c->done = true;
	c->status = status;
	g_spawn_close_pid(pid);
}

static gboolean tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

int st_run_child(const char *cmd, int timeout_s)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct child_state c = { 0 };
	GError *err = NULL;
	gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	GPid pid;

	if (!g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err)) {
		fprintf(stderr, "cannot run %s: %s\n", cmd, err->message);
		g_error_free(err);
		return -1;
	}
	g_child_watch_add(pid, child_exited, &c);
	guint t = g_timeout_add(50, tick, NULL);	/* wakes the loop to check the deadline */
	while (!c.done) {
		if (g_get_monotonic_time() > end) {
			fprintf(stderr, "timeout: killing '%s'\n", cmd);
			kill(pid, SIGKILL);
			while (!c.done)
				g_main_context_iteration(NULL, TRUE);
			g_source_remove(t);
			return -1;
		}
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(t);
	return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
}

int st_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void st_rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd)) {
		/* best effort */
	}
}
