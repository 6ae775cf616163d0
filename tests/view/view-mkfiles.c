// SPDX-License-Identifier: MIT
/* view-mkfiles DIR [PAGES]: writes vgi-view's test files (images, doc.pdf, text.pdf, big.pdf, photo.png). */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "view-testfiles.h"

int main(int argc, char **argv)
{
	int pages = argc > 2 ? atoi(argv[2]) : 100;
	char *p;
	int ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: view-mkfiles DIR [PAGES of big.pdf]\n");
		return 2;
	}
	g_mkdir_with_parents(argv[1], 0755);
	ret |= vt_make_images(argv[1]);
	p = g_build_filename(argv[1], "doc.pdf", NULL);
	ret |= vt_make_pdf(p, 3, false);
	g_free(p);
	p = g_build_filename(argv[1], "text.pdf", NULL);
	ret |= vt_make_pdf(p, 3, true);
	g_free(p);
	p = g_build_filename(argv[1], "big.pdf", NULL);
	ret |= vt_make_pdf(p, pages < 1 ? 1 : pages, true);
	g_free(p);
	p = g_build_filename(argv[1], "photo.png", NULL);
	ret |= vt_make_photo(p, 640, 400);
	g_free(p);
	return ret ? 1 : 0;
}
