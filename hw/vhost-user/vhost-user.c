// SPDX-License-Identifier: MIT
/*
 * vhost-user back-end (QEMU docs/interop/vhost-user.rst), written from the
 * specification. One front-end connection at a time; every message is read
 * into a fixed buffer, checked (size, fds, order, indexes, addresses) and
 * applied to a struct vgi_virtio_device. A bad message ends the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vgi/log.h>
#include <vgi/vhost-user.h>

#include "mem-guard.h"

#define IO_TIMEOUT_MS 3000	/* the rest of a message, or room for a reply, must come this fast */
#define VRING_IDX_MASK 0xffu
#define VRING_NOFD_MASK 0x100u
#define NUM_MEM_TABLE_REGIONS 8u	/* SET_MEM_TABLE carries at most this many */
#define MAX_RETIRED 64u			/* old mappings kept while the device holds requests */

#define TAG_LISTEN (1ull << 32)
#define TAG_CONN (2ull << 32)
#define TAG_KICK (3ull << 32)
#define TAG_FAULT (4ull << 32)

#define OFFERED_PROTOCOL_FEATURES                                                                                  \
	((1ull << VGI_VHOST_USER_PROTOCOL_F_MQ) | (1ull << VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK) |                  \
	 (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VGI_VHOST_USER_PROTOCOL_F_RESET_DEVICE) |           \
	 (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | (1ull << VGI_VHOST_USER_PROTOCOL_F_STATUS))

/* Wire formats (native byte order, packed as the protocol defines them). */
struct vu_state {
	uint32_t index;
	uint32_t num;
};

struct vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

struct vu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

_Static_assert(sizeof(struct vu_addr) == 40, "vring addr layout");
_Static_assert(sizeof(struct vu_mem_region) == 32, "mem region layout");
_Static_assert(sizeof(struct vu_config_hdr) == 12, "config header layout");

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct vu_state state;
		struct vu_addr addr;
		uint8_t raw[VGI_VHOST_USER_MAX_PAYLOAD];
	} payload;
	int fds[VGI_VHOST_USER_MAX_FDS];
	unsigned nfds;
};

/* One mapped memory region. */
struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
	void *map;		/* what mmap returned */
	size_t map_len;
	void *host;		/* first byte of the region */
	dev_t st_dev;		/* identity of the backing file, to reuse a mapping */
	ino_t st_ino;
};

struct vu_queue {
	uint32_t num;		/* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_ua, avail_ua, used_ua;	/* front-end addresses */
	uint64_t desc, avail, used;		/* guest physical, translated */
	uint16_t base;
	int kick_fd, call_fd, err_fd;
	bool started, enabled;
	bool call_warned;
};

struct vgi_vhost_user {
	struct vgi_virtio_device *dev;
	const struct vgi_vhost_user_ops *ops;
	void *opaque;

	int epfd, listen_fd, conn_fd;
	char *path;

	uint64_t protocol_features;	/* acked */
	bool protocol_features_acked;	/* F_PROTOCOL_FEATURES in SET_FEATURES */
	uint64_t status;

	struct vu_region regions[VGI_VHOST_USER_MAX_MEM_SLOTS];
	unsigned nregions;
	struct vgi_guest_memory *mem;
	/*
	 * Mappings dropped from the table while the device still held popped
	 * requests (their iovecs may point there): unmapped once none is held.
	 */
	struct vu_region retired[MAX_RETIRED];
	unsigned nretired;

	struct vu_queue q[VGI_VIRTIO_MAX_QUEUES];
	struct vu_msg msg;
	/*
	 * SET_STATUS 0 stopped the rings; the device state is reset when the
	 * rings start afresh (base 0). QEMU also sends it when the VM merely
	 * stops, and then resumes the rings where they were: the state stays.
	 */
	bool reset_pending;
	struct vgi_mem_guard_owner guard;	/* SIGBUS on a truncated memory file */
};

static const char *request_name(uint32_t r)
{
	static const char *const names[] = {
		[1] = "GET_FEATURES", [2] = "SET_FEATURES", [3] = "SET_OWNER", [4] = "RESET_OWNER",
		[5] = "SET_MEM_TABLE", [6] = "SET_LOG_BASE", [7] = "SET_LOG_FD", [8] = "SET_VRING_NUM",
		[9] = "SET_VRING_ADDR", [10] = "SET_VRING_BASE", [11] = "GET_VRING_BASE",
		[12] = "SET_VRING_KICK", [13] = "SET_VRING_CALL", [14] = "SET_VRING_ERR",
		[15] = "GET_PROTOCOL_FEATURES", [16] = "SET_PROTOCOL_FEATURES", [17] = "GET_QUEUE_NUM",
		[18] = "SET_VRING_ENABLE", [19] = "SEND_RARP", [20] = "NET_SET_MTU",
		[21] = "SET_BACKEND_REQ_FD", [22] = "IOTLB_MSG", [23] = "SET_VRING_ENDIAN",
		[24] = "GET_CONFIG", [25] = "SET_CONFIG", [26] = "CREATE_CRYPTO_SESSION",
		[27] = "CLOSE_CRYPTO_SESSION", [28] = "POSTCOPY_ADVISE", [29] = "POSTCOPY_LISTEN",
		[30] = "POSTCOPY_END", [31] = "GET_INFLIGHT_FD", [32] = "SET_INFLIGHT_FD",
		[33] = "GPU_SET_SOCKET", [34] = "RESET_DEVICE", [35] = "VRING_KICK",
		[36] = "GET_MAX_MEM_SLOTS", [37] = "ADD_MEM_REG", [38] = "REM_MEM_REG",
		[39] = "SET_STATUS", [40] = "GET_STATUS",
	};

	return r < sizeof(names) / sizeof(names[0]) && names[r] ? names[r] : "unknown";
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_msg_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close_fd(&m->fds[i]);
	m->nfds = 0;
}

