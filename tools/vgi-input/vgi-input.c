// SPDX-License-Identifier: MIT
/*
 * vgi-input: input sources (host evdev devices with grab toggling, evemu
 * recordings) to input sinks (a virtio-input device over vhost-user for
 * QEMU's vhost-user-input-pci, a uinput device, an evtest-like dump).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/input.h>

#include "vgi-config.h"

#include <vgi/evemu.h>
#include <vgi/grab.h>
#include <vgi/log.h>
#include <vgi/vhost-user.h>
#include <vgi/virtio-input.h>

#ifdef VGI_HAVE_EVDEV
#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <vgi/evdev.h>
#endif

#define MAX_SOURCES VGI_GRAB_MAX_DEVICES
#define TAG_EVDEV 1
#define TAG_VHOST 2
#define TAG_STDIN 3
#define TAG_TIMER 4
#define TAG_UINPUT 5
#define TAG_SIGNAL 6
#define REPLAY_PAUSE_BACKLOG 512	/* replay waits while this many events wait for guest buffers */

enum output { OUT_DUMP, OUT_UINPUT, OUT_VHOST };

struct frame {
	struct vgi_input_event ev[VGI_INPUT_MAX_FRAME];
	unsigned n;
	bool overflow;
};

struct app {
	/* options */
	const char *evdev_paths[MAX_SOURCES];
	unsigned nevdev;
	const char *replay_path;
	bool replay_stdin, replay_fast, replay_wait;
	double replay_speed;
	enum output output;
	const char *socket_path;
	int vhost_fd;
	const char *device_kind;	/* keyboard, mouse, tablet, passthrough */
	struct vgi_grab_config grab;
	const char *toggle_hook;

	/* state */
	int epfd;
	struct vgi_input_desc desc;
	struct frame frames[MAX_SOURCES];
	struct timespec t0;
	FILE *out;

	struct vgi_virtio_input *vin;
	struct vgi_vhost_user *vu;
	bool was_connected;

