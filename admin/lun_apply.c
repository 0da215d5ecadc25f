/*
 * Make the running tgtd match one saved target (lun export and lun restore
 * both end here).  Idempotent: what tgtd already has is left alone, so a
 * restore after tgt-admin already created the target and its ACL only adds
 * the LUNs.  Order matters: LUNs are created before initiators are bound,
 * so an initiator never sees a target whose LUN's identity is not set yet.
 */
#include <stdio.h>
#include <string.h>
#include "admin.h"
#include "lun.h"

static bool has(char *const *v, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static int run(struct tgtadm *tg, const char *const *args)
{
	int rc = tgtadm_run(tg, NULL, args);

	return rc == 0 ? AX_OK : rc == -2 ? AX_UNREACHABLE : AX_FAILED;
}

int lun_apply(struct tgtadm *tg, const struct tgt_state *st, const struct lun_target *t, bool *created)
{
	struct tgt_target *live = tgt_find_iqn(st, t->iqn);
	char tid[16], lun[16], param[300];
	int rc;

	*created = false;
	snprintf(tid, sizeof(tid), "%u", live ? live->tid : t->tid);

	for (int i = 0; i < t->n_portals; i++) {
		if (has(st->portals, st->n_portals, t->portals[i]))
			continue;
		snprintf(param, sizeof(param), "portal=%s", t->portals[i]);
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "new", "--mode", "portal",
						    "--param", param, NULL });
		if (rc)
			return rc;
	}

	if (!live) {
		struct tgt_target *other = tgt_find_tid(st, t->tid);

		if (other) {
			snprintf(tg->err, sizeof(tg->err), "tid %u is already used by target %s", t->tid,
				 other->iqn);
			return AX_EXISTS;
		}
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "new", "--mode", "target",
						    "--tid", tid, "-T", t->iqn, NULL });
		if (rc)
			return rc;
		*created = true;
	}

	if (t->chap_user) {
		if (!has(st->accounts, st->n_accounts, t->chap_user)) {
			rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "new", "--mode", "account",
							    "--user", t->chap_user, "--password",
							    t->chap_secret, NULL });
			if (rc)
				return rc;
		}
		if (!live || !has(live->accounts, live->n_accounts, t->chap_user)) {
			rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "bind", "--mode", "account",
							    "--tid", tid, "--user", t->chap_user, NULL });
			if (rc)
				return rc;
		}
	}

	for (int i = 0; i < t->n_luns; i++) {
		const struct lun_entry *e = &t->luns[i];
		struct tgt_lun *l = live ? tgt_find_lun(live, e->lun) : NULL;

		if (l) {
			if (l->bstype && l->path && !strcmp(l->bstype, "shoal") && !strcmp(l->path, e->volume))
				continue;
			snprintf(tg->err, sizeof(tg->err), "lun %u of target %s is already in use by %s",
				 e->lun, t->iqn, l->path ? l->path : "another backing store");
			return AX_EXISTS;
		}
		snprintf(lun, sizeof(lun), "%u", e->lun);
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "new", "--mode", "logicalunit",
						    "--tid", tid, "--lun", lun, "--bstype", "shoal",
						    "--backing-store", e->volume, "--bsopts", e->bsopts, NULL });
		if (rc) {
			char why[sizeof(tg->err)];

			memcpy(why, tg->err, sizeof(why));
			snprintf(tg->err, sizeof(tg->err), "tgtd refused lun %u (volume '%.128s'): %.300s", e->lun,
				 e->volume, why);
			return rc;
		}
	}

	if (t->n_addrs == 0 && t->n_names == 0 && (!live || !has(live->acl, live->n_acl, "ALL"))) {
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "bind", "--mode", "target",
						    "--tid", tid, "-I", "ALL", NULL });
		if (rc)
			return rc;
	}
	for (int i = 0; i < t->n_addrs; i++) {
		if (live && has(live->acl, live->n_acl, t->addrs[i]))
			continue;
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "bind", "--mode", "target",
						    "--tid", tid, "-I", t->addrs[i], NULL });
		if (rc)
			return rc;
	}
	for (int i = 0; i < t->n_names; i++) {
		if (live && has(live->acl, live->n_acl, t->names[i]))
			continue;
		rc = run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "bind", "--mode", "target",
						    "--tid", tid, "-Q", t->names[i], NULL });
		if (rc)
			return rc;
	}
	return AX_OK;
}

int lun_delete_target(struct tgtadm *tg, uint32_t tid, bool force)
{
	char t[16];

	snprintf(t, sizeof(t), "%u", tid);
	if (force)
		return run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "delete", "--mode", "target",
						      "--tid", t, "--force", NULL });
	return run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "delete", "--mode", "target",
					      "--tid", t, NULL });
}

int lun_delete_lun(struct tgtadm *tg, uint32_t tid, uint32_t lun)
{
	char t[16], l[16];

	snprintf(t, sizeof(t), "%u", tid);
	snprintf(l, sizeof(l), "%u", lun);
	return run(tg, (const char *const[]){ "--lld", "iscsi", "--op", "delete", "--mode", "logicalunit",
					      "--tid", t, "--lun", l, NULL });
}
