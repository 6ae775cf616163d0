/* SPDX-License-Identifier: MIT */
#ifndef VGI_FUZZ_VU_LIFE_H
#define VGI_FUZZ_VU_LIFE_H

/*
 * A QEMU-like vhost-user front-end for lifecycle fuzzing (fuzz-vhost-user's
 * lifecycle mode, fuzz-vhost-user-input): it plays a VM whose rings stop
 * and start again (at their base or afresh at 0), whose memory table is
 * swapped for a new memfd with the same contents, grows and shrinks (ADD/
 * REM_MEM_REG), that sets the status to 0 and back, resets the device,
 * hangs up and comes back as a new front-end on the same back-end object,
 * and truncates its RAM file. It drives the driver side of both split rings
 * itself and checks after every record what a real driver relies on:
 *   - every used entry names a chain the driver gave and the device had not
 *     answered yet (no head answered twice, none made up), with a length
 *     that fits its writable part; the used index never runs ahead of the
 *     chains published;
 *   - after GET_VRING_BASE the base is exactly the used index (everything
 *     taken was answered or given back) and the device holds nothing of
 *     that ring (vgi_virtqueue_inflight == 0);
 *   - the rings of a memory file that was swapped out are never written
 *     after the swap;
 *   - a SIGBUS on truncated guest memory ends the connection with its
 *     named error and the back-end serves the next front-end.
 * Writes into memory the back-end no longer maps fault (ASan/SEGV); the
 * harness checks fds and LeakSanitizer checks memory at the end.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vgi/log.h>
#include <vgi/vhost-user.h>
#include <vgi/virtio-device.h>
#include <vgi/virtqueue.h>

#include "fuzz-reader.h"

#define LF_RAM_SIZE (1u << 20)
#define LF_RAM_GPA 0x100000ull
#define LF_RAM_UADDR 0x7f0000000000ull
#define LF_EXTRA_SIZE 0x10000u
#define LF_EXTRA_GPA 0x40000000ull
#define LF_EXTRA_UADDR 0x7f1000000000ull
#define LF_QSIZE 16u
#define LF_RINGS_OFF 0x1000u	/* queue q: desc at +q*0x3000, avail +0x1000, used +0x2000 */
#define LF_RINGS_LEN 0x6000u
#define LF_BUF_OFF 0x10000u	/* queue q, slot s: readable part at +q*0x20000+s*0x2000, writable +0x1000 */
#define LF_MAX_OPEN 16

#define lf_fail(...)                                                                                               \
	do {                                                                                                       \
		fprintf(stderr, "lifecycle invariant: " __VA_ARGS__);                                              \
		fputc('\n', stderr);                                                                               \
		abort();                                                                                           \
	} while (0)

struct lf_queue {
	unsigned dpc;			/* descriptors per chain: slot s uses [s*dpc, s*dpc+dpc) */
	bool started;			/* the front-end sent KICK for it (as far as it knows) */
	bool enabled;
	uint16_t avail_idx;		/* published */
	uint16_t last_used;		/* consumed */
	bool busy[LF_QSIZE];		/* slot given, not answered */
	uint32_t in_len[LF_QSIZE];	/* writable bytes of the slot's chain */
	uint64_t given, used, used_empty;	/* chains over the input's life */
	int kick, call;			/* the front-end's ends */
};

struct lf {
	struct vgi_vhost_user *vu;
	struct vgi_virtio_device *dev;
	int sock;			/* -1 while no front-end is connected */
	int ram_fd;			/* guest RAM, shared with the back-end */
	uint8_t *ram;
	uint8_t *old_ram;		/* the RAM mapping before the last swap, and its rings then */
	uint8_t old_rings[LF_RINGS_LEN];
	int extra_fd;			/* a hot-plugged region (ADD_MEM_REG) */
	uint8_t *extra;
	bool extra_added;
	struct lf_queue q[2];
	uint64_t features, proto;
	bool event_idx;
	bool reset_expected;		/* SET_STATUS 0 seen: the next fresh start (base 0) resets */
	bool reset_happened;		/* set when the device state must be back to the state after creation */
	int open[LF_MAX_OPEN];
	unsigned nopen;
	/* the back-end's replies */
	uint8_t rbuf[4096];
	size_t rlen;
	bool base_reply;
	uint32_t base_index, base_num;
	/* called after every dispatch round (the device's own fd) */
	void (*device_pump)(struct lf *f);
	void *opaque;
};