	struct vgi_evemu *rec;
	size_t replay_pos;
	bool replaying;
	struct timespec replay_t0;
	int timerfd;
	int sigfd;
	unsigned replays_left;		/* stdin lines not yet served */

#ifdef VGI_HAVE_EVDEV
	struct vgi_evdev *evdev;
	struct libevdev *uidev_desc;
	struct libevdev_uinput *uidev;
#endif
	uint32_t guest_leds;
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static const char *type_name(unsigned type)
{
#ifdef VGI_HAVE_EVDEV
	const char *n = libevdev_event_type_get_name(type);

	if (n)
		return n;
#endif
	(void)type;
	return "?";
}

static const char *code_name(unsigned type, unsigned code)
{
#ifdef VGI_HAVE_EVDEV
	const char *n = libevdev_event_code_get_name(type, code);

	if (n)
		return n;
#endif
	(void)type;
	(void)code;
	return "?";
}

static double now_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- sinks ---- */

static void dump_desc(struct app *a)
{
	const struct vgi_input_desc *d = &a->desc;

	fprintf(a->out, "Input device ID: bus 0x%x vendor 0x%x product 0x%x version 0x%x\n", d->bustype,
		d->vendor, d->product, d->version);
	fprintf(a->out, "Input device name: \"%s\"\nSupported events:\n", d->name);
	for (unsigned t = 1; t < VGI_INPUT_EV_CNT; t++) {
		if (!vgi_input_desc_has_type(d, t))
			continue;
		fprintf(a->out, "  Event type %u (%s)\n", t, type_name(t));
		for (unsigned c = 0; c < VGI_INPUT_BITMAP_BYTES * 8; c++) {
			if (!vgi_input_desc_has(d, t, c))
				continue;
			fprintf(a->out, "    Event code %u (%s)\n", c, code_name(t, c));
			if (t == EV_ABS && c < VGI_INPUT_ABS_CNT) {
				const struct vgi_input_absinfo *ai = &d->abs[c];

				fprintf(a->out, "      Value %6d\n      Min   %6d\n      Max   %6d\n", ai->value, ai->min,
					ai->max);
				if (ai->fuzz)
					fprintf(a->out, "      Fuzz  %6d\n", ai->fuzz);
				if (ai->flat)
					fprintf(a->out, "      Flat  %6d\n", ai->flat);
				if (ai->res)
					fprintf(a->out, "      Resolution %6d\n", ai->res);
			}
		}
	}
	fprintf(a->out, "Properties:\n");
	for (unsigned p = 0; p < VGI_INPUT_BITMAP_BYTES * 8; p++) {
		if (d->props[p / 8] & (1u << (p % 8)))
			fprintf(a->out, "  Property type %u\n", p);
	}
	fprintf(a->out, "Testing ... (interrupt to exit)\n");
	fflush(a->out);
}

static void dump_event(struct app *a, double t, const struct vgi_input_event *ev)
{
	long sec = (long)t;
	long usec = (long)((t - (double)sec) * 1e6 + 0.5);

	if (usec >= 1000000) {
		sec++;
		usec -= 1000000;
	}
	if (ev->type == EV_SYN && ev->code == SYN_REPORT)
		fprintf(a->out, "Event: time %ld.%06ld, -------------- SYN_REPORT ------------\n", sec, usec);
	else if (ev->type == EV_MSC && (ev->code == MSC_RAW || ev->code == MSC_SCAN))
		fprintf(a->out, "Event: time %ld.%06ld, type %u (%s), code %u (%s), value %x\n", sec, usec, ev->type,
			type_name(ev->type), ev->code, code_name(ev->type, ev->code), (unsigned)ev->value);
	else
		fprintf(a->out, "Event: time %ld.%06ld, type %u (%s), code %u (%s), value %d\n", sec, usec, ev->type,
			type_name(ev->type), ev->code, code_name(ev->type, ev->code), ev->value);
}

/* A whole frame (ending with SYN_REPORT) goes to the sink. t: its time for the dump. */
static void sink_frame(struct app *a, const struct frame *f, double t)
{
	switch (a->output) {
	case OUT_DUMP:
		for (unsigned i = 0; i < f->n; i++)
			dump_event(a, t, &f->ev[i]);
		fflush(a->out);
		break;
	case OUT_VHOST:
		for (unsigned i = 0; i < f->n; i++)
			vgi_virtio_input_send(a->vin, &f->ev[i]);
		break;
	case OUT_UINPUT:
#ifdef VGI_HAVE_EVDEV
		for (unsigned i = 0; i < f->n; i++) {
			int ret = libevdev_uinput_write_event(a->uidev, f->ev[i].type, f->ev[i].code, f->ev[i].value);

			if (ret < 0) {
				vgi_warn("uinput: write: %s", strerror(-ret));
				break;
			}
		}
#endif
		break;
	}
}

/* Events from source src collect into a frame until SYN_REPORT. */
static void source_event(struct app *a, unsigned src, const struct vgi_input_event *ev, double t)
{
	struct frame *f = &a->frames[src];

	if (f->n >= VGI_INPUT_MAX_FRAME) {
		f->overflow = true;
		f->n = 0;
	}
	f->ev[f->n++] = *ev;
	if (ev->type == EV_SYN && ev->code == SYN_REPORT) {
		if (f->overflow)
			vgi_warn("source %u: frame longer than %u events dropped", src, VGI_INPUT_MAX_FRAME);
		else
			sink_frame(a, f, t);
		f->n = 0;
		f->overflow = false;
	}
}

static void guest_led(struct app *a, unsigned code, bool on)
{
	uint32_t m = code < 32 ? 1u << code : 0;
	bool was = a->guest_leds & m;

	if (!m || was == on)
		return;
	a->guest_leds = on ? a->guest_leds | m : a->guest_leds & ~m;
	/* a line per change: tests and scripts watch for it */
	printf("guest LED %s %d\n", code_name(EV_LED, code), on);
	fflush(stdout);
#ifdef VGI_HAVE_EVDEV
	if (a->evdev)
		vgi_evdev_guest_led(a->evdev, code, on);
#endif
}

static void on_status(void *opaque, const struct vgi_input_event *ev)
{
	if (ev->type == EV_LED)
		guest_led(opaque, ev->code, ev->value != 0);
}

/* ---- evdev source ---- */

#ifdef VGI_HAVE_EVDEV
static void on_evdev_event(void *opaque, unsigned dev, const struct vgi_input_event *ev)
{
	struct app *a = opaque;

	source_event(a, dev, ev, now_since(&a->t0));
}

static void on_grab_changed(void *opaque, unsigned dev, bool grabbed)
{
	struct app *a = opaque;

	if (a->output == OUT_DUMP) {
		fprintf(a->out, "# device %u %s\n", dev, grabbed ? "grabbed" : "released");
		fflush(a->out);
	}
}

static void on_online_changed(void *opaque, unsigned dev, bool online)
{
	struct app *a = opaque;

	a->frames[dev].n = 0;
	if (a->output == OUT_DUMP) {
		fprintf(a->out, "# device %u %s\n", dev, online ? "back" : "gone");
		fflush(a->out);
	}
}

static const struct vgi_evdev_ops evdev_ops = {
	.event = on_evdev_event,
	.grab_changed = on_grab_changed,
	.online_changed = on_online_changed,
};

/* Union of the sources' descriptions (name and ids from the first). */
static int describe_sources(struct app *a)
{
	for (unsigned i = 0; i < vgi_evdev_count(a->evdev); i++) {
		struct vgi_input_desc d;
		int ret = vgi_evdev_describe(a->evdev, i, &d);

		if (ret < 0)
			return ret;
		if (i == 0) {
			a->desc = d;
			continue;
		}
		for (unsigned b = 0; b < VGI_INPUT_BITMAP_BYTES; b++)
			a->desc.props[b] |= d.props[b];
		for (unsigned t = 0; t < VGI_INPUT_EV_CNT; t++)
			for (unsigned b = 0; b < VGI_INPUT_BITMAP_BYTES; b++)
				a->desc.bits[t][b] |= d.bits[t][b];
		for (unsigned c = 0; c < VGI_INPUT_ABS_CNT; c++)
			if (vgi_input_desc_has(&d, EV_ABS, c))
				a->desc.abs[c] = d.abs[c];
	}
	return 0;
}

static int uinput_open(struct app *a)
{
	const struct vgi_input_desc *d = &a->desc;
	struct libevdev *dev = libevdev_new();
	int ret;

	if (!dev)
		return -ENOMEM;
	libevdev_set_name(dev, d->name[0] ? d->name : "vgi-input");
	libevdev_set_id_bustype(dev, d->bustype ? d->bustype : BUS_VIRTUAL);
	libevdev_set_id_vendor(dev, d->vendor);
	libevdev_set_id_product(dev, d->product);
	libevdev_set_id_version(dev, d->version);
	for (unsigned p = 0; p <= INPUT_PROP_MAX; p++) {
		if (d->props[p / 8] & (1u << (p % 8)))
			libevdev_enable_property(dev, p);
	}
	for (unsigned t = 1; t < VGI_INPUT_EV_CNT; t++) {
		int max = libevdev_event_type_get_max(t);

		if (!vgi_input_desc_has_type(d, t) || max < 0)
			continue;
		if (t == EV_REP) {
			int delay = 250, period = 33;

			libevdev_enable_event_code(dev, EV_REP, REP_DELAY, &delay);
			libevdev_enable_event_code(dev, EV_REP, REP_PERIOD, &period);
			continue;
		}
		for (unsigned c = 0; c <= (unsigned)max; c++) {
			if (!vgi_input_desc_has(d, t, c))
				continue;
			if (t == EV_ABS && c < VGI_INPUT_ABS_CNT) {
				struct input_absinfo ai = { .value = d->abs[c].value, .minimum = d->abs[c].min,
							    .maximum = d->abs[c].max, .fuzz = d->abs[c].fuzz,
							    .flat = d->abs[c].flat, .resolution = d->abs[c].res };

				libevdev_enable_event_code(dev, t, c, &ai);
			} else {
				libevdev_enable_event_code(dev, t, c, NULL);
			}
		}
	}
	ret = libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &a->uidev);
	if (ret < 0) {
		libevdev_free(dev);
		return ret;
	}
	a->uidev_desc = dev;
	printf("uinput device %s\n", libevdev_uinput_get_devnode(a->uidev) ? libevdev_uinput_get_devnode(a->uidev)
									    : libevdev_uinput_get_syspath(a->uidev));
	fflush(stdout);
	return 0;
}

