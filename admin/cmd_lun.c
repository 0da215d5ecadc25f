/*
 * shoal-admin lun export|unexport|list|restore.
 *
 * Two records of an export exist: the running tgtd, and the fragment file
 * saved in --conf-dir.  export changes tgtd first and saves the fragment
 * only when tgtd took it (rolling back a target it created if a LUN was
 * refused); unexport removes from tgtd first and then from the fragment.
 * So a fragment never names a LUN that was refused, and after a tgtd
 * restart `lun restore` brings back exactly what was exported.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "admin.h"
#include "json_out.h"
#include "lun.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define TID_MAX 65535
#define LUN_MAX 255

static void tg_init(struct admin_ctx *ctx, struct tgtadm *tg)
{
	memset(tg, 0, sizeof(*tg));
	tg->control_port = (int)ctx->control_port;
	tg->timeout_ms = (int)ctx->timeout_ms;
}

static bool chars_ok(const char *s, const char *extra, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* iSCSI names (RFC 3720 3.2.6): iqn./eui./naa., lowercase after stringprep. */
static bool valid_iqn(const char *s)
{
	if (strncmp(s, "iqn.", 4) && strncmp(s, "eui.", 4) && strncmp(s, "naa.", 4))
		return false;
	for (const char *p = s; *p; p++)
		if (isupper((unsigned char)*p))
			return false;
	return chars_ok(s, ".-:", 223);
}

/*
 * The gateway module's options (backing-store/bs_conf.h): conf=FILE names
 * the config it reads (section "cluster" and "gateway"), masters= repeated
 * once per address overrides the file.  tgtd splits its LU parameters on
 * ',', so neither may contain one.
 */
static int make_bsopts(struct admin_ctx *ctx, char *buf, size_t len)
{
	char abs[PATH_MAX];
	int n = 0;

	buf[0] = '\0';
	if (ctx->config_path) {
		if (!realpath(ctx->config_path, abs))
			return admin_err(AX_FAILED, "cannot resolve config file '%s': %s", ctx->config_path,
					 strerror(errno));
		if (strpbrk(abs, ",;\" \t"))
			return admin_err(AX_USAGE, "config file path '%s' cannot be passed to tgtd "
					 "(it contains ',', ';', '\"' or a blank)", abs);
		n = snprintf(buf, len, "conf=%s", abs);
	}
	for (int i = 0; (ctx->masters_from_cli || !ctx->config_path) && i < ctx->masters.n &&
			n < (int)len; i++) {
		if (strpbrk(ctx->masters.v[i], ",;\" \t"))
			return admin_err(AX_USAGE, "bad master address '%s'", ctx->masters.v[i]);
		n += snprintf(buf + n, len - n, "%smasters=%s", n ? ";" : "", ctx->masters.v[i]);
	}
	if (n >= (int)len)
		return admin_err(AX_USAGE, "tgt backing-store options too long");
	return AX_OK;
}

static int tgt_err(struct tgtadm *tg, int rc)
{
	return admin_err(rc == -2 ? AX_UNREACHABLE : AX_FAILED, "%s", tg->err);
}

static int check_volume_exists(struct admin_ctx *ctx, const char *name)
{
	Shoal__VolumeNameReq req = SHOAL__VOLUME_NAME_REQ__INIT;
	char what[200];
	int status;

	req.name = (char *)name;
	snprintf(what, sizeof(what), "volume '%s'", name);
	if (admin_call(ctx, SL_MSG_M_VOLUME_INFO, &req.base, NULL, &status))
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	return AX_OK;
}

/* Lowest tid not used by tgtd nor by any saved fragment. */
static uint32_t free_tid(const struct tgt_state *st, char **paths, int n)
{
	for (uint32_t tid = 1; tid <= TID_MAX; tid++) {
		bool used = tgt_find_tid(st, tid) != NULL;
		char err[256];

		for (int i = 0; !used && i < n; i++) {
			struct lun_target t;

			if (lun_conf_read(paths[i], &t, err, sizeof(err)) == 0) {
				used = t.tid == tid;
				lun_target_free(&t);
			}
		}
		if (!used)
			return tid;
	}
	return 0;
}

static void free_paths(char **paths, int n)
{
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static bool lun_taken(const struct lun_target *t, struct tgt_target *live, uint32_t lun)
{
	for (int i = 0; i < t->n_luns; i++)
		if (t->luns[i].lun == lun)
			return true;
	return live && tgt_find_lun(live, lun);
}

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0755) && errno != EEXIST)
		return admin_err(AX_FAILED, "cannot create directory %s: %s", dir, strerror(errno));
	return AX_OK;
}