static bool lf_sigbus_logged;
static int lf_verbose = -1;	/* VGI_FUZZ_VERBOSE: log what an input does */

static void lf_log(enum vgi_log_level level, const char *msg, void *opaque)
{
	(void)opaque;
	if (lf_verbose > 0)
		fprintf(stderr, "[%d] %s\n", (int)level, msg);
	if (strstr(msg, "SIGBUS"))
		lf_sigbus_logged = true;
}

static int lf_count_fds(void)
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

static int lf_keep(struct lf *f, int fd)
{
	if (fd < 0)
		abort();
	if (f->nopen == LF_MAX_OPEN)
		abort();	/* the harness opens a bounded number */
	f->open[f->nopen++] = fd;
	return fd;
}

static uint64_t lf_qgpa(unsigned q)
{
	return LF_RAM_GPA + LF_RINGS_OFF + q * 0x3000u;
}

static uint8_t *lf_host(struct lf *f, uint64_t gpa)
{
	if (f->extra_added && gpa >= LF_EXTRA_GPA && gpa < LF_EXTRA_GPA + LF_EXTRA_SIZE)
		return f->extra + (gpa - LF_EXTRA_GPA);
	if (gpa >= LF_RAM_GPA && gpa < LF_RAM_GPA + LF_RAM_SIZE)
		return f->ram + (gpa - LF_RAM_GPA);
	return NULL;
}

static volatile uint16_t *lf_avail(struct lf *f, unsigned q)
{
	return (volatile uint16_t *)lf_host(f, lf_qgpa(q) + 0x1000);
}

static volatile uint16_t *lf_used(struct lf *f, unsigned q)
{
	return (volatile uint16_t *)lf_host(f, lf_qgpa(q) + 0x2000);
}

static struct vring_desc *lf_desc(struct lf *f, unsigned q)
{
	return (struct vring_desc *)lf_host(f, lf_qgpa(q));
}

static uint64_t lf_buf_gpa(unsigned q, unsigned slot)
{
	return LF_RAM_GPA + LF_BUF_OFF + q * 0x20000u + slot * 0x2000u;
}

/* Parse what the back-end sent: only GET_VRING_BASE's answer matters. */
static void lf_read_replies(struct lf *f)
{
	while (f->sock >= 0) {
		ssize_t n = recv(f->sock, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen, MSG_DONTWAIT);

		if (n <= 0)
			break;
		f->rlen += (size_t)n;
		for (;;) {
			uint32_t hdr[3];

			if (f->rlen < 12)
				break;
			memcpy(hdr, f->rbuf, 12);
			if (hdr[2] > sizeof(f->rbuf) - 12)
				lf_fail("reply of %u bytes", hdr[2]);
			if (f->rlen < 12 + hdr[2])
				break;
			if (hdr[0] == VGI_VHOST_USER_GET_VRING_BASE && hdr[2] == 8) {
				memcpy(&f->base_index, f->rbuf + 12, 4);
				memcpy(&f->base_num, f->rbuf + 16, 4);
				f->base_reply = true;
			}
			memmove(f->rbuf, f->rbuf + 12 + hdr[2], f->rlen - 12 - hdr[2]);
			f->rlen -= 12 + hdr[2];
		}
	}
}

/* Run the back-end until nothing is ready; false once the connection is over. */
static bool lf_pump(struct lf *f)
{
	for (int i = 0; i < 64; i++) {
		struct pollfd p = { .fd = vgi_vhost_user_get_fd(f->vu), .events = POLLIN };
		int r;

		if (poll(&p, 1, 0) <= 0)
			break;
		r = vgi_vhost_user_dispatch(f->vu);
		lf_read_replies(f);
		if (r && !vgi_vhost_user_connected(f->vu))
			break;
	}
	lf_read_replies(f);
	if (f->device_pump)
		f->device_pump(f);
	for (unsigned q = 0; q < 2; q++) {
		eventfd_t v;

		if (f->q[q].call >= 0)
			eventfd_read(f->q[q].call, &v);
	}
	return vgi_vhost_user_connected(f->vu);
}

