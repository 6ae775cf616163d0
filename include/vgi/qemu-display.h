/* SPDX-License-Identifier: MIT */
#ifndef VGI_QEMU_DISPLAY_H
#define VGI_QEMU_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include <vgi/display.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * QEMU's own display, reached over the vhost-user-gpu display protocol
 * (QEMU docs/interop/vhost-user-gpu.rst) on the socket QEMU hands over with
 * VHOST_USER_GPU_SET_SOCKET. Until a socket is set, calls only update the
 * state that is replayed when one is (scanout modes, dmabufs, cursors).
 * Registry spec: "qemu[,gl=off]".
 */

struct vgi_qemu_display;

struct vgi_qemu_display *vgi_qemu_display_new(const struct vgi_display_host *host);
void vgi_qemu_display_free(struct vgi_qemu_display *qd);
/* ops whose sink argument is a struct vgi_qemu_display *; destroy frees it. */
const struct vgi_display_ops *vgi_qemu_display_ops(void);

/*
 * Take over fd (closed on failure too; a previous socket is dropped): send
 * GET_PROTOCOL_FEATURES and replay the current scanouts and cursors. This
 * never waits for QEMU (it is called while QEMU is busy sending vhost-user
 * messages and waiting for their answers): QEMU's replies are read by
 * vgi_qemu_display_dispatch(), which then sets the protocol features, asks
 * for the display info and EDIDs and reports them through host
 * (output_changed, edid). 0 or -errno.
 */
int vgi_qemu_display_set_socket(struct vgi_qemu_display *qd, int fd);
/* Drop the socket (frontend gone). */
void vgi_qemu_display_disconnect(struct vgi_qemu_display *qd);
bool vgi_qemu_display_connected(const struct vgi_qemu_display *qd);

/* The socket to watch in the program's loop (input; output while vgi_qemu_display_wants_write), or -1. */
int vgi_qemu_display_get_fd(const struct vgi_qemu_display *qd);
/*
 * Read and act on the replies QEMU has sent; never waits for one that has
 * not started to arrive. 0, or -errno when the connection is over (bad
 * reply, QEMU gone; logged): the fd is closed then, stop watching it.
 * Host callbacks run from here, or from within scanout_gl()/gl_update()
 * when those have to wait for a reply queued behind earlier ones.
 */
int vgi_qemu_display_dispatch(struct vgi_qemu_display *qd);
/* Ask QEMU again for its display info and EDIDs (answered through dispatch). 0 or -errno. */
int vgi_qemu_display_request_display_info(struct vgi_qemu_display *qd);

/* Protocol feature bits (VHOST_USER_GPU_PROTOCOL_F_*) agreed with QEMU. */
#define VGI_QEMU_DISPLAY_F_EDID		(1ull << 0)
#define VGI_QEMU_DISPLAY_F_DMABUF2	(1ull << 1)
/* True once QEMU answered GET_PROTOCOL_FEATURES; *features gets the agreed bits. */
bool vgi_qemu_display_features(const struct vgi_qemu_display *qd, uint64_t *features);
/*
 * Sends never wait: what the socket does not take is queued (at most 64 MiB,
 * then the display connection ends) and written when the program sees the
 * fd writable and calls vgi_qemu_display_dispatch(); meanwhile 2D damage
 * merges (only an area's latest pixels go out, 512 rects per scanout, then
 * their bounding box) and cursor moves keep only the latest state.
 */
bool vgi_qemu_display_wants_write(const struct vgi_qemu_display *qd);
/*
 * How long a guest command waits for QEMU's answer to DMABUF_UPDATE, and for
 * the rest of a reply that has started (at least 1 s) (default 16 ms, one
 * refresh; < 0: forever; 0: at most a millisecond for either, for a peer
 * that answers ahead, as tests and fuzzers do). Updates while an answer is outstanding merge into one that goes
 * when it comes; a reply that stops half-way ends the connection.
 */
void vgi_qemu_display_set_timeout(struct vgi_qemu_display *qd, int ms);
/*
 * At most fps deliveries of 2D updates per second (0, the default: each
 * update is sent when it comes). An update after a quiet interval still goes
 * out at once; later ones wait for the next interval and then go out
 * together, small ones packed into few sends. QEMU's own display refreshes
 * every 30 ms, so frames in between are never shown. Returns a timer fd
 * the program watches (readable: call vgi_qemu_display_dispatch_timer()),
 * or -errno. Only updates whose image stays valid (vgi_image.stable) wait.
 */
int vgi_qemu_display_set_max_fps(struct vgi_qemu_display *qd, unsigned fps);
void vgi_qemu_display_dispatch_timer(struct vgi_qemu_display *qd);
/* ops without scanout_gl/gl_update: the device reads 3D scanouts back (QEMU displays without GL). */
const struct vgi_display_ops *vgi_qemu_display_ops_nogl(void);

#ifdef __cplusplus
}
#endif

#endif
