// SPDX-License-Identifier: MIT
/*
 * vgi-view end to end on the headless output: the real program is run
 * with --display headless,dir=D (a PNG per frame shown) and scripted keys
 * (--keys) or keys on its terminal fallback (a pipe on standard input);
 * frames are checked against what the geometry says (independent pixel
 * probes), against reference images in tests/view/ref/, and every format's
 * broken copies must be skipped with a message, never crash.
 *
 * VGI_VIEW_UPDATE=1 rewrites tests/view/ref/ and tests/view/screenshots/.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <pty.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "view-testfiles.h"

static char *work;	/* temporary directory with the test files */
static const char *viewer;
static const char *srcdir;

struct run {
	int status;	/* exit status, or 128 + signal */
	char *err;
	char *log;	/* --frames-log */
	char *dir;	/* frames */
};

static void run_free(struct run *r)
{
	g_free(r->err);
	g_free(r->log);
	g_free(r->dir);
}

/* Run vgi-view with args (NULL-terminated) on a fresh headless directory; stdin_text on its standard input. */
static struct run run_viewer(const char *name, const char *stdin_text, const char *size, ...)
{
	struct run r = { 0 };
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
	char *logpath, *spec, *cmdline;
	va_list ap;
	const char *a;
	GError *e = NULL;
	int status = 0;

	r.dir = g_build_filename(work, name, NULL);
	logpath = g_strconcat(r.dir, ".log", NULL);
	spec = g_strconcat("headless,dir=", r.dir, NULL);
	g_ptr_array_add(argv, g_strdup(viewer));
	g_ptr_array_add(argv, g_strdup("--display"));
	g_ptr_array_add(argv, spec);
	g_ptr_array_add(argv, g_strdup("--size"));
	g_ptr_array_add(argv, g_strdup(size));
	g_ptr_array_add(argv, g_strdup("--frames-log"));
	g_ptr_array_add(argv, g_strdup(logpath));
	va_start(ap, size);
	while ((a = va_arg(ap, const char *)))
		g_ptr_array_add(argv, g_strdup(a));
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	cmdline = g_strjoinv(" ", (char **)argv->pdata);
	if (stdin_text) {
		/* keys through the terminal fallback: a pipe on standard input */
		char *inpath = g_strconcat(r.dir, ".stdin", NULL), *q = g_shell_quote(inpath);
		char *sh = g_strdup_printf("exec %s < %s", cmdline, q);
		char *shargv[] = { "/bin/sh", "-c", sh, NULL };

		g_file_set_contents(inpath, stdin_text, -1, NULL);
		if (!g_spawn_sync(NULL, shargv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &r.err, &status, &e))
			fail_msg("spawn: %s", e->message);
		g_free(sh);
		g_free(q);
		g_free(inpath);
	} else {
		if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, NULL,
				  &r.err, &status, &e))
			fail_msg("spawn: %s", e->message);
	}
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (r.err && *r.err)
		print_message("  %s\n  -> status %d\n%s", cmdline, r.status, r.err);
	g_file_get_contents(logpath, &r.log, NULL, NULL);
	if (!r.log)
		r.log = g_strdup("");
	g_free(cmdline);
	g_free(logpath);
	g_ptr_array_free(argv, TRUE);
	return r;
}

static GdkPixbuf *frame(const struct run *r, int n)
{
	char *p = g_strdup_printf("%s/scanout0-%06d.png", r->dir, n);
	GdkPixbuf *pb = gdk_pixbuf_new_from_file(p, NULL);

	if (!pb)
		fail_msg("frame %s missing", p);
	g_free(p);
	return pb;
}

static int count_frames(const struct run *r)
{
	int n = 0;

	for (const char *s = r->log; (s = strstr(s, "frame ")); s++)
		n++;
	return n;
}

/* Line n of the frames log. */
static char *log_line(const struct run *r, int n)
{
	char **lines = g_strsplit(r->log, "\n", -1);
	char *l = n < (int)g_strv_length(lines) ? g_strdup(lines[n]) : g_strdup("");

	g_strfreev(lines);
	return l;
}