static int ep_add(struct vgi_vhost_user *vu, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(vu->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void ep_del(struct vgi_vhost_user *vu, int fd)
{
	if (fd >= 0)
		epoll_ctl(vu->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- host ops: interrupts go to the call eventfds ---- */

static void host_notify(void *opaque, unsigned index)
{
	struct vgi_vhost_user *vu = opaque;
	struct vu_queue *q;

	if (index >= VGI_VIRTIO_MAX_QUEUES)
		return;
	q = &vu->q[index];
	if (q->call_fd < 0)
		return;
	if (eventfd_write(q->call_fd, 1) < 0 && !q->call_warned) {
		vgi_warn("vhost-user: queue %u: cannot signal the call eventfd: %s", index, strerror(errno));
		q->call_warned = true;
	}
}

static void host_config_changed(void *opaque)
{
	(void)opaque;
	/* No back-end request channel is offered: the front-end owns the config events. */
	vgi_debug("vhost-user: device config changed (no back-end channel to report it)");
}

static const struct vgi_virtio_host_ops host_ops = {
	.notify = host_notify,
	.config_changed = host_config_changed,
};

/* ---- memory ---- */

static void unmap_region(struct vu_region *r)
{
	if (r->map) {
		vgi_mem_guard_remove(r->map);
		munmap(r->map, r->map_len);
	}
	r->map = NULL;
	r->host = NULL;
}

static bool same_backing(const struct vu_region *a, const struct vu_region *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->uaddr == b->uaddr && a->mmap_offset == b->mmap_offset &&
	       a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Map desc (gpa, size, uaddr, offset) from fd into r. fd stays open (the caller closes it). */
static int map_region(struct vgi_vhost_user *vu, const struct vu_mem_region *desc, int fd, struct vu_region *r)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t aligned, delta, len;
	struct stat st;
	void *p;

	memset(r, 0, sizeof(*r));
	if (desc->size == 0 || desc->guest_addr + (desc->size - 1) < desc->guest_addr ||
	    desc->user_addr + (desc->size - 1) < desc->user_addr ||
	    desc->mmap_offset + desc->size < desc->mmap_offset) {
		vgi_warn("vhost-user: bad memory region: gpa 0x%llx size 0x%llx uaddr 0x%llx offset 0x%llx",
			 (unsigned long long)desc->guest_addr, (unsigned long long)desc->size,
			 (unsigned long long)desc->user_addr, (unsigned long long)desc->mmap_offset);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0) {
		vgi_warn("vhost-user: memory region fd %d: %s", fd, strerror(errno));
		return -EINVAL;
	}
	/* Only a file with a size can be checked; touching pages past its end would SIGBUS. */
	if (!S_ISREG(st.st_mode)) {
		vgi_warn("vhost-user: memory region fd is not a regular file or memfd (mode 0%o)",
			 (unsigned)st.st_mode);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size < desc->mmap_offset + desc->size) {
		vgi_warn("vhost-user: memory region (offset 0x%llx size 0x%llx) is larger than its file (0x%llx bytes)",
			 (unsigned long long)desc->mmap_offset, (unsigned long long)desc->size,
			 (unsigned long long)st.st_size);
		return -EINVAL;
	}
	aligned = desc->mmap_offset & ~(uint64_t)(page - 1);
	delta = desc->mmap_offset - aligned;
	len = desc->size + delta;
	if (len > SIZE_MAX || aligned > (uint64_t)LLONG_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)aligned);
	if (p == MAP_FAILED) {
		vgi_warn("vhost-user: cannot map memory region (size 0x%llx): %s", (unsigned long long)desc->size,
			 strerror(errno));
		return -errno;
	}
	r->gpa = desc->guest_addr;
	r->size = desc->size;
	r->uaddr = desc->user_addr;
	r->mmap_offset = desc->mmap_offset;
	r->map = p;
	r->map_len = (size_t)len;
	r->host = (uint8_t *)p + delta;
	r->st_dev = st.st_dev;
	r->st_ino = st.st_ino;
	vgi_mem_guard_add(p, (size_t)len, &vu->guard);
	return 0;
}

static bool queue_rings_translate(const struct vgi_guest_memory *mem, struct vu_queue *q, unsigned index)
{
	uint64_t n = q->num;

	if (vgi_guest_memory_uaddr_to_gpa(mem, q->desc_ua, 16 * n, &q->desc) ||
	    vgi_guest_memory_uaddr_to_gpa(mem, q->avail_ua, 6 + 2 * n, &q->avail) ||
	    vgi_guest_memory_uaddr_to_gpa(mem, q->used_ua, 6 + 8 * n, &q->used)) {
		vgi_warn("vhost-user: queue %u: ring outside the memory table (desc 0x%llx avail 0x%llx used 0x%llx, "
			 "size %u)",
			 index, (unsigned long long)q->desc_ua, (unsigned long long)q->avail_ua,
			 (unsigned long long)q->used_ua, q->num);
		return false;
	}
	return true;
}

static void drop_prepared(struct vgi_vhost_user *vu, struct vu_region *regions, unsigned n);

/* Requests popped by the device and not yet returned, over all queues. */
static unsigned inflight(const struct vgi_vhost_user *vu)
{
	unsigned n = 0;

	for (unsigned i = 0; i < vu->dev->num_queues; i++)
		n += vgi_virtqueue_inflight(vu->dev->queues[i]);
	return n;
}

static void reap_retired(struct vgi_vhost_user *vu, bool force)
{
	if (!vu->nretired || (!force && inflight(vu)))
		return;
	for (unsigned j = 0; j < vu->nretired; j++)
		unmap_region(&vu->retired[j]);
	vu->nretired = 0;
}

/*
 * Make regions[0..n) the memory table. Unchanged regions keep their mapping
 * (so pointers into them stay valid); the device and its started queues are
 * moved to the new table before any old mapping goes away.
 */
static int install_regions(struct vgi_vhost_user *vu, struct vu_region *regions, unsigned n)
{
	struct vgi_guest_memory *mem = vgi_guest_memory_new();
	struct vgi_guest_memory *old_mem = vu->mem;
	bool keep_old[VGI_VHOST_USER_MAX_MEM_SLOTS] = { false };
	int ret = 0;

	if (!mem) {
		drop_prepared(vu, regions, n);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vgi_guest_region gr = {
			.gpa = regions[i].gpa, .size = regions[i].size, .host = regions[i].host,
			.uaddr = regions[i].uaddr,
		};

		for (unsigned j = 0; j < n; j++) {
			if (j != i && regions[i].uaddr <= regions[j].uaddr + (regions[j].size - 1) &&
			    regions[j].uaddr <= regions[i].uaddr + (regions[i].size - 1)) {
				vgi_warn("vhost-user: memory regions overlap in the front-end's address space "
					 "(uaddr 0x%llx and 0x%llx)",
					 (unsigned long long)regions[i].uaddr, (unsigned long long)regions[j].uaddr);
				goto fail;
			}
		}
		ret = vgi_guest_memory_add_region(mem, &gr);
		if (ret) {
			vgi_warn("vhost-user: memory region gpa 0x%llx size 0x%llx rejected (%s)",
				 (unsigned long long)gr.gpa, (unsigned long long)gr.size,
				 ret == -EEXIST ? "overlaps another" : strerror(-ret));
			goto fail;
		}
	}
	/* Ring addresses are front-end addresses: translate them again through the new table. */
	for (unsigned i = 0; i < vu->dev->num_queues; i++) {
		struct vu_queue *q = &vu->q[i];

		if (!q->addr_set || !q->num)
			continue;
		if (!queue_rings_translate(mem, q, i)) {
			if (q->started)
				goto fail;
			q->addr_set = false;	/* must be set again before the ring starts */
			continue;
		}
		vgi_virtqueue_set_addr(vu->dev->queues[i], q->desc, q->avail, q->used);
	}
	ret = vgi_virtio_device_set_memory(vu->dev, mem);
	if (ret)
		vgi_warn("vhost-user: a started queue's rings are no longer mapped after the memory table changed");

	/*
	 * The device and rings use the new table now. Requests the device
	 * still holds may point into dropped mappings: those wait until the
	 * requests are done (reap_retired), the others go now.
	 */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < vu->nregions; j++)
			if (regions[i].map == vu->regions[j].map)
				keep_old[j] = true;
	for (unsigned j = 0; j < vu->nregions; j++) {
		if (keep_old[j])
			continue;
		if (inflight(vu) && vu->nretired < MAX_RETIRED)
			vu->retired[vu->nretired++] = vu->regions[j];
		else {
			if (inflight(vu)) {
				vgi_warn("vhost-user: memory table replaced %u times while requests were in flight",
					 MAX_RETIRED);
				ret = -ENOSPC;
			}
			unmap_region(&vu->regions[j]);
		}
	}
	memcpy(vu->regions, regions, n * sizeof(regions[0]));
	vu->nregions = n;
	vu->mem = mem;
	vgi_guest_memory_free(old_mem);
	return ret;

fail:
	/* the old table stays in place; only the new mappings go */
	vgi_guest_memory_free(mem);
	drop_prepared(vu, regions, n);
	return -EINVAL;
}

/* Map a new region from desc/fd, reusing an existing identical mapping. */
static int prepare_region(struct vgi_vhost_user *vu, const struct vu_mem_region *desc, int fd, struct vu_region *out)
{
	int ret = map_region(vu, desc, fd, out);

	if (ret)
		return ret;
	for (unsigned j = 0; j < vu->nregions; j++) {
		if (same_backing(out, &vu->regions[j])) {
			unmap_region(out);
			*out = vu->regions[j];
			return 0;
		}
	}
	return 0;
}

/* Undo prepare_region for the ones that are not existing mappings. */
static void drop_prepared(struct vgi_vhost_user *vu, struct vu_region *regions, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		bool existing = false;

		for (unsigned j = 0; j < vu->nregions; j++)
			existing |= regions[i].map == vu->regions[j].map;
		if (!existing)
			unmap_region(&regions[i]);
	}
}

/*
 * After a device reset nothing points into guest RAM any more: drop this
 * process's page-table entries for it (the pages stay in the front-end's
 * file). Otherwise the pages of every earlier boot's framebuffers stay in
 * our RSS, which then grows with each guest reboot up to the guest's RAM.
 */
static void forget_guest_pages(struct vgi_vhost_user *vu)
{
	for (unsigned j = 0; j < vu->nregions; j++)
		if (vu->regions[j].map && madvise(vu->regions[j].map, vu->regions[j].map_len, MADV_DONTNEED) < 0)
			vgi_debug("vhost-user: madvise(DONTNEED) on guest memory: %s", strerror(errno));
}

static void unmap_all(struct vgi_vhost_user *vu)
{
	vgi_virtio_device_set_memory(vu->dev, NULL);
	for (unsigned j = 0; j < vu->nregions; j++)
		unmap_region(&vu->regions[j]);
	vu->nregions = 0;
	reap_retired(vu, true);	/* the device was reset: it holds nothing */
	vgi_guest_memory_free(vu->mem);
	vu->mem = NULL;
}

/* ---- queues ---- */

static void queue_init(struct vu_queue *q)
{
	memset(q, 0, sizeof(*q));
	q->kick_fd = q->call_fd = q->err_fd = -1;
}

/*
 * The device completes or gives back what it holds of the ring first; the
 * base is read after that (a request given back is taken again on resume)
 * and kept for GET_VRING_BASE, whatever stopped the ring.
 */
static void queue_stop(struct vgi_vhost_user *vu, unsigned i)
{
	struct vu_queue *q = &vu->q[i];

	vgi_virtio_device_queue_stop(vu->dev, i);
	if (q->started)
		q->base = vgi_virtqueue_get_last_avail(vu->dev->queues[i]);
	q->started = false;
	ep_del(vu, q->kick_fd);
	close_fd(&q->kick_fd);
}

static void queues_reset(struct vgi_vhost_user *vu)
{
	for (unsigned i = 0; i < VGI_VIRTIO_MAX_QUEUES; i++) {
		if (i < vu->dev->num_queues)
			queue_stop(vu, i);
		close_fd(&vu->q[i].kick_fd);
		close_fd(&vu->q[i].call_fd);
		close_fd(&vu->q[i].err_fd);
		queue_init(&vu->q[i]);
	}
}

static bool queue_processing(const struct vgi_vhost_user *vu, unsigned i)
{
	return vu->q[i].started && vu->q[i].enabled;
}

/* ---- socket I/O ---- */

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, IO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

/* Read exactly len bytes (the socket is non-blocking). 0, -ECONNRESET on EOF, -ETIMEDOUT, -errno. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = recv(fd, p, len, 0);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(fd, POLLIN);
		if (r)
			return (int)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = send(fd, p, len, MSG_NOSIGNAL);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(fd, POLLOUT);
		if (r)
			return (int)r;
	}
	return 0;
}

/*
 * Read one message into vu->msg. 0, -ECONNRESET (clean EOF before a
 * message), -EAGAIN (nothing there after all), -EPROTO (logged).
 */
static int read_msg(struct vgi_vhost_user *vu)
{
	struct vu_msg *m = &vu->msg;
	union {
		char buf[CMSG_SPACE(VGI_VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = m, .iov_len = VGI_VHOST_USER_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	bool too_many = false;
	ssize_t r;
	int ret;

	m->nfds = 0;
	do
		r = recvmsg(vu->conn_fd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		vgi_warn("vhost-user: reading from the front-end failed: %s", strerror(errno));
		return -EPROTO;
	}
	if (r == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t n;
		int *fds;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, &fds[i], sizeof(fd));
			if (m->nfds < VGI_VHOST_USER_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else {
				close(fd);
				too_many = true;
			}
		}
	}
	if (too_many || (mh.msg_flags & MSG_CTRUNC)) {
		vgi_warn("vhost-user: message came with more than %u fds", VGI_VHOST_USER_MAX_FDS);
		close_msg_fds(m);
		return -EPROTO;
	}
	if (r < (ssize_t)VGI_VHOST_USER_HDR_SIZE) {
		ret = read_full(vu->conn_fd, (uint8_t *)m + r, VGI_VHOST_USER_HDR_SIZE - (size_t)r);
		if (ret) {
			vgi_warn("vhost-user: truncated message header (%zd of %u bytes): %s", r,
				 VGI_VHOST_USER_HDR_SIZE,
				 ret == -ECONNRESET ? "front-end closed the connection" : strerror(-ret));
			close_msg_fds(m);
			return -EPROTO;
		}
	}
	if ((m->flags & 3) != VGI_VHOST_USER_VERSION || (m->flags & VGI_VHOST_USER_FLAG_REPLY)) {
		vgi_warn("vhost-user: %s (%u): bad header flags 0x%x", request_name(m->request), m->request, m->flags);
		close_msg_fds(m);
		return -EPROTO;
	}
	if (m->size > VGI_VHOST_USER_MAX_PAYLOAD) {
		vgi_warn("vhost-user: %s (%u): payload size %u exceeds the cap of %u", request_name(m->request),
			 m->request, m->size, VGI_VHOST_USER_MAX_PAYLOAD);
		close_msg_fds(m);
		return -EPROTO;
	}
	ret = read_full(vu->conn_fd, &m->payload, m->size);
	if (ret) {
		vgi_warn("vhost-user: %s (%u): truncated payload of %u bytes: %s", request_name(m->request),
			 m->request, m->size,
			 ret == -ECONNRESET ? "front-end closed the connection mid-message" : strerror(-ret));
		close_msg_fds(m);
		return -EPROTO;
	}
	return 0;
}

static int send_reply(struct vgi_vhost_user *vu, uint32_t request, const void *payload, uint32_t size)
{
	uint8_t buf[VGI_VHOST_USER_HDR_SIZE + VGI_VHOST_USER_MAX_CONFIG + sizeof(struct vu_config_hdr)];
	uint32_t hdr[3] = { request, VGI_VHOST_USER_VERSION | VGI_VHOST_USER_FLAG_REPLY, size };
	int ret;

	if (size > sizeof(buf) - VGI_VHOST_USER_HDR_SIZE)
		return -EINVAL;
	memcpy(buf, hdr, sizeof(hdr));
	if (size)
		memcpy(buf + VGI_VHOST_USER_HDR_SIZE, payload, size);
	ret = write_full(vu->conn_fd, buf, VGI_VHOST_USER_HDR_SIZE + size);
	if (ret)
		vgi_warn("vhost-user: cannot reply to %s: %s", request_name(request), strerror(-ret));
	return ret;
}

static int reply_u64(struct vgi_vhost_user *vu, uint64_t v)
{
	return send_reply(vu, vu->msg.request, &v, sizeof(v));
}

/* Handler result for a request that carries its own reply. */
static int replied(int send_ret)
{
	return send_ret ? send_ret : 1;
}

/* ---- message handlers: 0 ok, 1 replied already, -errno ends the connection ---- */

static int expect_size(const struct vu_msg *m, uint32_t size)
{
	if (m->size != size) {
		vgi_warn("vhost-user: %s: payload is %u bytes, expected %u", request_name(m->request), m->size, size);
		return -EPROTO;
	}
	return 0;
}

static int check_queue_index(const struct vgi_vhost_user *vu, uint32_t index)
{
	if (index >= vu->dev->num_queues) {
		vgi_warn("vhost-user: %s: queue index %u out of range (device has %u queues)",
			 request_name(vu->msg.request), index, vu->dev->num_queues);
		return -EPROTO;
	}
	return 0;
}

static int need_memory(const struct vgi_vhost_user *vu)
{
	if (!vu->nregions) {
		vgi_warn("vhost-user: %s before any memory table (SET_MEM_TABLE/ADD_MEM_REG)",
			 request_name(vu->msg.request));
		return -EPROTO;
	}
	return 0;
}

static int handle_set_features(struct vgi_vhost_user *vu)
{
	uint64_t f, offered;
	int ret = expect_size(&vu->msg, 8);

	if (ret)
		return ret;
	f = vu->msg.payload.u64;
	offered = vgi_virtio_device_get_features(vu->dev) | (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES);
	if (f & ~offered)
		vgi_debug("vhost-user: SET_FEATURES: ignoring bits 0x%llx that were not offered",
			  (unsigned long long)(f & ~offered));
	vu->protocol_features_acked = f & (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES);
	vgi_virtio_device_set_features(vu->dev, f & ~(1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES));
	return 0;
}

static int handle_set_protocol_features(struct vgi_vhost_user *vu)
{
	int ret = expect_size(&vu->msg, 8);

	if (ret)
		return ret;
	if (vu->msg.payload.u64 & ~OFFERED_PROTOCOL_FEATURES)
		vgi_debug("vhost-user: SET_PROTOCOL_FEATURES: ignoring bits 0x%llx that were not offered",
			  (unsigned long long)(vu->msg.payload.u64 & ~OFFERED_PROTOCOL_FEATURES));
	vu->protocol_features = vu->msg.payload.u64 & OFFERED_PROTOCOL_FEATURES;
	return 0;
}

static bool has_protocol(const struct vgi_vhost_user *vu, unsigned bit)
{
	return vu->protocol_features & (1ull << bit);
}

static int handle_set_mem_table(struct vgi_vhost_user *vu)
{
	struct vu_msg *m = &vu->msg;
	struct vu_region regions[NUM_MEM_TABLE_REGIONS];
	uint32_t n;
	int ret;

	if (m->size < 8) {
		vgi_warn("vhost-user: SET_MEM_TABLE: payload of %u bytes is too short", m->size);
		return -EPROTO;
	}
	memcpy(&n, m->payload.raw, sizeof(n));
	if (n == 0 || n > NUM_MEM_TABLE_REGIONS) {
		vgi_warn("vhost-user: SET_MEM_TABLE: %u regions (1..%u allowed)", n, NUM_MEM_TABLE_REGIONS);
		return -EPROTO;
	}
	ret = expect_size(m, 8 + n * (uint32_t)sizeof(struct vu_mem_region));
	if (ret)
		return ret;
	if (m->nfds != n) {
		vgi_warn("vhost-user: SET_MEM_TABLE: %u regions but %u fds", n, m->nfds);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vu_mem_region d;

		memcpy(&d, m->payload.raw + 8 + i * sizeof(d), sizeof(d));
		ret = prepare_region(vu, &d, m->fds[i], &regions[i]);
		if (ret) {
			drop_prepared(vu, regions, i);
			return -EPROTO;
		}
	}
	return install_regions(vu, regions, n) ? -EPROTO : 0;
}

static int read_single_region(struct vgi_vhost_user *vu, struct vu_mem_region *d)
{
	int ret = expect_size(&vu->msg, 8 + sizeof(*d));

	if (ret)
		return ret;
	if (!has_protocol(vu, VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		vgi_warn("vhost-user: %s without the CONFIGURE_MEM_SLOTS protocol feature",
			 request_name(vu->msg.request));
		return -EPROTO;
	}
	memcpy(d, vu->msg.payload.raw + 8, sizeof(*d));
	return 0;
}

static int handle_add_mem_reg(struct vgi_vhost_user *vu)
{
	struct vu_region regions[VGI_VHOST_USER_MAX_MEM_SLOTS];
	struct vu_mem_region d;
	int ret = read_single_region(vu, &d);

	if (ret)
		return ret;
	if (vu->msg.nfds != 1) {
		vgi_warn("vhost-user: ADD_MEM_REG with %u fds (expected 1)", vu->msg.nfds);
		return -EPROTO;
	}
	if (vu->nregions == VGI_VHOST_USER_MAX_MEM_SLOTS) {
		vgi_warn("vhost-user: ADD_MEM_REG: all %u memory slots are in use", VGI_VHOST_USER_MAX_MEM_SLOTS);
		return -EPROTO;
	}
	memcpy(regions, vu->regions, vu->nregions * sizeof(regions[0]));
	ret = map_region(vu, &d, vu->msg.fds[0], &regions[vu->nregions]);
	if (ret)
		return -EPROTO;
	return install_regions(vu, regions, vu->nregions + 1) ? -EPROTO : 0;
}

static int handle_rem_mem_reg(struct vgi_vhost_user *vu)
{
	struct vu_region regions[VGI_VHOST_USER_MAX_MEM_SLOTS];
	struct vu_mem_region d;
	unsigned n = 0;
	bool found = false;
	int ret = read_single_region(vu, &d);

	if (ret)
		return ret;
	if (vu->msg.nfds > 1) {
		vgi_warn("vhost-user: REM_MEM_REG with %u fds (expected none)", vu->msg.nfds);
		return -EPROTO;
	}
	for (unsigned j = 0; j < vu->nregions; j++) {
		const struct vu_region *r = &vu->regions[j];

		if (!found && r->gpa == d.guest_addr && r->size == d.size && r->uaddr == d.user_addr)
			found = true;
		else
			regions[n++] = *r;
	}
	if (!found) {
		vgi_warn("vhost-user: REM_MEM_REG: no region at gpa 0x%llx size 0x%llx uaddr 0x%llx",
			 (unsigned long long)d.guest_addr, (unsigned long long)d.size,
			 (unsigned long long)d.user_addr);
		return -EPROTO;
	}
	return install_regions(vu, regions, n) ? -EPROTO : 0;
}

static int handle_vring_state(struct vgi_vhost_user *vu, struct vu_state *s)
{
	int ret = expect_size(&vu->msg, sizeof(*s));

	if (ret)
		return ret;
	*s = vu->msg.payload.state;
	return check_queue_index(vu, s->index);
}

static void stop_if_started(struct vgi_vhost_user *vu, unsigned index)
{
	if (vu->q[index].started) {
		vgi_debug("vhost-user: %s on started queue %u: stopping it", request_name(vu->msg.request), index);
		queue_stop(vu, index);
	}
}

static int handle_set_vring_num(struct vgi_vhost_user *vu)
{
	struct vu_state s;
	int ret = handle_vring_state(vu, &s);

	if (!ret)
		ret = need_memory(vu);
	if (ret)
		return ret;
	if (s.num == 0 || s.num > VGI_VQ_MAX_SIZE || (s.num & (s.num - 1))) {
		vgi_warn("vhost-user: SET_VRING_NUM: queue %u size %u (power of two up to %u expected)", s.index,
			 s.num, VGI_VQ_MAX_SIZE);
		return -EPROTO;
	}
	stop_if_started(vu, s.index);
	vu->q[s.index].num = s.num;
	vu->q[s.index].addr_set = false;	/* ring sizes changed: addresses are checked again */
	return 0;
}

static int handle_set_vring_base(struct vgi_vhost_user *vu)
{
	struct vu_state s;
	int ret = handle_vring_state(vu, &s);

	if (!ret)
		ret = need_memory(vu);
	if (ret)
		return ret;
	if (s.num > 0xffff) {
		vgi_warn("vhost-user: SET_VRING_BASE: queue %u base %u out of range (split rings only)", s.index, s.num);
		return -EPROTO;
	}
	stop_if_started(vu, s.index);
	vu->q[s.index].base = (uint16_t)s.num;
	return 0;
}

/* A reset asked for by SET_STATUS 0: done when the rings start afresh, dropped when they resume. */
static void settle_reset(struct vgi_vhost_user *vu, unsigned index)
{
	uint64_t features = vu->dev->acked_features;

	if (!vu->reset_pending)
		return;
	vu->reset_pending = false;
	if (vu->q[index].base != 0) {
		vgi_info("vhost-user: queue %u resumes at %u: the device keeps its state (VM stop and continue)",
			 index, vu->q[index].base);
		return;
	}
	vgi_info("vhost-user: rings start afresh after SET_STATUS 0: resetting the device");
	vgi_virtio_device_reset(vu->dev);
	forget_guest_pages(vu);
	vgi_virtio_device_set_features(vu->dev, features);	/* SET_FEATURES came before the rings */
}

static int start_queue(struct vgi_vhost_user *vu, unsigned index)
{
	struct vu_queue *q = &vu->q[index];
	int ret;

	settle_reset(vu, index);
	vgi_virtio_device_queue_stop(vu->dev, index);
	vgi_virtqueue_set_last_avail(vu->dev->queues[index], q->base);
	ret = vgi_virtio_device_queue_setup(vu->dev, index, q->num, q->desc, q->avail, q->used);
	if (ret) {
		vgi_warn("vhost-user: queue %u: cannot start the ring (%s)", index, strerror(-ret));
		return -EPROTO;
	}
	q->started = true;
	if (!vu->protocol_features_acked)
		q->enabled = true;
	return 0;
}

static int handle_set_vring_addr(struct vgi_vhost_user *vu)
{
	struct vu_addr a;
	struct vu_queue *q;
	int ret = expect_size(&vu->msg, sizeof(a));

	if (ret)
		return ret;
	a = vu->msg.payload.addr;
	ret = check_queue_index(vu, a.index);
	if (!ret)
		ret = need_memory(vu);
	if (ret)
		return ret;
	q = &vu->q[a.index];
	if (!q->num) {
		vgi_warn("vhost-user: SET_VRING_ADDR: queue %u has no size yet (SET_VRING_NUM first)", a.index);
		return -EPROTO;
	}
	q->desc_ua = a.desc_user_addr;
	q->avail_ua = a.avail_user_addr;
	q->used_ua = a.used_user_addr;
	if (!queue_rings_translate(vu->mem, q, a.index)) {
		q->addr_set = false;
		return -EPROTO;
	}
	q->addr_set = true;
	if (q->started) {
		/* e.g. a logging flag change while running: move the started ring now; held requests stay valid */
		struct vgi_virtqueue *vq = vu->dev->queues[a.index];

		vgi_virtqueue_set_addr(vq, q->desc, q->avail, q->used);
		if (vgi_virtqueue_start(vq) < 0) {
			vgi_warn("vhost-user: queue %u: cannot move the started ring", a.index);
			return -EPROTO;
		}
	}
	return 0;
}

/* Kick/call/err: u64 with the index in bits 0-7 and "no fd" in bit 8. Takes the fd out of the message. */
static int vring_fd_msg(struct vgi_vhost_user *vu, unsigned *index, int *fd)
{
	struct vu_msg *m = &vu->msg;
	uint64_t v;
	bool nofd;
	int ret = expect_size(m, 8);

	*fd = -1;
	if (ret)
		return ret;
	v = m->payload.u64;
	nofd = v & VRING_NOFD_MASK;
	if (v & ~(uint64_t)(VRING_IDX_MASK | VRING_NOFD_MASK)) {
		vgi_warn("vhost-user: %s: reserved bits set in 0x%llx", request_name(m->request), (unsigned long long)v);
		return -EPROTO;
	}
	*index = v & VRING_IDX_MASK;
	ret = check_queue_index(vu, *index);
	if (ret)
		return ret;
	if (m->nfds != (nofd ? 0u : 1u)) {
		vgi_warn("vhost-user: %s: %u fds with the no-fd flag %s", request_name(m->request), m->nfds,
			 nofd ? "set" : "clear");
		return -EPROTO;
	}
	if (!nofd) {
		char link[64] = "";
		char path[64];
		ssize_t l;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fds[0]);
		l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && strcmp(link, "anon_inode:[eventfd]") != 0) {
			link[l] = 0;
			vgi_warn("vhost-user: %s: queue %u: fd is not an eventfd (%s)", request_name(m->request), *index,
				 link);
			return -EPROTO;
		}
		*fd = m->fds[0];
		m->fds[0] = -1;
		m->nfds = 0;
	}
	return 0;
}

static int handle_set_vring_kick(struct vgi_vhost_user *vu)
{
	unsigned index;
	struct vu_queue *q;
	int fd, ret = vring_fd_msg(vu, &index, &fd);

	if (!ret)
		ret = need_memory(vu);
	if (ret) {
		close_fd(&fd);
		return ret;
	}
	q = &vu->q[index];
	if (!q->num || !q->addr_set) {
		vgi_warn("vhost-user: SET_VRING_KICK: queue %u is not configured (SET_VRING_NUM/ADDR first)", index);
		close_fd(&fd);
		return -EPROTO;
	}
	queue_stop(vu, index);
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || (ret = ep_add(vu, fd, EPOLLIN | EPOLLET, TAG_KICK | index)) < 0) {
			vgi_warn("vhost-user: queue %u: cannot watch the kick eventfd", index);
			close(fd);
			return -EPROTO;
		}
		q->kick_fd = fd;
	} else {
		vgi_warn("vhost-user: queue %u: no kick eventfd (polling is not supported): the ring is never processed",
			 index);
	}
	ret = start_queue(vu, index);
	if (ret)
		return ret;
	if (queue_processing(vu, index))
		vgi_virtio_device_kick(vu->dev, index);
	return 0;
}

