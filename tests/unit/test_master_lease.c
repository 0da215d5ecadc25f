/*
 * Lease rules on a real FSM and chunk: no overlapping primaries, expiry,
 * version bump on grant and on replica-set change, the post-failover wait.
 * The clock is a plain number we move by hand.
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include "status.h"
#include "fsm.h"
#include "lease.h"
#include "cunit_main.h"

static enum lease_cs_state up_all(uint32_t id, void *arg)
{
	uint32_t down = arg ? *(uint32_t *)arg : 0;
	return id != down ? LEASE_CS_HEARD : LEASE_CS_DOWN;
}

/* Servers' states by id (1..3), for the silence rule. */
static enum lease_cs_state state_of(uint32_t id, void *arg)
{
	const enum lease_cs_state *st = arg;
	return id >= 1 && id <= 3 ? st[id] : LEASE_CS_DOWN;
}

static uint64_t run(struct fsm *f, struct wbuf *w)
{
	uint64_t r = fsm_apply(f, w->p, w->len);
	wbuf_free(w);
	return r;
}

/* A volume with one chunk on servers 1,2,3, version 1, primary 1. */
static struct chunk *setup(struct fsm *f)
{
	struct wbuf w;
	uint8_t uuid[16] = { 1 };
	wbuf_init(&w);
	fsm_enc_vol_create(&w, 0, 0, "v", uuid, 1ull << 30, 0, 3, 2, 0, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_OK);
	struct fsm_alloc a = { .index = 0, .nrep = 3, .rep = { 1, 2, 3 } };
	wbuf_init(&w);
	fsm_enc_chunk_alloc(&w, 0, 0, 1, &a, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 1));
	return chunk_map_by_pos(&f->chunks, 1, 0);
}

/* What the leader does for LEASE_GRANT: Raft entry, then start the lease. */
static int grant(struct fsm *f, struct lease_clock *lc, struct chunk *c, uint32_t p)
{
	struct wbuf w;
	wbuf_init(&w);
	fsm_enc_lease_grant(&w, c->id, c->version, p);
	uint64_t r = run(f, &w);
	if (FSM_RES_STATUS(r) == SL_OK)
		lease_start(lc, c);
	return FSM_RES_STATUS(r);
}

static void test_grant_renew_expiry(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 1000, .wait_until = 0, .lease_ms = 5000 };
	uint32_t p = 0;

	/* Fresh chunk: recorded primary 1, no lease yet -> grant to 1. */
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, NULL, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 1);
	CU_ASSERT_EQUAL(grant(f, &lc, c, p), SL_OK);
	CU_ASSERT_EQUAL(c->version, 2);		/* new lease bumps */
	CU_ASSERT(lease_live(&lc, c));

	/* While live: holder renews (no bump), anyone else is refused. */
	lc.now += 4000;
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 1, true), LEASE_LIVE);
	lease_start(&lc, c);
	CU_ASSERT_EQUAL(c->version, 2);
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_REFUSE);
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 9, true), LEASE_REFUSE);
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, NULL, &p), LEASE_LIVE);
	CU_ASSERT_EQUAL(p, 1);

	/* Renewed at 5000: still live at 9999, expired at 10000. */
	lc.now = 9999;
	CU_ASSERT(lease_live(&lc, c));
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_REFUSE);
	lc.now = 10000;
	CU_ASSERT(!lease_live(&lc, c));

	/* Expired: another replica may take it, with a version bump. */
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_GRANT);
	CU_ASSERT_EQUAL(grant(f, &lc, c, 2), SL_OK);
	CU_ASSERT_EQUAL(c->version, 3);
	CU_ASSERT_EQUAL(c->primary, 2);
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 1, true), LEASE_REFUSE);

	/* Not a replica, or down: never primary. */
	lc.now += 6000;
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 7, true), LEASE_REFUSE);
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 3, false), LEASE_REFUSE);
	/* Same server after expiry: still a new lease, still a bump. */
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_GRANT);
	CU_ASSERT_EQUAL(grant(f, &lc, c, 2), SL_OK);
	CU_ASSERT_EQUAL(c->version, 4);
	fsm_free(f);
}