static void px(GdkPixbuf *pb, int x, int y, guint8 rgb[3])
{
	const guint8 *p = gdk_pixbuf_read_pixels(pb) + y * gdk_pixbuf_get_rowstride(pb) +
			  x * gdk_pixbuf_get_n_channels(pb);

	memcpy(rgb, p, 3);
}

struct diff {
	double mean;
	int max;
	long over;	/* pixels with a channel off by more than 16 */
};

/* Compare got with want (same size), optionally skipping a rectangle. */
static struct diff compare(GdkPixbuf *got, GdkPixbuf *want, int sx, int sy, int sw, int sh)
{
	struct diff d = { 0 };
	int w = gdk_pixbuf_get_width(got), h = gdk_pixbuf_get_height(got);
	double sum = 0;
	long n = 0;

	assert_int_equal(w, gdk_pixbuf_get_width(want));
	assert_int_equal(h, gdk_pixbuf_get_height(want));
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			guint8 a[3], b[3];
			int worst = 0;

			if (x >= sx && x < sx + sw && y >= sy && y < sy + sh)
				continue;
			px(got, x, y, a);
			px(want, x, y, b);
			for (int c = 0; c < 3; c++) {
				int dd = abs(a[c] - b[c]);

				sum += dd;
				worst = dd > worst ? dd : worst;
			}
			d.max = worst > d.max ? worst : d.max;
			d.over += worst > 16;
			n += 3;
		}
	}
	d.mean = n ? sum / n : 0;
	return d;
}

/* The pattern image placed on black, as the viewer must show it at 1:1. */
static GdkPixbuf *expected_pattern(int ow, int oh, bool rotate)
{
	GdkPixbuf *pat = vt_pattern(), *img = rotate ? gdk_pixbuf_rotate_simple(pat, GDK_PIXBUF_ROTATE_CLOCKWISE) : g_object_ref(pat);
	GdkPixbuf *out = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, ow, oh);
	int w = gdk_pixbuf_get_width(img), h = gdk_pixbuf_get_height(img);

	gdk_pixbuf_fill(out, 0x000000ff);
	gdk_pixbuf_copy_area(img, 0, 0, w, h, out, (ow - w) / 2, (oh - h) / 2);
	g_object_unref(pat);
	g_object_unref(img);
	return out;
}

static char *work_file(const char *name)
{
	return g_build_filename(work, name, NULL);
}

/* ---- every image format, shown 1:1 and centred ---- */
static void test_formats(void **state)
{
	for (const struct vt_format *f = vt_formats; f->name; f++) {
		char *path = work_file(f->name), *name = g_strconcat("fmt-", f->name, NULL);
		bool rot = !strcmp(f->type, "jpeg-exif");
		GdkPixbuf *want, *got;
		struct diff d;
		struct run r;

		if (!strcmp(f->type, "webp") && !vt_have_webp()) {
			print_message("  WebP: SKIPPED, gdk-pixbuf has no WebP loader here (package webp-pixbuf-loader)\n");
			g_free(path);
			g_free(name);
			continue;
		}
		r = run_viewer(name, NULL, "320x240", "--keys", "q", path, NULL);
		assert_int_equal(r.status, 0);
		assert_int_equal(count_frames(&r), 1);
		got = frame(&r, 0);
		want = expected_pattern(320, 240, rot);
		d = compare(got, want, 0, 0, 0, 0);
		print_message("  %-10s mean diff %.3f max %d, %ld pixels off by > 16 (%s)\n", f->name, d.mean, d.max,
			      d.over, f->lossless ? "exact" : "lossy: mean <= 2, at most 5% of the image off by > 16");
		if (f->lossless) {
			assert_int_equal(d.max, 0);
		} else {
			assert_true(d.mean <= 2.0);
			assert_true(d.over <= VT_PATTERN_W * VT_PATTERN_H / 20);
		}
		g_object_unref(got);
		g_object_unref(want);
		run_free(&r);
		g_free(path);
		g_free(name);
	}
}

