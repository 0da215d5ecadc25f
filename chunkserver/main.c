/*
 * shoal-chunkserver: stores chunk replicas on its data directories, serves
 * CS_* requests, and acts as primary for the chunks the master leases it.
 *
 * Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 start-up failure (a data
 * directory, the listen address, the event loop), 2 bad option or config.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "chunkserver.h"
#include "gw_session.h"
#include "op_record.h"
#include "integrity.h"
#include "log.h"
#include "malloc_tune.h"
#include "status.h"

static const char usage[] =
	"shoal-chunkserver [--config FILE] [OPTION]...\n"
	"Store Shoal chunk replicas and serve them to clients and peers.\n";

static void on_signal(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct chunkserver *cs = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		sl_info("signal %u: stopping", si.ssi_signo);
		sl_loop_stop(cs->loop);
	}
}

/*
 * Lazily clear dirty-region bits: every clean_ms, each chunk's regions idle
 * for that whole interval (cs_chunk_clean).  Every tick (a second at most),
 * past dirty_limit_mb of dirty regions on this server, busy chunks are
 * cleaned too (force) until the rest fits: the limit bounds what a crash
 * leaves to recompute at the next start, so it cannot wait for clean_ms.
 */
#define CLEAN_TICK_MS 1000

static uint64_t clean_tick_ms(const struct chunkserver *cs)
{
	return cs->o.clean_ms < CLEAN_TICK_MS ? (uint64_t)cs->o.clean_ms : CLEAN_TICK_MS;
}

static void clean_tick(struct sl_timer *t, void *arg)
{
	struct chunkserver *cs = arg;
	uint64_t dirty = 0, limit = (uint64_t)cs->o.dirty_limit_mb << 20, now = sl_now_ms();
	bool idle_pass = now >= cs->next_idle_clean_ms;
	struct cs_chunk *ch;
	int i;

	if (idle_pass)
		cs->next_idle_clean_ms = now + (uint64_t)cs->o.clean_ms;
	cs_disks_hung_check(&cs->disks, cs->aio, (uint64_t)cs->o.disk_timeout_ms);
	for (i = 0; i < cs->disks.n; i++) {
		list_for_each_entry(ch, &cs->disks.d[i].chunks, link) {
			if (idle_pass)
				cs_chunk_clean(ch, false);
			dirty += cs_chunk_dirty_bytes(ch);
		}
	}
	for (i = 0; i < cs->disks.n && dirty > limit; i++) {
		list_for_each_entry(ch, &cs->disks.d[i].chunks, link) {
			uint64_t before = cs_chunk_dirty_bytes(ch);

			if (!before)
				continue;
			cs_chunk_clean(ch, true);
			/* counted as cleaned now: its bits go once its meta pages are durable */
			dirty -= before;
			if (dirty <= limit)
				break;
		}
	}
	sl_timer_arm(cs->loop, &cs->clean_timer, clean_tick_ms(cs));
}

