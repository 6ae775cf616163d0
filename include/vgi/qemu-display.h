/* SPDX-License-Identifier: MIT */
#ifndef VGI_QEMU_DISPLAY_H
#define VGI_QEMU_DISPLAY_H

#include <stdbool.h>

#include <vgi/display.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * QEMU's own display, reached over the vhost-user-gpu display protocol
 * (QEMU docs/interop/vhost-user-gpu.rst) on the socket QEMU hands over with
 * VHOST_USER_GPU_SET_SOCKET. Until a socket is set, calls are dropped.
 */

struct vgi_qemu_display;

struct vgi_qemu_display *vgi_qemu_display_new(const struct vgi_display_host *host);
void vgi_qemu_display_free(struct vgi_qemu_display *qd);
/* ops whose sink argument is a struct vgi_qemu_display *; destroy frees it. */
const struct vgi_display_ops *vgi_qemu_display_ops(void);

/*
 * Take over fd (closed on failure too): negotiate protocol features, ask
 * QEMU for its display info and EDIDs and report them through host
 * (output_changed, edid). -errno with a logged reason if QEMU misbehaves.
 */
int vgi_qemu_display_set_socket(struct vgi_qemu_display *qd, int fd);
/* Drop the socket (frontend gone). */
void vgi_qemu_display_disconnect(struct vgi_qemu_display *qd);
bool vgi_qemu_display_connected(const struct vgi_qemu_display *qd);

#ifdef __cplusplus
}
#endif

#endif