/* ---- several files, a directory, slideshow once, random order ---- */
static void test_files_and_slideshow(void **state)
{
	char *a = work_file("test.png"), *b = work_file("test.bmp"), *c = work_file("doc.pdf");
	char *dir = work_file("imgdir"), *da, *db;
	struct run r;

	g_mkdir_with_parents(dir, 0755);
	da = g_build_filename(dir, "b.png", NULL);
	db = g_build_filename(dir, "a.bmp", NULL);
	{
		gchar *data;
		gsize len;

		g_file_get_contents(a, &data, &len, NULL);
		g_file_set_contents(da, data, (gssize)len, NULL);
		g_free(data);
		g_file_get_contents(b, &data, &len, NULL);
		g_file_set_contents(db, data, (gssize)len, NULL);
		g_free(data);
	}
	/* slideshow: every page of every file once, then exit by itself */
	r = run_viewer("slide", NULL, "320x240", "--timeout", "0.05", "--once", a, c, dir, NULL);
	assert_int_equal(r.status, 0);
	print_message("%s", r.log);
	assert_int_equal(count_frames(&r), 1 + 3 + 2);
	assert_non_null(strstr(r.log, "frame 1 file=") && strstr(r.log, "doc.pdf page=1/3"));
	assert_non_null(strstr(r.log, "doc.pdf page=3/3"));
	/* the directory's files in name order */
	assert_true(strstr(r.log, "a.bmp") < strstr(r.log, "b.png"));
	run_free(&r);
	/* looping: the first file comes again after the last */
	r = run_viewer("loop", NULL, "320x240", "--timeout", "0.05", "--keys", "q", "--key-delay", "400", a, b, NULL);
	assert_int_equal(r.status, 0);
	assert_true(count_frames(&r) >= 3);
	{
		char *l2 = log_line(&r, 2);

		assert_non_null(strstr(l2, "test.png"));
		g_free(l2);
	}
	run_free(&r);
	/* random order with a seed: a permutation, the same for the same seed */
	{
		char *logs[2];

		for (int i = 0; i < 2; i++) {
			r = run_viewer(i ? "random2" : "random1", NULL, "320x240", "--random", "--seed", "7",
				       "--timeout", "0.02", "--once", a, b, da, db, NULL);
			assert_int_equal(r.status, 0);
			assert_int_equal(count_frames(&r), 4);
			assert_non_null(strstr(r.log, "test.png"));
			assert_non_null(strstr(r.log, "test.bmp"));
			assert_non_null(strstr(r.log, "b.png"));
			assert_non_null(strstr(r.log, "a.bmp"));
			logs[i] = g_strdup(r.log);
			run_free(&r);
		}
		assert_string_equal(logs[0], logs[1]);
		g_free(logs[0]);
		g_free(logs[1]);
	}
	/* outputs that cannot be opened: a clear error, status 1 */
	{
		static const struct {
			const char *spec, *msg;
		} bad[] = {
			{ "drm,card=/dev/dri/card97,vt=off", "cannot open the DRM display" },
			{ "drm,colour=blue", "unknown option 'colour'" },
			{ "nosuchdisplay", "cannot open the display 'nosuchdisplay'" },
		};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *argv[] = { (char *)viewer, "--display", (char *)bad[i].spec, a, NULL };
			char *err = NULL;
			int status = 0;

			assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
						 NULL, NULL, NULL, &err, &status, NULL));
			print_message("  --display %s: %s", bad[i].spec, err);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
			assert_non_null(strstr(err, bad[i].msg));
			g_free(err);
		}
	}
	g_free(a);
	g_free(b);
	g_free(c);
	g_free(da);
	g_free(db);
	g_free(dir);
}

/* The band of the shapes PDF (red, green, blue by page) at the fit-page placement of a w x h output. */
static void check_band(GdkPixbuf *pb, int page)
{
	int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb);
	double s = fmin((double)w / VT_PDF_W, (double)h / VT_PDF_H);
	int pw = (int)floor(VT_PDF_W * s + 0.5), ph = (int)floor(VT_PDF_H * s + 0.5);
	int ox = (w - pw) / 2, oy = (h - ph) / 2;
	int cx = ox + (int)((VT_PDF_BAND_X + VT_PDF_BAND_W / 2.0) * s), cy = oy + (int)((VT_PDF_BAND_Y + VT_PDF_BAND_H / 2.0) * s);
	guint8 c[3], m[3], outside[3];

	px(pb, cx, cy, c);
	px(pb, ox + (int)(60 * s), oy + (int)(100 * s), m);	/* white margin of the page */
	px(pb, ox > 2 ? ox / 2 : 0, h / 2, outside);		/* black around it */
	print_message("  page %d: band %d,%d,%d at %d,%d; margin %d,%d,%d\n", page, c[0], c[1], c[2], cx, cy, m[0], m[1], m[2]);
	assert_true(c[page % 3] > 150);
	assert_true(c[(page + 1) % 3] < 80 && c[(page + 2) % 3] < 80);
	assert_true(m[0] > 240 && m[1] > 240 && m[2] > 240);
	if (ox > 2)
		assert_true(outside[0] == 0 && outside[1] == 0 && outside[2] == 0);
}

