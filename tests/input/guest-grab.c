// SPDX-License-Identifier: MIT
/*
 * In-guest grab test (needs /dev/uinput: run inside a test guest; exits 77
 * elsewhere). Creates uinput keyboards and a mouse, runs vgi-input on them
 * with --output uinput (its virtual device is "the guest's" view), keeps
 * another reader open on the source devices ("the host's" view) and checks,
 * for every toggle combination with and without --grab-all:
 *  - grabbed: the guest view gets everything, the host view nothing;
 *  - a key held on the keyboard and a button held on the mouse delay the
 *    flip until released; no key is left down on either side;
 *  - released: the host view gets everything, the guest view nothing (the
 *    mouse stays grabbed without --grab-all);
 *  - the combination grabs again; the toggle hook runs each time with the state;
 *  - LEDs: the guest's caps lock shows on the keyboard while grabbed, the
 *    host's state comes back on release;
 *  - unplug with a key held (the guest gets its release) and replug under a
 *    /dev/input/by-id name: grabbed again;
 *  - on exit every device is released.
 * Usage: guest-grab VGI_INPUT_BINARY OUT_DIR [COMBO...]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <linux/input.h>
#include <linux/kd.h>

#define T_EVENT_MS 4000	/* wait for an expected event (TCG guests are slow) */
#define T_IDLE_MS 400	/* nothing more comes in this long: nothing came */

static const char *vgi_input_bin, *out_dir;
static int failures;
static char cfg_name[64];

#define CHECK(cond, ...)                                                                                        \
	do {                                                                                                     \
		if (!(cond)) {                                                                                   \
			printf("FAIL [%s] %s:%d: %s: ", cfg_name, __FILE__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                                     \
			printf("\n");                                                                            \
			fflush(stdout);                                                                          \
			failures++;                                                                              \
			return -1;                                                                               \
		}                                                                                                \
	} while (0)

static long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- source devices (uinput) ---- */

struct src {
	struct libevdev *dev;
	struct libevdev_uinput *ui;
	char node[64];
	int host_fd;	/* "the host": another reader of the source node */
};

static int src_create(struct src *s, bool keyboard)
{
	s->dev = libevdev_new();
	if (keyboard) {
		libevdev_set_name(s->dev, "vgi test source keyboard");
		libevdev_set_id_product(s->dev, 0x4b);
		for (unsigned c = KEY_ESC; c <= KEY_MICMUTE; c++)
			libevdev_enable_event_code(s->dev, EV_KEY, c, NULL);
		libevdev_enable_event_code(s->dev, EV_LED, LED_NUML, NULL);
		libevdev_enable_event_code(s->dev, EV_LED, LED_CAPSL, NULL);
		libevdev_enable_event_code(s->dev, EV_LED, LED_SCROLLL, NULL);
	} else {
		libevdev_set_name(s->dev, "vgi test source mouse");
		libevdev_set_id_product(s->dev, 0x4d);
		libevdev_enable_event_code(s->dev, EV_KEY, BTN_LEFT, NULL);
		libevdev_enable_event_code(s->dev, EV_KEY, BTN_RIGHT, NULL);
		libevdev_enable_event_code(s->dev, EV_REL, REL_X, NULL);
		libevdev_enable_event_code(s->dev, EV_REL, REL_Y, NULL);
	}
	libevdev_set_id_bustype(s->dev, BUS_USB);
	libevdev_set_id_vendor(s->dev, 0x1d6b);
	if (libevdev_uinput_create_from_device(s->dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &s->ui) < 0)
		return -1;
	snprintf(s->node, sizeof(s->node), "%s", libevdev_uinput_get_devnode(s->ui));
	fcntl(libevdev_uinput_get_fd(s->ui), F_SETFL, O_NONBLOCK | O_RDWR);
	s->host_fd = open(s->node, O_RDONLY | O_NONBLOCK);
	return s->host_fd < 0 ? -1 : 0;
}

static void src_destroy(struct src *s)
{
	if (s->host_fd >= 0)
		close(s->host_fd);
	s->host_fd = -1;
	if (s->ui)
		libevdev_uinput_destroy(s->ui);
	s->ui = NULL;
	libevdev_free(s->dev);
	s->dev = NULL;
}

static void emit(struct src *s, unsigned type, unsigned code, int value)
{
	libevdev_uinput_write_event(s->ui, type, code, value);
	libevdev_uinput_write_event(s->ui, EV_SYN, SYN_REPORT, 0);
}

/* ---- event collection ---- */

struct evlist {
	struct input_event ev[512];
	unsigned n;
};

/* Read what fd gives until it is quiet for idle_ms (or until want events of interest came). */
static void collect(int fd, struct evlist *l, unsigned want, int idle_ms)
{
	long end = ms_now() + (want ? T_EVENT_MS : idle_ms);
	unsigned interesting = 0;

	l->n = 0;
	while (ms_now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct input_event ie;

		if (poll(&p, 1, (int)(end - ms_now())) <= 0)
			continue;
		while (read(fd, &ie, sizeof(ie)) == (ssize_t)sizeof(ie)) {
			if (ie.type == EV_SYN || ie.type == EV_MSC)
				continue;
			if (l->n < 512)
				l->ev[l->n++] = ie;
			interesting++;
		}
		if (want && interesting >= want)
			end = ms_now() + 100;	/* a little more, in case of extras */
	}
}

static bool has(const struct evlist *l, unsigned type, unsigned code, int value)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->ev[i].type == type && l->ev[i].code == code && l->ev[i].value == value)
			return true;
	return false;
}

