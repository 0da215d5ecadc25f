/*
 * master_load: drives a real shoal-master over RPC for tests and the
 * allocation benchmark.  It can stand in for chunkservers (fake neighbours:
 * they register and heartbeat, they store nothing), create volumes,
 * allocate chunks through M_LOOKUP for_write, and fetch dumps and status.
 *
 *   master_load --masters A[,B,..] COMMAND [options]
 *     populate --volumes N --chunks M [--servers S] [--batch B] [--prefix P]
 *     create --volumes N --prefix P [--out FILE]   (acked names appended to FILE)
 *     bench --chunks N [--servers S] [--batch B] [--steps a,b,c] [--pid PID]
 *     dump                     print the leader's M_DUMP text
 *     wait-serving [--timeout-ms T]   ms until some master serves (VOLUME_LIST)
 *     leader                   the leader's service address
 *     status                   M_MASTER_STATUS of the first master listed
 *
 * Exit: 0 ok, 1 operation failed (one line on stderr), 2 bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "evloop.h"
#include "log.h"
#include "master_client.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define DEADLINE_MS	20000
#define MAX_FAKE_CS	16

struct load {
	struct sl_loop *loop;
	struct sl_master_client *mc;
	struct sl_str_list masters;
	int servers;
	uint64_t cs_ids[MAX_FAKE_CS];
	uint64_t last_hb;
	uint64_t hb_ms;
};

static int die2(const char *msg, const char *arg)
{
	fprintf(stderr, "master_load: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
	exit(2);
}

static int call(struct load *l, uint16_t type, const ProtobufCMessage *msg, ProtobufCMessage **rep)
{
	return sl_master_call_sync(l->mc, type, msg, DEADLINE_MS, rep);
}

static void fake_disk(Shoal__DiskStatus *d, int i)
{
	shoal__disk_status__init(d);
	d->index = 0;
	d->path = "/fake";
	d->capacity = (1ull << 50) + ((uint64_t)i << 40);	/* room for anything */
	d->used = 0;
}

static int register_servers(struct load *l)
{
	for (int i = 0; i < l->servers; i++) {
		Shoal__RegisterCsReq rq = SHOAL__REGISTER_CS_REQ__INIT;
		Shoal__DiskStatus d, *dp = &d;
		char addr[64], host[32], uuid[64];
		ProtobufCMessage *rep = NULL;
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", 18900 + i);
		snprintf(host, sizeof(host), "fakehost%d", i);
		snprintf(uuid, sizeof(uuid), "fake-%d-%d", (int)getpid(), i);
		fake_disk(&d, i);
		rq.addr = addr;
		rq.host = host;
		rq.rack = "";
		rq.uuid = uuid;
		rq.disks = &dp;
		rq.n_disks = 1;
		int st = call(l, SL_MSG_M_REGISTER_CS, &rq.base, &rep);
		if (st) {
			fprintf(stderr, "master_load: register fake chunkserver: %s\n", sl_status_str(st));
			return 1;
		}
		l->cs_ids[i] = ((Shoal__RegisterCsRep *)rep)->cs_id;
		l->hb_ms = ((Shoal__RegisterCsRep *)rep)->heartbeat_ms;
		sl_msg_free(rep);
	}
	l->last_hb = sl_now_ms();
	return 0;
}

/* Keeps the fake chunkservers alive between calls. */
static void heartbeat(struct load *l, bool force)
{
	if (!l->servers || (!force && sl_now_ms() - l->last_hb < l->hb_ms))
		return;
	for (int i = 0; i < l->servers; i++) {
		Shoal__HeartbeatReq rq = SHOAL__HEARTBEAT_REQ__INIT;
		Shoal__DiskStatus d, *dp = &d;
		ProtobufCMessage *rep = NULL;
		fake_disk(&d, i);
		rq.cs_id = l->cs_ids[i];
		rq.disks = &dp;
		rq.n_disks = 1;
		if (call(l, SL_MSG_M_HEARTBEAT, &rq.base, &rep) == SL_OK)
			sl_msg_free(rep);
	}
	l->last_hb = sl_now_ms();
}