/* LEDs set on our uinput device by its readers (e.g. the console) play the guest's part. */
static void uinput_read(struct app *a)
{
	struct input_event ie;
	int fd = libevdev_uinput_get_fd(a->uidev);

	while (read(fd, &ie, sizeof(ie)) == (ssize_t)sizeof(ie)) {
		if (ie.type == EV_LED)
			guest_led(a, ie.code, ie.value != 0);
	}
}
#endif

/* ---- replay source ---- */

static void replay_arm(struct app *a, double delay)
{
	struct itimerspec its = { 0 };

	if (delay < 1e-6)
		delay = 1e-6;
	its.it_value.tv_sec = (time_t)delay;
	its.it_value.tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9);
	timerfd_settime(a->timerfd, 0, &its, NULL);
}

static void replay_start(struct app *a)
{
	if (!a->rec || a->replaying)
		return;
	a->replaying = true;
	a->replay_pos = 0;
	clock_gettime(CLOCK_MONOTONIC, &a->replay_t0);
	replay_arm(a, 0);
}

static bool sink_busy(struct app *a)
{
	struct vgi_virtio_input_stats st;

	if (a->output != OUT_VHOST)
		return false;
	vgi_virtio_input_get_stats(a->vin, &st);
	return st.backlog >= REPLAY_PAUSE_BACKLOG;
}