static int lun_export(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 'T' },
		{ "lun", required_argument, NULL, 'l' },
		{ "tid", required_argument, NULL, 't' },
		{ "portal", required_argument, NULL, 'p' },
		{ "initiator-address", required_argument, NULL, 'I' },
		{ "initiator-name", required_argument, NULL, 'Q' },
		{ "chap-user", required_argument, NULL, 'u' },
		{ "chap-secret", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *iqn = NULL, *chap_user = NULL, *chap_secret = NULL, *volume;
	char *portals[LUN_CONF_MAX_PORTALS], *addrs[LUN_CONF_MAX_ACL], *names[LUN_CONF_MAX_ACL];
	int n_portals = 0, n_addrs = 0, n_names = 0;
	uint64_t want_lun = 0, want_tid = 0;
	struct lun_target t = { 0 };
	struct tgt_state st = { 0 };
	struct tgt_target *live;
	struct tgtadm tg;
	char path[4096], bsopts[PATH_MAX + 600], err[600], **paths = NULL;
	int c, rc, n_paths = 0;
	bool created = false;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, "lun export")) != -1) {
		switch (c) {
		case 'T':
			iqn = optarg;
			break;
		case 'l':
			if (admin_parse_uint(optarg, "--lun", 1, LUN_MAX, &want_lun))
				return AX_USAGE;
			break;
		case 't':
			if (admin_parse_uint(optarg, "--tid", 1, TID_MAX, &want_tid))
				return AX_USAGE;
			break;
		case 'p':
			if (!chars_ok(optarg, ".:[]", 64) || !strchr(optarg, ':'))
				return admin_err(AX_USAGE, "bad portal '%s' for --portal (ADDR:PORT)", optarg);
			if (n_portals >= LUN_CONF_MAX_PORTALS)
				return admin_err(AX_USAGE, "too many --portal options");
			portals[n_portals++] = optarg;
			break;
		case 'I':
			if (strcmp(optarg, "ALL") && !chars_ok(optarg, ".:/", 64))
				return admin_err(AX_USAGE, "bad address '%s' for --initiator-address", optarg);
			if (n_addrs >= LUN_CONF_MAX_ACL)
				return admin_err(AX_USAGE, "too many --initiator-address options");
			addrs[n_addrs++] = optarg;
			break;
		case 'Q':
			if (!valid_iqn(optarg))
				return admin_err(AX_USAGE, "bad iSCSI name '%s' for --initiator-name", optarg);
			if (n_names >= LUN_CONF_MAX_ACL)
				return admin_err(AX_USAGE, "too many --initiator-name options");
			names[n_names++] = optarg;
			break;
		case 'u':
			if (!chars_ok(optarg, "._-@", 64))
				return admin_err(AX_USAGE, "bad user name '%s' for --chap-user", optarg);
			chap_user = optarg;
			break;
		case 's':
			if (!chars_ok(optarg, "!#$%&()*+-./:<=>?@[]^_{|}~", 255))
				return admin_err(AX_USAGE, "bad secret for --chap-secret (letters, digits and "
						 "punctuation other than quotes, ',', ';' and blanks)");
			chap_secret = optarg;
			break;
		default:
			return AX_USAGE;
		}
	}
	rc = admin_nargs(argc, argv, 1, "lun export", "VOLUME");
	if (rc)
		return rc;
	volume = argv[optind];
	if (!admin_valid_name(volume))
		return admin_err(AX_USAGE, "bad volume name '%s'", volume);
	if (!iqn)
		return admin_err(AX_USAGE, "'lun export' needs --target IQN");
	if (!valid_iqn(iqn))
		return admin_err(AX_USAGE, "bad iSCSI name '%s' for --target (iqn./eui./naa., lowercase)", iqn);
	if (!chap_user != !chap_secret)
		return admin_err(AX_USAGE, "--chap-user and --chap-secret go together");
	rc = make_bsopts(ctx, bsopts, sizeof(bsopts));
	if (rc)
		return rc;

	rc = check_volume_exists(ctx, volume);
	if (rc)
		return rc;
	tg_init(ctx, &tg);
	rc = tgt_state_load(&tg, &st);
	if (rc)
		return tgt_err(&tg, rc);
	if (lun_conf_path(path, sizeof(path), ctx->conf_dir, iqn)) {
		rc = admin_err(AX_USAGE, "--conf-dir '%s' is too long", ctx->conf_dir);
		goto out;
	}
	rc = lun_conf_read(path, &t, err, sizeof(err));
	if (rc == -EINVAL) {
		rc = admin_err(AX_FAILED, "%s", err);
		goto out;
	}
	if (rc == -ENOENT) {
		t.iqn = strdup(iqn);
		if (!t.iqn) {
			rc = admin_err(AX_FAILED, "out of memory");
			goto out;
		}
	}
	live = tgt_find_iqn(&st, iqn);

	/* tid: the live one, else the saved one, else --tid, else the lowest free */
	if (live)
		t.tid = live->tid;
	if (want_tid && t.tid && t.tid != want_tid) {
		rc = admin_err(AX_EXISTS, "target %s already has tid %u (not %u)", iqn, t.tid,
			       (unsigned)want_tid);
		goto out;
	}
	if (!t.tid && want_tid) {
		struct tgt_target *other = tgt_find_tid(&st, want_tid);

		if (other) {
			rc = admin_err(AX_EXISTS, "tid %u is already used by target %s", (unsigned)want_tid,
				       other->iqn);
			goto out;
		}
		t.tid = want_tid;
	}
	if (!t.tid) {
		n_paths = lun_conf_scan(ctx->conf_dir, &paths, err, sizeof(err));
		if (n_paths < 0) {
			n_paths = 0;
			rc = admin_err(AX_FAILED, "%s", err);
			goto out;
		}
		t.tid = free_tid(&st, paths, n_paths);
		if (!t.tid) {
			rc = admin_err(AX_FAILED, "no free tid left");
			goto out;
		}
	}

	/* the volume at most once per target; the LUN number not yet taken */
	for (int i = 0; i < t.n_luns; i++) {
		if (!strcmp(t.luns[i].volume, volume)) {
			rc = admin_err(AX_EXISTS, "volume '%s' is already exported as lun %u of %s", volume,
				       t.luns[i].lun, iqn);
			goto out;
		}
	}
	for (int i = 0; live && i < live->n_luns; i++) {
		const struct tgt_lun *l = &live->luns[i];

		if (l->bstype && !strcmp(l->bstype, "shoal") && l->path && !strcmp(l->path, volume)) {
			rc = admin_err(AX_EXISTS, "volume '%s' is already exported as lun %u of %s", volume,
				       l->lun, iqn);
			goto out;
		}
	}
	if (want_lun && lun_taken(&t, live, want_lun)) {
		rc = admin_err(AX_EXISTS, "lun %u of target %s is already in use", (unsigned)want_lun, iqn);
		goto out;
	}
	for (uint32_t l = 1; !want_lun && l <= LUN_MAX; l++)
		if (!lun_taken(&t, live, l))
			want_lun = l;
	if (!want_lun) {
		rc = admin_err(AX_FAILED, "target %s has no free lun left", iqn);
		goto out;
	}

	if (lun_target_add_lun(&t, want_lun, volume, bsopts))
		goto nomem;
	for (int i = 0; i < n_portals; i++)
		if (lun_str_push(t.portals, &t.n_portals, LUN_CONF_MAX_PORTALS, portals[i]))
			goto nomem;
	for (int i = 0; i < n_addrs; i++)
		if (lun_str_push(t.addrs, &t.n_addrs, LUN_CONF_MAX_ACL, addrs[i]))
			goto nomem;
	for (int i = 0; i < n_names; i++)
		if (lun_str_push(t.names, &t.n_names, LUN_CONF_MAX_ACL, names[i]))
			goto nomem;
	if (chap_user) {
		free(t.chap_user);
		free(t.chap_secret);
		t.chap_user = strdup(chap_user);
		t.chap_secret = strdup(chap_secret);
		if (!t.chap_user || !t.chap_secret)
			goto nomem;
	}

	rc = lun_apply(&tg, &st, &t, &created);
	if (rc) {
		admin_err(rc, "%s", tg.err);
		if (created)
			lun_delete_target(&tg, t.tid, true);
		goto out;
	}
	rc = ensure_dir(ctx->conf_dir);
	if (!rc && lun_conf_write(path, &t, err, sizeof(err)))
		rc = admin_err(AX_FAILED, "%s (the LUN is exported but will not survive a tgtd restart)", err);
	if (rc)
		goto out;
	if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_str(o, "volume", volume);
		jo_str(o, "target", iqn);
		jo_u64(o, "tid", t.tid);
		jo_u64(o, "lun", want_lun);
		jo_str(o, "conf", path);
		jo_print(o);
	} else {
		printf("exported volume '%s' as lun %u of target %s (tid %u); saved in %s\n", volume,
		       (unsigned)want_lun, iqn, t.tid, path);
	}
	goto out;