static char *ref_path(const char *name)
{
	return g_build_filename(srcdir, "tests", "view", "ref", name, NULL);
}

/* Compare with tests/view/ref/NAME (mean channel difference <= 0.5, at most 0.2 % of pixels off by > 16). */
static void check_ref(GdkPixbuf *got, const char *name)
{
	char *p = ref_path(name);
	GdkPixbuf *want;
	struct diff d;
	long total = (long)gdk_pixbuf_get_width(got) * gdk_pixbuf_get_height(got);

	if (getenv("VGI_VIEW_UPDATE")) {
		char *rdir = g_path_get_dirname(p);

		g_mkdir_with_parents(rdir, 0755);
		g_free(rdir);
		gdk_pixbuf_save(got, p, "png", NULL, "compression", "9", NULL);
		print_message("  wrote %s\n", p);
	}
	want = gdk_pixbuf_new_from_file(p, NULL);
	if (!want)
		fail_msg("reference %s missing (VGI_VIEW_UPDATE=1 writes it)", p);
	d = compare(got, want, 0, 0, 0, 0);
	print_message("  %s: mean diff %.4f, max %d, %ld pixels off by > 16\n", name, d.mean, d.max, d.over);
	if (d.mean > 0.5 || d.over > total / 500) {
		char *keep = g_strconcat(work, "/got-", name, NULL);

		gdk_pixbuf_save(got, keep, "png", NULL, NULL);
		fail_msg("%s differs from the reference (kept as %s)", name, keep);
	}
	g_object_unref(want);
	g_free(p);
}

/* ---- PDF pages, jumps, zoom, fit width, pan, info, against references ---- */
static void test_pdf_keys(void **state)
{
	char *pdf = work_file("doc.pdf");
	/* frames: 0 p1, 1 j p2, 2 j p3, 3 k p2, 4 3g p3, 5 1g p1, 6 w fit width, 7 Down pan, 8 + zoom,
	 * 9 - zoom, 10 a fit page, 11 i info, 12 PgDn p2 (info on) */
	struct run r = run_viewer("pdf", NULL, "400x300", "--keys", "j j k 3g 1g w Down + - a i PgDn 7 q", pdf, NULL);
	static const int pages[] = { 1, 2, 3, 2, 3, 1, 1, 1, 1, 1, 1, 1, 2 };
	GdkPixbuf *f[13];

	assert_int_equal(r.status, 0);
	print_message("%s", r.log);
	assert_int_equal(count_frames(&r), 13);
	for (int i = 0; i < 13; i++) {
		char *l = log_line(&r, i), want[32];

		snprintf(want, sizeof(want), "page=%d/3", pages[i]);
		assert_non_null(strstr(l, want));
		f[i] = frame(&r, i);
		g_free(l);
	}
	/* page turns and jumps: the band's colour where the geometry puts it */
	for (int i = 0; i <= 5; i++)
		check_band(f[i], pages[i] - 1);
	check_band(f[10], 0);
	/* fit width: 400 wide, from the top; pan moves by 1/8 of the output height */
	{
		char *l6 = log_line(&r, 6), *l7 = log_line(&r, 7), *l8 = log_line(&r, 8), *l9 = log_line(&r, 9);

		assert_non_null(strstr(l6, "page_px=400x566 at=0,0 fit=width"));
		assert_non_null(strstr(l7, "at=0,-37 fit=width"));
		assert_non_null(strstr(l8, "page_px=500x708"));
		assert_non_null(strstr(l8, "fit=zoom"));
		assert_non_null(strstr(l9, "page_px=400x566"));
		g_free(l6);
		g_free(l7);
		g_free(l8);
		g_free(l9);
	}
	/* fit page again equals the first frame exactly */
	{
		struct diff d = compare(f[10], f[5], 0, 0, 0, 0);

		assert_int_equal(d.max, 0);
	}
	/* the info overlay changes only its box (bottom left) and draws text in it */
	{
		struct diff d = compare(f[11], f[10], 0, 200, 400, 100);
		long changed = 0;

		assert_int_equal(d.max, 0);
		for (int y = 200; y < 300; y++)
			for (int x = 0; x < 400; x++) {
				guint8 a[3], b[3];

				px(f[11], x, y, a);
				px(f[10], x, y, b);
				changed += memcmp(a, b, 3) != 0;
			}
		print_message("  info overlay: %ld pixels changed in the bottom band\n", changed);
		assert_true(changed > 2000);
	}
	check_ref(f[0], "pdf-p1-400x300.png");
	check_ref(f[1], "pdf-p2-400x300.png");
	check_ref(f[6], "pdf-fitwidth-400x300.png");
	check_ref(f[8], "pdf-zoom-400x300.png");
	for (int i = 0; i < 13; i++)
		g_object_unref(f[i]);
	run_free(&r);
	g_free(pdf);
}