/* Emit every event that is due; re-arm for the next. Returns true when the recording is done. */
static bool replay_step(struct app *a)
{
	const struct vgi_evemu *r = a->rec;
	uint64_t base = r->n ? r->events[0].usec : 0;
	double t = now_since(&a->replay_t0);

	while (a->replay_pos < r->n) {
		const struct vgi_evemu_event *e = &r->events[a->replay_pos];
		double due = a->replay_fast ? 0 : (double)(e->usec - base) / 1e6 / a->replay_speed;

		if (due > t) {
			replay_arm(a, due - t);
			return false;
		}
		if (sink_busy(a)) {
			replay_arm(a, 0.001);
			return false;
		}
		source_event(a, 0, &e->ev, a->output == OUT_DUMP ? (double)e->usec / 1e6 : t);
		a->replay_pos++;
	}
	/* a recording that does not end its last frame: end it */
	if (a->frames[0].n) {
		struct vgi_input_event syn = { EV_SYN, SYN_REPORT, 0 };

		source_event(a, 0, &syn, t);
	}
	a->replaying = false;
	printf("# replay done: %zu events\n", r->n);
	fflush(stdout);
	if (a->replays_left) {
		a->replays_left--;
		replay_start(a);
	}
	return true;
}

/* ---- vhost-user ---- */

static void on_disconnected(void *opaque, int reason)
{
	struct app *a = opaque;

	vgi_info("vhost-user: front-end gone (%s)", reason ? strerror(-reason > 0 ? -reason : reason) : "closed");
	quit = 1;
	(void)a;
}

static const struct vgi_vhost_user_ops vu_ops = { .disconnected = on_disconnected };

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vgi-input [SOURCE...] [--output dump|uinput|vhost-user] [OPTIONS]\n"
		"Feed host input devices (evdev) or an evemu recording to a virtio-input device\n"
		"(a vhost-user back-end for QEMU's vhost-user-input-pci), a host uinput device\n"
		"or a text dump.\n"
		"\n"
		"Sources:\n"
		"  --evdev PATH|NAME     host evdev device (repeatable; a /dev/input/by-id or by-path name works)\n"
		"  --evdev-path PATH     the same (QEMU's vhost-user-input option name)\n"
		"  --replay FILE         an evemu recording (its description configures the device)\n"
		"  --replay-on-stdin     replay once per line read on stdin (as evemu-play does)\n"
		"  --replay-wait         replay on each SIGUSR1 only (not at once)\n"
		"  --replay-fast         ignore the recording's timing\n"
		"  --replay-speed X      play X times faster (default 1)\n"
		"Grab (evdev sources):\n"
		"  --grab-toggle COMBO   ctrl-ctrl (default), alt-alt, shift-shift, meta-meta, scrolllock, ctrl-scrolllock\n"
		"  --grab-all            the combination flips every device together\n"
		"  --repeat              pass autorepeat events on\n"
		"  --no-grab             start released (default: grabbed)\n"
		"  --toggle-hook CMD     run `sh -c CMD vgi-input-hook grab|release` on every toggle (VGI_GRAB=1|0)\n"
		"Sinks:\n"
		"  --output dump         evtest-like text on stdout (default)\n"
		"  --output uinput       a host virtual device (/dev/uinput)\n"
		"  --output vhost-user   a virtio-input device for QEMU's vhost-user-input-pci:\n"
		"  --socket-path PATH    listen there\n"
		"  --fd N                use this connected socket\n"
		"  --device KIND         passthrough (default with a source description), keyboard, mouse, tablet\n"
		"  --print-capabilities  the vhost-user back-end capabilities as JSON\n"
		"Other:\n"
		"  -v, --verbose         debug log\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n");
}

