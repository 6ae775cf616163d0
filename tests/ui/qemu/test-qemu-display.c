// SPDX-License-Identifier: MIT
/*
 * The QEMU display sink against a socketpair where the test plays QEMU's
 * side of the vhost-user-gpu display protocol: every message is checked
 * byte for byte (sizes and field offsets written out here independently of
 * the sink's own structs), and QEMU's replies include hostile ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <drm_fourcc.h>

#include <vgi/qemu-display.h>
#include <vgi/sinks.h>

/* Request codes and sizes, from QEMU docs/interop/vhost-user-gpu.rst. */
enum {
	GET_PROTOCOL_FEATURES = 1, SET_PROTOCOL_FEATURES, GET_DISPLAY_INFO, CURSOR_POS, CURSOR_POS_HIDE,
	CURSOR_UPDATE, SCANOUT, UPDATE, DMABUF_SCANOUT, DMABUF_UPDATE, GET_EDID, DMABUF_SCANOUT2,
};
#define REPLY_FLAG 4u
#define DISPLAY_INFO_SIZE 408	/* virtio_gpu_ctrl_hdr (24) + 16 * (rect 16 + enabled 4 + flags 4) */
#define EDID_REPLY_SIZE 1056	/* hdr 24 + size 4 + padding 4 + 1024 */

/* ---- recorded host callbacks ---- */

static struct {
	unsigned outputs;
	struct { uint32_t id; bool connected; uint32_t w, h; } out[64];
	unsigned edids;
	struct { uint32_t id; uint32_t size; uint8_t first, last; } edid[64];
} rec;

static void on_output(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	assert_true(rec.outputs < 64);
	rec.out[rec.outputs].id = id;
	rec.out[rec.outputs].connected = connected;
	rec.out[rec.outputs].w = w;
	rec.out[rec.outputs].h = h;
	rec.outputs++;
}

static void on_edid(void *opaque, uint32_t id, const uint8_t *blob, uint32_t size)
{
	assert_true(rec.edids < 64);
	rec.edid[rec.edids].id = id;
	rec.edid[rec.edids].size = size;
	rec.edid[rec.edids].first = blob[0];
	rec.edid[rec.edids].last = blob[size - 1];
	rec.edids++;
}

static const struct vgi_display_host host = { .output_changed = on_output, .edid = on_edid };

/* ---- QEMU's side ---- */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Read n bytes (2 s at most); collects a passed fd if any. */
static void read_exact(int fd, void *buf, size_t n, int *passed_fd)
{
	uint8_t *p = buf;

	while (n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 4)];
		} control;
		struct iovec iov = { .iov_base = p, .iov_len = n };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.b,
				    .msg_controllen = sizeof(control.b) };
		ssize_t r;

		assert_int_equal(poll(&pf, 1, 2000), 1);
		r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		assert_true(r > 0);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int got;

				assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
				memcpy(&got, CMSG_DATA(c), sizeof(int));
				assert_non_null(passed_fd);
				assert_int_equal(*passed_fd, -1);
				*passed_fd = got;
			}
		}
		p += r;
		n -= (size_t)r;
	}
}

/* Read one message; check its header; return the payload (caller frees). */
static uint8_t *expect_msg(int fd, uint32_t req, uint32_t size, int *passed_fd)
{
	uint8_t h[12];
	uint8_t *payload;

	if (passed_fd)
		*passed_fd = -1;
	read_exact(fd, h, 12, passed_fd);
	if (get32(h) != req)
		fail_msg("got request %u, want %u", get32(h), req);
	assert_int_equal(get32(h + 4), 0);	/* requests carry no flags */
	assert_int_equal(get32(h + 8), size);
	payload = malloc(size ? size : 1);
	assert_non_null(payload);
	if (size)
		read_exact(fd, payload, size, passed_fd);
	return payload;
}

static void expect_nothing(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pf, 1, 20), 0);
}

