// SPDX-License-Identifier: MIT
/*
 * kms-pattern: a guest-side KMS test client (runs inside the test guest).
 *
 * Opens a DRM device, lists connectors and modes, sets a mode with a dumb
 * buffer, draws a known pattern AFTER the mode set and sends damage with
 * DRM_IOCTL_MODE_DIRTYFB (so the host sees the pattern only if damage
 * works), optionally defines and moves a 64x64 cursor (DRM_IOCTL_MODE_CURSOR2),
 * and has damage benchmarks. The pattern and the cursor image are defined
 * in pattern_pixel()/cursor_pixel() below and mirrored by
 * tests/guest/vgiguest.py (pattern_rgb, cursor_rgba): keep them in sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xf86drm.h>
#include <xf86drmMode.h>

#define MAX_OUTPUTS 16
#define CURSOR_SIZE 64

struct dumb {
	uint32_t handle, fb_id, width, height, pitch;
	uint64_t size;
	uint32_t *map;
};

struct output {
	uint32_t connector_id, crtc_id;
	drmModeModeInfo mode;
	struct dumb fb;
	unsigned index;
};

static uint32_t pattern_pixel(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t r = (x + 3 * y + seed) & 0xff;
	uint32_t g = (y * 2 + (x >> 4) + 5 * seed) & 0xff;
	uint32_t b = ((x >> 3) ^ (y >> 3) ^ seed) & 0xff;

	return 0xff000000u | r << 16 | g << 8 | b;
}

/* Premultiplied ARGB: an opaque upper-left triangle, transparent elsewhere. */
static uint32_t cursor_pixel(uint32_t x, uint32_t y)
{
	if (x + y >= CURSOR_SIZE)
		return 0;
	return 0xff000000u | (x * 4) << 16 | (y * 4) << 8 | 0x80;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dumb_create(int fd, uint32_t w, uint32_t h, bool with_fb, struct dumb *d)
{
	struct drm_mode_create_dumb create = { .width = w, .height = h, .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	void *p;

	memset(d, 0, sizeof(*d));
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create) < 0)
		return -errno;
	d->handle = create.handle;
	d->pitch = create.pitch;
	d->size = create.size;
	d->width = w;
	d->height = h;
	map.handle = d->handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0)
		return -errno;
	p = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map.offset);
	if (p == MAP_FAILED)
		return -errno;
	d->map = p;
	if (with_fb && drmModeAddFB(fd, w, h, 24, 32, d->pitch, d->handle, &d->fb_id) < 0)
		return -errno;
	return 0;
}

static void dumb_destroy(int fd, struct dumb *d)
{
	struct drm_mode_destroy_dumb destroy = { .handle = d->handle };

	if (d->fb_id)
		drmModeRmFB(fd, d->fb_id);
	if (d->map)
		munmap(d->map, d->size);
	if (d->handle)
		drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	memset(d, 0, sizeof(*d));
}

static void fill_rect(struct dumb *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		      bool pattern, uint32_t seed, uint32_t color)
{
	for (uint32_t j = y; j < y + h && j < d->height; j++) {
		uint32_t *row = d->map + (size_t)j * (d->pitch / 4);

		for (uint32_t i = x; i < x + w && i < d->width; i++)
			row[i] = pattern ? pattern_pixel(i, j, seed) : color;
	}
}

static int damage(int fd, struct dumb *d, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	drmModeClip clip = {
		.x1 = (uint16_t)x, .y1 = (uint16_t)y,
		.x2 = (uint16_t)(x + w), .y2 = (uint16_t)(y + h),
	};

	return drmModeDirtyFB(fd, d->fb_id, &clip, 1);
}

static const char *conn_status(drmModeConnection c)
{
	switch (c) {
	case DRM_MODE_CONNECTED: return "connected";
	case DRM_MODE_DISCONNECTED: return "disconnected";
	default: return "unknown";
	}
}

/* Pick a CRTC for the connector that no earlier output uses. */
static uint32_t pick_crtc(int fd, drmModeRes *res, drmModeConnector *conn,
			  const struct output *outs, unsigned nouts)
{
	for (int e = 0; e < conn->count_encoders; e++) {
		drmModeEncoder *enc = drmModeGetEncoder(fd, conn->encoders[e]);

		if (!enc)
			continue;
		for (int c = 0; c < res->count_crtcs; c++) {
			bool used = false;

			if (!(enc->possible_crtcs & (1u << c)))
				continue;
			for (unsigned k = 0; k < nouts; k++)
				used |= outs[k].crtc_id == res->crtcs[c];
			if (!used) {
				uint32_t id = res->crtcs[c];

				drmModeFreeEncoder(enc);
				return id;
			}
		}
		drmModeFreeEncoder(enc);
	}
	return 0;
}