/* On a clean stop every dirty bit is cleared, so the next start recovers nothing. */
static void settle_all(struct chunkserver *cs)
{
	uint64_t deadline = sl_now_ms() + 10000;
	bool busy = true;
	int i;

	while (busy && sl_now_ms() < deadline) {
		busy = cs_aio_in_flight(cs->aio) > 0;
		for (i = 0; i < cs->disks.n; i++) {
			struct cs_chunk *ch;

			list_for_each_entry(ch, &cs->disks.d[i].chunks, link) {
				if (cs_chunk_clean(ch, true) || !cs_chunk_idle(ch))
					busy = true;
			}
		}
		if (busy)
			cs_aio_reap(cs->aio, 50);
	}
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct chunkserver *cs = calloc(1, sizeof(*cs));
	char err[512];
	int level, r, rc = 1;
	sigset_t mask;

	sl_malloc_tune_for_io();
	if (!cs)
		return 1;
	/* string defaults are literals: sl_config_load copies them to the heap */
	cs->o.listen = (char *)"127.0.0.1:7400";
	cs->o.log_level = (char *)"info";
	cs->o.foreground = true;
	cs->o.aio_depth = 512;
	cs->o.rpc_timeout_ms = 5000;
	cs->o.clean_ms = 300000;
	cs->o.dirty_limit_mb = 4096;
	cs->o.disk_timeout_ms = 10000;
	cs->o.group_flush = true;
	cs->o.scrub_rate = 4 << 20;
	cs->o.scrub_interval_s = 7 * 86400;
	const struct sl_option opts[] = {
		{ "listen", SL_OPT_STR, &cs->o.listen, "address to serve on (host:port)" },
		{ "advertise", SL_OPT_STR, &cs->o.advertise, "address given to the master and peers (default: --listen)" },
		{ "data_dirs", SL_OPT_LIST, &cs->o.data_dirs, "data directories, one per disk (required)" },
		{ "masters", SL_OPT_LIST, &cs->o.masters, "master service addresses (also from section cluster)" },
		{ "host", SL_OPT_STR, &cs->o.host, "failure-domain label: host" },
		{ "rack", SL_OPT_STR, &cs->o.rack, "failure-domain label: rack" },
		{ "log_level", SL_OPT_STR, &cs->o.log_level, "error, warn, info or debug" },
		{ "syslog", SL_OPT_BOOL, &cs->o.syslog, "log to syslog instead of stderr" },
		{ "foreground", SL_OPT_BOOL, &cs->o.foreground, "stay in the foreground (always; there is no daemon mode)" },
		{ "aio_depth", SL_OPT_INT, &cs->o.aio_depth, "kernel AIO queue depth", 16, 65536 },
		{ "rpc_timeout_ms", SL_OPT_INT, &cs->o.rpc_timeout_ms, "timeout of one call to a peer or the master", 100, 600000 },
		{ "group_flush", SL_OPT_BOOL, &cs->o.group_flush, "share one data-file flush among concurrent writes" },
		{ "scrub_rate", SL_OPT_INT, &cs->o.scrub_rate, "background scrub rate in bytes/s (0: off)", 0, 1ll << 40 },
		{ "scrub_interval", SL_OPT_INT, &cs->o.scrub_interval_s, "seconds from the end of one scrub pass to the next", 0, 365ll * 86400 },
		{ "disk_timeout_ms", SL_OPT_INT, &cs->o.disk_timeout_ms, "a disk with a request unanswered this long is failed (ms; 0: never)", 0, 600000 },
		{ "clean_ms", SL_OPT_INT, &cs->o.clean_ms, "a dirty region idle this long is cleaned (ms)", 10, 600000 },
		{ "dirty_limit_mb", SL_OPT_INT, &cs->o.dirty_limit_mb, "dirty regions kept per server before busy ones are cleaned (MiB)", 1, 1ll << 30 },
		{ NULL },
	};

	r = sl_config_load("chunkserver", opts, argc, argv, usage, NULL, err, sizeof(err));
	if (r == 1) {
		rc = 0;
		goto out_opts;
	}
	if (r < 0) {
		fprintf(stderr, "shoal-chunkserver: %s\n", err);
		rc = 2;
		goto out_opts;
	}
	level = sl_log_level_parse(cs->o.log_level);
	if (level < 0) {
		fprintf(stderr, "shoal-chunkserver: --log-level: unknown level '%s' (error, warn, info, debug)\n",
			cs->o.log_level);
		rc = 2;
		goto out_opts;
	}
	if (cs->o.data_dirs.n == 0) {
		fprintf(stderr, "shoal-chunkserver: --data-dirs: at least one directory is required\n");
		rc = 2;
		goto out_opts;
	}
	{
		struct sockaddr_in sa;

		if (sl_parse_addr(cs->o.listen, &sa, true) < 0 ||
		    (cs->o.advertise && cs->o.advertise[0] && sl_parse_addr(cs->o.advertise, &sa, false) < 0)) {
			fprintf(stderr, "shoal-chunkserver: --%s: '%s' is not host:port\n",
				sl_parse_addr(cs->o.listen, &sa, true) < 0 ? "listen" : "advertise",
				sl_parse_addr(cs->o.listen, &sa, true) < 0 ? cs->o.listen : cs->o.advertise);
			rc = 2;
			goto out_opts;
		}
	}
	if (!sl_label_valid(cs->o.host) || !sl_label_valid(cs->o.rack)) {
		bool h = !sl_label_valid(cs->o.host);

		fprintf(stderr, "shoal-chunkserver: --%s: '%s' is not a label (at most %d of A-Z a-z 0-9 . _ -)\n",
			h ? "host" : "rack", h ? cs->o.host : cs->o.rack, SL_LABEL_MAX);
		rc = 2;
		goto out_opts;
	}
	sl_log_open("shoal-chunkserver", level, cs->o.syslog);
	cs->addr = cs->o.advertise && cs->o.advertise[0] ? cs->o.advertise : cs->o.listen;
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	cs->loop = sl_loop_new();
	cs->aio = cs->loop ? cs_aio_new((unsigned int)cs->o.aio_depth) : NULL;
	cs->gws = cs_gws_new();
	cs->recs = cs_rec_new();
	if (!cs->aio || !cs->gws || !cs->recs) {
		sl_err("cannot set up the event loop or AIO: %s", strerror(errno));
		goto out_loop;
	}
	cs->env.aio = cs->aio;
	cs->env.io_error = cs_disks_io_error;
	cs->env.group_flush = cs->o.group_flush;
	cs->env.arg = &cs->disks;
	if (cs_disks_open(&cs->disks, &cs->o.data_dirs, &cs->env, err, sizeof(err))) {
		/* one line on stderr (a data directory refused, e.g. its filesystem) */
		if (cs->o.syslog)
			sl_err("%s", err);
		fprintf(stderr, "shoal-chunkserver: %s\n", err);
		goto out_disks;
	}
	if (cs_aio_attach(cs->aio, cs->loop))
		goto out_disks;
	cs->srv = sl_server_listen(cs->loop, cs->o.listen, cs_on_request, cs);
	if (!cs->srv) {
		fprintf(stderr, "shoal-chunkserver: --listen: cannot listen on %s\n", cs->o.listen);
		goto out_disks;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	cs->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (cs->sig_fd < 0 || sl_loop_add_fd(cs->loop, cs->sig_fd, EPOLLIN, on_signal, cs))
		goto out_srv;
	sl_timer_init(&cs->clean_timer, clean_tick, cs);
	cs->next_idle_clean_ms = sl_now_ms() + (uint64_t)cs->o.clean_ms;
	sl_timer_arm(cs->loop, &cs->clean_timer, clean_tick_ms(cs));
	if (cs_master_start(cs) || cs_scrub_start(cs))
		goto out_srv;
	sl_info("serving on %s (advertised %s), %d data dir(s), %llu replicas", cs->o.listen, cs->addr,
		cs->disks.n, (unsigned long long)cs->disks.nchunks);

	r = sl_loop_run(cs->loop);
	rc = r < 0 ? 1 : 0;

	cs_master_stop(cs);
	sl_timer_cancel(cs->loop, &cs->clean_timer);
	sl_loop_del_fd(cs->loop, cs->sig_fd);
	close(cs->sig_fd);
out_srv:
	sl_server_close(cs->srv);
	cs_peers_close(cs);
out_disks:
	if (cs->aio) {
		cs_aio_detach(cs->aio);
		settle_all(cs);
	}
	cs_primary_free_all(cs);
	cs_scrub_stop(cs);
	cs_disks_close(&cs->disks);
out_loop:
	cs_gws_free(cs->gws);
	cs_rec_free(cs->recs);
	cs_aio_free(cs->aio);
	if (cs->loop)
		sl_loop_free(cs->loop);
	if (rc == 0)
		sl_info("stopped");
out_opts:
	sl_config_free(opts);
	free(cs);
	return rc;
}