static int handle_set_vring_call_err(struct vgi_vhost_user *vu, bool call)
{
	unsigned index;
	int fd, ret = vring_fd_msg(vu, &index, &fd);

	if (ret)
		return ret;
	if (call) {
		close_fd(&vu->q[index].call_fd);
		vu->q[index].call_fd = fd;
		vu->q[index].call_warned = false;
	} else {
		close_fd(&vu->q[index].err_fd);
		vu->q[index].err_fd = fd;
	}
	return 0;
}

static int handle_get_vring_base(struct vgi_vhost_user *vu)
{
	struct vu_state s;
	int ret = handle_vring_state(vu, &s);

	if (ret)
		return ret;
	queue_stop(vu, s.index);
	s.num = vu->q[s.index].base;
	ret = send_reply(vu, vu->msg.request, &s, sizeof(s));
	return ret ? ret : 1;
}

static int handle_set_vring_enable(struct vgi_vhost_user *vu)
{
	struct vu_state s;
	int ret = handle_vring_state(vu, &s);

	if (ret)
		return ret;
	if (s.num > 1) {
		vgi_warn("vhost-user: SET_VRING_ENABLE: queue %u value %u (0 or 1 expected)", s.index, s.num);
		return -EPROTO;
	}
	vu->q[s.index].enabled = s.num;
	if (queue_processing(vu, s.index))
		vgi_virtio_device_kick(vu->dev, s.index);	/* buffers may have come while disabled */
	return 0;
}

