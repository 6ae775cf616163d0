// SPDX-License-Identifier: MIT
/* The evdev I/O layer around the grab state machine (libevdev). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <libevdev/libevdev.h>

#include <vgi/evdev.h>
#include <vgi/log.h>

#define TAG_INOTIFY UINT32_MAX
#define TAG_HOOK (UINT32_MAX - 1)
#define HOOK_QUEUE 16
#define QMAX 512	/* events read and not yet handled, per device */

struct edev {
	char *name;		/* as given */
	char *path;		/* resolved */
	int fd;
	struct libevdev *dev;
	/* identity, to recognise the device when it comes back */
	char id_name[128];
	uint16_t bustype, vendor, product;
	/* events read, handled frame by frame in timestamp order across devices */
	struct input_event *q;
	unsigned qhead, qn;
};

struct vgi_evdev {
	struct vgi_evdev_config cfg;
	char *hook;
	char *dir;
	const struct vgi_evdev_ops *ops;
	void *opaque;
	struct vgi_grab *grab;
	int epfd;
	int inofd;
	int wd_dir, wd_byid, wd_bypath;
	unsigned n;
	struct edev devs[VGI_GRAB_MAX_DEVICES];
	/* toggle hooks run one at a time, in order, without blocking input */
	pid_t hook_pid;
	int hook_pidfd;
	struct { unsigned dev; bool on; } hookq[HOOK_QUEUE];
	unsigned hookq_n;
};

static void start_hook(struct vgi_evdev *e, unsigned dev, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_HOOK };
	pid_t pid = fork();

	if (pid < 0) {
		vgi_warn("evdev: toggle hook: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setenv("VGI_GRAB", on ? "1" : "0", 1);
		setenv("VGI_GRAB_DEVICE", dev < e->n ? e->devs[dev].path : "", 1);
		execl("/bin/sh", "sh", "-c", e->hook, "vgi-input-hook", on ? "grab" : "release", (char *)NULL);
		_exit(127);
	}
	e->hook_pid = pid;
	e->hook_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (e->hook_pidfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->hook_pidfd, &ev) < 0) {
		/* no pidfd (old kernel): wait for it here */
		if (e->hook_pidfd >= 0)
			close(e->hook_pidfd);
		e->hook_pidfd = -1;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		e->hook_pid = 0;
	}
}