enum {
	OPT_EVDEV = 256, OPT_REPLAY, OPT_REPLAY_STDIN, OPT_REPLAY_WAIT, OPT_REPLAY_FAST, OPT_REPLAY_SPEED, OPT_TOGGLE, OPT_GRAB_ALL,
	OPT_REPEAT, OPT_NO_GRAB, OPT_HOOK, OPT_OUTPUT, OPT_SOCKET, OPT_FD, OPT_DEVICE, OPT_CAPS,
};

static const struct option long_opts[] = {
	{ "evdev", required_argument, NULL, OPT_EVDEV },
	{ "evdev-path", required_argument, NULL, OPT_EVDEV },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "replay-on-stdin", no_argument, NULL, OPT_REPLAY_STDIN },
	{ "replay-wait", no_argument, NULL, OPT_REPLAY_WAIT },
	{ "replay-fast", no_argument, NULL, OPT_REPLAY_FAST },
	{ "replay-speed", required_argument, NULL, OPT_REPLAY_SPEED },
	{ "grab-toggle", required_argument, NULL, OPT_TOGGLE },
	{ "grab-all", no_argument, NULL, OPT_GRAB_ALL },
	{ "repeat", no_argument, NULL, OPT_REPEAT },
	{ "no-grab", no_argument, NULL, OPT_NO_GRAB },
	{ "toggle-hook", required_argument, NULL, OPT_HOOK },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "socket-path", required_argument, NULL, OPT_SOCKET },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "print-capabilities", no_argument, NULL, OPT_CAPS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(struct app *a, int argc, char **argv)
{
	int c;
	char *end;

	a->grab.start_grabbed = true;
	a->replay_speed = 1.0;
	a->vhost_fd = -1;
	while ((c = getopt_long(argc, argv, "vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_EVDEV:
			if (a->nevdev >= MAX_SOURCES) {
				fprintf(stderr, "vgi-input: too many --evdev (at most %d)\n", MAX_SOURCES);
				return -1;
			}
			a->evdev_paths[a->nevdev++] = optarg;
			break;
		case OPT_REPLAY:
			a->replay_path = optarg;
			break;
		case OPT_REPLAY_STDIN:
			a->replay_stdin = true;
			break;
		case OPT_REPLAY_WAIT:
			a->replay_wait = true;
			break;
		case OPT_REPLAY_FAST:
			a->replay_fast = true;
			break;
		case OPT_REPLAY_SPEED:
			a->replay_speed = strtod(optarg, &end);
			if (*end || !(a->replay_speed > 0 && a->replay_speed < 1e6)) {
				fprintf(stderr, "vgi-input: bad --replay-speed %s\n", optarg);
				return -1;
			}
			break;
		case OPT_TOGGLE:
			if (vgi_grab_toggle_parse(optarg, &a->grab.toggle) < 0) {
				fprintf(stderr, "vgi-input: unknown --grab-toggle %s\n", optarg);
				return -1;
			}
			break;
		case OPT_GRAB_ALL:
			a->grab.grab_all = true;
			break;
		case OPT_REPEAT:
			a->grab.repeat = true;
			break;
		case OPT_NO_GRAB:
			a->grab.start_grabbed = false;
			break;
		case OPT_HOOK:
			a->toggle_hook = optarg;
			break;
		case OPT_OUTPUT:
			if (strcmp(optarg, "dump") == 0)
				a->output = OUT_DUMP;
			else if (strcmp(optarg, "uinput") == 0)
				a->output = OUT_UINPUT;
			else if (strcmp(optarg, "vhost-user") == 0)
				a->output = OUT_VHOST;
			else {
				fprintf(stderr, "vgi-input: unknown --output %s\n", optarg);
				return -1;
			}
			break;
		case OPT_SOCKET:
			a->socket_path = optarg;
			a->output = OUT_VHOST;
			break;
		case OPT_FD: {
			long v = strtol(optarg, &end, 10);

			if (*end || v < 0 || v > INT_MAX) {
				fprintf(stderr, "vgi-input: bad --fd %s\n", optarg);
				return -1;
			}
			a->vhost_fd = (int)v;
			a->output = OUT_VHOST;
			break;
		}
		case OPT_DEVICE:
			if (strcmp(optarg, "passthrough") && strcmp(optarg, "keyboard") && strcmp(optarg, "mouse") &&
			    strcmp(optarg, "tablet")) {
				fprintf(stderr, "vgi-input: unknown --device %s\n", optarg);
				return -1;
			}
			a->device_kind = optarg;
			break;
		case OPT_CAPS:
			printf("{\n  \"type\": \"input\",\n  \"features\": [\n    \"evdev-path\",\n    \"no-grab\"\n  ]\n}\n");
			exit(0);
		case 'v':
			vgi_log_set_level(VGI_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("vgi-input %s\n", VGI_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vgi-input: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (!a->nevdev && !a->replay_path) {
		fprintf(stderr, "vgi-input: no source: give --evdev or --replay\n");
		return -1;
	}
	if (a->nevdev && a->replay_path) {
		fprintf(stderr, "vgi-input: --evdev and --replay do not mix\n");
		return -1;
	}
	if (a->output == OUT_VHOST && !a->socket_path && a->vhost_fd < 0) {
		fprintf(stderr, "vgi-input: --output vhost-user needs --socket-path or --fd\n");
		return -1;
	}
#ifndef VGI_HAVE_EVDEV
	if (a->nevdev || a->output == OUT_UINPUT) {
		fprintf(stderr, "vgi-input: built without libevdev: no --evdev, no --output uinput\n");
		return -1;
	}
#endif
	return 0;
}

static int epoll_add(struct app *a, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int setup(struct app *a)
{
	int ret;

	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->epfd < 0 || a->timerfd < 0 || epoll_add(a, a->timerfd, TAG_TIMER) < 0)
		return -errno;

	/* the source, and its description */
	if (a->replay_path) {
		ret = vgi_evemu_load(a->replay_path, &a->rec);
		if (ret < 0) {
			fprintf(stderr, "vgi-input: %s: %s\n", a->replay_path, strerror(-ret));
			return ret;
		}
		if (a->rec->has_desc)
			a->desc = a->rec->desc;
		else
			vgi_input_desc_keyboard(&a->desc);
	}
#ifdef VGI_HAVE_EVDEV
	if (a->nevdev) {
		struct vgi_evdev_config cfg = { .grab = a->grab, .toggle_hook = a->toggle_hook };

		a->evdev = vgi_evdev_new(&cfg, &evdev_ops, a);
		if (!a->evdev)
			return -EINVAL;
		for (unsigned i = 0; i < a->nevdev; i++) {
			ret = vgi_evdev_add(a->evdev, a->evdev_paths[i]);
			if (ret < 0) {
				fprintf(stderr, "vgi-input: %s: %s\n", a->evdev_paths[i], strerror(-ret));
				return ret;
			}
		}
		ret = describe_sources(a);
		if (ret < 0)
			return ret;
		if (epoll_add(a, vgi_evdev_get_fd(a->evdev), TAG_EVDEV) < 0)
			return -errno;
	}
#endif
	if (a->device_kind && strcmp(a->device_kind, "keyboard") == 0)
		vgi_input_desc_keyboard(&a->desc);
	else if (a->device_kind && strcmp(a->device_kind, "mouse") == 0)
		vgi_input_desc_mouse(&a->desc);
	else if (a->device_kind && strcmp(a->device_kind, "tablet") == 0)
		vgi_input_desc_tablet(&a->desc, 32768, 32768);

	/* the sink */
	switch (a->output) {
	case OUT_DUMP:
		dump_desc(a);
		break;
	case OUT_UINPUT:
#ifdef VGI_HAVE_EVDEV
		ret = uinput_open(a);
		if (ret < 0) {
			fprintf(stderr, "vgi-input: uinput: %s\n", strerror(-ret));
			return ret;
		}
		if (epoll_add(a, libevdev_uinput_get_fd(a->uidev), TAG_UINPUT) < 0)
			return -errno;
		fcntl(libevdev_uinput_get_fd(a->uidev), F_SETFL,
		      fcntl(libevdev_uinput_get_fd(a->uidev), F_GETFL) | O_NONBLOCK);
#endif
		break;
	case OUT_VHOST:
		a->vin = vgi_virtio_input_new(&a->desc);
		if (!a->vin)
			return -ENOMEM;
		vgi_virtio_input_set_status_cb(a->vin, on_status, a);
		a->vu = vgi_vhost_user_new(vgi_virtio_input_device(a->vin), &vu_ops, a);
		if (!a->vu)
			return -ENOMEM;
		ret = a->socket_path ? vgi_vhost_user_listen(a->vu, a->socket_path)
				     : vgi_vhost_user_set_connection(a->vu, a->vhost_fd);
		if (ret < 0) {
			fprintf(stderr, "vgi-input: vhost-user: %s\n", strerror(-ret));
			return ret;
		}
		if (epoll_add(a, vgi_vhost_user_get_fd(a->vu), TAG_VHOST) < 0)
			return -errno;
		break;
	}
	if (a->rec) {
		/* SIGUSR1: replay (again) */
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (a->sigfd < 0 || epoll_add(a, a->sigfd, TAG_SIGNAL) < 0)
			return -errno;
	}
	if (a->replay_stdin) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		if (epoll_add(a, 0, TAG_STDIN) < 0)
			return -errno;
	}
	return 0;
}

static void read_stdin(struct app *a)
{
	char buf[256];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (a->replaying)
					a->replays_left++;
				else
					replay_start(a);
			}
		}
	}
	if (n == 0) {
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, 0, NULL);
		if (!a->replaying)
			quit = 1;	/* stdin closed: nothing more will be asked */
		a->replay_stdin = false;
	}
}

