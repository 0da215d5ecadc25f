/*
 * Unit tests for lib/master_client.c against three fake masters on
 * 127.0.0.1 (real sockets, real RPC layer; the masters are the fakes): a
 * leader answers M_VOLUME_INFO, the others redirect to it with a hint, or
 * without one while "an election is under way".
 *
 * The property under test is the one the gateway's session lease needs: a
 * call ends by its deadline, and when any master that leads is reachable it
 * is answered well within a lease (3 s), whatever happened to the master it
 * last talked to.  A connection to a killed master is down and refuses
 * every reconnect; a call must not sit queued on it for its whole attempt.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evloop.h"
#include "log.h"
#include "master_client.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"
#include "cunit_main.h"

#define NM	3

struct fake {
	struct sl_loop *loop;
	pthread_t thread;
	struct sl_server *srv[NM];
	char addr[NM][64];
	int leader;		/* atomic: index of the master that answers */
	int hint;		/* atomic: followers name the leader */
	int silent;		/* atomic: this master (index) reads requests and never answers, -1 none */
	int answered[NM];	/* atomics: VOLUME_INFO answered with SL_OK */
};

static struct fake F;

static int ld(int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void st(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

static void on_master(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	int me = (int)(intptr_t)arg, leader = ld(&F.leader);

	if (me == ld(&F.silent))
		return;		/* cut off: the connection stays up, nothing comes back */
	if (me != leader) {
		Shoal__MasterRedirect r = SHOAL__MASTER_REDIRECT__INIT;

		if (ld(&F.hint) && leader >= 0)
			r.leader_addr = F.addr[leader];
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_NOT_LEADER, &r.base, NULL, 0);
		return;
	}
	if (req->hdr.type == SL_MSG_M_VOLUME_INFO) {
		Shoal__VolumeRep rep = SHOAL__VOLUME_REP__INIT;
		Shoal__VolumeInfo vi = SHOAL__VOLUME_INFO__INIT;

		vi.id = 7;
		vi.name = "v1";
		vi.size = 1 << 20;
		vi.chunk_shift = 20;
		vi.replicas = 1;
		rep.volume = &vi;
		__atomic_add_fetch(&F.answered[me], 1, __ATOMIC_SEQ_CST);
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_OK, &rep.base, NULL, 0);
		return;
	}
	sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_INVAL, NULL, NULL, 0);
}

static void *fake_thread(void *arg)
{
	(void)arg;
	sl_loop_run(F.loop);
	return NULL;
}

/* Runs on the fakes' loop: master i dies (its connections and its port). */
static void kill_master(void *arg)
{
	int i = (int)(intptr_t)arg;

	sl_server_close(F.srv[i]);
	F.srv[i] = NULL;
}

struct ctx {
	struct sl_loop *loop;
	struct sl_master_client *mc;
};

/* A client of the three, listed in the order O (the walk starts at the second). */
static struct ctx new_client(const int o[NM])
{
	struct sl_str_list masters = { NM, { F.addr[o[0]], F.addr[o[1]], F.addr[o[2]] } };
	struct ctx x;

	x.loop = sl_loop_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(x.loop);
	x.mc = sl_master_client_new(x.loop, &masters);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x.mc);
	return x;
}

static void free_client(struct ctx *x)
{
	sl_master_client_free(x->mc);
	/* Let the closes run before the loop goes. */
	for (int i = 0; i < 5; i++)
		sl_loop_run_once(x->loop, 10);
	sl_loop_free(x->loop);
}

/* One VOLUME_INFO with DEADLINE_MS; its status, and in *ms how long it took. */
static int volume_info(struct ctx *x, uint32_t deadline_ms, uint64_t *ms)
{
	Shoal__VolumeNameReq rq = SHOAL__VOLUME_NAME_REQ__INIT;
	ProtobufCMessage *rep = NULL;
	uint64_t t0 = sl_now_ms();
	int rc;

	rq.name = "v1";
	rc = sl_master_call_sync(x->mc, SL_MSG_M_VOLUME_INFO, &rq.base, deadline_ms, &rep);
	*ms = sl_now_ms() - t0;
	if (rep)
		sl_msg_free(rep);
	return rc;
}

