// SPDX-License-Identifier: MIT
/*
 * The DRM display's errors where no usable card is: no /dev/dri at all, a
 * path that is not there, a file that is not a DRM device, a node without
 * permission (checked as user nobody), and bad sink options.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vgi/drm-display.h>
#include <vgi/sinks.h>

static void test_no_card(void **state)
{
	struct vgi_drm_display *d = NULL;
	struct vgi_drm_display_options o = { .no_vt = true };

	if (access("/dev/dri", F_OK) == 0) {
		skip();	/* this machine has DRM devices: "no card" cannot be checked here */
		return;
	}
	assert_int_equal(vgi_drm_display_open(&o, &d), -ENOENT);
	assert_null(d);
	assert_int_equal(vgi_drm_display_open(NULL, &d), -ENOENT);
}

static void test_missing_path(void **state)
{
	struct vgi_drm_display *d = NULL;
	struct vgi_drm_display_options o = { .card = "/dev/dri/card99", .no_vt = true };

	assert_int_equal(vgi_drm_display_open(&o, &d), -ENOENT);
}

static void test_not_drm(void **state)
{
	struct vgi_drm_display *d = NULL;
	struct vgi_drm_display_options o = { .card = "/dev/null", .no_vt = true };

	assert_int_equal(vgi_drm_display_open(&o, &d), -ENODEV);
}

static void test_no_permission(void **state)
{
	char path[] = "/tmp/vgi-drm-noperm-XXXXXX";
	int fd = mkstemp(path), status;
	pid_t pid;

	assert_true(fd >= 0);
	close(fd);
	chmod(path, 0600);
	if (getuid() != 0) {
		/* not root: the file is ours; a root-owned node is what we need */
		unlink(path);
		skip();
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vgi_drm_display *d = NULL;
		struct vgi_drm_display_options o = { .card = path, .no_vt = true };

		if (setgid(65534) || setuid(65534))
			_exit(3);
		_exit(vgi_drm_display_open(&o, &d) == -EACCES ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sink_options(void **state)
{
	struct vgi_display_sink s;

	assert_int_equal(vgi_display_sink_new("drm,mode=big", NULL, &s), -EINVAL);
	assert_int_equal(vgi_display_sink_new("drm,mode=0x0", NULL, &s), -EINVAL);
	assert_int_equal(vgi_display_sink_new("drm,cursor=blink", NULL, &s), -EINVAL);
	assert_int_equal(vgi_display_sink_new("drm,atomic=maybe", NULL, &s), -EINVAL);
	assert_int_equal(vgi_display_sink_new("drm,scanout=16", NULL, &s), -EINVAL);
	assert_int_equal(vgi_display_sink_new("drm,card=/dev/dri/card99,vt=off", NULL, &s), -ENOENT);
	assert_int_equal(vgi_display_sink_new("drm,card=/dev/null,vt=off", NULL, &s), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_card),
		cmocka_unit_test(test_missing_path),
		cmocka_unit_test(test_not_drm),
		cmocka_unit_test(test_no_permission),
		cmocka_unit_test(test_sink_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
