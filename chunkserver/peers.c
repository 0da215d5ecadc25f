/*
 * Connections to peer chunkservers (forwarded writes, set-version rounds,
 * repair reads, copies, digests): one per address, opened on first use
 * and kept until exit; it outlives TCP (lib/rpc.h: an outgoing connection
 * reconnects with backoff).  Calls nothing else of the chunkserver.
 */
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"

struct sl_conn *cs_peer_conn(struct chunkserver *cs, const char *addr)
{
	struct cs_peer *p;

	for (p = cs->peers; p; p = p->next)
		if (!strcmp(p->addr, addr))
			return p->conn;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->addr = strdup(addr);
	p->conn = sl_conn_connect(cs->loop, addr, NULL);
	if (!p->addr || !p->conn) {
		free(p->addr);
		free(p);
		return NULL;
	}
	p->next = cs->peers;
	cs->peers = p;
	return p->conn;
}

void cs_peers_close(struct chunkserver *cs)
{
	struct cs_peer *p, *n;

	for (p = cs->peers; p; p = n) {
		n = p->next;
		sl_conn_close(p->conn);
		free(p->addr);
		free(p);
	}
	cs->peers = NULL;
}