static void write_all(int fd, const void *buf, size_t n)
{
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void reply(int fd, uint32_t req, const void *payload, uint32_t size)
{
	uint8_t h[12];

	put32(h, req);
	put32(h + 4, REPLY_FLAG);
	put32(h + 8, size);
	write_all(fd, h, 12);
	if (size)
		write_all(fd, payload, size);
}

static void reply_features(int fd, uint64_t f)
{
	reply(fd, GET_PROTOCOL_FEATURES, &f, 8);
}

/* Display info with the given enabled outputs (w, h; 0 = disabled). */
static void reply_display_info(int fd, const uint32_t (*modes)[2], unsigned n)
{
	uint8_t p[DISPLAY_INFO_SIZE] = { 0 };

	put32(p, 0x1101);	/* VIRTIO_GPU_RESP_OK_DISPLAY_INFO */
	for (unsigned i = 0; i < n; i++) {
		uint8_t *m = p + 24 + i * 24;

		put32(m + 8, modes[i][0]);
		put32(m + 12, modes[i][1]);
		put32(m + 16, modes[i][0] != 0);
	}
	reply(fd, GET_DISPLAY_INFO, p, sizeof(p));
}

static void reply_edid(int fd, uint32_t size, uint8_t seed)
{
	uint8_t p[EDID_REPLY_SIZE] = { 0 };

	put32(p, 0x1104);	/* VIRTIO_GPU_RESP_OK_EDID */
	put32(p + 24, size);
	for (unsigned i = 0; i < 1024; i++)
		p[32 + i] = (uint8_t)(seed + i);
	reply(fd, GET_EDID, p, sizeof(p));
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct conn {
	struct vgi_qemu_display *qd;
	int peer;
	unsigned fds_before;
};

static void conn_open(struct conn *c)
{
	int sv[2];

	memset(&rec, 0, sizeof(rec));
	c->fds_before = open_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->qd = vgi_qemu_display_new(&host);
	assert_non_null(c->qd);
	c->peer = sv[1];
	assert_int_equal(vgi_qemu_display_set_socket(c->qd, sv[0]), 0);
	assert_true(vgi_qemu_display_connected(c->qd));
	assert_int_equal(vgi_qemu_display_get_fd(c->qd), sv[0]);
	free(expect_msg(c->peer, GET_PROTOCOL_FEATURES, 0, NULL));
}

/* Connect and negotiate: features f, outputs from modes (EDIDs answered when F_EDID). */
static void conn_ready(struct conn *c, uint64_t f)
{
	static const uint32_t modes[][2] = { { 1024, 768 } };
	uint8_t *p;

	conn_open(c);
	reply_features(c->peer, f);
	assert_int_equal(vgi_qemu_display_dispatch(c->qd), 0);
	p = expect_msg(c->peer, SET_PROTOCOL_FEATURES, 8, NULL);
	assert_int_equal(get64(p), f & 3);
	free(p);
	free(expect_msg(c->peer, GET_DISPLAY_INFO, 0, NULL));
	reply_display_info(c->peer, modes, 1);
	assert_int_equal(vgi_qemu_display_dispatch(c->qd), 0);
	if (f & 1) {
		p = expect_msg(c->peer, GET_EDID, 4, NULL);
		assert_int_equal(get32(p), 0);
		free(p);
		reply_edid(c->peer, 128, 0);
		assert_int_equal(vgi_qemu_display_dispatch(c->qd), 0);
	}
	expect_nothing(c->peer);
}

static void conn_close(struct conn *c)
{
	vgi_qemu_display_ops()->destroy(c->qd);
	close(c->peer);
	assert_int_equal(open_fds(), c->fds_before);
}

/* The sink closed its end: the peer reads EOF (after whatever was queued). */
static void expect_closed(struct conn *c)
{
	uint8_t buf[4096];
	ssize_t r;

	assert_false(vgi_qemu_display_connected(c->qd));
	assert_int_equal(vgi_qemu_display_get_fd(c->qd), -1);
	do {
		struct pollfd pf = { .fd = c->peer, .events = POLLIN };

		assert_int_equal(poll(&pf, 1, 2000), 1);
		r = recv(c->peer, buf, sizeof(buf), 0);
	} while (r > 0);
	assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
}

struct late_write {
	int fd;
	const void *buf;
	size_t n;
};

static void *write_later(void *arg)
{
	struct late_write *w = arg;

	usleep(50 * 1000);
	write_all(w->fd, w->buf, w->n);
	return NULL;
}

/* ---- negotiation ---- */

static void test_negotiation_full(void **state)
{
	static const uint32_t modes[][2] = { { 1024, 768 }, { 0, 0 }, { 800, 600 } };
	static const uint32_t modes2[][2] = { { 1280, 720 } };
	struct conn c;
	uint64_t f = 0;
	uint8_t *p;

	conn_open(&c);
	/* nothing to read yet: dispatch returns at once */
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_false(vgi_qemu_display_features(c.qd, &f));
	/* QEMU 10 offers EDID and DMABUF2 (and a bit we do not know) */
	reply_features(c.peer, 0x3 | 1u << 7);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	p = expect_msg(c.peer, SET_PROTOCOL_FEATURES, 8, NULL);
	assert_int_equal(get64(p), 3);
	free(p);
	assert_true(vgi_qemu_display_features(c.qd, &f));
	assert_int_equal(f, VGI_QEMU_DISPLAY_F_EDID | VGI_QEMU_DISPLAY_F_DMABUF2);
	free(expect_msg(c.peer, GET_DISPLAY_INFO, 0, NULL));
	expect_nothing(c.peer);

	reply_display_info(c.peer, modes, 3);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.outputs, 2);
	assert_int_equal(rec.out[0].id, 0);
	assert_true(rec.out[0].connected);
	assert_int_equal(rec.out[0].w, 1024);
	assert_int_equal(rec.out[0].h, 768);
	assert_int_equal(rec.out[1].id, 2);
	assert_int_equal(rec.out[1].w, 800);
	assert_int_equal(rec.out[1].h, 600);
	/* one GET_EDID per enabled output, payload = scanout id */
	p = expect_msg(c.peer, GET_EDID, 4, NULL);
	assert_int_equal(get32(p), 0);
	free(p);
	p = expect_msg(c.peer, GET_EDID, 4, NULL);
	assert_int_equal(get32(p), 2);
	free(p);
	expect_nothing(c.peer);
	/* both replies in one go, the second split across writes */
	reply_edid(c.peer, 128, 0x10);
	{
		uint8_t e[12 + EDID_REPLY_SIZE] = { 0 };

		put32(e, GET_EDID);
		put32(e + 4, REPLY_FLAG);
		put32(e + 8, EDID_REPLY_SIZE);
		put32(e + 12, 0x1104);
		put32(e + 12 + 24, 256);
		for (unsigned i = 0; i < 1024; i++)
			e[12 + 32 + i] = (uint8_t)(0x20 + i);
		struct late_write lw = { .fd = c.peer, .buf = e + 7, .n = sizeof(e) - 7 };
		pthread_t t;

		write_all(c.peer, e, 7);
		/* dispatch reads the first, then waits for the rest of the one that started */
		assert_int_equal(pthread_create(&t, NULL, write_later, &lw), 0);
		assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
		pthread_join(t, NULL);
	}
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.edids, 2);
	assert_int_equal(rec.edid[0].id, 0);
	assert_int_equal(rec.edid[0].size, 128);
	assert_int_equal(rec.edid[0].first, 0x10);
	assert_int_equal(rec.edid[0].last, (uint8_t)(0x10 + 127));
	assert_int_equal(rec.edid[1].id, 2);
	assert_int_equal(rec.edid[1].size, 256);
	assert_int_equal(rec.edid[1].first, 0x20);
	assert_int_equal(rec.edid[1].last, (uint8_t)(0x20 + 255));

	/* asking again: output 2 went away, output 0 resized */
	rec.outputs = rec.edids = 0;
	assert_int_equal(vgi_qemu_display_request_display_info(c.qd), 0);
	free(expect_msg(c.peer, GET_DISPLAY_INFO, 0, NULL));
	reply_display_info(c.peer, modes2, 1);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.outputs, 2);
	assert_int_equal(rec.out[0].id, 0);
	assert_int_equal(rec.out[0].w, 1280);
	assert_int_equal(rec.out[1].id, 2);
	assert_false(rec.out[1].connected);
	p = expect_msg(c.peer, GET_EDID, 4, NULL);
	assert_int_equal(get32(p), 0);
	free(p);
	expect_nothing(c.peer);
	reply_edid(c.peer, 128, 1);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.edids, 1);
	assert_true(vgi_qemu_display_connected(c.qd));
	conn_close(&c);
}

/* QEMU 7.2: no EDID, no DMABUF2. No GET_EDID is ever sent, dmabufs go as DMABUF_SCANOUT. */
static void test_negotiation_old_qemu(void **state)
{
	static const uint32_t modes[][2] = { { 640, 480 }, { 0, 0 } };
	struct vgi_gl_scanout gl = {
		.enabled = true, .fourcc = DRM_FORMAT_XRGB8888, .modifier = DRM_FORMAT_MOD_LINEAR,
		.stride = 256, .buf_width = 64, .buf_height = 32, .width = 64, .height = 32, .y0_top = true,
	};
	struct conn c;
	uint64_t f = 99;
	int passed;
	uint8_t *p;

	conn_open(&c);
	reply_features(c.peer, 0);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	p = expect_msg(c.peer, SET_PROTOCOL_FEATURES, 8, NULL);
	assert_int_equal(get64(p), 0);
	free(p);
	assert_true(vgi_qemu_display_features(c.qd, &f));
	assert_int_equal(f, 0);
	free(expect_msg(c.peer, GET_DISPLAY_INFO, 0, NULL));
	reply_display_info(c.peer, modes, 2);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.outputs, 1);
	assert_int_equal(rec.out[0].w, 640);
	expect_nothing(c.peer);	/* no GET_EDID */
	assert_int_equal(rec.edids, 0);

	gl.dmabuf_fd = memfd_create("dmabuf", MFD_CLOEXEC);
	assert_true(gl.dmabuf_fd >= 0);
	vgi_qemu_display_ops()->scanout_gl(c.qd, 0, &gl);
	p = expect_msg(c.peer, DMABUF_SCANOUT, 40, &passed);
	assert_true(passed >= 0);
	assert_int_equal(get32(p + 32), 1);	/* y0_top */
	free(p);
	close(passed);
	/* a tiled modifier cannot be expressed: sent anyway (logged), still without SCANOUT2 */
	gl.modifier = 0x0100000000000001ull;	/* I915_FORMAT_MOD_X_TILED */
	vgi_qemu_display_ops()->scanout_gl(c.qd, 0, &gl);
	p = expect_msg(c.peer, DMABUF_SCANOUT, 40, &passed);
	assert_true(passed >= 0);
	free(p);
	close(passed);
	expect_nothing(c.peer);
	close(gl.dmabuf_fd);
	conn_close(&c);
}