static int config_msg(struct vgi_vhost_user *vu, struct vu_config_hdr *h)
{
	struct vu_msg *m = &vu->msg;

	if (!has_protocol(vu, VGI_VHOST_USER_PROTOCOL_F_CONFIG)) {
		vgi_warn("vhost-user: %s without the CONFIG protocol feature", request_name(m->request));
		return -EPROTO;
	}
	if (m->size < sizeof(*h)) {
		vgi_warn("vhost-user: %s: payload of %u bytes is too short", request_name(m->request), m->size);
		return -EPROTO;
	}
	memcpy(h, m->payload.raw, sizeof(*h));
	if (h->size > VGI_VHOST_USER_MAX_CONFIG || m->size != sizeof(*h) + h->size) {
		vgi_warn("vhost-user: %s: config size %u in a %u-byte payload (at most %u)", request_name(m->request),
			 h->size, m->size, VGI_VHOST_USER_MAX_CONFIG);
		return -EPROTO;
	}
	return 0;
}

static int handle_get_config(struct vgi_vhost_user *vu)
{
	uint8_t out[sizeof(struct vu_config_hdr) + VGI_VHOST_USER_MAX_CONFIG];
	struct vu_config_hdr h;
	int ret = config_msg(vu, &h);

	if (ret)
		return ret;
	memcpy(out, &h, sizeof(h));
	memset(out + sizeof(h), 0, h.size);
	if (vgi_virtio_device_read_config(vu->dev, h.offset, out + sizeof(h), h.size))
		ret = send_reply(vu, vu->msg.request, NULL, 0);	/* the protocol's error answer */
	else
		ret = send_reply(vu, vu->msg.request, out, (uint32_t)sizeof(h) + h.size);
	return ret ? ret : 1;
}