static bool lf_send(struct lf *f, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 256];
	uint32_t hdr[3] = { request, VGI_VHOST_USER_VERSION, size };
	union {
		char c[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (f->sock < 0 || !vgi_vhost_user_connected(f->vu) || size > 256 || nfds > 4)
		return false;
	memcpy(buf, hdr, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = control.c;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(f->sock, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return false;
	return lf_pump(f);
}

static bool lf_mem_table(struct lf *f)
{
	struct {
		uint32_t n, pad;
		uint64_t gpa, size, uaddr, offset;
	} m = { 1, 0, LF_RAM_GPA, LF_RAM_SIZE, LF_RAM_UADDR, 0 };

	return lf_send(f, VGI_VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), &f->ram_fd, 1);
}

/* Fresh driver state for ring q (a guest that sets the ring up from scratch). */
static void lf_queue_forget(struct lf *f, unsigned q, bool clear_memory)
{
	struct lf_queue *lq = &f->q[q];

	memset(lq->busy, 0, sizeof(lq->busy));
	lq->avail_idx = lq->last_used = 0;
	if (clear_memory)
		memset(lf_host(f, lf_qgpa(q)), 0, 0x3000);
}

/* NUM, BASE, ADDR, KICK, CALL, ENABLE as QEMU sends them when a ring starts at base. */
static bool lf_start_queue(struct lf *f, unsigned q, uint16_t base, bool enable)
{
	struct lf_queue *lq = &f->q[q];
	struct { uint32_t index, num; } st = { q, LF_QSIZE };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { q, 0, lf_qgpa(q) - LF_RAM_GPA + LF_RAM_UADDR, lf_qgpa(q) + 0x2000 - LF_RAM_GPA + LF_RAM_UADDR,
		   lf_qgpa(q) + 0x1000 - LF_RAM_GPA + LF_RAM_UADDR, 0 };
	uint64_t v = q;

	if (!lf_send(f, VGI_VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0))
		return false;
	st.num = base;
	if (!lf_send(f, VGI_VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0) ||
	    !lf_send(f, VGI_VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0))
		return false;
	if (lq->kick < 0)
		lq->kick = lf_keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (lq->call < 0)
		lq->call = lf_keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (!lf_send(f, VGI_VHOST_USER_SET_VRING_CALL, &v, 8, &lq->call, 1) ||
	    !lf_send(f, VGI_VHOST_USER_SET_VRING_KICK, &v, 8, &lq->kick, 1))
		return false;
	lq->started = true;
	lq->last_used = base;	/* the driver's view: everything before base was answered */
	if (f->reset_expected) {
		/*
		 * The first ring start after SET_STATUS 0 decides: afresh (0)
		 * resets, a resume keeps the state. The state after creation is
		 * checked only when no chain was waiting: the device runs those
		 * right after the reset.
		 */
		bool waiting = false;

		for (unsigned i = 0; i < 2; i++)
			for (unsigned s = 0; s < LF_QSIZE / f->q[i].dpc; s++)
				waiting |= f->q[i].busy[s];
		f->reset_expected = false;
		f->reset_happened |= base == 0 && !waiting;
	}
	st.num = enable;
	if (!lf_send(f, VGI_VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0))
		return false;
	lq->enabled = enable;
	return true;
}

/* Take the used entries: each must answer a chain that is outstanding. */
static void lf_collect(struct lf *f, unsigned q)
{
	struct lf_queue *lq = &f->q[q];
	volatile uint16_t *used;
	uint16_t idx;
	unsigned outstanding = 0, n;

	if (!f->ram)
		return;
	used = lf_used(f, q);
	idx = __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
	for (unsigned s = 0; s < LF_QSIZE / lq->dpc; s++)
		outstanding += lq->busy[s];
	n = (uint16_t)(idx - lq->last_used);
	if (n > outstanding)
		lf_fail("queue %u: used idx %u is %u past the %u entries taken, with %u chains outstanding", q, idx, n,
			lq->last_used, outstanding);
	for (; lq->last_used != idx; lq->last_used++) {
		volatile uint32_t *e = (volatile uint32_t *)&used[2 + 4 * (lq->last_used % LF_QSIZE)];
		uint32_t id = e[0], len = e[1], slot = id / lq->dpc;

		if (id % lq->dpc || slot >= LF_QSIZE / lq->dpc || !lq->busy[slot])
			lf_fail("queue %u: used entry %u names head %u, not an outstanding chain", q, lq->last_used, id);
		if (len > lq->in_len[slot])
			lf_fail("queue %u: head %u used with %u bytes, %u writable", q, id, len, lq->in_len[slot]);
		lq->busy[slot] = false;
		lq->used++;
		lq->used_empty += len == 0;
	}
}

/* A free slot of ring q, or -1 (all chains outstanding). */
static int lf_free_slot(struct lf *f, unsigned q)
{
	struct lf_queue *lq = &f->q[q];

	lf_collect(f, q);
	for (unsigned s = 0; s < LF_QSIZE / lq->dpc; s++)
		if (!lq->busy[s])
			return (int)s;
	return -1;
}

/*
 * Publish a chain on ring q in slot: n buffers (gpa, len, writable), kicked
 * or not. The buffers are the caller's (usually lf_buf_gpa's).
 */
static void lf_publish(struct lf *f, unsigned q, unsigned slot, const uint64_t *gpa, const uint32_t *len,
		       const bool *writable, unsigned n, bool kick)
{
	struct lf_queue *lq = &f->q[q];
	struct vring_desc *d = lf_desc(f, q);
	volatile uint16_t *avail = lf_avail(f, q);
	unsigned head = slot * lq->dpc;

	if (n > lq->dpc)
		abort();
	lq->in_len[slot] = 0;
	for (unsigned i = 0; i < n; i++) {
		d[head + i] = (struct vring_desc){ .addr = gpa[i], .len = len[i],
						   .flags = (uint16_t)((writable[i] ? VRING_DESC_F_WRITE : 0) |
								       (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
						   .next = (uint16_t)(head + i + 1) };
		if (writable[i])
			lq->in_len[slot] += len[i];
	}
	avail[2 + lq->avail_idx % LF_QSIZE] = (uint16_t)head;
	__atomic_store_n(&avail[1], ++lq->avail_idx, __ATOMIC_RELEASE);
	lq->busy[slot] = true;
	lq->given++;
	if (kick && lq->kick >= 0)
		eventfd_write(lq->kick, 1);
}

/* The used rings of a memory file swapped out must stay as they were at the swap. */
static void lf_check_old(struct lf *f)
{
	if (f->old_ram && memcmp(f->old_ram + LF_RINGS_OFF, f->old_rings, LF_RINGS_LEN))
		lf_fail("the back-end wrote the rings of a memory file after it was swapped out");
}

static void lf_check(struct lf *f)
{
	for (unsigned q = 0; q < 2; q++)
		if (f->q[q].started)
			lf_collect(f, q);
	lf_check_old(f);
}

/* GET_VRING_BASE: the ring stops; everything taken must be answered or given back. */
static void lf_stop_queue(struct lf *f, unsigned q)
{
	struct { uint32_t index, num; } st = { q, 0 };
	f->base_reply = false;
	if (!lf_send(f, VGI_VHOST_USER_GET_VRING_BASE, &st, sizeof(st), NULL, 0))
		return;
	if (!f->base_reply || f->base_index != q)
		lf_fail("GET_VRING_BASE %u: no answer", q);
	if (vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)))
		lf_fail("queue %u: %u elements still held by the device after GET_VRING_BASE", q,
			vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)));
	lf_collect(f, q);
	if (f->ram && f->base_num != f->q[q].last_used)
		lf_fail("queue %u: GET_VRING_BASE says %u, but the device answered up to %u (chains lost or answered "
			"twice)", q, f->base_num, f->q[q].last_used);
	f->q[q].started = false;
}

