/*
 * Sample messages of regress/common/mime/ for the MIME tests.  They are
 * kept with LF line ends and read with CRLF, as mail is stored; a name
 * with "-lf" or "-raw" in it is read as it is.
 */

#ifndef BOXD_MIME_TEST_H
#define BOXD_MIME_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_SAMPLES "regress/common/mime/"

static char *
mime_sample(const char *name, size_t *len)
{
	char path[256], *in, *out;
	size_t n = 0, i, o = 0, cap = 1 << 16;
	FILE *f;
	int raw;

	snprintf(path, sizeof(path), "%s%s", MIME_SAMPLES, name);
	if ((f = fopen(path, "rb")) == NULL || (in = malloc(cap)) == NULL) {
		fprintf(stderr, "%s: cannot read\n", path);
		exit(1);
	}
	n = fread(in, 1, cap, f);
	fclose(f);
	if ((out = malloc(2 * n + 1)) == NULL)
		exit(1);
	raw = strstr(name, "-lf") != NULL || strstr(name, "-raw") != NULL;
	for (i = 0; i < n; i++) {
		if (!raw && in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	free(in);
	*len = o;
	return out;
}

#endif
