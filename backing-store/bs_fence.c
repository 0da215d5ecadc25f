/* Dropping the initiators of a gateway that lost its session: see bs_fence.h. */
#include <stdint.h>
#include <stdlib.h>

#include "list.h"	/* tgt's, from $(TGT_SRC)/usr */
#include "util.h"
#include "tgtd.h"
#include "scsi.h"
#include "target.h"
#include "iscsi/iscsid.h"

#include "bs_gw.h"
#include "bs_fence.h"
#include "../lib/client.h"
#include "../lib/log.h"

#define GW_FENCE_MAX_SESSIONS	1024

void gw_fence_lost(void *arg)
{
	struct gw_lu *g = arg;

	if (g->drop_pending)
		return;
	g->drop_pending = true;
	sl_warn("bs_shoal: %s: gateway session lost (this gateway was paused or cut off): failing the commands it holds and dropping its initiators' connections",
		g->conf.volume);
	gw_kick(g);
}

bool gw_fence_refuse(struct gw_lu *g)
{
	return g->drop_pending || sl_client_blocked(g->client);
}

void gw_fence_drop(struct gw_lu *g)
{
	struct target *t = g->lu->tgt;
	uint16_t tsih[GW_FENCE_MAX_SESSIONS];
	unsigned int n = 0, i, closed = 0;
	struct it_nexus *itn;

	if (!g->drop_pending)
		return;
	/* Collect first: closing a session's last connection frees its nexus. */
	if (t)
		list_for_each_entry(itn, &t->it_nexus_list, nexus_siblings)
			if (n < GW_FENCE_MAX_SESSIONS)
				tsih[n++] = (uint16_t)itn->itn_id;
	for (i = 0; i < n; i++) {
		struct iscsi_session *sess = session_lookup_by_tsih(tsih[i]);
		struct iscsi_connection *conn, *next;

		if (!sess)
			continue;
		session_get(sess);
		list_for_each_entry_safe(conn, next, &sess->conn_list, clist) {
			conn_close(conn);
			closed++;
		}
		session_put(sess);
	}
	g->drop_pending = false;
	sl_client_resume(g->client);
	sl_warn("bs_shoal: %s: closed %u iSCSI connection(s) of %u session(s); serving again under a new gateway session",
		g->conf.volume, closed, n);
}