static void test_no_overlap_random(void)
{
	/* Random requests from 3 servers over a long run: at any instant at
	 * most one server holds a lease the master considers live, and every
	 * change of holder bumped the version. */
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 0, .wait_until = 0, .lease_ms = 500 };
	uint64_t rng = 99, holder = 0, last_ver = c->version;
	uint64_t holder_until = 0;

	for (int step = 0; step < 20000; step++) {
		lc.now += (rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 59;
		uint32_t who = 1 + (rng >> 33) % 3;
		enum lease_verdict v = lease_for_request(&lc, c, who, true);
		if (v == LEASE_GRANT) {
			CU_ASSERT_FATAL(lc.now >= holder_until);	/* previous lease over */
			CU_ASSERT_EQUAL_FATAL(grant(f, &lc, c, who), SL_OK);
			CU_ASSERT_FATAL(c->version == last_ver + 1);
			last_ver = c->version;
			holder = who;
			holder_until = c->lease_expiry;
		} else if (v == LEASE_LIVE) {
			CU_ASSERT_FATAL(who == holder);
			lease_start(&lc, c);
			holder_until = c->lease_expiry;
			CU_ASSERT_FATAL(c->version == last_ver);
		} else {
			CU_ASSERT_FATAL(v == LEASE_REFUSE);
			CU_ASSERT_FATAL(who != holder && lc.now < holder_until);
		}
	}
	fsm_free(f);
}

static void test_post_failover_wait(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 1000, .wait_until = 0, .lease_ms = 5000 };
	uint32_t p = 0;
	CU_ASSERT_EQUAL(grant(f, &lc, c, 1), SL_OK);

	/* Failover: a new leader restored the same log; no soft state. */
	c->lease_expiry = 0;
	lc.now = 2000;
	lc.wait_until = lc.now + lc.lease_ms;
	/* Anyone but the recorded primary waits. */
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_BUSY);
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 3, true), LEASE_BUSY);
	/* The recorded primary renews without a bump. */
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 1, true), LEASE_LIVE);
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, NULL, &p), LEASE_LIVE);
	CU_ASSERT_EQUAL(p, 1);
	/* Recorded primary down during the wait: lookups wait too. */
	uint32_t down = 1;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, &down, &p), LEASE_BUSY);
	/* After one lease period, another replica can be granted (bump). */
	lc.now = lc.wait_until;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, &down, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 2);
	uint64_t v = c->version;
	CU_ASSERT_EQUAL(grant(f, &lc, c, p), SL_OK);
	CU_ASSERT_EQUAL(c->version, v + 1);
	/* In flight: a grant pending in Raft answers BUSY. */
	c->flags |= CHUNK_F_GRANTING;
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_BUSY);
	fsm_free(f);
}

/*
 * A deposed leader grants while its leader lease holds: at any time before
 * its last confirmation + the window (raft_glue.h); that confirmation came
 * before the new leader was elected.  Whatever the times, the new leader
 * grants no other primary before that last grant ran out (master/lease.h,
 * the post-failover wait of lease_clock_ready).  Random times, many rounds.
 */
static void test_deposed_leader_covered(void)
{
	const uint32_t window = 1000, lease = 5000;
	uint64_t seed = 12345;
	int round, early = 0;

	for (round = 0; round < 20000; round++) {
		struct fsm *f = fsm_new();
		struct chunk *c = setup(f);
		struct lease_clock old = { .now = 0, .wait_until = 0, .lease_ms = lease };
		struct lease_clock nw = { .lease_ms = lease };
		uint64_t confirmed, last_grant, ready, t;
		uint32_t p = 0, down = 1;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		confirmed = 10000 + (seed >> 33) % 5000;
		last_grant = confirmed + (seed >> 20) % window;		/* while its lease held */
		ready = confirmed + 1 + (seed >> 40) % 3000;		/* elected after it */
		/* the old leader's last grant to server 1 */
		old.now = last_grant;
		CU_ASSERT_EQUAL(grant(f, &old, c, 1), SL_OK);
		/* the new leader: same log, no soft state; server 1 looks down to it */
		c->lease_expiry = 0;
		lease_clock_ready(&nw, ready, window);
		for (t = ready; t < last_grant + lease; t += 97) {
			nw.now = t;
			if (lease_for_lookup(&nw, c, up_all, &down, &p) == LEASE_GRANT && p != 1)
				early++;
		}
		fsm_free(f);
	}
	CU_ASSERT_EQUAL(early, 0);
}

