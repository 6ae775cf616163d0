// SPDX-License-Identifier: MIT
/*
 * Fuzz the vhost-user back-end (hw/vhost-user/) with a real virtio-gpu
 * device behind it, served over a socketpair as vgi-gpu serves QEMU. The
 * input is a sequence of records: raw front-end messages (any request,
 * flags, payload) carrying fds the input picks among the guest RAM memfd,
 * small memfds, eventfds and /dev/null; a canned QEMU-like set-up (features,
 * memory table, both rings); virtio-gpu commands placed on the rings and
 * kicked; memory tables replaced under running rings; and the front-end
 * disconnecting in the middle of a message. Afterwards the back-end and
 * device are freed: no fd may be left open (checked), no memory leaked
 * (LeakSanitizer).
 *
 * An input whose first byte is LIFE_MAGIC runs the lifecycle mode instead
 * (fuzz-vu-life.h): whole front-end sequences (ring stop and start at the
 * base or afresh, memory table swaps, memory hotplug, SET_STATUS,
 * RESET_DEVICE, hang-up and a new front-end, truncated RAM) against a GPU
 * that holds 3D fenced work: the virgl device when the mode byte after
 * the magic asks for it and 3D works in-process (created once per process:
 * virglrenderer is process-wide), else the 2D device.
 * After every record the ring invariants are checked, and after every
 * reset the device holds no resource and no host memory.
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
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include <vgi/gpu.h>
#include <vgi/log.h>
#include <vgi/vhost-user.h>
#include "fuzz-reader.h"
#include "fuzz-vu-life.h"
#include "../virgl/virgl-cmds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (1u << 20)
#define RAM_GPA 0x100000ull
#define RAM_UADDR 0x7f0000000000ull
#define QSIZE 16u
#define MAX_OPEN 48

struct fz {
	struct vgi_vhost_user *vu;
	int sock;		/* front-end end, -1 once closed */
	int kick[2], call[2];	/* our ends of the rings' eventfds (-1 until set up) */
	uint16_t avail_idx[2];
	unsigned slot;
	int open[MAX_OPEN];	/* fds created for this input, closed at the end */
	unsigned nopen;
};

static int ram_fd = -1;
static uint8_t *ram;

static int keep(struct fz *f, int fd)
{
	if (fd < 0)
		abort();
	if (f->nopen == MAX_OPEN) {
		close(fd);
		return -1;
	}
	f->open[f->nopen++] = fd;
	return fd;
}

/* An fd chosen by the input. */
static int make_fd(struct fz *f, uint8_t kind)
{
	static const uint32_t sizes[] = { 0, 4096, 65536, 12345 };
	int fd;

	switch (kind % 5) {
	case 0:
	case 1:
		return ram_fd;	/* the guest RAM */
	case 2:
		fd = memfd_create("fuzz-small", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, sizes[(kind >> 3) % 4]) < 0)
			abort();
		return keep(f, fd);
	case 3:
		return keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	default:
		return keep(f, open("/dev/null", O_RDWR | O_CLOEXEC));
	}
}

