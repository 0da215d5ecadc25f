/*
 * Reading and writing the targets.conf fragments of lun export.
 *
 * We write a fixed subset of tgt-admin's syntax and read back only that
 * subset; anything else is an error naming the file and line, so a hand
 * edit that we would silently drop is caught on the next restore.
 *
 *   <target IQN>
 *       controller_tid N
 *       #shoal-portal ADDR:PORT          (a comment to tgt-admin)
 *       <backing-store VOLUME>
 *           bs-type shoal
 *           bsopts "conf=FILE"
 *           lun N
 *       </backing-store>
 *       initiator-address ADDR | initiator-name IQN
 *       incominguser USER SECRET
 *   </target>
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lun_conf.h"

#define LINE_MAX_LEN 1024

int lun_conf_path(char *buf, size_t len, const char *dir, const char *iqn)
{
	int n = snprintf(buf, len, "%s/" LUN_CONF_PREFIX "%s.conf", dir, iqn);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int lun_str_push(char **v, int *n, int max, const char *s)
{
	if (*n >= max)
		return -1;
	v[*n] = strdup(s);
	if (!v[*n])
		return -1;
	(*n)++;
	return 0;
}

int lun_target_add_lun(struct lun_target *t, uint32_t lun, const char *volume, const char *bsopts)
{
	struct lun_entry *e;

	if (t->n_luns >= LUN_CONF_MAX_LUNS)
		return -1;
	e = &t->luns[t->n_luns];
	e->lun = lun;
	e->volume = strdup(volume);
	e->bsopts = strdup(bsopts ? bsopts : "");
	if (!e->volume || !e->bsopts) {
		free(e->volume);
		free(e->bsopts);
		return -1;
	}
	t->n_luns++;
	return 0;
}

void lun_target_del_lun(struct lun_target *t, int idx)
{
	free(t->luns[idx].volume);
	free(t->luns[idx].bsopts);
	memmove(&t->luns[idx], &t->luns[idx + 1], (t->n_luns - idx - 1) * sizeof(t->luns[0]));
	t->n_luns--;
}

void lun_target_free(struct lun_target *t)
{
	free(t->iqn);
	for (int i = 0; i < t->n_luns; i++) {
		free(t->luns[i].volume);
		free(t->luns[i].bsopts);
	}
	for (int i = 0; i < t->n_addrs; i++)
		free(t->addrs[i]);
	for (int i = 0; i < t->n_names; i++)
		free(t->names[i]);
	for (int i = 0; i < t->n_portals; i++)
		free(t->portals[i]);
	free(t->chap_user);
	free(t->chap_secret);
	memset(t, 0, sizeof(*t));
}

/* Splits "key rest" in place; strips a trailing '>' for block openers. */
static char *split_key(char *line, char **rest)
{
	char *p = line + strspn(line, " \t");
	char *e = p + strcspn(p, " \t");

	if (*e) {
		*e++ = '\0';
		e += strspn(e, " \t");
	}
	*rest = e;
	return p;
}

static void rstrip(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = v;
	return 0;
}