nomem:
	rc = admin_err(AX_FAILED, "out of memory or too many entries for target %s", iqn);
out:
	free_paths(paths, n_paths);
	lun_target_free(&t);
	tgt_state_free(&st);
	return rc;
}

/* Does this live LUN match the unexport request? */
static bool lun_match(const struct tgt_lun *l, const char *volume, uint64_t lun)
{
	if (l->lun == 0 || !l->bstype || strcmp(l->bstype, "shoal"))
		return false;
	if (volume)
		return l->path && !strcmp(l->path, volume);
	return !lun || l->lun == lun;
}

/*
 * Unexport from one target: live LUNs first, then the saved fragment.  A
 * target left without LUNs is deleted, in tgtd and on disk.  *hits counts
 * the LUNs removed.
 */
static int unexport_target(struct admin_ctx *ctx, struct tgtadm *tg, struct tgt_target *live,
			   const char *iqn, const char *volume, uint64_t lun, bool force, int *hits,
			   int *dropped)
{
	struct lun_target t = { 0 };
	char path[4096], err[600];
	bool saved, any_left = false;
	int rc;

	if (lun_conf_path(path, sizeof(path), ctx->conf_dir, iqn))
		return admin_err(AX_USAGE, "--conf-dir '%s' is too long", ctx->conf_dir);
	rc = lun_conf_read(path, &t, err, sizeof(err));
	if (rc == -EINVAL)
		return admin_err(AX_FAILED, "%s", err);
	saved = rc == 0;

	for (int i = 0; live && i < live->n_luns; i++) {
		const struct tgt_lun *l = &live->luns[i];

		if (!lun_match(l, volume, lun)) {
			any_left |= l->lun != 0;
			continue;
		}
		rc = lun_delete_lun(tg, live->tid, l->lun);
		if (rc) {
			rc = admin_err(rc, "cannot remove lun %u of %s: %s", l->lun, iqn, tg->err);
			goto out;
		}
		(*hits)++;
	}
	for (int i = 0; saved && i < t.n_luns; i++) {
		const struct lun_entry *e = &t.luns[i];

		if (volume ? strcmp(e->volume, volume) : lun && e->lun != lun)
			continue;
		if (!live)
			(*hits)++;
		lun_target_del_lun(&t, i--);
	}
	if (live && !any_left && (saved || (!volume && !lun))) {
		rc = lun_delete_target(tg, live->tid, force);
		if (rc) {
			rc = admin_err(rc, "cannot delete target %s: %s%s", iqn, tg->err,
				       force ? "" : " (initiators logged in? add --force)");
			goto out;
		}
		(*dropped)++;
	}
	rc = AX_OK;
	if (saved && t.n_luns == 0 && lun_conf_remove(path, err, sizeof(err)))
		rc = admin_err(AX_FAILED, "%s", err);
	else if (saved && t.n_luns && lun_conf_write(path, &t, err, sizeof(err)))
		rc = admin_err(AX_FAILED, "%s", err);
out:
	lun_target_free(&t);
	return rc;
}