/* ---- pages rendered ahead: the next and previous page are in the cache before the key comes ---- */
static void test_prerender(void **state)
{
	char *pdf = work_file("text.pdf");
	struct run r = run_viewer("ahead", NULL, "400x300", "--key-delay", "600", "--keys", "j j k q", pdf, NULL);

	assert_int_equal(r.status, 0);
	print_message("%s", r.log);
	assert_int_equal(count_frames(&r), 4);
	for (int i = 1; i < 4; i++) {
		char *l = log_line(&r, i);

		assert_non_null(strstr(l, "cached=1"));
		g_free(l);
	}
	run_free(&r);
	r = run_viewer("not-ahead", NULL, "400x300", "--no-prerender", "--key-delay", "300", "--keys", "j j q", pdf, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_frames(&r), 3);
	assert_null(strstr(r.log, "cached=1"));
	run_free(&r);
	g_free(pdf);
}

/* ---- keys through the terminal fallback (a pipe on stdin): escape sequences ---- */
static void test_terminal_keys(void **state)
{
	char *pdf = work_file("doc.pdf");
	struct run r = run_viewer("term", "j\033[6~\033[5~x2gq", "400x300", "--no-evdev", pdf, NULL);
	static const int pages[] = { 1, 2, 3, 2 };

	assert_int_equal(r.status, 0);
	print_message("%s", r.log);
	/* 2g on page 2: no new frame */
	assert_int_equal(count_frames(&r), 4);
	for (int i = 0; i < 4; i++) {
		char *l = log_line(&r, i), want[32];
		GdkPixbuf *f = frame(&r, i);

		snprintf(want, sizeof(want), "page=%d/3", pages[i]);
		assert_non_null(strstr(l, want));
		check_band(f, pages[i] - 1);
		g_object_unref(f);
		g_free(l);
	}
	run_free(&r);
	/* keys from a file (--keys-file), one or more per line */
	{
		char *kf = work_file("keys.txt");

		g_file_set_contents(kf, "j\nPgDn k\n  q\n", -1, NULL);
		r = run_viewer("keys-file", NULL, "400x300", "--keys-file", kf, pdf, NULL);
		assert_int_equal(r.status, 0);
		assert_int_equal(count_frames(&r), 4);
		assert_non_null(strstr(r.log, "frame 3 file=") && strstr(strstr(r.log, "frame 3 file="), "page=2/3"));
		run_free(&r);
		g_free(kf);
	}
	/* a lone Esc at the end of the input quits */
	r = run_viewer("term-esc", "j\033", "400x300", "--no-evdev", pdf, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_frames(&r), 2);
	run_free(&r);
	g_free(pdf);
}

static int log_frames(const char *path)
{
	gchar *text = NULL;
	int n = 0;

	if (g_file_get_contents(path, &text, NULL, NULL))
		for (const char *t = text; (t = strstr(t, "frame ")); t++)
			n++;
	g_free(text);
	return n;
}