static void print_list(const char *what, const struct evlist *l)
{
	printf("  %s (%u):", what, l->n);
	for (unsigned i = 0; i < l->n; i++)
		printf(" %s:%s=%d", libevdev_event_type_get_name(l->ev[i].type) + 3,
		       libevdev_event_code_get_name(l->ev[i].type, l->ev[i].code), l->ev[i].value);
	printf("\n");
}

/* Every key press in l has its release after it, and no key is pressed twice. */
static bool balanced(const struct evlist *l)
{
	static bool down[KEY_CNT];

	memset(down, 0, sizeof(down));
	for (unsigned i = 0; i < l->n; i++) {
		if (l->ev[i].type != EV_KEY || l->ev[i].value == 2)
			continue;
		if ((l->ev[i].value == 1) == down[l->ev[i].code])
			return false;
		down[l->ev[i].code] = l->ev[i].value == 1;
	}
	for (unsigned c = 0; c < KEY_CNT; c++)
		if (down[c])
			return false;
	return true;
}

static bool no_keys_down(int fd)
{
	unsigned char keys[KEY_CNT / 8];

	memset(keys, 0, sizeof(keys));
	if (ioctl(fd, EVIOCGKEY(sizeof(keys)), keys) < 0)
		return false;
	for (unsigned i = 0; i < sizeof(keys); i++)
		if (keys[i])
			return false;
	return true;
}

/* ---- vgi-input ---- */

struct vi {
	pid_t pid;
	int out;		/* its stdout+stderr */
	char log[1 << 20];
	size_t len;
	int guest_fd;		/* its uinput device: the guest's view */
};

static void vi_pump(struct vi *v, int ms)
{
	struct pollfd p = { .fd = v->out, .events = POLLIN };

	if (poll(&p, 1, ms) > 0) {
		ssize_t n = read(v->out, v->log + v->len, sizeof(v->log) - 1 - v->len);

		if (n > 0) {
			fwrite(v->log + v->len, 1, (size_t)n, stdout);
			v->len += (size_t)n;
			v->log[v->len] = '\0';
		}
	}
}

/* Wait until text appears in the log after offset from. */
static bool vi_wait(struct vi *v, size_t from, const char *text)
{
	long end = ms_now() + 3 * T_EVENT_MS;

	while (ms_now() < end) {
		if (from <= v->len && strstr(v->log + from, text))
			return true;
		vi_pump(v, 50);
	}
	return false;
}