/* ---- layouts ---- */

static void test_scanout_update_layout(void **state)
{
	enum { W = 8, H = 6, STRIDE = W * 4 + 12 };
	uint8_t *src = calloc(STRIDE, H);
	struct vgi_image img = { .width = W, .height = H, .stride = STRIDE, .format = DRM_FORMAT_XRGB8888, .data = src };
	struct vgi_scanout so = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };
	struct vgi_rect r = { 2, 1, 3, 2 };
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct conn c;
	uint8_t *p;

	conn_ready(&c, 3);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			put32(src + y * STRIDE + x * 4, 0x5a000000u | y << 16 | x << 8 | 0x77);
	ops->scanout(c.qd, 1, &so);
	p = expect_msg(c.peer, SCANOUT, 12, NULL);
	assert_int_equal(get32(p + 0), 1);
	assert_int_equal(get32(p + 4), W);
	assert_int_equal(get32(p + 8), H);
	free(p);
	/* same mode again (page flip): QEMU keeps its surface, nothing sent */
	ops->scanout(c.qd, 1, &so);
	expect_nothing(c.peer);

	/* first update after SCANOUT: the whole frame (QEMU's new surface is empty) */
	ops->update(c.qd, 1, &r, &img);
	p = expect_msg(c.peer, UPDATE, 20 + W * H * 4, NULL);
	assert_int_equal(get32(p + 0), 1);
	assert_int_equal(get32(p + 4), 0);
	assert_int_equal(get32(p + 8), 0);
	assert_int_equal(get32(p + 12), W);
	assert_int_equal(get32(p + 16), H);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			assert_int_equal(get32(p + 20 + (y * W + x) * 4), 0x5a000000u | y << 16 | x << 8 | 0x77);
	free(p);
	/* then the damage only, rows packed (stride W'*4) */
	ops->update(c.qd, 1, &r, &img);
	p = expect_msg(c.peer, UPDATE, 20 + 3 * 2 * 4, NULL);
	assert_int_equal(get32(p + 4), 2);
	assert_int_equal(get32(p + 8), 1);
	assert_int_equal(get32(p + 12), 3);
	assert_int_equal(get32(p + 16), 2);
	for (unsigned y = 0; y < 2; y++)
		for (unsigned x = 0; x < 3; x++)
			assert_int_equal(get32(p + 20 + (y * 3 + x) * 4), 0x5a000000u | (y + 1) << 16 | (x + 2) << 8 | 0x77);
	free(p);
	/* damage off the edge is clipped; outside or empty sends nothing */
	r = (struct vgi_rect){ 6, 5, 100, 100 };
	ops->update(c.qd, 1, &r, &img);
	p = expect_msg(c.peer, UPDATE, 20 + 2 * 1 * 4, NULL);
	assert_int_equal(get32(p + 4), 6);
	assert_int_equal(get32(p + 8), 5);
	assert_int_equal(get32(p + 12), 2);
	assert_int_equal(get32(p + 16), 1);
	free(p);
	r = (struct vgi_rect){ W, 0, 1, 1 };
	ops->update(c.qd, 1, &r, &img);
	r = (struct vgi_rect){ 0, 0, 0, 1 };
	ops->update(c.qd, 1, &r, &img);
	r = (struct vgi_rect){ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX };
	ops->update(c.qd, 1, &r, &img);
	ops->update(c.qd, 0, &r, &img);		/* scanout 0 never set */
	ops->update(c.qd, VGI_MAX_SCANOUTS, &r, &img);
	expect_nothing(c.peer);

	/* other formats are converted to x8r8g8b8 (top byte 0xff) */
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			put32(src + y * STRIDE + x * 4, 0x11000000u | (0x40 + x) << 16 | (0x80 + y) << 8 | 0xc0);	/* A B G R */
	img.format = DRM_FORMAT_ABGR8888;
	r = (struct vgi_rect){ 1, 2, 2, 2 };
	ops->update(c.qd, 1, &r, &img);
	p = expect_msg(c.peer, UPDATE, 20 + 2 * 2 * 4, NULL);
	for (unsigned y = 0; y < 2; y++)
		for (unsigned x = 0; x < 2; x++)
			assert_int_equal(get32(p + 20 + (y * 2 + x) * 4),
					 0xff000000u | 0xc0 << 16 | (0x80 + y + 2) << 8 | (0x40 + x + 1));
	free(p);
	img.format = DRM_FORMAT_RGBX8888;
	r = (struct vgi_rect){ 0, 0, 1, 1 };
	put32(src, 0x12345678);	/* R=12 G=34 B=56 X=78 */
	ops->update(c.qd, 1, &r, &img);
	p = expect_msg(c.peer, UPDATE, 24, NULL);
	assert_int_equal(get32(p + 20), 0xff123456);
	free(p);
	/* bad images are refused */
	img.format = DRM_FORMAT_RGB565;
	ops->update(c.qd, 1, &r, &img);
	img.format = DRM_FORMAT_XRGB8888;
	img.stride = W * 4 - 1;
	ops->update(c.qd, 1, &r, &img);
	expect_nothing(c.peer);

	/* resize: a new SCANOUT and a full update */
	so.width = 4;
	img.stride = STRIDE;
	ops->scanout(c.qd, 1, &so);
	p = expect_msg(c.peer, SCANOUT, 12, NULL);
	assert_int_equal(get32(p + 4), 4);
	free(p);
	r = (struct vgi_rect){ 0, 0, 1, 1 };
	ops->update(c.qd, 1, &r, &img);
	free(expect_msg(c.peer, UPDATE, 20 + 4 * H * 4, NULL));
	/* disable: SCANOUT with 0x0; updates then go nowhere */
	ops->scanout(c.qd, 1, &(struct vgi_scanout){ .enabled = false });
	p = expect_msg(c.peer, SCANOUT, 12, NULL);
	assert_int_equal(get32(p + 0), 1);
	assert_int_equal(get32(p + 4), 0);
	assert_int_equal(get32(p + 8), 0);
	free(p);
	ops->update(c.qd, 1, &r, &img);
	/* unusable sizes disable too; out-of-range ids are ignored */
	ops->scanout(c.qd, 2, &(struct vgi_scanout){ .enabled = true, .width = 0, .height = 5 });
	ops->scanout(c.qd, VGI_MAX_SCANOUTS, &so);
	expect_nothing(c.peer);
	assert_true(vgi_qemu_display_connected(c.qd));
	free(src);
	conn_close(&c);
}

struct big_reader {
	int fd;
	uint32_t w, h;
	bool ok;
	unsigned messages;
};

static void *big_read(void *arg)
{
	struct big_reader *b = arg;
	uint32_t y0 = 0;

	b->ok = true;
	while (y0 < b->h) {
		uint8_t h[32];
		size_t bytes;
		uint8_t *px;

		read_exact(b->fd, h, 32, NULL);
		if (get32(h) != UPDATE || get32(h + 16) != 0 || get32(h + 20) != y0 || get32(h + 24) != b->w) {
			b->ok = false;
			return NULL;
		}
		bytes = (size_t)get32(h + 24) * get32(h + 28) * 4;
		if (get32(h + 8) != 20 + bytes || bytes > (16u << 20)) {
			b->ok = false;
			return NULL;
		}
		px = malloc(bytes);
		read_exact(b->fd, px, bytes, NULL);
		for (uint32_t y = 0; y < get32(h + 28); y++)
			if (get32(px + (size_t)y * b->w * 4 + 4) != y0 + y)
				b->ok = false;
		free(px);
		y0 += get32(h + 28);
		b->messages++;
	}
	return NULL;
}

