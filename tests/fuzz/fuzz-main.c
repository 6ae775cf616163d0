// SPDX-License-Identifier: MIT
/* Runs a fuzz target over every file of a corpus folder, without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	unsigned n = 0;

	for (int a = 1; a < argc; a++) {
		DIR *d = opendir(argv[a]);
		struct dirent *e;

		if (!d) {
			fprintf(stderr, "cannot open corpus %s\n", argv[a]);
			return 1;
		}
		while ((e = readdir(d))) {
			char path[4096];
			FILE *f;
			uint8_t *buf;
			long len;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[a], e->d_name);
			f = fopen(path, "rb");
			if (!f)
				continue;
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			fseek(f, 0, SEEK_SET);
			buf = malloc(len > 0 ? (size_t)len : 1);
			if (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)
				len = 0;
			fclose(f);
			LLVMFuzzerTestOneInput(buf, len > 0 ? (size_t)len : 0);
			free(buf);
			n++;
		}
		closedir(d);
	}
	printf("%u inputs run\n", n);
	return n ? 0 : 1;
}
