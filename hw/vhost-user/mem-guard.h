/* SPDX-License-Identifier: MIT */
#ifndef VGI_VHOST_USER_MEM_GUARD_H
#define VGI_VHOST_USER_MEM_GUARD_H

/*
 * Guest memory mapped from a front-end's file can shrink under us (the
 * front-end truncates it): the next access would kill the process with
 * SIGBUS. Guarded mappings survive it: the handler puts zero pages over the
 * whole mapping, so the access completes, and tells the owner through its
 * eventfd and flag; the owner then ends the connection with a named error.
 * Faults outside guarded mappings go to the previous handler (or kill the
 * process as they always would).
 */

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct vgi_mem_guard_owner {
	int efd;			/* written (1) when one of its mappings faulted */
	volatile sig_atomic_t faulted;
	volatile uintptr_t fault_addr;
};

/* Guard [start, start + len). -ENOSPC when too many mappings are guarded (the mapping still works). */
int vgi_mem_guard_add(void *start, size_t len, struct vgi_mem_guard_owner *owner);
/* Before munmap. Unknown addresses are ignored. */
void vgi_mem_guard_remove(void *start);

#endif
