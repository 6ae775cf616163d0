// SPDX-License-Identifier: MIT
/* A test vhost-user front-end (plays QEMU) over a socketpair. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "frontend.h"

static void die(const char *what)
{
	fprintf(stderr, "test front-end: %s: %s\n", what, strerror(errno));
	abort();
}

void fe_init(struct fe *fe, struct vgi_vhost_user *vu)
{
	int sv[2];

	memset(fe, 0, sizeof(*fe));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	fe->sock = sv[0];
	fe->vu = vu;
	if (vgi_vhost_user_set_connection(vu, sv[1]))
		die("set_connection");
	fe->memfd = memfd_create("vu-test-ram", MFD_CLOEXEC);
	if (fe->memfd < 0 || ftruncate(fe->memfd, FE_RAM_SIZE) < 0)
		die("memfd");
	fe->ram = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
	if (fe->ram == MAP_FAILED)
		die("mmap");
	for (unsigned i = 0; i < 2; i++) {
		fe->q[i].desc = FE_RAM_GPA + 0x1000 + i * 0x3000;
		fe->q[i].avail = fe->q[i].desc + 0x1000;
		fe->q[i].used = fe->q[i].desc + 0x2000;
		fe->q[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fe->q[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->q[i].kick < 0 || fe->q[i].call < 0)
			die("eventfd");
	}
	fe->bufs = FE_RAM_GPA + 0x10000;
}

void fe_finish(struct fe *fe)
{
	if (fe->sock >= 0)
		close(fe->sock);
	munmap(fe->ram, FE_RAM_SIZE);
	close(fe->memfd);
	for (unsigned i = 0; i < 2; i++) {
		close(fe->q[i].kick);
		close(fe->q[i].call);
	}
}

int fe_send(struct fe *fe, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	    unsigned nfds)
{
	uint32_t hdr[3] = { request, flags, size };
	uint8_t buf[12 + 8192];
	union {
		char c[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size > sizeof(buf) - 12 || nfds > 16)
		return -EINVAL;
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
	if (sendmsg(fe->sock, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return -errno;
	return 0;
}

int fe_pump(struct fe *fe)
{
	int first = 0;

	for (;;) {
		struct pollfd p = { .fd = vgi_vhost_user_get_fd(fe->vu), .events = POLLIN };
		int r;

		if (poll(&p, 1, 0) <= 0)
			return first;
		r = vgi_vhost_user_dispatch(fe->vu);
		if (r && !first)
			first = r;
		if (r && !vgi_vhost_user_connected(fe->vu))
			return first;
	}
}

int fe_call(struct fe *fe, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	int ret = fe_send(fe, request, VGI_VHOST_USER_VERSION, payload, size, fds, nfds);

	return ret ? ret : fe_pump(fe);
}

int fe_reply(struct fe *fe, uint32_t request, void *payload, uint32_t max)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	uint32_t hdr[3];
	uint8_t buf[4096];

	if (poll(&p, 1, 2000) <= 0)
		return -ETIMEDOUT;
	if (recv(fe->sock, hdr, 12, MSG_WAITALL) != 12)
		return -ECONNRESET;
	if (hdr[0] != request || hdr[1] != (VGI_VHOST_USER_VERSION | VGI_VHOST_USER_FLAG_REPLY) ||
	    hdr[2] > sizeof(buf))
		return -EPROTO;
	if (hdr[2] && recv(fe->sock, buf, hdr[2], MSG_WAITALL) != (ssize_t)hdr[2])
		return -ECONNRESET;
	memcpy(payload, buf, hdr[2] < max ? hdr[2] : max);
	return (int)hdr[2];
}

uint64_t fe_get_u64(struct fe *fe, uint32_t request)
{
	uint64_t v = ~0ull;

	if (fe_call(fe, request, NULL, 0, NULL, 0) || fe_reply(fe, request, &v, sizeof(v)) != 8)
		return ~0ull;
	return v;
}

void fe_negotiate(struct fe *fe, uint64_t features)
{
	uint64_t pf = (1ull << VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG) |
		      (1ull << VGI_VHOST_USER_PROTOCOL_F_STATUS) | (1ull << VGI_VHOST_USER_PROTOCOL_F_MQ) |
		      (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
		      (1ull << VGI_VHOST_USER_PROTOCOL_F_RESET_DEVICE);
	uint64_t f = features | (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES);

	if (fe_get_u64(fe, VGI_VHOST_USER_GET_FEATURES) == ~0ull ||
	    fe_call(fe, VGI_VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0) ||
	    fe_call(fe, VGI_VHOST_USER_SET_OWNER, NULL, 0, NULL, 0) ||
	    fe_call(fe, VGI_VHOST_USER_SET_FEATURES, &f, 8, NULL, 0))
		die("negotiate");
}

int fe_set_mem_table(struct fe *fe)
{
	uint8_t p[8 + 32] = { 0 };
	uint64_t r[4] = { FE_RAM_GPA, FE_RAM_SIZE, FE_RAM_UADDR, 0 };
	uint32_t n = 1;

	memcpy(p, &n, 4);
	memcpy(p + 8, r, 32);
	return fe_call(fe, VGI_VHOST_USER_SET_MEM_TABLE, p, sizeof(p), &fe->memfd, 1);
}

static uint64_t uaddr(uint64_t gpa)
{
	return gpa - FE_RAM_GPA + FE_RAM_UADDR;
}

int fe_setup_queue(struct fe *fe, unsigned i)
{
	struct fe_queue *q = &fe->q[i];
	uint32_t state[2] = { i, FE_QSIZE };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { i, 0, uaddr(q->desc), uaddr(q->used), uaddr(q->avail), 0 };
	uint64_t v = i;
	int ret;

	if ((ret = fe_call(fe, VGI_VHOST_USER_SET_VRING_NUM, state, 8, NULL, 0)))
		return ret;
	state[1] = q->avail_idx;
	if ((ret = fe_call(fe, VGI_VHOST_USER_SET_VRING_BASE, state, 8, NULL, 0)))
		return ret;
	if ((ret = fe_call(fe, VGI_VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0)))
		return ret;
	if ((ret = fe_call(fe, VGI_VHOST_USER_SET_VRING_KICK, &v, 8, &q->kick, 1)))
		return ret;
	if ((ret = fe_call(fe, VGI_VHOST_USER_SET_VRING_CALL, &v, 8, &q->call, 1)))
		return ret;
	state[1] = 1;
	return fe_call(fe, VGI_VHOST_USER_SET_VRING_ENABLE, state, 8, NULL, 0);
}

void *fe_host(struct fe *fe, uint64_t gpa)
{
	if (gpa < FE_RAM_GPA || gpa - FE_RAM_GPA >= FE_RAM_SIZE)
		abort();
	return fe->ram + (gpa - FE_RAM_GPA);
}

uint64_t fe_alloc(struct fe *fe, uint32_t len)
{
	uint64_t g = fe->bufs;

	fe->bufs += (len + 63) & ~63u;
	if (fe->bufs > FE_RAM_GPA + FE_RAM_SIZE)
		abort();
	memset(fe_host(fe, g), 0, len);
	return g;
}

unsigned fe_add_chain(struct fe *fe, unsigned i, uint64_t out_gpa, uint32_t out_len, uint64_t in_gpa,
		      uint32_t in_len, bool kick)
{
	struct fe_queue *q = &fe->q[i];
	struct vring_desc *d = fe_host(fe, q->desc);
	uint16_t *avail = fe_host(fe, q->avail);
	unsigned head = q->next_desc % FE_QSIZE, second = (head + 1) % FE_QSIZE;

	d[head] = (struct vring_desc){ .addr = out_gpa, .len = out_len, .flags = VRING_DESC_F_NEXT, .next = second };
	d[second] = (struct vring_desc){ .addr = in_gpa, .len = in_len, .flags = VRING_DESC_F_WRITE };
	q->next_desc += 2;
	avail[2 + q->avail_idx % FE_QSIZE] = (uint16_t)head;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
	if (kick)
		eventfd_write(q->kick, 1);
	return head;
}

bool fe_get_used(struct fe *fe, unsigned i, uint32_t *id, uint32_t *len)
{
	struct fe_queue *q = &fe->q[i];
	uint16_t *used = fe_host(fe, q->used);
	uint32_t *ring = (uint32_t *)&used[2];

	if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == q->last_used)
		return false;
	*id = ring[2 * (q->last_used % FE_QSIZE)];
	*len = ring[2 * (q->last_used % FE_QSIZE) + 1];
	q->last_used++;
	/* EVENT_IDX: interrupt me again after the next used element */
	__atomic_store_n(&((uint16_t *)fe_host(fe, q->avail))[2 + FE_QSIZE], q->last_used, __ATOMIC_RELEASE);
	return true;
}

bool fe_called(struct fe *fe, unsigned i)
{
	eventfd_t v;

	return eventfd_read(fe->q[i].call, &v) == 0 && v > 0;
}

int fe_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}