static void drain_socket(struct fz *f)
{
	uint8_t buf[4096];

	while (f->sock >= 0 && recv(f->sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Run the back-end until nothing is ready; false once the connection is over. */
static bool pump(struct fz *f)
{
	for (int i = 0; i < 64; i++) {
		struct pollfd p = { .fd = vgi_vhost_user_get_fd(f->vu), .events = POLLIN };
		int r;

		if (poll(&p, 1, 0) <= 0)
			break;
		r = vgi_vhost_user_dispatch(f->vu);
		drain_socket(f);
		if (r && !vgi_vhost_user_connected(f->vu))
			break;
	}
	drain_socket(f);
	for (unsigned q = 0; q < 2; q++) {
		eventfd_t v;

		if (f->call[q] >= 0)
			eventfd_read(f->call[q], &v);
	}
	return vgi_vhost_user_connected(f->vu);
}

static bool send_msg(struct fz *f, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 4096];
	uint32_t hdr[3] = { request, flags, size };
	union {
		char c[CMSG_SPACE(12 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (f->sock < 0 || size > 4096 || nfds > 12)
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
	return pump(f);
}

static bool call(struct fz *f, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	return send_msg(f, request, VGI_VHOST_USER_VERSION, payload, size, fds, nfds);
}

static bool set_mem_table(struct fz *f, int fd, uint64_t gpa, uint64_t size, uint64_t offset)
{
	struct {
		uint32_t n, pad;
		uint64_t gpa, size, uaddr, offset;
	} m = { 1, 0, gpa, size, RAM_UADDR, offset };

	return call(f, VGI_VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), &fd, 1);
}

static uint64_t qgpa(unsigned q)
{
	return RAM_GPA + 0x1000 + q * 0x3000;
}

static bool setup_queue(struct fz *f, unsigned q, uint8_t how)
{
	struct { uint32_t index, num; } st = { q, QSIZE };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = { q, 0, qgpa(q) - RAM_GPA + RAM_UADDR, qgpa(q) + 0x2000 - RAM_GPA + RAM_UADDR,
		   qgpa(q) + 0x1000 - RAM_GPA + RAM_UADDR, 0 };
	uint64_t v = q;

	if (how & 1)
		st.num = 1u << (how >> 4);	/* 1 .. 32768 (past the ring area: must be refused or bounded) */
	if (!call(f, VGI_VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0))
		return false;
	st.num = (how & 2) ? 0xfff0u : 0;	/* ring index wrap-around */
	f->avail_idx[q] = (uint16_t)st.num;
	memset(ram + (qgpa(q) - RAM_GPA), 0, 0x3000);
	((uint16_t *)(ram + (qgpa(q) + 0x1000 - RAM_GPA)))[1] = f->avail_idx[q];
	((uint16_t *)(ram + (qgpa(q) + 0x2000 - RAM_GPA)))[1] = f->avail_idx[q];
	if (!call(f, VGI_VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0) ||
	    !call(f, VGI_VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0))
		return false;
	if (f->kick[q] < 0)
		f->kick[q] = keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (f->call[q] < 0)
		f->call[q] = keep(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (!call(f, VGI_VHOST_USER_SET_VRING_KICK, &v, 8, &f->kick[q], 1) ||
	    !call(f, VGI_VHOST_USER_SET_VRING_CALL, &v, 8, &f->call[q], 1))
		return false;
	st.num = 1;
	return call(f, VGI_VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
}

/* What QEMU does on start: features, protocol features, owner, memory, both rings. */
static void setup(struct fz *f, uint8_t how)
{
	uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VGI_VHOST_USER_F_PROTOCOL_FEATURES) |
			    (1ull << VIRTIO_GPU_F_EDID);
	uint64_t proto = (1ull << VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIG) |
			 (1ull << VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			 (1ull << VGI_VHOST_USER_PROTOCOL_F_STATUS);

	if (how & 4)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (how & 8)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (!call(f, VGI_VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) ||
	    !call(f, VGI_VHOST_USER_SET_FEATURES, &features, 8, NULL, 0) ||
	    !call(f, VGI_VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0) ||
	    !call(f, VGI_VHOST_USER_SET_PROTOCOL_FEATURES, &proto, 8, NULL, 0) ||
	    !call(f, VGI_VHOST_USER_SET_OWNER, NULL, 0, NULL, 0) ||
	    !set_mem_table(f, ram_fd, RAM_GPA, RAM_SIZE, 0))
		return;
	if (setup_queue(f, 0, how & 0x10 ? 0 : how >> 4))
		setup_queue(f, 1, 0);
}

/* A virtio-gpu command on ring q: cmd (readable) then a response buffer (writable), kicked. */
static void gpu_command(struct fz *f, unsigned q, const uint8_t *cmd, uint32_t len, uint32_t resp_len, bool kick)
{
	uint64_t base = RAM_GPA + 0x10000 + (uint64_t)(f->slot++ % 64) * 0x2000;
	struct vring_desc *d = (struct vring_desc *)(ram + (qgpa(q) - RAM_GPA));
	uint16_t *avail = (uint16_t *)(ram + (qgpa(q) + 0x1000 - RAM_GPA));
	uint16_t head = (uint16_t)((f->avail_idx[q] * 2) % QSIZE);

	memcpy(ram + (base - RAM_GPA), cmd, len);
	d[head] = (struct vring_desc){ .addr = base, .len = len, .flags = VRING_DESC_F_NEXT,
				       .next = (uint16_t)(head + 1) };
	d[head + 1] = (struct vring_desc){ .addr = base + 0x1000, .len = resp_len % 0x1001,
					   .flags = VRING_DESC_F_WRITE };
	avail[2 + f->avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&avail[1], ++f->avail_idx[q], __ATOMIC_RELEASE);
	if (kick && f->kick[q] >= 0)
		eventfd_write(f->kick[q], 1);
	pump(f);
}

static const uint32_t requests[] = {
	VGI_VHOST_USER_GET_FEATURES, VGI_VHOST_USER_SET_FEATURES, VGI_VHOST_USER_SET_OWNER,
	VGI_VHOST_USER_RESET_OWNER, VGI_VHOST_USER_SET_MEM_TABLE, VGI_VHOST_USER_SET_LOG_BASE,
	VGI_VHOST_USER_SET_LOG_FD, VGI_VHOST_USER_SET_VRING_NUM, VGI_VHOST_USER_SET_VRING_ADDR,
	VGI_VHOST_USER_SET_VRING_BASE, VGI_VHOST_USER_GET_VRING_BASE, VGI_VHOST_USER_SET_VRING_KICK,
	VGI_VHOST_USER_SET_VRING_CALL, VGI_VHOST_USER_SET_VRING_ERR, VGI_VHOST_USER_GET_PROTOCOL_FEATURES,
	VGI_VHOST_USER_SET_PROTOCOL_FEATURES, VGI_VHOST_USER_GET_QUEUE_NUM, VGI_VHOST_USER_SET_VRING_ENABLE,
	VGI_VHOST_USER_GET_CONFIG, VGI_VHOST_USER_SET_CONFIG, VGI_VHOST_USER_GPU_SET_SOCKET,
	VGI_VHOST_USER_RESET_DEVICE, VGI_VHOST_USER_GET_MAX_MEM_SLOTS, VGI_VHOST_USER_ADD_MEM_REG,
	VGI_VHOST_USER_REM_MEM_REG, VGI_VHOST_USER_SET_STATUS, VGI_VHOST_USER_GET_STATUS,
};
#define NREQ (sizeof(requests) / sizeof(requests[0]))

/* The device-specific hook, as vgi-gpu has one: takes GPU_SET_SOCKET's fd. */
static int message(void *opaque, uint32_t request, const void *payload, uint32_t size, int *fds, unsigned nfds)
{
	if (request != VGI_VHOST_USER_GPU_SET_SOCKET)
		return -ENOTSUP;
	if (nfds != 1)
		return -EINVAL;
	close(fds[0]);	/* kept (-1), then closed by us: ownership moves to the hook */
	fds[0] = -1;
	return 0;
}

static const struct vgi_vhost_user_ops ops = { .message = message };

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

/* ---- lifecycle mode ---- */

#define LIFE_MAGIC 0xfa

static struct vgi_gpu *life_gpu;	/* the virgl device, kept for the process */
static bool life_virgl_tried;

static void life_check_reset(struct lf *f)
{
	struct vgi_gpu *gpu = f->opaque;

	if (vgi_gpu_resource_count(gpu) || vgi_gpu_hostmem_used(gpu))
		lf_fail("after a reset the GPU still has %u resources and %llu bytes of host memory",
			vgi_gpu_resource_count(gpu), (unsigned long long)vgi_gpu_hostmem_used(gpu));
}

/* One control (q 0) or cursor (q 1) command: readable cmd (+ data), a writable response buffer. */
static void life_cmd(struct lf *f, unsigned q, const void *cmd, uint32_t len, const void *data, uint32_t dlen,
		     uint32_t resp_len, bool kick)
{
	uint64_t gpa[2];
	uint32_t lens[2] = { len + dlen, resp_len };
	bool wr[2] = { false, true };
	int slot;

	/* also while the ring is stopped: the device takes it when the ring resumes */
	if (!f->ram || len + dlen > 0x1000 || (slot = lf_free_slot(f, q)) < 0)
		return;
	gpa[0] = lf_buf_gpa(q, (unsigned)slot);
	gpa[1] = gpa[0] + 0x1000;
	memcpy(lf_host(f, gpa[0]), cmd, len);
	if (dlen)
		memcpy(lf_host(f, gpa[0]) + len, data, dlen);
	lf_publish(f, q, (unsigned)slot, gpa, lens, wr, resp_len ? 2 : 1, kick);
	lf_pump(f);
}

/* Where a resource's backing lives: guest RAM, or the hot-plugged region (which may go away). */
static uint64_t life_backing_gpa(uint8_t sel)
{
	return (sel & 8) ? LF_EXTRA_GPA + (sel & 7) * 0x1000u : LF_RAM_GPA + 0x80000 + (sel & 7) * 0x1000u;
}

static void life_gpu_record(struct lf *f, struct reader *r, uint8_t op)
{
	struct vgi_gpu *gpu = f->opaque;
	uint8_t a = u8(r), b = u8(r);
	uint32_t res = 1 + (a & 3), ctx = 1 + ((a >> 2) & 1);
	bool kick = !(b & 0x80);
	struct virtio_gpu_ctrl_hdr hdr = { .ctx_id = ctx };

	if (lf_verbose > 0)
		fprintf(stderr, "gpu record %u a 0x%x b 0x%x\n", op, a, b);

	switch (op) {
	case 0: {	/* CTX_CREATE */
		struct virtio_gpu_ctx_create c = { .hdr = hdr, .nlen = 4, .debug_name = "fuzz" };

		c.hdr.type = VIRTIO_GPU_CMD_CTX_CREATE;
		life_cmd(f, 0, &c, sizeof(c), NULL, 0, 24, kick);
		break;
	}
	case 1: {	/* a 3D render target attached to the context, with backing */
		struct virtio_gpu_resource_create_3d c = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, .resource_id = res, .target = 2,
			.format = VGL_FMT_B8G8R8X8, .bind = VGL_BIND_RENDER_TARGET | VGL_BIND_SAMPLER_VIEW,
			.width = 16, .height = 16, .depth = 1, .array_size = 1,
		};
		struct virtio_gpu_ctx_resource ca = { .hdr = hdr, .resource_id = res };
		struct virtio_gpu_resource_attach_backing ab = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
								 .resource_id = res, .nr_entries = 1 };
		struct virtio_gpu_mem_entry e = { .addr = life_backing_gpa(b), .length = 16 * 16 * 4 };

		life_cmd(f, 0, &c, sizeof(c), NULL, 0, 24, kick);
		life_cmd(f, 0, &ab, sizeof(ab), &e, sizeof(e), 24, kick);
		ca.hdr.type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE;
		life_cmd(f, 0, &ca, sizeof(ca), NULL, 0, 24, kick);
		break;
	}
	case 2:
	case 3: {	/* fenced SUBMIT_3D: a clear of res (held until its fence retires) */
		uint32_t cs[32], n = vgl_clear_cmds(cs, res, 100 + (b & 7), (b & 1) ? 1.0f : 0.0f, 0.5f, 0.0f);
		struct virtio_gpu_cmd_submit s = { .hdr = hdr, .size = n * 4 };
		static uint64_t fence;

		s.hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D;
		s.hdr.flags = (b & 0x40) ? 0 : VIRTIO_GPU_FLAG_FENCE;
		if (b & 0x20)
			s.hdr.flags |= VIRTIO_GPU_FLAG_INFO_RING_IDX;	/* per-context fence, ring 0 */
		s.hdr.fence_id = (b & 0x10) ? (b & 0xf) : ++fence;	/* sometimes going backwards */
		life_cmd(f, 0, &s, sizeof(s), cs, n * 4, 24 + (b & 8 ? 0 : 8), kick);
		break;
	}
	case 4: {	/* the GPU's fence fd: wait a little (or not), then dispatch */
		int fd = vgi_gpu_get_fd(gpu);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (fd >= 0 && poll(&p, 1, b & 1 ? 20 : 0) > 0)
			vgi_gpu_dispatch(gpu);
		lf_pump(f);
		break;
	}
	case 5: {	/* a 2D resource with backing, transferred, shown and flushed */
		struct virtio_gpu_resource_create_2d c = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
							   .resource_id = res, .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
							   .width = 16, .height = 16 };
		struct virtio_gpu_resource_attach_backing ab = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
								 .resource_id = res, .nr_entries = 1 };
		struct virtio_gpu_mem_entry e = { .addr = life_backing_gpa(b), .length = 16 * 16 * 4 };
		struct virtio_gpu_transfer_to_host_2d t = { .hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
							    .r = { 0, 0, 16, 16 }, .resource_id = res };
		struct virtio_gpu_set_scanout so = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = { 0, 0, 16, 16 },
						     .resource_id = res };
		struct virtio_gpu_resource_flush fl = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
							.r = { 0, 0, 16, 16 }, .resource_id = res };

		life_cmd(f, 0, &c, sizeof(c), NULL, 0, 24, kick);
		life_cmd(f, 0, &ab, sizeof(ab), &e, sizeof(e), 24, kick);
		life_cmd(f, 0, &t, sizeof(t), NULL, 0, 24, kick);
		if (b & 1)
			life_cmd(f, 0, &so, sizeof(so), NULL, 0, 24, kick);
		life_cmd(f, 0, &fl, sizeof(fl), NULL, 0, 24, kick);
		break;
	}
	case 6: {	/* take things down: unref, detach, ctx destroy, scanout off */
		struct virtio_gpu_resource_unref u = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF, .resource_id = res };
		struct virtio_gpu_ctrl_hdr cd = { .type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = ctx };
		struct virtio_gpu_set_scanout off = { .hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT };
		struct virtio_gpu_resource_detach_backing d = { .hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
								.resource_id = res };

		if (b & 1)
			life_cmd(f, 0, &off, sizeof(off), NULL, 0, 24, kick);
		if (b & 2)
			life_cmd(f, 0, &cd, sizeof(cd), NULL, 0, 24, kick);
		else if (b & 4)
			life_cmd(f, 0, &d, sizeof(d), NULL, 0, 24, kick);
		else
			life_cmd(f, 0, &u, sizeof(u), NULL, 0, 24, kick);
		break;
	}
	default: {	/* cursor, display info, a 3D transfer back */
		struct virtio_gpu_update_cursor cur = { .hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR, .resource_id = res };
		struct virtio_gpu_ctrl_hdr di = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
		struct virtio_gpu_transfer_host_3d tf = {
			.hdr = { .type = VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, .ctx_id = ctx }, .resource_id = res,
			.box = { 0, 0, 0, 16, 16, 1 }, .stride = 16 * 4,
		};

		if (b & 1)
			life_cmd(f, 1, &cur, sizeof(cur), NULL, 0, 0, kick);
		else if (b & 2)
			life_cmd(f, 0, &di, sizeof(di), NULL, 0, sizeof(struct virtio_gpu_resp_display_info), kick);
		else
			life_cmd(f, 0, &tf, sizeof(tf), NULL, 0, 24, kick);
		break;
	}
	}
}