/* A frame over 16 MiB is sent as several UPDATEs of whole rows. */
static void drain(struct vgi_qemu_display *qd);

static void test_large_update_bands(void **state)
{
	enum { W = 2048, H = 2100 };	/* 17.2 MB */
	uint32_t *src = malloc((size_t)W * H * 4);
	struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = DRM_FORMAT_XRGB8888, .data = src };
	struct vgi_rect r = { 0, 0, W, H };
	struct big_reader b = { .w = W, .h = H };
	struct conn c;
	pthread_t t;

	conn_ready(&c, 0);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			src[(size_t)y * W + x] = x == 1 ? y : x;
	vgi_qemu_display_ops()->scanout(c.qd, 0, &(struct vgi_scanout){ .enabled = true, .width = W, .height = H,
								     .format = DRM_FORMAT_XRGB8888 });
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	b.fd = c.peer;
	assert_int_equal(pthread_create(&t, NULL, big_read, &b), 0);
	vgi_qemu_display_ops()->update(c.qd, 0, &r, &img);
	drain(c.qd);
	pthread_join(t, NULL);
	assert_true(b.ok);
	assert_int_equal(b.messages, 2);
	assert_true(vgi_qemu_display_connected(c.qd));
	free(src);
	conn_close(&c);
}

struct update_call {
	struct vgi_qemu_display *qd;
	uint32_t id;
	struct vgi_rect r;
	const struct vgi_image *img;
};

/* Sends never wait: what the socket did not take goes when it is writable, as the program's loop would do. */
static void drain(struct vgi_qemu_display *qd)
{
	while (vgi_qemu_display_wants_write(qd)) {
		struct pollfd pf = { .fd = vgi_qemu_display_get_fd(qd), .events = POLLOUT };

		assert_int_equal(poll(&pf, 1, 5000), 1);
		assert_int_equal(vgi_qemu_display_dispatch(qd), 0);
	}
}

static void *update_thread(void *arg)
{
	struct update_call *u = arg;

	vgi_qemu_display_ops()->update(u->qd, u->id, &u->r, u->img);
	drain(u->qd);
	return NULL;
}

/* Updates over 64 KiB narrower than the image go out as one iovec per row: check every row. */
static void test_wide_update_rows(void **state)
{
	enum { W = 300, H = 120, STRIDE = W * 4 + 36, RW = 200, RH = 110, RX = 37, RY = 5 };
	uint8_t *src = calloc(STRIDE, H);
	struct vgi_image img = { .width = W, .height = H, .stride = STRIDE, .format = DRM_FORMAT_XRGB8888, .data = src };
	struct update_call u;
	struct conn c;
	pthread_t t;
	uint8_t *p;

	conn_ready(&c, 0);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			put32(src + y * STRIDE + x * 4, y << 16 | x);
	vgi_qemu_display_ops()->scanout(c.qd, 0, &(struct vgi_scanout){ .enabled = true, .width = W, .height = H,
									 .format = DRM_FORMAT_XRGB8888 });
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	/* the first update is the whole frame (144 KB, padded stride) */
	u = (struct update_call){ c.qd, 0, { RX, RY, RW, RH }, &img };
	assert_int_equal(pthread_create(&t, NULL, update_thread, &u), 0);
	p = expect_msg(c.peer, UPDATE, 20 + W * H * 4, NULL);
	pthread_join(t, NULL);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			assert_int_equal(get32(p + 20 + (y * W + x) * 4), y << 16 | x);
	free(p);
	/* then the damage: 88 KB, rows of 800 bytes out of 1236-byte source rows */
	assert_int_equal(pthread_create(&t, NULL, update_thread, &u), 0);
	p = expect_msg(c.peer, UPDATE, 20 + RW * RH * 4, NULL);
	pthread_join(t, NULL);
	assert_int_equal(get32(p + 4), RX);
	assert_int_equal(get32(p + 8), RY);
	assert_int_equal(get32(p + 12), RW);
	assert_int_equal(get32(p + 16), RH);
	for (unsigned y = 0; y < RH; y++)
		for (unsigned x = 0; x < RW; x++)
			assert_int_equal(get32(p + 20 + (y * RW + x) * 4), (y + RY) << 16 | (x + RX));
	free(p);
	expect_nothing(c.peer);
	assert_true(vgi_qemu_display_connected(c.qd));
	free(src);
	conn_close(&c);
}

static void test_cursor_layout(void **state)
{
	static uint32_t img[64 * 64];
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct vgi_cursor cur = { .visible = true, .x = -10, .y = 20, .hot_x = 3, .hot_y = 4, .image_changed = true,
				  .pixels = img };
	struct conn c;
	uint8_t *p;

	for (unsigned i = 0; i < 64 * 64; i++)
		img[i] = 0x80000000u | i;
	conn_ready(&c, 3);
	ops->cursor(c.qd, 2, &cur);
	p = expect_msg(c.peer, CURSOR_UPDATE, 12 + 8 + 64 * 64 * 4, NULL);
	assert_int_equal(get32(p + 0), 2);
	assert_int_equal(get32(p + 4), (uint32_t)-10);
	assert_int_equal(get32(p + 8), 20);
	assert_int_equal(get32(p + 12), 3);
	assert_int_equal(get32(p + 16), 4);
	assert_memory_equal(p + 20, img, sizeof(img));
	free(p);
	/* move */
	cur.image_changed = false;
	cur.pixels = NULL;
	cur.x = 100;
	ops->cursor(c.qd, 2, &cur);
	p = expect_msg(c.peer, CURSOR_POS, 12, NULL);
	assert_int_equal(get32(p + 0), 2);
	assert_int_equal(get32(p + 4), 100);
	assert_int_equal(get32(p + 8), 20);
	free(p);
	/* hide, show */
	cur.visible = false;
	ops->cursor(c.qd, 2, &cur);
	p = expect_msg(c.peer, CURSOR_POS_HIDE, 12, NULL);
	assert_int_equal(get32(p + 0), 2);
	free(p);
	cur.visible = true;
	ops->cursor(c.qd, 2, &cur);
	free(expect_msg(c.peer, CURSOR_POS, 12, NULL));
	/* a new hot spot needs the whole image again */
	cur.hot_x = 7;
	ops->cursor(c.qd, 2, &cur);
	p = expect_msg(c.peer, CURSOR_UPDATE, 16404, NULL);
	assert_int_equal(get32(p + 12), 7);
	assert_memory_equal(p + 20, img, sizeof(img));
	free(p);
	/* image defined while hidden: sent when shown */
	img[0] = 0xffffffff;
	cur = (struct vgi_cursor){ .visible = false, .x = 1, .y = 2, .hot_x = 7, .hot_y = 4, .image_changed = true,
				   .pixels = img };
	ops->cursor(c.qd, 2, &cur);
	free(expect_msg(c.peer, CURSOR_POS_HIDE, 12, NULL));
	cur.visible = true;
	cur.image_changed = false;
	ops->cursor(c.qd, 2, &cur);
	p = expect_msg(c.peer, CURSOR_UPDATE, 16404, NULL);
	assert_int_equal(get32(p + 20), 0xffffffff);
	free(p);
	ops->cursor(c.qd, VGI_MAX_SCANOUTS, &cur);
	expect_nothing(c.peer);
	conn_close(&c);
}