/* The running hook ended: reap it, start the next one. */
static void hook_done(struct vgi_evdev *e)
{
	int status;

	if (e->hook_pid <= 0 || waitpid(e->hook_pid, &status, WNOHANG) != e->hook_pid)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		vgi_warn("evdev: toggle hook exited with status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, e->hook_pidfd, NULL);
	close(e->hook_pidfd);
	e->hook_pidfd = -1;
	e->hook_pid = 0;
	while (e->hookq_n && !e->hook_pid) {
		unsigned dev = e->hookq[0].dev;
		bool on = e->hookq[0].on;

		memmove(e->hookq, e->hookq + 1, --e->hookq_n * sizeof(e->hookq[0]));
		start_hook(e, dev, on);
	}
}

static void run_hook(struct vgi_evdev *e, unsigned dev, bool on)
{
	if (!e->hook)
		return;
	if (!e->hook_pid) {
		start_hook(e, dev, on);
		return;
	}
	if (e->hookq_n == HOOK_QUEUE) {
		vgi_warn("evdev: toggle hooks pile up: dropping the oldest queued one");
		memmove(e->hookq, e->hookq + 1, --e->hookq_n * sizeof(e->hookq[0]));
	}
	e->hookq[e->hookq_n].dev = dev;
	e->hookq[e->hookq_n].on = on;
	e->hookq_n++;
}

static void on_action(void *opaque, const struct vgi_grab_action *a)
{
	struct vgi_evdev *e = opaque;
	struct edev *d = a->dev < e->n ? &e->devs[a->dev] : NULL;
	int ret;

	switch (a->type) {
	case VGI_GRAB_ACT_FORWARD:
		if (e->ops->event)
			e->ops->event(e->opaque, a->dev, &a->ev);
		break;
	case VGI_GRAB_ACT_GRAB:
		if (!d || !d->dev)
			break;
		ret = libevdev_grab(d->dev, a->on ? LIBEVDEV_GRAB : LIBEVDEV_UNGRAB);
		if (ret < 0)
			vgi_warn("evdev: %s: %s: %s", d->path, a->on ? "grab" : "ungrab", strerror(-ret));
		else
			vgi_info("evdev: %s %s", d->path, a->on ? "grabbed" : "released");
		if (e->ops->grab_changed)
			e->ops->grab_changed(e->opaque, a->dev, a->on);
		break;
	case VGI_GRAB_ACT_LED:
		if (d && d->dev && libevdev_has_event_code(d->dev, EV_LED, a->ev.code)) {
			ret = libevdev_kernel_set_led_value(d->dev, a->ev.code,
							    a->ev.value ? LIBEVDEV_LED_ON : LIBEVDEV_LED_OFF);
			if (ret < 0)
				vgi_debug("evdev: %s: LED %u: %s", d->path, a->ev.code, strerror(-ret));
		}
		break;
	case VGI_GRAB_ACT_HOOK:
		run_hook(e, a->dev, a->on);
		break;
	}
}

static char *resolve(const struct vgi_evdev *e, const char *name)
{
	static const char *const sub[] = { "by-id/", "by-path/", "" };
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return strdup(name);
	for (unsigned i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s%s", e->dir, sub[i], name);
		if (access(buf, F_OK) == 0)
			return strdup(buf);
	}
	snprintf(buf, sizeof(buf), "%s/by-id/%s", e->dir, name);
	return strdup(buf);
}

static void watch_dirs(struct vgi_evdev *e)
{
	char buf[PATH_MAX];
	const uint32_t mask = IN_CREATE | IN_ATTRIB | IN_MOVED_TO | IN_DELETE;

	if (e->inofd < 0)
		return;
	if (e->wd_dir < 0)
		e->wd_dir = inotify_add_watch(e->inofd, e->dir, mask);
	snprintf(buf, sizeof(buf), "%s/by-id", e->dir);
	if (e->wd_byid < 0)
		e->wd_byid = inotify_add_watch(e->inofd, buf, mask);
	snprintf(buf, sizeof(buf), "%s/by-path", e->dir);
	if (e->wd_bypath < 0)
		e->wd_bypath = inotify_add_watch(e->inofd, buf, mask);
}

struct vgi_evdev *vgi_evdev_new(const struct vgi_evdev_config *cfg, const struct vgi_evdev_ops *ops, void *opaque)
{
	struct vgi_evdev *e = calloc(1, sizeof(*e));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_INOTIFY };

	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->ops = ops;
	e->opaque = opaque;
	e->inofd = e->wd_dir = e->wd_byid = e->wd_bypath = -1;
	e->hook_pidfd = -1;
	e->hook = cfg->toggle_hook ? strdup(cfg->toggle_hook) : NULL;
	e->dir = strdup(cfg->input_dir ? cfg->input_dir : "/dev/input");
	e->grab = vgi_grab_new(&cfg->grab, on_action, e);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!e->dir || !e->grab || e->epfd < 0 || (cfg->toggle_hook && !e->hook)) {
		vgi_error("evdev: cannot set up (bad config or out of resources)");
		vgi_evdev_free(e);
		return NULL;
	}
	if (!cfg->no_hotplug) {
		e->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (e->inofd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->inofd, &ev) < 0)
			vgi_warn("evdev: no hotplug (inotify: %s)", strerror(errno));
		watch_dirs(e);
		if (e->wd_dir < 0)
			vgi_warn("evdev: cannot watch %s: %s: devices that vanish are not reopened", e->dir,
				 strerror(errno));
	}
	return e;
}

static void close_dev(struct vgi_evdev *e, struct edev *d)
{
	if (d->fd >= 0) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, d->fd, NULL);
		close(d->fd);
	}
	libevdev_free(d->dev);
	d->dev = NULL;
	d->fd = -1;
}