/* Wait (draining the terminal's output) until the frames log has n lines. */
static bool wait_log_frames(int master, const char *path, int n)
{
	for (int i = 0; i < 600; i++) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		char buf[512];

		if (log_frames(path) >= n)
			return true;
		if (poll(&p, 1, 50) > 0 && read(master, buf, sizeof(buf)) <= 0)
			return log_frames(path) >= n;
	}
	return false;
}

/* ---- keys from a real terminal (a pty): raw mode while shown, restored on exit ---- */
static void test_tty_raw_mode(void **state)
{
	char *pdf = work_file("doc.pdf"), *dir = work_file("tty"), *log = work_file("tty.log"), *stty = work_file("tty.stty");
	char *cmd = g_strdup_printf("stty icanon echo; exec 2>/dev/null; %s --no-evdev --display headless,dir=%s --size 400x300 "
				    "--frames-log %s %s; echo status $? > %s.status; stty -a > %s",
				    viewer, dir, log, pdf, stty, stty);
	struct termios t;
	int master, status = 0;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	gchar *text = NULL, *st = g_strconcat(stty, ".status", NULL);

	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	assert_true(wait_log_frames(master, log, 1));
	/* the terminal is in raw mode (no line editing, no echo) while vgi-view runs */
	assert_int_equal(tcgetattr(master, &t), 0);
	assert_false(t.c_lflag & ICANON);
	assert_false(t.c_lflag & ECHO);
	assert_int_equal(write(master, "j", 1), 1);
	assert_true(wait_log_frames(master, log, 2));
	assert_int_equal(write(master, "\033[6~", 4), 4);
	assert_true(wait_log_frames(master, log, 3));
	assert_int_equal(write(master, "\033[5~", 4), 4);
	assert_true(wait_log_frames(master, log, 4));
	/* a lone Esc quits (after the escape-sequence timeout) */
	assert_int_equal(write(master, "\033", 1), 1);
	for (int i = 0; i < 400; i++) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		char buf[512];

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (poll(&p, 1, 50) > 0 && read(master, buf, sizeof(buf)) <= 0)
			usleep(50000);
		if (i == 399) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("vgi-view did not quit on Esc");
		}
	}
	close(master);
	assert_true(g_file_get_contents(st, &text, NULL, NULL));
	assert_string_equal(text, "status 0\n");
	g_free(text);
	assert_true(g_file_get_contents(stty, &text, NULL, NULL));
	print_message("  frames %d; terminal after exit: %s\n", log_frames(log), strstr(text, "-icanon") ? "-icanon (raw)" : "icanon (restored)");
	/* restored: line editing and echo are back */
	assert_non_null(strstr(text, " icanon"));
	assert_null(strstr(text, "-icanon"));
	assert_null(strstr(text, "-echo "));
	assert_int_equal(log_frames(log), 4);
	g_free(text);
	g_free(st);
	g_free(cmd);
	g_free(pdf);
	g_free(dir);
	g_free(log);
	g_free(stty);
}