struct replier {
	int fd;
	volatile bool replied;
	uint8_t payload[20];
};

static void *reply_later(void *arg)
{
	struct replier *r = arg;
	uint8_t *p = expect_msg(r->fd, DMABUF_UPDATE, 20, NULL);

	memcpy(r->payload, p, 20);
	free(p);
	usleep(100 * 1000);
	r->replied = true;
	reply(r->fd, DMABUF_UPDATE, NULL, 0);
	return NULL;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_dmabuf_layout(void **state)
{
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct vgi_gl_scanout gl = {
		.enabled = true, .fourcc = DRM_FORMAT_ABGR8888, .modifier = 0x0100000000000002ull,
		.stride = 4096, .offset = 0, .buf_width = 1024, .buf_height = 800,
		.x = 16, .y = 32, .width = 640, .height = 480, .y0_top = false,
	};
	struct vgi_rect r = { 10, 20, 30, 40 };
	struct replier rp;
	struct conn c;
	pthread_t t;
	int passed;
	uint8_t *p;

	conn_ready(&c, 3);
	gl.dmabuf_fd = memfd_create("dmabuf", MFD_CLOEXEC);
	assert_true(gl.dmabuf_fd >= 0);
	ops->scanout_gl(c.qd, 3, &gl);
	p = expect_msg(c.peer, DMABUF_SCANOUT2, 48, &passed);
	assert_int_equal(get32(p + 0), 3);
	assert_int_equal(get32(p + 4), 16);
	assert_int_equal(get32(p + 8), 32);
	assert_int_equal(get32(p + 12), 640);
	assert_int_equal(get32(p + 16), 480);
	assert_int_equal(get32(p + 20), 1024);
	assert_int_equal(get32(p + 24), 800);
	assert_int_equal(get32(p + 28), 4096);
	assert_int_equal(get32(p + 32), 0);
	assert_int_equal(get32(p + 36), DRM_FORMAT_ABGR8888);
	assert_int_equal(get64(p + 40), 0x0100000000000002ull);
	free(p);
	assert_true(passed >= 0);
	assert_true(same_file(passed, gl.dmabuf_fd));
	close(passed);

	/* DMABUF_UPDATE waits for QEMU's answer (here without bound; by default one refresh) */
	vgi_qemu_display_set_timeout(c.qd, -1);
	rp = (struct replier){ .fd = c.peer };
	assert_int_equal(pthread_create(&t, NULL, reply_later, &rp), 0);
	ops->gl_update(c.qd, 3, &r);
	assert_true(rp.replied);
	pthread_join(t, NULL);
	assert_int_equal(get32(rp.payload + 0), 3);
	assert_int_equal(get32(rp.payload + 4), 10);
	assert_int_equal(get32(rp.payload + 8), 20);
	assert_int_equal(get32(rp.payload + 12), 30);
	assert_int_equal(get32(rp.payload + 16), 40);
	/* damage is clipped to the visible size */
	r = (struct vgi_rect){ 600, 470, 100, 100 };
	rp = (struct replier){ .fd = c.peer };
	assert_int_equal(pthread_create(&t, NULL, reply_later, &rp), 0);
	ops->gl_update(c.qd, 3, &r);
	pthread_join(t, NULL);
	assert_int_equal(get32(rp.payload + 12), 40);
	assert_int_equal(get32(rp.payload + 16), 10);
	/* the device's fd may be closed: the sink holds its own */
	close(gl.dmabuf_fd);
	/* a bad geometry disables it */
	gl.dmabuf_fd = memfd_create("dmabuf2", MFD_CLOEXEC);
	gl.x = 500;
	ops->scanout_gl(c.qd, 3, &gl);
	close(gl.dmabuf_fd);
	p = expect_msg(c.peer, DMABUF_SCANOUT, 40, &passed);
	assert_int_equal(passed, -1);
	assert_int_equal(get32(p + 0), 3);
	for (unsigned i = 4; i < 40; i += 4)
		assert_int_equal(get32(p + i), 0);
	free(p);
	/* and gl_update on a disabled scanout sends nothing */
	ops->gl_update(c.qd, 3, &r);
	expect_nothing(c.peer);
	/* texture-only scanouts cannot reach QEMU */
	gl.x = 0;
	gl.dmabuf_fd = -1;
	ops->scanout_gl(c.qd, 4, &gl);
	expect_nothing(c.peer);
	/* 2D after dmabuf on the same scanout: dmabuf disabled, then SCANOUT */
	gl.dmabuf_fd = memfd_create("dmabuf3", MFD_CLOEXEC);
	ops->scanout_gl(c.qd, 5, &gl);
	free(expect_msg(c.peer, DMABUF_SCANOUT2, 48, &passed));
	close(passed);
	ops->scanout(c.qd, 5, &(struct vgi_scanout){ .enabled = true, .width = 64, .height = 64,
						     .format = DRM_FORMAT_XRGB8888 });
	p = expect_msg(c.peer, DMABUF_SCANOUT, 40, &passed);
	assert_int_equal(passed, -1);
	free(p);
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	close(gl.dmabuf_fd);
	expect_nothing(c.peer);
	assert_true(vgi_qemu_display_connected(c.qd));
	conn_close(&c);
}

/* State set before QEMU connects is replayed when it does (dmabufs after the features). */
static void test_replay_on_connect(void **state)
{
	static uint32_t img[64 * 64];
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct vgi_gl_scanout gl = {
		.enabled = true, .fourcc = DRM_FORMAT_XRGB8888, .modifier = DRM_FORMAT_MOD_LINEAR,
		.stride = 256, .buf_width = 64, .buf_height = 64, .width = 64, .height = 64,
	};
	struct vgi_qemu_display *qd = vgi_qemu_display_new(NULL);
	unsigned fds = open_fds();
	int sv[2], passed;
	uint8_t *p;

	assert_false(vgi_qemu_display_connected(qd));
	assert_int_equal(vgi_qemu_display_dispatch(qd), -ENOTCONN);
	assert_int_equal(vgi_qemu_display_request_display_info(qd), -ENOTCONN);
	ops->scanout(qd, 0, &(struct vgi_scanout){ .enabled = true, .width = 32, .height = 16,
						   .format = DRM_FORMAT_XRGB8888 });
	ops->update(qd, 0, &(struct vgi_rect){ 0, 0, 1, 1 },
		    &(struct vgi_image){ .width = 32, .height = 16, .stride = 128, .format = DRM_FORMAT_XRGB8888, .data = img });
	ops->cursor(qd, 0, &(struct vgi_cursor){ .visible = true, .x = 5, .y = 6, .image_changed = true, .pixels = img });
	gl.dmabuf_fd = memfd_create("dmabuf", MFD_CLOEXEC);
	ops->scanout_gl(qd, 1, &gl);
	close(gl.dmabuf_fd);
	ops->gl_update(qd, 1, &(struct vgi_rect){ 0, 0, 1, 1 });

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vgi_qemu_display_set_socket(qd, sv[0]), 0);
	free(expect_msg(sv[1], GET_PROTOCOL_FEATURES, 0, NULL));
	p = expect_msg(sv[1], SCANOUT, 12, NULL);
	assert_int_equal(get32(p + 4), 32);
	free(p);
	p = expect_msg(sv[1], CURSOR_UPDATE, 16404, NULL);
	assert_int_equal(get32(p + 4), 5);
	free(p);
	expect_nothing(sv[1]);
	reply_features(sv[1], 2);
	assert_int_equal(vgi_qemu_display_dispatch(qd), 0);
	free(expect_msg(sv[1], SET_PROTOCOL_FEATURES, 8, NULL));
	free(expect_msg(sv[1], GET_DISPLAY_INFO, 0, NULL));
	p = expect_msg(sv[1], DMABUF_SCANOUT2, 48, &passed);
	assert_int_equal(get32(p), 1);
	free(p);
	assert_true(passed >= 0);
	close(passed);
	/* the first update after the replayed SCANOUT is the whole frame */
	ops->update(qd, 0, &(struct vgi_rect){ 0, 0, 1, 1 },
		    &(struct vgi_image){ .width = 32, .height = 16, .stride = 128, .format = DRM_FORMAT_XRGB8888, .data = img });
	free(expect_msg(sv[1], UPDATE, 20 + 32 * 16 * 4, NULL));
	/* a second socket replaces the first */
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vgi_qemu_display_set_socket(qd, sv[0]), 0);
	free(expect_msg(sv[1], GET_PROTOCOL_FEATURES, 0, NULL));
	free(expect_msg(sv[1], SCANOUT, 12, NULL));
	free(expect_msg(sv[1], CURSOR_UPDATE, 16404, NULL));
	vgi_qemu_display_disconnect(qd);
	assert_false(vgi_qemu_display_connected(qd));
	assert_int_equal(vgi_qemu_display_set_socket(qd, -1), -EBADF);
	vgi_qemu_display_free(qd);
	close(sv[1]);
	assert_int_equal(open_fds(), fds);
}