int lun_conf_read(const char *path, struct lun_target *t, char *err, size_t errlen)
{
	char line[LINE_MAX_LEN];
	enum { OUTSIDE, TARGET, STORE, DONE } st = OUTSIDE;
	struct lun_entry cur = { 0 };
	char *cur_vol = NULL, *cur_opts = NULL;
	bool have_lun = false;
	int lineno = 0;
	FILE *f;

	memset(t, 0, sizeof(*t));
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return -ENOENT;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key, *rest;

		lineno++;
		rstrip(line);
		key = split_key(line, &rest);
		if (!*key)
			continue;
		if (!strcmp(key, "#shoal-portal") && st == TARGET) {
			if (lun_str_push(t->portals, &t->n_portals, LUN_CONF_MAX_PORTALS, rest))
				goto bad;
			continue;
		}
		if (key[0] == '#')
			continue;
		if (st == OUTSIDE && !strcmp(key, "<target") && rest[0] && rest[strlen(rest) - 1] == '>') {
			rest[strlen(rest) - 1] = '\0';
			t->iqn = strdup(rest);
			if (!t->iqn)
				goto bad;
			st = TARGET;
		} else if (st == TARGET && !strcmp(key, "controller_tid")) {
			if (parse_u32(rest, &t->tid) || t->tid == 0)
				goto bad;
		} else if (st == TARGET && !strcmp(key, "<backing-store") && rest[0] &&
			   rest[strlen(rest) - 1] == '>') {
			rest[strlen(rest) - 1] = '\0';
			cur_vol = strdup(rest);
			cur_opts = NULL;
			have_lun = false;
			if (!cur_vol)
				goto bad;
			st = STORE;
		} else if (st == STORE && !strcmp(key, "bs-type")) {
			if (strcmp(rest, "shoal"))
				goto bad;
		} else if (st == STORE && !strcmp(key, "bsopts")) {
			size_t n = strlen(rest);

			if (n < 2 || rest[0] != '"' || rest[n - 1] != '"' || cur_opts)
				goto bad;
			rest[n - 1] = '\0';
			cur_opts = strdup(rest + 1);
			if (!cur_opts)
				goto bad;
		} else if (st == STORE && !strcmp(key, "lun")) {
			if (parse_u32(rest, &cur.lun) || cur.lun == 0)
				goto bad;
			have_lun = true;
		} else if (st == STORE && !strcmp(key, "</backing-store>") && !*rest) {
			if (!have_lun || lun_target_add_lun(t, cur.lun, cur_vol, cur_opts))
				goto bad;
			free(cur_vol);
			free(cur_opts);
			cur_vol = cur_opts = NULL;
			st = TARGET;
		} else if (st == TARGET && !strcmp(key, "initiator-address") && *rest) {
			if (lun_str_push(t->addrs, &t->n_addrs, LUN_CONF_MAX_ACL, rest))
				goto bad;
		} else if (st == TARGET && !strcmp(key, "initiator-name") && *rest) {
			if (lun_str_push(t->names, &t->n_names, LUN_CONF_MAX_ACL, rest))
				goto bad;
		} else if (st == TARGET && !strcmp(key, "incominguser") && *rest && !t->chap_user) {
			char *secret;
			char *user = split_key(rest, &secret);

			if (!*secret || strchr(secret, ' '))
				goto bad;
			t->chap_user = strdup(user);
			t->chap_secret = strdup(secret);
			if (!t->chap_user || !t->chap_secret)
				goto bad;
		} else if (st == TARGET && !strcmp(key, "</target>") && !*rest) {
			st = DONE;
		} else {
			goto bad;
		}
	}
	if (st != DONE || t->tid == 0) {
		snprintf(err, errlen, "%s: incomplete target block (no controller_tid or </target>)", path);
		goto fail;
	}
	fclose(f);
	return 0;
bad:
	snprintf(err, errlen, "%s:%d: cannot understand this line (not written by shoal-admin?)", path, lineno);
fail:
	free(cur_vol);
	free(cur_opts);
	lun_target_free(t);
	fclose(f);
	return -EINVAL;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

int lun_conf_write(const char *path, const struct lun_target *t, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f = NULL;
	bool closed = false;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "path too long: %s", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		goto fail;
	fprintf(f, "# Written by shoal-admin lun export; `shoal-admin lun restore` re-creates the LUNs\n"
		   "# after tgtd restarts (tgt-admin skips bs-type shoal stores). Edit with shoal-admin.\n");
	fprintf(f, "<target %s>\n\tcontroller_tid %u\n", t->iqn, t->tid);
	for (int i = 0; i < t->n_portals; i++)
		fprintf(f, "\t#shoal-portal %s\n", t->portals[i]);
	for (int i = 0; i < t->n_luns; i++)
		fprintf(f, "\t<backing-store %s>\n\t\tbs-type shoal\n\t\tbsopts \"%s\"\n\t\tlun %u\n"
			   "\t</backing-store>\n", t->luns[i].volume, t->luns[i].bsopts, t->luns[i].lun);
	for (int i = 0; i < t->n_addrs; i++)
		fprintf(f, "\tinitiator-address %s\n", t->addrs[i]);
	for (int i = 0; i < t->n_names; i++)
		fprintf(f, "\tinitiator-name %s\n", t->names[i]);
	if (t->chap_user)
		fprintf(f, "\tincominguser %s %s\n", t->chap_user, t->chap_secret);
	fprintf(f, "</target>\n");
	if (fflush(f) || fsync(fileno(f)))
		goto fail;
	closed = true;
	if (fclose(f)) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) || fsync_dir(path))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	if (f)
		fclose(f);
	else if (fd >= 0 && !closed)
		close(fd);
	unlink(tmp);
	return -1;
}

int lun_conf_remove(const char *path, char *err, size_t errlen)
{
	if (unlink(path) && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	fsync_dir(path);
	return 0;
}

static int is_fragment(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return !strncmp(d->d_name, LUN_CONF_PREFIX, strlen(LUN_CONF_PREFIX)) && n > 5 &&
	       !strcmp(d->d_name + n - 5, ".conf");
}

int lun_conf_scan(const char *dir, char ***paths, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	char **v;
	int n;

	*paths = NULL;
	n = scandir(dir, &names, is_fragment, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read directory %s: %s", dir, strerror(errno));
		return -1;
	}
	v = calloc(n + 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		if (v && asprintf(&v[i], "%s/%s", dir, names[i]->d_name) < 0)
			v[i] = NULL;
		free(names[i]);
	}
	free(names);
	for (int i = 0; v && i < n; i++) {
		if (!v[i]) {
			for (int j = 0; j < n; j++)
				free(v[j]);
			free(v);
			v = NULL;
		}
	}
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*paths = v;
	return n;
}