static int lun_unexport(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 'T' },
		{ "lun", required_argument, NULL, 'l' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *iqn = NULL, *volume = NULL;
	struct tgt_state st = { 0 };
	struct tgtadm tg;
	char err[600], **paths = NULL;
	uint64_t lun = 0;
	bool force = false;
	int c, rc, hits = 0, dropped = 0, n_paths = 0;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, "lun unexport")) != -1) {
		if (c == 'T')
			iqn = optarg;
		else if (c == 'l' && admin_parse_uint(optarg, "--lun", 1, LUN_MAX, &lun) == AX_OK)
			;
		else if (c == 'f')
			force = true;
		else
			return AX_USAGE;
	}
	if (iqn) {
		rc = admin_nargs(argc, argv, 0, "lun unexport --target", "no VOLUME with --target");
		if (rc)
			return rc;
		if (!valid_iqn(iqn))
			return admin_err(AX_USAGE, "bad iSCSI name '%s' for --target", iqn);
	} else {
		if (lun)
			return admin_err(AX_USAGE, "--lun needs --target");
		rc = admin_nargs(argc, argv, 1, "lun unexport", "VOLUME or --target IQN");
		if (rc)
			return rc;
		volume = argv[optind];
		if (!admin_valid_name(volume))
			return admin_err(AX_USAGE, "bad volume name '%s'", volume);
	}

	tg_init(ctx, &tg);
	rc = tgt_state_load(&tg, &st);
	if (rc)
		return tgt_err(&tg, rc);
	if (iqn) {
		rc = unexport_target(ctx, &tg, tgt_find_iqn(&st, iqn), iqn, NULL, lun, force, &hits, &dropped);
		if (!rc && !hits && lun)
			rc = admin_err(AX_NOTFOUND, "lun %u of target %s not found", (unsigned)lun, iqn);
		else if (!rc && !hits && !dropped && !tgt_find_iqn(&st, iqn))
			rc = admin_err(AX_NOTFOUND, "target %s not found", iqn);
		else if (!rc && !hits && !dropped)
			rc = admin_err(AX_NOTFOUND, "target %s exports no shoal volume", iqn);
		goto done;
	}
	/* By volume: every live target, then saved targets tgtd does not have. */
	for (int i = 0; i < st.n_targets && !rc; i++)
		rc = unexport_target(ctx, &tg, st.targets[i], st.targets[i]->iqn, volume, 0, force, &hits,
				     &dropped);
	n_paths = lun_conf_scan(ctx->conf_dir, &paths, err, sizeof(err));
	if (n_paths < 0) {
		n_paths = 0;
		if (!rc)
			rc = admin_err(AX_FAILED, "%s", err);
	}
	for (int i = 0; i < n_paths && !rc; i++) {
		struct lun_target t;

		if (lun_conf_read(paths[i], &t, err, sizeof(err)))
			continue;
		if (!tgt_find_iqn(&st, t.iqn))
			rc = unexport_target(ctx, &tg, NULL, t.iqn, volume, 0, force, &hits, &dropped);
		lun_target_free(&t);
	}
	if (!rc && !hits)
		rc = admin_err(AX_NOTFOUND, "volume '%s' is not exported", volume);
