// SPDX-License-Identifier: MIT
/*
 * Fuzz the QEMU display sink (ui/qemu/) from a hostile QEMU: the harness
 * plays QEMU's end of the vhost-user-gpu display socket. It reads what the
 * sink sends (tracking which requests wait for an answer, closing any fd
 * passed), and the input decides the answers: well-formed replies to the
 * request in front with fuzzed contents (protocol features, display info,
 * EDIDs), replies with a wrong code, flags or size, raw bytes, truncated
 * messages, fds nobody asked for, and QEMU hanging up. Sink calls from the
 * device side (scanouts, updates with damage rectangles, cursors, dmabuf
 * scanouts and GL updates that wait for QEMU) are interleaved. Host
 * callbacks must only ever see sane values; no fd may be left open.
 */
#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <linux/virtio_gpu.h>

#include <vgi/log.h>
#include <vgi/qemu-display.h>
#include "fuzz-reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	GET_PROTOCOL_FEATURES = 1, SET_PROTOCOL_FEATURES, GET_DISPLAY_INFO, CURSOR_POS, CURSOR_POS_HIDE,
	CURSOR_UPDATE, SCANOUT, UPDATE, DMABUF_SCANOUT, DMABUF_UPDATE, GET_EDID, DMABUF_SCANOUT2,
};
#define REPLY_FLAG 4u

static void on_output(void *opaque, uint32_t id, bool connected, uint32_t w, uint32_t h)
{
	if (id >= VGI_MAX_SCANOUTS || (connected && (w == 0 || h == 0 || w > 16384 || h > 16384))) {
		fprintf(stderr, "fuzz-qemu-display: output %u %d %ux%u reported\n", id, connected, w, h);
		abort();
	}
}

static void on_edid(void *opaque, uint32_t id, const uint8_t *blob, uint32_t size)
{
	volatile uint8_t sum = 0;

	if (id >= VGI_MAX_SCANOUTS || !blob || size == 0 || size > 1024) {
		fprintf(stderr, "fuzz-qemu-display: EDID for %u of %u bytes reported\n", id, size);
		abort();
	}
	for (uint32_t i = 0; i < size; i++)	/* the whole blob must be readable */
		sum += blob[i];
	(void)sum;
}

static const struct vgi_display_host host = { .output_changed = on_output, .edid = on_edid };

/* QEMU's end: parses the sink's byte stream into messages, queues what needs an answer. */
struct qemu {
	int sock;
	uint8_t buf[1 << 16];
	size_t have;
	uint32_t want[64];	/* request codes waiting for an answer, in order */
	unsigned head, count;
};

static void read_sink(struct qemu *q)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} control;
		struct iovec iov = { .iov_base = q->buf + q->have, .iov_len = sizeof(q->buf) - q->have };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.b,
				    .msg_controllen = sizeof(control.b) };
		ssize_t r;

		if (q->sock < 0 || iov.iov_len == 0)
			break;
		r = recvmsg(q->sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

				for (size_t i = 0; i < n; i++) {
					int fd;

					memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
					close(fd);
				}
			}
		}
		q->have += (size_t)r;
		/* whole messages: note the ones that wait for QEMU */
		while (q->have >= 12) {
			uint32_t h[3];
			size_t len;

			memcpy(h, q->buf, 12);
			if (h[2] > sizeof(q->buf) - 12) {
				fprintf(stderr, "fuzz-qemu-display: the sink sent a message of %u bytes\n", h[2]);
				abort();
			}
			len = 12 + h[2];
			if (q->have < len)
				break;
			if (h[0] == GET_PROTOCOL_FEATURES || h[0] == GET_DISPLAY_INFO || h[0] == GET_EDID ||
			    h[0] == DMABUF_UPDATE) {
				if (q->count < 64) {
					q->want[(q->head + q->count) % 64] = h[0];
					q->count++;
				}
			}
			memmove(q->buf, q->buf + len, q->have - len);
			q->have -= len;
		}
	}
}