static int handle_set_config(struct vgi_vhost_user *vu)
{
	struct vu_config_hdr h;
	int ret = config_msg(vu, &h);

	if (ret)
		return ret;
	if (h.flags > 1) {
		vgi_warn("vhost-user: SET_CONFIG: unknown flags 0x%x", h.flags);
		return -EPROTO;
	}
	if (vgi_virtio_device_write_config(vu->dev, h.offset, vu->msg.payload.raw + sizeof(h), h.size))
		return -EPROTO;
	return 0;
}

static int handle_set_status(struct vgi_vhost_user *vu)
{
	int ret = expect_size(&vu->msg, 8);

	if (ret)
		return ret;
	if (!has_protocol(vu, VGI_VHOST_USER_PROTOCOL_F_STATUS)) {
		vgi_warn("vhost-user: SET_STATUS without the STATUS protocol feature");
		return -EPROTO;
	}
	if (vu->msg.payload.u64 > 0xff) {
		vgi_warn("vhost-user: SET_STATUS: status 0x%llx is not a virtio status byte",
			 (unsigned long long)vu->msg.payload.u64);
		return -EPROTO;
	}
	if (vu->msg.payload.u64 == 0) {
		/* the device finishes what it holds now, while guest memory is mapped; see settle_reset() */
		for (unsigned i = 0; i < vu->dev->num_queues; i++)
			queue_stop(vu, i);
		vu->reset_pending = true;
	}
	vu->status = vu->msg.payload.u64;
	return 0;
}