/* ---- hostile replies ---- */

static void hostile_at_features(const void *bytes, size_t n, bool close_after)
{
	struct conn c;

	conn_open(&c);
	write_all(c.peer, bytes, n);
	if (close_after)
		shutdown(c.peer, SHUT_WR);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), -ECONNRESET);
	expect_closed(&c);
	/* everything afterwards is dropped quietly */
	vgi_qemu_display_ops()->scanout(c.qd, 0, &(struct vgi_scanout){ .enabled = true, .width = 4, .height = 4,
									 .format = DRM_FORMAT_XRGB8888 });
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), -ENOTCONN);
	conn_close(&c);
}

static void test_hostile_replies(void **state)
{
	uint8_t m[64] = { 0 };

	/* short: size 4 for a u64 */
	put32(m, GET_PROTOCOL_FEATURES);
	put32(m + 4, REPLY_FLAG);
	put32(m + 8, 4);
	hostile_at_features(m, 16, false);
	/* oversized: 1 MiB announced (never read, never allocated) */
	put32(m + 8, 1u << 20);
	hostile_at_features(m, 20, false);
	put32(m + 8, UINT32_MAX);
	hostile_at_features(m, 20, false);
	/* wrong request code */
	put32(m, GET_DISPLAY_INFO);
	put32(m + 8, 8);
	hostile_at_features(m, 20, false);
	put32(m, 0xdeadbeef);
	hostile_at_features(m, 20, false);
	/* missing reply flag */
	put32(m, GET_PROTOCOL_FEATURES);
	put32(m + 4, 0);
	hostile_at_features(m, 20, false);
	/* peer closes in the middle of the header, and of the payload */
	put32(m + 4, REPLY_FLAG);
	hostile_at_features(m, 6, true);
	hostile_at_features(m, 15, true);
	/* peer closes before answering */
	hostile_at_features(m, 0, true);
}

static void test_hostile_later(void **state)
{
	static const uint32_t huge[][2] = { { 100000, 50 }, { 0, 0 }, { 320, 200 } };
	struct conn c;
	uint8_t *p;

	/* unsolicited reply when nothing is outstanding */
	conn_ready(&c, 3);
	reply(c.peer, DMABUF_UPDATE, NULL, 0);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), -ECONNRESET);
	expect_closed(&c);
	conn_close(&c);

	/* bad content with a correct frame: ignored, connection kept */
	conn_open(&c);
	reply_features(c.peer, 1);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	free(expect_msg(c.peer, SET_PROTOCOL_FEATURES, 8, NULL));
	free(expect_msg(c.peer, GET_DISPLAY_INFO, 0, NULL));
	{
		uint8_t d[DISPLAY_INFO_SIZE] = { 0 };

		put32(d, 0x1200);	/* an error type */
		put32(d + 24 + 8, 640);
		put32(d + 24 + 12, 480);
		put32(d + 24 + 16, 1);
		reply(c.peer, GET_DISPLAY_INFO, d, sizeof(d));
	}
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.outputs, 0);
	expect_nothing(c.peer);
	assert_int_equal(vgi_qemu_display_request_display_info(c.qd), 0);
	free(expect_msg(c.peer, GET_DISPLAY_INFO, 0, NULL));
	reply_display_info(c.peer, huge, 3);	/* output 0 absurdly wide: skipped */
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.outputs, 1);
	assert_int_equal(rec.out[0].id, 2);
	p = expect_msg(c.peer, GET_EDID, 4, NULL);
	assert_int_equal(get32(p), 2);
	free(p);
	reply_edid(c.peer, 5000, 0);	/* EDID size beyond 1024: ignored */
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	assert_int_equal(rec.edids, 0);
	assert_true(vgi_qemu_display_connected(c.qd));
	conn_close(&c);

	/* QEMU gone: sends fail with EPIPE (no SIGPIPE), the connection ends once */
	conn_ready(&c, 0);
	close(c.peer);
	vgi_qemu_display_ops()->scanout(c.qd, 0, &(struct vgi_scanout){ .enabled = true, .width = 4, .height = 4,
									 .format = DRM_FORMAT_XRGB8888 });
	vgi_qemu_display_ops()->cursor(c.qd, 0, &(struct vgi_cursor){ .visible = true });
	assert_false(vgi_qemu_display_connected(c.qd));
	assert_true(vgi_qemu_display_get_fd(c.qd) >= 0);	/* kept until dispatch */
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), -ECONNRESET);
	assert_int_equal(vgi_qemu_display_get_fd(c.qd), -1);
	c.peer = open("/dev/null", O_RDONLY | O_CLOEXEC);
	conn_close(&c);
}

