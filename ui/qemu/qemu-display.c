// SPDX-License-Identifier: MIT
/*
 * QEMU's display over the vhost-user-gpu display protocol (QEMU
 * docs/interop/vhost-user-gpu.rst). The backend (us) sends requests; QEMU
 * answers only GET_PROTOCOL_FEATURES, GET_DISPLAY_INFO, GET_EDID and
 * DMABUF_UPDATE, in order, and never sends anything on its own. QEMU trusts
 * the sizes we send, so every message has exactly its payload's size; its
 * replies are checked against the request they answer (code, reply flag,
 * exact size) before a byte of payload is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <linux/virtio_gpu.h>

#include <vgi/log.h>
#include <vgi/qemu-display.h>
#include <vgi/sinks.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the vhost-user-gpu protocol is native-endian; this code assumes little-endian (DRM fourcc)"
#endif

enum {
	REQ_GET_PROTOCOL_FEATURES = 1,
	REQ_SET_PROTOCOL_FEATURES = 2,
	REQ_GET_DISPLAY_INFO = 3,
	REQ_CURSOR_POS = 4,
	REQ_CURSOR_POS_HIDE = 5,
	REQ_CURSOR_UPDATE = 6,
	REQ_SCANOUT = 7,
	REQ_UPDATE = 8,
	REQ_DMABUF_SCANOUT = 9,
	REQ_DMABUF_UPDATE = 10,
	REQ_GET_EDID = 11,
	REQ_DMABUF_SCANOUT2 = 12,
};

#define MSG_FLAG_REPLY		0x4u
#define HDR_SIZE		12u
#define OUR_FEATURES		(VGI_QEMU_DISPLAY_F_EDID | VGI_QEMU_DISPLAY_F_DMABUF2)

/* Wire layouts (native endian, packed; all fields are 4-byte aligned anyway). */
struct wire_hdr {
	uint32_t request, flags, size;
};
struct wire_cursor_pos {
	uint32_t scanout_id, x, y;
};
struct wire_cursor_update {
	struct wire_cursor_pos pos;
	uint32_t hot_x, hot_y;
	uint32_t data[VGI_CURSOR_SIZE * VGI_CURSOR_SIZE];
};
struct wire_scanout {
	uint32_t scanout_id, width, height;
};
struct wire_update {
	uint32_t scanout_id, x, y, width, height;
};
struct wire_dmabuf_scanout {
	uint32_t scanout_id, x, y, width, height;
	uint32_t fd_width, fd_height, fd_stride, fd_flags;
	int32_t fd_drm_fourcc;
};
struct __attribute__((packed)) wire_dmabuf_scanout2 {
	struct wire_dmabuf_scanout base;
	uint64_t modifier;
};

_Static_assert(sizeof(struct wire_hdr) == 12, "header");
_Static_assert(sizeof(struct wire_cursor_pos) == 12, "cursor pos");
_Static_assert(sizeof(struct wire_cursor_update) == 20 + 16384, "cursor update");
_Static_assert(sizeof(struct wire_scanout) == 12, "scanout");
_Static_assert(sizeof(struct wire_update) == 20, "update");
_Static_assert(sizeof(struct wire_dmabuf_scanout) == 40, "dmabuf scanout");
_Static_assert(sizeof(struct wire_dmabuf_scanout2) == 48, "dmabuf scanout2");
_Static_assert(sizeof(struct virtio_gpu_resp_display_info) == 408, "display info");
_Static_assert(sizeof(struct virtio_gpu_resp_edid) == 1056, "edid");

/* Largest scanout side we pass on; UPDATE messages are split into bands of at most this many bytes. */
#define QD_MAX_SIDE		16384u
#define QD_MAX_BAND_BYTES	(16u << 20)
#define QD_MAX_PENDING		64u
#define QD_IOV_CHUNK		64
#define QD_DEFAULT_TIMEOUT_MS	16		/* one refresh: the longest a guest command waits for QEMU */
#define QD_REPLY_REST_MS	1000		/* at least this long for the rest of a reply that started */
#define QD_OUT_CAP		(64u << 20)	/* bytes queued for a display that takes none, then it is dropped */
#define QD_OUT_FDS		16u		/* fds queued with them */
#define QD_PACK_MAX_BYTES	(64u << 10)	/* updates up to this size are packed into one buffer */
#define QD_MAX_DUE		512u		/* throttled damage rects kept per scanout, then their bounding box */
#define QD_BATCH_BYTES		(256u << 10)	/* small throttled UPDATEs go out in sends of about this size */

enum qd_mode { MODE_OFF, MODE_2D, MODE_DMABUF };

struct qd_scanout {
	enum qd_mode mode;
	bool sent;		/* mode sent on the current connection */
	bool full_pending;	/* QEMU has a fresh surface: send the whole image next */
	uint32_t width, height;	/* 2D mode */
	int dmabuf_fd;		/* our dup, DMABUF mode */
	struct vgi_gl_scanout gl;

	bool cursor_known, cursor_visible, cursor_image_valid, cursor_image_sent;
	int32_t cursor_x, cursor_y;
	uint32_t hot_x, hot_y;
	uint32_t *cursor;	/* VGI_CURSOR_SIZE^2, NULL until defined */

	bool reported;		/* output reported connected to host */
	bool cursor_dirty;	/* cursor state to send once the socket takes data */
	bool gl_due;		/* dmabuf damage (gl_damage) to send once QEMU answered the last DMABUF_UPDATE */
	struct vgi_rect gl_damage;
	uint8_t *shadow;	/* copy of images valid only during update() (width * height * 4) */
	size_t shadow_size;
	bool edid_wait;		/* host told that QEMU's EDID for it is on its way */

	/* vgi_qemu_display_set_max_fps: damage waiting for the next refresh, read from due_img then */
	struct vgi_rect *due;	/* QD_MAX_DUE, allocated on first use */
	unsigned ndue;
	struct vgi_image due_img;
};

struct qd_pending {
	uint32_t request;
	uint32_t scanout;	/* GET_EDID */
	uint64_t seq;
};

struct vgi_qemu_display {
	struct vgi_display_host host;
	int fd;
	bool dead;		/* shut down after an error; closed by dispatch() */
	int timeout_ms;
	bool features_known;
	uint64_t features;

	struct qd_pending pending[QD_MAX_PENDING];
	unsigned pend_head, pend_count;
	uint64_t next_seq, done_seq;

	struct qd_scanout s[VGI_MAX_SCANOUTS];
	uint8_t *staging;
	size_t staging_size;

	/* update throttle: at most one delivery per interval_ns (0: every update at once) */
	uint64_t interval_ns, last_delivery_ns;
	int timer_fd;
	bool timer_armed;
	/*
	 * What the socket did not take yet (sends never wait): whole messages
	 * and the rest of a started one, with the fds that ride with their first
	 * byte. While it holds anything, new 2D damage only merges into due.
	 */
	uint8_t *out;
	size_t out_head, out_len, out_cap;
	struct { size_t at; int fd; } out_fds[QD_OUT_FDS];
	unsigned out_nfds;
	uint8_t *batch;		/* packed UPDATE messages (header and pixels) waiting for one send */
	size_t batch_len;
	bool warned_no_dmabuf, warned_modifier, warned_stall;
};

/* ---- connection ---- */

