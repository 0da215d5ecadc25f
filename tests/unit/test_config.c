/* Config: file sections, flag precedence, every option type, errors, sizes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "cunit_main.h"

struct opts {
	char *listen;
	char *name;
	int64_t port;
	bool sync;
	bool verbose;
	uint64_t cache;
	struct sl_str_list masters;
	struct sl_str_list dirs;
};

static struct opts o;
static struct sl_option table[] = {
	{ "listen", SL_OPT_STR, &o.listen, "service address", 0, 0 },
	{ "name", SL_OPT_STR, &o.name, "a name", 0, 0 },
	{ "port", SL_OPT_INT, &o.port, "a port", 1, 65535 },
	{ "sync", SL_OPT_BOOL, &o.sync, "fsync", 0, 0 },
	{ "verbose", SL_OPT_BOOL, &o.verbose, "chatty", 0, 0 },
	{ "cache_size", SL_OPT_SIZE, &o.cache, "cache", 4096, 1ll << 40 },
	{ "masters", SL_OPT_LIST, &o.masters, "masters", 0, 0 },
	{ "data_dirs", SL_OPT_LIST, &o.dirs, "dirs", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static char tmpdir[] = "/tmp/sl-test-config-XXXXXX";

static void defaults(void)
{
	o = (struct opts){ .listen = "127.0.0.1:7300", .port = 7300, .sync = true,
			   .cache = 64 << 20 };
}

static char *write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Runs sl_config_load with a NULL-terminated list of arguments. */
static int load(const char *role, char *err, size_t errlen, char **path, ...)
{
	char *argv[32] = { "prog" };
	int argc = 1;
	va_list ap;

	va_start(ap, path);
	for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return sl_config_load(role, table, argc, argv, "prog [options]", path, err, errlen);
}

static const char conf_text[] =
	"cluster: { masters = [\"10.0.0.1:7300\", \"10.0.0.2:7300\"]; port = 1; other_role_key = 5; };\n"
	"master: {\n"
	"  listen = \"127.0.0.1:9000\";\n"
	"  port = 9000;\n"
	"  sync = false;\n"
	"  cache_size = \"1G\";\n"
	"  data_dirs = [\"/a\", \"/b\"];\n"
	"};\n"
	"chunkserver: { listen = \"0.0.0.0:1\"; bogus = 1; };\n";

static void test_file_and_flags(void)
{
	char err[256], *path, *cpath = NULL;

	defaults();
	path = write_conf("a.conf", conf_text);
	CU_ASSERT_EQUAL_FATAL(load("master", err, sizeof(err), &cpath, "--config", path, NULL), 0);
	CU_ASSERT_STRING_EQUAL(o.listen, "127.0.0.1:9000");
	CU_ASSERT_EQUAL(o.port, 9000);		/* role section over cluster */
	CU_ASSERT_FALSE(o.sync);
	CU_ASSERT_EQUAL(o.cache, 1ull << 30);
	CU_ASSERT_EQUAL(o.masters.n, 2);
	CU_ASSERT_STRING_EQUAL(o.masters.v[1], "10.0.0.2:7300");
	CU_ASSERT_EQUAL(o.dirs.n, 2);
	CU_ASSERT_PTR_NULL(o.name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cpath);
	CU_ASSERT_STRING_EQUAL(cpath, path);
	free(cpath);
	sl_config_free(table);
	CU_ASSERT_PTR_NULL(o.listen);

	/* Flags over the file, in every syntax. */
	defaults();
	CU_ASSERT_EQUAL_FATAL(load("master", err, sizeof(err), NULL, "--config", path,
				   "--listen=1.2.3.4:5", "--port", "77", "--sync", "--verbose",
				   "--no-verbose", "--cache-size", "2M", "--data-dirs", "/x,/y",
				   "--data-dirs", "/z", "--name", "n1", NULL), 0);
	CU_ASSERT_STRING_EQUAL(o.listen, "1.2.3.4:5");
	CU_ASSERT_EQUAL(o.port, 77);
	CU_ASSERT_TRUE(o.sync);
	CU_ASSERT_FALSE(o.verbose);
	CU_ASSERT_EQUAL(o.cache, 2u << 20);
	CU_ASSERT_EQUAL_FATAL(o.dirs.n, 3);	/* replaced the file's, then appended */
	CU_ASSERT_STRING_EQUAL(o.dirs.v[0], "/x");
	CU_ASSERT_STRING_EQUAL(o.dirs.v[2], "/z");
	CU_ASSERT_EQUAL(o.masters.n, 2);
	CU_ASSERT_STRING_EQUAL(o.name, "n1");
	sl_config_free(table);

	/* No file named and the default absent: defaults stand. */
	defaults();
	if (access(SL_DEFAULT_CONFIG, F_OK) != 0) {
		cpath = (char *)"x";
		CU_ASSERT_EQUAL(load("master", err, sizeof(err), &cpath, NULL), 0);
		CU_ASSERT_PTR_NULL(cpath);
		CU_ASSERT_STRING_EQUAL(o.listen, "127.0.0.1:7300");
		CU_ASSERT_EQUAL(o.cache, 64u << 20);
		CU_ASSERT_TRUE(o.sync);
		sl_config_free(table);
	}
}

