/*
 * The volume client's connections to chunkservers: one per address,
 * opened on first use and kept until the client is freed (client.c), with
 * the deferred reset that drops one nothing was heard on (Q3, client_io.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client_int.h"
#include "log.h"

static void link_reset(struct sl_defer *d, void *arg)
{
	struct sl_cs_link *l = arg;

	(void)d;
	sl_conn_reset(l->conn, "nothing received since a request timed out");
}

struct sl_cs_link *sl_client_link(struct sl_client *c, const char *addr)
{
	struct sl_cs_link *l;
	struct sl_conn_opts o = { .connect_timeout_ms = 1000, .backoff_min_ms = 20, .backoff_max_ms = 1000 };

	if (strlen(addr) >= SL_CLIENT_ADDR_MAX)
		return NULL;
	list_for_each_entry(l, &c->links, node)
		if (!strcmp(l->addr, addr))
			return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	sl_defer_init(&l->reset, link_reset, l);
	l->conn = sl_conn_connect(c->loop, addr, &o);
	if (!l->conn) {
		sl_warn("client: bad chunkserver address '%s'", addr);
		free(l);
		return NULL;
	}
	list_add_tail(&l->node, &c->links);
	return l;
}