static void reset_device(struct vgi_vhost_user *vu)
{
	vgi_virtio_device_reset(vu->dev);	/* drops what the device holds: nothing is answered */
	forget_guest_pages(vu);
	for (unsigned i = 0; i < vu->dev->num_queues; i++) {
		queue_stop(vu, i);
		vu->q[i].enabled = false;
		vu->q[i].base = 0;
	}
	vu->status = 0;
	vu->reset_pending = false;
}

/* How many fds a request may carry; -1: decided by its handler. */
static int fds_allowed(uint32_t request)
{
	switch (request) {
	case VGI_VHOST_USER_SET_MEM_TABLE:
	case VGI_VHOST_USER_ADD_MEM_REG:
	case VGI_VHOST_USER_REM_MEM_REG:
	case VGI_VHOST_USER_SET_VRING_KICK:
	case VGI_VHOST_USER_SET_VRING_CALL:
	case VGI_VHOST_USER_SET_VRING_ERR:
		return -1;
	case VGI_VHOST_USER_GET_FEATURES:
	case VGI_VHOST_USER_SET_FEATURES:
	case VGI_VHOST_USER_SET_OWNER:
	case VGI_VHOST_USER_RESET_OWNER:
	case VGI_VHOST_USER_SET_VRING_NUM:
	case VGI_VHOST_USER_SET_VRING_ADDR:
	case VGI_VHOST_USER_SET_VRING_BASE:
	case VGI_VHOST_USER_GET_VRING_BASE:
	case VGI_VHOST_USER_GET_PROTOCOL_FEATURES:
	case VGI_VHOST_USER_SET_PROTOCOL_FEATURES:
	case VGI_VHOST_USER_GET_QUEUE_NUM:
	case VGI_VHOST_USER_SET_VRING_ENABLE:
	case VGI_VHOST_USER_GET_CONFIG:
	case VGI_VHOST_USER_SET_CONFIG:
	case VGI_VHOST_USER_RESET_DEVICE:
	case VGI_VHOST_USER_GET_MAX_MEM_SLOTS:
	case VGI_VHOST_USER_SET_STATUS:
	case VGI_VHOST_USER_GET_STATUS:
		return 0;
	default:
		return -2;	/* not ours: the device's hook */
	}
}