static void lf_close_old(struct lf *f)
{
	if (f->old_ram) {
		lf_check_old(f);
		munmap(f->old_ram, LF_RAM_SIZE);
		f->old_ram = NULL;
	}
}

/* New guest RAM file with the same contents (x86 reset remap, migration); the old one is closed. */
static void lf_swap_ram(struct lf *f)
{
	int fd = memfd_create("fuzz-life-ram", MFD_CLOEXEC);
	uint8_t *p;

	if (fd < 0 || ftruncate(fd, LF_RAM_SIZE) < 0)
		abort();
	p = mmap(NULL, LF_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		abort();
	memcpy(p, f->ram, LF_RAM_SIZE);
	lf_close_old(f);
	f->old_ram = f->ram;
	memcpy(f->old_rings, f->old_ram + LF_RINGS_OFF, LF_RINGS_LEN);
	close(f->ram_fd);
	f->ram_fd = fd;
	f->ram = p;
}

static void lf_new_ram(struct lf *f)
{
	f->ram_fd = memfd_create("fuzz-life-ram", MFD_CLOEXEC);
	if (f->ram_fd < 0 || ftruncate(f->ram_fd, LF_RAM_SIZE) < 0)
		abort();
	f->ram = mmap(NULL, LF_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->ram_fd, 0);
	if (f->ram == MAP_FAILED)
		abort();
}

static void lf_free_ram(struct lf *f)
{
	lf_close_old(f);
	if (f->ram)
		munmap(f->ram, LF_RAM_SIZE);
	if (f->ram_fd >= 0)
		close(f->ram_fd);
	f->ram = NULL;
	f->ram_fd = -1;
	if (f->extra) {
		munmap(f->extra, LF_EXTRA_SIZE);
		close(f->extra_fd);
	}
	f->extra = NULL;
	f->extra_fd = -1;
	f->extra_added = false;
}

static bool lf_region_msg(struct lf *f, uint32_t request)
{
	struct {
		uint64_t pad;
		uint64_t gpa, size, uaddr, offset;
	} m = { 0, LF_EXTRA_GPA, LF_EXTRA_SIZE, LF_EXTRA_UADDR, 0 };

	if (!f->extra) {
		f->extra_fd = memfd_create("fuzz-life-extra", MFD_CLOEXEC);
		if (f->extra_fd < 0 || ftruncate(f->extra_fd, LF_EXTRA_SIZE) < 0)
			abort();
		f->extra = mmap(NULL, LF_EXTRA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->extra_fd, 0);
		if (f->extra == MAP_FAILED)
			abort();
	}
	return lf_send(f, request, &m, sizeof(m), request == VGI_VHOST_USER_ADD_MEM_REG ? &f->extra_fd : NULL,
		       request == VGI_VHOST_USER_ADD_MEM_REG);
}

/* A new front-end on the same back-end object: new socket, new RAM, nothing set up. */
static void lf_connect(struct lf *f)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	f->sock = sv[0];
	f->rlen = 0;
	if (vgi_vhost_user_set_connection(f->vu, sv[1]))
		abort();
	lf_new_ram(f);
	for (unsigned q = 0; q < 2; q++) {
		f->q[q].started = f->q[q].enabled = false;
		lf_queue_forget(f, q, false);
	}
	f->reset_expected = false;
}

