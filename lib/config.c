/*
 * Options from a libconfig file and getopt_long, driven by one sl_option
 * table (contract in config.h).
 *
 * Order of work in sl_config_load():
 *   1. copy every string default to the heap, so that each later
 *      replacement may free the previous value and sl_config_free() frees
 *      all of them;
 *   2. scan argv for --help (print, return 1) and --config FILE;
 *   3. read the file: section "cluster" first, then the role's section
 *      (unknown keys are an error in the role's section only, since the
 *      cluster section is shared by roles with different options);
 *   4. apply the flags in argv order.  A list flag given on the command
 *      line replaces the file's list the first time and appends after.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libconfig.h>
#include "config.h"

#define OPT_BASE	1000	/* getopt val of opts[i] is OPT_BASE + 2*i (+1: --no-) */
#define VAL_CONFIG	1
#define VAL_HELP	2

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

bool sl_label_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return true;	/* not set: unlabelled */
	for (; s[n]; n++)
		if (n >= SL_LABEL_MAX || !(isalnum((unsigned char)s[n]) || strchr("._-", s[n])))
			return false;
	return true;
}

int sl_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':	break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:	return -1;
	}
	/* Accept "64M", "64MB" and "64MiB" alike. */
	if (shift && end[0] == 'i' && end[1] == 'B')
		end += 2;
	else if (shift && end[0] == 'B')
		end++;
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* data_dirs -> data-dirs */
static void flag_name(const char *name, char *buf, size_t len)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		buf[i] = name[i] == '_' ? '-' : name[i];
	buf[i] = '\0';
}

static bool bounded(const struct sl_option *o)
{
	return o->min != 0 || o->max != 0;
}

static int set_str(const struct sl_option *o, const char *v)
{
	char **dst = o->dest, *n = strdup(v);

	if (!n)
		return -1;
	free(*dst);
	*dst = n;
	return 0;
}