static void qemu_send(struct qemu *q, const void *msg, size_t len, int fd)
{
	union {
		char c[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (q->sock < 0)
		return;
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = control.c;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	sendmsg(q->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void settle(struct vgi_qemu_display *qd, struct qemu *q)
{
	for (int i = 0; i < 8; i++) {
		read_sink(q);
		if (!vgi_qemu_display_connected(qd))
			break;
		vgi_qemu_display_dispatch(qd);
	}
	read_sink(q);
}

static void reconnect(struct vgi_qemu_display *qd, struct qemu *q)
{
	int sv[2];

	if (q->sock >= 0)
		close(q->sock);
	q->sock = -1;
	q->have = q->head = q->count = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	q->sock = sv[0];
	vgi_qemu_display_set_socket(qd, sv[1]);
	vgi_qemu_display_set_timeout(qd, 0);	/* waits of a millisecond: the harness answers ahead */
	read_sink(q);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint32_t pixels[64 * 64], cursor[64 * 64];
	struct reader r = { data, size };
	const struct vgi_display_ops *ops;
	struct vgi_qemu_display *qd;
	struct qemu q = { .sock = -1 };
	unsigned records = 0;
	uint8_t mode = u8(&r);
	int fds_before, dmabuf;
	static struct qemu *qp;

	vgi_log_set_handler(quiet, NULL);
	if (!qp)
		qp = malloc(sizeof(*qp));	/* the 64 KiB stream buffer off the stack */
	fds_before = count_fds();
	*qp = q;
	qd = vgi_qemu_display_new(&host);
	if (!qd)
		abort();
	vgi_qemu_display_set_timeout(qd, 0);
	if ((mode & 4) && vgi_qemu_display_set_max_fps(qd, 1000) < 0)	/* throttled updates, 1 ms apart */
		abort();
	ops = (mode & 1) ? vgi_qemu_display_ops_nogl() : vgi_qemu_display_ops();
	dmabuf = memfd_create("fuzz-dmabuf", MFD_CLOEXEC);
	if (dmabuf < 0)
		abort();
	if (!(mode & 2))	/* some state before the socket, replayed when it comes */
		ops->scanout(qd, 0, &(struct vgi_scanout){ true, 64, 64, DRM_FORMAT_XRGB8888 });
	reconnect(qd, qp);

	while (r.left && records++ < 48) {
		uint8_t op = u8(&r);

		switch (op % 12) {
		case 0: case 1: case 2: {	/* a well-formed answer to the request in front */
			uint8_t msg[12 + 2048] = { 0 };
			uint32_t req = qp->count ? qp->want[qp->head] : GET_PROTOCOL_FEATURES;
			uint32_t h[3] = { req, REPLY_FLAG | 1, 0 };

			if (qp->count) {
				qp->head = (qp->head + 1) % 64;
				qp->count--;
			}
			switch (req) {
			case GET_PROTOCOL_FEATURES: {
				uint64_t f = (op & 0x10) ? 3 : (uint64_t)u32(&r) << 32 | u32(&r);

				h[2] = 8;
				memcpy(msg + 12, &f, 8);
				break;
			}
			case GET_DISPLAY_INFO: {
				struct virtio_gpu_resp_display_info info = { .hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO };

				for (unsigned i = 0; i < 16; i++) {
					uint8_t b = u8(&r);

					info.pmodes[i].enabled = b & 1;
					info.pmodes[i].r.width = (b & 2) ? u32(&r) : 64u * (b >> 2);
					info.pmodes[i].r.height = (b & 2) ? u32(&r) : 48u * (b >> 2);
				}
				if (op & 0x10)
					info.hdr.type = u32(&r);
				h[2] = sizeof(info);
				memcpy(msg + 12, &info, sizeof(info));
				break;
			}
			case GET_EDID: {
				struct virtio_gpu_resp_edid e = { .hdr.type = VIRTIO_GPU_RESP_OK_EDID, .size = 128 };

				if (op & 0x10)
					e.size = u32(&r);
				if (op & 0x20)
					e.hdr.type = u32(&r);
				for (unsigned i = 0; i < 16; i++)
					e.edid[u8(&r) % sizeof(e.edid)] = u8(&r);
				h[2] = sizeof(e);
				memcpy(msg + 12, &e, sizeof(e));
				break;
			}
			default:	/* DMABUF_UPDATE: no payload */
				break;
			}
			if (op & 0x40)		/* a wrong size, flag or code */
				h[u8(&r) % 3] ^= 1u << (u8(&r) % 32);
			memcpy(msg, h, 12);
			/* sometimes cut short: the sink waits a millisecond, then gives up */
			qemu_send(qp, msg, (op & 0x80) ? u8(&r) % (12 + h[2] % 2048 + 1) : 12 + (h[2] % 2048),
				  (op & 0x20) && req != GET_EDID ? dmabuf : -1);
			settle(qd, qp);
			break;
		}
		case 3: {	/* raw bytes from QEMU */
			uint8_t raw[64];
			unsigned n = u8(&r) % sizeof(raw);

			for (unsigned i = 0; i < n; i++)
				raw[i] = u8(&r);
			qemu_send(qp, raw, n, (op & 0x10) ? dmabuf : -1);
			settle(qd, qp);
			break;
		}
		case 4: {	/* scanout set up, resized or disabled (device side: sane formats) */
			uint32_t id = u8(&r) % (VGI_MAX_SCANOUTS + 2);
			struct vgi_scanout s = { !(op & 0x10), 1 + u8(&r) % 64, 1 + u8(&r) % 64, DRM_FORMAT_XRGB8888 };

			ops->scanout(qd, id, &s);
			settle(qd, qp);
			break;
		}
		case 5: {	/* damage of any rectangle over a 64x64 image */
			struct vgi_rect d = { u32(&r), u32(&r), u32(&r), u32(&r) };
			/* stable (the pixels outlive every call): a throttled sink may keep the damage */
			struct vgi_image img = { 64, 64, 256, DRM_FORMAT_XRGB8888, pixels, op & 0x20 };

			if (op & 0x40)
				vgi_qemu_display_dispatch_timer(qd);	/* delivers if the interval ended */
			if (op & 0x10)
				d = (struct vgi_rect){ d.x % 80, d.y % 80, d.width % 80, d.height % 80 };
			ops->update(qd, u8(&r) % (VGI_MAX_SCANOUTS + 2), &d, &img);
			settle(qd, qp);
			break;
		}
		case 6: {	/* cursor define/move/hide */
			struct vgi_cursor c = { .visible = op & 0x10, .x = (int32_t)u32(&r), .y = (int32_t)u32(&r),
						.hot_x = u8(&r), .hot_y = u8(&r), .image_changed = op & 0x20,
						.pixels = (op & 0x20) ? cursor : NULL };

			ops->cursor(qd, u8(&r) % (VGI_MAX_SCANOUTS + 2), &c);
			settle(qd, qp);
			break;
		}
		case 7: {	/* a dmabuf scanout (GL ops only) */
			struct vgi_gl_scanout s = { .enabled = !(op & 0x10), .dmabuf_fd = (op & 0x20) ? -1 : dmabuf,
						    .fourcc = DRM_FORMAT_XRGB8888, .modifier = u32(&r),
						    .stride = u32(&r), .buf_width = u8(&r), .buf_height = u8(&r),
						    .x = u8(&r), .y = u8(&r), .width = u8(&r), .height = u8(&r),
						    .y0_top = op & 0x40 };

			if (ops->scanout_gl)
				ops->scanout_gl(qd, u8(&r) % (VGI_MAX_SCANOUTS + 2), &s);
			settle(qd, qp);
			break;
		}
		case 8: {	/* a GL update: waits (a millisecond here) for DMABUF_UPDATE's answer */
			struct vgi_rect d = { u8(&r), u8(&r), u8(&r), u8(&r) };

			if (ops->gl_update) {
				/* QEMU answers ahead of time, or not at all */
				if (op & 0x10) {
					uint32_t h[3] = { DMABUF_UPDATE, REPLY_FLAG | 1, 0 };

					qemu_send(qp, h, 12, -1);
				}
				ops->gl_update(qd, u8(&r) % (VGI_MAX_SCANOUTS + 2), &d);
			}
			settle(qd, qp);
			break;
		}
		case 9:
			vgi_qemu_display_request_display_info(qd);
			settle(qd, qp);
			break;
		case 10:	/* QEMU hangs up, then a new QEMU connects */
			if (qp->sock >= 0) {
				close(qp->sock);
				qp->sock = -1;
			}
			vgi_qemu_display_dispatch(qd);
			if (vgi_qemu_display_connected(qd) && vgi_qemu_display_dispatch(qd) == 0 &&
			    vgi_qemu_display_connected(qd))
				abort();	/* a closed socket must end the connection */
			if (op & 0x10)
				reconnect(qd, qp);
			break;
		case 11:	/* the program drops the socket itself */
			vgi_qemu_display_disconnect(qd);
			if (vgi_qemu_display_connected(qd))
				abort();
			reconnect(qd, qp);
			break;
		}
	}
	vgi_qemu_display_features(qd, NULL);
	ops->destroy(qd);
	if (qp->sock >= 0)
		close(qp->sock);
	close(dmabuf);
	if (count_fds() != fds_before) {
		fprintf(stderr, "fuzz-qemu-display: %d fds before, %d after\n", fds_before, count_fds());
		abort();
	}
	return 0;
}