static int create_volume(struct load *l, const char *name, uint64_t size, uint32_t *id)
{
	Shoal__VolumeCreateReq rq = SHOAL__VOLUME_CREATE_REQ__INIT;
	Shoal__DedupId d = SHOAL__DEDUP_ID__INIT;
	ProtobufCMessage *rep = NULL;
	sl_master_dedup(l->mc, &d);
	rq.dedup = &d;
	rq.name = (char *)name;
	rq.size = size;
	rq.replicas = l->servers >= 3 ? 3 : (l->servers ? l->servers : 3);
	int st = call(l, SL_MSG_M_VOLUME_CREATE, &rq.base, &rep);
	if (st) {
		fprintf(stderr, "master_load: create volume %s: %s\n", name, sl_status_str(st));
		return 1;
	}
	if (id)
		*id = ((Shoal__VolumeRep *)rep)->volume->id;
	sl_msg_free(rep);
	return 0;
}

static int alloc(struct load *l, uint32_t vol, uint64_t first, uint32_t count)
{
	Shoal__LookupReq rq = SHOAL__LOOKUP_REQ__INIT;
	Shoal__DedupId d = SHOAL__DEDUP_ID__INIT;
	ProtobufCMessage *rep = NULL;
	sl_master_dedup(l->mc, &d);
	rq.dedup = &d;
	rq.volume_id = vol;
	rq.first = first;
	rq.count = count;
	rq.for_write = true;
	int st;
	/*
	 * A new leader learns free space from heartbeats, and ours only go out
	 * between calls: on a refusal, heartbeat now and retry (bounded).
	 */
	for (int attempt = 0;; attempt++) {
		st = sl_master_call_sync(l->mc, SL_MSG_M_LOOKUP, &rq.base, 2000, &rep);
		if (st == SL_OK || attempt >= 30)
			break;
		heartbeat(l, true);
	}
	if (st) {
		fprintf(stderr, "master_load: lookup for_write vol %u [%" PRIu64 ",+%u): %s\n", vol, first,
			count, sl_status_str(st));
		return 1;
	}
	Shoal__LookupRep *r = (Shoal__LookupRep *)rep;
	int bad = r->n_chunks != count;
	for (size_t i = 0; i < r->n_chunks && !bad; i++)
		bad = !r->chunks[i]->chunk_id || !r->chunks[i]->primary || r->chunks[i]->n_replicas == 0;
	sl_msg_free(rep);
	if (bad) {
		fprintf(stderr, "master_load: lookup for_write vol %u: a chunk came back unallocated\n", vol);
		return 1;
	}
	return 0;
}

static long rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static int cmd_populate(struct load *l, int volumes, long chunks, int batch, const char *prefix)
{
	uint32_t *ids = calloc(volumes, sizeof(*ids));
	long per = (chunks + volumes - 1) / volumes;
	if (!ids || register_servers(l))
		return 1;
	for (int v = 0; v < volumes; v++) {
		char name[32];
		snprintf(name, sizeof(name), "%.20s%04d", prefix ? prefix : "vol", v);
		heartbeat(l, false);
		if (create_volume(l, name, (uint64_t)(per + 1) << 26, &ids[v]))
			return 1;
	}
	uint64_t t0 = sl_now_us();
	long done = 0;
	for (int v = 0; v < volumes && done < chunks; v++)
		for (long i = 0; i < per && done < chunks; i += batch) {
			uint32_t n = per - i < batch ? per - i : batch;
			if (n > chunks - done)
				n = chunks - done;
			heartbeat(l, false);
			if (alloc(l, ids[v], i, n))
				return 1;
			done += n;
		}
	double s = (sl_now_us() - t0) / 1e6;
	printf("populated %d volumes, %ld chunks in %.2f s (%.0f chunks/s)\n", volumes, done, s, done / s);
	free(ids);
	return 0;
}