static void list_clear(struct sl_str_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static int list_add(const struct sl_option *o, const char *v, char *err, size_t errlen)
{
	struct sl_str_list *l = o->dest;

	if (l->n >= SL_CONFIG_MAX_LIST)
		return fail(err, errlen, "%s: more than %d values", o->name, SL_CONFIG_MAX_LIST);
	if (!*v)
		return fail(err, errlen, "%s: empty value in list", o->name);
	l->v[l->n] = strdup(v);
	if (!l->v[l->n])
		return fail(err, errlen, "%s: out of memory", o->name);
	l->n++;
	return 0;
}

/* "a,b,c" appended to the list. */
static int list_add_csv(const struct sl_option *o, const char *v, char *err, size_t errlen)
{
	char *copy = strdup(v), *p, *save = NULL;
	int r = 0;

	if (!copy)
		return fail(err, errlen, "%s: out of memory", o->name);
	if (!*copy)
		r = fail(err, errlen, "%s: empty value", o->name);
	for (p = strtok_r(copy, ",", &save); p && !r; p = strtok_r(NULL, ",", &save))
		r = list_add(o, p, err, errlen);
	free(copy);
	return r;
}

/* Parses a textual value (a flag, or a size string in the file) into dest. */
static int set_from_text(const struct sl_option *o, const char *where, const char *v,
			 char *err, size_t errlen)
{
	long long iv;
	uint64_t sv;
	char *end;

	switch (o->type) {
	case SL_OPT_STR:
		if (set_str(o, v) < 0)
			return fail(err, errlen, "%s: out of memory", where);
		return 0;
	case SL_OPT_INT:
		errno = 0;
		iv = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			return fail(err, errlen, "%s: '%s' is not an integer", where, v);
		if (bounded(o) && (iv < o->min || iv > o->max))
			return fail(err, errlen, "%s: %lld is out of range %" PRId64 "..%" PRId64,
				    where, iv, o->min, o->max);
		*(int64_t *)o->dest = iv;
		return 0;
	case SL_OPT_SIZE:
		if (sl_parse_size(v, &sv) < 0)
			return fail(err, errlen, "%s: '%s' is not a size (e.g. 4096, 64K, 1G)", where, v);
		if (bounded(o) && (sv < (uint64_t)o->min || sv > (uint64_t)o->max))
			return fail(err, errlen, "%s: %s is out of range %" PRId64 "..%" PRId64,
				    where, v, o->min, o->max);
		*(uint64_t *)o->dest = sv;
		return 0;
	case SL_OPT_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(bool *)o->dest = true;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(bool *)o->dest = false;
		else
			return fail(err, errlen, "%s: '%s' is not a boolean", where, v);
		return 0;
	case SL_OPT_LIST:
		return list_add_csv(o, v, err, errlen);
	}
	return fail(err, errlen, "%s: bad option type", where);
}

static int set_from_file(const struct sl_option *o, const config_setting_t *s, const char *file,
			 const char *section, char *err, size_t errlen)
{
	char where[512];
	int t = config_setting_type(s);
	long long iv;
	const char *sv;

	snprintf(where, sizeof(where), "%s:%d: %s.%s", file, config_setting_source_line(s),
		 section, o->name);
	switch (o->type) {
	case SL_OPT_STR:
		if (t != CONFIG_TYPE_STRING)
			return fail(err, errlen, "%s: expected a string", where);
		return set_from_text(o, where, config_setting_get_string(s), err, errlen);
	case SL_OPT_INT:
	case SL_OPT_SIZE:
		if (t == CONFIG_TYPE_STRING && o->type == SL_OPT_SIZE)
			return set_from_text(o, where, config_setting_get_string(s), err, errlen);
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return fail(err, errlen, "%s: expected an integer", where);
		iv = config_setting_get_int64(s);
		if (o->type == SL_OPT_SIZE && iv < 0)
			return fail(err, errlen, "%s: size must not be negative", where);
		if (bounded(o) && (iv < o->min || iv > o->max))
			return fail(err, errlen, "%s: %lld is out of range %" PRId64 "..%" PRId64,
				    where, iv, o->min, o->max);
		if (o->type == SL_OPT_INT)
			*(int64_t *)o->dest = iv;
		else
			*(uint64_t *)o->dest = (uint64_t)iv;
		return 0;
	case SL_OPT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return fail(err, errlen, "%s: expected true or false", where);
		*(bool *)o->dest = config_setting_get_bool(s);
		return 0;
	case SL_OPT_LIST:
		list_clear(o->dest);
		if (t == CONFIG_TYPE_STRING)
			return list_add_csv(o, config_setting_get_string(s), err, errlen);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			return fail(err, errlen, "%s: expected a list of strings", where);
		for (int i = 0; i < config_setting_length(s); i++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);

			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return fail(err, errlen, "%s: expected a list of strings", where);
			sv = config_setting_get_string(e);
			if (list_add(o, sv, err, errlen) < 0)
				return -1;
		}
		return 0;
	}
	return fail(err, errlen, "%s: bad option type", where);
}

