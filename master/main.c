/*
 * shoal-master: options, start-up and clean shutdown.
 *
 * Exit codes: 0 clean shutdown (SIGTERM/SIGINT) or --help; 1 start-up or
 * runtime failure (one line on stderr/syslog); 2 bad option.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "master.h"

#define MASTER_DEFAULT_LISTEN	"127.0.0.1:7300"

static struct sl_loop *signal_loop;	/* the one thing a signal handler may touch */

static void on_signal(int sig)
{
	(void)sig;
	if (signal_loop)
		sl_loop_stop(signal_loop);
}

/* "host:port" -> host part and port; 0 or -1. */
static int split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	if (!colon || colon == addr || (size_t)(colon - addr) >= hostlen)
		return -1;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p <= 0 || p > 65534)
		return -1;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = 0;
	*port = (int)p;
	return 0;
}

static int raft_addr_of(const char *svc, char *out, size_t outlen)
{
	char host[MASTER_ADDR_MAX - 16];
	int port;
	if (split_addr(svc, host, sizeof(host), &port))
		return -1;
	return snprintf(out, outlen, "%s:%d", host, port + 1) < (int)outlen ? 0 : -1;
}

/* Derives the node table from --masters / --listen / --id; one-line error into err. */
static int derive(struct master *m, struct rg_config *rc, char *err, size_t errlen)
{
	char host[MASTER_ADDR_MAX];
	int port;

	if (m->masters.n == 0) {
		m->nmasters = 1;
		snprintf(m->svc_addr[0], MASTER_ADDR_MAX, "%s", m->listen[0] ? m->listen : MASTER_DEFAULT_LISTEN);
		if (m->id != 1) {
			snprintf(err, errlen, "--id %lld: without --masters the only node is 1", (long long)m->id);
			return -1;
		}
	} else {
		if (m->masters.n > RG_MAX_NODES) {
			snprintf(err, errlen, "--masters: at most %d masters", RG_MAX_NODES);
			return -1;
		}
		if (m->id > m->masters.n) {
			snprintf(err, errlen, "--id %lld: --masters lists only %d masters", (long long)m->id, m->masters.n);
			return -1;
		}
		m->nmasters = m->masters.n;
		for (int i = 0; i < m->nmasters; i++) {
			if (strlen(m->masters.v[i]) >= MASTER_ADDR_MAX ||
			    split_addr(m->masters.v[i], host, sizeof(host), &port)) {
				snprintf(err, errlen, "--masters: bad address '%s' (want host:port)", m->masters.v[i]);
				return -1;
			}
			snprintf(m->svc_addr[i], MASTER_ADDR_MAX, "%s", m->masters.v[i]);
		}
		if (m->listen[0] && strcmp(m->listen, m->svc_addr[m->id - 1])) {
			snprintf(err, errlen, "--listen %s: node %lld is %s in --masters", m->listen,
				 (long long)m->id, m->svc_addr[m->id - 1]);
			return -1;
		}
	}
	m->self_addr = m->svc_addr[m->id - 1];
	if (split_addr(m->self_addr, host, sizeof(host), &port)) {
		snprintf(err, errlen, "--listen: bad address '%s' (want host:port)", m->self_addr);
		return -1;
	}
	memset(rc, 0, sizeof(*rc));
	rc->id = m->id;
	rc->n = m->nmasters;
	for (int i = 0; i < m->nmasters; i++)
		raft_addr_of(m->svc_addr[i], rc->raft_addr[i], sizeof(rc->raft_addr[i]));
	if (m->raft_listen[0]) {
		if (split_addr(m->raft_listen, host, sizeof(host), &port)) {
			snprintf(err, errlen, "--raft-listen: bad address '%s' (want host:port)", m->raft_listen);
			return -1;
		}
		if (m->nmasters == 1)	/* alone: peers derive nothing from it */
			snprintf(rc->raft_addr[0], sizeof(rc->raft_addr[0]), "%s", m->raft_listen);
		rc->bind_addr = m->raft_listen;
	} else {
		rc->bind_addr = rc->raft_addr[m->id - 1];
	}
	rc->data_dir = m->data_dir;
	rc->election_ms = m->election_timeout_ms;
	rc->heartbeat_ms = m->election_timeout_ms / 6 > 10 ? m->election_timeout_ms / 6 : 10;
	return 0;
}

