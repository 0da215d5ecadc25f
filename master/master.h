/*
 * The master's one context struct: options, the loop, the RPC server, the
 * Raft glue, the FSM and the leader's soft state.
 */
#ifndef SHOAL_MASTER_MASTER_H
#define SHOAL_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "evloop.h"
#include "rpc.h"
#include "fsm.h"
#include "gw_session.h"
#include "list.h"
#include "lease.h"
#include "raft_glue.h"
#include "replication.h"

#define MASTER_ADDR_MAX (CS_ADDR_MAX + 1)	/* cs_addr_acceptable takes the svc_addr rows */

struct master {
	/* options (main.c) */
	int64_t id;
	char *listen;
	char *raft_listen;
	char *data_dir;
	struct sl_str_list masters;
	int64_t lease_ms, heartbeat_ms, cs_timeout_ms, election_timeout_ms, gw_lease_ms;
	int64_t repl_max_per_server, repl_max_cluster, repl_rate_mb, repl_timeout_ms;
	int64_t disk_full_percent;
	char *log_level;
	bool syslog;

	/* derived */
	int nmasters;
	char svc_addr[RG_MAX_NODES][MASTER_ADDR_MAX];	/* node i+1's service address */
	const char *self_addr;

	struct sl_loop *loop;
	struct sl_server *srv;
	struct raft_glue *rg;
	struct fsm *fsm;

	/* leader soft state */
	struct lease_clock lc;		/* wait_until = ready time + lease_ms + leader-lease window */
	uint64_t ready_ms;		/* when this leader became ready */
	uint64_t rng;			/* placement */
	struct sl_timer tick;		/* chunkserver liveness, re-replication */
	struct repl *repl;		/* replication.h */
	struct gws_table gws;		/* gateway sessions (gw_session.h, m_session.c) */
	struct list_head gw_closes;	/* GW_CLOSE requests waiting for their fence time */
	struct sl_timer gw_timer;
	uint64_t ops_pending;
	bool closing;
};

/*
 * A server not heard from for this long is silent: stopped, paused or cut
 * off, long before cs_timeout_ms marks it down (maintenance.h M1b, the
 * choice of a primary in lease.h).
 */
static inline uint64_t master_silence_ms(const struct master *m)
{
	return (uint64_t)m->heartbeat_ms * 3 / 2;
}

/* m_service.c */
void m_service_request(struct sl_conn *c, const struct sl_msg *req, void *arg);
void m_service_on_ready(void *arg);
void m_service_on_lost(void *arg);
void m_service_tick(struct sl_timer *t, void *arg);

/* m_session.c: gateway sessions */
int m_session_init(struct master *m);
void m_session_free(struct master *m);
void m_session_on_ready(struct master *m, uint64_t term);
void m_session_on_lost(struct master *m);
void m_session_tick(struct master *m);

#endif