static int load_section(config_t *cf, const char *section, bool strict,
			const struct sl_option *opts, const char *file, char *err, size_t errlen)
{
	config_setting_t *sec = config_lookup(cf, section);
	int n;

	if (!sec)
		return 0;
	if (!config_setting_is_group(sec))
		return fail(err, errlen, "%s: '%s' must be a group { ... }", file, section);
	n = config_setting_length(sec);
	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(sec, (unsigned int)i);
		const char *key = config_setting_name(s);
		const struct sl_option *o;

		for (o = opts; o->name; o++)
			if (!strcmp(o->name, key))
				break;
		if (!o->name) {
			if (strict)
				return fail(err, errlen, "%s:%d: unknown option '%s' in section '%s'",
					    file, config_setting_source_line(s), key, section);
			continue;
		}
		if (set_from_file(o, s, file, section, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int load_file(const char *file, bool must_exist, const char *role,
		     const struct sl_option *opts, bool *loaded, char *err, size_t errlen)
{
	config_t cf;
	int r;

	*loaded = false;
	if (access(file, F_OK) < 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		return fail(err, errlen, "--config: cannot read %s: %s", file, strerror(errno));
	}
	config_init(&cf);
	if (!config_read_file(&cf, file)) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			r = fail(err, errlen, "--config: cannot read %s", file);
		else
			r = fail(err, errlen, "%s:%d: %s", file, config_error_line(&cf),
				 config_error_text(&cf));
		config_destroy(&cf);
		return r;
	}
	r = load_section(&cf, "cluster", strcmp(role, "cluster") == 0, opts, file, err, errlen);
	if (!r && strcmp(role, "cluster"))
		r = load_section(&cf, role, true, opts, file, err, errlen);
	config_destroy(&cf);
	*loaded = r == 0;
	return r;
}

static void print_default(const struct sl_option *o)
{
	const struct sl_str_list *l;

	switch (o->type) {
	case SL_OPT_STR:
		if (*(char **)o->dest)
			printf(" (default: %s)", *(char **)o->dest);
		break;
	case SL_OPT_INT:
		printf(" (default: %" PRId64 ")", *(int64_t *)o->dest);
		break;
	case SL_OPT_SIZE:
		printf(" (default: %" PRIu64 ")", *(uint64_t *)o->dest);
		break;
	case SL_OPT_BOOL:
		printf(" (default: %s)", *(bool *)o->dest ? "on" : "off");
		break;
	case SL_OPT_LIST:
		l = o->dest;
		if (!l->n)
			break;
		printf(" (default: ");
		for (int i = 0; i < l->n; i++)
			printf("%s%s", i ? "," : "", l->v[i]);
		printf(")");
		break;
	}
}

static void print_help(const char *role, const struct sl_option *opts, const char *usage)
{
	static const char *const meta[] = {
		[SL_OPT_STR] = "STR", [SL_OPT_INT] = "N", [SL_OPT_BOOL] = "",
		[SL_OPT_SIZE] = "SIZE", [SL_OPT_LIST] = "A,B,..",
	};
	char fl[64], left[128];

	printf("Usage: %s\n\nOptions (also keys of section '%s' in the config file):\n",
	       usage ? usage : role, role);
	printf("  %-32s %s\n", "--config FILE", "configuration file (default: " SL_DEFAULT_CONFIG ")");
	printf("  %-32s %s\n", "--help", "print this help and exit");
	for (const struct sl_option *o = opts; o->name; o++) {
		flag_name(o->name, fl, sizeof(fl));
		if (o->type == SL_OPT_BOOL)
			snprintf(left, sizeof(left), "--[no-]%s", fl);
		else
			snprintf(left, sizeof(left), "--%s %s", fl, meta[o->type]);
		printf("  %-32s %s", left, o->help ? o->help : "");
		print_default(o);
		if (bounded(o) && (o->type == SL_OPT_INT || o->type == SL_OPT_SIZE))
			printf(" [%" PRId64 "..%" PRId64 "]", o->min, o->max);
		printf("\n");
	}
}

/* Copies string defaults to the heap (step 1 in the header comment). */
static int own_defaults(const struct sl_option *opts, char *err, size_t errlen)
{
	for (const struct sl_option *o = opts; o->name; o++) {
		if (o->type == SL_OPT_STR && *(char **)o->dest) {
			char *c = strdup(*(char **)o->dest);

			if (!c)
				return fail(err, errlen, "out of memory");
			*(char **)o->dest = c;
		} else if (o->type == SL_OPT_LIST) {
			struct sl_str_list *l = o->dest;

			for (int i = 0; i < l->n; i++) {
				char *c = strdup(l->v[i]);

				if (!c)
					return fail(err, errlen, "out of memory");
				l->v[i] = c;
			}
		}
	}
	return 0;
}

int sl_config_load(const char *role, const struct sl_option *opts, int argc, char **argv,
		   const char *usage, char **config_path, char *err, size_t errlen)
{
	struct option *lo = NULL;
	bool *list_seen = NULL;
	const char *file = SL_DEFAULT_CONFIG;
	bool named = false, loaded = false;
	char (*names)[72] = NULL;
	int nopts = 0, nlo = 0, r = -1, c;

	if (config_path)
		*config_path = NULL;
	for (const struct sl_option *o = opts; o->name; o++)
		nopts++;
	if (own_defaults(opts, err, errlen) < 0)
		return -1;
	lo = calloc((size_t)(2 * nopts + 3), sizeof(*lo));
	names = calloc((size_t)(2 * nopts + 1), sizeof(*names));
	list_seen = calloc((size_t)nopts + 1, sizeof(*list_seen));
	if (!lo || !names || !list_seen) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	for (int i = 0; i < nopts; i++) {
		const struct sl_option *o = &opts[i];

		flag_name(o->name, names[2 * i], sizeof(names[0]));
		lo[nlo++] = (struct option){ names[2 * i],
			o->type == SL_OPT_BOOL ? no_argument : required_argument, NULL, OPT_BASE + 2 * i };
		if (o->type == SL_OPT_BOOL) {
			memcpy(names[2 * i + 1], "no-", 3);
			flag_name(o->name, names[2 * i + 1] + 3, sizeof(names[0]) - 3);
			lo[nlo++] = (struct option){ names[2 * i + 1], no_argument, NULL, OPT_BASE + 2 * i + 1 };
		}
	}
	lo[nlo++] = (struct option){ "config", required_argument, NULL, VAL_CONFIG };
	lo[nlo++] = (struct option){ "help", no_argument, NULL, VAL_HELP };

	/* Pass 1: --help and --config; every syntax error is reported here. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		if (c == VAL_HELP) {
			print_help(role, opts, usage);
			r = 1;
			goto out;
		}
		if (c == VAL_CONFIG) {
			file = optarg;
			named = true;
		} else if (c == ':') {
			fail(err, errlen, "%s: missing value", argv[optind - 1]);
			goto out;
		} else if (c == '?') {
			const char *bad = argv[optind - 1];

			if (optopt && !strncmp(bad, "--", 2))
				fail(err, errlen, "%s: option takes no value", bad);
			else
				fail(err, errlen, "unknown option '%s' (try --help)", bad);
			goto out;
		}
	}
	if (optind < argc) {
		fail(err, errlen, "unexpected argument '%s' (try --help)", argv[optind]);
		goto out;
	}

	if (load_file(file, named, role, opts, &loaded, err, errlen) < 0)
		goto out;

	/* Pass 2: flags over the file, in order. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		const struct sl_option *o;
		char where[96];
		int i;

		if (c < OPT_BASE)
			continue;
		i = (c - OPT_BASE) / 2;
		o = &opts[i];
		if (o->type == SL_OPT_BOOL) {
			*(bool *)o->dest = ((c - OPT_BASE) % 2) == 0;
			continue;
		}
		snprintf(where, sizeof(where), "--%s", names[2 * i]);
		if (o->type == SL_OPT_LIST && !list_seen[i]) {
			list_clear(o->dest);
			list_seen[i] = true;
		}
		if (set_from_text(o, where, optarg, err, errlen) < 0)
			goto out;
	}
	if (config_path && loaded) {
		*config_path = strdup(file);
		if (!*config_path) {
			fail(err, errlen, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	free(lo);
	free(names);
	free(list_seen);
	return r;
}

void sl_config_free(const struct sl_option *opts)
{
	for (const struct sl_option *o = opts; o->name; o++) {
		if (o->type == SL_OPT_STR) {
			free(*(char **)o->dest);
			*(char **)o->dest = NULL;
		} else if (o->type == SL_OPT_LIST) {
			list_clear(o->dest);
		}
	}
}
