/*
 * tgtadm as a subprocess: fork, exec without a shell (volume names and
 * secrets never meet a shell), collect stdout and stderr together, and kill
 * it if it outlives the timeout.  Output is capped so a confused tgtd cannot
 * make us allocate without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "evloop.h"
#include "tgtadm.h"

#define TGTADM_MAX_OUT	(4u << 20)
#define TGTADM_MAX_ARGS	48

/* tgtadm's exit status when it cannot reach tgtd (ENOTCONN / ECONNREFUSED / ENOENT). */
static bool tgtd_unreachable(int code, const char *out)
{
	return code == 107 || code == 111 ||
	       (out && (strstr(out, "can't connect") || strstr(out, "failed to send request")));
}

/* First non-empty line of s without the "tgtadm: " prefix, into err. */
static void first_line(char *err, size_t len, const char *s)
{
	const char *p = s ? s : "";
	size_t n;

	while (*p == '\n')
		p++;
	if (!strncmp(p, "tgtadm: ", 8))
		p += 8;
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(err, p, n);
	err[n] = '\0';
}

int tgtadm_run(struct tgtadm *t, char **out, const char *const *args)
{
	const char *argv[TGTADM_MAX_ARGS + 4];
	char port[16], *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t deadline = sl_now_ms() + (uint64_t)t->timeout_ms;
	int pfd[2], n = 0, status = 0, rc = -2;
	bool timed_out = false;
	pid_t pid;

	argv[n++] = "tgtadm";
	if (t->control_port) {
		snprintf(port, sizeof(port), "%d", t->control_port);
		argv[n++] = "-C";
		argv[n++] = port;
	}
	for (int i = 0; args[i]; i++) {
		if (n >= TGTADM_MAX_ARGS) {
			snprintf(t->err, sizeof(t->err), "too many tgtadm arguments");
			return -2;
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(t->err, sizeof(t->err), "pipe: %s", strerror(errno));
		return -2;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(t->err, sizeof(t->err), "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -2;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp("tgtadm", (char *const *)argv);
		fprintf(stderr, "tgtadm: cannot run tgtadm: %s\n", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);

	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		uint64_t now = sl_now_ms();
		ssize_t r;

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		if (poll(&p, 1, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!p.revents)
			continue;
		if (cap - len < 4096) {
			char *nb;

			if (cap >= TGTADM_MAX_OUT)
				break;
			nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb)
				break;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += r;
	}
	close(pfd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[len] = '\0';

	if (timed_out) {
		snprintf(t->err, sizeof(t->err), "tgtadm did not finish within %d ms", t->timeout_ms);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		first_line(t->err, sizeof(t->err), buf);
	} else if (WIFEXITED(status) && tgtd_unreachable(WEXITSTATUS(status), buf)) {
		if (t->control_port)
			snprintf(t->err, sizeof(t->err), "tgtd is not running (control port %d)",
				 t->control_port);
		else
			snprintf(t->err, sizeof(t->err), "tgtd is not running");
	} else {
		first_line(t->err, sizeof(t->err), buf);
		if (!t->err[0])
			snprintf(t->err, sizeof(t->err), "tgtadm failed (status %d)", status);
		rc = -1;
	}
	if (rc == 0 && out)
		*out = buf;
	else
		free(buf);
	return rc;
}

static int push(char **v, int *n, int max, const char *s)
{
	if (*n >= max)
		return -1;
	v[*n] = strdup(s);
	if (!v[*n])
		return -1;
	(*n)++;
	return 0;
}

/* Leading blanks of a show line; the output nests by 4 spaces. */
static int indent(const char *l)
{
	int i = 0;

	while (l[i] == ' ')
		i++;
	return i;
}

enum show_section { SEC_NONE, SEC_LUN, SEC_ACCOUNT, SEC_ACL, SEC_OTHER };

/*
 * `--op show --mode target` prints, per target:
 *   Target T: IQN
 *       LUN information:
 *           LUN: N
 *               Backing store type: X
 *               Backing store path: Y
 *       Account information:
 *           USER
 *       ACL information:
 *           ALL | ADDR | INITIATOR-NAME
 */
static int parse_targets(struct tgt_state *s, char *text)
{
	struct tgt_target *cur = NULL;
	struct tgt_lun *lun = NULL;
	enum show_section sec = SEC_NONE;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		int ind = indent(l);
		char *p = l + ind;
		unsigned int tid, n;
		int off = 0;

		if (ind == 0 && sscanf(p, "Target %u: %n", &tid, &off) == 1 && off) {
			if (s->n_targets >= TGT_MAX_TARGETS)
				return -1;
			cur = calloc(1, sizeof(*cur));
			if (!cur)
				return -1;
			s->targets[s->n_targets++] = cur;
			cur->tid = tid;
			cur->iqn = strdup(p + off);
			if (!cur->iqn)
				return -1;
			lun = NULL;
			sec = SEC_NONE;
			continue;
		}
		if (!cur)
			continue;
		if (ind == 4) {
			sec = !strcmp(p, "LUN information:") ? SEC_LUN :
			      !strcmp(p, "Account information:") ? SEC_ACCOUNT :
			      !strcmp(p, "ACL information:") ? SEC_ACL : SEC_OTHER;
			continue;
		}
		if (sec == SEC_LUN && ind == 8 && sscanf(p, "LUN: %u", &n) == 1) {
			if (cur->n_luns >= TGT_MAX_LUNS)
				return -1;
			lun = &cur->luns[cur->n_luns++];
			lun->lun = n;
		} else if (sec == SEC_LUN && ind == 12 && lun) {
			char **dst = NULL;

			if (!strncmp(p, "Backing store type: ", 20))
				dst = &lun->bstype, p += 20;
			else if (!strncmp(p, "Backing store path: ", 20))
				dst = &lun->path, p += 20;
			if (dst && !*dst && !(*dst = strdup(p)))
				return -1;
		} else if (sec == SEC_ACCOUNT && ind == 8) {
			if (push(cur->accounts, &cur->n_accounts, TGT_MAX_ACL, p))
				return -1;
		} else if (sec == SEC_ACL && ind == 8) {
			if (push(cur->acl, &cur->n_acl, TGT_MAX_ACL, p))
				return -1;
		}
	}
	return 0;
}

int tgt_state_load(struct tgtadm *t, struct tgt_state *s)
{
	static const char *const show_targets[] = { "--lld", "iscsi", "--op", "show", "--mode", "target", NULL };
	static const char *const show_accounts[] = { "--lld", "iscsi", "--op", "show", "--mode", "account", NULL };
	static const char *const show_portals[] = { "--lld", "iscsi", "--op", "show", "--mode", "portal", NULL };
	char *out = NULL, *save = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = tgtadm_run(t, &out, show_targets);
	if (rc)
		return rc;
	if (out && parse_targets(s, out))
		goto nomem;
	free(out);
	out = NULL;

	rc = tgtadm_run(t, &out, show_accounts);
	if (rc)
		return rc;
	/* "Account list:" then one user per indented line */
	for (char *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		if (indent(l) > 0 && push(s->accounts, &s->n_accounts, TGT_MAX_ACL, l + indent(l)))
			goto nomem;
	free(out);
	out = NULL;

	rc = tgtadm_run(t, &out, show_portals);
	if (rc)
		return rc;
	/* "Portal: 127.0.0.1:3260,1" */
	for (char *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		char *c;

		if (strncmp(l, "Portal: ", 8))
			continue;
		c = strrchr(l, ',');
		if (c)
			*c = '\0';
		if (push(s->portals, &s->n_portals, TGT_MAX_PORTALS, l + 8))
			goto nomem;
	}
	free(out);
	return 0;
nomem:
	free(out);
	snprintf(t->err, sizeof(t->err), "tgtd's state is too large or out of memory");
	return -2;
}

void tgt_state_free(struct tgt_state *s)
{
	for (int i = 0; i < s->n_targets; i++) {
		struct tgt_target *t = s->targets[i];

		for (int j = 0; j < t->n_luns; j++) {
			free(t->luns[j].bstype);
			free(t->luns[j].path);
		}
		for (int j = 0; j < t->n_accounts; j++)
			free(t->accounts[j]);
		for (int j = 0; j < t->n_acl; j++)
			free(t->acl[j]);
		free(t->iqn);
		free(t);
	}
	for (int i = 0; i < s->n_accounts; i++)
		free(s->accounts[i]);
	for (int i = 0; i < s->n_portals; i++)
		free(s->portals[i]);
	memset(s, 0, sizeof(*s));
}

struct tgt_target *tgt_find_iqn(const struct tgt_state *s, const char *iqn)
{
	for (int i = 0; i < s->n_targets; i++)
		if (!strcmp(s->targets[i]->iqn, iqn))
			return s->targets[i];
	return NULL;
}

struct tgt_target *tgt_find_tid(const struct tgt_state *s, uint32_t tid)
{
	for (int i = 0; i < s->n_targets; i++)
		if (s->targets[i]->tid == tid)
			return s->targets[i];
	return NULL;
}

struct tgt_lun *tgt_find_lun(struct tgt_target *t, uint32_t lun)
{
	for (int i = 0; i < t->n_luns; i++)
		if (t->luns[i].lun == lun)
			return &t->luns[i];
	return NULL;
}