/* The front-end goes away: its socket, RAM and eventfds; the back-end drops everything. */
static void lf_hangup(struct lf *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	lf_pump(f);
	if (vgi_vhost_user_connected(f->vu))
		lf_fail("the back-end still serves a front-end that hung up");
	for (unsigned q = 0; q < 2; q++)
		if (vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)))
			lf_fail("queue %u: %u elements held after the front-end left", q,
				vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, q)));
	lf_free_ram(f);
	f->reset_happened = true;
}

/* QEMU's start: features, protocol features, owner, memory, both rings from 0. */
static void lf_setup(struct lf *f, uint8_t how)
{
	uint64_t features = f->features | (1ull << VIRTIO_F_VERSION_1) | (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t proto = (1ull << VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG) |
			 (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			 (1ull << VGI_VHOST_USER_PROTOCOL_F_STATUS) | (1ull << VGI_VHOST_USER_PROTOCOL_F_RESET_DEVICE);
	uint64_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;

	f->event_idx = how & 1;
	if (f->event_idx)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (!lf_send(f, VGI_VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) ||
	    !lf_send(f, VGI_VHOST_USER_SET_FEATURES, &features, 8, NULL, 0) ||
	    !lf_send(f, VGI_VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0) ||
	    !lf_send(f, VGI_VHOST_USER_SET_PROTOCOL_FEATURES, &proto, 8, NULL, 0) ||
	    !lf_send(f, VGI_VHOST_USER_SET_OWNER, NULL, 0, NULL, 0) || !lf_mem_table(f))
		return;
	for (unsigned q = 0; q < 2; q++) {
		if (vgi_vhost_user_queue_started(f->vu, q))
			lf_stop_queue(f, q);
		lf_queue_forget(f, q, true);
		if (!lf_start_queue(f, q, 0, true))
			return;
	}
	status |= VIRTIO_CONFIG_S_DRIVER_OK;
	lf_send(f, VGI_VHOST_USER_SET_STATUS, &status, 8, NULL, 0);
}

/* Before each record but a hang-up: a new front-end connects and sets up when nobody is connected. */
static void lf_ensure_connected(struct lf *f, uint8_t op)
{
	if (f->sock >= 0 || op == 9)
		return;
	lf_connect(f);
	lf_setup(f, 0);
	if (f->sock >= 0 && !vgi_vhost_user_connected(f->vu))
		lf_fail("the back-end refused QEMU's start-up sequence");
	lf_check(f);
}

/* The device must be back to the state after creation (checked by the harness's own test). */
typedef void (*lf_reset_check)(struct lf *f);

/*
 * One of the lifecycle records, op 0..LF_NOPS-1; the harness adds its
 * device's records after these. check_reset runs where the device must be
 * back to its state after creation.
 */
#define LF_NOPS 12

static void lf_record(struct lf *f, uint8_t op, struct reader *r, lf_reset_check check_reset)
{
	uint8_t arg = u8(r);
	unsigned q = arg & 1;

	if (lf_verbose > 0)
		fprintf(stderr, "record %u arg 0x%x (connected %d)\n", op, arg, f->sock >= 0);

	if (f->sock < 0)
		return;	/* lf_ensure_connected() came first: the hang-up record */
	switch (op) {
	case 0:		/* QEMU's start-up sequence (again) */
		lf_setup(f, arg >> 1);
		break;
	case 1:		/* VM stop: GET_VRING_BASE */
		lf_stop_queue(f, q);
		break;
	case 2:		/* VM stop and continue: the ring resumes where it stopped */
		if (vgi_vhost_user_queue_started(f->vu, q))
			lf_stop_queue(f, q);	/* QEMU always asks for the base first */
		lf_collect(f, q);
		/* the chains the device had not taken yet stay published: it takes them after the resume */
		lf_start_queue(f, q, f->q[q].last_used, !(arg & 2));
		break;
	case 3:		/* the guest sets the ring up afresh (reboot): base 0, empty rings */
		if (vgi_vhost_user_queue_started(f->vu, q))
			lf_stop_queue(f, q);
		lf_queue_forget(f, q, true);
		lf_start_queue(f, q, 0, true);
		break;
	case 4:		/* memory table: a new file with the same contents, or the same table again */
		if (arg & 2)
			lf_swap_ram(f);
		lf_mem_table(f);
		break;
	case 5:		/* memory hotplug: a region comes or goes */
		if (!f->extra_added) {
			if (lf_region_msg(f, VGI_VHOST_USER_ADD_MEM_REG))
				f->extra_added = true;
		} else {
			f->extra_added = false;	/* from now on the harness's buffers there are outside memory */
			lf_region_msg(f, VGI_VHOST_USER_REM_MEM_REG);
		}
		break;
	case 6: {	/* SET_STATUS: 0 (VM stop or reset), or a driver status */
		uint64_t status = (arg & 6) ? (arg & 6) == 2 ? 0xf : arg >> 3 : 0;

		lf_collect(f, 0);
		lf_collect(f, 1);
		if (lf_send(f, VGI_VHOST_USER_SET_STATUS, &status, 8, NULL, 0) && status == 0) {
			for (unsigned i = 0; i < 2; i++)
				if (vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, i)))
					lf_fail("queue %u: %u elements held after SET_STATUS 0", i,
						vgi_virtqueue_inflight(vgi_virtio_device_queue(f->dev, i)));
			f->q[0].started = f->q[1].started = false;
			f->reset_expected = true;
		}
		break;
	}
	case 7:		/* RESET_DEVICE (or the deprecated RESET_OWNER) */
		lf_collect(f, 0);
		lf_collect(f, 1);
		if (lf_send(f, (arg & 2) ? VGI_VHOST_USER_RESET_OWNER : VGI_VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0)) {
			f->q[0].started = f->q[1].started = false;
			if (!(arg & 2)) {
				/* the rings start from 0 again: the driver forgets them too */
				f->reset_happened = true;
				f->reset_expected = false;
				lf_queue_forget(f, 0, true);
				lf_queue_forget(f, 1, true);
			}
		}
		break;
	case 8: {	/* ring enable/disable, or a kick */
		struct { uint32_t index, num; } st = { q, !(arg & 2) };

		if (arg & 4) {
			if (f->q[q].kick >= 0)
				eventfd_write(f->q[q].kick, 1);
			lf_pump(f);
		} else if (lf_send(f, VGI_VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0)) {
			f->q[q].enabled = st.num;
		}
		break;
	}
	case 9:		/* the front-end hangs up; a new one connects at the next record */
		if (f->sock >= 0)
			lf_hangup(f);
		break;
	case 10: {	/* the front-end truncates guest RAM under the back-end */
		bool connected, touches;

		if (!f->ram)
			break;
		lf_collect(f, 0);
		lf_collect(f, 1);
		/* a kick on a running ring 1 reads its avail index (both devices pop it on every kick) */
		touches = vgi_vhost_user_queue_started(f->vu, 1) && vgi_vhost_user_queue_enabled(f->vu, 1);
		lf_sigbus_logged = false;
		if (ftruncate(f->ram_fd, 0) < 0)
			abort();
		for (unsigned i = 0; i < 2; i++)
			if (f->q[i].kick >= 0)
				eventfd_write(f->q[i].kick, 1);
		connected = lf_pump(f);
		if (ftruncate(f->ram_fd, LF_RAM_SIZE) < 0)
			abort();
		if (lf_sigbus_logged && connected)
			lf_fail("SIGBUS on guest memory, but the connection goes on");
		if (touches && (connected || !lf_sigbus_logged))
			lf_fail("guest RAM truncated under a running ring: the connection must end with the SIGBUS error");
		/* the guest's memory is gone either way: this front-end is done */
		lf_hangup(f);
		break;
	}
	case 11: {	/* SET_VRING_ADDR on a started ring (QEMU: logging changes): the same addresses */
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} a = { q, 0, lf_qgpa(q) - LF_RAM_GPA + LF_RAM_UADDR, lf_qgpa(q) + 0x2000 - LF_RAM_GPA + LF_RAM_UADDR,
			lf_qgpa(q) + 0x1000 - LF_RAM_GPA + LF_RAM_UADDR, 0 };

		lf_send(f, VGI_VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		break;
	}
	}
	if (f->sock >= 0 && !vgi_vhost_user_connected(f->vu)) {
		/* the back-end ended the connection over a message: the next record reconnects */
		lf_hangup(f);
	}
	if (f->reset_happened) {
		f->reset_happened = false;
		check_reset(f);
	}
	if (f->sock >= 0)
		lf_check(f);
}

static void lf_init(struct lf *f, struct vgi_vhost_user *vu, struct vgi_virtio_device *dev)
{
	if (lf_verbose < 0)
		lf_verbose = getenv("VGI_FUZZ_VERBOSE") != NULL;
	memset(f, 0, sizeof(*f));
	f->vu = vu;
	f->dev = dev;
	f->sock = f->ram_fd = f->extra_fd = -1;
	for (unsigned q = 0; q < 2; q++)
		f->q[q].kick = f->q[q].call = -1;
}

/* Hang up and close what the harness opened. */
static void lf_finish(struct lf *f)
{
	/* QEMU's shutdown: the rings stop first (every input ends with the stop checks) */
	for (unsigned q = 0; q < 2 && f->sock >= 0; q++)
		if (vgi_vhost_user_queue_started(f->vu, q))
			lf_stop_queue(f, q);
	if (f->sock >= 0)
		lf_hangup(f);
	lf_free_ram(f);
	for (unsigned i = 0; i < f->nopen; i++)
		close(f->open[i]);
	f->nopen = 0;
}

#endif
