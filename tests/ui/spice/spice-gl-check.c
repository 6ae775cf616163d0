// SPDX-License-Identifier: MIT
/*
 * SPICE GL scanout with a real client, run in a guest (test-spice-gl-guest.py)
 * where a DRM card gives a real dmabuf: a dumb buffer of /dev/dri/card0 is
 * exported (PRIME) and handed to the SPICE sink through scanout_gl; the
 * client (spice-input-client --gl, spice-client-glib with gl-scanout on a
 * unix socket) receives the dmabuf, reads it on each GL draw and
 * acknowledges. The second draw is queued while the first is in flight, so
 * it reaches the client only through the completion path (async_complete).
 *
 *   spice-gl-check CLIENT OUTDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <glib.h>
#include <xf86drm.h>

#include <vgi/display.h>
#include <vgi/sinks.h>

#include "spice-test-util.h"

#define W 256
#define H 128

static void fill(uint8_t *map, uint32_t pitch, uint32_t seed)
{
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			((uint32_t *)(map + (size_t)y * pitch))[x] = st_pattern(x, y, seed);
}

static const char *socket_dir(void)
{
	static const char *const dirs[] = { "/tmp", "/run", "/dev/shm", "/dev" };

	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
		char probe[256];
		int fd;

		snprintf(probe, sizeof(probe), "%s/vgi-probe-%d", dirs[i], getpid());
		fd = open(probe, O_CREAT | O_WRONLY, 0600);
		if (fd >= 0) {
			close(fd);
			unlink(probe);
			return dirs[i];
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct drm_mode_create_dumb create = { .width = W, .height = H, .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	char spec[300], sock[256], cmd[1024], ready[512], ppm[512];
	struct vgi_display_sink s;
	uint8_t *px, *got;
	uint32_t gw, gh;
	int card, dmabuf, rc;
	GPid pid;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CLIENT OUTDIR\n", argv[0]);
		return 2;
	}
	card = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (card < 0 || drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &create)) {
		perror("dumb buffer on /dev/dri/card0");
		return 1;
	}
	map.handle = create.handle;
	if (drmIoctl(card, DRM_IOCTL_MODE_MAP_DUMB, &map) ||
	    (px = mmap(NULL, create.size, PROT_READ | PROT_WRITE, MAP_SHARED, card, (off_t)map.offset)) == MAP_FAILED) {
		perror("map dumb");
		return 1;
	}
	if (drmPrimeHandleToFD(card, create.handle, DRM_CLOEXEC | DRM_RDWR, &dmabuf)) {
		perror("PRIME export");
		return 1;
	}
	fill(px, create.pitch, 1);

	if (!socket_dir())
		return 1;
	snprintf(sock, sizeof(sock), "%s/vgi-spice-gl-%d.sock", socket_dir(), getpid());
	snprintf(spec, sizeof(spec), "spice,unix=%s,disable-ticketing,gl=on", sock);
	if (vgi_display_sink_new(spec, NULL, &s))
		return 1;
	struct vgi_gl_scanout gs = { .enabled = true, .dmabuf_fd = dmabuf, .fourcc = DRM_FORMAT_XRGB8888,
				     .modifier = DRM_FORMAT_MOD_LINEAR, .stride = create.pitch, .buf_width = W,
				     .buf_height = H, .width = W, .height = H, .y0_top = true };
	s.ops->scanout_gl(s.sink, 0, &gs);
	close(dmabuf);	/* the sink keeps its own reference */

	snprintf(ready, sizeof(ready), "%s/ready", argv[2]);
	snprintf(ppm, sizeof(ppm), "%s/gl.ppm", argv[2]);
	unlink(ready);
	unlink(ppm);
	snprintf(cmd, sizeof(cmd), "'%s' --gl 'spice+unix://%s' '%s'", argv[1], sock, argv[2]);
	{
		const char *av[] = { "/bin/sh", "-c", cmd, NULL };
		GError *err = NULL;

		if (!g_spawn_async(NULL, (char **)av, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err)) {
			fprintf(stderr, "%s\n", err->message);
			return 1;
		}
	}
	/* wait for the client to hold the scanout, then draw twice */
	for (int i = 0; access(ready, F_OK); i++) {
		if (i > 3000) {
			fprintf(stderr, "spice-gl-check: the client never got the GL scanout\n");
			return 1;
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	struct vgi_rect full = { 0, 0, W, H }, part = { 16, 8, 64, 32 };
	s.ops->gl_update(s.sink, 0, &full);
	fill(px, create.pitch, 2);
	s.ops->gl_update(s.sink, 0, &part);	/* in flight: merged, sent on completion */
	s.ops->gl_update(s.sink, 0, &full);

	int status = 0;
	gint64 end = g_get_monotonic_time() + 40 * G_USEC_PER_SEC;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (g_get_monotonic_time() > end) {
			kill(pid, SIGKILL);
			fprintf(stderr, "spice-gl-check: client timeout\n");
			return 1;
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(2000);
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (rc) {
		fprintf(stderr, "spice-gl-check: client exited %d\n", rc);
		return rc == 77 ? 77 : 1;
	}
	got = st_read_ppm(ppm, &gw, &gh);
	if (!got || gw != W || gh != H) {
		fprintf(stderr, "spice-gl-check: no %dx%d picture from the client\n", W, H);
		return 1;
	}
	size_t bad = 0;
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint32_t v = st_pattern(x, y, 2);
			const uint8_t *p = got + ((size_t)y * W + x) * 3;

			bad += p[0] != (uint8_t)(v >> 16) || p[1] != (uint8_t)(v >> 8) || p[2] != (uint8_t)v;
		}
	printf("spice-gl-check: client read %ux%u from the dmabuf after 2 draws; %zu pixels differ\n", gw, gh, bad);
	s.ops->destroy(s.sink);
	free(got);
	munmap(px, create.size);
	close(card);
	return bad ? 1 : 0;
}
