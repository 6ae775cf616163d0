// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vgi/options.h>

int vgi_options_parse(struct vgi_options *opts, const char *spec)
{
	char *copy, *save = NULL, *tok;

	memset(opts, 0, sizeof(*opts));
	copy = strdup(spec ? spec : "");
	if (!copy)
		return -ENOMEM;
	tok = strtok_r(copy, ",", &save);
	if (!tok || !*tok) {
		free(copy);
		return -EINVAL;
	}
	opts->name = strdup(tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (opts->n == VGI_OPTIONS_MAX || tok == eq) {
			free(copy);
			vgi_options_finish(opts);
			return -EINVAL;
		}
		if (eq)
			*eq = '\0';
		opts->kv[opts->n].key = strdup(tok);
		opts->kv[opts->n].value = strdup(eq ? eq + 1 : "");
		opts->n++;
	}
	free(copy);
	return 0;
}

void vgi_options_finish(struct vgi_options *opts)
{
	free(opts->name);
	for (unsigned i = 0; i < opts->n; i++) {
		free(opts->kv[i].key);
		free(opts->kv[i].value);
	}
	memset(opts, 0, sizeof(*opts));
}

const char *vgi_options_get(struct vgi_options *opts, const char *key)
{
	for (unsigned i = opts->n; i-- > 0;) {	/* the last one given wins */
		if (!strcmp(opts->kv[i].key, key)) {
			for (unsigned j = 0; j < opts->n; j++)
				if (!strcmp(opts->kv[j].key, key))
					opts->kv[j].used = true;
			return opts->kv[i].value;
		}
	}
	return NULL;
}

bool vgi_options_flag(struct vgi_options *opts, const char *key)
{
	const char *v = vgi_options_get(opts, key);

	return v && (!*v || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"));
}

int vgi_options_uint(struct vgi_options *opts, const char *key, uint64_t min, uint64_t max,
		     uint64_t def, uint64_t *out)
{
	const char *v = vgi_options_get(opts, key);
	unsigned long long x;
	char *end;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtoull(v, &end, 0);
	if (!*v || *end || errno || *v == '-' || x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

const char *vgi_options_unused(const struct vgi_options *opts)
{
	for (unsigned i = 0; i < opts->n; i++)
		if (!opts->kv[i].used)
			return opts->kv[i].key;
	return NULL;
}