/* ---- images: zoom in on the pattern, pan, exact pixels ---- */
static void test_image_zoom(void **state)
{
	char *png = work_file("test.png");
	struct run r = run_viewer("imgzoom", NULL, "320x240", "--keys", "+ + + + Left Left Up q", png, NULL);
	GdkPixbuf *f;
	guint8 c[3];

	assert_int_equal(r.status, 0);
	print_message("%s", r.log);
	assert_int_equal(count_frames(&r), 7);
	/* 1.25^4 = 2.44: 391x293, centred on the middle of the image (the four quadrants meet there) */
	f = frame(&r, 4);
	px(f, 160 - 10, 120 - 10, c);
	assert_true(c[0] > 200 && c[1] < 60);	/* red, top left quadrant */
	px(f, 160 + 10, 120 + 10, c);
	assert_true(c[0] > 200 && c[1] > 200 && c[2] > 200);	/* white, bottom right */
	g_object_unref(f);
	/* panned left and up to the corner: the black/white mark at 8..24 scaled */
	f = frame(&r, 6);
	{
		char *l = log_line(&r, 6);

		assert_non_null(strstr(l, "at=0,0"));
		g_free(l);
	}
	px(f, 2, 2, c);
	assert_true(c[0] > 200 && c[1] < 60);
	check_ref(f, "image-zoom-corner-320x240.png");
	g_object_unref(f);
	run_free(&r);
	g_free(png);
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

/* A PNG whose header claims 20000 x 20000 pixels (400 M, over the 40 M limit), with no pixel data. */
static char *make_huge_png(const char *dir)
{
	uint8_t png[8 + 25 + 8 + 16] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
				0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0 };
	uint32_t crc = crc32_png(png + 12, 17);
	char *p = g_build_filename(dir, "huge.png", NULL);

	png[29] = crc >> 24;
	png[30] = crc >> 16;
	png[31] = crc >> 8;
	png[32] = crc;
	/* the start of an IDAT chunk (the header is read up to it), its data cut short */
	memcpy(png + 33, "\0\0\0\x20IDAT", 8);
	g_file_set_contents(p, (const char *)png, sizeof(png), NULL);
	return p;
}

/* ---- broken files of every format: skipped with a message, never a crash ---- */
static void test_corrupt(void **state)
{
	GPtrArray *bad = g_ptr_array_new_with_free_func(g_free);
	char *good = work_file("test.png"), *cdir = work_file("corrupt");
	int shown = 0, skipped = 0;

	g_mkdir_with_parents(cdir, 0755);
	for (const struct vt_format *f = vt_formats; f->name; f++) {
		char *p = work_file(f->name);

		if (g_file_test(p, G_FILE_TEST_EXISTS))
			vt_make_corrupt(p, cdir, bad);
		g_free(p);
	}
	{
		char *p = work_file("doc.pdf");

		vt_make_corrupt(p, cdir, bad);
		g_free(p);
	}
	{
		char *t = g_build_filename(cdir, "notes.txt", NULL), *e = g_build_filename(cdir, "empty.png", NULL);

		g_file_set_contents(t, "not an image\n", -1, NULL);
		g_file_set_contents(e, "", 0, NULL);
		g_ptr_array_add(bad, t);
		g_ptr_array_add(bad, e);
		g_ptr_array_add(bad, g_build_filename(cdir, "missing.png", NULL));
	}
	/* a header asking for more pixels than the limit: refused before decoding */
	{
		char *huge = make_huge_png(cdir);
		struct run r = run_viewer("huge", NULL, "160x120", "--keys", "q", huge, good, NULL);

		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.err, "20000x20000 is larger than the 40000000 pixel limit, skipped"));
		g_free(huge);
		run_free(&r);
	}
	for (unsigned i = 0; i < bad->len; i++) {
		const char *p = bad->pdata[i];
		char *base = g_path_get_basename(p), *name = g_strconcat("bad-", base, NULL);
		/* the broken file first, then a good one; j shows the good one if the broken one was shown */
		struct run r = run_viewer(name, NULL, "160x120", "--keys", "j j q", p, good, NULL);
		char *first = log_line(&r, 0);
		bool was_shown = strstr(first, "frame 0 file=") && strstr(first, base);

		g_free(first);

		if (r.status != 0)
			fail_msg("%s: vgi-view ended with status %d:\n%s", base, r.status, r.err);
		if (was_shown) {
			shown++;
		} else {
			/* a clear message naming the file, then the good file is shown */
			assert_non_null(strstr(r.err, base));
			assert_non_null(strstr(r.err, "skipped"));
			assert_non_null(strstr(r.log, "test.png"));
			skipped++;
		}
		run_free(&r);
		g_free(name);
		g_free(base);
	}
	print_message("  %u broken files: %d skipped with a message, %d shown (decoders recover part of some)\n",
		      bad->len, skipped, shown);
	assert_true(skipped >= (int)bad->len / 2);
	/* only broken files: a message for each, exit status 1 */
	{
		struct run r = run_viewer("all-bad", NULL, "160x120", "--keys", "q", (char *)bad->pdata[bad->len - 1],
					  (char *)bad->pdata[bad->len - 2], NULL);

		assert_int_equal(r.status, 1);
		assert_non_null(strstr(r.err, "none of the 2 files could be shown"));
		run_free(&r);
	}
	g_ptr_array_free(bad, TRUE);
	g_free(good);
	g_free(cdir);
}