static void test_replica_set_bump(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct wbuf w;
	uint32_t rep[2] = { 1, 3 };
	wbuf_init(&w);
	fsm_enc_set_replicas(&w, 5, 1, c->id, 1, rep, 2, 1);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	CU_ASSERT_EQUAL(c->nrep, 2);
	CU_ASSERT_EQUAL(chunk_rep_pos(c, 2), -1);
	/* The dropped replica is queued for deletion. */
	struct cs *cs2 = cs_by_id(&f->css, 2);
	CU_ASSERT_PTR_NULL(cs2);	/* never registered here: nothing queued */
	/* Stale expectation is refused and changes nothing. */
	wbuf_init(&w);
	fsm_enc_set_replicas(&w, 5, 2, c->id, 1, rep, 1, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(c->version, 2);
	CU_ASSERT_EQUAL(c->nrep, 2);
	/* Grant at a stale version is refused too. */
	wbuf_init(&w);
	fsm_enc_lease_grant(&w, c->id, 1, 1);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_STALE_VERSION);
	/* Grant to a server outside the set is refused. */
	wbuf_init(&w);
	fsm_enc_lease_grant(&w, c->id, 2, 2);
	CU_ASSERT_EQUAL(FSM_RES_STATUS(run(f, &w)), SL_E_NOT_PRIMARY);
	fsm_free(f);
}

/* A chunk being copied (re-replication): its live lease runs out, unrenewed, and nobody gets a new one. */
static void test_copying_lets_lease_run_out(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 1000, .wait_until = 0, .lease_ms = 5000 };
	uint32_t p = 0;

	CU_ASSERT_EQUAL(grant(f, &lc, c, 1), SL_OK);
	c->flags |= CHUNK_F_COPYING;
	lc.now = 3000;
	/* no renewal, no lookup answer, but the holder still holds it (failed-replica reports) */
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 1, true), LEASE_BUSY);
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, NULL, &p), LEASE_BUSY);
	CU_ASSERT(lease_held(&lc, c, 1));
	CU_ASSERT(!lease_held(&lc, c, 2));
	/* expired: still no grant while copying */
	lc.now = 6000;
	CU_ASSERT(!lease_live(&lc, c));
	CU_ASSERT(!lease_held(&lc, c, 1));
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_BUSY);
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, up_all, NULL, &p), LEASE_BUSY);
	/* copy joined: leases again, with a bump */
	c->flags &= ~CHUNK_F_COPYING;
	CU_ASSERT_EQUAL(lease_for_request(&lc, c, 2, true), LEASE_GRANT);
	fsm_free(f);
}

/*
 * A restarted primary (it asks holding no epoch) never gets its
 * predecessor's live lease renewed: the lease is granted anew, with a bump,
 * so its set-version round fences what the predecessor had in flight.  A
 * live holder asking with its epoch renews; so do an unwritten chunk and a
 * lease a lookup granted that no process took yet.
 */