static int vi_start(struct vi *v, const char *const *argv)
{
	int p[2];
	char *line, node[64];

	memset(v, 0, sizeof(*v));
	if (pipe(p) < 0)
		return -1;
	v->guest_fd = -1;
	v->pid = fork();
	if (v->pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	v->out = p[0];
	if (!vi_wait(v, 0, "uinput device /dev/input/"))
		return -1;
	line = strstr(v->log, "uinput device ");
	if (sscanf(line, "uinput device %63s", node) != 1)
		return -1;
	/* udev-less guest: the node may take a moment */
	for (int i = 0; i < 100 && (v->guest_fd = open(node, O_RDWR | O_NONBLOCK)) < 0; i++)
		usleep(20000);
	if (v->guest_fd < 0)
		return -1;
	/* the guest owns its device: nobody else (the VT keyboard handler) sets its LEDs */
	return ioctl(v->guest_fd, EVIOCGRAB, 1);
}

static int vi_stop(struct vi *v)
{
	int status = -1;
	pid_t pid = v->pid;

	long end = ms_now() + 8000;

	kill(v->pid, SIGTERM);
	while (ms_now() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			v->pid = 0;
			break;
		}
		vi_pump(v, 20);
		usleep(5000);
	}
	if (v->pid) {
		char cmd[160];

		printf("vgi-input ignored SIGTERM\n");
		snprintf(cmd, sizeof(cmd), "cat /proc/%d/wchan; echo; cat /proc/%d/stat; cat /proc/%d/stack", (int)pid,
			 (int)pid, (int)pid);
		if (system(cmd) < 0)
			printf("system failed\n");
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
		v->pid = 0;
	}
	if (v->guest_fd >= 0)
		close(v->guest_fd);
	close(v->out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* ---- the scenario ---- */

static const struct {
	const char *name;
	unsigned k[2];
} combos[] = {
	{ "ctrl-ctrl", { KEY_LEFTCTRL, KEY_RIGHTCTRL } }, { "alt-alt", { KEY_LEFTALT, KEY_RIGHTALT } },
	{ "shift-shift", { KEY_LEFTSHIFT, KEY_RIGHTSHIFT } }, { "meta-meta", { KEY_LEFTMETA, KEY_RIGHTMETA } },
	{ "scrolllock", { KEY_SCROLLLOCK, 0 } }, { "ctrl-scrolllock", { KEY_RIGHTCTRL, KEY_SCROLLLOCK } },
};

static void press_combo(struct src *kbd, unsigned ci)
{
	emit(kbd, EV_KEY, combos[ci].k[0], 1);
	if (combos[ci].k[1]) {
		emit(kbd, EV_KEY, combos[ci].k[1], 1);
		emit(kbd, EV_KEY, combos[ci].k[1], 0);
	}
	emit(kbd, EV_KEY, combos[ci].k[0], 0);
}

static bool led_seen(struct src *s, unsigned code, int value)
{
	long end = ms_now() + T_EVENT_MS;
	struct input_event ie;

	while (ms_now() < end) {
		while (read(libevdev_uinput_get_fd(s->ui), &ie, sizeof(ie)) == (ssize_t)sizeof(ie)) {
			if (ie.type == EV_LED && ie.code == code && ie.value == value)
				return true;
		}
		usleep(10000);
	}
	return false;
}

static int link_by_id(const char *node)
{
	char tmp[128];

	mkdir("/dev/input/by-id", 0755);
	snprintf(tmp, sizeof(tmp), "/dev/input/by-id/.tmp-vgi");
	unlink(tmp);
	if (symlink(node, tmp) < 0)
		return -1;
	return rename(tmp, "/dev/input/by-id/vgi-test-kbd");
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static struct src kbd = { .host_fd = -1 }, mouse = { .host_fd = -1 };
static struct vi v;

static int run(unsigned ci, bool grab_all)
{
	struct evlist g, h;
	char hook[512], hooklog[256], kbd_grabbed[128], kbd_released[128], mouse_arg[64];
	const char *argv[16];
	size_t mark;
	int n = 0, ret = -1;
	bool scroll_mode = combos[ci].k[0] == KEY_SCROLLLOCK || combos[ci].k[1] == KEY_SCROLLLOCK;

	snprintf(cfg_name, sizeof(cfg_name), "%s%s", combos[ci].name, grab_all ? " grab-all" : "");
	printf("==== %s\n", cfg_name);
	snprintf(hooklog, sizeof(hooklog), "%s/hook-%s%s.log", out_dir, combos[ci].name, grab_all ? "-all" : "");
	unlink(hooklog);
	snprintf(hook, sizeof(hook), "echo \"$1 $VGI_GRAB\" >> %s", hooklog);
	CHECK(src_create(&kbd, true) == 0, "uinput keyboard");
	CHECK(src_create(&mouse, false) == 0, "uinput mouse");
	CHECK(link_by_id(kbd.node) == 0, "by-id link");
	snprintf(kbd_grabbed, sizeof(kbd_grabbed), "/dev/input/by-id/vgi-test-kbd grabbed");
	snprintf(kbd_released, sizeof(kbd_released), "/dev/input/by-id/vgi-test-kbd released");
	snprintf(mouse_arg, sizeof(mouse_arg), "%s", mouse.node);
	argv[n++] = vgi_input_bin;
	argv[n++] = "--evdev";
	argv[n++] = "vgi-test-kbd";	/* resolved under /dev/input/by-id */
	argv[n++] = "--evdev";
	argv[n++] = mouse_arg;
	argv[n++] = "--output";
	argv[n++] = "uinput";
	argv[n++] = "--grab-toggle";
	argv[n++] = combos[ci].name;
	argv[n++] = "--toggle-hook";
	argv[n++] = hook;
	if (grab_all)
		argv[n++] = "--grab-all";
	argv[n] = NULL;
	CHECK(vi_start(&v, argv) == 0, "vgi-input did not start");
	CHECK(vi_wait(&v, 0, kbd_grabbed), "keyboard not grabbed at start");

	/* 1. grabbed: the guest gets it all, the host nothing */
	emit(&kbd, EV_KEY, KEY_A, 1);
	emit(&kbd, EV_KEY, KEY_A, 0);
	emit(&mouse, EV_REL, REL_X, 7);
	collect(v.guest_fd, &g, 3, 0);
	collect(kbd.host_fd, &h, 0, T_IDLE_MS);
	print_list("guest", &g);
	CHECK(has(&g, EV_KEY, KEY_A, 1) && has(&g, EV_KEY, KEY_A, 0) && has(&g, EV_REL, REL_X, 7), "guest view");
	CHECK(h.n == 0, "host saw %u events while grabbed", h.n);
	collect(mouse.host_fd, &h, 0, 50);
	CHECK(h.n == 0, "host saw mouse events while grabbed");

	/* 2. keys held across the combination: the flip waits for every key, on every device */
	mark = v.len;
	emit(&kbd, EV_KEY, KEY_B, 1);
	emit(&mouse, EV_KEY, BTN_LEFT, 1);
	press_combo(&kbd, ci);
	emit(&kbd, EV_KEY, KEY_B, 0);
	collect(v.guest_fd, &g, 0, T_IDLE_MS);
	vi_pump(&v, 100);
	vi_pump(&v, 100);
	CHECK(!strstr(v.log + mark, kbd_released), "flipped with the mouse button down");
	emit(&mouse, EV_KEY, BTN_LEFT, 0);
	CHECK(vi_wait(&v, mark, kbd_released), "not released after all keys up");
	{
		struct evlist g2;

		collect(v.guest_fd, &g2, 0, T_IDLE_MS);
		for (unsigned i = 0; i < g2.n && g.n < 512; i++)
			g.ev[g.n++] = g2.ev[i];
	}
	print_list("guest", &g);
	CHECK(has(&g, EV_KEY, KEY_B, 1) && has(&g, EV_KEY, KEY_B, 0), "guest missed the held key");
	CHECK(has(&g, EV_KEY, BTN_LEFT, 1) && has(&g, EV_KEY, BTN_LEFT, 0), "guest missed the held button");
	CHECK(!has(&g, EV_KEY, KEY_SCROLLLOCK, 1) && !has(&g, EV_KEY, KEY_SCROLLLOCK, 0), "scroll lock forwarded");
	if (!scroll_mode)
		CHECK(has(&g, EV_KEY, combos[ci].k[1], 1), "guest missed the combination keys");
	CHECK(balanced(&g), "guest view unbalanced");
	CHECK(no_keys_down(v.guest_fd), "a key is stuck down in the guest");
	collect(kbd.host_fd, &h, 0, 50);
	CHECK(h.n == 0, "host saw %u keyboard events before the release", h.n);

	/* 3. released: the host gets it, the guest nothing (the mouse only with grab-all) */
	emit(&kbd, EV_KEY, KEY_C, 1);
	emit(&kbd, EV_KEY, KEY_C, 0);
	emit(&mouse, EV_REL, REL_Y, 3);
	collect(kbd.host_fd, &h, 2, 0);
	print_list("host", &h);
	CHECK(has(&h, EV_KEY, KEY_C, 1) && has(&h, EV_KEY, KEY_C, 0), "host did not get the keyboard back");
	collect(v.guest_fd, &g, grab_all ? 0 : 1, T_IDLE_MS);
	print_list("guest", &g);
	CHECK(!has(&g, EV_KEY, KEY_C, 1), "guest got keys while released");
	CHECK(has(&g, EV_REL, REL_Y, 3) == !grab_all, "mouse went to the wrong side");
	collect(mouse.host_fd, &h, grab_all ? 1 : 0, T_IDLE_MS / 4);
	CHECK(has(&h, EV_REL, REL_Y, 3) == grab_all, "mouse went to the wrong side (host view)");

	/* 4. the combination grabs again; the host saw it whole */
	mark = v.len;
	press_combo(&kbd, ci);
	CHECK(vi_wait(&v, mark, kbd_grabbed), "not grabbed again");
	collect(kbd.host_fd, &h, 0, T_IDLE_MS);
	print_list("host", &h);
	CHECK(has(&h, EV_KEY, combos[ci].k[0], 1) && balanced(&h), "host view of the combination");
	collect(v.guest_fd, &g, 0, T_IDLE_MS / 4);
	CHECK(!has(&g, EV_KEY, combos[ci].k[0], 1), "guest got the grabbing combination");

	/* 5. LEDs: the guest's caps lock shows while grabbed, the host's state on release */
	{
		struct input_event led[2] = { { .type = EV_LED, .code = LED_CAPSL, .value = 1 },
					      { .type = EV_SYN, .code = SYN_REPORT } };

		CHECK(write(v.guest_fd, led, sizeof(led)) == (ssize_t)sizeof(led), "LED write");
	}
	CHECK(led_seen(&kbd, LED_CAPSL, 1), "guest caps lock not on the keyboard");
	mark = v.len;
	press_combo(&kbd, ci);
	CHECK(vi_wait(&v, mark, kbd_released), "not released (LED round)");
	CHECK(led_seen(&kbd, LED_CAPSL, 0), "host LED state not restored");
	mark = v.len;
	press_combo(&kbd, ci);
	CHECK(vi_wait(&v, mark, kbd_grabbed), "not grabbed (LED round)");
	CHECK(led_seen(&kbd, LED_CAPSL, 1), "guest LED state not shown again");
	collect(kbd.host_fd, &h, 0, T_IDLE_MS / 4);
	collect(v.guest_fd, &g, 0, T_IDLE_MS / 4);

	/* 6. unplug with a key held: the guest gets its release; replug: grabbed again */
	emit(&kbd, EV_KEY, KEY_D, 1);
	collect(v.guest_fd, &g, 1, 0);
	CHECK(has(&g, EV_KEY, KEY_D, 1), "guest missed D");
	mark = v.len;
	src_destroy(&kbd);
	collect(v.guest_fd, &g, 1, 0);
	print_list("guest after unplug", &g);
	CHECK(has(&g, EV_KEY, KEY_D, 0), "key stuck in the guest after unplug");
	CHECK(no_keys_down(v.guest_fd), "a key is stuck down in the guest after unplug");
	CHECK(vi_wait(&v, mark, "vanished"), "unplug not noticed");
	mark = v.len;
	CHECK(src_create(&kbd, true) == 0, "replug");
	CHECK(link_by_id(kbd.node) == 0, "by-id link (replug)");
	CHECK(vi_wait(&v, mark, kbd_grabbed), "not grabbed after replug");
	emit(&kbd, EV_KEY, KEY_E, 1);
	emit(&kbd, EV_KEY, KEY_E, 0);
	collect(v.guest_fd, &g, 2, 0);
	collect(kbd.host_fd, &h, 0, T_IDLE_MS);
	CHECK(has(&g, EV_KEY, KEY_E, 1) && has(&g, EV_KEY, KEY_E, 0), "guest view after replug");
	CHECK(h.n == 0, "host saw %u events after replug while grabbed", h.n);

	/*
	 * 6b. SYN_DROPPED: vgi-input stopped while the keyboard floods its
	 * buffer, with G and J held; after the resync the guest holds G and J,
	 * and gets their releases: nothing stuck.
	 */
	if (ci == 0) {
		unsigned char keys[KEY_CNT / 8];

		mark = v.len;
		kill(v.pid, SIGSTOP);
		emit(&kbd, EV_KEY, KEY_G, 1);
		for (int i = 0; i < 300; i++) {
			emit(&kbd, EV_KEY, KEY_H, 1);
			emit(&kbd, EV_KEY, KEY_H, 0);
		}
		emit(&kbd, EV_KEY, KEY_J, 1);
		kill(v.pid, SIGCONT);
		CHECK(vi_wait(&v, mark, "resyncing"), "no SYN_DROPPED resync");
		collect(v.guest_fd, &g, 0, T_IDLE_MS);
		memset(keys, 0, sizeof(keys));
		ioctl(v.guest_fd, EVIOCGKEY(sizeof(keys)), keys);
		CHECK((keys[KEY_G / 8] & (1 << (KEY_G % 8))) && (keys[KEY_J / 8] & (1 << (KEY_J % 8))),
		      "guest does not hold G and J after the resync");
		emit(&kbd, EV_KEY, KEY_G, 0);
		emit(&kbd, EV_KEY, KEY_J, 0);
		collect(v.guest_fd, &g, 2, 0);
		CHECK(no_keys_down(v.guest_fd), "a key is stuck down in the guest after the resync");
		collect(kbd.host_fd, &h, 0, T_IDLE_MS / 4);
		CHECK(h.n == 0, "host saw %u events while grabbed (resync)", h.n);
		printf("  resync after SYN_DROPPED: ok\n");
	}

	/* 7. the hook ran once per toggle, with the state */
	usleep(200000);
	CHECK(count_lines(hooklog) == 4, "hook ran %d times, not 4", count_lines(hooklog));
	{
		FILE *f = fopen(hooklog, "r");
		char buf[256] = "";
		size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[got] = '\0';
		CHECK(strcmp(buf, "release 0\ngrab 1\nrelease 0\ngrab 1\n") == 0, "hook log: [%s]", buf);
	}

	/* 8. on exit everything is released */
	{
		int st = vi_stop(&v);

		CHECK(st == 0, "vgi-input exit status %d", st);
	}
	emit(&kbd, EV_KEY, KEY_F, 1);
	emit(&kbd, EV_KEY, KEY_F, 0);
	collect(kbd.host_fd, &h, 2, 0);
	CHECK(has(&h, EV_KEY, KEY_F, 1), "keyboard still grabbed after exit");
	printf("ok %s\n", cfg_name);
	ret = 0;
	src_destroy(&kbd);
	src_destroy(&mouse);
	return ret;
}

int main(int argc, char **argv)
{
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: guest-grab VGI_INPUT OUT_DIR [COMBO...]\n");
		return 2;
	}
	vgi_input_bin = argv[1];
	out_dir = argv[2];
	fd = open("/dev/uinput", O_RDWR);
	if (fd < 0) {
		printf("SKIP: no /dev/uinput (%s): run this inside a test guest\n", strerror(errno));
		return 77;
	}
	close(fd);
	/*
	 * The guest's own VT keyboard handler writes its LED state to every
	 * keyboard (ours included) when it changes: pin it (KDSETLED) so the
	 * LED checks see only what vgi-input writes.
	 */
	fd = open("/dev/tty0", O_RDWR);
	if (fd >= 0) {
		if (ioctl(fd, KDSETLED, 0) < 0)
			printf("KDSETLED: %s\n", strerror(errno));
		close(fd);
		usleep(300000);
	}
	for (unsigned ci = 0; ci < sizeof(combos) / sizeof(combos[0]); ci++) {
		bool selected = argc == 3;

		for (int i = 3; i < argc; i++)
			selected |= strcmp(argv[i], combos[ci].name) == 0;
		if (!selected)
			continue;
		for (int all = 0; all < 2; all++) {
			if (run(ci, all) < 0) {
				/* leave nothing behind for the next round */
				if (v.pid > 0 && waitpid(v.pid, NULL, WNOHANG) == 0) {
					kill(v.pid, SIGKILL);
					waitpid(v.pid, NULL, 0);
				}
				src_destroy(&kbd);
				src_destroy(&mouse);
			}
			v.pid = 0;
		}
	}
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