static bool wait_file(const char *path, double timeout)
{
	double end = now() + timeout;
	struct stat st;

	while (stat(path, &st) != 0) {
		if (now() > end)
			return false;
		usleep(50000);
	}
	return true;
}

static void usage(void)
{
	puts("usage: kms-pattern [options]\n"
	     "  --device PATH        DRM device (default /dev/dri/card0)\n"
	     "  --list               print connectors and their modes, then exit\n"
	     "  --connector N        use the N-th connector (default: first connected); one\n"
	     "                       without modes borrows a mode from another connector\n"
	     "  --all                set a mode on every connected connector (pattern seed = index)\n"
	     "  --mode WxH           mode size (default: the connector's preferred mode)\n"
	     "  --seed N             pattern seed (default 0)\n"
	     "  --no-damage          draw but do not send DIRTYFB\n"
	     "  --cursor X,Y         define the 64x64 test cursor at X,Y (CURSOR2)\n"
	     "  --hot X,Y            cursor hotspot (default 0,0)\n"
	     "  --move X,Y           then move the cursor to X,Y (repeatable, 0.2 s apart)\n"
	     "  --bench full|rects N damage benchmark: N full frames or N 32x32 rectangles\n"
	     "  --signal PATH        create PATH when done drawing\n"
	     "  --wait PATH          then keep the mode until PATH exists\n"
	     "  --wait-timeout S     give up waiting after S seconds (default 120)\n"
	     "  --sleep S            then keep the mode S seconds");
}

static bool parse_xy(const char *s, int *x, int *y)
{
	char c;

	return sscanf(s, "%d,%d%c", x, y, &c) == 2;
}