/* ---- FSM hooks for raft_glue ---- */

static uint64_t fsm_apply_hook(void *arg, const void *buf, size_t len)
{
	return fsm_apply(((struct master *)arg)->fsm, buf, len);
}

static int fsm_snapshot_hook(void *arg, void **buf, size_t *len)
{
	struct wbuf w;
	wbuf_init(&w);
	if (fsm_snapshot(((struct master *)arg)->fsm, &w)) {
		wbuf_free(&w);
		return -1;
	}
	*buf = w.p;
	*len = w.len;
	return 0;
}

static int fsm_restore_hook(void *arg, const void *buf, size_t len)
{
	struct master *m = arg;
	int rv = fsm_restore(m->fsm, buf, len);
	if (!rv)
		sl_info("restored snapshot: %u volumes, %u chunks, %u chunkservers",
			m->fsm->vols.count, m->fsm->chunks.count, m->fsm->css.count);
	return rv;
}

static void closed_cb(void *arg)
{
	*(bool *)arg = true;
}

int main(int argc, char **argv)
{
	struct master m = {
		.id = 1,
		.lease_ms = 5000,
		.gw_lease_ms = 3000,
		.heartbeat_ms = 1000,
		.cs_timeout_ms = 5000,
		.election_timeout_ms = 500,
		.repl_max_per_server = 2,
		.repl_max_cluster = 32,
		.repl_rate_mb = 0,
		.repl_timeout_ms = 60000,
		.disk_full_percent = 90,
	};
	m.listen = "";
	m.raft_listen = "";
	m.data_dir = "/var/lib/shoal/master";
	m.log_level = "info";
	const struct sl_option opts[] = {
		{ "id", SL_OPT_INT, &m.id, "this master's position in --masters (Raft id)", 1, RG_MAX_NODES },
		{ "listen", SL_OPT_STR, &m.listen, "service address host:port (empty: entry --id of --masters, or " MASTER_DEFAULT_LISTEN ")", 0, 0 },
		{ "raft_listen", SL_OPT_STR, &m.raft_listen, "Raft address host:port (empty: service port + 1)", 0, 0 },
		{ "data_dir", SL_OPT_STR, &m.data_dir, "Raft log and snapshots", 0, 0 },
		{ "masters", SL_OPT_LIST, &m.masters, "service addresses of all masters, node i = position i (also in section cluster)", 0, 0 },
		{ "lease_ms", SL_OPT_INT, &m.lease_ms, "primary lease length (ms)", 100, 600000 },
		{ "gateway_lease_ms", SL_OPT_INT, &m.gw_lease_ms, "gateway session lease: a silent gateway's writes are refused after this (ms)", 500, 60000 },
		{ "heartbeat_ms", SL_OPT_INT, &m.heartbeat_ms, "chunkserver heartbeat interval (ms)", 50, 60000 },
		{ "cs_timeout_ms", SL_OPT_INT, &m.cs_timeout_ms, "chunkserver marked down after this silence (ms)", 100, 3600000 },
		{ "election_timeout_ms", SL_OPT_INT, &m.election_timeout_ms, "Raft election timeout (ms; Raft heartbeat = 1/6)", 100, 60000 },
		{ "replication_max_per_server", SL_OPT_INT, &m.repl_max_per_server, "re-replication copies at once per chunkserver (as source or target)", 1, 1024 },
		{ "replication_max_cluster", SL_OPT_INT, &m.repl_max_cluster, "re-replication copies at once in the cluster", 1, 65536 },
		{ "replication_rate", SL_OPT_INT, &m.repl_rate_mb, "re-replication data started per second in the cluster (MiB/s; 0: unlimited)", 0, 1048576 },
		{ "replication_timeout_ms", SL_OPT_INT, &m.repl_timeout_ms, "a copy not finished in this time is abandoned and retried (ms)", 1000, 3600000 },
		{ "disk_full_percent", SL_OPT_INT, &m.disk_full_percent, "never copy a replica onto a disk filled beyond this (percent)", 1, 100 },
		{ "log_level", SL_OPT_STR, &m.log_level, "error, warn, info or debug", 0, 0 },
		{ "syslog", SL_OPT_BOOL, &m.syslog, "log to syslog instead of stderr", 0, 0 },
		{ NULL, 0, NULL, NULL, 0, 0 },
	};
	struct rg_config rc;
	char err[512];
	int rv, ret = 1;
	bool closed = false;

	rv = sl_config_load("master", opts, argc, argv, "shoal-master [OPTIONS]", NULL, err, sizeof(err));
	if (rv == 1)
		return 0;
	if (rv < 0) {
		fprintf(stderr, "shoal-master: %s\n", err);
		return 2;
	}
	int level = sl_log_level_parse(m.log_level);
	if (level < 0) {
		fprintf(stderr, "shoal-master: --log-level: unknown level '%s' (error, warn, info, debug)\n", m.log_level);
		sl_config_free(opts);
		return 2;
	}
	if (derive(&m, &rc, err, sizeof(err))) {
		fprintf(stderr, "shoal-master: %s\n", err);
		sl_config_free(opts);
		return 2;
	}
	if (m.cs_timeout_ms <= m.heartbeat_ms) {
		fprintf(stderr, "shoal-master: --cs-timeout-ms must be larger than --heartbeat-ms\n");
		sl_config_free(opts);
		return 2;
	}
	char ident[32];
	snprintf(ident, sizeof(ident), "shoal-master[%lld]", (long long)m.id);
	sl_log_open(ident, level, m.syslog);

	/* libuv/libraft write to peers that may be dead (master-ha.md 3.9.1). */
	signal(SIGPIPE, SIG_IGN);

	m.lc.lease_ms = m.lease_ms;
	m.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	m.fsm = fsm_new();
	m.loop = sl_loop_new();
	m.repl = repl_new((uint32_t)m.repl_max_cluster);
	if (!m.fsm || !m.loop || !m.repl || m_session_init(&m)) {
		sl_err("out of memory");
		goto out;
	}
	sl_timer_init(&m.tick, m_service_tick, &m);
	m.srv = sl_server_listen(m.loop, m.self_addr, m_service_request, &m);
	if (!m.srv) {
		sl_err("cannot listen on %s", m.self_addr);
		goto out;
	}
	const struct rg_fsm_ops ops = {
		.apply = fsm_apply_hook,
		.snapshot = fsm_snapshot_hook,
		.restore = fsm_restore_hook,
		.on_ready = m_service_on_ready,
		.on_lost = m_service_on_lost,
		.arg = &m,
	};
	m.rg = rg_start(m.loop, &rc, &ops, err, sizeof(err));
	if (!m.rg) {
		sl_err("%s", err);
		goto out;
	}
	sl_info("node %lld of %d: service %s, raft %s, data %s", (long long)m.id, m.nmasters,
		m.self_addr, rc.bind_addr, m.data_dir);

	signal_loop = m.loop;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	rv = sl_loop_run(m.loop);
	if (rv) {
		sl_err("event loop: %s", strerror(-rv));
		goto out;
	}
	sl_info("shutting down");
	ret = 0;
out:
	if (m.rg) {
		/* raft_close, then keep the loop turning until it is done (bounded). */
		m.closing = true;
		rg_close(m.rg, closed_cb, &closed);
		for (int i = 0; i < 500 && !closed; i++)
			sl_loop_run_once(m.loop, 10);
		rg_free(m.rg);
	}
	if (m.srv)
		sl_server_close(m.srv);
	if (m.loop)
		sl_loop_free(m.loop);
	fsm_free(m.fsm);
	repl_free(m.repl);
	m_session_free(&m);
	sl_config_free(opts);
	return ret;
}