done:
	if (!rc) {
		if (ctx->json) {
			struct json_object *o = jo_obj();

			jo_u64(o, "removed_luns", (uint64_t)hits);
			jo_u64(o, "removed_targets", (uint64_t)dropped);
			jo_print(o);
		} else
			printf("removed %d lun%s and %d target%s\n", hits, hits == 1 ? "" : "s", dropped,
			       dropped == 1 ? "" : "s");
	}
	free_paths(paths, n_paths);
	tgt_state_free(&st);
	return rc;
}

/* One row of lun list: a line, or (rows, --json) an object of the array. */
static void list_row(struct json_object *rows, uint32_t tid, const char *iqn, uint32_t lun,
		     const char *volume, bool live, bool saved)
{
	const char *state = live && saved ? "exported" : live ? "not-saved" : "not-loaded";
	struct json_object *o;

	if (!rows) {
		printf("%5u %-40s %4u %-24s %s\n", tid, iqn, lun, volume, state);
		return;
	}
	o = jo_obj();
	jo_u64(o, "tid", tid);
	jo_str(o, "target", iqn);
	jo_u64(o, "lun", lun);
	jo_str(o, "volume", volume);
	jo_bool(o, "live", live);
	jo_bool(o, "saved", saved);
	jo_str(o, "state", state);
	jo_add(rows, NULL, o);
}

static bool saved_has(const struct lun_target *t, uint32_t lun, const char *volume)
{
	for (int i = 0; t && i < t->n_luns; i++)
		if (t->luns[i].lun == lun && !strcmp(t->luns[i].volume, volume))
			return true;
	return false;
}

/*
 * The start of every command that reads both the running tgtd and the saved
 * fragments without arguments (lun list, lun restore): on AX_OK the caller
 * owns *st and *paths and frees them.
 */
static int lun_load_all(struct admin_ctx *ctx, int argc, char **argv, const char *cmd,
			struct tgtadm *tg, struct tgt_state *st, char ***paths, int *n_paths)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	char err[600];
	int rc;

	optind = 0;
	if (admin_getopt(argc, argv, lo, cmd) != -1)
		return AX_USAGE;
	rc = admin_nargs(argc, argv, 0, cmd, "no arguments");
	if (rc)
		return rc;
	tg_init(ctx, tg);
	rc = tgt_state_load(tg, st);
	if (rc)
		return tgt_err(tg, rc);
	*n_paths = lun_conf_scan(ctx->conf_dir, paths, err, sizeof(err));
	if (*n_paths < 0) {
		tgt_state_free(st);
		return admin_err(AX_FAILED, "%s", err);
	}
	return AX_OK;
}