void vgi_evdev_free(struct vgi_evdev *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->n; i++) {
		struct edev *d = &e->devs[i];

		if (d->dev && vgi_grab_is_grabbed(e->grab, i))
			libevdev_grab(d->dev, LIBEVDEV_UNGRAB);
		close_dev(e, d);
		free(d->name);
		free(d->path);
		free(d->q);
	}
	vgi_grab_free(e->grab);
	if (e->hook_pidfd >= 0)
		close(e->hook_pidfd);	/* a running hook goes on by itself */
	if (e->inofd >= 0)
		close(e->inofd);
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->hook);
	free(e->dir);
	free(e);
}

/* Open d->path; with check, it must be the same device as before. Then tell the state machine. */
static int open_dev(struct vgi_evdev *e, unsigned id, bool check)
{
	struct edev *d = &e->devs[id];
	uint8_t keys[VGI_GRAB_KEY_CNT / 8] = { 0 }, leds[2] = { 0 };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = id };
	int fd, ret;

	fd = open(d->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(d->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = libevdev_new_from_fd(fd, &d->dev);
	if (ret < 0) {
		close(fd);
		d->dev = NULL;
		return ret;
	}
	if (check && d->id_name[0] && (strcmp(d->id_name, libevdev_get_name(d->dev) ? libevdev_get_name(d->dev) : "") ||
		      d->bustype != libevdev_get_id_bustype(d->dev) || d->vendor != libevdev_get_id_vendor(d->dev) ||
		      d->product != libevdev_get_id_product(d->dev))) {
		vgi_warn("evdev: %s is now \"%s\", not \"%s\": not taken", d->path, libevdev_get_name(d->dev),
			 d->id_name);
		libevdev_free(d->dev);
		d->dev = NULL;
		close(fd);
		return -ENODEV;
	}
	snprintf(d->id_name, sizeof(d->id_name), "%s", libevdev_get_name(d->dev) ? libevdev_get_name(d->dev) : "");
	d->bustype = (uint16_t)libevdev_get_id_bustype(d->dev);
	d->vendor = (uint16_t)libevdev_get_id_vendor(d->dev);
	d->product = (uint16_t)libevdev_get_id_product(d->dev);
	d->fd = fd;
	d->qhead = d->qn = 0;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		close_dev(e, d);
		return ret;
	}
	for (unsigned c = 0; c < VGI_GRAB_KEY_CNT; c++) {
		if (libevdev_get_event_value(d->dev, EV_KEY, c))
			keys[c / 8] |= (uint8_t)(1u << (c % 8));
	}
	for (unsigned c = 0; c < VGI_GRAB_LED_CNT; c++) {
		if (libevdev_get_event_value(d->dev, EV_LED, c))
			leds[c / 8] |= (uint8_t)(1u << (c % 8));
	}
	vgi_info("evdev: %s: \"%s\" opened", d->path, d->id_name);
	if (e->ops->online_changed)
		e->ops->online_changed(e->opaque, id, true);
	vgi_grab_device_online(e->grab, id, keys, leds);
	return 0;
}

int vgi_evdev_add(struct vgi_evdev *e, const char *name)
{
	struct edev *d;
	int id, ret;

	if (e->n >= VGI_GRAB_MAX_DEVICES)
		return -ENOSPC;
	d = &e->devs[e->n];
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->name = strdup(name);
	d->path = resolve(e, name);
	d->q = malloc(QMAX * sizeof(*d->q));
	if (!d->name || !d->path || !d->q) {
		free(d->name);
		free(d->path);
		free(d->q);
		return -ENOMEM;
	}
	id = vgi_grab_add_device(e->grab);
	if (id != (int)e->n) {
		free(d->name);
		free(d->path);
		return id < 0 ? id : -EIO;
	}
	e->n++;
	/* on failure the slot stays, offline: the device is taken when it appears */
	ret = open_dev(e, (unsigned)id, false);
	if (ret < 0) {
		vgi_error("evdev: %s: %s", d->path, strerror(-ret));
		return ret;
	}
	return id;
}

unsigned vgi_evdev_count(const struct vgi_evdev *e)
{
	return e->n;
}