static int cmd_create(struct load *l, int volumes, const char *prefix, const char *out)
{
	FILE *f = out ? fopen(out, "a") : NULL;
	if (out && !f) {
		fprintf(stderr, "master_load: --out %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (int v = 0; v < volumes; v++) {
		char name[64];
		snprintf(name, sizeof(name), "%.40s%05d", prefix, v);
		if (create_volume(l, name, 1ull << 30, NULL))
			return 1;
		if (f) {
			fprintf(f, "%s\n", name);
			fflush(f);
		}
	}
	if (f)
		fclose(f);
	return 0;
}

static int cmd_bench(struct load *l, long chunks, int batch, const char *steps, long pid)
{
	long marks[16];
	int nmarks = 0;
	char *s = strdup(steps), *tok, *save = NULL;
	for (tok = strtok_r(s, ",", &save); tok && nmarks < 16; tok = strtok_r(NULL, ",", &save))
		marks[nmarks++] = strtol(tok, NULL, 10);
	free(s);
	if (register_servers(l))
		return 1;
	uint32_t vol;
	char name[32];
	snprintf(name, sizeof(name), "bench%d", (int)getpid());
	if (create_volume(l, name, (uint64_t)chunks << 26, &vol))
		return 1;
	heartbeat(l, true);
	long base = pid ? rss_kb(pid) : -1;
	printf("%12s %14s %14s %12s %14s\n", "chunks", "alloc chunks/s", "step seconds", "master RSS", "bytes/chunk");
	printf("%12d %14s %14s %10ld K %14s\n", 0, "-", "-", base, "-");
	long done = 0;
	int m = 0;
	uint64_t t0 = sl_now_us();
	long done0 = 0;
	while (done < chunks && m < nmarks) {
		uint32_t n = batch;
		if (n > marks[m] - done)
			n = marks[m] - done;
		heartbeat(l, false);
		if (alloc(l, vol, done, n))
			return 1;
		done += n;
		if (done == marks[m]) {
			double sec = (sl_now_us() - t0) / 1e6;
			long rss = pid ? rss_kb(pid) : -1;
			printf("%12ld %14.0f %14.2f %10ld K %14.1f\n", done, (done - done0) / sec, sec, rss,
			       rss > 0 && base > 0 ? (rss - base) * 1024.0 / done : 0.0);
			fflush(stdout);
			m++;
			t0 = sl_now_us();
			done0 = done;
		}
	}
	return 0;
}

static int cmd_dump(struct load *l)
{
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	int st = call(l, SL_MSG_M_DUMP, &e.base, &rep);
	if (st) {
		fprintf(stderr, "master_load: dump: %s\n", sl_status_str(st));
		return 1;
	}
	fputs(((Shoal__DumpRep *)rep)->text, stdout);
	sl_msg_free(rep);
	return 0;
}

static int cmd_wait_serving(struct load *l, long timeout_ms)
{
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	uint64_t t0 = sl_now_ms();
	while (sl_now_ms() - t0 < (uint64_t)timeout_ms) {
		ProtobufCMessage *rep = NULL;
		int st = sl_master_call_sync(l->mc, SL_MSG_M_VOLUME_LIST, &e.base, 200, &rep);
		if (st == SL_OK) {
			sl_msg_free(rep);
			printf("%llu %s\n", (unsigned long long)(sl_now_ms() - t0), sl_master_leader(l->mc));
			return 0;
		}
	}
	fprintf(stderr, "master_load: no master served within %ld ms\n", timeout_ms);
	return 1;
}

static int cmd_leader(struct load *l)
{
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	int st = call(l, SL_MSG_M_CLUSTER_STATUS, &e.base, &rep);
	if (st) {
		fprintf(stderr, "master_load: cluster status: %s\n", sl_status_str(st));
		return 1;
	}
	printf("%s\n", ((Shoal__ClusterStatusRep *)rep)->leader_addr);
	sl_msg_free(rep);
	return 0;
}

static int cmd_status(struct load *l)
{
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	int st = call(l, SL_MSG_M_MASTER_STATUS, &e.base, &rep);
	if (st) {
		fprintf(stderr, "master_load: master status: %s\n", sl_status_str(st));
		return 1;
	}
	Shoal__MasterStatusRep *r = (Shoal__MasterStatusRep *)rep;
	const char *role = "?";
	for (size_t i = 0; i < r->n_nodes; i++)
		if (!strcmp(r->nodes[i]->addr, l->masters.v[0]))
			role = r->nodes[i]->role;
	printf("role=%s term=%" PRIu64 " commit=%" PRIu64 " applied=%" PRIu64 " snapshot=%" PRIu64 "\n",
	       role, r->term, r->commit_index, r->applied_index, r->last_snapshot_index);
	sl_msg_free(rep);
	return 0;
}

static long num_arg(const char *name, const char *v, long min, long max)
{
	char *end;
	if (!v)
		die2("missing value for", name);
	long x = strtol(v, &end, 10);
	if (*end || x < min || x > max)
		die2("bad value for", name);
	return x;
}

int main(int argc, char **argv)
{
	struct load l = { .servers = 3, .hb_ms = 1000 };
	const char *cmd = NULL, *prefix = NULL, *out = NULL, *steps = "10000,100000,1000000";
	long volumes = 1, chunks = 0, batch = 256, timeout_ms = 5000, pid = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--masters")) {
			char *s = strdup(v ? v : ""), *tok, *save = NULL;
			for (tok = strtok_r(s, ",", &save); tok && l.masters.n < SL_CONFIG_MAX_LIST;
			     tok = strtok_r(NULL, ",", &save))
				l.masters.v[l.masters.n++] = strdup(tok);
			free(s);
			i++;
		} else if (!strcmp(a, "--volumes")) {
			volumes = num_arg(a, v, 1, 100000), i++;
		} else if (!strcmp(a, "--chunks")) {
			chunks = num_arg(a, v, 0, 100000000), i++;
		} else if (!strcmp(a, "--servers")) {
			l.servers = num_arg(a, v, 1, MAX_FAKE_CS), i++;
		} else if (!strcmp(a, "--batch")) {
			batch = num_arg(a, v, 1, 1024), i++;
		} else if (!strcmp(a, "--timeout-ms")) {
			timeout_ms = num_arg(a, v, 1, 600000), i++;
		} else if (!strcmp(a, "--pid")) {
			pid = num_arg(a, v, 1, 1 << 30), i++;
		} else if (!strcmp(a, "--prefix") && v) {
			prefix = v, i++;
		} else if (!strcmp(a, "--out") && v) {
			out = v, i++;
		} else if (!strcmp(a, "--steps") && v) {
			steps = v, i++;
		} else if (a[0] != '-' && !cmd) {
			cmd = a;
		} else {
			die2("unknown argument", a);
		}
	}
	if (!cmd)
		die2("missing command (populate, create, bench, dump, wait-serving, leader, status)", NULL);
	if (!l.masters.n)
		die2("missing --masters", NULL);
	sl_log_open("master_load", SL_LOG_WARN, false);
	l.loop = sl_loop_new();
	l.mc = l.loop ? sl_master_client_new(l.loop, &l.masters) : NULL;
	if (!l.mc) {
		fprintf(stderr, "master_load: cannot set up the master client\n");
		return 1;
	}
	int rv;
	if (!strcmp(cmd, "populate"))
		rv = cmd_populate(&l, volumes, chunks, batch, prefix);
	else if (!strcmp(cmd, "create"))
		rv = cmd_create(&l, volumes, prefix ? prefix : "v", out);
	else if (!strcmp(cmd, "bench"))
		rv = cmd_bench(&l, chunks, batch, steps, pid);
	else if (!strcmp(cmd, "dump"))
		rv = cmd_dump(&l);
	else if (!strcmp(cmd, "wait-serving"))
		rv = cmd_wait_serving(&l, timeout_ms);
	else if (!strcmp(cmd, "leader"))
		rv = cmd_leader(&l);
	else if (!strcmp(cmd, "status"))
		rv = cmd_status(&l);
	else
		rv = die2("unknown command", cmd);
	sl_master_client_free(l.mc);
	sl_loop_free(l.loop);
	for (int i = 0; i < l.masters.n; i++)
		free(l.masters.v[i]);
	return rv;
}