/* DMABUF_UPDATE unanswered: the wait ends after the timeout, the late answer is consumed later. */
static void test_dmabuf_update_timeout(void **state)
{
	struct vgi_gl_scanout gl = {
		.enabled = true, .fourcc = DRM_FORMAT_XRGB8888, .stride = 256, .buf_width = 64, .buf_height = 64,
		.width = 64, .height = 64,
	};
	struct vgi_rect r = { 0, 0, 8, 8 };
	struct timespec a, b;
	struct conn c;
	int passed;

	conn_ready(&c, 3);
	vgi_qemu_display_set_timeout(c.qd, 100);
	gl.dmabuf_fd = memfd_create("dmabuf", MFD_CLOEXEC);
	vgi_qemu_display_ops()->scanout_gl(c.qd, 0, &gl);
	close(gl.dmabuf_fd);
	free(expect_msg(c.peer, DMABUF_SCANOUT2, 48, &passed));
	close(passed);
	clock_gettime(CLOCK_MONOTONIC, &a);
	vgi_qemu_display_ops()->gl_update(c.qd, 0, &r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 90);
	assert_true(vgi_qemu_display_connected(c.qd));
	free(expect_msg(c.peer, DMABUF_UPDATE, 20, NULL));
	/* the late answer, then the next update's answer (queued before it is sent) */
	reply(c.peer, DMABUF_UPDATE, NULL, 0);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	reply(c.peer, DMABUF_UPDATE, NULL, 0);
	vgi_qemu_display_ops()->gl_update(c.qd, 0, &r);
	free(expect_msg(c.peer, DMABUF_UPDATE, 20, NULL));
	assert_true(vgi_qemu_display_connected(c.qd));
	/* a header that starts but never finishes ends the connection */
	{
		uint8_t h[4];

		put32(h, DMABUF_UPDATE);
		write_all(c.peer, h, 4);
		vgi_qemu_display_ops()->gl_update(c.qd, 0, &r);
		assert_false(vgi_qemu_display_connected(c.qd));
		assert_int_equal(vgi_qemu_display_dispatch(c.qd), -ECONNRESET);
	}
	conn_close(&c);
}

/*
 * QEMU that does not answer DMABUF_UPDATE: the command path waits one
 * timeout, later updates merge (one DMABUF_UPDATE outstanding at a time)
 * and their bounding box goes once QEMU answered.
 */
static void test_dmabuf_update_merge(void **state)
{
	struct vgi_gl_scanout gl = {
		.enabled = true, .fourcc = DRM_FORMAT_XRGB8888, .stride = 256, .buf_width = 64, .buf_height = 64,
		.width = 64, .height = 64,
	};
	struct vgi_rect r0 = { 0, 0, 8, 8 }, r1 = { 10, 10, 4, 4 }, r2 = { 2, 30, 5, 5 };
	struct conn c;
	int passed;
	uint8_t *p;

	conn_ready(&c, 3);
	vgi_qemu_display_set_timeout(c.qd, 0);
	gl.dmabuf_fd = memfd_create("dmabuf", MFD_CLOEXEC);
	vgi_qemu_display_ops()->scanout_gl(c.qd, 0, &gl);
	close(gl.dmabuf_fd);
	free(expect_msg(c.peer, DMABUF_SCANOUT2, 48, &passed));
	close(passed);
	vgi_qemu_display_ops()->gl_update(c.qd, 0, &r0);
	for (unsigned i = 0; i < 100; i++)
		vgi_qemu_display_ops()->gl_update(c.qd, 0, i % 2 ? &r1 : &r2);
	assert_true(vgi_qemu_display_connected(c.qd));
	p = expect_msg(c.peer, DMABUF_UPDATE, 20, NULL);
	assert_int_equal(get32(p + 4), 0);
	assert_int_equal(get32(p + 12), 8);
	free(p);
	expect_nothing(c.peer);
	/* QEMU answers: the merged damage goes, as one update */
	reply(c.peer, DMABUF_UPDATE, NULL, 0);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	p = expect_msg(c.peer, DMABUF_UPDATE, 20, NULL);
	assert_int_equal(get32(p + 4), 2);
	assert_int_equal(get32(p + 8), 10);
	assert_int_equal(get32(p + 12), 12);
	assert_int_equal(get32(p + 16), 25);
	free(p);
	expect_nothing(c.peer);
	reply(c.peer, DMABUF_UPDATE, NULL, 0);
	assert_int_equal(vgi_qemu_display_dispatch(c.qd), 0);
	expect_nothing(c.peer);
	assert_true(vgi_qemu_display_connected(c.qd));
	conn_close(&c);
}

/*
 * A display that stops reading: sends never wait, 2D damage merges (the
 * latest pixels of an area), cursor moves keep the latest state, and once
 * it reads again it gets exactly the latest frame.
 */
