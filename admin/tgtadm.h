/*
 * The local tgtd, driven through tgtadm(8): run it without a shell and read
 * what `--op show` prints back into a small model.
 */
#ifndef SHOAL_ADMIN_TGTADM_H
#define SHOAL_ADMIN_TGTADM_H

#include <stdint.h>

#define TGT_MAX_TARGETS	256
#define TGT_MAX_LUNS	256
#define TGT_MAX_ACL	64
#define TGT_MAX_PORTALS	32

struct tgt_lun {
	uint32_t lun;
	char *bstype;		/* "shoal", "rdwr", "null" (LUN 0) */
	char *path;		/* the backing store: a volume name for shoal */
};

struct tgt_target {
	uint32_t tid;
	char *iqn;
	int n_luns;
	struct tgt_lun luns[TGT_MAX_LUNS];
	int n_accounts;
	char *accounts[TGT_MAX_ACL];
	int n_acl;
	char *acl[TGT_MAX_ACL];		/* addresses, "ALL" and initiator names */
};

struct tgt_state {
	int n_targets;
	struct tgt_target *targets[TGT_MAX_TARGETS];
	int n_accounts;
	char *accounts[TGT_MAX_ACL];
	int n_portals;
	char *portals[TGT_MAX_PORTALS];	/* "ADDR:PORT" */
};

struct tgtadm {
	int control_port;	/* 0: tgtadm's default */
	int timeout_ms;
	char err[512];		/* one line: why the last command failed */
};

/*
 * Runs `tgtadm [-C N] args...`.  0 on success with the output in *out
 * (malloc'd, may be NULL); -1 when tgtadm ran and failed (t->err holds its
 * message); -2 when tgtd is not reachable or tgtadm could not run.
 */
int tgtadm_run(struct tgtadm *t, char **out, const char *const *args);

/* Reads targets, accounts and portals.  Same return values as tgtadm_run(). */
int tgt_state_load(struct tgtadm *t, struct tgt_state *s);
void tgt_state_free(struct tgt_state *s);
struct tgt_target *tgt_find_iqn(const struct tgt_state *s, const char *iqn);
struct tgt_target *tgt_find_tid(const struct tgt_state *s, uint32_t tid);
struct tgt_lun *tgt_find_lun(struct tgt_target *t, uint32_t lun);

#endif