static void conn_fail(struct vgi_qemu_display *qd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void edid_wait_set(struct vgi_qemu_display *qd, uint32_t id, bool on)
{
	if (qd->s[id].edid_wait == on)
		return;
	qd->s[id].edid_wait = on;
	if (qd->host.edid_pending)
		qd->host.edid_pending(qd->host.opaque, id, on);
}

static void edid_wait_all(struct vgi_qemu_display *qd, bool on)
{
	for (uint32_t i = 0; i < VGI_MAX_SCANOUTS; i++)
		edid_wait_set(qd, i, on);
}

static void conn_end(struct vgi_qemu_display *qd)
{
	/* Keep the fd number until dispatch() so the program's loop never watches a reused fd. */
	shutdown(qd->fd, SHUT_RDWR);
	qd->dead = true;
	qd->pend_count = 0;
	edid_wait_all(qd, false);	/* no answer comes any more */
}

static void conn_fail(struct vgi_qemu_display *qd, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (qd->fd < 0 || qd->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vgi_error("qemu display: %s; closing the display connection", msg);
	conn_end(qd);
}

static bool live(const struct vgi_qemu_display *qd)
{
	return qd->fd >= 0 && !qd->dead;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll for events; 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = -1, r;

		if (timeout_ms >= 0) {
			int64_t l = deadline - now_ms();

			left = l < 0 ? 0 : (int)l;
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static bool out_busy(const struct vgi_qemu_display *qd)
{
	return qd->out_len > qd->out_head;
}

static void out_clear(struct vgi_qemu_display *qd)
{
	for (unsigned i = 0; i < qd->out_nfds; i++)
		close(qd->out_fds[i].fd);
	qd->out_nfds = 0;
	qd->out_head = qd->out_len = 0;
}

/* Queue iov[0..n) (and pass_fd, dup'ed, with its first byte). 0, or -errno after conn_fail. */
static int out_append(struct vgi_qemu_display *qd, const struct iovec *iov, int n, int pass_fd, const char *what)
{
	size_t total = 0, queued = qd->out_len - qd->out_head;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total > QD_OUT_CAP - queued || (pass_fd >= 0 && qd->out_nfds == QD_OUT_FDS)) {
		conn_fail(qd, "QEMU's display takes no data (%zu bytes wait, %s would add %zu)", queued, what, total);
		return -ENOBUFS;
	}
	if (qd->out_head) {
		/* keep the queue at the buffer's start */
		memmove(qd->out, qd->out + qd->out_head, queued);
		for (unsigned i = 0; i < qd->out_nfds; i++)
			qd->out_fds[i].at -= qd->out_head;
		qd->out_head = 0;
		qd->out_len = queued;
	}
	if (qd->out_len + total > qd->out_cap) {
		size_t cap = qd->out_cap ? qd->out_cap : 65536;
		uint8_t *b;

		while (cap < qd->out_len + total)
			cap *= 2;
		b = realloc(qd->out, cap);
		if (!b) {
			conn_fail(qd, "no memory to queue %zu bytes of %s", total, what);
			return -ENOMEM;
		}
		qd->out = b;
		qd->out_cap = cap;
	}
	if (pass_fd >= 0) {
		int fd = fcntl(pass_fd, F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			conn_fail(qd, "cannot keep fd %d for %s: %s", pass_fd, what, strerror(errno));
			return -errno;
		}
		qd->out_fds[qd->out_nfds].at = qd->out_len;
		qd->out_fds[qd->out_nfds++].fd = fd;
	}
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(qd->out + qd->out_len, iov[i].iov_base, iov[i].iov_len);
		qd->out_len += iov[i].iov_len;
	}
	return 0;
}

/* One sendmsg that never waits; fd (>= 0) rides with the first byte. Bytes taken, or -errno. */
static ssize_t send_some(struct vgi_qemu_display *qd, struct iovec *iov, int n, int pass_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n) };

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		m.msg_control = control.buf;
		m.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(qd->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

/* Write what the queue holds until the socket is full. 0, or -errno after conn_fail. */
static int out_write(struct vgi_qemu_display *qd)
{
	while (live(qd) && out_busy(qd)) {
		size_t end = qd->out_len;
		int fd = -1;
		struct iovec iov;
		ssize_t r;

		if (qd->out_nfds && qd->out_fds[0].at == qd->out_head)
			fd = qd->out_fds[0].fd;
		for (unsigned i = 0; i < qd->out_nfds; i++) {
			if (qd->out_fds[i].at > qd->out_head) {
				end = qd->out_fds[i].at;	/* the next fd starts its own send */
				break;
			}
		}
		iov = (struct iovec){ .iov_base = qd->out + qd->out_head, .iov_len = end - qd->out_head };
		r = send_some(qd, &iov, 1, fd);
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return 0;
		if (r < 0) {
			conn_fail(qd, "cannot send: %s", r == -EPIPE ? "QEMU closed the socket" : strerror((int)-r));
			return (int)r;
		}
		if (fd >= 0) {
			close(fd);
			memmove(qd->out_fds, qd->out_fds + 1, --qd->out_nfds * sizeof(qd->out_fds[0]));
		}
		qd->out_head += (size_t)r;
	}
	if (!out_busy(qd))
		qd->out_head = qd->out_len = 0;
	return live(qd) ? 0 : -ECONNRESET;
}

/*
 * Send iov[0..n) (n may exceed IOV_MAX; iov is modified) without waiting:
 * what the socket does not take now is queued and written when it is
 * writable (vgi_qemu_display_dispatch). fd, if >= 0, rides with the first
 * byte (SCM_RIGHTS). 0, or -errno after conn_fail.
 */
static int send_iov(struct vgi_qemu_display *qd, struct iovec *iov, int n, int pass_fd, const char *what)
{
	if (out_busy(qd))
		return out_append(qd, iov, n, pass_fd, what);	/* keep the order */
	while (n > 0) {
		ssize_t r;

		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		r = send_some(qd, iov, n, pass_fd);
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return out_append(qd, iov, n, pass_fd, what);
		if (r < 0) {
			conn_fail(qd, "cannot send %s: %s", what, r == -EPIPE ? "QEMU closed the socket" : strerror((int)-r));
			return (int)r;
		}
		pass_fd = -1;
		while (r > 0 && n > 0) {
			if ((size_t)r >= iov->iov_len) {
				r -= (ssize_t)iov->iov_len;
				iov++;
				n--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + r;
				iov->iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	return 0;
}

static const char *req_name(uint32_t req)
{
	static const char *const names[] = {
		[REQ_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[REQ_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[REQ_GET_DISPLAY_INFO] = "GET_DISPLAY_INFO",
		[REQ_CURSOR_POS] = "CURSOR_POS",
		[REQ_CURSOR_POS_HIDE] = "CURSOR_POS_HIDE",
		[REQ_CURSOR_UPDATE] = "CURSOR_UPDATE",
		[REQ_SCANOUT] = "SCANOUT",
		[REQ_UPDATE] = "UPDATE",
		[REQ_DMABUF_SCANOUT] = "DMABUF_SCANOUT",
		[REQ_DMABUF_UPDATE] = "DMABUF_UPDATE",
		[REQ_GET_EDID] = "GET_EDID",
		[REQ_DMABUF_SCANOUT2] = "DMABUF_SCANOUT2",
	};

	return req < sizeof(names) / sizeof(names[0]) && names[req] ? names[req] : "unknown";
}

static int send_msg(struct vgi_qemu_display *qd, uint32_t req, const void *payload, uint32_t size, int pass_fd)
{
	struct wire_hdr h = { .request = req, .flags = 0, .size = size };
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};

	if (!live(qd))
		return -ENOTCONN;
	return send_iov(qd, iov, 2, pass_fd, req_name(req));
}

/* Send a request that QEMU answers; the answer is expected in order. */
static int send_request(struct vgi_qemu_display *qd, uint32_t req, const void *payload, uint32_t size,
			uint32_t scanout, uint64_t *seq)
{
	struct qd_pending *p;
	int ret;

	if (!live(qd))
		return -ENOTCONN;
	if (qd->pend_count == QD_MAX_PENDING) {
		conn_fail(qd, "QEMU left %u requests unanswered", QD_MAX_PENDING);
		return -EPROTO;
	}
	ret = send_msg(qd, req, payload, size, -1);
	if (ret < 0)
		return ret;
	p = &qd->pending[(qd->pend_head + qd->pend_count) % QD_MAX_PENDING];
	*p = (struct qd_pending){ .request = req, .scanout = scanout, .seq = ++qd->next_seq };
	qd->pend_count++;
	if (seq)
		*seq = p->seq;
	return 0;
}

/* Read exactly len bytes, waiting up to the timeout for each piece. 0 or -errno (after conn_fail). */
static int read_full(struct vgi_qemu_display *qd, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = recv(qd->fd, p, len, MSG_DONTWAIT);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r == 0) {
			conn_fail(qd, "QEMU closed the socket in the middle of %s", what);
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* QEMU writes a reply at once: one that stops half-way is a broken connection */
			int ms = qd->timeout_ms < 0 ? -1
				 : qd->timeout_ms == 0 ? 1	/* 0: never really wait (a peer that answers ahead) */
				 : qd->timeout_ms > QD_REPLY_REST_MS ? qd->timeout_ms : QD_REPLY_REST_MS;
			int w = wait_fd(qd->fd, POLLIN, ms);

			if (w > 0)
				continue;
			if (w == 0) {
				conn_fail(qd, "QEMU stopped for %d ms in the middle of %s", ms, what);
				return -ETIMEDOUT;
			}
			errno = -w;
		}
		conn_fail(qd, "cannot read %s: %s", what, strerror(errno));
		return -errno;
	}
	return 0;
}

static uint32_t reply_size(uint32_t req)
{
	switch (req) {
	case REQ_GET_PROTOCOL_FEATURES: return sizeof(uint64_t);
	case REQ_GET_DISPLAY_INFO: return sizeof(struct virtio_gpu_resp_display_info);
	case REQ_GET_EDID: return sizeof(struct virtio_gpu_resp_edid);
	case REQ_DMABUF_UPDATE: return 0;
	default: return UINT32_MAX;
	}
}

static void send_dmabuf_scanout(struct vgi_qemu_display *qd, uint32_t id);
static void send_gl_due(struct vgi_qemu_display *qd);
static void pump(struct vgi_qemu_display *qd);

static void handle_features(struct vgi_qemu_display *qd, uint64_t offered)
{
	uint64_t agreed = offered & OUR_FEATURES;

	qd->features = agreed;
	qd->features_known = true;
	if (!(agreed & VGI_QEMU_DISPLAY_F_EDID))
		edid_wait_all(qd, false);	/* QEMU before 8.1: no EDIDs */
	vgi_info("qemu display: QEMU offers protocol features 0x%llx, using%s%s%s", (unsigned long long)offered,
		 agreed & VGI_QEMU_DISPLAY_F_EDID ? " EDID" : "", agreed & VGI_QEMU_DISPLAY_F_DMABUF2 ? " DMABUF2" : "",
		 agreed ? "" : " none");
	if (send_msg(qd, REQ_SET_PROTOCOL_FEATURES, &agreed, sizeof(agreed), -1) < 0)
		return;
	if (send_request(qd, REQ_GET_DISPLAY_INFO, NULL, 0, 0, NULL) < 0)
		return;
	/* dmabuf scanouts wait for the features (SCANOUT2 or not) before they are replayed */
	for (uint32_t i = 0; i < VGI_MAX_SCANOUTS && live(qd); i++)
		if (qd->s[i].mode == MODE_DMABUF && !qd->s[i].sent)
			send_dmabuf_scanout(qd, i);
}

static void handle_display_info(struct vgi_qemu_display *qd, const struct virtio_gpu_resp_display_info *info)
{
	if (info->hdr.type != VIRTIO_GPU_RESP_OK_DISPLAY_INFO) {
		vgi_warn("qemu display: GET_DISPLAY_INFO answered with type 0x%x; ignored", info->hdr.type);
		return;
	}
	for (uint32_t i = 0; i < VIRTIO_GPU_MAX_SCANOUTS && i < VGI_MAX_SCANOUTS; i++) {
		const struct virtio_gpu_display_one *m = &info->pmodes[i];
		bool on = m->enabled != 0;

		if (on && (m->r.width == 0 || m->r.height == 0 || m->r.width > QD_MAX_SIDE || m->r.height > QD_MAX_SIDE)) {
			vgi_warn("qemu display: QEMU's output %u has an unusable size %ux%u; ignored", i, m->r.width,
				 m->r.height);
			edid_wait_set(qd, i, false);
			continue;
		}
		if (on) {
			vgi_debug("qemu display: QEMU's output %u is %ux%u", i, m->r.width, m->r.height);
			qd->s[i].reported = true;
			if (qd->host.output_changed)
				qd->host.output_changed(qd->host.opaque, i, true, m->r.width, m->r.height);
			if (qd->features & VGI_QEMU_DISPLAY_F_EDID) {
				uint32_t id = i;

				if (send_request(qd, REQ_GET_EDID, &id, sizeof(id), i, NULL) < 0)
					return;
				continue;	/* edid_wait stays until the answer */
			}
		} else if (qd->s[i].reported) {
			qd->s[i].reported = false;
			if (qd->host.output_changed)
				qd->host.output_changed(qd->host.opaque, i, false, 0, 0);
		}
		edid_wait_set(qd, i, false);	/* no EDID asked for this output */
	}
}

static void handle_edid(struct vgi_qemu_display *qd, uint32_t id, const struct virtio_gpu_resp_edid *e)
{
	if (e->hdr.type != VIRTIO_GPU_RESP_OK_EDID || e->size == 0 || e->size > sizeof(e->edid)) {
		vgi_warn("qemu display: GET_EDID for output %u answered with type 0x%x size %u; ignored", id,
			 e->hdr.type, e->size);
	} else if (qd->host.edid) {
		qd->host.edid(qd->host.opaque, id, e->edid, e->size);
	}
	edid_wait_set(qd, id, false);
}

/*
 * Read one reply. wait: block (up to the timeout) for it to start; else
 * return 0 at once when nothing has arrived. 1 handled, 0 nothing, -errno.
 */
static int read_reply(struct vgi_qemu_display *qd, bool wait)
{
	union {
		uint64_t u64;
		struct virtio_gpu_resp_display_info info;
		struct virtio_gpu_resp_edid edid;
	} payload;
	struct wire_hdr h;
	struct qd_pending p;
	ssize_t r;
	uint32_t want;
	int ret;

	for (;;) {
		r = recv(qd->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_PEEK);
		if (r > 0)
			break;
		if (r == 0) {
			if (qd->pend_count) {
				conn_fail(qd, "QEMU closed the socket with %u answer(s) outstanding", qd->pend_count);
			} else {
				/* QEMU stops the device or exits: an ordinary end */
				vgi_info("qemu display: QEMU closed the display socket");
				conn_end(qd);
			}
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			ret = -errno;
			conn_fail(qd, "cannot read from QEMU: %s", strerror(errno));
			return ret;
		}
		if (!wait)
			return 0;
		ret = wait_fd(qd->fd, POLLIN, qd->timeout_ms);
		if (ret < 0) {
			conn_fail(qd, "cannot wait for QEMU: %s", strerror(-ret));
			return ret;
		}
		if (ret == 0)
			return -ETIMEDOUT;	/* nothing started: the stream is still in step */
	}
	ret = read_full(qd, &h, sizeof(h), "a reply header");
	if (ret < 0)
		return ret;
	if (!qd->pend_count) {
		conn_fail(qd, "unexpected message %u (%s) flags 0x%x size %u: no request outstanding", h.request,
			  req_name(h.request), h.flags, h.size);
		return -EPROTO;
	}
	p = qd->pending[qd->pend_head];
	if (h.request != p.request) {
		conn_fail(qd, "reply with request code %u (%s) while waiting for %s", h.request, req_name(h.request),
			  req_name(p.request));
		return -EPROTO;
	}
	if (!(h.flags & MSG_FLAG_REPLY)) {
		conn_fail(qd, "%s reply without the reply flag (flags 0x%x)", req_name(h.request), h.flags);
		return -EPROTO;
	}
	want = reply_size(p.request);
	if (h.size != want) {
		conn_fail(qd, "%s reply has %u bytes of payload, expected %u", req_name(h.request), h.size, want);
		return -EPROTO;
	}
	ret = read_full(qd, &payload, want, req_name(h.request));
	if (ret < 0)
		return ret;
	qd->pend_head = (qd->pend_head + 1) % QD_MAX_PENDING;
	qd->pend_count--;
	qd->done_seq = p.seq;

	switch (p.request) {
	case REQ_GET_PROTOCOL_FEATURES:
		handle_features(qd, payload.u64);
		break;
	case REQ_GET_DISPLAY_INFO:
		handle_display_info(qd, &payload.info);
		break;
	case REQ_GET_EDID:
		handle_edid(qd, p.scanout, &payload.edid);
		break;
	case REQ_DMABUF_UPDATE:
		send_gl_due(qd);
		break;
	}
	return live(qd) ? 1 : -ECONNRESET;
}

/* Block until the reply with sequence number seq was read. 0, -ETIMEDOUT (still in step), -errno. */
static int wait_reply(struct vgi_qemu_display *qd, uint64_t seq)
{
	while (live(qd) && qd->done_seq < seq) {
		int ret = read_reply(qd, true);

		if (ret < 0)
			return ret;
	}
	return live(qd) ? 0 : -ECONNRESET;
}

/* ---- public connection API ---- */

static void reset_connection_state(struct vgi_qemu_display *qd)
{
	qd->dead = false;
	qd->features_known = false;
	qd->features = 0;
	qd->pend_head = qd->pend_count = 0;
	qd->done_seq = qd->next_seq;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		qd->s[i].sent = false;
		qd->s[i].cursor_image_sent = false;
		qd->s[i].ndue = 0;	/* a new connection starts with a full update */
		qd->s[i].cursor_dirty = false;
		qd->s[i].gl_due = false;
	}
	qd->batch_len = 0;
	out_clear(qd);
}

void vgi_qemu_display_disconnect(struct vgi_qemu_display *qd)
{
	if (!qd || qd->fd < 0)
		return;
	close(qd->fd);
	qd->fd = -1;
	reset_connection_state(qd);
	edid_wait_all(qd, false);
}

bool vgi_qemu_display_connected(const struct vgi_qemu_display *qd)
{
	return qd && live(qd);
}

int vgi_qemu_display_get_fd(const struct vgi_qemu_display *qd)
{
	return qd ? qd->fd : -1;
}

bool vgi_qemu_display_features(const struct vgi_qemu_display *qd, uint64_t *features)
{
	if (!qd || !live(qd) || !qd->features_known)
		return false;
	if (features)
		*features = qd->features;
	return true;
}

/* Blocking sends give up after the timeout (SO_SNDTIMEO; 0 there means forever). */
static void apply_send_timeout(struct vgi_qemu_display *qd)
{
	struct timeval tv = { 0, 0 };
	int fl;

	if (qd->fd < 0)
		return;
	if (qd->timeout_ms >= 0) {
		int ms = qd->timeout_ms ? qd->timeout_ms : 1;

		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
	}
	if (setsockopt(qd->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		vgi_debug("qemu display: SO_SNDTIMEO: %s", strerror(errno));
	fl = fcntl(qd->fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(qd->fd, F_SETFL, fl & ~O_NONBLOCK);
}

void vgi_qemu_display_set_timeout(struct vgi_qemu_display *qd, int ms)
{
	if (!qd)
		return;
	qd->timeout_ms = ms < 0 ? -1 : ms;
	apply_send_timeout(qd);
}

static void send_scanout_2d(struct vgi_qemu_display *qd, uint32_t id);
static void send_cursor(struct vgi_qemu_display *qd, uint32_t id);

int vgi_qemu_display_set_socket(struct vgi_qemu_display *qd, int fd)
{
	if (!qd) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (fd < 0)
		return -EBADF;
	vgi_qemu_display_disconnect(qd);
	fcntl(fd, F_SETFD, FD_CLOEXEC);	/* not for the programs we might start */
	qd->fd = fd;
	/*
	 * The default send buffer (net.core.wmem_default) stays: a buffer that
	 * holds a whole frame saves the ~20 blocking waits per 4 MB UPDATE, but
	 * the kernel then writes each frame into cold pages instead of the few
	 * it recycles, and the send costs more (1280x800 UPDATE in a guest:
	 * median ~600 us of CPU with 8 MiB against ~460 us with the default).
	 */
	apply_send_timeout(qd);
	reset_connection_state(qd);
	if (send_request(qd, REQ_GET_PROTOCOL_FEATURES, NULL, 0, 0, NULL) < 0) {
		vgi_qemu_display_disconnect(qd);
		return -ECONNRESET;
	}
	/* QEMU 8.1+ answers with EDIDs after the features and display info: the guest should get those */
	edid_wait_all(qd, true);
	/* Replay what QEMU should show; dmabufs follow once the features are known. */
	for (uint32_t i = 0; i < VGI_MAX_SCANOUTS && live(qd); i++) {
		if (qd->s[i].mode == MODE_2D)
			send_scanout_2d(qd, i);
		if (qd->s[i].cursor_known)
			send_cursor(qd, i);
	}
	if (!live(qd)) {
		vgi_qemu_display_disconnect(qd);
		return -ECONNRESET;
	}
	return 0;
}

int vgi_qemu_display_dispatch(struct vgi_qemu_display *qd)
{
	int ret;

	if (!qd || qd->fd < 0)
		return -ENOTCONN;
	out_write(qd);
	while (!qd->dead) {
		ret = read_reply(qd, false);
		if (ret <= 0)
			break;
	}
	pump(qd);
	if (qd->dead) {
		vgi_qemu_display_disconnect(qd);
		return -ECONNRESET;
	}
	return 0;
}

int vgi_qemu_display_request_display_info(struct vgi_qemu_display *qd)
{
	if (!qd || !live(qd))
		return -ENOTCONN;
	if (!qd->features_known)
		return 0;	/* asked for anyway once the features are known */
	return send_request(qd, REQ_GET_DISPLAY_INFO, NULL, 0, 0, NULL);
}

/* ---- 2D ---- */

static void send_scanout_2d(struct vgi_qemu_display *qd, uint32_t id)
{
	struct qd_scanout *s = &qd->s[id];
	struct wire_scanout m = { .scanout_id = id, .width = s->width, .height = s->height };

	if (send_msg(qd, REQ_SCANOUT, &m, sizeof(m), -1) == 0) {
		s->sent = true;
		s->full_pending = true;	/* QEMU made a new, empty surface */
	}
}

static void send_disable(struct vgi_qemu_display *qd, uint32_t id)
{
	struct qd_scanout *s = &qd->s[id];

	if (!live(qd) || !s->sent)
		return;
	if (s->mode == MODE_DMABUF) {
		struct wire_dmabuf_scanout m = { .scanout_id = id };

		send_msg(qd, REQ_DMABUF_SCANOUT, &m, sizeof(m), -1);	/* no fd: disable */
	} else if (s->mode == MODE_2D) {
		struct wire_scanout m = { .scanout_id = id };

		send_msg(qd, REQ_SCANOUT, &m, sizeof(m), -1);
	}
	s->sent = false;
}

static void drop_dmabuf(struct qd_scanout *s)
{
	if (s->dmabuf_fd >= 0)
		close(s->dmabuf_fd);
	s->dmabuf_fd = -1;
}

static struct qd_scanout *get_scanout(struct vgi_qemu_display *qd, uint32_t id, const char *what)
{
	if (!qd)
		return NULL;
	if (id >= VGI_MAX_SCANOUTS) {
		vgi_warn("qemu display: %s: scanout id %u out of range (max %u)", what, id, VGI_MAX_SCANOUTS - 1);
		return NULL;
	}
	return &qd->s[id];
}

static void qd_scanout(void *sink, uint32_t id, const struct vgi_scanout *so)
{
	struct vgi_qemu_display *qd = sink;
	struct qd_scanout *s = get_scanout(qd, id, "scanout");
	static const struct vgi_scanout off = { .enabled = false };

	if (!s || !so)
		return;
	s->ndue = 0;	/* its image may go away; a new scanout gets a full update anyway */
	if (so->enabled && (so->width == 0 || so->height == 0 || so->width > QD_MAX_SIDE || so->height > QD_MAX_SIDE)) {
		vgi_warn("qemu display: scanout %u: unusable size %ux%u; disabling it", id, so->width, so->height);
		so = &off;
	}
	if (!so->enabled) {
		send_disable(qd, id);
		drop_dmabuf(s);
		s->mode = MODE_OFF;
		return;
	}
	if (s->mode == MODE_2D && s->sent && s->width == so->width && s->height == so->height)
		return;	/* same size: QEMU keeps its surface (a page flip, typically) */
	if (s->mode == MODE_DMABUF) {
		send_disable(qd, id);
		drop_dmabuf(s);
	}
	s->mode = MODE_2D;
	s->width = so->width;
	s->height = so->height;
	s->sent = false;
	if (live(qd))
		send_scanout_2d(qd, id);
}

/* Position of R, G, B (bit shift) in a 32-bit pixel of a DRM format; false if unknown. */
static bool channel_shifts(uint32_t fourcc, unsigned *r, unsigned *g, unsigned *b)
{
	switch (fourcc) {
	case DRM_FORMAT_XRGB8888: case DRM_FORMAT_ARGB8888: *r = 16; *g = 8; *b = 0; return true;
	case DRM_FORMAT_BGRX8888: case DRM_FORMAT_BGRA8888: *r = 8; *g = 16; *b = 24; return true;
	case DRM_FORMAT_XBGR8888: case DRM_FORMAT_ABGR8888: *r = 0; *g = 8; *b = 16; return true;
	case DRM_FORMAT_RGBX8888: case DRM_FORMAT_RGBA8888: *r = 24; *g = 16; *b = 8; return true;
	default: return false;
	}
}

/* QEMU's surface is x8r8g8b8: XRGB and ARGB bytes go as they are (QEMU ignores the top byte). */
static bool goes_as_is(uint32_t fourcc)
{
	return fourcc == DRM_FORMAT_XRGB8888 || fourcc == DRM_FORMAT_ARGB8888;
}

/* Rows of r (inside img, 32-bit pixels as they are) packed tightly into dst. */
static void pack_rows(uint8_t *dst, const struct vgi_rect *r, const struct vgi_image *img)
{
	size_t row = (size_t)r->width * 4;
	const uint8_t *src = (const uint8_t *)img->data + (size_t)r->y * img->stride + (size_t)r->x * 4;

	for (uint32_t y = 0; y < r->height; y++)
		memcpy(dst + (size_t)y * row, src + (size_t)y * img->stride, row);
}

/* One UPDATE message for band r (inside img). */
static int send_update_band(struct vgi_qemu_display *qd, uint32_t id, const struct vgi_rect *r,
			    const struct vgi_image *img, bool direct, unsigned rs, unsigned gs, unsigned bs)
{
	size_t row = (size_t)r->width * 4, bytes = row * r->height;
	const uint8_t *src = (const uint8_t *)img->data + (size_t)r->y * img->stride + (size_t)r->x * 4;
	struct {
		struct wire_hdr h;
		struct wire_update u;
	} head = {
		.h = { .request = REQ_UPDATE, .size = (uint32_t)(sizeof(struct wire_update) + bytes) },
		.u = { .scanout_id = id, .x = r->x, .y = r->y, .width = r->width, .height = r->height },
	};
	struct iovec iov[QD_IOV_CHUNK];
	int ret;

	_Static_assert(sizeof(head) == HDR_SIZE + 20, "update head");
	iov[0] = (struct iovec){ .iov_base = &head, .iov_len = sizeof(head) };
	if (!direct) {
		/* convert to x8r8g8b8, tightly packed */
		if (qd->staging_size < bytes) {
			uint8_t *p = realloc(qd->staging, bytes);

			if (!p) {
				vgi_warn("qemu display: no memory to convert a %ux%u update", r->width, r->height);
				return -ENOMEM;
			}
			qd->staging = p;
			qd->staging_size = bytes;
		}
		for (uint32_t y = 0; y < r->height; y++) {
			const uint8_t *in = src + (size_t)y * img->stride;
			uint32_t *out = (uint32_t *)(qd->staging + (size_t)y * row);

			for (uint32_t x = 0; x < r->width; x++) {
				uint32_t v;

				memcpy(&v, in + (size_t)x * 4, 4);
				out[x] = 0xff000000u | ((v >> rs) & 0xff) << 16 | ((v >> gs) & 0xff) << 8 | ((v >> bs) & 0xff);
			}
		}
		iov[1] = (struct iovec){ .iov_base = qd->staging, .iov_len = bytes };
		return send_iov(qd, iov, 2, -1, "UPDATE");
	}
	if (img->stride == row) {
		/* whole rows, contiguous */
		iov[1] = (struct iovec){ .iov_base = (void *)(uintptr_t)src, .iov_len = bytes };
		return send_iov(qd, iov, 2, -1, "UPDATE");
	}
	if (bytes <= QD_PACK_MAX_BYTES) {
		/*
		 * A small update goes packed: one 4 KiB copy from the cache
		 * costs less than the kernel walking an iovec per row (32x32
		 * UPDATE in a guest: median 4.7 us of CPU instead of 5.7 us).
		 */
		if (qd->staging_size < bytes) {
			uint8_t *p = realloc(qd->staging, bytes);

			if (!p) {
				vgi_warn("qemu display: no memory to pack a %ux%u update", r->width, r->height);
				return -ENOMEM;
			}
			qd->staging = p;
			qd->staging_size = bytes;
		}
		pack_rows(qd->staging, r, img);
		iov[1] = (struct iovec){ .iov_base = qd->staging, .iov_len = bytes };
		return send_iov(qd, iov, 2, -1, "UPDATE");
	}
	/* one iovec per row, in chunks; each chunk goes out completely before the next */
	int n = 1;

	for (uint32_t y = 0; y < r->height; y++) {
		iov[n++] = (struct iovec){ .iov_base = (void *)(uintptr_t)(src + (size_t)y * img->stride), .iov_len = row };
		if (n == QD_IOV_CHUNK || y + 1 == r->height) {
			ret = send_iov(qd, iov, n, -1, "UPDATE");
			if (ret < 0)
				return ret;
			n = 0;
		}
	}
	return 0;
}

/*
 * Send rect r of img (clipped, inside the scanout) in bands that keep each
 * message bounded (QEMU allocates it whole). Stops after a band the socket
 * did not take completely (the rest of it is queued): returns the rows
 * handed over, or -1 when the connection failed.
 */
static int64_t send_rect(struct vgi_qemu_display *qd, uint32_t id, const struct vgi_rect *r, const struct vgi_image *img)
{
	unsigned rs, gs, bs;
	bool direct = goes_as_is(img->format);
	uint32_t band = (uint32_t)(QD_MAX_BAND_BYTES / ((size_t)r->width * 4));
	uint32_t y = 0;

	channel_shifts(img->format, &rs, &gs, &bs);	/* checked by qd_update */
	if (band == 0)
		band = 1;
	while (y < r->height) {
		struct vgi_rect b = { r->x, r->y + y, r->width, r->height - y < band ? r->height - y : band };

		if (send_update_band(qd, id, &b, img, direct, rs, gs, bs) < 0)
			return -1;
		y += b.height;
		if (out_busy(qd))
			break;
	}
	return y;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static bool rect_contains(const struct vgi_rect *a, const struct vgi_rect *b)
{
	return b->x >= a->x && b->y >= a->y && (uint64_t)b->x + b->width <= (uint64_t)a->x + a->width &&
	       (uint64_t)b->y + b->height <= (uint64_t)a->y + a->height;
}

/* Keep r for the next delivery: dropped if inside a kept rect, absorbing those inside it. */
static bool due_add(struct qd_scanout *s, const struct vgi_rect *r)
{
	unsigned n = 0;

	if (!s->due && !(s->due = malloc(QD_MAX_DUE * sizeof(*s->due))))
		return false;
	for (unsigned i = 0; i < s->ndue; i++) {
		if (rect_contains(&s->due[i], r))
			return true;
		if (!rect_contains(r, &s->due[i]))
			s->due[n++] = s->due[i];
	}
	s->ndue = n;
	if (n == QD_MAX_DUE) {
		/* too many: one bounding box (the area sent grows, the messages do not) */
		uint32_t x0 = r->x, y0 = r->y, x1 = r->x + r->width, y1 = r->y + r->height;

		for (unsigned i = 0; i < n; i++) {
			const struct vgi_rect *d = &s->due[i];

			x0 = d->x < x0 ? d->x : x0;
			y0 = d->y < y0 ? d->y : y0;
			x1 = d->x + d->width > x1 ? d->x + d->width : x1;
			y1 = d->y + d->height > y1 ? d->y + d->height : y1;
		}
		s->due[0] = (struct vgi_rect){ x0, y0, x1 - x0, y1 - y0 };
		s->ndue = 1;
		return true;
	}
	s->due[s->ndue++] = *r;
	return true;
}

static void batch_send(struct vgi_qemu_display *qd)
{
	struct iovec iov = { .iov_base = qd->batch, .iov_len = qd->batch_len };

	if (qd->batch_len && live(qd))
		send_iov(qd, &iov, 1, -1, "UPDATE");
	qd->batch_len = 0;
}

/* Append one UPDATE (header and packed rows) of a small XRGB rect to the batch; false: send it alone. */
static bool batch_add(struct vgi_qemu_display *qd, uint32_t id, const struct vgi_rect *r, const struct vgi_image *img)
{
	size_t row = (size_t)r->width * 4, bytes = row * r->height;
	struct wire_hdr h = { .request = REQ_UPDATE, .size = (uint32_t)(sizeof(struct wire_update) + bytes) };
	struct wire_update u = { .scanout_id = id, .x = r->x, .y = r->y, .width = r->width, .height = r->height };
	uint8_t *p;

	if (!goes_as_is(img->format) || bytes > QD_PACK_MAX_BYTES)
		return false;
	if (!qd->batch && !(qd->batch = malloc(QD_BATCH_BYTES + HDR_SIZE + sizeof(u) + QD_PACK_MAX_BYTES)))
		return false;
	if (qd->batch_len >= QD_BATCH_BYTES)
		batch_send(qd);
	p = qd->batch + qd->batch_len;
	memcpy(p, &h, HDR_SIZE);
	memcpy(p + HDR_SIZE, &u, sizeof(u));
	pack_rows(p + HDR_SIZE + sizeof(u), r, img);
	qd->batch_len += HDR_SIZE + sizeof(u) + bytes;
	return true;
}

/*
 * Send every scanout's waiting damage, with the pixels of now: small rects
 * packed into few sends, big ones alone. Once the socket is full the rest
 * stays due (merging with later damage) until it takes data again.
 */
static void deliver_due(struct vgi_qemu_display *qd)
{
	qd->last_delivery_ns = now_ns();
	for (uint32_t id = 0; id < VGI_MAX_SCANOUTS && live(qd); id++) {
		struct qd_scanout *s = &qd->s[id];
		unsigned i = 0;

		if (s->mode != MODE_2D || !s->sent) {
			s->ndue = 0;
			continue;
		}
		for (; i < s->ndue && live(qd) && !out_busy(qd); i++) {
			int64_t rows;

			if (batch_add(qd, id, &s->due[i], &s->due_img))
				continue;
			batch_send(qd);
			if (out_busy(qd))
				break;
			rows = send_rect(qd, id, &s->due[i], &s->due_img);
			if (rows >= 0 && (uint32_t)rows < s->due[i].height) {
				s->due[i].y += (uint32_t)rows;	/* the bands after the queued one wait */
				s->due[i].height -= (uint32_t)rows;
				break;
			}
		}
		if (i) {	/* (s->due is NULL until the first due rect) */
			memmove(s->due, s->due + i, (s->ndue - i) * sizeof(s->due[0]));
			s->ndue -= i;
		}
	}
	batch_send(qd);
}

static bool any_due(const struct vgi_qemu_display *qd)
{
	for (uint32_t id = 0; id < VGI_MAX_SCANOUTS; id++)
		if (qd->s[id].ndue || qd->s[id].cursor_dirty)
			return true;
	return false;
}

static void arm_timer(struct vgi_qemu_display *qd, uint64_t at_ns)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at_ns / 1000000000u),
						.tv_nsec = (long)(at_ns % 1000000000u) } };

	if (timerfd_settime(qd->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
		qd->timer_armed = true;
	} else {
		vgi_warn("qemu display: cannot arm the update timer (%s); sending every update", strerror(errno));
		qd->interval_ns = 0;
	}
}

static void send_cursor(struct vgi_qemu_display *qd, uint32_t id);

/*
 * The one place that decides what goes out next: queued bytes first, then
 * cursors, then due damage when the refresh interval allows. Whenever
 * something stays due, either the socket is full (the program watches it
 * for writing: vgi_qemu_display_wants_write) or the timer is armed.
 */
static void pump(struct vgi_qemu_display *qd)
{
	if (!live(qd) || out_write(qd) < 0 || out_busy(qd))
		return;
	for (uint32_t id = 0; id < VGI_MAX_SCANOUTS && live(qd) && !out_busy(qd); id++)
		if (qd->s[id].cursor_dirty)
			send_cursor(qd, id);
	send_gl_due(qd);
	if (!live(qd) || out_busy(qd) || !any_due(qd))
		return;
	if (qd->interval_ns) {
		uint64_t now = now_ns();

		if (now - qd->last_delivery_ns < qd->interval_ns) {
			if (!qd->timer_armed)
				arm_timer(qd, qd->last_delivery_ns + qd->interval_ns);
			if (qd->interval_ns)
				return;	/* the timer calls pump() again */
		}
	}
	deliver_due(qd);
}

/* An image valid only during update(): its damage is copied to the scanout's shadow, which stays. */
static bool shadow_copy(struct qd_scanout *s, struct vgi_rect *r, const struct vgi_image *img,
			struct vgi_image *out)
{
	size_t stride = (size_t)img->width * 4, bytes = stride * img->height;

	if (bytes > QD_OUT_CAP * 4)
		return false;
	if (s->shadow_size != bytes) {
		uint8_t *p = realloc(s->shadow, bytes);

		if (!p)
			return false;
		s->shadow = p;
		s->shadow_size = bytes;
		s->ndue = 0;	/* what was due came from the old copy */
		*r = (struct vgi_rect){ 0, 0, img->width, img->height };	/* a new copy: all of it */
	}
	for (uint32_t y = 0; y < r->height; y++)
		memcpy(s->shadow + (size_t)(r->y + y) * stride + (size_t)r->x * 4,
		       (const uint8_t *)img->data + (size_t)(r->y + y) * img->stride + (size_t)r->x * 4,
		       (size_t)r->width * 4);
	*out = (struct vgi_image){ .width = img->width, .height = img->height, .stride = (uint32_t)stride,
				   .format = img->format, .data = s->shadow, .stable = true };
	return true;
}

static void qd_update(void *sink, uint32_t id, const struct vgi_rect *damage, const struct vgi_image *img)
{
	struct vgi_qemu_display *qd = sink;
	struct qd_scanout *s = get_scanout(qd, id, "update");
	unsigned rs, gs, bs;
	struct vgi_image keep;
	struct vgi_rect r;

	if (!s || !damage || !img || s->mode != MODE_2D || !live(qd) || !s->sent)
		return;
	if (!channel_shifts(img->format, &rs, &gs, &bs) || !img->data || (uint64_t)img->width * 4 > img->stride) {
		vgi_warn("qemu display: scanout %u: bad image %ux%u stride %u format 0x%08x", id, img->width,
			 img->height, img->stride, img->format);
		return;
	}
	r = s->full_pending ? (struct vgi_rect){ 0, 0, s->width, s->height } : *damage;
	if (!vgi_rect_clip(&r, img->width < s->width ? img->width : s->width,
			   img->height < s->height ? img->height : s->height))
		return;
	s->full_pending = false;
	/*
	 * The damage becomes due and pump() sends it: at once after a quiet
	 * interval and when the socket takes data, else with the next refresh
	 * or once the socket drained, merged with what comes meanwhile (only
	 * the latest pixels of an area go out). Nothing here waits for QEMU.
	 */
	keep = *img;
	if (!img->stable && !shadow_copy(s, &r, img, &keep)) {
		if (s->ndue)
			deliver_due(qd);	/* keep the order */
		send_rect(qd, id, &r, img);	/* no copy to keep: the socket queue takes the rest */
		return;
	}
	if (!due_add(s, &r)) {
		send_rect(qd, id, &r, &keep);
		return;
	}
	s->due_img = keep;
	pump(qd);
}

int vgi_qemu_display_set_max_fps(struct vgi_qemu_display *qd, unsigned fps)
{
	if (!qd || fps > 1000)
		return -EINVAL;
	if (fps == 0) {
		qd->interval_ns = 0;
		pump(qd);
		return qd->timer_fd;
	}
	if (qd->timer_fd < 0) {
		qd->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (qd->timer_fd < 0)
			return -errno;
	}
	qd->interval_ns = 1000000000u / fps;
	return qd->timer_fd;
}

void vgi_qemu_display_dispatch_timer(struct vgi_qemu_display *qd)
{
	uint64_t expirations;

	if (!qd || qd->timer_fd < 0)
		return;
	if (read(qd->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations) && errno == EAGAIN)
		return;	/* not expired (spurious wakeup) */
	qd->timer_armed = false;
	pump(qd);
}

bool vgi_qemu_display_wants_write(const struct vgi_qemu_display *qd)
{
	return qd && live(qd) && out_busy(qd);
}

/* ---- cursor ---- */

static void send_cursor(struct vgi_qemu_display *qd, uint32_t id)
{
	struct qd_scanout *s = &qd->s[id];
	struct wire_cursor_pos pos = { .scanout_id = id, .x = (uint32_t)s->cursor_x, .y = (uint32_t)s->cursor_y };

	if (!live(qd))
		return;
	if (out_busy(qd)) {
		s->cursor_dirty = true;	/* the latest state goes once the socket drained (pump) */
		return;
	}
	s->cursor_dirty = false;
	if (!s->cursor_visible) {
		send_msg(qd, REQ_CURSOR_POS_HIDE, &pos, sizeof(pos), -1);
	} else if (s->cursor_image_valid && !s->cursor_image_sent) {
		struct wire_cursor_update *m = malloc(sizeof(*m));

		if (!m)
			return;
		m->pos = pos;
		m->hot_x = s->hot_x;
		m->hot_y = s->hot_y;
		memcpy(m->data, s->cursor, sizeof(m->data));
		if (send_msg(qd, REQ_CURSOR_UPDATE, m, sizeof(*m), -1) == 0)
			s->cursor_image_sent = true;
		free(m);
	} else {
		send_msg(qd, REQ_CURSOR_POS, &pos, sizeof(pos), -1);
	}
}

static void qd_cursor(void *sink, uint32_t id, const struct vgi_cursor *c)
{
	struct vgi_qemu_display *qd = sink;
	struct qd_scanout *s = get_scanout(qd, id, "cursor");

	if (!s || !c)
		return;
	if (c->image_changed) {
		if (!c->pixels) {
			vgi_warn("qemu display: scanout %u: cursor image_changed without pixels", id);
		} else {
			if (!s->cursor)
				s->cursor = malloc(VGI_CURSOR_SIZE * VGI_CURSOR_SIZE * sizeof(uint32_t));
			if (s->cursor) {
				/* QEMU takes the 64x64 ARGB image as it is (like its own virtio-gpu does). */
				memcpy(s->cursor, c->pixels, VGI_CURSOR_SIZE * VGI_CURSOR_SIZE * sizeof(uint32_t));
				s->cursor_image_valid = true;
				s->cursor_image_sent = false;
			}
		}
	}
	s->cursor_known = true;
	s->cursor_visible = c->visible;
	s->cursor_x = c->x;
	s->cursor_y = c->y;
	if (s->hot_x != c->hot_x || s->hot_y != c->hot_y)
		s->cursor_image_sent = false;	/* the hot spot travels with the image */
	s->hot_x = c->hot_x;
	s->hot_y = c->hot_y;
	send_cursor(qd, id);
}

/* ---- dmabuf (3D) ---- */

static void send_dmabuf_scanout(struct vgi_qemu_display *qd, uint32_t id)
{
	struct qd_scanout *s = &qd->s[id];
	const struct vgi_gl_scanout *g = &s->gl;
	struct wire_dmabuf_scanout2 m = {
		.base = {
			.scanout_id = id, .x = g->x, .y = g->y, .width = g->width, .height = g->height,
			.fd_width = g->buf_width, .fd_height = g->buf_height, .fd_stride = g->stride,
			.fd_flags = g->y0_top ? 1u : 0u,	/* VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP */
			.fd_drm_fourcc = (int32_t)g->fourcc,
		},
		.modifier = g->modifier,
	};
	bool implicit = g->modifier == DRM_FORMAT_MOD_LINEAR || g->modifier == DRM_FORMAT_MOD_INVALID;

	if (!live(qd))
		return;
	if (!qd->features_known && !implicit)
		return;	/* only SCANOUT2 carries a modifier: the features reply sends it (never waited for here) */
	if (qd->features & VGI_QEMU_DISPLAY_F_DMABUF2) {
		if (send_msg(qd, REQ_DMABUF_SCANOUT2, &m, sizeof(m), s->dmabuf_fd) == 0)
			s->sent = true;
		return;
	}
	if (!implicit && !qd->warned_modifier) {
		vgi_warn("qemu display: QEMU lacks DMABUF_SCANOUT2; sending a dmabuf with modifier 0x%llx without it",
			 (unsigned long long)g->modifier);
		qd->warned_modifier = true;
	}
	if (send_msg(qd, REQ_DMABUF_SCANOUT, &m.base, sizeof(m.base), s->dmabuf_fd) == 0)
		s->sent = true;
}

static void qd_scanout_gl(void *sink, uint32_t id, const struct vgi_gl_scanout *g)
{
	struct vgi_qemu_display *qd = sink;
	struct qd_scanout *s = get_scanout(qd, id, "scanout_gl");
	static const struct vgi_gl_scanout off = { .enabled = false, .dmabuf_fd = -1 };
	int fd;

	if (!s || !g)
		return;
	s->ndue = 0;
	if (g->enabled && g->dmabuf_fd < 0) {
		if (!qd->warned_no_dmabuf)
			vgi_warn("qemu display: scanout %u: a GL scanout without a dmabuf cannot reach QEMU "
				 "(use the qemu display with gl=off to get read-back pixels)", id);
		qd->warned_no_dmabuf = true;
		g = &off;
	}
	if (g->enabled && (g->width == 0 || g->height == 0 || g->stride == 0 ||
			   (uint64_t)g->x + g->width > g->buf_width || (uint64_t)g->y + g->height > g->buf_height ||
			   g->buf_width > QD_MAX_SIDE || g->buf_height > QD_MAX_SIDE)) {
		vgi_warn("qemu display: scanout %u: bad dmabuf scanout %ux%u+%u+%u of %ux%u stride %u; disabling it",
			 id, g->width, g->height, g->x, g->y, g->buf_width, g->buf_height, g->stride);
		g = &off;
	}
	if (!g->enabled) {
		send_disable(qd, id);
		drop_dmabuf(s);
		s->mode = MODE_OFF;
		return;
	}
	fd = fcntl(g->dmabuf_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		vgi_warn("qemu display: scanout %u: cannot keep dmabuf fd %d: %s", id, g->dmabuf_fd, strerror(errno));
		return;
	}
	if (s->mode == MODE_2D)
		send_disable(qd, id);
	drop_dmabuf(s);
	s->gl_due = false;	/* a new DMABUF_SCANOUT shows the whole buffer */
	s->dmabuf_fd = fd;
	s->gl = *g;
	s->gl.dmabuf_fd = -1;
	s->mode = MODE_DMABUF;
	s->sent = false;
	send_dmabuf_scanout(qd, id);
}

static bool dmabuf_update_outstanding(const struct vgi_qemu_display *qd)
{
	for (unsigned i = 0; i < qd->pend_count; i++)
		if (qd->pending[(qd->pend_head + i) % QD_MAX_PENDING].request == REQ_DMABUF_UPDATE)
			return true;
	return false;
}

/*
 * DMABUF_UPDATE of r. QEMU answers once its display has used the buffer,
 * and the guest should draw again only after that (no tearing), so in the
 * command path (wait) the answer is awaited, but for one refresh interval
 * at most (the timeout, default 16 ms): a stalled QEMU then costs the guest
 * that once, and later updates merge until QEMU answered (gl_due).
 */
static void send_dmabuf_update(struct vgi_qemu_display *qd, uint32_t id, const struct vgi_rect *r, bool wait)
{
	struct wire_update m = { .scanout_id = id, .x = r->x, .y = r->y, .width = r->width, .height = r->height };
	uint64_t seq;
	int ret;

	if (send_request(qd, REQ_DMABUF_UPDATE, &m, sizeof(m), id, &seq) < 0 || !wait || out_busy(qd))
		return;	/* QEMU cannot answer what is still queued here */
	ret = wait_reply(qd, seq);
	if (ret == -ETIMEDOUT && live(qd)) {
		if (!qd->warned_stall)
			vgi_warn("qemu display: QEMU has not answered DMABUF_UPDATE within %d ms; going on, later "
				 "updates merge until it does", qd->timeout_ms);
		qd->warned_stall = true;
	} else if (ret == 0) {
		qd->warned_stall = false;
	}
}

/* Damage that merged while QEMU had not answered: one DMABUF_UPDATE (its answer is read by dispatch). */
static void send_gl_due(struct vgi_qemu_display *qd)
{
	if (!live(qd) || out_busy(qd) || dmabuf_update_outstanding(qd))
		return;
	for (uint32_t id = 0; id < VGI_MAX_SCANOUTS; id++) {
		struct qd_scanout *s = &qd->s[id];

		if (!s->gl_due)
			continue;
		s->gl_due = false;
		if (s->mode == MODE_DMABUF && s->sent) {
			send_dmabuf_update(qd, id, &s->gl_damage, false);
			return;
		}
	}
}

static void qd_gl_update(void *sink, uint32_t id, const struct vgi_rect *damage)
{
	struct vgi_qemu_display *qd = sink;
	struct qd_scanout *s = get_scanout(qd, id, "gl_update");
	struct vgi_rect r;

	if (!s || !damage || s->mode != MODE_DMABUF || !s->sent || !live(qd))
		return;
	r = *damage;
	if (!vgi_rect_clip(&r, s->gl.width, s->gl.height))
		return;
	if (dmabuf_update_outstanding(qd) || out_busy(qd)) {
		/* QEMU is behind: the bounding box goes once it answered (one update outstanding at a time) */
		if (s->gl_due) {
			uint64_t x2 = (uint64_t)s->gl_damage.x + s->gl_damage.width, y2 = (uint64_t)s->gl_damage.y + s->gl_damage.height;

			if ((uint64_t)r.x + r.width > x2)
				x2 = (uint64_t)r.x + r.width;
			if ((uint64_t)r.y + r.height > y2)
				y2 = (uint64_t)r.y + r.height;
			r.x = r.x < s->gl_damage.x ? r.x : s->gl_damage.x;
			r.y = r.y < s->gl_damage.y ? r.y : s->gl_damage.y;
			r.width = (uint32_t)(x2 - r.x);
			r.height = (uint32_t)(y2 - r.y);
		}
		s->gl_damage = r;
		s->gl_due = true;
		return;
	}
	send_dmabuf_update(qd, id, &r, true);
}

/* ---- object ---- */

static void qd_destroy(void *sink)
{
	vgi_qemu_display_free(sink);
}

static const struct vgi_display_ops qemu_ops = {
	.scanout = qd_scanout,
	.update = qd_update,
	.scanout_gl = qd_scanout_gl,
	.gl_update = qd_gl_update,
	.cursor = qd_cursor,
	.destroy = qd_destroy,
};

static const struct vgi_display_ops qemu_ops_nogl = {
	.scanout = qd_scanout,
	.update = qd_update,
	.cursor = qd_cursor,
	.destroy = qd_destroy,
};

const struct vgi_display_ops *vgi_qemu_display_ops(void)
{
	return &qemu_ops;
}

const struct vgi_display_ops *vgi_qemu_display_ops_nogl(void)
{
	return &qemu_ops_nogl;
}

struct vgi_qemu_display *vgi_qemu_display_new(const struct vgi_display_host *host)
{
	struct vgi_qemu_display *qd = calloc(1, sizeof(*qd));

	if (!qd)
		return NULL;
	if (host)
		qd->host = *host;
	qd->fd = -1;
	qd->timer_fd = -1;
	qd->timeout_ms = QD_DEFAULT_TIMEOUT_MS;
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++)
		qd->s[i].dmabuf_fd = -1;
	return qd;
}

void vgi_qemu_display_free(struct vgi_qemu_display *qd)
{
	if (!qd)
		return;
	qd->host.edid_pending = NULL;	/* the device may be half gone (sinks go last) */
	vgi_qemu_display_disconnect(qd);
	for (unsigned i = 0; i < VGI_MAX_SCANOUTS; i++) {
		drop_dmabuf(&qd->s[i]);
		free(qd->s[i].cursor);
		free(qd->s[i].due);
		free(qd->s[i].shadow);
	}
	if (qd->timer_fd >= 0)
		close(qd->timer_fd);
	free(qd->batch);
	free(qd->out);
	free(qd->staging);
	free(qd);
}

/* Registry: "qemu[,gl=on|off]". The program hands the socket over with vgi_qemu_display_set_socket(). */
int vgi_qemu_sink_new(struct vgi_options *opts, const struct vgi_display_host *host, struct vgi_display_sink *out)
{
	const char *gl = vgi_options_get(opts, "gl");
	bool use_gl = true;
	struct vgi_qemu_display *qd;

	if (gl) {
		if (!strcmp(gl, "off") || !strcmp(gl, "no") || !strcmp(gl, "0") || !strcmp(gl, "false")) {
			use_gl = false;
		} else if (!(!*gl || !strcmp(gl, "on") || !strcmp(gl, "yes") || !strcmp(gl, "1") || !strcmp(gl, "true"))) {
			vgi_error("display 'qemu': gl=%s: expected on or off", gl);
			return -EINVAL;
		}
	}
	qd = vgi_qemu_display_new(host);
	if (!qd)
		return -ENOMEM;
	out->ops = use_gl ? vgi_qemu_display_ops() : vgi_qemu_display_ops_nogl();
	out->sink = qd;
	return 0;
}