/* Read n bytes from the peer while playing the program's loop for the sink (it writes when writable). */
static void read_pumped(struct vgi_qemu_display *qd, int peer, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		struct pollfd pf[2] = { { .fd = peer, .events = POLLIN },
					{ .fd = vgi_qemu_display_get_fd(qd), .events = POLLOUT } };
		ssize_t r;

		assert_true(poll(pf, vgi_qemu_display_wants_write(qd) ? 2 : 1, 5000) > 0);
		if (pf[1].revents & POLLOUT)
			assert_int_equal(vgi_qemu_display_dispatch(qd), 0);
		r = recv(peer, p, n, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static void test_stalled_display(void **state)
{
	enum { W = 512, H = 512 };	/* 1 MiB frames: more than the socket holds */
	uint32_t *src = malloc((size_t)W * H * 4);
	struct vgi_image img = { .width = W, .height = H, .stride = W * 4, .format = DRM_FORMAT_XRGB8888,
				 .data = src, .stable = true };
	struct vgi_rect full = { 0, 0, W, H };
	struct vgi_cursor cur = { .visible = true };
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct conn c;
	uint8_t *p;

	assert_non_null(src);
	conn_ready(&c, 0);
	ops->scanout(c.qd, 0, &(struct vgi_scanout){ .enabled = true, .width = W, .height = H,
						     .format = DRM_FORMAT_XRGB8888 });
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	/* nobody reads: 300 frames and cursor moves still return at once */
	for (unsigned f = 0; f < 300; f++) {
		for (uint32_t i = 0; i < (uint32_t)W * H; i++)
			src[i] = f << 20 | i;
		ops->update(c.qd, 0, &full, &img);
		cur.x = (int32_t)f;
		ops->cursor(c.qd, 0, &cur);
	}
	assert_true(vgi_qemu_display_connected(c.qd));
	assert_true(vgi_qemu_display_wants_write(c.qd));
	/* now it reads: the frame it was sent first (started before the stall), then the latest one */
	for (unsigned n = 0;; n++) {
		uint8_t h[12];

		read_pumped(c.qd, c.peer, h, 12);
		assert_true(n < 10);
		if (get32(h) == CURSOR_POS) {
			p = malloc(get32(h + 8));
			read_pumped(c.qd, c.peer, p, get32(h + 8));
			assert_int_equal(get32(p + 4), 299);	/* only the latest position */
			free(p);
			continue;
		}
		assert_int_equal(get32(h), UPDATE);
		assert_int_equal(get32(h + 8), 20 + W * H * 4);
		p = malloc(20 + (size_t)W * H * 4);
		assert_non_null(p);
		read_pumped(c.qd, c.peer, p, 20 + (size_t)W * H * 4);
		if (get32(p + 20) >> 20 == 299) {
			for (uint32_t i = 0; i < (uint32_t)W * H; i++)
				assert_int_equal(get32(p + 20 + i * 4), 299u << 20 | i);
			free(p);
			break;
		}
		free(p);
	}
	assert_false(vgi_qemu_display_wants_write(c.qd));
	expect_nothing(c.peer);
	free(src);
	conn_close(&c);
}

/* A rect's UPDATE: header fields and every pixel (pattern of test_throttle). */
static void expect_update_rect(int fd, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t tag)
{
	uint8_t *p = expect_msg(fd, UPDATE, 20 + w * h * 4, NULL);

	assert_int_equal(get32(p + 0), id);
	assert_int_equal(get32(p + 4), x);
	assert_int_equal(get32(p + 8), y);
	assert_int_equal(get32(p + 12), w);
	assert_int_equal(get32(p + 16), h);
	for (uint32_t j = 0; j < h; j++)
		for (uint32_t i = 0; i < w; i++)
			assert_int_equal(get32(p + 20 + (j * w + i) * 4), tag | (y + j) << 8 | (x + i));
	free(p);
}

static void throttle_paint(uint8_t *src, unsigned w, unsigned h, unsigned stride, uint32_t tag)
{
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			put32(src + y * stride + x * 4, tag | y << 8 | x);
}

static void wait_timer(int tfd)
{
	struct pollfd pf = { .fd = tfd, .events = POLLIN };

	assert_int_equal(poll(&pf, 1, 2000), 1);
}

/*
 * vgi_qemu_display_set_max_fps: the first update goes at once; later ones in
 * the same interval wait for the timer, then go together with the pixels of
 * that moment; contained rects are merged; a scanout change drops waiting
 * damage; an image that is not stable never waits.
 */
static void test_throttle(void **state)
{
	enum { W = 64, H = 32, STRIDE = W * 4 + 16 };
	uint8_t *src = calloc(STRIDE, H);
	struct vgi_image img = { .width = W, .height = H, .stride = STRIDE, .format = DRM_FORMAT_XRGB8888,
				 .data = src, .stable = true };
	struct vgi_scanout so = { .enabled = true, .width = W, .height = H, .format = DRM_FORMAT_XRGB8888 };
	const struct vgi_display_ops *ops = vgi_qemu_display_ops();
	struct vgi_rect full = { 0, 0, W, H }, a = { 1, 2, 3, 4 }, b = { 10, 5, 8, 8 }, inner = { 11, 6, 2, 2 };
	struct conn c;
	int tfd;

	assert_non_null(src);
	conn_ready(&c, 3);
	assert_int_equal(vgi_qemu_display_set_max_fps(c.qd, 1001), -EINVAL);
	tfd = vgi_qemu_display_set_max_fps(c.qd, 2);	/* 500 ms: the steps below fit inside, even under ASan */
	assert_true(tfd >= 0);
	ops->scanout(c.qd, 0, &so);
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	throttle_paint(src, W, H, STRIDE, 0x11000000u);
	ops->update(c.qd, 0, &full, &img);	/* after a quiet interval: at once */
	expect_update_rect(c.peer, 0, 0, 0, W, H, 0x11000000u);

	ops->update(c.qd, 0, &a, &img);
	ops->update(c.qd, 0, &b, &img);
	ops->update(c.qd, 0, &inner, &img);	/* inside b: merged */
	expect_nothing(c.peer);
	throttle_paint(src, W, H, STRIDE, 0x22000000u);	/* a later transfer: delivery shows it */
	wait_timer(tfd);
	vgi_qemu_display_dispatch_timer(c.qd);
	expect_update_rect(c.peer, 0, a.x, a.y, a.width, a.height, 0x22000000u);
	expect_update_rect(c.peer, 0, b.x, b.y, b.width, b.height, 0x22000000u);
	expect_nothing(c.peer);
	vgi_qemu_display_dispatch_timer(c.qd);	/* spurious: nothing */
	expect_nothing(c.peer);

	/* waiting damage is dropped when the scanout changes (its image may be gone) */
	ops->update(c.qd, 0, &a, &img);
	if (!poll(&(struct pollfd){ .fd = c.peer, .events = POLLIN }, 1, 0)) {
		so.width = W / 2;
		ops->scanout(c.qd, 0, &so);
		free(expect_msg(c.peer, SCANOUT, 12, NULL));
		wait_timer(tfd);
		vgi_qemu_display_dispatch_timer(c.qd);
		expect_nothing(c.peer);
	} else {
		expect_update_rect(c.peer, 0, a.x, a.y, a.width, a.height, 0x22000000u);	/* an interval had passed */
	}

	/* an image valid only during the call waits too: its pixels are copied then (later changes do not show) */
	so.width = W;
	ops->scanout(c.qd, 0, &so);
	free(expect_msg(c.peer, SCANOUT, 12, NULL));
	img.stable = false;
	ops->update(c.qd, 0, &full, &img);
	throttle_paint(src, W, H, STRIDE, 0x33000000u);
	if (!poll(&(struct pollfd){ .fd = c.peer, .events = POLLIN }, 1, 0)) {
		wait_timer(tfd);
		vgi_qemu_display_dispatch_timer(c.qd);
	}
	expect_update_rect(c.peer, 0, 0, 0, W, H, 0x22000000u);
	throttle_paint(src, W, H, STRIDE, 0x22000000u);

	/* more rects than kept: one bounding box */
	img.stable = true;
	usleep(510000);	/* a quiet interval */
	ops->update(c.qd, 0, &a, &img);
	expect_update_rect(c.peer, 0, a.x, a.y, a.width, a.height, 0x22000000u);
	for (unsigned i = 0; i < 600; i++) {	/* 600 distinct pixels: 512 kept, then their box */
		struct vgi_rect r = { i % 63, i / 63, 1, 1 };

		ops->update(c.qd, 0, &r, &img);
	}
	wait_timer(tfd);
	vgi_qemu_display_dispatch_timer(c.qd);
	expect_update_rect(c.peer, 0, 0, 0, 63, 9, 0x22000000u);	/* the 513th (8,8) made the box of rows 0-8 */
	for (unsigned i = 567; i < 600; i++)	/* row 9 came after the box */
		expect_update_rect(c.peer, 0, i % 63, 9, 1, 1, 0x22000000u);
	expect_nothing(c.peer);
	assert_int_equal(vgi_qemu_display_set_max_fps(c.qd, 0), tfd);
	conn_close(&c);
	free(src);
}

static void test_registry(void **state)
{
	struct vgi_display_sink sink;

	assert_non_null(strstr(vgi_display_sink_names(), "qemu"));
	assert_int_equal(vgi_display_sink_new("qemu", &host, &sink), 0);
	assert_non_null(sink.ops->scanout_gl);
	assert_non_null(sink.ops->gl_update);
	assert_false(vgi_qemu_display_connected(sink.sink));
	sink.ops->destroy(sink.sink);
	assert_int_equal(vgi_display_sink_new("qemu,gl=off", &host, &sink), 0);
	assert_null(sink.ops->scanout_gl);
	assert_null(sink.ops->gl_update);
	sink.ops->destroy(sink.sink);
	assert_int_equal(vgi_display_sink_new("qemu,gl=maybe", &host, &sink), -EINVAL);
	assert_int_equal(vgi_display_sink_new("qemu,socket=x", &host, &sink), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation_full),
		cmocka_unit_test(test_negotiation_old_qemu),
		cmocka_unit_test(test_scanout_update_layout),
		cmocka_unit_test(test_large_update_bands),
		cmocka_unit_test(test_wide_update_rows),
		cmocka_unit_test(test_cursor_layout),
		cmocka_unit_test(test_dmabuf_layout),
		cmocka_unit_test(test_replay_on_connect),
		cmocka_unit_test(test_hostile_replies),
		cmocka_unit_test(test_hostile_later),
		cmocka_unit_test(test_dmabuf_update_timeout),
		cmocka_unit_test(test_dmabuf_update_merge),
		cmocka_unit_test(test_stalled_display),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
