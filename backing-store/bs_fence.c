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

void gw_fence_lost(void *arg)
{
	struct gw_lu *g = arg;

	if (g->drop_pending)
		return;
	g->drop_pending = true;
	sl_warn("bs_shoal: %s: gateway session lost (this gateway was paused or cut off): failing the commands it holds and dropping its initiators' connections (once those commands are answered)",
		g->conf.volume);
	gw_kick(g);
}

static bool draining(const struct gw_lu *g, uint64_t itn)
{
	for (unsigned int i = 0; i < g->ndrain; i++)
		if (g->drain[i] == (uint16_t)itn)
			return true;
	return false;
}

bool gw_fence_refuse(struct gw_lu *g, uint64_t itn)
{
	return g->drop_pending || sl_client_blocked(g->client) || draining(g, itn);
}

/* Closes every connection of the sessions TSIH[0..n); returns how many. */
static unsigned int close_sessions(const uint16_t *tsih, unsigned int n)
{
	unsigned int i, closed = 0;

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
	return closed;
}

/* DRAINING ends (tgtd's work timer). */
static void close_drained(void *arg)
{
	struct gw_lu *g = arg;
	unsigned int closed;

	g->close_armed = false;
	closed = close_sessions(g->drain, g->ndrain);
	sl_warn("bs_shoal: %s: the commands held when the session was lost are answered: closed %u iSCSI "
		"connection(s) of %u session(s)", g->conf.volume, closed, g->ndrain);
	g->ndrain = 0;
}

void gw_fence_answered(struct gw_lu *g, uint64_t epoch)
{
	if (epoch >= g->fence_epoch || !g->held_at_drop || --g->held_at_drop || !g->ndrain || g->close_armed)
		return;
	g->close_work.func = close_drained;
	g->close_work.data = g;
	g->close_armed = true;
	add_work(&g->close_work, 1);
}

void gw_fence_stop(struct gw_lu *g)
{
	if (g->close_armed)
		del_work(&g->close_work);
	g->close_armed = false;
	g->ndrain = 0;
}

void gw_fence_drop(struct gw_lu *g)
{
	struct target *t = g->lu->tgt;
	uint16_t tsih[GW_DRAIN_MAX];
	unsigned int n = 0, i, closed;
	struct it_nexus *itn;

	if (!g->drop_pending)
		return;
	/* Collect first: closing a session's last connection frees its nexus. */
	if (t)
		list_for_each_entry(itn, &t->it_nexus_list, nexus_siblings)
			if (n < GW_DRAIN_MAX)
				tsih[n++] = (uint16_t)itn->itn_id;
	g->fence_epoch++;
	g->held_at_drop = g->submitted - g->completed;
	g->drop_pending = false;
	sl_client_resume(g->client);
	if (!g->held_at_drop || g->ndrain + n > GW_DRAIN_MAX) {
		closed = close_sessions(tsih, n);
		sl_warn("bs_shoal: %s: closed %u iSCSI connection(s) of %u session(s); serving again under a new gateway session",
			g->conf.volume, closed, n);
		return;
	}
	for (i = 0; i < n; i++)
		if (!draining(g, tsih[i]))
			g->drain[g->ndrain++] = tsih[i];
	sl_warn("bs_shoal: %s: serving again under a new gateway session; the %u session(s) connected then are "
		"refused every new command, and closed once the %llu command(s) they hold are answered",
		g->conf.volume, n, (unsigned long long)g->held_at_drop);
}