static void test_restarted_holder_gets_new_lease(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 1000, .wait_until = 0, .lease_ms = 5000 };
	struct wbuf w;

	CU_ASSERT_EQUAL(grant(f, &lc, c, 1), SL_OK);
	CU_ASSERT_EQUAL(c->version, 2);
	/* unwritten (never served): nothing can be in flight, the lease is renewed */
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 0), LEASE_LIVE);
	wbuf_init(&w);
	fsm_enc_chunk_created(&w, c->id, c->version);
	CU_ASSERT_EQUAL(run(f, &w), FSM_RES(SL_OK, 2));
	lc.now = 2000;
	/* the holder's own process renews with its epoch: no bump */
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 2), LEASE_LIVE);
	/* a new process of the holder (epoch 0) while the lease is live: a new lease */
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 0), LEASE_GRANT);
	CU_ASSERT_EQUAL(grant(f, &lc, c, 1), SL_OK);
	CU_ASSERT_EQUAL(c->version, 3);
	/* a lease a client lookup granted: the first process to ask takes it, epoch or not */
	lc.now = 3000;
	c->flags |= CHUNK_F_UNTAKEN;
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 0), LEASE_LIVE);
	c->flags &= ~CHUNK_F_UNTAKEN;
	/* anyone else is still refused while it is live, epoch or not */
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 2, true, 0), LEASE_REFUSE);
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 2, true, 3), LEASE_REFUSE);
	/* after a failover the recorded primary asking with no epoch gets a new lease too */
	c->lease_expiry = 0;
	lc.wait_until = lc.now + lc.lease_ms;
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 3), LEASE_LIVE);
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 1, true, 0), LEASE_GRANT);
	CU_ASSERT_EQUAL(lease_for_acquire(&lc, c, 2, true, 0), LEASE_BUSY);
	fsm_free(f);
}

/*
 * A primary that stopped heartbeating (crashed, paused, cut off) is up at
 * the master until cs_timeout_ms; once its lease ran out, a lookup grants
 * to a member heard from, not to it again.  A silent member is granted only
 * when no member was heard; a down one never.  During the post-failover
 * wait only the recorded primary may renew, silent or not.
 */
static void test_silent_primary_passed_over(void)
{
	struct fsm *f = fsm_new();
	struct chunk *c = setup(f);
	struct lease_clock lc = { .now = 1000, .wait_until = 0, .lease_ms = 5000 };
	enum lease_cs_state st[4] = { 0, LEASE_CS_HEARD, LEASE_CS_HEARD, LEASE_CS_HEARD };
	uint32_t p = 0;

	CU_ASSERT_EQUAL(grant(f, &lc, c, 1), SL_OK);
	st[1] = LEASE_CS_SILENT;
	/* live lease: the silent holder is still the only primary */
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_LIVE);
	CU_ASSERT_EQUAL(p, 1);
	/* expired: the next member heard from */
	lc.now += lc.lease_ms;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 2);
	st[2] = LEASE_CS_SILENT;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 3);
	/* nobody heard: the recorded primary, silent or not */
	st[3] = LEASE_CS_SILENT;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 1);
	/* ... unless it is down: then a silent member */
	st[1] = LEASE_CS_DOWN;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_GRANT);
	CU_ASSERT_EQUAL(p, 2);
	st[2] = st[3] = LEASE_CS_DOWN;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_UNAVAIL);
	/* the post-failover wait: only the recorded primary, and silence is no reason to wait longer */
	st[1] = LEASE_CS_SILENT;
	st[2] = st[3] = LEASE_CS_HEARD;
	lc.wait_until = lc.now + lc.lease_ms;
	CU_ASSERT_EQUAL(lease_for_lookup(&lc, c, state_of, st, &p), LEASE_LIVE);
	CU_ASSERT_EQUAL(p, 1);
	fsm_free(f);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "grant, renew, expiry, bump", test_grant_renew_expiry },
		{ "no overlapping primaries (random)", test_no_overlap_random },
		{ "post-failover wait", test_post_failover_wait },
		{ "a deposed leader's last grant runs out first", test_deposed_leader_covered },
		{ "replica-set change bumps", test_replica_set_bump },
		{ "copying lets the lease run out", test_copying_lets_lease_run_out },
		{ "a restarted holder gets a new lease", test_restarted_holder_gets_new_lease },
		{ "a silent primary is passed over", test_silent_primary_passed_over },
		{ NULL, NULL },
	};

	return sl_cunit_run("master_lease", tests);
}