static void teardown(struct app *a)
{
#ifdef VGI_HAVE_EVDEV
	vgi_evdev_free(a->evdev);
	if (a->uidev)
		libevdev_uinput_destroy(a->uidev);
	libevdev_free(a->uidev_desc);
#endif
	vgi_vhost_user_free(a->vu);
	vgi_virtio_input_free(a->vin);
	vgi_evemu_free(a->rec);
	if (a->timerfd >= 0)
		close(a->timerfd);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->epfd >= 0)
		close(a->epfd);
}

int main(int argc, char **argv)
{
	static struct app app;
	struct app *a = &app;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret;

	a->out = stdout;
	a->epfd = a->timerfd = a->sigfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &a->t0);
	if (parse_args(a, argc, argv) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	{
		/* a parent may have left them blocked */
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	ret = setup(a);
	if (ret < 0) {
		teardown(a);
		return 1;
	}
	/* replay without a trigger starts at once (vhost-user: frames wait for the guest's buffers) */
	if (a->rec && !a->replay_stdin && !a->replay_wait)
		replay_start(a);

	while (!quit) {
		struct epoll_event evs[8];
		int n = epoll_wait(a->epfd, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("vgi-input: epoll_wait");
			break;
		}
		for (int i = 0; i < n && !quit; i++) {
			switch (evs[i].data.u32) {
#ifdef VGI_HAVE_EVDEV
			case TAG_EVDEV:
				vgi_evdev_dispatch(a->evdev);
				break;
			case TAG_UINPUT:
				uinput_read(a);
				break;
#endif
			case TAG_VHOST:
				ret = vgi_vhost_user_dispatch(a->vu);
				if (vgi_vhost_user_connected(a->vu))
					a->was_connected = true;
				if (ret < 0 && a->vhost_fd >= 0)
					quit = 1;
				break;
			case TAG_STDIN:
				read_stdin(a);
				break;
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (a->replaying)
						a->replays_left++;
					else
						replay_start(a);
				}
				break;
			}
			case TAG_TIMER: {
				uint64_t exp;

				if (read(a->timerfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
					break;
				/* dump: done; uinput and vhost-user stay (readers may not have read it all yet) */
				if (a->replaying && replay_step(a) && !a->replaying && !a->replay_stdin &&
				    !a->replay_wait && a->output == OUT_DUMP)
					quit = 1;
				break;
			}
			default:
				break;
			}
		}
	}
	teardown(a);
	return 0;
}
