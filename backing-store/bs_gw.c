/*
 * The one operation on an LU's state (bs_gw.h) that its files share:
 * waking tgtd's loop for gw_complete().  Calls nothing of the module.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "list.h"	/* tgt's, from $(TGT_SRC)/usr */
#include "util.h"
#include "tgtd.h"
#include "scsi.h"

#include "bs_gw.h"
#include "../lib/log.h"

void gw_kick(struct gw_lu *g)
{
	uint64_t one = 1;

	if (write(g->efd, &one, sizeof(one)) != sizeof(one))
		sl_err("bs_shoal: eventfd write failed: %s", strerror(errno));
}
