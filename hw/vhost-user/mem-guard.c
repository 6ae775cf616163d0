// SPDX-License-Identifier: MIT
/* SIGBUS on guest memory the front-end truncated: see mem-guard.h. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vgi/log.h>

#include "mem-guard.h"

#define MAX_GUARDED 1024	/* regions and retired mappings of every connection in the process */

struct guarded {
	uintptr_t start;	/* 0: free slot; written last when a slot is filled */
	size_t len;
	struct vgi_mem_guard_owner *owner;
};

static struct guarded slots[MAX_GUARDED];
static struct sigaction previous;

static void pass_on(int sig, siginfo_t *si, void *uc)
{
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* default action: restore it; the faulting access runs again and the process dies as it would have */
	signal(sig, SIG_DFL);
}

/* Async-signal-safe: atomic loads, mmap, write. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	if (si->si_code == BUS_ADRERR) {
		for (unsigned i = 0; i < MAX_GUARDED; i++) {
			uintptr_t start = __atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE);
			struct vgi_mem_guard_owner *o;
			uint64_t one = 1;

			if (!start || a < start || a - start >= slots[i].len)
				continue;
			o = slots[i].owner;
			if (mmap((void *)start, slots[i].len, PROT_READ | PROT_WRITE,
				 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
				break;
			o->fault_addr = a;
			o->faulted = 1;
			if (write(o->efd, &one, sizeof(one)) < 0) {
				/* the flag alone is seen at the next dispatch */
			}
			return;
		}
	}
	pass_on(sig, si, uc);
}

/* Ours, chained to whatever was there; again if the program replaced it since (it is chained then). */
static int install(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0) {
		vgi_warn("vhost-user: cannot install the SIGBUS handler: %s (a front-end that truncates "
			 "guest memory will kill this process)", strerror(errno));
		return -errno;
	}
	return 0;
}

int vgi_mem_guard_add(void *start, size_t len, struct vgi_mem_guard_owner *owner)
{
	int ret = install();

	if (ret)
		return ret;
	for (unsigned i = 0; i < MAX_GUARDED; i++) {
		if (__atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE))
			continue;
		slots[i].len = len;
		slots[i].owner = owner;
		__atomic_store_n(&slots[i].start, (uintptr_t)start, __ATOMIC_RELEASE);
		return 0;
	}
	vgi_warn("vhost-user: more than %u guest memory mappings: this one is not guarded against SIGBUS",
		 MAX_GUARDED);
	return -ENOSPC;
}

void vgi_mem_guard_remove(void *start)
{
	for (unsigned i = 0; i < MAX_GUARDED; i++) {
		if (__atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE) == (uintptr_t)start) {
			__atomic_store_n(&slots[i].start, 0, __ATOMIC_RELEASE);
			return;
		}
	}
}