int main(int argc, char **argv)
{
	const char *device = "/dev/dri/card0", *signal_path = NULL, *wait_path = NULL;
	const char *bench = NULL;
	long bench_n = 0, conn_index = -1;
	unsigned want_w = 0, want_h = 0, seed = 0;
	bool list = false, all = false, no_damage = false, cursor = false;
	int cx = 0, cy = 0, hx = 0, hy = 0, nmoves = 0;
	int moves[16][2];
	double wait_timeout = 120, sleep_s = 0;
	struct output outs[MAX_OUTPUTS];
	unsigned nouts = 0;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (!strcmp(a, "--list")) {
			list = true;
			takes = false;
		} else if (!strcmp(a, "--all")) {
			all = true;
			takes = false;
		} else if (!strcmp(a, "--no-damage")) {
			no_damage = true;
			takes = false;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		} else if (!v) {
			fprintf(stderr, "kms-pattern: %s needs a value (or is unknown)\n", a);
			return 2;
		} else if (!strcmp(a, "--device")) {
			device = v;
		} else if (!strcmp(a, "--connector")) {
			conn_index = strtol(v, NULL, 0);
		} else if (!strcmp(a, "--mode")) {
			if (sscanf(v, "%ux%u", &want_w, &want_h) != 2 || !want_w || !want_h ||
			    want_w > 16384 || want_h > 16384) {
				fprintf(stderr, "kms-pattern: bad --mode %s\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--seed")) {
			seed = (unsigned)strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--cursor")) {
			cursor = parse_xy(v, &cx, &cy);
			if (!cursor) {
				fprintf(stderr, "kms-pattern: bad --cursor %s\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--hot")) {
			if (!parse_xy(v, &hx, &hy)) {
				fprintf(stderr, "kms-pattern: bad --hot %s\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--move")) {
			if (nmoves >= 16 || !parse_xy(v, &moves[nmoves][0], &moves[nmoves][1])) {
				fprintf(stderr, "kms-pattern: bad --move %s\n", v);
				return 2;
			}
			nmoves++;
		} else if (!strcmp(a, "--bench")) {
			bench = v;
			if (i + 2 >= argc) {
				fprintf(stderr, "kms-pattern: --bench needs a mode and a count\n");
				return 2;
			}
			bench_n = strtol(argv[i + 2], NULL, 0);
			i++;
			if ((strcmp(bench, "full") && strcmp(bench, "rects")) || bench_n <= 0 ||
			    bench_n > 10000000) {
				fprintf(stderr, "kms-pattern: bad --bench %s %s\n", bench, argv[i + 1]);
				return 2;
			}
		} else if (!strcmp(a, "--signal")) {
			signal_path = v;
		} else if (!strcmp(a, "--wait")) {
			wait_path = v;
		} else if (!strcmp(a, "--wait-timeout")) {
			wait_timeout = strtod(v, NULL);
		} else if (!strcmp(a, "--sleep")) {
			sleep_s = strtod(v, NULL);
		} else {
			fprintf(stderr, "kms-pattern: unknown option %s\n", a);
			usage();
			return 2;
		}
		if (takes)
			i++;
	}

	int fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kms-pattern: open %s: %s\n", device, strerror(errno));
		return 1;
	}
	drmModeRes *res = drmModeGetResources(fd);
	if (!res) {
		fprintf(stderr, "kms-pattern: drmModeGetResources: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	printf("connectors %d crtcs %d\n", res->count_connectors, res->count_crtcs);
	/* A connector chosen with --connector that has no modes (QEMU reports
	 * outputs other than 0 as disconnected without a UI) borrows a mode of
	 * the same size (or the preferred one) from another connector. */
	drmModeModeInfo borrowed;
	bool have_borrowed = false;
	for (int c = 0; c < res->count_connectors && !have_borrowed; c++) {
		drmModeConnector *conn = drmModeGetConnector(fd, res->connectors[c]);

		if (!conn)
			continue;
		for (int m = 0; m < conn->count_modes && !have_borrowed; m++) {
			const drmModeModeInfo *mi = &conn->modes[m];

			if (want_w ? (mi->hdisplay == want_w && mi->vdisplay == want_h)
				   : (mi->type & DRM_MODE_TYPE_PREFERRED) != 0) {
				borrowed = *mi;
				have_borrowed = true;
			}
		}
		drmModeFreeConnector(conn);
	}
	for (int c = 0; c < res->count_connectors; c++) {
		drmModeConnector *conn = drmModeGetConnector(fd, res->connectors[c]);

		if (!conn)
			continue;
		printf("connector %d id %u type %u-%u %s modes %d", c, conn->connector_id,
		       conn->connector_type, conn->connector_type_id,
		       conn_status(conn->connection), conn->count_modes);
		if (conn->count_modes)
			printf(" first %ux%u", conn->modes[0].hdisplay, conn->modes[0].vdisplay);
		printf("\n");
		if (list) {
			for (int m = 0; m < conn->count_modes; m++)
				printf("  mode %ux%u@%u%s\n", conn->modes[m].hdisplay,
				       conn->modes[m].vdisplay, conn->modes[m].vrefresh,
				       (conn->modes[m].type & DRM_MODE_TYPE_PREFERRED) ? " preferred" : "");
		}
		bool wanted = conn_index >= 0 ? c == conn_index :
			      conn->connection == DRM_MODE_CONNECTED && (all || nouts == 0);
		if (!list && wanted && nouts < MAX_OUTPUTS && conn->count_modes == 0 &&
		    conn_index == c && have_borrowed) {
			struct output *o = &outs[nouts];

			memset(o, 0, sizeof(*o));
			o->connector_id = conn->connector_id;
			o->mode = borrowed;
			o->index = (unsigned)c;
			o->crtc_id = pick_crtc(fd, res, conn, outs, nouts);
			printf("connector %d has no modes: using %ux%u of another connector\n", c,
			       borrowed.hdisplay, borrowed.vdisplay);
			if (o->crtc_id)
				nouts++;
			else
				fprintf(stderr, "kms-pattern: no CRTC for connector %d\n", c);
		} else if (!list && wanted && nouts < MAX_OUTPUTS && conn->count_modes > 0) {
			struct output *o = &outs[nouts];
			int pick = -1;

			for (int m = 0; m < conn->count_modes; m++) {
				const drmModeModeInfo *mi = &conn->modes[m];

				if (want_w ? (mi->hdisplay == want_w && mi->vdisplay == want_h)
					   : (mi->type & DRM_MODE_TYPE_PREFERRED)) {
					pick = m;
					break;
				}
			}
			if (pick < 0 && !want_w)
				pick = 0;
			if (pick < 0) {
				fprintf(stderr, "kms-pattern: connector %d has no mode %ux%u\n", c,
					want_w, want_h);
			} else {
				memset(o, 0, sizeof(*o));
				o->connector_id = conn->connector_id;
				o->mode = conn->modes[pick];
				o->index = (unsigned)c;
				o->crtc_id = pick_crtc(fd, res, conn, outs, nouts);
				if (o->crtc_id)
					nouts++;
				else
					fprintf(stderr, "kms-pattern: no CRTC for connector %d\n", c);
			}
		}
		drmModeFreeConnector(conn);
	}
	if (list) {
		ret = 0;
		goto out;
	}
	if (nouts == 0) {
		fprintf(stderr, "kms-pattern: no usable connector\n");
		goto out;
	}

	struct dumb cur = { 0 };
	for (unsigned k = 0; k < nouts; k++) {
		struct output *o = &outs[k];
		uint32_t w = o->mode.hdisplay, h = o->mode.vdisplay;
		int r = dumb_create(fd, w, h, true, &o->fb);

		if (r < 0) {
			fprintf(stderr, "kms-pattern: dumb buffer %ux%u: %s\n", w, h, strerror(-r));
			goto out_fbs;
		}
		/* Black first: the mode set transfers the whole (black) frame. */
		if (drmModeSetCrtc(fd, o->crtc_id, o->fb.fb_id, 0, 0, &o->connector_id, 1, &o->mode)) {
			fprintf(stderr, "kms-pattern: SetCrtc %ux%u: %s\n", w, h, strerror(errno));
			goto out_fbs;
		}
		printf("mode %ux%u connector %u crtc %u fb %u\n", w, h, o->connector_id, o->crtc_id,
		       o->fb.fb_id);
		/* Then the pattern, visible to the host only through damage. */
		fill_rect(&o->fb, 0, 0, w, h, true, seed + (all ? o->index : 0), 0);
		if (!no_damage) {
			if (damage(fd, &o->fb, 0, 0, w, h)) {
				fprintf(stderr, "kms-pattern: DIRTYFB: %s\n", strerror(errno));
				goto out_fbs;
			}
			printf("damage %ux%u seed %u ok\n", w, h, seed + (all ? o->index : 0));
		}
	}
	if (cursor) {
		int r = dumb_create(fd, CURSOR_SIZE, CURSOR_SIZE, false, &cur);

		if (r < 0) {
			fprintf(stderr, "kms-pattern: cursor buffer: %s\n", strerror(-r));
			goto out_fbs;
		}
		for (uint32_t y = 0; y < CURSOR_SIZE; y++)
			for (uint32_t x = 0; x < CURSOR_SIZE; x++)
				cur.map[y * (cur.pitch / 4) + x] = cursor_pixel(x, y);
		if (drmModeSetCursor2(fd, outs[0].crtc_id, cur.handle, CURSOR_SIZE, CURSOR_SIZE, hx, hy)) {
			fprintf(stderr, "kms-pattern: SetCursor2: %s\n", strerror(errno));
			goto out_cursor;
		}
		if (drmModeMoveCursor(fd, outs[0].crtc_id, cx, cy)) {
			fprintf(stderr, "kms-pattern: MoveCursor: %s\n", strerror(errno));
			goto out_cursor;
		}
		printf("cursor %dx%d hot %d,%d at %d,%d ok\n", CURSOR_SIZE, CURSOR_SIZE, hx, hy, cx, cy);
		for (int m = 0; m < nmoves; m++) {
			usleep(200000);
			if (drmModeMoveCursor(fd, outs[0].crtc_id, moves[m][0], moves[m][1])) {
				fprintf(stderr, "kms-pattern: MoveCursor: %s\n", strerror(errno));
				goto out_cursor;
			}
			printf("cursor move %d,%d ok\n", moves[m][0], moves[m][1]);
		}
	}
	if (bench) {
		struct output *o = &outs[0];
		uint32_t w = o->fb.width, h = o->fb.height, lcg = 12345;
		double t0 = now();
		long fails = 0;

		for (long n = 0; n < bench_n; n++) {
			uint32_t color = 0xff000000u | (uint32_t)(n * 0x010203u);

			if (!strcmp(bench, "full")) {
				fill_rect(&o->fb, 0, 0, w, h, false, 0, color);
				fails += damage(fd, &o->fb, 0, 0, w, h) != 0;
			} else {
				uint32_t x, y;

				lcg = lcg * 1103515245u + 12345u;
				x = (lcg >> 8) % (w > 32 ? w - 32 : 1);
				lcg = lcg * 1103515245u + 12345u;
				y = (lcg >> 8) % (h > 32 ? h - 32 : 1);
				fill_rect(&o->fb, x, y, 32, 32, false, 0, color);
				fails += damage(fd, &o->fb, x, y, 32, 32) != 0;
			}
		}
		double dt = now() - t0;
		printf("bench %s %ld %ux%u %.3f s %.1f per s failures %ld\n", bench, bench_n, w, h, dt,
		       (double)bench_n / (dt > 0 ? dt : 1e-9), fails);
		if (fails)
			goto out_cursor;
	}
	fflush(stdout);
	if (signal_path) {
		int sfd = open(signal_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (sfd < 0)
			fprintf(stderr, "kms-pattern: create %s: %s\n", signal_path, strerror(errno));
		else
			close(sfd);
	}
	if (wait_path && !wait_file(wait_path, wait_timeout)) {
		fprintf(stderr, "kms-pattern: timeout waiting for %s\n", wait_path);
		goto out_cursor;
	}
	if (sleep_s > 0)
		usleep((useconds_t)(sleep_s * 1e6));
	printf("done\n");
	ret = 0;
out_cursor:
	if (cur.handle) {
		drmModeSetCursor(fd, outs[0].crtc_id, 0, 0, 0);
		dumb_destroy(fd, &cur);
	}
out_fbs:
	for (unsigned k = 0; k < nouts; k++)
		dumb_destroy(fd, &outs[k].fb);
out:
	drmModeFreeResources(res);
	close(fd);
	return ret;
}