/* Each bad input is one line naming the option, and -1. */
static void expect_error(const char *role, const char *needle, ...)
{
	char *argv[32] = { "prog" }, err[256];
	int argc = 1, r;
	va_list ap;

	va_start(ap, needle);
	for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	defaults();
	err[0] = '\0';
	r = sl_config_load(role, table, argc, argv, "prog", NULL, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
	CU_ASSERT_PTR_NULL(strchr(err, '\n'));
	if (!strstr(err, needle))
		fprintf(stderr, "\n  expected '%s' in: %s\n", needle, err);
	sl_config_free(table);
}

static void test_errors(void)
{
	char *good = strdup(write_conf("good.conf", "master: { port = 5; };\n"));
	char *syntax = strdup(write_conf("syntax.conf", "master: { port = ; };\n"));
	char *unknown = strdup(write_conf("unknown.conf", conf_text));
	char *type = strdup(write_conf("type.conf", "master: { port = \"x\"; };\n"));
	char *range = strdup(write_conf("range.conf", "master: { port = 70000; };\n"));
	char *list = strdup(write_conf("list.conf", "master: { data_dirs = [1, 2]; };\n"));

	expect_error("master", "--bogus", "--config", good, "--bogus", NULL);
	expect_error("master", "--port", "--config", good, "--port", "abc", NULL);
	expect_error("master", "--port", "--config", good, "--port", "0", NULL);
	expect_error("master", "--port", "--config", good, "--port", "65536", NULL);
	expect_error("master", "--port", "--config", good, "--port", NULL);
	expect_error("master", "--cache-size", "--config", good, "--cache-size", "12Q", NULL);
	expect_error("master", "--cache-size", "--config", good, "--cache-size", "1", NULL);
	expect_error("master", "--verbose", "--config", good, "--verbose=1", NULL);
	expect_error("master", "stray", "--config", good, "stray", NULL);
	expect_error("master", "/nonexistent/shoal.conf", "--config", "/nonexistent/shoal.conf", NULL);
	expect_error("master", "syntax.conf:1", "--config", syntax, NULL);
	expect_error("chunkserver", "bogus", "--config", unknown, NULL);
	expect_error("master", "master.port", "--config", type, NULL);
	expect_error("master", "master.port", "--config", range, NULL);
	expect_error("master", "data_dirs", "--config", list, NULL);
	free(good);
	free(syntax);
	free(unknown);
	free(type);
	free(range);
	free(list);
}

static void test_help(void)
{
	char err[64];
	int saved = dup(STDOUT_FILENO);
	FILE *f = tmpfile();
	char buf[4096];
	size_t n;

	CU_ASSERT_FATAL(f != NULL && saved >= 0);
	fflush(stdout);
	dup2(fileno(f), STDOUT_FILENO);
	defaults();
	CU_ASSERT_EQUAL(load("master", err, sizeof(err), NULL, "--port", "9", "--help", NULL), 1);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Usage: prog [options]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "--cache-size SIZE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "--[no-]sync"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "(default: 127.0.0.1:7300)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "[1..65535]"));
	sl_config_free(table);
}

static void test_labels(void)
{
	char max[SL_LABEL_MAX + 2];

	CU_ASSERT(sl_label_valid(NULL));
	CU_ASSERT(sl_label_valid(""));
	CU_ASSERT(sl_label_valid("node-11.r1_a"));
	CU_ASSERT(!sl_label_valid("node 11"));
	CU_ASSERT(!sl_label_valid("r1,r2"));
	CU_ASSERT(!sl_label_valid("quote\"d"));
	CU_ASSERT(!sl_label_valid("tab\t"));
	CU_ASSERT(!sl_label_valid("caf\xc3\xa9"));
	memset(max, 'a', SL_LABEL_MAX);
	max[SL_LABEL_MAX] = '\0';
	CU_ASSERT(sl_label_valid(max));
	max[SL_LABEL_MAX] = 'a';
	max[SL_LABEL_MAX + 1] = '\0';
	CU_ASSERT(!sl_label_valid(max));
}

static void test_sizes(void)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(sl_parse_size("4096", &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(sl_parse_size("0", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(sl_parse_size("64K", &v), 0);
	CU_ASSERT_EQUAL(v, 64 << 10);
	CU_ASSERT_EQUAL(sl_parse_size("64m", &v), 0);
	CU_ASSERT_EQUAL(v, 64 << 20);
	CU_ASSERT_EQUAL(sl_parse_size("3G", &v), 0);
	CU_ASSERT_EQUAL(v, 3ull << 30);
	CU_ASSERT_EQUAL(sl_parse_size("2T", &v), 0);
	CU_ASSERT_EQUAL(v, 2ull << 40);
	CU_ASSERT_EQUAL(sl_parse_size("1MiB", &v), 0);
	CU_ASSERT_EQUAL(v, 1 << 20);
	CU_ASSERT_EQUAL(sl_parse_size("1MB", &v), 0);
	CU_ASSERT_EQUAL(v, 1 << 20);
	CU_ASSERT_EQUAL(sl_parse_size("16777215T", &v), 0);
	CU_ASSERT_EQUAL(v, 16777215ull << 40);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("16777216T", &v), 0);	/* 2^64 */
	CU_ASSERT_NOT_EQUAL(sl_parse_size("99999999999999999999", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size(NULL, &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("-1", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size(" 1", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("1 K", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("K", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("1KK", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("1P", &v), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_size("0x10", &v), 0);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "file sections and flag precedence", test_file_and_flags },
		{ "one-line errors naming the option", test_errors },
		{ "--help", test_help },
		{ "sizes", test_sizes },
		{ "failure-domain labels", test_labels },
		{ NULL, NULL },
	};
	int r;

	if (!mkdtemp(tmpdir))
		return 2;
	r = sl_cunit_run("config", tests);
	for (const char *n = "a.conf\0good.conf\0syntax.conf\0unknown.conf\0type.conf\0range.conf\0list.conf\0";
	     *n; n += strlen(n) + 1) {
		char p[256];

		snprintf(p, sizeof(p), "%s/%s", tmpdir, n);
		unlink(p);
	}
	rmdir(tmpdir);
	return r;
}
