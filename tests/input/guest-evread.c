// SPDX-License-Identifier: MIT
/*
 * Guest-side helper (no libraries): find an input device by name and print
 * its events, or set one of its LEDs.
 *   guest-evread find NAME                 print /dev/input/eventN of the device named NAME
 *   guest-evread read NODE COUNT SECONDS   print "type code value" per event (SYN included)
 *                                          until COUNT events or SECONDS passed; exit 1 if fewer
 *   guest-evread led NODE CODE VALUE       write EV_LED CODE VALUE + SYN_REPORT to NODE
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/input.h>

static int find(const char *name)
{
	DIR *d = opendir("/sys/class/input");
	struct dirent *e;
	int found = 1;

	if (!d)
		return 1;
	while ((e = readdir(d))) {
		char path[512], buf[256] = "";
		FILE *f;

		if (strncmp(e->d_name, "event", 5))
			continue;
		snprintf(path, sizeof(path), "/sys/class/input/%s/device/name", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
		if (strcmp(buf, name) == 0) {
			printf("/dev/input/%s\n", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

static int readev(const char *node, long count, long seconds)
{
	int fd = open(node, O_RDONLY | O_NONBLOCK);
	struct timespec t0, t;
	long n = 0;

	if (fd < 0) {
		perror(node);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("reading\n");
	fflush(stdout);
	while (n < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct input_event ie;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = seconds * 1000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		while (n < count && read(fd, &ie, sizeof(ie)) == (ssize_t)sizeof(ie)) {
			printf("%u %u %d\n", ie.type, ie.code, ie.value);
			n++;
		}
		fflush(stdout);
	}
	close(fd);
	return n < count;
}

static int led(const char *node, int code, int value)
{
	int fd = open(node, O_WRONLY);
	struct input_event ev[2];

	if (fd < 0) {
		perror(node);
		return 2;
	}
	memset(ev, 0, sizeof(ev));
	ev[0].type = EV_LED;
	ev[0].code = (unsigned short)code;
	ev[0].value = value;
	ev[1].type = EV_SYN;
	ev[1].code = SYN_REPORT;
	if (write(fd, ev, sizeof(ev)) != (ssize_t)sizeof(ev)) {
		perror("write");
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "find") == 0)
		return find(argv[2]);
	if (argc == 5 && strcmp(argv[1], "read") == 0)
		return readev(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 5 && strcmp(argv[1], "led") == 0)
		return led(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: guest-evread find NAME | read NODE COUNT SECONDS | led NODE CODE VALUE\n");
	return 2;
}