static int handle_msg(struct vgi_vhost_user *vu)
{
	struct vu_msg *m = &vu->msg;
	int allowed = fds_allowed(m->request);

	if (allowed >= 0 && m->nfds > (unsigned)allowed) {
		vgi_warn("vhost-user: %s came with %u fds (expected none)", request_name(m->request), m->nfds);
		return -EPROTO;
	}
	switch (m->request) {
	case VGI_VHOST_USER_GET_FEATURES:
		return replied(reply_u64(vu, vgi_virtio_device_get_features(vu->dev) |
					     (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES)));
	case VGI_VHOST_USER_SET_FEATURES:
		return handle_set_features(vu);
	case VGI_VHOST_USER_GET_PROTOCOL_FEATURES:
		return replied(reply_u64(vu, OFFERED_PROTOCOL_FEATURES));
	case VGI_VHOST_USER_SET_PROTOCOL_FEATURES:
		return handle_set_protocol_features(vu);
	case VGI_VHOST_USER_SET_OWNER:
		return 0;
	case VGI_VHOST_USER_RESET_OWNER:
		/* deprecated; the specification recommends disabling the rings */
		for (unsigned i = 0; i < vu->dev->num_queues; i++)
			queue_stop(vu, i);
		return 0;
	case VGI_VHOST_USER_RESET_DEVICE:
		reset_device(vu);
		return 0;
	case VGI_VHOST_USER_GET_QUEUE_NUM:
		return replied(reply_u64(vu, vu->dev->num_queues));
	case VGI_VHOST_USER_GET_MAX_MEM_SLOTS:
		return replied(reply_u64(vu, VGI_VHOST_USER_MAX_MEM_SLOTS));
	case VGI_VHOST_USER_SET_MEM_TABLE:
		return handle_set_mem_table(vu);
	case VGI_VHOST_USER_ADD_MEM_REG:
		return handle_add_mem_reg(vu);
	case VGI_VHOST_USER_REM_MEM_REG:
		return handle_rem_mem_reg(vu);
	case VGI_VHOST_USER_SET_VRING_NUM:
		return handle_set_vring_num(vu);
	case VGI_VHOST_USER_SET_VRING_ADDR:
		return handle_set_vring_addr(vu);
	case VGI_VHOST_USER_SET_VRING_BASE:
		return handle_set_vring_base(vu);
	case VGI_VHOST_USER_GET_VRING_BASE:
		return handle_get_vring_base(vu);
	case VGI_VHOST_USER_SET_VRING_KICK:
		return handle_set_vring_kick(vu);
	case VGI_VHOST_USER_SET_VRING_CALL:
		return handle_set_vring_call_err(vu, true);
	case VGI_VHOST_USER_SET_VRING_ERR:
		return handle_set_vring_call_err(vu, false);
	case VGI_VHOST_USER_SET_VRING_ENABLE:
		return handle_set_vring_enable(vu);
	case VGI_VHOST_USER_GET_CONFIG:
		return handle_get_config(vu);
	case VGI_VHOST_USER_SET_CONFIG:
		return handle_set_config(vu);
	case VGI_VHOST_USER_SET_STATUS:
		return handle_set_status(vu);
	case VGI_VHOST_USER_GET_STATUS:
		if (!has_protocol(vu, VGI_VHOST_USER_PROTOCOL_F_STATUS)) {
			vgi_warn("vhost-user: GET_STATUS without the STATUS protocol feature");
			return -EPROTO;
		}
		return replied(reply_u64(vu, vu->status));
	default:
		if (vu->ops && vu->ops->message) {
			int ret = vu->ops->message(vu->opaque, m->request, m->payload.raw, m->size, m->fds, m->nfds);

			if (ret != -ENOTSUP)
				return ret ? -EPROTO : 0;
		}
		vgi_warn("vhost-user: unsupported request %u (%s), payload %u bytes", m->request,
			 request_name(m->request), m->size);
		return -EPROTO;
	}
}

/* ---- connection life cycle ---- */

static void end_connection(struct vgi_vhost_user *vu, int reason)
{
	if (vu->conn_fd < 0)
		return;
	ep_del(vu, vu->conn_fd);
	close_fd(&vu->conn_fd);
	vgi_virtio_device_reset(vu->dev);	/* the front-end is gone: held requests are dropped, not answered */
	queues_reset(vu);
	unmap_all(vu);
	vu->guard.faulted = 0;
	vu->protocol_features = 0;
	vu->protocol_features_acked = false;
	vu->status = 0;
	vu->reset_pending = false;
	if (vu->listen_fd >= 0 && ep_add(vu, vu->listen_fd, EPOLLIN, TAG_LISTEN))
		vgi_error("vhost-user: cannot watch the listening socket again: %s", strerror(errno));
	if (vu->ops && vu->ops->disconnected)
		vu->ops->disconnected(vu->opaque, reason);
}

static int start_connection(struct vgi_vhost_user *vu, int fd)
{
	int fl = fcntl(fd, F_GETFL);
	int ret;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		vgi_error("vhost-user: fd %d is not usable: %s", fd, strerror(errno));
		close(fd);
		return ret;
	}
	ret = ep_add(vu, fd, EPOLLIN, TAG_CONN);
	if (ret) {
		vgi_error("vhost-user: cannot watch fd %d: %s", fd, strerror(-ret));
		close(fd);
		return ret;
	}
	vu->conn_fd = fd;
	return 0;
}

static int do_accept(struct vgi_vhost_user *vu)
{
	int fd = accept4(vu->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
			return 0;
		vgi_error("vhost-user: accept on %s failed: %s", vu->path, strerror(errno));
		return -errno;
	}
	ep_del(vu, vu->listen_fd);	/* one front-end at a time */
	vgi_info("vhost-user: front-end connected on %s", vu->path);
	return start_connection(vu, fd);
}