static int life_run(struct reader *r)
{
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu = NULL;
	struct lf f;
	unsigned records = 0;
	int fds_before;

	uint8_t mode = u8(r);

	vgi_log_set_handler(lf_log, NULL);
	if ((mode & 1) && !life_virgl_tried) {
		life_virgl_tried = true;
		vgi_gpu_config_init(&cfg);
		cfg.virgl = true;
		cfg.max_hostmem = 4u << 20;
		life_gpu = vgi_gpu_new(&cfg);
		fprintf(stderr, "fuzz-vhost-user: lifecycle mode with the %s device\n", life_gpu ? "virgl" : "2D");
	}
	/* mode bit 0: the virgl device (3D contexts cost about 0.1 s each: most inputs run 2D) */
	gpu = (mode & 1) ? life_gpu : NULL;
	if (!gpu) {
		vgi_gpu_config_init(&cfg);
		cfg.max_hostmem = 4u << 20;
		gpu = vgi_gpu_new(&cfg);
		if (!gpu)
			abort();
	}
	fds_before = lf_count_fds();
	lf_init(&f, vgi_vhost_user_new(vgi_gpu_virtio(gpu), &ops, NULL), vgi_gpu_virtio(gpu));
	if (!f.vu)
		abort();
	f.opaque = gpu;
	f.features = (1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_EDID) | (1ull << VIRTIO_GPU_F_CONTEXT_INIT);
	f.q[0].dpc = f.q[1].dpc = 2;

	while (r->left && records++ < 64) {
		uint8_t op = u8(r) % (LF_NOPS + 8);

		lf_ensure_connected(&f, op);
		if (op < LF_NOPS)
			lf_record(&f, op, r, life_check_reset);
		else if (f.sock >= 0)
			life_gpu_record(&f, r, op - LF_NOPS);
		if (f.sock >= 0)
			lf_check(&f);
	}
	lf_finish(&f);
	life_check_reset(&f);
	vgi_vhost_user_free(f.vu);
	if (gpu != life_gpu)
		vgi_gpu_free(gpu);
	if (lf_count_fds() != fds_before) {
		fprintf(stderr, "fuzz-vhost-user: lifecycle: %d fds before, %d after\n", fds_before, lf_count_fds());
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	struct fz f;
	int sv[2], fds_before;
	unsigned records = 0;

	if (size && data[0] == LIFE_MAGIC) {
		r.p++;
		r.left--;
		return life_run(&r);
	}
	vgi_log_set_handler(quiet, NULL);
	if (ram_fd < 0) {
		ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
		if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) < 0)
			abort();
		ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
		if (ram == MAP_FAILED)
			abort();
	}
	fds_before = count_fds();
	memset(&f, 0, sizeof(f));
	f.kick[0] = f.kick[1] = f.call[0] = f.call[1] = -1;
	vgi_gpu_config_init(&cfg);
	cfg.max_hostmem = 1u << 20;
	gpu = vgi_gpu_new(&cfg);
	f.vu = vgi_vhost_user_new(vgi_gpu_virtio(gpu), &ops, NULL);
	if (!gpu || !f.vu || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	f.sock = sv[0];
	if (vgi_vhost_user_set_connection(f.vu, sv[1]))
		abort();

	while (r.left && records++ < 40) {
		uint8_t op = u8(&r);

		if (f.sock >= 0 && !vgi_vhost_user_connected(f.vu)) {
			/* the back-end ended the connection: a new front-end connects */
			close(f.sock);
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				abort();
			f.sock = sv[0];
			if (vgi_vhost_user_set_connection(f.vu, sv[1]))
				abort();
		}
		switch (op % 8) {
		case 0: case 1: case 2: {	/* a raw message */
			uint8_t payload[4096] = { 0 }, fdspec = u8(&r), rq = u8(&r);
			uint32_t request = rq < 0xe0 ? requests[rq % NREQ] : rq;
			uint32_t flags = VGI_VHOST_USER_VERSION | ((op & 0x08) ? VGI_VHOST_USER_FLAG_NEED_REPLY : 0);
			uint32_t len = u16(&r) % 600;
			int fds[12];
			unsigned nfds = fdspec & 3;

			if (op & 0x10)
				flags = u8(&r);	/* bad versions, reply bit */
			if (fdspec == 0xff)
				nfds = 10;	/* more fds than any message may carry */
			for (uint32_t i = 0; i < len && r.left; i++)
				payload[i] = u8(&r);
			for (unsigned i = 0; i < nfds; i++)
				fds[i] = make_fd(&f, i == 0 ? (uint8_t)(fdspec >> 2) : u8(&r));
			for (unsigned i = 0; i < nfds; i++)
				if (fds[i] < 0)
					nfds = 0;
			send_msg(&f, request, flags, payload, len, fds, nfds);
			break;
		}
		case 3:		/* QEMU's start-up sequence */
			setup(&f, u8(&r));
			break;
		case 4: case 5: {	/* a virtio-gpu command on a ring */
			uint8_t cmd[256] = { 0 };
			uint32_t len = u8(&r) % (sizeof(cmd) + 1), resp = u16(&r);
			struct virtio_gpu_ctrl_hdr h;

			for (uint32_t i = 0; i < len && r.left; i++)
				cmd[i] = u8(&r);
			if (len >= sizeof(h) && !(op & 0x80)) {
				/* a real command type most of the time */
				memcpy(&h, cmd, sizeof(h));
				h.type = (op & 0x40 ? VIRTIO_GPU_CMD_UPDATE_CURSOR : VIRTIO_GPU_CMD_GET_DISPLAY_INFO) +
					 h.type % 20;
				memcpy(cmd, &h, sizeof(h));
			}
			gpu_command(&f, (op >> 5) & 1, cmd, len, resp, !(op & 0x10));
			break;
		}
		case 6: {	/* memory replaced while the rings run: moved, shrunk, other fd, offset */
			uint8_t how = u8(&r);
			int fd = (how & 1) ? make_fd(&f, (uint8_t)(2 | (how & 0x18))) : ram_fd;
			uint64_t sz = (how & 2) ? RAM_SIZE / 2 : RAM_SIZE;
			uint64_t gpa = (how & 4) ? RAM_GPA + 0x1000 : RAM_GPA;

			if (fd >= 0)
				set_mem_table(&f, fd, gpa, sz, (how & 0x20) ? 0x1000 : 0);
			for (unsigned q = 0; q < 2; q++)
				if (f.kick[q] >= 0)
					eventfd_write(f.kick[q], 1);
			pump(&f);
			break;
		}
		case 7: {	/* the front-end goes away in the middle of a message */
			uint32_t hdr[3] = { requests[u8(&r) % NREQ], VGI_VHOST_USER_VERSION, 8 + u8(&r) };
			size_t part = u8(&r) % (12 + 8);

			if (f.sock < 0)
				break;
			if (part > 12) {
				uint8_t buf[20] = { 0 };

				memcpy(buf, hdr, 12);
				send(f.sock, buf, part, MSG_NOSIGNAL);
			} else {
				send(f.sock, hdr, part, MSG_NOSIGNAL);
			}
			close(f.sock);
			f.sock = -1;
			pump(&f);
			if (vgi_vhost_user_connected(f.vu))
				abort();	/* EOF mid-message must end the connection */
			goto out;
		}
		}
	}
out:
	if (f.sock >= 0)
		close(f.sock);
	f.sock = -1;
	pump(&f);
	vgi_vhost_user_free(f.vu);
	vgi_gpu_free(gpu);
	for (unsigned i = 0; i < f.nopen; i++)
		close(f.open[i]);
	if (count_fds() != fds_before) {
		fprintf(stderr, "fuzz-vhost-user: %d fds before, %d after\n", fds_before, count_fds());
		abort();
	}
	return 0;
}
