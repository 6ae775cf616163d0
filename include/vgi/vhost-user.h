/* SPDX-License-Identifier: MIT */
#ifndef VGI_VHOST_USER_H
#define VGI_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/virtio-device.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The back-end side of the vhost-user protocol (QEMU docs/interop/vhost-user.rst)
 * for any struct vgi_virtio_device: QEMU (the front-end) hands over guest
 * memory as file descriptors, the ring addresses and kick/call eventfds, and
 * the device processes its rings in this process.
 *
 * The library owns no main loop. A struct vgi_vhost_user exposes one fd
 * (an epoll set holding the listening socket or the connection, and every
 * kick eventfd): when it is readable, call vgi_vhost_user_dispatch().
 *
 * Everything the front-end sends is checked: header and payload sizes
 * (payloads are capped, never allocated at the size the front-end names),
 * the number of fds per message type, message order (vring set-up before
 * a memory table, queue indexes), ring addresses against the memory table.
 * A bad message is logged with the offending value and ends the connection;
 * the device is reset and guest memory unmapped.
 */

/* Front-end request numbers (the protocol's, kept here for tests and hooks). */
enum vgi_vhost_user_request {
	VGI_VHOST_USER_GET_FEATURES = 1,
	VGI_VHOST_USER_SET_FEATURES = 2,
	VGI_VHOST_USER_SET_OWNER = 3,
	VGI_VHOST_USER_RESET_OWNER = 4,
	VGI_VHOST_USER_SET_MEM_TABLE = 5,
	VGI_VHOST_USER_SET_LOG_BASE = 6,
	VGI_VHOST_USER_SET_LOG_FD = 7,
	VGI_VHOST_USER_SET_VRING_NUM = 8,
	VGI_VHOST_USER_SET_VRING_ADDR = 9,
	VGI_VHOST_USER_SET_VRING_BASE = 10,
	VGI_VHOST_USER_GET_VRING_BASE = 11,
	VGI_VHOST_USER_SET_VRING_KICK = 12,
	VGI_VHOST_USER_SET_VRING_CALL = 13,
	VGI_VHOST_USER_SET_VRING_ERR = 14,
	VGI_VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VGI_VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VGI_VHOST_USER_GET_QUEUE_NUM = 17,
	VGI_VHOST_USER_SET_VRING_ENABLE = 18,
	VGI_VHOST_USER_GET_CONFIG = 24,
	VGI_VHOST_USER_SET_CONFIG = 25,
	VGI_VHOST_USER_GPU_SET_SOCKET = 33,	/* device-specific: goes to the message hook */
	VGI_VHOST_USER_RESET_DEVICE = 34,
	VGI_VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VGI_VHOST_USER_ADD_MEM_REG = 37,
	VGI_VHOST_USER_REM_MEM_REG = 38,
	VGI_VHOST_USER_SET_STATUS = 39,
	VGI_VHOST_USER_GET_STATUS = 40,
};

#define VGI_VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits offered. */
#define VGI_VHOST_USER_PROTOCOL_F_MQ 0
#define VGI_VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VGI_VHOST_USER_PROTOCOL_F_CONFIG 9
#define VGI_VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VGI_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VGI_VHOST_USER_PROTOCOL_F_STATUS 16

#define VGI_VHOST_USER_VERSION 0x1
#define VGI_VHOST_USER_FLAG_REPLY (1u << 2)
#define VGI_VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VGI_VHOST_USER_HDR_SIZE 12u
#define VGI_VHOST_USER_MAX_PAYLOAD 4096u	/* larger payloads end the connection */
#define VGI_VHOST_USER_MAX_FDS 8u		/* fds accepted in one message */
#define VGI_VHOST_USER_MAX_MEM_SLOTS 32u	/* GET_MAX_MEM_SLOTS */
#define VGI_VHOST_USER_MAX_CONFIG 256u		/* GET/SET_CONFIG payload cap */

struct vgi_vhost_user;

struct vgi_vhost_user_ops {
	/*
	 * Optional: a request this library does not handle itself (device
	 * specific, e.g. VGI_VHOST_USER_GPU_SET_SOCKET). fds[0..nfds) are the
	 * fds that came with it: set an entry to -1 to keep that fd, the rest
	 * are closed afterwards. Return 0 (handled), -ENOTSUP (unknown request:
	 * a protocol error) or another -errno (the connection ends).
	 */
	int (*message)(void *opaque, uint32_t request, const void *payload, uint32_t size, int *fds,
		       unsigned nfds);
	/* Optional: the connection ended (reason: 0 when the front-end closed it). Device already reset. */
	void (*disconnected)(void *opaque, int reason);
};

/*
 * A back-end for dev (not owned; its host ops are set to this object's).
 * NULL on allocation failure.
 */
struct vgi_vhost_user *vgi_vhost_user_new(struct vgi_virtio_device *dev, const struct vgi_vhost_user_ops *ops,
					  void *opaque);
/* Closes the connection and listening socket (unlinking its path), unmaps guest memory. NULL is fine. */
void vgi_vhost_user_free(struct vgi_vhost_user *vu);

/*
 * Listen on a Unix socket at path (an existing socket file there is
 * replaced). One front-end at a time; after it disconnects, the next
 * connection is accepted. 0 or -errno (logged).
 */
int vgi_vhost_user_listen(struct vgi_vhost_user *vu, const char *path);
/* Serve an already connected socket (--fd N, a socketpair in tests); takes ownership. 0 or -errno. */
int vgi_vhost_user_set_connection(struct vgi_vhost_user *vu, int fd);

/* The fd to poll for reading (an epoll fd; stays the same for the object's lifetime). */
int vgi_vhost_user_get_fd(const struct vgi_vhost_user *vu);

/*
 * Handle everything that is ready: a new connection, front-end messages,
 * kicks. Never blocks for long (a message whose rest does not arrive
 * within a few seconds ends the connection). Returns 0, or -ECONNRESET when
 * the front-end closed the connection, -EPROTO when a bad message ended it
 * (logged), other -errno on local failures. After a negative return the
 * object is ready for the next connection (listening mode) or idle.
 */
int vgi_vhost_user_dispatch(struct vgi_vhost_user *vu);

bool vgi_vhost_user_connected(const struct vgi_vhost_user *vu);
/* End the current connection (as if the front-end left). */
void vgi_vhost_user_disconnect(struct vgi_vhost_user *vu);

/* Introspection (tests): number of mapped memory regions, ring state. */
unsigned vgi_vhost_user_num_regions(const struct vgi_vhost_user *vu);
bool vgi_vhost_user_queue_started(const struct vgi_vhost_user *vu, unsigned index);
bool vgi_vhost_user_queue_enabled(const struct vgi_vhost_user *vu, unsigned index);
uint64_t vgi_vhost_user_status(const struct vgi_vhost_user *vu);

#ifdef __cplusplus
}
#endif

#endif