/* ---- the README's screenshots: a photo-like image and a PDF page, with the info overlay ---- */
static void save_screenshot(GdkPixbuf *pb, const char *name)
{
	char *dir = g_build_filename(g_getenv("VGI_BUILD_ROOT") ? g_getenv("VGI_BUILD_ROOT") : work, "tests", "view",
				     "screenshots", NULL);
	char *p = g_build_filename(dir, name, NULL);
	struct stat st;

	g_mkdir_with_parents(dir, 0755);
	assert_true(gdk_pixbuf_save(pb, p, "png", NULL, "compression", "9", NULL));
	assert_int_equal(stat(p, &st), 0);
	print_message("  screenshot %s: %lld bytes\n", p, (long long)st.st_size);
	assert_true(st.st_size < 300 * 1024);
	if (getenv("VGI_VIEW_UPDATE")) {
		char *sp = g_build_filename(srcdir, "tests", "view", "screenshots", name, NULL);

		char *d = g_path_get_dirname(sp);

		g_mkdir_with_parents(d, 0755);
		g_free(d);
		gdk_pixbuf_save(pb, sp, "png", NULL, "compression", "9", NULL);
		print_message("  wrote %s\n", sp);
		g_free(sp);
	}
	g_free(p);
	g_free(dir);
}

static void test_screenshots(void **state)
{
	char *photo = work_file("photo.png"), *text = work_file("text.pdf");
	struct run r = run_viewer("shot-photo", NULL, "640x400", "--keys", "i q", photo, NULL);
	GdkPixbuf *f;

	assert_int_equal(r.status, 0);
	assert_int_equal(count_frames(&r), 2);
	f = frame(&r, 1);
	save_screenshot(f, "vgi-view-photo.png");
	/* the photo itself is shown 1:1: compare with the file outside the overlay */
	{
		GdkPixbuf *want = gdk_pixbuf_new_from_file(photo, NULL);
		struct diff d = compare(f, want, 0, 300, 640, 100);

		assert_int_equal(d.max, 0);
		g_object_unref(want);
	}
	g_object_unref(f);
	run_free(&r);
	r = run_viewer("shot-pdf", NULL, "640x480", "--keys", "j w i q", text, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_frames(&r), 4);
	f = frame(&r, 3);
	save_screenshot(f, "vgi-view-pdf.png");
	g_object_unref(f);
	run_free(&r);
	g_free(photo);
	g_free(text);
}

static int setup(void **state)
{
	char *p;

	viewer = getenv("VGI_VIEW");
	srcdir = getenv("VGI_SOURCE_ROOT");
	if (!viewer || !srcdir) {
		fprintf(stderr, "VGI_VIEW and VGI_SOURCE_ROOT must be set (meson test sets them)\n");
		return -1;
	}
	work = g_dir_make_tmp("vgi-view-test-XXXXXX", NULL);
	if (!work || vt_make_images(work) < 0)
		return -1;
	p = work_file("doc.pdf");
	vt_make_pdf(p, 3, false);
	g_free(p);
	p = work_file("text.pdf");
	vt_make_pdf(p, 3, true);
	g_free(p);
	p = work_file("photo.png");
	vt_make_photo(p, 640, 400);
	g_free(p);
	if (!vt_have_webp())
		fprintf(stderr, "note: gdk-pixbuf cannot write WebP here (no webp-pixbuf-loader): WebP is not tried\n");
	return 0;
}

static int teardown(void **state)
{
	if (work && !getenv("VGI_VIEW_KEEP")) {
		char *argv[] = { "rm", "-rf", work, NULL };

		g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
	} else if (work) {
		fprintf(stderr, "kept %s\n", work);
	}
	g_free(work);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_files_and_slideshow),
		cmocka_unit_test(test_pdf_keys),
		cmocka_unit_test(test_prerender),
		cmocka_unit_test(test_terminal_keys),
		cmocka_unit_test(test_tty_raw_mode),
		cmocka_unit_test(test_image_zoom),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_screenshots),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
