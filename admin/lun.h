/*
 * LUN provisioning on a gateway host: the commands (cmd_lun.c) over the
 * saved fragments (lun_conf.c) and the live tgtd (tgtadm.c, lun_apply.c).
 */
#ifndef SHOAL_ADMIN_LUN_H
#define SHOAL_ADMIN_LUN_H

#include <stdbool.h>
#include "lun_conf.h"
#include "tgtadm.h"

/*
 * Brings tgtd in line with t (portals, target, account, LUNs, ACL).
 * *created tells whether the target was made now (for rollback).  Returns an
 * AX_* code; on failure tg->err holds the reason.
 */
int lun_apply(struct tgtadm *tg, const struct tgt_state *st, const struct lun_target *t, bool *created);
int lun_delete_target(struct tgtadm *tg, uint32_t tid, bool force);
int lun_delete_lun(struct tgtadm *tg, uint32_t tid, uint32_t lun);

#endif