/* Election timer of the fakes: after DELAY_MS, master NEW leads and is named. */
struct elect {
	int new_leader;
	unsigned delay_ms;
};

static void *elect_thread(void *arg)
{
	struct elect *e = arg;
	struct timespec ts = { e->delay_ms / 1000, (long)(e->delay_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	st(&F.leader, e->new_leader);
	st(&F.hint, 1);
	return NULL;
}

/*
 * The leader is killed (kill -9: its sockets go, its port refuses) after
 * the client has learnt it; the followers know no leader for 300 ms, then
 * one of them leads.  Every call made in the meantime, with the gateway's
 * lease as its deadline, is answered by the new leader well within it.
 * Fails when a call queues on the dead leader's connection for a whole
 * attempt (3 s): it times out instead.
 */
static void test_leader_killed(void)
{
	static const int order[NM] = { 0, 1, 2 };
	struct ctx x = new_client(order);
	struct elect e = { 2, 300 };
	pthread_t th;
	uint64_t ms, worst = 0;
	int rc;

	st(&F.leader, 0);
	st(&F.hint, 1);
	rc = volume_info(&x, 3000, &ms);
	CU_ASSERT_EQUAL(rc, SL_OK);
	CU_ASSERT_EQUAL(ld(&F.answered[0]), 1);
	CU_ASSERT_STRING_EQUAL(sl_master_leader(x.mc), F.addr[0]);

	st(&F.hint, 0);
	st(&F.leader, -1);
	CU_ASSERT_EQUAL_FATAL(sl_loop_post(F.loop, kill_master, (void *)0), 0);
	pthread_create(&th, NULL, elect_thread, &e);
	for (int k = 0; k < 5; k++) {
		rc = volume_info(&x, 3000, &ms);
		if (rc != SL_OK || ms > 2000)
			fprintf(stderr, "call %d after the leader's death: %s in %llu ms\n", k,
				sl_status_str(rc), (unsigned long long)ms);
		CU_ASSERT_EQUAL(rc, SL_OK);
		worst = ms > worst ? ms : worst;
	}
	pthread_join(th, NULL);
	fprintf(stderr, "[5 calls after the leader's death, the slowest answered in %llu ms] ",
		(unsigned long long)worst);
	/* 300 ms of election, backoff and a reconnect at most: far below a lease. */
	CU_ASSERT(worst < 2000);
	CU_ASSERT_EQUAL(ld(&F.answered[2]), 5);
	CU_ASSERT_STRING_EQUAL(sl_master_leader(x.mc), F.addr[2]);
	free_client(&x);
}

/*
 * A client started while the master it tries first is dead (killed by the
 * first test; its port refuses): its first calls are answered within a second or so, not after
 * an attempt's 3 s spent waiting for a connect that is refused.
 */
static void test_first_master_dead(void)
{
	static const int order[NM] = { 1, 0, 2 };	/* master 0, dead, is tried first */
	struct ctx x = new_client(order);
	uint64_t ms;
	int rc;

	st(&F.leader, 2);
	st(&F.hint, 0);		/* no follower names it: the client must walk */
	for (int k = 0; k < 3; k++) {
		rc = volume_info(&x, 3000, &ms);
		if (rc != SL_OK || ms > 1500)
			fprintf(stderr, "call %d with master 0 dead: %s in %llu ms\n", k,
				sl_status_str(rc), (unsigned long long)ms);
		CU_ASSERT_EQUAL(rc, SL_OK);
		CU_ASSERT(ms < 1500);
	}
	free_client(&x);
}

struct async_done {
	bool done;
	int status;
};

static void async_cb(int status, const ProtobufCMessage *reply, void *arg)
{
	struct async_done *d = arg;

	(void)reply;
	d->done = true;
	d->status = status;
}

/*
 * The leader goes silent (cut off: its connection stays up, requests are
 * read and never answered) and another master leads.  A call with a
 * deadline of 3 s -- a gateway session renewal, whose deadline is its
 * lease -- and attempts of 1 s is answered by the new leader within the
 * deadline; with one 3 s attempt it would spend its deadline on the silent
 * one (seed 1016 of the nemesis: the gateway's session was lost).
 */
static void test_silent_leader(void)
{
	static const int order[NM] = { 2, 0, 1 };	/* the walk starts at master 0 */
	struct ctx x = new_client(order);
	Shoal__VolumeNameReq rq = SHOAL__VOLUME_NAME_REQ__INIT;
	struct async_done d = { false, 0 };
	uint64_t ms, t0;
	int rc;

	st(&F.silent, -1);
	st(&F.leader, 1);
	st(&F.hint, 1);
	rc = volume_info(&x, 3000, &ms);
	CU_ASSERT_EQUAL(rc, SL_OK);
	CU_ASSERT_STRING_EQUAL(sl_master_leader(x.mc), F.addr[1]);
	/* master 1 is cut off; master 2 leads and the others name it */
	st(&F.silent, 1);
	st(&F.leader, 2);
	rq.name = "v1";
	t0 = sl_now_ms();
	CU_ASSERT_EQUAL_FATAL(sl_master_call_attempts(x.mc, SL_MSG_M_VOLUME_INFO, &rq.base, 3000, 1000,
						      async_cb, &d), 0);
	while (!d.done && sl_now_ms() < t0 + 6000)
		sl_loop_run_once(x.loop, 50);
	ms = sl_now_ms() - t0;
	if (d.status != SL_OK || ms > 2500)
		fprintf(stderr, "[silent leader: %s after %llu ms] ", sl_status_str(d.status),
			(unsigned long long)ms);
	CU_ASSERT(d.done);
	CU_ASSERT_EQUAL(d.status, SL_OK);
	CU_ASSERT(ms < 2500);
	st(&F.silent, -1);
	free_client(&x);
}

/* No master leads: a call ends with an error by its deadline, not later. */
static void test_no_leader_deadline(void)
{
	static const int order[NM] = { 0, 1, 2 };
	struct ctx x = new_client(order);
	uint64_t ms;
	int rc;

	st(&F.leader, -1);
	st(&F.hint, 0);
	rc = volume_info(&x, 1500, &ms);
	CU_ASSERT(rc == SL_E_TIMEDOUT || rc == SL_E_UNAVAIL || rc == SL_E_NOT_LEADER);
	CU_ASSERT(ms >= 1400 && ms < 2500);
	free_client(&x);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "leader_killed", test_leader_killed },
		{ "first_master_dead", test_first_master_dead },
		{ "no_leader_deadline", test_no_leader_deadline },
		{ "silent_leader", test_silent_leader },
		{ NULL, NULL },
	};
	int rc, i;

	sl_log_open("test_master_client", SL_LOG_WARN, false);
	F.silent = -1;
	F.loop = sl_loop_new();
	for (i = 0; i < NM; i++) {
		F.srv[i] = sl_server_listen(F.loop, "127.0.0.1:0", on_master, (void *)(intptr_t)i);
		if (!F.srv[i]) {
			fprintf(stderr, "cannot listen on 127.0.0.1\n");
			return 2;
		}
		snprintf(F.addr[i], sizeof(F.addr[i]), "127.0.0.1:%d", sl_server_port(F.srv[i]));
	}
	pthread_create(&F.thread, NULL, fake_thread, NULL);
	rc = sl_cunit_run("master_client", tests);
	sl_loop_stop(F.loop);
	pthread_join(F.thread, NULL);
	for (i = 0; i < NM; i++)
		sl_server_close(F.srv[i]);
	sl_loop_free(F.loop);
	return rc;
}