/* One message: 0 (handled, or nothing there), or the reason the connection ended. */
static int dispatch_message(struct vgi_vhost_user *vu)
{
	struct vu_msg *m = &vu->msg;
	bool need_reply;
	int ret = read_msg(vu);

	if (ret == -EAGAIN)
		return 0;
	if (ret)
		return ret;
	vgi_debug("vhost-user: %s (%u) size %u fds %u", request_name(m->request), m->request, m->size, m->nfds);
	need_reply = (m->flags & VGI_VHOST_USER_FLAG_NEED_REPLY) &&
		     has_protocol(vu, VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK);
	ret = handle_msg(vu);
	close_msg_fds(m);
	if (ret < 0) {
		if (need_reply)
			reply_u64(vu, 1);
		if (ret != -EPROTO)
			vgi_warn("vhost-user: %s failed: %s", request_name(m->request), strerror(-ret));
		return -EPROTO;
	}
	if (ret == 0 && need_reply && reply_u64(vu, 0))
		return -EPROTO;
	return 0;
}

static void dispatch_kick(struct vgi_vhost_user *vu, unsigned index)
{
	if (index >= vu->dev->num_queues || vu->q[index].kick_fd < 0)
		return;
	/*
	 * The kick eventfd is watched edge-triggered: every write by the front-end
	 * is an event, so its counter is never read back (one syscall less per
	 * kick; it cannot reach its 2^64 - 2 limit). The device drains the ring.
	 */
	if (queue_processing(vu, index))
		vgi_virtio_device_kick(vu->dev, index);
}

/* Guest memory faulted (mem-guard.h): the front-end shrank a memory file under us. */
static int end_after_fault(struct vgi_vhost_user *vu)
{
	uint64_t v;

	while (read(vu->guard.efd, &v, sizeof(v)) > 0)
		;
	if (!vu->guard.faulted)
		return 0;
	vu->guard.faulted = 0;
	if (vu->conn_fd < 0)
		return 0;
	vgi_error("vhost-user: guest memory at %p vanished under the device (SIGBUS: the front-end truncated its "
		  "memory file); ending the connection", (void *)vu->guard.fault_addr);
	end_connection(vu, -EFAULT);
	return -EPROTO;	/* the connection ended over the front-end's fault, as after a bad message */
}

int vgi_vhost_user_dispatch(struct vgi_vhost_user *vu)
{
	struct epoll_event ev[16];
	int n, result = 0;

	if (vu->guard.faulted)
		return end_after_fault(vu);

	do
		n = epoll_wait(vu->epfd, ev, 16, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64 & ~0xffffffffull;
		int ret;

		switch (tag) {
		case TAG_LISTEN:
			if (vu->conn_fd < 0 && (ret = do_accept(vu)) < 0)
				result = ret;
			break;
		case TAG_CONN:
			if (vu->conn_fd < 0)
				break;
			ret = dispatch_message(vu);
			if (ret == 0 && (ev[i].events & (EPOLLHUP | EPOLLERR)) && !(ev[i].events & EPOLLIN))
				ret = -ECONNRESET;
			if (ret) {
				if (ret == -ECONNRESET)
					vgi_info("vhost-user: front-end disconnected");
				else
					vgi_warn("vhost-user: ending the connection after a bad message");
				end_connection(vu, ret == -ECONNRESET ? 0 : ret);
				return ret;
			}
			break;
		case TAG_KICK:
			if (vu->conn_fd >= 0)
				dispatch_kick(vu, (unsigned)(ev[i].data.u64 & 0xffffffffu));
			break;
		case TAG_FAULT:
			break;	/* below */
		}
		if (vu->guard.faulted)
			return end_after_fault(vu);
	}
	reap_retired(vu, false);
	return result;
}

/* ---- public API ---- */

struct vgi_vhost_user *vgi_vhost_user_new(struct vgi_virtio_device *dev, const struct vgi_vhost_user_ops *ops,
					  void *opaque)
{
	struct vgi_vhost_user *vu = calloc(1, sizeof(*vu));

	if (!vu)
		return NULL;
	vu->epfd = epoll_create1(EPOLL_CLOEXEC);
	vu->guard.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vu->epfd < 0 || vu->guard.efd < 0 || ep_add(vu, vu->guard.efd, EPOLLIN, TAG_FAULT)) {
		if (vu->epfd >= 0)
			close(vu->epfd);
		if (vu->guard.efd >= 0)
			close(vu->guard.efd);
		free(vu);
		return NULL;
	}
	vu->dev = dev;
	vu->ops = ops;
	vu->opaque = opaque;
	vu->listen_fd = vu->conn_fd = -1;
	for (unsigned i = 0; i < VGI_VIRTIO_MAX_QUEUES; i++)
		queue_init(&vu->q[i]);
	vgi_virtio_device_set_host(dev, &host_ops, vu);
	return vu;
}

void vgi_vhost_user_free(struct vgi_vhost_user *vu)
{
	if (!vu)
		return;
	if (vu->conn_fd >= 0) {
		ep_del(vu, vu->conn_fd);
		close_fd(&vu->conn_fd);
		vgi_virtio_device_reset(vu->dev);
		queues_reset(vu);
		unmap_all(vu);
	}
	if (vu->listen_fd >= 0) {
		close_fd(&vu->listen_fd);
		unlink(vu->path);
	}
	vgi_virtio_device_set_host(vu->dev, NULL, NULL);
	close(vu->epfd);
	close(vu->guard.efd);
	free(vu->path);
	free(vu);
}

int vgi_vhost_user_listen(struct vgi_vhost_user *vu, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (vu->listen_fd >= 0 || vu->conn_fd >= 0)
		return -EBUSY;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		vgi_error("vhost-user: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vgi_error("vhost-user: %s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		ret = -errno;
		vgi_error("vhost-user: cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	vu->path = strdup(path);
	if (!vu->path || (ret = ep_add(vu, fd, EPOLLIN, TAG_LISTEN)) < 0) {
		close(fd);
		unlink(path);
		free(vu->path);
		vu->path = NULL;
		return -ENOMEM;
	}
	vu->listen_fd = fd;
	return 0;
}

int vgi_vhost_user_set_connection(struct vgi_vhost_user *vu, int fd)
{
	struct stat st;

	if (vu->conn_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		vgi_error("vhost-user: fd %d is not a socket", fd);
		if (fd >= 0)
			close(fd);
		return -ENOTSOCK;
	}
	if (vu->listen_fd >= 0)
		ep_del(vu, vu->listen_fd);
	return start_connection(vu, fd);
}

int vgi_vhost_user_get_fd(const struct vgi_vhost_user *vu)
{
	return vu->epfd;
}

bool vgi_vhost_user_connected(const struct vgi_vhost_user *vu)
{
	return vu->conn_fd >= 0;
}

void vgi_vhost_user_disconnect(struct vgi_vhost_user *vu)
{
	end_connection(vu, 0);
}

unsigned vgi_vhost_user_num_regions(const struct vgi_vhost_user *vu)
{
	return vu->nregions;
}

bool vgi_vhost_user_queue_started(const struct vgi_vhost_user *vu, unsigned index)
{
	return index < vu->dev->num_queues && vu->q[index].started;
}

bool vgi_vhost_user_queue_enabled(const struct vgi_vhost_user *vu, unsigned index)
{
	return index < vu->dev->num_queues && vu->q[index].enabled;
}

uint64_t vgi_vhost_user_status(const struct vgi_vhost_user *vu)
{
	return vu->status;
}