const char *vgi_evdev_path(const struct vgi_evdev *e, unsigned dev)
{
	return dev < e->n ? e->devs[dev].path : NULL;
}

bool vgi_evdev_is_grabbed(const struct vgi_evdev *e, unsigned dev)
{
	return vgi_grab_is_grabbed(e->grab, dev);
}

bool vgi_evdev_is_online(const struct vgi_evdev *e, unsigned dev)
{
	return dev < e->n && e->devs[dev].dev;
}

int vgi_evdev_describe(struct vgi_evdev *e, unsigned dev, struct vgi_input_desc *desc)
{
	struct libevdev *ld;

	if (dev >= e->n)
		return -EINVAL;
	ld = e->devs[dev].dev;
	if (!ld)
		return -ENODEV;
	memset(desc, 0, sizeof(*desc));
	snprintf(desc->name, sizeof(desc->name), "%s", libevdev_get_name(ld) ? libevdev_get_name(ld) : "");
	snprintf(desc->serial, sizeof(desc->serial), "%s", libevdev_get_uniq(ld) ? libevdev_get_uniq(ld) : "");
	desc->bustype = (uint16_t)libevdev_get_id_bustype(ld);
	desc->vendor = (uint16_t)libevdev_get_id_vendor(ld);
	desc->product = (uint16_t)libevdev_get_id_product(ld);
	desc->version = (uint16_t)libevdev_get_id_version(ld);
	for (unsigned p = 0; p < VGI_INPUT_BITMAP_BYTES * 8 && p <= INPUT_PROP_MAX; p++) {
		if (libevdev_has_property(ld, p))
			desc->props[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	for (unsigned t = 1; t < VGI_INPUT_EV_CNT; t++) {
		int max = libevdev_event_type_get_max(t);

		if (!libevdev_has_event_type(ld, t) || max < 0)
			continue;
		if (t == EV_REP) {
			vgi_input_desc_set(desc, EV_REP, REP_DELAY);
			vgi_input_desc_set(desc, EV_REP, REP_PERIOD);
			continue;
		}
		for (unsigned c = 0; c <= (unsigned)max; c++) {
			if (libevdev_has_event_code(ld, t, c))
				vgi_input_desc_set(desc, t, c);
		}
	}
	for (unsigned c = 0; c < VGI_INPUT_ABS_CNT; c++) {
		const struct input_absinfo *a = libevdev_get_abs_info(ld, c);

		if (a && libevdev_has_event_code(ld, EV_ABS, c))
			desc->abs[c] = (struct vgi_input_absinfo){ a->minimum, a->maximum, a->fuzz, a->flat,
								   a->resolution, a->value };
	}
	return 0;
}

static void lost(struct vgi_evdev *e, unsigned id, int why)
{
	struct edev *d = &e->devs[id];

	vgi_warn("evdev: %s vanished (%s)%s", d->path, strerror(why),
		 e->wd_dir >= 0 ? ", waiting for it to come back" : "");
	close_dev(e, d);
	d->qn = 0;	/* a frame it never finished */
	vgi_grab_device_offline(e->grab, id);
	if (e->ops->online_changed)
		e->ops->online_changed(e->opaque, id, false);
}

static void feed(struct vgi_evdev *e, unsigned id, const struct input_event *ie)
{
	struct vgi_input_event ev = { ie->type, ie->code, ie->value };

	vgi_grab_event(e->grab, id, &ev);
}

static struct input_event *qat(struct edev *d, unsigned i)
{
	return &d->q[(d->qhead + i) % QMAX];
}

/* Read what the device has into its queue (until EAGAIN or the queue is full). */
static void read_dev(struct vgi_evdev *e, unsigned id)
{
	struct edev *d = &e->devs[id];

	while (d->dev && d->qn < QMAX) {
		struct input_event ie;
		int rc = libevdev_next_event(d->dev, LIBEVDEV_READ_FLAG_NORMAL, &ie);

		if (rc == LIBEVDEV_READ_STATUS_SUCCESS) {
			*qat(d, d->qn++) = ie;
		} else if (rc == LIBEVDEV_READ_STATUS_SYNC) {
			/* SYN_DROPPED: the state deltas libevdev computed, then carry on */
			vgi_info("evdev: %s: events dropped by the kernel, resyncing", d->path);
			do {
				rc = libevdev_next_event(d->dev, LIBEVDEV_READ_FLAG_SYNC, &ie);
				if (rc == LIBEVDEV_READ_STATUS_SYNC) {
					if (d->qn == QMAX)
						d->qhead = (d->qhead + 1) % QMAX, d->qn--;	/* oldest goes */
					*qat(d, d->qn++) = ie;
				}
			} while (rc == LIBEVDEV_READ_STATUS_SYNC);
			if (rc < 0 && rc != -EAGAIN) {
				lost(e, id, -rc);
				return;
			}
		} else if (rc == -EAGAIN) {
			return;
		} else {
			lost(e, id, rc < 0 ? -rc : EIO);
			return;
		}
	}
}

/* Events of a complete frame at the head of d's queue (0: none complete). */
static unsigned frame_len(struct edev *d)
{
	for (unsigned i = 0; i < d->qn; i++) {
		const struct input_event *ie = qat(d, i);

		if (ie->type == EV_SYN && ie->code == SYN_REPORT)
			return i + 1;
	}
	/* a full queue without a frame end: hand it over as it is */
	return d->qn == QMAX ? QMAX : 0;
}

static bool earlier(const struct input_event *a, const struct input_event *b)
{
	return a->input_event_sec < b->input_event_sec ||
	       (a->input_event_sec == b->input_event_sec && a->input_event_usec < b->input_event_usec);
}

/* Hand complete frames to the state machine, oldest first over all devices (key state is global). */
static void handle_frames(struct vgi_evdev *e)
{
	for (;;) {
		struct edev *best = NULL;
		unsigned best_id = 0, best_len = 0;

		for (unsigned i = 0; i < e->n; i++) {
			struct edev *d = &e->devs[i];
			unsigned len = d->dev ? frame_len(d) : 0;

			if (len && (!best || earlier(qat(d, 0), qat(best, 0)))) {
				best = d;
				best_id = i;
				best_len = len;
			}
		}
		if (!best)
			return;
		for (unsigned k = 0; k < best_len && best->dev; k++) {
			struct input_event ie = *qat(best, 0);

			best->qhead = (best->qhead + 1) % QMAX;
			best->qn--;
			feed(e, best_id, &ie);
		}
	}
}

static void handle_inotify(struct vgi_evdev *e)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	for (;;) {
		ssize_t n = read(e->inofd, buf, sizeof(buf));

		if (n <= 0)
			break;
		any = true;
	}
	if (!any)
		return;
	watch_dirs(e);	/* by-id/by-path may have appeared */
	for (unsigned i = 0; i < e->n; i++) {
		if (!e->devs[i].dev) {
			int ret = open_dev(e, i, true);

			if (ret < 0 && ret != -ENOENT)
				vgi_debug("evdev: reopen %s: %s", e->devs[i].path, strerror(-ret));
		}
	}
}

int vgi_evdev_get_fd(const struct vgi_evdev *e)
{
	return e->epfd;
}

void vgi_evdev_dispatch(struct vgi_evdev *e)
{
	struct epoll_event evs[16];
	int n = epoll_wait(e->epfd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32;

		if (tag == TAG_INOTIFY)
			handle_inotify(e);
		else if (tag == TAG_HOOK)
			hook_done(e);
		else if (tag < e->n)
			read_dev(e, tag);
	}
	/* libevdev may hold events it has read already */
	for (unsigned i = 0; i < e->n; i++) {
		if (e->devs[i].dev && e->devs[i].qn < QMAX && libevdev_has_event_pending(e->devs[i].dev) > 0)
			read_dev(e, i);
	}
	handle_frames(e);
}

void vgi_evdev_guest_led(struct vgi_evdev *e, unsigned code, bool on)
{
	vgi_grab_guest_led(e->grab, code, on);
}

void vgi_evdev_request_toggle(struct vgi_evdev *e, unsigned dev)
{
	vgi_grab_request_toggle(e->grab, dev);
}
