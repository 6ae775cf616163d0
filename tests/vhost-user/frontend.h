/* SPDX-License-Identifier: MIT */
#ifndef VGI_TEST_VU_FRONTEND_H
#define VGI_TEST_VU_FRONTEND_H

/*
 * A small vhost-user front-end for tests: it plays QEMU over a socketpair
 * against an in-process struct vgi_vhost_user. Guest RAM is a memfd that
 * both sides map; the driver side of split rings is laid out in it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vgi/vhost-user.h>

#define FE_RAM_SIZE (4u << 20)
#define FE_RAM_GPA 0x40000000ull
#define FE_RAM_UADDR 0x7f1200000000ull	/* the front-end's "virtual address" of RAM */
#define FE_QSIZE 16u

struct fe_queue {
	uint64_t desc, avail, used;	/* gpa */
	uint16_t avail_idx, last_used;
	uint16_t next_desc;
	int kick, call;			/* eventfds, the front-end's ends */
};

struct fe {
	int sock;			/* front-end end of the socketpair */
	struct vgi_vhost_user *vu;
	int memfd;
	uint8_t *ram;			/* front-end mapping of the memfd */
	struct fe_queue q[2];
	uint64_t bufs;			/* next free buffer gpa */
};

/* Socketpair + memfd; vu gets the other end. */
void fe_init(struct fe *fe, struct vgi_vhost_user *vu);
void fe_finish(struct fe *fe);

/* Raw message: header, payload, fds. Returns 0 or -errno. */
int fe_send(struct fe *fe, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	    unsigned nfds);
/* Send and dispatch until the back-end is idle. */
int fe_call(struct fe *fe, uint32_t request, const void *payload, uint32_t size, const int *fds, unsigned nfds);
/* Read one reply (2 s timeout): returns payload size or -errno. */
int fe_reply(struct fe *fe, uint32_t request, void *payload, uint32_t max);
uint64_t fe_get_u64(struct fe *fe, uint32_t request);
/* Run vgi_vhost_user_dispatch until nothing is ready; returns its first non-zero result. */
int fe_pump(struct fe *fe);

/* Negotiate like QEMU: features, protocol features (REPLY_ACK, CONFIG, ...), owner. */
void fe_negotiate(struct fe *fe, uint64_t features);
/* SET_MEM_TABLE with the memfd as one region. */
int fe_set_mem_table(struct fe *fe);
/* NUM, BASE, ADDR, KICK, CALL, ENABLE for queue i; rings at fixed offsets in RAM. */
int fe_setup_queue(struct fe *fe, unsigned i);

void *fe_host(struct fe *fe, uint64_t gpa);
/* Put a chain (one readable buffer, one writable buffer) on queue i and kick. Returns the head. */
unsigned fe_add_chain(struct fe *fe, unsigned i, uint64_t out_gpa, uint32_t out_len, uint64_t in_gpa,
		      uint32_t in_len, bool kick);
/* The next used element of queue i: true with its id and length. */
bool fe_get_used(struct fe *fe, unsigned i, uint32_t *id, uint32_t *len);
/* Whether the call eventfd of queue i was signalled (and clear it). */
bool fe_called(struct fe *fe, unsigned i);
/* A buffer in RAM (zeroed). */
uint64_t fe_alloc(struct fe *fe, uint32_t len);

/* Number of open fds in this process. */
int fe_count_fds(void);

#endif