static int lun_list(struct admin_ctx *ctx, int argc, char **argv)
{
	struct lun_target *saved = NULL;
	struct tgt_state st = { 0 };
	struct tgtadm tg;
	struct json_object *rows = NULL;
	char err[600], **paths = NULL;
	int rc, n_paths;

	rc = lun_load_all(ctx, argc, argv, "lun list", &tg, &st, &paths, &n_paths);
	if (rc)
		return rc;
	saved = calloc(n_paths + 1, sizeof(*saved));
	if (!saved) {
		rc = admin_err(AX_FAILED, "out of memory");
		goto out;
	}
	for (int i = 0; i < n_paths; i++) {
		if (lun_conf_read(paths[i], &saved[i], err, sizeof(err))) {
			rc = admin_err(AX_FAILED, "%s", err);
			goto out;
		}
	}

	if (ctx->json)
		rows = jo_arr();
	else
		printf("%5s %-40s %4s %-24s %s\n", "TID", "TARGET", "LUN", "VOLUME", "STATE");
	for (int i = 0; i < st.n_targets; i++) {
		struct tgt_target *t = st.targets[i];
		struct lun_target *s = NULL;

		for (int j = 0; j < n_paths; j++)
			if (!strcmp(saved[j].iqn, t->iqn))
				s = &saved[j];
		for (int j = 0; j < t->n_luns; j++)
			if (lun_match(&t->luns[j], NULL, 0))
				list_row(rows, t->tid, t->iqn, t->luns[j].lun, t->luns[j].path, true,
					 saved_has(s, t->luns[j].lun, t->luns[j].path));
	}
	for (int j = 0; j < n_paths; j++) {
		struct tgt_target *t = tgt_find_iqn(&st, saved[j].iqn);

		for (int k = 0; k < saved[j].n_luns; k++) {
			struct tgt_lun *l = t ? tgt_find_lun(t, saved[j].luns[k].lun) : NULL;

			if (l && l->path && !strcmp(l->path, saved[j].luns[k].volume))
				continue;
			list_row(rows, saved[j].tid, saved[j].iqn, saved[j].luns[k].lun,
				 saved[j].luns[k].volume, false, true);
		}
	}
	if (rows)
		jo_print(rows);
out:
	for (int i = 0; saved && i < n_paths; i++)
		lun_target_free(&saved[i]);
	free(saved);
	free_paths(paths, n_paths);
	tgt_state_free(&st);
	return rc;
}

/* After tgtd (re)started: bring back every saved target; one failure does not stop the rest. */
static int lun_restore(struct admin_ctx *ctx, int argc, char **argv)
{
	struct tgt_state st = { 0 };
	struct tgtadm tg;
	char err[600], **paths = NULL;
	int rc, n_paths, failed = AX_OK, luns = 0, targets = 0;

	rc = lun_load_all(ctx, argc, argv, "lun restore", &tg, &st, &paths, &n_paths);
	if (rc)
		return rc;
	for (int i = 0; i < n_paths; i++) {
		struct lun_target t;
		bool created;

		if (lun_conf_read(paths[i], &t, err, sizeof(err))) {
			failed = admin_err(AX_FAILED, "%s", err);
			continue;
		}
		rc = lun_apply(&tg, &st, &t, &created);
		if (rc) {
			failed = admin_err(rc, "target %s: %s", t.iqn, tg.err);
		} else {
			targets++;
			luns += t.n_luns;
		}
		lun_target_free(&t);
	}
	if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_u64(o, "targets", (uint64_t)targets);
		jo_u64(o, "luns", (uint64_t)luns);
		jo_bool(o, "failed", failed);
		jo_print(o);
	} else
		printf("restored %d target%s with %d lun%s from %s\n", targets, targets == 1 ? "" : "s",
		       luns, luns == 1 ? "" : "s", ctx->conf_dir);
	free_paths(paths, n_paths);
	tgt_state_free(&st);
	return failed;
}

int cmd_lun(struct admin_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return admin_err(AX_USAGE, "'lun' needs a subcommand: export, unexport, list, restore");
	if (!strcmp(sub, "export"))
		return lun_export(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "unexport"))
		return lun_unexport(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return lun_list(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "restore"))
		return lun_restore(ctx, argc - 1, argv + 1);
	return admin_err(AX_USAGE, "unknown subcommand 'lun %s' (export, unexport, list, restore)", sub);
}
