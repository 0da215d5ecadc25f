/*
 * What `lun export` saved for one target: a targets.conf fragment
 * (tgt-admin syntax, one file per target, "shoal-<iqn>.conf" in the
 * fragment directory) that `lun restore` reads back after tgtd restarts.
 *
 * tgt-admin itself creates the target, its tid, ACL and CHAP account from
 * such a file, but skips the LUNs: it only allocates backing stores that are
 * existing files or of type rbd/glfs.  `shoal-admin lun restore` (run by
 * shoal-gateway.service after tgt.service) adds them.
 */
#ifndef SHOAL_ADMIN_LUN_CONF_H
#define SHOAL_ADMIN_LUN_CONF_H

#include <stddef.h>
#include <stdint.h>

#define LUN_CONF_MAX_LUNS	64
#define LUN_CONF_MAX_ACL	32
#define LUN_CONF_MAX_PORTALS	8
#define LUN_CONF_PREFIX		"shoal-"

struct lun_entry {
	uint32_t lun;
	char *volume;
	char *bsopts;
};

struct lun_target {
	char *iqn;
	uint32_t tid;
	int n_luns;
	struct lun_entry luns[LUN_CONF_MAX_LUNS];
	int n_addrs;
	char *addrs[LUN_CONF_MAX_ACL];		/* initiator-address; none means ALL */
	int n_names;
	char *names[LUN_CONF_MAX_ACL];		/* initiator-name */
	char *chap_user, *chap_secret;
	int n_portals;
	char *portals[LUN_CONF_MAX_PORTALS];	/* our own "#shoal-portal" lines */
};

/* DIR/shoal-<iqn>.conf, with ':' in the IQN kept (legal in file names). */
int lun_conf_path(char *buf, size_t len, const char *dir, const char *iqn);
/* 0, -ENOENT when there is no file, -EINVAL (err names file:line) when malformed. */
int lun_conf_read(const char *path, struct lun_target *t, char *err, size_t errlen);
/* Atomic (temporary file, fsync, rename, fsync of the directory), mode 0600: it may hold a CHAP secret. */
int lun_conf_write(const char *path, const struct lun_target *t, char *err, size_t errlen);
int lun_conf_remove(const char *path, char *err, size_t errlen);
void lun_target_free(struct lun_target *t);

/* Helpers to fill a lun_target; -1 when full or out of memory. */
int lun_target_add_lun(struct lun_target *t, uint32_t lun, const char *volume, const char *bsopts);
void lun_target_del_lun(struct lun_target *t, int idx);
int lun_str_push(char **v, int *n, int max, const char *s);

/*
 * Every fragment file in dir (sorted by name): paths[] get malloc'd full
 * paths.  Returns the count, 0 when dir is missing, -1 on error (err set).
 */
int lun_conf_scan(const char *dir, char ***paths, char *err, size_t errlen);

#endif
